//! The configuration loader: `aduan.toml`, `ADUAN__…` environment overrides and a holiday
//! file, as `aduan check-config` and the daemon's start read them.
//!
//! Input: the configuration text, then optionally a line `%%holidays` and the text of a
//! holiday file (written beside the configuration as `holidays-fuzz.toml`), then optionally
//! a line `%%env` and `NAME=value` lines taken as the environment.

use aduan::config::{OneOrMany, Settings, load as load_settings, render_masked};
use aduan_core::calendar::HolidayFile;

use crate::split_at_line;

/// Load and validate one configuration.
pub fn load(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // the loader reads the file as UTF-8 and says so
    };
    let (head, env) = split_at_line(text, "%%env");
    let (text, holidays) = split_at_line(head, "%%holidays");
    let env: Vec<(String, String)> = env
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();

    if let Some(h) = holidays
        && let Ok(file) = HolidayFile::parse(h)
    {
        let _ = file.years();
    }

    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("aduan.toml");
    std::fs::write(&path, text).expect("write the configuration");
    if let Some(h) = holidays {
        std::fs::write(dir.path().join("holidays-fuzz.toml"), h).expect("write the holidays");
    }
    let Ok(settings) = load_settings(&path, env) else {
        return;
    };
    let shown = render_masked(&settings);
    let back: Result<Settings, _> = toml::from_str(&shown);
    assert!(
        back.is_ok(),
        "the masked configuration does not read back: {:?}\n{shown}",
        back.err()
    );
    // Validation reads the files the configuration names; the target keeps it to the
    // holiday file beside it (no other path of this machine, no folder listing).
    if !names_only_the_fuzzed_files(&settings) {
        return;
    }
    let _ = settings.validate(&path);
}

fn names_only_the_fuzzed_files(s: &Settings) -> bool {
    let plain = |p: &str| p == "holidays-fuzz.toml";
    let holidays_ok = match &s.calendar.holidays {
        None => true,
        Some(OneOrMany::One(p)) => plain(p),
        Some(OneOrMany::Many(v)) => v.iter().all(|p| plain(p)),
    };
    holidays_ok && s.office.templates_dir.is_none()
}
