//! The Kasi's conclusion as an ISO 9001 risk input (clause 6.1): one risk-register entry per
//! problem the Kasi picked (risk, cause, frequency, proposed control, owner), as CSV and as
//! an XLSX workbook, for the ISO coordinator's mail and for download from the report page.
//!
//! Cells are text, never formulas: the CSV defuses formula leads as the logbook export does,
//! and every XLSX cell is a typed string (frequency a number).

use aduan_core::logbook::{Month, csv_line};
use aduan_core::report::RiskEntry;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, XlsxError};

/// Column headings, in Indonesian, in register order.
pub const COLUMNS: [&str; 7] = [
    "No.",
    "Risiko",
    "Penyebab",
    "Frekuensi (pengaduan)",
    "Pengendalian yang diusulkan",
    "Pemilik risiko",
    "Sumber",
];

/// The cells of one entry as it leaves the office ([`RiskEntry::masked`]: the register goes
/// to the ISO coordinator).
fn cells(i: usize, e: &RiskEntry, month: Month) -> [String; 7] {
    let e = e.masked();
    [
        (i + 1).to_string(),
        e.risk,
        e.cause,
        e.frequency.to_string(),
        e.control,
        e.owner,
        format!("Laporan pengaduan {}", month.label_id()),
    ]
}

/// The register as CSV (UTF-8 with BOM, so spreadsheet programs read the Indonesian text
/// right; CRLF lines; every cell quoted).
pub fn risks_csv(month: Month, entries: &[RiskEntry]) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(&csv_line(&COLUMNS.map(str::to_string)));
    for (i, e) in entries.iter().enumerate() {
        out.push_str(&csv_line(&cells(i, e, month)));
    }
    out
}

/// The register as an XLSX workbook (one sheet, A4 landscape, headings repeated on each
/// printed page).
pub fn risks_xlsx(office: &str, month: Month, entries: &[RiskEntry]) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(format!("Risiko {month}"))?;
    ws.set_landscape();
    ws.set_paper_size(9);
    ws.set_print_fit_to_pages(1, 0);
    ws.set_repeat_rows(3, 3)?;
    for (c, w) in [6.0, 36.0, 40.0, 12.0, 40.0, 22.0, 24.0].iter().enumerate() {
        ws.set_column_width(c as u16, *w)?;
    }
    let title = Format::new().set_bold().set_font_size(13);
    let head = Format::new()
        .set_bold()
        .set_background_color(0xDDDDDD)
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center)
        .set_text_wrap();
    let cell = Format::new()
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::Top);
    ws.write_string_with_format(0, 0, office.to_uppercase(), &title)?;
    ws.write_string(
        1,
        0,
        format!(
            "Register risiko dari kesimpulan Kasi atas pengaduan bulan {} (masukan ISO 9001 klausul 6.1)",
            month.label_id()
        ),
    )?;
    for (c, h) in COLUMNS.iter().enumerate() {
        ws.write_string_with_format(3, c as u16, *h, &head)?;
    }
    for (i, e) in entries.iter().enumerate() {
        let row = 4 + i as u32;
        for (c, v) in cells(i, e, month).iter().enumerate() {
            if c == 0 || c == 3 {
                ws.write_number_with_format(row, c as u16, v.parse::<f64>().unwrap_or(0.0), &cell)?;
            } else {
                ws.write_string_with_format(row, c as u16, v, &cell)?;
            }
        }
    }
    wb.save_to_buffer()
}

/// A downloadable file: (content type, file name, bytes).
pub type RegisterFile = (&'static str, String, Vec<u8>);

/// The register as a file for `format` `csv` or `xlsx`; `Ok(None)` for any other format.
pub fn register_file(
    format: &str,
    office: &str,
    month: Month,
    entries: &[RiskEntry],
) -> Result<Option<RegisterFile>, XlsxError> {
    let name = format!("register-risiko-{month}");
    Ok(match format {
        "csv" => Some((
            "text/csv; charset=utf-8",
            format!("{name}.csv"),
            risks_csv(month, entries).into_bytes(),
        )),
        "xlsx" => Some((
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            format!("{name}.xlsx"),
            risks_xlsx(office, month, entries)?,
        )),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<RiskEntry> {
        vec![
            RiskEntry {
                risk: "KTP-el belum jadi".into(),
                cause: "blangko habis, \"antrean\" cetak".into(),
                frequency: 12,
                control: "=HYPERLINK(\"x\")".into(),
                owner: "Bidang Pelayanan Pendaftaran Penduduk".into(),
            },
            RiskEntry {
                risk: "Akta kelahiran terlambat".into(),
                cause: "berkas tidak lengkap".into(),
                frequency: 3,
                control: "daftar persyaratan di loket".into(),
                owner: "Kasi (hubungi 081234567890)".into(),
            },
        ]
    }

    #[test]
    fn csv_has_every_entry_quoted_and_defused() {
        let m = Month::parse("2026-11").unwrap();
        let csv = risks_csv(m, &entries());
        let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').split("\r\n").collect();
        assert_eq!(lines.len(), 4, "{csv}");
        assert!(lines[0].starts_with("\"No.\",\"Risiko\""));
        assert!(lines[1].contains("\"KTP-el belum jadi\""));
        assert!(lines[1].contains("\"blangko habis, \"\"antrean\"\" cetak\""));
        assert!(lines[1].contains("\"'=HYPERLINK"), "{}", lines[1]);
        assert!(lines[1].contains("\"12\""));
        assert!(lines[2].starts_with("\"2\",\"Akta kelahiran terlambat\""));
        assert!(
            !lines[2].contains("081234567890"),
            "a phone is masked: {}",
            lines[2]
        );
        assert_eq!(lines[3], "");
    }

    #[test]
    fn xlsx_is_a_workbook_with_the_entries() {
        let m = Month::parse("2026-11").unwrap();
        let bytes = risks_xlsx("Disdukcapil Buleleng", m, &entries()).unwrap();
        assert_eq!(&bytes[..2], b"PK");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut xml = String::new();
        for i in 0..zip.len() {
            let mut f = zip.by_index(i).unwrap();
            let name = f.name().unwrap().to_string();
            if name.starts_with("xl/") && name.ends_with(".xml") {
                std::io::Read::read_to_string(&mut f, &mut xml).unwrap();
            }
        }
        assert!(xml.contains("KTP-el belum jadi"));
        assert!(xml.contains("daftar persyaratan di loket"));
        assert!(xml.contains("=HYPERLINK"), "kept as text");
        assert!(!xml.contains("<f>"), "no formula cell");
    }
}
