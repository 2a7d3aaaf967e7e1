//! IMAP intake: reads the configured mailbox and turns every message into a complaint or a
//! conversation message, exactly once.
//!
//! [`run_intake`] is the long-running task the binary spawns. One pass of its loop:
//!
//! 1. **Lease.** Only one replica reads a mailbox: the named lease
//!    `imap:{username}@{host}/{mailbox}` is taken with [`HeldLease::acquire`] (TTL 10 s,
//!    renewed every 3 s in the background, also while IDLE waits). The reader checks it
//!    before every commit and IDLE or polling waits end when it is lost. A replica that
//!    does not get it asks again every 2 s, so the mailbox moves within 15 s of its reader's
//!    death; the lease is kept across reconnects and released on shutdown.
//! 2. **Connect** with `none`, `starttls` or `tls` (rustls with the webpki roots), read the
//!    greeting, `LOGIN`, `CAPABILITY`, create the archive mailbox when absent, `SELECT`.
//! 3. **Cursor.** The durable cursor (same key as the lease) holds
//!    `"{uidvalidity}:{last_uid}"` and is committed by [`Desk::receive`] in the same
//!    transaction as the complaint it covers. A missing cursor, or one of another
//!    UIDVALIDITY (mailbox recreated, server lost its UIDs), means "read everything again":
//!    redelivered mail is then recognized by its external id, `msgid:<Message-ID>` or,
//!    without a Message-ID, `sha256:<hash of the raw message>` — the same id in every case,
//!    so both paths deduplicate.
//! 4. **Sync.** `UID FETCH 1:* (UID FLAGS RFC822.SIZE)` lists the mailbox. Messages at or
//!    below the cursor were committed by an earlier run that stopped before moving them:
//!    they are only moved. Newer ones are fetched (`BODY.PEEK[]`) in UID order, in batches of
//!    at most [`BATCH_MESSAGES`] messages / [`BATCH_BYTES`] bytes, normalized and committed
//!    one by one; after each batch the committed ones are moved to the archive mailbox
//!    (`UID MOVE`, or `UID COPY` + `\Deleted` flag + `UID EXPUNGE` of exactly those UIDs when
//!    the server lacks MOVE; without UIDPLUS the flagged originals are left in place, never
//!    expunged wholesale). Mail is never deleted.
//! 5. **Wait** with IDLE (when the server offers it and `idle` is on), woken by new mail,
//!    a lost lease, or after [`IDLE_REISSUE`] (far below the 29-minute limit) to resync;
//!    otherwise sleep `poll_interval`.
//!
//! Any connection error, timeout or `BYE` closes the session and reconnects after a backoff
//! of 1 s doubling to 60 s; a transient store error stops the batch before the message is
//! moved or the cursor advanced, and is retried the same way. The last error goes to the
//! `health` callback (shown by `/readyz`) until a sync succeeds again, and is counted in
//! `aduan_email_imap_errors_total`.
//!
//! Per message: a bounce (`AutoKind::Bounce`) of a reply aduan sent marks that outbox row
//! failed ([`Desk::fail_reply`]) and makes no complaint; mail that can never be stored (no
//! header section, no sender address anywhere, nothing in it) is logged as rejected; both
//! advance the cursor and are archived. Everything else goes to [`Desk::receive`]: threaded
//! by In-Reply-To/References (matched against the Message-IDs aduan sent and received; ids
//! sent as RFC 2047 encoded words decoded), then the `[TICKET]` subject tag, then — mail a
//! person wrote — `Re: <subject>` onto the sender's open complaint with that subject, else
//! a new complaint with an access code. An acknowledgement is queued only for
//! mail a person wrote (RFC 3834: not auto-submitted, bulk, list, bounce or no-reply mail,
//! not from the office's own addresses) and at most [`EmailContext::ack_daily_cap`] per
//! sender per 24 hours. Each outcome is counted in
//! `aduan_intake_total{channel="email",outcome=…}` with the shared
//! [`IntakeOutcome`](aduan_core::intake_outcome::IntakeOutcome) labels.
//!
//! [`HeldLease::acquire`]: aduan_http::lease::HeldLease::acquire
//! [`Desk::receive`]: aduan_core::desk::Desk::receive
//! [`Desk::fail_reply`]: aduan_core::desk::Desk::fail_reply

mod context;
mod idle;
mod lease;
mod message;
mod reader;
mod session;
mod sync;

use std::fmt;
use std::time::Duration;

use aduan_core::desk::DeskError;
use aduan_http::lease::{HeldLease, LeaseTiming};
use tokio_util::sync::CancellationToken;

use crate::config::EmailConfig;
use reader::Reader;

pub use context::EmailContext;
pub use lease::intake_key;
pub use message::external_id;

pub use aduan_http::lease::{LEASE_RENEW, LEASE_RETRY, LEASE_TTL};
/// The longest IDLE before it is re-issued and the mailbox synced again (RFC 2177: below 29
/// minutes; the lease does not depend on it, it is renewed beside the IDLE).
pub const IDLE_REISSUE: Duration = Duration::from_secs(30);
/// Most messages fetched in one `UID FETCH`.
pub const BATCH_MESSAGES: usize = 200;
/// Most bytes (by `RFC822.SIZE`) fetched in one `UID FETCH` (a larger message goes alone).
pub const BATCH_BYTES: u64 = 32 * 1024 * 1024;
/// Default cap of acknowledgements per sender per 24 hours.
pub const DEFAULT_ACK_DAILY_CAP: i64 = 5;
/// First reconnect delay; doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest reconnect delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Run the intake of `cfg.mailbox` until `shutdown` is cancelled. Returns at once when
/// intake is not enabled ([`EmailConfig::intake_enabled`]). Never panics on server or
/// message data; every failure is logged, reported to `ctx.health` and retried.
pub async fn run_intake(cfg: EmailConfig, ctx: EmailContext, shutdown: CancellationToken) {
    if !cfg.intake_enabled() {
        tracing::info!("e-mail intake disabled (channels.email.enabled / imap_host)");
        return;
    }
    let security = match cfg.imap_security() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "e-mail intake not started");
            (ctx.health)(Some(e));
            return;
        }
    };
    let poll_interval = cfg.poll_interval().unwrap_or(Duration::from_secs(60));
    let key = intake_key(&cfg);
    let timing = LeaseTiming::default();
    let mut backoff = BACKOFF_MIN;
    let mut held: Option<HeldLease> = None;
    tracing::info!(mailbox = %key, holder = %ctx.holder, "e-mail intake starting");
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        if held.as_ref().is_some_and(|l| l.check().is_err()) {
            tracing::warn!(mailbox = %key, "mailbox lease lost; another replica may read it now");
            held = None;
        }
        if held.is_none() {
            match HeldLease::acquire(&ctx.desk, &key, &ctx.holder, timing).await {
                Ok(Some(l)) => {
                    tracing::info!(mailbox = %key, holder = %ctx.holder, "mailbox lease taken: this replica reads the mailbox");
                    held = Some(l);
                }
                Ok(None) => {
                    tracing::debug!(mailbox = %key, "another replica holds the mailbox lease");
                    (ctx.health)(None);
                    if wait(&shutdown, timing.retry).await {
                        break;
                    }
                    continue;
                }
                Err(e) => {
                    let msg = format!("e-mail intake: lease: {e}");
                    tracing::warn!(mailbox = %key, error = %msg, "cannot take the mailbox lease");
                    metrics::counter!("aduan_email_imap_errors_total").increment(1);
                    (ctx.health)(Some(msg));
                    if wait(&shutdown, next_backoff(&mut backoff)).await {
                        break;
                    }
                    continue;
                }
            }
        }
        let Some(lease) = held.as_ref() else { continue };
        let mut reader = Reader {
            cfg: &cfg,
            ctx: &ctx,
            shutdown: &shutdown,
            key: key.clone(),
            security,
            poll_interval,
            lease,
            archive_error: None,
        };
        let outcome = reader.run(&mut backoff).await;
        metrics::gauge!("aduan_email_imap_connected").set(0.0);
        let pause = match outcome {
            Failure::Shutdown => break,
            Failure::LeaseLost => {
                tracing::warn!(mailbox = %key, "mailbox lease lost; another replica reads it now");
                held = None;
                timing.retry
            }
            f => {
                let msg = format!("e-mail intake: {f}");
                tracing::warn!(mailbox = %key, error = %msg, retry_in = ?backoff, "IMAP session ended");
                metrics::counter!("aduan_email_imap_errors_total").increment(1);
                (ctx.health)(Some(msg));
                next_backoff(&mut backoff)
            }
        };
        if wait(&shutdown, pause).await {
            break;
        }
    }
    if let Some(l) = held
        && let Err(e) = l.release().await
    {
        tracing::warn!(mailbox = %key, error = %e, "cannot release the mailbox lease");
    }
    tracing::info!(mailbox = %key, "e-mail intake stopped");
}

/// Sleep `d`; `true` when shutdown came first.
async fn wait(shutdown: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}

/// Return the current backoff and double it for next time.
fn next_backoff(backoff: &mut Duration) -> Duration {
    let now = *backoff;
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    now
}

/// Why a session ended.
#[derive(Debug)]
enum Failure {
    /// Connection, protocol or server trouble: reconnect after a backoff.
    Imap(String),
    /// The store failed: the message stays unread; reconnect after a backoff.
    Store(String),
    /// Another replica took the mailbox.
    LeaseLost,
    /// The shutdown token was cancelled.
    Shutdown,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Imap(m) => write!(f, "IMAP: {m}"),
            Failure::Store(m) => write!(f, "store: {m}"),
            Failure::LeaseLost => f.write_str("mailbox lease lost"),
            Failure::Shutdown => f.write_str("shutting down"),
        }
    }
}

fn imap_err(what: &str, e: impl fmt::Display) -> Failure {
    Failure::Imap(format!("{what}: {e}"))
}

fn store_err(e: DeskError) -> Failure {
    Failure::Store(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_minute() {
        let mut b = BACKOFF_MIN;
        let seen: Vec<u64> = (0..8).map(|_| next_backoff(&mut b).as_secs()).collect();
        assert_eq!(seen, vec![1, 2, 4, 8, 16, 32, 60, 60]);
    }
}
