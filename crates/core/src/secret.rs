//! Random secrets (access codes, API tokens) and their stored hashes.
//!
//! Both are high-entropy random strings, so a single SHA-256 is an adequate stored form
//! (a slow password hash would only add latency to every request); comparison of hashes
//! is done in constant time.
//!
//! An access code travels to the citizen once, inside the acknowledgement: it sits in the
//! outbox row's variables only while the acknowledgement is pending
//! ([`SECRET_REPLY_VARS`], dropped by [`without_secret_vars`] when the row is sent or
//! fails for good), and the conversation keeps the acknowledgement as sent with the code
//! replaced by [`REDACTED`] ([`redact_secrets`]).

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

/// A digest no access code has (not hex): what a code is compared against when the
/// ticket it came with does not exist or has no code, so both cases cost the same.
const NO_DIGEST: &str = "----------------------------------------------------------------";

/// Whether `code` is the access code whose digest is `stored`; with `None` (unknown
/// ticket, or a complaint without a code) the same work is done and the answer is false.
pub fn verify_access_code(stored: Option<&str>, code: &str) -> bool {
    #[cfg(any(test, feature = "testing"))]
    VERIFICATIONS.with(|v| v.set(v.get() + 1));
    let ok = constant_time_eq(stored.unwrap_or(NO_DIGEST), &hash_secret(code));
    ok && stored.is_some()
}

#[cfg(any(test, feature = "testing"))]
thread_local! {
    static VERIFICATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Access-code verifications this thread has done (tests: an unknown ticket and a wrong
/// code take the same path).
#[cfg(any(test, feature = "testing"))]
pub fn access_code_verifications() -> u64 {
    VERIFICATIONS.with(|v| v.get())
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

/// Reply variables that carry a secret meant for the citizen alone: rendered into the one
/// message that goes out, never kept after it left.
pub const SECRET_REPLY_VARS: &[&str] = &["access_code"];

/// What a stored copy of a sent reply shows in place of a secret.
pub const REDACTED: &str = "••••••";

/// `vars` without the [`SECRET_REPLY_VARS`] (anything that is not an object is kept).
pub fn without_secret_vars(vars: &serde_json::Value) -> serde_json::Value {
    let mut v = vars.clone();
    if let Some(o) = v.as_object_mut() {
        for k in SECRET_REPLY_VARS {
            o.remove(*k);
        }
    }
    v
}

/// `text` with every occurrence of a secret variable's value in `vars` replaced by
/// [`REDACTED`], ignoring ASCII case (access codes are accepted in any case).
pub fn redact_secrets(text: &str, vars: &serde_json::Value) -> String {
    let mut out = text.to_string();
    for k in SECRET_REPLY_VARS {
        let Some(secret) = vars.get(*k).and_then(|v| v.as_str()).map(str::trim) else {
            continue;
        };
        if secret.is_empty() {
            continue;
        }
        let re = regex::RegexBuilder::new(&regex::escape(secret))
            .case_insensitive(true)
            .build();
        if let Ok(re) = re {
            out = re.replace_all(&out, REDACTED).into_owned();
        }
    }
    out
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

    #[test]
    fn secrets_leave_the_vars_and_the_stored_text() {
        let vars = serde_json::json!({"access_code": "ABCD234567", "office": "Disdukcapil"});
        assert_eq!(
            without_secret_vars(&vars),
            serde_json::json!({"office": "Disdukcapil"})
        );
        let text = "Kode akses Anda: ABCD234567\nhttp://x/status?code=abcd234567 Disdukcapil";
        let red = redact_secrets(text, &vars);
        assert_eq!(
            red,
            format!("Kode akses Anda: {REDACTED}\nhttp://x/status?code={REDACTED} Disdukcapil")
        );
        // Nothing secret: unchanged.
        let plain = serde_json::json!({"office": "Disdukcapil"});
        assert_eq!(redact_secrets(text, &plain), text);
        assert_eq!(without_secret_vars(&plain), plain);
    }
}
