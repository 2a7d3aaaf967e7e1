//! Issue 14, the server's bounds and the public endpoints' limits, against the real daemon:
//! half-sent requests and slow bodies are cut off after `request_timeout`; connections over
//! `max_connections` are refused while the others are served; `X-Forwarded-For` counts only
//! from a trusted proxy, and IPv6 addresses count per /64; status look-ups, messages and
//! ratings are rate limited (429 with `Retry-After`); web acknowledgements fall under the
//! per-recipient daily cap; an unknown ticket costs the same digest check as a wrong code.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aduan_core::outbox::ReplySender;
use aduan_core::types::Channel;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A daemon with lines added to `[server]` and `[channels.web]` of the test config.
async fn spawn_with(
    backend: Backend,
    server: &str,
    web: &str,
    senders: HashMap<Channel, Arc<dyn ReplySender>>,
) -> TestApp {
    let mut o = Options::new(backend);
    o.server_config = server.to_string();
    o.web_config = web.to_string();
    o.senders = senders;
    o.no_outbox_worker = true;
    spawn(o).await
}

/// Everything the server sends until it closes the connection (a reset counts as closed);
/// `None` if it is still open after `wait`.
async fn until_closed(s: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

/// `GET /healthz` on a fresh connection: the status line, or `None` if refused.
async fn healthz(app: &TestApp) -> Option<String> {
    let mut s = TcpStream::connect(app.addr).await.ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let text = until_closed(&mut s, Duration::from_secs(10)).await?;
    text.lines().next().map(str::to_string)
}

/// One `GET /healthz` answered on `s`, which stays open (keep-alive).
async fn served_once(s: &mut TcpStream) {
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("{\"status\":\"ok\"}") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
}

/// 200 sockets that send half a request (and one that sends half a body) are closed once
/// `request_timeout` has passed; the slow body is answered 408. On main they stayed open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_requests_are_cut_off_after_the_timeout() {
    let app = spawn_with(
        Backend::Sqlite,
        "request_timeout = \"1s\"",
        "",
        HashMap::new(),
    )
    .await;
    let mut half = Vec::new();
    for i in 0..200 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        // Some stop inside the request line, some inside the headers.
        let part: &[u8] = if i % 2 == 0 {
            b"GET /healthz HTTP/1.1\r\nHost: t\r\n"
        } else {
            b"GET /hea"
        };
        s.write_all(part).await.unwrap();
        half.push(s);
    }
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(
        b"POST /api/v1/complaints HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{\"body\": \"Antrean",
    )
    .await
    .unwrap();
    // And a client that has sent nothing at all.
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    for (i, s) in half.iter_mut().enumerate() {
        let text = until_closed(s, Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("half request {i} still open after the timeout"));
        assert!(!text.contains(" 200 "), "{text}");
    }
    let text = until_closed(&mut slow, Duration::from_secs(20))
        .await
        .expect("slow body still open after the timeout");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(
        until_closed(&mut silent, Duration::from_secs(20))
            .await
            .is_some(),
        "a silent connection stays open"
    );
    // Nothing was stored from the slow body; others are served.
    assert_eq!(healthz(&app).await.as_deref(), Some("HTTP/1.1 200 OK"));
}

/// `max_connections` held: one more is refused (a 503 or closed, never served); once they
/// go, `/healthz` answers a new client again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_refused_and_others_served_after() {
    let app = spawn_with(Backend::Sqlite, "max_connections = 16", "", HashMap::new()).await;
    let mut held = Vec::new();
    for _ in 0..16 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        served_once(&mut s).await; // open, served, kept alive
        held.push(s);
    }
    for _ in 0..3 {
        let line = healthz(&app).await;
        assert!(
            line.as_deref()
                .is_none_or(|l| l.starts_with("HTTP/1.1 503")),
            "over the limit but served: {line:?}"
        );
    }
    // The held connections still work.
    served_once(&mut held[0]).await;
    drop(held);
    let mut answered = None;
    for _ in 0..100 {
        answered = healthz(&app).await;
        if answered.as_deref() == Some("HTTP/1.1 200 OK") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answered.as_deref(), Some("HTTP/1.1 200 OK"));
}

/// A status look-up with `X-Forwarded-For: xff`: the status code and `Retry-After`.
async fn lookup(app: &TestApp, xff: &str) -> (u16, Option<String>) {
    let r = app
        .http
        .get(app.url("/api/v1/complaints/ADU-202601-9999/status?code=X"))
        .header("x-forwarded-for", xff)
        .send()
        .await
        .unwrap();
    (
        r.status().as_u16(),
        r.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string()),
    )
}

/// From a trusted proxy the right-most untrusted `X-Forwarded-For` address is the client
/// (IPv6 per /64); from anyone else the header changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    let app = spawn_with(
        Backend::Sqlite,
        "trusted_proxies = [\"127.0.0.0/8\", \"10.0.0.9\"]",
        "status_rate_limit = \"2/hour\"",
        HashMap::new(),
    )
    .await;
    assert_eq!(lookup(&app, "203.0.113.1").await.0, 404);
    assert_eq!(lookup(&app, "198.51.100.1, 203.0.113.1").await.0, 404);
    let (status, retry) = lookup(&app, "203.0.113.1, 10.0.0.9").await;
    assert_eq!(status, 429, "the same client behind two proxies");
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=3600).contains(&secs), "{secs}");
    assert_eq!(lookup(&app, "203.0.113.2").await.0, 404, "another client");
    // IPv6: one /64 is one client, the next /64 another.
    assert_eq!(lookup(&app, "2001:db8:1:2::1").await.0, 404);
    assert_eq!(lookup(&app, "2001:db8:1:2:aaaa::7").await.0, 404);
    assert_eq!(lookup(&app, "2001:db8:1:2:ffff::").await.0, 429);
    assert_eq!(lookup(&app, "2001:db8:1:3::1").await.0, 404);

    // The default: no proxy trusted; a forged header is not a new client.
    let plain = spawn_with(
        Backend::Sqlite,
        "",
        "status_rate_limit = \"2/hour\"",
        HashMap::new(),
    )
    .await;
    assert_eq!(lookup(&plain, "203.0.113.1").await.0, 404);
    assert_eq!(lookup(&plain, "203.0.113.2").await.0, 404);
    assert_eq!(lookup(&plain, "203.0.113.3").await.0, 429);
}

/// SPEC §4 endpoints a citizen uses with the access code: each has its per-address limit,
/// answered 429 with `Retry-After` (JSON, or the Indonesian status page).
async fn status_messages_and_ratings_are_limited(b: Backend) {
    let app = spawn_with(
        b,
        "",
        "status_rate_limit = \"3/hour\"\nmessage_rate_limit = \"2/hour\"\nrating_rate_limit = \"2/hour\"",
        HashMap::new(),
    )
    .await;
    let (ticket, code) = app
        .submit(serde_json::json!({"body": "KTP-el belum jadi sejak bulan lalu."}))
        .await;
    let status = format!("/api/v1/complaints/{ticket}/status?code={code}");
    assert_eq!(app.get_json(&status, None).await.0, 200);
    assert_eq!(app.get_json(&status, None).await.0, 200);
    // The page counts with the JSON status.
    let page = app
        .http
        .get(app.url(&format!("/pengaduan/status?ticket={ticket}&code={code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let r = app.http.get(app.url(&status)).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limited", "{v}");
    let page = app
        .http
        .get(app.url(&format!("/pengaduan/status?ticket={ticket}&code={code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    let html = page.text().await.unwrap();
    assert!(html.contains("Terlalu banyak permintaan status"), "{html}");
    assert!(!html.contains("id=\"status\""), "no look-up past the limit");
    // The empty status form is not a look-up.
    let form = app
        .http
        .get(app.url("/pengaduan/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);

    let messages = format!("/api/v1/complaints/{ticket}/messages?code={code}");
    for _ in 0..2 {
        let (s, v) = app
            .post_json(&messages, None, serde_json::json!({"text": "Tambahan."}))
            .await;
        assert_eq!(s, 201, "{v}");
    }
    let r = app
        .http
        .post(app.url(&messages))
        .json(&serde_json::json!({"text": "Lagi."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // The status page's form meets the same limit.
    let r = app
        .http
        .post(app.url(&messages))
        .form(&[("text", "Lagi dari formulir.")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.text().await.unwrap().contains("Terlalu banyak kiriman"));

    let rating = format!("/api/v1/complaints/{ticket}/rating?code={code}");
    for _ in 0..2 {
        let (s, v) = app
            .post_json(&rating, None, serde_json::json!({"score": 5}))
            .await;
        assert_eq!(s, 409, "not closed yet: {v}");
    }
    let r = app
        .http
        .post(app.url(&rating))
        .json(&serde_json::json!({"score": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

/// A reply sender that takes everything (the outbox worker is off: rows stay queued).
struct Sink;
#[async_trait::async_trait]
impl ReplySender for Sink {
    async fn send(
        &self,
        _: &aduan_core::outbox::RenderedReply,
    ) -> Result<Option<String>, aduan_core::outbox::SendError> {
        Ok(None)
    }
}

/// The form and the JSON intake mail at most the e-mail intake's daily cap of
/// acknowledgements to one address; every complaint is still taken with its receipt, and
/// the log never names the address.
async fn web_acknowledgements_are_capped_per_recipient(b: Backend) {
    let logs = aduan_core::testing::LogCapture::default();
    let _guard = logs.start();
    let mut senders: HashMap<Channel, Arc<dyn ReplySender>> = HashMap::new();
    senders.insert(Channel::Email, Arc::new(Sink));
    let app = spawn_with(b, "", "", senders).await;
    let since = app.desk.now() - chrono::Duration::hours(1);
    let victim = "korban.banjir@Example.ID";
    for i in 0..6 {
        let email = if i % 2 == 0 {
            victim.to_string()
        } else {
            victim.to_uppercase()
        };
        let (s, v) = app
            .post_json(
                "/api/v1/complaints",
                None,
                serde_json::json!({"email": email, "body": format!("Pengaduan nomor {i}.")}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        assert!(v["access_code"].is_string(), "{v}");
    }
    let r = app
        .http
        .post(app.url("/pengaduan"))
        .form(&[("name", ""), ("email", victim), ("body", "Lewat formulir.")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("ADU-"), "the receipt is shown: {html}");
    let sent = app
        .desk
        .intake()
        .acks_since(Channel::Email, victim, since)
        .await
        .unwrap();
    assert_eq!(sent, aduan_channel_web::ACK_DAILY_CAP, "acks queued");
    // Another address is not affected.
    app.submit(serde_json::json!({"email": "wayan@example.com", "body": "Antrean."}))
        .await;
    let other = app
        .desk
        .intake()
        .acks_since(Channel::Email, "wayan@example.com", since)
        .await
        .unwrap();
    assert_eq!(other, 1);
    let text = logs.text();
    assert!(text.contains("acknowledgement cap reached"), "{text}");
    assert!(!text.to_lowercase().contains("korban.banjir"), "{text}");
}

/// An unknown ticket (well-formed or not) and a wrong code take the same path: one
/// access-code digest check each, like the right code.
async fn unknown_ticket_and_wrong_code_do_the_same_work(b: Backend) {
    use aduan_core::secret::access_code_verifications as checks;
    let app = spawn_with(b, "", "", HashMap::new()).await;
    let (ticket, code) = app
        .submit(serde_json::json!({"body": "Akta kelahiran salah nama."}))
        .await;
    let intake = app.desk.intake();
    let cases = [
        (ticket.as_str(), "WRONGCODE2", false),
        ("ADU-202601-9999", code.as_str(), false),
        ("bukan-tiket", code.as_str(), false),
        (ticket.as_str(), code.as_str(), true),
    ];
    for (t, c, found) in cases {
        let before = checks();
        let r = intake.status(t, c).await;
        assert_eq!(r.is_ok(), found, "{t} {c}");
        assert_eq!(checks() - before, 1, "{t}: digest checks");
    }
}

// Current-thread runtimes: the daemon's handlers log on the test's thread (LogCapture), and
// the digest counter is per thread.
mod sqlite {
    #[tokio::test]
    async fn web_acknowledgements_are_capped_per_recipient() {
        super::web_acknowledgements_are_capped_per_recipient(super::Backend::Sqlite).await
    }
    #[tokio::test]
    async fn unknown_ticket_and_wrong_code_do_the_same_work() {
        super::unknown_ticket_and_wrong_code_do_the_same_work(super::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn status_messages_and_ratings_are_limited() {
        super::status_messages_and_ratings_are_limited(super::Backend::Sqlite).await
    }
}
mod postgres {
    #[tokio::test]
    async fn web_acknowledgements_are_capped_per_recipient() {
        super::web_acknowledgements_are_capped_per_recipient(super::Backend::Postgres).await
    }
    #[tokio::test]
    async fn unknown_ticket_and_wrong_code_do_the_same_work() {
        super::unknown_ticket_and_wrong_code_do_the_same_work(super::Backend::Postgres).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn status_messages_and_ratings_are_limited() {
        super::status_messages_and_ratings_are_limited(super::Backend::Postgres).await
    }
}
