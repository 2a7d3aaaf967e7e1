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
    /// The citizen's text or caption, and what was shared as text (locations, contact
    /// cards, links, button titles).
    pub body: String,
    /// Files to fetch after the commit (the desk adds their `[lampiran: …]` lines).
    pub media: Vec<aduan_core::media::NewMedia>,
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
    /// Echo, read, delivery, status, reaction, sticker alone, standby, test delivery,
    /// edit, unsupported type …: nothing to store (counted on `channel` when known).
    Ignored {
        channel: Option<Channel>,
        kind: &'static str,
    },
    /// A message that can never be stored (no sender, no text and no attachment).
    Unstorable {
        channel: Channel,
        external_id: String,
        reason: &'static str,
    },
}

/// Parse a delivery (already signature-checked) into its events.
pub fn parse(body: &[u8]) -> Result<Vec<Event>, String> {
    // The dashboard's sample of a field, posted bare (`{"field", "value"}`, no `object`).
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
        && v.get("object").is_none()
        && v.get("field").is_some()
        && v.get("value").is_some()
    {
        return Ok(vec![Event::Ignored {
            channel: None,
            kind: "test",
        }]);
    }
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
        _ => out.push(Event::Ignored {
            channel: None,
            kind: "object",
        }),
    }
    Ok(out)
}

/// The Meta App Dashboard's test delivery ("Test" next to a webhook field): an entry with
/// id `0`, which no real Page, Instagram account or WhatsApp Business Account has.
fn is_test_entry(id: Option<&str>) -> bool {
    id.map(str::trim) == Some("0")
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
    use aduan_core::media::MediaKind;

    use super::*;

    fn one(body: &str) -> Event {
        let mut ev = parse(body.as_bytes()).unwrap();
        assert_eq!(ev.len(), 1, "{ev:?}");
        ev.remove(0)
    }

    fn ignored(channel: Channel, kind: &'static str) -> Event {
        Event::Ignored {
            channel: Some(channel),
            kind,
        }
    }

    fn wrap_wa(msg: &str) -> String {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","contacts":[{{"profile":{{"name":"Ni Luh"}},"wa_id":"6281"}}],"messages":[{msg}]}}}}]}}]}}"#
        )
    }

    fn message(ev: Event) -> InboundMessage {
        match ev {
            Event::Message(m) => m,
            other => panic!("not a message: {other:?}"),
        }
    }

    #[test]
    fn whatsapp_media_locations_contacts_and_replies() {
        let m = message(one(&wrap_wa(
            r#"{"from":"6281","id":"wamid.A","timestamp":"1767225599","type":"image","image":{"id":"9","mime_type":"image/jpeg","sha256":"x","caption":"Foto jalan"}}"#,
        )));
        assert_eq!(m.body, "Foto jalan");
        assert_eq!(m.media.len(), 1);
        assert_eq!(m.media[0].kind, MediaKind::Image);
        assert_eq!(m.media[0].source, "9");
        assert_eq!(m.media[0].content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(m.name.as_deref(), Some("Ni Luh"));
        assert_eq!(m.timestamp_ms, Some(1_767_225_599_000));
        let m = message(one(&wrap_wa(
            r#"{"from":"6281","id":"wamid.B","timestamp":"1767225599","type":"document","document":{"id":"10","filename":"kk.pdf","mime_type":"application/pdf"}}"#,
        )));
        assert_eq!(m.body, "");
        assert_eq!(m.media[0].filename.as_deref(), Some("kk.pdf"));
        let m = message(one(&wrap_wa(
            r#"{"from":"6281","id":"wamid.V","timestamp":"1","type":"audio","audio":{"id":"11","mime_type":"audio/ogg; codecs=opus","voice":true}}"#,
        )));
        assert_eq!(m.media[0].kind, MediaKind::Voice);
        let m = message(one(&wrap_wa(
            r#"{"from":"6281","id":"wamid.C","timestamp":"1767225599","type":"location","location":{"latitude":-8.1,"longitude":115.08,"name":"Kantor Camat","address":"Jl. Ngurah Rai 1"}}"#,
        )));
        assert_eq!(
            m.body,
            "[lokasi: Kantor Camat, Jl. Ngurah Rai 1 — -8.1, 115.08]"
        );
        let m = message(one(&wrap_wa(
            r#"{"from":"6281","id":"wamid.K","timestamp":"1","type":"contacts","contacts":[{"name":{"formatted_name":"Barbara J. Johnson","first_name":"Barbara"},"phones":[{"phone":"+1 (940) 555-1234","wa_id":"19405551234","type":"HOME"}],"emails":[{"email":"bjohnson@example.com","type":"WORK"}]}]}"#,
        )));
        assert_eq!(
            m.body,
            "[kontak: Barbara J. Johnson, +1 (940) 555-1234, bjohnson@example.com]"
        );
        let m = message(one(&wrap_wa(
            r#"{"from":"6281","id":"wamid.F","timestamp":"1","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"b","title":"Ya"}}}"#,
        )));
        assert_eq!(m.body, "Ya");
        let m = message(one(&wrap_wa(
            r#"{"from":"6281","id":"wamid.L","timestamp":"1","type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"l","title":"KTP-el","description":"x"}}}"#,
        )));
        assert_eq!(m.body, "KTP-el");
    }

    #[test]
    fn whatsapp_non_complaints() {
        assert_eq!(
            one(&wrap_wa(
                r#"{"from":"6281","id":"wamid.D","timestamp":"1","type":"reaction","reaction":{"message_id":"x","emoji":"👍"}}"#
            )),
            ignored(Channel::Whatsapp, "reaction")
        );
        assert_eq!(
            one(&wrap_wa(
                r#"{"from":"6281","id":"wamid.E","timestamp":"1","type":"unsupported","errors":[{"code":131051,"title":"Message type unknown"}]}"#
            )),
            ignored(Channel::Whatsapp, "unsupported")
        );
        assert_eq!(
            one(&wrap_wa(
                r#"{"from":"6281","id":"wamid.S","timestamp":"1","type":"sticker","sticker":{"id":"12","mime_type":"image/webp","animated":false}}"#
            )),
            ignored(Channel::Whatsapp, "sticker")
        );
        // The dashboard's test delivery.
        let test = r#"{"object":"whatsapp_business_account","entry":[{"id":"0","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"16505551111","phone_number_id":"123456123"},"contacts":[{"profile":{"name":"test user name"},"wa_id":"16315551181"}],"messages":[{"from":"16315551181","id":"ABGGFlA5Fpa","timestamp":"1504902988","type":"text","text":{"body":"this is a text message"}}]}}]}]}"#;
        assert_eq!(one(test), ignored(Channel::Whatsapp, "test"));
        assert_eq!(
            one(r#"{"field":"messages","value":{"messaging_product":"whatsapp"}}"#),
            Event::Ignored {
                channel: None,
                kind: "test"
            }
        );
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
            ignored(Channel::Messenger, "read")
        );
        assert_eq!(
            one(&wrap(
                r#"{"sender":{"id":"P1"},"recipient":{"id":"U1"},"timestamp":1,"message":{"mid":"m1","text":"x","is_echo":true,"app_id":5}}"#
            )),
            ignored(Channel::Messenger, "echo")
        );
        let m = message(one(&wrap(
            r#"{"sender":{"id":"U1"},"recipient":{"id":"P1"},"timestamp":"1767225599000","message":{"mid":"m2","attachments":[{"type":"image","payload":{"url":"https://cdn.example/x.jpg"}}]}}"#,
        )));
        assert_eq!(m.body, "");
        assert_eq!(m.media[0].source, "https://cdn.example/x.jpg");
        // The like button: a sticker alone.
        assert_eq!(
            one(&wrap(
                r#"{"sender":{"id":"U1"},"recipient":{"id":"P1"},"timestamp":1,"message":{"mid":"m4","sticker_id":369239263222822,"attachments":[{"type":"image","payload":{"url":"https://cdn.example/like.png","sticker_id":369239263222822}}]}}"#
            )),
            ignored(Channel::Messenger, "sticker")
        );
        let m = message(one(&wrap(
            r#"{"sender":{"id":"U1"},"recipient":{"id":"P1"},"timestamp":1,"message":{"mid":"m5","attachments":[{"type":"location","title":"Lokasi saya","url":"https://l.example","payload":{"coordinates":{"lat":-8.11,"long":115.09}}}]}}"#,
        )));
        assert_eq!(m.body, "[lokasi: Lokasi saya — -8.11, 115.09]");
        let m = message(one(&wrap(
            r#"{"sender":{"id":"U1"},"recipient":{"id":"P1"},"timestamp":1,"message":{"mid":"m6","text":"lihat","attachments":[{"type":"fallback","title":"Berita","url":"https://news.example/a","payload":null}]}}"#,
        )));
        assert_eq!(
            m.body,
            "lihat
[tautan dibagikan: Berita — https://news.example/a]"
        );
        assert!(matches!(
            one(&wrap(
                r#"{"sender":{"id":"U1"},"timestamp":1,"message":{"mid":"m3"}}"#
            )),
            Event::Unstorable { .. }
        ));
        // Standby (another app owns the thread) and the dashboard's test.
        let standby = r#"{"object":"page","entry":[{"id":"P1","time":1,"standby":[{"sender":{"id":"U1"},"recipient":{"id":"P1"},"timestamp":1,"message":{"mid":"m7","text":"halo"}}]}]}"#;
        assert_eq!(one(standby), ignored(Channel::Messenger, "standby"));
        let test = r#"{"object":"page","entry":[{"time":1681827428517,"id":"0","messaging":[{"sender":{"id":"12334"},"recipient":{"id":"23245"},"timestamp":"1527459824","message":{"mid":"test_message_id","text":"test_message"}}]}]}"#;
        assert_eq!(one(test), ignored(Channel::Messenger, "test"));
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
            vec![Event::Ignored {
                channel: None,
                kind: "object"
            }]
        );
    }

    #[test]
    fn instagram_shares_and_stories_are_text_with_the_link() {
        let wrap = |msg: &str| {
            format!(
                r#"{{"object":"instagram","entry":[{{"id":"IG1","time":1,"messaging":[{{"sender":{{"id":"S1"}},"recipient":{{"id":"IG1"}},"timestamp":1,"message":{msg}}}]}}]}}"#
            )
        };
        let m = message(one(&wrap(
            r#"{"mid":"i1","attachments":[{"type":"story_mention","payload":{"url":"https://lookaside.example/story"}}]}"#,
        )));
        assert_eq!(
            m.body,
            "[menyebut akun kami di story: https://lookaside.example/story]"
        );
        let m = message(one(&wrap(
            r#"{"mid":"i2","text":"Ini antreannya","reply_to":{"story":{"url":"https://lookaside.example/s2","id":"s2"}}}"#,
        )));
        assert_eq!(
            m.body,
            "Ini antreannya
[membalas story: https://lookaside.example/s2]"
        );
        let m = message(one(&wrap(
            r#"{"mid":"i3","attachments":[{"type":"ig_reel","payload":{"reel_video_id":"1","title":"Antrean","url":"https://cdn.example/reel.mp4"}}]}"#,
        )));
        assert_eq!(
            m.body,
            "[reel dibagikan: Antrean — https://cdn.example/reel.mp4]"
        );
        let m = message(one(&wrap(
            r#"{"mid":"i4","attachments":[{"type":"share","payload":{"url":"https://instagram.example/p/1"}}]}"#,
        )));
        assert_eq!(m.body, "[tautan dibagikan: https://instagram.example/p/1]");
        assert_eq!(
            one(&wrap(r#"{"mid":"i5","is_unsupported":true}"#)),
            ignored(Channel::Instagram, "unsupported")
        );
        let m = message(one(&wrap(
            r#"{"mid":"i6","attachments":[{"type":"video","payload":{"url":"https://cdn.example/v.mp4"}},{"type":"audio","payload":{"url":"https://cdn.example/a.mp4"}},{"type":"file","payload":{"url":"https://cdn.example/f.pdf"}}]}"#,
        )));
        assert_eq!(
            m.media.iter().map(|x| x.kind).collect::<Vec<_>>(),
            vec![MediaKind::Video, MediaKind::Audio, MediaKind::Document]
        );
    }
}
