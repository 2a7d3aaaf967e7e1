//! The webhook end to end: handshake, signatures, the three platforms' payloads, batching,
//! duplicates, ordering, ignored events, identity and bad payloads, against a real desk
//! over SQLite.

mod common;

use std::sync::atomic::Ordering;

use aduan_core::model::Direction;
use aduan_core::types::Channel;
use axum::http::StatusCode;
use chrono::{Duration, TimeZone, Utc};
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn handshake_echoes_the_challenge_only_for_the_right_token() {
    let h = harness().await;
    let (s, body) = h
        .get(&format!(
            "/webhooks/meta?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, "1158201444");

    for uri in [
        "/webhooks/meta?hub.mode=subscribe&hub.verify_token=salah&hub.challenge=1",
        "/webhooks/meta?hub.mode=subscribe&hub.challenge=1",
        &format!(
            "/webhooks/meta?hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1"
        ),
        &format!("/webhooks/meta?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}"),
        "/webhooks/meta",
    ] {
        let (s, body) = h.get(uri).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{uri}");
        assert!(!body.contains(VERIFY_TOKEN));
    }
}

#[tokio::test]
async fn signatures_are_checked_on_the_raw_bytes() {
    let h = harness().await;
    // The fact sheet's test vector.
    let body = br#"{"object":"page","entry":[{"id":"PAGE_ID_1","time":1767225600000,"messaging":[{"sender":{"id":"PSID_1"},"recipient":{"id":"PAGE_ID_1"},"timestamp":1767225599000,"message":{"mid":"m_test_1","text":"Jalan rusak di Jl. Ngurah Rai"}}]}]}"#;
    let sig = "sha256=604471c94d2c75c04234e40c3dd23a6d1cab18fa9a2f9351615c458e1c6284d4";

    // Missing, wrong, malformed, and the same content re-encoded: 401, nothing stored.
    let (s, v) = h.post(body, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["code"], "unauthorized");
    let wrong = signature_of(b"another secret", body);
    assert_eq!(h.post(body, Some(&wrong)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.post(body, Some("sha256=zz")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.post(body, Some(&sig[7..])).await.0,
        StatusCode::UNAUTHORIZED
    );
    let reencoded =
        serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(body).unwrap()).unwrap();
    assert_eq!(
        h.post(&reencoded, Some(sig)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(h.complaints().await.is_empty());

    // The right signature on the raw bytes.
    let (s, v) = h.post(body, Some(sig)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["created"], 1);

    // Escaped unicode (as Meta sends it) is signed as sent and decoded after the check;
    // re-encoding it to UTF-8 changes the bytes and fails.
    let escaped = format!(
        r#"{{"object":"page","entry":[{{"id":"P","time":1,"messaging":[{{"sender":{{"id":"PSID_2"}},"recipient":{{"id":"P"}},"timestamp":{},"message":{{"mid":"m_uni","text":"Pelayanan KTP-el lambat \u00e9 \ud83d\ude21"}}}}]}}]}}"#,
        ms_ago(Duration::zero())
    );
    let sig = signature_of(APP_SECRET.as_bytes(), escaped.as_bytes());
    let utf8 = serde_json::to_vec(&serde_json::from_str::<Value>(&escaped).unwrap()).unwrap();
    assert_ne!(utf8, escaped.as_bytes());
    assert_eq!(h.post(&utf8, Some(&sig)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.post(escaped.as_bytes(), Some(&sig)).await.0,
        StatusCode::OK
    );
    let all = h.complaints().await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].body, "Pelayanan KTP-el lambat é 😡");
}

fn signature_of(secret: &[u8], body: &[u8]) -> String {
    aduan_channel_meta::signature::sign(secret, body)
}

#[tokio::test]
async fn no_app_secret_refuses_everything() {
    let mut cfg = config("http://127.0.0.1:9/v25.0");
    cfg.app_secret = aduan_channel_meta::Secret::default();
    let h = harness_with(cfg).await;
    let body = fixture("meta_messenger_text.json");
    let sig = signature_of(b"", &body);
    assert_eq!(h.post(&body, Some(&sig)).await.0, StatusCode::UNAUTHORIZED);
    assert!(h.complaints().await.is_empty());
}

#[tokio::test]
async fn messenger_fixture_becomes_a_complaint() {
    let h = harness().await;
    let (s, v) = h.deliver(&fixture("meta_messenger_text.json")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["created"], 1);
    let all = h.complaints().await;
    assert_eq!(all.len(), 1);
    let c = &all[0];
    assert_eq!(c.channel, Channel::Messenger);
    assert_eq!(c.external_id.as_deref(), Some("m_AbCdEfGhIjKlMnOp"));
    assert_eq!(c.identity.handle.as_deref(), Some("6543210987654321"));
    assert_eq!(c.identity.name, None);
    assert_eq!(
        c.body,
        "Lampu jalan mati di Jl. Ahmad Yani, Singaraja sejak 3 hari"
    );
    // Received at the platform's time, not at arrival.
    assert_eq!(
        c.received_at,
        Utc.timestamp_millis_opt(1_767_225_599_000).unwrap()
    );
    assert_eq!(c.replies.len(), 1, "an acknowledgement is queued");
    assert_eq!(c.replies[0].channel, Channel::Messenger);
}

#[tokio::test]
async fn instagram_fixture_becomes_a_complaint() {
    let h = harness().await;
    let (s, v) = h.deliver(&fixture("meta_instagram_text.json")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let all = h.complaints().await;
    assert_eq!(all.len(), 1);
    let c = &all[0];
    assert_eq!(c.channel, Channel::Instagram);
    assert_eq!(
        c.external_id.as_deref(),
        Some("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx")
    );
    assert_eq!(c.identity.handle.as_deref(), Some("987654321012345"));
    assert_eq!(c.body, "Sampah menumpuk di Pantai Lovina");
}

#[tokio::test]
async fn whatsapp_fixtures_become_complaints_with_name_and_phone() {
    let h = harness().await;
    let (s, v) = h.deliver(&fixture("meta_whatsapp_text.json")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h.deliver(&fixture("meta_whatsapp_image.json")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let all = h.complaints().await;
    assert_eq!(all.len(), 2);
    let c = &all[0];
    assert_eq!(c.channel, Channel::Whatsapp);
    assert_eq!(
        c.external_id.as_deref(),
        Some("wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABIYFjNFQjBBQkNERUYwMTIzNDU2Nzg5AA==")
    );
    assert_eq!(c.identity.handle.as_deref(), Some("6281234567890"));
    assert_eq!(c.identity.name.as_deref(), Some("Made Sutama"));
    assert_eq!(c.identity.phone.as_deref(), Some("+6281234567890"));
    assert_eq!(c.body, "Air PDAM tidak mengalir di Kelurahan Banyuasri");
    assert_eq!(c.received_at, Utc.timestamp_opt(1_767_225_599, 0).unwrap());
    let img = &all[1];
    assert_eq!(img.identity.name.as_deref(), Some("Kadek Ayu"));
    assert_eq!(img.body, "Berkas KK rusak terkena air\n[lampiran: foto]");
}

#[tokio::test]
async fn whatsapp_user_without_a_phone_number_is_fine() {
    let h = harness().await;
    let (s, v) = h.deliver(&fixture("meta_whatsapp_bsuid.json")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let all = h.complaints().await;
    assert_eq!(all.len(), 1);
    let c = &all[0];
    assert_eq!(
        c.identity.handle.as_deref(),
        Some("ID.13491208655302741918")
    );
    assert_eq!(c.identity.phone, None);
    assert_eq!(c.identity.name.as_deref(), Some("Wayan"));
    assert_eq!(c.body, "Akta kelahiran anak saya belum terbit");
}

#[tokio::test]
async fn batched_delivery_processes_every_entry_and_event() {
    let h = harness().await;
    let t = ms_ago(Duration::minutes(5));
    let body = messaging_delivery(
        "page",
        &[
            (
                "PAGE",
                vec![
                    text_event("PAGE", "A", "m_a1", t, "KTP saya hilang"),
                    text_event("PAGE", "B", "m_b1", t + 10, "Antrean capil panjang"),
                ],
            ),
            (
                "PAGE",
                vec![
                    text_event("PAGE", "A", "m_a2", t + 20, "Mohon dibantu"),
                    text_event("PAGE", "C", "m_c1", t + 30, "Akta belum jadi"),
                ],
            ),
        ],
    );
    let (s, v) = h.deliver(&body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["created"].as_u64(), v["appended"].as_u64()),
        (Some(3), Some(1))
    );
    let all = h.complaints().await;
    let handles: Vec<_> = all
        .iter()
        .map(|c| c.identity.handle.clone().unwrap())
        .collect();
    assert_eq!(handles, ["A", "B", "C"]);
    let texts: Vec<_> = all[0].messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["KTP saya hilang", "Mohon dibantu"]);
}

#[tokio::test]
async fn redelivery_makes_no_second_complaint() {
    let h = harness().await;
    for fx in ["meta_messenger_text.json", "meta_whatsapp_text.json"] {
        let body = fixture(fx);
        assert_eq!(h.deliver(&body).await.0, StatusCode::OK);
        // Meta retries for days: the same ids again, even inside another batch.
        let (s, v) = h.deliver(&body).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["duplicates"], 1, "{v}");
        assert_eq!(v["created"], 0);
    }
    let all = h.complaints().await;
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .all(|c| c.messages.len() == 1 && c.replies.len() == 1)
    );

    // A duplicate id inside one delivery is stored once too.
    let t = ms_ago(Duration::minutes(1));
    let ev = text_event("PAGE", "D", "m_same", t, "Sama");
    let body = messaging_delivery("page", &[("PAGE", vec![ev.clone(), ev])]);
    let (s, v) = h.deliver(&body).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (v["created"].as_u64(), v["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
}

#[tokio::test]
async fn out_of_order_events_are_sorted_by_platform_time() {
    let h = harness().await;
    let t = ms_ago(Duration::minutes(10));
    let body = messaging_delivery(
        "instagram",
        &[
            (
                "IGACC",
                vec![text_event("IGACC", "U", "m3", t + 3000, "ketiga")],
            ),
            (
                "IGACC",
                vec![
                    text_event("IGACC", "U", "m1", t + 1000, "pertama"),
                    text_event("IGACC", "U", "m2", t + 2000, "kedua"),
                ],
            ),
        ],
    );
    let (s, v) = h.deliver(&body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let all = h.complaints().await;
    assert_eq!(all.len(), 1);
    let c = &all[0];
    assert_eq!(
        c.body, "pertama",
        "the earliest message opens the complaint"
    );
    assert_eq!(c.external_id.as_deref(), Some("m1"));
    let texts: Vec<_> = c.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["pertama", "kedua", "ketiga"]);
    let at: Vec<_> = c.messages.iter().map(|m| m.at.timestamp_millis()).collect();
    assert_eq!(at, [t + 1000, t + 2000, t + 3000]);
}

#[tokio::test]
async fn echo_read_delivery_and_status_events_make_no_complaints() {
    let h = harness().await;
    let t = ms_ago(Duration::minutes(1));
    let messenger = messaging_delivery(
        "page",
        &[(
            "PAGE",
            vec![
                json!({"sender": {"id": "PAGE"}, "recipient": {"id": "U"}, "timestamp": t,
                       "message": {"mid": "m_echo", "text": "Terima kasih", "is_echo": true, "app_id": 1234}}),
                json!({"sender": {"id": "U"}, "recipient": {"id": "PAGE"}, "timestamp": t,
                       "read": {"watermark": t}}),
                json!({"sender": {"id": "U"}, "recipient": {"id": "PAGE"}, "timestamp": t,
                       "delivery": {"mids": ["m_out"], "watermark": t}}),
                json!({"sender": {"id": "U"}, "recipient": {"id": "PAGE"}, "timestamp": t,
                       "postback": {"title": "Mulai", "payload": "GET_STARTED"}}),
            ],
        )],
    );
    let (s, v) = h.deliver(&messenger).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["ignored"], 4, "{v}");
    // Instagram echoes arrive without is_echo: the account itself is the sender.
    let ig = messaging_delivery(
        "instagram",
        &[(
            "IGACC",
            vec![text_event("IGACC", "IGACC", "m_ig_echo", t, "Balasan kami")],
        )],
    );
    let (s, v) = h.deliver(&ig).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["ignored"], 1, "{v}");
    let (s, v) = h.deliver(&fixture("meta_whatsapp_statuses.json")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["ignored"], 3, "{v}");
    assert!(h.complaints().await.is_empty());
}

#[tokio::test]
async fn messages_while_a_complaint_is_open_append_to_it() {
    let h = harness().await;
    let now = Utc::now().timestamp();
    let first = whatsapp_text(
        "6281234500001",
        "Putu",
        "wamid.X1",
        now - 60,
        "Surat pindah belum selesai",
    );
    let second = whatsapp_text(
        "6281234500001",
        "Putu",
        "wamid.X2",
        now - 30,
        "Sudah dua minggu",
    );
    let other = whatsapp_text(
        "6281234500002",
        "Komang",
        "wamid.Y1",
        now - 20,
        "KK salah nama",
    );
    for b in [&first, &second, &other] {
        assert_eq!(h.deliver(b).await.0, StatusCode::OK);
    }
    let all = h.complaints().await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].messages.len(), 2);
    assert!(all[0].messages.iter().all(|m| m.direction == Direction::In));
    assert_eq!(all[0].messages[1].text, "Sudah dua minggu");
    assert_eq!(
        all[0].replies.len(),
        1,
        "appended messages are not acknowledged again"
    );
    assert_eq!(all[1].identity.handle.as_deref(), Some("6281234500002"));
}

#[tokio::test]
async fn bad_payloads_are_refused_whole_and_nothing_is_lost() {
    let h = harness().await;
    let t = ms_ago(Duration::minutes(1));
    let good = text_event("PAGE", "A", "m_ok", t, "Pelayanan lambat");
    let bad = json!({"sender": {"id": "B"}, "recipient": {"id": "PAGE"}, "timestamp": t,
                     "message": {"text": "tanpa mid"}});
    let mixed = messaging_delivery("page", &[("PAGE", vec![good.clone(), bad])]);
    for body in [
        b"bukan json".to_vec(),
        b"[]".to_vec(),
        b"{}".to_vec(),
        br#"{"object":"page"}"#.to_vec(),
        br#"{"object":"page","entry":"x"}"#.to_vec(),
        br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"from":"62"}]}}]}]}"#.to_vec(),
        mixed,
    ] {
        let (s, v) = h.deliver(&body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&body));
        assert_eq!(v["error"]["code"], "bad_request");
    }
    assert!(
        h.complaints().await.is_empty(),
        "nothing stored from a refused delivery"
    );

    // The good event, delivered well-formed, is stored.
    let (s, _) = h
        .deliver(&messaging_delivery("page", &[("PAGE", vec![good])]))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h.complaints().await.len(), 1);

    // An event that can never be stored is skipped, the rest of the delivery kept.
    let empty = json!({"sender": {"id": "C"}, "recipient": {"id": "PAGE"}, "timestamp": t,
                       "message": {"mid": "m_empty", "text": "   "}});
    let body = messaging_delivery(
        "page",
        &[(
            "PAGE",
            vec![empty, text_event("PAGE", "C", "m_c", t, "Isi pengaduan")],
        )],
    );
    let (s, v) = h.deliver(&body).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (v["rejected"].as_u64(), v["created"].as_u64()),
        (Some(1), Some(1))
    );

    // Over 1 MiB: 413 before anything else.
    let big = vec![b' '; 1024 * 1024 + 1];
    let (s, v) = h.deliver(&big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(h.complaints().await.len(), 2);
}

#[tokio::test]
async fn transient_store_failure_answers_5xx_and_redelivery_completes() {
    let h = harness().await;
    let t = ms_ago(Duration::minutes(3));
    let body = messaging_delivery(
        "page",
        &[(
            "PAGE",
            vec![
                text_event("PAGE", "A", "m_a1", t, "satu"),
                text_event("PAGE", "A", "m_a2", t + 1, "dua"),
                text_event("PAGE", "B", "m_b1", t + 2, "lain"),
            ],
        )],
    );
    // A's first message fails: A's second must wait (order), B goes through.
    h.store.fail_creates.store(1, Ordering::SeqCst);
    let (s, v) = h.deliver(&body).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    let all = h.complaints().await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].identity.handle.as_deref(), Some("B"));

    // Meta delivers again: A in order, B deduplicated.
    let (s, v) = h.deliver(&body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["created"].as_u64(),
            v["appended"].as_u64(),
            v["duplicates"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let all = h.complaints().await;
    assert_eq!(all.len(), 2);
    let a = all
        .iter()
        .find(|c| c.identity.handle.as_deref() == Some("A"))
        .unwrap();
    let texts: Vec<_> = a.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["satu", "dua"]);

    // An append failing transiently is retried the same way.
    h.store.fail_appends.store(1, Ordering::SeqCst);
    let more = messaging_delivery(
        "page",
        &[("PAGE", vec![text_event("PAGE", "A", "m_a3", t + 5, "tiga")])],
    );
    assert_eq!(h.deliver(&more).await.0, StatusCode::SERVICE_UNAVAILABLE);
    let (s, v) = h.deliver(&more).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["appended"], 1);
}
