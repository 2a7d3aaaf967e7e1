//! Wake-ups of the background workers by the writes that give them work.
//!
//! The outbox worker and the SLA timer sleep until their next due time (read from the
//! database) with a periodic re-check as a fallback. [`Wakeups`] cuts that sleep short:
//!
//! - [`Wakeups::replies_queued`]: a committed transaction queued outbox rows, so the
//!   outbox worker drains at once instead of at its next poll.
//! - [`Wakeups::deadline_set`]: a committed transaction set a step's due time (or a
//!   question's wait); the SLA timer is woken only when that time is earlier than the one
//!   it sleeps until.
//!
//! The store owns one `Wakeups` and signals it after each commit; on PostgreSQL the same
//! signals travel between replicas as `NOTIFY` in the writing transaction (see
//! `aduan-store`). A signal is never lost: a wake-up given while the worker is busy is kept
//! (one permit) and ends its next sleep at once. A spurious wake-up only costs one pass.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

/// In-process wake-ups of the outbox worker and the SLA timer (one per store).
#[derive(Debug)]
pub struct Wakeups {
    replies: Notify,
    deadlines: Notify,
    /// A monthly report has something to mail (the Kasi's conclusion).
    reports: Notify,
    /// Unix ms the SLA timer sleeps until; `i64::MAX` while it is awake (every deadline
    /// written then wakes it again, so one set during its pass is not missed).
    timer_until: AtomicI64,
}

impl Default for Wakeups {
    fn default() -> Self {
        Wakeups {
            replies: Notify::new(),
            deadlines: Notify::new(),
            reports: Notify::new(),
            timer_until: AtomicI64::new(i64::MAX),
        }
    }
}

impl Wakeups {
    pub fn new() -> Self {
        Self::default()
    }

    /// A committed write queued outbox rows.
    pub fn replies_queued(&self) {
        self.replies.notify_one();
    }

    /// Wait until [`replies_queued`](Self::replies_queued) was called (returns at once if it
    /// was called since the last wait returned).
    pub async fn replies(&self) {
        self.replies.notified().await
    }

    /// A committed report step has something to mail (this process's digest task sends it
    /// at once; another replica's within its retry period).
    pub fn report_to_mail(&self) {
        self.reports.notify_one();
    }

    /// Wait until [`report_to_mail`](Self::report_to_mail) was called (at once if it was
    /// called since the last wait returned).
    pub async fn reports(&self) {
        self.reports.notified().await
    }

    /// A committed write set a due time of the SLA timer.
    pub fn deadline_set(&self, due: DateTime<Utc>) {
        if due.timestamp_millis() < self.timer_until.load(Ordering::SeqCst) {
            self.deadlines.notify_one();
        }
    }

    /// Wake both workers (e.g. after cross-replica notifications may have been missed).
    pub fn wake_all(&self) {
        self.replies.notify_one();
        self.deadlines.notify_one();
    }

    /// The SLA timer starts a pass: every deadline written from now on wakes it.
    pub fn timer_awake(&self) {
        self.timer_until.store(i64::MAX, Ordering::SeqCst);
    }

    /// The SLA timer will sleep until `until`: only earlier deadlines wake it.
    pub fn timer_sleeps_until(&self, until: DateTime<Utc>) {
        self.timer_until
            .store(until.timestamp_millis(), Ordering::SeqCst);
    }

    /// Wait until a deadline earlier than the timer's was set (or one was set while it was
    /// awake).
    pub async fn deadlines(&self) {
        self.deadlines.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn woke(f: impl std::future::Future<Output = ()>) -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(20), f)
                .await
                .is_ok()
        })
    }

    #[test]
    fn a_wake_up_given_while_busy_is_kept() {
        let w = Wakeups::new();
        assert!(!woke(w.replies()));
        w.replies_queued();
        assert!(woke(w.replies()));
        assert!(!woke(w.replies()), "one permit, used once");
    }

    #[test]
    fn only_an_earlier_deadline_wakes_a_sleeping_timer() {
        let w = Wakeups::new();
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        w.timer_sleeps_until(t);
        w.deadline_set(t + chrono::Duration::seconds(1));
        assert!(!woke(w.deadlines()));
        w.deadline_set(t - chrono::Duration::seconds(1));
        assert!(woke(w.deadlines()));
        // Awake: any deadline counts.
        w.timer_awake();
        w.deadline_set(t + chrono::Duration::days(1));
        assert!(woke(w.deadlines()));
    }
}
