//! Every fuzz seed (`fuzz/seeds/<target>/`) and every input a fuzzer found
//! (`fuzz/regressions/<target>/`) through its target's invariants, in the normal test suite:
//! the fuzzers need a special build (`scripts/fuzz-smoke`), these inputs do not.

use std::path::{Path, PathBuf};

use aduan_fuzz_checks::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    out.sort();
    out
}

fn replay(target: &str, dir: &str) -> usize {
    let (_, check) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let inputs = files(&fuzz_dir().join(dir).join(target));
    for p in &inputs {
        let data = std::fs::read(p).expect("read the input");
        if let Err(e) = std::panic::catch_unwind(|| check(&data)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{target}: {} breaks an invariant: {msg}", p.display());
        }
    }
    inputs.len()
}

#[test]
fn every_target_has_a_fuzzer_and_seeds() {
    let bins: Vec<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    for (name, _) in TARGETS {
        assert!(bins.iter().any(|b| b == name), "no fuzz_targets/{name}.rs");
        assert!(
            !files(&fuzz_dir().join("seeds").join(name)).is_empty(),
            "no seeds for {name}"
        );
    }
    assert_eq!(
        bins.len(),
        TARGETS.len(),
        "a fuzz target without checks: {bins:?}"
    );
}

#[test]
fn email_seeds() {
    // The shared corpus (84 real mails) and the channel's fixtures: all of them are mail.
    let n = replay("email", "seeds");
    assert!(n >= 84, "{n} seeds");
    for p in files(&fuzz_dir().join("seeds/email")) {
        if p.extension().is_some_and(|e| e == "eml") {
            let data = std::fs::read(&p).unwrap();
            assert!(
                aduan_channel_email::normalize(&data, &aduan_fuzz_checks::email::LIMITS).is_ok(),
                "{} does not parse",
                p.display()
            );
        }
    }
    replay("email", "regressions");
}

#[test]
fn email_html_seeds() {
    replay("email_html", "seeds");
    replay("email_html", "regressions");
}

#[test]
fn meta_seeds() {
    replay("meta", "seeds");
    replay("meta", "regressions");
    // Meta's documented examples are deliveries the parser takes.
    for p in files(&fuzz_dir().join("seeds/meta")) {
        let data = std::fs::read(&p).unwrap();
        assert!(
            aduan_channel_meta::payload::parse(&data).is_ok(),
            "{} refused",
            p.display()
        );
    }
}

#[test]
fn telegram_seeds() {
    replay("telegram", "seeds");
    replay("telegram", "regressions");
    for p in files(&fuzz_dir().join("seeds/telegram")) {
        let data = std::fs::read(&p).unwrap();
        assert!(
            serde_json::from_slice::<serde_json::Value>(&data).is_ok(),
            "{} is not JSON",
            p.display()
        );
    }
}

#[test]
fn web_form_seeds() {
    replay("web_form", "seeds");
    replay("web_form", "regressions");
}

#[test]
fn config_seeds() {
    replay("config", "seeds");
    replay("config", "regressions");
}

#[test]
fn mask_seeds() {
    replay("mask", "seeds");
    replay("mask", "regressions");
}
