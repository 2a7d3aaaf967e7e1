//! SQLite insert throughput (ignored by default; run in release):
//! `cargo test -p aduan-store --release --test throughput -- --ignored --nocapture`.
//! Target: ≥ 3,000 committed `create_complaint`s per second on 2 cores with 16 concurrent
//! submitters (`TASKS=n` changes the concurrency).

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};

use aduan_core::model::{CreateOutcome, Identity, NewComplaint, NewReply, ReplyKind};
use aduan_core::types::{Category, Channel, State, Step, TicketPrefix};
use aduan_core::workflow::HistoryEntry;
use aduan_store::testing::{self, connect};

fn complaint(i: usize) -> NewComplaint {
    let at = Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap() + Duration::milliseconds(i as i64);
    NewComplaint {
        analysis: None,
        channel: Channel::Web,
        external_id: Some(format!("web-{i}")),
        received_at: at,
        identity: Identity {
            name: Some("Budi".into()),
            email: Some("budi@example.id".into()),
            ..Identity::default()
        },
        category: Some(Category::Pelayanan),
        target: None,
        body: "Antrian terlalu lama di loket pelayanan. ".repeat(10),
        letter_number: None,
        attachments: vec![],
        media: Vec::new(),
        access_code_hash: Some("0123456789abcdef".into()),
        state: State::Triage,
        state_entered_at: at,
        due_at: Some(at + Duration::days(1)),
        history: vec![HistoryEntry {
            step: Some(Step::Receive),
            action: "receive".into(),
            state: State::Triage,
            actor: "sistem".into(),
            at,
            due_at: Some(at),
            elapsed_seconds: Some(0),
            breached: false,
            note: None,
        }],
        acks: vec![NewReply {
            kind: ReplyKind::Ack,
            channel: Channel::Email,
            recipient: "budi@example.id".into(),
            template: "ack".into(),
            vars: serde_json::json!({"office": "Dinas"}),
            max_attempts: 8,
        }],
        ticket_prefix: TicketPrefix::parse("ADU").unwrap(),
        ticket_month: (2026, 3),
        cursor: None,
        audit: None,
        reply_thread: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run in release with --ignored"]
async fn sqlite_create_complaint_throughput() {
    const N: usize = 10_000;
    let tasks: usize = std::env::var("TASKS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(16);
    let dir = tempfile::tempdir().unwrap();
    let store = connect(&testing::fresh_sqlite_url(dir.path()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            for i in (t..N).step_by(tasks) {
                let out = store.create_complaint(complaint(i)).await.unwrap();
                assert!(matches!(out, CreateOutcome::Created { .. }));
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = N as f64 / secs;
    println!("{N} creates by {tasks} tasks in {secs:.2} s = {rate:.0}/s");
    if !cfg!(debug_assertions) && tasks >= 16 {
        assert!(
            rate >= 3000.0,
            "{rate:.0} creates/s is below the 3,000/s target"
        );
    }
}
