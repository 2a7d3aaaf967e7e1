//! Inputs the fuzzers found (`fuzz/`, docs/fuzzing.md) that broke an invariant of the
//! configuration loader, each kept as a test. The raw inputs are in
//! `fuzz/regressions/config/`, which the fuzz replay test runs too.

use aduan::config::{Settings, load, render_masked};

/// `aduan check-config` prints the effective configuration; what it prints must load again.
/// The web rate limit was printed as `20/1h` (humantime's spelling), which the loader
/// refuses: only `N/second|minute|hour|day` (or `s`, `m`, `h`, `d`) are units.
#[test]
fn printed_rate_limit_loads_again() {
    let dir = tempfile::tempdir().unwrap();
    for (given, printed) in [
        (None, "20/hour"),
        (Some("5/s"), "5/second"),
        (Some("30/min"), "30/minute"),
        (Some("20/hour"), "20/hour"),
        (Some("100/d"), "100/day"),
        (Some("off"), "off"),
    ] {
        let web = given.map_or(String::new(), |g| {
            format!("[channels.web]\nrate_limit = \"{g}\"\n")
        });
        let path = dir.path().join("aduan.toml");
        std::fs::write(
            &path,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\npublic_base_url = \"http://127.0.0.1\"\n\
                 [database]\nurl = \"sqlite::memory:\"\n\
                 [office]\nname = \"Kantor\"\ntimezone = \"Asia/Makassar\"\nticket_prefix = \"ADU\"\n{web}"
            ),
        )
        .unwrap();
        let settings = load(&path, []).unwrap();
        let shown = render_masked(&settings);
        assert!(
            shown.contains(&format!("rate_limit = \"{printed}\"")),
            "{given:?} printed as:\n{shown}"
        );
        let back: Settings = toml::from_str(&shown).unwrap_or_else(|e| panic!("{e}\n{shown}"));
        assert_eq!(
            back.channels.web.0.rate_limit,
            settings.channels.web.0.rate_limit
        );
    }
}
