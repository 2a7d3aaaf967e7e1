//! The mask of personal data ([`aduan_core::mask`]): `mask_text`, `IdentityMask` (through
//! `mask_for`) and `without_recipient`.
//!
//! Input: five lines — the complainant's name, address, e-mail, phone and channel handle
//! (an empty line: none) — then the text to mask.

use std::sync::LazyLock;

use aduan_core::mask::{
    MASK_ADDRESS, MASK_EMAIL, MASK_HANDLE, MASK_NAME, MASK_NIK, MASK_PHONE, RECIPIENT_PLACEHOLDER,
    mask_for, mask_text, without_recipient,
};
use aduan_core::model::Identity;
use regex::Regex;

/// Ticket numbers, which the mask leaves alone by design (the mask's own pattern).
static TICKET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[A-Z0-9]*[A-Z][A-Z0-9]*-20\d\d(?:0[1-9]|1[0-2])-\d{4,12}\b")
        .expect("valid regex")
});

/// Mask one text, with and without an identity.
pub fn mask(data: &[u8]) {
    let data = String::from_utf8_lossy(data);
    let mut lines = data.splitn(6, '\n');
    let mut field = || {
        lines
            .next()
            .map(|l| l.trim_end_matches('\r').to_string())
            .filter(|l| !l.is_empty())
    };
    let identity = Identity {
        name: field(),
        address: field(),
        email: field(),
        phone: field(),
        handle: field(),
    };
    let text = lines.next().unwrap_or("");

    let generic = mask_text(text);
    no_nik_left(text, &generic);
    let personal = mask_for(&identity, text);
    no_nik_left(text, &personal);

    // A field that is exactly the complainant's e-mail address never shows it.
    if let Some(email) = identity.email.as_deref().map(str::trim)
        && aduan_core::types::EmailAddress::parse(email).is_ok()
        && !TICKET.is_match(email)
        && email.len() >= 6
    {
        let shown = without_placeholders(&mask_for(&identity, email));
        assert!(
            !shown.to_lowercase().contains(&email.to_lowercase()),
            "the identity's address {email:?} shown as {shown:?}"
        );
    }

    // A reply's recipient (an address or an account name) is taken out of an error text.
    if let Some(r) = identity.email.as_deref().or(identity.handle.as_deref()) {
        let r = r.trim();
        let wordy = r.len() >= 5
            && r.chars()
                .all(|c| c.is_ascii_alphanumeric() || "@._+-".contains(c))
            && r.chars().any(|c| c.is_ascii_alphabetic());
        if wordy {
            let out = without_placeholders(&without_recipient(text, r));
            assert!(
                !out.to_ascii_lowercase().contains(&r.to_ascii_lowercase()),
                "recipient {r:?} left in {out:?}"
            );
        }
    }
}

/// The masked text with every placeholder cut out (a placeholder is not personal data).
fn without_placeholders(s: &str) -> String {
    [
        MASK_EMAIL,
        MASK_NIK,
        MASK_PHONE,
        MASK_NAME,
        MASK_ADDRESS,
        MASK_HANDLE,
        RECIPIENT_PLACEHOLDER,
    ]
    .iter()
    .fold(s.to_string(), |acc, p| acc.replace(p, "\u{0}"))
}

/// No run of exactly 16 ASCII digits (a NIK or KK number) outside a ticket number.
fn no_nik_left(input: &str, out: &str) {
    let tickets: Vec<(usize, usize)> = TICKET
        .find_iter(out)
        .map(|m| (m.start(), m.end()))
        .collect();
    let b = out.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let in_ticket = tickets.iter().any(|&(s, e)| s <= start && i <= e);
        assert!(
            i - start != 16 || in_ticket,
            "16-digit number {:?} left unmasked in {out:?} (input {input:?})",
            &out[start..i]
        );
    }
}
