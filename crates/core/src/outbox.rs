//! The reply outbox worker: claims due rows, renders them, hands them to the channel's
//! [`ReplySender`] and records the outcome (sent, retry with backoff, or failed).
//!
//! Error texts are recorded without the recipient ([`without_recipient`]): a refused
//! address quoted by an SMTP server never reaches the database, staff or a division.
//!
//! Give-up rule (SPEC §2 `[outbox] retry_for`): a reply is retried with backoff
//! ([`backoff`]: 30 s doubling, capped at [`MAX_BACKOFF`]) until `retry_for` has passed
//! since it was queued ([`OutboxItem::queued_at`]); the last attempt is made at that
//! deadline, and if it fails too the reply is failed (shown to staff). The number of
//! attempts no longer decides (the stored `max_attempts` of older rows is ignored), so a
//! day-long outage of SMTP, Graph or the Bot API loses nothing. SLA escalation mails are
//! outbox rows too and wait the same way.
//!
//! [`Outbox::run_once`] does one pass and reports what it did, so tests drain the outbox
//! without sleeping; the daemon calls it in a loop that sleeps until the next due row or
//! until a commit queues one ([`Outbox::wakeups`]). A pass sends up to
//! [`DEFAULT_CONCURRENCY`] of its claimed rows at a time (each row is still completed once,
//! under its own claim token).
//!
//! The platform gets the whole rendered text; the conversation records it with its secrets
//! (the access code) replaced ([`crate::secret::redact_secrets`]), and the store drops them
//! from the row once the outcome is final.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;

use crate::desk::Clock;
use crate::mask::without_recipient;
use crate::model::{OutboxItem, ReplyOutcome};
use crate::store::{Store, StoreError};
use crate::templates::Templates;
use crate::types::Channel;

/// A reply ready to go out.
#[derive(Debug, Clone)]
pub struct RenderedReply {
    pub item: OutboxItem,
    /// Rendered body text.
    pub text: String,
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying (network, 5xx, rate limit).
    #[error("transient: {0}")]
    Transient(String),
    /// Retry no earlier than `after` (e.g. Telegram 429 `retry_after`).
    #[error("retry after {after}: {message}")]
    RetryAfter { after: Duration, message: String },
    /// Will never succeed (blocked bot, invalid address, window closed).
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Sends replies on one channel. Returns the platform's id of the sent message, if any.
#[async_trait]
pub trait ReplySender: Send + Sync + 'static {
    async fn send(&self, reply: &RenderedReply) -> Result<Option<String>, SendError>;
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOutcome {
    pub claimed: usize,
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// Longest wait between two attempts: after an outage ends, every waiting reply goes out
/// within this.
pub const MAX_BACKOFF: Duration = Duration::minutes(15);

/// Claimed rows sent at the same time by one pass, by default.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// How long a reply is retried by default (SPEC §2 `[outbox] retry_for`).
pub const DEFAULT_RETRY_FOR: Duration = Duration::hours(48);

/// Backoff before attempt `attempts + 1`: 30 s doubling, capped at [`MAX_BACKOFF`].
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(0, 10) as u32;
    Duration::seconds(30i64 << exp).min(MAX_BACKOFF)
}

/// The outbox worker.
#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    templates: Arc<Templates>,
    senders: HashMap<Channel, Arc<dyn ReplySender>>,
    lease: Duration,
    batch: u32,
    retry_for: Duration,
    concurrency: usize,
}

impl Outbox {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        templates: Arc<Templates>,
        senders: HashMap<Channel, Arc<dyn ReplySender>>,
    ) -> Self {
        Outbox {
            store,
            clock,
            templates,
            senders,
            lease: Duration::minutes(2),
            batch: 32,
            retry_for: DEFAULT_RETRY_FOR,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// Send up to `n` (at least 1) claimed rows at the same time.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The wake-ups the store signals when a commit queues replies.
    pub fn wakeups(&self) -> Arc<crate::wake::Wakeups> {
        self.store.wakeups()
    }

    /// Retry each reply this long after it was queued (SPEC §2 `[outbox] retry_for`).
    pub fn with_retry_for(mut self, retry_for: Duration) -> Self {
        self.retry_for = retry_for.max(Duration::seconds(1));
        self
    }

    /// How long each reply is retried.
    pub fn retry_for(&self) -> Duration {
        self.retry_for
    }

    /// Channels with a sender.
    pub fn channels(&self) -> impl Iterator<Item = Channel> + '_ {
        self.senders.keys().copied()
    }

    /// Earliest time a pending row becomes due.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store.next_reply_due().await
    }

    /// Claim one batch of due rows and try each once.
    pub async fn run_once(&self) -> Result<RunOutcome, StoreError> {
        let now = self.clock.now();
        let items = self
            .store
            .claim_replies(now, self.lease, self.batch)
            .await?;
        let mut out = RunOutcome {
            claimed: items.len(),
            ..Default::default()
        };
        // Up to `concurrency` sends in flight; each row is completed right after its send.
        let mut done = futures::stream::iter(items)
            .map(|item| async move {
                let outcome = without_recipient_in(self.attempt(&item).await, &item.recipient);
                let kind = match &outcome {
                    ReplyOutcome::Sent { .. } => 0,
                    ReplyOutcome::Retry { .. } => 1,
                    ReplyOutcome::Failed { .. } => 2,
                };
                self.store
                    .complete_reply(&item, outcome)
                    .await
                    .map(|_| kind)
            })
            .buffer_unordered(self.concurrency);
        let mut first_error = None;
        while let Some(r) = done.next().await {
            match r {
                Ok(0) => out.sent += 1,
                Ok(1) => out.retried += 1,
                Ok(_) => out.failed += 1,
                // The row stays claimed until its lease ends, then is tried again.
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    async fn attempt(&self, item: &OutboxItem) -> ReplyOutcome {
        let attempts = item.attempts + 1; // this attempt
        let Some(sender) = self.senders.get(&item.channel) else {
            return ReplyOutcome::Failed {
                error: format!("no sender configured for channel {}", item.channel),
            };
        };
        let mut vars = item.vars.clone();
        if let Some(o) = vars.as_object_mut() {
            o.insert("ticket".into(), item.ticket.as_str().into());
        }
        let text = match self.templates.render(&item.template, &vars) {
            Ok(t) => t,
            Err(e) => {
                return ReplyOutcome::Failed {
                    error: e.to_string(),
                };
            }
        };
        let reply = RenderedReply {
            item: item.clone(),
            text: text.clone(),
        };
        let give_up_at = item.queued_at + self.retry_for;
        let retry = |error: String, wait: Duration| {
            let now = self.clock.now();
            if now >= give_up_at {
                ReplyOutcome::Failed {
                    error: format!(
                        "{error} (gave up after {attempts} attempts over {})",
                        span(now - item.queued_at)
                    ),
                }
            } else {
                // The last attempt is made at the deadline itself.
                ReplyOutcome::Retry {
                    error,
                    next_attempt_at: (now + wait).min(give_up_at),
                }
            }
        };
        match sender.send(&reply).await {
            Ok(external_id) => ReplyOutcome::Sent {
                external_id,
                at: self.clock.now(),
                // The stored copy never carries the access code.
                text: crate::secret::redact_secrets(&text, &item.vars),
            },
            Err(SendError::Permanent(e)) => ReplyOutcome::Failed { error: e },
            Err(SendError::Transient(e)) => retry(e, backoff(item.attempts)),
            Err(SendError::RetryAfter { after, message }) => {
                retry(message, after.max(Duration::seconds(1)))
            }
        }
    }
}

/// A duration for an error text: `26h 5m`, `45m`, `30s`.
fn span(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match (s / 3600, (s % 3600) / 60) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// The outcome with the recipient (address, chat id …) taken out of its error text: SMTP
/// servers quote the address they refuse, and the error is stored, shown to staff and
/// logged.
fn without_recipient_in(outcome: ReplyOutcome, recipient: &str) -> ReplyOutcome {
    match outcome {
        ReplyOutcome::Retry {
            error,
            next_attempt_at,
        } => ReplyOutcome::Retry {
            error: without_recipient(&error, recipient),
            next_attempt_at,
        },
        ReplyOutcome::Failed { error } => ReplyOutcome::Failed {
            error: without_recipient(&error, recipient),
        },
        sent @ ReplyOutcome::Sent { .. } => sent,
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use chrono::Duration;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::seconds(30));
        assert_eq!(backoff(1), Duration::seconds(60));
        assert_eq!(backoff(4), Duration::seconds(480));
        assert_eq!(backoff(5), Duration::seconds(900));
        assert_eq!(backoff(50), Duration::seconds(900));
        assert_eq!(backoff(-3), Duration::seconds(30));
    }

    #[test]
    fn spans_read_as_hours_and_minutes() {
        assert_eq!(super::span(Duration::seconds(30)), "30s");
        assert_eq!(super::span(Duration::minutes(45)), "45m");
        assert_eq!(super::span(Duration::hours(48)), "48h");
        assert_eq!(super::span(Duration::minutes(26 * 60 + 5)), "26h 5m");
    }
}
