//! The logbook FM-PDIP-03-02 as an XLSX workbook: office header, form number, the seven SOP
//! columns in order, one row per complaint, wrapped text, A4 landscape page setup.
//!
//! Memory stays bounded whatever the month: the worksheet is rust_xlsxwriter's "constant
//! memory" mode (each finished row goes to a temporary file, strings are written inline
//! rather than into a shared-string table), and the workbook is zipped straight into the
//! output writer ([`LogbookSheet::save`] streams; no seek). [`write_logbook_xlsx`] feeds it
//! page by page from the store. Every cell is a typed string (`t="inlineStr"`), never a
//! formula, so a text starting with `=` stays text.

use std::io::Write;

use aduan_core::logbook::{COLUMNS, LogbookPages, LogbookRow, Month};
use chrono_tz::Tz;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, XlsxError};

/// A logbook workbook being written row by row.
pub struct LogbookSheet {
    wb: Workbook,
    cell: Format,
    center: Format,
    next_row: u32,
    tz: Tz,
}

impl LogbookSheet {
    /// The workbook with its header rows written.
    pub fn new(office: &str, month: Month, tz: Tz) -> Result<Self, XlsxError> {
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet_with_constant_memory()?;
        ws.set_name(format!("Log Book {month}"))?;
        ws.set_landscape();
        ws.set_paper_size(9); // A4
        ws.set_print_fit_to_pages(1, 0);
        ws.set_repeat_rows(3, 3)?;
        let widths = [6.0, 60.0, 16.0, 40.0, 40.0, 10.0, 18.0];
        for (c, w) in widths.iter().enumerate() {
            ws.set_column_width(c as u16, *w)?;
        }
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
        ws.write_string_with_format(0, 6, "FM-PDIP-03-02", &form)?;
        ws.write_string_with_format(1, 0, "Log Book Penanganan Pengaduan Tidak Langsung", &sub)?;
        ws.write_string(2, 0, format!("Bulan: {}", month.label_id()))?;
        for (c, name) in COLUMNS.iter().enumerate() {
            ws.write_string_with_format(3, c as u16, *name, &head)?;
        }
        Ok(LogbookSheet {
            wb,
            cell,
            center,
            next_row: 4,
            tz,
        })
    }

    /// Append one logbook row.
    pub fn push(&mut self, r: &LogbookRow) -> Result<(), XlsxError> {
        let row = self.next_row;
        let (cell, center) = (&self.cell, &self.center);
        let ws = self.wb.worksheet_from_index(0)?;
        ws.write_number_with_format(row, 0, r.no as f64, center)?;
        ws.write_string_with_format(row, 1, r.isi_dan_sumber(), cell)?;
        ws.write_string_with_format(row, 2, r.bidang.clone().unwrap_or_default(), cell)?;
        ws.write_string_with_format(row, 3, r.tindak_lanjut_aduan(), cell)?;
        ws.write_string_with_format(row, 4, r.answer.clone().unwrap_or_default(), cell)?;
        ws.write_string_with_format(row, 5, r.status_cell(), center)?;
        ws.write_string_with_format(row, 6, r.paraf_cell(self.tz), cell)?;
        self.next_row += 1;
        Ok(())
    }

    /// Zip the workbook into `out` (streamed: `out` needs no seek).
    pub fn save<W: Write + Send>(mut self, out: W) -> Result<(), XlsxError> {
        self.wb.save_to_writer(out)
    }
}

/// Build the workbook bytes of rows in memory (small months, tests).
pub fn logbook_xlsx(
    office: &str,
    month: Month,
    rows: &[LogbookRow],
    tz: Tz,
) -> Result<Vec<u8>, XlsxError> {
    let mut sheet = LogbookSheet::new(office, month, tz)?;
    for r in rows {
        sheet.push(r)?;
    }
    let mut out = Vec::new();
    sheet.save(&mut out)?;
    Ok(out)
}

/// Write the workbook of `pages` into `out` as the pages arrive: the store is read on this
/// task, the rows are written and zipped on a blocking thread, at most two pages in between.
/// A read or write failure is an error and no workbook is finished. Returns `out`.
pub async fn write_logbook_xlsx<W: Write + Send + 'static>(
    mut pages: LogbookPages,
    office: &str,
    month: Month,
    tz: Tz,
    mut out: W,
) -> Result<W, String> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<LogbookRow>, ()>>(2);
    let office = office.to_string();
    let writer = tokio::task::spawn_blocking(move || -> Result<W, String> {
        let mut sheet = LogbookSheet::new(&office, month, tz).map_err(|e| e.to_string())?;
        while let Some(page) = rx.blocking_recv() {
            let page = page.map_err(|()| "reading the logbook failed".to_string())?;
            for r in &page {
                sheet.push(r).map_err(|e| e.to_string())?;
            }
        }
        sheet.save(&mut out).map_err(|e| e.to_string())?;
        // Still on the blocking thread: a writer that blocks (a channel) may block here.
        out.flush().map_err(|e| e.to_string())?;
        Ok(out)
    });
    let mut failure = None;
    loop {
        let next = match pages.next_page().await {
            Ok(Some(page)) => Ok(page),
            Ok(None) => break,
            Err(e) => {
                failure = Some(e.to_string());
                Err(())
            }
        };
        let stop = next.is_err();
        // A closed channel: the writer failed; its error is reported below.
        if tx.send(next).await.is_err() || stop {
            break;
        }
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| format!("the workbook writer stopped: {e}"))?;
    match failure {
        Some(e) => Err(format!("reading the logbook: {e}")),
        None => written,
    }
}
