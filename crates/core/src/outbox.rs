//! The reply outbox worker: claims due rows, renders them, hands them to the channel's
//! [`ReplySender`] and records the outcome (sent, retry with backoff, or failed).
//!
//! Error texts are recorded without the recipient ([`without_recipient`]): a refused
//! address quoted by an SMTP server never reaches the database, staff or a division.
//!
//! [`Outbox::run_once`] does one pass and reports what it did, so tests drain the outbox
//! without sleeping; the daemon calls it in a loop that sleeps until the next due row.
//!
//! The platform gets the whole rendered text; the conversation records it with its secrets
//! (the access code) replaced ([`crate::secret::redact_secrets`]), and the store drops them
//! from the row once the outcome is final.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

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

/// Backoff before attempt `attempts + 1`: 30 s doubling, capped at one hour.
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(0, 7) as u32;
    Duration::seconds((30i64 << exp).min(3600))
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
        }
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
        for item in items {
            let outcome = without_recipient_in(self.attempt(&item).await, &item.recipient);
            match &outcome {
                ReplyOutcome::Sent { .. } => out.sent += 1,
                ReplyOutcome::Retry { .. } => out.retried += 1,
                ReplyOutcome::Failed { .. } => out.failed += 1,
            }
            self.store.complete_reply(&item, outcome).await?;
        }
        Ok(out)
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
        let retry = |error: String, wait: Duration| {
            if attempts >= item.max_attempts {
                ReplyOutcome::Failed {
                    error: format!("{error} (gave up after {attempts} attempts)"),
                }
            } else {
                ReplyOutcome::Retry {
                    error,
                    next_attempt_at: self.clock.now() + wait,
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
        assert_eq!(backoff(6), Duration::seconds(1920));
        assert_eq!(backoff(7), Duration::seconds(3600));
        assert_eq!(backoff(50), Duration::seconds(3600));
    }
}
