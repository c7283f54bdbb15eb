//! The HTTP front-end: a hyper server (HTTP/1.1 with keep-alive, HTTP/2 by prior
//! knowledge) whose every request is lifted into a command record and run through
//! the same pipeline as FTP.
//!
//! Connections are served by [`serve_on_threads`]: one worker thread per core,
//! each with its own single-threaded runtime, dealt connections in turn by one
//! acceptor (nginx's worker model). A request then never crosses threads: no work
//! stealing and no cross-core wake-ups, which on a small request cost as much as
//! the request itself.
//!
//! Each request's pipeline answers through a one-shot
//! [`Responder`](crate::response::http::Responder): the status and headers go out
//! as soon as a handler sends them, the body streams while the handler is still
//! running, and LOG_CMD runs when the body is done — so logs and metrics see the
//! real outcome and byte count. Header size, header read time, keep-alive idle
//! time and the pace of request bodies are all bounded. On a plain HTTP/1.x
//! connection a local file's body goes from the file to the socket with
//! `sendfile`, inside hyper's own framing (see [`sendfile`]).
//!
//! An HTTP/1.1 connection is served in rounds: between requests hyper hands it
//! back, and an idle keep-alive connection waits for its next bytes holding no
//! buffer (a few hundred bytes instead of hyper's ~17 KiB; see [`read_guard`]).
//!
//! Framing that hyper lets through but the server will not serve (a missing or
//! doubled `Host`, a transfer coding other than `chunked`) and `OPTIONS *` are
//! decided in the [`lift`], so that they go through the pipeline and are logged
//! and counted like every request.

pub mod davlock;
pub mod exchange;
pub mod lift;
mod read_guard;
mod receive;
pub mod sendfile;
pub mod webdav;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::exchange::{HttpExchange, full};
use self::read_guard::{Activity, Open, ReadGuard, Socket, Version};
use self::sendfile::{Chunk, Link, Outgoing};
use super::ConnectionLimiter;
use crate::auth::ClientCertificate;
use crate::command::Protocol;
use crate::pipeline::Pipeline;
use crate::response::http::Responder;
use crate::session::Session;

/// hyper's smallest HTTP/1 head limit: a head limit below it is checked per
/// request ([`head_len`]).
const HYPER_MIN_BUF: usize = 8192;
/// The most an HTTP/1 connection reads at once. hyper's read buffer starts at
/// 8 KiB and doubles while reads fill it, up to this, so a request body streams
/// in through reads of up to 256 KiB (a 1 GiB PUT: half the CPU and twice the
/// rate of 16 KiB reads, measured); request heads are bounded apart
/// (`max_header_size`). hyper also queues a response's pieces up to this much
/// before it writes them out: a streamed response (TLS, object stores, listings)
/// may be up to 256 KiB ahead of the socket, and an aborted one's byte count
/// includes what was queued.
const HYPER_READ_MAX: usize = 256 * 1024;
/// hyper's limit on an HTTP/1 request's header fields when none is set.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// Runtime HTTP settings (from the config).
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Keep-alive idle time and header read time.
    pub idle_timeout: Duration,
    /// The window of the request-body pace rule (`limits.data_timeout`): see
    /// [`exchange::BodyPace`].
    pub body_timeout: Duration,
    /// Longest TLS handshake (`limits.tls_handshake_timeout`).
    pub handshake_timeout: Duration,
    /// Largest request head, in bytes.
    pub max_header_bytes: usize,
    /// Most header fields in one request.
    pub max_headers: usize,
    /// Basic auth realm.
    pub realm: String,
    /// Most blocking-pool threads of each worker's runtime (`limits.max_blocking_threads`).
    pub max_blocking_threads: usize,
    /// The methods allowed over the back-end (`Allow` of 405 replies).
    pub allow: &'static str,
    /// Cancelled when the drain deadline passes: request bodies still arriving
    /// are refused with 503 and response bodies still going out are cut, and both
    /// are logged as interrupted.
    pub interrupt: tokio_util::sync::CancellationToken,
}

/// What every HTTP connection shares.
#[derive(Debug)]
pub struct HttpContext {
    /// The pipeline.
    pub pipeline: Arc<Pipeline>,
    /// Settings.
    pub settings: HttpSettings,
    /// Connection limits shared with FTP.
    pub limiter: Arc<ConnectionLimiter>,
    /// HTTPS (ALPN h2 and http/1.1), when configured.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// PROXY protocol from trusted load balancers.
    pub proxy: super::proxy::ProxyPolicy,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Pipelines that outlive their first poll (streamed bodies, uploads): every
    /// HTTP thread waits for them before its runtime stops, so LOG_CMD always runs.
    pub requests: TaskTracker,
}

/// Serves `listener` on `threads` worker threads (at least one), each running
/// its own single-threaded runtime. One acceptor task (on the caller's runtime)
/// deals accepted connections to the workers in turn, so the load is spread
/// evenly however the kernel would wake them. Each worker holds a token of
/// `tracker` until its connections and the requests they started are done, so
/// the server's drain waits for HTTP as for FTP.
pub fn serve_on_threads(
    listener: TcpListener,
    ctx: Arc<HttpContext>,
    tracker: &TaskTracker,
    threads: usize,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut workers = Vec::with_capacity(threads.max(1));
    for i in 0..threads.max(1) {
        // Bounded: an acceptor far ahead of a stalled worker waits instead of queueing without limit.
        let (tx, rx) = tokio::sync::mpsc::channel::<(std::net::TcpStream, SocketAddr)>(1024);
        let ctx = ctx.clone();
        let token = tracker.token();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(ctx.settings.max_blocking_threads.max(1))
            .build()?;
        std::thread::Builder::new().name(format!("http-{i}")).spawn(move || {
            runtime.block_on(worker(rx, ctx));
            drop(token);
        })?;
        workers.push(tx);
    }
    Ok(tokio::spawn(async move {
        let mut next = 0usize;
        while let Some((stream, peer)) = super::accept(&listener, &ctx.shutdown, "http").await {
            let Ok(stream) = stream.into_std() else { continue };
            // A worker gone (it cannot be, short of a panic) loses only this connection.
            let _ = workers[next % workers.len()].send((stream, peer)).await;
            next = next.wrapping_add(1);
        }
        // Dropping the senders ends the workers once their connections are done.
    }))
}

/// One HTTP worker: serves the connections it is dealt until the acceptor stops,
/// then lets them and their requests finish. Connections watch `ctx.shutdown`
/// themselves: idle ones close, busy ones finish their request with
/// `Connection: close` (HTTP/1.1) or `GOAWAY` (HTTP/2).
async fn worker(
    mut connections: tokio::sync::mpsc::Receiver<(std::net::TcpStream, SocketAddr)>,
    ctx: Arc<HttpContext>,
) {
    let tasks = TaskTracker::new();
    while let Some((stream, peer)) = connections.recv().await {
        match TcpStream::from_std(stream) {
            Ok(stream) => {
                tasks.spawn(connection(stream, peer, ctx.clone()));
            }
            Err(e) => tracing::warn!(error = %e, "an accepted HTTP connection could not be registered"),
        }
    }
    tasks.close();
    tasks.wait().await;
    ctx.requests.close();
    ctx.requests.wait().await;
}

/// One accepted connection: PROXY header, limits, TLS, then HTTP.
///
/// The steps before HTTP are boxed: a task's future is as large as its largest
/// state, and an idle connection should keep only what it needs while idle.
async fn connection(mut stream: TcpStream, socket_peer: SocketAddr, ctx: Arc<HttpContext>) {
    // From a trusted proxy, the client is the one its PROXY header names.
    // Each boxed future is made in a statement of its own: a temporary that
    // lives across an `.await` is kept in this future's state even once moved.
    let proxied = Box::pin(ctx.proxy.client(&mut stream, socket_peer));
    let peer = match proxied.await {
        Ok(peer) => peer,
        Err(e) => {
            tracing::warn!(peer = %socket_peer, error = %e, "connection from a trusted proxy without a valid PROXY header closed");
            return;
        }
    };
    let slot = match ctx.limiter.acquire(peer.ip()) {
        Ok(slot) => slot,
        Err(refusal) => {
            ctx.limiter.refused("http", refusal, peer.ip());
            let refusal = Box::pin(refuse(stream));
            refusal.await;
            return;
        }
    };
    let Ok(local) = stream.local_addr() else { return };
    let _ = stream.set_nodelay(true);
    metrics::gauge!(crate::metrics::SESSIONS_ACTIVE, "protocol" => "http").increment(1.0);
    match ctx.tls.clone() {
        None => {
            let conn = Arc::new(Connection {
                peer,
                local,
                tls: false,
                certificate: None,
                activity: Activity::default(),
                sendfile: Some(Arc::default()),
                stalled: CancellationToken::new(),
            });
            serve(stream, &ctx, conn).await;
        }
        Some(config) => {
            // Boxed: the TLS state (over 1 KiB) would otherwise size every connection's task.
            let tls = Box::pin(serve_tls(config, stream, peer, local, &ctx));
            tls.await;
        }
    }
    metrics::gauge!(crate::metrics::SESSIONS_ACTIVE, "protocol" => "http").decrement(1.0);
    drop(slot);
}

/// The TLS handshake, then HTTP over it.
async fn serve_tls(
    config: Arc<rustls::ServerConfig>,
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    ctx: &Arc<HttpContext>,
) {
    match crate::tls::accept(config, stream, "http", ctx.settings.handshake_timeout).await {
        Ok((tls, _)) => {
            let conn = Arc::new(Connection {
                peer,
                local,
                tls: true,
                certificate: crate::tls::client_certificate(tls.get_ref().1),
                activity: Activity::default(),
                sendfile: None,
                stalled: CancellationToken::new(),
            });
            serve(tls, ctx, conn).await;
        }
        Err(e) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
    }
}

/// What every request of one connection shares.
struct Connection {
    peer: SocketAddr,
    local: SocketAddr,
    tls: bool,
    /// The verified client certificate of the TLS handshake (mutual TLS).
    certificate: Option<Arc<ClientCertificate>>,
    /// Requests in progress, for [`ReadGuard`]'s rounds.
    activity: Activity,
    /// Plain TCP: HTTP/1.x file bodies go out with `sendfile` ([`sendfile`]).
    sendfile: Option<Arc<Link>>,
    /// Cancelled when a response of this connection took nothing for
    /// `limits.data_timeout` while the socket could take more (an HTTP/2
    /// stream whose window the client keeps closed): the connection ends.
    stalled: CancellationToken,
}

/// A response body that marks its request finished when hyper drops it (see
/// [`read_guard`]).
struct Served {
    body: Outgoing,
    _open: Open,
}

impl http_body::Body for Served {
    type Data = Chunk;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// How long closing a connection may take (a TLS `close_notify` to a client
/// that does not read).
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// A lingering close reads what the client still sends for this long at most
/// (1 s for a connection refused over the limit: it holds no slot)…
const LINGER_TIME: Duration = Duration::from_secs(5);

/// …and stops once the client has sent nothing for this long.
const LINGER_QUIET: Duration = Duration::from_secs(1);

/// Ends a connection with a lingering close (RFC 9112 §9.6): sends what is
/// written and FIN, then reads and drops what the client still sends until it
/// closes, goes quiet for [`LINGER_QUIET`], or `linger` has passed.
/// Closing with request bytes unread (a body refused before it was read, or
/// requests pipelined after a `Connection: close`) would make the kernel send a
/// reset, which can reach the client before it has read its answer — a client
/// still sending its body fails with a broken connection instead of the `412`
/// or `413` it was sent. A client that has already closed costs one read.
async fn lingering_close<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(stream: &mut S, linger: Duration) {
    if tokio::time::timeout(CLOSE_WAIT, stream.shutdown()).await.is_err() {
        return;
    }
    // On the heap, and only now: an array here would make every connection's
    // task (its future is as large as its largest state) 8 KiB larger while idle.
    let mut sink = vec![0u8; 8192];
    let drain = async {
        loop {
            match tokio::time::timeout(LINGER_QUIET, stream.read(&mut sink)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(linger, drain).await;
}

/// Serves one connection until it ends, or until one of its responses stalled
/// ([`Connection::stalled`]): hyper holds an HTTP/2 stream that waits for its
/// window without looking at the body, so only ending the connection frees it.
async fn serve<I>(io: I, ctx: &Arc<HttpContext>, conn: Arc<Connection>)
where
    I: Socket + tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (stalled, peer) = (conn.stalled.clone(), conn.peer);
    tokio::select! {
        () = serve_requests(io, ctx, conn) => {}
        () = stalled.cancelled() => {
            tracing::info!(%peer, "http connection closed: a response took nothing within the data timeout");
        }
    }
}

/// Serves HTTP/1.1 and HTTP/2 (by prior knowledge or ALPN: the first bytes tell)
/// on one connection. HTTP/1.1 is served in rounds, between which an idle
/// connection holds no buffer (see [`read_guard`]).
async fn serve_requests<I>(io: I, ctx: &Arc<HttpContext>, conn: Arc<Connection>)
where
    I: Socket + tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer = conn.peer;
    let settings = &ctx.settings;
    let mut io = ReadGuard::new(io, settings.idle_timeout, settings.body_timeout, conn.clone());
    let svc_ctx = ctx.clone();
    // The request's future is boxed (hyper would box it anyway) so that an HTTP/1
    // round can be polled without shutting the connection down.
    let mut svc = service_fn(move |req| {
        let open = Open::new(&conn);
        let handled = handle(req, svc_ctx.clone(), conn.clone());
        Box::pin(async move {
            let Ok(resp) = handled.await;
            Ok::<_, Infallible>(resp.map(|body| Served { body, _open: open }))
        }) as std::pin::Pin<Box<dyn Future<Output = Result<Response<Served>, Infallible>> + Send>>
    });
    match io.sniff().await {
        Ok(Some(Version::Http1)) => {}
        Ok(Some(Version::Http2)) => {
            let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            builder
                .timer(TokioTimer::new())
                .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX))
                .max_send_buf_size(exchange::H2_SEND_BUFFER)
                .max_concurrent_streams(exchange::H2_MAX_STREAMS)
                .keep_alive_interval(Some(settings.idle_timeout));
            let h2 = Box::pin(async move {
                let http = builder.serve_connection(TokioIo::new(io.begin_round(false)), svc);
                until_shutdown(http, &ctx.shutdown, |http| http.graceful_shutdown()).await
            });
            if let Err(e) = h2.await {
                ended_with(&e, peer);
            }
            return;
        }
        Ok(None) => return,
        Err(e) => return ended_with(&e, peer),
    }
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.idle_timeout)
        .keep_alive(true)
        // Queue body buffers instead of copying them into one: file bodies are
        // sent from the file when hyper writes them out (see `sendfile`).
        .writev(true)
        .max_buf_size(settings.max_header_bytes.max(HYPER_READ_MAX))
        // The head's bytes as read, partial heads included: 431 past it.
        .max_header_size(settings.max_header_bytes.max(HYPER_MIN_BUF));
    // Left unset at hyper's own value: hyper then parses each head into an
    // uninitialised array, where a limit set (even the same) makes it fill one
    // of that size for every request (1.4 % of the CPU of 10 KiB GETs).
    if settings.max_headers != HYPER_DEFAULT_MAX_HEADERS {
        builder.max_headers(settings.max_headers);
    }
    loop {
        // A round: hyper and its buffers, until the connection is at rest.
        let round = Box::pin(async {
            let mut http = builder.serve_connection(TokioIo::new(io.begin_round(true)), svc);
            let mut draining = false;
            let ended = {
                let mut shutdown = std::pin::pin!(ctx.shutdown.cancelled());
                std::future::poll_fn(|cx| {
                    if !draining && shutdown.as_mut().poll(cx).is_ready() {
                        draining = true;
                        std::pin::Pin::new(&mut http).graceful_shutdown();
                    }
                    http.poll_without_shutdown(cx)
                })
                .await
            };
            (ended, draining, http.into_parts())
        });
        let (ended, draining, parts) = round.await;
        // `read_buf` shares hyper's read buffer: it must not live on into the park.
        let hyper::server::conn::http1::Parts {
            io: hyper_io,
            read_buf,
            service,
            ..
        } = parts;
        let unread = !read_buf.is_empty();
        drop(read_buf);
        (io, svc) = (hyper_io.into_inner(), service);
        if let Err(e) = ended {
            return ended_with(&e, peer);
        }
        if !io.parked() || draining || unread {
            // The client closed or asked to, or the server is draining. Boxed: its
            // timers would otherwise size every idle connection's task.
            let close = Box::pin(lingering_close(io.inner_mut(), LINGER_TIME));
            return close.await;
        }
        match io.park(&ctx.shutdown).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => return ended_with(&e, peer),
        }
    }
}

/// Drives a connection to its end, starting its graceful shutdown when the
/// server's begins.
async fn until_shutdown<C, T>(conn: C, shutdown: &CancellationToken, graceful: impl FnOnce(std::pin::Pin<&mut C>)) -> T
where
    C: Future<Output = T>,
{
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        ended = conn.as_mut() => return ended,
        () = shutdown.cancelled() => graceful(conn.as_mut()),
    }
    conn.await
}

/// Logs (and counts) why a connection ended with an error.
fn ended_with(e: &(dyn std::error::Error + 'static), peer: SocketAddr) {
    if stalled(e) {
        metrics::counter!(crate::metrics::SESSION_TIMEOUTS_TOTAL, "protocol" => "http", "phase" => "response")
            .increment(1);
        tracing::info!(%peer, "http connection closed: the client took nothing sent to it within the data timeout");
    } else if is_timeout(e) {
        // A request head not complete in time (slowloris) or no request at all.
        metrics::counter!(crate::metrics::SESSION_TIMEOUTS_TOTAL, "protocol" => "http", "phase" => "request_head")
            .increment(1);
        tracing::info!(%peer, "http connection closed: request head not complete within the idle timeout");
    } else {
        tracing::debug!(error = %e, %peer, "http connection ended with an error");
    }
}

/// True when a connection ended because the client took nothing sent to it
/// ([`read_guard::SendStalled`]).
fn stalled(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        // An `io::Error`'s `source` skips the error it wraps: look inside.
        let inner = err.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref);
        if err.is::<read_guard::SendStalled>() || inner.is_some_and(|i| i.is::<read_guard::SendStalled>()) {
            return true;
        }
        cur = err.source();
    }
    false
}

/// True when a connection ended because the client was too slow to send a request
/// head: hyper's header-read timeout, or [`ReadGuard`].
fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout)
            || err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The size of a request head as sent on HTTP/1.1 (request line, header lines and
/// the blank line): `http.max_header_bytes` below hyper's smallest buffer (8 KiB)
/// is enforced with it.
fn head_len(parts: &http::request::Parts) -> usize {
    let target = parts.uri.path_and_query().map_or(1, |p| p.as_str().len());
    // "METHOD SP target SP HTTP/1.1 CRLF"
    let line = parts.method.as_str().len() + target + 12;
    let headers: usize = parts.headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum();
    line + headers + 2
}

/// The header fields of an HTTP/2 request as `http.max_headers` counts them: its
/// `cookie` fields as one, because HTTP/2 clients may split a `Cookie` header into
/// one field per cookie (RFC 9113 §8.2.3) where HTTP/1.1 sends one line.
fn field_count(headers: &http::HeaderMap) -> usize {
    let cookies = headers.get_all(http::header::COOKIE).iter().count();
    headers.len() - cookies.saturating_sub(1)
}

async fn refuse(mut stream: TcpStream) {
    let body = "Too many connections; try again later.\n";
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nRetry-After: 5\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(head.as_bytes())).await;
    lingering_close(&mut stream, Duration::from_secs(1)).await;
}

async fn handle(
    req: Request<Incoming>,
    ctx: Arc<HttpContext>,
    conn: Arc<Connection>,
) -> Result<Response<Outgoing>, Infallible> {
    let peer = conn.peer;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (mut parts, body) = req.into_parts();
    // Larger limits hyper enforces itself (its buffer on HTTP/1, the header list on
    // HTTP/2); this one goes through the pipeline, so it is logged and counted. So
    // does `http.max_headers` on HTTP/2, which hyper applies to HTTP/1 only.
    let head_too_large = (ctx.settings.max_header_bytes < HYPER_MIN_BUF
        && head_len(&parts) > ctx.settings.max_header_bytes)
        || (parts.version == http::Version::HTTP_2 && field_count(&parts.headers) > ctx.settings.max_headers);
    // HTTP/2 names the server in `:authority`, not `Host`; WebDAV compares
    // `Destination` against it.
    if !parts.headers.contains_key(http::header::HOST)
        && let Some(authority) = parts.uri.authority()
        && let Ok(v) = http::HeaderValue::from_str(authority.as_str())
    {
        parts.headers.insert(http::header::HOST, v);
    }
    let framing = lift::framing_error(parts.version, &parts.headers);
    let version = parts.version;
    let raw_path = parts.uri.path().to_owned();
    let mut exchange = HttpExchange::new(
        parts.method,
        parts.headers,
        raw_path,
        Some(body),
        Responder::new(tx),
        &ctx.settings,
    );
    exchange.head_too_large = head_too_large;
    exchange.framing = framing;
    exchange.streaming = exchange::Streaming::for_version(version);
    exchange.on_stall(conn.stalled.clone());
    if parts.version <= http::Version::HTTP_11
        && let Some(link) = &conn.sendfile
    {
        exchange.zero_copy(link.clone());
    }
    // The pipeline (and its LOG_CMD) must run to completion even if the client goes
    // away, which hyper signals by dropping this future: so it gets its own task —
    // unless its first poll finishes it (a cached login and a small file from the
    // page cache), which saves spawning one per request.
    let ctx_requests = ctx.requests.clone();
    let mut pipeline = Box::pin(run_request(exchange, ctx, conn));
    let first_poll = std::future::poll_fn(|cx| std::task::Poll::Ready(pipeline.as_mut().poll(cx))).await;
    if first_poll.is_pending() {
        ctx_requests.spawn(pipeline);
    }
    match rx.await {
        Ok(resp) => Ok(resp),
        Err(_) => {
            // Only a pipeline that panicked ends without a response.
            tracing::error!(%peer, "a request ended without a response");
            let mut resp = Response::new(Outgoing::from(full("Internal error\n")));
            *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            let (name, value) = exchange::nosniff();
            resp.headers_mut().insert(name, value);
            Ok(resp)
        }
    }
}

async fn run_request(mut exchange: HttpExchange, ctx: Arc<HttpContext>, conn: Arc<Connection>) {
    let mut session = Session::new(Protocol::Http, conn.peer, conn.local);
    session.tls = conn.tls;
    session.client_certificate = conn.certificate.clone();
    let mut cmd = lift::lift(&mut session, &mut exchange);
    let outcome = ctx.pipeline.dispatch(&mut cmd).await;
    let replies = cmd.responses.selected(outcome, cmd.unsupported_status()).into_owned();
    drop(cmd);
    exchange.finish(&replies);
}

#[cfg(test)]
mod tests {
    use super::field_count;

    #[test]
    fn http2_cookie_crumbs_count_as_one_field() {
        let mut h = http::HeaderMap::new();
        assert_eq!(field_count(&h), 0);
        h.append("x-a", http::HeaderValue::from_static("1"));
        h.append("x-a", http::HeaderValue::from_static("2"));
        assert_eq!(field_count(&h), 2, "repeated fields count each");
        for i in 0..50 {
            h.append(http::header::COOKIE, http::HeaderValue::from(i));
        }
        assert_eq!(field_count(&h), 3, "50 cookie crumbs are one Cookie header");
    }
}
