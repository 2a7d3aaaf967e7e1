//! Random secrets (access codes, API tokens) and their stored hashes.
//!
//! Both are high-entropy random strings, so a single SHA-256 is an adequate stored form
//! (a slow password hash would only add latency to every request); comparison of hashes
//! is done in constant time.

use rand::Rng;
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Alphabet without look-alikes (no 0/O, 1/I/L) so codes can be read over the phone.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

fn random_string(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A new access code for a complaint: 10 symbols (about 49 bits).
pub fn new_access_code() -> String {
    random_string(10)
}

/// A new staff API token: `adu_` and 32 symbols (about 158 bits).
pub fn new_api_token() -> String {
    format!("adu_{}", random_string(32))
}

/// Hex SHA-256 of a secret, as stored. Access codes are compared case-insensitively.
pub fn hash_secret(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(secret.trim().to_ascii_uppercase().as_bytes());
    hex::encode(h.finalize())
}

/// Constant-time equality of two strings of possibly different length.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// A configured secret (password, token, app secret): never printed, never logged.
///
/// `Debug` shows `"********"`; serializing gives `"********"` (or `""` when unset, so a
/// dumped configuration still tells a missing secret from a set one).
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Unset (empty) secret.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"********\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "********" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_random_and_hash_stably() {
        let a = new_access_code();
        assert_eq!(a.len(), 10);
        assert_ne!(a, new_access_code());
        assert_eq!(hash_secret(&a), hash_secret(&a.to_lowercase()));
        assert!(new_api_token().starts_with("adu_"));
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
