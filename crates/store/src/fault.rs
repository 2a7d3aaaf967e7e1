//! [`FaultStore`]: a store that delegates to a real one and fails on demand, for tests of
//! what a channel does when the database is down (answer 5xx, keep the cursor, deliver
//! again) — one type for every crate's tests instead of a copy per crate.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use aduan_core::audit::{AuditEntry, AuditQuery, NewAuditEntry};
use aduan_core::media::{MediaJob, MediaJobStatus, MediaOutcome, NewMediaJob};
use aduan_core::model::*;
use aduan_core::store::prelude::*;
use aduan_core::types::{Channel, TicketNumber, Username};
use aduan_core::workflow::HistoryEntry;

/// A pass-through store with injectable failures, all `StoreError::Unavailable`.
pub struct FaultStore {
    inner: Arc<dyn Store>,
    /// While set, `ping`, complaint creation, transitions, audit appends, attachment reads and
    /// shares and every intake read and write (threading look-ups, cursors) fail: "database
    /// unreachable".
    pub down: AtomicBool,
    /// The next N complaint creations fail: "database busy".
    pub fail_creates: AtomicUsize,
    /// The next N transitions (appended messages, staff actions) fail: "database busy".
    pub fail_appends: AtomicUsize,
    /// Pages of a month read so far ([`ReportStore::complaints_page`] calls).
    pub pages_read: AtomicUsize,
}

impl FaultStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        FaultStore {
            inner,
            down: AtomicBool::new(false),
            fail_creates: AtomicUsize::new(0),
            fail_appends: AtomicUsize::new(0),
            pages_read: AtomicUsize::new(0),
        }
    }

    /// Set or clear [`FaultStore::down`].
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "injected: database unreachable".into(),
            ))
        } else {
            Ok(())
        }
    }
}

fn take(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
        .is_ok()
}

fn busy() -> StoreError {
    StoreError::Unavailable("injected: database busy".into())
}

#[async_trait]
impl Store for FaultStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }
    async fn rotate_keys_step(&self) -> Result<Option<(&'static str, u64)>, StoreError> {
        self.check()?;
        self.inner.rotate_keys_step().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.check()?;
        self.inner.ping().await
    }
    fn wakeups(&self) -> std::sync::Arc<aduan_core::wake::Wakeups> {
        self.inner.wakeups()
    }
}

#[async_trait]
impl IntakeStore for FaultStore {
    async fn create_complaint(&self, c: NewComplaint) -> Result<CreateOutcome, StoreError> {
        self.check()?;
        if take(&self.fail_creates) {
            return Err(busy());
        }
        self.inner.create_complaint(c).await
    }
    async fn tickets_by_message_ids(
        &self,
        ids: &[String],
        limit: u32,
    ) -> Result<Vec<TicketNumber>, StoreError> {
        self.check()?;
        self.inner.tickets_by_message_ids(ids, limit).await
    }
    async fn open_ticket_for_handle(
        &self,
        channel: Channel,
        handle: &str,
    ) -> Result<Option<TicketNumber>, StoreError> {
        self.check()?;
        self.inner.open_ticket_for_handle(channel, handle).await
    }
    async fn open_tickets_acknowledged_to(
        &self,
        channel: Channel,
        recipients: &[String],
        limit: u32,
    ) -> Result<Vec<TicketNumber>, StoreError> {
        self.check()?;
        self.inner
            .open_tickets_acknowledged_to(channel, recipients, limit)
            .await
    }

    async fn rateable_ticket_for_handle(
        &self,
        channel: Channel,
        handle: &str,
        answered_since: DateTime<Utc>,
    ) -> Result<Option<TicketNumber>, StoreError> {
        self.check()?;
        self.inner
            .rateable_ticket_for_handle(channel, handle, answered_since)
            .await
    }
    async fn ticket_by_external_id(
        &self,
        channel: Channel,
        external_id: &str,
    ) -> Result<Option<TicketNumber>, StoreError> {
        self.check()?;
        self.inner.ticket_by_external_id(channel, external_id).await
    }
    async fn get_cursor(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.check()?;
        self.inner.get_cursor(key).await
    }
    async fn set_cursor(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.check()?;
        self.inner.set_cursor(key, value).await
    }
    async fn count_acks_since(
        &self,
        channel: Channel,
        recipient: &str,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.inner.count_acks_since(channel, recipient, since).await
    }
    async fn last_inbound_at(
        &self,
        ticket: &TicketNumber,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.last_inbound_at(ticket).await
    }
}

#[async_trait]
impl WorkflowStore for FaultStore {
    async fn get_complaint(
        &self,
        ticket: &TicketNumber,
    ) -> Result<Option<ComplaintRecord>, StoreError> {
        self.inner.get_complaint(ticket).await
    }
    async fn save_transition(&self, w: TransitionWrite<'_>) -> Result<(), StoreError> {
        self.check()?;
        if take(&self.fail_appends) {
            return Err(busy());
        }
        self.inner.save_transition(w).await
    }
    async fn queue(&self, filter: &QueueFilter) -> Result<Vec<QueueItem>, StoreError> {
        self.inner.queue(filter).await
    }
    async fn due_waits(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TicketNumber>, StoreError> {
        self.inner.due_waits(now, limit).await
    }
    async fn due_escalations(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<EscalationCandidate>, StoreError> {
        self.inner.due_escalations(now, limit).await
    }
    async fn record_escalation(
        &self,
        complaint_id: i64,
        state_entered_at: DateTime<Utc>,
        history: &HistoryEntry,
        notices: Vec<NewReply>,
    ) -> Result<bool, StoreError> {
        self.inner
            .record_escalation(complaint_id, state_entered_at, history, notices)
            .await
    }
    async fn next_escalation_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.next_escalation_due().await
    }
}

#[async_trait]
impl AttachmentStore for FaultStore {
    async fn attachment_file(
        &self,
        ticket: &TicketNumber,
        id: i64,
    ) -> Result<Option<AttachmentFile>, StoreError> {
        self.check()?;
        self.inner.attachment_file(ticket, id).await
    }
    async fn share_attachment(&self, share: NewAttachmentShare) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.share_attachment(share).await
    }
    async fn attachment_shares(
        &self,
        complaint_id: i64,
    ) -> Result<Vec<AttachmentShare>, StoreError> {
        self.check()?;
        self.inner.attachment_shares(complaint_id).await
    }
}

#[async_trait]
impl OutboxStore for FaultStore {
    async fn claim_replies(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        self.inner.claim_replies(now, lease, limit).await
    }
    async fn complete_reply(
        &self,
        item: &OutboxItem,
        outcome: ReplyOutcome,
    ) -> Result<bool, StoreError> {
        self.inner.complete_reply(item, outcome).await
    }
    async fn next_reply_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.next_reply_due().await
    }
    async fn failed_reply_complaints(
        &self,
        received_from: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(TicketNumber, Channel)>, StoreError> {
        self.inner
            .failed_reply_complaints(received_from, limit)
            .await
    }
    async fn fail_reply_by_external_id(
        &self,
        external_id: &str,
        error: &str,
    ) -> Result<bool, StoreError> {
        self.inner
            .fail_reply_by_external_id(external_id, error)
            .await
    }
}

#[async_trait]
impl UserStore for FaultStore {
    async fn create_user(&self, u: NewUser) -> Result<i64, StoreError> {
        self.inner.create_user(u).await
    }
    async fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        self.inner.user_by_token_hash(token_hash).await
    }
    async fn user_by_name(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.inner.user_by_name(username).await
    }
    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.inner.list_users().await
    }
    async fn disable_user(&self, username: &Username) -> Result<bool, StoreError> {
        self.inner.disable_user(username).await
    }
}

/// Sessions follow [`FaultStore::down`] like the other reads and writes of a request.
#[async_trait]
impl SessionStore for FaultStore {
    async fn create_session(
        &self,
        id: &str,
        username: &Username,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner
            .create_session(id, username, now, expires_at)
            .await
    }
    async fn session_live(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.session_live(id, now).await
    }
    async fn revoke_session(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.revoke_session(id, at).await
    }
    async fn revoke_user_sessions(
        &self,
        username: &Username,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.revoke_user_sessions(username, at).await
    }
    async fn change_password(
        &self,
        username: &Username,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        self.check()?;
        self.inner
            .change_password(username, password_hash, at)
            .await
    }
    async fn consume_login_token(
        &self,
        nonce: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.consume_login_token(nonce, expires_at, now).await
    }
}

#[async_trait]
impl ReportStore for FaultStore {
    async fn complaints_received_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ComplaintRecord>, StoreError> {
        self.inner.complaints_received_between(from, to).await
    }
    async fn complaints_page(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<aduan_core::logbook::PageKey>,
        limit: u32,
        full: bool,
    ) -> Result<Vec<ComplaintRecord>, StoreError> {
        self.pages_read.fetch_add(1, Ordering::SeqCst);
        self.inner
            .complaints_page(from, to, after, limit, full)
            .await
    }
    async fn month_aggregates(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<aduan_core::report::MonthAggregates, StoreError> {
        self.inner.month_aggregates(from, to).await
    }
    async fn analyses_page(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<aduan_core::logbook::PageKey>,
        limit: u32,
    ) -> Result<Vec<aduan_core::report::AnalysisRow>, StoreError> {
        self.pages_read.fetch_add(1, Ordering::SeqCst);
        self.inner.analyses_page(from, to, after, limit).await
    }
    async fn count_received_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.inner.count_received_between(from, to).await
    }
    async fn get_report(&self, month: &str) -> Result<Option<ReportRecord>, StoreError> {
        self.inner.get_report(month).await
    }
    async fn create_report(
        &self,
        month: &str,
        report_json: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.create_report(month, report_json, at).await
    }
    async fn update_report_audited(
        &self,
        month: &str,
        update: ReportUpdate,
        audit: Option<NewAuditEntry>,
    ) -> Result<(), StoreError> {
        self.inner.update_report_audited(month, update, audit).await
    }
    async fn claim_report_delivery(
        &self,
        month: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.claim_report_delivery(month, now, until).await
    }
    async fn claim_conclusion_delivery(
        &self,
        month: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner
            .claim_conclusion_delivery(month, now, until)
            .await
    }
}

#[async_trait]
impl LeaseStore for FaultStore {
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.try_lease(name, holder, now, until).await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(name, holder).await
    }
}

#[async_trait]
impl AuditStore for FaultStore {
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        self.check()?;
        self.inner.append_audit(entry).await
    }
    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit_entries(query).await
    }
    async fn audit_chain(&self, after_id: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit_chain(after_id, limit).await
    }
}

#[async_trait]
impl MediaStore for FaultStore {
    async fn claim_media(
        &self,
        channels: &[Channel],
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<MediaJob>, StoreError> {
        self.check()?;
        self.inner.claim_media(channels, now, lease, limit).await
    }
    async fn complete_media(
        &self,
        job: &MediaJob,
        outcome: MediaOutcome,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.complete_media(job, outcome).await
    }
    async fn next_media_due(
        &self,
        channels: &[Channel],
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.check()?;
        self.inner.next_media_due(channels).await
    }
    async fn add_media(
        &self,
        complaint_id: i64,
        channel: Channel,
        jobs: Vec<NewMediaJob>,
        now: DateTime<Utc>,
        cursor: Option<Cursor>,
    ) -> Result<bool, StoreError> {
        self.check()?;
        if take(&self.fail_appends) {
            return Err(busy());
        }
        self.inner
            .add_media(complaint_id, channel, jobs, now, cursor)
            .await
    }
    async fn ticket_for_album(
        &self,
        channel: Channel,
        album: &str,
    ) -> Result<Option<TicketNumber>, StoreError> {
        self.check()?;
        self.inner.ticket_for_album(channel, album).await
    }
    async fn media_of_complaint(
        &self,
        complaint_id: i64,
    ) -> Result<Vec<MediaJobStatus>, StoreError> {
        self.inner.media_of_complaint(complaint_id).await
    }
    async fn record_notice(
        &self,
        channel: Channel,
        external_id: &str,
        reason: &str,
        at: DateTime<Utc>,
        cursor: Option<Cursor>,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner
            .record_notice(channel, external_id, reason, at, cursor)
            .await
    }
}
