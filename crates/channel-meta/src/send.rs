//! Replies through the Graph API: Messenger and Instagram Send API, WhatsApp Cloud API.
//!
//! Before each send the 24-hour customer-service window is checked against the citizen's
//! last inbound message ([`Desk::last_inbound_at`]). Inside it the text goes out as plain
//! messages, split at each platform's limit. Outside it WhatsApp sends the configured
//! approved template (language `id`, the ticket number as its one body parameter), while
//! Messenger and Instagram fail the reply permanently with [`WINDOW_CLOSED`] so staff answer
//! on another channel. Graph errors are mapped to retry or permanent failure; an expired or
//! invalid token (code 190) is retried and reported to `/readyz` until a send succeeds.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use aduan_core::desk::Desk;
use aduan_core::outbox::{RenderedReply, ReplySender, SendError};
use aduan_core::types::{Channel, TicketNumber};
use async_trait::async_trait;
use chrono::Duration;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::{Value, json};

use crate::config::{MetaConfig, Secret};
use crate::{HealthFn, MetaContext};

/// The customer-service window after the citizen's last message.
pub const WINDOW: Duration = Duration::hours(24);
/// Failure text of a Messenger/Instagram reply once the window has closed.
pub const WINDOW_CLOSED: &str = "di luar jendela 24 jam: perlu kanal lain";
/// Messenger text limit (characters).
pub const MESSENGER_MAX_CHARS: usize = 2000;
/// Instagram text limit: documented as 1000 bytes of UTF-8, which also keeps it under
/// 1000 characters.
pub const INSTAGRAM_MAX_BYTES: usize = 1000;
/// WhatsApp text body limit (characters).
pub const WHATSAPP_MAX_CHARS: usize = 4096;
/// Most messages one reply is split into; the rest is trimmed.
pub const MAX_PARTS: usize = 5;

const HTTP_TIMEOUT: StdDuration = StdDuration::from_secs(20);
const CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// How a text limit is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Chars(usize),
    Bytes(usize),
}

/// Split `text` into at most `max_parts` pieces within `limit`, preferring paragraph,
/// line and word breaks; what does not fit in `max_parts` is cut with an ellipsis.
pub fn split_text(text: &str, limit: Limit, max_parts: usize) -> Vec<String> {
    let max_parts = max_parts.max(1);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let fit = fit_len(rest, limit);
        if fit >= rest.len() {
            parts.push(rest.to_string());
            break;
        }
        if parts.len() + 1 == max_parts {
            // Last allowed part: trim, leaving room for the ellipsis.
            let room = match limit {
                Limit::Chars(n) => Limit::Chars(n.saturating_sub(1)),
                Limit::Bytes(n) => Limit::Bytes(n.saturating_sub('…'.len_utf8())),
            };
            let cut = fit_len(rest, room);
            parts.push(format!("{}…", rest[..cut].trim_end()));
            break;
        }
        let head = &rest[..fit];
        let min = fit / 2;
        let cut = ["\n\n", "\n", " "]
            .iter()
            .find_map(|sep| head.rfind(sep).filter(|&i| i >= min && i > 0))
            .unwrap_or(fit);
        parts.push(rest[..cut].trim_end().to_string());
        rest = rest[cut..].trim_start();
    }
    parts
}

/// Byte length of the longest prefix of `s` within `limit` (on a char boundary).
fn fit_len(s: &str, limit: Limit) -> usize {
    match limit {
        Limit::Chars(n) => s.char_indices().nth(n).map(|(i, _)| i).unwrap_or(s.len()),
        Limit::Bytes(n) => {
            if n >= s.len() {
                return s.len();
            }
            let mut i = n;
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            i
        }
    }
}

/// The last error of each platform, reported together through the health callback.
pub(crate) struct HealthBoard {
    report: HealthFn,
    errors: Mutex<BTreeMap<&'static str, String>>,
}

impl HealthBoard {
    pub(crate) fn new(report: HealthFn) -> Self {
        HealthBoard {
            report,
            errors: Mutex::new(BTreeMap::new()),
        }
    }

    fn set(&self, platform: &'static str, error: Option<String>) {
        let summary = {
            let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
            let changed = match &error {
                Some(e) => errors.insert(platform, e.clone()).as_ref() != Some(e),
                None => errors.remove(platform).is_some(),
            };
            if !changed {
                return;
            }
            (!errors.is_empty()).then(|| {
                errors
                    .iter()
                    .map(|(p, e)| format!("{p}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        };
        (self.report)(summary);
    }
}

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

/// The platform a sender talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Platform {
    Messenger,
    Instagram,
    Whatsapp,
}

impl Platform {
    fn name(self) -> &'static str {
        match self {
            Platform::Messenger => "messenger",
            Platform::Instagram => "instagram",
            Platform::Whatsapp => "whatsapp",
        }
    }
    fn limit(self) -> Limit {
        match self {
            Platform::Messenger => Limit::Chars(MESSENGER_MAX_CHARS),
            Platform::Instagram => Limit::Bytes(INSTAGRAM_MAX_BYTES),
            Platform::Whatsapp => Limit::Chars(WHATSAPP_MAX_CHARS),
        }
    }
}

/// Parts of a split reply already sent, by outbox row, so a retry does not repeat them.
#[derive(Debug, Clone, Default)]
struct Progress {
    sent: usize,
    first_id: Option<String>,
}

/// One Meta platform's [`ReplySender`].
pub struct GraphSender {
    platform: Platform,
    http: reqwest::Client,
    url: reqwest::Url,
    token: Secret,
    template: String,
    desk: Desk,
    health: Arc<HealthBoard>,
    progress: Mutex<HashMap<i64, Progress>>,
}

/// Reply senders for every platform with credentials configured (none when disabled).
pub(crate) fn build(cfg: &MetaConfig, ctx: &MetaContext) -> Vec<(Channel, Arc<dyn ReplySender>)> {
    let mut out: Vec<(Channel, Arc<dyn ReplySender>)> = Vec::new();
    if !cfg.enabled {
        return out;
    }
    let http = match reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("aduan/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "meta: cannot build the HTTP client; no replies");
            (ctx.health)(Some(format!("cannot build the HTTP client: {e}")));
            return out;
        }
    };
    let base = match reqwest::Url::parse(cfg.graph_api_url.trim_end_matches('/')) {
        Ok(u) if !u.cannot_be_a_base() => u,
        _ => {
            tracing::error!(url = %cfg.graph_api_url, "meta: graph_api_url is not a URL; no replies");
            (ctx.health)(Some("channels.meta.graph_api_url is not a URL".into()));
            return out;
        }
    };
    let endpoint = |segments: &[&str]| {
        let mut u = base.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().extend(segments);
        }
        u
    };
    let health = Arc::new(HealthBoard::new(ctx.health.clone()));
    let mut add = |channel, platform, url, token: &Secret, template: &str| {
        let s = GraphSender {
            platform,
            http: http.clone(),
            url,
            token: token.clone(),
            template: template.trim().to_string(),
            desk: ctx.desk.clone(),
            health: health.clone(),
            progress: Mutex::new(HashMap::new()),
        };
        out.push((channel, Arc::new(s) as Arc<dyn ReplySender>));
    };
    if !cfg.page_access_token.is_empty() {
        add(
            Channel::Messenger,
            Platform::Messenger,
            endpoint(&["me", "messages"]),
            &cfg.page_access_token,
            "",
        );
    }
    if !cfg.instagram_access_token.is_empty() {
        add(
            Channel::Instagram,
            Platform::Instagram,
            endpoint(&["me", "messages"]),
            &cfg.instagram_access_token,
            "",
        );
    }
    let phone_id = cfg.whatsapp_phone_number_id.trim();
    if !cfg.whatsapp_access_token.is_empty() && !phone_id.is_empty() {
        add(
            Channel::Whatsapp,
            Platform::Whatsapp,
            endpoint(&[phone_id, "messages"]),
            &cfg.whatsapp_access_token,
            &cfg.whatsapp_answer_template,
        );
    }
    out
}

/// A WhatsApp recipient that is not a phone number is a business-scoped user id (BSUID,
/// `CC.digits`), which the Cloud API takes in `recipient` instead of `to`.
fn whatsapp_to(recipient: &str) -> (&'static str, &str) {
    if recipient.bytes().all(|b| b.is_ascii_digit()) {
        ("to", recipient)
    } else {
        ("recipient", recipient)
    }
}

impl GraphSender {
    fn text_body(&self, to: &str, text: &str) -> Value {
        match self.platform {
            Platform::Messenger | Platform::Instagram => json!({
                "recipient": { "id": to },
                "messaging_type": "RESPONSE",
                "message": { "text": text },
            }),
            Platform::Whatsapp => {
                let (key, to) = whatsapp_to(to);
                json!({
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    key: to,
                    "type": "text",
                    "text": { "body": text, "preview_url": false },
                })
            }
        }
    }

    fn template_body(&self, to: &str, ticket: &TicketNumber) -> Value {
        let (key, to) = whatsapp_to(to);
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            key: to,
            "type": "template",
            "template": {
                "name": self.template,
                "language": { "code": "id" },
                "components": [{
                    "type": "body",
                    "parameters": [{ "type": "text", "text": ticket.as_str() }],
                }],
            },
        })
    }

    /// POST one message; the platform's message id on success.
    async fn post(&self, body: &Value) -> Result<Option<String>, GraphError> {
        let resp = self
            .http
            .post(self.url.clone())
            .bearer_auth(self.token.expose())
            .json(body)
            .send()
            .await
            .map_err(|e| GraphError::Transient {
                message: format!("Graph API unreachable: {}", without_url(&e)),
                after: None,
            })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| GraphError::Transient {
            message: format!("Graph API answer cut short: {}", without_url(&e)),
            after: None,
        })?;
        if !status.is_success() {
            return Err(classify(status.as_u16(), &headers, &bytes));
        }
        // The message went out; an unreadable answer only loses its id.
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let id = v
            .get("message_id")
            .and_then(Value::as_str)
            .or_else(|| {
                v.get("messages")
                    .and_then(|m| m.get(0))
                    .and_then(|m| m.get("id"))
                    .and_then(Value::as_str)
            })
            .map(str::to_string);
        Ok(id)
    }

    async fn window_open(&self, ticket: &TicketNumber) -> Result<bool, SendError> {
        let last = self.desk.last_inbound_at(ticket).await.map_err(|e| {
            SendError::Transient(format!("cannot read the citizen's last message: {e}"))
        })?;
        Ok(last.is_some_and(|t| self.desk.now() - t < WINDOW))
    }

    /// Send the text in parts, skipping parts a previous attempt already sent.
    async fn send_parts(
        &self,
        item_id: i64,
        to: &str,
        text: &str,
    ) -> Result<Option<String>, GraphError> {
        let parts = split_text(text, self.platform.limit(), MAX_PARTS);
        let mut progress = self
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&item_id)
            .cloned()
            .unwrap_or_default();
        for part in parts.iter().skip(progress.sent) {
            match self.post(&self.text_body(to, part)).await {
                Ok(id) => {
                    progress.sent += 1;
                    if progress.first_id.is_none() {
                        progress.first_id = id;
                    }
                }
                Err(e) => {
                    if progress.sent > 0 {
                        let mut map = self.progress.lock().unwrap_or_else(|p| p.into_inner());
                        if map.len() > 10_000 {
                            map.clear();
                        }
                        map.insert(item_id, progress);
                    }
                    return Err(e);
                }
            }
        }
        self.forget(item_id);
        Ok(progress.first_id)
    }

    fn forget(&self, item_id: i64) {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&item_id);
    }

    async fn send_template(
        &self,
        to: &str,
        ticket: &TicketNumber,
    ) -> Result<Option<String>, SendError> {
        if self.template.is_empty() {
            return Err(SendError::Permanent(format!(
                "{WINDOW_CLOSED} (tidak ada template WhatsApp: channels.meta.whatsapp_answer_template)"
            )));
        }
        let r = self.post(&self.template_body(to, ticket)).await;
        self.outcome(r)
    }

    /// Map a Graph result to the outbox's terms, keeping `/readyz` up to date.
    fn outcome(&self, r: Result<Option<String>, GraphError>) -> Result<Option<String>, SendError> {
        let name = self.platform.name();
        match r {
            Ok(id) => {
                self.health.set(name, None);
                Ok(id)
            }
            Err(GraphError::Token(m)) => {
                tracing::error!(platform = name, error = %m, "meta access token expired or invalid");
                self.health
                    .set(name, Some(format!("access token expired or invalid: {m}")));
                Err(SendError::Transient(m))
            }
            Err(GraphError::Transient { message, after }) => {
                tracing::warn!(platform = name, error = %message, "meta send failed; will retry");
                Err(match after {
                    Some(after) => SendError::RetryAfter { after, message },
                    None => SendError::Transient(message),
                })
            }
            Err(GraphError::WindowClosed(m)) => {
                Err(SendError::Permanent(format!("{WINDOW_CLOSED} ({m})")))
            }
            Err(GraphError::Permanent(m)) => {
                tracing::warn!(platform = name, error = %m, "meta send refused");
                Err(SendError::Permanent(m))
            }
        }
    }
}

/// A reqwest error's text without its URL (the URL is harmless, but keep logs short).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s
            .replace(&format!(" ({u})"), "")
            .replace(u.as_str(), "Graph API");
    }
    s
}

#[async_trait]
impl ReplySender for GraphSender {
    async fn send(&self, reply: &RenderedReply) -> Result<Option<String>, SendError> {
        let item = &reply.item;
        let to = item.recipient.trim();
        if to.is_empty() {
            return Err(SendError::Permanent("no recipient id".into()));
        }
        if reply.text.trim().is_empty() {
            return Err(SendError::Permanent("empty reply text".into()));
        }
        let open = self.window_open(&item.ticket).await?;
        match self.platform {
            Platform::Messenger | Platform::Instagram => {
                if !open {
                    self.forget(item.id);
                    return Err(SendError::Permanent(WINDOW_CLOSED.into()));
                }
                let r = self.send_parts(item.id, to, &reply.text).await;
                if matches!(
                    r,
                    Err(GraphError::Permanent(_) | GraphError::WindowClosed(_))
                ) {
                    self.forget(item.id);
                }
                self.outcome(r)
            }
            Platform::Whatsapp => {
                if !open {
                    self.forget(item.id);
                    return self.send_template(to, &item.ticket).await;
                }
                match self.send_parts(item.id, to, &reply.text).await {
                    // The window closed between our check and Meta's: use the template.
                    Err(GraphError::WindowClosed(m)) => {
                        tracing::info!(error = %m, "whatsapp window closed; sending the template");
                        self.forget(item.id);
                        self.send_template(to, &item.ticket).await
                    }
                    r => {
                        if matches!(r, Err(GraphError::Permanent(_))) {
                            self.forget(item.id);
                        }
                        self.outcome(r)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_prefers_breaks_and_respects_limits() {
        assert_eq!(split_text("  halo  ", Limit::Chars(10), 5), vec!["halo"]);
        let text = "satu dua tiga empat lima enam";
        let parts = split_text(text, Limit::Chars(10), 10);
        assert!(parts.iter().all(|p| p.chars().count() <= 10), "{parts:?}");
        assert_eq!(parts.join(" "), text);
        let para = format!("{}\n\n{}", "a".repeat(8), "b".repeat(8));
        assert_eq!(
            split_text(&para, Limit::Chars(12), 5),
            vec!["a".repeat(8), "b".repeat(8)]
        );
        // No break at all: hard cut.
        let long = "x".repeat(25);
        assert_eq!(split_text(&long, Limit::Chars(10), 5).len(), 3);
        // Bytes: multi-byte characters are never cut in half.
        let emoji = "😀".repeat(300); // 1200 bytes
        let parts = split_text(&emoji, Limit::Bytes(1000), 5);
        assert!(parts.iter().all(|p| p.len() <= 1000));
        assert_eq!(parts.concat(), emoji);
        // Too many parts: the last is trimmed with an ellipsis, still within the limit.
        let parts = split_text(&"kata ".repeat(100), Limit::Chars(20), 3);
        assert_eq!(parts.len(), 3);
        assert!(
            parts[2].ends_with('…') && parts[2].chars().count() <= 20,
            "{parts:?}"
        );
        let parts = split_text(&"é".repeat(600), Limit::Bytes(1000), 1);
        assert!(parts[0].len() <= 1000 && parts[0].ends_with('…'));
    }

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

    #[test]
    fn bsuid_recipients() {
        assert_eq!(whatsapp_to("6281234567890"), ("to", "6281234567890"));
        assert_eq!(
            whatsapp_to("US.13491208655302741918"),
            ("recipient", "US.13491208655302741918")
        );
    }
}
