//! The running daemon. [`Application::build`] connects and migrates the database, binds the
//! listener (port 0 = a free port) and assembles the routes; [`Application::run`] serves
//! until the shutdown token is cancelled, then drains in-flight requests and joins every
//! task under a deadline, naming any it had to abandon.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aduan_core::desk::{Clock, Desk, DeskConfig, SystemClock};
use aduan_core::outbox::{Outbox, ReplySender};
use aduan_core::store::Store;
use aduan_core::templates::Templates;
use aduan_core::types::Channel;
use anyhow::Context;
use axum::extract::State as AxState;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::channels::ChannelConfig;
use crate::config::Runtime;

/// How long in-flight work may take after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// Last error per component, shown by `/readyz`.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<Mutex<HashMap<String, Option<String>>>>);

impl Health {
    pub fn set(&self, component: &str, error: Option<String>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(component.to_string(), error);
    }
    /// A callback a channel uses to report its last error (`None` = healthy again).
    pub fn reporter(&self, component: &str) -> Arc<dyn Fn(Option<String>) + Send + Sync> {
        let me = self.clone();
        let name = component.to_string();
        me.set(&name, None);
        Arc::new(move |e: Option<String>| {
            if let Some(err) = &e {
                metrics::counter!("aduan_channel_errors_total", "channel" => name.clone())
                    .increment(1);
                tracing::warn!(channel = %name, error = %err, "channel error");
            }
            me.set(&name, e)
        })
    }
    pub fn snapshot(&self) -> HashMap<String, Option<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The process-wide Prometheus recorder (installed once, shared by in-process test apps).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests); then ours stays local.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

#[derive(Clone)]
struct Ops {
    desk: Desk,
    store: Arc<dyn Store>,
    health: Health,
    metrics: PrometheusHandle,
}

/// A built, bound, not yet serving daemon.
pub struct Application {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    router: Router,
    desk: Desk,
    outbox: Outbox,
    shutdown: CancellationToken,
    health: Health,
    outbox_worker: bool,
    escalate_to: Vec<String>,
    digest_schedule: cron::Schedule,
    digest_delivery: Option<Arc<dyn crate::schedulers::DigestDelivery>>,
    /// The channels' background tasks, spawned by [`Application::run`].
    channel_tasks: Vec<(&'static str, aduan_http::channel::Task)>,
}

/// Options tests use to inject parts.
#[derive(Default)]
pub struct Overrides {
    pub clock: Option<Arc<dyn Clock>>,
    pub senders: HashMap<Channel, Arc<dyn ReplySender>>,
    /// Do not start the background outbox worker (tests drive `Outbox::run_once`).
    pub no_outbox_worker: bool,
    /// How digests are delivered (default: by SMTP when e-mail is configured).
    pub digest_delivery: Option<Arc<dyn crate::schedulers::DigestDelivery>>,
    /// Key of the admin pages' session cookies (default: see [`admin_session_key`]).
    pub admin_session_key: Option<[u8; 32]>,
}

impl Application {
    /// Connect, migrate, bind and assemble.
    pub async fn build(rt: Runtime, overrides: Overrides) -> anyhow::Result<Self> {
        let vault = crate::privacy::vault(&rt.settings.privacy)?;
        let store = aduan_store::connect(&rt.settings.database.url, vault)
            .await
            .with_context(|| {
                format!(
                    "opening database {}",
                    crate::config::mask_url_password(&rt.settings.database.url)
                )
            })?;
        store.migrate().await.context("applying migrations")?;
        let clock = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let health = Health::default();
        let shutdown = CancellationToken::new();
        let channels = ChannelConfig::all(&rt);
        // Platforms that will have a reply sender: the desk queues replies only for these.
        let mut senders = overrides.senders;
        let mut reply_channels = crate::channels::reply_platforms(&channels);
        reply_channels.extend(senders.keys().copied());
        let digest_delivery = match overrides.digest_delivery {
            Some(d) => Some(d),
            None => digest_delivery(&rt).map_err(|e| anyhow::anyhow!(e))?,
        };
        let outbox_worker = !overrides.no_outbox_worker;
        let desk = Desk::new(
            store.clone(),
            clock.clone(),
            desk_config(&rt, reply_channels),
        );
        let mut channel_routes = Router::new();
        let mut channel_tasks = Vec::new();
        let replica = replica_id();
        for cfg in channels.into_iter().filter(ChannelConfig::enabled) {
            let name = cfg.name();
            let ctx = aduan_http::channel::ChannelContext {
                desk: desk.clone(),
                health: health.reporter(name),
                shutdown: shutdown.clone(),
                replica_id: replica.clone(),
                max_attachment_bytes: rt.web.max_attachment_bytes,
            };
            let built = cfg.build(ctx)?;
            channel_routes = channel_routes.merge(built.routes);
            channel_tasks.extend(built.tasks);
            for (platform, sender) in built.senders {
                // A sender injected by a test wins over the configured one.
                senders.entry(platform).or_insert(sender);
            }
            tracing::debug!(channel = name, "channel built");
        }
        let templates = Arc::new(Templates::new(rt.template_overrides.clone())?);
        let outbox = Outbox::new(store.clone(), clock, templates, senders);
        let ops = Ops {
            desk: desk.clone(),
            store: store.clone(),
            health: health.clone(),
            metrics: metrics_handle(),
        };
        let mut router = Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics_page))
            .with_state(ops)
            .merge(aduan_admin::router(desk.clone()))
            .merge(channel_routes);
        let session_key = match overrides.admin_session_key {
            Some(k) => k,
            None => admin_session_key()?,
        };
        router = router.merge(aduan_admin_web::router(
            desk.clone(),
            aduan_admin_web::AdminWebConfig {
                session_key,
                secure_cookie: rt.settings.server.public_base_url.starts_with("https://"),
                session_ttl: chrono::Duration::hours(8),
            },
        ));
        let router = router
            .fallback(aduan_http::not_found)
            // Every answer, the staff API, webhooks and 404s included, carries the security
            // headers (the public and admin routers add them too, idempotently).
            .layer(axum::middleware::from_fn(aduan_http::security_headers))
            .layer(CatchPanicLayer::custom(panic_response))
            // Request spans name the path, never an access code or identity.
            .layer(TraceLayer::new_for_http().make_span_with(aduan_http::trace::request_span));
        let listener = tokio::net::TcpListener::bind(rt.listen)
            .await
            .with_context(|| format!("binding {}", rt.listen))?;
        let addr = listener.local_addr()?;
        Ok(Application {
            listener,
            addr,
            router,
            desk,
            outbox,
            shutdown,
            health,
            outbox_worker,
            escalate_to: rt.settings.sla.escalate_to.clone(),
            digest_schedule: rt.digest_schedule.clone(),
            digest_delivery,
            channel_tasks,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn desk(&self) -> &Desk {
        &self.desk
    }
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
    pub fn health(&self) -> &Health {
        &self.health
    }
    /// Cancelling this token shuts the daemon down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serve until the token is cancelled; then drain and join.
    pub async fn run(self) -> anyhow::Result<()> {
        let Application {
            listener,
            addr,
            router,
            desk,
            outbox,
            shutdown,
            outbox_worker,
            escalate_to,
            digest_schedule,
            digest_delivery,
            channel_tasks,
            ..
        } = self;
        let token = shutdown.clone();
        let mut tasks: Vec<(&'static str, JoinHandle<()>)> = Vec::new();
        if outbox_worker {
            tasks.push((
                "outbox",
                tokio::spawn(crate::outbox_task::run(
                    outbox,
                    token.clone(),
                    Duration::from_secs(1),
                )),
            ));
        }
        for (name, task) in channel_tasks {
            tasks.push((name, tokio::spawn(task)));
        }
        tasks.push((
            "sla",
            tokio::spawn(crate::schedulers::run_sla(
                desk.clone(),
                escalate_to,
                token.clone(),
                Duration::from_secs(30),
            )),
        ));
        tasks.push((
            "digest",
            tokio::spawn(crate::schedulers::run_digest(
                desk.clone(),
                digest_schedule,
                digest_delivery,
                token.clone(),
                Duration::from_secs(60),
            )),
        ));
        tasks.push((
            "calendar",
            tokio::spawn(calendar_watch(desk, token.clone())),
        ));
        tracing::info!("listening on {}", addr);
        let serve_token = token.clone();
        let server = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { serve_token.cancelled().await });
        let server = tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!(error = %e, "http server failed");
            }
        });
        token.cancelled().await;
        tracing::info!("shutting down: no new work, finishing in-flight requests");
        tasks.push(("http", server));
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        for (name, handle) in tasks {
            let abort = handle.abort_handle();
            if tokio::time::timeout_at(deadline, handle).await.is_err() {
                tracing::warn!(task = name, "task did not stop in time; abandoned");
                abort.abort();
            }
        }
        tracing::info!("stopped");
        Ok(())
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    aduan_http::ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error",
    )
    .into_response()
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn readyz(AxState(ops): AxState<Ops>) -> Response {
    let db = ops.store.ping().await;
    let channels = ops.health.snapshot();
    let channel_ok = channels.values().all(|e| e.is_none());
    // Warnings do not make the replica unready: it still serves correctly today.
    let warnings: Vec<String> = calendar_warning(&ops.desk).into_iter().collect();
    let body = serde_json::json!({
        "status": if db.is_ok() && channel_ok { "ready" } else { "not_ready" },
        "database": match &db { Ok(()) => "ok".to_string(), Err(e) => e.to_string() },
        "backend": ops.store.backend(),
        "channels": channels,
        "warnings": warnings,
    });
    let status = if db.is_ok() && channel_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// SPEC §6: from December 1 on, a calendar without next year's holidays is a warning.
fn calendar_warning(desk: &Desk) -> Option<String> {
    desk.config()
        .policy
        .calendar
        .next_year_warning(desk.now())
        .map(|m| m.to_string())
}

/// Log the calendar warning at start and then once per office day while it holds.
async fn calendar_watch(desk: Desk, token: CancellationToken) {
    let mut last_day = None;
    loop {
        if let Some(w) = calendar_warning(&desk) {
            let day = desk.config().policy.calendar.local_date(desk.now());
            if last_day != Some(day) {
                tracing::warn!(warning = %w, "calendar");
                last_day = Some(day);
            }
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}

async fn metrics_page(AxState(ops): AxState<Ops>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        ops.metrics.render(),
    )
        .into_response()
}

/// A desk over the configured database, for one-shot commands.
pub async fn desk_for_cli(rt: &Runtime) -> anyhow::Result<Desk> {
    let vault = crate::privacy::vault(&rt.settings.privacy)?;
    let store = aduan_store::connect(&rt.settings.database.url, vault)
        .await
        .context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    Ok(Desk::new(
        store,
        Arc::new(SystemClock),
        desk_config(rt, Default::default()),
    ))
}

/// The desk configuration from validated settings and the channels that can reply.
pub fn desk_config(rt: &Runtime, reply_channels: std::collections::HashSet<Channel>) -> DeskConfig {
    DeskConfig {
        office_name: rt.settings.office.name.clone(),
        ticket_prefix: rt.prefix.clone(),
        policy: rt.policy.clone(),
        bidang: rt.bidang.clone(),
        reply_channels,
        public_base_url: rt.settings.server.public_base_url.clone(),
    }
}

/// SMTP delivery of the digest when e-mail is configured.
pub fn digest_delivery(
    rt: &Runtime,
) -> Result<Option<Arc<dyn crate::schedulers::DigestDelivery>>, String> {
    let Some(sender) = crate::app::smtp_sender(rt)? else {
        return Ok(None);
    };
    let recipients = rt
        .settings
        .digest
        .recipients
        .iter()
        .map(|r| {
            r.parse()
                .map_err(|e| format!("`digest.recipients`: {r}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Arc::new(crate::mailer::SmtpDigest {
        sender,
        recipients,
        bidang_names: rt
            .bidang
            .iter()
            .map(|b| (b.code.to_string(), b.name.clone()))
            .collect(),
    })))
}

/// The SMTP sender of the e-mail channel, when it is enabled with an SMTP host.
pub fn smtp_sender(rt: &Runtime) -> Result<Option<Arc<aduan_channel_email::SmtpSender>>, String> {
    let e = &rt.settings.channels.email;
    if !e.enabled || e.smtp_host.trim().is_empty() {
        return Ok(None);
    }
    let settings = e.smtp_settings()?;
    aduan_channel_email::SmtpSender::new(settings)
        .map(|s| Some(Arc::new(s)))
        .map_err(|e| format!("`channels.email`: {e}"))
}

/// This replica's id, the holder of mailbox leases: `ADUAN_REPLICA_ID`, else the host name.
/// It stays the same across restarts, so a daemon restarted after a crash resumes reading
/// its mailbox at once instead of waiting for its own old lease to expire; replicas on one
/// host must set distinct `ADUAN_REPLICA_ID`s.
pub fn replica_id() -> String {
    std::env::var("ADUAN_REPLICA_ID")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "aduan".into())
        })
}

/// The admin pages' session key: derived from `ADUAN_ADMIN_SESSION_SECRET` (set the same
/// value on every replica), else kept in `data/admin-session.key` (created, mode 0600).
pub fn admin_session_key() -> anyhow::Result<[u8; 32]> {
    if let Ok(secret) = std::env::var("ADUAN_ADMIN_SESSION_SECRET")
        && !secret.is_empty()
    {
        return Ok(aduan_admin_web::session_key_from_secret(secret.as_bytes()));
    }
    let path = std::path::Path::new("data/admin-session.key");
    aduan_admin_web::load_or_create_session_key(path)
        .with_context(|| format!("reading or creating {}", path.display()))
}
