//! Bounded work for logins: a per-address attempt limit checked before anything else, and a
//! small semaphore around password verification (argon2 takes ~19 MiB and tens of
//! milliseconds of CPU per attempt).
//!
//! - [`AddressLimit`]: at most [`LoginLimits::per_address_per_minute`] login posts per client
//!   address per minute (IPv4 per address, IPv6 per /64, an IPv4-mapped IPv6 address as its
//!   IPv4 address); over it the login answers 429 with `Retry-After` at once. The table holds
//!   at most [`MAX_ADDRESSES`] addresses and forgets the one seen longest ago when full.
//! - [`Verifier`]: password checks run on the blocking pool while holding one of
//!   [`LoginLimits::max_concurrent`] permits (default: one fewer than the cores, at least one,
//!   so a core stays free for everything else); when none is free
//!   the login answers 503 with `Retry-After` at once instead of queueing. The permit moves
//!   into the blocking task, so a client that hangs up does not free it before argon2 ends.
//! - [`LoginStats`]: what happened, for tests and the metrics (`aduan_admin_login_*`).

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Duration, Utc};
use tokio::sync::Semaphore;

use crate::bounded::BoundedMap;

/// Client addresses tracked at most by the per-address limit.
pub const MAX_ADDRESSES: usize = 50_000;

/// The login's limits (see the module docs).
#[derive(Clone, Debug)]
pub struct LoginLimits {
    /// Password verifications running at once at most (at least 1).
    pub max_concurrent: usize,
    /// Login posts per client address per minute (at least 1).
    pub per_address_per_minute: u32,
    /// Counters shared with whoever holds a clone (tests, operators).
    pub stats: Arc<LoginStats>,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            // One core stays free for the async workers (health checks, intake) even while
            // every permit runs argon2.
            max_concurrent: std::thread::available_parallelism()
                .map_or(1, |n| n.get().saturating_sub(1))
                .max(1),
            per_address_per_minute: 20,
            stats: Arc::default(),
        }
    }
}

/// Counters of the login guard.
#[derive(Debug, Default)]
pub struct LoginStats {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    verifications: AtomicU64,
    busy: AtomicU64,
    address_limited: AtomicU64,
}

impl LoginStats {
    /// Password verifications running now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
    /// Most password verifications that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
    /// Password verifications started.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::SeqCst)
    }
    /// Logins answered 503 because every permit was taken.
    pub fn busy(&self) -> u64 {
        self.busy.load(Ordering::SeqCst)
    }
    /// Logins answered 429 by the per-address limit.
    pub fn address_limited(&self) -> u64 {
        self.address_limited.load(Ordering::SeqCst)
    }
}

/// The client address of a request, by the same rule as the public endpoints
/// ([`aduan_http::ClientAddr`]).
pub(crate) fn client_addr(parts: &Parts) -> IpAddr {
    // The server's one rule: the TCP peer, or the right-most untrusted X-Forwarded-For entry
    // when the peer is a `[server] trusted_proxies` proxy.
    aduan_http::ClientAddr::of(parts)
}

/// [`client_addr`] as an extractor.
pub(crate) struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(parts)))
    }
}

/// The key an address is counted under: IPv4 as is, IPv6 by its /64 prefix.
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

struct Window {
    start: DateTime<Utc>,
    count: u32,
}

/// Login posts per address per minute (fixed one-minute windows).
pub(crate) struct AddressLimit {
    per_minute: u32,
    map: Mutex<BoundedMap<IpAddr, Window>>,
}

impl AddressLimit {
    pub(crate) fn new(per_minute: u32, cap: usize) -> Self {
        AddressLimit {
            per_minute: per_minute.max(1),
            map: Mutex::new(BoundedMap::new(cap)),
        }
    }

    /// Count an attempt from `ip` at `now`; Err(seconds to wait) when over the limit.
    pub(crate) fn check(&self, ip: IpAddr, now: DateTime<Utc>) -> Result<(), u64> {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let w = m.get_or_insert_with(address_key(ip), || Window {
            start: now,
            count: 0,
        });
        if now >= w.start + Duration::minutes(1) || now < w.start {
            w.start = now;
            w.count = 0;
        }
        if w.count >= self.per_minute {
            let wait = (w.start + Duration::minutes(1) - now).num_seconds();
            return Err(wait.clamp(1, 60) as u64);
        }
        w.count += 1;
        Ok(())
    }
}

/// Password verification behind a semaphore.
pub(crate) struct Verifier {
    permits: Arc<Semaphore>,
    stats: Arc<LoginStats>,
}

/// A permit to verify one password (taken with [`Verifier::try_permit`]).
pub(crate) struct Permit {
    _permit: tokio::sync::OwnedSemaphorePermit,
    stats: Arc<LoginStats>,
}

impl Verifier {
    pub(crate) fn new(max_concurrent: usize, stats: Arc<LoginStats>) -> Self {
        Verifier {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            stats,
        }
    }

    /// A free permit, or None at once when every permit is taken (counted as busy).
    pub(crate) fn try_permit(&self) -> Option<Permit> {
        match self.permits.clone().try_acquire_owned() {
            Ok(p) => Some(Permit {
                _permit: p,
                stats: self.stats.clone(),
            }),
            Err(_) => {
                self.stats.busy.fetch_add(1, Ordering::SeqCst);
                metrics::counter!("aduan_admin_login_refused_total", "reason" => "busy")
                    .increment(1);
                None
            }
        }
    }

    pub(crate) fn address_limited(&self) {
        self.stats.address_limited.fetch_add(1, Ordering::SeqCst);
        metrics::counter!("aduan_admin_login_refused_total", "reason" => "address_limit")
            .increment(1);
    }
}

impl Permit {
    /// Check `password` against the PHC string `phc` on the blocking pool, holding the
    /// permit until argon2 is done.
    pub(crate) async fn verify(self, password: String, phc: String) -> bool {
        tokio::task::spawn_blocking(move || {
            let stats = self.stats.clone();
            let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            stats.peak.fetch_max(now, Ordering::SeqCst);
            stats.verifications.fetch_add(1, Ordering::SeqCst);
            metrics::gauge!("aduan_admin_login_verifications_in_flight").increment(1.0);
            use argon2::PasswordVerifier as _;
            let ok = argon2::Argon2::default()
                .verify_password(password.as_bytes(), phc.as_str())
                .is_ok();
            stats.in_flight.fetch_sub(1, Ordering::SeqCst);
            metrics::gauge!("aduan_admin_login_verifications_in_flight").decrement(1.0);
            drop(self);
            ok
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ipv6_is_keyed_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_limit_counts_per_address_per_minute() {
        let l = AddressLimit::new(3, 100);
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let same64: IpAddr = "2001:db8::ffff".parse().unwrap();
        let other: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(l.check(a, t0), Ok(()));
        }
        assert_eq!(l.check(same64, t0 + Duration::seconds(15)), Err(45));
        assert_eq!(l.check(other, t0), Ok(()));
        assert_eq!(l.check(a, t0 + Duration::seconds(60)), Ok(()));
    }

    #[test]
    fn the_address_table_is_bounded() {
        let l = AddressLimit::new(1, 1000);
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
        for i in 0..100_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i));
            assert_eq!(l.check(ip, t0), Ok(()));
        }
        assert_eq!(l.map.lock().unwrap().len(), 1000);
        // The most recent addresses are still limited.
        let last = IpAddr::V4(std::net::Ipv4Addr::from(99_999u32));
        assert!(l.check(last, t0).is_err());
    }
}
