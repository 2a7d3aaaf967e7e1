//! The hash-chained audit log (table `audit_log`, migration 0005; the entry model, the hash
//! and the chain check are in `aduan_core::audit`).
//!
//! Invariants:
//! - One chain, whatever the number of replicas: [`append_in`] takes
//!   [`Backend::lock_audit`] (PostgreSQL: a transaction-scoped advisory lock; SQLite: the
//!   write lock of `BEGIN IMMEDIATE`) before it reads the head, and the new entry's id is
//!   the head's id + 1, so appends are serialized and ids consecutive. `prev_hash` is
//!   `UNIQUE`, so even a writer that skipped the lock could not fork the chain.
//! - An entry is appended inside the transaction of the write it records
//!   ([`append_in`] on the caller's connection: transitions, manual entries, report steps),
//!   or alone in its own transaction ([`append`]). The lock is the last one such a
//!   transaction takes, so lock order is the same everywhere.
//! - Rows are written by [`entry_args`] and read by [`entry`], and nowhere else.

use aduan_core::audit::{AuditEntry, AuditQuery, GENESIS_HASH, MAX_LIST, NewAuditEntry};
use aduan_core::store::StoreError;

use crate::backend::{Arg, Backend, Conn, RowExt, args, db_err};

const COLUMNS: &str = "id, at, actor, role, action, ticket, detail, prev_hash, hash";

const HEAD: &str = "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1";

const INSERT: &str = "\
    INSERT INTO audit_log (id, at, actor, role, action, ticket, detail, prev_hash, hash) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

const CHAIN: &str = "\
    SELECT id, at, actor, role, action, ticket, detail, prev_hash, hash FROM audit_log \
    WHERE id > $1 ORDER BY id LIMIT $2";

/// The arguments of [`INSERT`] for a sealed entry.
fn entry_args(e: &AuditEntry) -> Vec<Arg> {
    args![
        e.id,
        e.at,
        e.actor.as_str(),
        e.role.as_str(),
        e.action.as_str(),
        e.ticket.as_deref(),
        e.detail.as_str(),
        e.prev_hash.as_str(),
        e.hash.as_str(),
    ]
}

/// A stored entry, field for field (the chain check decides whether to trust it).
fn entry<R: RowExt>(r: &R) -> Result<AuditEntry, StoreError> {
    let id = r.i64("id")?;
    let with_id = |e: StoreError| match e {
        StoreError::Corrupt(m) => StoreError::Corrupt(format!("audit entry {id}: {m}")),
        other => other,
    };
    Ok(AuditEntry {
        id,
        at: r.at("at").map_err(with_id)?,
        actor: r.text("actor").map_err(with_id)?,
        role: r.text("role").map_err(with_id)?,
        action: r.text("action").map_err(with_id)?,
        ticket: r.opt_text("ticket").map_err(with_id)?,
        detail: r.text("detail").map_err(with_id)?,
        prev_hash: r.text("prev_hash").map_err(with_id)?,
        hash: r.text("hash").map_err(with_id)?,
    })
}

/// Append `e` at the head of the chain inside the caller's open write transaction.
pub(crate) async fn append_in<B: Backend>(
    conn: &mut Conn<B>,
    e: &NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    B::lock_audit(conn).await?;
    let (last_id, prev_hash) = match B::fetch_optional(conn, HEAD, args![]).await? {
        Some(r) => (r.i64("id")?, r.text("hash")?),
        None => (0, GENESIS_HASH.to_string()),
    };
    let id = last_id
        .checked_add(1)
        .ok_or_else(|| StoreError::Corrupt(format!("audit log head id {last_id}")))?;
    let sealed = e.seal(id, &prev_hash);
    B::execute(conn, INSERT, entry_args(&sealed)).await?;
    Ok(sealed)
}

/// Append `e` in a transaction of its own.
pub(crate) async fn append<B: Backend>(b: &B, e: NewAuditEntry) -> Result<AuditEntry, StoreError> {
    let mut h = b.writer().await?;
    let mut tx = B::begin_write(&mut h).await?;
    let sealed = append_in::<B>(&mut tx, &e).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(sealed)
}

/// Entries of a ticket and/or `[from, to)`, after an id, oldest first, at most
/// `q.limit` (capped at [`MAX_LIST`]).
pub(crate) async fn entries<B: Backend>(
    b: &B,
    q: &AuditQuery,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE 1 = 1");
    let mut params: Vec<Arg> = Vec::new();
    let mut cond = |sql: &mut String, fragment: &str, value: Arg| {
        params.push(value);
        sql.push_str(&format!(" AND {fragment} ${}", params.len()));
    };
    if let Some(t) = &q.ticket {
        cond(&mut sql, "ticket =", t.as_str().into());
    }
    if let Some(from) = q.from {
        cond(&mut sql, "at >=", from.into());
    }
    if let Some(to) = q.to {
        cond(&mut sql, "at <", to.into());
    }
    if let Some(after) = q.after_id {
        cond(&mut sql, "id >", after.into());
    }
    let limit = i64::from(q.limit.clamp(1, MAX_LIST));
    params.push(limit.into());
    sql.push_str(&format!(" ORDER BY id LIMIT ${}", params.len()));
    let mut conn = b.reader().await?;
    // Only constant fragments and placeholders went into `sql`; values are bound.
    B::fetch_all_built(&mut conn, sql, params)
        .await?
        .iter()
        .map(entry)
        .collect()
}

/// Up to `limit` entries with an id above `after_id`, in id order.
pub(crate) async fn chain<B: Backend>(
    b: &B,
    after_id: i64,
    limit: u32,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut conn = b.reader().await?;
    B::fetch_all(&mut conn, CHAIN, args![after_id, i64::from(limit.max(1))])
        .await?
        .iter()
        .map(entry)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_query_reads_every_column() {
        assert!(CHAIN.contains(COLUMNS));
        assert!(INSERT.contains(&format!("({COLUMNS})")));
    }
}
