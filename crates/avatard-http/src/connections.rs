//! The accept loop: hyper's HTTP/1 and HTTP/2 with limits on what a client may send before a
//! handler sees the request, so slow or oversized heads cost a bounded amount of memory and time.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use futures_util::FutureExt as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::{AppState, app, is_avatar_request};

/// The most bytes of request line and headers hyper buffers (it answers 431 beyond).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Timeouts against clients that send slowly on purpose (slowloris).
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From the first byte of a request (or the start of an idle keep-alive wait) to the end of
    /// its headers.
    pub header_read: Duration,
    /// The longest pause between two pieces of a request body.
    pub body_idle: Duration,
}

/// Serve until `shutdown` resolves, then let the requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(state, timeouts.body_idle);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read)
        // The most header fields a request may carry (431 beyond) is hyper's default, 100.
        // Setting it, even to the same number, makes hyper initialise an array on every request.
        .max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD_BYTES as u32);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors, a connection reset before accept: nothing to do but
                    // breathe and go on.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            // Only the API asks who the client is (rate limits, login blocks); the extension
            // costs an allocation that the avatar hot path does without.
            if !is_avatar_request(&request) {
                request.extensions_mut().insert(ConnectInfo(peer));
            }
            app.handle(request.map(Body::new)).map(Ok::<_, Infallible>)
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
