//! The PostgreSQL backend.
//!
//! One pool of [`POOL_SIZE`] connections serves reads and writes; several aduan replicas may
//! share the database. Cross-replica safety comes from the database itself: the ticket
//! counter upsert takes a row lock (numbering serializes per month), unique constraints
//! decide duplicate races, outbox claims use `FOR UPDATE SKIP LOCKED` so workers never wait
//! on or double-claim each other's rows, and migrations run under a transaction-scoped
//! advisory lock. Multi-query reads run in `REPEATABLE READ READ ONLY` transactions so they
//! see one snapshot.

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres};

use aduan_core::model::{CreateOutcome, NewComplaint};
use aduan_core::store::StoreError;

use crate::backend::{Backend, Stmt, Tx, args, bind_args_fn, db_err, impl_backend_queries};
use crate::migrate::{self, Migration};
use crate::vault::Vault;

/// Connections per store (per replica).
pub const POOL_SIZE: u32 = 10;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Key of the advisory lock held while migrating (ASCII "aduan" + 1).
const MIGRATION_LOCK: i64 = 0x6164_7561_6e01;

/// Key of the advisory lock that serializes audit appends of every replica ("aduan" + 2).
const AUDIT_LOCK: i64 = 0x6164_7561_6e02;

/// Leases due outbox rows, skipping rows another worker is claiming right now.
const CLAIM_REPLIES: &str = "\
    WITH due AS ( \
        SELECT id FROM outbox \
        WHERE status = 'pending' AND next_attempt_at <= $3 \
        AND (claimed_until IS NULL OR claimed_until <= $3) \
        ORDER BY next_attempt_at, id LIMIT $4 \
        FOR UPDATE SKIP LOCKED) \
    UPDATE outbox o SET claimed_until = $1, claim_token = $2 \
    FROM due, complaints c \
    WHERE o.id = due.id AND c.id = o.complaint_id \
    RETURNING o.id, o.complaint_id, o.kind, o.channel, o.recipient, o.template, o.vars, \
        o.attempts, o.max_attempts, o.claim_token, c.ticket";

const CLAIM_MEDIA: &str = "\
    WITH due AS ( \
        SELECT id FROM media_jobs \
        WHERE status = 'pending' AND next_attempt_at <= $3 \
        AND (claimed_until IS NULL OR claimed_until <= $3) \
        AND channel IN ($5, $6, $7, $8) \
        ORDER BY next_attempt_at, id LIMIT $4 \
        FOR UPDATE SKIP LOCKED) \
    UPDATE media_jobs j SET claimed_until = $1, claim_token = $2 \
    FROM due, complaints c \
    WHERE j.id = due.id AND c.id = j.complaint_id \
    RETURNING j.id, j.complaint_id, j.channel, j.kind, j.source, j.filename, \
        j.content_type, j.announced_size, j.attempts, j.max_attempts, j.claim_token, c.ticket";

/// aduan's store on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pub(crate) db: PgDb,
}

/// The pool; implements [`Backend`].
#[derive(Debug, Clone)]
pub(crate) struct PgDb {
    pool: PgPool,
    vault: Vault,
}

impl PostgresStore {
    /// Connect to a `postgres://` / `postgresql://` URL (one connection is opened eagerly,
    /// so an unreachable server fails here). Does not migrate.
    pub async fn connect(url: &str, vault: Vault) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .map_err(db_err)?;
        Ok(PostgresStore {
            db: PgDb { pool, vault },
        })
    }

    /// Create a complaint in one transaction (PostgreSQL handles concurrent writers itself).
    pub(crate) async fn insert_complaint(
        &self,
        c: NewComplaint,
    ) -> Result<CreateOutcome, StoreError> {
        crate::create::create(&self.db, c).await
    }

    /// Close the pool (waits for checked-out connections to come back).
    pub async fn close(&self) {
        self.db.pool.close().await;
    }
}

bind_args_fn!(Postgres);

impl Backend for PgDb {
    type Db = Postgres;
    type Row = sqlx::postgres::PgRow;
    type Handle = PoolConnection<Postgres>;

    const NAME: &'static str = "postgres";
    const MIGRATIONS: &'static [Migration] = migrate::POSTGRES;
    const CLAIM_REPLIES_SQL: &'static str = CLAIM_REPLIES;
    const CLAIM_MEDIA_SQL: &'static str = CLAIM_MEDIA;
    const LOCK_ROW: &'static str = " FOR UPDATE";

    fn vault(&self) -> &Vault {
        &self.vault
    }

    async fn writer(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        self.pool.acquire().await.map_err(db_err)
    }

    async fn reader(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        self.pool.acquire().await.map_err(db_err)
    }

    async fn begin_write(h: &mut PoolConnection<Postgres>) -> Result<Tx<'_, Self>, StoreError> {
        h.begin().await.map_err(db_err)
    }

    async fn begin_read(h: &mut PoolConnection<Postgres>) -> Result<Tx<'_, Self>, StoreError> {
        h.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(db_err)
    }

    async fn lock_migrations(conn: &mut PgConnection) -> Result<(), StoreError> {
        Self::execute(
            conn,
            "SELECT pg_advisory_xact_lock($1)",
            args![MIGRATION_LOCK],
        )
        .await
        .map(drop)
    }

    async fn lock_audit(conn: &mut PgConnection) -> Result<(), StoreError> {
        Self::execute(conn, "SELECT pg_advisory_xact_lock($1)", args![AUDIT_LOCK])
            .await
            .map(drop)
    }

    async fn execute_batch(conn: &mut PgConnection, batch: Vec<Stmt>) -> Result<(), StoreError> {
        // The extended protocol prepares one statement at a time.
        for s in batch {
            Self::execute_built(conn, s.sql, s.args).await?;
        }
        Ok(())
    }

    impl_backend_queries!(Postgres);
}
