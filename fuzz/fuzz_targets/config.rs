//! Fuzz target: the configuration loader (`aduan::config`), holiday files, env overrides. Invariants: `aduan_fuzz_checks::config::load`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aduan_fuzz_checks::config::load(data));
