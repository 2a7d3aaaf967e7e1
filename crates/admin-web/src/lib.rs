//! The staff web pages of aduan under `/admin` (SPEC §4): server-rendered HTML in Bahasa
//! Indonesia for every SOP-PDIP-03 role, over the same [`Desk`] as the JSON staff API.
//!
//! - **Login** (`GET/POST /admin/login`, `POST /admin/logout`): username and password,
//!   checked against the argon2 PHC hash that `aduan user add --password-stdin` stored.
//!   Sessions are signed cookies naming a session row in the store (see [`session`]):
//!   `HttpOnly`, `SameSite=Strict`, `Secure` when [`AdminWebConfig::secure_cookie`] is set,
//!   valid for [`AdminWebConfig::session_ttl`]; every request checks the row (a logout, a
//!   password change or a disabled account ends sessions on every replica and across
//!   restarts) and re-reads the user, so a changed role ends its sessions at once. Five
//!   failed logins for a username within 15 minutes lock it for 15 minutes ([`lockout`]; in
//!   memory per replica).
//! - **Bounded login work** ([`guard`]): a per-address limit (429) before anything else, then
//!   argon2 on the blocking pool behind a small semaphore (503 at once when full), both with
//!   `Retry-After`; see [`LoginLimits`].
//! - **CSRF**: every form carries a hidden `csrf` token (HMAC of the session nonce) that
//!   every POST checks (403 on mismatch); the login form uses a signed double-submit cookie
//!   with a single-use token, spent in the store (a replayed login form is refused, 403).
//! - **Headers** on every `/admin` response: a CSP without inline script or style and
//!   `frame-ancestors 'none'`, `X-Content-Type-Options: nosniff`,
//!   `Referrer-Policy: same-origin`, `Cache-Control: no-store`.
//! - **Pages**: `/admin` (the user's queue), `/admin/queue?state=S`,
//!   `/admin/complaints/{ticket}` (detail with the actions the role may take),
//!   `/admin/complaints/{ticket}/attachments/{id}` (the file, by the bidang rule; with
//!   `?inline=1` the in-page preview of an image or PDF, framed by the complaint page:
//!   `frame-ancestors 'self'`, `X-Frame-Options: SAMEORIGIN`, no script),
//!   `/admin/complaints/new` (manual entry by staf), `/admin/logbook/{YYYY-MM}` (printable
//!   FM-PDIP-03-02 with paraf for the Kabid PDIP), `/admin/reports/{YYYY-MM}` (monthly report
//!   with charts, conclusion, decision and receipt), `/admin/replies/failed`.
//!   Stylesheet and script are embedded and served from `/admin/static/`.
//!
//! Authorization stays in the domain: role checks, the 404 for another division's
//! complaint and the masking of identity for bidang users all come from the desk; the pages
//! add no identity of their own (attachment names and files too: a bidang user sees the
//! desk's neutral labels unless the kasi shared the identity or the attachment).

mod auth;
mod bounded;
pub mod guard;
pub mod lockout;
mod pages;
mod render;
pub mod session;

use std::sync::Arc;

use aduan_core::desk::Desk;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};

pub use guard::{LoginLimits, LoginStats};
pub use session::{load_or_create_session_key, session_key_from_secret};

/// Content-Security-Policy of every admin response (the same as the public pages').
pub const CONTENT_SECURITY_POLICY: &str = aduan_http::CONTENT_SECURITY_POLICY;

/// Largest form post accepted (the longest text field is 20 000 characters).
pub const MAX_FORM_BYTES: usize = 1024 * 1024;

/// Settings of the admin pages.
#[derive(Clone)]
pub struct AdminWebConfig {
    /// HMAC key for the session cookies and CSRF tokens. Every replica must use the same
    /// key; changing it logs everybody out.
    pub session_key: [u8; 32],
    /// Set the cookies' `Secure` flag (when `public_base_url` is https).
    pub secure_cookie: bool,
    /// How long a login lasts.
    pub session_ttl: chrono::Duration,
    /// Bounds on the work of logins (per-address limit, concurrent password checks).
    pub login: LoginLimits,
}

impl std::fmt::Debug for AdminWebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminWebConfig")
            .field("session_key", &"********")
            .field("secure_cookie", &self.secure_cookie)
            .field("session_ttl", &self.session_ttl)
            .field("login", &self.login)
            .finish()
    }
}

/// Shared state of the admin pages.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Inner>);

pub(crate) struct Inner {
    pub desk: Desk,
    pub cfg: AdminWebConfig,
    pub keys: session::Keys,
    pub lockout: lockout::Lockout,
    pub address_limit: guard::AddressLimit,
    pub verifier: guard::Verifier,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The admin pages' routes (merge into the application's router).
pub fn router(desk: Desk, cfg: AdminWebConfig) -> Router {
    let state = AppState(Arc::new(Inner {
        keys: session::Keys::new(&cfg.session_key),
        address_limit: guard::AddressLimit::new(
            cfg.login.per_address_per_minute,
            guard::MAX_ADDRESSES,
        ),
        verifier: guard::Verifier::new(cfg.login.max_concurrent, cfg.login.stats.clone()),
        desk,
        cfg,
        lockout: lockout::Lockout::default(),
    }));
    Router::new()
        .route("/admin", get(pages::queue::home))
        .route("/admin/", get(pages::queue::home))
        .route(
            "/admin/login",
            get(auth::login_page).post(auth::login_submit),
        )
        .route("/admin/logout", post(auth::logout))
        .route("/admin/queue", get(pages::queue::queue))
        .route(
            "/admin/complaints/new",
            get(pages::entry::new_form).post(pages::entry::new_submit),
        )
        .route("/admin/complaints/{ticket}", get(pages::complaint::detail))
        .route(
            "/admin/complaints/{ticket}/attachments/{id}",
            get(pages::complaint::attachment),
        )
        .route(
            "/admin/complaints/{ticket}/attachments/{id}/share",
            post(pages::complaint::share_attachment),
        )
        .route(
            "/admin/complaints/{ticket}/{action}",
            post(pages::complaint::act),
        )
        .route("/admin/logbook", get(pages::logbook::logbook_now))
        .route("/admin/logbook/{month}", get(pages::logbook::logbook))
        .route("/admin/logbook/{month}/paraf", post(pages::logbook::paraf))
        .route(
            "/admin/logbook/{month}/export/{format}",
            get(pages::logbook::export),
        )
        .route("/admin/reports", get(pages::report::report_latest))
        .route("/admin/reports/{month}", get(pages::report::report))
        .route(
            "/admin/reports/{month}/chart/{file}",
            get(pages::report::chart),
        )
        .route(
            "/admin/reports/{month}/{action}",
            get(pages::report::risks_file).post(pages::report::report_act),
        )
        .route("/admin/replies/failed", get(pages::replies::failed_replies))
        .route("/admin/static/admin.css", get(pages::assets::stylesheet))
        .route("/admin/static/admin.js", get(pages::assets::script))
        .route("/admin/{*rest}", any(pages::assets::not_found))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(middleware::from_fn(admin_no_store))
        .layer(middleware::from_fn(aduan_http::security_headers))
        .with_state(state)
}

/// Staff pages are never cached, not even their stylesheet (a role change must show at
/// once); the shared middleware then adds the other security headers.
async fn admin_no_store(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
