//! Monthly reports (SOP steps 6–8): one row per month, created once, then moved through
//! `draft → submitted → concluded → decided → received` by [`update`].
//!
//! Every step is one conditional `UPDATE` whose `WHERE` names the states it may apply in,
//! so concurrent steps (replicas, double clicks) cannot skip or repeat a state: a step whose
//! state no longer holds changes nothing and is [`StoreError::Conflict`]. Delivery of the
//! digest is leased ([`claim_delivery`]) so one replica sends it; the lease is cleared when
//! the delivery outcome is recorded.

use chrono::{DateTime, Utc};

use aduan_core::audit::NewAuditEntry;
use aduan_core::model::{ReportRecord, ReportUpdate};
use aduan_core::store::StoreError;

use crate::backend::{Arg, Backend, RowExt, args, db_err, fetch_one};
use crate::rows::{self, report_columns};

const COUNT_RECEIVED: &str =
    "SELECT COUNT(*) AS n FROM complaints WHERE received_at >= $1 AND received_at < $2";

const GET: &str = concat!(
    "SELECT ",
    report_columns!(),
    " FROM reports WHERE month = $1"
);
const EXISTS: &str = "SELECT state FROM reports WHERE month = $1";

const CREATE: &str = "\
    INSERT INTO reports (month, state, report_json, created_at, delivery_attempts, \
    resend_requested) VALUES ($1, 'draft', $2, $3, 0, FALSE) \
    ON CONFLICT (month) DO NOTHING";

/// A conclusion before the figures went out (draft) keeps the draft; one after them
/// concludes the report. Each write is to be mailed (again).
const CONCLUSION: &str = "\
    UPDATE reports SET conclusion = $2, risks_json = $3, conclusion_by = $4, \
        conclusion_at = $5, conclusion_pending = TRUE, conclusion_error = NULL, \
        state = CASE WHEN state = 'submitted' THEN 'concluded' ELSE state END \
    WHERE month = $1 AND state IN ('draft', 'submitted', 'concluded')";

/// The conclusion written at `$3` was mailed at `$2`; a conclusion rewritten meanwhile
/// stays pending.
const CONCLUSION_DELIVERED: &str = "\
    UPDATE reports SET \
        conclusion_pending = CASE WHEN conclusion_at = $3 THEN FALSE ELSE conclusion_pending END, \
        conclusion_sent_at = $2, conclusion_attempts = conclusion_attempts + 1, \
        conclusion_error = NULL, conclusion_claimed_until = NULL \
    WHERE month = $1";

const CONCLUSION_DELIVERY_FAILED: &str = "\
    UPDATE reports SET conclusion_attempts = conclusion_attempts + 1, conclusion_error = $2, \
    conclusion_claimed_until = NULL WHERE month = $1";

/// Lease the conclusion mail of month `$1` until `$3` if one is pending, the figures went
/// out first (SOP order), and no lease is live at `$2`.
const CLAIM_CONCLUSION: &str = "\
    UPDATE reports SET conclusion_claimed_until = $3 \
    WHERE month = $1 AND conclusion_pending = TRUE AND state <> 'draft' \
    AND (conclusion_claimed_until IS NULL OR conclusion_claimed_until <= $2)";

/// The right-hand sides see the row before the update, so `state = 'draft'` is the old state:
/// a draft the Kasi already concluded on is concluded once its figures are delivered.
const DELIVERED: &str = "\
    UPDATE reports SET \
        state = CASE WHEN state = 'draft' THEN \
            (CASE WHEN conclusion IS NULL THEN 'submitted' ELSE 'concluded' END) \
            ELSE state END, \
        submitted_at = CASE WHEN state = 'draft' THEN $2 ELSE submitted_at END, \
        decide_due_at = CASE WHEN state = 'draft' THEN $3 ELSE decide_due_at END, \
        resend_requested = FALSE, delivery_attempts = delivery_attempts + 1, \
        last_error = NULL, delivery_claimed_until = NULL \
    WHERE month = $1";

const DELIVERY_FAILED: &str = "\
    UPDATE reports SET delivery_attempts = delivery_attempts + 1, last_error = $2, \
    delivery_claimed_until = NULL WHERE month = $1";

const DECISION: &str = "\
    UPDATE reports SET state = 'decided', decision = $2, decision_by = $3, decision_at = $4, \
    receive_due_at = $5 WHERE month = $1 AND state = 'concluded' AND conclusion IS NOT NULL";

const RECEIPT: &str = "\
    UPDATE reports SET state = 'received', received_by = $2, received_at = $3 \
    WHERE month = $1 AND state = 'decided'";

const REQUEST_RESEND: &str = "UPDATE reports SET resend_requested = TRUE WHERE month = $1";

/// Lease month `$1`'s delivery until `$3` if it is due (draft or re-send) and not leased
/// at `$2`.
const CLAIM_DELIVERY: &str = "\
    UPDATE reports SET delivery_claimed_until = $3 \
    WHERE month = $1 AND (state = 'draft' OR resend_requested = TRUE) \
    AND (delivery_claimed_until IS NULL OR delivery_claimed_until <= $2)";

pub(crate) async fn count_received_between<B: Backend>(
    b: &B,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let mut conn = b.reader().await?;
    fetch_one::<B>(&mut conn, COUNT_RECEIVED, args![from, to])
        .await?
        .i64("n")
}

pub(crate) async fn get<B: Backend>(
    b: &B,
    month: &str,
) -> Result<Option<ReportRecord>, StoreError> {
    let mut conn = b.reader().await?;
    B::fetch_optional(&mut conn, GET, args![month])
        .await?
        .as_ref()
        .map(rows::report)
        .transpose()
}

/// Insert the month's draft; false when it already exists.
pub(crate) async fn create<B: Backend>(
    b: &B,
    month: &str,
    report_json: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut conn = b.writer().await?;
    Ok(B::execute(&mut conn, CREATE, args![month, report_json, at]).await? > 0)
}

/// The statement and arguments of one step.
fn step(month: &str, update: ReportUpdate) -> (&'static str, Vec<Arg>) {
    match update {
        ReportUpdate::Conclusion {
            text,
            risks_json,
            by,
            at,
        } => (CONCLUSION, args![month, text, risks_json, by, at]),
        ReportUpdate::ConclusionDelivered { at, written_at } => {
            (CONCLUSION_DELIVERED, args![month, at, written_at])
        }
        ReportUpdate::ConclusionDeliveryFailed { error } => {
            (CONCLUSION_DELIVERY_FAILED, args![month, error])
        }
        ReportUpdate::Delivered { at, decide_due_at } => {
            (DELIVERED, args![month, at, decide_due_at])
        }
        ReportUpdate::DeliveryFailed { error } => (DELIVERY_FAILED, args![month, error]),
        ReportUpdate::Decision {
            text,
            by,
            at,
            receive_due_at,
        } => (DECISION, args![month, text, by, at, receive_due_at]),
        ReportUpdate::Receipt { by, at } => (RECEIPT, args![month, by, at]),
        ReportUpdate::RequestResend => (REQUEST_RESEND, args![month]),
    }
}

/// Apply one step, with its audit entry in the same transaction. `Conflict` when the report is not in a state the step applies in;
/// `Other` when there is no report for `month`.
pub(crate) async fn update<B: Backend>(
    b: &B,
    month: &str,
    update: ReportUpdate,
    audit: Option<NewAuditEntry>,
) -> Result<(), StoreError> {
    let (sql, params) = step(month, update);
    let mut h = b.writer().await?;
    let mut tx = B::begin_write(&mut h).await?;
    let n = B::execute(&mut tx, sql, params).await?;
    if n > 0 {
        if let Some(a) = &audit {
            crate::audit::append_in::<B>(&mut tx, a).await?;
        }
        tx.commit().await.map_err(db_err)?;
        return Ok(());
    }
    let exists = B::fetch_optional(&mut tx, EXISTS, args![month])
        .await?
        .is_some();
    tx.rollback().await.map_err(db_err)?;
    if exists {
        Err(StoreError::Conflict)
    } else {
        Err(StoreError::Other(format!("no report for month {month}")))
    }
}

/// Lease the delivery of `month` until `until`; false when nothing is to be delivered or
/// another lease is live at `now`.
pub(crate) async fn claim_delivery<B: Backend>(
    b: &B,
    month: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut conn = b.writer().await?;
    Ok(B::execute(&mut conn, CLAIM_DELIVERY, args![month, now, until]).await? > 0)
}

/// Lease the conclusion mail of `month` until `until`; false when none is pending, the
/// figures have not gone out yet, or another lease is live at `now`.
pub(crate) async fn claim_conclusion<B: Backend>(
    b: &B,
    month: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut conn = b.writer().await?;
    Ok(B::execute(&mut conn, CLAIM_CONCLUSION, args![month, now, until]).await? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aduan_core::model::ReportState;

    #[test]
    fn state_strings_in_sql_match_the_domain() {
        let lit = |s: ReportState| format!("'{}'", s.as_str());
        assert!(CREATE.contains(&lit(ReportState::Draft)));
        assert!(DELIVERED.contains(&lit(ReportState::Submitted)));
        assert!(DECISION.contains(&lit(ReportState::Decided)));
        assert!(DECISION.contains(&lit(ReportState::Concluded)));
        assert!(CONCLUSION.contains(&lit(ReportState::Concluded)));
        assert!(CONCLUSION.contains(&lit(ReportState::Submitted)));
        assert!(DELIVERED.contains(&lit(ReportState::Concluded)));
        assert!(CLAIM_CONCLUSION.contains(&lit(ReportState::Draft)));
        assert!(RECEIPT.contains(&lit(ReportState::Received)));
        assert!(CLAIM_DELIVERY.contains(&lit(ReportState::Draft)));
    }
}
