//! `aduan migrate-store` (SPEC §1) as an operator runs it: a SQLite installation populated
//! through the real product (complaints from several channels with attachments and media
//! jobs, a procedure through every step, outbox rows, a built monthly report, staff and
//! their API tokens, an admin session, the audit chain) is copied by the built binary into
//! a fresh PostgreSQL database; `aduan serve` on the copy answers the same complaints,
//! files, history, report and audit entries to the same tokens, numbers a new complaint
//! after the copied ones, and `aduan audit verify` passes there. A second run into the
//! now non-empty target exits 1 and changes nothing; the copy goes back from PostgreSQL
//! into a new SQLite file with the same counts.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aduan_core::desk::Submission;
use aduan_core::logbook::Month;
use aduan_core::media::{MediaKind, NewMedia};
use aduan_core::model::NewAttachment;
use aduan_core::outbox::{RenderedReply, ReplySender, SendError};
use aduan_core::types::{Channel, Role, Username};
use common::{Backend, Options, TestApp, spawn};
use serde_json::{Value, json};
use sqlx::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_aduan");

/// A reply channel for e-mail, so acknowledgements and the follow-up are queued (with no
/// outbox worker they stay in the outbox, pending).
struct Sink;

#[async_trait::async_trait]
impl ReplySender for Sink {
    async fn send(&self, _reply: &RenderedReply) -> Result<Option<String>, SendError> {
        Ok(None)
    }
}

fn options() -> Options {
    let mut opts = Options::new(Backend::Sqlite);
    opts.no_outbox_worker = true;
    opts.senders = HashMap::from([(Channel::Email, Arc::new(Sink) as Arc<dyn ReplySender>)]);
    opts
}

struct Staff {
    staf: String,
    kasi: String,
    dafduk: String,
    kabid: String,
    kadis: String,
}

async fn ok(app: &TestApp, token: &str, ticket: &str, action: &str, body: Value) {
    let (st, v) = app.act(token, ticket, action, body).await;
    assert_eq!(st, 200, "{action}: {v}");
}

fn att(name: &str, content_type: &str, data: &[u8]) -> NewAttachment {
    NewAttachment {
        filename: name.into(),
        content_type: content_type.into(),
        data: data.to_vec(),
    }
}

async fn get_bytes(http: &reqwest::Client, url: &str, token: &str) -> (u16, Vec<u8>) {
    let r = http.get(url).bearer_auth(token).send().await.unwrap();
    let st = r.status().as_u16();
    (st, r.bytes().await.unwrap().to_vec())
}

async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let (st, b) = get_bytes(http, url, token).await;
    (
        st,
        serde_json::from_slice(&b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&b).into())),
    )
}

/// Everything the test compares before and after the copy, read through the API.
#[derive(Debug, PartialEq)]
struct Snapshot {
    /// Complaint detail (identity, history, messages, attachments) per ticket.
    details: Vec<Value>,
    /// Attachment bytes, in order.
    files: Vec<Vec<u8>>,
    report: Value,
    audit: Value,
    queue: Value,
}

async fn snapshot(
    http: &reqwest::Client,
    base: &str,
    s: &Staff,
    tickets: &[String],
    month: Month,
) -> Snapshot {
    // First: reading complaints and files below may add entries of its own.
    let (st, audit) = get_json(
        http,
        &format!("{base}/api/v1/admin/audit?from=2020-01-01&to=2100-01-01&limit=1000"),
        &s.kadis,
    )
    .await;
    assert_eq!(st, 200, "{audit}");
    let mut details = Vec::new();
    let mut files = Vec::new();
    for t in tickets {
        let (st, d) = get_json(
            http,
            &format!("{base}/api/v1/admin/complaints/{t}"),
            &s.kasi,
        )
        .await;
        assert_eq!(st, 200, "{t}: {d}");
        for a in d["attachments"].as_array().unwrap() {
            let id = a["id"].as_i64().unwrap();
            let (st, bytes) = get_bytes(
                http,
                &format!("{base}/api/v1/admin/complaints/{t}/attachments/{id}"),
                &s.kasi,
            )
            .await;
            assert_eq!(st, 200, "{t} attachment {id}");
            files.push(bytes);
        }
        details.push(d);
    }
    let (st, report) = get_json(
        http,
        &format!("{base}/api/v1/admin/reports/{}", month.prev()),
        &s.kasi,
    )
    .await;
    assert_eq!(st, 200, "{report}");
    let (st, queue) = get_json(http, &format!("{base}/api/v1/admin/queue"), &s.kasi).await;
    assert_eq!(st, 200, "{queue}");
    Snapshot {
        details,
        files,
        report,
        audit,
        queue,
    }
}

/// Complaint details without the delivery state of their queued replies (attempts, errors,
/// status), which an outbox worker changes.
fn settled(details: &[Value]) -> Vec<Value> {
    let mut out = details.to_vec();
    for d in &mut out {
        for r in d["replies"].as_array_mut().unwrap() {
            let r = r.as_object_mut().unwrap();
            for k in [
                "attempts",
                "last_error",
                "next_attempt_at",
                "status",
                "sent_at",
            ] {
                assert!(r.remove(k).is_some(), "reply field {k}");
            }
        }
    }
    out
}

/// Populate a SQLite installation through the product. Returns the staff tokens, the
/// tickets and the attachment bytes filed.
async fn populate(app: &TestApp) -> (Staff, Vec<String>, Vec<Vec<u8>>) {
    let s = Staff {
        staf: app.user("staf1", Role::Staf, None).await,
        kasi: app.user("kasi1", Role::Kasi, None).await,
        dafduk: app.user("dafduk1", Role::Bidang, Some("dafduk")).await,
        kabid: app.user("kabid1", Role::Kabid, None).await,
        kadis: app.user("kadis1", Role::Kadis, None).await,
    };
    let mut tickets = Vec::new();
    // Web form through the public API (an e-mail acknowledgement goes to the outbox).
    let (web, _) = app
        .submit(json!({
            "name": "Ni Made Sari", "email": "made.sari@example.com",
            "phone": "081234567890", "category": "pelayanan",
            "body": "KTP saya belum jadi sejak tiga bulan."
        }))
        .await;
    tickets.push(web.clone());
    // E-mail with two attachments (one large enough to span several batches' worth).
    let photo: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let pdf = b"%PDF-1.4 surat pernyataan".to_vec();
    let email = app
        .desk
        .intake()
        .submit(Submission {
            channel: Some(Channel::Email),
            external_id: Some("<m1@example.com>".into()),
            name: Some("Putu Ayu".into()),
            email: Some("putu.ayu@example.com".into()),
            body: "Akta kelahiran anak saya salah tulis nama.".into(),
            attachments: vec![
                att("akta.jpg", "image/jpeg", &photo),
                att("Surat—Pémuteran.pdf", "application/pdf", &pdf),
            ],
            with_access_code: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .ticket
        .to_string();
    tickets.push(email.clone());
    // Telegram with a photo still to fetch (a media job).
    let tg = app
        .desk
        .intake()
        .submit(Submission {
            channel: Some(Channel::Telegram),
            external_id: Some("tg:555:10".into()),
            handle: Some("555".into()),
            name: Some("Komang".into()),
            body: "Kartu keluarga belum diperbarui.".into(),
            media: vec![NewMedia {
                kind: MediaKind::Image,
                source: "AgACAgUAAxkBAAIB".into(),
                filename: None,
                content_type: Some("image/jpeg".into()),
                size: Some(2048),
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .ticket
        .to_string();
    tickets.push(tg);
    // A phone call typed in by staff.
    let (st, v) = app
        .post_json(
            "/api/v1/admin/complaints",
            Some(&s.staf),
            json!({"channel": "phone", "name": "Wayan", "phone": "0811111111",
                   "body": "Menanyakan jadwal perekaman KTP-el."}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let phone = v["ticket"].as_str().unwrap().to_string();
    tickets.push(phone.clone());

    // The web complaint through the whole procedure.
    ok(
        app,
        &s.kasi,
        &web,
        "assign",
        json!({"bidang": "dafduk", "note": "cek cetak"}),
    )
    .await;
    ok(
        app,
        &s.kasi,
        &web,
        "share-identity",
        json!({"reason": "perlu konfirmasi alamat"}),
    )
    .await;
    ok(
        app,
        &s.dafduk,
        &web,
        "solution",
        json!({"text": "KTP sudah dicetak."}),
    )
    .await;
    ok(
        app,
        &s.kasi,
        &web,
        "review",
        json!({"decision": "return", "note": "sebutkan jam"}),
    )
    .await;
    ok(
        app,
        &s.dafduk,
        &web,
        "solution",
        json!({"text": "KTP dicetak, loket 3."}),
    )
    .await;
    ok(app, &s.kasi, &web, "review", json!({"decision": "approve"})).await;
    ok(
        app,
        &s.staf,
        &web,
        "follow-up",
        json!({"message": "Yth. Ibu, KTP siap diambil."}),
    )
    .await;
    ok(app, &s.kabid, &web, "sign", json!({})).await;
    // The e-mail one assigned, the phone call closed.
    ok(app, &s.kasi, &email, "assign", json!({"bidang": "capil"})).await;
    ok(
        app,
        &s.kasi,
        &phone,
        "close",
        json!({"status": "tidak", "reason": "bukan pengaduan"}),
    )
    .await;

    // The previous month's report, built and concluded.
    let tz = app.desk.config().policy.calendar.timezone();
    let month = Month::of(app.desk.now(), tz);
    let (st, v) = app
        .get_json(
            &format!("/api/v1/admin/reports/{}", month.prev()),
            Some(&s.kasi),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = app
        .post_json(
            &format!("/api/v1/admin/reports/{}/conclusion", month.prev()),
            Some(&s.kasi),
            json!({"text": "Antrian KTP-el."}),
        )
        .await;
    assert_eq!(st, 200, "{v}");

    // An admin login session.
    let now = app.desk.now();
    app.desk
        .store()
        .create_session(
            "sesi-nonce-1",
            &Username::parse("kasi1").unwrap(),
            now,
            now + chrono::Duration::hours(8),
        )
        .await
        .unwrap();
    (s, tickets, vec![photo, pdf])
}

/// The config of `cfg` with another database URL (same key file).
fn config_for(cfg: &Path, dir: &Path, name: &str, url: &str) -> PathBuf {
    let text = std::fs::read_to_string(cfg).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("url = "))
        .unwrap()
        .to_string();
    let out = dir.join(name);
    std::fs::write(&out, text.replace(&line, &format!("url = \"{url}\""))).unwrap();
    out
}

fn cmd(config: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(BIN);
    c.arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .env("ADUAN_ADMIN_SESSION_SECRET", "migrate-test-secret");
    c
}

fn run(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = cmd(config).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Row counts of every data table, read directly.
async fn pg_counts(url: &str) -> Vec<(String, i64)> {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let mut out = Vec::new();
    for t in aduan_store::copy::TABLES {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {t}")))
            .fetch_one(&mut c)
            .await
            .unwrap();
        out.push((t.to_string(), n));
    }
    c.close().await.unwrap();
    out
}

/// The `table source target` figures of migrate-store's table, as printed.
fn printed_counts(stdout: &str) -> Vec<(String, u64, u64)> {
    stdout
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() == 6 && aduan_store::copy::TABLES.contains(&f[0]) {
                Some((f[0].to_string(), f[1].parse().ok()?, f[2].parse().ok()?))
            } else {
                None
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_populated_sqlite_installation_moves_to_postgres_and_back() {
    let app = spawn(options()).await;
    let (staff, tickets, filed) = populate(&app).await;
    let tz = app.desk.config().policy.calendar.timezone();
    let month = Month::of(app.desk.now(), tz);
    let http = reqwest::Client::new();
    let before = snapshot(&http, &app.base, &staff, &tickets, month).await;
    assert_eq!(before.files, filed, "the attachments as filed");
    assert!(
        before.audit.as_array().is_some_and(|a| a.len() >= 10),
        "audit entries: {}",
        before.audit
    );
    let source_url = app.db_url.clone();
    let cfg = app.config_path.clone();
    let dir = tempfile::tempdir().unwrap();
    // Stop the daemon: nothing changes during the copy.
    app.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // SQLite → PostgreSQL.
    let pg = aduan_store::testing::fresh_postgres_url().await;
    let (code, out, err) = run(&cfg, &["migrate-store", "--from", &source_url, "--to", &pg]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("complaints: 4 rows copied"), "{err}");
    let counts = printed_counts(&out);
    assert_eq!(counts.len(), aduan_store::copy::TABLES.len(), "{out}");
    assert!(counts.iter().all(|(_, s, t)| s == t), "{out}");
    let nonzero = |name: &str| counts.iter().any(|(t, s, _)| t == name && *s > 0);
    for t in [
        "complaints",
        "messages",
        "attachments",
        "history",
        "users",
        "outbox",
        "reports",
        "audit_log",
        "media_jobs",
        "admin_sessions",
        "identity_shares",
        "ticket_counters",
    ] {
        assert!(nonzero(t), "{t} was populated: {out}");
    }
    assert!(out.contains("audit chain intact on the target"), "{out}");

    // The daemon on the copy answers the same to the same tokens.
    let pg_cfg = config_for(&cfg, dir.path(), "pg.toml", &pg);
    let (mut child, addr) = common::start_daemon(&pg_cfg).await;
    let base = format!("http://{addr}");
    let after = snapshot(&http, &base, &staff, &tickets, month).await;
    // The queued replies are the copied outbox rows: the daemon on the copy (which has no
    // e-mail configured) may already have taken them up; apart from their delivery state
    // they are what was queued.
    assert_eq!(settled(&after.details), settled(&before.details));
    let replies: Vec<&Value> = after
        .details
        .iter()
        .flat_map(|d| d["replies"].as_array().unwrap())
        .collect();
    assert_eq!(
        replies.len(),
        2,
        "the acknowledgement and the answer: {replies:?}"
    );
    assert_eq!(after.files, before.files);
    assert_eq!(after.report, before.report);
    assert_eq!(after.queue, before.queue);
    // The chain as it was, plus the downloads of the first snapshot (recorded after its
    // audit read, and copied with the rest).
    let (was, now) = (
        before.audit.as_array().unwrap(),
        after.audit.as_array().unwrap(),
    );
    assert_eq!(now[..was.len()], was[..]);
    let extra: Vec<&Value> = now[was.len()..].iter().map(|e| &e["action"]).collect();
    assert_eq!(extra, vec!["attachment_download"; before.files.len()]);
    // A new complaint gets the next id and ticket number (the sequences were moved on).
    let r = http
        .post(format!("{base}/api/v1/complaints"))
        .json(&json!({"body": "Pengaduan baru setelah pindah."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let new_ticket = v["ticket"].as_str().unwrap().to_string();
    assert!(!tickets.contains(&new_ticket), "{new_ticket}");
    let (st, d) = get_json(
        &http,
        &format!("{base}/api/v1/admin/complaints/{new_ticket}"),
        &staff.kasi,
    )
    .await;
    assert_eq!(st, 200, "{d}");
    ok_on(
        &http,
        &base,
        &staff.kasi,
        &new_ticket,
        "assign",
        json!({"bidang": "capil"}),
    )
    .await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let (code, out, err) = run(&pg_cfg, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("audit chain intact"), "{out}");

    // A second run into the now non-empty target is refused and writes nothing.
    let held = pg_counts(&pg).await;
    let (code, out, err) = run(&cfg, &["migrate-store", "--from", &source_url, "--to", &pg]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("not empty"), "{err}");
    assert!(err.contains("complaints: 5 rows"), "{err}");
    assert_eq!(pg_counts(&pg).await, held);

    // PostgreSQL → a new SQLite file.
    let back = aduan_store::testing::fresh_sqlite_url(dir.path());
    let (code, out, err) = run(&cfg, &["migrate-store", "--from", &pg, "--to", &back]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let again = printed_counts(&out);
    let complaints = again.iter().find(|(t, _, _)| t == "complaints").unwrap();
    assert_eq!((complaints.1, complaints.2), (5, 5), "{out}");
    assert!(again.iter().all(|(_, s, t)| s == t), "{out}");
    let back_cfg = config_for(&cfg, dir.path(), "back.toml", &back);
    let (mut child, addr) = common::start_daemon(&back_cfg).await;
    let base = format!("http://{addr}");
    let round = snapshot(&http, &base, &staff, &tickets, month).await;
    assert_eq!(round.files, before.files);
    assert_eq!(round.report, before.report);
    // The copied tickets read the same; the assignment made on PostgreSQL is there too.
    assert_eq!(settled(&round.details), settled(&before.details));
    let (st, d) = get_json(
        &http,
        &format!("{base}/api/v1/admin/complaints/{new_ticket}"),
        &staff.kasi,
    )
    .await;
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["bidang"], "capil", "{d}");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    aduan_store::testing::drop_postgres_database(&pg).await;
}

async fn ok_on(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    ticket: &str,
    action: &str,
    body: Value,
) {
    let r = http
        .post(format!("{base}/api/v1/admin/complaints/{ticket}/{action}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    assert_eq!(st, 200, "{action}: {}", r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_source_or_an_unknown_table_is_refused() {
    let app = spawn(options()).await;
    app.submit(json!({"body": "Pengaduan."})).await;
    let cfg = app.config_path.clone();
    let source_url = app.db_url.clone();
    app.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();

    // A mistyped source path is not an empty installation.
    let missing = format!("sqlite://{}", dir.path().join("nope.db").display());
    let target = aduan_store::testing::fresh_sqlite_url(dir.path());
    let (code, _, err) = run(
        &cfg,
        &["migrate-store", "--from", &missing, "--to", &target],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(!dir.path().join("nope.db").exists());

    // A table this version does not know would be lost: refused, naming it.
    {
        let mut c = sqlx::SqliteConnection::connect(&source_url).await.unwrap();
        sqlx::query("CREATE TABLE later_feature (id INTEGER PRIMARY KEY)")
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    }
    let (code, _, err) = run(
        &cfg,
        &["migrate-store", "--from", &source_url, "--to", &target],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("later_feature"), "{err}");
}
