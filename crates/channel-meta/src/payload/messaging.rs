//! Messenger and Instagram events: `entry[].messaging[]` and `entry[].standby[]`.
//!
//! Invariants: every event yields exactly one [`Event`]. Echoes (flagged `is_echo`, or sent
//! by the page/account itself), deletions, reads, deliveries, postbacks, reactions and
//! edits are ignored; a message without a sender id or without text and attachments is
//! unstorable. Attachments become one `[lampiran: type, …]` line after the text.

use aduan_core::types::Channel;

use super::raw::{RawEntry, RawMessaging};
use super::{Event, InboundMessage, compose, non_empty};

pub(super) fn messaging_events(channel: Channel, entries: &[RawEntry], out: &mut Vec<Event>) {
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
