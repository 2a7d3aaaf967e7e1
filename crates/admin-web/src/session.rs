//! Signed session cookies, their server-side record, and CSRF tokens.
//!
//! The session cookie is `base64url(payload) "." base64url(HMAC-SHA256(key, "session|" payload))`
//! with `payload = "v1|username|role|expiry-unix-seconds|nonce"`. Any replica holding the
//! same key can check the signature; the nonce names the session's row in the store
//! (`admin_sessions`, migration 0008), which every request looks up (one primary-key read, no
//! cache): a logout revokes the row, a password change or a disabled account revokes all of
//! the user's rows, on every replica and across restarts. Every request also re-reads the user
//! (a changed role ends the session at once). The CSRF token of a session is
//! `HMAC(key, "csrf|" nonce)`.
//!
//! The login form, which has no session yet, uses a signed double-submit cookie: a random
//! value `c` in a cookie and, in the form, a single-use token
//! `"v2." issued "." form-nonce "." base64url(HMAC(key, "login|" c "|" issued "|" form-nonce))`.
//! A token is accepted for [`LOGIN_TOKEN_MINUTES`] after it was issued, and only once: its
//! form nonce is spent in the store (`login_tokens`) before the password is checked.

use std::io::Write as _;
use std::path::Path;

use aduan_core::types::{Role, Username};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "aduan_sesi";
/// Name of the login form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "aduan_login";
/// How long a login form's token is accepted after it was issued.
pub const LOGIN_TOKEN_MINUTES: i64 = 30;

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

    /// A new single-use login form token for the double-submit cookie value `cookie`,
    /// issued at `now` (Unix seconds).
    pub fn login_token(&self, cookie: &str, now: i64) -> String {
        let form = new_nonce();
        let tag = self.sign("login", format!("{cookie}|{now}|{form}").as_bytes());
        format!("v2.{now}.{form}.{}", B64.encode(tag))
    }

    /// If `token` was issued by [`Keys::login_token`] for `cookie` and is still within its
    /// time at `now`: its form nonce (to spend once) and the end of its validity.
    pub fn check_login_token(&self, cookie: &str, token: &str, now: i64) -> Option<(String, i64)> {
        let mut parts = token.trim().split('.');
        let (v, issued, form, tag) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if v != "v2" || parts.next().is_some() || !plausible_nonce(form) || issued.len() > 20 {
            return None;
        }
        let tag = B64.decode(tag).ok()?;
        if !self.verify(
            "login",
            format!("{cookie}|{issued}|{form}").as_bytes(),
            &tag,
        ) {
            return None;
        }
        let issued: i64 = issued.parse().ok()?;
        let until = issued + LOGIN_TOKEN_MINUTES * 60;
        // A token from the future (clock skew between replicas) is allowed a minute.
        if now >= until || issued > now + 60 {
            return None;
        }
        Some((form.to_string(), until))
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
        let now = 1_900_000_000;
        let l = k.login_token(&a, now);
        let (form, until) = k.check_login_token(&a, &l, now).unwrap();
        assert!(plausible_nonce(&form));
        assert_eq!(until, now + LOGIN_TOKEN_MINUTES * 60);
        // Another cookie, another key, an expired or tampered token: refused.
        assert!(k.check_login_token(&b, &l, now).is_none());
        assert!(
            Keys::new(&[2u8; 32])
                .check_login_token(&a, &l, now)
                .is_none()
        );
        assert!(k.check_login_token(&a, &l, until).is_none());
        let later = l.replacen(&format!("v2.{now}."), &format!("v2.{}.", now + 600), 1);
        assert!(k.check_login_token(&a, &later, now + 600).is_none());
        // Two forms get two tokens with different nonces.
        let (form2, _) = k
            .check_login_token(&a, &k.login_token(&a, now), now)
            .unwrap();
        assert_ne!(form, form2);
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
