//! The seam between the shared SQL and the two sqlx drivers.
//!
//! All store logic (in [`crate::complaints`], [`crate::users`], [`crate::outbox`] and
//! [`crate::migrate`]) is written once, generic over [`Backend`]. A backend only says how to
//! open transactions and connections, how to run one statement, and supplies the little SQL
//! that differs (the outbox claim and the migration lock). This keeps every `sqlx` trait bound
//! inside the two concrete `impl Backend` blocks instead of on every generic function.
//!
//! Parameters travel as [`Arg`] values (built with the `args!` macro) and are bound by the
//! backend; rows are read through [`RowExt`], which turns every decode failure into
//! [`StoreError::Corrupt`]. Both drivers accept `$1, $2, …` placeholders, so the SQL text is
//! shared verbatim.

use std::future::Future;
use std::str::FromStr;

use aduan_core::store::StoreError;
use chrono::{DateTime, Utc};
use sqlx::error::DatabaseError;
use sqlx::pool::PoolConnection;
use sqlx::{ColumnIndex, Database, Decode, Row, Transaction, Type};

use crate::migrate::Migration;

/// One bound parameter. The variant fixes the SQL type even for NULL, which PostgreSQL needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    /// BIGINT (also every timestamp, as unix milliseconds).
    I64(Option<i64>),
    /// INTEGER.
    I32(i32),
    /// BOOLEAN (INTEGER 0/1 on SQLite).
    Bool(bool),
    /// TEXT.
    Text(Option<String>),
    /// BLOB / BYTEA.
    Bytes(Vec<u8>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::I64(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::I64(v)
    }
}
impl From<i32> for Arg {
    fn from(v: i32) -> Self {
        Arg::I32(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_owned()))
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_owned))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Self {
        Arg::Bytes(v)
    }
}
impl From<DateTime<Utc>> for Arg {
    fn from(v: DateTime<Utc>) -> Self {
        Arg::I64(Some(to_ms(v)))
    }
}
impl From<Option<DateTime<Utc>>> for Arg {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Arg::I64(v.map(to_ms))
    }
}

/// `args![a, b, …]`: a `Vec<Arg>` for the `$1, $2, …` of a statement, in order.
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        vec![$($crate::backend::Arg::from($a)),*]
    };
}
pub(crate) use args;

/// An instant as stored: unix milliseconds (sub-millisecond precision is dropped).
pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A stored instant back into a `DateTime`; out-of-range values are corrupt data.
pub(crate) fn from_ms(ms: i64, column: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("{column}: timestamp {ms} out of range")))
}

/// The connection type of a backend (what a transaction or pooled connection derefs to).
pub(crate) type Conn<B> = <<B as Backend>::Db as Database>::Connection;
/// An open transaction of a backend.
pub(crate) type Tx<B> = Transaction<'static, <B as Backend>::Db>;

/// What the shared store logic needs from a database driver.
///
/// Write paths call [`begin_write`](Backend::begin_write) (SQLite: the single writer
/// connection, `BEGIN IMMEDIATE`); multi-query reads call [`begin_read`](Backend::begin_read)
/// so they see one snapshot; single-statement reads and writes use a pooled connection.
pub(crate) trait Backend: Send + Sync + 'static {
    /// The sqlx driver.
    type Db: Database;
    /// A result row of that driver.
    type Row: RowExt + Send + 'static;

    /// `"sqlite"` or `"postgres"`.
    const NAME: &'static str;
    /// The migrations of this backend, in version order.
    const MIGRATIONS: &'static [Migration];
    /// Lease due outbox rows. Parameters: `$1` claimed_until (ms), `$2` claim token,
    /// `$3` now (ms), `$4` limit. Returns the outbox columns read by
    /// [`crate::outbox`] plus `ticket`.
    const CLAIM_REPLIES_SQL: &'static str;

    /// A write transaction.
    fn begin_write(&self) -> impl Future<Output = Result<Tx<Self>, StoreError>> + Send;
    /// A read-only transaction (one consistent snapshot for several queries).
    fn begin_read(&self) -> impl Future<Output = Result<Tx<Self>, StoreError>> + Send;
    /// A connection for a single-statement read.
    fn read_conn(
        &self,
    ) -> impl Future<Output = Result<PoolConnection<Self::Db>, StoreError>> + Send;
    /// A connection for a single-statement (autocommit) write.
    fn write_conn(
        &self,
    ) -> impl Future<Output = Result<PoolConnection<Self::Db>, StoreError>> + Send;

    /// Serialize concurrent migrators; called first inside each migration transaction.
    fn lock_migrations(
        conn: &mut Conn<Self>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Run a multi-statement script (a migration file) without parameters.
    fn run_script(
        conn: &mut Conn<Self>,
        sql: &'static str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Run one statement; returns the number of rows affected.
    fn execute(
        conn: &mut Conn<Self>,
        sql: &'static str,
        args: Vec<Arg>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Run one statement returning at most one row.
    fn fetch_optional(
        conn: &mut Conn<Self>,
        sql: &'static str,
        args: Vec<Arg>,
    ) -> impl Future<Output = Result<Option<Self::Row>, StoreError>> + Send;
    /// Run one statement returning rows.
    fn fetch_all(
        conn: &mut Conn<Self>,
        sql: &'static str,
        args: Vec<Arg>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, StoreError>> + Send;
    /// Run several parameterised statements in order, discarding results. SQLite sends them
    /// as one multi-statement command (one round trip to its worker thread); PostgreSQL
    /// runs them one by one.
    fn execute_batch(
        conn: &mut Conn<Self>,
        batch: Vec<Stmt>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// [`fetch_all`](Backend::fetch_all) for SQL built at run time. Only constant fragments
    /// and placeholders may go into `sql`; values are always bound.
    fn fetch_all_built(
        conn: &mut Conn<Self>,
        sql: String,
        args: Vec<Arg>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, StoreError>> + Send;
}

/// One statement of a batch: shared SQL with `$1…` placeholders and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stmt {
    pub sql: &'static str,
    pub args: Vec<Arg>,
}

/// Run a statement that must return exactly one row (`RETURNING`, aggregates).
pub(crate) async fn fetch_one<B: Backend>(
    conn: &mut Conn<B>,
    sql: &'static str,
    args: Vec<Arg>,
) -> Result<B::Row, StoreError> {
    B::fetch_optional(conn, sql, args)
        .await?
        .ok_or_else(|| StoreError::Other(format!("statement returned no row: {sql}")))
}

/// Expands to the statement-running methods of [`Backend`] for one concrete driver: bind the
/// [`Arg`]s in order and map errors with [`db_err`].
macro_rules! impl_backend_queries {
    ($db:ty) => {
        fn execute(
            conn: &mut $crate::backend::Conn<Self>,
            sql: &'static str,
            args: Vec<$crate::backend::Arg>,
        ) -> impl std::future::Future<Output = Result<u64, aduan_core::store::StoreError>> + Send
        {
            let query = bind_args(sqlx::query::<$db>(sql), args);
            async move {
                let done = query
                    .execute(&mut *conn)
                    .await
                    .map_err($crate::backend::db_err)?;
                Ok(done.rows_affected())
            }
        }

        fn fetch_optional(
            conn: &mut $crate::backend::Conn<Self>,
            sql: &'static str,
            args: Vec<$crate::backend::Arg>,
        ) -> impl std::future::Future<
            Output = Result<Option<Self::Row>, aduan_core::store::StoreError>,
        > + Send {
            let query = bind_args(sqlx::query::<$db>(sql), args);
            async move {
                query
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err($crate::backend::db_err)
            }
        }

        fn fetch_all(
            conn: &mut $crate::backend::Conn<Self>,
            sql: &'static str,
            args: Vec<$crate::backend::Arg>,
        ) -> impl std::future::Future<Output = Result<Vec<Self::Row>, aduan_core::store::StoreError>>
        + Send {
            let query = bind_args(sqlx::query::<$db>(sql), args);
            async move {
                query
                    .fetch_all(&mut *conn)
                    .await
                    .map_err($crate::backend::db_err)
            }
        }

        fn fetch_all_built(
            conn: &mut $crate::backend::Conn<Self>,
            sql: String,
            args: Vec<$crate::backend::Arg>,
        ) -> impl std::future::Future<Output = Result<Vec<Self::Row>, aduan_core::store::StoreError>>
        + Send {
            let query = bind_args(sqlx::query::<$db>(sqlx::AssertSqlSafe(sql)), args);
            async move {
                query
                    .fetch_all(&mut *conn)
                    .await
                    .map_err($crate::backend::db_err)
            }
        }

        fn run_script(
            conn: &mut $crate::backend::Conn<Self>,
            sql: &'static str,
        ) -> impl std::future::Future<Output = Result<(), aduan_core::store::StoreError>> + Send
        {
            async move {
                sqlx::raw_sql(sql)
                    .execute(&mut *conn)
                    .await
                    .map_err($crate::backend::db_err)?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_backend_queries;

/// Expands to `fn bind_args` for one concrete driver (used by `impl_backend_queries!`).
macro_rules! bind_args_fn {
    ($db:ty) => {
        fn bind_args<'q>(
            mut query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
            args: Vec<$crate::backend::Arg>,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            use $crate::backend::Arg;
            for arg in args {
                query = match arg {
                    Arg::I64(v) => query.bind(v),
                    Arg::I32(v) => query.bind(v),
                    Arg::Bool(v) => query.bind(v),
                    Arg::Text(v) => query.bind(v),
                    Arg::Bytes(v) => query.bind(v),
                };
            }
            query
        }
    };
}
pub(crate) use bind_args_fn;

/// Map a sqlx error onto the store's retry/refuse taxonomy.
///
/// Unreachable, busy or timed-out databases become [`StoreError::Unavailable`]; unique
/// violations become [`StoreError::AlreadyExists`] (callers that expect them turn them into
/// `Duplicate` or a specific message); decode failures are [`StoreError::Corrupt`].
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match e {
        E::PoolTimedOut
        | E::PoolClosed
        | E::Io(_)
        | E::Tls(_)
        | E::Protocol(_)
        | E::WorkerCrashed
        | E::BeginFailed => StoreError::Unavailable(e.to_string()),
        E::Database(db) => {
            if db.is_unique_violation() {
                StoreError::AlreadyExists(db.message().to_string())
            } else if is_transient(db.as_ref()) {
                StoreError::Unavailable(db.to_string())
            } else {
                StoreError::Other(db.to_string())
            }
        }
        E::ColumnDecode { .. } | E::Decode(_) => StoreError::Corrupt(e.to_string()),
        other => StoreError::Other(other.to_string()),
    }
}

/// Database errors worth a retry: SQLite busy/locked/I/O, PostgreSQL connection exceptions,
/// resource exhaustion, shutdown, serialization failures and deadlocks.
fn is_transient(db: &dyn DatabaseError) -> bool {
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
        // Primary result code = low byte of the extended code.
        return matches!(code & 0xff, 5 | 6 | 10 | 13 | 14); // BUSY LOCKED IOERR FULL CANTOPEN
    }
    if db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        let code = db.code().unwrap_or_default();
        return code.starts_with("08") // connection exception
            || code.starts_with("53") // insufficient resources
            || code.starts_with("57P") // admin/crash shutdown, cannot connect now
            || code == "40001" // serialization failure
            || code == "40P01" // deadlock
            || code == "55P03"; // lock not available
    }
    false
}

/// Typed column access on a result row; every failure is [`StoreError::Corrupt`].
pub(crate) trait RowExt {
    fn i64(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_i64(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn i32(&self, col: &str) -> Result<i32, StoreError>;
    fn boolean(&self, col: &str) -> Result<bool, StoreError>;
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;

    /// A non-NULL instant.
    fn at(&self, col: &str) -> Result<DateTime<Utc>, StoreError> {
        from_ms(self.i64(col)?, col)
    }
    /// A nullable instant.
    fn opt_at(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.opt_i64(col)?.map(|ms| from_ms(ms, col)).transpose()
    }
    /// A non-NULL text column parsed with `FromStr` (the domain string enums).
    fn parsed<T>(&self, col: &str) -> Result<T, StoreError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let s = self.text(col)?;
        s.parse()
            .map_err(|e| StoreError::Corrupt(format!("{col} `{s}`: {e}")))
    }
    /// A nullable text column parsed with `FromStr`.
    fn opt_parsed<T>(&self, col: &str) -> Result<Option<T>, StoreError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.opt_text(col)?
            .map(|s| {
                s.parse()
                    .map_err(|e| StoreError::Corrupt(format!("{col} `{s}`: {e}")))
            })
            .transpose()
    }
}

fn get<'r, R, T>(row: &'r R, col: &str) -> Result<T, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get::<T, _>(col)
        .map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

impl<R> RowExt for R
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    i64: Type<R::Database> + for<'r> Decode<'r, R::Database>,
    i32: Type<R::Database> + for<'r> Decode<'r, R::Database>,
    bool: Type<R::Database> + for<'r> Decode<'r, R::Database>,
    String: Type<R::Database> + for<'r> Decode<'r, R::Database>,
{
    fn i64(&self, col: &str) -> Result<i64, StoreError> {
        get(self, col)
    }
    fn opt_i64(&self, col: &str) -> Result<Option<i64>, StoreError> {
        get(self, col)
    }
    fn i32(&self, col: &str) -> Result<i32, StoreError> {
        get(self, col)
    }
    fn boolean(&self, col: &str) -> Result<bool, StoreError> {
        get(self, col)
    }
    fn text(&self, col: &str) -> Result<String, StoreError> {
        get(self, col)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        get(self, col)
    }
}
