//! The texts the bot sends to citizens directly (greeting, `/status` answers, refusals),
//! in Bahasa Indonesia.
//!
//! The wording lives in `config/templates/telegram/*.txt`, compiled in with `include_str!`
//! so the binary stays self-contained. A template is used with its surrounding whitespace
//! trimmed (so the file's final newline is not sent); a `{{ name }}` placeholder is
//! replaced by [`fill`] in a single pass: an inserted value is never scanned again, so
//! text a citizen or staff member wrote cannot bring in a placeholder. Every template
//! uses exactly the placeholders its builder below fills in (checked by the tests).
//! Messages for staff and operators (logs, errors, notes in the complaint text) are not
//! here.

use aduan_core::desk::{Desk, StatusView};
use aduan_core::types::{Resolution, State};
use chrono::{DateTime, Utc};

macro_rules! template {
    ($name:literal) => {
        include_str!(concat!(
            "../../../../config/templates/telegram/",
            $name,
            ".txt"
        ))
    };
}

const START: &str = template!("start");
const STATUS_USAGE: &str = template!("status_usage");
const STATUS: &str = template!("status");
const STATUS_ANSWER: &str = template!("status_answer");
const STATUS_QUESTION: &str = template!("status_question");
const STATUS_NOT_FOUND: &str = template!("status_not_found");
const REFUSAL_NEED_TEXT: &str = template!("refusal_need_text");
const REFUSAL_UNSUPPORTED: &str = template!("refusal_unsupported");
const REFUSAL_CANNOT_STORE: &str = template!("refusal_cannot_store");
const STATE_RECEIVED: &str = template!("state_received");
const STATE_IN_BIDANG: &str = template!("state_in_bidang");
const STATE_REVIEW: &str = template!("state_review");
const STATE_FOLLOW_UP: &str = template!("state_follow_up");
const STATE_WAITING_CITIZEN: &str = template!("state_waiting_citizen");
const STATE_CLOSED: &str = template!("state_closed");
const STATE_CLOSED_TIDAK: &str = template!("state_closed_tidak");

/// `template` (trimmed) with each `{{ name }}` replaced by its value from `vars`, in one
/// pass. A placeholder without a value is left as written.
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let template = template.trim();
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let inner = &rest[start + 2..];
        let Some(end) = inner.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = inner[..end].trim();
        match vars.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => out.push_str(v),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &inner[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The `/start` and `/help` answer (also for unknown commands).
pub(super) fn welcome_text(desk: &Desk) -> String {
    let cfg = desk.config();
    fill(
        START,
        &[
            ("office", &cfg.office_name),
            ("ticket_prefix", cfg.ticket_prefix.as_str()),
        ],
    )
}

/// The answer to `/status` without a ticket number.
pub(super) fn status_usage(desk: &Desk) -> String {
    fill(
        STATUS_USAGE,
        &[("ticket_prefix", desk.config().ticket_prefix.as_str())],
    )
}

fn state_label(v: &StatusView) -> &'static str {
    let t = match (v.state, v.status) {
        (State::Received | State::Triage, _) => STATE_RECEIVED,
        (State::InBidang, _) => STATE_IN_BIDANG,
        (State::Review, _) => STATE_REVIEW,
        (State::FollowUp, _) => STATE_FOLLOW_UP,
        (State::WaitingCitizen, _) => STATE_WAITING_CITIZEN,
        (State::Closed, Some(Resolution::Tidak)) => STATE_CLOSED_TIDAK,
        (State::Closed, _) => STATE_CLOSED,
    };
    t.trim()
}

/// The answer to `/status TICKET` for a complaint of this chat.
pub(super) fn status_text(desk: &Desk, v: &StatusView) -> String {
    let tz = desk.config().policy.calendar.timezone();
    let fmt = |t: DateTime<Utc>| t.with_timezone(&tz).format("%d-%m-%Y %H:%M %Z").to_string();
    let mut out = fill(
        STATUS,
        &[
            ("ticket", v.ticket.as_str()),
            ("state", state_label(v)),
            ("received_at", &fmt(v.received_at)),
            ("updated_at", &fmt(v.updated_at)),
        ],
    );
    if let Some(a) = v.answer.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        out.push_str("\n\n");
        out.push_str(&fill(STATUS_ANSWER, &[("answer", a)]));
    }
    if let Some(q) = v
        .question
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
    {
        out.push_str("\n\n");
        out.push_str(&fill(STATUS_QUESTION, &[("question", q)]));
    }
    out
}

/// The answer to `/status TICKET` when this chat has no such complaint.
pub(super) fn not_found_text(ticket: &str) -> String {
    fill(STATUS_NOT_FOUND, &[("ticket", ticket)])
}

/// Refusal: nothing to store (the desk refused the body).
pub(super) fn need_text() -> &'static str {
    REFUSAL_NEED_TEXT.trim()
}

/// Explanation for a message of a kind aduan cannot store (a poll, a dice, a game …).
pub(super) fn unsupported_media() -> &'static str {
    REFUSAL_UNSUPPORTED.trim()
}

/// Refusal: the desk refused the message for another reason.
pub(super) fn cannot_store() -> &'static str {
    REFUSAL_CANNOT_STORE.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every template: file name (without `.txt`), source, and the placeholders it uses.
    const TEMPLATES: &[(&str, &str, &[&str])] = &[
        ("start", START, &["office", "ticket_prefix"]),
        ("status_usage", STATUS_USAGE, &["ticket_prefix"]),
        (
            "status",
            STATUS,
            &["ticket", "state", "received_at", "updated_at"],
        ),
        ("status_answer", STATUS_ANSWER, &["answer"]),
        ("status_question", STATUS_QUESTION, &["question"]),
        ("status_not_found", STATUS_NOT_FOUND, &["ticket"]),
        ("refusal_need_text", REFUSAL_NEED_TEXT, &[]),
        ("refusal_unsupported", REFUSAL_UNSUPPORTED, &[]),
        ("refusal_cannot_store", REFUSAL_CANNOT_STORE, &[]),
        ("state_received", STATE_RECEIVED, &[]),
        ("state_in_bidang", STATE_IN_BIDANG, &[]),
        ("state_review", STATE_REVIEW, &[]),
        ("state_follow_up", STATE_FOLLOW_UP, &[]),
        ("state_waiting_citizen", STATE_WAITING_CITIZEN, &[]),
        ("state_closed", STATE_CLOSED, &[]),
        ("state_closed_tidak", STATE_CLOSED_TIDAK, &[]),
    ];

    fn placeholders(src: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut rest = src;
        while let Some(i) = rest.find("{{") {
            let inner = &rest[i + 2..];
            let end = inner.find("}}").expect("unclosed placeholder");
            out.push(inner[..end].trim());
            rest = &inner[end + 2..];
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn templates_use_exactly_their_placeholders() {
        for (name, src, vars) in TEMPLATES {
            let mut want = vars.to_vec();
            want.sort_unstable();
            assert_eq!(placeholders(src), want, "{name}.txt");
            assert!(!src.trim().is_empty(), "{name}.txt is empty");
            assert!(!src.contains("{%") && !src.contains("{#"), "{name}.txt");
        }
    }

    #[test]
    fn fill_is_one_pass() {
        assert_eq!(
            fill(
                " Tiket {{ ticket }} ({{state}}).\n",
                &[("ticket", "{{ state }}"), ("state", "x")]
            ),
            "Tiket {{ state }} (x)."
        );
        assert_eq!(fill("a {{ b }} c", &[]), "a {{ b }} c");
        assert_eq!(fill("a {{ b", &[("b", "x")]), "a {{ b");
        assert_eq!(fill("{{ b }}", &[("b", "é")]), "é");
    }

    #[test]
    fn fixed_texts_are_trimmed() {
        for t in [need_text(), unsupported_media(), cannot_store()] {
            assert!(t.ends_with("Kirim /start untuk petunjuk."), "{t:?}");
        }
        assert_eq!(
            not_found_text("ADU-202601-0001").lines().count(),
            1,
            "one paragraph"
        );
    }
}
