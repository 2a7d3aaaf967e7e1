//! Fuzz target: Telegram updates (webhook JSON, then intake's reading). Invariants: `aduan_fuzz_checks::telegram::update`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aduan_fuzz_checks::telegram::update(data));
