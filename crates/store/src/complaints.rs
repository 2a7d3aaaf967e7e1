//! Complaints after creation (see [`crate::create`]): reads, workflow transitions and the
//! queue.
//!
//! Invariants kept here:
//! - `version` starts at 1 and grows by one per transition; a transition computed from an
//!   older version writes nothing and is a [`StoreError::Conflict`] (optimistic concurrency).
//! - A transition's history line, reply, message (with its attachments), audit entry and
//!   intake cursor are written in the same transaction as the state change. A message whose
//!   `(channel, external_id)` is already stored (a redelivery) rolls the whole transition
//!   back: [`StoreError::AlreadyExists`].
//! - Reads of a whole complaint (or of a month for the logbook) run in one read transaction,
//!   so they see one snapshot.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use aduan_core::model::{
    ComplaintRecord, Direction, NewMessage, QueueFilter, QueueItem, TransitionWrite,
};
use aduan_core::store::StoreError;
use aduan_core::types::{BidangCode, Resolution, State, TicketNumber};
use aduan_core::workflow::HistoryEntry;

use crate::attachments::{ATTACHMENT, attachment_args};
use crate::backend::{Arg, Backend, Insert, RowExt, Stmt, args, db_err};
use crate::intake::cursor_stmt;
use crate::outbox::{REPLY, reply_args};
use crate::rows::{self, complaint_columns, history_columns};
use crate::vault::Vault;

/// Keyed-hash domain of every platform message id (complaints, messages, outbox), so one
/// look-up matches an id wherever it is stored.
pub(crate) const EXTERNAL_ID: &str = "external_id";

const MESSAGE_HEAD: &str = "INSERT INTO messages (complaint_id, direction, at, text, \
    external_id, channel, external_ref) VALUES ";
const MESSAGE_ROW: &str = "($1, $2, $3, $4, $5, $6, $7)";

/// A citizen's or staff's message: a complaint's first message or one appended by a
/// transition. A conflict means the platform message is stored already (a redelivery);
/// the writer rolls back and reports it.
pub(crate) const MESSAGE: Insert = Insert {
    head: MESSAGE_HEAD,
    row: MESSAGE_ROW,
    per_row: 7,
    tail: "",
};

/// A sent reply recorded in the conversation: a platform id seen before is ignored.
pub(crate) const SENT_MESSAGE: Insert = Insert {
    head: MESSAGE_HEAD,
    row: MESSAGE_ROW,
    per_row: 7,
    tail: " ON CONFLICT (channel, external_id) DO NOTHING",
};

pub(crate) const HISTORY: Insert = Insert {
    head: "INSERT INTO history (complaint_id, step, action, state, actor, at, due_at, \
           elapsed_seconds, breached, note) VALUES ",
    row: "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    per_row: 10,
    tail: "",
};

/// `$12` paraf, `$13` actor, `$14` reopen. A reopen clears the outcome and the paraf;
/// values set by the same transition win over the clearing. `$15` clears the open question,
/// `$16`-`$18` set one (asked from, remaining seconds, sealed question); `$19` the carried
/// seconds; `$20`-`$22` the rating; `$23` the reply thread; `$24` an answer was given
/// (`answered_at`).
const UPDATE_FOR_TRANSITION: &str = "\
    UPDATE complaints SET \
        state = $3, state_entered_at = $4, due_at = $5, updated_at = $6, \
        version = version + 1, \
        bidang = COALESCE($7, bidang), \
        solution = COALESCE($8, solution), \
        answer = COALESCE($9, CASE WHEN $14 THEN NULL ELSE answer END), \
        status = COALESCE($10, CASE WHEN $14 THEN NULL ELSE status END), \
        close_reason = COALESCE($11, close_reason), \
        paraf_by = CASE WHEN $12 THEN $13 WHEN $14 THEN NULL ELSE paraf_by END, \
        paraf_at = CASE WHEN $12 THEN $6 WHEN $14 THEN NULL ELSE paraf_at END, \
        asked_from = CASE WHEN $15 THEN NULL ELSE COALESCE($16, asked_from) END, \
        ask_remaining_seconds = CASE WHEN $15 THEN NULL \
            ELSE COALESCE($17, ask_remaining_seconds) END, \
        question = CASE WHEN $15 THEN NULL ELSE COALESCE($18, question) END, \
        step_carried_seconds = COALESCE($19, step_carried_seconds), \
        rating_score = COALESCE($20, rating_score), \
        rating_comment = COALESCE($21, rating_comment), \
        rated_at = COALESCE($22, rated_at), \
        reply_thread = COALESCE($23, reply_thread), \
        answered_at = CASE WHEN $24 THEN $6 ELSE answered_at END \
    WHERE id = $1 AND version = $2 \
    RETURNING channel";

const SHARE_IDENTITY: &str = "\
    INSERT INTO identity_shares (complaint_id, bidang) VALUES ($1, $2) \
    ON CONFLICT DO NOTHING";

const BY_TICKET: &str = concat!(
    "SELECT ",
    complaint_columns!(),
    " FROM complaints WHERE ticket = $1"
);
const MESSAGES_OF: &str = "\
    SELECT direction, at, text, external_ref, channel FROM messages \
    WHERE complaint_id = $1 ORDER BY at, id";
const HISTORY_OF: &str = concat!(
    "SELECT ",
    history_columns!(),
    " FROM history h WHERE h.complaint_id = $1 ORDER BY h.id"
);
const REPLIES_OF: &str = "\
    SELECT kind, channel, status, attempts, last_error, created_at, sent_at, next_attempt_at FROM outbox \
    WHERE complaint_id = $1 ORDER BY id";
const ATTACHMENTS_OF: &str = "\
    SELECT id, filename, content_type, size FROM attachments \
    WHERE complaint_id = $1 ORDER BY id";
const SHARES_OF: &str = "\
    SELECT complaint_id, bidang FROM identity_shares WHERE complaint_id = $1 ORDER BY bidang";

const RECEIVED_BETWEEN: &str = concat!(
    "SELECT ",
    complaint_columns!(),
    " FROM complaints WHERE received_at >= $1 AND received_at < $2 ORDER BY received_at, id"
);
const HISTORY_RECEIVED_BETWEEN: &str = concat!(
    "SELECT ",
    history_columns!(),
    " FROM history h JOIN complaints c ON c.id = h.complaint_id \
     WHERE c.received_at >= $1 AND c.received_at < $2 ORDER BY h.complaint_id, h.id"
);
const SHARES_RECEIVED_BETWEEN: &str = "\
    SELECT s.complaint_id, s.bidang FROM identity_shares s \
    JOIN complaints c ON c.id = s.complaint_id \
    WHERE c.received_at >= $1 AND c.received_at < $2 ORDER BY s.complaint_id, s.bidang";

/// Arguments of one [`HISTORY`] row.
pub(crate) fn history_args(complaint_id: i64, h: &HistoryEntry, v: &Vault) -> Vec<Arg> {
    args![
        complaint_id,
        h.step.map(|s| s.as_str()),
        h.action.as_str(),
        h.state.as_str(),
        h.actor.as_str(),
        h.at,
        h.due_at,
        h.elapsed_seconds,
        h.breached,
        v.seal_opt("history.note", h.note.as_deref()),
    ]
}

/// Arguments of one [`MESSAGE`] row: the text sealed, the platform id as its keyed hash
/// (uniqueness, look-ups) and sealed (rotation re-hashes from it).
pub(crate) fn message_args(
    complaint_id: i64,
    channel: &str,
    direction: Direction,
    at: DateTime<Utc>,
    text: &str,
    external_id: Option<&str>,
    v: &Vault,
) -> Vec<Arg> {
    args![
        complaint_id,
        direction.as_str(),
        at,
        v.seal("messages.text", text),
        v.blind_opt(EXTERNAL_ID, external_id),
        channel,
        v.seal_opt("messages.external_ref", external_id),
    ]
}

/// Arguments of a [`MESSAGE`] row appended by a transition.
fn new_message_args(complaint_id: i64, channel: &str, m: &NewMessage, v: &Vault) -> Vec<Arg> {
    // A message keeps the channel it travelled on; by default the complaint's.
    let channel = m.channel.map(|c| c.as_str()).unwrap_or(channel);
    message_args(
        complaint_id,
        channel,
        m.direction,
        m.at,
        &m.text,
        m.external_id.as_deref(),
        v,
    )
}

/// The whole complaint by ticket, read in one snapshot.
pub(crate) async fn get<B: Backend>(
    b: &B,
    ticket: &TicketNumber,
) -> Result<Option<ComplaintRecord>, StoreError> {
    let mut h = b.reader().await?;
    let mut tx = B::begin_read(&mut h).await?;
    let Some(row) = B::fetch_optional(&mut tx, BY_TICKET, args![ticket.as_str()]).await? else {
        return Ok(None);
    };
    let v = b.vault();
    let mut rec = rows::complaint(&row, v)?;
    let id = rec.id;
    rec.messages = B::fetch_all(&mut tx, MESSAGES_OF, args![id])
        .await?
        .iter()
        .map(|r| rows::message(r, v))
        .collect::<Result<_, _>>()?;
    rec.history = B::fetch_all(&mut tx, HISTORY_OF, args![id])
        .await?
        .iter()
        .map(|r| rows::history(r, v).map(|(_, h)| h))
        .collect::<Result<_, _>>()?;
    rec.replies = B::fetch_all(&mut tx, REPLIES_OF, args![id])
        .await?
        .iter()
        .map(|r| rows::reply_view(r, v))
        .collect::<Result<_, _>>()?;
    rec.attachments = B::fetch_all(&mut tx, ATTACHMENTS_OF, args![id])
        .await?
        .iter()
        .map(|r| rows::attachment(r, v))
        .collect::<Result<_, _>>()?;
    rec.identity_shared_with = B::fetch_all(&mut tx, SHARES_OF, args![id])
        .await?
        .iter()
        .map(|r| rows::share(r).map(|(_, b)| b))
        .collect::<Result<_, _>>()?;
    rec.attachment_shares = crate::attachments::shares_in::<B>(&mut tx, id).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(Some(rec))
}

/// Persist a transition if the complaint is still at `expected_version` (else `Conflict`)
/// and its message is not stored yet (else `AlreadyExists`); nothing is written on error.
pub(crate) async fn save_transition<B: Backend>(
    b: &B,
    w: TransitionWrite<'_>,
) -> Result<(), StoreError> {
    let t = w.transition;
    let ch = &t.changes;
    let at = t.history.at;
    let v = b.vault();
    let mut h = b.writer().await?;
    let mut tx = B::begin_write(&mut h).await?;
    let updated = B::fetch_optional(
        &mut tx,
        UPDATE_FOR_TRANSITION,
        args![
            w.complaint_id,
            w.expected_version,
            t.to.as_str(),
            t.state_entered_at,
            t.due_at,
            at,
            ch.bidang.as_ref().map(BidangCode::as_str),
            v.seal_opt("complaints.solution", ch.solution.as_deref()),
            v.seal_opt("complaints.answer", ch.answer.as_deref()),
            ch.status.map(Resolution::as_str),
            ch.close_reason.as_deref(),
            ch.paraf,
            w.actor.as_str(),
            ch.reopen,
            ch.clear_pause,
            ch.pause.as_ref().map(|p| p.asked_from.as_str()),
            ch.pause.as_ref().map(|p| p.remaining_seconds),
            ch.pause
                .as_ref()
                .map(|p| v.seal("complaints.question", &p.question)),
            ch.carried_seconds,
            ch.rating.as_ref().map(|r| i64::from(r.score)),
            v.seal_opt(
                "complaints.rating_comment",
                ch.rating.as_ref().and_then(|r| r.comment.as_deref())
            ),
            ch.rating.as_ref().map(|r| r.at),
            crate::rows::reply_thread_arg(ch.reply_thread.as_ref(), v),
            ch.answer.is_some(),
        ],
    )
    .await?;
    let Some(row) = updated else {
        // Stale version (or no such complaint): nothing was written.
        return Err(StoreError::Conflict);
    };
    let channel = row.text("channel")?;
    let mut batch = Vec::with_capacity(6);
    // Files of the message to fetch, on the channel the message came on.
    let media_jobs = if w.media.is_empty() {
        Vec::new()
    } else {
        let on = match w.message.as_ref().and_then(|m| m.channel) {
            Some(c) => c,
            None => channel
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("channel `{channel}`: {e}")))?,
        };
        crate::media::job_stmts(w.complaint_id, on, &w.media, at, v)
    };
    // The message goes first: on a redelivery nothing else of the batch runs.
    let mut message_key = None;
    if let Some(m) = w.message {
        if m.external_id.is_some() {
            // Names the channel only: a platform id can carry a chat id or a phone number.
            let on = m.channel.map_or(channel.as_str(), |c| c.as_str());
            message_key = Some(format!("message on {on}"));
        }
        batch.push(MESSAGE.one(new_message_args(w.complaint_id, &channel, &m, v)));
    }
    batch.extend(
        ATTACHMENT.stmts(
            w.attachments
                .iter()
                .map(|a| attachment_args(w.complaint_id, a, at, v))
                .collect(),
        ),
    );
    batch.extend(media_jobs);
    if let Some(bidang) = &ch.share_identity_with {
        batch.push(Stmt {
            sql: SHARE_IDENTITY.to_string(),
            args: args![w.complaint_id, bidang.as_str()],
        });
    }
    batch.push(HISTORY.one(history_args(w.complaint_id, &t.history, v)));
    if let Some(reply) = &w.reply {
        batch.push(REPLY.one(reply_args(w.complaint_id, reply, at, v)?));
    }
    if let Some(c) = &w.cursor {
        batch.push(cursor_stmt(&c.key, &c.value));
    }
    match B::execute_batch(&mut tx, batch).await {
        Ok(()) => {}
        // Only the message row can violate a uniqueness rule in this batch.
        Err(StoreError::AlreadyExists(msg)) => {
            tx.rollback().await.map_err(db_err)?;
            return Err(StoreError::AlreadyExists(message_key.unwrap_or(msg)));
        }
        Err(e) => return Err(e),
    }
    if let Some(a) = &w.audit {
        crate::audit::append_in::<B>(&mut tx, a).await?;
    }
    let mut signals = crate::wake::Signals {
        replies: w.reply.is_some(),
        deadline: None,
    };
    signals.deadline(t.due_at);
    signals.in_tx::<B>(&mut tx).await?;
    tx.commit().await.map_err(db_err)?;
    signals.local(b.wakeups());
    Ok(())
}

/// Queue lines: by state (default: everything not closed) and bidang, due first.
pub(crate) async fn queue<B: Backend>(
    b: &B,
    filter: &QueueFilter,
) -> Result<Vec<QueueItem>, StoreError> {
    let mut sql = String::from(
        "SELECT ticket, channel, state, received_at, due_at, bidang FROM complaints WHERE ",
    );
    let mut params: Vec<Arg> = Vec::new();
    match filter.state {
        Some(state) => {
            params.push(state.as_str().into());
            sql.push_str(&format!("state = ${}", params.len()));
        }
        None => sql.push_str(&format!("state <> '{}'", State::Closed.as_str())),
    }
    if let Some(bidang) = &filter.bidang {
        params.push(bidang.as_str().into());
        sql.push_str(&format!(" AND bidang = ${}", params.len()));
    }
    sql.push_str(" ORDER BY due_at ASC NULLS LAST, received_at, id");
    if let Some(limit) = filter.limit {
        params.push(i64::from(limit).into());
        sql.push_str(&format!(" LIMIT ${}", params.len()));
    }
    let mut conn = b.reader().await?;
    // Only constant fragments and placeholders went into `sql`; values are bound.
    B::fetch_all_built(&mut conn, sql, params)
        .await?
        .iter()
        .map(rows::queue_item)
        .collect()
}

/// Complaints received in `[from, to)` with history and identity shares, in three queries.
pub(crate) async fn received_between<B: Backend>(
    b: &B,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ComplaintRecord>, StoreError> {
    let v = b.vault();
    let mut h = b.reader().await?;
    let mut tx = B::begin_read(&mut h).await?;
    let mut records: Vec<ComplaintRecord> =
        B::fetch_all(&mut tx, RECEIVED_BETWEEN, args![from, to])
            .await?
            .iter()
            .map(|r| rows::complaint(r, v))
            .collect::<Result<_, _>>()?;
    let index: HashMap<i64, usize> = records.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    for row in B::fetch_all(&mut tx, HISTORY_RECEIVED_BETWEEN, args![from, to]).await? {
        let (id, h) = rows::history(&row, v)?;
        if let Some(&i) = index.get(&id) {
            records[i].history.push(h);
        }
    }
    for row in B::fetch_all(&mut tx, SHARES_RECEIVED_BETWEEN, args![from, to]).await? {
        let (id, bidang) = rows::share(&row)?;
        if let Some(&i) = index.get(&id) {
            records[i].identity_shared_with.push(bidang);
        }
    }
    tx.commit().await.map_err(db_err)?;
    Ok(records)
}
