//! The SQLite backend.
//!
//! Layout: one **writer** pool with a single connection runs every write, each write
//! transaction opened with `BEGIN IMMEDIATE` (so it takes the write lock up front instead of
//! failing on lock upgrade), and a separate **reader** pool of [`READERS`] connections with
//! `query_only = ON` serves reads. In WAL mode readers never block the writer nor each other,
//! and a read transaction sees one consistent snapshot. Funnelling writes through one
//! connection avoids `SQLITE_BUSY` churn inside the process and lets sqlx reuse that
//! connection's cached prepared statements.
//!
//! Durability: `journal_mode = WAL` with `synchronous = NORMAL`. A committed transaction
//! survives a crash or kill of the process (the WAL is in the OS page cache and is replayed
//! on next open); only an OS crash or power loss may lose the last commits before the next
//! WAL checkpoint's fsync. That is the guarantee aduan needs and is much faster than `FULL`.
//!
//! `busy_timeout` is 5 s (another process holding the write lock) and `foreign_keys = ON`.
//! `sqlite::memory:` databases use one shared connection for reads and writes (each extra
//! connection would otherwise need the shared-cache table locks) that is never recycled, so
//! the database lives as long as the store.

use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection};

use aduan_core::store::StoreError;

use crate::backend::{Backend, Stmt, Tx, bind_args_fn, db_err, impl_backend_queries};
use crate::migrate::{self, Migration};

/// Connections in the read pool of a file database.
pub const READERS: u32 = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Leases due outbox rows in one statement (the writer lock makes it atomic).
const CLAIM_REPLIES: &str = "\
    UPDATE outbox SET claimed_until = $1, claim_token = $2 \
    WHERE id IN (SELECT id FROM outbox \
        WHERE status = 'pending' AND next_attempt_at <= $3 \
        AND (claimed_until IS NULL OR claimed_until <= $3) \
        ORDER BY next_attempt_at, id LIMIT $4) \
    RETURNING id, complaint_id, kind, channel, recipient, template, vars, attempts, \
        max_attempts, claim_token, \
        (SELECT c.ticket FROM complaints c WHERE c.id = outbox.complaint_id) AS ticket";

/// aduan's store on a SQLite file (or `sqlite::memory:`).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Open (creating the file and its parent directory if missing) the database at a
    /// `sqlite:` URL: `sqlite://data/aduan.db` (relative to the working directory),
    /// `sqlite:///var/lib/aduan/aduan.db`, or `sqlite::memory:`. Does not migrate.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let base = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        if is_memory(url) {
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(base)
                .await
                .map_err(db_err)?;
            return Ok(SqliteStore {
                writer: pool.clone(),
                reader: pool,
            });
        }
        if let Some(dir) = base.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let base = base.synchronous(SqliteSynchronous::Normal);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(
                base.clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal),
            )
            .await
            .map_err(db_err)?;
        // Opened after the writer: the file exists and is already in WAL mode.
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(base.pragma("query_only", "ON"))
            .await
            .map_err(db_err)?;
        Ok(SqliteStore { writer, reader })
    }

    /// Close both pools (waits for checked-out connections to come back).
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// `sqlite::memory:`, `sqlite://:memory:` or `mode=memory` URLs.
fn is_memory(url: &str) -> bool {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory")
}

/// Append `sql` to `out` with every `$N` placeholder replaced by `$(N + offset)`. The shared
/// SQL has no `$` inside string literals or identifiers, so a textual scan is exact.
fn renumber_placeholders(out: &mut String, sql: &str, offset: usize) {
    let bytes = sql.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let start = i + 1;
            let mut end = start;
            while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            // `$` and digits are ASCII, so these are char boundaries.
            out.push_str(&sql[copied..i]);
            let n: usize = sql[start..end].parse().unwrap_or(0);
            out.push('$');
            out.push_str(&(n + offset).to_string());
            copied = end;
            i = end;
        } else {
            i += 1;
        }
    }
    out.push_str(&sql[copied..]);
}

bind_args_fn!(Sqlite);

impl Backend for SqliteStore {
    type Db = Sqlite;
    type Row = sqlx::sqlite::SqliteRow;

    const NAME: &'static str = "sqlite";
    const MIGRATIONS: &'static [Migration] = migrate::SQLITE;
    const CLAIM_REPLIES_SQL: &'static str = CLAIM_REPLIES;

    async fn begin_write(&self) -> Result<Tx<Self>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)
    }

    async fn begin_read(&self) -> Result<Tx<Self>, StoreError> {
        self.reader.begin().await.map_err(db_err)
    }

    async fn read_conn(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        self.reader.acquire().await.map_err(db_err)
    }

    async fn write_conn(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        self.writer.acquire().await.map_err(db_err)
    }

    async fn lock_migrations(_conn: &mut SqliteConnection) -> Result<(), StoreError> {
        // BEGIN IMMEDIATE already holds the database write lock.
        Ok(())
    }

    async fn execute_batch(
        conn: &mut SqliteConnection,
        batch: Vec<Stmt>,
    ) -> Result<(), StoreError> {
        if batch.len() < 2 {
            for s in batch {
                Self::execute(conn, s.sql, s.args).await?;
            }
            return Ok(());
        }
        // One multi-statement command: sqlx-sqlite binds `$N` to the N-th argument of the
        // whole command, so each statement's placeholders are shifted past the previous ones.
        let mut sql = String::new();
        let mut args = Vec::new();
        for s in batch {
            renumber_placeholders(&mut sql, s.sql, args.len());
            sql.push_str(";\n");
            args.extend(s.args);
        }
        bind_args(sqlx::query::<Sqlite>(sqlx::AssertSqlSafe(sql)), args)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    impl_backend_queries!(Sqlite);
}

#[cfg(test)]
mod tests {
    use super::{is_memory, renumber_placeholders};

    #[test]
    fn placeholders_are_shifted() {
        let mut out = String::from("X;");
        renumber_placeholders(&mut out, "VALUES ($1, $2, 'é', $10, $1)", 7);
        assert_eq!(out, "X;VALUES ($8, $9, 'é', $17, $8)");
        let mut out = String::new();
        renumber_placeholders(&mut out, "SELECT $ || $1a", 0);
        assert_eq!(out, "SELECT $ || $1a");
    }

    #[test]
    fn memory_urls_are_recognised() {
        assert!(is_memory("sqlite::memory:"));
        assert!(is_memory("sqlite://:memory:"));
        assert!(is_memory("sqlite://?mode=memory&cache=shared"));
        assert!(!is_memory("sqlite://data/aduan.db"));
        assert!(!is_memory("sqlite:///var/lib/aduan/memory.db"));
    }
}
