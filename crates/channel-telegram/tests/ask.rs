//! A question to a Telegram citizen and their answer, against the fake Bot API, on SQLite
//! and PostgreSQL with a manual clock: the question goes out as a reply to the citizen's
//! message and pauses the division's clock; the citizen's reply resumes it with the
//! remaining time; the answer asks for a rating by a number, and a bare `5` is the rating
//! (thanked once, however often Telegram delivers it) — not a new complaint nor a reopen;
//! a number while a question is open answers it; after 7 days a number is a new message.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use aduan_channel_telegram::{HandleOptions, Outcome, TelegramContext, handle_update, sender};
use aduan_core::desk::{Clock, Desk};
use aduan_core::model::{ComplaintRecord, Direction};
use aduan_core::outbox::{Outbox, ReplySender};
use aduan_core::store::prelude::*;
use aduan_core::testing::ManualClock;
use aduan_core::types::{BidangCode, Channel, Role, State, TicketNumber};
use aduan_core::workflow::{Actor, Command, ReviewDecision};
use chrono::{Duration, TimeZone, Utc};
use common::*;
use serde_json::{Value, json};

struct Setup {
    desk: Desk,
    store: Arc<dyn Store>,
    ctx: TelegramContext,
    api: FakeBotApi,
    clock: ManualClock,
    bot: teloxide::Bot,
    outbox: Outbox,
    url: String,
    _dir: tempfile::TempDir,
}

async fn setup(postgres: bool) -> Setup {
    let api = FakeBotApi::start().await;
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
        let mut cfg = aduan_core::testing::desk_config([Channel::Telegram]);
        cfg.public_base_url = "http://127.0.0.1:8080".into();
        cfg
    });
    let ctx = TelegramContext {
        desk: desk.clone(),
        replica_id: "test-replica".into(),
        max_attachment_bytes: 1 << 20,
        health: Arc::new(|_| {}),
        media_wake: Arc::new(tokio::sync::Notify::new()),
    };
    let cfg = config(&api.url);
    let s: Arc<dyn ReplySender> =
        Arc::new(sender(&cfg, &ctx).with_timeout(StdDuration::from_secs(3)));
    let outbox = Outbox::new(
        store.clone(),
        Arc::new(clock.clone()),
        Arc::new(aduan_core::templates::Templates::new(vec![]).unwrap()),
        HashMap::from([(Channel::Telegram, s)]),
    );
    let bot = aduan_channel_telegram::build_bot(&cfg, StdDuration::from_secs(5));
    Setup {
        desk,
        store,
        ctx,
        api,
        clock,
        bot,
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
    async fn update(&self, u: Value) -> Outcome {
        handle_update(&self.ctx, &self.bot, &u, &HandleOptions::default())
            .await
            .unwrap()
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
    async fn count(&self) -> usize {
        self.store
            .queue(&aduan_core::model::QueueFilter::default())
            .await
            .unwrap()
            .len()
            + self
                .store
                .queue(&aduan_core::model::QueueFilter {
                    state: Some(State::Closed),
                    ..Default::default()
                })
                .await
                .unwrap()
                .len()
    }
    /// Walk a complaint from triage to its answer.
    async fn answer(&self, t: &TicketNumber) {
        let kasi = staff("kasi1", Role::Kasi, None);
        let bidang = staff("dafduk1", Role::Bidang, Some("dafduk"));
        if self.get(t).await.state == State::Triage {
            let assign = Command::Assign {
                bidang: BidangCode::parse("dafduk").unwrap(),
                note: None,
            };
            self.act(&kasi, t, assign).await;
        }
        let solution = Command::Solution {
            text: "Sudah dicetak".into(),
        };
        self.act(&bidang, t, solution).await;
        let approve = Command::Review {
            decision: ReviewDecision::Approve,
            note: None,
        };
        self.act(&kasi, t, approve).await;
        let follow_up = Command::FollowUp {
            message: "KK dapat diambil di loket 2".into(),
        };
        self.act(&staff("staf1", Role::Staf, None), t, follow_up)
            .await;
    }
}

/// A private text message replying to message `reply_to` of the bot.
fn reply_update(update_id: i64, message_id: i64, reply_to: i64, text: &str) -> Value {
    let mut u = text_update(update_id, CHAT, message_id, text);
    u["message"]["reply_to_message"] = json!({
        "message_id": reply_to,
        "from": {"id": 999, "is_bot": true, "first_name": "Aduan", "username": "aduan_bot"},
        "chat": {"id": CHAT, "type": "private", "first_name": "Komang"},
        "date": unix_now(),
        "text": "pertanyaan"
    });
    u
}

async fn question_answer_and_rating(postgres: bool) {
    let s = setup(postgres).await;
    let Outcome::Created(ticket) = s
        .update(text_update(1, CHAT, 42, "KK saya belum jadi sejak Januari"))
        .await
    else {
        panic!("a complaint");
    };
    s.outbox.run_once().await.unwrap();
    assert_eq!(
        s.api.sent_to(CHAT)[0].reply_to,
        Some(42),
        "the acknowledgement"
    );

    let kasi = staff("kasi1", Role::Kasi, None);
    let bidang = staff("dafduk1", Role::Bidang, Some("dafduk"));
    s.clock.advance(Duration::minutes(2));
    let assign = Command::Assign {
        bidang: BidangCode::parse("dafduk").unwrap(),
        note: None,
    };
    s.act(&kasi, &ticket, assign).await;
    s.clock.advance(Duration::minutes(20));
    let question = "Mohon kirim nomor KK lama Anda.";
    s.act(
        &bidang,
        &ticket,
        Command::Ask {
            question: question.into(),
        },
    )
    .await;
    let rec = s.get(&ticket).await;
    assert_eq!(rec.state, State::WaitingCitizen);
    assert_eq!(rec.pause.as_ref().unwrap().remaining_seconds, 40 * 60);
    s.outbox.run_once().await.unwrap();
    let sent = s.api.sent_to(CHAT);
    let q = sent.last().unwrap();
    assert!(
        q.text.contains(question) && q.text.contains("balas pesan ini"),
        "{}",
        q.text
    );
    assert_eq!(q.reply_to, Some(42), "a reply to the citizen's message");

    // Three days later the citizen answers, quoting the question.
    s.clock.advance(Duration::days(3));
    let answered_at = s.clock.now();
    let out = s
        .update(reply_update(
            2,
            43,
            q.message_id,
            "Nomor KK lama 5108010101010001",
        ))
        .await;
    assert_eq!(
        out,
        Outcome::Appended {
            ticket: ticket.clone(),
            reopened: false
        }
    );
    let rec = s.get(&ticket).await;
    assert_eq!(rec.state, State::InBidang);
    assert_eq!(rec.due_at, Some(answered_at + Duration::minutes(40)));
    assert!(rec.pause.is_none());
    let h = rec.history.last().unwrap();
    assert_eq!(h.action, "citizen_answer");
    assert!(h.note.as_deref().unwrap().contains("5108010101010001"));

    s.answer(&ticket).await;
    s.outbox.run_once().await.unwrap();
    let a = s.api.sent_to(CHAT).last().unwrap().clone();
    assert!(
        a.text.contains("loket 2") && a.text.contains("angka 1–5"),
        "{}",
        a.text
    );
    assert_eq!(
        a.reply_to,
        Some(43),
        "a reply to the citizen's last message"
    );

    // A bare number the next day is the rating.
    s.clock.advance(Duration::days(1));
    let before = s.count().await;
    let rate = text_update(3, CHAT, 44, "5");
    assert_eq!(
        s.update(rate.clone()).await,
        Outcome::Rated {
            ticket: ticket.clone(),
            score: 5
        }
    );
    let rec = s.get(&ticket).await;
    assert_eq!(rec.state, State::Closed, "no reopening");
    assert_eq!(rec.rating.as_ref().map(|r| r.score), Some(5));
    assert!(
        rec.messages
            .iter()
            .any(|m| m.direction == Direction::In && m.text == "5")
    );
    assert_eq!(s.count().await, before, "no new complaint");
    s.outbox.run_once().await.unwrap();
    let thanks = s.api.sent_to(CHAT).last().unwrap().clone();
    assert!(thanks.text.contains("5 dari 5"), "{}", thanks.text);
    assert_eq!(thanks.reply_to, Some(44));
    // Telegram delivers it again: nothing new.
    assert_eq!(s.update(rate).await, Outcome::Duplicate(ticket.clone()));
    assert_eq!(s.outbox.run_once().await.unwrap().claimed, 0);

    // A number while a question is open answers the question.
    let Outcome::Created(second) = s
        .update(text_update(10, CHAT, 50, "Akta anak saya salah tulis"))
        .await
    else {
        panic!("a second complaint");
    };
    s.act(
        &kasi,
        &second,
        Command::Ask {
            question: "Berapa anak yang aktanya salah?".into(),
        },
    )
    .await;
    assert!(matches!(
        s.update(text_update(11, CHAT, 51, "2")).await,
        Outcome::Appended { .. }
    ));
    let rec = s.get(&second).await;
    assert_eq!((rec.state, rec.rating.clone()), (State::Triage, None));

    // Answered, then eight days of silence: a number is no rating any more.
    s.answer(&second).await;
    s.clock.advance(Duration::days(8));
    let before = s.count().await;
    assert!(matches!(
        s.update(text_update(12, CHAT, 52, "3")).await,
        Outcome::Created(_)
    ));
    assert_eq!(s.get(&second).await.rating, None);
    assert_eq!(s.count().await, before + 1);
    drop(s.desk);
    if postgres {
        aduan_store::testing::drop_postgres_database(&s.url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn question_answer_and_rating_on_sqlite() {
    question_answer_and_rating(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn question_answer_and_rating_on_postgres() {
    question_answer_and_rating(true).await;
}
