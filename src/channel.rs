//! The data channel of a command: how its bytes reach the client, behind one
//! trait the core owns, so that one `Read`, `Write` and `List` handler serves
//! every protocol.
//!
//! The shared handlers decide *what* moves (which file, which range, which
//! listing); the channel decides *how* it goes on the wire (FTP: `150`, a data
//! connection, `sendfile`; HTTP: status and headers, then the body) and which
//! protocol rules apply (FTP `REST` and what `LIST` of a file means; HTTP `Range`
//! and conditionals). Each front-end implements [`DataChannel`] for its own
//! connection state; nothing here names a front-end's types. Handlers of one
//! protocol reach their front-end's state with [`Channel::get_mut`].

use std::any::Any;

use async_trait::async_trait;

use crate::command::ListFormat;
use crate::path::VirtualPath;
use crate::response::{Reply, Status};
use crate::storage::{ListStream, Metadata, ReadHandle, Upload};

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

/// What a listing of a path means, as the protocol's rules decide it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListPlan {
    /// List the directory's members.
    Members,
    /// Describe the one file that was named (FTP `LIST file`, as `ls` does).
    ThisFile,
    /// Refuse, with this status and text.
    Refuse(Status, &'static str),
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

/// A front-end's data channel.
#[async_trait]
pub trait DataChannel: Send + 'static {
    /// Decides what part of a file to read, given its metadata and the command's
    /// start offset.
    fn plan_read(&mut self, meta: &Metadata, offset: u64) -> ReadPlan;
    /// Decides what listing `path` (whose metadata is `meta`) in `format` means.
    fn plan_listing(&mut self, meta: &Metadata, format: ListFormat) -> ListPlan;
    /// Sends an opened file to the client; returns the bytes sent.
    async fn send_file(&mut self, path: &VirtualPath, handle: ReadHandle) -> Result<u64, TransferError>;
    /// Streams a directory listing in `format`; returns the bytes sent.
    async fn send_listing(
        &mut self,
        dir: &VirtualPath,
        format: ListFormat,
        entries: ListStream,
    ) -> Result<u64, TransferError>;
    /// Receives the client's upload into `upload`; returns the bytes received. The
    /// caller commits the upload on success and aborts it on error.
    async fn receive(&mut self, upload: &mut dyn Upload) -> Result<u64, TransferError>;
    /// The status code the client gets for a command that ends with `replies`:
    /// the one already sent on the wire if the channel sent one, or the one its
    /// renderer will send. `None`: the first reply's code, as FTP sends it.
    fn wire_code(&self, replies: &[Reply]) -> Option<u16> {
        let _ = replies;
        None
    }
    /// Whether file data is converted as text (FTP `TYPE A`), for the transfer log.
    fn text_mode(&self) -> bool {
        false
    }
    /// The front-end's own state, for its own handlers.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// The front-end's own state, read-only.
    fn as_any(&self) -> &dyn Any;
}

/// The channel a command may move data over (none for commands built outside a
/// connection, as in tests).
pub struct Channel<'a>(Option<&'a mut dyn DataChannel>);

impl std::fmt::Debug for Channel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Channel" } else { "Channel::none" })
    }
}

fn no_channel() -> TransferError {
    TransferError::new(Status::NotImplemented, 0, "no data channel")
}

impl<'a> Channel<'a> {
    /// A front-end's channel.
    pub fn new(channel: &'a mut dyn DataChannel) -> Self {
        Channel(Some(channel))
    }

    /// No channel: nothing can move.
    pub fn none() -> Self {
        Channel(None)
    }

    /// The front-end state behind the channel, if it is a `T`.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.0.as_deref().and_then(|c| c.as_any().downcast_ref())
    }

    /// The front-end state behind the channel, if it is a `T`.
    pub fn get_mut<T: 'static>(&mut self) -> Option<&mut T> {
        self.0.as_deref_mut().and_then(|c| c.as_any_mut().downcast_mut())
    }

    /// See [`DataChannel::plan_read`].
    pub fn plan_read(&mut self, meta: &Metadata, offset: u64) -> ReadPlan {
        match self.0.as_deref_mut() {
            Some(c) => c.plan_read(meta, offset),
            None => ReadPlan::Answer(Status::NotImplemented),
        }
    }

    /// See [`DataChannel::plan_listing`].
    pub fn plan_listing(&mut self, meta: &Metadata, format: ListFormat) -> ListPlan {
        match self.0.as_deref_mut() {
            Some(c) => c.plan_listing(meta, format),
            None => ListPlan::Refuse(Status::NotImplemented, "no data channel"),
        }
    }

    /// See [`DataChannel::send_file`].
    pub async fn send_file(&mut self, path: &VirtualPath, handle: ReadHandle) -> Result<u64, TransferError> {
        match self.0.as_deref_mut() {
            Some(c) => c.send_file(path, handle).await,
            None => Err(no_channel()),
        }
    }

    /// See [`DataChannel::send_listing`].
    pub async fn send_listing(
        &mut self,
        dir: &VirtualPath,
        format: ListFormat,
        entries: ListStream,
    ) -> Result<u64, TransferError> {
        match self.0.as_deref_mut() {
            Some(c) => c.send_listing(dir, format, entries).await,
            None => Err(no_channel()),
        }
    }

    /// See [`DataChannel::receive`].
    pub async fn receive(&mut self, upload: &mut dyn Upload) -> Result<u64, TransferError> {
        match self.0.as_deref_mut() {
            Some(c) => c.receive(upload).await,
            None => Err(no_channel()),
        }
    }

    /// See [`DataChannel::wire_code`].
    pub fn wire_code(&self, replies: &[Reply]) -> Option<u16> {
        self.0.as_deref().and_then(|c| c.wire_code(replies))
    }

    /// See [`DataChannel::text_mode`].
    pub fn text_mode(&self) -> bool {
        self.0.as_deref().is_some_and(DataChannel::text_mode)
    }
}
