//! The complaint desk: use cases shared by every channel and the staff API.
//!
//! Channels hand a [`Submission`] to [`Desk::submit`]; staff actions go through
//! [`Desk::act`]. The desk turns them into store writes (complaint, history, outbox rows in
//! one transaction) and builds the JSON views with identity protection applied.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;

use crate::mask::mask_text;
use crate::model::*;
use crate::secret::{constant_time_eq, hash_secret, new_access_code};
use crate::sla::SlaPolicy;
use crate::store::{Store, StoreError};
use crate::types::*;
use crate::workflow::{Actor, Command, HistoryEntry, TransitionError, WorkflowState, visible_to};

/// Source of "now"; injected so tests control time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A division complaints can be routed to.
#[derive(Debug, Clone, Serialize)]
pub struct BidangInfo {
    pub code: BidangCode,
    pub name: String,
    pub keywords: Vec<String>,
}

/// Limits on citizen input.
pub const MAX_BODY_CHARS: usize = 20_000;
pub const MAX_FIELD_CHARS: usize = 500;
/// Delivery attempts before an outbox row is marked failed.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 8;

/// Static configuration of the desk.
#[derive(Debug, Clone)]
pub struct DeskConfig {
    pub office_name: String,
    pub ticket_prefix: TicketPrefix,
    pub policy: SlaPolicy,
    pub bidang: Vec<BidangInfo>,
    /// Channels that have a working reply sender (others get no outbox rows).
    pub reply_channels: HashSet<Channel>,
    pub public_base_url: String,
}

/// A complaint arriving on a digital channel (or typed in by staff).
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub channel: Option<Channel>,
    pub external_id: Option<String>,
    /// When the complaint reached the office; defaults to now.
    pub received_at: Option<DateTime<Utc>>,
    pub name: Option<String>,
    pub address: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub handle: Option<String>,
    pub target: Option<String>,
    pub category: Option<String>,
    pub body: String,
    pub letter_number: Option<String>,
    pub attachments: Vec<NewAttachment>,
    /// Issue an access code for the status page (web, e-mail).
    pub with_access_code: bool,
    /// Where the acknowledgement goes, when the channel replies itself (chat id, PSID …).
    pub ack_to: Option<(Channel, String, serde_json::Value)>,
}

/// What the complainant gets back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    pub ticket: TicketNumber,
    pub access_code: Option<String>,
    pub status_url: Option<String>,
    #[serde(skip)]
    pub duplicate: bool,
}

/// Desk failures; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// Bad input (422): names the field.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("cannot {action} a complaint in state {state}")]
    InvalidState { action: String, state: State },
    /// A report step not allowed in the report's current state.
    #[error("the monthly report is in state {}", state.as_str())]
    InvalidReportState { state: crate::model::ReportState },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DeskError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        DeskError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<TransitionError> for DeskError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Forbidden { .. } => DeskError::Forbidden(e.to_string()),
            TransitionError::NotVisible => DeskError::NotFound,
            TransitionError::InvalidState { action, state } => DeskError::InvalidState {
                action: action.to_string(),
                state,
            },
            TransitionError::Invalid(m) => DeskError::invalid("body", m),
        }
    }
}

/// Status page view (no identity ever).
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    pub ticket: TicketNumber,
    pub state: State,
    pub status: Option<Resolution>,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub answer: Option<String>,
}

/// Identity block of the staff view.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ComplainantView {
    pub name: Option<String>,
    pub address: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub handle: Option<String>,
}

/// Paraf of the Kabid PDIP.
#[derive(Debug, Clone, Serialize)]
pub struct ParafView {
    pub by: String,
    pub at: DateTime<Utc>,
}

/// A history line in the staff view.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    pub step: Option<Step>,
    pub action: String,
    pub state: State,
    pub actor: String,
    pub at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub breached: bool,
    pub elapsed_minutes: Option<f64>,
    pub note: Option<String>,
}

/// The whole complaint as staff see it (SPEC §4).
#[derive(Debug, Clone, Serialize)]
pub struct ComplaintView {
    pub ticket: TicketNumber,
    pub channel: Channel,
    pub state: State,
    pub status: Option<Resolution>,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub breached: bool,
    pub complainant: ComplainantView,
    pub identity_hidden: bool,
    pub category: Option<Category>,
    pub target: Option<String>,
    pub body: String,
    pub letter_number: Option<String>,
    pub messages: Vec<Message>,
    pub bidang: Option<BidangCode>,
    pub suggested_bidang: Option<BidangCode>,
    pub solution: Option<String>,
    pub answer: Option<String>,
    pub close_reason: Option<String>,
    pub paraf: Option<ParafView>,
    pub history: Vec<HistoryView>,
    pub replies: Vec<ReplyView>,
    pub attachments: Vec<AttachmentMeta>,
}

/// A queue line with its breach flag.
#[derive(Debug, Clone, Serialize)]
pub struct QueueLine {
    pub ticket: TicketNumber,
    pub channel: Channel,
    pub state: State,
    pub received_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub breached: bool,
    pub bidang: Option<BidangCode>,
}

/// The complaint desk.
#[derive(Clone)]
pub struct Desk {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    cfg: Arc<DeskConfig>,
}

fn clean(field: &str, v: Option<String>, max: usize) -> Result<Option<String>, DeskError> {
    match v.map(|s| s.trim().to_string()) {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if s.chars().count() > max => Err(DeskError::invalid(
            field,
            format!("longer than {max} characters"),
        )),
        Some(s) => Ok(Some(s)),
    }
}

impl Desk {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, cfg: DeskConfig) -> Self {
        Desk {
            store,
            clock,
            cfg: Arc::new(cfg),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
    pub fn config(&self) -> &DeskConfig {
        &self.cfg
    }
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Suggest a bidang from its routing keywords (most keyword hits wins).
    pub fn suggest_bidang(&self, text: &str) -> Option<BidangCode> {
        let lower = text.to_lowercase();
        self.cfg
            .bidang
            .iter()
            .map(|b| {
                let hits = b
                    .keywords
                    .iter()
                    .filter(|k| contains_word(&lower, &k.to_lowercase()))
                    .count();
                (hits, b)
            })
            .filter(|(h, _)| *h > 0)
            .max_by_key(|(h, _)| *h)
            .map(|(_, b)| b.code.clone())
    }

    pub fn bidang_exists(&self, code: &BidangCode) -> bool {
        self.cfg.bidang.iter().any(|b| &b.code == code)
    }

    /// Validate a submission into a new complaint (without touching the store).
    fn build(
        &self,
        sub: Submission,
        actor: &Actor,
    ) -> Result<(NewComplaint, Option<String>), DeskError> {
        let now = self.clock.now();
        let channel = sub
            .channel
            .ok_or_else(|| DeskError::invalid("channel", "missing"))?;
        let body = sub.body.trim().to_string();
        if body.is_empty() {
            return Err(DeskError::invalid("body", "must not be empty"));
        }
        if body.chars().count() > MAX_BODY_CHARS {
            return Err(DeskError::invalid(
                "body",
                format!("longer than {MAX_BODY_CHARS} characters"),
            ));
        }
        let category = match clean("category", sub.category, 64)? {
            None => None,
            Some(c) => Some(
                c.parse::<Category>()
                    .map_err(|e| DeskError::invalid("category", e.problem))?,
            ),
        };
        let email = match clean("email", sub.email, 254)? {
            None => None,
            Some(e) => Some(
                EmailAddress::parse(&e)
                    .map_err(|e| DeskError::invalid("email", e.problem))?
                    .as_str()
                    .to_string(),
            ),
        };
        let phone = match clean("phone", sub.phone, 40)? {
            None => None,
            Some(p) => Some(
                PhoneNumber::parse(&p)
                    .map_err(|e| DeskError::invalid("phone", e.problem))?
                    .as_str()
                    .to_string(),
            ),
        };
        let identity = Identity {
            name: clean("name", sub.name, crate::fields::MAX_NAME_CHARS)?,
            address: clean("address", sub.address, MAX_FIELD_CHARS)?,
            email,
            phone,
            handle: clean("handle", sub.handle, 200)?,
        };
        let target = clean("target", sub.target, MAX_FIELD_CHARS)?;
        let letter_number = clean("letter_number", sub.letter_number, 100)?;
        let received_at = sub.received_at.unwrap_or(now);
        if received_at > now + chrono::Duration::minutes(5) {
            return Err(DeskError::invalid("received_at", "lies in the future"));
        }
        let policy = &self.cfg.policy;
        let tz = policy.calendar.timezone();
        let local = received_at.with_timezone(&tz);
        // Step 1 (receive) runs from receipt until the complaint is in the logbook, which
        // for digital channels is now.
        let receive_due = policy.due(Step::Receive, received_at);
        let elapsed = policy
            .calendar
            .elapsed_working_time(received_at, now)
            .num_seconds();
        let history = vec![HistoryEntry {
            step: Some(Step::Receive),
            action: if channel.is_manual() {
                "log"
            } else {
                "receive"
            }
            .into(),
            state: State::Triage,
            actor: actor.label(),
            at: now,
            due_at: Some(receive_due),
            elapsed_seconds: Some(elapsed),
            breached: now > receive_due,
            note: letter_number.as_ref().map(|l| format!("No. surat: {l}")),
        }];
        let code = sub.with_access_code.then(new_access_code);
        let mut acks = Vec::new();
        let mut vars = serde_json::json!({
            "office": self.cfg.office_name,
            "channel": channel.as_str(),
            "status_url": self.status_url_base(),
        });
        if let Some(c) = &code {
            vars["access_code"] = serde_json::Value::String(c.clone());
        }
        if let Some((ch, to, extra)) = sub.ack_to {
            if self.cfg.reply_channels.contains(&ch) {
                if let (Some(obj), serde_json::Value::Object(more)) = (vars.as_object_mut(), extra)
                {
                    obj.extend(more);
                }
                acks.push(NewReply {
                    kind: ReplyKind::Ack,
                    channel: ch,
                    recipient: to,
                    template: "ack".into(),
                    vars,
                    max_attempts: DEFAULT_MAX_ATTEMPTS,
                });
            }
        } else if channel == Channel::Web
            && let Some(e) = &identity.email
            && self.cfg.reply_channels.contains(&Channel::Email)
        {
            acks.push(NewReply {
                kind: ReplyKind::Ack,
                channel: Channel::Email,
                recipient: e.clone(),
                template: "ack".into(),
                vars,
                max_attempts: DEFAULT_MAX_ATTEMPTS,
            });
        }
        let new = NewComplaint {
            channel,
            external_id: sub.external_id,
            received_at,
            identity,
            category,
            target,
            body,
            letter_number,
            attachments: sub.attachments,
            access_code_hash: code.as_deref().map(hash_secret),
            state: State::Triage,
            state_entered_at: now,
            due_at: Some(policy.due(Step::Triage, now)),
            history,
            acks,
            ticket_prefix: self.cfg.ticket_prefix.clone(),
            ticket_month: (local.year(), local.month()),
            cursor: None,
        };
        Ok((new, code))
    }

    fn status_url_base(&self) -> String {
        format!(
            "{}/api/v1/complaints",
            self.cfg.public_base_url.trim_end_matches('/')
        )
    }

    /// Status URL of a ticket with its access code.
    pub fn status_url(&self, ticket: &TicketNumber, code: &str) -> String {
        format!("{}/{ticket}/status?code={code}", self.status_url_base())
    }

    /// Accept a complaint from a digital channel. Committed before this returns.
    pub async fn submit(&self, sub: Submission) -> Result<Receipt, DeskError> {
        if sub.channel.is_some_and(|c| c.is_manual()) {
            return Err(DeskError::invalid(
                "channel",
                "manual channels are entered by staff",
            ));
        }
        self.create(sub, &Actor::System).await
    }

    /// Manual entry of a phone/letter/fax/walk-in complaint by staf.
    pub async fn manual_entry(&self, actor: &Actor, sub: Submission) -> Result<Receipt, DeskError> {
        if actor.role() != Some(Role::Staf) {
            return Err(DeskError::Forbidden(
                "only staf may log manual complaints".into(),
            ));
        }
        match sub.channel {
            Some(c) if c.is_manual() => {}
            Some(c) => {
                return Err(DeskError::invalid(
                    "channel",
                    format!("`{c}` is not a manual channel (phone, letter, fax, walk_in)"),
                ));
            }
            None => return Err(DeskError::invalid("channel", "missing")),
        }
        let mut sub = sub;
        sub.with_access_code = true;
        sub.ack_to = None;
        self.create(sub, actor).await
    }

    async fn create(&self, sub: Submission, actor: &Actor) -> Result<Receipt, DeskError> {
        let (new, code) = self.build(sub, actor)?;
        let outcome = self.store.create_complaint(new).await?;
        let duplicate = matches!(outcome, CreateOutcome::Duplicate { .. });
        let ticket = outcome.ticket().clone();
        // A duplicate must not reveal the first delivery's code (it is not known anyway).
        let code = if duplicate { None } else { code };
        Ok(Receipt {
            status_url: code.as_ref().map(|c| self.status_url(&ticket, c)),
            ticket,
            access_code: code,
            duplicate,
        })
    }

    /// Public status by ticket and access code; wrong code and unknown ticket are the same.
    pub async fn status(&self, ticket: &str, code: &str) -> Result<StatusView, DeskError> {
        let ticket = TicketNumber::parse(ticket).map_err(|_| DeskError::NotFound)?;
        let rec = self
            .store
            .get_complaint(&ticket)
            .await?
            .ok_or(DeskError::NotFound)?;
        let ok = rec
            .access_code_hash
            .as_deref()
            .is_some_and(|h| constant_time_eq(h, &hash_secret(code)));
        if !ok {
            return Err(DeskError::NotFound);
        }
        Ok(StatusView {
            ticket: rec.ticket,
            state: rec.state,
            status: rec.status,
            received_at: rec.received_at,
            updated_at: rec.updated_at,
            answer: rec.answer,
        })
    }

    async fn load_visible(
        &self,
        actor: &Actor,
        ticket: &str,
    ) -> Result<ComplaintRecord, DeskError> {
        let ticket = TicketNumber::parse(ticket).map_err(|_| DeskError::NotFound)?;
        let rec = self
            .store
            .get_complaint(&ticket)
            .await?
            .ok_or(DeskError::NotFound)?;
        if !visible_to(actor, rec.bidang.as_ref()) {
            return Err(DeskError::NotFound);
        }
        Ok(rec)
    }

    /// The complaint as `actor` may see it.
    pub async fn view(&self, actor: &Actor, ticket: &str) -> Result<ComplaintView, DeskError> {
        let rec = self.load_visible(actor, ticket).await?;
        Ok(self.to_view(actor, rec))
    }

    /// Where an answer to this complaint goes, if anywhere.
    fn reply_route(&self, rec: &ComplaintRecord) -> Option<(Channel, String)> {
        let route = match rec.channel {
            Channel::Web | Channel::Email => {
                rec.identity.email.clone().map(|e| (Channel::Email, e))
            }
            Channel::Telegram | Channel::Messenger | Channel::Instagram | Channel::Whatsapp => {
                rec.identity.handle.clone().map(|h| (rec.channel, h))
            }
            Channel::Phone | Channel::Letter | Channel::Fax | Channel::WalkIn => None,
        }?;
        self.cfg.reply_channels.contains(&route.0).then_some(route)
    }

    /// Perform a staff (or citizen) command on a complaint. Retries on concurrent updates.
    pub async fn act(
        &self,
        actor: &Actor,
        ticket: &str,
        cmd: Command,
    ) -> Result<ComplaintView, DeskError> {
        if let Some(required) = cmd.required_role()
            && actor.role() != Some(required)
        {
            return Err(DeskError::Forbidden(format!(
                "role {} may not {}; required: {required}",
                actor.role().map(|r| r.as_str()).unwrap_or("none"),
                cmd.name()
            )));
        }
        if let Command::Assign { bidang, .. } = &cmd
            && !self.bidang_exists(bidang)
        {
            return Err(DeskError::invalid(
                "bidang",
                format!("unknown bidang `{bidang}`"),
            ));
        }
        for _ in 0..5 {
            let rec = self.load_visible(actor, ticket).await?;
            let ws = workflow_state(&rec);
            let now = self.clock.now();
            let t = ws.apply(cmd.clone(), actor, now, &self.cfg.policy)?;
            let mut reply = None;
            let mut message = None;
            for e in &t.effects {
                match e {
                    crate::workflow::Effect::SendAnswer { text } => {
                        if let Some((channel, recipient)) = self.reply_route(&rec) {
                            reply = Some(NewReply {
                                kind: ReplyKind::Answer,
                                channel,
                                recipient,
                                template: "answer".into(),
                                vars: serde_json::json!({
                                    "office": self.cfg.office_name,
                                    "message": text,
                                }),
                                max_attempts: DEFAULT_MAX_ATTEMPTS,
                            });
                        }
                    }
                }
            }
            if let (Command::FollowUp { message: m }, true) = (&cmd, rec.channel.is_manual()) {
                // Manual channels: staff record how they answered; it joins the conversation.
                message = Some(NewMessage {
                    channel: None,
                    direction: Direction::Out,
                    at: now,
                    text: m.clone(),
                    external_id: None,
                });
            }
            let w = TransitionWrite {
                complaint_id: rec.id,
                expected_version: rec.version,
                transition: &t,
                actor: actor.label(),
                reply,
                message,
                cursor: None,
            };
            match self.store.save_transition(w).await {
                Ok(()) => return self.view(actor, ticket).await,
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// The queue `actor` may see, optionally restricted to one state.
    pub async fn queue(
        &self,
        actor: &Actor,
        state: Option<State>,
    ) -> Result<Vec<QueueLine>, DeskError> {
        let bidang = match actor {
            Actor::Staff {
                role: Role::Bidang,
                bidang,
                ..
            } => Some(
                bidang
                    .clone()
                    .ok_or_else(|| DeskError::Forbidden("bidang user without a bidang".into()))?,
            ),
            _ => None,
        };
        let now = self.clock.now();
        let items = self
            .store
            .queue(&QueueFilter {
                state,
                bidang,
                limit: Some(1000),
            })
            .await?;
        Ok(items
            .into_iter()
            .map(|i| QueueLine {
                breached: i.due_at.is_some_and(|d| now > d),
                ticket: i.ticket,
                channel: i.channel,
                state: i.state,
                received_at: i.received_at,
                due_at: i.due_at,
                bidang: i.bidang,
            })
            .collect())
    }

    /// Build the staff view, hiding identity from bidang users unless shared with them.
    pub fn to_view(&self, actor: &Actor, rec: ComplaintRecord) -> ComplaintView {
        let hide = match actor {
            Actor::Staff {
                role: Role::Bidang,
                bidang,
                ..
            } => !bidang
                .as_ref()
                .is_some_and(|b| rec.identity_shared_with.contains(b)),
            _ => false,
        };
        let m = |s: String| if hide { mask_text(&s) } else { s };
        let mo = |s: Option<String>| s.map(m);
        let now = self.clock.now();
        let suggested = if rec.state == State::Triage {
            self.suggest_bidang(&format!(
                "{} {}",
                rec.target.clone().unwrap_or_default(),
                rec.body
            ))
        } else {
            None
        };
        let complainant = if hide {
            ComplainantView::default()
        } else {
            ComplainantView {
                name: rec.identity.name,
                address: rec.identity.address,
                email: rec.identity.email,
                phone: rec.identity.phone,
                handle: rec.identity.handle,
            }
        };
        ComplaintView {
            ticket: rec.ticket,
            channel: rec.channel,
            state: rec.state,
            status: rec.status,
            received_at: rec.received_at,
            updated_at: rec.updated_at,
            due_at: rec.due_at,
            breached: rec.due_at.is_some_and(|d| now > d),
            complainant,
            identity_hidden: hide,
            category: rec.category,
            target: mo(rec.target),
            body: m(rec.body),
            letter_number: rec.letter_number,
            messages: rec
                .messages
                .into_iter()
                .map(|msg| Message {
                    text: m(msg.text),
                    ..msg
                })
                .collect(),
            bidang: rec.bidang,
            suggested_bidang: suggested,
            solution: mo(rec.solution),
            answer: mo(rec.answer),
            close_reason: mo(rec.close_reason),
            paraf: match (rec.paraf_by, rec.paraf_at) {
                (Some(by), Some(at)) => Some(ParafView { by, at }),
                _ => None,
            },
            history: rec
                .history
                .into_iter()
                .map(|h| HistoryView {
                    step: h.step,
                    action: h.action,
                    state: h.state,
                    actor: h.actor,
                    at: h.at,
                    due_at: h.due_at,
                    breached: h.breached,
                    elapsed_minutes: h.elapsed_seconds.map(|s| (s as f64 / 6.0).round() / 10.0),
                    note: mo(h.note),
                })
                .collect(),
            replies: rec.replies,
            attachments: rec.attachments,
        }
    }
}

impl Desk {
    /// The month's logbook rows (FM-PDIP-03-02). Division users do not read the logbook.
    pub async fn logbook(
        &self,
        actor: &Actor,
        month: crate::logbook::Month,
    ) -> Result<Vec<crate::logbook::LogbookRow>, DeskError> {
        match actor.role() {
            Some(Role::Staf | Role::Kasi | Role::Kabid | Role::Kadis) => {}
            Some(Role::Bidang) | None => {
                return Err(DeskError::Forbidden(
                    "the logbook is for staf, kasi, kabid and kadis".into(),
                ));
            }
        }
        let (from, to) = month.range(self.cfg.policy.calendar.timezone());
        let recs = self.store.complaints_received_between(from, to).await?;
        Ok(crate::logbook::rows(&recs, false))
    }
}

/// How to find the complaint an inbound message continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadHint {
    /// A ticket named by the citizen (e-mail subject tag). Honoured only when the sender's
    /// e-mail address or handle matches the complaint's, so nobody can write into another
    /// citizen's complaint by quoting its number.
    Ticket(TicketNumber),
    /// Ids of messages this one replies to (e-mail In-Reply-To/References, without <>).
    MessageIds(Vec<String>),
    /// The newest not-closed complaint of this channel and `submission.handle`.
    OpenForHandle,
}

/// An inbound citizen message from a channel.
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    pub submission: Submission,
    /// Tried in order; the first that finds a complaint wins.
    pub thread: Vec<ThreadHint>,
    /// Intake cursor committed with the write.
    pub cursor: Option<(String, String)>,
}

/// What [`Desk::receive`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Created(Receipt),
    Appended {
        ticket: TicketNumber,
        reopened: bool,
    },
    Duplicate {
        ticket: TicketNumber,
    },
}

impl Desk {
    /// Commit an inbound message — a new complaint, or appended to the complaint it
    /// continues (reopening a closed one) — with its acknowledgement and the cursor, in one
    /// transaction. Redelivery of the same `(channel, external_id)` writes nothing but the
    /// cursor.
    pub async fn receive(&self, msg: Inbound) -> Result<Received, DeskError> {
        let Inbound {
            submission: sub,
            thread,
            cursor,
        } = msg;
        let channel = sub
            .channel
            .ok_or_else(|| DeskError::invalid("channel", "missing"))?;
        if channel.is_manual() {
            return Err(DeskError::invalid(
                "channel",
                "manual channels are entered by staff",
            ));
        }
        if let Some(ext) = &sub.external_id
            && let Some(ticket) = self.store.ticket_by_external_id(channel, ext).await?
        {
            if let Some((k, v)) = &cursor {
                self.store.set_cursor(k, v).await?;
            }
            return Ok(Received::Duplicate { ticket });
        }
        let mut target = None;
        for hint in &thread {
            target = match hint {
                ThreadHint::Ticket(t) => match self.store.get_complaint(t).await? {
                    Some(rec) if same_sender(&rec, &sub) => Some(rec.ticket),
                    _ => None,
                },
                ThreadHint::MessageIds(ids) if !ids.is_empty() => {
                    self.store.ticket_by_message_ids(ids).await?
                }
                ThreadHint::MessageIds(_) => None,
                ThreadHint::OpenForHandle => match &sub.handle {
                    Some(h) => self.store.open_ticket_for_handle(channel, h).await?,
                    None => None,
                },
            };
            if target.is_some() {
                break;
            }
        }
        let Some(ticket) = target else {
            let (mut new, code) = self.build(sub, &Actor::System)?;
            new.cursor = cursor;
            let outcome = self.store.create_complaint(new).await?;
            return Ok(match outcome {
                CreateOutcome::Created { ticket, .. } => Received::Created(Receipt {
                    status_url: code.as_ref().map(|c| self.status_url(&ticket, c)),
                    ticket,
                    access_code: code,
                    duplicate: false,
                }),
                CreateOutcome::Duplicate { ticket, .. } => Received::Duplicate { ticket },
            });
        };
        let body = sub.body.trim().to_string();
        if body.is_empty() && sub.attachments.is_empty() {
            return Err(DeskError::invalid("body", "must not be empty"));
        }
        let mut text = body;
        if !sub.attachments.is_empty() {
            let names: Vec<&str> = sub
                .attachments
                .iter()
                .map(|a| a.filename.as_str())
                .collect();
            text.push_str(&format!("\n[lampiran: {}]", names.join(", ")));
        }
        let text: String = text.chars().take(MAX_BODY_CHARS).collect();
        for _ in 0..5 {
            let rec = self
                .store
                .get_complaint(&ticket)
                .await?
                .ok_or(DeskError::NotFound)?;
            let now = self.clock.now();
            let ws = workflow_state(&rec);
            let t = ws.apply(
                Command::CitizenMessage,
                &Actor::Citizen,
                now,
                &self.cfg.policy,
            )?;
            let w = TransitionWrite {
                complaint_id: rec.id,
                expected_version: rec.version,
                transition: &t,
                actor: Actor::Citizen.label(),
                reply: None,
                message: Some(NewMessage {
                    channel: Some(channel),
                    direction: Direction::In,
                    at: sub.received_at.unwrap_or(now),
                    text: text.clone(),
                    external_id: sub.external_id.clone(),
                }),
                cursor: cursor.clone(),
            };
            match self.store.save_transition(w).await {
                Ok(()) => {
                    return Ok(Received::Appended {
                        ticket,
                        reopened: t.changes.reopen,
                    });
                }
                Err(StoreError::Conflict) => continue,
                Err(StoreError::AlreadyExists(_)) => {
                    if let Some((k, v)) = &cursor {
                        self.store.set_cursor(k, v).await?;
                    }
                    return Ok(Received::Duplicate { ticket });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    pub async fn cursor(&self, key: &str) -> Result<Option<String>, DeskError> {
        Ok(self.store.get_cursor(key).await?)
    }

    pub async fn set_cursor(&self, key: &str, value: &str) -> Result<(), DeskError> {
        Ok(self.store.set_cursor(key, value).await?)
    }

    /// A bounce or permanent platform failure of a reply aduan sent with this external id.
    pub async fn fail_reply(&self, external_id: &str, error: &str) -> Result<bool, DeskError> {
        Ok(self
            .store
            .fail_reply_by_external_id(external_id, error)
            .await?)
    }

    /// Acknowledgements to `recipient` on `channel` since `since` (RFC 3834 daily cap).
    pub async fn acks_since(
        &self,
        channel: Channel,
        recipient: &str,
        since: DateTime<Utc>,
    ) -> Result<i64, DeskError> {
        Ok(self
            .store
            .count_acks_since(channel, recipient, since)
            .await?)
    }

    /// Public status of a ticket, only for the chat/sender it came from.
    pub async fn status_for_handle(
        &self,
        ticket: &str,
        channel: Channel,
        handle: &str,
    ) -> Result<StatusView, DeskError> {
        let ticket = TicketNumber::parse(ticket.trim()).map_err(|_| DeskError::NotFound)?;
        let rec = self
            .store
            .get_complaint(&ticket)
            .await?
            .ok_or(DeskError::NotFound)?;
        if rec.channel != channel || rec.identity.handle.as_deref() != Some(handle) {
            return Err(DeskError::NotFound);
        }
        Ok(StatusView {
            ticket: rec.ticket,
            state: rec.state,
            status: rec.status,
            received_at: rec.received_at,
            updated_at: rec.updated_at,
            answer: rec.answer,
        })
    }

    /// Time of the citizen's newest inbound message on a complaint.
    pub async fn last_inbound_at(
        &self,
        ticket: &TicketNumber,
    ) -> Result<Option<DateTime<Utc>>, DeskError> {
        Ok(self.store.last_inbound_at(ticket).await?)
    }

    /// Take or renew a named lease (one mailbox reader among replicas).
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: chrono::Duration,
    ) -> Result<bool, DeskError> {
        let now = self.clock.now();
        Ok(self.store.try_lease(name, holder, now, now + ttl).await?)
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), DeskError> {
        Ok(self.store.release_lease(name, holder).await?)
    }
}

/// The workflow view of a stored complaint.
pub fn workflow_state(rec: &ComplaintRecord) -> WorkflowState {
    WorkflowState {
        channel: rec.channel,
        state: rec.state,
        state_entered_at: rec.state_entered_at,
        due_at: rec.due_at,
        bidang: rec.bidang.clone(),
        status: rec.status,
        paraf_at: rec.paraf_at,
        identity_shared_with: rec.identity_shared_with.clone(),
    }
}

/// Does the submission come from the complaint's own complainant?
fn same_sender(rec: &ComplaintRecord, sub: &Submission) -> bool {
    let eq = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
        _ => false,
    };
    eq(&rec.identity.email, &sub.email) || eq(&rec.identity.handle, &sub.handle)
}

/// Whole-word (or whole-phrase) containment on lowercase text.
fn contains_word(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric()) && !after.is_some_and(|c| c.is_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::contains_word;

    #[test]
    fn keyword_matching_is_by_word() {
        assert!(contains_word("ktp saya belum jadi", "ktp"));
        assert!(contains_word("urus kartu keluarga", "kartu keluarga"));
        assert!(!contains_word("ektpnya", "ktp"));
    }
}
