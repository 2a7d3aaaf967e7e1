//! SmtpSender against the in-process SMTP sink: headers, threading, RFC 3834 markers,
//! UTF-8 bodies and the error mapping.

use std::time::Duration;

use aduan_channel_email::testing::{RcptReply, ReceivedMail, SmtpSink};
use aduan_channel_email::{Security, SmtpSender, SmtpSettings};
use aduan_core::model::{OutboxItem, ReplyKind};
use aduan_core::outbox::{RenderedReply, ReplySender, SendError};
use aduan_core::types::{Channel, TicketNumber};
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

const FROM: &str = "Pengaduan Diskominfo <pengaduan@bulelengkab.example>";

fn settings(port: u16) -> SmtpSettings {
    let mut s = SmtpSettings::new(
        "127.0.0.1",
        port,
        FROM.parse().expect("from"),
        "bulelengkab.example",
    );
    s.security = Security::None;
    s.own_addresses = vec!["Admin@Bulelengkab.example".into()];
    s.timeout = Duration::from_secs(5);
    s
}

fn reply(kind: ReplyKind, recipient: &str, vars: serde_json::Value, text: &str) -> RenderedReply {
    RenderedReply {
        item: OutboxItem {
            id: 1,
            complaint_id: 7,
            ticket: TicketNumber::parse("LPR-202601-0123").expect("ticket"),
            kind,
            channel: Channel::Email,
            recipient: recipient.into(),
            template: kind.as_str().into(),
            vars,
            attempts: 0,
            max_attempts: 5,
            queued_at: chrono::Utc::now(),
            claim_token: "tok".into(),
            reply_key: "0190f0e2-7a1b-7c3d-8e4f-5a6b7c8d9e0f".into(),
        },
        text: text.into(),
    }
}

async fn next(rx: &mut UnboundedReceiver<ReceivedMail>) -> ReceivedMail {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("sink received nothing in time")
        .expect("sink closed")
}

fn header<'a>(data: &'a str, name: &str) -> Option<&'a str> {
    let head = data.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n")
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l.as_bytes()[name.len()] == b':'
        })
        .map(|l| l[name.len() + 1..].trim())
}

#[tokio::test]
async fn ack_carries_threading_and_rfc3834_headers() {
    let (sink, mut rx) = SmtpSink::start().await.expect("sink");
    let sender = SmtpSender::new(settings(sink.port())).expect("sender");
    let body = "Yth. Ni Luh Putu,\n\nPengaduan Anda telah kami terima dengan nomor LPR-202601-0123.\n\
                Mohon simpan kode akses: “Ñ8-ÉÀ” — terima kasih 🙏\n.\n..titik di awal baris\n";
    let r = reply(
        ReplyKind::Ack,
        "Ni Luh Putu <warga@example.net>",
        json!({
            "subject": "Re: Lampu jalan mati",
            "in_reply_to": "<CAF1234abcd@mail.example.net>",
            "references": ["<root@mail.example.net>"],
        }),
        body,
    );
    let id = sender.send(&r).await.expect("send").expect("message id");
    assert!(id.ends_with("@bulelengkab.example"), "{id}");
    let uuid = id.split('@').next().unwrap_or("");
    assert_eq!(
        uuid::Uuid::parse_str(uuid).expect("uuid").get_version_num(),
        7
    );

    let mail = next(&mut rx).await;
    assert_eq!(mail.mail_from, "pengaduan@bulelengkab.example");
    assert_eq!(mail.rcpt_to, vec!["warga@example.net"]);
    let data = String::from_utf8(mail.data.clone()).expect("utf8 data");
    assert_eq!(
        header(&data, "Message-ID"),
        Some(format!("<{id}>").as_str())
    );
    assert_eq!(
        header(&data, "In-Reply-To"),
        Some("<CAF1234abcd@mail.example.net>")
    );
    assert_eq!(
        header(&data, "References"),
        Some("<root@mail.example.net> <CAF1234abcd@mail.example.net>")
    );
    assert_eq!(header(&data, "Auto-Submitted"), Some("auto-replied"));
    assert_eq!(
        header(&data, "X-Loop"),
        Some("pengaduan@bulelengkab.example")
    );
    assert!(header(&data, "Date").is_some());

    // Decode with a real parser: subject and UTF-8 body survive.
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.data)
        .expect("parse");
    assert_eq!(
        parsed.subject(),
        Some("Re: [LPR-202601-0123] Lampu jalan mati")
    );
    assert_eq!(parsed.message_id(), Some(id.as_str()));
    let text = parsed.body_text(0).expect("text").replace("\r\n", "\n");
    assert_eq!(text.trim_end(), body.trim_end());
    let ct = header(&data, "Content-Type").unwrap_or("");
    assert!(
        ct.to_ascii_lowercase()
            .starts_with("text/plain; charset=utf-8"),
        "{ct}"
    );
}

#[tokio::test]
async fn answer_is_not_marked_automatic_and_uses_default_subject() {
    let (sink, mut rx) = SmtpSink::start().await.expect("sink");
    let sender = SmtpSender::new(settings(sink.port())).expect("sender");
    sender
        .send(&reply(
            ReplyKind::Answer,
            "warga@example.net",
            json!({}),
            "Jawaban.",
        ))
        .await
        .expect("send");
    let mail = next(&mut rx).await;
    let data = String::from_utf8(mail.data).expect("utf8");
    assert_eq!(header(&data, "Auto-Submitted"), None);
    assert_eq!(header(&data, "X-Loop"), None);
    assert_eq!(header(&data, "In-Reply-To"), None);
    assert_eq!(header(&data, "References"), None);
    assert_eq!(
        header(&data, "Subject"),
        Some("[LPR-202601-0123] Tindak lanjut pengaduan Anda")
    );

    // Same transport, second mail: escalation is automatic (not a reply).
    sender
        .send(&reply(
            ReplyKind::Escalation,
            "kasi@bulelengkab.example",
            json!(null),
            "Batas waktu.",
        ))
        .await
        .expect("send");
    let data = String::from_utf8(next(&mut rx).await.data).expect("utf8");
    assert_eq!(header(&data, "Auto-Submitted"), Some("auto-generated"));
    assert_eq!(
        header(&data, "X-Loop"),
        Some("pengaduan@bulelengkab.example")
    );
    assert_eq!(
        header(&data, "Subject"),
        Some("[LPR-202601-0123] Peringatan batas waktu SOP")
    );

    // Ack without vars.
    sender
        .send(&reply(
            ReplyKind::Ack,
            "warga@example.net",
            json!({"subject": "  "}),
            "x",
        ))
        .await
        .expect("send");
    let data = String::from_utf8(next(&mut rx).await.data).expect("utf8");
    assert_eq!(
        header(&data, "Subject"),
        Some("[LPR-202601-0123] Pengaduan Anda telah diterima")
    );
}

#[tokio::test]
async fn rcpt_451_is_transient_and_550_is_permanent() {
    let (sink, mut rx) = SmtpSink::start_with(RcptReply::TempFail)
        .await
        .expect("sink");
    let sender = SmtpSender::new(settings(sink.port())).expect("sender");
    let r = reply(ReplyKind::Ack, "warga@example.net", json!({}), "x");
    match sender.send(&r).await {
        Err(SendError::Transient(e)) => {
            assert!(e.contains("451") || e.contains("try again"), "{e}")
        }
        other => panic!("expected transient, got {other:?}"),
    }
    sink.set_rcpt_reply(RcptReply::Reject);
    match sender.send(&r).await {
        Err(SendError::Permanent(e)) => {
            assert!(e.contains("550") || e.contains("no such user"), "{e}")
        }
        other => panic!("expected permanent, got {other:?}"),
    }
    // And the same sender recovers once the server accepts again.
    sink.set_rcpt_reply(RcptReply::Accept);
    sender.send(&r).await.expect("send after errors");
    assert_eq!(next(&mut rx).await.rcpt_to, vec!["warga@example.net"]);
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let sender = SmtpSender::new(settings(port)).expect("sender");
    match sender
        .send(&reply(ReplyKind::Ack, "warga@example.net", json!({}), "x"))
        .await
    {
        Err(SendError::Transient(_)) => {}
        other => panic!("expected transient, got {other:?}"),
    }
}

#[tokio::test]
async fn dropped_sink_refuses_connections() {
    let (sink, _rx) = SmtpSink::start().await.expect("sink");
    let addr = sink.addr();
    drop(sink);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn own_and_invalid_addresses_are_refused() {
    let (sink, mut rx) = SmtpSink::start().await.expect("sink");
    let sender = SmtpSender::new(settings(sink.port())).expect("sender");
    for to in [
        "pengaduan@bulelengkab.example",
        "PENGADUAN@bulelengkab.example",
        "Admin <admin@bulelengkab.example>",
        "not an address",
        "",
        "a@b@c",
    ] {
        match sender
            .send(&reply(ReplyKind::Ack, to, json!({}), "x"))
            .await
        {
            Err(SendError::Permanent(_)) => {}
            other => panic!("{to:?}: expected permanent, got {other:?}"),
        }
    }
    assert!(rx.try_recv().is_err(), "nothing was sent");
}

#[tokio::test]
async fn authenticates_when_credentials_are_set() {
    let (sink, mut rx) = SmtpSink::start().await.expect("sink");
    let mut s = settings(sink.port());
    s.username = Some("aduan".into());
    s.password = Some("rahasia".into());
    let sender = SmtpSender::new(s).expect("sender");
    sender
        .send(&reply(
            ReplyKind::Answer,
            "warga@example.net",
            json!({}),
            "x",
        ))
        .await
        .expect("send with auth");
    next(&mut rx).await;
}

#[test]
fn bad_message_id_domain_is_a_config_error() {
    let mut s = settings(25);
    s.message_id_domain = "bad domain>".into();
    assert!(SmtpSender::new(s).is_err());
}

/// The TLS modes build a ring-backed rustls config without a process-level provider
/// (no "could not determine CryptoProvider" panic); against a plain server they fail
/// transiently rather than sending in clear text.
#[tokio::test]
async fn tls_modes_never_fall_back_to_plain_text() {
    let (sink, mut rx) = SmtpSink::start().await.expect("sink");
    for security in [Security::StartTls, Security::Tls] {
        let mut s = settings(sink.port());
        s.host = "localhost".into();
        s.security = security;
        s.timeout = Duration::from_secs(3);
        let sender = SmtpSender::new(s).expect("sender");
        match sender
            .send(&reply(ReplyKind::Ack, "warga@example.net", json!({}), "x"))
            .await
        {
            Err(SendError::Transient(_)) => {}
            other => panic!("{security:?}: expected transient, got {other:?}"),
        }
    }
    assert!(rx.try_recv().is_err(), "nothing was sent in clear text");
}

/// Replies reuse pooled connections: one connection for a run of sends one after another,
/// never more than the pool's size for sends at once, and every message arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_reused_and_bounded() {
    let (sink, mut rx) = SmtpSink::start().await.expect("sink");
    let sender = std::sync::Arc::new(SmtpSender::new(settings(sink.port())).expect("sender"));
    for i in 0..30 {
        let r = reply(
            ReplyKind::Ack,
            &format!("warga{i}@example.net"),
            json!({}),
            "x",
        );
        sender.send(&r).await.expect("sequential send");
    }
    assert_eq!(
        sink.connections(),
        1,
        "one connection for sends one after another"
    );
    assert_eq!(sender.idle_connections(), 1);

    let mut set = tokio::task::JoinSet::new();
    for i in 30..130 {
        let sender = std::sync::Arc::clone(&sender);
        set.spawn(async move {
            let r = reply(
                ReplyKind::Ack,
                &format!("warga{i}@example.net"),
                json!({}),
                "x",
            );
            sender.send(&r).await
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("task").expect("concurrent send");
    }
    let opened = sink.connections();
    assert!(
        opened <= 1 + aduan_channel_email::smtp::POOL_SIZE as usize,
        "{opened} connections for 100 sends at once"
    );
    let mut rcpts = std::collections::HashSet::new();
    for _ in 0..130 {
        rcpts.insert(next(&mut rx).await.rcpt_to.join(","));
    }
    assert_eq!(rcpts.len(), 130, "every message once");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.try_recv().is_err(), "nothing twice");
}

/// A minimal SMTP server that closes the connection after every accepted message, as a
/// server with a per-connection message limit does. Returns its port and the count of
/// messages it accepted.
async fn one_message_per_connection_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>)
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let count = std::sync::Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let count = std::sync::Arc::clone(&count);
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 limit.example ESMTP\r\n").await.ok()?;
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            count.fetch_add(1, Ordering::SeqCst);
                            w.write_all(b"250 2.0.0 queued\r\n").await.ok()?;
                            // The limit: one message, then the server hangs up.
                            return Some(());
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-limit.example\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            in_data = true;
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => b"221 bye\r\n",
                        _ => b"250 OK\r\n",
                    };
                    w.write_all(answer).await.ok()?;
                }
                Some(())
            });
        }
    });
    (port, accepted)
}

/// A pooled connection the server closed is replaced, not reported as a failure: both
/// right after the close (the send fails on the dead connection and goes once more on a
/// new one) and after a pause (the `NOOP` check before reuse finds it dead).
#[tokio::test]
async fn a_connection_the_server_closed_is_replaced() {
    use std::sync::atomic::Ordering;
    let (port, accepted) = one_message_per_connection_server().await;
    let sender = SmtpSender::new(settings(port)).expect("sender");
    for i in 0..3 {
        let r = reply(
            ReplyKind::Ack,
            &format!("warga{i}@example.net"),
            json!({}),
            "x",
        );
        sender
            .send(&r)
            .await
            .expect("send right after the server closed");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    tokio::time::sleep(aduan_channel_email::smtp::CHECK_AFTER + Duration::from_millis(200)).await;
    let r = reply(ReplyKind::Ack, "warga9@example.net", json!({}), "x");
    sender.send(&r).await.expect("send after a pause");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        4,
        "each message accepted once"
    );
}
