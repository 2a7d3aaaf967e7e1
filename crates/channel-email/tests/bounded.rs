//! Bounded work on hostile mail: the HTML converter is linear in its input for every
//! adversarial shape up to `max_message_bytes` (asserted on its work counter, never on
//! time); parsing runs off the async workers; header fields, MIME parts, nesting, message
//! ids and base64 garbage are bounded with a note, never a panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use aduan_channel_email::html::{html_to_text, html_to_text_counted};
use aduan_channel_email::parse::{
    BOUNDARY_CUT_NOTE, DEFAULT_MAX_MESSAGE_BYTES, HEADERS_CUT_NOTE, MAX_MESSAGE_IDS,
    MAX_MIME_MARKERS, MAX_SKIPPED_NAMES, PARTS_CUT_NOTE, normalize_blocking, normalize_oversized,
    oversize_note,
};
use aduan_channel_email::{Limits, normalize};

/// One adversarial family: a unit repeated (between a prefix and a suffix).
struct Family {
    name: &'static str,
    prefix: &'static str,
    unit: &'static str,
    suffix: &'static str,
}

const fn fam(
    name: &'static str,
    prefix: &'static str,
    unit: &'static str,
    suffix: &'static str,
) -> Family {
    Family {
        name,
        prefix,
        unit,
        suffix,
    }
}

/// Every super-linear shape an HTML-to-text converter is known to meet.
const FAMILIES: &[Family] = &[
    // The case: each unclosed <title> searched the rest of the input for </title>.
    fam("unclosed title", "", "<title>x", ""),
    fam("unclosed head", "", "<head>x ", ""),
    fam("unclosed title and head", "", "<head>a<title>b", ""),
    fam(
        "unclosed title with decoy close tags",
        "",
        "<title></titl",
        "",
    ),
    fam("title closed at the very end", "", "<title>x", "</title>"),
    fam("unclosed style with decoys", "<style>", "</styl", ""),
    fam(
        "unclosed script with decoys",
        "<p>a</p><script>",
        "</scrip</",
        "",
    ),
    fam("deep nesting", "", "<div><span><b>", "</b></span></div>"),
    fam("long attribute run", "<a ", "x=\"1\" y='2' ", ">text"),
    fam("unterminated quotes", "", "<a b='>", ""),
    fam("many entities", "", "&amp;&lt;&#233;&#x1F600;", ""),
    fam(
        "broken entities",
        "",
        "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "",
    ),
    fam("bare ampersands", "", "&", ""),
    fam("closed comments", "", "<!-- x -->", ""),
    fam("comment never closed", "<!--", "-- > --!>", ""),
    fam("cdata never closed", "<![CDATA[", "x]]", ""),
    fam("bang and question tags", "", "<!x><?y>", ""),
    fam("< flood", "", "<", ""),
    fam("< digit flood", "", "<1 ", ""),
    fam("</ flood", "", "</", ""),
    fam("unterminated tag", "<a", " b", ""),
    fam("one long line", "", "kata ", ""),
    fam("pre with whitespace", "<pre>", " \n\t", "</pre>"),
    fam("breaks and list items", "", "<br><li>x<hr>", ""),
    fam("table cells", "<table>", "<tr><td>a</td><th>b", "</table>"),
];

fn build(f: &Family, size: usize) -> String {
    let reps = size.saturating_sub(f.prefix.len() + f.suffix.len()) / f.unit.len();
    let mut s = String::with_capacity(size + f.unit.len());
    s.push_str(f.prefix);
    for _ in 0..reps.max(1) {
        s.push_str(f.unit);
    }
    s.push_str(f.suffix);
    s
}

const KIB: usize = 1024;

/// Work per input byte never exceeds this, whatever the shape.
const MAX_WORK_PER_BYTE: u64 = 40;

/// The families of the finding, also run up to `max_message_bytes`.
const WORST: &[&str] = &[
    "unclosed title",
    "unclosed head",
    "unclosed title and head",
    "unclosed title with decoy close tags",
];

#[test]
fn html_to_text_is_linear_for_every_adversarial_shape_up_to_the_size_limit() {
    let max = DEFAULT_MAX_MESSAGE_BYTES as usize;
    for f in FAMILIES {
        // 64 KiB -> 512 KiB for every shape (debug builds are slow: the large sizes only
        // for the shapes of the finding).
        let sizes: &[usize] = if WORST.contains(&f.name) {
            &[64 * KIB, 512 * KIB, 4096 * KIB, max]
        } else {
            &[64 * KIB, 512 * KIB]
        };
        let mut last: Option<(usize, u64)> = None;
        for &size in sizes {
            let input = build(f, size);
            let (text, work) = html_to_text_counted(&input);
            assert!(text.len() <= input.len() * 2, "{}: output grows", f.name);
            let n = input.len() as u64;
            assert!(
                work <= MAX_WORK_PER_BYTE * n,
                "{}: {work} steps for {n} bytes (more than {MAX_WORK_PER_BYTE} a byte)",
                f.name
            );
            if let Some((prev_len, prev_work)) = last {
                // 8x the input (6.25x for the last step) may cost at most ~10x the work.
                let growth = input.len() as f64 / prev_len as f64;
                let ratio = work as f64 / prev_work.max(1) as f64;
                assert!(
                    ratio <= growth * 1.25,
                    "{}: {growth:.2}x the input cost {ratio:.1}x the work ({prev_work} -> {work})",
                    f.name
                );
            }
            last = Some((input.len(), work));
        }
    }
}

#[test]
fn the_counter_sees_the_work_of_each_shape() {
    // The counter is not a constant: it counts at least every input byte.
    for f in FAMILIES {
        let input = build(f, 64 * KIB);
        let (_, work) = html_to_text_counted(&input);
        assert!(work >= input.len() as u64, "{}: {work}", f.name);
    }
    // The cached search keeps the output: an unclosed <title> still shows its text.
    assert_eq!(html_to_text("<title>a<title>b"), "ab");
    assert_eq!(html_to_text("<head>a<title>b</title>c"), "ac");
    assert_eq!(html_to_text("<title>a</title>b<title>c"), "bc");
    assert_eq!(html_to_text("<style>a</style>b<style>c"), "b");
}

/// The mail: an HTML part with many unclosed `<title>` tags (781 KiB took 13 s).
fn title_bomb_mail(html_bytes: usize) -> Vec<u8> {
    let html = "<title>x".repeat(html_bytes / 8);
    format!(
        "From: Warga <warga@example.net>\r\nSubject: Lampu\r\nMessage-ID: <bomb@example.net>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
    )
    .into_bytes()
}

#[test]
fn the_title_bomb_mail_normalizes_in_linear_work() {
    let m = normalize(&title_bomb_mail(800 * KIB), &Limits::default()).expect("parse");
    assert!(m.text.starts_with("xxxx"), "{}", &m.text[..20]);
    assert!(m.text.ends_with("[... dipotong]"));
}

#[tokio::test(flavor = "current_thread")]
async fn parsing_runs_off_the_async_worker() {
    // One worker thread: if parsing ran on it, the ticker could not tick meanwhile.
    let ticks = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = {
        let (ticks, stop) = (ticks.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                ticks.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        })
    };
    tokio::task::yield_now().await;
    let raw = title_bomb_mail(4096 * KIB);
    let before = ticks.load(Ordering::Relaxed);
    let m = normalize_blocking(raw, Limits::default())
        .await
        .expect("parse");
    let during = ticks.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    ticker.await.expect("ticker");
    assert!(m.text.starts_with("xxxx"));
    assert!(
        during > 0,
        "the runtime's only worker was blocked while the mail was parsed"
    );
    println!("ticks while parsing: {during}");
}

#[test]
fn a_mail_over_the_size_limit_is_read_from_its_headers() {
    let limits = Limits {
        max_message_bytes: 64 * 1024,
        ..Limits::default()
    };
    let raw = format!(
        "From: Warga <warga@example.net>\r\nSubject: Foto jalan\r\nMessage-ID: <big@example.net>\r\n\
         Date: Mon, 5 Jan 2026 09:00:00 +0800\r\nContent-Type: text/plain\r\n\r\n{}\r\n",
        "isi ".repeat(20_000)
    );
    let m = normalize(raw.as_bytes(), &limits).expect("parse");
    assert_eq!(m.from_address.as_deref(), Some("warga@example.net"));
    assert_eq!(m.subject, "Foto jalan");
    assert_eq!(m.message_id.as_deref(), Some("big@example.net"));
    assert!(m.date.is_some());
    assert_eq!(m.text, oversize_note(raw.len() as u64, 64 * 1024));
    assert!(m.text.contains("(79 KB > 64 KB)"), "{}", m.text);
    assert!(m.attachments.is_empty());
    // The same from BODY[HEADER] alone.
    let header = &raw[..raw.find("\r\n\r\n").expect("header end") + 4];
    let h = normalize_oversized(header.as_bytes(), raw.len() as u64, &limits).expect("parse");
    assert_eq!((h.subject, h.text), (m.subject, m.text));
    assert_eq!(
        oversize_note(32_715_571, DEFAULT_MAX_MESSAGE_BYTES),
        "[Surel terlalu besar (31,2 MB > 25 MB); isi dan lampiran tidak diambil. \
         Mohon dikirim ulang dengan lampiran lebih kecil.]"
    );
}

#[test]
fn hostile_headers_parts_and_ids_are_bounded_with_a_note() {
    let limits = Limits::default();
    // A million header fields.
    let mut raw = String::from("From: warga@example.net\r\n");
    raw.push_str(&"X-A: b\r\n".repeat(1_000_000));
    raw.push_str("Subject: Lampu mati\r\n\r\nIsi.\r\n");
    let m = normalize(raw.as_bytes(), &limits).expect("parse");
    assert_eq!(m.subject, "Lampu mati", "the essential fields are kept");
    assert_eq!(m.text, format!("Isi.\n\n{HEADERS_CUT_NOTE}"));

    // One huge header field.
    let raw = format!(
        "From: warga@example.net\r\nSubject: {}\r\n\r\nIsi.\r\n",
        "panjang ".repeat(1_000_000)
    );
    let m = normalize(raw.as_bytes(), &limits).expect("parse");
    assert!(m.subject.starts_with("panjang panjang") && m.subject.len() < 40_000);
    assert!(m.text.ends_with(HEADERS_CUT_NOTE));

    // Thousands of References (deduplicated in linear time, first and last kept).
    let ids: String = (0..3000).map(|i| format!(" <r{i}@x>")).collect();
    let raw = format!("From: warga@example.net\r\nReferences:{ids}\r\n\r\nIsi.\r\n");
    let m = normalize(raw.as_bytes(), &limits).expect("parse");
    assert_eq!(m.references.len(), MAX_MESSAGE_IDS);
    assert_eq!(m.references[0], "r0@x");
    assert_eq!(m.references[MAX_MESSAGE_IDS - 1], "r2999@x");
    assert_eq!(m.references[1], "r2901@x");

    // Many MIME parts, each an attachment.
    let mut raw = String::from(
        "From: warga@example.net\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n",
    );
    for i in 0..200_000 {
        raw.push_str(&format!(
            "--b\r\nContent-Type: application/octet-stream; name=f{i}.bin\r\n\r\nx\r\n"
        ));
    }
    raw.push_str("--b--\r\n");
    let m = normalize(raw.as_bytes(), &limits).expect("parse");
    assert!(m.text.ends_with(PARTS_CUT_NOTE), "{}", m.text);
    assert_eq!(m.attachments.len(), limits.max_attachments);
    assert_eq!(m.skipped_attachments.len(), MAX_SKIPPED_NAMES + 1);
    assert!(m.skipped_attachments[MAX_SKIPPED_NAMES].starts_with("dan "));

    // Multiparts nested a hundred thousand deep, and message/rfc822 nested likewise.
    let mut raw = String::from("From: warga@example.net\r\n");
    for i in 0..100_000 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
        ));
    }
    raw.push_str("\r\nIsi terdalam.\r\n");
    let m = normalize(raw.as_bytes(), &limits).expect("parse");
    assert!(m.text.ends_with(PARTS_CUT_NOTE), "{}", m.text);
    let raw = format!(
        "From: warga@example.net\r\n{}\r\nIsi.\r\n",
        "Content-Type: message/rfc822\r\n\r\n".repeat(100_000)
    );
    let m = normalize(raw.as_bytes(), &limits).expect("parse");
    assert!(m.text.ends_with(PARTS_CUT_NOTE), "{}", m.text);
    const { assert!(MAX_MIME_MARKERS < 100_000) };

    // A part with a million header lines.
    let raw = format!(
        "From: warga@example.net\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\n{}Content-Type: text/plain\r\n\r\nIsi.\r\n--b--\r\n",
        "X-A: b\r\n".repeat(1_000_000)
    );
    let m = normalize(raw.as_bytes(), &limits).expect("parse");
    assert!(m.text.ends_with(PARTS_CUT_NOTE), "{}", m.text);

    // A boundary of 30 000 dashes over a body of dashes (each `--` compared the whole
    // boundary: boundary x body steps).
    let b = format!("{}X", "-".repeat(30_000));
    let raw = format!(
        "From: warga@example.net\r\nContent-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n\
         --{b}\r\n\r\n{}\r\n",
        "-".repeat(4 * 1024 * 1024)
    );
    let m = normalize(raw.as_bytes(), &limits).expect("parse");
    assert!(
        m.text.ends_with(BOUNDARY_CUT_NOTE),
        "{}",
        &m.text[m.text.len().saturating_sub(200)..]
    );

    // Base64 garbage in a text part and in an attachment.
    let garbage: String = (0..2_000_000u32)
        .map(|i| char::from(b"!*%$#@=-_~^"[(i % 11) as usize]))
        .collect();
    let raw = format!(
        "From: warga@example.net\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n{garbage}\r\n\
         --b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n{garbage}\r\n--b--\r\n"
    );
    let m = normalize(raw.as_bytes(), &limits).expect("parse");
    assert!(m.text.chars().count() <= limits.max_text_chars + 20);
}
