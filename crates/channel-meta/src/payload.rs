//! Webhook payloads of the three Meta platforms, parsed into one flat list of events.
//!
//! Parsing is all-or-nothing: a delivery whose JSON does not have Meta's shape (no
//! `object`, `entry` not a list, a message without its `mid`/`id` …) is refused as a whole,
//! before anything is stored. Fields Meta adds later are ignored. Within a well-formed
//! delivery every entry and every event is kept: Messenger/Instagram `entry[].messaging[]`
//! (and `standby[]`), WhatsApp `entry[].changes[].value.{messages,statuses}[]`.

use aduan_core::types::Channel;
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::Value;

/// One citizen message worth storing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub channel: Channel,
    /// `mid` (Messenger, Instagram) or `wamid` (WhatsApp): the dedup key.
    pub external_id: String,
    /// PSID, IGSID, WhatsApp id (phone digits) or, without a phone, the BSUID.
    pub sender: String,
    /// WhatsApp profile name, when sent.
    pub name: Option<String>,
    /// WhatsApp phone number (digits, no `+`), when sent.
    pub phone: Option<String>,
    /// Platform time of the message, in milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
    /// Text, caption, or `[lampiran: type]` markers.
    pub body: String,
}

impl InboundMessage {
    /// The platform time as a UTC instant.
    pub fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.timestamp_ms
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
    }
}

/// One event of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A citizen message: becomes a complaint or is appended to the open one.
    Message(InboundMessage),
    /// A WhatsApp `failed` status of a message aduan sent: recorded on the outbox row.
    FailedStatus { external_id: String, error: String },
    /// Echo, read, delivery, status, reaction, postback …: nothing to store.
    Ignored { kind: &'static str },
    /// A message that can never be stored (no sender, no text and no attachment).
    Unstorable {
        channel: Channel,
        external_id: String,
        reason: &'static str,
    },
}

/// Parse a delivery (already signature-checked) into its events.
pub fn parse(body: &[u8]) -> Result<Vec<Event>, String> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let d: RawDelivery = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })?;
    let mut out = Vec::new();
    match d.object.as_str() {
        "page" => messaging_events(Channel::Messenger, &d.entry, &mut out),
        "instagram" => messaging_events(Channel::Instagram, &d.entry, &mut out),
        "whatsapp_business_account" => whatsapp_events(&d.entry, &mut out)?,
        _ => out.push(Event::Ignored { kind: "object" }),
    }
    Ok(out)
}

// ---- raw shapes ----

#[derive(Deserialize)]
struct RawDelivery {
    object: String,
    entry: Vec<RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(default, deserialize_with = "opt_id")]
    id: Option<String>,
    #[serde(default)]
    messaging: Option<Vec<RawMessaging>>,
    #[serde(default)]
    standby: Option<Vec<RawMessaging>>,
    #[serde(default)]
    changes: Option<Vec<RawChange>>,
}

#[derive(Deserialize)]
struct RawParty {
    #[serde(deserialize_with = "id")]
    id: String,
}

#[derive(Deserialize)]
struct RawMessaging {
    #[serde(default)]
    sender: Option<RawParty>,
    #[serde(default, deserialize_with = "opt_i64")]
    timestamp: Option<i64>,
    #[serde(default)]
    message: Option<RawMessage>,
    #[serde(default)]
    read: Option<Value>,
    #[serde(default)]
    delivery: Option<Value>,
    #[serde(default)]
    postback: Option<Value>,
    #[serde(default)]
    reaction: Option<Value>,
    #[serde(default)]
    message_edit: Option<Value>,
}

#[derive(Deserialize)]
struct RawMessage {
    mid: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    attachments: Option<Vec<RawAttachment>>,
    #[serde(default)]
    is_echo: Option<bool>,
    #[serde(default)]
    is_deleted: Option<bool>,
}

#[derive(Deserialize)]
struct RawAttachment {
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct RawChange {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize)]
struct WaValue {
    #[serde(default)]
    contacts: Option<Vec<WaContact>>,
    #[serde(default)]
    messages: Option<Vec<WaMessage>>,
    #[serde(default)]
    statuses: Option<Vec<WaStatus>>,
}

#[derive(Deserialize)]
struct WaContact {
    #[serde(default)]
    profile: Option<WaProfile>,
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct WaProfile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct WaMessage {
    id: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    from_user_id: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    timestamp: Option<i64>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    text: Option<WaText>,
    #[serde(default)]
    image: Option<WaMedia>,
    #[serde(default)]
    video: Option<WaMedia>,
    #[serde(default)]
    audio: Option<WaMedia>,
    #[serde(default)]
    document: Option<WaMedia>,
    #[serde(default)]
    sticker: Option<WaMedia>,
    #[serde(default)]
    location: Option<WaLocation>,
    #[serde(default)]
    button: Option<WaButton>,
    #[serde(default)]
    interactive: Option<Value>,
}

#[derive(Deserialize)]
struct WaText {
    #[serde(default)]
    body: Option<String>,
}

#[derive(Deserialize)]
struct WaMedia {
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    filename: Option<String>,
}

#[derive(Deserialize)]
struct WaLocation {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

#[derive(Deserialize)]
struct WaButton {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct WaStatus {
    id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    errors: Option<Vec<WaError>>,
}

#[derive(Deserialize)]
struct WaError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_data: Option<WaErrorData>,
}

#[derive(Deserialize)]
struct WaErrorData {
    #[serde(default)]
    details: Option<String>,
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

// ---- normalisation ----

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Text lines plus `[lampiran: …]` for attachments, joined by newlines.
fn compose(lines: &[Option<String>]) -> String {
    lines
        .iter()
        .flatten()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn messaging_events(channel: Channel, entries: &[RawEntry], out: &mut Vec<Event>) {
    for entry in entries {
        let own_id = entry.id.as_deref();
        let events = entry
            .messaging
            .iter()
            .flatten()
            .chain(entry.standby.iter().flatten());
        for ev in events {
            out.push(messaging_event(channel, own_id, ev));
        }
        if entry.changes.as_ref().is_some_and(|c| !c.is_empty()) {
            out.push(Event::Ignored { kind: "change" });
        }
    }
}

fn messaging_event(channel: Channel, own_id: Option<&str>, ev: &RawMessaging) -> Event {
    let Some(msg) = &ev.message else {
        let kind = if ev.read.is_some() {
            "read"
        } else if ev.delivery.is_some() {
            "delivery"
        } else if ev.postback.is_some() {
            "postback"
        } else if ev.reaction.is_some() {
            "reaction"
        } else if ev.message_edit.is_some() {
            "edit"
        } else {
            "other"
        };
        return Event::Ignored { kind };
    };
    let sender = ev.sender.as_ref().map(|s| s.id.trim()).unwrap_or("");
    // Instagram sends echoes of the account's own messages; the page/IG account as sender
    // is an echo on either platform.
    if msg.is_echo == Some(true) || own_id.is_some_and(|own| own == sender) {
        return Event::Ignored { kind: "echo" };
    }
    if msg.is_deleted == Some(true) {
        return Event::Ignored { kind: "deleted" };
    }
    if sender.is_empty() {
        return Event::Unstorable {
            channel,
            external_id: msg.mid.clone(),
            reason: "no sender id",
        };
    }
    let kinds: Vec<&str> = msg
        .attachments
        .iter()
        .flatten()
        .map(|a| non_empty(a.kind.as_deref()).unwrap_or("file"))
        .collect();
    let body = compose(&[
        msg.text.clone(),
        (!kinds.is_empty()).then(|| format!("[lampiran: {}]", kinds.join(", "))),
    ]);
    if body.is_empty() {
        return Event::Unstorable {
            channel,
            external_id: msg.mid.clone(),
            reason: "no text and no attachment",
        };
    }
    Event::Message(InboundMessage {
        channel,
        external_id: msg.mid.clone(),
        sender: sender.to_string(),
        name: None,
        phone: None,
        timestamp_ms: ev.timestamp,
        body,
    })
}

fn whatsapp_events(entries: &[RawEntry], out: &mut Vec<Event>) -> Result<(), String> {
    for (ei, entry) in entries.iter().enumerate() {
        for (ci, change) in entry.changes.iter().flatten().enumerate() {
            if change.field.as_deref() != Some("messages") {
                out.push(Event::Ignored { kind: "change" });
                continue;
            }
            let value: WaValue = serde_path_to_error::deserialize(&change.value).map_err(|e| {
                format!(
                    "entry[{ei}].changes[{ci}].value.{}: {}",
                    e.path(),
                    e.inner()
                )
            })?;
            let contacts = value.contacts.unwrap_or_default();
            for m in value.messages.iter().flatten() {
                out.push(whatsapp_message(m, &contacts));
            }
            for s in value.statuses.iter().flatten() {
                out.push(whatsapp_status(s));
            }
        }
        if entry.messaging.as_ref().is_some_and(|m| !m.is_empty()) {
            out.push(Event::Ignored { kind: "other" });
        }
    }
    Ok(())
}

fn whatsapp_message(m: &WaMessage, contacts: &[WaContact]) -> Event {
    let from = non_empty(m.from.as_deref());
    let from_user = non_empty(m.from_user_id.as_deref());
    let contact = contacts
        .iter()
        .find(|c| {
            (from.is_some() && non_empty(c.wa_id.as_deref()) == from)
                || (from_user.is_some() && non_empty(c.user_id.as_deref()) == from_user)
        })
        .or(match contacts {
            [only] => Some(only),
            _ => None,
        });
    let phone = from.or_else(|| contact.and_then(|c| non_empty(c.wa_id.as_deref())));
    let bsuid = from_user.or_else(|| contact.and_then(|c| non_empty(c.user_id.as_deref())));
    let name = contact
        .and_then(|c| c.profile.as_ref())
        .and_then(|p| non_empty(p.name.as_deref()))
        .map(str::to_string);
    let kind = m.kind.as_deref().unwrap_or("unknown");
    let Some(sender) = phone.or(bsuid) else {
        return Event::Unstorable {
            channel: Channel::Whatsapp,
            external_id: m.id.clone(),
            reason: "no sender id",
        };
    };
    let media = |media: &Option<WaMedia>, kind: &str| -> Vec<Option<String>> {
        let caption = media.as_ref().and_then(|x| x.caption.clone());
        let file = media
            .as_ref()
            .and_then(|x| non_empty(x.filename.as_deref()))
            .map(|f| format!("{kind} {f}"))
            .unwrap_or_else(|| kind.to_string());
        vec![caption, Some(format!("[lampiran: {file}]"))]
    };
    let lines: Vec<Option<String>> = match kind {
        "text" => vec![m.text.as_ref().and_then(|t| t.body.clone())],
        "image" => media(&m.image, kind),
        "video" => media(&m.video, kind),
        "audio" => media(&m.audio, kind),
        "document" => media(&m.document, kind),
        "sticker" => media(&m.sticker, kind),
        "location" => {
            let l = m.location.as_ref();
            let place = compose(&[
                l.and_then(|l| l.name.clone()),
                l.and_then(|l| l.address.clone()),
            ])
            .replace('\n', ", ");
            let coords = l
                .and_then(|l| Some(format!("{}, {}", l.latitude?, l.longitude?)))
                .unwrap_or_default();
            let text = [place, coords]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" — ");
            vec![Some(format!("[lokasi: {text}]"))]
        }
        "contacts" => vec![Some("[lampiran: contacts]".to_string())],
        "button" => vec![m.button.as_ref().and_then(|b| b.text.clone())],
        "interactive" => vec![m.interactive.as_ref().and_then(interactive_title)],
        "reaction" => return Event::Ignored { kind: "reaction" },
        "system" | "request_welcome" | "ephemeral" => return Event::Ignored { kind: "system" },
        // `unsupported`, `order`, `unknown` and future types: nothing a desk can read; a
        // text body, if any, is still kept.
        _ => vec![m.text.as_ref().and_then(|t| t.body.clone())],
    };
    let body = compose(&lines);
    if body.is_empty() {
        return Event::Unstorable {
            channel: Channel::Whatsapp,
            external_id: m.id.clone(),
            reason: "no text and no attachment",
        };
    }
    Event::Message(InboundMessage {
        channel: Channel::Whatsapp,
        external_id: m.id.clone(),
        sender: sender.to_string(),
        name,
        phone: phone.map(str::to_string),
        timestamp_ms: m.timestamp.map(|s| s.saturating_mul(1000)),
        body,
    })
}

fn interactive_title(v: &Value) -> Option<String> {
    ["button_reply", "list_reply", "nfm_reply"]
        .iter()
        .find_map(|k| v.get(k))
        .and_then(|r| r.get("title").or_else(|| r.get("body")))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn whatsapp_status(s: &WaStatus) -> Event {
    if s.status.as_deref() != Some("failed") {
        return Event::Ignored { kind: "status" };
    }
    let error = s
        .errors
        .iter()
        .flatten()
        .next()
        .map(|e| {
            let text = e
                .error_data
                .as_ref()
                .and_then(|d| non_empty(d.details.as_deref()))
                .or(non_empty(e.message.as_deref()))
                .or(non_empty(e.title.as_deref()))
                .unwrap_or("failed");
            match e.code {
                Some(c) => format!("WhatsApp {c}: {text}"),
                None => format!("WhatsApp: {text}"),
            }
        })
        .unwrap_or_else(|| "WhatsApp: delivery failed".to_string());
    Event::FailedStatus {
        external_id: s.id.clone(),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str) -> Event {
        let mut ev = parse(body.as_bytes()).unwrap();
        assert_eq!(ev.len(), 1, "{ev:?}");
        ev.remove(0)
    }

    #[test]
    fn whatsapp_media_and_location() {
        let wrap = |msg: &str| {
            format!(
                r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","contacts":[{{"profile":{{"name":"Ni Luh"}},"wa_id":"6281"}}],"messages":[{msg}]}}}}]}}]}}"#
            )
        };
        let Event::Message(m) = one(&wrap(
            r#"{"from":"6281","id":"wamid.A","timestamp":"1767225599","type":"image","image":{"id":"9","caption":"Foto jalan"}}"#,
        )) else {
            panic!("not a message")
        };
        assert_eq!(m.body, "Foto jalan\n[lampiran: image]");
        assert_eq!(m.name.as_deref(), Some("Ni Luh"));
        assert_eq!(m.timestamp_ms, Some(1_767_225_599_000));
        let Event::Message(m) = one(&wrap(
            r#"{"from":"6281","id":"wamid.B","timestamp":"1767225599","type":"document","document":{"id":"9","filename":"kk.pdf"}}"#,
        )) else {
            panic!("not a message")
        };
        assert_eq!(m.body, "[lampiran: document kk.pdf]");
        let Event::Message(m) = one(&wrap(
            r#"{"from":"6281","id":"wamid.C","timestamp":"1767225599","type":"location","location":{"latitude":-8.1,"longitude":115.08,"name":"Kantor Camat"}}"#,
        )) else {
            panic!("not a message")
        };
        assert_eq!(m.body, "[lokasi: Kantor Camat — -8.1, 115.08]");
        assert_eq!(
            one(&wrap(
                r#"{"from":"6281","id":"wamid.D","timestamp":"1","type":"reaction","reaction":{"message_id":"x","emoji":"👍"}}"#
            )),
            Event::Ignored { kind: "reaction" }
        );
        assert!(matches!(
            one(&wrap(
                r#"{"from":"6281","id":"wamid.E","timestamp":"1","type":"unsupported"}"#
            )),
            Event::Unstorable { .. }
        ));
        let Event::Message(m) = one(&wrap(
            r#"{"from":"6281","id":"wamid.F","timestamp":"1","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"b","title":"Ya"}}}"#,
        )) else {
            panic!("not a message")
        };
        assert_eq!(m.body, "Ya");
    }

    #[test]
    fn messenger_events_and_shapes() {
        let wrap = |ev: &str| {
            format!(r#"{{"object":"page","entry":[{{"id":"P1","time":1,"messaging":[{ev}]}}]}}"#)
        };
        assert_eq!(
            one(&wrap(
                r#"{"sender":{"id":"U1"},"recipient":{"id":"P1"},"timestamp":1,"read":{"watermark":1}}"#
            )),
            Event::Ignored { kind: "read" }
        );
        assert_eq!(
            one(&wrap(
                r#"{"sender":{"id":"P1"},"recipient":{"id":"U1"},"timestamp":1,"message":{"mid":"m1","text":"x","is_echo":true,"app_id":5}}"#
            )),
            Event::Ignored { kind: "echo" }
        );
        let Event::Message(m) = one(&wrap(
            r#"{"sender":{"id":"U1"},"recipient":{"id":"P1"},"timestamp":"1767225599000","message":{"mid":"m2","attachments":[{"type":"image","payload":{"url":"https://x"}}]}}"#,
        )) else {
            panic!("not a message")
        };
        assert_eq!(m.body, "[lampiran: image]");
        assert!(matches!(
            one(&wrap(
                r#"{"sender":{"id":"U1"},"timestamp":1,"message":{"mid":"m3"}}"#
            )),
            Event::Unstorable { .. }
        ));
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"object":"page"}"#,
            r#"{"object":"page","entry":{}}"#,
            &wrap(r#"{"sender":{"id":"U1"},"timestamp":1,"message":{"text":"no mid"}}"#),
            &wrap(
                r#"{"sender":{"id":"U1"},"timestamp":"kemarin","message":{"mid":"m","text":"x"}}"#,
            ),
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(
            parse(br#"{"object":"user","entry":[]}"#).unwrap(),
            vec![Event::Ignored { kind: "object" }]
        );
    }
}
