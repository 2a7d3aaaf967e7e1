//! Per-client-address rate limits: the public endpoints' (`rate_limit = "20/hour"` and the
//! status, message and rating limits), and any other per-address limit (the login's).
//!
//! A fixed window per address, kept in memory: each replica limits on its own, which is
//! the intent (protection against floods, not accounting). An IPv4 address is one key; an
//! IPv6 address counts with its whole /64 (one subscriber's network: a host picks any
//! address in it at will). Each check is O(1): the table is split into shards, each its
//! own lock, holding at most `capacity / shards` addresses in least-recently-used order;
//! a new address in a full shard takes the place of that shard's least recently seen one.
//! Nothing is ever cleared wholesale, and memory stays bounded however many addresses
//! come.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer};

/// `N/unit` with unit second, minute, hour or day; `off` disables the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub per: Duration,
}

impl RateLimit {
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        let s = s.trim();
        if matches!(s, "off" | "none" | "unlimited" | "0") {
            return Ok(None);
        }
        let (n, unit) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: expected N/second|minute|hour|day or \"off\""))?;
        let max: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: `{n}` is not a whole number"))?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            u => return Err(format!("`{s}`: unknown unit `{u}`")),
        };
        if max == 0 {
            return Ok(None);
        }
        Ok(Some(RateLimit { max, per }))
    }
}

/// Deserialize a rate limit string.
pub fn deserialize_rate_limit<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<RateLimit>, D::Error> {
    let s = String::deserialize(d)?;
    RateLimit::parse(&s).map_err(serde::de::Error::custom)
}

/// Addresses a limiter remembers by default (about 4 MiB).
pub const DEFAULT_CAPACITY: usize = 65_536;

/// Shards of a limiter (independent locks).
const SHARDS: usize = 16;

/// "No node" in a shard's list.
const NIL: u32 = u32::MAX;

/// The key an address is counted under: an IPv4 address (in its IPv4-mapped form), or an
/// IPv6 address's /64 (whose low 64 bits are zero, so the two never collide).
pub fn key(ip: IpAddr) -> u128 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6) & !u128::from(u64::MAX),
    }
}

/// One address's window, in its shard's recency list.
#[derive(Debug)]
struct Node {
    key: u128,
    start: Instant,
    count: u32,
    prev: u32,
    next: u32,
}

/// A fixed-capacity table in least-recently-used order: a hash map to slots of a vector
/// that is a doubly linked list (most recent at `head`).
#[derive(Debug)]
struct Shard {
    map: HashMap<u128, u32>,
    nodes: Vec<Node>,
    head: u32,
    tail: u32,
    capacity: usize,
}

impl Shard {
    fn new(capacity: usize) -> Self {
        Shard {
            map: HashMap::new(),
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            capacity: capacity.max(1),
        }
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let n = &self.nodes[i as usize];
            (n.prev, n.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n as usize].prev = prev,
        }
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        {
            let n = &mut self.nodes[i as usize];
            n.prev = NIL;
            n.next = old;
        }
        match old {
            NIL => self.tail = i,
            o => self.nodes[o as usize].prev = i,
        }
        self.head = i;
    }

    /// The window of `key`, made the most recent (a new one if unknown, taking the least
    /// recent one's place when full).
    fn touch(&mut self, key: u128, now: Instant) -> &mut Node {
        let i = if let Some(&i) = self.map.get(&key) {
            self.unlink(i);
            i
        } else if self.nodes.len() < self.capacity {
            let i = self.nodes.len() as u32;
            self.nodes.push(Node {
                key,
                start: now,
                count: 0,
                prev: NIL,
                next: NIL,
            });
            self.map.insert(key, i);
            i
        } else {
            let i = self.tail;
            self.unlink(i);
            let old = std::mem::replace(
                &mut self.nodes[i as usize],
                Node {
                    key,
                    start: now,
                    count: 0,
                    prev: NIL,
                    next: NIL,
                },
            );
            self.map.remove(&old.key);
            self.map.insert(key, i);
            i
        };
        self.push_front(i);
        &mut self.nodes[i as usize]
    }
}

/// The limiter state.
#[derive(Debug)]
pub struct Limiter {
    limit: Option<RateLimit>,
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

impl Limiter {
    pub fn new(limit: Option<RateLimit>) -> Self {
        Self::with_capacity(limit, DEFAULT_CAPACITY)
    }

    /// A limiter remembering at most about `capacity` addresses.
    pub fn with_capacity(limit: Option<RateLimit>, capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Limiter {
            limit,
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard::new(per_shard)))
                .collect(),
            hasher: RandomState::new(),
        }
    }

    /// The limit applied (`None`: off).
    pub fn limit(&self) -> Option<RateLimit> {
        self.limit
    }

    /// Count one request from `ip`; `Err(retry_after)` when over the limit.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let key = key(ip);
        let shard = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        let mut shard = self.shards[shard].lock().unwrap_or_else(|p| p.into_inner());
        let entry = shard.touch(key, now);
        let elapsed = now.saturating_duration_since(entry.start);
        if elapsed >= limit.per {
            entry.start = now;
            entry.count = 0;
        }
        if entry.count >= limit.max {
            return Err(limit
                .per
                .saturating_sub(now.saturating_duration_since(entry.start)));
        }
        entry.count += 1;
        Ok(())
    }

    /// Addresses remembered now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).nodes.len())
            .sum()
    }

    /// Whether no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Most addresses remembered at once.
    pub fn capacity(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).capacity)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_limits() {
        assert_eq!(
            RateLimit::parse("20/hour").unwrap(),
            Some(RateLimit {
                max: 20,
                per: Duration::from_secs(3600)
            })
        );
        assert_eq!(RateLimit::parse("off").unwrap(), None);
        assert!(RateLimit::parse("20 per hour").is_err());
        assert!(RateLimit::parse("x/hour").is_err());
        assert!(RateLimit::parse("5/fortnight").is_err());
    }

    #[test]
    fn limits_per_address_and_window() {
        let l = Limiter::new(RateLimit::parse("2/minute").unwrap());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t = Instant::now();
        assert!(l.check(a, t).is_ok());
        assert!(l.check(a, t).is_ok());
        assert!(l.check(a, t).is_err());
        assert!(l.check(b, t).is_ok());
        assert!(l.check(a, t + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn ipv6_counts_per_64_and_ipv4_per_address() {
        let l = Limiter::new(RateLimit::parse("2/hour").unwrap());
        let t = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:fffe".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(l.check(a, t).is_ok());
        assert!(l.check(b, t).is_ok());
        assert!(l.check(a, t).is_err(), "one /64 shares one limit");
        assert!(l.check(b, t).is_err());
        assert!(
            l.check(other, t).is_ok(),
            "the next /64 is another subscriber"
        );
        // IPv4: per address, and the same whether written mapped or not.
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let next: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(l.check(v4, t).is_ok());
        assert!(l.check(mapped, t).is_ok());
        assert!(l.check(v4, t).is_err());
        assert!(l.check(next, t).is_ok());
        // An IPv4 key never meets a /64's.
        assert_ne!(key(v4), key("::ffff:0:0:0".parse().unwrap()));
        assert_ne!(key(v4), key("::".parse().unwrap()));
    }

    #[test]
    fn memory_is_bounded_and_only_the_least_recent_are_forgotten() {
        let l = Limiter::with_capacity(RateLimit::parse("3/hour").unwrap(), 4096);
        let t = Instant::now();
        let hot: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(hot, t).is_ok());
        }
        // 100,000 distinct addresses (half IPv4, half IPv6 networks), the limited address
        // coming back in between: the table never holds more than its capacity, and the
        // address still in use keeps its count.
        for i in 0..100_000u32 {
            let ip = if i % 2 == 0 {
                IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i))
            } else {
                IpAddr::V6(std::net::Ipv6Addr::from(
                    (0x2001_0db8_u128 << 96) | (u128::from(i) << 64) | 1,
                ))
            };
            assert!(l.check(ip, t).is_ok(), "a new address is counted from zero");
            if i % 1000 == 0 {
                assert!(l.check(hot, t).is_err(), "cleared after {i} addresses");
            }
            assert!(l.len() <= l.capacity());
        }
        assert!(l.len() <= 4096 + SHARDS, "{}", l.len());
        assert!(l.check(hot, t).is_err());
        // The first of the flood was the least recently seen: forgotten, so it counts
        // from zero again.
        let first = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000));
        for _ in 0..3 {
            assert!(l.check(first, t).is_ok());
        }
        assert!(l.check(first, t).is_err());
    }
}
