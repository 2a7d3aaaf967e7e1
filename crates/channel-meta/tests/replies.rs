//! Replies through a fake Graph API: each platform's request shape, splitting, the 24-hour
//! window rule, Graph error mapping and token expiry on `/readyz`.

mod common;

use std::sync::Arc;

use aduan_channel_meta::WINDOW_CLOSED;
use aduan_core::desk::{Inbound, Received, Submission, ThreadHint};
use aduan_core::model::{OutboxItem, ReplyKind, ReplyStatus};
use aduan_core::outbox::{RenderedReply, ReplySender, SendError};
use aduan_core::types::{Channel, TicketNumber};
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use common::*;
use serde_json::json;

fn sender(h: &Harness, ch: Channel) -> Arc<dyn ReplySender> {
    h.senders()
        .into_iter()
        .find(|(c, _)| *c == ch)
        .map(|(_, s)| s)
        .expect("sender configured")
}

/// A complaint whose citizen last wrote `ago` ago.
async fn complaint(h: &Harness, ch: Channel, handle: &str, ago: Duration) -> TicketNumber {
    let r = h
        .desk
        .intake()
        .receive(Inbound {
            submission: Submission {
                channel: Some(ch),
                external_id: Some(format!("ext-{handle}-{}", ago.num_seconds())),
                received_at: Some(Utc::now() - ago),
                handle: Some(handle.into()),
                body: "Pengurusan KTP-el tertunda".into(),
                ..Default::default()
            },
            thread: vec![ThreadHint::OpenForHandle],
            cursor: None,
        })
        .await
        .unwrap();
    match r {
        Received::Created(r) => r.ticket,
        other => panic!("not created: {other:?}"),
    }
}

fn reply(id: i64, ch: Channel, ticket: &TicketNumber, to: &str, text: &str) -> RenderedReply {
    RenderedReply {
        item: OutboxItem {
            id,
            complaint_id: 1,
            ticket: ticket.clone(),
            kind: ReplyKind::Answer,
            channel: ch,
            recipient: to.into(),
            template: "answer".into(),
            vars: json!({}),
            attempts: 0,
            max_attempts: 8,
            queued_at: chrono::Utc::now(),
            claim_token: "t".into(),
            reply_key: "k".into(),
        },
        text: text.into(),
    }
}

#[tokio::test]
async fn acknowledgements_go_out_in_each_platforms_shape() {
    let graph = FakeGraph::start().await;
    let h = harness_with(config(&graph.base)).await;
    let t = ms_ago(Duration::minutes(2));
    let fb = messaging_delivery(
        "page",
        &[(
            "PAGE",
            vec![text_event("PAGE", "PSID9", "m_fb", t, "Jalan rusak")],
        )],
    );
    let ig = messaging_delivery(
        "instagram",
        &[(
            "IGACC",
            vec![text_event("IGACC", "IGSID9", "m_ig", t, "Sampah")],
        )],
    );
    let wa = whatsapp_text(
        "6281234567890",
        "Made",
        "wamid.IN1",
        Utc::now().timestamp() - 60,
        "Air mati",
    );
    for b in [&fb, &ig, &wa] {
        assert_eq!(h.deliver(b).await.0, StatusCode::OK);
    }
    let out = h.outbox().run_once().await.unwrap();
    assert_eq!((out.sent, out.failed, out.retried), (3, 0, 0), "{out:?}");

    let seen = graph.seen();
    assert_eq!(seen.len(), 3);
    let tickets: Vec<String> = h
        .complaints()
        .await
        .iter()
        .map(|c| c.ticket.to_string())
        .collect();

    let fb = seen
        .iter()
        .find(|s| s.body["recipient"]["id"] == "PSID9")
        .unwrap();
    assert_eq!(fb.path, "/v25.0/me/messages");
    assert_eq!(
        fb.authorization.as_deref(),
        Some(&*format!("Bearer {PAGE_TOKEN}"))
    );
    assert_eq!(fb.body["messaging_type"], "RESPONSE");
    assert!(
        fb.body["message"]["text"]
            .as_str()
            .unwrap()
            .contains(&tickets[0])
    );

    let ig = seen
        .iter()
        .find(|s| s.body["recipient"]["id"] == "IGSID9")
        .unwrap();
    assert_eq!(ig.path, "/v25.0/me/messages");
    assert_eq!(
        ig.authorization.as_deref(),
        Some(&*format!("Bearer {IG_TOKEN}"))
    );
    assert_eq!(ig.body["messaging_type"], "RESPONSE");
    assert!(
        ig.body["message"]["text"]
            .as_str()
            .unwrap()
            .contains(&tickets[1])
    );

    let wa = seen
        .iter()
        .find(|s| s.body.get("messaging_product").is_some())
        .unwrap();
    assert_eq!(wa.path, format!("/v25.0/{WA_PHONE_ID}/messages"));
    assert_eq!(
        wa.authorization.as_deref(),
        Some(&*format!("Bearer {WA_TOKEN}"))
    );
    assert_eq!(wa.body["messaging_product"], "whatsapp");
    assert_eq!(wa.body["recipient_type"], "individual");
    assert_eq!(wa.body["to"], "6281234567890");
    assert_eq!(wa.body["type"], "text");
    assert!(
        wa.body["text"]["body"]
            .as_str()
            .unwrap()
            .contains(&tickets[2])
    );

    for c in h.complaints().await {
        assert_eq!(c.replies[0].status, ReplyStatus::Sent, "{}", c.ticket);
    }
}

#[tokio::test]
async fn long_texts_are_split_at_each_platforms_limit() {
    let graph = FakeGraph::start().await;
    let h = harness_with(config(&graph.base)).await;
    let paragraph = "Pengaduan Anda sudah kami tindak lanjuti bersama bidang terkait. ".repeat(40); // 2600 chars
    let emoji = "Terima kasih 🙏 ".repeat(100); // 1600+ bytes

    let t = complaint(&h, Channel::Messenger, "PSID1", Duration::minutes(5)).await;
    let id = sender(&h, Channel::Messenger)
        .send(&reply(1, Channel::Messenger, &t, "PSID1", &paragraph))
        .await
        .unwrap();
    assert_eq!(
        id.as_deref(),
        Some("m_out_1"),
        "the first part's id is kept"
    );
    let seen = graph.seen();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|s| s.body["message"]["text"].as_str().unwrap().chars().count() <= 2000)
    );

    graph.clear();
    let t = complaint(&h, Channel::Instagram, "IGSID1", Duration::minutes(5)).await;
    sender(&h, Channel::Instagram)
        .send(&reply(2, Channel::Instagram, &t, "IGSID1", &emoji))
        .await
        .unwrap();
    let seen = graph.seen();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|s| s.body["message"]["text"].as_str().unwrap().len() <= 1000)
    );

    graph.clear();
    let t = complaint(&h, Channel::Whatsapp, "6281200000001", Duration::minutes(5)).await;
    let long = "a ".repeat(3000); // 6000 chars
    sender(&h, Channel::Whatsapp)
        .send(&reply(3, Channel::Whatsapp, &t, "6281200000001", &long))
        .await
        .unwrap();
    let seen = graph.seen();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|s| s.body["text"]["body"].as_str().unwrap().chars().count() <= 4096)
    );
}

#[tokio::test]
async fn a_failed_part_is_not_sent_twice() {
    let graph = FakeGraph::start().await;
    let h = harness_with(config(&graph.base)).await;
    let t = complaint(&h, Channel::Messenger, "PSID2", Duration::minutes(5)).await;
    let text = "x ".repeat(1500); // two parts
    let s = sender(&h, Channel::Messenger);
    // First part OK (default), second part: Graph is down.
    graph.fail_next(
        200,
        json!({"recipient_id": "PSID2", "message_id": "m_part1"}),
    );
    graph.fail_next(503, json!({"error": {"message": "down", "code": 2}}));
    let r = s
        .send(&reply(7, Channel::Messenger, &t, "PSID2", &text))
        .await;
    assert!(matches!(r, Err(SendError::Transient(_))), "{r:?}");
    let r = s
        .send(&reply(7, Channel::Messenger, &t, "PSID2", &text))
        .await;
    assert_eq!(r, Ok(Some("m_part1".into())));
    assert_eq!(graph.seen().len(), 3, "part 1 once, part 2 twice");
}

#[tokio::test]
async fn outside_the_window_whatsapp_sends_the_template_and_messenger_needs_another_channel() {
    let graph = FakeGraph::start().await;
    let h = harness_with(config(&graph.base)).await;
    let old = Duration::hours(25);

    let wa = complaint(&h, Channel::Whatsapp, "6281234567890", old).await;
    let id = sender(&h, Channel::Whatsapp)
        .send(&reply(
            1,
            Channel::Whatsapp,
            &wa,
            "6281234567890",
            "Pengaduan Anda selesai.",
        ))
        .await
        .unwrap();
    assert_eq!(id.as_deref(), Some("wamid.OUT1"));
    let seen = graph.seen();
    assert_eq!(seen.len(), 1);
    let b = &seen[0].body;
    assert_eq!(b["type"], "template");
    assert_eq!(b["to"], "6281234567890");
    assert_eq!(b["template"]["name"], WA_TEMPLATE);
    assert_eq!(b["template"]["language"]["code"], "id");
    assert_eq!(b["template"]["components"][0]["type"], "body");
    assert_eq!(
        b["template"]["components"][0]["parameters"],
        json!([{"type": "text", "text": wa.as_str()}])
    );

    graph.clear();
    for (ch, handle) in [
        (Channel::Messenger, "PSID3"),
        (Channel::Instagram, "IGSID3"),
    ] {
        let t = complaint(&h, ch, handle, old).await;
        let r = sender(&h, ch)
            .send(&reply(2, ch, &t, handle, "Jawaban"))
            .await;
        assert_eq!(r, Err(SendError::Permanent(WINDOW_CLOSED.into())));
    }
    assert!(
        graph.seen().is_empty(),
        "nothing is sent outside the window"
    );

    // Inside the window (23 h) free text is still allowed.
    let fresh = complaint(&h, Channel::Messenger, "PSID4", Duration::hours(23)).await;
    sender(&h, Channel::Messenger)
        .send(&reply(3, Channel::Messenger, &fresh, "PSID4", "Jawaban"))
        .await
        .unwrap();
    assert_eq!(graph.seen()[0].body["message"]["text"], "Jawaban");

    // No template configured: WhatsApp fails permanently.
    let mut cfg = config(&graph.base);
    cfg.whatsapp_answer_template = String::new();
    let h2 = harness_with(cfg).await;
    let t = complaint(&h2, Channel::Whatsapp, "6281234567891", old).await;
    let r = sender(&h2, Channel::Whatsapp)
        .send(&reply(4, Channel::Whatsapp, &t, "6281234567891", "Jawaban"))
        .await;
    assert!(
        matches!(r, Err(SendError::Permanent(ref m)) if m.contains(WINDOW_CLOSED)),
        "{r:?}"
    );
}

#[tokio::test]
async fn whatsapp_falls_back_to_the_template_when_meta_says_the_window_closed() {
    let graph = FakeGraph::start().await;
    let h = harness_with(config(&graph.base)).await;
    let t = complaint(&h, Channel::Whatsapp, "6281234567892", Duration::hours(1)).await;
    graph.fail_next(400, graph_error(131047, None, "Re-engagement message"));
    let r = sender(&h, Channel::Whatsapp)
        .send(&reply(1, Channel::Whatsapp, &t, "6281234567892", "Jawaban"))
        .await;
    assert!(r.is_ok(), "{r:?}");
    let seen = graph.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body["type"], "text");
    assert_eq!(seen[1].body["type"], "template");
}

#[tokio::test]
async fn whatsapp_user_without_phone_is_answered_by_bsuid() {
    let graph = FakeGraph::start().await;
    let h = harness_with(config(&graph.base)).await;
    assert_eq!(
        h.deliver(&fixture("meta_whatsapp_bsuid.json")).await.0,
        StatusCode::OK
    );
    // The fixture is from January 2026: outside the window, so the ack is the template.
    let out = h.outbox().run_once().await.unwrap();
    assert_eq!(out.sent, 1, "{out:?}");
    let seen = graph.seen();
    assert_eq!(seen[0].body["recipient"], "ID.13491208655302741918");
    assert!(seen[0].body.get("to").is_none());
    assert_eq!(seen[0].body["type"], "template");

    graph.clear();
    let t = complaint(&h, Channel::Whatsapp, "ID.999", Duration::minutes(1)).await;
    sender(&h, Channel::Whatsapp)
        .send(&reply(9, Channel::Whatsapp, &t, "ID.999", "Halo"))
        .await
        .unwrap();
    let b = &graph.seen()[0].body;
    assert_eq!(
        (b["recipient"].as_str(), b["type"].as_str()),
        (Some("ID.999"), Some("text"))
    );
}

#[tokio::test]
async fn graph_errors_map_to_retry_or_permanent_failure() {
    let graph = FakeGraph::start().await;
    let h = harness_with(config(&graph.base)).await;
    let t = complaint(&h, Channel::Messenger, "PSID5", Duration::minutes(1)).await;
    let s = sender(&h, Channel::Messenger);
    let r1 = reply(1, Channel::Messenger, &t, "PSID5", "Halo");
    let send = || s.send(&r1);

    graph.fail_next(
        400,
        graph_error(613, None, "Calls to this api have exceeded the rate limit."),
    );
    assert!(matches!(send().await, Err(SendError::RetryAfter { .. })));
    graph.fail_next(
        500,
        json!({"error": {"message": "An unknown error occurred", "code": 1}}),
    );
    assert!(matches!(send().await, Err(SendError::Transient(_))));
    graph.fail_next(502, json!("Bad Gateway"));
    assert!(matches!(send().await, Err(SendError::Transient(_))));
    graph.fail_next(400, graph_error(100, None, "Invalid parameter"));
    assert_eq!(
        send().await,
        Err(SendError::Permanent(
            "Graph API error 100: Invalid parameter".into()
        ))
    );
    graph.fail_next(
        400,
        graph_error(551, None, "This person isn't available right now."),
    );
    assert!(matches!(send().await, Err(SendError::Permanent(m)) if m.contains("551")));
    graph.fail_next(
        400,
        graph_error(10, Some(2018278), "Message sent outside of allowed window."),
    );
    assert!(matches!(send().await, Err(SendError::Permanent(m)) if m.contains(WINDOW_CLOSED)));
    assert!(send().await.is_ok());

    // WhatsApp pair rate limit and a closed network: retry.
    let w = complaint(&h, Channel::Whatsapp, "6281234567893", Duration::minutes(1)).await;
    graph.fail_next(
        400,
        graph_error(
            131056,
            None,
            "(Business Account, Consumer Account) pair rate limit hit",
        ),
    );
    let r = sender(&h, Channel::Whatsapp)
        .send(&reply(2, Channel::Whatsapp, &w, "6281234567893", "Halo"))
        .await;
    assert!(matches!(r, Err(SendError::RetryAfter { .. })), "{r:?}");

    let dead = harness_with(config("http://127.0.0.1:9/v25.0")).await;
    let t = complaint(&dead, Channel::Messenger, "PSID6", Duration::minutes(1)).await;
    let r = sender(&dead, Channel::Messenger)
        .send(&reply(3, Channel::Messenger, &t, "PSID6", "Halo"))
        .await;
    assert!(matches!(r, Err(SendError::Transient(_))), "{r:?}");
}

#[tokio::test]
async fn expired_token_is_retried_with_a_clear_error_and_leaves_the_channel_ready() {
    let graph = FakeGraph::start().await;
    let h = harness_with(config(&graph.base)).await;
    let t = complaint(&h, Channel::Whatsapp, "6281234567894", Duration::minutes(1)).await;
    let s = sender(&h, Channel::Whatsapp);
    graph.fail_next(
        401,
        graph_error(
            190,
            Some(463),
            "Error validating access token: Session has expired",
        ),
    );
    let r = s
        .send(&reply(1, Channel::Whatsapp, &t, "6281234567894", "Halo"))
        .await;
    // Retried: the daemon's sender watch shows the text under `senders` on /readyz.
    let Err(SendError::Transient(err)) = r else {
        panic!("{r:?}")
    };
    assert!(err.contains("token") && err.contains("190"), "{err}");
    assert!(!err.contains(WA_TOKEN), "{err}");
    // A reply sender down is a warning, not a channel fault: the channel's own entry (which
    // makes /readyz 503) is never set by a send.
    assert!(h.health.last().flatten().is_none(), "{:?}", h.health.last());

    // The renewed token works.
    s.send(&reply(1, Channel::Whatsapp, &t, "6281234567894", "Halo"))
        .await
        .unwrap();
    assert!(h.health.last().flatten().is_none());
}

#[tokio::test]
async fn failed_whatsapp_status_marks_the_reply_failed() {
    let graph = FakeGraph::start().await;
    let h = harness_with(config(&graph.base)).await;
    let wa = whatsapp_text(
        "6281234567895",
        "Gede",
        "wamid.IN9",
        Utc::now().timestamp() - 60,
        "Antre lama",
    );
    assert_eq!(h.deliver(&wa).await.0, StatusCode::OK);
    assert_eq!(h.outbox().run_once().await.unwrap().sent, 1);
    let status = serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "statuses": [{"id": "wamid.OUT1", "status": "failed", "timestamp": "1767225601",
                          "recipient_id": "6281234567895",
                          "errors": [{"code": 131026, "title": "Message undeliverable",
                                      "error_data": {"details": "Receiver is incapable of receiving this message"}}]}]
        }}]}]
    }))
    .unwrap();
    let (s, v) = h.deliver(&status).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let c = &h.complaints().await[0];
    assert_eq!(c.replies[0].status, ReplyStatus::Failed);
    assert!(
        c.replies[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("131026")
    );
}

#[tokio::test]
async fn disabled_or_unconfigured_platforms_have_no_sender() {
    let mut cfg = config("http://127.0.0.1:9/v25.0");
    cfg.enabled = false;
    let h = harness_with(cfg.clone()).await;
    assert!(h.senders().is_empty());
    cfg.enabled = true;
    cfg.instagram_access_token = aduan_channel_meta::Secret::default();
    cfg.whatsapp_phone_number_id = String::new();
    let h = harness_with(cfg).await;
    let chans: Vec<Channel> = h.senders().into_iter().map(|(c, _)| c).collect();
    assert_eq!(chans, [Channel::Messenger]);
}
