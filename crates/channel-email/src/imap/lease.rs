//! The mailbox lease: only one replica reads a mailbox at a time.
//!
//! The lease name is [`intake_key`] (also the cursor key). [`run_intake`](super::run_intake)
//! takes it for [`LEASE_TTL`](super::LEASE_TTL) before a session starts; while the session
//! runs, [`Reader::renew_lease_if_due`] renews it at most every [`LEASE_RENEW`] — between
//! messages, between batches and on every IDLE or poll wake-up, so it never lapses while
//! the reader works. A failed renewal ends the session ([`Failure::LeaseLost`]) before any
//! further message is committed.

use std::time::Instant;

use super::reader::Reader;
use super::{Failure, LEASE_RENEW};
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
    /// Renew the lease when [`LEASE_RENEW`] has passed since the last renewal.
    pub(super) async fn renew_lease_if_due(&mut self) -> Result<(), Failure> {
        if self.lease_renewed.elapsed() < LEASE_RENEW {
            return Ok(());
        }
        match self
            .ctx
            .desk
            .intake()
            .try_lease(&self.key, &self.ctx.holder, self.lease_ttl)
            .await
        {
            Ok(true) => {
                self.lease_renewed = Instant::now();
                Ok(())
            }
            Ok(false) => Err(Failure::LeaseLost),
            Err(e) => Err(Failure::Store(format!("renewing the mailbox lease: {e}"))),
        }
    }
}
