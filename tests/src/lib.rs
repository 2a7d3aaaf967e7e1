//! aduan's end-to-end harness: the built `aduan` binary started as an operator starts it
//! (the shipped `config/aduan.toml`, overrides by `ADUAN__…` environment variables, a fresh
//! working directory for `data/`), staff accounts made with `aduan user add`, and a real
//! headless Chromium driven over WebDriver ([`browser`]).
//!
//! The binary is the one `cargo test --workspace` builds next to this test
//! (`<target>/debug/aduan`); run the suite with `./test.sh`.

pub mod browser;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `aduan` binary built beside the running test.
pub fn aduan_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    // <target>/debug/deps/<test>-<hash> → <target>/debug/aduan
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in <target>/<profile>/deps");
    let bin = dir.join(format!("aduan{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: the end-to-end suite drives the built daemon; run `./test.sh` \
         (cargo test --workspace builds it) or `cargo build -p aduan` first",
        bin.display()
    );
    bin
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .unwrap()
        .port()
}

/// A running `aduan serve` on the shipped config. Stopped with SIGTERM (by its pid) on
/// [`Daemon::stop`] or drop.
pub struct Daemon {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The working directory (`data/` is created here).
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    /// Start `aduan serve --config <repo>/config/aduan.toml` with `extra_env` on top of
    /// a fresh SQLite database and a free port, and wait for `listening on`.
    pub fn start(extra_env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut env = vec![
            (
                "ADUAN__SERVER__LISTEN".to_string(),
                format!("127.0.0.1:{port}"),
            ),
            ("ADUAN__SERVER__PUBLIC_BASE_URL".to_string(), base.clone()),
            (
                "ADUAN__DATABASE__URL".to_string(),
                format!("sqlite://{}/aduan.db", dir.path().display()),
            ),
            (
                "RUST_LOG".to_string(),
                "info,sqlx=warn,tower_http=warn".to_string(),
            ),
        ];
        for (k, v) in extra_env {
            env.retain(|(ek, _)| ek != k);
            env.push((k.to_string(), v.to_string()));
        }
        let mut child = Command::new(aduan_binary())
            .arg("--config")
            .arg(repo_root().join("config/aduan.toml"))
            .arg("serve")
            .current_dir(dir.path())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start aduan serve");
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let mut d = Daemon {
            child: Some(child),
            base,
            dir,
            env,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !d.log().contains("listening on") {
            if let Some(status) = d.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("aduan serve exited with {status}:\n{}", d.log());
            }
            assert!(
                Instant::now() < deadline,
                "aduan serve did not log `listening on` in 30 s:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    /// Everything the daemon printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Run another `aduan` command on the same config, database and directory.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        let mut cmd = Command::new(aduan_binary());
        cmd.arg("--config")
            .arg(repo_root().join("config/aduan.toml"))
            .args(args)
            .current_dir(self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = cmd.spawn().expect("run aduan");
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        child.wait_with_output().expect("aduan output")
    }

    /// `aduan user add`; returns the API token (the last line of stdout).
    pub fn user_add(&self, username: &str, role: &str, bidang: Option<&str>) -> String {
        let mut args = vec!["user", "add", "--username", username, "--role", role];
        if let Some(b) = bidang {
            args.extend(["--bidang", b]);
        }
        let out = self.cli(&args, None);
        assert!(
            out.status.success(),
            "aduan user add {username}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .expect("token on the last line")
            .trim()
            .to_string()
    }

    /// SIGTERM, then wait (at most 15 s) and return the exit status.
    pub fn stop(mut self) -> ExitStatus {
        self.terminate().expect("the daemon was running")
    }

    fn terminate(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "aduan serve did not stop within 15 s of SIGTERM:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A staff API client for one bearer token.
pub struct Staff {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Staff {
    pub fn new(daemon: &Daemon, token: String) -> Staff {
        Staff {
            http: reqwest::Client::new(),
            base: daemon.base.clone(),
            token,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// `POST /api/v1/admin/complaints/{ticket}/{action}`; panics unless 2xx.
    pub async fn act(&self, ticket: &str, action: &str, body: serde_json::Value) {
        let r = self
            .http
            .post(format!(
                "{}/api/v1/admin/complaints/{ticket}/{action}",
                self.base
            ))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{action} on {ticket}: {status} {text}");
    }
}
