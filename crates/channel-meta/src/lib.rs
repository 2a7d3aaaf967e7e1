//! The Meta channel of aduan: Facebook Messenger, Instagram and the WhatsApp Cloud API.
//!
//! - [`router`] serves `GET /webhooks/meta` (the `hub.challenge` handshake) and
//!   `POST /webhooks/meta` (deliveries, signature-checked on the raw body, every entry and
//!   event committed through [`Desk::receive`] before the `200`). See [`webhook`].
//! - [`senders`] gives one [`ReplySender`] per platform with credentials, sending through
//!   the Graph API with the 24-hour window rule. See [`send`].
//! - [`media_worker`] fetches the media of messages after the commit (WhatsApp media id →
//!   `GET {graph}/{media-id}` → URL → bytes with the token; Messenger/Instagram attachment
//!   URLs) and stores them as the complaint's attachments. See [`media`].
//! - [`MetaConfig`] is the `[channels.meta]` section.
//!
//! Complainant identity comes from the payload: the PSID (Messenger), IGSID (Instagram) or
//! WhatsApp id becomes the complaint's `handle` and the reply recipient; WhatsApp also
//! gives the profile name and, unless the user hides it behind a username, the phone
//! number. A WhatsApp user without a phone number is identified by the business-scoped
//! user id (BSUID). While a complaint of the same sender is open, new messages append to
//! it.

pub mod config;
pub mod media;
pub mod payload;
pub mod send;
pub mod signature;
pub mod webhook;

use std::sync::Arc;

use aduan_core::desk::Desk;
use aduan_core::outbox::ReplySender;
use aduan_core::types::Channel;

pub use config::{DEFAULT_GRAPH_API_URL, MetaConfig, Secret};
pub use media::MetaFetcher;
pub use send::{GraphSender, WINDOW_CLOSED};

/// Path of both webhook routes.
pub const WEBHOOK_PATH: &str = "/webhooks/meta";

pub use aduan_http::channel::HealthFn;
use aduan_http::channel::{Channel as ChannelShape, ChannelContext, ChannelSettings, ConfigError};

/// What the Meta channel needs from the daemon.
#[derive(Clone)]
pub struct MetaContext {
    /// The desk every message goes through.
    pub desk: Desk,
    /// Reports the channel's last error (expired access token …) for `/readyz`.
    pub health: HealthFn,
    /// Largest attachment stored, in bytes (each file; `[channels.web]
    /// max_attachment_bytes`); a larger file is recorded on the complaint as too large.
    pub max_attachment_bytes: u64,
    /// Wakes the media worker after a message with files is committed.
    pub media_wake: Arc<tokio::sync::Notify>,
}

/// The channel's media worker: the files of all three platforms through [`MetaFetcher`],
/// at most `ctx.max_attachment_bytes` each, woken by `ctx.media_wake`.
pub fn media_worker(cfg: &MetaConfig, ctx: &MetaContext) -> aduan_http::media::MediaWorker {
    let fetcher: Arc<dyn aduan_core::media::MediaFetcher> = Arc::new(MetaFetcher::new(cfg));
    aduan_http::media::MediaWorker {
        desk: ctx.desk.clone(),
        fetchers: [Channel::Messenger, Channel::Instagram, Channel::Whatsapp]
            .into_iter()
            .map(|c| (c, fetcher.clone()))
            .collect(),
        max_bytes: ctx.max_attachment_bytes,
        wake: ctx.media_wake.clone(),
        health: ctx.health.clone(),
    }
}

impl MetaConfig {
    /// The Meta channel (GUIDE habit 16): the webhook routes, one reply sender per platform
    /// with credentials, and the media worker task. Disabled: nothing.
    pub fn build(self, ctx: ChannelContext) -> Result<ChannelShape, ConfigError> {
        let mut ch = ChannelShape::new("meta");
        if !self.enabled {
            return Ok(ch);
        }
        let meta = MetaContext {
            desk: ctx.desk,
            health: ctx.health,
            max_attachment_bytes: ctx.max_attachment_bytes,
            media_wake: Arc::new(tokio::sync::Notify::new()),
        };
        ch.tasks.push((
            "meta-media",
            media_worker(&self, &meta).task(ctx.shutdown.clone()),
        ));
        ch.senders = senders(&self, &meta);
        ch.routes = router(self, meta);
        Ok(ch)
    }
}

impl ChannelSettings for MetaConfig {
    fn name(&self) -> &'static str {
        "meta"
    }
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn reply_platforms(&self) -> Vec<Channel> {
        self.reply_channels()
    }
    fn build_channel(&self, ctx: ChannelContext) -> Result<ChannelShape, ConfigError> {
        self.clone().build(ctx)
    }
}

/// The webhook routes `GET` and `POST` [`WEBHOOK_PATH`], to merge into the public router
/// when `cfg.enabled`.
pub fn router(cfg: MetaConfig, ctx: MetaContext) -> axum::Router {
    webhook::routes(cfg, ctx)
}

/// Reply senders for the platforms whose credentials are configured: Messenger
/// (`page_access_token`), Instagram (`instagram_access_token`) and WhatsApp
/// (`whatsapp_phone_number_id` + `whatsapp_access_token`). Empty when `cfg.enabled` is
/// false. A send never touches the channel's health entry: the daemon watches each sender
/// (`senders` on `/readyz`).
pub fn senders(cfg: &MetaConfig, ctx: &MetaContext) -> Vec<(Channel, Arc<dyn ReplySender>)> {
    send::build(cfg, ctx)
}
