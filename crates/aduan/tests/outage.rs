//! A day-long outage of every reply platform (SPEC §2 `[outbox] retry_for`, issue 14:
//! Nyepi's 24-hour internet shutdown): SMTP, the Bot API and the Graph API all refuse for
//! 24 hours of an injected clock. No reply (acknowledgements on e-mail, Telegram and
//! WhatsApp, and the SLA escalation mail) is lost or sent twice; staff see them
//! "tertunda" with the next attempt time; `/readyz` lists the senders that are down
//! (without recipient or token) and clears them once sends succeed; everything is
//! delivered after the outage.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aduan_channel_email::testing::{RcptReply, SmtpSink};
use aduan_core::desk::{Clock as _, Inbound, Submission};
use aduan_core::model::{AckRoute, NewUser, ReplyThread};
use aduan_core::secret::{hash_secret, new_api_token};
use aduan_core::types::{Channel, Role, Username};
use axum::body::{Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, TimeZone, Utc};
use common::{Backend, Jar, ManualClock, Options, TestApp, spawn};
use serde_json::{Value, json};

const TG_TOKEN: &str = "123456:SECRET-BOT-TOKEN";
const WA_TOKEN: &str = "wa-secret-access-token";
const CHAT: &str = "4242";
const WA_NUMBER: &str = "6281234567890";
const CITIZEN: &str = "warga.nyepi@example.com";

/// A fake Bot API and Graph API in one server, answering like the platforms; records
/// every accepted send. It is reached through a [`Gate`], which is how it goes down.
#[derive(Default)]
struct Platforms {
    /// (platform, recipient) of every accepted send.
    sent: Mutex<Vec<(&'static str, String)>>,
}

async fn platform(State(p): State<Arc<Platforms>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let bytes: Bytes = to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let lower = path.to_ascii_lowercase();
    let telegram = lower.ends_with("/sendmessage");
    let graph = lower.ends_with("/messages");
    if telegram {
        let chat = body["chat_id"]
            .as_i64()
            .map(|c| c.to_string())
            .or_else(|| body["chat_id"].as_str().map(str::to_string))
            .unwrap_or_default();
        let n = {
            let mut s = p.sent.lock().unwrap();
            s.push(("telegram", chat.clone()));
            s.len()
        };
        return axum::Json(json!({"ok": true, "result": {
            "message_id": 1000 + n,
            "from": {"id": 999, "is_bot": true, "first_name": "Aduan", "username": "aduan_bot"},
            "chat": {"id": chat.parse::<i64>().unwrap_or(0), "type": "private", "first_name": "Komang"},
            "date": Utc::now().timestamp(),
            "text": body["text"].as_str().unwrap_or("")
        }}))
        .into_response();
    }
    if graph {
        let to = body["to"].as_str().unwrap_or("").to_string();
        let n = {
            let mut s = p.sent.lock().unwrap();
            s.push(("whatsapp", to.clone()));
            s.len()
        };
        return axum::Json(json!({"messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": format!("wamid.OUT{n}")}]}))
        .into_response();
    }
    // setWebhook, getMe and the like.
    axum::Json(json!({"ok": true, "result": true})).into_response()
}

/// The internet between the daemon and the platforms: while `down`, every connection is
/// closed at once (and the open ones were cut), as in Nyepi's shutdown.
#[derive(Default)]
struct Gate {
    down: AtomicBool,
    refused: AtomicUsize,
    conns: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Gate {
    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// The fake platforms behind a gate; returns them, the gate and the gate's port.
async fn start_platforms() -> (Arc<Platforms>, Arc<Gate>, u16) {
    let p = Arc::new(Platforms::default());
    let app = axum::Router::new().fallback(platform).with_state(p.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inner = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let gate = Arc::new(Gate::default());
    let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = front.local_addr().unwrap().port();
    let g = gate.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = front.accept().await else {
                continue;
            };
            if g.down.load(Ordering::SeqCst) {
                g.refused.fetch_add(1, Ordering::SeqCst);
                drop(client);
                continue;
            }
            let relay = tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(inner).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
            g.conns.lock().unwrap().push(relay.abort_handle());
        }
    });
    (p, gate, port)
}

/// Log in to the admin pages as a new kasi with a password; returns the client and jar.
async fn admin_session(app: &TestApp) -> (reqwest::Client, Jar) {
    use argon2::PasswordHasher as _;
    let params = argon2::Params::new(1024, 1, 1, None).unwrap();
    let phc = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(b"rahasia-kasi-123")
        .unwrap()
        .to_string();
    app.desk
        .store()
        .create_user(NewUser {
            username: Username::parse("kasipage").unwrap(),
            role: Role::Kasi,
            bidang: None,
            display_name: None,
            token_hash: hash_secret(&new_api_token()),
            password_hash: Some(phc),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut jar = Jar::default();
    let r = http.get(app.url("/admin/login")).send().await.unwrap();
    jar.take(&r);
    let html = r.text().await.unwrap();
    let csrf = regex::Regex::new(r#"name="csrf" value="([^"]+)""#)
        .unwrap()
        .captures(&html)
        .unwrap_or_else(|| panic!("no csrf field:\n{html}"))[1]
        .to_string();
    let r = http
        .post(app.url("/admin/login"))
        .header(reqwest::header::COOKIE, jar.header())
        .form(&[
            ("username", "kasipage"),
            ("password", "rahasia-kasi-123"),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "login: {}", r.status());
    jar.take(&r);
    (http, jar)
}

async fn chat_complaint(app: &TestApp, channel: Channel, handle: &str, ext: &str) -> String {
    let received = app
        .desk
        .intake()
        .receive(Inbound {
            submission: Submission {
                channel: Some(channel),
                external_id: Some(ext.into()),
                handle: Some(handle.into()),
                body: format!("Akta kelahiran belum jadi ({channel})."),
                ack_to: Some(AckRoute {
                    channel,
                    recipient: handle.into(),
                    thread: ReplyThread::default(),
                }),
                ..Default::default()
            },
            thread: vec![],
            cursor: None,
        })
        .await
        .unwrap();
    match received {
        aduan_core::desk::Received::Created(r) => r.ticket.to_string(),
        other => panic!("not created: {other:?}"),
    }
}

/// Drain the outbox at the current (injected) time.
async fn drain(app: &TestApp) {
    for _ in 0..20 {
        if app.outbox.run_once().await.unwrap().claimed == 0 {
            return;
        }
    }
    panic!("the outbox did not drain");
}

async fn replies(app: &TestApp, token: &str, ticket: &str) -> Vec<Value> {
    let (st, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(token))
        .await;
    assert_eq!(st, 200, "{d}");
    d["replies"].as_array().unwrap().clone()
}

async fn a_day_long_outage_loses_nothing_and_sends_nothing_twice(b: Backend) {
    let (sink, mut mails) = SmtpSink::start().await.unwrap();
    let (platforms, gate, port) = start_platforms().await;
    let t0 = Utc.with_ymd_and_hms(2026, 3, 18, 16, 0, 0).unwrap(); // Nyepi eve, 00:00 WITA
    let clock = ManualClock::new(t0);
    let mut o = Options::new(b);
    o.clock = Some(Arc::new(clock.clone()));
    o.no_outbox_worker = true;
    // The test escalates itself and counts the escalation mails against its own calls.
    o.no_sla_timer = true;
    o.extra_config = format!(
        r#"
[outbox]
retry_for = "48h"
[channels.email]
enabled = true
imap_host = ""
smtp_host = "127.0.0.1"
smtp_port = {smtp}
smtp_security = "none"
from = "pengaduan@example.go.id"
[channels.telegram]
enabled = true
token = "{TG_TOKEN}"
api_url = "http://127.0.0.1:{port}"
mode = "webhook"
webhook_secret = "s3cret-token"
[channels.meta]
enabled = true
app_secret = "test-app-secret"
verify_token = "verify-me"
graph_api_url = "http://127.0.0.1:{port}/v25.0"
whatsapp_phone_number_id = "1234567890"
whatsapp_access_token = "{WA_TOKEN}"
whatsapp_answer_template = "status_pengaduan"
"#,
        smtp = sink.port()
    );
    let app = spawn(o).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;

    // The outage starts before the first attempt.
    sink.set_rcpt_reply(RcptReply::TempFail);
    gate.cut();
    let (web_ticket, _) = app
        .submit(json!({"email": CITIZEN, "body": "KTP-el saya belum jadi."}))
        .await;
    let tg_ticket = chat_complaint(&app, Channel::Telegram, CHAT, "4242:1").await;
    let wa_ticket = chat_complaint(&app, Channel::Whatsapp, WA_NUMBER, "wamid.IN1").await;
    let tickets = [web_ticket.clone(), tg_ticket.clone(), wa_ticket.clone()];

    // 24 hours in 10-minute steps; the SLA escalation (receive step: 10 min) is queued
    // during the outage too.
    let mut escalated = 0;
    for step in 1..=144 {
        clock.advance(Duration::minutes(10));
        escalated += app
            .desk
            .reports()
            .escalate_due(&["kasi@example.go.id".to_string()])
            .await
            .unwrap();
        drain(&app).await;
        if step == 72 {
            // Half-way: every reply pending, held up, with its next attempt ahead.
            for t in &tickets {
                for r in replies(&app, &kasi, t).await {
                    assert_eq!(r["status"], "pending", "{t}: {r}");
                    assert!(r["attempts"].as_i64().unwrap() > 0, "{r}");
                    let next: chrono::DateTime<Utc> =
                        serde_json::from_value(r["next_attempt_at"].clone()).unwrap();
                    assert!(next > clock.now() - Duration::minutes(1), "{r}");
                    assert!(next <= clock.now() + Duration::minutes(15), "{r}");
                }
            }
            let (http, jar) = admin_session(&app).await;
            let page = http
                .get(app.url(&format!("/admin/complaints/{web_ticket}")))
                .header(reqwest::header::COOKIE, jar.header())
                .send()
                .await
                .unwrap();
            assert_eq!(page.status(), 200);
            let html = page.text().await.unwrap();
            assert!(html.contains("tertunda"), "no 'tertunda' on the page");
            assert!(
                html.contains("dicoba lagi") && html.contains("WITA"),
                "no next attempt time in office time"
            );
            // /readyz lists the senders that are down, without recipient or token, and
            // the replica stays ready (it still takes complaints).
            let (st, r) = app.get_json("/readyz", None).await;
            assert_eq!(st, 200, "{r}");
            for p in ["email", "telegram", "whatsapp"] {
                assert!(r["senders"][p].is_string(), "{p} not shown down: {r}");
            }
            let text = r.to_string();
            for secret in [CITIZEN, WA_NUMBER, TG_TOKEN, WA_TOKEN, "SECRET-BOT-TOKEN"] {
                assert!(!text.contains(secret), "{secret} on /readyz: {text}");
            }
        }
    }
    assert!(escalated > 0, "no SLA escalation was queued");
    assert!(gate.refused.load(Ordering::SeqCst) > 100);
    assert!(platforms.sent.lock().unwrap().is_empty());
    assert!(
        mails.try_recv().is_err(),
        "a mail went out during the outage"
    );

    // The outage ends: within one capped backoff everything goes out, once.
    sink.set_rcpt_reply(RcptReply::Accept);
    gate.restore();
    for _ in 0..4 {
        clock.advance(Duration::minutes(5));
        drain(&app).await;
    }
    for t in &tickets {
        for r in replies(&app, &kasi, t).await {
            assert_eq!(r["status"], "sent", "{t}: {r}");
            assert!(r["next_attempt_at"].is_null(), "{r}");
        }
    }
    let sent = platforms.sent.lock().unwrap().clone();
    assert_eq!(
        sent.iter()
            .filter(|(p, to)| *p == "telegram" && to == CHAT)
            .count(),
        1,
        "{sent:?}"
    );
    assert_eq!(
        sent.iter()
            .filter(|(p, to)| *p == "whatsapp" && to == WA_NUMBER)
            .count(),
        1,
        "{sent:?}"
    );
    let mut to_citizen = 0;
    let mut to_kasi = 0;
    while let Ok(m) = mails.try_recv() {
        for r in &m.rcpt_to {
            if r == CITIZEN {
                to_citizen += 1;
            } else if r == "kasi@example.go.id" {
                to_kasi += 1;
            }
        }
    }
    assert_eq!(to_citizen, 1, "the acknowledgement exactly once");
    assert_eq!(to_kasi, escalated, "each escalation mail exactly once");
    // Nothing more is due, and /readyz shows the senders healthy again.
    clock.advance(Duration::hours(3));
    drain(&app).await;
    assert_eq!(platforms.sent.lock().unwrap().len(), sent.len());
    assert!(mails.try_recv().is_err(), "a mail was sent twice");
    let (st, r) = app.get_json("/readyz", None).await;
    assert_eq!(st, 200, "{r}");
    for p in ["email", "telegram", "whatsapp"] {
        assert!(r["senders"][p].is_null(), "{p} still shown down: {r}");
    }
}

on_both_backends!(a_day_long_outage_loses_nothing_and_sends_nothing_twice);
