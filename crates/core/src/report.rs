//! The monthly report (SOP steps 6–8): figures computed from the month's logbook.
//!
//! Pure functions over complaint records: totals by channel, category, bidang and status;
//! per-step compliance (count, % within the standard time, median and p90 working minutes);
//! open backlog by age; breaches with the responsible role; the most frequent problems
//! (recurring words and phrases, Indonesian stop words removed, with example tickets); and the
//! change against the previous month. No complainant identity appears anywhere in it: texts
//! are masked and names of complainants are never counted as terms.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::logbook::Month;
use crate::mask::{IdentityMask, mask_text};
use crate::model::ComplaintRecord;
use crate::types::{Role, State, Step};

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
    pub within_standard_pct: f64,
    pub median_minutes: f64,
    pub p90_minutes: f64,
}

/// A recurring problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub term: String,
    /// Number of complaints mentioning it.
    pub count: usize,
    pub examples: Vec<String>,
}

/// A breached step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    pub ticket: String,
    pub step: Step,
    pub responsible: Role,
    pub due_at: Option<DateTime<Utc>>,
    pub done_at: Option<DateTime<Utc>>,
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

/// The monthly report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlyReport {
    pub month: String,
    pub totals: Totals,
    pub steps: Vec<StepFigures>,
    pub frequent_problems: Vec<Problem>,
    pub backlog: Backlog,
    pub breaches: Vec<Breach>,
    pub change: Change,
    /// Reports stored before ratings existed read back without it.
    #[serde(default)]
    pub satisfaction: Satisfaction,
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

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Build the report of `month` from its complaints (`records`, received in the month),
/// the number of complaints of the previous month and the end of the month (for ages).
pub fn build(
    month: Month,
    records: &[ComplaintRecord],
    previous_count: usize,
    month_end: DateTime<Utc>,
) -> MonthlyReport {
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
            });
        }
    }
    let steps = [
        Step::Receive,
        Step::Triage,
        Step::Resolve,
        Step::Review,
        Step::FollowUp,
    ]
    .into_iter()
    .map(|step| {
        let v = per_step.remove(&step).unwrap_or_default();
        let mut mins: Vec<f64> = v.iter().map(|(m, _)| *m).collect();
        mins.sort_by(|a, b| a.total_cmp(b));
        let within = v.iter().filter(|(_, b)| !b).count();
        StepFigures {
            step,
            number: step.number(),
            count: v.len(),
            within_standard: within,
            within_standard_pct: if v.is_empty() {
                100.0
            } else {
                round1(within as f64 * 100.0 / v.len() as f64)
            },
            median_minutes: round1(percentile(&mins, 50.0)),
            p90_minutes: round1(percentile(&mins, 90.0)),
        }
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
        frequent_problems: frequent_problems(records, 10),
        backlog,
        breaches,
        satisfaction: satisfaction(records),
        change: Change {
            previous_month: month.prev().to_string(),
            previous_complaints: previous_count,
            complaints_delta: delta,
            complaints_delta_pct: (previous_count > 0)
                .then(|| round1(delta as f64 * 100.0 / previous_count as f64)),
        },
    }
}

/// Indonesian (and a few English) function words that say nothing about the problem.
const STOP_WORDS: &[&str] = &[
    "ada",
    "adalah",
    "agar",
    "akan",
    "aku",
    "anda",
    "apa",
    "apakah",
    "atas",
    "atau",
    "bagaimana",
    "bahwa",
    "baik",
    "bapak",
    "banyak",
    "baru",
    "belum",
    "berapa",
    "bisa",
    "bu",
    "bukan",
    "dalam",
    "dan",
    "dapat",
    "dari",
    "dengan",
    "di",
    "dia",
    "dua",
    "hal",
    "hanya",
    "hari",
    "harus",
    "ibu",
    "ini",
    "itu",
    "jadi",
    "jam",
    "juga",
    "kalau",
    "kami",
    "kamu",
    "karena",
    "ke",
    "kenapa",
    "kepada",
    "ketika",
    "kita",
    "lagi",
    "lain",
    "lalu",
    "lama",
    "lebih",
    "mau",
    "masih",
    "melalui",
    "mereka",
    "minta",
    "mohon",
    "namun",
    "nya",
    "oleh",
    "pada",
    "pak",
    "para",
    "saat",
    "saja",
    "sama",
    "sampai",
    "sangat",
    "satu",
    "saya",
    "sebagai",
    "sebelum",
    "sedang",
    "sehingga",
    "sejak",
    "sekali",
    "selama",
    "semua",
    "sendiri",
    "sensor",
    "seperti",
    "setelah",
    "sudah",
    "supaya",
    "tapi",
    "telah",
    "tentang",
    "terima",
    "kasih",
    "tersebut",
    "tetapi",
    "tidak",
    "tolong",
    "untuk",
    "walaupun",
    "ya",
    "yang",
    "yg",
    "tdk",
    "sy",
    "dgn",
    "utk",
    "sdh",
    "blm",
    "dr",
    "kpd",
    "the",
    "and",
    "to",
    "of",
    "a",
    "is",
    "in",
    "for",
    "my",
    "i",
    "disamarkan",
    "nama",
    "alamat",
    "akun",
    "email",
    "nomor",
    "nik",
    "mengapa",
    "kok",
    "dong",
    "sih",
    "pun",
    "begitu",
    "demikian",
    "hingga",
    "tiga",
    "bulan",
    "minggu",
    "tahun",
    "kemarin",
    "besok",
    "sekarang",
];

fn tokens(text: &str) -> Vec<String> {
    split_tokens(&mask_text(text))
}

fn split_tokens(masked: &str) -> Vec<String> {
    masked
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .map(|t| t.trim_matches('-'))
        .filter(|t| t.chars().count() >= 2 && !t.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

/// Most frequent terms (words and two-word phrases) by number of complaints.
pub fn frequent_problems(records: &[ComplaintRecord], top: usize) -> Vec<Problem> {
    let stop: HashSet<&str> = STOP_WORDS.iter().copied().collect();
    let names: HashSet<String> = records
        .iter()
        .filter_map(|r| r.identity.name.as_deref())
        .flat_map(tokens)
        .collect();
    let mut docs: HashMap<String, Vec<String>> = HashMap::new();
    for r in records {
        // Masked with the complaint's own identity first: its name, address and handle
        // never become a "frequent problem".
        let toks: Vec<String> = split_tokens(&IdentityMask::new(&r.identity).apply(&r.body))
            .into_iter()
            .filter(|t| !stop.contains(t.as_str()) && !names.contains(t))
            .collect();
        let mut seen = HashSet::new();
        for t in &toks {
            seen.insert(t.clone());
        }
        for w in toks.windows(2) {
            if w[0] != w[1] {
                seen.insert(format!("{} {}", w[0], w[1]));
            }
        }
        for t in seen {
            docs.entry(t).or_default().push(r.ticket.to_string());
        }
    }
    let mut terms: Vec<(String, Vec<String>)> =
        docs.into_iter().filter(|(_, v)| v.len() >= 2).collect();
    // Most complaints first; phrases before single words at equal counts; then by name.
    terms.sort_by(|a, b| {
        b.1.len()
            .cmp(&a.1.len())
            .then_with(|| b.0.contains(' ').cmp(&a.0.contains(' ')))
            .then_with(|| a.0.cmp(&b.0))
    });
    let mut out: Vec<Problem> = Vec::new();
    for (term, tickets) in terms {
        // Skip a word already covered by a chosen phrase with the same complaints.
        if out.iter().any(|p| {
            p.count == tickets.len() && p.term.split(' ').any(|w| w == term) && p.term != term
        }) {
            continue;
        }
        out.push(Problem {
            count: tickets.len(),
            examples: tickets.into_iter().take(3).collect(),
            term,
        });
        if out.len() == top {
            break;
        }
    }
    out
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

    #[test]
    fn tokens_drop_numbers_and_mask_identity() {
        let t = tokens("KTP-el belum jadi, hubungi budi@example.com atau 081234567890 (2 bulan)");
        assert!(t.contains(&"ktp-el".to_string()));
        assert!(!t.iter().any(|x| x.contains("budi") || x.contains("0812")));
    }
}
