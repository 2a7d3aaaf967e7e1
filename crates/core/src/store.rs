//! The storage seam. One trait, implemented for SQLite and PostgreSQL in `aduan-store`;
//! every method is one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::model::*;
use crate::types::{TicketNumber, Username};

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

impl StoreError {
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Conflict)
    }
}

/// Persistent state of aduan.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// Apply pending migrations (safe to run concurrently from several replicas).
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Cheap reachability check for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Number and insert a complaint with its first message, attachments, history and
    /// acknowledgements, atomically. Redelivery of the same `(channel, external_id)` writes
    /// nothing and returns `Duplicate`.
    async fn create_complaint(&self, c: NewComplaint) -> Result<CreateOutcome, StoreError>;
    /// The whole complaint, or None.
    async fn get_complaint(
        &self,
        ticket: &TicketNumber,
    ) -> Result<Option<ComplaintRecord>, StoreError>;
    /// Persist a workflow transition with its history line, optional reply and optional
    /// message, if the complaint's version is still `expected_version` (else `Conflict`).
    async fn save_transition(&self, w: TransitionWrite<'_>) -> Result<(), StoreError>;
    /// Queue lines, ordered by due time (open) then receipt.
    async fn queue(&self, filter: &QueueFilter) -> Result<Vec<QueueItem>, StoreError>;
    /// Complaints received in `[from, to)`, without conversation, ordered by receipt.
    async fn complaints_received_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ComplaintRecord>, StoreError>;

    async fn create_user(&self, u: NewUser) -> Result<i64, StoreError>;
    /// An enabled user by API token hash.
    async fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>, StoreError>;
    async fn user_by_name(&self, username: &Username) -> Result<Option<User>, StoreError>;
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// Returns false when no such user exists.
    async fn disable_user(&self, username: &Username) -> Result<bool, StoreError>;

    /// Lease up to `limit` due pending replies for `lease`; rows leased by another worker
    /// whose lease has not expired are skipped.
    async fn claim_replies(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError>;
    /// Record the outcome of a send. Ignored (returns false) when the lease was lost.
    async fn complete_reply(
        &self,
        item: &OutboxItem,
        outcome: ReplyOutcome,
    ) -> Result<bool, StoreError>;
    /// Earliest `next_attempt_at` of a pending reply (for the worker's sleep).
    async fn next_reply_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
}
