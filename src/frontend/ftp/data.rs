//! FTP data connections and transfers: the FTP side of the data channel.
//!
//! Holds a session's data-connection setup (passive listener or active target),
//! transfer type and restart offset, and moves bytes: in binary mode between plain
//! connections and local files or an upstream FTP server's plain data connections
//! without a copy through user space (`zero_copy.rs`); everything else streamed
//! through bounded buffers. Every wait has the data timeout.
//!
//! Security rules: a passive connection from any address but the control peer's is
//! dropped (and the real client can still connect); an active target must be the
//! control peer's own address and an unprivileged port (no FTP bounce).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use proto_ftp::TransferType;
use proto_ftp::listing::Facts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::FtpSettings;
pub use super::control::ControlWriter;
pub use super::passive::PassiveListener;
use super::progress::{Activity, Progress};
use super::tls::{DataStream, SessionTls, accept_data};
use super::zero_copy;
use crate::auth::{Permission, Permissions};
use crate::channel::{DataChannel, ListPlan, ReadPlan, TransferError};
use crate::command::ListFormat;
use crate::path::VirtualPath;
use crate::response::{Reply, Status};
use crate::storage::{EntryKind, ListStream, Metadata, ReadBody, ReadHandle, Upload};

/// Read buffer for uploads and the chunk size for streamed downloads.
const CHUNK: usize = 256 * 1024;
/// Listing output is flushed in blocks of about this size.
const LISTING_FLUSH: usize = 64 * 1024;

/// How the next data connection is made.
#[derive(Debug, Default)]
pub enum DataMode {
    /// No PASV/EPSV/PORT/EPRT yet (or the last one was used up).
    #[default]
    Unset,
    /// Waiting for the client on this listener.
    Passive(PassiveListener),
    /// Connect to the client here.
    Active(SocketAddr),
}

/// The FTP data-channel state of one session.
#[derive(Debug)]
pub struct FtpData {
    /// The control connection's writer.
    pub control: ControlWriter,
    /// The next data connection.
    pub mode: DataMode,
    /// `TYPE A` or `TYPE I`.
    pub transfer_type: TransferType,
    /// The `REST` marker: kept until the next transfer command uses it up
    /// (RETR and STOR honour it; APPE and STOU refuse it; listings ignore
    /// it), a new `REST`, or `RNFR`.
    pub rest: u64,
    /// `EPSV ALL` was sent: PASV/PORT/EPRT are refused from now on.
    pub epsv_all: bool,
    /// The user's permissions, for MLSx `perm` facts.
    pub permissions: Permissions,
    /// Cancelled by the session loop when the client sends `ABOR` or drops the
    /// control connection during a transfer; a fresh token for every command.
    pub abort: CancellationToken,
    /// Set when the client aborted a running transfer (ABOR, during the
    /// transfer): the `226` of that `ABOR` says so. Taken by `ABOR`; cleared
    /// when the next transfer starts.
    pub transfer_aborted: bool,
    /// The name `STOU` chose, announced in its `150` reply (RFC 1123 §4.1.2.9).
    pub stou_name: Option<String>,
    /// The MLSx facts selected with `OPTS MLST` (RFC 3659 §7.9), for MLST and MLSD.
    pub mlst_facts: Facts,
    /// Progress of the running transfer, read by `STAT` while it runs.
    pub progress: Arc<Progress>,
    /// Where the planned download starts (its `REST` offset): with the file's
    /// size, the total a streamed body (an object store's) will send.
    read_from: u64,
    /// The control connection's peer.
    pub peer: SocketAddr,
    /// The control connection's local address.
    pub local: SocketAddr,
    /// Settings.
    pub settings: Arc<FtpSettings>,
    /// TLS state once `AUTH TLS` succeeded (or on the implicit listener).
    pub tls: Option<SessionTls>,
    /// Set by `AUTH TLS` after its `234`: the session loop upgrades the connection.
    pub upgrade_requested: bool,
}

fn transfer_error(status: Status, bytes: u64, e: &io::Error) -> TransferError {
    TransferError::new(status, bytes, e.to_string())
}

impl FtpData {
    /// Fresh state for a control connection.
    pub fn new(control: ControlWriter, peer: SocketAddr, local: SocketAddr, settings: Arc<FtpSettings>) -> Self {
        FtpData {
            control,
            mode: DataMode::Unset,
            transfer_type: TransferType::Ascii,
            rest: 0,
            epsv_all: false,
            permissions: Permissions::default(),
            abort: CancellationToken::new(),
            transfer_aborted: false,
            stou_name: None,
            mlst_facts: Facts::ALL,
            progress: Arc::new(Progress::default()),
            read_from: 0,
            peer,
            local,
            settings,
            tls: None,
            upgrade_requested: false,
        }
    }

    /// Back to the state of a new connection (FTP `REIN`).
    pub fn reset(&mut self) {
        self.mode = DataMode::Unset;
        self.transfer_type = TransferType::Ascii;
        self.rest = 0;
        self.epsv_all = false;
        self.stou_name = None;
        self.mlst_facts = Facts::ALL;
        self.transfer_aborted = false;
    }

    /// After a transfer command, whatever its outcome: it used up the data
    /// connection set up for it, and a passive port still held goes back to
    /// the range (and to the client's quota).
    pub fn transfer_done(&mut self) {
        self.mode = DataMode::Unset;
    }

    /// Opens the data connection the client set up, within the data timeout.
    async fn connect(&mut self) -> Result<TcpStream, TransferError> {
        let timeout = self.settings.data_timeout;
        self.progress.start(Activity::Connecting, None);
        let stream = match std::mem::take(&mut self.mode) {
            DataMode::Unset => {
                return Err(TransferError::new(
                    Status::NoDataConnection,
                    0,
                    "use PASV, EPSV, PORT or EPRT first",
                ));
            }
            DataMode::Active(addr) => tokio::time::timeout(timeout, TcpStream::connect(addr))
                .await
                .map_err(|_| TransferError::new(Status::NoDataConnection, 0, "active connect timed out"))?
                .map_err(|e| transfer_error(Status::NoDataConnection, 0, &e))?,
            DataMode::Passive(passive) => {
                let peer_ip = self.peer.ip();
                let proxy = &self.settings.proxy;
                let accept = async {
                    loop {
                        let (mut stream, socket_from) = passive.listener.accept().await?;
                        // Through a trusted proxy, the client its PROXY header names.
                        let Ok(from) = proxy.client(&mut stream, socket_from).await else {
                            tracing::warn!(from = %socket_from, "passive data connection from a trusted proxy without a valid PROXY header");
                            continue;
                        };
                        if canonical(from.ip()) == canonical(peer_ip) {
                            return Ok::<_, io::Error>(stream);
                        }
                        // Not the control peer: refuse it and keep waiting for the real client.
                        tracing::warn!(expected = %peer_ip, from = %from, "refused a passive data connection from a foreign address");
                    }
                };
                tokio::time::timeout(timeout, accept)
                    .await
                    .map_err(|_| TransferError::new(Status::NoDataConnection, 0, "passive accept timed out"))?
                    .map_err(|e| transfer_error(Status::NoDataConnection, 0, &e))?
            }
        };
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// Opens the data connection and sends the preliminary `150`; under `PROT P`
    /// the TLS handshake follows the `150` (clients wait for it before starting).
    async fn open(&mut self, what: &str, activity: Activity, total: Option<u64>) -> Result<DataStream, TransferError> {
        let stream = self.connect().await?;
        self.progress.start(activity, total);
        let mode = match self.transfer_type {
            TransferType::Ascii => "ASCII",
            TransferType::Image => "BINARY",
        };
        // RFC 1123 §4.1.2.9: STOU names the file it chose in its preliminary reply.
        let text = match self.stou_name.take() {
            Some(name) if activity == Activity::Receiving => format!("FILE: {name}"),
            _ => format!("Opening {mode} mode data connection for {what}."),
        };
        self.control
            .send_direct(Status::TransferStarting, &text)
            .await
            .map_err(|e| transfer_error(Status::TransferAborted, 0, &e))?;
        match (&self.tls, &self.settings.tls) {
            (Some(session), Some(tls)) if session.protect_data => {
                accept_data(stream, session, tls, activity == Activity::Receiving)
                    .await
                    .map(|s| DataStream::Tls(Box::new(s)))
                    .map_err(|e| TransferError::new(Status::NoDataConnection, 0, e.to_string()))
            }
            _ => Ok(DataStream::Plain(stream)),
        }
    }

    async fn send_file_inner(&mut self, handle: ReadHandle) -> Result<u64, TransferError> {
        let total = match &handle.body {
            ReadBody::Local(region) => Some(region.len()),
            ReadBody::Socket(source) => Some(source.len()),
            ReadBody::Stream(_) => Some(handle.meta.size.saturating_sub(self.read_from)),
        };
        let mut stream = self.open("file", Activity::Sending, total).await?;
        let timeout = self.settings.data_timeout;
        let progress = self.progress.clone();
        let sent = match (handle.body, self.transfer_type, stream.plain()) {
            (ReadBody::Local(region), TransferType::Image, Some(tcp)) => {
                zero_copy::sendfile_all(tcp, &region, timeout, &progress).await
            }
            (ReadBody::Socket(source), TransferType::Image, Some(tcp)) => {
                // Failures carry their own status: the upstream's are 451.
                Ok(zero_copy::relay_download(source, tcp, timeout, &progress).await?)
            }
            (body, ttype, _) => {
                let mut sent = 0u64;
                let mut chunks = body.into_stream(CHUNK);
                let mut result = Ok(0);
                let mut next = chunks.next().await;
                while let Some(chunk) = next {
                    let chunk = match chunk {
                        Ok(c) => c,
                        Err(e) => {
                            // The back-end failed mid-read (an object store that
                            // went away, a file that shrank): its kind says what
                            // (451 either way).
                            return Err(TransferError::new(Status::from_storage(e.kind), sent, e.to_string()));
                        }
                    };
                    let out = if ttype == TransferType::Ascii {
                        Bytes::from(proto_ftp::ascii::to_crlf(&chunk))
                    } else {
                        chunk
                    };
                    // The next chunk is read while this one is encrypted and sent
                    // (at most two in memory): a read on the blocking pool, or from
                    // an object store, ends while the socket is busy instead of
                    // leaving the I/O thread to sleep through it.
                    // The progress (STAT) counts a chunk once it is written, not
                    // once the next read is done too.
                    let write = async {
                        let written = write_timed(&mut stream, &out, timeout).await;
                        if written.is_ok() {
                            progress.set_bytes(sent + out.len() as u64);
                        }
                        written
                    };
                    let (written, following) = tokio::join!(write, chunks.next());
                    if let Err(e) = written {
                        result = Err((e, sent));
                        break;
                    }
                    sent += out.len() as u64;
                    next = following;
                }
                result.map(|_: u64| sent)
            }
        };
        let sent = sent.map_err(|(e, n)| transfer_error(Status::TransferAborted, n, &e))?;
        finish(stream, timeout)
            .await
            .map_err(|e| transfer_error(Status::TransferAborted, sent, &e))?;
        Ok(sent)
    }

    async fn send_listing_inner(&mut self, format: ListFormat, mut entries: ListStream) -> Result<u64, TransferError> {
        let mut stream = self.open("directory listing", Activity::Listing, None).await?;
        let timeout = self.settings.data_timeout;
        let now = SystemTime::now();
        let mut buf = Vec::with_capacity(LISTING_FLUSH + 1024);
        let mut sent = 0u64;
        // The `perm` fact depends on the entry's kind alone: made once, not per entry.
        let (file_perm, dir_perm) = (
            mlsx_perm(EntryKind::File, self.permissions),
            mlsx_perm(EntryKind::Dir, self.permissions),
        );
        while let Some(batch) = entries.next().await {
            let batch = batch.map_err(|e| TransferError::new(Status::from_storage(e.kind), sent, e.to_string()))?;
            for entry in &batch {
                let perm = match entry.meta.kind {
                    EntryKind::File => &file_perm,
                    EntryKind::Dir => &dir_perm,
                };
                let item = proto_ftp::listing::ListEntry {
                    name: &entry.name,
                    kind: match entry.meta.kind {
                        EntryKind::File => proto_ftp::listing::EntryKind::File,
                        EntryKind::Dir => proto_ftp::listing::EntryKind::Dir,
                    },
                    size: entry.meta.size,
                    modified: entry.meta.modified,
                    mode: entry.meta.mode,
                    unique: None,
                    perm,
                };
                match format {
                    ListFormat::FtpNames => proto_ftp::listing::nlst_line(&entry.name, &mut buf),
                    ListFormat::FtpMachine => proto_ftp::listing::mlsd_line(&item, self.mlst_facts, &mut buf),
                    _ => proto_ftp::listing::list_line(&item, now, &mut buf),
                }
            }
            if buf.len() >= LISTING_FLUSH {
                write_timed(&mut stream, &buf, timeout)
                    .await
                    .map_err(|e| transfer_error(Status::TransferAborted, sent, &e))?;
                sent += buf.len() as u64;
                self.progress.set_bytes(sent);
                buf.clear();
            }
        }
        write_timed(&mut stream, &buf, timeout)
            .await
            .map_err(|e| transfer_error(Status::TransferAborted, sent, &e))?;
        sent += buf.len() as u64;
        finish(stream, timeout)
            .await
            .map_err(|e| transfer_error(Status::TransferAborted, sent, &e))?;
        Ok(sent)
    }

    /// Binary uploads into a local file or an upstream's plain data connection
    /// are spliced (zero-copy). Otherwise
    /// double-buffered: while one block is written to storage (on the blocking
    /// pool), the next is read from the socket, so disk and network overlap.
    async fn receive_inner(&mut self, upload: &mut dyn Upload) -> Result<u64, TransferError> {
        let mut stream = self.open("upload", Activity::Receiving, None).await?;
        let timeout = self.settings.data_timeout;
        let progress = self.progress.clone();
        if self.transfer_type == TransferType::Image
            && let Some(tcp) = stream.plain()
        {
            if let Some(mut sink) = upload.local_sink() {
                return zero_copy::splice_to_file(tcp, &mut sink, timeout, &progress).await;
            }
            if let Some(mut sink) = upload.socket_sink() {
                return zero_copy::relay_upload(tcp, &mut sink, timeout, &progress).await;
            }
        }
        let mut ascii = (self.transfer_type == TransferType::Ascii).then(proto_ftp::ascii::CrlfDecoder::new);
        let mut convert = |b: Bytes| match ascii.as_mut() {
            Some(decoder) => Bytes::from(decoder.decode(&b)),
            None => b,
        };
        let mut received = 0u64;
        let mut buf = BytesMut::with_capacity(UPLOAD_BLOCK);
        let mut eof = fill(&mut stream, &mut buf, timeout, &mut received, &progress).await?;
        while !buf.is_empty() {
            let block = convert(buf.split().freeze());
            if eof {
                write_block(upload, block, received).await?;
                break;
            }
            buf.reserve(UPLOAD_BLOCK);
            let (written, read) = tokio::join!(
                write_block(upload, block, received),
                fill(&mut stream, &mut buf, timeout, &mut received, &progress)
            );
            written?;
            eof = read?;
        }
        if let Some(cr) = ascii.as_mut().and_then(proto_ftp::ascii::CrlfDecoder::finish) {
            write_block(upload, Bytes::from(vec![cr]), received).await?;
        }
        // Under TLS, answer the client's close_notify with ours: clients such as
        // Python's ftplib wait for it (SSL unwrap) before reading the 226.
        let _ = finish(stream, timeout).await;
        Ok(received)
    }
}

/// Runs one of the session's transfers under `ABOR` and the drain deadline (see
/// [`abortable`]), remembering whether `ABOR` cut it (for that `ABOR`'s `226`).
macro_rules! guarded {
    ($data:expr, $transfer:expr) => {{
        let (abort, interrupt, progress) = (
            $data.abort.clone(),
            $data.settings.interrupt.clone(),
            $data.progress.clone(),
        );
        $data.transfer_aborted = false;
        let (result, aborted) = abortable(&abort, &interrupt, &progress, $transfer).await;
        $data.transfer_aborted = aborted;
        result
    }};
}

#[async_trait::async_trait]
impl DataChannel for FtpData {
    /// FTP reads honour `REST`; an offset past the end is `554`.
    fn plan_read(&mut self, meta: &Metadata, offset: u64) -> ReadPlan {
        self.read_from = offset;
        if offset > meta.size {
            ReadPlan::Answer(Status::InvalidRange)
        } else {
            ReadPlan::Send { offset, len: None }
        }
    }

    /// `LIST file` and `NLST file` describe that one file, as `ls` does; `MLSD`
    /// only lists directories (RFC 3659 §7.1: `MLST` is for one object).
    fn plan_listing(&mut self, meta: &Metadata, format: ListFormat) -> ListPlan {
        match format {
            _ if meta.is_dir() => ListPlan::Members,
            ListFormat::FtpMachine => {
                ListPlan::Refuse(Status::BadArguments, "MLSD needs a directory; use MLST for a file.")
            }
            _ => ListPlan::ThisFile,
        }
    }

    /// Sends a file: in binary mode `sendfile` for local files and `splice` for
    /// an upstream's plain data connection, else a stream.
    async fn send_file(&mut self, _path: &VirtualPath, handle: ReadHandle) -> Result<u64, TransferError> {
        guarded!(self, self.send_file_inner(handle))
    }

    /// Streams a listing in the requested FTP format.
    async fn send_listing(
        &mut self,
        _dir: &VirtualPath,
        format: ListFormat,
        entries: ListStream,
    ) -> Result<u64, TransferError> {
        guarded!(self, self.send_listing_inner(format, entries))
    }

    /// Receives an upload until the client closes the data connection (a clean
    /// close is end-of-file; a reset, a stall, `ABOR` or the loss of the control
    /// connection is an aborted transfer).
    async fn receive(&mut self, upload: &mut dyn Upload) -> Result<u64, TransferError> {
        guarded!(self, self.receive_inner(upload))
    }

    fn text_mode(&self) -> bool {
        self.transfer_type == TransferType::Ascii
    }

    fn wire_code(&self, _replies: &[Reply]) -> Option<u16> {
        None // FTP sends the chain's own codes
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Upload blocks: big enough that trips to the blocking pool are rare.
const UPLOAD_BLOCK: usize = 1024 * 1024;

/// Reads into `buf` until it holds a block or the client closes; `Ok(true)` at end-of-file.
async fn fill(
    stream: &mut DataStream,
    buf: &mut BytesMut,
    timeout: std::time::Duration,
    received: &mut u64,
    progress: &Progress,
) -> Result<bool, TransferError> {
    while buf.len() < UPLOAD_BLOCK {
        match tokio::time::timeout(timeout, stream.read_buf(buf)).await {
            Err(_) => {
                return Err(TransferError::new(
                    Status::TransferAborted,
                    *received,
                    "data connection stalled",
                ));
            }
            Ok(Err(e)) => return Err(transfer_error(Status::TransferAborted, *received, &e)),
            Ok(Ok(0)) => return Ok(true),
            Ok(Ok(n)) => {
                *received += n as u64;
                progress.set_bytes(*received);
            }
        }
    }
    Ok(false)
}

async fn write_block(upload: &mut dyn Upload, block: Bytes, received: u64) -> Result<(), TransferError> {
    upload
        .write(block)
        .await
        .map_err(|e| TransferError::new(Status::from_storage(e.kind), received, e.to_string()))
}

/// IPv4-mapped IPv6 addresses compare equal to their IPv4 form.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Checks an active-mode target: the control peer's own address and a port ≥ 1024.
pub fn check_active_target(peer: SocketAddr, target: SocketAddr) -> bool {
    canonical(peer.ip()) == canonical(target.ip()) && target.port() >= 1024
}

/// The MLSx `perm` fact for an entry given the user's permissions (RFC 3659 §7.5.5).
pub fn mlsx_perm(kind: EntryKind, p: Permissions) -> String {
    let mut s = String::with_capacity(8);
    let pairs: &[(Permission, &str)] = match kind {
        EntryKind::File => &[
            (Permission::Read, "r"),
            (Permission::Write, "aw"),
            (Permission::Delete, "d"),
            (Permission::Rename, "f"),
        ],
        EntryKind::Dir => &[
            (Permission::Read, "el"),
            (Permission::Write, "c"),
            (Permission::Delete, "d"),
            (Permission::Rename, "f"),
            (Permission::Mkdir, "m"),
        ],
    };
    for (perm, letters) in pairs {
        if p.allows(*perm) {
            s.push_str(letters);
        }
    }
    s
}

async fn write_timed(stream: &mut DataStream, bytes: &[u8], timeout: std::time::Duration) -> io::Result<()> {
    tokio::time::timeout(timeout, stream.write_all(bytes))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "data connection stalled"))?
}

/// Closes the data connection cleanly (FIN after all data): the client's end-of-file.
async fn finish(mut stream: DataStream, timeout: std::time::Duration) -> io::Result<()> {
    tokio::time::timeout(timeout, stream.shutdown())
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "data connection stalled"))?
}

/// Runs a transfer unless the client aborts it first (`ABOR`, or the control
/// connection is lost): then the transfer future is dropped — closing the data
/// connection and, for uploads, leaving the pending upload to be discarded —
/// and the second value is `true`.
async fn abortable<T>(
    abort: &CancellationToken,
    interrupt: &CancellationToken,
    progress: &Progress,
    transfer: impl std::future::Future<Output = Result<T, TransferError>>,
) -> (Result<T, TransferError>, bool) {
    let result = tokio::select! {
        r = transfer => (r, false),
        () = abort.cancelled() => (Err(TransferError::new(Status::TransferAborted, progress.bytes(), "aborted by the client")), true),
        () = interrupt.cancelled() => (
            Err(TransferError::new(Status::ShuttingDown, progress.bytes(), "interrupted: the server's drain deadline passed")),
            false,
        ),
    };
    progress.finish();
    result
}
