//! The `detail` load: the kasi opening complaints. Files `--complaints` complaints with a full
//! identity, a NIK and a phone number in the text (what the vault opens on every read), then
//! `--clients` closed-loop clients GET `/api/v1/admin/complaints/{ticket}` with a kasi token
//! in random order for `--duration`, and reports the latency of those views.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::stats::{self, Latency};

#[derive(Debug, Clone)]
pub struct Opts {
    pub url: String,
    /// API token of a kasi account.
    pub token: String,
    pub complaints: usize,
    pub clients: usize,
    pub duration: Duration,
}

pub struct Report {
    pub views: u64,
    pub errors: u64,
    pub window: Duration,
    pub latency: Latency,
}

impl Report {
    pub fn table(&self) -> String {
        let l = &self.latency;
        format!(
            "kasi detail views   {} in {:.1} s ({:.0}/s), errors {}\n\
             latency             p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms\n",
            self.views,
            self.window.as_secs_f64(),
            self.views as f64 / self.window.as_secs_f64(),
            self.errors,
            l.p50,
            l.p90,
            l.p99,
            l.max,
        )
    }

    pub fn to_json(&self) -> Value {
        let l = &self.latency;
        json!({
            "views": self.views, "errors": self.errors,
            "window_s": self.window.as_secs_f64(),
            "p50_ms": l.p50, "p90_ms": l.p90, "p99_ms": l.p99, "max_ms": l.max,
        })
    }
}

pub async fn run(o: &Opts) -> anyhow::Result<Report> {
    anyhow::ensure!(
        o.clients > 0 && o.complaints > 0,
        "--clients and --complaints ≥ 1"
    );
    let base = o.url.trim_end_matches('/').to_string();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()?;
    let mut tickets = Vec::with_capacity(o.complaints);
    for i in 0..o.complaints {
        let body = json!({
            "name": format!("Ni Luh Putu Sekarini {i}"),
            "address": "Banjar Dinas Kaja, Desa Panji, Sukasada",
            "email": format!("sekarini{i}@contoh.id"),
            "phone": "081337001122",
            "category": "pelayanan",
            "target": "Loket KTP-el",
            "body": format!(
                "KTP-el saya dengan NIK 5108014506900{i:03} belum jadi sejak tiga bulan. \
                 Mohon dihubungi di 0813-3700-1122. Terima kasih."
            ),
        });
        let r = http
            .post(format!("{base}/api/v1/complaints"))
            .json(&body)
            .send()
            .await
            .context("filing a complaint")?;
        anyhow::ensure!(r.status() == 201, "filing a complaint: {}", r.status());
        let v: Value = r.json().await?;
        tickets.push(v["ticket"].as_str().context("no ticket")?.to_string());
    }
    let tickets = std::sync::Arc::new(tickets);
    let start = Instant::now();
    let deadline = start + o.duration;
    let mut tasks = Vec::new();
    for c in 0..o.clients {
        let http = http.clone();
        let tickets = tickets.clone();
        let (base, token) = (base.clone(), o.token.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0u64);
            // A cheap deterministic shuffle per client.
            let mut x: usize = 0x9e37_79b9 ^ c;
            while Instant::now() < deadline {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let t = &tickets[(x >> 33) % tickets.len()];
                let sent = Instant::now();
                let ok = match http
                    .get(format!("{base}/api/v1/admin/complaints/{t}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                };
                if ok {
                    lat.push(sent.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    let window = start.elapsed();
    Ok(Report {
        views: all.len() as u64,
        errors,
        window,
        latency: stats::summarise(&mut all),
    })
}
