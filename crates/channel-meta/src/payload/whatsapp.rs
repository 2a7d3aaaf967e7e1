//! WhatsApp Cloud API events: `entry[].changes[].value.{messages,statuses}[]`.
//!
//! Invariants: only changes with `field == "messages"` are read; their `value` must have
//! the Cloud API shape or the whole delivery is refused (with the path of the bad field).
//! The sender is the phone number (`from`/`wa_id`) or, without one, the business-scoped
//! user id (BSUID); the contact matching it (or the only contact) gives the profile name.
//! Images, documents, audio, voice notes, videos (and a sticker sent with text) become
//! media to fetch by their media id; locations (coordinates, name, address), contact cards
//! (names, numbers, e-mail addresses) and button or list replies (their titles) become
//! text. Reactions, a sticker alone, system messages, unsupported types (an edit, a poll,
//! …) and the dashboard's test delivery (entry id `0`) are ignored; only `failed`
//! statuses are kept.

use aduan_core::types::Channel;
use serde_json::Value;

use aduan_core::media::{MediaKind, NewMedia};

use super::raw::{RawEntry, WaContact, WaMedia, WaMessage, WaStatus, WaValue};
use super::{Event, InboundMessage, compose, is_test_entry, non_empty};

fn ignored(kind: &'static str) -> Event {
    Event::Ignored {
        channel: Some(Channel::Whatsapp),
        kind,
    }
}

pub(super) fn whatsapp_events(entries: &[RawEntry], out: &mut Vec<Event>) -> Result<(), String> {
    for (ei, entry) in entries.iter().enumerate() {
        let test = is_test_entry(entry.id.as_deref());
        for (ci, change) in entry.changes.iter().flatten().enumerate() {
            if change.field.as_deref() != Some("messages") {
                out.push(ignored("change"));
                continue;
            }
            if test {
                out.push(ignored("test"));
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
            out.push(ignored("other"));
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
    let mut files = Vec::new();
    let mut file = |media: &Option<WaMedia>, kind: MediaKind| -> Vec<Option<String>> {
        let Some(m) = media else {
            return vec![Some(format!("[lampiran {}: tanpa berkas]", kind.label()))];
        };
        let kind = if kind == MediaKind::Audio && m.voice == Some(true) {
            MediaKind::Voice
        } else {
            kind
        };
        match non_empty(m.id.as_deref()) {
            Some(id) => files.push(NewMedia {
                kind,
                source: id.to_string(),
                filename: non_empty(m.filename.as_deref()).map(str::to_string),
                content_type: non_empty(m.mime_type.as_deref()).map(str::to_string),
                size: None,
            }),
            None => {
                return vec![
                    m.caption.clone(),
                    Some(format!("[lampiran {}: tanpa berkas]", kind.label())),
                ];
            }
        }
        vec![m.caption.clone()]
    };
    let lines: Vec<Option<String>> = match kind {
        "text" => vec![m.text.as_ref().and_then(|t| t.body.clone())],
        "image" => file(&m.image, MediaKind::Image),
        "video" => file(&m.video, MediaKind::Video),
        "audio" => file(&m.audio, MediaKind::Audio),
        "document" => file(&m.document, MediaKind::Document),
        "sticker" => {
            // A sticker alone says nothing to the office; with text of its own it is kept.
            let words = m
                .sticker
                .as_ref()
                .and_then(|s| non_empty(s.caption.as_deref()))
                .is_some();
            if !words {
                return ignored("sticker");
            }
            file(&m.sticker, MediaKind::Sticker)
        }
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
        "contacts" => m.contacts.iter().flatten().map(contact_line).collect(),
        "button" => vec![m.button.as_ref().and_then(|b| b.text.clone())],
        "interactive" => vec![m.interactive.as_ref().and_then(interactive_title)],
        "reaction" => return ignored("reaction"),
        "system" | "request_welcome" | "ephemeral" => return ignored("system"),
        "unsupported" => return ignored("unsupported"),
        // `order` and future types: nothing a desk can read; a text body, if any, is kept.
        _ => vec![m.text.as_ref().and_then(|t| t.body.clone())],
    };
    let body = compose(&lines);
    if body.is_empty() && files.is_empty() {
        return match kind {
            "text" | "button" | "interactive" | "contacts" => Event::Unstorable {
                channel: Channel::Whatsapp,
                external_id: m.id.clone(),
                reason: "no text and no attachment",
            },
            // `order` and types added later, without a text body.
            _ => ignored("unsupported"),
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
        media: files,
    })
}

/// `[kontak: Barbara J. Johnson, +1 (940) 555-1234, bjohnson@example.com]` from a contact
/// card of a contacts message (names, numbers and e-mail addresses; the rest is left out).
fn contact_line(c: &Value) -> Option<String> {
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let name = c.get("name");
    let who = text(name.and_then(|n| n.get("formatted_name"))).or_else(|| {
        let parts: Vec<String> = ["first_name", "last_name"]
            .iter()
            .filter_map(|k| text(name.and_then(|n| n.get(*k))))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let list = |key: &str, field: &str| -> Vec<String> {
        c.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| text(p.get(field)))
            .collect()
    };
    let parts: Vec<String> = who
        .into_iter()
        .chain(list("phones", "phone"))
        .chain(list("emails", "email"))
        .collect();
    (!parts.is_empty()).then(|| format!("[kontak: {}]", parts.join(", ")))
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
        return ignored("status");
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
