//! Desk use cases of the clocks and the monthly report: SLA escalation (exactly once per
//! breached step among replicas) and the report's steps 6–8. Each staff step and each
//! delivery of the digest is written with its audit entry in one transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{NewAuditEntry, actions};
use crate::desk::{DEFAULT_MAX_ATTEMPTS, Desk, DeskError, workflow_state};
use crate::logbook::{LogbookPages, Masking, Month, PAGE_ROWS, PageKey};
use crate::mask::{IdentityMask, MaskProbe};
use crate::model::{
    ComplaintRecord, NewReply, ReplyKind, ReportRecord, ReportState, ReportUpdate, TransitionWrite,
};
use crate::report::{self, MonthlyReport, RiskEntry};
use crate::store::StoreError;
use crate::types::{Channel, Role, Step, TicketNumber};
use crate::workflow::{Actor, Command, Effect, HistoryEntry, TransitionError};

/// A report step requested through the staff API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportAction {
    /// Kasi: the conclusion on the most frequent problems and their causes (step 6), with
    /// the risk-register entries picked from them (may be empty). An empty text with
    /// entries gets a text written from the entries.
    Conclusion {
        text: String,
        risks: Vec<report::RiskEntry>,
    },
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
    /// The risk-register entries of the conclusion.
    pub risks: Vec<report::RiskEntry>,
    /// The conclusion as last written is still to be mailed to the Kepala Dinas and the
    /// ISO coordinator (it goes once the figures went out).
    pub conclusion_pending: bool,
    pub conclusion_sent_at: Option<DateTime<Utc>>,
    pub conclusion_error: Option<String>,
    /// False for the figures of an ended month whose report is not built yet (a read shows
    /// them without storing; the digest scheduler or a staff step builds it).
    pub stored: bool,
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
            risks: r.risks,
            conclusion_pending: r.conclusion_pending,
            conclusion_sent_at: r.conclusion_sent_at,
            conclusion_error: r.conclusion_error,
            stored: true,
        }
    }

    /// The figures of a month not built yet, as a `draft` that is not stored.
    pub fn preview(month: &str, figures: &MonthlyReport) -> Self {
        ReportView {
            month: month.to_string(),
            state: ReportState::Draft,
            report: serde_json::to_value(figures).unwrap_or(serde_json::Value::Null),
            submitted_at: None,
            conclusion: None,
            decision: None,
            decide_due_at: None,
            decide_breached: false,
            receipt: None,
            receive_due_at: None,
            receive_breached: false,
            delivery_attempts: 0,
            last_error: None,
            resend_requested: false,
            risks: Vec::new(),
            conclusion_pending: false,
            conclusion_sent_at: None,
            conclusion_error: None,
            stored: false,
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

    /// Compute the figures of a month: the database aggregates the counts, steps, backlog,
    /// breaches and ratings; the frequent problems (and the repeat complainants, by digest)
    /// are counted over the month's complaints (and the month before's, for the change) read
    /// page by page; the
    /// overruns are working time; the previous month's report gives its steps 6–8, the
    /// stored reports (or the aggregates) of the eleven months before give the trend.
    /// Nothing is stored.
    pub async fn compute_report(&self, month: Month) -> Result<MonthlyReport, DeskError> {
        let calendar = &self.desk.config().policy.calendar;
        let tz = calendar.timezone();
        let (from, to) = month.range(tz);
        // The report's moment: the month's end, or now for a running month (nothing is
        // received after now, and a complaint filed today is under a day old). The range
        // ends just after now, so what was received at this very instant is in it.
        let to = to.min(self.desk.now() + chrono::Duration::milliseconds(1));
        let (pf, pt) = month.prev().range(tz);
        // The database aggregates (on two connections of its own, see the store's
        // `month_aggregates`) while the analyses are read and counted here.
        // The month's pages are tallied (the first counting pass) and the month before's
        // as they are read, both months at once; the second pass runs on threads of its own,
        // off the async workers.
        // The month is read as two halves at once (each a chain of keyset pages, so one
        // chain alone leaves the machine half idle), then put back in receipt order.
        let counted = async {
            let part = |from, to| async move {
                let mut rows = Vec::new();
                let mut tally = report::TermTally::new();
                let mut contacts = report::ContactCounter::default();
                self.read_analyses(
                    from,
                    to,
                    |a| {
                        contacts.add_digest(a.contact);
                        tally.add(a);
                    },
                    |row| rows.push(row),
                )
                .await?;
                Ok::<_, DeskError>((rows, tally, contacts))
            };
            let current = async {
                let mid = from + (to - from) / 2;
                let ((mut rows, mut tally, mut contacts), (later, t, c)) =
                    futures::try_join!(part(from, mid), part(mid, to))?;
                rows.extend(later);
                tally.merge(t);
                contacts.merge(c);
                Ok::<_, DeskError>((rows, tally, contacts))
            };
            let before = async {
                let mut before = report::TermTally::new();
                self.read_analyses(pf, pt, |a| before.add(a), |_| {})
                    .await?;
                Ok::<_, DeskError>(before)
            };
            let ((rows, tally, contacts), before) = futures::try_join!(current, before)?;
            let problems = tokio::task::spawn_blocking(move || {
                report::frequent_tallied(&rows, tally, &before, 10)
            })
            .await
            .map_err(|e| DeskError::Store(StoreError::Other(format!("counting a month: {e}"))))?;
            Ok::<_, DeskError>((problems, contacts))
        };
        let aggregated = async {
            let store = self.desk.report_store();
            let agg = store.month_aggregates(from, to).await?;
            let prev = store.count_received_between(pf, pt).await?;
            Ok::<_, DeskError>((agg, prev))
        };
        let ((problems, contacts), (agg, prev)) = futures::try_join!(counted, aggregated)?;
        let mut r = report::from_aggregates(month, agg, prev.max(0) as usize, problems);
        r.repeat_complainants = contacts.repeats();
        let minutes = |a: DateTime<Utc>, b: DateTime<Utc>| {
            calendar.signed_working_time(a, b).num_seconds() as f64 / 60.0
        };
        r.set_overruns(to, minutes);
        r.as_of = Some(to);
        if let Some(p) = self.stored(month.prev()).await? {
            r.report_steps = report_steps(&p, to, tz, minutes);
        }
        r.trend = self.trend(month, &r).await?;
        Ok(r)
    }

    /// The Kasi's conclusion and risk register as they leave the office (the mail to the
    /// Kepala Dinas and the ISO coordinator): generic personal data masked
    /// ([`mask_text`](crate::mask::mask_text), [`RiskEntry::masked`]), and the identity of
    /// every complainant of `month` masked as in that complaint's own texts, since what the
    /// Kasi typed may name one ("blangko habis, dikeluhkan Sdr. …"). One pass over the
    /// month's complaints, page by page; a complainant's masks are applied only where the
    /// probe finds one of their words or numbers in what is sent.
    pub async fn conclusion_as_sent(
        &self,
        month: Month,
        text: &str,
        risks: &[RiskEntry],
    ) -> Result<(String, Vec<RiskEntry>), DeskError> {
        let (from, to) = month.range(self.desk.config().policy.calendar.timezone());
        let mut text = crate::mask::mask_text(text);
        let mut risks: Vec<RiskEntry> = risks.iter().map(RiskEntry::masked).collect();
        let probe_of = |text: &str, risks: &[RiskEntry]| {
            let mut all = text.to_string();
            for r in risks {
                for cell in [&r.risk, &r.cause, &r.control, &r.owner] {
                    all.push('\n');
                    all.push_str(cell);
                }
            }
            MaskProbe::new(&all)
        };
        let mut probe = probe_of(&text, &risks);
        self.read_texts(from, to, |page| {
            for c in page {
                let mask = IdentityMask::new(&c.identity);
                if !mask.may_apply(&probe) {
                    continue;
                }
                text = mask.apply(&text);
                for r in &mut risks {
                    for cell in [&mut r.risk, &mut r.cause, &mut r.control, &mut r.owner] {
                        *cell = mask.apply(cell);
                    }
                }
                probe = probe_of(&text, &risks);
            }
        })
        .await?;
        Ok((text, risks))
    }

    /// The twelve months up to `month` (whose figures are `current`), oldest first: each
    /// month's complaints and on-time share, from its stored report, else aggregated.
    async fn trend(
        &self,
        month: Month,
        current: &MonthlyReport,
    ) -> Result<Vec<report::TrendPoint>, DeskError> {
        let tz = self.desk.config().policy.calendar.timezone();
        let mut months = vec![month];
        for _ in 0..11 {
            let m = months.last().copied().unwrap_or(month).prev();
            months.push(m);
        }
        months.reverse();
        let mut out = Vec::with_capacity(12);
        for m in months {
            let figures = if m == month {
                None
            } else {
                self.stored(m)
                    .await?
                    .and_then(|r| serde_json::from_str::<MonthlyReport>(&r.report_json).ok())
            };
            let (complaints, on_time_pct) = match (m == month, figures) {
                (true, _) => (current.totals.complaints, current.on_time_pct()),
                (false, Some(f)) => (f.totals.complaints, f.on_time_pct()),
                (false, None) => {
                    let (a, b) = m.range(tz);
                    let agg = self.desk.report_store().month_aggregates(a, b).await?;
                    let f = report::from_aggregates(m, agg, 0, Vec::new());
                    (f.totals.complaints, f.on_time_pct())
                }
            };
            out.push(report::TrendPoint {
                month: m.to_string(),
                complaints,
                on_time_pct,
            });
        }
        Ok(out)
    }

    /// Hand each complaint received in `[from, to)` with its analysis, in receipt order,
    /// read page by page: the stored analysis, or for a complaint stored without one (or by
    /// an older lexicon) the analysis made now from the whole complaint. The analysis is
    /// read once and given to `visit`; the complaint then goes to `keep`.
    async fn read_analyses(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        mut visit: impl FnMut(&report::Analysis<'_>),
        mut keep: impl FnMut(report::Analysed),
    ) -> Result<(), DeskError> {
        // The next page is read (and opened) in a task of its own while this one is
        // counted, so the database and the count overlap.
        let fetch = |after: Option<PageKey>| {
            let store = self.desk.store.clone();
            tokio::spawn(async move {
                store
                    .analyses_page(from, to, after, ANALYSIS_PAGE_ROWS)
                    .await
            })
        };
        let mut next = Some(fetch(None));
        while let Some(reading) = next.take() {
            let page = reading.await.map_err(|e| {
                DeskError::Store(StoreError::Other(format!("reading a month: {e}")))
            })??;
            if page.len() == ANALYSIS_PAGE_ROWS as usize {
                next = Some(fetch(page.last().map(|r| r.key)));
            }
            for r in page {
                // Read once: handed to `visit` as read, then the row to `keep`.
                let mut analysis = r.analysis.unwrap_or_default();
                match report::Analysis::parse(&analysis) {
                    Some(a) => visit(&a),
                    None => {
                        let Some(c) = self.desk.workflow_store().get_complaint(&r.ticket).await?
                        else {
                            continue;
                        };
                        analysis =
                            report::analyse(&c.identity, c.channel, c.target.as_deref(), &c.body);
                        if let Some(a) = report::Analysis::parse(&analysis) {
                            visit(&a);
                        }
                    }
                }
                keep(report::Analysed {
                    ticket: r.ticket.to_string(),
                    category: r.category,
                    bidang: r.bidang,
                    analysis,
                });
            }
        }
        Ok(())
    }

    /// Hand the complaints received in `[from, to)` to `each`, one page at a time (one pass,
    /// memory bounded by the page).
    async fn read_texts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        mut each: impl FnMut(&[ComplaintRecord]),
    ) -> Result<(), DeskError> {
        let store = self.desk.report_store();
        let mut after = None;
        loop {
            let page = store
                .complaints_page(from, to, after, PAGE_ROWS, false)
                .await?;
            each(&page);
            after = page.last().map(PageKey::of);
            if page.len() < PAGE_ROWS as usize {
                return Ok(());
            }
        }
    }

    /// The logbook of `month` page by page (the digest's attachment, `aduan export`), with
    /// the number of its rows.
    pub async fn logbook_pages(
        &self,
        month: Month,
        masking: Masking,
    ) -> Result<LogbookPages, DeskError> {
        let range = month.range(self.desk.config().policy.calendar.timezone());
        let total = self
            .desk
            .report_store()
            .count_received_between(range.0, range.1)
            .await?;
        Ok(LogbookPages::new(
            self.desk.store.clone(),
            range,
            masking,
            usize::try_from(total).unwrap_or(0),
        ))
    }

    /// Whether `month` has ended (in office time): its report can be built.
    pub fn month_ended(&self, month: Month) -> bool {
        month
            < Month::of(
                self.desk.now(),
                self.desk.config().policy.calendar.timezone(),
            )
    }

    /// The report of `month` for reading (staff other than bidang): the stored one or, for an
    /// ended month not built yet, its figures computed now without writing anything (state
    /// `draft`, `stored: false`): a read never builds, stores or delivers a report. 404 for
    /// a month that has not ended and has no report.
    pub async fn report_or_preview(
        &self,
        actor: &Actor,
        month: Month,
    ) -> Result<ReportView, DeskError> {
        match self.report(actor, month).await {
            Err(DeskError::NotFound) if self.month_ended(month) => {
                let figures = self.compute_report(month).await?;
                Ok(ReportView::preview(&month.to_string(), &figures))
            }
            other => other,
        }
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

    /// Lease the mail of the Kasi's conclusion of `month` until `until` (one replica sends
    /// it); false when none is pending, the figures have not gone out, or another replica
    /// holds the lease.
    pub async fn claim_conclusion_delivery(
        &self,
        month: Month,
        until: DateTime<Utc>,
    ) -> Result<bool, DeskError> {
        Ok(self
            .desk
            .report_store()
            .claim_conclusion_delivery(&month.to_string(), self.desk.now(), until)
            .await?)
    }

    /// Record that the conclusion written at `written_at` was mailed to the Kepala Dinas and
    /// the ISO coordinator, with its audit entry (by `system`).
    pub async fn conclusion_delivered(
        &self,
        month: Month,
        written_at: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let now = self.desk.now();
        let audit = NewAuditEntry::new(&Actor::System, actions::CONCLUSION_DELIVERED, now)
            .with_detail(serde_json::json!({ "month": month.to_string() }));
        self.desk
            .report_store()
            .update_report_audited(
                &month.to_string(),
                ReportUpdate::ConclusionDelivered {
                    at: now,
                    written_at,
                },
                Some(audit),
            )
            .await?;
        Ok(())
    }

    pub async fn conclusion_delivery_failed(
        &self,
        month: Month,
        error: &str,
    ) -> Result<(), DeskError> {
        self.desk
            .report_store()
            .update_report(
                &month.to_string(),
                ReportUpdate::ConclusionDeliveryFailed {
                    error: error.into(),
                },
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
            ReportAction::Conclusion { .. } => actions::REPORT_CONCLUSION,
            ReportAction::Decision(_) => actions::REPORT_DECISION,
            ReportAction::Receipt => actions::REPORT_RECEIPT,
            ReportAction::Resend => actions::REPORT_RESEND,
        };
        let update = match action {
            ReportAction::Conclusion { text, risks } => {
                require(actor, &[Role::Kasi])?;
                let risks = clean_risks(risks)?;
                let text = if text.trim().is_empty() && !risks.is_empty() {
                    conclusion_from_risks(&risks)
                } else {
                    text
                };
                nonempty(&text)?;
                ReportUpdate::Conclusion {
                    text,
                    risks_json: serde_json::to_string(&risks)
                        .map_err(|e| DeskError::Store(StoreError::Other(e.to_string())))?,
                    by,
                    at: now,
                }
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
        // A staff step (a POST) on an ended month not built yet builds its draft first.
        let current = match self.desk.report_store().get_report(&key).await? {
            Some(r) => r,
            None if self.month_ended(month) => self.build_report(month).await?.0,
            None => return Err(DeskError::NotFound),
        };
        // SOP order: the Kepala Dinas decides on the Kasi's conclusion; once decided, the
        // conclusion it was based on stays as it was.
        if matches!(update, ReportUpdate::Decision { .. })
            && current.state == ReportState::Submitted
        {
            return Err(DeskError::ConclusionFirst);
        }
        let allowed = match (&update, current.state) {
            (ReportUpdate::Conclusion { .. }, s) => matches!(
                s,
                ReportState::Draft | ReportState::Submitted | ReportState::Concluded
            ),
            (ReportUpdate::Decision { .. }, s) => s == ReportState::Concluded,
            (ReportUpdate::Receipt { .. }, s) => s == ReportState::Decided,
            (ReportUpdate::RequestResend, _) => true,
            (
                ReportUpdate::Delivered { .. }
                | ReportUpdate::DeliveryFailed { .. }
                | ReportUpdate::ConclusionDelivered { .. }
                | ReportUpdate::ConclusionDeliveryFailed { .. },
                _,
            ) => true,
        };
        if !allowed {
            return Err(DeskError::InvalidReportState {
                state: current.state,
            });
        }
        let conclusion = matches!(update, ReportUpdate::Conclusion { .. });
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
            Ok(()) => {
                if conclusion {
                    self.desk.wakeups().report_to_mail();
                }
            }
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

/// The steps 6–8 of report `r` with their clocks, as of `as_of`: the figures are due by the
/// end of the 1st of the next month (office time; the digest goes out that morning), the
/// conclusion and the decision by the decision's due time (the Kepala Dinas decides on the
/// conclusion), the receipt by its own. A step is breached when it was done late, or is
/// still not done at `as_of` past its due time; its overrun is working time.
pub fn report_steps(
    r: &ReportRecord,
    as_of: DateTime<Utc>,
    tz: chrono_tz::Tz,
    working_minutes: impl Fn(DateTime<Utc>, DateTime<Utc>) -> f64,
) -> Vec<report::ReportStep> {
    let figures_due = Month::parse(&r.month)
        .ok()
        .map(|m| m.next().range(tz).0 + chrono::Duration::days(1));
    let rows = [
        (6, "figures", Role::Staf, figures_due, r.submitted_at),
        (
            6,
            "conclusion",
            Role::Kasi,
            r.decide_due_at,
            r.conclusion_at,
        ),
        (7, "decision", Role::Kadis, r.decide_due_at, r.decision_at),
        (8, "receipt", Role::Kasi, r.receive_due_at, r.received_at),
    ];
    rows.into_iter()
        .map(|(number, key, responsible, due_at, done_at)| {
            let end = done_at.unwrap_or(as_of);
            let breached = due_at.is_some_and(|due| end > due);
            report::ReportStep {
                month: r.month.clone(),
                number,
                key: key.into(),
                responsible,
                due_at,
                done_at,
                breached,
                overrun_minutes: due_at
                    .filter(|_| breached)
                    .map(|due| report::round1(working_minutes(due, end).max(0.0))),
            }
        })
        .collect()
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

/// Complaints per page of the frequent-problem count ([`Reports::read_analyses`]). Its rows
/// are narrow (six columns, the sealed analysis about 400 bytes) and are all kept for the
/// second counting pass anyway, so a page twice the logbook's [`PAGE_ROWS`] adds no memory
/// that matters (SQLite packs one into a text of about 450 KB) and halves the queries. At
/// 200,000 complaints, pages of 1,000 and 2,000 took the same time, and pages of 250, 500
/// and 4,000 longer (docs/benchmarks.md).
const ANALYSIS_PAGE_ROWS: u32 = 1000;

/// Most risk-register entries in one conclusion, and the longest field of one.
pub const MAX_RISKS: usize = 30;
pub const MAX_RISK_FIELD_CHARS: usize = 2000;

/// Entries trimmed and checked: a risk named, fields within bounds, at most [`MAX_RISKS`].
fn clean_risks(risks: Vec<report::RiskEntry>) -> Result<Vec<report::RiskEntry>, DeskError> {
    if risks.len() > MAX_RISKS {
        return Err(DeskError::invalid(
            "risks",
            format!("at most {MAX_RISKS} entries"),
        ));
    }
    risks
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let field = |name: &str, v: String| {
                let v = v.trim().to_string();
                if v.chars().count() > MAX_RISK_FIELD_CHARS {
                    Err(DeskError::invalid(
                        &format!("risks[{i}].{name}"),
                        "too long",
                    ))
                } else {
                    Ok(v)
                }
            };
            let e = report::RiskEntry {
                risk: field("risk", r.risk)?,
                cause: field("cause", r.cause)?,
                frequency: r.frequency,
                control: field("control", r.control)?,
                owner: field("owner", r.owner)?,
            };
            if e.risk.is_empty() {
                return Err(DeskError::invalid(
                    &format!("risks[{i}].risk"),
                    "must not be empty",
                ));
            }
            Ok(e)
        })
        .collect()
}

/// The conclusion's text when the Kasi only picked entries: one numbered line each.
fn conclusion_from_risks(risks: &[report::RiskEntry]) -> String {
    let mut out = String::from("Masalah yang paling sering terjadi dan penyebabnya:");
    for (i, r) in risks.iter().enumerate() {
        out.push_str(&format!(
            "\n{}. {} ({} pengaduan)",
            i + 1,
            r.risk,
            r.frequency
        ));
        if !r.cause.is_empty() {
            out.push_str(&format!(" — penyebab: {}", r.cause));
        }
        if !r.control.is_empty() {
            out.push_str(&format!("; pengendalian: {}", r.control));
        }
        if !r.owner.is_empty() {
            out.push_str(&format!(" (pemilik: {})", r.owner));
        }
    }
    out
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
