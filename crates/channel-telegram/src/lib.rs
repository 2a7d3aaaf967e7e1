//! The Telegram channel of aduan, on the Bot API through teloxide's client.
//!
//! - [`run_polling`]: `getUpdates` long polling (mode `polling`, the default). The update
//!   offset lives in the `telegram:offset` cursor and advances in the same transaction as
//!   the complaint, so a crash neither loses nor duplicates one. See [`polling`].
//! - [`webhook_router`]: `POST /webhooks/telegram` (mode `webhook`), authenticated by the
//!   `X-Telegram-Bot-Api-Secret-Token` header and answered 2xx only after the commit.
//!   See [`webhook`].
//! - [`handle_update`]: what both modes do with one update. See [`intake`].
//! - [`sender`]: the outbox's [`ReplySender`](aduan_core::outbox::ReplySender) (4096-char
//!   split, 429 `retry_after`, 403 blocked bot → permanent failure). See [`send`].
//! - [`TelegramConfig`]: the `[channels.telegram]` section. See [`config`].
//!
//! - [`TelegramFetcher`]: the media fetcher (`getFile`, then the documented file URL) the
//!   channel's media worker runs, so photos, documents, voice notes and videos reach staff as
//!   attachments after the commit. See [`media`].
//! - `testing` (feature `testing`): a fake Bot API for tests of this and other crates.
//!
//! The citizen talks to the bot in a private chat, in Bahasa Indonesia. A text, a photo, a
//! document, a voice note, a video, a location or a contact becomes a complaint acknowledged
//! with its ticket number as a reply to that message; further messages while the complaint is open are appended to
//! it; `/status TICKET` answers for complaints of that chat only; the answer of the office
//! arrives in the same chat. The chat id is the complaint's `handle` and the reply
//! recipient; `(chat id, message id)` is the deduplication key.

pub mod bot;
pub mod config;
pub mod intake;
pub mod media;
pub mod polling;
pub mod send;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webhook;

use std::sync::Arc;

use aduan_core::desk::Desk;

pub use bot::build_bot;
pub use config::{DEFAULT_API_URL, Mode, Secret, TelegramConfig};
pub use intake::{HandleError, HandleOptions, OFFSET_CURSOR, Outcome, handle_update};
pub use media::{TelegramFetcher, file_url};
pub use polling::{PollOptions, run_polling, run_polling_with};
pub use send::{MAX_MESSAGE_UTF16, TelegramSender, sender, split_message};
pub use webhook::{SECRET_HEADER, WEBHOOK_PATH, webhook_router};

pub use aduan_http::channel::HealthFn;
use aduan_http::channel::{Channel as ChannelShape, ChannelContext, ChannelSettings, ConfigError};

impl TelegramConfig {
    /// The Telegram channel (GUIDE habit 16): the reply sender, and either the polling
    /// task (mode `polling`) or the webhook route (mode `webhook`). Disabled: nothing.
    pub fn build(self, ctx: ChannelContext) -> Result<ChannelShape, ConfigError> {
        let mut ch = ChannelShape::new("telegram");
        if !self.enabled {
            return Ok(ch);
        }
        let tg = TelegramContext {
            desk: ctx.desk,
            replica_id: ctx.replica_id,
            max_attachment_bytes: ctx.max_attachment_bytes,
            health: ctx.health,
            media_wake: Arc::new(tokio::sync::Notify::new()),
        };
        ch.tasks.push((
            "telegram-media",
            media_worker(&self, &tg).task(ctx.shutdown.clone()),
        ));
        ch.senders.push((
            aduan_core::types::Channel::Telegram,
            Arc::new(sender(&self, &tg)) as Arc<dyn aduan_core::outbox::ReplySender>,
        ));
        match self.mode {
            Mode::Polling => {
                let token = ctx.shutdown;
                ch.tasks
                    .push(("telegram", Box::pin(run_polling(self, tg, token))));
            }
            Mode::Webhook => ch.routes = webhook_router(self, tg),
        }
        Ok(ch)
    }
}

impl ChannelSettings for TelegramConfig {
    fn name(&self) -> &'static str {
        "telegram"
    }
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn reply_platforms(&self) -> Vec<aduan_core::types::Channel> {
        if self.enabled {
            vec![aduan_core::types::Channel::Telegram]
        } else {
            Vec::new()
        }
    }
    fn build_channel(&self, ctx: ChannelContext) -> Result<ChannelShape, ConfigError> {
        self.clone().build(ctx)
    }
}

/// What the Telegram channel needs from the daemon.
#[derive(Clone)]
pub struct TelegramContext {
    /// The desk every message goes through.
    pub desk: Desk,
    /// This replica's id: the holder of the poller's lease (one `getUpdates` loop among
    /// replicas).
    pub replica_id: String,
    /// Largest attachment stored, in bytes (each file; `[channels.web]
    /// max_attachment_bytes`); a larger file is recorded on the complaint as too large.
    pub max_attachment_bytes: u64,
    /// Reports the channel's last error (Bot API unreachable, store down, token refused).
    pub health: HealthFn,
    /// Wakes the media worker after a message with files is committed.
    pub media_wake: Arc<tokio::sync::Notify>,
}

/// The channel's media worker: Telegram files through [`TelegramFetcher`], at most
/// `ctx.max_attachment_bytes` each, woken by `ctx.media_wake`.
pub fn media_worker(cfg: &TelegramConfig, ctx: &TelegramContext) -> aduan_http::media::MediaWorker {
    let fetcher: Arc<dyn aduan_core::media::MediaFetcher> = Arc::new(TelegramFetcher::new(cfg));
    aduan_http::media::MediaWorker {
        desk: ctx.desk.clone(),
        fetchers: std::collections::HashMap::from([(
            aduan_core::types::Channel::Telegram,
            fetcher,
        )]),
        max_bytes: ctx.max_attachment_bytes,
        wake: ctx.media_wake.clone(),
        health: ctx.health.clone(),
    }
}
