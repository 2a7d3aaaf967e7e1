//! `GET /webhooks/meta` (verification handshake) and `POST /webhooks/meta` (deliveries).
//!
//! A delivery is taken as raw bytes (at most 1 MiB, else 413), its `X-Hub-Signature-256`
//! checked on those bytes (401), then parsed as a whole (400 on a wrong shape: nothing is
//! stored). Message events are grouped per sender and sorted by platform timestamp, then
//! committed one by one through [`Desk::receive`] with the platform id as dedup key. The
//! `200` goes out only after every event is committed; when the store fails transiently
//! the answer is 5xx so Meta delivers again, and the events already committed come back
//! as duplicates. A sender's later events are not tried after one of its events failed,
//! so a conversation is never stored out of order.

use std::collections::HashMap;
use std::sync::Arc;

use aduan_core::desk::{Desk, DeskError, Inbound, Received, Submission, ThreadHint};
use aduan_core::intake_outcome::IntakeOutcome;
use aduan_core::secret::constant_time_eq;
use aduan_core::types::{Channel, PhoneNumber};
use aduan_http::{ApiError, MAX_JSON_BYTES};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::MetaConfig;
use crate::payload::{self, Event, InboundMessage};
use crate::signature::{self, SIGNATURE_HEADER};
use crate::{MetaContext, WEBHOOK_PATH};

/// Longest name kept from a WhatsApp profile (the desk refuses longer ones).
const MAX_NAME_CHARS: usize = 200;

#[derive(Clone)]
struct Hook {
    desk: Desk,
    app_secret: Arc<crate::Secret>,
    verify_token: Arc<crate::Secret>,
    media_wake: Arc<tokio::sync::Notify>,
}

/// The two webhook routes (see [`crate::router`]).
pub(crate) fn routes(cfg: MetaConfig, ctx: MetaContext) -> Router {
    let hook = Hook {
        desk: ctx.desk,
        app_secret: Arc::new(cfg.app_secret),
        verify_token: Arc::new(cfg.verify_token),
        media_wake: ctx.media_wake,
    };
    Router::new()
        .route(
            WEBHOOK_PATH,
            get(handshake)
                .post(deliver)
                .layer(DefaultBodyLimit::max(MAX_JSON_BYTES)),
        )
        .with_state(hook)
}

/// `hub.mode=subscribe` + the configured `hub.verify_token` → `200` with `hub.challenge`.
async fn handshake(State(hook): State<Hook>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mode = q.get("hub.mode").map(String::as_str);
    let token = q.get("hub.verify_token").map(String::as_str).unwrap_or("");
    let challenge = q.get("hub.challenge");
    let configured = hook.verify_token.expose();
    let token_ok = !configured.is_empty() && constant_time_eq(token, configured);
    match (mode, challenge) {
        (Some("subscribe"), Some(challenge)) if token_ok => {
            tracing::info!("meta webhook verified");
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                challenge.clone(),
            )
                .into_response()
        }
        _ => {
            tracing::warn!(mode = ?mode, "meta webhook verification refused");
            ApiError::forbidden("verification failed").into_response()
        }
    }
}

/// What one delivery did, answered with the 200.
#[derive(Debug, Default, Serialize)]
struct Summary {
    created: usize,
    appended: usize,
    duplicates: usize,
    ignored: usize,
    rejected: usize,
    statuses: usize,
}

/// Why one event could not be committed now.
enum Failure {
    /// Store unavailable or busy: Meta should deliver again.
    Transient(String),
    /// Anything else that is not the message's fault: deliver again too.
    Other(String),
}

async fn deliver(
    State(hook): State<Hook>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return ApiError::too_large(format!("the body exceeds {MAX_JSON_BYTES} bytes"))
                .into_response();
        }
        Err(r) => return ApiError::bad_request(r.body_text()).into_response(),
    };
    let sig = headers.get(SIGNATURE_HEADER).map(|v| v.as_bytes());
    if let Err(e) = signature::verify(hook.app_secret.expose().as_bytes(), &body, sig) {
        if e == signature::SignatureError::NoSecret {
            tracing::error!("meta webhook refused: channels.meta.app_secret is not set");
        } else {
            tracing::warn!(reason = e.message(), "meta webhook signature refused");
        }
        return ApiError::unauthorized(e.message()).into_response();
    }
    let events = match payload::parse(&body) {
        Ok(ev) => ev,
        Err(e) => {
            tracing::warn!(error = %e, "meta webhook payload refused");
            return ApiError::bad_request(format!("not a Meta webhook payload: {e}"))
                .into_response();
        }
    };
    match process(&hook.desk, &hook.media_wake, events).await {
        Ok(summary) => (StatusCode::OK, Json(summary)).into_response(),
        Err(Failure::Transient(m)) => {
            ApiError::unavailable(format!("not stored, deliver again: {m}")).into_response()
        }
        Err(Failure::Other(m)) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("not stored, deliver again: {m}"),
        )
        .into_response(),
    }
}

fn count(channel: Channel, outcome: IntakeOutcome) {
    aduan_http::channel::record_intake(channel, outcome);
}

/// Commit every event; the first failure (if any) is returned after all senders were tried.
/// The media worker is woken when a committed message has files to fetch.
async fn process(
    desk: &Desk,
    media_wake: &tokio::sync::Notify,
    events: Vec<Event>,
) -> Result<Summary, Failure> {
    let mut summary = Summary::default();
    let mut failure: Option<Failure> = None;
    // Conversations in order of first appearance; each sorted by platform time (stable, so
    // equal or missing timestamps keep delivery order).
    let mut order: Vec<(Channel, String)> = Vec::new();
    let mut threads: HashMap<(Channel, String), Vec<InboundMessage>> = HashMap::new();
    let mut statuses = Vec::new();
    for ev in events {
        match ev {
            Event::Message(m) => {
                let key = (m.channel, m.sender.clone());
                let list = threads.entry(key.clone()).or_default();
                if list.is_empty() {
                    order.push(key);
                }
                list.push(m);
            }
            Event::FailedStatus { external_id, error } => statuses.push((external_id, error)),
            Event::Ignored { channel, kind } => {
                // Not a complaint (receipt, echo, reaction, sticker, standby, test …).
                match channel {
                    Some(c) => {
                        tracing::info!(channel = %c, kind, "meta event ignored");
                        count(c, IntakeOutcome::Ignored);
                    }
                    None => tracing::info!(kind, "meta event ignored"),
                }
                summary.ignored += 1;
            }
            Event::Unstorable {
                channel,
                external_id,
                reason,
            } => {
                tracing::warn!(%channel, external_id, reason, "meta message cannot be stored; skipped");
                count(channel, IntakeOutcome::Rejected);
                summary.rejected += 1;
            }
        }
    }
    for key in order {
        let Some(mut list) = threads.remove(&key) else {
            continue;
        };
        list.sort_by_key(|m| m.timestamp_ms.unwrap_or(i64::MIN));
        for m in list {
            let (channel, external_id) = (m.channel, m.external_id.clone());
            let files = m.media.len();
            match desk.intake().receive(inbound(desk, m)).await {
                Ok(Received::Created(r)) => {
                    tracing::info!(%channel, ticket = %r.ticket, external_id, files, "complaint received");
                    count(channel, IntakeOutcome::Accepted);
                    summary.created += 1;
                    if files > 0 {
                        media_wake.notify_one();
                    }
                }
                Ok(Received::Appended { ticket, reopened }) => {
                    tracing::info!(%channel, %ticket, reopened, external_id, files, "message appended");
                    count(channel, IntakeOutcome::Appended);
                    summary.appended += 1;
                    if files > 0 {
                        media_wake.notify_one();
                    }
                }
                Ok(Received::Duplicate { ticket }) => {
                    tracing::debug!(%channel, %ticket, external_id, "redelivered message");
                    count(channel, IntakeOutcome::Duplicate);
                    summary.duplicates += 1;
                }
                Ok(Received::Rated { ticket, score }) => {
                    tracing::info!(%channel, %ticket, score, external_id, "rating recorded");
                    count(channel, IntakeOutcome::Appended);
                    summary.appended += 1;
                }
                Err(e @ (DeskError::Invalid { .. } | DeskError::Forbidden(_))) => {
                    tracing::warn!(%channel, external_id, error = %e, "meta message refused by the desk; skipped");
                    count(channel, IntakeOutcome::Rejected);
                    summary.rejected += 1;
                }
                Err(e) => {
                    tracing::warn!(%channel, external_id, error = %e, "meta message not stored; asking for redelivery");
                    count(channel, IntakeOutcome::Deferred);
                    failure.get_or_insert(classify(e));
                    // Later messages of this sender wait for the redelivery.
                    break;
                }
            }
        }
    }
    for (external_id, error) in statuses {
        match desk.intake().fail_reply(&external_id, &error).await {
            Ok(matched) => {
                tracing::info!(external_id, matched, error, "whatsapp delivery failed");
                summary.statuses += 1;
            }
            Err(DeskError::Store(e)) => {
                tracing::warn!(external_id, error = %e, "failed status not recorded");
                failure.get_or_insert(classify(DeskError::Store(e)));
            }
            Err(e) => {
                tracing::warn!(external_id, error = %e, "failed status not recorded; skipped");
                summary.ignored += 1;
            }
        }
    }
    match failure {
        Some(f) => Err(f),
        None => Ok(summary),
    }
}

fn classify(e: DeskError) -> Failure {
    match e {
        DeskError::Store(s) if s.is_transient() => Failure::Transient(s.to_string()),
        other => Failure::Other(other.to_string()),
    }
}

/// The desk's view of one message.
fn inbound(desk: &Desk, m: InboundMessage) -> Inbound {
    let now = desk.now();
    let received_at: Option<DateTime<Utc>> = m.sent_at().map(|t| t.min(now));
    let phone = m
        .phone
        .as_deref()
        .map(|p| format!("+{}", p.trim_start_matches('+')))
        .filter(|p| PhoneNumber::parse(p).is_ok());
    let name = m
        .name
        .map(|n| n.trim().chars().take(MAX_NAME_CHARS).collect::<String>());
    let body: String = m
        .body
        .chars()
        .take(aduan_core::desk::MAX_BODY_CHARS)
        .collect();
    Inbound {
        submission: Submission {
            channel: Some(m.channel),
            external_id: Some(m.external_id),
            received_at,
            name,
            phone,
            handle: Some(m.sender.clone()),
            body,
            media: m.media,
            ack_to: Some(aduan_core::model::AckRoute {
                channel: m.channel,
                recipient: m.sender,
                thread: Default::default(),
            }),
            ..Default::default()
        },
        thread: vec![ThreadHint::OpenForHandle],
        cursor: None,
    }
}
