//! The seam between the shared SQL and the two sqlx drivers.
//!
//! All store logic ([`crate::create`], [`crate::complaints`], [`crate::users`],
//! [`crate::outbox`], [`crate::migrate`], [`crate::group`]) is written once, generic over
//! [`Backend`]. A backend only says how to check out connections and open transactions, how
//! to run statements, and supplies the little SQL that differs (the outbox claim and the
//! migration lock). This keeps every `sqlx` trait bound inside the two concrete
//! `impl Backend` blocks instead of on every generic function.
//!
//! Parameters travel as [`Arg`] values (built with the `args!` macro) and are bound by the
//! backend; rows are read through [`RowExt`], which turns every decode failure into
//! [`StoreError::Corrupt`]. Both drivers accept `$1, $2, …` placeholders, so the SQL text is
//! shared verbatim; [`Insert`] renders the same one-row template for 1..n rows, and
//! [`Backend::execute_batch`] runs several statements (one round trip on SQLite).

use std::future::Future;
use std::ops::DerefMut;
use std::str::FromStr;

use aduan_core::store::StoreError;
use chrono::{DateTime, Utc};
use sqlx::error::DatabaseError;
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
    /// One column of a multi-row insert as an array (PostgreSQL only, `UNNEST`: see
    /// [`Insert::unnest`]); its elements are the values of one of the variants above.
    Column(Column),
}

/// The values of one column, as a PostgreSQL array parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Column {
    I64(Vec<Option<i64>>),
    I32(Vec<i32>),
    Bool(Vec<bool>),
    Text(Vec<Option<String>>),
    Bytes(Vec<Vec<u8>>),
}

impl Column {
    /// An empty column for values like `first`, with room for `rows`.
    fn like(first: &Arg, rows: usize) -> Option<Self> {
        Some(match first {
            Arg::I64(_) => Column::I64(Vec::with_capacity(rows)),
            Arg::I32(_) => Column::I32(Vec::with_capacity(rows)),
            Arg::Bool(_) => Column::Bool(Vec::with_capacity(rows)),
            Arg::Text(_) => Column::Text(Vec::with_capacity(rows)),
            Arg::Bytes(_) => Column::Bytes(Vec::with_capacity(rows)),
            Arg::Column(_) => return None,
        })
    }

    /// Append `v`; `false` (nothing appended) when it is of another type.
    fn push(&mut self, v: Arg) -> bool {
        match (self, v) {
            (Column::I64(c), Arg::I64(v)) => c.push(v),
            (Column::I32(c), Arg::I32(v)) => c.push(v),
            (Column::Bool(c), Arg::Bool(v)) => c.push(v),
            (Column::Text(c), Arg::Text(v)) => c.push(v),
            (Column::Bytes(c), Arg::Bytes(v)) => c.push(v),
            _ => return false,
        }
        true
    }

    /// The array type, for the parameter's cast.
    fn sql_type(&self) -> &'static str {
        match self {
            Column::I64(_) => "BIGINT[]",
            Column::I32(_) => "INTEGER[]",
            Column::Bool(_) => "BOOLEAN[]",
            Column::Text(_) => "TEXT[]",
            Column::Bytes(_) => "BYTEA[]",
        }
    }

    /// Whether `rows` can be columns: not empty, of one length, with one type per position.
    pub(crate) fn fit(rows: &[Vec<Arg>]) -> bool {
        let Some(first) = rows.first() else {
            return false;
        };
        let kind = |a: &Arg| std::mem::discriminant(a);
        !first.iter().any(|a| matches!(a, Arg::Column(_)))
            && rows.iter().all(|r| {
                r.len() == first.len() && r.iter().zip(first).all(|(a, b)| kind(a) == kind(b))
            })
    }

    /// `rows` (each with the same number of values, of one type per position) as columns;
    /// the rows back, untouched, when they are empty, ragged or mixed ([`Column::fit`]).
    pub(crate) fn transpose(rows: Vec<Vec<Arg>>) -> Result<Vec<Column>, Vec<Vec<Arg>>> {
        if !Column::fit(&rows) {
            return Err(rows);
        }
        let mut cols: Vec<Column> = rows[0]
            .iter()
            .filter_map(|a| Column::like(a, rows.len()))
            .collect();
        for row in rows {
            for (col, v) in cols.iter_mut().zip(row) {
                // `fit` checked every value's type against its column's.
                let pushed = col.push(v);
                debug_assert!(pushed, "a value of another type than its column");
            }
        }
        Ok(cols)
    }

    /// `UNNEST($first::T[], $first+1::U[], …) AS alias (c1, c2, …)` for `cols`.
    pub(crate) fn unnest_sql(cols: &[Column], first: usize, alias: &str, names: &[&str]) -> String {
        let mut sql = String::from("UNNEST(");
        for (k, c) in cols.iter().enumerate() {
            if k > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("CAST(${} AS {})", first + k, c.sql_type()));
        }
        sql.push_str(&format!(") AS {alias} ("));
        sql.push_str(&names.join(", "));
        sql.push(')');
        sql
    }
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

/// The connection type of a backend (what a transaction or checked-out handle derefs to).
pub(crate) type Conn<B> = <<B as Backend>::Db as Database>::Connection;
/// An open transaction, borrowing a checked-out [`Backend::Handle`].
pub(crate) type Tx<'h, B> = Transaction<'h, <B as Backend>::Db>;

/// What the shared store logic needs from a database driver.
///
/// Every operation checks out a handle ([`writer`](Backend::writer) for anything that
/// writes, [`reader`](Backend::reader) otherwise) and either runs one statement on it or
/// opens a transaction on it ([`begin_write`](Backend::begin_write): on SQLite
/// `BEGIN IMMEDIATE` on the single writer connection; [`begin_read`](Backend::begin_read):
/// one consistent snapshot for several queries):
///
/// ```text
/// let mut h = b.writer().await?;
/// let mut tx = B::begin_write(&mut h).await?;
/// ```
pub(crate) trait Backend: Send + Sync + 'static {
    /// The sqlx driver.
    type Db: Database;
    /// A result row of that driver.
    type Row: RowExt + Send + 'static;
    /// A checked-out connection.
    type Handle: DerefMut<Target = Conn<Self>> + Send;

    /// `"sqlite"` or `"postgres"`.
    const NAME: &'static str;
    /// The migrations of this backend, in version order.
    const MIGRATIONS: &'static [Migration];
    /// Lease due outbox rows. Parameters: `$1` claimed_until (ms), `$2` claim token,
    /// `$3` now (ms), `$4` limit. Returns the outbox columns read by
    /// [`crate::rows::outbox_item`] (including `ticket`).
    const CLAIM_REPLIES_SQL: &'static str;
    /// Lease due media jobs. Parameters: `$1` claimed_until (ms), `$2` claim token, `$3`
    /// now (ms), `$4` limit, `$5..$8` the channels. Returns the columns read by
    /// `crate::media::job_row` (including `ticket`).
    const CLAIM_MEDIA_SQL: &'static str;
    /// The first complaints of a month whose running step was overdue at its end
    /// (`crate::month`'s `overdue_sql!`, with the index named where the planner needs it).
    const OVERDUE_SQL: &'static str;
    /// The frequent-problem count's page as one packed row (`crate::month`'s
    /// `ANALYSES_PACKED_*`, first page and next), where rows are dear to move one by one
    /// (SQLite: each crosses from the connection's thread on its own); `None` reads them as
    /// rows.
    const ANALYSES_PACKED: Option<(&'static str, &'static str)>;

    /// Whether [`crate::create::create_in_tx`] takes the ticket numbers as the last
    /// statement before `COMMIT` (dependent rows first, under ids from the sequence, then the
    /// numbered complaint rows), so that concurrent writers hold the month's counter row
    /// only for their commit. SQLite (one writer) numbers first.
    const NUMBER_AT_COMMIT: bool = false;
    /// Whether the multi-row statements of a create bind each column as one array
    /// ([`Insert::unnest`], PostgreSQL). PostgreSQL plans each prepared statement and sqlx
    /// keeps a bounded cache of them per connection: with one statement per group size,
    /// groups of 1 to 64 complaints evicted each other's statements and every group
    /// re-planned.
    const ARRAY_INSERTS: bool = false;

    /// Row lock suffix for a read inside a write transaction (`FOR UPDATE` on PostgreSQL,
    /// empty on SQLite, whose write transactions already hold the database lock).
    const LOCK_ROW: &'static str;

    /// The vault sealing identity columns and hashing look-up keys.
    fn vault(&self) -> &crate::vault::Vault;

    /// The workers' wake-ups, signalled after commits ([`crate::wake::Signals`]).
    fn wakeups(&self) -> &std::sync::Arc<aduan_core::wake::Wakeups>;

    /// Send a wake-up `payload` to the other replicas when the open transaction on `conn`
    /// commits (PostgreSQL `pg_notify`). By default nothing: SQLite has one process.
    fn notify_in_tx(
        conn: &mut Conn<Self>,
        payload: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (conn, payload);
        async { Ok(()) }
    }

    /// Health check for `/readyz`: a read on a reader connection (SQLite adds a probe write
    /// while a storage error is recorded).
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async {
            let mut conn = self.reader().await?;
            Self::execute(&mut conn, "SELECT 1", vec![]).await.map(drop)
        }
    }

    /// Observe the outcome of a write (SQLite keeps the last storage error for `ping`).
    fn note_write<T>(&self, outcome: &Result<T, StoreError>) {
        let _ = outcome;
    }

    /// The connection for writes.
    fn writer(&self) -> impl Future<Output = Result<Self::Handle, StoreError>> + Send;
    /// A connection for reads.
    fn reader(&self) -> impl Future<Output = Result<Self::Handle, StoreError>> + Send;
    /// Open a write transaction on a [`writer`](Backend::writer) handle.
    fn begin_write(
        h: &mut Self::Handle,
    ) -> impl Future<Output = Result<Tx<'_, Self>, StoreError>> + Send;
    /// Open a read-only snapshot transaction on a [`reader`](Backend::reader) handle.
    fn begin_read(
        h: &mut Self::Handle,
    ) -> impl Future<Output = Result<Tx<'_, Self>, StoreError>> + Send;

    /// Serialize concurrent migrators; called first inside each migration transaction.
    fn lock_migrations(
        conn: &mut Conn<Self>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Serialize appends to the audit chain across replicas; called inside the appending
    /// transaction before the chain's head is read ([`crate::audit`]). By default nothing:
    /// SQLite's `BEGIN IMMEDIATE` already holds the database write lock.
    fn lock_audit(conn: &mut Conn<Self>) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = conn;
        async { Ok(()) }
    }
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
    /// [`execute`](Backend::execute) for SQL built at run time. Only constant fragments
    /// and placeholders may go into `sql`; values are always bound.
    fn execute_built(
        conn: &mut Conn<Self>,
        sql: String,
        args: Vec<Arg>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
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
    pub sql: String,
    pub args: Vec<Arg>,
}

/// Most bound parameters put in one statement (SQLite allows 32766, PostgreSQL 65535).
pub(crate) const MAX_PARAMS: usize = 10_000;

/// A multi-row `INSERT`: `head` + one `row` template per row (placeholders `$1..$per_row`,
/// renumbered for each row) joined by commas + `tail` (`ON CONFLICT …`, `RETURNING …`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Insert {
    pub head: &'static str,
    pub row: &'static str,
    pub per_row: usize,
    pub tail: &'static str,
}

impl Insert {
    /// The SQL for `rows` rows.
    pub(crate) fn sql(&self, rows: usize) -> String {
        let mut sql = String::with_capacity(self.head.len() + rows * (self.row.len() + 8));
        sql.push_str(self.head);
        for i in 0..rows {
            if i > 0 {
                sql.push_str(", ");
            }
            renumber_placeholders(&mut sql, self.row, i * self.per_row);
        }
        sql.push_str(self.tail);
        sql
    }

    /// Statements inserting `rows` (each `per_row` arguments), at most [`MAX_PARAMS`]
    /// parameters per statement.
    pub(crate) fn stmts(&self, rows: Vec<Vec<Arg>>) -> Vec<Stmt> {
        let per_stmt = (MAX_PARAMS / self.per_row).max(1);
        let mut out = Vec::with_capacity(rows.len().div_ceil(per_stmt));
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Vec<Arg>> = rows.by_ref().take(per_stmt).collect();
            out.push(Stmt {
                sql: self.sql(chunk.len()),
                args: chunk.into_iter().flatten().collect(),
            });
        }
        out
    }

    /// One statement inserting all of `rows` whatever their number, each column bound as
    /// one array: `INSERT INTO t (…) SELECT … FROM UNNEST($1::T[], …) AS u (c1, …)` + `tail`
    /// (PostgreSQL). A connection so prepares and plans one statement per table, where
    /// [`stmts`](Insert::stmts) makes one per group size. Falls back to `stmts` for rows
    /// whose columns are not of one type each.
    pub(crate) fn unnest(&self, rows: Vec<Vec<Arg>>) -> Vec<Stmt> {
        if rows.is_empty() {
            return Vec::new();
        }
        let cols = match Column::transpose(rows) {
            Ok(cols) => cols,
            Err(rows) => return self.stmts(rows),
        };
        let names: Vec<String> = (1..=cols.len()).map(|k| format!("c{k}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let head = self.head.trim_end();
        let head = head.strip_suffix("VALUES").unwrap_or(head);
        let mut sql = String::with_capacity(head.len() + self.row.len() * 2 + 200);
        sql.push_str(head);
        sql.push_str("SELECT ");
        // The row template with `$k` read from the k-th array.
        let row = self.row.trim();
        let row = row
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or(row);
        sql.push_str(&placeholders_to(row, "u.c"));
        sql.push_str(" FROM ");
        sql.push_str(&Column::unnest_sql(&cols, 1, "u", &names));
        sql.push_str(self.tail);
        vec![Stmt {
            sql,
            args: cols.into_iter().map(Arg::Column).collect(),
        }]
    }

    /// One single-row statement.
    pub(crate) fn one(&self, args: Vec<Arg>) -> Stmt {
        debug_assert_eq!(args.len(), self.per_row);
        Stmt {
            sql: self.sql(1),
            args,
        }
    }
}

/// `sql` with every `$N` placeholder replaced by `{prefix}N` (a column of an `UNNEST`).
fn placeholders_to(sql: &str, prefix: &str) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() * 2);
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            out.push_str(&sql[copied..i]);
            out.push_str(prefix);
            i += 1;
            copied = i;
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            out.push_str(&sql[copied..i]);
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&sql[copied..]);
    out
}

/// Append `sql` to `out` with every `$N` placeholder replaced by `$(N + offset)`. The shared
/// SQL has no `$` inside string literals or identifiers, so a textual scan is exact.
pub(crate) fn renumber_placeholders(out: &mut String, sql: &str, offset: usize) {
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

        fn execute_built(
            conn: &mut $crate::backend::Conn<Self>,
            sql: String,
            args: Vec<$crate::backend::Arg>,
        ) -> impl std::future::Future<Output = Result<u64, aduan_core::store::StoreError>> + Send
        {
            let query = bind_args(sqlx::query::<$db>(sqlx::AssertSqlSafe(sql)), args);
            async move {
                let done = query
                    .execute(&mut *conn)
                    .await
                    .map_err($crate::backend::db_err)?;
                Ok(done.rows_affected())
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
    (Postgres) => {
        $crate::backend::bind_args_fn!(@bind sqlx::Postgres);

        fn bind_column<'q>(
            query: sqlx::query::Query<'q, sqlx::Postgres, <sqlx::Postgres as sqlx::Database>::Arguments>,
            c: $crate::backend::Column,
        ) -> sqlx::query::Query<'q, sqlx::Postgres, <sqlx::Postgres as sqlx::Database>::Arguments> {
            use $crate::backend::Column;
            match c {
                Column::I64(v) => query.bind(v),
                Column::I32(v) => query.bind(v),
                Column::Bool(v) => query.bind(v),
                Column::Text(v) => query.bind(v),
                Column::Bytes(v) => query.bind(v),
            }
        }
    };
    (Sqlite) => {
        $crate::backend::bind_args_fn!(@bind sqlx::Sqlite);

        /// SQLite has no arrays; [`Backend::ARRAY_INSERTS`] is off for it, so no statement
        /// carries a column. Should one ever, it binds NULL and the statement fails on its
        /// constraints instead of writing a wrong value.
        fn bind_column<'q>(
            query: sqlx::query::Query<'q, sqlx::Sqlite, <sqlx::Sqlite as sqlx::Database>::Arguments>,
            _: $crate::backend::Column,
        ) -> sqlx::query::Query<'q, sqlx::Sqlite, <sqlx::Sqlite as sqlx::Database>::Arguments> {
            debug_assert!(false, "an array parameter on SQLite");
            query.bind(Option::<i64>::None)
        }
    };
    (@bind $db:ty) => {
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
                    Arg::Column(c) => bind_column(query, c),
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
            } else if let Some(kind) = storage_failure(db.as_ref()) {
                StoreError::Unavailable(format!("{kind}: {db}"))
            } else if is_lock_conflict(db.as_ref()) {
                StoreError::Unavailable(format!("{LOCK_CONFLICT}: {db}"))
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

/// How an [`StoreError::Unavailable`] message starts when PostgreSQL aborted the
/// transaction to break a deadlock or a serialization conflict with another transaction:
/// the same work retried (alone) normally succeeds.
pub(crate) const LOCK_CONFLICT: &str = "lock conflict";

/// Whether `e` is a [`LOCK_CONFLICT`] (see [`db_err`]).
pub(crate) fn is_lock_conflict_error(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable(m) if m.starts_with(LOCK_CONFLICT))
}

/// PostgreSQL's deadlock and serialization failures.
fn is_lock_conflict(db: &dyn DatabaseError) -> bool {
    db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
        && matches!(db.code().as_deref(), Some("40P01" | "40001"))
}

/// A SQLite error of the storage under the database (`SQLITE_FULL`: disk or page limit
/// full; `SQLITE_IOERR`): the message prefix [`StoreError::is_storage_full`] recognises.
fn storage_failure(db: &dyn DatabaseError) -> Option<&'static str> {
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
    match code & 0xff {
        13 => Some(aduan_core::store::STORAGE_FULL),
        10 => Some(aduan_core::store::STORAGE_IO),
        _ => None,
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
    /// A non-NULL text column borrowed from the row (no copy: for values parsed or opened
    /// at once).
    fn str_ref(&self, col: &str) -> Result<&str, StoreError>;
    /// A nullable text column borrowed from the row.
    fn opt_str_ref(&self, col: &str) -> Result<Option<&str>, StoreError>;
    /// A non-NULL BLOB / BYTEA.
    fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError>;

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
        let s = self.str_ref(col)?;
        s.parse()
            .map_err(|e| StoreError::Corrupt(format!("{col} `{s}`: {e}")))
    }
    /// A nullable text column parsed with `FromStr`.
    fn opt_parsed<T>(&self, col: &str) -> Result<Option<T>, StoreError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.opt_str_ref(col)?
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
    for<'r> &'r str: Type<R::Database> + Decode<'r, R::Database>,
    Vec<u8>: Type<R::Database> + for<'r> Decode<'r, R::Database>,
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
    fn str_ref(&self, col: &str) -> Result<&str, StoreError> {
        get(self, col)
    }
    fn opt_str_ref(&self, col: &str) -> Result<Option<&str>, StoreError> {
        get(self, col)
    }
    fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError> {
        get(self, col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_shifted() {
        let mut out = String::from("X;");
        renumber_placeholders(&mut out, "VALUES ($1, $2, 'é', $10, $1)", 7);
        assert_eq!(out, "X;VALUES ($8, $9, 'é', $17, $8)");
        let mut out = String::new();
        renumber_placeholders(&mut out, "SELECT $ || 1", 3);
        assert_eq!(out, "SELECT $ || 1");
    }

    #[test]
    fn array_inserts_read_each_column_from_one_array() {
        let ins = Insert {
            head: "INSERT INTO t (a, b, c, d) VALUES ",
            row: "($1, $2, 0, $2)",
            per_row: 2,
            tail: " ON CONFLICT DO NOTHING RETURNING id",
        };
        let rows: Vec<Vec<Arg>> = (0..70_i64)
            .map(|i| args![i, (i % 2 == 0).then(|| format!("r{i}"))])
            .collect();
        let stmts = ins.unnest(rows);
        assert_eq!(stmts.len(), 1, "one statement whatever the row count");
        assert_eq!(
            stmts[0].sql,
            "INSERT INTO t (a, b, c, d) SELECT u.c1, u.c2, 0, u.c2 FROM \
             UNNEST(CAST($1 AS BIGINT[]), CAST($2 AS TEXT[])) AS u (c1, c2) \
             ON CONFLICT DO NOTHING RETURNING id"
        );
        let Arg::Column(Column::Text(b)) = &stmts[0].args[1] else {
            panic!("{:?}", stmts[0].args[1]);
        };
        assert_eq!(b.len(), 70);
        assert_eq!((b[0].as_deref(), b[1].as_deref()), (Some("r0"), None));
        // The same SQL for another number of rows (one prepared statement per table).
        let other = ins.unnest(vec![args![1_i64, "x"]]);
        assert_eq!(other[0].sql, stmts[0].sql);
        // Columns of mixed types fall back to VALUES rows.
        let mixed = ins.unnest(vec![args![1_i64, "x"], args![2_i64, 3_i64]]);
        assert!(
            mixed[0]
                .sql
                .contains("VALUES ($1, $2, 0, $2), ($3, $4, 0, $4)")
        );
        assert!(ins.unnest(Vec::new()).is_empty());
        assert_eq!(
            placeholders_to("f($1, $12) || '$'", "u.c"),
            "f(u.c1, u.c12) || '$'"
        );
    }

    #[test]
    fn multi_row_inserts_are_rendered_and_chunked() {
        let ins = Insert {
            head: "INSERT INTO t (a, b, c) VALUES ",
            row: "($1, $2, 0, $2)",
            per_row: 2,
            tail: " RETURNING id",
        };
        assert_eq!(
            ins.sql(3),
            "INSERT INTO t (a, b, c) VALUES ($1, $2, 0, $2), ($3, $4, 0, $4), ($5, $6, 0, $6) \
             RETURNING id"
        );
        let rows: Vec<Vec<Arg>> = (0..(MAX_PARAMS / 2 + 1) as i64)
            .map(|i| args![i, i])
            .collect();
        let stmts = ins.stmts(rows);
        assert_eq!(stmts.len(), 2);
        assert_eq!(stmts[0].args.len(), MAX_PARAMS);
        assert_eq!(stmts[1].args.len(), 2);
        assert_eq!(stmts[1].sql, ins.sql(1));
    }
}
