//! The closed set of channels the daemon runs (GUIDE habit 16).
//!
//! Every channel crate exposes `XConfig::build(ctx) -> Result<Channel, ConfigError>`; this
//! enum is the only place that names them, and [`crate::app`] loops over it: routes are
//! merged, tasks spawned, senders handed to the outbox, health shown on `/readyz` under the
//! channel's name. Adding a channel is one crate, one variant here (with its entry in
//! [`ChannelConfig::all`] and its `[channels.x]` field) and one arm in
//! [`ChannelConfig::settings`] (docs/architecture.md, "An eighth channel").

use std::collections::HashSet;
use std::sync::Arc;

use aduan_channel_email::EmailConfig;
use aduan_channel_meta::MetaConfig;
use aduan_channel_telegram::TelegramConfig;
use aduan_channel_web::WebConfig;
use aduan_core::outbox::{RenderedReply, ReplySender, SendError};
use aduan_core::types::Channel as Platform;
use aduan_http::channel::{Channel, ChannelContext, ChannelSettings, ConfigError};

use crate::config::Runtime;

/// One configured channel.
#[derive(Debug, Clone)]
pub enum ChannelConfig {
    /// `[channels.email]`: IMAP intake and SMTP replies.
    Email(EmailConfig),
    /// `[channels.telegram]`: the bot, by polling or webhook.
    Telegram(TelegramConfig),
    /// `[channels.meta]`: Messenger, Instagram and WhatsApp webhooks and Graph replies.
    Meta(MetaConfig),
    /// `[channels.web]`: the public form and JSON intake.
    Web(WebConfig),
}

impl ChannelConfig {
    /// Every channel of the configuration, enabled or not.
    pub fn all(rt: &Runtime) -> Vec<ChannelConfig> {
        let c = &rt.settings.channels;
        vec![
            ChannelConfig::Email(c.email.clone()),
            ChannelConfig::Telegram(c.telegram.clone()),
            ChannelConfig::Meta(c.meta.clone()),
            ChannelConfig::Web(rt.web.clone()),
        ]
    }

    /// The channel behind the variant: the only `match` over channels in the daemon.
    pub fn settings(&self) -> &dyn ChannelSettings {
        match self {
            ChannelConfig::Email(c) => c,
            ChannelConfig::Telegram(c) => c,
            ChannelConfig::Meta(c) => c,
            ChannelConfig::Web(c) => c,
        }
    }

    pub fn name(&self) -> &'static str {
        self.settings().name()
    }

    pub fn enabled(&self) -> bool {
        self.settings().enabled()
    }

    /// The platforms this channel will answer on once built: the desk queues replies only
    /// for these (known before the desk exists, so the desk can be handed to `build`).
    pub fn reply_platforms(&self) -> Vec<Platform> {
        self.settings().reply_platforms()
    }

    /// Build the running channel.
    pub fn build(&self, ctx: ChannelContext) -> Result<Channel, ConfigError> {
        self.settings().build_channel(ctx)
    }
}

/// The platforms the configured channels answer on.
pub fn reply_platforms(channels: &[ChannelConfig]) -> HashSet<Platform> {
    channels.iter().flat_map(|c| c.reply_platforms()).collect()
}

/// Reply senders as `/readyz` sees them: the last error of each platform's sender (`None` =
/// its last send succeeded, or nothing was sent yet).
///
/// A sender that is down (SMTP, Graph or the Bot API unreachable, refusing or rate
/// limiting) is listed under `senders` and as a warning, but does not make the replica
/// unready: it still takes complaints on every channel and queues their replies durably
/// in the outbox, which retries them for `[outbox] retry_for`. Taking every replica out of
/// a load balancer because the mail relay is down would stop intake too (docs/faults.md).
#[derive(Debug, Clone, Default)]
pub struct SenderHealth(crate::app::Health);

impl SenderHealth {
    /// Current entries, by platform name.
    pub fn snapshot(&self) -> std::collections::HashMap<String, Option<String>> {
        self.0.snapshot()
    }

    /// Wrap `sender` so that each send updates the entry of `platform`.
    pub fn watch(&self, platform: Platform, sender: Arc<dyn ReplySender>) -> Arc<dyn ReplySender> {
        self.0.set(platform.as_str(), None);
        Arc::new(WatchedSender {
            inner: sender,
            platform,
            health: self.clone(),
        })
    }

    fn set(&self, platform: Platform, error: Option<String>) {
        let name = platform.as_str();
        let before = self.0.snapshot().get(name).cloned().flatten();
        match (&before, &error) {
            (None, Some(e)) => {
                tracing::warn!(platform = name, error = %e, "reply sender down; replies wait in the outbox");
            }
            (Some(_), None) => tracing::info!(platform = name, "reply sender works again"),
            _ => {}
        }
        if before != error {
            self.0.set(name, error);
        }
    }
}

/// A reply sender reporting to [`SenderHealth`]. A permanent refusal concerns one
/// recipient (a bad address, a blocked bot), not the service, and leaves the entry alone.
struct WatchedSender {
    inner: Arc<dyn ReplySender>,
    platform: Platform,
    health: SenderHealth,
}

#[async_trait::async_trait]
impl ReplySender for WatchedSender {
    async fn send(&self, reply: &RenderedReply) -> Result<Option<String>, SendError> {
        let result = self.inner.send(reply).await;
        match &result {
            Ok(_) => self.health.set(self.platform, None),
            Err(SendError::Transient(e) | SendError::RetryAfter { message: e, .. }) => {
                // Never the recipient: SMTP servers quote the address they refuse.
                let shown = aduan_core::mask::without_recipient(e, &reply.item.recipient);
                self.health.set(self.platform, Some(shown));
            }
            Err(SendError::Permanent(_)) => {}
        }
        result
    }
}
