//! The complaint state machine of SPEC §3 as a pure function.
//!
//! [`WorkflowState::apply`] takes a command, the acting user and the current time and returns
//! either a [`Transition`] (the new state, the history entry, the clock for the next step and
//! the side effects to persist in the same transaction) or a [`TransitionError`]. It does no
//! I/O: callers persist the transition atomically and run the effects from the outbox.
//!
//! Clocks: a state change stops the running step (its history line records the working
//! time it took, pauses excluded) and starts the next one. `ask` pauses the running step
//! instead: the complaint waits in `waiting_citizen` with the step's remaining working time
//! kept, its due time being the end of the citizen's `wait_citizen_days`; the citizen's next
//! message returns it to the state it was asked from, due after that remaining time; an
//! unanswered question closes it `tidak` ([`NO_RESPONSE_REASON`]).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::model::{Pause, RATING_RANGE, Rating, ReplyThread};
use crate::sla::SlaPolicy;
use crate::types::{BidangCode, Channel, Resolution, Role, State, Step};

/// The close reason of a complaint whose question stayed unanswered (SPEC §3).
pub const NO_RESPONSE_REASON: &str = "tidak ada tanggapan pengadu";
/// Longest question to the citizen, in characters.
pub const MAX_QUESTION_CHARS: usize = 4000;
/// Longest rating comment, in characters.
pub const MAX_RATING_COMMENT_CHARS: usize = 2000;

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
    /// A question to the citizen: kasi in `triage` or `review`, bidang in `in_bidang` →
    /// `waiting_citizen`, the step's clock paused; sends the question.
    Ask { question: String },
    /// A citizen message threaded onto the complaint; reopens a closed one to `triage`,
    /// answers the open question of a `waiting_citizen` one (the paused step resumes).
    CitizenMessage,
    /// aduan: the question stayed unanswered past its wait; `waiting_citizen` → `closed`
    /// with status `tidak` ([`NO_RESPONSE_REASON`]); the citizen is told.
    WaitTimeout,
    /// The citizen rates the handling of a closed complaint, once.
    Rate { score: u8, comment: Option<String> },
}

/// Who may perform a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Performer {
    /// Staff with one of these roles.
    Staff(&'static [Role]),
    /// The complainant.
    Citizen,
    /// aduan itself.
    System,
}

impl std::fmt::Display for Performer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Performer::Staff(roles) => {
                let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                f.write_str(&names.join(" or "))
            }
            Performer::Citizen => f.write_str("the complainant"),
            Performer::System => f.write_str("aduan itself"),
        }
    }
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
            Command::Ask { .. } => "ask",
            Command::CitizenMessage => "citizen_message",
            Command::WaitTimeout => "close_unanswered",
            Command::Rate { .. } => "rate",
        }
    }

    /// Who may perform the command (the state may narrow it further: see [`Command::Ask`]).
    pub fn performer(&self) -> Performer {
        match self {
            Command::Assign { .. }
            | Command::Close { .. }
            | Command::Review { .. }
            | Command::ShareIdentity { .. } => Performer::Staff(&[Role::Kasi]),
            Command::Solution { .. } => Performer::Staff(&[Role::Bidang]),
            Command::FollowUp { .. } => Performer::Staff(&[Role::Staf]),
            Command::Sign => Performer::Staff(&[Role::Kabid]),
            Command::Ask { .. } => Performer::Staff(&[Role::Kasi, Role::Bidang]),
            Command::CitizenMessage | Command::Rate { .. } => Performer::Citizen,
            Command::WaitTimeout => Performer::System,
        }
    }

    /// Is `actor` one who may perform the command (in some state)?
    pub fn permits(&self, actor: &Actor) -> bool {
        match (self.performer(), actor) {
            (Performer::Staff(roles), Actor::Staff { role, .. }) => roles.contains(role),
            (Performer::Citizen, Actor::Citizen) | (Performer::System, Actor::System) => true,
            _ => false,
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
    /// Due time of the running step (None when closed); while `waiting_citizen`, the end of
    /// the citizen's wait.
    pub due_at: Option<DateTime<Utc>>,
    pub bidang: Option<BidangCode>,
    pub status: Option<Resolution>,
    pub paraf_at: Option<DateTime<Utc>>,
    pub identity_shared_with: Vec<BidangCode>,
    /// The open question while `waiting_citizen`.
    pub pause: Option<Pause>,
    /// Working seconds the running step ran before its pauses.
    pub carried_seconds: i64,
    /// The citizen rated the complaint already.
    pub rated: bool,
}

/// One line of the complaint's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The SOP step whose clock this action stopped (None for actions that stop no clock);
    /// for `ask`, the step it paused (then without `elapsed_seconds`).
    pub step: Option<Step>,
    /// The action's name (`assign`, `approve`, …).
    pub action: String,
    /// State after the action.
    pub state: State,
    pub actor: String,
    pub at: DateTime<Utc>,
    /// Due time of the stopped (or paused) step.
    pub due_at: Option<DateTime<Utc>>,
    /// Working seconds the stopped step took (pauses excluded).
    pub elapsed_seconds: Option<i64>,
    pub breached: bool,
    pub note: Option<String>,
}

/// A side effect the caller persists with the transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Queue the approved answer to the citizen on the origin channel (non-manual channels).
    SendAnswer { text: String },
    /// Queue the question to the citizen on the origin channel (non-manual channels).
    SendQuestion { question: String },
    /// Tell the citizen the unanswered question closed the complaint (non-manual channels).
    SendTimeoutNotice,
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
    /// A question was asked: the paused step and the open question.
    pub pause: Option<Pause>,
    /// The question is no longer open (answered, timed out, reopened).
    pub clear_pause: bool,
    /// New value of the running step's carried working seconds.
    pub carried_seconds: Option<i64>,
    /// The citizen's rating.
    pub rating: Option<Rating>,
    /// The thread of the citizen's newest message, for the replies that follow.
    pub reply_thread: Option<ReplyThread>,
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
    #[error("role {} may not {action}; required: {required}", actual.map(|r| r.as_str()).unwrap_or("none"))]
    Forbidden {
        action: &'static str,
        required: Performer,
        actual: Option<Role>,
    },
    /// A bidang user acting on another division's complaint (reported as not found).
    #[error("complaint not found")]
    NotVisible,
    #[error("cannot {action} a complaint in state {state}")]
    InvalidState { action: &'static str, state: State },
    /// Done before and allowed once (a second rating).
    #[error("{0}")]
    AlreadyDone(&'static str),
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

/// How a transition moves the clocks.
enum Clock {
    /// A state change stops the running step and starts the next; otherwise unchanged.
    Standard,
    /// `ask`: the running step pauses; the wait for the citizen runs.
    Pause,
    /// The citizen answered: the paused step resumes with its remaining time.
    Resume,
    /// The wait ended unanswered: closed, no step stopped.
    EndWait,
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
        let forbidden = |required: Performer| TransitionError::Forbidden {
            action,
            required,
            actual: actor.role(),
        };
        if !cmd.permits(actor) {
            return Err(forbidden(cmd.performer()));
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
        let mut clock = Clock::Standard;
        let mut history_action = action;
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
                | State::WaitingCitizen
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
                | State::WaitingCitizen
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
                | State::WaitingCitizen
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
                | State::WaitingCitizen
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
                | State::WaitingCitizen
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
                | State::FollowUp
                | State::WaitingCitizen => return Err(invalid()),
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
            Command::Ask { question } => {
                // The step decides whose question it is: the kasi's steps (triage,
                // review) or the division's (in_bidang).
                let asker = match self.state {
                    State::Triage | State::Review => Role::Kasi,
                    State::InBidang => Role::Bidang,
                    State::Received | State::FollowUp | State::WaitingCitizen | State::Closed => {
                        return Err(invalid());
                    }
                };
                if actor.role() != Some(asker) {
                    return Err(forbidden(match asker {
                        Role::Kasi => Performer::Staff(&[Role::Kasi]),
                        _ => Performer::Staff(&[Role::Bidang]),
                    }));
                }
                let question = question.trim().to_string();
                nonempty(&question, "question")?;
                if question.chars().count() > MAX_QUESTION_CHARS {
                    return Err(TransitionError::Invalid(format!(
                        "question longer than {MAX_QUESTION_CHARS} characters"
                    )));
                }
                let step = self.state.step().expect("an asking state has a step");
                let remaining = match self.due_at {
                    Some(d) => policy.calendar.signed_working_time(now, d),
                    None => policy.durations.of(step),
                };
                changes.pause = Some(Pause {
                    asked_from: self.state,
                    remaining_seconds: remaining.num_seconds(),
                    question: question.clone(),
                });
                if !self.channel.is_manual() {
                    effects.push(Effect::SendQuestion {
                        question: question.clone(),
                    });
                }
                clock = Clock::Pause;
                (State::WaitingCitizen, Some(question))
            }
            Command::CitizenMessage => match self.state {
                State::Closed => {
                    changes.reopen = true;
                    changes.clear_pause = true;
                    (State::Triage, None)
                }
                State::WaitingCitizen => {
                    changes.clear_pause = true;
                    clock = Clock::Resume;
                    history_action = "citizen_answer";
                    let back = self.pause.as_ref().map_or(State::Triage, |p| p.asked_from);
                    (back, None)
                }
                State::Received
                | State::Triage
                | State::InBidang
                | State::Review
                | State::FollowUp => (self.state, None),
            },
            Command::WaitTimeout => match self.state {
                State::WaitingCitizen if self.due_at.is_some_and(|d| now >= d) => {
                    changes.status = Some(Resolution::Tidak);
                    changes.close_reason = Some(NO_RESPONSE_REASON.to_string());
                    changes.clear_pause = true;
                    if !self.channel.is_manual() {
                        effects.push(Effect::SendTimeoutNotice);
                    }
                    clock = Clock::EndWait;
                    (State::Closed, Some(NO_RESPONSE_REASON.to_string()))
                }
                State::WaitingCitizen
                | State::Received
                | State::Triage
                | State::InBidang
                | State::Review
                | State::FollowUp
                | State::Closed => return Err(invalid()),
            },
            Command::Rate { score, comment } => match self.state {
                State::Closed => {
                    if self.rated {
                        return Err(TransitionError::AlreadyDone(
                            "the complaint was rated already",
                        ));
                    }
                    if !RATING_RANGE.contains(&score) {
                        return Err(TransitionError::Invalid(format!(
                            "score must be {} to {}",
                            RATING_RANGE.start(),
                            RATING_RANGE.end()
                        )));
                    }
                    let comment = comment
                        .map(|c| c.trim().to_string())
                        .filter(|c| !c.is_empty());
                    if comment
                        .as_ref()
                        .is_some_and(|c| c.chars().count() > MAX_RATING_COMMENT_CHARS)
                    {
                        return Err(TransitionError::Invalid(format!(
                            "comment longer than {MAX_RATING_COMMENT_CHARS} characters"
                        )));
                    }
                    changes.rating = Some(Rating {
                        score,
                        comment,
                        at: now,
                    });
                    (State::Closed, Some(format!("penilaian {score} dari 5")))
                }
                State::Received
                | State::Triage
                | State::InBidang
                | State::Review
                | State::FollowUp
                | State::WaitingCitizen => return Err(invalid()),
            },
        };
        let elapsed_now = || {
            self.carried_seconds
                + policy
                    .calendar
                    .elapsed_working_time(self.state_entered_at, now)
                    .num_seconds()
        };
        let breached_now = self.due_at.is_some_and(|d| now > d);
        let (step, stopped_due, elapsed, breached, state_entered_at, next_due) = match clock {
            Clock::Standard => {
                let moved = to != self.state || changes.reopen;
                if moved {
                    // A state change stops the running clock and starts the next one.
                    let step = self.state.step();
                    let elapsed = step.map(|_| elapsed_now());
                    changes.carried_seconds = Some(0);
                    (
                        step,
                        self.due_at,
                        elapsed,
                        breached_now,
                        now,
                        to.step().map(|s| policy.due(s, now)),
                    )
                } else {
                    (None, None, None, false, self.state_entered_at, self.due_at)
                }
            }
            Clock::Pause => {
                changes.carried_seconds = Some(elapsed_now());
                (
                    self.state.step(),
                    self.due_at,
                    None,
                    breached_now,
                    now,
                    Some(policy.wait_deadline(now)),
                )
            }
            Clock::Resume => {
                let remaining = self.pause.as_ref().map_or_else(
                    || {
                        to.step()
                            .map_or(Duration::zero(), |s| policy.durations.of(s))
                    },
                    |p| Duration::seconds(p.remaining_seconds),
                );
                // Whatever was left of the step; a step overdue when asked stays overdue
                // by as much.
                let due = if remaining >= Duration::zero() {
                    policy.calendar.add_working_time(now, remaining)
                } else {
                    now + remaining
                };
                (None, None, None, false, now, Some(due))
            }
            Clock::EndWait => {
                changes.carried_seconds = Some(0);
                (None, self.due_at, None, false, now, None)
            }
        };
        Ok(Transition {
            from: self.state,
            to,
            state_entered_at,
            due_at: next_due,
            changes,
            history: HistoryEntry {
                step,
                action: history_action.to_string(),
                state: to,
                actor: actor.label(),
                at: now,
                due_at: stopped_due,
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
            pause: None,
            carried_seconds: 0,
            rated: false,
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

    fn ask(q: &str) -> Command {
        Command::Ask { question: q.into() }
    }

    #[test]
    fn ask_roles_follow_the_step() {
        let kasi = staff(Role::Kasi, None);
        let bidang = staff(Role::Bidang, Some("dafduk"));
        for (state, actor, ok) in [
            (State::Triage, &kasi, true),
            (State::Review, &kasi, true),
            (State::InBidang, &bidang, true),
            (State::InBidang, &kasi, false),
            (State::Review, &bidang, false),
        ] {
            let r = at(state, Channel::Email).apply(ask("Nomor KK?"), actor, t0(), &policy());
            match (r, ok) {
                (Ok(t), true) => assert_eq!(t.to, State::WaitingCitizen),
                (Err(TransitionError::Forbidden { .. }), false) => {}
                (other, _) => panic!("{state} by {actor:?}: {other:?}"),
            }
        }
        // Other roles never ask; a bidang does not see an unrouted complaint.
        for role in [Role::Staf, Role::Kabid, Role::Kadis] {
            let r = at(State::Triage, Channel::Email).apply(
                ask("x"),
                &staff(role, None),
                t0(),
                &policy(),
            );
            assert!(
                matches!(r, Err(TransitionError::Forbidden { .. })),
                "{role}"
            );
        }
        assert_eq!(
            at(State::Triage, Channel::Email).apply(ask("x"), &bidang, t0(), &policy()),
            Err(TransitionError::NotVisible)
        );
        for state in [State::FollowUp, State::Closed, State::WaitingCitizen] {
            let r = at(state, Channel::Email).apply(ask("x"), &kasi, t0(), &policy());
            assert!(
                matches!(r, Err(TransitionError::InvalidState { .. })),
                "{state}"
            );
        }
        let r = at(State::Triage, Channel::Email).apply(ask("  "), &kasi, t0(), &policy());
        assert!(matches!(r, Err(TransitionError::Invalid(_))));
    }

    /// Ask 20 min into the 1 h resolve step, wait two days, answer: the step is due 40 min
    /// after the answer, and its final line counts 20 + 10 minutes of work.
    #[test]
    fn ask_pauses_and_the_answer_resumes_with_the_remaining_time() {
        let bidang = staff(Role::Bidang, Some("dafduk"));
        let ws = at(State::InBidang, Channel::Telegram);
        let asked = t0() + Duration::minutes(20);
        let t = ws
            .apply(ask("Mohon kirim foto KK"), &bidang, asked, &policy())
            .unwrap();
        assert_eq!(t.to, State::WaitingCitizen);
        assert_eq!(t.history.step, Some(Step::Resolve));
        assert_eq!(
            t.history.elapsed_seconds, None,
            "a pause is no completed step"
        );
        assert_eq!(t.history.note.as_deref(), Some("Mohon kirim foto KK"));
        assert_eq!(
            t.due_at,
            Some(asked + Duration::days(10)),
            "24/7: ten days to answer"
        );
        let pause = t.changes.pause.clone().unwrap();
        assert_eq!(pause.asked_from, State::InBidang);
        assert_eq!(pause.remaining_seconds, 40 * 60);
        assert_eq!(t.changes.carried_seconds, Some(20 * 60));
        assert_eq!(
            t.effects,
            vec![Effect::SendQuestion {
                question: "Mohon kirim foto KK".into()
            }]
        );
        let waiting = WorkflowState {
            state: t.to,
            state_entered_at: t.state_entered_at,
            due_at: t.due_at,
            pause: Some(pause),
            carried_seconds: 20 * 60,
            ..ws.clone()
        };
        // Staff cannot act while the citizen is asked.
        let r = waiting.apply(
            Command::Solution { text: "x".into() },
            &bidang,
            asked,
            &policy(),
        );
        assert!(matches!(r, Err(TransitionError::InvalidState { .. })));
        let answered = asked + Duration::days(2);
        let t = waiting
            .apply(
                Command::CitizenMessage,
                &Actor::Citizen,
                answered,
                &policy(),
            )
            .unwrap();
        assert_eq!(t.to, State::InBidang);
        assert_eq!(t.history.action, "citizen_answer");
        assert_eq!(t.due_at, Some(answered + Duration::minutes(40)));
        assert!(t.changes.clear_pause);
        assert_eq!(t.changes.carried_seconds, None, "kept for the step's end");
        let resumed = WorkflowState {
            state: t.to,
            state_entered_at: t.state_entered_at,
            due_at: t.due_at,
            pause: None,
            ..waiting
        };
        let t = resumed
            .apply(
                Command::Solution {
                    text: "KK dicetak".into(),
                },
                &bidang,
                answered + Duration::minutes(10),
                &policy(),
            )
            .unwrap();
        assert_eq!(t.history.step, Some(Step::Resolve));
        assert_eq!(t.history.elapsed_seconds, Some(30 * 60));
        assert!(!t.history.breached);
        assert_eq!(t.changes.carried_seconds, Some(0));
    }

    #[test]
    fn an_overdue_step_stays_overdue_after_the_answer() {
        let kasi = staff(Role::Kasi, None);
        let ws = at(State::Triage, Channel::Email); // due t0 + 5 min
        let asked = t0() + Duration::minutes(8);
        let t = ws.apply(ask("Kapan?"), &kasi, asked, &policy()).unwrap();
        assert!(t.history.breached);
        let pause = t.changes.pause.clone().unwrap();
        assert_eq!(pause.remaining_seconds, -3 * 60);
        let waiting = WorkflowState {
            state: t.to,
            state_entered_at: t.state_entered_at,
            due_at: t.due_at,
            pause: Some(pause),
            ..ws
        };
        let answered = asked + Duration::hours(5);
        let t = waiting
            .apply(
                Command::CitizenMessage,
                &Actor::Citizen,
                answered,
                &policy(),
            )
            .unwrap();
        assert_eq!(t.to, State::Triage);
        assert_eq!(t.due_at, Some(answered - Duration::minutes(3)));
    }

    #[test]
    fn the_wait_times_out_only_when_due_and_only_by_aduan() {
        let mut ws = at(State::InBidang, Channel::Whatsapp);
        ws.state = State::WaitingCitizen;
        ws.due_at = Some(t0() + Duration::days(10));
        ws.pause = Some(Pause {
            asked_from: State::InBidang,
            remaining_seconds: 60,
            question: "?".into(),
        });
        let early = ws.apply(
            Command::WaitTimeout,
            &Actor::System,
            t0() + Duration::days(9),
            &policy(),
        );
        assert!(matches!(early, Err(TransitionError::InvalidState { .. })));
        let r = ws.apply(
            Command::WaitTimeout,
            &staff(Role::Kasi, None),
            t0() + Duration::days(11),
            &policy(),
        );
        assert!(matches!(r, Err(TransitionError::Forbidden { .. })));
        let t = ws
            .apply(
                Command::WaitTimeout,
                &Actor::System,
                t0() + Duration::days(10),
                &policy(),
            )
            .unwrap();
        assert_eq!(t.to, State::Closed);
        assert_eq!(t.changes.status, Some(Resolution::Tidak));
        assert_eq!(t.changes.close_reason.as_deref(), Some(NO_RESPONSE_REASON));
        assert_eq!(t.effects, vec![Effect::SendTimeoutNotice]);
        assert_eq!(t.due_at, None);
        // Manual channels get nothing sent.
        ws.channel = Channel::Letter;
        let t = ws
            .apply(
                Command::WaitTimeout,
                &Actor::System,
                t0() + Duration::days(10),
                &policy(),
            )
            .unwrap();
        assert!(t.effects.is_empty());
    }

    #[test]
    fn a_rating_is_once_on_a_closed_complaint_within_range() {
        let mut ws = at(State::Closed, Channel::Web);
        let rate = |score| Command::Rate {
            score,
            comment: Some(" Cepat ".into()),
        };
        for bad in [0u8, 6] {
            assert!(matches!(
                ws.apply(rate(bad), &Actor::Citizen, t0(), &policy()),
                Err(TransitionError::Invalid(_))
            ));
        }
        let t = ws.apply(rate(4), &Actor::Citizen, t0(), &policy()).unwrap();
        let r = t.changes.rating.unwrap();
        assert_eq!((r.score, r.comment.as_deref()), (4, Some("Cepat")));
        assert_eq!(t.to, State::Closed);
        ws.rated = true;
        assert!(matches!(
            ws.apply(rate(5), &Actor::Citizen, t0(), &policy()),
            Err(TransitionError::AlreadyDone(_))
        ));
        assert!(matches!(
            at(State::InBidang, Channel::Web).apply(rate(5), &Actor::Citizen, t0(), &policy()),
            Err(TransitionError::InvalidState { .. })
        ));
        assert!(matches!(
            at(State::Closed, Channel::Web).apply(
                rate(5),
                &staff(Role::Kasi, None),
                t0(),
                &policy()
            ),
            Err(TransitionError::Forbidden { .. })
        ));
    }
}
