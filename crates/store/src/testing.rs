//! Helpers for tests that need a real database (this crate's conformance suite and other
//! crates' integration tests), behind the `testing` feature: fresh SQLite and PostgreSQL
//! databases, [`FaultStore`], [`fault_desk`] (a ready desk over a fresh SQLite store) and
//! [`apply_migrations`] (the runner over a chosen list).
//!
//! PostgreSQL is mandatory for the test suite: [`fresh_postgres_url`] panics when the server
//! cannot be reached instead of skipping, so a missing database never looks like a pass.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aduan_core::desk::{Clock, Desk, DeskConfig};

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// Environment variable naming the PostgreSQL server used by tests.
pub const POSTGRES_URL_ENV: &str = "ADUAN_TEST_POSTGRES_URL";
/// Server used when [`POSTGRES_URL_ENV`] is unset.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

const TEST_DB_PREFIX: &str = "aduan_test_";

fn server_url() -> String {
    std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string())
}

async fn admin_connection(server: &str) -> PgConnection {
    let shown = redact(server);
    let hint = format!("start it or set {POSTGRES_URL_ENV}");
    match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(server)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            panic!("PostgreSQL at {shown} is required for the test suite: {e} ({hint})")
        }
        Err(_) => panic!(
            "PostgreSQL at {shown} is required for the test suite: connection timed out ({hint})"
        ),
    }
}

/// Create an empty database `aduan_test_<random hex>` on the test server and return its URL.
///
/// # Panics
/// When the server at `ADUAN_TEST_POSTGRES_URL` (default [`DEFAULT_POSTGRES_URL`]) cannot be
/// reached or refuses `CREATE DATABASE`.
pub async fn fresh_postgres_url() -> String {
    let server = server_url();
    let mut conn = admin_connection(&server).await;
    let name = format!("{TEST_DB_PREFIX}{}", uuid::Uuid::new_v4().simple());
    if let Err(e) = conn
        .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
    {
        panic!(
            "PostgreSQL at {} is required for the test suite: CREATE DATABASE failed: {e}",
            redact(&server)
        );
    }
    let _ = conn.close().await;
    with_database(&server, &name)
}

/// Drop a database made by [`fresh_postgres_url`] (terminating its connections). Failures
/// are reported on stderr only; URLs not naming an `aduan_test_` database are ignored.
pub async fn drop_postgres_database(url: &str) {
    let Some(name) = database_name(url).filter(|n| {
        n.starts_with(TEST_DB_PREFIX) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }) else {
        return;
    };
    let server = server_url();
    let mut conn = admin_connection(&server).await;
    if let Err(e) = conn
        .execute(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await
    {
        eprintln!("could not drop test database {name}: {e}");
    }
    let _ = conn.close().await;
}

/// A `sqlite://` URL for a new database file inside `dir` (the file is created on open).
pub fn fresh_sqlite_url(dir: &Path) -> String {
    let file = dir.join(format!("aduan-{}.db", uuid::Uuid::new_v4().simple()));
    let mut url = String::from("sqlite://");
    for c in file.to_string_lossy().chars() {
        // sqlx percent-decodes the path; escape what would end or break it.
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            ' ' => url.push_str("%20"),
            c => url.push(c),
        }
    }
    url
}

/// `url` with its database path replaced by `/name` (query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn database_name(url: &str) -> Option<&str> {
    let base = url.split('?').next()?;
    let rest = &base[base.find("://")? + 3..];
    let name = &rest[rest.find('/')? + 1..];
    (!name.is_empty()).then_some(name)
}

/// `url` with any password replaced by `***`, for messages.
fn redact(url: &str) -> String {
    crate::copy::redact_url(url)
}

pub use crate::fault::FaultStore;

/// One vault for the whole test process (a random key), so a test that reopens a database
/// reads what it wrote.
pub fn vault() -> crate::Vault {
    static VAULT: std::sync::LazyLock<crate::Vault> =
        std::sync::LazyLock::new(crate::Vault::ephemeral);
    VAULT.clone()
}

/// [`crate::connect`] with the test process's [`vault`].
pub async fn connect(
    url: &str,
) -> Result<Arc<dyn aduan_core::store::Store>, aduan_core::store::StoreError> {
    crate::connect(url, vault()).await
}

/// The shipped migrations of the backend `url` names (`sqlite:…` or `postgres://…`).
pub fn shipped_migrations(url: &str) -> &'static [crate::Migration] {
    if url.starts_with("sqlite:") {
        crate::migrate::SQLITE
    } else {
        crate::migrate::POSTGRES
    }
}

/// Apply exactly the migrations of `list` to the database at `url` with the store's own
/// runner (instead of the shipped list): tests of the runner and of data migrations.
pub async fn apply_migrations(
    url: &str,
    list: &[crate::Migration],
) -> Result<(), aduan_core::store::StoreError> {
    if url.starts_with("sqlite:") {
        let s = crate::SqliteStore::open(url, vault()).await?;
        crate::migrate::run_list(&s.db, list).await
    } else {
        let s = crate::PostgresStore::connect(url, vault()).await?;
        crate::migrate::run_list(&s.db, list).await
    }
}

/// A desk over a fresh, migrated SQLite database in `dir`, wrapped in a [`FaultStore`] so the
/// test can make the database fail; `cfg` is usually `aduan_core::testing::desk_config(…)`.
pub async fn fault_desk(
    dir: &Path,
    clock: Arc<dyn Clock>,
    cfg: DeskConfig,
) -> (Desk, Arc<FaultStore>) {
    let inner = connect(&fresh_sqlite_url(dir))
        .await
        .expect("open the test database");
    inner.migrate().await.expect("migrate the test database");
    let store = Arc::new(FaultStore::new(inner));
    (Desk::new(store.clone(), clock, cfg), store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_rewritten() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
        assert_eq!(
            database_name("postgres://h/aduan_test_1?a=b"),
            Some("aduan_test_1")
        );
        assert_eq!(database_name("postgres://h"), None);
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn sqlite_urls_escape_special_characters() {
        let url = fresh_sqlite_url(Path::new("/tmp/a b?"));
        assert!(url.starts_with("sqlite:///tmp/a%20b%3F/aduan-"), "{url}");
    }
}
