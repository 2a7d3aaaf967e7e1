//! `/admin/reports…`: the monthly report of a month (figures, charts, the Kasi's
//! conclusion, the Kadis's decision and the receipt) and its actions, including the resend.
//!
//! A report of an ended month is built on its first request, as the JSON API does; a month
//! that has not ended yet answers 404 with a "pending" page. The charts are the PNG images
//! of the digest e-mail (aduan-digest), picked by content id. Role and state checks of the
//! actions are the desk's; the `can` flags built here only choose which forms to show.

use aduan_core::desk::DeskError;
use aduan_core::desk_reports::{ReportAction, ReportView};
use aduan_core::logbook::Month;
use aduan_core::report::MonthlyReport;
use aduan_core::types::{Category, Channel, Role};
use axum::extract::{Path, Query, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    QueryResult, base, bidang_name, check_len, desk_error, month_now, not_found_page, notice,
    parse_month, tz, with,
};
use crate::AppState;
use crate::auth::{Fields, Me, Page, check_csrf, see_other};
use crate::render::{self, countdown, error_page, local, page, report_state_label, step_label};

#[derive(Deserialize)]
pub struct ReportQuery {
    pesan: Option<String>,
}

/// `GET /admin/reports`: the last ended month.
pub async fn report_latest(AxState(st): AxState<AppState>, _me: Me) -> Response {
    see_other(&format!("/admin/reports/{}", month_now(&st).prev()))
}

/// The month's report, built on first request once the month has ended (as the API does).
/// `Ok(None)`: the month has not ended yet.
async fn load_report(st: &AppState, me: &Me, month: Month) -> Result<Option<ReportView>, Response> {
    match st.desk.reports().report(&me.actor, month).await {
        Ok(v) => Ok(Some(v)),
        Err(DeskError::NotFound) => {
            if month >= month_now(st) {
                return Ok(None);
            }
            st.desk
                .reports()
                .build_report(month)
                .await
                .map_err(|e| desk_error(e, None))?;
            st.desk
                .reports()
                .report(&me.actor, month)
                .await
                .map(Some)
                .map_err(|e| desk_error(e, None))
        }
        Err(e) => Err(desk_error(e, None)),
    }
}

fn category_key_label(k: &str) -> String {
    k.parse::<Category>()
        .map(|c| c.label().to_string())
        .unwrap_or_else(|_| "Tanpa kategori".into())
}

fn bidang_key_label(st: &AppState, k: &str) -> String {
    if k == "belum_ditentukan" {
        "Belum ditentukan".into()
    } else {
        bidang_name(st, k)
    }
}

fn report_json(st: &AppState, me: &Me, month: Month, v: &ReportView) -> Value {
    let tz = tz(st);
    let now = st.desk.now();
    let rep: Option<MonthlyReport> = serde_json::from_value(v.report.clone()).ok();
    let rows = |m: &std::collections::BTreeMap<String, usize>, label: &dyn Fn(&str) -> String| {
        m.iter()
            .map(|(k, n)| json!({"label": label(k), "count": n}))
            .collect::<Vec<_>>()
    };
    let figures = rep.as_ref().map(|r| {
        json!({
            "complaints": r.totals.complaints,
            "by_channel": rows(&r.totals.by_channel, &|k| k.parse::<Channel>().map(|c| c.source_label().to_string()).unwrap_or_else(|_| k.to_string())),
            "by_category": rows(&r.totals.by_category, &category_key_label),
            "by_bidang": rows(&r.totals.by_bidang, &|k| bidang_key_label(st, k)),
            "by_status": rows(&r.totals.by_status, &|k| match k {
                "selesai" => "Selesai".to_string(),
                "tidak" => "Tidak selesai".to_string(),
                _ => "Belum selesai".to_string(),
            }),
            "steps": r.steps.iter().map(|s| json!({
                "label": step_label(s.step),
                "count": s.count,
                "within": s.within_standard,
                "pct": s.within_standard_pct,
                "median": s.median_minutes,
                "p90": s.p90_minutes,
            })).collect::<Vec<_>>(),
            "problems": r.frequent_problems.iter().map(|p| json!({
                "term": p.term, "count": p.count, "examples": p.examples,
            })).collect::<Vec<_>>(),
            "backlog": r.backlog,
            "breaches": r.breaches.iter().map(|b| json!({
                "ticket": b.ticket,
                "step": step_label(b.step),
                "responsible": render::role_label(b.responsible),
                "due": b.due_at.map(|d| local(d, tz)),
                "done": b.done_at.map(|d| local(d, tz)),
            })).collect::<Vec<_>>(),
            "change": r.change,
        })
    });
    let signed = |s: &Option<aduan_core::desk_reports::Signed>| {
        s.as_ref()
            .map(|s| json!({"text": s.text, "by": s.by, "at": local(s.at, tz)}))
    };
    let (decide_cd, decide_class) = if v.decision.is_none() {
        countdown(v.decide_due_at, now)
    } else {
        (String::new(), "")
    };
    let (receive_cd, receive_class) = if v.receipt.is_none() {
        countdown(v.receive_due_at, now)
    } else {
        (String::new(), "")
    };
    let state = v.state.as_str();
    let role = me.role();
    json!({
        "month": month.to_string(),
        "month_label": month.label_id(),
        "state": state,
        "state_label": report_state_label(state),
        "submitted": v.submitted_at.map(|t| local(t, tz)),
        "conclusion": signed(&v.conclusion),
        "decision": signed(&v.decision),
        "receipt": signed(&v.receipt),
        "decide_due": v.decide_due_at.map(|t| local(t, tz)),
        "decide_countdown": decide_cd,
        "decide_class": decide_class,
        "decide_breached": v.decide_breached,
        "receive_due": v.receive_due_at.map(|t| local(t, tz)),
        "receive_countdown": receive_cd,
        "receive_class": receive_class,
        "receive_breached": v.receive_breached,
        "delivery_attempts": v.delivery_attempts,
        "last_error": v.last_error,
        "resend_requested": v.resend_requested,
        "figures": figures,
        "can": {
            "conclusion": role == Role::Kasi && state != "received",
            "decision": role == Role::Kadis && state == "submitted",
            "receipt": role == Role::Kasi && state == "decided",
            "send": role == Role::Kasi,
        },
    })
}

/// `GET /admin/reports/{YYYY-MM}`.
pub async fn report(
    AxState(st): AxState<AppState>,
    me: Me,
    Path(month): Path<String>,
    q: QueryResult<ReportQuery>,
) -> Page {
    let month = parse_month(&month)?;
    let pesan = q.ok().and_then(|Query(q)| q.pesan);
    let title = format!("Laporan bulanan {}", month.label_id());
    let Some(v) = load_report(&st, &me, month).await? else {
        let ctx = with(
            base(&st, &me, &title, "report"),
            json!({
                "pending": true,
                "r": {"month": month.to_string(), "month_label": month.label_id()},
                "prev": month.prev().to_string(),
            }),
        );
        return Ok(page(StatusCode::NOT_FOUND, "report.html", &ctx));
    };
    let ctx = with(
        base(&st, &me, &title, "report"),
        json!({
            "pending": false,
            "r": report_json(&st, &me, month, &v),
            "prev": month.prev().to_string(),
            "next": if month.next() < month_now(&st) { Some(month.next().to_string()) } else { None },
            "notice": notice(pesan.as_deref()),
        }),
    );
    Ok(page(StatusCode::OK, "report.html", &ctx))
}

/// `GET /admin/reports/{YYYY-MM}/chart/{category|bidang|steps}.png`.
pub async fn chart(
    AxState(st): AxState<AppState>,
    me: Me,
    Path((month, file)): Path<(String, String)>,
) -> Page {
    let month = parse_month(&month)?;
    let cid = match file.as_str() {
        "category.png" => "chart-category",
        "bidang.png" => "chart-bidang",
        "steps.png" => "chart-steps",
        _ => return Err(not_found_page()),
    };
    let v = load_report(&st, &me, month)
        .await?
        .ok_or_else(not_found_page)?;
    let rep: MonthlyReport = serde_json::from_value(v.report).map_err(|_| not_found_page())?;
    let names: Vec<(String, String)> = st
        .desk
        .config()
        .bidang
        .iter()
        .map(|b| (b.code.to_string(), b.name.clone()))
        .collect();
    let body =
        aduan_digest::render::render(&st.desk.config().office_name, month, &rep, &names, tz(&st))
            .map_err(|e| {
            tracing::error!(error = %e, "report charts failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Kesalahan server",
                "Grafik tidak dapat dibuat.",
                None,
            )
        })?;
    let png = body
        .images
        .into_iter()
        .find(|(id, _)| id == cid)
        .map(|(_, b)| b)
        .ok_or_else(not_found_page)?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// `POST /admin/reports/{YYYY-MM}/{conclusion|decision|receipt|send}`.
pub async fn report_act(
    AxState(st): AxState<AppState>,
    me: Me,
    Path((month, action)): Path<(String, String)>,
    f: Fields,
) -> Page {
    check_csrf(&st, &me, &f)?;
    let month = parse_month(&month)?;
    let back = format!("/admin/reports/{month}");
    let a = match action.as_str() {
        "conclusion" | "decision" => {
            let text = f.text("text");
            check_len("text", &text)?;
            if action == "conclusion" {
                ReportAction::Conclusion(text)
            } else {
                ReportAction::Decision(text)
            }
        }
        "receipt" => ReportAction::Receipt,
        "send" => ReportAction::Resend,
        _ => return Err(not_found_page()),
    };
    st.desk
        .reports()
        .report_act(&me.actor, month, a)
        .await
        .map_err(|e| desk_error(e, Some(&back)))?;
    Ok(see_other(&format!("{back}?pesan={action}")))
}
