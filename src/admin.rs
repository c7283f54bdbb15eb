//! The admin listener: `GET /metrics` (Prometheus text), `GET /healthz` (the
//! process is alive), `GET /readyz` (listeners up, storage reachable, not draining).
//! Probe requests are not logged, so health checks do not flood the log.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::frontend::http::exchange::{Body, full};
use crate::storage::Backend;

/// What the admin endpoints report on.
pub struct AdminState {
    /// Renders the metrics.
    pub metrics: PrometheusHandle,
    /// Probed by `/readyz`.
    pub storage: Arc<dyn Backend>,
    /// False while starting and once draining.
    pub ready: AtomicBool,
}

async fn route(req: Request<Incoming>, state: Arc<AdminState>) -> Result<Response<Body>, Infallible> {
    let (status, ctype, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => (StatusCode::OK, "text/plain; version=0.0.4", state.metrics.render()),
        (&Method::GET, "/healthz") => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        (&Method::GET, "/readyz") => {
            let probe = tokio::time::timeout(Duration::from_secs(2), state.storage.probe()).await;
            match (state.ready.load(Ordering::Acquire), probe) {
                (true, Ok(Ok(()))) => (StatusCode::OK, "text/plain", "ready\n".to_owned()),
                (false, _) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "not ready: starting or draining\n".to_owned(),
                ),
                (true, _) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "not ready: storage unreachable\n".to_owned(),
                ),
            }
        }
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found; try /metrics, /healthz or /readyz\n".to_owned(),
        ),
    };
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(ctype));
    Ok(resp)
}

/// Asks the admin port at `addr` for `path` (`/healthz`, `/readyz`) with a plain
/// HTTP/1.1 request, within `timeout`; the status code. An unspecified address
/// (`0.0.0.0`, `::`) is asked on loopback.
pub fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(match target.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let mut stream = std::net::TcpStream::connect_timeout(&target, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < 12 {
        match stream.read(&mut head[len..])? {
            0 => break,
            n => len += n,
        }
    }
    // "HTTP/1.1 200 ..."
    std::str::from_utf8(&head[..len])
        .ok()
        .and_then(|s| s.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response"))
}

/// Serves the admin endpoints until shutdown.
pub async fn serve(listener: TcpListener, state: Arc<AdminState>, shutdown: CancellationToken) {
    loop {
        let (stream, _) = tokio::select! {
            () = shutdown.cancelled() => break,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| route(req, state.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
