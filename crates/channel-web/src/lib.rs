//! The public website channel: the complaint form FM-PDIP-03-01 (`GET/POST /pengaduan`), the
//! JSON intake (`POST /api/v1/complaints`) and the status endpoints.
//!
//! Every accepted complaint is committed through [`Desk::submit`] before the receipt (HTML
//! page or `201` JSON) is answered. Input is bounded: JSON bodies to 1 MiB, each attachment
//! to `max_attachment_bytes`, and each client address to `rate_limit`.

pub mod ratelimit;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use aduan_core::desk::{Desk, DeskError, Submission};
use aduan_core::model::NewAttachment;
use aduan_core::types::{Category, Channel, State};
use aduan_http::{ApiError, ApiJson, MAX_JSON_BYTES};
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Path, Query, Request,
    State as AxState,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use minijinja::Environment;
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
struct Web {
    desk: Desk,
    cfg: Arc<WebConfig>,
    limiter: Arc<Limiter>,
    pages: Arc<Environment<'static>>,
}

/// Embedded stylesheet shared with the admin pages.
pub const STYLESHEET: &str = include_str!("../static/aduan.css");

fn pages() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, src) in [
        ("layout.html", include_str!("../templates/layout.html")),
        ("form.html", include_str!("../templates/form.html")),
        ("receipt.html", include_str!("../templates/receipt.html")),
        ("status.html", include_str!("../templates/status.html")),
    ] {
        env.add_template(name, src)
            .expect("embedded templates compile");
    }
    env
}

/// Build the web channel's routes.
pub fn router(desk: Desk, cfg: WebConfig) -> Router {
    let per_form = cfg.max_attachment_bytes as usize * cfg.max_attachments + MAX_JSON_BYTES;
    let state = Web {
        desk,
        limiter: Arc::new(Limiter::new(cfg.rate_limit)),
        cfg: Arc::new(cfg),
        pages: Arc::new(pages()),
    };
    Router::new()
        .route(
            "/pengaduan",
            get(form_page)
                .post(form_submit)
                .layer(DefaultBodyLimit::max(per_form)),
        )
        .route("/pengaduan/status", get(status_page))
        .route(
            "/api/v1/complaints",
            post(api_submit).layer(DefaultBodyLimit::max(MAX_JSON_BYTES)),
        )
        .route("/api/v1/complaints/{ticket}/status", get(api_status))
        .route("/static/aduan.css", get(stylesheet))
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
struct ClientIp(IpAddr);

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
    fn rate_check(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.limiter.check(ip, Instant::now()).map_err(|wait| {
            metrics::counter!("aduan_intake_total", "channel" => "web", "outcome" => "rate_limited")
                .increment(1);
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

    fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String, ApiError> {
        self.pages
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| {
                tracing::error!(error = %e, template = name, "page render failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "page render failed",
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

fn submission(c: ComplaintIn) -> Submission {
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
    let r = web.desk.submit(sub).await.inspect_err(count_rejected)?;
    let status = if r.duplicate {
        metrics::counter!("aduan_intake_total", "channel" => "web", "outcome" => "duplicate")
            .increment(1);
        StatusCode::OK
    } else {
        metrics::counter!("aduan_intake_total", "channel" => "web", "outcome" => "accepted")
            .increment(1);
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
        metrics::counter!("aduan_intake_total", "channel" => "web", "outcome" => "rejected")
            .increment(1);
    }
}

#[derive(Deserialize)]
struct CodeQuery {
    code: Option<String>,
}

async fn api_status(
    AxState(web): AxState<Web>,
    Path(ticket): Path<String>,
    Query(q): Query<CodeQuery>,
) -> Result<Response, ApiError> {
    let code = q.code.unwrap_or_default();
    let s = web.desk.status(&ticket, &code).await?;
    Ok(Json(s).into_response())
}

fn categories() -> Vec<serde_json::Value> {
    Category::ALL
        .iter()
        .map(|c| serde_json::json!({"value": c.as_str(), "label": c.label()}))
        .collect()
}

impl Web {
    fn form_ctx(&self, v: &ComplaintIn, errors: Vec<String>) -> minijinja::Value {
        minijinja::context! {
            office => self.desk.config().office_name.clone(),
            v => minijinja::Value::from(minijinja::value::Serde(v)),
            errors => errors,
            categories => minijinja::Value::from(minijinja::value::Serde(categories())),
            max_files => self.cfg.max_attachments,
            max_mb => format!("{:.1}", self.cfg.max_attachment_bytes as f64 / 1_048_576.0),
        }
    }
}

async fn form_page(AxState(web): AxState<Web>) -> Result<Html<String>, ApiError> {
    Ok(Html(web.render(
        "form.html",
        web.form_ctx(&ComplaintIn::default(), vec![]),
    )?))
}

/// Map a form field name (English, as in the JSON API, or the form's Indonesian) to a field.
fn set_field(c: &mut ComplaintIn, name: &str, value: String) -> bool {
    let slot = match name {
        "name" | "nama" | "nama_lengkap" => &mut c.name,
        "address" | "alamat" => &mut c.address,
        "email" | "alamat_email" => &mut c.email,
        "phone" | "no_hp" | "hp" => &mut c.phone,
        "target" | "sasaran" | "sasaran_pengaduan" => &mut c.target,
        "category" | "kategori" => &mut c.category,
        "body" | "isi" | "isi_pengaduan" => {
            c.body = value;
            return true;
        }
        _ => return false,
    };
    *slot = Some(value);
    true
}

fn is_file_field(name: &str) -> bool {
    matches!(
        name,
        "attachments" | "attachment" | "lampiran" | "file" | "files"
    )
}

enum FormError {
    Api(ApiError),
    /// Re-show the form with messages.
    Fields(Vec<String>),
}

impl From<ApiError> for FormError {
    fn from(e: ApiError) -> Self {
        FormError::Api(e)
    }
}

async fn read_form(
    web: &Web,
    req: Request,
) -> Result<(ComplaintIn, Vec<NewAttachment>), FormError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut c = ComplaintIn::default();
    let mut files = Vec::new();
    if ct.starts_with("multipart/form-data") {
        let mut mp = Multipart::from_request(req, &())
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        loop {
            let field = match mp.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Err(multipart_error(e).into()),
            };
            let name = field.name().unwrap_or("").to_string();
            if is_file_field(&name) || field.file_name().is_some() {
                let filename = field.file_name().unwrap_or("").trim().to_string();
                let content_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                let mut field = field;
                let mut data = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            if (data.len() + chunk.len()) as u64 > web.cfg.max_attachment_bytes {
                                return Err(ApiError::too_large(format!(
                                    "attachment `{filename}` is larger than {} bytes",
                                    web.cfg.max_attachment_bytes
                                ))
                                .into());
                            }
                            data.extend_from_slice(&chunk);
                        }
                        Ok(None) => break,
                        Err(e) => return Err(multipart_error(e).into()),
                    }
                }
                if filename.is_empty() && data.is_empty() {
                    continue; // an empty file input
                }
                if files.len() >= web.cfg.max_attachments {
                    return Err(FormError::Fields(vec![format!(
                        "Lampiran paling banyak {} berkas.",
                        web.cfg.max_attachments
                    )]));
                }
                files.push(NewAttachment {
                    filename: sanitize_filename(&filename),
                    content_type,
                    data,
                });
            } else {
                let value = field.text().await.map_err(multipart_error)?;
                if value.len() > aduan_core::desk::MAX_BODY_CHARS * 4 {
                    return Err(ApiError::too_large(format!("field `{name}` is too long")).into());
                }
                set_field(&mut c, &name, value);
            }
        }
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        let Form(pairs): Form<Vec<(String, String)>> =
            Form::from_request(req, &()).await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::too_large("form too large")
                } else {
                    ApiError::bad_request(e.body_text())
                }
            })?;
        for (k, v) in pairs {
            set_field(&mut c, &k, v);
        }
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected multipart/form-data or application/x-www-form-urlencoded",
        )
        .into());
    }
    Ok((c, files))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large("upload larger than allowed")
    } else {
        ApiError::bad_request(format!("malformed multipart body: {}", e.body_text()))
    }
}

/// Keep a safe display name: no path parts or control characters, at most 200 characters.
fn sanitize_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if clean.trim().is_empty() {
        "lampiran".into()
    } else {
        clean
    }
}

fn field_message(field: &str, message: &str) -> String {
    let label = match field {
        "body" => "Isi Pengaduan / Saran",
        "email" => "Alamat email",
        "phone" => "No. HP",
        "category" => "Kategori",
        "name" => "Nama Lengkap",
        "address" => "Alamat",
        "target" => "Sasaran Pengaduan",
        other => other,
    };
    let why = if message.contains("empty") {
        "wajib diisi".to_string()
    } else if message.contains("longer than") {
        "terlalu panjang".to_string()
    } else {
        format!("tidak valid ({message})")
    };
    format!("{label} {why}.")
}

async fn form_submit(
    AxState(web): AxState<Web>,
    ClientIp(ip): ClientIp,
    req: Request,
) -> Result<Response, ApiError> {
    let html_error = |web: &Web, status: StatusCode, v: &ComplaintIn, errors: Vec<String>| {
        web.render("form.html", web.form_ctx(v, errors))
            .map(|page| (status, Html(page)).into_response())
    };
    web.rate_check(ip).or_else(|e| {
        html_error(
            &web,
            e.status,
            &ComplaintIn::default(),
            vec!["Terlalu banyak pengaduan dari alamat Anda. Silakan coba lagi nanti.".into()],
        )
        .map(|_| ())
        .and(Err(e))
    })?;
    let (c, files) = match read_form(&web, req).await {
        Ok(x) => x,
        Err(FormError::Api(e)) if e.status == StatusCode::PAYLOAD_TOO_LARGE => {
            return html_error(
                &web,
                e.status,
                &ComplaintIn::default(),
                vec![format!(
                    "Lampiran terlalu besar (paling besar {:.1} MB per berkas).",
                    web.cfg.max_attachment_bytes as f64 / 1_048_576.0
                )],
            );
        }
        Err(FormError::Api(e)) => return Err(e),
        Err(FormError::Fields(msgs)) => {
            return html_error(
                &web,
                StatusCode::UNPROCESSABLE_ENTITY,
                &ComplaintIn::default(),
                msgs,
            );
        }
    };
    let email = c.email.clone().filter(|e| !e.trim().is_empty());
    let shown = ComplaintIn {
        name: c.name.clone(),
        address: c.address.clone(),
        email: c.email.clone(),
        phone: c.phone.clone(),
        target: c.target.clone(),
        category: c.category.clone(),
        body: c.body.clone(),
    };
    let mut sub = submission(c);
    sub.attachments = files;
    match web.desk.submit(sub).await {
        Ok(r) => {
            metrics::counter!("aduan_intake_total", "channel" => "web", "outcome" => "accepted")
                .increment(1);
            let page = web.render(
                "receipt.html",
                minijinja::context! {
                    office => web.desk.config().office_name.clone(),
                    ticket => r.ticket.to_string(),
                    access_code => r.access_code,
                    email => email,
                },
            )?;
            Ok((StatusCode::OK, Html(page)).into_response())
        }
        Err(DeskError::Invalid { field, message }) => {
            count_rejected(&DeskError::Invalid {
                field: field.clone(),
                message: message.clone(),
            });
            html_error(
                &web,
                StatusCode::UNPROCESSABLE_ENTITY,
                &shown,
                vec![field_message(&field, &message)],
            )
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct StatusQuery {
    ticket: Option<String>,
    code: Option<String>,
}

fn state_label(s: State) -> &'static str {
    match s {
        State::Received => "Diterima",
        State::Triage => "Ditelaah oleh Kasi Kerjasama",
        State::InBidang => "Ditangani oleh bidang terkait",
        State::Review => "Pemeriksaan jawaban",
        State::FollowUp => "Penyampaian jawaban",
        State::Closed => "Selesai ditangani",
    }
}

async fn status_page(
    AxState(web): AxState<Web>,
    Query(q): Query<StatusQuery>,
) -> Result<Response, ApiError> {
    let ticket = q.ticket.unwrap_or_default();
    let code = q.code.unwrap_or_default();
    let office = web.desk.config().office_name.clone();
    if ticket.is_empty() || code.is_empty() {
        let page = web.render("status.html", minijinja::context! { office, ticket, code })?;
        return Ok(Html(page).into_response());
    }
    match web.desk.status(ticket.trim(), code.trim()).await {
        Ok(s) => {
            let page = web.render(
                "status.html",
                minijinja::context! {
                    office, ticket, code,
                    state_label => state_label(s.state),
                    s => minijinja::Value::from(minijinja::value::Serde(&s)),
                },
            )?;
            Ok(Html(page).into_response())
        }
        Err(DeskError::NotFound) => {
            let page = web.render(
                "status.html",
                minijinja::context! { office, ticket, code, not_found => true },
            )?;
            Ok((StatusCode::NOT_FOUND, Html(page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
