//! The staff API (SPEC §4, `/api/v1/admin/…`): the per-complaint workflow for every SOP
//! role, authenticated by bearer tokens created with `aduan user add`.
//!
//! `GET /api/v1/admin/audit` lists the audit log (kasi, kabid, kadis); every logbook export
//! is recorded there before it is answered.
//!
//! Authorization lives in the domain: handlers turn the token into an [`Actor`] and hand
//! commands to the [`Desk`], which answers 403 for a wrong role, 404 for a complaint a
//! bidang user may not see and 409 for an action the current state does not allow.

use aduan_core::audit::AuditQuery;
use aduan_core::desk::{Desk, DeskError, Submission};
use aduan_core::desk_reports::ReportAction;
use aduan_core::logbook::{self, Month};
use aduan_core::types::{BidangCode, Resolution, State};
use aduan_core::workflow::{Actor, Command, ReviewDecision};
use aduan_http::{ApiError, ApiJson, MAX_JSON_BYTES};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State as AxState};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

/// The staff API routes.
pub mod export;
#[cfg(feature = "testing")]
pub mod testing;

pub fn router(desk: Desk) -> Router {
    Router::new()
        .route("/api/v1/admin/me", get(me))
        .route("/api/v1/admin/queue", get(queue))
        .route("/api/v1/admin/complaints", post(manual_entry))
        .route("/api/v1/admin/complaints/{ticket}", get(detail))
        .route("/api/v1/admin/complaints/{ticket}/assign", post(assign))
        .route("/api/v1/admin/complaints/{ticket}/solution", post(solution))
        .route("/api/v1/admin/complaints/{ticket}/review", post(review))
        .route(
            "/api/v1/admin/complaints/{ticket}/follow-up",
            post(follow_up),
        )
        .route("/api/v1/admin/complaints/{ticket}/close", post(close))
        .route("/api/v1/admin/complaints/{ticket}/ask", post(ask))
        .route("/api/v1/admin/complaints/{ticket}/sign", post(sign))
        .route(
            "/api/v1/admin/complaints/{ticket}/share-identity",
            post(share_identity),
        )
        .route(
            "/api/v1/admin/complaints/{ticket}/attachments/{id}",
            get(attachment),
        )
        .route(
            "/api/v1/admin/complaints/{ticket}/attachments/{id}/share",
            post(share_attachment),
        )
        .route("/api/v1/admin/logbook", get(logbook_export))
        .route("/api/v1/admin/audit", get(audit_entries))
        .route("/api/v1/admin/reports/{month}", get(report_get))
        .route(
            "/api/v1/admin/reports/{month}/conclusion",
            post(report_conclusion),
        )
        .route(
            "/api/v1/admin/reports/{month}/decision",
            post(report_decision),
        )
        .route(
            "/api/v1/admin/reports/{month}/receipt",
            post(report_receipt),
        )
        .route("/api/v1/admin/reports/{month}/send", post(report_send))
        .route("/api/v1/admin/reports/{month}/risks", get(report_risks))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .with_state(desk)
}

/// The authenticated staff member.
pub struct Staff(pub Actor);

impl FromRequestParts<Desk> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, desk: &Desk) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer TOKEN"))?;
        let user = desk
            .accounts()
            .by_token(token)
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown or disabled token"))?;
        Ok(Staff(Actor::Staff {
            username: user.username.as_str().to_string(),
            role: user.role,
            bidang: user.bidang,
        }))
    }
}

async fn me(Staff(actor): Staff) -> Json<serde_json::Value> {
    match actor {
        Actor::Staff {
            username,
            role,
            bidang,
        } => Json(serde_json::json!({"username": username, "role": role, "bidang": bidang})),
        Actor::Citizen | Actor::System => Json(serde_json::json!({})),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueQuery {
    state: Option<String>,
}

async fn queue(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Query(q): Query<QueueQuery>,
) -> Result<Response, ApiError> {
    let state = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<State>()
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
        ),
    };
    Ok(Json(desk.staff().queue(&actor, state).await?).into_response())
}

async fn detail(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path(ticket): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(desk.staff().view(&actor, &ticket).await?).into_response())
}

/// Manual entry of a phone / letter / fax / walk-in complaint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualIn {
    channel: String,
    received_at: Option<String>,
    name: Option<String>,
    address: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    target: Option<String>,
    category: Option<String>,
    body: String,
    letter_number: Option<String>,
}

/// Parse RFC 3339, or a local `YYYY-MM-DDTHH:MM[:SS]` in the office time zone.
fn parse_instant(s: &str, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f)
            && let Some(t) = tz.from_local_datetime(&n).earliest()
        {
            return Ok(t.with_timezone(&Utc));
        }
    }
    Err(ApiError::unprocessable(format!(
        "received_at: `{s}` is not an RFC 3339 time (e.g. 2026-03-02T08:15:00+08:00)"
    )))
}

async fn manual_entry(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    ApiJson(m): ApiJson<ManualIn>,
) -> Result<Response, ApiError> {
    let channel = m
        .channel
        .parse()
        .map_err(|e: aduan_core::types::ParseError| ApiError::unprocessable(e.to_string()))?;
    let tz = desk.config().policy.calendar.timezone();
    let received_at = m
        .received_at
        .as_deref()
        .map(|s| parse_instant(s, tz))
        .transpose()?;
    let sub = Submission {
        channel: Some(channel),
        received_at,
        name: m.name,
        address: m.address,
        email: m.email,
        phone: m.phone,
        target: m.target,
        category: m.category,
        body: m.body,
        letter_number: m.letter_number,
        ..Default::default()
    };
    let r = desk.staff().manual_entry(&actor, sub).await?;
    let view = desk.staff().view(&actor, r.ticket.as_str()).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "ticket": r.ticket,
            "access_code": r.access_code,
            "status_url": r.status_url,
            "state": view.state,
            "due_at": view.due_at,
        })),
    )
        .into_response())
}

async fn run(desk: &Desk, actor: &Actor, ticket: &str, cmd: Command) -> Result<Response, ApiError> {
    Ok(Json(desk.staff().act(actor, ticket, cmd).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignIn {
    bidang: String,
    note: Option<String>,
}

async fn assign(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path(ticket): Path<String>,
    ApiJson(b): ApiJson<AssignIn>,
) -> Result<Response, ApiError> {
    let bidang = BidangCode::parse(&b.bidang)
        .map_err(|e| ApiError::unprocessable(format!("bidang: {}", e.problem)))?;
    run(
        &desk,
        &actor,
        &ticket,
        Command::Assign {
            bidang,
            note: b.note,
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextIn {
    text: String,
}

/// `POST …/conclusion`: the Kasi's text and, optionally, the risk-register entries picked
/// from the frequent problems (`{risk, cause?, frequency?, control?, owner?}`); the text may
/// be empty when entries are given.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConclusionIn {
    #[serde(default)]
    text: String,
    #[serde(default)]
    risks: Vec<aduan_core::report::RiskEntry>,
}

async fn solution(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path(ticket): Path<String>,
    ApiJson(b): ApiJson<TextIn>,
) -> Result<Response, ApiError> {
    check_len("text", &b.text)?;
    run(&desk, &actor, &ticket, Command::Solution { text: b.text }).await
}

fn check_len(field: &str, s: &str) -> Result<(), ApiError> {
    if s.chars().count() > aduan_core::desk::MAX_BODY_CHARS {
        return Err(ApiError::unprocessable(format!(
            "{field}: longer than {} characters",
            aduan_core::desk::MAX_BODY_CHARS
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AskIn {
    question: String,
}

/// `ask {question}` (SPEC §3): kasi in triage or review, bidang in in_bidang; the question
/// goes to the citizen on the origin channel and the step's clock pauses.
async fn ask(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path(ticket): Path<String>,
    ApiJson(b): ApiJson<AskIn>,
) -> Result<Response, ApiError> {
    if b.question.chars().count() > aduan_core::workflow::MAX_QUESTION_CHARS {
        return Err(ApiError::unprocessable(format!(
            "question: longer than {} characters",
            aduan_core::workflow::MAX_QUESTION_CHARS
        )));
    }
    run(
        &desk,
        &actor,
        &ticket,
        Command::Ask {
            question: b.question,
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewIn {
    decision: String,
    note: Option<String>,
}

async fn review(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path(ticket): Path<String>,
    ApiJson(b): ApiJson<ReviewIn>,
) -> Result<Response, ApiError> {
    let decision = match b.decision.as_str() {
        "approve" => ReviewDecision::Approve,
        "return" => ReviewDecision::Return,
        other => {
            return Err(ApiError::unprocessable(format!(
                "decision: `{other}` is not one of approve, return"
            )));
        }
    };
    run(
        &desk,
        &actor,
        &ticket,
        Command::Review {
            decision,
            note: b.note,
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowUpIn {
    message: String,
}

async fn follow_up(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path(ticket): Path<String>,
    ApiJson(b): ApiJson<FollowUpIn>,
) -> Result<Response, ApiError> {
    check_len("message", &b.message)?;
    run(
        &desk,
        &actor,
        &ticket,
        Command::FollowUp { message: b.message },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseIn {
    status: String,
    reason: String,
}

async fn close(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path(ticket): Path<String>,
    ApiJson(b): ApiJson<CloseIn>,
) -> Result<Response, ApiError> {
    let status: Resolution = b
        .status
        .parse()
        .map_err(|e: aduan_core::types::ParseError| ApiError::unprocessable(e.to_string()))?;
    check_len("reason", &b.reason)?;
    run(
        &desk,
        &actor,
        &ticket,
        Command::Close {
            status,
            reason: b.reason,
        },
    )
    .await
}

async fn sign(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path(ticket): Path<String>,
) -> Result<Response, ApiError> {
    run(&desk, &actor, &ticket, Command::Sign).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonIn {
    reason: String,
}

async fn share_identity(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path(ticket): Path<String>,
    ApiJson(b): ApiJson<ReasonIn>,
) -> Result<Response, ApiError> {
    check_len("reason", &b.reason)?;
    run(
        &desk,
        &actor,
        &ticket,
        Command::ShareIdentity { reason: b.reason },
    )
    .await
}

/// `GET …/attachments/{id}`: the file (SPEC §4), by the desk's rules for a bidang user.
async fn attachment(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path((ticket, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let f = desk
        .staff()
        .attachment(&actor, &ticket, aduan_http::attachment_id(&id))
        .await?;
    Ok(aduan_http::file_download(
        &f.meta.media_type(),
        &f.meta.filename,
        f.data,
    ))
}

/// `POST …/attachments/{id}/share {reason}` (kasi): show one attachment to the bidang.
async fn share_attachment(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path((ticket, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<ReasonIn>,
) -> Result<Response, ApiError> {
    let v = desk
        .staff()
        .share_attachment(&actor, &ticket, aduan_http::attachment_id(&id), &b.reason)
        .await?;
    Ok(Json(v).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogbookQuery {
    month: String,
    format: Option<String>,
}

/// `GET /api/v1/admin/logbook?month=&format=`: the month's logbook, written into the body
/// row by row (one page of the store per chunk) once the export is in the audit log.
async fn logbook_export(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Query(q): Query<LogbookQuery>,
) -> Result<Response, ApiError> {
    let month = Month::parse(&q.month).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "csv" | "html" | "xlsx") {
        return Err(ApiError::bad_request(format!(
            "format: `{format}` is not one of json, csv, xlsx, html"
        )));
    }
    let pages = desk
        .staff()
        .export_logbook(&actor, month, format, "api")
        .await?;
    let tz = desk.config().policy.calendar.timezone();
    let office = &desk.config().office_name;
    let filename = format!("logbook-FM-PDIP-03-02-{month}");
    let attachment = |ext: &str| format!("attachment; filename=\"{filename}.{ext}\"");
    let (content_type, disposition, body) = match format {
        "csv" => (
            "text/csv; charset=utf-8",
            Some(attachment("csv")),
            export::csv_body(pages, tz),
        ),
        "xlsx" => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Some(attachment("xlsx")),
            export::xlsx_body(pages, office, month, tz),
        ),
        "html" => (
            "text/html; charset=utf-8",
            None,
            export::html_body(pages, office, month, tz),
        ),
        _ => ("application/json", None, export::json_body(pages, month)),
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(d) = disposition.and_then(|d| HeaderValue::from_str(&d).ok()) {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    Ok(resp)
}

/// The printable logbook page (A4 landscape) of rows in memory.
pub fn render_logbook_html(
    office: &str,
    month: Month,
    rows: &[logbook::LogbookRow],
    tz: chrono_tz::Tz,
) -> Result<String, ApiError> {
    Ok(export::render_html(office, month, rows, tz))
}

fn parse_month(s: &str) -> Result<Month, ApiError> {
    Month::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The month's report. Read-only: the stored report, or the figures of an ended month not
/// built yet (`stored: false`), computed without writing or delivering anything; only the
/// digest scheduler, `aduan digest` and the staff steps (POST) build one.
async fn report_get(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path(month): Path<String>,
) -> Result<Response, ApiError> {
    let month = parse_month(&month)?;
    match desk.reports().report_or_preview(&actor, month).await {
        Ok(v) => Ok(Json(v).into_response()),
        Err(aduan_core::desk::DeskError::NotFound) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("the report of {month} is built when the month has ended"),
        )),
        Err(e) => Err(e.into()),
    }
}

async fn report_conclusion(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path(month): Path<String>,
    ApiJson(b): ApiJson<ConclusionIn>,
) -> Result<Response, ApiError> {
    let month = parse_month(&month)?;
    let v = desk
        .reports()
        .report_act(
            &actor,
            month,
            ReportAction::Conclusion {
                text: b.text,
                risks: b.risks,
            },
        )
        .await?;
    Ok(Json(v).into_response())
}

async fn report_decision(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path(month): Path<String>,
    ApiJson(b): ApiJson<TextIn>,
) -> Result<Response, ApiError> {
    let month = parse_month(&month)?;
    let v = desk
        .reports()
        .report_act(&actor, month, ReportAction::Decision(b.text))
        .await?;
    Ok(Json(v).into_response())
}

async fn report_receipt(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path(month): Path<String>,
) -> Result<Response, ApiError> {
    let month = parse_month(&month)?;
    let v = desk
        .reports()
        .report_act(&actor, month, ReportAction::Receipt)
        .await?;
    Ok(Json(v).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RisksQuery {
    format: Option<String>,
}

/// `GET /api/v1/admin/reports/{YYYY-MM}/risks?format=json|csv|xlsx`: the Kasi's conclusion
/// as ISO 9001 risk-register entries (empty before the conclusion).
async fn report_risks(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path(month): Path<String>,
    Query(q): Query<RisksQuery>,
) -> Result<Response, ApiError> {
    let month = parse_month(&month)?;
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "csv" | "xlsx") {
        return Err(ApiError::bad_request(format!(
            "format: `{format}` is not one of json, csv, xlsx"
        )));
    }
    let v = desk.reports().report(&actor, month).await?;
    if format == "json" {
        return Ok(Json(serde_json::json!({"month": v.month, "risks": v.risks})).into_response());
    }
    let (ct, name, bytes) =
        aduan_digest::risk::register_file(format, &desk.config().office_name, month, &v.risks)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("risk register: {e}"),
                )
            })?
            .ok_or_else(|| ApiError::bad_request("format"))?;
    let mut resp = Response::new(axum::body::Body::from(bytes));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    if let Ok(d) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    Ok(resp)
}

/// Ask for the digest to be delivered again; the digest task sends it within a minute.
async fn report_send(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    Path(month): Path<String>,
) -> Result<Response, ApiError> {
    let month = parse_month(&month)?;
    let v = desk
        .reports()
        .report_act(&actor, month, ReportAction::Resend)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(v)).into_response())
}

/// Query of `GET /api/v1/admin/audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    ticket: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// Paging: only entries with a greater id.
    after: Option<i64>,
    /// At most this many entries (1..=1000, default 1000).
    limit: Option<u32>,
}

/// One end of an audit time range: RFC 3339, or a date `YYYY-MM-DD` in the office time zone
/// (`from`: the start of that day; `to`: the end of it, so a one-day range is `from=D&to=D`).
fn parse_bound(
    name: &str,
    s: &str,
    tz: chrono_tz::Tz,
    end: bool,
) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| if end { d.succ_opt() } else { Some(d) })
        .and_then(|d| tz.from_local_datetime(&d.and_hms_opt(0, 0, 0)?).earliest());
    day.map(|t| t.with_timezone(&Utc)).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{name}: `{s}` is neither an RFC 3339 time (2026-03-02T08:15:00+08:00) nor a date \
             (2026-03-02)"
        ))
    })
}

/// `GET /api/v1/admin/audit?ticket=T` or `?from=…&to=…` (kasi, kabid, kadis): the audit
/// entries, oldest first, as a JSON array; page on with `after` = the last id.
async fn audit_entries(
    AxState(desk): AxState<Desk>,
    Staff(actor): Staff,
    uri: Uri,
) -> Result<Response, ApiError> {
    // The role first: a wrong role is 403 whatever the query.
    desk.audit().require_reader(&actor)?;
    let Query(p) = Query::<AuditParams>::try_from_uri(&uri)
        .map_err(|e| ApiError::bad_request(e.body_text()))?;
    let tz = desk.config().policy.calendar.timezone();
    let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let ticket = nonempty(p.ticket)
        .map(|t| {
            aduan_core::types::TicketNumber::parse(t.trim())
                .map_err(|e| ApiError::bad_request(format!("ticket: {e}")))
        })
        .transpose()?;
    let from = nonempty(p.from)
        .map(|s| parse_bound("from", s.trim(), tz, false))
        .transpose()?;
    let to = nonempty(p.to)
        .map(|s| parse_bound("to", s.trim(), tz, true))
        .transpose()?;
    let limit = match p.limit {
        None => aduan_core::audit::MAX_LIST,
        Some(n @ 1..=aduan_core::audit::MAX_LIST) => n,
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "limit: {n} is not between 1 and {}",
                aduan_core::audit::MAX_LIST
            )));
        }
    };
    let query = AuditQuery {
        ticket,
        from,
        to,
        after_id: p.after,
        limit,
    };
    match desk.audit().entries(&actor, query).await {
        Ok(entries) => Ok(Json(entries).into_response()),
        Err(DeskError::Invalid { field, message }) => {
            Err(ApiError::bad_request(format!("{field}: {message}")))
        }
        Err(e) => Err(e.into()),
    }
}
