//! The FTP control connection: its read and write halves, plain or under TLS, and
//! the upgrade after `AUTH TLS` (RFC 4217 §4) that swaps one for the other.

use std::io;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::server::TlsStream;

use super::tls::SessionTls;
use crate::auth::ClientCertificate;
use crate::response::{self, Status};

/// The read half of the control connection.
#[derive(Debug)]
pub enum ControlRead {
    /// Before `AUTH TLS`, or without TLS.
    Plain(OwnedReadHalf),
    /// Under TLS.
    Tls(ReadHalf<TlsStream<TcpStream>>),
    /// Between taking the plain half and installing the TLS one.
    Upgrading,
}

impl ControlRead {
    /// Reads what the control connection has into `buf` (cancel-safe).
    ///
    /// Plain: unlike `AsyncReadExt::read_buf`, a short read does not mark the
    /// socket drained — a read stops at the TCP urgent mark of the Synch that
    /// clients send with `ABOR` although the command is already queued behind it,
    /// and with edge-triggered readiness no new wake-up would come for those bytes.
    /// Under TLS the urgent byte is inside no record and Telnet IP/Synch arrive as
    /// ordinary bytes.
    pub async fn read_some(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            ControlRead::Plain(reader) => loop {
                reader.readable().await?;
                match reader.try_read_buf(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    other => return other,
                }
            },
            ControlRead::Tls(reader) => reader.read_buf(buf).await,
            ControlRead::Upgrading => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "control connection upgrading",
            )),
        }
    }
}

/// The write half, plain or under TLS.
#[derive(Debug)]
enum ControlWrite {
    Plain(OwnedWriteHalf),
    Tls(WriteHalf<TlsStream<TcpStream>>),
    Upgrading,
}

/// The write half of the control connection, for direct sends and rendered chains.
/// Shared (each write takes the lock for a whole reply, so replies never interleave):
/// the running command sends its `150` while the session loop may answer a `STAT`.
#[derive(Debug, Clone)]
pub struct ControlWriter {
    half: Arc<tokio::sync::Mutex<ControlWrite>>,
}

impl ControlWriter {
    /// Wraps a plain control connection's write half.
    pub fn new(half: OwnedWriteHalf) -> Self {
        Self::with(ControlWrite::Plain(half))
    }

    /// Wraps the write half of a control connection under TLS (implicit FTPS).
    pub fn new_tls(half: WriteHalf<TlsStream<TcpStream>>) -> Self {
        Self::with(ControlWrite::Tls(half))
    }

    fn with(half: ControlWrite) -> Self {
        ControlWriter {
            half: Arc::new(tokio::sync::Mutex::new(half)),
        }
    }

    /// Writes rendered reply bytes.
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut *self.half.lock().await {
            ControlWrite::Plain(w) => w.write_all(bytes).await,
            ControlWrite::Tls(w) => {
                w.write_all(bytes).await?;
                // Out of rustls' buffer and onto the socket now, not with the next reply.
                w.flush().await
            }
            ControlWrite::Upgrading => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "control connection upgrading",
            )),
        }
    }

    /// A direct send (ProFTPD's `pr_response_send`): the greeting `220`, the
    /// preliminary `150`, the `213` progress of a running transfer, or the `421`
    /// before a close. Never used for a command's final reply.
    pub async fn send_direct(&mut self, status: Status, text: &str) -> io::Result<()> {
        let mut out = Vec::with_capacity(64);
        response::ftp::render_direct(status, text, &mut out);
        self.write(&out).await
    }
}

/// Why `AUTH TLS` could not complete; the connection is closed either way.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The connection is already under TLS, or its halves are in use.
    #[error("the control connection cannot be upgraded now")]
    NotPlain,
    /// The client sent bytes after `AUTH TLS` before the handshake (a client
    /// must wait for the `234`): they cannot be fed to the handshake safely.
    #[error("data received between AUTH TLS and the TLS handshake")]
    Pipelined,
    /// The handshake failed or timed out.
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
}

/// Turns the plain control connection into a TLS one after the `234` was sent.
pub async fn upgrade(
    reader: &mut ControlRead,
    writer: &ControlWriter,
    pending: &BytesMut,
    session: &SessionTls,
) -> Result<Option<Arc<ClientCertificate>>, UpgradeError> {
    if !pending.is_empty() {
        return Err(UpgradeError::Pipelined);
    }
    let mut write = writer.half.lock().await;
    let (ControlRead::Plain(_), ControlWrite::Plain(_)) = (&*reader, &*write) else {
        return Err(UpgradeError::NotPlain);
    };
    let (ControlRead::Plain(r), ControlWrite::Plain(w)) = (
        std::mem::replace(reader, ControlRead::Upgrading),
        std::mem::replace(&mut *write, ControlWrite::Upgrading),
    ) else {
        return Err(UpgradeError::NotPlain);
    };
    let tcp = r.reunite(w).map_err(|_| UpgradeError::NotPlain)?;
    let stream = handshake(tcp, session).await.map_err(UpgradeError::Handshake)?;
    let certificate = crate::tls::client_certificate(stream.get_ref().1);
    let (r, w) = tokio::io::split(stream);
    *reader = ControlRead::Tls(r);
    *write = ControlWrite::Tls(w);
    Ok(certificate)
}

/// The server handshake of a control connection (after `AUTH TLS`, or at once on
/// the implicit listener), under the session's own config.
pub async fn handshake(tcp: TcpStream, session: &SessionTls) -> Result<TlsStream<TcpStream>, String> {
    crate::tls::accept(session.control_config.clone(), tcp, "ftp", session.handshake_timeout)
        .await
        .map(|(stream, _)| stream)
}
