//! Header helpers for [`normalize`](super::normalize): the legacy-charset header fallback,
//! the sender's mailbox, `Return-Path` parsing, message-id lists (RFC 2047 encoded words
//! decoded), header values as text, and the subject's ticket tag.
//!
//! Invariants: `In-Reply-To`/`References` ids come out without angle brackets, never empty,
//! without whitespace and without duplicates, also when the header was sent as encoded words;
//! header text is unfolded (runs of whitespace become one space) and trimmed. A header that
//! is not plain UTF-8 text — raw 8-bit bytes (also inside an encoded word), ISO-2022 escape
//! sequences, UTF-7 of a UTF-7 message — is re-read in the message's declared charset (else
//! Windows-1252) rather than shown as U+FFFD, mojibake or raw escapes, and a panic inside
//! mail-parser while doing so is contained. The sender is the first mailbox with a usable
//! address, never an empty one.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;

use aduan_core::types::{EmailAddress, TicketNumber};
use mail_parser::{Address, HeaderValue, Message, MessageParser};
use regex::Regex;

use super::charset::{legacy_header_text, raw_value};

/// Parse `name: value` alone (encoded words decoded); a panic inside mail-parser is
/// contained.
pub(super) fn parse_single_header(name: &str, value: &str) -> Option<Message<'static>> {
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

/// The first `name` header of the message re-read by [`legacy_header_text`]; `None` when it
/// is plain UTF-8 text already (use mail-parser's value) or absent.
pub(super) fn reparse_legacy_header(
    msg: &Message<'_>,
    name: &str,
    charset: Option<&str>,
) -> Option<Message<'static>> {
    let header = msg
        .headers()
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))?;
    let text = legacy_header_text(raw_value(&msg.raw_message, header)?, charset)?;
    parse_single_header(name, &text)
}

/// One mailbox of an address header: display name and address, trimmed, empty as `None`.
pub(super) type Mailbox = (Option<String>, Option<String>);

/// The sender's mailbox among address headers tried in order (e.g. `From`, then `Sender`):
/// the first mailbox (groups included) whose address the desk accepts; else the first with
/// any address (the classification still sees `MAILER-DAEMON`); else the first with a name.
/// Empty mailboxes (`"" <>`, `<>`, an empty group) are never chosen over a usable one.
pub(super) fn sender_mailbox<'a>(
    lists: impl IntoIterator<Item = &'a Address<'a>>,
) -> Option<Mailbox> {
    let all: Vec<Mailbox> = lists
        .into_iter()
        .flat_map(|a| a.iter())
        .map(|a| {
            let text = |s: Option<&str>| {
                s.map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            (text(a.name.as_deref()), text(a.address.as_deref()))
        })
        .collect();
    let usable = |m: &&Mailbox| {
        m.1.as_deref()
            .is_some_and(|a| EmailAddress::parse(a).is_ok())
    };
    all.iter()
        .find(usable)
        .or_else(|| all.iter().find(|m| m.1.is_some()))
        .or_else(|| all.iter().find(|m| m.0.is_some()))
        .cloned()
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

/// Most message ids kept from one `In-Reply-To`/`References` list (or a bounce's
/// originals): the first and the last `MAX_MESSAGE_IDS - 1`, as RFC 5322 §3.6.4 trims a
/// long `References`. A hostile list costs linear time, never quadratic.
pub const MAX_MESSAGE_IDS: usize = 100;

/// A list of distinct message ids in first-seen order (a hash set answers "seen?").
#[derive(Default)]
pub(super) struct IdList {
    ids: Vec<String>,
    seen: HashSet<String>,
}

impl IdList {
    /// Add `id` (angle brackets and whitespace stripped) unless empty, containing
    /// whitespace, or seen.
    pub(super) fn add(&mut self, id: &str) {
        let id = clean_id(id);
        if !id.is_empty() && !id.contains(char::is_whitespace) && self.seen.insert(id.clone()) {
            self.ids.push(id);
        }
    }

    /// Whether no id was added.
    pub(super) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Remove every occurrence of `id`.
    pub(super) fn remove(&mut self, id: &str) {
        self.ids.retain(|i| i != id);
    }

    /// The ids, at most [`MAX_MESSAGE_IDS`]: the first and the last ones.
    pub(super) fn finish(mut self) -> Vec<String> {
        if self.ids.len() > MAX_MESSAGE_IDS {
            let tail = self.ids.split_off(self.ids.len() - (MAX_MESSAGE_IDS - 1));
            self.ids.truncate(1);
            self.ids.extend(tail);
        }
        self.ids
    }
}

/// Message ids from a parsed `In-Reply-To`/`References` value.
pub(super) fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    let mut out = IdList::default();
    match value {
        HeaderValue::Text(t) => out.add(t),
        HeaderValue::TextList(l) => l.iter().for_each(|s| out.add(s)),
        _ => {}
    }
    out.finish()
}

static ANGLE_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<([^<>\s]+)>").unwrap_or_else(|_| unreachable!()));

/// The message ids of every `name` header (`In-Reply-To`, `References`). Values sent as
/// RFC 2047 encoded words (`=?UTF-8?B?PENBK…?=` around a Message-ID, as some clients and
/// gateways write them) are decoded first and the `<id>`s taken from the text (bare
/// `local@domain` tokens when it has none); other values are mail-parser's parsed list.
pub(super) fn message_ids(msg: &Message<'_>, name: &str, parsed: &HeaderValue<'_>) -> Vec<String> {
    let raws = raw_header_values(msg.headers_raw(), name);
    if !raws.iter().any(|v| v.contains("=?")) {
        return id_list(parsed);
    }
    let mut out = IdList::default();
    let mut add = |id: &str| out.add(id);
    for raw in &raws {
        let decoded = parse_single_header("Subject", raw)
            .and_then(|m| m.subject().map(str::to_string))
            .unwrap_or_else(|| raw.clone());
        let mut bracketed = false;
        for c in ANGLE_ID.captures_iter(&decoded) {
            if let Some(m) = c.get(1) {
                bracketed = true;
                add(m.as_str());
            }
        }
        if !bracketed {
            for token in decoded.split_whitespace().filter(|t| t.contains('@')) {
                add(token);
            }
        }
    }
    out.finish()
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
