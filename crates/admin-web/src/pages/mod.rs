//! The page handlers. Every action goes through the [`Desk`](aduan_core::desk::Desk), which
//! checks the role (403), the visibility for bidang users (404) and the state (409) and
//! masks identity in the views it returns.
//!
//! This module holds what every page shares: the layout context of a logged-in user
//! ([`base`]: navigation by role, the user, the CSRF token, the calendar warning), the fixed
//! notices after an action, and the translation of desk refusals into Indonesian error
//! pages. The handlers live in one submodule per page family:
//!
//! - [`queue`]: `/admin` and `/admin/queue?state=S`;
//! - [`complaint`]: the complaint detail and its workflow action posts;
//! - [`entry`]: manual entry by staf (`/admin/complaints/new`);
//! - [`logbook`]: the logbook FM-PDIP-03-02, paraf and export;
//! - [`report`]: the monthly report, its charts and actions;
//! - [`replies`]: the failed replies;
//! - [`assets`]: the embedded stylesheet and script, and the 404 fallback.
//!
//! Messages shown to the user are fixed texts or desk validation messages translated
//! here; a notice code (`?pesan=…`) that is not known shows nothing.

pub mod assets;
pub mod complaint;
pub mod entry;
pub mod logbook;
pub mod queue;
pub mod replies;
pub mod report;

use aduan_core::desk::{DeskError, MAX_BODY_CHARS};
use aduan_core::logbook::Month;
use aduan_core::types::Role;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Me, me_json, store_error_page};
use crate::render::{error_page, report_state_label, state_label};

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn tz(st: &AppState) -> Tz {
    st.desk.config().policy.calendar.timezone()
}

fn month_now(st: &AppState) -> Month {
    Month::of(st.desk.now(), tz(st))
}

fn bidang_name(st: &AppState, code: &str) -> String {
    st.desk
        .config()
        .bidang
        .iter()
        .find(|b| b.code.as_str() == code)
        .map(|b| b.name.clone())
        .unwrap_or_else(|| code.to_string())
}

/// Fixed notices after an action (`?pesan=…`); unknown codes show nothing.
fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "dicatat" => "Pengaduan telah dicatat di log book.",
        "assign" => "Pengaduan diteruskan ke bidang.",
        "close" => "Pengaduan ditutup.",
        "solution" => "Solusi dikirim ke Kasi untuk diperiksa.",
        "approve" => "Jawaban disetujui; staf dapat menindaklanjuti ke pengadu.",
        "return" => "Pengaduan dikembalikan ke bidang.",
        "follow-up" => "Tindak lanjut ke pengadu dicatat; pengaduan selesai.",
        "sign" => "Baris log book telah diparaf.",
        "share-identity" => "Identitas pengadu dibagikan kepada bidang.",
        "share-attachment" => "Lampiran dibagikan kepada bidang.",
        "ask" => {
            "Pertanyaan dikirim ke pengadu; waktu langkah ini dihentikan sementara sampai pengadu menjawab."
        }
        "conclusion" => "Kesimpulan disimpan.",
        "decision" => "Keputusan Kepala Dinas disimpan.",
        "receipt" => "Penerimaan log book dicatat.",
        "send" => "Laporan akan dikirim ulang dalam satu menit.",
        _ => return None,
    })
}

/// The context every page of a logged-in user shares.
fn base(st: &AppState, me: &Me, title: &str, active: &str) -> Value {
    let now = month_now(st);
    let prev = now.prev();
    let mut nav = vec![("queue", "/admin".to_string(), "Antrean")];
    match me.role() {
        Role::Staf => {
            nav.push(("new", "/admin/complaints/new".into(), "Catat pengaduan"));
            nav.push(("failed", "/admin/replies/failed".into(), "Balasan gagal"));
            nav.push(("logbook", format!("/admin/logbook/{now}"), "Log book"));
        }
        Role::Kasi => {
            nav.push(("logbook", format!("/admin/logbook/{now}"), "Log book"));
            nav.push((
                "report",
                format!("/admin/reports/{prev}"),
                "Laporan bulanan",
            ));
            nav.push(("failed", "/admin/replies/failed".into(), "Balasan gagal"));
        }
        Role::Bidang => {}
        Role::Kabid => {
            nav.push((
                "logbook",
                format!("/admin/logbook/{now}"),
                "Log book & paraf",
            ));
            nav.push((
                "report",
                format!("/admin/reports/{prev}"),
                "Laporan bulanan",
            ));
        }
        Role::Kadis => {
            nav.push((
                "report",
                format!("/admin/reports/{prev}"),
                "Laporan bulanan",
            ));
            nav.push(("logbook", format!("/admin/logbook/{now}"), "Log book"));
        }
    }
    let nav: Vec<Value> = nav
        .into_iter()
        .map(|(k, href, label)| json!({"href": href, "label": label, "active": k == active}))
        .collect();
    json!({
        "title": title,
        "office": st.desk.config().office_name,
        "me": me_json(st, me),
        "csrf": me.csrf,
        "nav": nav,
        "server_now": st.desk.now().to_rfc3339(),
        "calendar_missing_year": st
            .desk
            .config()
            .policy
            .calendar
            .next_year_warning(st.desk.now())
            .map(|m| m.year),
    })
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

fn field_label(f: &str) -> &str {
    match f {
        "body" => "Isi pengaduan",
        "name" => "Nama lengkap",
        "address" => "Alamat",
        "email" => "Alamat email",
        "phone" => "No. HP",
        "handle" => "Akun",
        "target" => "Sasaran pengaduan",
        "category" => "Kategori",
        "channel" => "Sumber",
        "received_at" => "Waktu diterima",
        "letter_number" => "Nomor surat",
        "bidang" => "Bidang",
        "text" => "Isian",
        "reason" => "Alasan",
        "message" => "Tindak lanjut",
        "note" => "Catatan",
        "status" => "Status",
        "decision" => "Keputusan",
        other => other,
    }
}

fn translate(field: &str, msg: &str) -> String {
    if msg.ends_with("must not be empty") || msg == "missing" {
        return "wajib diisi".into();
    }
    if let Some(n) = msg
        .strip_prefix("longer than ")
        .and_then(|r| r.strip_suffix(" characters"))
    {
        return format!("lebih dari {n} karakter");
    }
    if msg == "too long" {
        return "terlalu panjang".into();
    }
    if msg.contains("future") {
        return "tidak boleh di masa depan".into();
    }
    match field {
        "email" => "alamat email tidak valid".into(),
        "phone" => "nomor HP tidak valid (6 sampai 16 angka)".into(),
        "category" => "kategori tidak dikenal".into(),
        "bidang" => "bidang tidak dikenal".into(),
        "channel" => "sumber harus telepon, surat, faks atau datang langsung".into(),
        _ => msg.to_string(),
    }
}

/// A desk refusal as an error page; `back` is where the user came from.
fn desk_error(e: DeskError, back: Option<&str>) -> Response {
    match e {
        DeskError::Invalid { field, message } => error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Isian tidak valid",
            &format!("{}: {}.", field_label(&field), translate(&field, &message)),
            back,
        ),
        DeskError::NotFound => error_page(
            StatusCode::NOT_FOUND,
            "Tidak ditemukan",
            "Data yang diminta tidak ditemukan atau bukan untuk bidang Anda.",
            Some("/admin"),
        ),
        DeskError::Forbidden(_) => error_page(
            StatusCode::FORBIDDEN,
            "Akses ditolak",
            "Peran Anda tidak berwenang untuk halaman atau tindakan ini.",
            Some("/admin"),
        ),
        DeskError::InvalidState { state, .. } => error_page(
            StatusCode::CONFLICT,
            "Tindakan tidak dapat dilakukan",
            &format!(
                "Tindakan ini tidak dapat dilakukan karena pengaduan sedang pada tahap “{}”.",
                state_label(state)
            ),
            back,
        ),
        DeskError::InvalidReportState { state } => error_page(
            StatusCode::CONFLICT,
            "Tindakan tidak dapat dilakukan",
            &format!(
                "Tindakan ini tidak dapat dilakukan pada laporan berstatus “{}”.",
                report_state_label(state.as_str())
            ),
            back,
        ),
        DeskError::ConclusionFirst => error_page(
            StatusCode::CONFLICT,
            "Kesimpulan Kasi belum ada",
            "Keputusan Kepala Dinas diambil atas kesimpulan Kasi (SOP-PDIP-03 langkah 6–7): \
             Kasi menulis kesimpulan terlebih dahulu.",
            back,
        ),
        DeskError::Conflict(_) => error_page(
            StatusCode::CONFLICT,
            "Tindakan tidak dapat dilakukan",
            "Tindakan ini sudah pernah dilakukan dan hanya dapat dilakukan sekali.",
            back,
        ),
        DeskError::Store(e) => store_error_page(e),
    }
}

fn forbidden() -> Response {
    desk_error(DeskError::Forbidden(String::new()), None)
}

fn bad_request(message: &str) -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Permintaan tidak valid",
        message,
        Some("/admin"),
    )
}

// The error is the finished refusal page, built once per request; boxing gains nothing.
#[allow(clippy::result_large_err)]
fn parse_month(s: &str) -> Result<Month, Response> {
    Month::parse(s).map_err(|_| bad_request("Bulan harus ditulis dengan format YYYY-MM."))
}

// The error is the finished refusal page, built once per request; boxing gains nothing.
#[allow(clippy::result_large_err)]
fn check_len(field: &str, s: &str) -> Result<(), Response> {
    if s.chars().count() > MAX_BODY_CHARS {
        return Err(desk_error(
            DeskError::invalid(field, format!("longer than {MAX_BODY_CHARS} characters")),
            None,
        ));
    }
    Ok(())
}

fn not_found_page() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Halaman tidak ditemukan",
        "Halaman yang diminta tidak ada.",
        Some("/admin"),
    )
}
