//! Stateless signed sessions and CSRF tokens.
//!
//! The session cookie is `base64url(payload) "." base64url(HMAC-SHA256(key, "session|" payload))`
//! with `payload = "v1|username|role|expiry-unix-seconds|nonce"`. Nothing is stored on the
//! server, so any replica holding the same key accepts the cookie; every request still
//! re-reads the user from the store (disabled users and changed roles lose their session at
//! once). The CSRF token of a session is `HMAC(key, "csrf|" nonce)`; the login form, which
//! has no session yet, uses a signed double-submit cookie: a random value in a cookie and
//! `HMAC(key, "login|" value)` in the form.
//!
//! Logout clears the cookie and records the session's nonce as revoked until its expiry, in
//! memory of the replica that served the logout (see [`Revoked`]).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use aduan_core::types::{Role, Username};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "aduan_sesi";
/// Name of the login form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "aduan_login";

/// The contents of a valid session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionData {
    pub username: String,
    pub role: Role,
    /// Expiry as Unix seconds.
    pub expires: i64,
    /// Random per login; the CSRF token and revocation hang on it.
    pub nonce: String,
}

/// The HMAC key and what is derived from it.
pub struct Keys {
    mac: HmacSha256,
}

impl Keys {
    pub fn new(key: &[u8; 32]) -> Self {
        Keys {
            // HMAC takes keys of any length; a 32-byte key cannot be refused.
            mac: HmacSha256::new_from_slice(key).expect("HMAC accepts any key length"),
        }
    }

    fn sign(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(purpose.as_bytes());
        m.update(b"|");
        m.update(data);
        let out = m.finalize().into_bytes();
        let mut a = [0u8; 32];
        a.copy_from_slice(&out);
        a
    }

    fn verify(&self, purpose: &str, data: &[u8], tag: &[u8]) -> bool {
        let mut m = self.mac.clone();
        m.update(purpose.as_bytes());
        m.update(b"|");
        m.update(data);
        m.verify_slice(tag).is_ok()
    }

    /// The cookie value of a session.
    pub fn seal(&self, s: &SessionData) -> String {
        let payload = format!(
            "v1|{}|{}|{}|{}",
            s.username,
            s.role.as_str(),
            s.expires,
            s.nonce
        );
        let tag = self.sign("session", payload.as_bytes());
        format!("{}.{}", B64.encode(payload), B64.encode(tag))
    }

    /// A session from a cookie value, if the signature holds (expiry is checked by the caller).
    pub fn open(&self, cookie: &str) -> Option<SessionData> {
        let (p, t) = cookie.split_once('.')?;
        if p.len() > 512 || t.len() > 64 {
            return None;
        }
        let payload = B64.decode(p).ok()?;
        let tag = B64.decode(t).ok()?;
        if !self.verify("session", &payload, &tag) {
            return None;
        }
        let payload = String::from_utf8(payload).ok()?;
        let mut parts = payload.split('|');
        let (v, user, role, exp, nonce) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if v != "v1" || parts.next().is_some() {
            return None;
        }
        Username::parse(user).ok()?;
        Some(SessionData {
            username: user.to_string(),
            role: role.parse().ok()?,
            expires: exp.parse().ok()?,
            nonce: nonce.to_string(),
        })
    }

    /// The CSRF token of a session (hidden field `csrf` of every form).
    pub fn csrf_token(&self, nonce: &str) -> String {
        B64.encode(self.sign("csrf", nonce.as_bytes()))
    }

    /// Does `token` belong to the session with `nonce`?
    pub fn check_csrf(&self, nonce: &str, token: &str) -> bool {
        match B64.decode(token.trim()) {
            Ok(tag) => self.verify("csrf", nonce.as_bytes(), &tag),
            Err(_) => false,
        }
    }

    /// The login form's token for the double-submit cookie value `cookie`.
    pub fn login_token(&self, cookie: &str) -> String {
        B64.encode(self.sign("login", cookie.as_bytes()))
    }

    pub fn check_login_token(&self, cookie: &str, token: &str) -> bool {
        match B64.decode(token.trim()) {
            Ok(tag) => self.verify("login", cookie.as_bytes(), &tag),
            Err(_) => false,
        }
    }
}

/// A new random nonce (128 bits, hex).
pub fn new_nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Is `s` something [`new_nonce`] could have made?
pub fn plausible_nonce(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, `Secure` when asked.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Strict{}",
        max_age.max(0),
        if secure { "; Secure" } else { "" }
    )
}

/// Sessions ended by logout before their expiry, per replica: nonce → expiry.
///
/// Stateless cookies cannot be recalled from a browser that kept a copy; this list makes a
/// logged-out cookie useless on the replica that served the logout. Other replicas accept
/// such a copy until it expires (`session_ttl`), which is why the TTL should stay short.
#[derive(Default)]
pub struct Revoked {
    inner: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Revoked {
    /// Most revocations remembered; beyond it the oldest expiries are dropped first.
    const MAX: usize = 100_000;

    pub fn revoke(&self, nonce: &str, until: DateTime<Utc>, now: DateTime<Utc>) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|_, exp| *exp > now);
        if m.len() >= Self::MAX
            && let Some(oldest) = m.iter().min_by_key(|(_, e)| **e).map(|(k, _)| k.clone())
        {
            m.remove(&oldest);
        }
        m.insert(nonce.to_string(), until);
    }

    pub fn is_revoked(&self, nonce: &str) -> bool {
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        m.contains_key(nonce)
    }
}

/// A session key from a configured secret (e.g. a config value shared by all replicas):
/// HMAC-SHA256 of a fixed label under the secret, so the key is not the secret itself.
pub fn session_key_from_secret(secret: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    m.update(b"aduan admin-web session key v1");
    let out = m.finalize().into_bytes();
    let mut a = [0u8; 32];
    a.copy_from_slice(&out);
    a
}

/// Read the session key from `path` (64 hex digits), or create the file with a new random
/// key (mode 0600) when it does not exist. For one server; replicas must share one key.
pub fn load_or_create_session_key(path: &Path) -> std::io::Result<[u8; 32]> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: not 64 hex digits: {e}", path.display()),
                )
            })?;
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: expected 32 bytes (64 hex digits)", path.display()),
                )
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = rand::random();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                opts.mode(0o600);
            }
            match opts.open(path) {
                Ok(mut f) => {
                    f.write_all(hex::encode(key).as_bytes())?;
                    f.write_all(b"\n")?;
                    f.sync_all()?;
                    Ok(key)
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    load_or_create_session_key(path)
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SessionData {
        SessionData {
            username: "kasi.ayu".into(),
            role: Role::Kasi,
            expires: 1_900_000_000,
            nonce: new_nonce(),
        }
    }

    #[test]
    fn sealed_sessions_open_and_tampering_is_refused() {
        let k = Keys::new(&[7u8; 32]);
        let s = sample();
        let c = k.seal(&s);
        assert_eq!(k.open(&c), Some(s.clone()));
        // Another key refuses it.
        assert_eq!(Keys::new(&[8u8; 32]).open(&c), None);
        // A changed role with the old tag is refused.
        let (_, tag) = c.split_once('.').unwrap();
        let forged = format!(
            "{}.{tag}",
            B64.encode(format!("v1|kasi.ayu|kabid|1900000000|{}", s.nonce))
        );
        assert_eq!(k.open(&forged), None);
        for junk in ["", ".", "abc", "a.b", "%%%.%%%", &"x".repeat(2000)] {
            assert_eq!(k.open(junk), None, "{junk}");
        }
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session() {
        let k = Keys::new(&[1u8; 32]);
        let a = new_nonce();
        let b = new_nonce();
        let t = k.csrf_token(&a);
        assert!(k.check_csrf(&a, &t));
        assert!(!k.check_csrf(&b, &t));
        assert!(!k.check_csrf(&a, ""));
        assert!(!k.check_csrf(&a, "not base64!"));
        let l = k.login_token(&a);
        assert!(k.check_login_token(&a, &l));
        assert!(!k.check_login_token(&b, &l));
        // A login token is not a CSRF token.
        assert!(!k.check_csrf(&a, &l));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = axum::http::HeaderMap::new();
        h.append(
            axum::http::header::COOKIE,
            "a=1; aduan_sesi=xyz.abc".parse().unwrap(),
        );
        h.append(axum::http::header::COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie_value(&h, SESSION_COOKIE), Some("xyz.abc"));
        assert_eq!(cookie_value(&h, "b"), Some("2"));
        assert_eq!(cookie_value(&h, "c"), None);
    }

    #[test]
    fn keys_are_persisted_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/session.key");
        let a = load_or_create_session_key(&p).unwrap();
        let b = load_or_create_session_key(&p).unwrap();
        assert_eq!(a, b);
        std::fs::write(&p, "zz").unwrap();
        assert!(load_or_create_session_key(&p).is_err());
        assert_ne!(session_key_from_secret(b"a"), session_key_from_secret(b"b"));
    }
}
