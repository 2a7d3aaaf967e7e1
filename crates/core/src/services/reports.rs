//! Desk use cases of the clocks and the monthly report: SLA escalation (exactly once per
//! breached step among replicas) and the report's steps 6–8. Each staff step and each
//! delivery of the digest is written with its audit entry in one transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{NewAuditEntry, actions};
use crate::desk::{DEFAULT_MAX_ATTEMPTS, Desk, DeskError, workflow_state};
use crate::logbook::Month;
use crate::model::{
    ComplaintRecord, NewReply, ReplyKind, ReportRecord, ReportState, ReportUpdate, TransitionWrite,
};
use crate::report::{self, MonthlyReport};
use crate::store::StoreError;
use crate::types::{Channel, Role, Step, TicketNumber};
use crate::workflow::{Actor, Command, Effect, HistoryEntry, TransitionError};

/// A report step requested through the staff API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportAction {
    /// Kasi: the conclusion on the most frequent problems (step 6).
    Conclusion(String),
    /// Kepala Dinas: the decision (step 7).
    Decision(String),
    /// Kasi: the logbook is back (step 8).
    Receipt,
    /// Kasi: deliver the digest again.
    Resend,
}

/// Signed step of a report.
#[derive(Debug, Clone, Serialize)]
pub struct Signed {
    pub text: Option<String>,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// The report as staff see it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    pub month: String,
    pub state: ReportState,
    pub report: serde_json::Value,
    pub submitted_at: Option<DateTime<Utc>>,
    pub conclusion: Option<Signed>,
    pub decision: Option<Signed>,
    pub decide_due_at: Option<DateTime<Utc>>,
    pub decide_breached: bool,
    pub receipt: Option<Signed>,
    pub receive_due_at: Option<DateTime<Utc>>,
    pub receive_breached: bool,
    pub delivery_attempts: i32,
    pub last_error: Option<String>,
    pub resend_requested: bool,
}

fn signed(text: Option<String>, by: Option<String>, at: Option<DateTime<Utc>>) -> Option<Signed> {
    Some(Signed {
        text,
        by: by?,
        at: at?,
    })
}

impl ReportView {
    pub fn from_record(r: ReportRecord, now: DateTime<Utc>) -> Self {
        let decide_breached = match (r.decide_due_at, r.decision_at) {
            (Some(due), Some(done)) => done > due,
            (Some(due), None) => now > due,
            _ => false,
        };
        let receive_breached = match (r.receive_due_at, r.received_at) {
            (Some(due), Some(done)) => done > due,
            (Some(due), None) => now > due,
            _ => false,
        };
        ReportView {
            month: r.month,
            state: r.state,
            report: serde_json::from_str(&r.report_json).unwrap_or(serde_json::Value::Null),
            submitted_at: r.submitted_at,
            conclusion: signed(r.conclusion, r.conclusion_by, r.conclusion_at),
            decision: signed(r.decision, r.decision_by, r.decision_at),
            decide_due_at: r.decide_due_at,
            decide_breached,
            receipt: signed(None, r.received_by, r.received_at),
            receive_due_at: r.receive_due_at,
            receive_breached,
            delivery_attempts: r.delivery_attempts,
            last_error: r.last_error,
            resend_requested: r.resend_requested,
        }
    }
}

fn step_label(s: Step) -> &'static str {
    match s {
        Step::Receive => "1. penerimaan dan pencatatan",
        Step::Triage => "2. penelaahan oleh Kasi",
        Step::Resolve => "3. penyelesaian oleh bidang",
        Step::Review => "4. pemeriksaan jawaban",
        Step::FollowUp => "5. tindak lanjut ke pengadu",
        Step::ReportDecide => "7. keputusan Kepala Dinas",
        Step::ReportReceive => "8. penerimaan kembali log book",
    }
}

/// Monthly reports (SOP steps 6-8) and SLA escalation. Get one with [`Desk::reports`].
#[derive(Clone)]
pub struct Reports {
    pub(crate) desk: Desk,
}

impl Reports {
    /// The stored report of `month`, if built.
    pub async fn stored(&self, month: Month) -> Result<Option<ReportRecord>, DeskError> {
        Ok(self
            .desk
            .report_store()
            .get_report(&month.to_string())
            .await?)
    }

    /// Lease the delivery of `month`'s report until `until` (one replica delivers); false
    /// when there is nothing to deliver or another replica holds the lease.
    pub async fn claim_delivery(
        &self,
        month: Month,
        until: DateTime<Utc>,
    ) -> Result<bool, DeskError> {
        Ok(self
            .desk
            .report_store()
            .claim_report_delivery(&month.to_string(), self.desk.now(), until)
            .await?)
    }

    /// Ask for the report of `month` to be delivered again.
    pub async fn request_resend(&self, month: Month) -> Result<(), DeskError> {
        Ok(self
            .desk
            .report_store()
            .update_report(&month.to_string(), ReportUpdate::RequestResend)
            .await?)
    }

    /// The complaints received in `month` (office time), for the logbook the digest mails.
    pub async fn month_records(&self, month: Month) -> Result<Vec<ComplaintRecord>, DeskError> {
        let (from, to) = month.range(self.desk.config().policy.calendar.timezone());
        Ok(self
            .desk
            .report_store()
            .complaints_received_between(from, to)
            .await?)
    }

    /// Escalate every running step that is past due and not yet escalated: a history line
    /// and a notice to each of `escalate_to` (when e-mail replies are configured). Returns
    /// how many steps this call escalated (another replica may take some).
    pub async fn escalate_due(&self, escalate_to: &[String]) -> Result<usize, DeskError> {
        let now = self.desk.now();
        let tz = self.desk.config().policy.calendar.timezone();
        let mut done = 0;
        loop {
            let batch = self.desk.workflow_store().due_escalations(now, 100).await?;
            if batch.is_empty() {
                return Ok(done);
            }
            let n = batch.len();
            for c in batch {
                let Some(step) = c.state.step() else { continue };
                let due_local = c
                    .due_at
                    .with_timezone(&tz)
                    .format("%d-%m-%Y %H:%M")
                    .to_string();
                let history = HistoryEntry {
                    step: Some(step),
                    action: "escalate".into(),
                    state: c.state,
                    actor: Actor::System.label(),
                    at: now,
                    due_at: Some(c.due_at),
                    elapsed_seconds: None,
                    breached: true,
                    note: Some(format!(
                        "batas waktu langkah {} terlewati ({due_local}); diberitahukan ke {}",
                        step_label(step),
                        if escalate_to.is_empty() {
                            "-".to_string()
                        } else {
                            escalate_to.join(", ")
                        }
                    )),
                };
                let notices = if self.desk.config().reply_channels.contains(&Channel::Email) {
                    escalate_to
                        .iter()
                        .map(|to| NewReply {
                            kind: ReplyKind::Escalation,
                            channel: Channel::Email,
                            recipient: to.clone(),
                            template: "escalation".into(),
                            vars: serde_json::json!({
                                "step": step_label(step),
                                "due_at": due_local,
                                "state": c.state.as_str(),
                                "bidang": c.bidang.as_ref().map(|b| b.as_str()),
                            }),
                            max_attempts: DEFAULT_MAX_ATTEMPTS,
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                if self
                    .desk
                    .workflow_store()
                    .record_escalation(c.complaint_id, c.state_entered_at, &history, notices)
                    .await?
                {
                    done += 1;
                }
            }
            if n < 100 {
                return Ok(done);
            }
        }
    }

    /// Close every complaint whose question stayed unanswered past its wait (SPEC §3):
    /// status `tidak`, reason "tidak ada tanggapan pengadu", the citizen told on the origin
    /// channel, an audit entry by `sistem`, all in one transaction per complaint. Exactly
    /// once among replicas: the transition is optimistic on the complaint's version, so a
    /// second replica finds it closed. Returns how many this call closed.
    pub async fn close_unanswered(&self) -> Result<usize, DeskError> {
        let mut done = 0;
        loop {
            let now = self.desk.now();
            let batch = self.desk.workflow_store().due_waits(now, 100).await?;
            let n = batch.len();
            let mut closed = 0;
            for ticket in batch {
                if self.close_one_unanswered(&ticket).await? {
                    closed += 1;
                }
            }
            done += closed;
            // A short batch is the last; a full one without progress would come back as is.
            if n < 100 || closed == 0 {
                return Ok(done);
            }
        }
    }

    async fn close_one_unanswered(&self, ticket: &TicketNumber) -> Result<bool, DeskError> {
        for _ in 0..5 {
            let Some(rec) = self.desk.workflow_store().get_complaint(ticket).await? else {
                return Ok(false);
            };
            let now = self.desk.now();
            let question = rec.pause.as_ref().map(|p| p.question.clone());
            let t = match workflow_state(&rec).apply(
                Command::WaitTimeout,
                &Actor::System,
                now,
                &self.desk.config().policy,
            ) {
                Ok(t) => t,
                // Answered or closed meanwhile (another replica, the citizen).
                Err(TransitionError::InvalidState { .. }) => return Ok(false),
                Err(e) => return Err(e.into()),
            };
            let reply = if t.effects.contains(&Effect::SendTimeoutNotice) {
                self.desk.citizen_reply(
                    &rec,
                    ReplyKind::Timeout,
                    "timeout",
                    serde_json::json!({
                        "question": question,
                        "wait_days": self.desk.config().policy.wait_citizen_days,
                    }),
                )
            } else {
                None
            };
            let w = TransitionWrite {
                complaint_id: rec.id,
                expected_version: rec.version,
                transition: &t,
                actor: Actor::System.label(),
                reply,
                message: None,
                attachments: Vec::new(),
                media: Vec::new(),
                cursor: None,
                audit: crate::audit::for_command(
                    &Actor::System,
                    &rec.ticket,
                    &Command::WaitTimeout,
                    &t,
                ),
            };
            match self.desk.workflow_store().save_transition(w).await {
                Ok(()) => return Ok(true),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(false)
    }

    /// When the SLA timer has work next: a running step's due time (not yet escalated) or
    /// a question's wait ending.
    pub async fn next_escalation_due(&self) -> Result<Option<DateTime<Utc>>, DeskError> {
        Ok(self.desk.workflow_store().next_escalation_due().await?)
    }

    /// Build the month's report once (idempotent across calls and replicas).
    pub async fn build_report(&self, month: Month) -> Result<(ReportRecord, bool), DeskError> {
        let key = month.to_string();
        if let Some(r) = self.desk.report_store().get_report(&key).await? {
            return Ok((r, false));
        }
        let figures = self.compute_report(month).await?;
        let json = serde_json::to_string(&figures)
            .map_err(|e| DeskError::Store(StoreError::Other(e.to_string())))?;
        let created = self
            .desk
            .report_store()
            .create_report(&key, &json, self.desk.now())
            .await?;
        let r = self
            .desk
            .report_store()
            .get_report(&key)
            .await?
            .ok_or(DeskError::NotFound)?;
        Ok((r, created))
    }

    /// Compute the figures of a month from the logbook.
    pub async fn compute_report(&self, month: Month) -> Result<MonthlyReport, DeskError> {
        let tz = self.desk.config().policy.calendar.timezone();
        let (from, to) = month.range(tz);
        let records = self
            .desk
            .report_store()
            .complaints_received_between(from, to)
            .await?;
        let (pf, pt) = month.prev().range(tz);
        let prev = self
            .desk
            .report_store()
            .count_received_between(pf, pt)
            .await?;
        Ok(report::build(month, &records, prev.max(0) as usize, to))
    }

    /// The stored report of a month (staff other than bidang).
    pub async fn report(&self, actor: &Actor, month: Month) -> Result<ReportView, DeskError> {
        require(actor, &[Role::Staf, Role::Kasi, Role::Kabid, Role::Kadis])?;
        let r = self
            .desk
            .report_store()
            .get_report(&month.to_string())
            .await?
            .ok_or(DeskError::NotFound)?;
        Ok(ReportView::from_record(r, self.desk.now()))
    }

    /// Record that the digest was delivered (step 6 done; the decision clock starts), with
    /// its audit entry (by `system`) in the same transaction.
    pub async fn report_delivered(&self, month: Month) -> Result<(), DeskError> {
        let now = self.desk.now();
        let due = self.desk.config().policy.due(Step::ReportDecide, now);
        let audit = NewAuditEntry::new(&Actor::System, actions::DIGEST_DELIVERED, now)
            .with_detail(serde_json::json!({ "month": month.to_string() }));
        self.desk
            .report_store()
            .update_report_audited(
                &month.to_string(),
                ReportUpdate::Delivered {
                    at: now,
                    decide_due_at: due,
                },
                Some(audit),
            )
            .await?;
        Ok(())
    }

    pub async fn report_delivery_failed(&self, month: Month, error: &str) -> Result<(), DeskError> {
        self.desk
            .report_store()
            .update_report(
                &month.to_string(),
                ReportUpdate::DeliveryFailed {
                    error: error.into(),
                },
            )
            .await?;
        Ok(())
    }

    /// A report step by staff: conclusion and receipt (kasi), decision (kadis), re-send (kasi).
    pub async fn report_act(
        &self,
        actor: &Actor,
        month: Month,
        action: ReportAction,
    ) -> Result<ReportView, DeskError> {
        let key = month.to_string();
        let now = self.desk.now();
        let by = actor.label();
        let audit_action = match &action {
            ReportAction::Conclusion(_) => actions::REPORT_CONCLUSION,
            ReportAction::Decision(_) => actions::REPORT_DECISION,
            ReportAction::Receipt => actions::REPORT_RECEIPT,
            ReportAction::Resend => actions::REPORT_RESEND,
        };
        let update = match action {
            ReportAction::Conclusion(text) => {
                require(actor, &[Role::Kasi])?;
                nonempty(&text)?;
                ReportUpdate::Conclusion { text, by, at: now }
            }
            ReportAction::Decision(text) => {
                require(actor, &[Role::Kadis])?;
                nonempty(&text)?;
                ReportUpdate::Decision {
                    text,
                    by,
                    at: now,
                    receive_due_at: self.desk.config().policy.due(Step::ReportReceive, now),
                }
            }
            ReportAction::Receipt => {
                require(actor, &[Role::Kasi])?;
                ReportUpdate::Receipt { by, at: now }
            }
            ReportAction::Resend => {
                require(actor, &[Role::Kasi])?;
                ReportUpdate::RequestResend
            }
        };
        let current = self
            .desk
            .report_store()
            .get_report(&key)
            .await?
            .ok_or(DeskError::NotFound)?;
        let allowed = match (&update, current.state) {
            (ReportUpdate::Conclusion { .. }, s) => s != ReportState::Received,
            (ReportUpdate::Decision { .. }, s) => s == ReportState::Submitted,
            (ReportUpdate::Receipt { .. }, s) => s == ReportState::Decided,
            (ReportUpdate::RequestResend, _) => true,
            (ReportUpdate::Delivered { .. } | ReportUpdate::DeliveryFailed { .. }, _) => true,
        };
        if !allowed {
            return Err(DeskError::InvalidReportState {
                state: current.state,
            });
        }
        // The texts stay in the report; the entry names the step and the state it left.
        let audit = NewAuditEntry::new(actor, audit_action, now).with_detail(serde_json::json!({
            "month": key,
            "from": current.state.as_str(),
        }));
        match self
            .desk
            .report_store()
            .update_report_audited(&key, update, Some(audit))
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                let s = self
                    .desk
                    .report_store()
                    .get_report(&key)
                    .await?
                    .ok_or(DeskError::NotFound)?;
                return Err(DeskError::InvalidReportState { state: s.state });
            }
            Err(e) => return Err(e.into()),
        }
        self.report(actor, month).await
    }
}

fn require(actor: &Actor, roles: &[Role]) -> Result<(), DeskError> {
    match actor.role() {
        Some(r) if roles.contains(&r) => Ok(()),
        other => Err(DeskError::Forbidden(format!(
            "role {} may not do this; allowed: {}",
            other.map(|r| r.as_str()).unwrap_or("none"),
            roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn nonempty(s: &str) -> Result<(), DeskError> {
    if s.trim().is_empty() {
        return Err(DeskError::invalid("text", "must not be empty"));
    }
    if s.chars().count() > crate::desk::MAX_BODY_CHARS {
        return Err(DeskError::invalid("text", "too long"));
    }
    Ok(())
}
