//! Fuzz target: HTML→text (`aduan_channel_email::html::html_to_text`). Invariants: `aduan_fuzz_checks::email::html`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aduan_fuzz_checks::email::html(data));
