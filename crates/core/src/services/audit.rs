//! The audit service: record an entry (for actions that are not a store write of their own:
//! logins, logouts, exports, account changes, downloads), list entries for the kasi, kabid
//! and kadis, and verify the whole chain in batches.
//!
//! Workflow actions, manual entries and report steps do not come through here: their entry
//! travels with their write ([`crate::model::TransitionWrite::audit`],
//! [`crate::model::NewComplaint::audit`], [`crate::store::ReportStore::update_report_audited`])
//! so neither commits without the other.
//!
//! Store role: audit.

use crate::audit::{
    AuditEntry, AuditQuery, ChainBreak, ChainCheck, ChainSummary, MAX_LIST, NewAuditEntry,
};
use crate::desk::{Desk, DeskError};
use crate::types::Role;
use crate::workflow::Actor;

/// Entries read per batch by [`Audit::verify`].
pub const VERIFY_BATCH: u32 = 1000;

/// The outcome of [`Audit::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every entry verified.
    Intact(ChainSummary),
    /// The first entry that does not verify, and what verified before it.
    Broken {
        first: ChainBreak,
        verified: ChainSummary,
    },
}

/// The audit log. Get one with [`Desk::audit`].
#[derive(Clone)]
pub struct Audit {
    pub(crate) desk: Desk,
}

impl Audit {
    /// A new entry by `actor` at the desk's current time (add a ticket and detail with the
    /// builder methods of [`NewAuditEntry`], then [`Audit::record`] it).
    pub fn entry(&self, actor: &Actor, action: &str) -> NewAuditEntry {
        NewAuditEntry::new(actor, action, self.desk.now())
    }

    /// Append an entry to the chain; returns it as stored.
    pub async fn record(&self, entry: NewAuditEntry) -> Result<AuditEntry, DeskError> {
        Ok(self.desk.audit_store().append_audit(entry).await?)
    }

    /// `Forbidden` unless `actor` may read the audit log (kasi, kabid, kadis). Callers that
    /// parse a query first check this, so a wrong role is 403 whatever the query.
    pub fn require_reader(&self, actor: &Actor) -> Result<(), DeskError> {
        match actor.role() {
            Some(Role::Kasi | Role::Kabid | Role::Kadis) => Ok(()),
            Some(Role::Staf | Role::Bidang) | None => Err(DeskError::Forbidden(
                "the audit log is for kasi, kabid and kadis".into(),
            )),
        }
    }

    /// Entries of a ticket and/or a time range, oldest first (kasi, kabid, kadis). A query
    /// needs a ticket or both ends of a range; `limit` 0 means [`MAX_LIST`], larger values
    /// are capped at it; page on with `after_id` = the last id returned.
    pub async fn entries(
        &self,
        actor: &Actor,
        mut query: AuditQuery,
    ) -> Result<Vec<AuditEntry>, DeskError> {
        self.require_reader(actor)?;
        match (&query.ticket, query.from, query.to) {
            (_, Some(from), Some(to)) if from >= to => {
                return Err(DeskError::invalid("to", "must be later than from"));
            }
            (None, None, _) | (None, _, None) => {
                return Err(DeskError::invalid(
                    "ticket",
                    "give a ticket, or a time range with from and to",
                ));
            }
            _ => {}
        }
        if query.limit == 0 || query.limit > MAX_LIST {
            query.limit = MAX_LIST;
        }
        Ok(self.desk.audit_store().audit_entries(&query).await?)
    }

    /// Check the whole chain in id order, [`VERIFY_BATCH`] entries at a time (memory stays
    /// bounded whatever the length). Storage failures are errors; a chain that does not
    /// verify is [`Verification::Broken`] naming its first bad entry.
    pub async fn verify(&self) -> Result<Verification, DeskError> {
        self.verify_in_batches(VERIFY_BATCH).await
    }

    /// [`Audit::verify`] reading `batch` entries at a time.
    pub async fn verify_in_batches(&self, batch: u32) -> Result<Verification, DeskError> {
        let batch_size = batch.max(1);
        let mut check = ChainCheck::new();
        // From the lowest possible id, so a row slipped in below id 1 is seen (and refused).
        let mut after = i64::MIN;
        loop {
            let batch = self
                .desk
                .audit_store()
                .audit_chain(after, batch_size)
                .await?;
            let n = batch.len();
            for e in &batch {
                after = e.id;
                if let Err(first) = check.check(e) {
                    return Ok(Verification::Broken {
                        first,
                        verified: check.summary(),
                    });
                }
            }
            if n < batch_size as usize {
                return Ok(Verification::Intact(check.summary()));
            }
        }
    }
}
