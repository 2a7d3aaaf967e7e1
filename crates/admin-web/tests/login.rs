//! Bounded work for logins (issue 14), against the real admin router over TCP with a real
//! store: parallel logins never run more than `max_concurrent` argon2 checks at once (the
//! rest are answered 503 at once with `Retry-After`), a per-address limit answers 429 before
//! any argon2 work, a login form is accepted once (a replayed cookie/token pair is 403), and
//! a password change ends every other session of its user.

mod common;

use std::net::IpAddr;
use std::sync::Arc;

use aduan_admin_web::{LoginLimits, LoginStats};
use aduan_core::model::NewUser;
use aduan_core::secret::{hash_secret, new_api_token};
use aduan_core::types::{Role, Username};
use aduan_core::workflow::Actor;
use common::*;
use reqwest::StatusCode;

fn csrf_of(html: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap();
    re.captures(html)
        .unwrap_or_else(|| panic!("no csrf field in page:\n{html}"))[1]
        .to_string()
}

fn client_from(local: Option<IpAddr>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(ip) = local {
        b = b.local_address(ip);
    }
    b.build().unwrap()
}

fn client() -> reqwest::Client {
    client_from(None)
}

/// The login form's token (the client keeps the form's cookie).
async fn form(app: &TestApp, c: &reqwest::Client) -> String {
    let r = c.get(app.url("/admin/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    csrf_of(&r.text().await.unwrap())
}

async fn post_login(
    app: &TestApp,
    c: &reqwest::Client,
    user: &str,
    password: &str,
    token: &str,
) -> reqwest::Response {
    c.post(app.url("/admin/login"))
        .form(&[("username", user), ("password", password), ("csrf", token)])
        .send()
        .await
        .unwrap()
}

async fn login(app: &TestApp, c: &reqwest::Client, user: &str, password: &str) -> StatusCode {
    let t = form(app, c).await;
    post_login(app, c, user, password, &t).await.status()
}

fn limits(max_concurrent: usize, per_address_per_minute: u32) -> (LoginLimits, Arc<LoginStats>) {
    let l = LoginLimits {
        max_concurrent,
        per_address_per_minute,
        stats: Arc::default(),
    };
    let stats = l.stats.clone();
    (l, stats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_logins_run_at_most_n_password_checks() {
    let (l, stats) = limits(2, 10_000);
    let app = spawn_with_login(l).await;
    // An account hashed with the production parameters of `aduan user add` (19 MiB, t=2).
    let phc = {
        use argon2::PasswordHasher as _;
        argon2::Argon2::default()
            .hash_password(b"rahasia-produksi-1")
            .unwrap()
            .to_string()
    };
    app.desk
        .store()
        .create_user(NewUser {
            username: Username::parse("banjir").unwrap(),
            role: Role::Kasi,
            bidang: None,
            display_name: None,
            token_hash: hash_secret(&new_api_token()),
            password_hash: Some(phc),
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    // 100 browsers, each with its own form, post at once.
    let mut forms = Vec::new();
    for _ in 0..100 {
        let c = client();
        let t = form(&app, &c).await;
        forms.push((c, t));
    }
    let url = app.url("/admin/login");
    let tasks: Vec<_> = forms
        .into_iter()
        .map(|(c, t)| {
            let url = url.clone();
            tokio::spawn(async move {
                let r = c
                    .post(url)
                    .form(&[
                        ("username", "banjir"),
                        ("password", "rahasia-produksi-1"),
                        ("csrf", &t),
                    ])
                    .send()
                    .await
                    .unwrap();
                let retry = r.headers().get("retry-after").is_some();
                (r.status(), retry, r.text().await.unwrap())
            })
        })
        .collect();
    let mut ok = 0;
    let mut busy = 0;
    for t in tasks {
        let (status, retry, body) = t.await.unwrap();
        match status {
            StatusCode::SEE_OTHER => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert!(retry, "503 without Retry-After");
                assert!(body.contains("coba lagi"), "{body}");
                // The page is the login form again, with a fresh token.
                csrf_of(&body);
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ok + busy, 100);
    assert!(ok >= 1, "some logins succeed");
    assert!(
        busy >= 1,
        "a full semaphore answers 503 at once instead of queueing"
    );
    assert_eq!(busy as u64, stats.busy());
    assert!(
        stats.peak() <= 2,
        "at most 2 argon2 checks at once, saw {}",
        stats.peak()
    );
    assert_eq!(stats.verifications(), ok as u64);
    assert_eq!(stats.in_flight(), 0);
}

#[tokio::test]
async fn the_per_address_limit_answers_429_before_any_password_check() {
    let (l, stats) = limits(4, 20);
    let app = spawn_with_login(l).await;
    let c = client();
    for i in 0..20 {
        // Made-up usernames: the per-username lockout does not apply.
        let st = login(&app, &c, &format!("tebak{i}"), "apa-saja-1").await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    assert_eq!(stats.verifications(), 20);
    let t = form(&app, &c).await;
    let r = post_login(&app, &c, "ayu.kasi", password_of("ayu.kasi"), &t).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Terlalu banyak percobaan masuk dari alamat ini"),
        "{body}"
    );
    assert_eq!(
        stats.verifications(),
        20,
        "no argon2 work for a limited address"
    );
    assert_eq!(stats.address_limited(), 1);
    // Another address is not limited.
    let other = client_from(Some("127.0.0.2".parse().unwrap()));
    assert_eq!(
        login(&app, &other, "ayu.kasi", password_of("ayu.kasi")).await,
        StatusCode::SEE_OTHER
    );
    // A minute later the first address may try again.
    app.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        login(&app, &c, "ayu.kasi", password_of("ayu.kasi")).await,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_login_form_is_accepted_once() {
    let (l, stats) = limits(4, 100);
    let app = spawn_with_login(l).await;
    let c = client();
    let t = form(&app, &c).await;
    let r = post_login(&app, &c, "ayu.kasi", "salah-sekali", &t).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The same cookie and token again, even with the right password: refused, no argon2.
    let r = post_login(&app, &c, "ayu.kasi", password_of("ayu.kasi"), &t).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .all(|v| !v.to_str().unwrap().starts_with("aduan_sesi=")),
        "no session from a replay"
    );
    let body = r.text().await.unwrap();
    assert!(body.contains("sudah pernah dikirim"), "{body}");
    assert_eq!(stats.verifications(), 1);
    // The refusal is the login form with a new token, which works once.
    let fresh = csrf_of(&body);
    assert_ne!(fresh, t);
    let r = post_login(&app, &c, "ayu.kasi", password_of("ayu.kasi"), &fresh).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // A successful form cannot be replayed from another browser holding the same pair.
    let copy = client();
    let cookie = c
        .get(app.url("/admin/login"))
        .send()
        .await
        .unwrap()
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|v| {
            let v = v.to_str().unwrap();
            v.strip_prefix("aduan_login=")
                .map(|r| r.split(';').next().unwrap().to_string())
        })
        .expect("a new login cookie after the successful login cleared it");
    let t2 = {
        let r = copy
            .get(app.url("/admin/login"))
            .header("cookie", format!("aduan_login={cookie}"))
            .send()
            .await
            .unwrap();
        csrf_of(&r.text().await.unwrap())
    };
    let send = |t: String| {
        let copy = copy.clone();
        let url = app.url("/admin/login");
        let cookie = cookie.clone();
        async move {
            copy.post(url)
                .header("cookie", format!("aduan_login={cookie}"))
                .form(&[
                    ("username", "ayu.kasi"),
                    ("password", password_of("ayu.kasi")),
                    ("csrf", &t),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(send(t2.clone()).await, StatusCode::SEE_OTHER);
    assert_eq!(send(t2).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_password_change_ends_every_session_of_the_user() {
    let app = spawn().await;
    let (a1, a2, other) = (client(), client(), client());
    for c in [&a1, &a2] {
        assert_eq!(
            login(&app, c, "ayu.kasi", password_of("ayu.kasi")).await,
            StatusCode::SEE_OTHER
        );
    }
    assert_eq!(
        login(&app, &other, "sri.staf", password_of("sri.staf")).await,
        StatusCode::SEE_OTHER
    );
    for c in [&a1, &a2, &other] {
        let r = c.get(app.url("/admin")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // What `aduan user set-password` does.
    let changed = app
        .desk
        .accounts()
        .change_password(
            &Actor::System,
            &Username::parse("ayu.kasi").unwrap(),
            &hash_password("kata-sandi-baru-1"),
        )
        .await
        .unwrap();
    assert!(changed);
    for c in [&a1, &a2] {
        let r = c.get(app.url("/admin")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "session survived");
        assert_eq!(r.headers()["location"], "/admin/login");
    }
    let r = other.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "another user's session is kept");
    // The old password no longer works, the new one does.
    let c = client();
    assert_eq!(
        login(&app, &c, "ayu.kasi", password_of("ayu.kasi")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, &c, "ayu.kasi", "kata-sandi-baru-1").await,
        StatusCode::SEE_OTHER
    );
    // Audited: the change and the logout-all with the number of sessions ended.
    let entries = app.desk.store().audit_chain(i64::MIN, 1000).await.unwrap();
    let change = entries
        .iter()
        .find(|e| e.action == "password_change")
        .expect("password_change audited");
    assert_eq!(change.detail_json()["username"], "ayu.kasi");
    let all = entries
        .iter()
        .find(|e| e.action == "logout_all")
        .expect("logout_all audited");
    assert_eq!(all.detail_json()["username"], "ayu.kasi");
    assert_eq!(all.detail_json()["sessions"], 2);
    assert_eq!(all.detail_json()["reason"], "password_change");

    // Disabling an account ends its sessions too (logout-all audited).
    app.desk
        .accounts()
        .disable(&Actor::System, &Username::parse("sri.staf").unwrap())
        .await
        .unwrap();
    let r = other.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let entries = app.desk.store().audit_chain(i64::MIN, 1000).await.unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.action == "logout_all" && e.detail_json()["reason"] == "disabled")
    );
}
