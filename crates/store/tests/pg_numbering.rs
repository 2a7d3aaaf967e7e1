//! Ticket numbers on PostgreSQL with three "replicas" (three stores, three pools, one
//! database) creating at once through their group commits: the month's committed
//! complaints are numbered exactly 1..N — no gap, no duplicate — while some creates fail
//! and roll back at every stage: before anything is written (an invalid month), at the
//! insert (the same external id sent to every replica at once), in the numbering statement
//! itself (a test trigger refusing the numbered complaint row), and at `COMMIT` (a deferred test
//! trigger). Needs the PostgreSQL server of `ADUAN_TEST_POSTGRES_URL`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::{Connection, Executor, PgConnection};

use aduan_core::model::*;
use aduan_core::store::Store;
use aduan_core::types::*;
use aduan_store::testing::{self, connect};

const FAIL_NUMBER: &str = "FAIL-NUMBER";
const FAIL_COMMIT: &str = "FAIL-COMMIT";

/// Refuse the insert of complaints marked `FAIL-NUMBER` (on PostgreSQL the numbering
/// statement inserts the complaint rows, so it fails after its counter upsert ran), and the
/// commit of complaints marked `FAIL-COMMIT`.
const TRIGGERS: &str = "
CREATE FUNCTION aduan_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'injected failure for %', NEW.letter_number; END $$;
CREATE TRIGGER aduan_test_refuse_number BEFORE INSERT ON complaints
    FOR EACH ROW WHEN (NEW.letter_number = 'FAIL-NUMBER') EXECUTE FUNCTION aduan_test_refuse();
CREATE CONSTRAINT TRIGGER aduan_test_refuse_commit AFTER INSERT ON complaints
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.letter_number = 'FAIL-COMMIT') EXECUTE FUNCTION aduan_test_refuse();
";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap()
}

fn complaint(external_id: &str, letter: Option<&str>) -> NewComplaint {
    let at = t0();
    NewComplaint {
        analysis: None,
        channel: Channel::Web,
        external_id: Some(external_id.to_string()),
        received_at: at,
        identity: Identity {
            name: Some("Budi Santoso".into()),
            ..Identity::default()
        },
        category: Some(Category::Pelayanan),
        target: None,
        body: "Antrian di loket 3 terlalu lama.".into(),
        letter_number: letter.map(str::to_string),
        attachments: vec![],
        media: Vec::new(),
        access_code_hash: None,
        state: State::Triage,
        state_entered_at: at,
        due_at: None,
        history: vec![],
        acks: vec![NewReply {
            kind: ReplyKind::Ack,
            channel: Channel::Email,
            recipient: "budi@example.id".into(),
            template: "ack".into(),
            vars: serde_json::json!({}),
            max_attempts: 5,
        }],
        ticket_prefix: TicketPrefix::parse("ADU").unwrap(),
        ticket_month: (2026, 3),
        cursor: None,
        audit: None,
        reply_thread: None,
    }
}

/// What request `i` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    /// Sent to all three replicas at once.
    Redelivered,
    BadMonth,
    FailNumber,
    FailCommit,
}

fn kind(i: usize) -> Kind {
    match i % 25 {
        3 | 16 => Kind::Redelivered,
        7 => Kind::BadMonth,
        11 => Kind::FailNumber,
        20 => Kind::FailCommit,
        _ => Kind::Plain,
    }
}

fn request(i: usize) -> NewComplaint {
    let ext = format!("web-{i}");
    match kind(i) {
        Kind::Plain | Kind::Redelivered => complaint(&ext, None),
        Kind::BadMonth => NewComplaint {
            analysis: None,
            ticket_month: (2026, 13),
            ..complaint(&ext, None)
        },
        Kind::FailNumber => complaint(&ext, Some(FAIL_NUMBER)),
        Kind::FailCommit => complaint(&ext, Some(FAIL_COMMIT)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_number_gap_free_through_failures() {
    const REQUESTS: usize = 900;
    const TASKS: usize = 48;
    let url = testing::fresh_postgres_url().await;
    let first = connect(&url).await.expect("connect");
    first.migrate().await.expect("migrate");
    let mut admin = PgConnection::connect(&url).await.expect("admin connection");
    admin.execute(TRIGGERS).await.expect("test triggers");
    let replicas: Vec<Arc<dyn Store>> = vec![
        first,
        connect(&url).await.expect("replica 2"),
        connect(&url).await.expect("replica 3"),
    ];

    // Every task sends its share of the requests, each to the next replica in turn; a
    // redelivered request goes to all three at once.
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let replicas = replicas.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (task..REQUESTS).step_by(TASKS) {
                if kind(i) == Kind::Redelivered {
                    let sends = replicas.iter().map(|r| r.create_complaint(request(i)));
                    for r in futures::future::join_all(sends).await {
                        out.push((i, r));
                    }
                } else {
                    let r = &replicas[(i + task) % replicas.len()];
                    out.push((i, r.create_complaint(request(i)).await));
                }
            }
            out
        }));
    }

    let mut created: BTreeMap<u64, usize> = BTreeMap::new();
    let mut winners: BTreeMap<usize, TicketNumber> = BTreeMap::new();
    let mut duplicates: Vec<(usize, TicketNumber)> = Vec::new();
    let mut failed: BTreeSet<usize> = BTreeSet::new();
    let mut failed_innocent = 0;
    for t in futures::future::join_all(tasks).await {
        for (i, result) in t.expect("task") {
            match (kind(i), result) {
                (Kind::BadMonth | Kind::FailNumber | Kind::FailCommit, Ok(o)) => {
                    panic!("request {i} ({:?}) must fail, got {o:?}", kind(i))
                }
                (_, Ok(CreateOutcome::Created { ticket, .. })) => {
                    let seq = seq(&ticket);
                    assert!(created.insert(seq, i).is_none(), "number {seq} given twice");
                    assert!(
                        winners.insert(i, ticket).is_none(),
                        "request {i} created twice"
                    );
                }
                (_, Ok(CreateOutcome::Duplicate { ticket, .. })) => duplicates.push((i, ticket)),
                (k, Err(e)) => {
                    // An innocent member of a group whose COMMIT was refused is answered with
                    // the commit's error, like every member of that group.
                    if k == Kind::Plain || k == Kind::Redelivered {
                        assert!(
                            e.to_string().contains("injected failure"),
                            "request {i}: {e}"
                        );
                        failed_innocent += 1;
                    }
                    failed.insert(i);
                }
            }
        }
    }

    let n = created.len() as u64;
    assert!(n > 600, "most requests were created ({n})");
    assert_eq!(
        created.keys().copied().collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>(),
        "the created complaints hold exactly the numbers 1..={n}"
    );
    for (i, ticket) in &duplicates {
        assert_eq!(
            winners.get(i),
            Some(ticket),
            "redelivery {i} reports its winner"
        );
    }
    for i in 0..REQUESTS {
        match kind(i) {
            Kind::Plain | Kind::Redelivered => assert!(
                winners.contains_key(&i) || failed.contains(&i),
                "request {i} neither created nor failed"
            ),
            _ => assert!(!winners.contains_key(&i)),
        }
    }

    // The database agrees: N complaints, numbered 1..N, no placeholder left, counter at N.
    let rows: Vec<(String,)> = sqlx::query_as("SELECT ticket FROM complaints ORDER BY id")
        .fetch_all(&mut admin)
        .await
        .expect("tickets");
    let stored: BTreeSet<u64> = rows
        .iter()
        .map(|(t,)| seq(&TicketNumber::parse(t).expect("a real ticket number")))
        .collect();
    assert_eq!(rows.len() as u64, n, "rows in complaints");
    assert_eq!(stored, (1..=n).collect(), "stored numbers");
    let (last,): (i64,) = sqlx::query_as("SELECT last FROM ticket_counters WHERE month = '202603'")
        .fetch_one(&mut admin)
        .await
        .expect("counter");
    assert_eq!(
        last as u64, n,
        "the counter gave back every rolled-back number"
    );
    let next = replicas[1]
        .create_complaint(complaint("after", None))
        .await
        .expect("one more");
    assert_eq!(seq(next.ticket()), n + 1);
    eprintln!(
        "{n} created, {} duplicates, {} failed ({failed_innocent} innocent members of refused commits)",
        duplicates.len(),
        failed.len()
    );

    let _ = admin.close().await;
    drop(replicas);
    testing::drop_postgres_database(&url).await;
}

fn seq(t: &TicketNumber) -> u64 {
    t.as_str().rsplit('-').next().unwrap().parse().unwrap()
}
