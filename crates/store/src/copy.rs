//! Copying a whole installation from one database to another (`aduan migrate-store`, SPEC
//! §1): SQLite → PostgreSQL when one server is outgrown, or any other direction.
//!
//! [`migrate_store`] works in this order:
//! 1. The source must be an aduan database (it has `schema_migrations`; a SQLite file must
//!    exist). A target that already holds a row in any data table is refused before
//!    anything is written ([`CopyError::TargetNotEmpty`]).
//! 2. Both are migrated with the store's own runner (the source is brought to this
//!    version first, as any aduan command would; the key ring is checked to open its data).
//! 3. Every table of [`TABLES`] is copied in that order (foreign keys point backwards in
//!    it) inside **one** target transaction, so a failed copy leaves the target as empty as
//!    it was; emptiness is checked again inside that transaction. The source is read in one
//!    read-only snapshot (SQLite read transaction / PostgreSQL `REPEATABLE READ`), streamed
//!    row by row in primary-key order and inserted in multi-row batches bounded by rows,
//!    parameters and bytes ([`BATCH_ROWS`], [`BATCH_BYTES`]): no table is ever held in
//!    memory.
//! 4. Columns come from the schemas, not from a list here: a column added by a later
//!    migration is carried without touching this file. A source table this list does not
//!    know is an error (it would otherwise be lost), except migration bookkeeping
//!    (`schema_migrations`, which the target's own migrations fill) and SQLite internals.
//!    Source and target must have the same columns per table.
//! 5. Values are converted by the source value's type and the target column's type: SQLite
//!    INTEGER ⇄ PostgreSQL BIGINT / INTEGER / BOOLEAN (booleans are 0/1 on SQLite), TEXT ⇄
//!    TEXT, BLOB ⇄ BYTEA. Sealed values are copied as they are (text or bytes): the same
//!    key ring opens the target. Ids are preserved; afterwards PostgreSQL identity
//!    sequences (SQLite `sqlite_sequence`) are set past the copied ids and past the
//!    source's own high-water mark.
//! 6. Verification ([`CopyReport`]): per-table row counts and highest ids of source (same
//!    snapshot) and target (after the commit); [`CopyReport::matches`] is false when any
//!    differs. The caller also runs the audit chain check on the target.

use std::str::FromStr;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{
    AssertSqlSafe, ConnectOptions, Connection, PgConnection, Postgres, Row, Sqlite,
    SqliteConnection, TypeInfo, ValueRef,
};

use aduan_core::store::{Store, StoreError};

use crate::vault::Vault;

/// Every data table, in an order where each table's foreign keys point to tables before
/// it. A table added by a migration must be added here (the copy refuses a source with a
/// table it does not know).
pub const TABLES: &[&str] = &[
    "ticket_counters",
    "complaints",
    "identity_shares",
    "messages",
    "attachments",
    "attachment_shares",
    "history",
    "users",
    "outbox",
    "cursors",
    "leases",
    "reports",
    "audit_log",
    "media_jobs",
    "intake_notices",
    "admin_sessions",
    "login_tokens",
];

/// Tables that are not data: filled by the target's own migrations, or scratch.
const NOT_DATA: &[&str] = &["schema_migrations", "aduan_storage_probe"];

/// Most rows in one INSERT.
pub const BATCH_ROWS: usize = 500;
/// A batch is written once its values reach this many bytes (attachments are large).
pub const BATCH_BYTES: usize = 4 << 20;
/// Most bound parameters in one INSERT (below SQLite's 32766 and PostgreSQL's 65535).
const BATCH_PARAMS: usize = 10_000;
/// Rows the SQLite source's worker thread may buffer ahead of the copy.
const SQLITE_ROW_BUFFER: usize = 8;

/// Why a copy did not happen or failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The target already holds data: `(table, rows)` of every non-empty table.
    #[error("the target database is not empty ({}); migrate-store copies only into an empty database", describe(.0))]
    TargetNotEmpty(Vec<(String, u64)>),
    /// Anything else (unreachable database, unknown table, a value that does not convert).
    #[error("{0}")]
    Failed(String),
}

fn describe(tables: &[(String, u64)]) -> String {
    tables
        .iter()
        .map(|(t, n)| format!("{t}: {n} rows"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<StoreError> for CopyError {
    fn from(e: StoreError) -> Self {
        CopyError::Failed(e.to_string())
    }
}

impl From<sqlx::Error> for CopyError {
    fn from(e: sqlx::Error) -> Self {
        CopyError::Failed(e.to_string())
    }
}

fn failed(msg: impl Into<String>) -> CopyError {
    CopyError::Failed(msg.into())
}

/// One table's figures after a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: &'static str,
    pub source_rows: u64,
    pub target_rows: u64,
    /// Highest integer `id` (None: empty table or no integer `id` column).
    pub source_max_id: Option<i64>,
    pub target_max_id: Option<i64>,
}

impl TableReport {
    /// Counts and highest ids agree.
    pub fn matches(&self) -> bool {
        self.source_rows == self.target_rows && self.source_max_id == self.target_max_id
    }
}

/// What [`migrate_store`] copied and verified.
#[derive(Debug, Clone)]
pub struct CopyReport {
    pub tables: Vec<TableReport>,
    /// Rows copied in all.
    pub rows: u64,
    pub elapsed: Duration,
}

impl CopyReport {
    /// Every table's counts and highest ids agree.
    pub fn matches(&self) -> bool {
        self.tables.iter().all(TableReport::matches)
    }

    /// The verification table as printed by `aduan migrate-store`.
    pub fn render(&self) -> String {
        let id = |v: Option<i64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        let mut out = format!(
            "{:<18} {:>10} {:>10} {:>10} {:>10}  check\n",
            "table", "source", "target", "max id src", "max id tgt"
        );
        for t in &self.tables {
            out.push_str(&format!(
                "{:<18} {:>10} {:>10} {:>10} {:>10}  {}\n",
                t.table,
                t.source_rows,
                t.target_rows,
                id(t.source_max_id),
                id(t.target_max_id),
                if t.matches() { "ok" } else { "DIFFERS" }
            ));
        }
        out
    }
}

/// Copy the installation at `from` into the empty database at `to` and verify it (see the
/// module docs). `vault` is the installation's key ring: it must open the source's data.
/// `progress` receives human-readable progress lines.
pub async fn migrate_store(
    from: &str,
    to: &str,
    vault: Vault,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<CopyReport, CopyError> {
    let started = Instant::now();
    let from_kind = Kind::of(from)?;
    let to_kind = Kind::of(to)?;
    if let (Kind::Sqlite(a), Kind::Sqlite(b)) = (&from_kind, &to_kind)
        && a == b
    {
        return Err(failed("--from and --to name the same SQLite file"));
    }

    // 1. The source is an aduan database; the target holds no data (nothing written yet).
    {
        let mut src = Db::open(&from_kind, from, Open::MustExist).await?;
        let tables = src.tables().await?;
        if !tables.iter().any(|t| t == "schema_migrations") {
            return Err(failed(
                "the source is not an aduan database (it has no schema_migrations table)",
            ));
        }
        src.close().await;
    }
    if let Some(mut dst) = Db::open_if_exists(&to_kind, to).await? {
        let found = dst.non_empty_tables().await?;
        dst.close().await;
        if !found.is_empty() {
            return Err(CopyError::TargetNotEmpty(found));
        }
    }

    // 2. Both schemas at this version; the key ring opens the source.
    progress("migrating the source to this version and checking the key ring");
    migrate(from, vault.clone()).await?;
    progress("creating the schema on the target");
    migrate(to, vault).await?;

    // 3. Copy in one target transaction from one source snapshot.
    let mut src = Db::open(&from_kind, from, Open::ReadOnly).await?;
    let mut dst = Db::open(&to_kind, to, Open::MustExist).await?;
    let source_tables = src.tables().await?;
    let unknown: Vec<&String> = source_tables
        .iter()
        .filter(|t| !TABLES.contains(&t.as_str()) && !NOT_DATA.contains(&t.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(failed(format!(
            "the source has tables this version does not know how to copy: {}; use the \
             aduan version that created them",
            unknown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let target_tables = dst.tables().await?;
    for t in TABLES {
        if !source_tables.iter().any(|s| s == t) || !target_tables.iter().any(|s| s == t) {
            return Err(failed(format!(
                "table {t} is missing on the {} after migrating",
                if source_tables.iter().any(|s| s == t) {
                    "target"
                } else {
                    "source"
                }
            )));
        }
    }

    src.begin_snapshot().await?;
    dst.begin_write().await?;
    let outcome = copy_tables(&mut src, &mut dst, progress).await;
    let rows = match outcome {
        Ok(rows) => rows,
        Err(e) => {
            dst.rollback().await;
            return Err(e);
        }
    };
    dst.commit().await?;
    progress("copy committed; verifying");

    // 4. Verify: source (same snapshot) against target (committed).
    let mut tables = Vec::with_capacity(TABLES.len());
    for t in TABLES {
        let (source_rows, source_max_id) = src.figures(t).await?;
        let (target_rows, target_max_id) = dst.figures(t).await?;
        tables.push(TableReport {
            table: t,
            source_rows,
            target_rows,
            source_max_id,
            target_max_id,
        });
    }
    src.rollback().await;
    src.close().await;
    dst.close().await;
    Ok(CopyReport {
        tables,
        rows,
        elapsed: started.elapsed(),
    })
}

/// Apply the store's migrations to `url` (and check the key ring opens its data).
async fn migrate(url: &str, vault: Vault) -> Result<(), CopyError> {
    match Kind::of(url)? {
        Kind::Sqlite(_) => {
            let s = crate::SqliteStore::open(url, vault).await?;
            let r = s.migrate().await;
            s.close().await;
            r?;
        }
        Kind::Postgres => {
            let s = crate::PostgresStore::connect(url, vault).await?;
            let r = s.migrate().await;
            s.close().await;
            r?;
        }
    }
    Ok(())
}

/// Copy every table; returns the rows copied.
async fn copy_tables(
    src: &mut Db,
    dst: &mut Db,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<u64, CopyError> {
    // Inside the write transaction: still nothing there (the migrations' own rows, like
    // the sealing cursor, are removed by the migration's sealing pass on an empty database).
    let found = dst.non_empty_tables().await?;
    if !found.is_empty() {
        return Err(CopyError::TargetNotEmpty(found));
    }
    let mut total = 0;
    for table in TABLES {
        let scols = src.columns(table).await?;
        let tcols = dst.columns(table).await?;
        let mut missing: Vec<String> = scols
            .iter()
            .filter(|c| !tcols.iter().any(|t| t.name == c.name))
            .map(|c| format!("{table}.{} (only on the source)", c.name))
            .collect();
        missing.extend(
            tcols
                .iter()
                .filter(|t| !scols.iter().any(|c| c.name == t.name))
                .map(|t| format!("{table}.{} (only on the target)", t.name)),
        );
        if !missing.is_empty() {
            return Err(failed(format!(
                "source and target schemas differ: {}",
                missing.join(", ")
            )));
        }
        // Target order of the source's columns, with the target's type of each.
        let targets: Vec<ColType> = scols
            .iter()
            .map(|c| {
                tcols
                    .iter()
                    .find(|t| t.name == c.name)
                    .expect("checked above")
                    .ty
            })
            .collect();
        let names: Vec<&str> = scols.iter().map(|c| c.name.as_str()).collect();
        let pk = src.primary_key(table).await?;
        let n = copy_table(src, dst, table, &names, &scols, &targets, &pk, progress).await?;
        if let Some(seq) = src.high_water(table, &scols).await? {
            dst.raise_sequence(table, seq).await?;
        }
        dst.sequences_past_ids(table, &tcols).await?;
        progress(&format!("{table}: {n} rows copied"));
        total += n;
    }
    Ok(total)
}

#[allow(clippy::too_many_arguments)]
async fn copy_table(
    src: &mut Db,
    dst: &mut Db,
    table: &str,
    names: &[&str],
    scols: &[Column],
    targets: &[ColType],
    pk: &[String],
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<u64, CopyError> {
    let cols = names
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let order = if pk.is_empty() {
        String::new()
    } else {
        format!(
            " ORDER BY {}",
            pk.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ")
        )
    };
    let select = format!("SELECT {cols} FROM {}{order}", quote(table));
    let identity = dst.has_identity(table).await?;
    let head = format!(
        "INSERT INTO {} ({cols}){} VALUES ",
        quote(table),
        if identity {
            " OVERRIDING SYSTEM VALUE"
        } else {
            ""
        }
    );
    let per_stmt = (BATCH_PARAMS / names.len().max(1)).clamp(1, BATCH_ROWS);
    let mut batch = Batch::default();
    let mut copied = 0u64;
    let mut last_note = Instant::now();

    // The source stream borrows `src`; the target is a different connection.
    let mut rows = src.stream(select, scols);
    while let Some(values) = rows.try_next().await? {
        let mut row = Vec::with_capacity(values.len());
        for ((v, ty), name) in values.into_iter().zip(targets).zip(names) {
            row.push(convert(v, *ty).map_err(|e| failed(format!("{table}.{name}: {e}")))?);
        }
        batch.push(row);
        if batch.rows.len() >= per_stmt || batch.bytes >= BATCH_BYTES {
            copied += batch.flush(dst, &head).await?;
            if last_note.elapsed() >= Duration::from_secs(2) {
                progress(&format!("{table}: {copied} rows …"));
                last_note = Instant::now();
            }
        }
    }
    drop(rows);
    copied += batch.flush(dst, &head).await?;
    Ok(copied)
}

/// Rows waiting to be inserted.
#[derive(Default)]
struct Batch {
    rows: Vec<Vec<Bound>>,
    bytes: usize,
}

impl Batch {
    fn push(&mut self, row: Vec<Bound>) {
        self.bytes += row.iter().map(Bound::size).sum::<usize>();
        self.rows.push(row);
    }

    async fn flush(&mut self, dst: &mut Db, head: &str) -> Result<u64, CopyError> {
        if self.rows.is_empty() {
            return Ok(0);
        }
        let rows = std::mem::take(&mut self.rows);
        self.bytes = 0;
        let per_row = rows[0].len();
        let mut sql = String::with_capacity(head.len() + rows.len() * per_row * 6);
        sql.push_str(head);
        let mut n = 0;
        for (i, r) in rows.iter().enumerate() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for j in 0..r.len() {
                n += 1;
                if j > 0 {
                    sql.push_str(", ");
                }
                sql.push('$');
                sql.push_str(&n.to_string());
            }
            sql.push(')');
        }
        let count = rows.len() as u64;
        let done = dst
            .insert(sql, rows.into_iter().flatten().collect())
            .await?;
        if done != count {
            return Err(failed(format!(
                "inserted {done} rows of a batch of {count}"
            )));
        }
        Ok(count)
    }
}

/// `url` with any password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!(
                "{}{user}:***@{host}{}",
                &url[..scheme_end],
                &rest[authority_end..]
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// `"name"`: identifiers come from the schema; a `"` inside is doubled.
fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Which backend a URL names.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// With the file path.
    Sqlite(std::path::PathBuf),
    Postgres,
}

impl Kind {
    fn of(url: &str) -> Result<Kind, CopyError> {
        let scheme = url
            .split_once(':')
            .map_or("", |(s, _)| s)
            .to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => {
                if crate::sqlite::is_memory(url) {
                    return Err(failed(
                        "an in-memory SQLite database cannot be copied from or into",
                    ));
                }
                let opts = SqliteConnectOptions::from_str(url)
                    .map_err(|e| failed(format!("invalid SQLite URL: {e}")))?;
                Ok(Kind::Sqlite(opts.get_filename().to_path_buf()))
            }
            "postgres" | "postgresql" => Ok(Kind::Postgres),
            _ => Err(failed(format!(
                "unsupported database URL `{}`; expected sqlite:… or postgres://…",
                url.split_once("://").map_or(url, |(s, _)| s)
            ))),
        }
    }
}

/// How to open a database.
#[derive(Clone, Copy, PartialEq)]
enum Open {
    MustExist,
    ReadOnly,
}

/// A column's storage type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColType {
    /// SQLite INTEGER, PostgreSQL BIGINT.
    I64,
    /// PostgreSQL INTEGER.
    I32,
    /// PostgreSQL BOOLEAN.
    Bool,
    Text,
    Bytes,
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    ty: ColType,
}

/// A value read from the source.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
}

/// A value typed for the target column.
#[derive(Debug, Clone, PartialEq)]
enum Bound {
    I64(Option<i64>),
    I32(Option<i32>),
    Bool(Option<bool>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

impl Bound {
    fn size(&self) -> usize {
        match self {
            Bound::Text(Some(s)) => s.len(),
            Bound::Bytes(Some(b)) => b.len(),
            _ => 8,
        }
    }
}

/// Convert a source value for a target column of type `to`.
fn convert(v: Val, to: ColType) -> Result<Bound, String> {
    Ok(match (v, to) {
        (Val::Null, ColType::I64) => Bound::I64(None),
        (Val::Null, ColType::I32) => Bound::I32(None),
        (Val::Null, ColType::Bool) => Bound::Bool(None),
        (Val::Null, ColType::Text) => Bound::Text(None),
        (Val::Null, ColType::Bytes) => Bound::Bytes(None),
        (Val::Int(i), ColType::I64) => Bound::I64(Some(i)),
        (Val::Int(i), ColType::I32) => Bound::I32(Some(
            i32::try_from(i).map_err(|_| format!("{i} does not fit an INTEGER column"))?,
        )),
        (Val::Int(i), ColType::Bool) => Bound::Bool(Some(match i {
            0 => false,
            1 => true,
            _ => return Err(format!("{i} is not a boolean (0 or 1)")),
        })),
        (Val::Bool(b), ColType::Bool) => Bound::Bool(Some(b)),
        (Val::Bool(b), ColType::I64) => Bound::I64(Some(i64::from(b))),
        (Val::Text(s), ColType::Text) => Bound::Text(Some(s)),
        (Val::Bytes(b), ColType::Bytes) => Bound::Bytes(Some(b)),
        (v, to) => return Err(format!("a {v:?} value does not go into a {to:?} column")),
    })
}

/// A connection to one side of the copy.
enum Db {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

type RowStream<'a> = futures::stream::BoxStream<'a, Result<Vec<Val>, CopyError>>;

impl Db {
    async fn open(kind: &Kind, url: &str, how: Open) -> Result<Db, CopyError> {
        match kind {
            Kind::Sqlite(path) => {
                if !path.exists() {
                    return Err(failed(format!(
                        "the SQLite database {} does not exist",
                        path.display()
                    )));
                }
                let opts = SqliteConnectOptions::from_str(url)
                    .map_err(|e| failed(format!("invalid SQLite URL: {e}")))?
                    .create_if_missing(false)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5))
                    .read_only(how == Open::ReadOnly)
                    .row_buffer_size(SQLITE_ROW_BUFFER);
                Ok(Db::Sqlite(opts.connect().await?))
            }
            Kind::Postgres => {
                let opts = PgConnectOptions::from_str(url)
                    .map_err(|e| failed(format!("invalid PostgreSQL URL: {e}")))?;
                Ok(Db::Pg(opts.connect().await?))
            }
        }
    }

    /// A target that may not exist yet: a missing SQLite file is None (empty).
    async fn open_if_exists(kind: &Kind, url: &str) -> Result<Option<Db>, CopyError> {
        if let Kind::Sqlite(path) = kind
            && !path.exists()
        {
            return Ok(None);
        }
        Db::open(kind, url, Open::ReadOnly).await.map(Some)
    }

    async fn close(self) {
        let _ = match self {
            Db::Sqlite(c) => c.close().await,
            Db::Pg(c) => c.close().await,
        };
    }

    async fn raw(&mut self, sql: &'static str) -> Result<(), CopyError> {
        match self {
            Db::Sqlite(c) => sqlx::raw_sql(sql).execute(c).await.map(drop)?,
            Db::Pg(c) => sqlx::raw_sql(sql).execute(c).await.map(drop)?,
        }
        Ok(())
    }

    /// One consistent read snapshot until [`Db::rollback`].
    async fn begin_snapshot(&mut self) -> Result<(), CopyError> {
        match self {
            // A deferred read transaction: its first read fixes the WAL snapshot.
            Db::Sqlite(_) => self.raw("BEGIN").await,
            Db::Pg(_) => {
                self.raw("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await
            }
        }
    }

    async fn begin_write(&mut self) -> Result<(), CopyError> {
        match self {
            Db::Sqlite(_) => self.raw("BEGIN IMMEDIATE").await,
            Db::Pg(_) => self.raw("BEGIN").await,
        }
    }

    async fn commit(&mut self) -> Result<(), CopyError> {
        self.raw("COMMIT").await
    }

    async fn rollback(&mut self) {
        let _ = self.raw("ROLLBACK").await;
    }

    /// Names of the base tables (SQLite internals left out).
    async fn tables(&mut self) -> Result<Vec<String>, CopyError> {
        Ok(match self {
            Db::Sqlite(c) => {
                sqlx::query_scalar::<_, String>(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                )
                .fetch_all(c)
                .await?
            }
            Db::Pg(c) => {
                sqlx::query_scalar::<_, String>(
                    "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                 ORDER BY table_name",
                )
                .fetch_all(c)
                .await?
            }
        })
    }

    /// `(table, rows)` of the known data tables that hold rows (missing tables are empty).
    async fn non_empty_tables(&mut self) -> Result<Vec<(String, u64)>, CopyError> {
        let present = self.tables().await?;
        let mut found = Vec::new();
        for t in TABLES {
            if present.iter().any(|p| p == t) {
                let (n, _) = self.count(t, false).await?;
                if n > 0 {
                    found.push((t.to_string(), n));
                }
            }
        }
        Ok(found)
    }

    /// Row count and highest integer id of a table.
    async fn figures(&mut self, table: &str) -> Result<(u64, Option<i64>), CopyError> {
        let cols = self.columns(table).await?;
        let has_id = cols.iter().any(|c| c.name == "id" && c.ty == ColType::I64);
        self.count(table, has_id).await
    }

    async fn count(&mut self, table: &str, max_id: bool) -> Result<(u64, Option<i64>), CopyError> {
        let sql = format!(
            "SELECT COUNT(*) AS n, {} AS m FROM {}",
            if max_id {
                "MAX(id)"
            } else {
                "CAST(NULL AS BIGINT)"
            },
            quote(table)
        );
        let (n, m): (i64, Option<i64>) = match self {
            Db::Sqlite(c) => sqlx::query_as(AssertSqlSafe(sql)).fetch_one(c).await?,
            Db::Pg(c) => sqlx::query_as(AssertSqlSafe(sql)).fetch_one(c).await?,
        };
        Ok((n as u64, m))
    }

    /// The columns of a table in definition order, with their storage types.
    async fn columns(&mut self, table: &str) -> Result<Vec<Column>, CopyError> {
        let raw: Vec<(String, String)> = match self {
            Db::Sqlite(c) => {
                sqlx::query_as("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
                    .bind(table)
                    .fetch_all(c)
                    .await?
            }
            Db::Pg(c) => {
                sqlx::query_as(
                    "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 \
                 ORDER BY ordinal_position",
                )
                .bind(table)
                .fetch_all(c)
                .await?
            }
        };
        let sqlite = matches!(self, Db::Sqlite(_));
        raw.into_iter()
            .map(|(name, ty)| {
                let t = ty.to_ascii_uppercase();
                let ty = if sqlite {
                    // SQLite's affinity rules for the declared type.
                    if t.contains("INT") {
                        Some(ColType::I64)
                    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
                        Some(ColType::Text)
                    } else if t.contains("BLOB") {
                        Some(ColType::Bytes)
                    } else {
                        None
                    }
                } else {
                    match t.as_str() {
                        "BIGINT" => Some(ColType::I64),
                        "INTEGER" => Some(ColType::I32),
                        "BOOLEAN" => Some(ColType::Bool),
                        "TEXT" | "CHARACTER VARYING" => Some(ColType::Text),
                        "BYTEA" => Some(ColType::Bytes),
                        _ => None,
                    }
                };
                ty.map(|ty| Column {
                    name: name.clone(),
                    ty,
                })
                .ok_or_else(|| failed(format!("{table}.{name}: unsupported column type {t}")))
            })
            .collect()
    }

    /// The primary key columns, in key order.
    async fn primary_key(&mut self, table: &str) -> Result<Vec<String>, CopyError> {
        Ok(match self {
            Db::Sqlite(c) => {
                sqlx::query_scalar(
                    "SELECT name FROM pragma_table_info($1) WHERE pk > 0 ORDER BY pk",
                )
                .bind(table)
                .fetch_all(c)
                .await?
            }
            Db::Pg(c) => {
                sqlx::query_scalar(
                    "SELECT k.column_name::text FROM information_schema.table_constraints t \
                 JOIN information_schema.key_column_usage k \
                   ON k.constraint_name = t.constraint_name \
                  AND k.table_schema = t.table_schema AND k.table_name = t.table_name \
                 WHERE t.constraint_type = 'PRIMARY KEY' \
                   AND t.table_schema = current_schema() AND t.table_name = $1 \
                 ORDER BY k.ordinal_position",
                )
                .bind(table)
                .fetch_all(c)
                .await?
            }
        })
    }

    /// Does the table have an identity column (PostgreSQL; inserts then override it)?
    async fn has_identity(&mut self, table: &str) -> Result<bool, CopyError> {
        Ok(match self {
            Db::Sqlite(_) => false,
            Db::Pg(c) => {
                sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 \
                   AND is_identity = 'YES')",
                )
                .bind(table)
                .fetch_one(c)
                .await?
            }
        })
    }

    /// The highest id the table's `id` generator ever handed out (it may be above the
    /// highest remaining row): SQLite `sqlite_sequence`, PostgreSQL the column's sequence.
    async fn high_water(&mut self, table: &str, cols: &[Column]) -> Result<Option<i64>, CopyError> {
        if !cols.iter().any(|c| c.name == "id" && c.ty == ColType::I64) {
            return Ok(None);
        }
        Ok(match self {
            Db::Sqlite(c) => {
                let has_seq: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence')",
                )
                .fetch_one(&mut *c)
                .await?;
                if !has_seq {
                    return Ok(None);
                }
                sqlx::query_scalar::<_, i64>("SELECT seq FROM sqlite_sequence WHERE name = $1")
                    .bind(table)
                    .fetch_optional(c)
                    .await?
            }
            Db::Pg(c) => {
                sqlx::query_scalar::<_, Option<i64>>(
                    "SELECT CASE WHEN s IS NULL THEN NULL \
                 ELSE pg_sequence_last_value(s::regclass) END \
                 FROM (SELECT pg_get_serial_sequence(quote_ident($1), 'id') AS s) q",
                )
                .bind(table)
                .fetch_one(c)
                .await?
            }
        })
    }

    /// Make the table's `id` generator hand out ids above `seq`.
    async fn raise_sequence(&mut self, table: &str, seq: i64) -> Result<(), CopyError> {
        match self {
            Db::Sqlite(c) => {
                let auto: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' \
                     AND name = $1 AND upper(sql) LIKE '%AUTOINCREMENT%')",
                )
                .bind(table)
                .fetch_one(&mut *c)
                .await?;
                if !auto {
                    return Ok(());
                }
                let updated =
                    sqlx::query("UPDATE sqlite_sequence SET seq = MAX(seq, $2) WHERE name = $1")
                        .bind(table)
                        .bind(seq)
                        .execute(&mut *c)
                        .await?
                        .rows_affected();
                if updated == 0 {
                    sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES ($1, $2)")
                        .bind(table)
                        .bind(seq)
                        .execute(c)
                        .await?;
                }
            }
            Db::Pg(c) => {
                sqlx::query(
                    "SELECT setval(s::regclass, $2, true) \
                     FROM (SELECT pg_get_serial_sequence(quote_ident($1), 'id') AS s) q \
                     WHERE s IS NOT NULL",
                )
                .bind(table)
                .bind(seq)
                .fetch_optional(c)
                .await?;
            }
        }
        Ok(())
    }

    /// PostgreSQL: every identity/serial column's sequence past the highest copied value
    /// (SQLite's AUTOINCREMENT follows inserted ids by itself).
    async fn sequences_past_ids(&mut self, table: &str, cols: &[Column]) -> Result<(), CopyError> {
        let Db::Pg(c) = self else {
            return Ok(());
        };
        for col in cols
            .iter()
            .filter(|c| matches!(c.ty, ColType::I64 | ColType::I32))
        {
            let seq: Option<String> =
                sqlx::query_scalar("SELECT pg_get_serial_sequence(quote_ident($1), $2)")
                    .bind(table)
                    .bind(&col.name)
                    .fetch_one(&mut *c)
                    .await?;
            let Some(seq) = seq else { continue };
            let sql = format!(
                "SELECT setval($1::regclass, GREATEST(MAX({col}), \
                     (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {seq}))) \
                 FROM {tbl} HAVING MAX({col}) IS NOT NULL",
                col = quote(&col.name),
                tbl = quote(table),
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(&seq)
                .fetch_optional(&mut *c)
                .await?;
        }
        Ok(())
    }

    /// Stream `select`'s rows as values (columns typed by `cols`).
    fn stream<'a>(&'a mut self, select: String, cols: &'a [Column]) -> RowStream<'a> {
        match self {
            Db::Sqlite(c) => Box::pin(
                sqlx::query(AssertSqlSafe(select))
                    .fetch(c)
                    .map_err(CopyError::from)
                    .and_then(move |row| std::future::ready(sqlite_values(&row, cols))),
            ),
            Db::Pg(c) => Box::pin(
                sqlx::query(AssertSqlSafe(select))
                    .fetch(c)
                    .map_err(CopyError::from)
                    .and_then(move |row| std::future::ready(pg_values(&row, cols))),
            ),
        }
    }

    /// Run one INSERT with its values bound in order; returns the rows inserted.
    async fn insert(&mut self, sql: String, values: Vec<Bound>) -> Result<u64, CopyError> {
        Ok(match self {
            Db::Sqlite(c) => {
                let mut q = sqlx::query::<Sqlite>(AssertSqlSafe(sql)).persistent(false);
                for v in values {
                    q = match v {
                        Bound::I64(v) => q.bind(v),
                        Bound::I32(v) => q.bind(v.map(i64::from)),
                        Bound::Bool(v) => q.bind(v.map(i64::from)),
                        Bound::Text(v) => q.bind(v),
                        Bound::Bytes(v) => q.bind(v),
                    };
                }
                q.execute(c).await?.rows_affected()
            }
            Db::Pg(c) => {
                let mut q = sqlx::query::<Postgres>(AssertSqlSafe(sql)).persistent(false);
                for v in values {
                    q = match v {
                        Bound::I64(v) => q.bind(v),
                        Bound::I32(v) => q.bind(v),
                        Bound::Bool(v) => q.bind(v),
                        Bound::Text(v) => q.bind(v),
                        Bound::Bytes(v) => q.bind(v),
                    };
                }
                q.execute(c).await?.rows_affected()
            }
        })
    }
}

/// A SQLite row's values by each value's own storage class (SQLite is dynamically typed).
fn sqlite_values(row: &SqliteRow, cols: &[Column]) -> Result<Vec<Val>, CopyError> {
    let mut out = Vec::with_capacity(cols.len());
    for (i, col) in cols.iter().enumerate() {
        let raw = row.try_get_raw(i)?;
        let v = if raw.is_null() {
            Val::Null
        } else {
            let class = raw.type_info().name().to_string();
            match class.as_str() {
                "INTEGER" => Val::Int(row.try_get_unchecked::<i64, _>(i)?),
                "TEXT" => Val::Text(row.try_get_unchecked::<String, _>(i)?),
                "BLOB" => Val::Bytes(row.try_get_unchecked::<Vec<u8>, _>(i)?),
                other => {
                    return Err(failed(format!(
                        "{}: a {other} value cannot be copied",
                        col.name
                    )));
                }
            }
        };
        out.push(v);
    }
    Ok(out)
}

/// A PostgreSQL row's values by the column types.
fn pg_values(row: &sqlx::postgres::PgRow, cols: &[Column]) -> Result<Vec<Val>, CopyError> {
    let mut out = Vec::with_capacity(cols.len());
    for (i, col) in cols.iter().enumerate() {
        let v = match col.ty {
            ColType::I64 => row.try_get::<Option<i64>, _>(i)?.map(Val::Int),
            ColType::I32 => row
                .try_get::<Option<i32>, _>(i)?
                .map(|v| Val::Int(i64::from(v))),
            ColType::Bool => row.try_get::<Option<bool>, _>(i)?.map(Val::Bool),
            ColType::Text => row.try_get::<Option<String>, _>(i)?.map(Val::Text),
            ColType::Bytes => row.try_get::<Option<Vec<u8>>, _>(i)?.map(Val::Bytes),
        };
        out.push(v.unwrap_or(Val::Null));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_between_the_backends_types() {
        assert_eq!(
            convert(Val::Int(1), ColType::Bool),
            Ok(Bound::Bool(Some(true)))
        );
        assert_eq!(
            convert(Val::Int(0), ColType::Bool),
            Ok(Bound::Bool(Some(false)))
        );
        assert!(convert(Val::Int(2), ColType::Bool).is_err());
        assert_eq!(
            convert(Val::Bool(true), ColType::I64),
            Ok(Bound::I64(Some(1)))
        );
        assert_eq!(convert(Val::Int(7), ColType::I32), Ok(Bound::I32(Some(7))));
        assert!(convert(Val::Int(i64::MAX), ColType::I32).is_err());
        assert_eq!(convert(Val::Null, ColType::Bytes), Ok(Bound::Bytes(None)));
        assert!(convert(Val::Text("1".into()), ColType::I64).is_err());
        assert!(convert(Val::Bytes(vec![1]), ColType::Text).is_err());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote("key"), "\"key\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            redact_url("sqlite:///var/lib/a.db"),
            "sqlite:///var/lib/a.db"
        );
    }
}
