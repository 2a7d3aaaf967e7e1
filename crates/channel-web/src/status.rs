//! The citizen's status page `GET /pengaduan/status?ticket=T&code=C`, and the public 404
//! page for unknown addresses under `/pengaduan/`.

use aduan_core::desk::DeskError;
use aduan_core::types::Resolution;
use axum::extract::{Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::Value;
use serde::Deserialize;

use crate::Web;
use crate::render::{self, page};

#[derive(Deserialize)]
pub(crate) struct StatusQuery {
    ticket: Option<String>,
    code: Option<String>,
}

pub(crate) async fn status_page(
    AxState(web): AxState<Web>,
    Query(q): Query<StatusQuery>,
) -> Response {
    let ticket = q.ticket.unwrap_or_default().trim().to_ascii_uppercase();
    let code = q.code.unwrap_or_default().trim().to_ascii_uppercase();
    let office = web.desk.config().office_name.clone();
    if ticket.is_empty() || code.is_empty() {
        return page(
            StatusCode::OK,
            "status.html",
            minijinja::context! { office, ticket, code },
        );
    }
    match web.desk.intake().status(&ticket, &code).await {
        Ok(s) => {
            let tz = web.desk.config().policy.calendar.timezone();
            page(
                StatusCode::OK,
                "status.html",
                minijinja::context! {
                    office, ticket, code,
                    received => render::local_time(s.received_at, tz),
                    updated => render::local_time(s.updated_at, tz),
                    state_label => render::state_label(s.state, s.status == Some(Resolution::Tidak)),
                    steps => render::steps(s.state),
                    s => Value::from(minijinja::value::Serde(&s)),
                },
            )
        }
        Err(DeskError::NotFound) => page(
            StatusCode::NOT_FOUND,
            "status.html",
            minijinja::context! { office, ticket, code, not_found => true },
        ),
        Err(e) => {
            if !matches!(e, DeskError::Store(_)) {
                tracing::warn!(error = %e, "status page failed");
            }
            web.error_page(StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
        }
    }
}

/// An unknown page under `/pengaduan/`.
pub(crate) async fn not_found(AxState(web): AxState<Web>) -> Response {
    web.error_page(StatusCode::NOT_FOUND, None)
}

impl Web {
    pub(crate) fn error_page(&self, status: StatusCode, code: Option<&str>) -> Response {
        page(
            status,
            "error.html",
            minijinja::context! {
                office => self.desk.config().office_name.clone(),
                code => code,
                max_mb => self.max_mb(),
                max_files => self.cfg.max_attachments,
            },
        )
    }
}
