//! Subjects of replies: the reply and forward prefixes mail clients put in front of a
//! subject (`Re:`, `RE[2]:`, `AW:`, `Fwd:`, `Balas:`, `BLS:`, `回复：` …) and the key two
//! subjects are compared by when a reply threads by its subject alone
//! ([`ThreadHint::ReplySubject`](crate::desk::ThreadHint::ReplySubject)).
//!
//! Invariants: a prefix is one of [`PREFIXES`] (case-insensitive), optionally followed by a
//! counter (`[2]`, `(3)`, `^4`) and white space, then `:` or the full-width `：`; any other
//! word before a colon (`Rapat: jadwal`) is part of the subject. A key is never empty: the
//! subject without its prefixes, white space collapsed to single spaces, lower-cased.

/// Reply and forward prefixes, lower case: English and Latin (`re`, `fw`, `fwd`), German
/// (`aw`, `wg`), Indonesian (`balas`, `bls`, `trs`, `teruskan`), French (`tr`), Dutch
/// (`antw`, `doorst`), Scandinavian (`sv`, `vs`, `vb`), Italian (`r`, `rif`, `i`),
/// Spanish/Portuguese (`rv`, `res`, `enc`), Polish (`odp`), Turkish (`ynt`, `ilt`),
/// Russian (`отв`), Greek (`απ`, `σχετ`, `πρθ`), Chinese and Japanese (`回复`, `回覆`,
/// `答复`, `转发`, `轉寄`, `返信`, `転送`).
pub const PREFIXES: &[&str] = &[
    "re", "fw", "fwd", "aw", "wg", "balas", "bls", "trs", "teruskan", "tr", "antw", "doorst", "sv",
    "vs", "vb", "r", "rif", "i", "rv", "res", "enc", "odp", "ynt", "ilt", "отв", "απ", "σχετ",
    "πρθ", "回复", "回覆", "答复", "转发", "轉寄", "返信", "転送",
];

/// `subject` without its leading reply/forward prefixes, and how many were removed.
fn strip_prefixes(subject: &str) -> (&str, usize) {
    let mut rest = subject.trim_start();
    let mut removed = 0;
    while let Some(after) = strip_one(rest) {
        rest = after.trim_start();
        removed += 1;
    }
    (rest, removed)
}

/// The text after one leading prefix, if `s` starts with one.
fn strip_one(s: &str) -> Option<&str> {
    let word_end = s
        .char_indices()
        .find(|(_, c)| !c.is_alphabetic())
        .map_or(s.len(), |(i, _)| i);
    let word = &s[..word_end];
    if word.is_empty() || !PREFIXES.contains(&word.to_lowercase().as_str()) {
        return None;
    }
    let mut rest = &s[word_end..];
    // A counter: `RE[2]:`, `Re(3):`, `Re^4:`.
    if let Some(inner) = rest.strip_prefix('[').or_else(|| rest.strip_prefix('(')) {
        let digits = inner.chars().take_while(char::is_ascii_digit).count();
        let close = inner[digits..].chars().next();
        if digits > 0 && matches!(close, Some(']' | ')')) {
            rest = &inner[digits + 1..];
        } else {
            return None;
        }
    } else if let Some(inner) = rest.strip_prefix('^') {
        let digits = inner.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &inner[digits..];
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    rest.strip_prefix(':').or_else(|| rest.strip_prefix('：'))
}

/// The comparison key of a subject: without reply/forward prefixes, white space collapsed,
/// lower-cased; `None` when nothing is left.
pub fn subject_key(subject: &str) -> Option<String> {
    let (rest, _) = strip_prefixes(subject);
    key_of(rest)
}

/// The key of a reply's subject ([`subject_key`]) — only when it starts with at least one
/// reply or forward prefix; `None` for a subject without one or with nothing after it.
pub fn reply_key(subject: &str) -> Option<String> {
    match strip_prefixes(subject) {
        (_, 0) => None,
        (rest, _) => key_of(rest),
    }
}

fn key_of(s: &str) -> Option<String> {
    let key = s
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_prefixes_of_many_clients() {
        for s in [
            "Re: Akta kelahiran salah nama",
            "RE: Akta kelahiran salah nama",
            "re:Akta kelahiran salah nama",
            "Re : Akta kelahiran salah nama",
            "RE[2]: Akta kelahiran salah nama",
            "Re(3): Akta kelahiran salah nama",
            "Re^4: Akta kelahiran salah nama",
            "Balas: Akta kelahiran salah nama",
            "BLS: Akta kelahiran salah nama",
            "AW: WG: Akta kelahiran salah nama",
            "Fwd: Re: Akta  kelahiran\tsalah nama",
            "FW: Akta kelahiran salah nama",
            "TRS: Akta kelahiran salah nama",
            "SV: Akta kelahiran salah nama",
            "Odp: Akta kelahiran salah nama",
            "回复：Akta kelahiran salah nama",
            "Отв: Akta kelahiran salah nama",
            "  Re:   AKTA KELAHIRAN SALAH NAMA  ",
        ] {
            assert_eq!(
                reply_key(s).as_deref(),
                Some("akta kelahiran salah nama"),
                "{s}"
            );
        }
    }

    #[test]
    fn what_is_not_a_reply() {
        // No prefix: not a reply, but still a key for the complaint's side.
        assert_eq!(reply_key("Akta kelahiran salah nama"), None);
        assert_eq!(
            subject_key("Akta kelahiran salah nama").as_deref(),
            Some("akta kelahiran salah nama")
        );
        // A word before a colon that is no prefix belongs to the subject.
        assert_eq!(reply_key("Rapat: jadwal"), None);
        assert_eq!(
            subject_key("Rapat: jadwal").as_deref(),
            Some("rapat: jadwal")
        );
        assert_eq!(reply_key("Reklame: liar"), None);
        assert_eq!(reply_key("Revisi KK"), None);
        // A broken counter is no prefix.
        assert_eq!(reply_key("Re[x]: Akta"), None);
        assert_eq!(reply_key("Re[2: Akta"), None);
        // Nothing left.
        assert_eq!(reply_key("Re:"), None);
        assert_eq!(reply_key("Re: Fwd:  "), None);
        assert_eq!(subject_key(""), None);
        assert_eq!(subject_key(" \t "), None);
    }

    #[test]
    fn prefixes_are_stripped_on_both_sides() {
        assert_eq!(
            subject_key("Fwd: Lampu jalan mati"),
            reply_key("Re: Fwd: Lampu jalan mati")
        );
        assert_ne!(
            reply_key("Re: Lampu jalan mati"),
            subject_key("Lampu jalan mati di Jl. Ahmad Yani")
        );
    }
}
