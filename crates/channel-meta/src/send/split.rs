//! Splitting a reply at a platform's text limit.
//!
//! Invariants: every part is within the limit (characters, or UTF-8 bytes never cut inside
//! a character); parts break at a paragraph, line or word when one lies in the second half
//! of the allowed length; nothing is lost except past the last allowed part, which then
//! ends with an ellipsis and is still within the limit.

/// How a text limit is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Chars(usize),
    Bytes(usize),
}

/// Split `text` into at most `max_parts` pieces within `limit`, preferring paragraph,
/// line and word breaks; what does not fit in `max_parts` is cut with an ellipsis.
pub fn split_text(text: &str, limit: Limit, max_parts: usize) -> Vec<String> {
    let max_parts = max_parts.max(1);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let fit = fit_len(rest, limit);
        if fit >= rest.len() {
            parts.push(rest.to_string());
            break;
        }
        if parts.len() + 1 == max_parts {
            // Last allowed part: trim, leaving room for the ellipsis.
            let room = match limit {
                Limit::Chars(n) => Limit::Chars(n.saturating_sub(1)),
                Limit::Bytes(n) => Limit::Bytes(n.saturating_sub('…'.len_utf8())),
            };
            let cut = fit_len(rest, room);
            parts.push(format!("{}…", rest[..cut].trim_end()));
            break;
        }
        let head = &rest[..fit];
        let min = fit / 2;
        let cut = ["\n\n", "\n", " "]
            .iter()
            .find_map(|sep| head.rfind(sep).filter(|&i| i >= min && i > 0))
            .unwrap_or(fit);
        parts.push(rest[..cut].trim_end().to_string());
        rest = rest[cut..].trim_start();
    }
    parts
}

/// Byte length of the longest prefix of `s` within `limit` (on a char boundary).
fn fit_len(s: &str, limit: Limit) -> usize {
    match limit {
        Limit::Chars(n) => s.char_indices().nth(n).map(|(i, _)| i).unwrap_or(s.len()),
        Limit::Bytes(n) => {
            if n >= s.len() {
                return s.len();
            }
            let mut i = n;
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            i
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_prefers_breaks_and_respects_limits() {
        assert_eq!(split_text("  halo  ", Limit::Chars(10), 5), vec!["halo"]);
        let text = "satu dua tiga empat lima enam";
        let parts = split_text(text, Limit::Chars(10), 10);
        assert!(parts.iter().all(|p| p.chars().count() <= 10), "{parts:?}");
        assert_eq!(parts.join(" "), text);
        let para = format!("{}\n\n{}", "a".repeat(8), "b".repeat(8));
        assert_eq!(
            split_text(&para, Limit::Chars(12), 5),
            vec!["a".repeat(8), "b".repeat(8)]
        );
        // No break at all: hard cut.
        let long = "x".repeat(25);
        assert_eq!(split_text(&long, Limit::Chars(10), 5).len(), 3);
        // Bytes: multi-byte characters are never cut in half.
        let emoji = "😀".repeat(300); // 1200 bytes
        let parts = split_text(&emoji, Limit::Bytes(1000), 5);
        assert!(parts.iter().all(|p| p.len() <= 1000));
        assert_eq!(parts.concat(), emoji);
        // Too many parts: the last is trimmed with an ellipsis, still within the limit.
        let parts = split_text(&"kata ".repeat(100), Limit::Chars(20), 3);
        assert_eq!(parts.len(), 3);
        assert!(
            parts[2].ends_with('…') && parts[2].chars().count() <= 20,
            "{parts:?}"
        );
        let parts = split_text(&"é".repeat(600), Limit::Bytes(1000), 1);
        assert!(parts[0].len() <= 1000 && parts[0].ends_with('…'));
    }
}
