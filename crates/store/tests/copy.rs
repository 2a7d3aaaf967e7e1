//! `aduan_store::copy::migrate_store` across batch boundaries and deleted ids, both ways:
//! SQLite → PostgreSQL → SQLite. Tables of more rows than one INSERT batch arrive whole, and
//! the id generators of the copies continue past the source's high-water mark (ids of rows
//! deleted at the end are not handed out again).

use aduan_core::model::NewUser;
use aduan_core::types::{Role, Username};
use aduan_store::copy::{BATCH_ROWS, CopyError, migrate_store};
use aduan_store::testing::{self, connect};
use chrono::Utc;
use sqlx::Connection;

fn user(i: usize) -> NewUser {
    NewUser {
        username: Username::parse(&format!("staf{i}")).unwrap(),
        role: Role::Staf,
        bidang: None,
        display_name: Some(format!("Staf {i}")),
        token_hash: format!("tok-{i}"),
        password_hash: None,
        created_at: Utc::now(),
    }
}

fn users_row(r: &aduan_store::copy::CopyReport) -> &aduan_store::copy::TableReport {
    r.tables.iter().find(|t| t.table == "users").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_rows_and_deleted_ids_survive_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    let src = testing::fresh_sqlite_url(dir.path());
    let s = connect(&src).await.unwrap();
    s.migrate().await.unwrap();
    let n = 2 * BATCH_ROWS + 234;
    for i in 1..=n {
        s.create_user(user(i)).await.unwrap();
    }
    s.disable_user(&Username::parse("staf7").unwrap())
        .await
        .unwrap();
    drop(s);
    // The last ten accounts deleted: the highest id left is below the generator's mark.
    {
        let mut c = sqlx::SqliteConnection::connect(&src).await.unwrap();
        sqlx::query("DELETE FROM users WHERE id > $1")
            .bind((n - 10) as i64)
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    }

    let pg = testing::fresh_postgres_url().await;
    let quiet = |_: &str| {};
    let r = migrate_store(&src, &pg, testing::vault(), &quiet)
        .await
        .unwrap();
    assert!(r.matches(), "{}", r.render());
    let u = users_row(&r);
    assert_eq!(
        (u.source_rows, u.target_rows),
        ((n - 10) as u64, (n - 10) as u64)
    );
    assert_eq!(u.target_max_id, Some((n - 10) as i64));
    let t = connect(&pg).await.unwrap();
    t.migrate().await.unwrap();
    let disabled = t
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.disabled)
        .map(|u| u.username.as_str().to_string())
        .collect::<Vec<_>>();
    assert_eq!(disabled, ["staf7"], "the boolean arrived as a boolean");
    let id = t.create_user(user(n + 1)).await.unwrap();
    assert_eq!(id, (n + 1) as i64, "past the deleted ids");
    drop(t);

    // A second copy into the same target is refused before anything is written.
    match migrate_store(&src, &pg, testing::vault(), &quiet).await {
        Err(CopyError::TargetNotEmpty(found)) => {
            assert!(
                found.contains(&("users".to_string(), (n - 9) as u64)),
                "{found:?}"
            )
        }
        other => panic!("expected TargetNotEmpty, got {other:?}"),
    }

    // And back into a new SQLite file, the newest account deleted first: the PostgreSQL
    // sequence's mark carries over.
    {
        let mut c = sqlx::PgConnection::connect(&pg).await.unwrap();
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    }
    let back = testing::fresh_sqlite_url(dir.path());
    let r = migrate_store(&pg, &back, testing::vault(), &quiet)
        .await
        .unwrap();
    assert!(r.matches(), "{}", r.render());
    assert_eq!(users_row(&r).target_rows, (n - 10) as u64);
    let b = connect(&back).await.unwrap();
    b.migrate().await.unwrap();
    let id = b.create_user(user(n + 2)).await.unwrap();
    assert_eq!(id, (n + 2) as i64);
    testing::drop_postgres_database(&pg).await;
}
