//! Webhook payloads of the three Meta platforms, parsed into one flat list of events.
//!
//! Parsing is all-or-nothing: a delivery whose JSON does not have Meta's shape (no
//! `object`, `entry` not a list, a message without its `mid`/`id` …) is refused as a whole,
//! before anything is stored. Fields Meta adds later are ignored. Within a well-formed
//! delivery every entry and every event is kept: Messenger/Instagram `entry[].messaging[]`
//! (and `standby[]`), WhatsApp `entry[].changes[].value.{messages,statuses}[]`.
//!
//! Layout: `raw` holds the serde shapes, `messaging` reads Messenger/Instagram entries,
//! `whatsapp` reads WhatsApp Cloud API changes; this module defines the events.

mod messaging;
mod raw;
mod whatsapp;

use aduan_core::types::Channel;
use chrono::{DateTime, TimeZone, Utc};

use raw::RawDelivery;

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
        "page" => messaging::messaging_events(Channel::Messenger, &d.entry, &mut out),
        "instagram" => messaging::messaging_events(Channel::Instagram, &d.entry, &mut out),
        "whatsapp_business_account" => whatsapp::whatsapp_events(&d.entry, &mut out)?,
        _ => out.push(Event::Ignored { kind: "object" }),
    }
    Ok(out)
}

// ---- shared normalisation ----

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
