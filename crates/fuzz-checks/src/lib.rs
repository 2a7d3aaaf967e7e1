//! The fuzz targets of aduan, as plain functions: one per parser of outside input, each
//! taking the raw bytes an attacker controls and panicking when an invariant breaks.
//!
//! The libFuzzer binaries in `fuzz/fuzz_targets/` call these (coverage-guided, on the stable
//! toolchain: see `docs/fuzzing.md`), and `tests/replay.rs` runs every seed of
//! `fuzz/seeds/<target>/` and every regression of `fuzz/regressions/<target>/` through them in
//! the normal test suite, so `./test.sh` checks them without a fuzzer.
//!
//! | target | parser | invariants beyond "no panic" |
//! |---|---|---|
//! | `email` | [`aduan_channel_email::normalize`] | limits hold, hash is the input's, tag valid |
//! | `email_html` | [`aduan_channel_email::html::html_to_text`] | output ≤ 2 × input, trimmed, ≤ 1 blank line |
//! | `meta` | [`aduan_channel_meta::payload::parse`], signature check | a message has an id, a sender and content |
//! | `telegram` | the webhook's JSON, then intake's reading of the update | name ≤ 200 chars, ≤ 3 valid tickets |
//! | `web_form` | the real web router: form, multipart, JSON intake | never a 5xx, never unescaped `<script` |
//! | `config` | `aduan::config::{load, validate}`, holiday files, `ADUAN__` overrides | the masked rendering reads back |
//! | `mask` | [`aduan_core::mask`] | no 16-digit run left outside tickets; the identity's address hidden |

pub mod config;
pub mod email;
pub mod mask;
pub mod meta;
pub mod telegram;
pub mod web;

/// A target: the raw input in, a panic when an invariant breaks.
pub type Check = fn(&[u8]);

/// Every target by name (the names of `fuzz/fuzz_targets/*.rs` and `fuzz/seeds/*/`).
pub const TARGETS: &[(&str, Check)] = &[
    ("email", email::normalize),
    ("email_html", email::html),
    ("meta", meta::payload),
    ("telegram", telegram::update),
    ("web_form", web::form),
    ("config", config::load),
    ("mask", mask::mask),
];

/// Split `data` at the first line that is exactly `marker` (the line itself is dropped).
pub(crate) fn split_at_line<'a>(data: &'a str, marker: &str) -> (&'a str, Option<&'a str>) {
    let mut at = 0;
    for line in data.split_inclusive('\n') {
        if line.trim_end_matches(['\r', '\n']) == marker {
            return (&data[..at], Some(&data[at + line.len()..]));
        }
        at += line.len();
    }
    (data, None)
}
