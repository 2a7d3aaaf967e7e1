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
    senders: crate::channels::SenderHealth,
    metrics: PrometheusHandle,
}

/// Longest `/readyz` waits for the database: a database that is down (connections refused
/// or hanging) answers "not ready" within this, instead of after the pool's acquire timeout.
pub const READYZ_DB_TIMEOUT: Duration = Duration::from_millis(1500);

/// A built, bound, not yet serving daemon.
pub struct Application {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    router: Router,
    /// `[server]` bounds the listener serves within.
    server_limits: aduan_http::server::ServerLimits,
    desk: Desk,
    outbox: Outbox,
    shutdown: CancellationToken,
    health: Health,
    outbox_worker: bool,
    sla_timer: bool,
    escalate_to: Vec<String>,
    digest_schedule: cron::Schedule,
    digest_delivery: Option<Arc<dyn crate::schedulers::DigestDelivery>>,
    /// The channels' background tasks, spawned by [`Application::run`].
    channel_tasks: Vec<(&'static str, aduan_http::channel::Task)>,
    outbox_poll: Duration,
    sla_recheck: Duration,
}

/// Options tests use to inject parts.
#[derive(Default)]
pub struct Overrides {
    pub clock: Option<Arc<dyn Clock>>,
    pub senders: HashMap<Channel, Arc<dyn ReplySender>>,
    /// Do not start the background outbox worker (tests drive `Outbox::run_once`).
    pub no_outbox_worker: bool,
    /// Do not start the SLA timer (tests drive `escalate_due` on a manual clock).
    pub no_sla_timer: bool,
    /// How digests are delivered (default: by SMTP when e-mail is configured).
    pub digest_delivery: Option<Arc<dyn crate::schedulers::DigestDelivery>>,
    /// Key of the admin pages' session cookies (default: see [`admin_session_key`]).
    pub admin_session_key: Option<[u8; 32]>,
    /// The outbox worker's fallback poll (default [`OUTBOX_POLL`]; commits wake it anyway).
    pub outbox_poll: Option<Duration>,
    /// The SLA timer's longest sleep (default [`SLA_RECHECK`]; it sleeps until the earliest
    /// due time and commits setting an earlier one wake it).
    pub sla_recheck: Option<Duration>,
}

/// The outbox worker's fallback poll: commits queueing replies wake it at once (in process,
/// and from other replicas through PostgreSQL `NOTIFY`); the poll only bounds how long a
/// missed notification can delay a reply.
pub const OUTBOX_POLL: Duration = Duration::from_secs(1);

/// The SLA timer's longest sleep (fallback, like [`OUTBOX_POLL`]).
pub const SLA_RECHECK: Duration = Duration::from_secs(30);

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
        let replica = rt.replica_id.clone();
        tracing::info!(
            replica_id = %replica,
            generated = rt.replica_id_generated,
            "replica id (holder of the mailbox and Telegram-poller leases)"
        );
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
        // Every sender reports its last error to `/readyz` (`senders`).
        let sender_health = crate::channels::SenderHealth::default();
        let senders = senders
            .into_iter()
            .map(|(platform, s)| (platform, sender_health.watch(platform, s)))
            .collect();
        let outbox = Outbox::new(store.clone(), clock, templates, senders)
            .with_retry_for(rt.settings.outbox.retry_for());
        let ops = Ops {
            desk: desk.clone(),
            store: store.clone(),
            health: health.clone(),
            senders: sender_health,
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
                login: aduan_admin_web::LoginLimits::default(),
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
            server_limits: rt.server.clone(),
            desk,
            outbox,
            shutdown,
            health,
            outbox_worker,
            sla_timer: !overrides.no_sla_timer,
            escalate_to: rt.settings.sla.escalate_to.clone(),
            digest_schedule: rt.digest_schedule.clone(),
            digest_delivery,
            channel_tasks,
            outbox_poll: overrides.outbox_poll.unwrap_or(OUTBOX_POLL),
            sla_recheck: overrides.sla_recheck.unwrap_or(SLA_RECHECK),
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
            server_limits,
            desk,
            outbox,
            shutdown,
            outbox_worker,
            sla_timer,
            escalate_to,
            digest_schedule,
            digest_delivery,
            channel_tasks,
            outbox_poll,
            sla_recheck,
            ..
        } = self;
        let token = shutdown.clone();
        let mut tasks: Vec<(&'static str, JoinHandle<()>)> = Vec::new();
        if outbox_worker {
            tasks.push((
                "outbox",
                tokio::spawn(crate::outbox_task::run(outbox, token.clone(), outbox_poll)),
            ));
        }
        for (name, task) in channel_tasks {
            tasks.push((name, tokio::spawn(task)));
        }
        if sla_timer {
            tasks.push((
                "sla",
                tokio::spawn(crate::schedulers::run_sla(
                    desk.clone(),
                    escalate_to,
                    token.clone(),
                    sla_recheck,
                )),
            ));
        }
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
        // Bounded: request timeout, connection limit, the client address of each request
        // (trusted proxies); on the token it stops accepting and drains.
        let server = tokio::spawn(aduan_http::server::serve(
            listener,
            router,
            server_limits,
            token.clone(),
        ));
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

/// Ready when the database answers (within [`READYZ_DB_TIMEOUT`], its storage writable on
/// SQLite) and every channel's intake is healthy. Reply senders that are down are listed
/// under `senders` and as warnings but leave the replica ready: it still takes complaints,
/// and their replies wait in the outbox (docs/faults.md).
async fn readyz(AxState(ops): AxState<Ops>) -> Response {
    let db = match tokio::time::timeout(READYZ_DB_TIMEOUT, ops.store.ping()).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "the database did not answer within {} ms",
            READYZ_DB_TIMEOUT.as_millis()
        )),
    };
    let channels = ops.health.snapshot();
    let channel_ok = channels.values().all(|e| e.is_none());
    let senders = ops.senders.snapshot();
    // Warnings do not make the replica unready: it still serves correctly today.
    let mut warnings: Vec<String> = calendar_warning(&ops.desk).into_iter().collect();
    let mut down: Vec<_> = senders
        .iter()
        .filter_map(|(p, e)| e.as_ref().map(|e| (p, e)))
        .collect();
    down.sort();
    warnings.extend(down.into_iter().map(|(p, e)| {
        format!("replies on {p} cannot be sent ({e}); they wait in the outbox and are retried")
    }));
    let ready = db.is_ok() && channel_ok;
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "database": match &db { Ok(()) => "ok".to_string(), Err(e) => e.clone() },
        "backend": ops.store.backend(),
        "channels": channels,
        "senders": senders,
        "warnings": warnings,
    });
    let status = if ready {
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
    let parse = |key: &str, list: &[String]| {
        list.iter()
            .map(|r| r.parse().map_err(|e| format!("`digest.{key}`: {r}: {e}")))
            .collect::<Result<Vec<_>, _>>()
    };
    let recipients = parse("recipients", &rt.settings.digest.recipients)?;
    let iso_recipients = parse("iso_recipients", &rt.settings.digest.iso_recipients)?;
    Ok(Some(Arc::new(crate::mailer::SmtpDigest {
        sender,
        recipients,
        iso_recipients,
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
