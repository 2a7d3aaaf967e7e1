//! Test harness: a real desk over a fresh SQLite (or PostgreSQL) store (wrapped so tests can
//! make writes fail transiently), and a fake Telegram Bot API on 127.0.0.1:0 that the real
//! teloxide client talks to: scripted updates with getUpdates offset semantics, sendMessage,
//! getFile and file downloads (served only at the documented
//! `/file/bot<token>/<file_path>`, optionally slowly), and injected errors (429 with
//! `retry_after`, 502, 403, hanging answers).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aduan_channel_telegram::{Secret, TelegramConfig, TelegramContext};
use aduan_core::desk::{Desk, SystemClock};
use aduan_core::model::*;
use aduan_core::outbox::{Outbox, ReplySender};
use aduan_core::store::prelude::*;
use aduan_core::types::Channel;
use aduan_store::testing::FaultStore;
use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::Notify;

pub use aduan_channel_telegram::testing::TOKEN;
pub const WEBHOOK_SECRET: &str = "rahasia_WEBHOOK-42";
pub const CHAT: i64 = 5_123_456_789;
pub const OTHER_CHAT: i64 = 6_000_000_001;

// ---- harness ----

pub use aduan_core::testing::HealthLog;

pub struct Harness {
    pub desk: Desk,
    pub store: Arc<FaultStore>,
    pub ctx: TelegramContext,
    pub health: HealthLog,
    pub api: FakeBotApi,
    pub cfg: TelegramConfig,
    /// The PostgreSQL database to drop, if the harness runs on one.
    pub postgres_url: Option<String>,
    _dir: tempfile::TempDir,
}

/// The channel's configuration against the fake Bot API at `api_url`.
pub fn config(api_url: &str) -> TelegramConfig {
    TelegramConfig {
        enabled: true,
        token: Secret::new(TOKEN),
        api_url: api_url.to_string(),
        mode: aduan_channel_telegram::Mode::Polling,
        webhook_secret: Secret::new(WEBHOOK_SECRET),
    }
}

pub async fn harness() -> Harness {
    harness_with_limit(1024 * 1024).await
}

pub async fn harness_with_limit(max_attachment_bytes: u64) -> Harness {
    harness_on(false, max_attachment_bytes, Arc::new(SystemClock)).await
}

/// A harness on PostgreSQL (`postgres`) or SQLite, with the given limit and clock.
pub async fn harness_on(
    postgres: bool,
    max_attachment_bytes: u64,
    clock: Arc<dyn aduan_core::desk::Clock>,
) -> Harness {
    let api = FakeBotApi::start().await;
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
        let mut cfg = aduan_core::testing::desk_config([Channel::Telegram]);
        cfg.bidang.clear();
        cfg.public_base_url = "http://127.0.0.1:8080".into();
        cfg
    });
    let health = HealthLog::default();
    let log = health.clone();
    let ctx = TelegramContext {
        desk: desk.clone(),
        replica_id: "test-replica".into(),
        max_attachment_bytes,
        health: Arc::new(move |e| log.0.lock().unwrap().push(e)),
        media_wake: Arc::new(Notify::new()),
    };
    Harness {
        desk,
        store,
        ctx,
        health,
        cfg: config(&api.url),
        api,
        postgres_url,
        _dir: dir,
    }
}

impl Harness {
    /// Every stored complaint, oldest first.
    pub async fn complaints(&self) -> Vec<ComplaintRecord> {
        let q = self
            .store
            .queue(&QueueFilter {
                state: None,
                bidang: None,
                limit: Some(1000),
            })
            .await
            .unwrap();
        let mut out = Vec::new();
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

    /// The outbox worker with this channel's sender and the built-in templates.
    pub fn outbox(&self) -> Outbox {
        let sender: Arc<dyn ReplySender> = Arc::new(
            aduan_channel_telegram::sender(&self.cfg, &self.ctx)
                .with_timeout(Duration::from_secs(3)),
        );
        Outbox::new(
            self.store.clone(),
            Arc::new(SystemClock),
            Arc::new(aduan_core::templates::Templates::new(vec![]).unwrap()),
            HashMap::from([(Channel::Telegram, sender)]),
        )
    }

    /// One pass of the media worker with the channel's fetcher.
    pub async fn run_media(&self) -> aduan_core::media::MediaRun {
        let w = aduan_channel_telegram::media_worker(&self.cfg, &self.ctx);
        self.desk
            .media()
            .run_once(&w.fetchers, w.max_bytes)
            .await
            .unwrap()
    }

    /// Drop the PostgreSQL database, if any.
    pub async fn teardown(self) {
        let url = self.postgres_url.clone();
        drop(self);
        if let Some(url) = url {
            aduan_store::testing::drop_postgres_database(&url).await;
        }
    }

    /// The teloxide bot pointed at the fake server.
    pub fn bot(&self) -> teloxide::Bot {
        aduan_channel_telegram::build_bot(&self.cfg, Duration::from_secs(5))
    }
}

/// Poll `check` every 20 ms until it holds, for at most `secs` seconds.
pub async fn wait_until<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- update builders ----

pub fn unix_now() -> i64 {
    Utc::now().timestamp()
}

pub fn user(chat: i64) -> Value {
    json!({"id": chat, "is_bot": false, "first_name": "Komang", "last_name": "Ayu",
           "username": "komang_bll", "language_code": "id"})
}

/// A private-chat text message update.
pub fn text_update(update_id: i64, chat: i64, message_id: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": user(chat),
            "chat": {"id": chat, "first_name": "Komang", "username": "komang_bll", "type": "private"},
            "date": unix_now(),
            "text": text
        }
    })
}

/// A private-chat photo update (two sizes, largest last) with a caption.
pub fn photo_update(
    update_id: i64,
    chat: i64,
    message_id: i64,
    caption: Option<&str>,
    large_id: &str,
) -> Value {
    let mut m = json!({
        "message_id": message_id,
        "from": user(chat),
        "chat": {"id": chat, "type": "private", "first_name": "Komang"},
        "date": unix_now(),
        "photo": [
            {"file_id": "small-thumb", "file_unique_id": "AQADs1", "width": 90, "height": 67, "file_size": 1200},
            {"file_id": large_id, "file_unique_id": "AQADs2", "width": 1280, "height": 960}
        ]
    });
    if let Some(c) = caption {
        m["caption"] = json!(c);
    }
    json!({"update_id": update_id, "message": m})
}

/// A private-chat document update.
pub fn document_update(
    update_id: i64,
    chat: i64,
    message_id: i64,
    caption: &str,
    file_id: &str,
    name: &str,
    size: u64,
) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": user(chat),
            "chat": {"id": chat, "type": "private", "first_name": "Komang"},
            "date": unix_now(),
            "document": {"file_id": file_id, "file_unique_id": format!("u-{file_id}"),
                         "file_name": name, "mime_type": "application/pdf", "file_size": size},
            "caption": caption
        }
    })
}

// ---- fake Bot API (aduan_channel_telegram::testing) ----

#[allow(unused_imports)]
pub use aduan_channel_telegram::testing::{Call, FakeBotApi, Inject, Sent, api_error, flood};

// ---- staff side and logs ----
