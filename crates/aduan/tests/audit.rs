//! The audit log as staff and operators meet it, on SQLite and PostgreSQL: every staff
//! action through the API leaves its entry (and no complainant identity), the admin pages'
//! logins, logouts and exports are recorded, `GET /api/v1/admin/audit` answers only the
//! kasi, kabid and kadis and refuses bad queries with 400, and the built `aduan` binary's
//! `audit verify` exits 0 on an intact chain and 1 naming the entry after raw-SQL tampering.

mod common;

use std::path::Path;
use std::time::Duration;

use aduan_core::desk::Verification;
use aduan_core::logbook::Month;
use aduan_core::model::NewUser;
use aduan_core::secret::{hash_secret, new_api_token};
use aduan_core::types::{Role, Username};
use chrono::Utc;
use common::{Backend, Jar, Options, TestApp, raw_sql, spawn};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_aduan");

on_both_backends!(
    every_staff_action_leaves_its_entry,
    the_audit_api_checks_roles_and_queries,
    logins_logouts_and_page_exports_are_recorded,
    the_binary_verifies_and_names_the_tampered_entry,
);

/// The complainant of these tests, in every form it could leak in.
const NAME: &str = "Ni Made Sari";
const IDENTITY: &[&str] = &[
    "Sari",
    "Ngurah Rai",
    "made.sari@example.com",
    "081234567890",
    "3456-7890",
    "5108014502900001",
];

fn citizen() -> Value {
    json!({
        "name": NAME,
        "address": "Jl. Ngurah Rai 12, Singaraja",
        "email": "made.sari@example.com",
        "phone": "081234567890",
        "target": "Loket KTP-el",
        "category": "pelayanan",
        "body": "KTP saya belum jadi. NIK saya 5108014502900001, hubungi 0812-3456-7890."
    })
}

/// The privacy oracle: none of the complainant's identity in `text`.
fn assert_no_identity(text: &str, what: &str) {
    for n in IDENTITY {
        assert!(!text.contains(n), "{what}: identity `{n}` in {text}");
    }
}

struct Tokens {
    staf: String,
    kasi: String,
    dafduk: String,
    kabid: String,
    kadis: String,
}

async fn tokens(app: &TestApp) -> Tokens {
    Tokens {
        staf: app.user("staf1", Role::Staf, None).await,
        kasi: app.user("kasi1", Role::Kasi, None).await,
        dafduk: app.user("dafduk1", Role::Bidang, Some("dafduk")).await,
        kabid: app.user("kabid1", Role::Kabid, None).await,
        kadis: app.user("kadis1", Role::Kadis, None).await,
    }
}

async fn ok(app: &TestApp, token: &str, ticket: &str, action: &str, body: Value) {
    let (st, v) = app.act(token, ticket, action, body).await;
    assert_eq!(st, 200, "{action}: {v}");
}

fn field<'a>(entries: &'a Value, key: &str) -> Vec<&'a str> {
    entries
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {entries}"))
        .iter()
        .map(|e| e[key].as_str().unwrap_or("-"))
        .collect()
}

async fn audit(app: &TestApp, token: &str, query: &str) -> Value {
    let (st, v) = app
        .get_json(&format!("/api/v1/admin/audit?{query}"), Some(token))
        .await;
    assert_eq!(st, 200, "{query}: {v}");
    v
}

fn enc(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn every_staff_action_leaves_its_entry(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let t = tokens(&app).await;
    let started = app.desk.now() - chrono::Duration::seconds(1);
    let (ticket, _) = app.submit(citizen()).await;

    // The whole procedure through the staff API.
    ok(
        &app,
        &t.kasi,
        &ticket,
        "assign",
        json!({"bidang": "dafduk", "note": "cek cetak"}),
    )
    .await;
    ok(
        &app,
        &t.kasi,
        &ticket,
        "share-identity",
        json!({"reason": "perlu konfirmasi alamat"}),
    )
    .await;
    ok(
        &app,
        &t.dafduk,
        &ticket,
        "solution",
        json!({"text": "Bu Ni Made Sari, KTP sudah dicetak."}),
    )
    .await;
    ok(
        &app,
        &t.kasi,
        &ticket,
        "review",
        json!({"decision": "return", "note": "sebutkan jam"}),
    )
    .await;
    ok(
        &app,
        &t.dafduk,
        &ticket,
        "solution",
        json!({"text": "KTP dicetak, loket 3."}),
    )
    .await;
    ok(
        &app,
        &t.kasi,
        &ticket,
        "review",
        json!({"decision": "approve"}),
    )
    .await;
    ok(
        &app,
        &t.staf,
        &ticket,
        "follow-up",
        json!({"message": "Yth. Ni Made Sari, KTP siap."}),
    )
    .await;
    ok(&app, &t.kabid, &ticket, "sign", json!({})).await;
    // A refused action (409) writes nothing.
    let (st, _) = app.act(&t.kabid, &ticket, "sign", json!({})).await;
    assert_eq!(st, 409);

    // A manual entry, closed as not a complaint.
    let (st, v) = app
        .post_json(
            "/api/v1/admin/complaints",
            Some(&t.staf),
            json!({"channel": "phone", "name": NAME, "phone": "081234567890",
                   "body": "Menanyakan jadwal perekaman KTP-el."}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let manual = v["ticket"].as_str().unwrap().to_string();
    ok(
        &app,
        &t.kasi,
        &manual,
        "close",
        json!({"status": "tidak", "reason": "bukan pengaduan"}),
    )
    .await;

    // The logbook in every format.
    let tz = app.desk.config().policy.calendar.timezone();
    let month = Month::of(app.desk.now(), tz);
    for format in ["json", "csv", "xlsx", "html"] {
        let r = app
            .http
            .get(app.url(&format!(
                "/api/v1/admin/logbook?month={month}&format={format}"
            )))
            .bearer_auth(&t.kasi)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{format}");
    }

    // The previous month's report: conclusion, delivery, decision, receipt, re-send.
    let prev = month.prev();
    let (st, v) = app
        .get_json(&format!("/api/v1/admin/reports/{prev}"), Some(&t.kasi))
        .await;
    assert_eq!(st, 200, "{v}");
    let report = |p: &str| format!("/api/v1/admin/reports/{prev}/{p}");
    let (st, v) = app
        .post_json(
            &report("conclusion"),
            Some(&t.kasi),
            json!({"text": "Antrian KTP-el."}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    app.desk.reports().report_delivered(prev).await.unwrap();
    let (st, v) = app
        .post_json(
            &report("decision"),
            Some(&t.kadis),
            json!({"text": "Tambah loket."}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = app
        .post_json(&report("receipt"), Some(&t.kasi), json!({}))
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = app
        .post_json(&report("send"), Some(&t.kasi), json!({}))
        .await;
    assert_eq!(st, 202, "{v}");
    // Refused (409): already received; no entry.
    let (st, _) = app
        .post_json(&report("receipt"), Some(&t.kasi), json!({}))
        .await;
    assert_eq!(st, 409);

    // One complaint's entries, oldest first, by whom.
    let e = audit(&app, &t.kasi, &format!("ticket={ticket}")).await;
    assert_eq!(
        field(&e, "action"),
        [
            "assign",
            "share_identity",
            "solution",
            "return",
            "solution",
            "approve",
            "follow_up",
            "sign"
        ]
    );
    assert_eq!(
        field(&e, "actor"),
        [
            "kasi1", "kasi1", "dafduk1", "kasi1", "dafduk1", "kasi1", "staf1", "kabid1"
        ]
    );
    assert_eq!(
        field(&e, "role"),
        [
            "kasi", "kasi", "bidang", "kasi", "bidang", "kasi", "staf", "kabid"
        ]
    );
    assert_eq!(
        e[0]["detail"],
        json!({"from": "triage", "to": "in_bidang", "bidang": "dafduk"})
    );
    assert_eq!(e[1]["detail"]["reason"], "perlu konfirmasi alamat");
    assert_eq!(e[1]["detail"]["bidang"], "dafduk");
    assert_eq!(e[3]["detail"]["reason"], "sebutkan jam");
    assert_eq!(e[7]["detail"], json!({"from": "closed", "to": "closed"}));
    for x in e.as_array().unwrap() {
        assert_eq!(x["ticket"], ticket.as_str());
        assert_eq!(x["hash"].as_str().unwrap().len(), 64);
    }
    let m = audit(&app, &t.kabid, &format!("ticket={manual}")).await;
    assert_eq!(field(&m, "action"), ["manual_entry", "close"]);
    assert_eq!(field(&m, "actor"), ["staf1", "kasi1"]);
    assert_eq!(m[0]["detail"]["channel"], "phone");
    assert_eq!(m[1]["detail"]["reason"], "bukan pengaduan");

    // Everything in the time range, in chain order.
    let until = app.desk.now() + chrono::Duration::seconds(1);
    let range = format!(
        "from={}&to={}",
        enc(&started.to_rfc3339()),
        enc(&until.to_rfc3339())
    );
    let all = audit(&app, &t.kadis, &range).await;
    let mut expected = vec![
        "assign",
        "share_identity",
        "solution",
        "return",
        "solution",
        "approve",
        "follow_up",
        "sign",
        "manual_entry",
        "close",
    ];
    expected.extend(["logbook_export"; 4]);
    expected.extend([
        "report_conclusion",
        "digest_delivered",
        "report_decision",
        "report_receipt",
        "report_resend",
    ]);
    assert_eq!(field(&all, "action"), expected);
    let exports: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["action"] == "logbook_export")
        .collect();
    let formats: Vec<&str> = exports
        .iter()
        .map(|x| x["detail"]["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["json", "csv", "xlsx", "html"]);
    for x in &exports {
        assert_eq!(x["detail"]["month"], month.to_string());
        assert_eq!(x["detail"]["via"], "api");
        assert_eq!(x["actor"], "kasi1");
    }
    let by = |a: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|x| x["action"] == a)
            .unwrap()
            .clone()
    };
    assert_eq!(by("digest_delivered")["actor"], "system");
    assert_eq!(by("digest_delivered")["detail"]["month"], prev.to_string());
    assert_eq!(by("report_decision")["actor"], "kadis1");
    assert_eq!(by("report_receipt")["detail"]["from"], "decided");
    let ids: Vec<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (1..=ids.len() as i64).collect::<Vec<_>>());
    // The whole log carries no complainant identity (the texts typed for the citizen and
    // the solution quoting her name stay out).
    assert_no_identity(&all.to_string(), "audit log");

    // Dates in the office time zone cover whole days.
    let today = app.desk.now().with_timezone(&tz).date_naive();
    let days = format!(
        "from={}&to={}",
        today.pred_opt().unwrap(),
        today.succ_opt().unwrap()
    );
    assert_eq!(audit(&app, &t.kasi, &days).await, all);

    // The chain verifies, with one entry per listed action.
    match app.desk.audit().verify().await.unwrap() {
        Verification::Intact(s) => {
            assert_eq!(s.entries as usize, expected.len());
            assert_eq!(s.head, all[expected.len() - 1]["hash"]);
        }
        Verification::Broken { first, .. } => panic!("{first}"),
    }
}

async fn the_audit_api_checks_roles_and_queries(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let t = tokens(&app).await;
    let (ticket, _) = app.submit(citizen()).await;
    ok(
        &app,
        &t.kasi,
        &ticket,
        "assign",
        json!({"bidang": "dafduk"}),
    )
    .await;
    ok(
        &app,
        &t.kasi,
        &ticket,
        "share-identity",
        json!({"reason": "kunjungan"}),
    )
    .await;
    ok(
        &app,
        &t.dafduk,
        &ticket,
        "solution",
        json!({"text": "selesai"}),
    )
    .await;

    // Staf and bidang: 403, whatever the query; no token: 401.
    for token in [&t.staf, &t.dafduk] {
        for q in [
            format!("ticket={ticket}"),
            "from=kemarin".to_string(),
            String::new(),
        ] {
            let (st, v) = app
                .get_json(&format!("/api/v1/admin/audit?{q}"), Some(token))
                .await;
            assert_eq!(st, 403, "{q}: {v}");
            assert_eq!(v["error"]["code"], "forbidden", "{v}");
        }
    }
    let (st, _) = app
        .get_json(&format!("/api/v1/admin/audit?ticket={ticket}"), None)
        .await;
    assert_eq!(st, 401);
    for token in [&t.kasi, &t.kabid, &t.kadis] {
        let e = audit(&app, token, &format!("ticket={ticket}")).await;
        assert_eq!(
            field(&e, "action"),
            ["assign", "share_identity", "solution"]
        );
    }

    // Bad queries: 400 with a message naming the parameter.
    for (q, needle) in [
        ("", "ticket"),
        ("from=2026-03-01", "ticket"),
        ("to=2026-03-01", "ticket"),
        ("ticket=ADU-1", "ticket"),
        ("from=2026-13-01&to=2026-03-02", "from"),
        ("from=2026-03-01&to=besok", "to"),
        ("from=2026-03-05&to=2026-03-01", "to"),
        ("from=2026-03-02T10:00:00Z&to=2026-03-02T10:00:00Z", "to"),
        ("ticket=ADU-202603-0001&foo=1", "foo"),
        ("ticket=ADU-202603-0001&limit=0", "limit"),
        ("ticket=ADU-202603-0001&limit=1001", "limit"),
        ("ticket=ADU-202603-0001&limit=x", "limit"),
        ("ticket=ADU-202603-0001&after=satu", "after"),
    ] {
        let (st, v) = app
            .get_json(&format!("/api/v1/admin/audit?{q}"), Some(&t.kasi))
            .await;
        assert_eq!(st, 400, "{q}: {v}");
        assert_eq!(v["error"]["code"], "bad_request", "{q}: {v}");
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{q}: {msg}");
    }

    // Paging: `limit` and `after`.
    let first = audit(&app, &t.kasi, &format!("ticket={ticket}&limit=2")).await;
    assert_eq!(field(&first, "action"), ["assign", "share_identity"]);
    let last_id = first[1]["id"].as_i64().unwrap();
    let rest = audit(&app, &t.kasi, &format!("ticket={ticket}&after={last_id}")).await;
    assert_eq!(field(&rest, "action"), ["solution"]);
    // A ticket without entries: an empty list.
    let none = audit(&app, &t.kasi, "ticket=ADU-202001-0001").await;
    assert_eq!(none, json!([]));
}

/// The admin pages as a browser without JavaScript sees them (no redirects followed).
struct Pages {
    http: reqwest::Client,
    base: String,
    jar: Jar,
}

fn csrf_of(html: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap();
    re.captures(html)
        .unwrap_or_else(|| panic!("no csrf field in page:\n{html}"))[1]
        .to_string()
}

impl Pages {
    fn new(app: &TestApp) -> Self {
        Pages {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            jar: Jar::default(),
        }
    }
    async fn get(&mut self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.jar.header())
            .send()
            .await
            .unwrap();
        self.jar.take(&r);
        (r.status().as_u16(), r.text().await.unwrap())
    }
    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> u16 {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.jar.header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.jar.take(&r);
        r.status().as_u16()
    }
    async fn login(&mut self, user: &str, password: &str) -> u16 {
        let (st, html) = self.get("/admin/login").await;
        assert_eq!(st, 200);
        let csrf = csrf_of(&html);
        self.post(
            "/admin/login",
            &[("username", user), ("password", password), ("csrf", &csrf)],
        )
        .await
    }
}

/// An account with a password for the admin pages (argon2id with small parameters).
async fn user_with_password(app: &TestApp, name: &str, role: Role, password: &str) {
    use argon2::PasswordHasher as _;
    let params = argon2::Params::new(1024, 1, 1, None).unwrap();
    let phc = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes())
        .unwrap()
        .to_string();
    app.desk
        .store()
        .create_user(NewUser {
            username: Username::parse(name).unwrap(),
            role,
            bidang: None,
            display_name: None,
            token_hash: hash_secret(&new_api_token()),
            password_hash: Some(phc),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
}

async fn logins_logouts_and_page_exports_are_recorded(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let password = "rahasia-kasi-123";
    user_with_password(&app, "ayu.kasi", Role::Kasi, password).await;
    let reader = app.user("kadis1", Role::Kadis, None).await;

    let mut p = Pages::new(&app);
    assert_eq!(p.login("ayu.kasi", "salah-sekali").await, 401);
    assert_eq!(p.login("tidak.ada", password).await, 401);
    assert_eq!(p.login("ayu.kasi", password).await, 303);
    assert!(p.jar.header().contains("aduan_sesi="), "no session cookie");
    let month = Month::of(app.desk.now(), app.desk.config().policy.calendar.timezone());
    let (st, _) = p.get(&format!("/admin/logbook/{month}/export/csv")).await;
    assert_eq!(st, 200);
    let (st, home) = p.get("/admin").await;
    assert_eq!(st, 200);
    let csrf = csrf_of(&home);
    assert_eq!(p.post("/admin/logout", &[("csrf", &csrf)]).await, 303);

    let from = app.desk.now() - chrono::Duration::hours(1);
    let to = app.desk.now() + chrono::Duration::hours(1);
    let q = format!(
        "from={}&to={}",
        enc(&from.to_rfc3339()),
        enc(&to.to_rfc3339())
    );
    let e = audit(&app, &reader, &q).await;
    assert_eq!(
        field(&e, "action"),
        [
            "login_failed",
            "login_failed",
            "login",
            "logbook_export",
            "logout"
        ]
    );
    assert_eq!(
        field(&e, "actor"),
        ["ayu.kasi", "tidak.ada", "ayu.kasi", "ayu.kasi", "ayu.kasi"]
    );
    assert_eq!(field(&e, "role"), ["kasi", "none", "kasi", "kasi", "kasi"]);
    assert_eq!(e[0]["detail"]["reason"], "wrong_password");
    assert_eq!(e[1]["detail"]["reason"], "unknown_user");
    assert_eq!(e[3]["detail"]["via"], "admin");
    assert_eq!(e[3]["detail"]["format"], "csv");
    // Never a password, right or wrong.
    let text = e.to_string();
    assert!(
        !text.contains(password) && !text.contains("salah-sekali"),
        "{text}"
    );
}

/// Run the built binary with `config`; returns (exit code, stdout, stderr).
async fn run(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn the_binary_verifies_and_names_the_tampered_entry(b: Backend) {
    let (sink, mut inbox) = aduan_channel_email::testing::SmtpSink::start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = common::database_url(b, dir.path()).await;
    let cfg = common::write_config(dir.path(), &url, "127.0.0.1:0", "off", true, 1 << 20);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "[channels.email]\nenabled = true\nimap_host = \"\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\nsmtp_security = \"none\"\nfrom = \"Pengaduan <pengaduan@buleleng.example>\"\n",
        sink.port()
    ));
    std::fs::write(&cfg, text).unwrap();

    // An empty log verifies.
    let (code, out, err) = run(&cfg, &["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("audit chain intact: 0 entries"), "{out}");

    // Account changes, an export and a digest delivery, each an entry.
    let (code, _, err) = run(
        &cfg,
        &["user", "add", "--username", "kasi1", "--role", "kasi"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(
        &cfg,
        &["user", "add", "--username", "kadis1", "--role", "kadis"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let csv = dir.path().join("logbook.csv");
    let csv_arg = csv.to_str().unwrap();
    let (code, _, err) = run(
        &cfg,
        &[
            "export", "--month", "2026-03", "--format", "csv", "--out", csv_arg,
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&cfg, &["digest", "--month", "2026-02", "--send"]).await;
    assert_eq!(code, 0, "{err}");
    tokio::time::timeout(Duration::from_secs(10), inbox.recv())
        .await
        .expect("digest mail")
        .expect("digest mail");
    let (code, _, err) = run(&cfg, &["user", "disable", "kadis1"]).await;
    assert_eq!(code, 0, "{err}");
    // A refused change (no such user) writes no entry.
    let (code, _, _) = run(&cfg, &["user", "disable", "nobody"]).await;
    assert_eq!(code, 1);

    let (code, out, err) = run(&cfg, &["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("audit chain intact: 5 entries, head "),
        "{out}"
    );
    let head = out.trim().rsplit(' ').next().unwrap().to_string();
    assert_eq!(head.len(), 64, "{out}");

    // What the entries are, read through the store.
    // (Audit entries carry no identity and are not sealed: any key reads them.)
    let store = aduan_store::testing::connect(&url).await.unwrap();
    let chain = store.audit_chain(i64::MIN, 100).await.unwrap();
    let actions: Vec<&str> = chain.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "user_add",
            "user_add",
            "logbook_export",
            "digest_delivered",
            "user_disable"
        ]
    );
    assert_eq!(
        chain[0].detail,
        r#"{"bidang":null,"password":false,"role":"kasi","username":"kasi1"}"#
    );
    assert_eq!(chain[2].detail_json()["via"], "cli");
    assert_eq!(chain[3].detail_json()["month"], "2026-02");
    assert!(chain.iter().all(|e| e.actor == "system"));
    assert_eq!(chain[4].hash, head);

    // A detail changed with raw SQL: exit 1, naming entry 3.
    let n = raw_sql(
        b,
        &url,
        r#"UPDATE audit_log SET detail = '{"format":"csv","month":"2026-04","rows":0,"via":"cli"}' WHERE id = 3"#,
    )
    .await;
    assert_eq!(n, 1);
    let (code, out, err) = run(&cfg, &["audit", "verify"]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("audit chain broken at entry 3 (")
            && err.contains("action logbook_export")
            && err.contains("hash mismatch")
            && err.contains("the 2 entries before it verify"),
        "{err}"
    );

    // Put back, then a middle row deleted: exit 1, naming the entry after it.
    let original = chain[2].detail.replace('\'', "''");
    raw_sql(
        b,
        &url,
        &format!("UPDATE audit_log SET detail = '{original}' WHERE id = 3"),
    )
    .await;
    let (code, out, err) = run(&cfg, &["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        raw_sql(b, &url, "DELETE FROM audit_log WHERE id = 2").await,
        1
    );
    let (code, out, err) = run(&cfg, &["audit", "verify"]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("audit chain broken at entry 3 (") && err.contains("broken link"),
        "{err}"
    );
    drop(store);
    if b == Backend::Postgres {
        aduan_store::testing::drop_postgres_database(&url).await;
    }
}
