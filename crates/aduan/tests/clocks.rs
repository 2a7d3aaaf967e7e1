//! SOP clocks on Buleleng's working calendar, escalation exactly once per breached step, and
//! the monthly report (steps 6–8) with figures checked by hand, on SQLite and PostgreSQL.
//! Time is a manual clock: no test sleeps.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aduan_core::logbook::Month;
use aduan_core::outbox::{RenderedReply, ReplySender, SendError};
use aduan_core::types::{Channel, Role};
use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{Backend, ManualClock, Options, spawn};
use serde_json::json;

#[derive(Default)]
struct Recorder(Mutex<Vec<RenderedReply>>);

#[async_trait]
impl ReplySender for Recorder {
    async fn send(&self, reply: &RenderedReply) -> Result<Option<String>, SendError> {
        self.0.lock().unwrap().push(reply.clone());
        Ok(None)
    }
}

fn wita(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Makassar
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn app_at(b: Backend, t: DateTime<Utc>) -> (common::TestApp, ManualClock, Arc<Recorder>) {
    let clock = ManualClock::new(t);
    let rec = Arc::new(Recorder::default());
    let mut o = Options::new(b);
    o.business_hours = true;
    o.clock = Some(Arc::new(clock.clone()));
    o.senders = HashMap::from([(Channel::Email, rec.clone() as Arc<dyn ReplySender>)]);
    o.no_outbox_worker = true;
    (spawn(o).await, clock, rec)
}

async fn due_times_count_working_time(b: Backend) {
    // Friday 6 March 2026, 13:58 WITA: 2 minutes left of the working week.
    let (app, _clock, _) = app_at(b, wita(2026, 3, 6, 13, 58)).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let (ticket, _) = app.submit(json!({"body": "Antrian KTP lama"})).await;
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&kasi))
        .await;
    // triage = 5 min: 2 on Friday, 3 from Monday 07:30.
    let due: DateTime<Utc> = d["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due, wita(2026, 3, 9, 7, 33));
    // Across Nyepi: Tue 17 March 15:58 + 5 min → 18-20 closed, weekend, Mon 23 closed
    // (cuti bersama), Tue 24 closed (cuti bersama) → Wed 25 07:33.
    let (app, _clock, _) = app_at(b, wita(2026, 3, 17, 15, 58)).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let (ticket, _) = app.submit(json!({"body": "Akta kelahiran"})).await;
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&kasi))
        .await;
    let due: DateTime<Utc> = d["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due, wita(2026, 3, 25, 7, 33));
}

async fn breach_escalates_once_per_step(b: Backend) {
    let (app, clock, rec) = app_at(b, wita(2026, 3, 2, 8, 0)).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let to = vec!["kasi@example.go.id".to_string()];
    let (ticket, _) = app.submit(json!({"body": "KTP belum jadi"})).await;
    assert_eq!(
        app.desk.reports().next_escalation_due().await.unwrap(),
        Some(wita(2026, 3, 2, 8, 5))
    );
    clock.advance(Duration::minutes(4));
    assert_eq!(
        app.desk.reports().escalate_due(&to).await.unwrap(),
        0,
        "not due yet"
    );
    clock.advance(Duration::minutes(2));
    assert_eq!(app.desk.reports().escalate_due(&to).await.unwrap(), 1);
    assert_eq!(
        app.desk.reports().escalate_due(&to).await.unwrap(),
        0,
        "once per step"
    );
    let (_, q) = app.get_json("/api/v1/admin/queue", Some(&kasi)).await;
    assert_eq!(q[0]["breached"], true);
    app.outbox.run_once().await.unwrap();
    let notices: Vec<RenderedReply> = rec
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.item.kind == aduan_core::model::ReplyKind::Escalation)
        .cloned()
        .collect();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].item.recipient, "kasi@example.go.id");
    assert!(
        notices[0].text.contains(&ticket) && notices[0].text.contains("penelaahan"),
        "{}",
        notices[0].text
    );
    // The next step gets its own clock and its own escalation.
    let (st, _) = app
        .act(&kasi, &ticket, "assign", json!({"bidang": "dafduk"}))
        .await;
    assert_eq!(st, 200);
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&kasi))
        .await;
    let h = d["history"].as_array().unwrap();
    let esc = h.iter().find(|e| e["action"] == "escalate").unwrap();
    assert_eq!(esc["step"], "triage");
    assert_eq!(esc["breached"], true);
    let assign = h.iter().find(|e| e["action"] == "assign").unwrap();
    assert_eq!(
        assign["breached"], true,
        "the stopped triage clock was breached"
    );
    // resolve = 1 h from 08:06 → 09:06.
    clock.advance(Duration::minutes(61));
    assert_eq!(app.desk.reports().escalate_due(&to).await.unwrap(), 1);
    assert_eq!(
        app.desk.reports().next_escalation_due().await.unwrap(),
        None
    );
}

/// A fixture month computed by hand: 4 complaints in March 2026, 2 in February.
async fn monthly_report_figures(b: Backend) {
    let (app, clock, _) = app_at(b, wita(2026, 2, 10, 9, 0)).await;
    let staf = app.user("staf1", Role::Staf, None).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let bid = app.user("dafduk1", Role::Bidang, Some("dafduk")).await;
    let kadis = app.user("kadis1", Role::Kadis, None).await;
    for _ in 0..2 {
        app.submit(json!({"body": "Februari: blangko habis"})).await;
    }
    clock.advance(Duration::days(20)); // Mon 2 March 09:00
    assert_eq!(clock_now(&app), wita(2026, 3, 2, 9, 0));
    let mk = |body: &str, cat: &str| json!({"name": "Komang Sudiarta", "email": "komang@example.com", "category": cat, "body": body});
    let (t1, _) = app
        .submit(mk("Antrian KTP-el sangat panjang di loket", "pelayanan"))
        .await;
    let (t2, _) = app
        .submit(mk(
            "Antrian KTP-el tidak tertib, petugas tidak ada",
            "pelayanan",
        ))
        .await;
    let (t3, _) = app
        .submit(mk("Kursi ruang tunggu rusak", "sarana_prasarana"))
        .await;
    let (_t4, _) = app
        .submit(mk("Petugas kurang ramah", "perilaku_pegawai"))
        .await;
    // t1: triage in 3 min (within 5), resolve in 30 min, review 10, follow-up 10 → selesai.
    clock.advance(Duration::minutes(3));
    app.act(&kasi, &t1, "assign", json!({"bidang": "dafduk"}))
        .await;
    clock.advance(Duration::minutes(30));
    app.act(&bid, &t1, "solution", json!({"text": "Loket ditambah"}))
        .await;
    clock.advance(Duration::minutes(10));
    app.act(&kasi, &t1, "review", json!({"decision": "approve"}))
        .await;
    clock.advance(Duration::minutes(10));
    app.act(
        &staf,
        &t1,
        "follow-up",
        json!({"message": "Loket ditambah mulai besok"}),
    )
    .await;
    // t2: triage after 7 more minutes (the clock started at 09:00 → 60 min: breached).
    clock.advance(Duration::minutes(7));
    app.act(&kasi, &t2, "assign", json!({"bidang": "dafduk"}))
        .await;
    // t3: closed as not a complaint (status tidak), 60 min after receipt: breached.
    app.act(
        &kasi,
        &t3,
        "close",
        json!({"status": "tidak", "reason": "bukan wewenang"}),
    )
    .await;
    // t4 stays in triage.
    clock.advance(Duration::days(30)); // 1 April
    let (st, v) = app
        .get_json("/api/v1/admin/reports/2026-03", Some(&kasi))
        .await;
    assert_eq!(st, 200, "{v}");
    let r = &v["report"];
    assert_eq!(r["month"], "2026-03");
    assert_eq!(r["totals"]["complaints"], 4);
    assert_eq!(r["totals"]["by_channel"]["web"], 4);
    assert_eq!(r["totals"]["by_category"]["pelayanan"], 2);
    assert_eq!(r["totals"]["by_category"]["sarana_prasarana"], 1);
    assert_eq!(r["totals"]["by_bidang"]["dafduk"], 2);
    assert_eq!(r["totals"]["by_bidang"]["belum_ditentukan"], 2);
    assert_eq!(r["totals"]["by_status"]["selesai"], 1);
    assert_eq!(r["totals"]["by_status"]["tidak"], 1);
    assert_eq!(r["totals"]["by_status"]["open"], 2);
    assert_eq!(r["change"]["previous_complaints"], 2);
    assert_eq!(r["change"]["complaints_delta_pct"], 100.0);
    let step = |name: &str| {
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == name)
            .unwrap()
            .clone()
    };
    // receive: 4 digital intakes, 0 minutes each, all within.
    assert_eq!(step("receive")["count"], 4);
    assert_eq!(step("receive")["within_standard_pct"], 100.0);
    // triage: t1 3 min (ok), t2 60 min (breach), t3 60 min (breach).
    assert_eq!(step("triage")["count"], 3);
    assert_eq!(step("triage")["within_standard_pct"], 33.3);
    assert_eq!(step("triage")["median_minutes"], 60.0);
    assert_eq!(step("resolve")["count"], 1);
    assert_eq!(step("resolve")["median_minutes"], 30.0);
    assert_eq!(step("review")["median_minutes"], 10.0);
    assert_eq!(step("follow_up")["median_minutes"], 10.0);
    let problems = r["frequent_problems"].as_array().unwrap();
    assert_eq!(problems[0]["term"], "antrian ktp-el", "{problems:?}");
    assert_eq!(problems[0]["count"], 2);
    assert!(
        problems[0]["examples"]
            .as_array()
            .unwrap()
            .contains(&json!(t1))
    );
    assert!(
        problems[0]["examples"]
            .as_array()
            .unwrap()
            .contains(&json!(t2))
    );
    let text = v.to_string();
    for id in ["Komang", "Sudiarta", "komang@example.com"] {
        assert!(!text.contains(id), "identity {id} in the report");
    }
    // Built exactly once.
    let (again, created) = app
        .desk
        .reports()
        .build_report(Month::parse("2026-03").unwrap())
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.state, aduan_core::model::ReportState::Draft);
    // Steps 6–8: conclusion (kasi), decision refused before delivery, delivered, decision
    // (kadis), receipt (kasi).
    let (st, _) = app
        .post_json(
            "/api/v1/admin/reports/2026-03/conclusion",
            Some(&kasi),
            json!({"text": "Antrian KTP-el perlu loket tambahan"}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, v) = app
        .post_json(
            "/api/v1/admin/reports/2026-03/decision",
            Some(&kadis),
            json!({"text": "Tambah satu loket"}),
        )
        .await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"]["state"], "draft");
    let (st, _) = app
        .post_json(
            "/api/v1/admin/reports/2026-03/decision",
            Some(&kasi),
            json!({"text": "x"}),
        )
        .await;
    assert_eq!(st, 403);
    app.desk
        .reports()
        .report_delivered(Month::parse("2026-03").unwrap())
        .await
        .unwrap();
    clock.advance(Duration::minutes(30));
    let (st, v) = app
        .post_json(
            "/api/v1/admin/reports/2026-03/decision",
            Some(&kadis),
            json!({"text": "Tambah satu loket"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "decided");
    assert_eq!(v["decide_breached"], false);
    let (st, v) = app
        .post_json(
            "/api/v1/admin/reports/2026-03/receipt",
            Some(&kasi),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "received");
    assert_eq!(v["conclusion"]["by"], "kasi1");
    assert_eq!(v["decision"]["by"], "kadis1");
    let (st, _) = app
        .get_json("/api/v1/admin/reports/2026-04", Some(&kasi))
        .await;
    assert_eq!(st, 404, "the running month has no report yet");
}

/// Counts deliveries.
#[derive(Default)]
struct CountingDelivery(std::sync::atomic::AtomicUsize);

#[async_trait]
impl aduan::schedulers::DigestDelivery for CountingDelivery {
    async fn deliver(&self, _desk: &aduan_core::desk::Desk, _month: Month) -> Result<(), String> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// The scheduler started after the 1st 07:00 firing catches up; started again (a restart)
/// it neither builds nor delivers a second time.
async fn digest_fires_once_across_restarts(b: Backend) {
    let (app, _clock, _) = app_at(b, wita(2026, 4, 1, 8, 0)).await;
    let counting = Arc::new(CountingDelivery::default());
    let delivery: Arc<dyn aduan::schedulers::DigestDelivery> = counting.clone();
    let schedule: cron::Schedule = "0 0 7 1 * *".parse().unwrap();
    for _run in 0..2 {
        let token = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(aduan::schedulers::run_digest(
            app.desk.clone(),
            schedule.clone(),
            Some(delivery.clone()),
            token.clone(),
            std::time::Duration::from_secs(3600),
        ));
        // The catch-up runs first thing; wait for it by polling the store.
        for _ in 0..100 {
            if let Ok(Some(r)) = app.desk.store().get_report("2026-03").await
                && r.state != aduan_core::model::ReportState::Draft
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        token.cancel();
        task.await.unwrap();
    }
    assert_eq!(
        counting.0.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "delivered exactly once"
    );
    let r = app
        .desk
        .store()
        .get_report("2026-03")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.state, aduan_core::model::ReportState::Submitted);
    assert!(r.decide_due_at.is_some(), "the decision clock started");
    assert!(
        app.desk
            .store()
            .get_report("2026-04")
            .await
            .unwrap()
            .is_none()
    );
}

fn clock_now(app: &common::TestApp) -> DateTime<Utc> {
    app.desk.now()
}

on_both_backends!(
    due_times_count_working_time,
    breach_escalates_once_per_step,
    monthly_report_figures,
    digest_fires_once_across_restarts,
);
