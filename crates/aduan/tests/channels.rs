//! The daemon wires each enabled channel: its routes answer on the public server, its reply
//! sender is registered, and disabled channels stay off.

mod common;

use common::{Backend, Options, spawn};

const META: &str = r#"
[channels.meta]
enabled = true
app_secret = "test-app-secret"
verify_token = "verify-me"
graph_api_url = "http://127.0.0.1:9/v25.0"
page_access_token = "page-token"
"#;

async fn meta_webhook_is_served_when_enabled(b: Backend) {
    let mut o = Options::new(b);
    o.extra_config = META.into();
    let app = spawn(o).await;
    let r = app
        .http
        .get(app.url(
            "/webhooks/meta?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=12345",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "12345");
    let r = app
        .http
        .post(app.url("/webhooks/meta"))
        .header("content-type", "application/json")
        .body(r#"{"object":"page","entry":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "unsigned delivery refused");
    assert!(
        app.desk
            .config()
            .reply_channels
            .contains(&aduan_core::types::Channel::Messenger)
    );
    assert!(
        !app.desk
            .config()
            .reply_channels
            .contains(&aduan_core::types::Channel::Whatsapp)
    );
}

async fn disabled_channels_serve_nothing(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let (st, _) = app
        .get_json(
            "/webhooks/meta?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1",
            None,
        )
        .await;
    assert_eq!(st, 404);
    assert!(app.desk.config().reply_channels.is_empty());
}

const TELEGRAM: &str = r#"
[channels.telegram]
enabled = true
token = "123456:TEST"
api_url = "http://127.0.0.1:9"
mode = "webhook"
webhook_secret = "s3cret-token"
"#;

async fn telegram_webhook_is_served_when_enabled(b: Backend) {
    let mut o = Options::new(b);
    o.extra_config = TELEGRAM.into();
    let app = spawn(o).await;
    let update = serde_json::json!({
        "update_id": 1001,
        "message": {"message_id": 7, "date": 1767229200,
            "chat": {"id": 424242, "type": "private", "first_name": "Wayan"},
            "from": {"id": 424242, "is_bot": false, "first_name": "Wayan"},
            "text": "Akta kelahiran anak saya belum selesai"}
    });
    let r = app
        .http
        .post(app.url("/webhooks/telegram"))
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "missing secret");
    let send = || {
        app.http
            .post(app.url("/webhooks/telegram"))
            .header("X-Telegram-Bot-Api-Secret-Token", "s3cret-token")
            .json(&update)
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    assert_eq!(
        send().await.unwrap().status(),
        200,
        "redelivery is acknowledged"
    );
    let kasi = app.user("kasi1", aduan_core::types::Role::Kasi, None).await;
    let (_, q) = app.get_json("/api/v1/admin/queue", Some(&kasi)).await;
    let q = q.as_array().unwrap();
    assert_eq!(q.len(), 1, "one complaint for one message: {q:?}");
    assert_eq!(q[0]["channel"], "telegram");
    let (_, d) = app
        .get_json(
            &format!(
                "/api/v1/admin/complaints/{}",
                q[0]["ticket"].as_str().unwrap()
            ),
            Some(&kasi),
        )
        .await;
    assert_eq!(d["replies"][0]["kind"], "ack");
    assert_eq!(d["replies"][0]["channel"], "telegram");
}

on_both_backends!(
    meta_webhook_is_served_when_enabled,
    disabled_channels_serve_nothing,
    telegram_webhook_is_served_when_enabled,
);

/// The staff pages are served by the daemon with their security headers.
#[tokio::test]
async fn admin_pages_are_served() {
    let app = spawn(Options::new(Backend::Sqlite)).await;
    let r = app.http.get(app.url("/admin/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""));
    let r = app.http.get(app.url("/admin")).send().await.unwrap();
    assert!(
        r.url().path().starts_with("/admin/login") || r.status() == 303 || r.status() == 401,
        "{}",
        r.status()
    );
}
