//! The `imap` benchmark: IMAP intake from a private local Dovecot into SQLite, in process.
//!
//! # Throughput
//!
//! 1. A private Dovecot starts (`scripts/dovecot-test`, through
//!    `aduan_channel_email::testing::dovecot`) and `--messages` N distinct complaint mails
//!    (multipart/alternative text + HTML, about 3 KiB each, each from its own sender) are
//!    written straight into user `aduan`'s `Maildir/new`; one `SELECT` makes Dovecot index
//!    them. That is seeding, timed separately.
//! 2. The raw baseline on the same mailbox contents, before aduan touches them: one
//!    connection (the intake's `async-imap` client), `SELECT`, one
//!    `UID FETCH 1:* (UID BODY.PEEK[])`, every message inserted as `(uid, raw bytes)` into a
//!    fresh SQLite table (WAL, `synchronous = NORMAL`, as the store) in one transaction;
//!    timed from the TCP connect to the commit. `BODY.PEEK` leaves the mailbox unchanged.
//!    The pass reads the files the intake reads next, so Dovecot's caches are no colder
//!    for aduan than for the baseline. The report prints aduan's rate over this one
//!    against [`TARGET_RAW_RATIO`] (issue 16), and the CPU time of both. A second raw
//!    pass with one transaction per message (as the intake commits) follows, to show what
//!    per-message commits alone cost.
//! 3. A fresh SQLite database in a temp dir, a `Desk` with e-mail replies on, and the real
//!    `run_intake` task (IDLE on, the production batch sizes and lease) reading INBOX.
//! 4. The clock runs from spawning the task (so connect, login and SELECT are included)
//!    until the durable cursor covers the highest UID, i.e. every message is committed with
//!    its acknowledgement queued; "archived" is when INBOX is empty (the last batch moved).
//!    Throughput = N / committed time.
//! 5. Memory of this process (intake + SQLite; Dovecot runs apart) is sampled every 50 ms
//!    (`VmRSS`, peak reported) and `VmHWM` read at the end. The messages are generated and
//!    dropped before the measurement starts.
//! 6. Checks: exactly N complaints, N pending acknowledgements, INBOX empty, N messages in
//!    the archive mailbox, and the raw table holding all N messages.
//!
//! # Latency with IDLE
//!
//! A fresh database and user `aduan2`'s empty INBOX; the intake idles in IMAP IDLE and the
//! daemon's outbox worker (`aduan::outbox_task::run`: drain, then sleep until the next due
//! row or until a commit queues one, at most its 1 s fallback poll) sends acknowledgements through `SmtpSender` to an in-process `SmtpSink`. Every
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
/// Throughput target (issue 16): aduan's intake rate over the raw fetch-and-insert rate.
pub const TARGET_RAW_RATIO: f64 = 0.5;
/// Latency target (issue 16): median APPEND → acknowledgement at the sink, milliseconds.
pub const TARGET_P50_MS: f64 = 400.0;
/// Latency target (issue 16): 90th percentile, milliseconds.
pub const TARGET_P90_MS: f64 = 800.0;

/// What to run.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Messages seeded for the throughput run (0: skip it).
    pub messages: usize,
    /// Messages sent one by one for the latency run (0: skip it).
    pub latency_messages: usize,
    /// Pause between two latency messages.
    pub interval: Duration,
    /// Complaints for the escalation-lateness run (0: skip it).
    pub escalations: usize,
    /// Acknowledgements for the outbound run (0: skip it).
    pub outbound: usize,
    /// Sends at once in the outbound run.
    pub outbound_concurrency: usize,
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
    /// CPU time (user + system) of this process from spawning the intake to the commit of
    /// the last message.
    pub cpu: Duration,
    /// Context switches (voluntary + involuntary) of this process's threads over the same
    /// span: each one is a thread going to sleep or being preempted, e.g. a hand-off
    /// between a tokio worker and SQLite's worker thread.
    pub switches: u64,
    /// `normalize` (the intake's MIME parse) of all N messages on one thread, timed apart.
    pub parse: Duration,
    /// The raw fetch-and-insert pass over the same mailbox, run just before the intake.
    pub raw: RawPass,
    /// The same pass with one transaction per message (as the intake commits), run next:
    /// shows what per-message commits alone cost.
    pub raw_per_commit: RawPass,
}

impl Throughput {
    pub fn per_second(&self) -> f64 {
        self.messages as f64 / self.committed.as_secs_f64().max(1e-9)
    }

    /// aduan's intake rate over the raw fetch-and-insert rate of the same mailbox.
    pub fn ratio(&self) -> f64 {
        self.per_second() / self.raw.per_second().max(1e-9)
    }
}

/// The raw baseline: one `UID FETCH 1:* (UID BODY.PEEK[])` over one connection (the same
/// `async-imap` client the intake uses), every message inserted as `(uid, raw bytes)` into
/// a fresh SQLite table (same `journal_mode = WAL`, `synchronous = NORMAL` as the store) in
/// one transaction. Timed from the TCP connect to the commit.
#[derive(Debug, Clone, Default)]
pub struct RawPass {
    pub messages: usize,
    pub bytes: u64,
    pub elapsed: Duration,
    /// Of which connect + greeting + LOGIN + SELECT.
    pub setup: Duration,
    /// CPU time (user + system) of this process over the pass.
    pub cpu: Duration,
    /// Slowest and fastest rate (messages/s) of the [`RAW_RUNS`] runs; the figures above
    /// are the median run's.
    pub range: (f64, f64),
}

/// Runs of each raw pass; the median is reported (one pass takes a tenth of a second, so a
/// single run is at the mercy of whatever else the box schedules).
pub const RAW_RUNS: usize = 3;

impl RawPass {
    pub fn per_second(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
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
    pub escalations: Option<crate::timers::Escalations>,
    pub outbound: Option<crate::timers::Outbound>,
}

impl Report {
    /// Whether every correctness check held (the targets are reported separately).
    pub fn correct(&self) -> bool {
        let t = self.throughput.as_ref().is_none_or(|t| {
            t.complaints == t.messages
                && t.acks_queued == t.messages
                && t.inbox_left == 0
                && t.archive_count as usize == t.messages
                && t.raw.messages == t.messages
                && t.raw_per_commit.messages == t.messages
        });
        let l = self.latency.as_ref().is_none_or(|l| l.received == l.sent);
        let e = self.escalations.as_ref().is_none_or(|e| e.correct());
        let o = self.outbound.as_ref().is_none_or(|o| o.correct());
        t && l && e && o
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
                "  raw baseline      {:.2} s  → {:.0} messages/s  (median of {RAW_RUNS}, range {:.0}–{:.0}; one UID FETCH 1:* (UID BODY.PEEK[]) into one SQLite transaction, {:.1} MiB; connect+login+SELECT {:.0} ms; CPU {:.2} s)",
                t.raw.elapsed.as_secs_f64(),
                t.raw.per_second(),
                t.raw.range.0,
                t.raw.range.1,
                t.raw.bytes as f64 / (1024.0 * 1024.0),
                t.raw.setup.as_secs_f64() * 1000.0,
                t.raw.cpu.as_secs_f64()
            );
            let _ = writeln!(
                s,
                "                    the same, one commit per message: {:.2} s → {:.0} messages/s (range {:.0}–{:.0}; CPU {:.2} s)",
                t.raw_per_commit.elapsed.as_secs_f64(),
                t.raw_per_commit.per_second(),
                t.raw_per_commit.range.0,
                t.raw_per_commit.range.1,
                t.raw_per_commit.cpu.as_secs_f64()
            );
            let _ = writeln!(
                s,
                "  intake / raw      {:.0} / {:.0} messages/s = {:.2}×  (target ≥ {:.1}×: {}); intake CPU {:.2} s over {:.2} s wall, {:.1} context switches per message",
                per_s,
                t.raw.per_second(),
                t.ratio(),
                TARGET_RAW_RATIO,
                crate::timers::met(t.raw.messages == t.messages && t.ratio() >= TARGET_RAW_RATIO),
                t.cpu.as_secs_f64(),
                t.committed.as_secs_f64(),
                t.switches as f64 / t.messages.max(1) as f64
            );
            let _ = writeln!(
                s,
                "                    per message: intake {:.0} µs wall, {:.0} µs CPU (of which MIME parse alone {:.0} µs); raw {:.0} µs, raw with a commit each {:.0} µs",
                t.committed.as_secs_f64() * 1e6 / t.messages.max(1) as f64,
                t.cpu.as_secs_f64() * 1e6 / t.messages.max(1) as f64,
                t.parse.as_secs_f64() * 1e6 / t.messages.max(1) as f64,
                t.raw.elapsed.as_secs_f64() * 1e6 / t.raw.messages.max(1) as f64,
                t.raw_per_commit.elapsed.as_secs_f64() * 1e6
                    / t.raw_per_commit.messages.max(1) as f64
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
                "                    received {}/{}, p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms  (target p50 ≤ {:.0} ms: {}; p90 ≤ {:.0} ms: {})",
                l.received,
                l.sent,
                l.latency.p50,
                l.latency.p90,
                l.latency.max,
                TARGET_P50_MS,
                crate::timers::met(l.received > 0 && l.latency.p50 <= TARGET_P50_MS),
                TARGET_P90_MS,
                crate::timers::met(l.received > 0 && l.latency.p90 <= TARGET_P90_MS),
            );
            let _ = writeln!(
                s,
                "                    of which APPEND → committed: p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms (the rest: the woken outbox worker's claim, render, SMTP, completion)",
                l.to_commit.p50, l.to_commit.p90, l.to_commit.max
            );
        }
        if let Some(e) = &self.escalations {
            s.push_str(&crate::timers::escalation_lines(e));
        }
        if let Some(o) = &self.outbound {
            s.push_str(&crate::timers::outbound_lines(o));
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
                "cpu_s": round(t.cpu.as_secs_f64()),
                "context_switches": t.switches,
                "parse_s": round(t.parse.as_secs_f64()),
                "raw_messages": t.raw.messages,
                "raw_bytes": t.raw.bytes,
                "raw_s": round(t.raw.elapsed.as_secs_f64()),
                "raw_setup_s": round(t.raw.setup.as_secs_f64()),
                "raw_cpu_s": round(t.raw.cpu.as_secs_f64()),
                "raw_messages_per_s": round(t.raw.per_second()),
                "raw_runs": RAW_RUNS,
                "raw_min_per_s": round(t.raw.range.0),
                "raw_max_per_s": round(t.raw.range.1),
                "raw_per_commit_s": round(t.raw_per_commit.elapsed.as_secs_f64()),
                "raw_per_commit_cpu_s": round(t.raw_per_commit.cpu.as_secs_f64()),
                "raw_per_commit_messages_per_s": round(t.raw_per_commit.per_second()),
                "ratio_to_raw": round(t.ratio()),
                "ratio_target": TARGET_RAW_RATIO,
                "ratio_met": t.raw.messages == t.messages && t.ratio() >= TARGET_RAW_RATIO,
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
            "escalation": self.escalations.as_ref().map(crate::timers::escalation_json),
            "outbound": self.outbound.as_ref().map(crate::timers::outbound_json),
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
    let mut report = Report::default();
    if opts.messages > 0 || opts.latency_messages > 0 {
        eprintln!("aduan-bench imap: starting a private Dovecot (scripts/dovecot-test)");
        let dovecot = Dovecot::start().map_err(anyhow::Error::msg)?;
        if opts.messages > 0 {
            report.throughput = Some(throughput(&dovecot, opts.messages).await?);
        }
        if opts.latency_messages > 0 {
            report.latency = Some(latency(&dovecot, opts.latency_messages, opts.interval).await?);
        }
    }
    if opts.escalations > 0 {
        report.escalations = Some(crate::timers::escalations(opts.escalations).await?);
    }
    if opts.outbound > 0 {
        report.outbound =
            Some(crate::timers::outbound(opts.outbound, opts.outbound_concurrency).await?);
    }
    Ok(report)
}

async fn throughput(dovecot: &Dovecot, n: usize) -> anyhow::Result<Throughput> {
    let tmp = tempfile::tempdir().context("temp dir")?;
    let (desk, store) = desk(tmp.path()).await?;
    let cfg = config(dovecot, USER);

    eprintln!("aduan-bench imap: seeding {n} messages");
    let parse;
    let seed_start = Instant::now();
    let total_bytes = {
        let messages: Vec<Vec<u8>> = (0..n as u64)
            .map(|i| message(i, &format!("bench-{i}@mail.example.test")))
            .collect();
        let bytes: usize = messages.iter().map(Vec::len).sum();
        // For the breakdown: what parsing alone costs (one thread, outside every clock
        // below; the seed time excludes it).
        let p0 = Instant::now();
        let limits = aduan_channel_email::Limits::default();
        for m in &messages {
            aduan_channel_email::normalize(m, &limits).context("normalize")?;
        }
        parse = p0.elapsed();
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
    let seed = seed_start.elapsed().saturating_sub(parse);

    eprintln!("aduan-bench imap: raw baseline (one UID FETCH 1:* into one SQLite transaction)");
    let raw = raw_median(dovecot, n, Commits::One).await?;
    eprintln!("aduan-bench imap: the same with one commit per message");
    let raw_per_commit = raw_median(dovecot, n, Commits::PerMessage).await?;

    let me = std::process::id();
    let start_rss_kb = rss::read(me)?.rss_kb;
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(rss::sample(me, Duration::from_millis(50), stop_rx));
    let health = Arc::new(Mutex::new(None));
    let token = CancellationToken::new();
    eprintln!("aduan-bench imap: intake running");
    let cpu0 = cpu_time()?;
    let switches0 = context_switches();
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
    let cpu = cpu_time()?.saturating_sub(cpu0);
    let switches = context_switches().saturating_sub(switches0);
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
        cpu,
        switches,
        parse,
        raw,
        raw_per_commit,
    })
}

/// User + system CPU time of this process so far (`/proc/self/stat`, in clock ticks of
/// 1/100 s, the `USER_HZ` of Linux).
fn cpu_time() -> anyhow::Result<Duration> {
    let text = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    parse_cpu_ticks(&text)
        .map(|ticks| Duration::from_millis(ticks * 10))
        .context("parsing /proc/self/stat")
}

/// Voluntary + involuntary context switches summed over this process's live threads
/// (`/proc/self/task/*/status`); 0 where unreadable.
fn context_switches() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .map(|text| parse_switches(&text))
        .sum()
}

/// `voluntary_ctxt_switches + nonvoluntary_ctxt_switches` of a `/proc/…/status` text.
fn parse_switches(status: &str) -> u64 {
    status
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            matches!(k, "voluntary_ctxt_switches" | "nonvoluntary_ctxt_switches")
                .then(|| v.trim().parse::<u64>().ok())
                .flatten()
        })
        .sum()
}

/// `utime + stime` (fields 14 and 15) of a `/proc/PID/stat` line; the command name (field
/// 2, in parentheses) may contain spaces, so fields are counted after its closing `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After `)`: field 3 (state) is the first; utime is field 14, i.e. the 12th here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// [`RAW_RUNS`] raw passes over the same mailbox (left unchanged by each); the median run by
/// time, with the range of rates.
async fn raw_median(dovecot: &Dovecot, n: usize, commits: Commits) -> anyhow::Result<RawPass> {
    let mut runs = Vec::with_capacity(RAW_RUNS);
    for _ in 0..RAW_RUNS {
        runs.push(raw_pass(dovecot, n, commits).await?);
    }
    Ok(median_run(runs))
}

/// The median of `runs` by elapsed time, carrying the range of their rates.
fn median_run(mut runs: Vec<RawPass>) -> RawPass {
    runs.sort_by_key(|r| r.elapsed);
    let range = (
        runs.last().map_or(0.0, RawPass::per_second),
        runs.first().map_or(0.0, RawPass::per_second),
    );
    let mut mid = runs.swap_remove(runs.len() / 2);
    mid.range = range;
    mid
}

/// How the raw pass commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Commits {
    /// Every message in one transaction (the baseline).
    One,
    /// One transaction per message, as the intake commits (for the breakdown only).
    PerMessage,
}

/// The raw baseline over `user`'s INBOX, which holds `n` messages (left in place: the
/// fetch uses `BODY.PEEK[]`, so not even `\Seen` changes).
async fn raw_pass(dovecot: &Dovecot, n: usize, commits: Commits) -> anyhow::Result<RawPass> {
    use futures::TryStreamExt as _;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    use sqlx::{ConnectOptions as _, Connection as _};

    let tmp = tempfile::tempdir().context("temp dir")?;
    let mut db = SqliteConnectOptions::new()
        .filename(tmp.path().join("raw.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .connect()
        .await
        .context("opening the raw SQLite database")?;
    sqlx::query("CREATE TABLE raw_mail (uid INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        .execute(&mut db)
        .await
        .context("CREATE TABLE")?;

    let cpu0 = cpu_time()?;
    let t0 = Instant::now();
    let mut s = dovecot.login(USER).await.map_err(anyhow::Error::msg)?;
    let m = s.select("INBOX").await.context("raw: SELECT INBOX")?;
    ensure!(
        m.exists as usize == n,
        "raw: INBOX holds {} messages, not {n}",
        m.exists
    );
    let setup = t0.elapsed();
    let insert = "INSERT INTO raw_mail (uid, body) VALUES (?, ?)";
    let mut messages = 0usize;
    let mut bytes = 0u64;
    {
        let mut fetches = s
            .uid_fetch("1:*", "(UID BODY.PEEK[])")
            .await
            .context("raw: UID FETCH")?;
        // Plain `BEGIN`/`COMMIT` statements on the one connection (what `Connection::begin`
        // sends on SQLite), so both modes share the loop.
        let one = commits == Commits::One;
        if one {
            sqlx::query("BEGIN")
                .execute(&mut db)
                .await
                .context("raw: BEGIN")?;
        }
        while let Some(f) = fetches.try_next().await.context("raw: UID FETCH")? {
            let (Some(uid), Some(body)) = (f.uid, f.body()) else {
                continue;
            };
            if !one {
                sqlx::query("BEGIN")
                    .execute(&mut db)
                    .await
                    .context("raw: BEGIN")?;
            }
            sqlx::query(insert)
                .bind(i64::from(uid))
                .bind(body)
                .execute(&mut db)
                .await
                .context("raw: INSERT")?;
            if !one {
                sqlx::query("COMMIT")
                    .execute(&mut db)
                    .await
                    .context("raw: COMMIT")?;
            }
            messages += 1;
            bytes += body.len() as u64;
        }
        if one {
            sqlx::query("COMMIT")
                .execute(&mut db)
                .await
                .context("raw: COMMIT")?;
        }
    }
    let elapsed = t0.elapsed();
    let cpu = cpu_time()?.saturating_sub(cpu0);
    let _ = s.logout().await;

    let (rows, stored): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM raw_mail")
            .fetch_one(&mut db)
            .await
            .context("raw: counting rows")?;
    ensure!(
        rows as usize == messages && stored as u64 == bytes,
        "raw: {rows} rows / {stored} bytes stored, {messages} / {bytes} fetched"
    );
    let _ = db.close().await;
    Ok(RawPass {
        messages,
        bytes,
        elapsed,
        setup,
        cpu,
        range: (0.0, 0.0),
    })
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
    let worker = tokio::spawn(aduan::outbox_task::run(
        outbox,
        token.clone(),
        aduan::app::OUTBOX_POLL,
    ));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_from_proc_stat() {
        // A command name with spaces and parentheses; utime 1234, stime 56.
        let line =
            "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_cpu_ticks(line), Some(1290));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1 2"), None);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(parse_cpu_ticks(&own).is_some());
    }

    #[test]
    fn median_of_raw_runs() {
        let run = |ms| RawPass {
            messages: 1000,
            elapsed: Duration::from_millis(ms),
            ..RawPass::default()
        };
        let m = median_run(vec![run(400), run(100), run(200)]);
        assert_eq!(m.elapsed, Duration::from_millis(200));
        assert!((m.range.0 - 2500.0).abs() < 1e-6 && (m.range.1 - 10000.0).abs() < 1e-6);
    }

    #[test]
    fn switches_from_proc_status() {
        let status = "Name:\tx\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t7\n";
        assert_eq!(parse_switches(status), 127);
        assert!(context_switches() > 0);
    }

    #[test]
    fn ratio_against_raw() {
        let t = Throughput {
            messages: 1000,
            committed: Duration::from_secs(2),
            raw: RawPass {
                messages: 1000,
                elapsed: Duration::from_millis(500),
                ..RawPass::default()
            },
            ..Throughput::default()
        };
        assert!((t.per_second() - 500.0).abs() < 1e-6);
        assert!((t.raw.per_second() - 2000.0).abs() < 1e-6);
        assert!((t.ratio() - 0.25).abs() < 1e-6);
        let table = Report {
            throughput: Some(t.clone()),
            ..Report::default()
        }
        .table();
        assert!(table.contains("0.25×  (target ≥ 0.5×: MISSED)"), "{table}");
        let json = Report {
            throughput: Some(t),
            ..Report::default()
        }
        .to_json();
        assert_eq!(json["throughput"]["ratio_to_raw"], 0.25);
        assert_eq!(json["throughput"]["ratio_met"], false);
    }
}
