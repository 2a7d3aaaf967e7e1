//! `aduan-month`: fill a database with one big month of complaints for the big-month
//! benchmark (bench/run-big-month.sh), through the real desk and store (sealed identities,
//! history, audit entries), and create a kasi account for the staff API.
//!
//! ```text
//! aduan-month --db sqlite:///tmp/x/big.db --key-file /tmp/x/identity.key \
//!             --complaints 200000 --month 2026-03 --token kasi-bench-token-…
//! ```
//!
//! Complaints are spread evenly over the month (office time, Asia/Makassar), rotating over
//! web, e-mail and phone, four categories and realistic Indonesian texts with names and
//! numbers in them. One in three is assigned to a division after 20–80 minutes (some late),
//! one in six then gets a solution, a review and the answer (closed `selesai`, some rated),
//! one in eleven is closed `tidak`; the rest stay open, so every figure of the report has
//! data. Progress goes to stderr every 10,000 complaints.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use aduan_core::calendar::WorkCalendar;
use aduan_core::desk::{BidangInfo, Clock, Desk, DeskConfig, Submission};
use aduan_core::logbook::Month;
use aduan_core::model::NewUser;
use aduan_core::sla::{SlaDurations, SlaPolicy};
use aduan_core::types::{BidangCode, Channel, Resolution, Role, TicketPrefix, Username};
use aduan_core::workflow::{Actor, Command, ReviewDecision};
use aduan_store::{KeyRing, Vault};
use anyhow::Context;
use chrono::{DateTime, Duration, TimeZone, Utc};
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Database URL (sqlite://… or postgres://…); migrated first.
    #[arg(long)]
    db: String,
    /// The daemon's identity key file (created if missing).
    #[arg(long)]
    key_file: std::path::PathBuf,
    #[arg(long, default_value_t = 200_000)]
    complaints: usize,
    #[arg(long, default_value = "2026-03")]
    month: String,
    /// API token of the kasi account to create (`bench.kasi`).
    #[arg(long)]
    token: String,
}

/// A clock the generator sets.
struct SetClock(AtomicI64);

impl SetClock {
    fn set(&self, t: DateTime<Utc>) {
        self.0.store(t.timestamp_millis(), Ordering::SeqCst);
    }
}

impl Clock for SetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0.load(Ordering::SeqCst))
            .single()
            .unwrap_or_default()
    }
}

const TEXTS: [&str; 8] = [
    "Antrian KTP-el di kantor dinas sangat panjang, saya sudah menunggu dari pagi",
    "KTP-el saya belum dicetak karena blangko habis, sudah dua bulan menunggu",
    "Akta kelahiran anak saya belum terbit padahal berkas lengkap, mohon dibantu",
    "Petugas loket kurang ramah dan tidak menjelaskan syarat pindah domisili",
    "Kartu keluarga salah penulisan nama ibu, mohon diperbaiki segera",
    "Website antrian online tidak bisa dibuka sejak kemarin, server error",
    "Perekaman KTP-el di kecamatan ditunda terus karena jaringan putus",
    "Akta kematian ayah saya belum bisa diambil, katanya tanda tangan elektronik bermasalah",
];
const NAMES: [&str; 6] = [
    "Made Sudarma",
    "Ni Luh Ayu Lestari",
    "Komang Wirawan",
    "Putu Eka Saputra",
    "Ketut Arsana",
    "Gede Pramana",
];
const CATEGORIES: [&str; 4] = [
    "pelayanan",
    "sarana_prasarana",
    "perilaku_pegawai",
    "lain_lain",
];

fn config(tz: chrono_tz::Tz) -> anyhow::Result<DeskConfig> {
    let bidang = |code: &str, name: &str| -> anyhow::Result<BidangInfo> {
        Ok(BidangInfo {
            code: BidangCode::parse(code)?,
            name: name.into(),
            keywords: Vec::new(),
        })
    };
    Ok(DeskConfig {
        office_name: "Dinas Kependudukan dan Pencatatan Sipil Kabupaten Buleleng".into(),
        ticket_prefix: TicketPrefix::parse("ADU")?,
        policy: SlaPolicy::new(WorkCalendar::always_open(tz), SlaDurations::default()),
        bidang: vec![
            bidang("dafduk", "Bidang Pelayanan Pendaftaran Penduduk")?,
            bidang("capil", "Bidang Pelayanan Pencatatan Sipil")?,
        ],
        reply_channels: Default::default(),
        public_base_url: "http://127.0.0.1:8080".into(),
    })
}

fn staff(role: Role, bidang: Option<&str>) -> Actor {
    Actor::Staff {
        username: format!("bench.{}", role.as_str()),
        role,
        bidang: bidang.and_then(|b| BidangCode::parse(b).ok()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let tz = chrono_tz::Asia::Makassar;
    let month = Month::parse(&a.month).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (ring, _) =
        KeyRing::load_or_create(&a.key_file).map_err(|e| anyhow::anyhow!("key file: {e}"))?;
    let store = aduan_store::connect(&a.db, Vault::new(&ring))
        .await
        .context("opening the database")?;
    store.migrate().await.context("migrating")?;
    let (from, to) = month.range(tz);
    let clock = Arc::new(SetClock(AtomicI64::new(from.timestamp_millis())));
    let desk = Desk::new(store, clock.clone(), config(tz)?);
    desk.accounts()
        .create(
            &Actor::System,
            NewUser {
                username: Username::parse("bench.kasi")?,
                role: Role::Kasi,
                bidang: None,
                display_name: None,
                token_hash: aduan_core::secret::hash_secret(&a.token),
                password_hash: None,
                created_at: from,
            },
        )
        .await
        .context("creating the kasi")?;
    let (kasi, staf) = (staff(Role::Kasi, None), staff(Role::Staf, None));
    let step = (to - from) / a.complaints.max(1) as i32;
    let started = Instant::now();
    for i in 0..a.complaints {
        let at = from + step * i as i32;
        clock.set(at);
        let channel = [Channel::Web, Channel::Email, Channel::Phone][i % 3];
        let digital = channel != Channel::Phone;
        let name = NAMES[i % NAMES.len()];
        let sub = Submission {
            channel: Some(channel),
            name: Some(name.into()),
            email: digital.then(|| format!("warga{i}@example.com")),
            phone: Some(format!("0812{:08}", i % 100_000_000)),
            category: (!i.is_multiple_of(5)).then(|| CATEGORIES[i % CATEGORIES.len()].into()),
            body: format!(
                "{}. Nama saya {name}, nomor {}. (laporan #{i})",
                TEXTS[i % TEXTS.len()],
                5108_0000_0000_0000u64 + i as u64
            ),
            with_access_code: digital,
            ..Default::default()
        };
        let r = if digital {
            desk.intake().submit(sub).await
        } else {
            desk.staff().manual_entry(&staf, sub).await
        }
        .map_err(|e| anyhow::anyhow!("complaint {i}: {e}"))?;
        let t = r.ticket.to_string();
        let bidang = ["dafduk", "capil"][i % 2];
        let mut now = at;
        let mut act = async |actor: &Actor, minutes: i64, cmd: Command| -> anyhow::Result<()> {
            now += Duration::minutes(minutes);
            clock.set(now);
            desk.staff()
                .act(actor, &t, cmd)
                .await
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("{t}: {e}"))
        };
        if i % 11 == 4 {
            act(
                &kasi,
                10 + (i % 50) as i64,
                Command::Close {
                    status: Resolution::Tidak,
                    reason: "bukan wewenang dinas".into(),
                },
            )
            .await?;
        } else if i.is_multiple_of(3) {
            act(
                &kasi,
                20 + (i % 61) as i64,
                Command::Assign {
                    bidang: BidangCode::parse(bidang)?,
                    note: None,
                },
            )
            .await?;
            if i.is_multiple_of(6) {
                let division = staff(Role::Bidang, Some(bidang));
                act(
                    &division,
                    30 + (i % 400) as i64,
                    Command::Solution {
                        text: format!("Sudah ditindaklanjuti, dokumen tiket {t} siap diambil."),
                    },
                )
                .await?;
                act(
                    &kasi,
                    5 + (i % 30) as i64,
                    Command::Review {
                        decision: ReviewDecision::Approve,
                        note: None,
                    },
                )
                .await?;
                act(
                    &staf,
                    5 + (i % 90) as i64,
                    Command::FollowUp {
                        message: "Dokumen Bapak/Ibu sudah dapat diambil di loket 3.".into(),
                    },
                )
                .await?;
                if let Some(code) = r.access_code.as_deref().filter(|_| i.is_multiple_of(12)) {
                    desk.intake()
                        .rate(&t, code, 1 + (i % 5) as i64, None)
                        .await
                        .map_err(|e| anyhow::anyhow!("{t}: rating: {e}"))?;
                }
            }
        }
        if (i + 1).is_multiple_of(10_000) {
            eprintln!(
                "[aduan-month] {} complaints, {:.0} s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!(
        "[aduan-month] {} complaints in {month} written in {:.0} s",
        a.complaints,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
