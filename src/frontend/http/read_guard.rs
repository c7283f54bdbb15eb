//! The connection as hyper reads it: the request-target guard of
//! [`proto_http::framing`] over every byte read, a deadline for the first
//! request head of each round, the hand-back of an idle HTTP/1.1 connection,
//! and a limit on how long a client may take nothing that is sent to it.
//!
//! **Send stalls.** hyper has no write timeout: a client that stops reading its
//! socket (a response's body, or an HTTP/2 connection's frames) would hold its
//! connection, its pipeline and the open file for ever. A write that cannot go
//! on starts a timer of `limits.data_timeout`; a write that goes through stops
//! it; when it expires the write fails with [`SendStalled`], which ends the
//! connection (the transfer is logged as aborted). Over TLS a write may move
//! some of the TLS layer's buffer (64 KiB) to the socket and still wait, so
//! there the client must take that much per `data_timeout`. An HTTP/2 stream
//! whose flow-control window the client keeps closed leaves the socket
//! writable: that wait is bounded where the body waits for hyper
//! (`BodySink`), which then ends the connection.
//!
//! The target guard and the deadline sit below hyper because neither can be
//! done above it: hyper hands the service a URI from which a `#…` fragment is
//! already gone (`DELETE /dir/#x` arrives as `DELETE /dir/`), and its
//! header-read timeout starts afresh with every round. The guard turns such a
//! `#` into a byte hyper's request-line parser refuses, so the request gets
//! `400` and no handler runs. HTTP/2 connections are not followed (the guard
//! stops at the preface); see the README's HTTP notes.
//!
//! **Rounds.** hyper keeps an 8 KiB read buffer and an 8 KiB header write
//! buffer for as long as it serves a connection, and has no setting to release
//! them between requests: an idle keep-alive connection cost ~34 KiB. So an
//! HTTP/1.1 connection is served in rounds. When hyper asks for more bytes,
//! none are there, and the connection is at rest — every byte read belongs to
//! complete requests (the target guard follows the framing), every response has
//! ended ([`Activity`]) and hyper has flushed what it wrote — the guard answers
//! end-of-stream and remembers that it did ([`ReadGuard::parked`]). hyper takes
//! it for a client closing an idle connection: the round ends with no reply and
//! nothing written, the front-end takes the bare connection back
//! (`without_shutdown`), waits for it to become readable with no buffer at all
//! ([`ReadGuard::park`]), and starts the next round. The client sees one
//! keep-alive connection.
//!
//! A connection's first rest parks it at once. One whose client then comes
//! back within [`PARK_AFTER`] is a busy keep-alive client, whose next request
//! comes a moment after each response: parking it at every rest would make it
//! pay a new hyper connection state (its buffers included) for every request,
//! so from then on it parks only once it has stayed at rest for
//! [`PARK_AFTER`]; a client that comes back later than that makes the next
//! rest park at once again. An idle connection so holds hyper's buffers for no
//! time after its first response: while hundreds of connections are opened,
//! buffers kept for a while (10 ms, measured) end up scattered among their
//! long-lived allocations and keep pages resident (5.0 against 2.9 KiB per
//! idle connection, `bench/RESULTS.md`).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use proto_http::framing::TargetGuard;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

/// How long the HTTP/1.1 connection of a busy client stays at rest, holding
/// hyper and its buffers, before it parks; and how soon after a park a client
/// must come back to count as busy (module docs).
pub(super) const PARK_AFTER: Duration = Duration::from_millis(10);

/// HTTP/2's connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the service tells the guard about one connection's requests.
#[derive(Debug, Default)]
pub(super) struct Activity {
    /// Requests whose response has not ended (hyper drops a response body once
    /// it has sent it).
    open: AtomicUsize,
    /// Requests started so far (wrapping).
    started: AtomicUsize,
}

impl Activity {
    fn started(&self) -> usize {
        self.started.load(Ordering::Relaxed)
    }
}

/// One request of a connection, from the service's call until its response
/// body is dropped.
pub(super) struct Open(Arc<super::Connection>);

impl Open {
    pub(super) fn new(conn: &Arc<super::Connection>) -> Open {
        conn.activity.open.fetch_add(1, Ordering::Relaxed);
        conn.activity.started.fetch_add(1, Ordering::Relaxed);
        Open(conn.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.activity.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The socket under a connection, whose readiness a parked connection waits for.
pub(super) trait Socket {
    fn socket(&self) -> &TcpStream;
    /// The socket, when bytes written to it go to the client as they are (no
    /// TLS): a file region may then be sent to it directly ([`sendfile`](super::sendfile)).
    fn plain(&self) -> Option<&TcpStream>;
}

impl Socket for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }

    fn plain(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl Socket for tokio_rustls::server::TlsStream<TcpStream> {
    fn socket(&self) -> &TcpStream {
        self.get_ref().0
    }

    fn plain(&self) -> Option<&TcpStream> {
        None
    }
}

/// The protocol a connection's first bytes name.
pub(super) enum Version {
    Http1,
    Http2,
}

/// Wraps an accepted (or TLS-accepted) connection for hyper.
pub(super) struct ReadGuard<I> {
    inner: I,
    conn: Arc<super::Connection>,
    /// When the wait for the next request head ends (the idle timeout). One
    /// timer for the connection's life, reset when a round that served a
    /// request parks.
    deadline: Pin<Box<Sleep>>,
    idle: Duration,
    /// [`Activity::started`] when the round began: the deadline holds until a
    /// request starts. `None`: no deadline (HTTP/2).
    round_start: Option<usize>,
    /// The round may end at rest (HTTP/1.1 rounds).
    rounds: bool,
    /// End-of-stream was answered at rest: the round ends, the connection does not.
    parked: bool,
    /// How long the connection stays at rest before it parks: zero, or
    /// [`PARK_AFTER`] for a busy client (module docs).
    park_after: Duration,
    /// When the connection, at rest since, parks (`park_after`); made at the
    /// first rest of a round with a delay and dropped at the park.
    rest: Option<Pin<Box<Sleep>>>,
    /// The connection has been at rest since `rest` was set, nothing read since.
    resting: bool,
    /// hyper wrote bytes it has not flushed since.
    unflushed: bool,
    /// The longest a write may wait with the client taking nothing.
    send_timeout: Duration,
    /// The send-stall timer, made at the first stall (none on an idle connection).
    stall: Option<Pin<Box<Sleep>>>,
    /// The last write made no progress: the stall timer runs.
    stalling: bool,
    targets: TargetGuard,
    /// The first bytes, read to tell the protocol, for hyper to read again.
    prefix: [u8; 24],
    prefix_len: u8,
    prefix_read: u8,
}

impl<I> ReadGuard<I> {
    /// `idle`: how long the connection may stay without a complete request head;
    /// `send_timeout`: how long a write may wait with the client taking nothing.
    pub(super) fn new(inner: I, idle: Duration, send_timeout: Duration, conn: Arc<super::Connection>) -> Self {
        ReadGuard {
            inner,
            conn,
            deadline: Box::pin(tokio::time::sleep(idle)),
            idle,
            round_start: None,
            rounds: false,
            parked: false,
            park_after: Duration::ZERO,
            rest: None,
            resting: false,
            unflushed: false,
            send_timeout,
            stall: None,
            stalling: false,
            targets: TargetGuard::new(),
            prefix: [0; 24],
            prefix_len: 0,
            prefix_read: 0,
        }
    }

    /// Prepares a round: an HTTP/1.1 one (`rounds`) may end at rest, and its
    /// first request head must arrive before the deadline.
    pub(super) fn begin_round(mut self, rounds: bool) -> Self {
        self.rounds = rounds;
        self.parked = false;
        self.resting = false;
        self.round_start = rounds.then(|| self.conn.activity.started());
        self
    }

    /// The connection itself, for its close: what is read from here on is not
    /// followed (nothing more is served).
    pub(super) fn inner_mut(&mut self) -> &mut I {
        &mut self.inner
    }

    /// The round ended at rest (not because the client closed).
    pub(super) fn parked(&self) -> bool {
        self.parked
    }

    fn at_rest(&self) -> bool {
        self.rounds
            && !self.unflushed
            && usize::from(self.prefix_read) == usize::from(self.prefix_len)
            && self.targets.between_requests()
            && self.conn.activity.open.load(Ordering::Relaxed) == 0
    }

    /// Whether a connection at rest has been so for `park_after`; until then
    /// the timer wakes the connection when that time comes.
    fn rested(&mut self, cx: &mut Context<'_>) -> bool {
        let park_after = self.park_after;
        if park_after.is_zero() {
            return true;
        }
        let rest = self
            .rest
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(park_after)));
        if !self.resting {
            rest.as_mut().reset(Instant::now() + park_after);
            self.resting = true;
        }
        rest.as_mut().poll(cx).is_ready()
    }

    /// Passes on a write's (or flush's) outcome; one that waits fails once the
    /// client has taken nothing for `send_timeout` (module docs).
    fn bound_stall<T>(&mut self, cx: &mut Context<'_>, outcome: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        if outcome.is_ready() {
            self.stalling = false;
            return outcome;
        }
        let timeout = self.send_timeout;
        let stall = self.stall.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if !self.stalling {
            stall.as_mut().reset(Instant::now() + timeout);
            self.stalling = true;
        }
        if stall.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(std::io::Error::other(SendStalled)));
        }
        Poll::Pending
    }

    /// Follows bytes just read (see the module docs).
    fn inspect(&mut self, bytes: &mut [u8]) {
        if !self.targets.is_off() {
            let seen = self.targets.rewritten();
            self.targets.inspect(bytes);
            if self.targets.rewritten() > seen {
                tracing::debug!("a request target with `#` refused");
            }
        }
    }
}

impl<I: Socket + AsyncRead + Unpin> ReadGuard<I> {
    /// Reads the first bytes, before the deadline, until they tell HTTP/1 from
    /// HTTP/2's preface; hyper reads them again. `None`: closed before that.
    pub(super) async fn sniff(&mut self) -> std::io::Result<Option<Version>> {
        loop {
            let len = usize::from(self.prefix_len);
            let n = tokio::select! {
                read = self.inner.read(&mut self.prefix[len..]) => read?,
                () = self.deadline.as_mut() => return Err(timed_out()),
            };
            if n == 0 {
                return Ok(None);
            }
            let mut bytes = self.prefix;
            self.inspect(&mut bytes[len..len + n]);
            self.prefix = bytes;
            let len = len + n;
            self.prefix_len = len as u8; // at most 24
            if self.prefix[..len] != H2_PREFACE[..len] {
                return Ok(Some(Version::Http1));
            }
            if len == H2_PREFACE.len() {
                return Ok(Some(Version::Http2));
            }
        }
    }

    /// Waits, holding no buffer, until a parked connection is readable (`Ok(true)`),
    /// the server shuts down (`Ok(false)`), or the deadline passes (an error).
    /// The deadline restarts only if the round served a request: bytes that are no
    /// request (empty lines, TLS records without data) do not extend it.
    pub(super) async fn park(&mut self, shutdown: &CancellationToken) -> std::io::Result<bool> {
        if self.round_start != Some(self.conn.activity.started()) {
            self.deadline.as_mut().reset(Instant::now() + self.idle);
        }
        self.targets.release();
        self.stall = None;
        self.rest = None;
        let parked_at = Instant::now();
        let ready = tokio::select! {
            ready = self.inner.socket().readable() => ready.map(|()| true),
            () = self.deadline.as_mut() => Err(timed_out()),
            () = shutdown.cancelled() => Ok(false),
        };
        // A client back within PARK_AFTER is busy: its next rests wait before
        // parking (module docs).
        self.park_after = if parked_at.elapsed() < PARK_AFTER {
            PARK_AFTER
        } else {
            Duration::ZERO
        };
        ready
    }
}

/// Why a connection's write failed: the client took nothing sent to it within
/// `limits.data_timeout` (counted apart from a request head's timeout).
#[derive(Debug, thiserror::Error)]
#[error("the client took nothing sent to it within the data timeout")]
pub(super) struct SendStalled;

fn timed_out() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "no request within the idle timeout")
}

impl<I: AsyncRead + Unpin> AsyncRead for ReadGuard<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let (read, len) = (usize::from(this.prefix_read), usize::from(this.prefix_len));
        if read < len {
            let n = buf.remaining().min(len - read);
            buf.put_slice(&this.prefix[read..read + n]);
            this.prefix_read = (read + n) as u8; // at most 24
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.resting = false;
                    this.inspect(&mut buf.filled_mut()[before..]);
                }
                Poll::Ready(result)
            }
            Poll::Pending if this.at_rest() && this.rested(cx) => {
                // End-of-stream for hyper; the connection goes on (module docs).
                this.parked = true;
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let waiting = this
                    .round_start
                    .is_some_and(|start| start == this.conn.activity.started());
                if waiting && this.deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(timed_out()));
                }
                Poll::Pending
            }
        }
    }
}

/// Writes go through [`sendfile::poll_write`](super::sendfile::poll_write): the
/// slices hyper flushes may stand for file regions, sent from the file.
impl<I: Socket + AsyncWrite + Unpin> AsyncWrite for ReadGuard<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        this.unflushed = true;
        super::sendfile::check_plain_write(buf)?;
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.bound_stall(cx, written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        this.unflushed = true;
        let written = super::sendfile::poll_write(&mut this.inner, this.conn.sendfile.as_deref(), cx, bufs);
        this.bound_stall(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        // hyper flushes the socket only once its own buffer is written out.
        let flushed = Pin::new(&mut this.inner).poll_flush(cx);
        if matches!(flushed, Poll::Ready(Ok(()))) {
            this.unflushed = false;
        }
        this.bound_stall(cx, flushed)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
