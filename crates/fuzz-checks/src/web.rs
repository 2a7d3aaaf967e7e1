//! The public web channel: the complaint form (urlencoded and multipart), the JSON intake
//! and the citizen's message and rating posts, through the real router over a real desk on
//! a fresh SQLite database (there is no pure parsing function to call: the handlers read the
//! body, check the fields, store, and render the page).
//!
//! Input: the first line is the request path (`/pengaduan`, `/api/v1/complaints`, …), the
//! second the `Content-Type` header, the rest the body.

use std::sync::{Arc, LazyLock};

use aduan_channel_web::WebConfig;
use aduan_core::desk::{Desk, SystemClock};
use aduan_core::types::Channel;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, header};
use tower::ServiceExt;

struct Harness {
    rt: tokio::runtime::Runtime,
    router: Router,
    _dir: tempfile::TempDir,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temporary folder");
    let router = rt.block_on(async {
        let (desk, _store): (Desk, _) = aduan_store::testing::fault_desk(
            dir.path(),
            Arc::new(SystemClock),
            aduan_core::testing::desk_config([Channel::Email]),
        )
        .await;
        let cfg = WebConfig {
            max_attachment_bytes: 4096,
            max_attachments: 2,
            rate_limit: None,
            ..WebConfig::default()
        };
        aduan_channel_web::router(desk, cfg)
    });
    Harness {
        rt,
        router,
        _dir: dir,
    }
});

/// One request to the web channel.
pub fn form(data: &[u8]) {
    let mut lines = data.splitn(3, |b| *b == b'\n');
    let (Some(path), Some(ct)) = (lines.next(), lines.next()) else {
        return;
    };
    let body = lines.next().unwrap_or_default().to_vec();
    let path = String::from_utf8_lossy(path);
    let path = path.trim_end_matches('\r');
    let ct = ct.strip_suffix(b"\r").unwrap_or(ct);
    let Ok(req) = Request::post(path)
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(body))
    else {
        return; // not a request line axum could receive
    };
    let h = &*HARNESS;
    let (status, is_html, html) = h.rt.block_on(async {
        let resp = h
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("infallible router");
        let status = resp.status();
        let html = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
        let body = to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("response body");
        (status, html, body)
    });
    assert!(
        !status.is_server_error(),
        "{status} for {path} ({})",
        String::from_utf8_lossy(&html)
    );
    // A page never carries a script: what the citizen typed comes back escaped. (JSON
    // answers may quote input; they are not HTML and are sent with `nosniff`.)
    if is_html {
        let lower = String::from_utf8_lossy(&html).to_ascii_lowercase();
        assert!(!lower.contains("<script"), "unescaped input in the page");
    }
}
