//! Messenger and Instagram events: `entry[].messaging[]` and `entry[].standby[]`.
//!
//! Invariants: every event yields exactly one [`Event`]. Standby events (another app owns
//! the thread, handover protocol), the dashboard's test delivery (entry id `0`), echoes
//! (flagged `is_echo`, or sent by the page/account itself), deletions, unsupported messages,
//! reads, deliveries, postbacks, reactions, edits and a sticker or like alone are ignored.
//! Image, video, audio and file attachments become media to fetch from their
//! `payload.url`; locations, shared links (fallback, share, reels, posts), story mentions
//! and story replies become text lines with the link. A message without a sender id, or
//! with nothing of the above, is unstorable.

use aduan_core::media::{MediaKind, NewMedia};
use aduan_core::types::Channel;
use serde_json::Value;

use super::raw::{RawAttachment, RawEntry, RawMessaging};
use super::{Event, InboundMessage, compose, is_test_entry, non_empty};

pub(super) fn messaging_events(channel: Channel, entries: &[RawEntry], out: &mut Vec<Event>) {
    for entry in entries {
        let own_id = entry.id.as_deref();
        let test = is_test_entry(own_id);
        for ev in entry.messaging.iter().flatten() {
            out.push(if test {
                Event::Ignored {
                    channel: Some(channel),
                    kind: "test",
                }
            } else {
                messaging_event(channel, own_id, ev)
            });
        }
        // Another app owns these threads: its events are not ours to answer or store.
        for _ in entry.standby.iter().flatten() {
            out.push(Event::Ignored {
                channel: Some(channel),
                kind: "standby",
            });
        }
        if entry.changes.as_ref().is_some_and(|c| !c.is_empty()) {
            out.push(Event::Ignored {
                channel: Some(channel),
                kind: "change",
            });
        }
    }
}

fn text_at<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a str> {
    v.and_then(|v| v.get(key))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// What one attachment becomes: a file to fetch or a line of text.
enum Part {
    File(NewMedia),
    Line(String),
    Sticker,
    Nothing,
}

fn attachment(a: &RawAttachment) -> Part {
    let kind = non_empty(a.kind.as_deref()).unwrap_or("file");
    let payload = a.payload.as_ref().filter(|p| p.is_object());
    let url = text_at(payload, "url").or(non_empty(a.url.as_deref()));
    let title = text_at(payload, "title").or(non_empty(a.title.as_deref()));
    if payload.is_some_and(|p| p.get("sticker_id").is_some()) || kind == "sticker" {
        return Part::Sticker;
    }
    let media = |k: MediaKind| match url {
        Some(u) => Part::File(NewMedia {
            kind: k,
            source: u.to_string(),
            filename: None,
            content_type: None,
            size: None,
        }),
        None => Part::Line(format!("[lampiran {}: tanpa tautan]", k.label())),
    };
    let link = |label: &str| {
        let parts: Vec<&str> = [title, url].into_iter().flatten().collect();
        if parts.is_empty() {
            Part::Line(format!("[{label}]"))
        } else {
            Part::Line(format!("[{label}: {}]", parts.join(" — ")))
        }
    };
    match kind {
        "image" => media(MediaKind::Image),
        "video" => media(MediaKind::Video),
        "audio" => media(MediaKind::Audio),
        "file" => media(MediaKind::Document),
        "location" => {
            let c = payload.and_then(|p| p.get("coordinates"));
            let coords = c.and_then(|c| {
                let lat = c.get("lat").and_then(Value::as_f64)?;
                let lon = c.get("long").and_then(Value::as_f64)?;
                Some(format!("{lat}, {lon}"))
            });
            let parts: Vec<String> = [title.map(str::to_string), coords]
                .into_iter()
                .flatten()
                .collect();
            if parts.is_empty() {
                Part::Nothing
            } else {
                Part::Line(format!("[lokasi: {}]", parts.join(" — ")))
            }
        }
        "story_mention" => link("menyebut akun kami di story"),
        "fallback" | "share" | "template" => link("tautan dibagikan"),
        "reel" | "ig_reel" => link("reel dibagikan"),
        "post" | "ig_post" => link("postingan dibagikan"),
        other => {
            // A kind added later: keep the link, if any, as text.
            if url.is_some() || title.is_some() {
                link(&format!("lampiran {other}"))
            } else {
                Part::Nothing
            }
        }
    }
}

fn messaging_event(channel: Channel, own_id: Option<&str>, ev: &RawMessaging) -> Event {
    let ignored = |kind| Event::Ignored {
        channel: Some(channel),
        kind,
    };
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
        return ignored(kind);
    };
    let sender = ev.sender.as_ref().map(|s| s.id.trim()).unwrap_or("");
    // Instagram sends echoes of the account's own messages; the page/IG account as sender
    // is an echo on either platform.
    if msg.is_echo == Some(true) || own_id.is_some_and(|own| own == sender) {
        return ignored("echo");
    }
    if msg.is_deleted == Some(true) {
        return ignored("deleted");
    }
    if msg.is_unsupported == Some(true) {
        return ignored("unsupported");
    }
    if sender.is_empty() {
        return Event::Unstorable {
            channel,
            external_id: msg.mid.clone(),
            reason: "no sender id",
        };
    }
    let mut lines = vec![msg.text.clone()];
    let story = msg
        .reply_to
        .as_ref()
        .and_then(|r| r.get("story"))
        .and_then(|s| text_at(Some(s), "url"));
    if let Some(url) = story {
        lines.push(Some(format!("[membalas story: {url}]")));
    }
    let mut media = Vec::new();
    let mut sticker = msg.sticker_id.is_some();
    for a in msg.attachments.iter().flatten() {
        match attachment(a) {
            // The image copy of a sticker (older payloads name the sticker on the message).
            Part::File(m) if msg.sticker_id.is_some() && m.kind == MediaKind::Image => {}
            Part::File(m) => media.push(m),
            Part::Line(l) => lines.push(Some(l)),
            Part::Sticker => sticker = true,
            Part::Nothing => {}
        }
    }
    let body = compose(&lines);
    if body.is_empty() && media.is_empty() {
        if sticker {
            return ignored("sticker");
        }
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
        media,
    })
}
