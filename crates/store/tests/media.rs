//! Media jobs (migration 0007) through the desk on SQLite and PostgreSQL: written with the
//! complaint or message, fetched by a worker under a lease (a killed worker's job is claimed
//! again once its lease ran out), retried with backoff, given up visibly, never duplicated
//! by a redelivery; albums joining one complaint; once-only notices; sealed at rest and
//! re-sealed by a key rotation. A fresh database per test; PostgreSQL is required.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};

use aduan_core::desk::{Desk, Inbound, Received, Submission, ThreadHint};
use aduan_core::media::{
    FetchError, Fetched, MEDIA_FAILED_ACTION, MediaFetcher, MediaJob, MediaKind, MediaStatus,
    NewMedia,
};
use aduan_core::model::{AckRoute, Cursor};
use aduan_core::services::{MEDIA_LEASE, MediaFetchers};
use aduan_core::store::Store;
use aduan_core::testing::{ManualClock, desk_config};
use aduan_core::types::*;
use aduan_core::workflow::Actor;
use aduan_store::testing::{self, connect};
use aduan_store::{Key, KeyRing, Vault};

const LIMIT: u64 = 64 * 1024;

/// What the fake platform does with a source.
#[derive(Clone)]
enum Serve {
    Bytes(&'static str, Vec<u8>),
    Gone,
    Flaky,
}

#[derive(Default)]
struct FakeFetcher {
    files: Mutex<HashMap<String, Serve>>,
    calls: AtomicUsize,
}

impl FakeFetcher {
    fn serve(&self, source: &str, s: Serve) {
        self.files.lock().unwrap().insert(source.into(), s);
    }
}

#[async_trait]
impl MediaFetcher for FakeFetcher {
    async fn fetch(&self, job: &MediaJob, limit: u64) -> Result<Fetched, FetchError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.files.lock().unwrap().get(&job.source).cloned() {
            Some(Serve::Bytes(_, data)) if data.len() as u64 > limit => Err(FetchError::TooLarge {
                size: Some(data.len() as u64),
            }),
            Some(Serve::Bytes(ct, data)) => Ok(Fetched {
                data,
                content_type: Some(ct.into()),
            }),
            Some(Serve::Gone) | None => Err(FetchError::Unavailable("HTTP 404".into())),
            Some(Serve::Flaky) => Err(FetchError::Transient("HTTP 503".into())),
        }
    }
}

struct Fx {
    url: String,
    store: Arc<dyn Store>,
    desk: Desk,
    clock: ManualClock,
    fetcher: Arc<FakeFetcher>,
    _dir: Option<tempfile::TempDir>,
}

impl Fx {
    async fn new(postgres: bool) -> Fx {
        let (url, dir) = if postgres {
            (testing::fresh_postgres_url().await, None)
        } else {
            let dir = tempfile::tempdir().unwrap();
            (testing::fresh_sqlite_url(dir.path()), Some(dir))
        };
        let store = connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap());
        let desk = Desk::new(
            store.clone(),
            Arc::new(clock.clone()),
            desk_config([Channel::Whatsapp, Channel::Telegram]),
        );
        Fx {
            url,
            store,
            desk,
            clock,
            fetcher: Arc::new(FakeFetcher::default()),
            _dir: dir,
        }
    }

    fn fetchers(&self) -> MediaFetchers {
        let f: Arc<dyn MediaFetcher> = self.fetcher.clone();
        HashMap::from([(Channel::Whatsapp, f.clone()), (Channel::Telegram, f)])
    }

    async fn run(&self) -> aduan_core::media::MediaRun {
        self.desk
            .media()
            .run_once(&self.fetchers(), LIMIT)
            .await
            .unwrap()
    }

    async fn receive(&self, inbound: Inbound) -> Received {
        self.desk.intake().receive(inbound).await.unwrap()
    }

    async fn complaint(&self, t: &TicketNumber) -> aduan_core::model::ComplaintRecord {
        self.store.get_complaint(t).await.unwrap().unwrap()
    }

    async fn teardown(self) {
        let Fx {
            url, store, desk, ..
        } = self;
        drop(desk);
        drop(store);
        if !url.starts_with("sqlite:") {
            testing::drop_postgres_database(&url).await;
        }
    }

    /// Every TEXT value of `media_jobs` and `intake_notices`, as a dump would show them.
    async fn dump(&self) -> String {
        use sqlx::{Connection, Row};
        let sql = "SELECT COALESCE(source, '') || '|' || filename || '|' || \
                   COALESCE(external_ref, '') || '|' || COALESCE(group_ref, '') || '|' || \
                   COALESCE(last_error, '') FROM media_jobs \
                   UNION ALL SELECT external_ref FROM intake_notices";
        let rows: Vec<String> = if self.url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query(sql)
                .fetch_all(&mut c)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect()
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query(sql)
                .fetch_all(&mut c)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect()
        };
        rows.join("\n")
    }
}

macro_rules! on_both {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test(false).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test(true).await })*
        }
    };
}

on_both!(
    files_become_attachments_staff_can_open,
    a_killed_workers_job_is_claimed_again_after_its_lease,
    failures_retry_with_backoff_then_show_on_the_complaint,
    files_over_the_limit_and_gone_files_are_recorded,
    album_files_join_one_complaint_of_the_same_sender,
    notices_are_recorded_once,
    key_rotation_reseals_jobs_and_notices,
);

const PHONE: &str = "6281234567890";

fn media(kind: MediaKind, source: &str, name: Option<&str>, ct: &str) -> NewMedia {
    NewMedia {
        kind,
        source: source.into(),
        filename: name.map(str::to_string),
        content_type: Some(ct.into()),
        size: None,
    }
}

fn whatsapp(wamid: &str, text: &str, files: Vec<NewMedia>) -> Inbound {
    Inbound {
        submission: Submission {
            channel: Some(Channel::Whatsapp),
            external_id: Some(wamid.into()),
            handle: Some(PHONE.into()),
            body: text.into(),
            media: files,
            ack_to: Some(AckRoute {
                channel: Channel::Whatsapp,
                recipient: PHONE.into(),
                thread: Default::default(),
            }),
            ..Default::default()
        },
        thread: vec![ThreadHint::OpenForHandle],
        cursor: None,
    }
}

fn created(r: Received) -> TicketNumber {
    match r {
        Received::Created(r) => r.ticket,
        other => panic!("expected a new complaint, got {other:?}"),
    }
}

fn kasi() -> Actor {
    Actor::Staff {
        username: "kasi".into(),
        role: Role::Kasi,
        bidang: None,
    }
}

async fn files_become_attachments_staff_can_open(postgres: bool) {
    let fx = Fx::new(postgres).await;
    fx.fetcher.serve(
        "media-img-1",
        Serve::Bytes("image/jpeg", b"\xff\xd8JPEG".to_vec()),
    );
    fx.fetcher.serve(
        "media-doc-2",
        Serve::Bytes("application/pdf", b"%PDF-1.7 KK".to_vec()),
    );
    let ticket = created(
        fx.receive(whatsapp(
            "wamid.M1",
            "Foto KK saya rusak",
            vec![
                media(MediaKind::Image, "media-img-1", None, "image/jpeg"),
                media(
                    MediaKind::Document,
                    "media-doc-2",
                    Some("KK_Made_5108012345678901.pdf"),
                    "application/pdf",
                ),
            ],
        ))
        .await,
    );
    let c = fx.complaint(&ticket).await;
    assert_eq!(
        c.body,
        "Foto KK saya rusak\n[lampiran: foto]\n[lampiran: dokumen]"
    );
    assert!(c.attachments.is_empty(), "nothing downloaded at intake");
    let jobs = fx.desk.media().jobs_of(&ticket).await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|j| j.status == MediaStatus::Pending));
    // Sealed at rest: neither the platform reference nor the file name is readable.
    let dump = fx.dump().await;
    for secret in [
        "media-img-1",
        "media-doc-2",
        "KK_Made",
        "5108012345678901",
        "wamid.M1",
    ] {
        assert!(!dump.contains(secret), "{secret} readable in media_jobs");
    }
    // A redelivery adds no job.
    assert!(matches!(
        fx.receive(whatsapp(
            "wamid.M1",
            "Foto KK saya rusak",
            vec![media(MediaKind::Image, "media-img-1", None, "image/jpeg"),]
        ))
        .await,
        Received::Duplicate { .. }
    ));

    let run = fx.run().await;
    assert_eq!((run.claimed, run.stored), (2, 2), "{run:?}");
    let c = fx.complaint(&ticket).await;
    let names: Vec<&str> = c.attachments.iter().map(|a| a.filename.as_str()).collect();
    assert_eq!(names, vec!["foto-1.jpg", "KK_Made_5108012345678901.pdf"]);
    let pdf = fx
        .desk
        .staff()
        .attachment(&kasi(), ticket.as_str(), c.attachments[1].id)
        .await
        .unwrap();
    assert_eq!(pdf.data, b"%PDF-1.7 KK");
    assert_eq!(pdf.meta.content_type, "application/pdf");
    let jobs = fx.desk.media().jobs_of(&ticket).await.unwrap();
    assert!(jobs.iter().all(|j| j.status == MediaStatus::Done));
    assert_eq!(
        jobs.iter().map(|j| j.attachment_id).collect::<Vec<_>>(),
        c.attachments.iter().map(|a| Some(a.id)).collect::<Vec<_>>()
    );
    // Finished jobs keep no platform reference; nothing is left to do.
    assert!(fx.dump().await.lines().all(|l| l.starts_with('|')));
    assert_eq!(fx.run().await.claimed, 0);
    assert_eq!(
        fx.desk
            .media()
            .next_due(&[Channel::Whatsapp])
            .await
            .unwrap(),
        None
    );

    // A message appended to the open complaint brings its own file.
    fx.fetcher
        .serve("media-voice-3", Serve::Bytes("audio/ogg", b"OggS".to_vec()));
    let r = fx
        .receive(whatsapp(
            "wamid.M2",
            "",
            vec![media(
                MediaKind::Voice,
                "media-voice-3",
                None,
                "audio/ogg; codecs=opus",
            )],
        ))
        .await;
    assert!(matches!(r, Received::Appended { .. }), "{r:?}");
    assert_eq!(fx.run().await.stored, 1);
    let c = fx.complaint(&ticket).await;
    assert_eq!(c.attachments.len(), 3);
    assert_eq!(c.attachments[2].filename, "pesan-suara-1.ogg");
    assert!(
        c.messages
            .iter()
            .any(|m| m.text == "[lampiran: pesan suara]"),
        "{:?}",
        c.messages
    );
    fx.teardown().await;
}

async fn a_killed_workers_job_is_claimed_again_after_its_lease(postgres: bool) {
    let fx = Fx::new(postgres).await;
    fx.fetcher
        .serve("media-1", Serve::Bytes("image/jpeg", b"JPEG".to_vec()));
    let ticket = created(
        fx.receive(whatsapp(
            "wamid.K1",
            "Jalan berlubang",
            vec![media(MediaKind::Image, "media-1", None, "image/jpeg")],
        ))
        .await,
    );
    // A worker claims the job and is killed before it finishes.
    let now = fx.clock.now_utc();
    let dead = fx
        .store
        .claim_media(&[Channel::Whatsapp], now, MEDIA_LEASE, 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].source, "media-1");
    // While the lease lives, nobody else takes it.
    assert_eq!(fx.run().await.claimed, 0);
    assert_eq!(
        fx.desk
            .media()
            .next_due(&[Channel::Whatsapp])
            .await
            .unwrap(),
        Some(now + MEDIA_LEASE)
    );
    // Other platforms' workers never see it.
    assert!(
        fx.store
            .claim_media(
                &[Channel::Telegram],
                now + Duration::hours(1),
                MEDIA_LEASE,
                10
            )
            .await
            .unwrap()
            .is_empty()
    );
    fx.clock.advance(MEDIA_LEASE + Duration::seconds(1));
    let run = fx.run().await;
    assert_eq!((run.claimed, run.stored), (1, 1), "{run:?}");
    // The dead worker's late completion is ignored: one attachment.
    let late = aduan_core::media::MediaOutcome::Stored {
        attachment: aduan_core::model::NewAttachment {
            filename: "late.jpg".into(),
            content_type: "image/jpeg".into(),
            data: b"LATE".to_vec(),
        },
        at: fx.clock.now_utc(),
    };
    assert!(!fx.store.complete_media(&dead[0], late).await.unwrap());
    let c = fx.complaint(&ticket).await;
    assert_eq!(c.attachments.len(), 1);
    assert_eq!(c.attachments[0].filename, "foto-1.jpg");
    fx.teardown().await;
}

async fn failures_retry_with_backoff_then_show_on_the_complaint(postgres: bool) {
    let fx = Fx::new(postgres).await;
    fx.fetcher.serve("flaky", Serve::Flaky);
    let ticket = created(
        fx.receive(whatsapp(
            "wamid.F1",
            "Video antrean",
            vec![media(MediaKind::Video, "flaky", None, "video/mp4")],
        ))
        .await,
    );
    let mut waits = Vec::new();
    for attempt in 1..=aduan_core::media::MEDIA_MAX_ATTEMPTS {
        let run = fx.run().await;
        assert_eq!(run.claimed, 1, "attempt {attempt}");
        if attempt < aduan_core::media::MEDIA_MAX_ATTEMPTS {
            assert_eq!(run.retried, 1);
            // Not due again at once.
            assert_eq!(fx.run().await.claimed, 0);
            let due = fx
                .desk
                .media()
                .next_due(&[Channel::Whatsapp])
                .await
                .unwrap()
                .unwrap();
            waits.push((due - fx.clock.now_utc()).num_seconds());
            fx.clock.set(due);
        } else {
            assert_eq!(run.failed, 1);
        }
    }
    assert_eq!(waits, vec![30, 60, 120, 240, 480], "backoff doubles");
    let c = fx.complaint(&ticket).await;
    assert!(c.attachments.is_empty());
    let line = c
        .history
        .iter()
        .find(|h| h.action == MEDIA_FAILED_ACTION)
        .expect("the failure is on the complaint");
    let note = line.note.as_deref().unwrap();
    assert!(
        note.starts_with("Lampiran tidak dapat diunduh: video (video/mp4) dari WhatsApp"),
        "{note}"
    );
    assert!(
        note.contains("gagal 6 kali") && note.contains("HTTP 503"),
        "{note}"
    );
    assert_eq!(line.state, c.state);
    let jobs = fx.desk.media().jobs_of(&ticket).await.unwrap();
    assert_eq!(jobs[0].status, MediaStatus::Failed);
    assert_eq!(jobs[0].attempts, 6);
    assert_eq!(fx.fetcher.calls.load(Ordering::SeqCst), 6);
    assert_eq!(fx.run().await.claimed, 0, "given up for good");
    fx.teardown().await;
}

async fn files_over_the_limit_and_gone_files_are_recorded(postgres: bool) {
    let fx = Fx::new(postgres).await;
    fx.fetcher.serve(
        "big-served",
        Serve::Bytes("video/mp4", vec![0u8; LIMIT as usize + 1]),
    );
    fx.fetcher.serve("gone", Serve::Gone);
    let mut announced = media(
        MediaKind::Document,
        "big-announced",
        Some("akta.pdf"),
        "application/pdf",
    );
    announced.size = Some(LIMIT * 3);
    let ticket = created(
        fx.receive(whatsapp(
            "wamid.L1",
            "Berkas",
            vec![
                announced,
                media(MediaKind::Video, "big-served", None, "video/mp4"),
                media(MediaKind::Image, "gone", None, "image/jpeg"),
            ],
        ))
        .await,
    );
    let run = fx.run().await;
    assert_eq!((run.claimed, run.failed), (3, 3), "{run:?}");
    assert_eq!(
        fx.fetcher.calls.load(Ordering::SeqCst),
        2,
        "a file announced over the limit is not fetched"
    );
    let c = fx.complaint(&ticket).await;
    assert!(c.attachments.is_empty());
    let notes: Vec<&str> = c
        .history
        .iter()
        .filter(|h| h.action == MEDIA_FAILED_ACTION)
        .filter_map(|h| h.note.as_deref())
        .collect();
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(notes[0].starts_with("Lampiran terlalu besar: dokumen (application/pdf)"));
    assert!(
        notes[0].contains("192 KB") && notes[0].contains("batas 64 KB"),
        "{}",
        notes[0]
    );
    assert!(notes[1].starts_with("Lampiran terlalu besar: video (video/mp4)"));
    assert!(notes[2].starts_with("Lampiran tidak dapat diunduh: foto (image/jpeg)"));
    assert!(notes[2].contains("HTTP 404"));
    assert!(
        notes.iter().all(|n| !n.contains("akta")),
        "no file name in notes"
    );
    fx.teardown().await;
}

fn telegram(chat: i64, message_id: i64, text: &str, file: &str, album: &str) -> Inbound {
    Inbound {
        submission: Submission {
            channel: Some(Channel::Telegram),
            external_id: Some(format!("{chat}:{message_id}")),
            handle: Some(chat.to_string()),
            body: text.into(),
            media: vec![media(MediaKind::Image, file, None, "image/jpeg")],
            ack_to: Some(AckRoute {
                channel: Channel::Telegram,
                recipient: chat.to_string(),
                thread: Default::default(),
            }),
            ..Default::default()
        },
        thread: vec![
            ThreadHint::Album(format!("{chat}:{album}")),
            ThreadHint::OpenForHandle,
        ],
        cursor: Some(Cursor::new("telegram:offset", message_id.to_string())),
    }
}

async fn album_files_join_one_complaint_of_the_same_sender(postgres: bool) {
    let fx = Fx::new(postgres).await;
    for f in ["p1", "p2", "p3"] {
        fx.fetcher
            .serve(f, Serve::Bytes("image/jpeg", f.as_bytes().to_vec()));
    }
    let ticket = created(
        fx.receive(telegram(5, 10, "Tiga foto jalan rusak", "p1", "ALB"))
            .await,
    );
    for (id, file) in [(11, "p2"), (12, "p3")] {
        let r = fx.receive(telegram(5, id, "", file, "ALB")).await;
        assert_eq!(
            r,
            Received::Appended {
                ticket: ticket.clone(),
                reopened: false
            }
        );
    }
    // A redelivered album file adds nothing, but its cursor is written.
    assert_eq!(
        fx.receive(telegram(5, 11, "", "p2", "ALB")).await,
        Received::Duplicate {
            ticket: ticket.clone()
        }
    );
    assert_eq!(
        fx.desk.intake().cursor("telegram:offset").await.unwrap(),
        Some("11".into())
    );
    let c = fx.complaint(&ticket).await;
    assert_eq!(c.messages.len(), 1, "one message for the whole album");
    assert_eq!(c.replies.len(), 1, "one acknowledgement");
    assert_eq!(fx.run().await.stored, 3);
    let c = fx.complaint(&ticket).await;
    assert_eq!(c.attachments.len(), 3);

    // Another chat naming the same album id joins nothing of ours.
    let other = created(fx.receive(telegram(6, 10, "", "p1", "ALB")).await);
    assert_ne!(other, ticket);
    fx.teardown().await;
}

async fn notices_are_recorded_once(postgres: bool) {
    let fx = Fx::new(postgres).await;
    let intake = fx.desk.intake();
    let cursor = |v: &str| Some(Cursor::new("telegram:offset", v));
    assert!(
        intake
            .notice_once(Channel::Telegram, "5:77", "poll", cursor("78"))
            .await
            .unwrap()
    );
    assert!(
        !intake
            .notice_once(Channel::Telegram, "5:77", "poll", cursor("79"))
            .await
            .unwrap()
    );
    assert_eq!(
        intake.cursor("telegram:offset").await.unwrap(),
        Some("79".into())
    );
    // Another message, or the same id on another platform, is told again.
    assert!(
        intake
            .notice_once(Channel::Telegram, "5:78", "poll", None)
            .await
            .unwrap()
    );
    assert!(
        intake
            .notice_once(Channel::Whatsapp, "5:77", "poll", None)
            .await
            .unwrap()
    );
    assert!(!fx.dump().await.contains("5:77"), "sealed");
    fx.teardown().await;
}

async fn key_rotation_reseals_jobs_and_notices(postgres: bool) {
    let fx = Fx::new(postgres).await;
    let (old, new) = (Key::generate(), Key::generate());
    let ring = |keys: Vec<Key>| Vault::new(&KeyRing::new(keys).unwrap());
    let before = aduan_store::connect(&fx.url, ring(vec![old.clone()]))
        .await
        .unwrap();
    let desk = Desk::new(
        before.clone(),
        Arc::new(fx.clock.clone()),
        desk_config([Channel::Telegram]),
    );
    let ticket = match desk
        .intake()
        .receive(telegram(5, 10, "Foto", "p1", "ALB"))
        .await
        .unwrap()
    {
        Received::Created(r) => r.ticket,
        other => panic!("{other:?}"),
    };
    assert!(
        desk.intake()
            .notice_once(Channel::Telegram, "5:99", "dice", None)
            .await
            .unwrap()
    );
    let sealed = fx.dump().await;
    drop(desk);
    drop(before);

    let during = aduan_store::connect(&fx.url, ring(vec![new.clone(), old]))
        .await
        .unwrap();
    let mut per_table = std::collections::BTreeMap::new();
    while let Some((table, n)) = during.rotate_keys_step().await.unwrap() {
        *per_table.entry(table).or_insert(0) += n;
    }
    assert_eq!(per_table.get("media_jobs"), Some(&1));
    assert_eq!(per_table.get("intake_notices"), Some(&1));
    drop(during);
    assert_ne!(fx.dump().await, sealed);

    // Under the new key alone: the album, the job key and the notice are still found.
    let after = aduan_store::connect(&fx.url, ring(vec![new]))
        .await
        .unwrap();
    let desk = Desk::new(
        after.clone(),
        Arc::new(fx.clock.clone()),
        desk_config([Channel::Telegram]),
    );
    assert_eq!(
        desk.intake()
            .receive(telegram(5, 11, "", "p2", "ALB"))
            .await
            .unwrap(),
        Received::Appended {
            ticket: ticket.clone(),
            reopened: false
        }
    );
    assert!(
        !desk
            .intake()
            .notice_once(Channel::Telegram, "5:99", "dice", None)
            .await
            .unwrap()
    );
    let jobs = after
        .claim_media(&[Channel::Telegram], fx.clock.now_utc(), MEDIA_LEASE, 10)
        .await
        .unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.source.as_str()).collect::<Vec<_>>(),
        vec!["p1", "p2"]
    );
    drop(desk);
    drop(after);
    fx.teardown().await;
}

trait NowUtc {
    fn now_utc(&self) -> chrono::DateTime<Utc>;
}

impl NowUtc for ManualClock {
    fn now_utc(&self) -> chrono::DateTime<Utc> {
        aduan_core::desk::Clock::now(self)
    }
}
