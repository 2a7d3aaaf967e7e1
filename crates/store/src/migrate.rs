//! A tiny migration runner.
//!
//! Migrations are SQL files under `migrations/{sqlite,postgres}/NNNN_name.sql` at the
//! workspace root, embedded at compile time. Each pending migration runs in its own
//! transaction together with its `schema_migrations` row, so a failed migration leaves no
//! trace. The transaction first takes the backend's migration lock
//! ([`Backend::lock_migrations`]: `pg_advisory_xact_lock` on PostgreSQL; on SQLite the
//! `BEGIN IMMEDIATE` write lock already serializes), so replicas that start together apply
//! each migration exactly once.
//!
//! To add a migration, write both SQL files and add one line to the `migrations!` list below.
//!
//! Versions must grow along the list but need not be contiguous: each one is applied when
//! `schema_migrations` does not record it, whatever else is recorded. So a version that joins
//! the list later below an applied one (0003 landing after 0004 ran) is still applied, once,
//! on the next start; migrations numbered apart like that must not depend on each other.

use chrono::Utc;

use aduan_core::store::StoreError;

use crate::backend::{Backend, args};

/// One embedded schema migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Monotonic version, the primary key of `schema_migrations`.
    pub version: i64,
    /// File stem, for logs.
    pub name: &'static str,
    /// The SQL script.
    pub sql: &'static str,
}

macro_rules! migrations {
    ($($version:literal => $name:literal),* $(,)?) => {
        /// SQLite migrations, in order.
        pub(crate) const SQLITE: &[Migration] = &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../../migrations/sqlite/", $name, ".sql")),
        }),*];
        /// PostgreSQL migrations, in order.
        pub(crate) const POSTGRES: &[Migration] = &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../../migrations/postgres/", $name, ".sql")),
        }),*];
    };
}

migrations! {
    1 => "0001_init",
    2 => "0002_channels_escalation_reports",
    3 => "0003_privacy",
    4 => "0004_attachment_shares",
    5 => "0005_audit",
    6 => "0006_questions_ratings",
    7 => "0007_media_jobs",
    8 => "0008_admin_sessions",
    9 => "0009_outbox_reply_key",
    10 => "0010_report_conclusion",
    11 => "0011_deferrable_complaint_keys",
    12 => "0012_complaint_analysis",
    13 => "0013_month_figures_index",
}

const CREATE_SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
     version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";
const IS_APPLIED: &str = "SELECT version FROM schema_migrations WHERE version = $1";
const RECORD: &str = "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)";

/// Apply every pending migration of `B`; a no-op when the schema is current.
pub(crate) async fn run<B: Backend>(b: &B) -> Result<(), StoreError> {
    run_list(b, B::MIGRATIONS).await
}

/// Apply every migration of `list` that is not recorded yet, in list order.
pub(crate) async fn run_list<B: Backend>(b: &B, list: &[Migration]) -> Result<(), StoreError> {
    for m in list {
        let mut h = b.writer().await?;
        let mut tx = B::begin_write(&mut h).await?;
        B::lock_migrations(&mut tx).await?;
        B::execute(&mut tx, CREATE_SCHEMA_MIGRATIONS, args![]).await?;
        let applied = B::fetch_optional(&mut tx, IS_APPLIED, args![m.version])
            .await?
            .is_some();
        if applied {
            tx.rollback().await.map_err(crate::backend::db_err)?;
            continue;
        }
        B::run_script(&mut tx, m.sql).await?;
        B::execute(&mut tx, RECORD, args![m.version, Utc::now()]).await?;
        tx.commit().await.map_err(crate::backend::db_err)?;
        tracing::info!(
            backend = B::NAME,
            version = m.version,
            name = m.name,
            "applied migration"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_have_the_same_versions_in_order() {
        let v = |ms: &[Migration]| ms.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(v(SQLITE), v(POSTGRES));
        assert!(SQLITE.windows(2).all(|w| w[0].version < w[1].version));
        assert!(SQLITE.iter().all(|m| !m.sql.trim().is_empty()));
        assert!(
            SQLITE
                .iter()
                .all(|m| m.name.starts_with(&format!("{:04}_", m.version))),
            "file names start with their version"
        );
    }
}
