//! Waiting for new mail between syncs: IDLE when the server offers it and `idle` is on,
//! else sleeping `poll_interval`.
//!
//! Neither wait outlasts [`LEASE_RENEW`] (IDLE is re-issued well before the RFC 2177
//! 29-minute limit), so the lease is renewed in time; both return at once on shutdown
//! (logging out), and a `BYE` or a closed stream during IDLE ends the session.

use std::time::{Duration, Instant};

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{Response, Status};
use async_imap::types::UnsolicitedResponse;

use super::reader::Reader;
use super::session::{COMMAND_TIMEOUT, ImapSession, logout, step};
use super::{Failure, LEASE_RENEW, MAX_IDLE, imap_err};

impl Reader<'_> {
    /// IDLE until new mail, [`LEASE_RENEW`] or shutdown.
    pub(super) async fn idle(&self, session: ImapSession) -> Result<ImapSession, Failure> {
        let mut handle = session.idle();
        step("IDLE", COMMAND_TIMEOUT, handle.init()).await?;
        let woke = {
            let (wait, _stop) = handle.wait_with_timeout(LEASE_RENEW.min(MAX_IDLE));
            tokio::select! {
                r = wait => Some(r),
                _ = self.shutdown.cancelled() => None,
            }
        };
        match woke {
            None => {
                if let Ok(Ok(mut s)) =
                    tokio::time::timeout(Duration::from_secs(5), handle.done()).await
                {
                    logout(&mut s).await;
                }
                return Err(Failure::Shutdown);
            }
            Some(Err(e)) => return Err(imap_err("IDLE", e)),
            // The stop source is never used, so this means the stream ended.
            Some(Ok(IdleResponse::ManualInterrupt)) => {
                return Err(Failure::Imap(
                    "connection closed by the server during IDLE".into(),
                ));
            }
            Some(Ok(IdleResponse::NewData(data))) => {
                if let Response::Data {
                    status: Status::Bye,
                    outcome,
                } = data.parsed()
                {
                    return Err(Failure::Imap(format!(
                        "server closed the connection during IDLE: {}",
                        outcome.information.as_deref().unwrap_or("BYE")
                    )));
                }
                tracing::trace!(?data, "IDLE woke up");
            }
            Some(Ok(IdleResponse::Timeout)) => {}
        }
        step("DONE", COMMAND_TIMEOUT, handle.done()).await
    }

    /// Sleep `poll_interval`, renewing the lease on the way.
    pub(super) async fn poll_wait(&mut self, s: &mut ImapSession) -> Result<(), Failure> {
        let until = Instant::now() + self.poll_interval;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => {
                    logout(s).await;
                    return Err(Failure::Shutdown);
                }
                _ = tokio::time::sleep(left.min(LEASE_RENEW)) => {}
            }
            self.renew_lease_if_due().await?;
        }
    }
}

/// Drain unsolicited responses; whether any announced new mail.
pub(super) fn drain_unsolicited(s: &ImapSession) -> bool {
    let mut new_mail = false;
    while let Ok(r) = s.unsolicited_responses.try_recv() {
        if matches!(
            r,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        ) {
            new_mail = true;
        }
    }
    new_mail
}
