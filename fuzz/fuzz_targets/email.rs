//! Fuzz target: e-mail normalisation (`aduan_channel_email::normalize`). Invariants:
//! `aduan_fuzz_checks::email::normalize`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        // `normalize` contains a panic of mail-parser (`catch_unwind`: one bad mail must not
        // stall the mailbox). As in the daemon, such a panic is shown (stderr) but is no crash:
        // drop libfuzzer-sys's abort-on-any-panic hook for the default one. A panic that
        // escapes `normalize` still aborts (libfuzzer-sys's own `catch_unwind`).
        drop(std::panic::take_hook());
    },
    |data: &[u8]| aduan_fuzz_checks::email::normalize(data)
);
