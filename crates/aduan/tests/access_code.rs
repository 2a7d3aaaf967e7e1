//! Access codes are never stored or shown in clear once the acknowledgement left (SPEC §6),
//! against the whole daemon on SQLite and PostgreSQL: the citizen's mail carries the code;
//! afterwards neither the outbox row nor the conversation (read with plain SQL, as a dump
//! shows them) nor any staff view holds it, also when the acknowledgement finally failed;
//! the status endpoint still accepts it.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aduan_core::outbox::{RenderedReply, ReplySender, SendError};
use aduan_core::types::{Channel, Role};
use async_trait::async_trait;
use common::{Backend, Options, TestApp, spawn};
use serde_json::json;
use sqlx::{Connection, Row};

/// Records what it sends; refuses (permanently) mail to `refuse`.
struct Mailer {
    sent: Mutex<Vec<(String, String)>>,
    refuse: &'static str,
}

#[async_trait]
impl ReplySender for Mailer {
    async fn send(&self, reply: &RenderedReply) -> Result<Option<String>, SendError> {
        if reply.item.recipient == self.refuse {
            return Err(SendError::Permanent("550 5.1.1 no such user".into()));
        }
        self.sent
            .lock()
            .unwrap()
            .push((reply.item.recipient.clone(), reply.text.clone()));
        Ok(Some(format!("ack-{}@aduan.example", reply.item.id)))
    }
}

/// Every value of one TEXT column, read with a plain connection.
/// The values of the sealed column `table_col` (`outbox.vars`) that `sql` selects, opened
/// with the daemon's own key ring (each one checked to be sealed in the database).
async fn column(app: &TestApp, table_col: &str, sql: &str) -> Vec<String> {
    let (ring, _) =
        aduan_store::KeyRing::load_or_create(&app.dir.path().join("identity.key")).unwrap();
    let vault = aduan_store::Vault::new(&ring);
    raw_column(app, sql)
        .await
        .into_iter()
        .map(|v| {
            assert!(v.starts_with("enc1:"), "{table_col} not sealed: {v}");
            vault.open(table_col, &v).unwrap()
        })
        .collect()
}

async fn raw_column(app: &TestApp, sql: &str) -> Vec<String> {
    if app.db_url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(&app.db_url).await.unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut c)
            .await
            .unwrap();
        rows.iter().map(|r| r.get::<String, _>(0)).collect()
    } else {
        let mut c = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut c)
            .await
            .unwrap();
        rows.iter().map(|r| r.get::<String, _>(0)).collect()
    }
}

fn assert_no_code(what: &str, text: &str, code: &str) {
    assert!(
        !text.to_uppercase().contains(&code.to_uppercase()),
        "{what} holds the access code {code}:\n{text}"
    );
}

async fn the_code_leaves_with_the_acknowledgement_and_is_kept_nowhere(b: Backend) {
    let mailer = Arc::new(Mailer {
        sent: Mutex::new(Vec::new()),
        refuse: "tidak.ada@contoh.id",
    });
    let mut o = Options::new(b);
    o.senders = HashMap::from([(Channel::Email, mailer.clone() as Arc<dyn ReplySender>)]);
    o.no_outbox_worker = true;
    let app = spawn(o).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let staf = app.user("staf1", Role::Staf, None).await;
    let kabid = app.user("kabid1", Role::Kabid, None).await;
    let dafduk = app.user("dafduk1", Role::Bidang, Some("dafduk")).await;

    let (ticket, code) = app
        .submit(json!({"name": "Komang Ayu", "email": "komang@contoh.id",
                       "body": "KTP-el saya belum jadi."}))
        .await;
    let (failed_ticket, failed_code) = app
        .submit(json!({"email": "tidak.ada@contoh.id", "body": "KK saya hilang."}))
        .await;
    // Before it leaves, the code waits in the outbox row to be rendered.
    let vars = column(
        &app,
        "outbox.vars",
        "SELECT vars FROM outbox WHERE status = 'pending'",
    )
    .await;
    assert!(vars.iter().any(|v| v.contains(&code)), "{vars:?}");

    let run = app.outbox.run_once().await.unwrap();
    assert_eq!((run.sent, run.failed), (1, 1), "{run:?}");
    // The citizen got the code (and the status link with it).
    let sent = mailer.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "komang@contoh.id");
    assert!(
        sent[0].1.contains(&format!("Kode akses Anda: {code}")),
        "{}",
        sent[0].1
    );
    assert!(sent[0].1.contains(&format!("status?code={code}")));

    // Afterwards: not in the outbox, not in the conversation …
    for (col, sql) in [
        ("outbox.vars", "SELECT vars FROM outbox"),
        ("messages.text", "SELECT text FROM messages"),
    ] {
        for v in column(&app, col, sql).await {
            assert_no_code(sql, &v, &code);
            assert_no_code(sql, &v, &failed_code);
        }
    }
    let out = column(
        &app,
        "messages.text",
        "SELECT text FROM messages WHERE direction = 'out'",
    )
    .await;
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].contains("Kode akses Anda: ••••••"), "{}", out[0]);
    assert!(
        out[0].contains(&ticket),
        "the copy is otherwise the text sent"
    );

    // … in no staff view of any role …
    app.act(&kasi, &ticket, "assign", json!({"bidang": "dafduk"}))
        .await;
    for (who, token) in [
        ("kasi", &kasi),
        ("staf", &staf),
        ("kabid", &kabid),
        ("bidang", &dafduk),
    ] {
        let (st, v) = app
            .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(token))
            .await;
        assert_eq!(st, 200, "{who}: {v}");
        assert_no_code(who, &v.to_string(), &code);
        let (_, q) = app.get_json("/api/v1/admin/queue", Some(token)).await;
        assert_no_code(who, &q.to_string(), &code);
    }
    let (_, v) = app
        .get_json(
            &format!("/api/v1/admin/complaints/{failed_ticket}"),
            Some(&kasi),
        )
        .await;
    assert_eq!(v["replies"][0]["status"], "failed", "{v}");
    assert_no_code("failed detail", &v.to_string(), &failed_code);

    // … and still the key to the status endpoint.
    for (t, c) in [(&ticket, &code), (&failed_ticket, &failed_code)] {
        let (st, v) = app
            .get_json(&format!("/api/v1/complaints/{t}/status?code={c}"), None)
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["ticket"], t.as_str());
    }
    let (st, _) = app
        .get_json(
            &format!("/api/v1/complaints/{ticket}/status?code=SALAH23456"),
            None,
        )
        .await;
    assert_eq!(st, 404);
}

on_both_backends!(the_code_leaves_with_the_acknowledgement_and_is_kept_nowhere);
