//! Shared HTTP plumbing for the public channels and the staff API: the SPEC's JSON error
//! body (`{"error": {"code", "message"}}`), one status per error kind, and a JSON extractor
//! whose rejections become precise 4xx answers instead of axum's plain-text defaults; the
//! security headers of every answer; [`channel`], the one shape every channel has; and
//! [`media`], the media worker loop chat channels run.

pub mod channel;
pub mod media;
pub mod trace;

use aduan_core::desk::DeskError;
use aduan_core::store::StoreError;
use aduan_core::types::State;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

/// Largest JSON request body accepted anywhere (SPEC §4).
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Current workflow state, for 409 answers.
    pub state: Option<State>,
    /// Current state of a monthly report, for 409 answers on report steps.
    pub report_state: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            state: None,
            report_state: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message)
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "not found")
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut err = json!({ "code": self.code, "message": self.message });
        let mut body = json!({});
        if let Some(s) = self.state {
            err["state"] = json!(s.as_str());
            body["state"] = json!(s.as_str());
        }
        if let Some(s) = self.report_state {
            err["state"] = json!(s);
            body["state"] = json!(s);
        }
        body["error"] = err;
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, code = self.code, message = %self.message, "request failed");
        }
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) | StoreError::Conflict => {
                ApiError::unavailable("the database is busy or unreachable; please retry")
            }
            StoreError::AlreadyExists(m) => {
                ApiError::new(StatusCode::CONFLICT, "already_exists", m)
            }
            StoreError::Corrupt(m) | StoreError::Other(m) => {
                tracing::error!(error = %m, "storage error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal storage error",
                )
            }
        }
    }
}

impl From<DeskError> for ApiError {
    fn from(e: DeskError) -> Self {
        match e {
            DeskError::Invalid { field, message } => {
                ApiError::unprocessable(format!("{field}: {message}"))
            }
            DeskError::NotFound => ApiError::not_found(),
            DeskError::Forbidden(m) => ApiError::forbidden(m),
            DeskError::InvalidState { action, state } => ApiError {
                status: StatusCode::CONFLICT,
                code: "invalid_state",
                message: format!("cannot {action} a complaint in state {state}"),
                state: Some(state),
                report_state: None,
            },
            DeskError::InvalidReportState { state } => {
                let mut e = ApiError::new(
                    StatusCode::CONFLICT,
                    "invalid_state",
                    format!("the monthly report is in state {}", state.as_str()),
                );
                e.report_state = Some(state.as_str());
                e
            }
            DeskError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            DeskError::Store(s) => s.into(),
        }
    }
}

/// `axum::Json` with SPEC-shaped rejections: 415 wrong content type, 400 malformed JSON,
/// 422 wrong fields/types (unknown fields included), 413 over 1 MiB.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(json_rejection(r)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::bad_request(format!("malformed JSON: {}", e.body_text()))
        }
        JsonRejection::JsonDataError(e) => ApiError::unprocessable(without_values(&e.body_text())),
        JsonRejection::BytesRejection(e) => {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(format!("request body larger than {MAX_JSON_BYTES} bytes"))
            } else {
                ApiError::bad_request(e.body_text())
            }
        }
        other => ApiError::new(other.status(), "bad_request", other.body_text()),
    }
}

/// A serde error text without the values it quotes: `invalid type: string "Budi",
/// expected …` and `invalid value: integer `81234567890`, …` would echo what a citizen
/// typed (a name, a phone number) into an error answer and a log line. Field names
/// (`unknown field `nama``) stay; anything else that looks like personal data is masked.
pub fn without_values(message: &str) -> String {
    static QUOTED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"(invalid (?:type|value|length): [a-z ]+?) (?:"(?:[^"\\]|\\.)*"|`[^`]*`)"#,
        )
        .expect("valid regex")
    });
    aduan_core::mask::mask_text(&QUOTED.replace_all(message, "$1"))
}

/// Fallback for unknown routes: JSON 404.
pub async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// Content-Security-Policy of every page aduan serves: no inline script or style, no
/// framing, forms post only to aduan itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// Middleware: the security headers of every answer (pages and JSON alike) — CSP (unless
/// the handler chose a stricter one), `nosniff`, `frame-ancestors`/`X-Frame-Options`,
/// `Referrer-Policy: same-origin` — and `Cache-Control: no-store` unless the handler chose a
/// cache policy itself (the stylesheets do). Receipts, status answers and staff pages are never stored by a browser
/// or a proxy.
pub async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::{HeaderValue, header};
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // A handler may choose a stricter policy (a downloaded file: `ATTACHMENT_CSP`).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// An attachment id from a path. Ids start at 1, so anything that is not a positive number
/// becomes 0, which names no attachment: the desk answers it like an id of another
/// complaint (404), after its role check (403).
pub fn attachment_id(s: &str) -> i64 {
    s.parse::<i64>().ok().filter(|i| *i > 0).unwrap_or(0)
}

/// Content-Security-Policy of a downloaded file: should a browser render it after all,
/// nothing in it runs, loads or frames anything.
pub const ATTACHMENT_CSP: &str = "default-src 'none'; sandbox; frame-ancestors 'none'";

/// A stored file as a download (SPEC §4): the media type given (a malformed one becomes
/// `application/octet-stream`), `Content-Disposition: attachment` with a safe file name
/// ([`content_disposition`]), `nosniff`, [`ATTACHMENT_CSP`], never cached, never embedded
/// by another site.
pub fn file_download(media_type: &str, filename: &str, data: Vec<u8>) -> Response {
    use axum::http::{HeaderName, HeaderValue, header};
    let content_type = HeaderValue::from_str(media_type)
        .ok()
        .filter(|_| media_type.contains('/') && !media_type.contains(['\r', '\n']))
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    let disposition = HeaderValue::from_str(&content_disposition(filename))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_DISPOSITION, disposition),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(ATTACHMENT_CSP),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, private"),
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    (StatusCode::OK, headers, data).into_response()
}

/// Longest file name put into a `Content-Disposition`, in characters.
const MAX_DISPOSITION_NAME_CHARS: usize = 150;

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266 with RFC 8187 encoding): the
/// file name without directories, control or bidirectional-override characters, an ASCII
/// fallback for old clients (`_` for anything else), and the exact name percent-encoded.
/// An empty name becomes `lampiran`.
pub fn content_disposition(filename: &str) -> String {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .take(MAX_DISPOSITION_NAME_CHARS)
        .collect();
    let clean = clean.trim().trim_start_matches('.').trim();
    let name = if clean.is_empty() { "lampiran" } else { clean };
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%' | ';') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        // RFC 8187 attr-char.
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// Unicode bidirectional controls (they can make `gpj.exe` read as `exe.jpg`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_are_safe_and_exact() {
        assert_eq!(
            content_disposition("KTP_Sariasih_5108014506900002.jpg"),
            "attachment; filename=\"KTP_Sariasih_5108014506900002.jpg\"; \
             filename*=UTF-8''KTP_Sariasih_5108014506900002.jpg"
        );
        assert_eq!(
            content_disposition("Surat Pernyataan (1).pdf"),
            "attachment; filename=\"Surat Pernyataan (1).pdf\"; \
             filename*=UTF-8''Surat%20Pernyataan%20%281%29.pdf"
        );
        // Non-ASCII: a fallback with `_`, the exact name encoded.
        assert_eq!(
            content_disposition("akta kelahiran—Pémuteran.pdf"),
            "attachment; filename=\"akta kelahiran_P_muteran.pdf\"; \
             filename*=UTF-8''akta%20kelahiran%E2%80%94P%C3%A9muteran.pdf"
        );
        // Quotes, header injection, directories, hidden files, bidi tricks.
        let d = content_disposition("..\\../\"x\";\r\nSet-Cookie: a=b\u{202e}gpj.exe");
        assert!(
            !d.contains('\r') && !d.contains('\n') && !d.contains('\u{202e}'),
            "{d}"
        );
        assert!(
            d.starts_with("attachment; filename=\"_x__Set-Cookie: a=bgpj.exe\""),
            "{d}"
        );
        assert_eq!(
            content_disposition(".htaccess"),
            "attachment; filename=\"htaccess\"; filename*=UTF-8''htaccess"
        );
        assert_eq!(
            content_disposition("  "),
            "attachment; filename=\"lampiran\"; filename*=UTF-8''lampiran"
        );
        let long = "a".repeat(400);
        assert!(content_disposition(&long).len() < 400);
    }

    #[test]
    fn serde_errors_do_not_echo_values() {
        let m = without_values(
            "phone: invalid type: integer `81234567890`, expected a string at line 1 column 30",
        );
        assert_eq!(
            m,
            "phone: invalid type: integer, expected a string at line 1 column 30"
        );
        let m =
            without_values(r#"name: invalid type: string "Budi \"S\" Santoso", expected a map"#);
        assert!(!m.contains("Budi"), "{m}");
        let m = without_values("unknown field `nama`, expected one of `name`, `body`");
        assert_eq!(m, "unknown field `nama`, expected one of `name`, `body`");
    }
}
