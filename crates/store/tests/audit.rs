//! The audit log on SQLite and PostgreSQL: appends and reads, one chain from two stores
//! appending at once (two replicas), entries committed with (and only with) the writes they
//! record, and tampering with raw SQL found by `Desk::audit().verify()` at the right entry.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

use aduan_core::audit::{AuditQuery, ChainProblem, GENESIS_HASH, NewAuditEntry};
use aduan_core::desk::{Desk, SystemClock, Verification};
use aduan_core::model::*;
use aduan_core::store::{Store, StoreError};
use aduan_core::types::*;
use aduan_core::workflow::{Actor, Changes, HistoryEntry, Transition};
use aduan_store::testing::{self, connect};

/// A migrated store on a fresh database, and its URL (for a replica and for raw SQL).
struct Fixture {
    url: String,
    store: Arc<dyn Store>,
    postgres: bool,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = testing::fresh_sqlite_url(dir.path());
        Fixture::open(url, false, Some(dir)).await
    }

    async fn postgres() -> Fixture {
        Fixture::open(testing::fresh_postgres_url().await, true, None).await
    }

    async fn open(url: String, postgres: bool, dir: Option<tempfile::TempDir>) -> Fixture {
        let store = connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        Fixture {
            url,
            store,
            postgres,
            _dir: dir,
        }
    }

    fn s(&self) -> &dyn Store {
        self.store.as_ref()
    }

    fn desk(&self) -> Desk {
        Desk::new(
            self.store.clone(),
            Arc::new(SystemClock),
            aduan_core::testing::desk_config([]),
        )
    }

    /// Run one statement on the database behind the store's back (an attacker with access
    /// to the database file or server).
    async fn raw(&self, sql: &str) -> u64 {
        use sqlx::Connection;
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        if self.postgres {
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query(sql)
                .execute(&mut c)
                .await
                .unwrap()
                .rows_affected()
        } else {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query(sql)
                .execute(&mut c)
                .await
                .unwrap()
                .rows_affected()
        }
    }

    async fn teardown(self) {
        let Fixture {
            url,
            store,
            postgres,
            _dir,
        } = self;
        drop(store);
        if postgres {
            testing::drop_postgres_database(&url).await;
        }
    }
}

macro_rules! on_both {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                let fx = super::Fixture::sqlite().await;
                super::$test(&fx).await;
                fx.teardown().await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                let fx = super::Fixture::postgres().await;
                super::$test(&fx).await;
                fx.teardown().await;
            })*
        }
    };
}

on_both!(
    appends_link_and_read_back,
    two_replicas_appending_at_once_make_one_chain,
    entries_commit_only_with_their_writes,
    a_changed_row_is_named,
    a_deleted_row_is_named_by_the_next,
);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap()
}

fn kasi() -> Actor {
    Actor::Staff {
        username: "kasi1".into(),
        role: Role::Kasi,
        bidang: None,
    }
}

fn ticket(s: &str) -> TicketNumber {
    TicketNumber::parse(s).unwrap()
}

async fn intact(fx: &Fixture, batch: u32) -> aduan_core::audit::ChainSummary {
    match fx.desk().audit().verify_in_batches(batch).await.unwrap() {
        Verification::Intact(s) => s,
        Verification::Broken { first, .. } => panic!("chain broken: {first}"),
    }
}

async fn broken(fx: &Fixture) -> aduan_core::audit::ChainBreak {
    match fx.desk().audit().verify_in_batches(2).await.unwrap() {
        Verification::Intact(s) => panic!("tampering not found: {s:?}"),
        Verification::Broken { first, .. } => first,
    }
}

async fn append_five(s: &dyn Store) -> Vec<aduan_core::audit::AuditEntry> {
    let mut out = vec![];
    for i in 0..5i64 {
        let e = NewAuditEntry::new(&kasi(), "assign", t0() + Duration::minutes(i))
            .with_ticket(ticket(&format!("ADU-202603-000{}", i % 2 + 1)))
            .with_detail(json!({"from": "triage", "to": "in_bidang", "bidang": "dafduk", "i": i}));
        out.push(s.append_audit(e).await.unwrap());
    }
    out
}

async fn appends_link_and_read_back(fx: &Fixture) {
    let s = fx.s();
    assert_eq!(intact(fx, 10).await.entries, 0);
    let written = append_five(s).await;
    assert_eq!(
        written.iter().map(|e| e.id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(written[0].prev_hash, GENESIS_HASH);
    for w in written.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
    }
    // Read back exactly as returned by the append, in chain order.
    assert_eq!(s.audit_chain(i64::MIN, 100).await.unwrap(), written);
    assert_eq!(s.audit_chain(2, 2).await.unwrap(), written[2..4].to_vec());
    assert_eq!(
        written[0].detail,
        r#"{"bidang":"dafduk","from":"triage","i":0,"to":"in_bidang"}"#
    );
    // Batches of 2 cross every boundary; the head is the last hash.
    let summary = intact(fx, 2).await;
    assert_eq!(
        (summary.entries, summary.head.as_str()),
        (5, written[4].hash.as_str())
    );

    // By ticket, by half-open time range, with paging.
    let q = |ticket_: Option<&str>, from: Option<i64>, to: Option<i64>, after, limit| AuditQuery {
        ticket: ticket_.map(ticket),
        from: from.map(|m| t0() + Duration::minutes(m)),
        to: to.map(|m| t0() + Duration::minutes(m)),
        after_id: after,
        limit,
    };
    let ids = |v: Vec<aduan_core::audit::AuditEntry>| v.iter().map(|e| e.id).collect::<Vec<_>>();
    let one = q(Some("ADU-202603-0001"), None, None, None, 100);
    assert_eq!(ids(s.audit_entries(&one).await.unwrap()), [1, 3, 5]);
    let range = q(None, Some(1), Some(4), None, 100);
    assert_eq!(ids(s.audit_entries(&range).await.unwrap()), [2, 3, 4]);
    let both = q(Some("ADU-202603-0002"), Some(1), Some(4), None, 100);
    assert_eq!(ids(s.audit_entries(&both).await.unwrap()), [2, 4]);
    let page = q(None, Some(0), Some(10), Some(1), 2);
    assert_eq!(ids(s.audit_entries(&page).await.unwrap()), [2, 3]);
    let none = q(Some("ADU-202603-0009"), None, None, None, 100);
    assert!(s.audit_entries(&none).await.unwrap().is_empty());
}

async fn two_replicas_appending_at_once_make_one_chain(fx: &Fixture) {
    let a = fx.store.clone();
    let b = connect(&fx.url).await.expect("second store (replica)");
    let mut tasks = vec![];
    for (name, store) in [("replica-a", a), ("replica-b", b)] {
        // Four writers per replica, 25 appends each: 100 per replica.
        for w in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..25 {
                    let e = NewAuditEntry::by_name(name, Some(Role::Kasi), "login", Utc::now())
                        .with_detail(json!({"writer": w, "i": i}));
                    store.append_audit(e).await.expect("append");
                }
            }));
        }
    }
    for t in futures::future::join_all(tasks).await {
        t.unwrap();
    }
    let summary = intact(fx, 7).await;
    assert_eq!(summary.entries, 200);
    let all = fx.s().audit_chain(i64::MIN, 1000).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.id).collect::<Vec<_>>(),
        (1..=200).collect::<Vec<i64>>()
    );
    for name in ["replica-a", "replica-b"] {
        assert_eq!(
            all.iter().filter(|e| e.actor == name).count(),
            100,
            "{name}"
        );
    }
    assert_eq!(summary.head, all[199].hash);
}

fn manual(at: DateTime<Utc>, external_id: Option<&str>) -> NewComplaint {
    NewComplaint {
        analysis: None,
        channel: Channel::Phone,
        external_id: external_id.map(str::to_string),
        received_at: at,
        identity: Identity {
            name: Some("Budi Santoso".into()),
            ..Default::default()
        },
        category: None,
        target: None,
        body: "Antrian terlalu lama.".into(),
        letter_number: None,
        attachments: vec![],
        media: Vec::new(),
        access_code_hash: None,
        state: State::Triage,
        state_entered_at: at,
        due_at: Some(at + Duration::hours(1)),
        history: vec![],
        acks: vec![],
        ticket_prefix: TicketPrefix::parse("ADU").unwrap(),
        ticket_month: (2026, 3),
        cursor: None,
        audit: Some(
            NewAuditEntry::new(&kasi(), "manual_entry", at)
                .with_detail(json!({"channel": "phone"})),
        ),
        reply_thread: None,
    }
}

fn assign_transition(at: DateTime<Utc>) -> Transition {
    Transition {
        from: State::Triage,
        to: State::InBidang,
        state_entered_at: at,
        due_at: Some(at + Duration::hours(1)),
        changes: Changes {
            bidang: Some(BidangCode::parse("dafduk").unwrap()),
            ..Default::default()
        },
        history: HistoryEntry {
            step: Some(Step::Triage),
            action: "assign".into(),
            state: State::InBidang,
            actor: "kasi1".into(),
            at,
            due_at: None,
            elapsed_seconds: Some(1),
            breached: false,
            note: None,
        },
        effects: vec![],
    }
}

async fn actions(s: &dyn Store) -> Vec<(String, Option<String>)> {
    s.audit_chain(i64::MIN, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.ticket))
        .collect()
}

async fn entries_commit_only_with_their_writes(fx: &Fixture) {
    let s = fx.s();
    // A created complaint's entry carries the new ticket; a duplicate writes none.
    let created = s
        .create_complaint(manual(t0(), Some("call-1")))
        .await
        .unwrap();
    let CreateOutcome::Created { id, ticket: t } = created else {
        panic!("{created:?}")
    };
    let dup = s
        .create_complaint(manual(t0(), Some("call-1")))
        .await
        .unwrap();
    assert!(matches!(dup, CreateOutcome::Duplicate { .. }), "{dup:?}");
    let tk = Some(t.as_str().to_string());
    assert_eq!(actions(s).await, [("manual_entry".to_string(), tk.clone())]);

    // A transition with its entry; a stale one and a redelivered message write neither.
    let entry = || NewAuditEntry::new(&kasi(), "assign", t0()).with_ticket(t.clone());
    let tr = assign_transition(t0() + Duration::minutes(1));
    let w = |version: i64, message: Option<NewMessage>| TransitionWrite {
        complaint_id: id,
        expected_version: version,
        transition: &tr,
        actor: "kasi1".into(),
        reply: None,
        message,
        cursor: None,
        attachments: vec![],
        media: Vec::new(),
        audit: Some(entry()),
    };
    s.save_transition(w(1, None)).await.unwrap();
    assert!(matches!(
        s.save_transition(w(1, None)).await,
        Err(StoreError::Conflict)
    ));
    let msg = || NewMessage {
        channel: Some(Channel::Phone),
        direction: Direction::In,
        at: t0(),
        text: "lagi".into(),
        external_id: Some("call-1".into()),
    };
    assert!(matches!(
        s.save_transition(w(2, Some(msg()))).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        actions(s).await,
        [
            ("manual_entry".to_string(), tk.clone()),
            ("assign".to_string(), tk.clone())
        ]
    );
    assert_eq!(s.get_complaint(&t).await.unwrap().unwrap().version, 2);

    // Report steps: a refused step writes no entry, an accepted one writes it.
    let report_entry = |a: &str| NewAuditEntry::new(&kasi(), a, t0());
    s.create_report("2026-02", "{}", t0()).await.unwrap();
    let receipt = ReportUpdate::Receipt {
        by: "kasi1".into(),
        at: t0(),
    };
    assert!(matches!(
        s.update_report_audited("2026-02", receipt, Some(report_entry("report_receipt")))
            .await,
        Err(StoreError::Conflict)
    ));
    s.update_report_audited(
        "2026-02",
        ReportUpdate::Delivered {
            at: t0(),
            decide_due_at: t0() + Duration::hours(1),
        },
        Some(report_entry("digest_delivered")),
    )
    .await
    .unwrap();
    assert_eq!(
        actions(s).await.last().unwrap(),
        &("digest_delivered".to_string(), None)
    );
    assert_eq!(actions(s).await.len(), 3);
    assert_eq!(intact(fx, 1000).await.entries, 3);
}

async fn a_changed_row_is_named(fx: &Fixture) {
    let written = append_five(fx.s()).await;
    assert_eq!(intact(fx, 2).await.entries, 5);
    let changed = fx
        .raw(r#"UPDATE audit_log SET detail = '{"bidang":"capil"}' WHERE id = 3"#)
        .await;
    assert_eq!(changed, 1);
    let Verification::Broken { first: b, verified } = fx.desk().audit().verify().await.unwrap()
    else {
        panic!("a changed detail was not found");
    };
    assert_eq!((b.id, b.action.as_str()), (3, "assign"));
    assert!(
        matches!(b.problem, ChainProblem::HashMismatch { .. }),
        "{b}"
    );
    assert!(b.to_string().contains("hash mismatch"), "{b}");
    assert_eq!(
        (verified.entries, verified.head),
        (2, written[1].hash.clone())
    );

    // Put it back byte for byte: intact again. A change of whitespace only is still found.
    let original = written[2].detail.replace('\'', "''");
    fx.raw(&format!(
        "UPDATE audit_log SET detail = '{original}' WHERE id = 3"
    ))
    .await;
    assert_eq!(intact(fx, 2).await.entries, 5);
    let spaced = original.replace(",", ", ");
    fx.raw(&format!(
        "UPDATE audit_log SET detail = '{spaced}' WHERE id = 3"
    ))
    .await;
    let b = broken(fx).await;
    assert_eq!((b.id, b.problem), (3, ChainProblem::DetailRewritten));
    fx.raw(&format!(
        "UPDATE audit_log SET detail = '{original}' WHERE id = 3"
    ))
    .await;

    // Other columns, one at a time.
    for (set, undo) in [
        (
            "actor = 'kadis'".to_string(),
            format!("actor = '{}'", written[3].actor),
        ),
        (
            "ticket = NULL".to_string(),
            format!("ticket = '{}'", written[3].ticket.as_deref().unwrap()),
        ),
        (
            format!("at = {}", written[3].at.timestamp_millis() + 1),
            format!("at = {}", written[3].at.timestamp_millis()),
        ),
    ] {
        fx.raw(&format!("UPDATE audit_log SET {set} WHERE id = 4"))
            .await;
        let b = broken(fx).await;
        assert_eq!(b.id, 4, "{set}");
        assert!(
            matches!(b.problem, ChainProblem::HashMismatch { .. }),
            "{set}: {b}"
        );
        fx.raw(&format!("UPDATE audit_log SET {undo} WHERE id = 4"))
            .await;
    }
    assert_eq!(intact(fx, 2).await.entries, 5);

    // A forger who recomputes the changed entry's hash breaks the next link instead.
    let forged = NewAuditEntry::new(&kasi(), "close", written[1].at)
        .with_ticket(ticket(written[1].ticket.as_deref().unwrap()))
        .seal(2, &written[0].hash);
    fx.raw(&format!(
        "UPDATE audit_log SET action = 'close', detail = '{}', hash = '{}' WHERE id = 2",
        forged.detail, forged.hash
    ))
    .await;
    let b = broken(fx).await;
    assert_eq!(b.id, 3);
    assert!(matches!(b.problem, ChainProblem::BrokenLink { .. }), "{b}");
}

async fn a_deleted_row_is_named_by_the_next(fx: &Fixture) {
    append_five(fx.s()).await;
    assert_eq!(fx.raw("DELETE FROM audit_log WHERE id = 3").await, 1);
    let b = broken(fx).await;
    assert_eq!((b.id, b.action.as_str()), (4, "assign"));
    assert!(matches!(b.problem, ChainProblem::BrokenLink { .. }), "{b}");
    assert!(b.to_string().contains("broken link"), "{b}");

    // An append after the deletion does not heal the chain.
    fx.s()
        .append_audit(NewAuditEntry::new(&kasi(), "sign", t0()))
        .await
        .unwrap();
    assert_eq!(broken(fx).await.id, 4);

    // The first entry deleted: the second no longer starts at the genesis.
    fx.raw("DELETE FROM audit_log WHERE id = 1").await;
    assert_eq!(broken(fx).await.id, 2);
}
