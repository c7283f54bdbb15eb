//! FTPS (RFC 4217): the TLS state of a session and TLS on data connections.
//!
//! After `AUTH TLS` (or on the implicit listener) a session gets its own copy of
//! the server config with its own session cache: the control connection's
//! handshake stores its session there, and a data connection whose handshake is
//! *resumed* against that cache has proven it belongs to this control connection.
//! With `data_session_reuse: require` a data connection that does not resume is
//! refused (425, as FileZilla Server does); with `optional` (the default, because
//! Python's ftplib, rclone and many legacy clients cannot resume) it is accepted.
//!
//! On the data connection the server is the TLS server in both passive and active
//! mode, and the handshake starts after the `150` (clients wait for it).
//!
//! TLS 1.3 tickets. A ticket sent on a data connection that the client only
//! writes to (an upload) sits unread in its socket, so closing it resets the
//! connection and destroys the end of the upload (rclone does exactly that): data
//! connections of uploads get no ticket. The control connection's handshake issues
//! [`CONTROL_TICKETS`] (read with the next reply), downloads and listings one more
//! each; and the session's [`SessionStore`] lets a ticket be used again (rustls
//! would take a stateful TLS 1.3 ticket once), so clients that reuse the control
//! connection's session for every data connection (curl, Go) never run out, and
//! clients that use each ticket once (rustls) have eight uploads in a row. Reuse is
//! safe here: early data (0-RTT, the replay risk single use guards against) is
//! never accepted.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rustls::ServerConfig;
use rustls::server::StoresServerSessions;
use tokio::io::{AsyncRead, AsyncWrite, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::config::DataSessionReuse;

/// Sessions one FTPS control connection keeps for its data connections to resume
/// (TLS 1.2 session ids of data connections that did not resume are added too).
const SESSION_CACHE_PER_CONTROL: usize = 16;
/// TLS 1.3 tickets the control connection's handshake issues (rustls clients keep
/// eight per server).
pub const CONTROL_TICKETS: usize = 8;
/// Read buffer between an upload's data connection and rustls, which reads at
/// most 4 KiB from its transport at a time: without it, a 1 GiB upload under TLS
/// costs a quarter of a million `recv` calls; with it, one per 64 KiB (and a
/// copy in memory).
pub const UPLOAD_READ_BUFFER: usize = 64 * 1024;

/// FTPS settings shared by all sessions.
#[derive(Debug)]
pub struct FtpTls {
    /// The config control connections handshake with (copied per session).
    pub config: Arc<ServerConfig>,
    /// Refuse `USER` before `AUTH TLS`.
    pub require: bool,
    /// Whether data connections must resume the control connection's session.
    pub data_session_reuse: DataSessionReuse,
    /// Longest handshake (`limits.tls_handshake_timeout`).
    pub handshake_timeout: std::time::Duration,
}

/// The TLS sessions of one FTPS control connection, reusable by its data
/// connections (see the module docs); the oldest go first.
#[derive(Debug, Default)]
pub struct SessionStore {
    entries: Mutex<VecDeque<(Vec<u8>, Vec<u8>)>>,
}

impl StoresServerSessions for SessionStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= SESSION_CACHE_PER_CONTROL {
            entries.pop_front();
        }
        entries.push_back((key, value));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    /// Not single-use: every data connection of the session may resume with it.
    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// The TLS state of one FTPS session.
#[derive(Debug)]
pub struct SessionTls {
    /// The control connection's config: this session's own store (see the module docs).
    pub control_config: Arc<ServerConfig>,
    /// Config for download and listing data connections: the same store, one ticket.
    pub data_send_config: Arc<ServerConfig>,
    /// Config for upload data connections: the same store, no ticket.
    pub data_receive_config: Arc<ServerConfig>,
    /// `PBSZ` was sent (RFC 4217 §9: before `PROT`).
    pub pbsz: bool,
    /// `PROT P`: data connections are encrypted.
    pub protect_data: bool,
    /// Longest handshake, control and data.
    pub handshake_timeout: std::time::Duration,
}

impl SessionTls {
    /// Fresh state for a session about to handshake; implicit FTPS protects data
    /// from the start (clients of port 990 expect it), explicit waits for `PROT P`.
    pub fn new(tls: &FtpTls, implicit: bool) -> Self {
        let store = Arc::new(SessionStore::default());
        let mut control = (*tls.config).clone();
        control.session_storage = store;
        control.send_tls13_tickets = CONTROL_TICKETS;
        let mut send = control.clone();
        send.send_tls13_tickets = 1;
        let mut receive = control.clone();
        receive.send_tls13_tickets = 0;
        SessionTls {
            control_config: Arc::new(control),
            data_send_config: Arc::new(send),
            data_receive_config: Arc::new(receive),
            pbsz: implicit,
            protect_data: implicit,
            handshake_timeout: tls.handshake_timeout,
        }
    }
}

/// A data connection, plain or under TLS.
#[derive(Debug)]
pub enum DataStream {
    /// `PROT C` (or no TLS at all): zero-copy transfers are possible.
    Plain(TcpStream),
    /// `PROT P`.
    Tls(Box<TlsStream<BufReader<TcpStream>>>),
}

impl DataStream {
    /// The TCP stream, when nothing sits between it and the file.
    pub fn plain(&self) -> Option<&TcpStream> {
        match self {
            DataStream::Plain(s) => Some(s),
            DataStream::Tls(_) => None,
        }
    }
}

impl AsyncRead for DataStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for DataStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_flush(cx),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    /// Under TLS this sends `close_notify` first: the client's proof of a complete file.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Why a data connection's TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DataTlsError {
    /// The handshake failed or timed out.
    #[error("TLS handshake on the data connection failed: {0}")]
    Handshake(String),
    /// `require` and the client started a new session.
    #[error("TLS session of data connection not resumed")]
    NotResumed,
}

/// Runs the server handshake on a data connection under this session's config;
/// `upload` when the client will only write to it. An upload's connection reads
/// through [`UPLOAD_READ_BUFFER`].
pub async fn accept_data(
    tcp: TcpStream,
    session: &SessionTls,
    tls: &FtpTls,
    upload: bool,
) -> Result<TlsStream<BufReader<TcpStream>>, DataTlsError> {
    let (config, buffer) = if upload {
        (&session.data_receive_config, UPLOAD_READ_BUFFER)
    } else {
        // A download reads nothing after the handshake but the client's close_notify:
        // with one byte (tokio's least), every read bypasses the buffer.
        (&session.data_send_config, 1)
    };
    let transport = BufReader::with_capacity(buffer, tcp);
    let (stream, resumed) = crate::tls::accept(config.clone(), transport, "ftp", session.handshake_timeout)
        .await
        .map_err(DataTlsError::Handshake)?;
    if tls.data_session_reuse == DataSessionReuse::Require && !resumed {
        return Err(DataTlsError::NotResumed);
    }
    Ok(stream)
}
