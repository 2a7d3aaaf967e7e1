//! The public website channel: the complaint form FM-PDIP-03-01 (`GET/POST /pengaduan`),
//! the receipt and status pages, the JSON intake (`POST /api/v1/complaints`), the JSON
//! status endpoint, and what the citizen sends with the access code: messages and answers
//! to a question (`…/messages`), the rating (`…/rating`).
//!
//! Layout: [`form`] (the form and its post), [`status`] (status page with the open
//! question's answer form and the rating form, public 404), [`citizen`] (messages and
//! ratings, JSON or the status page's forms),
//! [`render`] (templates, formatter, Indonesian dates), [`ratelimit`].
//!
//! Every accepted complaint is committed through [`Desk::submit`] before the receipt (HTML
//! page or `201` JSON) is answered. Input is bounded: JSON bodies to 1 MiB, each attachment
//! to `max_attachment_bytes`, and each client address to `rate_limit`. Every answer carries
//! the security headers of [`aduan_http::security_headers`] and `Cache-Control: no-store`
//! (receipts and status answers show the access code).

mod citizen;
mod form;
pub mod ratelimit;
mod render;
mod status;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use aduan_core::desk::{Desk, DeskError, Submission};
use aduan_core::intake_outcome::IntakeOutcome;
use aduan_core::types::Channel;
use aduan_http::channel::{Channel as ChannelShape, ChannelContext, ChannelSettings, ConfigError};
use aduan_http::{ApiError, ApiJson, MAX_JSON_BYTES};
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, Query, State as AxState,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub use ratelimit::{Limiter, RateLimit};

/// `[channels.web]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Serve the public form and JSON intake.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Largest accepted attachment, in bytes (each file).
    #[serde(default = "default_max_attachment")]
    pub max_attachment_bytes: u64,
    /// Most attachments per complaint.
    #[serde(default = "default_max_files")]
    pub max_attachments: usize,
    /// Submissions per client address, e.g. `"20/hour"`; `"off"` disables.
    #[serde(
        default = "default_rate_limit",
        deserialize_with = "ratelimit::deserialize_rate_limit"
    )]
    pub rate_limit: Option<RateLimit>,
}

fn yes() -> bool {
    true
}
fn default_max_attachment() -> u64 {
    5 * 1024 * 1024
}
fn default_max_files() -> usize {
    5
}
fn default_rate_limit() -> Option<RateLimit> {
    RateLimit::parse("20/hour").expect("static")
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            max_attachment_bytes: default_max_attachment(),
            max_attachments: default_max_files(),
            rate_limit: default_rate_limit(),
        }
    }
}

/// Shared state of the web channel.
#[derive(Clone)]
pub(crate) struct Web {
    pub(crate) desk: Desk,
    pub(crate) cfg: Arc<WebConfig>,
    limiter: Arc<Limiter>,
}

/// Embedded stylesheet shared with the admin pages.
pub const STYLESHEET: &str = include_str!("../static/aduan.css");

impl WebConfig {
    /// The web channel: the public form, receipt and status pages and the JSON intake.
    /// It has no tasks and no sender of its own (its acknowledgement and answer go by
    /// e-mail when an address was given, through the e-mail channel's sender).
    pub fn build(self, ctx: ChannelContext) -> Result<ChannelShape, ConfigError> {
        let mut ch = ChannelShape::new("web");
        if self.enabled {
            ch.routes = router(ctx.desk, self);
        }
        Ok(ch)
    }
}

impl ChannelSettings for WebConfig {
    fn name(&self) -> &'static str {
        "web"
    }
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn reply_platforms(&self) -> Vec<Channel> {
        Vec::new() // the web channel answers by e-mail, through the e-mail channel
    }
    fn build_channel(&self, ctx: ChannelContext) -> Result<ChannelShape, ConfigError> {
        self.clone().build(ctx)
    }
}

/// Build the web channel's routes.
pub fn router(desk: Desk, cfg: WebConfig) -> Router {
    let per_form = cfg.max_attachment_bytes as usize * cfg.max_attachments + MAX_JSON_BYTES;
    let state = Web {
        desk,
        limiter: Arc::new(Limiter::new(cfg.rate_limit)),
        cfg: Arc::new(cfg),
    };
    Router::new()
        .route(
            "/pengaduan",
            get(form::form_page)
                .post(form::form_submit)
                .layer(DefaultBodyLimit::max(per_form)),
        )
        .route("/pengaduan/", get(form::form_page))
        .route("/pengaduan/status", get(status::status_page))
        .route("/pengaduan/{*rest}", get(status::not_found))
        .route(
            "/api/v1/complaints",
            post(api_submit).layer(DefaultBodyLimit::max(MAX_JSON_BYTES)),
        )
        .route("/api/v1/complaints/{ticket}/status", get(api_status))
        .route(
            "/api/v1/complaints/{ticket}/messages",
            post(citizen::post_message).layer(DefaultBodyLimit::max(per_form)),
        )
        .route(
            "/api/v1/complaints/{ticket}/rating",
            post(citizen::post_rating).layer(DefaultBodyLimit::max(MAX_JSON_BYTES)),
        )
        .route("/static/aduan.css", get(stylesheet))
        .layer(axum::middleware::from_fn(aduan_http::security_headers))
        .with_state(state)
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The client's address (peer address of the TCP connection).
pub(crate) struct ClientIp(pub(crate) IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ))
    }
}

impl Web {
    pub(crate) fn rate_check(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.limiter.check(ip, Instant::now()).map_err(|wait| {
            count(IntakeOutcome::RateLimited);
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many submissions from this address; retry in {} s",
                    wait.as_secs().max(1)
                ),
            )
        })
    }
}

/// JSON intake body (SPEC §4).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintIn {
    pub name: Option<String>,
    pub address: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub target: Option<String>,
    pub category: Option<String>,
    pub body: String,
}

#[derive(Serialize)]
struct Created {
    ticket: String,
    access_code: Option<String>,
    status_url: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

pub(crate) fn submission(c: ComplaintIn) -> Submission {
    Submission {
        channel: Some(Channel::Web),
        name: c.name,
        address: c.address,
        email: c.email,
        phone: c.phone,
        target: c.target,
        category: c.category,
        body: c.body,
        with_access_code: true,
        ..Default::default()
    }
}

async fn api_submit(
    AxState(web): AxState<Web>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ComplaintIn>,
) -> Result<Response, ApiError> {
    web.rate_check(ip)?;
    let mut sub = submission(body);
    // A client may make retries safe with an Idempotency-Key header.
    if let Some(k) = headers.get("idempotency-key") {
        let k = k
            .to_str()
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= 200)
            .ok_or_else(|| {
                ApiError::bad_request("Idempotency-Key must be 1-200 visible ASCII characters")
            })?;
        sub.external_id = Some(format!("idem:{k}"));
    }
    let r = web
        .desk
        .intake()
        .submit(sub)
        .await
        .inspect_err(count_rejected)?;
    let status = if r.duplicate {
        count(IntakeOutcome::Duplicate);
        StatusCode::OK
    } else {
        count(IntakeOutcome::Accepted);
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(Created {
            ticket: r.ticket.to_string(),
            access_code: r.access_code,
            status_url: r.status_url,
            duplicate: r.duplicate,
        }),
    )
        .into_response())
}

fn count_rejected(e: &DeskError) {
    if matches!(e, DeskError::Invalid { .. }) {
        count(IntakeOutcome::Rejected);
    }
}

/// Count one intake outcome of the web channel.
pub(crate) fn count(outcome: IntakeOutcome) {
    aduan_http::channel::record_intake(Channel::Web, outcome);
}

#[derive(Deserialize)]
pub(crate) struct CodeQuery {
    pub(crate) code: Option<String>,
}

async fn api_status(
    AxState(web): AxState<Web>,
    Path(ticket): Path<String>,
    Query(q): Query<CodeQuery>,
) -> Result<Response, ApiError> {
    let code = q.code.unwrap_or_default();
    let s = web.desk.intake().status(&ticket, &code).await?;
    Ok(Json(s).into_response())
}
