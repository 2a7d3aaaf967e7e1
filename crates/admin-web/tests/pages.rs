//! HTTP-level tests of the admin pages (no browser): login, lockout, CSRF, headers, roles,
//! masking for bidang users, escaping, the whole workflow through the forms, and bad input.

mod common;

use aduan_core::logbook::Month;
use aduan_core::model::{NewAttachment, ReplyOutcome};
use aduan_core::types::{Channel, State};
use aduan_core::workflow::Command;
use common::*;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

/// A cookie-keeping HTTP client that does not follow redirects.
struct Browser {
    c: reqwest::Client,
    base: String,
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Resp {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }
}

/// minijinja escapes `/` as `&#x2f;` (harmless); undo it so paths read naturally below.
fn unslash(s: String) -> String {
    s.replace("&#x2f;", "/")
}

fn csrf_of(html: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap();
    re.captures(html)
        .unwrap_or_else(|| panic!("no csrf field in page:\n{html}"))[1]
        .to_string()
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Browser {
            c: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
        }
    }
    async fn get(&self, path: &str) -> Resp {
        let r = self
            .c
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        Resp {
            status: r.status(),
            headers: r.headers().clone(),
            body: unslash(r.text().await.unwrap()),
        }
    }
    /// GET keeping the body as bytes (a downloaded file).
    async fn get_raw(&self, path: &str) -> reqwest::Response {
        self.c
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        let r = self
            .c
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        Resp {
            status: r.status(),
            headers: r.headers().clone(),
            body: unslash(r.text().await.unwrap()),
        }
    }
    /// POST with the CSRF token of `page`.
    async fn submit(&self, page: &str, action: &str, form: &[(&str, &str)]) -> Resp {
        let p = self.get(page).await;
        assert_eq!(p.status, StatusCode::OK, "{page}: {}", p.body);
        let token = csrf_of(&p.body);
        let mut f = form.to_vec();
        f.push(("csrf", &token));
        self.post(action, &f).await
    }
    async fn try_login(&self, user: &str, password: &str) -> Resp {
        let p = self.get("/admin/login").await;
        assert_eq!(p.status, StatusCode::OK);
        let token = csrf_of(&p.body);
        self.post(
            "/admin/login",
            &[("username", user), ("password", password), ("csrf", &token)],
        )
        .await
    }
    async fn login(app: &TestApp, user: &str) -> Browser {
        let b = Browser::new(app);
        let r = b.try_login(user, password_of(user)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "login {user}: {}", r.body);
        assert_eq!(r.location(), "/admin");
        b
    }
}

fn assert_no_identity(html: &str, what: &str) {
    for n in identity_needles() {
        assert!(
            !html.contains(n),
            "{what}: identity `{n}` leaked to a bidang user:\n{html}"
        );
    }
}

fn assert_security_headers(h: &HeaderMap, what: &str) {
    let get = |k: &str| {
        h.get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: header {k} missing"))
            .to_string()
    };
    assert_eq!(
        get("content-security-policy"),
        aduan_http::CONTENT_SECURITY_POLICY,
        "{what}"
    );
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("referrer-policy"), "same-origin", "{what}");
    assert_eq!(get("cache-control"), "no-store", "{what}");
}

/// No inline script or style anywhere (the CSP would block it).
fn assert_no_inline_code(html: &str, what: &str) {
    let scripts = regex::Regex::new(r"(?i)<script(?:\s[^>]*)?>").unwrap();
    for m in scripts.find_iter(html) {
        assert!(m.as_str().contains("src="), "{what}: inline script {m:?}");
    }
    assert!(!html.contains("<style"), "{what}: inline <style>");
    assert!(!html.contains(" style="), "{what}: style attribute");
    assert!(
        !regex::Regex::new(r#"\son[a-z]+=""#).unwrap().is_match(html),
        "{what}: inline event handler"
    );
}

async fn assign(app: &TestApp, ticket: &str, bidang: &str) {
    app.desk
        .staff()
        .act(
            &app.actor("ayu.kasi"),
            ticket,
            Command::Assign {
                bidang: aduan_core::types::BidangCode::parse(bidang).unwrap(),
                note: None,
            },
        )
        .await
        .unwrap();
}

async fn state_of(app: &TestApp, ticket: &str) -> State {
    app.desk
        .staff()
        .view(&app.actor("ayu.kasi"), ticket)
        .await
        .unwrap()
        .state
}

#[tokio::test]
async fn login_logout_expiry_and_wrong_passwords() {
    let app = spawn().await;
    let b = Browser::new(&app);
    // Not logged in: every page sends to the login form, keeping where the user wanted to go.
    let r = b.get("/admin").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/admin/login");
    let r = b.get("/admin/queue?state=triage").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.location().starts_with("/admin/login?next=/admin/queue"),
        "{}",
        r.location()
    );
    // The login form sets the double-submit cookie.
    let r = b.get("/admin/login").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("name=\"username\"") && r.body.contains("name=\"password\""));
    let c = r.cookies().join("\n");
    assert!(
        c.contains("aduan_login=") && c.contains("HttpOnly") && c.contains("SameSite=Strict"),
        "{c}"
    );

    let r = b.try_login("ayu.kasi", "salah-sekali").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.body.contains("Nama pengguna atau kata sandi salah"),
        "{}",
        r.body
    );
    assert!(r.cookies().iter().all(|c| !c.starts_with("aduan_sesi=")));
    let r = b.try_login("tidak.ada", "apa-saja").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("Nama pengguna atau kata sandi salah"));
    let r = b.try_login("bad name!<x>", "apa-saja").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(!r.body.contains("<x>"), "the typed username is escaped");

    let r = b.try_login("ayu.kasi", password_of("ayu.kasi")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/admin");
    let session = r
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("aduan_sesi="))
        .expect("session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(session.contains("Path=/admin"), "{session}");
    assert!(
        !session.contains("Secure"),
        "secure_cookie is off here: {session}"
    );
    let cookie_value = session
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("aduan_sesi=")
        .to_string();

    let r = b.get("/admin").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("ayu.kasi") && r.body.contains("Kasi Kerjasama"));

    // Logout needs the CSRF token.
    let r = b.post("/admin/logout", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(b.get("/admin").await.status, StatusCode::OK);
    let r = b.submit("/admin", "/admin/logout", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/admin/login?keluar=1");
    assert!(
        r.cookies()
            .iter()
            .any(|c| c.starts_with("aduan_sesi=;") && c.contains("Max-Age=0"))
    );
    assert_eq!(b.get("/admin").await.status, StatusCode::SEE_OTHER);
    assert!(
        b.get("/admin/login?keluar=1")
            .await
            .body
            .contains("Anda telah keluar")
    );

    // A copy of the logged-out cookie is refused too.
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = raw
        .get(app.url("/admin"))
        .header("cookie", format!("aduan_sesi={cookie_value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // A forged or mangled cookie is refused.
    let r = raw
        .get(app.url("/admin"))
        .header("cookie", format!("aduan_sesi=x{cookie_value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Sessions expire after session_ttl.
    let b = Browser::login(&app, "ayu.kasi").await;
    assert_eq!(b.get("/admin").await.status, StatusCode::OK);
    app.clock
        .advance(chrono::Duration::hours(8) + chrono::Duration::seconds(1));
    assert_eq!(b.get("/admin").await.status, StatusCode::SEE_OTHER);

    // A disabled account loses its session at once.
    let b = Browser::login(&app, "sri.staf").await;
    assert_eq!(b.get("/admin").await.status, StatusCode::OK);
    app.desk
        .store()
        .disable_user(&aduan_core::types::Username::parse("sri.staf").unwrap())
        .await
        .unwrap();
    assert_eq!(b.get("/admin").await.status, StatusCode::SEE_OTHER);
    let r = b.try_login("sri.staf", password_of("sri.staf")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // `next` brings the user back, but only to an admin page.
    let b = Browser::new(&app);
    let p = b
        .get("/admin/login?next=/admin/queue%3Fstate%3Dclosed")
        .await;
    assert!(
        p.body.contains("value=\"/admin/queue?state=closed\""),
        "{}",
        p.body
    );
    for (next, expect) in [
        ("/admin/queue?state=closed", "/admin/queue?state=closed"),
        ("//evil.example/admin", "/admin"),
        ("https://evil.example/", "/admin"),
        ("/admin/../../x", "/admin/../../x"),
        ("/admin\\@evil", "/admin"),
    ] {
        let b = Browser::new(&app);
        let p = b.get("/admin/login").await;
        let token = csrf_of(&p.body);
        let r = b
            .post(
                "/admin/login",
                &[
                    ("username", "kadis"),
                    ("password", password_of("kadis")),
                    ("csrf", &token),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location(), expect, "{next}");
    }
}

#[tokio::test]
async fn five_failures_lock_the_username_for_fifteen_minutes() {
    let app = spawn().await;
    let b = Browser::new(&app);
    for i in 1..=4 {
        let r = b.try_login("kabid.pdip", &format!("tebakan-{i}")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(r.body.contains("salah"));
    }
    let r = b.try_login("kabid.pdip", "tebakan-5").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("Terlalu banyak percobaan"), "{}", r.body);
    // Locked: even the right password is refused.
    let r = b.try_login("kabid.pdip", password_of("kabid.pdip")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.body.contains("Coba lagi dalam 15 menit"), "{}", r.body);
    assert!(r.cookies().iter().all(|c| !c.starts_with("aduan_sesi=")));
    // Other users are not affected.
    Browser::login(&app, "kadis").await;
    app.clock.advance(chrono::Duration::minutes(14));
    let r = b.try_login("kabid.pdip", password_of("kabid.pdip")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.body.contains("Coba lagi dalam 1 menit"), "{}", r.body);
    app.clock
        .advance(chrono::Duration::minutes(1) + chrono::Duration::seconds(1));
    let r = b.try_login("kabid.pdip", password_of("kabid.pdip")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // Failures spread beyond the window do not lock.
    let b = Browser::new(&app);
    for _ in 0..4 {
        b.try_login("kadis", "salah").await;
    }
    app.clock.advance(chrono::Duration::minutes(16));
    let r = b.try_login("kadis", "salah").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(!r.body.contains("Terlalu banyak"));
    let r = b.try_login("kadis", password_of("kadis")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn every_post_without_the_csrf_token_is_refused() {
    let app = spawn().await;
    let ticket = app.web_complaint("KTP-el saya belum jadi.").await;
    let kasi = Browser::login(&app, "ayu.kasi").await;
    let staf = Browser::login(&app, "sri.staf").await;
    let page = format!("/admin/complaints/{ticket}");
    let assign = format!("/admin/complaints/{ticket}/assign");
    let staf_token = csrf_of(&staf.get("/admin").await.body);
    for (what, token) in [
        ("missing", None),
        ("empty", Some("")),
        ("garbage", Some("AAAA")),
        ("another session's", Some(staf_token.as_str())),
    ] {
        let mut f = vec![("bidang", "dafduk")];
        if let Some(t) = token {
            f.push(("csrf", t));
        }
        let r = kasi.post(&assign, &f).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what} token");
        assert!(r.body.contains("CSRF"), "{what}: {}", r.body);
        assert_security_headers(&r.headers, "403");
    }
    assert_eq!(state_of(&app, &ticket).await, State::Triage);
    // The right token works.
    let r = kasi.submit(&page, &assign, &[("bidang", "dafduk")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(state_of(&app, &ticket).await, State::InBidang);

    // Every other form too.
    let kabid = Browser::login(&app, "kabid.pdip").await;
    let kadis = Browser::login(&app, "kadis").await;
    for (b, path) in [
        (&staf, "/admin/complaints/new".to_string()),
        (&staf, format!("/admin/complaints/{ticket}/follow-up")),
        (&kabid, "/admin/logbook/2026-03/paraf".to_string()),
        (&kabid, format!("/admin/complaints/{ticket}/sign")),
        (&kadis, "/admin/reports/2026-02/decision".to_string()),
        (&kasi, "/admin/reports/2026-02/conclusion".to_string()),
        (&kasi, format!("/admin/complaints/{ticket}/share-identity")),
        (&kasi, "/admin/logout".to_string()),
    ] {
        let r = b
            .post(&path, &[("text", "x"), ("body", "x"), ("channel", "phone")])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(
        kasi.get("/admin").await.status,
        StatusCode::OK,
        "logout refused"
    );

    // The login form: double-submit cookie and signed token must match.
    let fresh = Browser::new(&app);
    let r = fresh
        .post(
            "/admin/login",
            &[
                ("username", "ayu.kasi"),
                ("password", password_of("ayu.kasi")),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let other = Browser::new(&app);
    let foreign = csrf_of(&other.get("/admin/login").await.body);
    fresh.get("/admin/login").await;
    let r = fresh
        .post(
            "/admin/login",
            &[
                ("username", "ayu.kasi"),
                ("password", password_of("ayu.kasi")),
                ("csrf", &foreign),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.cookies().iter().all(|c| !c.starts_with("aduan_sesi=")));
}

#[tokio::test]
async fn security_headers_and_no_inline_code_on_every_page() {
    let app = spawn().await;
    let ticket = app.web_complaint("KTP-el saya belum jadi.").await;
    let anon = Browser::new(&app);
    for path in [
        "/admin/login",
        "/admin",
        "/admin/queue",
        "/admin/static/admin.css",
        "/admin/static/admin.js",
        "/admin/tidak-ada",
        "/admin/complaints/new",
    ] {
        let r = anon.get(path).await;
        assert_security_headers(&r.headers, path);
    }
    let r = anon.post("/admin/login", &[]).await;
    assert_security_headers(&r.headers, "POST /admin/login");
    let css = anon.get("/admin/static/admin.css").await;
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(css.body.contains("@page{size:A4 landscape"));
    let js = anon.get("/admin/static/admin.js").await;
    assert!(
        js.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );

    for user in ["sri.staf", "ayu.kasi", "kabid.pdip", "kadis"] {
        let b = Browser::login(&app, user).await;
        for path in [
            "/admin".to_string(),
            "/admin/queue?state=all".to_string(),
            format!("/admin/complaints/{ticket}"),
            "/admin/logbook/2026-03".to_string(),
            "/admin/reports/2026-02".to_string(),
            "/admin/reports/2026-03".to_string(),
            "/admin/complaints/ADU-202603-9999".to_string(),
        ] {
            let r = b.get(&path).await;
            assert!(r.status.as_u16() < 500, "{user} {path}: {}", r.status);
            assert_security_headers(&r.headers, &path);
            assert_no_inline_code(&r.body, &format!("{user} {path}"));
        }
    }
    let staf = Browser::login(&app, "sri.staf").await;
    for path in ["/admin/complaints/new", "/admin/replies/failed"] {
        let r = staf.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_no_inline_code(&r.body, path);
    }
    let r = anon.get("/admin/login").await;
    assert_no_inline_code(&r.body, "login");
}

#[tokio::test]
async fn each_role_reaches_only_its_own_pages_and_actions() {
    let app = spawn().await;
    let ticket = app.web_complaint("KTP-el saya belum jadi.").await;
    let bidang = Browser::login(&app, "dafduk1").await;
    for path in [
        "/admin/logbook/2026-03",
        "/admin/logbook/2026-03/export/csv",
        "/admin/reports/2026-02",
        "/admin/reports/2026-02/chart/category.png",
        "/admin/complaints/new",
        "/admin/replies/failed",
    ] {
        let r = bidang.get(path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "bidang {path}");
    }
    // Not yet routed to its bidang: invisible (404), before any state check.
    let r = bidang.get(&format!("/admin/complaints/{ticket}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let token = csrf_of(&bidang.get("/admin").await.body);
    let r = bidang
        .post(
            &format!("/admin/complaints/{ticket}/solution"),
            &[("text", "solusi"), ("csrf", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let kadis = Browser::login(&app, "kadis").await;
    assert_eq!(
        kadis.get("/admin/complaints/new").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        kadis.get("/admin/replies/failed").await.status,
        StatusCode::FORBIDDEN
    );
    let r = kadis
        .submit(
            "/admin",
            "/admin/complaints/new",
            &[("channel", "phone"), ("body", "uji")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = kadis
        .submit(
            "/admin",
            &format!("/admin/complaints/{ticket}/assign"),
            &[("bidang", "dafduk")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let staf = Browser::login(&app, "sri.staf").await;
    let r = staf
        .submit(
            "/admin",
            &format!("/admin/complaints/{ticket}/assign"),
            &[("bidang", "dafduk")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("Akses ditolak"));
    let kasi = Browser::login(&app, "ayu.kasi").await;
    let r = kasi
        .submit(
            "/admin",
            &format!("/admin/complaints/{ticket}/solution"),
            &[("text", "x")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = kasi
        .submit(
            "/admin",
            "/admin/logbook/2026-03/paraf",
            &[("select", &ticket)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A valid role in the wrong state: 409 with the state named.
    let r = kasi
        .submit(
            "/admin",
            &format!("/admin/complaints/{ticket}/review"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("Penelaahan Kasi"), "{}", r.body);
    assert_eq!(
        kasi.get("/admin/replies/failed").await.status,
        StatusCode::OK
    );
    // Action forms are offered only to the role that may use them.
    let page = kasi.get(&format!("/admin/complaints/{ticket}")).await.body;
    assert!(page.contains("id=\"form-assign\"") && page.contains("id=\"form-close\""));
    assert!(!page.contains("id=\"form-solution\"") && !page.contains("id=\"form-follow-up\""));
    let page = staf.get(&format!("/admin/complaints/{ticket}")).await.body;
    assert!(!page.contains("id=\"form-assign\""));
}

#[tokio::test]
async fn bidang_users_never_see_identity_or_other_divisions() {
    let app = spawn().await;
    let ours = app.web_complaint(&body_with_identity()).await;
    let theirs = app
        .web_complaint(&format!(
            "Akta kelahiran anak saya salah. {}",
            body_with_identity()
        ))
        .await;
    // An attachment whose file name carries the NIK.
    let with_file = app
        .desk
        .intake()
        .submit(aduan_core::desk::Submission {
            channel: Some(Channel::Web),
            name: Some(CITIZEN_NAME.into()),
            body: "KK saya rusak, foto terlampir.".into(),
            attachments: vec![NewAttachment {
                filename: format!("KTP_{CITIZEN_NIK}_Sariasih.jpg"),
                content_type: "image/jpeg".into(),
                data: vec![0xff, 0xd8, 0xff],
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .ticket
        .to_string();
    let kasi = Browser::login(&app, "ayu.kasi").await;
    for (t, b) in [
        (&ours, "dafduk"),
        (&theirs, "capil"),
        (&with_file, "dafduk"),
    ] {
        let r = kasi
            .submit(
                &format!("/admin/complaints/{t}"),
                &format!("/admin/complaints/{t}/assign"),
                &[("bidang", b)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    // Control: the kasi sees everything (so the needles below are meaningful).
    let page = kasi.get(&format!("/admin/complaints/{ours}")).await.body;
    for n in [
        CITIZEN_NAME,
        CITIZEN_EMAIL,
        CITIZEN_PHONE,
        CITIZEN_NIK,
        "Pantai Lovina",
    ] {
        assert!(page.contains(n), "kasi should see {n}");
    }
    assert!(
        kasi.get(&format!("/admin/complaints/{with_file}"))
            .await
            .body
            .contains("_Sariasih.jpg")
    );

    let bidang = Browser::login(&app, "dafduk1").await;
    let mut pages = vec![
        "/admin".to_string(),
        "/admin/queue?state=all".to_string(),
        "/admin/queue?state=in_bidang".to_string(),
        format!("/admin/complaints/{ours}"),
        format!("/admin/complaints/{with_file}"),
        format!("/admin/complaints/{ours}?pesan=assign"),
    ];
    // After a solution the complaint stays visible to its bidang, still masked.
    let r = bidang
        .submit(
            &format!("/admin/complaints/{ours}"),
            &format!("/admin/complaints/{ours}/solution"),
            &[("text", "KTP-el sudah dicetak; silakan ambil di loket 3.")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    pages.push(r.location().to_string());
    for p in &pages {
        let r = bidang.get(p).await;
        assert_eq!(r.status, StatusCode::OK, "{p}");
        assert_no_identity(&r.body, p);
    }
    let detail = bidang.get(&format!("/admin/complaints/{ours}")).await.body;
    assert!(detail.contains("Identitas pelapor dirahasiakan"));
    assert!(detail.contains("[email disamarkan]") && detail.contains("[NIK disamarkan]"));
    let files = bidang
        .get(&format!("/admin/complaints/{with_file}"))
        .await
        .body;
    assert!(
        files.contains("lampiran 1 (image/jpeg, 1 KB)") && !files.contains(".jpg"),
        "{files}"
    );
    // Its own queue lists its complaints only.
    let q = bidang.get("/admin/queue?state=all").await.body;
    assert!(q.contains(&ours) && q.contains(&with_file));
    assert!(!q.contains(&theirs), "another division's ticket listed");
    // Another division's complaint: 404, and nothing of it on the page.
    let r = bidang.get(&format!("/admin/complaints/{theirs}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_no_identity(&r.body, "404");
    assert!(!r.body.contains("Akta kelahiran"));
    // …also for actions.
    let token = csrf_of(&bidang.get("/admin").await.body);
    let r = bidang
        .post(
            &format!("/admin/complaints/{theirs}/solution"),
            &[("text", "x"), ("csrf", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Once the kasi shares the identity (with a reason), that bidang sees it.
    let r = kasi
        .submit(
            &format!("/admin/complaints/{with_file}"),
            &format!("/admin/complaints/{with_file}/share-identity"),
            &[(
                "reason",
                "Perlu menghubungi pemohon untuk pencetakan ulang KK",
            )],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = bidang
        .get(&format!("/admin/complaints/{with_file}"))
        .await
        .body;
    assert!(page.contains(CITIZEN_NAME), "shared identity is shown");
    // The capil user still never sees ours.
    let capil = Browser::login(&app, "capil1").await;
    let r = capil.get(&format!("/admin/complaints/{ours}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = capil.get(&format!("/admin/complaints/{theirs}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_no_identity(&r.body, "capil detail");
}

#[tokio::test]
async fn citizen_text_is_escaped_everywhere() {
    let app = spawn().await;
    let evil = r#"<script>alert("x")</script><img src=x onerror=alert(1)> KTP"#;
    let ticket = app
        .desk
        .intake()
        .submit(aduan_core::desk::Submission {
            channel: Some(Channel::Web),
            name: Some("<b>Budi</b>".into()),
            target: Some("\"><iframe src=//evil>".into()),
            body: evil.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .ticket
        .to_string();
    let kasi = Browser::login(&app, "ayu.kasi").await;
    let r = kasi
        .submit(
            &format!("/admin/complaints/{ticket}"),
            &format!("/admin/complaints/{ticket}/assign"),
            &[("bidang", "dafduk"), ("note", "<svg onload=alert(2)>")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let bidang = Browser::login(&app, "dafduk1").await;
    let r = bidang
        .submit(
            &format!("/admin/complaints/{ticket}"),
            &format!("/admin/complaints/{ticket}/solution"),
            &[("text", "<script>document.cookie</script>")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    for (b, path) in [
        (&kasi, format!("/admin/complaints/{ticket}")),
        (&bidang, format!("/admin/complaints/{ticket}")),
        (&kasi, "/admin/logbook/2026-03".to_string()),
    ] {
        let html = b.get(&path).await.body;
        assert!(
            html.contains("&lt;script&gt;"),
            "{path}: not escaped:\n{html}"
        );
        for raw in [
            "<script>alert",
            "<img src=x",
            "<iframe",
            "<svg",
            "<script>document",
            "<b>Budi",
        ] {
            assert!(!html.contains(raw), "{path}: raw `{raw}` in page");
        }
    }
}

#[tokio::test]
async fn one_complaint_walks_every_step_through_the_forms() {
    let app = spawn().await;
    let staf = Browser::login(&app, "sri.staf").await;
    let form = staf.get("/admin/complaints/new").await;
    assert_eq!(form.status, StatusCode::OK);
    for f in [
        "name=\"channel\"",
        "name=\"received_at\"",
        "name=\"letter_number\"",
        "name=\"name\"",
        "name=\"address\"",
        "name=\"email\"",
        "name=\"phone\"",
        "name=\"target\"",
        "name=\"category\"",
        "name=\"body\"",
        "FM-PDIP-03-01",
        "value=\"2026-03-10T10:00\"",
    ] {
        assert!(form.body.contains(f), "manual entry form lacks {f}");
    }
    let r = staf
        .submit(
            "/admin/complaints/new",
            "/admin/complaints/new",
            &[
                ("channel", "letter"),
                ("received_at", "2026-03-10T09:30"),
                ("letter_number", "470/12/DISDUKCAPIL/2026"),
                ("name", "I Made Wirawan"),
                ("address", "Desa Panji, Sukasada"),
                ("phone", "081999888777"),
                ("target", "Loket pindah datang"),
                ("category", "pelayanan"),
                ("body", "Surat pindah saya belum diproses sejak dua minggu."),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let loc = r.location().to_string();
    assert!(
        loc.starts_with("/admin/complaints/ADU-202603-") && loc.ends_with("?pesan=dicatat"),
        "{loc}"
    );
    let ticket = loc
        .trim_start_matches("/admin/complaints/")
        .trim_end_matches("?pesan=dicatat")
        .to_string();
    let page = staf.get(&loc).await.body;
    assert!(page.contains("Pengaduan telah dicatat"));
    assert!(page.contains("470/12/DISDUKCAPIL/2026") && page.contains("Surat"));
    assert!(page.contains("10-03-2026 09:30 WITA"), "received time kept");
    let v = app
        .desk
        .staff()
        .view(&app.actor("sri.staf"), &ticket)
        .await
        .unwrap();
    assert_eq!(v.channel, Channel::Letter);
    assert_eq!(v.letter_number.as_deref(), Some("470/12/DISDUKCAPIL/2026"));
    assert_eq!(v.state, State::Triage);

    // Kasi: the queue shows the countdown; the routing suggestion is preselected.
    let kasi = Browser::login(&app, "ayu.kasi").await;
    let q = kasi.get("/admin").await.body;
    assert!(q.contains(&ticket) && q.contains("sisa 5 menit"), "{q}");
    app.clock.advance(chrono::Duration::minutes(6));
    let q = kasi.get("/admin/queue?state=triage").await.body;
    assert!(
        q.contains("terlambat 1 menit") && q.contains("TERLAMBAT"),
        "{q}"
    );
    let page = kasi.get(&format!("/admin/complaints/{ticket}")).await.body;
    assert!(
        page.contains("<option value=\"dafduk\" selected>Bidang Pelayanan Pendaftaran Penduduk (disarankan)</option>"),
        "{page}"
    );
    let r = kasi
        .submit(
            &format!("/admin/complaints/{ticket}"),
            &format!("/admin/complaints/{ticket}/assign"),
            &[("bidang", "dafduk"), ("note", "Mohon dicek berkasnya.")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(state_of(&app, &ticket).await, State::InBidang);

    let bidang = Browser::login(&app, "dafduk1").await;
    assert!(bidang.get("/admin").await.body.contains(&ticket));
    let r = bidang
        .submit(
            &format!("/admin/complaints/{ticket}"),
            &format!("/admin/complaints/{ticket}/solution"),
            &[(
                "text",
                "Berkas pindah sudah diproses; SKPWNI dapat diambil besok.",
            )],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(state_of(&app, &ticket).await, State::Review);

    // Return once, then approve.
    let r = kasi
        .submit(
            &format!("/admin/complaints/{ticket}"),
            &format!("/admin/complaints/{ticket}/review"),
            &[
                ("decision", "return"),
                ("note", "Sebutkan jam pengambilan."),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(state_of(&app, &ticket).await, State::InBidang);
    let r = bidang
        .submit(
            &format!("/admin/complaints/{ticket}"),
            &format!("/admin/complaints/{ticket}/solution"),
            &[(
                "text",
                "SKPWNI dapat diambil besok pukul 08.00-12.00 di loket 2.",
            )],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = kasi
        .submit(
            &format!("/admin/complaints/{ticket}"),
            &format!("/admin/complaints/{ticket}/review"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(state_of(&app, &ticket).await, State::FollowUp);

    // Staf: the approved answer is prefilled; a letter complaint is recorded, not sent.
    let page = staf.get(&format!("/admin/complaints/{ticket}")).await.body;
    assert!(page.contains("Catat tindak lanjut"));
    assert!(page.contains(">SKPWNI dapat diambil besok pukul 08.00-12.00 di loket 2.</textarea>"));
    let r = staf
        .submit(
            &format!("/admin/complaints/{ticket}"),
            &format!("/admin/complaints/{ticket}/follow-up"),
            &[(
                "message",
                "Dijawab dengan surat balasan no. 470/15/2026: SKPWNI dapat diambil besok.",
            )],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let v = app
        .desk
        .staff()
        .view(&app.actor("sri.staf"), &ticket)
        .await
        .unwrap();
    assert_eq!(v.state, State::Closed);
    assert!(v.replies.is_empty(), "nothing is sent for a letter");

    // Kabid: paraf from the logbook (selected lines).
    let kabid = Browser::login(&app, "kabid.pdip").await;
    let lb = kabid.get("/admin/logbook/2026-03").await;
    assert_eq!(lb.status, StatusCode::OK);
    let cols = aduan_core::logbook::COLUMNS;
    let mut at = 0;
    for c in cols {
        let i = lb.body[at..]
            .find(&format!("<th>{}</th>", c.replace('&', "&amp;")))
            .unwrap_or_else(|| panic!("column {c} missing or out of order"));
        at += i;
    }
    assert!(
        lb.body.contains("FM-PDIP-03-02")
            && lb.body.contains(OFFICE)
            && lb.body.contains("Maret 2026")
    );
    assert!(
        lb.body
            .contains(&format!("name=\"select\" value=\"{ticket}\""))
    );
    let r = kabid
        .submit(
            "/admin/logbook/2026-03",
            "/admin/logbook/2026-03/paraf",
            &[("bulk", "1"), ("select", &ticket)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/admin/logbook/2026-03?diparaf=1&gagal=0");
    let lb = kabid.get(r.location()).await.body;
    assert!(lb.contains("1 baris diparaf"));
    assert!(lb.contains("kabid.pdip (10-03-2026)"), "{lb}");
    let v = app
        .desk
        .staff()
        .view(&app.actor("kabid.pdip"), &ticket)
        .await
        .unwrap();
    assert_eq!(v.paraf.map(|p| p.by).as_deref(), Some("kabid.pdip"));
    // Signing twice is refused per line, not with an error page.
    let r = kabid
        .submit(
            "/admin/logbook/2026-03",
            "/admin/logbook/2026-03/paraf",
            &[("one", &ticket)],
        )
        .await;
    assert_eq!(r.location(), "/admin/logbook/2026-03?diparaf=0&gagal=1");
    // The history shows every step with its actor.
    let page = kasi.get(&format!("/admin/complaints/{ticket}")).await.body;
    for a in [
        "Dicatat oleh staf",
        "Diteruskan ke bidang",
        "Solusi dari bidang",
        "Dikembalikan ke bidang",
        "Jawaban disetujui",
        "Tindak lanjut ke pengadu",
        "Paraf Kabid PDIP",
    ] {
        assert!(page.contains(a), "history lacks {a}");
    }
    assert!(
        page.contains("TERLAMBAT"),
        "the late triage is marked in the history"
    );
    // Exports for the office.
    let csv = kabid.get("/admin/logbook/2026-03/export/csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.body.contains(&ticket) && csv.body.contains("Paraf Kabid PDIP"));
    let xlsx = kabid.get("/admin/logbook/2026-03/export/xlsx").await;
    assert_eq!(xlsx.status, StatusCode::OK);
}

#[tokio::test]
async fn kabid_signs_several_lines_at_once() {
    let app = spawn().await;
    let mut tickets = Vec::new();
    for i in 0..3 {
        let t = app.web_complaint(&format!("Pengaduan nomor {i}")).await;
        app.desk
            .staff()
            .act(
                &app.actor("ayu.kasi"),
                &t,
                Command::Close {
                    status: aduan_core::types::Resolution::Tidak,
                    reason: "duplikat".into(),
                },
            )
            .await
            .unwrap();
        tickets.push(t);
    }
    let open = app.web_complaint("Masih terbuka").await;
    let kabid = Browser::login(&app, "kabid.pdip").await;
    let lb = kabid.get("/admin/logbook/2026-03").await.body;
    assert!(lb.contains("3 baris menunggu paraf"), "{lb}");
    assert!(
        !lb.contains(&format!("value=\"{open}\"")),
        "an open line cannot be signed"
    );
    let r = kabid
        .submit(
            "/admin/logbook/2026-03",
            "/admin/logbook/2026-03/paraf",
            &[
                ("bulk", "1"),
                ("select", &tickets[0]),
                ("select", &tickets[1]),
                ("select", &tickets[2]),
                ("select", &open),
                ("select", "ADU-202603-9999"),
                ("select", "<bogus>"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/admin/logbook/2026-03?diparaf=3&gagal=3");
    for t in &tickets {
        assert!(
            app.desk
                .staff()
                .view(&app.actor("kabid.pdip"), t)
                .await
                .unwrap()
                .paraf
                .is_some()
        );
    }
    // One line by its own button.
    let t = app.web_complaint("Satu lagi").await;
    app.desk
        .staff()
        .act(
            &app.actor("ayu.kasi"),
            &t,
            Command::Close {
                status: aduan_core::types::Resolution::Selesai,
                reason: "sudah dijawab langsung".into(),
            },
        )
        .await
        .unwrap();
    let r = kabid
        .submit(
            "/admin/logbook/2026-03",
            "/admin/logbook/2026-03/paraf",
            &[("one", &t), ("select", &open)],
        )
        .await;
    assert_eq!(r.location(), "/admin/logbook/2026-03?diparaf=1&gagal=0");
}

#[tokio::test]
async fn the_logbook_page_is_read_page_by_page_and_numbered_on() {
    let app = spawn().await;
    let mut tickets = Vec::new();
    for i in 0..450 {
        tickets.push(app.web_complaint(&format!("Pengaduan ke-{i}")).await);
    }
    let kasi = Browser::login(&app, "ayu.kasi").await;
    let next = regex::Regex::new(r#"href="([^"]+)" id="next-page""#).unwrap();
    let mut url = "/admin/logbook/2026-03".to_string();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let lb = kasi.get(&url).await;
        assert_eq!(lb.status, StatusCode::OK, "{url}");
        pages += 1;
        let first = seen.len() + 1;
        let last = (seen.len() + 200).min(450);
        assert!(
            lb.body.contains(&format!("Baris {first}–{last} dari 450")),
            "{url}: no row range {first}–{last}"
        );
        for t in &tickets {
            if lb.body.contains(&format!(">{t}</a>")) {
                seen.push(t.clone());
            }
        }
        assert_eq!(seen.len(), last, "{url}: rows of the page");
        assert!(
            lb.body.contains(&format!("<td class=\"no\">{first}</td>"))
                && lb.body.contains(&format!("<td class=\"no\">{last}</td>")),
            "{url}: numbered on across pages"
        );
        match next.captures(&lb.body) {
            Some(c) => url = unslash(c[1].replace("&amp;", "&")),
            None => break,
        }
        assert!(pages < 5, "the pager does not end");
    }
    assert_eq!(pages, 3);
    seen.sort();
    let mut all = tickets.clone();
    all.sort();
    assert_eq!(seen, all, "every complaint on exactly one page");
    // A cursor that is not one: a clear 400 page, never a 500.
    for bad in ["x", "1.2", "-1.-1.-1", "99999999999999999999.1.1"] {
        let r = kasi
            .get(&format!("/admin/logbook/2026-03?setelah={bad}"))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            r.body.contains("Tautan halaman log book tidak valid"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn manual_entry_errors_are_shown_with_the_input_kept() {
    let app = spawn().await;
    let staf = Browser::login(&app, "sri.staf").await;
    for (fields, expect) in [
        (
            vec![("channel", "phone"), ("body", "   ")],
            "Isi pengaduan: wajib diisi",
        ),
        (
            vec![
                ("channel", "phone"),
                ("body", "x"),
                ("email", "bukan-email"),
            ],
            "Alamat email: alamat email tidak valid",
        ),
        (
            vec![("channel", "phone"), ("body", "x"), ("phone", "12ab")],
            "No. HP: nomor HP tidak valid",
        ),
        (
            vec![("channel", "web"), ("body", "x")],
            "Sumber: sumber harus telepon",
        ),
        (
            vec![
                ("channel", "phone"),
                ("body", "x"),
                ("received_at", "kemarin"),
            ],
            "Waktu diterima: format tanggal",
        ),
        (
            vec![
                ("channel", "fax"),
                ("body", "x"),
                ("received_at", "2026-03-11T10:00"),
            ],
            "Waktu diterima: tidak boleh di masa depan",
        ),
        (
            vec![("channel", "fax"), ("body", "x"), ("category", "gosip")],
            "Kategori: kategori tidak dikenal",
        ),
    ] {
        let mut f = fields.clone();
        f.push(("target", "Petugas <loket> 5"));
        let r = staf
            .submit("/admin/complaints/new", "/admin/complaints/new", &f)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        assert!(r.body.contains(expect), "{fields:?}: {}", r.body);
        assert!(
            r.body.contains("value=\"Petugas &lt;loket&gt; 5\""),
            "input kept"
        );
    }
    let long = "a".repeat(20_001);
    let r = staf
        .submit(
            "/admin/complaints/new",
            "/admin/complaints/new",
            &[("channel", "walk_in"), ("body", &long)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        app.desk
            .staff()
            .queue(&app.actor("ayu.kasi"), None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn bad_input_never_gives_a_server_error() {
    let app = spawn().await;
    let ticket = app.web_complaint("KTP").await;
    let kasi = Browser::login(&app, "ayu.kasi").await;
    let token = csrf_of(&kasi.get("/admin").await.body);
    for path in [
        "/admin/complaints/%00",
        "/admin/complaints/..%2F..%2Fetc",
        "/admin/complaints/ADU-999999-0001",
        "/admin/complaints/ADU-202613-0001",
        "/admin/complaints/x/y/z",
        "/admin/queue?state=bogus",
        "/admin/queue?state=%FF",
        "/admin/queue?state=triage&state=closed",
        "/admin/queue?pesan=%3Cscript%3E",
        "/admin/logbook/2026-13",
        "/admin/logbook/99999-01",
        "/admin/logbook/2026-03/export/pdf",
        "/admin/logbook/2026-03?diparaf=-1",
        "/admin/reports/0000-00",
        "/admin/reports/2026-02/chart/x.png",
        "/admin/reports/2026-02/chart/category.jpg",
        "/admin/reports/2999-01",
        "/admin/login?next=%FF%FE",
        "/admin/static/nope.js",
    ] {
        let r = kasi.get(path).await;
        assert!(
            r.status.is_client_error() || r.status.is_success() || r.status.is_redirection(),
            "{path}: {}",
            r.status
        );
        assert!(!r.body.contains("<script>"), "{path}");
    }
    assert_eq!(
        kasi.get("/admin/queue?state=bogus").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        kasi.get("/admin/logbook/2026-13").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        kasi.get("/admin/complaints/ADU-999999-0001").await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        !kasi
            .get("/admin/queue?pesan=%3Cscript%3E")
            .await
            .body
            .contains("&lt;script")
    );
    for (path, form) in [
        (format!("/admin/complaints/{ticket}/nonsense"), vec![]),
        (format!("/admin/complaints/{ticket}/assign"), vec![]),
        (
            format!("/admin/complaints/{ticket}/assign"),
            vec![("bidang", "NOT A CODE")],
        ),
        (
            format!("/admin/complaints/{ticket}/assign"),
            vec![("bidang", "tidak-ada")],
        ),
        (
            format!("/admin/complaints/{ticket}/close"),
            vec![("status", "mungkin"), ("reason", "x")],
        ),
        (
            format!("/admin/complaints/{ticket}/close"),
            vec![("status", "tidak"), ("reason", " ")],
        ),
        (
            format!("/admin/complaints/{ticket}/review"),
            vec![("decision", "maybe")],
        ),
        (
            "/admin/complaints/%FF/assign".to_string(),
            vec![("bidang", "dafduk")],
        ),
        ("/admin/reports/2026-02/nonsense".to_string(), vec![]),
        (
            "/admin/reports/2026-13/conclusion".to_string(),
            vec![("text", "x")],
        ),
        ("/admin/reports/2026-02/receipt".to_string(), vec![]),
        (
            "/admin/reports/2026-03/conclusion".to_string(),
            vec![("text", "x")],
        ),
    ] {
        let mut f = form.clone();
        f.push(("csrf", &token));
        let r = kasi.post(&path, &f).await;
        assert!(r.status.is_client_error(), "{path} {form:?}: {}", r.status);
    }
    assert_eq!(state_of(&app, &ticket).await, State::Triage);
    // Not a form, too large, broken encoding.
    let raw = |body: Vec<u8>, ct: &'static str| {
        kasi.c
            .post(app.url(&format!("/admin/complaints/{ticket}/assign")))
            .header("content-type", ct)
            .body(body)
    };
    let r = raw(b"{\"bidang\":\"dafduk\"}".to_vec(), "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = raw(
        vec![b'a'; 2 * 1024 * 1024],
        "application/x-www-form-urlencoded",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = raw(
        b"bidang=%ZZ&csrf=%".to_vec(),
        "application/x-www-form-urlencoded",
    )
    .send()
    .await
    .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = raw(
        vec![0xff, 0xfe, b'=', 0x80],
        "application/x-www-form-urlencoded",
    )
    .send()
    .await
    .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
}

#[tokio::test]
async fn monthly_report_with_charts_conclusion_decision_and_receipt() {
    let app = spawn().await;
    let t = app.web_complaint("KTP-el saya belum jadi.").await;
    app.web_complaint("e-KTP saya blm jadi juga, mohon bantuannya.")
        .await;
    assign(&app, &t, "dafduk").await;
    app.desk
        .staff()
        .act(
            &app.actor("dafduk1"),
            &t,
            Command::Solution {
                text: "Sudah dicetak.".into(),
            },
        )
        .await
        .unwrap();
    // The current month's report does not exist yet.
    let kasi = Browser::login(&app, "ayu.kasi").await;
    let r = kasi.get("/admin/reports/2026-03").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("disusun setelah"), "{}", r.body);
    // Next month: the report of March is built on first view.
    app.clock.advance(chrono::Duration::days(25));
    let kasi = Browser::login(&app, "ayu.kasi").await;
    let r = kasi.get("/admin/reports").await;
    assert_eq!(r.location(), "/admin/reports/2026-03");
    let r = kasi.get("/admin/reports/2026-03").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for s in [
        "Laporan bulanan Maret 2026",
        "/admin/reports/2026-03/chart/category.svg",
        "/admin/reports/2026-03/chart/bidang.svg",
        "/admin/reports/2026-03/chart/channel.svg",
        "/admin/reports/2026-03/chart/steps.svg",
        "/admin/reports/2026-03/chart/trend.svg",
        "Draf",
        "id=\"form-conclusion\"",
        "name=\"risiko_0\"",
    ] {
        assert!(r.body.contains(s), "report page lacks {s}");
    }
    for name in ["category", "bidang", "channel", "steps", "trend"] {
        let r = kasi
            .c
            .get(app.url(&format!("/admin/reports/2026-03/chart/{name}.png")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "image/png");
        assert_security_headers(r.headers(), "chart");
        let bytes = r.bytes().await.unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let r = kasi
            .c
            .get(app.url(&format!("/admin/reports/2026-03/chart/{name}.svg")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("image/svg+xml")
        );
        let svg = r.text().await.unwrap();
        assert!(svg.starts_with("<svg"), "{name}");
    }
    let r = kasi.get("/admin/reports/2026-03/chart/nope.svg").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = kasi
        .submit(
            "/admin/reports/2026-03",
            "/admin/reports/2026-03/conclusion",
            &[
                (
                    "text",
                    "Masalah terbanyak: KTP-el <belum> dicetak karena blangko habis.",
                ),
                ("pilih_0", "1"),
                ("risiko_0", "KTP-el belum jadi"),
                ("frekuensi_0", "2"),
                ("penyebab_0", "blangko habis"),
                ("pengendalian_0", "stok blangko dipantau mingguan"),
                ("pemilik_0", "Bidang Dafduk"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = kasi.get("/admin/reports/2026-03").await.body;
    assert!(page.contains("id=\"risks\""), "{page}");
    assert!(page.contains("stok blangko dipantau mingguan"));
    let csv = kasi.get("/admin/reports/2026-03/risiko.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.body
            .contains("\"KTP-el belum jadi\",\"blangko habis\",\"2\",\"stok blangko dipantau mingguan\",\"Bidang Dafduk\""),
        "{}",
        csv.body
    );
    let kadis = Browser::login(&app, "kadis").await;
    let page = kadis.get("/admin/reports/2026-03").await.body;
    assert!(page.contains("KTP-el &lt;belum&gt; dicetak"));
    assert!(page.contains("Laporan belum dikirim kepada Kepala Dinas"));
    assert!(!page.contains("id=\"form-decision\""));
    // The digest was delivered (step 6): the decision clock runs.
    let month = Month::parse("2026-03").unwrap();
    app.desk.reports().report_delivered(month).await.unwrap();
    let page = kadis.get("/admin/reports/2026-03").await.body;
    assert!(page.contains("id=\"form-decision\""), "{page}");
    assert!(page.contains("sisa 1 jam 0 menit"), "{page}");
    let r = kadis
        .submit(
            "/admin/reports/2026-03",
            "/admin/reports/2026-03/decision",
            &[("text", "Tambah stok blangko dan buka loket sore.")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/admin/reports/2026-03?pesan=decision");
    let page = kadis.get(r.location()).await.body;
    assert!(page.contains("Keputusan Kepala Dinas disimpan"));
    assert!(page.contains("Tambah stok blangko"));
    // Deciding twice is a conflict.
    let r = kadis
        .submit(
            "/admin/reports/2026-03",
            "/admin/reports/2026-03/decision",
            &[("text", "lagi")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = kasi
        .submit(
            "/admin/reports/2026-03",
            "/admin/reports/2026-03/receipt",
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = kasi.get("/admin/reports/2026-03").await.body;
    assert!(page.contains("Log book diterima kembali oleh Kasi"));
}

#[tokio::test]
async fn failed_replies_are_shown_to_staff() {
    let app = spawn().await;
    let t = app.web_complaint("KTP-el saya belum jadi.").await;
    // The acknowledgement by e-mail fails for good.
    let now = app.desk.now();
    let items = app
        .desk
        .store()
        .claim_replies(now, chrono::Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
    app.desk
        .store()
        .complete_reply(
            &items[0],
            ReplyOutcome::Failed {
                error: "550 5.1.1 mailbox <unavailable>".into(),
            },
        )
        .await
        .unwrap();
    let staf = Browser::login(&app, "sri.staf").await;
    let page = staf.get("/admin/replies/failed").await.body;
    assert!(page.contains(&t), "{page}");
    assert!(page.contains("550 5.1.1 mailbox &lt;unavailable&gt;"));
    assert!(
        page.contains(CITIZEN_PHONE),
        "staff get the other contact to answer by"
    );
    let page = staf.get(&format!("/admin/complaints/{t}")).await.body;
    assert!(page.contains("gagal terkirim"));
    let staf_home = staf.get("/admin").await.body;
    assert!(staf_home.contains("/admin/replies/failed"));
}

/// SPEC §6: from December 1 on, a calendar without next year's holidays is a warning on
/// the staff pages (with an injected date; the calendar knows 2026 only).
#[tokio::test]
async fn december_warning_when_next_years_holidays_are_missing() {
    use aduan_core::calendar::{Interval, WorkCalendar};
    use chrono::TimeZone as _;
    let day = vec![Interval::parse("07:30-16:00").unwrap()];
    let week = [
        day.clone(),
        day.clone(),
        day.clone(),
        day.clone(),
        day,
        vec![],
        vec![],
    ];
    let only_2026 = WorkCalendar::new(
        chrono_tz::Asia::Makassar,
        true,
        week.clone(),
        [chrono::NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()],
    )
    .unwrap()
    .with_known_years([2026]);
    let app = spawn_with_calendar(only_2026).await;
    // 30 November 2026, 15:00 WITA: no warning.
    app.clock
        .set(chrono::Utc.with_ymd_and_hms(2026, 11, 30, 7, 0, 0).unwrap());
    let b = Browser::login(&app, "ayu.kasi").await;
    let home = b.get("/admin").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(!home.body.contains("calendar-warning"), "{}", home.body);
    // 1 December 2026, 08:00 WITA (a new login: sessions last 8 hours): every page says so.
    app.clock
        .set(chrono::Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
    let b = Browser::login(&app, "ayu.kasi").await;
    for page in ["/admin", "/admin/queue?state=triage"] {
        let p = b.get(page).await;
        assert_eq!(p.status, StatusCode::OK, "{page}");
        assert!(
            p.body.contains(r#"id="calendar-warning""#),
            "{page}: {}",
            p.body
        );
        assert!(p.body.contains("Kalender libur 2027 belum diisi"), "{page}");
        assert!(p.body.contains("config/holidays-2027.toml"), "{page}");
    }
    // With 2027 known there is nothing to warn about.
    let with_2027 = WorkCalendar::new(chrono_tz::Asia::Makassar, true, week, [])
        .unwrap()
        .with_known_years([2026, 2027]);
    let app = spawn_with_calendar(with_2027).await;
    app.clock
        .set(chrono::Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
    let b = Browser::login(&app, "ayu.kasi").await;
    assert!(!b.get("/admin").await.body.contains("calendar-warning"));
}

/// A reply sender that records what it sends.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl aduan_core::outbox::ReplySender for Recorder {
    async fn send(
        &self,
        reply: &aduan_core::outbox::RenderedReply,
    ) -> Result<Option<String>, aduan_core::outbox::SendError> {
        self.0.lock().unwrap().push(reply.text.clone());
        Ok(Some(format!("ack-{}@aduan.example", reply.item.id)))
    }
}

/// The attachment pages: links and files by the bidang rule, the kasi's share form (with
/// CSRF and a reason), neutral labels everywhere a bidang user looks.
async fn attachments_in_the_pages(postgres: bool) {
    let app = spawn_on(postgres).await;
    let ktp_name = format!("KTP_{CITIZEN_NIK}_Sariasih.jpg");
    let photo: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let ticket = app
        .desk
        .intake()
        .submit(aduan_core::desk::Submission {
            channel: Some(Channel::Web),
            name: Some(CITIZEN_NAME.into()),
            email: Some(CITIZEN_EMAIL.into()),
            body: format!("KK saya rusak. Foto terlampir: {ktp_name} dan surat.pdf"),
            attachments: vec![
                NewAttachment {
                    filename: ktp_name.clone(),
                    content_type: "image/jpeg".into(),
                    data: photo.clone(),
                },
                NewAttachment {
                    filename: "surat.pdf".into(),
                    content_type: "application/pdf".into(),
                    data: b"%PDF-1.4".to_vec(),
                },
            ],
            with_access_code: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .ticket
        .to_string();
    let other = app.web_complaint("KTP-el saya belum jadi.").await;
    let kasi_actor = app.actor("ayu.kasi");
    let rec = app.desk.staff().view(&kasi_actor, &ticket).await.unwrap();
    let (ktp, pdf) = (rec.attachments[0].id, rec.attachments[1].id);
    let foreign = app.desk.staff().view(&kasi_actor, &other).await.unwrap();
    assert!(foreign.attachments.is_empty());
    let page = format!("/admin/complaints/{ticket}");
    let file = |id: i64| format!("/admin/complaints/{ticket}/attachments/{id}");
    let share = |id: i64| format!("/admin/complaints/{ticket}/attachments/{id}/share");

    // Not logged in: the login form, no file.
    let anon = Browser::new(&app);
    let r = anon.get(&file(ktp)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/admin/login"), "{}", r.location());

    let kasi = Browser::login(&app, "ayu.kasi").await;
    let r = kasi
        .submit(&page, &format!("{page}/assign"), &[("bidang", "dafduk")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // The kasi: names, links and a share form per attachment.
    let body = kasi.get(&page).await.body;
    for id in [ktp, pdf] {
        assert!(body.contains(&format!("href=\"{}\"", file(id))), "{body}");
        assert!(body.contains(&format!("id=\"form-share-attachment-{id}\"")));
    }
    assert!(body.contains(&ktp_name));
    // The file itself, with the download headers.
    let r = kasi.get_raw(&file(ktp)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "image/jpeg");
    assert_eq!(
        h["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"{ktp_name}\"; filename*=UTF-8''{ktp_name}")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], aduan_http::ATTACHMENT_CSP);
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(r.bytes().await.unwrap().to_vec(), photo);
    // An id of no attachment of this ticket, or not a number: 404.
    for path in [
        format!("/admin/complaints/{other}/attachments/{ktp}"),
        format!("/admin/complaints/{ticket}/attachments/0"),
        format!("/admin/complaints/{ticket}/attachments/abc"),
        format!("/admin/complaints/{ticket}/attachments/{}", pdf + 100),
    ] {
        assert_eq!(
            kasi.get(&path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }

    // The bidang: labels instead of names (in the text too), no links, no files.
    let bidang = Browser::login(&app, "dafduk1").await;
    let body = bidang.get(&page).await.body;
    assert_no_identity(&body, "bidang detail");
    assert!(
        !body.contains(".jpg") && !body.contains("surat.pdf"),
        "{body}"
    );
    assert!(body.contains("lampiran 1 (image/jpeg, 3 KB)"), "{body}");
    assert!(
        body.contains("lampiran 2 (application/pdf, 1 KB)"),
        "{body}"
    );
    assert!(
        !body.contains("/attachments/"),
        "no links for the bidang: {body}"
    );
    assert!(!body.contains("form-share-attachment"));
    for id in [ktp, pdf] {
        let r = bidang.get(&file(id)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_no_identity(&r.body, "bidang 404");
    }
    // Another division: 404 as well.
    let capil = Browser::login(&app, "capil1").await;
    assert_eq!(capil.get(&file(ktp)).await.status, StatusCode::NOT_FOUND);

    // Sharing: CSRF first, a reason required, the kasi only.
    let r = kasi.post(&share(ktp), &[("reason", "cek foto")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = kasi.submit(&page, &share(ktp), &[("reason", "   ")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Alasan"), "{}", r.body);
    let long = "x".repeat(501);
    let r = kasi.submit(&page, &share(ktp), &[("reason", &long)]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let token = csrf_of(&bidang.get("/admin").await.body);
    let r = bidang
        .post(
            &share(ktp),
            &[("reason", "saya mau lihat"), ("csrf", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(bidang.get(&file(ktp)).await.status, StatusCode::NOT_FOUND);
    let r = kasi
        .submit(
            &page,
            &share(ktp),
            &[("reason", "Perlu mencocokkan foto KK dengan data")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        r.location(),
        format!("/admin/complaints/{ticket}?pesan=share-attachment")
    );
    let body = kasi.get(r.location()).await.body;
    assert!(body.contains("Lampiran dibagikan kepada bidang."), "{body}");
    assert!(body.contains("Dibagikan kepada: Bidang Pelayanan Pendaftaran Penduduk"));
    assert!(!body.contains(&format!("id=\"form-share-attachment-{ktp}\"")));
    assert!(body.contains(&format!("id=\"form-share-attachment-{pdf}\"")));
    assert!(
        body.contains("Lampiran dibagikan ke bidang"),
        "history line"
    );

    // Now the bidang opens that one (its name shown), still not the other.
    let body = bidang.get(&page).await.body;
    assert!(body.contains(&format!("href=\"{}\"", file(ktp))), "{body}");
    assert!(!body.contains(&format!("href=\"{}\"", file(pdf))));
    assert!(body.contains("lampiran 2 (application/pdf, 1 KB)"));
    assert!(!body.contains("surat.pdf"));
    assert!(!body.contains(CITIZEN_NAME) && !body.contains(CITIZEN_EMAIL));
    let r = bidang.get_raw(&file(ktp)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().to_vec(), photo);
    assert_eq!(bidang.get(&file(pdf)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(capil.get(&file(ktp)).await.status, StatusCode::NOT_FOUND);
}

/// The in-page previews (issue 13): a PNG as a thumbnail and a PDF in a frame, both linked
/// to the download; `?inline=1` answers `inline` only for those (never SVG, never a "PNG"
/// whose bytes are HTML), frameable by the same origin only, nosniff, no-store, no script;
/// a bidang user gets no thumbnail and the same 404 as for the download.
async fn attachment_previews_in_the_pages(postgres: bool) {
    let app = spawn_on(postgres).await;
    let png_name = format!("KK_{CITIZEN_NIK}.png");
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..200u8).collect::<Vec<u8>>());
    let pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let files = [
        (png_name.as_str(), "image/png", png.clone()),
        ("surat.pdf", "application/pdf", pdf.clone()),
        (
            "gambar.svg",
            "image/svg+xml",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".to_vec(),
        ),
        (
            "palsu.png",
            "image/png",
            b"<html><script>alert(1)</script>".to_vec(),
        ),
    ];
    let ticket = app
        .desk
        .intake()
        .submit(aduan_core::desk::Submission {
            channel: Some(Channel::Web),
            name: Some(CITIZEN_NAME.into()),
            email: Some(CITIZEN_EMAIL.into()),
            body: "KK saya salah cetak, foto dan surat terlampir.".into(),
            attachments: files
                .iter()
                .map(|(n, t, d)| NewAttachment {
                    filename: n.to_string(),
                    content_type: t.to_string(),
                    data: d.clone(),
                })
                .collect(),
            with_access_code: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .ticket
        .to_string();
    let rec = app
        .desk
        .staff()
        .view(&app.actor("ayu.kasi"), &ticket)
        .await
        .unwrap();
    let ids: Vec<i64> = rec.attachments.iter().map(|a| a.id).collect();
    let (png_id, pdf_id, svg_id, fake_id) = (ids[0], ids[1], ids[2], ids[3]);
    let page = format!("/admin/complaints/{ticket}");
    let inline = |id: i64| format!("/admin/complaints/{ticket}/attachments/{id}?inline=1");
    let download = |id: i64| format!("/admin/complaints/{ticket}/attachments/{id}");

    let kasi = Browser::login(&app, "ayu.kasi").await;
    let r = kasi
        .submit(&page, &format!("{page}/assign"), &[("bidang", "dafduk")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = kasi.get_raw(&page).await;
    // The page may frame (and embed) only its own origin, and is itself never framed.
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(
        !csp.contains("frame-src") || csp.contains("frame-src 'self'"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let body = r.text().await.unwrap();
    let img = format!(
        "<img class=\"thumb\" src=\"{}\" alt=\"Pratinjau {png_name}\" id=\"attachment-preview-{png_id}\">",
        inline(png_id)
    );
    assert!(body.contains(&img), "{body}");
    assert!(
        body.contains(&format!("href=\"{}\"", download(png_id))),
        "linked to the download"
    );
    assert!(
        body.contains(&format!(
            "<iframe class=\"pdf-preview\" src=\"{}\" title=\"Pratinjau surat.pdf\"",
            inline(pdf_id)
        )),
        "{body}"
    );
    assert!(body.contains(&format!("href=\"{}\"", download(pdf_id))));
    // SVG is never previewed; the page decides by the stored type only (a "PNG" whose
    // bytes are HTML gets a thumbnail slot, but its file below is refused as a preview).
    assert!(body.contains(&format!("id=\"attachment-preview-{fake_id}\"")));
    assert!(!body.contains(&format!("attachment-preview-{svg_id}")));
    assert!(body.contains(&format!("href=\"{}\"", download(svg_id))));
    assert!(!body.contains(&inline(svg_id)));

    // The previews' headers.
    for (id, media, csp) in [
        (png_id, "image/png", aduan_http::INLINE_IMAGE_CSP),
        (pdf_id, "application/pdf", aduan_http::INLINE_PDF_CSP),
    ] {
        let r = kasi.get_raw(&inline(id)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers().clone();
        assert_eq!(h["content-type"], media);
        assert!(
            h["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("inline; filename="),
            "{:?}",
            h["content-disposition"]
        );
        assert_eq!(h["content-security-policy"], csp);
        assert!(!csp.contains("script-src") && csp.starts_with("default-src 'none'"));
        assert!(csp.contains("frame-ancestors 'self'"));
        assert_eq!(h["x-frame-options"], "SAMEORIGIN");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "no-store");
        let want = if id == png_id { &png } else { &pdf };
        assert_eq!(&r.bytes().await.unwrap().to_vec(), want);
    }
    assert_eq!(
        kasi.get_raw(&inline(png_id)).await.headers()["content-disposition"]
            .to_str()
            .unwrap(),
        format!("inline; filename=\"{png_name}\"; filename*=UTF-8''{png_name}")
    );
    // SVG and the HTML posing as a PNG: downloads, never framed, never rendered.
    for id in [svg_id, fake_id] {
        let r = kasi.get_raw(&inline(id)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert!(
            h["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment;")
        );
        assert_eq!(h["content-security-policy"], aduan_http::ATTACHMENT_CSP);
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
    }
    // Without `inline` (or `inline=0`) the download is unchanged.
    for path in [download(png_id), format!("{}?inline=0", download(png_id))] {
        let r = kasi.get_raw(&path).await;
        let h = r.headers();
        assert!(
            h["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment;"),
            "{path}"
        );
        assert_eq!(h["content-security-policy"], aduan_http::ATTACHMENT_CSP);
        assert_eq!(h["x-frame-options"], "DENY");
    }
    // A bad `inline`: 400 with the page, not the file.
    let r = kasi.get(&format!("{}?inline=yes", download(png_id))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("Parameter inline harus 0 atau 1."),
        "{}",
        r.body
    );
    // Another ticket's id: 404, inline or not.
    let other = app.web_complaint("KTP-el saya belum jadi.").await;
    let r = kasi
        .get(&format!(
            "/admin/complaints/{other}/attachments/{png_id}?inline=1"
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The bidang: no thumbnail, no frame, no inline link; the preview is the download's 404.
    let oracle = aduan_core::testing::PrivacyOracle::new(
        &aduan_core::model::Identity {
            name: Some(CITIZEN_NAME.into()),
            email: Some(CITIZEN_EMAIL.into()),
            ..Default::default()
        },
        Some(CITIZEN_NIK),
        &[&png_name],
    );
    for user in ["dafduk1", "capil1"] {
        let b = Browser::login(&app, user).await;
        let r = b.get(&page).await;
        if user == "dafduk1" {
            assert_eq!(r.status, StatusCode::OK);
            oracle.assert_clean("bidang detail with previews", &r.body);
            assert_no_identity(&r.body, "bidang detail with previews");
            assert!(!r.body.contains("attachment-preview-"), "{}", r.body);
            assert!(!r.body.contains("<img class=\"thumb\""));
            assert!(!r.body.contains("<iframe"));
            assert!(!r.body.contains("?inline=1"));
            assert!(
                r.body.contains("lampiran 1 (image/png, 1 KB)"),
                "{}",
                r.body
            );
        } else {
            assert_eq!(r.status, StatusCode::NOT_FOUND);
        }
        for id in [png_id, pdf_id] {
            let r = b.get(&inline(id)).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{user} {id}");
            oracle.assert_clean("bidang preview 404", &r.body);
        }
    }
    // Shared with the bidang: its preview appears, the other file stays hidden.
    let r = kasi
        .submit(
            &page,
            &format!("/admin/complaints/{ticket}/attachments/{png_id}/share"),
            &[("reason", "Perlu mencocokkan foto KK dengan data")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let b = Browser::login(&app, "dafduk1").await;
    let body = b.get(&page).await.body;
    assert!(
        body.contains(&format!("id=\"attachment-preview-{png_id}\"")),
        "{body}"
    );
    assert!(!body.contains(&format!("id=\"attachment-preview-{pdf_id}\"")));
    assert!(!body.contains("<iframe"));
    let r = b.get_raw(&inline(png_id)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-frame-options"], "SAMEORIGIN");
    assert_eq!(b.get(&inline(pdf_id)).await.status, StatusCode::NOT_FOUND);
}

/// The acknowledgement as staff see it once it left: no access code on any page.
async fn the_access_code_is_on_no_staff_page(postgres: bool) {
    let app = spawn_on(postgres).await;
    let r = app
        .desk
        .intake()
        .submit(aduan_core::desk::Submission {
            channel: Some(Channel::Web),
            name: Some(CITIZEN_NAME.into()),
            email: Some(CITIZEN_EMAIL.into()),
            body: "KTP-el saya belum jadi.".into(),
            with_access_code: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let code = r.access_code.clone().unwrap();
    let ticket = r.ticket.to_string();
    let recorder = std::sync::Arc::new(Recorder::default());
    let outbox = aduan_core::outbox::Outbox::new(
        app.desk.store().clone(),
        std::sync::Arc::new(app.clock.clone()),
        std::sync::Arc::new(aduan_core::templates::Templates::new(vec![]).unwrap()),
        [(
            Channel::Email,
            recorder.clone() as std::sync::Arc<dyn aduan_core::outbox::ReplySender>,
        )]
        .into(),
    );
    assert_eq!(outbox.run_once().await.unwrap().sent, 1);
    assert!(
        recorder.0.lock().unwrap()[0].contains(&code),
        "the citizen got it"
    );
    assign(&app, &ticket, "dafduk").await;
    for user in ["ayu.kasi", "sri.staf", "kabid.pdip", "kadis", "dafduk1"] {
        let b = Browser::login(&app, user).await;
        let body = b.get(&format!("/admin/complaints/{ticket}")).await.body;
        assert!(body.contains(&ticket), "{user}");
        assert!(
            !body.contains(&code),
            "{user} sees the access code:\n{body}"
        );
        assert!(
            !body.to_lowercase().contains(&code.to_lowercase()),
            "{user}: {body}"
        );
    }
    let kasi = Browser::login(&app, "ayu.kasi").await;
    let body = kasi.get(&format!("/admin/complaints/{ticket}")).await.body;
    assert!(body.contains("Kode akses Anda: ••••••"), "{body}");
}

mod on_both_backends {
    #[tokio::test]
    async fn attachment_previews_in_the_pages_sqlite() {
        super::attachment_previews_in_the_pages(false).await
    }
    #[tokio::test]
    async fn attachment_previews_in_the_pages_postgres() {
        super::attachment_previews_in_the_pages(true).await
    }
    #[tokio::test]
    async fn attachments_in_the_pages_sqlite() {
        super::attachments_in_the_pages(false).await
    }
    #[tokio::test]
    async fn attachments_in_the_pages_postgres() {
        super::attachments_in_the_pages(true).await
    }
    #[tokio::test]
    async fn the_access_code_is_on_no_staff_page_sqlite() {
        super::the_access_code_is_on_no_staff_page(false).await
    }
    #[tokio::test]
    async fn the_access_code_is_on_no_staff_page_postgres() {
        super::the_access_code_is_on_no_staff_page(true).await
    }
}
