//! The health entry shared by the Meta senders.
//!
//! Invariants: one entry per platform; the callback is called only when the set of
//! errors changes, with all current errors joined (`platform: error; …`) or `None` once
//! every platform has recovered.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::HealthFn;

/// The last error of each platform, reported together through the health callback.
pub(crate) struct HealthBoard {
    report: HealthFn,
    errors: Mutex<BTreeMap<&'static str, String>>,
}

impl HealthBoard {
    pub(crate) fn new(report: HealthFn) -> Self {
        HealthBoard {
            report,
            errors: Mutex::new(BTreeMap::new()),
        }
    }

    pub(super) fn set(&self, platform: &'static str, error: Option<String>) {
        let summary = {
            let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
            let changed = match &error {
                Some(e) => errors.insert(platform, e.clone()).as_ref() != Some(e),
                None => errors.remove(platform).is_some(),
            };
            if !changed {
                return;
            }
            (!errors.is_empty()).then(|| {
                errors
                    .iter()
                    .map(|(p, e)| format!("{p}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        };
        (self.report)(summary);
    }
}
