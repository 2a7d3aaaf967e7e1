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

on_both_backends!(
    meta_webhook_is_served_when_enabled,
    disabled_channels_serve_nothing
);
