//! The outbox worker task: drains due replies, then sleeps until the next one is due, until
//! a commit queues replies (the store's wake-ups: in process, and from other replicas via
//! PostgreSQL `NOTIFY`), or at most `idle_poll` (the fallback), and stops at the shutdown
//! token. Holds no transaction across a send.

use std::time::Duration;

use aduan_core::outbox::Outbox;
use tokio_util::sync::CancellationToken;

/// Run until `shutdown` is cancelled.
pub async fn run(outbox: Outbox, shutdown: CancellationToken, idle_poll: Duration) {
    let wakeups = outbox.wakeups();
    let mut backoff = Duration::from_millis(200);
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        match outbox.run_once().await {
            Ok(o) if o.claimed > 0 => {
                metrics::counter!("aduan_replies_total", "outcome" => "sent")
                    .increment(o.sent as u64);
                metrics::counter!("aduan_replies_total", "outcome" => "retried")
                    .increment(o.retried as u64);
                metrics::counter!("aduan_replies_total", "outcome" => "failed")
                    .increment(o.failed as u64);
                backoff = Duration::from_millis(200);
                continue; // more may be due
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "outbox pass failed; backing off");
                backoff = (backoff * 2).min(Duration::from_secs(30));
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => continue,
                }
            }
        }
        let wait = match outbox.next_due().await {
            Ok(Some(t)) => (t - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(idle_poll),
            _ => idle_poll,
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wakeups.replies() => {}
            _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
        }
    }
}
