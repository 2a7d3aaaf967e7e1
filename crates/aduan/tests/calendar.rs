//! The holiday calendar as shipped: `config/aduan.toml` loads every `config/holidays-*.toml`,
//! no working minute is counted on a listed holiday across the 2026/2027 boundary (checked
//! against an oracle that reads the files itself), and from December 1 a missing next year
//! is a warning on `/readyz` and in the log (with an injected date).

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use aduan_core::calendar::WorkCalendar;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use common::{Backend, ManualClock, Options, spawn};
use proptest::prelude::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The calendar of the shipped config, as `aduan serve` builds it.
fn shipped_calendar() -> WorkCalendar {
    let path = root().join("config/aduan.toml");
    let rt = aduan::config::load(&path, Vec::<(String, String)>::new())
        .unwrap()
        .validate(&path)
        .unwrap_or_else(|e| panic!("shipped config does not validate: {e:?}"));
    rt.policy.calendar.clone()
}

/// The oracle: holiday dates read straight from the files (all kinds, as the shipped
/// config observes all three), and the shipped weekday hours written out by hand.
fn listed_holidays() -> BTreeSet<NaiveDate> {
    let mut out = BTreeSet::new();
    for year in [2026, 2027] {
        let text =
            std::fs::read_to_string(root().join(format!("config/holidays-{year}.toml"))).unwrap();
        let v: toml::Value = toml::from_str(&text).unwrap();
        for h in v["holiday"].as_array().unwrap() {
            let d: NaiveDate = h["date"].as_str().unwrap().parse().unwrap();
            assert_eq!(d.year(), year, "{d} in the file of {year}");
            out.insert(d);
        }
    }
    out
}

/// Perbup Buleleng 56/2025 hours (config/aduan.toml), minute of the local day.
fn oracle_working(local: chrono::NaiveDateTime, holidays: &BTreeSet<NaiveDate>) -> bool {
    if holidays.contains(&local.date()) {
        return false;
    }
    let m = local.hour() * 60 + local.minute();
    let within = |a: (u32, u32), b: (u32, u32)| m >= a.0 * 60 + a.1 && m < b.0 * 60 + b.1;
    match local.weekday().num_days_from_monday() {
        0..=3 => within((7, 30), (12, 0)) || within((12, 45), (16, 0)),
        4 => within((7, 0), (11, 0)) || within((11, 30), (14, 0)),
        _ => false,
    }
}

fn wita(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Makassar
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn shipped_files_cover_2026_and_2027_and_close_the_known_days() {
    let cal = shipped_calendar();
    assert!(cal.known_years().is_superset(&[2026, 2027].into()));
    let holidays = listed_holidays();
    // Galungan falls on 13 January 2027; Nyepi and Idulfitri 1448 in March.
    for d in [
        "2027-01-13",
        "2027-01-01",
        "2027-03-08",
        "2027-03-10",
        "2027-12-25",
    ] {
        let d: NaiveDate = d.parse().unwrap();
        assert!(holidays.contains(&d) && cal.is_holiday(d), "{d}");
    }
    // Not one working second on any listed day.
    for d in &holidays {
        let start = chrono_tz::Asia::Makassar
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            cal.elapsed_working_time(start, start + Duration::days(1)),
            Duration::zero(),
            "{d} counts working time"
        );
    }
    // No warning on 1 December 2026 (2027 is shipped); on 1 December 2027, 2028 is missing.
    assert_eq!(cal.next_year_warning(wita(2026, 12, 1, 8, 0)), None);
    assert_eq!(
        cal.next_year_warning(wita(2027, 12, 1, 8, 0))
            .map(|m| m.year),
        Some(2028)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// From any minute between mid-November 2026 and the end of February 2027, any
    /// standard time up to 40 working hours ends where the oracle's minute walk ends, and
    /// the walk never counts a minute of a listed holiday.
    #[test]
    fn no_working_minute_on_a_listed_holiday_across_the_year_boundary(
        day in 0i64..105, minute in 0i64..1440, dur in 1i64..2400,
    ) {
        static CAL: OnceLock<(WorkCalendar, BTreeSet<NaiveDate>)> = OnceLock::new();
        let (cal, holidays) = CAL.get_or_init(|| (shipped_calendar(), listed_holidays()));
        let start = wita(2026, 11, 15, 0, 0) + Duration::days(day) + Duration::minutes(minute);
        let end = cal.add_working_time(start, Duration::minutes(dur));
        let tz = chrono_tz::Asia::Makassar;
        let mut t = start;
        let mut counted = 0;
        while t < end {
            let local = t.with_timezone(&tz).naive_local();
            if oracle_working(local, holidays) {
                counted += 1;
            } else {
                prop_assert!(
                    !cal.is_working(t),
                    "{} counted as working (listed holiday or closed hour)",
                    local
                );
            }
            t += Duration::minutes(1);
        }
        prop_assert_eq!(counted, dur, "from {} to {}", start.with_timezone(&tz), end.with_timezone(&tz));
        prop_assert!(oracle_working((end - Duration::minutes(1)).with_timezone(&tz).naive_local(), holidays));
    }
}

/// A writer into a shared buffer, for the log assertions.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);
impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        logs
    })
    .clone()
}

async fn december_warning_on_readyz_and_in_the_log(b: Backend) {
    let logs = logs();
    // The test config knows 2026 only; business hours on; the clock says 1 December.
    let clock = ManualClock::new(wita(2026, 12, 1, 8, 0));
    let mut o = Options::new(b);
    o.business_hours = true;
    o.clock = Some(Arc::new(clock.clone()));
    let app = spawn(o).await;
    let (status, v) = app.get_json("/readyz", None).await;
    assert_eq!(
        status, 200,
        "a warning does not make the replica unready: {v}"
    );
    let w = v["warnings"].as_array().unwrap();
    assert_eq!(w.len(), 1, "{v}");
    assert!(w[0].as_str().unwrap().contains("holidays-2027.toml"), "{v}");
    let mut seen = false;
    for _ in 0..100 {
        let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
        if text.contains("WARN") && text.contains("no holidays for 2027") {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(seen, "no calendar warning in the log");
    // 30 November: no warning.
    clock.advance(-Duration::days(1));
    let (_, v) = app.get_json("/readyz", None).await;
    assert_eq!(v["warnings"], serde_json::json!([]), "{v}");
    // With the shipped files (2026 and 2027) December 2026 is fine.
    let mut o = Options::new(b);
    o.business_hours = true;
    o.clock = Some(Arc::new(ManualClock::new(wita(2026, 12, 1, 8, 0))));
    o.holidays = "config/holidays-*.toml";
    let app = spawn(o).await;
    let (_, v) = app.get_json("/readyz", None).await;
    assert_eq!(v["warnings"], serde_json::json!([]), "{v}");
}

on_both_backends!(december_warning_on_readyz_and_in_the_log);
