//! The public website channel: the complaint form FM-PDIP-03-01 (`GET/POST /pengaduan`),
//! the receipt and status pages, the JSON intake (`POST /api/v1/complaints`), the JSON
//! status endpoint, and what the citizen sends with the access code: messages and answers
//! to a question (`…/messages`), the rating (`…/rating`).
//!
//! Layout: [`form`] (the form and its post), [`status`] (status page with the open
//! question's answer form and the rating form, public 404), [`citizen`] (messages and
//! ratings, JSON or the status page's forms),
//! [`render`] (templates, formatter, Indonesian dates); the limiter is
//! [`aduan_http::ratelimit`].
//!
//! Every accepted complaint is committed through [`Desk::submit`] before the receipt (HTML
//! page or `201` JSON) is answered. Input is bounded: JSON bodies to 1 MiB, each attachment
//! to `max_attachment_bytes`, and each client address ([`aduan_http::client`]) to
//! `rate_limit` for complaints, `status_rate_limit` for status look-ups,
//! `message_rate_limit` and `rating_rate_limit` for what it posts with the access code
//! (429 with `Retry-After`; the JSON error or the page again). Acknowledgements by e-mail
//! are capped per address ([`ACK_DAILY_CAP`]). Every answer carries
//! the security headers of [`aduan_http::security_headers`] and `Cache-Control: no-store`
//! (receipts and status answers show the access code).

mod citizen;
mod form;
mod render;
mod status;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aduan_core::desk::{Desk, DeskError, Submission};
use aduan_core::intake_outcome::IntakeOutcome;
use aduan_core::types::Channel;
use aduan_http::channel::{Channel as ChannelShape, ChannelContext, ChannelSettings, ConfigError};
use aduan_http::{ApiError, ApiJson, ClientAddr, MAX_JSON_BYTES};
use axum::extract::{DefaultBodyLimit, Path, Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub use aduan_http::ratelimit::{self, Limiter, RateLimit};

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
    /// Status look-ups (the JSON status and the status page) per client address.
    #[serde(
        default = "default_status_rate_limit",
        deserialize_with = "ratelimit::deserialize_rate_limit"
    )]
    pub status_rate_limit: Option<RateLimit>,
    /// Messages and answers posted with the access code per client address.
    #[serde(
        default = "default_rate_limit",
        deserialize_with = "ratelimit::deserialize_rate_limit"
    )]
    pub message_rate_limit: Option<RateLimit>,
    /// Ratings posted per client address.
    #[serde(
        default = "default_rate_limit",
        deserialize_with = "ratelimit::deserialize_rate_limit"
    )]
    pub rating_rate_limit: Option<RateLimit>,
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
fn default_status_rate_limit() -> Option<RateLimit> {
    RateLimit::parse("60/hour").expect("static")
}

/// Acknowledgements one address gets per 24 hours, web and e-mail intake together — the
/// e-mail channel's `DEFAULT_ACK_DAILY_CAP`, counted by the same store query (the
/// recipient's keyed hash). Past it the complaint is still taken and the receipt shown;
/// only the mail is not queued, so the form cannot be used to flood someone's inbox.
pub const ACK_DAILY_CAP: i64 = 5;

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            max_attachment_bytes: default_max_attachment(),
            max_attachments: default_max_files(),
            rate_limit: default_rate_limit(),
            status_rate_limit: default_status_rate_limit(),
            message_rate_limit: default_rate_limit(),
            rating_rate_limit: default_rate_limit(),
        }
    }
}

/// Shared state of the web channel.
#[derive(Clone)]
pub(crate) struct Web {
    pub(crate) desk: Desk,
    pub(crate) cfg: Arc<WebConfig>,
    limiters: Arc<Limiters>,
}

/// One limiter per kind of public request.
struct Limiters {
    submit: Limiter,
    status: Limiter,
    message: Limiter,
    rating: Limiter,
}

/// What a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A complaint (the form, the JSON intake).
    Submit,
    /// A status look-up.
    Status,
    /// A message or answer.
    Message,
    /// A rating.
    Rating,
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
        limiters: Arc::new(Limiters {
            submit: Limiter::new(cfg.rate_limit),
            status: Limiter::new(cfg.status_rate_limit),
            message: Limiter::new(cfg.message_rate_limit),
            rating: Limiter::new(cfg.rating_rate_limit),
        }),
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

/// Over a rate limit: how long until the address's window opens again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limited {
    kind: Kind,
    wait: Duration,
}

impl Limited {
    /// Whole seconds to wait (at least 1), for `Retry-After`.
    pub(crate) fn retry_after(&self) -> u64 {
        (self.wait.as_secs() + u64::from(self.wait.subsec_nanos() > 0)).max(1)
    }

    /// `resp` with this `Retry-After`.
    pub(crate) fn on(&self, mut resp: Response) -> Response {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(self.retry_after()));
        resp
    }
}

/// The JSON answer: 429 with `Retry-After`.
impl IntoResponse for Limited {
    fn into_response(self) -> Response {
        let what = match self.kind {
            Kind::Submit => "submissions",
            Kind::Status => "status look-ups",
            Kind::Message => "messages",
            Kind::Rating => "ratings",
        };
        let secs = self.retry_after();
        self.on(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many {what} from this address; retry in {secs} s"),
        )
        .into_response())
    }
}

impl Web {
    /// Count one request of `kind` from `ip` against its limit.
    pub(crate) fn rate_check(&self, kind: Kind, ip: IpAddr) -> Result<(), Limited> {
        let limiter = match kind {
            Kind::Submit => &self.limiters.submit,
            Kind::Status => &self.limiters.status,
            Kind::Message => &self.limiters.message,
            Kind::Rating => &self.limiters.rating,
        };
        limiter.check(ip, Instant::now()).map_err(|wait| {
            if matches!(kind, Kind::Submit | Kind::Message) {
                count(IntakeOutcome::RateLimited);
            }
            metrics::counter!("aduan_web_rate_limited_total", "kind" => kind.label()).increment(1);
            Limited { kind, wait }
        })
    }

    /// Whether the acknowledgement of `sub` must not be queued: its address had
    /// [`ACK_DAILY_CAP`] acknowledgements in the last 24 hours (logged without it).
    pub(crate) async fn ack_capped(&self, sub: &Submission) -> bool {
        let Some(to) = sub
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        else {
            return false;
        };
        if !self.email_replies() {
            return false;
        }
        let since = self.desk.now() - chrono::Duration::hours(24);
        match self
            .desk
            .intake()
            .acks_since(Channel::Email, &to.to_lowercase(), since)
            .await
        {
            Ok(sent) if sent >= ACK_DAILY_CAP => {
                tracing::info!(
                    sent,
                    cap = ACK_DAILY_CAP,
                    "web complaint taken; acknowledgement cap reached for its address, none queued"
                );
                true
            }
            Ok(_) => false,
            // The submission itself meets the same database and answers for it.
            Err(_) => false,
        }
    }
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Submit => "submit",
            Kind::Status => "status",
            Kind::Message => "message",
            Kind::Rating => "rating",
        }
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
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ComplaintIn>,
) -> Result<Response, ApiError> {
    if let Err(l) = web.rate_check(Kind::Submit, ip) {
        return Ok(l.into_response());
    }
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
    sub.skip_ack = web.ack_capped(&sub).await;
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
    ClientAddr(ip): ClientAddr,
    Path(ticket): Path<String>,
    Query(q): Query<CodeQuery>,
) -> Result<Response, ApiError> {
    if let Err(l) = web.rate_check(Kind::Status, ip) {
        return Ok(l.into_response());
    }
    let code = q.code.unwrap_or_default();
    let s = web.desk.intake().status(&ticket, &code).await?;
    Ok(Json(s).into_response())
}
