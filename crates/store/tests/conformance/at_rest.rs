//! Identity at rest (SPEC §6), on both backends: a database dump after a workload shows none
//! of the complainant's identity; a database written by a version before sealing is sealed
//! on upgrade; `keys rotate` re-seals under a new key and look-ups follow; file modes.

use super::*;

use aduan_store::{Key, KeyRing, Vault};

/// Everything that identifies the complainant of [`identified`], as it may appear in a dump
/// (the attachment's bytes also in hex, as `sqlite3 .dump` and `pg_dump` print blobs).
const SECRETS: &[&str] = &[
    "Sekarini",
    "Banjar Dinas Kaja",
    "sekarini.panji@contoh.id",
    "081337001122",
    "5108014506900005",
    "778899001",
    "KTP_",
    "SEKARINI-KTP-BYTES",
    "53454b4152494e492d4b54502d4259544553",
    "Sudah dihubungi",
    "Sekarini-thread",
    "kartu keluarga Sekarini",
];

/// A Telegram complaint whose every field identifies its sender.
fn identified(at: DateTime<Utc>) -> NewComplaint {
    let mut c = complaint(Some("778899001:42"), at);
    c.channel = Channel::Telegram;
    c.identity = Identity {
        name: Some("Ni Luh Putu Sekarini".into()),
        address: Some("Banjar Dinas Kaja, Desa Panji".into()),
        email: Some("sekarini.panji@contoh.id".into()),
        phone: Some("081337001122".into()),
        handle: Some("778899001".into()),
    };
    c.body = "KTP-el saya NIK 5108014506900005 belum jadi, hubungi 081337001122".into();
    c.target = Some("Loket Sekarini".into());
    c.attachments = vec![NewAttachment {
        filename: "KTP_Sekarini_5108014506900005.jpg".into(),
        content_type: "image/jpeg".into(),
        data: b"SEKARINI-KTP-BYTES".to_vec(),
    }];
    c.history[0].note = Some("NIK 5108014506900005".into());
    c.acks[0].channel = Channel::Telegram;
    c.acks[0].recipient = "778899001".into();
    c.acks[0].vars = json!({"reply_to": "778899001:42", "access_code": "K7Q2M9XP"});
    c.acks.push(NewReply {
        kind: ReplyKind::Ack,
        channel: Channel::Email,
        recipient: "Sekarini.Panji@contoh.id".into(),
        template: "ack".into(),
        vars: json!({"access_code": "K7Q2M9XP"}),
        max_attempts: 5,
    });
    c
}

/// Create [`identified`], thread a message, send one reply and fail the other with an error
/// quoting the address, record a solution.
async fn workload(s: &dyn Store) -> TicketNumber {
    let (_, ticket) = create(s, identified(t0())).await;
    let rec = get(s, &ticket).await;
    let t = transition(
        rec.state,
        State::Triage,
        t0() + secs(10),
        Changes {
            solution: Some("Sudah dihubungi di 081337001122".into()),
            pause: Some(Pause {
                asked_from: State::Triage,
                remaining_seconds: 30,
                question: "Mohon kirim kartu keluarga Sekarini, NIK 5108014506900005".into(),
            }),
            rating: Some(Rating {
                score: 5,
                comment: Some("Puas, Sekarini 081337001122".into()),
                at: t0() + secs(10),
            }),
            reply_thread: Some(ReplyThread {
                subject: Some("KTP Sekarini".into()),
                in_reply_to: Some("Sekarini-thread@contoh.id".into()),
                references: vec!["Sekarini-thread@contoh.id".into()],
                reply_to_message_id: None,
            }),
            ..Changes::default()
        },
    );
    let mut w = write(&rec, &t);
    w.message = Some(NewMessage {
        channel: None,
        direction: Direction::In,
        at: t0() + secs(10),
        text: "Ini foto KK saya, Sekarini, 0813-3700-1122".into(),
        external_id: Some("778899001:43".into()),
    });
    s.save_transition(w).await.expect("thread a message");
    let items = s
        .claim_replies(t0() + secs(20), Duration::minutes(2), 10)
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
    let sent = ReplyOutcome::Sent {
        external_id: Some("778899001:44".into()),
        at: t0() + secs(21),
        text: "Terima kasih Ni Luh Putu Sekarini".into(),
    };
    assert!(s.complete_reply(&items[0], sent).await.unwrap());
    let failed = ReplyOutcome::Failed {
        error: "550 5.1.1 <sekarini.panji@contoh.id>: Recipient address rejected".into(),
    };
    assert!(s.complete_reply(&items[1], failed).await.unwrap());
    ticket
}

/// Every look-up by a keyed hash and every sealed value reads back.
async fn check_readable(s: &dyn Store, ticket: &TicketNumber) {
    let r = get(s, ticket).await;
    assert_eq!(r.identity.name.as_deref(), Some("Ni Luh Putu Sekarini"));
    assert_eq!(r.identity.handle.as_deref(), Some("778899001"));
    assert_eq!(r.external_id.as_deref(), Some("778899001:42"));
    assert!(r.body.contains("5108014506900005"));
    assert_eq!(r.target.as_deref(), Some("Loket Sekarini"));
    assert_eq!(
        r.solution.as_deref(),
        Some("Sudah dihubungi di 081337001122")
    );
    assert_eq!(
        r.attachments[0].filename,
        "KTP_Sekarini_5108014506900005.jpg"
    );
    assert_eq!(r.messages.len(), 3);
    assert_eq!(r.messages[2].external_id.as_deref(), Some("778899001:44"));
    assert!(r.replies[1].last_error.as_deref().unwrap().contains("550"));
    assert_eq!(r.history[0].note.as_deref(), Some("NIK 5108014506900005"));
    assert!(
        r.pause
            .as_ref()
            .is_some_and(|p| p.question.contains("kartu keluarga Sekarini"))
    );
    assert_eq!(
        r.rating.as_ref().and_then(|x| x.comment.as_deref()),
        Some("Puas, Sekarini 081337001122")
    );
    assert_eq!(r.reply_thread.subject.as_deref(), Some("KTP Sekarini"));
    let found = |x: Option<TicketNumber>| assert_eq!(x.as_ref(), Some(ticket));
    found(
        s.ticket_by_external_id(Channel::Telegram, "778899001:43")
            .await
            .unwrap(),
    );
    found(
        s.ticket_by_external_id(Channel::Telegram, "778899001:42")
            .await
            .unwrap(),
    );
    found(
        s.open_ticket_for_handle(Channel::Telegram, "778899001")
            .await
            .unwrap(),
    );
    found(
        s.tickets_by_message_ids(&["778899001:44".into()], 5)
            .await
            .unwrap()
            .into_iter()
            .next(),
    );
    let acks = s
        .count_acks_since(Channel::Email, "sekarini.panji@CONTOH.id", t0())
        .await
        .unwrap();
    assert_eq!(acks, 1);
    found(
        s.open_tickets_acknowledged_to(Channel::Email, &["Sekarini.Panji@contoh.id".into()], 5)
            .await
            .unwrap()
            .into_iter()
            .next(),
    );
    // A redelivery of the first message is still recognised.
    assert!(matches!(
        s.create_complaint(identified(t0())).await.unwrap(),
        CreateOutcome::Duplicate { .. }
    ));
}

/// The whole database as text: `sqlite3 FILE .dump` or `pg_dump URL`.
fn dump(fx: &Fixture) -> String {
    let out = if fx.postgres {
        std::process::Command::new("pg_dump")
            .arg("--no-owner")
            .arg(&fx.url)
            .output()
    } else {
        let file = fx.url.trim_start_matches("sqlite://");
        std::process::Command::new("sqlite3")
            .arg(file)
            .arg(".dump")
            .output()
    }
    .expect("run the dump tool (sqlite3 / pg_dump)");
    assert!(
        out.status.success(),
        "dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_no_identity(dump: &str) {
    let lower = dump.to_lowercase();
    for s in SECRETS {
        assert!(
            !lower.contains(&s.to_lowercase()),
            "the dump shows `{s}`:\n{}",
            dump.lines()
                .filter(|l| l.to_lowercase().contains(&s.to_lowercase()))
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // The access code left with its acknowledgement; the sent row no longer keeps it, and its
    // digest is sealed (a short code's bare digest could be brute-forced from a dump).
    assert!(!dump.contains("K7Q2M9XP"));
    assert!(!dump.contains("c0ffee"));
}

pub async fn dump_shows_no_identity(fx: &Fixture) {
    let s = fx.ready().await;
    let ticket = workload(s).await;
    check_readable(s, &ticket).await;
    let text = dump(fx);
    assert!(
        text.contains(ticket.as_str()),
        "the dump is not of this database"
    );
    assert_no_identity(&text);
}

fn blob(hex: &str, postgres: bool) -> String {
    if postgres {
        format!("decode('{hex}', 'hex')")
    } else {
        format!("X'{hex}'")
    }
}

/// A database as version 0.1 (migrations 1 and 2) wrote it: identity in plaintext.
async fn old_database(fx: &Fixture) {
    let scripts = [(1, "0001_init"), (2, "0002_channels_escalation_reports")];
    let flavour = if fx.postgres { "postgres" } else { "sqlite" };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut sql = String::from(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL);\n",
    );
    for (v, name) in scripts {
        sql.push_str(
            &std::fs::read_to_string(root.join(flavour).join(format!("{name}.sql"))).unwrap(),
        );
        sql.push_str(&format!(
            "\nINSERT INTO schema_migrations (version, applied_at) VALUES ({v}, 0);\n"
        ));
    }
    let ms = t0().timestamp_millis();
    sql.push_str(&format!(
        "INSERT INTO complaints (ticket, channel, external_id, received_at, name, address, email, \
         phone, handle, category, target, body, state, state_entered_at, version, created_at, \
         updated_at, solution) VALUES ('ADU-202603-0001', 'telegram', '778899001:42', {ms}, \
         'Ni Luh Putu Sekarini', 'Banjar Dinas Kaja, Desa Panji', 'sekarini.panji@contoh.id', \
         '081337001122', '778899001', 'pelayanan', 'Loket Sekarini', \
         'KTP-el saya NIK 5108014506900005 belum jadi, hubungi 081337001122', 'triage', {ms}, 2, \
         {ms}, {ms}, 'Sudah dihubungi di 081337001122');
         INSERT INTO ticket_counters (month, last) VALUES ('202603', 1);
         INSERT INTO messages (complaint_id, direction, at, text, external_id, channel) VALUES \
         (1, 'in', {ms}, 'KTP-el saya NIK 5108014506900005 belum jadi, hubungi 081337001122', \
          '778899001:42', 'telegram'), \
         (1, 'in', {ms} + 10000, 'Ini foto KK saya, Sekarini, 0813-3700-1122', '778899001:43', \
          'telegram'), \
         (1, 'out', {ms} + 21000, 'Terima kasih Ni Luh Putu Sekarini. Kode akses Anda: K7Q2M9XP', \
          '778899001:44', 'telegram');
         INSERT INTO attachments (complaint_id, filename, content_type, size, data, created_at) \
         VALUES (1, 'KTP_Sekarini_5108014506900005.jpg', 'image/jpeg', 18, {data}, {ms});
         INSERT INTO history (complaint_id, step, action, state, actor, at, breached, note) VALUES \
         (1, 'receive', 'receive', 'triage', 'sistem', {ms}, {no}, 'NIK 5108014506900005');
         INSERT INTO outbox (complaint_id, kind, channel, recipient, template, vars, status, \
         attempts, max_attempts, next_attempt_at, created_at, external_id, sent_at) VALUES \
         (1, 'ack', 'telegram', '778899001', 'ack', '{{\"reply_to\": \"778899001:42\", \"access_code\": \"K7Q2M9XP\"}}', 'sent', \
          1, 5, {ms}, {ms}, '778899001:44', {ms} + 21000), \
         (1, 'ack', 'email', 'Sekarini.Panji@contoh.id', 'ack', '{{}}', 'failed', 5, 5, {ms}, \
          {ms}, NULL, NULL);
         UPDATE outbox SET last_error = \
         '550 5.1.1 <sekarini.panji@contoh.id>: Recipient address rejected' WHERE id = 2;",
        data = blob("53454b4152494e492d4b54502d4259544553", fx.postgres),
        // History's `breached` is BOOLEAN on PostgreSQL, INTEGER on SQLite.
        no = if fx.postgres { "false" } else { "0" },
    ));
    use sqlx::Connection as _;
    if fx.postgres {
        let mut conn = sqlx::PgConnection::connect(&fx.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&fx.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

pub async fn plaintext_database_is_sealed_on_upgrade(fx: &Fixture) {
    old_database(fx).await;
    assert!(
        dump(fx).contains("5108014506900005"),
        "the old database is plaintext"
    );
    // Two replicas upgrading at once seal every row exactly once.
    let replica = fx.replica().await;
    let (a, b) = tokio::join!(fx.store.migrate(), replica.migrate());
    a.unwrap();
    b.unwrap();
    let s = fx.store.as_ref();
    let ticket = TicketNumber::parse("ADU-202603-0001").unwrap();
    let r = get(s, &ticket).await;
    assert_eq!(
        r.identity.email.as_deref(),
        Some("sekarini.panji@contoh.id")
    );
    assert_eq!(
        r.attachments[0].filename,
        "KTP_Sekarini_5108014506900005.jpg"
    );
    assert_eq!(r.messages.len(), 3);
    assert_eq!(r.history[0].note.as_deref(), Some("NIK 5108014506900005"));
    let found = |x: Option<TicketNumber>| assert_eq!(x.as_ref(), Some(&ticket));
    found(
        s.ticket_by_external_id(Channel::Telegram, "778899001:43")
            .await
            .unwrap(),
    );
    found(
        s.open_ticket_for_handle(Channel::Telegram, "778899001")
            .await
            .unwrap(),
    );
    found(
        s.tickets_by_message_ids(&["778899001:44".into()], 5)
            .await
            .unwrap()
            .into_iter()
            .next(),
    );
    assert_eq!(
        s.count_acks_since(Channel::Email, "sekarini.panji@contoh.id", t0())
            .await
            .unwrap(),
        1
    );
    // The access code that left with the old acknowledgement is kept nowhere (0004).
    assert!(
        r.messages[2].text.ends_with("Kode akses Anda: ••••••"),
        "{}",
        r.messages[2].text
    );
    let text = dump(fx);
    assert!(!text.contains("K7Q2M9XP"), "the old access code survived");
    for secret in SECRETS {
        assert!(
            !text.to_lowercase().contains(&secret.to_lowercase()),
            "{secret} left after the upgrade"
        );
    }
    // Numbering continues after the old rows.
    let (_, next) = create(s, bare(None, t0())).await;
    assert_eq!(next.as_str(), "ADU-202603-0002");
}

pub async fn rotation_reseals_and_lookups_follow(fx: &Fixture) {
    let (old, new) = (Key::generate(), Key::generate());
    let ring = |keys: Vec<Key>| Vault::new(&KeyRing::new(keys).unwrap());
    let before = aduan_store::connect(&fx.url, ring(vec![old.clone()]))
        .await
        .unwrap();
    before.migrate().await.unwrap();
    let ticket = workload(before.as_ref()).await;
    let sealed_before = dump(fx);

    // Rotate: one step, then "crash" and resume with a fresh process on the same ring.
    let during = aduan_store::connect(&fx.url, ring(vec![new.clone(), old.clone()]))
        .await
        .unwrap();
    let first = during.rotate_keys_step().await.unwrap();
    assert_eq!(first, Some(("complaints", 1)));
    drop(during);
    let during = aduan_store::connect(&fx.url, ring(vec![new.clone(), old.clone()]))
        .await
        .unwrap();
    let mut per_table = std::collections::BTreeMap::new();
    while let Some((table, n)) = during.rotate_keys_step().await.unwrap() {
        *per_table.entry(table).or_insert(0) += n;
    }
    assert_eq!(
        per_table.get("complaints"),
        None,
        "the resumed pass redid a committed batch"
    );
    assert_eq!(per_table.get("messages"), Some(&3));
    assert_eq!(per_table.get("attachments"), Some(&1));
    assert_eq!(per_table.get("outbox"), Some(&2));
    // The receipt's note and the transition's.
    assert_eq!(per_table.get("history"), Some(&2));
    // A second pass finds nothing left under the old key.
    while let Some((_, n)) = during.rotate_keys_step().await.unwrap() {
        assert_eq!(n, 0);
    }

    let after = aduan_store::connect(&fx.url, ring(vec![new]))
        .await
        .unwrap();
    check_readable(after.as_ref(), &ticket).await;
    let retired = aduan_store::connect(&fx.url, ring(vec![old]))
        .await
        .unwrap();
    assert!(matches!(
        retired.get_complaint(&ticket).await,
        Err(StoreError::Corrupt(_))
    ));
    // Started with the retired key, the store refuses at once (migrate is the daemon's first
    // step) instead of serving errors; with the current key it starts.
    match retired.migrate().await {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("does not open the stored data"), "{m}"),
        other => panic!("migrate with a retired key: {other:?}"),
    }
    after.migrate().await.unwrap();
    let rotated = dump(fx);
    assert_no_identity(&rotated);
    assert_ne!(sealed_before, rotated);
}

#[cfg(unix)]
pub async fn database_files_are_private(fx: &Fixture) {
    use std::os::unix::fs::PermissionsExt;
    if fx.postgres {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data/aduan.db");
    let url = format!("sqlite://{}", file.display());
    let s = connect(&url).await.unwrap();
    s.migrate().await.unwrap();
    create(s.as_ref(), identified(t0())).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&dir.path().join("data/aduan.db-wal")), 0o600);
    drop(s);
    // An older installation's world-readable file is narrowed on open.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = connect(&url).await.unwrap();
    s.ping().await.unwrap();
    assert_eq!(mode(&file), 0o600);
}
