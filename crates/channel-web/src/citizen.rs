//! What the citizen sends about an existing complaint, proven by the access code (SPEC §4):
//! `POST /api/v1/complaints/{ticket}/messages?code=…` (a message or the answer to the open
//! question, with files) and `POST /api/v1/complaints/{ticket}/rating?code=…` (the rating,
//! once).
//!
//! Each takes JSON (the API: answered with JSON) or the status page's form (multipart or
//! urlencoded: answered with a redirect back to the status page, or the status page again
//! with the problem). A wrong code and an unknown ticket are the same 404. Files are bounded
//! like the complaint form's (`max_attachment_bytes` each, `max_attachments` in all); every
//! post counts against the address's `message_rate_limit` or `rating_rate_limit`.

use aduan_core::desk::{DeskError, MAX_BODY_CHARS, Received};
use aduan_core::intake_outcome::IntakeOutcome;
use aduan_core::model::NewAttachment;
use aduan_http::{ApiError, ApiJson, MAX_JSON_BYTES};
use axum::Form;
use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::form::sanitize_filename;
use crate::status::{Notice, status_with};
use crate::{CodeQuery, Kind, Web, count};
use aduan_http::ClientAddr;

/// `{text}` of the JSON API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageIn {
    pub text: String,
}

/// `{score, comment?}` of the JSON API and the status page's rating form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatingIn {
    pub score: i64,
    pub comment: Option<String>,
}

/// A JSON body of at most [`MAX_JSON_BYTES`] (413 beyond, like every JSON endpoint; the
/// route's own limit is the form's, with its files), with the API's rejections.
async fn bounded_json<T: serde::de::DeserializeOwned>(req: Request) -> Result<T, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_JSON_BYTES)
        .await
        .map_err(|_| ApiError::too_large(format!("JSON body over {MAX_JSON_BYTES} bytes")))?;
    let req = Request::from_parts(parts, axum::body::Body::from(bytes));
    ApiJson::<T>::from_request(req, &())
        .await
        .map(|ApiJson(v)| v)
}

/// Is the post the status page's form (not JSON)?
fn is_form(req: &Request) -> bool {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    ct.starts_with("multipart/form-data") || ct.starts_with("application/x-www-form-urlencoded")
}

/// The status page, back where the citizen came from, with a notice.
fn back_to_status(ticket: &str, code: &str, sent: &str) -> Response {
    // Ticket numbers and access codes are [A-Z0-9-]: nothing to escape in a query. Anything
    // else would have been refused as not found before.
    let t: String = ticket
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let c: String = code.chars().filter(char::is_ascii_alphanumeric).collect();
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            format!("/pengaduan/status?ticket={t}&code={c}&terkirim={sent}"),
        )],
    )
        .into_response()
}

/// Why reading the status page's form stopped.
struct FormProblem {
    status: StatusCode,
    notice: Notice,
}

/// The text and files of the status page's answer form.
async fn read_message_form(
    web: &Web,
    req: Request,
) -> Result<(String, Vec<NewAttachment>), FormProblem> {
    let bad = FormProblem {
        status: StatusCode::BAD_REQUEST,
        notice: Notice::Malformed,
    };
    let too_large = FormProblem {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        notice: Notice::TooLarge,
    };
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut text = String::new();
    let mut files = Vec::new();
    if ct.starts_with("multipart/form-data") {
        let mut mp = Multipart::from_request(req, &())
            .await
            .map_err(|_| FormProblem {
                status: StatusCode::BAD_REQUEST,
                notice: Notice::Malformed,
            })?;
        loop {
            let field = match mp.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large),
                Err(_) => return Err(bad),
            };
            let mut field = field;
            let name = field.name().unwrap_or("").to_string();
            if field.file_name().is_some() || matches!(name.as_str(), "attachments" | "lampiran") {
                let filename = field.file_name().unwrap_or("").trim().to_string();
                let content_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                let mut data = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            if (data.len() + chunk.len()) as u64 > web.cfg.max_attachment_bytes {
                                return Err(too_large);
                            }
                            data.extend_from_slice(&chunk);
                        }
                        Ok(None) => break,
                        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                            return Err(too_large);
                        }
                        Err(_) => return Err(bad),
                    }
                }
                if filename.is_empty() && data.is_empty() {
                    continue; // an empty file input
                }
                if files.len() >= web.cfg.max_attachments {
                    return Err(FormProblem {
                        status: StatusCode::UNPROCESSABLE_ENTITY,
                        notice: Notice::TooManyFiles,
                    });
                }
                files.push(NewAttachment {
                    filename: sanitize_filename(&filename),
                    content_type,
                    data,
                });
            } else if name == "text" {
                match field.text().await {
                    Ok(v) if v.len() <= MAX_BODY_CHARS * 4 => text = v,
                    Ok(_) => return Err(too_large),
                    Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large),
                    Err(_) => return Err(bad),
                }
            }
        }
    } else {
        let Form(pairs): Form<Vec<(String, String)>> =
            Form::from_request(req, &()).await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    FormProblem {
                        status: StatusCode::PAYLOAD_TOO_LARGE,
                        notice: Notice::TooLarge,
                    }
                } else {
                    FormProblem {
                        status: StatusCode::BAD_REQUEST,
                        notice: Notice::Malformed,
                    }
                }
            })?;
        if let Some((_, v)) = pairs.into_iter().find(|(k, _)| k == "text") {
            text = v;
        }
    }
    Ok((text, files))
}

/// `POST /api/v1/complaints/{ticket}/messages?code=…`.
pub(crate) async fn post_message(
    AxState(web): AxState<Web>,
    ClientAddr(ip): ClientAddr,
    Path(ticket): Path<String>,
    Query(q): Query<CodeQuery>,
    req: Request,
) -> Response {
    let code = q.code.unwrap_or_default().trim().to_ascii_uppercase();
    let ticket = ticket.trim().to_ascii_uppercase();
    if is_form(&req) {
        let read = read_message_form(&web, req).await;
        if let Err(l) = web.rate_check(Kind::Message, ip) {
            return l.on(status_with(
                &web,
                &ticket,
                &code,
                StatusCode::TOO_MANY_REQUESTS,
                Notice::RateLimited,
            )
            .await);
        }
        let (text, files) = match read {
            Ok(x) => x,
            Err(p) => return status_with(&web, &ticket, &code, p.status, p.notice).await,
        };
        return match web
            .desk
            .intake()
            .citizen_message(&ticket, &code, &text, files)
            .await
        {
            Ok(r) => {
                count_received(&r);
                back_to_status(&ticket, &code, "pesan")
            }
            Err(DeskError::Invalid { .. }) => {
                count(IntakeOutcome::Rejected);
                status_with(
                    &web,
                    &ticket,
                    &code,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Notice::EmptyMessage,
                )
                .await
            }
            Err(e) => refused_page(&web, &ticket, &code, e, "message").await,
        };
    }
    let body: MessageIn = match bounded_json(req).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = web.rate_check(Kind::Message, ip) {
        return e.into_response();
    }
    match web
        .desk
        .intake()
        .citizen_message(&ticket, &code, &body.text, Vec::new())
        .await
    {
        Ok(r) => {
            count_received(&r);
            match web.desk.intake().status(&ticket, &code).await {
                Ok(s) => (StatusCode::CREATED, Json(s)).into_response(),
                Err(e) => ApiError::from(e).into_response(),
            }
        }
        Err(e) => {
            if matches!(e, DeskError::Invalid { .. }) {
                count(IntakeOutcome::Rejected);
            }
            ApiError::from(e).into_response()
        }
    }
}

/// The status page again for a post the desk did not take, past the refusals each form
/// names itself: an unknown ticket or a wrong code is the status page's own 404; anything
/// else is logged (masked: a desk error may quote what was typed) and answered 503.
async fn refused_page(web: &Web, ticket: &str, code: &str, e: DeskError, what: &str) -> Response {
    if matches!(e, DeskError::NotFound) {
        return status_with(web, ticket, code, StatusCode::NOT_FOUND, Notice::None).await;
    }
    tracing::warn!(
        error = %aduan_core::mask::mask_text(&e.to_string()),
        "status page {what} not stored"
    );
    status_with(
        web,
        ticket,
        code,
        StatusCode::SERVICE_UNAVAILABLE,
        Notice::Unavailable,
    )
    .await
}

fn count_received(r: &Received) {
    count(match r {
        Received::Duplicate { .. } => IntakeOutcome::Duplicate,
        Received::Created(_) => IntakeOutcome::Accepted,
        Received::Appended { .. } | Received::Rated { .. } => IntakeOutcome::Appended,
    });
}

/// `POST /api/v1/complaints/{ticket}/rating?code=…`.
pub(crate) async fn post_rating(
    AxState(web): AxState<Web>,
    ClientAddr(ip): ClientAddr,
    Path(ticket): Path<String>,
    Query(q): Query<CodeQuery>,
    req: Request,
) -> Response {
    let code = q.code.unwrap_or_default().trim().to_ascii_uppercase();
    let ticket = ticket.trim().to_ascii_uppercase();
    if is_form(&req) {
        let pairs = match Form::<Vec<(String, String)>>::from_request(req, &()).await {
            Ok(Form(p)) => p,
            Err(_) => {
                return status_with(
                    &web,
                    &ticket,
                    &code,
                    StatusCode::BAD_REQUEST,
                    Notice::Malformed,
                )
                .await;
            }
        };
        if let Err(l) = web.rate_check(Kind::Rating, ip) {
            return l.on(status_with(
                &web,
                &ticket,
                &code,
                StatusCode::TOO_MANY_REQUESTS,
                Notice::RateLimited,
            )
            .await);
        }
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let Some(score) = get("score").and_then(|s| s.trim().parse::<i64>().ok()) else {
            return status_with(
                &web,
                &ticket,
                &code,
                StatusCode::UNPROCESSABLE_ENTITY,
                Notice::PickScore,
            )
            .await;
        };
        let comment = get("comment").filter(|c| !c.trim().is_empty());
        return match web.desk.intake().rate(&ticket, &code, score, comment).await {
            Ok(_) => back_to_status(&ticket, &code, "penilaian"),
            Err(DeskError::Invalid { .. }) => {
                status_with(
                    &web,
                    &ticket,
                    &code,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Notice::PickScore,
                )
                .await
            }
            Err(DeskError::Conflict(_) | DeskError::InvalidState { .. }) => {
                status_with(
                    &web,
                    &ticket,
                    &code,
                    StatusCode::CONFLICT,
                    Notice::CannotRate,
                )
                .await
            }
            Err(e) => refused_page(&web, &ticket, &code, e, "rating").await,
        };
    }
    let body: RatingIn = match bounded_json(req).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = web.rate_check(Kind::Rating, ip) {
        return e.into_response();
    }
    match web
        .desk
        .intake()
        .rate(&ticket, &code, body.score, body.comment)
        .await
    {
        Ok(s) => (StatusCode::OK, Json(s)).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
