//! A request whose client goes away is still carried out to its end, and shutdown waits for
//! it: the handler runs in a task of its own, tracked with the connections, so a closed
//! connection (or a client that gives up) cannot drop its work half-way — on PostgreSQL a
//! database call dropped inside sqlx's `BEGIN` left its pooled connection inside a
//! transaction that the next request then got.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aduan_http::server::{ServerLimits, serve};
use axum::Router;
use axum::routing::post;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_runs_to_its_end_when_the_client_closes_the_connection() {
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (s, f) = (started.clone(), finished.clone());
    let router = Router::new().route(
        "/slow",
        post(move || {
            let (s, f) = (s.clone(), f.clone());
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
                f.fetch_add(1, Ordering::SeqCst);
                "done"
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(
        listener,
        router,
        ServerLimits::default(),
        shutdown.clone(),
    ));

    for _ in 0..3 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        // Wait until the handler is under way, then hang up without reading the answer.
        let before = started.load(Ordering::SeqCst);
        for _ in 0..200 {
            if started.load(Ordering::SeqCst) > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        c.shutdown().await.unwrap();
        drop(c);
    }
    assert_eq!(
        started.load(Ordering::SeqCst),
        3,
        "every request reached its handler"
    );
    // Shut down at once: the server returns only once every handler has run to its end,
    // those whose client left included.
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stops")
        .unwrap();
    assert_eq!(
        finished.load(Ordering::SeqCst),
        3,
        "a handler was dropped half-way when its client closed the connection, \
         or the server stopped before it ended"
    );
}
