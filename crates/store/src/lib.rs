//! aduan-store: the [`Store`] trait of `aduan-core` on SQLite and PostgreSQL.
//!
//! [`connect`] picks the backend from the URL scheme and returns an `Arc<dyn Store>`; call
//! [`Store::migrate`] before use.
//!
//! # Layout
//! - `backend` (private): the `Backend` trait each driver implements (connections,
//!   transactions, running statements with bound parameters) plus the few backend-specific
//!   SQL pieces. Everything else is written once, generic over it, with the same
//!   `$1, $2, …` SQL text for both drivers: `create` (numbering and inserting complaints),
//!   `complaints` (reads, transitions, queue), `attachments` (writing and reading an
//!   attachment's name and bytes, downloads by ticket and id, shares with a bidang), `intake` (cursors, threading lookups, bounces,
//!   the acknowledgement cap, leases), `escalation` (SLA escalation exactly once per step),
//!   `reports` (the monthly report's steps), `media` (media jobs fetched after the
//!   commit, and once-only notices), `audit` (the hash-chained audit log, appended
//!   inside the transaction of the write it records), `users`, `sessions` (admin login
//!   sessions and single-use login tokens), `outbox`, `rows` (row → record
//!   mapping), `migrate` (embedded migrations from `migrations/{sqlite,postgres}/`) and
//!   `group` (group commit of creates, used by SQLite).
//! - [`sqlite`] / [`postgres`]: the two stores, [`SqliteStore`] and [`PostgresStore`], with
//!   their connection layout and durability notes.
//! - [`copy`]: copying a whole installation into another, empty database (`aduan
//!   migrate-store`), with its verification.
//! - [`testing`]: fresh databases for tests (PostgreSQL is required, never skipped).
//!
//! # Invariants
//! - Every trait method is one transaction (or one autocommit statement). An intake cursor
//!   carried by a create or a transition is written in that transaction.
//! - Instants are stored as BIGINT unix milliseconds (UTC) on both backends, so they read
//!   back truncated to the millisecond; JSON is stored as TEXT.
//! - Stored strings are re-parsed into domain types on read; unparsable data is
//!   [`StoreError::Corrupt`], never a panic.
//! - Errors: unreachable/busy/timed-out databases are [`StoreError::Unavailable`] (retry),
//!   stale versions [`StoreError::Conflict`], uniqueness [`StoreError::AlreadyExists`].

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use aduan_core::audit::{AuditEntry, AuditQuery, NewAuditEntry};
use aduan_core::media::{MediaJob, MediaJobStatus, MediaOutcome, NewMediaJob};
use aduan_core::model::{
    AttachmentFile, AttachmentShare, ComplaintRecord, CreateOutcome, Cursor, EscalationCandidate,
    NewAttachmentShare, NewComplaint, NewReply, NewUser, OutboxItem, QueueFilter, QueueItem,
    ReplyOutcome, ReportRecord, ReportUpdate, TransitionWrite, User,
};
use aduan_core::store::prelude::*;
use aduan_core::types::{Channel, TicketNumber, Username};
use aduan_core::workflow::HistoryEntry;

mod attachments;
mod audit;
mod backend;
mod complaints;
pub mod copy;
mod create;
mod escalation;
#[cfg(feature = "testing")]
mod fault;
mod group;
mod intake;
mod media;
mod migrate;
mod month;
mod nodelay;
mod outbox;
pub mod postgres;
mod reports;
mod reseal;
mod rows;
mod sessions;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
mod users;
pub mod vault;
mod wake;

use backend::Backend;
pub use migrate::Migration;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use vault::{Key, KeyError, KeyRing, Vault};

/// Open a store for `url`, sealing identity at rest with `vault`: `sqlite:…` (see [`SqliteStore::open`]) or `postgres://…` /
/// `postgresql://…` (see [`PostgresStore::connect`]). Does not migrate.
///
/// Any other scheme is [`StoreError::Other`] naming the scheme.
pub async fn connect(url: &str, vault: Vault) -> Result<Arc<dyn Store>, StoreError> {
    let scheme = url.split_once(':').map_or("", |(s, _)| s);
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => Ok(Arc::new(SqliteStore::open(url, vault).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PostgresStore::connect(url, vault).await?)),
        "" => Err(StoreError::Other(
            "database URL has no scheme; expected sqlite:… or postgres://…".into(),
        )),
        other => Err(StoreError::Other(format!(
            "unsupported database URL scheme `{other}`; expected sqlite:… or postgres://…"
        ))),
    }
}

/// Implement [`Store`] for a store whose `db` field is a [`Backend`], by delegating to the
/// shared generic operations (`create_complaint` goes through the store's own method).
macro_rules! impl_store {
    ($store:ty, $backend:ty) => {
        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                <$backend as Backend>::NAME
            }

            async fn migrate(&self) -> Result<(), StoreError> {
                migrate::run(&self.db).await?;
                reseal::upgrade(&self.db).await?;
                reseal::check_key(&self.db).await
            }

            async fn rotate_keys_step(&self) -> Result<Option<(&'static str, u64)>, StoreError> {
                reseal::rotate_step(&self.db).await
            }

            async fn ping(&self) -> Result<(), StoreError> {
                <$backend as Backend>::ping(&self.db).await
            }

            fn wakeups(&self) -> Arc<aduan_core::wake::Wakeups> {
                self.worker_wakeups()
            }
        }

        #[async_trait]
        impl IntakeStore for $store {
            async fn create_complaint(&self, c: NewComplaint) -> Result<CreateOutcome, StoreError> {
                self.insert_complaint(c).await
            }

            async fn tickets_by_message_ids(
                &self,
                ids: &[String],
                limit: u32,
            ) -> Result<Vec<TicketNumber>, StoreError> {
                intake::tickets_by_message_ids(&self.db, ids, limit).await
            }

            async fn open_ticket_for_handle(
                &self,
                channel: Channel,
                handle: &str,
            ) -> Result<Option<TicketNumber>, StoreError> {
                intake::open_ticket_for_handle(&self.db, channel, handle).await
            }

            async fn open_tickets_acknowledged_to(
                &self,
                channel: Channel,
                recipients: &[String],
                limit: u32,
            ) -> Result<Vec<TicketNumber>, StoreError> {
                intake::open_tickets_acknowledged_to(&self.db, channel, recipients, limit).await
            }

            async fn rateable_ticket_for_handle(
                &self,
                channel: Channel,
                handle: &str,
                answered_since: DateTime<Utc>,
            ) -> Result<Option<TicketNumber>, StoreError> {
                intake::rateable_ticket_for_handle(&self.db, channel, handle, answered_since).await
            }

            async fn ticket_by_external_id(
                &self,
                channel: Channel,
                external_id: &str,
            ) -> Result<Option<TicketNumber>, StoreError> {
                intake::ticket_by_external_id(&self.db, channel, external_id).await
            }

            async fn get_cursor(&self, key: &str) -> Result<Option<String>, StoreError> {
                intake::get_cursor(&self.db, key).await
            }

            async fn set_cursor(&self, key: &str, value: &str) -> Result<(), StoreError> {
                intake::set_cursor(&self.db, key, value).await
            }

            async fn count_acks_since(
                &self,
                channel: Channel,
                recipient: &str,
                since: DateTime<Utc>,
            ) -> Result<i64, StoreError> {
                intake::count_acks_since(&self.db, channel, recipient, since).await
            }

            async fn last_inbound_at(
                &self,
                ticket: &TicketNumber,
            ) -> Result<Option<DateTime<Utc>>, StoreError> {
                intake::last_inbound_at(&self.db, ticket).await
            }
        }

        #[async_trait]
        impl WorkflowStore for $store {
            async fn get_complaint(
                &self,
                ticket: &TicketNumber,
            ) -> Result<Option<ComplaintRecord>, StoreError> {
                complaints::get(&self.db, ticket).await
            }

            async fn save_transition(&self, w: TransitionWrite<'_>) -> Result<(), StoreError> {
                complaints::save_transition(&self.db, w).await
            }

            async fn queue(&self, filter: &QueueFilter) -> Result<Vec<QueueItem>, StoreError> {
                complaints::queue(&self.db, filter).await
            }

            async fn due_waits(
                &self,
                now: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<TicketNumber>, StoreError> {
                escalation::waits_due(&self.db, now, limit).await
            }

            async fn due_escalations(
                &self,
                now: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<EscalationCandidate>, StoreError> {
                escalation::due(&self.db, now, limit).await
            }

            async fn record_escalation(
                &self,
                complaint_id: i64,
                state_entered_at: DateTime<Utc>,
                history: &HistoryEntry,
                notices: Vec<NewReply>,
            ) -> Result<bool, StoreError> {
                escalation::record(&self.db, complaint_id, state_entered_at, history, notices).await
            }

            async fn next_escalation_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
                escalation::next_due(&self.db).await
            }
        }

        #[async_trait]
        impl AttachmentStore for $store {
            async fn attachment_file(
                &self,
                ticket: &TicketNumber,
                id: i64,
            ) -> Result<Option<AttachmentFile>, StoreError> {
                attachments::file(&self.db, ticket, id).await
            }

            async fn share_attachment(
                &self,
                share: NewAttachmentShare,
            ) -> Result<bool, StoreError> {
                attachments::share(&self.db, share).await
            }

            async fn attachment_shares(
                &self,
                complaint_id: i64,
            ) -> Result<Vec<AttachmentShare>, StoreError> {
                attachments::shares(&self.db, complaint_id).await
            }
        }

        #[async_trait]
        impl OutboxStore for $store {
            async fn claim_replies(
                &self,
                now: DateTime<Utc>,
                lease: Duration,
                limit: u32,
            ) -> Result<Vec<OutboxItem>, StoreError> {
                outbox::claim(&self.db, now, lease, limit).await
            }

            async fn complete_reply(
                &self,
                item: &OutboxItem,
                outcome: ReplyOutcome,
            ) -> Result<bool, StoreError> {
                outbox::complete(&self.db, item, outcome).await
            }

            async fn next_reply_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
                outbox::next_due(&self.db).await
            }

            async fn failed_reply_complaints(
                &self,
                received_from: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<(TicketNumber, Channel)>, StoreError> {
                outbox::failed_complaints(&self.db, received_from, limit).await
            }

            async fn fail_reply_by_external_id(
                &self,
                external_id: &str,
                error: &str,
            ) -> Result<bool, StoreError> {
                intake::fail_reply_by_external_id(&self.db, external_id, error).await
            }
        }

        #[async_trait]
        impl UserStore for $store {
            async fn create_user(&self, u: NewUser) -> Result<i64, StoreError> {
                users::create(&self.db, u).await
            }

            async fn user_by_token_hash(
                &self,
                token_hash: &str,
            ) -> Result<Option<User>, StoreError> {
                users::by_token_hash(&self.db, token_hash).await
            }

            async fn user_by_name(&self, username: &Username) -> Result<Option<User>, StoreError> {
                users::by_name(&self.db, username).await
            }

            async fn list_users(&self) -> Result<Vec<User>, StoreError> {
                users::list(&self.db).await
            }

            async fn disable_user(&self, username: &Username) -> Result<bool, StoreError> {
                users::disable(&self.db, username).await
            }
        }

        #[async_trait]
        impl ReportStore for $store {
            async fn complaints_received_between(
                &self,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> Result<Vec<ComplaintRecord>, StoreError> {
                complaints::received_between(&self.db, from, to).await
            }

            async fn complaints_page(
                &self,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
                after: Option<aduan_core::logbook::PageKey>,
                limit: u32,
                full: bool,
            ) -> Result<Vec<ComplaintRecord>, StoreError> {
                month::page(&self.db, from, to, after, limit, full).await
            }

            async fn month_aggregates(
                &self,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> Result<aduan_core::report::MonthAggregates, StoreError> {
                month::aggregates(&self.db, from, to).await
            }

            async fn analyses_page(
                &self,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
                after: Option<aduan_core::logbook::PageKey>,
                limit: u32,
            ) -> Result<Vec<aduan_core::report::AnalysisRow>, StoreError> {
                month::analyses_page(&self.db, from, to, after, limit).await
            }

            async fn count_received_between(
                &self,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> Result<i64, StoreError> {
                reports::count_received_between(&self.db, from, to).await
            }

            async fn get_report(&self, month: &str) -> Result<Option<ReportRecord>, StoreError> {
                reports::get(&self.db, month).await
            }

            async fn create_report(
                &self,
                month: &str,
                report_json: &str,
                at: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                reports::create(&self.db, month, report_json, at).await
            }

            async fn update_report_audited(
                &self,
                month: &str,
                update: ReportUpdate,
                audit: Option<NewAuditEntry>,
            ) -> Result<(), StoreError> {
                reports::update(&self.db, month, update, audit).await
            }

            async fn claim_report_delivery(
                &self,
                month: &str,
                now: DateTime<Utc>,
                until: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                reports::claim_delivery(&self.db, month, now, until).await
            }

            async fn claim_conclusion_delivery(
                &self,
                month: &str,
                now: DateTime<Utc>,
                until: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                reports::claim_conclusion(&self.db, month, now, until).await
            }
        }

        #[async_trait]
        impl LeaseStore for $store {
            async fn try_lease(
                &self,
                name: &str,
                holder: &str,
                now: DateTime<Utc>,
                until: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                intake::try_lease(&self.db, name, holder, now, until).await
            }

            async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
                intake::release_lease(&self.db, name, holder).await
            }
        }

        #[async_trait]
        impl AuditStore for $store {
            async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
                audit::append(&self.db, entry).await
            }

            async fn audit_entries(
                &self,
                query: &AuditQuery,
            ) -> Result<Vec<AuditEntry>, StoreError> {
                audit::entries(&self.db, query).await
            }

            async fn audit_chain(
                &self,
                after_id: i64,
                limit: u32,
            ) -> Result<Vec<AuditEntry>, StoreError> {
                audit::chain(&self.db, after_id, limit).await
            }
        }

        #[async_trait]
        impl MediaStore for $store {
            async fn claim_media(
                &self,
                channels: &[Channel],
                now: DateTime<Utc>,
                lease: Duration,
                limit: u32,
            ) -> Result<Vec<MediaJob>, StoreError> {
                media::claim(&self.db, channels, now, lease, limit).await
            }

            async fn complete_media(
                &self,
                job: &MediaJob,
                outcome: MediaOutcome,
            ) -> Result<bool, StoreError> {
                media::complete(&self.db, job, outcome).await
            }

            async fn next_media_due(
                &self,
                channels: &[Channel],
            ) -> Result<Option<DateTime<Utc>>, StoreError> {
                media::next_due(&self.db, channels).await
            }

            async fn add_media(
                &self,
                complaint_id: i64,
                channel: Channel,
                jobs: Vec<NewMediaJob>,
                now: DateTime<Utc>,
                cursor: Option<Cursor>,
            ) -> Result<bool, StoreError> {
                media::add(&self.db, complaint_id, channel, jobs, now, cursor).await
            }

            async fn ticket_for_album(
                &self,
                channel: Channel,
                album: &str,
            ) -> Result<Option<TicketNumber>, StoreError> {
                media::ticket_for_album(&self.db, channel, album).await
            }

            async fn media_of_complaint(
                &self,
                complaint_id: i64,
            ) -> Result<Vec<MediaJobStatus>, StoreError> {
                media::of_complaint(&self.db, complaint_id).await
            }

            async fn record_notice(
                &self,
                channel: Channel,
                external_id: &str,
                reason: &str,
                at: DateTime<Utc>,
                cursor: Option<Cursor>,
            ) -> Result<bool, StoreError> {
                media::record_notice(&self.db, channel, external_id, reason, at, cursor).await
            }
        }

        #[async_trait]
        impl SessionStore for $store {
            async fn create_session(
                &self,
                id: &str,
                username: &Username,
                now: DateTime<Utc>,
                expires_at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sessions::create(&self.db, id, username, now, expires_at).await
            }

            async fn session_live(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
                sessions::live(&self.db, id, now).await
            }

            async fn revoke_session(
                &self,
                id: &str,
                at: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                sessions::revoke(&self.db, id, at).await
            }

            async fn revoke_user_sessions(
                &self,
                username: &Username,
                at: DateTime<Utc>,
            ) -> Result<u64, StoreError> {
                sessions::revoke_user(&self.db, username, at).await
            }

            async fn change_password(
                &self,
                username: &Username,
                password_hash: &str,
                at: DateTime<Utc>,
            ) -> Result<Option<u64>, StoreError> {
                sessions::change_password(&self.db, username, password_hash, at).await
            }

            async fn consume_login_token(
                &self,
                nonce: &str,
                expires_at: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                sessions::consume_login_token(&self.db, nonce, expires_at, now).await
            }
        }
    };
}

impl_store!(SqliteStore, sqlite::SqliteDb);
impl_store!(PostgresStore, postgres::PgDb);
