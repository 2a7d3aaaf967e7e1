//! [`EmailContext`]: what the intake task needs besides its configuration — the desk, the
//! office's own addresses, the normalization limits, the acknowledgement cap, this replica's
//! lease-holder id and the health callback. It is cheap to clone (the desk and the callback
//! are shared) and holds no connection state: one context serves every session of
//! [`run_intake`](super::run_intake).

use std::fmt;
use std::sync::Arc;

use aduan_core::desk::Desk;

use super::DEFAULT_ACK_DAILY_CAP;
use crate::parse::Limits;

/// What the intake task needs besides its configuration.
#[derive(Clone)]
pub struct EmailContext {
    /// The complaint desk (intake, cursor, lease, bounce and acknowledgement-cap queries).
    pub desk: Desk,
    /// The office's own addresses (see [`EmailConfig::own_addresses`]): mail from them is
    /// never acknowledged.
    ///
    /// [`EmailConfig::own_addresses`]: crate::config::EmailConfig::own_addresses
    pub own_addresses: Vec<String>,
    /// Attachment and text limits applied while normalizing.
    pub limits: Limits,
    /// Most acknowledgements queued to one sender in 24 hours (default 5).
    pub ack_daily_cap: i64,
    /// This replica's id, the holder of the mailbox lease.
    pub holder: String,
    /// Called with the last error (`Some`) and with `None` once healthy again; the binary
    /// shows it in `/readyz`.
    pub health: Arc<dyn Fn(Option<String>) + Send + Sync>,
}

impl EmailContext {
    /// A context with no own addresses, default [`Limits`], the default acknowledgement cap
    /// and a health callback that does nothing.
    pub fn new(desk: Desk, holder: impl Into<String>) -> Self {
        EmailContext {
            desk,
            own_addresses: Vec::new(),
            limits: Limits::default(),
            ack_daily_cap: DEFAULT_ACK_DAILY_CAP,
            holder: holder.into(),
            health: Arc::new(|_| {}),
        }
    }
}

impl fmt::Debug for EmailContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailContext")
            .field("own_addresses", &self.own_addresses)
            .field("limits", &self.limits)
            .field("ack_daily_cap", &self.ack_daily_cap)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}
