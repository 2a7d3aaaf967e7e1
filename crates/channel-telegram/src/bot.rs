//! The teloxide [`Bot`] client pointed at the configured Bot API server, and the
//! classification of its errors.
//!
//! teloxide does not expose the HTTP status of a failed call, only Telegram's
//! `description` (and `parameters`), so errors are classified from those: `retry_after`
//! → wait, `Forbidden: …` (403) and `Bad Request: …` (400) → permanent, everything else
//! (5xx, `Too Many Requests` without a wait, network errors, timeouts, a body that is not
//! a Bot API answer, e.g. a proxy's 502 page) → transient. Error texts never contain the
//! bot token: every message is scrubbed before it is logged or stored.

use std::time::Duration;

use teloxide::{ApiError, Bot, RequestError};

use crate::config::TelegramConfig;

/// Connection timeout of every Bot API call.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Parse a Bot API base URL (`http`/`https`, no query); a trailing `/` is dropped so the
/// `bot<token>/<Method>` segments are appended right after the given path.
pub(crate) fn api_url(s: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(s.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".into());
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err("must be an absolute http(s) URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    if let Ok(mut segs) = url.path_segments_mut() {
        segs.pop_if_empty();
    }
    Ok(url)
}

/// A teloxide [`Bot`] for `cfg` whose HTTP client gives up after `timeout` (which must
/// exceed any long-poll timeout used with it).
///
/// An unusable `api_url` (refused by [`TelegramConfig::validate`]) falls back to an
/// unreachable loopback address, so calls fail instead of going to the wrong server.
pub fn build_bot(cfg: &TelegramConfig, timeout: Duration) -> Bot {
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(timeout)
        .tcp_nodelay(true)
        .build()
        .unwrap_or_default();
    let url = api_url(&cfg.api_url).unwrap_or_else(|e| {
        tracing::error!(error = %e, "channels.telegram.api_url is unusable; Telegram calls will fail");
        reqwest::Url::parse("http://127.0.0.1:9").expect("static URL")
    });
    Bot::with_client(cfg.token.expose(), client).set_api_url(url)
}

/// Remove the bot token from a message (URLs of failed calls contain it).
pub(crate) fn scrub(token: &str, text: &str) -> String {
    if token.is_empty() {
        text.to_string()
    } else {
        text.replace(token, "<token>")
    }
}

/// How a failed Bot API call should be treated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Flood control: wait this many seconds and repeat the same call.
    RetryAfter(u32),
    /// 403: the user blocked the bot, deactivated the account, or the bot may not write
    /// to the chat.
    Forbidden(String),
    /// 400 and other answers that will never succeed.
    Permanent(String),
    /// The group became a supergroup with this id.
    Migrated(i64),
    /// Worth retrying later (5xx, network, timeout, unparsable answer, invalid token).
    Transient(String),
}

/// Telegram's `description` of an API error.
pub(crate) fn description(e: &ApiError) -> String {
    match e {
        ApiError::Unknown(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Classify a teloxide error (see the module docs).
pub(crate) fn classify(token: &str, e: &RequestError) -> Failure {
    match e {
        RequestError::RetryAfter(s) => Failure::RetryAfter(s.seconds()),
        RequestError::MigrateToChatId(id) => Failure::Migrated(id.0),
        RequestError::Api(api) => {
            let desc = scrub(token, &description(api));
            if matches!(api, ApiError::InvalidToken) {
                Failure::Transient(format!("Telegram refused the bot token ({desc})"))
            } else if desc.starts_with("Forbidden") {
                Failure::Forbidden(desc)
            } else if desc.starts_with("Bad Request") {
                Failure::Permanent(desc)
            } else {
                Failure::Transient(desc)
            }
        }
        RequestError::Network(n) => {
            let what = if n.is_timeout() {
                "timeout"
            } else if n.is_connect() {
                "connection failed"
            } else {
                "network error"
            };
            Failure::Transient(scrub(token, &format!("{what}: {n}")))
        }
        RequestError::InvalidJson { raw, .. } => {
            let head: String = raw.chars().take(120).collect();
            Failure::Transient(scrub(
                token,
                &format!("unexpected answer from the Bot API: {head}"),
            ))
        }
        RequestError::Io(e) => Failure::Transient(scrub(token, &format!("I/O error: {e}"))),
    }
}

/// A one-line, token-free text for logs and health.
pub(crate) fn error_text(token: &str, e: &RequestError) -> String {
    match classify(token, e) {
        Failure::RetryAfter(s) => format!("flood control: retry after {s} s"),
        Failure::Forbidden(m) | Failure::Permanent(m) | Failure::Transient(m) => m,
        Failure::Migrated(id) => format!("the group moved to supergroup {id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls() {
        assert_eq!(
            api_url("https://api.telegram.org").unwrap().as_str(),
            "https://api.telegram.org/"
        );
        assert_eq!(
            api_url("http://127.0.0.1:8081/tg/").unwrap().as_str(),
            "http://127.0.0.1:8081/tg"
        );
        assert!(api_url("ftp://x").is_err());
        assert!(api_url("mailto:a@b").is_err());
        assert!(api_url("http://x/?a=1").is_err());
        assert!(api_url("").is_err());
    }

    #[test]
    fn classification() {
        let t = "123:SECRET";
        assert_eq!(
            classify(t, &RequestError::Api(ApiError::BotBlocked)),
            Failure::Forbidden("Forbidden: bot was blocked by the user".into())
        );
        assert!(matches!(
            classify(
                t,
                &RequestError::Api(ApiError::Unknown("Bad Request: chat not found".into()))
            ),
            Failure::Permanent(_)
        ));
        assert!(matches!(
            classify(
                t,
                &RequestError::Api(ApiError::Unknown("Internal Server Error".into()))
            ),
            Failure::Transient(_)
        ));
        assert!(matches!(
            classify(t, &RequestError::Api(ApiError::InvalidToken)),
            Failure::Transient(_)
        ));
        assert_eq!(
            classify(
                t,
                &RequestError::RetryAfter(teloxide::types::Seconds::from_seconds(7))
            ),
            Failure::RetryAfter(7)
        );
        assert_eq!(scrub(t, "GET /bot123:SECRET/x"), "GET /bot<token>/x");
    }
}
