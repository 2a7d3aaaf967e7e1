//! Header helpers for [`normalize`](super::normalize): the 8-bit header fallback, address
//! and `Return-Path` parsing, message-id lists, header values as text, and the subject's
//! ticket tag.
//!
//! Invariants: `In-Reply-To`/`References` ids come out without angle brackets, never empty,
//! without whitespace and without duplicates; header text is unfolded (runs of whitespace become one space) and
//! trimmed. A header with raw 8-bit bytes that are not UTF-8 is re-read as Windows-1252
//! rather than shown as U+FFFD, and a panic inside mail-parser while doing so is contained.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;

use aduan_core::types::TicketNumber;
use mail_parser::{Address, HeaderValue, Message, MessageParser};
use regex::Regex;

/// When the first `name` header of the message holds bytes that are not UTF-8, decode
/// them as Windows-1252 (a superset of ISO-8859-1 in practice) and parse that header
/// alone again, so encoded words in it still work. `None` when the header is valid UTF-8
/// or absent.
pub(super) fn reparse_8bit_header(msg: &Message<'_>, name: &str) -> Option<Message<'static>> {
    let header = msg
        .headers()
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))?;
    let raw = msg
        .raw_message
        .get(header.offset_start() as usize..header.offset_end() as usize)?;
    if std::str::from_utf8(raw).is_ok() {
        return None;
    }
    let decode = mail_parser::decoders::charsets::map::charset_decoder(b"windows-1252")?;
    let value = decode(raw);
    let synthetic = format!("{name}:{}\r\n\r\n", value.trim_end());
    catch_unwind(AssertUnwindSafe(|| {
        MessageParser::default()
            .parse_headers(synthetic.as_bytes())
            .map(|m| m.into_owned())
    }))
    .ok()
    .flatten()
    .filter(|m| !m.parts.is_empty())
}

/// Name and address of the first mailbox of an address header (groups included).
pub(super) fn first_addr(addr: &Address<'_>) -> Option<(Option<String>, Option<String>)> {
    let a = addr.first()?;
    Some((
        a.name.as_ref().map(|n| n.to_string()),
        a.address.as_ref().map(|a| a.trim().to_string()),
    ))
}

/// `<a@b>` → `a@b`, `<>` → ``, `a@b (comment)` → `a@b`.
pub(super) fn parse_return_path(raw: &str) -> String {
    let raw = raw.trim();
    if let Some(open) = raw.find('<') {
        let inner = &raw[open + 1..];
        let inner = inner.find('>').map_or(inner, |close| &inner[..close]);
        return inner.trim().to_string();
    }
    raw.split_whitespace().next().unwrap_or("").to_string()
}

/// Strip angle brackets and whitespace from a message id.
pub(super) fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

/// Message ids from a parsed `In-Reply-To`/`References` value.
pub(super) fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    let raw: Vec<String> = match value {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|s| s.to_string()).collect(),
        _ => Vec::new(),
    };
    let mut out: Vec<String> = Vec::new();
    for id in raw.iter().map(|s| clean_id(s)) {
        if !id.is_empty() && !id.contains(char::is_whitespace) && !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// All values of a header as text (raw, unfolded and trimmed).
pub(super) fn header_texts(msg: &Message<'_>, name: &str) -> Vec<String> {
    msg.headers()
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .filter_map(|h| match h.value() {
            HeaderValue::Text(t) => Some(t.to_string()),
            HeaderValue::TextList(l) => Some(l.join(" ")),
            HeaderValue::Address(a) => a
                .first()
                .and_then(|a| a.address.as_ref())
                .map(|a| a.to_string()),
            _ => None,
        })
        .map(|s| unfold(&s))
        .collect()
}

/// Raw values of a header as written (no RFC 2047 decoding), unfolded and trimmed.
pub(super) fn raw_header_values<'m>(
    headers: impl Iterator<Item = (&'m str, &'m str)>,
    name: &str,
) -> Vec<String> {
    headers
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| unfold(v))
        .collect()
}

fn unfold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

static TICKET_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[([A-Z0-9]{1,10}-\d{6}-\d{4,12})\]").unwrap_or_else(|_| unreachable!())
});

/// The first `[PREFIX-YYYYMM-NNNN]` in `subject` that is a valid [`TicketNumber`].
pub fn ticket_tag(subject: &str) -> Option<String> {
    TICKET_TAG
        .captures_iter(subject)
        .filter_map(|c| c.get(1))
        .find_map(|m| TicketNumber::parse(m.as_str()).ok())
        .map(|t| t.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_path_forms() {
        assert_eq!(parse_return_path("<>"), "");
        assert_eq!(parse_return_path(" < > "), "");
        assert_eq!(parse_return_path("<a@b.c>"), "a@b.c");
        assert_eq!(parse_return_path("a@b.c (x)"), "a@b.c");
    }

    #[test]
    fn ticket_tags() {
        assert_eq!(
            ticket_tag("Re: [LPR-202601-0123] Lampu"),
            Some("LPR-202601-0123".into())
        );
        assert_eq!(
            ticket_tag("[LPR-202613-0123] [X-202602-00001]"),
            Some("X-202602-00001".into())
        );
        assert_eq!(ticket_tag("[lpr-202601-0123]"), None);
        assert_eq!(ticket_tag("[LPR-2026-00123]"), None);
        assert_eq!(ticket_tag("LPR-202601-0123"), None);
    }
}
