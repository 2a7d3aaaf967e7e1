//! The storage seam: role traits ([`IntakeStore`], [`WorkflowStore`], [`AttachmentStore`],
//! [`OutboxStore`], [`UserStore`], [`ReportStore`], [`LeaseStore`], [`AuditStore`],
//! [`MediaStore`], [`SessionStore`]) that
//! [`Store`] combines, implemented for
//! SQLite and PostgreSQL in `aduan-store`; every method is one transaction. Services name
//! the roles they use; only the desk holds the whole store. `use aduan_core::store::prelude::*`
//! brings every role into scope (methods of a supertrait need it).

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::audit::{AuditEntry, AuditQuery, NewAuditEntry};
use crate::media::{MediaJob, MediaJobStatus, MediaOutcome, NewMediaJob};
use crate::model::*;
use crate::types::{Channel, TicketNumber, Username};
use crate::workflow::HistoryEntry;

/// Storage failures, split so callers can decide between retry and refusal.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is unreachable, busy or timed out: retry later (HTTP 503).
    #[error("storage temporarily unavailable: {0}")]
    Unavailable(String),
    /// The row changed since it was read (optimistic concurrency): reload and retry.
    #[error("concurrent update")]
    Conflict,
    /// A uniqueness rule was violated (e.g. username taken).
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// Stored data could not be parsed back into domain types.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("storage error: {0}")]
    Other(String),
}

/// How an [`StoreError::Unavailable`] message starts when the database's storage is full
/// (disk full, or SQLite's page limit reached).
pub const STORAGE_FULL: &str = "storage full";
/// How an [`StoreError::Unavailable`] message starts when the storage failed to read or
/// write (an I/O error under SQLite).
pub const STORAGE_IO: &str = "storage I/O error";

impl StoreError {
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Conflict)
    }

    /// The storage under the database is full or failing (retry once space returns).
    pub fn is_storage_full(&self) -> bool {
        matches!(self, StoreError::Unavailable(m)
            if m.starts_with(STORAGE_FULL) || m.starts_with(STORAGE_IO))
    }
}

/// Persistent state of aduan: every role below, plus migrations and a health check. The
/// daemon holds one `Arc<dyn Store>`; services take only the roles they use.
#[async_trait]
pub trait Store:
    IntakeStore
    + WorkflowStore
    + AttachmentStore
    + OutboxStore
    + UserStore
    + ReportStore
    + LeaseStore
    + AuditStore
    + MediaStore
    + SessionStore
    + Send
    + Sync
    + 'static
{
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Apply pending migrations (safe to run concurrently from several replicas), then seal
    /// the identities of rows written before identity at rest, if any, and check that the
    /// store's key ring opens the stored data (`Corrupt` naming the row when it does not).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// One batch of a key rotation (`aduan keys rotate`): re-seal stored identities, texts
    /// and attachments not sealed under the current key of the store's key ring and
    /// recompute their keyed hashes. Returns the table worked on and the rows re-sealed, or
    /// None when a full pass is complete. Resumable: an interrupted pass continues where its
    /// last batch committed.
    async fn rotate_keys_step(&self) -> Result<Option<(&'static str, u64)>, StoreError>;

    /// Cheap reachability check for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The wake-ups this store signals after commits that queue replies or set due times
    /// (and, on PostgreSQL, when another replica's commit did: the first call starts
    /// listening for their notifications). For the outbox worker and the SLA timer.
    fn wakeups(&self) -> std::sync::Arc<crate::wake::Wakeups>;
}

/// Intake: numbering and inserting complaints, deduplication, the channels' cursors and
/// threading look-ups.
#[async_trait]
pub trait IntakeStore: Send + Sync {
    /// Number and insert a complaint with its first message, attachments, history,
    /// acknowledgements and intake cursor (`c.cursor`), atomically. Redelivery of the same
    /// `(channel, external_id)` writes nothing but the cursor and returns `Duplicate`.
    async fn create_complaint(&self, c: NewComplaint) -> Result<CreateOutcome, StoreError>;

    /// The tickets of the complaints holding a message with one of these external ids (any
    /// channel, inbound or outbound; outbound ids are the replies' platform ids, also matched
    /// on the outbox), or an inbound e-mail stored as `msgid:<id>`: newest complaint first,
    /// at most `limit`. These are candidates only: whoever threads onto one must check that
    /// the sender is that complaint's complainant (ids can be forged).
    async fn tickets_by_message_ids(
        &self,
        ids: &[String],
        limit: u32,
    ) -> Result<Vec<TicketNumber>, StoreError>;

    /// The newest complaint of `channel` + `handle` that is not closed.
    async fn open_ticket_for_handle(
        &self,
        channel: Channel,
        handle: &str,
    ) -> Result<Option<TicketNumber>, StoreError>;

    /// The complaints that are not closed and have an acknowledgement on `channel` to one
    /// of `recipients` (case-insensitive, by keyed hash): newest complaint first, at most
    /// `limit`. Candidates only, like [`tickets_by_message_ids`](Self::tickets_by_message_ids):
    /// whoever threads onto one checks that the sender is its complainant.
    async fn open_tickets_acknowledged_to(
        &self,
        channel: Channel,
        recipients: &[String],
        limit: u32,
    ) -> Result<Vec<TicketNumber>, StoreError>;

    /// The newest complaint of `channel` + `handle` that is closed, was answered at or
    /// after `answered_since` and is not rated yet (a chat rating's complaint).
    async fn rateable_ticket_for_handle(
        &self,
        channel: Channel,
        handle: &str,
        answered_since: DateTime<Utc>,
    ) -> Result<Option<TicketNumber>, StoreError>;

    /// The ticket holding the message `(channel, external_id)` (or created from it), if
    /// stored.
    async fn ticket_by_external_id(
        &self,
        channel: Channel,
        external_id: &str,
    ) -> Result<Option<TicketNumber>, StoreError>;

    /// The stored value of an intake cursor.
    async fn get_cursor(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Write an intake cursor alone (insert or overwrite).
    async fn set_cursor(&self, key: &str, value: &str) -> Result<(), StoreError>;

    /// Acknowledgement rows (any status) to `recipient` (case-insensitive) on `channel`
    /// created at or after `since`.
    async fn count_acks_since(
        &self,
        channel: Channel,
        recipient: &str,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError>;

    /// Time of the newest inbound message of a complaint.
    async fn last_inbound_at(
        &self,
        ticket: &TicketNumber,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// The staff workflow: reading complaints, persisting transitions, the queue and SLA
/// escalations.
#[async_trait]
pub trait WorkflowStore: Send + Sync {
    /// The whole complaint, or None.
    async fn get_complaint(
        &self,
        ticket: &TicketNumber,
    ) -> Result<Option<ComplaintRecord>, StoreError>;

    /// Persist a workflow transition with its history line, optional reply, optional
    /// message, optional audit entry and optional intake cursor, if the complaint's version is still
    /// `expected_version` (else `Conflict`). When the message's `(channel, external_id)` is
    /// already stored (channel: the message's, else the complaint's), nothing is written
    /// and the error is `AlreadyExists` (a redelivery).
    async fn save_transition(&self, w: TransitionWrite<'_>) -> Result<(), StoreError>;

    /// Queue lines, ordered by due time (open) then receipt.
    async fn queue(&self, filter: &QueueFilter) -> Result<Vec<QueueItem>, StoreError>;

    /// Complaints in `waiting_citizen` whose wait ended at or before `now` (due time),
    /// earliest first, at most `limit`.
    async fn due_waits(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TicketNumber>, StoreError>;

    /// Open complaints whose running step is past due at `now` and not yet escalated (a
    /// `waiting_citizen` complaint has no running step), earliest due first, at most
    /// `limit`.
    async fn due_escalations(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<EscalationCandidate>, StoreError>;

    /// Record the escalation of one step exactly once: only when the complaint is still in the
    /// step that started at `state_entered_at` and that step was not escalated yet. Writes the
    /// history line and the notices in the same transaction. Returns false when another
    /// replica (or a state change) got there first.
    async fn record_escalation(
        &self,
        complaint_id: i64,
        state_entered_at: DateTime<Utc>,
        history: &HistoryEntry,
        notices: Vec<NewReply>,
    ) -> Result<bool, StoreError>;

    /// When the SLA timer has work next: the earliest due time of a running, not yet
    /// escalated step, or of a question's wait.
    async fn next_escalation_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// Attachments: their content for download, and their shares with a bidang (the shares are
/// also read back with [`WorkflowStore::get_complaint`]).
#[async_trait]
pub trait AttachmentStore: Send + Sync {
    /// Attachment `id` of the complaint `ticket` with its content; None when the complaint
    /// has no attachment with that id (also when the id belongs to another complaint).
    async fn attachment_file(
        &self,
        ticket: &TicketNumber,
        id: i64,
    ) -> Result<Option<AttachmentFile>, StoreError>;

    /// Record a share of one attachment with its history line, in one transaction. Returns
    /// false (and writes nothing) when the attachment is not one of that complaint's.
    /// Every share is kept (a repeated share with another reason is a new row).
    async fn share_attachment(&self, share: NewAttachmentShare) -> Result<bool, StoreError>;

    /// The shares of a complaint's attachments, oldest first.
    async fn attachment_shares(
        &self,
        complaint_id: i64,
    ) -> Result<Vec<AttachmentShare>, StoreError>;
}

/// The outbox of replies: leased claims, outcomes, failures reported by the platforms.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Lease up to `limit` due pending replies for `lease`; rows leased by another worker
    /// whose lease has not expired are skipped.
    async fn claim_replies(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError>;

    /// Record the outcome of a send. Ignored (returns false) when the lease was lost. When
    /// the outcome is final (sent or failed) the row's variables lose their secrets
    /// ([`crate::secret::without_secret_vars`]): an access code is not kept once the
    /// acknowledgement left.
    async fn complete_reply(
        &self,
        item: &OutboxItem,
        outcome: ReplyOutcome,
    ) -> Result<bool, StoreError>;

    /// Earliest `next_attempt_at` of a pending reply (for the worker's sleep).
    async fn next_reply_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// The complaints received at or after `received_from` with at least one failed reply,
    /// newest first, at most `limit`: their tickets and channels. Found from the failed
    /// outbox rows, so the work grows with the failures, not with the complaints.
    async fn failed_reply_complaints(
        &self,
        received_from: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(TicketNumber, Channel)>, StoreError>;

    /// Mark the outbox row whose sent message has this external id as failed (also when it
    /// was sent: a bounce arrives later). Returns whether a row matched.
    async fn fail_reply_by_external_id(
        &self,
        external_id: &str,
        error: &str,
    ) -> Result<bool, StoreError>;
}

/// Staff accounts.
#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, u: NewUser) -> Result<i64, StoreError>;

    /// An enabled user by API token hash.
    async fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>, StoreError>;

    async fn user_by_name(&self, username: &Username) -> Result<Option<User>, StoreError>;

    async fn list_users(&self) -> Result<Vec<User>, StoreError>;

    /// Returns false when no such user exists.
    async fn disable_user(&self, username: &Username) -> Result<bool, StoreError>;
}

/// The monthly report (SOP steps 6-8) and the figures it is computed from.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Complaints received in `[from, to)`, without conversation, ordered by receipt.
    async fn complaints_received_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ComplaintRecord>, StoreError>;

    /// One page of the complaints received in `[from, to)` in receipt order
    /// (`received_at`, `id`): at most `limit` after `after` (from the start when `None`).
    /// With history and identity shares when `full`, else the complaint rows only.
    async fn complaints_page(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<crate::logbook::PageKey>,
        limit: u32,
        full: bool,
    ) -> Result<Vec<ComplaintRecord>, StoreError>;

    /// The figures of the complaints received in `[from, to)`, aggregated by the database
    /// (ages of the open backlog at `to`).
    async fn month_aggregates(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<crate::report::MonthAggregates, StoreError>;

    /// One page of the complaints received in `[from, to)` as the frequent-problem count
    /// reads them, in receipt order (at most `limit` after `after`): ticket, category,
    /// bidang and the stored analysis, opened (`None`: stored without one).
    async fn analyses_page(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<crate::logbook::PageKey>,
        limit: u32,
    ) -> Result<Vec<crate::report::AnalysisRow>, StoreError>;

    /// Number of complaints received in `[from, to)`.
    async fn count_received_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<i64, StoreError>;

    /// The stored report of `month` (`"YYYY-MM"`).
    async fn get_report(&self, month: &str) -> Result<Option<ReportRecord>, StoreError>;

    /// Insert the month's report as `draft` unless it exists. Returns whether this call
    /// created it (exactly one caller among replicas does).
    async fn create_report(
        &self,
        month: &str,
        report_json: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Apply a report step if the report is in a state the step applies in, else
    /// `Conflict`: a conclusion in `draft`, `submitted` or `concluded` (moving `submitted` to
    /// `concluded`), a decision from `concluded`, a receipt from `decided`; deliveries
    /// (success or failure, of the figures or of the conclusion) and re-send requests in any
    /// state. A delivery moves a `draft` to `submitted` (`concluded` when the Kasi concluded
    /// already) and clears the re-send request and the delivery lease. No report for `month` is `Other`. Without an audit entry; see
    /// [`ReportStore::update_report_audited`].
    async fn update_report(&self, month: &str, update: ReportUpdate) -> Result<(), StoreError> {
        self.update_report_audited(month, update, None).await
    }

    /// [`ReportStore::update_report`] with an audit entry appended in the same transaction
    /// (nothing of either is written when the step is refused).
    async fn update_report_audited(
        &self,
        month: &str,
        update: ReportUpdate,
        audit: Option<NewAuditEntry>,
    ) -> Result<(), StoreError>;

    /// Lease the delivery of a report (state draft, or a re-send request) until `until`;
    /// false when there is nothing to deliver or another lease is live at `now`.
    async fn claim_report_delivery(
        &self,
        month: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Lease the mail of the Kasi's conclusion until `until`: false when none is pending,
    /// the figures have not been delivered yet (SOP order), or another lease is live at `now`.
    async fn claim_conclusion_delivery(
        &self,
        month: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// Named leases among replicas (the mailbox reader, the Telegram poller).
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Take or renew the named lease for `holder` until `until`; false when another holder's
    /// lease is still live at `now`.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Drop the named lease if `holder` holds it (another holder's lease is left alone).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}

/// The hash-chained audit log (see [`crate::audit`]): one chain across replicas.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Append one entry at the head of the chain: its id (`last id + 1`) and `prev_hash`
    /// are taken inside the appending transaction, under a lock that serializes appends of
    /// every replica (PostgreSQL: an advisory lock; SQLite: the write lock). Returns the
    /// entry as stored.
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError>;

    /// Entries matching `query` (ticket and/or time range, after an id), oldest first, at
    /// most `query.limit` (capped at [`crate::audit::MAX_LIST`]).
    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;

    /// The chain in id order: up to `limit` entries with an id greater than `after_id`
    /// (`i64::MIN` = from the very start). Verification reads the whole chain in such
    /// batches.
    async fn audit_chain(&self, after_id: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Media jobs (files of chat messages fetched after the commit, see [`crate::media`]) and
/// the once-only notices that tell a citizen why a message is not a complaint.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Lease up to `limit` due pending jobs of `channels` until `now + lease`; jobs leased by
    /// another worker whose lease has not expired are skipped (a worker that died loses its
    /// lease when it runs out, and the job is claimed again).
    async fn claim_media(
        &self,
        channels: &[Channel],
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<MediaJob>, StoreError>;

    /// Record an attempt if `job`'s lease is still held (else false, nothing written), in
    /// one transaction: `Stored` inserts the attachment (sealed) and marks the job done;
    /// `Failed` marks it failed and appends its note to the complaint's history; `Retry`
    /// makes it due again. A final outcome drops the platform reference from the row.
    async fn complete_media(
        &self,
        job: &MediaJob,
        outcome: MediaOutcome,
    ) -> Result<bool, StoreError>;

    /// When a pending job of `channels` becomes claimable next (due, or its lease runs out).
    async fn next_media_due(
        &self,
        channels: &[Channel],
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Add files to a complaint without a message (the later files of an album), with the
    /// intake cursor, in one transaction; the jobs are due at `now`. False when a job's key
    /// is stored already (a redelivery): then only the cursor is written.
    async fn add_media(
        &self,
        complaint_id: i64,
        channel: Channel,
        jobs: Vec<NewMediaJob>,
        now: DateTime<Utc>,
        cursor: Option<Cursor>,
    ) -> Result<bool, StoreError>;

    /// The newest complaint holding a file of this album (`NewMediaJob::album`).
    async fn ticket_for_album(
        &self,
        channel: Channel,
        album: &str,
    ) -> Result<Option<TicketNumber>, StoreError>;

    /// The media jobs of a complaint, oldest first.
    async fn media_of_complaint(
        &self,
        complaint_id: i64,
    ) -> Result<Vec<MediaJobStatus>, StoreError>;

    /// Note that the citizen is told why the message `(channel, external_id)` is not a
    /// complaint, with the intake cursor: true the first time, false for a redelivery (the
    /// cursor is written either way). The id is kept as a keyed hash.
    async fn record_notice(
        &self,
        channel: Channel,
        external_id: &str,
        reason: &str,
        at: DateTime<Utc>,
        cursor: Option<Cursor>,
    ) -> Result<bool, StoreError>;
}

/// Login sessions of the admin pages and the login form's single-use tokens, shared by
/// every replica (so a logout holds on all of them and across restarts).
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Record session `id` (the random nonce of its cookie) of `username`, valid until
    /// `expires_at`. Sessions and login tokens expired at `now` are pruned in the same
    /// transaction.
    async fn create_session(
        &self,
        id: &str,
        username: &Username,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Is session `id` recorded, not revoked and not expired at `now`? One primary-key
    /// look-up.
    async fn session_live(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Revoke session `id` at `at` (logout); false when it is unknown or already revoked.
    async fn revoke_session(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Revoke every session of `username` not yet revoked (logout-all); how many.
    async fn revoke_user_sessions(
        &self,
        username: &Username,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Set the admin password hash of `username` and revoke all its sessions, in one
    /// transaction. None when there is no such user, else the number of sessions revoked.
    async fn change_password(
        &self,
        username: &Username,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError>;

    /// Spend login-form token `nonce` (valid until `expires_at`): true the first time on any
    /// replica, false for every replay. Tokens expired at `now` are pruned.
    async fn consume_login_token(
        &self,
        nonce: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// Every role trait, for `use aduan_core::store::prelude::*`.
pub mod prelude {
    pub use super::{
        AttachmentStore, AuditStore, IntakeStore, LeaseStore, MediaStore, OutboxStore, ReportStore,
        SessionStore, Store, StoreError, UserStore, WorkflowStore,
    };
}
