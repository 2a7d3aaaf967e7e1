//! WhatsApp Cloud API events: `entry[].changes[].value.{messages,statuses}[]`.
//!
//! Invariants: only changes with `field == "messages"` are read; their `value` must have
//! the Cloud API shape or the whole delivery is refused (with the path of the bad field).
//! The sender is the phone number (`from`/`wa_id`) or, without one, the business-scoped
//! user id (BSUID); the contact matching it (or the only contact) gives the profile name.
//! Media and locations become `[lampiran: …]`/`[lokasi: …]` lines; reactions and system
//! messages are ignored; only `failed` statuses are kept.

use aduan_core::types::Channel;
use serde_json::Value;

use super::raw::{RawEntry, WaContact, WaMedia, WaMessage, WaStatus, WaValue};
use super::{Event, InboundMessage, compose, non_empty};

pub(super) fn whatsapp_events(entries: &[RawEntry], out: &mut Vec<Event>) -> Result<(), String> {
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
