//! Test harness: start the real application in-process on port 0 with a fresh database
//! (SQLite in a temp dir, or a new PostgreSQL database on 127.0.0.1:5432), create staff
//! accounts and talk to it over HTTP.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use aduan::app::{Application, Overrides};
use aduan_core::desk::{Clock, Desk};
use aduan_core::model::NewUser;
use aduan_core::outbox::{Outbox, ReplySender};
use aduan_core::secret::{hash_secret, new_api_token};
use aduan_core::types::{BidangCode, Channel, Role, Username};
use chrono::Utc;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[allow(unused_imports)]
pub use aduan_core::testing::ManualClock;

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    pub desk: Desk,
    pub outbox: Outbox,
    pub shutdown: CancellationToken,
    pub dir: tempfile::TempDir,
    pub db_url: String,
    pub config_path: PathBuf,
}

pub struct Options {
    pub backend: Backend,
    pub rate_limit: &'static str,
    pub business_hours: bool,
    pub clock: Option<Arc<dyn Clock>>,
    pub senders: HashMap<Channel, Arc<dyn ReplySender>>,
    pub max_attachment_bytes: u64,
    pub no_outbox_worker: bool,
    /// Do not start the SLA timer (the test calls `escalate_due` itself).
    pub no_sla_timer: bool,
    /// Extra TOML appended to the config (channel sections).
    pub extra_config: String,
    /// `calendar.holidays` relative to the repository root (default: only 2026's file).
    pub holidays: &'static str,
    /// A database the test prepared (default: a fresh one of `backend`).
    pub db_url: Option<String>,
    /// Lines added to `[server]`.
    pub server_config: String,
    /// Lines added to `[channels.web]`; a key set here replaces the harness's `"off"`.
    pub web_config: String,
    /// The outbox worker's fallback poll (default: the daemon's).
    pub outbox_poll: Option<std::time::Duration>,
    /// The SLA timer's longest sleep (default: the daemon's).
    pub sla_recheck: Option<std::time::Duration>,
}

impl Options {
    pub fn new(backend: Backend) -> Self {
        Options {
            backend,
            rate_limit: "off",
            business_hours: false,
            clock: None,
            senders: HashMap::new(),
            max_attachment_bytes: 1024 * 1024,
            no_outbox_worker: false,
            no_sla_timer: false,
            extra_config: String::new(),
            holidays: "config/holidays-2026.toml",
            db_url: None,
            server_config: String::new(),
            web_config: String::new(),
            outbox_poll: None,
            sla_recheck: None,
        }
    }
}

/// `text` (a config of [`write_config`]) with `server` lines added to `[server]` and `web`
/// lines to `[channels.web]`, where they replace the harness's `"off"` for the same key.
fn with_sections(text: &str, server: &str, web: &str) -> String {
    let ours: Vec<&str> = web
        .lines()
        .filter_map(|l| l.split('=').next())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect();
    text.replacen("[server]\n", &format!("[server]\n{server}\n"), 1)
        .replacen("[channels.web]\n", &format!("[channels.web]\n{web}\n"), 1)
        .lines()
        .filter(|l| {
            let key = l.split('=').next().unwrap_or("").trim();
            !(l.ends_with("= \"off\"") && ours.contains(&key))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn database_url(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => aduan_store::testing::fresh_sqlite_url(dir),
        Backend::Postgres => aduan_store::testing::fresh_postgres_url().await,
    }
}

/// Write a config file for a test daemon and return its path.
pub fn write_config(
    dir: &std::path::Path,
    db_url: &str,
    listen: &str,
    rate_limit: &str,
    business_hours: bool,
    max_attachment_bytes: u64,
) -> PathBuf {
    write_config_with(
        dir,
        db_url,
        listen,
        rate_limit,
        business_hours,
        max_attachment_bytes,
        "config/holidays-2026.toml",
    )
}

/// [`write_config`] with the `calendar.holidays` entry (relative to the repository root).
pub fn write_config_with(
    dir: &std::path::Path,
    db_url: &str,
    listen: &str,
    rate_limit: &str,
    business_hours: bool,
    max_attachment_bytes: u64,
    holidays: &str,
) -> PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let holidays = root.join(holidays);
    let key_file = dir.join("identity.key");
    let key_file = key_file.display();
    let text = format!(
        r#"
[server]
listen = "{listen}"
public_base_url = "http://{listen}"
[privacy]
key_file = "{key_file}"
[database]
url = "{db_url}"
[office]
name = "Dinas Kependudukan dan Pencatatan Sipil Kabupaten Buleleng"
timezone = "Asia/Makassar"
ticket_prefix = "ADU"
[[bidang]]
code = "dafduk"
name = "Bidang Pelayanan Pendaftaran Penduduk"
keywords = ["ktp", "kk", "kartu keluarga", "pindah"]
[[bidang]]
code = "capil"
name = "Bidang Pelayanan Pencatatan Sipil"
keywords = ["akta", "kelahiran"]
[calendar]
business_hours = {business_hours}
mon = ["07:30-12:00", "12:45-16:00"]
tue = ["07:30-12:00", "12:45-16:00"]
wed = ["07:30-12:00", "12:45-16:00"]
thu = ["07:30-12:00", "12:45-16:00"]
fri = ["07:00-11:00", "11:30-14:00"]
holidays = "{holidays}"
[sla]
receive = "10m"
triage = "5m"
resolve = "1h"
review = "15m"
follow_up = "20m"
escalate_to = ["kasi@example.go.id"]
[channels.web]
enabled = true
max_attachment_bytes = {max_attachment_bytes}
rate_limit = "{rate_limit}"
# The per-address limits of status look-ups, messages and ratings (tests/limits.rs tests
# them): off, so tests that poll a status page are not cut off.
status_rate_limit = "off"
message_rate_limit = "off"
rating_rate_limit = "off"
[digest]
schedule = "0 0 7 1 * *"
recipients = ["kadis@example.go.id"]
"#,
        holidays = holidays.display()
    );
    let path = dir.join("aduan.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub async fn spawn(opts: Options) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db_url = match opts.db_url {
        Some(u) => u,
        None => database_url(opts.backend, dir.path()).await,
    };
    let config_path = write_config_with(
        dir.path(),
        &db_url,
        "127.0.0.1:0",
        opts.rate_limit,
        opts.business_hours,
        opts.max_attachment_bytes,
        opts.holidays,
    );
    let mut text = std::fs::read_to_string(&config_path).unwrap();
    if !opts.server_config.is_empty() || !opts.web_config.is_empty() {
        text = with_sections(&text, &opts.server_config, &opts.web_config);
    }
    text.push('\n');
    text.push_str(&opts.extra_config);
    std::fs::write(&config_path, text).unwrap();
    let rt = aduan::config::load(&config_path, Vec::<(String, String)>::new())
        .unwrap()
        .validate(&config_path)
        .unwrap();
    let app = Application::build(
        rt,
        Overrides {
            clock: opts.clock,
            senders: opts.senders,
            no_outbox_worker: opts.no_outbox_worker,
            no_sla_timer: opts.no_sla_timer,
            digest_delivery: None,
            admin_session_key: Some([7u8; 32]),
            outbox_poll: opts.outbox_poll,
            sla_recheck: opts.sla_recheck,
        },
    )
    .await
    .unwrap();
    let addr = app.local_addr();
    let desk = app.desk().clone();
    let outbox = app.outbox().clone();
    let shutdown = app.shutdown_token();
    tokio::spawn(async move { app.run().await.unwrap() });
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
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Create a staff account and return its bearer token.
    pub async fn user(&self, name: &str, role: Role, bidang: Option<&str>) -> String {
        let token = new_api_token();
        self.desk
            .store()
            .create_user(NewUser {
                username: Username::parse(name).unwrap(),
                role,
                bidang: bidang.map(|b| BidangCode::parse(b).unwrap()),
                display_name: None,
                token_hash: hash_secret(&token),
                password_hash: None,
                created_at: Utc::now(),
            })
            .await
            .unwrap();
        token
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    pub async fn get_json(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// File a complaint through the JSON API; returns (ticket, access code).
    pub async fn submit(&self, body: serde_json::Value) -> (String, String) {
        let (s, v) = self.post_json("/api/v1/complaints", None, body).await;
        assert_eq!(s, 201, "{v}");
        (
            v["ticket"].as_str().unwrap().to_string(),
            v["access_code"].as_str().unwrap().to_string(),
        )
    }

    pub async fn act(
        &self,
        token: &str,
        ticket: &str,
        action: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.post_json(
            &format!("/api/v1/admin/complaints/{ticket}/{action}"),
            Some(token),
            body,
        )
        .await
    }
}

/// Generate one `#[tokio::test]` per backend for each listed async test function.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Sqlite).await })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Postgres).await })+
        }
    };
}

/// The built `aduan` binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_aduan");

/// A real `aduan serve` process started by [`start_daemon_with`].
pub struct Daemon {
    pub child: tokio::process::Child,
    /// The address it logged as `listening on ADDR`.
    pub addr: String,
    /// Its log lines (stderr) so far.
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// The log lines containing `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }
}

/// Start `aduan serve` on `config` and wait for "listening on ADDR".
pub async fn start_daemon(config: &std::path::Path) -> (tokio::process::Child, String) {
    let d = start_daemon_with(config, &[]).await;
    (d.child, d.addr)
}

/// [`start_daemon`] with extra environment variables, keeping the log.
pub async fn start_daemon_with(config: &std::path::Path, envs: &[(&str, &str)]) -> Daemon {
    use tokio::io::AsyncBufReadExt;
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("--config")
        .arg(config)
        .arg("serve")
        .env("RUST_LOG", "info")
        .env("ADUAN_ADMIN_SESSION_SECRET", "daemon-test-secret")
        .env_remove("ADUAN_REPLICA_ID")
        .env_remove("ADUAN__SERVER__REPLICA_ID")
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let addr = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            log.lock().unwrap().push(l.clone());
            if let Some(i) = l.find("listening on ") {
                let rest = &l[i + "listening on ".len()..];
                return rest.split_whitespace().next().unwrap().to_string();
            }
        }
        panic!("daemon exited before listening");
    })
    .await
    .expect("daemon did not start in 60 s");
    let keep = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(l)) = lines.next_line().await {
            keep.lock().unwrap().push(l);
        }
    });
    Daemon { child, addr, log }
}

/// Send signal `sig` (`-KILL`, `-STOP` …) to process `pid`.
pub fn kill(pid: u32, sig: &str) {
    let st = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill {sig} {pid}");
}

/// The cookies of the admin pages as a browser without JavaScript keeps them: `name=value`
/// pairs fed from `Set-Cookie` answers (an empty value deletes the cookie).
#[derive(Default)]
pub struct Jar(Vec<(String, String)>);

impl Jar {
    pub fn take(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all(reqwest::header::SET_COOKIE) {
            let pair = v.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.0.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.0.push((name.to_string(), value.to_string()));
            }
        }
    }

    /// The `Cookie` header to send.
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One statement on the database behind the daemon's back.
pub async fn raw_sql(b: Backend, url: &str, sql: &str) -> u64 {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match b {
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(sql)
                .execute(&mut c)
                .await
                .unwrap()
                .rows_affected()
        }
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query(sql)
                .execute(&mut c)
                .await
                .unwrap()
                .rows_affected()
        }
    }
}
