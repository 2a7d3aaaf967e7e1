//! Test support for other crates' tests (feature `testing`): a file download through the real
//! staff API router, as a kasi account created on first use.

use aduan_core::desk::Desk;
use aduan_core::model::NewUser;
use aduan_core::types::{Role, TicketNumber, Username};
use aduan_core::workflow::Actor;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use tower::ServiceExt;

/// API token of the kasi [`staff_download`] uses.
pub const STAFF_TOKEN: &str = "kasi-token-for-media-tests-0123456789";

/// `GET /api/v1/admin/complaints/{ticket}/attachments/{id}` as the kasi, through the real
/// staff API router: status, body and headers.
pub async fn staff_download(
    desk: &Desk,
    ticket: &TicketNumber,
    id: i64,
) -> (StatusCode, Vec<u8>, HeaderMap) {
    let kasi = Username::parse("kasi").unwrap();
    if desk.accounts().by_name(&kasi).await.unwrap().is_none() {
        desk.accounts()
            .create(
                &Actor::System,
                NewUser {
                    username: kasi,
                    role: Role::Kasi,
                    bidang: None,
                    display_name: None,
                    token_hash: aduan_core::secret::hash_secret(STAFF_TOKEN),
                    password_hash: None,
                    created_at: chrono::Utc::now(),
                },
            )
            .await
            .unwrap();
    }
    let req = Request::get(format!(
        "/api/v1/admin/complaints/{ticket}/attachments/{id}"
    ))
    .header("authorization", format!("Bearer {STAFF_TOKEN}"))
    .body(Body::empty())
    .unwrap();
    let resp = crate::router(desk.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, bytes.to_vec(), headers)
}
