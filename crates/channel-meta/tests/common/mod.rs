//! Test harness: a real desk over a fresh SQLite (or PostgreSQL) store (wrapped so tests can
//! make writes fail transiently), the Meta router driven in-process, and a fake Graph API on
//! 127.0.0.1:0 that records every request and answers with injected errors on demand; it
//! also serves WhatsApp media (`GET /{media-id}` → URL, then the bytes with the bearer
//! token) and attachment files at CDN-like URLs, optionally slowly.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aduan_channel_meta::{MetaConfig, MetaContext, Secret, signature};
use aduan_core::desk::{Desk, SystemClock};
use aduan_core::model::*;
use aduan_core::store::prelude::*;
use aduan_core::types::Channel;
use aduan_store::testing::FaultStore;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const APP_SECRET: &str = "test_app_secret";
pub const VERIFY_TOKEN: &str = "token-verifikasi-42";
pub const PAGE_TOKEN: &str = "EAAG-page-token";
pub const IG_TOKEN: &str = "IGQ-instagram-token";
pub const WA_TOKEN: &str = "EAAW-whatsapp-token";
pub const WA_PHONE_ID: &str = "106540352242922";
pub const WA_TEMPLATE: &str = "status_laporan";

pub use aduan_core::testing::HealthLog;

pub struct Harness {
    pub desk: Desk,
    pub store: Arc<FaultStore>,
    pub router: Router,
    pub ctx: MetaContext,
    pub health: HealthLog,
    pub cfg: MetaConfig,
    /// The PostgreSQL database to drop, if the harness runs on one.
    pub postgres_url: Option<String>,
    _dir: tempfile::TempDir,
}

/// The channel's configuration against `graph` (a fake Graph API base URL).
pub fn config(graph: &str) -> MetaConfig {
    MetaConfig {
        enabled: true,
        app_secret: Secret::new(APP_SECRET),
        verify_token: Secret::new(VERIFY_TOKEN),
        graph_api_url: graph.to_string(),
        page_access_token: Secret::new(PAGE_TOKEN),
        instagram_access_token: Secret::new(IG_TOKEN),
        whatsapp_phone_number_id: WA_PHONE_ID.to_string(),
        whatsapp_access_token: Secret::new(WA_TOKEN),
        whatsapp_answer_template: WA_TEMPLATE.to_string(),
    }
}

pub async fn harness() -> Harness {
    harness_with(config("http://127.0.0.1:9/v25.0")).await
}

pub async fn harness_with(cfg: MetaConfig) -> Harness {
    harness_on(false, cfg, 5 * 1024 * 1024, Arc::new(SystemClock)).await
}

/// A harness on PostgreSQL (`postgres`) or SQLite with this configuration, attachment
/// limit and clock.
pub async fn harness_on(
    postgres: bool,
    cfg: MetaConfig,
    max_attachment_bytes: u64,
    clock: Arc<dyn aduan_core::desk::Clock>,
) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let (url, postgres_url) = if postgres {
        let url = aduan_store::testing::fresh_postgres_url().await;
        (url.clone(), Some(url))
    } else {
        (aduan_store::testing::fresh_sqlite_url(dir.path()), None)
    };
    let inner = aduan_store::testing::connect(&url).await.unwrap();
    inner.migrate().await.unwrap();
    let store = Arc::new(FaultStore::new(inner));
    let desk = Desk::new(store.clone(), clock, {
        let mut cfg = aduan_core::testing::desk_config([
            Channel::Messenger,
            Channel::Instagram,
            Channel::Whatsapp,
        ]);
        cfg.bidang.clear();
        cfg.public_base_url = "http://127.0.0.1:8080".into();
        cfg
    });
    let health = HealthLog::default();
    let log = health.clone();
    let ctx = MetaContext {
        desk: desk.clone(),
        health: Arc::new(move |e| log.0.lock().unwrap().push(e)),
        max_attachment_bytes,
        media_wake: Arc::new(tokio::sync::Notify::new()),
    };
    let router = aduan_channel_meta::router(cfg.clone(), ctx.clone());
    Harness {
        desk,
        store,
        router,
        ctx,
        health,
        cfg,
        postgres_url,
        _dir: dir,
    }
}

impl Harness {
    /// POST a delivery signed with the app secret.
    pub async fn deliver(&self, body: &[u8]) -> (StatusCode, Value) {
        let sig = signature::sign(APP_SECRET.as_bytes(), body);
        self.post(body, Some(&sig)).await
    }

    /// POST with an explicit signature header (or none).
    pub async fn post(&self, body: &[u8], sig: Option<&str>) -> (StatusCode, Value) {
        let mut req = Request::post("/webhooks/meta").header("content-type", "application/json");
        if let Some(s) = sig {
            req = req.header("x-hub-signature-256", s);
        }
        let req = req.body(Body::from(body.to_vec())).unwrap();
        self.send(req).await
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, String) {
        let req = Request::get(uri).body(Body::empty()).unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn send(&self, req: Request) -> (StatusCode, Value) {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, v)
    }

    /// Every stored complaint, oldest first.
    pub async fn complaints(&self) -> Vec<ComplaintRecord> {
        let mut out = Vec::new();
        let q = self
            .store
            .queue(&QueueFilter {
                state: None,
                bidang: None,
                limit: Some(1000),
            })
            .await
            .unwrap();
        for item in q {
            out.push(
                self.store
                    .get_complaint(&item.ticket)
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        out.sort_by_key(|c| c.id);
        out
    }

    /// One pass of the media worker with the channel's fetcher.
    pub async fn run_media(&self) -> aduan_core::media::MediaRun {
        let w = aduan_channel_meta::media_worker(&self.cfg, &self.ctx);
        self.desk
            .media()
            .run_once(&w.fetchers, w.max_bytes)
            .await
            .unwrap()
    }

    /// Run the media worker until nothing is due.
    pub async fn drain_media(&self) {
        for _ in 0..50 {
            if self.run_media().await.claimed == 0 {
                return;
            }
        }
        panic!("media jobs never drained");
    }

    /// Drop the PostgreSQL database, if any.
    pub async fn teardown(self) {
        let url = self.postgres_url.clone();
        drop(self);
        if let Some(url) = url {
            aduan_store::testing::drop_postgres_database(&url).await;
        }
    }

    /// The reply senders of this harness's configuration.
    pub fn senders(&self) -> Vec<(Channel, Arc<dyn aduan_core::outbox::ReplySender>)> {
        aduan_channel_meta::senders(&self.cfg, &self.ctx)
    }

    /// The outbox worker over these senders with the built-in templates.
    pub fn outbox(&self) -> aduan_core::outbox::Outbox {
        aduan_core::outbox::Outbox::new(
            self.store.clone(),
            Arc::new(SystemClock),
            Arc::new(aduan_core::templates::Templates::new(vec![]).unwrap()),
            self.senders().into_iter().collect(),
        )
    }
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Milliseconds since the epoch, `ago` before now.
pub fn ms_ago(ago: Duration) -> i64 {
    (Utc::now() - ago).timestamp_millis()
}

/// A Messenger (`page`) or Instagram delivery with the given `(entry id, events)`.
pub fn messaging_delivery(object: &str, entries: &[(&str, Vec<Value>)]) -> Vec<u8> {
    let entry: Vec<Value> = entries
        .iter()
        .map(
            |(id, events)| json!({"id": id, "time": ms_ago(Duration::zero()), "messaging": events}),
        )
        .collect();
    serde_json::to_vec(&json!({"object": object, "entry": entry})).unwrap()
}

/// One Messenger/Instagram text message event.
pub fn text_event(page: &str, sender: &str, mid: &str, ts_ms: i64, text: &str) -> Value {
    json!({
        "sender": {"id": sender},
        "recipient": {"id": page},
        "timestamp": ts_ms,
        "message": {"mid": mid, "text": text}
    })
}

/// A WhatsApp delivery with one text message.
pub fn whatsapp_text(from: &str, name: &str, wamid: &str, ts_secs: i64, text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "6281100000000", "phone_number_id": WA_PHONE_ID},
            "contacts": [{"profile": {"name": name}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": ts_secs.to_string(),
                          "type": "text", "text": {"body": text}}]
        }}]}]
    }))
    .unwrap()
}

// ---- fake Graph API ----

/// One request the fake Graph API received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct GraphState {
    seen: Mutex<Vec<Seen>>,
    /// Answers to give before the default success, in order: (status, body).
    script: Mutex<VecDeque<(u16, Value)>>,
    counter: AtomicUsize,
    /// WhatsApp media by id: (mime type, bytes).
    media: Mutex<std::collections::HashMap<String, (String, Vec<u8>)>>,
    /// Files at `/cdn/<name>` (Messenger/Instagram attachment URLs): (mime type, bytes).
    cdn: Mutex<std::collections::HashMap<String, (String, Vec<u8>)>>,
    /// Downloads of these names (media id or CDN name) wait this long.
    slow: Mutex<std::collections::HashMap<String, std::time::Duration>>,
    /// Status answers for downloads of these names (a 404, a 503 …), used once each.
    fail: Mutex<std::collections::HashMap<String, VecDeque<u16>>>,
    /// `http://127.0.0.1:port`.
    origin: Mutex<String>,
}

/// A fake Graph API on 127.0.0.1:0. The server task ends with the test's runtime.
#[derive(Clone)]
pub struct FakeGraph {
    pub base: String,
    state: Arc<GraphState>,
}

impl FakeGraph {
    pub async fn start() -> FakeGraph {
        let state = Arc::new(GraphState::default());
        let app = Router::new()
            .fallback(graph_handler)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        *state.origin.lock().unwrap() = format!("http://{addr}");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGraph {
            base: format!("http://{addr}/v25.0"),
            state,
        }
    }

    /// Serve WhatsApp media `id`: `GET /v25.0/{id}` gives its URL, which serves `data`
    /// to the bearer of the WhatsApp token.
    pub fn add_media(&self, id: &str, mime: &str, data: &[u8]) {
        self.state
            .media
            .lock()
            .unwrap()
            .insert(id.into(), (mime.into(), data.to_vec()));
    }

    /// Serve `data` at a CDN-like URL (a Messenger/Instagram attachment); returns the URL.
    pub fn add_cdn(&self, name: &str, mime: &str, data: &[u8]) -> String {
        self.state
            .cdn
            .lock()
            .unwrap()
            .insert(name.into(), (mime.into(), data.to_vec()));
        format!("{}/cdn/{name}", self.state.origin.lock().unwrap())
    }

    /// Make downloads of `name` (a media id or CDN name) wait `delay`.
    pub fn slow(&self, name: &str, delay: std::time::Duration) {
        self.state.slow.lock().unwrap().insert(name.into(), delay);
    }

    /// Answer the next download of `name` with `status`.
    pub fn fail_download(&self, name: &str, status: u16) {
        self.state
            .fail
            .lock()
            .unwrap()
            .entry(name.into())
            .or_default()
            .push_back(status);
    }

    /// Answer the next request with `status` and `body`.
    pub fn fail_next(&self, status: u16, body: Value) {
        self.state.script.lock().unwrap().push_back((status, body));
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.state.seen.lock().unwrap().clear();
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `GET /v25.0/{media-id}`, `GET /wa-files/{media-id}` (bearer token required) and
/// `GET /cdn/{name}` (no token).
async fn media_handler(
    state: &Arc<GraphState>,
    headers: &HeaderMap,
    path: &str,
) -> axum::response::Response {
    state.seen.lock().unwrap().push(Seen {
        path: path.to_string(),
        authorization: bearer(headers),
        body: Value::Null,
    });
    let authorized = bearer(headers).as_deref() == Some(&*format!("Bearer {WA_TOKEN}"));
    let origin = state.origin.lock().unwrap().clone();
    let failure = |name: &str| {
        state
            .fail
            .lock()
            .unwrap()
            .get_mut(name)
            .and_then(VecDeque::pop_front)
    };
    if let Some(id) = path.strip_prefix("/v25.0/") {
        if !authorized {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(graph_error(190, None, "Invalid OAuth access token")),
            )
                .into_response();
        }
        let media = state.media.lock().unwrap().get(id).cloned();
        return match media {
            Some((mime, data)) => (
                StatusCode::OK,
                axum::Json(json!({"messaging_product": "whatsapp",
                    "url": format!("{origin}/wa-files/{id}?ext=1&hash=ABC"),
                    "mime_type": mime, "sha256": "c0ffee", "file_size": data.len().to_string(), "id": id})),
            )
                .into_response(),
            None => (
                StatusCode::BAD_REQUEST,
                axum::Json(graph_error(100, Some(33), "Unsupported get request. Object does not exist")),
            )
                .into_response(),
        };
    }
    let (name, file) = if let Some(id) = path.strip_prefix("/wa-files/") {
        if !authorized {
            return (StatusCode::UNAUTHORIZED, "token required").into_response();
        }
        (id.to_string(), state.media.lock().unwrap().get(id).cloned())
    } else if let Some(n) = path.strip_prefix("/cdn/") {
        (n.to_string(), state.cdn.lock().unwrap().get(n).cloned())
    } else {
        return (StatusCode::NOT_FOUND, "no such path").into_response();
    };
    let delay = state.slow.lock().unwrap().get(&name).copied();
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    if let Some(status) = failure(&name) {
        return (StatusCode::from_u16(status).unwrap(), "failure").into_response();
    }
    match file {
        Some((mime, data)) => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, mime)],
            data,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "gone").into_response(),
    }
}

/// A Graph error body.
pub fn graph_error(code: i64, subcode: Option<i64>, message: &str) -> Value {
    let mut e =
        json!({"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Axyz"});
    if let Some(s) = subcode {
        e["error_subcode"] = json!(s);
    }
    json!({ "error": e })
}

async fn graph_handler(
    State(state): State<Arc<GraphState>>,
    headers: HeaderMap,
    req: Request,
) -> axum::response::Response {
    let path = req.uri().path().to_string();
    if req.method() == axum::http::Method::GET {
        return media_handler(&state, &headers, &path).await;
    }
    let bytes = to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    state.seen.lock().unwrap().push(Seen {
        path: path.clone(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: body.clone(),
    });
    if let Some((status, body)) = state.script.lock().unwrap().pop_front() {
        return (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    }
    let n = state.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let answer = if path.ends_with("/me/messages") {
        json!({"recipient_id": body["recipient"]["id"], "message_id": format!("m_out_{n}")})
    } else {
        let input = body
            .get("to")
            .or_else(|| body.get("recipient"))
            .cloned()
            .unwrap_or(Value::Null);
        json!({"messaging_product": "whatsapp", "contacts": [{"input": input, "wa_id": input}],
               "messages": [{"id": format!("wamid.OUT{n}")}]})
    };
    (StatusCode::OK, axum::Json(answer)).into_response()
}

// ---- staff side and logs ----
