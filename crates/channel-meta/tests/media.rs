//! Everything a Messenger, Instagram or WhatsApp citizen sends reaches staff, on SQLite and
//! PostgreSQL, fed with the shapes of Meta's documented webhook examples: media become
//! attachments fetched after the commit from the fake Graph API (WhatsApp: media id → URL →
//! bytes with the bearer token; Messenger/Instagram: the attachment URL) that staff open
//! through the staff API; contacts, locations, button replies, shares and stories become
//! text; slow, oversized and gone files; non-complaints make nothing and send nothing; a
//! killed worker's job after its lease; no phone, PSID, token or file URL in the logs.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aduan_admin::testing::staff_download;
use aduan_core::desk::SystemClock;
use aduan_core::media::{MEDIA_FAILED_ACTION, MediaStatus};
use aduan_core::model::{ComplaintRecord, Identity};
use aduan_core::services::MEDIA_LEASE;
use aduan_core::store::prelude::*;
use aduan_core::testing::LogCapture;
use aduan_core::testing::{ManualClock, PrivacyOracle};
use aduan_core::types::Channel;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

macro_rules! on_both {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $test() { super::$test(false).await })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $test() { super::$test(true).await })*
        }
    };
}

on_both!(
    whatsapp_media_of_every_kind_reaches_staff,
    messenger_and_instagram_attachments_reach_staff,
    a_slow_file_server_does_not_delay_the_webhook,
    oversize_and_gone_files_are_recorded_on_the_complaint,
    failing_downloads_are_retried,
    non_complaints_make_nothing_and_send_nothing,
    a_killed_workers_job_is_fetched_after_its_lease,
    logs_carry_no_phone_psid_token_or_file_url,
);

async fn harness_for(
    postgres: bool,
    limit: u64,
    clock: Arc<dyn aduan_core::desk::Clock>,
) -> (Harness, FakeGraph) {
    let graph = FakeGraph::start().await;
    let h = harness_on(postgres, config(&graph.base), limit, clock).await;
    (h, graph)
}

/// A WhatsApp delivery of one message of `from` (WhatsApp Cloud API `messages` webhook).
fn wa(from: &str, message: Value) -> Vec<u8> {
    let mut m = message;
    m["from"] = json!(from);
    m["timestamp"] = json!(secs_ago(60).to_string());
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "6281100000000", "phone_number_id": WA_PHONE_ID},
            "contacts": [{"profile": {"name": "Kadek Ayu"}, "wa_id": from}],
            "messages": [m]
        }}]}]
    }))
    .unwrap()
}

fn secs_ago(s: i64) -> i64 {
    chrono::Utc::now().timestamp() - s
}

/// A Messenger (`page`) or Instagram delivery of one message event.
fn messaging(object: &str, own: &str, sender: &str, message: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": object,
        "entry": [{"id": own, "time": ms_ago(chrono::Duration::zero()), "messaging": [{
            "sender": {"id": sender}, "recipient": {"id": own},
            "timestamp": ms_ago(chrono::Duration::seconds(30)),
            "message": message
        }]}]
    }))
    .unwrap()
}

const PAGE: &str = "102030405060708";
const IG: &str = "17841400000000000";

fn by_handle<'a>(all: &'a [ComplaintRecord], handle: &str) -> &'a ComplaintRecord {
    all.iter()
        .find(|c| c.identity.handle.as_deref() == Some(handle))
        .unwrap_or_else(|| panic!("no complaint of {handle}"))
}

fn notes(c: &ComplaintRecord) -> Vec<String> {
    c.history
        .iter()
        .filter(|h| h.action == MEDIA_FAILED_ACTION)
        .filter_map(|h| h.note.clone())
        .collect()
}

async fn assert_files(h: &Harness, c: &ComplaintRecord, want: &[(&[u8], &str)]) {
    assert_eq!(
        c.attachments.len(),
        want.len(),
        "{}: {:?}",
        c.body,
        c.attachments
    );
    for (a, (data, ct)) in c.attachments.iter().zip(want) {
        let (status, body, headers) = staff_download(&h.desk, &c.ticket, a.id).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, *data, "the bytes the file server served");
        assert_eq!(a.content_type, *ct);
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
}

async fn whatsapp_media_of_every_kind_reaches_staff(postgres: bool) {
    let (h, graph) = harness_for(postgres, 1024 * 1024, Arc::new(SystemClock)).await;
    graph.add_media("1234567890", "image/jpeg", b"\xff\xd8 KK rusak");
    graph.add_media("2001", "video/mp4", b"ftyp video");
    graph.add_media("2002", "audio/mpeg", b"ID3 audio");
    graph.add_media("2003", "audio/ogg; codecs=opus", b"OggS voice");
    graph.add_media("2004", "application/pdf", b"%PDF akta");
    // The documented image example (the fixture), then one message of each other kind.
    assert_eq!(
        h.deliver(&fixture("meta_whatsapp_image.json")).await.0,
        StatusCode::OK
    );
    let deliveries = [
        wa(
            "6281000000001",
            json!({"id": "wamid.V1", "type": "video",
            "video": {"caption": "Antrean", "mime_type": "video/mp4", "sha256": "h", "id": "2001"}}),
        ),
        wa(
            "6281000000002",
            json!({"id": "wamid.A1", "type": "audio",
            "audio": {"mime_type": "audio/mpeg", "sha256": "h", "id": "2002", "voice": false}}),
        ),
        wa(
            "6281000000003",
            json!({"id": "wamid.N1", "type": "audio",
            "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "h", "id": "2003", "voice": true}}),
        ),
        wa(
            "6281000000004",
            json!({"id": "wamid.D1", "type": "document",
            "document": {"caption": "Akta", "filename": "akta-kelahiran.pdf",
                         "mime_type": "application/pdf", "sha256": "h", "id": "2004"}}),
        ),
        wa(
            "6281000000005",
            json!({"id": "wamid.C1", "type": "contacts", "contacts": [{
            "addresses": [{"city": "Singaraja", "country": "Indonesia", "type": "HOME"}],
            "emails": [{"email": "saksi@example.com", "type": "WORK"}],
            "name": {"formatted_name": "Ketut Saksi", "first_name": "Ketut", "last_name": "Saksi"},
            "phones": [{"phone": "+62 812-3450-0002", "wa_id": "6281234500002", "type": "CELL"}]}]}),
        ),
        wa(
            "6281000000006",
            json!({"id": "wamid.L1", "type": "location", "location": {
            "latitude": -8.112, "longitude": 115.088, "name": "Kantor Disdukcapil",
            "address": "Jl. Pahlawan No. 1, Singaraja"}}),
        ),
        wa(
            "6281000000007",
            json!({"id": "wamid.I1", "type": "interactive", "interactive": {
            "type": "button_reply", "button_reply": {"id": "ya", "title": "Ya, masih belum selesai"}}}),
        ),
        wa(
            "6281000000008",
            json!({"id": "wamid.I2", "type": "interactive", "interactive": {
            "type": "list_reply", "list_reply": {"id": "ktp", "title": "KTP-el", "description": "Kartu"}}}),
        ),
        wa(
            "6281000000009",
            json!({"id": "wamid.B1", "type": "button",
            "button": {"payload": "STATUS", "text": "Cek status"}}),
        ),
    ];
    for d in &deliveries {
        let (s, v) = h.deliver(d).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["created"], 1, "{v}");
    }
    h.drain_media().await;
    let all = h.complaints().await;
    assert_eq!(all.len(), 10);
    let img = by_handle(&all, "6281999888777");
    assert_eq!(img.body, "Berkas KK rusak terkena air\n[lampiran: foto]");
    assert_files(&h, img, &[(b"\xff\xd8 KK rusak", "image/jpeg")]).await;
    let c = by_handle(&all, "6281000000001");
    assert_eq!(c.body, "Antrean\n[lampiran: video]");
    assert_files(&h, c, &[(b"ftyp video", "video/mp4")]).await;
    let c = by_handle(&all, "6281000000002");
    assert_eq!(c.body, "[lampiran: audio]");
    assert_files(&h, c, &[(b"ID3 audio", "audio/mpeg")]).await;
    let c = by_handle(&all, "6281000000003");
    assert_eq!(c.body, "[lampiran: pesan suara]");
    assert_files(&h, c, &[(b"OggS voice", "audio/ogg; codecs=opus")]).await;
    let c = by_handle(&all, "6281000000004");
    assert_eq!(c.body, "Akta\n[lampiran: dokumen]");
    assert_files(&h, c, &[(b"%PDF akta", "application/pdf")]).await;
    assert_eq!(c.attachments[0].filename, "akta-kelahiran.pdf");
    assert_eq!(
        by_handle(&all, "6281000000005").body,
        "[kontak: Ketut Saksi, +62 812-3450-0002, saksi@example.com]"
    );
    assert_eq!(
        by_handle(&all, "6281000000006").body,
        "[lokasi: Kantor Disdukcapil, Jl. Pahlawan No. 1, Singaraja — -8.112, 115.088]"
    );
    assert_eq!(
        by_handle(&all, "6281000000007").body,
        "Ya, masih belum selesai"
    );
    assert_eq!(by_handle(&all, "6281000000008").body, "KTP-el");
    assert_eq!(by_handle(&all, "6281000000009").body, "Cek status");
    // Media id → URL → bytes, both with the WhatsApp token.
    let seen = graph.seen();
    let lookups: Vec<&Seen> = seen.iter().filter(|s| s.path == "/v25.0/2004").collect();
    assert_eq!(lookups.len(), 1);
    assert_eq!(
        lookups[0].authorization.as_deref(),
        Some(&*format!("Bearer {WA_TOKEN}"))
    );
    let files: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path.starts_with("/wa-files/"))
        .collect();
    assert_eq!(files.len(), 5);
    assert!(
        files
            .iter()
            .all(|s| s.authorization.as_deref() == Some(&*format!("Bearer {WA_TOKEN}")))
    );
    // A redelivery of the image adds no second job or file.
    let (_, v) = h.deliver(&fixture("meta_whatsapp_image.json")).await;
    assert_eq!(v["duplicates"], 1, "{v}");
    assert_eq!(h.run_media().await.claimed, 0);
    h.teardown().await;
}

async fn messenger_and_instagram_attachments_reach_staff(postgres: bool) {
    let (h, graph) = harness_for(postgres, 1024 * 1024, Arc::new(SystemClock)).await;
    let img = graph.add_cdn("m-img.jpg", "image/jpeg", b"JPEG messenger");
    let vid = graph.add_cdn("m-vid.mp4", "video/mp4", b"MP4 messenger");
    let aud = graph.add_cdn("m-aud.mp4", "audio/mpeg", b"AUDIO messenger");
    let doc = graph.add_cdn("m-doc.pdf", "application/pdf", b"%PDF messenger");
    let ig_img = graph.add_cdn("ig-img.jpg", "image/jpeg", b"JPEG instagram");
    // One Messenger message with four attachments (the `messages` reference's shape).
    let d = messaging(
        "page",
        PAGE,
        "6543210987654321",
        json!({
        "mid": "m_media_1", "text": "Foto dan berkas antrean",
        "attachments": [
            {"type": "image", "payload": {"url": img}},
            {"type": "video", "payload": {"url": vid}},
            {"type": "audio", "payload": {"url": aud}},
            {"type": "file", "payload": {"url": doc}}
        ]}),
    );
    assert_eq!(h.deliver(&d).await.1["created"], 1);
    let location = messaging(
        "page",
        PAGE,
        "6543210000000002",
        json!({"mid": "m_loc",
        "attachments": [{"type": "location", "title": "Lokasi Kadek", "url": "https://l.facebook.com/x",
            "payload": {"coordinates": {"lat": -8.11, "long": 115.09}}}]}),
    );
    let share = messaging(
        "page",
        PAGE,
        "6543210000000003",
        json!({"mid": "m_share",
        "attachments": [{"type": "fallback", "title": "Berita pelayanan", "url": "https://news.example/a",
            "payload": null}]}),
    );
    let mention = messaging(
        "instagram",
        IG,
        "987654321012345",
        json!({"mid": "ig_mention",
        "attachments": [{"type": "story_mention", "payload": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"}}]}),
    );
    let reply = messaging(
        "instagram",
        IG,
        "987654321000002",
        json!({"mid": "ig_reply",
        "text": "Ini antrean hari ini", "reply_to": {"story": {"url": "https://lookaside.fbsbx.com/story/2", "id": "2"}}}),
    );
    let ig_share = messaging(
        "instagram",
        IG,
        "987654321000003",
        json!({"mid": "ig_share",
        "attachments": [{"type": "share", "payload": {"url": "https://www.instagram.com/p/abc/"}}]}),
    );
    let ig_photo = messaging(
        "instagram",
        IG,
        "987654321000004",
        json!({"mid": "ig_photo",
        "attachments": [{"type": "image", "payload": {"url": ig_img}}]}),
    );
    for d in [&location, &share, &mention, &reply, &ig_share, &ig_photo] {
        let (s, v) = h.deliver(d).await;
        assert_eq!((s, v["created"].clone()), (StatusCode::OK, json!(1)), "{v}");
    }
    h.drain_media().await;
    let all = h.complaints().await;
    let m = by_handle(&all, "6543210987654321");
    assert_eq!(m.channel, Channel::Messenger);
    assert_eq!(
        m.body,
        "Foto dan berkas antrean\n[lampiran: foto]\n[lampiran: video]\n[lampiran: audio]\n[lampiran: dokumen]"
    );
    assert_files(
        &h,
        m,
        &[
            (b"JPEG messenger", "image/jpeg"),
            (b"MP4 messenger", "video/mp4"),
            (b"AUDIO messenger", "audio/mpeg"),
            (b"%PDF messenger", "application/pdf"),
        ],
    )
    .await;
    assert_eq!(
        by_handle(&all, "6543210000000002").body,
        "[lokasi: Lokasi Kadek — -8.11, 115.09]"
    );
    assert_eq!(
        by_handle(&all, "6543210000000003").body,
        "[tautan dibagikan: Berita pelayanan — https://news.example/a]"
    );
    let c = by_handle(&all, "987654321012345");
    assert_eq!(c.channel, Channel::Instagram);
    assert_eq!(
        c.body,
        "[menyebut akun kami di story: https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1]"
    );
    assert_eq!(
        by_handle(&all, "987654321000002").body,
        "Ini antrean hari ini\n[membalas story: https://lookaside.fbsbx.com/story/2]"
    );
    assert_eq!(
        by_handle(&all, "987654321000003").body,
        "[tautan dibagikan: https://www.instagram.com/p/abc/]"
    );
    assert_files(
        &h,
        by_handle(&all, "987654321000004"),
        &[(b"JPEG instagram", "image/jpeg")],
    )
    .await;
    // Attachment URLs are fetched without any token.
    assert!(
        graph
            .seen()
            .iter()
            .filter(|s| s.path.starts_with("/cdn/"))
            .all(|s| s.authorization.is_none())
    );
    h.teardown().await;
}

async fn a_slow_file_server_does_not_delay_the_webhook(postgres: bool) {
    let (h, graph) = harness_for(postgres, 1024 * 1024, Arc::new(SystemClock)).await;
    graph.add_media("3001", "image/jpeg", b"JPEG slow");
    graph.slow("3001", Duration::from_secs(4));
    let started = Instant::now();
    let (s, v) = h
        .deliver(&wa(
            "6281000000011",
            json!({"id": "wamid.S1", "type": "image",
            "image": {"mime_type": "image/jpeg", "sha256": "h", "id": "3001"}}),
        ))
        .await;
    let took = started.elapsed();
    assert_eq!((s, v["created"].clone()), (StatusCode::OK, json!(1)), "{v}");
    assert!(
        took < Duration::from_millis(1500),
        "the webhook waited {took:?}"
    );
    assert!(h.complaints().await[0].attachments.is_empty());
    let started = Instant::now();
    assert_eq!(h.run_media().await.stored, 1);
    assert!(started.elapsed() >= Duration::from_secs(4));
    let c = h.complaints().await.remove(0);
    assert_files(&h, &c, &[(b"JPEG slow", "image/jpeg")]).await;
    h.teardown().await;
}

async fn oversize_and_gone_files_are_recorded_on_the_complaint(postgres: bool) {
    let (h, graph) = harness_for(postgres, 1000, Arc::new(SystemClock)).await;
    graph.add_media("4001", "video/mp4", &[0u8; 5000]);
    let big_cdn = graph.add_cdn("big.mp4", "video/mp4", &[1u8; 5000]);
    let gone_cdn = graph.add_cdn("gone.jpg", "image/jpeg", b"JPEG");
    graph.fail_download("gone.jpg", 404);
    let deliveries = [
        wa(
            "6281000000021",
            json!({"id": "wamid.O1", "type": "video",
            "video": {"mime_type": "video/mp4", "sha256": "h", "id": "4001"}}),
        ),
        wa(
            "6281000000022",
            json!({"id": "wamid.O2", "type": "image",
            "image": {"mime_type": "image/jpeg", "sha256": "h", "id": "no-such-media"}}),
        ),
        messaging(
            "page",
            PAGE,
            "6543210000000021",
            json!({"mid": "m_big",
            "attachments": [{"type": "video", "payload": {"url": big_cdn}}]}),
        ),
        messaging(
            "page",
            PAGE,
            "6543210000000022",
            json!({"mid": "m_gone",
            "attachments": [{"type": "image", "payload": {"url": gone_cdn}}]}),
        ),
    ];
    for d in &deliveries {
        assert_eq!(h.deliver(d).await.0, StatusCode::OK);
    }
    h.drain_media().await;
    let all = h.complaints().await;
    assert!(all.iter().all(|c| c.attachments.is_empty()));
    let n = notes(by_handle(&all, "6281000000021"));
    assert!(
        n[0].starts_with("Lampiran terlalu besar: video (video/mp4) dari WhatsApp"),
        "{n:?}"
    );
    assert!(
        !graph.seen().iter().any(|s| s.path == "/wa-files/4001"),
        "announced over the limit: not downloaded"
    );
    let n = notes(by_handle(&all, "6281000000022"));
    assert!(
        n[0].starts_with("Lampiran tidak dapat diunduh: foto (image/jpeg) dari WhatsApp"),
        "{n:?}"
    );
    let n = notes(by_handle(&all, "6543210000000021"));
    assert!(n[0].starts_with("Lampiran terlalu besar: video"), "{n:?}");
    let n = notes(by_handle(&all, "6543210000000022"));
    assert!(
        n[0].starts_with("Lampiran tidak dapat diunduh: foto") && n[0].contains("HTTP 404"),
        "{n:?}"
    );
    for c in &all {
        for j in h.desk.media().jobs_of(&c.ticket).await.unwrap() {
            assert_eq!(j.status, MediaStatus::Failed);
        }
    }
    h.teardown().await;
}

async fn failing_downloads_are_retried(postgres: bool) {
    let clock = ManualClock::new(chrono::Utc::now());
    let (h, graph) = harness_for(postgres, 1024 * 1024, Arc::new(clock.clone())).await;
    let url = graph.add_cdn("flaky.jpg", "image/jpeg", b"JPEG at last");
    graph.fail_download("flaky.jpg", 503);
    graph.fail_download("flaky.jpg", 502);
    let d = messaging(
        "page",
        PAGE,
        "6543210000000031",
        json!({"mid": "m_flaky",
        "attachments": [{"type": "image", "payload": {"url": url}}]}),
    );
    assert_eq!(h.deliver(&d).await.0, StatusCode::OK);
    assert_eq!(h.run_media().await.retried, 1);
    assert_eq!(h.run_media().await.claimed, 0, "backoff");
    clock.advance(chrono::Duration::minutes(1));
    assert_eq!(h.run_media().await.retried, 1);
    clock.advance(chrono::Duration::minutes(2));
    assert_eq!(h.run_media().await.stored, 1);
    let c = h.complaints().await.remove(0);
    assert_files(&h, &c, &[(b"JPEG at last", "image/jpeg")]).await;
    assert!(notes(&c).is_empty());
    h.teardown().await;
}

async fn non_complaints_make_nothing_and_send_nothing(postgres: bool) {
    let (h, graph) = harness_for(postgres, 1024 * 1024, Arc::new(SystemClock)).await;
    let t = ms_ago(chrono::Duration::seconds(10));
    let page_events = json!({"object": "page", "entry": [
        {"id": PAGE, "time": t, "messaging": [
            {"sender": {"id": "U1"}, "recipient": {"id": PAGE}, "timestamp": t,
             "reaction": {"mid": "m_x", "action": "react", "emoji": "👍", "reaction": "like"}},
            {"sender": {"id": "U1"}, "recipient": {"id": PAGE}, "timestamp": t,
             "message": {"mid": "m_like", "sticker_id": 369239263222822i64, "attachments": [
                {"type": "image", "payload": {"url": "https://scontent.example/like.png", "sticker_id": 369239263222822i64}},
                {"type": "sticker", "payload": {"url": "https://scontent.example/like.png", "sticker_id": 369239263222822i64}}]}},
            {"sender": {"id": "U1"}, "recipient": {"id": PAGE}, "timestamp": t, "read": {"watermark": t}},
            {"sender": {"id": "U1"}, "recipient": {"id": PAGE}, "timestamp": t,
             "delivery": {"mids": ["m_out"], "watermark": t}},
            {"sender": {"id": PAGE}, "recipient": {"id": "U1"}, "timestamp": t,
             "message": {"mid": "m_echo", "is_echo": true, "app_id": 1517776481860111i64, "text": "Terima kasih"}},
            {"sender": {"id": "U1"}, "recipient": {"id": PAGE}, "timestamp": t,
             "message_edit": {"mid": "m_old", "text": "diedit", "num_edit": 1}}
        ]},
        {"id": PAGE, "time": t, "standby": [
            {"sender": {"id": "U2"}, "recipient": {"id": PAGE}, "timestamp": t,
             "message": {"mid": "m_standby", "text": "pesan untuk aplikasi lain"}}]},
        {"time": 1681827428517i64, "id": "0", "messaging": [
            {"sender": {"id": "12334"}, "recipient": {"id": "23245"}, "timestamp": "1527459824",
             "message": {"mid": "test_message_id", "text": "test_message"}}]}
    ]});
    let (s, v) = h.deliver(&serde_json::to_vec(&page_events).unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["created"].clone(), v["ignored"].clone()),
        (json!(0), json!(8)),
        "{v}"
    );
    let ig = messaging(
        "instagram",
        IG,
        "S9",
        json!({"mid": "ig_unsup", "is_unsupported": true}),
    );
    assert_eq!(h.deliver(&ig).await.1["ignored"], 1);
    for m in [
        json!({"id": "wamid.R1", "type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👍"}}),
        json!({"id": "wamid.S1", "type": "sticker", "sticker": {"mime_type": "image/webp", "sha256": "h", "id": "5001", "animated": false}}),
        json!({"id": "wamid.U1", "type": "unsupported", "errors": [{"code": 131051,
            "title": "Message type unknown", "message": "Message type unknown",
            "error_data": {"details": "Message type is currently not supported."}}]}),
    ] {
        let (s, v) = h.deliver(&wa("6281000000041", m)).await;
        assert_eq!((s, v["ignored"].clone()), (StatusCode::OK, json!(1)), "{v}");
    }
    let test = json!({"object": "whatsapp_business_account", "entry": [{"id": "0", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "16505551111", "phone_number_id": "123456123"},
        "contacts": [{"profile": {"name": "test user name"}, "wa_id": "16315551181"}],
        "messages": [{"from": "16315551181", "id": "ABGGFlA5Fpa", "timestamp": "1504902988",
                      "type": "text", "text": {"body": "this is a text message"}}]}}]}]});
    assert_eq!(
        h.deliver(&serde_json::to_vec(&test).unwrap()).await.1["ignored"],
        1
    );
    let (s, v) = h.deliver(&fixture("meta_whatsapp_statuses.json")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(h.complaints().await.is_empty());
    assert_eq!(h.run_media().await.claimed, 0);
    assert!(
        graph.seen().is_empty(),
        "nothing fetched, nothing sent: {:?}",
        graph.seen()
    );
    let sent = h.outbox().run_once().await.unwrap();
    assert_eq!(sent.claimed, 0, "no reply queued");
    h.teardown().await;
}

async fn a_killed_workers_job_is_fetched_after_its_lease(postgres: bool) {
    let clock = ManualClock::new(chrono::Utc::now());
    let (h, graph) = harness_for(postgres, 1024 * 1024, Arc::new(clock.clone())).await;
    graph.add_media("6001", "image/jpeg", b"JPEG lease");
    let d = wa(
        "6281000000051",
        json!({"id": "wamid.K1", "type": "image",
        "image": {"mime_type": "image/jpeg", "sha256": "h", "id": "6001"}}),
    );
    assert_eq!(h.deliver(&d).await.0, StatusCode::OK);
    let now = aduan_core::desk::Clock::now(&clock);
    let dead = h
        .store
        .claim_media(&[Channel::Whatsapp], now, MEDIA_LEASE, 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "claimed by a worker that is then killed");
    assert_eq!(h.run_media().await.claimed, 0, "the lease still lives");
    clock.advance(MEDIA_LEASE + chrono::Duration::seconds(1));
    assert_eq!(h.run_media().await.stored, 1);
    let c = h.complaints().await.remove(0);
    assert_files(&h, &c, &[(b"JPEG lease", "image/jpeg")]).await;
    h.teardown().await;
}

async fn logs_carry_no_phone_psid_token_or_file_url(postgres: bool) {
    let logs = LogCapture::default();
    let _guard = logs.start();
    let (h, graph) = harness_for(postgres, 1024 * 1024, Arc::new(SystemClock)).await;
    graph.add_media("1938567024713370", "image/jpeg", b"JPEG");
    let ok_url = graph.add_cdn("ok.jpg", "image/jpeg", b"JPEG");
    let gone_url = graph.add_cdn("gone.pdf", "application/pdf", b"%PDF");
    graph.fail_download("gone.pdf", 404);
    let phone = "6281234567890";
    let psid = "6543210987654321";
    for d in [
        wa(
            phone,
            json!({"id": "wamid.P1", "type": "image",
            "image": {"mime_type": "image/jpeg", "sha256": "h", "id": "1938567024713370", "caption": "Foto"}}),
        ),
        wa(
            phone,
            json!({"id": "wamid.P2", "type": "document",
            "document": {"filename": "KTP_Kadek_Ayu.pdf", "mime_type": "application/pdf", "sha256": "h", "id": "no-such"}}),
        ),
        messaging(
            "page",
            PAGE,
            psid,
            json!({"mid": "m_p1", "attachments": [
            {"type": "image", "payload": {"url": ok_url}},
            {"type": "file", "payload": {"url": gone_url}}]}),
        ),
        wa(
            phone,
            json!({"id": "wamid.P3", "type": "reaction", "reaction": {"message_id": "wamid.P1", "emoji": "👍"}}),
        ),
    ] {
        assert_eq!(h.deliver(&d).await.0, StatusCode::OK);
    }
    let stop = CancellationToken::new();
    let worker = tokio::spawn(aduan_channel_meta::media_worker(&h.cfg, &h.ctx).run(stop.clone()));
    let tickets: Vec<_> = h.complaints().await.into_iter().map(|c| c.ticket).collect();
    wait_settled(&h, &tickets, 4).await;
    stop.cancel();
    worker.await.unwrap();
    let text = logs.text();
    assert!(
        text.contains("media job attempted"),
        "worker logs captured:\n{text}"
    );
    assert!(
        text.contains("meta event ignored"),
        "ignored events are logged"
    );
    let oracle = PrivacyOracle::new(
        &Identity {
            name: Some("Kadek Ayu".into()),
            phone: Some(format!("+{phone}")),
            handle: Some(psid.into()),
            ..Identity::default()
        },
        None,
        &["KTP_Kadek_Ayu.pdf"],
    );
    assert!(!oracle.leaks(&format!("sender {psid}")).is_empty());
    oracle.assert_clean("meta webhook and media worker logs", &text);
    for secret in [
        WA_TOKEN,
        "/wa-files/",
        "/cdn/",
        "no-such",
        "1938567024713370",
    ] {
        assert!(!text.contains(secret), "{secret} in the logs");
    }
    h.teardown().await;
}

async fn wait_settled(h: &Harness, tickets: &[aduan_core::types::TicketNumber], n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut settled = 0;
        for t in tickets {
            settled += h
                .desk
                .media()
                .jobs_of(t)
                .await
                .unwrap()
                .iter()
                .filter(|j| j.status != MediaStatus::Pending)
                .count();
        }
        if settled >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {settled} of {n} files settled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
