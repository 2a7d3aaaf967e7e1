//! A throw-away Dovecot IMAP server for tests and benchmarks, run by
//! `scripts/dovecot-test` (which installs `dovecot-imapd` with apt-get when missing).
//!
//! [`Dovecot::start`] makes a fresh folder under the system temp dir, picks a free port on
//! 127.0.0.1 and starts a private instance there (plain IMAP, users `aduan` and `aduan2`
//! with password [`PASSWORD`], maildir homes). Dropping the value stops exactly that
//! instance (by its master pid, through the script) and removes the folder. Everything here
//! is blocking or async test plumbing: failures are returned as `String`s that say what to
//! do, so a test can `expect` them and fail loudly instead of skipping.

use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use async_imap::Session;
use futures::TryStreamExt as _;
use tokio::net::TcpStream;

use crate::config::{EmailConfig, Secret};

/// Password of both test users.
pub const PASSWORD: &str = "aduan-test";
/// The first test user.
pub const USER: &str = "aduan";
/// The second test user.
pub const USER2: &str = "aduan2";

/// Environment variable overriding the path of the `dovecot-test` script.
pub const SCRIPT_ENV: &str = "ADUAN_DOVECOT_TEST";

/// A plain-TCP IMAP session to the test server.
pub type TestSession = Session<TcpStream>;

/// A running private Dovecot; stopped and removed on drop.
#[derive(Debug)]
pub struct Dovecot {
    dir: PathBuf,
    port: u16,
    pid: u32,
    script: PathBuf,
    stopped: bool,
}

fn script_path() -> PathBuf {
    std::env::var_os(SCRIPT_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/dovecot-test"))
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

/// Run the script with `args`, its output going to files (not pipes: the daemonized
/// Dovecot inherits them and would keep a pipe open forever). Returns (success, stdout,
/// stderr).
fn run_script(script: &Path, args: &[&std::ffi::OsStr]) -> Result<(bool, String, String), String> {
    let tmp = std::env::temp_dir();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let out_path = tmp.join(format!("dovecot-test-{tag}.out"));
    let err_path = tmp.join(format!("dovecot-test-{tag}.err"));
    let file = |p: &Path| std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    let status = Command::new("bash")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(file(&out_path)?)
        .stderr(file(&err_path)?)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()));
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    Ok((status?.success(), stdout, stderr))
}

/// Run `dovecot-test start DIR PORT`; the master pid.
fn run_start(script: &Path, dir: &Path, port: u16) -> Result<u32, String> {
    let port_arg = port.to_string();
    let (ok, stdout, stderr) = run_script(
        script,
        &["start".as_ref(), dir.as_os_str(), port_arg.as_ref()],
    )?;
    if !ok {
        return Err(format!(
            "Dovecot is required for the e-mail intake tests and could not be started \
             ({} start {} {port} failed): {stdout}{stderr}",
            script.display(),
            dir.display(),
        ));
    }
    stdout
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("dovecot-test printed no pid: {stdout}{stderr}"))
}

static SEQ: AtomicU64 = AtomicU64::new(0);

impl Dovecot {
    /// Start an instance in a new temp folder on a free port (a few tries against port
    /// races). The error carries the script's output.
    pub fn start() -> Result<Dovecot, String> {
        let dir = std::env::temp_dir().join(format!(
            "aduan-dovecot-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            match Self::start_in(&dir, port) {
                Ok(d) => return Ok(d),
                Err(e) => last = e,
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(last)
    }

    /// Start (or find running) the instance of `dir` on 127.0.0.1:`port`. The folder is
    /// removed when the value is dropped.
    pub fn start_in(dir: &Path, port: u16) -> Result<Dovecot, String> {
        let script = script_path();
        let pid = run_start(&script, dir, port)?;
        Ok(Dovecot {
            dir: dir.to_path_buf(),
            port,
            pid,
            script,
            stopped: false,
        })
    }

    /// The IMAP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The instance folder (config, log, maildirs under `mail/<user>/Maildir`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The master process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The instance's `dovecot.conf`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("dovecot.conf")
    }

    /// An enabled [`EmailConfig`] reading `user`'s INBOX over plain IMAP, polling every
    /// second when IDLE is off; SMTP points at `127.0.0.1:25` with `from`
    /// `Pengaduan <pengaduan@bulelengkab.example>` (tests replace what they need).
    pub fn email_config(&self, user: &str) -> EmailConfig {
        EmailConfig {
            enabled: true,
            imap_host: "127.0.0.1".into(),
            imap_port: self.port,
            imap_security: "none".into(),
            username: user.into(),
            password: Secret::new(PASSWORD),
            poll_interval: "1s".into(),
            smtp_host: "127.0.0.1".into(),
            smtp_port: 25,
            smtp_security: "none".into(),
            from: "Pengaduan <pengaduan@bulelengkab.example>".into(),
            ..EmailConfig::default()
        }
    }

    /// Log in as `user` over plain IMAP.
    pub async fn login(&self, user: &str) -> Result<TestSession, String> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .map_err(|e| format!("connect 127.0.0.1:{}: {e}", self.port))?;
        let mut client = async_imap::Client::new(tcp);
        client
            .read_response()
            .await
            .map_err(|e| format!("greeting: {e}"))?
            .ok_or("no greeting")?;
        client
            .login(user, PASSWORD)
            .await
            .map_err(|(e, _)| format!("LOGIN {user}: {e}"))
    }

    /// Messages in `mailbox` of `user` (`/` in the name is translated to the server's
    /// hierarchy delimiter, as the intake does); 0 when the mailbox does not exist.
    pub async fn count(&self, user: &str, mailbox: &str) -> Result<u32, String> {
        let mut s = self.login(user).await?;
        let names: Vec<_> = s
            .list(Some(""), Some("\"\""))
            .await
            .map_err(|e| format!("LIST: {e}"))?
            .try_collect()
            .await
            .map_err(|e| format!("LIST: {e}"))?;
        let name = match names.first().and_then(|n| n.delimiter()) {
            Some(d) if d != "/" => mailbox.replace('/', d),
            _ => mailbox.to_string(),
        };
        let n = match s.status(&name, "(MESSAGES)").await {
            Ok(m) => m.exists,
            Err(_) => 0,
        };
        let _ = s.logout().await;
        Ok(n)
    }

    /// Run `doveadm -c <config> ARGS…` and return its stdout.
    pub fn doveadm(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(self.config_path())
            .args(args)
            .output()
            .map_err(|e| format!("cannot run doveadm: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "doveadm {args:?} exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Disconnect every IMAP session of `user` (`doveadm kick`): the server says `BYE` and
    /// closes the connection.
    pub fn kick(&self, user: &str) -> Result<(), String> {
        self.doveadm(&["kick", user]).map(|_| ())
    }

    /// Pids of `user`'s imap processes (`doveadm who`).
    pub fn imap_pids(&self, user: &str) -> Result<Vec<u32>, String> {
        let out = self.doveadm(&["who", "-1", user])?;
        let mut pids = Vec::new();
        for line in out.lines().skip(1) {
            // username proto pid ip
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.first() == Some(&user)
                && let Some(pid) = cols
                    .get(2)
                    .and_then(|p| p.trim_matches(['(', ')']).parse().ok())
            {
                pids.push(pid);
            }
        }
        Ok(pids)
    }

    /// Write messages straight into `user`'s `Maildir/new` (the fastest way to seed many;
    /// Dovecot indexes them on the next SELECT/STATUS). Returns how many were written.
    pub fn write_maildir<I, M>(&self, user: &str, messages: I) -> Result<usize, String>
    where
        I: IntoIterator<Item = M>,
        M: AsRef<[u8]>,
    {
        let mail_root = self.dir.join("mail");
        let owner =
            std::fs::metadata(&mail_root).map_err(|e| format!("{}: {e}", mail_root.display()))?;
        let (uid, gid) = (owner.uid(), owner.gid());
        let home = mail_root.join(user);
        let maildir = home.join("Maildir");
        for d in [
            home.clone(),
            maildir.clone(),
            maildir.join("new"),
            maildir.join("cur"),
            maildir.join("tmp"),
        ] {
            if !d.exists() {
                std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
                std::os::unix::fs::chown(&d, Some(uid), Some(gid))
                    .map_err(|e| format!("chown {}: {e}", d.display()))?;
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut n = 0;
        for m in messages {
            let name = format!(
                "{now}.M{}P{}Q{}.aduan-test",
                SEQ.fetch_add(1, Ordering::Relaxed),
                std::process::id(),
                n
            );
            let tmp = maildir.join("tmp").join(&name);
            let mut f =
                std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            f.write_all(m.as_ref())
                .map_err(|e| format!("{}: {e}", tmp.display()))?;
            drop(f);
            std::os::unix::fs::chown(&tmp, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", tmp.display()))?;
            std::fs::rename(&tmp, maildir.join("new").join(&name))
                .map_err(|e| format!("rename {}: {e}", tmp.display()))?;
            n += 1;
        }
        Ok(n)
    }

    /// Stop the instance (idempotent; also done on drop).
    pub fn stop(&mut self) -> Result<(), String> {
        if self.stopped {
            return Ok(());
        }
        let (ok, stdout, stderr) =
            run_script(&self.script, &["stop".as_ref(), self.dir.as_os_str()])?;
        if !ok {
            return Err(format!(
                "dovecot-test stop {} failed: {stdout}{stderr}",
                self.dir.display(),
            ));
        }
        self.stopped = true;
        Ok(())
    }

    /// Start the same instance again (same folder and port) after [`Dovecot::stop`].
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop()?;
        self.pid = run_start(&self.script, &self.dir, self.port)?;
        self.stopped = false;
        Ok(())
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("{e}");
        }
        if std::thread::panicking() {
            // Keep the log and maildirs of a failed test.
            eprintln!("Dovecot test folder kept: {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
