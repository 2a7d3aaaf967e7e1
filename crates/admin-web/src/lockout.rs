//! Login lockout: after [`MAX_FAILURES`] failed logins for one username within [`WINDOW`],
//! that username is refused for [`LOCK`] (even with the right password).
//!
//! The counters live in memory of each replica: with N replicas behind a load balancer an
//! attacker gets at most N × 5 guesses per 15 minutes. Time comes from the desk's clock, so
//! tests can move it. At most [`MAX_ENTRIES`] usernames are tracked; when full, the username
//! tracked longest ago is forgotten (never the whole map; a live lock is spared), and the per-address limit
//! ([`crate::guard`]) keeps one client from churning through it.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::bounded::BoundedMap;

use chrono::{DateTime, Duration, Utc};

/// Failed logins that lock a username.
pub const MAX_FAILURES: usize = 5;
/// Window in which the failures are counted (minutes).
pub const WINDOW_MINUTES: i64 = 15;
/// How long a username stays locked (minutes).
pub const LOCK_MINUTES: i64 = 15;
/// Usernames tracked at most (bounded memory under a flood of made-up names).
pub const MAX_ENTRIES: usize = 50_000;

const WINDOW: Duration = Duration::minutes(WINDOW_MINUTES);
const LOCK: Duration = Duration::minutes(LOCK_MINUTES);

#[derive(Default)]
struct Entry {
    failures: VecDeque<DateTime<Utc>>,
    locked_until: Option<DateTime<Utc>>,
}

/// Failed-login counters per username.
pub struct Lockout {
    inner: Mutex<BoundedMap<String, Entry>>,
}

impl Default for Lockout {
    fn default() -> Self {
        Lockout::with_capacity(MAX_ENTRIES)
    }
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

    /// A lockout tracking at most `cap` usernames.
    pub fn with_capacity(cap: usize) -> Self {
        Lockout {
            inner: Mutex::new(BoundedMap::new(cap)),
        }
    }

    /// Count a failed login; returns the lock's end when this failure locked the username.
    pub fn record_failure(&self, username: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // When full, spare live locks (a flood of made-up names must not unlock a username).
        let e = m.get_or_insert_keeping(key(username), Entry::default, |e| {
            e.locked_until.is_some_and(|u| u > now)
        });
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
    fn a_full_map_forgets_the_oldest_username_not_all() {
        let l = Lockout::default();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
        // A locked username, then a flood of made-up names filling the map, the last of them
        // four failures short... one short of a lock.
        for i in 0..5 {
            l.record_failure("ayu", t0 + Duration::seconds(i));
        }
        for i in 0..MAX_ENTRIES - 2 {
            l.record_failure(&format!("palsu{i}"), t0 + Duration::seconds(10));
        }
        for i in 0..4 {
            l.record_failure("tebak", t0 + Duration::seconds(11 + i));
        }
        // The map is full: the next new name evicts one old entry. Main emptied every
        // unlocked entry here, forgetting the four failures of "tebak".
        l.record_failure("satu.lagi", t0 + Duration::seconds(20));
        assert!(l.inner.lock().unwrap().len() <= MAX_ENTRIES);
        assert!(
            l.record_failure("tebak", t0 + Duration::seconds(21))
                .is_some(),
            "the fifth failure locks: the earlier four were kept"
        );
        assert!(
            l.locked_until("ayu", t0 + Duration::seconds(22)).is_some(),
            "lock spared"
        );
        assert!(
            l.locked_until("tebak", t0 + Duration::seconds(22))
                .is_some()
        );
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
