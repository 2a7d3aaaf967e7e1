//! The SQLite backend.
//!
//! Layout: one long-lived **writer** connection, behind a fair async mutex, runs every write;
//! each write transaction starts with `BEGIN IMMEDIATE`, so it takes the write lock up front
//! (another process holding it is waited for by `busy_timeout`, instead of failing on lock
//! upgrade). A separate **reader** pool of [`READERS`] connections with `query_only = ON`
//! serves reads: in WAL mode readers never block the writer nor each other, and a read
//! transaction sees one consistent snapshot.
//!
//! Throughput. Two costs dominate small SQLite writes through sqlx: every command is a
//! round trip to the connection's worker thread (sqlx-sqlite runs each connection on its own
//! thread), and every commit appends each page it dirtied to the WAL with its own `write(2)`
//! (a complaint touches five tables and nine indexes, ~15 pages). Hence:
//! - the writer is held rather than pooled: a sqlx pool pings a connection on every return,
//!   a round trip that on a one-connection pool sits on the critical path of every write
//!   (the reader pool likewise skips the ping before checkout);
//! - concurrent `create_complaint`s are committed in groups ([`crate::group`]), one
//!   transaction and one WAL append for all complaints waiting for the writer, with a
//!   constant number of statements per group;
//! - dependent rows go as one multi-statement command ([`Backend::execute_batch`]).
//!
//! Measured on 2 cores (`tests/throughput.rs`, release): about 8,000 committed creates/s
//! with 16 concurrent submitters, about 1,500–2,000/s from a single sequential client. A future
//! dropped mid-transaction is safe: the dropped `Transaction` queues a `ROLLBACK` ahead of the
//! next command (and sqlx rolls back a `BEGIN` whose caller went away).
//!
//! Durability: `journal_mode = WAL` with `synchronous = NORMAL`. A committed transaction
//! survives a crash or kill of the process (it is in the WAL, which the OS holds and the next
//! open replays); only an OS crash or power loss may lose the last commits before the next
//! WAL checkpoint's fsync. That is the guarantee aduan needs, and much faster than `FULL`.
//!
//! Faults. A failed `COMMIT` (disk full: `SQLITE_FULL`, or an I/O error) may leave the
//! writer connection believing it is still inside a transaction: SQLite has already rolled
//! back on its own, so the `ROLLBACK` the dropped `Transaction` queues fails and sqlx's
//! transaction depth stays at one; every later `BEGIN IMMEDIATE` would then be refused
//! ("attempted to call begin_with at non-zero transaction depth"). The writer is therefore
//! checked on every checkout ([`SqliteDb::writer`]): if it is still inside a transaction
//! once its queued commands have run, the connection is closed (SQLite rolls back whatever
//! it still holds) and a fresh one opened, so writes recover as soon as space returns,
//! without a restart. The last storage error is kept ([`StorageHealth`]) and reported by
//! `ping` (so `/readyz`) until a probe write succeeds again.
//!
//! `busy_timeout` is 5 s and `foreign_keys = ON`. `sqlite::memory:` databases have no reader
//! pool: reads also go through the writer connection, which holds the database for the life
//! of the store.

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Sqlite, SqliteConnection};
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

use aduan_core::model::{CreateOutcome, NewComplaint};
use aduan_core::store::StoreError;

use crate::backend::{
    Backend, MAX_PARAMS, Stmt, Tx, bind_args_fn, db_err, impl_backend_queries,
    renumber_placeholders,
};
use crate::group::{self, GroupCommit};
use crate::migrate::{self, Migration};
use crate::vault::Vault;

/// Connections in the read pool of a file database.
pub const READERS: u32 = 4;
/// Rows a reader's thread may hand over ahead of the task reading them: a whole page of the
/// month ([`aduan_core::logbook::PAGE_ROWS`]) and more.
const READER_ROW_BUFFER: usize = 1024;
/// Prepared statements cached on the writer connection.
const WRITER_STATEMENT_CACHE: usize = 256;
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
        max_attempts, created_at, claim_token, reply_key, \
        (SELECT c.ticket FROM complaints c WHERE c.id = outbox.complaint_id) AS ticket";

const CLAIM_MEDIA: &str = "\
    UPDATE media_jobs SET claimed_until = $1, claim_token = $2 \
    WHERE id IN (SELECT id FROM media_jobs \
        WHERE status = 'pending' AND next_attempt_at <= $3 \
        AND (claimed_until IS NULL OR claimed_until <= $3) \
        AND channel IN ($5, $6, $7, $8) \
        ORDER BY next_attempt_at, id LIMIT $4) \
    RETURNING id, complaint_id, channel, kind, source, filename, content_type, \
        announced_size, attempts, max_attempts, claim_token, \
        (SELECT c.ticket FROM complaints c WHERE c.id = media_jobs.complaint_id) AS ticket";

/// aduan's store on a SQLite file (or `sqlite::memory:`).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) db: SqliteDb,
    creates: GroupCommit,
}

/// The connections; implements [`Backend`].
#[derive(Debug, Clone)]
pub(crate) struct SqliteDb {
    /// The only connection that writes; `None` once closed.
    writer: Arc<Mutex<Option<SqliteConnection>>>,
    /// How to open a replacement writer (`None` for in-memory databases, which cannot be
    /// reopened).
    writer_options: Option<SqliteConnectOptions>,
    /// Set by [`SqliteDb::close`]: an empty writer slot then means closed, not reopening.
    closed: Arc<AtomicBool>,
    /// The last storage error of a write, until a write succeeds again.
    pub(crate) storage: StorageHealth,
    /// Read pool; `None` for in-memory databases (reads use the writer).
    reader: Option<SqlitePool>,
    vault: Vault,
    /// Signalled after commits that queue replies or set due times (one process: no
    /// cross-replica notifications).
    wakeups: Arc<aduan_core::wake::Wakeups>,
}

impl SqliteStore {
    /// Open (creating the file and its parent directory if missing) the database at a
    /// `sqlite:` URL: `sqlite://data/aduan.db` (relative to the working directory),
    /// `sqlite:///var/lib/aduan/aduan.db`, or `sqlite::memory:`. Does not migrate.
    ///
    /// Spawns the group-commit writer task on the current Tokio runtime.
    pub async fn open(url: &str, vault: Vault) -> Result<Self, StoreError> {
        let base = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let db = if is_memory(url) {
            let writer = base.connect().await.map_err(db_err)?;
            SqliteDb {
                writer: Arc::new(Mutex::new(Some(writer))),
                writer_options: None,
                closed: Arc::default(),
                storage: StorageHealth::default(),
                reader: None,
                vault,
                wakeups: Arc::default(),
            }
        } else {
            SqliteDb::open_file(base, vault).await?
        };
        let (creates, queue) = GroupCommit::new();
        tokio::spawn(group::run(db.clone(), queue));
        Ok(SqliteStore { db, creates })
    }

    /// Create a complaint through the group-commit queue.
    pub(crate) async fn insert_complaint(
        &self,
        c: NewComplaint,
    ) -> Result<CreateOutcome, StoreError> {
        self.creates.create(c).await
    }

    /// The workers' wake-ups ([`aduan_core::store::Store::wakeups`]).
    pub(crate) fn worker_wakeups(&self) -> Arc<aduan_core::wake::Wakeups> {
        self.db.wakeups.clone()
    }

    /// Close the database: waits for running operations, then closes the reader pool and
    /// the writer connection (checkpointing the WAL). Later operations are `Unavailable`.
    pub async fn close(&self) {
        self.db.close().await;
    }
}

impl SqliteDb {
    async fn open_file(base: SqliteConnectOptions, vault: Vault) -> Result<Self, StoreError> {
        let file = base.get_filename().to_path_buf();
        tokio::task::spawn_blocking(move || private_files(&file))
            .await
            .map_err(|e| StoreError::Other(format!("preparing the database file: {e}")))??;
        let base = base.synchronous(SqliteSynchronous::Normal);
        let writer_options = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Group commits prepare a few statement shapes per group size.
            .statement_cache_capacity(WRITER_STATEMENT_CACHE);
        let writer = writer_options.connect().await.map_err(db_err)?;
        // Opened after the writer: the file exists and is already in WAL mode.
        let reader = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(READERS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(
                base.pragma("query_only", "ON")
                    // A page of rows crosses from the connection's thread without the two
                    // threads waking each other for every row.
                    .row_buffer_size(READER_ROW_BUFFER),
            )
            .await
            .map_err(db_err)?;
        Ok(SqliteDb {
            writer: Arc::new(Mutex::new(Some(writer))),
            writer_options: Some(writer_options),
            closed: Arc::default(),
            storage: StorageHealth::default(),
            reader: Some(reader),
            vault,
            wakeups: Arc::default(),
        })
    }

    /// Make sure the checked-out writer is outside any transaction (see the module docs).
    /// A dropped `Transaction` queues its `ROLLBACK` ahead of the next command, so a depth
    /// seen right after a drop is settled by one round trip first; a depth still there
    /// afterwards means the rollback itself failed, and the connection is replaced. An
    /// empty slot of a store that is not closed (a reopen failed) is reopened.
    async fn settle_writer(&self, slot: &mut Option<SqliteConnection>) -> Result<(), StoreError> {
        if let Some(conn) = slot.as_mut() {
            if !conn.is_in_transaction() {
                return Ok(());
            }
            let _ = conn.ping().await;
            if !conn.is_in_transaction() {
                return Ok(());
            }
        } else if self.closed.load(Ordering::SeqCst) {
            return Ok(()); // answered as closed by the caller
        }
        let Some(options) = &self.writer_options else {
            return Err(StoreError::Unavailable(
                "the in-memory SQLite writer is stuck in a failed transaction".into(),
            ));
        };
        if let Some(old) = slot.take() {
            tracing::warn!("the SQLite writer was left inside a failed transaction; reopening it");
            // Closing rolls back whatever SQLite still holds and releases the write lock.
            if let Err(e) = old.close().await {
                tracing::warn!(error = %e, "closing the stuck SQLite writer failed");
            }
        }
        // On failure the slot stays empty (not closed): the next checkout tries again.
        *slot = Some(options.connect().await.map_err(db_err)?);
        Ok(())
    }

    /// Is the storage writable again? Only asked while a storage error is recorded: a
    /// write transaction that allocates pages (a table and a 64 KiB row, dropped again)
    /// and commits, so the page limit and the file system are both exercised.
    async fn probe_write(&self) -> Result<(), StoreError> {
        let mut h = self.writer().await?;
        let mut tx = Self::begin_write(&mut h).await?;
        for sql in [
            "CREATE TABLE IF NOT EXISTS aduan_storage_probe (b BLOB)",
            "INSERT INTO aduan_storage_probe VALUES (zeroblob(65536))",
            "DROP TABLE IF EXISTS aduan_storage_probe",
        ] {
            Self::execute(&mut tx, sql, vec![]).await?;
        }
        tx.commit().await.map_err(db_err)
    }

    /// `ping` of a file or memory database: a read, and while a storage error is recorded
    /// a probe write; the recorded error is answered until the probe succeeds.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        {
            let mut conn = self.reader().await?;
            Self::execute(&mut conn, "SELECT 1", vec![]).await?;
        }
        let Some(last) = self.storage.last() else {
            return Ok(());
        };
        match self.probe_write().await {
            Ok(()) => {
                self.storage.clear();
                Ok(())
            }
            Err(e) if e.is_storage_full() => {
                self.storage.record(&e);
                Err(e)
            }
            Err(_) => Err(StoreError::Unavailable(last)),
        }
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Some(reader) = &self.reader {
            reader.close().await;
        }
        if let Some(writer) = self.writer.lock().await.take()
            && let Err(e) = writer.close().await
        {
            tracing::warn!(error = %e, "closing the SQLite writer connection failed");
        }
    }
}

/// The last storage error (disk full, I/O) of a write, kept until a write succeeds again;
/// `ping` answers it meanwhile, so `/readyz` shows the storage error while it lasts.
#[derive(Debug, Clone, Default)]
pub(crate) struct StorageHealth(Arc<std::sync::Mutex<Option<String>>>);

impl StorageHealth {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn last(&self) -> Option<String> {
        self.slot().clone()
    }
    fn clear(&self) {
        self.slot().take();
    }
    fn record(&self, e: &StoreError) {
        if let StoreError::Unavailable(m) = e {
            *self.slot() = Some(m.clone());
        }
    }
    /// Record a storage error, clear on success; other errors change nothing.
    pub(crate) fn observe<T>(&self, outcome: &Result<T, StoreError>) {
        match outcome {
            Ok(_) => {
                if self.slot().is_some() {
                    self.clear();
                }
            }
            Err(e) if e.is_storage_full() => {
                if self.slot().is_none() {
                    tracing::warn!(error = %e, "SQLite storage error; writes answer 503 until it clears");
                }
                self.record(e);
            }
            Err(_) => {}
        }
    }
}

/// A checked-out SQLite connection: the writer (held under its mutex) or a pooled reader.
#[derive(Debug)]
pub(crate) enum SqliteHandle {
    Writer(OwnedMappedMutexGuard<Option<SqliteConnection>, SqliteConnection>),
    Reader(PoolConnection<Sqlite>),
}

impl Deref for SqliteHandle {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        match self {
            SqliteHandle::Writer(c) => c,
            SqliteHandle::Reader(c) => c,
        }
    }
}

impl DerefMut for SqliteHandle {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            SqliteHandle::Writer(c) => c,
            SqliteHandle::Reader(c) => c,
        }
    }
}

/// The database file and its directory readable by the owner only: a missing directory is
/// created 0700, a missing file 0600 (SQLite gives its `-wal` and `-shm` files the mode of
/// the database file); an existing file, `-wal` or `-shm` open to others is narrowed to
/// 0600, and an existing directory open to others is logged as a warning (it may be shared).
fn private_files(file: &std::path::Path) -> Result<(), StoreError> {
    let err = |what: &str, p: &std::path::Path, e: std::io::Error| {
        StoreError::Unavailable(format!("cannot {what} {}: {e}", p.display()))
    };
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        if dir.exists() {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(dir)
                    .map_err(|e| err("read", dir, e))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        dir = %dir.display(),
                        mode = format!("{:o}", mode & 0o777),
                        "the database directory is open to other users; 0700 is advised"
                    );
                }
            }
        } else {
            crate::vault::create_private_dir(dir).map_err(|e| err("create", dir, e))?;
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if !file.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(file)
                .map_err(|e| err("create", file, e))?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut name = file.as_os_str().to_owned();
            name.push(suffix);
            let p = std::path::PathBuf::from(name);
            if let Ok(meta) = std::fs::metadata(&p)
                && meta.permissions().mode() & 0o077 != 0
            {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| err("restrict", &p, e))?;
            }
        }
    }
    Ok(())
}

/// `sqlite::memory:`, `sqlite://:memory:` or `mode=memory` URLs.
pub(crate) fn is_memory(url: &str) -> bool {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory")
}

bind_args_fn!(Sqlite);

impl Backend for SqliteDb {
    type Db = Sqlite;
    type Row = sqlx::sqlite::SqliteRow;
    type Handle = SqliteHandle;

    const NAME: &'static str = "sqlite";
    const MIGRATIONS: &'static [Migration] = migrate::SQLITE;
    const CLAIM_REPLIES_SQL: &'static str = CLAIM_REPLIES;
    const CLAIM_MEDIA_SQL: &'static str = CLAIM_MEDIA;
    const OVERDUE_SQL: &'static str = crate::month::OVERDUE_SQLITE;
    const ANALYSES_PACKED: Option<(&'static str, &'static str)> = Some((
        crate::month::ANALYSES_PACKED_FIRST,
        crate::month::ANALYSES_PACKED_NEXT,
    ));
    const LOCK_ROW: &'static str = "";

    fn vault(&self) -> &Vault {
        &self.vault
    }

    fn wakeups(&self) -> &Arc<aduan_core::wake::Wakeups> {
        &self.wakeups
    }

    async fn ping(&self) -> Result<(), StoreError> {
        SqliteDb::ping(self).await
    }

    fn note_write<T>(&self, outcome: &Result<T, StoreError>) {
        self.storage.observe(outcome);
    }

    async fn writer(&self) -> Result<SqliteHandle, StoreError> {
        let mut guard = tokio::time::timeout(ACQUIRE_TIMEOUT, self.writer.clone().lock_owned())
            .await
            .map_err(|_| {
                StoreError::Unavailable("timed out waiting for the SQLite writer".into())
            })?;
        self.settle_writer(&mut guard).await?;
        OwnedMutexGuard::try_map(guard, Option::as_mut)
            .map(SqliteHandle::Writer)
            .map_err(|_| StoreError::Unavailable("the SQLite store is closed".into()))
    }

    async fn reader(&self) -> Result<SqliteHandle, StoreError> {
        match &self.reader {
            Some(pool) => pool
                .acquire()
                .await
                .map(SqliteHandle::Reader)
                .map_err(db_err),
            None => self.writer().await,
        }
    }

    async fn begin_write(h: &mut SqliteHandle) -> Result<Tx<'_, Self>, StoreError> {
        h.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)
    }

    async fn begin_read(h: &mut SqliteHandle) -> Result<Tx<'_, Self>, StoreError> {
        h.begin().await.map_err(db_err)
    }

    async fn lock_migrations(_conn: &mut SqliteConnection) -> Result<(), StoreError> {
        // BEGIN IMMEDIATE already holds the database write lock.
        Ok(())
    }

    async fn execute_batch(
        conn: &mut SqliteConnection,
        batch: Vec<Stmt>,
    ) -> Result<(), StoreError> {
        // Multi-statement commands: sqlx-sqlite binds `$N` to the N-th argument of the whole
        // command, so each statement's placeholders are shifted past the previous ones.
        let mut sql = String::new();
        let mut args = Vec::new();
        for s in batch {
            if !args.is_empty() && args.len() + s.args.len() > MAX_PARAMS {
                Self::execute_built(conn, std::mem::take(&mut sql), std::mem::take(&mut args))
                    .await?;
            }
            renumber_placeholders(&mut sql, &s.sql, args.len());
            sql.push_str(";\n");
            args.extend(s.args);
        }
        if !sql.is_empty() {
            Self::execute_built(conn, sql, args).await?;
        }
        Ok(())
    }

    impl_backend_queries!(Sqlite);
}

#[cfg(test)]
mod tests {
    use super::is_memory;

    #[test]
    fn memory_urls_are_recognised() {
        assert!(is_memory("sqlite::memory:"));
        assert!(is_memory("sqlite://:memory:"));
        assert!(is_memory("sqlite://?mode=memory&cache=shared"));
        assert!(!is_memory("sqlite://data/aduan.db"));
        assert!(!is_memory("sqlite:///var/lib/aduan/memory.db"));
    }
}
