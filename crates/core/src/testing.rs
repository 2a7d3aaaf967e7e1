//! Test support, behind the `testing` feature (never in a production build): a clock tests
//! move by hand and a desk configuration for Buleleng that test harnesses share.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::calendar::WorkCalendar;
use crate::desk::{BidangInfo, Clock, DeskConfig};
use crate::sla::{SlaDurations, SlaPolicy};
use crate::types::{BidangCode, Channel, TicketPrefix};

/// A clock tests move by hand; clones share the time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(t: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(Mutex::new(t)))
    }
    /// Move the clock by `d` (negative moves it back).
    pub fn advance(&self, d: chrono::Duration) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) += d;
    }
    /// Set the clock to `t`.
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The office name every test desk uses.
pub const OFFICE: &str = "Dinas Kependudukan dan Pencatatan Sipil Kabupaten Buleleng";

/// A desk configuration for tests: the Buleleng office, prefix `ADU`, clocks running 24/7
/// with the default standard times, the `dafduk` and `capil` divisions, replies queued for
/// `reply_channels`.
pub fn desk_config(reply_channels: impl IntoIterator<Item = Channel>) -> DeskConfig {
    DeskConfig {
        office_name: OFFICE.into(),
        ticket_prefix: TicketPrefix::parse("ADU").expect("static prefix"),
        policy: SlaPolicy::new(
            WorkCalendar::always_open(chrono_tz::Asia::Makassar),
            SlaDurations::default(),
        ),
        bidang: vec![
            BidangInfo {
                code: BidangCode::parse("dafduk").expect("static code"),
                name: "Bidang Pelayanan Pendaftaran Penduduk".into(),
                keywords: ["ktp", "kk", "kartu keluarga", "pindah"]
                    .map(String::from)
                    .to_vec(),
            },
            BidangInfo {
                code: BidangCode::parse("capil").expect("static code"),
                name: "Bidang Pelayanan Pencatatan Sipil".into(),
                keywords: ["akta", "kelahiran"].map(String::from).to_vec(),
            },
        ],
        reply_channels: reply_channels.into_iter().collect::<HashSet<_>>(),
        public_base_url: "http://127.0.0.1:8080".into(),
    }
}

/// Health reports a channel sent through its callback, in order.
#[derive(Clone, Default)]
pub struct HealthLog(pub Arc<Mutex<Vec<Option<String>>>>);

impl HealthLog {
    /// A health callback (`Some(error)` / `None`) that records into this log.
    pub fn reporter(&self) -> Arc<dyn Fn(Option<String>) + Send + Sync> {
        let log = self.0.clone();
        Arc::new(move |e| log.lock().unwrap_or_else(|p| p.into_inner()).push(e))
    }
    /// The latest report, if any.
    pub fn last(&self) -> Option<Option<String>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last()
            .cloned()
    }
    /// Every report so far.
    pub fn all(&self) -> Vec<Option<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub mod logs;
pub mod privacy;
pub use logs::LogCapture;
pub use privacy::{Citizen, PrivacyOracle};
