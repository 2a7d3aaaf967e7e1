//! Outbound replies over SMTP: [`SmtpSender`] implements [`ReplySender`] with lettre's
//! pooled async transport.
//!
//! Every reply gets our own `Message-ID: <reply_key@message_id_domain>` (lettre adds none),
//! the outbox row's key fixed when it was queued, so a resend after a crash is the same
//! message (SPEC §5); it is returned as the external id so a citizen's reply can be threaded back (see
//! channels.md §4.1). Automatic mails (acknowledgement, rating thanks, escalation, the
//! notice of a question's timeout) carry `Auto-Submitted` and `X-Loop` per RFC 3834; what
//! staff wrote (the approved answer, a question) does not.

use std::time::Duration;

use aduan_core::model::ReplyKind;
use aduan_core::outbox::{RenderedReply, ReplySender, SendError};
use async_trait::async_trait;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MessageBuilder};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Most SMTP connections one sender keeps open (at least the outbox's concurrent sends,
/// [`aduan_core::outbox::DEFAULT_CONCURRENCY`]).
pub const POOL_SIZE: u32 = 10;
/// An idle pooled SMTP connection is closed after this.
pub const POOL_IDLE: Duration = Duration::from_secs(60);

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Security {
    /// Plain TCP (local relays and tests only).
    None,
    /// Submission with mandatory STARTTLS (usually port 587).
    #[default]
    StartTls,
    /// Implicit TLS (usually port 465).
    Tls,
}

/// Settings of the outbound SMTP connection.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Server host name (also the TLS server name).
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Transport security.
    pub security: Security,
    /// Login name; authentication is used only when both this and `password` are set.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// `From` of every mail (and the envelope sender).
    pub from: Mailbox,
    /// Domain of the Message-IDs we generate (e.g. `bulelengkab.example`).
    pub message_id_domain: String,
    /// Our own addresses: we refuse to send to them (mail loop).
    pub own_addresses: Vec<String>,
    /// Connect/command timeout.
    pub timeout: Duration,
}

impl SmtpSettings {
    /// Settings with `StartTls`, no credentials, no extra own addresses and a 30 s timeout.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        from: Mailbox,
        message_id_domain: impl Into<String>,
    ) -> Self {
        SmtpSettings {
            host: host.into(),
            port,
            security: Security::StartTls,
            username: None,
            password: None,
            from,
            message_id_domain: message_id_domain.into(),
            own_addresses: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Why [`SmtpSender::new`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    /// TLS parameters could not be built (e.g. an invalid host name).
    #[error("SMTP TLS setup for {host}: {source}")]
    Tls {
        /// The configured host.
        host: String,
        /// lettre's error.
        #[source]
        source: lettre::transport::smtp::Error,
    },
    /// The Message-ID domain is empty or contains characters not allowed in an id.
    #[error("invalid message_id_domain `{0}`")]
    MessageIdDomain(String),
}

/// Sends [`RenderedReply`]s by SMTP. Cheap to share: it holds only the settings and
/// lettre's connection pool.
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    message_id_domain: String,
    own_addresses: Vec<String>,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender")
            .field("from", &self.from.email.to_string())
            .field("message_id_domain", &self.message_id_domain)
            .finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// Build the sender. Does not connect: the first send opens the connection.
    pub fn new(settings: SmtpSettings) -> Result<Self, SmtpConfigError> {
        let domain = settings.message_id_domain.trim().to_string();
        if domain.is_empty()
            || !domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(SmtpConfigError::MessageIdDomain(settings.message_id_domain));
        }
        let tls_params = || {
            TlsParameters::new(settings.host.clone()).map_err(|source| SmtpConfigError::Tls {
                host: settings.host.clone(),
                source,
            })
        };
        let tls = match settings.security {
            Security::None => Tls::None,
            Security::StartTls => Tls::Required(tls_params()?),
            Security::Tls => Tls::Wrapper(tls_params()?),
        };
        // Connections are pooled and reused across sends (lettre's `pool` feature): up to
        // POOL_SIZE at once, so the outbox's concurrent sends each get one; idle ones close
        // after POOL_IDLE.
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
                .port(settings.port)
                .tls(tls)
                .timeout(Some(settings.timeout))
                .pool_config(
                    PoolConfig::new()
                        .max_size(POOL_SIZE)
                        .idle_timeout(POOL_IDLE),
                );
        if let (Some(u), Some(p)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
        }
        let mut own_addresses: Vec<String> = settings
            .own_addresses
            .iter()
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        own_addresses.push(settings.from.email.to_string().to_ascii_lowercase());
        Ok(SmtpSender {
            transport: builder.build(),
            from: settings.from,
            message_id_domain: domain,
            own_addresses,
        })
    }

    /// The sender mailbox (`From`).
    pub fn from_mailbox(&self) -> &Mailbox {
        &self.from
    }

    /// A fresh Message-ID (without `<>`) on the configured domain.
    pub fn new_message_id(&self) -> String {
        format!("{}@{}", uuid::Uuid::now_v7(), self.message_id_domain)
    }

    /// The Message-ID (without `<>`) of a reply: `{reply_key}@{domain}`, the key fixed when
    /// the reply was queued, so every send of one outbox row — a resend after a crash that
    /// cut the first off after the server took it — carries the same Message-ID (SPEC §5).
    pub fn reply_message_id(&self, item: &aduan_core::model::OutboxItem) -> String {
        let key = item.reply_key.trim();
        let usable = !key.is_empty()
            && key.len() <= 64
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && !key.starts_with('.')
            && !key.ends_with('.')
            && !key.contains("..");
        if usable {
            format!("{key}@{}", self.message_id_domain)
        } else {
            // Every row has a key since migration 0009; still stable per row, never random.
            tracing::warn!(reply = item.id, "outbox row without a usable reply key");
            format!("reply-{}@{}", item.id, self.message_id_domain)
        }
    }

    /// Send a message built elsewhere (the monthly digest with its attachments), with the
    /// same error mapping as replies.
    pub async fn send_message(&self, message: Message) -> Result<(), SendError> {
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| map_error(&e))
    }

    /// Build the message for a reply, returning it with its Message-ID (without `<>`).
    /// Exposed for tests and previews; [`ReplySender::send`] uses it.
    pub fn build_message(&self, reply: &RenderedReply) -> Result<(Message, String), SendError> {
        let item = &reply.item;
        let to: Mailbox = item.recipient.trim().parse().map_err(|e| {
            SendError::Permanent(format!(
                "invalid recipient address `{}`: {e}",
                item.recipient
            ))
        })?;
        let to_addr = to.email.to_string().to_ascii_lowercase();
        if self.own_addresses.contains(&to_addr) {
            return Err(SendError::Permanent(format!(
                "refusing to send to our own address {to_addr} (mail loop)"
            )));
        }

        let vars = &item.vars;
        let in_reply_to = vars
            .get("in_reply_to")
            .and_then(|v| v.as_str())
            .and_then(normalize_id);
        let references = references(vars.get("references"), in_reply_to.as_deref());
        let base_subject = vars
            .get("subject")
            .and_then(|v| v.as_str())
            .map(|s| strip_subject(s, item.ticket.as_str()))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| default_subject(item.kind).to_string());
        let subject = format!(
            "{}[{}] {}",
            if in_reply_to.is_some() { "Re: " } else { "" },
            item.ticket,
            base_subject
        );

        let message_id = self.reply_message_id(item);
        let mut builder: MessageBuilder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{message_id}>")))
            .header(ContentType::TEXT_PLAIN);
        if let Some(id) = &in_reply_to {
            builder = builder.in_reply_to(format!("<{id}>"));
        }
        if !references.is_empty() {
            let joined = references
                .iter()
                .map(|r| format!("<{r}>"))
                .collect::<Vec<_>>()
                .join(" ");
            builder = builder.references(joined);
        }
        match item.kind {
            ReplyKind::Ack | ReplyKind::RatingThanks => {
                builder = builder
                    .header(AutoSubmitted("auto-replied".into()))
                    .header(XLoop(self.from.email.to_string()));
            }
            // Not a reply to a message: RFC 3834 §5 "auto-generated".
            ReplyKind::Escalation | ReplyKind::Timeout => {
                builder = builder
                    .header(AutoSubmitted("auto-generated".into()))
                    .header(XLoop(self.from.email.to_string()));
            }
            // Written by staff: the answer and a question.
            ReplyKind::Answer | ReplyKind::Question => {}
        }
        let message = builder
            .body(reply.text.clone())
            .map_err(|e| SendError::Permanent(format!("cannot build message: {e}")))?;
        Ok((message, message_id))
    }
}

#[async_trait]
impl ReplySender for SmtpSender {
    async fn send(&self, reply: &RenderedReply) -> Result<Option<String>, SendError> {
        let (message, message_id) = self.build_message(reply)?;
        match self.transport.send(message).await {
            Ok(_) => {
                tracing::info!(ticket = %reply.item.ticket, kind = reply.item.kind.as_str(), %message_id, "e-mail reply sent");
                Ok(Some(message_id))
            }
            Err(e) => {
                let mapped = map_error(&e);
                // Servers quote the refused address: log (and return) the error without it.
                let mapped = without_recipient_err(mapped, &reply.item.recipient);
                tracing::warn!(ticket = %reply.item.ticket, outbox_id = reply.item.id, error = %mapped, "e-mail reply not sent");
                Err(mapped)
            }
        }
    }
}

/// `e` with the recipient taken out of its text.
fn without_recipient_err(e: SendError, recipient: &str) -> SendError {
    use aduan_core::mask::without_recipient as w;
    match e {
        SendError::Transient(m) => SendError::Transient(w(&m, recipient)),
        SendError::Permanent(m) => SendError::Permanent(w(&m, recipient)),
        SendError::RetryAfter { after, message } => SendError::RetryAfter {
            after,
            message: w(&message, recipient),
        },
    }
}

/// 5xx replies are permanent; everything else (4xx, connection, TLS, timeouts, protocol
/// hiccups) is worth retrying.
fn map_error(e: &lettre::transport::smtp::Error) -> SendError {
    let text = error_chain(e);
    if e.is_permanent() {
        SendError::Permanent(text)
    } else {
        SendError::Transient(text)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

/// The default subject of each reply kind.
pub fn default_subject(kind: ReplyKind) -> &'static str {
    match kind {
        ReplyKind::Ack => "Pengaduan Anda telah diterima",
        ReplyKind::Answer => "Tindak lanjut pengaduan Anda",
        ReplyKind::Escalation => "Peringatan batas waktu SOP",
        ReplyKind::Question => "Pertanyaan tentang pengaduan Anda",
        ReplyKind::Timeout => "Pengaduan Anda ditutup",
        ReplyKind::RatingThanks => "Terima kasih atas penilaian Anda",
    }
}

/// Remove reply/forward prefixes (`Re:`, `AW:`, `Fwd:`, `Bls:` …), the ticket's own tag
/// and control characters from a subject, so ours reads `[TICKET] original subject`.
pub fn strip_subject(subject: &str, ticket: &str) -> String {
    let tag = format!("[{ticket}]");
    let mut s: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace(&tag, " ");
    loop {
        let trimmed = s.trim_start();
        let lower = trimmed.to_lowercase();
        let prefix = [
            "re:", "aw:", "fw:", "fwd:", "bls:", "balas:", "tr:", "antw:", "sv:", "vs:", "wg:",
            "auto:",
        ]
        .iter()
        .find(|p| lower.starts_with(*p));
        match prefix {
            // The prefixes are ASCII, so the byte length is the same in `trimmed`.
            Some(p) => s = trimmed[p.len()..].to_string(),
            None => break,
        }
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A message id without `<>`, or `None` when empty or not id-shaped.
fn normalize_id(raw: &str) -> Option<String> {
    let id = raw
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let ok = !id.is_empty()
        && id.len() <= 250
        && id.contains('@')
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '<' && c != '>');
    ok.then(|| id.to_string())
}

/// At most this many ids go into `References` (the first and the most recent ones).
const MAX_REFERENCES: usize = 20;

/// RFC 5322 §3.6.4: the parent's References followed by the parent's Message-ID. `refs`
/// may be an array of ids or one space-separated string.
fn references(refs: Option<&serde_json::Value>, in_reply_to: Option<&str>) -> Vec<String> {
    let mut raw: Vec<String> = match refs {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str())
            .map(str::to_string)
            .collect(),
        Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    };
    if let Some(parent) = in_reply_to {
        raw.push(parent.to_string());
    }
    let mut out: Vec<String> = Vec::new();
    for id in raw.iter().filter_map(|r| normalize_id(r)) {
        if let Some(pos) = out.iter().position(|o| *o == id) {
            // Keep the later position so the parent ends the list.
            if pos != 0 {
                out.remove(pos);
            } else {
                continue;
            }
        }
        out.push(id);
    }
    if out.len() > MAX_REFERENCES {
        // Keep the thread root and the most recent ids (what clients do when truncating).
        let tail = out.split_off(out.len() - (MAX_REFERENCES - 1));
        out.truncate(1);
        out.extend(tail);
    }
    out
}

/// `Auto-Submitted` (RFC 3834).
#[derive(Debug, Clone)]
struct AutoSubmitted(String);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted(s.trim().to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `X-Loop`: our address, so our own mail is recognized if it comes back.
#[derive(Debug, Clone)]
struct XLoop(String);

impl Header for XLoop {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Loop")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(XLoop(s.trim().to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subject_cleanup() {
        assert_eq!(
            strip_subject("Re: [LPR-202601-0001] Lampu mati", "LPR-202601-0001"),
            "Lampu mati"
        );
        assert_eq!(
            strip_subject("AW: Fwd: RE:  Jalan\r\n rusak", "X-202601-0001"),
            "Jalan rusak"
        );
        assert_eq!(strip_subject("Re:", "X-202601-0001"), "");
        assert_eq!(strip_subject("Réponse: é", "X-202601-0001"), "Réponse: é");
    }

    #[test]
    fn references_follow_rfc5322() {
        assert_eq!(references(None, Some("p@x")), vec!["p@x"]);
        assert_eq!(
            references(Some(&json!(["<a@x>", "b@x"])), Some("p@x")),
            vec!["a@x", "b@x", "p@x"]
        );
        assert_eq!(
            references(Some(&json!("<a@x> <p@x>")), Some("p@x")),
            vec!["a@x", "p@x"]
        );
        assert_eq!(
            references(Some(&json!(["bad id", "", "<>"])), None),
            Vec::<String>::new()
        );
        let many: Vec<String> = (0..30).map(|i| format!("<m{i}@x>")).collect();
        let r = references(Some(&json!(many)), Some("p@x"));
        assert_eq!(r.len(), MAX_REFERENCES);
        assert_eq!(r[0], "m0@x");
        assert_eq!(r[r.len() - 1], "p@x");
    }
}
