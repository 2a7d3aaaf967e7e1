//! Records exchanged with the [`Store`](crate::store::Store): what is written and read back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::types::{
    BidangCode, Category, Channel, Resolution, Role, State, TicketNumber, TicketPrefix, Username,
};
use crate::workflow::HistoryEntry;

/// The complainant's identity; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub name: Option<String>,
    pub address: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Channel handle: Telegram username/chat, Messenger PSID, WhatsApp id, …
    pub handle: Option<String>,
}

/// An attachment to store with a complaint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// Attachment metadata as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentMeta {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

impl AttachmentMeta {
    /// The `type/subtype` of the stored content type, lower case, without parameters
    /// (`application/octet-stream` when it is not a well-formed media type).
    pub fn media_type(&self) -> String {
        media_type(&self.content_type)
    }

    /// The neutral name shown instead of the file name to users who may not see it:
    /// `lampiran N (type/subtype, K KB)`, `N` counting the complaint's attachments from 1.
    pub fn neutral_label(&self, number: usize) -> String {
        let kb = u64::try_from(self.size).unwrap_or(0).div_ceil(1024).max(1);
        format!("lampiran {number} ({}, {kb} KB)", self.media_type())
    }
}

/// `type/subtype` of a content type in lower case, parameters dropped; anything that is
/// not two RFC 7231 tokens joined by `/` is `application/octet-stream`.
pub fn media_type(content_type: &str) -> String {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match essence.split_once('/') {
        Some((t, st)) if token(t) && token(st) => essence,
        _ => "application/octet-stream".into(),
    }
}

/// One attachment with its content, for download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentFile {
    pub meta: AttachmentMeta,
    pub data: Vec<u8>,
}

/// A kasi's decision to show one attachment (name and file) to a bidang.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentShare {
    pub attachment_id: i64,
    pub bidang: BidangCode,
    /// Username of the kasi.
    pub shared_by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// A share to record, with its history line.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttachmentShare {
    pub complaint_id: i64,
    pub share: AttachmentShare,
    /// The complaint's history line for the share (no step, state unchanged).
    pub history: HistoryEntry,
    /// The audit entry, appended in the share's transaction.
    pub audit: Option<crate::audit::NewAuditEntry>,
}

/// Direction of a conversation message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub direction: Direction,
    pub at: DateTime<Utc>,
    pub text: String,
    /// Platform id (Message-ID, chat:message, mid, wamid); never shown.
    #[serde(skip)]
    pub external_id: Option<String>,
    /// The channel the message travelled on (a web complaint's e-mails: `email`; a
    /// status-page answer to an e-mail complaint: `web`).
    #[serde(skip)]
    pub channel: Channel,
}

/// A message to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The channel it came (or went) on; `(channel, external_id)` is unique. None = the
    /// complaint's own channel.
    pub channel: Option<Channel>,
    pub direction: Direction,
    pub at: DateTime<Utc>,
    pub text: String,
    /// Platform id (Message-ID, mid, wamid, chat:message); unique per channel when set.
    pub external_id: Option<String>,
}

/// What a reply is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    /// Automatic acknowledgement of a new complaint.
    Ack,
    /// The approved answer (follow-up action).
    Answer,
    /// An escalation notice to staff.
    Escalation,
    /// A question to the citizen (`ask`).
    Question,
    /// The notice that an unanswered question closed the complaint.
    Timeout,
    /// Thanks for a rating given by a chat message.
    RatingThanks,
}

impl ReplyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyKind::Ack => "ack",
            ReplyKind::Answer => "answer",
            ReplyKind::Escalation => "escalation",
            ReplyKind::Question => "question",
            ReplyKind::Timeout => "timeout",
            ReplyKind::RatingThanks => "rating_thanks",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ack" => Some(ReplyKind::Ack),
            "answer" => Some(ReplyKind::Answer),
            "escalation" => Some(ReplyKind::Escalation),
            "question" => Some(ReplyKind::Question),
            "timeout" => Some(ReplyKind::Timeout),
            "rating_thanks" => Some(ReplyKind::RatingThanks),
            _ => None,
        }
    }
}

/// A reply to put into the outbox. The text is rendered from `template` and `vars` (plus the
/// ticket number) when it is sent, so a queued row does not depend on its rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReply {
    pub kind: ReplyKind,
    /// Channel the reply leaves on (a web complaint's acknowledgement leaves by e-mail).
    pub channel: Channel,
    /// Address on that channel: e-mail address, chat id, PSID, WhatsApp id.
    pub recipient: String,
    pub template: String,
    pub vars: serde_json::Value,
    pub max_attempts: i32,
}

/// Delivery state of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyStatus {
    Pending,
    Sent,
    Failed,
}

impl ReplyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyStatus::Pending => "pending",
            ReplyStatus::Sent => "sent",
            ReplyStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(ReplyStatus::Pending),
            "sent" => Some(ReplyStatus::Sent),
            "failed" => Some(ReplyStatus::Failed),
            _ => None,
        }
    }
}

/// An outbox row as shown to staff.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplyView {
    pub kind: ReplyKind,
    pub channel: Channel,
    pub status: ReplyStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// When a pending reply is tried next (`None` once sent or failed).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A claimed outbox row, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub id: i64,
    pub complaint_id: i64,
    pub ticket: TicketNumber,
    pub kind: ReplyKind,
    pub channel: Channel,
    pub recipient: String,
    pub template: String,
    pub vars: serde_json::Value,
    pub attempts: i32,
    /// Stored for older rows; no longer the give-up rule ([`crate::outbox`]: `retry_for`).
    pub max_attempts: i32,
    /// When the reply was queued: it is retried until `retry_for` after this.
    pub queued_at: DateTime<Utc>,
    /// Identifies this lease; completion must present it.
    pub claim_token: String,
    /// Fixed when the reply was queued and the same on every send of it (SPEC §5: a reply
    /// resent after a crash is the same message). The e-mail sender's Message-ID is
    /// `<{reply_key}@{domain}>`.
    pub reply_key: String,
}

/// How a send attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyOutcome {
    Sent {
        external_id: Option<String>,
        at: DateTime<Utc>,
        /// The text that went out, as recorded in the conversation: with its secrets
        /// redacted ([`crate::secret::redact_secrets`]).
        text: String,
    },
    Retry {
        error: String,
        next_attempt_at: DateTime<Utc>,
    },
    Failed {
        error: String,
    },
}

/// A new complaint. The store assigns the ticket number within `ticket_month` atomically.
#[derive(Debug, Clone)]
pub struct NewComplaint {
    pub channel: Channel,
    /// The channel's own id of the first message; `(channel, external_id)` is unique.
    pub external_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub identity: Identity,
    pub category: Option<Category>,
    pub target: Option<String>,
    pub body: String,
    pub letter_number: Option<String>,
    pub attachments: Vec<NewAttachment>,
    /// Files to fetch from the platform after the commit, written with the complaint.
    pub media: Vec<crate::media::NewMediaJob>,
    pub access_code_hash: Option<String>,
    pub state: State,
    pub state_entered_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub history: Vec<HistoryEntry>,
    pub acks: Vec<NewReply>,
    pub ticket_prefix: TicketPrefix,
    /// (year, month) of receipt in the office time zone.
    pub ticket_month: (i32, u32),
    /// An intake cursor written in the same transaction (also on `Duplicate`).
    pub cursor: Option<Cursor>,
    /// An audit entry appended in the same transaction when the complaint is created (not
    /// on `Duplicate`); its ticket is set to the new ticket number.
    pub audit: Option<crate::audit::NewAuditEntry>,
    /// How replies join the citizen's conversation (their first message's thread).
    pub reply_thread: Option<ReplyThread>,
    /// The text's analysis for the monthly frequent-problem count
    /// ([`crate::problems::analyse`]), stored sealed; `None`: made from the text when the
    /// month is counted.
    pub analysis: Option<String>,
}

/// Result of [`Store::create_complaint`](crate::store::Store::create_complaint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created {
        id: i64,
        ticket: TicketNumber,
    },
    /// The `(channel, external_id)` was seen before: nothing was written.
    Duplicate {
        id: i64,
        ticket: TicketNumber,
    },
}

impl CreateOutcome {
    pub fn ticket(&self) -> &TicketNumber {
        match self {
            CreateOutcome::Created { ticket, .. } | CreateOutcome::Duplicate { ticket, .. } => {
                ticket
            }
        }
    }
}

/// A complaint as stored, with its conversation, history and replies.
#[derive(Debug, Clone)]
pub struct ComplaintRecord {
    pub id: i64,
    pub ticket: TicketNumber,
    pub channel: Channel,
    pub external_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub identity: Identity,
    pub category: Option<Category>,
    pub target: Option<String>,
    pub body: String,
    pub letter_number: Option<String>,
    pub state: State,
    pub state_entered_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub bidang: Option<BidangCode>,
    pub solution: Option<String>,
    pub answer: Option<String>,
    pub status: Option<Resolution>,
    pub close_reason: Option<String>,
    pub paraf_by: Option<String>,
    pub paraf_at: Option<DateTime<Utc>>,
    pub identity_shared_with: Vec<BidangCode>,
    /// Attachments shared one by one with a bidang, oldest first (filled by
    /// `get_complaint` only).
    pub attachment_shares: Vec<AttachmentShare>,
    pub access_code_hash: Option<String>,
    /// The open question while `waiting_citizen`.
    pub pause: Option<Pause>,
    /// Working seconds the running step ran before its pauses (added when it stops).
    pub carried_seconds: i64,
    /// The citizen's rating, once given.
    pub rating: Option<Rating>,
    /// When the answer (follow-up) was given; the chat rating window counts from it.
    pub answered_at: Option<DateTime<Utc>>,
    /// How replies join the citizen's conversation: the thread of their last inbound
    /// message that carried one (default when none did).
    pub reply_thread: ReplyThread,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub messages: Vec<Message>,
    pub history: Vec<HistoryEntry>,
    pub replies: Vec<ReplyView>,
    pub attachments: Vec<AttachmentMeta>,
}

/// A question to the citizen waiting for the answer (`waiting_citizen`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pause {
    /// The state the question was asked from (the answer returns there).
    pub asked_from: State,
    /// Working seconds left of that step's standard time when it was asked (negative when
    /// it was already overdue).
    pub remaining_seconds: i64,
    /// The question as staff wrote it.
    pub question: String,
}

/// Lowest and highest rating (SPEC §3: 1–5).
pub const RATING_RANGE: std::ops::RangeInclusive<u8> = 1..=5;

/// The citizen's rating of how the complaint was handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rating {
    /// 1 (very dissatisfied) to 5 (very satisfied).
    pub score: u8,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

/// Which complaints a queue shows.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub state: Option<State>,
    /// Only complaints routed to this bidang (bidang users).
    pub bidang: Option<BidangCode>,
    pub limit: Option<u32>,
}

/// One queue line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueItem {
    pub ticket: TicketNumber,
    pub channel: Channel,
    pub state: State,
    pub received_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub bidang: Option<BidangCode>,
}

/// A staff account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub username: Username,
    pub role: Role,
    pub bidang: Option<BidangCode>,
    pub display_name: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    #[serde(skip)]
    pub password_hash: Option<String>,
}

/// A staff account to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub role: Role,
    pub bidang: Option<BidangCode>,
    pub display_name: Option<String>,
    pub token_hash: String,
    pub password_hash: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Everything [`Store::save_transition`](crate::store::Store::save_transition) writes.
#[derive(Debug, Clone)]
pub struct TransitionWrite<'a> {
    pub complaint_id: i64,
    /// The complaint's `version` the transition was computed from.
    pub expected_version: i64,
    pub transition: &'a crate::workflow::Transition,
    /// Username for `paraf_by` when signing.
    pub actor: String,
    pub reply: Option<NewReply>,
    pub message: Option<NewMessage>,
    /// Files that came with `message` (a citizen's photo in a reply), stored as the
    /// complaint's attachments in the same transaction.
    pub attachments: Vec<NewAttachment>,
    /// Files of `message` to fetch from the platform after the commit, written in the same
    /// transaction.
    pub media: Vec<crate::media::NewMediaJob>,
    /// An intake cursor written in the same transaction.
    pub cursor: Option<Cursor>,
    /// The staff action's audit entry, appended in the same transaction.
    pub audit: Option<crate::audit::NewAuditEntry>,
}

/// A running step past its due time, not yet escalated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationCandidate {
    pub complaint_id: i64,
    pub ticket: TicketNumber,
    pub state: State,
    pub state_entered_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub bidang: Option<BidangCode>,
}

/// Workflow state of a monthly report (SOP steps 6–8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    /// Built; not yet delivered to the Kepala Dinas.
    Draft,
    /// The figures were delivered to the Kepala Dinas (step 6, first half); the Kasi's
    /// conclusion is awaited, and the decision clock runs.
    Submitted,
    /// The Kasi's conclusion on the frequent problems and their causes is recorded and
    /// delivered to the Kepala Dinas and the ISO coordinator (step 6 done): the Kepala Dinas
    /// may decide.
    Concluded,
    /// Kepala Dinas recorded the decision (step 7); the Kasi's receipt clock runs.
    Decided,
    /// Kasi received the logbook back (step 8).
    Received,
}

impl ReportState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::Draft => "draft",
            ReportState::Submitted => "submitted",
            ReportState::Concluded => "concluded",
            ReportState::Decided => "decided",
            ReportState::Received => "received",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(ReportState::Draft),
            "submitted" => Some(ReportState::Submitted),
            "concluded" => Some(ReportState::Concluded),
            "decided" => Some(ReportState::Decided),
            "received" => Some(ReportState::Received),
            _ => None,
        }
    }
}

/// A stored monthly report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRecord {
    pub month: String,
    pub state: ReportState,
    /// The figures (JSON of `report::MonthlyReport`).
    pub report_json: String,
    pub created_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub conclusion: Option<String>,
    pub conclusion_by: Option<String>,
    pub conclusion_at: Option<DateTime<Utc>>,
    pub decision: Option<String>,
    pub decision_by: Option<String>,
    pub decision_at: Option<DateTime<Utc>>,
    pub decide_due_at: Option<DateTime<Utc>>,
    pub received_by: Option<String>,
    pub received_at: Option<DateTime<Utc>>,
    pub receive_due_at: Option<DateTime<Utc>>,
    pub delivery_attempts: i32,
    pub last_error: Option<String>,
    /// Set when staff asked for the digest to be delivered again.
    pub resend_requested: bool,
    /// The risk-register entries of the conclusion (ISO 9001 risk input).
    pub risks: Vec<crate::report::RiskEntry>,
    /// The conclusion as last written still has to be mailed to the Kepala Dinas and the
    /// ISO coordinator.
    pub conclusion_pending: bool,
    pub conclusion_sent_at: Option<DateTime<Utc>>,
    pub conclusion_attempts: i32,
    pub conclusion_error: Option<String>,
}

/// One change to a monthly report, applied only from `expected` state.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportUpdate {
    /// Kasi's conclusion with its risk-register entries (JSON): draft and submitted →
    /// concluded once delivered (a draft keeps its state until the figures go out); may be
    /// rewritten until the decision. Each write is mailed again.
    Conclusion {
        text: String,
        risks_json: String,
        by: String,
        at: DateTime<Utc>,
    },
    /// The conclusion written at `written_at` was mailed.
    ConclusionDelivered {
        at: DateTime<Utc>,
        written_at: DateTime<Utc>,
    },
    /// A delivery attempt of the conclusion failed.
    ConclusionDeliveryFailed { error: String },
    /// Delivered to the recipients: draft → submitted (or a re-send done).
    Delivered {
        at: DateTime<Utc>,
        decide_due_at: DateTime<Utc>,
    },
    /// A delivery attempt failed.
    DeliveryFailed { error: String },
    /// Kadis decision: concluded → decided.
    Decision {
        text: String,
        by: String,
        at: DateTime<Utc>,
        receive_due_at: DateTime<Utc>,
    },
    /// Kasi receipt: decided → received.
    Receipt { by: String, at: DateTime<Utc> },
    /// Staff asked to deliver the digest again.
    RequestResend,
}

/// A channel's intake position, committed in the same transaction as the write it belongs
/// to: `key` names the source (`imap:<account>/<mailbox>`, `telegram:offset`), `value` the
/// position (`UIDVALIDITY:UID`, the next update id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub key: String,
    pub value: String,
}

impl Cursor {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Cursor {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// How a reply joins the citizen's conversation on its platform. Stored with the outbox row
/// (as template variables `subject`, `in_reply_to`, `references`, `reply_to_message_id`)
/// and read back by the platform's sender with [`ReplyThread::from_vars`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyThread {
    /// E-mail: the subject of the message answered.
    pub subject: Option<String>,
    /// E-mail: the Message-ID answered.
    pub in_reply_to: Option<String>,
    /// E-mail: the References chain, ending with `in_reply_to`.
    pub references: Vec<String>,
    /// Telegram: the message the reply quotes.
    pub reply_to_message_id: Option<i64>,
}

impl ReplyThread {
    /// Write the thread into a reply's variables (nothing for absent parts).
    pub fn write_vars(&self, vars: &mut serde_json::Value) {
        let Some(obj) = vars.as_object_mut() else {
            return;
        };
        if let Some(s) = &self.subject {
            obj.insert("subject".into(), s.clone().into());
        }
        if let Some(id) = &self.in_reply_to {
            obj.insert("in_reply_to".into(), id.clone().into());
        }
        if !self.references.is_empty() {
            obj.insert("references".into(), self.references.clone().into());
        }
        if let Some(m) = self.reply_to_message_id {
            obj.insert("reply_to_message_id".into(), m.into());
        }
    }

    /// Read the thread back from a reply's variables (unknown or mistyped parts: absent).
    pub fn from_vars(vars: &serde_json::Value) -> Self {
        let text = |k: &str| vars.get(k).and_then(|v| v.as_str()).map(str::to_string);
        ReplyThread {
            subject: text("subject"),
            in_reply_to: text("in_reply_to"),
            references: vars
                .get("references")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            reply_to_message_id: vars.get("reply_to_message_id").and_then(|v| v.as_i64()),
        }
    }
}

/// Where a channel wants a complaint's acknowledgement to go: the platform, the recipient
/// on it (e-mail address, chat id, PSID …) and how the reply threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckRoute {
    pub channel: Channel,
    pub recipient: String,
    pub thread: ReplyThread,
}
