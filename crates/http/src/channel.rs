//! The one shape every channel has (GUIDE habit 16).
//!
//! A channel crate exposes a config type (`[channels.X]`, `deny_unknown_fields`) with
//! `build(self, ctx: ChannelContext) -> Result<Channel, ConfigError>`. The [`Channel`] it
//! returns is everything the daemon needs: HTTP routes to merge, background tasks to spawn
//! (each selects on [`ChannelContext::shutdown`]), reply senders per platform for the
//! outbox, and the name under which its health shows on `/readyz`. The binary loops over a
//! closed `enum ChannelConfig`; it never names a channel's internals.
//!
//! Every channel counts its intake with [`record_intake`]: one metric,
//! `aduan_intake_total{channel, outcome}`, one label set ([`IntakeOutcome`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aduan_core::desk::Desk;
use aduan_core::intake_outcome::IntakeOutcome;
use aduan_core::outbox::ReplySender;
use aduan_core::types::Channel as ChannelKind;
use tokio_util::sync::CancellationToken;

/// Reports a channel's last error for `/readyz`: `Some(error)` sets it, `None` clears it.
pub type HealthFn = Arc<dyn Fn(Option<String>) + Send + Sync>;

/// A background task of a channel (an IMAP reader, a Telegram poller).
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What the daemon gives every channel.
#[derive(Clone)]
pub struct ChannelContext {
    /// The complaint desk: every message goes through it, nothing bypasses it.
    pub desk: Desk,
    /// This channel's entry on `/readyz`.
    pub health: HealthFn,
    /// Cancelled when the daemon stops taking new work; tasks finish what is in flight.
    pub shutdown: CancellationToken,
    /// This process's replica id (holder of leases such as the mailbox's).
    pub replica_id: String,
    /// Largest attachment stored, in bytes (each file); larger ones are recorded as such.
    pub max_attachment_bytes: u64,
}

impl ChannelContext {
    /// A context for tests: health reports are dropped, a fresh token, replica `"test"`,
    /// 5 MiB attachments.
    pub fn for_tests(desk: Desk) -> Self {
        ChannelContext {
            desk,
            health: Arc::new(|_| {}),
            shutdown: CancellationToken::new(),
            replica_id: "test".into(),
            max_attachment_bytes: 5 * 1024 * 1024,
        }
    }
}

/// A channel's configuration section, as the daemon sees every channel: its name, whether
/// it is on, which platforms it answers on (known before the desk exists), and how it
/// builds. Implemented by each channel crate's `XConfig`.
pub trait ChannelSettings {
    /// The section name (`channels.<name>`), also its name on `/readyz`.
    fn name(&self) -> &'static str;
    /// Is the channel switched on?
    fn enabled(&self) -> bool;
    /// The platforms it will have a reply sender for once built (empty when disabled).
    fn reply_platforms(&self) -> Vec<ChannelKind>;
    /// Build the running channel.
    fn build_channel(&self, ctx: ChannelContext) -> Result<Channel, ConfigError>;
}

/// A built, not yet running channel.
pub struct Channel {
    /// The name on `/readyz` and in logs (`email`, `telegram`, `meta`, `web`).
    pub name: &'static str,
    /// Routes to merge into the daemon's router (empty when the channel serves none).
    pub routes: axum::Router,
    /// Tasks to spawn; each stops when the context's shutdown token is cancelled.
    pub tasks: Vec<(&'static str, Task)>,
    /// Reply senders for the outbox, one per platform this channel answers on.
    pub senders: Vec<(ChannelKind, Arc<dyn ReplySender>)>,
}

impl Channel {
    /// A channel with nothing yet.
    pub fn new(name: &'static str) -> Self {
        Channel {
            name,
            routes: axum::Router::new(),
            tasks: Vec::new(),
            senders: Vec::new(),
        }
    }
}

/// A channel's configuration cannot be built into a running channel.
#[derive(Debug, thiserror::Error)]
#[error("`channels.{channel}`: {message}")]
pub struct ConfigError {
    /// The config section (`email`, `telegram`, …).
    pub channel: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(channel: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            channel,
            message: message.into(),
        }
    }
}

/// Count one inbound item of `channel` (the platform: `messenger`, `whatsapp`, …).
pub fn record_intake(channel: ChannelKind, outcome: IntakeOutcome) {
    metrics::counter!(
        "aduan_intake_total",
        "channel" => channel.as_str(),
        "outcome" => outcome.label()
    )
    .increment(1);
}
