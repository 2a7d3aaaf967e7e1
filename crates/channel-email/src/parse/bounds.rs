//! Bounds on what a hostile message can make the parser do, applied to the raw bytes before
//! mail-parser sees them.
//!
//! - The top-level header section: at most [`MAX_HEADER_FIELDS`] fields and
//!   [`MAX_HEADER_BYTES`] bytes, each field at most [`MAX_FIELD_BYTES`]. When a message has
//!   more, the first fields within the limits are kept, plus the first occurrence of each
//!   field the desk reads ([`ESSENTIAL`], cut to [`MAX_FIELD_BYTES`]), and the mail says so
//!   ([`HEADERS_CUT_NOTE`]).
//! - MIME structure: every part, and every level of multipart or `message/rfc822` nesting,
//!   needs a boundary line (`--…`) or a `Content-Type` line. The body is cut before the
//!   line that would exceed [`MAX_MIME_MARKERS`] of them ([`PARTS_CUT_NOTE`]), which bounds
//!   the number of parts and the nesting depth mail-parser builds; likewise before a run of
//!   more than [`MAX_PART_HEADER_LINES`] header-shaped lines (a part's header section),
//!   which bounds the header fields mail-parser keeps per part.
//! - MIME boundaries: a `boundary=` value longer than [`MAX_BOUNDARY_LEN`] is cut to it
//!   ([`BOUNDARY_CUT_NOTE`]); mail-parser compares the boundary at every `--` of the body,
//!   so a 30 000-character boundary over a body of dashes cost boundary × body steps.
//!
//! Invariants: a message within the limits is passed on byte for byte (its normalization
//! does not change); the work here is one pass over the bytes; nothing panics.

use std::borrow::Cow;

/// Most header fields read from the top-level header section.
pub const MAX_HEADER_FIELDS: usize = 500;
/// Most bytes of the top-level header section read.
pub const MAX_HEADER_BYTES: usize = 256 * 1024;
/// Longest header field read (longer ones are cut).
pub const MAX_FIELD_BYTES: usize = 32 * 1024;
/// Most MIME boundary or `Content-Type` lines read in the body.
pub const MAX_MIME_MARKERS: usize = 2000;

/// Longest MIME boundary read (RFC 2046 allows 70 characters); a longer `boundary=` value is
/// cut to this, since mail-parser compares the boundary at every `--` of the body.
pub const MAX_BOUNDARY_LEN: usize = 128;

/// The note added to the text when a MIME boundary was cut.
pub const BOUNDARY_CUT_NOTE: &str =
    "[Surel memakai batas MIME yang terlalu panjang; isinya mungkin tidak terbaca utuh.]";

/// Most consecutive header-shaped lines read in the body (a part's or an attached
/// message's header section).
pub const MAX_PART_HEADER_LINES: usize = 2000;

/// Whether `line` starts like a header field: a name of printable ASCII, then `:`.
fn header_shaped(line: &[u8]) -> bool {
    let name = line
        .iter()
        .take(80)
        .take_while(|&&b| b > b' ' && b < 127 && b != b':')
        .count();
    name > 0 && line.get(name) == Some(&b':')
}

/// The note added to the text when header fields were left out.
pub const HEADERS_CUT_NOTE: &str = "[Kepala surel terlalu panjang; sebagian tidak dibaca.]";
/// The note added to the text when MIME parts were left out.
pub const PARTS_CUT_NOTE: &str = "[Surel berisi terlalu banyak bagian; sisanya tidak dibaca.]";

/// Fields kept even beyond the limits (their first occurrence).
const ESSENTIAL: [&str; 14] = [
    "from",
    "sender",
    "reply-to",
    "return-path",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "auto-submitted",
    "x-loop",
];

/// The end of the header section of `raw`: the offset of the blank line that ends it (or
/// `raw.len()`), and the offset where the body starts.
pub(super) fn header_end(raw: &[u8]) -> (usize, usize) {
    let mut at = 0;
    while at < raw.len() {
        let line_end = raw[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |p| at + p + 1);
        let line = &raw[at..line_end];
        if line == b"\n" || line == b"\r\n" {
            return (at, line_end);
        }
        at = line_end;
    }
    (raw.len(), raw.len())
}

/// The header fields of a header section, each with its folded lines: (bytes, name).
struct Fields<'a> {
    header: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let h = self.header;
        let start = self.at;
        if start >= h.len() {
            return None;
        }
        let mut at = start;
        loop {
            at = h[at..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(h.len(), |p| at + p + 1);
            if at >= h.len() || !matches!(h[at], b' ' | b'\t') {
                break;
            }
        }
        self.at = at;
        let bytes = &h[start..at];
        let name_len = bytes
            .iter()
            .take(80)
            .take_while(|&&b| b != b':' && b > b' ')
            .count();
        Some((bytes, &bytes[..name_len]))
    }
}

fn fields(header: &[u8]) -> Fields<'_> {
    Fields { header, at: 0 }
}

/// `bytes` cut to at most `max` bytes (not inside a UTF-8 sequence), ending with CRLF.
fn cut_field(bytes: &[u8], max: usize) -> Cow<'_, [u8]> {
    if bytes.len() <= max {
        return Cow::Borrowed(bytes);
    }
    let mut cut = max;
    while cut > 0 && (bytes[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    let mut v = bytes[..cut].to_vec();
    while v
        .last()
        .is_some_and(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
    {
        v.pop();
    }
    v.extend_from_slice(b"\r\n");
    Cow::Owned(v)
}

/// The message within the bounds, and the notes to add to its text.
pub(super) fn bound(message: &[u8]) -> (Cow<'_, [u8]>, Vec<&'static str>) {
    let mut notes = Vec::new();
    let (head_end, body_start) = header_end(message);
    let header = &message[..head_end];
    let body = &message[body_start..];

    let mut new_header: Option<Vec<u8>> = None;
    let (count, longest) =
        fields(header).fold((0usize, 0usize), |(n, l), (f, _)| (n + 1, l.max(f.len())));
    if count > MAX_HEADER_FIELDS || header.len() > MAX_HEADER_BYTES || longest > MAX_FIELD_BYTES {
        let mut out = Vec::with_capacity(header.len().min(MAX_HEADER_BYTES + 1024));
        let mut kept = 0usize;
        let mut seen = [false; ESSENTIAL.len()];
        let mut dropped = false;
        for (bytes, name) in fields(header) {
            let essential = ESSENTIAL
                .iter()
                .position(|e| e.as_bytes().eq_ignore_ascii_case(name));
            let f = cut_field(bytes, MAX_FIELD_BYTES);
            dropped |= f.len() < bytes.len();
            let within = kept < MAX_HEADER_FIELDS && out.len() + f.len() <= MAX_HEADER_BYTES;
            let first_essential = essential.is_some_and(|k| !seen[k]);
            if within || first_essential {
                if let Some(k) = essential {
                    seen[k] = true;
                }
                out.extend_from_slice(&f);
                kept += 1;
            } else {
                dropped = true;
            }
        }
        if dropped {
            notes.push(HEADERS_CUT_NOTE);
            new_header = Some(out);
        }
    }

    // MIME markers in the body (lines starting with `--` or `Content-Type:`), and runs of
    // header-shaped lines (the header sections of parts and of attached messages).
    let mut markers = 0usize;
    let mut header_run = 0usize;
    let mut body_cut: Option<usize> = None;
    let mut at = 0;
    while at < body.len() {
        let line = &body[at..];
        let is_marker = line.starts_with(b"--")
            || line
                .get(..13)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"content-type:"));
        if is_marker {
            markers += 1;
            if markers > MAX_MIME_MARKERS {
                body_cut = Some(at);
                break;
            }
        }
        let folded = header_run > 0 && matches!(line.first(), Some(b' ' | b'\t'));
        header_run = if folded || header_shaped(line) {
            header_run + 1
        } else {
            0
        };
        if header_run > MAX_PART_HEADER_LINES {
            body_cut = Some(at);
            break;
        }
        at = line
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |p| at + p + 1);
    }
    if body_cut.is_some() {
        notes.push(PARTS_CUT_NOTE);
    }

    let bounded: Cow<'_, [u8]> = if new_header.is_none() && body_cut.is_none() {
        Cow::Borrowed(message)
    } else {
        let header: Cow<'_, [u8]> = match new_header {
            Some(h) => Cow::Owned(h),
            None => Cow::Borrowed(header),
        };
        let body = &body[..body_cut.unwrap_or(body.len())];
        let mut out = Vec::with_capacity(header.len() + body.len() + 2);
        out.extend_from_slice(&header);
        if !header.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        Cow::Owned(out)
    };
    match shorten_boundaries(&bounded) {
        Some(shortened) => {
            notes.push(BOUNDARY_CUT_NOTE);
            (Cow::Owned(shortened), notes)
        }
        None => (bounded, notes),
    }
}

/// `msg` with every `boundary=` value longer than [`MAX_BOUNDARY_LEN`] cut to that length;
/// `None` when there is none. One pass.
fn shorten_boundaries(msg: &[u8]) -> Option<Vec<u8>> {
    const KEY: &[u8] = b"boundary";
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i + KEY.len() < msg.len() {
        if !msg[i..i + KEY.len()].eq_ignore_ascii_case(KEY) {
            i += 1;
            continue;
        }
        let mut j = i + KEY.len();
        while msg.get(j).is_some_and(|b| matches!(b, b' ' | b'\t')) {
            j += 1;
        }
        if msg.get(j) != Some(&b'=') {
            i += KEY.len();
            continue;
        }
        j += 1;
        while msg.get(j).is_some_and(|b| matches!(b, b' ' | b'\t')) {
            j += 1;
        }
        let quoted = msg.get(j) == Some(&b'"');
        if quoted {
            j += 1;
        }
        let start = j;
        while msg.get(j).is_some_and(|&b| {
            if quoted {
                b != b'"' && b != b'\r' && b != b'\n'
            } else {
                !matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n')
            }
        }) {
            j += 1;
        }
        if j - start > MAX_BOUNDARY_LEN {
            let buf = out.get_or_insert_with(|| Vec::with_capacity(msg.len()));
            buf.extend_from_slice(&msg[copied..start + MAX_BOUNDARY_LEN]);
            copied = j;
        }
        i = j.max(i + 1);
    }
    let mut buf = out?;
    buf.extend_from_slice(&msg[copied..]);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_the_bounds_nothing_changes() {
        let m = b"From: a@b.c\r\nSubject: x\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n";
        let (out, notes) = bound(m);
        assert!(matches!(out, Cow::Borrowed(_)));
        assert!(notes.is_empty());
        assert_eq!(header_end(b"A: b\r\n\r\nbody"), (6, 8));
        assert_eq!(header_end(b"A: b\n"), (5, 5));
    }

    #[test]
    fn too_many_fields_keep_the_essential_ones() {
        let mut m = String::new();
        for i in 0..MAX_HEADER_FIELDS + 10 {
            m.push_str(&format!("X-Junk-{i}: {i}\r\n"));
        }
        m.push_str("From: a@b.c\r\nSubject:\r\n folded\r\n\r\nbody\r\n");
        let (out, notes) = bound(m.as_bytes());
        assert_eq!(notes, vec![HEADERS_CUT_NOTE]);
        let out = String::from_utf8(out.into_owned()).expect("utf8");
        assert!(out.contains("\r\nFrom: a@b.c\r\nSubject:\r\n folded\r\n\r\nbody\r\n"));
        assert!(!out.contains("X-Junk-505"));
        let (end, _) = header_end(out.as_bytes());
        assert_eq!(
            fields(&out.as_bytes()[..end]).count(),
            MAX_HEADER_FIELDS + 2
        );
    }

    #[test]
    fn a_long_field_is_cut_on_a_character_boundary() {
        let m = format!(
            "Subject: {}\r\nFrom: a@b.c\r\n\r\nx",
            "é".repeat(MAX_FIELD_BYTES)
        );
        let (out, notes) = bound(m.as_bytes());
        assert_eq!(notes, vec![HEADERS_CUT_NOTE]);
        let out = String::from_utf8(out.into_owned()).expect("still UTF-8");
        assert!(out.len() < MAX_FIELD_BYTES + 100);
        assert!(out.ends_with("\r\nFrom: a@b.c\r\n\r\nx"));
    }

    #[test]
    fn a_part_with_too_many_header_lines_cuts_the_body() {
        let mut m =
            String::from("From: a@b.c\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n");
        for i in 0..MAX_PART_HEADER_LINES + 5 {
            m.push_str(&format!("X-{i}: y\r\n"));
        }
        m.push_str("\r\nisi\r\n--b--\r\n");
        let (out, notes) = bound(m.as_bytes());
        assert_eq!(notes, vec![PARTS_CUT_NOTE]);
        assert!(out.len() < m.len());
        assert!(header_shaped(b"Subject: x") && header_shaped(b"X-A:"));
        assert!(!header_shaped(b"Subject x: y") && !header_shaped(b": x") && !header_shaped(b""));
    }

    #[test]
    fn long_boundaries_are_cut() {
        let long = "-".repeat(MAX_BOUNDARY_LEN + 10);
        let m = format!(
            "From: a@b.c\r\nContent-Type: multipart/mixed; BOUNDARY = \"{long}\"\r\n\r\n--{long}\r\n\r\nx\r\n"
        );
        let (out, notes) = bound(m.as_bytes());
        assert_eq!(notes, vec![BOUNDARY_CUT_NOTE]);
        let short = "-".repeat(MAX_BOUNDARY_LEN);
        let expected = format!(
            "From: a@b.c\r\nContent-Type: multipart/mixed; BOUNDARY = \"{short}\"\r\n\r\n--{long}\r\n\r\nx\r\n"
        );
        assert_eq!(String::from_utf8_lossy(&out), expected);
        assert_eq!(shorten_boundaries(b"boundary=abc; x"), None);
        assert_eq!(
            shorten_boundaries(format!("boundary={long};").as_bytes()),
            Some(format!("boundary={short};").into_bytes())
        );
        assert_eq!(shorten_boundaries(b"boundary"), None);
        assert_eq!(shorten_boundaries(b"xboundary=\""), None);
    }

    #[test]
    fn too_many_parts_cut_the_body() {
        let mut m =
            String::from("From: a@b.c\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");
        for i in 0..MAX_MIME_MARKERS + 5 {
            m.push_str(&format!("--b\r\n\r\npart {i}\r\n"));
        }
        let (out, notes) = bound(m.as_bytes());
        assert_eq!(notes, vec![PARTS_CUT_NOTE]);
        let out = String::from_utf8(out.into_owned()).expect("utf8");
        assert!(out.contains(&format!("part {}\r\n", MAX_MIME_MARKERS - 1)));
        assert!(!out.contains(&format!("part {}\r\n", MAX_MIME_MARKERS)));
    }
}
