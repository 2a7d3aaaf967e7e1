//! The closed set of channels the daemon runs (GUIDE habit 16).
//!
//! Every channel crate exposes `XConfig::build(ctx) -> Result<Channel, ConfigError>`; this
//! enum is the only place that names them, and [`crate::app`] loops over it: routes are
//! merged, tasks spawned, senders handed to the outbox, health shown on `/readyz` under the
//! channel's name. Adding a channel is one crate, one variant here and one arm in each
//! `match` below (docs/architecture.md, "An eighth channel").

use std::collections::HashSet;

use aduan_channel_email::EmailConfig;
use aduan_channel_meta::MetaConfig;
use aduan_channel_telegram::TelegramConfig;
use aduan_channel_web::WebConfig;
use aduan_core::types::Channel as Platform;
use aduan_http::channel::{Channel, ChannelContext, ConfigError};

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

    /// The section name (`channels.<name>`), also the channel's name on `/readyz`.
    pub fn name(&self) -> &'static str {
        match self {
            ChannelConfig::Email(_) => "email",
            ChannelConfig::Telegram(_) => "telegram",
            ChannelConfig::Meta(_) => "meta",
            ChannelConfig::Web(_) => "web",
        }
    }

    pub fn enabled(&self) -> bool {
        match self {
            ChannelConfig::Email(c) => c.enabled,
            ChannelConfig::Telegram(c) => c.enabled,
            ChannelConfig::Meta(c) => c.enabled,
            ChannelConfig::Web(c) => c.enabled,
        }
    }

    /// The platforms this channel will answer on once built: the desk queues replies only
    /// for these (known before the desk exists, so the desk can be handed to `build`).
    pub fn reply_platforms(&self) -> Vec<Platform> {
        if !self.enabled() {
            return Vec::new();
        }
        match self {
            ChannelConfig::Email(c) if !c.smtp_host.trim().is_empty() => vec![Platform::Email],
            ChannelConfig::Email(_) => Vec::new(),
            ChannelConfig::Telegram(_) => vec![Platform::Telegram],
            ChannelConfig::Meta(c) => c.reply_channels(),
            ChannelConfig::Web(_) => Vec::new(),
        }
    }

    /// Build the running channel.
    pub fn build(self, ctx: ChannelContext) -> Result<Channel, ConfigError> {
        match self {
            ChannelConfig::Email(c) => c.build(ctx),
            ChannelConfig::Telegram(c) => c.build(ctx),
            ChannelConfig::Meta(c) => c.build(ctx),
            ChannelConfig::Web(c) => c.build(ctx),
        }
    }
}

/// The platforms the configured channels answer on.
pub fn reply_platforms(channels: &[ChannelConfig]) -> HashSet<Platform> {
    channels.iter().flat_map(|c| c.reply_platforms()).collect()
}
