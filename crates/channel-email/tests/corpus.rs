//! Intake robustness on real-world mail: the 84 messages of the shared corpus
//! (`tests/fixtures/corpus`, mail-parser's test suite: old clients, RFC examples, other
//! parsers' odd encodings, nested multiparts and broken headers) are delivered to a real
//! Dovecot and read by the IMAP intake into SQLite and PostgreSQL.
//!
//! Every message ends as a complaint or a threaded message with a sender address and a
//! readable text, or as a refusal that is counted in `aduan_intake_total` and logged with
//! its UID: the counts add up to 84, the mailbox drains into the archive, the reader stays
//! healthy, and no log line carries a complainant's identity.
//!
//! Its own test binary: the metrics recorder and the log writer are process-wide.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aduan_channel_email::imap::{EmailContext, external_id, run_intake};
use aduan_channel_email::testing::dovecot::{Dovecot, USER};
use aduan_channel_email::{Limits, normalize};
use aduan_core::calendar::WorkCalendar;
use aduan_core::desk::{Desk, DeskConfig, SystemClock};
use aduan_core::model::ComplaintRecord;
use aduan_core::sla::{SlaDurations, SlaPolicy};
use aduan_core::store::Store;
use aduan_core::testing::privacy::PrivacyOracle;
use aduan_core::types::{Channel, TicketPrefix};
use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use tokio_util::sync::CancellationToken;

const OFFICE: &str = "pengaduan@bulelengkab.example";

// ---- a recorder that counts `aduan_intake_total` by its labels ----

type Counts = Arc<Mutex<HashMap<String, u64>>>;

struct IntakeCounter {
    counts: Counts,
}

struct Cell {
    labels: String,
    counts: Counts,
}

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        *self
            .counts
            .lock()
            .expect("counts")
            .entry(self.labels.clone())
            .or_default() += value;
    }

    fn absolute(&self, value: u64) {
        self.counts
            .lock()
            .expect("counts")
            .insert(self.labels.clone(), value);
    }
}

impl Recorder for IntakeCounter {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        if key.name() != "aduan_intake_total" {
            return Counter::noop();
        }
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        Counter::from_arc(Arc::new(Cell {
            labels: labels.join(","),
            counts: self.counts.clone(),
        }))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// E-mail intake outcomes counted so far, by outcome label.
fn email_outcomes(counts: &Counts) -> HashMap<String, u64> {
    counts
        .lock()
        .expect("counts")
        .iter()
        .filter_map(|(labels, n)| {
            let outcome = labels
                .strip_prefix("channel=email,outcome=")
                .map(str::to_string)?;
            Some((outcome, *n))
        })
        .collect()
}

// ---- the log, captured ----

#[derive(Clone)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log")).into_owned()
    }
}

fn corpus_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let mut out = Vec::new();
    for dir in ["legacy", "rfc", "thirdparty"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("corpus dir") {
            let p = entry.expect("entry").path();
            if p.extension().is_some_and(|e| e == "eml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Bare LF line ends as CRLF.
fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

fn desk(store: Arc<dyn Store>) -> Desk {
    Desk::new(
        store,
        Arc::new(SystemClock),
        DeskConfig {
            office_name: "Disdukcapil Kabupaten Buleleng".into(),
            ticket_prefix: TicketPrefix::parse("ADU").expect("prefix"),
            policy: SlaPolicy::new(
                WorkCalendar::always_open(chrono_tz::Asia::Makassar),
                SlaDurations::default(),
            ),
            bidang: vec![],
            reply_channels: HashSet::from([Channel::Email]),
            public_base_url: "https://aduan.bulelengkab.example".into(),
        },
    )
}

async fn all_complaints(store: &dyn Store) -> Vec<ComplaintRecord> {
    let from = chrono::Utc::now() - chrono::Duration::days(1);
    let to = chrono::Utc::now() + chrono::Duration::days(1);
    let mut out = Vec::new();
    for c in store
        .complaints_received_between(from, to)
        .await
        .expect("complaints")
    {
        out.push(
            store
                .get_complaint(&c.ticket)
                .await
                .expect("get")
                .expect("exists"),
        );
    }
    out
}

/// The corpus through Dovecot into one database; returns the outcome counts of this run.
async fn deliver_the_corpus(postgres: bool, counts: &Counts, log: &LogBuffer) {
    let files = corpus_files();
    assert_eq!(files.len(), 84, "corpus size");
    let raws: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();

    let dovecot = Dovecot::start().expect("Dovecot");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = if postgres {
        aduan_store::testing::fresh_postgres_url().await
    } else {
        aduan_store::testing::fresh_sqlite_url(dir.path())
    };
    let store = aduan_store::testing::connect(&url).await.expect("store");
    store.migrate().await.expect("migrate");
    let desk = desk(store.clone());
    let mut cfg = dovecot.email_config(USER);
    cfg.from = format!("Pengaduan Disdukcapil <{OFFICE}>");
    let health: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let h = health.clone();
    let ctx = EmailContext {
        desk: desk.clone(),
        own_addresses: cfg.own_addresses(),
        limits: Limits::default(),
        ack_daily_cap: 5,
        holder: "replica-1".into(),
        health: Arc::new(move |x| h.lock().expect("health").push(x)),
    };
    assert_eq!(
        dovecot.write_maildir(USER, &raws).expect("deliver"),
        84,
        "delivered"
    );
    let before = email_outcomes(counts);
    let log_start = log.text().len();
    let token = CancellationToken::new();
    let task = tokio::spawn(run_intake(cfg.clone(), ctx, token.clone()));

    // The mailbox drains into the archive.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let inbox = dovecot.count(USER, &cfg.mailbox).await.expect("STATUS");
        let archived = dovecot.count(USER, &cfg.archive_mailbox).await.unwrap_or(0);
        if inbox == 0 && archived == 84 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{inbox} left in the inbox, {archived} archived; health {:?}",
            health.lock().expect("health")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    token.cancel();
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("intake stops")
        .expect("the intake task never panics");
    assert!(
        health
            .lock()
            .expect("health")
            .iter()
            .flatten()
            .next()
            .is_none(),
        "the reader reported trouble: {:?}",
        health.lock().expect("health")
    );

    // Counted: every message has exactly one outcome.
    let after = email_outcomes(counts);
    let delta = |o: &str| after.get(o).copied().unwrap_or(0) - before.get(o).copied().unwrap_or(0);
    let total: u64 = after.keys().map(|o| delta(o)).sum();
    assert_eq!(total, 84, "outcomes {after:?} (before {before:?})");
    let refused = delta("rejected") + delta("bounce");
    let stored = delta("accepted") + delta("appended") + delta("duplicate");
    assert_eq!(stored + refused, 84);

    // Stored: each stored message is found by its external id on a complaint with a sender
    // and a readable text.
    let complaints = all_complaints(store.as_ref()).await;
    assert_eq!(
        complaints.len() as u64,
        delta("accepted"),
        "one per acceptance"
    );
    let mut found = 0;
    for (f, raw) in files.iter().zip(&raws) {
        let name = f.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(f);
        // IMAP serves lines with CRLF: Dovecot sends a file written with bare LF that way,
        // and a message without a Message-ID is stored under the hash of what it served.
        let mut ticket = None;
        for bytes in [raw.clone(), crlf(raw)] {
            let Ok(mail) = normalize(&bytes, &Limits::default()) else {
                continue;
            };
            ticket = store
                .ticket_by_external_id(Channel::Email, &external_id(&mail))
                .await
                .expect("look-up");
            if ticket.is_some() {
                break;
            }
        }
        let Some(ticket) = ticket else {
            continue;
        };
        found += 1;
        let c = complaints
            .iter()
            .find(|c| c.ticket == ticket)
            .expect("complaint");
        assert!(
            c.identity.email.as_deref().is_some_and(|e| e.contains('@')),
            "{}: no sender on {}",
            name.display(),
            c.ticket
        );
        assert!(!c.body.trim().is_empty(), "{}: empty body", name.display());
    }
    assert_eq!(found, stored, "corpus files found stored");
    for c in &complaints {
        for text in std::iter::once(&c.body).chain(c.messages.iter().map(|m| &m.text)) {
            assert!(
                !text.contains('\u{fffd}'),
                "{}: replacement characters: {text}",
                c.ticket
            );
            assert!(
                !text.contains("Content-Transfer-Encoding:") && !text.contains("=?"),
                "{}: raw MIME: {text}",
                c.ticket
            );
        }
        if let Some(n) = &c.identity.name {
            assert!(
                !n.contains('\u{fffd}') && !n.contains("=?"),
                "{}: name {n}",
                c.ticket
            );
        }
    }

    // Logged: each refusal names its UID, and nothing in the log names a complainant.
    let run_log = log.text()[log_start..].to_string();
    let refusals = run_log
        .lines()
        .filter(|l| l.contains("uid=") && (l.contains("rejected:") || l.contains("bounce:")))
        .count() as u64;
    assert_eq!(refusals, refused, "refusals in the log:\n{run_log}");
    for c in &complaints {
        let names: Vec<&str> = c.attachments.iter().map(|a| a.filename.as_str()).collect();
        PrivacyOracle::new(&c.identity, None, &names).assert_clean("intake log", &run_log);
    }
    println!(
        "{}: {total} messages: {} accepted, {} appended, {} duplicate, {} rejected, {} bounce",
        if postgres { "postgres" } else { "sqlite" },
        delta("accepted"),
        delta("appended"),
        delta("duplicate"),
        delta("rejected"),
        delta("bounce"),
    );
    drop(store);
    if postgres {
        aduan_store::testing::drop_postgres_database(&url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_message_is_a_complaint_or_a_counted_logged_refusal() {
    let counts: Counts = Arc::default();
    metrics::set_global_recorder(IntakeCounter {
        counts: counts.clone(),
    })
    .expect("the only recorder of this binary");
    let log = LogBuffer(Arc::default());
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "aduan_channel_email=debug,aduan_core=debug,aduan_store=debug",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    deliver_the_corpus(false, &counts, &log).await;
    deliver_the_corpus(true, &counts, &log).await;
}
