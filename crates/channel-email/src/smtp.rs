//! Outbound replies over SMTP: [`SmtpSender`] implements [`ReplySender`] with lettre's
//! SMTP client over connections of our own pool.
//!
//! The pool exists for one reason: lettre's own pooled transport opens its sockets without
//! `TCP_NODELAY`, and it writes a message's body and the closing `.` in two writes. With
//! Nagle's algorithm the small second write waits for the server's (delayed) ACK of the
//! first, about 40 ms on Linux, on every message: 175 messages/s with 8 sends at once.
//! Here each connection is opened by us with `TCP_NODELAY` (then STARTTLS or implicit TLS
//! on top) and handed to lettre's [`AsyncSmtpConnection`]. A connection idle for longer
//! than [`CHECK_AFTER`] is checked with `NOOP` before reuse; one idle for [`POOL_IDLE`] is
//! closed.
//!
//! Every reply gets our own `Message-ID: <reply_key@message_id_domain>` (lettre adds none),
//! the outbox row's key fixed when it was queued, so a resend after a crash is the same
//! message (SPEC §5); it is returned as the external id so a citizen's reply can be threaded back (see
//! channels.md §4.1). Automatic mails (acknowledgement, rating thanks, escalation, the
//! notice of a question's timeout) carry `Auto-Submitted` and `X-Loop` per RFC 3834; what
//! staff wrote (the approved answer, a question) does not.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use aduan_core::model::ReplyKind;
use aduan_core::outbox::{RenderedReply, ReplySender, SendError};
use async_trait::async_trait;
use lettre::Message;
use lettre::address::Envelope;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MessageBuilder};
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::client::TlsParameters;
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::tls::Transport;

/// Most SMTP connections one sender keeps open (at least the outbox's concurrent sends,
/// [`aduan_core::outbox::DEFAULT_CONCURRENCY`]).
pub const POOL_SIZE: u32 = 10;
/// An idle pooled SMTP connection is closed after this.
pub const POOL_IDLE: Duration = Duration::from_secs(60);
/// A pooled connection idle for longer than this is checked with `NOOP` before it is used
/// (the server may have closed it); one used more recently is used straight away.
pub const CHECK_AFTER: Duration = Duration::from_secs(1);

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
    /// The TLS client configuration could not be built.
    #[error("SMTP TLS setup: {0}")]
    TlsSetup(String),
    /// The Message-ID domain is empty or contains characters not allowed in an id.
    #[error("invalid message_id_domain `{0}`")]
    MessageIdDomain(String),
}

/// Sends [`RenderedReply`]s by SMTP. Cheap to share: it holds only the settings and
/// its connection pool.
pub struct SmtpSender {
    pool: Arc<Pool>,
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
        let (starttls, wrapper) = match settings.security {
            Security::None => (None, None),
            Security::StartTls => (Some(tls_params()?), None),
            Security::Tls => {
                // Checked here so a bad host name is a configuration error, as for STARTTLS.
                tls_params()?;
                (
                    None,
                    Some(
                        crate::tls::connector()
                            .map_err(|e| SmtpConfigError::TlsSetup(e.to_string()))?,
                    ),
                )
            }
        };
        let credentials = match (&settings.username, &settings.password) {
            (Some(u), Some(p)) => Some(Credentials::new(u.clone(), p.clone())),
            _ => None,
        };
        let pool = Arc::new(Pool {
            connector: Connector {
                host: settings.host.clone(),
                port: settings.port,
                starttls,
                wrapper,
                credentials,
                timeout: settings.timeout,
                hello: ClientId::default(),
            },
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(POOL_SIZE as usize),
        });
        Pool::reap_in_background(&pool);
        let mut own_addresses: Vec<String> = settings
            .own_addresses
            .iter()
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        own_addresses.push(settings.from.email.to_string().to_ascii_lowercase());
        Ok(SmtpSender {
            pool,
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
        self.pool
            .send(message.envelope(), &message.formatted())
            .await
    }

    /// SMTP connections open now, idle in the pool (for tests and diagnostics).
    pub fn idle_connections(&self) -> usize {
        self.pool.idle.lock().map(|v| v.len()).unwrap_or(0)
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
        match self.send_message(message).await {
            Ok(()) => {
                tracing::info!(ticket = %reply.item.ticket, kind = reply.item.kind.as_str(), %message_id, "e-mail reply sent");
                Ok(Some(message_id))
            }
            Err(mapped) => {
                // Servers quote the refused address: log (and return) the error without it.
                let mapped = without_recipient_err(mapped, &reply.item.recipient);
                tracing::warn!(ticket = %reply.item.ticket, outbox_id = reply.item.id, error = %mapped, "e-mail reply not sent");
                Err(mapped)
            }
        }
    }
}

/// How a new connection is opened.
struct Connector {
    host: String,
    port: u16,
    /// STARTTLS after the greeting (mandatory: a server without it is an error).
    starttls: Option<TlsParameters>,
    /// Implicit TLS before the greeting.
    wrapper: Option<TlsConnector>,
    credentials: Option<Credentials>,
    /// Bound of connecting (TCP, TLS, greeting, EHLO, AUTH) and of one send.
    timeout: Duration,
    hello: ClientId,
}

impl Connector {
    async fn open(&self) -> Result<AsyncSmtpConnection, SendError> {
        let addr = format!("{}:{}", self.host, self.port);
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| SendError::Transient(format!("connect {addr}: {e}")))?;
        // The point of this pool (see the module documentation).
        tcp.set_nodelay(true)
            .map_err(|e| SendError::Transient(format!("connect {addr}: TCP_NODELAY: {e}")))?;
        let stream = match &self.wrapper {
            None => Transport::Plain(tcp),
            Some(connector) => {
                let name = ServerName::try_from(self.host.clone()).map_err(|e| {
                    SendError::Permanent(format!("TLS server name `{}`: {e}", self.host))
                })?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| SendError::Transient(format!("TLS handshake with {addr}: {e}")))?;
                Transport::Tls(Box::new(tls))
            }
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
            .await
            .map_err(|e| map_error(&e))?;
        if let Some(params) = &self.starttls {
            // Errors (no STARTTLS offered, a failed handshake) are never a fall-back to
            // clear text.
            conn.starttls(params.clone(), &self.hello)
                .await
                .map_err(|e| map_error(&e))?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(|e| map_error(&e))?;
        }
        Ok(conn)
    }
}

/// How one attempt on one connection failed.
enum Failed {
    /// The server answered with an error (4xx, 5xx), or did not answer in time.
    Answered(SendError),
    /// The connection failed under us (closed, reset, a protocol error).
    Network(SendError),
}

impl Failed {
    fn into_send_error(self) -> SendError {
        match self {
            Failed::Answered(e) | Failed::Network(e) => e,
        }
    }
}

/// A connection waiting in the pool, and since when.
struct Idle {
    conn: AsyncSmtpConnection,
    since: Instant,
}

/// At most [`POOL_SIZE`] connections in use at once; the idle ones are reused newest
/// first, so a burst's connections are kept and a quiet period lets the spare ones expire.
struct Pool {
    connector: Connector,
    idle: Mutex<Vec<Idle>>,
    permits: Semaphore,
}

impl Pool {
    async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SendError> {
        let timeout = self.connector.timeout;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::Transient("SMTP pool closed".into()))?;
        if let Some(conn) = self.checked_idle().await {
            match self.send_on(conn, envelope, bytes).await {
                // A server may close a connection between two messages (a per-connection
                // message limit, a restart). That is a network error on the reused
                // connection, not an answer: the message goes once more on a new one. This
                // adds no risk of a double the outbox's own retry would not carry: a resend
                // has the same Message-ID.
                Err(Failed::Network(_)) => {}
                other => return other.map_err(Failed::into_send_error),
            }
        }
        let conn = tokio::time::timeout(timeout, self.connector.open())
            .await
            .map_err(|_| {
                SendError::Transient(format!(
                    "connecting to the SMTP server timed out after {timeout:?}"
                ))
            })??;
        self.send_on(conn, envelope, bytes)
            .await
            .map_err(Failed::into_send_error)
    }

    async fn send_on(
        &self,
        mut conn: AsyncSmtpConnection,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<(), Failed> {
        // The whole transaction is bounded (lettre's own timeout was per read and write):
        // the configured timeout, plus the time the message takes at 64 KiB/s, so a
        // digest with its logbook attached is not cut off on a slow link.
        let timeout = self.connector.timeout + Duration::from_secs((bytes.len() as u64) >> 16);
        match tokio::time::timeout(timeout, conn.send(envelope, bytes)).await {
            Ok(Ok(_)) => {
                if !conn.has_broken() {
                    self.put(conn);
                }
                Ok(())
            }
            // lettre aborts a connection on any error: it is not reused.
            Ok(Err(e)) if e.is_permanent() || e.is_transient() => {
                Err(Failed::Answered(map_error(&e)))
            }
            Ok(Err(e)) => Err(Failed::Network(map_error(&e))),
            Err(_) => Err(Failed::Answered(SendError::Transient(format!(
                "SMTP send timed out after {timeout:?}"
            )))),
        }
    }

    /// The newest idle connection that still answers, if any.
    async fn checked_idle(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let idle = self.idle.lock().ok()?.pop()?;
            let Idle { mut conn, since } = idle;
            let idle_for = since.elapsed();
            if idle_for >= POOL_IDLE {
                continue;
            }
            if idle_for < CHECK_AFTER {
                return Some(conn);
            }
            match tokio::time::timeout(self.connector.timeout, conn.test_connected()).await {
                Ok(true) => return Some(conn),
                _ => continue,
            }
        }
    }

    fn put(&self, conn: AsyncSmtpConnection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// Connections idle for [`POOL_IDLE`] are closed (dropped) by a task that lives as long
    /// as the pool; without a runtime (a sender built outside one) they are dropped on the
    /// next send instead.
    fn reap_in_background(pool: &Arc<Pool>) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<Pool> = Arc::downgrade(pool);
        handle.spawn(async move {
            loop {
                tokio::time::sleep(POOL_IDLE / 4).await;
                let Some(pool) = weak.upgrade() else { return };
                if let Ok(mut idle) = pool.idle.lock() {
                    idle.retain(|i| i.since.elapsed() < POOL_IDLE);
                }
            }
        });
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
