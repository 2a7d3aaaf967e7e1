//! The digest e-mail's HTML and plain-text bodies and its charts.
//!
//! The charts are described once ([`report_charts`]) and drawn as PNG for the mail (inline,
//! by content id) and as SVG for the report page. Labels come from [`Labels`], the one place
//! that names categories, divisions, channels and steps for the report, and numbers are
//! printed the Indonesian way (`1.234`, `87,5`) by the `angka` template filter.

use aduan_core::logbook::Month;
use aduan_core::report::MonthlyReport;
use aduan_core::types::{Category, Channel, Role, Step};
use chrono_tz::Tz;
use minijinja::{Environment, context};
use serde::Serialize;

use crate::chart::{
    BarChart, ChartError, TrendChart, TrendMonth, ValueFormat, fmt_id, month_label,
};

/// The rendered parts of a digest.
#[derive(Debug, Clone)]
pub struct DigestBody {
    pub subject: String,
    pub html: String,
    pub text: String,
    /// (content id, PNG bytes) of the inline charts.
    pub images: Vec<(String, Vec<u8>)>,
}

/// The report's names for stored codes, in Indonesian.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    /// (bidang code, division name).
    pub bidang_names: Vec<(String, String)>,
}

impl Labels {
    pub fn new(bidang_names: &[(String, String)]) -> Self {
        Labels {
            bidang_names: bidang_names.to_vec(),
        }
    }

    /// A category code (`tanpa_kategori` for none).
    pub fn category(&self, k: &str) -> String {
        k.parse::<Category>()
            .map(|c| c.label().to_string())
            .unwrap_or_else(|_| "Tanpa kategori".into())
    }

    /// A bidang code (`belum_ditentukan` for none).
    pub fn bidang(&self, k: &str) -> String {
        self.bidang_names
            .iter()
            .find(|(c, _)| c == k)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| {
                if k == "belum_ditentukan" || k == aduan_core::problems::NONE_VALUE {
                    "Belum ditentukan".into()
                } else {
                    k.to_string()
                }
            })
    }

    /// A channel code.
    pub fn channel(&self, k: &str) -> String {
        k.parse::<Channel>()
            .map(|c| c.source_label().to_string())
            .unwrap_or_else(|_| k.to_string())
    }

    /// A step with its responsible role.
    pub fn step(&self, s: Step) -> &'static str {
        match s {
            Step::Receive => "1. Penerimaan dan pencatatan",
            Step::Triage => "2. Penelaahan dan koordinasi",
            Step::Resolve => "3. Penyelesaian oleh bidang",
            Step::Review => "4. Pemeriksaan jawaban",
            Step::FollowUp => "5. Tindak lanjut ke pengadu",
            Step::ReportDecide => "7. Keputusan Kepala Dinas",
            Step::ReportReceive => "8. Penerimaan kembali log book",
        }
    }

    /// A role, as the SOP names it.
    pub fn role(&self, r: Role) -> &'static str {
        role_label(r)
    }

    /// One of a report's own steps (6–8, [`aduan_core::report::ReportStep::key`]).
    pub fn report_step(&self, key: &str) -> &'static str {
        match key {
            "figures" => "6. Angka laporan dikirim ke Kepala Dinas",
            "conclusion" => "6. Kesimpulan Kasi kepada Kepala Dinas dan Koordinator ISO",
            "decision" => "7. Keputusan Kepala Dinas",
            "receipt" => "8. Log book diterima kembali oleh Kasi",
            _ => "-",
        }
    }
}

/// A staff role, as the SOP names it.
pub fn role_label(r: Role) -> &'static str {
    match r {
        Role::Staf => "Staf Kerjasama",
        Role::Kasi => "Kasi Kerjasama",
        Role::Bidang => "Bidang Terkait",
        Role::Kabid => "Kabid PDIP",
        Role::Kadis => "Kepala Dinas",
    }
}

/// A chart of the report, drawn as PNG (mail) or SVG (page).
#[derive(Debug, Clone, PartialEq)]
pub enum ReportChart {
    Bar(BarChart),
    Trend(TrendChart),
}

/// Width of the charts in the mail and on the page, and the trend's height.
pub const CHART_WIDTH: u32 = 640;
pub const TREND_HEIGHT: u32 = 320;

impl ReportChart {
    pub fn title(&self) -> &str {
        match self {
            ReportChart::Bar(b) => &b.title,
            ReportChart::Trend(t) => &t.title,
        }
    }
    pub fn png(&self) -> Result<Vec<u8>, ChartError> {
        match self {
            ReportChart::Bar(b) => b.png(CHART_WIDTH),
            ReportChart::Trend(t) => t.png(CHART_WIDTH, TREND_HEIGHT),
        }
    }
    pub fn svg(&self) -> Result<String, ChartError> {
        match self {
            ReportChart::Bar(b) => b.svg(CHART_WIDTH),
            ReportChart::Trend(t) => t.svg(CHART_WIDTH, TREND_HEIGHT),
        }
    }
}

/// The report's charts by content id: per category, per bidang, per channel, per-step
/// compliance and the 12-month trend. A step with nothing to measure has no bar value (0,
/// its table row says "—").
pub fn report_charts(report: &MonthlyReport, labels: &Labels) -> Vec<(&'static str, ReportChart)> {
    let bars = |m: &std::collections::BTreeMap<String, usize>, name: &dyn Fn(&str) -> String| {
        let mut v: Vec<(String, f64)> = m.iter().map(|(k, n)| (name(k), *n as f64)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    };
    let count_chart = |title: &str, bars: Vec<(String, f64)>| {
        ReportChart::Bar(BarChart {
            title: title.into(),
            axis_label: "Jumlah pengaduan".into(),
            bars,
            format: ValueFormat::Count,
            max: None,
        })
    };
    let month_of = |m: &str| {
        chrono::NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d")
            .map(|d| month_label(&d))
            .unwrap_or_else(|_| m.to_string())
    };
    vec![
        (
            "chart-category",
            count_chart(
                "Pengaduan per kategori",
                bars(&report.totals.by_category, &|k| labels.category(k)),
            ),
        ),
        (
            "chart-bidang",
            count_chart(
                "Pengaduan per bidang",
                bars(&report.totals.by_bidang, &|k| labels.bidang(k)),
            ),
        ),
        (
            "chart-channel",
            count_chart(
                "Pengaduan per sumber",
                bars(&report.totals.by_channel, &|k| labels.channel(k)),
            ),
        ),
        (
            "chart-steps",
            ReportChart::Bar(BarChart {
                title: "Langkah selesai dalam waktu standar".into(),
                axis_label: "Persen tepat waktu".into(),
                bars: report
                    .steps
                    .iter()
                    .map(|s| {
                        (
                            labels.step(s.step).to_string(),
                            s.within_standard_pct.unwrap_or(0.0),
                        )
                    })
                    .collect(),
                format: ValueFormat::Percent,
                max: Some(100.0),
            }),
        ),
        (
            "chart-trend",
            ReportChart::Trend(TrendChart {
                title: "Pengaduan dan ketepatan waktu, 12 bulan".into(),
                months: report
                    .trend
                    .iter()
                    .map(|t| TrendMonth {
                        label: month_of(&t.month),
                        complaints: t.complaints,
                        on_time_pct: t.on_time_pct,
                    })
                    .collect(),
            }),
        ),
    ]
}

/// The `angka` filter: a number the Indonesian way, `{{ x|angka }}` (whole) or
/// `{{ x|angka(1) }}`; none or undefined prints "—".
fn angka(v: minijinja::Value, decimals: Option<usize>) -> String {
    match f64::try_from(v.clone()) {
        Ok(x) if !v.is_none() && !v.is_undefined() => fmt_id(x, decimals.unwrap_or(0)),
        _ => "—".into(),
    }
}

/// A template environment with the report's filters (`angka`).
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.add_filter("angka", angka);
    env
}

#[derive(Serialize)]
struct Row {
    label: String,
    count: usize,
}

/// Render the digest of `report`; `bidang_names` maps codes to division names.
pub fn render(
    office: &str,
    month: Month,
    report: &MonthlyReport,
    bidang_names: &[(String, String)],
    tz: Tz,
) -> Result<DigestBody, minijinja::Error> {
    let labels = Labels::new(bidang_names);
    let mut env = environment();
    env.add_template("digest.html", include_str!("../templates/digest.html"))?;
    env.add_template("digest.txt", include_str!("../templates/digest.txt"))?;
    let rows = |m: &std::collections::BTreeMap<String, usize>, name: &dyn Fn(&str) -> String| {
        m.iter()
            .map(|(k, v)| Row {
                label: name(k),
                count: *v,
            })
            .collect::<Vec<_>>()
    };
    let by_category = rows(&report.totals.by_category, &|k| labels.category(k));
    let by_bidang = rows(&report.totals.by_bidang, &|k| labels.bidang(k));
    let by_channel = rows(&report.totals.by_channel, &|k| labels.channel(k));
    let local = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&tz).format("%d-%m-%Y %H:%M").to_string())
            .unwrap_or_default()
    };
    let mut r = serde_json::to_value(report).unwrap_or_default();
    if let Some(ss) = r["steps"].as_array_mut() {
        for (s, f) in ss.iter_mut().zip(&report.steps) {
            s["label"] = labels.step(f.step).into();
            s["role"] = f.responsible.map(|x| labels.role(x)).unwrap_or("-").into();
        }
    }
    r["breaches_total"] = report.breach_count().into();
    if let Some(bs) = r["breaches"].as_array_mut() {
        for (b, f) in bs.iter_mut().zip(&report.breaches) {
            b["due_local"] = local(&b["due_at"]).into();
            b["done_local"] = local(&b["done_at"]).into();
            b["label"] = labels.step(f.step).into();
            b["role"] = labels.role(f.responsible).into();
        }
    }
    if let Some(rs) = r["report_steps"].as_array_mut() {
        for (x, f) in rs.iter_mut().zip(&report.report_steps) {
            x["due_local"] = local(&x["due_at"]).into();
            x["done_local"] = local(&x["done_at"]).into();
            x["label"] = labels.report_step(&f.key).into();
            x["role"] = labels.role(f.responsible).into();
        }
    }
    if let Some(ps) = r["frequent_problems"].as_array_mut() {
        for (x, p) in ps.iter_mut().zip(&report.frequent_problems) {
            x["origin"] = problem_origin(p, &labels).into();
        }
    }
    let ctx = context! {
        office => office,
        month_label => month.label_id(),
        r => minijinja::Value::from(minijinja::value::Serde(&r)),
        by_category => minijinja::Value::from(minijinja::value::Serde(&by_category)),
        by_bidang => minijinja::Value::from(minijinja::value::Serde(&by_bidang)),
        by_channel => minijinja::Value::from(minijinja::value::Serde(&by_channel)),
        on_time => report.on_time_pct(),
    };
    let html = env.get_template("digest.html")?.render(&ctx)?;
    let text = env.get_template("digest.txt")?.render(&ctx)?;
    let mut images = Vec::new();
    for (cid, chart) in report_charts(report, &labels) {
        let png = chart.png().map_err(|e| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
        })?;
        images.push((cid.to_string(), png));
    }
    Ok(DigestBody {
        subject: format!(
            "Laporan Bulanan Pengaduan {} — {}",
            month.label_id(),
            office
        ),
        html,
        text,
        images,
    })
}

/// Where a frequent problem comes from, e.g. "Pelayanan · Bidang Dafduk · loket KTP-el":
/// its main category, bidang and target.
pub fn problem_origin(p: &aduan_core::problems::Problem, labels: &Labels) -> String {
    let first = |v: &[(String, usize)]| v.first().map(|(k, _)| k.clone());
    [
        first(&p.categories).map(|k| labels.category(&k)),
        first(&p.bidang).map(|k| labels.bidang(&k)),
        first(&p.targets).filter(|t| t != aduan_core::problems::NONE_VALUE),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ")
}
