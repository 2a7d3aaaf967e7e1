//! The logbook exports written row by row: each body is a stream that reads the month one
//! page at a time ([`LogbookPages`]) and sends each page's lines as one chunk, so a month
//! of any size goes out in bounded memory. A read failure after the first byte aborts the
//! transfer (the client sees a broken download, never a short file that looks complete).

use std::io::{self, Write};

use aduan_core::logbook::{self, LogbookPages, LogbookRow, Month};
use axum::body::{Body, Bytes};
use chrono_tz::Tz;

type RowFn = Box<dyn Fn(&LogbookRow, bool) -> String + Send>;
type TailFn = Box<dyn Fn(bool) -> String + Send>;

enum Stage {
    Head(String),
    Rows,
    Done,
}

struct Paged {
    pages: LogbookPages,
    stage: Stage,
    any: bool,
    row: RowFn,
    tail: TailFn,
}

/// A body of `head`, then `row(r, first)` for every row, then `tail(any rows)`.
fn paged_body(pages: LogbookPages, head: String, row: RowFn, tail: TailFn) -> Body {
    let st = Paged {
        pages,
        stage: Stage::Head(head),
        any: false,
        row,
        tail,
    };
    Body::from_stream(futures::stream::unfold(st, |mut st| async move {
        match std::mem::replace(&mut st.stage, Stage::Rows) {
            Stage::Head(h) => Some((Ok(Bytes::from(h)), st)),
            Stage::Done => None,
            Stage::Rows => match st.pages.next_page().await {
                Ok(Some(rows)) => {
                    let mut out = String::new();
                    for r in &rows {
                        out.push_str(&(st.row)(r, !st.any));
                        st.any = true;
                    }
                    Some((Ok(Bytes::from(out)), st))
                }
                Ok(None) => {
                    st.stage = Stage::Done;
                    let tail = (st.tail)(st.any);
                    Some((Ok(Bytes::from(tail)), st))
                }
                Err(e) => {
                    tracing::error!(error = %e, "logbook export aborted");
                    st.stage = Stage::Done;
                    Some((Err(io::Error::other("reading the logbook failed")), st))
                }
            },
        }
    }))
}

/// The CSV logbook (BOM, headings, one line per row).
pub fn csv_body(pages: LogbookPages, tz: Tz) -> Body {
    paged_body(
        pages,
        logbook::csv_header(),
        Box::new(move |r, _| logbook::csv_row(r, tz)),
        Box::new(|_| String::new()),
    )
}

/// The JSON logbook `{"month", "form", "columns", "rows": […]}`.
pub fn json_body(pages: LogbookPages, month: Month) -> Body {
    let head = serde_json::json!({
        "month": month.to_string(),
        "form": "FM-PDIP-03-02",
        "columns": logbook::COLUMNS,
    })
    .to_string();
    // `{…}` without its closing brace, then the rows array.
    let head = format!("{},\"rows\":[", head.trim_end_matches('}'));
    paged_body(
        pages,
        head,
        Box::new(|r, first| {
            let v = serde_json::to_string(r).unwrap_or_else(|_| "null".into());
            if first { v } else { format!(",{v}") }
        }),
        Box::new(|_| "]}".to_string()),
    )
}

/// Escape text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '/' => out.push_str("&#x2f;"),
            c => out.push(c),
        }
    }
    out
}

const HTML: &str = include_str!("../templates/logbook.html");
const ROWS_MARK: &str = "<!-- rows -->";

/// The printable page up to the first row.
pub fn html_head(office: &str, month: Month) -> String {
    let head = HTML.split(ROWS_MARK).next().unwrap_or_default();
    let cols: String = logbook::COLUMNS
        .iter()
        .map(|c| format!("<th>{}</th>", escape_html(c)))
        .collect();
    head.replace("{{ office }}", &escape_html(office))
        .replace("{{ month_label }}", &escape_html(&month.label_id()))
        .replace("{{ columns }}", &cols)
}

/// One printable row.
pub fn html_row(r: &LogbookRow, tz: Tz) -> String {
    let e = |s: &str| escape_html(s);
    format!(
        "<tr>\n<td class=\"no\">{}</td>\n<td><strong>{}</strong> {}<div class=\"src\">Sumber: {}</div></td>\n\
         <td>{}</td>\n<td>{}</td>\n<td>{}</td>\n<td class=\"status\">{}</td>\n<td>{}</td>\n</tr>\n",
        r.no,
        e(&r.ticket),
        e(&r.text),
        e(&r.source),
        e(r.bidang.as_deref().unwrap_or("")),
        e(&r.tindak_lanjut_aduan()),
        e(r.answer.as_deref().unwrap_or("")),
        e(r.status_cell()),
        e(&r.paraf_cell(tz)),
    )
}

/// The end of the printable page (a line saying so when the month has no complaint).
pub fn html_tail(any: bool) -> String {
    let tail = HTML.split(ROWS_MARK).nth(1).unwrap_or_default();
    let empty = if any {
        ""
    } else {
        "<tr><td colspan=\"7\">Tidak ada pengaduan pada bulan ini.</td></tr>\n"
    };
    format!("{empty}{tail}")
}

/// The printable logbook page (A4 landscape).
pub fn html_body(pages: LogbookPages, office: &str, month: Month, tz: Tz) -> Body {
    paged_body(
        pages,
        html_head(office, month),
        Box::new(move |r, _| html_row(r, tz)),
        Box::new(html_tail),
    )
}

/// A `Write` into a body channel (used from a blocking thread only).
struct ChannelWriter(tokio::sync::mpsc::Sender<Result<Bytes, io::Error>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The XLSX logbook, zipped straight into the body in 64 KiB chunks as the workbook is
/// written (see [`aduan_digest::xlsx::write_logbook_xlsx`]).
pub fn xlsx_body(pages: LogbookPages, office: &str, month: Month, tz: Tz) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, io::Error>>(4);
    let out = io::BufWriter::with_capacity(64 * 1024, ChannelWriter(tx.clone()));
    let office = office.to_string();
    tokio::spawn(async move {
        if let Err(e) = aduan_digest::xlsx::write_logbook_xlsx(pages, &office, month, tz, out).await
        {
            tracing::error!(error = %e, "logbook xlsx export aborted");
            let _ = tx
                .send(Err(io::Error::other("writing the workbook failed")))
                .await;
        }
    });
    Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item, rx))
    }))
}

/// The whole printable page as a string (small months, tests): the same pieces as
/// [`html_body`].
pub fn render_html(office: &str, month: Month, rows: &[LogbookRow], tz: Tz) -> String {
    let mut out = html_head(office, month);
    for r in rows {
        out.push_str(&html_row(r, tz));
    }
    out.push_str(&html_tail(!rows.is_empty()));
    out
}
