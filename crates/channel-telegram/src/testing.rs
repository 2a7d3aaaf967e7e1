//! Test support for this crate's and other crates' tests (feature `testing`): a fake
//! Telegram Bot API on 127.0.0.1:0 that the real teloxide client talks to — scripted
//! updates with `getUpdates` offset semantics (long polling included), `sendMessage`,
//! `getFile` and file downloads (served only at the documented
//! `/file/bot<token>/<file_path>`, optionally slowly), and injected errors (429 with
//! `retry_after`, 502, 403, hanging answers). It answers only for [`TOKEN`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// The bot token the fake answers for.
pub const TOKEN: &str = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz";

/// Seconds since the epoch (Telegram's `date`).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// One call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// Lower-case method name (`getupdates`, `sendmessage` …) or `file:<path>`.
    pub method: String,
    pub params: Value,
}

/// A message the bot sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub chat_id: i64,
    pub text: String,
    pub reply_to: Option<i64>,
    pub message_id: i64,
}

/// An injected answer.
#[derive(Debug, Clone)]
pub enum Inject {
    /// Answer with this HTTP status and JSON body.
    Json(u16, Value),
    /// Answer with this HTTP status and a non-JSON body (a proxy's error page).
    Raw(u16, &'static str),
    /// Never answer (the client times out).
    Hang,
    /// Answer normally (to inject into a later call).
    Pass,
}

/// A Bot API error body.
pub fn api_error(code: u16, description: &str) -> Value {
    json!({"ok": false, "error_code": code, "description": description})
}

/// A 429 body with `parameters.retry_after`.
pub fn flood(retry_after: u32) -> Inject {
    Inject::Json(
        429,
        json!({"ok": false, "error_code": 429,
               "description": format!("Too Many Requests: retry after {retry_after}"),
               "parameters": {"retry_after": retry_after}}),
    )
}

#[derive(Default)]
struct ApiState {
    /// Unconfirmed updates, in the order they were added.
    updates: Mutex<Vec<Value>>,
    new_updates: Notify,
    /// Answer the next getUpdates from the oldest kept update, ignoring its offset (a
    /// redelivery).
    ignore_offset_once: AtomicBool,
    /// Keep updates after confirmation (so they can be delivered again).
    confirmed: Mutex<Vec<Value>>,
    calls: Mutex<Vec<Call>>,
    inject: Mutex<HashMap<String, VecDeque<Inject>>>,
    files: Mutex<HashMap<String, (String, Vec<u8>)>>,
    /// Downloads of these paths wait this long before answering.
    slow: Mutex<HashMap<String, Duration>>,
    sent: Mutex<Vec<Sent>>,
    next_message_id: AtomicI64,
}

/// A fake Bot API on 127.0.0.1:0. The server task ends with the test's runtime.
#[derive(Clone)]
pub struct FakeBotApi {
    pub url: String,
    state: Arc<ApiState>,
}

impl FakeBotApi {
    pub async fn start() -> FakeBotApi {
        let state = Arc::new(ApiState {
            next_message_id: AtomicI64::new(9000),
            ..Default::default()
        });
        let app = Router::new().fallback(handler).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeBotApi {
            url: format!("http://{addr}"),
            state,
        }
    }

    /// Queue an update for getUpdates.
    pub fn push_update(&self, u: Value) {
        self.state.updates.lock().unwrap().push(u);
        self.state.new_updates.notify_waiters();
    }

    /// Deliver the already confirmed updates once more on the next getUpdates.
    pub fn redeliver_confirmed(&self) {
        let mut old = std::mem::take(&mut *self.state.confirmed.lock().unwrap());
        let mut q = self.state.updates.lock().unwrap();
        old.append(&mut q);
        *q = old;
        self.state.ignore_offset_once.store(true, Ordering::SeqCst);
        self.state.new_updates.notify_waiters();
    }

    /// Ids of the updates not yet confirmed.
    pub fn pending_ids(&self) -> Vec<i64> {
        self.state
            .updates
            .lock()
            .unwrap()
            .iter()
            .filter_map(|u| u["update_id"].as_i64())
            .collect()
    }

    /// Answer the next call of `method` (case-insensitive) with `inject`.
    pub fn inject(&self, method: &str, inject: Inject) {
        self.state
            .inject
            .lock()
            .unwrap()
            .entry(method.to_ascii_lowercase())
            .or_default()
            .push_back(inject);
    }

    /// Serve a file: getFile(`file_id`) gives `path`, downloading it gives `data`.
    pub fn add_file(&self, file_id: &str, path: &str, data: Vec<u8>) {
        self.state
            .files
            .lock()
            .unwrap()
            .insert(file_id.to_string(), (path.to_string(), data));
    }

    /// Make downloads of `path` wait `delay` before answering.
    pub fn slow_file(&self, path: &str, delay: Duration) {
        self.state
            .slow
            .lock()
            .unwrap()
            .insert(path.to_string(), delay);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        let m = method.to_ascii_lowercase();
        self.calls().into_iter().filter(|c| c.method == m).collect()
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.state.sent.lock().unwrap().clone()
    }

    pub fn sent_to(&self, chat: i64) -> Vec<Sent> {
        self.sent()
            .into_iter()
            .filter(|s| s.chat_id == chat)
            .collect()
    }
}

fn ok(result: Value) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"ok": true, "result": result})),
    )
        .into_response()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

async fn handler(State(state): State<Arc<ApiState>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let bytes = to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let mut params: Value = serde_json::from_slice(&bytes).unwrap_or(json!({}));
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params[k] = json!(percent_decode(v));
    }
    let segs: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
    let (method, token_seg) = match segs.as_slice() {
        // The documented download path, taken as sent: `photos%2Ffile_1.jpg` is not
        // `photos/file_1.jpg`.
        ["file", tok, rest] => (format!("file:{rest}"), *tok),
        [tok, m] => (m.to_ascii_lowercase(), *tok),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(api_error(404, "Not Found")),
            )
                .into_response();
        }
    };
    if token_seg != format!("bot{TOKEN}") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(api_error(401, "Unauthorized")),
        )
            .into_response();
    }
    state.calls.lock().unwrap().push(Call {
        method: method.clone(),
        params: params.clone(),
    });
    let key = if method.starts_with("file:") {
        "file".to_string()
    } else {
        method.clone()
    };
    let injected = state
        .inject
        .lock()
        .unwrap()
        .get_mut(&key)
        .and_then(|q| q.pop_front());
    match injected {
        Some(Inject::Json(status, body)) => {
            return (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
        }
        Some(Inject::Raw(status, body)) => {
            return Response::builder()
                .status(status)
                .header("content-type", "text/html")
                .body(Body::from(body))
                .unwrap();
        }
        Some(Inject::Hang) => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        Some(Inject::Pass) | None => {}
    }
    if let Some(path) = method.strip_prefix("file:") {
        let delay = state.slow.lock().unwrap().get(path).copied();
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let found = state
            .files
            .lock()
            .unwrap()
            .values()
            .find(|(p, _)| p == path)
            .map(|(_, data)| data.clone());
        return match found {
            Some(data) => (StatusCode::OK, data).into_response(),
            None => (StatusCode::NOT_FOUND, "no such file").into_response(),
        };
    }
    match method.as_str() {
        "getme" => ok(
            json!({"id": 999, "is_bot": true, "first_name": "Aduan", "username": "aduan_bot",
                             "can_join_groups": false, "can_read_all_group_messages": false,
                             "supports_inline_queries": false}),
        ),
        "deletewebhook" | "setwebhook" => ok(json!(true)),
        "getwebhookinfo" => {
            ok(json!({"url": "", "has_custom_certificate": false, "pending_update_count": 0}))
        }
        "getupdates" => get_updates(&state, &params).await,
        "sendmessage" => {
            let chat_id = params.get("chat_id").and_then(as_i64).unwrap_or(0);
            let text = params["text"].as_str().unwrap_or("").to_string();
            let reply_to = params
                .get("reply_parameters")
                .and_then(|r| r.get("message_id"))
                .and_then(as_i64)
                .or_else(|| params.get("reply_to_message_id").and_then(as_i64));
            if text.is_empty() || text.chars().count() > 4096 {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(api_error(
                        400,
                        "Bad Request: message text is empty or too long",
                    )),
                )
                    .into_response();
            }
            let id = state.next_message_id.fetch_add(1, Ordering::SeqCst);
            state.sent.lock().unwrap().push(Sent {
                chat_id,
                text: text.clone(),
                reply_to,
                message_id: id,
            });
            ok(json!({
                "message_id": id,
                "from": {"id": 999, "is_bot": true, "first_name": "Aduan", "username": "aduan_bot"},
                "chat": {"id": chat_id, "type": "private", "first_name": "Komang"},
                "date": unix_now(),
                "text": text
            }))
        }
        "getfile" => {
            let id = params["file_id"].as_str().unwrap_or("").to_string();
            let files = state.files.lock().unwrap();
            match files.get(&id) {
                Some((path, data)) => {
                    ok(json!({"file_id": id, "file_unique_id": format!("u-{id}"),
                                                "file_size": data.len(), "file_path": path}))
                }
                None => (
                    StatusCode::BAD_REQUEST,
                    axum::Json(api_error(400, "Bad Request: invalid file_id")),
                )
                    .into_response(),
            }
        }
        other => (
            StatusCode::NOT_FOUND,
            axum::Json(api_error(404, &format!("Not Found: method {other}"))),
        )
            .into_response(),
    }
}

async fn get_updates(state: &Arc<ApiState>, params: &Value) -> Response {
    let offset = params.get("offset").and_then(as_i64);
    let timeout = params
        .get("timeout")
        .and_then(as_i64)
        .unwrap_or(0)
        .clamp(0, 30) as u64;
    let ignore = state.ignore_offset_once.swap(false, Ordering::SeqCst);
    if let Some(o) = offset
        && !ignore
    {
        // Confirm (forget) everything below the offset.
        let mut q = state.updates.lock().unwrap();
        let (gone, keep): (Vec<Value>, Vec<Value>) = q
            .drain(..)
            .partition(|u| u["update_id"].as_i64().unwrap_or(0) < o);
        *q = keep;
        state.confirmed.lock().unwrap().extend(gone);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let notified = state.new_updates.notified();
        let batch: Vec<Value> = state
            .updates
            .lock()
            .unwrap()
            .iter()
            .take(100)
            .cloned()
            .collect();
        if !batch.is_empty() || tokio::time::Instant::now() >= deadline {
            return ok(Value::Array(batch));
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}
