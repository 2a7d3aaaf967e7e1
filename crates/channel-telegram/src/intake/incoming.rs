//! Reading a Telegram update: [`classify_update`] tells a citizen message from everything
//! else and reduces the message to an [`Incoming`], straight from the Bot API's JSON
//! (`Update`, `Message` and their media objects as documented), so no field a client
//! library does not know yet can lose a complaint.
//!
//! Invariants: of a photo only the largest size is kept. Locations, venues and contacts
//! become text lines (coordinates, name, address; names and numbers). A sticker alone, an
//! edited message, a reaction, a channel post and service messages are not complaints
//! ([`Kind::Skip`]); a message of a kind aduan cannot store (a poll, a dice, a game, a
//! story …) is [`Kind::Unsupported`] and gets an explanation once. Names are at most
//! [`MAX_NAME_CHARS`] characters. Nothing here talks to the network or the store.

use aduan_core::media::{MediaKind, NewMedia};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Longest name kept (the desk refuses longer ones).
const MAX_NAME_CHARS: usize = 200;

/// Message contents aduan cannot store, named in the log; such a message (and one of a kind
/// unknown here, that is no service message) gets an explanation.
const UNSUPPORTED: &[&str] = &[
    "poll",
    "dice",
    "game",
    "story",
    "invoice",
    "giveaway",
    "giveaway_winners",
    "paid_media",
    "checklist",
];

/// Service messages (the chat changed, a payment went through …): nothing to answer.
const SERVICE: &[&str] = &[
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "message_auto_delete_timer_changed",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "successful_payment",
    "refunded_payment",
    "users_shared",
    "chat_shared",
    "gift",
    "unique_gift",
    "connected_website",
    "write_access_allowed",
    "passport_data",
    "proximity_alert_triggered",
    "boost_added",
    "chat_background_set",
    "checklist_tasks_done",
    "checklist_tasks_added",
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
    "general_forum_topic_hidden",
    "general_forum_topic_unhidden",
    "giveaway_created",
    "giveaway_completed",
    "video_chat_scheduled",
    "video_chat_started",
    "video_chat_ended",
    "video_chat_participants_invited",
    "web_app_data",
];

/// A citizen message reduced to what intake needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Incoming {
    pub(super) chat_id: i64,
    pub(super) private: bool,
    pub(super) message_id: i64,
    pub(super) date: Option<DateTime<Utc>>,
    pub(super) name: Option<String>,
    /// The text or caption the citizen wrote (commands are read from it).
    pub(super) text: Option<String>,
    /// Text lines made of what was shared: a location, a venue, a contact.
    pub(super) shared: Vec<String>,
    pub(super) reply_to: Option<i64>,
    /// Files to fetch after the commit.
    pub(super) files: Vec<NewMedia>,
    /// The album (`media_group_id`) the message belongs to.
    pub(super) album: Option<String>,
}

impl Incoming {
    pub(super) fn external_id(&self) -> String {
        format!("{}:{}", self.chat_id, self.message_id)
    }

    /// The album key: the group id with the chat, so two chats never share one.
    pub(super) fn album_key(&self) -> Option<String> {
        self.album.as_ref().map(|g| format!("{}:{g}", self.chat_id))
    }
}

/// What an update is, for [`super::handle_update`].
#[derive(Debug)]
pub(super) enum Kind {
    Message(Incoming),
    /// A private-chat message of a kind aduan cannot store (`what` for the log).
    Unsupported {
        chat_id: i64,
        message_id: i64,
        what: String,
    },
    /// Not a citizen message: skipped without an answer.
    Skip(String),
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
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

/// A file object (`Document`, `Audio`, `Voice`, `Video`, `VideoNote`, `Animation`,
/// `Sticker`, `PhotoSize`).
fn file(v: &Value, kind: MediaKind, default_type: Option<&str>) -> Option<NewMedia> {
    Some(NewMedia {
        kind,
        source: text(v, "file_id")?,
        filename: text(v, "file_name"),
        content_type: text(v, "mime_type").or(default_type.map(str::to_string)),
        size: v.get("file_size").and_then(Value::as_u64),
    })
}

fn largest_photo(sizes: &[Value]) -> Option<&Value> {
    let area = |p: &Value| {
        let d = |k| p.get(k).and_then(Value::as_u64).unwrap_or(0);
        (d("width").saturating_mul(d("height")), d("file_size"))
    };
    sizes.iter().max_by_key(|p| area(p))
}

fn coords(loc: &Value) -> Option<String> {
    let lat = loc.get("latitude").and_then(Value::as_f64)?;
    let lon = loc.get("longitude").and_then(Value::as_f64)?;
    Some(format!("{lat}, {lon}"))
}

/// `[lokasi: name, address — lat, lon]`.
pub(super) fn location_line(
    name: Option<String>,
    address: Option<String>,
    coords: Option<String>,
) -> Option<String> {
    let place = [name, address]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let parts: Vec<String> = [Some(place).filter(|p| !p.is_empty()), coords]
        .into_iter()
        .flatten()
        .collect();
    (!parts.is_empty()).then(|| format!("[lokasi: {}]", parts.join(" — ")))
}

/// Read one message object (see the module docs).
fn read_message(m: &Value) -> Result<Incoming, (i64, i64, String)> {
    let chat = m
        .get("chat")
        .ok_or((0, 0, "message without chat".to_string()))?;
    let chat_id = chat.get("id").and_then(Value::as_i64).unwrap_or(0);
    let message_id = m.get("message_id").and_then(Value::as_i64).unwrap_or(0);
    let from = m.get("from");
    let name = from.and_then(|u| {
        person_name(
            u.get("first_name").and_then(Value::as_str),
            u.get("last_name").and_then(Value::as_str),
            u.get("username").and_then(Value::as_str),
        )
    });
    let mut files = Vec::new();
    if let Some(p) = m
        .get("photo")
        .and_then(Value::as_array)
        .and_then(|s| largest_photo(s))
    {
        files.extend(file(p, MediaKind::Image, Some("image/jpeg")));
    }
    for (key, kind) in [
        ("document", MediaKind::Document),
        ("audio", MediaKind::Audio),
        ("voice", MediaKind::Voice),
        ("video", MediaKind::Video),
        ("video_note", MediaKind::VideoNote),
    ] {
        if let Some(f) = m.get(key) {
            let default = (kind == MediaKind::VideoNote).then_some("video/mp4");
            files.extend(file(f, kind, default));
        }
    }
    // An animation also carries a `document` copy of itself; keep one.
    if files.is_empty()
        && let Some(a) = m.get("animation")
    {
        files.extend(file(a, MediaKind::Animation, None));
    }
    let mut shared = Vec::new();
    if let Some(v) = m.get("venue") {
        shared.extend(location_line(
            text(v, "title"),
            text(v, "address"),
            v.get("location").and_then(coords),
        ));
    } else if let Some(l) = m.get("location") {
        shared.extend(location_line(None, None, coords(l)));
    }
    if let Some(c) = m.get("contact") {
        let who = person_name(
            c.get("first_name").and_then(Value::as_str),
            c.get("last_name").and_then(Value::as_str),
            None,
        );
        let parts: Vec<String> = [who, text(c, "phone_number")]
            .into_iter()
            .flatten()
            .collect();
        if !parts.is_empty() {
            shared.push(format!("[kontak: {}]", parts.join(", ")));
        }
    }
    let written = text(m, "text").or_else(|| text(m, "caption"));
    let sticker = m.get("sticker");
    // A blank text is still a text message (the handler asks for words).
    let blank_text = m.get("text").is_some_and(Value::is_string);
    if written.is_none() && files.is_empty() && shared.is_empty() && !blank_text {
        if sticker.is_some() {
            return Err((chat_id, message_id, "sticker".into()));
        }
        if SERVICE.iter().any(|k| m.get(*k).is_some()) {
            return Err((chat_id, message_id, "service message".into()));
        }
        let k = UNSUPPORTED
            .iter()
            .find(|k| m.get(**k).is_some())
            .unwrap_or(&"unknown");
        return Err((chat_id, message_id, format!("unsupported:{k}")));
    }
    // A sticker sent with words of its own is kept with them.
    if let Some(s) = sticker
        && written.is_some()
    {
        files.extend(file(s, MediaKind::Sticker, Some("image/webp")));
    }
    Ok(Incoming {
        chat_id,
        private: chat.get("type").and_then(Value::as_str) == Some("private"),
        message_id,
        date: m
            .get("date")
            .and_then(Value::as_i64)
            .and_then(|t| DateTime::from_timestamp(t, 0)),
        name,
        text: written,
        shared,
        reply_to: m
            .get("reply_to_message")
            .and_then(|r| r.get("message_id"))
            .and_then(Value::as_i64),
        files,
        album: text(m, "media_group_id"),
    })
}

/// Read an update (see the module docs).
pub(super) fn classify_update(raw: &Value) -> Kind {
    let Some(obj) = raw.as_object() else {
        return Kind::Skip("not an update".into());
    };
    let first_key = obj
        .keys()
        .find(|k| *k != "update_id")
        .cloned()
        .unwrap_or_else(|| "none".into());
    let Some(m) = obj.get("message").filter(|m| m.is_object()) else {
        return Kind::Skip(match first_key.as_str() {
            "edited_message" | "edited_business_message" => "edited message".into(),
            "channel_post" | "edited_channel_post" => "channel post".into(),
            "message_reaction" | "message_reaction_count" => "reaction".into(),
            other => format!("update kind `{other}`"),
        });
    };
    let private = m
        .get("chat")
        .and_then(|c| c.get("type"))
        .and_then(Value::as_str)
        == Some("private");
    match read_message(m) {
        Ok(msg) => Kind::Message(msg),
        Err((chat_id, message_id, what)) => match what.strip_prefix("unsupported:") {
            Some(k) if private && chat_id != 0 && message_id != 0 => Kind::Unsupported {
                chat_id,
                message_id,
                what: k.to_string(),
            },
            Some(k) => Kind::Skip(format!("{k} outside a private chat")),
            None => Kind::Skip(what),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(fields: Value) -> Value {
        let mut m = json!({"message_id": 43, "date": 1767225660,
            "from": {"id": 5, "is_bot": false, "first_name": "Komang", "last_name": "Ayu"},
            "chat": {"id": 5, "type": "private", "first_name": "Komang"}});
        for (k, v) in fields.as_object().unwrap() {
            m[k] = v.clone();
        }
        json!({"update_id": 815234002, "message": m})
    }

    fn incoming(fields: Value) -> Incoming {
        match classify_update(&message(fields)) {
            Kind::Message(m) => m,
            other => panic!("not a message: {other:?}"),
        }
    }

    #[test]
    fn text_and_photo_messages() {
        let m = incoming(json!({"text": "Ada pohon tumbang menutup jalan di Desa Panji"}));
        assert_eq!(m.chat_id, 5);
        assert!(m.private);
        assert_eq!(m.name.as_deref(), Some("Komang Ayu"));
        assert_eq!(m.external_id(), "5:43");
        assert!(m.files.is_empty());
        let m = incoming(json!({"media_group_id": "13579246801357924",
        "photo": [
          {"file_id": "AgAC_small", "file_unique_id": "AQADs1", "width": 90, "height": 67, "file_size": 1200},
          {"file_id": "AgAC_large", "file_unique_id": "AQADs2", "width": 1280, "height": 960, "file_size": 184000}
        ]}));
        assert_eq!(m.text, None);
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.files[0].source, "AgAC_large");
        assert_eq!(m.files[0].kind, MediaKind::Image);
        assert_eq!(m.files[0].size, Some(184000));
        assert_eq!(m.files[0].content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(m.album_key().as_deref(), Some("5:13579246801357924"));
    }

    #[test]
    fn every_media_kind_is_a_file() {
        let cases = [
            (
                json!({"voice": {"file_id": "v", "file_unique_id": "u", "duration": 3, "mime_type": "audio/ogg", "file_size": 9000}}),
                MediaKind::Voice,
            ),
            (
                json!({"audio": {"file_id": "a", "file_unique_id": "u", "duration": 60, "performer": "X", "title": "Y", "file_name": "rekaman.mp3", "mime_type": "audio/mpeg"}}),
                MediaKind::Audio,
            ),
            (
                json!({"video": {"file_id": "vd", "file_unique_id": "u", "width": 640, "height": 480, "duration": 5, "mime_type": "video/mp4"}}),
                MediaKind::Video,
            ),
            (
                json!({"video_note": {"file_id": "vn", "file_unique_id": "u", "length": 240, "duration": 4}}),
                MediaKind::VideoNote,
            ),
            (
                json!({"document": {"file_id": "d", "file_unique_id": "u", "file_name": "kk.pdf", "mime_type": "application/pdf"}}),
                MediaKind::Document,
            ),
            (
                json!({"animation": {"file_id": "an", "file_unique_id": "u", "width": 1, "height": 1, "duration": 1}}),
                MediaKind::Animation,
            ),
        ];
        for (fields, kind) in cases {
            let m = incoming(fields);
            assert_eq!(m.files.len(), 1, "{kind:?}");
            assert_eq!(m.files[0].kind, kind);
        }
        let m = incoming(
            json!({"audio": {"file_id": "a", "file_unique_id": "u", "duration": 1, "file_name": "rekaman.mp3"}}),
        );
        assert_eq!(m.files[0].filename.as_deref(), Some("rekaman.mp3"));
        let m = incoming(
            json!({"video_note": {"file_id": "vn", "file_unique_id": "u", "length": 1, "duration": 1}}),
        );
        assert_eq!(m.files[0].content_type.as_deref(), Some("video/mp4"));
        // An animation's `document` copy is not a second file.
        let m = incoming(json!({
            "animation": {"file_id": "an", "file_unique_id": "u", "width": 1, "height": 1, "duration": 1},
            "document": {"file_id": "an", "file_unique_id": "u"}}));
        assert_eq!(m.files.len(), 1);
    }

    #[test]
    fn locations_venues_and_contacts_are_text() {
        let m = incoming(json!({"location": {"latitude": -8.112, "longitude": 115.088}}));
        assert_eq!(m.shared, vec!["[lokasi: -8.112, 115.088]"]);
        let m = incoming(
            json!({"venue": {"location": {"latitude": -8.1, "longitude": 115.08},
            "title": "Kantor Disdukcapil", "address": "Jl. Pahlawan No. 1, Singaraja"},
            "location": {"latitude": -8.1, "longitude": 115.08}}),
        );
        assert_eq!(
            m.shared,
            vec!["[lokasi: Kantor Disdukcapil, Jl. Pahlawan No. 1, Singaraja — -8.1, 115.08]"]
        );
        let m = incoming(json!({"contact": {"phone_number": "+6281234567890",
            "first_name": "Wayan", "last_name": "Sudarsana", "user_id": 77}}));
        assert_eq!(m.shared, vec!["[kontak: Wayan Sudarsana, +6281234567890]"]);
    }

    #[test]
    fn non_complaints_are_skipped_and_unsupported_kinds_told() {
        assert!(matches!(
            classify_update(&message(json!({"sticker": {"file_id": "s", "file_unique_id": "u",
                "type": "regular", "width": 512, "height": 512, "is_animated": false, "is_video": false, "emoji": "👍"}}))),
            Kind::Skip(w) if w == "sticker"
        ));
        assert!(matches!(
            classify_update(&message(json!({"pinned_message": {"message_id": 1}}))),
            Kind::Skip(w) if w == "service message"
        ));
        assert!(matches!(
            classify_update(&message(json!({"some_future_content": {"x": 1}}))),
            Kind::Unsupported { what, .. } if what == "unknown"
        ));
        match classify_update(&message(json!({"dice": {"emoji": "🎲", "value": 4}}))) {
            Kind::Unsupported {
                chat_id,
                message_id,
                what,
            } => assert_eq!((chat_id, message_id, what.as_str()), (5, 43, "dice")),
            other => panic!("{other:?}"),
        }
        for (u, why) in [
            (
                json!({"update_id": 6, "edited_message": {"message_id": 1}}),
                "edited message",
            ),
            (
                json!({"update_id": 7, "message_reaction": {"message_id": 1}}),
                "reaction",
            ),
            (
                json!({"update_id": 8, "channel_post": {"message_id": 1}}),
                "channel post",
            ),
            (
                json!({"update_id": 9, "poll": {"id": "1"}}),
                "update kind `poll`",
            ),
        ] {
            assert!(
                matches!(classify_update(&u), Kind::Skip(w) if w == why),
                "{u}"
            );
        }
        assert!(matches!(classify_update(&json!("x")), Kind::Skip(_)));
        // A sticker with words of its own keeps both.
        let m =
            incoming(json!({"sticker": {"file_id": "s", "file_unique_id": "u"}, "caption": "ini"}));
        assert_eq!(m.files[0].kind, MediaKind::Sticker);
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
