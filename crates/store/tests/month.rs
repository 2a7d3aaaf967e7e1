//! A month read without loading it, on SQLite and PostgreSQL: the report's figures
//! aggregated by the database equal the in-memory computation over every complaint
//! (`report::build`, kept as the oracle), and the logbook read page by page equals the
//! logbook of all rows at once.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use aduan_core::desk::{Desk, Submission};
use aduan_core::logbook::{self, LogbookPages, Masking, Month};
use aduan_core::report;
use aduan_core::store::Store;
use aduan_core::testing::{ManualClock, desk_config};
use aduan_core::types::{BidangCode, Channel, Resolution, Role};
use aduan_core::workflow::{Actor, Command, ReviewDecision};
use aduan_store::testing::{self, FaultStore, connect};

fn wita(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Makassar
        .with_ymd_and_hms(2026, 3, d, h, m, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn staff(role: Role, bidang: Option<&str>) -> Actor {
    Actor::Staff {
        username: format!("{}.test", role.as_str()),
        role,
        bidang: bidang.map(|b| BidangCode::parse(b).unwrap()),
    }
}

const TEXTS: [&str; 6] = [
    "Antrian KTP-el sangat panjang di kantor, saya Made Sudarma menunggu lama",
    "KTP-el belum dicetak karena blangko habis, sudah dua bulan",
    "Akta kelahiran anak saya belum terbit, hubungi 081234567890",
    "Antrian KTP-el di loket pagi tidak tertib, petugas kurang",
    "Kartu keluarga salah nama, mohon diperbaiki segera",
    "Blangko habis lagi untuk KTP-el, kapan tersedia?",
];

/// A varied month: complaints on several channels and categories, some routed, answered,
/// closed `tidak`, rated, breached or still running; plus a few in February and April.
async fn fill(desk: &Desk, clock: &ManualClock, n: usize) {
    let kasi = staff(Role::Kasi, None);
    let dafduk = staff(Role::Bidang, Some("dafduk"));
    let staf = staff(Role::Staf, None);
    // Two in February.
    clock.set(wita(1, 0, 0) - Duration::hours(30));
    for i in 0..2 {
        submit(desk, i, Channel::Web).await;
    }
    clock.set(wita(2, 8, 0));
    let mut tickets = Vec::new();
    for i in 0..n {
        let channel = [Channel::Web, Channel::Email, Channel::Phone][i % 3];
        let (t, code) = submit(desk, i, channel).await;
        tickets.push((t, code));
        clock.advance(Duration::minutes(7 + (i as i64 * 13) % 50));
    }
    for (i, (t, code)) in tickets.iter().enumerate() {
        clock.advance(Duration::minutes(1 + (i as i64 * 17) % 90));
        match i % 7 {
            0..=3 => {
                act(desk, &kasi, t, assign()).await;
                if i % 7 == 3 {
                    continue; // stays with the bidang
                }
                clock.advance(Duration::minutes(20 + (i as i64 * 31) % 300));
                act(
                    desk,
                    &dafduk,
                    t,
                    Command::Solution {
                        text: format!("Sudah dicetak, silakan ambil (tiket {t})."),
                    },
                )
                .await;
                if i % 7 == 2 {
                    continue; // waits for review
                }
                clock.advance(Duration::minutes(3 + i as i64 % 40));
                act(
                    desk,
                    &kasi,
                    t,
                    Command::Review {
                        decision: ReviewDecision::Approve,
                        note: None,
                    },
                )
                .await;
                clock.advance(Duration::minutes(5 + i as i64 % 70));
                act(
                    desk,
                    &staf,
                    t,
                    Command::FollowUp {
                        message: "KTP-el sudah dapat diambil.".into(),
                    },
                )
                .await;
                if let Some(code) = code {
                    desk.intake()
                        .rate(t, code, 1 + (i as i64 % 5), None)
                        .await
                        .unwrap();
                }
            }
            4 => {
                act(
                    desk,
                    &kasi,
                    t,
                    Command::Close {
                        status: Resolution::Tidak,
                        reason: "bukan wewenang".into(),
                    },
                )
                .await;
            }
            _ => {} // stays in triage, overdue by the month's end
        }
    }
    // Two in April.
    clock.set(wita(31, 12, 0) + Duration::days(1));
    for i in 0..2 {
        submit(desk, 100 + i, Channel::Web).await;
    }
}

fn assign() -> Command {
    Command::Assign {
        bidang: BidangCode::parse("dafduk").unwrap(),
        note: None,
    }
}

async fn submit(desk: &Desk, i: usize, channel: Channel) -> (String, Option<String>) {
    let web = channel != Channel::Phone;
    let sub = Submission {
        channel: Some(channel),
        name: Some(["Made Sudarma", "Ni Luh Ayu", "Komang Wirawan"][i % 3].into()),
        email: web.then(|| format!("warga{i}@example.com")),
        phone: (channel == Channel::Phone).then(|| "081234567890".into()),
        category: (!i.is_multiple_of(4))
            .then(|| ["pelayanan", "sarana_prasarana", "perilaku_pegawai"][i % 3].into()),
        body: format!("{} (laporan {i})", TEXTS[i % TEXTS.len()]),
        with_access_code: web,
        ..Default::default()
    };
    let r = if web {
        desk.intake().submit(sub).await.unwrap()
    } else {
        desk.staff()
            .manual_entry(&staff(Role::Staf, None), sub)
            .await
            .unwrap()
    };
    (r.ticket.to_string(), r.access_code)
}

async fn act(desk: &Desk, actor: &Actor, ticket: &str, cmd: Command) {
    desk.staff()
        .act(actor, ticket, cmd)
        .await
        .unwrap_or_else(|e| panic!("{ticket}: {e}"));
}

async fn month_both_ways(store: Arc<dyn Store>) {
    store.migrate().await.unwrap();
    let fault = Arc::new(FaultStore::new(store.clone()));
    let clock = ManualClock::new(wita(2, 8, 0));
    let desk = Desk::new(fault.clone(), Arc::new(clock.clone()), desk_config([]));
    fill(&desk, &clock, 45).await;
    let month = Month::parse("2026-03").unwrap();
    let tz = chrono_tz::Asia::Makassar;
    let (from, to) = month.range(tz);

    // The oracle: every complaint in memory.
    let records = store.complaints_received_between(from, to).await.unwrap();
    assert_eq!(records.len(), 45);
    let (pf, pt) = month.prev().range(tz);
    let prev = store.complaints_received_between(pf, pt).await.unwrap();
    let mut expected = report::build(month, &records, &prev, to);
    let calendar = &desk.config().policy.calendar;
    expected.set_overruns(to, |a, b| {
        calendar.signed_working_time(a, b).num_seconds() as f64 / 60.0
    });
    let got = desk.reports().compute_report(month).await.unwrap();
    // The trend and the moment come from the store and the clock, not from the records.
    assert_eq!(got.as_of, Some(to));
    assert_eq!(got.trend.len(), 12);
    assert_eq!(got.trend[11].complaints, 45);
    assert_eq!(got.trend[10].complaints, 2, "the month before");
    expected.as_of = got.as_of;
    expected.trend = got.trend.clone();
    assert_eq!(got, expected);
    assert!(
        got.breaches
            .iter()
            .all(|b| b.overrun_minutes.is_some_and(|m| m > 0.0)),
        "{:?}",
        got.breaches
    );
    // The month is not trivial: every family of figures has something in it.
    assert_eq!(got.change.previous_complaints, 2);
    assert!(
        got.totals.by_status.len() == 3,
        "{:?}",
        got.totals.by_status
    );
    assert!(got.steps.iter().all(|s| s.count > 0), "{:?}", got.steps);
    assert!(got.breaches.iter().any(|b| b.done_at.is_none()));
    assert!(got.breaches.iter().any(|b| b.done_at.is_some()));
    assert!(got.backlog.open > 0 && got.satisfaction.count > 0);
    assert!(!got.frequent_problems.is_empty());

    // The logbook page by page (pages of 4) equals all rows at once, masked or not.
    for masking in [Masking::None, Masking::Identity] {
        let all = logbook::rows(&records, masking);
        let before = fault.pages_read.load(std::sync::atomic::Ordering::SeqCst);
        let paged = LogbookPages::new(fault.clone(), (from, to), masking, all.len())
            .with_page_rows(4)
            .collect()
            .await
            .unwrap();
        let pages = fault.pages_read.load(std::sync::atomic::Ordering::SeqCst) - before;
        assert_eq!(pages, 45 / 4 + 1, "one query per page");
        assert_eq!(
            logbook::to_csv(&paged, tz),
            logbook::to_csv(&all, tz),
            "{masking:?}"
        );
        assert_eq!(
            serde_json::to_value(&paged).unwrap(),
            serde_json::to_value(&all).unwrap()
        );
    }

    // A running month (now: 1 April, 12:00 WITA): ages as of now — the two April complaints
    // were filed today — and a step nothing completed has nothing to measure ("—").
    let april = Month::parse("2026-04").unwrap();
    let running = desk.reports().compute_report(april).await.unwrap();
    assert_eq!(running.totals.complaints, 2);
    assert_eq!(running.backlog.open, 2);
    assert_eq!(running.backlog.under_1_day, 2, "{:?}", running.backlog);
    let empty: Vec<_> = running.steps.iter().filter(|s| s.count == 0).collect();
    assert!(!empty.is_empty(), "{:?}", running.steps);
    for s in empty {
        assert!(
            s.within_standard_pct.is_none()
                && s.median_minutes.is_none()
                && s.p90_minutes.is_none(),
            "{s:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_month_aggregated_equals_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let store = connect(&testing::fresh_sqlite_url(dir.path()))
        .await
        .unwrap();
    month_both_ways(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_month_aggregated_equals_in_memory() {
    let url = testing::fresh_postgres_url().await;
    let store = connect(&url).await.unwrap();
    month_both_ways(store.clone()).await;
    drop(store);
    testing::drop_postgres_database(&url).await;
}

/// A download its client drops cancels the logbook page being read. On PostgreSQL a read
/// cancelled inside sqlx's `BEGIN` left its pooled connection in a read-only transaction,
/// and the next write on that connection failed ("cannot execute INSERT in a read-only
/// transaction", a 500). Reads cancelled at every point of their first page must leave
/// every connection of the pool writable.
async fn dropped_downloads_leave_every_connection_writable(store: Arc<dyn Store>) {
    store.migrate().await.unwrap();
    let clock = ManualClock::new(wita(2, 8, 0));
    let desk = Desk::new(store.clone(), Arc::new(clock.clone()), desk_config([]));
    for i in 0..3 {
        submit(&desk, i, Channel::Web).await;
    }
    let range = Month::parse("2026-03")
        .unwrap()
        .range(chrono_tz::Asia::Makassar);
    for i in 0..300 {
        let mut pages = LogbookPages::new(store.clone(), range, Masking::None, 3);
        // Cut after 0–59 yields: the database answers in between, so the cut lands at every
        // point of the read (pool check-out, BEGIN, the queries, COMMIT).
        let cut = async {
            for _ in 0..(i % 60) {
                tokio::task::yield_now().await;
            }
        };
        tokio::select! {
            biased;
            _ = pages.next_page() => {}
            _ = cut => {}
        }
        drop(pages);
        // Panics on a failed write.
        submit(&desk, 10 + i, Channel::Web).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_dropped_downloads_leave_every_connection_writable() {
    let dir = tempfile::tempdir().unwrap();
    let store = connect(&testing::fresh_sqlite_url(dir.path()))
        .await
        .unwrap();
    dropped_downloads_leave_every_connection_writable(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dropped_downloads_leave_every_connection_writable() {
    let url = testing::fresh_postgres_url().await;
    let store = connect(&url).await.unwrap();
    dropped_downloads_leave_every_connection_writable(store.clone()).await;
    drop(store);
    testing::drop_postgres_database(&url).await;
}
