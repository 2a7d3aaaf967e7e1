//! Request logging without secrets or identity: the span of every request names the
//! method and the path with its query, but the values of `code` (the citizen's access
//! code) and of other secret parameters are replaced by `[disamarkan]`, and any personal
//! data a query carries (an e-mail address, a phone number) is masked.

use aduan_core::mask::mask_text;
use axum::http::{Request, Uri};

/// Query parameters whose values never reach a log line.
pub const SECRET_PARAMS: &[&str] = &[
    "code",
    "access_code",
    "token",
    "password",
    "secret",
    "hub.verify_token",
];

/// The URI as it may be logged: path, and query with secret values redacted.
pub fn loggable_uri(uri: &Uri) -> String {
    let path = mask_text(uri.path());
    let Some(q) = uri.query() else {
        return path;
    };
    let query = q
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if SECRET_PARAMS.iter().any(|s| k.eq_ignore_ascii_case(s)) {
                format!("{k}=[disamarkan]")
            } else if pair.contains('=') {
                format!("{k}={}", mask_text(&url_decode(v)))
            } else {
                mask_text(k)
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{path}?{query}")
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |x: u8| (x as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            x => out.push(x),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The span of one request (for `tower_http::trace::TraceLayer::make_span_with`).
pub fn request_span<B>(req: &Request<B>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %req.method(),
        uri = %loggable_uri(req.uri()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_codes_and_identity_never_reach_the_log() {
        let uri: Uri = "/api/v1/complaints/ADU-202611-0001/status?code=Ab3dE-fG7h&x=1"
            .parse()
            .unwrap();
        let l = loggable_uri(&uri);
        assert_eq!(
            l,
            "/api/v1/complaints/ADU-202611-0001/status?code=[disamarkan]&x=1"
        );
        let uri: Uri = "/x?CODE=secret&email=budi%40example.com&hub.verify_token=t"
            .parse()
            .unwrap();
        let l = loggable_uri(&uri);
        assert!(
            !l.contains("secret") && !l.contains("budi") && !l.contains("=t"),
            "{l}"
        );
    }
}
