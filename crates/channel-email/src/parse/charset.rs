//! What mail-parser's charset decoding leaves to us: text that was never labelled right.
//!
//! mail-parser (with its `full_encoding` feature) decodes every labelled charset it knows —
//! UTF-8, UTF-7, UTF-16, ISO-8859-x, Windows-125x, KOI8, Mac, and the multi-byte Asian
//! charsets ISO-2022-JP, Shift_JIS, EUC-JP, EUC-KR, GB2312/GBK/GB18030 and Big5 under their
//! common aliases (`latin1`, `cp1252`, `x-sjis`, `ks_c_5601-1987`, …; `utf8` and unknown
//! labels are read as UTF-8). This module handles the unlabelled rest:
//!
//! - header bytes that are not UTF-8 (RFC 5322 allows none; old clients wrote their own
//!   charset), also *inside* an encoded word (`=?iso-8859-1?Q?Fr\xf6sche?=`), ISO-2022-JP
//!   escape sequences written raw, and UTF-7 headers of a UTF-7 message: [`legacy_header_text`];
//! - text parts without a usable label (none, a UTF-8 one, an unknown one) whose bytes are not
//!   UTF-8: [`part_text`] re-reads the invalid bytes as Windows-1252 instead of U+FFFD.
//!
//! Invariants: valid UTF-8 is never re-decoded (a U+FFFD the sender wrote stays); a part with a
//! known charset label keeps mail-parser's decoding; nothing here panics on any input.

use std::borrow::Cow;

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding, Header, Message, MessagePart, MimeHeaders, PartType};

/// The charset a message declares for its text — the top-level `Content-Type`, else the
/// first text part's — in lower case, when it is not a UTF-8 label (mail-parser decodes
/// UTF-8 without a table) and mail-parser can decode it. Old clients wrote raw header bytes
/// in that charset.
pub(super) fn declared_charset(msg: &Message<'_>) -> Option<String> {
    let of = |ct: Option<&mail_parser::ContentType<'_>>| {
        ct.and_then(|ct| ct.attribute("charset"))
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| charset_decoder(c.as_bytes()).is_some())
    };
    of(msg.content_type()).or_else(|| {
        msg.parts
            .iter()
            .filter(|p| matches!(p.body, PartType::Text(_) | PartType::Html(_)))
            .find_map(|p| of(p.content_type()))
    })
}

/// The raw bytes of header `h` (its value, as written).
pub(super) fn raw_value<'m>(raw_message: &'m [u8], h: &Header<'_>) -> Option<&'m [u8]> {
    raw_message.get(h.offset_start() as usize..h.offset_end() as usize)
}

/// A header value that needs re-decoding, as text mail-parser can parse again (encoded
/// words intact); `None` when the raw value is plain UTF-8 text already.
///
/// - Raw bytes that are not UTF-8: inside a `Q` encoded word they are re-escaped as `=XX`,
///   so the word's own charset decodes them; the rest is decoded in `charset` (the message's
///   declared one), else kept where it is UTF-8 with each other byte read as Windows-1252 (a
///   superset of ISO-8859-1 in practice).
/// - ISO-2022 escape sequences (7-bit bytes, so valid UTF-8): decoded in `charset` when it
///   is an ISO-2022 one, else ISO-2022-JP.
/// - A message whose declared charset is UTF-7: a header with `+` and no encoded word is
///   decoded as UTF-7.
pub(super) fn legacy_header_text(raw: &[u8], charset: Option<&str>) -> Option<String> {
    let decoder = |name: &str| charset_decoder(name.as_bytes());
    if std::str::from_utf8(raw).is_err() {
        let escaped = escape_8bit_in_q_words(raw);
        return Some(match charset.and_then(decoder) {
            Some(decode) => decode(&escaped),
            None => utf8_or_cp1252(&escaped),
        });
    }
    if raw.contains(&0x1b) {
        let name = charset
            .filter(|c| c.starts_with("iso-2022") || c.starts_with("iso2022"))
            .unwrap_or("iso-2022-jp");
        return decoder(name).map(|decode| decode(raw));
    }
    if charset.is_some_and(|c| c == "utf-7" || c == "utf7")
        && raw.contains(&b'+')
        && !raw.windows(2).any(|w| w == b"=?")
    {
        return decoder("utf-7").map(|decode| decode(raw));
    }
    None
}

/// `bytes` as text: valid UTF-8 sequences as they are, every other byte read as
/// Windows-1252.
pub(super) fn utf8_or_cp1252(bytes: &[u8]) -> String {
    let cp1252 = charset_decoder(b"windows-1252");
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            match cp1252 {
                Some(decode) => out.push_str(&decode(std::slice::from_ref(b))),
                None => out.push(char::REPLACEMENT_CHARACTER),
            }
        }
    }
    out
}

/// Bytes of 0x80 and above inside `=?charset?Q?…?=` words written as `=XX`.
fn escape_8bit_in_q_words(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 16);
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(b"=?")
            && let Some(text_start) = q_word_text_start(&raw[i..])
        {
            let text_start = i + text_start;
            let text_end = raw[text_start..]
                .windows(2)
                .position(|w| w == b"?=")
                .map_or(raw.len(), |p| text_start + p);
            out.extend_from_slice(&raw[i..text_start]);
            for &b in &raw[text_start..text_end] {
                if b >= 0x80 {
                    out.extend_from_slice(format!("={b:02X}").as_bytes());
                } else {
                    out.push(b);
                }
            }
            i = text_end;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// For `=?charset?Q?text?=` at the start of `s`, the offset of `text`.
fn q_word_text_start(s: &[u8]) -> Option<usize> {
    let charset_len = s
        .get(2..)?
        .iter()
        .take(64)
        .position(|&b| b == b'?')
        .filter(|&n| n > 0)?;
    let enc = 2 + charset_len + 1;
    (matches!(s.get(enc), Some(b'q' | b'Q')) && s.get(enc + 1) == Some(&b'?')).then_some(enc + 2)
}

/// The text of a text part of `msg`: mail-parser's, except when it replaced bytes with
/// U+FFFD in a part without a usable charset label (none, a UTF-8 label or an unknown one)
/// and its transfer-decoded bytes are indeed not UTF-8: then [`utf8_or_cp1252`] of them.
pub(super) fn part_text<'a>(
    msg: &Message<'_>,
    part: &MessagePart<'_>,
    text: &'a str,
) -> Cow<'a, str> {
    if !text.contains(char::REPLACEMENT_CHARACTER) {
        return Cow::Borrowed(text);
    }
    let labelled = part
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .is_some_and(|c| charset_decoder(c.trim().as_bytes()).is_some());
    if labelled {
        return Cow::Borrowed(text);
    }
    let Some(raw) = msg
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)
    else {
        return Cow::Borrowed(text);
    };
    let bytes = match part.encoding {
        Encoding::QuotedPrintable => quoted_printable_decode(raw),
        Encoding::Base64 => base64_decode(raw),
        Encoding::None => Some(raw.to_vec()),
    };
    match bytes {
        Some(b) if std::str::from_utf8(&b).is_err() => Cow::Owned(utf8_or_cp1252(&b)),
        _ => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_bit_bytes_inside_q_words_are_escaped() {
        assert_eq!(
            escape_8bit_in_q_words(b"=?iso-8859-1?Q?Fr\xf6sche?= und Fr\xf6sche"),
            b"=?iso-8859-1?Q?Fr=F6sche?= und Fr\xf6sche"
        );
        // B words and broken words are left alone.
        assert_eq!(escape_8bit_in_q_words(b"=?x?B?\xf6?="), b"=?x?B?\xf6?=");
        assert_eq!(escape_8bit_in_q_words(b"=?\xf6"), b"=?\xf6");
        assert_eq!(escape_8bit_in_q_words(b"=??Q?\xf6"), b"=??Q?\xf6");
        assert_eq!(escape_8bit_in_q_words(b"=?a?Q?\xf6"), b"=?a?Q?=F6");
    }

    #[test]
    fn invalid_bytes_read_as_windows_1252() {
        assert_eq!(
            utf8_or_cp1252(b"Fr\xf6sche \xe2\x80\x93 \x80"),
            "Frösche – €"
        );
        assert_eq!(utf8_or_cp1252("päivää 🙏".as_bytes()), "päivää 🙏");
    }

    #[test]
    fn legacy_headers() {
        assert_eq!(legacy_header_text(b"plain ascii", None), None);
        assert_eq!(legacy_header_text("UTF-8 é".as_bytes(), None), None);
        assert_eq!(
            legacy_header_text(b"Fr\xf6sche", None).as_deref(),
            Some("Frösche")
        );
        // Shift_JIS bytes of a message that declares Shift_JIS.
        assert_eq!(
            legacy_header_text(b"\x83n\x83\x8D\x81[", Some("shift_jis")).as_deref(),
            Some("ハロー")
        );
        // Raw ISO-2022-JP.
        assert_eq!(
            legacy_header_text(b"\x1b$B%O%m!<\x1b(B", None).as_deref(),
            Some("ハロー")
        );
        assert_eq!(
            legacy_header_text(b"Fr+APY-sche", Some("utf-7")).as_deref(),
            Some("Frösche")
        );
        assert_eq!(legacy_header_text(b"C++", Some("utf-8")), None);
    }
}
