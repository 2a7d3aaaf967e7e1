//! The reply outbox: rows written with the complaint, retried with backoff on transient
//! errors, marked failed once `[outbox] retry_for` has passed or at once on a permanent error, shown to
//! staff, and sent once even with two workers claiming at the same time.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aduan_core::desk::Clock as _;
use aduan_core::outbox::{RenderedReply, ReplySender, SendError};
use aduan_core::types::{Channel, Role};
use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};
use common::{Backend, ManualClock, Options, spawn};
use serde_json::json;

/// A sender whose answers are scripted; records what it was asked to send.
#[derive(Default)]
struct Scripted {
    script: Mutex<Vec<Result<(), SendError>>>,
    sent: Mutex<Vec<RenderedReply>>,
    calls: AtomicUsize,
}

#[async_trait]
impl ReplySender for Scripted {
    async fn send(&self, reply: &RenderedReply) -> Result<Option<String>, SendError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let next = {
            let mut s = self.script.lock().unwrap();
            if s.is_empty() { Ok(()) } else { s.remove(0) }
        };
        next?;
        self.sent.lock().unwrap().push(reply.clone());
        Ok(Some(format!("<{}@test>", reply.item.id)))
    }
}

fn transient() -> Result<(), SendError> {
    Err(SendError::Transient("connection refused".into()))
}

async fn app_with(b: Backend, sender: Arc<Scripted>) -> (common::TestApp, ManualClock) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap());
    let mut o = Options::new(b);
    o.clock = Some(Arc::new(clock.clone()));
    o.senders = HashMap::from([(Channel::Email, sender as Arc<dyn ReplySender>)]);
    o.no_outbox_worker = true;
    (spawn(o).await, clock)
}

async fn retries_with_backoff_then_sends(b: Backend) {
    let sender = Arc::new(Scripted::default());
    *sender.script.lock().unwrap() = vec![transient(), transient()];
    let (app, clock) = app_with(b, sender.clone()).await;
    let (ticket, code) = app
        .submit(json!({"email": "warga@example.com", "body": "Mohon tanda terima."}))
        .await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let replies = |d: &serde_json::Value| d["replies"].as_array().unwrap().clone();

    let o = app.outbox.run_once().await.unwrap();
    assert_eq!((o.claimed, o.retried), (1, 1));
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&kasi))
        .await;
    let r = &replies(&d)[0];
    assert_eq!(
        (
            r["kind"].as_str(),
            r["channel"].as_str(),
            r["status"].as_str()
        ),
        (Some("ack"), Some("email"), Some("pending"))
    );
    assert_eq!(r["attempts"], 1);
    assert_eq!(r["last_error"], "connection refused");

    // Not due yet: nothing claimed before the 30 s backoff passes.
    assert_eq!(app.outbox.run_once().await.unwrap().claimed, 0);
    clock.advance(Duration::seconds(31));
    assert_eq!(app.outbox.run_once().await.unwrap().retried, 1);
    clock.advance(Duration::seconds(59));
    assert_eq!(
        app.outbox.run_once().await.unwrap().claimed,
        0,
        "second backoff is 60 s"
    );
    clock.advance(Duration::seconds(2));
    assert_eq!(app.outbox.run_once().await.unwrap().sent, 1);

    let sent = sender.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].item.recipient, "warga@example.com");
    assert!(
        sent[0].text.contains(&ticket) && sent[0].text.contains(&code),
        "{}",
        sent[0].text
    );
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&kasi))
        .await;
    let r = &replies(&d)[0];
    assert_eq!(r["status"], "sent");
    assert_eq!(r["attempts"], 3);
    let last = d["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["direction"], "out");
    assert!(last["text"].as_str().unwrap().contains(&ticket));
    // Drained: nothing more, and no second send.
    clock.advance(Duration::hours(2));
    assert_eq!(app.outbox.run_once().await.unwrap().claimed, 0);
    assert_eq!(sender.calls.load(Ordering::SeqCst), 3);
}

async fn gives_up_after_retry_for_and_flags_it(b: Backend) {
    let sender = Arc::new(Scripted::default());
    *sender.script.lock().unwrap() = (0..500).map(|_| transient()).collect();
    let (app, clock) = app_with(b, sender.clone()).await;
    let queued = clock.now();
    let (ticket, _) = app
        .submit(json!({"email": "warga@example.com", "body": "x"}))
        .await;
    // Count the acknowledgement's own attempts (SLA escalation notices may share the outbox).
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let ack = |d: &serde_json::Value| {
        d["replies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == "ack")
            .unwrap()
            .clone()
    };
    // Retried for `retry_for` (48 h by default): still pending after 47 hours, whatever
    // the number of attempts (the old rule gave up after 8, about 2 hours).
    let mut passes = 0;
    loop {
        app.outbox.run_once().await.unwrap();
        passes += 1;
        let (_, d) = app
            .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&kasi))
            .await;
        let r = ack(&d);
        if r["status"] == "failed" {
            break;
        }
        assert!(
            clock.now() - queued < Duration::hours(48),
            "still pending at the deadline: {r}"
        );
        assert!(!r["next_attempt_at"].is_null(), "{r}");
        clock.advance(Duration::hours(1));
        assert!(passes < 60, "never gave up");
    }
    assert_eq!(
        clock.now() - queued,
        Duration::hours(48),
        "failed at the deadline"
    );
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&kasi))
        .await;
    let r = ack(&d);
    assert_eq!(r["status"], "failed");
    assert_eq!(r["attempts"], 49);
    assert!(r["next_attempt_at"].is_null(), "{r}");
    let e = r["last_error"].as_str().unwrap();
    assert!(e.contains("gave up after 49 attempts over 48h"), "{e}");
    // A day later the failed acknowledgement is not tried again (other rows, such as SLA
    // escalation notices, may be).
    clock.advance(Duration::days(1));
    app.outbox.run_once().await.unwrap();
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&kasi))
        .await;
    let r = ack(&d);
    assert_eq!(r["status"], "failed", "failed rows stay failed");
    assert_eq!(r["attempts"], 49);
}

async fn permanent_error_fails_the_answer_on_a_closed_complaint(b: Backend) {
    let sender = Arc::new(Scripted::default());
    let (app, _clock) = app_with(b, sender.clone()).await;
    let (ticket, _) = app
        .submit(json!({"email": "warga@example.com", "body": "KTP belum jadi"}))
        .await;
    app.outbox.run_once().await.unwrap(); // the acknowledgement goes out
    let staf = app.user("staf1", Role::Staf, None).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let bid = app.user("dafduk1", Role::Bidang, Some("dafduk")).await;
    app.act(&kasi, &ticket, "assign", json!({"bidang": "dafduk"}))
        .await;
    app.act(&bid, &ticket, "solution", json!({"text": "Sudah dicetak"}))
        .await;
    app.act(&kasi, &ticket, "review", json!({"decision": "approve"}))
        .await;
    let (st, v) = app
        .act(
            &staf,
            &ticket,
            "follow-up",
            json!({"message": "KTP Anda sudah jadi."}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "closed", "follow-up closes at once");
    *sender.script.lock().unwrap() =
        vec![Err(SendError::Permanent("550 mailbox unavailable".into()))];
    let o = app.outbox.run_once().await.unwrap();
    assert_eq!(o.failed, 1);
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&kasi))
        .await;
    let answer = d["replies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "answer")
        .unwrap()
        .clone();
    assert_eq!(answer["status"], "failed");
    assert_eq!(answer["last_error"], "550 mailbox unavailable");
    assert_eq!(d["state"], "closed");
}

async fn two_workers_send_each_reply_once(b: Backend) {
    let sender = Arc::new(Scripted::default());
    let (app, _clock) = app_with(b, sender.clone()).await;
    for i in 0..40 {
        app.submit(json!({"email": format!("w{i}@example.com"), "body": format!("Pengaduan {i}")}))
            .await;
    }
    let (a, bb) = (app.outbox.clone(), app.outbox.clone());
    let ha = tokio::spawn(async move {
        let mut n = 0;
        loop {
            let o = a.run_once().await.unwrap();
            if o.claimed == 0 {
                break n;
            }
            n += o.sent;
        }
    });
    let hb = tokio::spawn(async move {
        let mut n = 0;
        loop {
            let o = bb.run_once().await.unwrap();
            if o.claimed == 0 {
                break n;
            }
            n += o.sent;
        }
    });
    let (na, nb) = (ha.await.unwrap(), hb.await.unwrap());
    assert_eq!(na + nb, 40);
    assert_eq!(sender.calls.load(Ordering::SeqCst), 40);
    let mut to: Vec<String> = sender
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.item.recipient.clone())
        .collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 40);
}

on_both_backends!(
    retries_with_backoff_then_sends,
    gives_up_after_retry_for_and_flags_it,
    permanent_error_fails_the_answer_on_a_closed_complaint,
    two_workers_send_each_reply_once,
);
