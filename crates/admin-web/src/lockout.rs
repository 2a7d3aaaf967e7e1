//! Login lockout: after [`MAX_FAILURES`] failed logins for one username within [`WINDOW`],
//! that username is refused for [`LOCK`] (even with the right password).
//!
//! The counters live in memory of each replica: with N replicas behind a load balancer an
//! attacker gets at most N × 5 guesses per 15 minutes. Time comes from the desk's clock, so
//! tests can move it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Failed logins that lock a username.
pub const MAX_FAILURES: usize = 5;
/// Window in which the failures are counted (minutes).
pub const WINDOW_MINUTES: i64 = 15;
/// How long a username stays locked (minutes).
pub const LOCK_MINUTES: i64 = 15;
/// Usernames tracked at most (bounded memory under a flood of made-up names).
const MAX_ENTRIES: usize = 50_000;

const WINDOW: Duration = Duration::minutes(WINDOW_MINUTES);
const LOCK: Duration = Duration::minutes(LOCK_MINUTES);

#[derive(Default)]
struct Entry {
    failures: VecDeque<DateTime<Utc>>,
    locked_until: Option<DateTime<Utc>>,
}

impl Entry {
    fn stale(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_none_or(|u| u <= now)
            && self.failures.back().is_none_or(|t| *t + WINDOW <= now)
    }
}

/// Failed-login counters per username.
#[derive(Default)]
pub struct Lockout {
    inner: Mutex<HashMap<String, Entry>>,
}

fn key(username: &str) -> String {
    username.trim().chars().take(64).collect::<String>()
}

impl Lockout {
    /// When the username is locked at `now`, until when.
    pub fn locked_until(&self, username: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&key(username))
            .and_then(|e| e.locked_until)
            .filter(|u| *u > now)
    }

    /// Count a failed login; returns the lock's end when this failure locked the username.
    pub fn record_failure(&self, username: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_ENTRIES {
            m.retain(|_, e| !e.stale(now));
            if m.len() >= MAX_ENTRIES {
                // Still full of live entries: forget those that are not locked.
                m.retain(|_, e| e.locked_until.is_some_and(|u| u > now));
            }
        }
        let e = m.entry(key(username)).or_default();
        if e.locked_until.is_some_and(|u| u <= now) {
            e.locked_until = None;
            e.failures.clear();
        }
        while e.failures.front().is_some_and(|t| *t + WINDOW <= now) {
            e.failures.pop_front();
        }
        e.failures.push_back(now);
        if e.failures.len() >= MAX_FAILURES {
            let until = now + LOCK;
            e.locked_until = Some(until);
            e.failures.clear();
            return Some(until);
        }
        None
    }

    /// A successful login clears the username's failures.
    pub fn clear(&self, username: &str) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(&key(username));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn five_failures_within_the_window_lock_for_fifteen_minutes() {
        let l = Lockout::default();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
        for i in 0..4 {
            assert_eq!(l.record_failure("ayu", t0 + Duration::minutes(i)), None);
            assert_eq!(l.locked_until("ayu", t0 + Duration::minutes(i)), None);
        }
        let until = l.record_failure("ayu", t0 + Duration::minutes(4)).unwrap();
        assert_eq!(until, t0 + Duration::minutes(19));
        assert_eq!(
            l.locked_until("ayu", t0 + Duration::minutes(18)),
            Some(until)
        );
        assert_eq!(l.locked_until("ayu", t0 + Duration::minutes(19)), None);
        // Other usernames are unaffected.
        assert_eq!(l.locked_until("budi", t0 + Duration::minutes(5)), None);
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let l = Lockout::default();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
        for i in 0..4 {
            l.record_failure("ayu", t0 + Duration::minutes(i));
        }
        // 20 minutes later the old four have left the window.
        assert_eq!(l.record_failure("ayu", t0 + Duration::minutes(20)), None);
        l.clear("ayu");
        assert_eq!(l.locked_until("ayu", t0 + Duration::minutes(20)), None);
    }
}
