//! The privacy oracle (GUIDE habit 18): given a complainant's identity — name, address,
//! e-mail, phone, handle, NIK and attachment names — [`PrivacyOracle::assert_clean`] fails
//! when any of it appears in an output, in any of the forms an output can carry it:
//!
//! - case-insensitive, with every run of punctuation and space (and every letter/digit
//!   boundary) read as one separator, so `KTP_Sari_Wulandari`, `SARI  WULANDARI` and
//!   `sari.wulandari` all match the name `Sari Wulandari`;
//! - numbers (NIK, phone without `0`/`62`/`+62`, numeric handles) against the output's digit
//!   runs with every separator removed (`5108 0145/0690-0005`, `HP0812…`);
//! - after undoing HTML/XML entities, JSON string escapes and URL encoding.
//!
//! Words of the name are looked for alone too (except [`COMMON_NAME_WORDS`] and words of
//! fewer than four letters), the e-mail's local part alone, and the address as a whole and
//! its first part (the street or banjar).
//!
//! [`Citizen`] and the strategies below make random identities in the spellings citizens use
//! and complaint texts and attachment names that carry them, for property-based tests.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::mask::COMMON_NAME_WORDS;
use crate::model::Identity;

/// What the oracle looks for, each with a label for the failure message.
#[derive(Debug, Clone)]
pub struct PrivacyOracle {
    /// (label, normalized words)
    words: Vec<(String, String)>,
    /// (label, digits)
    digits: Vec<(String, String)>,
}

/// Lowercase; every letter/digit boundary and every run of other characters becomes one
/// space; padded with spaces so `contains(" x ")` is a whole-word test.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(' ');
    let mut prev: Option<bool> = None; // Some(true) = letter, Some(false) = digit
    for c in s.chars().flat_map(char::to_lowercase) {
        let class = if c.is_alphabetic() {
            Some(true)
        } else if c.is_ascii_digit() || c.is_numeric() {
            Some(false)
        } else {
            None
        };
        match (prev, class) {
            (_, None) => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            (Some(p), Some(k)) if p != k => {
                out.push(' ');
                out.push(c);
            }
            (_, Some(_)) => out.push(c),
        }
        prev = class;
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

/// Digit runs of `s`: digits joined across up to three characters that are neither letters
/// nor digits, nor a line end.
pub fn digit_runs(s: &str) -> Vec<String> {
    let mut runs = Vec::new();
    let mut cur = String::new();
    let mut gap = 0usize;
    for c in s.chars() {
        if c.is_ascii_digit() {
            cur.push(c);
            gap = 0;
        } else if !cur.is_empty() && !c.is_alphanumeric() && c != '\n' && c != '\r' && gap < 3 {
            gap += 1;
        } else {
            if !cur.is_empty() {
                runs.push(std::mem::take(&mut cur));
            }
            gap = 0;
        }
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    runs
}

/// Undo HTML/XML character references (named ones for the usual five, `&#…;` and `&#x…;`).
pub fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        // A reference is short: look for its `;` in the first 12 bytes, on char boundaries
        // (the text may be any UTF-8, e.g. a mail's binary parts decoded lossily).
        let Some(end) = rest
            .char_indices()
            .take_while(|(i, _)| *i < 12)
            .find(|(_, c)| *c == ';')
            .map(|(i, _)| i)
        else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..end];
        let c = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => ent
                .strip_prefix("#x")
                .or_else(|| ent.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Undo JSON string escapes (`\"`, `\\`, `\/`, `\n`, `\uXXXX` with surrogate pairs).
pub fn json_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('u') => {
                let hex: String = it.by_ref().take(4).collect();
                let Ok(hi) = u32::from_str_radix(&hex, 16) else {
                    continue;
                };
                if (0xD800..0xDC00).contains(&hi) {
                    let lo: String = it.by_ref().skip(2).take(4).collect();
                    if let Ok(lo) = u32::from_str_radix(&lo, 16) {
                        let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00));
                        out.extend(char::from_u32(cp));
                    }
                } else {
                    out.extend(char::from_u32(hi));
                }
            }
            Some(o) => out.push(o),
            None => {}
        }
    }
    out
}

/// Undo URL encoding (`%XX`, `+` as space); invalid sequences stay.
pub fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |x: u8| (x as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            x => out.push(x),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The views of an output the oracle searches.
fn views(text: &str) -> Vec<String> {
    let html = html_unescape(text);
    let json = json_unescape(text);
    let both = html_unescape(&json);
    let url = url_decode(text);
    let mut v = vec![text.to_string(), html, json, both, url];
    v.dedup();
    v
}

impl PrivacyOracle {
    /// An oracle for `identity`, the citizen's NIK (if any) and attachment file names.
    pub fn new(identity: &Identity, nik: Option<&str>, attachment_names: &[&str]) -> Self {
        let mut words: Vec<(String, String)> = Vec::new();
        let mut digits: Vec<(String, String)> = Vec::new();
        let mut word = |label: &str, v: &str| {
            let n = normalize(v);
            if n.trim().chars().count() >= 3 {
                words.push((format!("{label} `{v}`"), n));
            }
        };
        if let Some(name) = identity.name.as_deref() {
            word("name", name);
            for w in name.split(|c: char| !c.is_alphabetic()) {
                if w.chars().count() >= 4 && !COMMON_NAME_WORDS.contains(&w.to_lowercase().as_str())
                {
                    word("name word", w);
                }
            }
        }
        if let Some(a) = identity.address.as_deref() {
            word("address", a);
            if let Some(first) = a.split([',', ';', '\n']).next()
                && first.trim() != a.trim()
            {
                word("address part", first);
            }
        }
        if let Some(e) = identity.email.as_deref() {
            word("e-mail", e);
            if let Some((local, _)) = e.rsplit_once('@')
                && local.chars().count() >= 4
            {
                word("e-mail local part", local);
            }
        }
        let mut number = |label: &str, v: &str, min: usize| {
            let d: String = v.chars().filter(char::is_ascii_digit).collect();
            if d.len() >= min {
                digits.push((format!("{label} `{v}`"), d));
            }
        };
        if let Some(p) = identity.phone.as_deref() {
            let d: String = p.chars().filter(char::is_ascii_digit).collect();
            let nsn = d
                .strip_prefix("62")
                .or_else(|| d.strip_prefix('0'))
                .unwrap_or(&d);
            number("phone", nsn, 6);
        }
        if let Some(h) = identity.handle.as_deref() {
            if h.chars().all(|c| c.is_ascii_digit() || c == '+') {
                number("handle", h, 5);
            } else {
                word("handle", h.trim_start_matches('@'));
            }
        }
        if let Some(n) = nik {
            number("NIK", n, 16);
        }
        for a in attachment_names {
            word("attachment name", a);
        }
        PrivacyOracle { words, digits }
    }

    /// An oracle for a generated [`Citizen`] (identity, NIK, attachment name).
    pub fn for_citizen(c: &Citizen) -> Self {
        Self::new(&c.identity(), Some(&c.nik), &[c.attachment_name.as_str()])
    }

    /// What of the identity `text` carries (empty when clean).
    pub fn leaks(&self, text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for v in views(text) {
            let n = normalize(&v);
            for (label, w) in &self.words {
                if n.contains(w.as_str()) && !found.contains(label) {
                    found.push(label.clone());
                }
            }
            let runs = digit_runs(&v);
            for (label, d) in &self.digits {
                if runs.iter().any(|r| r.contains(d.as_str())) && !found.contains(label) {
                    found.push(label.clone());
                }
            }
        }
        found
    }

    /// Panic naming the surface, what leaked and where, when `text` carries identity.
    #[track_caller]
    pub fn assert_clean(&self, surface: &str, text: &str) {
        let leaks = self.leaks(text);
        if !leaks.is_empty() {
            let excerpt: String = text.chars().take(4000).collect();
            panic!(
                "identity on surface `{surface}`: {}\n--- output (first 4000 chars) ---\n{excerpt}",
                leaks.join(", ")
            );
        }
    }

    /// [`Self::assert_clean`] on bytes (read as lossy UTF-8: PNG, XLSX members …).
    #[track_caller]
    pub fn assert_clean_bytes(&self, surface: &str, bytes: &[u8]) {
        self.assert_clean(surface, &String::from_utf8_lossy(bytes));
    }
}

// ---- random citizens ----

/// A generated complainant: the identity as typed in a form, the NIK, the attachment name
/// and the spellings the citizen used in the texts.
#[derive(Debug, Clone)]
pub struct Citizen {
    pub name: String,
    pub address: String,
    pub email: String,
    /// As typed in the form (`0812-3456-7890`, `+62 812 …`).
    pub phone: String,
    pub nik: String,
    /// A Telegram chat id, as the channel records it.
    pub chat_id: i64,
    /// `KTP_<name>_<NIK>.jpg` and similar.
    pub attachment_name: String,
    /// The NIK as written in the text (grouped, glued to words …).
    pub nik_spelled: String,
    /// The phone as written in the text, recognizable without knowing it (`HP0812…`).
    pub phone_spelled: String,
    /// The phone as only its owner's identity reveals it (`812 3456 7890`).
    pub phone_bare: String,
    /// How the name is cased in the text.
    pub name_spelled: String,
    /// How the address is written in the text.
    pub address_spelled: String,
}

impl Citizen {
    /// The identity as the web form stores it (and the Telegram chat id as handle).
    pub fn identity(&self) -> Identity {
        Identity {
            name: Some(self.name.clone()),
            address: Some(self.address.clone()),
            email: Some(self.email.clone()),
            phone: Some(self.phone.clone()),
            handle: Some(self.chat_id.to_string()),
        }
    }

    /// A complaint text that carries the whole identity, with ordinary numbers and a
    /// ticket number that must survive masking. `own` adds the spellings only the
    /// complaint's own identity reveals.
    pub fn complaint_text(&self, own: bool) -> String {
        let mut t = format!(
            "Saya {}, NIK {}, tinggal di {}. KTP-el saya belum jadi sejak 3 Maret 2026, \
             antrian 12, biaya Rp 50.000, sudah datang 2 kali. Mohon hubungi {} atau {}. \
             Lihat juga tiket ADU-202601-0007.",
            self.name_spelled,
            self.nik_spelled,
            self.address_spelled,
            self.phone_spelled,
            self.email
        );
        if own {
            t.push_str(&format!(" Nomor lain: {}.", self.phone_bare));
        }
        t
    }
}

const PREFIXES: &[&str] = &[
    "",
    "Ni Luh",
    "I Made",
    "Ni Made",
    "I Wayan",
    "Ni Ketut",
    "I Gusti Ngurah",
    "Siti",
    "Muhammad",
];
const GIVEN: &[&str] = &[
    "Wulandari",
    "Suartini",
    "Sudiarta",
    "Purnamasari",
    "Yudistira",
    "Astawa",
    "Kusumawati",
    "Mahendra",
    "Suryani",
    "Widiastuti",
    "Sutrisno",
    "Rahmawati",
    "Handayani",
    "Setiawan",
    "Pratiwi",
    "Kurniawan",
    "Sukerta",
    "Darmayasa",
    "Juliantari",
    "Arimbawa",
    "Swastika",
    "Parwati",
];
const STREETS: &[&str] = &[
    "Pulau Kawe",
    "Gajah Mada",
    "Surapati",
    "Sahadewa",
    "Dewi Sartika",
    "Pattimura",
    "Ngurah Rai",
    "Udayana",
    "Srikandi",
    "Bisma",
];
const VILLAGES: &[&str] = &[
    "Panji",
    "Sambangan",
    "Pemaron",
    "Kalibukbuk",
    "Banyuning",
    "Anturan",
    "Tukadmungga",
];
const DOMAINS: &[&str] = &["gmail.com", "yahoo.co.id", "contoh.id", "example.com"];

fn digits(n: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..10, n).prop_map(|v| v.iter().map(|d| d.to_string()).collect())
}

/// A NIK: a Bali regency code, a birth date, a serial.
pub fn nik() -> impl Strategy<Value = String> {
    (
        prop::sample::select(
            &[
                "5101", "5102", "5103", "5104", "5105", "5106", "5107", "5108",
            ][..],
        ),
        1u32..=28,
        1u32..=12,
        50u32..=99,
        0u32..=1,
        1u32..=999,
    )
        .prop_map(|(reg, d, m, y, female, serial)| {
            let d = d + if female == 1 { 40 } else { 0 };
            format!("{reg}{:02}{d:02}{m:02}{y:02}{serial:04}", 1 + serial % 9)
        })
        .prop_map(|s| s[..16].to_string())
}

/// How a citizen writes a NIK.
pub fn spell_nik(nik: String) -> impl Strategy<Value = String> {
    let g = |sep: &str| {
        format!(
            "{}{sep}{}{sep}{}{sep}{}",
            &nik[..4],
            &nik[4..8],
            &nik[8..12],
            &nik[12..]
        )
    };
    let forms = vec![
        nik.clone(),
        g(" "),
        g("."),
        g("/"),
        g("-"),
        format!("{} {} {}", &nik[..6], &nik[6..12], &nik[12..]),
        format!("NIK{nik}"),
        format!("KTP_{nik}"),
        format!("nik:{}", g(".")),
    ];
    prop::sample::select(forms)
}

/// A mobile number `08xx…` with 10 to 13 digits.
pub fn phone() -> impl Strategy<Value = String> {
    (
        prop::sample::select(
            &[
                "811", "812", "813", "821", "822", "852", "853", "857", "878",
            ][..],
        ),
        7usize..=9,
    )
        .prop_flat_map(|(op, n)| digits(n).prop_map(move |rest| format!("0{op}{rest}")))
}

/// How a citizen writes a phone so that anyone can tell it is one.
pub fn spell_phone(phone: String) -> impl Strategy<Value = String> {
    let nsn = phone[1..].to_string();
    let (a, b) = nsn.split_at(3);
    let (b, c) = b.split_at(4);
    let forms = vec![
        phone.clone(),
        format!("0{a}-{b}-{c}"),
        format!("0{a} {b} {c}"),
        format!("0{a}.{b}.{c}"),
        format!("+62 {a}-{b}-{c}"),
        format!("+62{nsn}"),
        format!("62{nsn}"),
        format!("HP0{nsn}"),
        format!("WA:+62{nsn}"),
        format!("(0{a}) {b} {c}"),
    ];
    prop::sample::select(forms)
}

/// The phone as only its owner's identity reveals it (no `0`, `62` or `+`).
pub fn spell_phone_bare(phone: String) -> impl Strategy<Value = String> {
    let nsn = phone[1..].to_string();
    let (a, b) = nsn.split_at(3);
    let (b, c) = b.split_at(4);
    prop::sample::select(vec![
        nsn.clone(),
        format!("{a} {b} {c}"),
        format!("{a}-{b}-{c}"),
    ])
}

/// A name: an optional Balinese or Islamic prefix and one or two given names.
pub fn name() -> impl Strategy<Value = String> {
    (
        prop::sample::select(PREFIXES),
        prop::sample::subsequence(GIVEN, 1..=2).prop_shuffle(),
    )
        .prop_map(|(p, g)| {
            let mut parts: Vec<&str> = Vec::new();
            if !p.is_empty() {
                parts.push(p);
            }
            parts.extend(g);
            parts.join(" ")
        })
}

/// An address: street and number, or banjar, then village and district.
pub fn address() -> impl Strategy<Value = String> {
    (
        prop::sample::select(STREETS),
        1u32..200,
        prop::sample::select(VILLAGES),
        any::<bool>(),
    )
        .prop_map(|(s, n, v, banjar)| {
            if banjar {
                format!("Banjar Dinas {s}, Desa {v}, Kec. Buleleng")
            } else {
                format!("Jl. {s} No. {n}, Desa {v}, Kec. Sukasada")
            }
        })
}

/// A random complainant with the spellings of their identity in texts.
pub fn citizen() -> impl Strategy<Value = Citizen> {
    (
        name(),
        address(),
        nik(),
        phone(),
        0u32..1000,
        0usize..4,
        0u32..3,
    )
        .prop_flat_map(|(name, address, nik, phone, n, domain, case)| {
            (
                Just((name, address, nik.clone(), phone.clone(), n, domain, case)),
                spell_nik(nik),
                spell_phone(phone.clone()),
                spell_phone_bare(phone),
                5_000_000_000i64..6_999_999_999,
                any::<bool>(),
            )
        })
        .prop_map(
            |(
                (name, address, nik, phone, n, domain, case),
                nik_spelled,
                phone_spelled,
                phone_bare,
                chat_id,
                glue,
            )| {
                let words: Vec<String> = name
                    .split(' ')
                    .filter(|w| !COMMON_NAME_WORDS.contains(&w.to_lowercase().as_str()))
                    .map(str::to_lowercase)
                    .collect();
                let local = format!("{}{n}", words.join("."));
                let name_spelled = match case {
                    0 => name.clone(),
                    1 => name.to_uppercase(),
                    _ => name.to_lowercase(),
                };
                let address_spelled = if glue {
                    address
                        .replacen("Jl.", "jalan", 1)
                        .replacen("No.", "nomor", 1)
                } else {
                    address.clone()
                };
                Citizen {
                    attachment_name: format!("KTP_{}_{nik}.jpg", name.replace(' ', "_")),
                    email: format!("{local}@{}", DOMAINS[domain]),
                    name,
                    address,
                    phone,
                    nik,
                    chat_id,
                    nik_spelled,
                    phone_spelled,
                    phone_bare,
                    name_spelled,
                    address_spelled,
                }
            },
        )
}

/// `n` values of `strategy` from a seeded generator: the seed is `ADUAN_ORACLE_SEED` when
/// set (to replay a failure), else random; it is returned so failures can name it.
pub fn sample<S: Strategy>(strategy: S, n: usize) -> (u64, Vec<S::Value>) {
    let seed: u64 = std::env::var("ADUAN_ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let values = (0..n)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("strategy generates")
                .current()
        })
        .collect();
    (seed, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::{mask_for, mask_text};

    fn oracle() -> PrivacyOracle {
        PrivacyOracle::new(
            &Identity {
                name: Some("Ni Made Sari Wulandari".into()),
                address: Some("Jl. Ngurah Rai No. 12, Desa Panji".into()),
                email: Some("sari.wulandari7@gmail.com".into()),
                phone: Some("0812-3456-7890".into()),
                handle: Some("5123456789".into()),
            },
            Some("5108014502900001"),
            &["KTP_Sari_5108014502900001.jpg"],
        )
    }

    /// Any UTF-8 after an `&` (a lossily decoded PNG in a mail): no panic, references still
    /// undone.
    #[test]
    fn unescape_takes_any_text() {
        assert_eq!(
            html_unescape("&s\u{fffd}\u{fffd}\u{fffd}\u{fffd}x;"),
            "&s\u{fffd}\u{fffd}\u{fffd}\u{fffd}x;"
        );
        assert_eq!(
            html_unescape("a&\u{1F600}\u{1F600}\u{1F600};b &amp; c"),
            "a&\u{1F600}\u{1F600}\u{1F600};b & c"
        );
        assert_eq!(html_unescape("Ngurah&#32;Rai"), "Ngurah Rai");
    }

    #[test]
    fn finds_identity_in_every_form() {
        let o = oracle();
        for leak in [
            "dari SARI WULANDARI",
            "wulandari",
            "Jl Ngurah Rai No 12",
            "sari.wulandari7",
            "Sari.Wulandari7@Gmail.com",
            "nik 5108 0145/0290-0001",
            "HP0812.3456.7890",
            "+62 812 3456 7890",
            "chat 5123456789",
            r#"{"t":"sari.wulandari7\u0040gmail.com"}"#,
            "Jl. Ngurah&#32;Rai No. 12",
            "ktp_sari_5108014502900001.jpg",
            "q=Sari%20Wulandari",
            "Wulandari88",
        ] {
            assert!(!o.leaks(leak).is_empty(), "missed: {leak}");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        let o = oracle();
        for clean in [
            "Pak Made dari loket 3, tanggal 12-03-2026 10.30, Rp 50.000",
            "Tiket ADU-202603-0012 selesai",
            r#"{"at":"2026-03-02T08:15:00.123Z","attempts":3}"#,
            "Desa Pemaron",
        ] {
            assert!(o.leaks(clean).is_empty(), "{clean}: {:?}", o.leaks(clean));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The masked complaint text carries no identity; tickets and ordinary numbers
        /// survive.
        #[test]
        fn masked_texts_are_clean(c in citizen()) {
            let o = PrivacyOracle::for_citizen(&c);
            let text = c.complaint_text(true);
            prop_assert!(!o.leaks(&text).is_empty());
            let masked = mask_for(&c.identity(), &text);
            prop_assert!(o.leaks(&masked).is_empty(), "{:?} in {}", o.leaks(&masked), masked);
            for keep in ["ADU-202601-0007", "3 Maret 2026", "antrian 12", "Rp 50.000", "2 kali"] {
                prop_assert!(masked.contains(keep), "{} lost: {}", keep, masked);
            }
            let att = mask_for(&c.identity(), &c.attachment_name);
            prop_assert!(o.leaks(&att).is_empty(), "{}", att);
        }

        /// Without knowing the identity, the generic mask still hides NIK, phone and e-mail.
        #[test]
        fn generic_mask_hides_numbers_and_addresses(c in citizen()) {
            let o = PrivacyOracle::new(
                &Identity { email: Some(c.email.clone()), phone: Some(c.phone.clone()), ..Default::default() },
                Some(&c.nik),
                &[],
            );
            let masked = mask_text(&c.complaint_text(false));
            prop_assert!(o.leaks(&masked).is_empty(), "{:?} in {}", o.leaks(&masked), masked);
        }
    }
}
