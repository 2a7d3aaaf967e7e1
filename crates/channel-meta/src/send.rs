//! Replies through the Graph API: Messenger and Instagram Send API, WhatsApp Cloud API.
//!
//! Before each send the 24-hour customer-service window is checked against the citizen's
//! last inbound message ([`Desk::last_inbound_at`]). Inside it the text goes out as plain
//! messages, split at each platform's limit. Outside it WhatsApp sends the configured
//! approved template (language `id`, the ticket number as its one body parameter), while
//! Messenger and Instagram fail the reply permanently with [`WINDOW_CLOSED`] so staff answer
//! on another channel. Graph errors are mapped to retry or permanent failure; an expired or
//! invalid token (code 190) is retried like an outage; the daemon's sender watch shows it
//! under `senders` on `/readyz` (a warning: intake goes on) until a send succeeds.
//!
//! Layout: `split` cuts texts at the platform limits, `graph` classifies Graph API
//! errors; this module sends.

mod graph;
mod split;

use aduan_core::mask::mask_text;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use aduan_core::desk::Desk;
use aduan_core::outbox::{RenderedReply, ReplySender, SendError};
use aduan_core::types::{Channel, TicketNumber};
use async_trait::async_trait;
use chrono::Duration;
use serde_json::{Value, json};

pub use graph::{GraphError, classify};
pub use split::{Limit, split_text};

use crate::MetaContext;
use crate::config::{MetaConfig, Secret};

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
    let mut add = |channel, platform, url, token: &Secret, template: &str| {
        let s = GraphSender {
            platform,
            http: http.clone(),
            url,
            token: token.clone(),
            template: template.trim().to_string(),
            desk: ctx.desk.clone(),
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
        let last = self
            .desk
            .intake()
            .last_inbound_at(ticket)
            .await
            .map_err(|e| {
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
            Ok(id) => Ok(id),
            // Retried like any outage and shown under `senders` on `/readyz` (a warning, as
            // for every reply sender): the webhooks still take complaints meanwhile.
            Err(GraphError::Token(m)) => {
                tracing::error!(platform = name, error = %mask_text(&m), "meta access token expired or invalid");
                Err(SendError::Transient(format!(
                    "access token expired or invalid: {m}"
                )))
            }
            Err(GraphError::Transient { message, after }) => {
                tracing::warn!(platform = name, error = %mask_text(&message), "meta send failed; will retry");
                Err(match after {
                    Some(after) => SendError::RetryAfter { after, message },
                    None => SendError::Transient(message),
                })
            }
            Err(GraphError::WindowClosed(m)) => {
                Err(SendError::Permanent(format!("{WINDOW_CLOSED} ({m})")))
            }
            Err(GraphError::Permanent(m)) => {
                tracing::warn!(platform = name, error = %mask_text(&m), "meta send refused");
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
    fn bsuid_recipients() {
        assert_eq!(whatsapp_to("6281234567890"), ("to", "6281234567890"));
        assert_eq!(
            whatsapp_to("US.13491208655302741918"),
            ("recipient", "US.13491208655302741918")
        );
    }
}
