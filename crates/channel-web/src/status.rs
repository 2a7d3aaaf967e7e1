//! The citizen's status page `GET /pengaduan/status?ticket=T&code=C` — with the open
//! question and its answer form, the rating form once the complaint is closed, and the
//! notice after either was posted — and the public 404 page for unknown addresses under
//! `/pengaduan/`.

use aduan_core::desk::DeskError;
use aduan_core::types::Resolution;
use axum::extract::{Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::Value;
use serde::Deserialize;

use crate::render::{self, page};
use crate::{Kind, Web};
use aduan_http::ClientAddr;

#[derive(Deserialize)]
pub(crate) struct StatusQuery {
    ticket: Option<String>,
    code: Option<String>,
    /// Set by the redirect after a post: `pesan` (a message or answer) or `penilaian`.
    terkirim: Option<String>,
}

/// What the status page says above the status after a post (the sentences are in
/// `status.html`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    None,
    /// The message or answer was stored.
    MessageSent,
    /// The rating was stored.
    Rated,
    /// An answer without text or files.
    EmptyMessage,
    /// A file over `max_attachment_bytes`.
    TooLarge,
    TooManyFiles,
    Malformed,
    RateLimited,
    /// Too many status look-ups from the address.
    LookupLimited,
    /// The rating form without a score 1–5.
    PickScore,
    /// Rated already, or not closed yet.
    CannotRate,
    Unavailable,
}

impl Notice {
    fn code(self) -> Option<&'static str> {
        Some(match self {
            Notice::None => return None,
            Notice::MessageSent => "message_sent",
            Notice::Rated => "rated",
            Notice::EmptyMessage => "empty_message",
            Notice::TooLarge => "too_large",
            Notice::TooManyFiles => "too_many_files",
            Notice::Malformed => "malformed",
            Notice::RateLimited => "rate_limited",
            Notice::LookupLimited => "lookup_limited",
            Notice::PickScore => "pick_score",
            Notice::CannotRate => "cannot_rate",
            Notice::Unavailable => "unavailable",
        })
    }
    /// A problem (shown as an error), not a confirmation.
    fn is_problem(self) -> bool {
        !matches!(self, Notice::None | Notice::MessageSent | Notice::Rated)
    }
}

pub(crate) async fn status_page(
    AxState(web): AxState<Web>,
    ClientAddr(ip): ClientAddr,
    Query(q): Query<StatusQuery>,
) -> Response {
    let ticket = q.ticket.unwrap_or_default().trim().to_ascii_uppercase();
    let code = q.code.unwrap_or_default().trim().to_ascii_uppercase();
    // A look-up counts against `status_rate_limit`; the empty form does not.
    if !ticket.is_empty()
        && !code.is_empty()
        && let Err(l) = web.rate_check(Kind::Status, ip)
    {
        let office = web.desk.config().office_name.clone();
        return l.on(page(
            StatusCode::TOO_MANY_REQUESTS,
            "status.html",
            minijinja::context! {
                office, ticket, code, notice => Notice::LookupLimited.code(), problem => true,
            },
        ));
    }
    let notice = match q.terkirim.as_deref() {
        Some("pesan") => Notice::MessageSent,
        Some("penilaian") => Notice::Rated,
        _ => Notice::None,
    };
    status_with(&web, &ticket, &code, StatusCode::OK, notice).await
}

/// The status page of `ticket` for `code` (the form alone when either is empty), answered
/// with `status` and `notice`; a wrong code or unknown ticket is the page's 404.
pub(crate) async fn status_with(
    web: &Web,
    ticket: &str,
    code: &str,
    status: StatusCode,
    notice: Notice,
) -> Response {
    let office = web.desk.config().office_name.clone();
    let notice_code = notice.code();
    let problem = notice.is_problem();
    let max_mb = web.max_mb();
    let max_files = web.cfg.max_attachments;
    if ticket.is_empty() || code.is_empty() {
        return page(
            status,
            "status.html",
            minijinja::context! { office, ticket, code, notice => notice_code, problem },
        );
    }
    match web.desk.intake().status(ticket, code).await {
        Ok(s) => {
            let tz = web.desk.config().policy.calendar.timezone();
            page(
                status,
                "status.html",
                minijinja::context! {
                    office, ticket, code, notice => notice_code, problem, max_mb, max_files,
                    received => render::local_time(s.received_at, tz),
                    updated => render::local_time(s.updated_at, tz),
                    answer_due => s.answer_due_at.map(|t| render::local_time(t, tz)),
                    rated_at => s.rating.as_ref().map(|r| render::local_time(r.at, tz)),
                    state_label => render::state_label(s.state, s.status == Some(Resolution::Tidak)),
                    steps => render::steps(s.state, s.asked_from),
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
