//! Replicas as an operator runs them (issue 15), with the real `aduan serve` binary:
//!
//! - three processes on one PostgreSQL database with the e-mail channel on a real Dovecot
//!   mailbox and the Telegram channel on the fake Bot API, each with the default (generated)
//!   replica id: the mailbox reader and the Telegram poller are SIGKILLed in turn, another
//!   replica takes each lease over and the complaint sent after the kill is stored within
//!   15 s of it, exactly once (SPEC §6);
//! - a reply cut off by a crash after the mail server took it goes out again with the same
//!   Message-ID (SPEC §5), on SQLite and PostgreSQL.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use aduan_channel_email::testing::dovecot::{Dovecot, PASSWORD, USER};
use aduan_channel_email::testing::{ReceivedMail, SmtpSink};
use aduan_channel_telegram::testing::{FakeBotApi, TOKEN, unix_now};
use common::{Backend, Daemon, kill, start_daemon_with};
use serde_json::{Value, json};

/// The longest failover SPEC §6 allows.
const FAILOVER: Duration = Duration::from_secs(15);

/// Direct access to the test database (lease holders, counts, outbox rows).
enum Db {
    Pg(sqlx::PgPool),
    Lite(sqlx::SqlitePool),
}

impl Db {
    async fn open(url: &str) -> Db {
        if url.starts_with("postgres") {
            Db::Pg(sqlx::PgPool::connect(url).await.unwrap())
        } else {
            Db::Lite(sqlx::SqlitePool::connect(url).await.unwrap())
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        match self {
            Db::Pg(p) => sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(p)
                .await
                .unwrap(),
            Db::Lite(p) => sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(p)
                .await
                .unwrap(),
        }
    }

    async fn text(&self, sql: &str) -> Option<String> {
        match self {
            Db::Pg(p) => sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                .fetch_optional(p)
                .await
                .unwrap(),
            Db::Lite(p) => sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                .fetch_optional(p)
                .await
                .unwrap(),
        }
    }

    async fn exec(&self, sql: &str) -> u64 {
        match self {
            Db::Pg(p) => sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(p)
                .await
                .unwrap()
                .rows_affected(),
            Db::Lite(p) => sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(p)
                .await
                .unwrap()
                .rows_affected(),
        }
    }

    /// The live holder of lease `name` (by its prefix), if any.
    async fn holder(&self, name_prefix: &str) -> Option<String> {
        let now = chrono::Utc::now().timestamp_millis();
        self.text(&format!(
            "SELECT holder FROM leases WHERE name LIKE '{name_prefix}%' AND until > {now}"
        ))
        .await
    }
}

/// The process id inside a generated replica id `{host}-{pid}-{suffix}`.
fn pid_of(holder: &str) -> u32 {
    let mut parts = holder.rsplitn(3, '-');
    let _suffix = parts.next();
    parts
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in the generated replica id `{holder}`"))
}

/// Append the config of a daemon under test.
fn config_with(dir: &Path, db_url: &str, extra: &str) -> std::path::PathBuf {
    let cfg = common::write_config(dir, db_url, "127.0.0.1:0", "off", false, 1 << 20);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(extra);
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn mail(n: usize) -> Vec<u8> {
    format!(
        "From: Warga {n} <warga{n}@contoh.id>\r\nTo: pengaduan@buleleng.example\r\n\
         Subject: KTP belum jadi {n}\r\nMessage-ID: <failover-{n}@contoh.id>\r\n\
         Date: Mon, 02 Mar 2026 08:00:00 +0800\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nKTP saya belum jadi ({n}).\r\n"
    )
    .into_bytes()
}

fn text_update(update_id: i64, chat: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id * 10,
            "from": {"id": chat, "is_bot": false, "first_name": "Komang", "language_code": "id"},
            "chat": {"id": chat, "first_name": "Komang", "type": "private"},
            "date": unix_now(),
            "text": text
        }
    })
}

async fn append(dovecot: &Dovecot, m: &[u8]) {
    let mut s = dovecot.login(USER).await.unwrap();
    s.append("INBOX", None, None, m).await.expect("APPEND");
    let _ = s.logout().await;
}

/// Wait until `sql` counts `want`, at most `within`; the time it took.
async fn until_count(db: &Db, sql: &str, want: i64, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if db.count(sql).await >= want {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

fn dump_logs(daemons: &[Daemon]) -> String {
    daemons
        .iter()
        .map(|d| {
            let log = d.log.lock().unwrap();
            let tail: Vec<&String> = log.iter().rev().take(30).collect();
            format!(
                "--- pid {} ---\n{}",
                d.child.id().unwrap_or(0),
                tail.into_iter()
                    .rev()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const EMAIL_COUNT: &str = "SELECT COUNT(*) FROM complaints WHERE channel = 'email'";
const TELEGRAM_COUNT: &str = "SELECT COUNT(*) FROM complaints WHERE channel = 'telegram'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_and_telegram_poller_fail_over_within_15_s_of_a_sigkill() {
    let dovecot = Dovecot::start().expect("a private Dovecot (scripts/dovecot-test)");
    let (sink, _mails) = SmtpSink::start().await.unwrap();
    let api = FakeBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = common::database_url(Backend::Postgres, dir.path()).await;
    let cfg = config_with(
        dir.path(),
        &url,
        &format!(
            r#"
[channels.email]
enabled = true
imap_host = "127.0.0.1"
imap_port = {imap}
imap_security = "none"
username = "{USER}"
password = "{PASSWORD}"
idle = true
smtp_host = "127.0.0.1"
smtp_port = {smtp}
smtp_security = "none"
from = "Pengaduan <pengaduan@buleleng.example>"
[channels.telegram]
enabled = true
token = "{TOKEN}"
api_url = "{api}"
mode = "polling"
"#,
            imap = dovecot.port(),
            smtp = sink.port(),
            api = api.url,
        ),
    );
    // Three replicas on one host, each with the default replica id.
    let mut daemons = Vec::new();
    for _ in 0..3 {
        daemons.push(start_daemon_with(&cfg, &[]).await);
    }
    let db = Db::open(&url).await;
    // Each logs its own id at start.
    let mut ids = std::collections::HashSet::new();
    for d in &daemons {
        let line = d
            .log_lines("replica id")
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("replica id logged:\n{}", dump_logs(&daemons)));
        let id = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("replica_id="))
            .unwrap_or_else(|| panic!("replica_id= in {line}"))
            .to_string();
        assert_eq!(pid_of(&id), d.pid(), "{id}");
        ids.insert(id);
    }
    assert_eq!(ids.len(), 3, "three distinct replica ids: {ids:?}");
    // Both leases are taken, by replicas named after their own process.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (imap_holder, tg_holder) = loop {
        if let (Some(a), Some(b)) = (db.holder("imap:").await, db.holder("telegram:").await) {
            break (a, b);
        }
        assert!(
            Instant::now() < deadline,
            "leases not taken:\n{}",
            dump_logs(&daemons)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let pids: Vec<u32> = daemons.iter().map(Daemon::pid).collect();
    for h in [&imap_holder, &tg_holder] {
        assert!(pids.contains(&pid_of(h)), "holder {h} is one of {pids:?}");
    }
    // Warm-up: one complaint each way before any kill.
    append(&dovecot, &mail(0)).await;
    api.push_update(text_update(1, 7_000_000_001, "Akta kelahiran belum jadi"));
    assert!(
        until_count(&db, EMAIL_COUNT, 1, Duration::from_secs(20))
            .await
            .is_some(),
        "warm-up mail:\n{}",
        dump_logs(&daemons)
    );
    assert!(
        until_count(&db, TELEGRAM_COUNT, 1, Duration::from_secs(20))
            .await
            .is_some(),
        "warm-up update:\n{}",
        dump_logs(&daemons)
    );

    let mut dead: Vec<u32> = Vec::new();
    for (n, (lease, count_sql)) in [
        (1usize, ("imap:", EMAIL_COUNT)),
        (2, ("telegram:", TELEGRAM_COUNT)),
    ] {
        let holder = db.holder(lease).await.expect("a live holder");
        let victim = pid_of(&holder);
        let before = db.count(count_sql).await;
        let t0 = Instant::now();
        if !dead.contains(&victim) {
            kill(victim, "-KILL");
            dead.push(victim);
        }
        // Sent right after the kill: only a replica that took over can store it.
        if lease == "imap:" {
            append(&dovecot, &mail(n)).await;
        } else {
            api.push_update(text_update(
                100 + n as i64,
                7_000_000_002,
                "KK hilang, mohon dibantu",
            ));
        }
        let stored = until_count(&db, count_sql, before + 1, FAILOVER).await;
        let took = t0.elapsed();
        let Some(_) = stored else {
            panic!(
                "{lease} complaint not stored within {FAILOVER:?} of the SIGKILL of {holder}:\n{}",
                dump_logs(&daemons)
            );
        };
        let new_holder = db.holder(lease).await.expect("a new holder");
        assert_ne!(new_holder, holder, "another replica holds {lease}");
        assert!(
            !dead.contains(&pid_of(&new_holder)),
            "a live replica holds {lease}"
        );
        println!(
            "failover of {lease} after SIGKILL of pid {victim}: complaint stored {:.1} s after the kill (new holder {new_holder})",
            took.as_secs_f64()
        );
        // Exactly once, also a little later.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(db.count(count_sql).await, before + 1, "stored exactly once");
    }
    for d in &mut daemons {
        if !dead.contains(&d.pid()) {
            kill(d.pid(), "-TERM");
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), d.child.wait()).await;
    }
    // The whole run: every message made exactly one complaint.
    assert_eq!(db.count(EMAIL_COUNT).await, 2);
    assert_eq!(db.count(TELEGRAM_COUNT).await, 2);
}

/// The Message-ID of a received mail (without `<>`).
fn message_id(m: &ReceivedMail) -> String {
    let text = String::from_utf8_lossy(&m.data);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("Message-ID:")
                .or_else(|| l.strip_prefix("Message-Id:"))
        })
        .map(|v| v.trim().trim_matches(['<', '>']).to_string())
        .unwrap_or_else(|| panic!("no Message-ID in {text}"))
}

const CITIZEN: &str = "made.sari@contoh.id";

/// The next mail to `rcpt` within `within` (other mail — the month's digest the scheduler
/// sends on the 1st — is skipped).
async fn next_to(
    mails: &mut tokio::sync::mpsc::UnboundedReceiver<ReceivedMail>,
    rcpt: &str,
    within: Duration,
) -> Option<ReceivedMail> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, mails.recv()).await {
            Ok(Some(m)) if m.rcpt_to.iter().any(|r| r == rcpt) => return Some(m),
            Ok(Some(_)) => continue,
            _ => return None,
        }
    }
}

/// A reply the mail server took but never confirmed (SIGKILL before the 250): the daemon
/// restarted after the outbox lease ran out sends it again with the same Message-ID, and
/// then marks it sent; nothing goes out a third time.
async fn a_reply_cut_off_by_a_crash_goes_out_again_as_the_same_message(b: Backend) {
    let (sink, mut mails) = SmtpSink::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = common::database_url(b, dir.path()).await;
    let cfg = config_with(
        dir.path(),
        &url,
        &format!(
            "[channels.email]\nenabled = true\nimap_host = \"\"\nsmtp_host = \"127.0.0.1\"\n\
             smtp_port = {}\nsmtp_security = \"none\"\nfrom = \"pengaduan@example.go.id\"\n",
            sink.port()
        ),
    );
    sink.set_hold_after_data(true);
    let mut first = start_daemon_with(&cfg, &[]).await;
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v1/complaints", first.addr))
        .json(&json!({"email": CITIZEN, "body": "KTP saya belum jadi."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let taken = next_to(&mut mails, CITIZEN, Duration::from_secs(30))
        .await
        .expect("the acknowledgement reaches the mail server");
    // The server has the message; the daemon has not heard the 250: kill it now.
    kill(first.pid(), "-KILL");
    let _ = first.child.wait().await;
    let id1 = message_id(&taken);
    let db = Db::open(&url).await;
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND claimed_until IS NOT NULL"
        )
        .await,
        1,
        "the row is still pending and leased by the dead process"
    );
    assert_eq!(
        db.text("SELECT reply_key FROM outbox").await.as_deref(),
        id1.split('@').next(),
        "the Message-ID is the key fixed when the reply was queued"
    );
    // Two minutes pass: the dead process's outbox lease runs out.
    assert_eq!(
        db.exec("UPDATE outbox SET claimed_until = 1 WHERE status = 'pending'")
            .await,
        1
    );
    sink.set_hold_after_data(false);
    let mut second = start_daemon_with(&cfg, &[]).await;
    let again = next_to(&mut mails, CITIZEN, Duration::from_secs(30))
        .await
        .expect("the reply is sent again");
    assert_eq!(message_id(&again), id1, "the resend is the same message");
    assert!(
        until_count(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE status = 'sent'",
            1,
            Duration::from_secs(10)
        )
        .await
        .is_some(),
        "marked sent after the resend"
    );
    // Nothing else goes out.
    if let Some(m) = next_to(&mut mails, CITIZEN, Duration::from_secs(2)).await {
        panic!("a third send, Message-ID {}", message_id(&m));
    }
    kill(second.pid(), "-TERM");
    let _ = tokio::time::timeout(Duration::from_secs(15), second.child.wait()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_cut_off_by_a_crash_goes_out_again_as_the_same_message_sqlite() {
    a_reply_cut_off_by_a_crash_goes_out_again_as_the_same_message(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_cut_off_by_a_crash_goes_out_again_as_the_same_message_postgres() {
    a_reply_cut_off_by_a_crash_goes_out_again_as_the_same_message(Backend::Postgres).await;
}
