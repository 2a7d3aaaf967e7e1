//! The complaint state machine of SPEC §3 as a pure function.
//!
//! [`WorkflowState::apply`] takes a command, the acting user and the current time and returns
//! either a [`Transition`] (the new state, the history entry, the clock for the next step and
//! the side effects to persist in the same transaction) or a [`TransitionError`]. It does no
//! I/O: callers persist the transition atomically and run the effects from the outbox.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::sla::SlaPolicy;
use crate::types::{BidangCode, Channel, Resolution, Role, State, Step};

/// Who performs an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A logged-in staff member.
    Staff {
        username: String,
        role: Role,
        bidang: Option<BidangCode>,
    },
    /// The complainant (a message threaded onto the complaint).
    Citizen,
    /// aduan itself (intake, timers).
    System,
}

impl Actor {
    /// Name written into the history.
    pub fn label(&self) -> String {
        match self {
            Actor::Staff { username, .. } => username.clone(),
            Actor::Citizen => "pengadu".into(),
            Actor::System => "sistem".into(),
        }
    }
    pub fn role(&self) -> Option<Role> {
        match self {
            Actor::Staff { role, .. } => Some(*role),
            _ => None,
        }
    }
}

/// Kasi's review decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewDecision {
    Approve,
    Return,
}

/// A per-complaint action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// kasi, `triage` → `in_bidang`.
    Assign {
        bidang: BidangCode,
        note: Option<String>,
    },
    /// kasi, `triage` → `closed` (spam, duplicate, not a complaint).
    Close { status: Resolution, reason: String },
    /// bidang (own division), `in_bidang` → `review`.
    Solution { text: String },
    /// kasi, `review` → `follow_up` (approve) or `in_bidang` (return).
    Review {
        decision: ReviewDecision,
        note: Option<String>,
    },
    /// staf, `follow_up` → `closed` with status `selesai`; sends the answer.
    FollowUp { message: String },
    /// kabid, on a `closed` complaint: paraf.
    Sign,
    /// kasi: reveal the identity to the assigned bidang, with a reason (audited).
    ShareIdentity { reason: String },
    /// A citizen message threaded onto the complaint; reopens a closed one to `triage`.
    CitizenMessage,
}

impl Command {
    /// Name of the action in the history.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Assign { .. } => "assign",
            Command::Close { .. } => "close",
            Command::Solution { .. } => "solution",
            Command::Review {
                decision: ReviewDecision::Approve,
                ..
            } => "approve",
            Command::Review {
                decision: ReviewDecision::Return,
                ..
            } => "return",
            Command::FollowUp { .. } => "follow_up",
            Command::Sign => "sign",
            Command::ShareIdentity { .. } => "share_identity",
            Command::CitizenMessage => "citizen_message",
        }
    }

    /// Role allowed to perform the command (None = not a staff action).
    pub fn required_role(&self) -> Option<Role> {
        match self {
            Command::Assign { .. }
            | Command::Close { .. }
            | Command::Review { .. }
            | Command::ShareIdentity { .. } => Some(Role::Kasi),
            Command::Solution { .. } => Some(Role::Bidang),
            Command::FollowUp { .. } => Some(Role::Staf),
            Command::Sign => Some(Role::Kabid),
            Command::CitizenMessage => None,
        }
    }
}

/// The parts of a complaint the workflow reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowState {
    pub channel: Channel,
    pub state: State,
    /// When the complaint entered `state` (start of the running step's clock).
    pub state_entered_at: DateTime<Utc>,
    /// Due time of the running step (None when closed).
    pub due_at: Option<DateTime<Utc>>,
    pub bidang: Option<BidangCode>,
    pub status: Option<Resolution>,
    pub paraf_at: Option<DateTime<Utc>>,
    pub identity_shared_with: Vec<BidangCode>,
}

/// One line of the complaint's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The SOP step whose clock this action stopped (None for actions that stop no clock).
    pub step: Option<Step>,
    /// The action's name (`assign`, `approve`, …).
    pub action: String,
    /// State after the action.
    pub state: State,
    pub actor: String,
    pub at: DateTime<Utc>,
    /// Due time of the stopped step.
    pub due_at: Option<DateTime<Utc>>,
    /// Working seconds the stopped step took.
    pub elapsed_seconds: Option<i64>,
    pub breached: bool,
    pub note: Option<String>,
}

/// A side effect the caller persists with the transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Queue the approved answer to the citizen on the origin channel (non-manual channels).
    SendAnswer { text: String },
}

/// Field changes of a transition (None = unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub bidang: Option<BidangCode>,
    pub solution: Option<String>,
    pub answer: Option<String>,
    pub status: Option<Resolution>,
    pub close_reason: Option<String>,
    pub paraf: bool,
    pub share_identity_with: Option<BidangCode>,
    /// Clear status/answer/paraf because the complaint was reopened.
    pub reopen: bool,
}

/// The outcome of a successful command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    /// New clock start (equals `at` when the state changed).
    pub state_entered_at: DateTime<Utc>,
    /// Due time of the step that now runs.
    pub due_at: Option<DateTime<Utc>>,
    pub changes: Changes,
    pub history: HistoryEntry,
    pub effects: Vec<Effect>,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("role {actual:?} may not {action}; required: {required}")]
    Forbidden {
        action: &'static str,
        required: Role,
        actual: Option<Role>,
    },
    /// A bidang user acting on another division's complaint (reported as not found).
    #[error("complaint not found")]
    NotVisible,
    #[error("cannot {action} a complaint in state {state}")]
    InvalidState { action: &'static str, state: State },
    #[error("{0}")]
    Invalid(String),
}

/// Can this actor see the complaint at all?
pub fn visible_to(actor: &Actor, bidang: Option<&BidangCode>) -> bool {
    match actor {
        Actor::Staff {
            role: Role::Bidang,
            bidang: own,
            ..
        } => own.is_some() && own.as_ref() == bidang,
        _ => true,
    }
}

impl WorkflowState {
    /// Apply `cmd` by `actor` at `now` under the SLA `policy`.
    pub fn apply(
        &self,
        cmd: Command,
        actor: &Actor,
        now: DateTime<Utc>,
        policy: &SlaPolicy,
    ) -> Result<Transition, TransitionError> {
        let action = cmd.name();
        if let Some(required) = cmd.required_role()
            && actor.role() != Some(required)
        {
            return Err(TransitionError::Forbidden {
                action,
                required,
                actual: actor.role(),
            });
        }
        if !visible_to(actor, self.bidang.as_ref()) {
            return Err(TransitionError::NotVisible);
        }
        let invalid = || TransitionError::InvalidState {
            action,
            state: self.state,
        };
        let nonempty = |s: &str, what: &str| {
            if s.trim().is_empty() {
                Err(TransitionError::Invalid(format!(
                    "{what} must not be empty"
                )))
            } else {
                Ok(())
            }
        };
        let mut changes = Changes::default();
        let mut effects = Vec::new();
        let (to, note) = match cmd {
            Command::Assign { bidang, note } => match self.state {
                State::Triage => {
                    changes.bidang = Some(bidang.clone());
                    let n = match note {
                        Some(n) if !n.trim().is_empty() => format!("{bidang}: {n}"),
                        _ => bidang.to_string(),
                    };
                    (State::InBidang, Some(n))
                }
                State::Received
                | State::InBidang
                | State::Review
                | State::FollowUp
                | State::Closed => return Err(invalid()),
            },
            Command::Close { status, reason } => match self.state {
                State::Triage => {
                    nonempty(&reason, "reason")?;
                    changes.status = Some(status);
                    changes.close_reason = Some(reason.clone());
                    (State::Closed, Some(reason))
                }
                State::Received
                | State::InBidang
                | State::Review
                | State::FollowUp
                | State::Closed => return Err(invalid()),
            },
            Command::Solution { text } => match self.state {
                State::InBidang => {
                    nonempty(&text, "text")?;
                    changes.solution = Some(text);
                    (State::Review, None)
                }
                State::Received
                | State::Triage
                | State::Review
                | State::FollowUp
                | State::Closed => return Err(invalid()),
            },
            Command::Review { decision, note } => match self.state {
                State::Review => match decision {
                    ReviewDecision::Approve => (State::FollowUp, note),
                    ReviewDecision::Return => (State::InBidang, note),
                },
                State::Received
                | State::Triage
                | State::InBidang
                | State::FollowUp
                | State::Closed => return Err(invalid()),
            },
            Command::FollowUp { message } => match self.state {
                State::FollowUp => {
                    nonempty(&message, "message")?;
                    changes.answer = Some(message.clone());
                    changes.status = Some(Resolution::Selesai);
                    if !self.channel.is_manual() {
                        effects.push(Effect::SendAnswer { text: message });
                    }
                    (State::Closed, None)
                }
                State::Received
                | State::Triage
                | State::InBidang
                | State::Review
                | State::Closed => return Err(invalid()),
            },
            Command::Sign => match self.state {
                State::Closed if self.paraf_at.is_none() => {
                    changes.paraf = true;
                    (State::Closed, None)
                }
                State::Closed
                | State::Received
                | State::Triage
                | State::InBidang
                | State::Review
                | State::FollowUp => return Err(invalid()),
            },
            Command::ShareIdentity { reason } => {
                nonempty(&reason, "reason")?;
                match (&self.state, &self.bidang) {
                    (State::Closed, _) | (_, None) => return Err(invalid()),
                    (_, Some(b)) => {
                        changes.share_identity_with = Some(b.clone());
                        (self.state, Some(format!("{b}: {reason}")))
                    }
                }
            }
            Command::CitizenMessage => match self.state {
                State::Closed => {
                    changes.reopen = true;
                    (State::Triage, None)
                }
                State::Received
                | State::Triage
                | State::InBidang
                | State::Review
                | State::FollowUp => (self.state, None),
            },
        };
        let moved = to != self.state;
        let reopened = changes.reopen;
        // A state change stops the running clock and starts the next one.
        let (step, due_at, elapsed, breached) = if moved || reopened {
            let step = self.state.step();
            let elapsed = step.map(|_| {
                policy
                    .calendar
                    .elapsed_working_time(self.state_entered_at, now)
                    .num_seconds()
            });
            let breached = self.due_at.is_some_and(|d| now > d);
            (step, self.due_at, elapsed, breached)
        } else {
            (None, None, None, false)
        };
        let (state_entered_at, next_due) = if moved || reopened {
            (now, to.step().map(|s| policy.due(s, now)))
        } else {
            (self.state_entered_at, self.due_at)
        };
        Ok(Transition {
            from: self.state,
            to,
            state_entered_at,
            due_at: next_due,
            changes,
            history: HistoryEntry {
                step,
                action: action.to_string(),
                state: to,
                actor: actor.label(),
                at: now,
                due_at,
                elapsed_seconds: elapsed,
                breached,
                note,
            },
            effects,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::WorkCalendar;
    use chrono::{Duration, TimeZone};

    fn policy() -> SlaPolicy {
        SlaPolicy::new(
            WorkCalendar::always_open(chrono_tz::Asia::Makassar),
            Default::default(),
        )
    }
    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap()
    }
    fn staff(role: Role, bidang: Option<&str>) -> Actor {
        Actor::Staff {
            username: format!("{role}1"),
            role,
            bidang: bidang.map(|b| BidangCode::parse(b).unwrap()),
        }
    }
    fn at(state: State, channel: Channel) -> WorkflowState {
        WorkflowState {
            channel,
            state,
            state_entered_at: t0(),
            due_at: state.step().map(|s| policy().due(s, t0())),
            bidang: match state {
                State::Received | State::Triage => None,
                _ => Some(BidangCode::parse("dafduk").unwrap()),
            },
            status: None,
            paraf_at: None,
            identity_shared_with: vec![],
        }
    }
    fn commands() -> Vec<(Command, Role)> {
        vec![
            (
                Command::Assign {
                    bidang: BidangCode::parse("dafduk").unwrap(),
                    note: None,
                },
                Role::Kasi,
            ),
            (
                Command::Close {
                    status: Resolution::Tidak,
                    reason: "spam".into(),
                },
                Role::Kasi,
            ),
            (
                Command::Solution {
                    text: "KTP sudah dicetak".into(),
                },
                Role::Bidang,
            ),
            (
                Command::Review {
                    decision: ReviewDecision::Approve,
                    note: None,
                },
                Role::Kasi,
            ),
            (
                Command::Review {
                    decision: ReviewDecision::Return,
                    note: Some("kurang jelas".into()),
                },
                Role::Kasi,
            ),
            (
                Command::FollowUp {
                    message: "Silakan ambil KTP".into(),
                },
                Role::Staf,
            ),
            (Command::Sign, Role::Kabid),
        ]
    }

    /// The full table: every command in every state, with the right role.
    #[test]
    fn every_transition_allowed_or_refused() {
        use State::*;
        let expected: &[(&str, State, Option<State>)] = &[
            ("assign", Triage, Some(InBidang)),
            ("close", Triage, Some(Closed)),
            ("solution", InBidang, Some(Review)),
            ("approve", Review, Some(FollowUp)),
            ("return", Review, Some(InBidang)),
            ("follow_up", FollowUp, Some(Closed)),
            ("sign", Closed, Some(Closed)),
        ];
        for (cmd, role) in commands() {
            for &state in State::ALL {
                let ws = at(state, Channel::Web);
                let actor = staff(role, Some("dafduk"));
                let res = ws.apply(cmd.clone(), &actor, t0() + Duration::minutes(3), &policy());
                let want = expected
                    .iter()
                    .find(|(n, s, _)| *n == cmd.name() && *s == state)
                    .and_then(|(_, _, to)| *to);
                match (res, want) {
                    (Ok(t), Some(to)) => assert_eq!(t.to, to, "{} in {state}", cmd.name()),
                    (Err(TransitionError::InvalidState { state: s, .. }), None) => {
                        assert_eq!(s, state)
                    }
                    // A bidang user cannot see a complaint not yet routed to it.
                    (Err(TransitionError::NotVisible), None) => {
                        assert!(role == Role::Bidang && ws.bidang.is_none())
                    }
                    (other, want) => {
                        panic!("{} in {state}: got {other:?}, want {want:?}", cmd.name())
                    }
                }
            }
        }
    }

    #[test]
    fn wrong_roles_are_forbidden_in_every_state() {
        for (cmd, role) in commands() {
            for &other in Role::ALL.iter().filter(|r| **r != role) {
                for &state in State::ALL {
                    let r = at(state, Channel::Web).apply(
                        cmd.clone(),
                        &staff(other, Some("dafduk")),
                        t0(),
                        &policy(),
                    );
                    assert!(
                        matches!(r, Err(TransitionError::Forbidden { .. })),
                        "{} by {other} in {state}",
                        cmd.name()
                    );
                }
            }
            let r = at(State::Triage, Channel::Web).apply(
                cmd.clone(),
                &Actor::Citizen,
                t0(),
                &policy(),
            );
            assert!(matches!(r, Err(TransitionError::Forbidden { .. })));
        }
    }

    #[test]
    fn bidang_cannot_touch_another_division() {
        let r = at(State::InBidang, Channel::Web).apply(
            Command::Solution { text: "x".into() },
            &staff(Role::Bidang, Some("capil")),
            t0(),
            &policy(),
        );
        assert_eq!(r, Err(TransitionError::NotVisible));
    }

    #[test]
    fn follow_up_sends_only_on_digital_channels_and_closes_selesai() {
        let cmd = Command::FollowUp {
            message: "Jawaban".into(),
        };
        let t = at(State::FollowUp, Channel::Telegram)
            .apply(cmd.clone(), &staff(Role::Staf, None), t0(), &policy())
            .unwrap();
        assert_eq!(
            t.effects,
            vec![Effect::SendAnswer {
                text: "Jawaban".into()
            }]
        );
        assert_eq!(t.changes.status, Some(Resolution::Selesai));
        assert_eq!(t.due_at, None);
        let t = at(State::FollowUp, Channel::Phone)
            .apply(cmd, &staff(Role::Staf, None), t0(), &policy())
            .unwrap();
        assert!(t.effects.is_empty());
    }

    #[test]
    fn clocks_stop_and_start_with_breach_flag() {
        let ws = at(State::Triage, Channel::Web); // triage = 5 min
        let assign = Command::Assign {
            bidang: BidangCode::parse("dafduk").unwrap(),
            note: None,
        };
        let kasi = staff(Role::Kasi, None);
        let t = ws
            .apply(
                assign.clone(),
                &kasi,
                t0() + Duration::minutes(4),
                &policy(),
            )
            .unwrap();
        assert!(!t.history.breached);
        assert_eq!(t.history.step, Some(Step::Triage));
        assert_eq!(t.history.elapsed_seconds, Some(240));
        assert_eq!(
            t.due_at,
            Some(t0() + Duration::minutes(4) + Duration::hours(1))
        );
        let t = ws
            .apply(assign, &kasi, t0() + Duration::minutes(6), &policy())
            .unwrap();
        assert!(t.history.breached);
    }

    #[test]
    fn citizen_message_reopens_closed_and_sign_is_once() {
        let mut ws = at(State::Closed, Channel::Email);
        let t = ws
            .apply(Command::CitizenMessage, &Actor::Citizen, t0(), &policy())
            .unwrap();
        assert_eq!(t.to, State::Triage);
        assert!(t.changes.reopen);
        let t = at(State::InBidang, Channel::Email)
            .apply(Command::CitizenMessage, &Actor::Citizen, t0(), &policy())
            .unwrap();
        assert_eq!(t.to, State::InBidang);
        assert_eq!(t.history.step, None);
        ws.paraf_at = Some(t0());
        assert!(matches!(
            ws.apply(Command::Sign, &staff(Role::Kabid, None), t0(), &policy()),
            Err(TransitionError::InvalidState { .. })
        ));
    }

    #[test]
    fn share_identity_needs_a_bidang_and_reason() {
        let kasi = staff(Role::Kasi, None);
        let r = at(State::Triage, Channel::Web).apply(
            Command::ShareIdentity {
                reason: "perlu konfirmasi".into(),
            },
            &kasi,
            t0(),
            &policy(),
        );
        assert!(matches!(r, Err(TransitionError::InvalidState { .. })));
        let r = at(State::InBidang, Channel::Web).apply(
            Command::ShareIdentity { reason: " ".into() },
            &kasi,
            t0(),
            &policy(),
        );
        assert!(matches!(r, Err(TransitionError::Invalid(_))));
        let t = at(State::InBidang, Channel::Web)
            .apply(
                Command::ShareIdentity {
                    reason: "perlu konfirmasi".into(),
                },
                &kasi,
                t0(),
                &policy(),
            )
            .unwrap();
        assert_eq!(t.changes.share_identity_with.unwrap().as_str(), "dafduk");
        assert_eq!(t.to, State::InBidang);
    }
}
