//! The mailbox lease: only one replica reads a mailbox at a time.
//!
//! The lease name is [`intake_key`] (also the cursor key). [`run_intake`](super::run_intake)
//! takes it with [`HeldLease::acquire`](aduan_http::lease::HeldLease::acquire), which renews
//! it in the background. [`Reader::check_lease`] is asked between messages, between batches
//! and after every wait, and IDLE and polling waits end when the lease is lost; a lost lease
//! ends the session ([`Failure::LeaseLost`]) before any further message is committed.

use super::Failure;
use super::reader::Reader;
use crate::config::EmailConfig;

/// The lease name and cursor key of a mailbox: `imap:{username}@{host}/{mailbox}`.
pub fn intake_key(cfg: &EmailConfig) -> String {
    format!(
        "imap:{}@{}/{}",
        cfg.username.trim(),
        cfg.imap_host.trim(),
        cfg.mailbox.trim()
    )
}

impl Reader<'_> {
    /// `Err(LeaseLost)` once the lease is no longer ours (with the safety margin).
    pub(super) fn check_lease(&self) -> Result<(), Failure> {
        self.lease.check().map_err(|_| Failure::LeaseLost)
    }
}
