//! Attachments of a message, within [`Limits`].
//!
//! Invariants: attachments over [`Limits::max_attachment_bytes`] or beyond
//! [`Limits::max_attachments`] are never kept but always named in the skipped list, so the
//! complaint says what was left out; every kept attachment has a lower-case
//! `type/subtype` and a safe file name (no directories, no control characters, at most 200
//! characters, `lampiran-N.ext` when none is declared); a declared name written in raw 8-bit
//! bytes is read in the part's (else the message's) charset, not shown with U+FFFD.

use aduan_core::model::NewAttachment;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{Message, MessagePart, MimeHeaders, PartType};

use super::charset::{declared_charset, legacy_header_text, raw_value};
use super::headers::parse_single_header;
use super::{Limits, MAX_SKIPPED_NAMES};

/// Attachments within limits, and the names of those skipped.
pub(super) fn collect_attachments(
    msg: &Message<'_>,
    limits: &Limits,
) -> (Vec<NewAttachment>, Vec<String>) {
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    let mut not_named = 0usize;
    // The message's declared charset, looked up once (not once per attachment: that was
    // quadratic in the number of parts).
    let charset = std::cell::OnceCell::new();
    for (n, part) in msg.attachments().enumerate() {
        let data = part.contents();
        let keep =
            data.len() as u64 <= limits.max_attachment_bytes && kept.len() < limits.max_attachments;
        if !keep && skipped.len() >= MAX_SKIPPED_NAMES {
            not_named += 1;
            continue;
        }
        let content_type = content_type_of(part);
        let declared = declared_name(msg, part, &charset);
        let filename = attachment_filename(declared.as_deref(), &content_type, n + 1);
        if !keep {
            skipped.push(filename);
            continue;
        }
        kept.push(NewAttachment {
            filename,
            content_type,
            data: data.to_vec(),
        });
    }
    if not_named > 0 {
        skipped.push(format!("dan {not_named} lainnya"));
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

/// The name a part declares (`Content-Disposition` filename, else `Content-Type` name).
/// When mail-parser had to put U+FFFD in it, the header is re-read from its raw bytes in the
/// part's charset, else the message's, else as UTF-8 with other bytes as Windows-1252.
fn declared_name(
    msg: &Message<'_>,
    part: &MessagePart<'_>,
    message_charset: &std::cell::OnceCell<Option<String>>,
) -> Option<String> {
    let name = part.attachment_name()?;
    if !name.contains(char::REPLACEMENT_CHARACTER) {
        return Some(name.to_string());
    }
    let charset = part
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| charset_decoder(c.as_bytes()).is_some())
        .or_else(|| {
            message_charset
                .get_or_init(|| declared_charset(msg))
                .clone()
        });
    for header in ["Content-Disposition", "Content-Type"] {
        let reread = part
            .headers
            .iter()
            .find(|h| h.name().eq_ignore_ascii_case(header))
            .and_then(|h| raw_value(&msg.raw_message, h))
            .and_then(|raw| legacy_header_text(raw, charset.as_deref()))
            .and_then(|text| parse_single_header(header, &text));
        if let Some(n) = reread.as_ref().and_then(|m| m.attachment_name()) {
            return Some(n.to_string());
        }
    }
    Some(name.to_string())
}

/// A safe file name: the declared name without directories or control characters, at
/// most 200 characters; `lampiran-N.ext` when none is declared.
fn attachment_filename(declared: Option<&str>, content_type: &str, n: usize) -> String {
    let declared = declared.unwrap_or("");
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
