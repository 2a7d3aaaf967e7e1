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

use std::fmt;

use aduan_core::desk::{Desk, DeskError, Inbound, Received, StatusView, Submission, ThreadHint};
use aduan_core::model::NewAttachment;
use aduan_core::store::StoreError;
use aduan_core::types::{Channel, Resolution, State, TicketNumber};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{Value, json};
use teloxide::Bot;
use teloxide::net::Download;
use teloxide::payloads::SendMessageSetters;
use teloxide::requests::Requester;
use teloxide::types::{
    ChatId, FileId, Message, MessageId, MessageKind, ReplyParameters, Update, UpdateKind,
};

use crate::TelegramContext;
use crate::bot::{Failure, classify, scrub};
use crate::send::split_message;

/// The cursor key of the polling offset (`update_id + 1` of the last finished update).
pub const OFFSET_CURSOR: &str = "telegram:offset";

/// Longest name kept (the desk refuses longer ones).
const MAX_NAME_CHARS: usize = 200;

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
    /// A command (`/start`, `/help`, `/status`) answered in the chat.
    Answered(&'static str),
    /// A message that cannot become a complaint; the citizen was told why.
    Refused(String),
    /// An update that is not a citizen message (edited message, channel post, group chat,
    /// other update kinds): skipped.
    Ignored(String),
}

impl Outcome {
    /// Short label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Created(_) => "created",
            Outcome::Appended { .. } => "appended",
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

/// A file attached to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileRef {
    file_id: String,
    /// Size announced by Telegram, when known.
    size: Option<u64>,
    file_name: Option<String>,
    mime: Option<String>,
    kind: FileKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Photo,
    Document,
}

/// A citizen message reduced to what intake needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Incoming {
    chat_id: i64,
    private: bool,
    message_id: i64,
    date: Option<DateTime<Utc>>,
    name: Option<String>,
    /// Text, or the caption of a photo/document.
    text: Option<String>,
    reply_to: Option<i64>,
    files: Vec<FileRef>,
    /// A media kind aduan does not store (sticker, voice, video, location …).
    other_media: bool,
}

fn person_name(first: Option<&str>, last: Option<&str>, username: Option<&str>) -> Option<String> {
    let full = [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let name = if full.is_empty() {
        username
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| format!("@{u}"))?
    } else {
        full
    };
    Some(name.chars().take(MAX_NAME_CHARS).collect())
}

impl Incoming {
    /// From a message teloxide could parse.
    fn from_message(m: &Message) -> Incoming {
        let name = m.from.as_ref().and_then(|u| {
            person_name(
                Some(u.first_name.as_str()),
                u.last_name.as_deref(),
                u.username.as_deref(),
            )
        });
        let mut files = Vec::new();
        if let Some(p) = m.photo().and_then(|sizes| {
            sizes
                .iter()
                .max_by_key(|p| (p.width as u64 * p.height as u64, p.file.size))
        }) {
            files.push(FileRef {
                file_id: p.file.id.0.clone(),
                size: known_size(p.file.size),
                file_name: None,
                mime: Some("image/jpeg".into()),
                kind: FileKind::Photo,
            });
        }
        if let Some(d) = m.document() {
            files.push(FileRef {
                file_id: d.file.id.0.clone(),
                size: known_size(d.file.size),
                file_name: d.file_name.clone(),
                mime: d.mime_type.as_ref().map(|m| m.to_string()),
                kind: FileKind::Document,
            });
        }
        let text = m.text().or_else(|| m.caption()).map(str::to_string);
        let other_media = m.text().is_none() && files.is_empty();
        Incoming {
            chat_id: m.chat.id.0,
            private: m.chat.is_private(),
            message_id: m.id.0 as i64,
            date: Some(m.date),
            name,
            text,
            reply_to: m.reply_to_message().map(|r| r.id.0 as i64),
            files,
            other_media,
        }
    }

    /// From the raw JSON of a message teloxide could not parse (a newer Bot API field it
    /// does not know, an unusual MIME type …), so such a complaint is not lost.
    fn from_json(m: &Value) -> Option<Incoming> {
        let chat = m.get("chat")?;
        let chat_id = chat.get("id")?.as_i64()?;
        let message_id = m.get("message_id")?.as_i64()?;
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let from = m.get("from");
        let name = from.and_then(|u| {
            person_name(
                u.get("first_name").and_then(Value::as_str),
                u.get("last_name").and_then(Value::as_str),
                u.get("username").and_then(Value::as_str),
            )
        });
        let mut files = Vec::new();
        if let Some(sizes) = m.get("photo").and_then(Value::as_array) {
            let area = |p: &Value| {
                let d = |k| p.get(k).and_then(Value::as_u64).unwrap_or(0);
                (d("width").saturating_mul(d("height")), d("file_size"))
            };
            if let Some(p) = sizes.iter().max_by_key(|p| area(p))
                && let Some(id) = s(p, "file_id")
            {
                files.push(FileRef {
                    file_id: id,
                    size: p.get("file_size").and_then(Value::as_u64),
                    file_name: None,
                    mime: Some("image/jpeg".into()),
                    kind: FileKind::Photo,
                });
            }
        }
        if let Some(d) = m.get("document")
            && let Some(id) = s(d, "file_id")
        {
            files.push(FileRef {
                file_id: id,
                size: d.get("file_size").and_then(Value::as_u64),
                file_name: s(d, "file_name"),
                mime: s(d, "mime_type"),
                kind: FileKind::Document,
            });
        }
        let plain = s(m, "text");
        let text = plain.clone().or_else(|| s(m, "caption"));
        Some(Incoming {
            chat_id,
            private: chat.get("type").and_then(Value::as_str) == Some("private"),
            message_id,
            date: m
                .get("date")
                .and_then(Value::as_i64)
                .and_then(|t| DateTime::from_timestamp(t, 0)),
            name,
            text,
            reply_to: m
                .get("reply_to_message")
                .and_then(|r| r.get("message_id"))
                .and_then(Value::as_i64),
            other_media: plain.is_none() && files.is_empty(),
            files,
        })
    }

    fn external_id(&self) -> String {
        format!("{}:{}", self.chat_id, self.message_id)
    }
}

fn known_size(size: u32) -> Option<u64> {
    // teloxide fills a missing `file_size` with u32::MAX.
    (size != u32::MAX).then_some(size as u64)
}

/// What an update is, for [`handle_update`].
enum Kind {
    Message(Incoming),
    Skip(String),
}

/// Read an update: teloxide's types first; the raw JSON when teloxide could not read the
/// message (it then yields `UpdateKind::Error` or a content-less `MessageKind::Empty`), so
/// such a complaint is not lost.
fn classify_update(raw: &Value) -> Kind {
    let typed: Option<Update> = serde_json::to_string(raw)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok());
    let from_raw = |what: String| match raw
        .get("message")
        .filter(|m| m.is_object())
        .and_then(Incoming::from_json)
    {
        Some(m) => Kind::Message(m),
        None => Kind::Skip(what),
    };
    let first_key = || {
        raw.as_object()
            .and_then(|o| o.keys().find(|k| *k != "update_id").cloned())
            .unwrap_or_else(|| "none".into())
    };
    match typed.map(|u| u.kind) {
        Some(UpdateKind::Message(m)) => match &m.kind {
            MessageKind::Common(_) => Kind::Message(Incoming::from_message(&m)),
            MessageKind::Empty {} => from_raw("unreadable message".into()),
            _ => Kind::Skip("service message".into()),
        },
        Some(UpdateKind::EditedMessage(_)) => Kind::Skip("edited message".into()),
        Some(UpdateKind::ChannelPost(_) | UpdateKind::EditedChannelPost(_)) => {
            Kind::Skip("channel post".into())
        }
        Some(UpdateKind::Error(_)) | None => from_raw(format!("update kind `{}`", first_key())),
        Some(other) => Kind::Skip(format!("update kind {}", kind_name(&other))),
    }
}

fn kind_name(k: &UpdateKind) -> String {
    // The serialized form starts with the Bot API field name.
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_object().and_then(|o| o.keys().next().cloned()))
        .unwrap_or_else(|| "other".into())
}

/// A command in a message text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Command {
    Start,
    Help,
    Status(Option<String>),
    Unknown(String),
}

fn parse_command(text: &str) -> Option<Command> {
    let text = text.trim_start();
    let rest = text.strip_prefix('/')?;
    if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let (word, args) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    let name = word.split('@').next().unwrap_or(word).to_ascii_lowercase();
    Some(match name.as_str() {
        "start" => Command::Start,
        "help" | "bantuan" => Command::Help,
        "status" | "cek" => Command::Status(
            args.split_whitespace()
                .next()
                .map(|t| t.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-'))
                .filter(|t| !t.is_empty())
                .map(str::to_ascii_uppercase),
        ),
        other => Command::Unknown(other.chars().take(32).collect()),
    })
}

/// Ticket numbers named in a text (`ADU-202603-0001`).
fn tickets_in(text: &str) -> Vec<TicketNumber> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.len() >= 13 && w.contains('-'))
        .filter_map(|w| TicketNumber::parse(&w.to_ascii_uppercase()).ok())
        .take(3)
        .collect()
}

// ---- texts (Bahasa Indonesia) ----

fn welcome_text(desk: &Desk) -> String {
    let cfg = desk.config();
    let example = format!("{}-202601-0001", cfg.ticket_prefix.as_str());
    format!(
        "Selamat datang di layanan pengaduan {office}.\n\n\
         Untuk menyampaikan pengaduan, kirimkan uraian pengaduan Anda sebagai pesan di chat \
         ini: apa yang terjadi, kapan dan di mana, serta layanan atau petugas yang dimaksud. \
         Foto atau dokumen pendukung boleh dilampirkan; tuliskan uraiannya sebagai keterangan \
         (caption).\n\n\
         Setiap pengaduan mendapat nomor tiket yang kami kirim sebagai balasan. Pesan yang \
         Anda kirim berikutnya selama pengaduan masih diproses akan ditambahkan ke pengaduan \
         yang sama. Jawaban atas pengaduan Anda juga akan dikirim di chat ini.\n\n\
         Untuk mengetahui status pengaduan, kirim /status diikuti nomor tiket, \
         misalnya: /status {example}\n\n\
         Identitas Anda dijaga kerahasiaannya dan hanya digunakan untuk menindaklanjuti \
         pengaduan.",
        office = cfg.office_name,
    )
}

fn status_usage(desk: &Desk) -> String {
    format!(
        "Untuk mengetahui status pengaduan, kirim /status diikuti nomor tiket, misalnya: \
         /status {}-202601-0001",
        desk.config().ticket_prefix.as_str()
    )
}

fn state_label(v: &StatusView) -> &'static str {
    match (v.state, v.status) {
        (State::Received | State::Triage, _) => "Diterima dan sedang ditelaah",
        (State::InBidang, _) => "Sedang ditangani oleh bidang terkait",
        (State::Review, _) => "Tindak lanjut sedang diperiksa",
        (State::FollowUp, _) => "Jawaban sedang disiapkan untuk dikirim",
        (State::Closed, Some(Resolution::Tidak)) => "Ditutup (tidak dapat ditindaklanjuti)",
        (State::Closed, _) => "Selesai",
    }
}

fn status_text(desk: &Desk, v: &StatusView) -> String {
    let tz = desk.config().policy.calendar.timezone();
    let fmt = |t: DateTime<Utc>| t.with_timezone(&tz).format("%d-%m-%Y %H:%M %Z").to_string();
    let mut out = format!(
        "Status pengaduan {}:\n{}\n\nDiterima: {}\nTerakhir diperbarui: {}",
        v.ticket,
        state_label(v),
        fmt(v.received_at),
        fmt(v.updated_at)
    );
    if let Some(a) = v.answer.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        out.push_str("\n\nJawaban:\n");
        out.push_str(a);
    }
    out
}

fn not_found_text(ticket: &str) -> String {
    format!(
        "Pengaduan dengan nomor tiket {ticket} tidak ditemukan untuk chat ini. Periksa kembali \
         nomor tiketnya; status hanya dapat dilihat dari chat yang mengirim pengaduan."
    )
}

const NEED_TEXT: &str = "Mohon sertakan uraian pengaduan Anda dalam bentuk teks. Untuk foto atau \
     dokumen, tuliskan uraiannya sebagai keterangan (caption). Kirim /start untuk petunjuk.";

const UNSUPPORTED_MEDIA: &str = "Maaf, saat ini kami hanya dapat menerima pengaduan berupa teks, \
     foto, atau dokumen. Silakan tuliskan pengaduan Anda sebagai pesan teks. Kirim /start \
     untuk petunjuk.";

const OTHER_MEDIA_NOTE: &str =
    "[Lampiran berupa media lain (misalnya video, suara, atau stiker) tidak disimpan.]";

const CANNOT_STORE: &str = "Maaf, pesan Anda tidak dapat kami proses. Silakan tuliskan \
     pengaduan Anda sebagai pesan teks biasa. Kirim /start untuk petunjuk.";

fn human_size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else if bytes >= 1024 {
        format!("{} KB", bytes.div_ceil(1024))
    } else {
        format!("{bytes} byte")
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
            tracing::warn!(chat, error = %crate::bot::error_text(token, &e), "telegram: direct answer not sent");
            return;
        }
    }
}

// ---- files ----

enum Fetched {
    Data { data: Vec<u8>, path: String },
    TooLarge(u64),
    Failed(String),
}

/// Fetch one file through getFile + download, never holding more than `limit` bytes.
/// `Err` is a transient failure.
async fn fetch(bot: &Bot, token: &str, f: &FileRef, limit: u64) -> Result<Fetched, String> {
    if let Some(size) = f.size
        && size > limit
    {
        return Ok(Fetched::TooLarge(size));
    }
    let file = match bot.get_file(FileId(f.file_id.clone())).await {
        Ok(file) => file,
        Err(e) => {
            return match classify(token, &e) {
                Failure::Permanent(m) | Failure::Forbidden(m) => Ok(Fetched::Failed(m)),
                Failure::RetryAfter(s) => Err(format!("getFile: flood control, retry after {s} s")),
                Failure::Migrated(_) => Ok(Fetched::Failed("chat migrated".into())),
                Failure::Transient(m) => Err(format!("getFile: {m}")),
            };
        }
    };
    if let Some(size) = known_size(file.meta.size)
        && size > limit
    {
        return Ok(Fetched::TooLarge(size));
    }
    if file.path.is_empty() {
        return Ok(Fetched::Failed("Telegram gave no file_path".into()));
    }
    let mut stream = bot.download_file_stream(&file.path);
    let mut data = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                if data.len() as u64 + bytes.len() as u64 > limit {
                    return Ok(Fetched::TooLarge(data.len() as u64 + bytes.len() as u64));
                }
                data.extend_from_slice(&bytes);
            }
            Err(e) => {
                let msg = scrub(token, &e.to_string());
                return match e.status() {
                    Some(s) if s.is_client_error() && s.as_u16() != 429 => {
                        Ok(Fetched::Failed(format!("download: HTTP {s}")))
                    }
                    _ => Err(format!("download: {msg}")),
                };
            }
        }
    }
    Ok(Fetched::Data {
        data,
        path: file.path,
    })
}

/// A safe file name for the attachment.
fn file_name(f: &FileRef, path: Option<&str>, message_id: i64, n: usize) -> String {
    let from_path = path
        .and_then(|p| p.rsplit('/').next())
        .filter(|s| !s.is_empty());
    let raw = match (f.kind, f.file_name.as_deref(), from_path) {
        (_, Some(name), _) if !name.trim().is_empty() => name.trim().to_string(),
        (FileKind::Photo, _, _) => format!("foto-{message_id}-{n}.jpg"),
        (FileKind::Document, _, Some(p)) => p.to_string(),
        (FileKind::Document, _, None) => format!("dokumen-{message_id}-{n}"),
    };
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\') {
                '_'
            } else {
                c
            }
        })
        .take(120)
        .collect();
    if clean.trim_matches('.').is_empty() {
        format!("lampiran-{message_id}-{n}")
    } else {
        clean
    }
}

/// Download the message's files within the limit; notes for the ones left out.
async fn collect_files(
    ctx: &TelegramContext,
    bot: &Bot,
    token: &str,
    m: &Incoming,
    give_up: bool,
) -> Result<(Vec<NewAttachment>, Vec<String>), HandleError> {
    let mut atts = Vec::new();
    let mut notes = Vec::new();
    for (i, f) in m.files.iter().enumerate() {
        let n = i + 1;
        let label = |path: Option<&str>| file_name(f, path, m.message_id, n);
        match fetch(bot, token, f, ctx.max_attachment_bytes).await {
            Ok(Fetched::Data { data, path }) => atts.push(NewAttachment {
                filename: label(Some(&path)),
                content_type: f
                    .mime
                    .clone()
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or_else(|| "application/octet-stream".into()),
                data,
            }),
            Ok(Fetched::TooLarge(size)) => notes.push(format!(
                "[Lampiran {} ({}) tidak disimpan karena melebihi batas {}.]",
                label(None),
                human_size(size),
                human_size(ctx.max_attachment_bytes)
            )),
            Ok(Fetched::Failed(why)) => {
                tracing::warn!(chat = m.chat_id, message = m.message_id, error = %why, "telegram: attachment not downloadable");
                notes.push(format!(
                    "[Lampiran {} tidak dapat diunduh dari Telegram.]",
                    label(None)
                ));
            }
            Err(why) if give_up => {
                tracing::warn!(chat = m.chat_id, message = m.message_id, error = %why, "telegram: giving up on attachment");
                notes.push(format!(
                    "[Lampiran {} tidak dapat diunduh dari Telegram.]",
                    label(None)
                ));
            }
            Err(why) => return Err(HandleError::Download(why)),
        }
    }
    Ok((atts, notes))
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
            format!("message in a non-private chat {}", m.chat_id),
        )
        .await;
    }
    let chat = m.chat_id;
    let handle = chat.to_string();
    if let Some(cmd) = m.text.as_deref().and_then(parse_command) {
        let (name, text) = match cmd {
            Command::Start => ("start", welcome_text(desk)),
            Command::Help | Command::Unknown(_) => ("help", welcome_text(desk)),
            Command::Status(None) => ("status", status_usage(desk)),
            Command::Status(Some(t)) => {
                match desk.status_for_handle(&t, Channel::Telegram, &handle).await {
                    Ok(v) => ("status", status_text(desk, &v)),
                    Err(DeskError::Store(e)) => return Err(e.into()),
                    Err(_) => ("status", not_found_text(&t)),
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
            UNSUPPORTED_MEDIA
        } else {
            NEED_TEXT
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
            ack_to: Some((
                Channel::Telegram,
                handle.clone(),
                json!({ "reply_to_message_id": m.message_id }),
            )),
            ..Default::default()
        },
        thread,
        cursor: opts
            .offset
            .map(|o| (OFFSET_CURSOR.to_string(), o.to_string())),
    };
    match desk.receive(inbound).await {
        Ok(Received::Created(r)) => {
            tracing::info!(ticket = %r.ticket, chat, "telegram: complaint received");
            Ok(Outcome::Created(r.ticket))
        }
        Ok(Received::Appended { ticket, reopened }) => {
            tracing::info!(%ticket, chat, reopened, "telegram: message appended");
            Ok(Outcome::Appended { ticket, reopened })
        }
        Ok(Received::Duplicate { ticket }) => {
            tracing::info!(%ticket, chat, message = m.message_id, "telegram: redelivered message ignored");
            Ok(Outcome::Duplicate(ticket))
        }
        Err(DeskError::Store(e)) => Err(e.into()),
        Err(DeskError::Invalid { field, message }) => {
            tracing::warn!(
                chat,
                field,
                message,
                "telegram: message refused by the desk"
            );
            let note = if field == "body" {
                NEED_TEXT
            } else {
                CANNOT_STORE
            };
            answer(bot, &token, chat, Some(m.message_id), note).await;
            advance(desk, opts).await?;
            Ok(Outcome::Refused(format!("{field}: {message}")))
        }
        Err(e) => {
            tracing::warn!(chat, error = %e, "telegram: message not stored");
            advance(desk, opts).await?;
            Ok(Outcome::Refused(e.to_string()))
        }
    }
}

async fn advance(desk: &Desk, opts: &HandleOptions) -> Result<(), HandleError> {
    if let Some(o) = opts.offset {
        desk.set_cursor(OFFSET_CURSOR, &o.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse_command("/start"), Some(Command::Start));
        assert_eq!(parse_command("/start@AduanBot abc"), Some(Command::Start));
        assert_eq!(parse_command(" /HELP"), Some(Command::Help));
        assert_eq!(
            parse_command("/status adu-202603-0001"),
            Some(Command::Status(Some("ADU-202603-0001".into())))
        );
        assert_eq!(
            parse_command("/status@AduanBot  ADU-202603-0001."),
            Some(Command::Status(Some("ADU-202603-0001".into())))
        );
        assert_eq!(parse_command("/status"), Some(Command::Status(None)));
        assert_eq!(
            parse_command("/lapor x"),
            Some(Command::Unknown("lapor".into()))
        );
        assert_eq!(parse_command("KTP saya / KK"), None);
        assert_eq!(parse_command("/ 1"), None);
        assert_eq!(parse_command("/"), None);
        assert_eq!(parse_command(""), None);
    }

    #[test]
    fn ticket_mentions() {
        let t = tickets_in("Menanggapi tiket ADU-202603-0001, (adu-202603-0002)!");
        assert_eq!(
            t.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            vec!["ADU-202603-0001", "ADU-202603-0002"]
        );
        assert!(tickets_in("tidak ada nomor di sini - 2026").is_empty());
    }

    #[test]
    fn raw_json_fallback() {
        let v = json!({
            "message_id": 43, "date": 1767225660,
            "from": {"id": 5, "is_bot": false, "first_name": "Komang", "last_name": "Ayu"},
            "chat": {"id": 5, "type": "private"},
            "photo": [
                {"file_id": "small", "file_unique_id": "a", "width": 90, "height": 67, "file_size": 1200},
                {"file_id": "large", "file_unique_id": "b", "width": 1280, "height": 960}
            ],
            "caption": "Foto lokasi",
            "some_future_field": {"x": 1}
        });
        let m = Incoming::from_json(&v).unwrap();
        assert_eq!(m.chat_id, 5);
        assert!(m.private);
        assert_eq!(m.name.as_deref(), Some("Komang Ayu"));
        assert_eq!(m.text.as_deref(), Some("Foto lokasi"));
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.files[0].file_id, "large");
        assert_eq!(m.files[0].size, None);
        assert!(Incoming::from_json(&json!({"chat": {}})).is_none());
        assert!(Incoming::from_json(&json!(42)).is_none());
    }

    #[test]
    fn teloxide_messages_are_read() {
        let text: Value = serde_json::from_str(
            r#"{"update_id": 815234001, "message": {"message_id": 42,
                "from": {"id": 5123456789, "is_bot": false, "first_name": "Komang", "username": "komang_bll", "language_code": "id"},
                "chat": {"id": 5123456789, "first_name": "Komang", "username": "komang_bll", "type": "private"},
                "date": 1767225599, "text": "Ada pohon tumbang menutup jalan di Desa Panji"}}"#,
        )
        .unwrap();
        let Kind::Message(m) = classify_update(&text) else {
            panic!("not a message")
        };
        assert_eq!(m.chat_id, 5123456789);
        assert_eq!(m.message_id, 42);
        assert!(m.private && !m.other_media);
        assert_eq!(m.name.as_deref(), Some("Komang"));
        assert_eq!(m.external_id(), "5123456789:42");
        let photo: Value = serde_json::from_str(
            r#"{"update_id": 815234002, "message": {"message_id": 43,
                "from": {"id": 5123456789, "is_bot": false, "first_name": "Komang"},
                "chat": {"id": 5123456789, "type": "private", "first_name": "Komang"},
                "date": 1767225660, "media_group_id": "13579246801357924",
                "photo": [
                  {"file_id": "AgACAgUAAxkBAAIB_small", "file_unique_id": "AQADs1", "width": 90, "height": 67, "file_size": 1200},
                  {"file_id": "AgACAgUAAxkBAAIB_large", "file_unique_id": "AQADs2", "width": 1280, "height": 960, "file_size": 184000}
                ],
                "caption": "Foto lokasi pohon tumbang"}}"#,
        )
        .unwrap();
        let typed: Update = serde_json::from_str(&photo.to_string()).unwrap();
        let UpdateKind::Message(msg) = &typed.kind else {
            panic!("teloxide did not read the photo message")
        };
        assert!(
            matches!(msg.kind, MessageKind::Common(_)),
            "typed, not the fallback"
        );
        let Kind::Message(m) = classify_update(&photo) else {
            panic!("not a message")
        };
        assert_eq!(m.text.as_deref(), Some("Foto lokasi pohon tumbang"));
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.files[0].file_id, "AgACAgUAAxkBAAIB_large");
        assert_eq!(m.files[0].size, Some(184000));
        assert!(!m.other_media);
    }

    #[test]
    fn messages_teloxide_cannot_read_come_from_the_raw_json() {
        // teloxide turns this into a content-less `MessageKind::Empty`.
        let raw = json!({"update_id": 5, "message": {"message_id": 3,
            "chat": {"id": 777, "type": "private"}, "date": 1,
            "document": {"file_id": "d", "file_unique_id": "n", "mime_type": "bukan/mime//"},
            "caption": "dokumen"}});
        let Kind::Message(m) = classify_update(&raw) else {
            panic!("skipped")
        };
        assert_eq!(m.text.as_deref(), Some("dokumen"));
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.files[0].mime.as_deref(), Some("bukan/mime//"));
        assert!(matches!(
            classify_update(&json!({"update_id": 6, "edited_message": {}})),
            Kind::Skip(_)
        ));
        assert!(matches!(
            classify_update(&json!({"update_id": 7, "poll": {"id": "1"}})),
            Kind::Skip(_)
        ));
        assert!(matches!(classify_update(&json!("x")), Kind::Skip(_)));
    }

    #[test]
    fn names() {
        assert_eq!(
            person_name(Some("A"), Some(" "), None).as_deref(),
            Some("A")
        );
        assert_eq!(
            person_name(Some(""), None, Some("kom")).as_deref(),
            Some("@kom")
        );
        assert_eq!(person_name(None, None, None), None);
        let long = "x".repeat(500);
        assert_eq!(
            person_name(Some(&long), None, None).unwrap().len(),
            MAX_NAME_CHARS
        );
    }

    #[test]
    fn file_names_are_safe() {
        let f = FileRef {
            file_id: "x".into(),
            size: None,
            file_name: Some("../../etc/passwd".into()),
            mime: None,
            kind: FileKind::Document,
        };
        assert_eq!(file_name(&f, None, 1, 1), ".._.._etc_passwd");
        let p = FileRef {
            file_name: None,
            kind: FileKind::Photo,
            ..f.clone()
        };
        assert_eq!(
            file_name(&p, Some("photos/file_1.jpg"), 7, 1),
            "foto-7-1.jpg"
        );
        let d = FileRef {
            file_name: Some("..".into()),
            ..f
        };
        assert_eq!(file_name(&d, None, 7, 2), "lampiran-7-2");
    }
}
