//! Attachments, their shares, the access code in the outbox, and migration 0004 on SQLite and
//! PostgreSQL (a fresh database per test; PostgreSQL is required, never skipped).

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use sqlx::Connection;

use aduan_core::model::*;
use aduan_core::store::{Store, StoreError};
use aduan_core::types::*;
use aduan_core::workflow::{Changes, HistoryEntry, Transition};
use aduan_store::Migration;
use aduan_store::testing::{self, connect};

/// A migrated store on a fresh database.
struct Db {
    url: String,
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    async fn fresh(postgres: bool) -> Db {
        let (url, dir) = if postgres {
            (testing::fresh_postgres_url().await, None)
        } else {
            let dir = tempfile::tempdir().expect("tempdir");
            (testing::fresh_sqlite_url(dir.path()), Some(dir))
        };
        let store = connect(&url).await.expect("connect");
        Db {
            url,
            store,
            _dir: dir,
        }
    }

    async fn ready(postgres: bool) -> Db {
        let db = Db::fresh(postgres).await;
        db.store.migrate().await.expect("migrate");
        db
    }

    fn s(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// One TEXT column of every row `sql` (`SELECT col FROM table …`) returns, read with a
    /// plain connection; sealed values (as every citizen text is at rest) are checked to be
    /// sealed and opened with the test process's key.
    async fn raw_texts(&self, sql: &str) -> Vec<String> {
        let mut words = sql.split_whitespace();
        let (col, table) = (words.nth(1).unwrap_or(""), words.nth(1).unwrap_or(""));
        let table_col = format!("{table}.{col}");
        self.plain_texts(sql)
            .await
            .into_iter()
            .map(|v| {
                if v.starts_with("enc1:") {
                    testing::vault().open(&table_col, &v).unwrap()
                } else {
                    v
                }
            })
            .collect()
    }

    /// [`Db::raw_texts`] without opening anything.
    async fn plain_texts(&self, sql: &str) -> Vec<String> {
        use sqlx::Row;
        if self.url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_all(&mut c)
                .await
                .unwrap();
            rows.iter().map(|r| r.get::<String, _>(0)).collect()
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_all(&mut c)
                .await
                .unwrap();
            rows.iter().map(|r| r.get::<String, _>(0)).collect()
        }
    }

    /// Run one statement with a plain connection.
    async fn raw_exec(&self, sql: &str) {
        if self.url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .unwrap();
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .unwrap();
        }
    }

    async fn teardown(self) {
        let Db { url, store, .. } = self;
        drop(store);
        if !url.starts_with("sqlite:") {
            testing::drop_postgres_database(&url).await;
        }
    }
}

macro_rules! on_both {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test(false).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test(true).await })*
        }
    };
}

on_both!(
    files_are_found_by_ticket_and_id_only,
    shares_are_kept_with_their_history_and_read_with_the_complaint,
    attachments_of_an_appended_message_are_stored,
    final_outcomes_take_the_access_code_out_of_the_row,
    the_runner_applies_a_migration_that_lands_below_an_applied_one,
);

const CODE: &str = "ABCD234567";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap()
}

fn file(name: &str, content_type: &str, data: &[u8]) -> NewAttachment {
    NewAttachment {
        filename: name.into(),
        content_type: content_type.into(),
        data: data.to_vec(),
    }
}

fn complaint(external_id: &str, attachments: Vec<NewAttachment>) -> NewComplaint {
    NewComplaint {
        analysis: None,
        audit: None,
        channel: Channel::Email,
        external_id: Some(external_id.into()),
        received_at: t0(),
        identity: Identity {
            name: Some("Ni Luh Putu Sariasih".into()),
            email: Some("luhputu@contoh.id".into()),
            ..Identity::default()
        },
        category: None,
        target: None,
        body: "KK saya rusak, foto terlampir.".into(),
        letter_number: None,
        attachments,
        media: Vec::new(),
        access_code_hash: Some("c0ffee".into()),
        state: State::Triage,
        state_entered_at: t0(),
        due_at: Some(t0() + Duration::hours(1)),
        history: vec![],
        acks: vec![NewReply {
            kind: ReplyKind::Ack,
            channel: Channel::Email,
            recipient: "luhputu@contoh.id".into(),
            template: "ack".into(),
            vars: json!({"office": "Disdukcapil", "access_code": CODE}),
            max_attempts: 3,
        }],
        ticket_prefix: TicketPrefix::parse("ADU").unwrap(),
        ticket_month: (2026, 3),
        cursor: None,
        reply_thread: None,
    }
}

async fn create(s: &dyn Store, c: NewComplaint) -> ComplaintRecord {
    let t = s
        .create_complaint(c)
        .await
        .expect("create")
        .ticket()
        .clone();
    get(s, &t).await
}

async fn get(s: &dyn Store, t: &TicketNumber) -> ComplaintRecord {
    s.get_complaint(t).await.expect("get").expect("exists")
}

fn share_of(
    rec: &ComplaintRecord,
    attachment_id: i64,
    reason: &str,
    at: DateTime<Utc>,
) -> NewAttachmentShare {
    NewAttachmentShare {
        audit: None,
        complaint_id: rec.id,
        share: AttachmentShare {
            attachment_id,
            bidang: BidangCode::parse("dafduk").unwrap(),
            shared_by: "ayu.kasi".into(),
            reason: reason.into(),
            at,
        },
        history: HistoryEntry {
            step: None,
            action: "share_attachment".into(),
            state: rec.state,
            actor: "ayu.kasi".into(),
            at,
            due_at: None,
            elapsed_seconds: None,
            breached: false,
            note: Some(format!("dafduk: lampiran 1: {reason}")),
        },
    }
}

async fn files_are_found_by_ticket_and_id_only(postgres: bool) {
    let db = Db::ready(postgres).await;
    let s = db.s();
    // Bytes that are no text at all, and an empty file.
    let photo: Vec<u8> = (0..=255u8).chain([0, 0, 0xff]).collect();
    let a = create(
        s,
        complaint(
            "msgid:a@x",
            vec![
                file("KTP_Sariasih_5108014506900002.jpg", "image/jpeg", &photo),
                file("kosong.txt", "text/plain", &[]),
            ],
        ),
    )
    .await;
    let b = create(
        s,
        complaint(
            "msgid:b@x",
            vec![file("kk.pdf", "application/pdf", b"%PDF")],
        ),
    )
    .await;
    assert_eq!(a.attachments.len(), 2);
    let (a1, a2, b1) = (
        a.attachments[0].id,
        a.attachments[1].id,
        b.attachments[0].id,
    );

    let f = s.attachment_file(&a.ticket, a1).await.unwrap().expect("a1");
    assert_eq!(f.data, photo);
    assert_eq!(f.meta, a.attachments[0]);
    assert_eq!(f.meta.filename, "KTP_Sariasih_5108014506900002.jpg");
    assert_eq!(f.meta.size, photo.len() as i64);
    let f = s.attachment_file(&a.ticket, a2).await.unwrap().expect("a2");
    assert!(f.data.is_empty());
    assert_eq!(
        s.attachment_file(&b.ticket, b1)
            .await
            .unwrap()
            .unwrap()
            .data,
        b"%PDF"
    );
    // Another complaint's id, an unknown id, an unknown ticket: nothing.
    assert_eq!(s.attachment_file(&a.ticket, b1).await.unwrap(), None);
    assert_eq!(s.attachment_file(&b.ticket, a1).await.unwrap(), None);
    assert_eq!(s.attachment_file(&a.ticket, b1 + 1000).await.unwrap(), None);
    let unknown = TicketNumber::parse("ADU-202603-0999").unwrap();
    assert_eq!(s.attachment_file(&unknown, a1).await.unwrap(), None);
    db.teardown().await;
}

async fn shares_are_kept_with_their_history_and_read_with_the_complaint(postgres: bool) {
    let db = Db::ready(postgres).await;
    let s = db.s();
    let a = create(
        s,
        complaint("msgid:a@x", vec![file("ktp.jpg", "image/jpeg", b"x")]),
    )
    .await;
    let b = create(
        s,
        complaint("msgid:b@x", vec![file("kk.pdf", "application/pdf", b"y")]),
    )
    .await;
    let (a1, b1) = (a.attachments[0].id, b.attachments[0].id);
    assert!(a.attachment_shares.is_empty());
    assert!(s.attachment_shares(a.id).await.unwrap().is_empty());

    let first = share_of(
        &a,
        a1,
        "Perlu mencocokkan foto KTP",
        t0() + Duration::minutes(1),
    );
    assert!(s.share_attachment(first.clone()).await.unwrap());
    let rec = get(s, &a.ticket).await;
    assert_eq!(rec.attachment_shares, vec![first.share.clone()]);
    assert_eq!(
        s.attachment_shares(a.id).await.unwrap(),
        vec![first.share.clone()]
    );
    assert_eq!(rec.history.last(), Some(&first.history));
    assert_eq!(rec.version, a.version, "a share is no workflow step");

    // Another complaint's attachment under this complaint: refused, nothing written.
    let foreign = share_of(&a, b1, "salah tiket", t0() + Duration::minutes(2));
    assert!(!s.share_attachment(foreign).await.unwrap());
    let rec = get(s, &a.ticket).await;
    assert_eq!(rec.attachment_shares.len(), 1);
    assert_eq!(rec.history.len(), 1);
    assert!(get(s, &b.ticket).await.attachment_shares.is_empty());

    // A second share (another reason) is kept too, in order.
    let second = share_of(&a, a1, "Verifikasi ulang", t0() + Duration::minutes(3));
    assert!(s.share_attachment(second.clone()).await.unwrap());
    assert_eq!(
        get(s, &a.ticket).await.attachment_shares,
        vec![first.share, second.share]
    );
    db.teardown().await;
}

async fn attachments_of_an_appended_message_are_stored(postgres: bool) {
    let db = Db::ready(postgres).await;
    let s = db.s();
    let a = create(s, complaint("msgid:a@x", vec![])).await;
    let at = t0() + Duration::minutes(5);
    let t = Transition {
        from: State::Triage,
        to: State::Triage,
        state_entered_at: a.state_entered_at,
        due_at: a.due_at,
        changes: Changes::default(),
        history: HistoryEntry {
            step: None,
            action: "citizen_message".into(),
            state: State::Triage,
            actor: "pengadu".into(),
            at,
            due_at: None,
            elapsed_seconds: None,
            breached: false,
            note: None,
        },
        effects: vec![],
    };
    let write = |rec: &ComplaintRecord| TransitionWrite {
        audit: None,
        complaint_id: rec.id,
        expected_version: rec.version,
        transition: &t,
        actor: "pengadu".into(),
        reply: None,
        message: Some(NewMessage {
            channel: Some(Channel::Email),
            direction: Direction::In,
            at,
            text: "Foto KK terlampir.\n[lampiran: kk-baru.jpg]".into(),
            external_id: Some("msgid:reply@x".into()),
        }),
        attachments: vec![file("kk-baru.jpg", "image/jpeg", &[1, 2, 3, 0])],
        media: Vec::new(),
        cursor: None,
    };
    s.save_transition(write(&a)).await.expect("append");
    let rec = get(s, &a.ticket).await;
    assert_eq!(rec.attachments.len(), 1);
    assert_eq!(rec.attachments[0].filename, "kk-baru.jpg");
    let f = s
        .attachment_file(&a.ticket, rec.attachments[0].id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(f.data, vec![1, 2, 3, 0]);
    // The same message again (a redelivery) stores no second copy.
    match s.save_transition(write(&rec)).await {
        Err(StoreError::AlreadyExists(_)) => {}
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(get(s, &a.ticket).await.attachments.len(), 1);
    db.teardown().await;
}

async fn final_outcomes_take_the_access_code_out_of_the_row(postgres: bool) {
    let db = Db::ready(postgres).await;
    let s = db.s();
    let a = create(s, complaint("msgid:a@x", vec![])).await;
    let b = create(s, complaint("msgid:b@x", vec![])).await;
    let vars_of = |id: i64| format!("SELECT vars FROM outbox WHERE complaint_id = {id}");
    // Pending: the code is there, to be rendered.
    assert!(db.raw_texts(&vars_of(a.id)).await[0].contains(CODE));

    let items = s
        .claim_replies(t0(), Duration::minutes(2), 10)
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
    let (ia, ib) = (
        items.iter().find(|i| i.complaint_id == a.id).unwrap(),
        items.iter().find(|i| i.complaint_id == b.id).unwrap(),
    );
    assert_eq!(ia.vars["access_code"], CODE);
    let sent = ReplyOutcome::Sent {
        external_id: Some("ack-a@aduan".into()),
        at: t0() + Duration::seconds(5),
        text: "Kode akses Anda: ••••••".into(),
    };
    assert!(s.complete_reply(ia, sent).await.unwrap());
    let vars: serde_json::Value =
        serde_json::from_str(&db.raw_texts(&vars_of(a.id)).await[0]).unwrap();
    assert_eq!(
        vars,
        json!({"office": "Disdukcapil"}),
        "sent: code gone, the rest kept"
    );

    // A retry keeps it (the next attempt renders it again) …
    let retry = ReplyOutcome::Retry {
        error: "421 try later".into(),
        next_attempt_at: t0() + Duration::minutes(1),
    };
    assert!(s.complete_reply(ib, retry).await.unwrap());
    assert!(db.raw_texts(&vars_of(b.id)).await[0].contains(CODE));
    // … the final failure drops it.
    let items = s
        .claim_replies(t0() + Duration::minutes(2), Duration::minutes(2), 10)
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
    let failed = ReplyOutcome::Failed {
        error: "550 no such user".into(),
    };
    assert!(s.complete_reply(&items[0], failed).await.unwrap());
    let raw = db.raw_texts(&vars_of(b.id)).await;
    assert!(!raw[0].contains(CODE), "{raw:?}");
    assert_eq!(
        get(s, &b.ticket).await.replies[0].status,
        ReplyStatus::Failed
    );
    // Nowhere in the outbox or the conversation.
    for sql in ["SELECT vars FROM outbox", "SELECT text FROM messages"] {
        for v in db.raw_texts(sql).await {
            assert!(!v.contains(CODE), "{sql}: {v}");
        }
    }
    db.teardown().await;
}

async fn the_runner_applies_a_migration_that_lands_below_an_applied_one(postgres: bool) {
    let db = Db::fresh(postgres).await;
    let m = |version: i64, name: &'static str, sql: &'static str| Migration { version, name, sql };
    let before = [
        m(1, "0001_a", "CREATE TABLE gap_a (x TEXT)"),
        m(2, "0002_b", "CREATE TABLE gap_b (x TEXT)"),
        m(4, "0004_d", "CREATE TABLE gap_d (x TEXT)"),
    ];
    testing::apply_migrations(&db.url, &before)
        .await
        .expect("with a gap");
    // 0003 lands later, below the applied 0004: applied once, nothing else again.
    let after = [
        m(1, "0001_a", "CREATE TABLE gap_a (x TEXT)"),
        m(2, "0002_b", "CREATE TABLE gap_b (x TEXT)"),
        m(3, "0003_c", "CREATE TABLE gap_c (x TEXT)"),
        m(4, "0004_d", "CREATE TABLE gap_d (x TEXT)"),
    ];
    testing::apply_migrations(&db.url, &after)
        .await
        .expect("0003 after 0004");
    testing::apply_migrations(&db.url, &after)
        .await
        .expect("again: a no-op");
    db.raw_exec("INSERT INTO gap_c (x) VALUES ('ok')").await;
    let versions = db
        .raw_texts("SELECT CAST(version AS TEXT) FROM schema_migrations ORDER BY version")
        .await;
    assert_eq!(versions, ["1", "2", "3", "4"]);
    // The shipped list has the gap too, and migrates a fresh database.
    let shipped: Vec<i64> = testing::shipped_migrations(&db.url)
        .iter()
        .map(|m| m.version)
        .collect();
    assert!(shipped.contains(&4), "{shipped:?}");
    db.teardown().await;
}
