//! Questions to the citizen (SPEC §3 `ask`), their answers and ratings, through the daemon
//! on SQLite and PostgreSQL with a manual clock on Buleleng's working calendar: the
//! question pauses the step's clock with its remaining working time, the citizen's answer
//! (the status page's form, the JSON API, a threaded e-mail) resumes it, an unanswered
//! question closes the complaint `tidak` exactly once among replicas, ratings are kept once
//! and counted in the monthly report, and every e-mail to the citizen threads onto their
//! conversation (headers checked at a real SMTP sink, mail read from a real Dovecot).

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use aduan_core::desk::{Clock, Desk};
use aduan_core::model::ReplyKind;
use aduan_core::outbox::{RenderedReply, ReplySender, SendError};
use aduan_core::testing::privacy::{PrivacyOracle, citizen, sample};
use aduan_core::types::{Channel, Role};
use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{Backend, ManualClock, Options, TestApp, spawn};
use serde_json::{Value, json};

/// Records every reply and answers with a Message-ID, as the SMTP sender does.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<(RenderedReply, String)>>,
    n: AtomicUsize,
}

impl Recorder {
    fn of(&self, kind: ReplyKind) -> Vec<(RenderedReply, String)> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _)| r.item.kind == kind)
            .cloned()
            .collect()
    }
}

#[async_trait]
impl ReplySender for Recorder {
    async fn send(&self, reply: &RenderedReply) -> Result<Option<String>, SendError> {
        let id = format!(
            "out-{}@aduan.test",
            self.n.fetch_add(1, Ordering::SeqCst) + 1
        );
        self.sent.lock().unwrap().push((reply.clone(), id.clone()));
        Ok(Some(id))
    }
}

fn wita(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Makassar
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn app_at(
    b: Backend,
    t: DateTime<Utc>,
    business_hours: bool,
) -> (TestApp, ManualClock, Arc<Recorder>) {
    let clock = ManualClock::new(t);
    let rec = Arc::new(Recorder::default());
    let mut o = Options::new(b);
    o.business_hours = business_hours;
    o.clock = Some(Arc::new(clock.clone()));
    o.senders = HashMap::from([(Channel::Email, rec.clone() as Arc<dyn ReplySender>)]);
    o.no_outbox_worker = true;
    (spawn(o).await, clock, rec)
}

async fn view(app: &TestApp, token: &str, ticket: &str) -> Value {
    let (s, v) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(token))
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn status(app: &TestApp, ticket: &str, code: &str) -> Value {
    let (s, v) = app
        .get_json(
            &format!("/api/v1/complaints/{ticket}/status?code={code}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str().expect("a time").parse().unwrap()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Web complaint with an e-mail address; the kasi asks 2 minutes into the 5-minute triage;
/// two working days later the citizen answers on the status page with a file; the triage
/// is due 3 minutes after the answer and its stop counts 2 + 2 working minutes. The
/// question went by e-mail threaded onto the acknowledgement; history, conversation,
/// logbook and status show question and answer; a bidang reads them masked.
async fn web_question_pauses_and_the_status_page_answer_resumes(b: Backend) {
    let (app, clock, rec) = app_at(b, wita(2026, 3, 2, 8, 0), true).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let dafduk = app.user("dafduk1", Role::Bidang, Some("dafduk")).await;
    let (seed, cs) = sample(citizen(), 1);
    eprintln!("privacy oracle seed: {seed}");
    let c = &cs[0];
    let (ticket, code) = app
        .submit(
            json!({"name": c.name, "address": c.address, "email": c.email,
                       "phone": c.phone, "body": c.complaint_text(true)}),
        )
        .await;
    app.outbox.run_once().await.unwrap();
    let ack_id = rec.of(ReplyKind::Ack)[0].1.clone();

    clock.set(wita(2026, 3, 2, 8, 2));
    let question = format!(
        "Apakah {} dengan NIK {} masih dapat dihubungi di {}? Mohon kirim foto KK.",
        c.name, c.nik, c.phone
    );
    let (s, v) = app
        .act(&kasi, &ticket, "ask", json!({"question": question}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "waiting_citizen");
    // Ten working days from Monday 2 March: Monday 16 March, end of the day.
    assert_eq!(at(&v["due_at"]), wita(2026, 3, 16, 16, 0));
    assert_eq!(v["breached"], false);
    assert_eq!(v["question"]["text"], question.as_str());
    assert_eq!(v["question"]["asked_from"], "triage");
    assert_eq!(v["question"]["remaining_minutes"], 3.0);
    let (_, q) = app
        .get_json("/api/v1/admin/queue?state=waiting_citizen", Some(&kasi))
        .await;
    assert_eq!(q[0]["ticket"], ticket.as_str(), "{q}");
    assert_eq!(q[0]["state"], "waiting_citizen");
    assert_eq!(q[0]["breached"], false);
    // The SLA timer has no escalation to do for it, only the end of the wait.
    assert_eq!(
        app.desk.reports().next_escalation_due().await.unwrap(),
        Some(wita(2026, 3, 16, 16, 0))
    );
    let st = status(&app, &ticket, &code).await;
    assert_eq!(st["state"], "waiting_citizen");
    assert_eq!(st["question"], question.as_str());
    assert_eq!(st["rating"], Value::Null);

    // The question goes by e-mail, threaded onto the acknowledgement.
    app.outbox.run_once().await.unwrap();
    let qs = rec.of(ReplyKind::Question);
    assert_eq!(qs.len(), 1);
    let (q_reply, _) = &qs[0];
    assert_eq!(q_reply.item.channel, Channel::Email);
    assert_eq!(q_reply.item.recipient, c.email.to_ascii_lowercase());
    assert_eq!(q_reply.item.vars["in_reply_to"], ack_id.as_str());
    assert_eq!(q_reply.item.vars["references"], json!([ack_id]));
    assert!(q_reply.text.contains(&question), "{}", q_reply.text);
    assert!(
        q_reply
            .text
            .contains(&format!("/pengaduan/status?ticket={ticket}")),
        "{}",
        q_reply.text
    );
    assert!(q_reply.text.contains("10 hari kerja"), "{}", q_reply.text);

    // The status page shows the question with its form; the citizen answers with a file.
    let page = app
        .http
        .get(app.url(&format!("/pengaduan/status?ticket={ticket}&code={code}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"question\"") && page.contains("Kirim jawaban"),
        "{page}"
    );
    assert!(page.contains("16 Maret 2026"), "the wait's end: {page}");
    clock.set(wita(2026, 3, 4, 10, 0));
    let answer = format!("Masih, nomor KK saya {}", c.nik);
    let form = reqwest::multipart::Form::new()
        .text("text", answer.clone())
        .part(
            "attachments",
            reqwest::multipart::Part::bytes(vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2])
                .file_name("kk.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        );
    let r = no_redirects()
        .post(app.url(&format!("/api/v1/complaints/{ticket}/messages?code={code}")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let back = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        back,
        format!("/pengaduan/status?ticket={ticket}&code={code}&terkirim=pesan")
    );
    let page = app
        .http
        .get(app.url(&back))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"notice-message_sent\""), "{page}");
    assert!(!page.contains("id=\"question\""), "answered: {page}");

    let v = view(&app, &kasi, &ticket).await;
    assert_eq!(v["state"], "triage");
    assert_eq!(at(&v["due_at"]), wita(2026, 3, 4, 10, 3), "3 minutes left");
    assert_eq!(v["question"], Value::Null);
    let h = v["history"].as_array().unwrap();
    let ask = h.iter().find(|e| e["action"] == "ask").unwrap();
    assert_eq!(ask["step"], "triage");
    assert_eq!(ask["state"], "waiting_citizen");
    assert_eq!(ask["note"], question.as_str());
    assert_eq!(at(&ask["due_at"]), wita(2026, 3, 2, 8, 5));
    assert_eq!(ask["elapsed_minutes"], Value::Null, "paused, not done");
    let ans = h.iter().find(|e| e["action"] == "citizen_answer").unwrap();
    assert_eq!(ans["state"], "triage");
    assert_eq!(ans["actor"], "pengadu");
    assert_eq!(
        ans["note"],
        format!("jawaban pengadu: {answer}\n[lampiran: kk.jpg]")
    );
    let msgs = v["messages"].as_array().unwrap();
    assert!(
        msgs.iter()
            .any(|m| m["direction"] == "out" && m["text"].as_str().unwrap().contains(&question))
    );
    assert!(
        msgs.iter()
            .any(|m| m["direction"] == "in" && m["text"].as_str().unwrap().starts_with(&answer))
    );
    assert_eq!(v["attachments"][0]["filename"], "kk.jpg");

    // The resumed step stops with the working time before and after the pause.
    clock.set(wita(2026, 3, 4, 10, 2));
    let (s, v) = app
        .act(&kasi, &ticket, "assign", json!({"bidang": "dafduk"}))
        .await;
    assert_eq!(s, 200, "{v}");
    let assign = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "assign")
        .unwrap()
        .clone();
    assert_eq!(assign["step"], "triage");
    assert_eq!(assign["elapsed_minutes"], 4.0);
    assert_eq!(assign["breached"], false);

    // The division reads question and answer masked.
    let oracle = PrivacyOracle::for_citizen(c);
    let (s, bv) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&dafduk))
        .await;
    assert_eq!(s, 200);
    let text = bv.to_string();
    assert!(
        text.contains("Mohon kirim foto KK"),
        "the question is shown"
    );
    assert!(
        text.contains("jawaban pengadu: Masih"),
        "the answer is shown"
    );
    oracle.assert_clean("complaint as a bidang (question and answer)", &text);
    let page = app.http.get(app.url("/admin/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);

    // The logbook shows question and answer in "Tindak Lanjut Aduan".
    let (s, lb) = app
        .get_json(
            "/api/v1/admin/logbook?month=2026-03&format=json",
            Some(&kasi),
        )
        .await;
    assert_eq!(s, 200, "{lb}");
    let row = lb["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ticket"] == ticket.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["questions"][0]["question"], question.as_str());
    assert_eq!(
        row["questions"][0]["answer"],
        format!("{answer}\n[lampiran: kk.jpg]")
    );
    let csv = app
        .http
        .get(app.url("/api/v1/admin/logbook?month=2026-03&format=csv"))
        .bearer_auth(&kasi)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains("Pertanyaan ke pengadu: Apakah") && csv.contains("Jawaban pengadu: Masih"),
        "{csv}"
    );
}

/// Who may ask in which state (403 / 404 / 409 / 422), the JSON answer API (404 for a
/// wrong code as for an unknown ticket, 422, 413, 201), a kasi's question in review, and
/// the audit entry that never carries the question.
async fn ask_roles_states_and_the_json_answer(b: Backend) {
    let (app, clock, _rec) = app_at(b, wita(2026, 3, 2, 8, 0), false).await;
    let staf = app.user("staf1", Role::Staf, None).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let kabid = app.user("kabid1", Role::Kabid, None).await;
    let kadis = app.user("kadis1", Role::Kadis, None).await;
    let dafduk = app.user("dafduk1", Role::Bidang, Some("dafduk")).await;
    let capil = app.user("capil1", Role::Bidang, Some("capil")).await;
    let (ticket, code) = app
        .submit(json!({"email": "warga@contoh.id", "body": "KK belum dicetak"}))
        .await;
    let q = || json!({"question": "Kapan Anda mengajukan KK?"});
    for (who, token) in [("staf", &staf), ("kabid", &kabid), ("kadis", &kadis)] {
        let (s, v) = app.act(token, &ticket, "ask", q()).await;
        assert_eq!(s, 403, "{who}: {v}");
    }
    let (s, _) = app.act(&dafduk, &ticket, "ask", q()).await;
    assert_eq!(s, 404, "a bidang does not see an unrouted complaint");
    let (s, v) = app
        .act(&kasi, &ticket, "ask", json!({"question": "   "}))
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = app
        .act(&kasi, &ticket, "ask", json!({"question": "x".repeat(4001)}))
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = app
        .act(&kasi, &ticket, "ask", json!({"pertanyaan": "x"}))
        .await;
    assert_eq!(s, 422, "unknown field: {v}");
    let (s, _) = app.act(&kasi, "ADU-202603-9999", "ask", q()).await;
    assert_eq!(s, 404);

    let (s, _) = app
        .act(&kasi, &ticket, "assign", json!({"bidang": "dafduk"}))
        .await;
    assert_eq!(s, 200);
    let (s, v) = app.act(&kasi, &ticket, "ask", q()).await;
    assert_eq!(s, 403, "in_bidang is the division's step: {v}");
    let (s, _) = app.act(&capil, &ticket, "ask", q()).await;
    assert_eq!(s, 404, "another division");
    clock.advance(Duration::minutes(10));
    let (s, v) = app.act(&dafduk, &ticket, "ask", q()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["question"]["remaining_minutes"], 50.0);
    let (s, v) = app.act(&dafduk, &ticket, "ask", q()).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["state"], "waiting_citizen");
    let (s, v) = app
        .act(&dafduk, &ticket, "solution", json!({"text": "x"}))
        .await;
    assert_eq!(s, 409, "nothing moves while the citizen is asked: {v}");

    // The JSON answer.
    let msg = |t: &str, c: &str, body: Value| {
        let path = format!("/api/v1/complaints/{t}/messages?code={c}");
        let app = &app;
        async move { app.post_json(&path, None, body).await }
    };
    let (s1, v1) = msg(&ticket, "WRONGCODE1", json!({"text": "x"})).await;
    let (s2, v2) = msg("ADU-202603-9999", &code, json!({"text": "x"})).await;
    assert_eq!((s1, s2), (404, 404));
    assert_eq!(v1, v2, "a wrong code and an unknown ticket look the same");
    let (s, v) = msg(&ticket, &code, json!({"text": "  "})).await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = msg(&ticket, &code, json!({"teks": "x"})).await;
    assert_eq!(s, 422, "{v}");
    let (s, _) = msg(&ticket, &code, json!({"text": "x".repeat(1_100_000)})).await;
    assert_eq!(s, 413);
    clock.advance(Duration::days(3));
    let (s, v) = msg(&ticket, &code, json!({"text": "Desember 2025"})).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["state"], "in_bidang");
    assert_eq!(v["question"], Value::Null);
    let d = view(&app, &kasi, &ticket).await;
    assert_eq!(
        at(&d["due_at"]),
        clock.now() + Duration::minutes(50),
        "24/7 calendar: 50 minutes were left"
    );

    // The kasi asks in review; nobody asks in follow_up.
    let (s, _) = app
        .act(&dafduk, &ticket, "solution", json!({"text": "KK dicetak"}))
        .await;
    assert_eq!(s, 200);
    let (s, v) = app.act(&kasi, &ticket, "ask", q()).await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = msg(&ticket, &code, json!({"text": "Sudah saya terima"})).await;
    assert_eq!(s, 201);
    assert_eq!(view(&app, &kasi, &ticket).await["state"], "review");
    let (s, _) = app
        .act(&kasi, &ticket, "review", json!({"decision": "approve"}))
        .await;
    assert_eq!(s, 200);
    let (s, _) = app.act(&staf, &ticket, "ask", q()).await;
    assert_eq!(s, 403);
    let (s, v) = app.act(&kasi, &ticket, "ask", q()).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["state"], "follow_up");

    // Audited without the question's text.
    let (s, a) = app
        .get_json(&format!("/api/v1/admin/audit?ticket={ticket}"), Some(&kasi))
        .await;
    assert_eq!(s, 200, "{a}");
    let asks: Vec<&Value> = a
        .as_array()
        .or_else(|| a["entries"].as_array())
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "ask")
        .collect();
    assert_eq!(asks.len(), 2, "{a}");
    assert_eq!(asks[0]["actor"], "dafduk1");
    assert!(!a.to_string().contains("mengajukan KK"), "{a}");
}

/// Ten working days unanswered: closed `tidak` with the reason, the citizen told once,
/// audited by `sistem`, although two replicas' SLA timers run at once. Not a minute
/// before.
async fn unanswered_question_closes_once_among_replicas(b: Backend) {
    let (app, clock, rec) = app_at(b, wita(2026, 3, 2, 9, 0), true).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let (ticket, code) = app
        .submit(json!({"email": "warga@contoh.id", "body": "Akta belum terbit"}))
        .await;
    app.outbox.run_once().await.unwrap();
    let question = "Mohon sebutkan nama anak pada akta";
    let (s, v) = app
        .act(&kasi, &ticket, "ask", json!({"question": question}))
        .await;
    assert_eq!(s, 200, "{v}");
    let deadline = at(&v["due_at"]);
    assert_eq!(deadline, wita(2026, 3, 16, 16, 0));
    clock.set(deadline - Duration::minutes(1));
    assert_eq!(app.desk.reports().close_unanswered().await.unwrap(), 0);
    assert_eq!(
        status(&app, &ticket, &code).await["state"],
        "waiting_citizen"
    );

    clock.set(deadline + Duration::minutes(1));
    let replica_store = aduan_store::testing::connect(&app.db_url).await.unwrap();
    let replica = Desk::new(
        replica_store,
        Arc::new(clock.clone()),
        app.desk.config().clone(),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let timers: Vec<_> = [app.desk.clone(), replica]
        .into_iter()
        .map(|d| {
            tokio::spawn(aduan::schedulers::run_sla(
                d,
                vec![],
                stop.clone(),
                StdDuration::from_millis(50),
            ))
        })
        .collect();
    let mut closed = false;
    for _ in 0..200 {
        if status(&app, &ticket, &code).await["state"] == "closed" {
            closed = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(25)).await;
    }
    // Let both timers run a few more passes before they stop.
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    stop.cancel();
    for t in timers {
        t.await.unwrap();
    }
    assert!(closed, "the SLA timer closes the complaint");
    let v = view(&app, &kasi, &ticket).await;
    assert_eq!(v["status"], "tidak");
    assert_eq!(v["close_reason"], "tidak ada tanggapan pengadu");
    assert_eq!(v["due_at"], Value::Null);
    let closes: Vec<&Value> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["action"] == "close_unanswered")
        .collect();
    assert_eq!(closes.len(), 1, "exactly once: {}", v["history"]);
    assert_eq!(closes[0]["actor"], "sistem");
    assert_eq!(closes[0]["state"], "closed");
    let notices: Vec<&Value> = v["replies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "timeout")
        .collect();
    assert_eq!(notices.len(), 1, "{}", v["replies"]);
    app.outbox.run_once().await.unwrap();
    let sent = rec.of(ReplyKind::Timeout);
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].0.text.contains(question) && sent[0].0.text.contains("tidak ada tanggapan pengadu"),
        "{}",
        sent[0].0.text
    );
    assert!(sent[0].0.item.vars["in_reply_to"].is_string(), "threaded");
    let st = status(&app, &ticket, &code).await;
    assert_eq!(
        (st["status"].clone(), st["question"].clone()),
        (json!("tidak"), Value::Null)
    );
    let (_, a) = app
        .get_json(&format!("/api/v1/admin/audit?ticket={ticket}"), Some(&kasi))
        .await;
    let entries = a.as_array().or_else(|| a["entries"].as_array()).unwrap();
    let closes: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "close_unanswered")
        .collect();
    assert_eq!(closes.len(), 1, "{a}");
    assert_eq!(closes[0]["actor"], "system");
    // An answer after the close reopens the complaint, like any message.
    let (s, v) = app
        .post_json(
            &format!("/api/v1/complaints/{ticket}/messages?code={code}"),
            None,
            json!({"text": "Maaf terlambat: Putu Ayu"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["state"], "triage");
}

/// Walk a web complaint to its answer (closed `selesai`).
async fn answered(app: &TestApp, body: &str) -> (String, String) {
    let kasi = app
        .user(&format!("k{}", body.len()), Role::Kasi, None)
        .await;
    let staf = app
        .user(&format!("s{}", body.len()), Role::Staf, None)
        .await;
    let bidang = app
        .user(&format!("b{}", body.len()), Role::Bidang, Some("dafduk"))
        .await;
    let (ticket, code) = app
        .submit(json!({"email": "warga@contoh.id", "phone": "081338112233", "body": body}))
        .await;
    for (token, action, b) in [
        (&kasi, "assign", json!({"bidang": "dafduk"})),
        (&bidang, "solution", json!({"text": "Sudah dicetak"})),
        (&kasi, "review", json!({"decision": "approve"})),
        (
            &staf,
            "follow-up",
            json!({"message": "KK dapat diambil di loket 2"}),
        ),
    ] {
        let (s, v) = app.act(token, &ticket, action, b).await;
        assert_eq!(s, 200, "{action}: {v}");
    }
    (ticket, code)
}

/// Ratings by the API (once: 409 again; 422 out of range or not a whole number; 404 for a
/// wrong code; 409 while open) and by the status page's form; the answer asks for it by a
/// link; staff see it (a bidang masked); the monthly report counts it.
async fn ratings_once_and_counted_in_the_report(b: Backend) {
    let (app, clock, rec) = app_at(b, wita(2026, 3, 10, 9, 0), false).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let dafduk = app.user("dafduk1", Role::Bidang, Some("dafduk")).await;
    let (open, open_code) = app
        .submit(json!({"body": "Antrian panjang di loket"}))
        .await;
    let (ticket, code) = answered(&app, "KK hilang, mohon dicetak ulang").await;
    app.outbox.run_once().await.unwrap();
    let answer = &rec.of(ReplyKind::Answer)[0].0;
    assert!(
        answer.text.contains("penilaian")
            && answer
                .text
                .contains(&format!("/pengaduan/status?ticket={ticket}")),
        "{}",
        answer.text
    );
    assert!(
        !answer.text.contains("angka 1–5"),
        "no chat request by e-mail"
    );
    let st = status(&app, &ticket, &code).await;
    assert_eq!(st["can_rate"], true);

    let rate = |t: &str, c: &str, body: Value| {
        let path = format!("/api/v1/complaints/{t}/rating?code={c}");
        let app = &app;
        async move { app.post_json(&path, None, body).await }
    };
    let (s, v) = rate(&open, &open_code, json!({"score": 5})).await;
    assert_eq!(s, 409, "not answered yet: {v}");
    for bad in [
        json!({"score": 0}),
        json!({"score": 6}),
        json!({"score": 4.5}),
        json!({"score": "4"}),
        json!({}),
        json!({"score": 3, "nilai": 1}),
    ] {
        let (s, v) = rate(&ticket, &code, bad.clone()).await;
        assert_eq!(s, 422, "{bad}: {v}");
    }
    let (s, _) = rate(&ticket, "WRONGCODE1", json!({"score": 4})).await;
    assert_eq!(s, 404);
    let comment = "Cepat, terima kasih. Hubungi 081338112233 bila perlu";
    let (s, v) = rate(&ticket, &code, json!({"score": 4, "comment": comment})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["rating"]["score"], 4);
    assert_eq!(v["can_rate"], false);
    assert!(v.get("comment").is_none() && !v.to_string().contains("Cepat"));
    let (s, v) = rate(&ticket, &code, json!({"score": 1})).await;
    assert_eq!(s, 409, "once: {v}");
    assert_eq!(v["error"]["code"], "conflict");
    assert_eq!(status(&app, &ticket, &code).await["rating"]["score"], 4);
    let d = view(&app, &kasi, &ticket).await;
    assert_eq!(d["rating"]["score"], 4);
    assert_eq!(d["rating"]["comment"], comment);
    assert_eq!(d["state"], "closed", "a rating reopens nothing");
    assert!(
        d["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["action"] == "rate")
    );
    let bd = view(&app, &dafduk, &ticket).await;
    assert!(
        !bd["rating"]["comment"]
            .as_str()
            .unwrap()
            .contains("081338112233")
    );
    PrivacyOracle::new(
        &aduan_core::model::Identity {
            email: Some("warga@contoh.id".into()),
            phone: Some("081338112233".into()),
            ..Default::default()
        },
        None,
        &[],
    )
    .assert_clean("complaint with a rating as a bidang", &bd.to_string());

    // The status page's form.
    let (second, code2) = answered(&app, "Akta kelahiran salah nama").await;
    let page = app
        .http
        .get(app.url(&format!("/pengaduan/status?ticket={second}&code={code2}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"rating-form\""), "{page}");
    let post = |score: &'static str| {
        no_redirects()
            .post(app.url(&format!("/api/v1/complaints/{second}/rating?code={code2}")))
            .form(&[("score", score), ("comment", "")])
            .send()
    };
    let r = post("9").await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"notice-pick_score\""));
    let r = post("2").await.unwrap();
    assert_eq!(r.status(), 303);
    let back = r.headers()["location"].to_str().unwrap().to_string();
    let page = app
        .http
        .get(app.url(&back))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"notice-rated\"") && page.contains("2 dari 5"),
        "{page}"
    );
    assert!(!page.contains("id=\"rating-form\""));
    let r = post("3").await.unwrap();
    assert_eq!(r.status(), 409);

    // The March report counts both: average 3.0.
    clock.set(wita(2026, 4, 1, 9, 0));
    let (s, rep) = app
        .get_json("/api/v1/admin/reports/2026-03", Some(&kasi))
        .await;
    assert_eq!(s, 200, "{rep}");
    let sat = &rep["report"]["satisfaction"];
    assert_eq!(sat["count"], 2, "{rep}");
    assert_eq!(sat["average"], 3.0);
    assert_eq!(sat["by_score"]["4"], 1);
    assert_eq!(sat["by_score"]["2"], 1);
    assert_eq!(sat["by_score"]["5"], 0);
}

fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next().unwrap_or("");
    let mut out: Option<String> = None;
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(o) = out.as_mut() {
                o.push(' ');
                o.push_str(line.trim());
            }
            continue;
        }
        if out.is_some() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            out = Some(v.trim().to_string());
        }
    }
    out
}

/// The next mail at the sink to the citizen (the month's digest to the Kepala Dinas, caught
/// up at start, is skipped), as text.
async fn next(
    inbox: &mut tokio::sync::mpsc::UnboundedReceiver<aduan_channel_email::testing::ReceivedMail>,
) -> String {
    loop {
        let m = tokio::time::timeout(StdDuration::from_secs(30), inbox.recv())
            .await
            .expect("a mail at the sink")
            .unwrap();
        if m.rcpt_to.iter().any(|r| r == CITIZEN) {
            return String::from_utf8(m.data).unwrap();
        }
    }
}

const CITIZEN: &str = "komang.ayu@contoh.id";

fn ids(h: &str) -> Vec<String> {
    h.split_whitespace()
        .map(|i| i.trim_matches(['<', '>']).to_string())
        .collect()
}

/// E-mail: a real Dovecot and the SMTP sink. The question leaves in the citizen's thread;
/// their reply by e-mail resumes the clock; the answer (which had no threading headers
/// before) carries In-Reply-To and References of the citizen's last mail and `[TICKET]`.
async fn email_question_answer_and_answer_are_threaded(b: Backend) {
    use aduan_channel_email::testing::SmtpSink;
    use aduan_channel_email::testing::dovecot::{Dovecot, PASSWORD, USER};
    let dovecot = Dovecot::start().expect("a private Dovecot (scripts/dovecot-test)");
    let (sink, mut inbox) = SmtpSink::start().await.unwrap();
    let clock = ManualClock::new(wita(2026, 3, 2, 8, 0));
    let mut o = Options::new(b);
    o.business_hours = true;
    o.clock = Some(Arc::new(clock.clone()));
    o.extra_config = format!(
        r#"
[channels.email]
enabled = true
imap_host = "127.0.0.1"
imap_port = {imap}
imap_security = "none"
username = "{USER}"
password = "{PASSWORD}"
poll_interval = "1s"
idle = false
smtp_host = "127.0.0.1"
smtp_port = {smtp}
smtp_security = "none"
from = "Pengaduan <pengaduan@buleleng.example>"
"#,
        imap = dovecot.port(),
        smtp = sink.port(),
    );
    let app = spawn(o).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let dafduk = app.user("dafduk1", Role::Bidang, Some("dafduk")).await;
    let staf = app.user("staf1", Role::Staf, None).await;
    dovecot
        .write_maildir(
            USER,
            [b"From: Komang Ayu <komang.ayu@contoh.id>\r\nTo: pengaduan@buleleng.example\r\n\
               Subject: KK belum jadi\r\nMessage-ID: <m1@contoh.id>\r\n\
               Date: Mon, 02 Mar 2026 08:00:00 +0800\r\nMIME-Version: 1.0\r\n\
               Content-Type: text/plain; charset=utf-8\r\n\r\nKK saya belum jadi sejak Januari.\r\n"
                .to_vec()],
        )
        .unwrap();
    let ack = next(&mut inbox).await;
    let subject = header(&ack, "Subject").unwrap();
    let ticket = subject
        .split(['[', ']'])
        .nth(1)
        .unwrap_or_else(|| panic!("[TICKET] in the subject: {ack}"))
        .to_string();
    assert_eq!(subject, format!("Re: [{ticket}] KK belum jadi"));
    let ack_id = ids(&header(&ack, "Message-ID").unwrap())[0].clone();

    let (s, v) = app
        .act(
            &kasi,
            &ticket,
            "ask",
            json!({"question": "Mohon sebutkan nomor KK lama."}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let q = next(&mut inbox).await;
    assert_eq!(header(&q, "In-Reply-To").as_deref(), Some("<m1@contoh.id>"));
    assert_eq!(
        ids(&header(&q, "References").unwrap()),
        vec!["m1@contoh.id"]
    );
    assert_eq!(
        header(&q, "Subject").unwrap(),
        format!("Re: [{ticket}] KK belum jadi")
    );
    assert_eq!(header(&q, "Auto-Submitted"), None, "written by staff");
    let parsed = mail_parser::MessageParser::default()
        .parse(q.as_bytes())
        .unwrap();
    let body = parsed.body_text(0).unwrap().to_string();
    assert!(
        body.contains("nomor KK lama") && body.contains("balas e-mail ini"),
        "{body}"
    );
    let q_id = ids(&header(&q, "Message-ID").unwrap())[0].clone();

    // The citizen replies in the thread two working days later.
    clock.set(wita(2026, 3, 4, 9, 0));
    let reply = format!(
        "From: Komang Ayu <komang.ayu@contoh.id>\r\nTo: pengaduan@buleleng.example\r\n\
         Subject: Re: [{ticket}] KK belum jadi\r\nMessage-ID: <m2@contoh.id>\r\n\
         In-Reply-To: <{q_id}>\r\nReferences: <m1@contoh.id> <{ack_id}> <{q_id}>\r\n\
         Date: Wed, 04 Mar 2026 09:00:00 +0800\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nNomor KK lama 5108010101010001.\r\n"
    );
    dovecot.write_maildir(USER, [reply.into_bytes()]).unwrap();
    let mut resumed = Value::Null;
    for _ in 0..150 {
        resumed = view(&app, &kasi, &ticket).await;
        if resumed["state"] == "triage" {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    }
    assert_eq!(
        resumed["state"], "triage",
        "the e-mail answer resumes: {resumed}"
    );
    assert_eq!(
        at(&resumed["due_at"]),
        wita(2026, 3, 4, 9, 5),
        "5 minutes were left"
    );
    assert!(
        resumed["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["action"] == "citizen_answer"
                && h["note"].as_str().unwrap().contains("5108010101010001"))
    );

    for (token, action, body) in [
        (&kasi, "assign", json!({"bidang": "dafduk"})),
        (&dafduk, "solution", json!({"text": "KK dicetak ulang"})),
        (&kasi, "review", json!({"decision": "approve"})),
        (
            &staf,
            "follow-up",
            json!({"message": "KK dapat diambil di loket 2."}),
        ),
    ] {
        let (s, v) = app.act(token, &ticket, action, body).await;
        assert_eq!(s, 200, "{action}: {v}");
    }
    let a = next(&mut inbox).await;
    assert_eq!(header(&a, "In-Reply-To").as_deref(), Some("<m2@contoh.id>"));
    assert_eq!(
        ids(&header(&a, "References").unwrap()),
        vec![
            "m1@contoh.id".to_string(),
            ack_id.clone(),
            q_id.clone(),
            "m2@contoh.id".into()
        ],
        "the citizen's own chain and their message"
    );
    assert_eq!(
        header(&a, "Subject").unwrap(),
        format!("Re: [{ticket}] KK belum jadi")
    );
    assert_eq!(header(&a, "Auto-Submitted"), None);
    let parsed = mail_parser::MessageParser::default()
        .parse(a.as_bytes())
        .unwrap();
    let body = parsed.body_text(0).unwrap().to_string();
    assert!(
        body.contains("loket 2") && body.contains("penilaian"),
        "{body}"
    );
    drop(dovecot);
}

/// `[sla] wait_citizen_days`: default 10, set by file or `ADUAN__SLA__WAIT_CITIZEN_DAYS`,
/// and refused (naming the key) outside 1–260 or when not a number.
#[test]
fn wait_citizen_days_is_configured_and_validated() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(
        dir.path(),
        "sqlite://unused.db",
        "127.0.0.1:0",
        "off",
        false,
        1024,
    );
    let load = |env: Vec<(&str, &str)>| {
        aduan::config::load(
            &cfg,
            env.into_iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .and_then(|s| s.validate(&cfg))
    };
    assert_eq!(load(vec![]).unwrap().policy.wait_citizen_days, 10);
    let key = "ADUAN__SLA__WAIT_CITIZEN_DAYS";
    assert_eq!(load(vec![(key, "3")]).unwrap().policy.wait_citizen_days, 3);
    for bad in ["0", "261", "-1", "sepuluh"] {
        let err = load(vec![(key, bad)])
            .err()
            .unwrap_or_else(|| panic!("{bad} accepted"));
        assert!(
            err.to_string().contains("wait_citizen_days"),
            "{bad}: {err}"
        );
    }
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[sla]\n", "[sla]\nwait_citizen_days = 5\n");
    std::fs::write(&cfg, text).unwrap();
    assert_eq!(load(vec![]).unwrap().policy.wait_citizen_days, 5);
}

on_both_backends!(
    web_question_pauses_and_the_status_page_answer_resumes,
    ask_roles_states_and_the_json_answer,
    unanswered_question_closes_once_among_replicas,
    ratings_once_and_counted_in_the_report,
    email_question_answer_and_answer_are_threaded,
);
