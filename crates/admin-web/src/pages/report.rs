//! `/admin/reports…`: the monthly report of a month (figures, charts, the Kasi's
//! conclusion, the Kadis's decision and the receipt) and its actions, including the resend.
//!
//! A page only reads: an ended month without a stored report shows its figures computed
//! on the fly (nothing is stored or mailed; the first staff step builds the draft), as
//! the JSON API does; a month that has not ended yet answers 404 with a "pending" page. The charts are the PNG images
//! of the digest e-mail (aduan-digest), picked by content id. Role and state checks of the
//! actions are the desk's; the `can` flags built here only choose which forms to show.

use aduan_core::desk::DeskError;
use aduan_core::desk_reports::{ReportAction, ReportView};
use aduan_core::logbook::Month;
use aduan_core::report::{MonthlyReport, RiskEntry};
use aduan_core::types::Role;
use aduan_digest::render::Labels;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    QueryResult, base, check_len, desk_error, month_now, not_found_page, notice, parse_month, tz,
    with,
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

/// The month's report for reading (as the API does): the stored one, or an ended month's
/// figures computed without storing or delivering anything (a staff step builds it).
/// `Ok(None)`: the month has not ended yet.
async fn load_report(st: &AppState, me: &Me, month: Month) -> Result<Option<ReportView>, Response> {
    match st.desk.reports().report_or_preview(&me.actor, month).await {
        Ok(v) => Ok(Some(v)),
        Err(DeskError::NotFound) if month >= month_now(st) => Ok(None),
        Err(e) => Err(desk_error(e, None)),
    }
}

/// The report's labels with this installation's division names.
fn labels(st: &AppState) -> Labels {
    Labels::new(
        &st.desk
            .config()
            .bidang
            .iter()
            .map(|b| (b.code.to_string(), b.name.clone()))
            .collect::<Vec<_>>(),
    )
}

fn report_json(st: &AppState, me: &Me, month: Month, v: &ReportView) -> Value {
    let tz = tz(st);
    let now = st.desk.now();
    let labels = labels(st);
    let rep: Option<MonthlyReport> = serde_json::from_value(v.report.clone()).ok();
    let rows = |m: &std::collections::BTreeMap<String, usize>, label: &dyn Fn(&str) -> String| {
        m.iter()
            .map(|(k, n)| json!({"label": label(k), "count": n}))
            .collect::<Vec<_>>()
    };
    let pairs = |v: &[(String, usize)], label: &dyn Fn(&str) -> String| {
        v.iter()
            .map(|(k, n)| format!("{} ({n})", label(k)))
            .collect::<Vec<_>>()
    };
    let figures = rep.as_ref().map(|r| {
        json!({
            "complaints": r.totals.complaints,
            "as_of": r.as_of.map(|t| local(t, tz)),
            "on_time": r.on_time_pct(),
            "by_channel": rows(&r.totals.by_channel, &|k| labels.channel(k)),
            "by_category": rows(&r.totals.by_category, &|k| labels.category(k)),
            "by_bidang": rows(&r.totals.by_bidang, &|k| labels.bidang(k)),
            "by_status": rows(&r.totals.by_status, &|k| match k {
                "selesai" => "Selesai".to_string(),
                "tidak" => "Tidak selesai".to_string(),
                _ => "Belum selesai".to_string(),
            }),
            "steps": r.steps.iter().map(|s| json!({
                "label": step_label(s.step),
                "role": s.responsible.map(render::role_label).unwrap_or("-"),
                "count": s.count,
                "within": s.within_standard,
                "pct": s.within_standard_pct,
                "median": s.median_minutes,
                "p90": s.p90_minutes,
            })).collect::<Vec<_>>(),
            "problems": r.frequent_problems.iter().map(|p| json!({
                "term": p.term, "count": p.count, "examples": p.examples,
                "previous": p.previous_count, "change": p.change,
                "categories": pairs(&p.categories, &|k| labels.category(k)),
                "bidang": pairs(&p.bidang, &|k| labels.bidang(k)),
                "targets": pairs(&p.targets, &|k| k.to_string()),
                "variants": p.variants,
                // The risk's owner proposed from the division it comes from most.
                "owner": p
                    .bidang
                    .iter()
                    .find(|(k, _)| k != aduan_core::problems::NONE_VALUE)
                    .map(|(k, _)| labels.bidang(k)),
            })).collect::<Vec<_>>(),
            "repeat": r.repeat_complainants,
            "satisfaction": r.satisfaction,
            "report_steps": r.report_steps.iter().map(|x| json!({
                "month": x.month,
                "label": labels.report_step(&x.key),
                "responsible": render::role_label(x.responsible),
                "due": x.due_at.map(|d| local(d, tz)),
                "done": x.done_at.map(|d| local(d, tz)),
                "breached": x.breached,
                "overrun": x.overrun_minutes,
            })).collect::<Vec<_>>(),
            "trend": r.trend.iter().map(|t| json!({
                "month": Month::parse(&t.month).map(|m| m.label_id()).unwrap_or_else(|_| t.month.clone()),
                "complaints": t.complaints,
                "on_time": t.on_time_pct,
            })).collect::<Vec<_>>(),
            "backlog": r.backlog,
            "breaches_total": r.breach_count(),
            "breaches": r.breaches.iter().map(|b| json!({
                "ticket": b.ticket,
                "step": step_label(b.step),
                "responsible": render::role_label(b.responsible),
                "due": b.due_at.map(|d| local(d, tz)),
                "done": b.done_at.map(|d| local(d, tz)),
                "overrun": b.overrun_minutes,
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
        "risks": v.risks,
        "conclusion_pending": v.conclusion_pending,
        "conclusion_sent": v.conclusion_sent_at.map(|t| local(t, tz)),
        "conclusion_error": v.conclusion_error,
        "can": {
            // SOP step 6: the Kasi concludes until the Kepala Dinas has decided on it.
            "conclusion": role == Role::Kasi && matches!(state, "draft" | "submitted" | "concluded"),
            // The Kepala Dinas decides on the Kasi's conclusion (SOP steps 6–7).
            "decision": role == Role::Kadis && state == "concluded",
            "awaiting_conclusion": role == Role::Kadis && state == "submitted",
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

/// `GET /admin/reports/{YYYY-MM}/chart/{category|bidang|channel|steps|trend}.{png|svg}`:
/// the report's charts as the digest mail draws them (PNG), or as SVG for the page and its
/// print.
pub async fn chart(
    AxState(st): AxState<AppState>,
    me: Me,
    Path((month, file)): Path<(String, String)>,
) -> Page {
    let month = parse_month(&month)?;
    let (name, ext) = file.rsplit_once('.').ok_or_else(not_found_page)?;
    if !matches!(ext, "png" | "svg") {
        return Err(not_found_page());
    }
    let cid = format!("chart-{name}");
    let v = load_report(&st, &me, month)
        .await?
        .ok_or_else(not_found_page)?;
    let rep: MonthlyReport = serde_json::from_value(v.report).map_err(|_| not_found_page())?;
    let chart = aduan_digest::render::report_charts(&rep, &labels(&st))
        .into_iter()
        .find(|(id, _)| *id == cid)
        .map(|(_, c)| c)
        .ok_or_else(not_found_page)?;
    let failed = |e: aduan_digest::chart::ChartError| {
        tracing::error!(error = %e, "report chart failed");
        error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Kesalahan server",
            "Grafik tidak dapat dibuat.",
            None,
        )
    };
    Ok(if ext == "png" {
        let png = chart.png().map_err(failed)?;
        ([(header::CONTENT_TYPE, "image/png")], png).into_response()
    } else {
        let svg = chart.svg().map_err(failed)?;
        (
            [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
            svg,
        )
            .into_response()
    })
}

/// The risk-register rows of the conclusion form the Kasi ticked: row `i` has `pilih_{i}`
/// (the box), `risiko_{i}`, `penyebab_{i}`, `frekuensi_{i}`, `pengendalian_{i}` and
/// `pemilik_{i}`; rows run from 0 while a `risiko_{i}` field exists (the desk bounds them).
fn picked_risks(f: &Fields) -> Vec<RiskEntry> {
    (0..)
        .map_while(|i| f.get(&format!("risiko_{i}")).map(|risk| (i, risk)))
        .filter(|(i, _)| f.get(&format!("pilih_{i}")).is_some())
        .map(|(i, risk)| RiskEntry {
            risk: risk.to_string(),
            cause: f.text(&format!("penyebab_{i}")),
            frequency: f
                .text(&format!("frekuensi_{i}"))
                .trim()
                .parse()
                .unwrap_or(0),
            control: f.text(&format!("pengendalian_{i}")),
            owner: f.text(&format!("pemilik_{i}")),
        })
        .collect()
}

/// `GET /admin/reports/{YYYY-MM}/risiko.{csv|xlsx}`: the conclusion's risk register.
pub async fn risks_file(
    AxState(st): AxState<AppState>,
    me: Me,
    Path((month, file)): Path<(String, String)>,
) -> Page {
    let month = parse_month(&month)?;
    let format = match file.as_str() {
        "risiko.csv" => "csv",
        "risiko.xlsx" => "xlsx",
        _ => return Err(not_found_page()),
    };
    let v = load_report(&st, &me, month)
        .await?
        .ok_or_else(not_found_page)?;
    let (ct, name, bytes) =
        aduan_digest::risk::register_file(format, &st.desk.config().office_name, month, &v.risks)
            .ok()
            .flatten()
            .ok_or_else(not_found_page)?;
    Ok((
        [
            (header::CONTENT_TYPE, ct.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
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
        "conclusion" => {
            let text = f.text("text");
            check_len("text", &text)?;
            ReportAction::Conclusion {
                text,
                risks: picked_risks(&f),
            }
        }
        "decision" => {
            let text = f.text("text");
            check_len("text", &text)?;
            ReportAction::Decision(text)
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
