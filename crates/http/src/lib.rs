//! Shared HTTP plumbing for the public channels and the staff API: the SPEC's JSON error
//! body (`{"error": {"code", "message"}}`), one status per error kind, and a JSON extractor
//! whose rejections become precise 4xx answers instead of axum's plain-text defaults; the
//! security headers of every answer; [`channel`], the one shape every channel has; and
//! [`media`], the media worker loop chat channels run; [`server`], the bounded HTTP server
//! (request timeout, connection limit), [`client`], the one function that names a
//! request's client address (trusted proxies, `X-Forwarded-For`), and [`ratelimit`], the
//! bounded per-address limiter (IPv6 per /64) the public endpoints and the login use;
//! [`lease`], a named lease renewed in the background (mailbox reader, Telegram poller).

pub mod channel;
pub mod client;
pub mod lease;
pub mod media;
pub mod ratelimit;
pub mod server;
pub mod trace;

pub use client::ClientAddr;

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
        if e.is_storage_full() {
            // Disk full under the database: nothing was written; it clears once space
            // returns, without a restart.
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_full",
                "the server's storage is full; nothing was saved, please retry later",
            );
        }
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
            DeskError::ConclusionFirst => {
                let mut e = ApiError::new(
                    StatusCode::CONFLICT,
                    "conclusion_first",
                    DeskError::ConclusionFirst.to_string(),
                );
                e.report_state = Some("submitted");
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
    // A handler may let the same origin frame its answer (an inline preview:
    // [`file_inline`]); everything else is never framed.
    if !h.contains_key(header::X_FRAME_OPTIONS) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
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
    use axum::http::HeaderValue;
    let disposition = HeaderValue::from_str(&content_disposition(filename))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    file_response(media_type, disposition, ATTACHMENT_CSP, "DENY", data)
}

/// A stored file the browser may show in place ([`Preview`]): an image or a PDF
/// whose bytes are what its media type claims gets `Content-Disposition: inline` (with the
/// same safe file name), its own CSP ([`INLINE_IMAGE_CSP`] / [`INLINE_PDF_CSP`]: nothing
/// runs, only the same origin may frame it) and `X-Frame-Options: SAMEORIGIN`, still
/// `nosniff` and never cached. Anything else — SVG, HTML, a file whose bytes contradict its
/// type — is answered exactly as [`file_download`].
pub fn file_inline(media_type: &str, filename: &str, data: Vec<u8>) -> Response {
    use axum::http::HeaderValue;
    let Some(kind) = Preview::of(media_type).filter(|k| k.matches(&data)) else {
        return file_download(media_type, filename, data);
    };
    let disposition = HeaderValue::from_str(&disposition("inline", filename))
        .unwrap_or_else(|_| HeaderValue::from_static("inline"));
    let csp = match kind {
        Preview::Image => INLINE_IMAGE_CSP,
        Preview::Pdf => INLINE_PDF_CSP,
    };
    file_response(
        kind.media_type(media_type),
        disposition,
        csp,
        "SAMEORIGIN",
        data,
    )
}

/// Content-Security-Policy of an image shown in place: no script, nothing loaded but the
/// image itself, sandboxed; only the same origin may frame it.
pub const INLINE_IMAGE_CSP: &str =
    "default-src 'none'; img-src 'self'; sandbox; frame-ancestors 'self'";

/// Content-Security-Policy of a PDF shown in place: no script, the browser's PDF viewer
/// (`object-src 'self'`) and nothing else; only the same origin may frame it. Not
/// sandboxed: Chromium refuses to show a PDF in a sandboxed document.
pub const INLINE_PDF_CSP: &str = "default-src 'none'; object-src 'self'; frame-ancestors 'self'";

/// The kinds of file a staff page shows in place (issue 13): raster images a browser
/// decodes without running anything, and PDFs. Never SVG (it can carry script).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preview {
    /// `image/png`, `image/jpeg`, `image/gif`, `image/webp`.
    Image,
    /// `application/pdf`.
    Pdf,
}

impl Preview {
    /// The preview kind of a media type (parameters and case ignored), if it has one.
    pub fn of(media_type: &str) -> Option<Preview> {
        let essence = media_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "image/png" | "image/jpeg" | "image/jpg" | "image/pjpeg" | "image/gif"
            | "image/webp" => Some(Preview::Image),
            "application/pdf" => Some(Preview::Pdf),
            _ => None,
        }
    }

    /// Whether the bytes start as this kind's format does (PNG, JPEG, GIF or WebP
    /// signature; `%PDF-`): the media type came from the citizen's client.
    pub fn matches(self, data: &[u8]) -> bool {
        match self {
            Preview::Image => {
                data.starts_with(b"\x89PNG\r\n\x1a\n")
                    || data.starts_with(b"\xff\xd8\xff")
                    || data.starts_with(b"GIF87a")
                    || data.starts_with(b"GIF89a")
                    || (data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP")
            }
            Preview::Pdf => data.starts_with(b"%PDF-"),
        }
    }

    /// The exact media type sent with the preview (the essence, without parameters).
    fn media_type(self, media_type: &str) -> &'static str {
        match self {
            Preview::Pdf => "application/pdf",
            Preview::Image => {
                match media_type
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
                    .as_str()
                {
                    "image/png" => "image/png",
                    "image/gif" => "image/gif",
                    "image/webp" => "image/webp",
                    _ => "image/jpeg",
                }
            }
        }
    }
}

fn file_response(
    media_type: &str,
    disposition: axum::http::HeaderValue,
    csp: &'static str,
    frame_options: &'static str,
    data: Vec<u8>,
) -> Response {
    use axum::http::{HeaderName, HeaderValue, header};
    let content_type = HeaderValue::from_str(media_type)
        .ok()
        .filter(|_| media_type.contains('/') && !media_type.contains(['\r', '\n']))
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_DISPOSITION, disposition),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        ),
        (
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static(frame_options),
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
    disposition("attachment", filename)
}

/// `<kind>; filename="…"; filename*=UTF-8''…` (see [`content_disposition`]).
fn disposition(kind: &str, filename: &str) -> String {
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
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// Unicode bidirectional controls (they can make `gpj.exe` read as `exe.jpg`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_raster_images_and_pdfs_whose_bytes_agree() {
        for t in [
            "image/png",
            "IMAGE/JPEG",
            "image/jpeg; charset=binary",
            "image/gif",
            "image/webp",
        ] {
            assert_eq!(Preview::of(t), Some(Preview::Image), "{t}");
        }
        assert_eq!(Preview::of("application/pdf"), Some(Preview::Pdf));
        for t in [
            "image/svg+xml",
            "text/html",
            "application/xhtml+xml",
            "",
            "image",
            "video/mp4",
        ] {
            assert_eq!(Preview::of(t), None, "{t}");
        }
        assert!(Preview::Image.matches(b"\x89PNG\r\n\x1a\n...."));
        assert!(Preview::Image.matches(b"\xff\xd8\xff\xe0"));
        assert!(Preview::Image.matches(b"GIF89a.."));
        assert!(Preview::Image.matches(b"RIFF\x10\0\0\0WEBPVP8 "));
        assert!(!Preview::Image.matches(b"<svg onload=alert(1)>"));
        assert!(!Preview::Image.matches(b"RIFF\x10\0\0\0WAVE"));
        assert!(Preview::Pdf.matches(b"%PDF-1.4"));
        assert!(!Preview::Pdf.matches(b"<html>%PDF-"));
    }

    #[test]
    fn inline_only_for_safe_types_with_matching_bytes() {
        let png = b"\x89PNG\r\n\x1a\nrest".to_vec();
        let r = file_inline("image/png", "foto KK.png", png.clone());
        let h = r.headers();
        assert_eq!(h["content-type"], "image/png");
        assert_eq!(
            h["content-disposition"],
            "inline; filename=\"foto KK.png\"; filename*=UTF-8''foto%20KK.png"
        );
        assert_eq!(h["content-security-policy"], INLINE_IMAGE_CSP);
        assert_eq!(h["x-frame-options"], "SAMEORIGIN");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h["cache-control"].to_str().unwrap().contains("no-store"));
        let r = file_inline("application/pdf", "surat.pdf", b"%PDF-1.7".to_vec());
        assert_eq!(r.headers()["content-security-policy"], INLINE_PDF_CSP);
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("inline;")
        );
        // SVG, HTML, or a "PNG" that is HTML: a download as before.
        for (t, data) in [
            (
                "image/svg+xml",
                b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
            ),
            ("text/html", b"<script>alert(1)</script>".to_vec()),
            ("image/png", b"<script>alert(1)</script>".to_vec()),
        ] {
            let r = file_inline(t, "x", data);
            let h = r.headers();
            assert!(
                h["content-disposition"]
                    .to_str()
                    .unwrap()
                    .starts_with("attachment;"),
                "{t}"
            );
            assert_eq!(h["content-security-policy"], ATTACHMENT_CSP, "{t}");
            assert_eq!(h["x-frame-options"], "DENY", "{t}");
        }
        // No script may run in either preview, and only the same origin frames it.
        for csp in [INLINE_IMAGE_CSP, INLINE_PDF_CSP] {
            assert!(csp.starts_with("default-src 'none'") && !csp.contains("script-src"));
            assert!(csp.contains("frame-ancestors 'self'"));
        }
    }

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
