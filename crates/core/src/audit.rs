//! The hash-chained audit log (SPEC §6): the entry model, the hash and the chain check.
//!
//! Every staff action, identity share, export, digest delivery, login and account change is
//! one [`AuditEntry`]. Entries form one chain in `id` order: each stores the hash of the
//! entry before it (`prev_hash`; the first stores [`GENESIS_HASH`]) and its own hash
//!
//! ```text
//! hash = hex(sha256(prev_hash || canonical(id, at, actor, role, action, ticket, detail)))
//! ```
//!
//! where `prev_hash` is the 64 ASCII hex digits and `canonical(…)` is the compact JSON array
//! `[id, at_ms, "actor", "role", "action", "ticket" | null, detail]` with the detail's object
//! keys sorted at every level ([`canonical_json`]). The store writes the detail as exactly
//! that canonical text, so any change to any stored byte of an entry (or its removal) is
//! found by [`ChainCheck`], which `aduan audit verify` runs offline over the whole chain.
//!
//! **Invariants:** ids are consecutive from 1 (the store assigns `last id + 1` inside the
//! appending transaction, under a lock that serializes appends across replicas); an entry
//! never carries complainant identity — only ticket numbers, staff usernames, roles, states,
//! codes and reasons typed by staff (builders here take no complaint text).
//!
//! What the chain cannot show by itself: removal of the newest entries (the chain that is
//! left still verifies). `aduan audit verify` prints the entry count and head hash so an
//! operator can compare them with a value kept elsewhere.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::types::TicketNumber;
use crate::workflow::{Actor, Command, ReviewDecision, Transition};

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Action names written by aduan (the `action` column). Workflow actions use the command's
/// name ([`Command::name`]).
pub mod actions {
    /// Staf logged a phone, letter, fax or walk-in complaint.
    pub const MANUAL_ENTRY: &str = "manual_entry";
    /// The logbook of a month was exported (API, admin pages, CLI).
    pub const LOGBOOK_EXPORT: &str = "logbook_export";
    /// The monthly digest was delivered to its recipients.
    pub const DIGEST_DELIVERED: &str = "digest_delivered";
    /// The Kasi's conclusion was mailed to the Kepala Dinas and the ISO coordinator.
    pub const CONCLUSION_DELIVERED: &str = "conclusion_delivered";
    /// Kasi's conclusion on the monthly report.
    pub const REPORT_CONCLUSION: &str = "report_conclusion";
    /// Kadis's decision on the monthly report.
    pub const REPORT_DECISION: &str = "report_decision";
    /// Kasi received the logbook back.
    pub const REPORT_RECEIPT: &str = "report_receipt";
    /// Kasi asked for the digest to be delivered again.
    pub const REPORT_RESEND: &str = "report_resend";
    /// A successful login to the admin pages.
    pub const LOGIN: &str = "login";
    /// A refused login to the admin pages (wrong password, unknown or disabled user, lockout).
    pub const LOGIN_FAILED: &str = "login_failed";
    /// A logout from the admin pages.
    pub const LOGOUT: &str = "logout";
    /// Every session of a staff account was ended (password change, disabled account).
    pub const LOGOUT_ALL: &str = "logout_all";
    /// The admin password of a staff account was changed.
    pub const PASSWORD_CHANGE: &str = "password_change";
    /// A staff account was created.
    pub const USER_ADD: &str = "user_add";
    /// A staff account was disabled.
    pub const USER_DISABLE: &str = "user_disable";
    /// An attachment's file was handed out to staff.
    pub const ATTACHMENT_DOWNLOAD: &str = "attachment_download";
    /// The kasi shared one attachment with a bidang.
    pub const ATTACHMENT_SHARE: &str = "attachment_share";
}

/// An entry to append; the store gives it its id and hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    /// When it happened (stored to the millisecond).
    pub at: DateTime<Utc>,
    /// Staff username, or `system` / `citizen`.
    pub actor: String,
    /// The actor's role (`staf`, `kasi`, …), or `system` / `citizen`; `none` for a login
    /// attempt with an unknown username.
    pub role: String,
    /// What was done (see [`actions`] and [`Command::name`]).
    pub action: String,
    /// The complaint concerned, if any. A manual entry's ticket is filled in by the store.
    pub ticket: Option<TicketNumber>,
    /// Parameters of the action: codes, states, months, formats, reasons typed by staff.
    /// Never complainant identity or complaint text.
    pub detail: serde_json::Value,
}

impl NewAuditEntry {
    /// An entry by `actor` (its username and role) with an empty detail object.
    pub fn new(actor: &Actor, action: impl Into<String>, at: DateTime<Utc>) -> Self {
        let (name, role) = actor_and_role(actor);
        NewAuditEntry {
            at,
            actor: name,
            role,
            action: action.into(),
            ticket: None,
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    /// An entry by a named user who may not exist (a login attempt): `role` is `none` when
    /// unknown. The name is cut to 64 characters.
    pub fn by_name(
        username: &str,
        role: Option<crate::types::Role>,
        action: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Self {
        NewAuditEntry {
            at,
            actor: username.chars().take(64).collect(),
            role: role.map_or("none", |r| r.as_str()).to_string(),
            action: action.into(),
            ticket: None,
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    /// The same entry about `ticket`.
    pub fn with_ticket(mut self, ticket: TicketNumber) -> Self {
        self.ticket = Some(ticket);
        self
    }

    /// The same entry with `detail` (an object, normally `serde_json::json!({…})`).
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    /// Give the entry its place in the chain: `id` and the hash of the entry before it.
    /// The time is cut to the millisecond, as stored.
    pub fn seal(&self, id: i64, prev_hash: &str) -> AuditEntry {
        let at = DateTime::from_timestamp_millis(self.at.timestamp_millis()).unwrap_or(self.at);
        let ticket = self.ticket.as_ref().map(|t| t.as_str().to_string());
        let detail = canonical_json(&self.detail);
        let hash = entry_hash(
            prev_hash,
            id,
            at.timestamp_millis(),
            &self.actor,
            &self.role,
            &self.action,
            ticket.as_deref(),
            &self.detail,
        );
        AuditEntry {
            id,
            at,
            actor: self.actor.clone(),
            role: self.role.clone(),
            action: self.action.clone(),
            ticket,
            detail,
            prev_hash: prev_hash.to_string(),
            hash,
        }
    }
}

/// `(actor, role)` columns of an actor.
fn actor_and_role(actor: &Actor) -> (String, String) {
    match actor {
        Actor::Staff { username, role, .. } => (username.clone(), role.as_str().to_string()),
        Actor::System => ("system".into(), "system".into()),
        Actor::Citizen => ("citizen".into(), "citizen".into()),
    }
}

/// An entry as stored, field for field (read back unparsed: it is evidence, checked by its
/// hash rather than trusted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub ticket: Option<String>,
    /// The stored detail: canonical JSON text (serialized as JSON, not as a string).
    #[serde(serialize_with = "detail_as_json")]
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

fn detail_as_json<S: serde::Serializer>(detail: &str, s: S) -> Result<S::Ok, S::Error> {
    match serde_json::from_str::<serde_json::Value>(detail) {
        Ok(v) => v.serialize(s),
        // Unreadable (tampered) detail: shown as the text it is.
        Err(_) => s.serialize_str(detail),
    }
}

impl AuditEntry {
    /// The detail as JSON (`Null` when the stored text is not JSON).
    pub fn detail_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.detail).unwrap_or(serde_json::Value::Null)
    }
}

/// Which entries to list: of one ticket and/or within `[from, to)`, after `after_id`, at
/// most `limit`, in id order (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    pub ticket: Option<TicketNumber>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only entries with a greater id (paging).
    pub after_id: Option<i64>,
    pub limit: u32,
}

/// Most entries one listing returns.
pub const MAX_LIST: u32 = 1000;

/// The detail as the store writes it: JSON without whitespace, object keys sorted by their
/// UTF-8 bytes at every level.
pub fn canonical_json(v: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        // Scalars: serde_json's compact form is already unique.
        other => out.push_str(&other.to_string()),
    }
}

/// The hash of an entry (see the module docs), as 64 lowercase hex digits.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    prev_hash: &str,
    id: i64,
    at_ms: i64,
    actor: &str,
    role: &str,
    action: &str,
    ticket: Option<&str>,
    detail: &serde_json::Value,
) -> String {
    use serde_json::Value;
    let mut canonical = String::from("[");
    canonical.push_str(&id.to_string());
    canonical.push(',');
    canonical.push_str(&at_ms.to_string());
    for s in [actor, role, action] {
        canonical.push(',');
        canonical.push_str(&Value::String(s.to_string()).to_string());
    }
    canonical.push(',');
    match ticket {
        Some(t) => canonical.push_str(&Value::String(t.to_string()).to_string()),
        None => canonical.push_str("null"),
    }
    canonical.push(',');
    write_canonical(detail, &mut canonical);
    canonical.push(']');
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

/// Why an entry does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainProblem {
    /// `prev_hash` is not the hash of the entry before it (an entry before it was removed,
    /// inserted or rewritten with its hash).
    BrokenLink { expected: String, found: String },
    /// Ids are not consecutive: entries before this one are missing.
    MissingEntries { expected_id: i64 },
    /// The stored detail is not JSON.
    DetailUnreadable(String),
    /// The stored detail is JSON but not the canonical text written at append time.
    DetailRewritten,
    /// The stored hash is not the hash of the stored fields.
    HashMismatch { stored: String, computed: String },
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainProblem::BrokenLink { expected, found } => write!(
                f,
                "broken link: prev_hash {found} is not the hash of the entry before it ({expected})"
            ),
            ChainProblem::MissingEntries { expected_id } => {
                write!(
                    f,
                    "broken link: entries missing (expected id {expected_id})"
                )
            }
            ChainProblem::DetailUnreadable(e) => {
                write!(f, "hash mismatch: the detail is not JSON ({e})")
            }
            ChainProblem::DetailRewritten => write!(
                f,
                "hash mismatch: the detail is not the text that was written (rewritten)"
            ),
            ChainProblem::HashMismatch { stored, computed } => write!(
                f,
                "hash mismatch: stored {stored}, computed from the fields {computed}"
            ),
        }
    }
}

/// The first entry that does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub action: String,
    pub problem: ChainProblem,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entry {} (at {}, action {}): {}",
            self.id,
            self.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            self.action,
            self.problem
        )
    }
}

/// The result of a verified chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainSummary {
    pub entries: u64,
    /// Hash of the newest entry ([`GENESIS_HASH`] for an empty log).
    pub head: String,
}

/// Walks a chain in id order, one entry at a time (memory stays constant, whatever the
/// length): feed every entry to [`ChainCheck::check`] and stop at the first error.
#[derive(Debug, Clone)]
pub struct ChainCheck {
    entries: u64,
    last_id: i64,
    last_hash: String,
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainCheck {
    /// A check at the start of the chain.
    pub fn new() -> Self {
        ChainCheck {
            entries: 0,
            last_id: 0,
            last_hash: GENESIS_HASH.to_string(),
        }
    }

    /// Id of the last entry checked (0 before the first): read the next batch after it.
    pub fn last_id(&self) -> i64 {
        self.last_id
    }

    /// Check the next entry: its link to the previous one, its id, its detail and its hash.
    pub fn check(&mut self, e: &AuditEntry) -> Result<(), ChainBreak> {
        let fail = |problem| ChainBreak {
            id: e.id,
            at: e.at,
            action: e.action.clone(),
            problem,
        };
        if e.prev_hash != self.last_hash {
            return Err(fail(ChainProblem::BrokenLink {
                expected: self.last_hash.clone(),
                found: e.prev_hash.clone(),
            }));
        }
        if e.id != self.last_id + 1 {
            return Err(fail(ChainProblem::MissingEntries {
                expected_id: self.last_id + 1,
            }));
        }
        let detail: serde_json::Value = serde_json::from_str(&e.detail)
            .map_err(|err| fail(ChainProblem::DetailUnreadable(err.to_string())))?;
        if canonical_json(&detail) != e.detail {
            return Err(fail(ChainProblem::DetailRewritten));
        }
        let computed = entry_hash(
            &e.prev_hash,
            e.id,
            e.at.timestamp_millis(),
            &e.actor,
            &e.role,
            &e.action,
            e.ticket.as_deref(),
            &detail,
        );
        if computed != e.hash {
            return Err(fail(ChainProblem::HashMismatch {
                stored: e.hash.clone(),
                computed,
            }));
        }
        self.entries += 1;
        self.last_id = e.id;
        self.last_hash = e.hash.clone();
        Ok(())
    }

    /// The count and head hash of what was checked.
    pub fn summary(&self) -> ChainSummary {
        ChainSummary {
            entries: self.entries,
            head: self.last_hash.clone(),
        }
    }
}

/// The audit entry of a staff workflow command, or of aduan's own close of an unanswered
/// question (by `system`); None for a citizen's message or rating, which are not staff
/// actions. The detail holds the states and the command's codes and reasons; never the
/// solution, the answer or the question text (they may quote the complainant).
pub fn for_command(
    actor: &Actor,
    ticket: &TicketNumber,
    cmd: &Command,
    t: &Transition,
) -> Option<NewAuditEntry> {
    let mut detail = serde_json::json!({
        "from": t.from.as_str(),
        "to": t.to.as_str(),
    });
    let extra = match cmd {
        Command::CitizenMessage | Command::Rate { .. } => return None,
        // The question's text stays in the complaint (it may name the citizen).
        Command::Ask { question } => serde_json::json!({
            "question_chars": question.trim().chars().count(),
        }),
        Command::WaitTimeout => serde_json::json!({
            "status": "tidak",
            "reason": crate::workflow::NO_RESPONSE_REASON,
        }),
        Command::Assign { bidang, .. } => serde_json::json!({ "bidang": bidang.as_str() }),
        Command::Close { status, reason } => {
            serde_json::json!({ "status": status.as_str(), "reason": reason })
        }
        Command::Review {
            decision: ReviewDecision::Return,
            note: Some(note),
        } if !note.trim().is_empty() => serde_json::json!({ "reason": note }),
        Command::ShareIdentity { reason } => serde_json::json!({
            "bidang": t.changes.share_identity_with.as_ref().map(|b| b.as_str()),
            "reason": reason,
        }),
        Command::Solution { .. }
        | Command::Review { .. }
        | Command::FollowUp { .. }
        | Command::Sign => serde_json::json!({}),
    };
    if let (Some(d), Some(x)) = (detail.as_object_mut(), extra.as_object()) {
        d.extend(x.clone());
    }
    Some(
        NewAuditEntry::new(actor, cmd.name(), t.history.at)
            .with_ticket(ticket.clone())
            .with_detail(detail),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Role;
    use chrono::TimeZone;
    use serde_json::json;

    fn kasi() -> Actor {
        Actor::Staff {
            username: "kasi1".into(),
            role: Role::Kasi,
            bidang: None,
        }
    }

    fn chain(n: i64) -> Vec<AuditEntry> {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|id| {
                let e = NewAuditEntry::new(&kasi(), "assign", t0 + chrono::Duration::minutes(id))
                    .with_ticket(TicketNumber::parse("ADU-202603-0001").unwrap())
                    .with_detail(json!({"to": "in_bidang", "bidang": "dafduk", "n": id}))
                    .seal(id, &prev);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn verify(entries: &[AuditEntry]) -> Result<ChainSummary, ChainBreak> {
        let mut c = ChainCheck::new();
        for e in entries {
            c.check(e)?;
        }
        Ok(c.summary())
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level_without_whitespace() {
        let v = json!({"b": [ {"z": 1, "a": "é\n"} ], "a": null, "c": {"y": true, "x": 1.5}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":null,"b":[{"a":"é\n","z":1}],"c":{"x":1.5,"y":true}}"#
        );
        let again: serde_json::Value = serde_json::from_str(&canonical_json(&v)).unwrap();
        assert_eq!(canonical_json(&again), canonical_json(&v));
    }

    #[test]
    fn the_hash_covers_every_field_and_the_previous_hash() {
        #[derive(Clone)]
        struct F {
            prev: String,
            id: i64,
            at: i64,
            actor: &'static str,
            role: &'static str,
            action: &'static str,
            ticket: Option<&'static str>,
            detail: serde_json::Value,
        }
        let hash = |f: &F| {
            entry_hash(
                &f.prev, f.id, f.at, f.actor, f.role, f.action, f.ticket, &f.detail,
            )
        };
        let base = F {
            prev: GENESIS_HASH.into(),
            id: 1,
            at: 1000,
            actor: "kasi1",
            role: "kasi",
            action: "assign",
            ticket: Some("ADU-202603-0001"),
            detail: json!({"a": 1}),
        };
        let h = hash(&base);
        assert_eq!(h.len(), 64);
        assert!(h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        assert_eq!(h, hash(&base.clone()));
        let changes: Vec<fn(&mut F)> = vec![
            |f| f.prev = "1".repeat(64),
            |f| f.id = 2,
            |f| f.at = 1001,
            |f| f.actor = "kasi2",
            |f| f.role = "kabid",
            |f| f.action = "close",
            |f| f.ticket = None,
            |f| f.ticket = Some("ADU-202603-0002"),
            |f| f.detail = json!({"a": 2}),
            // Moving text between fields changes the hash too (fields are JSON-quoted).
            |f| {
                f.actor = "kasi1\",\"kasi";
                f.role = "";
            },
        ];
        for (i, change) in changes.into_iter().enumerate() {
            let mut f = base.clone();
            change(&mut f);
            assert_ne!(hash(&f), h, "change {i}");
        }
    }

    #[test]
    fn an_intact_chain_verifies_with_its_count_and_head() {
        let c = chain(5);
        let s = verify(&c).unwrap();
        assert_eq!(s.entries, 5);
        assert_eq!(s.head, c[4].hash);
        assert_eq!(
            verify(&[]).unwrap(),
            ChainSummary {
                entries: 0,
                head: GENESIS_HASH.into()
            }
        );
    }

    #[test]
    fn a_changed_field_is_a_hash_mismatch_at_that_entry() {
        for field in ["actor", "role", "action", "ticket", "at", "detail"] {
            let mut c = chain(5);
            match field {
                "actor" => c[2].actor = "kasi2".into(),
                "role" => c[2].role = "kadis".into(),
                "action" => c[2].action = "close".into(),
                "ticket" => c[2].ticket = None,
                "at" => c[2].at += chrono::Duration::milliseconds(1),
                _ => c[2].detail = r#"{"bidang":"capil","n":3,"to":"in_bidang"}"#.into(),
            }
            let b = verify(&c).unwrap_err();
            assert_eq!(b.id, 3, "{field}");
            assert!(
                matches!(b.problem, ChainProblem::HashMismatch { .. }),
                "{field}: {b}"
            );
            assert!(b.to_string().starts_with("entry 3 ("), "{b}");
            assert!(b.to_string().contains("hash mismatch"), "{b}");
        }
    }

    #[test]
    fn rewritten_or_unreadable_detail_is_named() {
        let mut c = chain(3);
        c[1].detail = r#"{"bidang": "dafduk","n":2,"to":"in_bidang"}"#.into();
        let b = verify(&c).unwrap_err();
        assert_eq!((b.id, b.problem), (2, ChainProblem::DetailRewritten));
        let mut c = chain(3);
        c[1].detail = "not json".into();
        let b = verify(&c).unwrap_err();
        assert_eq!(b.id, 2);
        assert!(matches!(b.problem, ChainProblem::DetailUnreadable(_)));
    }

    #[test]
    fn a_removed_entry_breaks_the_link_of_the_next() {
        let mut c = chain(5);
        c.remove(2);
        let b = verify(&c).unwrap_err();
        assert_eq!(b.id, 4);
        assert_eq!(b.action, "assign");
        assert!(matches!(b.problem, ChainProblem::BrokenLink { .. }), "{b}");
        assert!(b.to_string().contains("broken link"), "{b}");
        // The first entry removed: the second no longer links to the genesis.
        let mut c = chain(3);
        c.remove(0);
        assert_eq!(verify(&c).unwrap_err().id, 2);
    }

    #[test]
    fn a_rehashed_entry_breaks_the_link_of_the_next() {
        let mut c = chain(4);
        let forged = NewAuditEntry::new(&kasi(), "close", c[1].at).seal(2, &c[0].hash);
        c[1] = forged;
        let b = verify(&c).unwrap_err();
        assert_eq!(b.id, 3);
        assert!(matches!(b.problem, ChainProblem::BrokenLink { .. }));
    }

    #[test]
    fn renumbered_ids_are_missing_entries() {
        let mut c = chain(3);
        // A forger who rebuilds the chain without entry 2 but keeps the ids.
        let third = NewAuditEntry::new(&kasi(), "assign", c[2].at).seal(3, &c[0].hash);
        c = vec![c[0].clone(), third];
        let b = verify(&c).unwrap_err();
        assert_eq!(
            (b.id, b.problem),
            (3, ChainProblem::MissingEntries { expected_id: 2 })
        );
    }

    #[test]
    fn seal_truncates_to_the_millisecond_and_writes_canonical_detail() {
        let at = Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap();
        let e = NewAuditEntry::new(&Actor::System, actions::DIGEST_DELIVERED, at)
            .with_detail(json!({"month": "2026-02", "a": [2, 1]}))
            .seal(1, GENESIS_HASH);
        assert_eq!(e.at.timestamp_subsec_nanos(), 123_000_000);
        assert_eq!(e.detail, r#"{"a":[2,1],"month":"2026-02"}"#);
        assert_eq!((e.actor.as_str(), e.role.as_str()), ("system", "system"));
        assert!(verify(std::slice::from_ref(&e)).is_ok());
        let shown = serde_json::to_value(&e).unwrap();
        assert_eq!(shown["detail"]["month"], "2026-02");
    }

    #[test]
    fn login_attempts_name_the_user_only() {
        let e = NewAuditEntry::by_name(&"x".repeat(100), None, actions::LOGIN_FAILED, Utc::now());
        assert_eq!(e.actor.len(), 64);
        assert_eq!(e.role, "none");
    }
}
