//! Login, logout, the session extractor ([`Me`]), form parsing ([`Fields`]) and the CSRF check.
//!
//! Every login (success or refusal, with the username only) and logout is appended to the
//! audit log; a session is issued only once its login entry is written.

use aduan_core::audit::{NewAuditEntry, actions};
use aduan_core::model::User;
use aduan_core::store::StoreError;
use aduan_core::types::{Role, Username};
use aduan_core::workflow::Actor;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, extract::State};
use serde::Deserialize;

use crate::AppState;
use crate::guard::ClientAddr;
use crate::render::{error_page, page, role_label};
use crate::session::{
    LOGIN_COOKIE, SESSION_COOKIE, SessionData, cookie_value, new_nonce, plausible_nonce, set_cookie,
};

/// Handlers answer a page or an error page.
pub type Page = Result<Response, Response>;

/// The logged-in staff member of a request.
pub struct Me {
    pub actor: Actor,
    pub user: User,
    pub session: SessionData,
    pub csrf: String,
}

impl Me {
    pub fn role(&self) -> Role {
        self.user.role
    }
}

/// A 303 redirect.
pub fn see_other(to: &str) -> Response {
    let loc = HeaderValue::from_str(to).unwrap_or_else(|_| HeaderValue::from_static("/admin"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, loc)]).into_response()
}

/// Percent-encode a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A local admin path that is safe to redirect to after login.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n == "/admin" || n.starts_with("/admin/") || n.starts_with("/admin?"))
                && !n.contains("//")
                && !n.contains('\\')
                && !n.starts_with("/admin/logout")
                && !n.starts_with("/admin/login")
                && n.len() < 512
                && n.bytes().all(|b| (0x21..0x7f).contains(&b)) =>
        {
            n.to_string()
        }
        _ => "/admin".to_string(),
    }
}

fn clear_session_cookie(secure: bool) -> String {
    set_cookie(SESSION_COOKIE, "", "/admin", 0, secure)
}

/// Storage trouble while checking a session or a login.
/// An accounts failure (only storage can fail there) as a page.
fn account_error_page(e: aduan_core::desk::DeskError) -> Response {
    match e {
        aduan_core::desk::DeskError::Store(s) => store_error_page(s),
        other => store_error_page(StoreError::Other(other.to_string())),
    }
}

pub fn store_error_page(e: StoreError) -> Response {
    match e {
        StoreError::Unavailable(_) | StoreError::Conflict => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Basis data sedang sibuk",
            "Basis data sedang sibuk atau tidak terjangkau. Silakan coba lagi sebentar lagi.",
            None,
        ),
        other => {
            tracing::error!(error = %other, "storage error on an admin page");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Kesalahan server",
                "Terjadi kesalahan penyimpanan data.",
                None,
            )
        }
    }
}

impl FromRequestParts<AppState> for Me {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Me, Response> {
        let secure = st.cfg.secure_cookie;
        let to_login = |clear: bool| {
            let next = if parts.method == axum::http::Method::GET {
                parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let target = if next.is_empty() || next == "/admin" {
                "/admin/login".to_string()
            } else {
                format!("/admin/login?next={}", enc(&safe_next(Some(&next))))
            };
            let mut r = see_other(&target);
            if clear && let Ok(v) = HeaderValue::from_str(&clear_session_cookie(secure)) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        };
        let Some(raw) = cookie_value(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login(false));
        };
        let Some(s) = st.keys.open(raw) else {
            return Err(to_login(true));
        };
        if s.expires <= st.desk.now().timestamp() {
            return Err(to_login(true));
        }
        // Logged out, logged out everywhere, or never recorded: on every replica.
        if !st
            .desk
            .accounts()
            .session_live(&s.nonce)
            .await
            .map_err(account_error_page)?
        {
            return Err(to_login(true));
        }
        let Ok(username) = Username::parse(&s.username) else {
            return Err(to_login(true));
        };
        let user = st
            .desk
            .accounts()
            .by_name(&username)
            .await
            .map_err(account_error_page)?;
        let user = match user {
            Some(u) if !u.disabled && u.role == s.role => u,
            _ => return Err(to_login(true)),
        };
        Ok(Me {
            actor: Actor::Staff {
                username: user.username.as_str().to_string(),
                role: user.role,
                bidang: user.bidang.clone(),
            },
            csrf: st.keys.csrf_token(&s.nonce),
            session: s,
            user,
        })
    }
}

/// The fields of an urlencoded form post, in order (repeated names allowed).
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// A text field with line ends normalised, `""` when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").replace("\r\n", "\n")
    }
    /// A text field, `None` when absent or blank.
    pub fn opt(&self, name: &str) -> Option<String> {
        let t = self.text(name);
        if t.trim().is_empty() { None } else { Some(t) }
    }
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match Form::<Vec<(String, String)>>::from_request(req, state).await {
            Ok(Form(v)) => Ok(Fields(v)),
            Err(e) => {
                let status = e.status();
                let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "Isian formulir terlalu besar."
                } else if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                    "Formulir harus dikirim sebagai application/x-www-form-urlencoded."
                } else {
                    "Isian formulir tidak dapat dibaca."
                };
                Err(error_page(
                    if status.is_client_error() {
                        status
                    } else {
                        StatusCode::BAD_REQUEST
                    },
                    "Formulir tidak valid",
                    msg,
                    None,
                ))
            }
        }
    }
}

/// Refuse a POST whose `csrf` field is not the session's token (403).
// The error is the finished refusal page, built once per request; boxing gains nothing.
#[allow(clippy::result_large_err)]
pub fn check_csrf(st: &AppState, me: &Me, f: &Fields) -> Result<(), Response> {
    match f.get("csrf") {
        Some(t) if st.keys.check_csrf(&me.session.nonce, t) => Ok(()),
        _ => Err(csrf_refused()),
    }
}

fn csrf_refused() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Permintaan ditolak",
        "Token keamanan formulir (CSRF) tidak cocok atau tidak ada. Muat ulang halaman lalu kirim kembali formulirnya.",
        Some("/admin"),
    )
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    keluar: Option<String>,
}

/// The login cookie of this request, or a new one (with its `Set-Cookie`).
fn login_cookie(st: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    match cookie_value(headers, LOGIN_COOKIE) {
        Some(v) if plausible_nonce(v) => (v.to_string(), None),
        _ => {
            let v = new_nonce();
            let c = set_cookie(LOGIN_COOKIE, &v, "/admin/login", 3600, st.cfg.secure_cookie);
            (v, Some(c))
        }
    }
}

fn login_form(
    st: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    username: &str,
    next: &str,
    error: Option<String>,
    notice: Option<&str>,
) -> Response {
    let (value, set) = login_cookie(st, headers);
    let mut r = page(
        status,
        "login.html",
        &serde_json::json!({
            "office": st.desk.config().office_name,
            "csrf": st.keys.login_token(&value, st.desk.now().timestamp()),
            "username": username,
            "next": next,
            "error": error,
            "notice": notice,
        }),
    );
    if let Some(c) = set
        && let Ok(v) = HeaderValue::from_str(&c)
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// `GET /admin/login`.
pub async fn login_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (next, out) = match q {
        Ok(Query(q)) => (q.next, q.keluar.is_some()),
        Err(_) => (None, false),
    };
    let next = safe_next(next.as_deref());
    let notice = out.then_some("Anda telah keluar.");
    login_form(&st, &headers, StatusCode::OK, "", &next, None, notice)
}

/// A fixed hash keeps the time of "no such user" close to that of a wrong password.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$WxvXuiyPA/7imi0kq1AhaEEz7TqCB4aRNsBuZc8f2ak";

/// The login form again with `error`, `status` and a `Retry-After` of `retry` seconds.
#[allow(clippy::too_many_arguments)]
fn refuse_login(
    st: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    username: &str,
    next: &str,
    error: String,
    retry: Option<u64>,
) -> Response {
    let mut r = login_form(st, headers, status, username, next, Some(error), None);
    if let Some(secs) = retry
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// `POST /admin/login`, in order of cost: the per-address limit (memory), the form and its
/// signed token (HMAC), a verification permit (503 at once when none is free), spending the
/// token (one insert), the username's lockout, then argon2 on the blocking pool.
pub async fn login_submit(
    State(st): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let now = st.desk.now();
    if let Err(wait) = st.address_limit.check(ip, now) {
        st.verifier.address_limited();
        return refuse_login(
            &st,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            "",
            "/admin",
            format!(
                "Terlalu banyak percobaan masuk dari alamat ini. Coba lagi dalam {wait} detik."
            ),
            Some(wait),
        );
    }
    let f = match Fields::from_request(req, &st).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let username = f.get("username").unwrap_or("").trim().to_string();
    let password = f.get("password").unwrap_or("").to_string();
    let next = safe_next(f.get("next"));
    // Double-submit: the cookie set by the form and the signed, still valid token in the form.
    let token = match (cookie_value(&headers, LOGIN_COOKIE), f.get("csrf")) {
        (Some(c), Some(t)) if plausible_nonce(c) => {
            st.keys.check_login_token(c, t, now.timestamp())
        }
        _ => None,
    };
    let Some((form_nonce, token_until)) = token else {
        return refuse_login(
            &st,
            &headers,
            StatusCode::FORBIDDEN,
            &username,
            &next,
            "Token keamanan formulir tidak cocok atau sudah kedaluwarsa. Silakan masuk kembali dari halaman ini."
                .into(),
            None,
        );
    };
    let Some(permit) = st.verifier.try_permit() else {
        tracing::warn!("admin login refused: every password check slot is busy");
        return refuse_login(
            &st,
            &headers,
            StatusCode::SERVICE_UNAVAILABLE,
            &username,
            &next,
            "Server sedang memproses banyak permintaan masuk. Silakan coba lagi dalam beberapa detik."
                .into(),
            Some(2),
        );
    };
    let until = chrono::DateTime::from_timestamp(token_until, 0).unwrap_or(now);
    match st
        .desk
        .accounts()
        .consume_login_token(&form_nonce, until)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            metrics::counter!("aduan_admin_login_refused_total", "reason" => "replayed")
                .increment(1);
            return refuse_login(
                &st,
                &headers,
                StatusCode::FORBIDDEN,
                &username,
                &next,
                "Formulir masuk ini sudah pernah dikirim. Silakan masuk kembali dari halaman ini."
                    .into(),
                None,
            );
        }
        Err(e) => return account_error_page(e),
    }
    let locked = |until: chrono::DateTime<chrono::Utc>| {
        let mins = ((until - now).num_seconds() + 59) / 60;
        format!(
            "Terlalu banyak percobaan masuk yang gagal untuk nama pengguna ini. Coba lagi dalam {} menit.",
            mins.max(1)
        )
    };
    if let Some(until) = st.lockout.locked_until(&username, now) {
        drop(permit);
        record_login_failure(&st, &username, None, "locked", now).await;
        return login_form(
            &st,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            &username,
            &next,
            Some(locked(until)),
            None,
        );
    }
    let user = match Username::parse(&username) {
        Ok(u) => st
            .desk
            .accounts()
            .by_name(&u)
            .await
            .map_err(account_error_page),
        Err(_) => Ok(None),
    };
    let user = match user {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    let phc = user
        .as_ref()
        .filter(|u| !u.disabled)
        .and_then(|u| u.password_hash.clone());
    let known = phc.is_some();
    let ok = if password.is_empty() || password.len() > 1024 {
        drop(permit);
        false
    } else {
        let phc = phc.unwrap_or_else(|| DUMMY_PHC.to_string());
        permit.verify(password, phc).await && known
    };
    let refusal = match &user {
        None => "unknown_user",
        Some(u) if u.disabled => "disabled",
        Some(u) if u.password_hash.is_none() => "no_password",
        Some(_) => "wrong_password",
    };
    let known_role = user.as_ref().map(|u| u.role);
    let user = match (ok, user) {
        (true, Some(u)) => u,
        _ => {
            record_login_failure(&st, &username, known_role, refusal, now).await;
            let msg = match st.lockout.record_failure(&username, now) {
                Some(until) => locked(until),
                None => "Nama pengguna atau kata sandi salah.".to_string(),
            };
            tracing::info!(username = %username.chars().take(64).collect::<String>(), "admin login failed");
            return login_form(
                &st,
                &headers,
                StatusCode::UNAUTHORIZED,
                &username,
                &next,
                Some(msg),
                None,
            );
        }
    };
    st.lockout.clear(&username);
    // No session without its audit entry and its row in the store.
    let audit = st.desk.audit();
    let entry =
        NewAuditEntry::by_name(user.username.as_str(), Some(user.role), actions::LOGIN, now);
    if let Err(e) = audit.record(entry).await {
        return account_error_page(e);
    }
    let ttl = st.cfg.session_ttl.num_seconds().max(60);
    let s = SessionData {
        username: user.username.as_str().to_string(),
        role: user.role,
        expires: now.timestamp() + ttl,
        nonce: new_nonce(),
    };
    if let Err(e) = st
        .desk
        .accounts()
        .start_session(
            &s.nonce,
            &user.username,
            now + chrono::Duration::seconds(ttl),
        )
        .await
    {
        return account_error_page(e);
    }
    tracing::info!(username = %s.username, role = %s.role, "admin login");
    let mut r = see_other(&next);
    for c in [
        set_cookie(
            SESSION_COOKIE,
            &st.keys.seal(&s),
            "/admin",
            ttl,
            st.cfg.secure_cookie,
        ),
        set_cookie(LOGIN_COOKIE, "", "/admin/login", 0, st.cfg.secure_cookie),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

/// Append a refused login (the username as typed, never the password). The refusal is
/// answered either way; a lost entry is logged.
async fn record_login_failure(
    st: &AppState,
    username: &str,
    role: Option<Role>,
    reason: &str,
    now: chrono::DateTime<chrono::Utc>,
) {
    let entry = NewAuditEntry::by_name(username, role, actions::LOGIN_FAILED, now)
        .with_detail(serde_json::json!({ "reason": reason }));
    if let Err(e) = st.desk.audit().record(entry).await {
        tracing::warn!(error = %e, "a failed login could not be written to the audit log");
    }
}

/// `POST /admin/logout`: revoke the session in the store (every replica, across restarts)
/// and clear the cookie.
pub async fn logout(State(st): State<AppState>, me: Result<Me, Response>, f: Fields) -> Response {
    let me = match me {
        Ok(me) => me,
        // Not logged in (any more): nothing to end.
        Err(_) => return see_other("/admin/login"),
    };
    if let Err(r) = check_csrf(&st, &me, &f) {
        return r;
    }
    if let Err(e) = st.desk.accounts().end_session(&me.session.nonce).await {
        // Not ended: say so (503), and still drop this browser's copy.
        let mut r = account_error_page(e);
        if let Ok(v) = HeaderValue::from_str(&clear_session_cookie(st.cfg.secure_cookie)) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
        return r;
    }
    tracing::info!(username = %me.session.username, "admin logout");
    // The session is ended either way; a lost entry is logged.
    let audit = st.desk.audit();
    if let Err(e) = audit.record(audit.entry(&me.actor, actions::LOGOUT)).await {
        tracing::warn!(error = %e, "the logout could not be written to the audit log");
    }
    let mut r = see_other("/admin/login?keluar=1");
    if let Ok(v) = HeaderValue::from_str(&clear_session_cookie(st.cfg.secure_cookie)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// The part of every page's context that describes the user.
pub fn me_json(st: &AppState, me: &Me) -> serde_json::Value {
    let bidang_name = me.user.bidang.as_ref().map(|b| {
        st.desk
            .config()
            .bidang
            .iter()
            .find(|x| &x.code == b)
            .map(|x| x.name.clone())
            .unwrap_or_else(|| b.to_string())
    });
    serde_json::json!({
        "username": me.user.username.as_str(),
        "display": me.user.display_name.clone().unwrap_or_else(|| me.user.username.as_str().to_string()),
        "role": me.role().as_str(),
        "role_label": role_label(me.role()),
        "bidang": me.user.bidang.as_ref().map(|b| b.as_str()),
        "bidang_name": bidang_name,
    })
}
