//! Normalization of one raw RFC 5322 message into an [`InboundMail`].
//!
//! [`normalize`] never panics and accepts anything that has at least one header: odd
//! charsets, broken MIME, missing bodies and truncated messages all produce a best-effort
//! [`InboundMail`]. Charset and transfer decoding (UTF-8, ISO-8859-x, Windows-125x,
//! RFC 2047 encoded words, quoted-printable, base64) is mail-parser's job; this module
//! picks the text, classifies automatic mail per RFC 3834 ([`AutoKind`]), extracts the
//! threading headers and the ticket tag of the subject, and applies [`Limits`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;

use aduan_core::model::NewAttachment;
use aduan_core::types::TicketNumber;
use chrono::{DateTime, TimeZone, Utc};
use mail_parser::{
    Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use regex::Regex;
use sha2::{Digest, Sha256};

use crate::html::html_to_text;

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

/// What kind of sender produced a message, for the RFC 3834 "may we auto-respond" rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoKind {
    /// A person wrote it: an acknowledgement may be sent.
    Human,
    /// An automatic response (vacation, out-of-office): `Auto-Submitted` other than `no`,
    /// `X-Autoreply`, `X-Autorespond`, or `X-Auto-Response-Suppress: All|AutoReply`.
    AutoReplied,
    /// Bulk or mailing-list traffic: `Precedence: bulk|junk|list` or any `List-*` header.
    Bulk,
    /// A delivery status notification or other bounce.
    Bounce {
        /// Message-IDs (without `<>`) of the original message(s) that bounced, taken from
        /// the returned `message/rfc822` or `text/rfc822-headers` part, `Original-Message-ID`
        /// / `X-Original-Message-ID` headers, or a quoted header block in a plain-text
        /// bounce. Empty when none could be found.
        original_message_ids: Vec<String>,
    },
    /// A sender address that never reads replies: `noreply`, `MAILER-DAEMON`, `LISTSERV`,
    /// `MAJORDOMO`, `*-request`, `owner-*`.
    NoReplySender,
}

impl AutoKind {
    /// Whether an automatic acknowledgement may be sent in response (RFC 3834 §2): only
    /// to mail a person wrote.
    pub fn may_acknowledge(&self) -> bool {
        matches!(self, AutoKind::Human)
    }
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

/// When the first `name` header of the message holds bytes that are not UTF-8, decode
/// them as Windows-1252 (a superset of ISO-8859-1 in practice) and parse that header
/// alone again, so encoded words in it still work. `None` when the header is valid UTF-8
/// or absent.
fn reparse_8bit_header(msg: &Message<'_>, name: &str) -> Option<Message<'static>> {
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
fn first_addr(addr: &Address<'_>) -> Option<(Option<String>, Option<String>)> {
    let a = addr.first()?;
    Some((
        a.name.as_ref().map(|n| n.to_string()),
        a.address.as_ref().map(|a| a.trim().to_string()),
    ))
}

/// `<a@b>` → `a@b`, `<>` → ``, `a@b (comment)` → `a@b`.
fn parse_return_path(raw: &str) -> String {
    let raw = raw.trim();
    if let Some(open) = raw.find('<') {
        let inner = &raw[open + 1..];
        let inner = inner.find('>').map_or(inner, |close| &inner[..close]);
        return inner.trim().to_string();
    }
    raw.split_whitespace().next().unwrap_or("").to_string()
}

/// Strip angle brackets and whitespace from a message id.
fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

/// Message ids from a parsed `In-Reply-To`/`References` value.
fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
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
fn header_texts(msg: &Message<'_>, name: &str) -> Vec<String> {
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
fn raw_header_values<'m>(
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

/// The body text: every inline text part of the top-level message in order (plain text
/// as is, HTML converted), blank-line separated, trimmed.
fn body_text(msg: &Message<'_>) -> String {
    let mut chunks: Vec<String> = Vec::new();
    for &id in &msg.text_body {
        let Some(part) = msg.parts.get(id as usize) else {
            continue;
        };
        let chunk = match &part.body {
            PartType::Text(t) => t.replace("\r\n", "\n").trim().to_string(),
            PartType::Html(h) => html_to_text(h),
            _ => continue,
        };
        if !chunk.is_empty() {
            chunks.push(chunk);
        }
    }
    if chunks.is_empty() {
        // No text body recorded (e.g. only an HTML alternative): fall back to HTML parts.
        for &id in &msg.html_body {
            if let Some(PartType::Html(h)) = msg.parts.get(id as usize).map(|p| &p.body) {
                let chunk = html_to_text(h);
                if !chunk.is_empty() {
                    chunks.push(chunk);
                }
            }
        }
    }
    // Drop NULs and other C0 controls except tab/newline; they break storage and display.
    chunks
        .join("\n\n")
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

/// Cut `text` to `max` characters, appending [`TRUNCATION_NOTE`] when cut.
fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => {
            let mut out = text[..cut].trim_end().to_string();
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(TRUNCATION_NOTE);
            out
        }
    }
}

/// Attachments within limits, and the names of those skipped.
fn collect_attachments(msg: &Message<'_>, limits: &Limits) -> (Vec<NewAttachment>, Vec<String>) {
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for (n, part) in msg.attachments().enumerate() {
        let content_type = content_type_of(part);
        let filename = attachment_filename(part, &content_type, n + 1);
        let data = part.contents();
        if data.len() as u64 > limits.max_attachment_bytes || kept.len() >= limits.max_attachments {
            skipped.push(filename);
            continue;
        }
        kept.push(NewAttachment {
            filename,
            content_type,
            data: data.to_vec(),
        });
    }
    (kept, skipped)
}

/// `type/subtype` in lower case; `application/octet-stream` when unknown.
fn content_type_of(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => {
            let t = ct.ctype().trim().to_ascii_lowercase();
            let st = ct.subtype().map(|s| s.trim().to_ascii_lowercase());
            match st {
                Some(st) if !t.is_empty() && !st.is_empty() => format!("{t}/{st}"),
                _ if t == "text" => "text/plain".into(),
                _ => "application/octet-stream".into(),
            }
        }
        None => match part.body {
            PartType::Message(_) => "message/rfc822".into(),
            PartType::Text(_) => "text/plain".into(),
            PartType::Html(_) => "text/html".into(),
            _ => "application/octet-stream".into(),
        },
    }
}

/// A safe file name: the declared name without directories or control characters, at
/// most 200 characters; `lampiran-N.ext` when none is declared.
fn attachment_filename(part: &MessagePart<'_>, content_type: &str, n: usize) -> String {
    let declared = part.attachment_name().unwrap_or("");
    let base = declared
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>();
    let base = base.trim().trim_start_matches('.').trim().to_string();
    if !base.is_empty() {
        return base;
    }
    let ext = match content_type {
        "message/rfc822" => "eml",
        "text/plain" => "txt",
        "text/html" => "html",
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "application/pdf" => "pdf",
        "text/rfc822-headers" => "txt",
        "message/delivery-status" => "txt",
        _ => "bin",
    };
    format!("lampiran-{n}.{ext}")
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

// ----------------------------------------------------------------------------------
// RFC 3834 classification
// ----------------------------------------------------------------------------------

static BOUNCE_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(undeliverable|undelivered mail|delivery status notification|returned mail|mail delivery failed|mail delivery failure|delivery failure|failure notice|delivery has failed|message not delivered|non remis|unzustellbar|non recapitabile|mail system error|surat tidak terkirim)",
    )
    .unwrap_or_else(|_| unreachable!())
});

static MESSAGE_ID_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?im)^\s*(?:x-original-)?(?:original-)?message-id:\s*<([^<>\s]+)>")
        .unwrap_or_else(|_| unreachable!())
});

fn classify(
    msg: &Message<'_>,
    from_address: Option<&str>,
    from_name: Option<&str>,
    return_path: Option<&str>,
    subject: &str,
    text: &str,
) -> AutoKind {
    let from_local = from_address
        .map(|a| {
            a.rsplit_once('@')
                .map_or(a, |(l, _)| l)
                .to_ascii_lowercase()
        })
        .unwrap_or_default();

    // 1. Bounces.
    let is_dsn = msg.parts.iter().any(is_delivery_report);
    let null_sender = return_path == Some("");
    let daemon_from = matches!(from_local.as_str(), "mailer-daemon" | "postmaster")
        || from_name.is_some_and(|n| {
            let n = n.to_ascii_lowercase();
            n.contains("mail delivery subsystem")
                || n.contains("mail delivery system")
                || n == "mailer-daemon"
        });
    let bounce_subject = BOUNCE_SUBJECT.is_match(subject);
    if is_dsn || null_sender || daemon_from || bounce_subject {
        return AutoKind::Bounce {
            original_message_ids: original_ids(msg, text),
        };
    }

    let raw = || msg.headers_raw();

    // 2. Automatic responses.
    let auto_submitted = raw_header_values(raw(), "Auto-Submitted").iter().any(|v| {
        let token = v.split(';').next().unwrap_or("").trim();
        !token.is_empty() && !token.eq_ignore_ascii_case("no")
    });
    let vacation = [
        "X-Autoreply",
        "X-Autorespond",
        "X-Autoresponder",
        "X-Autogenerated",
    ]
    .iter()
    .any(|h| {
        raw_header_values(raw(), h)
            .iter()
            .any(|v| !v.is_empty() && !v.eq_ignore_ascii_case("no"))
    });
    let suppress = raw_header_values(raw(), "X-Auto-Response-Suppress")
        .iter()
        .any(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t.eq_ignore_ascii_case("All") || t.eq_ignore_ascii_case("AutoReply"))
        });
    if auto_submitted || vacation || suppress {
        return AutoKind::AutoReplied;
    }

    // 3. Bulk and list traffic.
    let precedence = raw_header_values(raw(), "Precedence").iter().any(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "bulk" | "junk" | "list"
        )
    });
    let list_header = raw()
        .any(|(n, _)| n.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("list-")) && n.len() > 5);
    if precedence || list_header {
        return AutoKind::Bulk;
    }

    // 4. Senders that never read replies.
    let noreply = {
        let l = from_local.as_str();
        let squeezed: String = l.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        squeezed.contains("noreply")
            || squeezed.contains("donotreply")
            || matches!(l, "mailer-daemon" | "listserv" | "majordomo")
            || l.ends_with("-request")
            || l.starts_with("owner-")
    };
    if noreply {
        return AutoKind::NoReplySender;
    }
    AutoKind::Human
}

/// Whether a part is `multipart/report; report-type=delivery-status` (or a
/// `message/delivery-status` part, which only occurs inside one).
fn is_delivery_report(part: &MessagePart<'_>) -> bool {
    let Some(ct) = part.content_type() else {
        return false;
    };
    let t = ct.ctype();
    let st = ct.subtype().unwrap_or("");
    (t.eq_ignore_ascii_case("multipart")
        && st.eq_ignore_ascii_case("report")
        && ct
            .attribute("report-type")
            .is_some_and(|r| r.trim().eq_ignore_ascii_case("delivery-status")))
        || (t.eq_ignore_ascii_case("message") && st.eq_ignore_ascii_case("delivery-status"))
}

/// Message-IDs of the original message(s) a bounce refers to.
fn original_ids(msg: &Message<'_>, text: &str) -> Vec<String> {
    fn add(ids: &mut Vec<String>, id: &str) {
        let id = clean_id(id);
        if !id.is_empty() && !id.contains(char::is_whitespace) && !ids.contains(&id) {
            ids.push(id);
        }
    }
    let mut ids: Vec<String> = Vec::new();
    // Headers of the report itself.
    for name in ["Original-Message-ID", "X-Original-Message-ID"] {
        for v in raw_header_values(msg.headers_raw(), name) {
            add(&mut ids, &v);
        }
    }
    for part in &msg.parts {
        let ct = part.content_type();
        let is = |t: &str, st: &str| {
            ct.is_some_and(|ct| {
                ct.ctype().eq_ignore_ascii_case(t)
                    && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case(st))
            })
        };
        match &part.body {
            // message/rfc822 (or global): the returned original.
            PartType::Message(inner) if !inner.parts.is_empty() => {
                if let Some(id) = inner.message_id() {
                    add(&mut ids, id);
                }
            }
            _ if is("text", "rfc822-headers")
                || is("message", "rfc822-headers")
                || is("message", "global-headers") =>
            {
                let bytes = part.contents();
                let headers = catch_unwind(AssertUnwindSafe(|| {
                    MessageParser::default().parse_headers(bytes)
                }))
                .ok()
                .flatten();
                if let Some(id) = headers.as_ref().and_then(|h| {
                    if h.parts.is_empty() {
                        None
                    } else {
                        h.message_id()
                    }
                }) {
                    add(&mut ids, id);
                } else if let Ok(s) = std::str::from_utf8(bytes) {
                    for c in MESSAGE_ID_LINE.captures_iter(s) {
                        if let Some(m) = c.get(1) {
                            add(&mut ids, m.as_str());
                        }
                    }
                }
            }
            // message/delivery-status may carry Original-Message-ID lines (non-standard
            // but common).
            _ if is("message", "delivery-status") => {
                if let Ok(s) = std::str::from_utf8(part.contents()) {
                    for c in MESSAGE_ID_LINE.captures_iter(s) {
                        if let Some(m) = c.get(1) {
                            add(&mut ids, m.as_str());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if ids.is_empty() {
        // Non-standard bounces (qmail, Exim without DSN) quote the original headers in the
        // body text.
        for c in MESSAGE_ID_LINE.captures_iter(text) {
            if let Some(m) = c.get(1) {
                add(&mut ids, m.as_str());
            }
        }
    }
    // The bounce's own Message-ID is never an original.
    if let Some(own) = msg.message_id().map(clean_id) {
        ids.retain(|i| *i != own);
    }
    ids
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
    fn truncation() {
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("abcé", 3), "abc\n\n[... dipotong]");
        assert_eq!(truncate_chars("ééé", 0), "[... dipotong]");
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
