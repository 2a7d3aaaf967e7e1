//! `aduan-bench login-flood`: many logins to the admin pages at once, while `/healthz` is
//! timed and the daemon's memory sampled (issue 14: "192 parallel logins take the daemon
//! from 21 MB to 4.65 GB in 2 s").
//!
//! * **Forms.** First, `--logins` login forms are fetched one after another
//!   (`GET /admin/login`: a login cookie and a single-use token each), each by a client bound
//!   to one of `--sources` loopback addresses (127.0.0.2, 127.0.0.3, …) so that the daemon's
//!   per-address limit sees `logins / sources` attempts per address, as from many machines.
//! * **Flood.** Then every form is posted at once (`POST /admin/login` with the account's
//!   username and password, one connection each). Answers are counted by status: 303 (logged
//!   in), 401, 403, 429 (a limit), 503 (every password check slot busy), or `error` when no
//!   answer came back within `--timeout`.
//! * **Health.** From before the flood until `--settle` after its last answer, one client
//!   sends `GET /healthz` every `--probe-every` (20 ms) and records each latency (max, p99).
//! * **Memory** (with `--pid`): `VmRSS` before the flood, sampled every 50 ms throughout, and
//!   `VmHWM` (the kernel's high-water mark over the process's life) at the end.
//!
//! Targets (issue 14): peak RSS ≤ 150 MB and `/healthz` ≤ 100 ms throughout.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokio::sync::watch;

use crate::rss;
use crate::stats::{self, Latency};

pub struct Opts {
    pub url: String,
    pub username: String,
    pub password: String,
    pub logins: usize,
    pub sources: usize,
    pub timeout: Duration,
    pub probe_every: Duration,
    pub settle: Duration,
    pub pid: Option<u32>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub logins: usize,
    pub sources: usize,
    pub ok_303: usize,
    pub unauthorized_401: usize,
    pub forbidden_403: usize,
    pub limited_429: usize,
    pub busy_503: usize,
    pub other: usize,
    pub errors: usize,
    pub flood_secs: f64,
    pub healthz: Latency,
    pub healthz_failures: usize,
    pub idle_rss_kb: Option<u64>,
    pub peak_rss_kb: Option<u64>,
    pub end_rss_kb: Option<u64>,
    pub hwm_kb: Option<u64>,
}

const RSS_TARGET_MB: f64 = 150.0;
const HEALTHZ_TARGET_MS: f64 = 100.0;

impl Report {
    fn peak_mb(&self) -> Option<f64> {
        // VmHWM covers the whole life (start-up too) and what falls between samples.
        self.hwm_kb
            .max(self.peak_rss_kb)
            .map(|kb| kb as f64 * 1024.0 / 1e6)
    }

    pub fn met(&self) -> bool {
        self.peak_mb().is_none_or(|m| m <= RSS_TARGET_MB)
            && self.healthz.max <= HEALTHZ_TARGET_MS
            && self.healthz_failures == 0
    }

    pub fn table(&self) -> String {
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        let mut s = String::new();
        s.push_str(&format!(
            "login flood: {} logins from {} addresses in {:.2} s\n",
            self.logins, self.sources, self.flood_secs
        ));
        s.push_str(&format!(
            "  answers: 303 {}  401 {}  403 {}  429 {}  503 {}  other {}  no answer {}\n",
            self.ok_303,
            self.unauthorized_401,
            self.forbidden_403,
            self.limited_429,
            self.busy_503,
            self.other,
            self.errors
        ));
        s.push_str(&format!(
            "  /healthz: {} probes, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, failed {}  [≤ {HEALTHZ_TARGET_MS} ms: {}]\n",
            self.healthz.count,
            self.healthz.p50,
            self.healthz.p99,
            self.healthz.max,
            self.healthz_failures,
            verdict(self.healthz.max <= HEALTHZ_TARGET_MS && self.healthz_failures == 0)
        ));
        if let Some(peak) = self.peak_mb() {
            let mb = |kb: Option<u64>| kb.map_or(0.0, |k| k as f64 * 1024.0 / 1e6);
            s.push_str(&format!(
                "  daemon RSS: idle {:.1} MB, peak sampled {:.1} MB, end {:.1} MB, VmHWM {:.1} MB  [≤ {RSS_TARGET_MB} MB: {}]\n",
                mb(self.idle_rss_kb),
                mb(self.peak_rss_kb),
                mb(self.end_rss_kb),
                mb(self.hwm_kb),
                verdict(peak <= RSS_TARGET_MB)
            ));
        }
        s
    }

    pub fn to_json(&self) -> String {
        json!({
            "logins": self.logins,
            "sources": self.sources,
            "ok_303": self.ok_303,
            "unauthorized_401": self.unauthorized_401,
            "forbidden_403": self.forbidden_403,
            "limited_429": self.limited_429,
            "busy_503": self.busy_503,
            "other": self.other,
            "errors": self.errors,
            "flood_secs": self.flood_secs,
            "healthz_count": self.healthz.count,
            "healthz_p50_ms": self.healthz.p50,
            "healthz_p99_ms": self.healthz.p99,
            "healthz_max_ms": self.healthz.max,
            "healthz_failures": self.healthz_failures,
            "idle_rss_kb": self.idle_rss_kb,
            "peak_rss_kb": self.peak_rss_kb,
            "end_rss_kb": self.end_rss_kb,
            "hwm_kb": self.hwm_kb,
            "met": self.met(),
        })
        .to_string()
    }
}

/// The value of a `name="csrf"` field in a page.
fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\"")?;
    let rest = &html[at..];
    let v = rest.find("value=\"")? + "value=\"".len();
    let end = rest[v..].find('"')?;
    Some(rest[v..v + end].to_string())
}

/// `name=value` of cookie `name` among a response's `Set-Cookie` headers.
fn cookie_of(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|kv| kv.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn source(i: usize, sources: usize) -> IpAddr {
    let n = 2 + (i % sources.max(1)) as u32;
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 0)) + n))
}

pub async fn run(o: &Opts) -> anyhow::Result<Report> {
    anyhow::ensure!(o.logins > 0, "--logins must be at least 1");
    anyhow::ensure!(
        (1..=250).contains(&o.sources),
        "--sources must be 1..=250 (127.0.0.2 to 127.0.0.251)"
    );
    let base = o.url.trim_end_matches('/').to_string();
    // The forms, fetched one by one, each by a client of its source address.
    eprintln!("fetching {} login forms", o.logins);
    let mut forms = Vec::with_capacity(o.logins);
    for i in 0..o.logins {
        let c = reqwest::Client::builder()
            .local_address(source(i, o.sources))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(o.timeout)
            .build()?;
        let r = c
            .get(format!("{base}/admin/login"))
            .send()
            .await
            .with_context(|| format!("GET {base}/admin/login"))?;
        anyhow::ensure!(
            r.status() == 200,
            "GET /admin/login answered {}",
            r.status()
        );
        let cookie = cookie_of(&r, "aduan_login").context("no aduan_login cookie")?;
        let token = csrf_of(&r.text().await?).context("no csrf field on the login page")?;
        forms.push((c, cookie, token));
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let idle = o.pid.map(rss::read).transpose()?;
    let sampler = o
        .pid
        .map(|pid| tokio::spawn(rss::sample(pid, Duration::from_millis(50), stop_rx.clone())));
    let probe = {
        let url = format!("{base}/healthz");
        let every = o.probe_every;
        let mut stop = stop_rx.clone();
        let c = reqwest::Client::builder().timeout(o.timeout).build()?;
        tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failures = 0usize;
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => break,
                }
                let t = Instant::now();
                let ok = match c.get(&url).send().await {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    lat.push(t.elapsed().as_micros() as u64);
                } else {
                    failures += 1;
                }
            }
            (lat, failures)
        })
    };
    // A few probes before the flood.
    tokio::time::sleep(o.probe_every * 5).await;

    eprintln!("posting {} logins at once", o.logins);
    let start = Instant::now();
    let url = format!("{base}/admin/login");
    let tasks: Vec<_> = forms
        .into_iter()
        .map(|(c, cookie, token)| {
            let url = url.clone();
            let form = [
                ("username", o.username.clone()),
                ("password", o.password.clone()),
                ("csrf", token),
            ];
            tokio::spawn(async move {
                match c
                    .post(url)
                    .header(reqwest::header::COOKIE, cookie)
                    .form(&form)
                    .send()
                    .await
                {
                    Ok(r) => {
                        let st = r.status().as_u16();
                        let _ = r.bytes().await;
                        Some(st)
                    }
                    Err(_) => None,
                }
            })
        })
        .collect();
    let mut rep = Report {
        logins: o.logins,
        sources: o.sources,
        ..Report::default()
    };
    for t in tasks {
        match t.await? {
            Some(303) => rep.ok_303 += 1,
            Some(401) => rep.unauthorized_401 += 1,
            Some(403) => rep.forbidden_403 += 1,
            Some(429) => rep.limited_429 += 1,
            Some(503) => rep.busy_503 += 1,
            Some(_) => rep.other += 1,
            None => rep.errors += 1,
        }
    }
    rep.flood_secs = start.elapsed().as_secs_f64();
    tokio::time::sleep(o.settle).await;
    let _ = stop_tx.send(true);
    let (mut lat, failures) = probe.await?;
    rep.healthz = stats::summarise(&mut lat);
    rep.healthz_failures = failures;
    if let Some(s) = sampler {
        let s = s.await?;
        rep.peak_rss_kb = Some(s.peak_kb);
    }
    if let Some(pid) = o.pid {
        let m = rss::read(pid)?;
        rep.end_rss_kb = Some(m.rss_kb);
        rep.hwm_kb = Some(m.hwm_kb);
    }
    rep.idle_rss_kb = idle.map(|m| m.rss_kb);
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_csrf_field_and_spreads_sources() {
        let html = r#"<form><input type="hidden" name="csrf" value="v2.1.ab.cd"><input name="x" value="y"></form>"#;
        assert_eq!(csrf_of(html).as_deref(), Some("v2.1.ab.cd"));
        assert_eq!(csrf_of("<form></form>"), None);
        assert_eq!(source(0, 100), "127.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(source(99, 100), "127.0.0.101".parse::<IpAddr>().unwrap());
        assert_eq!(source(100, 100), "127.0.0.2".parse::<IpAddr>().unwrap());
    }
}
