//! Normalization of one raw RFC 5322 message into an [`InboundMail`].
//!
//! [`normalize`] never panics and accepts anything that has at least one header: odd
//! charsets, broken MIME, missing bodies and truncated messages all produce a best-effort
//! [`InboundMail`]. Charset and transfer decoding (UTF-8, ISO-8859-x, Windows-125x,
//! RFC 2047 encoded words, quoted-printable, base64) is mail-parser's job; this module
//! picks the text, classifies automatic mail per RFC 3834 ([`AutoKind`]), extracts the
//! threading headers and the ticket tag of the subject, and applies [`Limits`].
//!
//! Layout: [`normalize`] and the types it returns live here; the header helpers (8-bit
//! header fallback, addresses, message ids, the ticket tag) are in `headers`, the body text
//! in `body`, attachments and their limits in `attachments`, and the RFC 3834
//! classification in `classify`.

mod attachments;
mod body;
mod classify;
mod headers;

use std::panic::{AssertUnwindSafe, catch_unwind};

use aduan_core::model::NewAttachment;
use chrono::{DateTime, TimeZone, Utc};
use mail_parser::MessageParser;
use sha2::{Digest, Sha256};

use attachments::collect_attachments;
use body::{body_text, truncate_chars};
use classify::classify;
use headers::{
    clean_id, first_addr, header_texts, id_list, parse_return_path, reparse_8bit_header,
};

pub use classify::AutoKind;
pub use headers::ticket_tag;

/// The note appended to a body cut at [`Limits::max_text_chars`].
pub const TRUNCATION_NOTE: &str = "[... dipotong]";

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
}

impl Default for Limits {
    /// 10 MiB per attachment, 10 attachments, 100 000 characters of text.
    fn default() -> Self {
        Limits {
            max_attachment_bytes: 10 * 1024 * 1024,
            max_attachments: 10,
            max_text_chars: 100_000,
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
    /// Address of the first `From` mailbox.
    pub from_address: Option<String>,
    /// Display name of the first `From` mailbox (decoded).
    pub from_name: Option<String>,
    /// Address of the first `Reply-To` mailbox.
    pub reply_to: Option<String>,
    /// The `Return-Path` address; `Some("")` for the null sender `<>`.
    pub return_path: Option<String>,
    /// Decoded subject (RFC 2047), trimmed; empty when there is none.
    pub subject: String,
    /// Body text: the plain-text parts, else the HTML converted to text; trimmed and cut
    /// to [`Limits::max_text_chars`].
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
pub fn normalize(raw: &[u8], limits: &Limits) -> Result<InboundMail, ParseError> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::Empty);
    }
    if !starts_with_header(raw) {
        return Err(ParseError::NoHeaders);
    }
    // mail-parser is fuzzed and documented as panic-free, but it contains debug
    // assertions; contain any panic so one bad message can never stall the mailbox.
    // A last header line without a line end is dropped by mail-parser: terminate it.
    let terminated: Vec<u8>;
    let input: &[u8] = if raw.ends_with(b"\n") {
        raw
    } else {
        terminated = [raw, b"\r\n"].concat();
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

    // Headers with raw 8-bit bytes that are not UTF-8 (old clients) are re-read as
    // Windows-1252 instead of showing U+FFFD.
    let from_8bit = reparse_8bit_header(&msg, "From");
    let from = from_8bit
        .as_ref()
        .and_then(|m| m.from())
        .or_else(|| msg.from())
        .and_then(first_addr);
    let from_address = from
        .as_ref()
        .and_then(|(_, a)| a.clone())
        .filter(|a| !a.is_empty());
    let from_name = from
        .and_then(|(n, _)| n)
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    let reply_to = msg
        .reply_to()
        .and_then(first_addr)
        .and_then(|(_, a)| a)
        .filter(|a| !a.is_empty());
    let return_path = msg.header_raw("Return-Path").map(parse_return_path);
    let subject_8bit = reparse_8bit_header(&msg, "Subject");
    let subject = subject_8bit
        .as_ref()
        .and_then(|m| m.subject())
        .or_else(|| msg.subject())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();

    let message_id = msg.message_id().map(clean_id).filter(|s| !s.is_empty());
    let in_reply_to = id_list(msg.in_reply_to());
    let references = id_list(msg.references());

    let text = truncate_chars(&body_text(&msg), limits.max_text_chars);
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

/// Whether the input starts (after blank lines or an mbox `From ` line) with something
/// shaped like a header field: a name of printable ASCII followed by `:`.
fn starts_with_header(raw: &[u8]) -> bool {
    let mut rest = raw;
    // Skip leading blank lines.
    while let Some(r) = rest
        .strip_prefix(b"\r\n")
        .or_else(|| rest.strip_prefix(b"\n"))
    {
        rest = r;
    }
    // Tolerate an mbox separator line.
    if rest.starts_with(b"From ") {
        match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => rest = &rest[nl + 1..],
            None => return false,
        }
    }
    let name_len = rest
        .iter()
        .take_while(|&&b| b > b' ' && b < 127 && b != b':')
        .count();
    name_len > 0
        && rest.get(name_len..).is_some_and(|r| {
            // Allow obsolete whitespace before the colon (RFC 5322 §4.5).
            r.iter().find(|&&b| b != b' ' && b != b'\t') == Some(&b':')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_shape() {
        assert!(starts_with_header(b"From: a\r\n\r\nx"));
        assert!(starts_with_header(b"\r\nSubject : x\n"));
        assert!(starts_with_header(
            b"From a@b Thu Jan  1 00:00:00 2026\nFrom: a\n"
        ));
        assert!(!starts_with_header(b"hello world\n"));
        assert!(!starts_with_header(b"\xff\xfe\x00garbage"));
        assert!(!starts_with_header(b": no name\n"));
    }
}
