//! The e-mail channel's shape (GUIDE habit 16): `EmailConfig::build` turns
//! `[channels.email]` into the IMAP reader task (when `imap_host` is set) and the SMTP reply
//! sender (when `smtp_host` is set).

use std::sync::Arc;

use aduan_core::outbox::ReplySender;
use aduan_core::types::Channel as Platform;
use aduan_http::channel::{Channel, ChannelContext, ChannelSettings, ConfigError};

use crate::{EmailConfig, EmailContext, SmtpSender, run_intake};

impl EmailConfig {
    /// The e-mail channel: the mailbox reader (one replica at a time holds the mailbox
    /// lease) and the SMTP sender. Disabled: nothing.
    pub fn build(self, ctx: ChannelContext) -> Result<Channel, ConfigError> {
        let mut ch = Channel::new("email");
        if !self.enabled {
            return Ok(ch);
        }
        if !self.smtp_host.trim().is_empty() {
            let settings = self
                .smtp_settings()
                .map_err(|e| ConfigError::new("email", e))?;
            let sender =
                SmtpSender::new(settings).map_err(|e| ConfigError::new("email", e.to_string()))?;
            ch.senders
                .push((Platform::Email, Arc::new(sender) as Arc<dyn ReplySender>));
        }
        if self.intake_enabled() {
            let mut ectx = EmailContext::new(ctx.desk, ctx.replica_id);
            ectx.own_addresses = self.own_addresses();
            ectx.limits.max_attachment_bytes = ctx.max_attachment_bytes;
            ectx.limits.max_message_bytes = self.max_message_bytes;
            ectx.health = ctx.health;
            ch.tasks
                .push(("email", Box::pin(run_intake(self, ectx, ctx.shutdown))));
        }
        Ok(ch)
    }
}

impl ChannelSettings for EmailConfig {
    fn name(&self) -> &'static str {
        "email"
    }
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn reply_platforms(&self) -> Vec<Platform> {
        if self.enabled && !self.smtp_host.trim().is_empty() {
            vec![Platform::Email]
        } else {
            Vec::new()
        }
    }
    fn build_channel(&self, ctx: ChannelContext) -> Result<Channel, ConfigError> {
        self.clone().build(ctx)
    }
}
