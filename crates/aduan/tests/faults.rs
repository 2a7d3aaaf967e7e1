//! Faults of the parts under the daemon (issue 14): the SQLite disk full, PostgreSQL
//! connections dropped mid-burst and the database unreachable, reply senders down, and the
//! process stopped and resumed. Every answer is 201 or 503 (never 500), every acknowledged
//! complaint is kept, and the daemon recovers by itself.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aduan_core::types::Role;
use common::{Backend, Options, TestApp, spawn};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Start the daemon in-process on `db_url` (a database the test prepared).
async fn spawn_on(db_url: String) -> TestApp {
    let mut o = Options::new(Backend::Sqlite);
    o.db_url = Some(db_url);
    o.no_outbox_worker = false;
    spawn(o).await
}

/// A small tmpfs mounted for one test; unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mount `size_kib` of tmpfs, or `None` (with a loud message) where mounting is not
    /// permitted.
    fn mount(size_kib: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k,mode=0700")])
            .arg("tmpfs")
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                eprintln!(
                    "\n*** SKIPPED: cannot mount a tmpfs to fill ({}); run the tests as root \
                     (or with CAP_SYS_ADMIN) to exercise a real full disk ***\n",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("\n*** SKIPPED: cannot run mount ({e}) to exercise a full disk ***\n");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fill the file system under `dir` with one file until the write fails for lack of space.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        match f.write_all(&chunk).and_then(|_| f.flush()) {
            Ok(()) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected: {e}");
                break;
            }
        }
    }
    path
}

async fn post_complaint(app: &TestApp, i: usize) -> (u16, serde_json::Value) {
    // Two KiB of text per complaint, so the database grows quickly.
    let body = format!("Pengaduan nomor {i}: {}", "KTP-el belum jadi. ".repeat(100));
    app.post_json(
        "/api/v1/complaints",
        None,
        json!({"email": format!("w{i}@example.com"), "body": body}),
    )
    .await
}

async fn readyz(app: &TestApp) -> (u16, serde_json::Value) {
    app.get_json("/readyz", None).await
}

/// Every ticket answered 201 is in the database.
async fn assert_kept(app: &TestApp, tickets: &[String]) {
    let kasi = app.user("kasi-check", Role::Kasi, None).await;
    for t in tickets {
        let (st, v) = app
            .get_json(&format!("/api/v1/admin/complaints/{t}"), Some(&kasi))
            .await;
        assert_eq!(st, 200, "acknowledged {t} lost: {v}");
    }
}

/// SQLite on a file system that fills up: writes answer 503 `storage_full` (never 500),
/// the public form shows its Indonesian page, `/readyz` names the storage error, and once
/// space returns writes succeed again without a restart; every 201 is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_disk_full_answers_503_and_recovers_without_restart() {
    let Some(fs) = Tmpfs::mount(6 * 1024) else {
        return;
    };
    let url = aduan_store::testing::fresh_sqlite_url(fs.path());
    let app = spawn_on(url).await;
    let mut kept = Vec::new();
    for i in 0..5 {
        let (st, v) = post_complaint(&app, i).await;
        assert_eq!(st, 201, "{v}");
        kept.push(v["ticket"].as_str().unwrap().to_string());
    }
    let filler = fill(fs.path());

    // Write until the storage refuses (the WAL may still have room for a while).
    let mut first_refusal = None;
    for i in 5..5000 {
        let (st, v) = post_complaint(&app, i).await;
        match st {
            201 => kept.push(v["ticket"].as_str().unwrap().to_string()),
            503 => {
                first_refusal = Some(v);
                break;
            }
            _ => panic!("answer {st} on a full disk (only 201 or 503 allowed): {v}"),
        }
    }
    let v = first_refusal.expect("the full file system never refused a write");
    assert_eq!(v["error"]["code"], "storage_full", "{v}");

    // While it lasts: every write 503 (the writer is not stuck: each is a fresh attempt),
    // /readyz not ready with the storage error, the public form a page in Indonesian.
    for i in 0..10 {
        let (st, v) = post_complaint(&app, 10_000 + i).await;
        assert_eq!(st, 503, "{v}");
        assert_eq!(v["error"]["code"], "storage_full", "{v}");
    }
    let (st, r) = readyz(&app).await;
    assert_eq!(st, 503, "{r}");
    assert!(
        r["database"].as_str().unwrap().contains("storage full"),
        "{r}"
    );
    let page = app
        .http
        .post(app.url("/pengaduan"))
        .form(&[
            ("name", "Ni Made Sari"),
            ("address", ""),
            ("email", "made@example.com"),
            ("phone", ""),
            ("target", ""),
            ("body", "KTP-el saya belum jadi."),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    let html = page.text().await.unwrap();
    assert!(html.contains("belum tersimpan"), "{html}");

    // Space returns: no restart, the next writes succeed and /readyz is ready again.
    std::fs::remove_file(filler).unwrap();
    for i in 20_000..20_020 {
        let (st, v) = post_complaint(&app, i).await;
        assert_eq!(st, 201, "after space returned: {v}");
        kept.push(v["ticket"].as_str().unwrap().to_string());
    }
    let (st, r) = readyz(&app).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["database"], "ok");
    assert_kept(&app, &kept).await;
    app.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
}

fn database_name(url: &str) -> String {
    let tail = url.rsplit('/').next().unwrap();
    tail.split('?').next().unwrap().to_string()
}

/// PostgreSQL "restarted" under a burst: every connection the daemon holds is terminated
/// again and again while 16 clients submit. Every answer is 201 or 503, never 500, and
/// every 201 is in the database afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_dropped_mid_burst_answer_201_or_503() {
    let app = spawn(Options::new(Backend::Postgres)).await;
    let db = database_name(&app.db_url);
    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let stop = stop.clone();
        let db = db.clone();
        tokio::spawn(async move {
            use sqlx::Connection;
            let mut admin = sqlx::PgConnection::connect(aduan_store::testing::DEFAULT_POSTGRES_URL)
                .await
                .unwrap();
            let mut killed = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let n: Vec<(bool,)> = sqlx::query_as(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&db)
                .fetch_all(&mut admin)
                .await
                .unwrap();
                killed += n.len() as u64;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            killed
        })
    };
    let app = Arc::new(app);
    let mut clients = Vec::new();
    for c in 0..16 {
        let app = app.clone();
        clients.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..20 {
                let (st, v) = post_complaint(&app, c * 100 + i).await;
                out.push((st, v));
            }
            out
        }));
    }
    let mut kept = Vec::new();
    let mut refused = 0;
    for c in clients {
        for (st, v) in c.await.unwrap() {
            match st {
                201 => kept.push(v["ticket"].as_str().unwrap().to_string()),
                503 => refused += 1,
                _ => panic!("answer {st} while connections were dropped: {v}"),
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    let killed = killer.await.unwrap();
    eprintln!(
        "{} accepted, {refused} refused with 503, {killed} backends terminated",
        kept.len()
    );
    assert!(killed > 0, "no connection was ever terminated");
    assert!(!kept.is_empty(), "nothing was accepted at all");
    assert_kept(&app, &kept).await;
    let tickets: std::collections::HashSet<_> = kept.iter().collect();
    assert_eq!(tickets.len(), kept.len(), "a ticket was handed out twice");
}

/// A TCP proxy in front of PostgreSQL that can be cut (existing connections reset, new
/// ones closed at once) and restored.
struct Proxy {
    addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn start(target: &'static str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (up2, conns2) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    let _ = client.shutdown().await;
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns2.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy { addr, up, conns }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// PostgreSQL unreachable: `/readyz` answers "not ready" within 2 s (bounded ping), writes
/// answer 503 (never 500), and once the database is back the daemon recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_readyz_answers_within_two_seconds_and_recovers() {
    let direct = aduan_store::testing::fresh_postgres_url().await;
    let proxy = Proxy::start("127.0.0.1:5432").await;
    assert!(direct.contains("127.0.0.1:5432"), "{direct}");
    let via_proxy = direct.replace("127.0.0.1:5432", &proxy.addr.to_string());
    let app = spawn_on(via_proxy).await;
    let mut kept = Vec::new();
    for i in 0..3 {
        let (st, v) = post_complaint(&app, i).await;
        assert_eq!(st, 201, "{v}");
        kept.push(v["ticket"].as_str().unwrap().to_string());
    }
    let (st, r) = readyz(&app).await;
    assert_eq!(st, 200, "{r}");

    proxy.cut();
    for _ in 0..3 {
        let started = Instant::now();
        let (st, r) = readyz(&app).await;
        let took = started.elapsed();
        assert_eq!(st, 503, "{r}");
        assert_ne!(r["database"], "ok", "{r}");
        assert!(took < Duration::from_secs(2), "/readyz took {took:?}");
    }
    let (st, v) = post_complaint(&app, 100).await;
    assert_eq!(st, 503, "a write with the database down: {v}");
    // /healthz (liveness) is unaffected.
    let (st, _) = app.get_json("/healthz", None).await;
    assert_eq!(st, 200);

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (st, r) = readyz(&app).await;
        if st == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never ready again: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in 200..205 {
        let (st, v) = post_complaint(&app, i).await;
        assert_eq!(st, 201, "after the database came back: {v}");
        kept.push(v["ticket"].as_str().unwrap().to_string());
    }
    assert_kept(&app, &kept).await;
    app.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    aduan_store::testing::drop_postgres_database(&direct).await;
}

/// Reply senders down: `/readyz` names each (with its last error, no recipient) while the
/// replica stays ready; a successful send clears the entry.
async fn a_sender_down_is_shown_on_readyz_and_cleared(b: Backend) {
    use aduan_channel_email::testing::{RcptReply, SmtpSink};
    let (sink, mut mails) = SmtpSink::start_with(RcptReply::TempFail).await.unwrap();
    let clock = common::ManualClock::new(chrono::Utc::now());
    let mut o = Options::new(b);
    o.clock = Some(Arc::new(clock.clone()));
    o.no_outbox_worker = true;
    o.extra_config = format!(
        "[channels.email]\nenabled = true\nimap_host = \"\"\nsmtp_host = \"127.0.0.1\"\n\
         smtp_port = {}\nsmtp_security = \"none\"\nfrom = \"pengaduan@example.go.id\"\n",
        sink.port()
    );
    let app = spawn(o).await;
    let (st, r) = readyz(&app).await;
    assert_eq!(st, 200, "{r}");
    assert!(r["senders"]["email"].is_null(), "{r}");
    app.submit(json!({"email": "made.sari@example.com", "body": "Mohon tanda terima."}))
        .await;
    let o = app.outbox.run_once().await.unwrap();
    assert_eq!(o.retried, 1, "{o:?}");
    let (st, r) = readyz(&app).await;
    assert_eq!(st, 200, "a sender down leaves the replica ready: {r}");
    let e = r["senders"]["email"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"));
    assert!(!e.is_empty());
    let text = r.to_string();
    assert!(!text.contains("made.sari"), "recipient on /readyz: {text}");
    assert!(
        r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("replies on email")),
        "{r}"
    );

    // SMTP back: the retry goes out and the entry clears.
    sink.set_rcpt_reply(RcptReply::Accept);
    clock.advance(chrono::Duration::seconds(31)); // the first backoff
    let o = app.outbox.run_once().await.unwrap();
    assert_eq!(o.sent, 1, "{o:?}");
    assert!(mails.recv().await.is_some());
    let (st, r) = readyz(&app).await;
    assert_eq!(st, 200, "{r}");
    assert!(r["senders"]["email"].is_null(), "{r}");
}

use common::{BIN, kill, start_daemon};

/// The real daemon stopped (SIGSTOP) for five seconds under load and resumed (SIGCONT):
/// requests in flight are answered after the resume, the outbox's leases and timers carry
/// on, every 201 is kept and every acknowledgement mailed exactly once.
async fn stopped_and_resumed_under_load_loses_and_repeats_nothing(b: Backend) {
    use aduan_channel_email::testing::SmtpSink;
    let (sink, mut mails) = SmtpSink::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = common::database_url(b, dir.path()).await;
    let cfg = common::write_config(dir.path(), &url, "127.0.0.1:0", "off", false, 1 << 20);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "[channels.email]\nenabled = true\nimap_host = \"\"\nsmtp_host = \"127.0.0.1\"\n\
         smtp_port = {}\nsmtp_security = \"none\"\nfrom = \"pengaduan@example.go.id\"\n",
        sink.port()
    ));
    std::fs::write(&cfg, text).unwrap();
    let (mut child, addr) = start_daemon(&cfg).await;
    let pid = child.id().unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let stop_load = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for w in 0..8 {
        let (http, stop_load) = (http.clone(), stop_load.clone());
        let url = format!("http://{addr}/api/v1/complaints");
        clients.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = 0;
            // Paced and bounded, so the load spans the stop without outrunning what a debug
            // build mails in the deadline below.
            while !stop_load.load(Ordering::SeqCst) && i < 80 {
                let email = format!("w{w}-{i}@example.com");
                let r = http
                    .post(&url)
                    .json(&json!({"email": email, "body": format!("Pengaduan {w}-{i}")}))
                    .send()
                    .await
                    .expect("a request across the stop is answered after the resume");
                let st = r.status().as_u16();
                assert!(st == 201 || st == 503, "answer {st}");
                if st == 201 {
                    let v: serde_json::Value = r.json().await.unwrap();
                    acked.push((v["ticket"].as_str().unwrap().to_string(), email));
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    kill(pid, "-STOP");
    tokio::time::sleep(Duration::from_secs(5)).await;
    kill(pid, "-CONT");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop_load.store(true, Ordering::SeqCst);
    let mut acked = Vec::new();
    for c in clients {
        acked.extend(c.await.unwrap());
    }
    assert!(acked.len() > 10, "load too small: {}", acked.len());

    // Every acknowledgement goes out, once.
    let mut got: HashMap<String, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while got.len() < acked.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = tokio::time::timeout(left, mails.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {} acknowledgements mailed",
                    got.len(),
                    acked.len()
                )
            })
            .unwrap();
        for r in m.rcpt_to {
            *got.entry(r).or_default() += 1;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await; // anything sent twice arrives now
    while let Ok(m) = mails.try_recv() {
        for r in m.rcpt_to {
            *got.entry(r).or_default() += 1;
        }
    }
    for (_, email) in &acked {
        assert_eq!(
            got.get(email),
            Some(&1),
            "{email} mailed {:?} times",
            got.get(email)
        );
    }

    // Every 201 is in the database.
    let out = std::process::Command::new(BIN)
        .env("ADUAN_ADMIN_SESSION_SECRET", "faults-test-secret")
        .arg("--config")
        .arg(&cfg)
        .args(["user", "add", "--username", "kasi1", "--role", "kasi"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    for (ticket, _) in &acked {
        let r = http
            .get(format!("http://{addr}/api/v1/admin/complaints/{ticket}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged {ticket} lost");
    }
    kill(pid, "-TERM");
    child.wait().await.unwrap();
    if b == Backend::Postgres {
        aduan_store::testing::drop_postgres_database(&url).await;
    }
}

on_both_backends!(
    a_sender_down_is_shown_on_readyz_and_cleared,
    stopped_and_resumed_under_load_loses_and_repeats_nothing,
);
