//! Signalling the workers' [`Wakeups`] from the writes that give them work.
//!
//! A write that queues outbox rows or sets a due time collects a [`Signals`]. Inside its
//! transaction, [`Signals::in_tx`] sends them to the other replicas (PostgreSQL
//! `pg_notify` on [`CHANNEL`]: delivered only if and when the transaction commits; nothing
//! on SQLite, which has one process); after the commit, [`Signals::local`] wakes this
//! process's workers at once. The PostgreSQL store's listener turns other replicas'
//! notifications back into [`Wakeups`] calls ([`apply`]).

use chrono::{DateTime, Utc};

use aduan_core::store::StoreError;
use aduan_core::wake::Wakeups;

use crate::backend::{Backend, Conn};

/// The PostgreSQL notification channel.
pub(crate) const CHANNEL: &str = "aduan_wake";
/// Payload: outbox rows were queued.
const REPLIES: &str = "replies";
/// Payload prefix: a due time (unix ms) was set.
const DEADLINE: &str = "deadline:";

/// What a write tells the workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Signals {
    /// Outbox rows were queued.
    pub replies: bool,
    /// The earliest due time set.
    pub deadline: Option<DateTime<Utc>>,
}

impl Signals {
    /// Note a due time the write sets.
    pub fn deadline(&mut self, due: Option<DateTime<Utc>>) {
        if let Some(d) = due {
            self.deadline = Some(self.deadline.map_or(d, |e| e.min(d)));
        }
    }

    /// Tell the other replicas, inside the writing transaction.
    pub async fn in_tx<B: Backend>(&self, conn: &mut Conn<B>) -> Result<(), StoreError> {
        if self.replies {
            B::notify_in_tx(conn, REPLIES).await?;
        }
        if let Some(d) = self.deadline {
            B::notify_in_tx(conn, &format!("{DEADLINE}{}", d.timestamp_millis())).await?;
        }
        Ok(())
    }

    /// Wake this process's workers, after the commit.
    pub fn local(&self, w: &Wakeups) {
        if self.replies {
            w.replies_queued();
        }
        if let Some(d) = self.deadline {
            w.deadline_set(d);
        }
    }
}

/// Apply a notification received from another replica (unknown payloads wake both).
pub(crate) fn apply(w: &Wakeups, payload: &str) {
    if payload == REPLIES {
        w.replies_queued();
    } else if let Some(d) = payload
        .strip_prefix(DEADLINE)
        .and_then(|ms| ms.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
    {
        w.deadline_set(d);
    } else {
        w.wake_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_deadline_is_kept() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut s = Signals::default();
        s.deadline(None);
        assert_eq!(s.deadline, None);
        s.deadline(Some(t));
        s.deadline(Some(t + chrono::Duration::seconds(5)));
        s.deadline(Some(t - chrono::Duration::seconds(5)));
        assert_eq!(s.deadline, Some(t - chrono::Duration::seconds(5)));
    }
}
