//! Masking of personal data in free text for users who must not see the complainant's
//! identity (role `bidang`): e-mail addresses, phone numbers and 16-digit NIKs.

use regex::Regex;
use std::sync::LazyLock;

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+").expect("valid regex")
});
/// 16 digits standing alone (NIK / KK number), optionally grouped by spaces or dots.
static NIK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d{6}[ .]?\d{6}[ .]?\d{4}\b").expect("valid regex"));
/// Indonesian and international phone numbers: +62 / 62 / 0 followed by 8-14 more digits,
/// with optional spaces, dots or dashes between groups.
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:\+|\b)(?:\d[ .\-]?){8,15}\d\b").expect("valid regex"));

/// Replacement texts (Indonesian, shown to staff).
pub const MASK_EMAIL: &str = "[email disamarkan]";
pub const MASK_NIK: &str = "[NIK disamarkan]";
pub const MASK_PHONE: &str = "[nomor disamarkan]";

/// Mask e-mail addresses, NIKs and phone numbers in `text`.
pub fn mask_text(text: &str) -> String {
    let s = EMAIL.replace_all(text, MASK_EMAIL);
    let s = NIK.replace_all(&s, MASK_NIK);
    let s = PHONE.replace_all(&s, MASK_PHONE);
    s.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn leaves_ordinary_numbers_alone() {
        let t = "Antrian nomor 12 pada 3 Maret 2026 jam 10.30, biaya Rp 50.000";
        assert_eq!(mask_text(t), t);
    }
}
