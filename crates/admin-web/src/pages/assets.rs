//! The embedded stylesheet and script under `/admin/static/`, and the 404 page for any
//! other path under `/admin/`.
//!
//! None of these needs a session (the login page uses the stylesheet and script too) and
//! none carries office data; `no-store` and the security headers come from the router's
//! layers, as on every `/admin` answer.

use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::not_found_page;
use crate::render;

/// `GET /admin/static/admin.css`.
pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        render::STYLESHEET,
    )
        .into_response()
}

/// `GET /admin/static/admin.js`.
pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        render::SCRIPT,
    )
        .into_response()
}

/// Any other path under `/admin/`.
pub async fn not_found() -> Response {
    not_found_page()
}
