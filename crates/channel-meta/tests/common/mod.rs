//! Test harness: a real desk over a fresh SQLite store (wrapped so tests can make writes
//! fail transiently), the Meta router driven in-process, and a fake Graph API on
//! 127.0.0.1:0 that records every request and answers with injected errors on demand.
#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aduan_channel_meta::{MetaConfig, MetaContext, Secret, signature};
use aduan_core::calendar::WorkCalendar;
use aduan_core::desk::{Desk, DeskConfig, SystemClock};
use aduan_core::model::*;
use aduan_core::sla::{SlaDurations, SlaPolicy};
use aduan_core::store::{Store, StoreError};
use aduan_core::types::{Channel, TicketNumber, TicketPrefix, Username};
use aduan_core::workflow::HistoryEntry;
use async_trait::async_trait;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const APP_SECRET: &str = "test_app_secret";
pub const VERIFY_TOKEN: &str = "token-verifikasi-42";
pub const PAGE_TOKEN: &str = "EAAG-page-token";
pub const IG_TOKEN: &str = "IGQ-instagram-token";
pub const WA_TOKEN: &str = "EAAW-whatsapp-token";
pub const WA_PHONE_ID: &str = "106540352242922";
pub const WA_TEMPLATE: &str = "status_laporan";

/// A store that delegates to the real one, failing the next `fail_creates` complaint
/// creations and `fail_appends` appends with `Unavailable`.
pub struct FlakyStore {
    inner: Arc<dyn Store>,
    pub fail_creates: AtomicUsize,
    pub fail_appends: AtomicUsize,
}

fn take(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
        .is_ok()
}

#[async_trait]
impl Store for FlakyStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn create_complaint(&self, c: NewComplaint) -> Result<CreateOutcome, StoreError> {
        if take(&self.fail_creates) {
            return Err(StoreError::Unavailable("injected: database busy".into()));
        }
        self.inner.create_complaint(c).await
    }
    async fn get_complaint(&self, t: &TicketNumber) -> Result<Option<ComplaintRecord>, StoreError> {
        self.inner.get_complaint(t).await
    }
    async fn save_transition(&self, w: TransitionWrite<'_>) -> Result<(), StoreError> {
        if take(&self.fail_appends) {
            return Err(StoreError::Unavailable("injected: database busy".into()));
        }
        self.inner.save_transition(w).await
    }
    async fn queue(&self, f: &QueueFilter) -> Result<Vec<QueueItem>, StoreError> {
        self.inner.queue(f).await
    }
    async fn complaints_received_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ComplaintRecord>, StoreError> {
        self.inner.complaints_received_between(from, to).await
    }
    async fn create_user(&self, u: NewUser) -> Result<i64, StoreError> {
        self.inner.create_user(u).await
    }
    async fn user_by_token_hash(&self, h: &str) -> Result<Option<User>, StoreError> {
        self.inner.user_by_token_hash(h).await
    }
    async fn user_by_name(&self, u: &Username) -> Result<Option<User>, StoreError> {
        self.inner.user_by_name(u).await
    }
    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.inner.list_users().await
    }
    async fn disable_user(&self, u: &Username) -> Result<bool, StoreError> {
        self.inner.disable_user(u).await
    }
    async fn claim_replies(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        self.inner.claim_replies(now, lease, limit).await
    }
    async fn complete_reply(
        &self,
        item: &OutboxItem,
        outcome: ReplyOutcome,
    ) -> Result<bool, StoreError> {
        self.inner.complete_reply(item, outcome).await
    }
    async fn next_reply_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.next_reply_due().await
    }
    async fn ticket_by_message_ids(
        &self,
        ids: &[String],
    ) -> Result<Option<TicketNumber>, StoreError> {
        self.inner.ticket_by_message_ids(ids).await
    }
    async fn open_ticket_for_handle(
        &self,
        channel: Channel,
        handle: &str,
    ) -> Result<Option<TicketNumber>, StoreError> {
        self.inner.open_ticket_for_handle(channel, handle).await
    }
    async fn ticket_by_external_id(
        &self,
        channel: Channel,
        external_id: &str,
    ) -> Result<Option<TicketNumber>, StoreError> {
        self.inner.ticket_by_external_id(channel, external_id).await
    }
    async fn get_cursor(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.get_cursor(key).await
    }
    async fn set_cursor(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.inner.set_cursor(key, value).await
    }
    async fn fail_reply_by_external_id(
        &self,
        external_id: &str,
        error: &str,
    ) -> Result<bool, StoreError> {
        self.inner
            .fail_reply_by_external_id(external_id, error)
            .await
    }
    async fn count_acks_since(
        &self,
        channel: Channel,
        recipient: &str,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.inner.count_acks_since(channel, recipient, since).await
    }
    async fn last_inbound_at(
        &self,
        ticket: &TicketNumber,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.last_inbound_at(ticket).await
    }
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.try_lease(name, holder, now, until).await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(name, holder).await
    }
    async fn due_escalations(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<EscalationCandidate>, StoreError> {
        self.inner.due_escalations(now, limit).await
    }
    async fn record_escalation(
        &self,
        complaint_id: i64,
        state_entered_at: DateTime<Utc>,
        history: &HistoryEntry,
        notices: Vec<NewReply>,
    ) -> Result<bool, StoreError> {
        self.inner
            .record_escalation(complaint_id, state_entered_at, history, notices)
            .await
    }
    async fn next_escalation_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.next_escalation_due().await
    }
    async fn count_received_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.inner.count_received_between(from, to).await
    }
    async fn get_report(&self, month: &str) -> Result<Option<ReportRecord>, StoreError> {
        self.inner.get_report(month).await
    }
    async fn create_report(
        &self,
        month: &str,
        report_json: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.create_report(month, report_json, at).await
    }
    async fn update_report(&self, month: &str, update: ReportUpdate) -> Result<(), StoreError> {
        self.inner.update_report(month, update).await
    }
    async fn claim_report_delivery(
        &self,
        month: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.claim_report_delivery(month, now, until).await
    }
}

/// Health reports received through the callback, in order.
#[derive(Clone, Default)]
pub struct HealthLog(pub Arc<Mutex<Vec<Option<String>>>>);

impl HealthLog {
    pub fn last(&self) -> Option<Option<String>> {
        self.0.lock().unwrap().last().cloned()
    }
    pub fn all(&self) -> Vec<Option<String>> {
        self.0.lock().unwrap().clone()
    }
}

pub struct Harness {
    pub desk: Desk,
    pub store: Arc<FlakyStore>,
    pub router: Router,
    pub ctx: MetaContext,
    pub health: HealthLog,
    pub cfg: MetaConfig,
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
    let dir = tempfile::tempdir().unwrap();
    let inner = aduan_store::connect(&aduan_store::testing::fresh_sqlite_url(dir.path()))
        .await
        .unwrap();
    inner.migrate().await.unwrap();
    let store = Arc::new(FlakyStore {
        inner,
        fail_creates: AtomicUsize::new(0),
        fail_appends: AtomicUsize::new(0),
    });
    let desk = Desk::new(
        store.clone(),
        Arc::new(SystemClock),
        DeskConfig {
            office_name: "Dinas Kependudukan dan Pencatatan Sipil Kabupaten Buleleng".into(),
            ticket_prefix: TicketPrefix::parse("ADU").unwrap(),
            policy: SlaPolicy::new(
                WorkCalendar::always_open(chrono_tz::Asia::Makassar),
                SlaDurations::default(),
            ),
            bidang: vec![],
            reply_channels: HashSet::from([
                Channel::Messenger,
                Channel::Instagram,
                Channel::Whatsapp,
            ]),
            public_base_url: "http://127.0.0.1:8080".into(),
        },
    );
    let health = HealthLog::default();
    let log = health.clone();
    let ctx = MetaContext {
        desk: desk.clone(),
        health: Arc::new(move |e| log.0.lock().unwrap().push(e)),
    };
    let router = aduan_channel_meta::router(cfg.clone(), ctx.clone());
    Harness {
        desk,
        store,
        router,
        ctx,
        health,
        cfg,
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
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGraph {
            base: format!("http://{addr}/v25.0"),
            state,
        }
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
