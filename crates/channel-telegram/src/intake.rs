//! Turning one Telegram update into desk calls: [`handle_update`], shared by the polling
//! loop and the webhook.
//!
//! - A private-chat message with text (or a photo/document with caption) becomes a
//!   complaint through [`Desk::receive`], deduplicated on `"{chat_id}:{message_id}"`, or
//!   is appended to the chat's open complaint (or to the complaint whose acknowledgement or
//!   answer the citizen replied to, or whose ticket number the message names). The
//!   acknowledgement is queued in the outbox as a reply to the citizen's message.
//! - `/start`, `/help` and `/status TICKET` are answered directly in Bahasa Indonesia;
//!   they create nothing.
//! - Everything else (edited messages, channel posts, group chats, service messages, other
//!   update kinds) is logged and skipped.
//!
//! In polling mode the caller passes the `telegram:offset` value to commit: it is written in
//! the same transaction as the complaint, or alone for updates that create nothing, and
//! only after the work is done. An `Err` means nothing was confirmed: the caller must not
//! advance past this update, so it is delivered again.
//!
//! Layout: `incoming` reads the update, `command` parses commands and ticket mentions,
//! `files` downloads attachments, `texts` builds the citizen-facing texts from
//! `config/templates/telegram/`; this module decides and commits.

mod command;
mod files;
mod incoming;
mod texts;

use std::fmt;

use aduan_core::desk::{Desk, DeskError, Inbound, Received, Submission, ThreadHint};
use aduan_core::store::StoreError;
use aduan_core::types::{Channel, TicketNumber};
use serde_json::Value;
use teloxide::Bot;
use teloxide::payloads::SendMessageSetters;
use teloxide::requests::Requester;
use teloxide::types::{ChatId, MessageId, ReplyParameters};

use crate::TelegramContext;
use crate::send::split_message;
use command::{Command, parse_command, tickets_in};
use files::{OTHER_MEDIA_NOTE, collect_files};
use incoming::{Kind, classify_update};

/// The cursor key of the polling offset (`update_id + 1` of the last finished update).
pub const OFFSET_CURSOR: &str = "telegram:offset";

/// How to treat one update.
#[derive(Debug, Clone, Default)]
pub struct HandleOptions {
    /// Polling: the [`OFFSET_CURSOR`] value to commit with this update (its
    /// `update_id + 1`). Webhook: `None`, no cursor is written.
    pub offset: Option<i64>,
    /// Store the message without the files whose download keeps failing (with a note in
    /// the text) instead of failing the update. Set after repeated transient failures.
    pub give_up_downloads: bool,
}

/// What [`handle_update`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new complaint; its acknowledgement is queued.
    Created(TicketNumber),
    /// Appended to an existing complaint of this chat.
    Appended {
        ticket: TicketNumber,
        reopened: bool,
    },
    /// This message was already stored (redelivery): nothing written but the cursor.
    Duplicate(TicketNumber),
    /// A number 1–5 after the answer: the rating of that complaint.
    Rated { ticket: TicketNumber, score: u8 },
    /// A command (`/start`, `/help`, `/status`) answered in the chat.
    Answered(&'static str),
    /// A message that cannot become a complaint; the citizen was told why.
    Refused(String),
    /// An update that is not a citizen message (edited message, channel post, group chat,
    /// other update kinds): skipped.
    Ignored(String),
}

impl Outcome {
    /// The shared intake outcome counted in `aduan_intake_total`.
    pub fn intake(&self) -> aduan_core::intake_outcome::IntakeOutcome {
        use aduan_core::intake_outcome::IntakeOutcome as I;
        match self {
            Outcome::Created(_) => I::Accepted,
            Outcome::Appended { .. } | Outcome::Rated { .. } => I::Appended,
            Outcome::Duplicate(_) => I::Duplicate,
            Outcome::Answered(_) => I::Answered,
            Outcome::Refused(_) => I::Rejected,
            Outcome::Ignored(_) => I::Ignored,
        }
    }

    /// Short label for logs.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Created(_) => "created",
            Outcome::Appended { .. } => "appended",
            Outcome::Rated { .. } => "rated",
            Outcome::Duplicate(_) => "duplicate",
            Outcome::Answered(_) => "command",
            Outcome::Refused(_) => "refused",
            Outcome::Ignored(_) => "ignored",
        }
    }
}

/// Why an update could not be finished; it must be delivered again.
#[derive(Debug)]
pub enum HandleError {
    /// The store failed (`is_transient()`: busy or unreachable).
    Store(StoreError),
    /// A file could not be fetched from Telegram for now.
    Download(String),
}

impl HandleError {
    /// Worth retrying soon (every error is retried; this tells 503 from 500).
    pub fn is_transient(&self) -> bool {
        match self {
            HandleError::Store(e) => e.is_transient(),
            HandleError::Download(_) => true,
        }
    }
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandleError::Store(e) => write!(f, "store: {e}"),
            HandleError::Download(m) => write!(f, "file download: {m}"),
        }
    }
}

impl std::error::Error for HandleError {}

impl From<StoreError> for HandleError {
    fn from(e: StoreError) -> Self {
        HandleError::Store(e)
    }
}

// ---- sending short direct answers ----

/// Send a direct answer (not through the outbox: commands are not complaints). Failures
/// are logged only; the citizen can ask again.
async fn answer(bot: &Bot, token: &str, chat: i64, reply_to: Option<i64>, text: &str) {
    for (i, part) in split_message(text, crate::send::MAX_MESSAGE_UTF16)
        .into_iter()
        .enumerate()
    {
        let mut req = bot.send_message(ChatId(chat), part);
        if i == 0
            && let Some(r) = reply_to.and_then(|r| i32::try_from(r).ok())
        {
            req = req
                .reply_parameters(ReplyParameters::new(MessageId(r)).allow_sending_without_reply());
        }
        if let Err(e) = req.await {
            tracing::warn!(reply_to, error = %aduan_core::mask::without_recipient(&crate::bot::error_text(token, &e), &chat.to_string()), "telegram: direct answer not sent");
            return;
        }
    }
}

// ---- the handler ----

/// Handle one update, given as the JSON object Telegram sent (an element of the
/// `getUpdates` result, or a webhook body); see the module docs.
///
/// `Ok` means it is finished — committed, answered, or deliberately skipped — and, when
/// `opts.offset` is set, the cursor has been advanced with it. `Err` means nothing was
/// confirmed and the update must be delivered again.
pub async fn handle_update(
    ctx: &TelegramContext,
    bot: &Bot,
    update: &Value,
    opts: &HandleOptions,
) -> Result<Outcome, HandleError> {
    let desk = &ctx.desk;
    let token = bot.token().to_string();
    let update_id = update.get("update_id").and_then(Value::as_i64);
    let m = match classify_update(update) {
        Kind::Message(m) => m,
        Kind::Skip(what) => return skip(desk, opts, update_id, what).await,
    };
    if !m.private {
        return skip(
            desk,
            opts,
            update_id,
            "message in a non-private chat".to_string(),
        )
        .await;
    }
    let chat = m.chat_id;
    let handle = chat.to_string();
    if let Some(cmd) = m.text.as_deref().and_then(parse_command) {
        let (name, text) = match cmd {
            Command::Start => ("start", texts::welcome_text(desk)),
            Command::Help | Command::Unknown(_) => ("help", texts::welcome_text(desk)),
            Command::Status(None) => ("status", texts::status_usage(desk)),
            Command::Status(Some(t)) => {
                match desk
                    .intake()
                    .status_for_handle(&t, Channel::Telegram, &handle)
                    .await
                {
                    Ok(v) => ("status", texts::status_text(desk, &v)),
                    Err(DeskError::Store(e)) => return Err(e.into()),
                    Err(_) => ("status", texts::not_found_text(&t)),
                }
            }
        };
        answer(bot, &token, chat, Some(m.message_id), &text).await;
        advance(desk, opts).await?;
        return Ok(Outcome::Answered(name));
    }
    let text = m.text.clone().unwrap_or_default();
    if text.trim().is_empty() && m.files.is_empty() {
        let why = if m.other_media {
            texts::unsupported_media()
        } else {
            texts::need_text()
        };
        answer(bot, &token, chat, Some(m.message_id), why).await;
        advance(desk, opts).await?;
        return Ok(Outcome::Refused("no text".into()));
    }
    let (attachments, notes) = collect_files(ctx, bot, &token, &m, opts.give_up_downloads).await?;
    let mut body = text.trim().to_string();
    let mut notes = notes;
    if m.other_media {
        notes.push(OTHER_MEDIA_NOTE.to_string());
    }
    for n in &notes {
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str(n);
    }
    let mut thread = Vec::new();
    if let Some(r) = m.reply_to {
        thread.push(ThreadHint::MessageIds(vec![format!("{chat}:{r}")]));
    }
    thread.extend(tickets_in(&text).into_iter().map(ThreadHint::Ticket));
    thread.push(ThreadHint::OpenForHandle);
    let now = desk.now();
    let inbound = Inbound {
        submission: Submission {
            channel: Some(Channel::Telegram),
            external_id: Some(m.external_id()),
            received_at: Some(m.date.map_or(now, |d| d.min(now))),
            name: m.name.clone(),
            handle: Some(handle.clone()),
            body,
            attachments,
            with_access_code: false,
            ack_to: Some(aduan_core::model::AckRoute {
                channel: Channel::Telegram,
                recipient: handle.clone(),
                thread: aduan_core::model::ReplyThread {
                    reply_to_message_id: Some(m.message_id),
                    ..Default::default()
                },
            }),
            ..Default::default()
        },
        thread,
        cursor: opts
            .offset
            .map(|o| aduan_core::model::Cursor::new(OFFSET_CURSOR, o.to_string())),
    };
    match desk.intake().receive(inbound).await {
        Ok(Received::Created(r)) => {
            tracing::info!(ticket = %r.ticket, message = m.message_id, "telegram: complaint received");
            Ok(Outcome::Created(r.ticket))
        }
        Ok(Received::Appended { ticket, reopened }) => {
            tracing::info!(%ticket, message = m.message_id, reopened, "telegram: message appended");
            Ok(Outcome::Appended { ticket, reopened })
        }
        Ok(Received::Duplicate { ticket }) => {
            tracing::info!(%ticket, message = m.message_id, "telegram: redelivered message ignored");
            Ok(Outcome::Duplicate(ticket))
        }
        Ok(Received::Rated { ticket, score }) => {
            tracing::info!(%ticket, message = m.message_id, score, "telegram: rating recorded");
            Ok(Outcome::Rated { ticket, score })
        }
        Err(DeskError::Store(e)) => Err(e.into()),
        Err(DeskError::Invalid { field, message }) => {
            tracing::warn!(
                update_id,
                field,
                message = %aduan_core::mask::mask_text(&message),
                "telegram: message refused by the desk"
            );
            let note = if field == "body" {
                texts::need_text()
            } else {
                texts::cannot_store()
            };
            answer(bot, &token, chat, Some(m.message_id), note).await;
            advance(desk, opts).await?;
            Ok(Outcome::Refused(format!("{field}: {message}")))
        }
        Err(e) => {
            tracing::warn!(update_id, error = %aduan_core::mask::mask_text(&e.to_string()), "telegram: message not stored");
            advance(desk, opts).await?;
            Ok(Outcome::Refused(e.to_string()))
        }
    }
}

async fn advance(desk: &Desk, opts: &HandleOptions) -> Result<(), HandleError> {
    if let Some(o) = opts.offset {
        desk.intake()
            .set_cursor(OFFSET_CURSOR, &o.to_string())
            .await
            .map_err(|e| match e {
                DeskError::Store(s) => HandleError::Store(s),
                other => HandleError::Store(StoreError::Other(other.to_string())),
            })?;
    }
    Ok(())
}

async fn skip(
    desk: &Desk,
    opts: &HandleOptions,
    update_id: Option<i64>,
    what: String,
) -> Result<Outcome, HandleError> {
    tracing::info!(update_id, what, "telegram: update skipped");
    advance(desk, opts).await?;
    Ok(Outcome::Ignored(what))
}
