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
use common::{Backend, ManualClock, Options, raw_sql, spawn};
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
    // The tests call `escalate_due` themselves at chosen moments of the manual clock.
    o.no_sla_timer = true;
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
    let step = |name: &str| step_of(r, name);
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
    // "Antrian" and "antrean" are one word (normalised spelling), shown as KBBI writes it.
    assert_eq!(problems[0]["term"], "antrean KTP-el", "{problems:?}");
    assert_eq!(problems[0]["variants"], json!(["antrian"]));
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
    // The GET only read the figures (issue 14); built exactly once.
    assert_eq!(v["stored"], false, "{v}");
    for first in [true, false] {
        let (again, created) = app
            .desk
            .reports()
            .build_report(Month::parse("2026-03").unwrap())
            .await
            .unwrap();
        assert_eq!(created, first);
        assert_eq!(again.state, aduan_core::model::ReportState::Draft);
        let stored: serde_json::Value = serde_json::from_str(&again.report_json).unwrap();
        assert_eq!(&stored, r, "the built figures are the ones the GET showed");
    }
    // Steps 6–8 in SOP order: a decision is refused before delivery (draft) and, once
    // delivered, before the kasi's conclusion; then conclusion (kasi), decision (kadis),
    // receipt (kasi).
    let decide = |token: String, text: &'static str| {
        let app = &app;
        async move {
            app.post_json(
                "/api/v1/admin/reports/2026-03/decision",
                Some(&token),
                json!({ "text": text }),
            )
            .await
        }
    };
    let (st, v) = decide(kadis.clone(), "Tambah satu loket").await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"]["state"], "draft");
    let (st, _) = decide(kasi.clone(), "x").await;
    assert_eq!(st, 403);
    app.desk
        .reports()
        .report_delivered(Month::parse("2026-03").unwrap())
        .await
        .unwrap();
    let (st, v) = decide(kadis.clone(), "Tambah satu loket").await;
    assert_eq!(st, 409, "a decision before the conclusion: {v}");
    assert_eq!(v["error"]["code"], "conclusion_first", "{v}");
    let (st, _) = app
        .post_json(
            "/api/v1/admin/reports/2026-03/conclusion",
            Some(&kasi),
            json!({"text": "Antrian KTP-el perlu loket tambahan"}),
        )
        .await;
    assert_eq!(st, 200);
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

/// Counts deliveries of the figures (`.0`) and of the conclusion (`.1`, with the text sent).
#[derive(Default)]
struct CountingDelivery(
    std::sync::atomic::AtomicUsize,
    std::sync::Mutex<Vec<String>>,
);

#[async_trait]
impl aduan::schedulers::DigestDelivery for CountingDelivery {
    async fn deliver(&self, _desk: &aduan_core::desk::Desk, _month: Month) -> Result<(), String> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
    async fn deliver_conclusion(
        &self,
        desk: &aduan_core::desk::Desk,
        month: Month,
    ) -> Result<DateTime<Utc>, String> {
        let r = desk
            .reports()
            .stored(month)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no report")?;
        self.1
            .lock()
            .unwrap()
            .push(r.conclusion.clone().unwrap_or_default());
        r.conclusion_at.ok_or_else(|| "no conclusion".to_string())
    }
}

/// SOP step 6: the Kasi's conclusion is mailed (to the Kepala Dinas and the ISO
/// coordinator) only after the figures went out, exactly once per version written: a
/// conclusion on a draft waits; delivering the figures concludes the report; a rewrite is
/// mailed again; after the decision it can no longer change (409).
async fn conclusion_mailed_after_the_figures(b: Backend) {
    let (app, clock, _) = app_at(b, wita(2026, 4, 2, 9, 0)).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let kadis = app.user("kadis1", Role::Kadis, None).await;
    let m = Month::parse("2026-03").unwrap();
    let counting = Arc::new(CountingDelivery::default());
    let delivery: Arc<dyn aduan::schedulers::DigestDelivery> = counting.clone();
    let conclude = |text: &'static str, risks: serde_json::Value| {
        let app = &app;
        let kasi = kasi.clone();
        async move {
            app.post_json(
                "/api/v1/admin/reports/2026-03/conclusion",
                Some(&kasi),
                json!({ "text": text, "risks": risks }),
            )
            .await
        }
    };
    let risk = json!([{"risk": "KTP-el belum jadi", "cause": "blangko habis", "frequency": 4,
        "control": "stok blangko dipantau", "owner": "Bidang Dafduk"}]);
    let (st, v) = conclude("Antrean KTP-el", risk.clone()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "draft", "figures not delivered yet: {v}");
    assert_eq!(v["conclusion_pending"], true);
    assert_eq!(v["risks"][0]["owner"], "Bidang Dafduk");
    let sent = aduan::schedulers::deliver_conclusion(&app.desk, m, Some(&delivery))
        .await
        .unwrap();
    assert!(!sent, "no conclusion mail before the figures (SOP order)");
    aduan::schedulers::build_and_deliver(&app.desk, m, Some(&delivery))
        .await
        .unwrap();
    let r = app
        .desk
        .store()
        .get_report("2026-03")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.state, aduan_core::model::ReportState::Concluded);
    for expected in [true, false] {
        let sent = aduan::schedulers::deliver_conclusion(&app.desk, m, Some(&delivery))
            .await
            .unwrap();
        assert_eq!(sent, expected);
    }
    clock.advance(Duration::minutes(5));
    // Only entries: the text is written from them.
    let (st, v) = conclude("", risk.clone()).await;
    assert_eq!(st, 200, "{v}");
    assert!(
        v["conclusion"]["text"]
            .as_str()
            .unwrap()
            .contains("KTP-el belum jadi (4 pengaduan) — penyebab: blangko habis"),
        "{v}"
    );
    assert!(
        aduan::schedulers::deliver_conclusion(&app.desk, m, Some(&delivery))
            .await
            .unwrap()
    );
    assert_eq!(counting.1.lock().unwrap().len(), 2, "one mail per version");
    // Bad entries: 422 with the field, nothing changed.
    let (st, v) = conclude("x", json!([{"risk": "  "}])).await;
    assert_eq!(st, 422, "{v}");
    let (st, v) = conclude("x", json!([{"risk": "a", "unknown": 1}])).await;
    assert_eq!(st, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("risks[0].unknown"),
        "{v}"
    );
    let (st, v) = app
        .post_json(
            "/api/v1/admin/reports/2026-03/decision",
            Some(&kadis),
            json!({"text": "Tambah loket"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = conclude("terlambat", json!([])).await;
    assert_eq!(
        st, 409,
        "the decision was taken on the conclusion as it was: {v}"
    );
    assert_eq!(v["error"]["state"], "decided");
    let (st, csv) = app
        .get_json(
            "/api/v1/admin/reports/2026-03/risks?format=csv",
            Some(&kasi),
        )
        .await;
    assert_eq!(st, 200);
    let csv = csv.as_str().unwrap();
    assert!(
        csv.contains("\"KTP-el belum jadi\",\"blangko habis\",\"4\""),
        "{csv}"
    );
    let (st, _) = app
        .get_json(
            "/api/v1/admin/reports/2026-03/risks?format=pdf",
            Some(&kasi),
        )
        .await;
    assert_eq!(st, 400);
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

/// The fixture month of issue 17, every figure computed by hand (clocks run 24/7 here, so
/// working minutes are plain minutes): May 2026 with five complaints, four of them one
/// problem in four spellings, April with three. Checked while May runs (backlog as of now)
/// and once it has ended (backlog as of its end), including steps nothing completed ("—"),
/// overruns, repeat complainants, the trend and April's steps 6–8 with their clocks.
async fn report_fixture_computed_by_hand(b: Backend) {
    let clock = ManualClock::new(wita(2026, 4, 10, 9, 0));
    let mut o = Options::new(b);
    o.clock = Some(Arc::new(clock.clone()));
    o.no_outbox_worker = true;
    o.no_sla_timer = true;
    let app = spawn(o).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let kadis = app.user("kadis1", Role::Kadis, None).await;
    let bid = app.user("dafduk1", Role::Bidang, Some("dafduk")).await;
    // April: three complaints (one of them the same problem as May's).
    for body in [
        "KK hilang waktu banjir",
        "Kartu keluarga rusak",
        "e-KTP belum jadi",
    ] {
        app.submit(json!({ "body": body })).await;
    }
    // April's report: delivered 1 May 07:00, concluded 07:30, decided 09:30 (due 08:00:
    // 90 minutes late), received 09:32 (due 09:35).
    let april = Month::parse("2026-04").unwrap();
    clock.set(wita(2026, 5, 1, 7, 0));
    app.desk.reports().build_report(april).await.unwrap();
    app.desk.reports().report_delivered(april).await.unwrap();
    clock.set(wita(2026, 5, 1, 7, 30));
    let (st, v) = app
        .post_json(
            "/api/v1/admin/reports/2026-04/conclusion",
            Some(&kasi),
            json!({"text": "Dokumen KK rusak dan hilang"}),
        )
        .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("concluded")), "{v}");
    let decide_due: DateTime<Utc> = v["decide_due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(decide_due, wita(2026, 5, 1, 8, 0), "report_decide = 1h");
    clock.set(wita(2026, 5, 1, 9, 30));
    let (st, v) = app
        .post_json(
            "/api/v1/admin/reports/2026-04/decision",
            Some(&kadis),
            json!({"text": "Koordinasi dengan BPBD"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["decide_breached"], true);
    clock.set(wita(2026, 5, 1, 9, 32));
    let (st, v) = app
        .post_json(
            "/api/v1/admin/reports/2026-04/receipt",
            Some(&kasi),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{v}");

    // May, Monday 4th 09:00: five complaints at once.
    clock.set(wita(2026, 5, 4, 9, 0));
    let mk = |body: &str, extra: serde_json::Value| {
        let mut v = json!({ "body": body, "category": "pelayanan" });
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let (c1, _) = app
        .submit(mk(
            "KTP-el saya belum jadi sudah dua bulan",
            json!({"name": "Wayan Sudarma", "email": "wayan@example.com", "target": "Loket KTP-el"}),
        ))
        .await;
    let (c2, _) = app
        .submit(mk(
            "e-KTP blm jadi, padahal sudah rekam",
            json!({"name": "Wayan Sudarma", "email": "Wayan@Example.com", "target": "Loket KTP-el"}),
        ))
        .await;
    let (c3, _) = app
        .submit(mk(
            "KTP elektronik belum jadi juga",
            json!({"email": "made@example.com"}),
        ))
        .await;
    let (_c4, _) = app
        .submit(mk("ktp el belum jadi", json!({"phone": "081234567890"})))
        .await;
    let (_c5, _) = app
        .submit(json!({"body": "Jalan menuju kantor rusak", "category": "sarana_prasarana"}))
        .await;
    // c1: triage after 3 min (within 5), resolved after 30 more (within 60); then waits in
    // review. c2: triage after 8 min (3 min late); then waits in resolve. c3–c5: untouched.
    clock.set(wita(2026, 5, 4, 9, 3));
    let (st, _) = app
        .act(&kasi, &c1, "assign", json!({"bidang": "dafduk"}))
        .await;
    assert_eq!(st, 200);
    clock.set(wita(2026, 5, 4, 9, 8));
    let (st, _) = app
        .act(&kasi, &c2, "assign", json!({"bidang": "dafduk"}))
        .await;
    assert_eq!(st, 200);
    clock.set(wita(2026, 5, 4, 9, 33));
    let (st, _) = app
        .act(
            &bid,
            &c1,
            "solution",
            json!({"text": "Blangko sudah tersedia"}),
        )
        .await;
    assert_eq!(st, 200);

    // The running month, an hour later: every complaint is under a day old.
    clock.set(wita(2026, 5, 4, 10, 0));
    let may = Month::parse("2026-05").unwrap();
    let running = app.desk.reports().compute_report(may).await.unwrap();
    assert_eq!(
        running.as_of,
        Some(wita(2026, 5, 4, 10, 0) + Duration::milliseconds(1))
    );
    assert_eq!(running.backlog.open, 5);
    assert_eq!(running.backlog.under_1_day, 5, "{:?}", running.backlog);
    assert_eq!(running.backlog.days_8_to_30, 0);

    // The ended month, read on 1 June 08:00 (before the digest is built).
    clock.set(wita(2026, 6, 1, 8, 0));
    let (st, v) = app
        .get_json("/api/v1/admin/reports/2026-05", Some(&kasi))
        .await;
    assert_eq!(st, 200, "{v}");
    let r = &v["report"];
    let end = wita(2026, 6, 1, 0, 0);
    assert_eq!(
        r["as_of"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        end
    );
    assert_eq!(r["totals"]["complaints"], 5);
    assert_eq!(r["totals"]["by_category"]["pelayanan"], 4);
    assert_eq!(r["totals"]["by_category"]["sarana_prasarana"], 1);
    assert_eq!(r["totals"]["by_bidang"]["dafduk"], 2);
    assert_eq!(r["totals"]["by_bidang"]["belum_ditentukan"], 3);
    assert_eq!(r["totals"]["by_status"]["open"], 5);
    assert_eq!(r["change"]["previous_complaints"], 3);
    assert_eq!(r["change"]["complaints_delta_pct"], 66.7);
    // Received 4 May 09:00, open on 1 June 00:00: 27 days old.
    assert_eq!(r["backlog"]["open"], 5);
    assert_eq!(r["backlog"]["days_8_to_30"], 5);
    assert_eq!(r["backlog"]["under_1_day"], 0);
    let step = |name: &str| step_of(r, name);
    // receive: five digital intakes, each logged at once.
    assert_eq!(step("receive")["count"], 5);
    assert_eq!(step("receive")["within_standard_pct"], 100.0);
    assert_eq!(step("receive")["responsible"], "staf");
    // triage: 3 and 8 minutes; nearest rank p50 = 3, p90 = 8.
    assert_eq!(step("triage")["count"], 2);
    assert_eq!(step("triage")["within_standard"], 1);
    assert_eq!(step("triage")["within_standard_pct"], 50.0);
    assert_eq!(step("triage")["median_minutes"], 3.0);
    assert_eq!(step("triage")["p90_minutes"], 8.0);
    assert_eq!(step("triage")["responsible"], "kasi");
    assert_eq!(step("resolve")["count"], 1);
    assert_eq!(step("resolve")["median_minutes"], 30.0);
    assert_eq!(step("resolve")["responsible"], "bidang");
    // Nothing completed review or follow-up: nothing to measure, not "100 %".
    for empty in ["review", "follow_up"] {
        assert_eq!(step(empty)["count"], 0);
        assert!(step(empty)["within_standard_pct"].is_null(), "{empty}");
        assert!(step(empty)["median_minutes"].is_null(), "{empty}");
        assert!(step(empty)["p90_minutes"].is_null(), "{empty}");
    }
    // On time: 5 + 1 + 1 of 8 completed steps = 87.5 %.
    assert_eq!(r["trend"][11]["on_time_pct"], 87.5);
    // Breaches: c2's triage (done 3 min late); running past due at the month's end: c1's
    // review (due 09:48), c2's resolve (due 10:08), c3–c5's triage (due 09:05).
    let breaches = r["breaches"].as_array().unwrap();
    assert_eq!(breaches.len(), 6, "{breaches:?}");
    let overrun = |ticket: &str, step: &str| {
        breaches
            .iter()
            .find(|b| b["ticket"] == ticket && b["step"] == step)
            .unwrap_or_else(|| panic!("{ticket} {step}: {breaches:?}"))["overrun_minutes"]
            .as_f64()
            .unwrap()
    };
    let to_end = |h: u32, m: u32| (end - wita(2026, 5, 4, h, m)).num_minutes() as f64;
    assert_eq!(overrun(&c2, "triage"), 3.0);
    assert_eq!(overrun(&c1, "review"), to_end(9, 48));
    assert_eq!(overrun(&c2, "resolve"), to_end(10, 8));
    assert_eq!(overrun(&c3, "triage"), to_end(9, 5));
    assert_eq!(to_end(9, 5), 39_775.0, "27 days 14 h 55 min");
    // One problem in four spellings; April had it once.
    let problems = r["frequent_problems"].as_array().unwrap();
    let p = &problems[0];
    assert_eq!(p["term"], "KTP-el belum jadi", "{problems:?}");
    assert_eq!(p["count"], 4);
    assert_eq!(p["previous_count"], 1);
    assert_eq!(p["change"], 3);
    assert_eq!(p["examples"], json!([c1, c2, c3]));
    assert_eq!(p["categories"], json!([["pelayanan", 4]]));
    assert!(
        p["bidang"]
            .as_array()
            .unwrap()
            .contains(&json!(["dafduk", 2])),
        "{p}"
    );
    assert!(
        p["targets"]
            .as_array()
            .unwrap()
            .contains(&json!(["Loket KTP-el", 2])),
        "{p}"
    );
    // The same e-mail address (in two cases) twice: one repeat complainant, two complaints.
    assert_eq!(
        r["repeat_complainants"],
        json!({"complainants": 1, "complaints": 2})
    );
    // The trend: April 3 complaints, each logged at once (100 %); earlier months empty.
    let trend = r["trend"].as_array().unwrap();
    assert_eq!(trend.len(), 12);
    assert_eq!(trend[0]["month"], "2025-06");
    assert_eq!(
        trend[10],
        json!({"month": "2026-04", "complaints": 3, "on_time_pct": 100.0})
    );
    assert_eq!(trend[11]["complaints"], 5);
    assert!(
        trend[..10]
            .iter()
            .all(|t| t["complaints"] == 0 && t["on_time_pct"].is_null())
    );
    // April's steps 6–8: only the decision was late, by 90 minutes.
    let rs = r["report_steps"].as_array().unwrap();
    let keys: Vec<_> = rs.iter().map(|x| x["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["figures", "conclusion", "decision", "receipt"]);
    assert!(rs.iter().all(|x| x["month"] == "2026-04"));
    for x in rs {
        let late = x["key"] == "decision";
        assert_eq!(x["breached"], late, "{x}");
        assert_eq!(
            x["overrun_minutes"],
            if late { json!(90.0) } else { json!(null) },
            "{x}"
        );
    }
    assert_eq!(rs[2]["responsible"], "kadis");
    // No identity anywhere in the figures.
    let text = r.to_string();
    for id in [
        "Wayan",
        "Sudarma",
        "wayan@example.com",
        "made@",
        "081234567890",
        "0812",
    ] {
        assert!(
            !text.to_lowercase().contains(&id.to_lowercase()),
            "{id} in the report"
        );
    }
    // Complaints stored without their analysis (before migration 0012) are counted from
    // their texts: the same problems and repeat complainants.
    let stored = app.desk.reports().compute_report(may).await.unwrap();
    raw_sql(b, &app.db_url, "UPDATE complaints SET analysis = NULL").await;
    let from_text = app.desk.reports().compute_report(may).await.unwrap();
    assert!(!stored.frequent_problems.is_empty());
    assert_eq!(from_text.frequent_problems, stored.frequent_problems);
    assert_eq!(from_text.repeat_complainants, stored.repeat_complainants);
    assert_eq!(
        serde_json::to_value(&stored.frequent_problems).unwrap(),
        r["frequent_problems"]
    );
}

/// The figures of one step (`"triage"`, …) in a report's JSON.
fn step_of(r: &serde_json::Value, name: &str) -> serde_json::Value {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {r}"))
        .clone()
}

fn clock_now(app: &common::TestApp) -> DateTime<Utc> {
    app.desk.now()
}

on_both_backends!(
    due_times_count_working_time,
    breach_escalates_once_per_step,
    monthly_report_figures,
    digest_fires_once_across_restarts,
    conclusion_mailed_after_the_figures,
    report_fixture_computed_by_hand,
);
