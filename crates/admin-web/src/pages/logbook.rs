//! `/admin/logbook…`: the printable logbook FM-PDIP-03-02 of a month, the paraf of the
//! Kabid PDIP (one line or a selection) and the CSV/XLSX export (recorded in the audit log
//! before the file is sent).
//!
//! Rows come from [`Desk::logbook`](aduan_core::desk::Desk::logbook), so visibility and
//! masking are the desk's. A paraf is `Command::Sign` through the desk, one ticket at a
//! time: duplicates are dropped, at most 1000 per post, a permanent storage error stops the
//! batch and any other refusal is counted as failed in the redirect.

use aduan_core::desk::DeskError;
use aduan_core::logbook;
use aduan_core::services::LogbookCursor;
use aduan_core::types::{Role, State};
use aduan_core::workflow::Command;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    QueryResult, base, bidang_name, desk_error, forbidden, month_now, not_found_page, parse_month,
    tz, with,
};
use crate::AppState;
use crate::auth::{Fields, Me, Page, check_csrf, see_other, store_error_page};
use crate::render::{local, page, state_label};

#[derive(Deserialize)]
pub struct LogbookQuery {
    diparaf: Option<u32>,
    gagal: Option<u32>,
    /// Where the page starts ([`LogbookCursor::encode`]); the first page without it.
    setelah: Option<String>,
}

/// Rows per page on screen: a page prints on a few A4 sheets; the whole month is in the
/// exports.
const ROWS_PER_PAGE: u32 = 200;

/// `GET /admin/logbook`: this month's logbook.
pub async fn logbook_now(AxState(st): AxState<AppState>, _me: Me) -> Response {
    see_other(&format!("/admin/logbook/{}", month_now(&st)))
}

/// `GET /admin/logbook/{YYYY-MM}`: the printable FM-PDIP-03-02.
pub async fn logbook(
    AxState(st): AxState<AppState>,
    me: Me,
    Path(month): Path<String>,
    q: QueryResult<LogbookQuery>,
) -> Page {
    let month = parse_month(&month)?;
    let (diparaf, gagal, after) = match q {
        Ok(Query(q)) => (q.diparaf, q.gagal, q.setelah),
        Err(_) => (None, None, None),
    };
    let after = match after.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(LogbookCursor::decode(s).ok_or_else(|| {
            super::bad_request("Tautan halaman log book tidak valid; buka halaman pertama.")
        })?),
    };
    let slice = st
        .desk
        .staff()
        .logbook_page(&me.actor, month, after, ROWS_PER_PAGE)
        .await
        .map_err(|e| desk_error(e, None))?;
    let rows = slice.rows;
    let tz = tz(&st);
    let can_paraf = me.role() == Role::Kabid;
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "no": r.no,
                "ticket": r.ticket,
                "text": r.text,
                "source": r.source,
                "received": local(r.received_at, tz),
                "bidang": r.bidang.as_ref().map(|b| bidang_name(&st, b)),
                "solution": Some(r.tindak_lanjut_aduan()).filter(|s| !s.is_empty()),
                "answer": r.answer,
                "status": r.status_cell(),
                "state": state_label(r.state.parse().unwrap_or(State::Triage)),
                "closed": r.state == "closed",
                "paraf": r.paraf_cell(tz),
                "signable": can_paraf && r.state == "closed" && r.paraf.is_none(),
            })
        })
        .collect();
    let signable = rows.iter().filter(|r| r["signable"] == true).count();
    let last_no = slice.first_no + rows.len().saturating_sub(1);
    let ctx = with(
        base(
            &st,
            &me,
            &format!("Log book {}", month.label_id()),
            "logbook",
        ),
        json!({
            "month": month.to_string(),
            "month_label": month.label_id(),
            "prev": month.prev().to_string(),
            "next": month.next().to_string(),
            "columns": logbook::COLUMNS,
            "rows": rows,
            "can_paraf": can_paraf,
            "signable": signable,
            "diparaf": diparaf,
            "gagal": gagal,
            "total": slice.total,
            "first_no": slice.first_no,
            "last_no": last_no,
            "paged": after.is_some() || slice.next.is_some(),
            "not_first": after.is_some(),
            "next_page": slice.next.map(|c| c.encode()),
        }),
    );
    Ok(page(StatusCode::OK, "logbook.html", &ctx))
}

/// `POST /admin/logbook/{YYYY-MM}/paraf` (kabid): one line (`one`) or all selected (`select`).
pub async fn paraf(
    AxState(st): AxState<AppState>,
    me: Me,
    Path(month): Path<String>,
    f: Fields,
) -> Page {
    check_csrf(&st, &me, &f)?;
    let month = parse_month(&month)?;
    if me.role() != Role::Kabid {
        return Err(forbidden());
    }
    let tickets: Vec<String> = match f.get("one").filter(|t| !t.trim().is_empty()) {
        Some(t) => vec![t.trim().to_string()],
        None => f.all("select").map(|t| t.trim().to_string()).collect(),
    };
    let mut seen = std::collections::HashSet::new();
    let (mut ok, mut failed) = (0u32, 0u32);
    for t in tickets
        .iter()
        .filter(|t| seen.insert(t.as_str()))
        .take(1000)
    {
        match st.desk.staff().act(&me.actor, t, Command::Sign).await {
            Ok(_) => ok += 1,
            Err(DeskError::Store(e)) if !e.is_transient() => return Err(store_error_page(e)),
            Err(_) => failed += 1,
        }
    }
    Ok(see_other(&format!(
        "/admin/logbook/{month}?diparaf={ok}&gagal={failed}"
    )))
}

/// `GET /admin/logbook/{YYYY-MM}/export/{csv|xlsx}`.
pub async fn export(
    AxState(st): AxState<AppState>,
    me: Me,
    Path((month, format)): Path<(String, String)>,
) -> Page {
    let month = parse_month(&month)?;
    if format != "csv" && format != "xlsx" {
        return Err(not_found_page());
    }
    // Recorded in the audit log before the file is handed out; written row by row.
    let pages = st
        .desk
        .staff()
        .export_logbook(&me.actor, month, &format, "admin")
        .await
        .map_err(|e| desk_error(e, None))?;
    let tz = tz(&st);
    let name = format!("logbook-FM-PDIP-03-02-{month}.{format}");
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let (content_type, body) = if format == "csv" {
        (
            "text/csv; charset=utf-8",
            aduan_admin::export::csv_body(pages, tz),
        )
    } else {
        (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            aduan_admin::export::xlsx_body(pages, &st.desk.config().office_name, month, tz),
        )
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}
