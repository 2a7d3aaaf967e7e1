//! Admin sessions and single-use login tokens (migration 0008) on SQLite and PostgreSQL,
//! through two independent stores on one database ("two replicas"): a session revoked on one
//! is dead on the other and after reconnecting; a password change revokes every session of
//! its user in the same transaction; a login token is spent exactly once among racing
//! replicas; expired rows are pruned. A fresh database per test; PostgreSQL is required.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use aduan_core::model::NewUser;
use aduan_core::store::Store;
use aduan_core::types::{Role, Username};
use aduan_store::testing::{self, connect};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap()
}

fn name(n: &str) -> Username {
    Username::parse(n).unwrap()
}

struct Db {
    url: String,
    postgres: bool,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    async fn new(postgres: bool) -> Db {
        if postgres {
            Db {
                url: testing::fresh_postgres_url().await,
                postgres,
                _dir: None,
            }
        } else {
            let dir = tempfile::tempdir().unwrap();
            Db {
                url: testing::fresh_sqlite_url(dir.path()),
                postgres,
                _dir: Some(dir),
            }
        }
    }
    async fn store(&self) -> Arc<dyn Store> {
        let s = connect(&self.url).await.unwrap();
        s.migrate().await.unwrap();
        s
    }
    async fn drop(self) {
        if self.postgres {
            testing::drop_postgres_database(&self.url).await;
        }
    }
}

async fn user(s: &dyn Store, n: &str) {
    s.create_user(NewUser {
        username: name(n),
        role: Role::Kasi,
        bidang: None,
        display_name: None,
        token_hash: format!("tok-{n}"),
        password_hash: Some("$argon2id$old".into()),
        created_at: t0(),
    })
    .await
    .unwrap();
}

async fn sessions_are_shared_revocable_and_pruned(postgres: bool) {
    let db = Db::new(postgres).await;
    let a = db.store().await;
    let b = db.store().await;
    user(a.as_ref(), "ayu.kasi").await;
    user(a.as_ref(), "sri.staf").await;
    let at = |m: i64| t0() + Duration::minutes(m);
    let until = at(8 * 60);
    a.create_session("s1", &name("ayu.kasi"), at(0), until)
        .await
        .unwrap();
    a.create_session("s2", &name("ayu.kasi"), at(1), until)
        .await
        .unwrap();
    b.create_session("s3", &name("sri.staf"), at(2), until)
        .await
        .unwrap();
    for id in ["s1", "s2", "s3"] {
        assert!(a.session_live(id, at(3)).await.unwrap(), "{id} on a");
        assert!(b.session_live(id, at(3)).await.unwrap(), "{id} on b");
    }
    assert!(!a.session_live("unknown", at(3)).await.unwrap());
    // Expired sessions are dead.
    assert!(!a.session_live("s1", until).await.unwrap());

    // Logout on a: dead on b too, and once only.
    assert!(a.revoke_session("s1", at(4)).await.unwrap());
    assert!(!b.session_live("s1", at(5)).await.unwrap());
    assert!(!b.revoke_session("s1", at(5)).await.unwrap());
    assert!(b.session_live("s2", at(5)).await.unwrap());

    // A password change on b revokes the user's other sessions, not other users'.
    assert_eq!(
        b.change_password(&name("ayu.kasi"), "$argon2id$new", at(6))
            .await
            .unwrap(),
        Some(1)
    );
    assert!(!a.session_live("s2", at(7)).await.unwrap());
    assert!(a.session_live("s3", at(7)).await.unwrap());
    let u = a.user_by_name(&name("ayu.kasi")).await.unwrap().unwrap();
    assert_eq!(u.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(
        a.change_password(&name("tidak.ada"), "$argon2id$x", at(7))
            .await
            .unwrap(),
        None
    );
    // Logout-all.
    assert_eq!(
        a.revoke_user_sessions(&name("sri.staf"), at(8))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        a.revoke_user_sessions(&name("sri.staf"), at(9))
            .await
            .unwrap(),
        0
    );

    // "After a restart": a new connection sees the same.
    drop(a);
    drop(b);
    let c = db.store().await;
    assert!(!c.session_live("s1", at(10)).await.unwrap());
    assert!(!c.session_live("s3", at(10)).await.unwrap());
    c.create_session("s4", &name("ayu.kasi"), at(10), until)
        .await
        .unwrap();
    assert!(c.session_live("s4", at(11)).await.unwrap());

    // A login past every expiry prunes the old rows.
    let late = until + Duration::minutes(1);
    c.create_session("s5", &name("ayu.kasi"), late, late + Duration::hours(8))
        .await
        .unwrap();
    for id in ["s1", "s2", "s3", "s4"] {
        assert!(!c.revoke_session(id, late).await.unwrap(), "{id} pruned");
    }
    assert!(c.session_live("s5", late).await.unwrap());
    drop(c);
    db.drop().await;
}

async fn login_tokens_are_spent_once(postgres: bool) {
    let db = Db::new(postgres).await;
    let a = db.store().await;
    let b = db.store().await;
    let exp = t0() + Duration::minutes(30);
    assert!(a.consume_login_token("n1", exp, t0()).await.unwrap());
    assert!(!b.consume_login_token("n1", exp, t0()).await.unwrap());
    assert!(!a.consume_login_token("n1", exp, t0()).await.unwrap());
    assert!(b.consume_login_token("n2", exp, t0()).await.unwrap());

    // Racing replicas: exactly one spends a token.
    let stores = [a.clone(), b.clone()];
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = stores[i % 2].clone();
            tokio::spawn(async move { s.consume_login_token("race", exp, t0()).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);

    // Once expired a token is pruned (its form is refused by its signature's time anyway).
    let later = exp + Duration::seconds(1);
    assert!(
        a.consume_login_token("n3", later + Duration::minutes(30), later)
            .await
            .unwrap()
    );
    assert!(
        a.consume_login_token("n1", later + Duration::minutes(30), later)
            .await
            .unwrap(),
        "n1 was pruned with its expiry"
    );
    drop((a, b, stores));
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_sessions_are_shared_revocable_and_pruned() {
    sessions_are_shared_revocable_and_pruned(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_sessions_are_shared_revocable_and_pruned() {
    sessions_are_shared_revocable_and_pruned(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_login_tokens_are_spent_once() {
    login_tokens_are_spent_once(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_login_tokens_are_spent_once() {
    login_tokens_are_spent_once(true).await;
}
