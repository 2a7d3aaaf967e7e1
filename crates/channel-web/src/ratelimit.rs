//! Per-client-address rate limit for the public intake (`rate_limit = "20/hour"`).
//!
//! A fixed window per address, kept in memory: each replica limits on its own, which is
//! the intent (protection against floods, not accounting). Old windows are swept when the
//! table grows.

use std::collections::HashMap;
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

/// The limiter state.
#[derive(Debug)]
pub struct Limiter {
    limit: Option<RateLimit>,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Limiter {
    pub fn new(limit: Option<RateLimit>) -> Self {
        Limiter {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Count one request from `ip`; `Err(retry_after)` when over the limit.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 50_000 {
            map.retain(|_, (start, _)| now.duration_since(*start) < limit.per);
        }
        let entry = map.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= limit.per {
            *entry = (now, 0);
        }
        if entry.1 >= limit.max {
            return Err(limit.per.saturating_sub(now.duration_since(entry.0)));
        }
        entry.1 += 1;
        Ok(())
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
}
