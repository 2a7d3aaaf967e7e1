//! Graph API error answers, classified for the outbox.
//!
//! Invariants: a pure function of the HTTP status, headers and body. Code 190 is a token
//! problem (retried, reported to `/readyz`); rate limits get a wait (`Retry-After` when
//! sensible, 1 s to 24 h, else a per-code default); the closed 24-hour window (WhatsApp
//! 131047, Messenger 10/2018278) is its own case; 5xx and `is_transient` are retried;
//! everything else is permanent. The message never contains the access token.

use chrono::Duration;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;

/// A Graph API error, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// Worth retrying; `after` when a sensible wait is known (rate limits).
    Transient {
        message: String,
        after: Option<Duration>,
    },
    /// Code 190: the access token expired or was revoked.
    Token(String),
    /// The platform refuses free-form messages: the 24-hour window has closed
    /// (WhatsApp 131047, Messenger 10/2018278).
    WindowClosed(String),
    /// Will never succeed.
    Permanent(String),
}

/// Classify a failed Graph API answer from its HTTP status, headers and body.
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> GraphError {
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|s| (1..=86_400).contains(s))
        .map(Duration::seconds);
    let err = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").cloned());
    let code = err
        .as_ref()
        .and_then(|e| e.get("code"))
        .and_then(Value::as_i64);
    let subcode = err
        .as_ref()
        .and_then(|e| e.get("error_subcode"))
        .and_then(Value::as_i64);
    let text = err
        .as_ref()
        .and_then(|e| {
            let details = e
                .get("error_data")
                .and_then(|d| d.get("details"))
                .and_then(Value::as_str);
            let message = e.get("message").and_then(Value::as_str);
            match (message, details) {
                (Some(m), Some(d)) if d != m => Some(format!("{m} ({d})")),
                (Some(m), _) => Some(m.to_string()),
                (None, d) => d.map(str::to_string),
            }
        })
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = match code {
        Some(c) => format!("Graph API error {c}: {text}"),
        None => format!("Graph API: {text}"),
    };
    let is_transient = err
        .as_ref()
        .and_then(|e| e.get("is_transient"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let rate = |default: i64| GraphError::Transient {
        message: message.clone(),
        after: Some(retry_after.unwrap_or(Duration::seconds(default))),
    };
    match code {
        Some(190) => GraphError::Token(message),
        Some(4 | 17 | 32 | 613 | 80007 | 130429) => rate(60),
        Some(131056) => rate(10),
        Some(131048) => rate(30 * 60),
        Some(1 | 2 | 131000 | 131016 | 133004) => GraphError::Transient {
            message,
            after: retry_after,
        },
        Some(131047) => GraphError::WindowClosed(message),
        Some(10) if subcode == Some(2018278) => GraphError::WindowClosed(message),
        _ if status == 429 => rate(60),
        _ if status >= 500 || is_transient => GraphError::Transient {
            message,
            after: retry_after,
        },
        _ => GraphError::Permanent(message),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn graph_errors_are_classified() {
        let h = HeaderMap::new();
        let e = |code: i64, sub: Option<i64>| {
            let mut err = json!({"message": "m", "type": "OAuthException", "code": code});
            if let Some(s) = sub {
                err["error_subcode"] = json!(s);
            }
            serde_json::to_vec(&json!({ "error": err })).unwrap_or_default()
        };
        assert!(matches!(
            classify(401, &h, &e(190, Some(463))),
            GraphError::Token(_)
        ));
        assert!(matches!(
            classify(400, &h, &e(613, None)),
            GraphError::Transient { after: Some(_), .. }
        ));
        assert!(matches!(
            classify(400, &h, &e(130429, None)),
            GraphError::Transient { after: Some(_), .. }
        ));
        assert!(matches!(
            classify(400, &h, &e(2, None)),
            GraphError::Transient { .. }
        ));
        assert!(matches!(
            classify(400, &h, &e(131047, None)),
            GraphError::WindowClosed(_)
        ));
        assert!(matches!(
            classify(400, &h, &e(10, Some(2018278))),
            GraphError::WindowClosed(_)
        ));
        for code in [10, 200, 100, 131026, 131051, 551] {
            assert!(
                matches!(classify(400, &h, &e(code, None)), GraphError::Permanent(_)),
                "{code}"
            );
        }
        assert!(matches!(
            classify(502, &h, b"<html>"),
            GraphError::Transient { .. }
        ));
        let mut h2 = HeaderMap::new();
        h2.insert(RETRY_AFTER, "7".parse().expect("header"));
        assert_eq!(
            classify(429, &h2, b""),
            GraphError::Transient {
                message: "Graph API: HTTP 429".into(),
                after: Some(Duration::seconds(7))
            }
        );
        let GraphError::Permanent(m) = classify(400, &h, &e(100, None)) else {
            panic!("permanent expected")
        };
        assert_eq!(m, "Graph API error 100: m");
    }
}
