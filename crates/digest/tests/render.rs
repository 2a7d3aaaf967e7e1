//! The digest renders every section from a hand-made report, and the XLSX logbook is a
//! valid workbook (a ZIP with the OOXML parts) with the SOP columns.

use aduan_core::logbook::{LogbookRow, Month};
use aduan_core::report::{
    Backlog, Breach, Change, MonthlyReport, Problem, ReportStep, StepFigures, Totals, TrendPoint,
};
use aduan_core::types::{Resolution, Role, Step};
use chrono::{TimeZone, Utc};

fn report() -> MonthlyReport {
    let mut totals = Totals {
        complaints: 3,
        ..Default::default()
    };
    totals.by_category.insert("pelayanan".into(), 2);
    totals.by_category.insert("sarana_prasarana".into(), 1);
    totals.by_bidang.insert("dafduk".into(), 3);
    totals.by_channel.insert("web".into(), 3);
    totals.by_status.insert("selesai".into(), 3);
    MonthlyReport {
        month: "2026-03".into(),
        totals,
        steps: vec![StepFigures {
            step: Step::Triage,
            number: 2,
            count: 3,
            within_standard: 2,
            within_standard_pct: Some(66.7),
            median_minutes: Some(4.0),
            p90_minutes: Some(1234.5),
            responsible: Some(Role::Kasi),
        }],
        frequent_problems: vec![Problem {
            term: "antrian ktp-el".into(),
            count: 2,
            examples: vec!["ADU-202603-0001".into(), "ADU-202603-0002".into()],
            previous_count: 5,
            change: -3,
            categories: vec![("pelayanan".into(), 2)],
            bidang: vec![("dafduk".into(), 2)],
            targets: vec![("loket KTP-el".into(), 2)],
            variants: vec!["e-ktp".into()],
        }],
        backlog: Backlog::default(),
        breaches: vec![Breach {
            ticket: "ADU-202603-0003".into(),
            step: Step::Resolve,
            responsible: Role::Bidang,
            due_at: Some(Utc.with_ymd_and_hms(2026, 3, 4, 1, 0, 0).unwrap()),
            done_at: None,
            overrun_minutes: Some(1500.0),
        }],
        // One listed of 75: the mail counts all and points to the logbook for the rest.
        breaches_total: 75,
        satisfaction: Default::default(),
        repeat_complainants: aduan_core::report::Repeats {
            complainants: 1,
            complaints: 2,
        },
        report_steps: vec![ReportStep {
            month: "2026-02".into(),
            number: 7,
            key: "decision".into(),
            responsible: Role::Kadis,
            due_at: Some(Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap()),
            done_at: Some(Utc.with_ymd_and_hms(2026, 3, 2, 3, 30, 0).unwrap()),
            breached: true,
            overrun_minutes: Some(150.0),
        }],
        trend: (1..=12)
            .map(|m| TrendPoint {
                month: format!("{}-{m:02}", if m > 3 { 2025 } else { 2026 }),
                complaints: m * 100,
                on_time_pct: (m != 5).then_some(80.0 + m as f64),
            })
            .collect(),
        as_of: None,
        change: Change {
            previous_month: "2026-02".into(),
            previous_complaints: 2,
            complaints_delta: 1,
            complaints_delta_pct: Some(50.0),
        },
    }
}

#[test]
fn digest_has_every_section_in_indonesian() {
    let m = Month::parse("2026-03").unwrap();
    let names = vec![(
        "dafduk".to_string(),
        "Bidang Pelayanan Pendaftaran Penduduk".to_string(),
    )];
    let d = aduan_digest::render::render(
        "Disdukcapil Buleleng",
        m,
        &report(),
        &names,
        chrono_tz::Asia::Makassar,
    )
    .unwrap();
    assert!(d.subject.contains("Maret 2026"));
    for s in [
        "Pelayanan",
        "Sarana Prasarana",
        "Bidang Pelayanan Pendaftaran Penduduk",
        "66,7 %",
        "1.234,5",
        "antrian ktp-el",
        "ADU-202603-0001",
        "Pelanggaran waktu standar (75)",
        "… dan 25 lainnya",
        "+50,0 %",
        "Pelayanan · Bidang Pelayanan Pendaftaran Penduduk · loket KTP-el",
        "5 (-3)",
        "Kasi Kerjasama",
        "Bidang Terkait",
        "1.500,0",
        "7. Keputusan Kepala Dinas",
        "terlambat 150,0 menit kerja",
        "1</strong> orang (2 pengaduan",
        "cid:chart-category",
        "cid:chart-bidang",
        "cid:chart-channel",
        "cid:chart-steps",
        "cid:chart-trend",
    ] {
        assert!(d.html.contains(s), "html lacks {s}");
    }
    assert!(
        d.text.contains("antrian ktp-el") && d.text.contains("Jumlah pengaduan: 3"),
        "{}",
        d.text
    );
    assert_eq!(d.images.len(), 5);
    // Kept for review, as the mail carries them.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("digest-charts");
    std::fs::create_dir_all(&dir).unwrap();
    for (cid, png) in &d.images {
        std::fs::write(dir.join(format!("{cid}.png")), png).unwrap();
    }
    assert!(d.text.contains("TERLAMBAT 150,0 menit kerja"), "{}", d.text);
    assert!(d.images.iter().all(|(_, png)| png.starts_with(b"\x89PNG")));
}

#[test]
fn xlsx_is_a_workbook_with_the_sop_columns() {
    let row = LogbookRow {
        no: 1,
        ticket: "ADU-202603-0001".into(),
        received_at: Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap(),
        channel: "web".into(),
        source: "Website (formulir)".into(),
        category: Some("Pelayanan".into()),
        text: "Antrian KTP-el lama".into(),
        bidang: Some("dafduk".into()),
        solution: Some("Loket ditambah".into()),
        answer: Some("Terima kasih".into()),
        status: Some(Resolution::Selesai),
        state: "closed".into(),
        paraf: None,
        questions: vec![aduan_core::logbook::LogbookQuestion {
            question: "Loket mana?".into(),
            answer: Some("Loket 3".into()),
            unanswered: false,
        }],
    };
    let bytes = aduan_digest::xlsx::logbook_xlsx(
        "Disdukcapil",
        Month::parse("2026-03").unwrap(),
        &[row],
        chrono_tz::Asia::Makassar,
    )
    .unwrap();
    assert_eq!(&bytes[..4], b"PK\x03\x04", "xlsx is a zip");
    let s = String::from_utf8_lossy(&bytes);
    assert!(s.contains("xl/worksheets/sheet1.xml") && s.contains("[Content_Types].xml"));
}

/// Cells are typed strings: a text that starts like a formula stays text in the sheet.
#[test]
fn xlsx_cells_are_strings_never_formulas() {
    use std::io::Read;
    let row = LogbookRow {
        no: 1,
        ticket: "ADU-202603-0001".into(),
        received_at: Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap(),
        channel: "web".into(),
        source: "Website (formulir)".into(),
        category: None,
        text: "=HYPERLINK(\"http://x\")".into(),
        bidang: Some("+dafduk".into()),
        solution: Some("@SUM(A1)".into()),
        answer: Some("\t=1+1".into()),
        status: None,
        state: "triage".into(),
        paraf: None,
        questions: Vec::new(),
    };
    let bytes = aduan_digest::xlsx::logbook_xlsx(
        "Disdukcapil",
        Month::parse("2026-03").unwrap(),
        &[row],
        chrono_tz::Asia::Makassar,
    )
    .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut sheet = String::new();
    zip.by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut sheet)
        .unwrap();
    assert!(!sheet.contains("<f>") && !sheet.contains("<f "), "{sheet}");
    for text in ["@SUM(A1)", "+dafduk", "=1+1", "=HYPERLINK("] {
        let at = sheet
            .find(text)
            .unwrap_or_else(|| panic!("{text} missing: {sheet}"));
        let cell = &sheet[sheet[..at].rfind("<c ").unwrap()..at];
        assert!(cell.contains("t=\"inlineStr\""), "{text}: {cell}");
    }
}

#[test]
fn digest_mail_has_html_text_images_and_the_workbook() {
    let m = Month::parse("2026-03").unwrap();
    let d =
        aduan_digest::render::render("Disdukcapil", m, &report(), &[], chrono_tz::Asia::Makassar)
            .unwrap();
    let from: lettre::message::Mailbox = "Aduan <aduan@example.go.id>".parse().unwrap();
    let to: lettre::message::Mailbox = "kadis@example.go.id".parse().unwrap();
    let msg = aduan_digest::mail::build(
        &from,
        &[to],
        &d,
        b"PK\x03\x04xx".to_vec(),
        "logbook-2026-03.xlsx",
        "x@example.go.id",
    )
    .unwrap();
    let raw = String::from_utf8_lossy(&msg.formatted()).to_string();
    for s in [
        "multipart/mixed",
        "multipart/related",
        "multipart/alternative",
        "text/html",
        "text/plain",
        "image/png",
        "Content-ID: <chart-category>",
        "logbook-2026-03.xlsx",
        "Auto-Submitted: auto-generated",
    ] {
        assert!(raw.contains(s), "mail lacks {s}");
    }
}
