//! The digest e-mail's HTML and plain-text bodies and its charts.

use aduan_core::logbook::Month;
use aduan_core::report::MonthlyReport;
use aduan_core::types::{Category, Channel, Step};
use chrono_tz::Tz;
use minijinja::{Environment, context};
use serde::Serialize;

use crate::chart::bar_chart_png;

/// The rendered parts of a digest.
#[derive(Debug, Clone)]
pub struct DigestBody {
    pub subject: String,
    pub html: String,
    pub text: String,
    /// (content id, PNG bytes) of the inline charts.
    pub images: Vec<(String, Vec<u8>)>,
}

#[derive(Serialize)]
struct Row {
    label: String,
    count: usize,
}

fn step_label(s: Step) -> &'static str {
    match s {
        Step::Receive => "Penerimaan dan pencatatan (Staf)",
        Step::Triage => "Penelaahan dan koordinasi (Kasi)",
        Step::Resolve => "Penyelesaian (Bidang)",
        Step::Review => "Pemeriksaan jawaban (Kasi)",
        Step::FollowUp => "Tindak lanjut ke pengadu (Staf)",
        Step::ReportDecide => "Keputusan Kepala Dinas",
        Step::ReportReceive => "Penerimaan kembali (Kasi)",
    }
}

/// Render the digest of `report`; `bidang_names` maps codes to division names.
pub fn render(
    office: &str,
    month: Month,
    report: &MonthlyReport,
    bidang_names: &[(String, String)],
    tz: Tz,
) -> Result<DigestBody, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template("digest.html", include_str!("../templates/digest.html"))?;
    env.add_template("digest.txt", include_str!("../templates/digest.txt"))?;
    let cat_label = |k: &str| {
        k.parse::<Category>()
            .map(|c| c.label().to_string())
            .unwrap_or_else(|_| "Tanpa kategori".into())
    };
    let by_category: Vec<Row> = report
        .totals
        .by_category
        .iter()
        .map(|(k, v)| Row {
            label: cat_label(k),
            count: *v,
        })
        .collect();
    let by_bidang: Vec<Row> = report
        .totals
        .by_bidang
        .iter()
        .map(|(k, v)| Row {
            label: bidang_names
                .iter()
                .find(|(c, _)| c == k)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| {
                    if k == "belum_ditentukan" {
                        "Belum ditentukan".into()
                    } else {
                        k.clone()
                    }
                }),
            count: *v,
        })
        .collect();
    let by_channel: Vec<Row> = report
        .totals
        .by_channel
        .iter()
        .map(|(k, v)| Row {
            label: k
                .parse::<Channel>()
                .map(|c| c.source_label().to_string())
                .unwrap_or_else(|_| k.clone()),
            count: *v,
        })
        .collect();
    let step_labels: std::collections::BTreeMap<&str, &str> = Step::ALL
        .iter()
        .map(|s| (s.as_str(), step_label(*s)))
        .collect();
    let mut r = serde_json::to_value(report).unwrap_or_default();
    if let Some(bs) = r["breaches"].as_array_mut() {
        for b in bs {
            let due = b["due_at"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&tz).format("%d-%m-%Y %H:%M").to_string())
                .unwrap_or_default();
            b["due_local"] = due.into();
        }
    }
    let ctx = context! {
        office => office,
        month_label => month.label_id(),
        r => minijinja::Value::from(minijinja::value::Serde(&r)),
        by_category => minijinja::Value::from(minijinja::value::Serde(&by_category)),
        by_bidang => minijinja::Value::from(minijinja::value::Serde(&by_bidang)),
        by_channel => minijinja::Value::from(minijinja::value::Serde(&by_channel)),
        step_labels => minijinja::Value::from(minijinja::value::Serde(&step_labels)),
    };
    let html = env.get_template("digest.html")?.render(&ctx)?;
    let text = env.get_template("digest.txt")?.render(&ctx)?;
    let counts = |rows: &[Row]| rows.iter().map(|r| r.count as f64).collect::<Vec<_>>();
    let steps: Vec<f64> = report.steps.iter().map(|s| s.within_standard_pct).collect();
    Ok(DigestBody {
        subject: format!(
            "Laporan Bulanan Pengaduan {} — {}",
            month.label_id(),
            office
        ),
        html,
        text,
        images: vec![
            (
                "chart-category".into(),
                bar_chart_png(&counts(&by_category), None, 420),
            ),
            (
                "chart-bidang".into(),
                bar_chart_png(&counts(&by_bidang), None, 420),
            ),
            (
                "chart-steps".into(),
                bar_chart_png(&steps, Some(100.0), 420),
            ),
        ],
    })
}
