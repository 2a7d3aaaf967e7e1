//! A question to a WhatsApp citizen and their answer, through the signed webhook and the
//! fake Graph API, on SQLite and PostgreSQL with a manual clock: the question goes out by
//! the Cloud API and pauses the kasi's triage clock; the citizen's next message resumes it
//! with the remaining time; the answer asks for a number and a bare `4` rates it.

mod common;

use std::sync::Arc;

use aduan_channel_meta::{MetaContext, signature};
use aduan_core::desk::{Clock, Desk};
use aduan_core::model::ComplaintRecord;
use aduan_core::outbox::Outbox;
use aduan_core::store::prelude::*;
use aduan_core::testing::ManualClock;
use aduan_core::types::{BidangCode, Channel, Role, State, TicketNumber};
use aduan_core::workflow::{Actor, Command, ReviewDecision};
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use chrono::{Duration, TimeZone, Utc};
use common::*;
use tower::ServiceExt;

const FROM: &str = "6281337001122";

struct Setup {
    desk: Desk,
    store: Arc<dyn Store>,
    router: axum::Router,
    graph: FakeGraph,
    clock: ManualClock,
    outbox: Outbox,
    url: String,
    _dir: tempfile::TempDir,
}

async fn setup(postgres: bool) -> Setup {
    let graph = FakeGraph::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = if postgres {
        aduan_store::testing::fresh_postgres_url().await
    } else {
        aduan_store::testing::fresh_sqlite_url(dir.path())
    };
    let store = aduan_store::testing::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap());
    let desk = Desk::new(store.clone(), Arc::new(clock.clone()), {
        let mut cfg = aduan_core::testing::desk_config([Channel::Whatsapp]);
        cfg.public_base_url = "http://127.0.0.1:8080".into();
        cfg
    });
    let cfg = config(&graph.base);
    let ctx = MetaContext {
        desk: desk.clone(),
        health: Arc::new(|_| {}),
        max_attachment_bytes: 10 << 20,
        media_wake: Arc::new(tokio::sync::Notify::new()),
    };
    let router = aduan_channel_meta::router(cfg.clone(), ctx.clone());
    let outbox = Outbox::new(
        store.clone(),
        Arc::new(clock.clone()),
        Arc::new(aduan_core::templates::Templates::new(vec![]).unwrap()),
        aduan_channel_meta::senders(&cfg, &ctx)
            .into_iter()
            .collect(),
    );
    Setup {
        desk,
        store,
        router,
        graph,
        clock,
        outbox,
        url,
        _dir: dir,
    }
}

fn staff(name: &str, role: Role, bidang: Option<&str>) -> Actor {
    Actor::Staff {
        username: name.into(),
        role,
        bidang: bidang.map(|b| BidangCode::parse(b).unwrap()),
    }
}

impl Setup {
    /// A WhatsApp text from the citizen, sent now (manual clock), delivered signed.
    async fn whatsapp(&self, wamid: &str, text: &str) {
        let body = whatsapp_text(FROM, "Made", wamid, self.clock.now().timestamp(), text);
        let sig = signature::sign(APP_SECRET.as_bytes(), &body);
        let req = Request::post("/webhooks/meta")
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(Body::from(body))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }
    async fn all(&self) -> Vec<ComplaintRecord> {
        let mut out = Vec::new();
        for state in [None, Some(State::Closed)] {
            let q = self
                .store
                .queue(&aduan_core::model::QueueFilter {
                    state,
                    ..Default::default()
                })
                .await
                .unwrap();
            for i in q {
                out.push(self.store.get_complaint(&i.ticket).await.unwrap().unwrap());
            }
        }
        out
    }
    async fn get(&self, t: &TicketNumber) -> ComplaintRecord {
        self.store.get_complaint(t).await.unwrap().unwrap()
    }
    async fn act(&self, who: &Actor, t: &TicketNumber, cmd: Command) {
        self.desk
            .staff()
            .act(who, t.as_str(), cmd)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    /// The text of the last Cloud API message sent to the citizen.
    fn last_text(&self) -> String {
        let seen = self.graph.seen();
        let m = seen.last().expect("a Graph request");
        assert_eq!(m.path, format!("/v25.0/{WA_PHONE_ID}/messages"));
        assert_eq!(m.body["to"], FROM);
        assert_eq!(m.body["type"], "text", "inside the 24-hour window: text");
        m.body["text"]["body"].as_str().unwrap().to_string()
    }
}

async fn whatsapp_question_answer_and_rating(postgres: bool) {
    let s = setup(postgres).await;
    s.whatsapp("wamid.IN1", "Air PDAM mati, KK saya juga belum jadi")
        .await;
    let all = s.all().await;
    assert_eq!(all.len(), 1);
    let ticket = all[0].ticket.clone();
    s.outbox.run_once().await.unwrap();
    assert!(
        s.last_text().contains(ticket.as_str()),
        "the acknowledgement"
    );

    let kasi = staff("kasi1", Role::Kasi, None);
    s.clock.advance(Duration::minutes(1));
    let question = "Mohon sebutkan desa dan nomor KK Anda.";
    s.act(
        &kasi,
        &ticket,
        Command::Ask {
            question: question.into(),
        },
    )
    .await;
    let rec = s.get(&ticket).await;
    assert_eq!(rec.state, State::WaitingCitizen);
    assert_eq!(rec.pause.as_ref().unwrap().remaining_seconds, 4 * 60);
    s.outbox.run_once().await.unwrap();
    let q = s.last_text();
    assert!(q.contains(question) && q.contains("balas pesan ini"), "{q}");

    // The citizen answers two hours later (inside the window).
    s.clock.advance(Duration::hours(2));
    let answered_at = s.clock.now();
    s.whatsapp("wamid.IN2", "Desa Panji, KK 5108010101010001")
        .await;
    assert_eq!(s.all().await.len(), 1, "no new complaint");
    let rec = s.get(&ticket).await;
    assert_eq!(rec.state, State::Triage);
    assert_eq!(rec.due_at, Some(answered_at + Duration::minutes(4)));
    assert_eq!(rec.history.last().unwrap().action, "citizen_answer");

    let assign = Command::Assign {
        bidang: BidangCode::parse("dafduk").unwrap(),
        note: None,
    };
    s.act(&kasi, &ticket, assign).await;
    let assign_line = s.get(&ticket).await.history.last().unwrap().clone();
    assert_eq!(
        assign_line.elapsed_seconds,
        Some(60),
        "1 minute before the pause"
    );
    let solution = Command::Solution {
        text: "KK dicetak".into(),
    };
    s.act(
        &staff("dafduk1", Role::Bidang, Some("dafduk")),
        &ticket,
        solution,
    )
    .await;
    let approve = Command::Review {
        decision: ReviewDecision::Approve,
        note: None,
    };
    s.act(&kasi, &ticket, approve).await;
    let follow_up = Command::FollowUp {
        message: "KK dapat diambil di kantor desa.".into(),
    };
    s.act(&staff("staf1", Role::Staf, None), &ticket, follow_up)
        .await;
    s.outbox.run_once().await.unwrap();
    let a = s.last_text();
    assert!(a.contains("kantor desa") && a.contains("angka 1–5"), "{a}");

    s.clock.advance(Duration::hours(1));
    s.whatsapp("wamid.IN3", "4").await;
    let all = s.all().await;
    assert_eq!(all.len(), 1, "a rating is no complaint");
    let rec = s.get(&ticket).await;
    assert_eq!(rec.state, State::Closed);
    assert_eq!(rec.rating.as_ref().map(|r| r.score), Some(4));
    s.outbox.run_once().await.unwrap();
    assert!(s.last_text().contains("4 dari 5"));
    // Meta delivers it again: no second thanks.
    s.whatsapp("wamid.IN3", "4").await;
    assert_eq!(s.outbox.run_once().await.unwrap().claimed, 0);
    drop(s.desk);
    if postgres {
        aduan_store::testing::drop_postgres_database(&s.url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_question_answer_and_rating_on_sqlite() {
    whatsapp_question_answer_and_rating(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_question_answer_and_rating_on_postgres() {
    whatsapp_question_answer_and_rating(true).await;
}
