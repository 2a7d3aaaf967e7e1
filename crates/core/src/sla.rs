//! Standard times per SOP step and the due-time policy.

use chrono::{DateTime, Duration, Utc};

use crate::calendar::WorkCalendar;
use crate::types::Step;

/// Standard time of each step (SOP "Mutu Baku").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaDurations {
    pub receive: Duration,
    pub triage: Duration,
    pub resolve: Duration,
    pub review: Duration,
    pub follow_up: Duration,
    pub report_decide: Duration,
    pub report_receive: Duration,
}

impl Default for SlaDurations {
    /// The SOP-PDIP-03 standard times.
    fn default() -> Self {
        SlaDurations {
            receive: Duration::minutes(10),
            triage: Duration::minutes(5),
            resolve: Duration::hours(1),
            review: Duration::minutes(15),
            follow_up: Duration::minutes(20),
            report_decide: Duration::hours(1),
            report_receive: Duration::minutes(5),
        }
    }
}

impl SlaDurations {
    pub fn of(&self, step: Step) -> Duration {
        match step {
            Step::Receive => self.receive,
            Step::Triage => self.triage,
            Step::Resolve => self.resolve,
            Step::Review => self.review,
            Step::FollowUp => self.follow_up,
            Step::ReportDecide => self.report_decide,
            Step::ReportReceive => self.report_receive,
        }
    }
}

/// Working days a question to the citizen waits by default (SPEC §2 `wait_citizen_days`).
pub const DEFAULT_WAIT_CITIZEN_DAYS: u32 = 10;

/// Calendar plus standard times: computes due times.
#[derive(Debug, Clone)]
pub struct SlaPolicy {
    pub calendar: WorkCalendar,
    pub durations: SlaDurations,
    /// Working days an unanswered question waits before the complaint closes `tidak`.
    pub wait_citizen_days: u32,
}

impl SlaPolicy {
    pub fn new(calendar: WorkCalendar, durations: SlaDurations) -> Self {
        SlaPolicy {
            calendar,
            durations,
            wait_citizen_days: DEFAULT_WAIT_CITIZEN_DAYS,
        }
    }

    /// The same policy with another wait for the citizen's answer.
    pub fn with_wait_citizen_days(mut self, days: u32) -> Self {
        self.wait_citizen_days = days;
        self
    }

    /// When a question asked at `asked_at` stops waiting (the end of the
    /// `wait_citizen_days`-th working day after it).
    pub fn wait_deadline(&self, asked_at: DateTime<Utc>) -> DateTime<Utc> {
        self.calendar
            .after_working_days(asked_at, self.wait_citizen_days)
    }
    /// Due time of `step` started at `start`, counted in working time.
    pub fn due(&self, step: Step, start: DateTime<Utc>) -> DateTime<Utc> {
        self.calendar
            .add_working_time(start, self.durations.of(step))
    }
}
