//! One behavioural suite for the `Store` trait, instantiated for every backend by
//! `conformance!`: SQLite on a temporary file and PostgreSQL on a fresh database per test
//! (`ADUAN_TEST_POSTGRES_URL`, required: the suite panics rather than skip).

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

use aduan_core::model::*;
use aduan_core::store::{Store, StoreError};
use aduan_core::types::*;
use aduan_core::workflow::{Changes, HistoryEntry, Transition};
use aduan_store::{connect, testing};

/// A store on a fresh, not yet migrated database.
struct Fixture {
    url: String,
    store: Arc<dyn Store>,
    postgres: bool,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = testing::fresh_sqlite_url(dir.path());
        let store = connect(&url).await.expect("open sqlite");
        Fixture {
            url,
            store,
            postgres: false,
            _dir: Some(dir),
        }
    }

    async fn postgres() -> Fixture {
        let url = testing::fresh_postgres_url().await;
        let store = connect(&url).await.expect("connect postgres");
        Fixture {
            url,
            store,
            postgres: true,
            _dir: None,
        }
    }

    /// The store, migrated.
    async fn ready(&self) -> &dyn Store {
        self.store.migrate().await.expect("migrate");
        self.store.as_ref()
    }

    /// A second, independent store on the same database ("another replica").
    async fn replica(&self) -> Arc<dyn Store> {
        connect(&self.url).await.expect("connect replica")
    }

    async fn teardown(self) {
        let Fixture {
            url,
            store,
            postgres,
            _dir,
        } = self;
        drop(store);
        if postgres {
            testing::drop_postgres_database(&url).await;
        }
    }
}

macro_rules! conformance {
    ($backend:ident: $($test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let fx = super::Fixture::$backend().await;
                    super::suite::$test(&fx).await;
                    fx.teardown().await;
                }
            )*
        }
    };
    ($($backend:ident),*) => {
        $(conformance!($backend:
            migrate_twice_is_a_noop,
            create_and_get_round_trip_every_field,
            numbering_is_per_month,
            duplicates_burn_no_number,
            concurrent_inserts_are_gap_free,
            concurrent_duplicates_resolve_to_one_complaint,
            concurrent_months_and_a_bad_request,
            save_transition_checks_version_and_appends,
            paraf_and_reopen,
            identity_share_is_idempotent,
            queue_filters_and_orders,
            received_between_is_half_open,
            users,
            outbox_claims_leases_and_retries,
            outbox_failed_is_visible,
            outbox_sent_records_the_message,
        );)*
    };
}

conformance!(sqlite, postgres);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap()
}

fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

fn prefix() -> TicketPrefix {
    TicketPrefix::parse("ADU").unwrap()
}

fn bidang(s: &str) -> BidangCode {
    BidangCode::parse(s).unwrap()
}

/// A fully populated complaint received at `at` (March 2026 unless changed).
fn complaint(external_id: Option<&str>, at: DateTime<Utc>) -> NewComplaint {
    let entered = at + secs(1);
    NewComplaint {
        channel: Channel::Email,
        external_id: external_id.map(str::to_string),
        received_at: at,
        identity: Identity {
            name: Some("Budi Santoso".into()),
            address: Some("Jl. Merdeka 1, Denpasar".into()),
            email: Some("budi@example.id".into()),
            phone: Some("+6281234567890".into()),
            handle: Some("budi_s".into()),
        },
        category: Some(Category::Pelayanan),
        target: Some("Loket 3".into()),
        body: "Antrian di loket 3 terlalu lama.".into(),
        letter_number: Some("123/PDIP/III/2026".into()),
        attachments: vec![NewAttachment {
            filename: "antrian.jpg".into(),
            content_type: "image/jpeg".into(),
            data: vec![0xff, 0xd8, 0xff, 0xe0, 0, 1, 2],
        }],
        access_code_hash: Some("c0ffee".into()),
        state: State::Triage,
        state_entered_at: entered,
        due_at: Some(entered + Duration::days(1)),
        history: vec![HistoryEntry {
            step: Some(Step::Receive),
            action: "receive".into(),
            state: State::Triage,
            actor: "sistem".into(),
            at: entered,
            due_at: Some(at + Duration::hours(2)),
            elapsed_seconds: Some(1),
            breached: false,
            note: Some("via e-mail".into()),
        }],
        acks: vec![NewReply {
            kind: ReplyKind::Ack,
            channel: Channel::Email,
            recipient: "budi@example.id".into(),
            template: "ack".into(),
            vars: json!({"office": "Dinas Kominfo", "n": 3}),
            max_attempts: 5,
        }],
        ticket_prefix: prefix(),
        ticket_month: (2026, 3),
        cursor: None,
    }
}

/// A minimal complaint: no identity, attachments, history or acks.
fn bare(external_id: Option<&str>, at: DateTime<Utc>) -> NewComplaint {
    NewComplaint {
        identity: Identity::default(),
        category: None,
        target: None,
        letter_number: None,
        attachments: vec![],
        access_code_hash: None,
        history: vec![],
        acks: vec![],
        ..complaint(external_id, at)
    }
}

async fn create(s: &dyn Store, c: NewComplaint) -> (i64, TicketNumber) {
    match s.create_complaint(c).await.expect("create") {
        CreateOutcome::Created { id, ticket } => (id, ticket),
        dup => panic!("expected Created, got {dup:?}"),
    }
}

async fn get(s: &dyn Store, ticket: &TicketNumber) -> ComplaintRecord {
    s.get_complaint(ticket).await.expect("get").expect("exists")
}

fn seq(t: &TicketNumber) -> u64 {
    t.as_str().rsplit('-').next().unwrap().parse().unwrap()
}

/// A transition at `at` from `from` to `to` by `actor`.
fn transition(from: State, to: State, at: DateTime<Utc>, changes: Changes) -> Transition {
    Transition {
        from,
        to,
        state_entered_at: at,
        due_at: to.step().map(|_| at + Duration::days(2)),
        changes,
        history: HistoryEntry {
            step: from.step(),
            action: "act".into(),
            state: to,
            actor: "kasi1".into(),
            at,
            due_at: Some(at - secs(5)),
            elapsed_seconds: Some(60),
            breached: true,
            note: Some("catatan".into()),
        },
        effects: vec![],
    }
}

fn write<'a>(rec: &ComplaintRecord, t: &'a Transition) -> TransitionWrite<'a> {
    TransitionWrite {
        complaint_id: rec.id,
        expected_version: rec.version,
        transition: t,
        actor: "kasi1".into(),
        reply: None,
        message: None,
        cursor: None,
    }
}

async fn assign(s: &dyn Store, ticket: &TicketNumber, b: &str, at: DateTime<Utc>) {
    let rec = get(s, ticket).await;
    let t = transition(
        rec.state,
        State::InBidang,
        at,
        Changes {
            bidang: Some(bidang(b)),
            ..Changes::default()
        },
    );
    s.save_transition(write(&rec, &t)).await.expect("assign");
}

mod suite {
    use super::*;

    pub async fn migrate_twice_is_a_noop(fx: &Fixture) {
        let replica = fx.replica().await;
        // Two "replicas" migrating a fresh database at once, then again.
        let (a, b) = tokio::join!(fx.store.migrate(), replica.migrate());
        a.expect("migrate a");
        b.expect("migrate b");
        fx.store.migrate().await.expect("second migrate");
        fx.store.ping().await.expect("ping");
        let (_, t) = create(fx.store.as_ref(), complaint(Some("m1"), t0())).await;
        replica.migrate().await.expect("third migrate");
        assert_eq!(get(replica.as_ref(), &t).await.ticket, t);
        assert!(["sqlite", "postgres"].contains(&fx.store.backend()));
        assert_eq!(fx.store.backend() == "postgres", fx.postgres);
    }

    pub async fn create_and_get_round_trip_every_field(fx: &Fixture) {
        let s = fx.ready().await;
        let new = complaint(Some("<m1@example.id>"), t0());
        let expected = new.clone();
        let (id, ticket) = create(s, new).await;
        assert_eq!(ticket.as_str(), "ADU-202603-0001");
        let r = get(s, &ticket).await;
        assert_eq!(r.id, id);
        assert_eq!(r.ticket, ticket);
        assert_eq!(r.channel, expected.channel);
        assert_eq!(r.external_id, expected.external_id);
        assert_eq!(r.received_at, expected.received_at);
        assert_eq!(r.identity, expected.identity);
        assert_eq!(r.category, expected.category);
        assert_eq!(r.target, expected.target);
        assert_eq!(r.body, expected.body);
        assert_eq!(r.letter_number, expected.letter_number);
        assert_eq!(r.state, expected.state);
        assert_eq!(r.state_entered_at, expected.state_entered_at);
        assert_eq!(r.due_at, expected.due_at);
        assert_eq!(r.bidang, None);
        assert_eq!(r.solution, None);
        assert_eq!(r.answer, None);
        assert_eq!(r.status, None);
        assert_eq!(r.close_reason, None);
        assert_eq!(r.paraf_by, None);
        assert_eq!(r.paraf_at, None);
        assert!(r.identity_shared_with.is_empty());
        assert_eq!(r.access_code_hash, expected.access_code_hash);
        assert_eq!(r.version, 1);
        assert_eq!(r.created_at, expected.state_entered_at);
        assert_eq!(r.updated_at, expected.state_entered_at);
        assert_eq!(
            r.messages,
            vec![Message {
                direction: Direction::In,
                at: expected.received_at,
                text: expected.body.clone(),
                external_id: expected.external_id.clone(),
            }]
        );
        assert_eq!(r.history, expected.history);
        assert_eq!(
            r.replies,
            vec![ReplyView {
                kind: ReplyKind::Ack,
                channel: Channel::Email,
                status: ReplyStatus::Pending,
                attempts: 0,
                last_error: None,
                created_at: expected.state_entered_at,
                sent_at: None,
            }]
        );
        assert_eq!(r.attachments.len(), 1);
        assert_eq!(r.attachments[0].filename, "antrian.jpg");
        assert_eq!(r.attachments[0].content_type, "image/jpeg");
        assert_eq!(r.attachments[0].size, 7);

        // The minimal shape round-trips too (all optional fields NULL).
        let mut b = bare(None, t0() + secs(10));
        b.channel = Channel::WalkIn;
        b.due_at = None;
        b.state = State::Received;
        let (_, t2) = create(s, b).await;
        let r2 = get(s, &t2).await;
        assert_eq!(r2.identity, Identity::default());
        assert_eq!(r2.channel, Channel::WalkIn);
        assert_eq!(r2.state, State::Received);
        assert_eq!((r2.external_id, r2.due_at, r2.category), (None, None, None));
        assert!(r2.history.is_empty() && r2.replies.is_empty() && r2.attachments.is_empty());
        assert_eq!(r2.messages.len(), 1);

        let missing = TicketNumber::parse("ADU-202603-0999").unwrap();
        assert!(s.get_complaint(&missing).await.unwrap().is_none());
    }

    pub async fn numbering_is_per_month(fx: &Fixture) {
        let s = fx.ready().await;
        let (_, a) = create(s, bare(None, t0())).await;
        let (_, b) = create(s, bare(None, t0())).await;
        let mut april = bare(None, t0() + Duration::days(30));
        april.ticket_month = (2026, 4);
        let (_, c) = create(s, april).await;
        let (_, d) = create(s, bare(None, t0())).await;
        let mut other_year = bare(None, t0());
        other_year.ticket_month = (2027, 3);
        let (_, e) = create(s, other_year).await;
        let got: Vec<&str> = [&a, &b, &c, &d, &e].iter().map(|t| t.as_str()).collect();
        assert_eq!(
            got,
            [
                "ADU-202603-0001",
                "ADU-202603-0002",
                "ADU-202604-0001",
                "ADU-202603-0003",
                "ADU-202703-0001"
            ]
        );
        let mut bad = bare(None, t0());
        bad.ticket_month = (2026, 13);
        assert!(matches!(
            s.create_complaint(bad).await,
            Err(StoreError::Other(_))
        ));
    }

    pub async fn duplicates_burn_no_number(fx: &Fixture) {
        let s = fx.ready().await;
        let (id, t1) = create(s, complaint(Some("m1"), t0())).await;
        let again = s
            .create_complaint(complaint(Some("m1"), t0() + secs(60)))
            .await
            .unwrap();
        assert_eq!(
            again,
            CreateOutcome::Duplicate {
                id,
                ticket: t1.clone()
            }
        );
        // Nothing was written by the duplicate.
        let r = get(s, &t1).await;
        assert_eq!(
            (r.messages.len(), r.replies.len(), r.history.len()),
            (1, 1, 1)
        );
        // Same id on another channel is a different message; NULL ids never collide.
        let mut tg = complaint(Some("m1"), t0());
        tg.channel = Channel::Telegram;
        let (_, t2) = create(s, tg).await;
        let (_, t3) = create(s, bare(None, t0())).await;
        let (_, t4) = create(s, bare(None, t0())).await;
        assert_eq!(
            [seq(&t1), seq(&t2), seq(&t3), seq(&t4)],
            [1, 2, 3, 4],
            "no number burned by the duplicate"
        );
        // A platform message already threaded into a complaint is a redelivery too.
        let rec = get(s, &t3).await;
        let t = transition(
            State::Triage,
            State::Triage,
            t0() + secs(90),
            Changes::default(),
        );
        let mut w = write(&rec, &t);
        w.message = Some(NewMessage {
            channel: None,
            direction: Direction::In,
            at: t0() + secs(90),
            text: "tambahan".into(),
            external_id: Some("m-threaded".into()),
        });
        s.save_transition(w).await.unwrap();
        let threaded = s
            .create_complaint(complaint(Some("m-threaded"), t0()))
            .await
            .unwrap();
        assert_eq!(
            threaded,
            CreateOutcome::Duplicate {
                id: rec.id,
                ticket: t3
            }
        );
        let (_, t5) = create(s, bare(None, t0())).await;
        assert_eq!(seq(&t5), 5);
    }

    pub async fn concurrent_inserts_are_gap_free(fx: &Fixture) {
        fx.ready().await;
        let replica = fx.replica().await;
        let stores = [fx.store.clone(), replica];
        let mut tasks = Vec::new();
        for task in 0..16usize {
            let store = stores[task % 2].clone();
            tasks.push(tokio::spawn(async move {
                let mut tickets = Vec::new();
                for i in (task..200).step_by(16) {
                    let ext = format!("msg-{i}");
                    match store.create_complaint(complaint(Some(&ext), t0())).await {
                        Ok(CreateOutcome::Created { ticket, .. }) => tickets.push(ticket),
                        other => panic!("create {i}: {other:?}"),
                    }
                }
                tickets
            }));
        }
        let mut all = Vec::new();
        for t in futures::future::join_all(tasks).await {
            all.extend(t.expect("task"));
        }
        assert_eq!(all.len(), 200);
        let distinct: BTreeSet<_> = all.iter().map(|t| t.as_str().to_string()).collect();
        assert_eq!(distinct.len(), 200, "tickets are unique");
        let seqs: BTreeSet<u64> = all.iter().map(seq).collect();
        assert_eq!(seqs, (1..=200).collect(), "sequence 1..=200 without gaps");
        let (_, next) = create(fx.store.as_ref(), bare(None, t0())).await;
        assert_eq!(seq(&next), 201);
    }

    pub async fn concurrent_duplicates_resolve_to_one_complaint(fx: &Fixture) {
        fx.ready().await;
        let replica = fx.replica().await;
        let stores = [fx.store.clone(), replica];
        let mut tasks = Vec::new();
        for round in 0..5usize {
            for task in 0..8usize {
                let store = stores[task % 2].clone();
                tasks.push(tokio::spawn(async move {
                    let ext = format!("dup-{round}");
                    store
                        .create_complaint(complaint(Some(&ext), t0()))
                        .await
                        .expect("create")
                }));
            }
        }
        let outcomes: Vec<CreateOutcome> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.expect("task"))
            .collect();
        let created: Vec<&CreateOutcome> = outcomes
            .iter()
            .filter(|o| matches!(o, CreateOutcome::Created { .. }))
            .collect();
        assert_eq!(created.len(), 5, "one winner per external id");
        for round in outcomes.chunks(8) {
            let tickets: BTreeSet<_> = round.iter().map(|o| o.ticket().clone()).collect();
            assert_eq!(
                tickets.len(),
                1,
                "every delivery reports the winner's ticket"
            );
        }
        let (_, next) = create(fx.store.as_ref(), bare(None, t0())).await;
        assert_eq!(seq(&next), 6, "lost races burned no number");
    }

    pub async fn concurrent_months_and_a_bad_request(fx: &Fixture) {
        fx.ready().await;
        // Concurrent creates (committed in groups on SQLite) spanning two months, with one
        // invalid request among them: it fails alone and takes no number.
        let mut tasks = Vec::new();
        for i in 0..60usize {
            let store = fx.store.clone();
            tasks.push(tokio::spawn(async move {
                let mut c = complaint(Some(&format!("mix-{i}")), t0());
                c.ticket_month = match i {
                    17 => (2026, 13),
                    i if i % 3 == 0 => (2026, 4),
                    _ => (2026, 3),
                };
                (i, store.create_complaint(c).await)
            }));
        }
        let mut march = BTreeSet::new();
        let mut april = BTreeSet::new();
        for t in futures::future::join_all(tasks).await {
            let (i, result) = t.expect("task");
            match (i, result) {
                (17, Err(StoreError::Other(m))) => assert!(m.contains("month"), "{m}"),
                (17, other) => panic!("the invalid request: {other:?}"),
                (i, Ok(CreateOutcome::Created { ticket, .. })) => {
                    let month = if i % 3 == 0 { &mut april } else { &mut march };
                    assert!(month.insert(seq(&ticket)));
                }
                (i, other) => panic!("request {i}: {other:?}"),
            }
        }
        assert_eq!(april, (1..=20).collect());
        assert_eq!(march, (1..=39).collect());
        let r = get(
            fx.store.as_ref(),
            &TicketNumber::parse("ADU-202604-0020").unwrap(),
        )
        .await;
        assert_eq!(
            (r.messages.len(), r.history.len(), r.replies.len()),
            (1, 1, 1)
        );
        assert_eq!(r.attachments.len(), 1);
    }

    pub async fn save_transition_checks_version_and_appends(fx: &Fixture) {
        let s = fx.ready().await;
        let (_, ticket) = create(s, complaint(Some("m1"), t0())).await;
        let rec = get(s, &ticket).await;
        let at = t0() + Duration::hours(1);
        let t = transition(
            State::Triage,
            State::InBidang,
            at,
            Changes {
                bidang: Some(bidang("kesehatan")),
                ..Changes::default()
            },
        );
        let mut w = write(&rec, &t);
        w.reply = Some(NewReply {
            kind: ReplyKind::Escalation,
            channel: Channel::Telegram,
            recipient: "12345".into(),
            template: "escalation".into(),
            vars: json!({}),
            max_attempts: 3,
        });
        w.message = Some(NewMessage {
            channel: None,
            direction: Direction::Out,
            at,
            text: "Sudah diteruskan".into(),
            external_id: None,
        });
        s.save_transition(w).await.expect("transition");

        let r = get(s, &ticket).await;
        assert_eq!(r.version, 2);
        assert_eq!(r.state, State::InBidang);
        assert_eq!(r.state_entered_at, at);
        assert_eq!(r.due_at, t.due_at);
        assert_eq!(r.updated_at, at);
        assert_eq!(r.created_at, rec.created_at);
        assert_eq!(r.bidang, Some(bidang("kesehatan")));
        assert_eq!(r.history.len(), 2);
        assert_eq!(r.history[1], t.history);
        assert_eq!(r.replies.len(), 2);
        assert_eq!(r.replies[1].kind, ReplyKind::Escalation);
        assert_eq!(r.replies[1].status, ReplyStatus::Pending);
        assert_eq!(r.replies[1].created_at, at);
        assert_eq!(r.messages.len(), 2);
        assert_eq!(r.messages[1].direction, Direction::Out);
        assert_eq!(r.messages[1].text, "Sudah diteruskan");

        // The same write again is stale: nothing changes.
        let stale = s.save_transition(write(&rec, &t)).await;
        assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
        let again = get(s, &ticket).await;
        assert_eq!((again.version, again.history.len()), (2, 2));

        // Unchanged fields stay; set fields are written.
        let at2 = at + Duration::hours(1);
        let t2 = transition(
            State::InBidang,
            State::Review,
            at2,
            Changes {
                solution: Some("Tambah petugas".into()),
                ..Changes::default()
            },
        );
        s.save_transition(write(&again, &t2)).await.unwrap();
        let r = get(s, &ticket).await;
        assert_eq!(r.version, 3);
        assert_eq!(r.bidang, Some(bidang("kesehatan")));
        assert_eq!(r.solution.as_deref(), Some("Tambah petugas"));
        assert_eq!(r.history.len(), 3);

        // A redelivered inbound message is ignored, the transition still applies.
        let at3 = at2 + secs(10);
        let t3 = transition(State::Review, State::Review, at3, Changes::default());
        for expected_version in [3, 4] {
            let mut w = write(&r, &t3);
            w.expected_version = expected_version;
            w.message = Some(NewMessage {
                channel: None,
                direction: Direction::In,
                at: at3,
                text: "susulan".into(),
                external_id: Some("m2".into()),
            });
            s.save_transition(w).await.unwrap();
        }
        let r = get(s, &ticket).await;
        assert_eq!(r.version, 5);
        assert_eq!(r.messages.iter().filter(|m| m.text == "susulan").count(), 1);
        assert_eq!(r.history.len(), 5);
    }

    pub async fn paraf_and_reopen(fx: &Fixture) {
        let s = fx.ready().await;
        let (_, ticket) = create(s, complaint(Some("m1"), t0())).await;
        let rec = get(s, &ticket).await;
        let at = t0() + Duration::hours(1);
        let close = transition(
            State::FollowUp,
            State::Closed,
            at,
            Changes {
                answer: Some("Sudah ditangani".into()),
                status: Some(Resolution::Selesai),
                close_reason: Some("selesai".into()),
                ..Changes::default()
            },
        );
        s.save_transition(write(&rec, &close)).await.unwrap();
        let rec = get(s, &ticket).await;
        assert_eq!(rec.state, State::Closed);
        assert_eq!(rec.due_at, None);
        assert_eq!(rec.status, Some(Resolution::Selesai));
        assert_eq!(rec.answer.as_deref(), Some("Sudah ditangani"));

        let at2 = at + Duration::hours(1);
        let sign = transition(
            State::Closed,
            State::Closed,
            at2,
            Changes {
                paraf: true,
                ..Changes::default()
            },
        );
        let mut w = write(&rec, &sign);
        w.actor = "kabid1".into();
        s.save_transition(w).await.unwrap();
        let rec = get(s, &ticket).await;
        assert_eq!(rec.paraf_by.as_deref(), Some("kabid1"));
        assert_eq!(rec.paraf_at, Some(at2));

        let at3 = at2 + Duration::hours(1);
        let reopen = transition(
            State::Closed,
            State::Triage,
            at3,
            Changes {
                reopen: true,
                ..Changes::default()
            },
        );
        s.save_transition(write(&rec, &reopen)).await.unwrap();
        let rec = get(s, &ticket).await;
        assert_eq!(rec.state, State::Triage);
        assert_eq!(rec.state_entered_at, at3);
        assert_eq!(
            (rec.status, rec.answer, rec.paraf_by, rec.paraf_at),
            (None, None, None, None)
        );
        assert_eq!(rec.version, 4);
        assert_eq!(rec.history.len(), 4);
    }

    pub async fn identity_share_is_idempotent(fx: &Fixture) {
        let s = fx.ready().await;
        let (_, ticket) = create(s, complaint(Some("m1"), t0())).await;
        assign(s, &ticket, "kesehatan", t0() + secs(60)).await;
        for i in 0..2 {
            let rec = get(s, &ticket).await;
            let t = transition(
                State::InBidang,
                State::InBidang,
                t0() + secs(120 + i),
                Changes {
                    share_identity_with: Some(bidang("kesehatan")),
                    ..Changes::default()
                },
            );
            s.save_transition(write(&rec, &t)).await.unwrap();
        }
        let rec = get(s, &ticket).await;
        assert_eq!(rec.identity_shared_with, vec![bidang("kesehatan")]);
        assert_eq!(rec.history.len(), 4);
    }

    pub async fn queue_filters_and_orders(fx: &Fixture) {
        let s = fx.ready().await;
        let mk = |ext: &str, minutes: i64, due_minutes: Option<i64>| {
            let mut c = bare(Some(ext), t0() + Duration::minutes(minutes));
            c.due_at = due_minutes.map(|m| t0() + Duration::minutes(m));
            c
        };
        // received order: a b c d e f
        let (_, a) = create(s, mk("a", 0, Some(500))).await;
        let (_, b) = create(s, mk("b", 1, None)).await;
        let (_, c) = create(s, mk("c", 2, Some(100))).await;
        let (_, d) = create(s, mk("d", 3, Some(100))).await;
        let (_, e) = create(s, mk("e", 4, None)).await;
        let (_, f) = create(s, mk("f", 5, Some(50))).await;
        assign(s, &c, "kesehatan", t0() + Duration::minutes(10)).await;
        assign(s, &e, "pendidikan", t0() + Duration::minutes(10)).await;
        // Close f.
        let rec = get(s, &f).await;
        let t = transition(State::Triage, State::Closed, t0(), Changes::default());
        s.save_transition(write(&rec, &t)).await.unwrap();

        let tickets = |q: Vec<QueueItem>| q.into_iter().map(|i| i.ticket).collect::<Vec<_>>();
        // Assign recomputed c's and e's due to t0+10min+2d.
        let open = s.queue(&QueueFilter::default()).await.unwrap();
        assert_eq!(
            tickets(open),
            vec![d.clone(), a.clone(), c.clone(), e.clone(), b.clone()]
        );
        let triage = s
            .queue(&QueueFilter {
                state: Some(State::Triage),
                ..QueueFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(tickets(triage), vec![d.clone(), a.clone(), b.clone()]);
        let closed = s
            .queue(&QueueFilter {
                state: Some(State::Closed),
                ..QueueFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(tickets(closed), vec![f.clone()]);
        let kes = s
            .queue(&QueueFilter {
                bidang: Some(bidang("kesehatan")),
                ..QueueFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(kes.len(), 1);
        assert_eq!(kes[0].ticket, c);
        assert_eq!(kes[0].bidang, Some(bidang("kesehatan")));
        assert_eq!(kes[0].state, State::InBidang);
        let kes_triage = s
            .queue(&QueueFilter {
                state: Some(State::Triage),
                bidang: Some(bidang("kesehatan")),
                limit: None,
            })
            .await
            .unwrap();
        assert!(kes_triage.is_empty());
        let limited = s
            .queue(&QueueFilter {
                limit: Some(2),
                ..QueueFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(tickets(limited), vec![d, a]);
    }

    pub async fn received_between_is_half_open(fx: &Fixture) {
        let s = fx.ready().await;
        let from = t0();
        let to = t0() + Duration::days(1);
        let ms = Duration::milliseconds(1);
        let (_, before) = create(s, complaint(Some("before"), from - ms)).await;
        let (_, first) = create(s, complaint(Some("first"), from)).await;
        let (_, last) = create(s, complaint(Some("last"), to - ms)).await;
        let (_, after) = create(s, complaint(Some("after"), to)).await;
        // Shares and history of `first`.
        assign(s, &first, "kesehatan", from + secs(5)).await;
        let rec = get(s, &first).await;
        let t = transition(
            State::InBidang,
            State::InBidang,
            from + secs(6),
            Changes {
                share_identity_with: Some(bidang("kesehatan")),
                ..Changes::default()
            },
        );
        s.save_transition(write(&rec, &t)).await.unwrap();

        let got = s.complaints_received_between(from, to).await.unwrap();
        let tickets: Vec<_> = got.iter().map(|r| r.ticket.clone()).collect();
        assert_eq!(tickets, vec![first.clone(), last.clone()]);
        assert!(!tickets.contains(&before) && !tickets.contains(&after));
        let full = get(s, &first).await;
        assert_eq!(got[0].history, full.history);
        assert_eq!(got[0].history.len(), 3);
        assert_eq!(got[0].identity_shared_with, vec![bidang("kesehatan")]);
        assert_eq!(got[0].version, full.version);
        assert!(got[0].messages.is_empty() && got[0].replies.is_empty());
        assert!(got[0].attachments.is_empty());
        assert_eq!(got[1].history.len(), 1);
        assert!(got[1].identity_shared_with.is_empty());
        assert!(
            s.complaints_received_between(to + ms, to + Duration::days(1))
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn users(fx: &Fixture) {
        let s = fx.ready().await;
        let name = |n: &str| Username::parse(n).unwrap();
        let new = |n: &str, token: &str, role: Role, b: Option<&str>| NewUser {
            username: name(n),
            role,
            bidang: b.map(bidang),
            display_name: Some(format!("User {n}")),
            token_hash: token.into(),
            password_hash: Some("argon2$x".into()),
            created_at: t0(),
        };
        let id_kasi = s
            .create_user(new("kasi1", "tok-kasi", Role::Kasi, None))
            .await
            .unwrap();
        let id_bid = s
            .create_user(new(
                "bidang.kes",
                "tok-kes",
                Role::Bidang,
                Some("kesehatan"),
            ))
            .await
            .unwrap();
        assert_ne!(id_kasi, id_bid);
        match s
            .create_user(new("kasi1", "tok-other", Role::Staf, None))
            .await
        {
            Err(StoreError::AlreadyExists(m)) => assert_eq!(m, "username kasi1"),
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
        assert!(matches!(
            s.create_user(new("kasi2", "tok-kasi", Role::Kasi, None))
                .await,
            Err(StoreError::AlreadyExists(_))
        ));

        let u = s
            .user_by_token_hash("tok-kes")
            .await
            .unwrap()
            .expect("user");
        assert_eq!(u.id, id_bid);
        assert_eq!(u.username, name("bidang.kes"));
        assert_eq!(u.role, Role::Bidang);
        assert_eq!(u.bidang, Some(bidang("kesehatan")));
        assert_eq!(u.display_name.as_deref(), Some("User bidang.kes"));
        assert!(!u.disabled);
        assert_eq!(u.created_at, t0());
        assert_eq!(u.password_hash.as_deref(), Some("argon2$x"));
        assert!(s.user_by_token_hash("nope").await.unwrap().is_none());

        assert!(s.disable_user(&name("bidang.kes")).await.unwrap());
        assert!(s.disable_user(&name("bidang.kes")).await.unwrap());
        assert!(!s.disable_user(&name("ghost")).await.unwrap());
        assert!(s.user_by_token_hash("tok-kes").await.unwrap().is_none());
        let u = s.user_by_name(&name("bidang.kes")).await.unwrap().unwrap();
        assert!(u.disabled);
        assert!(s.user_by_name(&name("ghost")).await.unwrap().is_none());

        let all = s.list_users().await.unwrap();
        let names: Vec<&str> = all.iter().map(|u| u.username.as_str()).collect();
        assert_eq!(names, ["bidang.kes", "kasi1"]);
    }

    pub async fn outbox_claims_leases_and_retries(fx: &Fixture) {
        let s = fx.ready().await;
        let (id, ticket) = create(s, complaint(Some("m1"), t0())).await;
        let due = t0() + secs(1); // the ack is due when the complaint was created
        let lease = Duration::minutes(2);
        assert_eq!(s.next_reply_due().await.unwrap(), Some(due));
        assert!(
            s.claim_replies(due - secs(1), lease, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(s.claim_replies(due, lease, 0).await.unwrap().is_empty());

        let first = s.claim_replies(due, lease, 10).await.unwrap();
        assert_eq!(first.len(), 1);
        let item = &first[0];
        assert_eq!(item.complaint_id, id);
        assert_eq!(item.ticket, ticket);
        assert_eq!(item.kind, ReplyKind::Ack);
        assert_eq!(item.channel, Channel::Email);
        assert_eq!(item.recipient, "budi@example.id");
        assert_eq!(item.template, "ack");
        assert_eq!(item.vars, json!({"office": "Dinas Kominfo", "n": 3}));
        assert_eq!((item.attempts, item.max_attempts), (0, 5));
        assert!(!item.claim_token.is_empty());

        // Leased: invisible to a second claim until the lease runs out.
        assert!(
            s.claim_replies(due + secs(1), lease, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(s.next_reply_due().await.unwrap(), Some(due + lease));
        let second = s.claim_replies(due + lease, lease, 10).await.unwrap();
        assert_eq!(second.len(), 1);
        assert_ne!(second[0].claim_token, item.claim_token);

        // The first worker lost its lease: its completion is ignored.
        let late = ReplyOutcome::Failed {
            error: "late".into(),
        };
        assert!(!s.complete_reply(item, late).await.unwrap());

        let retry_at = due + Duration::minutes(10);
        let retry = ReplyOutcome::Retry {
            error: "smtp 451".into(),
            next_attempt_at: retry_at,
        };
        assert!(s.complete_reply(&second[0], retry.clone()).await.unwrap());
        // Completing twice with the same token does nothing the second time.
        assert!(!s.complete_reply(&second[0], retry).await.unwrap());
        let r = get(s, &ticket).await;
        assert_eq!(r.replies[0].status, ReplyStatus::Pending);
        assert_eq!(r.replies[0].attempts, 1);
        assert_eq!(r.replies[0].last_error.as_deref(), Some("smtp 451"));
        assert_eq!(s.next_reply_due().await.unwrap(), Some(retry_at));
        assert!(
            s.claim_replies(retry_at - secs(1), lease, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let third = s.claim_replies(retry_at, lease, 10).await.unwrap();
        assert_eq!(third.len(), 1);
        assert_eq!(third[0].attempts, 1);

        // Limit and order: several due rows are handed out oldest first, `limit` at a time.
        for i in 0..3 {
            create(s, complaint(Some(&format!("x{i}")), t0() + secs(i))).await;
        }
        let batch = s.claim_replies(retry_at, lease, 2).await.unwrap();
        assert_eq!(batch.len(), 2);
        assert!(batch[0].id < batch[1].id);
        let rest = s.claim_replies(retry_at, lease, 10).await.unwrap();
        assert_eq!(rest.len(), 1);
    }

    pub async fn outbox_failed_is_visible(fx: &Fixture) {
        let s = fx.ready().await;
        let (_, ticket) = create(s, complaint(Some("m1"), t0())).await;
        let items = s
            .claim_replies(t0() + secs(1), Duration::minutes(2), 10)
            .await
            .unwrap();
        let failed = ReplyOutcome::Failed {
            error: "mailbox does not exist".into(),
        };
        assert!(s.complete_reply(&items[0], failed).await.unwrap());
        let r = get(s, &ticket).await;
        assert_eq!(r.replies[0].status, ReplyStatus::Failed);
        assert_eq!(r.replies[0].attempts, 1);
        assert_eq!(
            r.replies[0].last_error.as_deref(),
            Some("mailbox does not exist")
        );
        assert_eq!(r.replies[0].sent_at, None);
        assert_eq!(s.next_reply_due().await.unwrap(), None);
        assert!(
            s.claim_replies(t0() + Duration::days(1), Duration::minutes(2), 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn outbox_sent_records_the_message(fx: &Fixture) {
        let s = fx.ready().await;
        let (_, ticket) = create(s, complaint(Some("m1"), t0())).await;
        let items = s
            .claim_replies(t0() + secs(1), Duration::minutes(2), 10)
            .await
            .unwrap();
        let sent_at = t0() + secs(3);
        let sent = ReplyOutcome::Sent {
            external_id: Some("<ack-1@aduan>".into()),
            at: sent_at,
            text: "Terima kasih, tiket ADU-202603-0001".into(),
        };
        assert!(s.complete_reply(&items[0], sent).await.unwrap());
        let r = get(s, &ticket).await;
        assert_eq!(r.replies[0].status, ReplyStatus::Sent);
        assert_eq!(r.replies[0].attempts, 1);
        assert_eq!(r.replies[0].sent_at, Some(sent_at));
        assert_eq!(r.replies[0].last_error, None);
        assert_eq!(r.messages.len(), 2);
        assert_eq!(
            r.messages[1],
            Message {
                direction: Direction::Out,
                at: sent_at,
                text: "Terima kasih, tiket ADU-202603-0001".into(),
                external_id: Some("<ack-1@aduan>".into()),
            }
        );
        assert_eq!(s.next_reply_due().await.unwrap(), None);
    }
}
