//! SLA escalation: running steps past their due time, escalated exactly once per step.
//!
//! A step is identified by the complaint's `state_entered_at`; `complaints.escalated_for`
//! holds the `state_entered_at` of the step last escalated. A step is escalatable while the
//! complaint is not closed, has a due time, and `escalated_for` is NULL or names an earlier
//! step, so any transition that enters a new step (a new `state_entered_at`) re-arms it.
//!
//! [`record`] claims the step with one conditional `UPDATE` and writes the history line and
//! notices in the same transaction. Concurrent callers (replicas) serialize on the row: on
//! PostgreSQL the loser's `UPDATE` waits for the winner's commit and then re-checks its
//! `WHERE` against the new row (no match); on SQLite the write lock serializes them. Either
//! way exactly one caller sees one affected row and writes.

use chrono::{DateTime, Utc};

use aduan_core::model::{EscalationCandidate, NewReply};
use aduan_core::store::StoreError;
use aduan_core::types::TicketNumber;
use aduan_core::workflow::HistoryEntry;

use crate::backend::{Backend, RowExt, args, db_err, from_ms};
use crate::complaints::{HISTORY, history_args};
use crate::outbox::{REPLY, reply_args};
use crate::rows;

/// The escalatable condition, shared by every statement here. Its first two terms match
/// the predicate of `complaints_escalation_idx`. A `waiting_citizen` complaint has no
/// running step: its due time is the end of the citizen's wait ([`WAITS_DUE`]).
macro_rules! escalatable {
    () => {
        "state <> 'closed' AND due_at IS NOT NULL AND state <> 'waiting_citizen' \
         AND (escalated_for IS NULL OR escalated_for <> state_entered_at)"
    };
}

/// `$1` now, `$2` limit.
const DUE: &str = concat!(
    "SELECT id, ticket, state, state_entered_at, due_at, bidang FROM complaints WHERE ",
    escalatable!(),
    " AND due_at <= $1 ORDER BY due_at, id LIMIT $2"
);

/// The SLA timer's next work: an escalation or the end of a wait.
const NEXT_DUE: &str = concat!(
    "SELECT MIN(due_at) AS due FROM complaints WHERE (",
    escalatable!(),
    ") OR (state = 'waiting_citizen' AND due_at IS NOT NULL)"
);

/// Questions whose wait ended by `$1` (uses `complaints_waiting_idx`), `$2` limit.
const WAITS_DUE: &str = "\
    SELECT ticket FROM complaints WHERE state = 'waiting_citizen' AND due_at <= $1 \
    ORDER BY due_at, id LIMIT $2";

/// Claim step `$2` (its `state_entered_at`) of complaint `$1`.
const CLAIM: &str = concat!(
    "UPDATE complaints SET escalated_for = state_entered_at \
     WHERE id = $1 AND state_entered_at = $2 AND ",
    escalatable!()
);

pub(crate) async fn due<B: Backend>(
    b: &B,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<EscalationCandidate>, StoreError> {
    let mut conn = b.reader().await?;
    B::fetch_all(&mut conn, DUE, args![now, i64::from(limit)])
        .await?
        .iter()
        .map(rows::escalation_candidate)
        .collect()
}

/// Escalate the step of `complaint_id` that started at `state_entered_at`, once.
pub(crate) async fn record<B: Backend>(
    b: &B,
    complaint_id: i64,
    state_entered_at: DateTime<Utc>,
    history: &HistoryEntry,
    notices: Vec<NewReply>,
) -> Result<bool, StoreError> {
    let mut h = b.writer().await?;
    let mut tx = B::begin_write(&mut h).await?;
    let claimed = B::execute(&mut tx, CLAIM, args![complaint_id, state_entered_at]).await?;
    if claimed == 0 {
        tx.rollback().await.map_err(db_err)?;
        return Ok(false);
    }
    let v = b.vault();
    let mut batch = vec![HISTORY.one(history_args(complaint_id, history, v))];
    let replies = notices
        .iter()
        .map(|n| reply_args(complaint_id, n, history.at, v))
        .collect::<Result<Vec<_>, _>>()?;
    let signals = crate::wake::Signals {
        replies: !replies.is_empty(),
        deadline: None,
    };
    batch.extend(REPLY.stmts(replies));
    B::execute_batch(&mut tx, batch).await?;
    signals.in_tx::<B>(&mut tx).await?;
    tx.commit().await.map_err(db_err)?;
    signals.local(b.wakeups());
    Ok(true)
}

/// Complaints whose question's wait ended by `now`.
pub(crate) async fn waits_due<B: Backend>(
    b: &B,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<TicketNumber>, StoreError> {
    let mut conn = b.reader().await?;
    B::fetch_all(&mut conn, WAITS_DUE, args![now, i64::from(limit)])
        .await?
        .iter()
        .map(|r| rows::ticket(r.str_ref("ticket")?))
        .collect()
}

pub(crate) async fn next_due<B: Backend>(b: &B) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut conn = b.reader().await?;
    match B::fetch_optional(&mut conn, NEXT_DUE, args![]).await? {
        Some(r) => r.opt_i64("due")?.map(|ms| from_ms(ms, "due")).transpose(),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aduan_core::types::State;

    #[test]
    fn the_closed_literal_matches_the_domain() {
        assert!(DUE.contains(&format!("state <> '{}'", State::Closed.as_str())));
        let waiting = format!("state = '{}'", State::WaitingCitizen.as_str());
        assert!(WAITS_DUE.contains(&waiting) && NEXT_DUE.contains(&waiting));
    }
}
