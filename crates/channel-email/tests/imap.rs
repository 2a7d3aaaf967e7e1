//! IMAP intake against a real, private Dovecot (scripts/dovecot-test) and a real SQLite
//! store (PostgreSQL too for threading across citizens): every kind of message, threading,
//! RFC 3834, bounces, redelivery, UIDVALIDITY changes, a reader killed mid-batch, connection
//! drops and the mailbox lease.
//!
//! Dovecot is required: when it cannot be installed or started the tests fail with the
//! script's message (they never skip).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aduan_channel_email::imap::{EmailContext, intake_key, run_intake};
use aduan_channel_email::testing::dovecot::{Dovecot, TestSession, USER};
use aduan_channel_email::testing::{ReceivedMail, SmtpSink};
use aduan_channel_email::{EmailConfig, Security, SmtpSender};
use aduan_core::calendar::WorkCalendar;
use aduan_core::desk::{Desk, DeskConfig, SystemClock};
use aduan_core::model::{ComplaintRecord, Direction, ReplyKind, ReplyStatus};
use aduan_core::outbox::{Outbox, ReplySender};
use aduan_core::sla::{SlaDurations, SlaPolicy};
use aduan_core::store::Store;
use aduan_core::templates::Templates;
use aduan_core::types::{Channel, TicketNumber, TicketPrefix};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const OFFICE: &str = "pengaduan@bulelengkab.example";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture")
}

/// A plain text mail with a fresh Message-ID (returned without `<>`).
fn mail(from: &str, subject: &str, body: &str, extra_headers: &str) -> (Vec<u8>, String) {
    let id = format!("{}@warga.example", uuid::Uuid::new_v4().simple());
    let raw = format!(
        "Return-Path: <{addr}>\r\nMessage-ID: <{id}>\r\nDate: Mon, 5 Jan 2026 09:00:00 +0800\r\n\
         From: {from}\r\nTo: {OFFICE}\r\nSubject: {subject}\r\n{extra_headers}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        addr = from
            .rsplit_once('<')
            .map_or(from, |(_, a)| a.trim_end_matches('>')),
    );
    (raw.into_bytes(), id)
}

/// The whole test rig: Dovecot, a SQLite desk, the intake configuration and a record of
/// health reports.
struct Env {
    dovecot: Dovecot,
    _db: tempfile::TempDir,
    store: Arc<dyn Store>,
    desk: Desk,
    cfg: EmailConfig,
    health: Arc<Mutex<Vec<Option<String>>>>,
}

/// A running intake task; cancelled and aborted on drop.
struct Intake {
    token: CancellationToken,
    handle: Option<JoinHandle<()>>,
}

impl Intake {
    /// Kill it like SIGKILL would: no graceful step runs.
    fn kill(mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }

    /// Cancel and wait for a clean stop (lease released).
    async fn stop(mut self) {
        self.token.cancel();
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(15), h)
                .await
                .expect("intake did not stop within 15 s")
                .expect("intake task panicked");
        }
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        self.token.cancel();
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}

impl Env {
    async fn new() -> Env {
        Env::on(false).await
    }

    /// The rig over a fresh PostgreSQL database (`true`) or SQLite.
    async fn on(postgres: bool) -> Env {
        // RUST_LOG=aduan_channel_email=debug shows the reader's log.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dovecot = Dovecot::start().expect("Dovecot");
        let db = tempfile::tempdir().expect("tempdir");
        let url = if postgres {
            aduan_store::testing::fresh_postgres_url().await
        } else {
            aduan_store::testing::fresh_sqlite_url(db.path())
        };
        let store = aduan_store::testing::connect(&url).await.expect("store");
        store.migrate().await.expect("migrate");
        let desk = Desk::new(
            store.clone(),
            Arc::new(SystemClock),
            DeskConfig {
                office_name: "Disdukcapil Kabupaten Buleleng".into(),
                ticket_prefix: TicketPrefix::parse("ADU").expect("prefix"),
                policy: SlaPolicy::new(
                    WorkCalendar::always_open(chrono_tz::Asia::Makassar),
                    SlaDurations::default(),
                ),
                bidang: vec![],
                reply_channels: HashSet::from([Channel::Email]),
                public_base_url: "https://aduan.bulelengkab.example".into(),
            },
        );
        let mut cfg = dovecot.email_config(USER);
        cfg.from = format!("Pengaduan Disdukcapil <{OFFICE}>");
        Env {
            dovecot,
            _db: db,
            store,
            desk,
            cfg,
            health: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn ctx(&self, holder: &str) -> EmailContext {
        let health = self.health.clone();
        EmailContext {
            desk: self.desk.clone(),
            own_addresses: self.cfg.own_addresses(),
            limits: Default::default(),
            ack_daily_cap: 5,
            holder: holder.into(),
            health: Arc::new(move |h| health.lock().expect("health").push(h)),
        }
    }

    fn spawn_with(&self, cfg: EmailConfig, ctx: EmailContext) -> Intake {
        let token = CancellationToken::new();
        let handle = tokio::spawn(run_intake(cfg, ctx, token.clone()));
        Intake {
            token,
            handle: Some(handle),
        }
    }

    fn spawn(&self) -> Intake {
        self.spawn_with(self.cfg.clone(), self.ctx("replica-1"))
    }

    async fn session(&self) -> TestSession {
        self.dovecot.login(USER).await.expect("test IMAP login")
    }

    /// APPEND messages to the configured mailbox.
    async fn append(&self, messages: &[&[u8]]) {
        let mut s = self.session().await;
        for m in messages {
            s.append(&self.cfg.mailbox, None, None, m)
                .await
                .expect("APPEND");
        }
        let _ = s.logout().await;
    }

    /// Messages in a mailbox (0 when it does not exist).
    async fn count(&self, mailbox: &str) -> u32 {
        self.dovecot.count(USER, mailbox).await.expect("STATUS")
    }

    /// Every complaint, whole (messages, replies, attachments).
    async fn complaints(&self) -> Vec<ComplaintRecord> {
        let from = chrono::Utc::now() - chrono::Duration::days(1);
        let to = chrono::Utc::now() + chrono::Duration::days(1);
        let list = self
            .store
            .complaints_received_between(from, to)
            .await
            .expect("complaints");
        let mut out = Vec::new();
        for c in list {
            out.push(
                self.store
                    .get_complaint(&c.ticket)
                    .await
                    .expect("get")
                    .expect("exists"),
            );
        }
        out
    }

    async fn count_complaints(&self) -> usize {
        let from = chrono::Utc::now() - chrono::Duration::days(1);
        let to = chrono::Utc::now() + chrono::Duration::days(1);
        self.store
            .complaints_received_between(from, to)
            .await
            .expect("complaints")
            .len()
    }

    /// Wait until the inbox is empty and `n` complaints exist.
    async fn settle(&self, n: usize, within: Duration) -> Vec<ComplaintRecord> {
        let deadline = Instant::now() + within;
        loop {
            let have = self.count_complaints().await;
            let inbox = self.count(&self.cfg.mailbox).await;
            if have >= n && inbox == 0 {
                // A little longer, to catch anything extra.
                tokio::time::sleep(Duration::from_millis(300)).await;
                return self.complaints().await;
            }
            assert!(
                Instant::now() < deadline,
                "timed out: {have} complaints (want {n}), {inbox} messages still in {}; health: {:?}; log: {}",
                self.cfg.mailbox,
                self.health.lock().expect("health"),
                self.dovecot.dir().join("dovecot.log").display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An outbox sending e-mail to a fresh SMTP sink.
    async fn outbox(&self) -> (Outbox, SmtpSink, UnboundedReceiver<ReceivedMail>) {
        let (sink, rx) = SmtpSink::start().await.expect("sink");
        let mut cfg = self.cfg.clone();
        cfg.smtp_port = sink.port();
        let mut settings = cfg.smtp_settings().expect("smtp settings");
        settings.security = Security::None;
        settings.timeout = Duration::from_secs(5);
        let sender = SmtpSender::new(settings).expect("sender");
        let outbox = Outbox::new(
            self.store.clone(),
            Arc::new(SystemClock),
            Arc::new(Templates::new(vec![]).expect("templates")),
            HashMap::from([(Channel::Email, Arc::new(sender) as Arc<dyn ReplySender>)]),
        );
        (outbox, sink, rx)
    }
}

fn acks(c: &ComplaintRecord) -> Vec<&aduan_core::model::ReplyView> {
    c.replies
        .iter()
        .filter(|r| r.kind == ReplyKind::Ack)
        .collect()
}

fn by_email<'a>(cs: &'a [ComplaintRecord], email: &str) -> Vec<&'a ComplaintRecord> {
    cs.iter()
        .filter(|c| c.identity.email.as_deref() == Some(email))
        .collect()
}

fn header(data: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_string();
    head.split("\r\n")
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l.as_bytes()[name.len()] == b':'
        })
        .map(|l| l[name.len() + 1..].trim().to_string())
}

async fn next_mail(rx: &mut UnboundedReceiver<ReceivedMail>) -> ReceivedMail {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the sink received nothing in time")
        .expect("sink closed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_of_every_kind_of_message() {
    let env = Env::new().await;
    let (plain, _) = mail(
        "Ni Luh Putu <warga@example.net>",
        "KTP belum jadi",
        "Sudah tiga bulan KTP saya belum jadi.",
        "",
    );
    let messages: Vec<Vec<u8>> = vec![
        plain,
        fixture("attachments.eml"),
        fixture("html_only.eml"),
        fixture("iso_8859_1.eml"),
        fixture("windows_1252.eml"),
        fixture("truncated_mime.eml"),
        fixture("encoded_subject.eml"),
        fixture("garbage.bin"),
    ];
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    env.append(&refs).await;
    // Attachments above 5000 bytes are left out (and named in the text).
    let mut ctx = env.ctx("replica-1");
    ctx.limits.max_attachment_bytes = 5000;
    let intake = env.spawn_with(env.cfg.clone(), ctx);
    let cs = env.settle(7, Duration::from_secs(30)).await;
    assert_eq!(cs.len(), 7, "garbage makes no complaint");
    assert_eq!(env.count("Aduan/Diproses").await, 8, "everything archived");
    for c in &cs {
        assert_eq!(c.channel, Channel::Email);
        assert!(c.access_code_hash.is_some(), "{}: access code", c.ticket);
        assert_eq!(acks(c).len(), 1, "{}: one acknowledgement", c.ticket);
        assert!(
            c.external_id
                .as_deref()
                .is_some_and(|e| e.starts_with("msgid:"))
        );
    }

    let plain = by_email(&cs, "warga@example.net");
    assert_eq!(plain.len(), 1);
    assert_eq!(
        plain[0].body,
        "KTP belum jadi\n\nSudah tiga bulan KTP saya belum jadi."
    );
    assert_eq!(plain[0].identity.name.as_deref(), Some("Ni Luh Putu"));

    let multi = by_email(&cs, "wayan@example.com");
    assert_eq!(multi.len(), 1);
    assert!(
        multi[0].body.contains("Terlampir surat dan foto."),
        "{}",
        multi[0].body
    );
    let names: Vec<&str> = multi[0]
        .attachments
        .iter()
        .map(|a| a.filename.as_str())
        .collect();
    assert_eq!(names, vec!["surat.pdf", "lampiran-3.bin"]);
    assert_eq!(multi[0].attachments[0].content_type, "application/pdf");
    assert!(
        multi[0].body.ends_with(
            "[lampiran tidak disimpan (terlalu besar atau terlalu banyak): foto besar.jpg]"
        ),
        "{}",
        multi[0].body
    );

    let html = by_email(&cs, "budi@example.com");
    assert_eq!(html.len(), 1);
    assert!(
        html[0]
            .body
            .contains("Ada lubang besar di Jl. Ahmad Yani & Jl. Gajah Mada."),
        "{}",
        html[0].body
    );
    assert!(!html[0].body.contains("tracking"), "{}", html[0].body);
    assert!(!html[0].body.contains('<'), "{}", html[0].body);

    let latin1 = by_email(&cs, "jose@example.pt");
    assert_eq!(latin1.len(), 1);
    assert!(
        latin1[0]
            .body
            .starts_with("Semáforo avariado\n\nOlá, o semáforo está avariado. Café"),
        "{}",
        latin1[0].body
    );
    assert_eq!(latin1[0].identity.name.as_deref(), Some("José Araújo"));

    let cp1252 = by_email(&cs, "ketut@example.net");
    assert_eq!(cp1252.len(), 1);
    assert!(
        cp1252[0].body.contains("“lampu mati”"),
        "{}",
        cp1252[0].body
    );

    let truncated = by_email(&cs, "komang@example.com");
    assert_eq!(truncated.len(), 1);
    assert!(
        truncated[0].body.contains("Pesan ini terpotong"),
        "{}",
        truncated[0].body
    );

    let encoded = by_email(&cs, "made@example.id");
    assert_eq!(encoded.len(), 1);
    assert!(
        encoded[0]
            .body
            .starts_with("Pengaduan: jalan rusak — Desa Pémuteran ✓"),
        "{}",
        encoded[0].body
    );

    // The cursor names the mailbox and covers the last UID.
    let cursor = env
        .desk
        .intake()
        .cursor(&intake_key(&env.cfg))
        .await
        .expect("cursor")
        .expect("set");
    assert!(cursor.ends_with(":8"), "{cursor}");
    assert!(
        env.health
            .lock()
            .expect("health")
            .last()
            .is_some_and(Option::is_none),
        "healthy"
    );
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_the_acknowledgement_threads_onto_the_complaint() {
    let env = Env::new().await;
    let (outbox, _sink, mut sent) = env.outbox().await;
    let intake = env.spawn();
    let (first, first_id) = mail(
        "Made Wira <made@example.id>",
        "Akta kelahiran salah nama",
        "Nama anak saya salah ketik di akta.",
        "",
    );
    env.append(&[&first]).await;
    let cs = env.settle(1, Duration::from_secs(20)).await;
    let ticket = cs[0].ticket.clone();

    // The acknowledgement goes out with its own Message-ID, threaded on the citizen's mail.
    let run = outbox.run_once().await.expect("outbox");
    assert_eq!(run.sent, 1, "{run:?}");
    let ack = next_mail(&mut sent).await;
    assert_eq!(ack.rcpt_to, vec!["made@example.id"]);
    assert_eq!(
        header(&ack.data, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        header(&ack.data, "In-Reply-To"),
        Some(format!("<{first_id}>"))
    );
    let ack_id = header(&ack.data, "Message-ID").expect("ack Message-ID");

    // The citizen answers the acknowledgement (a subject without the tag).
    let (reply, _) = mail(
        "Made Wira <made@example.id>",
        "Re: data tambahan",
        "Berikut nama yang benar: Putu Ayu.",
        &format!("In-Reply-To: {ack_id}\r\nReferences: <{first_id}> {ack_id}\r\n"),
    );
    // A reply that only carries the ticket tag in its subject, from the same address.
    let (tagged, _) = mail(
        "Made Wira <made@example.id>",
        &format!("[{ticket}] satu lagi"),
        "Mohon dipercepat.",
        "",
    );
    // The tag from somebody else does not reach the complaint.
    let (stranger, _) = mail(
        "Orang Lain <lain@example.org>",
        &format!("Re: [{ticket}] numpang"),
        "Saya juga punya masalah akta.",
        "",
    );
    env.append(&[&reply, &tagged, &stranger]).await;
    let cs = env.settle(2, Duration::from_secs(20)).await;
    assert_eq!(cs.len(), 2, "only the stranger's mail is a new complaint");
    let c = cs
        .iter()
        .find(|c| c.ticket == ticket)
        .expect("first complaint");
    let inbound: Vec<&str> = c
        .messages
        .iter()
        .filter(|m| m.direction == Direction::In)
        .map(|m| m.text.as_str())
        .collect();
    assert!(
        inbound
            .iter()
            .any(|t| t.contains("Berikut nama yang benar: Putu Ayu.")),
        "{inbound:?}"
    );
    assert!(
        inbound.iter().any(|t| t.contains("Mohon dipercepat.")),
        "{inbound:?}"
    );
    assert_eq!(acks(c).len(), 1, "no acknowledgement for replies");
    let other = by_email(&cs, "lain@example.org");
    assert_eq!(other.len(), 1);
    assert_ne!(other[0].ticket, ticket);
    intake.stop().await;
}

/// References naming somebody else's complaint — its Message-ID and aduan's
/// acknowledgement, a Telegram complaint's "chat:message", a Messenger mid — make a new
/// complaint and leave that complaint as it was (closed, same conversation); the
/// complainant's own reply still threads and reopens it.
async fn forged_references_never_join_another_citizens_complaint(postgres: bool) {
    use aduan_core::desk::{Inbound, Received, Submission};
    use aduan_core::types::{Resolution, Role, State};
    use aduan_core::workflow::{Actor, Command};

    let env = Env::on(postgres).await;
    let (outbox, _sink, mut sent) = env.outbox().await;
    let intake = env.spawn();
    let (first, first_id) = mail(
        "Made Wira <made@example.id>",
        "Akta kelahiran salah nama",
        "Nama anak saya salah ketik di akta.",
        "",
    );
    env.append(&[&first]).await;
    let cs = env.settle(1, Duration::from_secs(20)).await;
    let victim = cs[0].ticket.clone();
    assert_eq!(outbox.run_once().await.expect("outbox").sent, 1);
    let ack_id = header(&next_mail(&mut sent).await.data, "Message-ID").expect("ack id");
    // Complaints of other citizens on the chat channels.
    let mut chats = Vec::new();
    for (channel, handle, id) in [
        (Channel::Telegram, "5551", "5551:10"),
        (Channel::Messenger, "psid-1", "m_abc"),
    ] {
        let r = env
            .desk
            .intake()
            .receive(Inbound {
                submission: Submission {
                    channel: Some(channel),
                    external_id: Some(id.into()),
                    handle: Some(handle.into()),
                    body: "KTP saya hilang.".into(),
                    ..Default::default()
                },
                thread: vec![],
                cursor: None,
            })
            .await
            .expect("chat complaint");
        let Received::Created(r) = r else {
            panic!("{r:?}")
        };
        chats.push(r.ticket);
    }
    let kasi = Actor::Staff {
        username: "ayu.kasi".into(),
        role: Role::Kasi,
        bidang: None,
    };
    for t in std::iter::once(&victim).chain(&chats) {
        env.desk
            .staff()
            .act(
                &kasi,
                t.as_str(),
                Command::Close {
                    status: Resolution::Selesai,
                    reason: "sudah dijawab".into(),
                },
            )
            .await
            .expect("close");
    }
    let snapshot = |c: &ComplaintRecord| {
        (
            c.state,
            c.version,
            c.messages
                .iter()
                .map(|m| m.text.clone())
                .collect::<Vec<_>>(),
        )
    };
    let victims = [victim.clone(), chats[0].clone(), chats[1].clone()];
    let before: Vec<_> = env
        .complaints()
        .await
        .iter()
        .filter(|c| victims.contains(&c.ticket))
        .map(snapshot)
        .collect();
    assert_eq!(before.len(), 3);

    let stranger = "Orang Lain <lain@example.org>";
    let (forged_mail, _) = mail(
        stranger,
        "Re: Akta kelahiran salah nama",
        "Batalkan saja pengaduan ini.",
        &format!("In-Reply-To: {ack_id}\r\nReferences: <{first_id}> {ack_id}\r\n"),
    );
    let (forged_tg, _) = mail(
        stranger,
        "Re: KTP",
        "Tambahan untuk pengaduan KTP.",
        "In-Reply-To: <5551:10>\r\nReferences: <5551:10>\r\n",
    );
    let (forged_fb, _) = mail(
        stranger,
        "Re: KK",
        "Tambahan untuk pengaduan KK.",
        "In-Reply-To: <m_abc>\r\n",
    );
    env.append(&[&forged_mail, &forged_tg, &forged_fb]).await;
    let cs = env.settle(6, Duration::from_secs(30)).await;
    assert_eq!(cs.len(), 6, "each forged mail is a new complaint");
    assert_eq!(by_email(&cs, "lain@example.org").len(), 3);
    let after: Vec<_> = cs
        .iter()
        .filter(|c| victims.contains(&c.ticket))
        .map(snapshot)
        .collect();
    assert_eq!(
        before, after,
        "a forged reference changed a victim's complaint"
    );
    assert!(after.iter().all(|(s, _, _)| *s == State::Closed));

    // The complainant's own reply to the acknowledgement threads, and reopens.
    let (genuine, _) = mail(
        "Made Wira <made@example.id>",
        "Re: Akta kelahiran salah nama",
        "Berikut nama yang benar: Putu Ayu.",
        &format!("In-Reply-To: {ack_id}\r\nReferences: <{first_id}> {ack_id}\r\n"),
    );
    env.append(&[&genuine]).await;
    let cs = env.settle(6, Duration::from_secs(20)).await;
    assert_eq!(cs.len(), 6, "the genuine reply is no new complaint");
    let c = cs.iter().find(|c| c.ticket == victim).expect("victim");
    assert_eq!(c.state, State::Triage, "reopened");
    assert!(
        c.messages
            .iter()
            .any(|m| m.text.contains("Berikut nama yang benar: Putu Ayu.")),
        "{:?}",
        c.messages
    );
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_references_never_join_another_citizens_complaint_sqlite() {
    forged_references_never_join_another_citizens_complaint(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_references_never_join_another_citizens_complaint_postgres() {
    forged_references_never_join_another_citizens_complaint(true).await
}

/// SIGKILL these (Dovecot imap) processes.
fn kill9(pids: &[u32]) {
    for pid in pids {
        let status = std::process::Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -KILL {pid}");
    }
}

/// A DSN for `original_id` in the usual multipart/report shape.
fn dsn(original_id: &str) -> Vec<u8> {
    format!(
        "Return-Path: <>\r\nDate: Mon, 5 Jan 2026 09:05:00 +0800\r\n\
         From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\nTo: {OFFICE}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-{n}@mx.example.net>\r\n\
         Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
         --B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n\
         Final-Recipient: rfc822; tidak.ada@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
         --B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {original_id}\r\nFrom: {OFFICE}\r\n\
         Subject: [X] Pengaduan Anda telah diterima\r\n\r\n--B--\r\n",
        n = uuid::Uuid::new_v4().simple()
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledgement_to_automatic_mail_and_bounces_fail_the_reply() {
    let env = Env::new().await;
    let (outbox, _sink, mut sent) = env.outbox().await;
    let mut ctx = env.ctx("replica-1");
    ctx.ack_daily_cap = 2;
    let intake = env.spawn_with(env.cfg.clone(), ctx);

    let (first, _) = mail(
        "Tidak Ada <tidak.ada@example.net>",
        "Surat pindah",
        "Surat pindah saya hilang.",
        "",
    );
    env.append(&[&first]).await;
    let cs = env.settle(1, Duration::from_secs(20)).await;
    let ticket = cs[0].ticket.clone();
    assert_eq!(outbox.run_once().await.expect("outbox").sent, 1);
    let ack = next_mail(&mut sent).await;
    let ack_id = header(&ack.data, "Message-ID").expect("ack Message-ID");

    // Out-of-office answer to the acknowledgement: threads on, no acknowledgement.
    let (vacation, _) = mail(
        "Tidak Ada <tidak.ada@example.net>",
        &format!("Auto: [{ticket}] Pengaduan Anda telah diterima"),
        "Saya sedang cuti.",
        &format!("Auto-Submitted: auto-replied (vacation)\r\nIn-Reply-To: {ack_id}\r\n"),
    );
    // The acknowledgement bounced.
    let bounce = dsn(&ack_id);
    // A vacation reply on its own, a list mail, our own address, a no-reply sender, a
    // qmail-style bounce of something we never sent: none acknowledged.
    let (vacation2, _) = mail(
        "Kadek <kadek@example.net>",
        "Out of office",
        "I am away.",
        "X-Autoreply: yes\r\n",
    );
    let (own, _) = mail(
        &format!("Pengaduan <{OFFICE}>"),
        "Catatan",
        "Uji kirim dari kantor.",
        "",
    );
    let (noreply, _) = mail(
        "Bank <no-reply@bank.example>",
        "Pemberitahuan",
        "Tagihan Anda.",
        "",
    );
    // The daily cap: this sender already had one acknowledgement (cap 2).
    let (again1, _) = mail(
        "Tidak Ada <tidak.ada@example.net>",
        "Kedua",
        "Pengaduan kedua.",
        "",
    );
    let (again2, _) = mail(
        "Tidak Ada <tidak.ada@example.net>",
        "Ketiga",
        "Pengaduan ketiga.",
        "",
    );
    env.append(&[
        &vacation,
        &bounce,
        &vacation2,
        &fixture("list.eml"),
        &own,
        &noreply,
        &fixture("qmail_bounce.eml"),
        &again1,
        &again2,
    ])
    .await;
    let cs = env.settle(7, Duration::from_secs(20)).await;
    assert_eq!(cs.len(), 7, "bounces make no complaint");
    assert_eq!(env.count("Aduan/Diproses").await, 10);

    let first = cs.iter().find(|c| c.ticket == ticket).expect("first");
    assert!(
        first
            .messages
            .iter()
            .any(|m| m.direction == Direction::In && m.text.contains("Saya sedang cuti.")),
        "the vacation reply threads onto the complaint"
    );
    let first_acks = acks(first);
    assert_eq!(first_acks.len(), 1);
    assert_eq!(
        first_acks[0].status,
        ReplyStatus::Failed,
        "the bounce failed the ack"
    );
    assert!(
        first_acks[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("bounce")),
        "{:?}",
        first_acks[0].last_error
    );
    for email in [
        "kadek@example.net",
        OFFICE,
        "no-reply@bank.example",
        "warta@lists.example.org",
    ] {
        let found = by_email(&cs, email);
        assert_eq!(found.len(), 1, "{email}");
        assert!(acks(found[0]).is_empty(), "{email} got an acknowledgement");
    }
    let again = by_email(&cs, "tidak.ada@example.net");
    assert_eq!(again.len(), 3);
    let acked = again.iter().filter(|c| !acks(c).is_empty()).count();
    assert_eq!(acked, 2, "cap of 2 acknowledgements a day per sender");
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_message_delivered_twice_makes_one_complaint() {
    let env = Env::new().await;
    let (m, _) = mail("Ayu <ayu@example.net>", "KK", "Kartu keluarga rusak.", "");
    let no_id =
        b"From: Gede <gede@example.net>\r\nSubject: Tanpa Message-ID\r\n\r\nIsi pengaduan.\r\n";
    env.append(&[&m, no_id, &m, no_id]).await;
    let intake = env.spawn();
    let cs = env.settle(2, Duration::from_secs(20)).await;
    assert_eq!(cs.len(), 2);
    let gede = by_email(&cs, "gede@example.net");
    assert!(
        gede[0]
            .external_id
            .as_deref()
            .is_some_and(|e| e.starts_with("sha256:"))
    );
    assert_eq!(
        env.count("Aduan/Diproses").await,
        4,
        "duplicates are archived too"
    );
    // Delivered once more after everything was read.
    env.append(&[&m]).await;
    let cs = env.settle(2, Duration::from_secs(20)).await;
    assert_eq!(cs.len(), 2);
    assert_eq!(env.count("Aduan/Diproses").await, 5);
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uidvalidity_change_reads_again_without_duplicates() {
    let mut env = Env::new().await;
    env.cfg.mailbox = "Masuk".into();
    {
        let mut s = env.session().await;
        s.create("Masuk").await.expect("CREATE");
        let _ = s.logout().await;
    }
    let old: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            mail(
                "Rai <rai@example.net>",
                &format!("Lama {i}"),
                "Isi lama.",
                "",
            )
            .0
        })
        .collect();
    let refs: Vec<&[u8]> = old.iter().map(Vec::as_slice).collect();
    env.append(&refs).await;
    let intake = env.spawn();
    env.settle(3, Duration::from_secs(20)).await;
    intake.stop().await;
    let key = intake_key(&env.cfg);
    let before = env
        .desk
        .intake()
        .cursor(&key)
        .await
        .expect("cursor")
        .expect("set");

    // The mailbox is deleted and made again: new UIDVALIDITY, UIDs from 1. A new mail takes
    // UID 1 (at or below the old cursor); the three old ones are redelivered after it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    {
        let mut s = env.session().await;
        s.delete("Masuk").await.expect("DELETE");
        s.create("Masuk").await.expect("CREATE");
        let _ = s.logout().await;
    }
    let (fresh, _) = mail("Rai <rai@example.net>", "Baru", "Isi baru.", "");
    let mut again: Vec<&[u8]> = vec![&fresh];
    again.extend(refs.iter().copied());
    env.append(&again).await;

    let intake = env.spawn();
    let cs = env.settle(4, Duration::from_secs(20)).await;
    assert_eq!(
        cs.len(),
        4,
        "the new mail is read, the old ones are not duplicated"
    );
    assert!(cs.iter().any(|c| c.body.starts_with("Baru")));
    assert_eq!(env.count("Aduan/Diproses").await, 7);
    let after = env
        .desk
        .intake()
        .cursor(&key)
        .await
        .expect("cursor")
        .expect("set");
    assert_ne!(
        before.split(':').next(),
        after.split(':').next(),
        "cursor moved to the new UIDVALIDITY ({before} → {after})"
    );
    assert!(after.ends_with(":4"), "{after}");
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_in_the_middle_of_a_batch_loses_and_duplicates_nothing() {
    // Room after the second kill point: under load the reader can commit a hundred more
    // before the poll below sees the count and kills it.
    const N: usize = 600;
    let env = Env::new().await;
    let messages: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            mail(
                &format!("Warga {i} <warga{i}@example.net>"),
                &format!("Pengaduan nomor {i}"),
                &format!("Isi pengaduan nomor {i}."),
                "",
            )
            .0
        })
        .collect();
    env.dovecot
        .write_maildir(USER, &messages)
        .expect("seed maildir");
    assert_eq!(env.count("INBOX").await, N as u32);

    // Kill the reader twice while it works through the batch, then let it finish.
    for at in [40, 160] {
        let intake = env.spawn();
        let deadline = Instant::now() + Duration::from_secs(60);
        while env.count_complaints().await < at {
            assert!(Instant::now() < deadline, "no progress to {at}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        intake.kill();
        let n = env.count_complaints().await;
        assert!(n < N, "killed too late ({n})");
    }
    let intake = env.spawn();
    let cs = env.settle(N, Duration::from_secs(180)).await;
    assert_eq!(cs.len(), N, "every message exactly once");
    let bodies: HashSet<&str> = cs.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(bodies.len(), N, "no duplicates");
    for i in 0..N {
        assert!(
            bodies.contains(format!("Pengaduan nomor {i}\n\nIsi pengaduan nomor {i}.").as_str()),
            "message {i} lost"
        );
    }
    assert!(
        cs.iter().all(|c| acks(c).len() == 1),
        "one acknowledgement each"
    );
    assert_eq!(env.count("INBOX").await, 0);
    assert_eq!(
        env.count("Aduan/Diproses").await,
        N as u32,
        "all archived, none twice"
    );
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_during_idle_is_survived() {
    let mut env = Env::new().await;
    let intake = env.spawn();
    let (m1, _) = mail("Satu <satu@example.net>", "Satu", "Pesan pertama.", "");
    env.append(&[&m1]).await;
    env.settle(1, Duration::from_secs(20)).await;

    // The server kicks the idling session.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pids = env.dovecot.imap_pids(USER).expect("doveadm who");
    assert!(!pids.is_empty(), "the reader is connected");
    env.dovecot.kick(USER).expect("doveadm kick");
    let (m2, _) = mail("Dua <dua@example.net>", "Dua", "Pesan kedua.", "");
    env.append(&[&m2]).await;
    env.settle(2, Duration::from_secs(20)).await;
    {
        let h = env.health.lock().expect("health");
        assert!(
            h.iter()
                .any(|e| e.as_deref().is_some_and(|e| e.contains("IDLE"))),
            "the drop was reported: {h:?}"
        );
        assert_eq!(h.last(), Some(&None), "healthy again: {h:?}");
    }

    // The imap process dies without a word (SIGKILL by its pid): the reader sees EOF.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pids = env.dovecot.imap_pids(USER).expect("doveadm who");
    assert_eq!(pids.len(), 1, "one reader connection: {pids:?}");
    kill9(&pids);
    let (m3, _) = mail("Tiga <tiga@example.net>", "Tiga", "Pesan ketiga.", "");
    env.append(&[&m3]).await;
    env.settle(3, Duration::from_secs(20)).await;
    {
        let h = env.health.lock().expect("health");
        assert!(
            h.iter().any(|e| e
                .as_deref()
                .is_some_and(|e| e.contains("connection closed"))),
            "the EOF was reported: {h:?}"
        );
    }

    // The whole server goes away for a while (its imap processes with it), then comes back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pids = env.dovecot.imap_pids(USER).expect("doveadm who");
    env.dovecot.stop().expect("stop Dovecot");
    kill9(&pids);
    tokio::time::sleep(Duration::from_secs(2)).await;
    env.dovecot.restart().expect("restart Dovecot");
    let (m4, _) = mail("Empat <empat@example.net>", "Empat", "Pesan keempat.", "");
    env.append(&[&m4]).await;
    let cs = env.settle(4, Duration::from_secs(40)).await;
    assert_eq!(cs.len(), 4);
    assert_eq!(env.count("Aduan/Diproses").await, 4);
    {
        let h = env.health.lock().expect("health");
        assert!(
            h.iter().any(|e| e
                .as_deref()
                .is_some_and(|e| e.contains("connect 127.0.0.1"))),
            "the refused connections were reported: {h:?}"
        );
        assert_eq!(h.last(), Some(&None), "healthy again: {h:?}");
    }
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_mail_arrives_promptly_with_idle_and_with_polling() {
    let mut env = Env::new().await;
    let intake = env.spawn();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (m1, _) = mail("Idle <idle@example.net>", "Idle", "Lewat IDLE.", "");
    let t = Instant::now();
    env.append(&[&m1]).await;
    env.settle(1, Duration::from_secs(10)).await;
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "IDLE wake-up took {:?}",
        t.elapsed()
    );
    intake.stop().await;

    env.cfg.idle = false;
    env.cfg.poll_interval = "1s".into();
    let intake = env.spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (m2, _) = mail("Poll <poll@example.net>", "Poll", "Lewat polling.", "");
    env.append(&[&m2]).await;
    env.settle(2, Duration::from_secs(10)).await;
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_read_each_message_once() {
    const N: usize = 60;
    let env = Env::new().await;
    let a = env.spawn_with(env.cfg.clone(), env.ctx("replica-a"));
    let b = env.spawn_with(env.cfg.clone(), env.ctx("replica-b"));
    let messages: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            mail(
                &format!("W{i} <w{i}@example.net>"),
                &format!("No {i}"),
                "Isi.",
                "",
            )
            .0
        })
        .collect();
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    env.append(&refs).await;
    let cs = env.settle(N, Duration::from_secs(30)).await;
    assert_eq!(cs.len(), N);
    assert_eq!(env.count("Aduan/Diproses").await, N as u32);
    let key = intake_key(&env.cfg);
    // Exactly one of them holds the lease; after a clean stop it is free again.
    let a_holds = !env
        .desk
        .intake()
        .try_lease(&key, "someone-else", chrono::Duration::seconds(1))
        .await
        .expect("lease query");
    assert!(a_holds, "a replica holds the mailbox lease");
    a.stop().await;
    b.stop().await;
    assert!(
        env.desk
            .intake()
            .try_lease(&key, "someone-else", chrono::Duration::seconds(1))
            .await
            .expect("lease"),
        "released on shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_the_server_refuses_does_not_stop_intake() {
    let mut env = Env::new().await;
    // Dovecot refuses mailbox names starting with `~`.
    env.cfg.archive_mailbox = "~arsip".into();
    let (m1, _) = mail("Satu <satu@example.net>", "Satu", "Pesan pertama.", "");
    let (m2, _) = mail("Dua <dua@example.net>", "Dua", "Pesan kedua.", "");
    env.append(&[&m1, &m2]).await;
    let intake = env.spawn();
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.count_complaints().await < 2 {
        assert!(Instant::now() < deadline, "no intake");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.count("INBOX").await, 2, "mail stays where it is");
    {
        let h = env.health.lock().expect("health");
        assert!(
            h.last()
                .and_then(|e| e.as_deref())
                .is_some_and(|e| e.contains("~arsip")),
            "the refusal is the health error: {h:?}"
        );
    }
    // A restart reads the mailbox again: nothing twice, the new mail once.
    intake.stop().await;
    let (m3, _) = mail("Tiga <tiga@example.net>", "Tiga", "Pesan ketiga.", "");
    env.append(&[&m3]).await;
    let intake = env.spawn();
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.count_complaints().await < 3 {
        assert!(Instant::now() < deadline, "no intake after restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.count_complaints().await, 3);
    assert_eq!(env.count("INBOX").await, 3);
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_starttls_problems_are_reported_not_fatal() {
    // The test server speaks plain IMAP only: a TLS handshake fails, STARTTLS is refused.
    let env = Env::new().await;
    for (security, expect) in [("tls", "TLS handshake"), ("starttls", "STARTTLS")] {
        env.health.lock().expect("health").clear();
        let mut cfg = env.cfg.clone();
        cfg.imap_security = security.into();
        let intake = env.spawn_with(cfg, env.ctx("replica-1"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = env
                .health
                .lock()
                .expect("health")
                .iter()
                .any(|e| e.as_deref().is_some_and(|e| e.contains(expect)));
            if seen {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{security}: no `{expect}` error reported: {:?}",
                env.health.lock().expect("health")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        intake.stop().await;
    }
}

/// RFC 4648 base64, for encoded words built in tests.
fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Replies the way real clients send them: In-Reply-To/References as RFC 2047 encoded words
/// thread like plain ones; `Re: <subject>` (and `Balas:`, `AW:`, `RE[2]:`, `Fwd:`) without
/// any ids joins the sender's open complaint with that subject — an empty first From mailbox
/// included — and nothing else: not another citizen's complaint with the same subject, not
/// the sender's closed complaint, not without a prefix, not an automatic reply, not another
/// subject.
async fn replies_thread_by_encoded_ids_and_by_subject(postgres: bool) {
    use aduan_core::types::{Resolution, Role, State};
    use aduan_core::workflow::{Actor, Command};

    let env = Env::on(postgres).await;
    let intake = env.spawn();
    let budi = "Budi Santoso <budi@example.id>";
    let subject = "Akta kelahiran salah nama";
    let (first, first_id) = mail(budi, subject, "Nama anak saya salah ketik di akta.", "");
    let (siti_first, _) = mail(
        "Siti Aminah <siti@example.id>",
        subject,
        "Akta anak saya juga salah.",
        "",
    );
    let (budi_other, _) = mail(budi, "KTP belum jadi", "Sudah tiga bulan.", "");
    env.append(&[&first, &siti_first, &budi_other]).await;
    let cs = env.settle(3, Duration::from_secs(20)).await;
    let ticket_of = |cs: &[ComplaintRecord], email: &str, body: &str| {
        cs.iter()
            .find(|c| c.identity.email.as_deref() == Some(email) && c.body.contains(body))
            .map(|c| c.ticket.clone())
            .unwrap_or_else(|| panic!("no complaint of {email} with {body:?}"))
    };
    let t_budi = ticket_of(&cs, "budi@example.id", "salah ketik");
    let t_siti = ticket_of(&cs, "siti@example.id", "juga salah");
    let t_closed = ticket_of(&cs, "budi@example.id", "tiga bulan");
    let kasi = Actor::Staff {
        username: "ayu.kasi".into(),
        role: Role::Kasi,
        bidang: None,
    };
    env.desk
        .staff()
        .act(
            &kasi,
            t_closed.as_str(),
            Command::Close {
                status: Resolution::Selesai,
                reason: "sudah selesai".into(),
            },
        )
        .await
        .expect("close");

    let encoded = format!("=?UTF-8?B?{}?=", b64(format!("<{first_id}>").as_bytes()));
    let (enc_reply, _) = mail(
        budi,
        "Data tambahan",
        "1. lewat In-Reply-To sebagai encoded word",
        &format!("In-Reply-To: {encoded}\r\nReferences: {encoded}\r\n"),
    );
    let mut to_budi = vec![enc_reply];
    for (n, prefix) in ["Re: ", "Balas: ", "AW: ", "RE[2]: ", "Fwd: "]
        .iter()
        .enumerate()
    {
        to_budi.push(
            mail(
                budi,
                &format!("{prefix}{subject}"),
                &format!("{}. balasan tanpa References ({prefix})", n + 2),
                "",
            )
            .0,
        );
    }
    // The first From mailbox is empty: the next one is the sender.
    to_budi.push(
        mail(
            "\"\" <>, Budi Santoso <budi@example.id>",
            &format!("RE: {}", subject.to_uppercase()),
            "7. pengirim kedua di From",
            "",
        )
        .0,
    );
    let (siti_reply, _) = mail(
        "Siti Aminah <siti@example.id>",
        &format!("Re: {subject}"),
        "balasan Siti",
        "",
    );
    let (stranger, _) = mail(
        "Orang Lain <lain@example.org>",
        &format!("Re: {subject}"),
        "balasan orang lain",
        "",
    );
    let (to_closed, _) = mail(
        budi,
        "Re: KTP belum jadi",
        "balasan ke yang sudah ditutup",
        "",
    );
    let (auto, _) = mail(
        budi,
        &format!("Re: {subject}"),
        "Saya sedang cuti (balasan otomatis).",
        "Auto-Submitted: auto-replied\r\n",
    );
    let (other_subject, _) = mail(budi, "Re: Akta kematian", "subjek lain", "");
    // Last: a complaint of Budi with the same subject but no prefix (a new complaint).
    let (no_prefix, _) = mail(budi, subject, "tanpa awalan Re", "");
    let mut all: Vec<&[u8]> = to_budi.iter().map(Vec::as_slice).collect();
    all.extend([
        siti_reply.as_slice(),
        &stranger,
        &to_closed,
        &auto,
        &other_subject,
        &no_prefix,
    ]);
    env.append(&all).await;
    let cs = env.settle(8, Duration::from_secs(40)).await;
    let find = |t: &TicketNumber| cs.iter().find(|c| &c.ticket == t).expect("complaint");
    let inbound = |c: &ComplaintRecord| -> Vec<String> {
        c.messages
            .iter()
            .filter(|m| m.direction == Direction::In)
            .map(|m| m.text.clone())
            .collect()
    };
    let budis = inbound(find(&t_budi));
    for n in 1..=7 {
        assert!(
            budis.iter().any(|t| t.contains(&format!("{n}. "))),
            "reply {n} missing on {t_budi}: {budis:#?}"
        );
    }
    assert_eq!(budis.len(), 8, "{budis:#?}");
    let sitis = inbound(find(&t_siti));
    assert_eq!(sitis.len(), 2, "{sitis:#?}");
    assert!(sitis[1].contains("balasan Siti"));
    let closed = find(&t_closed);
    assert_eq!(closed.state, State::Closed, "not reopened by a subject");
    assert_eq!(inbound(closed).len(), 1);
    assert_eq!(
        cs.len(),
        8,
        "stranger, closed, automatic, other subject and no prefix are new complaints"
    );
    for body in [
        "balasan orang lain",
        "balasan ke yang sudah ditutup",
        "balasan otomatis",
        "subjek lain",
        "tanpa awalan Re",
    ] {
        assert_eq!(
            cs.iter().filter(|c| c.body.contains(body)).count(),
            1,
            "{body}"
        );
    }
    assert_eq!(env.count("Aduan/Diproses").await, 16);
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_thread_by_encoded_ids_and_by_subject_sqlite() {
    replies_thread_by_encoded_ids_and_by_subject(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_thread_by_encoded_ids_and_by_subject_postgres() {
    replies_thread_by_encoded_ids_and_by_subject(true).await
}

/// Mail as it arrives from old clients and odd relays: a stray line before the headers (an
/// mbox `From ` separator, a blank line), the Asian multi-byte charsets, an empty first From
/// mailbox; each becomes a readable complaint with its sender. Mail with no sender address
/// anywhere is refused and archived, not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_world_shapes_become_complaints() {
    let env = Env::new().await;
    let (plain, _) = mail(
        "Komang <komang@example.id>",
        "Lampu jalan mati",
        "Di depan SD 1.",
        "",
    );
    let mbox = [
        &b"From komang@example.id Mon Jan  5 09:00:00 2026\r\n"[..],
        &plain,
    ]
    .concat();
    let (blank_first, _) = mail("Wayan <wayan@example.id>", "Jalan rusak", "Berlubang.", "");
    let blank_first = [&b"\r\n"[..], &blank_first].concat();
    let (empty_first, _) = mail(
        "Kantor Desa <>, Putu <putu@example.id>",
        "Air PDAM",
        "Mati tiga hari.",
        "",
    );
    let no_sender = b"Message-ID: <tanpa-pengirim@example.id>\r\nSubject: Tanpa pengirim\r\n\r\nIsi tanpa alamat.\r\n".to_vec();
    let messages: Vec<Vec<u8>> = vec![
        mbox,
        blank_first,
        empty_first,
        fixture("charsets/iso-2022-jp.eml"),
        fixture("charsets/shift_jis.eml"),
        fixture("charsets/euc-kr.eml"),
        fixture("charsets/gb2312.eml"),
        fixture("charsets/big5.eml"),
        no_sender,
    ];
    env.dovecot
        .write_maildir(USER, &messages)
        .expect("deliver to the maildir");
    let intake = env.spawn();
    let cs = env.settle(8, Duration::from_secs(30)).await;
    assert_eq!(cs.len(), 8, "the mail without a sender makes none");
    assert_eq!(env.count("Aduan/Diproses").await, 9, "everything archived");
    let body_of = |email: &str| {
        let c = by_email(&cs, email);
        assert_eq!(c.len(), 1, "{email}");
        c[0].body.clone()
    };
    assert_eq!(
        body_of("komang@example.id"),
        "Lampu jalan mati\n\nDi depan SD 1."
    );
    assert_eq!(body_of("wayan@example.id"), "Jalan rusak\n\nBerlubang.");
    assert_eq!(body_of("putu@example.id"), "Air PDAM\n\nMati tiga hari.");
    assert!(
        body_of("warga.iso-2022-jp@example.id")
            .starts_with("住民票の写しが届きません\n\n住民票の写しを申請しましたが")
    );
    assert!(body_of("warga.shift-jis@example.id").starts_with("戸籍謄本の申請について\n\n"));
    assert!(
        body_of("warga.euc-kr@example.id").starts_with("주민등록증 재발급 문의\n\n주민등록증을")
    );
    assert!(body_of("warga.gb2312@example.id").starts_with("身份证办理进度查询\n\n我的身份证"));
    assert!(body_of("warga.big5@example.id").starts_with("戶籍謄本申請進度\n\n戶籍謄本申請"));
    let names: Vec<Option<&str>> = cs.iter().map(|c| c.identity.name.as_deref()).collect();
    assert!(names.contains(&Some("山田太郎")), "{names:?}");
    assert!(names.contains(&Some("Putu")), "{names:?}");
    for c in &cs {
        assert!(!c.body.contains('\u{fffd}'), "{}: {}", c.ticket, c.body);
        assert_eq!(acks(c).len(), 1, "{}", c.ticket);
    }
    intake.stop().await;
}

// ---- max_message_bytes ----

/// Counts `aduan_email_oversized_total` (this binary's only recorder; other counters are
/// ignored).
struct OversizedCounter(Arc<std::sync::atomic::AtomicU64>);

impl metrics::CounterFn for OversizedCounter {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, std::sync::atomic::Ordering::SeqCst);
    }
    fn absolute(&self, value: u64) {
        self.0.store(value, std::sync::atomic::Ordering::SeqCst);
    }
}

struct OversizedRecorder(Arc<std::sync::atomic::AtomicU64>);

impl metrics::Recorder for OversizedRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        if key.name() == "aduan_email_oversized_total" {
            metrics::Counter::from_arc(Arc::new(OversizedCounter(self.0.clone())))
        } else {
            metrics::Counter::noop()
        }
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// A TCP relay to `target` on 127.0.0.1 that counts the bytes the server sends; its tasks
/// end with the test's runtime.
async fn counting_relay(target: u16) -> (u16, Arc<std::sync::atomic::AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let down = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = down.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let down = counted.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    let _ = sw.shutdown().await;
                };
                let dn = async {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = sr.read(&mut buf).await {
                        if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        down.fetch_add(n as u64, std::sync::atomic::Ordering::SeqCst);
                    }
                    let _ = cw.shutdown().await;
                };
                tokio::join!(up, dn);
            });
        }
    });
    (port, down)
}

/// A mail of about `size` bytes: a text part and a base64 attachment.
fn mail_of_size(from: &str, subject: &str, size: usize) -> (Vec<u8>, String) {
    let line = format!("{}\r\n", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=".repeat(2));
    let (head, id) = mail(from, subject, "", "");
    let head = String::from_utf8(head).expect("utf8");
    let head = head.replace(
        "Content-Type: text/plain; charset=utf-8\r\n\r\n\r\n",
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n",
    );
    let mut raw = format!(
        "{head}--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nFoto jalan rusak terlampir.\r\n\
         --b\r\nContent-Type: image/jpeg; name=\"foto.jpg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    );
    while raw.len() + line.len() + 8 < size {
        raw.push_str(&line);
    }
    raw.push_str("--b--\r\n");
    (raw.into_bytes(), id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_over_max_message_bytes_is_a_complaint_from_its_headers_never_downloaded() {
    let oversized = Arc::new(std::sync::atomic::AtomicU64::new(0));
    metrics::set_global_recorder(OversizedRecorder(oversized.clone()))
        .expect("the only recorder of this binary");
    const LIMIT: u64 = 64 * 1024;
    let env = Env::new().await;
    let (small, _) = mail(
        "Made <made@example.net>",
        "Akta lahir",
        "Akta belum terbit.",
        "",
    );
    let (under, _) = mail_of_size(
        "Komang <komang@example.net>",
        "Hampir batas",
        LIMIT as usize - 2048,
    );
    let (just_over, _) = mail_of_size(
        "Wayan <wayan@example.net>",
        "Sedikit lewat",
        LIMIT as usize + 1024,
    );
    let (huge, huge_id) = mail_of_size(
        "Ketut <ketut@example.net>",
        "Foto besar",
        10 * LIMIT as usize,
    );
    assert!(under.len() as u64 <= LIMIT && just_over.len() as u64 > LIMIT);
    env.append(&[&small, &just_over, &under, &huge]).await;

    // The reader talks to Dovecot through a relay that counts what the server sends.
    let (port, downloaded) = counting_relay(env.cfg.imap_port).await;
    let mut cfg = env.cfg.clone();
    cfg.imap_port = port;
    cfg.max_message_bytes = LIMIT;
    let mut ctx = env.ctx("replica-1");
    ctx.limits.max_message_bytes = LIMIT;
    let intake = env.spawn_with(cfg, ctx);
    let cs = env.settle(4, Duration::from_secs(30)).await;
    assert_eq!(cs.len(), 4);
    assert_eq!(env.count("Aduan/Diproses").await, 4, "each archived");
    intake.stop().await;

    // Never more than the limit downloaded: the two oversized bodies (11x the limit
    // together) were not, the one under the limit was.
    let down = downloaded.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        down >= under.len() as u64 && down < under.len() as u64 + 32 * 1024,
        "{down} bytes came from the server"
    );
    assert_eq!(
        oversized.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "aduan_email_oversized_total"
    );

    let komang = &by_email(&cs, "komang@example.net")[0];
    assert_eq!(komang.attachments.len(), 1, "under the limit: read whole");
    for (email, subject, size) in [
        ("wayan@example.net", "Sedikit lewat", just_over.len()),
        ("ketut@example.net", "Foto besar", huge.len()),
    ] {
        let c = by_email(&cs, email);
        assert_eq!(c.len(), 1, "{email}: one complaint");
        let c = c[0];
        let note = aduan_channel_email::parse::oversize_note(size as u64, LIMIT);
        assert_eq!(c.body, format!("{subject}\n\n{note}"));
        assert!(c.body.contains("Surel terlalu besar (") && c.body.contains(" > 64 KB)"));
        assert!(
            c.attachments.is_empty(),
            "{email}: nothing of the body kept"
        );
        assert_eq!(acks(c).len(), 1, "{email}: acknowledged like any mail");
    }
    let ketut = &by_email(&cs, "ketut@example.net")[0];
    assert_eq!(
        ketut.external_id.as_deref(),
        Some(format!("msgid:{huge_id}").as_str())
    );

    // Delivered again: recognized by its Message-ID, not a second complaint.
    env.append(&[&huge]).await;
    let mut ctx = env.ctx("replica-1");
    ctx.limits.max_message_bytes = LIMIT;
    let mut cfg = env.cfg.clone();
    cfg.max_message_bytes = LIMIT;
    let intake = env.spawn_with(cfg, ctx);
    let cs = env.settle(4, Duration::from_secs(30)).await;
    assert_eq!(cs.len(), 4);
    assert_eq!(env.count("Aduan/Diproses").await, 5);
    intake.stop().await;
}
