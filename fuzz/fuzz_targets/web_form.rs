//! Fuzz target: the web form, multipart and JSON intake through the real router. Invariants: `aduan_fuzz_checks::web::form`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aduan_fuzz_checks::web::form(data));
