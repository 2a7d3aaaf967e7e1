//! The `imap` benchmark: IMAP intake from a private local Dovecot into SQLite, in process.
//!
//! # Throughput
//!
//! 1. A private Dovecot starts (`scripts/dovecot-test`, through
//!    `aduan_channel_email::testing::dovecot`) and `--messages` N distinct complaint mails
//!    (multipart/alternative text + HTML, about 3 KiB each, each from its own sender) are
//!    written straight into user `aduan`'s `Maildir/new`; one `SELECT` makes Dovecot index
//!    them. That is seeding, timed separately.
//! 2. A fresh SQLite database in a temp dir, a `Desk` with e-mail replies on, and the real
//!    `run_intake` task (IDLE on, the production batch sizes and lease) reading INBOX.
//! 3. The clock runs from spawning the task (so connect, login and SELECT are included)
//!    until the durable cursor covers the highest UID, i.e. every message is committed with
//!    its acknowledgement queued; "archived" is when INBOX is empty (the last batch moved).
//!    Throughput = N / committed time.
//! 4. Memory of this process (intake + SQLite; Dovecot runs apart) is sampled every 50 ms
//!    (`VmRSS`, peak reported) and `VmHWM` read at the end. The messages are generated and
//!    dropped before the measurement starts.
//! 5. Checks: exactly N complaints, N pending acknowledgements, INBOX empty, N messages in
//!    the archive mailbox.
//!
//! # Latency with IDLE
//!
//! A fresh database and user `aduan2`'s empty INBOX; the intake idles in IMAP IDLE and an
//! outbox worker with the daemon's loop (drain, then sleep until the next due row, at most
//! 1 s) sends acknowledgements through `SmtpSender` to an in-process `SmtpSink`. Every
//! `--interval` one mail is APPENDed over a separate IMAP connection; its latency is from
//! just before the APPEND until the sink has received the acknowledgement whose
//! `In-Reply-To` names it. Median, p90 and max over `--latency-messages` mails.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aduan_channel_email::imap::{EmailContext, intake_key, run_intake};
use aduan_channel_email::testing::SmtpSink;
use aduan_channel_email::testing::dovecot::{Dovecot, USER, USER2};
use aduan_channel_email::{EmailConfig, Security, SmtpSender};
use aduan_core::calendar::WorkCalendar;
use aduan_core::desk::{Desk, DeskConfig, SystemClock};
use aduan_core::outbox::{Outbox, ReplySender};
use aduan_core::sla::{SlaDurations, SlaPolicy};
use aduan_core::store::Store;
use aduan_core::templates::Templates;
use aduan_core::types::{Channel, TicketPrefix};
use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::payload;
use crate::rss;
use crate::stats::{self, Latency};

const OFFICE: &str = "pengaduan@bulelengkab.example";
/// Throughput target (messages per second into SQLite with an acknowledgement queued).
pub const TARGET_PER_S: f64 = 500.0;
/// Latency target: median delivery → acknowledgement at the sink, milliseconds.
pub const TARGET_P50_MS: f64 = 2000.0;

/// What to run.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Messages seeded for the throughput run (0: skip it).
    pub messages: usize,
    /// Messages sent one by one for the latency run (0: skip it).
    pub latency_messages: usize,
    /// Pause between two latency messages.
    pub interval: Duration,
}

/// Figures of the throughput run.
#[derive(Debug, Clone, Default)]
pub struct Throughput {
    pub messages: usize,
    pub avg_message_bytes: usize,
    pub seed: Duration,
    pub committed: Duration,
    pub archived: Duration,
    pub complaints: usize,
    pub acks_queued: usize,
    pub archive_count: u32,
    pub inbox_left: u32,
    pub peak_rss_kb: u64,
    pub hwm_kb: u64,
    pub start_rss_kb: u64,
}

impl Throughput {
    pub fn per_second(&self) -> f64 {
        self.messages as f64 / self.committed.as_secs_f64().max(1e-9)
    }
}

/// Figures of the latency run.
#[derive(Debug, Clone, Default)]
pub struct IdleLatency {
    pub sent: usize,
    pub received: usize,
    pub interval: Duration,
    /// APPEND → acknowledgement at the SMTP sink.
    pub latency: Latency,
    /// APPEND → complaint committed (from the complaint's stored `created_at`, wall clock).
    pub to_commit: Latency,
}

/// Both runs.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub throughput: Option<Throughput>,
    pub latency: Option<IdleLatency>,
}

impl Report {
    /// Whether every correctness check held (the targets are reported separately).
    pub fn correct(&self) -> bool {
        let t = self.throughput.as_ref().is_none_or(|t| {
            t.complaints == t.messages
                && t.acks_queued == t.messages
                && t.inbox_left == 0
                && t.archive_count as usize == t.messages
        });
        let l = self.latency.as_ref().is_none_or(|l| l.received == l.sent);
        t && l
    }

    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "aduan-bench imap");
        if let Some(t) = &self.throughput {
            let per_s = t.per_second();
            let _ = writeln!(
                s,
                "  intake            {} messages (~{:.1} KiB each) from a local Dovecot into SQLite",
                t.messages,
                t.avg_message_bytes as f64 / 1024.0
            );
            let _ = writeln!(
                s,
                "  seed              {:.2} s (maildir write + first SELECT)",
                t.seed.as_secs_f64()
            );
            let _ = writeln!(
                s,
                "  committed         {:.2} s  → {:.0} messages/s  (target ≥ {:.0}: {})",
                t.committed.as_secs_f64(),
                per_s,
                TARGET_PER_S,
                if per_s >= TARGET_PER_S {
                    "met"
                } else {
                    "MISSED"
                }
            );
            let _ = writeln!(
                s,
                "  archived          {:.2} s (INBOX empty)",
                t.archived.as_secs_f64()
            );
            let _ = writeln!(
                s,
                "  checks            complaints {} / acks queued {} / archived {} / left in INBOX {}",
                t.complaints, t.acks_queued, t.archive_count, t.inbox_left
            );
            let _ = writeln!(
                s,
                "  memory            RSS at start {:.1} MiB, peak (sampled) {:.1} MiB, VmHWM {:.1} MiB",
                rss::mib(t.start_rss_kb),
                rss::mib(t.peak_rss_kb),
                rss::mib(t.hwm_kb)
            );
        }
        if let Some(l) = &self.latency {
            let _ = writeln!(
                s,
                "  IDLE latency      {} messages, one every {} ms: APPEND → acknowledgement at the SMTP sink",
                l.sent,
                l.interval.as_millis()
            );
            let _ = writeln!(
                s,
                "                    received {}/{}, p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms  (target p50 ≤ {:.0} ms: {})",
                l.received,
                l.sent,
                l.latency.p50,
                l.latency.p90,
                l.latency.max,
                TARGET_P50_MS,
                if l.received > 0 && l.latency.p50 <= TARGET_P50_MS {
                    "met"
                } else {
                    "MISSED"
                }
            );
            let _ = writeln!(
                s,
                "                    of which APPEND → committed: p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms (the rest is the outbox worker's poll, ≤ 1 s, and SMTP)",
                l.to_commit.p50, l.to_commit.p90, l.to_commit.max
            );
        }
        s
    }

    pub fn to_json(&self) -> Value {
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        json!({
            "throughput": self.throughput.as_ref().map(|t| json!({
                "messages": t.messages,
                "avg_message_bytes": t.avg_message_bytes,
                "seed_s": round(t.seed.as_secs_f64()),
                "committed_s": round(t.committed.as_secs_f64()),
                "archived_s": round(t.archived.as_secs_f64()),
                "messages_per_s": round(t.per_second()),
                "complaints": t.complaints,
                "acks_queued": t.acks_queued,
                "archive_count": t.archive_count,
                "inbox_left": t.inbox_left,
                "start_rss_kb": t.start_rss_kb,
                "peak_rss_kb": t.peak_rss_kb,
                "hwm_kb": t.hwm_kb,
            })),
            "idle_latency": self.latency.as_ref().map(|l| json!({
                "sent": l.sent,
                "received": l.received,
                "interval_ms": l.interval.as_millis() as u64,
                "p50_ms": round(l.latency.p50),
                "p90_ms": round(l.latency.p90),
                "max_ms": round(l.latency.max),
                "mean_ms": round(l.latency.mean),
                "commit_p50_ms": round(l.to_commit.p50),
                "commit_p90_ms": round(l.to_commit.p90),
                "commit_max_ms": round(l.to_commit.max),
            })),
            "correct": self.correct(),
        })
    }
}

/// A desk over a fresh SQLite database in `dir`.
async fn desk(dir: &std::path::Path) -> anyhow::Result<(Desk, Arc<dyn Store>)> {
    let url = aduan_store::testing::fresh_sqlite_url(dir);
    let store = aduan_store::connect(&url, aduan_store::Vault::ephemeral())
        .await
        .context("opening SQLite")?;
    store.migrate().await.context("migrations")?;
    let desk = Desk::new(
        store.clone(),
        Arc::new(SystemClock),
        DeskConfig {
            office_name: "Disdukcapil Kabupaten Buleleng".into(),
            ticket_prefix: TicketPrefix::parse("ADU").context("prefix")?,
            policy: SlaPolicy::new(
                WorkCalendar::always_open(chrono_tz::Asia::Makassar),
                SlaDurations::default(),
            ),
            bidang: vec![],
            reply_channels: HashSet::from([Channel::Email]),
            public_base_url: "https://aduan.bulelengkab.example".into(),
        },
    );
    Ok((desk, store))
}

/// Complaint mail number `n`: multipart/alternative (text + HTML), its own sender.
fn message(n: u64, message_id: &str) -> Vec<u8> {
    let c = payload::complaint(n);
    let name = c["name"].as_str().unwrap_or("Warga");
    let email = c["email"].as_str().unwrap_or("warga@example.test");
    let target = c["target"].as_str().unwrap_or("Layanan");
    let body = c["body"].as_str().unwrap_or("Pengaduan.");
    format!(
        "Return-Path: <{email}>\r\n\
         Received: from mail.example.test (mail.example.test [192.0.2.10])\r\n\
         \tby mx.bulelengkab.example with ESMTPS id {n:08x}\r\n\
         \tfor <{OFFICE}>; Mon, 5 Jan 2026 09:00:00 +0800\r\n\
         DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.test; s=s1;\r\n\
         \th=from:to:subject:date:message-id; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\
         \tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgaGFzIHRoZSBzaXplIG9mIG9uZQ==\r\n\
         Message-ID: <{message_id}>\r\n\
         Date: Mon, 5 Jan 2026 09:00:00 +0800\r\n\
         From: {name} <{email}>\r\n\
         To: Pengaduan Disdukcapil <{OFFICE}>\r\n\
         Subject: Pengaduan: {target}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"b{n}\"\r\n\
         \r\n\
         --b{n}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Yth. Bapak/Ibu petugas Disdukcapil,\r\n\r\n{body}\r\n\r\n\
         Lokasi: {target}. Saya sudah mencoba menghubungi kantor lewat telepon tetapi tidak\r\n\
         ada yang mengangkat. Mohon pengaduan ini ditindaklanjuti sesuai SOP yang berlaku dan\r\n\
         saya diberi kabar mengenai hasilnya.\r\n\r\nTerima kasih,\r\n{name}\r\n\
         \r\n\
         --b{n}\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         <html><body><p>Yth. Bapak/Ibu petugas Disdukcapil,</p><p>{body}</p>\r\n\
         <p>Lokasi: <b>{target}</b>. Saya sudah mencoba menghubungi kantor lewat telepon\r\n\
         tetapi tidak ada yang mengangkat. Mohon pengaduan ini ditindaklanjuti sesuai SOP\r\n\
         yang berlaku dan saya diberi kabar mengenai hasilnya.</p>\r\n\
         <p>Terima kasih,<br>{name}</p></body></html>\r\n\
         --b{n}--\r\n"
    )
    .into_bytes()
}

fn config(dovecot: &Dovecot, user: &str) -> EmailConfig {
    let mut cfg = dovecot.email_config(user);
    cfg.from = format!("Pengaduan Disdukcapil <{OFFICE}>");
    cfg
}

fn context(
    desk: &Desk,
    cfg: &EmailConfig,
    health: Arc<Mutex<Option<Option<String>>>>,
) -> EmailContext {
    EmailContext {
        desk: desk.clone(),
        own_addresses: cfg.own_addresses(),
        limits: Default::default(),
        ack_daily_cap: 5,
        holder: "bench".into(),
        health: Arc::new(move |h| {
            if let Ok(mut last) = health.lock() {
                *last = Some(h);
            }
        }),
    }
}

/// Messages in `mailbox` of `user`.
async fn count(dovecot: &Dovecot, user: &str, mailbox: &str) -> anyhow::Result<u32> {
    dovecot
        .count(user, mailbox)
        .await
        .map_err(anyhow::Error::msg)
}

/// Run what `opts` asks for.
pub async fn run(opts: &Opts) -> anyhow::Result<Report> {
    eprintln!("aduan-bench imap: starting a private Dovecot (scripts/dovecot-test)");
    let dovecot = Dovecot::start().map_err(anyhow::Error::msg)?;
    let mut report = Report::default();
    if opts.messages > 0 {
        report.throughput = Some(throughput(&dovecot, opts.messages).await?);
    }
    if opts.latency_messages > 0 {
        report.latency = Some(latency(&dovecot, opts.latency_messages, opts.interval).await?);
    }
    Ok(report)
}

async fn throughput(dovecot: &Dovecot, n: usize) -> anyhow::Result<Throughput> {
    let tmp = tempfile::tempdir().context("temp dir")?;
    let (desk, store) = desk(tmp.path()).await?;
    let cfg = config(dovecot, USER);

    eprintln!("aduan-bench imap: seeding {n} messages");
    let seed_start = Instant::now();
    let total_bytes = {
        let messages: Vec<Vec<u8>> = (0..n as u64)
            .map(|i| message(i, &format!("bench-{i}@mail.example.test")))
            .collect();
        let bytes: usize = messages.iter().map(Vec::len).sum();
        dovecot
            .write_maildir(USER, &messages)
            .map_err(anyhow::Error::msg)?;
        bytes
    };
    let (uidvalidity, max_uid) = {
        let mut s = dovecot.login(USER).await.map_err(anyhow::Error::msg)?;
        let m = s.select("INBOX").await.context("SELECT INBOX")?;
        ensure!(
            m.exists as usize == n,
            "INBOX holds {} messages, not {n}",
            m.exists
        );
        let _ = s.logout().await;
        (
            m.uid_validity.context("no UIDVALIDITY")?,
            m.uid_next.unwrap_or(n as u32 + 1) - 1,
        )
    };
    let seed = seed_start.elapsed();

    let me = std::process::id();
    let start_rss_kb = rss::read(me)?.rss_kb;
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(rss::sample(me, Duration::from_millis(50), stop_rx));
    let health = Arc::new(Mutex::new(None));
    let token = CancellationToken::new();
    eprintln!("aduan-bench imap: intake running");
    let t0 = Instant::now();
    let task = tokio::spawn(run_intake(
        cfg.clone(),
        context(&desk, &cfg, health.clone()),
        token.clone(),
    ));
    let key = intake_key(&cfg);
    let want = format!("{uidvalidity}:{max_uid}");
    let deadline = t0 + Duration::from_secs(600);
    loop {
        if desk.intake().cursor(&key).await?.as_deref() == Some(want.as_str()) {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "intake did not finish within 600 s (cursor {:?}, health {:?})",
                desk.intake().cursor(&key).await?,
                health.lock().ok().and_then(|h| h.clone())
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let committed = t0.elapsed();
    let mut inbox_left = u32::MAX;
    while Instant::now() < deadline {
        inbox_left = count(dovecot, USER, "INBOX").await?;
        if inbox_left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let archived = t0.elapsed();
    let _ = stop_tx.send(true);
    let samples = sampler.await.context("sampler")?;
    let hwm_kb = rss::read(me)?.hwm_kb;
    token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;

    let from = chrono::Utc::now() - chrono::Duration::days(1);
    let to = chrono::Utc::now() + chrono::Duration::days(1);
    let complaints = store.count_received_between(from, to).await? as usize;
    let claimed = store
        .claim_replies(
            chrono::Utc::now(),
            chrono::Duration::minutes(5),
            n as u32 + 100,
        )
        .await?;
    Ok(Throughput {
        messages: n,
        avg_message_bytes: total_bytes / n.max(1),
        seed,
        committed,
        archived,
        complaints,
        acks_queued: claimed.len(),
        archive_count: count(dovecot, USER, &cfg.archive_mailbox).await?,
        inbox_left,
        peak_rss_kb: samples.peak_kb.max(start_rss_kb),
        hwm_kb,
        start_rss_kb,
    })
}

/// The outbox worker loop of the daemon (crates/aduan/src/outbox_task.rs): drain, then sleep
/// until the next due row, at most `idle_poll`.
async fn outbox_worker(outbox: Outbox, shutdown: CancellationToken, idle_poll: Duration) {
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        if let Ok(o) = outbox.run_once().await
            && o.claimed > 0
        {
            continue;
        }
        let wait = match outbox.next_due().await {
            Ok(Some(t)) => (t - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(idle_poll),
            _ => idle_poll,
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
        }
    }
}

async fn latency(dovecot: &Dovecot, k: usize, interval: Duration) -> anyhow::Result<IdleLatency> {
    let tmp = tempfile::tempdir().context("temp dir")?;
    let (desk, store) = desk(tmp.path()).await?;
    let cfg = config(dovecot, USER2);
    let (sink, mut received) = SmtpSink::start().await.context("SMTP sink")?;
    let mut smtp = cfg.smtp_settings().map_err(anyhow::Error::msg)?;
    smtp.port = sink.port();
    smtp.security = Security::None;
    smtp.timeout = Duration::from_secs(10);
    let sender: Arc<dyn ReplySender> = Arc::new(SmtpSender::new(smtp)?);
    let outbox = Outbox::new(
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(Templates::new(vec![])?),
        HashMap::from([(Channel::Email, sender)]),
    );
    let token = CancellationToken::new();
    let worker = tokio::spawn(outbox_worker(outbox, token.clone(), Duration::from_secs(1)));
    let health = Arc::new(Mutex::new(None));
    let intake = tokio::spawn(run_intake(
        cfg.clone(),
        context(&desk, &cfg, health.clone()),
        token.clone(),
    ));
    // Wait until the reader reports healthy (first sync done, about to IDLE).
    let ready_by = Instant::now() + Duration::from_secs(30);
    loop {
        if matches!(health.lock().ok().and_then(|h| h.clone()), Some(None)) {
            break;
        }
        ensure!(Instant::now() < ready_by, "the intake did not become ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Acknowledgements arriving at the sink, by the id they reply to.
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let collector = {
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            while let Some(mail) = received.recv().await {
                let at = Instant::now();
                let text = String::from_utf8_lossy(&mail.data).into_owned();
                let head = text.split("\r\n\r\n").next().unwrap_or("");
                if let Some(v) = head.split("\r\n").find_map(|l| {
                    l.get(..12)
                        .filter(|p| p.eq_ignore_ascii_case("In-Reply-To:"))
                        .map(|_| l[12..].trim().trim_matches(['<', '>']).to_string())
                }) && let Ok(mut a) = arrivals.lock()
                {
                    a.insert(v, at);
                }
            }
        })
    };

    eprintln!(
        "aduan-bench imap: IDLE latency, {k} messages one every {} ms",
        interval.as_millis()
    );
    let mut appender = dovecot.login(USER2).await.map_err(anyhow::Error::msg)?;
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    let mut sent_wall: HashMap<String, chrono::DateTime<chrono::Utc>> = HashMap::new();
    let mut tick = tokio::time::interval(interval);
    for i in 0..k {
        tick.tick().await;
        let id = format!("lat-{i}-{}@mail.example.test", std::process::id());
        let raw = message(100_000 + i as u64, &id);
        let t = Instant::now();
        sent_wall.insert(id.clone(), chrono::Utc::now());
        appender
            .append("INBOX", None, None, &raw)
            .await
            .context("APPEND")?;
        sent_at.insert(id, t);
    }
    let _ = appender.logout().await;
    let wait_until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < wait_until {
        let done = arrivals.lock().map(|a| a.len()).unwrap_or(0);
        if done >= k {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), intake).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), worker).await;
    collector.abort();
    drop(sink);

    let arrivals = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let mut us: Vec<u64> = sent_at
        .iter()
        .filter_map(|(id, t)| {
            arrivals
                .get(id)
                .map(|a| a.duration_since(*t).as_micros() as u64)
        })
        .collect();
    let received_n = us.len();
    let from = chrono::Utc::now() - chrono::Duration::days(1);
    let to = chrono::Utc::now() + chrono::Duration::days(1);
    let mut commit_us: Vec<u64> = store
        .complaints_received_between(from, to)
        .await?
        .iter()
        .filter_map(|c| {
            let id = c.external_id.as_deref()?.strip_prefix("msgid:")?;
            let sent = sent_wall.get(id)?;
            (c.created_at - *sent)
                .to_std()
                .ok()
                .map(|d| d.as_micros() as u64)
        })
        .collect();
    Ok(IdleLatency {
        sent: k,
        received: received_n,
        interval,
        latency: stats::summarise(&mut us),
        to_commit: stats::summarise(&mut commit_us),
    })
}
