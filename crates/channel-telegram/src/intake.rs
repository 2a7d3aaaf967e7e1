//! Turning one Telegram update into desk calls: [`handle_update`], shared by the polling
//! loop and the webhook.
//!
//! - A private-chat message — text, a photo or document with or without caption, a voice
//!   note, audio, a video or video note, a location, a venue, a contact — becomes a
//!   complaint through [`Desk::receive`], deduplicated on `"{chat_id}:{message_id}"`, or
//!   is appended to the chat's open complaint (or to the complaint whose acknowledgement or
//!   answer the citizen replied to, or whose ticket number the message names). Files are
//!   not downloaded here: each becomes a media job committed with the message and fetched
//!   by the channel's media worker ([`crate::media`]), which this handler wakes. The files
//!   of an album (`media_group_id`) join the complaint of the album's first message. The
//!   acknowledgement is queued in the outbox as a reply to the citizen's message.
//! - `/start`, `/help` and `/status TICKET` are answered directly in Bahasa Indonesia;
//!   they create nothing.
//! - A message of a kind aduan cannot store (a poll, a dice, a game …) is answered with an
//!   explanation once: the message id is recorded with the offset ([`Intake::notice_once`]),
//!   so a redelivery is not answered again.
//! - Everything else (a sticker alone, edited messages, reactions, channel posts, group
//!   chats, service messages, other update kinds) is logged and skipped without an answer.
//!
//! [`Intake::notice_once`]: aduan_core::desk::Intake::notice_once
//!
//! In polling mode the caller passes the `telegram:offset` value to commit: it is written in
//! the same transaction as the complaint, or alone for updates that create nothing, and
//! only after the work is done. An `Err` means nothing was confirmed: the caller must not
//! advance past this update, so it is delivered again.
//!
//! Layout: `incoming` reads the update, `command` parses commands and ticket mentions,
//! `texts` builds the citizen-facing texts from `config/templates/telegram/`; this module
//! decides and commits.

mod command;
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
use incoming::{Kind, classify_update};

/// The cursor key of the polling offset (`update_id + 1` of the last finished update).
pub const OFFSET_CURSOR: &str = "telegram:offset";

/// How to treat one update.
#[derive(Debug, Clone, Default)]
pub struct HandleOptions {
    /// Polling: the [`OFFSET_CURSOR`] value to commit with this update (its
    /// `update_id + 1`). Webhook: `None`, no cursor is written.
    pub offset: Option<i64>,
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
    /// Such a message delivered again: the citizen was told before, nothing is sent.
    RefusedBefore(String),
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
            Outcome::RefusedBefore(_) => I::Duplicate,
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
            Outcome::RefusedBefore(_) => "refused before",
            Outcome::Ignored(_) => "ignored",
        }
    }
}

/// Why an update could not be finished; it must be delivered again.
#[derive(Debug)]
pub enum HandleError {
    /// The store failed (`is_transient()`: busy or unreachable).
    Store(StoreError),
}

impl HandleError {
    /// Worth retrying soon (every error is retried; this tells 503 from 500).
    pub fn is_transient(&self) -> bool {
        match self {
            HandleError::Store(e) => e.is_transient(),
        }
    }
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandleError::Store(e) => write!(f, "store: {e}"),
        }
    }
}

impl std::error::Error for HandleError {}

impl From<StoreError> for HandleError {
    fn from(e: StoreError) -> Self {
        HandleError::Store(e)
    }
}

/// The fuzz targets' view of update parsing (`fuzz/`): what intake reads from one update,
/// without the desk, the Bot API or the network. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use super::incoming::{Kind, classify_update};
    use super::{parse_command, tickets_in};

    /// What [`read_update`] found.
    #[derive(Debug)]
    pub struct Read {
        /// `message`, `unsupported` or `skip`.
        pub kind: &'static str,
        /// The sender's name (messages only).
        pub name: Option<String>,
        /// The text or caption (messages only).
        pub text: Option<String>,
        /// Shared locations, venues and contacts as text lines.
        pub shared: Vec<String>,
        /// Files to fetch.
        pub files: usize,
        /// The command in the text, if any (`Debug` form).
        pub command: Option<String>,
        /// Ticket numbers named in the text.
        pub tickets: Vec<String>,
        /// Everything else, for the record (`Debug` form).
        pub detail: String,
    }

    /// Classify one update as [`super::handle_update`] does and read its text.
    pub fn read_update(update: &serde_json::Value) -> Read {
        let mut r = Read {
            kind: "skip",
            name: None,
            text: None,
            shared: Vec::new(),
            files: 0,
            command: None,
            tickets: Vec::new(),
            detail: String::new(),
        };
        match classify_update(update) {
            Kind::Message(m) => {
                r.kind = "message";
                r.command = m
                    .text
                    .as_deref()
                    .and_then(parse_command)
                    .map(|c| format!("{c:?}"));
                r.tickets = tickets_in(m.text.as_deref().unwrap_or(""))
                    .into_iter()
                    .map(|t| t.to_string())
                    .collect();
                r.files = m.files.len();
                r.detail = format!("{}:{} {:?}", m.external_id(), m.private, m.album_key());
                r.name = m.name;
                r.text = m.text;
                r.shared = m.shared;
            }
            other @ Kind::Unsupported { .. } => {
                r.kind = "unsupported";
                r.detail = format!("{other:?}");
            }
            other @ Kind::Skip(_) => r.detail = format!("{other:?}"),
        }
        r
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
        Kind::Unsupported {
            chat_id,
            message_id,
            what,
        } => return refuse_once(ctx, bot, opts, update_id, chat_id, message_id, what).await,
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
    let body = std::iter::once(text.trim())
        .chain(m.shared.iter().map(String::as_str))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    if body.is_empty() && m.files.is_empty() {
        return tell_once(
            ctx,
            bot,
            opts,
            chat,
            m.message_id,
            "no text",
            texts::need_text(),
        )
        .await;
    }
    let mut thread = Vec::new();
    if let Some(album) = m.album_key() {
        thread.push(ThreadHint::Album(album));
    }
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
            media: m.files.clone(),
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
    let files = m.files.len();
    match desk.intake().receive(inbound).await {
        Ok(Received::Created(r)) => {
            tracing::info!(ticket = %r.ticket, message = m.message_id, files, "telegram: complaint received");
            if files > 0 {
                ctx.media_wake.notify_one();
            }
            Ok(Outcome::Created(r.ticket))
        }
        Ok(Received::Appended { ticket, reopened }) => {
            tracing::info!(%ticket, message = m.message_id, reopened, files, "telegram: message appended");
            if files > 0 {
                ctx.media_wake.notify_one();
            }
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
            let reason = format!("refused: {field}");
            tell_once(ctx, bot, opts, chat, m.message_id, &reason, note).await
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

/// A message of a kind aduan cannot store: explained once.
async fn refuse_once(
    ctx: &TelegramContext,
    bot: &Bot,
    opts: &HandleOptions,
    update_id: Option<i64>,
    chat: i64,
    message_id: i64,
    what: String,
) -> Result<Outcome, HandleError> {
    tracing::info!(
        update_id,
        message = message_id,
        what,
        "telegram: unsupported message"
    );
    let reason = format!("unsupported: {what}");
    tell_once(
        ctx,
        bot,
        opts,
        chat,
        message_id,
        &reason,
        texts::unsupported_media(),
    )
    .await
}

/// Tell the citizen why their message is not stored — once: the notice is recorded (with
/// the offset) before the answer goes out, so a redelivered update is never answered twice.
async fn tell_once(
    ctx: &TelegramContext,
    bot: &Bot,
    opts: &HandleOptions,
    chat: i64,
    message_id: i64,
    reason: &str,
    text: &str,
) -> Result<Outcome, HandleError> {
    let cursor = opts
        .offset
        .map(|o| aduan_core::model::Cursor::new(OFFSET_CURSOR, o.to_string()));
    let first = ctx
        .desk
        .intake()
        .notice_once(
            Channel::Telegram,
            &format!("{chat}:{message_id}"),
            reason,
            cursor,
        )
        .await
        .map_err(|e| match e {
            DeskError::Store(s) => HandleError::Store(s),
            other => HandleError::Store(StoreError::Other(other.to_string())),
        })?;
    if !first {
        tracing::info!(
            message = message_id,
            reason,
            "telegram: told before; not answered twice"
        );
        return Ok(Outcome::RefusedBefore(reason.to_string()));
    }
    let token = bot.token().to_string();
    answer(bot, &token, chat, Some(message_id), text).await;
    Ok(Outcome::Refused(reason.to_string()))
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
