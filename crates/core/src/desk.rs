//! The complaint desk: the one door to the store, composed of small services.
//!
//! [`Desk`] holds the store, the clock and the configuration and hands out five services,
//! each over the store roles it needs: [`Desk::intake`] (channels: submissions, inbound
//! messages, cursors, leases), [`Desk::staff`] (manual entry, queue, views with identity
//! protection, SOP actions, logbook), [`Desk::reports`] (monthly report, SLA escalation),
//! [`Desk::accounts`] (staff accounts) and [`Desk::audit`] (the audit log). Nothing outside `aduan-core` and `aduan-store` holds
//! the raw store. This module keeps the shared types (submissions, receipts, views, errors)
//! and the validation every intake path shares.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;

use crate::model::*;
use crate::secret::{hash_secret, new_access_code};
pub use crate::services::{Accounts, Audit, Intake, Media, Reports, Staff, Verification};
use crate::sla::SlaPolicy;
use crate::store::prelude::*;
use crate::types::*;
use crate::workflow::{Actor, HistoryEntry, TransitionError, WorkflowState};

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
    /// Files to fetch from the platform after the commit (chat channels); each leaves a
    /// `[lampiran: …]` line in the text and becomes an attachment when fetched.
    pub media: Vec<crate::media::NewMedia>,
    /// Issue an access code for the status page (web, e-mail).
    pub with_access_code: bool,
    /// Where the acknowledgement goes, when the channel replies itself (chat id, PSID …).
    pub ack_to: Option<AckRoute>,
    /// Queue no acknowledgement by e-mail for a web complaint: its address reached the
    /// daily acknowledgement cap (the receipt is still answered).
    pub skip_ack: bool,
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
    /// The Kepala Dinas decides on the Kasi's conclusion (SOP-PDIP-03 steps 6–7): a decision
    /// before any conclusion is refused (409).
    #[error("the kasi's conclusion comes first: the monthly report has none yet")]
    ConclusionFirst,
    /// Done before and allowed only once (409), e.g. a second rating.
    #[error("{0}")]
    Conflict(String),
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
            TransitionError::AlreadyDone(m) => DeskError::Conflict(m.to_string()),
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
    /// The open question to the citizen (while `waiting_citizen`).
    pub question: Option<String>,
    /// The citizen's rating, once given.
    pub rating: Option<RatingStatus>,
    /// Until when the open question waits for the answer.
    pub answer_due_at: Option<DateTime<Utc>>,
    /// The citizen may rate now (closed, not rated yet).
    pub can_rate: bool,
    /// The step the open question was asked from (the status page marks it current).
    /// Not part of the status API's JSON.
    #[serde(skip)]
    pub asked_from: Option<State>,
}

/// A rating as the status shows it (the score and when; the comment stays with staff).
#[derive(Debug, Clone, Serialize)]
pub struct RatingStatus {
    pub score: u8,
    pub at: DateTime<Utc>,
}

impl StatusView {
    /// The citizen's view of a stored complaint (no identity).
    pub(crate) fn of(rec: ComplaintRecord) -> Self {
        let waiting = rec.state == State::WaitingCitizen;
        StatusView {
            ticket: rec.ticket,
            state: rec.state,
            status: rec.status,
            received_at: rec.received_at,
            updated_at: rec.updated_at,
            answer: rec.answer,
            asked_from: rec.pause.as_ref().filter(|_| waiting).map(|p| p.asked_from),
            question: rec.pause.filter(|_| waiting).map(|p| p.question),
            answer_due_at: rec.due_at.filter(|_| waiting),
            can_rate: rec.state == State::Closed && rec.rating.is_none(),
            rating: rec.rating.map(|r| RatingStatus {
                score: r.score,
                at: r.at,
            }),
        }
    }
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
    pub attachments: Vec<AttachmentView>,
    /// The open question while `waiting_citizen`.
    pub question: Option<QuestionView>,
    /// The citizen's rating.
    pub rating: Option<RatingView>,
}

/// The open question in the staff view.
#[derive(Debug, Clone, Serialize)]
pub struct QuestionView {
    pub text: String,
    pub asked_at: DateTime<Utc>,
    /// The state the answer returns the complaint to.
    pub asked_from: State,
    /// Working minutes left of the paused step (negative: it was overdue when asked).
    pub remaining_minutes: f64,
    /// When the complaint closes `tidak` without an answer.
    pub wait_until: Option<DateTime<Utc>>,
}

/// The citizen's rating in the staff view.
#[derive(Debug, Clone, Serialize)]
pub struct RatingView {
    pub score: u8,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

/// An attachment in the staff view. For a bidang user without a share (of the identity or
/// of this attachment) `filename` is the neutral [`label`](Self::label): a file name can
/// carry a name or a NIK (`KTP_<nama>_<NIK>.jpg`).
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentView {
    pub id: i64,
    /// The file name, or the neutral label when it is hidden from this user.
    pub filename: String,
    /// `lampiran N (type/subtype, K KB)`.
    pub label: String,
    pub content_type: String,
    pub size: i64,
    /// The file name is hidden from this user (and the file cannot be opened).
    pub name_hidden: bool,
    /// This user may open the file.
    pub downloadable: bool,
    /// Divisions the kasi shared this attachment with one by one (bidang users see only
    /// their own).
    pub shared_with: Vec<BidangCode>,
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
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cfg: Arc<DeskConfig>,
}

pub(crate) fn clean(
    field: &str,
    v: Option<String>,
    max: usize,
) -> Result<Option<String>, DeskError> {
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

    /// The wake-ups the store signals after commits (for the SLA timer and the outbox
    /// worker).
    pub fn wakeups(&self) -> Arc<crate::wake::Wakeups> {
        self.store.wakeups()
    }

    /// The raw store, for tests only (`testing` feature): production code goes through
    /// the services.
    #[cfg(feature = "testing")]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Intake: what channels do (submissions, inbound messages, cursors, leases).
    pub fn intake(&self) -> Intake {
        Intake { desk: self.clone() }
    }
    /// The staff workflow: manual entry, queue, views, SOP actions, the logbook.
    pub fn staff(&self) -> Staff {
        Staff { desk: self.clone() }
    }
    /// Monthly reports and SLA escalation.
    pub fn reports(&self) -> Reports {
        Reports { desk: self.clone() }
    }
    /// Staff accounts.
    pub fn accounts(&self) -> Accounts {
        Accounts { desk: self.clone() }
    }
    /// The audit log: record an entry, list entries, verify the chain.
    pub fn audit(&self) -> Audit {
        Audit { desk: self.clone() }
    }
    /// Media jobs: the worker that fetches the files of chat messages.
    pub fn media(&self) -> Media {
        Media { desk: self.clone() }
    }

    /// The complaint a ticket string names; a malformed or unknown ticket is `NotFound`.
    pub(crate) async fn complaint(&self, ticket: &str) -> Result<ComplaintRecord, DeskError> {
        let ticket = TicketNumber::parse(ticket).map_err(|_| DeskError::NotFound)?;
        self.workflow_store()
            .get_complaint(&ticket)
            .await?
            .ok_or(DeskError::NotFound)
    }

    // The store by role: each service call names the role it uses.
    pub(crate) fn intake_store(&self) -> &dyn IntakeStore {
        &*self.store
    }
    pub(crate) fn workflow_store(&self) -> &dyn WorkflowStore {
        &*self.store
    }
    pub(crate) fn attachment_store(&self) -> &dyn AttachmentStore {
        &*self.store
    }
    pub(crate) fn outbox_store(&self) -> &dyn OutboxStore {
        &*self.store
    }
    pub(crate) fn user_store(&self) -> &dyn UserStore {
        &*self.store
    }
    pub(crate) fn report_store(&self) -> &dyn ReportStore {
        &*self.store
    }
    pub(crate) fn lease_store(&self) -> &dyn LeaseStore {
        &*self.store
    }
    pub(crate) fn session_store(&self) -> &dyn SessionStore {
        &*self.store
    }
    pub(crate) fn audit_store(&self) -> &dyn AuditStore {
        &*self.store
    }
    pub(crate) fn media_store(&self) -> &dyn MediaStore {
        &*self.store
    }

    pub fn config(&self) -> &DeskConfig {
        &self.cfg
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Validate a submission into a new complaint (without touching the store).
    pub(crate) fn build(
        &self,
        sub: Submission,
        actor: &Actor,
    ) -> Result<(NewComplaint, Option<String>), DeskError> {
        let now = self.clock.now();
        let channel = sub
            .channel
            .ok_or_else(|| DeskError::invalid("channel", "missing"))?;
        let body = with_media_lines(&sub.body, &sub.media);
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
        // Later replies (question, answer) join the thread the acknowledgement joins.
        let reply_thread = sub.ack_to.as_ref().map(|r| r.thread.clone());
        if let Some(route) = sub.ack_to {
            if self.cfg.reply_channels.contains(&route.channel) {
                route.thread.write_vars(&mut vars);
                acks.push(NewReply {
                    kind: ReplyKind::Ack,
                    channel: route.channel,
                    recipient: route.recipient,
                    template: "ack".into(),
                    vars,
                    max_attempts: DEFAULT_MAX_ATTEMPTS,
                });
            }
        } else if channel == Channel::Web
            && !sub.skip_ack
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
        let media = media_jobs(&sub.media, sub.external_id.as_deref(), None);
        let analysis = Some(crate::problems::analyse(
            &identity,
            channel,
            target.as_deref(),
            &body,
        ));
        let new = NewComplaint {
            analysis,
            channel,
            media,
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
            audit: None,
            reply_thread,
        };
        Ok((new, code))
    }

    pub(crate) fn status_url_base(&self) -> String {
        format!(
            "{}/api/v1/complaints",
            self.cfg.public_base_url.trim_end_matches('/')
        )
    }

    /// Status URL of a ticket with its access code.
    pub fn status_url(&self, ticket: &TicketNumber, code: &str) -> String {
        format!("{}/{ticket}/status?code={code}", self.status_url_base())
    }

    /// The public status page of a ticket, without the access code (the citizen types it):
    /// where they answer a question and rate the answer.
    pub fn status_page_url(&self, ticket: &TicketNumber) -> String {
        format!(
            "{}/pengaduan/status?ticket={ticket}",
            self.cfg.public_base_url.trim_end_matches('/')
        )
    }

    /// Where a reply to the citizen of this complaint goes, if anywhere: the origin channel
    /// (a web complaint: by e-mail when an address was given), when it has a sender.
    pub(crate) fn reply_route(&self, rec: &ComplaintRecord) -> Option<(Channel, String)> {
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

    /// A reply to the citizen (question, answer, timeout notice, rating thanks) on the
    /// route of [`Desk::reply_route`], threaded onto their conversation
    /// ([`conversation_thread`]), with the variables every citizen template may use
    /// (`office`, `channel`, `status_page`, `has_code`) added to `vars`. None when nothing
    /// can be sent.
    pub(crate) fn citizen_reply(
        &self,
        rec: &ComplaintRecord,
        kind: ReplyKind,
        template: &str,
        mut vars: serde_json::Value,
    ) -> Option<NewReply> {
        let (channel, recipient) = self.reply_route(rec)?;
        if let Some(o) = vars.as_object_mut() {
            o.insert("office".into(), self.cfg.office_name.clone().into());
            o.insert("channel".into(), rec.channel.as_str().into());
            o.insert(
                "status_page".into(),
                self.status_page_url(&rec.ticket).into(),
            );
            o.insert("has_code".into(), rec.access_code_hash.is_some().into());
        }
        conversation_thread(rec, channel).write_vars(&mut vars);
        Some(NewReply {
            kind,
            channel,
            recipient,
            template: template.into(),
            vars,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        })
    }

    /// Build and store a complaint; `audit` (a staff entry) is appended in the creating
    /// transaction with the new ticket.
    pub(crate) async fn create(
        &self,
        sub: Submission,
        actor: &Actor,
        audit: Option<crate::audit::NewAuditEntry>,
    ) -> Result<Receipt, DeskError> {
        let (mut new, code) = self.build(sub, actor)?;
        new.audit = audit;
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
    /// E-mail: the subject of a reply that carries no usable ids (`Re: <subject>`,
    /// `Balas:`, `AW:`, `RE[2]:`, `Fwd:` …, see [`crate::subject`]). It joins the newest
    /// complaint that was acknowledged by e-mail to the sender's address (`email`, or the
    /// acknowledgement's recipient), is not closed, is the sender's own ([`same_sender`]) and
    /// whose subject — the first line of its text — has the same
    /// [`subject_key`](crate::subject::subject_key). Ignored for a subject without a reply
    /// prefix. Give it only for mail a person wrote, and last: ids and tickets go first.
    ReplySubject(String),
    /// The album (Telegram `media_group_id`, with the chat id) the message's files belong
    /// to: the complaint holding the album's earlier files, when it is the sender's own. A
    /// message without text of its own then only adds its files to that complaint (no new
    /// message, no acknowledgement).
    Album(String),
}

/// The citizen's text with one `[lampiran: …]` line per file to fetch. When the whole
/// would be longer than [`MAX_BODY_CHARS`], the text is shortened to make room.
pub(crate) fn with_media_lines(text: &str, media: &[crate::media::NewMedia]) -> String {
    let text = text.trim();
    if media.is_empty() {
        return text.to_string();
    }
    let lines: Vec<String> = media.iter().map(|m| m.kind.marker()).collect();
    let tail = lines.join("\n");
    let room = MAX_BODY_CHARS.saturating_sub(tail.chars().count() + 1);
    let text: String = text.chars().take(room).collect();
    let text = text.trim_end();
    if text.is_empty() {
        tail
    } else {
        format!("{text}\n{tail}")
    }
}

/// The jobs of a message's files: keyed `"<external id>#<n>"` so a redelivery adds none,
/// named safely, in the given album.
pub(crate) fn media_jobs(
    media: &[crate::media::NewMedia],
    external_id: Option<&str>,
    album: Option<&str>,
) -> Vec<crate::media::NewMediaJob> {
    media
        .iter()
        .enumerate()
        .map(|(i, m)| crate::media::NewMediaJob {
            kind: m.kind,
            source: m.source.clone(),
            filename: crate::media::file_name(
                m.kind,
                m.filename.as_deref(),
                m.content_type.as_deref(),
                i + 1,
            ),
            content_type: m
                .content_type
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            size: m.size,
            key: external_id.map(|e| format!("{e}#{}", i + 1)),
            album: album.map(str::to_string),
            max_attempts: crate::media::MEDIA_MAX_ATTEMPTS,
        })
        .collect()
}

/// An inbound citizen message from a channel.
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    pub submission: Submission,
    /// Tried in order; the first that finds a complaint wins.
    pub thread: Vec<ThreadHint>,
    /// Intake cursor committed with the write.
    pub cursor: Option<Cursor>,
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
    /// A chat message that was just a number 1–5 after the answer: the rating of that
    /// complaint (stored with its message), no new complaint and no reopening.
    Rated {
        ticket: TicketNumber,
        score: u8,
    },
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
        pause: rec.pause.clone(),
        carried_seconds: rec.carried_seconds,
        rated: rec.rating.is_some(),
    }
}

/// How a reply leaving on `channel` joins the citizen's conversation (SPEC §5).
///
/// - e-mail: `In-Reply-To` the citizen's newest e-mail (else aduan's own newest e-mail to
///   them, e.g. a web complaint's acknowledgement); `References` the citizen's own chain
///   when that message brought one, else every e-mail id of the conversation in order,
///   ending with the parent; the subject of their newest threaded mail;
/// - Telegram: a reply to the citizen's newest message that carried its id;
/// - other platforms: nothing (the Send APIs do not thread).
pub fn conversation_thread(rec: &ComplaintRecord, channel: Channel) -> ReplyThread {
    let stored = &rec.reply_thread;
    match channel {
        Channel::Email => {
            // Ids as the SMTP headers carry them: inbound e-mail is stored as
            // `msgid:<id>` (hashed forms and id-less mail skipped), sent mail as its id.
            let id_of = |m: &Message| -> Option<String> {
                let ext = m.external_id.as_deref()?;
                let id = match m.direction {
                    Direction::In => ext.strip_prefix("msgid:")?,
                    Direction::Out => ext,
                };
                (id.contains('@') && !id.starts_with("sha256:")).then(|| id.to_string())
            };
            let ids: Vec<(Direction, String)> = rec
                .messages
                .iter()
                .filter(|m| m.channel == Channel::Email)
                .filter_map(|m| id_of(m).map(|id| (m.direction, id)))
                .collect();
            let parent = ids
                .iter()
                .rev()
                .find(|(d, _)| *d == Direction::In)
                .or_else(|| ids.last())
                .map(|(_, id)| id.clone());
            let Some(parent) = parent else {
                return ReplyThread {
                    subject: stored.subject.clone(),
                    in_reply_to: stored.in_reply_to.clone(),
                    references: stored.references.clone(),
                    reply_to_message_id: None,
                };
            };
            let references = if stored.in_reply_to.as_deref() == Some(parent.as_str())
                && !stored.references.is_empty()
            {
                stored.references.clone()
            } else {
                let mut refs: Vec<String> = Vec::new();
                for (_, id) in &ids {
                    if *id != parent && !refs.contains(id) {
                        refs.push(id.clone());
                    }
                }
                refs.push(parent.clone());
                refs
            };
            ReplyThread {
                subject: stored.subject.clone(),
                in_reply_to: Some(parent),
                references,
                reply_to_message_id: None,
            }
        }
        Channel::Telegram => ReplyThread {
            reply_to_message_id: stored.reply_to_message_id,
            ..Default::default()
        },
        _ => ReplyThread::default(),
    }
}

/// May a message that arrived on `channel` thread onto this complaint: is it the same
/// channel and the same sender? (SPEC §6: header hints only onto a complaint of the same
/// channel and sender; anything else is a new complaint.)
///
/// - e-mail: an e-mail complaint from that address, or a web complaint of that address
///   (its acknowledgement went there by e-mail); addresses compare ignoring ASCII case;
/// - Telegram, Messenger, Instagram, WhatsApp: a complaint of that channel with that
///   handle (chat id, PSID, WhatsApp id), compared exactly;
/// - web and the manual channels never thread by hints (the web's proof of the sender is
///   the access code).
pub(crate) fn same_sender(rec: &ComplaintRecord, channel: Channel, sub: &Submission) -> bool {
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    match channel {
        Channel::Email => {
            matches!(rec.channel, Channel::Email | Channel::Web)
                && match (given(&rec.identity.email), given(&sub.email)) {
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(&b),
                    _ => false,
                }
        }
        Channel::Telegram | Channel::Messenger | Channel::Instagram | Channel::Whatsapp => {
            rec.channel == channel
                && match (given(&rec.identity.handle), given(&sub.handle)) {
                    (Some(a), Some(b)) => a == b,
                    _ => false,
                }
        }
        Channel::Web | Channel::Phone | Channel::Letter | Channel::Fax | Channel::WalkIn => false,
    }
}

/// Whole-word (or whole-phrase) containment on lowercase text.
pub(crate) fn contains_word(hay: &str, needle: &str) -> bool {
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
    use super::{MAX_BODY_CHARS, contains_word, media_jobs, with_media_lines};
    use crate::media::{MediaKind, NewMedia};

    fn file(kind: MediaKind, name: Option<&str>) -> NewMedia {
        NewMedia {
            kind,
            source: "ref".into(),
            filename: name.map(str::to_string),
            content_type: None,
            size: None,
        }
    }

    #[test]
    fn media_lines_follow_the_text_and_always_fit() {
        assert_eq!(with_media_lines("  halo ", &[]), "halo");
        let media = [file(MediaKind::Image, None), file(MediaKind::Voice, None)];
        assert_eq!(
            with_media_lines("", &media),
            "[lampiran: foto]\n[lampiran: pesan suara]"
        );
        assert_eq!(
            with_media_lines("Foto KK", &media[..1]),
            "Foto KK\n[lampiran: foto]"
        );
        let long = "x".repeat(MAX_BODY_CHARS + 10);
        let body = with_media_lines(&long, &media);
        assert_eq!(body.chars().count(), MAX_BODY_CHARS);
        assert!(body.ends_with("[lampiran: pesan suara]"));
    }

    #[test]
    fn media_jobs_are_keyed_per_file_and_named_safely() {
        let jobs = media_jobs(
            &[
                file(MediaKind::Document, Some("a/b.pdf")),
                file(MediaKind::Image, None),
            ],
            Some("5:42"),
            Some("5:album"),
        );
        assert_eq!(jobs[0].key.as_deref(), Some("5:42#1"));
        assert_eq!(jobs[1].key.as_deref(), Some("5:42#2"));
        assert_eq!(jobs[0].filename, "a_b.pdf");
        assert_eq!(jobs[1].filename, "foto-2.jpg");
        assert!(jobs.iter().all(|j| j.album.as_deref() == Some("5:album")));
        assert!(
            media_jobs(&[file(MediaKind::Image, None)], None, None)[0]
                .key
                .is_none()
        );
    }

    #[test]
    fn keyword_matching_is_by_word() {
        assert!(contains_word("ktp saya belum jadi", "ktp"));
        assert!(contains_word("urus kartu keluarga", "kartu keluarga"));
        assert!(!contains_word("ektpnya", "ktp"));
    }
}
