//! The holiday files of `[calendar] holidays`: a path, a list, or one `*` in the file name
//! (`config/holidays-*.toml`), each a year of dated closures checked by
//! [`HolidayFile::parse`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use aduan_core::calendar::HolidayFile;
use chrono::NaiveDate;

use super::OneOrMany;

/// The closed dates (of the observed `kinds`) and the years the files cover; problems are
/// pushed to `errors`, each naming `calendar.holidays`.
pub(super) fn load(
    base: &Path,
    holidays: Option<&OneOrMany>,
    kinds: Option<&HashSet<&str>>,
    errors: &mut Vec<String>,
) -> (Vec<NaiveDate>, Vec<i32>) {
    let mut closed = Vec::new();
    let mut known_years = Vec::new();
    let patterns = match holidays {
        None => vec![],
        Some(OneOrMany::One(p)) => vec![p.clone()],
        Some(OneOrMany::Many(v)) => v.clone(),
    };
    for pattern in patterns {
        let rp = Path::new(&pattern);
        let resolved = match (rp.file_name(), rp.parent()) {
            (Some(n), Some(dir)) if n.to_string_lossy().contains('*') => {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                resolve(base, dir).join(n)
            }
            _ => resolve(base, rp),
        };
        let files = match expand_holiday_pattern(&resolved) {
            Ok(f) => f,
            Err(e) => {
                errors.push(format!("`calendar.holidays`: {e}"));
                continue;
            }
        };
        for p in files {
            match std::fs::read_to_string(&p) {
                Err(e) => errors.push(format!(
                    "`calendar.holidays`: cannot read {}: {e}",
                    p.display()
                )),
                Ok(text) => match HolidayFile::parse(&text) {
                    Err(e) => errors.push(format!(
                        "`calendar.holidays`: {}: {}",
                        p.display(),
                        e.problem
                    )),
                    Ok(h) => {
                        known_years.extend(h.years());
                        closed.extend(
                            h.holiday
                                .into_iter()
                                .filter(|h| kinds.is_none_or(|k| k.contains(h.kind.as_str())))
                                .map(|h| h.date),
                        );
                    }
                },
            }
        }
    }
    (closed, known_years)
}

/// The files a `calendar.holidays` entry names: the path itself, or with one `*` in its
/// file name (`config/holidays-*.toml`) every matching file of that directory, sorted, at
/// least one.
fn expand_holiday_pattern(p: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some((prefix, suffix)) = name.split_once('*') else {
        return Ok(vec![p.to_path_buf()]);
    };
    if suffix.contains('*') {
        return Err(format!("{}: only one `*` is supported", p.display()));
    }
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            (n.len() >= prefix.len() + suffix.len() && n.starts_with(prefix) && n.ends_with(suffix))
                .then(|| dir.join(n))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no file matches {}", p.display()));
    }
    Ok(files)
}

/// Resolve a relative path against the working directory, then the config file's folder.
pub(super) fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() || p.exists() {
        return p.to_path_buf();
    }
    let beside = base.join(p);
    if beside.exists() {
        return beside;
    }
    if let Some(parent) = base.parent() {
        let up = parent.join(p);
        if up.exists() {
            return up;
        }
    }
    p.to_path_buf()
}
