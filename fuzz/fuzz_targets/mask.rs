//! Fuzz target: the mask (`aduan_core::mask`). Invariants: `aduan_fuzz_checks::mask::mask`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aduan_fuzz_checks::mask::mask(data));
