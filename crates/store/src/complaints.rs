//! Complaints: creation with gap-free numbering, reads, workflow transitions and the queue.
//!
//! Invariants kept here:
//! - A ticket number is taken from `ticket_counters` inside the creating transaction, so a
//!   rolled-back create (including a lost duplicate race) gives its number back: numbers are
//!   unique and gap-free per month. On PostgreSQL the counter row lock serializes replicas.
//! - `(channel, external_id)` is unique for complaints and for messages. The complaint's body
//!   is also its first inbound message carrying the same key, so one lookup finds a
//!   redelivery whether it created a complaint or was threaded into one.
//! - `version` starts at 1 and grows by one per transition (optimistic concurrency).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use aduan_core::model::{ComplaintRecord, CreateOutcome, NewComplaint, QueueFilter, QueueItem};
use aduan_core::model::{Direction, NewMessage, TransitionWrite};
use aduan_core::store::StoreError;
use aduan_core::types::{BidangCode, Channel, Resolution, State, TicketNumber};
use aduan_core::workflow::HistoryEntry;

use crate::backend::{Arg, Backend, Conn, RowExt, args, db_err, fetch_one};
use crate::outbox::insert_reply;
use crate::rows::{self, complaint_columns, history_columns};

/// An earlier complaint (or threaded message) with this `(channel, external_id)`.
const FIND_DUPLICATE: &str = "\
    SELECT id, ticket FROM complaints WHERE channel = $1 AND external_id = $2 \
    UNION ALL \
    SELECT c.id, c.ticket FROM messages m JOIN complaints c ON c.id = m.complaint_id \
    WHERE m.channel = $1 AND m.external_id = $2 \
    LIMIT 1";

const NEXT_TICKET: &str = "\
    INSERT INTO ticket_counters (month, last) VALUES ($1, 1) \
    ON CONFLICT (month) DO UPDATE SET last = ticket_counters.last + 1 \
    RETURNING last";

const INSERT_COMPLAINT: &str = "\
    INSERT INTO complaints (ticket, channel, external_id, received_at, name, address, email, \
    phone, handle, category, target, body, letter_number, state, state_entered_at, due_at, \
    access_code_hash, version, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 1, \
    $18, $18) \
    RETURNING id";

const INSERT_MESSAGE: &str = "\
    INSERT INTO messages (complaint_id, direction, at, text, external_id, channel) \
    VALUES ($1, $2, $3, $4, $5, $6)";

/// Appended messages: a redelivered platform message is silently ignored.
pub(crate) const APPEND_MESSAGE: &str = "\
    INSERT INTO messages (complaint_id, direction, at, text, external_id, channel) \
    VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (channel, external_id) DO NOTHING";

const INSERT_ATTACHMENT: &str = "\
    INSERT INTO attachments (complaint_id, filename, content_type, size, data, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6)";

const INSERT_HISTORY: &str = "\
    INSERT INTO history (complaint_id, step, action, state, actor, at, due_at, \
    elapsed_seconds, breached, note) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// `$12` paraf, `$13` actor, `$14` reopen. A reopen clears the outcome and the paraf;
/// values set by the same transition win over the clearing.
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
        paraf_at = CASE WHEN $12 THEN $6 WHEN $14 THEN NULL ELSE paraf_at END \
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
    SELECT direction, at, text, external_id FROM messages \
    WHERE complaint_id = $1 ORDER BY at, id";
const HISTORY_OF: &str = concat!(
    "SELECT ",
    history_columns!(),
    " FROM history h WHERE h.complaint_id = $1 ORDER BY h.id"
);
const REPLIES_OF: &str = "\
    SELECT kind, channel, status, attempts, last_error, created_at, sent_at FROM outbox \
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

/// Number and insert a complaint with everything that belongs to it, in one transaction.
pub(crate) async fn create<B: Backend>(
    b: &B,
    c: NewComplaint,
) -> Result<CreateOutcome, StoreError> {
    let key = c.external_id.clone().map(|ext| (c.channel, ext));
    let mut tx = b.begin_write().await?;
    if let Some((channel, ext)) = &key
        && let Some((id, ticket)) = find_duplicate::<B>(&mut tx, *channel, ext).await?
    {
        tx.rollback().await.map_err(db_err)?;
        return Ok(CreateOutcome::Duplicate { id, ticket });
    }
    match insert::<B>(&mut tx, c).await {
        Ok((id, ticket)) => {
            tx.commit().await.map_err(db_err)?;
            Ok(CreateOutcome::Created { id, ticket })
        }
        Err(StoreError::AlreadyExists(msg)) => {
            // Another writer (replica) committed the same (channel, external_id) after our
            // check. Rolling back also returns the ticket number we took.
            tx.rollback().await.map_err(db_err)?;
            let Some((channel, ext)) = &key else {
                return Err(StoreError::Other(format!(
                    "unexpected uniqueness violation creating a complaint: {msg}"
                )));
            };
            let mut conn = b.write_conn().await?;
            match find_duplicate::<B>(&mut conn, *channel, ext).await? {
                Some((id, ticket)) => Ok(CreateOutcome::Duplicate { id, ticket }),
                None => Err(StoreError::Other(format!(
                    "uniqueness violation creating a complaint: {msg}"
                ))),
            }
        }
        Err(e) => Err(e),
    }
}

async fn find_duplicate<B: Backend>(
    conn: &mut Conn<B>,
    channel: Channel,
    external_id: &str,
) -> Result<Option<(i64, TicketNumber)>, StoreError> {
    let row = B::fetch_optional(conn, FIND_DUPLICATE, args![channel.as_str(), external_id]).await?;
    row.map(|r| Ok((r.i64("id")?, rows::ticket(&r.text("ticket")?)?)))
        .transpose()
}

/// The inserts of [`create`], inside its transaction.
async fn insert<B: Backend>(
    conn: &mut Conn<B>,
    c: NewComplaint,
) -> Result<(i64, TicketNumber), StoreError> {
    let (year, month) = c.ticket_month;
    if !(1..=12).contains(&month) || !(0..=9999).contains(&year) {
        return Err(StoreError::Other(format!(
            "invalid ticket month {year:04}-{month:02}"
        )));
    }
    let seq = fetch_one::<B>(conn, NEXT_TICKET, args![format!("{year:04}{month:02}")])
        .await?
        .i64("last")?;
    let seq = u64::try_from(seq)
        .map_err(|_| StoreError::Corrupt(format!("ticket counter {seq} is negative")))?;
    let ticket = TicketNumber::new(&c.ticket_prefix, year, month, seq);
    let created = c.state_entered_at;
    let channel = c.channel.as_str();
    let id = fetch_one::<B>(
        conn,
        INSERT_COMPLAINT,
        args![
            ticket.as_str(),
            channel,
            c.external_id.as_deref(),
            c.received_at,
            c.identity.name,
            c.identity.address,
            c.identity.email,
            c.identity.phone,
            c.identity.handle,
            c.category.map(|x| x.as_str()),
            c.target,
            c.body.as_str(),
            c.letter_number,
            c.state.as_str(),
            c.state_entered_at,
            c.due_at,
            c.access_code_hash,
            created,
        ],
    )
    .await?
    .i64("id")?;
    B::execute(
        conn,
        INSERT_MESSAGE,
        args![
            id,
            Direction::In.as_str(),
            c.received_at,
            c.body,
            c.external_id,
            channel,
        ],
    )
    .await?;
    for a in c.attachments {
        let size = i64::try_from(a.data.len()).unwrap_or(i64::MAX);
        B::execute(
            conn,
            INSERT_ATTACHMENT,
            args![id, a.filename, a.content_type, size, a.data, created],
        )
        .await?;
    }
    for h in &c.history {
        insert_history::<B>(conn, id, h).await?;
    }
    for r in c.acks {
        insert_reply::<B>(conn, id, r, created).await?;
    }
    Ok((id, ticket))
}

async fn insert_history<B: Backend>(
    conn: &mut Conn<B>,
    complaint_id: i64,
    h: &HistoryEntry,
) -> Result<(), StoreError> {
    B::execute(
        conn,
        INSERT_HISTORY,
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
            h.note.as_deref(),
        ],
    )
    .await?;
    Ok(())
}

/// Append a message to a conversation, ignoring a redelivered `(channel, external_id)`.
pub(crate) async fn append_message<B: Backend>(
    conn: &mut Conn<B>,
    complaint_id: i64,
    channel: &str,
    m: NewMessage,
) -> Result<(), StoreError> {
    B::execute(
        conn,
        APPEND_MESSAGE,
        args![
            complaint_id,
            m.direction.as_str(),
            m.at,
            m.text,
            m.external_id,
            channel,
        ],
    )
    .await?;
    Ok(())
}

/// The whole complaint by ticket, read in one snapshot.
pub(crate) async fn get<B: Backend>(
    b: &B,
    ticket: &TicketNumber,
) -> Result<Option<ComplaintRecord>, StoreError> {
    let mut tx = b.begin_read().await?;
    let Some(row) = B::fetch_optional(&mut tx, BY_TICKET, args![ticket.as_str()]).await? else {
        return Ok(None);
    };
    let mut rec = rows::complaint(&row)?;
    let id = rec.id;
    rec.messages = B::fetch_all(&mut tx, MESSAGES_OF, args![id])
        .await?
        .iter()
        .map(rows::message)
        .collect::<Result<_, _>>()?;
    rec.history = B::fetch_all(&mut tx, HISTORY_OF, args![id])
        .await?
        .iter()
        .map(|r| rows::history(r).map(|(_, h)| h))
        .collect::<Result<_, _>>()?;
    rec.replies = B::fetch_all(&mut tx, REPLIES_OF, args![id])
        .await?
        .iter()
        .map(rows::reply_view)
        .collect::<Result<_, _>>()?;
    rec.attachments = B::fetch_all(&mut tx, ATTACHMENTS_OF, args![id])
        .await?
        .iter()
        .map(rows::attachment)
        .collect::<Result<_, _>>()?;
    rec.identity_shared_with = B::fetch_all(&mut tx, SHARES_OF, args![id])
        .await?
        .iter()
        .map(|r| rows::share(r).map(|(_, b)| b))
        .collect::<Result<_, _>>()?;
    tx.commit().await.map_err(db_err)?;
    Ok(Some(rec))
}

/// Persist a transition if the complaint is still at `expected_version`.
pub(crate) async fn save_transition<B: Backend>(
    b: &B,
    w: TransitionWrite<'_>,
) -> Result<(), StoreError> {
    let t = w.transition;
    let ch = &t.changes;
    let at = t.history.at;
    let mut tx = b.begin_write().await?;
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
            ch.solution.as_deref(),
            ch.answer.as_deref(),
            ch.status.map(Resolution::as_str),
            ch.close_reason.as_deref(),
            ch.paraf,
            w.actor.as_str(),
            ch.reopen,
        ],
    )
    .await?;
    let Some(row) = updated else {
        // Stale version (or no such complaint): nothing was written.
        return Err(StoreError::Conflict);
    };
    let channel = row.text("channel")?;
    if let Some(bidang) = &ch.share_identity_with {
        B::execute(
            &mut tx,
            SHARE_IDENTITY,
            args![w.complaint_id, bidang.as_str()],
        )
        .await?;
    }
    insert_history::<B>(&mut tx, w.complaint_id, &t.history).await?;
    if let Some(reply) = w.reply {
        insert_reply::<B>(&mut tx, w.complaint_id, reply, at).await?;
    }
    if let Some(m) = w.message {
        append_message::<B>(&mut tx, w.complaint_id, &channel, m).await?;
    }
    tx.commit().await.map_err(db_err)?;
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
    let mut conn = b.read_conn().await?;
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
    let mut tx = b.begin_read().await?;
    let mut records: Vec<ComplaintRecord> =
        B::fetch_all(&mut tx, RECEIVED_BETWEEN, args![from, to])
            .await?
            .iter()
            .map(rows::complaint)
            .collect::<Result<_, _>>()?;
    let index: HashMap<i64, usize> = records.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    for row in B::fetch_all(&mut tx, HISTORY_RECEIVED_BETWEEN, args![from, to]).await? {
        let (id, h) = rows::history(&row)?;
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
