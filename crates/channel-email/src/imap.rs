//! IMAP intake: reads the configured mailbox and turns every message into a complaint or a
//! conversation message, exactly once.
//!
//! [`run_intake`] is the long-running task the binary spawns. One pass of its loop:
//!
//! 1. **Lease.** Only one replica reads a mailbox: the named lease
//!    `imap:{username}@{host}/{mailbox}` is taken with [`Desk::try_lease`] for
//!    [`LEASE_TTL`] and renewed every [`LEASE_RENEW`] (between messages and on every IDLE
//!    wake-up). A replica that does not get it, or loses it, stops reading and tries again
//!    later; the lease is released on shutdown.
//! 2. **Connect** with `none`, `starttls` or `tls` (rustls with the webpki roots), read the
//!    greeting, `LOGIN`, `CAPABILITY`, create the archive mailbox when absent, `SELECT`.
//! 3. **Cursor.** The durable cursor (same key as the lease) holds
//!    `"{uidvalidity}:{last_uid}"` and is committed by [`Desk::receive`] in the same
//!    transaction as the complaint it covers. A missing cursor, or one of another
//!    UIDVALIDITY (mailbox recreated, server lost its UIDs), means "read everything again":
//!    redelivered mail is then recognized by its external id, `msgid:<Message-ID>` or,
//!    without a Message-ID, `sha256:<hash of the raw message>` — the same id in every case,
//!    so both paths deduplicate.
//! 4. **Sync.** `UID FETCH 1:* (UID FLAGS RFC822.SIZE)` lists the mailbox. Messages at or
//!    below the cursor were committed by an earlier run that stopped before moving them:
//!    they are only moved. Newer ones are fetched (`BODY.PEEK[]`) in UID order, in batches of
//!    at most [`BATCH_MESSAGES`] messages / [`BATCH_BYTES`] bytes, normalized and committed
//!    one by one; after each batch the committed ones are moved to the archive mailbox
//!    (`UID MOVE`, or `UID COPY` + `\Deleted` flag + `UID EXPUNGE` of exactly those UIDs when
//!    the server lacks MOVE; without UIDPLUS the flagged originals are left in place, never
//!    expunged wholesale). Mail is never deleted.
//! 5. **Wait** with IDLE (when the server offers it and `idle` is on), woken by new mail or
//!    after [`LEASE_RENEW`] (far below the 29-minute limit) to renew the lease and resync;
//!    otherwise sleep `poll_interval`.
//!
//! Any connection error, timeout or `BYE` closes the session and reconnects after a backoff
//! of 1 s doubling to 60 s; a transient store error stops the batch before the message is
//! moved or the cursor advanced, and is retried the same way. The last error goes to the
//! `health` callback (shown by `/readyz`) until a sync succeeds again, and is counted in
//! `aduan_email_imap_errors_total`.
//!
//! Per message: a bounce (`AutoKind::Bounce`) of a reply aduan sent marks that outbox row
//! failed ([`Desk::fail_reply`]) and makes no complaint; mail that can never be stored (no
//! header section, nothing in it) is logged as rejected; both advance the cursor and are
//! archived. Everything else goes to [`Desk::receive`]: threaded by In-Reply-To/References
//! (matched against the Message-IDs aduan sent and received) and then the `[TICKET]` subject
//! tag, else a new complaint with an access code. An acknowledgement is queued only for
//! mail a person wrote (RFC 3834: not auto-submitted, bulk, list, bounce or no-reply mail,
//! not from the office's own addresses) and at most [`EmailContext::ack_daily_cap`] per
//! sender per 24 hours. Each outcome is counted in
//! `aduan_intake_total{channel="email",outcome="accepted|duplicate|rejected|bounce"}`.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aduan_core::desk::{
    Desk, DeskError, Inbound, MAX_BODY_CHARS, Received, Submission, ThreadHint,
};
use aduan_core::types::{Channel, EmailAddress, TicketNumber};
use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{Response, Status};
use async_imap::types::{Fetch, Flag, UnsolicitedResponse};
use async_imap::{Client, Session};
use futures::TryStreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_util::sync::CancellationToken;

use crate::config::EmailConfig;
use crate::parse::{AutoKind, InboundMail, Limits, TRUNCATION_NOTE, normalize};
use crate::smtp::Security;

/// How long a taken lease lasts without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(90);
/// How often the lease is renewed; also the longest IDLE before re-issuing it.
pub const LEASE_RENEW: Duration = Duration::from_secs(30);
/// Upper bound of one IDLE (RFC 2177: re-issue before 29 minutes).
pub const MAX_IDLE: Duration = Duration::from_secs(25 * 60);
/// How long a replica without the lease waits before asking again.
pub const LEASE_RETRY: Duration = Duration::from_secs(30);
/// Most messages fetched in one `UID FETCH`.
pub const BATCH_MESSAGES: usize = 200;
/// Most bytes (by `RFC822.SIZE`) fetched in one `UID FETCH` (a larger message goes alone).
pub const BATCH_BYTES: u64 = 32 * 1024 * 1024;
/// Default cap of acknowledgements per sender per 24 hours.
pub const DEFAULT_ACK_DAILY_CAP: i64 = 5;
/// First reconnect delay; doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest reconnect delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Timeout of connecting (TCP and TLS handshake) and of one ordinary command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Timeout of one batch `UID FETCH` (bodies).
const FETCH_TIMEOUT: Duration = Duration::from_secs(300);
/// Message-IDs longer than this are hashed into the external id.
const MAX_ID_LEN: usize = 500;
/// At most this many In-Reply-To/References ids are used for threading.
const MAX_THREAD_IDS: usize = 50;
/// Longest display name kept (the desk's limit).
const MAX_NAME_CHARS: usize = 200;

/// What the intake task needs besides its configuration.
#[derive(Clone)]
pub struct EmailContext {
    /// The complaint desk (intake, cursor, lease, bounce and acknowledgement-cap queries).
    pub desk: Desk,
    /// The office's own addresses (see [`EmailConfig::own_addresses`]): mail from them is
    /// never acknowledged.
    pub own_addresses: Vec<String>,
    /// Attachment and text limits applied while normalizing.
    pub limits: Limits,
    /// Most acknowledgements queued to one sender in 24 hours (default 5).
    pub ack_daily_cap: i64,
    /// This replica's id, the holder of the mailbox lease.
    pub holder: String,
    /// Called with the last error (`Some`) and with `None` once healthy again; the binary
    /// shows it in `/readyz`.
    pub health: Arc<dyn Fn(Option<String>) + Send + Sync>,
}

impl EmailContext {
    /// A context with no own addresses, default [`Limits`], the default acknowledgement cap
    /// and a health callback that does nothing.
    pub fn new(desk: Desk, holder: impl Into<String>) -> Self {
        EmailContext {
            desk,
            own_addresses: Vec::new(),
            limits: Limits::default(),
            ack_daily_cap: DEFAULT_ACK_DAILY_CAP,
            holder: holder.into(),
            health: Arc::new(|_| {}),
        }
    }
}

impl fmt::Debug for EmailContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailContext")
            .field("own_addresses", &self.own_addresses)
            .field("limits", &self.limits)
            .field("ack_daily_cap", &self.ack_daily_cap)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

/// The lease name and cursor key of a mailbox: `imap:{username}@{host}/{mailbox}`.
pub fn intake_key(cfg: &EmailConfig) -> String {
    format!(
        "imap:{}@{}/{}",
        cfg.username.trim(),
        cfg.imap_host.trim(),
        cfg.mailbox.trim()
    )
}

/// The external id a message is stored under: `msgid:<Message-ID>` (long ids hashed), or
/// `sha256:<hex of the raw bytes>` when it has no Message-ID.
pub fn external_id(mail: &InboundMail) -> String {
    match &mail.message_id {
        Some(id) if id.len() <= MAX_ID_LEN => format!("msgid:{id}"),
        Some(id) => format!(
            "msgid:sha256:{}",
            hex::encode(Sha256::digest(id.as_bytes()))
        ),
        None => format!("sha256:{}", mail.content_hash),
    }
}

/// Run the intake of `cfg.mailbox` until `shutdown` is cancelled. Returns at once when
/// intake is not enabled ([`EmailConfig::intake_enabled`]). Never panics on server or
/// message data; every failure is logged, reported to `ctx.health` and retried.
pub async fn run_intake(cfg: EmailConfig, ctx: EmailContext, shutdown: CancellationToken) {
    if !cfg.intake_enabled() {
        tracing::info!("e-mail intake disabled (channels.email.enabled / imap_host)");
        return;
    }
    let security = match cfg.imap_security() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "e-mail intake not started");
            (ctx.health)(Some(e));
            return;
        }
    };
    let poll_interval = cfg.poll_interval().unwrap_or(Duration::from_secs(60));
    let key = intake_key(&cfg);
    let lease_ttl = chrono::Duration::from_std(LEASE_TTL).unwrap_or(chrono::Duration::seconds(90));
    let mut backoff = BACKOFF_MIN;
    tracing::info!(mailbox = %key, holder = %ctx.holder, "e-mail intake starting");
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let wait = match ctx.desk.try_lease(&key, &ctx.holder, lease_ttl).await {
            Ok(true) => {
                let mut reader = Reader {
                    cfg: &cfg,
                    ctx: &ctx,
                    shutdown: &shutdown,
                    key: key.clone(),
                    security,
                    poll_interval,
                    lease_renewed: Instant::now(),
                    lease_ttl,
                    archive_error: None,
                };
                let outcome = reader.run(&mut backoff).await;
                metrics::gauge!("aduan_email_imap_connected").set(0.0);
                match outcome {
                    Failure::Shutdown => break,
                    Failure::LeaseLost => {
                        tracing::warn!(mailbox = %key, "mailbox lease lost; another replica reads it now");
                        LEASE_RETRY
                    }
                    f => {
                        let msg = format!("e-mail intake: {f}");
                        tracing::warn!(mailbox = %key, error = %msg, retry_in = ?backoff, "IMAP session ended");
                        metrics::counter!("aduan_email_imap_errors_total").increment(1);
                        (ctx.health)(Some(msg));
                        next_backoff(&mut backoff)
                    }
                }
            }
            Ok(false) => {
                tracing::debug!(mailbox = %key, "another replica holds the mailbox lease");
                (ctx.health)(None);
                LEASE_RETRY
            }
            Err(e) => {
                let msg = format!("e-mail intake: lease: {e}");
                tracing::warn!(mailbox = %key, error = %msg, "cannot take the mailbox lease");
                metrics::counter!("aduan_email_imap_errors_total").increment(1);
                (ctx.health)(Some(msg));
                next_backoff(&mut backoff)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    if let Err(e) = ctx.desk.release_lease(&key, &ctx.holder).await {
        tracing::warn!(mailbox = %key, error = %e, "cannot release the mailbox lease");
    }
    tracing::info!(mailbox = %key, "e-mail intake stopped");
}

/// Return the current backoff and double it for next time.
fn next_backoff(backoff: &mut Duration) -> Duration {
    let now = *backoff;
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    now
}

/// Why a session ended.
#[derive(Debug)]
enum Failure {
    /// Connection, protocol or server trouble: reconnect after a backoff.
    Imap(String),
    /// The store failed: the message stays unread; reconnect after a backoff.
    Store(String),
    /// Another replica took the mailbox.
    LeaseLost,
    /// The shutdown token was cancelled.
    Shutdown,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Imap(m) => write!(f, "IMAP: {m}"),
            Failure::Store(m) => write!(f, "store: {m}"),
            Failure::LeaseLost => f.write_str("mailbox lease lost"),
            Failure::Shutdown => f.write_str("shutting down"),
        }
    }
}

fn imap_err(what: &str, e: impl fmt::Display) -> Failure {
    Failure::Imap(format!("{what}: {e}"))
}

fn store_err(e: DeskError) -> Failure {
    Failure::Store(e.to_string())
}

/// Run an IMAP step with a timeout.
async fn step<T>(
    what: &str,
    limit: Duration,
    fut: impl Future<Output = Result<T, async_imap::error::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(imap_err(what, e)),
        Err(_) => Err(Failure::Imap(format!("{what}: no answer within {limit:?}"))),
    }
}

/// The byte stream under the IMAP session: plain TCP or TLS.
#[derive(Debug)]
enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type ImapSession = Session<Transport>;

/// A TLS connector trusting the webpki roots (ring provider, TLS 1.2 and 1.3).
fn tls_connector() -> Result<TlsConnector, Failure> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| imap_err("TLS setup", e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn tls_wrap(host: &str, tcp: TcpStream) -> Result<Transport, Failure> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| imap_err(&format!("TLS server name `{host}`"), e))?;
    let connector = tls_connector()?;
    match tokio::time::timeout(COMMAND_TIMEOUT, connector.connect(name, tcp)).await {
        Ok(Ok(s)) => Ok(Transport::Tls(Box::new(s))),
        Ok(Err(e)) => Err(imap_err("TLS handshake", e)),
        Err(_) => Err(Failure::Imap("TLS handshake: timed out".into())),
    }
}

/// Read and check the server greeting (`* OK` or `* PREAUTH`).
async fn read_greeting(client: &mut Client<Transport>) -> Result<(), Failure> {
    let resp = match tokio::time::timeout(COMMAND_TIMEOUT, client.read_response()).await {
        Ok(Ok(Some(r))) => r,
        Ok(Ok(None)) => {
            return Err(Failure::Imap(
                "connection closed before the greeting".into(),
            ));
        }
        Ok(Err(e)) => return Err(imap_err("greeting", e)),
        Err(_) => return Err(Failure::Imap("greeting: timed out".into())),
    };
    match resp.parsed() {
        Response::Data {
            status: Status::Ok | Status::PreAuth,
            ..
        } => Ok(()),
        Response::Data {
            status: Status::Bye,
            outcome,
        } => Err(Failure::Imap(format!(
            "server refused the connection: {}",
            outcome.information.as_deref().unwrap_or("BYE")
        ))),
        other => Err(Failure::Imap(format!("unexpected greeting: {other:?}"))),
    }
}

/// Connect, secure, greet and log in.
async fn connect(cfg: &EmailConfig, security: Security) -> Result<ImapSession, Failure> {
    let host = cfg.imap_host.trim();
    let addr = format!("{host}:{}", cfg.imap_port);
    let tcp = match tokio::time::timeout(COMMAND_TIMEOUT, TcpStream::connect((host, cfg.imap_port)))
        .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(imap_err(&format!("connect {addr}"), e)),
        Err(_) => return Err(Failure::Imap(format!("connect {addr}: timed out"))),
    };
    let _ = tcp.set_nodelay(true);
    let client = match security {
        Security::None => {
            let mut c = Client::new(Transport::Plain(tcp));
            read_greeting(&mut c).await?;
            c
        }
        Security::Tls => {
            let mut c = Client::new(tls_wrap(host, tcp).await?);
            read_greeting(&mut c).await?;
            c
        }
        Security::StartTls => {
            let mut c = Client::new(Transport::Plain(tcp));
            read_greeting(&mut c).await?;
            step(
                "STARTTLS",
                COMMAND_TIMEOUT,
                c.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            let Transport::Plain(tcp) = c.into_inner() else {
                return Err(Failure::Imap("STARTTLS on a TLS connection".into()));
            };
            // No greeting after STARTTLS (RFC 3501 §6.2.1).
            Client::new(tls_wrap(host, tcp).await?)
        }
    };
    match tokio::time::timeout(
        COMMAND_TIMEOUT,
        client.login(cfg.username.trim(), cfg.password.expose()),
    )
    .await
    {
        Ok(Ok(s)) => Ok(s),
        Ok(Err((e, _))) => Err(imap_err(&format!("LOGIN as {}", cfg.username.trim()), e)),
        Err(_) => Err(Failure::Imap("LOGIN: timed out".into())),
    }
}

/// A mailbox name with `/` translated to the server's hierarchy delimiter.
fn server_mailbox_name(name: &str, delimiter: Option<&str>) -> String {
    let name = name.trim();
    match delimiter {
        Some(d) if !d.is_empty() && d != "/" => name.replace('/', d),
        _ => name.to_string(),
    }
}

/// Parse a stored cursor `"{uidvalidity}:{last_uid}"`.
fn parse_cursor(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// A compact IMAP UID set (`1:3,7,9:12`) of sorted, distinct UIDs.
fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// Split `(uid, size)` (sorted) into batches of at most `max_n` messages and `max_bytes`
/// bytes; a message larger than `max_bytes` forms a batch alone.
fn batches(list: &[(u32, u64)], max_n: usize, max_bytes: u64) -> Vec<Vec<u32>> {
    let mut out: Vec<Vec<u32>> = Vec::new();
    let mut cur: Vec<u32> = Vec::new();
    let mut bytes = 0u64;
    for &(uid, size) in list {
        if !cur.is_empty() && (cur.len() >= max_n || bytes.saturating_add(size) > max_bytes) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        cur.push(uid);
        bytes = bytes.saturating_add(size);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Cut `s` to `max` characters, appending [`TRUNCATION_NOTE`] when cut.
fn cut_chars(s: &str, max: usize) -> String {
    let note_len = TRUNCATION_NOTE.chars().count() + 2;
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some(_) => {
            let keep = max.saturating_sub(note_len);
            let cut = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
            format!("{}\n\n{TRUNCATION_NOTE}", s[..cut].trim_end())
        }
    }
}

/// The complaint / message text of a mail: `"{subject}\n\n{text}"` (or either alone), a
/// note on attachments left out, the attachment names when there is no text at all; at
/// most the desk's [`MAX_BODY_CHARS`].
fn message_body(mail: &InboundMail) -> String {
    let subject = mail.subject.trim();
    let text = mail.text.trim();
    let mut body = match (subject.is_empty(), text.is_empty()) {
        (true, _) => text.to_string(),
        (false, true) => subject.to_string(),
        (false, false) => format!("{subject}\n\n{text}"),
    };
    if !mail.skipped_attachments.is_empty() {
        body.push_str(&format!(
            "\n\n[lampiran tidak disimpan (terlalu besar atau terlalu banyak): {}]",
            mail.skipped_attachments.join(", ")
        ));
    }
    if body.trim().is_empty() && !mail.attachments.is_empty() {
        let names: Vec<&str> = mail
            .attachments
            .iter()
            .map(|a| a.filename.as_str())
            .collect();
        body = format!("[lampiran: {}]", names.join(", "));
    }
    cut_chars(body.trim(), MAX_BODY_CHARS)
}

/// Ids to thread on: In-Reply-To then References, each also in the `msgid:` form inbound
/// mail is stored under.
fn thread_ids(mail: &InboundMail) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in mail.in_reply_to.iter().chain(mail.references.iter().rev()) {
        if ids.len() >= MAX_THREAD_IDS {
            break;
        }
        if id.len() <= MAX_ID_LEN && !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    let prefixed: Vec<String> = ids.iter().map(|i| format!("msgid:{i}")).collect();
    ids.extend(prefixed);
    ids
}

/// A bounce that is certainly machine-made (null sender, daemon sender, a delivery report
/// or a quoted original), as opposed to one recognized by its subject alone — which could
/// be a citizen writing "surat tidak terkirim".
fn is_certain_bounce(mail: &InboundMail) -> bool {
    let AutoKind::Bounce {
        original_message_ids,
    } = &mail.auto
    else {
        return false;
    };
    let local = mail
        .from_address
        .as_deref()
        .and_then(|a| a.rsplit_once('@').map(|(l, _)| l.to_ascii_lowercase()))
        .unwrap_or_default();
    mail.return_path.as_deref() == Some("")
        || matches!(local.as_str(), "mailer-daemon" | "postmaster")
        || !original_message_ids.is_empty()
        || mail.attachments.iter().any(|a| {
            matches!(
                a.content_type.as_str(),
                "message/delivery-status" | "text/rfc822-headers" | "message/rfc822-headers"
            )
        })
}

/// What happened to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Duplicate,
    Rejected,
    Bounce,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
            Outcome::Bounce => "bounce",
        }
    }
}

/// The selected mailbox of a session.
#[derive(Debug)]
struct MailboxState {
    uidvalidity: u32,
    /// Highest UID committed.
    last_uid: u32,
    archive: String,
    has_move: bool,
    has_uidplus: bool,
}

/// One connected reader (holds the lease while it runs).
struct Reader<'a> {
    cfg: &'a EmailConfig,
    ctx: &'a EmailContext,
    shutdown: &'a CancellationToken,
    key: String,
    security: Security,
    poll_interval: Duration,
    lease_renewed: Instant,
    lease_ttl: chrono::Duration,
    /// The last refusal to create or move to the archive mailbox (reported as health).
    archive_error: Option<String>,
}

impl Reader<'_> {
    /// Connect and read until something ends the session; returns why.
    async fn run(&mut self, backoff: &mut Duration) -> Failure {
        match self.session(backoff).await {
            Ok(never) => match never {},
            Err(f) => f,
        }
    }

    async fn session(
        &mut self,
        backoff: &mut Duration,
    ) -> Result<std::convert::Infallible, Failure> {
        let mut session = connect(self.cfg, self.security).await?;
        let caps = step("CAPABILITY", COMMAND_TIMEOUT, session.capabilities()).await?;
        let use_idle = self.cfg.idle && caps.has_str("IDLE");
        let delimiter = self.delimiter(&mut session).await?;
        let mailbox = server_mailbox_name(&self.cfg.mailbox, delimiter.as_deref());
        let archive = server_mailbox_name(&self.cfg.archive_mailbox, delimiter.as_deref());
        match self.ensure_mailbox(&mut session, &archive).await {
            Ok(()) => {}
            // Refused (permissions …): read anyway; the moves will fail and say so.
            Err(Archive::Refused(e)) => {
                tracing::warn!(mailbox = %archive, error = %e, "cannot create the archive mailbox");
                self.archive_error = Some(format!("creating {archive}: {e}"));
            }
            Err(Archive::Broken(f)) => return Err(f),
        }
        let selected = step("SELECT", COMMAND_TIMEOUT, session.select(&mailbox)).await?;
        let uidvalidity = selected
            .uid_validity
            .ok_or_else(|| Failure::Imap(format!("SELECT {mailbox}: no UIDVALIDITY")))?;
        let cursor = self.ctx.desk.cursor(&self.key).await.map_err(store_err)?;
        let last_uid = match cursor.as_deref().map(|c| (c, parse_cursor(c))) {
            None => {
                tracing::info!(mailbox = %self.key, uidvalidity, "no cursor yet: reading the whole mailbox (duplicates are recognized)");
                0
            }
            Some((_, Some((v, uid)))) if v == uidvalidity => uid,
            Some((raw, parsed)) => {
                tracing::warn!(mailbox = %self.key, cursor = %raw, uidvalidity, ?parsed,
                    "UIDVALIDITY changed (or bad cursor): reading the whole mailbox again; redelivered mail is recognized by Message-ID or content hash");
                0
            }
        };
        let mut st = MailboxState {
            uidvalidity,
            last_uid,
            archive,
            has_move: caps.has_str("MOVE"),
            has_uidplus: caps.has_str("UIDPLUS"),
        };
        metrics::gauge!("aduan_email_imap_connected").set(1.0);
        tracing::info!(mailbox = %self.key, uidvalidity, last_uid, idle = use_idle,
            has_move = st.has_move, "IMAP session ready");
        loop {
            // Sync until a pass finds no new mail and no new-mail notice arrived meanwhile:
            // only then is it safe to wait (mail appended during a long batch is taken in
            // now, not at the next IDLE re-issue).
            loop {
                let found = self.sync(&mut session, &mut st).await?;
                let notified = drain_unsolicited(&session);
                if found == 0 && !notified {
                    break;
                }
            }
            (self.ctx.health)(
                self.archive_error
                    .as_ref()
                    .map(|e| format!("e-mail intake: {e}")),
            );
            *backoff = BACKOFF_MIN;
            if self.shutdown.is_cancelled() {
                logout(&mut session).await;
                return Err(Failure::Shutdown);
            }
            if use_idle {
                session = self.idle(session).await?;
            } else {
                self.poll_wait(&mut session).await?;
            }
            self.renew_lease_if_due().await?;
        }
    }

    /// The server's hierarchy delimiter (`LIST "" ""`).
    async fn delimiter(&self, s: &mut ImapSession) -> Result<Option<String>, Failure> {
        step("LIST", COMMAND_TIMEOUT, async {
            let names: Vec<_> = s.list(Some(""), Some("\"\"")).await?.try_collect().await?;
            Ok(names
                .first()
                .and_then(|n| n.delimiter().map(str::to_string)))
        })
        .await
    }

    /// Create `name` (and subscribe to it) unless it exists.
    async fn ensure_mailbox(&self, s: &mut ImapSession, name: &str) -> Result<(), Archive> {
        match archive_step("STATUS", s.status(name, "(UIDVALIDITY)")).await {
            Ok(_) => return Ok(()),
            Err(Archive::Broken(f)) => return Err(Archive::Broken(f)),
            Err(Archive::Refused(_)) => {}
        }
        tracing::info!(mailbox = %name, "creating the archive mailbox");
        match archive_step("CREATE", s.create(name)).await {
            Ok(()) => {}
            Err(Archive::Broken(f)) => return Err(Archive::Broken(f)),
            // Someone else may have created it meanwhile.
            Err(Archive::Refused(e)) => {
                if archive_step("STATUS", s.status(name, "(UIDVALIDITY)"))
                    .await
                    .is_err()
                {
                    return Err(Archive::Refused(e));
                }
            }
        }
        if let Err(Archive::Refused(e) | Archive::Broken(Failure::Imap(e))) =
            archive_step("SUBSCRIBE", s.subscribe(name)).await
        {
            tracing::debug!(mailbox = %name, error = %e, "cannot subscribe to the archive mailbox");
        }
        Ok(())
    }

    async fn renew_lease_if_due(&mut self) -> Result<(), Failure> {
        if self.lease_renewed.elapsed() < LEASE_RENEW {
            return Ok(());
        }
        match self
            .ctx
            .desk
            .try_lease(&self.key, &self.ctx.holder, self.lease_ttl)
            .await
        {
            Ok(true) => {
                self.lease_renewed = Instant::now();
                Ok(())
            }
            Ok(false) => Err(Failure::LeaseLost),
            Err(e) => Err(Failure::Store(format!("renewing the mailbox lease: {e}"))),
        }
    }

    /// IDLE until new mail, [`LEASE_RENEW`] or shutdown.
    async fn idle(&self, session: ImapSession) -> Result<ImapSession, Failure> {
        let mut handle = session.idle();
        step("IDLE", COMMAND_TIMEOUT, handle.init()).await?;
        let woke = {
            let (wait, _stop) = handle.wait_with_timeout(LEASE_RENEW.min(MAX_IDLE));
            tokio::select! {
                r = wait => Some(r),
                _ = self.shutdown.cancelled() => None,
            }
        };
        match woke {
            None => {
                if let Ok(Ok(mut s)) =
                    tokio::time::timeout(Duration::from_secs(5), handle.done()).await
                {
                    logout(&mut s).await;
                }
                return Err(Failure::Shutdown);
            }
            Some(Err(e)) => return Err(imap_err("IDLE", e)),
            // The stop source is never used, so this means the stream ended.
            Some(Ok(IdleResponse::ManualInterrupt)) => {
                return Err(Failure::Imap(
                    "connection closed by the server during IDLE".into(),
                ));
            }
            Some(Ok(IdleResponse::NewData(data))) => {
                if let Response::Data {
                    status: Status::Bye,
                    outcome,
                } = data.parsed()
                {
                    return Err(Failure::Imap(format!(
                        "server closed the connection during IDLE: {}",
                        outcome.information.as_deref().unwrap_or("BYE")
                    )));
                }
                tracing::trace!(?data, "IDLE woke up");
            }
            Some(Ok(IdleResponse::Timeout)) => {}
        }
        step("DONE", COMMAND_TIMEOUT, handle.done()).await
    }

    /// Sleep `poll_interval`, renewing the lease on the way.
    async fn poll_wait(&mut self, s: &mut ImapSession) -> Result<(), Failure> {
        let until = Instant::now() + self.poll_interval;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => {
                    logout(s).await;
                    return Err(Failure::Shutdown);
                }
                _ = tokio::time::sleep(left.min(LEASE_RENEW)) => {}
            }
            self.renew_lease_if_due().await?;
        }
    }

    /// Read everything new in the selected mailbox.
    /// Take in every message above the cursor; returns how many new UIDs the pass saw.
    async fn sync(&mut self, s: &mut ImapSession, st: &mut MailboxState) -> Result<usize, Failure> {
        // (uid, size, deleted-flag) of every message.
        let listing: Vec<(u32, u64, bool)> = step("UID FETCH (listing)", FETCH_TIMEOUT, async {
            let fetches: Vec<Fetch> = s
                .uid_fetch("1:*", "(UID FLAGS RFC822.SIZE)")
                .await?
                .try_collect()
                .await?;
            Ok(fetches
                .iter()
                .filter_map(|f| {
                    let deleted = f.flags().any(|fl| matches!(fl, Flag::Deleted));
                    f.uid.map(|u| (u, u64::from(f.size.unwrap_or(0)), deleted))
                })
                .collect())
        })
        .await?;
        let mut leftovers: Vec<u32> = listing
            .iter()
            .filter(|(uid, _, deleted)| *uid <= st.last_uid && !*deleted)
            .map(|(uid, _, _)| *uid)
            .collect();
        leftovers.sort_unstable();
        leftovers.dedup();
        if !leftovers.is_empty() {
            tracing::info!(
                count = leftovers.len(),
                "archiving mail committed by an earlier run"
            );
            self.archive(s, st, &leftovers).await?;
        }
        let mut new: Vec<(u32, u64)> = listing
            .iter()
            .filter(|(uid, _, _)| *uid > st.last_uid)
            .map(|(uid, size, _)| (*uid, *size))
            .collect();
        new.sort_unstable();
        new.dedup_by_key(|(uid, _)| *uid);
        for batch in batches(&new, BATCH_MESSAGES, BATCH_BYTES) {
            self.renew_lease_if_due().await?;
            if self.shutdown.is_cancelled() {
                return Err(Failure::Shutdown);
            }
            let set = uid_set(&batch);
            let mut fetched: Vec<Fetch> = step("UID FETCH (bodies)", FETCH_TIMEOUT, async {
                s.uid_fetch(&set, "(UID BODY.PEEK[])")
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
            fetched.sort_by_key(|f| f.uid.unwrap_or(0));
            let mut done: Vec<u32> = Vec::new();
            let mut stop: Option<Failure> = None;
            for f in &fetched {
                let Some(uid) = f.uid else { continue };
                if uid <= st.last_uid {
                    continue;
                }
                let body = f.body().unwrap_or_else(|| {
                    tracing::warn!(mailbox = %self.key, uid, "the server returned no body for this message");
                    b""
                });
                match self.process(st, uid, body).await {
                    Ok(outcome) => {
                        metrics::counter!("aduan_intake_total", "channel" => "email", "outcome" => outcome.as_str())
                            .increment(1);
                        st.last_uid = uid;
                        done.push(uid);
                    }
                    Err(f) => {
                        stop = Some(f);
                        break;
                    }
                }
                if self.shutdown.is_cancelled() {
                    stop = Some(Failure::Shutdown);
                    break;
                }
                if let Err(f) = self.renew_lease_if_due().await {
                    stop = Some(f);
                    break;
                }
            }
            drop(fetched);
            if !done.is_empty() {
                self.archive(s, st, &done).await?;
            }
            if let Some(f) = stop {
                return Err(f);
            }
        }
        Ok(new.len())
    }

    /// Move committed messages to the archive mailbox.
    /// Move committed messages to the archive mailbox. A refusal by the server (`NO`/`BAD`:
    /// quota, permissions, a missing archive) does not stop intake: the mail stays in the
    /// mailbox (committed, so never read twice), the problem is reported as the health error
    /// and the move is tried again on the next sync. Connection trouble ends the session.
    async fn archive(
        &mut self,
        s: &mut ImapSession,
        st: &MailboxState,
        uids: &[u32],
    ) -> Result<(), Failure> {
        match try_archive(s, st, uids).await {
            Ok(()) => {
                self.archive_error = None;
                Ok(())
            }
            Err(Archive::Refused(e)) => {
                tracing::warn!(mailbox = %self.key, archive = %st.archive, error = %e,
                    "cannot move mail to the archive mailbox; it stays in place (already stored)");
                self.archive_error = Some(format!("archiving to {}: {e}", st.archive));
                Ok(())
            }
            Err(Archive::Broken(f)) => Err(f),
        }
    }

    async fn set_cursor(&self, value: &str) -> Result<(), Failure> {
        self.ctx
            .desk
            .set_cursor(&self.key, value)
            .await
            .map_err(store_err)
    }

    /// Normalize and commit one message; the cursor moves with it.
    async fn process(&self, st: &MailboxState, uid: u32, raw: &[u8]) -> Result<Outcome, Failure> {
        let cursor_value = format!("{}:{uid}", st.uidvalidity);
        let mail = match normalize(raw, &self.ctx.limits) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(mailbox = %self.key, uid, bytes = raw.len(), error = %e,
                    "rejected: not an e-mail message (kept in the archive mailbox)");
                self.set_cursor(&cursor_value).await?;
                return Ok(Outcome::Rejected);
            }
        };
        if let AutoKind::Bounce {
            original_message_ids,
        } = &mail.auto
        {
            let reason: String = format!("bounce: {}", mail.subject)
                .chars()
                .take(300)
                .collect();
            let mut matched = 0;
            for id in original_message_ids {
                if self
                    .ctx
                    .desk
                    .fail_reply(id, &reason)
                    .await
                    .map_err(store_err)?
                {
                    matched += 1;
                }
            }
            if matched > 0 || is_certain_bounce(&mail) {
                tracing::info!(mailbox = %self.key, uid, matched, originals = ?original_message_ids,
                    "bounce: no complaint made");
                self.set_cursor(&cursor_value).await?;
                return Ok(Outcome::Bounce);
            }
        }
        let first = self
            .ctx
            .desk
            .receive(self.inbound(&mail, &cursor_value, true).await?)
            .await;
        let threaded = mail.ticket_tag.is_some()
            || !mail.in_reply_to.is_empty()
            || !mail.references.is_empty();
        let result = match first {
            // The complaint the mail continues refused it (its state, …): file the mail as
            // a complaint of its own rather than lose it.
            Err(e) if threaded && !matches!(e, DeskError::Store(_) | DeskError::Invalid { .. }) => {
                tracing::warn!(mailbox = %self.key, uid, error = %e,
                    "the threaded complaint refused the message; filing it as a new complaint");
                self.ctx
                    .desk
                    .receive(self.inbound(&mail, &cursor_value, false).await?)
                    .await
            }
            other => other,
        };
        match result {
            Ok(Received::Created(receipt)) => {
                tracing::info!(mailbox = %self.key, uid, ticket = %receipt.ticket, "e-mail complaint received");
                Ok(Outcome::Accepted)
            }
            Ok(Received::Appended { ticket, reopened }) => {
                tracing::info!(mailbox = %self.key, uid, %ticket, reopened, "e-mail appended to its complaint");
                Ok(Outcome::Accepted)
            }
            Ok(Received::Duplicate { ticket }) => {
                tracing::info!(mailbox = %self.key, uid, %ticket, "e-mail already stored (redelivery)");
                Ok(Outcome::Duplicate)
            }
            Err(DeskError::Store(e)) => Err(Failure::Store(e.to_string())),
            Err(e) => {
                tracing::warn!(mailbox = %self.key, uid, error = %e,
                    "rejected: the message cannot be stored (kept in the archive mailbox)");
                self.set_cursor(&cursor_value).await?;
                Ok(Outcome::Rejected)
            }
        }
    }

    /// Where the acknowledgement goes, if one may be sent (RFC 3834 and the daily cap).
    async fn ack_to(
        &self,
        mail: &InboundMail,
    ) -> Result<Option<(Channel, String, serde_json::Value)>, Failure> {
        if !mail.auto.may_acknowledge() || mail.is_loop(&self.ctx.own_addresses) {
            return Ok(None);
        }
        let Some(to) = mail
            .reply_address()
            .and_then(valid_email)
            .map(|a| a.to_ascii_lowercase())
        else {
            return Ok(None);
        };
        if self
            .ctx
            .own_addresses
            .iter()
            .any(|o| o.trim().eq_ignore_ascii_case(&to))
        {
            return Ok(None);
        }
        let since = self.ctx.desk.now() - chrono::Duration::hours(24);
        let sent = self
            .ctx
            .desk
            .acks_since(Channel::Email, &to, since)
            .await
            .map_err(store_err)?;
        if sent >= self.ctx.ack_daily_cap {
            tracing::info!(recipient = %to, sent, cap = self.ctx.ack_daily_cap,
                "acknowledgement cap reached for this sender; none queued");
            return Ok(None);
        }
        let mut vars = json!({ "subject": mail.subject });
        if let Some(id) = &mail.message_id {
            // RFC 5322 §3.6.4: the parent's References (else its In-Reply-To) + its id.
            let mut refs: Vec<String> = if mail.references.is_empty() {
                mail.in_reply_to.clone()
            } else {
                mail.references.clone()
            };
            refs.push(id.clone());
            vars["in_reply_to"] = json!(id);
            vars["references"] = json!(refs);
        }
        Ok(Some((Channel::Email, to, vars)))
    }

    /// The desk input of a mail (with thread hints unless `thread` is false).
    async fn inbound(
        &self,
        mail: &InboundMail,
        cursor_value: &str,
        thread: bool,
    ) -> Result<Inbound, Failure> {
        let ack_to = self.ack_to(mail).await?;
        let mut hints = Vec::new();
        if thread {
            let ids = thread_ids(mail);
            if !ids.is_empty() {
                hints.push(ThreadHint::MessageIds(ids));
            }
            if let Some(t) = mail
                .ticket_tag
                .as_deref()
                .and_then(|t| TicketNumber::parse(t).ok())
            {
                hints.push(ThreadHint::Ticket(t));
            }
        }
        Ok(Inbound {
            submission: Submission {
                channel: Some(Channel::Email),
                external_id: Some(external_id(mail)),
                received_at: None,
                name: mail
                    .from_name
                    .as_ref()
                    .map(|n| n.chars().take(MAX_NAME_CHARS).collect()),
                email: mail.from_address.as_deref().and_then(valid_email),
                handle: None,
                body: message_body(mail),
                attachments: mail.attachments.clone(),
                with_access_code: true,
                ack_to,
                ..Submission::default()
            },
            thread: hints,
            cursor: Some((self.key.clone(), cursor_value.to_string())),
        })
    }
}

/// The address when it is one the desk accepts.
fn valid_email(a: &str) -> Option<String> {
    EmailAddress::parse(a).ok().map(|e| e.as_str().to_string())
}

/// Why moving to the archive failed.
enum Archive {
    /// The server answered `NO` or `BAD`.
    Refused(String),
    /// Anything else (connection, timeout).
    Broken(Failure),
}

/// An archive step: `NO`/`BAD` become [`Archive::Refused`].
async fn archive_step<T>(
    what: &str,
    fut: impl Future<Output = Result<T, async_imap::error::Error>>,
) -> Result<T, Archive> {
    use async_imap::error::Error;
    match tokio::time::timeout(COMMAND_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e @ (Error::No(_) | Error::Bad(_)))) => {
            Err(Archive::Refused(format!("{what}: {e}")))
        }
        Ok(Err(e)) => Err(Archive::Broken(imap_err(what, e))),
        Err(_) => Err(Archive::Broken(Failure::Imap(format!(
            "{what}: no answer within {COMMAND_TIMEOUT:?}"
        )))),
    }
}

/// `UID MOVE`, or `UID COPY` + `\Deleted` + `UID EXPUNGE` (only with UIDPLUS, so only
/// these UIDs are expunged; without it the flagged originals stay).
async fn try_archive(s: &mut ImapSession, st: &MailboxState, uids: &[u32]) -> Result<(), Archive> {
    let set = uid_set(uids);
    if st.has_move {
        return archive_step("UID MOVE", s.uid_mv(&set, &st.archive)).await;
    }
    archive_step("UID COPY", s.uid_copy(&set, &st.archive)).await?;
    archive_step("UID STORE", async {
        s.uid_store(&set, "+FLAGS.SILENT (\\Deleted \\Seen)")
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    if st.has_uidplus {
        archive_step("UID EXPUNGE", async {
            s.uid_expunge(&set).await?.try_collect::<Vec<_>>().await
        })
        .await?;
    }
    Ok(())
}

/// Drain unsolicited responses; whether any announced new mail.
fn drain_unsolicited(s: &ImapSession) -> bool {
    let mut new_mail = false;
    while let Ok(r) = s.unsolicited_responses.try_recv() {
        if matches!(
            r,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        ) {
            new_mail = true;
        }
    }
    new_mail
}

/// Best-effort `LOGOUT`.
async fn logout(s: &mut ImapSession) {
    let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(raw: &str) -> InboundMail {
        normalize(raw.as_bytes(), &Limits::default()).expect("parse")
    }

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[7]), "7");
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10, 11]), "1:3,7,9:11");
        assert_eq!(
            uid_set(&[u32::MAX - 1, u32::MAX]),
            format!("{}:{}", u32::MAX - 1, u32::MAX)
        );
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        let list: Vec<(u32, u64)> = (1..=5).map(|u| (u, 10)).collect();
        assert_eq!(
            batches(&list, 2, 1000),
            vec![vec![1, 2], vec![3, 4], vec![5]]
        );
        assert_eq!(
            batches(&list, 10, 25),
            vec![vec![1, 2], vec![3, 4], vec![5]]
        );
        // A message above the byte limit goes alone.
        let big = [(1, 5), (2, 100), (3, 5)];
        assert_eq!(batches(&big, 10, 50), vec![vec![1], vec![2], vec![3]]);
        assert!(batches(&[], 10, 50).is_empty());
    }

    #[test]
    fn cursors_parse() {
        assert_eq!(parse_cursor("1795879164:42"), Some((1_795_879_164, 42)));
        assert_eq!(parse_cursor(" 1:0 "), Some((1, 0)));
        assert_eq!(parse_cursor("1"), None);
        assert_eq!(parse_cursor("a:1"), None);
        assert_eq!(parse_cursor("1:-1"), None);
    }

    #[test]
    fn mailbox_names_use_the_server_delimiter() {
        assert_eq!(
            server_mailbox_name("Aduan/Diproses", Some(".")),
            "Aduan.Diproses"
        );
        assert_eq!(
            server_mailbox_name("Aduan/Diproses", Some("/")),
            "Aduan/Diproses"
        );
        assert_eq!(server_mailbox_name(" INBOX ", None), "INBOX");
    }

    #[test]
    fn keys_and_external_ids() {
        let cfg = EmailConfig {
            username: "pengaduan@x.go.id".into(),
            imap_host: "imap.x.go.id".into(),
            ..EmailConfig::default()
        };
        assert_eq!(
            intake_key(&cfg),
            "imap:pengaduan@x.go.id@imap.x.go.id/INBOX"
        );
        let with_id = mail("Message-ID: <a@b>\r\nFrom: w@example.net\r\n\r\nx\r\n");
        assert_eq!(external_id(&with_id), "msgid:a@b");
        let raw = "From: w@example.net\r\n\r\nx\r\n";
        let without = mail(raw);
        assert_eq!(
            external_id(&without),
            format!("sha256:{}", hex::encode(Sha256::digest(raw.as_bytes())))
        );
        let long = mail(&format!(
            "Message-ID: <{}@b>\r\nFrom: w@example.net\r\n\r\nx\r\n",
            "x".repeat(600)
        ));
        assert!(external_id(&long).starts_with("msgid:sha256:"));
    }

    #[test]
    fn bodies() {
        let m = mail("From: w@example.net\r\nSubject: Judul\r\n\r\nIsi.\r\n");
        assert_eq!(message_body(&m), "Judul\n\nIsi.");
        let m = mail("From: w@example.net\r\n\r\nIsi saja.\r\n");
        assert_eq!(message_body(&m), "Isi saja.");
        let m = mail("From: w@example.net\r\nSubject: Judul saja\r\n\r\n");
        assert_eq!(message_body(&m), "Judul saja");
        let m = mail("From: w@example.net\r\n\r\n");
        assert_eq!(message_body(&m), "");
        let long = format!(
            "From: w@example.net\r\nSubject: S\r\n\r\n{}\r\n",
            "kata ".repeat(10_000)
        );
        let body = message_body(&mail(&long));
        assert!(
            body.chars().count() <= MAX_BODY_CHARS,
            "{}",
            body.chars().count()
        );
        assert!(body.ends_with(TRUNCATION_NOTE));
    }

    #[test]
    fn attachment_only_mail_names_its_attachments() {
        let m = mail(
            "From: w@example.net\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: application/pdf; name=\"ktp.pdf\"\r\n\
             Content-Disposition: attachment; filename=\"ktp.pdf\"\r\n\r\n%PDF\r\n--b--\r\n",
        );
        assert_eq!(message_body(&m), "[lampiran: ktp.pdf]");
    }

    #[test]
    fn thread_ids_include_the_stored_form() {
        let m = mail(
            "From: w@example.net\r\nIn-Reply-To: <p@x>\r\nReferences: <r@x> <p@x>\r\n\r\nx\r\n",
        );
        assert_eq!(thread_ids(&m), vec!["p@x", "r@x", "msgid:p@x", "msgid:r@x"]);
        assert!(thread_ids(&mail("From: w@example.net\r\n\r\nx\r\n")).is_empty());
    }

    #[test]
    fn certain_and_doubtful_bounces() {
        let null_sender =
            mail("Return-Path: <>\r\nFrom: x@example.net\r\nSubject: Undeliverable\r\n\r\nx\r\n");
        assert!(is_certain_bounce(&null_sender));
        // Subject alone: could be a citizen writing about an undelivered letter.
        let subject_only = mail(
            "Return-Path: <w@example.net>\r\nFrom: Warga <w@example.net>\r\n\
             Subject: Surat tidak terkirim ke kantor pos\r\n\r\nSurat saya hilang.\r\n",
        );
        assert!(matches!(subject_only.auto, AutoKind::Bounce { .. }));
        assert!(!is_certain_bounce(&subject_only));
        assert!(!is_certain_bounce(&mail(
            "From: w@example.net\r\n\r\nx\r\n"
        )));
    }

    #[test]
    fn backoff_doubles_to_a_minute() {
        let mut b = BACKOFF_MIN;
        let seen: Vec<u64> = (0..8).map(|_| next_backoff(&mut b).as_secs()).collect();
        assert_eq!(seen, vec![1, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[test]
    fn the_tls_connector_builds() {
        // No process-wide CryptoProvider is needed (ring is passed explicitly).
        assert!(tls_connector().is_ok());
    }
}
