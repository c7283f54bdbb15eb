//! The FTP front-end: the listener and one task per control connection.
//!
//! A session task frames control lines (bounded length, Telnet-aware), parses them
//! with `proto_ftp`, lifts each into a command record, runs it through the
//! pipeline and writes the rendered reply chain. It holds no buffers while idle
//! beyond the kernel socket: the read buffer is released when empty.

pub mod commands;
pub mod control;
pub mod data;
pub mod lift;
pub mod passive;
pub mod progress;
pub mod tls;
pub mod zero_copy;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use proto_ftp::LineFramer;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use self::control::{ControlRead, ControlWriter};
use self::data::FtpData;
use super::{ConnectionLimiter, Refusal};
use crate::auth::LoginThrottle;
use crate::command::Protocol;
use crate::pipeline::Pipeline;
use crate::response::{self, Status};
use crate::session::Session;

/// Runtime FTP settings (from the config).
#[derive(Debug, Clone)]
pub struct FtpSettings {
    /// Inclusive passive port range.
    pub passive_ports: (u16, u16),
    /// Passive ports held per client address (`ftp.passive_ports_per_address`).
    pub passive_quota: Arc<passive::PassiveQuota>,
    /// Address advertised in PASV replies; `None` = the control connection's local address.
    pub public_address: Option<Ipv4Addr>,
    /// Idle time allowed on the control connection after login.
    pub idle_timeout: Duration,
    /// Time allowed to log in.
    pub login_timeout: Duration,
    /// Passive accept / active connect / stalled transfer limit.
    pub data_timeout: Duration,
    /// Longest accepted command line, in bytes.
    pub max_command_line: usize,
    /// FTPS, when configured.
    pub tls: Option<Arc<tls::FtpTls>>,
    /// PROXY protocol on the control and passive data connections.
    pub proxy: super::proxy::ProxyPolicy,
    /// Per client network, the address PASV advertises instead of `public_address`.
    pub public_address_by_network: Vec<crate::config::NetworkAddress>,
    /// Cancelled when the drain deadline passes: running transfers stop, get
    /// `426`, and are logged as interrupted (the session then gets `421`).
    pub interrupt: CancellationToken,
}

impl FtpSettings {
    /// The IPv4 address PASV advertises to `client`, if one is configured.
    pub fn public_address_for(&self, client: std::net::IpAddr) -> Option<Ipv4Addr> {
        self.public_address_by_network
            .iter()
            .find(|n| n.network.contains(client))
            .map(|n| n.address)
            .or(self.public_address)
    }
}

/// What every FTP session shares.
#[derive(Debug)]
pub struct FtpContext {
    /// The pipeline.
    pub pipeline: Arc<Pipeline>,
    /// Settings.
    pub settings: Arc<FtpSettings>,
    /// Connection limits shared with HTTP.
    pub limiter: Arc<ConnectionLimiter>,
    /// Login failures per address (a banned address is turned away at connect).
    pub throttle: Arc<LoginThrottle>,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
}

/// Accepts control connections until shutdown; each gets its own task. On the
/// implicit FTPS listener (`implicit`) every connection starts with a TLS handshake.
pub async fn serve(listener: TcpListener, ctx: Arc<FtpContext>, tracker: TaskTracker, implicit: bool) {
    loop {
        let Some((mut stream, socket_peer)) = super::accept(&listener, &ctx.shutdown, "ftp").await else {
            break;
        };
        let ctx = ctx.clone();
        tracker.spawn(async move {
            // From a trusted proxy, the client is the one its PROXY header names.
            let peer = match ctx.settings.proxy.client(&mut stream, socket_peer).await {
                Ok(peer) => peer,
                Err(e) => {
                    tracing::warn!(peer = %socket_peer, error = %e, "connection from a trusted proxy without a valid PROXY header closed");
                    return;
                }
            };
            let slot = match ctx.limiter.acquire(peer.ip()) {
                Ok(slot) => slot,
                Err(refusal) => {
                    ctx.limiter.refused("ftp", refusal, peer.ip());
                    let text = match refusal {
                        Refusal::TooManyConnections => "Too many connections; try again later.",
                        Refusal::TooManyFromAddress => "Too many connections from your address; try again later.",
                    };
                    return refuse(stream, Status::ServiceUnavailable, text).await;
                }
            };
            if ctx.throttle.banned(peer.ip()).is_some() {
                tracing::debug!(%peer, "connection from a banned address refused");
                metrics::counter!(crate::metrics::LOGINS_TOTAL, "protocol" => "ftp", "result" => "banned").increment(1);
                return refuse(stream, Status::LoginBanned, "").await;
            }
            metrics::gauge!(crate::metrics::SESSIONS_ACTIVE, "protocol" => "ftp").increment(1.0);
            let span = tracing::info_span!("ftp", %peer);
            if let Err(e) = run_session(stream, peer, &ctx, implicit).instrument(span).await {
                tracing::debug!(error = %e, %peer, "ftp session ended with an error");
            }
            metrics::gauge!(crate::metrics::SESSIONS_ACTIVE, "protocol" => "ftp").decrement(1.0);
            drop(slot);
        });
    }
}

/// Tells a client that is turned away why (a direct `421`), then closes.
async fn refuse(stream: TcpStream, status: Status, text: &str) {
    let (_, writer) = stream.into_split();
    let mut w = ControlWriter::new(writer);
    let _ = tokio::time::timeout(Duration::from_secs(5), w.send_direct(status, text)).await;
}

/// How reading the next control line ended.
enum NextLine {
    Line(proto_ftp::Line),
    TooLong,
    Closed,
    TimedOut,
    Shutdown,
}

async fn next_line(
    reader: &mut ControlRead,
    buf: &mut BytesMut,
    framer: &mut LineFramer,
    timeout: Duration,
    shutdown: &CancellationToken,
) -> std::io::Result<NextLine> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match framer.next_line(buf) {
            Ok(Some(line)) => return Ok(NextLine::Line(line)),
            Err(proto_ftp::FrameError::LineTooLong { .. }) => return Ok(NextLine::TooLong),
            Ok(None) => {}
        }
        if buf.is_empty() && buf.capacity() > 0 {
            // Idle: give the buffer back; a session at rest holds no read buffer.
            *buf = BytesMut::new();
        }
        buf.reserve(512);
        let read = tokio::select! {
            () = shutdown.cancelled() => return Ok(NextLine::Shutdown),
            r = tokio::time::timeout_at(deadline, reader.read_some(buf)) => r,
        };
        match read {
            Err(_) => return Ok(NextLine::TimedOut),
            Ok(Ok(0)) => return Ok(NextLine::Closed),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// Lines a client may send ahead while a command runs (pipelining); more are dropped.
const MAX_QUEUED_LINES: usize = 16;

/// Reads the next control line while a command is running: [`NextLine::Line`], or
/// [`NextLine::TooLong`] for an over-long one (answered `500` in its turn, like any
/// line sent ahead: silently dropped, it left the client waiting for a reply that
/// never came). `None` when the control connection is gone; cancel-safe, because
/// bytes read stay in `buf`.
async fn watch_control(reader: &mut ControlRead, buf: &mut BytesMut, framer: &mut LineFramer) -> Option<NextLine> {
    loop {
        match framer.next_line(buf) {
            Ok(Some(line)) => return Some(NextLine::Line(line)),
            Err(proto_ftp::FrameError::LineTooLong { .. }) => return Some(NextLine::TooLong),
            Ok(None) => {}
        }
        buf.reserve(512);
        match reader.read_some(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

fn is_abort(line: &proto_ftp::Line) -> bool {
    matches!(proto_ftp::parse(&line.bytes), Ok(proto_ftp::Command::Abor))
}

/// `STAT` without an argument: during a transfer it asks for the transfer's progress.
fn is_status_query(line: &proto_ftp::Line) -> bool {
    matches!(
        proto_ftp::parse(&line.bytes),
        Ok(proto_ftp::Command::Stat { path: None })
    )
}

async fn run_session(stream: TcpStream, peer: SocketAddr, ctx: &FtpContext, implicit: bool) -> std::io::Result<()> {
    let local = stream.local_addr()?;
    let _ = stream.set_nodelay(true);
    // Telnet "urgent" bytes that clients send with ABOR stay in the stream.
    let _ = rustix::net::sockopt::set_socket_oobinline(&stream, true);
    let mut session = Session::new(Protocol::Ftp, peer, local);
    let (mut reader, writer, session_tls) = match (implicit, &ctx.settings.tls) {
        (true, Some(tls)) => {
            let state = tls::SessionTls::new(tls, true);
            let stream = match control::handshake(stream, &state).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "implicit FTPS handshake failed");
                    return Ok(());
                }
            };
            session.client_certificate = crate::tls::client_certificate(stream.get_ref().1);
            let (r, w) = tokio::io::split(stream);
            (ControlRead::Tls(r), ControlWriter::new_tls(w), Some(state))
        }
        _ => {
            let (r, w) = stream.into_split();
            (ControlRead::Plain(r), ControlWriter::new(w), None)
        }
    };
    session.tls = session_tls.is_some();
    let mut data = FtpData::new(writer, peer, local, ctx.settings.clone());
    data.tls = session_tls;
    tracing::debug!(session = session.id, "connected");
    data.control.send_direct(Status::ServiceReady, "").await?;
    let mut framer = LineFramer::new(ctx.settings.max_command_line);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    // Lines (and over-long lines) sent while a command ran, answered in order after it.
    let mut queued: std::collections::VecDeque<NextLine> = std::collections::VecDeque::new();
    // Logged out (at connect, after REIN or a failed login), the client has
    // login_timeout in all to log in: commands while logged out do not extend it.
    let mut login_deadline: Option<tokio::time::Instant> = None;
    let mut first_line = true;
    loop {
        let timeout = if session.user.is_some() {
            login_deadline = None;
            ctx.settings.idle_timeout
        } else {
            let deadline =
                *login_deadline.get_or_insert_with(|| tokio::time::Instant::now() + ctx.settings.login_timeout);
            deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(ctx.settings.idle_timeout)
        };
        let next = match queued.pop_front() {
            Some(next) => next,
            None => next_line(&mut reader, &mut buf, &mut framer, timeout, &ctx.shutdown).await?,
        };
        let line = match next {
            NextLine::Line(line) => line,
            NextLine::TooLong => {
                out.clear();
                response::ftp::render_direct(Status::SyntaxError, "Command line too long.", &mut out);
                data.control.write(&out).await?;
                continue;
            }
            NextLine::Closed => break,
            NextLine::TimedOut => {
                // Before login, a client that never completes it (or dribbles a line
                // byte by byte) is turned away at login_timeout.
                let phase = if session.user.is_some() { "idle" } else { "login" };
                metrics::counter!(crate::metrics::SESSION_TIMEOUTS_TOTAL, "protocol" => "ftp", "phase" => phase)
                    .increment(1);
                tracing::info!(session = session.id, %peer, phase, "control connection closed: timeout");
                data.control
                    .send_direct(Status::ServiceUnavailable, "Timeout; closing control connection.")
                    .await?;
                break;
            }
            NextLine::Shutdown => {
                data.control
                    .send_direct(Status::ServiceUnavailable, "Server shutting down.")
                    .await?;
                break;
            }
        };
        if std::mem::take(&mut first_line) && super::proxy::looks_like_header(&line.bytes) {
            // Only a trusted proxy may say who the client is (its header was read
            // before the greeting); from anyone else it is refused.
            tracing::warn!(session = session.id, %peer, "PROXY protocol header from an untrusted address refused");
            data.control
                .send_direct(
                    Status::ServiceUnavailable,
                    "PROXY protocol is not accepted from your address.",
                )
                .await?;
            break;
        }
        let parsed = proto_ftp::parse(&line.bytes);
        let transfer = parsed.as_ref().is_ok_and(proto_ftp::Command::uses_data_connection);
        data.permissions = session.user.as_ref().map(|u| u.permissions).unwrap_or_default();
        data.abort = CancellationToken::new();
        let abort = data.abort.clone();
        let (progress, control) = (data.progress.clone(), data.control.clone());
        // A progress reply being written while the command runs (at most one at a time).
        let mut status_reply: Option<tokio::task::JoinHandle<()>> = None;
        let mut control_lost = false;
        let mut cmd = lift::lift(parsed, &mut session, &mut data);
        let outcome = {
            // While the command runs (a transfer may take hours), keep reading the
            // control connection: ABOR or its loss abort the transfer; other lines wait.
            let dispatch = ctx.pipeline.dispatch(&mut cmd);
            tokio::pin!(dispatch);
            loop {
                tokio::select! {
                    biased;
                    outcome = &mut dispatch => break outcome,
                    line = watch_control(&mut reader, &mut buf, &mut framer), if !control_lost => match line {
                        Some(NextLine::Line(line)) => {
                            if is_abort(&line) {
                                abort.cancel();
                            }
                            let busy = status_reply.as_ref().is_some_and(|h| !h.is_finished());
                            if let (false, true, Some(text)) = (busy, is_status_query(&line), progress.status_line()) {
                                // Answered now, out of band of the running command, by a
                                // task (the transfer is not paused while the client reads).
                                let mut control = control.clone();
                                status_reply = Some(tokio::spawn(async move {
                                    let _ = control.send_direct(Status::TransferProgress, &text).await;
                                }));
                            } else if queued.len() < MAX_QUEUED_LINES {
                                queued.push_back(NextLine::Line(line));
                            }
                        }
                        Some(other) => {
                            if queued.len() < MAX_QUEUED_LINES {
                                queued.push_back(other);
                            }
                        }
                        None => {
                            control_lost = true;
                            abort.cancel();
                        }
                    },
                }
            }
        };
        let replies = cmd.responses.selected(outcome, cmd.unsupported_status()).into_owned();
        drop(cmd);
        if transfer {
            data.transfer_done(); // its passive port goes back before the client hears the end
        }
        if let Some(pending) = status_reply {
            let _ = pending.await; // the progress reply goes out before the final one
        }
        if control_lost {
            break;
        }
        out.clear();
        response::ftp::render(&replies, &mut out);
        data.control.write(&out).await?;
        if std::mem::take(&mut data.upgrade_requested)
            && let Some(state) = &data.tls
        {
            // After the 234: the next bytes are the client's TLS handshake; a
            // client that pipelined commands behind AUTH TLS cannot be upgraded.
            if !queued.is_empty() {
                break;
            }
            match control::upgrade(&mut reader, &data.control, &buf, state).await {
                Ok(certificate) => session.client_certificate = certificate,
                Err(e) => {
                    tracing::debug!(session = session.id, error = %e, "AUTH TLS failed; closing");
                    break;
                }
            }
            session.tls = true;
        }
        if response::ftp::closes_connection(&replies) {
            break;
        }
        if out.capacity() > 4096 {
            out = Vec::new();
        }
    }
    tracing::debug!("disconnected");
    Ok(())
}
