//! `connect()`: scheme dispatch, SQLite file creation and in-memory databases, and how
//! unreadable stored data is reported. (Its own test binary: one test changes the working
//! directory.)

use chrono::{TimeZone, Utc};

use aduan_core::model::{CreateOutcome, Identity, NewComplaint, NewReply, ReplyKind};
use aduan_core::store::StoreError;
use aduan_core::types::{Channel, State, TicketPrefix};
use aduan_store::SqliteStore;
use aduan_store::testing::{self, connect};

fn complaint(ext: &str) -> NewComplaint {
    let at = Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap();
    NewComplaint {
        analysis: None,
        channel: Channel::Telegram,
        external_id: Some(ext.into()),
        received_at: at,
        identity: Identity::default(),
        category: None,
        target: None,
        body: "halo".into(),
        letter_number: None,
        attachments: vec![],
        media: Vec::new(),
        access_code_hash: None,
        state: State::Triage,
        state_entered_at: at,
        due_at: None,
        history: vec![],
        acks: vec![NewReply {
            kind: ReplyKind::Ack,
            channel: Channel::Telegram,
            recipient: "42".into(),
            template: "ack".into(),
            vars: serde_json::json!({}),
            max_attempts: 3,
        }],
        ticket_prefix: TicketPrefix::parse("ADU").unwrap(),
        ticket_month: (2026, 3),
        cursor: None,
        audit: None,
        reply_thread: None,
    }
}

#[tokio::test]
async fn unknown_schemes_are_refused_by_name() {
    for (url, needle) in [
        ("mysql://localhost/aduan", "`mysql`"),
        ("aduan.db", "no scheme"),
    ] {
        match connect(url).await {
            Err(StoreError::Other(m)) => assert!(m.contains(needle), "{m}"),
            Err(e) => panic!("{url}: unexpected error {e}"),
            Ok(_) => panic!("{url}: accepted"),
        }
    }
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    match connect("postgres://postgres@127.0.0.1:1/aduan").await {
        Err(StoreError::Unavailable(_)) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("connected to port 1"),
    }
}

#[tokio::test]
async fn memory_database_works() {
    let s = connect("sqlite::memory:").await.unwrap();
    s.migrate().await.unwrap();
    s.migrate().await.unwrap();
    let CreateOutcome::Created { ticket, .. } = s.create_complaint(complaint("1")).await.unwrap()
    else {
        panic!("not created")
    };
    assert_eq!(
        s.get_complaint(&ticket).await.unwrap().unwrap().body,
        "halo"
    );
    assert_eq!(s.queue(&Default::default()).await.unwrap().len(), 1);
    assert_eq!(s.backend(), "sqlite");
}

#[tokio::test]
async fn sqlite_file_and_parent_directories_are_created_relative_to_cwd() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let s = connect("sqlite://data/nested/aduan.db").await.unwrap();
    s.migrate().await.unwrap();
    assert!(dir.path().join("data/nested/aduan.db").is_file());
    let s2 = connect("sqlite:data/nested/aduan.db").await.unwrap();
    s2.migrate().await.unwrap();
    s.create_complaint(complaint("1")).await.unwrap();
    assert!(matches!(
        s2.create_complaint(complaint("1")).await.unwrap(),
        CreateOutcome::Duplicate { .. }
    ));
}

#[tokio::test]
async fn unreadable_rows_are_corrupt_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let url = testing::fresh_sqlite_url(dir.path());
    let s = SqliteStore::open(&url, aduan_store::testing::vault())
        .await
        .unwrap();
    let store: &dyn aduan_core::store::Store = &s;
    store.migrate().await.unwrap();
    let a = store.create_complaint(complaint("a")).await.unwrap();
    store.create_complaint(complaint("b")).await.unwrap();

    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE complaints SET channel = 'pigeon' WHERE ticket = $1")
        .bind(a.ticket().as_str())
        .execute(&raw)
        .await
        .unwrap();
    sqlx::query("UPDATE outbox SET vars = '{not json' WHERE id = 1")
        .execute(&raw)
        .await
        .unwrap();
    match store.get_complaint(a.ticket()).await {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("pigeon"), "{m}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // The unreadable outbox row is failed instead of blocking the outbox; the other is sent.
    let now = Utc.with_ymd_and_hms(2026, 3, 11, 0, 0, 0).unwrap();
    let items = store
        .claim_replies(now, chrono::Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), [2]);
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status, last_error FROM outbox WHERE id = 1")
            .fetch_one(&raw)
            .await
            .unwrap();
    assert_eq!(status, "failed");
    // The stored error is sealed too; through the store it reads back.
    let error = error.unwrap();
    assert!(error.starts_with("enc1:"), "{error}");
    let opened = aduan_store::testing::vault()
        .open("outbox.last_error", &error)
        .unwrap();
    assert!(opened.contains("outbox.vars"), "{opened}");
    s.close().await;
}
