//! Latency percentiles, computed exactly by sorting every sample (no histogram buckets).
//!
//! A 20-second run at a few thousand requests a second is a few hundred thousand `u64`s:
//! sorting them takes milliseconds, and the figures are exact rather than bucketed.

use std::time::Duration;

/// Summary of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// Summarise latencies given in microseconds. Sorts `us` in place. Empty → all zeros.
pub fn summarise(us: &mut [u64]) -> Latency {
    if us.is_empty() {
        return Latency::default();
    }
    us.sort_unstable();
    let ms = |v: u64| v as f64 / 1000.0;
    let sum: u128 = us.iter().map(|&v| u128::from(v)).sum();
    Latency {
        count: us.len(),
        p50: ms(percentile(us, 50.0)),
        p90: ms(percentile(us, 90.0)),
        p99: ms(percentile(us, 99.0)),
        max: ms(us[us.len() - 1]),
        mean: sum as f64 / us.len() as f64 / 1000.0,
    }
}

/// Nearest-rank percentile of an ascending, non-empty slice: the smallest value such that at
/// least `p` percent of the samples are at or below it.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    assert!(!sorted.is_empty(), "percentile of no samples");
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// Parse a duration such as `20s`, `500ms`, `1m30s`, `2h` or a bare `20` (seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return secs_to_duration(secs, s);
    }
    let mut total = 0.0_f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("`{s}`: expected a number before `{rest}`"));
        }
        let (num, tail) = rest.split_at(num_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("`{s}`: `{num}` is not a number"))?;
        let scale = match unit.trim() {
            "ms" => 0.001,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("`{s}`: a unit (ms, s, m, h) must follow `{num}`")),
            u => return Err(format!("`{s}`: unknown unit `{u}` (use ms, s, m or h)")),
        };
        total += n * scale;
        rest = tail;
    }
    secs_to_duration(total, s)
}

fn secs_to_duration(secs: f64, s: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 90.0), 90);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 50.0), 7);
        assert_eq!(percentile(&[1, 2], 0.0), 1);
        assert_eq!(percentile(&[1, 2, 3], 50.0), 2);
    }

    #[test]
    fn summary_in_ms() {
        let mut v = vec![3000, 1000, 2000, 4000];
        let l = summarise(&mut v);
        assert_eq!(l.count, 4);
        assert_eq!(l.p50, 2.0);
        assert_eq!(l.p99, 4.0);
        assert_eq!(l.max, 4.0);
        assert_eq!(l.mean, 2.5);
        assert_eq!(summarise(&mut []), Latency::default());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("20"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("-1").is_err());
    }
}
