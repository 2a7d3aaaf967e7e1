//! The media worker loop a chat channel runs as one of its tasks: it drives
//! [`Desk::media`](aduan_core::desk::Desk::media) with the channel's fetchers until
//! shutdown — a pass whenever a job is due, when the channel's intake wakes it, or at least
//! every [`IDLE_POLL`] (jobs of other replicas, leases that ran out).
//!
//! The loop logs each attempt by job id, ticket, channel and kind; never a file name, a
//! platform reference or a URL. A failing store is reported to the channel's health and
//! retried after a pause. On shutdown an attempt in flight is abandoned: its job stays
//! claimed until its lease runs out and is then fetched again (by this or another replica).

use std::sync::Arc;
use std::time::Duration;

use aduan_core::desk::Desk;
use aduan_core::services::MediaFetchers;
use aduan_core::types::Channel;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::channel::{HealthFn, Task};

/// Longest sleep between passes when nothing is due.
pub const IDLE_POLL: Duration = Duration::from_secs(5);
/// Pause after a store error.
const ERROR_PAUSE: Duration = Duration::from_secs(2);

/// The worker of one channel: its fetchers (one per platform), the size limit and the
/// wake-up its intake notifies after committing a message with files.
pub struct MediaWorker {
    pub desk: Desk,
    pub fetchers: MediaFetchers,
    /// Largest file stored, in bytes.
    pub max_bytes: u64,
    pub wake: Arc<Notify>,
    pub health: HealthFn,
}

impl MediaWorker {
    /// The loop as a channel task (see the module docs).
    pub fn task(self, shutdown: CancellationToken) -> Task {
        Box::pin(self.run(shutdown))
    }

    /// Run until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let channels: Vec<Channel> = self.fetchers.keys().copied().collect();
        let media = self.desk.media();
        let mut failing = false;
        loop {
            let pass = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = media.run_once(&self.fetchers, self.max_bytes) => r,
            };
            let wait = match pass {
                Ok(run) => {
                    if failing {
                        (self.health)(None);
                        failing = false;
                    }
                    for a in &run.attempts {
                        tracing::info!(
                            media_job = a.job,
                            ticket = %a.ticket,
                            channel = %a.channel,
                            kind = %a.kind,
                            outcome = a.outcome,
                            lease_kept = a.lease_kept,
                            "media job attempted"
                        );
                    }
                    if run.claimed > 0 {
                        // More may be due right away.
                        continue;
                    }
                    match media.next_due(&channels).await {
                        Ok(Some(due)) => (due - self.desk.now())
                            .to_std()
                            .unwrap_or(Duration::ZERO)
                            .min(IDLE_POLL),
                        Ok(None) => IDLE_POLL,
                        Err(e) => {
                            tracing::warn!(error = %e, "media worker: next due time unknown");
                            ERROR_PAUSE
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "media worker: pass failed");
                    (self.health)(Some(format!("media downloads: {e}")));
                    failing = true;
                    ERROR_PAUSE
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
            }
        }
        tracing::debug!("media worker stopped");
    }
}
