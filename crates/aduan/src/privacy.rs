//! The identity key ring of `[privacy]` (SPEC §2, §6): loaded from `ADUAN__PRIVACY__KEY` or
//! the key file (created 0600 with a new key on first start), turned into the store's vault.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use aduan_store::{KeyRing, Vault};

use crate::config::PrivacyConfig;

/// Where the ring comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `ADUAN__PRIVACY__KEY` (or `[privacy] key`).
    Environment,
    /// The key file.
    File(PathBuf),
}

/// The configured ring and where it came from; creates the key file when it is missing.
pub fn load_ring(cfg: &PrivacyConfig) -> anyhow::Result<(KeyRing, KeySource)> {
    if let Some(k) = cfg.key.as_deref().filter(|k| !k.trim().is_empty()) {
        let ring = KeyRing::parse(k).context("privacy.key (ADUAN__PRIVACY__KEY)")?;
        return Ok((ring, KeySource::Environment));
    }
    let path = Path::new(&cfg.key_file).to_path_buf();
    let (ring, created) = KeyRing::load_or_create(&path)?;
    if created {
        tracing::warn!(
            key_file = %path.display(),
            "created a new identity key; back it up with the database (without it the \
             stored identities cannot be read)"
        );
    }
    Ok((ring, KeySource::File(path)))
}

/// The store's vault for the configured ring.
pub fn vault(cfg: &PrivacyConfig) -> anyhow::Result<Vault> {
    let (ring, _) = load_ring(cfg)?;
    Ok(Vault::new(&ring))
}
