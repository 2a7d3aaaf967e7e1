//! Polling mode against the fake Bot API: intake, threading, commands, dedup, the offset
//! across a crash, and recovery from errors (files: see `media.rs`).

mod common;

use std::time::Duration;

use aduan_channel_telegram::{OFFSET_CURSOR, PollOptions, run_polling_with};
use aduan_core::model::Direction;
use aduan_core::types::{Channel, State};
use common::*;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

fn fast() -> PollOptions {
    PollOptions {
        poll_timeout: Duration::from_secs(1),
        http_timeout: Duration::from_secs(2),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..Default::default()
    }
}

fn start(h: &Harness) -> (CancellationToken, JoinHandle<()>) {
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_polling_with(
        h.cfg.clone(),
        h.ctx.clone(),
        stop.clone(),
        fast(),
    ));
    (stop, task)
}

async fn stop(s: (CancellationToken, JoinHandle<()>)) {
    s.0.cancel();
    tokio::time::timeout(Duration::from_secs(10), s.1)
        .await
        .expect("polling loop stops on shutdown")
        .unwrap();
}

async fn cursor(h: &Harness) -> Option<String> {
    h.desk.intake().cursor(OFFSET_CURSOR).await.unwrap()
}

async fn wait_cursor(h: &Harness, value: &str) {
    wait_until(15, &format!("cursor {value}"), || async {
        cursor(h).await.as_deref() == Some(value)
    })
    .await;
}

#[tokio::test]
async fn text_becomes_a_complaint_acknowledged_as_a_reply() {
    let h = harness().await;
    h.api.push_update(text_update(
        815234001,
        CHAT,
        42,
        "Ada pohon tumbang menutup jalan di Desa Panji",
    ));
    let p = start(&h);
    wait_cursor(&h, "815234002").await;
    stop(p).await;

    let all = h.complaints().await;
    assert_eq!(all.len(), 1);
    let c = &all[0];
    assert_eq!(c.channel, Channel::Telegram);
    assert_eq!(c.external_id.as_deref(), Some(&*format!("{CHAT}:42")));
    assert_eq!(c.identity.handle.as_deref(), Some(&*CHAT.to_string()));
    assert_eq!(c.identity.name.as_deref(), Some("Komang Ayu"));
    assert_eq!(c.body, "Ada pohon tumbang menutup jalan di Desa Panji");
    assert_eq!(c.state, State::Triage);
    assert_eq!(c.replies.len(), 1, "one acknowledgement queued");

    // The poll asked for messages only, with a long-poll timeout, and deleted any webhook.
    let polls = h.api.calls_of("getUpdates");
    assert_eq!(polls[0].params["allowed_updates"], json!(["message"]));
    assert_eq!(polls[0].params["timeout"], json!(1));
    assert!(polls[0].params.get("offset").is_none());
    assert!(
        polls
            .iter()
            .skip(1)
            .all(|c| c.params["offset"] == json!(815234002))
    );
    assert!(!h.api.calls_of("deleteWebhook").is_empty());
    assert_eq!(h.api.pending_ids(), Vec::<i64>::new(), "update confirmed");

    // The acknowledgement goes out as a reply to the citizen's message, with the ticket.
    let out = h.outbox().run_once().await.unwrap();
    assert_eq!(out.sent, 1, "{out:?}");
    let sent = h.api.sent_to(CHAT);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].reply_to, Some(42));
    assert!(sent[0].text.contains(c.ticket.as_str()), "{}", sent[0].text);
    assert!(sent[0].text.contains("kerahasiaannya"), "{}", sent[0].text);
    assert_eq!(h.health.last(), Some(None));
}

#[tokio::test]
async fn later_messages_of_the_chat_append_to_the_open_complaint() {
    let h = harness().await;
    h.api.push_update(text_update(
        100,
        CHAT,
        42,
        "KTP saya belum jadi sejak 3 bulan",
    ));
    h.api
        .push_update(text_update(101, CHAT, 43, "Nomor antrean saya 117"));
    h.api
        .push_update(text_update(102, OTHER_CHAT, 7, "Petugas loket kasar"));
    let p = start(&h);
    wait_cursor(&h, "103").await;
    stop(p).await;

    let all = h.complaints().await;
    assert_eq!(all.len(), 2, "one complaint per chat");
    let mine = all
        .iter()
        .find(|c| c.identity.handle.as_deref() == Some(&*CHAT.to_string()))
        .unwrap();
    let inbound: Vec<&str> = mine
        .messages
        .iter()
        .filter(|m| m.direction == Direction::In)
        .map(|m| m.text.as_str())
        .collect();
    assert!(inbound.contains(&"Nomor antrean saya 117"), "{inbound:?}");
    assert_eq!(
        mine.replies.len(),
        1,
        "no second acknowledgement for an appended message"
    );
}

#[tokio::test]
async fn an_update_delivered_twice_is_stored_once() {
    let h = harness().await;
    h.api.push_update(text_update(
        200,
        CHAT,
        42,
        "Akta kelahiran anak saya salah nama",
    ));
    let p = start(&h);
    wait_cursor(&h, "201").await;
    // Telegram delivers the same update again.
    let before = h.api.calls_of("getUpdates").len();
    h.api.redeliver_confirmed();
    wait_until(15, "the redelivered update is handled", || async {
        h.api.calls_of("getUpdates").len() >= before + 2 && h.api.pending_ids().is_empty()
    })
    .await;
    stop(p).await;

    let all = h.complaints().await;
    assert_eq!(all.len(), 1);
    let inbound = all[0]
        .messages
        .iter()
        .filter(|m| m.direction == Direction::In)
        .count();
    assert_eq!(inbound, 1, "the message is stored once");
    assert_eq!(all[0].replies.len(), 1, "acknowledged once");
    assert_eq!(cursor(&h).await.as_deref(), Some("201"));
}

#[tokio::test]
async fn a_crash_between_commit_and_confirmation_loses_and_duplicates_nothing() {
    let h = harness().await;
    h.api
        .push_update(text_update(300, CHAT, 42, "Pelayanan KK lambat"));
    // The poll after the commit (which would confirm update 300) never answers: the process
    // "crashes" while the update is committed but not yet confirmed to Telegram.
    h.api.inject("getUpdates", Inject::Pass);
    h.api.inject("getUpdates", Inject::Hang);
    let (_stop, task) = start(&h);
    wait_until(15, "complaint stored and confirmation pending", || async {
        h.complaints().await.len() == 1 && h.api.calls_of("getUpdates").len() >= 2
    })
    .await;
    task.abort();
    let _ = task.await;
    assert_eq!(
        h.api.pending_ids(),
        vec![300],
        "Telegram still holds the update"
    );
    assert_eq!(
        cursor(&h).await.as_deref(),
        Some("301"),
        "offset committed with the complaint"
    );

    // Restart: the loop resumes from the stored offset, which confirms the update.
    let calls_before = h.api.calls_of("getUpdates").len();
    let p = start(&h);
    wait_until(15, "first poll after restart", || async {
        h.api.calls_of("getUpdates").len() > calls_before
    })
    .await;
    let first = &h.api.calls_of("getUpdates")[calls_before];
    assert_eq!(
        first.params["offset"],
        json!(301),
        "resumed from the stored offset"
    );
    wait_until(15, "update confirmed", || async {
        h.api.pending_ids().is_empty()
    })
    .await;
    stop(p).await;
    assert_eq!(h.complaints().await.len(), 1);

    // Even if the offset had been lost (an old backup) and Telegram delivered the update
    // again, it is recognised by (chat id, message id).
    h.desk
        .intake()
        .set_cursor(OFFSET_CURSOR, "300")
        .await
        .unwrap();
    h.api.redeliver_confirmed();
    let p = start(&h);
    wait_cursor(&h, "301").await;
    wait_until(15, "redelivery confirmed", || async {
        h.api.pending_ids().is_empty()
    })
    .await;
    stop(p).await;
    let all = h.complaints().await;
    assert_eq!(all.len(), 1, "still one complaint");
    assert_eq!(all[0].replies.len(), 1, "still one acknowledgement");
}

#[tokio::test]
async fn status_answers_only_for_the_chat_that_complained() {
    let h = harness().await;
    h.api
        .push_update(text_update(400, CHAT, 42, "Antrean KTP-el terlalu lama"));
    let p = start(&h);
    wait_cursor(&h, "401").await;
    let ticket = h.complaints().await[0].ticket.clone();

    h.api.push_update(text_update(401, CHAT, 43, "/start"));
    h.api.push_update(text_update(
        402,
        CHAT,
        44,
        &format!("/status {}", ticket.as_str().to_lowercase()),
    ));
    h.api.push_update(text_update(
        403,
        OTHER_CHAT,
        9,
        &format!("/status@aduan_bot {ticket}"),
    ));
    h.api.push_update(text_update(404, CHAT, 45, "/status"));
    wait_cursor(&h, "405").await;
    stop(p).await;

    let mine = h.api.sent_to(CHAT);
    assert_eq!(mine.len(), 3, "{mine:?}");
    assert!(mine[0].text.contains("Selamat datang"), "{}", mine[0].text);
    assert!(
        mine[0].text.contains("dijaga kerahasiaannya"),
        "{}",
        mine[0].text
    );
    assert_eq!(mine[0].reply_to, Some(43));
    assert!(mine[1].text.contains(ticket.as_str()), "{}", mine[1].text);
    assert!(
        mine[1].text.contains("Diterima dan sedang ditelaah"),
        "{}",
        mine[1].text
    );
    assert_eq!(mine[1].reply_to, Some(44));
    assert!(mine[2].text.contains("/status"), "{}", mine[2].text);
    let theirs = h.api.sent_to(OTHER_CHAT);
    assert_eq!(theirs.len(), 1);
    assert!(
        theirs[0].text.contains("tidak ditemukan"),
        "{}",
        theirs[0].text
    );
    assert!(!theirs[0].text.contains("ditelaah"));

    // Commands create and append nothing.
    let all = h.complaints().await;
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0]
            .messages
            .iter()
            .filter(|m| m.direction == Direction::In)
            .count(),
        1
    );
}

#[tokio::test]
async fn other_updates_advance_the_offset_and_create_nothing() {
    let h = harness().await;
    let mut edited = text_update(600, CHAT, 42, "diedit");
    edited["edited_message"] = edited["message"].take();
    edited.as_object_mut().unwrap().remove("message");
    h.api.push_update(edited);
    let mut group = text_update(601, -100123, 5, "pesan di grup");
    group["message"]["chat"] = json!({"id": -100123, "type": "supergroup", "title": "Warga"});
    h.api.push_update(group);
    h.api.push_update(json!({"update_id": 602, "message": {
        "message_id": 46, "from": user(CHAT), "date": unix_now(),
        "chat": {"id": CHAT, "type": "private", "first_name": "Komang"},
        "sticker": {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 512,
                    "height": 512, "is_animated": false, "is_video": false}}}));
    h.api.push_update(
        json!({"update_id": 603, "callback_query": {"id": "1", "from": user(CHAT),
        "chat_instance": "x", "data": "y"}}),
    );
    h.api
        .push_update(json!({"update_id": 604, "some_future_kind": {"x": 1}}));
    let p = start(&h);
    wait_cursor(&h, "605").await;
    stop(p).await;

    assert!(h.complaints().await.is_empty());
    let sent = h.api.sent();
    assert!(
        sent.is_empty(),
        "a sticker alone is no complaint and gets no answer: {sent:?}"
    );
}

#[tokio::test]
async fn bot_api_errors_are_reported_and_polling_recovers() {
    let h = harness().await;
    h.api.inject("getUpdates", flood(1));
    h.api.inject(
        "getUpdates",
        Inject::Raw(502, "<html><h1>502 Bad Gateway</h1></html>"),
    );
    h.api.inject("getUpdates", Inject::Hang);
    h.api
        .push_update(text_update(700, CHAT, 42, "Pengaduan setelah gangguan"));
    let started = std::time::Instant::now();
    let p = start(&h);
    wait_until(40, "complaint after recovery", || async {
        h.complaints().await.len() == 1
    })
    .await;
    wait_cursor(&h, "701").await;
    stop(p).await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retry_after respected"
    );

    let reports = h.health.all();
    let errors: Vec<String> = reports.iter().flatten().cloned().collect();
    assert!(
        errors.iter().any(|e| e.contains("retry after 1")),
        "{errors:?}"
    );
    // teloxide waits 10 s before reading a 5xx answer, longer than this test's 2 s HTTP
    // timeout, so the 502 shows as a timeout here (the sender test sees the 502 itself).
    assert!(errors.len() >= 3, "{errors:?}");
    assert!(
        errors[1..]
            .iter()
            .all(|e| e.contains("timeout") || e.contains("502")),
        "{errors:?}"
    );
    assert!(
        errors.iter().all(|e| !e.contains(TOKEN)),
        "no token in errors: {errors:?}"
    );
    assert_eq!(h.health.last(), Some(None), "cleared after recovery");
}

#[tokio::test]
async fn a_store_outage_keeps_the_update_for_later() {
    let h = harness().await;
    let p = start(&h);
    wait_until(15, "first poll", || async {
        !h.api.calls_of("getUpdates").is_empty()
    })
    .await;
    h.store
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    h.api
        .push_update(text_update(800, CHAT, 42, "Pengaduan saat basis data mati"));
    wait_until(15, "store error reported", || async {
        h.health
            .last()
            .flatten()
            .is_some_and(|e| e.contains("update 800") && e.contains("unavailable"))
    })
    .await;
    assert!(h.complaints().await.is_empty());
    assert_eq!(h.api.pending_ids(), vec![800], "not confirmed to Telegram");
    h.store
        .down
        .store(false, std::sync::atomic::Ordering::SeqCst);
    wait_cursor(&h, "801").await;
    stop(p).await;
    assert_eq!(h.complaints().await.len(), 1);
    assert_eq!(h.health.last(), Some(None));
}
