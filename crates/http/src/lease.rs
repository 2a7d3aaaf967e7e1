//! A named lease held by this replica and renewed in the background: one mailbox reader
//! and one Telegram poller among replicas (SPEC §6), failing over within 15 s.
//!
//! [`HeldLease::acquire`] takes the lease (the store's conditional upsert, with the desk's
//! clock, as before) and spawns a renewer that extends it every [`LeaseTiming::renew`],
//! whatever the holder is doing at the time — an IDLE, a long poll, a slow fetch. The holder
//! asks [`HeldLease::check`] before each commit, and waits on [`HeldLease::lost`] beside
//! every long wait. A lease counts as held only while its last successful renewal (timed
//! from when that renewal was *sent*) is younger than the TTL minus a safety margin, so a
//! holder whose renewals fail or hang stops before another replica can take the lease over;
//! a renewal refused because another holder has it marks the lease lost at once.
//!
//! Timing (defaults): TTL 10 s, renewal every 3 s, standbys asking every 2 s. After the
//! holder dies its lease runs out at most 10 s after its last renewal, and a standby takes it
//! within the next 2 s: failover ≤ 12 s plus the new reader's start (connect, `SELECT`, sync).

use std::time::{Duration, Instant};

use aduan_core::desk::{Desk, DeskError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a taken or renewed lease lasts.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often the holder renews it.
pub const LEASE_RENEW: Duration = Duration::from_secs(3);
/// How often a replica without the lease asks for it.
pub const LEASE_RETRY: Duration = Duration::from_secs(2);
/// The holder stops this long before its lease could run out.
pub const LEASE_MARGIN: Duration = Duration::from_secs(2);

/// The timing of a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// How long a taken or renewed lease lasts.
    pub ttl: Duration,
    /// How often the holder renews it (well below `ttl - margin`).
    pub renew: Duration,
    /// How often a replica without the lease asks for it.
    pub retry: Duration,
    /// The holder stops this long before its lease could run out.
    pub margin: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming {
            ttl: LEASE_TTL,
            renew: LEASE_RENEW,
            retry: LEASE_RETRY,
            margin: LEASE_MARGIN,
        }
    }
}

impl LeaseTiming {
    /// How long after a renewal was sent it stops counting.
    fn valid_for(&self) -> Duration {
        self.ttl.saturating_sub(self.margin)
    }
}

/// The lease is no longer ours (taken over, or not renewed in time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseLost;

impl std::fmt::Display for LeaseLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("lease lost")
    }
}

/// A lease this replica holds; renewed in the background until released or dropped.
pub struct HeldLease {
    desk: Desk,
    name: String,
    holder: String,
    timing: LeaseTiming,
    /// When the newest successful renewal was sent; `None` once lost.
    state: watch::Receiver<Option<Instant>>,
    stop: CancellationToken,
    renewer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for HeldLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldLease")
            .field("name", &self.name)
            .field("holder", &self.holder)
            .field("held", &self.check().is_ok())
            .finish()
    }
}

impl HeldLease {
    /// Take lease `name` for `holder` (or renew it when `holder` already has it); `None`
    /// when another holder's lease is live.
    pub async fn acquire(
        desk: &Desk,
        name: &str,
        holder: &str,
        timing: LeaseTiming,
    ) -> Result<Option<HeldLease>, DeskError> {
        let sent = Instant::now();
        if !desk.intake().try_lease(name, holder, ttl(timing)).await? {
            return Ok(None);
        }
        let (tx, rx) = watch::channel(Some(sent));
        let stop = CancellationToken::new();
        let renewer = tokio::spawn(renew(
            desk.clone(),
            name.to_string(),
            holder.to_string(),
            timing,
            tx,
            stop.clone(),
        ));
        Ok(Some(HeldLease {
            desk: desk.clone(),
            name: name.to_string(),
            holder: holder.to_string(),
            timing,
            state: rx,
            stop,
            renewer: Some(renewer),
        }))
    }

    /// The lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `Ok` while the lease is ours with the safety margin: call it before every commit
    /// made under the lease.
    pub fn check(&self) -> Result<(), LeaseLost> {
        match *self.state.borrow() {
            Some(sent) if sent.elapsed() < self.timing.valid_for() => Ok(()),
            _ => Err(LeaseLost),
        }
    }

    /// Resolves once the lease is lost (at once when it already is): select on it beside
    /// every long wait.
    pub async fn lost(&self) {
        let mut rx = self.state.clone();
        loop {
            let deadline = match *rx.borrow_and_update() {
                Some(sent) if sent.elapsed() < self.timing.valid_for() => {
                    sent + self.timing.valid_for()
                }
                _ => return,
            };
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        // The renewer ended: the lease is only as good as its last renewal.
                        tokio::time::sleep_until(deadline.into()).await;
                        return;
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => return,
            }
        }
    }

    /// Stop renewing and delete the lease (when still ours), so another replica may take
    /// it at once.
    pub async fn release(mut self) -> Result<(), DeskError> {
        self.stop.cancel();
        if let Some(r) = self.renewer.take() {
            // A renewal in flight must not land after the release.
            let _ = r.await;
        }
        self.desk
            .intake()
            .release_lease(&self.name, &self.holder)
            .await
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        // Dropped without release: stop renewing; the lease runs out by itself.
        self.stop.cancel();
    }
}

fn ttl(t: LeaseTiming) -> chrono::Duration {
    chrono::Duration::from_std(t.ttl).unwrap_or(chrono::Duration::seconds(10))
}

/// The renewer: extend the lease every `timing.renew` until stopped, refused or out of time.
async fn renew(
    desk: Desk,
    name: String,
    holder: String,
    timing: LeaseTiming,
    tx: watch::Sender<Option<Instant>>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(timing.renew) => {}
        }
        let sent = Instant::now();
        let intake = desk.intake();
        let attempt = intake.try_lease(&name, &holder, ttl(timing));
        let result = tokio::select! {
            _ = stop.cancelled() => return,
            r = tokio::time::timeout(timing.valid_for(), attempt) => r,
        };
        if stop.is_cancelled() {
            return;
        }
        match result {
            Ok(Ok(true)) => {
                tx.send_replace(Some(sent));
            }
            Ok(Ok(false)) => {
                tracing::warn!(lease = %name, holder = %holder, "lease taken over by another replica");
                tx.send_replace(None);
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(lease = %name, error = %e, "cannot renew the lease");
            }
            Err(_) => tracing::warn!(lease = %name, "renewing the lease timed out"),
        }
        let last = *tx.borrow();
        if last.is_none_or(|at| at.elapsed() >= timing.valid_for()) {
            tracing::warn!(lease = %name, "lease not renewed in time; giving it up");
            tx.send_replace(None);
            return;
        }
    }
}
