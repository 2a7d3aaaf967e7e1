//! One message, from raw bytes to one desk commit.
//!
//! Invariants:
//! - The cursor moves past a message only together with what it produced:
//!   [`Desk::receive`](aduan_core::desk::Desk::receive) commits the complaint or
//!   conversation message and the cursor in one transaction (a redelivery writes only the
//!   cursor); a bounce or a message that can never be stored sets the cursor alone. A store
//!   error returns before the cursor moves, so the message is read again.
//! - The external id ([`external_id`]) is the same on every delivery of the same message,
//!   so a re-read mailbox (lost cursor, new UIDVALIDITY) makes duplicates, not new
//!   complaints.
//! - A bounce of a reply aduan sent marks that outbox row failed and makes no complaint; a
//!   bounce recognized by its subject alone and matching nothing is filed like any mail.
//! - An acknowledgement is queued only for mail a person wrote (RFC 3834), not from the
//!   office's own addresses, and at most [`EmailContext::ack_daily_cap`] per sender in
//!   24 hours.
//! - Mail threaded onto a complaint that refuses it is filed as a new complaint, never lost.
//! - Threading tries In-Reply-To/References, then the `[TICKET]` tag, then — for mail a
//!   person wrote — a reply's subject (`Re: <subject>` onto the sender's open complaint with
//!   that subject, [`ThreadHint::ReplySubject`]); the desk checks that each joins only the
//!   sender's own complaint.
//! - Every complaint and message has a sender address: the first usable mailbox of `From`
//!   (else `Sender`), else `Reply-To`, else `Return-Path`; mail with none is refused (logged,
//!   counted `rejected`, kept in the archive mailbox).
//!
//! [`EmailContext::ack_daily_cap`]: super::EmailContext::ack_daily_cap

use aduan_core::desk::{DeskError, Inbound, MAX_BODY_CHARS, Received, Submission, ThreadHint};
use aduan_core::model::{AckRoute, Cursor, ReplyThread};
use aduan_core::types::{Channel, EmailAddress, TicketNumber};
use sha2::{Digest, Sha256};

use super::reader::{MailboxState, Reader};
use super::{Failure, store_err};
use crate::parse::{
    AutoKind, InboundMail, TRUNCATION_NOTE, normalize_blocking, normalize_oversized_blocking,
};

/// What was downloaded of one message.
#[derive(Debug, Clone, Copy)]
pub(super) enum Fetched<'a> {
    /// The whole message (within `max_message_bytes`).
    Whole(&'a [u8]),
    /// A message over `max_message_bytes` of `size` bytes: its header section (or the start
    /// of the message), nothing more.
    Oversized { header: &'a [u8], size: u64 },
}

/// Message-IDs longer than this are hashed into the external id.
const MAX_ID_LEN: usize = 500;
/// At most this many In-Reply-To/References ids are used for threading.
const MAX_THREAD_IDS: usize = 50;
/// Longest display name kept (the desk's limit).
const MAX_NAME_CHARS: usize = 200;

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

/// What happened to one message: the outcome every channel counts.
pub(super) use aduan_core::intake_outcome::IntakeOutcome as Outcome;

impl Reader<'_> {
    async fn set_cursor(&self, value: &str) -> Result<(), Failure> {
        self.ctx
            .desk
            .intake()
            .set_cursor(&self.key, value)
            .await
            .map_err(store_err)
    }

    /// Normalize (on the blocking pool) and commit one message; the cursor moves with it.
    pub(super) async fn process(
        &self,
        st: &MailboxState,
        uid: u32,
        item: Fetched<'_>,
    ) -> Result<Outcome, Failure> {
        let cursor_value = format!("{}:{uid}", st.uidvalidity);
        let limits = self.ctx.limits;
        let (parsed, raw) = match item {
            Fetched::Whole(raw) => (normalize_blocking(raw.to_vec(), limits).await, raw),
            Fetched::Oversized { header, size } => {
                tracing::info!(mailbox = %self.key, uid, bytes = size, limit = limits.max_message_bytes,
                    "oversized: only the header section was read; the complaint says so");
                (
                    normalize_oversized_blocking(header.to_vec(), size, limits).await,
                    header,
                )
            }
        };
        let mail = match parsed {
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
            // Bounce subjects may quote the refused address: stored without it.
            let reason: String = aduan_core::mask::mask_text(&format!("bounce: {}", mail.subject))
                .chars()
                .take(300)
                .collect();
            let mut matched = 0;
            for id in original_message_ids {
                if self
                    .ctx
                    .desk
                    .intake()
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
        if sender_address(&mail).is_none() {
            tracing::warn!(mailbox = %self.key, uid, bytes = raw.len(),
                "rejected: no usable From, Reply-To or Return-Path address (kept in the archive mailbox)");
            self.set_cursor(&cursor_value).await?;
            return Ok(Outcome::Rejected);
        }
        let first = self
            .ctx
            .desk
            .intake()
            .receive(self.inbound(&mail, &cursor_value, true).await?)
            .await;
        let threaded = mail.ticket_tag.is_some()
            || !mail.in_reply_to.is_empty()
            || !mail.references.is_empty()
            || subject_hint(&mail).is_some();
        let result = match first {
            // The complaint the mail continues refused it (its state, …): file the mail as
            // a complaint of its own rather than lose it.
            Err(e) if threaded && !matches!(e, DeskError::Store(_) | DeskError::Invalid { .. }) => {
                tracing::warn!(mailbox = %self.key, uid, error = %e,
                    "the threaded complaint refused the message; filing it as a new complaint");
                self.ctx
                    .desk
                    .intake()
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
                Ok(Outcome::Appended)
            }
            Ok(Received::Duplicate { ticket }) => {
                tracing::info!(mailbox = %self.key, uid, %ticket, "e-mail already stored (redelivery)");
                Ok(Outcome::Duplicate)
            }
            // Chat channels only; kept for completeness of the desk's answers.
            Ok(Received::Rated { ticket, score }) => {
                tracing::info!(mailbox = %self.key, uid, %ticket, score, "e-mail recorded as a rating");
                Ok(Outcome::Appended)
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
    async fn ack_to(&self, mail: &InboundMail) -> Result<Option<AckRoute>, Failure> {
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
            .intake()
            .acks_since(Channel::Email, &to, since)
            .await
            .map_err(store_err)?;
        if sent >= self.ctx.ack_daily_cap {
            tracing::info!(mailbox = %self.key, sent, cap = self.ctx.ack_daily_cap,
                "acknowledgement cap reached for this address; none queued");
            return Ok(None);
        }
        let mut thread = ReplyThread {
            subject: Some(mail.subject.clone()),
            ..Default::default()
        };
        if let Some(id) = &mail.message_id {
            // RFC 5322 §3.6.4: the parent's References (else its In-Reply-To) + its id.
            let mut refs: Vec<String> = if mail.references.is_empty() {
                mail.in_reply_to.clone()
            } else {
                mail.references.clone()
            };
            refs.push(id.clone());
            thread.in_reply_to = Some(id.clone());
            thread.references = refs;
        }
        Ok(Some(AckRoute {
            channel: Channel::Email,
            recipient: to,
            thread,
        }))
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
            hints.extend(subject_hint(mail));
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
                email: sender_address(mail),
                handle: None,
                body: message_body(mail),
                attachments: mail.attachments.clone(),
                with_access_code: true,
                ack_to,
                ..Submission::default()
            },
            thread: hints,
            cursor: Some(Cursor::new(self.key.clone(), cursor_value)),
        })
    }
}

/// The address when it is one the desk accepts.
fn valid_email(a: &str) -> Option<String> {
    EmailAddress::parse(a).ok().map(|e| e.as_str().to_string())
}

/// The complainant's address: `From` (its first usable mailbox, else `Sender`), else
/// `Reply-To`, else the envelope's `Return-Path`; `None` when none is usable.
fn sender_address(mail: &InboundMail) -> Option<String> {
    [
        mail.from_address.as_deref(),
        mail.reply_to.as_deref(),
        mail.return_path.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find_map(valid_email)
}

/// The reply-by-subject hint: only for mail a person wrote (RFC 3834 `Human`: never an
/// auto-reply, list or bounce) whose subject starts with a reply or forward prefix.
fn subject_hint(mail: &InboundMail) -> Option<ThreadHint> {
    (mail.auto == AutoKind::Human && aduan_core::subject::reply_key(&mail.subject).is_some())
        .then(|| ThreadHint::ReplySubject(mail.subject.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EmailConfig;
    use crate::imap::intake_key;
    use crate::parse::{Limits, normalize};

    fn mail(raw: &str) -> InboundMail {
        normalize(raw.as_bytes(), &Limits::default()).expect("parse")
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
}
