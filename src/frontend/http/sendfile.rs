//! Zero-copy bodies for local files on plain HTTP/1.x connections: hyper frames
//! the response and writes its head, and the file's bytes go from the page cache
//! to the socket with `sendfile(2)`, never through user space.
//!
//! # How hyper sends bytes it never holds
//!
//! A file's body is a [`FileBody`] whose frames are [`FileChunk`]s: buffers that
//! *stand for* a region of the open file (at most [`FRAME_MAX`] bytes each). hyper
//! queues them like any body data and, when it flushes, asks each for its slices
//! (`Buf::chunks_vectored`). A file chunk answers with a *stand-in*: a slice of
//! the chunk's length of one private, never-written buffer, at an address of
//! its own, and at the same moment leaves a *claim* (that address, the file,
//! offset and length) on the connection's [`Link`]. hyper passes the slices to the connection's writer
//! ([`ReadGuard`](super::read_guard::ReadGuard)), which writes the ordinary
//! slices (the head) as they are and, for each stand-in, sends the claimed
//! region with `sendfile` and reports those bytes as written ([`poll_write`]).
//! hyper then advances the chunk by what was reported, as for any write.
//!
//! Why this is sound:
//! - **Order.** Stand-ins travel inside hyper's own write queue, so each file
//!   region goes out exactly where hyper would have written its bytes: after its
//!   head, before the next response (pipelined or not), with the Content-Length
//!   hyper framed it with.
//! - **Never the stand-in's bytes.** Only the writer sees the slices hyper
//!   flushes, and it never writes a stand-in: it sends the claim of the
//!   stand-in's address and length, and refuses the write (an I/O error: hyper
//!   closes the connection) when a stand-in has no such claim, when the
//!   connection is not plain TCP (TLS must encrypt every byte), or once any
//!   chunk could not read its bytes (below).
//! - **Not taken, still right.** Whoever reads a file chunk's bytes the ordinary
//!   way (`Buf::chunk`: hyper's flattening write strategy, or HTTP/2) gets the
//!   file's real bytes, read then; a read that fails marks the link broken, so
//!   the connection closes before anything of that write goes out. The
//!   front-end sets hyper's queueing strategy (`writev`) so this never happens
//!   in practice; correctness does not depend on it.
//! - **Errors midway.** A failed `sendfile` (client gone, file shrunk) fails the
//!   write; what went out before counts, exactly ([`Watch::sent`]).
//!
//! hyper itself has no way to give a body's bytes to the socket other than as
//! buffers (hyperium/hyper#3026, "non-`Buf` body chunks", open), and tower-http
//! and hyper-staticfile read files into buffers for that reason. Options
//! weighed and dropped (issue 18): taking the socket away from hyper
//! for the body (its HTTP/1 connection gives the socket back only at rest, and
//! a response whose Content-Length hyper does not write itself fails its length
//! check and closes the connection); a body hyper believes empty with the body
//! sent between rounds (a pipelined response's head could be queued before it);
//! `mmap` of the file (a file truncated behind the server would `SIGBUS` it).
//!
//! The bytes [`Watch::sent`] reports are those the socket took, so LOG_CMD and
//! the metrics count what left, not what was handed over. `sendfile` reads the
//! file on the connection's thread, like FTP's zero-copy path and the small
//! inline reads: a page-cache operation.

use std::fs::File;
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures_util::task::AtomicWaker;
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncWrite, Interest};
use tokio::net::TcpStream;

use super::exchange::Body;
use super::read_guard::Socket;
use crate::storage::local::FileRegion;

/// The most bytes one file frame stands for (and one `sendfile` call may send).
pub const FRAME_MAX: usize = 4 << 20;
/// The most bytes a file chunk reads at once when it is read the ordinary way.
const COPY_MAX: usize = 256 * 1024;

/// The buffer every stand-in is a slice of: zeroed memory that is never
/// written and never sent (allocated zeroed, it stays untouched virtual memory),
/// made when the first file body is. Twice a frame: each stand-in starts at an
/// offset of its own, which its claim records.
static STAND_IN: OnceLock<Box<[u8]>> = OnceLock::new();
const STAND_IN_LEN: usize = 2 * FRAME_MAX;

/// Where the stand-in buffer starts; `None` before any file body was made.
fn stand_in_base() -> Option<usize> {
    STAND_IN.get().map(|b| b.as_ptr() as usize)
}

/// Whether `slice` lies in the stand-in buffer (nothing else can).
fn is_stand_in(slice: &[u8]) -> bool {
    let Some(base) = stand_in_base() else { return false };
    let at = slice.as_ptr() as usize;
    !slice.is_empty() && at >= base && at < base + STAND_IN_LEN
}

/// A stand-in of `len` bytes (at most [`FRAME_MAX`]) from offset `at` (below
/// [`FRAME_MAX`]) of the stand-in buffer.
fn stand_in_of(at: usize, len: usize) -> &'static [u8] {
    let buf = STAND_IN.get_or_init(|| vec![0u8; STAND_IN_LEN].into_boxed_slice());
    let at = at % FRAME_MAX;
    &buf[at..at + len.min(FRAME_MAX)]
}

/// One connection's claims: the file regions the stand-ins of the write being
/// prepared stand for.
#[derive(Debug, Default)]
pub struct Link {
    claims: Mutex<Vec<Claim>>,
    /// Where the next stand-in starts in the stand-in buffer (modulo a frame):
    /// a claim and its stand-in are paired by address, never by order alone.
    next: AtomicUsize,
    /// A file chunk failed to read its bytes the ordinary way: nothing more may
    /// be written on this connection.
    broken: AtomicBool,
}

impl Link {
    fn claim(&self, claim: Claim) {
        if let Ok(mut claims) = self.claims.lock() {
            claims.push(claim);
        }
    }

    fn take(&self) -> Vec<Claim> {
        self.claims
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

/// A file region a stand-in stands for.
#[derive(Debug)]
struct Claim {
    /// The address of its stand-in.
    at: usize,
    file: Arc<File>,
    offset: u64,
    len: usize,
    progress: Arc<Progress>,
}

/// What a file body's sender learns: bytes taken by the socket, why it failed,
/// and a way to cut it.
#[derive(Debug, Default)]
struct Progress {
    sent: AtomicU64,
    cancelled: AtomicBool,
    failure: OnceLock<&'static str>,
    /// The connection's writer, waiting for the socket: woken by a cut.
    writer: AtomicWaker,
}

impl Progress {
    fn fail(&self, reason: &'static str) {
        let _ = self.failure.set(reason);
    }
}

/// Held by a body and each of its chunks; when the last is gone (sent, or
/// dropped with the connection), the transfer is over.
#[derive(Debug)]
struct Holder {
    progress: Arc<Progress>,
    _over: tokio::sync::oneshot::Sender<()>,
}

/// The sender's side of a file body: how far it got and how it ended.
#[derive(Debug)]
pub struct Watch {
    progress: Arc<Progress>,
    over: tokio::sync::oneshot::Receiver<()>,
}

impl Watch {
    /// Waits until the body is over: every byte taken by the socket, or the
    /// connection ended without them.
    pub async fn over(&mut self) {
        let _ = (&mut self.over).await;
    }

    /// Bytes the socket has taken.
    pub fn sent(&self) -> u64 {
        self.progress.sent.load(Ordering::Acquire)
    }

    /// Why the body failed on the server's side (the file could not be read or
    /// shrank), if it did.
    pub fn failure(&self) -> Option<&'static str> {
        self.progress.failure.get().copied()
    }

    /// Cuts the body: its connection closes at its next write.
    pub fn cut(&self) {
        self.progress.cancelled.store(true, Ordering::Release);
        self.progress.writer.wake();
    }
}

/// A file region as a response body for a plain HTTP/1.x connection.
#[derive(Debug)]
pub struct FileBody {
    file: Arc<File>,
    pos: u64,
    end: u64,
    link: Arc<Link>,
    holder: Arc<Holder>,
}

impl FileBody {
    /// The body of `region` for the connection of `link`, and its watch.
    pub fn new(region: &FileRegion, link: Arc<Link>) -> (FileBody, Watch) {
        FileBody::of(region.shared_file(), region.offset(), region.len(), link)
    }

    fn of(file: Arc<File>, offset: u64, len: u64, link: Arc<Link>) -> (FileBody, Watch) {
        let progress = Arc::new(Progress::default());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let body = FileBody {
            file,
            pos: offset,
            end: offset + len,
            link,
            holder: Arc::new(Holder {
                progress: progress.clone(),
                _over: tx,
            }),
        };
        (body, Watch { progress, over: rx })
    }

    fn poll_frame(&mut self) -> Poll<Option<Result<Frame<Chunk>, io::Error>>> {
        if self.holder.progress.cancelled.load(Ordering::Acquire) {
            return Poll::Ready(Some(Err(io::Error::other("response cut: the server is shutting down"))));
        }
        if self.pos >= self.end {
            return Poll::Ready(None);
        }
        let len = usize::try_from(self.end - self.pos)
            .unwrap_or(usize::MAX)
            .min(FRAME_MAX);
        let chunk = FileChunk {
            file: self.file.clone(),
            pos: self.pos,
            end: self.pos + len as u64,
            link: self.link.clone(),
            holder: self.holder.clone(),
            copy: OnceLock::new(),
        };
        self.pos += len as u64;
        Poll::Ready(Some(Ok(Frame::data(Chunk::File(chunk)))))
    }
}

/// A piece of a file body: stands for its region when hyper flushes it (see the
/// module docs); read the ordinary way, its real bytes.
#[derive(Debug)]
pub struct FileChunk {
    file: Arc<File>,
    pos: u64,
    end: u64,
    link: Arc<Link>,
    holder: Arc<Holder>,
    /// The bytes from `pos` on, once read the ordinary way; `None`: the read failed.
    copy: OnceLock<Option<Bytes>>,
}

impl FileChunk {
    fn remaining(&self) -> usize {
        usize::try_from(self.end - self.pos).unwrap_or(usize::MAX)
    }

    fn read_copy(&self) -> Option<Bytes> {
        let mut buf = vec![0u8; self.remaining().min(COPY_MAX)];
        match self.file.read_at(&mut buf, self.pos) {
            Ok(n) if n > 0 => {
                buf.truncate(n);
                Some(Bytes::from(buf))
            }
            Ok(_) => {
                self.holder.progress.fail("file changed while it was sent");
                None
            }
            Err(_) => {
                self.holder.progress.fail("storage read failed");
                None
            }
        }
    }
}

impl Buf for FileChunk {
    fn remaining(&self) -> usize {
        FileChunk::remaining(self)
    }

    fn chunk(&self) -> &[u8] {
        match self.copy.get_or_init(|| self.read_copy()) {
            Some(bytes) => bytes,
            None => {
                // No bytes to give: the connection must not write anything more.
                // A non-empty slice keeps a reader from spinning; it is never sent.
                self.link.broken.store(true, Ordering::Release);
                stand_in_of(0, self.remaining())
            }
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let len = self.remaining();
        if dst.is_empty() || len == 0 {
            return 0;
        }
        if self.copy.get().is_some() {
            // Already read the ordinary way: stay with it.
            dst[0] = IoSlice::new(self.chunk());
            return 1;
        }
        let stand_in = stand_in_of(self.link.next.fetch_add(1, Ordering::Relaxed), len);
        self.link.claim(Claim {
            at: stand_in.as_ptr() as usize,
            file: self.file.clone(),
            offset: self.pos,
            len,
            progress: self.holder.progress.clone(),
        });
        dst[0] = IoSlice::new(stand_in);
        1
    }

    fn advance(&mut self, cnt: usize) {
        let cnt = cnt.min(FileChunk::remaining(self));
        self.pos += cnt as u64;
        self.holder.progress.sent.fetch_add(cnt as u64, Ordering::AcqRel);
        if let Some(Some(bytes)) = self.copy.get_mut() {
            if cnt < bytes.len() {
                bytes.advance(cnt);
            } else {
                self.copy = OnceLock::new();
            }
        }
    }
}

/// The data of a response body: bytes, or a piece of a file.
#[derive(Debug)]
pub enum Chunk {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A region of a file, sent with `sendfile` (see the module docs).
    File(FileChunk),
}

impl Buf for Chunk {
    fn remaining(&self) -> usize {
        match self {
            Chunk::Bytes(b) => b.remaining(),
            Chunk::File(f) => Buf::remaining(f),
        }
    }

    fn chunk(&self) -> &[u8] {
        match self {
            Chunk::Bytes(b) => b.chunk(),
            Chunk::File(f) => f.chunk(),
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        match self {
            Chunk::Bytes(b) => b.chunks_vectored(dst),
            Chunk::File(f) => f.chunks_vectored(dst),
        }
    }

    fn advance(&mut self, cnt: usize) {
        match self {
            Chunk::Bytes(b) => b.advance(cnt),
            Chunk::File(f) => f.advance(cnt),
        }
    }
}

/// A response body as handed to hyper: streamed bytes, or a file region.
#[derive(Debug)]
pub enum Outgoing {
    /// Bytes (short texts, listings, and files on any other connection).
    Streamed(Body),
    /// A local file on a plain HTTP/1.x connection.
    File(FileBody),
}

impl From<Body> for Outgoing {
    fn from(body: Body) -> Self {
        Outgoing::Streamed(body)
    }
}

impl http_body::Body for Outgoing {
    type Data = Chunk;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Chunk>, io::Error>>> {
        match self.get_mut() {
            Outgoing::Streamed(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map(|f| f.map_data(Chunk::Bytes)))),
            Outgoing::File(file) => file.poll_frame(),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Outgoing::Streamed(body) => body.is_end_stream(),
            Outgoing::File(file) => file.pos >= file.end,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Outgoing::Streamed(body) => body.size_hint(),
            Outgoing::File(file) => SizeHint::with_exact(file.end - file.pos),
        }
    }
}

fn out_of_step(why: &'static str) -> io::Error {
    io::Error::other(format!("zero-copy response refused: {why}"))
}

/// Writes what hyper flushes: ordinary slices through `io`, each stand-in as
/// the file region claimed for it (module docs). Returns the bytes written,
/// stand-ins counted as the bytes `sendfile` sent for them.
pub(super) fn poll_write<I: Socket + AsyncWrite + Unpin>(
    io: &mut I,
    link: Option<&Link>,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let claims = link.map(Link::take).unwrap_or_default();
    if link.is_some_and(|l| l.broken.load(Ordering::Acquire)) {
        return Poll::Ready(Err(out_of_step("a file could not be read")));
    }
    if claims.is_empty() && !bufs.iter().any(|b| is_stand_in(b)) {
        return Pin::new(io).poll_write_vectored(cx, bufs);
    }
    let mut claims = claims;
    let mut written = 0usize;
    // What to answer when a step cannot go on: the bytes written so far, if any.
    let stop = |written: usize, end: Poll<io::Result<usize>>| if written > 0 { Poll::Ready(Ok(written)) } else { end };
    let mut i = 0;
    while i < bufs.len() {
        let ordinary = bufs[i..].iter().take_while(|b| !is_stand_in(b)).count();
        if ordinary > 0 {
            let run = &bufs[i..i + ordinary];
            let want: usize = run.iter().map(|b| b.len()).sum();
            // A file region follows (a stand-in ends the run) on a plain socket.
            let written_run = match io.plain() {
                Some(socket) if i + ordinary < bufs.len() => poll_write_more(socket, cx, run),
                _ => Pin::new(&mut *io).poll_write_vectored(cx, run),
            };
            match written_run {
                Poll::Ready(Ok(n)) => {
                    written += n;
                    if n < want {
                        return Poll::Ready(Ok(written));
                    }
                }
                end => return stop(written, end),
            }
            i += ordinary;
            continue;
        }
        let slice = &bufs[i];
        let at = slice.as_ptr() as usize;
        let Some(k) = claims.iter().position(|c| c.at == at && c.len == slice.len()) else {
            return stop(written, Poll::Ready(Err(out_of_step("a stand-in without its claim"))));
        };
        let claim = claims.swap_remove(k);
        let Some(socket) = io.plain() else {
            return stop(
                written,
                Poll::Ready(Err(out_of_step("the connection is not plain TCP"))),
            );
        };
        match poll_sendfile(socket, &claim, cx) {
            Poll::Ready(Ok(n)) => {
                written += n;
                if n < claim.len {
                    return Poll::Ready(Ok(written));
                }
            }
            end => return stop(written, end),
        }
        i += 1;
    }
    Poll::Ready(Ok(written))
}

/// Writes ordinary slices (a response head) that a file region follows with
/// `MSG_MORE`: the kernel holds them for the `sendfile` that comes next, so a
/// head and a small body leave in one TCP segment, as nginx's `tcp_nopush`
/// (`TCP_CORK`) sends them, where `TCP_NODELAY` alone would send the head in
/// a segment of its own (one more packet for both ends to handle). The
/// `sendfile` that follows in the same write has no such flag and pushes both
/// out; should it not come (a failed read closes the connection, a full socket
/// waits for acknowledgements, which push what is queued), nothing waits for it.
fn poll_write_more(socket: &TcpStream, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
    loop {
        if socket.poll_write_ready(cx)?.is_pending() {
            return Poll::Pending;
        }
        let sent = socket.try_io(Interest::WRITABLE, || {
            let flags = rustix::net::SendFlags::MORE | rustix::net::SendFlags::NOSIGNAL;
            rustix::net::sendmsg(socket, bufs, &mut rustix::net::SendAncillaryBuffer::default(), flags)
                .map_err(io::Error::from)
        });
        match sent {
            Ok(n) => return Poll::Ready(Ok(n)),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// Sends as much of a claim as the socket takes now.
fn poll_sendfile(socket: &TcpStream, claim: &Claim, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
    let progress = &claim.progress;
    loop {
        if progress.cancelled.load(Ordering::Acquire) {
            return Poll::Ready(Err(io::Error::other("response cut: the server is shutting down")));
        }
        if socket.poll_write_ready(cx)?.is_pending() {
            // A cut must not wait for a client that does not read.
            progress.writer.register(cx.waker());
            if progress.cancelled.load(Ordering::Acquire) {
                continue;
            }
            return Poll::Pending;
        }
        let mut offset = claim.offset;
        let sent = socket.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(socket, &*claim.file, Some(&mut offset), claim.len).map_err(io::Error::from)
        });
        match sent {
            Ok(0) => {
                progress.fail("file changed while it was sent");
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank during transfer",
                )));
            }
            Ok(n) => return Poll::Ready(Ok(n)),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// Refuses a single-slice write of a stand-in (hyper writes stand-ins only
/// vectored; a write of one elsewhere is a bug, never bytes to send).
pub(super) fn check_plain_write(buf: &[u8]) -> io::Result<()> {
    if is_stand_in(buf) {
        return Err(out_of_step("a stand-in written as bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use std::io::Write;

    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;

    /// A file of `len` bytes that differ from offset to offset.
    fn file_of(len: usize) -> (Arc<File>, Vec<u8>) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        (Arc::new(f), data)
    }

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (server, client)
    }

    fn next_chunk(body: &mut FileBody) -> Option<Chunk> {
        match body.poll_frame() {
            Poll::Ready(Some(Ok(frame))) => Some(frame.into_data().unwrap()),
            Poll::Ready(None) => None,
            other => panic!("{other:?}"),
        }
    }

    /// Flushes `head` then `chunk` as hyper does: slices, a vectored write, an advance.
    async fn flush(server: &mut TcpStream, link: &Link, head: &mut Bytes, chunk: &mut Chunk) -> io::Result<()> {
        while head.has_remaining() || chunk.has_remaining() {
            let n = std::future::poll_fn(|cx| {
                let mut iovs = [IoSlice::new(&[]); 4];
                let mut len = head.chunks_vectored(&mut iovs);
                len += chunk.chunks_vectored(&mut iovs[len..]);
                poll_write(server, Some(link), cx, &iovs[..len])
            })
            .await?;
            let from_head = n.min(head.remaining());
            head.advance(from_head);
            chunk.advance(n - from_head);
        }
        Ok(())
    }

    #[tokio::test]
    async fn stand_ins_go_out_as_the_file_regions_they_claim() {
        let (file, data) = file_of(FRAME_MAX + 300_001);
        let (mut server, mut client) = pair().await;
        let link = Arc::new(Link::default());
        let (offset, len) = (1001u64, FRAME_MAX as u64 + 200_000);
        let (mut body, mut watch) = FileBody::of(file, offset, len, link.clone());
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut head = Bytes::from_static(b"HEAD\r\n");
        let mut frames = 0;
        while let Some(mut chunk) = next_chunk(&mut body) {
            assert!(chunk.remaining() <= FRAME_MAX);
            flush(&mut server, &link, &mut head, &mut chunk).await.unwrap();
            frames += 1;
        }
        assert_eq!(frames, 2);
        drop(body);
        watch.over().await;
        assert_eq!((watch.sent(), watch.failure()), (len, None));
        drop(server);
        let got = reader.await.unwrap();
        assert_eq!(&got[..6], b"HEAD\r\n");
        assert!(
            got[6..] == data[offset as usize..(offset + len) as usize],
            "bytes differ"
        );
        assert!(!got.iter().all(|&b| b == 0));
    }

    #[test]
    fn read_the_ordinary_way_a_chunk_gives_the_file_bytes() {
        let (file, data) = file_of(3 * COPY_MAX + 17);
        let link = Arc::new(Link::default());
        let (mut body, watch) = FileBody::of(file, 5, data.len() as u64 - 5, link.clone());
        let mut out = Vec::new();
        while let Some(mut chunk) = next_chunk(&mut body) {
            while chunk.has_remaining() {
                let piece = chunk.chunk().len().min(100_000);
                out.extend_from_slice(&chunk.chunk()[..piece]);
                chunk.advance(piece);
            }
        }
        assert!(out[..] == data[5..]);
        assert_eq!(watch.sent(), data.len() as u64 - 5);
        assert!(link.take().is_empty(), "no claims without stand-ins");
    }

    #[tokio::test]
    async fn a_stand_in_that_does_not_match_its_claim_is_refused() {
        let (file, _) = file_of(10_000);
        let (mut server, mut client) = pair().await;
        let link = Arc::new(Link::default());
        let (mut body, _watch) = FileBody::of(file, 0, 10_000, link.clone());
        let chunk = next_chunk(&mut body).unwrap();
        let head = Bytes::from_static(b"head");
        // Claims taken away (as if made for another write): the stand-in has none.
        let refused = std::future::poll_fn(|cx| {
            let mut iovs = [IoSlice::new(&[]); 2];
            let len = chunk.chunks_vectored(&mut iovs);
            let _ = link.take();
            poll_write(&mut server, Some(&link), cx, &iovs[..len])
        })
        .await;
        assert!(refused.is_err());
        // Two claims for one stand-in: refused too, and never the stand-in's bytes.
        let mut iovs = [IoSlice::new(&[]); 3];
        let mut len = head.chunks_vectored(&mut iovs);
        len += chunk.chunks_vectored(&mut iovs[len..]);
        let _ = chunk.chunks_vectored(&mut [IoSlice::new(&[])]);
        let twice = std::future::poll_fn(|cx| poll_write(&mut server, Some(&link), cx, &iovs[1..len])).await;
        assert!(twice.is_ok_and(|n| n == 10_000), "the first claim matches");
        let _ = link.take();
        // No link (a TLS connection): a stand-in is never written.
        let alone = std::future::poll_fn(|cx| poll_write(&mut server, None, cx, &iovs[1..len])).await;
        assert!(alone.is_err());
        drop(server);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 10_000);
        assert!(!got.iter().all(|&b| b == 0), "the file's bytes, not the stand-in's");
    }

    #[tokio::test]
    async fn a_file_that_shrank_fails_the_body_with_what_was_sent() {
        let (file, _) = file_of(50_000);
        let (mut server, _client) = pair().await;
        let link = Arc::new(Link::default());
        let (mut body, mut watch) = FileBody::of(file.clone(), 0, 50_000, link.clone());
        let mut chunk = next_chunk(&mut body).unwrap();
        file.set_len(20_000).unwrap();
        let mut head = Bytes::new();
        let failed = flush(&mut server, &link, &mut head, &mut chunk).await;
        assert!(failed.is_err());
        drop((body, chunk));
        watch.over().await;
        assert_eq!(watch.sent(), 20_000);
        assert_eq!(watch.failure(), Some("file changed while it was sent"));
    }
}
