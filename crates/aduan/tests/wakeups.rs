//! Issue 16: the outbox worker is woken by the commit that queues a reply, and the SLA
//! timer by the commit that sets an earlier due time, instead of by their periodic
//! re-checks (set to 60 s here, so only a wake-up can deliver in time). On PostgreSQL the
//! same holds across replicas: a complaint written by another process's store wakes this
//! replica's workers through `NOTIFY`.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aduan::app::{Application, Overrides};
use aduan_channel_email::testing::{ReceivedMail, SmtpSink};
use aduan_core::desk::{Desk, Submission, SystemClock};
use aduan_core::types::Channel;
use common::{Backend, TestApp};
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

const KASI: &str = "kasi@example.go.id";
const CITIZEN: &str = "warga.cepat@example.com";
/// The periodic re-checks: far longer than anything the tests wait for.
const LONG: Duration = Duration::from_secs(60);
/// The triage step's standard time (the first step running after a digital intake).
const TRIAGE: Duration = Duration::from_secs(3);

/// A daemon on a fresh database with SMTP replies to `sink`, the triage step lasting
/// [`TRIAGE`], and both re-checks [`LONG`]. Returns it with its runtime settings.
async fn start(b: Backend, sink: &SmtpSink) -> (TestApp, aduan::config::Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let db_url = common::database_url(b, dir.path()).await;
    let config_path =
        common::write_config(dir.path(), &db_url, "127.0.0.1:0", "off", false, 1 << 20);
    let text = std::fs::read_to_string(&config_path).unwrap();
    assert!(text.contains("\ntriage = \"5m\""));
    let text = text.replacen("\ntriage = \"5m\"", "\ntriage = \"3s\"", 1)
        + &format!(
            r#"
[channels.email]
enabled = true
imap_host = ""
smtp_host = "127.0.0.1"
smtp_port = {}
smtp_security = "none"
from = "pengaduan@example.go.id"
"#,
            sink.port()
        );
    std::fs::write(&config_path, text).unwrap();
    let rt = || {
        aduan::config::load(&config_path, Vec::<(String, String)>::new())
            .unwrap()
            .validate(&config_path)
            .unwrap()
    };
    let app = Application::build(
        rt(),
        Overrides {
            admin_session_key: Some([7u8; 32]),
            outbox_poll: Some(LONG),
            sla_recheck: Some(LONG),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let addr = app.local_addr();
    let desk = app.desk().clone();
    let outbox = app.outbox().clone();
    let shutdown = app.shutdown_token();
    tokio::spawn(async move { app.run().await.unwrap() });
    // Let both workers finish their first pass and go to sleep (for LONG).
    tokio::time::sleep(Duration::from_millis(700)).await;
    let rt = rt();
    (
        TestApp {
            addr,
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            desk,
            outbox,
            shutdown,
            dir,
            db_url,
            config_path,
        },
        rt,
    )
}

/// The next mail to `rcpt` and when it arrived, within `within`.
async fn mail_to(
    mails: &mut UnboundedReceiver<ReceivedMail>,
    rcpt: &str,
    within: Duration,
) -> (ReceivedMail, Instant) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let m = tokio::time::timeout_at(deadline, mails.recv())
            .await
            .unwrap_or_else(|_| panic!("no mail to {rcpt} within {within:?}"))
            .expect("sink stopped");
        if m.rcpt_to.iter().any(|r| r == rcpt) {
            return (m, Instant::now());
        }
    }
}

/// The acknowledgement arrives in well under a second, then the escalation of the triage
/// step within a second of its due time.
async fn assert_on_time(mails: &mut UnboundedReceiver<ReceivedMail>, created: Instant) {
    let (ack, at) = mail_to(mails, CITIZEN, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&ack.data).contains("Auto-Submitted: auto-replied"));
    let ack_after = at - created;
    assert!(
        ack_after < Duration::from_secs(2),
        "ack after {ack_after:?}"
    );

    let (esc, at) = mail_to(mails, KASI, Duration::from_secs(10)).await;
    assert!(String::from_utf8_lossy(&esc.data).contains("Auto-Submitted: auto-generated"));
    let esc_after = at - created;
    // Due TRIAGE after the commit; sent (and received) within a second of it.
    assert!(
        esc_after >= TRIAGE - Duration::from_millis(100),
        "escalated early: {esc_after:?}"
    );
    assert!(
        esc_after <= TRIAGE + Duration::from_millis(1500),
        "escalated {:?} after the due time",
        esc_after.saturating_sub(TRIAGE)
    );
}

async fn the_commit_wakes_the_outbox_and_the_sla_timer(b: Backend) {
    let (sink, mut mails) = SmtpSink::start().await.unwrap();
    let (app, _rt) = start(b, &sink).await;
    let created = Instant::now();
    app.submit(json!({"email": CITIZEN, "body": "KTP-el saya belum jadi."}))
        .await;
    assert_on_time(&mut mails, created).await;
    // Exactly one escalation and one acknowledgement.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(mails.try_recv().is_err(), "a mail went out twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_commit_wakes_the_outbox_and_the_sla_timer() {
    the_commit_wakes_the_outbox_and_the_sla_timer(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_commit_wakes_the_outbox_and_the_sla_timer() {
    the_commit_wakes_the_outbox_and_the_sla_timer(Backend::Postgres).await;
}

/// A complaint written through another store on the same PostgreSQL database (another
/// replica, which runs no workers) wakes this replica's outbox worker and SLA timer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_another_replicas_commit_wakes_the_workers() {
    let (sink, mut mails) = SmtpSink::start().await.unwrap();
    let (app, rt) = start(Backend::Postgres, &sink).await;
    let vault = aduan::privacy::vault(&rt.settings.privacy).unwrap();
    let other = aduan_store::connect(&app.db_url, vault).await.unwrap();
    let desk = Desk::new(
        other,
        Arc::new(SystemClock),
        aduan::app::desk_config(&rt, HashSet::from([Channel::Email])),
    );
    let created = Instant::now();
    desk.intake()
        .submit(Submission {
            channel: Some(Channel::Web),
            email: Some(CITIZEN.into()),
            body: "Akta kelahiran anak saya belum terbit.".into(),
            with_access_code: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_on_time(&mut mails, created).await;
}
