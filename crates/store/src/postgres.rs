//! The PostgreSQL backend.
//!
//! One pool of [`POOL_SIZE`] connections serves reads and writes; several aduan replicas may
//! share the database. Cross-replica safety comes from the database itself: the ticket
//! counter upsert takes a row lock (numbering serializes per month, but only for the last
//! statement and the commit of each group: [`crate::create`]), unique constraints decide
//! duplicate races, outbox claims use `FOR UPDATE SKIP LOCKED` so workers never wait on or
//! double-claim each other's rows, and migrations run under a transaction-scoped advisory
//! lock. Multi-query reads run in `REPEATABLE READ READ ONLY` transactions so they see one
//! snapshot.
//!
//! Complaints are created in groups ([`crate::group`]) by [`GROUP_WRITERS`] writer task(s)
//! on pooled connections; every multi-row insert binds its columns as arrays (`UNNEST`), so
//! each table's insert is one prepared statement whatever the group size. Connections get
//! `TCP_NODELAY` ([`crate::nodelay`]).
//!
//! Wake-ups between replicas: a write that queues replies or sets a due time sends
//! `pg_notify('aduan_wake', …)` inside its transaction (delivered on commit only). The
//! first [`Store::wakeups`](aduan_core::store::Store::wakeups) call (the outbox worker or the
//! SLA timer starting) spawns a listener on its own one-connection pool that turns those
//! notifications into wake-ups of this replica's workers; after a lost connection it wakes
//! both (notifications may have been missed). It stops when the last clone of the store is
//! dropped.

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aduan_core::wake::Wakeups;
use sqlx::pool::{PoolConnection, PoolConnectionMetadata};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres};

use aduan_core::model::{CreateOutcome, NewComplaint};
use aduan_core::store::StoreError;

use crate::backend::{Backend, Stmt, Tx, args, bind_args_fn, db_err, impl_backend_queries};
use crate::group::{self, GroupCommit};
use crate::migrate::{self, Migration};
use crate::vault::Vault;

/// Connections per store (per replica).
pub const POOL_SIZE: u32 = 10;
/// Group-commit writer tasks per store (each holds a pooled connection while it commits).
/// One: the requests that arrive during a group's transaction form the next group. More
/// writers split the waiting requests into smaller groups, and with several replicas they
/// queue on the month's counter row (measured in docs/benchmarks.md: one replica 8,557
/// complaints/s with one writer, 8,468 with two, about 7,100 with three; three replicas
/// 6,335/s with one writer each, 5,086 with two).
pub const GROUP_WRITERS: usize = 1;
/// Prepared statements sqlx keeps per connection (its default is 100): the create's
/// statements in their power-of-two shapes, the outbox and report queries and the rest.
const STATEMENT_CACHE: usize = 256;
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
        o.attempts, o.max_attempts, o.created_at, o.claim_token, o.reply_key, c.ticket";

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
    creates: GroupCommit,
}

/// The pool; implements [`Backend`].
#[derive(Debug, Clone)]
pub(crate) struct PgDb {
    pool: PgPool,
    vault: Vault,
    wakeups: Arc<Wakeups>,
    /// The notification listener, started by the first [`PostgresStore::worker_wakeups`].
    listener: Arc<Listener>,
}

/// The listener task's slot; aborts the task when the last store clone drops it.
#[derive(Debug)]
struct Listener {
    /// A lazy pool of one connection, for the listener only (the main pool keeps all of
    /// its connections for queries).
    pool: PgPool,
    task: OnceLock<tokio::task::JoinHandle<()>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(t) = self.task.get() {
            t.abort();
        }
    }
}

/// Receive other replicas' notifications until aborted.
async fn listen(pool: PgPool, wakeups: Arc<Wakeups>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "wake-up listener cannot connect; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        if let Err(e) = listener.listen(crate::wake::CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
            continue;
        }
        backoff = Duration::from_millis(200);
        // Anything sent while not listening was missed: look now.
        wakeups.wake_all();
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => crate::wake::apply(&wakeups, n.payload()),
                // Connection lost (reconnected on the next call): notifications missed.
                Ok(None) => wakeups.wake_all(),
                Err(e) => {
                    tracing::warn!(error = %e, "wake-up listener failed; reconnecting");
                    wakeups.wake_all();
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

/// What the pool's `after_connect` hook returns.
type ConnectHook<'c> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + 'c>>;

/// The pool's `after_connect` hook: `TCP_NODELAY` on the new connection ([`crate::nodelay`]).
fn nodelay_hook(
    peers: Arc<Vec<std::net::SocketAddr>>,
) -> impl for<'c> Fn(&'c mut PgConnection, PoolConnectionMetadata) -> ConnectHook<'c>
+ Send
+ Sync
+ 'static {
    move |_, _| {
        let peers = Arc::clone(&peers);
        Box::pin(async move {
            crate::nodelay::enable_for(&peers);
            Ok(())
        })
    }
}

/// The socket addresses the pool's TCP connections go to (none for a Unix socket, or when
/// the host does not resolve: the connect then fails on its own).
async fn database_addresses(options: &PgConnectOptions) -> Arc<Vec<std::net::SocketAddr>> {
    if options.get_socket().is_some() || options.get_host().starts_with('/') {
        return Arc::default();
    }
    let host = options.get_host().trim_matches(['[', ']']);
    let found = tokio::net::lookup_host((host, options.get_port())).await;
    Arc::new(found.map(Iterator::collect).unwrap_or_default())
}

impl PostgresStore {
    /// Connect to a `postgres://` / `postgresql://` URL (one connection is opened eagerly,
    /// so an unreachable server fails here). Does not migrate.
    ///
    /// Spawns the [`GROUP_WRITERS`] group-commit writer tasks on the current Tokio runtime.
    pub async fn connect(url: &str, vault: Vault) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(db_err)?
            .statement_cache_capacity(STATEMENT_CACHE);
        let peers = database_addresses(&options).await;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(nodelay_hook(peers))
            .connect_with(options.clone())
            .await
            .map_err(db_err)?;
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        let db = PgDb {
            pool,
            vault,
            wakeups: Arc::default(),
            listener: Arc::new(Listener {
                pool: listen_pool,
                task: OnceLock::new(),
            }),
        };
        let (creates, queue) = GroupCommit::new();
        group::run_writers(db.clone(), queue, GROUP_WRITERS);
        Ok(PostgresStore { db, creates })
    }
    /// The workers' wake-ups; the first call (inside a Tokio runtime) starts listening for
    /// other replicas' notifications.
    pub(crate) fn worker_wakeups(&self) -> Arc<Wakeups> {
        let l = &self.db.listener;
        if l.task.get().is_none()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let _ = l
                .task
                .get_or_init(|| rt.spawn(listen(l.pool.clone(), self.db.wakeups.clone())));
        }
        self.db.wakeups.clone()
    }

    /// Create a complaint through the group-commit queue.
    pub(crate) async fn insert_complaint(
        &self,
        c: NewComplaint,
    ) -> Result<CreateOutcome, StoreError> {
        self.creates.create(c).await
    }

    /// Close the pool (waits for checked-out connections to come back).
    pub async fn close(&self) {
        if let Some(t) = self.db.listener.task.get() {
            t.abort();
        }
        self.db.listener.pool.close().await;
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
    const OVERDUE_SQL: &'static str = crate::month::OVERDUE_POSTGRES;
    const ANALYSES_PACKED: Option<(&'static str, &'static str)> = None;
    const LOCK_ROW: &'static str = " FOR UPDATE";
    const NUMBER_AT_COMMIT: bool = true;
    const ARRAY_INSERTS: bool = true;

    fn vault(&self) -> &Vault {
        &self.vault
    }

    fn wakeups(&self) -> &Arc<Wakeups> {
        &self.wakeups
    }

    async fn notify_in_tx(conn: &mut PgConnection, payload: &str) -> Result<(), StoreError> {
        Self::execute(
            conn,
            "SELECT pg_notify($1, $2)",
            args![crate::wake::CHANNEL, payload],
        )
        .await
        .map(drop)
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
