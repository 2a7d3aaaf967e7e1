//! The month's most frequent problems, from an Indonesian-aware reading of the complaint
//! texts.
//!
//! Each complaint's text goes through these steps, in one pass and without a regular
//! expression of its own (the identity mask compiles only what the identity needs):
//!
//! 1. **Masking.** The complainant's own identity is masked out first
//!    ([`IdentityMask`]), then the mask's placeholders are taken out whole: they end a
//!    phrase (no term is made across them) and are never words of a term.
//! 2. **Words.** Lowercase; split on anything but letters, digits and in-word hyphens;
//!    sentence ends (`.` `!` `?` `;` a new line) end a phrase too. A token with a digit is
//!    dropped (dates, queue numbers, what is left of an identifier), and so is a one-letter
//!    word once the spellings below have been looked up (`e ktp`). A hyphenated word that is
//!    no known spelling is split (`ktp-nya` → `ktp nya`), a doubled one read once
//!    (`berkas-berkas` → `berkas`).
//! 3. **Spellings and abbreviations.** Multi-word spellings of one topic become one
//!    canonical key with a fixed label, longest spelling first, before stop words and
//!    stemming: `ktp-el`, `ktp el`, `e-ktp`, `ktp elektronik`, `kartu tanda penduduk` → one
//!    key shown as "KTP-el"; `kartu keluarga` → "KK"; `akte lahir` → "akta kelahiran"; and
//!    KIA, akta kematian/perkawinan/perceraian, surat pindah (SKPWNI), IKD, online, antrean
//!    and blangko. A spelling may carry `-nya`/`-ku`/`-mu` (`ktpnya`). Chat abbreviations
//!    are rewritten to their words (`blm` → `belum`, `gak` → `tidak`, `yg` → `yang` …).
//! 4. **Stop words.** Function words, pronouns and forms of address, greetings and
//!    politeness (`selamat pagi`, `mohon`, `terima kasih`, `admin`, `kak`, `min`), time
//!    words, chat particles, the words around a masked number (`no`, `hp`, `wa`) and the
//!    placeholders' words. Some stems are stop words in every form: asking, reporting,
//!    complaining, helping and contacting (`bantuannya`, `hubungi`, `menanyakan`,
//!    `pengaduan`), so "bantuannya hubungi" or "KTP-el hubungi" is never a term. The
//!    office's own name (`dukcapil`, `disdukcapil` …) is recognised in any spelling and
//!    dropped: every complaint is addressed to it.
//! 5. **Negation.** `tidak`, `belum` and `bukan` are not dropped: they make one key with
//!    the word they deny (an optional modal `bisa`/`dapat`/`boleh`/`mau` kept, fillers such
//!    as `juga`/`kunjung` skipped), so "KTP-el belum jadi", "KTP elektronik belum juga
//!    jadi" and "e-KTP blm jadi" are one problem. A denied word counts even when it is a
//!    stop stem alone (`tidak bisa dihubungi`).
//! 6. **Stemming** ([`stem`]): a conservative affix stemmer in the manner of
//!    Nazief–Adriani and its ECS refinement, written for this desk. Particles
//!    (`-lah -kah -tah -pun`), possessives (`-nya`; `-ku -mu` only when six letters remain),
//!    derivational suffixes (`-kan -an -i`; `-i` not after a vowel or `s`: `nilai`,
//!    `informasi`), then up to three prefixes: `di- ter- ber-/be- me- pe- per-` with the
//!    nasal recoding (`meny-`/`peny-` + vowel → `s`, `mem-`/`pem-` + vowel → `p`,
//!    `men-`/`pen-` + vowel → `t`, `meng-`/`peng-` + vowel → the vowel or `k`), `ke-` only
//!    with `-an` (`kelahiran`) and `se-` only with `-nya` (`secepatnya`). A root keeps at
//!    least **four letters** (so `terbit`, `bersih`, `berkas`, `dinas` stay whole) unless
//!    it is one of the few known three-letter roots (`cek`, `adu`, `isi`). A small lexicon of
//!    known roots and terms stops stemming (`masalah` keeps its `-lah`, `kependudukan`
//!    and `keluarga` stay whole) and settles ambiguous readings (`mengurus` → `urus`,
//!    `mengirim` → `kirim`, `meminta` → `minta`, `perekaman` → `rekam`, `perubahan` →
//!    `ubah`). Canonical keys are never stemmed. The key is the stem; the label is the most
//!    frequent unstemmed form seen (`pelayanan`, not `layan`).
//!
//! **NIK** is a canonical key that is never a term alone, only in a phrase (`NIK ganda`,
//! `NIK tidak terdaftar`): citizens write "NIK saya …" to identify themselves far more
//! often than to complain about the number. A NIK, KK, KTP-el or KIA word directly before
//! a masked number (`NIK: 5108…`, `No. KK 5108…`) labels that number and is not counted.
//!
//! **Terms** of a complaint are its keys and its adjacent pairs of keys within a phrase,
//! each counted once per complaint, with the complaint's category, bidang and target. No
//! name becomes a term: the words of every complainant's name are collected and a term
//! whose label holds one is dropped at the end (variants holding one are left out).
//!
//! **When.** Steps 1–6 run once per complaint, when it is received ([`analyse`]); the
//! result (the key occurrences, the masked target, the name's words and the contact's
//! digest) is stored sealed with the complaint. The month's report then counts without
//! masking or tokenising ([`frequent`]): a first pass tallies every term by hash, a second
//! counts labels, spellings, examples and groups for the most frequent terms only. A
//! complaint stored without an analysis, or with one of an older lexicon, is analysed from
//! its text when the month is counted.

mod lexicon;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::mask::{
    IdentityMask, MASK_ADDRESS, MASK_EMAIL, MASK_HANDLE, MASK_NAME, MASK_NIK, MASK_PHONE,
    RECIPIENT_PLACEHOLDER,
};
use crate::model::{ComplaintRecord, Identity};
use crate::types::{BidangCode, Category, Channel};
use lexicon::{CANONICAL, Canonical};

/// One frequent problem of a month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// Display label, e.g. "KTP-el belum jadi".
    pub term: String,
    /// Complaints of the month mentioning it.
    pub count: usize,
    /// Up to three tickets, in receipt order.
    pub examples: Vec<String>,
    /// Complaints of the previous month mentioning it (0 when none or not counted).
    #[serde(default)]
    pub previous_count: usize,
    /// count - previous_count.
    #[serde(default)]
    pub change: i64,
    /// Where it comes from: up to 3 (value, complaints) pairs each, most first; the value is
    /// the stored code (category as_str, bidang code, target text trimmed) or "—" for none.
    #[serde(default)]
    pub categories: Vec<(String, usize)>,
    #[serde(default)]
    pub bidang: Vec<(String, usize)>,
    #[serde(default)]
    pub targets: Vec<(String, usize)>,
    /// Other spellings seen for it (at most 5), for the Kasi to recognise it.
    #[serde(default)]
    pub variants: Vec<String>,
}

/// The value shown for a complaint without a category, bidang or target.
pub const NONE_VALUE: &str = "—";

/// The shortest root the stemmer leaves (shorter only for a known root).
pub const MIN_ROOT: usize = 4;

/// Examples kept per term.
const EXAMPLES: usize = 3;
/// Values shown per grouping.
const GROUPS: usize = 3;
/// Variants shown per problem.
const VARIANTS: usize = 5;
/// Spellings remembered per key.
const SPELLINGS_KEPT: usize = 8;
/// Marks a single-key term in the term table.
const SINGLE: u32 = u32::MAX;

/// The word lists, indexed once.
struct Lexicon {
    /// First token of a spelling → (its tokens, canonical index), longest first.
    spellings: HashMap<&'static str, Vec<(Vec<&'static str>, usize)>>,
    /// Hyphenated tokens of spellings (`ktp-el`, `e-ktp`): looked up whole, not split.
    hyphenated: HashSet<&'static str>,
    abbreviations: HashMap<&'static str, &'static str>,
    stop: HashSet<&'static str>,
    stop_stems: HashSet<&'static str>,
    known: HashSet<&'static str>,
    negators: HashSet<&'static str>,
    fillers: HashSet<&'static str>,
    modals: HashSet<&'static str>,
    negation_heads: HashSet<&'static str>,
    /// The mask's placeholders, lowercased, with whether it hides a NIK / KK number.
    placeholders: Vec<(String, bool)>,
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| {
    let mut spellings: HashMap<&'static str, Vec<(Vec<&'static str>, usize)>> = HashMap::new();
    let mut hyphenated = HashSet::new();
    for (i, c) in CANONICAL.iter().enumerate() {
        for s in c.spellings {
            let toks: Vec<&'static str> = s.split(' ').collect();
            hyphenated.extend(toks.iter().copied().filter(|t| t.contains('-')));
            spellings.entry(toks[0]).or_default().push((toks, i));
        }
    }
    for v in spellings.values_mut() {
        v.sort_by_key(|(toks, _)| std::cmp::Reverse(toks.len()));
    }
    let set = |l: &[&'static str]| l.iter().copied().collect::<HashSet<_>>();
    let placeholders = [
        MASK_EMAIL,
        MASK_NIK,
        MASK_PHONE,
        MASK_NAME,
        MASK_ADDRESS,
        MASK_HANDLE,
        RECIPIENT_PLACEHOLDER,
    ]
    .iter()
    .map(|p| (p.to_lowercase(), *p == MASK_NIK))
    .collect();
    Lexicon {
        spellings,
        hyphenated,
        abbreviations: lexicon::ABBREVIATIONS.iter().copied().collect(),
        stop: set(lexicon::STOP_WORDS),
        stop_stems: set(lexicon::STOP_STEMS),
        known: set(lexicon::KNOWN_ROOTS),
        negators: set(lexicon::NEGATORS),
        fillers: set(lexicon::NEGATION_FILLERS),
        modals: set(lexicon::MODALS),
        negation_heads: set(lexicon::NEGATION_HEADS),
        placeholders,
    }
});

// ---------------------------------------------------------------------------------------
// Stemming
// ---------------------------------------------------------------------------------------

fn is_vowel(c: u8) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// What the suffixes of the whole word allow among the prefixes.
#[derive(Clone, Copy)]
struct Confix {
    /// The word ends in `-an` (`ke-…-an`).
    an: bool,
    /// The word ends in `-nya` (`se-…-nya`).
    nya: bool,
}

impl Lexicon {
    fn known(&self, w: &str) -> bool {
        self.known.contains(w)
    }

    /// A cut leaving `rest` is allowed.
    fn root_ok(&self, rest: &str) -> bool {
        (rest.len() >= MIN_ROOT || self.known(rest)) && rest.bytes().any(is_vowel)
    }

    /// `w` without its particle and possessive, when the rest may stand.
    fn strip_inflection<'w>(&self, w: &'w str, forms: &mut Vec<&'w str>) -> &'w str {
        let mut cur = w;
        for p in ["lah", "kah", "tah", "pun"] {
            if let Some(rest) = cur.strip_suffix(p)
                && self.root_ok(rest)
            {
                cur = rest;
                forms.push(cur);
                break;
            }
        }
        if let Some(rest) = cur.strip_suffix("nya")
            && self.root_ok(rest)
        {
            cur = rest;
            forms.push(cur);
        } else if let Some(rest) = cur.strip_suffix("ku").or_else(|| cur.strip_suffix("mu"))
            && rest.len() >= 6
        {
            cur = rest;
            forms.push(cur);
        }
        cur
    }

    /// The readings of `w` without one prefix, most likely first (each leaves a root that
    /// may stand).
    fn prefix_readings(&self, w: &str, confix: Confix) -> Vec<String> {
        let b = w.as_bytes();
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        let rest = |n: usize| w[n..].to_string();
        let recode = |c: char, n: usize| format!("{c}{}", &w[n..]);
        let mut out: Vec<String> = Vec::new();
        // be- before a syllable in -er- (`bekerja`).
        let be =
            w.starts_with("be") && !is_vowel(at(2)) && at(2) != b'r' && w.get(3..5) == Some("er");
        if w.starts_with("di")
            || (w.starts_with("ke") && confix.an)
            || (w.starts_with("se") && confix.nya)
            || be
        {
            out.push(rest(2));
        } else if w.starts_with("ter") || w.starts_with("ber") {
            out.push(rest(3));
        } else if w.starts_with("me") || w.starts_with("pe") {
            let n3 = at(2);
            let n4 = at(3);
            let n5 = at(4);
            match (n3, n4) {
                (b'n', b'y') if is_vowel(n5) => out.push(recode('s', 4)),
                (b'n', b'g') if is_vowel(n5) => {
                    out.push(rest(4));
                    out.push(recode('k', 4));
                    if n5 == b'e' {
                        // menge-/penge- before a one-syllable root (`mengecek`).
                        out.push(rest(5));
                    }
                }
                (b'n', b'g') if matches!(n5, b'g' | b'h' | b'k' | b'q') => out.push(rest(4)),
                (b'n', b'c' | b'd' | b'j' | b'z' | b's') => out.push(rest(3)),
                (b'n', c) if is_vowel(c) => {
                    out.push(recode('t', 3));
                    out.push(rest(2));
                }
                (b'm', b'b' | b'f' | b'v' | b'p') => out.push(rest(3)),
                (b'm', c) if is_vowel(c) => {
                    out.push(recode('p', 3));
                    out.push(rest(2));
                }
                (c, v) if b[0] == b'm' && matches!(c, b'l' | b'r' | b'w' | b'y') && is_vowel(v) => {
                    out.push(rest(2))
                }
                (b'r', c) if b[0] == b'p' && is_vowel(c) => {
                    // pe-r… or per-…: `perekaman` (rekam), `perubahan` (ubah).
                    out.push(rest(2));
                    out.push(rest(3));
                }
                (b'r', _) if b[0] == b'p' => out.push(rest(3)),
                (c, v) if b[0] == b'p' && !is_vowel(c) && c != b'n' && c != b'm' && is_vowel(v) => {
                    out.push(rest(2))
                }
                _ => {}
            }
        } else if w.starts_with("nge") && !is_vowel(at(3)) {
            // Colloquial nge-/ng- (`ngecek`, `ngurus`): only onto a known root.
            out.push(rest(3));
        } else if w.starts_with("ng") && is_vowel(at(2)) {
            out.push(rest(2));
        }
        let colloquial = w.starts_with("ng");
        out.retain(|r| {
            if colloquial {
                self.known(r)
            } else {
                self.root_ok(r)
            }
        });
        out
    }

    /// `w` without its prefixes (at most three), stopping at a known root.
    fn strip_prefixes(&self, w: &str, confix: Confix) -> String {
        let mut cur = w.to_string();
        for _ in 0..3 {
            if self.known(&cur) {
                break;
            }
            let readings = self.prefix_readings(&cur, confix);
            let Some(next) = readings.iter().find(|r| self.known(r)).or(readings.first()) else {
                break;
            };
            cur = next.clone();
        }
        cur
    }

    /// The stem of one lowercase word (see [`stem`]).
    fn stem(&self, w: &str) -> String {
        if !w.bytes().all(|c| c.is_ascii_lowercase()) || self.known(w) {
            return w.to_string();
        }
        let confix = Confix {
            an: w.ends_with("an"),
            nya: w.ends_with("nya"),
        };
        // The word with its suffixes cut one by one, least cut first.
        let mut forms: Vec<&str> = vec![w];
        let cur = self.strip_inflection(w, &mut forms);
        let mut alternative = None;
        if let Some(rest) = cur.strip_suffix("kan")
            && self.root_ok(rest)
        {
            forms.push(rest);
            // …or the root ends in -k (`tindakan` → tindak, `perbaikan` → baik).
            alternative = cur.strip_suffix("an");
        } else if let Some(rest) = cur.strip_suffix("an")
            && self.root_ok(rest)
        {
            forms.push(rest);
        } else if let Some(rest) = cur.strip_suffix('i')
            && rest
                .bytes()
                .last()
                .is_some_and(|c| !is_vowel(c) && c != b's')
            && self.root_ok(rest)
        {
            forms.push(rest);
        }
        // A reading that ends on a known root wins.
        for f in forms.iter().copied().chain(alternative) {
            if self.known(f) {
                return f.to_string();
            }
            let p = self.strip_prefixes(f, confix);
            if self.known(&p) {
                return p;
            }
        }
        let last = forms.last().copied().unwrap_or(w);
        self.strip_prefixes(last, confix)
    }
}

/// The stem of a lowercase Indonesian word, as the problem count keys it: `pelayanan`,
/// `dilayani`, `melayani` → `layan`; `pendaftaran`, `terdaftar` → `daftar`. Words with
/// anything but ASCII letters are returned as they are.
pub fn stem(word: &str) -> String {
    LEXICON.stem(word)
}

// ---------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------

/// A piece of masked, lowercased text.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Raw<'a> {
    Word(&'a str),
    /// A sentence end or a placeholder: no phrase crosses it.
    Break,
    /// The placeholder of a NIK / KK number.
    Number,
}

/// Split lowercased, masked text into words, breaks and masked numbers.
fn raw_tokens<'a>(lex: &Lexicon, text: &'a str, out: &mut Vec<Raw<'a>>) {
    let push_break = |out: &mut Vec<Raw<'a>>, r: Raw<'a>| {
        if r == Raw::Number || out.last().is_some_and(|l| *l != Raw::Break) {
            out.push(r);
        }
    };
    let push_word = |out: &mut Vec<Raw<'a>>, w: &'a str| {
        let mut w = w.trim_matches('-');
        // Chat reduplication: `jadi2` is `jadi-jadi`, read once.
        if let Some(r) = w.strip_suffix('2')
            && r.len() >= 2
            && r.chars().all(char::is_alphabetic)
        {
            w = r;
        }
        if w.is_empty() || w.bytes().any(|c| c.is_ascii_digit()) {
            return;
        }
        if !w.contains('-') || lex.hyphenated.contains(w) {
            out.push(Raw::Word(w));
            return;
        }
        // Split an unknown hyphenated word; a doubled one (`berkas-berkas`) once.
        let mut prev = "";
        for part in w.split('-').filter(|p| !p.is_empty()) {
            if part != prev {
                out.push(Raw::Word(part));
            }
            prev = part;
        }
    };
    let mut start: Option<usize> = None;
    let mut skip_to = 0;
    for (i, c) in text.char_indices() {
        if i < skip_to {
            continue;
        }
        if c.is_alphanumeric() || c == '-' {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            push_word(out, &text[s..i]);
        }
        if c == '['
            && let Some((p, nik)) = lex
                .placeholders
                .iter()
                .find(|(p, _)| text[i..].starts_with(p.as_str()))
        {
            skip_to = i + p.len();
            push_break(out, if *nik { Raw::Number } else { Raw::Break });
        } else if matches!(c, '.' | '!' | '?' | ';' | '\n') {
            push_break(out, Raw::Break);
        }
    }
    if let Some(s) = start {
        push_word(out, &text[s..]);
    }
}

/// `w` without a possessive (`ktpnya` → `ktp`).
fn without_possessive(w: &str) -> Option<&str> {
    ["nya", "ku", "mu"]
        .into_iter()
        .find_map(|s| w.strip_suffix(s))
        .filter(|r| r.len() >= 2)
}

/// A token after the spellings are looked up.
#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    /// A canonical topic and the spelling it was written in.
    Canon(usize, String),
    /// A word as written and after its abbreviation is rewritten.
    Word(&'a str, &'a str),
    Break,
    Number,
}

fn canonical_tokens<'a>(lex: &Lexicon, raw: &[Raw<'a>], out: &mut Vec<Tok<'a>>) {
    let mut i = 0;
    while i < raw.len() {
        let w = match raw[i] {
            Raw::Word(w) => w,
            Raw::Break => {
                out.push(Tok::Break);
                i += 1;
                continue;
            }
            Raw::Number => {
                out.push(Tok::Number);
                i += 1;
                continue;
            }
        };
        let word_at = |k: usize| match raw.get(k) {
            Some(Raw::Word(w)) => Some(*w),
            _ => None,
        };
        let matches = |toks: &[&str]| {
            toks.iter().enumerate().all(|(k, t)| {
                word_at(i + k).is_some_and(|w| {
                    w == *t || (k + 1 == toks.len() && without_possessive(w) == Some(*t))
                })
            })
        };
        let first = if lex.spellings.contains_key(w) {
            Some(w)
        } else {
            without_possessive(w).filter(|r| lex.spellings.contains_key(r))
        };
        let found = first.and_then(|f| {
            lex.spellings[f]
                .iter()
                .find(|(toks, _)| (f == w || toks.len() == 1) && matches(toks))
        });
        if let Some((toks, c)) = found {
            let n = toks.len();
            let spelled = raw[i..i + n]
                .iter()
                .filter_map(|r| match r {
                    Raw::Word(w) => Some(*w),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(" ");
            out.push(Tok::Canon(*c, spelled));
            i += n;
            continue;
        }
        if w.chars().count() >= 2 {
            out.push(Tok::Word(w, lex.abbreviations.get(w).copied().unwrap_or(w)));
        }
        i += 1;
    }
}

/// One key occurrence of a complaint.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Key {
        /// The key as counted (a stem, a negation, or `=` and a canonical key).
        key: String,
        /// The words as shown (unstemmed, abbreviations rewritten).
        shown: String,
        /// The words as written.
        written: String,
        phrase_only: bool,
    },
    Break,
}

/// Key of a canonical topic.
fn canon_key(c: &Canonical) -> String {
    format!("={}", c.key)
}

impl Lexicon {
    fn is_stop(&self, word: &str) -> bool {
        if self.stop.contains(word) {
            return true;
        }
        let mut forms = Vec::new();
        let bare = self.strip_inflection(word, &mut forms);
        bare != word && self.stop.contains(bare)
    }

    /// A word as a label shows it: unstemmed, without its particle or possessive
    /// (`pelayanannya` → `pelayanan`).
    fn shown(&self, word: &str) -> String {
        self.strip_inflection(word, &mut Vec::new()).to_string()
    }

    /// The keys of a complaint's tokens.
    fn items(&self, toks: &[Tok<'_>], out: &mut Vec<Item>) {
        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                Tok::Break | Tok::Number => {
                    if !matches!(out.last(), Some(Item::Break) | None) {
                        out.push(Item::Break);
                    }
                    i += 1;
                }
                Tok::Canon(c, spelled) => {
                    let canon = &CANONICAL[*c];
                    if !(canon.stop || canon.labels_number && self.labels_number(toks, i)) {
                        out.push(Item::Key {
                            key: canon_key(canon),
                            shown: canon.label.to_string(),
                            written: spelled.clone(),
                            phrase_only: canon.phrase_only,
                        });
                    }
                    i += 1;
                }
                Tok::Word(written, word) => {
                    if self.negators.contains(word) {
                        i = self.negation(toks, i, out);
                        continue;
                    }
                    i += 1;
                    if self.is_stop(word) {
                        continue;
                    }
                    let key = self.stem(word);
                    if self.stop_stems.contains(key.as_str()) {
                        continue;
                    }
                    out.push(Item::Key {
                        key,
                        shown: self.shown(word),
                        written: (*written).to_string(),
                        phrase_only: false,
                    });
                }
            }
        }
    }

    /// Whether the canonical document at `i` labels a masked number after it (through
    /// other such documents and `no`/`nomor`/`saya`).
    fn labels_number(&self, toks: &[Tok<'_>], i: usize) -> bool {
        for t in &toks[i + 1..] {
            match t {
                Tok::Number => return true,
                Tok::Canon(c, _) if CANONICAL[*c].labels_number => {}
                Tok::Word(_, w) if matches!(*w, "no" | "nomor" | "nomer" | "saya") => {}
                _ => return false,
            }
        }
        false
    }

    /// The negation starting at `i` as one key; returns the index after it.
    fn negation(&self, toks: &[Tok<'_>], i: usize, out: &mut Vec<Item>) -> usize {
        let Tok::Word(neg_written, neg) = toks[i] else {
            return i + 1;
        };
        let (mut key, mut shown, mut written) =
            (neg.to_string(), neg.to_string(), neg_written.to_string());
        let mut j = i + 1;
        let mut modal = false;
        while let Some(Tok::Word(ww, w)) = toks.get(j) {
            if self.fillers.contains(w) {
                j += 1;
                continue;
            }
            let is_modal = !modal && self.modals.contains(w);
            let head = !is_modal
                && !self.negators.contains(w)
                && (!self.is_stop(w) || self.negation_heads.contains(w));
            if !is_modal && !head {
                break;
            }
            for s in [&mut key, &mut shown, &mut written] {
                s.push(' ');
            }
            if is_modal {
                key.push_str(w);
            } else {
                key.push_str(&self.stem(w));
            }
            shown.push_str(&self.shown(w));
            written.push_str(ww);
            j += 1;
            if is_modal {
                modal = true;
                continue;
            }
            out.push(Item::Key {
                key,
                shown,
                written,
                phrase_only: false,
            });
            return j;
        }
        if modal {
            out.push(Item::Key {
                key,
                shown,
                written,
                phrase_only: false,
            });
        }
        j.max(i + 1)
    }
}

// ---------------------------------------------------------------------------------------
// Counting
// ---------------------------------------------------------------------------------------

/// What is known of one key.
#[derive(Default)]
struct KeyInfo {
    text: String,
    /// [`key_hash`] of `text`.
    hash: u64,
    canon: Option<usize>,
    /// Unstemmed forms → occurrences (the label is the most frequent).
    shown: HashMap<String, usize>,
    /// Spellings as written, first seen first.
    written: Vec<String>,
}

/// Counts of one term.
#[derive(Default)]
struct TermStats {
    count: usize,
    examples: Vec<String>,
    categories: Vec<(u32, usize)>,
    bidang: Vec<(u32, usize)>,
    targets: Vec<(u32, usize)>,
}

/// Add `n` to the count of value `id`.
fn bump(v: &mut Vec<(u32, usize)>, id: u32, n: usize) {
    match v.iter_mut().find(|(k, _)| *k == id) {
        Some(e) => e.1 += n,
        None => v.push((id, n)),
    }
}

/// The frequent-problem count, in one pass over a month (complaints in receipt order):
/// for each term the complaints mentioning it, the first three tickets and where they
/// come from. Memory grows with the vocabulary (and the category, bidang and target
/// values met with each term), not with the number of complaints.
///
/// See the [module documentation](self) for how a text becomes terms. It holds the words
/// of complainants' names, so it has no `Debug`.
#[derive(Default)]
pub struct ProblemCounter {
    names: HashSet<String>,
    keys: Vec<KeyInfo>,
    key_ids: HashMap<String, u32>,
    terms: HashMap<(u32, u32), TermStats>,
    /// Category, bidang and target values.
    values: Vec<String>,
    value_ids: HashMap<String, u32>,
    /// Scratch space of `add_analysis`, reused from complaint to complaint.
    seen: HashSet<(u32, u32)>,
    /// When set, only these keys and terms are counted (the second pass of [`frequent`]).
    only: Option<Filter>,
}

impl ProblemCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A counter of only the keys and terms of `only` (the names are all kept).
    fn filtered(only: Filter) -> Self {
        ProblemCounter {
            only: Some(only),
            ..Self::default()
        }
    }

    fn key_id(&mut self, key: &str, hash: u64) -> u32 {
        if let Some(id) = self.key_ids.get(key) {
            return *id;
        }
        let id = self.keys.len() as u32;
        let canon = key
            .strip_prefix('=')
            .and_then(|k| CANONICAL.iter().position(|c| c.key == k));
        self.keys.push(KeyInfo {
            text: key.to_string(),
            hash,
            canon,
            ..Default::default()
        });
        self.key_ids.insert(key.to_string(), id);
        id
    }

    fn value_id(&mut self, v: &str) -> u32 {
        if let Some(id) = self.value_ids.get(v) {
            return *id;
        }
        let id = self.values.len() as u32;
        self.values.push(v.to_string());
        self.value_ids.insert(v.to_string(), id);
        id
    }

    /// Count one complaint: its text analysed ([`analyse`]: identity masked out first).
    pub fn add(&mut self, r: &ComplaintRecord) {
        let text = analyse(&r.identity, r.channel, r.target.as_deref(), &r.body);
        if let Some(a) = Analysis::parse(&text) {
            self.add_analysis(&a, r.ticket.as_str(), r.category, r.bidang.as_ref());
        }
    }

    /// Count one complaint from its analysis.
    pub fn add_analysis(
        &mut self,
        a: &Analysis<'_>,
        ticket: &str,
        category: Option<Category>,
        bidang: Option<&BidangCode>,
    ) {
        for part in a.names() {
            if !self.names.contains(part) {
                self.names.insert(part.to_string());
            }
        }
        let only = self.only.take();
        let mut seen = std::mem::take(&mut self.seen);
        seen.clear();
        let mut prev: Option<u32> = None;
        for item in a.items() {
            let ItemRef::Key {
                key,
                shown,
                written,
                phrase_only,
            } = item
            else {
                prev = None;
                continue;
            };
            let hash = key_hash(key);
            // A key outside the filter is in no counted term (each counted term's keys are
            // in it), so it only ends the pair before it.
            if only.as_ref().is_some_and(|f| !f.keys.contains(&hash)) {
                prev = None;
                continue;
            }
            let id = self.key_id(key, hash);
            let info = &mut self.keys[id as usize];
            match info.shown.get_mut(shown) {
                Some(n) => *n += 1,
                None => {
                    info.shown.insert(shown.to_string(), 1);
                }
            }
            if info.written.len() < SPELLINGS_KEPT && !info.written.iter().any(|w| w == written) {
                info.written.push(written.to_string());
            }
            if !phrase_only {
                seen.insert((id, SINGLE));
            }
            if let Some(p) = prev
                && p != id
            {
                seen.insert((p, id));
            }
            prev = Some(id);
        }
        if let Some(f) = &only {
            let keys = &self.keys;
            seen.retain(|&(a, b)| {
                let hb = if b == SINGLE {
                    0
                } else {
                    keys[b as usize].hash
                };
                f.terms.contains(&(keys[a as usize].hash, hb))
            });
        }
        self.only = only;

        if !seen.is_empty() {
            let category = self.value_id(category.map_or(NONE_VALUE, |c| c.as_str()));
            let bidang = self.value_id(bidang.map_or(NONE_VALUE, |b| b.as_str()));
            let target = self.value_id(a.target.unwrap_or(NONE_VALUE));
            for t in seen.drain() {
                let e = self.terms.entry(t).or_default();
                e.count += 1;
                if e.examples.len() < EXAMPLES {
                    e.examples.push(ticket.to_string());
                }
                bump(&mut e.categories, category, 1);
                bump(&mut e.bidang, bidang, 1);
                bump(&mut e.targets, target, 1);
            }
        }
        self.seen = seen;
    }

    /// Add the count of `later`, made over complaints received after all of this one's
    /// (by the same filter), so the result is what one counter fed with both gives: key and
    /// value ids of `later` are mapped by text, its examples and spellings come after this
    /// one's, its counts are added.
    fn merge(&mut self, later: ProblemCounter) {
        for n in later.names {
            self.names.insert(n);
        }
        let mut key_map = Vec::with_capacity(later.keys.len());
        for info in later.keys {
            let id = self.key_id(&info.text, info.hash);
            let mine = &mut self.keys[id as usize];
            for (form, n) in info.shown {
                *mine.shown.entry(form).or_default() += n;
            }
            for w in info.written {
                if mine.written.len() < SPELLINGS_KEPT && !mine.written.contains(&w) {
                    mine.written.push(w);
                }
            }
            key_map.push(id);
        }
        let value_map: Vec<u32> = later.values.iter().map(|v| self.value_id(v)).collect();
        let key = |id: u32| {
            if id == SINGLE {
                SINGLE
            } else {
                key_map[id as usize]
            }
        };
        for ((a, b), stats) in later.terms {
            let e = self.terms.entry((key(a), key(b))).or_default();
            e.count += stats.count;
            for t in stats.examples {
                if e.examples.len() < EXAMPLES {
                    e.examples.push(t);
                }
            }
            for (mine, theirs) in [
                (&mut e.categories, stats.categories),
                (&mut e.bidang, stats.bidang),
                (&mut e.targets, stats.targets),
            ] {
                for (id, n) in theirs {
                    bump(mine, value_map[id as usize], n);
                }
            }
        }
    }

    /// Count complaints in receipt order.
    pub fn add_all(&mut self, records: &[ComplaintRecord]) {
        records.iter().for_each(|r| self.add(r));
    }

    /// The label of a key.
    fn label(&self, id: u32) -> &str {
        let info = &self.keys[id as usize];
        if let Some(c) = info.canon {
            return CANONICAL[c].label;
        }
        info.shown
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map_or(info.text.as_str(), |(s, _)| s.as_str())
    }

    fn holds_name(&self, text: &str) -> bool {
        text.split(|c: char| !c.is_alphanumeric())
            .any(|w| self.names.contains(w))
    }

    /// The keys of a term, for a stable order of terms with one label.
    fn term_text(&self, (a, b): (u32, u32)) -> (&str, &str) {
        let text = |id: u32| self.keys.get(id as usize).map_or("", |k| k.text.as_str());
        (text(a), text(b))
    }

    /// The `top` problems found in at least two complaints, most first, with the previous
    /// month's counts from `previous` (a tally of that month's complaints).
    pub fn top(self, top: usize, previous: &TermTally) -> Vec<Problem> {
        // Candidates with their label; a part not canonical must not hold a name.
        let mut candidates: Vec<((u32, u32), String, &TermStats)> = Vec::new();
        for (&(a, b), stats) in &self.terms {
            if stats.count < 2 {
                continue;
            }
            let parts: &[u32] = if b == SINGLE { &[a] } else { &[a, b] };
            let mut label = String::new();
            let mut named = false;
            for &p in parts {
                let l = self.label(p);
                named |= self.keys[p as usize].canon.is_none() && self.holds_name(l);
                if !label.is_empty() {
                    label.push(' ');
                }
                label.push_str(l);
            }
            if !named {
                candidates.push(((a, b), label, stats));
            }
        }
        // Most complaints first; phrases before single words at equal counts; then by label.
        candidates.sort_by(|x, y| {
            y.2.count
                .cmp(&x.2.count)
                .then_with(|| (y.0.1 != SINGLE).cmp(&(x.0.1 != SINGLE)))
                .then_with(|| x.1.cmp(&y.1))
                .then_with(|| self.term_text(x.0).cmp(&self.term_text(y.0)))
        });
        let mut chosen: Vec<((u32, u32), usize)> = Vec::new();
        let mut out = Vec::new();
        for ((a, b), label, stats) in candidates {
            if out.len() == top {
                break;
            }
            // A single word already covered by a chosen phrase with the same complaints.
            if b == SINGLE
                && chosen.iter().any(|((pa, pb), n)| {
                    *pb != SINGLE && *n == stats.count && (*pa == a || *pb == a)
                })
            {
                continue;
            }
            chosen.push(((a, b), stats.count));
            let previous_count = previous.count(
                self.keys[a as usize].hash,
                (b != SINGLE).then(|| self.keys[b as usize].hash),
            );
            let groups = |v: &[(u32, usize)]| {
                let mut v: Vec<(String, usize)> = v
                    .iter()
                    .map(|(id, n)| (self.values[*id as usize].clone(), *n))
                    .collect();
                v.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
                v.truncate(GROUPS);
                v
            };
            let mut variants: Vec<String> = Vec::new();
            let parts: &[u32] = if b == SINGLE { &[a] } else { &[a, b] };
            for &p in parts {
                let info = &self.keys[p as usize];
                let shown = self.label(p).to_lowercase();
                for w in &info.written {
                    if *w != shown
                        && !variants.contains(w)
                        && (info.canon.is_some() || !self.holds_name(w))
                        && variants.len() < VARIANTS
                    {
                        variants.push(w.clone());
                    }
                }
            }
            out.push(Problem {
                term: label,
                count: stats.count,
                examples: stats.examples.clone(),
                previous_count,
                change: stats.count as i64 - previous_count as i64,
                categories: groups(&stats.categories),
                bidang: groups(&stats.bidang),
                targets: groups(&stats.targets),
                variants,
            });
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// The stored analysis and the two-pass count of a big month
// ---------------------------------------------------------------------------------------

/// Tag of [`analyse`]'s output; a stored analysis with another tag (made by an older
/// lexicon) is not read ([`Analysis::parse`] gives `None`) and is made again from the text.
/// Change it whenever the lexicon or the steps of the module documentation change.
const ANALYSIS_TAG: &str = "pa1";
/// Separators of the analysis text: fields, items, parts of an item or of the names. No
/// token holds one (a token is letters, digits and hyphens; the target is cleaned of them).
const FIELD: char = '\u{1e}';
const ITEM: char = '\u{1d}';
const PART: char = '\u{1f}';

/// The pieces of `text` between the ASCII separator `sep`, as `str::split` gives them,
/// found with `memchr`: every analysis of a month is read twice, and reading them with
/// `str::split` (its general char searcher) was a tenth of the report's CPU. (The store
/// unpacks the pages of analyses it reads with it too.)
pub fn split_on(text: &str, sep: char) -> impl Iterator<Item = &str> {
    debug_assert!(sep.is_ascii());
    let sep = sep as u8;
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memchr(sep, r.as_bytes()) {
            // An ASCII byte is a char boundary, so both slices are whole chars.
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

fn is_separator(c: char) -> bool {
    matches!(c, '\u{1c}'..='\u{1f}')
}

/// What the frequent-problem count needs of one complaint, made once when it is received
/// and stored sealed with it (it holds words of the complaint and of the complainant's
/// name): the contact's digest (repeat complainants), the target with the identity masked
/// out, the words of the complainant's name (a term holding one is never shown), and the
/// text's key occurrences in order (steps 1–6 of the module documentation). Counting a
/// month then needs no masking, tokenising or stemming; [`ProblemCounter::add`] counts a
/// record through this same text, so both ways count alike.
pub fn analyse(identity: &Identity, channel: Channel, target: Option<&str>, body: &str) -> String {
    use std::fmt::Write as _;
    let lex = &*LEXICON;
    let mut out = String::with_capacity(body.len() * 3 + 96);
    out.push_str(ANALYSIS_TAG);
    out.push(FIELD);
    if let Some(d) = crate::report::contact_digest(identity, channel) {
        for b in d {
            let _ = write!(out, "{b:02x}");
        }
    }
    out.push(FIELD);
    let mask = IdentityMask::new(identity);
    if let Some(t) = target
        .map(|t| mask.apply(t.trim()))
        .filter(|t| !t.is_empty())
    {
        out.extend(t.chars().map(|c| if is_separator(c) { ' ' } else { c }));
    }
    out.push(FIELD);
    if let Some(name) = identity.name.as_deref() {
        let lower = name.to_lowercase();
        let mut parts: Vec<&str> = Vec::new();
        for w in lower.split(|c: char| !(c.is_alphanumeric() || c == '-')) {
            for part in std::iter::once(w).chain(w.split('-')) {
                let part = part.trim_matches('-');
                if part.chars().count() >= 2 && !parts.contains(&part) {
                    parts.push(part);
                }
            }
        }
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                out.push(PART);
            }
            out.push_str(part);
        }
    }
    out.push(FIELD);
    let masked = mask.apply(body).to_lowercase();
    let mut raw = Vec::new();
    raw_tokens(lex, &masked, &mut raw);
    let mut toks = Vec::with_capacity(raw.len());
    canonical_tokens(lex, &raw, &mut toks);
    let mut items = Vec::new();
    lex.items(&toks, &mut items);
    let clean = |s: &str, out: &mut String| out.extend(s.chars().filter(|c| !is_separator(*c)));
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(ITEM);
        }
        match item {
            Item::Break => out.push('b'),
            Item::Key {
                key,
                shown,
                written,
                phrase_only,
            } => {
                out.push(if *phrase_only { 'p' } else { 'k' });
                clean(key, &mut out);
                out.push(PART);
                clean(shown, &mut out);
                out.push(PART);
                clean(written, &mut out);
            }
        }
    }
    out
}

/// A stored analysis read back ([`analyse`]), borrowing its text.
pub struct Analysis<'a> {
    /// Digest of the complainant's contact ([`crate::report::contact_digest`]).
    pub contact: Option<[u8; 32]>,
    /// The target, identity masked out.
    pub target: Option<&'a str>,
    names: &'a str,
    items: &'a str,
}

/// One key occurrence of an analysis.
enum ItemRef<'a> {
    Key {
        key: &'a str,
        shown: &'a str,
        written: &'a str,
        phrase_only: bool,
    },
    Break,
}

impl<'a> Analysis<'a> {
    /// `None` for a text of another version (or not an analysis).
    pub fn parse(text: &'a str) -> Option<Self> {
        let mut f = split_on(text, FIELD);
        if f.next()? != ANALYSIS_TAG {
            return None;
        }
        let hex = f.next()?;
        let contact = if hex.is_empty() {
            None
        } else {
            let mut d = [0u8; 32];
            hex::decode_to_slice(hex, &mut d).ok()?;
            Some(d)
        };
        let target = Some(f.next()?).filter(|t| !t.is_empty());
        let names = f.next()?;
        let items = f.next()?;
        if f.next().is_some() {
            return None;
        }
        Some(Analysis {
            contact,
            target,
            names,
            items,
        })
    }

    /// Words of the complainant's name.
    fn names(&self) -> impl Iterator<Item = &'a str> {
        split_on(self.names, PART).filter(|n| !n.is_empty())
    }

    fn items(&self) -> impl Iterator<Item = ItemRef<'a>> {
        split_on(self.items, ITEM).filter_map(|s| {
            let tag = *s.as_bytes().first()?;
            match tag {
                b'b' => Some(ItemRef::Break),
                b'k' | b'p' => {
                    let mut p = split_on(&s[1..], PART);
                    Some(ItemRef::Key {
                        key: p.next()?,
                        shown: p.next()?,
                        written: p.next()?,
                        phrase_only: tag == b'p',
                    })
                }
                _ => None,
            }
        })
    }
}

/// The hash of a key in [`TermTally`] and [`Filter`] (one process only; never stored). A
/// collision can only add to a tally or let an extra key through a filter: the counts
/// shown are made by [`ProblemCounter`], on the keys' texts.
fn key_hash(key: &str) -> u64 {
    use std::hash::BuildHasher;
    // A fixed seed: the tallies of one report (and of the month before) must agree.
    foldhash::fast::FixedState::with_seed(0x6164_7561_6e00_0001).hash_one(key)
}

/// The keys and terms a filtered [`ProblemCounter`] counts, by hash (`(a, 0)`: the single
/// key `a`; `(a, b)`: the phrase).
#[derive(Default, Clone)]
struct Filter {
    keys: HashSet<u64>,
    terms: HashSet<(u64, u64)>,
}

/// Complaints per term of a month by key hashes only: the first pass of [`frequent`], and
/// the previous month's counts ("bulan lalu"). Holds no text.
#[derive(Default)]
pub struct TermTally {
    counts: HashMap<(u64, u64), u32>,
    seen: HashSet<(u64, u64)>,
}

impl TermTally {
    pub fn new() -> Self {
        Self::default()
    }

    /// Count one complaint's terms (as [`ProblemCounter::add_analysis`] makes them).
    pub fn add(&mut self, a: &Analysis<'_>) {
        let mut seen = std::mem::take(&mut self.seen);
        seen.clear();
        let mut prev: Option<u64> = None;
        for item in a.items() {
            let ItemRef::Key {
                key, phrase_only, ..
            } = item
            else {
                prev = None;
                continue;
            };
            let h = key_hash(key);
            if !phrase_only {
                seen.insert((h, 0));
            }
            if let Some(p) = prev
                && p != h
            {
                seen.insert((p, h));
            }
            prev = Some(h);
        }
        for t in seen.drain() {
            *self.counts.entry(t).or_default() += 1;
        }
        self.seen = seen;
    }

    /// Add the counts of `other` (complaints counted apart).
    pub fn merge(&mut self, other: TermTally) {
        for (t, n) in other.counts {
            *self.counts.entry(t).or_default() += n;
        }
    }

    /// Count a record (its text analysed now).
    pub fn add_record(&mut self, r: &ComplaintRecord) {
        let text = analyse(&r.identity, r.channel, r.target.as_deref(), &r.body);
        if let Some(a) = Analysis::parse(&text) {
            self.add(&a);
        }
    }

    /// Complaints with the single key `a` (`b` None) or the phrase `a b`.
    fn count(&self, a: u64, b: Option<u64>) -> usize {
        self.counts
            .get(&(a, b.unwrap_or(0)))
            .map_or(0, |n| *n as usize)
    }

    /// Terms of two complaints or more, most first.
    fn candidates(&self) -> Vec<((u64, u64), u32)> {
        let mut v: Vec<((u64, u64), u32)> = self
            .counts
            .iter()
            .filter(|(_, n)| **n >= 2)
            .map(|(t, n)| (*t, *n))
            .collect();
        v.sort_unstable_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
        v
    }
}

/// One complaint of a month as [`frequent`] reads it: its ticket, where it is filed, and
/// its analysis text ([`analyse`]).
pub struct Analysed {
    pub ticket: String,
    pub category: Option<Category>,
    pub bidang: Option<BidangCode>,
    pub analysis: String,
}

/// The `top` frequent problems of a month's analysed complaints (in receipt order), with
/// the counts of `previous` — the same list a [`ProblemCounter`] fed with every complaint
/// gives, in two passes:
///
/// 1. a [`TermTally`] counts every term by hash (no text kept);
/// 2. a [`ProblemCounter`] counts only the most frequent terms: every term with at least
///    the count of the `k`-th (whole count groups, so the order among equal counts —
///    phrases first, then by label — is decided on all of them), and the keys of those
///    terms (their labels and spellings over all their occurrences), with all the names.
///
/// A term outside that set has a lower count than every term inside it, so the list is
/// exact whenever the set yields `top` problems after terms holding a name and singles
/// covered by a phrase are left out; otherwise `k` grows and pass 2 runs again (at worst
/// over every term of two complaints or more, which is the whole count).
pub fn frequent(rows: &[Analysed], previous: &TermTally, top: usize) -> Vec<Problem> {
    frequent_tallied(rows, tally_of(rows), previous, top)
}

/// The first pass of [`frequent`]: every term of `rows`.
fn tally_of(rows: &[Analysed]) -> TermTally {
    let mut tally = TermTally::new();
    for a in rows.iter().filter_map(|r| Analysis::parse(&r.analysis)) {
        tally.add(&a);
    }
    tally
}

/// [`frequent`] given the first pass already made: `tally` holds every term of `rows`
/// (the month's pages are tallied as they are read). The second pass runs on up to
/// [`COUNTING_THREADS`] threads, each over a consecutive share of the month, and their
/// counts are merged in receipt order ([`ProblemCounter::merge`]): the same list.
pub fn frequent_tallied(
    rows: &[Analysed],
    tally: TermTally,
    previous: &TermTally,
    top: usize,
) -> Vec<Problem> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, COUNTING_THREADS);
    // Shares of at least a few thousand complaints: below that a thread costs more than
    // it saves.
    let share = rows.len().div_ceil(threads).max(4096);
    in_shares(rows, tally, previous, top, share)
}

/// The second pass of [`frequent_tallied`] over consecutive shares of `share` complaints,
/// one thread each (one share: no thread).
fn in_shares(
    rows: &[Analysed],
    tally: TermTally,
    previous: &TermTally,
    top: usize,
    share: usize,
) -> Vec<Problem> {
    let share = share.max(1);
    let candidates = tally.candidates();
    drop(tally);
    let mut k = (top * 4).max(32);
    loop {
        let take = if k >= candidates.len() {
            candidates.len()
        } else {
            let cut = candidates[k - 1].1;
            candidates.partition_point(|c| c.1 >= cut)
        };
        let mut filter = Filter::default();
        for &((a, b), _) in &candidates[..take] {
            filter.keys.insert(a);
            if b != 0 {
                filter.keys.insert(b);
            }
            filter.terms.insert((a, b));
        }
        let count = |part: &[Analysed]| {
            let mut counter = ProblemCounter::filtered(filter.clone());
            for r in part {
                if let Some(a) = Analysis::parse(&r.analysis) {
                    counter.add_analysis(&a, &r.ticket, r.category, r.bidang.as_ref());
                }
            }
            counter
        };
        let mut parts: Vec<ProblemCounter> = if rows.len() > share {
            std::thread::scope(|s| {
                let running: Vec<_> = rows
                    .chunks(share)
                    .map(|part| s.spawn(move || count(part)))
                    .collect();
                running
                    .into_iter()
                    .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                    .collect()
            })
        } else {
            vec![count(rows)]
        };
        let mut counter = parts.remove(0);
        for later in parts {
            counter.merge(later);
        }
        let out = counter.top(top, previous);
        if out.len() >= top || take == candidates.len() {
            return out;
        }
        k = take * 4;
    }
}

/// Threads of the second counting pass of [`frequent_tallied`] (at most; fewer on a
/// smaller machine).
pub const COUNTING_THREADS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Identity, ReplyThread};
    use crate::types::{BidangCode, Category, Channel, State, TicketNumber};
    use chrono::{TimeZone, Utc};

    fn rec(n: u32, body: &str) -> ComplaintRecord {
        let at = Utc.with_ymd_and_hms(2026, 11, 3, 2, 0, 0).unwrap();
        ComplaintRecord {
            id: i64::from(n),
            ticket: TicketNumber::parse(&format!("ADU-202611-{n:04}")).unwrap(),
            channel: Channel::Web,
            external_id: None,
            received_at: at,
            identity: Identity::default(),
            category: None,
            target: None,
            body: body.into(),
            letter_number: None,
            state: State::Received,
            state_entered_at: at,
            due_at: None,
            bidang: None,
            solution: None,
            answer: None,
            status: None,
            close_reason: None,
            paraf_by: None,
            paraf_at: None,
            identity_shared_with: vec![],
            attachment_shares: vec![],
            access_code_hash: None,
            pause: None,
            carried_seconds: 0,
            rating: None,
            answered_at: None,
            reply_thread: ReplyThread::default(),
            version: 1,
            created_at: at,
            updated_at: at,
            messages: vec![],
            history: vec![],
            replies: vec![],
            attachments: vec![],
        }
    }

    fn records(bodies: &[&str]) -> Vec<ComplaintRecord> {
        bodies
            .iter()
            .enumerate()
            .map(|(i, b)| rec(i as u32 + 1, b))
            .collect()
    }

    fn analysed(recs: &[ComplaintRecord]) -> Vec<Analysed> {
        recs.iter()
            .map(|r| Analysed {
                ticket: r.ticket.to_string(),
                category: r.category,
                bidang: r.bidang.clone(),
                analysis: analyse(&r.identity, r.channel, r.target.as_deref(), &r.body),
            })
            .collect()
    }

    /// The problems of `recs` by a counter fed with every complaint, checked to be what the
    /// two-pass count of their stored analyses gives ([`frequent`]), so every test here
    /// holds for both.
    fn top(recs: &[ComplaintRecord], n: usize) -> Vec<Problem> {
        let mut c = ProblemCounter::new();
        c.add_all(recs);
        let all = c.top(n, &TermTally::new());
        let rows = analysed(recs);
        assert_eq!(frequent(&rows, &TermTally::new(), n), all);
        // The second pass split into shares counted apart and merged gives the same list.
        for share in [1, 2, 7, rows.len().div_ceil(3)] {
            if rows.len() / share.max(1) > 64 {
                continue;
            }
            assert_eq!(
                in_shares(&rows, tally_of(&rows), &TermTally::new(), n, share),
                all,
                "shares of {share}"
            );
        }
        all
    }

    fn find<'p>(ps: &'p [Problem], term: &str) -> Option<&'p Problem> {
        ps.iter().find(|p| p.term == term)
    }

    fn one_key(words: &[&str]) {
        let stems: Vec<String> = words.iter().map(|w| stem(w)).collect();
        assert!(
            stems.windows(2).all(|w| w[0] == w[1]),
            "{words:?} → {stems:?}"
        );
    }

    #[test]
    fn word_forms_share_a_stem() {
        one_key(&["pelayanan", "dilayani", "melayani", "layanan"]);
        one_key(&["pengurusan", "mengurus", "diurus", "urusan"]);
        one_key(&["pembuatan", "membuat", "dibuat", "buat"]);
        one_key(&["pendaftaran", "mendaftar", "terdaftar", "daftar"]);
        one_key(&["perbaikan", "diperbaiki", "memperbaiki"]);
        one_key(&["perekaman", "merekam", "direkam", "rekaman"]);
        one_key(&["penerbitan", "diterbitkan", "terbit"]);
        one_key(&["penyelesaian", "menyelesaikan", "diselesaikan", "selesai"]);
        one_key(&["pengiriman", "mengirim", "dikirim", "kiriman"]);
        one_key(&["keterlambatan", "terlambat", "lambat"]);
        one_key(&["bertanya", "menanyakan", "pertanyaan", "tanya"]);
        one_key(&["bermasalah", "permasalahan", "masalah"]);
        one_key(&["pengecekan", "mengecek", "cek"]);
        assert_eq!(stem("pelayanan"), "layan");
        assert_eq!(stem("diurus"), "urus");
        assert_eq!(stem("pembuatan"), "buat");
        assert_eq!(stem("pendaftaran"), "daftar");
        assert_eq!(stem("perbaikan"), "baik");
        assert_eq!(stem("bantuannya"), "bantu");
        assert_eq!(stem("menghubungi"), "hubung");
        assert_eq!(stem("kelahiran"), "lahir");
        assert_eq!(stem("tindakan"), "tindak");
        assert_eq!(stem("meminta"), "minta");
        assert_eq!(stem("perubahan"), "ubah");
        assert_eq!(stem("dipersulit"), "sulit");
        assert_eq!(stem("bekerja"), "kerja");
        assert_eq!(stem("secepatnya"), "cepat");
    }

    #[test]
    fn stemming_stops_at_short_and_known_roots() {
        // Four letters at least: the prefix-looking start stays.
        for w in [
            "terbit", "bersih", "berkas", "dinas", "terima", "berita", "pesan", "jadi",
        ] {
            assert_eq!(stem(w), w);
        }
        // Known words are not cut.
        for w in [
            "masalah",
            "sekolah",
            "kependudukan",
            "keluarga",
            "informasi",
            "selesai",
            "kembali",
            "digital",
            "petugas",
        ] {
            assert_eq!(stem(w), w);
        }
        // -i after a vowel or s stays; ke- and se- only in their confixes.
        assert_eq!(stem("nilai"), "nilai");
        assert_eq!(stem("aplikasi"), "aplikasi");
        assert_eq!(stem("keluar"), "keluar");
        assert_eq!(stem("sedih"), "sedih");
        // Non-ASCII words are left alone.
        assert_eq!(stem("pelayanané"), "pelayanané");
    }

    #[test]
    fn spellings_of_one_problem_are_one_term() {
        let recs = records(&[
            "KTP-el saya belum jadi padahal sudah rekam",
            "e-KTP blm jadi sdh 2 bulan",
            "KTP elektronik belum juga jadi",
            "Kartu Tanda Penduduk Elektronik belum jadi, mohon dibantu",
            "ektp belum jadi",
            "Akta lahir anak salah tulis",
            "akte kelahiran anak salah tulis",
        ]);
        let ps = top(&recs, 10);
        let p = find(&ps, "KTP-el belum jadi").expect("one term");
        assert_eq!(p.count, 5);
        assert_eq!(
            p.examples,
            ["ADU-202611-0001", "ADU-202611-0002", "ADU-202611-0003"]
        );
        // The single words of the same five complaints are covered by the phrase.
        assert!(find(&ps, "KTP-el").is_none());
        assert!(find(&ps, "belum jadi").is_none());
        for v in ["e-ktp", "ktp elektronik", "blm jadi"] {
            assert!(p.variants.iter().any(|x| x == v), "{v} in {:?}", p.variants);
        }
        assert!(p.variants.len() <= 5);
        let akta = find(&ps, "akta kelahiran anak").expect("akta");
        assert_eq!(akta.count, 2);
        assert_eq!(find(&ps, "anak salah").map(|p| p.count), Some(2));
        assert!(!ps.iter().any(|p| p.term.contains("akte")));
    }

    #[test]
    fn kk_and_other_documents_are_normalised() {
        let recs = records(&[
            "Kartu keluarga belum dicetak",
            "KK belum dicetak",
            "kartu keluarganya belum dicetak juga",
            "Pendaftaran online error",
            "pendaftaran daring error terus",
            "daftar on line error",
        ]);
        let ps = top(&recs, 10);
        assert_eq!(find(&ps, "KK belum dicetak").map(|p| p.count), Some(3));
        // `pendaftaran` and `daftar` are one key, shown in the more frequent form.
        assert_eq!(find(&ps, "pendaftaran online").map(|p| p.count), Some(3));
        assert_eq!(find(&ps, "online error").map(|p| p.count), Some(3));
    }

    #[test]
    fn greetings_and_help_requests_are_never_terms() {
        let recs = records(&[
            "Selamat pagi admin. Mohon bantuannya, hubungi saya",
            "Selamat siang kak, mohon bantuannya hubungi saya ya. Terima kasih",
            "Halo min, ktp-el hubungi saya, terimakasih",
            "Om swastyastu, mohon bantuan. Tolong hubungi saya, makasih",
            "ktp-el hubungi ya",
        ]);
        let ps = top(&recs, 10);
        let words = [
            "bantuan", "hubungi", "selamat", "mohon", "terima", "admin", "tolong",
        ];
        for p in &ps {
            assert!(
                !words.iter().any(|w| p.term.contains(w)),
                "noise term {:?}",
                p.term
            );
        }
        // What is left is the one real topic.
        assert_eq!(
            ps.iter().map(|p| p.term.as_str()).collect::<Vec<_>>(),
            ["KTP-el"]
        );
    }

    #[test]
    fn nik_counts_only_in_phrases() {
        let recs = records(&[
            "NIK saya 5108014506900005 ganda dengan orang lain",
            "nik ganda, mohon dicek",
            "NIK: 5108014506900006, KTP hilang",
            "No. KK 5108014506900007 KTP hilang",
            "nik tidak terdaftar di sistem",
            "NIK saya tidak terdaftar",
        ]);
        let ps = top(&recs, 10);
        assert!(find(&ps, "NIK").is_none());
        assert_eq!(find(&ps, "NIK tidak terdaftar").map(|p| p.count), Some(2));
        // "NIK saya <masked> ganda": the NIK labels the number; "nik ganda" is the phrase
        // of the second complaint only, so `ganda` alone counts both.
        assert_eq!(find(&ps, "ganda").map(|p| p.count), Some(2));
        // KTP-el before a masked number is its label; the KK label is not counted.
        assert_eq!(find(&ps, "KTP-el hilang").map(|p| p.count), Some(2));
        assert!(!ps.iter().any(|p| p.term.contains("KK")));
    }

    #[test]
    fn names_of_complainants_are_dropped() {
        let mut recs = records(&[
            "Antrean panjang, pak Sukarta di loket marah",
            "pak Sukarta di loket marah lagi, antrean panjang",
            "Sukarta di loket membentak",
        ]);
        recs[2].identity.name = Some("Wayan Sukarta".into());
        let ps = top(&recs, 10);
        assert!(!ps.iter().any(|p| p.term.contains("sukarta")), "{ps:?}");
        assert!(
            !ps.iter()
                .any(|p| p.variants.iter().any(|v| v.contains("sukarta")))
        );
        assert_eq!(find(&ps, "antrean panjang").map(|p| p.count), Some(2));
        assert_eq!(find(&ps, "loket marah").map(|p| p.count), Some(2));
    }

    #[test]
    fn identity_is_never_in_a_term() {
        let identity = Identity {
            name: Some("Ketut Wirawan".into()),
            address: Some("Jl. Pantai Lovina No. 7, Kalibukbuk".into()),
            email: Some("wirawan.kt@example.com".into()),
            phone: Some("081234567890".into()),
            handle: None,
        };
        let body = "Saya Ketut Wirawan, NIK 5108014506900005, hp 0812-3456-7890, email \
                    wirawan.kt@example.com, tinggal di Jl. Pantai Lovina No. 7 Kalibukbuk. \
                    Wirawan mengurus akta kelahiran belum selesai";
        let mut recs = records(&[body, body, body]);
        for r in &mut recs {
            r.identity = identity.clone();
        }
        let ps = top(&recs, 20);
        assert!(!ps.is_empty());
        let text = ps
            .iter()
            .flat_map(|p| std::iter::once(&p.term).chain(&p.variants))
            .map(|t| t.to_lowercase())
            .collect::<Vec<_>>()
            .join(" | ");
        for leak in [
            "wirawan",
            "ketut",
            "example",
            "0812",
            "7890",
            "5108",
            "lovina",
            "kalibukbuk",
            "pantai",
            "disamarkan",
            "nomor",
        ] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
        assert!(
            find(&ps, "akta kelahiran belum selesai").is_some(),
            "{ps:?}"
        );
    }

    /// A generated month (skewed word choice, ties, complainants whose names are frequent
    /// words of other complaints, categories and bidang): the two-pass count equals the
    /// counter fed with everything, for several list lengths, also when the first set of
    /// terms is mostly names and has to grow.
    #[test]
    fn two_pass_count_equals_the_full_count_on_a_generated_month() {
        const WORDS: [&str; 24] = [
            "ktp",
            "antrean",
            "panjang",
            "server",
            "error",
            "blangko",
            "habis",
            "petugas",
            "loket",
            "lambat",
            "wayan",
            "sudarsana",
            "ketut",
            "made",
            "kartu",
            "keluarga",
            "akta",
            "kelahiran",
            "belum",
            "jadi",
            "online",
            "gagal",
            "daftar",
            "pindah",
        ];
        const NAMES: [&str; 4] = ["Wayan Sudarsana", "Ketut Made", "Putu Ayu", "Komang Tri"];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            ((seed >> 33) as usize) % n
        };
        let mut recs = Vec::new();
        let mut previous = Vec::new();
        for i in 0..900u32 {
            let len = 2 + next(7);
            let words: Vec<&str> = (0..len)
                .map(|_| WORDS[next(WORDS.len()).min(next(WORDS.len()))])
                .collect();
            let mut r = rec(i + 1, &words.join(" "));
            r.identity.name = Some(NAMES[next(NAMES.len())].to_string());
            r.identity.email = Some(format!("warga{}@example.com", next(300)));
            r.category = [None, Some(Category::Pelayanan), Some(Category::LainLain)][next(3)];
            r.bidang = [None, Some(BidangCode::parse("dafduk").unwrap())][next(2)].clone();
            r.target = [None, Some("Loket 3".to_string())][next(2)].clone();
            if i % 3 == 0 {
                previous.push(r.clone());
            }
            recs.push(r);
        }
        let mut before = TermTally::new();
        previous.iter().for_each(|r| before.add_record(r));
        let rows = analysed(&recs);
        for n in [1, 3, 10, 25, 60] {
            let mut c = ProblemCounter::new();
            c.add_all(&recs);
            let all = c.top(n, &before);
            assert_eq!(all.len(), n, "the month has {n} problems");
            assert_eq!(frequent(&rows, &before, n), all, "top {n}");
            // The month tallied in two parts and merged, then counted in shares of 100.
            let (first, later) = rows.split_at(333);
            let mut tally = tally_of(first);
            tally.merge(tally_of(later));
            assert_eq!(
                tally.candidates(),
                tally_of(&rows).candidates(),
                "the merged tally"
            );
            assert_eq!(
                in_shares(&rows, tally, &before, n, 100),
                all,
                "top {n} in parts"
            );
        }
    }

    /// The byte splitter gives what `str::split` gives, around multi-byte letters too.
    #[test]
    fn split_on_is_str_split() {
        for text in [
            "",
            "a",
            "\u{1f}",
            "\u{1f}\u{1f}",
            "ktp\u{1f}KTP\u{1f}ktp",
            "\u{1f}é\u{1f}",
            "rusak\u{1f}",
            "\u{1f}naïve\u{1f}\u{1f}日本\u{1f}x",
            "no separator at all",
        ] {
            for sep in [PART, ITEM, FIELD] {
                let mine: Vec<&str> = split_on(text, sep).collect();
                let std: Vec<&str> = text.split(sep).collect();
                assert_eq!(mine, std, "{text:?} by {sep:?}");
            }
        }
    }

    /// An analysis of another version is not read (the report makes it again).
    #[test]
    fn an_analysis_of_another_version_is_not_read() {
        let id = Identity {
            name: Some("Wayan Sudarsana".into()),
            email: Some("w@example.com".into()),
            ..Default::default()
        };
        let text = analyse(&id, Channel::Web, Some("Loket 3"), "KTP-el belum jadi");
        let a = Analysis::parse(&text).unwrap();
        assert!(a.contact.is_some() && a.target == Some("Loket 3"));
        assert_eq!(a.names().collect::<Vec<_>>(), ["wayan", "sudarsana"]);
        assert!(Analysis::parse(&text.replacen(ANALYSIS_TAG, "pa0", 1)).is_none());
        assert!(Analysis::parse("").is_none());
    }

    #[test]
    fn change_against_the_previous_month() {
        let mut before = TermTally::new();
        let previous = records(&[
            "antrean panjang sekali",
            "antrian panjang",
            "antri panjang di loket",
            "blangko habis",
            "blangko habis",
        ]);
        previous.iter().for_each(|r| before.add_record(r));
        let now = records(&[
            "antrean panjang",
            "antrean panjang",
            "ngantri panjang",
            "antre panjang",
            "antrean panjang lagi",
            "server error",
            "server error",
        ]);
        let mut c = ProblemCounter::new();
        c.add_all(&now);
        let ps = c.top(10, &before);
        assert_eq!(frequent(&analysed(&now), &before, 10), ps);
        let a = find(&ps, "antrean panjang").unwrap();
        assert_eq!((a.count, a.previous_count, a.change), (5, 3, 2));
        let s = find(&ps, "server error").unwrap();
        assert_eq!((s.count, s.previous_count, s.change), (2, 0, 2));
        assert!(find(&ps, "blangko habis").is_none());
        // Without a previous month nothing is compared.
        let mut c = ProblemCounter::new();
        c.add_all(&now);
        let a = c
            .top(10, &TermTally::new())
            .into_iter()
            .find(|p| p.term == "antrean panjang")
            .unwrap();
        assert_eq!((a.previous_count, a.change), (0, 5));
    }

    #[test]
    fn grouped_by_category_bidang_and_target() {
        let mut recs = records(&[
            "petugas loket tidak ramah",
            "petugas loket tidak ramah",
            "petugas loket tidak ramah",
            "petugas loket tidak ramah sekali",
        ]);
        let dafduk = BidangCode::parse("dafduk").unwrap();
        let capil = BidangCode::parse("capil").unwrap();
        recs[0].category = Some(Category::PerilakuPegawai);
        recs[1].category = Some(Category::PerilakuPegawai);
        recs[2].category = Some(Category::Pelayanan);
        recs[0].bidang = Some(dafduk.clone());
        recs[1].bidang = Some(capil);
        recs[2].bidang = Some(dafduk);
        recs[0].target = Some("  Loket 2 ".into());
        recs[1].target = Some("Loket 2".into());
        recs[2].target = Some("   ".into());
        let ps = top(&recs, 5);
        let p = find(&ps, "loket tidak ramah").expect("phrase");
        assert_eq!(p.count, 4);
        assert_eq!(
            p.categories,
            [
                ("perilaku_pegawai".to_string(), 2),
                ("pelayanan".to_string(), 1),
                (NONE_VALUE.to_string(), 1)
            ]
        );
        assert_eq!(
            p.bidang,
            [
                ("dafduk".to_string(), 2),
                ("capil".to_string(), 1),
                (NONE_VALUE.to_string(), 1)
            ]
        );
        assert_eq!(
            p.targets,
            [("Loket 2".to_string(), 2), (NONE_VALUE.to_string(), 2)]
        );
    }

    /// A target naming the complainant (their name, their phone) is shown masked.
    #[test]
    fn targets_never_carry_the_identity() {
        let mut recs = records(&["petugas loket tidak ramah", "petugas loket tidak ramah"]);
        for r in &mut recs {
            r.identity.name = Some("Ketut Arsana".into());
            r.identity.phone = Some("081337112233".into());
            r.target = Some("rumah Ketut Arsana, hp 081337112233".into());
        }
        let ps = top(&recs, 5);
        let p = find(&ps, "loket tidak ramah").expect("phrase");
        let shown = format!("{:?}", p.targets);
        assert!(
            !shown.contains("Ketut") && !shown.contains("Arsana"),
            "{shown}"
        );
        assert!(
            !shown.contains("081337112233") && !shown.contains("0813"),
            "{shown}"
        );
        assert_eq!(p.targets[0].1, 2, "{shown}");
    }

    #[test]
    fn ranking_and_limits() {
        let recs = records(&[
            "server error. jaringan lambat",
            "server error",
            "server error, jaringan lambat",
            "server down",
            "jaringan putus",
            "printer rusak",
        ]);
        let ps = top(&recs, 10);
        let terms: Vec<(&str, usize)> = ps.iter().map(|p| (p.term.as_str(), p.count)).collect();
        // `server` (4) before the phrase `server error` (3), which covers the word `error`;
        // `jaringan` (3) is not covered by `jaringan lambat` (2), which covers `lambat`; a
        // sentence end makes no phrase (`error jaringan`); a term of one complaint is not
        // shown.
        assert_eq!(
            terms,
            [
                ("server", 4),
                ("server error", 3),
                ("jaringan", 3),
                ("jaringan lambat", 2)
            ]
        );
        assert_eq!(top(&recs, 2).len(), 2);
    }

    #[test]
    fn doubled_and_hyphenated_words() {
        let recs = records(&[
            "berkas-berkas hilang",
            "berkas2 hilang",
            "ktp-nya hilang",
            "e-KTP blm jadi2",
            "ktpnya belum jadi",
        ]);
        let ps = top(&recs, 10);
        assert_eq!(find(&ps, "berkas hilang").map(|p| p.count), Some(2));
        assert_eq!(find(&ps, "hilang").map(|p| p.count), Some(3));
        assert_eq!(find(&ps, "KTP-el belum jadi").map(|p| p.count), Some(2));
    }

    #[test]
    fn labels_are_the_most_frequent_unstemmed_form() {
        let recs = records(&[
            "pelayanannya lambat",
            "pelayanan lambat",
            "dilayani lambat",
            "Petugasnya kasar",
            "petugas kasar",
        ]);
        let ps = top(&recs, 10);
        let p = find(&ps, "pelayanan lambat").expect("label");
        assert_eq!(p.count, 3);
        assert!(
            p.variants.iter().any(|v| v == "dilayani"),
            "{:?}",
            p.variants
        );
        assert!(p.variants.iter().any(|v| v == "pelayanannya"));
        assert_eq!(find(&ps, "petugas kasar").map(|p| p.count), Some(2));
    }

    #[test]
    fn old_reports_read_back() {
        let p: Problem =
            serde_json::from_str(r#"{"term":"antrean","count":3,"examples":["ADU-202611-0001"]}"#)
                .unwrap();
        assert_eq!((p.previous_count, p.change), (0, 0));
        assert!(p.categories.is_empty() && p.variants.is_empty());
    }
}
