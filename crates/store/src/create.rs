//! Creating complaints: one per transaction ([`create`]) or a group in one transaction
//! ([`create_in_tx`] with several complaints, driven by [`crate::group`]).
//!
//! Invariants:
//! - Ticket numbers come from `ticket_counters` inside the creating transaction
//!   (`last = last + n` for the `n` complaints of a month, one counter update per month per
//!   transaction, months in key order), so a rolled-back create returns its numbers:
//!   numbers are unique and gap-free per month.
//! - Where the numbers are taken ([`Backend::NUMBER_AT_COMMIT`]). SQLite (one writer)
//!   numbers first and inserts the complaints with their tickets, then their dependent
//!   rows. PostgreSQL defers the foreign keys to complaints to `COMMIT` (they are
//!   `DEFERRABLE`, migration 0011), takes the new complaints' ids from the table's sequence,
//!   writes every dependent row under those ids, and only then runs, as the last statements
//!   before `COMMIT` (only a staff entry's audit line, which needs the ticket, and the
//!   wake-up notification follow), one statement per month that upserts the counter row and
//!   inserts that month's complaint rows with their tickets `PREFIX-YYYYMM-NNNN`
//!   ([`numbered_sql`]). The counter row's lock — the one point every replica's creates of a
//!   month share — is so held for one statement and the commit instead of the whole
//!   transaction, and once per group instead of once per complaint; and each complaint row
//!   is written once (an earlier design inserted placeholder tickets and rewrote them, a
//!   second, non-HOT write of every row and its ten index entries).
//!   Gap-free across replicas, because: (1) the increment and the tickets are in one
//!   statement of the creating transaction, so they commit or roll back together (a
//!   statement that fails is undone whole, the counter upsert with it); (2) the row lock
//!   serializes the increments of concurrent transactions, and a waiter re-reads the
//!   committed `last` (READ COMMITTED re-evaluates an `ON CONFLICT DO UPDATE` on the newest
//!   row version), so two transactions never take overlapping ranges; (3) the lock is
//!   released only at commit or rollback, so a range is either used by committed complaints
//!   or returned before anyone else takes numbers; (4) a complaint row the insert skipped
//!   (its `(channel, external_id)` committed by another replica meanwhile) means fewer rows
//!   than numbers taken, and the transaction is rolled back ([`CreateStep::Conflict`]). The
//!   statement's result is checked row by row against [`TicketNumber::new`]; any mismatch
//!   aborts the transaction.
//! - PostgreSQL binds each column of a multi-row insert as one array (`UNNEST`,
//!   [`Insert::unnest`]), so a connection prepares one statement per table whatever the
//!   group size ([`Backend::ARRAY_INSERTS`]).
//! - `(channel, external_id)` is unique for complaints and for messages. A complaint's body is
//!   also its first inbound message with the same key, so one probe finds a redelivery whether
//!   it created a complaint or was threaded into one. The probe runs inside the write
//!   transaction before numbering, so a duplicate takes no number. If a concurrent writer
//!   (another replica) still wins the race, the insert conflicts ([`CreateStep::Conflict`]):
//!   the caller rolls back and reports the winner via [`resolve_conflict`].
//! - The work per transaction does not grow in round trips with the group size: one probe,
//!   one counter update per month (with the complaint insert, on PostgreSQL), one batch of
//!   dependent rows (message, attachments, history, acknowledgements, media jobs, intake
//!   cursors).
//! - A created complaint's audit entry (manual entry by staff) is appended in the creating
//!   transaction, after every other row; a duplicate appends none.
//! - A complaint's intake cursor is upserted in the creating transaction whether the
//!   complaint is created or found to be a duplicate (a redelivered message still advances
//!   its cursor); after a lost race, [`resolve_conflict`] writes it with the lookup.

use std::collections::{BTreeMap, HashMap};

use aduan_core::model::{CreateOutcome, Direction, NewComplaint};
use aduan_core::store::StoreError;
use aduan_core::types::{Channel, TicketNumber};

use crate::attachments::{ATTACHMENT, attachment_args};
use crate::backend::{
    Arg, Backend, Column, Conn, Insert, MAX_PARAMS, RowExt, args, db_err, fetch_one,
};
use crate::complaints::{EXTERNAL_ID, HISTORY, MESSAGE, history_args, message_args};
use crate::intake::cursor_stmts;
use crate::media::{MEDIA_JOB, job_args};
use crate::outbox::{REPLY, reply_args};
use crate::rows;
use crate::vault::Vault;
use crate::wake::Signals;

/// Keyed-hash domain of channel handles (threading a chat into its open complaint).
pub(crate) const HANDLE: &str = "handle";

/// The foreign keys to complaints wait for `COMMIT` in this transaction (they are
/// `DEFERRABLE`, PostgreSQL migration 0011): dependent rows are written before their
/// complaint.
const DEFER_KEYS: &str = "SET CONSTRAINTS ALL DEFERRED";

/// `$1` new complaint ids from the table's own sequence (unique across replicas).
const TAKE_IDS: &str = "\
    SELECT nextval(pg_get_serial_sequence('complaints', 'id')) AS id \
    FROM generate_series(1, $1)";

/// Take `$2` numbers in month `$1`; returns the last one taken.
const TAKE_NUMBERS: &str = "\
    INSERT INTO ticket_counters (month, last) VALUES ($1, $2) \
    ON CONFLICT (month) DO UPDATE SET last = ticket_counters.last + $2 \
    RETURNING last";

const COMPLAINT: Insert = Insert {
    head: "INSERT INTO complaints (ticket, channel, external_id, received_at, name, address, \
           email, phone, handle, category, target, body, letter_number, state, \
           state_entered_at, due_at, access_code_hash, version, created_at, updated_at, \
           external_ref, handle_hash, reply_thread, analysis) VALUES ",
    row: "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 1, \
          $18, $18, $19, $20, $21, $22)",
    per_row: 22,
    tail: " ON CONFLICT (channel, external_id) DO NOTHING RETURNING id, ticket",
};

/// What [`create_in_tx`] did inside the caller's transaction.
pub(crate) enum CreateStep {
    /// One outcome per complaint, in order (duplicates found by the probe wrote nothing).
    Done(Vec<CreateOutcome>),
    /// An insert hit a uniqueness conflict the probe did not see (a concurrent writer won):
    /// roll back, then [`resolve_conflict`] (or retry one by one).
    Conflict(String),
}

/// Number and insert one complaint with everything that belongs to it, in one transaction.
pub(crate) async fn create<B: Backend>(
    b: &B,
    c: NewComplaint,
) -> Result<CreateOutcome, StoreError> {
    let mut h = b.writer().await?;
    let mut tx = B::begin_write(&mut h).await?;
    match create_in_tx::<B>(&mut tx, &[&c], b.vault()).await? {
        CreateStep::Done(mut outcomes) => {
            tx.commit().await.map_err(db_err)?;
            signals(&[&c], &outcomes).local(b.wakeups());
            outcomes
                .pop()
                .ok_or_else(|| StoreError::Other("create produced no outcome".into()))
        }
        CreateStep::Conflict(msg) => {
            // Nothing of ours survives the rollback, including the ticket number we took.
            tx.rollback().await.map_err(db_err)?;
            let mut tx = B::begin_write(&mut h).await?;
            let outcome = resolve_conflict::<B>(&mut tx, &c, &msg, b.vault()).await?;
            tx.commit().await.map_err(db_err)?;
            Ok(outcome)
        }
    }
}

/// Whether a complaint is inserted or reported as a duplicate.
enum Plan {
    /// Of a complaint already stored.
    Existing(i64, TicketNumber),
    /// Of an earlier complaint of the same group.
    SameAs(usize),
    Insert,
}

/// The writes of `cs` inside an open write transaction: probe, number, insert.
pub(crate) async fn create_in_tx<B: Backend>(
    conn: &mut Conn<B>,
    cs: &[&NewComplaint],
    v: &Vault,
) -> Result<CreateStep, StoreError> {
    let months = cs
        .iter()
        .map(|c| month_of(c))
        .collect::<Result<Vec<_>, _>>()?;
    let keys = cs
        .iter()
        .filter_map(|c| Some((c.channel, c.external_id.as_deref()?)))
        .collect();
    let existing = probe::<B>(conn, keys, v).await?;

    let mut plan = Vec::with_capacity(cs.len());
    let mut first_of: HashMap<(Channel, &str), usize> = HashMap::new();
    for (i, c) in cs.iter().enumerate() {
        let p = match c.external_id.as_deref() {
            None => Plan::Insert,
            Some(ext) => match existing.get(&(c.channel, ext.to_string())) {
                Some((id, ticket)) => Plan::Existing(*id, ticket.clone()),
                None => match first_of.get(&(c.channel, ext)) {
                    Some(&j) => Plan::SameAs(j),
                    None => {
                        first_of.insert((c.channel, ext), i);
                        Plan::Insert
                    }
                },
            },
        };
        plan.push(p);
    }

    // Numbers: one counter update per month (in key order, the same lock order everywhere).
    let mut wanted: BTreeMap<(i32, u32), i64> = BTreeMap::new();
    for (p, month) in plan.iter().zip(&months) {
        if matches!(p, Plan::Insert) {
            *wanted.entry(*month).or_default() += 1;
        }
    }
    let mut next_seq: BTreeMap<(i32, u32), u64> = BTreeMap::new();
    if !B::NUMBER_AT_COMMIT {
        for (&(year, month), &n) in &wanted {
            let last = fetch_one::<B>(conn, TAKE_NUMBERS, args![month_key(year, month), n])
                .await?
                .i64("last")?;
            next_seq.insert((year, month), first_number(last, n, year, month)?);
        }
    }

    // The complaints to insert. Numbered first (SQLite): their rows now, with their tickets.
    // Numbered at commit (PostgreSQL): their ids now, from the table's sequence; their rows
    // last, numbered, after every dependent row (the keys to them are deferred to COMMIT).
    let inserts: Vec<usize> = (0..cs.len())
        .filter(|&i| matches!(plan[i], Plan::Insert))
        .collect();
    let mut tickets: Vec<Option<TicketNumber>> = vec![None; cs.len()];
    let mut row_ids: Vec<Option<i64>> = vec![None; cs.len()];
    if B::NUMBER_AT_COMMIT {
        if !inserts.is_empty() {
            B::execute(conn, DEFER_KEYS, args![]).await?;
            let n = i64::try_from(inserts.len()).unwrap_or(i64::MAX);
            let got = B::fetch_all(conn, TAKE_IDS, args![n]).await?;
            if got.len() != inserts.len() {
                return Err(StoreError::Other("the id sequence gave too few ids".into()));
            }
            for (&i, r) in inserts.iter().zip(&got) {
                row_ids[i] = Some(r.i64("id")?);
            }
        }
    } else {
        let mut complaint_rows = Vec::with_capacity(inserts.len());
        for &i in &inserts {
            let (year, month) = months[i];
            let seq = next_seq.entry((year, month)).or_insert(1);
            let ticket = TicketNumber::new(&cs[i].ticket_prefix, year, month, *seq);
            *seq += 1;
            complaint_rows.push(complaint_args(cs[i], Some(ticket.as_str()), v));
            tickets[i] = Some(ticket);
        }
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(complaint_rows.len());
        for stmt in COMPLAINT.stmts(complaint_rows) {
            let rows = match B::fetch_all_built(conn, stmt.sql, stmt.args).await {
                Err(StoreError::AlreadyExists(msg)) => return Ok(CreateStep::Conflict(msg)),
                other => other?,
            };
            for r in rows {
                ids.insert(r.text("ticket")?, r.i64("id")?);
            }
        }
        for &i in &inserts {
            let key = tickets[i].as_ref().map_or("", |t| t.as_str());
            // `ON CONFLICT DO NOTHING` returns no row for a key that exists after all.
            let Some(&id) = ids.get(key) else {
                return Ok(CreateStep::Conflict(
                    "complaint (channel, external_id)".into(),
                ));
            };
            row_ids[i] = Some(id);
        }
    }

    // Dependent rows, as one batch.
    let (mut messages, mut attachments, mut history, mut replies, mut media) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (c, made) in cs.iter().zip(&row_ids) {
        let Some(id) = made else { continue };
        messages.push(message_args(
            *id,
            c.channel.as_str(),
            Direction::In,
            c.received_at,
            &c.body,
            c.external_id.as_deref(),
            v,
        ));
        for a in &c.attachments {
            attachments.push(attachment_args(*id, a, c.state_entered_at, v));
        }
        for j in &c.media {
            media.push(job_args(*id, c.channel, j, c.state_entered_at, v));
        }
        history.extend(c.history.iter().map(|h| history_args(*id, h, v)));
        for r in &c.acks {
            replies.push(reply_args(*id, r, c.state_entered_at, v)?);
        }
    }
    let stmts = |ins: &Insert, rows| {
        if B::ARRAY_INSERTS {
            ins.unnest(rows)
        } else {
            ins.stmts(rows)
        }
    };
    let mut batch = stmts(&MESSAGE, messages);
    batch.extend(stmts(&ATTACHMENT, attachments));
    batch.extend(stmts(&HISTORY, history));
    batch.extend(stmts(&REPLY, replies));
    batch.extend(stmts(&MEDIA_JOB, media));
    // Cursors of created and duplicate complaints alike.
    batch.extend(cursor_stmts(cs.iter().filter_map(|c| c.cursor.as_ref())));
    match B::execute_batch(conn, batch).await {
        Err(StoreError::AlreadyExists(msg)) => return Ok(CreateStep::Conflict(msg)),
        other => other?,
    }
    // The other replicas' wake-ups for the complaints this transaction creates. They are
    // delivered at COMMIT only, so they are sent now, outside the numbering's lock.
    let mut planned = Signals::default();
    for (c, p) in cs.iter().zip(&plan) {
        if matches!(p, Plan::Insert) {
            planned.replies |= !c.acks.is_empty();
            planned.deadline(c.due_at);
        }
    }
    planned.in_tx::<B>(conn).await?;
    if B::NUMBER_AT_COMMIT {
        // The last statements before the commit: each month's counter row is locked from
        // here until COMMIT only (see the module docs).
        for &(year, month) in wanted.keys() {
            let rows: Vec<(i64, &NewComplaint)> = inserts
                .iter()
                .filter(|&&i| months[i] == (year, month))
                .filter_map(|&i| Some((row_ids[i]?, cs[i])))
                .collect();
            let numbered = match insert_numbered::<B>(conn, (year, month), &rows, v).await {
                Ok(Some(numbered)) => numbered,
                Ok(None) => {
                    return Ok(CreateStep::Conflict(
                        "complaint (channel, external_id)".into(),
                    ));
                }
                Err(StoreError::AlreadyExists(msg)) => return Ok(CreateStep::Conflict(msg)),
                Err(e) => return Err(e),
            };
            for &i in &inserts {
                if months[i] == (year, month) {
                    tickets[i] = row_ids[i].and_then(|id| numbered.get(&id).cloned());
                }
            }
        }
    }
    let mut created: Vec<Option<(i64, TicketNumber)>> = vec![None; cs.len()];
    for ((slot, id), ticket) in created.iter_mut().zip(&row_ids).zip(tickets) {
        if let (Some(id), Some(ticket)) = (id, ticket) {
            *slot = Some((*id, ticket));
        }
    }
    // Audit entries of created complaints (manual entries), with their new ticket.
    for (c, made) in cs.iter().zip(&created) {
        if let (Some(entry), Some((_, ticket))) = (&c.audit, made) {
            let entry = entry.clone().with_ticket(ticket.clone());
            crate::audit::append_in::<B>(conn, &entry).await?;
        }
    }

    let mut outcomes = Vec::with_capacity(cs.len());
    for (i, p) in plan.iter().enumerate() {
        let made = |j: usize| {
            created[j]
                .clone()
                .ok_or_else(|| StoreError::Other("group bookkeeping lost a complaint".into()))
        };
        outcomes.push(match p {
            Plan::Existing(id, ticket) => CreateOutcome::Duplicate {
                id: *id,
                ticket: ticket.clone(),
            },
            Plan::SameAs(j) => {
                let (id, ticket) = made(*j)?;
                CreateOutcome::Duplicate { id, ticket }
            }
            Plan::Insert => {
                let (id, ticket) = made(i)?;
                CreateOutcome::Created { id, ticket }
            }
        });
    }
    Ok(CreateStep::Done(outcomes))
}

/// What the created complaints of `cs` tell the workers: acknowledgements queued, their
/// steps' due times.
pub(crate) fn signals(cs: &[&NewComplaint], outcomes: &[CreateOutcome]) -> Signals {
    let mut s = Signals::default();
    for (c, o) in cs.iter().zip(outcomes) {
        if matches!(o, CreateOutcome::Created { .. }) {
            s.replies |= !c.acks.is_empty();
            s.deadline(c.due_at);
        }
    }
    s
}

/// After a [`CreateStep::Conflict`] and rollback, in a new write transaction: the complaint
/// that won, as `Duplicate`, with `c`'s cursor written.
pub(crate) async fn resolve_conflict<B: Backend>(
    conn: &mut Conn<B>,
    c: &NewComplaint,
    conflict: &str,
    v: &Vault,
) -> Result<CreateOutcome, StoreError> {
    let keys = c
        .external_id
        .as_deref()
        .map(|ext| vec![(c.channel, ext)])
        .unwrap_or_default();
    let found = probe::<B>(conn, keys, v).await?.into_values().next();
    let Some((id, ticket)) = found else {
        return Err(StoreError::Other(format!(
            "uniqueness violation creating a complaint: {conflict}"
        )));
    };
    let cursor = cursor_stmts(c.cursor.as_ref());
    if !cursor.is_empty() {
        B::execute_batch(conn, cursor).await?;
    }
    Ok(CreateOutcome::Duplicate { id, ticket })
}

/// `YYYYMM`, the key of a month's counter row (and the middle of its ticket numbers).
fn month_key(year: i32, month: u32) -> String {
    format!("{year:04}{month:02}")
}

/// The first of `n` numbers whose last is `last`; a counter below `n` is corrupt.
fn first_number(last: i64, n: i64, year: i32, month: u32) -> Result<u64, StoreError> {
    u64::try_from(last - n + 1)
        .ok()
        .filter(|f| *f >= 1)
        .ok_or_else(|| {
            StoreError::Corrupt(format!("ticket counter {last} for {year:04}{month:02}"))
        })
}

/// Columns of a complaint row after its id and ticket, in [`complaint_args`] order (the
/// `version`, and `updated_at` = `created_at`, are filled in by [`numbered_sql`]).
const NUMBERED_COLUMNS: [&str; 21] = [
    "channel",
    "external_id",
    "received_at",
    "name",
    "address",
    "email",
    "phone",
    "handle",
    "category",
    "target",
    "body",
    "letter_number",
    "state",
    "state_entered_at",
    "due_at",
    "access_code_hash",
    "created_at",
    "external_ref",
    "handle_hash",
    "reply_thread",
    "analysis",
];

/// Insert the complaint rows `rows` (`(id, complaint)` of one month, ids taken from the
/// sequence), numbered: each statement takes as many numbers of `month` as it has rows and
/// gives them out in order. Returns each id's ticket, or `None` when a row was not inserted
/// because its `(channel, external_id)` exists after all (the caller rolls back, which also
/// returns the numbers). Checks that every row got exactly the ticket
/// [`TicketNumber::new`] makes of its number.
async fn insert_numbered<B: Backend>(
    conn: &mut Conn<B>,
    (year, month): (i32, u32),
    rows: &[(i64, &NewComplaint)],
    v: &Vault,
) -> Result<Option<HashMap<i64, TicketNumber>>, StoreError> {
    let mut numbered = HashMap::with_capacity(rows.len());
    if rows.is_empty() {
        return Ok(Some(numbered));
    }
    let n = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let values: Vec<Vec<Arg>> = rows
        .iter()
        .enumerate()
        .map(|(ord, (id, c))| {
            let mut row = args![*id, ord as i64 + 1, c.ticket_prefix.as_str()];
            row.extend(complaint_args(c, None, v));
            row
        })
        .collect();
    let cols = Column::transpose(values)
        .map_err(|_| StoreError::Other("complaint rows of mixed column types".into()))?;
    let mut params = args![month_key(year, month), n];
    let sql = numbered_sql(&cols);
    params.extend(cols.into_iter().map(Arg::Column));
    let found = B::fetch_all_built(conn, sql, params).await?;
    if found.len() != rows.len() {
        return Ok(None);
    }
    let last = match found.first() {
        Some(r) => r.i64("last")?,
        None => return Err(StoreError::Other("numbering inserted no complaint".into())),
    };
    let first = first_number(last, n, year, month)?;
    let expected: HashMap<i64, TicketNumber> = rows
        .iter()
        .enumerate()
        .map(|(ord, (id, c))| {
            let ticket = TicketNumber::new(&c.ticket_prefix, year, month, first + ord as u64);
            (*id, ticket)
        })
        .collect();
    for r in &found {
        let id = r.i64("id")?;
        let ticket = r.text("ticket")?;
        match expected.get(&id) {
            Some(t) if t.as_str() == ticket => numbered.insert(id, t.clone()),
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "numbering gave complaint {id} the ticket {ticket}"
                )));
            }
        };
    }
    if numbered.len() != rows.len() {
        return Err(StoreError::Other(format!(
            "numbering inserted {} of {} complaints",
            numbered.len(),
            rows.len()
        )));
    }
    Ok(Some(numbered))
}

/// The numbering insert of one month's complaints, each column of `cols` one array:
/// `$1` the month key, `$2` how many, then the ids, ordinals and prefixes and the
/// [`NUMBERED_COLUMNS`]. The counter upsert runs once (a data-modifying `WITH` runs exactly
/// once); the ticket is `PREFIX-YYYYMM-NNNN` as [`TicketNumber::new`] writes it (the
/// sequence zero-padded to at least four digits). One statement for any number of rows, so
/// PostgreSQL plans it once per connection.
fn numbered_sql(cols: &[Column]) -> String {
    let mut names = vec!["id", "ord", "prefix"];
    names.extend(NUMBERED_COLUMNS);
    let mut sql = String::from(
        "WITH n AS (INSERT INTO ticket_counters (month, last) VALUES ($1, $2) \
         ON CONFLICT (month) DO UPDATE SET last = ticket_counters.last + $2 RETURNING last) \
         INSERT INTO complaints (id, ticket, ",
    );
    sql.push_str(&NUMBERED_COLUMNS.join(", "));
    sql.push_str(
        ", version, updated_at) SELECT v.id, \
         v.prefix || '-' || $1 || '-' || lpad(s.seq, greatest(4, length(s.seq)), '0')",
    );
    for c in NUMBERED_COLUMNS {
        sql.push_str(", v.");
        sql.push_str(c);
    }
    sql.push_str(", 1, v.created_at FROM n CROSS JOIN ");
    sql.push_str(&Column::unnest_sql(cols, 3, "v", &names));
    sql.push_str(
        " CROSS JOIN LATERAL (SELECT CAST(n.last - $2 + v.ord AS TEXT) AS seq) s \
         ON CONFLICT (channel, external_id) DO NOTHING \
         RETURNING id, ticket, (SELECT last FROM n) AS last",
    );
    sql
}

fn month_of(c: &NewComplaint) -> Result<(i32, u32), StoreError> {
    let (year, month) = c.ticket_month;
    if (1..=12).contains(&month) && (0..=9999).contains(&year) {
        Ok((year, month))
    } else {
        Err(StoreError::Other(format!(
            "invalid ticket month {year:04}-{month:02}"
        )))
    }
}

/// Identity, texts and the platform id sealed; the platform id and the handle also as keyed
/// hashes for uniqueness and look-ups.
///
/// Without a ticket (numbered at commit), the row starts at the channel
/// ([`NUMBERED_COLUMNS`]).
fn complaint_args(c: &NewComplaint, ticket: Option<&str>, v: &Vault) -> Vec<Arg> {
    let who = &c.identity;
    let ext = c.external_id.as_deref();
    let mut out = Vec::with_capacity(22);
    if let Some(ticket) = ticket {
        out.push(Arg::from(ticket));
    }
    out.extend(args![
        c.channel.as_str(),
        v.blind_opt(EXTERNAL_ID, ext),
        c.received_at,
        v.seal_opt("complaints.name", who.name.as_deref()),
        v.seal_opt("complaints.address", who.address.as_deref()),
        v.seal_opt("complaints.email", who.email.as_deref()),
        v.seal_opt("complaints.phone", who.phone.as_deref()),
        v.seal_opt("complaints.handle", who.handle.as_deref()),
        c.category.map(|x| x.as_str()),
        v.seal_opt("complaints.target", c.target.as_deref()),
        v.seal("complaints.body", &c.body),
        c.letter_number.as_deref(),
        c.state.as_str(),
        c.state_entered_at,
        c.due_at,
        // A short code's digest could be brute-forced offline: sealed like the identity.
        v.seal_opt("complaints.access_code_hash", c.access_code_hash.as_deref()),
        c.state_entered_at,
        v.seal_opt("complaints.external_ref", ext),
        v.blind_opt(HANDLE, who.handle.as_deref()),
        crate::rows::reply_thread_arg(c.reply_thread.as_ref(), v),
        v.seal_opt("complaints.analysis", c.analysis.as_deref()),
    ]);
    out
}

/// Earlier complaints (or threaded messages) with any of these `(channel, external_id)`,
/// keyed by the clear id. The ids are looked up by their keyed hashes under every key of the
/// ring (rows not yet rotated are found too).
async fn probe<B: Backend>(
    conn: &mut Conn<B>,
    keys: Vec<(Channel, &str)>,
    v: &Vault,
) -> Result<HashMap<(Channel, String), (i64, TicketNumber)>, StoreError> {
    let mut hashed: Vec<(Channel, String)> = Vec::with_capacity(keys.len() * v.key_count());
    let mut clear: HashMap<(Channel, String), &str> = HashMap::with_capacity(hashed.capacity());
    for (channel, ext) in &keys {
        for h in v.blinds(EXTERNAL_ID, ext) {
            clear.insert((*channel, h.clone()), *ext);
            hashed.push((*channel, h));
        }
    }
    let mut found = HashMap::new();
    for chunk in hashed.chunks(MAX_PARAMS / 2) {
        let mut params = Vec::with_capacity(chunk.len() * 2);
        for (channel, h) in chunk {
            params.push(Arg::from(channel.as_str()));
            params.push(Arg::from(h.as_str()));
        }
        for r in B::fetch_all_built(conn, probe_sql(chunk.len()), params).await? {
            let channel = r.parsed::<Channel>("channel")?;
            let Some(ext) = clear.get(&(channel, r.text("external_id")?)) else {
                continue;
            };
            let hit = (r.i64("id")?, rows::ticket(r.str_ref("ticket")?)?);
            found.entry((channel, ext.to_string())).or_insert(hit);
        }
    }
    Ok(found)
}

fn probe_sql(keys: usize) -> String {
    let matches = |channel: &str, ext: &str| {
        (0..keys)
            .map(|i| format!("({channel} = ${} AND {ext} = ${})", 2 * i + 1, 2 * i + 2))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    format!(
        "SELECT channel, external_id, id, ticket FROM complaints WHERE {} \
         UNION ALL \
         SELECT m.channel, m.external_id, c.id, c.ticket FROM messages m \
         JOIN complaints c ON c.id = m.complaint_id WHERE {}",
        matches("channel", "external_id"),
        matches("m.channel", "m.external_id"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_sql_numbers_each_key() {
        let sql = probe_sql(2);
        assert!(sql.contains("(channel = $1 AND external_id = $2) OR (channel = $3 AND"));
        assert!(sql.contains("(m.channel = $3 AND m.external_id = $4)"));
    }
}
