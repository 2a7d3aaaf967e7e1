//! The monthly report (SOP steps 6–8): figures computed from the month's logbook.
//!
//! Pure functions over complaint records: totals by channel, category, bidang and status;
//! per-step compliance (count, % within the standard time, median and p90 working minutes);
//! open backlog by age; breaches with the responsible role; the most frequent problems
//! (recurring words and phrases, Indonesian stop words removed, with example tickets); and the
//! change against the previous month. No complainant identity appears anywhere in it: texts
//! are masked and names of complainants are never counted as terms.

use std::collections::BTreeMap;

use foldhash::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::logbook::Month;
use crate::model::{ComplaintRecord, Identity};
pub use crate::problems::{
    Analysed, Analysis, Problem, ProblemCounter, TermTally, analyse, frequent, frequent_tallied,
};
use crate::types::{Channel, Role, State, Step};

/// Totals of the month.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub complaints: usize,
    pub by_channel: BTreeMap<String, usize>,
    pub by_category: BTreeMap<String, usize>,
    pub by_bidang: BTreeMap<String, usize>,
    /// `selesai`, `tidak`, or `open` for complaints not yet closed.
    pub by_status: BTreeMap<String, usize>,
}

/// Compliance of one SOP step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFigures {
    pub step: Step,
    pub number: u8,
    pub count: usize,
    pub within_standard: usize,
    /// `None` (JSON `null`, "—" on the page) when no complaint completed the step: there
    /// was nothing to measure, which is not "100 % on time".
    #[serde(default)]
    pub within_standard_pct: Option<f64>,
    #[serde(default)]
    pub median_minutes: Option<f64>,
    #[serde(default)]
    pub p90_minutes: Option<f64>,
    /// Who is responsible for the step (SOP-PDIP-03).
    #[serde(default)]
    pub responsible: Option<Role>,
}

/// One entry of the ISO 9001 risk register (clause 6.1) from the Kasi's conclusion: a
/// frequent problem as a risk, with its cause, how many complaints showed it, the control
/// proposed and who owns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskEntry {
    pub risk: String,
    #[serde(default)]
    pub cause: String,
    #[serde(default)]
    pub frequency: usize,
    #[serde(default)]
    pub control: String,
    #[serde(default)]
    pub owner: String,
}

impl RiskEntry {
    /// The entry as it leaves the office (the ISO coordinator's mail, the register files):
    /// e-mail addresses, NIKs and phone numbers the Kasi may have typed are masked.
    pub fn masked(&self) -> RiskEntry {
        RiskEntry {
            risk: crate::mask::mask_text(&self.risk),
            cause: crate::mask::mask_text(&self.cause),
            frequency: self.frequency,
            control: crate::mask::mask_text(&self.control),
            owner: crate::mask::mask_text(&self.owner),
        }
    }
}

/// A breached step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    pub ticket: String,
    pub step: Step,
    pub responsible: Role,
    pub due_at: Option<DateTime<Utc>>,
    pub done_at: Option<DateTime<Utc>>,
    /// Working minutes past the due time: until the step was done, or until the report's
    /// moment for a step still running.
    #[serde(default)]
    pub overrun_minutes: Option<f64>,
}

/// Complainants who filed more than one complaint in the month (the same e-mail address,
/// phone number or chat account), counted by digest ([`ContactCounter`]): no identity is
/// kept or shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeats {
    /// People with two or more complaints.
    pub complainants: usize,
    /// Their complaints.
    pub complaints: usize,
}

/// One of the report's own steps (SOP 6–8) of the previous month's report, shown in this
/// month's report with its clock: the figures delivered, the Kasi's conclusion, the Kepala
/// Dinas's decision, the Kasi's receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportStep {
    /// The month the report covers.
    pub month: String,
    /// SOP step number (6, 6, 7, 8).
    pub number: u8,
    /// `figures`, `conclusion`, `decision` or `receipt`.
    pub key: String,
    pub responsible: Role,
    pub due_at: Option<DateTime<Utc>>,
    pub done_at: Option<DateTime<Utc>>,
    pub breached: bool,
    /// Working minutes past the due time (done late, or still not done at the report's moment).
    pub overrun_minutes: Option<f64>,
}

/// One month of the 12-month trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    pub month: String,
    pub complaints: usize,
    /// Completed steps 1–5 within their standard time, in percent; `None` when none completed.
    pub on_time_pct: Option<f64>,
}

/// Open complaints by age at the end of the month.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Backlog {
    pub open: usize,
    pub under_1_day: usize,
    pub days_1_to_7: usize,
    pub days_8_to_30: usize,
    pub over_30_days: usize,
}

/// Month-on-month change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub previous_month: String,
    pub previous_complaints: usize,
    pub complaints_delta: i64,
    pub complaints_delta_pct: Option<f64>,
}

/// The citizens' ratings of the month's complaints (SPEC §3: 1–5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Satisfaction {
    /// Complaints of the month rated by their citizen.
    pub count: usize,
    /// Mean score, one decimal (None without ratings).
    pub average: Option<f64>,
    /// Ratings per score `"1"` … `"5"`.
    pub by_score: BTreeMap<String, usize>,
}

/// Breaches a report lists (the first in receipt order; the digest mail shows 50 of them,
/// the logbook attached to it every line). The total is counted apart, so a month of
/// hundreds of thousands of late steps does not make a report of as many entries.
pub const BREACHES_LISTED: usize = 200;

/// The monthly report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlyReport {
    pub month: String,
    pub totals: Totals,
    pub steps: Vec<StepFigures>,
    pub frequent_problems: Vec<Problem>,
    pub backlog: Backlog,
    /// The first [`BREACHES_LISTED`] breaches in receipt order (the logbook has them all).
    pub breaches: Vec<Breach>,
    /// All breaches of the month; reports stored before it was kept read back 0 (their
    /// list is whole: see [`MonthlyReport::breach_count`]).
    #[serde(default)]
    pub breaches_total: usize,
    pub change: Change,
    /// Reports stored before ratings existed read back without it.
    #[serde(default)]
    pub satisfaction: Satisfaction,
    #[serde(default)]
    pub repeat_complainants: Repeats,
    /// Steps 6–8 of the previous month's report, with their clocks.
    #[serde(default)]
    pub report_steps: Vec<ReportStep>,
    /// The 12 months up to this one, oldest first.
    #[serde(default)]
    pub trend: Vec<TrendPoint>,
    /// The report's moment: the month's end, or when it was computed for a running month
    /// (backlog ages and running overruns are as of then).
    #[serde(default)]
    pub as_of: Option<DateTime<Utc>>,
}

impl MonthlyReport {
    /// Completed steps 1–5 within their standard time, in percent (one decimal); `None`
    /// when no step completed.
    pub fn on_time_pct(&self) -> Option<f64> {
        let count: usize = self.steps.iter().map(|s| s.count).sum();
        let within: usize = self.steps.iter().map(|s| s.within_standard).sum();
        (count > 0).then(|| round1(within as f64 * 100.0 / count as f64))
    }

    /// All breaches of the month (a report stored before the total was kept lists them all).
    pub fn breach_count(&self) -> usize {
        self.breaches_total.max(self.breaches.len())
    }

    /// Set each breach's overrun: `working_minutes(due, end)` with `end` the completion, or
    /// `as_of` for a step still running.
    pub fn set_overruns(
        &mut self,
        as_of: DateTime<Utc>,
        working_minutes: impl Fn(DateTime<Utc>, DateTime<Utc>) -> f64,
    ) {
        for b in &mut self.breaches {
            b.overrun_minutes = b
                .due_at
                .map(|due| round1(working_minutes(due, b.done_at.unwrap_or(as_of)).max(0.0)));
        }
    }
}

/// The ratings of `records`.
pub fn satisfaction(records: &[ComplaintRecord]) -> Satisfaction {
    let scores: Vec<u8> = records
        .iter()
        .filter_map(|r| r.rating.as_ref().map(|x| x.score))
        .collect();
    let mut by_score: BTreeMap<String, usize> = (1..=5u8).map(|s| (s.to_string(), 0)).collect();
    for s in &scores {
        *by_score.entry(s.to_string()).or_default() += 1;
    }
    Satisfaction {
        count: scores.len(),
        average: (!scores.is_empty()).then(|| {
            round1(scores.iter().map(|&s| f64::from(s)).sum::<f64>() / scores.len() as f64)
        }),
        by_score,
    }
}

/// Who is responsible for a step.
pub fn responsible(step: Step) -> Role {
    match step {
        Step::Receive | Step::FollowUp => Role::Staf,
        Step::Triage | Step::Review | Step::ReportReceive => Role::Kasi,
        Step::Resolve => Role::Bidang,
        Step::ReportDecide => Role::Kadis,
    }
}

/// The 1-based nearest rank of the `p`th percentile among `n` sorted values (`n > 0`).
pub fn nearest_rank(n: usize, p: f64) -> usize {
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    rank.clamp(1, n.max(1))
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[nearest_rank(sorted.len(), p) - 1]
}

/// `x` rounded to one decimal, as the report prints minutes and percentages.
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The SOP steps 1–5 a complaint walks through, in order: the report's per-step figures.
const WORKFLOW_STEPS: [Step; 5] = [
    Step::Receive,
    Step::Triage,
    Step::Resolve,
    Step::Review,
    Step::FollowUp,
];

/// The figures of one step from `count` completions, `within` of them in time, and the
/// median and p90 in minutes; a step nothing completed has nothing to measure (`None`).
fn step_figures(step: Step, count: usize, within: usize, median: f64, p90: f64) -> StepFigures {
    let measured = count > 0;
    StepFigures {
        step,
        number: step.number(),
        count,
        within_standard: within,
        within_standard_pct: measured.then(|| round1(within as f64 * 100.0 / count as f64)),
        median_minutes: measured.then(|| round1(median)),
        p90_minutes: measured.then(|| round1(p90)),
        responsible: Some(responsible(step)),
    }
}

/// Build the report of `month` from its complaints (`records`, received in the month),
/// the previous month's complaints and the report's moment (`month_end`, for ages), in
/// memory: the oracle of the aggregated report ([`from_aggregates`]). Overruns, the
/// previous report's steps and the trend are added by the caller, as for that one.
pub fn build(
    month: Month,
    records: &[ComplaintRecord],
    previous: &[ComplaintRecord],
    month_end: DateTime<Utc>,
) -> MonthlyReport {
    let previous_count = previous.len();
    let mut totals = Totals {
        complaints: records.len(),
        ..Default::default()
    };
    for r in records {
        *totals
            .by_channel
            .entry(r.channel.as_str().into())
            .or_default() += 1;
        let cat = r.category.map(|c| c.as_str()).unwrap_or("tanpa_kategori");
        *totals.by_category.entry(cat.into()).or_default() += 1;
        let b = r
            .bidang
            .as_ref()
            .map(|b| b.as_str())
            .unwrap_or("belum_ditentukan");
        *totals.by_bidang.entry(b.into()).or_default() += 1;
        let st = match (r.state, r.status) {
            (State::Closed, Some(s)) => s.as_str(),
            _ => "open",
        };
        *totals.by_status.entry(st.into()).or_default() += 1;
    }

    let mut per_step: BTreeMap<Step, Vec<(f64, bool)>> = BTreeMap::new();
    let mut breaches = Vec::new();
    for r in records {
        for h in &r.history {
            // Only completed steps count; an escalation notice (no elapsed time) is not one.
            let (Some(step), Some(_)) = (h.step, h.elapsed_seconds) else {
                continue;
            };
            let minutes = h.elapsed_seconds.unwrap_or(0) as f64 / 60.0;
            per_step
                .entry(step)
                .or_default()
                .push((minutes, h.breached));
            if h.breached {
                breaches.push(Breach {
                    ticket: r.ticket.to_string(),
                    step,
                    responsible: responsible(step),
                    due_at: h.due_at,
                    done_at: Some(h.at),
                    overrun_minutes: None,
                });
            }
        }
        // A step still running past its due time at the month's end is breached too.
        if let (Some(step), Some(due)) = (r.state.step(), r.due_at)
            && due < month_end
        {
            breaches.push(Breach {
                ticket: r.ticket.to_string(),
                step,
                responsible: responsible(step),
                due_at: Some(due),
                done_at: None,
                overrun_minutes: None,
            });
        }
    }
    let steps = WORKFLOW_STEPS
        .into_iter()
        .map(|step| {
            let v = per_step.remove(&step).unwrap_or_default();
            let mut mins: Vec<f64> = v.iter().map(|(m, _)| *m).collect();
            mins.sort_by(|a, b| a.total_cmp(b));
            let within = v.iter().filter(|(_, b)| !b).count();
            step_figures(
                step,
                v.len(),
                within,
                percentile(&mins, 50.0),
                percentile(&mins, 90.0),
            )
        })
        .collect();

    let mut backlog = Backlog::default();
    for r in records.iter().filter(|r| r.state != State::Closed) {
        backlog.open += 1;
        let days = (month_end - r.received_at).num_days();
        match days {
            d if d < 1 => backlog.under_1_day += 1,
            1..=7 => backlog.days_1_to_7 += 1,
            8..=30 => backlog.days_8_to_30 += 1,
            _ => backlog.over_30_days += 1,
        }
    }
    let delta = records.len() as i64 - previous_count as i64;
    MonthlyReport {
        month: month.to_string(),
        totals,
        steps,
        frequent_problems: frequent_problems(records, previous, 10),
        backlog,
        breaches_total: breaches.len(),
        breaches: {
            let mut b = breaches;
            b.truncate(BREACHES_LISTED);
            b
        },
        satisfaction: satisfaction(records),
        repeat_complainants: repeats(records),
        report_steps: Vec::new(),
        trend: Vec::new(),
        as_of: None,
        change: Change {
            previous_month: month.prev().to_string(),
            previous_complaints: previous_count,
            complaints_delta: delta,
            complaints_delta_pct: (previous_count > 0)
                .then(|| round1(delta as f64 * 100.0 / previous_count as f64)),
        },
    }
}

/// The `top` frequent problems of `records` (complaints in receipt order), with the counts
/// of `previous` (the month before), in memory: a [`ProblemCounter`] over each slice.
pub fn frequent_problems(
    records: &[ComplaintRecord],
    previous: &[ComplaintRecord],
    top: usize,
) -> Vec<Problem> {
    let mut counter = ProblemCounter::new();
    counter.add_all(records);
    let mut before = TermTally::new();
    previous.iter().for_each(|r| before.add_record(r));
    counter.top(top, &before)
}

/// Repeat complainants of `records` in memory (a [`ContactCounter`] over the slice).
pub fn repeats(records: &[ComplaintRecord]) -> Repeats {
    let mut c = ContactCounter::default();
    records.iter().for_each(|r| c.add(r));
    c.repeats()
}

/// A complaint as the frequent-problem count reads it from the store
/// ([`ReportStore::analyses_page`](crate::store::ReportStore::analyses_page)).
#[derive(Debug, Clone)]
pub struct AnalysisRow {
    pub key: crate::logbook::PageKey,
    pub ticket: crate::types::TicketNumber,
    pub category: Option<crate::types::Category>,
    pub bidang: Option<crate::types::BidangCode>,
    /// The stored [`analyse`] text, opened; `None` when the complaint was stored without.
    pub analysis: Option<String>,
}

/// The SHA-256 digest of a complainant's contact: the e-mail address, else the phone
/// number's digits, else the channel handle; `None` without any (an anonymous letter).
pub fn contact_digest(id: &Identity, channel: Channel) -> Option<[u8; 32]> {
    let key = if let Some(e) = id.email.as_deref().filter(|e| !e.trim().is_empty()) {
        format!("e:{}", e.trim().to_lowercase())
    } else if let Some(p) = id
        .phone
        .as_deref()
        .filter(|p| p.chars().any(|c| c.is_ascii_digit()))
    {
        format!(
            "p:{}",
            p.chars().filter(char::is_ascii_digit).collect::<String>()
        )
    } else if let Some(h) = id.handle.as_deref().filter(|h| !h.trim().is_empty()) {
        format!("h:{}:{}", channel.as_str(), h.trim())
    } else {
        return None;
    };
    Some(Sha256::digest(key.as_bytes()).into())
}

/// Counts complaints per complainant over a month without keeping who they are: each
/// complaint's contact (its e-mail address, else its phone number, else its channel handle)
/// is reduced to a SHA-256 digest at once, and only digests and counts are held; complaints
/// without any contact (an anonymous letter) are not counted.
#[derive(Default)]
pub struct ContactCounter {
    seen: HashMap<[u8; 32], usize>,
}

impl ContactCounter {
    pub fn add(&mut self, r: &ComplaintRecord) {
        self.add_digest(contact_digest(&r.identity, r.channel));
    }

    /// Count one complaint by its contact's digest (`None`: no contact, not counted).
    pub fn add_digest(&mut self, digest: Option<[u8; 32]>) {
        if let Some(d) = digest {
            *self.seen.entry(d).or_default() += 1;
        }
    }

    /// Add the counts of `other` (complaints counted apart).
    pub fn merge(&mut self, other: ContactCounter) {
        for (d, n) in other.seen {
            *self.seen.entry(d).or_default() += n;
        }
    }

    /// The complainants with two or more complaints, and their complaints.
    pub fn repeats(&self) -> Repeats {
        self.seen
            .values()
            .filter(|&&n| n >= 2)
            .fold(Repeats::default(), |acc, &n| Repeats {
                complainants: acc.complainants + 1,
                complaints: acc.complaints + n,
            })
    }
}

/// A month's figures as the database computes them (one `GROUP BY` query per family), so a
/// report never loads the month's complaints. Keys are the stored column values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonthAggregates {
    pub complaints: usize,
    pub by_channel: Vec<(String, usize)>,
    /// `None`: no category.
    pub by_category: Vec<(Option<String>, usize)>,
    /// `None`: not routed to a bidang.
    pub by_bidang: Vec<(Option<String>, usize)>,
    /// `selesai`, `tidak` or `open`.
    pub by_status: Vec<(String, usize)>,
    /// The completed steps (history lines with an elapsed time), per step.
    pub steps: Vec<StepAggregate>,
    pub backlog: Backlog,
    /// In receipt order, the first [`BREACHES_LISTED`]; per complaint its breached history
    /// lines, then its running step.
    pub breaches: Vec<Breach>,
    /// Every breach of the month.
    pub breaches_total: usize,
    /// (score, number of ratings).
    pub ratings: Vec<(u8, usize)>,
}

/// Completed lines of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepAggregate {
    pub step: Step,
    pub count: usize,
    /// Lines not breached.
    pub within: usize,
    /// Elapsed seconds at the nearest rank of the 50th and 90th percentile.
    pub median_seconds: i64,
    pub p90_seconds: i64,
}

/// The instants splitting the open backlog by age at `month_end`: a complaint received
/// after `[0]` is under a day old, after `[1]` at most 7 days, after `[2]` at most 30 days
/// (whole days as [`chrono::Duration::num_days`] counts them).
pub fn backlog_bounds(month_end: DateTime<Utc>) -> [DateTime<Utc>; 3] {
    let day = chrono::Duration::days(1);
    [month_end - day, month_end - day * 8, month_end - day * 31]
}

/// The report of `month` from its aggregated figures, the previous month's number of
/// complaints and the frequent problems (see [`ProblemCounter`]).
pub fn from_aggregates(
    month: Month,
    agg: MonthAggregates,
    previous_count: usize,
    frequent_problems: Vec<Problem>,
) -> MonthlyReport {
    let mut totals = Totals {
        complaints: agg.complaints,
        ..Default::default()
    };
    for (k, n) in agg.by_channel {
        *totals.by_channel.entry(k).or_default() += n;
    }
    for (k, n) in agg.by_category {
        *totals
            .by_category
            .entry(k.unwrap_or_else(|| "tanpa_kategori".into()))
            .or_default() += n;
    }
    for (k, n) in agg.by_bidang {
        *totals
            .by_bidang
            .entry(k.unwrap_or_else(|| "belum_ditentukan".into()))
            .or_default() += n;
    }
    for (k, n) in agg.by_status {
        *totals.by_status.entry(k).or_default() += n;
    }
    let steps = WORKFLOW_STEPS
        .into_iter()
        .map(|step| {
            let a = agg.steps.iter().find(|a| a.step == step);
            let count = a.map_or(0, |a| a.count);
            let within = a.map_or(0, |a| a.within);
            step_figures(
                step,
                count,
                within,
                a.map_or(0, |a| a.median_seconds) as f64 / 60.0,
                a.map_or(0, |a| a.p90_seconds) as f64 / 60.0,
            )
        })
        .collect();
    let mut by_score: BTreeMap<String, usize> = (1..=5u8).map(|s| (s.to_string(), 0)).collect();
    let (mut rated, mut sum) = (0usize, 0.0f64);
    for (score, n) in agg.ratings {
        *by_score.entry(score.to_string()).or_default() += n;
        rated += n;
        sum += f64::from(score) * n as f64;
    }
    let delta = agg.complaints as i64 - previous_count as i64;
    MonthlyReport {
        month: month.to_string(),
        totals,
        steps,
        frequent_problems,
        backlog: agg.backlog,
        breaches: agg.breaches,
        breaches_total: agg.breaches_total,
        satisfaction: Satisfaction {
            count: rated,
            average: (rated > 0).then(|| round1(sum / rated as f64)),
            by_score,
        },
        repeat_complainants: Repeats::default(),
        report_steps: Vec::new(),
        trend: Vec::new(),
        as_of: None,
        change: Change {
            previous_month: month.prev().to_string(),
            previous_complaints: previous_count,
            complaints_delta: delta,
            complaints_delta_pct: (previous_count > 0)
                .then(|| round1(delta as f64 * 100.0 / previous_count as f64)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&v, 50.0), 5.0);
        assert_eq!(percentile(&v, 90.0), 9.0);
        assert_eq!(percentile(&[], 90.0), 0.0);
        assert_eq!(percentile(&[4.0], 90.0), 4.0);
    }
}
