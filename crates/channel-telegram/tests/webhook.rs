//! Webhook mode: the secret header, 2xx only after the commit, 5xx on a store outage, 400
//! on bodies that are not Updates.

mod common;

use aduan_channel_telegram::{OFFSET_CURSOR, SECRET_HEADER, WEBHOOK_PATH, webhook_router};
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn post(h: &Harness, body: &[u8], secret: Option<&str>) -> (StatusCode, Value) {
    let mut cfg = h.cfg.clone();
    cfg.mode = aduan_channel_telegram::Mode::Webhook;
    let router = webhook_router(cfg, h.ctx.clone());
    let mut req = Request::post(WEBHOOK_PATH).header("content-type", "application/json");
    if let Some(s) = secret {
        req = req.header(SECRET_HEADER, s);
    }
    let resp = router
        .oneshot(req.body(Body::from(body.to_vec())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, v)
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[tokio::test]
async fn the_right_secret_stores_the_complaint_once() {
    let h = harness().await;
    let update = bytes(&text_update(
        815234001,
        CHAT,
        42,
        "Ada pungutan liar di loket KK",
    ));
    let (status, body) = post(&h, &update, Some(WEBHOOK_SECRET)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let all = h.complaints().await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].external_id.as_deref(), Some(&*format!("{CHAT}:42")));

    // Telegram retries a delivery it thinks failed: stored once.
    let (status, _) = post(&h, &update, Some(WEBHOOK_SECRET)).await;
    assert_eq!(status, StatusCode::OK);
    let all = h.complaints().await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].replies.len(), 1);
    // No polling offset is written in webhook mode.
    assert_eq!(h.desk.intake().cursor(OFFSET_CURSOR).await.unwrap(), None);

    // The acknowledgement is a reply to the message.
    h.outbox().run_once().await.unwrap();
    let sent = h.api.sent_to(CHAT);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].reply_to, Some(42));
}

#[tokio::test]
async fn a_wrong_or_missing_secret_is_refused() {
    let h = harness().await;
    let update = bytes(&text_update(1, CHAT, 42, "Pengaduan palsu"));
    for secret in [
        Some("rahasia_salah"),
        Some(""),
        None,
        Some("rahasia_WEBHOOK-4"),
    ] {
        let (status, body) = post(&h, &update, secret).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{secret:?}");
        assert_eq!(body["error"]["code"], json!("unauthorized"), "{body}");
        assert!(body["error"]["message"].is_string());
    }
    assert!(h.complaints().await.is_empty());

    // Without a configured secret every request is refused.
    let mut cfg = h.cfg.clone();
    cfg.webhook_secret = aduan_channel_telegram::Secret::default();
    let router = webhook_router(cfg, h.ctx.clone());
    let resp = router
        .oneshot(
            Request::post(WEBHOOK_PATH)
                .header(SECRET_HEADER, "")
                .body(Body::from(update))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(h.complaints().await.is_empty());
}

#[tokio::test]
async fn bodies_that_are_not_updates_are_bad_requests() {
    let h = harness().await;
    for body in [
        &b"not json"[..],
        br#"{"message": {"text": "tanpa update_id"}}"#,
        br#"{"update_id": "satu"}"#,
        br#"{"update_id": -4}"#,
        br#"[1, 2]"#,
        b"",
    ] {
        let (status, v) = post(&h, body, Some(WEBHOOK_SECRET)).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(v["error"]["code"], json!("bad_request"), "{v}");
    }
    // An update kind aduan does not handle is acknowledged and skipped.
    let (status, _) = post(
        &h,
        br#"{"update_id": 5, "poll": {"id": "x"}}"#,
        Some(WEBHOOK_SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(h.complaints().await.is_empty());
}

#[tokio::test]
async fn a_store_outage_answers_5xx_so_telegram_retries() {
    let h = harness().await;
    let update = bytes(&text_update(9, CHAT, 42, "Pengaduan saat gangguan"));
    h.store
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = post(&h, &update, Some(WEBHOOK_SECRET)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], json!("unavailable"));
    assert!(h.health.last().flatten().is_some());
    h.store
        .down
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (status, _) = post(&h, &update, Some(WEBHOOK_SECRET)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.complaints().await.len(), 1);
    assert_eq!(h.health.last(), Some(None));
}

#[tokio::test]
async fn commands_are_answered_in_the_chat() {
    let h = harness().await;
    let (status, _) = post(
        &h,
        &bytes(&text_update(1, CHAT, 3, "/start")),
        Some(WEBHOOK_SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(
        &h,
        &bytes(&text_update(2, CHAT, 4, "/status ADU-202601-0099")),
        Some(WEBHOOK_SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let sent = h.api.sent_to(CHAT);
    assert_eq!(sent.len(), 2);
    assert!(sent[0].text.contains("kerahasiaannya"));
    assert!(sent[1].text.contains("tidak ditemukan"));
    assert!(h.complaints().await.is_empty());
}

#[tokio::test]
async fn odd_updates_never_break_the_handler() {
    let h = harness().await;
    let long = "x".repeat(5000);
    let odd = [
        json!({"update_id": 1, "message": {"chat": {"id": "x"}}}),
        json!({"update_id": 2, "message": {"message_id": 1, "chat": {"id": CHAT, "type": "private"},
               "date": -99_999_999_999_999i64, "text": ""}}),
        json!({"update_id": 3, "message": {"message_id": 1_000_000_000_000i64, "chat": {"id": CHAT, "type": "private"},
               "date": 0, "text": "pesan dengan id besar", "reply_to_message": {"message_id": 9_000_000_000i64}}}),
        json!({"update_id": 4, "message": {"message_id": 2, "chat": {"id": OTHER_CHAT, "type": "private"},
               "date": 4_102_444_800i64, "text": long, "from": {"id": 1, "first_name": "", "is_bot": false}}}),
        json!({"update_id": 5, "message": {"message_id": 3, "chat": {"id": 777, "type": "private"},
               "date": 1, "document": {"file_id": "nope", "file_unique_id": "n", "mime_type": "bukan/mime/valid//"},
               "caption": "dokumen rusak"}}),
        json!({"update_id": 6, "message": null}),
        json!({"update_id": 7, "message": {"message_id": 4, "chat": {"id": 778, "type": "private"}, "date": 1,
               "photo": [], "caption": "/"}}),
        json!({"update_id": 4_294_967_295u64}),
    ];
    for u in &odd {
        let (status, body) = post(&h, &bytes(u), Some(WEBHOOK_SECRET)).await;
        assert_eq!(status, StatusCode::OK, "{u}: {body}");
    }
    let all = h.complaints().await;
    let bodies: Vec<&str> = all.iter().map(|c| c.body.as_str()).collect();
    assert!(bodies.contains(&"pesan dengan id besar"), "{bodies:?}");
    assert!(bodies.iter().any(|b| b.len() == 5000), "{bodies:?}");
    assert!(
        bodies.contains(&"dokumen rusak\n[lampiran: dokumen]"),
        "{bodies:?}"
    );
    // Its file is fetched afterwards; the invalid file id ends as a visible note.
    let run = h.run_media().await;
    assert_eq!((run.claimed, run.failed), (1, 1), "{run:?}");
    let doc = h
        .complaints()
        .await
        .into_iter()
        .find(|c| c.body.starts_with("dokumen rusak"))
        .unwrap();
    assert!(
        doc.history
            .iter()
            .filter_map(|l| l.note.as_deref())
            .any(|n| n.starts_with("Lampiran tidak dapat diunduh: dokumen")),
        "{:?}",
        doc.history
    );
    // The empty text got an explanation instead of a complaint.
    assert!(
        h.api
            .sent_to(CHAT)
            .iter()
            .any(|m| m.text.contains("uraian pengaduan"))
    );
}
