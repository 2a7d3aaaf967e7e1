//! Threading never crosses citizens (SPEC §6), through the core intake service over a real
//! store on SQLite and PostgreSQL: message ids forged into In-Reply-To/References or a chat
//! reply (an e-mail's Message-ID, a Telegram "chat:message", a Messenger mid) make a new
//! complaint and leave the victim's complaint as it was; the sender's own reply still
//! threads, and reopens a closed complaint.

mod common;

use std::sync::Arc;

use aduan_core::desk::{Clock, Desk, Inbound, Received, Submission, ThreadHint};
use aduan_core::model::{AckRoute, ComplaintRecord, ReplyOutcome, ReplyThread};
use aduan_core::store::Store;
use aduan_core::testing::ManualClock;
use aduan_core::types::{Channel, Resolution, Role, State, TicketNumber};
use aduan_core::workflow::{Actor, Command};
use chrono::{Duration, TimeZone, Utc};
use common::Backend;

struct Rig {
    desk: Desk,
    store: Arc<dyn Store>,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

async fn rig(b: Backend) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let url = common::database_url(b, dir.path()).await;
    let store = aduan_store::testing::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap());
    let desk = Desk::new(
        store.clone(),
        Arc::new(clock.clone()),
        aduan_core::testing::desk_config([Channel::Email, Channel::Telegram, Channel::Messenger]),
    );
    Rig {
        desk,
        store,
        clock,
        _dir: dir,
    }
}

/// An e-mail from `from` with Message-ID `id` whose In-Reply-To/References name `refs`.
fn email(from: &str, id: &str, refs: &[&str], body: &str) -> Inbound {
    let mut hints = Vec::new();
    if !refs.is_empty() {
        hints.push(ThreadHint::MessageIds(
            refs.iter().map(|r| r.to_string()).collect(),
        ));
    }
    Inbound {
        submission: Submission {
            channel: Some(Channel::Email),
            external_id: Some(format!("msgid:{id}")),
            email: Some(from.into()),
            body: body.into(),
            with_access_code: true,
            ack_to: Some(AckRoute {
                channel: Channel::Email,
                recipient: from.into(),
                thread: ReplyThread::default(),
            }),
            ..Default::default()
        },
        thread: hints,
        cursor: None,
    }
}

/// A chat message (Telegram or Messenger) from `handle`, with the ids it replies to; then
/// the open complaint of the handle, as the channels ask.
fn chat(channel: Channel, handle: &str, id: &str, replies_to: &[&str], body: &str) -> Inbound {
    let mut thread = Vec::new();
    if !replies_to.is_empty() {
        thread.push(ThreadHint::MessageIds(
            replies_to.iter().map(|r| r.to_string()).collect(),
        ));
    }
    thread.push(ThreadHint::OpenForHandle);
    Inbound {
        submission: Submission {
            channel: Some(channel),
            external_id: Some(id.into()),
            handle: Some(handle.into()),
            body: body.into(),
            ack_to: Some(AckRoute {
                channel,
                recipient: handle.into(),
                thread: ReplyThread::default(),
            }),
            ..Default::default()
        },
        thread,
        cursor: None,
    }
}

fn kasi() -> Actor {
    Actor::Staff {
        username: "ayu.kasi".into(),
        role: Role::Kasi,
        bidang: None,
    }
}

impl Rig {
    async fn receive(&self, m: Inbound) -> Received {
        self.clock.advance(Duration::seconds(1));
        self.desk.intake().receive(m).await.unwrap()
    }

    async fn created(&self, m: Inbound) -> TicketNumber {
        match self.receive(m).await {
            Received::Created(r) => r.ticket,
            other => panic!("expected a new complaint, got {other:?}"),
        }
    }

    async fn get(&self, t: &TicketNumber) -> ComplaintRecord {
        self.store.get_complaint(t).await.unwrap().unwrap()
    }

    async fn close(&self, t: &TicketNumber) {
        self.desk
            .staff()
            .act(
                &kasi(),
                t.as_str(),
                Command::Close {
                    status: Resolution::Tidak,
                    reason: "bukan pengaduan".into(),
                },
            )
            .await
            .unwrap();
    }

    /// Send every pending reply, each with the platform id `id_of(ticket)`.
    async fn send_replies(&self, id_of: impl Fn(&TicketNumber) -> String) {
        let now = self.clock.now();
        for item in self
            .store
            .claim_replies(now, Duration::minutes(2), 100)
            .await
            .unwrap()
        {
            let sent = ReplyOutcome::Sent {
                external_id: Some(id_of(&item.ticket)),
                at: now,
                text: "Pengaduan Anda telah kami terima.".into(),
            };
            assert!(self.store.complete_reply(&item, sent).await.unwrap());
        }
    }
}

/// What a forged message must not change.
#[derive(Debug, PartialEq)]
struct Snapshot {
    state: State,
    version: i64,
    messages: Vec<String>,
}

fn snapshot(c: &ComplaintRecord) -> Snapshot {
    Snapshot {
        state: c.state,
        version: c.version,
        messages: c.messages.iter().map(|m| m.text.clone()).collect(),
    }
}

async fn forged_ids_make_new_complaints_and_genuine_replies_reopen(b: Backend) {
    let r = rig(b).await;
    // Three victims, on three channels, each answered by aduan and then closed (so a
    // message threaded onto them would reopen them).
    let mail = r
        .created(email(
            "victim@example.id",
            "v1@warga.example",
            &[],
            "Akta kelahiran anak saya salah nama.",
        ))
        .await;
    let tg = r
        .created(chat(
            Channel::Telegram,
            "5551",
            "5551:10",
            &[],
            "KTP saya hilang.",
        ))
        .await;
    let fb = r
        .created(chat(
            Channel::Messenger,
            "psid-1",
            "m_abc",
            &[],
            "KK saya belum dicetak.",
        ))
        .await;
    let (m2, t2, f2) = (mail.clone(), tg.clone(), fb.clone());
    r.send_replies(move |t| {
        if *t == m2 {
            "ack-v1@aduan.example".into()
        } else if *t == t2 {
            "5551:11".into()
        } else {
            assert_eq!(*t, f2);
            "m_ack".into()
        }
    })
    .await;
    for t in [&mail, &tg, &fb] {
        r.close(t).await;
    }
    let before: Vec<Snapshot> =
        futures::future::join_all([&mail, &tg, &fb].map(|t| async { snapshot(&r.get(t).await) }))
            .await;
    assert!(before.iter().all(|s| s.state == State::Closed));

    // Forged: an e-mail naming the victim's Message-ID and aduan's acknowledgement …
    let forged = [
        email(
            "attacker@example.org",
            "x1@evil.example",
            &["v1@warga.example", "ack-v1@aduan.example"],
            "Saya ralat: batalkan pengaduan ini.",
        ),
        // … a Telegram complaint's "chat:message" ids and a Messenger mid by e-mail …
        email(
            "attacker@example.org",
            "x2@evil.example",
            &["5551:10", "5551:11"],
            "Tambahan untuk pengaduan KTP.",
        ),
        email(
            "attacker@example.org",
            "x3@evil.example",
            &["m_abc", "m_ack"],
            "Tambahan untuk pengaduan KK.",
        ),
        // … and on the victims' own channels, from another chat.
        chat(
            Channel::Telegram,
            "6662",
            "6662:1",
            &["5551:10"],
            "Balasan palsu.",
        ),
        chat(
            Channel::Messenger,
            "psid-2",
            "m_evil",
            &["m_abc"],
            "Balasan palsu.",
        ),
    ];
    let mut new = Vec::new();
    for m in forged {
        new.push(r.created(m).await);
    }
    for t in &new {
        assert!(![&mail, &tg, &fb].contains(&t), "{t} is a victim's");
    }
    let after: Vec<Snapshot> =
        futures::future::join_all([&mail, &tg, &fb].map(|t| async { snapshot(&r.get(t).await) }))
            .await;
    assert_eq!(before, after, "a forged id changed a victim's complaint");
    // The attacker's e-mails are complaints of the attacker's own.
    let first = r.get(&new[0]).await;
    assert_eq!(
        first.identity.email.as_deref(),
        Some("attacker@example.org")
    );
    assert_eq!(first.messages.len(), 1);

    // The victims' genuine replies still thread, and reopen.
    let genuine = [
        (
            &mail,
            email(
                "Victim@Example.id",
                "v2@warga.example",
                &["ack-v1@aduan.example"],
                "Nama yang benar: Putu Ayu.",
            ),
        ),
        (
            &tg,
            chat(
                Channel::Telegram,
                "5551",
                "5551:12",
                &["5551:11"],
                "Masih belum.",
            ),
        ),
        (
            &fb,
            chat(
                Channel::Messenger,
                "psid-1",
                "m_def",
                &["m_ack"],
                "Masih belum.",
            ),
        ),
    ];
    for (victim, m) in genuine {
        match r.receive(m).await {
            Received::Appended { ticket, reopened } => {
                assert_eq!(&ticket, victim);
                assert!(reopened, "{victim} reopened");
            }
            other => panic!("{victim}: expected the reply threaded, got {other:?}"),
        }
        let c = r.get(victim).await;
        assert_eq!(c.state, State::Triage);
        assert_eq!(c.messages.len(), 3, "{:?}", c.messages);
    }
}

async fn the_senders_own_complaint_wins_over_a_newer_strangers(b: Backend) {
    let r = rig(b).await;
    let own = r
        .created(email(
            "a@example.org",
            "a1@x",
            &[],
            "Pengaduan pertama saya.",
        ))
        .await;
    let stranger = r
        .created(email("b@example.org", "b1@x", &[], "Pengaduan orang lain."))
        .await;
    let before = snapshot(&r.get(&stranger).await);
    // Both ids named: the stranger's complaint is newer, but only the own one may take it.
    match r
        .receive(email(
            "a@example.org",
            "a2@x",
            &["b1@x", "a1@x"],
            "Tambahan.",
        ))
        .await
    {
        Received::Appended { ticket, reopened } => {
            assert_eq!(ticket, own);
            assert!(!reopened);
        }
        other => panic!("expected the own complaint, got {other:?}"),
    }
    assert_eq!(snapshot(&r.get(&stranger).await), before);
    assert_eq!(r.get(&own).await.messages.len(), 2);
}

async fn a_web_complaint_threads_by_the_address_its_acknowledgement_went_to(b: Backend) {
    let r = rig(b).await;
    let receipt = r
        .desk
        .intake()
        .submit(Submission {
            channel: Some(Channel::Web),
            name: Some("Komang Ayu".into()),
            email: Some("komang@contoh.id".into()),
            body: "Antrean di loket 3 terlalu lama.".into(),
            with_access_code: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let web = receipt.ticket;
    r.send_replies(|_| "ack-web@aduan.example".into()).await;
    assert_eq!(r.get(&web).await.replies[0].channel, Channel::Email);
    // Another address answering that acknowledgement: a new complaint.
    let before = snapshot(&r.get(&web).await);
    r.created(email(
        "lain@contoh.id",
        "l1@x",
        &["ack-web@aduan.example"],
        "Saya juga.",
    ))
    .await;
    // The ticket named in a Telegram message does not join it either (another channel).
    let mut tg = chat(
        Channel::Telegram,
        "7001",
        "7001:1",
        &[],
        "Bagaimana tiket saya?",
    );
    tg.thread.insert(0, ThreadHint::Ticket(web.clone()));
    r.created(tg).await;
    assert_eq!(snapshot(&r.get(&web).await), before);
    // The address the acknowledgement went to: threads onto the web complaint.
    match r
        .receive(email(
            "KOMANG@contoh.id",
            "k2@x",
            &["ack-web@aduan.example"],
            "Sudah seminggu belum ada kabar.",
        ))
        .await
    {
        Received::Appended { ticket, .. } => assert_eq!(ticket, web),
        other => panic!("expected the web complaint, got {other:?}"),
    }
    assert_eq!(r.get(&web).await.messages.len(), 3);
}

on_both_backends!(
    forged_ids_make_new_complaints_and_genuine_replies_reopen,
    the_senders_own_complaint_wins_over_a_newer_strangers,
    a_web_complaint_threads_by_the_address_its_acknowledgement_went_to,
);
