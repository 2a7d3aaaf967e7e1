//! Normalization of one raw RFC 5322 message into an [`InboundMail`].
//!
//! [`normalize`] never panics and accepts anything that has at least one header (after
//! blank lines and at most one stray line such as an mbox `From ` separator): odd charsets,
//! broken MIME, missing bodies and truncated messages all produce a best-effort
//! [`InboundMail`]. Charset and transfer decoding (UTF-8, UTF-7, ISO-8859-x, Windows-125x,
//! the multi-byte Asian charsets through mail-parser's `full_encoding`, RFC 2047 encoded
//! words, quoted-printable, base64) is mail-parser's job; this module re-reads what was
//! never labelled right (`charset`), picks the text, classifies automatic mail per RFC 3834
//! ([`AutoKind`]), extracts the sender and the threading headers (encoded words decoded) and
//! the ticket tag of the subject, and applies [`Limits`].
//!
//! Bounded work: a message over [`Limits::max_message_bytes`] is read from its header
//! section only ([`normalize_oversized`], with [`oversize_note`] as its text); the header
//! section, the number of MIME parts and the nesting depth are bounded before parsing
//! (`bounds`, with a note in the text when something was left out); every step after that
//! is linear in the input (the HTML converter is proven so by its work counter,
//! [`html_to_text_counted`](crate::html::html_to_text_counted)). [`normalize_blocking`]
//! runs it all on tokio's blocking pool, so a slow mail never stalls an async worker.
//!
//! Layout: [`normalize`] and the types it returns live here; the unlabelled-charset
//! fallbacks are in `charset`, the header helpers (the sender's mailbox, message ids, the
//! ticket tag) in `headers`, the body text in `body`, attachments and their limits in
//! `attachments`, and the RFC 3834 classification in `classify`.

mod attachments;
mod body;
mod bounds;
mod charset;
mod classify;
mod headers;

use std::panic::{AssertUnwindSafe, catch_unwind};

use aduan_core::model::NewAttachment;
use chrono::{DateTime, TimeZone, Utc};
use mail_parser::MessageParser;
use sha2::{Digest, Sha256};

use attachments::collect_attachments;
use body::{body_text, truncate_chars};
use charset::declared_charset;
use classify::classify;
use headers::{
    clean_id, header_texts, message_ids, parse_return_path, reparse_legacy_header, sender_mailbox,
};

pub use bounds::{
    BOUNDARY_CUT_NOTE, HEADERS_CUT_NOTE, MAX_BOUNDARY_LEN, MAX_FIELD_BYTES, MAX_HEADER_BYTES,
    MAX_HEADER_FIELDS, MAX_MIME_MARKERS, MAX_PART_HEADER_LINES, PARTS_CUT_NOTE,
};
pub use classify::AutoKind;
pub use headers::{MAX_MESSAGE_IDS, ticket_tag};

/// The note appended to a body cut at [`Limits::max_text_chars`].
pub const TRUNCATION_NOTE: &str = "[... dipotong]";

/// The longest [`InboundMail::text`] under `limits`, in characters: the body cut at
/// [`Limits::max_text_chars`] with its [`TRUNCATION_NOTE`], then each note of what the
/// bounds left out ([`HEADERS_CUT_NOTE`], [`PARTS_CUT_NOTE`], [`BOUNDARY_CUT_NOTE`]), each
/// after a blank line. Staff must see why a text is incomplete, so the notes come on top of
/// the body's limit rather than cutting it further.
pub fn max_text_len(limits: &Limits) -> usize {
    let para = |note: &str| "\n\n".len() + note.chars().count();
    limits.max_text_chars
        + para(TRUNCATION_NOTE)
        + [HEADERS_CUT_NOTE, PARTS_CUT_NOTE, BOUNDARY_CUT_NOTE]
            .into_iter()
            .map(para)
            .sum::<usize>()
}

/// Size limits applied while normalizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Attachments larger than this (decoded bytes) are skipped and named in
    /// [`InboundMail::skipped_attachments`].
    pub max_attachment_bytes: u64,
    /// Attachments beyond this count are skipped likewise.
    pub max_attachments: usize,
    /// Body text longer than this (in characters) is cut and [`TRUNCATION_NOTE`] appended.
    pub max_text_chars: usize,
    /// A message larger than this (raw bytes, SPEC §2 `channels.email.max_message_bytes`)
    /// is read from its header section only: [`normalize_oversized`].
    pub max_message_bytes: u64,
}

/// Default of [`Limits::max_message_bytes`]: 25 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 26_214_400;

/// Most skipped attachments named one by one (the rest are counted in one entry).
pub const MAX_SKIPPED_NAMES: usize = 20;

impl Default for Limits {
    /// 10 MiB per attachment, 10 attachments, 100 000 characters of text, 25 MiB per
    /// message.
    fn default() -> Self {
        Limits {
            max_attachment_bytes: 10 * 1024 * 1024,
            max_attachments: 10,
            max_text_chars: 100_000,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// Why a message could not be normalized at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// No bytes.
    #[error("empty message")]
    Empty,
    /// The bytes do not start with a header section.
    #[error("not an e-mail message: no headers found")]
    NoHeaders,
    /// The parser failed on this message (a contained panic).
    #[error("the message could not be parsed")]
    Failed,
}

/// One inbound e-mail, decoded and classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    /// `Message-ID` without the angle brackets.
    pub message_id: Option<String>,
    /// `In-Reply-To` ids, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// `References` ids in header order, without angle brackets.
    pub references: Vec<String>,
    /// Address of the sender: the first `From` mailbox with a usable address (an empty
    /// first mailbox or group is skipped), else the `Sender`'s; else the first address at all.
    pub from_address: Option<String>,
    /// Display name of that mailbox (decoded).
    pub from_name: Option<String>,
    /// Address of the first usable `Reply-To` mailbox.
    pub reply_to: Option<String>,
    /// The `Return-Path` address; `Some("")` for the null sender `<>`.
    pub return_path: Option<String>,
    /// Decoded subject (RFC 2047), trimmed; empty when there is none.
    pub subject: String,
    /// Body text: the plain-text parts, else the HTML converted to text; trimmed and cut
    /// to [`Limits::max_text_chars`], then the notes of what was left out: at most
    /// [`max_text_len`] characters.
    pub text: String,
    /// Attachments within the limits.
    pub attachments: Vec<NewAttachment>,
    /// Names of attachments left out because of size or count.
    pub skipped_attachments: Vec<String>,
    /// Automatic-mail classification.
    pub auto: AutoKind,
    /// The first valid `[PREFIX-YYYYMM-NNNN]` ticket tag in the subject (without brackets).
    pub ticket_tag: Option<String>,
    /// Lower-case hex SHA-256 of the raw message bytes (dedup fallback).
    pub content_hash: String,
    /// The `Date` header in UTC, if present and valid.
    pub date: Option<DateTime<Utc>>,
    /// Values of `X-Loop` headers, trimmed (our own replies carry our address here).
    pub x_loop: Vec<String>,
}

impl InboundMail {
    /// Whether this mail came from one of our own addresses, directly (`From`) or as a
    /// loop marker (`X-Loop`). Comparison is ASCII case-insensitive. Never acknowledge
    /// such mail.
    pub fn is_loop(&self, own_addresses: &[String]) -> bool {
        let own = |a: &str| {
            own_addresses
                .iter()
                .any(|o| o.trim().eq_ignore_ascii_case(a.trim()))
        };
        self.from_address.as_deref().is_some_and(own) || self.x_loop.iter().any(|x| own(x))
    }

    /// The address an answer should go to: `Reply-To`, else `From`.
    pub fn reply_address(&self) -> Option<&str> {
        self.reply_to
            .as_deref()
            .filter(|a| !a.is_empty())
            .or(self.from_address.as_deref())
    }
}

/// Normalize one raw message. Fails only when the input has no header section at all.
///
/// A message over [`Limits::max_message_bytes`] is read from its header section only, as
/// [`normalize_oversized`] does. This is CPU work linear in `raw.len()`; async callers use
/// [`normalize_blocking`].
pub fn normalize(raw: &[u8], limits: &Limits) -> Result<InboundMail, ParseError> {
    if raw.len() as u64 > limits.max_message_bytes {
        return normalize_oversized(raw, raw.len() as u64, limits);
    }
    normalize_within(raw, limits)
}

/// [`normalize`] on tokio's blocking pool, so that parsing a large or hostile message never
/// holds an async worker. A panic in the parser becomes [`ParseError::Failed`].
pub async fn normalize_blocking(raw: Vec<u8>, limits: Limits) -> Result<InboundMail, ParseError> {
    tokio::task::spawn_blocking(move || normalize(&raw, &limits))
        .await
        .unwrap_or(Err(ParseError::Failed))
}

/// [`normalize_oversized`] on tokio's blocking pool.
pub async fn normalize_oversized_blocking(
    header: Vec<u8>,
    size: u64,
    limits: Limits,
) -> Result<InboundMail, ParseError> {
    tokio::task::spawn_blocking(move || normalize_oversized(&header, size, &limits))
        .await
        .unwrap_or(Err(ParseError::Failed))
}

/// A message of `size` bytes that is over [`Limits::max_message_bytes`], read from `header`:
/// its header section (`BODY[HEADER]`, or the start of the message; anything after the
/// header section, and anything beyond [`MAX_HEADER_BYTES`], is ignored). Sender, subject,
/// date, threading ids and the classification come from the headers; the text is
/// [`oversize_note`]; there are no attachments. The content hash is of the header section
/// read, so a redelivery has the same external id.
pub fn normalize_oversized(
    header: &[u8],
    size: u64,
    limits: &Limits,
) -> Result<InboundMail, ParseError> {
    let start = header_start(header).unwrap_or(0);
    let (end, _) = bounds::header_end(&header[start..]);
    let mut head = header[start..start + end.min(MAX_HEADER_BYTES)].to_vec();
    if !head.ends_with(b"\n") {
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let mut mail = normalize_within(&head, limits)?;
    mail.text = oversize_note(size, limits.max_message_bytes);
    mail.attachments.clear();
    mail.skipped_attachments.clear();
    Ok(mail)
}

/// The text of an oversized mail, in Indonesian, e.g. "[Surel terlalu besar (31,2 MB >
/// 25 MB); isi dan lampiran tidak diambil. Mohon dikirim ulang dengan lampiran lebih
/// kecil.]".
pub fn oversize_note(size: u64, limit: u64) -> String {
    format!(
        "[Surel terlalu besar ({} > {}); isi dan lampiran tidak diambil. Mohon dikirim ulang dengan lampiran lebih kecil.]",
        human_size(size),
        human_size(limit)
    )
}

/// `31,2 MB`, `25 MB`, `64 KB` (MiB and KiB, Indonesian decimal comma).
fn human_size(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if bytes >= MB {
        let tenths = (bytes * 10 + MB / 2) / MB;
        if tenths.is_multiple_of(10) {
            format!("{} MB", tenths / 10)
        } else {
            format!("{},{} MB", tenths / 10, tenths % 10)
        }
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// Normalize a message within [`Limits::max_message_bytes`].
fn normalize_within(raw: &[u8], limits: &Limits) -> Result<InboundMail, ParseError> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::Empty);
    }
    // Blank lines and one stray line (an mbox `From ` separator, …) before the headers are
    // not part of the message.
    let Some(start) = header_start(raw) else {
        return Err(ParseError::NoHeaders);
    };
    // Header fields, MIME parts and nesting within bounds (a note says what was left out).
    let (message, notes) = bounds::bound(&raw[start..]);
    let message: &[u8] = &message;
    // mail-parser is fuzzed and documented as panic-free, but it contains debug
    // assertions; contain any panic so one bad message can never stall the mailbox.
    // A last header line without a line end is dropped by mail-parser: terminate it.
    let terminated: Vec<u8>;
    let input: &[u8] = if message.ends_with(b"\n") {
        message
    } else {
        terminated = [message, b"\r\n"].concat();
        &terminated
    };
    let parsed = catch_unwind(AssertUnwindSafe(|| MessageParser::default().parse(input)))
        .ok()
        .flatten();
    let Some(msg) = parsed else {
        return Err(ParseError::NoHeaders);
    };
    if msg.parts.is_empty() || msg.parts[0].headers.is_empty() {
        return Err(ParseError::NoHeaders);
    }

    // Headers that are not plain UTF-8 (raw 8-bit bytes of old clients, raw ISO-2022-JP)
    // are re-read in the message's declared charset instead of showing U+FFFD.
    let charset = declared_charset(&msg);
    let cs = charset.as_deref();
    let from_legacy = reparse_legacy_header(&msg, "From", cs);
    let sender_legacy = reparse_legacy_header(&msg, "Sender", cs);
    // The first usable mailbox of From (an empty first one, `"" <>`, or a group is
    // skipped), else of Sender.
    let from = sender_mailbox(
        [
            from_legacy
                .as_ref()
                .and_then(|m| m.from())
                .or_else(|| msg.from()),
            sender_legacy
                .as_ref()
                .and_then(|m| m.sender())
                .or_else(|| msg.sender()),
        ]
        .into_iter()
        .flatten(),
    );
    let (from_name, from_address) = from.unwrap_or_default();
    let reply_to = sender_mailbox(msg.reply_to()).and_then(|(_, a)| a);
    let return_path = msg.header_raw("Return-Path").map(parse_return_path);
    let subject_legacy = reparse_legacy_header(&msg, "Subject", cs);
    let subject = subject_legacy
        .as_ref()
        .and_then(|m| m.subject())
        .or_else(|| msg.subject())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();

    let message_id = msg.message_id().map(clean_id).filter(|s| !s.is_empty());
    let in_reply_to = message_ids(&msg, "In-Reply-To", msg.in_reply_to());
    let references = message_ids(&msg, "References", msg.references());

    let mut text = truncate_chars(&body_text(&msg), limits.max_text_chars);
    for note in notes {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(note);
    }
    let (attachments, skipped_attachments) = collect_attachments(&msg, limits);
    let auto = classify(
        &msg,
        from_address.as_deref(),
        from_name.as_deref(),
        return_path.as_deref(),
        &subject,
        &text,
    );
    let ticket_tag = ticket_tag(&subject);
    let date = msg
        .date()
        .filter(|d| d.is_valid())
        .and_then(|d| Utc.timestamp_opt(d.to_timestamp(), 0).single());
    let x_loop = header_texts(&msg, "X-Loop")
        .into_iter()
        .map(|s| {
            s.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .collect();

    Ok(InboundMail {
        message_id,
        in_reply_to,
        references,
        from_address,
        from_name,
        reply_to,
        return_path,
        subject,
        text,
        attachments,
        skipped_attachments,
        auto,
        ticket_tag,
        content_hash: hex::encode(Sha256::digest(raw)),
        date,
        x_loop,
    })
}

/// Where the header section starts: after any blank lines, at the first line when it is
/// shaped like a header field (a name of printable ASCII, optional white space, `:`), else
/// at the second line when that one is (the first was a stray line: an mbox `From `
/// separator, a `>From ` line, a line of junk). `None` when neither is a header field.
fn header_start(raw: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        if raw[at..].starts_with(b"\r\n") {
            at += 2;
        } else if raw[at..].starts_with(b"\n") {
            at += 1;
        } else {
            break;
        }
    }
    if is_header_field(&raw[at..]) {
        return Some(at);
    }
    let next = at + raw[at..].iter().position(|&b| b == b'\n')? + 1;
    is_header_field(&raw[next..]).then_some(next)
}

/// Whether `line` starts with a header field name followed by `:` (RFC 5322 §4.5 allows
/// white space before the colon).
fn is_header_field(line: &[u8]) -> bool {
    let name_len = line
        .iter()
        .take_while(|&&b| b > b' ' && b < 127 && b != b':')
        .count();
    name_len > 0
        && line
            .get(name_len..)
            .is_some_and(|r| r.iter().find(|&&b| b != b' ' && b != b'\t') == Some(&b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_shape() {
        assert_eq!(header_start(b"From: a\r\n\r\nx"), Some(0));
        assert_eq!(header_start(b"\r\nSubject : x\n"), Some(2));
        assert_eq!(header_start(b"\n\n\r\nSubject: x\n"), Some(4));
        assert_eq!(
            header_start(b"From a@b Thu Jan  1 00:00:00 2026\nFrom: a\n"),
            Some(34)
        );
        assert_eq!(header_start(b">From a@b\r\nFrom: a\r\n"), Some(11));
        assert_eq!(header_start(b"   \r\nFrom: a\r\n"), Some(5));
        // One stray line, not two.
        assert_eq!(header_start(b"junk\r\nmore junk\r\nFrom: a\r\n"), None);
        assert_eq!(header_start(b"hello world\n"), None);
        assert_eq!(header_start(b"hello world"), None);
        assert_eq!(header_start(b"\xff\xfe\x00garbage"), None);
        assert_eq!(header_start(b": no name\n"), None);
    }

    /// A body over the limit in a message whose bounds were cut gets the truncation note and
    /// the bound's note: longer than `max_text_chars` plus the truncation note (the fuzz
    /// invariant of stop 21 forgot the notes), never longer than [`max_text_len`].
    #[test]
    fn notes_come_on_top_of_the_cut_body() {
        let limits = Limits {
            max_text_chars: 1000,
            ..Limits::default()
        };
        let long = "-".repeat(MAX_BOUNDARY_LEN + 10);
        let body = "kata ".repeat(400);
        let m = format!(
            "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=\"{long}\"\r\n\r\n--{long}\r\nContent-Type: text/plain\r\n\r\n{body}\r\n--{long}--\r\n"
        );
        let mail = normalize(m.as_bytes(), &limits).expect("parsed");
        let n = mail.text.chars().count();
        assert!(mail.text.contains(TRUNCATION_NOTE), "{}", mail.text);
        assert!(mail.text.ends_with(BOUNDARY_CUT_NOTE), "{}", mail.text);
        assert!(n > 1000 + 2 + TRUNCATION_NOTE.chars().count(), "{n}");
        assert!(n <= max_text_len(&limits), "{n}");
    }
}
