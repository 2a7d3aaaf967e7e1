//! Everything a Telegram citizen sends reaches staff, on SQLite and PostgreSQL: every media
//! kind of the Bot API's `Message` (photo with or without caption, document, voice, audio,
//! video, video note, location, venue, contact, albums) becomes a complaint whose files the
//! media worker fetches after the commit from the fake Bot API (which serves files only at
//! the documented `/file/bot<token>/<file_path>`) and staff open through the staff API;
//! slow, oversized and missing files; non-complaints; one explanation despite redelivery;
//! a killed worker's job after its lease; no chat id, phone, token or file URL in the logs.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aduan_admin::testing::staff_download;
use aduan_channel_telegram::{OFFSET_CURSOR, PollOptions, run_polling_with, webhook_router};
use aduan_core::desk::SystemClock;
use aduan_core::media::{MEDIA_FAILED_ACTION, MediaStatus};
use aduan_core::model::{ComplaintRecord, Direction, Identity};
use aduan_core::services::MEDIA_LEASE;
use aduan_core::store::prelude::*;
use aduan_core::testing::LogCapture;
use aduan_core::testing::{ManualClock, PrivacyOracle};
use aduan_core::types::Channel;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

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
    every_media_kind_reaches_staff,
    a_slow_file_server_does_not_delay_the_webhook,
    oversize_and_missing_files_are_recorded_on_the_complaint,
    failing_downloads_retry_then_are_recorded,
    non_complaints_make_nothing_and_send_nothing,
    an_unsupported_update_is_explained_once,
    a_killed_workers_job_is_fetched_after_its_lease,
    logs_carry_no_chat_id_phone_token_or_file_url,
);

/// A private-chat `Message` update of `chat` with these fields (Bot API objects).
fn update(update_id: i64, chat: i64, message_id: i64, fields: Value) -> Value {
    let mut m = json!({
        "message_id": message_id,
        "from": user(chat),
        "chat": {"id": chat, "first_name": "Komang", "username": "komang_bll", "type": "private"},
        "date": unix_now(),
    });
    for (k, v) in fields.as_object().unwrap() {
        m[k] = v.clone();
    }
    json!({"update_id": update_id, "message": m})
}

fn photo(file_id: &str) -> Value {
    json!([
        {"file_id": format!("{file_id}-thumb"), "file_unique_id": "AQADt", "width": 90, "height": 67, "file_size": 1200},
        {"file_id": file_id, "file_unique_id": "AQADl", "width": 1280, "height": 960}
    ])
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

async fn post(h: &Harness, body: &Value) -> (StatusCode, Value) {
    let router = webhook_router(TelegramConfigExt::webhook(&h.cfg), h.ctx.clone());
    let req = Request::post("/webhooks/telegram")
        .header("content-type", "application/json")
        .header("x-telegram-bot-api-secret-token", WEBHOOK_SECRET)
        .body(Body::from(bytes(body)))
        .unwrap();
    let resp = router.oneshot(req).await.unwrap();
    let status = resp.status();
    let b = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

trait TelegramConfigExt {
    fn webhook(&self) -> aduan_channel_telegram::TelegramConfig;
}

impl TelegramConfigExt for aduan_channel_telegram::TelegramConfig {
    fn webhook(&self) -> aduan_channel_telegram::TelegramConfig {
        let mut c = self.clone();
        c.mode = aduan_channel_telegram::Mode::Webhook;
        c
    }
}

async fn poll_until(h: &Harness, offset: &str) {
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_polling_with(
        h.cfg.clone(),
        h.ctx.clone(),
        stop.clone(),
        PollOptions {
            poll_timeout: Duration::from_secs(1),
            http_timeout: Duration::from_secs(3),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
            ..Default::default()
        },
    ));
    wait_until(20, &format!("offset {offset}"), || async {
        h.desk
            .intake()
            .cursor(OFFSET_CURSOR)
            .await
            .unwrap()
            .as_deref()
            == Some(offset)
    })
    .await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

/// Run the media worker until nothing is due.
async fn drain_media(h: &Harness) {
    for _ in 0..50 {
        if h.run_media().await.claimed == 0 {
            return;
        }
    }
    panic!("media jobs never drained");
}

fn by_chat(all: &[ComplaintRecord], chat: i64) -> &ComplaintRecord {
    all.iter()
        .find(|c| c.identity.handle.as_deref() == Some(&*chat.to_string()))
        .unwrap_or_else(|| panic!("no complaint of chat {chat}"))
}

fn notes(c: &ComplaintRecord) -> Vec<String> {
    c.history
        .iter()
        .filter(|h| h.action == MEDIA_FAILED_ACTION)
        .filter_map(|h| h.note.clone())
        .collect()
}

async fn every_media_kind_reaches_staff(postgres: bool) {
    let h = harness_on(postgres, 1024 * 1024, Arc::new(SystemClock)).await;
    let files: &[(&str, &str, &[u8])] = &[
        ("photo-A", "photos/file_1.jpg", b"\xff\xd8\xff\xe0 JPEG A"),
        ("doc-B", "documents/file_2.pdf", b"%PDF-1.7 surat"),
        ("voice-C", "voice/file_3.oga", b"OggS voice"),
        ("audio-D", "music/file_4.mp3", b"ID3 audio"),
        (
            "video-E",
            "videos/file_5.mp4",
            b"\x00\x00\x00\x18ftypmp42 video",
        ),
        (
            "note-F",
            "video_notes/file_6.mp4",
            b"\x00\x00\x00\x18ftypmp42 note",
        ),
        ("alb-1", "photos/file_7.jpg", b"JPEG album 1"),
        ("alb-2", "photos/file_8.jpg", b"JPEG album 2"),
        ("alb-3", "photos/file_9.jpg", b"JPEG album 3"),
    ];
    for (id, path, data) in files {
        h.api.add_file(id, path, data.to_vec());
    }
    let ups = [
        update(100, 101, 1, json!({"photo": photo("photo-A")})),
        update(
            101,
            102,
            1,
            json!({"document": {"file_id": "doc-B", "file_unique_id": "uB",
            "file_name": "surat-keberatan.pdf", "mime_type": "application/pdf", "file_size": 14},
            "caption": "Surat keberatan saya"}),
        ),
        update(
            102,
            103,
            1,
            json!({"voice": {"file_id": "voice-C", "file_unique_id": "uC",
            "duration": 4, "mime_type": "audio/ogg", "file_size": 10}}),
        ),
        update(
            103,
            104,
            1,
            json!({"audio": {"file_id": "audio-D", "file_unique_id": "uD",
            "duration": 60, "performer": "Warga", "title": "Rekaman", "file_name": "rekaman.mp3",
            "mime_type": "audio/mpeg", "file_size": 9}}),
        ),
        update(
            104,
            105,
            1,
            json!({"video": {"file_id": "video-E", "file_unique_id": "uE",
            "width": 640, "height": 480, "duration": 5, "mime_type": "video/mp4"},
            "caption": "Antrean sampai luar"}),
        ),
        update(
            105,
            106,
            1,
            json!({"video_note": {"file_id": "note-F", "file_unique_id": "uF",
            "length": 240, "duration": 4}}),
        ),
        update(
            106,
            107,
            1,
            json!({"location": {"latitude": -8.112, "longitude": 115.088}}),
        ),
        update(
            107,
            108,
            1,
            json!({"venue": {"location": {"latitude": -8.1, "longitude": 115.08},
            "title": "Kantor Disdukcapil", "address": "Jl. Pahlawan No. 1, Singaraja"},
            "location": {"latitude": -8.1, "longitude": 115.08}}),
        ),
        update(
            108,
            109,
            1,
            json!({"contact": {"phone_number": "+6281234500001",
            "first_name": "Wayan", "last_name": "Saksi"}}),
        ),
        // An album: three photos sharing media_group_id, the caption on the first.
        update(
            109,
            110,
            1,
            json!({"media_group_id": "13579", "photo": photo("alb-1"),
            "caption": "Tiga foto jalan rusak"}),
        ),
        update(
            110,
            110,
            2,
            json!({"media_group_id": "13579", "photo": photo("alb-2")}),
        ),
        update(
            111,
            110,
            3,
            json!({"media_group_id": "13579", "photo": photo("alb-3")}),
        ),
    ];
    for u in ups {
        h.api.push_update(u);
    }
    poll_until(&h, "112").await;
    assert!(h.api.sent().is_empty(), "no refusal: {:?}", h.api.sent());
    let all = h.complaints().await;
    assert_eq!(all.len(), 10, "one complaint per chat, the album is one");
    assert_eq!(by_chat(&all, 101).body, "[lampiran: foto]");
    assert_eq!(
        by_chat(&all, 102).body,
        "Surat keberatan saya\n[lampiran: dokumen]"
    );
    assert_eq!(by_chat(&all, 103).body, "[lampiran: pesan suara]");
    assert_eq!(by_chat(&all, 104).body, "[lampiran: audio]");
    assert_eq!(
        by_chat(&all, 105).body,
        "Antrean sampai luar\n[lampiran: video]"
    );
    assert_eq!(by_chat(&all, 106).body, "[lampiran: pesan video]");
    assert_eq!(by_chat(&all, 107).body, "[lokasi: -8.112, 115.088]");
    assert_eq!(
        by_chat(&all, 108).body,
        "[lokasi: Kantor Disdukcapil, Jl. Pahlawan No. 1, Singaraja — -8.1, 115.08]"
    );
    assert_eq!(
        by_chat(&all, 109).body,
        "[kontak: Wayan Saksi, +6281234500001]"
    );
    let album = by_chat(&all, 110);
    assert_eq!(album.body, "Tiga foto jalan rusak\n[lampiran: foto]");
    assert_eq!(
        album
            .messages
            .iter()
            .filter(|m| m.direction == Direction::In)
            .count(),
        1
    );
    assert_eq!(album.replies.len(), 1, "one acknowledgement for the album");
    assert!(
        all.iter().all(|c| c.attachments.is_empty()),
        "nothing fetched at intake"
    );

    drain_media(&h).await;
    let all = h.complaints().await;
    let expect: &[(i64, &[&str], &[&str])] = &[
        (101, &["photo-A"], &["image/jpeg"]),
        (102, &["doc-B"], &["application/pdf"]),
        (103, &["voice-C"], &["audio/ogg"]),
        (104, &["audio-D"], &["audio/mpeg"]),
        (105, &["video-E"], &["video/mp4"]),
        (106, &["note-F"], &["video/mp4"]),
        (
            110,
            &["alb-1", "alb-2", "alb-3"],
            &["image/jpeg", "image/jpeg", "image/jpeg"],
        ),
    ];
    for (chat, ids, types) in expect {
        let c = by_chat(&all, *chat);
        assert_eq!(c.attachments.len(), ids.len(), "chat {chat}");
        for ((a, id), ct) in c.attachments.iter().zip(ids.iter()).zip(types.iter()) {
            let served = files.iter().find(|f| f.0 == *id).unwrap().2;
            let (status, body, headers) = staff_download(&h.desk, &c.ticket, a.id).await;
            assert_eq!(status, StatusCode::OK, "chat {chat}");
            assert_eq!(
                body, served,
                "chat {chat}: the bytes the file server served"
            );
            assert_eq!(a.content_type, *ct, "chat {chat}");
            assert!(
                headers["content-disposition"]
                    .to_str()
                    .unwrap()
                    .starts_with("attachment"),
                "chat {chat}"
            );
        }
    }
    assert_eq!(
        by_chat(&all, 102).attachments[0].filename,
        "surat-keberatan.pdf"
    );
    assert_eq!(by_chat(&all, 104).attachments[0].filename, "rekaman.mp3");
    assert_eq!(by_chat(&all, 101).attachments[0].filename, "foto-1.jpg");
    // The largest photo size was asked for, and every file came from the documented path.
    let asked: Vec<String> = h
        .api
        .calls_of("getFile")
        .iter()
        .map(|c| c.params["file_id"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(asked.contains(&"photo-A".to_string()) && !asked.iter().any(|a| a.ends_with("-thumb")));
    let downloads: Vec<String> = h
        .api
        .calls()
        .iter()
        .filter_map(|c| c.method.strip_prefix("file:").map(str::to_string))
        .collect();
    assert_eq!(downloads.len(), 9);
    assert!(downloads.iter().all(|d| !d.contains('%')), "{downloads:?}");
    // The fake serves only that form: the client library's `%2F` path is not found.
    let encoded = format!("{}/file/bot{TOKEN}/photos%2Ffile_1.jpg", h.api.url);
    assert_eq!(
        reqwest::get(encoded).await.unwrap().status(),
        reqwest::StatusCode::NOT_FOUND
    );
    h.teardown().await;
}

async fn a_slow_file_server_does_not_delay_the_webhook(postgres: bool) {
    let h = harness_on(postgres, 1024 * 1024, Arc::new(SystemClock)).await;
    h.api
        .add_file("slow-1", "photos/file_1.jpg", b"JPEG slow".to_vec());
    h.api.slow_file("photos/file_1.jpg", Duration::from_secs(4));
    let started = Instant::now();
    let (status, body) = post(&h, &update(1, CHAT, 42, json!({"photo": photo("slow-1")}))).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        took < Duration::from_millis(1500),
        "the webhook waited {took:?}"
    );
    let c = h.complaints().await.remove(0);
    assert!(c.attachments.is_empty());
    let started = Instant::now();
    assert_eq!(h.run_media().await.stored, 1);
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "the worker did the waiting"
    );
    let c = h.complaints().await.remove(0);
    let (status, data, _) = staff_download(&h.desk, &c.ticket, c.attachments[0].id).await;
    assert_eq!(
        (status, data.as_slice()),
        (StatusCode::OK, &b"JPEG slow"[..])
    );
    h.teardown().await;
}

async fn oversize_and_missing_files_are_recorded_on_the_complaint(postgres: bool) {
    let h = harness_on(postgres, 10_000, Arc::new(SystemClock)).await;
    h.api
        .add_file("doc-big", "documents/file_8.pdf", vec![0u8; 20_000]);
    h.api
        .add_file("doc-unsized", "documents/file_9.pdf", vec![1u8; 30_000]);
    h.api
        .add_file("photo-gone", "photos/file_10.jpg", b"JPEG".to_vec());
    let big = update(
        1,
        201,
        1,
        json!({"document": {"file_id": "doc-big", "file_unique_id": "u1",
        "file_name": "keberatan.pdf", "mime_type": "application/pdf", "file_size": 20_000},
        "caption": "Surat keberatan"}),
    );
    let unsized_doc = update(
        2,
        202,
        1,
        json!({"document": {"file_id": "doc-unsized",
        "file_unique_id": "u2", "file_name": "x.pdf", "mime_type": "application/pdf"}}),
    );
    let gone = update(3, 203, 1, json!({"photo": photo("photo-gone")}));
    for u in [&big, &unsized_doc, &gone] {
        assert_eq!(post(&h, u).await.0, StatusCode::OK);
    }
    // The photo's file is gone from the file server by the time it is fetched.
    h.api
        .inject("file", Inject::Json(404, api_error(404, "Not Found")));
    drain_media(&h).await;
    let all = h.complaints().await;
    assert!(all.iter().all(|c| c.attachments.is_empty()));
    let n = notes(by_chat(&all, 201));
    assert_eq!(n.len(), 1);
    assert!(
        n[0].starts_with("Lampiran terlalu besar: dokumen (application/pdf) dari Telegram"),
        "{}",
        n[0]
    );
    assert!(
        n[0].contains("batas 9 KB") || n[0].contains("batas 10 KB"),
        "{}",
        n[0]
    );
    assert!(!n[0].contains("keberatan.pdf"), "no file name: {}", n[0]);
    assert!(
        !h.api
            .calls_of("getFile")
            .iter()
            .any(|c| c.params["file_id"] == json!("doc-big")),
        "a file announced over the limit is not asked for"
    );
    let n = notes(by_chat(&all, 202));
    assert!(n[0].starts_with("Lampiran terlalu besar: dokumen"), "{n:?}");
    let n = notes(by_chat(&all, 203));
    assert!(
        n[0].starts_with("Lampiran tidak dapat diunduh: foto (image/jpeg)"),
        "{n:?}"
    );
    assert!(n[0].contains("HTTP 404"), "{n:?}");
    // Staff see it in the complaint's history; nothing is pending any more.
    let jobs = h
        .desk
        .media()
        .jobs_of(&by_chat(&all, 203).ticket)
        .await
        .unwrap();
    assert_eq!(jobs[0].status, MediaStatus::Failed);
    h.teardown().await;
}

async fn failing_downloads_retry_then_are_recorded(postgres: bool) {
    let clock = ManualClock::new(chrono::Utc::now());
    let h = harness_on(postgres, 1024 * 1024, Arc::new(clock.clone())).await;
    h.api.add_file("flaky", "photos/file_3.jpg", vec![7u8; 100]);
    for _ in 0..6 {
        h.api.inject("file", Inject::Raw(503, "busy"));
    }
    assert_eq!(
        post(
            &h,
            &update(
                1,
                CHAT,
                42,
                json!({"photo": photo("flaky"), "caption": "Foto antrean"})
            )
        )
        .await
        .0,
        StatusCode::OK
    );
    for attempt in 1..=6 {
        let run = h.run_media().await;
        assert_eq!(run.claimed, 1, "attempt {attempt}");
        assert_eq!(
            h.run_media().await.claimed,
            0,
            "backoff before attempt {}",
            attempt + 1
        );
        clock.advance(chrono::Duration::hours(1));
    }
    let c = h.complaints().await.remove(0);
    assert!(c.attachments.is_empty());
    let n = notes(&c);
    assert!(
        n[0].contains("tidak dapat diunduh") && n[0].contains("gagal 6 kali"),
        "{n:?}"
    );
    assert_eq!(
        h.api
            .calls()
            .iter()
            .filter(|c| c.method.starts_with("file:"))
            .count(),
        6
    );
    h.teardown().await;
}

async fn non_complaints_make_nothing_and_send_nothing(postgres: bool) {
    let h = harness_on(postgres, 1024 * 1024, Arc::new(SystemClock)).await;
    let sticker = update(
        1,
        CHAT,
        1,
        json!({"sticker": {"file_id": "stk", "file_unique_id": "u",
        "type": "regular", "width": 512, "height": 512, "is_animated": false, "is_video": false,
        "emoji": "👍", "set_name": "Warga"}}),
    );
    let mut edited = update(
        2,
        CHAT,
        2,
        json!({"text": "diedit", "edit_date": unix_now()}),
    );
    edited["edited_message"] = edited["message"].take();
    edited.as_object_mut().unwrap().remove("message");
    let reaction = json!({"update_id": 3, "message_reaction": {
        "chat": {"id": CHAT, "type": "private"}, "message_id": 9, "user": user(CHAT),
        "date": unix_now(), "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]}});
    let mut post_in_channel = update(4, -1001, 3, json!({"text": "pengumuman"}));
    post_in_channel["channel_post"] = post_in_channel["message"].take();
    post_in_channel.as_object_mut().unwrap().remove("message");
    let service = update(
        5,
        CHAT,
        4,
        json!({"pinned_message": {"message_id": 1, "date": 0,
        "chat": {"id": CHAT, "type": "private"}}}),
    );
    for u in [&sticker, &edited, &reaction, &post_in_channel, &service] {
        let (status, body) = post(&h, u).await;
        assert_eq!(status, StatusCode::OK, "{u}: {body}");
    }
    assert!(h.complaints().await.is_empty());
    assert!(h.api.sent().is_empty(), "{:?}", h.api.sent());
    assert!(h.api.calls_of("getFile").is_empty());
    assert_eq!(h.run_media().await.claimed, 0);
    h.teardown().await;
}

async fn an_unsupported_update_is_explained_once(postgres: bool) {
    let h = harness_on(postgres, 1024 * 1024, Arc::new(SystemClock)).await;
    let dice = update(1, CHAT, 7, json!({"dice": {"emoji": "🎲", "value": 4}}));
    for _ in 0..3 {
        assert_eq!(post(&h, &dice).await.0, StatusCode::OK);
    }
    let sent = h.api.sent_to(CHAT);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].text.contains("belum dapat kami terima"),
        "{}",
        sent[0].text
    );
    assert_eq!(sent[0].reply_to, Some(7));
    assert!(h.complaints().await.is_empty());

    // Polling: the explanation is recorded with the offset; a redelivery is not answered.
    let poll = update(
        2,
        OTHER_CHAT,
        8,
        json!({"poll": {"id": "p", "question": "?",
        "options": [], "total_voter_count": 0, "is_closed": false, "is_anonymous": true,
        "type": "regular", "allows_multiple_answers": false}}),
    );
    h.api.push_update(poll);
    poll_until(&h, "3").await;
    h.api.redeliver_confirmed();
    h.desk
        .intake()
        .set_cursor(OFFSET_CURSOR, "0")
        .await
        .unwrap();
    poll_until(&h, "3").await;
    assert_eq!(
        h.api.sent_to(OTHER_CHAT).len(),
        1,
        "{:?}",
        h.api.sent_to(OTHER_CHAT)
    );
    h.teardown().await;
}

async fn a_killed_workers_job_is_fetched_after_its_lease(postgres: bool) {
    let clock = ManualClock::new(chrono::Utc::now());
    let h = harness_on(postgres, 1024 * 1024, Arc::new(clock.clone())).await;
    h.api
        .add_file("ph", "photos/file_1.jpg", b"JPEG lease".to_vec());
    assert_eq!(
        post(&h, &update(1, CHAT, 42, json!({"photo": photo("ph")})))
            .await
            .0,
        StatusCode::OK
    );
    // A worker claims the job, then the process is killed mid-download.
    let now = aduan_core::desk::Clock::now(&clock);
    let claimed = h
        .store
        .claim_media(&[Channel::Telegram], now, MEDIA_LEASE, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // After a restart the job is not taken while the lease lives …
    assert_eq!(h.run_media().await.claimed, 0);
    // … and is fetched once it ran out.
    clock.advance(MEDIA_LEASE + chrono::Duration::seconds(1));
    assert_eq!(h.run_media().await.stored, 1);
    let c = h.complaints().await.remove(0);
    let (status, data, _) = staff_download(&h.desk, &c.ticket, c.attachments[0].id).await;
    assert_eq!(
        (status, data.as_slice()),
        (StatusCode::OK, &b"JPEG lease"[..])
    );
    h.teardown().await;
}

async fn logs_carry_no_chat_id_phone_token_or_file_url(postgres: bool) {
    let logs = LogCapture::default();
    let _guard = logs.start();
    let h = harness_on(postgres, 1024 * 1024, Arc::new(SystemClock)).await;
    h.api
        .add_file("ok-file", "photos/file_1.jpg", b"JPEG".to_vec());
    h.api
        .add_file("gone-file", "documents/file_2.pdf", b"%PDF".to_vec());
    let ups = [
        update(
            1,
            CHAT,
            1,
            json!({"photo": photo("ok-file"), "caption": "Foto antrean"}),
        ),
        update(
            2,
            CHAT,
            2,
            json!({"document": {"file_id": "gone-file", "file_unique_id": "g",
            "file_name": "KTP_Komang_Ayu.pdf", "mime_type": "application/pdf"}}),
        ),
        update(
            3,
            CHAT,
            3,
            json!({"contact": {"phone_number": "+6281234567890", "first_name": "Komang"}}),
        ),
        update(
            4,
            CHAT,
            4,
            json!({"location": {"latitude": -8.1, "longitude": 115.0}}),
        ),
        update(5, CHAT, 5, json!({"dice": {"emoji": "🎲", "value": 1}})),
    ];
    for u in &ups {
        assert_eq!(post(&h, u).await.0, StatusCode::OK);
    }
    h.api.inject("file", Inject::Pass);
    h.api
        .inject("file", Inject::Json(404, api_error(404, "Not Found")));
    // The channel's own worker loop, woken by the intake.
    let stop = CancellationToken::new();
    let worker =
        tokio::spawn(aduan_channel_telegram::media_worker(&h.cfg, &h.ctx).run(stop.clone()));
    let tickets: Vec<_> = h.complaints().await.into_iter().map(|c| c.ticket).collect();
    wait_until(20, "both files settled", || async {
        let mut settled = 0;
        for t in &tickets {
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
        settled == 2
    })
    .await;
    stop.cancel();
    worker.await.unwrap();
    let text = logs.text();
    assert!(
        text.contains("media job attempted"),
        "worker logs captured:\n{text}"
    );
    assert!(
        text.contains("telegram: complaint received"),
        "intake logs captured"
    );
    let oracle = PrivacyOracle::new(
        &Identity {
            name: Some("Komang Ayu".into()),
            phone: Some("+6281234567890".into()),
            handle: Some(CHAT.to_string()),
            ..Identity::default()
        },
        None,
        &["KTP_Komang_Ayu.pdf"],
    );
    assert!(
        !oracle.leaks(&format!("chat {CHAT}")).is_empty(),
        "the oracle sees a chat id"
    );
    oracle.assert_clean("telegram and media worker logs", &text);
    for secret in [
        TOKEN,
        "file/bot",
        "photos/file_1.jpg",
        "documents/file_2.pdf",
        "ok-file",
        "gone-file",
    ] {
        assert!(!text.contains(secret), "{secret} in the logs");
    }
    h.teardown().await;
}
