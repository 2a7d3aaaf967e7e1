//! Issue 16's timer and outbound figures, in process on SQLite with the daemon's own
//! workers (`aduan::schedulers::run_sla`, `aduan::outbox_task::run` with their production
//! fallback intervals, 30 s and 1 s) and the real `SmtpSender` to an in-process `SmtpSink`.
//!
//! # Escalation lateness
//!
//! The triage step's standard time is 3 s. `--escalations` K complaints are filed one
//! every 400 ms while the SLA timer runs; each becomes due 3 s after it was filed, so the
//! timer is asleep (until an earlier due time, at most 30 s) when a new deadline is
//! written. Lateness = the escalation notice's arrival at the SMTP sink (wall clock)
//! minus the complaint's stored due time. Target: ≤ 1 s. Checks: exactly K escalation
//! notices, one per complaint.
//!
//! # Outbound
//!
//! `--outbound` N complaints are filed with the outbox worker stopped, so N
//! acknowledgements are pending; then the worker starts and the clock runs until the sink
//! has received all N. Rate = N / that time, with the pooled SMTP transport and the
//! outbox's concurrent sends. Target ≥ 500 acknowledgements/s. Checks: N mails, N distinct
//! tickets (none sent twice), nothing left pending.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aduan_channel_email::testing::{ReceivedMail, SmtpSink};
use aduan_channel_email::{Security, SmtpSender, SmtpSettings};
use aduan_core::calendar::WorkCalendar;
use aduan_core::desk::{Desk, DeskConfig, Submission, SystemClock};
use aduan_core::outbox::{Outbox, ReplySender};
use aduan_core::sla::{SlaDurations, SlaPolicy};
use aduan_core::store::Store;
use aduan_core::templates::Templates;
use aduan_core::types::{Channel, TicketNumber, TicketPrefix};
use anyhow::{Context, ensure};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::stats::{self, Latency};

/// Escalation lateness target (ms after the due time).
pub const TARGET_LATE_MS: f64 = 1000.0;
/// Outbound target (acknowledgements per second).
pub const TARGET_ACKS_PER_S: f64 = 500.0;
const KASI: &str = "kasi@bulelengkab.example";
/// The daemon's fallback intervals (crates/aduan/src/app.rs).
const OUTBOX_POLL: Duration = aduan::app::OUTBOX_POLL;
const SLA_RECHECK: Duration = aduan::app::SLA_RECHECK;
/// The triage step's standard time in the escalation run.
const TRIAGE_SECS: i64 = 3;

/// Figures of the escalation run.
#[derive(Debug, Clone, Default)]
pub struct Escalations {
    pub complaints: usize,
    pub notices: usize,
    pub distinct: usize,
    /// Notice at the sink − due time.
    pub late: Latency,
}

/// Figures of the outbound run.
#[derive(Debug, Clone, Default)]
pub struct Outbound {
    pub queued: usize,
    pub received: usize,
    pub distinct: usize,
    pub left_pending: bool,
    pub elapsed: Duration,
    pub concurrency: usize,
}

impl Outbound {
    pub fn per_second(&self) -> f64 {
        self.received as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn correct(&self) -> bool {
        self.received == self.queued && self.distinct == self.queued && !self.left_pending
    }
}

impl Escalations {
    pub fn correct(&self) -> bool {
        self.notices == self.complaints && self.distinct == self.complaints
    }
}

pub fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

pub fn escalation_lines(e: &Escalations) -> String {
    format!(
        "  escalation        {} complaints, triage step {TRIAGE_SECS} s, SLA timer re-check {} s: notice at the SMTP sink − due time\n\
         \x20                   notices {}/{} (distinct {}), p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms late  (target ≤ {:.0} ms: {})\n",
        e.complaints,
        SLA_RECHECK.as_secs(),
        e.notices,
        e.complaints,
        e.distinct,
        e.late.p50,
        e.late.p90,
        e.late.max,
        TARGET_LATE_MS,
        met(e.notices > 0 && e.late.max <= TARGET_LATE_MS)
    )
}

pub fn outbound_lines(o: &Outbound) -> String {
    let r = o.per_second();
    format!(
        "  outbound          {} acknowledgements queued, then the outbox worker (pooled SMTP, {} sends at once)\n\
         \x20                   received {} (distinct {}), left pending {}, {:.2} s → {:.0} acknowledgements/s  (target ≥ {:.0}: {})\n",
        o.queued,
        o.concurrency,
        o.received,
        o.distinct,
        o.left_pending,
        o.elapsed.as_secs_f64(),
        r,
        TARGET_ACKS_PER_S,
        met(r >= TARGET_ACKS_PER_S)
    )
}

pub fn escalation_json(e: &Escalations) -> Value {
    json!({
        "complaints": e.complaints,
        "notices": e.notices,
        "distinct": e.distinct,
        "late_p50_ms": e.late.p50,
        "late_p90_ms": e.late.p90,
        "late_max_ms": e.late.max,
    })
}

pub fn outbound_json(o: &Outbound) -> Value {
    json!({
        "queued": o.queued,
        "received": o.received,
        "distinct": o.distinct,
        "left_pending": o.left_pending,
        "elapsed_s": o.elapsed.as_secs_f64(),
        "acks_per_s": o.per_second(),
        "concurrency": o.concurrency,
    })
}

/// A desk over a fresh SQLite database in `dir`, e-mail replies on.
async fn desk(dir: &std::path::Path, sla: SlaDurations) -> anyhow::Result<(Desk, Arc<dyn Store>)> {
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
            policy: SlaPolicy::new(WorkCalendar::always_open(chrono_tz::Asia::Makassar), sla),
            bidang: vec![],
            reply_channels: HashSet::from([Channel::Email]),
            public_base_url: "https://aduan.bulelengkab.example".into(),
        },
    );
    Ok((desk, store))
}

/// An outbox sending through a pooled `SmtpSender` to `sink`.
fn outbox(store: &Arc<dyn Store>, sink: &SmtpSink) -> anyhow::Result<Outbox> {
    let mut smtp = SmtpSettings::new(
        "127.0.0.1",
        sink.port(),
        "Pengaduan Disdukcapil <pengaduan@bulelengkab.example>".parse()?,
        "bulelengkab.example",
    );
    smtp.security = Security::None;
    smtp.timeout = Duration::from_secs(10);
    let sender: Arc<dyn ReplySender> = Arc::new(SmtpSender::new(smtp)?);
    Ok(Outbox::new(
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(Templates::new(vec![])?),
        HashMap::from([(Channel::Email, sender)]),
    ))
}

fn submission(n: usize) -> Submission {
    Submission {
        channel: Some(Channel::Web),
        email: Some(format!("warga{n}@example.test")),
        name: Some(format!("Warga {n}")),
        body: format!("KTP-el saya belum jadi sejak tiga bulan yang lalu. #{n}"),
        with_access_code: true,
        ..Default::default()
    }
}

/// The ticket in a mail's subject (`[ADU-…]`).
fn ticket_of(mail: &ReceivedMail) -> Option<String> {
    let text = String::from_utf8_lossy(&mail.data);
    let subject = text
        .split("\r\n\r\n")
        .next()?
        .split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with("subject:"))?;
    let open = subject.find('[')?;
    let close = subject[open..].find(']')? + open;
    Some(subject[open + 1..close].to_string())
}

/// Escalation lateness with `k` complaints.
pub async fn escalations(k: usize) -> anyhow::Result<Escalations> {
    let tmp = tempfile::tempdir().context("temp dir")?;
    let sla = SlaDurations {
        triage: chrono::Duration::seconds(TRIAGE_SECS),
        ..SlaDurations::default()
    };
    let (desk, store) = desk(tmp.path(), sla).await?;
    let (sink, mut mails) = SmtpSink::start().await.context("SMTP sink")?;
    let token = CancellationToken::new();
    let worker = tokio::spawn(aduan::outbox_task::run(
        outbox(&store, &sink)?,
        token.clone(),
        OUTBOX_POLL,
    ));
    let timer = tokio::spawn(aduan::schedulers::run_sla(
        desk.clone(),
        vec![KASI.to_string()],
        token.clone(),
        SLA_RECHECK,
    ));
    // Both asleep (nothing due yet).
    tokio::time::sleep(Duration::from_millis(500)).await;
    eprintln!(
        "aduan-bench: escalations, {k} complaints one every 400 ms, due {TRIAGE_SECS} s after"
    );
    let arrivals = tokio::spawn(async move {
        let mut at: Vec<(String, chrono::DateTime<chrono::Utc>)> = Vec::new();
        while let Some(m) = mails.recv().await {
            if m.rcpt_to.iter().any(|r| r == KASI)
                && let Some(t) = ticket_of(&m)
            {
                at.push((t, chrono::Utc::now()));
            }
        }
        at
    });
    let mut tickets = Vec::with_capacity(k);
    let mut tick = tokio::time::interval(Duration::from_millis(400));
    for i in 0..k {
        tick.tick().await;
        let r = desk.intake().submit(submission(i)).await?;
        tickets.push(r.ticket);
    }
    // The last one is due TRIAGE_SECS from now; allow some slack.
    tokio::time::sleep(Duration::from_secs(TRIAGE_SECS as u64 + 3)).await;
    token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), worker).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), timer).await;
    drop(sink); // ends the collector
    let at = arrivals.await.context("collector")?;
    let mut late_us = Vec::new();
    let mut seen = HashSet::new();
    for (ticket, arrived) in &at {
        seen.insert(ticket.clone());
        let t = TicketNumber::parse(ticket).context("ticket in subject")?;
        let rec = store
            .get_complaint(&t)
            .await?
            .with_context(|| format!("no complaint {ticket}"))?;
        let due = rec.due_at.context("no due time")?;
        late_us.push(
            (*arrived - due)
                .num_microseconds()
                .unwrap_or(i64::MAX)
                .max(0) as u64,
        );
    }
    ensure!(!tickets.is_empty() || k == 0, "no complaints filed");
    Ok(Escalations {
        complaints: k,
        notices: at.len(),
        distinct: seen.len(),
        late: stats::summarise(&mut late_us),
    })
}

/// Outbound rate with `n` acknowledgements.
pub async fn outbound(n: usize, concurrency: usize) -> anyhow::Result<Outbound> {
    let tmp = tempfile::tempdir().context("temp dir")?;
    let (desk, store) = desk(tmp.path(), SlaDurations::default()).await?;
    let (sink, mut mails) = SmtpSink::start().await.context("SMTP sink")?;
    eprintln!("aduan-bench: outbound, queueing {n} acknowledgements");
    let mut set = tokio::task::JoinSet::new();
    let per = n.div_ceil(32).max(1);
    for chunk in 0..n.div_ceil(per) {
        let desk = desk.clone();
        set.spawn(async move {
            for i in chunk * per..((chunk + 1) * per).min(n) {
                desk.intake().submit(submission(i)).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r.context("submit task")??;
    }
    let token = CancellationToken::new();
    let outbox = outbox(&store, &sink)?.with_concurrency(concurrency);
    eprintln!("aduan-bench: outbound, sending ({concurrency} at once)");
    let t0 = Instant::now();
    let worker = tokio::spawn(aduan::outbox_task::run(outbox, token.clone(), OUTBOX_POLL));
    let mut tickets = HashSet::new();
    let mut received = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while received < n {
        match tokio::time::timeout_at(deadline, mails.recv()).await {
            Ok(Some(m)) => {
                received += 1;
                if let Some(t) = ticket_of(&m) {
                    tickets.insert(t);
                }
            }
            _ => break,
        }
    }
    let elapsed = t0.elapsed();
    // Anything sent twice would arrive now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(m) = mails.try_recv() {
        received += 1;
        if let Some(t) = ticket_of(&m) {
            tickets.insert(t);
        }
    }
    token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), worker).await;
    let left_pending = store.next_reply_due().await?.is_some();
    Ok(Outbound {
        queued: n,
        received,
        distinct: tickets.len(),
        left_pending,
        elapsed,
        concurrency,
    })
}
