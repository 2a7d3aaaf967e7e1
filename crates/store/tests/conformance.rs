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
use aduan_store::testing::{self, connect};

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
            cursors_are_set_and_overwritten,
            cursor_commits_with_a_create_and_a_duplicate,
            cursors_commit_with_grouped_creates,
            concurrent_duplicates_write_their_cursors,
            cursor_commits_with_a_transition,
            transition_refuses_a_stored_message,
            tickets_by_message_ids_matches_every_form,
            ticket_by_external_id_and_open_ticket_for_handle,
            fail_reply_by_external_id_marks_sent_rows,
            count_acks_since_is_per_channel_and_recipient,
            open_tickets_acknowledged_to_are_open_and_the_recipients,
            last_inbound_at_ignores_outbound,
            leases,
            escalation_once_per_step,
            concurrent_escalation_records_once,
            reports_create_once,
            report_state_machine,
            report_delivery_claims,
            count_received_between_is_half_open,
            analyses_page_reads_the_sealed_analysis_in_receipt_order,
            breaches_are_listed_up_to_the_limit_and_all_counted,
            questions_pause_and_resume,
            waits_are_not_escalated_and_wake_the_timer,
            ratings_and_the_rateable_complaint_of_a_handle,
            reply_threads_round_trip,
            dump_shows_no_identity,
            plaintext_database_is_sealed_on_upgrade,
            rotation_reseals_and_lookups_follow,
            database_files_are_private,
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
        analysis: Some(analysis_of("Antrian di loket 3 terlalu lama.")),
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
        media: Vec::new(),
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
        audit: None,
        reply_thread: None,
    }
}

/// The analysis the desk makes of the fixture's complaint with `body`.
fn analysis_of(body: &str) -> String {
    let who = Identity {
        name: Some("Budi Santoso".into()),
        email: Some("budi@example.id".into()),
        ..Identity::default()
    };
    aduan_core::problems::analyse(&who, Channel::Email, Some("Loket 3"), body)
}

/// A minimal complaint: no identity, attachments, history, acks or analysis.
fn bare(external_id: Option<&str>, at: DateTime<Utc>) -> NewComplaint {
    NewComplaint {
        analysis: None,
        identity: Identity::default(),
        category: None,
        target: None,
        letter_number: None,
        attachments: vec![],
        media: Vec::new(),
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
        attachments: Vec::new(),
        media: Vec::new(),
        cursor: None,
        audit: None,
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

#[path = "conformance/at_rest.rs"]
mod at_rest;

mod suite {
    pub use super::at_rest::*;
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
                channel: expected.channel,
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
                next_attempt_at: Some(expected.state_entered_at),
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

        // A redelivered inbound message refuses the whole transition: nothing is written.
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
            let result = s.save_transition(w).await;
            match expected_version {
                3 => result.unwrap(),
                _ => assert!(
                    // The platform id may carry a chat id or a phone: never in the error.
                    matches!(&result, Err(StoreError::AlreadyExists(m)) if !m.contains("m2")),
                    "{result:?}"
                ),
            }
        }
        let r = get(s, &ticket).await;
        assert_eq!(r.version, 4);
        assert_eq!(r.messages.iter().filter(|m| m.text == "susulan").count(), 1);
        assert_eq!(r.history.len(), 4);
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
                channel: Channel::Email,
            }
        );
        assert_eq!(s.next_reply_due().await.unwrap(), None);
    }

    // ---- Channel intake ----

    fn cursor(k: &str, v: &str) -> Option<aduan_core::model::Cursor> {
        Some(aduan_core::model::Cursor::new(k, v))
    }

    async fn cursor_of(s: &dyn Store, key: &str) -> Option<String> {
        s.get_cursor(key).await.expect("get_cursor")
    }

    fn inbound(ext: Option<&str>, channel: Option<Channel>, at: DateTime<Utc>) -> NewMessage {
        NewMessage {
            channel,
            direction: Direction::In,
            at,
            text: "pesan susulan".into(),
            external_id: ext.map(str::to_string),
        }
    }

    /// Append a message to a complaint with a no-op transition at `at`.
    async fn append(s: &dyn Store, ticket: &TicketNumber, m: NewMessage) -> Result<(), StoreError> {
        let rec = get(s, ticket).await;
        let t = transition(rec.state, rec.state, m.at, Changes::default());
        let mut w = write(&rec, &t);
        w.message = Some(m);
        s.save_transition(w).await
    }

    /// Claim every due reply at `at` and report each sent with the given external id.
    async fn send_all(s: &dyn Store, at: DateTime<Utc>, external_id: &str) {
        let items = s
            .claim_replies(at, Duration::minutes(2), 100)
            .await
            .unwrap();
        assert!(!items.is_empty(), "nothing to send at {at}");
        for item in items {
            let sent = ReplyOutcome::Sent {
                external_id: Some(external_id.to_string()),
                at,
                text: "terkirim".into(),
            };
            assert!(s.complete_reply(&item, sent).await.unwrap());
        }
    }

    pub async fn cursors_are_set_and_overwritten(fx: &Fixture) {
        let s = fx.ready().await;
        assert_eq!(cursor_of(s, "telegram:offset").await, None);
        s.set_cursor("telegram:offset", "41").await.unwrap();
        s.set_cursor("imap:a@b/INBOX", "7:100").await.unwrap();
        assert_eq!(cursor_of(s, "telegram:offset").await.as_deref(), Some("41"));
        s.set_cursor("telegram:offset", "42").await.unwrap();
        assert_eq!(cursor_of(s, "telegram:offset").await.as_deref(), Some("42"));
        assert_eq!(
            cursor_of(s, "imap:a@b/INBOX").await.as_deref(),
            Some("7:100")
        );
        // Seen by another replica.
        let replica = fx.replica().await;
        assert_eq!(
            cursor_of(replica.as_ref(), "telegram:offset")
                .await
                .as_deref(),
            Some("42")
        );
    }

    pub async fn cursor_commits_with_a_create_and_a_duplicate(fx: &Fixture) {
        let s = fx.ready().await;
        let key = "imap:aduan@dinas/INBOX";
        let mut c = complaint(Some("msgid:m1@example.id"), t0());
        c.cursor = cursor(key, "9:1");
        let (id, ticket) = create(s, c).await;
        assert_eq!(cursor_of(s, key).await.as_deref(), Some("9:1"));

        // A redelivery writes nothing but advances the cursor.
        let mut again = complaint(Some("msgid:m1@example.id"), t0() + secs(5));
        again.cursor = cursor(key, "9:2");
        assert_eq!(
            s.create_complaint(again).await.unwrap(),
            CreateOutcome::Duplicate {
                id,
                ticket: ticket.clone()
            }
        );
        assert_eq!(cursor_of(s, key).await.as_deref(), Some("9:2"));
        let r = get(s, &ticket).await;
        assert_eq!(
            (r.messages.len(), r.history.len(), r.replies.len()),
            (1, 1, 1)
        );

        // A failed create writes no cursor.
        let mut bad = complaint(Some("msgid:m2@example.id"), t0());
        bad.ticket_month = (2026, 13);
        bad.cursor = cursor(key, "9:3");
        assert!(s.create_complaint(bad).await.is_err());
        assert_eq!(cursor_of(s, key).await.as_deref(), Some("9:2"));
    }

    pub async fn cursors_commit_with_grouped_creates(fx: &Fixture) {
        fx.ready().await;
        // Concurrent creates (grouped on SQLite) with their own cursors, some redeliveries,
        // and one invalid request that sends its group down the one-by-one path.
        let mut tasks = Vec::new();
        for i in 0..48usize {
            let store = fx.store.clone();
            tasks.push(tokio::spawn(async move {
                let mut c = complaint(Some(&format!("g-{}", i % 40)), t0());
                if i == 13 {
                    c.ticket_month = (2026, 13);
                }
                c.cursor = cursor(&format!("cursor-{i}"), &format!("v{i}"));
                (i, store.create_complaint(c).await)
            }));
        }
        for t in futures::future::join_all(tasks).await {
            let (i, result) = t.expect("task");
            match (i, result) {
                (13, Err(_)) => {}
                (13, other) => panic!("the invalid request: {other:?}"),
                (_, Ok(_)) => {}
                (i, Err(e)) => panic!("request {i}: {e:?}"),
            }
        }
        let s = fx.store.as_ref();
        for i in 0..48usize {
            let got = cursor_of(s, &format!("cursor-{i}")).await;
            if i == 13 {
                assert_eq!(got, None, "a failed create writes no cursor");
            } else {
                assert_eq!(got, Some(format!("v{i}")), "cursor of request {i}");
            }
        }
    }

    pub async fn concurrent_duplicates_write_their_cursors(fx: &Fixture) {
        fx.ready().await;
        let replica = fx.replica().await;
        let stores = [fx.store.clone(), replica];
        let mut tasks = Vec::new();
        for round in 0..5usize {
            for task in 0..8usize {
                let store = stores[task % 2].clone();
                tasks.push(tokio::spawn(async move {
                    let mut c = complaint(Some(&format!("dup-{round}")), t0());
                    c.cursor = cursor(&format!("c-{round}-{task}"), "done");
                    store.create_complaint(c).await.expect("create")
                }));
            }
        }
        let outcomes: Vec<CreateOutcome> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.expect("task"))
            .collect();
        let created = outcomes
            .iter()
            .filter(|o| matches!(o, CreateOutcome::Created { .. }))
            .count();
        assert_eq!(created, 5);
        for round in 0..5 {
            for task in 0..8 {
                assert_eq!(
                    cursor_of(fx.store.as_ref(), &format!("c-{round}-{task}"))
                        .await
                        .as_deref(),
                    Some("done"),
                    "every delivery, winner or duplicate, wrote its cursor"
                );
            }
        }
    }

    pub async fn cursor_commits_with_a_transition(fx: &Fixture) {
        let s = fx.ready().await;
        let (_, ticket) = create(s, bare(Some("tg-1"), t0())).await;
        let rec = get(s, &ticket).await;
        let at = t0() + secs(60);
        let t = transition(State::Triage, State::Triage, at, Changes::default());
        let mut w = write(&rec, &t);
        w.message = Some(inbound(Some("tg-2"), Some(Channel::Telegram), at));
        w.cursor = cursor("telegram:offset", "101");
        s.save_transition(w).await.unwrap();
        assert_eq!(
            cursor_of(s, "telegram:offset").await.as_deref(),
            Some("101")
        );
        // A stale transition writes no cursor.
        let mut w = write(&rec, &t);
        w.cursor = cursor("telegram:offset", "102");
        assert!(matches!(
            s.save_transition(w).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            cursor_of(s, "telegram:offset").await.as_deref(),
            Some("101")
        );
        // A transition without a message still carries its cursor.
        let rec = get(s, &ticket).await;
        let mut w = write(&rec, &t);
        w.cursor = cursor("telegram:offset", "103");
        s.save_transition(w).await.unwrap();
        assert_eq!(
            cursor_of(s, "telegram:offset").await.as_deref(),
            Some("103")
        );
    }

    pub async fn transition_refuses_a_stored_message(fx: &Fixture) {
        let s = fx.ready().await;
        // An e-mail complaint and a Telegram one.
        let (_, mail) = create(s, complaint(Some("m1"), t0())).await;
        let mut tg = bare(Some("tg-1"), t0());
        tg.channel = Channel::Telegram;
        let (_, chat) = create(s, tg).await;
        let before = get(s, &mail).await;

        // The complaint's own first message (same channel, same id) is a redelivery.
        let mut w_rec = get(s, &mail).await;
        let t = transition(
            State::Triage,
            State::InBidang,
            t0() + secs(60),
            Changes {
                bidang: Some(bidang("kesehatan")),
                share_identity_with: Some(bidang("kesehatan")),
                ..Changes::default()
            },
        );
        let mut w = write(&w_rec, &t);
        w.message = Some(inbound(Some("m1"), None, t0() + secs(60)));
        w.reply = Some(NewReply {
            kind: ReplyKind::Answer,
            channel: Channel::Email,
            recipient: "budi@example.id".into(),
            template: "answer".into(),
            vars: json!({}),
            max_attempts: 3,
        });
        w.cursor = cursor("imap:x", "1:2");
        match s.save_transition(w).await {
            Err(StoreError::AlreadyExists(m)) => {
                assert!(m.starts_with("message"), "{m}");
                // The channel, never the platform id (it may carry a chat id or a phone).
                assert!(m.contains("email") && !m.contains("m1"), "{m}");
            }
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
        // Nothing at all was written: state, version, history, reply, share, cursor.
        let after = get(s, &mail).await;
        assert_eq!(after.version, before.version);
        assert_eq!(after.state, State::Triage);
        assert_eq!(after.bidang, None);
        assert!(after.identity_shared_with.is_empty());
        assert_eq!(
            (
                after.messages.len(),
                after.history.len(),
                after.replies.len()
            ),
            (1, 1, 1)
        );
        assert_eq!(cursor_of(s, "imap:x").await, None);

        // The message's own channel decides: the same id on Telegram is another message…
        let msg = inbound(Some("tg-1x"), Some(Channel::Telegram), t0() + secs(70));
        append(s, &mail, msg.clone()).await.unwrap();
        // …stored under Telegram: the same key again is a redelivery, on any complaint.
        assert!(matches!(
            append(s, &chat, msg.clone()).await,
            Err(StoreError::AlreadyExists(_))
        ));
        // The complaint's channel is the default: "tg-1" is the Telegram complaint's first
        // message, so appending it there is a redelivery, on the e-mail complaint it is not.
        assert!(matches!(
            append(s, &chat, inbound(Some("tg-1"), None, t0() + secs(80))).await,
            Err(StoreError::AlreadyExists(_))
        ));
        append(s, &mail, inbound(Some("tg-1"), None, t0() + secs(80)))
            .await
            .unwrap();
        // Messages without an id never collide.
        for _ in 0..2 {
            append(s, &mail, inbound(None, None, t0() + secs(90)))
                .await
                .unwrap();
        }
        w_rec = get(s, &mail).await;
        assert_eq!(w_rec.messages.len(), 5);
        assert_eq!(w_rec.version, before.version + 4);
        assert_eq!(get(s, &chat).await.messages.len(), 1);
    }

    pub async fn tickets_by_message_ids_matches_every_form(fx: &Fixture) {
        let s = fx.ready().await;
        let ids = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // The newest candidate (the lookup returns candidates, newest first).
        let newest = |ids: Vec<String>| async move {
            s.tickets_by_message_ids(&ids, 20)
                .await
                .unwrap()
                .into_iter()
                .next()
        };
        assert_eq!(newest(vec![]).await, None);
        assert_eq!(newest(ids(&["nope"])).await, None);

        // Inbound e-mail is stored as `msgid:<Message-ID>`.
        let (_, a) = create(s, complaint(Some("msgid:a1@example.id"), t0())).await;
        assert_eq!(
            newest(ids(&["x@y", "a1@example.id"])).await,
            Some(a.clone())
        );
        // Plain external ids of any channel, first message or appended.
        let mut tg = bare(Some("tg-7"), t0());
        tg.channel = Channel::Telegram;
        let (_, b) = create(s, tg).await;
        append(s, &b, inbound(Some("tg-8"), None, t0() + secs(5)))
            .await
            .unwrap();
        assert_eq!(newest(ids(&["tg-7"])).await, Some(b.clone()));
        assert_eq!(newest(ids(&["tg-8"])).await, Some(b.clone()));
        // Several matches: every candidate, the newest complaint first, at most `limit`.
        assert_eq!(
            newest(ids(&["a1@example.id", "tg-7"])).await,
            Some(b.clone())
        );
        assert_eq!(
            s.tickets_by_message_ids(&ids(&["tg-8", "a1@example.id", "tg-7"]), 20)
                .await
                .unwrap(),
            vec![b.clone(), a.clone()]
        );
        assert_eq!(
            s.tickets_by_message_ids(&ids(&["a1@example.id", "tg-7"]), 1)
                .await
                .unwrap(),
            vec![b.clone()]
        );
        assert!(
            s.tickets_by_message_ids(&ids(&["a1@example.id"]), 0)
                .await
                .unwrap()
                .is_empty()
        );

        // The platform id of a reply aduan sent, found through the outbox even when the
        // conversation could not record it (the id is already an older complaint's message).
        let (_, old) = create(s, bare(Some("shared-id"), t0())).await;
        let (_, c) = create(s, complaint(Some("msgid:c1@example.id"), t0())).await;
        send_all(s, t0() + secs(1), "shared-id").await;
        let rec = get(s, &c).await;
        assert_eq!(rec.replies[0].status, ReplyStatus::Sent);
        assert_eq!(rec.messages.len(), 1, "the sent id was taken by {old}");
        assert_eq!(newest(ids(&["shared-id"])).await, Some(c.clone()));
        // A sent reply recorded in the conversation is found too.
        let (_, d) = create(s, complaint(Some("msgid:d1@example.id"), t0())).await;
        send_all(s, t0() + secs(2), "ack-d@aduan").await;
        assert_eq!(newest(ids(&["ack-d@aduan"])).await, Some(d));
        // Many ids at once.
        let mut many: Vec<String> = (0..3000).map(|i| format!("ref-{i}@x")).collect();
        many.push("a1@example.id".into());
        assert_eq!(newest(many.clone()).await, Some(a));
    }

    pub async fn ticket_by_external_id_and_open_ticket_for_handle(fx: &Fixture) {
        let s = fx.ready().await;
        let chat = |ext: &str, ch: Channel, handle: &str, at: DateTime<Utc>| {
            let mut c = bare(Some(ext), at);
            c.channel = ch;
            c.identity.handle = Some(handle.to_string());
            c
        };
        let (_, c1) = create(s, chat("t1", Channel::Telegram, "h1", t0())).await;
        let (_, c2) = create(s, chat("t2", Channel::Telegram, "h1", t0() + secs(1))).await;
        let (_, c3) = create(s, chat("w1", Channel::Whatsapp, "h1", t0() + secs(2))).await;
        let (_, c4) = create(s, chat("t4", Channel::Telegram, "h2", t0() + secs(3))).await;
        append(s, &c1, inbound(Some("t9"), None, t0() + secs(9)))
            .await
            .unwrap();

        // By external id: the complaint's own id or an appended message, per channel.
        let by = |ch: Channel, ext: &'static str| async move {
            s.ticket_by_external_id(ch, ext).await.unwrap()
        };
        assert_eq!(by(Channel::Telegram, "t2").await, Some(c2.clone()));
        assert_eq!(by(Channel::Telegram, "t9").await, Some(c1.clone()));
        assert_eq!(by(Channel::Whatsapp, "w1").await, Some(c3.clone()));
        assert_eq!(by(Channel::Email, "t2").await, None);
        assert_eq!(by(Channel::Telegram, "nope").await, None);

        // Open complaint of a handle: newest first, per channel, closed ones ignored.
        let open = |ch: Channel, h: &'static str| async move {
            s.open_ticket_for_handle(ch, h).await.unwrap()
        };
        assert_eq!(open(Channel::Telegram, "h1").await, Some(c2.clone()));
        assert_eq!(open(Channel::Whatsapp, "h1").await, Some(c3.clone()));
        assert_eq!(open(Channel::Telegram, "h2").await, Some(c4));
        assert_eq!(open(Channel::Messenger, "h1").await, None);
        assert_eq!(open(Channel::Telegram, "h3").await, None);
        let close = |t: TicketNumber| async move {
            let rec = get(s, &t).await;
            let tr = transition(
                rec.state,
                State::Closed,
                t0() + secs(30),
                Changes::default(),
            );
            s.save_transition(write(&rec, &tr)).await.unwrap();
        };
        close(c2).await;
        assert_eq!(open(Channel::Telegram, "h1").await, Some(c1.clone()));
        close(c1).await;
        assert_eq!(open(Channel::Telegram, "h1").await, None);
        assert_eq!(open(Channel::Whatsapp, "h1").await, Some(c3));
    }

    pub async fn fail_reply_by_external_id_marks_sent_rows(fx: &Fixture) {
        let s = fx.ready().await;
        let (_, a) = create(s, complaint(Some("m1"), t0())).await;
        send_all(s, t0() + secs(1), "ack-1@aduan").await;
        let (_, b) = create(s, complaint(Some("m2"), t0() + secs(5))).await;

        assert!(!s.fail_reply_by_external_id("nope", "x").await.unwrap());
        assert!(
            s.fail_reply_by_external_id("ack-1@aduan", "550 5.1.1 user unknown")
                .await
                .unwrap()
        );
        let r = get(s, &a).await;
        assert_eq!(r.replies[0].status, ReplyStatus::Failed);
        assert_eq!(
            r.replies[0].last_error.as_deref(),
            Some("550 5.1.1 user unknown")
        );
        assert_eq!(r.replies[0].sent_at, Some(t0() + secs(1)));
        // Other rows are untouched.
        let r = get(s, &b).await;
        assert_eq!(r.replies[0].status, ReplyStatus::Pending);
        assert_eq!(r.replies[0].last_error, None);
        // The failed-replies page's query: complaints with a failed reply, received from
        // the given instant on.
        let channel = get(s, &a).await.channel;
        let failed = s
            .failed_reply_complaints(t0() - Duration::days(40), 10)
            .await
            .unwrap();
        assert_eq!(failed, vec![(a.clone(), channel)]);
        let later = s.failed_reply_complaints(t0() + secs(1), 10).await.unwrap();
        assert!(later.is_empty(), "received before the range: {later:?}");
        assert!(
            s.failed_reply_complaints(t0() - Duration::days(40), 0)
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn count_acks_since_is_per_channel_and_recipient(fx: &Fixture) {
        let s = fx.ready().await;
        let ack_to = |ext: &str, to: &str, at: DateTime<Utc>| {
            let mut c = complaint(Some(ext), at);
            c.acks[0].recipient = to.to_string();
            c
        };
        // Acks are created when the complaint is (state_entered_at = received + 1 s).
        create(s, ack_to("m0", "budi@example.id", t0())).await;
        create(
            s,
            ack_to("m1", "Budi@Example.ID", t0() + Duration::hours(1)),
        )
        .await;
        create(
            s,
            ack_to("m2", "budi@example.id", t0() + Duration::hours(2)),
        )
        .await;
        create(
            s,
            ack_to("m3", "siti@example.id", t0() + Duration::hours(2)),
        )
        .await;
        let mut tg = ack_to("m4", "budi@example.id", t0() + Duration::hours(2));
        tg.acks[0].channel = Channel::Telegram;
        create(s, tg).await;
        // A non-ack reply to the same recipient does not count.
        let (_, t) = create(s, bare(Some("m5"), t0() + Duration::hours(2))).await;
        let rec = get(s, &t).await;
        let tr = transition(
            State::Triage,
            State::Triage,
            t0() + Duration::hours(3),
            Changes::default(),
        );
        let mut w = write(&rec, &tr);
        w.reply = Some(NewReply {
            kind: ReplyKind::Answer,
            channel: Channel::Email,
            recipient: "budi@example.id".into(),
            template: "answer".into(),
            vars: json!({}),
            max_attempts: 3,
        });
        s.save_transition(w).await.unwrap();
        // Sent and failed acks count like pending ones.
        send_all(s, t0() + Duration::hours(4), "x").await;

        let count = |to: &'static str, ch: Channel, since: DateTime<Utc>| async move {
            s.count_acks_since(ch, to, since).await.unwrap()
        };
        assert_eq!(count("BUDI@example.id", Channel::Email, t0()).await, 3);
        // `since` is inclusive.
        let second = t0() + Duration::hours(1) + secs(1);
        assert_eq!(count("budi@example.id", Channel::Email, second).await, 2);
        assert_eq!(
            count(
                "budi@example.id",
                Channel::Email,
                second + Duration::milliseconds(1)
            )
            .await,
            1
        );
        assert_eq!(count("siti@example.id", Channel::Email, t0()).await, 1);
        assert_eq!(count("budi@example.id", Channel::Telegram, t0()).await, 1);
        assert_eq!(count("nobody@example.id", Channel::Email, t0()).await, 0);
    }

    pub async fn open_tickets_acknowledged_to_are_open_and_the_recipients(fx: &Fixture) {
        let s = fx.ready().await;
        let ack_to = |ext: &str, ch: Channel, to: &str, at: DateTime<Utc>| {
            let mut c = complaint(Some(ext), at);
            c.acks[0].channel = ch;
            c.acks[0].recipient = to.to_string();
            c
        };
        let (_, a) = create(s, ack_to("m1", Channel::Email, "budi@example.id", t0())).await;
        let (_, b) = create(
            s,
            ack_to("m2", Channel::Email, "Budi@Example.ID", t0() + secs(1)),
        )
        .await;
        let (_, siti) = create(
            s,
            ack_to("m3", Channel::Email, "siti@example.id", t0() + secs(2)),
        )
        .await;
        let (_, tg) = create(
            s,
            ack_to("m4", Channel::Telegram, "budi@example.id", t0() + secs(3)),
        )
        .await;
        // A complaint with no acknowledgement, and one with only an answer to Budi.
        create(s, bare(Some("m5"), t0() + secs(4))).await;
        let (_, answered) = create(s, bare(Some("m6"), t0() + secs(5))).await;
        let rec = get(s, &answered).await;
        let tr = transition(
            State::Triage,
            State::Triage,
            t0() + secs(6),
            Changes::default(),
        );
        let mut w = write(&rec, &tr);
        w.reply = Some(NewReply {
            kind: ReplyKind::Answer,
            channel: Channel::Email,
            recipient: "budi@example.id".into(),
            template: "answer".into(),
            vars: json!({}),
            max_attempts: 3,
        });
        s.save_transition(w).await.unwrap();
        // Sent acknowledgements count like pending ones.
        send_all(s, t0() + secs(7), "x").await;

        let open = |to: &[&str], limit: u32| {
            let to: Vec<String> = to.iter().map(|t| t.to_string()).collect();
            async move {
                s.open_tickets_acknowledged_to(Channel::Email, &to, limit)
                    .await
                    .unwrap()
            }
        };
        // Newest first, case-insensitive, only e-mail acknowledgements to these recipients.
        assert_eq!(
            open(&["BUDI@example.id"], 20).await,
            vec![b.clone(), a.clone()]
        );
        assert_eq!(open(&["budi@example.id"], 1).await, vec![b.clone()]);
        assert_eq!(
            open(&["budi@example.id", " siti@example.id "], 20).await,
            vec![siti.clone(), b.clone(), a.clone()]
        );
        assert_eq!(
            open(&["nobody@example.id"], 20).await,
            Vec::<TicketNumber>::new()
        );
        assert_eq!(open(&[], 20).await, Vec::<TicketNumber>::new());
        assert_eq!(
            open(&["budi@example.id"], 0).await,
            Vec::<TicketNumber>::new()
        );
        assert_eq!(
            s.open_tickets_acknowledged_to(Channel::Telegram, &["budi@example.id".into()], 20)
                .await
                .unwrap(),
            vec![tg]
        );
        // Closed complaints are left out.
        let rec = get(s, &b).await;
        let tr = transition(
            rec.state,
            State::Closed,
            t0() + secs(30),
            Changes::default(),
        );
        s.save_transition(write(&rec, &tr)).await.unwrap();
        assert_eq!(open(&["budi@example.id"], 20).await, vec![a]);
    }

    pub async fn last_inbound_at_ignores_outbound(fx: &Fixture) {
        let s = fx.ready().await;
        let (_, t) = create(s, complaint(Some("m1"), t0())).await;
        assert_eq!(s.last_inbound_at(&t).await.unwrap(), Some(t0()));
        append(s, &t, inbound(Some("m2"), None, t0() + Duration::hours(1)))
            .await
            .unwrap();
        assert_eq!(
            s.last_inbound_at(&t).await.unwrap(),
            Some(t0() + Duration::hours(1))
        );
        // Outbound messages (staff notes, sent replies) do not count.
        let mut out = inbound(None, None, t0() + Duration::hours(2));
        out.direction = Direction::Out;
        append(s, &t, out).await.unwrap();
        send_all(s, t0() + Duration::hours(3), "ack@aduan").await;
        assert_eq!(get(s, &t).await.messages.len(), 4);
        assert_eq!(
            s.last_inbound_at(&t).await.unwrap(),
            Some(t0() + Duration::hours(1))
        );
        let missing = TicketNumber::parse("ADU-202603-0999").unwrap();
        assert_eq!(s.last_inbound_at(&missing).await.unwrap(), None);
    }

    pub async fn leases(fx: &Fixture) {
        let s = fx.ready().await;
        let replica = fx.replica().await;
        let r = replica.as_ref();
        let at = |n: i64| t0() + secs(n);
        let name = "imap:aduan@dinas/INBOX";
        // Taken by a, refused to b while live (on any replica).
        assert!(s.try_lease(name, "a", at(0), at(60)).await.unwrap());
        assert!(!r.try_lease(name, "b", at(10), at(70)).await.unwrap());
        // Renewed by its holder.
        assert!(r.try_lease(name, "a", at(30), at(90)).await.unwrap());
        assert!(!s.try_lease(name, "b", at(60), at(120)).await.unwrap());
        assert!(!s.try_lease(name, "b", at(89), at(120)).await.unwrap());
        // Taken over once expired; the old holder is then refused.
        assert!(s.try_lease(name, "b", at(90), at(150)).await.unwrap());
        assert!(!s.try_lease(name, "a", at(91), at(151)).await.unwrap());
        // Other names are independent.
        assert!(s.try_lease("telegram", "a", at(91), at(151)).await.unwrap());
        // Only the holder releases.
        s.release_lease(name, "a").await.unwrap();
        assert!(!s.try_lease(name, "a", at(92), at(152)).await.unwrap());
        r.release_lease(name, "b").await.unwrap();
        assert!(s.try_lease(name, "a", at(93), at(153)).await.unwrap());
        assert!(!s.try_lease("telegram", "b", at(93), at(153)).await.unwrap());

        // Racing takers of a free lease: exactly one wins.
        let stores = [fx.store.clone(), replica.clone()];
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = stores[i % 2].clone();
                tokio::spawn(async move {
                    store
                        .try_lease("race", &format!("h{i}"), at(0), at(60))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let won = futures::future::join_all(tasks)
            .await
            .into_iter()
            .filter(|r| *r.as_ref().expect("task"))
            .count();
        assert_eq!(won, 1);
    }

    // ---- SLA escalation ----

    fn escalation_entry(state: State, at: DateTime<Utc>) -> HistoryEntry {
        HistoryEntry {
            step: state.step(),
            action: "escalate".into(),
            state,
            actor: "sistem".into(),
            at,
            due_at: None,
            elapsed_seconds: None,
            breached: true,
            note: Some("batas waktu terlewati".into()),
        }
    }

    fn notice(to: &str) -> NewReply {
        NewReply {
            kind: ReplyKind::Escalation,
            channel: Channel::Email,
            recipient: to.into(),
            template: "escalation".into(),
            vars: json!({"step": "2"}),
            max_attempts: 4,
        }
    }

    pub async fn escalation_once_per_step(fx: &Fixture) {
        let s = fx.ready().await;
        // c1 due first, c2 later, c3 without a clock, c4 closed.
        let (id1, c1) = create(s, bare(Some("e1"), t0())).await;
        let mut later = bare(Some("e2"), t0());
        later.due_at = Some(t0() + Duration::days(2));
        let (_, c2) = create(s, later).await;
        let mut no_clock = bare(Some("e3"), t0());
        no_clock.due_at = None;
        create(s, no_clock).await;
        let (_, c4) = create(s, bare(Some("e4"), t0())).await;
        let rec4 = get(s, &c4).await;
        let close = transition(
            State::Triage,
            State::Closed,
            t0() + secs(5),
            Changes::default(),
        );
        s.save_transition(write(&rec4, &close)).await.unwrap();

        let rec1 = get(s, &c1).await;
        let due1 = rec1.due_at.unwrap();
        assert_eq!(s.next_escalation_due().await.unwrap(), Some(due1));
        assert!(
            s.due_escalations(due1 - Duration::milliseconds(1), 10)
                .await
                .unwrap()
                .is_empty()
        );
        let now = t0() + Duration::days(3);
        let due = s.due_escalations(now, 10).await.unwrap();
        assert_eq!(
            due.iter().map(|c| c.ticket.clone()).collect::<Vec<_>>(),
            vec![c1.clone(), c2.clone()]
        );
        assert_eq!(
            due[0],
            EscalationCandidate {
                complaint_id: id1,
                ticket: c1.clone(),
                state: State::Triage,
                state_entered_at: rec1.state_entered_at,
                due_at: due1,
                bidang: None,
            }
        );
        assert_eq!(s.due_escalations(now, 1).await.unwrap().len(), 1);

        // Recorded once, with its history line and notices.
        let h = escalation_entry(State::Triage, now);
        let notices = vec![notice("kasi@dinas.id"), notice("kabid@dinas.id")];
        assert!(
            s.record_escalation(id1, rec1.state_entered_at, &h, notices.clone())
                .await
                .unwrap()
        );
        assert!(
            !s.record_escalation(id1, rec1.state_entered_at, &h, notices.clone())
                .await
                .unwrap()
        );
        // A step that is not the current one is not recorded.
        assert!(
            !s.record_escalation(id1, rec1.state_entered_at - secs(1), &h, vec![])
                .await
                .unwrap()
        );
        let r = get(s, &c1).await;
        assert_eq!(r.history.len(), 1);
        assert_eq!(r.history[0], h);
        assert_eq!(r.replies.len(), 2);
        assert!(r.replies.iter().all(|x| x.kind == ReplyKind::Escalation
            && x.status == ReplyStatus::Pending
            && x.created_at == now));
        assert_eq!(
            r.version, rec1.version,
            "escalation is not a workflow change"
        );
        // The notices are due at once.
        let items = s
            .claim_replies(now, Duration::minutes(1), 10)
            .await
            .unwrap();
        let mut to: Vec<_> = items.iter().map(|i| i.recipient.as_str()).collect();
        to.sort();
        assert_eq!(to, ["kabid@dinas.id", "kasi@dinas.id"]);
        assert_eq!(items[0].template, "escalation");

        let due = s.due_escalations(now, 10).await.unwrap();
        assert_eq!(
            due.iter().map(|c| c.ticket.clone()).collect::<Vec<_>>(),
            vec![c2.clone()]
        );
        assert_eq!(
            s.next_escalation_due().await.unwrap(),
            Some(t0() + Duration::days(2))
        );

        // A new step re-arms escalation.
        let at = t0() + Duration::days(4);
        let assign = transition(
            State::Triage,
            State::InBidang,
            at,
            Changes {
                bidang: Some(bidang("kesehatan")),
                ..Changes::default()
            },
        );
        s.save_transition(write(&r, &assign)).await.unwrap();
        let r = get(s, &c1).await;
        let later = at + Duration::days(3);
        let due = s.due_escalations(later, 10).await.unwrap();
        assert_eq!(due.len(), 2);
        assert_eq!(due[0].ticket, c2);
        assert_eq!(due[1].ticket, c1);
        assert_eq!(due[1].state, State::InBidang);
        assert_eq!(due[1].state_entered_at, at);
        assert_eq!(due[1].bidang, Some(bidang("kesehatan")));
        // The old step's escalation no longer applies; the new one records once.
        assert!(
            !s.record_escalation(id1, rec1.state_entered_at, &h, vec![])
                .await
                .unwrap()
        );
        let h2 = escalation_entry(State::InBidang, later);
        assert!(s.record_escalation(id1, at, &h2, vec![]).await.unwrap());
        assert!(!s.record_escalation(id1, at, &h2, vec![]).await.unwrap());
        assert_eq!(get(s, &c1).await.history.len(), r.history.len() + 1);

        // Escalating c2 and closing everything leaves nothing due.
        let c2_rec = get(s, &c2).await;
        assert!(
            s.record_escalation(c2_rec.id, c2_rec.state_entered_at, &h, vec![])
                .await
                .unwrap()
        );
        assert_eq!(s.next_escalation_due().await.unwrap(), None);
        assert!(s.due_escalations(later, 10).await.unwrap().is_empty());
    }

    pub async fn concurrent_escalation_records_once(fx: &Fixture) {
        fx.ready().await;
        let replica = fx.replica().await;
        let stores = [fx.store.clone(), replica];
        let mut targets = Vec::new();
        for i in 0..5 {
            let (id, t) = create(fx.store.as_ref(), bare(Some(&format!("r{i}")), t0())).await;
            targets.push((id, get(fx.store.as_ref(), &t).await.state_entered_at, t));
        }
        let now = t0() + Duration::days(3);
        let mut tasks = Vec::new();
        for (id, entered, _) in &targets {
            for task in 0..8usize {
                let store = stores[task % 2].clone();
                let (id, entered) = (*id, *entered);
                tasks.push(tokio::spawn(async move {
                    let h = escalation_entry(State::Triage, now);
                    let n = vec![notice("kasi@dinas.id")];
                    (
                        id,
                        store.record_escalation(id, entered, &h, n).await.unwrap(),
                    )
                }));
            }
        }
        let results: Vec<(i64, bool)> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.expect("task"))
            .collect();
        for (id, _, ticket) in &targets {
            let wins = results.iter().filter(|(i, won)| i == id && *won).count();
            assert_eq!(wins, 1, "exactly one recorder for complaint {id}");
            let r = get(fx.store.as_ref(), ticket).await;
            assert_eq!(r.history.len(), 1);
            assert_eq!(r.replies.len(), 1);
        }
        assert!(fx.store.due_escalations(now, 10).await.unwrap().is_empty());
    }

    // ---- Monthly report ----

    pub async fn reports_create_once(fx: &Fixture) {
        let s = fx.ready().await;
        assert_eq!(s.get_report("2026-03").await.unwrap(), None);
        assert!(
            s.create_report("2026-03", r#"{"total":3}"#, t0())
                .await
                .unwrap()
        );
        assert!(
            !s.create_report("2026-03", r#"{"total":99}"#, t0() + secs(1))
                .await
                .unwrap()
        );
        let r = s.get_report("2026-03").await.unwrap().expect("report");
        assert_eq!(
            r,
            ReportRecord {
                month: "2026-03".into(),
                state: ReportState::Draft,
                report_json: r#"{"total":3}"#.into(),
                created_at: t0(),
                submitted_at: None,
                conclusion: None,
                conclusion_by: None,
                conclusion_at: None,
                decision: None,
                decision_by: None,
                decision_at: None,
                decide_due_at: None,
                received_by: None,
                received_at: None,
                receive_due_at: None,
                delivery_attempts: 0,
                last_error: None,
                resend_requested: false,
                risks: Vec::new(),
                conclusion_pending: false,
                conclusion_sent_at: None,
                conclusion_attempts: 0,
                conclusion_error: None,
            }
        );
        // Replicas racing to create a month: exactly one does.
        let replica = fx.replica().await;
        let stores = [fx.store.clone(), replica];
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = stores[i % 2].clone();
                tokio::spawn(async move {
                    store
                        .create_report("2026-04", &format!("{{\"by\":{i}}}"), t0())
                        .await
                        .unwrap()
                })
            })
            .collect();
        let created = futures::future::join_all(tasks)
            .await
            .into_iter()
            .filter(|r| *r.as_ref().expect("task"))
            .count();
        assert_eq!(created, 1);
        assert!(s.get_report("2026-04").await.unwrap().is_some());
    }

    pub async fn report_state_machine(fx: &Fixture) {
        let s = fx.ready().await;
        let m = "2026-03";
        let at = |h: i64| t0() + Duration::hours(h);
        let get_r = |_: ()| async move { s.get_report(m).await.unwrap().expect("report") };
        let conflict = |r: Result<(), StoreError>| {
            assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
        };
        match s
            .update_report("1999-01", ReportUpdate::RequestResend)
            .await
        {
            Err(StoreError::Other(msg)) => assert!(msg.contains("1999-01"), "{msg}"),
            other => panic!("expected Other for a missing report, got {other:?}"),
        }
        s.create_report(m, "{}", at(0)).await.unwrap();
        let decision = |h: i64| ReportUpdate::Decision {
            text: "Tingkatkan loket".into(),
            by: "kadis".into(),
            at: at(h),
            receive_due_at: at(h + 48),
        };
        let receipt = |h: i64| ReportUpdate::Receipt {
            by: "kasi1".into(),
            at: at(h),
        };
        // Draft: no decision or receipt yet; a conclusion is kept (and waits to be mailed
        // after the figures).
        conflict(s.update_report(m, decision(1)).await);
        conflict(s.update_report(m, receipt(1)).await);
        s.update_report(
            m,
            ReportUpdate::Conclusion {
                text: "Antrian paling sering".into(),
                risks_json: r#"[{"risk":"Antrean KTP-el","cause":"loket kurang","frequency":5,"control":"loket tambahan","owner":"Dafduk"}]"#.into(),
                by: "kasi1".into(),
                at: at(1),
            },
        )
        .await
        .unwrap();
        let r = get_r(()).await;
        assert_eq!(r.state, ReportState::Draft);
        assert_eq!(r.conclusion.as_deref(), Some("Antrian paling sering"));
        assert_eq!(r.conclusion_by.as_deref(), Some("kasi1"));
        assert_eq!(r.conclusion_at, Some(at(1)));
        assert!(r.conclusion_pending);
        assert_eq!(r.risks.len(), 1);
        assert_eq!(r.risks[0].frequency, 5);
        assert_eq!(r.risks[0].owner, "Dafduk");
        assert!(
            !s.claim_conclusion_delivery(m, at(1), at(2)).await.unwrap(),
            "the conclusion is not mailed before the figures"
        );

        // A failed delivery, then a delivery: draft → concluded (the Kasi concluded already).
        s.update_report(
            m,
            ReportUpdate::DeliveryFailed {
                error: "smtp 451".into(),
            },
        )
        .await
        .unwrap();
        let r = get_r(()).await;
        assert_eq!((r.state, r.delivery_attempts), (ReportState::Draft, 1));
        assert_eq!(r.last_error.as_deref(), Some("smtp 451"));
        s.update_report(
            m,
            ReportUpdate::Delivered {
                at: at(2),
                decide_due_at: at(50),
            },
        )
        .await
        .unwrap();
        let r = get_r(()).await;
        assert_eq!(r.state, ReportState::Concluded);
        assert_eq!(r.submitted_at, Some(at(2)));
        assert_eq!(r.decide_due_at, Some(at(50)));
        assert_eq!((r.delivery_attempts, r.last_error), (2, None));

        // A re-send: delivered again without moving the state or its clock.
        s.update_report(m, ReportUpdate::RequestResend)
            .await
            .unwrap();
        assert!(get_r(()).await.resend_requested);
        s.update_report(
            m,
            ReportUpdate::Delivered {
                at: at(3),
                decide_due_at: at(51),
            },
        )
        .await
        .unwrap();
        let r = get_r(()).await;
        assert_eq!(r.state, ReportState::Concluded);
        assert_eq!(
            (r.submitted_at, r.decide_due_at),
            (Some(at(2)), Some(at(50)))
        );
        assert!(!r.resend_requested);
        assert_eq!(r.delivery_attempts, 3);

        // The conclusion's mail: leased once, then done for the version written at(1).
        assert!(s.claim_conclusion_delivery(m, at(3), at(4)).await.unwrap());
        assert!(!s.claim_conclusion_delivery(m, at(3), at(4)).await.unwrap());
        s.update_report(
            m,
            ReportUpdate::ConclusionDelivered {
                at: at(3),
                written_at: at(1),
            },
        )
        .await
        .unwrap();
        let r = get_r(()).await;
        assert!(!r.conclusion_pending);
        assert_eq!(
            (r.conclusion_sent_at, r.conclusion_attempts),
            (Some(at(3)), 1)
        );
        assert!(!s.claim_conclusion_delivery(m, at(9), at(10)).await.unwrap());

        // Concluded: no receipt before the decision; decided once.
        conflict(s.update_report(m, receipt(4)).await);
        s.update_report(m, decision(4)).await.unwrap();
        let r = get_r(()).await;
        assert_eq!(r.state, ReportState::Decided);
        assert_eq!(r.decision.as_deref(), Some("Tingkatkan loket"));
        assert_eq!(r.decision_by.as_deref(), Some("kadis"));
        assert_eq!(r.decision_at, Some(at(4)));
        assert_eq!(r.receive_due_at, Some(at(52)));
        conflict(s.update_report(m, decision(5)).await);
        // The decision was taken on the conclusion as it was: it can no longer change.
        conflict(
            s.update_report(
                m,
                ReportUpdate::Conclusion {
                    text: "Revisi".into(),
                    risks_json: "[]".into(),
                    by: "kasi2".into(),
                    at: at(5),
                },
            )
            .await,
        );

        // Decided → received; then only deliveries and re-send requests apply.
        s.update_report(m, receipt(6)).await.unwrap();
        let r = get_r(()).await;
        assert_eq!(r.state, ReportState::Received);
        assert_eq!(r.received_by.as_deref(), Some("kasi1"));
        assert_eq!(r.received_at, Some(at(6)));
        assert_eq!(r.conclusion.as_deref(), Some("Antrian paling sering"));
        assert_eq!(r.decision_at, Some(at(4)), "the decision is kept");
        conflict(s.update_report(m, receipt(7)).await);
        conflict(s.update_report(m, decision(7)).await);
        conflict(
            s.update_report(
                m,
                ReportUpdate::Conclusion {
                    text: "terlambat".into(),
                    risks_json: "[]".into(),
                    by: "kasi1".into(),
                    at: at(7),
                },
            )
            .await,
        );
        s.update_report(m, ReportUpdate::RequestResend)
            .await
            .unwrap();
        let r = get_r(()).await;
        assert_eq!(r.state, ReportState::Received);
        assert!(r.resend_requested);
        assert_eq!(r.conclusion.as_deref(), Some("Antrian paling sering"));

        // A month delivered before any conclusion: submitted, no decision until the Kasi
        // concludes; a conclusion rewritten while its mail was out stays pending.
        let m2 = "2026-04";
        s.create_report(m2, "{}", at(0)).await.unwrap();
        s.update_report(
            m2,
            ReportUpdate::Delivered {
                at: at(1),
                decide_due_at: at(9),
            },
        )
        .await
        .unwrap();
        assert_eq!(
            s.get_report(m2).await.unwrap().unwrap().state,
            ReportState::Submitted
        );
        conflict(s.update_report(m2, decision(2)).await);
        let conclude = |h: i64| ReportUpdate::Conclusion {
            text: format!("versi {h}"),
            risks_json: "[]".into(),
            by: "kasi1".into(),
            at: at(h),
        };
        s.update_report(m2, conclude(2)).await.unwrap();
        assert_eq!(
            s.get_report(m2).await.unwrap().unwrap().state,
            ReportState::Concluded
        );
        assert!(s.claim_conclusion_delivery(m2, at(2), at(3)).await.unwrap());
        s.update_report(m2, conclude(3)).await.unwrap();
        s.update_report(
            m2,
            ReportUpdate::ConclusionDelivered {
                at: at(3),
                written_at: at(2),
            },
        )
        .await
        .unwrap();
        let r2 = s.get_report(m2).await.unwrap().unwrap();
        assert!(r2.conclusion_pending, "version 3 is still to be mailed");
        s.update_report(
            m2,
            ReportUpdate::ConclusionDeliveryFailed {
                error: "smtp 451".into(),
            },
        )
        .await
        .unwrap();
        let r2 = s.get_report(m2).await.unwrap().unwrap();
        assert_eq!(r2.conclusion_error.as_deref(), Some("smtp 451"));
        assert!(s.claim_conclusion_delivery(m2, at(4), at(5)).await.unwrap());
        s.update_report(m2, decision(5)).await.unwrap();
    }

    pub async fn report_delivery_claims(fx: &Fixture) {
        let s = fx.ready().await;
        let replica = fx.replica().await;
        let r = replica.as_ref();
        let m = "2026-03";
        let at = |n: i64| t0() + secs(n);
        assert!(!s.claim_report_delivery(m, at(0), at(60)).await.unwrap());
        s.create_report(m, "{}", at(0)).await.unwrap();
        // A draft is due: leased to one claimer until the lease runs out.
        assert!(s.claim_report_delivery(m, at(0), at(60)).await.unwrap());
        assert!(!r.claim_report_delivery(m, at(1), at(61)).await.unwrap());
        assert!(!r.claim_report_delivery(m, at(59), at(119)).await.unwrap());
        assert!(r.claim_report_delivery(m, at(60), at(120)).await.unwrap());
        // A failed attempt ends the lease: claimable again at once.
        s.update_report(
            m,
            ReportUpdate::DeliveryFailed {
                error: "timeout".into(),
            },
        )
        .await
        .unwrap();
        assert!(s.claim_report_delivery(m, at(61), at(121)).await.unwrap());
        // Delivered: nothing more to deliver…
        s.update_report(
            m,
            ReportUpdate::Delivered {
                at: at(62),
                decide_due_at: at(9999),
            },
        )
        .await
        .unwrap();
        assert!(!s.claim_report_delivery(m, at(62), at(122)).await.unwrap());
        assert!(!s.claim_report_delivery(m, at(500), at(560)).await.unwrap());
        // …until a re-send is requested.
        s.update_report(m, ReportUpdate::RequestResend)
            .await
            .unwrap();
        assert!(r.claim_report_delivery(m, at(501), at(561)).await.unwrap());
        assert!(!s.claim_report_delivery(m, at(502), at(562)).await.unwrap());
        s.update_report(
            m,
            ReportUpdate::Delivered {
                at: at(503),
                decide_due_at: at(9999),
            },
        )
        .await
        .unwrap();
        assert!(!s.claim_report_delivery(m, at(600), at(660)).await.unwrap());

        // Racing claimers: exactly one wins.
        s.create_report("2026-04", "{}", at(0)).await.unwrap();
        let stores = [fx.store.clone(), replica.clone()];
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = stores[i % 2].clone();
                tokio::spawn(async move {
                    store
                        .claim_report_delivery("2026-04", at(0), at(60))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let won = futures::future::join_all(tasks)
            .await
            .into_iter()
            .filter(|r| *r.as_ref().expect("task"))
            .count();
        assert_eq!(won, 1);
    }

    /// An `ask` writes the pause (asked-from state, remaining seconds, the question) and the
    /// carried seconds; the answer clears the pause and keeps the carried seconds; a state
    /// change resets them.
    pub async fn questions_pause_and_resume(fx: &Fixture) {
        let s = fx.ready().await;
        let (_, ticket) = create(s, complaint(Some("q1"), t0())).await;
        let rec = get(s, &ticket).await;
        assert_eq!((rec.pause.clone(), rec.carried_seconds), (None, 0));
        let mut t = transition(
            rec.state,
            State::WaitingCitizen,
            t0() + secs(60),
            Changes {
                pause: Some(Pause {
                    asked_from: State::Triage,
                    remaining_seconds: -125,
                    question: "Nomor KK Bapak Budi?".into(),
                }),
                carried_seconds: Some(420),
                ..Changes::default()
            },
        );
        t.due_at = Some(t0() + Duration::days(14));
        s.save_transition(write(&rec, &t)).await.expect("ask");
        let rec = get(s, &ticket).await;
        assert_eq!(rec.state, State::WaitingCitizen);
        assert_eq!(rec.due_at, Some(t0() + Duration::days(14)));
        assert_eq!(
            rec.pause,
            Some(Pause {
                asked_from: State::Triage,
                remaining_seconds: -125,
                question: "Nomor KK Bapak Budi?".into(),
            })
        );
        assert_eq!(rec.carried_seconds, 420);
        // A transition that changes nothing of the pause keeps it.
        let t = transition(rec.state, rec.state, t0() + secs(70), Changes::default());
        s.save_transition(write(&rec, &t)).await.expect("no-op");
        let rec = get(s, &ticket).await;
        assert!(rec.pause.is_some());
        assert_eq!(rec.carried_seconds, 420);
        let t = transition(
            rec.state,
            State::Triage,
            t0() + secs(90),
            Changes {
                clear_pause: true,
                ..Changes::default()
            },
        );
        s.save_transition(write(&rec, &t)).await.expect("answer");
        let rec = get(s, &ticket).await;
        assert_eq!(rec.pause, None);
        assert_eq!(rec.carried_seconds, 420, "kept until the step stops");
        let t = transition(
            rec.state,
            State::InBidang,
            t0() + secs(95),
            Changes {
                carried_seconds: Some(0),
                ..Changes::default()
            },
        );
        s.save_transition(write(&rec, &t)).await.expect("assign");
        assert_eq!(get(s, &ticket).await.carried_seconds, 0);
    }

    /// A waiting complaint past its due time is no escalation, but it is what the SLA timer
    /// wakes for (`next_escalation_due`) and `due_waits` lists it once due.
    pub async fn waits_are_not_escalated_and_wake_the_timer(fx: &Fixture) {
        let s = fx.ready().await;
        let (_, waiting) = create(s, complaint(Some("w1"), t0())).await;
        let rec = get(s, &waiting).await;
        let mut t = transition(
            rec.state,
            State::WaitingCitizen,
            t0() + secs(5),
            Changes {
                pause: Some(Pause {
                    asked_from: State::Triage,
                    remaining_seconds: 60,
                    question: "?".into(),
                }),
                ..Changes::default()
            },
        );
        let wait_end = t0() + Duration::hours(3);
        t.due_at = Some(wait_end);
        s.save_transition(write(&rec, &t)).await.expect("ask");
        // Another complaint with a running step due later.
        let (_, running) = create(s, complaint(Some("w2"), t0() + Duration::hours(4))).await;
        assert_eq!(s.next_escalation_due().await.unwrap(), Some(wait_end));
        assert!(
            s.due_waits(wait_end - secs(1), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.due_waits(wait_end, 10).await.unwrap(),
            vec![waiting.clone()]
        );
        let later = t0() + Duration::days(3);
        let esc: Vec<TicketNumber> = s
            .due_escalations(later, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.ticket)
            .collect();
        assert_eq!(esc, vec![running.clone()], "a wait is no running step");
        // Closed, it leaves both lists.
        let rec = get(s, &waiting).await;
        let t = transition(
            rec.state,
            State::Closed,
            wait_end,
            Changes {
                clear_pause: true,
                status: Some(Resolution::Tidak),
                ..Changes::default()
            },
        );
        s.save_transition(write(&rec, &t)).await.expect("close");
        assert!(s.due_waits(later, 10).await.unwrap().is_empty());
        assert_eq!(
            s.next_escalation_due().await.unwrap(),
            get(s, &running).await.due_at
        );
    }

    /// The answer sets `answered_at`; the rating is stored once with its comment; a chat
    /// sender's rateable complaint is their newest closed, answered (since the window),
    /// unrated one.
    pub async fn ratings_and_the_rateable_complaint_of_a_handle(fx: &Fixture) {
        let s = fx.ready().await;
        let mut c = complaint(Some("77:1"), t0());
        c.channel = Channel::Telegram;
        c.identity.handle = Some("77".into());
        let (_, ticket) = create(s, c).await;
        let none = |since| async move {
            s.rateable_ticket_for_handle(Channel::Telegram, "77", since)
                .await
                .unwrap()
        };
        assert_eq!(none(t0()).await, None, "not answered yet");
        let rec = get(s, &ticket).await;
        let answered = t0() + Duration::hours(1);
        let t = transition(
            rec.state,
            State::Closed,
            answered,
            Changes {
                answer: Some("KTP siap".into()),
                status: Some(Resolution::Selesai),
                ..Changes::default()
            },
        );
        s.save_transition(write(&rec, &t)).await.expect("follow-up");
        let rec = get(s, &ticket).await;
        assert_eq!(rec.answered_at, Some(answered));
        assert_eq!(rec.rating, None);
        assert_eq!(none(answered).await, Some(ticket.clone()));
        assert_eq!(
            none(answered + secs(1)).await,
            None,
            "answered before the window"
        );
        assert_eq!(
            s.rateable_ticket_for_handle(Channel::Telegram, "78", t0())
                .await
                .unwrap(),
            None,
            "another sender"
        );
        assert_eq!(
            s.rateable_ticket_for_handle(Channel::Whatsapp, "77", t0())
                .await
                .unwrap(),
            None,
            "another channel"
        );
        let rating = Rating {
            score: 4,
            comment: Some("Cepat, terima kasih".into()),
            at: answered + Duration::days(2),
        };
        let t = transition(
            rec.state,
            rec.state,
            rating.at,
            Changes {
                rating: Some(rating.clone()),
                ..Changes::default()
            },
        );
        s.save_transition(write(&rec, &t)).await.expect("rate");
        let rec = get(s, &ticket).await;
        assert_eq!(rec.rating, Some(rating));
        assert_eq!(rec.answered_at, Some(answered), "a rating is no answer");
        assert_eq!(none(t0()).await, None, "rated");
    }

    /// The thread of the first message and of a later one read back as written.
    pub async fn reply_threads_round_trip(fx: &Fixture) {
        let s = fx.ready().await;
        let first = ReplyThread {
            subject: Some("KTP belum jadi".into()),
            in_reply_to: Some("a1@mail.example".into()),
            references: vec!["a1@mail.example".into()],
            reply_to_message_id: None,
        };
        let mut c = complaint(Some("t1"), t0());
        c.reply_thread = Some(first.clone());
        let (_, ticket) = create(s, c).await;
        let rec = get(s, &ticket).await;
        assert_eq!(rec.reply_thread, first);
        let (_, bare_ticket) = create(s, bare(Some("t2"), t0())).await;
        assert_eq!(
            get(s, &bare_ticket).await.reply_thread,
            ReplyThread::default()
        );
        let later = ReplyThread {
            subject: Some("Re: [X] KTP belum jadi".into()),
            in_reply_to: Some("a2@mail.example".into()),
            references: vec!["a1@mail.example".into(), "a2@mail.example".into()],
            reply_to_message_id: Some(42),
        };
        let t = transition(
            rec.state,
            rec.state,
            t0() + secs(5),
            Changes {
                reply_thread: Some(later.clone()),
                ..Changes::default()
            },
        );
        s.save_transition(write(&rec, &t)).await.expect("thread");
        assert_eq!(get(s, &ticket).await.reply_thread, later);
    }

    pub async fn count_received_between_is_half_open(fx: &Fixture) {
        let s = fx.ready().await;
        let from = t0();
        let to = t0() + Duration::days(1);
        let ms = Duration::milliseconds(1);
        assert_eq!(s.count_received_between(from, to).await.unwrap(), 0);
        for (i, at) in [from - ms, from, from + secs(5), to - ms, to]
            .into_iter()
            .enumerate()
        {
            create(s, bare(Some(&format!("r{i}")), at)).await;
        }
        assert_eq!(s.count_received_between(from, to).await.unwrap(), 3);
        assert_eq!(s.count_received_between(to, to + ms).await.unwrap(), 1);
        assert_eq!(
            s.count_received_between(to + ms, to + to.signed_duration_since(from))
                .await
                .unwrap(),
            0
        );
    }

    pub async fn analyses_page_reads_the_sealed_analysis_in_receipt_order(fx: &Fixture) {
        let s = fx.ready().await;
        let from = t0();
        let to = t0() + Duration::days(1);
        let ms = Duration::milliseconds(1);
        // Before the range, a bare one (no analysis), two at one instant, one at the end.
        create(s, complaint(Some("before"), from - ms)).await;
        let (_, bare_t) = create(s, bare(Some("bare"), from)).await;
        let mut second = complaint(Some("b"), from + secs(5));
        second.analysis = Some(analysis_of("Blangko KTP-el habis lagi"));
        let (_, b) = create(s, second).await;
        let (_, a) = create(s, complaint(Some("a"), from + secs(5))).await;
        create(s, complaint(Some("end"), to)).await;
        assign(s, &a, "dafduk", from + secs(60)).await;

        let mut rows = Vec::new();
        let mut after = None;
        loop {
            let page = s.analyses_page(from, to, after, 1).await.unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().map(|r| r.key);
            rows.extend(page);
        }
        // Receipt order, ties by id (`b` was stored before `a`).
        let tickets: Vec<&TicketNumber> = rows.iter().map(|r| &r.ticket).collect();
        assert_eq!(tickets, [&bare_t, &b, &a]);
        assert_eq!(rows[0].analysis, None);
        assert_eq!((rows[0].category, rows[0].bidang.clone()), (None, None));
        assert_eq!(
            rows[1].analysis.as_deref(),
            Some(analysis_of("Blangko KTP-el habis lagi").as_str())
        );
        assert_eq!(rows[1].bidang, None);
        assert_eq!(
            rows[2].analysis.as_deref(),
            Some(analysis_of("Antrian di loket 3 terlalu lama.").as_str())
        );
        assert_eq!(rows[2].category, Some(Category::Pelayanan));
        assert_eq!(rows[2].bidang, Some(bidang("dafduk")));
        let whole = s.analyses_page(from, to, None, 100).await.unwrap();
        assert_eq!(whole.len(), 3);
        assert!(rows.iter().zip(&whole).all(|(x, y)| x.key == y.key));
    }

    pub async fn breaches_are_listed_up_to_the_limit_and_all_counted(fx: &Fixture) {
        let s = fx.ready().await;
        let listed = aduan_core::report::BREACHES_LISTED;
        let from = t0() - Duration::days(9);
        let to = from + Duration::days(31);
        // Each in triage, due a day after receipt: overdue at the month's end.
        let mut tickets = Vec::new();
        for i in 0..listed + 3 {
            let at = t0() + secs(i as i64);
            tickets.push(create(s, bare(Some(&format!("late{i}")), at)).await.1);
        }
        let agg = s.month_aggregates(from, to).await.unwrap();
        assert_eq!(agg.breaches_total, listed + 3);
        assert_eq!(agg.breaches.len(), listed);
        let got: Vec<&str> = agg.breaches.iter().map(|b| b.ticket.as_str()).collect();
        let first: Vec<&str> = tickets[..listed].iter().map(|t| t.as_str()).collect();
        assert_eq!(got, first, "the first in receipt order");
    }
}
