//! Fuzz target: Meta webhook deliveries (`aduan_channel_meta::payload::parse`). Invariants: `aduan_fuzz_checks::meta::payload`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aduan_fuzz_checks::meta::payload(data));
