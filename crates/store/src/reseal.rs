//! Rewriting every sealed column: the one-time sealing of a database written before identity
//! at rest ([`upgrade`], run by `migrate`), and key rotation ([`rotate`], `aduan keys
//! rotate`).
//!
//! Invariants:
//! - Work goes table by table in id order, in batches of [`BATCH`] rows; each batch is one
//!   write transaction that also advances the pass's cursor row (`privacy.seal` /
//!   `privacy.rotate`, `"<table>:<last id>"`), so a pass killed at any point resumes where
//!   its last commit left off and never redoes or skips a committed batch. The cursor is read
//!   under a row lock (PostgreSQL) or the database write lock (SQLite), so two replicas
//!   running the pass at once take turns instead of sealing a row twice.
//! - A row is skipped when its marker column is already in the target form (sealed at all
//!   for the upgrade, sealed under the current key for a rotation): rows written by an
//!   up-to-date writer during the pass are left alone.
//! - Keyed hashes (platform ids, handles, recipients) are recomputed from the sealed clear
//!   value in the same update, so look-ups find the row under the new key.

use aduan_core::store::StoreError;

use crate::backend::{Arg, Backend, RowExt, Stmt, args, db_err};
use crate::complaints::EXTERNAL_ID;
use crate::create::HANDLE;
use crate::media::ALBUM;
use crate::outbox::recipient_hash;
use crate::vault::Vault;

/// Rows per transaction.
const BATCH: i64 = 500;

/// Cursor row of the upgrade pass, inserted by migration 0003.
pub(crate) const SEAL_CURSOR: &str = "privacy.seal";
/// Cursor row of a key rotation.
pub(crate) const ROTATE_CURSOR: &str = "privacy.rotate";

/// One table with sealed columns.
struct Table {
    name: &'static str,
    /// Sealed nullable text columns.
    texts: &'static [&'static str],
    /// Sealed binary column.
    bytes: Option<&'static str>,
    /// The column telling whether a row is done (first of `texts` or `bytes`).
    marker: &'static str,
    /// `external_id` (keyed hash) + `external_ref` (sealed).
    ext: bool,
    /// `handle_hash` from `handle`.
    handle_hash: bool,
    /// `recipient_hash` from `recipient`.
    recipient_hash: bool,
    /// Further keyed hashes recomputed from a sealed column of `texts`: `(hash column,
    /// sealed column, keyed-hash domain)`.
    blinded: &'static [(&'static str, &'static str, &'static str)],
}

const TABLES: &[Table] = &[
    Table {
        name: "complaints",
        texts: &[
            "body",
            "name",
            "address",
            "email",
            "phone",
            "handle",
            "target",
            "solution",
            "answer",
            "access_code_hash",
            "question",
            "rating_comment",
            "reply_thread",
            "analysis",
        ],
        bytes: None,
        marker: "body",
        ext: true,
        handle_hash: true,
        recipient_hash: false,
        blinded: &[],
    },
    Table {
        name: "messages",
        texts: &["text"],
        bytes: None,
        marker: "text",
        ext: true,
        handle_hash: false,
        recipient_hash: false,
        blinded: &[],
    },
    Table {
        name: "attachments",
        texts: &["filename"],
        bytes: Some("data"),
        marker: "data",
        ext: false,
        handle_hash: false,
        recipient_hash: false,
        blinded: &[],
    },
    Table {
        name: "outbox",
        texts: &["vars", "recipient", "last_error"],
        bytes: None,
        marker: "vars",
        ext: true,
        handle_hash: false,
        recipient_hash: true,
        blinded: &[],
    },
    Table {
        name: "history",
        texts: &["note"],
        bytes: None,
        marker: "note",
        ext: false,
        handle_hash: false,
        recipient_hash: false,
        blinded: &[],
    },
    // Migration 0007: media jobs and notices (always written sealed; the marker column is
    // never NULL).
    Table {
        name: "media_jobs",
        texts: &[
            "filename",
            "source",
            "last_error",
            "external_ref",
            "group_ref",
        ],
        bytes: None,
        marker: "filename",
        ext: false,
        handle_hash: false,
        recipient_hash: false,
        blinded: &[
            ("external_id", "external_ref", EXTERNAL_ID),
            ("group_hash", "group_ref", ALBUM),
        ],
    },
    Table {
        name: "intake_notices",
        texts: &["external_ref"],
        bytes: None,
        marker: "external_ref",
        ext: false,
        handle_hash: false,
        recipient_hash: false,
        blinded: &[("external_id", "external_ref", EXTERNAL_ID)],
    },
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Plaintext rows of an older version → sealed.
    Upgrade,
    /// Rows sealed under an older key of the ring → the current key.
    Rotate,
}

/// Seal the plaintext rows of a database migrated from before identity at rest, if the
/// migration marked it. Returns the rows sealed.
pub(crate) async fn upgrade<B: Backend>(b: &B) -> Result<u64, StoreError> {
    let mut done = 0;
    while let Some((_, n)) = step(b, Mode::Upgrade, SEAL_CURSOR).await? {
        done += n;
    }
    if done > 0 {
        tracing::info!(rows = done, "sealed the identities of an older database");
    }
    Ok(done)
}

/// Refuse a key ring that does not open what is stored: the oldest and the newest complaint's
/// text are opened with the ring. Without this check a daemon started with the wrong key file
/// (a restore without its key, a mistyped `ADUAN__PRIVACY__KEY`) would report ready and then
/// fail every read of a complaint.
pub(crate) async fn check_key<B: Backend>(b: &B) -> Result<(), StoreError> {
    let v = b.vault();
    let mut conn = b.reader().await?;
    for order in ["ASC", "DESC"] {
        let sql = format!("SELECT id, body FROM complaints ORDER BY id {order} LIMIT 1");
        let Some(row) = B::fetch_all_built(&mut conn, sql, vec![])
            .await?
            .into_iter()
            .next()
        else {
            return Ok(()); // an empty database opens under any key
        };
        if let Err(e) = v.open("complaints.body", row.str_ref("body")?) {
            return Err(StoreError::Corrupt(format!(
                "the identity key ring does not open the stored data (complaint row {}: {e}); \
                 start with the key file or ADUAN__PRIVACY__KEY that belongs to this database \
                 (during a rotation: both keys)",
                row.i64("id")?
            )));
        }
    }
    Ok(())
}

/// One batch of a key rotation: re-seal up to [`BATCH`] rows not sealed under the ring's
/// current key. Returns the table worked on and the rows re-sealed, or None when the
/// rotation is complete (the next call starts a new full pass).
pub(crate) async fn rotate_step<B: Backend>(
    b: &B,
) -> Result<Option<(&'static str, u64)>, StoreError> {
    // A pass starts by creating its cursor; an interrupted one finds it and resumes.
    {
        let mut h = b.writer().await?;
        B::execute(
            &mut h,
            "INSERT INTO cursors (key, value, updated_at) VALUES ($1, '', NULL) \
             ON CONFLICT (key) DO NOTHING",
            args![ROTATE_CURSOR],
        )
        .await?;
    }
    let r = step(b, Mode::Rotate, ROTATE_CURSOR).await?;
    if r.is_none() {
        // The pass ended: remove the cursor again (the step removed it; a concurrent first
        // insert above may have re-created it).
        let mut h = b.writer().await?;
        B::execute(
            &mut h,
            "DELETE FROM cursors WHERE key = $1",
            args![ROTATE_CURSOR],
        )
        .await?;
    }
    Ok(r)
}

/// One batch of a pass; None when the pass is complete (its cursor removed) or none is
/// pending.
async fn step<B: Backend>(
    b: &B,
    mode: Mode,
    cursor: &'static str,
) -> Result<Option<(&'static str, u64)>, StoreError> {
    let v = b.vault();
    let mut h = b.writer().await?;
    let mut tx = B::begin_write(&mut h).await?;
    let sql = format!("SELECT value FROM cursors WHERE key = $1{}", B::LOCK_ROW);
    let Some(row) = B::fetch_all_built(&mut tx, sql, args![cursor])
        .await?
        .into_iter()
        .next()
    else {
        // No pass pending (or another replica finished it).
        tx.rollback().await.map_err(db_err)?;
        return Ok(None);
    };
    let (table_ix, after) = parse_position(row.str_ref("value")?)?;
    let Some(table) = TABLES.get(table_ix) else {
        B::execute(&mut tx, "DELETE FROM cursors WHERE key = $1", args![cursor]).await?;
        tx.commit().await.map_err(db_err)?;
        return Ok(None);
    };
    let rows = B::fetch_all_built(&mut tx, select_sql(table, mode), args![after, BATCH]).await?;
    let mut batch = Vec::with_capacity(rows.len() + 1);
    let mut last = after;
    for r in &rows {
        last = r.i64("id")?;
        if let Some(stmt) = rewrite(table, mode, r, v)? {
            batch.push(stmt);
        }
    }
    let changed = batch.len() as u64;
    let next = if (rows.len() as i64) < BATCH {
        format!("{}:0", table_ix + 1)
    } else {
        format!("{table_ix}:{last}")
    };
    batch.push(Stmt {
        sql: "UPDATE cursors SET value = $2 WHERE key = $1".into(),
        args: args![cursor, next],
    });
    B::execute_batch(&mut tx, batch).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(Some((table.name, changed)))
}

/// `"<table index>:<last id>"`; the migration's empty value is the start.
fn parse_position(s: &str) -> Result<(usize, i64), StoreError> {
    if s.is_empty() {
        return Ok((0, 0));
    }
    let bad = || StoreError::Corrupt(format!("sealing pass cursor `{s}`"));
    let (t, id) = s.split_once(':').ok_or_else(bad)?;
    Ok((
        t.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

fn select_sql(t: &Table, mode: Mode) -> String {
    let mut cols = vec!["id"];
    cols.extend(t.texts.iter().copied());
    cols.extend(t.bytes);
    if t.ext {
        cols.push(match mode {
            Mode::Upgrade => "external_id",
            Mode::Rotate => "external_ref",
        });
    }
    format!(
        "SELECT {} FROM {} WHERE id > $1 ORDER BY id LIMIT $2",
        cols.join(", "),
        t.name
    )
}

/// The update of one row, or None when it is already in the target form.
fn rewrite<R: RowExt>(t: &Table, mode: Mode, r: &R, v: &Vault) -> Result<Option<Stmt>, StoreError> {
    let col = |c: &str| format!("{}.{c}", t.name);
    // Done already?
    let done = match t.bytes.filter(|b| *b == t.marker) {
        Some(bytes) => {
            let stored = r.bytes(bytes)?;
            match mode {
                Mode::Upgrade => v.open_bytes(&col(bytes), &stored).is_ok(),
                Mode::Rotate => v.bytes_current(&stored),
            }
        }
        None => match r.opt_text(t.marker)? {
            // Nothing sealed in this row (a history line without a note).
            None => true,
            Some(stored) => match mode {
                Mode::Upgrade => v.open(&col(t.marker), &stored).is_ok(),
                Mode::Rotate => v.is_current(&stored),
            },
        },
    };
    if done {
        return Ok(None);
    }
    let clear = |c: &str, stored: Option<String>| -> Result<Option<String>, StoreError> {
        match (mode, stored) {
            (_, None) => Ok(None),
            (Mode::Upgrade, Some(s)) => Ok(Some(s)),
            (Mode::Rotate, Some(s)) => v.open(&col(c), &s).map(Some),
        }
    };
    let mut sets: Vec<String> = Vec::new();
    let mut params: Vec<Arg> = vec![Arg::from(r.i64("id")?)];
    let mut set = |name: &str, value: Arg, params: &mut Vec<Arg>| {
        params.push(value);
        sets.push(format!("{name} = ${}", params.len()));
    };
    let mut handle = None;
    let mut recipient = None;
    let mut plains: Vec<(&str, Option<String>)> = Vec::new();
    for c in t.texts {
        let plain = clear(c, r.opt_text(c)?)?;
        plains.push((c, plain.clone()));
        if *c == "handle" {
            handle.clone_from(&plain);
        }
        if *c == "recipient" {
            recipient.clone_from(&plain);
        }
        set(
            c,
            Arg::from(v.seal_opt(&col(c), plain.as_deref())),
            &mut params,
        );
    }
    if let Some(bc) = t.bytes {
        let stored = r.bytes(bc)?;
        let plain = match mode {
            Mode::Upgrade => stored,
            Mode::Rotate => v.open_bytes(&col(bc), &stored)?,
        };
        set(bc, Arg::from(v.seal_bytes(&col(bc), &plain)), &mut params);
    }
    if t.ext {
        let ext = match mode {
            Mode::Upgrade => r.opt_text("external_id")?,
            Mode::Rotate => clear("external_ref", r.opt_text("external_ref")?)?,
        };
        set(
            "external_id",
            Arg::from(v.blind_opt(EXTERNAL_ID, ext.as_deref())),
            &mut params,
        );
        set(
            "external_ref",
            Arg::from(v.seal_opt(&col("external_ref"), ext.as_deref())),
            &mut params,
        );
    }
    if t.handle_hash {
        set(
            "handle_hash",
            Arg::from(v.blind_opt(HANDLE, handle.as_deref())),
            &mut params,
        );
    }
    for (hash_col, sealed_col, domain) in t.blinded {
        let plain = plains
            .iter()
            .find(|(c, _)| c == sealed_col)
            .and_then(|(_, p)| p.as_deref());
        set(hash_col, Arg::from(v.blind_opt(domain, plain)), &mut params);
    }
    if t.recipient_hash {
        set(
            "recipient_hash",
            Arg::from(recipient.as_deref().map(|x| recipient_hash(v, x))),
            &mut params,
        );
    }
    Ok(Some(Stmt {
        sql: format!("UPDATE {} SET {} WHERE id = $1", t.name, sets.join(", ")),
        args: params,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse_and_select_lists_the_columns() {
        assert_eq!(parse_position("").unwrap(), (0, 0));
        assert_eq!(parse_position("3:1200").unwrap(), (3, 1200));
        assert!(parse_position("x").is_err());
        let sql = select_sql(&TABLES[0], Mode::Rotate);
        assert!(sql.contains("external_ref") && sql.starts_with("SELECT id, body"));
        assert!(select_sql(&TABLES[0], Mode::Upgrade).contains("external_id"));
    }
}
