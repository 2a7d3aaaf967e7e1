//! Waiting for new mail between syncs: IDLE when the server offers it and `idle` is on,
//! else sleeping `poll_interval`.
//!
//! IDLE is re-issued after [`IDLE_REISSUE`] (well before the RFC 2177 29-minute limit). The
//! lease is renewed beside both waits (in the background, [`aduan_http::lease`]); both end
//! at once when it is lost ([`Failure::LeaseLost`]) and on shutdown (logging out), and a
//! `BYE` or a closed stream during IDLE ends the session.

use std::time::{Duration, Instant};

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{Response, Status};
use async_imap::types::UnsolicitedResponse;

use super::reader::Reader;
use super::session::{COMMAND_TIMEOUT, ImapSession, logout, step};
use super::{Failure, IDLE_REISSUE, imap_err};

impl Reader<'_> {
    /// IDLE until new mail, [`IDLE_REISSUE`], a lost lease or shutdown.
    pub(super) async fn idle(&self, session: ImapSession) -> Result<ImapSession, Failure> {
        let mut handle = session.idle();
        step("IDLE", COMMAND_TIMEOUT, handle.init()).await?;
        let woke = {
            let (wait, _stop) = handle.wait_with_timeout(IDLE_REISSUE);
            tokio::select! {
                r = wait => Some(r),
                _ = self.shutdown.cancelled() => None,
                // The session is dropped (the connection closed): nothing was committed
                // during the wait, and the new holder reads from the durable cursor.
                _ = self.lease.lost() => return Err(Failure::LeaseLost),
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

    /// Sleep `poll_interval` (ended early by a lost lease or shutdown).
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
                _ = self.lease.lost() => return Err(Failure::LeaseLost),
                _ = tokio::time::sleep(left) => {}
            }
            self.check_lease()?;
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
