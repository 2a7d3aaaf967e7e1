//! Masking of personal data in free text for readers who must not see the complainant's
//! identity (role `bidang` without a share, the mailed digest, error texts).
//!
//! - [`mask_text`] masks what looks like personal data in any text: e-mail addresses,
//!   16-digit NIK / KK numbers and Indonesian phone numbers, in the spellings citizens
//!   use — grouped by spaces, dots, dashes or slashes, and glued to letters or
//!   underscores (`NIK5108…`, `KTP_5108…`, `HP0812…`, `5108/0145/0690/0005`).
//! - [`mask_for`] (or [`IdentityMask`] for many texts of one complaint) also masks the
//!   complaint's own identity: the full name and its distinctive words, the address and
//!   its street and village parts, the e-mail's local part, the phone number's digits in
//!   any separator spelling (with or without `0` / `62` / `+62`), and the channel handle.
//! - [`without_recipient`] takes a reply's recipient out of an error text before it is
//!   stored or logged.
//!
//! Ticket numbers (`ADU-202611-0001`) are never masked, and ordinary numbers stay: dates,
//! times, amounts (`Rp 50.000`), queue numbers.
//!
//! How it works: every detector returns byte spans of the *original* text; spans that
//! touch a ticket number are dropped, overlapping spans merge, and the output is built once,
//! so a placeholder is never matched again by a later detector.

use regex::Regex;
use std::sync::LazyLock;

use crate::model::Identity;

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[\p{L}0-9._%+\-]+@[\p{L}0-9\-]+(?:\.[\p{L}0-9\-]+)+").expect("valid regex")
});
/// `{PREFIX}-YYYYMM-NNNN`: a prefix with at least one letter (so phone numbers grouped
/// 4-6-4 are not mistaken for tickets), a plausible month, a sequence of 4-12 digits.
static TICKET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[A-Z0-9]*[A-Z][A-Z0-9]*-20\d\d(?:0[1-9]|1[0-2])-\d{4,12}\b")
        .expect("valid regex")
});

/// Replacement texts (Indonesian, shown to staff).
pub const MASK_EMAIL: &str = "[email disamarkan]";
pub const MASK_NIK: &str = "[NIK disamarkan]";
pub const MASK_PHONE: &str = "[nomor disamarkan]";
pub const MASK_NAME: &str = "[nama disamarkan]";
pub const MASK_ADDRESS: &str = "[alamat disamarkan]";
pub const MASK_HANDLE: &str = "[akun disamarkan]";
/// What replaces a reply's recipient in stored and logged error texts.
pub const RECIPIENT_PLACEHOLDER: &str = "[penerima]";

/// Words of a name that are masked only as part of the full name, never alone: Balinese
/// birth-order names and caste titles, honorifics, academic titles and numeral names that
/// thousands of citizens share, and ordinary words that are also names. Every other word
/// of three or more letters of the complainant's name is masked wherever it stands.
pub const COMMON_NAME_WORDS: &[&str] = &[
    // Balinese birth order, caste titles
    "i", "ni", "luh", "putu", "wayan", "gede", "kadek", "made", "nengah", "nyoman", "komang",
    "ketut", "ida", "bagus", "ayu", "gusti", "anak", "agung", "dewa", "desak", "cokorda", "sang",
    "ngurah", "jero", // honorifics, titles, common prefixes
    "bapak", "pak", "ibu", "bu", "sdr", "sdri", "saudara", "saudari", "tuan", "nyonya", "haji",
    "hajjah", "hj", "raden", "mas", "mbak", "dr", "drs", "dra", "ir", "prof", "st", "se", "sh",
    "mh", "mm", "spd", "skm", "amd", "muhammad", "mohammad", "moh", "muh", "siti", "nur", "abdul",
    "sri", "binti", "bin", // numeral names
    "eka", "dwi", "tri", "catur", "panca", // ordinary words that are also names
    "putra", "putri", "jaya", "indah", "mulia", "baik", "bunga",
];

/// Parts of an address that name a region, not a household: never masked alone.
const REGION_WORDS: &[&str] = &[
    "kabupaten",
    "kab",
    "kota",
    "kecamatan",
    "kec",
    "provinsi",
    "prov",
    "indonesia",
    "bali",
];

/// Words that say what kind of place follows (`Jl.`, `Desa` …).
const PLACE_TYPES: &[&str] = &[
    "jl",
    "jln",
    "jalan",
    "gg",
    "gang",
    "br",
    "banjar",
    "ds",
    "desa",
    "dsn",
    "dusun",
    "kel",
    "kelurahan",
    "perum",
    "perumahan",
    "komplek",
    "kompleks",
    "lingkungan",
    "lingk",
];

/// What a span hides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Email,
    Nik,
    Phone,
    Name,
    Address,
    Handle,
    Recipient,
}

impl Kind {
    fn placeholder(self) -> &'static str {
        match self {
            Kind::Email => MASK_EMAIL,
            Kind::Nik => MASK_NIK,
            Kind::Phone => MASK_PHONE,
            Kind::Name => MASK_NAME,
            Kind::Address => MASK_ADDRESS,
            Kind::Handle => MASK_HANDLE,
            Kind::Recipient => RECIPIENT_PLACEHOLDER,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    kind: Kind,
}

/// A run of ASCII digits at `start..end`.
#[derive(Debug, Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
}

impl Group {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// Characters that may stand between the digit groups of one number.
fn is_sep(c: char) -> bool {
    matches!(
        c,
        ' ' | '.' | '-' | '/' | '(' | ')' | '\u{a0}' | '\u{2010}'..='\u{2013}'
    )
}

/// Digit groups outside `blocked` spans, chained into chunks: two groups belong to one
/// chunk when 1-3 separator characters stand between them.
fn chunks(text: &str, blocked: &[Span]) -> Vec<Vec<Group>> {
    let bytes = text.as_bytes();
    let is_blocked = |i: usize| blocked.iter().any(|s| s.start <= i && i < s.end);
    let mut groups: Vec<Group> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && !is_blocked(i) {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() && !is_blocked(i) {
                i += 1;
            }
            groups.push(Group { start, end: i });
        } else {
            i += 1;
        }
    }
    let mut out: Vec<Vec<Group>> = Vec::new();
    for g in groups {
        let joined = out.last().and_then(|c| c.last()).is_some_and(|prev| {
            let gap = &text[prev.end..g.start];
            let n = gap.chars().count();
            (1..=3).contains(&n) && gap.chars().all(is_sep)
        });
        match out.last_mut() {
            Some(c) if joined => c.push(g),
            _ => out.push(vec![g]),
        }
    }
    out
}

/// The character just before byte `i`.
fn char_before(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

fn digits_of(text: &str, gs: &[Group]) -> String {
    gs.iter().map(|g| &text[g.start..g.end]).collect()
}

/// NIK / KK numbers: any run of consecutive groups with exactly 16 digits.
fn nik_spans(chunk: &[Group], out: &mut Vec<Span>, taken: &mut [bool]) {
    for i in 0..chunk.len() {
        let mut sum = 0;
        for j in i..chunk.len() {
            sum += chunk[j].len();
            if sum == 16 {
                out.push(Span {
                    start: chunk[i].start,
                    end: chunk[j].end,
                    kind: Kind::Nik,
                });
                for t in taken.iter_mut().take(j + 1).skip(i) {
                    *t = true;
                }
            }
            if sum >= 16 {
                break;
            }
        }
    }
}

/// Indonesian phone numbers among the groups not taken by a NIK:
/// `+…` (8-15 digits), `62…` (10-15 digits; the first group at least four digits or
/// followed by a group starting with 8), and `0…` with a non-zero second digit (9-13
/// digits; the first group at least three digits or in parentheses).
fn phone_spans(text: &str, chunk: &[Group], taken: &[bool], out: &mut Vec<Span>) {
    let mut i = 0;
    while i < chunk.len() {
        if taken[i] {
            i += 1;
            continue;
        }
        let g = chunk[i];
        let first = &text[g.start..g.end];
        let before = char_before(text, g.start);
        let range = if before == Some('+') {
            Some((8, 15, g.start - 1))
        } else if first.starts_with("62")
            && (g.len() >= 4
                || chunk
                    .get(i + 1)
                    .is_some_and(|n| text[n.start..].starts_with('8')))
        {
            Some((10, 15, g.start))
        } else if first.starts_with('0')
            && first.as_bytes().get(1).is_some_and(|b| *b != b'0')
            && (g.len() >= 3 || before == Some('('))
        {
            let start = if before == Some('(') {
                g.start - 1
            } else {
                g.start
            };
            Some((9, 13, start))
        } else {
            None
        };
        let Some((min, max, start)) = range else {
            i += 1;
            continue;
        };
        let mut sum = 0;
        let mut last = None;
        for (j, gj) in chunk.iter().enumerate().skip(i) {
            if taken[j] || sum + gj.len() > max {
                break;
            }
            sum += gj.len();
            last = Some(j);
        }
        match last {
            Some(j) if sum >= min => {
                out.push(Span {
                    start,
                    end: chunk[j].end,
                    kind: Kind::Phone,
                });
                i = j + 1;
            }
            _ => i += 1,
        }
    }
}

/// Spans of ticket numbers, which are never masked.
fn ticket_spans(text: &str) -> Vec<Span> {
    TICKET
        .find_iter(text)
        .map(|m| Span {
            start: m.start(),
            end: m.end(),
            kind: Kind::Email, // unused: tickets are protected, not replaced
        })
        .collect()
}

/// Spans of e-mail addresses, NIKs and phone numbers (tickets excluded).
fn generic_spans(text: &str, tickets: &[Span]) -> Vec<Span> {
    let mut out: Vec<Span> = EMAIL
        .find_iter(text)
        .map(|m| Span {
            start: m.start(),
            end: m.end(),
            kind: Kind::Email,
        })
        .collect();
    let mut blocked: Vec<Span> = tickets.to_vec();
    blocked.extend(out.iter().copied());
    for chunk in chunks(text, &blocked) {
        let mut taken = vec![false; chunk.len()];
        nik_spans(&chunk, &mut out, &mut taken);
        phone_spans(text, &chunk, &taken, &mut out);
    }
    out
}

/// Replace `spans` (minus those touching a ticket) in `text`.
fn apply(text: &str, mut spans: Vec<Span>, tickets: &[Span]) -> String {
    spans.retain(|s| {
        !tickets
            .iter()
            .any(|t| s.start < t.end && t.start < s.end && s.kind != Kind::Recipient)
    });
    if spans.is_empty() {
        return text.to_string();
    }
    // A span that cuts a run of digits takes the whole run (outside ticket numbers): the
    // digits left beside a masked value (an e-mail of one digit inside a long number)
    // could otherwise stand as a number of their own, a NIK's sixteen.
    let b = text.as_bytes();
    let free_digit =
        |i: usize| b[i].is_ascii_digit() && !tickets.iter().any(|t| t.start <= i && i < t.end);
    for s in &mut spans {
        if s.start < s.end && b[s.start].is_ascii_digit() {
            while s.start > 0 && free_digit(s.start - 1) {
                s.start -= 1;
            }
        }
        if s.start < s.end && b[s.end - 1].is_ascii_digit() {
            while s.end < b.len() && free_digit(s.end) {
                s.end += 1;
            }
        }
    }
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut merged: Vec<Span> = Vec::new();
    for s in spans {
        match merged.last_mut() {
            Some(m) if s.start < m.end => {
                m.end = m.end.max(s.end);
                // A recipient is named as such, whatever else matched it.
                if s.kind == Kind::Recipient {
                    m.kind = Kind::Recipient;
                }
            }
            _ => merged.push(s),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for s in merged {
        out.push_str(&text[at..s.start]);
        out.push_str(s.kind.placeholder());
        at = s.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Mask e-mail addresses, NIKs and phone numbers in `text`.
pub fn mask_text(text: &str) -> String {
    let tickets = ticket_spans(text);
    let spans = generic_spans(text, &tickets);
    apply(text, spans, &tickets)
}

/// Mask personal data in general and `identity` in particular in `text`.
pub fn mask_for(identity: &Identity, text: &str) -> String {
    IdentityMask::new(identity).apply(text)
}

/// Take `recipient` (an e-mail address, chat id, PSID or WhatsApp number) out of an error
/// text, in any case and, for numbers, in any separator spelling; other personal data in
/// the text (an SMTP server quoting another address) is masked too.
pub fn without_recipient(text: &str, recipient: &str) -> String {
    let recipient = recipient.trim();
    let mut m = IdentityMask::default();
    if !recipient.is_empty() {
        if let Some((local, _)) = recipient.rsplit_once('@') {
            m.literals
                .push((literal(recipient), Kind::Recipient, false));
            if local.chars().count() >= 4 {
                m.literals.push((literal(local), Kind::Recipient, true));
            }
        } else if let Some(d) = numeric(recipient) {
            m.digits.push((d, Kind::Recipient));
        } else {
            m.literals.push((
                literal(recipient.trim_start_matches('@')),
                Kind::Recipient,
                false,
            ));
        }
    }
    m.apply(text)
}

/// The digits of a value made only of digits, `+` and separators, with at least 5 digits.
fn numeric(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || c == '+' || is_sep(c))
    {
        return None;
    }
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    (d.len() >= 5).then_some(d)
}

/// The national significant number of a phone: digits without `+`, `62` or `0`.
fn national_number(phone: &str) -> Option<String> {
    let d: String = phone.chars().filter(char::is_ascii_digit).collect();
    let n = if let Some(r) = d.strip_prefix("62") {
        r.to_string()
    } else if let Some(r) = d.strip_prefix('0') {
        r.to_string()
    } else {
        d
    };
    (n.len() >= 6).then_some(n)
}

/// Words (runs of letters, digits and apostrophes) of a value.
fn words(s: &str) -> Vec<&str> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Words that stand for each other in an address (`Jl.` for `Jalan` …).
const ALIASES: &[&[&str]] = &[
    &["jl", "jln", "jalan"],
    &["gg", "gang"],
    &["no", "nomor", "nomer"],
    &["br", "banjar"],
    &["ds", "desa"],
    &["dsn", "dusun"],
    &["kel", "kelurahan"],
];

fn alias_group(w: &str) -> Option<&'static [&'static str]> {
    let l = w.to_lowercase();
    ALIASES.iter().copied().find(|g| g.contains(&l.as_str()))
}

/// A pattern matching `words` in order, separated by any punctuation or space; triggered
/// by its longest word without aliases (or, if every word has aliases, the first word's
/// group).
fn phrase_regex(ws: &[&str]) -> Option<Pattern> {
    if ws.is_empty() {
        return None;
    }
    let alias = |w: &str| -> String {
        match alias_group(w) {
            Some(g) => format!("(?:{})", g.join("|")),
            None => regex::escape(w),
        }
    };
    let body = ws
        .iter()
        .map(|w| alias(w))
        .collect::<Vec<_>>()
        .join(r"[\s.,_\-/:]*");
    let triggers = match ws
        .iter()
        .filter(|w| alias_group(w).is_none())
        .max_by_key(|w| w.len())
    {
        Some(w) => vec![fold(w)],
        None => alias_group(ws[0])
            .map(|g| g.iter().map(|a| a.to_string()).collect())
            .unwrap_or_default(),
    };
    let words = ws
        .iter()
        .map(|w| match alias_group(w) {
            Some(g) => g.iter().map(|a| a.to_string()).collect(),
            None => vec![w.to_string()],
        })
        .collect();
    Some(Pattern::new(format!("(?i){body}"), words, triggers))
}

/// One pattern of an identity: a sequence of words (each with its alternatives, e.g.
/// `jl|jln|jalan`) separated by any run of `[\s.,_\-/:]`, matched case-insensitively.
///
/// Building a mask is cheap (a month's report builds one per complaint) and applying it
/// compiles nothing in the usual case: when every word is ASCII, the pattern is searched
/// directly in the ASCII-lowercased text (substring search for the first word, then the
/// rest matched in place), which finds exactly what the case-insensitive regex finds. Only
/// a pattern with a non-ASCII word, or a text holding one of the two non-ASCII letters that
/// fold to ASCII ones (`ſ`, the Kelvin sign), goes through the regex, compiled at most once
/// and only when the folded text contains one of `triggers`.
#[derive(Debug, Clone)]
struct Pattern {
    source: String,
    /// The words, lowercased, each with its alternatives in preference order; `None` when
    /// a word is not ASCII (then only the regex is used).
    words: Option<Vec<Vec<String>>>,
    /// Folded (see [`fold`]) words, one of which every match contains; empty: always try.
    triggers: Vec<String>,
    compiled: std::sync::OnceLock<Option<Regex>>,
}

/// Characters that may stand between the words of a phrase.
fn is_phrase_sep(c: char) -> bool {
    c.is_whitespace() || matches!(c, '.' | ',' | '_' | '-' | '/' | ':')
}

impl Pattern {
    fn new(source: String, words: Vec<Vec<String>>, triggers: Vec<String>) -> Self {
        // A trigger that is not plain ASCII could fold differently from the regex's
        // case-insensitive match: such a pattern is always tried.
        let triggers = if triggers.iter().all(|t| !t.is_empty() && t.is_ascii()) {
            triggers
        } else {
            Vec::new()
        };
        let ascii = !words.is_empty()
            && words
                .iter()
                .all(|alts| !alts.is_empty() && alts.iter().all(|a| !a.is_empty() && a.is_ascii()));
        let words = ascii.then(|| {
            words
                .into_iter()
                .map(|alts| alts.into_iter().map(|a| a.to_ascii_lowercase()).collect())
                .collect()
        });
        Pattern {
            source,
            words,
            triggers,
            compiled: std::sync::OnceLock::new(),
        }
    }

    /// The byte spans of the matches in `text`, leftmost first and not overlapping, as the
    /// regex's `find_iter` gives them. `lower` is `text` ASCII-lowercased (same offsets),
    /// `folded` its [`fold`], `exotic` whether it holds `ſ` or the Kelvin sign.
    fn find(&self, text: &str, lower: &str, folded: &str, exotic: bool) -> Vec<(usize, usize)> {
        if let (Some(words), false) = (&self.words, exotic) {
            return self.find_ascii(words, lower);
        }
        if !self.triggers.is_empty() && !self.triggers.iter().any(|t| folded.contains(t)) {
            return Vec::new();
        }
        match self.compiled.get_or_init(|| Regex::new(&self.source).ok()) {
            Some(re) => re.find_iter(text).map(|m| (m.start(), m.end())).collect(),
            None => Vec::new(),
        }
    }

    fn find_ascii(&self, words: &[Vec<String>], lower: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < lower.len() {
            // The next place where one of the first word's alternatives stands.
            let Some(start) = words[0]
                .iter()
                .filter_map(|a| lower[at..].find(a.as_str()).map(|i| at + i))
                .min()
            else {
                break;
            };
            match match_from(words, lower, start) {
                Some(end) => {
                    out.push((start, end));
                    at = end;
                }
                None => {
                    at = start + lower[start..].chars().next().map_or(1, char::len_utf8);
                }
            }
        }
        out
    }
}

/// The end of the phrase `words` matched at `pos` in `lower`, trying each word's
/// alternatives in order (the regex's leftmost-first choice, with backtracking).
fn match_from(words: &[Vec<String>], lower: &str, pos: usize) -> Option<usize> {
    let (first, rest) = words.split_first()?;
    for alt in first {
        if !lower[pos..].starts_with(alt.as_str()) {
            continue;
        }
        let end = pos + alt.len();
        if rest.is_empty() {
            return Some(end);
        }
        // Separators are greedy; no word starts with one, so fewer never match instead.
        let next = lower[end..]
            .char_indices()
            .find(|(_, c)| !is_phrase_sep(*c))
            .map_or(lower.len(), |(i, _)| end + i);
        if let Some(e) = match_from(rest, lower, next) {
            return Some(e);
        }
    }
    None
}

/// The text as the triggers are compared with it: ASCII lowercased, and the two non-ASCII
/// letters whose case fold is ASCII (`ſ` → `s`, the Kelvin sign → `k`) mapped, so a trigger
/// is found wherever the case-insensitive regex could match.
fn fold(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{17f}' => 's',
            '\u{212a}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The case-insensitive pattern of a literal value, triggered by the value itself.
fn literal(s: &str) -> Pattern {
    Pattern::new(
        format!("(?i){}", regex::escape(s)),
        vec![vec![s.to_string()]],
        vec![fold(s)],
    )
}

/// What [`IdentityMask::may_apply`] looks at of a text: its folded form (the triggers of
/// every pattern are folded words) and its digits in a row (a phone number in any
/// separator spelling is a run of them).
#[derive(Debug, Clone)]
pub struct MaskProbe {
    folded: String,
    digits: String,
}

impl MaskProbe {
    /// The probe of `text`.
    pub fn new(text: &str) -> Self {
        MaskProbe {
            folded: fold(text),
            digits: text.chars().filter(char::is_ascii_digit).collect(),
        }
    }
}

/// Masks for the identity of one complaint: cheap to build, each pattern compiled at most
/// once and only for texts that could contain it, applied to many texts.
#[derive(Debug, Default, Clone)]
pub struct IdentityMask {
    /// (pattern, kind, whole word only).
    literals: Vec<(Pattern, Kind, bool)>,
    /// Digit strings to find in any separator spelling.
    digits: Vec<(String, Kind)>,
}

impl IdentityMask {
    /// The masks of `identity` (nothing beyond [`mask_text`] for an empty identity).
    pub fn new(identity: &Identity) -> Self {
        let mut m = IdentityMask::default();
        if let Some(name) = identity.name.as_deref() {
            let ws = words(name);
            if let Some(r) = phrase_regex(&ws) {
                m.literals.push((r, Kind::Name, true));
            }
            for w in ws {
                let lower = w.to_lowercase();
                if w.chars().filter(|c| c.is_alphabetic()).count() >= 3
                    && !COMMON_NAME_WORDS.contains(&lower.as_str())
                {
                    m.literals.push((literal(w), Kind::Name, true));
                }
            }
        }
        if let Some(addr) = identity.address.as_deref() {
            if let Some(r) = phrase_regex(&words(addr)) {
                m.literals.push((r, Kind::Address, true));
            }
            for seg in addr.split([',', ';', '\n']) {
                let ws = words(seg);
                let letters: usize = ws
                    .iter()
                    .map(|w| w.chars().filter(|c| c.is_alphabetic()).count())
                    .sum();
                let region = ws
                    .first()
                    .is_some_and(|w| REGION_WORDS.contains(&w.to_lowercase().as_str()));
                if letters < 5 || region || ws.len() < 2 {
                    continue;
                }
                // The segment as written, and its street or village name without the
                // house number (`Jl. Ngurah Rai` of `Jl. Ngurah Rai No. 12`).
                let core: Vec<&str> = ws
                    .iter()
                    .copied()
                    .take_while(|w| {
                        let l = w.to_lowercase();
                        !matches!(l.as_str(), "no" | "nomor" | "nomer" | "rt" | "rw")
                            && !w.chars().all(|c| c.is_ascii_digit())
                    })
                    .collect();
                let core_letters: usize = core
                    .iter()
                    .map(|w| w.chars().filter(|c| c.is_alphabetic()).count())
                    .sum();
                // …and without its leading `Jl.` / `Desa` / `Banjar` when two words remain.
                let bare: &[&str] = match core.first().map(|w| w.to_lowercase()) {
                    Some(w) if PLACE_TYPES.contains(&w.as_str()) => &core[1..],
                    _ => &[],
                };
                for part in [&ws[..], &core[..], bare] {
                    if part.len() >= 2
                        && (part.len() == ws.len() || core_letters >= 5)
                        && let Some(r) = phrase_regex(part)
                    {
                        m.literals.push((r, Kind::Address, true));
                    }
                }
            }
        }
        if let Some(email) = identity.email.as_deref() {
            m.literals.push((literal(email), Kind::Email, false));
            if let Some((local, _)) = email.rsplit_once('@')
                && local.chars().count() >= 4
            {
                m.literals.push((literal(local), Kind::Email, true));
            }
        }
        if let Some(n) = identity.phone.as_deref().and_then(national_number) {
            m.digits.push((n, Kind::Phone));
        }
        if let Some(h) = identity.handle.as_deref().map(str::trim) {
            if let Some(d) = numeric(h) {
                // A WhatsApp id is a phone number: find it without its country code too.
                if let Some(n) = national_number(&d).filter(|n| *n != d) {
                    m.digits.push((n, Kind::Handle));
                }
                m.digits.push((d, Kind::Handle));
            } else {
                let h = h.trim_start_matches('@');
                if h.chars().count() >= 3 {
                    m.literals.push((literal(h), Kind::Handle, true));
                }
            }
        }
        m
    }

    /// Whether [`apply`](Self::apply) could find anything of this identity in the text
    /// `probe` was made of: a cheap test that lets many identities be checked against one
    /// text (the month's complainants against the Kasi's conclusion). Never `false` where
    /// `apply` would mask something of the identity.
    pub fn may_apply(&self, probe: &MaskProbe) -> bool {
        self.literals.iter().any(|(p, _, _)| {
            p.triggers.is_empty() || p.triggers.iter().any(|t| probe.folded.contains(t.as_str()))
        }) || self
            .digits
            .iter()
            .any(|(d, _)| probe.digits.contains(d.as_str()))
    }

    /// Mask `text`: generic personal data and this identity.
    pub fn apply(&self, text: &str) -> String {
        let tickets = ticket_spans(text);
        let mut spans = generic_spans(text, &tickets);
        let (lower, folded, exotic) = if self.literals.is_empty() {
            (String::new(), String::new(), false)
        } else {
            let exotic = text.contains(['\u{17f}', '\u{212a}']);
            let folded = if exotic { fold(text) } else { String::new() };
            (text.to_ascii_lowercase(), folded, exotic)
        };
        for (pattern, kind, whole_word) in &self.literals {
            // Without `ſ` or the Kelvin sign, the fold is the ASCII lowercase.
            let folded = if exotic { &folded } else { &lower };
            for (start, end) in pattern.find(text, &lower, folded, exotic) {
                if *whole_word {
                    // Names stand between non-letters (`Budi88`, `KTP_Budi`); other
                    // values between non-alphanumerics.
                    let joins = |c: char| match kind {
                        Kind::Name => c.is_alphabetic(),
                        _ => c.is_alphanumeric(),
                    };
                    let before = text[..start].chars().next_back();
                    let after = text[end..].chars().next();
                    if before.is_some_and(joins) || after.is_some_and(joins) {
                        continue;
                    }
                }
                spans.push(Span {
                    start,
                    end,
                    kind: *kind,
                });
            }
        }
        if !self.digits.is_empty() {
            for chunk in chunks(text, &[]) {
                let all = digits_of(text, &chunk);
                for (needle, kind) in &self.digits {
                    for (at, _) in all.match_indices(needle.as_str()) {
                        // Map the digit offsets back to groups.
                        let (mut pos, mut first, mut last) = (0, None, None);
                        for (k, g) in chunk.iter().enumerate() {
                            let end = pos + g.len();
                            if first.is_none() && at < end {
                                first = Some(k);
                            }
                            if first.is_some() && at + needle.len() <= end {
                                last = Some(k);
                                break;
                            }
                            pos = end;
                        }
                        if let (Some(f), Some(l)) = (first, last) {
                            let mut start = chunk[f].start;
                            if matches!(char_before(text, start), Some('+' | '(')) {
                                start -= 1;
                            }
                            spans.push(Span {
                                start,
                                end: chunk[l].end,
                                kind: *kind,
                            });
                        }
                    }
                }
            }
        }
        apply(text, spans, &tickets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident() -> Identity {
        Identity {
            name: Some("Ni Made Sari Wulandari".into()),
            address: Some("Jl. Ngurah Rai No. 12, Desa Panji, Kec. Sukasada".into()),
            email: Some("made.sari88@example.com".into()),
            phone: Some("081234567890".into()),
            handle: Some("5123456789".into()),
        }
    }

    /// The probe is a pre-filter only: where it says no, `apply` masks nothing of the
    /// identity (the result equals the generic mask); where the identity is in the text,
    /// it says yes.
    #[test]
    fn may_apply_never_hides_what_apply_would_mask() {
        let others = Identity {
            name: Some("Ketut Budiarta".into()),
            email: Some("budi.arta@mail.example".into()),
            phone: Some("+62 812-9999-0001".into()),
            address: None,
            handle: Some("@budiarta_bll".into()),
        };
        let texts = [
            "Penyebab: Ibu Wulandari datang tanpa KK asli",
            "pelapor SARI WULANDARI dari desa panji",
            "hubungi 0812 3456 7890 atau 0812-9999-0001",
            "alamat jl. ngurah rai no 12",
            "surel made.sari88@example.com, akun @budiarta_bll",
            "Kesimpulan: antrean KTP-el terlalu panjang",
            "nomor 5123456789 di WhatsApp",
            "Kaſus Budiarta",
            "",
        ];
        for id in [ident(), others] {
            let m = IdentityMask::new(&id);
            for t in texts {
                let touched = m.apply(t) != mask_text(t);
                let may = m.may_apply(&MaskProbe::new(t));
                assert!(
                    may || !touched,
                    "{t:?}: masked by {id:?} but the probe said no"
                );
            }
        }
        let m = IdentityMask::new(&ident());
        assert!(m.may_apply(&MaskProbe::new("Ibu Wulandari")));
        assert!(m.may_apply(&MaskProbe::new("0812 3456 7890")));
        assert!(!m.may_apply(&MaskProbe::new("antrean KTP-el terlalu panjang")));
    }

    #[test]
    fn the_direct_search_finds_exactly_what_the_regex_finds() {
        // Texts from a small alphabet of case variants, aliases, separators and non-ASCII
        // letters, searched for phrases and literals both ways.
        let pieces = [
            "Jl", "jln", "JALAN", "ngurah", "NGURAH", "Rai", "rai", "no", "Nomor", "12", " ", ". ",
            ",", "_", "-", "/", ":", "\u{a0}", "\t", "x", "é", "Ö", "'", "sari", "SARI", "desa",
            "Ds", "panji", "Br", "banjar", "gg", "Gang",
        ];
        let phrases: Vec<(Pattern, Regex)> = [
            vec!["Jl", "Ngurah", "Rai"],
            vec!["Jl", "Ngurah", "Rai", "No", "12"],
            vec!["Desa", "Panji"],
            vec!["Gg", "Banjar"],
            vec!["sari"],
        ]
        .iter()
        .map(|ws| phrase_regex(ws).unwrap())
        .chain([literal("Sari"), literal("ngurah rai"), literal("x'")])
        .map(|p| {
            let re = Regex::new(&p.source).unwrap();
            (p, re)
        })
        .collect();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let n = (next() % 14) as usize;
            let text: String = (0..n)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let lower = text.to_ascii_lowercase();
            for (p, re) in &phrases {
                let words = p.words.as_ref().expect("ASCII pattern");
                let want: Vec<(usize, usize)> =
                    re.find_iter(&text).map(|m| (m.start(), m.end())).collect();
                assert_eq!(
                    p.find_ascii(words, &lower),
                    want,
                    "{:?} in {text:?}",
                    p.source
                );
            }
        }
    }

    #[test]
    fn lazy_patterns_compile_only_for_texts_that_could_match() {
        let m = IdentityMask::new(&ident());
        let plain = "KTP-el saya belum jadi sejak bulan lalu, mohon dibantu.";
        assert_eq!(m.apply(plain), plain);
        assert!(
            m.literals
                .iter()
                .all(|(p, _, _)| p.compiled.get().is_none()),
            "a text without any identity word compiled a pattern"
        );
        // Case-insensitive spellings that fold to the trigger are still found: the long s
        // and the Kelvin sign fold to ASCII letters in the regex's case-insensitive match.
        for t in [
            "WULANDARI datang ke kantor",
            "wulandari datang",
            "\u{17f}ari pesan",
            "Jalan Ngurah Rai nomor 12 rumah saya",
            "NGURAH RAI no 12",
        ] {
            let out = m.apply(t);
            assert!(out.contains('['), "{t} → {out}");
        }
        let k = Identity {
            name: Some("Ketut Kusuma".into()),
            ..Identity::default()
        };
        let out = IdentityMask::new(&k).apply("pak \u{212a}usuma sudah datang");
        assert!(out.contains(MASK_NAME), "{out}");
        // An address made only of words with aliases still triggers on any of them.
        let a = Identity {
            address: Some("Gang Banjar".into()),
            ..Identity::default()
        };
        let out = IdentityMask::new(&a).apply("rumah di gg. br sebelah pura");
        assert!(out.contains(MASK_ADDRESS), "{out}");
    }

    #[test]
    fn masks_emails_phones_and_niks() {
        let t = "Saya Budi, email budi.santoso@gmail.com, HP 0812-3456-7890 atau +62 812 3456 7890, NIK 5108012345678901.";
        let m = mask_text(t);
        assert!(!m.contains("budi.santoso"), "{m}");
        assert!(!m.contains("3456"), "{m}");
        assert!(!m.contains("5108012345678901"), "{m}");
        assert!(
            m.contains(MASK_EMAIL) && m.contains(MASK_PHONE) && m.contains(MASK_NIK),
            "{m}"
        );
        assert!(m.starts_with("Saya Budi"));
    }

    #[test]
    fn masks_numbers_glued_to_words_and_grouped_by_slashes() {
        for (t, leak) in [
            ("NIK5108014502900001 mohon dicek", "5108014502900001"),
            ("file KTP_5108014502900001.jpg", "5108014502900001"),
            ("nik:5108.0145.0290.0001", "0290"),
            ("NIK 5108/0145/0690/0005 ya", "0690"),
            ("NIK 510801 450290 0001", "450290"),
            ("KK-5108-0145-0690-0005", "0690"),
            ("HP0812-3456-7890", "3456"),
            ("WA:+6281234567890", "81234567890"),
            ("hubungi (0362) 21234 kantor desa", "21234"),
            ("telp 62 812 3456 7890", "3456"),
            ("nomor_081234567890_aktif", "234567890"),
        ] {
            let m = mask_text(t);
            assert!(!m.contains(leak), "{t} → {m}");
        }
    }

    #[test]
    fn never_masks_ticket_numbers() {
        for t in [
            "Pengaduan ADU-202611-0001 sudah diterima",
            "Re: [ADU-202603-0012] KTP",
            "nomor tiket adu-202612-12345.",
            "tiket ADU-202611-0001, ADU-202611-0002 dan ADU-202611-0003",
        ] {
            assert_eq!(mask_text(t), t);
        }
        let m = mask_text("Tiket ADU-202611-0001 dari 081234567890");
        assert_eq!(m, format!("Tiket ADU-202611-0001 dari {MASK_PHONE}"));
    }

    #[test]
    fn leaves_ordinary_numbers_alone() {
        for t in [
            "Antrian nomor 12 pada 3 Maret 2026 jam 10.30, biaya Rp 50.000",
            "tanggal 08-03-2026 pukul 10.30",
            "tanggal 08/03/2026 10.30 loket 3",
            "Rp 1.500.000 untuk 2025/2026",
            "antrian A-012, loket 05",
            "sudah 120 hari, 2 kali datang",
        ] {
            assert_eq!(mask_text(t), t);
        }
    }

    #[test]
    fn masks_the_complaints_own_identity() {
        let id = ident();
        let t = "Saya NI MADE SARI WULANDARI, tinggal di jalan Ngurah Rai no 12, desa panji. \
                 Wulandari bisa dihubungi di 812 3456 7890 atau made.sari88 di Telegram 5123456789. \
                 Tiket ADU-202611-0001, antrian 12.";
        let m = mask_for(&id, t);
        for leak in [
            "WULANDARI",
            "Wulandari",
            "Ngurah Rai",
            "panji",
            "3456",
            "made.sari88",
            "5123456789",
        ] {
            assert!(!m.contains(leak), "{leak}: {m}");
        }
        assert!(
            m.contains("ADU-202611-0001") && m.contains("antrian 12"),
            "{m}"
        );
        assert!(m.contains(MASK_NAME) && m.contains(MASK_ADDRESS), "{m}");
        // Common words of the name stay when they stand alone.
        let m = mask_for(&id, "Pak Made dari bagian arsip");
        assert_eq!(m, "Pak Made dari bagian arsip");
        // Words that merely contain a name word stay.
        let id = Identity {
            name: Some("Budi Ani".into()),
            ..Default::default()
        };
        assert_eq!(mask_for(&id, "Budiman dan Aninda"), "Budiman dan Aninda");
        assert_eq!(
            mask_for(&id, "foto_Budi_Ani.jpg"),
            format!("foto_{MASK_NAME}.jpg")
        );
    }

    #[test]
    fn takes_the_recipient_out_of_error_texts() {
        let e =
            "permanent error (550): 5.1.1 <Made.Sari88@Example.com>: Recipient address rejected";
        let m = without_recipient(e, "made.sari88@example.com");
        assert!(!m.to_lowercase().contains("made.sari88"), "{m}");
        assert!(
            m.contains(RECIPIENT_PLACEHOLDER) && m.contains("550"),
            "{m}"
        );
        let m = without_recipient(
            "Forbidden: bot was blocked by chat 5123456789",
            "5123456789",
        );
        assert!(!m.contains("5123456789"), "{m}");
        let m = without_recipient("no such user psid_abc", "psid_abc");
        assert!(!m.contains("psid_abc"), "{m}");
    }
}
