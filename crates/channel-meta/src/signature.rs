//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw request body keyed with the App Secret,
//! sent as `sha256=<lowercase hex>`, checked in constant time before anything is parsed.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Name of the signature header.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    Missing,
    /// Not `sha256=` followed by 64 hex digits.
    Malformed,
    /// Well formed, but not the HMAC of this body under the App Secret.
    Mismatch,
    /// No App Secret configured: nothing can be verified.
    NoSecret,
}

impl SignatureError {
    /// Text for the 401 answer and the log.
    pub fn message(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing X-Hub-Signature-256 header",
            SignatureError::Malformed => "malformed X-Hub-Signature-256 header",
            SignatureError::Mismatch => "X-Hub-Signature-256 does not match the body",
            SignatureError::NoSecret => "webhook signature cannot be verified (no app secret)",
        }
    }
}

/// Verify `header` (the header value, if any) against `body` under `secret`.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&[u8]>) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let header = header.ok_or(SignatureError::Missing)?;
    let header = std::str::from_utf8(header).map_err(|_| SignatureError::Malformed)?;
    let (scheme, hex_tag) = header
        .trim()
        .split_once('=')
        .ok_or(SignatureError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("sha256") || hex_tag.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let tag = hex::decode(hex_tag).map_err(|_| SignatureError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::NoSecret)?;
    mac.update(body);
    mac.verify_slice(&tag).map_err(|_| SignatureError::Mismatch)
}

/// The header value Meta would send for `body` (for tests and tools).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail; an empty MAC is never valid.
    match HmacSha256::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of the channel fact sheet (§1.2).
    const BODY: &str = r#"{"object":"page","entry":[{"id":"PAGE_ID_1","time":1767225600000,"messaging":[{"sender":{"id":"PSID_1"},"recipient":{"id":"PAGE_ID_1"},"timestamp":1767225599000,"message":{"mid":"m_test_1","text":"Jalan rusak di Jl. Ngurah Rai"}}]}]}"#;
    const SIG: &str = "sha256=604471c94d2c75c04234e40c3dd23a6d1cab18fa9a2f9351615c458e1c6284d4";

    #[test]
    fn reference_vector() {
        assert_eq!(BODY.len(), 233);
        assert_eq!(sign(b"test_app_secret", BODY.as_bytes()), SIG);
        assert_eq!(
            verify(b"test_app_secret", BODY.as_bytes(), Some(SIG.as_bytes())),
            Ok(())
        );
        let upper = SIG.to_uppercase().replacen("SHA256", "sha256", 1);
        assert_eq!(
            verify(b"test_app_secret", BODY.as_bytes(), Some(upper.as_bytes())),
            Ok(())
        );
    }

    #[test]
    fn refusals() {
        let b = BODY.as_bytes();
        let s = b"test_app_secret";
        assert_eq!(verify(s, b, None), Err(SignatureError::Missing));
        assert_eq!(
            verify(s, b, Some(b"sha1=abc")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(s, b, Some(&SIG.as_bytes()[7..])),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"other", b, Some(SIG.as_bytes())),
            Err(SignatureError::Mismatch)
        );
        let mut body = BODY.to_string();
        body.push('\n');
        assert_eq!(
            verify(s, body.as_bytes(), Some(SIG.as_bytes())),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"", b, Some(SIG.as_bytes())),
            Err(SignatureError::NoSecret)
        );
    }
}
