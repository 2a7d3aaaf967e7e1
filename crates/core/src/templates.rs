//! Citizen-facing reply texts (Bahasa Indonesia), rendered with minijinja.
//!
//! The defaults ship in `config/templates/` and are compiled in; an operator may override
//! any of them by placing a file of the same name in the configured templates folder
//! (the binary reads the files; this module only renders).

use minijinja::{Environment, UndefinedBehavior};

/// Names of the templates aduan renders (file `NAME.txt`).
pub const TEMPLATE_NAMES: &[&str] = &[
    "ack",
    "answer",
    "escalation",
    "question",
    "timeout",
    "rating_thanks",
];

const DEFAULTS: &[(&str, &str)] = &[
    ("ack", include_str!("../../../config/templates/ack.txt")),
    (
        "answer",
        include_str!("../../../config/templates/answer.txt"),
    ),
    (
        "escalation",
        include_str!("../../../config/templates/escalation.txt"),
    ),
    (
        "question",
        include_str!("../../../config/templates/question.txt"),
    ),
    (
        "timeout",
        include_str!("../../../config/templates/timeout.txt"),
    ),
    (
        "rating_thanks",
        include_str!("../../../config/templates/rating_thanks.txt"),
    ),
];

/// A template failed to compile or render.
#[derive(Debug, thiserror::Error)]
#[error("template {name}: {message}")]
pub struct TemplateError {
    pub name: String,
    pub message: String,
}

/// The compiled reply templates.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The built-in defaults, with `overrides` (name, source) replacing them.
    pub fn new(overrides: Vec<(String, String)>) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .expect("static syntax config"),
        );
        for (name, src) in DEFAULTS {
            env.add_template(name, src).map_err(|e| TemplateError {
                name: name.to_string(),
                message: e.to_string(),
            })?;
        }
        for (name, src) in overrides {
            env.add_template_owned(name.clone(), src)
                .map_err(|e| TemplateError {
                    name,
                    message: e.to_string(),
                })?;
        }
        Ok(Templates { env })
    }

    /// Render `name` with `vars`.
    pub fn render(&self, name: &str, vars: &serde_json::Value) -> Result<String, TemplateError> {
        let err = |e: minijinja::Error| TemplateError {
            name: name.to_string(),
            message: e.to_string(),
        };
        let t = self.env.get_template(name).map_err(err)?;
        let out = t
            .render(minijinja::Value::from(minijinja::value::Serde(vars)))
            .map_err(err)?;
        Ok(out.trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_mentions_ticket_and_code() {
        let t = Templates::new(vec![]).unwrap();
        let s = t
            .render(
                "ack",
                &serde_json::json!({"ticket": "ADU-202603-0001", "access_code": "ABCD234567",
                    "office": "Disdukcapil", "status_url": "http://x/api/v1/complaints"}),
            )
            .unwrap();
        assert!(
            s.contains("ADU-202603-0001") && s.contains("ABCD234567"),
            "{s}"
        );
        assert!(s.contains("dijaga"));
        let s = t
            .render("ack", &serde_json::json!({"ticket": "ADU-202603-0001"}))
            .unwrap();
        assert!(!s.contains("Kode akses"));
    }

    #[test]
    fn question_answer_and_timeout_speak_to_the_channel() {
        let t = Templates::new(vec![]).unwrap();
        let vars = |channel: &str, has_code: bool| {
            serde_json::json!({"ticket": "ADU-202603-0001", "office": "Disdukcapil",
                "channel": channel, "has_code": has_code, "question": "Nomor KK Anda?",
                "wait_days": 10, "answer_by": "16-03-2026 16:00", "message": "KTP siap",
                "rating_by": if channel == "telegram" { "reply" } else { "page" },
                "status_page": "http://x/pengaduan/status?ticket=ADU-202603-0001"})
        };
        let q = t.render("question", &vars("telegram", false)).unwrap();
        assert!(
            q.contains("Nomor KK Anda?") && q.contains("balas pesan ini"),
            "{q}"
        );
        assert!(
            q.contains("10 hari kerja") && q.contains("16-03-2026 16:00"),
            "{q}"
        );
        assert!(
            !q.contains("halaman status"),
            "no code, no status page: {q}"
        );
        let q = t.render("question", &vars("web", true)).unwrap();
        assert!(q.contains("pengaduan/status?ticket=ADU-202603-0001"), "{q}");
        let a = t.render("answer", &vars("telegram", false)).unwrap();
        assert!(a.contains("KTP siap") && a.contains("angka 1–5"), "{a}");
        let a = t.render("answer", &vars("email", true)).unwrap();
        assert!(
            a.contains("halaman status") && !a.contains("angka 1–5"),
            "{a}"
        );
        let a = t.render("answer", &vars("email", false)).unwrap();
        assert!(!a.contains("penilaian"), "no code, no link: {a}");
        let n = t.render("timeout", &vars("whatsapp", false)).unwrap();
        assert!(
            n.contains("tidak ada tanggapan pengadu") && n.contains("Nomor KK Anda?"),
            "{n}"
        );
        let r = t
            .render(
                "rating_thanks",
                &serde_json::json!({"score": 4, "ticket": "T"}),
            )
            .unwrap();
        assert!(r.contains("4 dari 5"), "{r}");
    }

    #[test]
    fn overrides_replace_defaults() {
        let t = Templates::new(vec![("answer".into(), "Jawab {{ ticket }}".into())]).unwrap();
        assert_eq!(
            t.render("answer", &serde_json::json!({"ticket": "X"}))
                .unwrap(),
            "Jawab X"
        );
        assert!(Templates::new(vec![("ack".into(), "{% if %}".into())]).is_err());
    }
}
