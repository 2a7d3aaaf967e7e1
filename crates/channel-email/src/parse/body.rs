//! The body text of a message: every inline text part of the top-level message in order
//! (plain text as is, HTML converted by [`html_to_text`]), falling back to the HTML
//! alternatives when no text part was recorded. Bytes of an unlabelled part that are not
//! UTF-8 are read as Windows-1252 ([`part_text`]).
//!
//! Invariants: the result is trimmed and holds no control characters other than tab and
//! newline; [`truncate_chars`] cuts at a character boundary (never inside a UTF-8
//! sequence) and marks the cut with [`TRUNCATION_NOTE`].

use mail_parser::{Message, PartType};

use super::TRUNCATION_NOTE;
use super::charset::part_text;
use crate::html::html_to_text;

/// The body text: every inline text part of the top-level message in order (plain text
/// as is, HTML converted), blank-line separated, trimmed.
pub(super) fn body_text(msg: &Message<'_>) -> String {
    let mut chunks: Vec<String> = Vec::new();
    for &id in &msg.text_body {
        let Some(part) = msg.parts.get(id as usize) else {
            continue;
        };
        let chunk = match &part.body {
            PartType::Text(t) => part_text(msg, part, t)
                .replace("\r\n", "\n")
                .trim()
                .to_string(),
            PartType::Html(h) => html_to_text(&part_text(msg, part, h)),
            _ => continue,
        };
        if !chunk.is_empty() {
            chunks.push(chunk);
        }
    }
    if chunks.is_empty() {
        // No text body recorded (e.g. only an HTML alternative): fall back to HTML parts.
        for &id in &msg.html_body {
            let Some(part) = msg.parts.get(id as usize) else {
                continue;
            };
            if let PartType::Html(h) = &part.body {
                let chunk = html_to_text(&part_text(msg, part, h));
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
pub(super) fn truncate_chars(text: &str, max: usize) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation() {
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("abcé", 3), "abc\n\n[... dipotong]");
        assert_eq!(truncate_chars("ééé", 0), "[... dipotong]");
    }
}
