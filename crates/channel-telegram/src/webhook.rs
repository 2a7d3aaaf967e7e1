//! Webhook mode: `POST /webhooks/telegram`.
//!
//! Telegram POSTs one JSON `Update` per request and retries until it gets a 2xx. The
//! request must carry `X-Telegram-Bot-Api-Secret-Token` equal to `webhook_secret`
//! (compared in constant time; 401 otherwise, and always when no secret is configured).
//! A body that is not an Update (not JSON, no `update_id`) is answered 400 and nothing is
//! stored. The update is handled with [`handle_update`] and answered `200` only after its
//! complaint is committed — files are not fetched during the request but by the media
//! worker afterwards, so a slow file server never delays the answer; when the store is busy
//! or unreachable the answer is 5xx so Telegram delivers it again (the `(chat id, message
//! id)` key keeps a redelivery from being stored twice). Updates of one chat are handled
//! one at a time, so concurrent deliveries cannot open two complaints for one
//! conversation. No offset cursor is written in this mode.

use std::sync::Arc;

use aduan_core::secret::constant_time_eq;
use aduan_http::{ApiError, MAX_JSON_BYTES};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use teloxide::Bot;

use crate::TelegramContext;
use crate::bot::build_bot;
use crate::config::{Secret, TelegramConfig};
use crate::intake::{HandleError, HandleOptions, handle_update};

/// Path of the webhook route.
pub const WEBHOOK_PATH: &str = "/webhooks/telegram";
/// Header carrying the `secret_token` given to `setWebhook`.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Number of per-chat lock stripes.
const STRIPES: usize = 64;

#[derive(Clone)]
struct Hook {
    ctx: TelegramContext,
    bot: Bot,
    secret: Arc<Secret>,
    stripes: Arc<Vec<tokio::sync::Mutex<()>>>,
}

/// The webhook route `POST` [`WEBHOOK_PATH`] (see the module docs), to merge into the
/// public router when the channel is enabled in webhook mode.
pub fn webhook_router(cfg: TelegramConfig, ctx: TelegramContext) -> Router {
    if cfg.webhook_secret.is_empty() {
        tracing::error!(
            "channels.telegram.webhook_secret is empty: every webhook request will be refused"
        );
    }
    let hook = Hook {
        bot: build_bot(&cfg, std::time::Duration::from_secs(17)),
        secret: Arc::new(cfg.webhook_secret),
        stripes: Arc::new((0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect()),
        ctx,
    };
    Router::new()
        .route(
            WEBHOOK_PATH,
            post(deliver).layer(DefaultBodyLimit::max(MAX_JSON_BYTES)),
        )
        .with_state(hook)
}

fn authorized(secret: &Secret, headers: &HeaderMap) -> bool {
    let expected = secret.expose();
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let given = std::str::from_utf8(given).unwrap_or("");
    // Both sides are compared in full whatever they hold; an unset secret refuses all.
    let same = constant_time_eq(given, expected);
    same && !expected.is_empty()
}

/// The chat an update belongs to, for the per-chat lock.
fn chat_of(raw: &Value) -> Option<i64> {
    raw.as_object()?
        .values()
        .filter_map(|v| {
            v.get("chat")
                .and_then(|c| c.get("id"))
                .and_then(Value::as_i64)
        })
        .next()
}

async fn deliver(
    State(hook): State<Hook>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !authorized(&hook.secret, &headers) {
        aduan_http::channel::record_intake(
            aduan_core::types::Channel::Telegram,
            aduan_core::intake_outcome::IntakeOutcome::Rejected,
        );
        return ApiError::unauthorized("missing or wrong X-Telegram-Bot-Api-Secret-Token")
            .into_response();
    }
    let body = match body {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return ApiError::too_large(format!("request body larger than {MAX_JSON_BYTES} bytes"))
                .into_response();
        }
        Err(r) => return ApiError::bad_request(r.body_text()).into_response(),
    };
    let raw: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return ApiError::bad_request(format!("malformed JSON: {e}")).into_response(),
    };
    let id_ok = raw
        .get("update_id")
        .and_then(Value::as_u64)
        .is_some_and(|id| u32::try_from(id).is_ok());
    if !id_ok {
        return ApiError::bad_request("not a Telegram Update: `update_id` missing or invalid")
            .into_response();
    }
    let id = raw
        .get("update_id")
        .and_then(Value::as_u64)
        .and_then(|id| u32::try_from(id).ok())
        .unwrap_or(0);
    let stripe = chat_of(&raw).map_or(0, |c| c.rem_euclid(STRIPES as i64) as usize);
    let _guard = hook.stripes[stripe].lock().await;
    let opts = HandleOptions { offset: None };
    let result = handle_update(&hook.ctx, &hook.bot, &raw, &opts).await;
    match result {
        Ok(outcome) => {
            aduan_http::channel::record_intake(
                aduan_core::types::Channel::Telegram,
                outcome.intake(),
            );
            (hook.ctx.health)(None);
            (StatusCode::OK, Json(json!({"ok": true}))).into_response()
        }
        Err(e) => {
            tracing::warn!(update_id = id, error = %e, "telegram: update not stored; Telegram will deliver it again");
            (hook.ctx.health)(Some(format!("telegram: {e}")));
            match e {
                HandleError::Store(s) => ApiError::from(s).into_response(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_check() {
        let s = Secret::new("rahasia_1");
        let mut h = HeaderMap::new();
        assert!(!authorized(&s, &h));
        h.insert(SECRET_HEADER, "rahasia_2".parse().unwrap());
        assert!(!authorized(&s, &h));
        h.insert(SECRET_HEADER, "rahasia_1".parse().unwrap());
        assert!(authorized(&s, &h));
        assert!(!authorized(&Secret::default(), &HeaderMap::new()));
        let mut empty = HeaderMap::new();
        empty.insert(SECRET_HEADER, "".parse().unwrap());
        assert!(!authorized(&Secret::default(), &empty));
    }

    #[test]
    fn chat_lookup() {
        assert_eq!(
            chat_of(&json!({"update_id": 1, "message": {"chat": {"id": -5}}})),
            Some(-5)
        );
        assert_eq!(chat_of(&json!({"update_id": 1})), None);
        assert_eq!(chat_of(&json!([1])), None);
    }
}
