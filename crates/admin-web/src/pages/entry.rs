//! `GET/POST /admin/complaints/new`: manual entry (FM-PDIP-03-01) by staf of a complaint
//! received by phone, letter, fax or in person.
//!
//! Staf only (403 for every other role). The desk validates and records the submission; the
//! checks here cover only what must be parsed before it can be asked (the channel, the
//! local time, the length of the text). A refused form is shown again with what was typed
//! and one Indonesian message per problem (422).

use aduan_core::desk::{DeskError, MAX_BODY_CHARS, Submission};
use aduan_core::types::{Category, Channel, Role};
use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::{base, desk_error, field_label, forbidden, translate, tz, with};
use crate::AppState;
use crate::auth::{Fields, Me, Page, check_csrf, enc, see_other};
use crate::render::{self, page};

const MANUAL_CHANNELS: [(Channel, &str); 4] = [
    (Channel::Phone, "Telepon"),
    (Channel::Letter, "Surat"),
    (Channel::Fax, "Faks"),
    (Channel::WalkIn, "Datang langsung"),
];

fn new_page(
    st: &AppState,
    me: &Me,
    status: StatusCode,
    values: Value,
    errors: &[String],
) -> Response {
    let categories: Vec<Value> = Category::ALL
        .iter()
        .map(|c| json!({"value": c.as_str(), "label": c.label()}))
        .collect();
    let channels: Vec<Value> = MANUAL_CHANNELS
        .iter()
        .map(|(c, l)| json!({"value": c.as_str(), "label": l}))
        .collect();
    let ctx = with(
        base(st, me, "Catat pengaduan (FM-PDIP-03-01)", "new"),
        json!({
            "v": values,
            "errors": errors,
            "categories": categories,
            "channels": channels,
            "max_body": MAX_BODY_CHARS,
        }),
    );
    page(status, "new.html", &ctx)
}

/// `GET /admin/complaints/new` (staf).
pub async fn new_form(AxState(st): AxState<AppState>, me: Me) -> Page {
    if me.role() != Role::Staf {
        return Err(forbidden());
    }
    let v = json!({
        "channel": "phone",
        "received_at": render::local_input(st.desk.now(), tz(&st)),
    });
    Ok(new_page(&st, &me, StatusCode::OK, v, &[]))
}

/// Parse a `datetime-local` value (or RFC 3339) in the office time zone.
fn parse_local(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .and_then(|n| tz.from_local_datetime(&n).earliest())
        .map(|t| t.with_timezone(&Utc))
}

/// `POST /admin/complaints/new` (staf).
pub async fn new_submit(AxState(st): AxState<AppState>, me: Me, f: Fields) -> Page {
    check_csrf(&st, &me, &f)?;
    if me.role() != Role::Staf {
        return Err(forbidden());
    }
    let keys = [
        "channel",
        "received_at",
        "letter_number",
        "name",
        "address",
        "email",
        "phone",
        "target",
        "category",
        "body",
    ];
    let values: Value = keys
        .iter()
        .map(|k| (k.to_string(), Value::String(f.text(k))))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let mut errors = Vec::new();
    let channel = match f.get("channel").unwrap_or("").parse::<Channel>() {
        Ok(c) if c.is_manual() => Some(c),
        _ => {
            errors.push(format!(
                "{}: {}.",
                field_label("channel"),
                translate("channel", "")
            ));
            None
        }
    };
    let received_at = match f.opt("received_at") {
        None => None,
        Some(s) => match parse_local(s.trim(), tz(&st)) {
            Some(t) => Some(t),
            None => {
                errors.push("Waktu diterima: format tanggal dan jam tidak valid.".into());
                None
            }
        },
    };
    let body = f.text("body");
    if body.chars().count() > MAX_BODY_CHARS {
        errors.push(format!(
            "Isi pengaduan: lebih dari {MAX_BODY_CHARS} karakter."
        ));
    }
    if !errors.is_empty() {
        return Ok(new_page(
            &st,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            values,
            &errors,
        ));
    }
    let sub = Submission {
        channel,
        received_at,
        name: f.opt("name"),
        address: f.opt("address"),
        email: f.opt("email"),
        phone: f.opt("phone"),
        target: f.opt("target"),
        category: f.opt("category"),
        body,
        letter_number: f.opt("letter_number"),
        ..Default::default()
    };
    match st.desk.staff().manual_entry(&me.actor, sub).await {
        Ok(r) => Ok(see_other(&format!(
            "/admin/complaints/{}?pesan=dicatat",
            enc(r.ticket.as_str())
        ))),
        Err(DeskError::Invalid { field, message }) => Ok(new_page(
            &st,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            values,
            &[format!(
                "{}: {}.",
                field_label(&field),
                translate(&field, &message)
            )],
        )),
        Err(e) => Err(desk_error(e, None)),
    }
}
