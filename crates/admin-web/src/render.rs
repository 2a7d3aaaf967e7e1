//! Templates (compiled into the binary), Indonesian labels and time formatting.
//!
//! Every template name ends in `.html`, so minijinja escapes every value it prints: citizen
//! text can never become markup. Pages carry no inline script or style (the CSP forbids
//! both); behaviour lives in `/admin/static/admin.js`.

use std::sync::LazyLock;

use aduan_core::types::{Category, Channel, Role, State, Step};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::Environment;

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    // With the report's `angka` filter (Indonesian number formatting).
    let mut env = aduan_digest::render::environment();
    for (name, src) in [
        ("layout.html", include_str!("../templates/layout.html")),
        ("login.html", include_str!("../templates/login.html")),
        ("error.html", include_str!("../templates/error.html")),
        ("queue.html", include_str!("../templates/queue.html")),
        (
            "queue_table.html",
            include_str!("../templates/queue_table.html"),
        ),
        (
            "complaint.html",
            include_str!("../templates/complaint.html"),
        ),
        ("new.html", include_str!("../templates/new.html")),
        ("logbook.html", include_str!("../templates/logbook.html")),
        ("report.html", include_str!("../templates/report.html")),
        ("failed.html", include_str!("../templates/failed.html")),
    ] {
        // The templates are part of the binary; a syntax error is caught by the unit test.
        if let Err(e) = env.add_template(name, src) {
            tracing::error!(template = name, error = %e, "admin template does not compile");
        }
    }
    env
});

/// The admin stylesheet.
pub const STYLESHEET: &str = include_str!("../static/admin.css");
/// The admin script (progressive enhancement only).
pub const SCRIPT: &str = include_str!("../static/admin.js");

/// Render a page; a template failure is a bug and answers 500 without details.
pub fn page(status: StatusCode, name: &str, ctx: &serde_json::Value) -> Response {
    let out = PAGES
        .get_template(name)
        .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(ctx))));
    match out {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "admin page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Terjadi kesalahan pada server.",
            )
                .into_response()
        }
    }
}

/// An error page (no navigation: it does not depend on who is asking).
pub fn error_page(status: StatusCode, title: &str, message: &str, back: Option<&str>) -> Response {
    page(
        status,
        "error.html",
        &serde_json::json!({
            "title": title,
            "message": message,
            "back": back,
            "status": status.as_u16(),
        }),
    )
}

pub fn role_label(r: Role) -> &'static str {
    aduan_digest::render::role_label(r)
}

pub fn state_label(s: State) -> &'static str {
    match s {
        State::Received => "Diterima",
        State::Triage => "Penelaahan Kasi",
        State::InBidang => "Di bidang",
        State::Review => "Pemeriksaan jawaban",
        State::FollowUp => "Tindak lanjut ke pengadu",
        State::WaitingCitizen => "Menunggu jawaban pengadu",
        State::Closed => "Ditutup",
    }
}

pub fn step_label(s: Step) -> &'static str {
    match s {
        Step::Receive => "1. Penerimaan dan pencatatan (Staf)",
        Step::Triage => "2. Penelaahan dan koordinasi (Kasi)",
        Step::Resolve => "3. Penyelesaian (Bidang)",
        Step::Review => "4. Pemeriksaan jawaban (Kasi)",
        Step::FollowUp => "5. Tindak lanjut ke pengadu (Staf)",
        Step::ReportDecide => "7. Keputusan Kepala Dinas",
        Step::ReportReceive => "8. Penerimaan kembali (Kasi)",
    }
}

pub fn action_label(a: &str) -> &str {
    match a {
        "log" => "Dicatat oleh staf",
        "receive" => "Diterima",
        "assign" => "Diteruskan ke bidang",
        "close" => "Ditutup oleh Kasi",
        "solution" => "Solusi dari bidang",
        "approve" => "Jawaban disetujui",
        "return" => "Dikembalikan ke bidang",
        "follow_up" => "Tindak lanjut ke pengadu",
        "sign" => "Paraf Kabid PDIP",
        "share_identity" => "Identitas dibagikan ke bidang",
        "share_attachment" => "Lampiran dibagikan ke bidang",
        "citizen_message" => "Pesan baru dari pengadu",
        "ask" => "Pertanyaan ke pengadu (waktu langkah dihentikan sementara)",
        "citizen_answer" => "Jawaban pengadu (waktu langkah berjalan lagi)",
        "close_unanswered" => "Ditutup: tidak ada tanggapan pengadu",
        "rate" => "Penilaian dari pengadu",
        "escalate" => "Batas waktu terlewati (eskalasi)",
        // aduan_core::media::MEDIA_FAILED_ACTION: the note says which file and why.
        "media_failed" => "Lampiran tidak tersimpan",
        other => other,
    }
}

pub fn channel_label(c: Channel) -> &'static str {
    c.source_label()
}

pub fn category_label(c: Option<Category>) -> &'static str {
    c.map(|c| c.label()).unwrap_or("-")
}

pub fn reply_kind_label(k: &str) -> &'static str {
    match k {
        "ack" => "Tanda terima",
        "answer" => "Jawaban",
        "escalation" => "Pemberitahuan eskalasi",
        "question" => "Pertanyaan ke pengadu",
        "timeout" => "Pemberitahuan penutupan (tidak ada tanggapan)",
        "rating_thanks" => "Terima kasih atas penilaian",
        _ => "Balasan",
    }
}

pub fn reply_status_label(s: &str) -> &'static str {
    match s {
        "pending" => "menunggu",
        "sent" => "terkirim",
        "failed" => "gagal",
        _ => "-",
    }
}

pub fn report_state_label(s: &str) -> &'static str {
    match s {
        "draft" => "Draf (belum dikirim ke Kepala Dinas)",
        "submitted" => "Angka dikirim ke Kepala Dinas, menunggu kesimpulan Kasi",
        "concluded" => "Kesimpulan Kasi dikirim, menunggu keputusan Kepala Dinas",
        "decided" => "Diputuskan Kepala Dinas, menunggu penerimaan Kasi",
        "received" => "Log book diterima kembali oleh Kasi",
        _ => "-",
    }
}

/// Local date and time with the zone's abbreviation, e.g. `02-03-2026 08:15 WITA`.
pub fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%d-%m-%Y %H:%M %Z").to_string()
}

/// `YYYY-MM-DDTHH:MM` in the office zone (value of an `<input type=datetime-local>`).
pub fn local_input(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string()
}

/// A duration in Indonesian words: `45 menit`, `2 jam 5 menit`, `3 hari 4 jam`.
pub fn span(minutes: i64) -> String {
    let m = minutes.abs();
    if m < 60 {
        format!("{m} menit")
    } else if m < 24 * 60 {
        format!("{} jam {} menit", m / 60, m % 60)
    } else {
        format!("{} hari {} jam", m / (24 * 60), (m % (24 * 60)) / 60)
    }
}

/// Countdown text and CSS class of a due time: `sisa 4 menit` / `terlambat 12 menit`.
pub fn countdown(due: Option<DateTime<Utc>>, now: DateTime<Utc>) -> (String, &'static str) {
    let Some(due) = due else {
        return (String::new(), "");
    };
    let secs = (due - now).num_seconds();
    if secs < 0 {
        (format!("terlambat {}", span((-secs + 59) / 60)), "breached")
    } else {
        let mins = secs / 60;
        (
            format!("sisa {}", span(mins)),
            if mins < 5 { "due-soon" } else { "on-time" },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for name in [
            "layout.html",
            "login.html",
            "error.html",
            "queue.html",
            "queue_table.html",
            "complaint.html",
            "new.html",
            "logbook.html",
            "report.html",
            "failed.html",
        ] {
            assert!(PAGES.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn countdowns_read_naturally() {
        let now = DateTime::parse_from_rfc3339("2026-03-02T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = |m: i64| countdown(Some(now + chrono::Duration::minutes(m)), now);
        assert_eq!(c(4), ("sisa 4 menit".into(), "due-soon"));
        assert_eq!(c(65), ("sisa 1 jam 5 menit".into(), "on-time"));
        assert_eq!(c(-12), ("terlambat 12 menit".into(), "breached"));
        assert_eq!(c(-(26 * 60)), ("terlambat 1 hari 2 jam".into(), "breached"));
        assert_eq!(countdown(None, now), (String::new(), ""));
        assert_eq!(
            local(now, chrono_tz::Asia::Makassar),
            "02-03-2026 09:00 WITA"
        );
    }
}
