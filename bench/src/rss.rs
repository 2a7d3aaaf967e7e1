//! Resident memory of a process, read from `/proc/PID/status` (Linux only).
//!
//! `VmRSS` is the resident set size right now; `VmHWM` ("high water mark") is the largest
//! `VmRSS` the kernel has seen for the process since it started, so it also catches peaks
//! that fall between two of our 100 ms samples (and peaks from before we started looking,
//! e.g. during migrations at start-up). Both are reported by the kernel in kB (KiB).
//!
//! The kernel keeps `VmHWM` lazily (and per-thread RSS counters are batched), so on a fast-
//! changing process the sampled peak may exceed the final `VmHWM` by a few hundred KiB; the
//! report shows both rather than reconciling them.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::watch;

/// One reading of `/proc/PID/status`, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mem {
    /// `VmRSS`: resident set size now.
    pub rss_kb: u64,
    /// `VmHWM`: peak resident set size over the process's life.
    pub hwm_kb: u64,
}

/// Read `VmRSS` and `VmHWM` of `pid`.
pub fn read(pid: u32) -> anyhow::Result<Mem> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status(&text).with_context(|| format!("parsing {path}"))
}

/// Extract `VmRSS` and `VmHWM` from the text of a `/proc/PID/status` file.
pub fn parse_status(text: &str) -> anyhow::Result<Mem> {
    let mut rss = None;
    let mut hwm = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("VmRSS:") {
            rss = Some(parse_kb(v)?);
        } else if let Some(v) = line.strip_prefix("VmHWM:") {
            hwm = Some(parse_kb(v)?);
        }
    }
    match (rss, hwm) {
        (Some(rss_kb), Some(hwm_kb)) => Ok(Mem { rss_kb, hwm_kb }),
        // Kernel threads and zombies have no memory lines.
        _ => bail!("no VmRSS/VmHWM lines (kernel thread or exited process?)"),
    }
}

/// `"\t  12345 kB"` → 12345.
fn parse_kb(v: &str) -> anyhow::Result<u64> {
    let v = v.trim();
    let num = v.strip_suffix("kB").unwrap_or(v).trim();
    num.parse()
        .with_context(|| format!("`{v}` is not a kB figure"))
}

/// KiB → MiB, for display.
pub fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// What the background sampler saw.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// Number of successful readings.
    pub count: u64,
    /// Largest `VmRSS` among them, KiB.
    pub peak_kb: u64,
    /// The last `VmRSS` read, KiB.
    pub last_kb: u64,
    /// When `peak_kb` was seen, counted from the sampler's start.
    pub peak_at: Duration,
    /// The first read error (the process exited, most likely); sampling stops there.
    pub error: Option<String>,
}

/// Sample `VmRSS` of `pid` every `every` until `stop` flips to true, then return the summary.
///
/// Readings are cheap (one small procfs read) and run on the Tokio runtime; missed ticks are
/// skipped rather than bunched up, so a busy machine gives fewer samples, not a burst.
pub async fn sample(pid: u32, every: Duration, mut stop: watch::Receiver<bool>) -> Samples {
    let start = Instant::now();
    let mut out = Samples::default();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        match read(pid) {
            Ok(m) => {
                out.count += 1;
                out.last_kb = m.rss_kb;
                if m.rss_kb > out.peak_kb {
                    out.peak_kb = m.rss_kb;
                    out.peak_at = start.elapsed();
                }
            }
            Err(e) => {
                out.error = Some(format!("{e:#}"));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\taduan\nUmask:\t0022\nState:\tS (sleeping)\n\
        VmPeak:\t 1234568 kB\nVmSize:\t 1234567 kB\nVmHWM:\t   45678 kB\nVmRSS:\t   23456 kB\n\
        RssAnon:\t   10000 kB\nThreads:\t9\n";

    #[test]
    fn parses_rss_and_hwm() {
        let m = parse_status(STATUS).unwrap();
        assert_eq!(
            m,
            Mem {
                rss_kb: 23456,
                hwm_kb: 45678
            }
        );
    }

    #[test]
    fn missing_lines_are_an_error() {
        assert!(parse_status("Name:\tkthreadd\nState:\tS\n").is_err());
    }

    #[test]
    fn reads_own_process() {
        let m = read(std::process::id()).unwrap();
        assert!(m.rss_kb > 0);
        assert!(m.hwm_kb >= m.rss_kb);
    }

    #[tokio::test]
    async fn sampler_stops_on_signal() {
        let (tx, rx) = watch::channel(false);
        let h = tokio::spawn(sample(std::process::id(), Duration::from_millis(10), rx));
        tokio::time::sleep(Duration::from_millis(60)).await;
        tx.send(true).unwrap();
        let s = h.await.unwrap();
        assert!(s.count >= 1, "{s:?}");
        assert!(s.peak_kb >= s.last_kb);
        assert!(s.error.is_none());
    }
}
