//! No identity in the daemon's logs at `info` and `debug`, nor on `/metrics`, nor an access
//! code in a request log: the real binary runs with `RUST_LOG=debug` (every crate, sqlx,
//! tower-http, teloxide and the rest included) while random citizens file complaints by the
//! web form (with an attachment `KTP_<nama>_<NIK>.jpg`), the JSON API (then read their
//! status with their access code, by the API and the status page), Telegram (webhook) and e-mail (a
//! real Dovecot); each complaint is acknowledged, routed, solved, approved and answered
//! on its own channel (SMTP sink, a local Bot API). Every line of stderr and stdout goes
//! through the privacy oracle. On SQLite and PostgreSQL.

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aduan_channel_email::testing::SmtpSink;
use aduan_channel_email::testing::dovecot::{Dovecot, PASSWORD, USER};
use aduan_core::testing::privacy::{Citizen, PrivacyOracle, citizen, sample};
use common::Backend;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_aduan");
const BOT_TOKEN: &str = "123456:PRIVACY-test_token";
const WEBHOOK_SECRET: &str = "privacy-webhook-secret";

/// A local Bot API that answers `sendMessage` (and counts the calls).
async fn fake_bot_api() -> (String, Arc<Mutex<Vec<Value>>>) {
    use axum::routing::post;
    let calls = Arc::new(Mutex::new(Vec::<Value>::new()));
    let c = calls.clone();
    let app = axum::Router::new().route(
        "/{bot}/{method}",
        post(
            move |axum::extract::Path((_, method)): axum::extract::Path<(String, String)>,
                  body: axum::body::Bytes| {
                let c = c.clone();
                async move {
                    let params: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
                    let chat = params["chat_id"].as_i64().unwrap_or(1);
                    let mut calls = c.lock().unwrap();
                    calls.push(json!({"method": method, "params": params}));
                    axum::Json(json!({"ok": true, "result": {
                        "message_id": 100 + calls.len(),
                        "date": 1767229200,
                        "chat": {"id": chat, "type": "private", "first_name": "x"},
                        "text": "ok"
                    }}))
                }
            },
        ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, calls)
}

fn add_user(cfg: &std::path::Path, name: &str, role: &str, bidang: Option<&str>) -> String {
    let mut c = std::process::Command::new(BIN);
    c.arg("--config")
        .arg(cfg)
        .args(["user", "add", "--username", name, "--role", role])
        .env("RUST_LOG", "debug");
    if let Some(b) = bidang {
        c.args(["--bidang", b]);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string()
}

fn raw_mail(c: &Citizen) -> Vec<u8> {
    format!(
        "From: {} <{}>\r\nTo: pengaduan@buleleng.example\r\nSubject: Pengaduan KTP-el\r\n\
         Message-ID: <{}@mail.example>\r\nDate: Tue, 01 Dec 2026 08:00:00 +0800\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
        c.name,
        c.email,
        c.chat_id,
        c.complaint_text(false)
    )
    .into_bytes()
}

async fn poll<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..secs * 5 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn logs_and_metrics_carry_no_identity(b: Backend) {
    let dovecot = Dovecot::start().expect("a private Dovecot (scripts/dovecot-test)");
    let (sink, mut inbox) = SmtpSink::start().await.unwrap();
    let (bot_url, bot_calls) = fake_bot_api().await;
    let dir = tempfile::tempdir().unwrap();
    let url = common::database_url(b, dir.path()).await;
    let cfg = common::write_config(dir.path(), &url, "127.0.0.1:0", "off", false, 1 << 20);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        r#"
[channels.email]
enabled = true
imap_host = "127.0.0.1"
imap_port = {imap}
imap_security = "none"
username = "{USER}"
password = "{PASSWORD}"
poll_interval = "1s"
smtp_host = "127.0.0.1"
smtp_port = {smtp}
smtp_security = "none"
from = "Pengaduan <pengaduan@buleleng.example>"
[channels.telegram]
enabled = true
token = "{BOT_TOKEN}"
api_url = "{bot_url}"
mode = "webhook"
webhook_secret = "{WEBHOOK_SECRET}"
"#,
        imap = dovecot.port(),
        smtp = sink.port(),
    ));
    std::fs::write(&cfg, text).unwrap();
    let kasi = add_user(&cfg, "kasi1", "kasi", None);
    let staf = add_user(&cfg, "staf1", "staf", None);
    let dafduk = add_user(&cfg, "dafduk1", "bidang", Some("dafduk"));

    let mut child = tokio::process::Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .env("RUST_LOG", "debug")
        .env("ADUAN_ADMIN_SESSION_SECRET", "privacy-test-secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut readers = Vec::new();
    for stream in [
        Box::new(child.stderr.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(child.stdout.take().unwrap()),
    ] {
        let log = log.clone();
        readers.push(tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                log.lock().unwrap().push(l);
            }
        }));
    }
    let mut addr = String::new();
    poll("listening on", 60, || {
        let found = log.lock().unwrap().iter().find_map(|l| {
            l.split("listening on ")
                .nth(1)
                .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
        });
        if let Some(a) = found {
            addr = a;
        }
        std::future::ready(!addr.is_empty())
    })
    .await;
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let (seed, cs) = sample(citizen(), 4);
    eprintln!("privacy oracle seed: {seed} (replay with ADUAN_ORACLE_SEED={seed})");
    let oracles: Vec<PrivacyOracle> = cs.iter().map(PrivacyOracle::for_citizen).collect();
    let mut codes = Vec::new();

    // Web form with an attachment.
    let form = reqwest::multipart::Form::new()
        .text("name", cs[0].name.clone())
        .text("address", cs[0].address.clone())
        .text("email", cs[0].email.clone())
        .text("phone", cs[0].phone.clone())
        .text("body", cs[0].complaint_text(true))
        .part(
            "attachments",
            reqwest::multipart::Part::bytes(vec![0xFF, 0xD8, 0xFF, 0xE0, 9])
                .file_name(cs[0].attachment_name.clone())
                .mime_str("image/jpeg")
                .unwrap(),
        );
    let r = http
        .post(format!("{base}/pengaduan"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let code_re = regex::Regex::new(r#"id="access-code">([A-Z0-9]{10})<"#).unwrap();
    codes.push(code_re.captures(&html).expect("receipt shows the code")[1].to_string());

    // JSON API, then the status and a message with the access code.
    let r = http
        .post(format!("{base}/api/v1/complaints"))
        .json(
            &json!({"name": cs[1].name, "address": cs[1].address, "email": cs[1].email,
                      "phone": cs[1].phone, "body": cs[1].complaint_text(true)}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let (t1, code1) = (
        v["ticket"].as_str().unwrap().to_string(),
        v["access_code"].as_str().unwrap().to_string(),
    );
    codes.push(code1.clone());
    let r = http
        .get(format!("{base}/api/v1/complaints/{t1}/status?code={code1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{base}/pengaduan/status?ticket={t1}&code={code1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Telegram (webhook).
    let update = json!({
        "update_id": 77001,
        "message": {"message_id": 11, "date": 1767229200,
            "chat": {"id": cs[2].chat_id, "type": "private", "first_name": cs[2].name},
            "from": {"id": cs[2].chat_id, "is_bot": false, "first_name": cs[2].name},
            "text": cs[2].complaint_text(false)}
    });
    let r = http
        .post(format!("{base}/webhooks/telegram"))
        .header("X-Telegram-Bot-Api-Secret-Token", WEBHOOK_SECRET)
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // E-mail, read from the mailbox.
    dovecot
        .write_maildir(USER, [raw_mail(&cs[3])])
        .expect("mail delivered to the test mailbox");

    let get = |path: String, token: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let r = http
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        }
    };
    let mut tickets: Vec<String> = Vec::new();
    for _ in 0..300 {
        let q = get("/api/v1/admin/queue?state=triage".into(), kasi.clone()).await;
        tickets = q
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|l| l["ticket"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        if tickets.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(tickets.len(), 4, "web, API, Telegram and e-mail complaints");
    let act = |token: String, ticket: String, action: &str, body: Value| {
        let http = http.clone();
        let url = format!("{base}/api/v1/admin/complaints/{ticket}/{action}");
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let st = r.status();
            assert!(st.is_success(), "{st}: {}", r.text().await.unwrap());
        }
    };
    for (i, t) in tickets.iter().enumerate() {
        let c = &cs[i % cs.len()];
        act(
            kasi.clone(),
            t.clone(),
            "assign",
            json!({"bidang": "dafduk", "note": format!("hubungi {} di {}", c.name, c.phone_spelled)}),
        )
        .await;
        act(
            dafduk.clone(),
            t.clone(),
            "solution",
            json!({"text": "KTP-el sudah dicetak."}),
        )
        .await;
        act(
            kasi.clone(),
            t.clone(),
            "review",
            json!({"decision": "approve"}),
        )
        .await;
        act(
            staf.clone(),
            t.clone(),
            "follow-up",
            json!({"message": "Yth. Bapak/Ibu, KTP-el Anda dapat diambil di loket 3."}),
        )
        .await;
    }
    // Every acknowledgement and answer went out on its channel.
    poll("acknowledgements and answers sent", 60, || {
        let kasi = kasi.clone();
        let tickets = tickets.clone();
        async move {
            for t in tickets {
                let d = get(format!("/api/v1/admin/complaints/{t}"), kasi.clone()).await;
                let replies = d["replies"].as_array().cloned().unwrap_or_default();
                let sent = replies.iter().filter(|r| r["status"] == "sent").count();
                if sent < 2 {
                    return false;
                }
            }
            true
        }
    })
    .await;
    let mut mails = 0;
    while inbox.try_recv().is_ok() {
        mails += 1;
    }
    assert!(
        mails >= 6,
        "acks and answers by e-mail for web, API and e-mail: {mails}"
    );
    assert!(
        bot_calls.lock().unwrap().len() >= 2,
        "Telegram ack and answer"
    );

    // Metrics.
    let m = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("aduan_intake_total"), "{m}");
    for o in &oracles {
        o.assert_clean("/metrics", &m);
    }

    // Stop, and read every line.
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("the daemon stops")
        .unwrap();
    for r in readers {
        let _ = r.await;
    }
    let lines = log.lock().unwrap().clone();
    let all = lines.join("\n");
    assert!(all.contains("DEBUG"), "the log is at debug level");
    for t in &tickets {
        assert!(all.contains(t.as_str()), "the log names ticket {t}");
    }
    for l in &lines {
        for o in &oracles {
            o.assert_clean("daemon log line", l);
        }
        for c in &codes {
            assert!(!l.contains(c.as_str()), "access code in the log: {l}");
        }
    }
}

on_both_backends!(logs_and_metrics_carry_no_identity);
