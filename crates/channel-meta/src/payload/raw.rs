//! The raw JSON shapes of Meta's webhook deliveries, as serde reads them.
//!
//! Invariants: only the fields aduan reads are declared; unknown fields are ignored, so a
//! field Meta adds later never refuses a delivery. Required fields (`object`, `entry`, a
//! message's `mid`/`id`, a status's `id`, missing or blank) make the whole delivery fail to
//! parse: a blank id would be every such message's one deduplication key. Ids and
//! timestamps are accepted as strings or numbers, as Meta sends both; anything else is an
//! error naming what was found.

use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::Value;

#[derive(Deserialize)]
pub(super) struct RawDelivery {
    pub(super) object: String,
    pub(super) entry: Vec<RawEntry>,
}

#[derive(Deserialize)]
pub(super) struct RawEntry {
    #[serde(default, deserialize_with = "opt_id")]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) messaging: Option<Vec<RawMessaging>>,
    #[serde(default)]
    pub(super) standby: Option<Vec<RawMessaging>>,
    #[serde(default)]
    pub(super) changes: Option<Vec<RawChange>>,
}

#[derive(Deserialize)]
pub(super) struct RawParty {
    #[serde(deserialize_with = "id")]
    pub(super) id: String,
}

#[derive(Deserialize)]
pub(super) struct RawMessaging {
    #[serde(default)]
    pub(super) sender: Option<RawParty>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub(super) timestamp: Option<i64>,
    #[serde(default)]
    pub(super) message: Option<RawMessage>,
    #[serde(default)]
    pub(super) read: Option<Value>,
    #[serde(default)]
    pub(super) delivery: Option<Value>,
    #[serde(default)]
    pub(super) postback: Option<Value>,
    #[serde(default)]
    pub(super) reaction: Option<Value>,
    #[serde(default)]
    pub(super) message_edit: Option<Value>,
}

#[derive(Deserialize)]
pub(super) struct RawMessage {
    #[serde(deserialize_with = "message_id")]
    pub(super) mid: String,
    #[serde(default)]
    pub(super) text: Option<String>,
    #[serde(default)]
    pub(super) attachments: Option<Vec<RawAttachment>>,
    #[serde(default)]
    pub(super) is_echo: Option<bool>,
    #[serde(default)]
    pub(super) is_deleted: Option<bool>,
    #[serde(default)]
    pub(super) is_unsupported: Option<bool>,
    /// A sticker or the like button (Messenger), also given on the attachment.
    #[serde(default)]
    pub(super) sticker_id: Option<Value>,
    /// `reply_to.story {url, id}`: an Instagram story reply.
    #[serde(default)]
    pub(super) reply_to: Option<Value>,
}

#[derive(Deserialize)]
pub(super) struct RawAttachment {
    #[serde(rename = "type", default)]
    pub(super) kind: Option<String>,
    /// `url`, `title`, `sticker_id`, `coordinates {lat, long}`, `reel_video_id` … by type;
    /// `null` for a fallback without payload.
    #[serde(default)]
    pub(super) payload: Option<Value>,
    /// Fallback (shared link) and location attachments carry these beside the payload.
    #[serde(default)]
    pub(super) title: Option<String>,
    #[serde(default)]
    pub(super) url: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct RawChange {
    #[serde(default)]
    pub(super) field: Option<String>,
    #[serde(default)]
    pub(super) value: Value,
}

#[derive(Deserialize)]
pub(super) struct WaValue {
    #[serde(default)]
    pub(super) contacts: Option<Vec<WaContact>>,
    #[serde(default)]
    pub(super) messages: Option<Vec<WaMessage>>,
    #[serde(default)]
    pub(super) statuses: Option<Vec<WaStatus>>,
}

#[derive(Deserialize)]
pub(super) struct WaContact {
    #[serde(default)]
    pub(super) profile: Option<WaProfile>,
    #[serde(default)]
    pub(super) wa_id: Option<String>,
    #[serde(default)]
    pub(super) user_id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WaProfile {
    #[serde(default)]
    pub(super) name: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WaMessage {
    #[serde(deserialize_with = "message_id")]
    pub(super) id: String,
    #[serde(default)]
    pub(super) from: Option<String>,
    #[serde(default)]
    pub(super) from_user_id: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub(super) timestamp: Option<i64>,
    #[serde(rename = "type", default)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) text: Option<WaText>,
    #[serde(default)]
    pub(super) image: Option<WaMedia>,
    #[serde(default)]
    pub(super) video: Option<WaMedia>,
    #[serde(default)]
    pub(super) audio: Option<WaMedia>,
    #[serde(default)]
    pub(super) document: Option<WaMedia>,
    #[serde(default)]
    pub(super) sticker: Option<WaMedia>,
    #[serde(default)]
    pub(super) location: Option<WaLocation>,
    #[serde(default)]
    pub(super) button: Option<WaButton>,
    #[serde(default)]
    pub(super) interactive: Option<Value>,
    /// A contacts message: the shared contact cards.
    #[serde(default)]
    pub(super) contacts: Option<Vec<Value>>,
}

#[derive(Deserialize)]
pub(super) struct WaText {
    #[serde(default)]
    pub(super) body: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WaMedia {
    /// The media id to fetch through `GET /{media-id}`.
    #[serde(default, deserialize_with = "opt_id")]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) caption: Option<String>,
    #[serde(default)]
    pub(super) filename: Option<String>,
    #[serde(default)]
    pub(super) mime_type: Option<String>,
    /// An audio message recorded as a voice note.
    #[serde(default)]
    pub(super) voice: Option<bool>,
}

#[derive(Deserialize)]
pub(super) struct WaLocation {
    #[serde(default)]
    pub(super) latitude: Option<f64>,
    #[serde(default)]
    pub(super) longitude: Option<f64>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) address: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WaButton {
    #[serde(default)]
    pub(super) text: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WaStatus {
    #[serde(deserialize_with = "message_id")]
    pub(super) id: String,
    #[serde(default)]
    pub(super) status: Option<String>,
    #[serde(default)]
    pub(super) errors: Option<Vec<WaError>>,
}

#[derive(Deserialize)]
pub(super) struct WaError {
    #[serde(default)]
    pub(super) code: Option<i64>,
    #[serde(default)]
    pub(super) title: Option<String>,
    #[serde(default)]
    pub(super) message: Option<String>,
    #[serde(default)]
    pub(super) error_data: Option<WaErrorData>,
}

#[derive(Deserialize)]
pub(super) struct WaErrorData {
    #[serde(default)]
    pub(super) details: Option<String>,
}

// ---- lenient scalars: Meta sends ids and timestamps as strings or numbers ----

fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(de::Error::custom(format!(
            "expected an id (string or number), found {other}"
        ))),
    }
}

/// A message or status id: a string that is not blank.
fn message_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Err(de::Error::custom("empty message id"));
    }
    Ok(s)
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(de::Error::custom(format!(
            "expected an id (string or number), found {other}"
        ))),
    }
}

fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| de::Error::custom("expected an integer timestamp")),
        Value::String(s) => {
            s.trim().parse::<i64>().map(Some).map_err(|_| {
                de::Error::custom(format!("expected an integer timestamp, found `{s}`"))
            })
        }
        other => Err(de::Error::custom(format!(
            "expected an integer timestamp, found {other}"
        ))),
    }
}
