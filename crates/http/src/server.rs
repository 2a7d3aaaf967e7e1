//! The HTTP server with bounds (SPEC §2 `[server]`): HTTP/1.1 over hyper, each connection
//! limited in time and the connections limited in number.
//!
//! - `request_timeout` covers a whole request, headers included, from its first byte:
//!   headers not complete by then close the connection (hyper's header-read timer, which
//!   also ends a keep-alive connection that stays silent that long); a body still arriving
//!   at the deadline fails for the handler, and the answer is `408` with
//!   `Connection: close` (JSON, or a short Indonesian page for a browser). A client that
//!   stops reading its answer for that long is cut off as well. The handler's own work is
//!   never cut: a complaint committed is always answered, and a handler whose client hung
//!   up runs to its end in its own task.
//! - `max_connections`: a connection over the limit is accepted and closed at once, with a
//!   best-effort `503` — the listen queue keeps draining, so the moment held connections go
//!   (or time out), `/healthz` and everything else answer again for everyone.
//! - Each request carries its [`ClientAddr`] ([`crate::client`]) and axum's
//!   `ConnectInfo<SocketAddr>`.
//! - Shutdown: the token stops accepting, tells every connection to finish its request in
//!   flight and close; [`serve`] returns when all have, and every handler whose client
//!   left before its answer has ended too.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::client::{ClientAddr, TrustedProxies, client_addr};

/// `[server]` bounds.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A whole request, headers included; also how long a client may leave its answer
    /// unread, and a keep-alive connection silent.
    pub request_timeout: Duration,
    /// Connections open at once; more are closed at once.
    pub max_connections: usize,
    /// Whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
}

/// SPEC §2 default of `request_timeout`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// SPEC §2 default of `max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

/// What a connection over `max_connections` is told before it is closed.
fn refusal() -> Vec<u8> {
    let body = r#"{"error":{"code":"unavailable","message":"too many connections; please retry"}}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serve `router` on `listener` within `limits` until `shutdown` is cancelled, then let
/// the requests in flight finish and return.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: CancellationToken,
) {
    let limits = Arc::new(limits);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let tracker = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    if !matches!(e.kind(),
                        std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::Interrupted)
                    {
                        // Out of file descriptors or the like: give it a moment.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            metrics::counter!("aduan_http_connections_refused_total").increment(1);
            tracing::debug!("connection over max_connections closed");
            // Best effort, never waiting: the socket's buffer takes it or it is dropped.
            let _ = stream.try_write(&refusal());
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let limits = limits.clone();
        let router = router.clone();
        let shutdown = shutdown.clone();
        let handlers = tracker.clone();
        tracker.spawn(async move {
            serve_connection(stream, peer, router, limits, shutdown, handlers).await;
            drop(permit);
        });
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Arc<ServerLimits>,
    shutdown: CancellationToken,
    handlers: TaskTracker,
) {
    let timeout = limits.request_timeout;
    let started = Arc::new(RequestStart::default());
    let io = TokioIo::new(Guarded::new(stream, timeout, started.clone()));
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        handle(
            router.clone(),
            req,
            peer,
            limits.clone(),
            started.clone(),
            handlers.clone(),
        )
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        _ = shutdown.cancelled() => {}
    }
    conn.as_mut().graceful_shutdown();
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

async fn handle(
    router: Router,
    req: Request<Incoming>,
    peer: SocketAddr,
    limits: Arc<ServerLimits>,
    started: Arc<RequestStart>,
    handlers: TaskTracker,
) -> Result<Response<Body>, Infallible> {
    let deadline = started.take().unwrap_or_else(Instant::now) + limits.request_timeout;
    let expired = Arc::new(AtomicBool::new(false));
    let (mut parts, body) = req.into_parts();
    let client = client_addr(peer.ip(), &parts.headers, &limits.trusted_proxies);
    parts.extensions.insert(ConnectInfo(peer));
    parts.extensions.insert(ClientAddr(client));
    let wants_html = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let body = Body::new(DeadlineBody {
        inner: body,
        deadline,
        sleep: None,
        expired: expired.clone(),
    });
    // The handler runs in a task of its own: a client that closes its connection makes
    // hyper drop this future, and a handler dropped half-way could leave a database call
    // cancelled inside its transaction (PostgreSQL: inside sqlx's `BEGIN`, the pooled
    // connection left in a transaction the next request gets) or work done but not
    // recorded. The task always runs to its end; only its answer is lost. It is tracked
    // with the connections, so shutdown waits for it too.
    let work = handlers.spawn(router.oneshot(Request::from_parts(parts, body)));
    let resp = match work.await {
        Ok(r) => r.unwrap_or_else(|never| match never {}),
        Err(e) => {
            // A handler that panicked past the router's catch, or was cancelled by the
            // runtime shutting down: the answer axum's own catch gives a panic.
            tracing::error!(error = %e, "a request handler did not finish");
            return Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response());
        }
    };
    // The next request's clock starts with its own first byte.
    started.reset();
    if expired.load(Ordering::Relaxed) {
        metrics::counter!("aduan_http_request_timeouts_total").increment(1);
        return Ok(timed_out(wants_html));
    }
    Ok(resp)
}

/// The answer to a request whose body did not arrive within `request_timeout`.
fn timed_out(html: bool) -> Response<Body> {
    let mut resp = if html {
        (
            StatusCode::REQUEST_TIMEOUT,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html>\n<html lang=\"id\"><head><meta charset=\"utf-8\">\
             <title>Waktu habis</title></head><body><h1>Waktu habis</h1>\
             <p>Kiriman Anda tidak selesai diterima dalam batas waktu. \
             Silakan coba lagi, misalnya dengan lampiran yang lebih kecil.</p></body></html>\n",
        )
            .into_response()
    } else {
        crate::ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request did not arrive within the server's request timeout",
        )
        .into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// When the request now being read began: the first byte read after the previous answer
/// (nanoseconds since `base`, 0 = none yet).
struct RequestStart {
    base: Instant,
    at: AtomicU64,
}

impl Default for RequestStart {
    fn default() -> Self {
        RequestStart {
            base: Instant::now(),
            at: AtomicU64::new(0),
        }
    }
}

impl RequestStart {
    fn mark(&self) {
        let nanos = (self.base.elapsed().as_nanos() as u64).max(1);
        let _ = self
            .at
            .compare_exchange(0, nanos, Ordering::Relaxed, Ordering::Relaxed);
    }
    fn take(&self) -> Option<Instant> {
        match self.at.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.base + Duration::from_nanos(n)),
        }
    }
    fn reset(&self) {
        self.at.store(0, Ordering::Relaxed);
    }
}

/// The connection's socket: notes when a request's first byte arrives, and fails a write
/// the client has left unread for `timeout`.
struct Guarded {
    stream: TcpStream,
    timeout: Duration,
    started: Arc<RequestStart>,
    write_stall: Option<Pin<Box<Sleep>>>,
}

impl Guarded {
    fn new(stream: TcpStream, timeout: Duration, started: Arc<RequestStart>) -> Self {
        Guarded {
            stream,
            timeout,
            started,
            write_stall: None,
        }
    }

    /// After a write returned `Pending`: an error once the client has not read for
    /// `timeout`.
    fn stalled(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        let timeout = self.timeout;
        let stall = self
            .write_stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stall.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading its answer",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.started.mark();
        }
        r
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, data) {
            Poll::Pending => self.stalled(cx).map(Err),
            ready => {
                self.write_stall = None;
                ready
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.stalled(cx).map(Err),
            ready => {
                self.write_stall = None;
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A request body that fails once the request's deadline has passed (and says so).
struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

impl DeadlineBody {
    fn expire(&self) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        self.expired.store(true, Ordering::Relaxed);
        Poll::Ready(Some(Err(
            "request body not received within the request timeout".into(),
        )))
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if Instant::now() >= self.deadline {
            return self.expire();
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(r) => Poll::Ready(r.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let deadline = self.deadline;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => self.expire(),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
