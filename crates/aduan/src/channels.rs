//! The closed set of channels the daemon runs (GUIDE habit 16).
//!
//! Every channel crate exposes `XConfig::build(ctx) -> Result<Channel, ConfigError>`; this
//! enum is the only place that names them, and [`crate::app`] loops over it: routes are
//! merged, tasks spawned, senders handed to the outbox, health shown on `/readyz` under the
//! channel's name. Adding a channel is one crate, one variant here (with its entry in
//! [`ChannelConfig::all`] and its `[channels.x]` field) and one arm in
//! [`ChannelConfig::settings`] (docs/architecture.md, "An eighth channel").

use std::collections::HashSet;

use aduan_channel_email::EmailConfig;
use aduan_channel_meta::MetaConfig;
use aduan_channel_telegram::TelegramConfig;
use aduan_channel_web::WebConfig;
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
