//! The data channel of a command: the FTP data connection or the HTTP body, behind
//! one interface, so that one `Read`, `Write` and `List` handler serves both
//! protocols.
//!
//! The shared handlers decide *what* moves (which file, which range, which
//! listing); the channel decides *how* it goes on the wire (FTP: `150`, a data
//! connection, `sendfile`; HTTP: status and headers, then the body) and which
//! protocol rules apply to a read (FTP `REST`; HTTP `Range` and conditionals).

use crate::command::ListFormat;
use crate::frontend::ftp::data::FtpData;
use crate::frontend::http::exchange::HttpExchange;
use crate::path::VirtualPath;
use crate::response::Status;
use crate::storage::{ListStream, Metadata, ReadHandle, Upload};

/// The channel a command may move data over.
pub enum Channel<'a> {
    /// No data can move (commands built outside a connection, tests).
    None,
    /// An FTP session's data-connection state.
    Ftp(&'a mut FtpData),
    /// An HTTP request/response exchange.
    Http(&'a mut HttpExchange),
}

impl std::fmt::Debug for Channel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Channel::None => "Channel::None",
            Channel::Ftp(_) => "Channel::Ftp",
            Channel::Http(_) => "Channel::Http",
        })
    }
}

/// What to read of a file, as the protocol's rules decide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPlan {
    /// Send `len` bytes (to the end when `None`) from `offset`.
    Send {
        /// First byte.
        offset: u64,
        /// Byte count, or to the end.
        len: Option<u64>,
    },
    /// Send nothing; answer with this status instead (304, 412, 416, 554).
    Answer(Status),
}

/// A transfer that did not complete.
#[derive(Debug)]
pub struct TransferError {
    /// What to tell the client (`425`, `426`, `451`, …).
    pub status: Status,
    /// Bytes moved before it failed.
    pub bytes: u64,
    /// Detail for the log.
    pub detail: String,
}

impl TransferError {
    /// A failure with `status` after `bytes` bytes.
    pub fn new(status: Status, bytes: u64, detail: impl Into<String>) -> Self {
        TransferError {
            status,
            bytes,
            detail: detail.into(),
        }
    }
}

fn no_channel() -> TransferError {
    TransferError::new(Status::NotImplemented, 0, "no data channel")
}

impl Channel<'_> {
    /// Decides what part of a file to read, given its metadata and the command's
    /// start offset.
    pub fn plan_read(&mut self, meta: &Metadata, offset: u64) -> ReadPlan {
        match self {
            Channel::Ftp(d) => d.plan_read(meta, offset),
            Channel::Http(h) => h.plan_read(meta),
            Channel::None => ReadPlan::Answer(Status::NotImplemented),
        }
    }

    /// Sends an opened file to the client; returns the bytes sent.
    pub async fn send_file(&mut self, path: &VirtualPath, handle: ReadHandle) -> Result<u64, TransferError> {
        match self {
            Channel::Ftp(d) => d.send_file(handle).await,
            Channel::Http(h) => h.send_file(path, handle).await,
            Channel::None => Err(no_channel()),
        }
    }

    /// Streams a directory listing in `format`; returns the bytes sent.
    pub async fn send_listing(
        &mut self,
        dir: &VirtualPath,
        format: ListFormat,
        entries: ListStream,
    ) -> Result<u64, TransferError> {
        match self {
            Channel::Ftp(d) => d.send_listing(format, entries).await,
            Channel::Http(h) => h.send_listing(dir, format, entries).await,
            Channel::None => Err(no_channel()),
        }
    }

    /// Receives the client's upload into `upload`; returns the bytes received. The
    /// caller commits the upload on success and drops (aborts) it on error.
    pub async fn receive(&mut self, upload: &mut dyn Upload) -> Result<u64, TransferError> {
        match self {
            Channel::Ftp(d) => d.receive(upload).await,
            Channel::Http(h) => h.receive(upload).await,
            Channel::None => Err(no_channel()),
        }
    }
}
