//! Admin sessions across replicas and restarts (issue 14), on SQLite and PostgreSQL: two
//! `Application`s on one database share sessions; a logout on one ends the session on the
//! other and after a restart; a login form spent on one is refused by the other; and the
//! built binary's `aduan user set-password` ends the user's sessions everywhere.

mod common;

use std::io::Write as _;
use std::process::Stdio;

use aduan::app::{Application, Overrides};
use aduan_core::model::NewUser;
use aduan_core::secret::{hash_secret, new_api_token};
use aduan_core::types::{Role, Username};
use chrono::Utc;
use common::{Backend, Options, TestApp, spawn};
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_aduan");
const PASSWORD: &str = "kasi-rahasia-1";

on_both_backends!(
    logout_holds_on_every_replica_and_after_a_restart,
    set_password_ends_sessions_everywhere,
);

/// Another daemon on the same config and database (same session key as the harness).
struct Replica {
    base: String,
    shutdown: CancellationToken,
    done: tokio::task::JoinHandle<()>,
}

impl Replica {
    async fn start(app: &TestApp) -> Replica {
        let rt = aduan::config::load(&app.config_path, Vec::<(String, String)>::new())
            .unwrap()
            .validate(&app.config_path)
            .unwrap();
        let a = Application::build(
            rt,
            Overrides {
                admin_session_key: Some([7u8; 32]),
                no_outbox_worker: true,
                ..Overrides::default()
            },
        )
        .await
        .unwrap();
        let base = format!("http://{}", a.local_addr());
        let shutdown = a.shutdown_token();
        let done = tokio::spawn(async move { a.run().await.unwrap() });
        Replica {
            base,
            shutdown,
            done,
        }
    }
    async fn stop(self) {
        self.shutdown.cancel();
        self.done.await.unwrap();
    }
}

async fn kasi(app: &TestApp) {
    use argon2::PasswordHasher as _;
    let params = argon2::Params::new(1024, 1, 1, None).unwrap();
    let phc = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(PASSWORD.as_bytes())
        .unwrap()
        .to_string();
    app.desk
        .store()
        .create_user(NewUser {
            username: Username::parse("ayu.kasi").unwrap(),
            role: Role::Kasi,
            bidang: None,
            display_name: None,
            token_hash: hash_secret(&new_api_token()),
            password_hash: Some(phc),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn field(html: &str, name: &str) -> String {
    let re = regex::Regex::new(&format!(r#"name="{name}" value="([^"]+)""#)).unwrap();
    re.captures(html)
        .unwrap_or_else(|| panic!("no {name} field in page:\n{html}"))[1]
        .to_string()
}

fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().unwrap();
        v.strip_prefix(&format!("{name}="))
            .map(|rest| rest.split(';').next().unwrap().to_string())
            .filter(|v| !v.is_empty())
    })
}

/// A login form of `base`: (login cookie, token).
async fn form(base: &str) -> (String, String) {
    let r = http()
        .get(format!("{base}/admin/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let c = cookie(&r, "aduan_login").expect("login cookie");
    (c, field(&r.text().await.unwrap(), "csrf"))
}

async fn post_login(base: &str, (c, t): &(String, String), password: &str) -> reqwest::Response {
    http()
        .post(format!("{base}/admin/login"))
        .header("cookie", format!("aduan_login={c}"))
        .form(&[
            ("username", "ayu.kasi"),
            ("password", password),
            ("csrf", t),
        ])
        .send()
        .await
        .unwrap()
}

/// Log in on `base`; the session cookie's value.
async fn login(base: &str) -> String {
    let r = post_login(base, &form(base).await, PASSWORD).await;
    assert_eq!(r.status(), 303);
    cookie(&r, "aduan_sesi").expect("session cookie")
}

/// The status of `GET /admin` with session cookie `s` on `base`.
async fn home(base: &str, s: &str) -> u16 {
    http()
        .get(format!("{base}/admin"))
        .header("cookie", format!("aduan_sesi={s}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn logout(base: &str, s: &str) {
    let page = http()
        .get(format!("{base}/admin"))
        .header("cookie", format!("aduan_sesi={s}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = http()
        .post(format!("{base}/admin/logout"))
        .header("cookie", format!("aduan_sesi={s}"))
        .form(&[("csrf", field(&page, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin/login?keluar=1");
}

async fn logout_holds_on_every_replica_and_after_a_restart(b: Backend) {
    let app = spawn(Options::new(b)).await;
    kasi(&app).await;
    let other = Replica::start(&app).await;

    // A session opened on one replica works on the other.
    let s = login(&app.base).await;
    assert_eq!(home(&app.base, &s).await, 200);
    assert_eq!(home(&other.base, &s).await, 200);
    let kept = login(&other.base).await;

    // Logout on the first: the copy is refused by the second (main: 200).
    logout(&app.base, &s).await;
    assert_eq!(home(&app.base, &s).await, 303);
    assert_eq!(
        home(&other.base, &s).await,
        303,
        "logged-out cookie on a replica"
    );
    assert_eq!(
        home(&other.base, &kept).await,
        200,
        "other sessions live on"
    );

    // A login form spent on one replica is refused by the other.
    let f = form(&app.base).await;
    assert_eq!(
        post_login(&app.base, &f, "salah-sekali").await.status(),
        401
    );
    let r = post_login(&other.base, &f, PASSWORD).await;
    assert_eq!(r.status(), 403, "replayed login form on a replica");
    assert!(cookie(&r, "aduan_sesi").is_none());

    // Restart: a new daemon on the same database still refuses the logged-out cookie and
    // accepts the live one.
    other.stop().await;
    let restarted = Replica::start(&app).await;
    assert_eq!(
        home(&restarted.base, &s).await,
        303,
        "logged-out cookie after a restart"
    );
    assert_eq!(home(&restarted.base, &kept).await, 200);
    restarted.stop().await;
}

async fn set_password_ends_sessions_everywhere(b: Backend) {
    let app = spawn(Options::new(b)).await;
    kasi(&app).await;
    let other = Replica::start(&app).await;
    let s1 = login(&app.base).await;
    let s2 = login(&other.base).await;
    let config = app.config_path.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .args(["user", "set-password", "ayu.kasi", "--password-stdin"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"kata-sandi-baru-1\n").unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (base, s) in [(&app.base, &s1), (&other.base, &s2), (&app.base, &s2)] {
        assert_eq!(
            home(base, s).await,
            303,
            "session survived the password change"
        );
    }
    // The new password works on both replicas, the old one on none.
    let r = post_login(&other.base, &form(&other.base).await, PASSWORD).await;
    assert_eq!(r.status(), 401);
    let r = post_login(&app.base, &form(&app.base).await, "kata-sandi-baru-1").await;
    assert_eq!(r.status(), 303);
    other.stop().await;
}
