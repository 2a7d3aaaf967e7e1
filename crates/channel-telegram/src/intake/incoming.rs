//! Reading a Telegram update: [`classify_update`] tells a citizen message from everything
//! else and reduces the message to an [`Incoming`].
//!
//! Invariants: teloxide's typed parse is tried first; when teloxide cannot read a message
//! (`UpdateKind::Error`, or a content-less `MessageKind::Empty`) the raw JSON is read
//! instead, so no complaint is lost to a Bot API field teloxide does not know. Of a photo
//! only the largest size is kept. Names are at most [`MAX_NAME_CHARS`] characters. Nothing
//! here talks to the network or the store.

use chrono::{DateTime, Utc};
use serde_json::Value;
use teloxide::types::{Message, MessageKind, Update, UpdateKind};

/// Longest name kept (the desk refuses longer ones).
const MAX_NAME_CHARS: usize = 200;

/// A file attached to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileRef {
    pub(super) file_id: String,
    /// Size announced by Telegram, when known.
    pub(super) size: Option<u64>,
    pub(super) file_name: Option<String>,
    pub(super) mime: Option<String>,
    pub(super) kind: FileKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileKind {
    Photo,
    Document,
}

/// A citizen message reduced to what intake needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Incoming {
    pub(super) chat_id: i64,
    pub(super) private: bool,
    pub(super) message_id: i64,
    pub(super) date: Option<DateTime<Utc>>,
    pub(super) name: Option<String>,
    /// Text, or the caption of a photo/document.
    pub(super) text: Option<String>,
    pub(super) reply_to: Option<i64>,
    pub(super) files: Vec<FileRef>,
    /// A media kind aduan does not store (sticker, voice, video, location …).
    pub(super) other_media: bool,
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

    pub(super) fn external_id(&self) -> String {
        format!("{}:{}", self.chat_id, self.message_id)
    }
}

pub(super) fn known_size(size: u32) -> Option<u64> {
    // teloxide fills a missing `file_size` with u32::MAX.
    (size != u32::MAX).then_some(size as u64)
}

/// What an update is, for [`super::handle_update`].
pub(super) enum Kind {
    Message(Incoming),
    Skip(String),
}

/// Read an update: teloxide's types first; the raw JSON when teloxide could not read the
/// message (it then yields `UpdateKind::Error` or a content-less `MessageKind::Empty`), so
/// such a complaint is not lost.
pub(super) fn classify_update(raw: &Value) -> Kind {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
}
