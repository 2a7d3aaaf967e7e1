//! The `intake` load: N closed-loop clients filing complaints as fast as the daemon answers.
//!
//! # Timeline
//!
//! ```text
//!  start        warmup_end                         deadline        drained
//!    |-- warm-up --|--------- measured window --------|-- drain --|
//! ```
//!
//! Every client sends a request, waits for the whole response, checks it and sends the next
//! one (a closed loop: at most one request in flight per client, so `--clients` is the
//! concurrency). Clients stop *sending* at `deadline`; a request in flight then is waited
//! for (bounded by `--timeout`) and counted in the totals, so every complaint the daemon
//! committed is accounted for (`created_201` must equal the rows in the database).
//!
//! A request belongs to the measured window when its response *completed* within
//! `[warmup_end, deadline)`. The throughput is the successes of the window divided by the
//! window's length (exactly `--duration`), and the latency percentiles are over those same
//! successes. Latency is measured from just before the request is sent until its whole body
//! has been read, on a keep-alive connection (each client owns its `reqwest::Client`, so
//! each holds one connection per daemon; connection set-up falls in the warm-up).
//!
//! With several `--url`s (replicas sharing one database) the requests are spread
//! round-robin: request number `n` goes to daemon `n % count`.
//!
//! # Success
//!
//! A response is a success only if its status is `201 Created` *and* its JSON body has a
//! non-empty string `"ticket"`. Everything else is an error, keyed by status code (`"500"`,
//! `"429"`, `"201_no_ticket"`, …) or, without a response, by kind (`"connect"`, `"timeout"`,
//! `"request"`, `"body"`). After a transport error a client pauses 10 ms so that a daemon that
//! is down does not turn the benchmark into a busy loop.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::payload;
use crate::rss::{self, Mem, Samples};
use crate::stats::{self, Latency};

/// Pause after a failed connection or similar, so a dead daemon is not hammered in a loop.
const TRANSPORT_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// What to run.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Base URLs of the daemons, e.g. `http://127.0.0.1:8080`; with several (replicas on
    /// one database) request `n` goes to `urls[n % len]` (round-robin).
    pub urls: Vec<String>,
    pub clients: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Per-request timeout (connect + send + whole response).
    pub timeout: Duration,
    /// Daemon process to watch for memory, if any.
    pub pid: Option<u32>,
    /// Memory sampling period.
    pub sample_every: Duration,
    /// Send signed WhatsApp webhook deliveries to `/webhooks/meta` with this app secret
    /// instead of JSON complaints (success = 200, answered after the commit).
    pub meta_app_secret: Option<String>,
}

/// Counts of one client (and, merged, of all).
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    successes: u64,
    created_201: u64,
    errors: BTreeMap<String, u64>,
    window_requests: u64,
    window_successes: u64,
    window_errors: u64,
    /// Latencies of the window's successes, µs.
    window_latency_us: Vec<u64>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.requests += o.requests;
        self.successes += o.successes;
        self.created_201 += o.created_201;
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.window_requests += o.window_requests;
        self.window_successes += o.window_successes;
        self.window_errors += o.window_errors;
        self.window_latency_us.extend(o.window_latency_us);
    }
}

/// Memory figures of the daemon, KiB.
#[derive(Debug, Clone)]
pub struct MemReport {
    pub pid: u32,
    /// `VmRSS` read once just before the clients start.
    pub idle_kb: u64,
    /// `VmHWM` at that same moment.
    pub idle_hwm_kb: u64,
    /// What the sampler saw from the start of the load until the drain ended.
    pub samples: Samples,
    /// The sampling period.
    pub sample_every: Duration,
    /// `VmRSS` / `VmHWM` read once after the drain (absent if the daemon had gone).
    pub end: Option<Mem>,
}

/// Everything measured.
#[derive(Debug)]
pub struct Report {
    /// The endpoint URLs, comma-separated when several.
    pub endpoint: String,
    pub clients: usize,
    pub warmup: Duration,
    pub window: Duration,
    /// From `deadline` until the last in-flight request finished.
    pub drain: Duration,
    pub requests: u64,
    pub successes: u64,
    pub created_201: u64,
    pub errors: BTreeMap<String, u64>,
    pub window_requests: u64,
    pub window_successes: u64,
    pub window_errors: u64,
    pub latency: Latency,
    pub memory: Option<MemReport>,
}

impl Report {
    /// Successful complaints per second over the measured window.
    pub fn throughput(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            self.window_successes as f64 / secs
        } else {
            0.0
        }
    }

    /// Every figure, as one JSON object (printed on one line by `--json`).
    pub fn to_json(&self) -> Value {
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        let memory = self.memory.as_ref().map(|m| {
            json!({
                "pid": m.pid,
                "idle_rss_kb": m.idle_kb,
                "peak_rss_kb": m.samples.peak_kb.max(m.idle_kb),
                "peak_rss_at_s": round(m.samples.peak_at.as_secs_f64()),
                "end_rss_kb": m.end.map(|e| e.rss_kb),
                "hwm_kb": m.end.map(|e| e.hwm_kb),
                "idle_hwm_kb": m.idle_hwm_kb,
                "samples": m.samples.count,
                "sample_every_ms": m.sample_every.as_millis() as u64,
                "sample_error": m.samples.error,
            })
        });
        json!({
            "endpoint": self.endpoint,
            "clients": self.clients,
            "warmup_s": round(self.warmup.as_secs_f64()),
            "window_s": round(self.window.as_secs_f64()),
            "drain_s": round(self.drain.as_secs_f64()),
            "requests": self.requests,
            "successes": self.successes,
            "created_201": self.created_201,
            "errors": self.errors,
            "window_requests": self.window_requests,
            "window_successes": self.window_successes,
            "window_errors": self.window_errors,
            "complaints_per_s": round(self.throughput()),
            "latency_ms": {
                "count": self.latency.count,
                "p50": round(self.latency.p50),
                "p90": round(self.latency.p90),
                "p99": round(self.latency.p99),
                "max": round(self.latency.max),
                "mean": round(self.latency.mean),
            },
            "memory": memory,
        })
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let errors = if self.errors.is_empty() {
            "none".to_string()
        } else {
            self.errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let l = &self.latency;
        let _ = writeln!(s, "aduan-bench intake");
        let _ = writeln!(s, "  endpoint          POST {}", self.endpoint);
        let _ = writeln!(s, "  clients           {}", self.clients);
        let _ = writeln!(
            s,
            "  phases            warm-up {:.1} s, window {:.1} s, drain {:.3} s",
            self.warmup.as_secs_f64(),
            self.window.as_secs_f64(),
            self.drain.as_secs_f64()
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "                    {:>12} {:>12}",
            "whole run", "window"
        );
        let _ = writeln!(
            s,
            "  requests          {:>12} {:>12}",
            self.requests, self.window_requests
        );
        let _ = writeln!(
            s,
            "  successes         {:>12} {:>12}",
            self.successes, self.window_successes
        );
        let _ = writeln!(
            s,
            "  errors            {:>12} {:>12}",
            self.requests - self.successes,
            self.window_errors
        );
        let _ = writeln!(s, "  201 responses     {:>12}", self.created_201);
        let _ = writeln!(s, "  errors by kind    {errors}");
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "  throughput        {:.1} complaints/s (successes in window / window length)",
            self.throughput()
        );
        let _ = writeln!(
            s,
            "  latency ms        p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  mean {:.2}  (n = {})",
            l.p50, l.p90, l.p99, l.max, l.mean, l.count
        );
        if let Some(m) = &self.memory {
            let _ = writeln!(s);
            let _ = writeln!(s, "  daemon memory (pid {})", m.pid);
            let _ = writeln!(
                s,
                "    idle RSS        {:>8.1} MiB  (VmRSS before the load)",
                rss::mib(m.idle_kb)
            );
            let _ = writeln!(
                s,
                "    peak RSS        {:>8.1} MiB  (max VmRSS of {} samples every {} ms, at {:.1} s)",
                rss::mib(m.samples.peak_kb.max(m.idle_kb)),
                m.samples.count,
                m.sample_every.as_millis(),
                m.samples.peak_at.as_secs_f64()
            );
            match m.end {
                Some(e) => {
                    let _ = writeln!(
                        s,
                        "    end RSS         {:>8.1} MiB  (VmRSS after the drain)",
                        rss::mib(e.rss_kb)
                    );
                    let _ = writeln!(
                        s,
                        "    VmHWM           {:>8.1} MiB  (kernel high-water mark at the end; {:.1} MiB before the load)",
                        rss::mib(e.hwm_kb),
                        rss::mib(m.idle_hwm_kb)
                    );
                }
                None => {
                    let _ = writeln!(s, "    end RSS / VmHWM  unavailable (process gone?)");
                }
            }
            if let Some(e) = &m.samples.error {
                let _ = writeln!(s, "    sampling stopped early: {e}");
            }
        }
        s
    }
}

/// Run the load and gather the report. Progress goes to stderr.
pub async fn run(o: &Opts) -> anyhow::Result<Report> {
    anyhow::ensure!(o.clients > 0, "--clients must be at least 1");
    anyhow::ensure!(!o.duration.is_zero(), "--duration must be above zero");
    anyhow::ensure!(!o.urls.is_empty(), "--url is required");
    let path = if o.meta_app_secret.is_some() {
        "/webhooks/meta"
    } else {
        "/api/v1/complaints"
    };
    let mut endpoints = Vec::with_capacity(o.urls.len());
    for url in &o.urls {
        let base = reqwest::Url::parse(url).with_context(|| format!("bad --url `{url}`"))?;
        anyhow::ensure!(
            matches!(base.scheme(), "http" | "https"),
            "--url must be http:// or https://"
        );
        endpoints.push(reqwest::Url::parse(&format!(
            "{}{path}",
            url.trim_end_matches('/')
        ))?);
    }
    let endpoint = endpoints
        .iter()
        .map(|u| u.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let meta: Option<Arc<String>> = o.meta_app_secret.clone().map(Arc::new);
    let endpoints = Arc::new(endpoints);

    // Build every client before the clock starts: TLS roots and pools are not the daemon's cost.
    let clients = (0..o.clients)
        .map(|_| {
            reqwest::Client::builder()
                .timeout(o.timeout)
                .tcp_nodelay(true)
                .pool_idle_timeout(None)
                .build()
                .context("building the HTTP client")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    // Memory: one reading before the load, then a sampler for the rest of the run.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sampler = None;
    let mut idle = None;
    if let Some(pid) = o.pid {
        let m = rss::read(pid).with_context(|| format!("--pid {pid}: cannot read its memory"))?;
        idle = Some(m);
        sampler = Some(tokio::spawn(rss::sample(pid, o.sample_every, stop_rx)));
    }

    let counter = Arc::new(AtomicU64::new(1));
    let start = Instant::now();
    let warmup_end = start + o.warmup;
    let deadline = warmup_end + o.duration;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let urls = Arc::clone(&endpoints);
            let counter = Arc::clone(&counter);
            tokio::spawn(client_loop(
                client,
                urls,
                counter,
                warmup_end,
                deadline,
                meta.clone(),
            ))
        })
        .collect();

    if !o.warmup.is_zero() {
        eprintln!(
            "[aduan-bench] {} clients warming up for {:.1} s",
            o.clients,
            o.warmup.as_secs_f64()
        );
        tokio::time::sleep_until(warmup_end.into()).await;
    }
    eprintln!(
        "[aduan-bench] measuring for {:.1} s",
        o.duration.as_secs_f64()
    );
    tokio::time::sleep_until(deadline.into()).await;
    eprintln!("[aduan-bench] time is up; waiting for in-flight requests");

    let mut total = Tally::default();
    for t in tasks {
        total.merge(t.await.context("a client task panicked")?);
    }
    let drained = Instant::now();
    let _ = stop_tx.send(true);

    let memory = match (o.pid, idle, sampler) {
        (Some(pid), Some(idle), Some(h)) => Some(MemReport {
            pid,
            idle_kb: idle.rss_kb,
            idle_hwm_kb: idle.hwm_kb,
            samples: h.await.context("the memory sampler panicked")?,
            sample_every: o.sample_every,
            end: rss::read(pid).ok(),
        }),
        _ => None,
    };

    let latency = stats::summarise(&mut total.window_latency_us);
    Ok(Report {
        endpoint,
        clients: o.clients,
        warmup: o.warmup,
        window: o.duration,
        drain: drained.saturating_duration_since(deadline),
        requests: total.requests,
        successes: total.successes,
        created_201: total.created_201,
        errors: total.errors,
        window_requests: total.window_requests,
        window_successes: total.window_successes,
        window_errors: total.window_errors,
        latency,
        memory,
    })
}

/// How one request ended.
enum Outcome {
    Success,
    /// An error, keyed; `created` when the daemon answered 201 (it committed a complaint).
    Error {
        key: String,
        created: bool,
    },
}

/// One client: request after request until `deadline` (request `n` to `urls[n % len]`).
async fn client_loop(
    client: reqwest::Client,
    urls: Arc<Vec<reqwest::Url>>,
    counter: Arc<AtomicU64>,
    warmup_end: Instant,
    deadline: Instant,
    meta: Option<Arc<String>>,
) -> Tally {
    let mut t = Tally::default();
    while Instant::now() < deadline {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let url = &urls[(n as usize) % urls.len()];
        let sent = Instant::now();
        let outcome = match &meta {
            Some(secret) => deliver_webhook(&client, url.clone(), secret, n).await,
            None => file_one(&client, url.clone(), &payload::complaint(n)).await,
        };
        let done = Instant::now();
        let in_window = done >= warmup_end && done < deadline;
        t.requests += 1;
        if in_window {
            t.window_requests += 1;
        }
        match outcome {
            Outcome::Success => {
                t.successes += 1;
                t.created_201 += 1;
                if in_window {
                    t.window_successes += 1;
                    let us = done.duration_since(sent).as_micros();
                    t.window_latency_us
                        .push(u64::try_from(us).unwrap_or(u64::MAX));
                }
            }
            Outcome::Error { key, created } => {
                if created {
                    t.created_201 += 1;
                }
                if in_window {
                    t.window_errors += 1;
                }
                let transport = key.parse::<u16>().is_err() && !created;
                *t.errors.entry(key).or_default() += 1;
                if transport {
                    tokio::time::sleep(TRANSPORT_ERROR_PAUSE).await;
                }
            }
        }
    }
    t
}

/// Send one complaint and judge the answer.
async fn file_one(client: &reqwest::Client, url: reqwest::Url, body: &Value) -> Outcome {
    let resp = match client.post(url).json(body).send().await {
        Ok(r) => r,
        Err(e) => return transport_error(&e, "request"),
    };
    let status = resp.status();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => {
            return Outcome::Error {
                key: if e.is_timeout() { "timeout" } else { "body" }.into(),
                created: status == StatusCode::CREATED,
            };
        }
    };
    if status != StatusCode::CREATED {
        return Outcome::Error {
            key: status.as_u16().to_string(),
            created: false,
        };
    }
    if has_ticket(&bytes) {
        Outcome::Success
    } else {
        Outcome::Error {
            key: "201_no_ticket".into(),
            created: true,
        }
    }
}

/// Send one signed WhatsApp delivery (`X-Hub-Signature-256` over the raw body); success is a
/// 200, which aduan answers only after the message is committed.
async fn deliver_webhook(
    client: &reqwest::Client,
    url: reqwest::Url,
    secret: &str,
    n: u64,
) -> Outcome {
    use hmac::{KeyInit, Mac};
    let body = serde_json::to_vec(&payload::whatsapp(n)).unwrap_or_default();
    let sig = match hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(&body);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => {
            return Outcome::Error {
                key: "bad_secret".into(),
                created: false,
            };
        }
    };
    let resp = match client
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", format!("sha256={sig}"))
        .body(body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return transport_error(&e, "request"),
    };
    let status = resp.status();
    let _ = resp.bytes().await;
    if status == StatusCode::OK {
        Outcome::Success
    } else {
        Outcome::Error {
            key: status.as_u16().to_string(),
            created: false,
        }
    }
}

fn transport_error(e: &reqwest::Error, otherwise: &str) -> Outcome {
    let key = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        otherwise
    };
    Outcome::Error {
        key: key.into(),
        created: false,
    }
}

/// Whether a response body is a JSON object with a non-empty string `"ticket"`.
fn has_ticket(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("ticket")?.as_str().map(|t| !t.trim().is_empty()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_check() {
        assert!(has_ticket(
            br#"{"ticket":"ADU-2026-000001","access_code":"x"}"#
        ));
        assert!(!has_ticket(br#"{"ticket":""}"#));
        assert!(!has_ticket(br#"{"ticket":"  "}"#));
        assert!(!has_ticket(br#"{"ticket":17}"#));
        assert!(!has_ticket(br#"{"status":"ok"}"#));
        assert!(!has_ticket(b"<html>"));
        assert!(!has_ticket(b""));
    }

    #[test]
    fn tallies_merge() {
        let mut a = Tally {
            requests: 3,
            successes: 2,
            created_201: 2,
            window_latency_us: vec![1, 2],
            ..Default::default()
        };
        a.errors.insert("500".into(), 1);
        let mut b = Tally {
            requests: 2,
            created_201: 1,
            window_latency_us: vec![3],
            ..Default::default()
        };
        b.errors.insert("500".into(), 1);
        b.errors.insert("201_no_ticket".into(), 1);
        a.merge(b);
        assert_eq!(a.requests, 5);
        assert_eq!(a.created_201, 3);
        assert_eq!(a.errors["500"], 2);
        assert_eq!(a.errors["201_no_ticket"], 1);
        assert_eq!(a.window_latency_us, [1, 2, 3]);
    }
}
