//! The Kasi's conclusion (SOP step 6) as an e-mail to the Kepala Dinas and the ISO
//! coordinator: the conclusion text, the risk-register entries as a table, and the register
//! attached as CSV and XLSX ([`crate::risk`]).

use aduan_core::logbook::Month;
use aduan_core::mask::mask_text;
use aduan_core::report::RiskEntry;
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use minijinja::{AutoEscape, Environment, context};

use crate::risk::{risks_csv, risks_xlsx};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// What the conclusion mail says.
pub struct ConclusionMail<'a> {
    pub office: &'a str,
    pub month: Month,
    pub text: &'a str,
    pub risks: &'a [RiskEntry],
    /// Who wrote it, and when (office time, "dd-mm-YYYY HH:MM").
    pub by: &'a str,
    pub at: &'a str,
}

/// The conclusion mail's subject, HTML and text bodies.
pub fn render(c: &ConclusionMail<'_>) -> Result<(String, String, String), minijinja::Error> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_template("c.html", include_str!("../templates/conclusion.html"))?;
    env.add_template("c.txt", include_str!("../templates/conclusion.txt"))?;
    // As it leaves the office: e-mail addresses, NIKs and phone numbers masked.
    let risks: Vec<RiskEntry> = c.risks.iter().map(RiskEntry::masked).collect();
    let ctx = context! {
        office => c.office,
        month_label => c.month.label_id(),
        text => mask_text(c.text),
        risks => minijinja::Value::from(minijinja::value::Serde(&risks)),
        by => c.by,
        at => c.at,
    };
    Ok((
        format!(
            "Kesimpulan Kasi atas Laporan Pengaduan {} — {}",
            c.month.label_id(),
            c.office
        ),
        env.get_template("c.html")?.render(&ctx)?,
        env.get_template("c.txt")?.render(&ctx)?,
    ))
}

/// Build the mail; `message_id` is without `<>`.
pub fn build(
    from: &Mailbox,
    to: &[Mailbox],
    c: &ConclusionMail<'_>,
    message_id: &str,
) -> Result<Message, String> {
    let (subject, html, text) = render(c).map_err(|e| e.to_string())?;
    let mut b = Message::builder()
        .from(from.clone())
        .subject(subject)
        .message_id(Some(format!("<{message_id}>")));
    for m in to {
        b = b.to(m.clone());
    }
    let alt = MultiPart::alternative()
        .singlepart(SinglePart::plain(text))
        .singlepart(SinglePart::html(html));
    let mut msg = if c.risks.is_empty() {
        b.multipart(alt)
    } else {
        let xlsx = risks_xlsx(c.office, c.month, c.risks).map_err(|e| e.to_string())?;
        let name = format!("register-risiko-{}", c.month);
        b.multipart(
            MultiPart::mixed()
                .multipart(alt)
                .singlepart(Attachment::new(format!("{name}.csv")).body(
                    risks_csv(c.month, c.risks),
                    ContentType::parse("text/csv; charset=utf-8").expect("static"),
                ))
                .singlepart(
                    Attachment::new(format!("{name}.xlsx"))
                        .body(xlsx, ContentType::parse(XLSX).expect("static")),
                ),
        )
    }
    .map_err(|e| e.to_string())?;
    msg.headers_mut().insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("Auto-Submitted"),
        "auto-generated".into(),
    ));
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_carries_text_table_and_both_registers() {
        let risks = vec![RiskEntry {
            risk: "KTP-el belum jadi <segera>".into(),
            cause: "blangko habis".into(),
            frequency: 7,
            control: "stok blangko dipantau mingguan".into(),
            owner: "Bidang Dafduk".into(),
        }];
        let c = ConclusionMail {
            office: "Disdukcapil Kabupaten Buleleng",
            month: Month::parse("2026-11").unwrap(),
            text: "Masalah terbanyak: KTP-el belum jadi (pengadu budi@example.com, 081234567890).",
            risks: &risks,
            by: "kasi",
            at: "01-12-2026 09:00",
        };
        let (subject, html, text) = render(&c).unwrap();
        assert!(subject.contains("November 2026"), "{subject}");
        assert!(
            html.contains("KTP-el belum jadi &lt;segera&gt;"),
            "escaped: {html}"
        );
        assert!(text.contains("Frekuensi: 7 pengaduan"), "{text}");
        for id in ["budi@example.com", "081234567890"] {
            assert!(
                !html.contains(id) && !text.contains(id),
                "{id} left the office"
            );
        }
        let from: Mailbox = "aduan@bulelengkab.example".parse().unwrap();
        let to: Vec<Mailbox> = vec![
            "kadis@bulelengkab.example".parse().unwrap(),
            "iso@bulelengkab.example".parse().unwrap(),
        ];
        let raw = String::from_utf8_lossy(
            &build(&from, &to, &c, "k1@bulelengkab.example")
                .unwrap()
                .formatted(),
        )
        .to_string();
        assert!(raw.contains("register-risiko-2026-11.csv"));
        assert!(raw.contains("register-risiko-2026-11.xlsx"));
        assert!(raw.contains("iso@bulelengkab.example"));
        assert!(raw.contains("Auto-Submitted: auto-generated"));
    }
}
