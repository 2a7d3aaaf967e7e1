//! The public pages' templates (compiled in), their formatter and the page helpers.
//!
//! Every sentence a citizen reads is in `config/templates/web/` (Bahasa Indonesia); Rust passes values
//! and codes only. The formatter prints nothing for a missing value, so an empty field can
//! never show "none" or "null"; templates end in `.html`, so every value is escaped.

use std::sync::LazyLock;

use aduan_core::types::{Category, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use minijinja::{Environment, Value};

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_formatter(|out, state, value| {
        if value.is_none() || value.is_undefined() {
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    for (name, src) in TEMPLATES {
        if let Err(e) = env.add_template(name, src) {
            // Caught by the unit test below; logged in case a build slips through.
            tracing::error!(template = name, error = %e, "public template does not compile");
        }
    }
    env
});

const TEMPLATES: [(&str, &str); 6] = [
    (
        "layout.html",
        include_str!("../../../config/templates/web/layout.html"),
    ),
    (
        "messages.html",
        include_str!("../../../config/templates/web/messages.html"),
    ),
    (
        "form.html",
        include_str!("../../../config/templates/web/form.html"),
    ),
    (
        "receipt.html",
        include_str!("../../../config/templates/web/receipt.html"),
    ),
    (
        "status.html",
        include_str!("../../../config/templates/web/status.html"),
    ),
    (
        "error.html",
        include_str!("../../../config/templates/web/error.html"),
    ),
];

/// Render `name` with `ctx` and answer it with `status`. A render failure is a bug: it is
/// logged and answered as a plain 500 without details.
pub(crate) fn page(status: StatusCode, name: &str, ctx: Value) -> Response {
    match PAGES.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "public page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Terjadi kesalahan pada server. Silakan coba lagi.",
            )
                .into_response()
        }
    }
}

/// Form labels (FM-PDIP-03-01), by JSON field name.
pub(crate) fn labels() -> Value {
    minijinja::context! {
        name => "Nama Lengkap",
        address => "Alamat",
        email => "Alamat email",
        phone => "No. HP",
        target => "Sasaran Pengaduan",
        category => "Kategori",
        body => "Isi Pengaduan / Saran",
    }
}

/// The form's categories as `{value, label}`.
pub(crate) fn categories() -> Value {
    Value::from(minijinja::value::Serde(
        Category::ALL
            .iter()
            .map(|c| serde_json::json!({"value": c.as_str(), "label": c.label()}))
            .collect::<Vec<_>>(),
    ))
}

/// "1 Desember 2026, 10.15 WITA" in the office's time zone.
pub(crate) fn local_time(t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    format!(
        "{} {} {}, {} {}",
        l.day(),
        aduan_core::logbook::MONTH_NAMES_ID[l.month0() as usize],
        l.year(),
        l.format("%H.%M"),
        l.format("%Z")
    )
}

/// What the citizen reads for a workflow state.
pub(crate) fn state_label(s: State, closed_without_solution: bool) -> &'static str {
    match s {
        State::Received => "Diterima, sedang dicatat",
        State::Triage => "Sedang ditelaah oleh Kasi Kerjasama",
        State::InBidang => "Sedang ditangani oleh bidang terkait",
        State::Review => "Jawaban sedang diperiksa",
        State::FollowUp => "Jawaban sedang disampaikan",
        State::WaitingCitizen => "Menunggu jawaban Anda atas pertanyaan petugas",
        State::Closed if closed_without_solution => "Ditutup tanpa tindak lanjut",
        State::Closed => "Selesai ditangani",
    }
}

/// The steps the citizen sees, each `done`, `current` or `todo`.
/// The steps of the status page; while the citizen is asked, the step the question was
/// asked from (`asked_from`; the handling step when unknown) is the current one.
pub(crate) fn steps(s: State, asked_from: Option<State>) -> Value {
    const STEPS: [(&str, State); 5] = [
        ("Diterima dan dicatat", State::Received),
        ("Ditelaah oleh Kasi Kerjasama", State::Triage),
        ("Ditangani oleh bidang terkait", State::InBidang),
        ("Jawaban diperiksa", State::Review),
        ("Jawaban disampaikan", State::FollowUp),
    ];
    let pos = |x: State| match x {
        State::Received => 0,
        State::Triage => 1,
        State::InBidang => 2,
        State::Review => 3,
        State::FollowUp => 4,
        // Only reached through `asked_from` of a record that has none.
        State::WaitingCitizen => 2,
        State::Closed => 5,
    };
    let now = match (s, asked_from) {
        (State::WaitingCitizen, Some(from)) if from != State::WaitingCitizen => pos(from),
        _ => pos(s),
    };
    let mut out: Vec<serde_json::Value> = STEPS
        .iter()
        .map(|(label, st)| {
            let p = pos(*st);
            let class = if p < now {
                "done"
            } else if p == now {
                "current"
            } else {
                "todo"
            };
            serde_json::json!({"label": label, "class": class})
        })
        .collect();
    out.push(serde_json::json!({
        "label": "Selesai",
        "class": if s == State::Closed { "done" } else { "todo" },
    }));
    Value::from(minijinja::value::Serde(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        let mut env = Environment::new();
        for (name, src) in TEMPLATES {
            env.add_template(name, src)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn a_question_keeps_the_step_it_was_asked_from_current() {
        let current = |s: State, from: Option<State>| -> Vec<String> {
            let v: serde_json::Value = serde_json::to_value(steps(s, from)).unwrap();
            v.as_array()
                .unwrap()
                .iter()
                .filter(|x| x["class"] == "current")
                .map(|x| x["label"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            current(State::WaitingCitizen, Some(State::Triage)),
            ["Ditelaah oleh Kasi Kerjasama"]
        );
        assert_eq!(
            current(State::WaitingCitizen, Some(State::Review)),
            ["Jawaban diperiksa"]
        );
        assert_eq!(
            current(State::WaitingCitizen, Some(State::InBidang)),
            ["Ditangani oleh bidang terkait"]
        );
        assert_eq!(
            current(State::WaitingCitizen, None),
            ["Ditangani oleh bidang terkait"]
        );
        assert_eq!(
            current(State::Triage, None),
            ["Ditelaah oleh Kasi Kerjasama"]
        );
    }

    #[test]
    fn missing_values_print_nothing() {
        let html = PAGES
            .render_str("[{{ a }}|{{ b }}|{{ c }}]", minijinja::context! { b => () })
            .unwrap();
        assert_eq!(html, "[||]");
    }

    #[test]
    fn times_are_shown_in_office_time() {
        let t = DateTime::parse_from_rfc3339("2026-12-01T02:15:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            local_time(t, chrono_tz::Asia::Makassar),
            "1 Desember 2026, 10.15 WITA"
        );
    }
}
