//! The logbook FM-PDIP-03-02 ("Log Book Penanganan Pengaduan Tidak Langsung"): one row per
//! complaint received in a month, columns in the SOP's order, and its CSV form.
//!
//! Rows never carry the complainant's identity fields; texts are masked when the reader may
//! not see identities.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::mask::IdentityMask;
use crate::model::ComplaintRecord;
use crate::types::{ParseError, Resolution};

/// Column headings in the SOP's order.
pub const COLUMNS: [&str; 7] = [
    "No.",
    "Isi Pengaduan & Sumber",
    "Bidang Terkait",
    "Tindak Lanjut Aduan",
    "Tindak Lanjut ke Pengadu",
    "Status",
    "Paraf Kabid PDIP",
];

/// A calendar month `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

/// The months in Bahasa Indonesia, January first.
pub const MONTH_NAMES_ID: [&str; 12] = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
];

impl Month {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let err = || ParseError::new("month", format!("`{s}`: expected YYYY-MM"));
        let (y, m) = s.split_once('-').ok_or_else(err)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(err());
        }
        let year: i32 = y.parse().map_err(|_| err())?;
        let month: u32 = m.parse().map_err(|_| err())?;
        if !(1..=12).contains(&month) || !(2000..=2999).contains(&year) {
            return Err(err());
        }
        Ok(Month { year, month })
    }
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("valid month")
    }
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }
    pub fn prev(self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }
    /// `[start, end)` of the month in the office time zone, as UTC instants.
    pub fn range(self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let at = |d: NaiveDate| {
            tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
                .earliest()
                .expect("midnight exists")
                .with_timezone(&Utc)
        };
        (at(self.first_day()), at(self.next().first_day()))
    }
    /// The month containing `t` in `tz`.
    pub fn of(t: DateTime<Utc>, tz: Tz) -> Month {
        let l = t.with_timezone(&tz);
        Month {
            year: l.year(),
            month: l.month(),
        }
    }
    /// Indonesian month name and year, e.g. "Maret 2026".
    pub fn label_id(self) -> String {
        format!(
            "{} {}",
            MONTH_NAMES_ID[(self.month - 1) as usize],
            self.year
        )
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Paraf of a row.
#[derive(Debug, Clone, Serialize)]
pub struct RowParaf {
    pub by: String,
    pub at: DateTime<Utc>,
}

/// A question asked to the citizen while the complaint was handled, with the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogbookQuestion {
    pub question: String,
    /// The citizen's answer (as kept in the history), if any.
    pub answer: Option<String>,
    /// The wait ended without an answer (the complaint closed `tidak`).
    pub unanswered: bool,
}

/// One logbook line.
#[derive(Debug, Clone, Serialize)]
pub struct LogbookRow {
    pub no: usize,
    pub ticket: String,
    pub received_at: DateTime<Utc>,
    pub channel: String,
    pub source: String,
    pub category: Option<String>,
    pub text: String,
    pub bidang: Option<String>,
    pub solution: Option<String>,
    pub answer: Option<String>,
    pub status: Option<Resolution>,
    pub state: String,
    pub paraf: Option<RowParaf>,
    /// Questions to the citizen and their answers, in order.
    pub questions: Vec<LogbookQuestion>,
}

impl LogbookRow {
    /// "Isi Pengaduan & Sumber" cell.
    pub fn isi_dan_sumber(&self) -> String {
        format!("[{}] {} (Sumber: {})", self.ticket, self.text, self.source)
    }
    /// "Tindak Lanjut Aduan" cell: the division's solution, then each question asked to
    /// the citizen with its answer.
    pub fn tindak_lanjut_aduan(&self) -> String {
        let mut parts: Vec<String> = self.solution.iter().cloned().collect();
        for q in &self.questions {
            let answer = match (&q.answer, q.unanswered) {
                (Some(a), _) => format!("Jawaban pengadu: {a}"),
                (None, true) => "Tidak ada tanggapan pengadu.".to_string(),
                (None, false) => "Belum dijawab.".to_string(),
            };
            parts.push(format!("Pertanyaan ke pengadu: {}\n{answer}", q.question));
        }
        parts.join("\n\n")
    }
    /// "Status" cell: selesai / tidak, empty while open.
    pub fn status_cell(&self) -> &'static str {
        match self.status {
            Some(Resolution::Selesai) => "selesai",
            Some(Resolution::Tidak) => "tidak",
            None => "",
        }
    }
    pub fn paraf_cell(&self, tz: Tz) -> String {
        self.paraf
            .as_ref()
            .map(|p| format!("{} ({})", p.by, p.at.with_timezone(&tz).format("%d-%m-%Y")))
            .unwrap_or_default()
    }
}

/// Whether a logbook's texts are masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Masking {
    /// Texts as written (staff who may see identities).
    None,
    /// Texts masked with each complaint's own identity (the mailed digest, any reader who
    /// may not see identities): e-mail addresses, phone numbers, NIKs, and the
    /// complainant's name, address and handle.
    Identity,
}

/// Build rows from complaints ordered by receipt; rows never carry identity fields, and
/// `masking` says whether their texts are masked.
pub fn rows(records: &[ComplaintRecord], masking: Masking) -> Vec<LogbookRow> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mask = (masking == Masking::Identity).then(|| IdentityMask::new(&r.identity));
            let m = |s: &str| match &mask {
                Some(k) => k.apply(s),
                None => s.to_string(),
            };
            row(i, r, m)
        })
        .collect()
}

fn row(i: usize, r: &ComplaintRecord, m: impl Fn(&str) -> String) -> LogbookRow {
    LogbookRow {
        no: i + 1,
        ticket: r.ticket.to_string(),
        received_at: r.received_at,
        channel: r.channel.as_str().into(),
        source: r.channel.source_label().into(),
        category: r.category.map(|c| c.label().to_string()),
        text: m(&r.body),
        bidang: r.bidang.as_ref().map(|b| b.to_string()),
        solution: r.solution.as_deref().map(&m),
        answer: r.answer.as_deref().map(&m),
        status: r.status,
        state: r.state.as_str().into(),
        paraf: match (&r.paraf_by, r.paraf_at) {
            (Some(by), Some(at)) => Some(RowParaf { by: by.clone(), at }),
            _ => None,
        },
        questions: questions(&r.history, &m),
    }
}

/// The questions of a complaint's history (`ask` lines) with the answers that followed
/// (`citizen_answer` lines) or the close without one (`close_unanswered`).
fn questions(
    history: &[crate::workflow::HistoryEntry],
    m: &impl Fn(&str) -> String,
) -> Vec<LogbookQuestion> {
    let mut out: Vec<LogbookQuestion> = Vec::new();
    for h in history {
        let note = h.note.as_deref().unwrap_or("");
        match h.action.as_str() {
            "ask" => out.push(LogbookQuestion {
                question: m(note),
                answer: None,
                unanswered: false,
            }),
            "citizen_answer" => {
                if let Some(q) = out.last_mut().filter(|q| q.answer.is_none()) {
                    let a = note.strip_prefix("jawaban pengadu: ").unwrap_or(note);
                    q.answer = Some(m(a));
                }
            }
            "close_unanswered" => {
                if let Some(q) = out.last_mut().filter(|q| q.answer.is_none()) {
                    q.unanswered = true;
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether a cell would start a formula in a spreadsheet (CSV injection, OWASP): its first
/// character, after any leading spaces and quotes (which spreadsheets may skip), is `=`, `+`,
/// `-` or `@` (or their full-width forms), or the cell starts with a TAB, CR or LF.
pub fn formula_lead(s: &str) -> bool {
    if s.starts_with(['\t', '\r', '\n']) {
        return true;
    }
    let rest = s.trim_start_matches([' ', '"', '\'', '\u{a0}', '\u{3000}']);
    rest.starts_with([
        '=', '+', '-', '@', '\t', '\r', '\n', '\u{ff1d}', '\u{ff0b}', '\u{ff0d}', '\u{ff20}',
    ])
}

fn csv_cell(s: &str) -> String {
    // Neutralize spreadsheet formulas (CSV injection) and quote every cell.
    let s = if formula_lead(s) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// One CSV line (CRLF) of quoted, formula-defused cells.
pub fn csv_line(cells: &[String]) -> String {
    let mut line = cells
        .iter()
        .map(|c| csv_cell(c))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// The start of the CSV logbook: the UTF-8 BOM (so spreadsheets read it) and the headings.
pub fn csv_header() -> String {
    let cells: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
    format!("\u{feff}{}", csv_line(&cells))
}

/// One CSV logbook line (RFC 4180, CRLF).
pub fn csv_row(r: &LogbookRow, tz: Tz) -> String {
    csv_line(&[
        r.no.to_string(),
        r.isi_dan_sumber(),
        r.bidang.clone().unwrap_or_default(),
        r.tindak_lanjut_aduan(),
        r.answer.clone().unwrap_or_default(),
        r.status_cell().to_string(),
        r.paraf_cell(tz),
    ])
}

/// The logbook as CSV (RFC 4180, CRLF line ends, UTF-8 with BOM so spreadsheets read it).
pub fn to_csv(rows: &[LogbookRow], tz: Tz) -> String {
    let mut out = csv_header();
    for r in rows {
        out.push_str(&csv_row(r, tz));
    }
    out
}

/// Position of a complaint in receipt order: the keyset of a page of the month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PageKey {
    pub received_at: DateTime<Utc>,
    pub id: i64,
}

impl PageKey {
    pub fn of(r: &ComplaintRecord) -> Self {
        PageKey {
            received_at: r.received_at,
            id: r.id,
        }
    }
}

/// Complaints per page when a month is read page by page.
pub const PAGE_ROWS: u32 = 500;

/// A month's logbook read page by page ([`PAGE_ROWS`] complaints per query, keyset on
/// receipt order), so an export is written row by row and memory does not grow with the
/// month. Rows are numbered on across pages and masked by `masking`.
pub struct LogbookPages {
    store: std::sync::Arc<dyn crate::store::Store>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    masking: Masking,
    after: Option<PageKey>,
    next_no: usize,
    done: bool,
    page_rows: u32,
    /// The number of rows the export holds (counted when it was opened).
    pub total: usize,
}

impl LogbookPages {
    pub fn new(
        store: std::sync::Arc<dyn crate::store::Store>,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        masking: Masking,
        total: usize,
    ) -> Self {
        LogbookPages {
            store,
            from,
            to,
            masking,
            after: None,
            next_no: 0,
            done: false,
            page_rows: PAGE_ROWS,
            total,
        }
    }

    /// Read `n` complaints per page instead of [`PAGE_ROWS`].
    pub fn with_page_rows(mut self, n: u32) -> Self {
        self.page_rows = n.max(1);
        self
    }

    /// The next page of rows; `None` once the month is read.
    pub async fn next_page(&mut self) -> Result<Option<Vec<LogbookRow>>, crate::store::StoreError> {
        if self.done {
            return Ok(None);
        }
        // Read in a task of its own: a download dropped by its client drops this future,
        // and a database call cancelled half-way (PostgreSQL: inside sqlx's `BEGIN`) can
        // leave its pooled connection inside a read-only transaction that the next writer
        // then gets. The spawned read always runs to its end.
        let (store, from, to, after, n) = (
            self.store.clone(),
            self.from,
            self.to,
            self.after,
            self.page_rows,
        );
        let recs =
            tokio::spawn(async move { store.complaints_page(from, to, after, n, true).await })
                .await
                .map_err(|e| {
                    crate::store::StoreError::Other(format!("reading a logbook page: {e}"))
                })??;
        if recs.len() < self.page_rows as usize {
            self.done = true;
        }
        let Some(last) = recs.last() else {
            return Ok(None);
        };
        self.after = Some(PageKey::of(last));
        let mut rows = rows(&recs, self.masking);
        for r in &mut rows {
            r.no += self.next_no;
        }
        self.next_no += rows.len();
        Ok(Some(rows))
    }

    /// Every remaining row (for small months and tests).
    pub async fn collect(mut self) -> Result<Vec<LogbookRow>, crate::store::StoreError> {
        let mut out = Vec::new();
        while let Some(page) = self.next_page().await? {
            out.extend(page);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_range_in_wita() {
        let m = Month::parse("2026-03").unwrap();
        let (a, b) = m.range(chrono_tz::Asia::Makassar);
        assert_eq!(a.to_rfc3339(), "2026-02-28T16:00:00+00:00");
        assert_eq!(b.to_rfc3339(), "2026-03-31T16:00:00+00:00");
        assert_eq!(
            Month::parse("2026-12").unwrap().next(),
            Month::parse("2027-01").unwrap()
        );
        assert_eq!(
            Month::parse("2026-01").unwrap().prev(),
            Month::parse("2025-12").unwrap()
        );
        for bad in ["2026-13", "2026-3", "26-03", "2026/03", ""] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(m.label_id(), "Maret 2026");
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_cell("a \"b\""), "\"a \"\"b\"\"\"");
        assert_eq!(csv_cell("=SUM(A1)"), "\"'=SUM(A1)\"");
        // Every formula lead of OWASP's CSV-injection advice, also behind spaces or quotes.
        for lead in [
            "=1+1",
            "+1+1",
            "-1+1",
            "@SUM(A1)",
            "\t=1+1",
            "\r=1+1",
            "\n=1",
            " =1",
            "  @x",
            "\"=1",
            "' =1",
            "\u{ff1d}1",
        ] {
            assert!(csv_cell(lead).starts_with("\"'"), "{lead:?} not defused");
        }
        for plain in ["1", "[T-1] KTP belum jadi", "", "selesai", "a=b", "x-1"] {
            assert!(!csv_cell(plain).starts_with("\"'"), "{plain:?} changed");
        }
    }
}
