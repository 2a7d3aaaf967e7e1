//! The logbook FM-PDIP-03-02 as an XLSX workbook: office header, form number, the seven SOP
//! columns in order, one row per complaint, wrapped text, A4 landscape page setup.

use aduan_core::logbook::{COLUMNS, LogbookRow, Month};
use chrono_tz::Tz;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, XlsxError};

/// Build the workbook bytes.
pub fn logbook_xlsx(
    office: &str,
    month: Month,
    rows: &[LogbookRow],
    tz: Tz,
) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(format!("Log Book {month}"))?;
    ws.set_landscape();
    ws.set_paper_size(9); // A4
    ws.set_print_fit_to_pages(1, 0);
    ws.set_repeat_rows(3, 3)?;
    let title = Format::new().set_bold().set_font_size(13);
    let sub = Format::new().set_bold().set_font_size(11);
    let form = Format::new()
        .set_bold()
        .set_border(FormatBorder::Medium)
        .set_align(FormatAlign::Center);
    let head = Format::new()
        .set_bold()
        .set_background_color(0xDDDDDD)
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
        .set_text_wrap();
    let cell = Format::new()
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::Top);
    let center = cell.clone().set_align(FormatAlign::Center);
    ws.write_string_with_format(0, 0, office.to_uppercase(), &title)?;
    ws.write_string_with_format(1, 0, "Log Book Penanganan Pengaduan Tidak Langsung", &sub)?;
    ws.write_string(2, 0, format!("Bulan: {}", month.label_id()))?;
    ws.write_string_with_format(0, 6, "FM-PDIP-03-02", &form)?;
    for (c, name) in COLUMNS.iter().enumerate() {
        ws.write_string_with_format(3, c as u16, *name, &head)?;
    }
    let widths = [6.0, 60.0, 16.0, 40.0, 40.0, 10.0, 18.0];
    for (c, w) in widths.iter().enumerate() {
        ws.set_column_width(c as u16, *w)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = 4 + i as u32;
        ws.write_number_with_format(row, 0, r.no as f64, &center)?;
        ws.write_string_with_format(row, 1, r.isi_dan_sumber(), &cell)?;
        ws.write_string_with_format(row, 2, r.bidang.clone().unwrap_or_default(), &cell)?;
        ws.write_string_with_format(row, 3, r.tindak_lanjut_aduan(), &cell)?;
        ws.write_string_with_format(row, 4, r.answer.clone().unwrap_or_default(), &cell)?;
        ws.write_string_with_format(row, 5, r.status_cell(), &center)?;
        ws.write_string_with_format(row, 6, r.paraf_cell(tz), &cell)?;
    }
    wb.save_to_buffer()
}
