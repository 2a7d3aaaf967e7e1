//! The reply sender against the fake Bot API: splitting, replies, and each error class.

mod common;

use std::time::Duration;

use aduan_channel_telegram::{HandleOptions, Outcome, handle_update, sender};
use aduan_core::model::{OutboxItem, ReplyKind, ReplyStatus};
use aduan_core::outbox::{RenderedReply, ReplySender, SendError};
use aduan_core::types::{Channel, TicketNumber};
use common::*;
use serde_json::{Value, json};

fn reply(recipient: &str, vars: Value, text: &str) -> RenderedReply {
    RenderedReply {
        item: OutboxItem {
            id: 1,
            complaint_id: 1,
            ticket: TicketNumber::parse("ADU-202603-0001").unwrap(),
            kind: ReplyKind::Answer,
            channel: Channel::Telegram,
            recipient: recipient.to_string(),
            template: "answer".into(),
            vars,
            attempts: 0,
            max_attempts: 8,
            queued_at: chrono::Utc::now(),
            claim_token: "t".into(),
            reply_key: "k".into(),
        },
        text: text.to_string(),
    }
}

fn long_answer() -> String {
    let mut t = String::new();
    for p in 0..30 {
        t.push_str(&format!("Paragraf {p}. "));
        for w in 0..60 {
            t.push_str(&format!("kata{p}x{w} "));
        }
        t.push_str("\n\n");
    }
    t
}

#[tokio::test]
async fn a_long_answer_is_split_in_order_and_only_the_first_part_is_a_reply() {
    let h = harness().await;
    let s = sender(&h.cfg, &h.ctx);
    let text = long_answer();
    assert!(text.chars().count() > 2 * 4096);
    let id = s
        .send(&reply(
            &CHAT.to_string(),
            json!({"reply_to_message_id": 42}),
            &text,
        ))
        .await
        .unwrap();
    let sent = h.api.sent_to(CHAT);
    assert!(sent.len() >= 3, "{}", sent.len());
    assert!(sent.iter().all(|m| m.text.chars().count() <= 4096));
    assert_eq!(sent[0].reply_to, Some(42));
    assert!(sent[1..].iter().all(|m| m.reply_to.is_none()));
    let words: Vec<&str> = sent
        .iter()
        .flat_map(|m| m.text.split_whitespace())
        .collect();
    assert_eq!(
        words,
        text.split_whitespace().collect::<Vec<_>>(),
        "whole text, in order"
    );
    // Parts are cut at paragraph breaks.
    assert!(sent.iter().all(|m| m.text.starts_with("Paragraf")));
    assert_eq!(id, Some(format!("{CHAT}:{}", sent[0].message_id)));
}

#[tokio::test]
async fn flood_control_gives_retry_after() {
    let h = harness().await;
    h.api.inject("sendMessage", flood(7));
    let err = sender(&h.cfg, &h.ctx)
        .send(&reply(&CHAT.to_string(), json!({}), "Jawaban"))
        .await
        .unwrap_err();
    match err {
        SendError::RetryAfter { after, .. } => assert_eq!(after, chrono::Duration::seconds(7)),
        other => panic!("{other:?}"),
    }
    assert!(h.api.sent().is_empty());
}

#[tokio::test]
async fn flood_control_in_the_middle_of_a_split_answer_waits_without_repeating_parts() {
    let h = harness().await;
    h.api.inject("sendMessage", Inject::Pass);
    h.api.inject("sendMessage", flood(1));
    let text = long_answer();
    sender(&h.cfg, &h.ctx)
        .send(&reply(&CHAT.to_string(), json!({}), &text))
        .await
        .unwrap();
    let sent = h.api.sent_to(CHAT);
    let words: Vec<&str> = sent
        .iter()
        .flat_map(|m| m.text.split_whitespace())
        .collect();
    assert_eq!(
        words,
        text.split_whitespace().collect::<Vec<_>>(),
        "each part once"
    );
}

#[tokio::test]
async fn a_blocked_bot_is_a_permanent_failure() {
    let h = harness().await;
    h.api.inject(
        "sendMessage",
        Inject::Json(
            403,
            api_error(403, "Forbidden: bot was blocked by the user"),
        ),
    );
    let err = sender(&h.cfg, &h.ctx)
        .send(&reply(&CHAT.to_string(), json!({}), "Jawaban"))
        .await
        .unwrap_err();
    match err {
        SendError::Permanent(m) => assert!(m.contains("bot diblokir oleh pengguna"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bad_requests_are_permanent_and_server_errors_and_timeouts_transient() {
    let h = harness().await;
    let s = sender(&h.cfg, &h.ctx).with_timeout(Duration::from_secs(1));
    let r = reply(&CHAT.to_string(), json!({}), "Jawaban");

    h.api.inject(
        "sendMessage",
        Inject::Json(400, api_error(400, "Bad Request: chat not found")),
    );
    assert!(
        matches!(s.send(&r).await, Err(SendError::Permanent(m)) if m.contains("chat not found"))
    );

    h.api.inject("sendMessage", Inject::Hang);
    match s.send(&r).await {
        Err(SendError::Transient(m)) => {
            assert!(m.contains("timeout"), "{m}");
            assert!(!m.contains(TOKEN), "{m}");
        }
        other => panic!("{other:?}"),
    }

    // teloxide reads a 5xx answer after a 10 s pause: give it the default timeout.
    h.api.inject(
        "sendMessage",
        Inject::Raw(502, "<html>502 Bad Gateway</html>"),
    );
    match sender(&h.cfg, &h.ctx).send(&r).await {
        Err(SendError::Transient(m)) => assert!(m.contains("502 Bad Gateway"), "{m}"),
        other => panic!("{other:?}"),
    }

    assert!(matches!(
        s.send(&reply("bukan-angka", json!({}), "x")).await,
        Err(SendError::Permanent(_))
    ));
    assert!(matches!(
        s.send(&reply(&CHAT.to_string(), json!({}), "  ")).await,
        Err(SendError::Permanent(_))
    ));
    assert!(h.api.sent().is_empty());
}

#[tokio::test]
async fn a_refused_token_is_transient_and_reported() {
    let h = harness().await;
    let mut cfg = h.cfg.clone();
    cfg.token = aduan_channel_telegram::Secret::new("999:WRONG");
    let err = sender(&cfg, &h.ctx)
        .send(&reply(&CHAT.to_string(), json!({}), "Jawaban"))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Transient(_)), "{err:?}");
    assert!(
        h.health
            .last()
            .flatten()
            .is_some_and(|e| e.contains("token"))
    );
}

#[tokio::test]
async fn through_the_outbox_a_blocked_bot_marks_the_reply_failed_for_staff() {
    let h = harness().await;
    let bot = h.bot();
    let update = text_update(1, CHAT, 42, "Pelayanan akta lambat");
    let outcome = handle_update(&h.ctx, &bot, &update, &HandleOptions::default())
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Created(_)), "{outcome:?}");
    h.api.inject(
        "sendMessage",
        Inject::Json(
            403,
            api_error(403, "Forbidden: bot was blocked by the user"),
        ),
    );
    let out = h.outbox().run_once().await.unwrap();
    assert_eq!(out.failed, 1, "{out:?}");
    let c = &h.complaints().await[0];
    assert_eq!(c.replies[0].status, ReplyStatus::Failed);
    assert!(
        c.replies[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("bot diblokir oleh pengguna")),
        "{:?}",
        c.replies[0].last_error
    );

    // A 429 on the next try is retried later, not failed.
    let update = text_update(2, OTHER_CHAT, 5, "Pengaduan lain");
    handle_update(&h.ctx, &bot, &update, &HandleOptions::default())
        .await
        .unwrap();
    h.api.inject("sendMessage", flood(3));
    let out = h.outbox().run_once().await.unwrap();
    assert_eq!(out.retried, 1, "{out:?}");
}
