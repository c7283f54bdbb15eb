//! The storage boundary: the [`Backend`] a deployment runs, and the [`Storage`]
//! volume each logged-in session works on.
//!
//! A back-end (local disk, an S3-compatible object store, an upstream FTP server) is opened once at
//! start-up. At login the session's identity is [attached](Backend::attach) to
//! it and gets a **volume**: the back-end rooted at that user's home. Every path
//! a volume takes is a [`VirtualPath`] beneath that home, and the volume must not
//! let any path — symlinks included — leave it (local disk: a directory handle of
//! the home and `openat2(RESOLVE_BENEATH)`; an object store: a key prefix).
//!
//! Nothing back-end specific crosses the boundary: metadata carries an opaque
//! ETag, errors are a small [`ErrorKind`], and listings and reads are streams.
//! The local disk's zero-copy data path is an optional capability
//! ([`Capabilities::zero_copy`]): a read may come back as a
//! [`ReadBody::Local`] region and an upload may offer a [`local::FileSink`] —
//! both types live in the local back-end, and the data paths ask for them.
//! The upstream-FTP back-end's counterpart: a read may come back as the
//! upstream's plain data connection ([`ReadBody::Socket`]) and an upload may
//! offer one ([`Upload::socket_sink`]), for a data path to relay with
//! `splice(2)`; anything that copies turns them into streams.
//!
//! Writes go into a pending [`Upload`] that becomes visible only on
//! [`Upload::commit`] and leaves nothing behind on [`Upload::abort`] (dropping it
//! is the best-effort fallback). What a back-end can do is declared in
//! [`Capabilities`], so callers refuse cleanly instead of failing half-way.
//!
//! Layers every volume gets ([`volumes`]): back-end metrics ([`metered`]) and one
//! writer at a time per file ([`exclusive`]).

mod capabilities;
mod error;
mod etag;
pub mod exclusive;
pub mod local;
pub mod memory;
pub mod metered;
pub mod open_files;
pub mod readiness;
pub mod s3;
mod tree;
pub mod upstream_ftp;
pub mod volumes;

use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

use crate::auth::User;
use crate::path::VirtualPath;
pub use capabilities::{Capabilities, Resume};
pub use error::{ErrorKind, StorageError, TreeError};
pub use etag::ETag;
pub use tree::remove_tree_generic;
pub use volumes::Volumes;

/// A boxed stream, as the trait returns them.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + Send + 'static>>;

/// Whether an entry is a file or a directory. Symlinks are resolved by the back-end
/// (and ones pointing outside the volume are not shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// What a back-end knows about one file or directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// File or directory.
    pub kind: EntryKind,
    /// Size in bytes (0 for directories where unknown).
    pub size: u64,
    /// Last modification, if the back-end keeps it.
    pub modified: Option<SystemTime>,
    /// Unix permission bits, where the back-end has modes.
    pub mode: Option<u32>,
    /// A strong entity tag (quoted, as HTTP sends it) that changes whenever the
    /// contents do, if the back-end has one (local disk: size, time and inode;
    /// an object store: the object's ETag).
    pub etag: Option<ETag>,
}

impl Metadata {
    /// True for directories.
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name (one component). Names of up to 23 bytes are kept inline
    /// (most are): a listing of many entries makes no allocation per name.
    pub name: smol_str::SmolStr,
    /// Its metadata.
    pub meta: Metadata,
}

/// A listing, delivered in batches so that a huge directory is never held whole.
pub type ListStream = BoxStream<Result<Vec<DirEntry>, StorageError>>;

/// A byte stream, as read from or written to a back-end.
pub type ByteStream = BoxStream<Result<Bytes, StorageError>>;

/// The body of a read.
pub enum ReadBody {
    /// A region of a local file: the data paths may send it with `sendfile`
    /// (back-ends with [`Capabilities::zero_copy`] only).
    Local(local::FileRegion),
    /// An upstream FTP server's plain data connection, read to the end of the
    /// file: the FTP data path may relay it with `splice(2)`; it must call
    /// [`upstream_ftp::SocketSource::finish`] before reporting success.
    Socket(upstream_ftp::SocketSource),
    /// Bytes from anywhere.
    Stream(ByteStream),
}

impl std::fmt::Debug for ReadBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadBody::Local(r) => f.debug_tuple("Local").field(r).finish(),
            ReadBody::Socket(s) => f.debug_tuple("Socket").field(s).finish(),
            ReadBody::Stream(_) => f.write_str("Stream"),
        }
    }
}

impl ReadBody {
    /// The body as a byte stream, whatever its form.
    pub fn into_stream(self, chunk: usize) -> ByteStream {
        match self {
            ReadBody::Local(region) => region.into_stream(chunk),
            ReadBody::Socket(source) => source.into_stream(),
            ReadBody::Stream(s) => s,
        }
    }
}

/// A successful read: what was opened and its body.
#[derive(Debug)]
pub struct ReadHandle {
    /// Metadata of the whole file.
    pub meta: Metadata,
    /// The requested range of it.
    pub body: ReadBody,
}

impl ReadHandle {
    /// Narrows a handle opened on the whole file to `len` bytes (to the end when
    /// `None`) from `offset`: lets a zero-copy back-end open a file once for both
    /// its metadata and its body. Only local file regions can be narrowed.
    pub fn narrow(mut self, offset: u64, len: Option<u64>) -> Result<ReadHandle, StorageError> {
        let ReadBody::Local(region) = &mut self.body else {
            return Err(StorageError::new(ErrorKind::Unsupported));
        };
        if offset > self.meta.size {
            return Err(StorageError::new(ErrorKind::InvalidOffset));
        }
        region.narrow(
            offset,
            len.map_or(self.meta.size - offset, |l| l.min(self.meta.size - offset)),
        );
        Ok(self)
    }
}

/// How a write treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Write aside, then atomically replace (or create) the target on commit.
    Replace,
    /// Write aside, then publish only if the name is still free (FTP STOU, WebDAV
    /// `Overwrite: F`); a taken name fails the commit with `AlreadyExists`.
    CreateNew,
    /// Extend the file (FTP APPE) — see [`Capabilities::append`].
    Append,
    /// Keep the file's first bytes up to this offset and write on from there,
    /// dropping what followed (FTP `REST n` + `STOR`) — see [`Capabilities::resume`].
    At(u64),
}

impl WriteMode {
    /// Appends and resumed uploads build on the file's current contents: only one
    /// such writer at a time may hold a file.
    pub fn builds_on_existing(self) -> bool {
        matches!(self, WriteMode::Append | WriteMode::At(_))
    }
}

/// What a committed write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOutcome {
    /// True when the target did not exist before.
    pub created: bool,
    /// Bytes written by this upload.
    pub bytes: u64,
}

/// A pending write. [`Upload::abort`] (or, as a best-effort fallback, dropping it)
/// leaves the target as it was (for `Replace`/`CreateNew`) and no temporary
/// object behind; back-ends that need a network call to abort do it there.
#[async_trait]
pub trait Upload: Send {
    /// Appends a chunk. Back-ends may buffer; nothing is visible before commit
    /// (except for a [`Resume::Native`] or appending local write, which is in place).
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError>;
    /// The local file to write directly, where the back-end has one (zero-copy
    /// uploads); `None` (the default) means bytes go through [`Upload::write`].
    fn local_sink(&mut self) -> Option<local::FileSink<'_>> {
        None
    }
    /// The upstream data connection to write directly, where the back-end has
    /// a plain one (zero-copy relays); `None` (the default) means bytes go
    /// through [`Upload::write`]. Bytes written to it must be reported with
    /// [`upstream_ftp::SocketSink::wrote`].
    fn socket_sink(&mut self) -> Option<upstream_ftp::SocketSink<'_>> {
        None
    }
    /// Makes the data durable and visible under the target name.
    async fn commit(self: Box<Self>) -> Result<WriteOutcome, StorageError>;
    /// Gives the upload up: nothing of it stays visible or stored.
    async fn abort(self: Box<Self>) -> Result<(), StorageError>;
}

/// A volume: one back-end as one identity sees it, rooted at that identity's
/// home. Every path is beneath the home; implementations must not let any path
/// (symlinks included) leave it.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// A short fixed name for metrics labels: `fs`, `memory`, `s3`, `ftp`.
    fn name(&self) -> &'static str;
    /// What this volume can do now (an upstream FTP server's capabilities are
    /// learned as it answers, so they may shrink: see [`Capabilities`]).
    fn capabilities(&self) -> Capabilities;
    /// Metadata of one path.
    async fn stat(&self, path: &VirtualPath) -> Result<Metadata, StorageError>;
    /// Whether the name is taken by anything — also by what `stat` cannot follow,
    /// such as a symbolic link out of the volume or a dangling one — so that a
    /// replace can treat it as the existing resource it is.
    async fn name_taken(&self, path: &VirtualPath) -> Result<bool, StorageError> {
        match self.stat(path).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
    /// Lists a directory. Fails up front if `path` is missing or not a directory.
    async fn list(&self, path: &VirtualPath) -> Result<ListStream, StorageError>;
    /// Lists a directory for a caller that needs only the names (FTP `NLST`):
    /// the same entries as [`list`](Self::list), but a back-end may leave out
    /// what costs a call per entry to learn (local disk: the `stat` of every
    /// file and directory whose kind the directory itself tells), so `size`,
    /// `modified`, `mode` and `etag` may be unknown. By default, [`list`](Self::list).
    async fn list_names(&self, path: &VirtualPath) -> Result<ListStream, StorageError> {
        self.list(path).await
    }
    /// Opens `len` bytes (to the end when `None`) of a file from `offset`.
    async fn read(&self, path: &VirtualPath, offset: u64, len: Option<u64>) -> Result<ReadHandle, StorageError>;
    /// Starts a write to `path`. Fails up front if the parent is missing, or if
    /// the mode is one the capabilities do not declare.
    async fn write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Box<dyn Upload>, StorageError>;
    /// Deletes a file (a symbolic link itself, never what it points to).
    async fn delete(&self, path: &VirtualPath) -> Result<(), StorageError>;
    /// Creates a directory (the parent must exist).
    async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError>;
    /// Removes an empty directory (one holding only abandoned uploads counts as empty).
    async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError>;
    /// Renames a file or (with [`Capabilities::rename_dirs`]) a directory,
    /// replacing a file at `to`.
    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError>;
    /// Copies a file or, recursively, a directory; `to` must not exist. A tree
    /// copy never follows a link out of the tree; one that fails part-way says how
    /// far it got (and the caller removes the partial copy).
    async fn copy(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), TreeError>;
    /// Removes a file, or a directory with everything beneath it, like `rm -r`:
    /// a symbolic link is removed, never followed. Returns the entries removed;
    /// a failure part-way says how far it got.
    async fn remove_tree(&self, path: &VirtualPath) -> Result<u64, TreeError> {
        remove_tree_generic(self, path).await
    }
    /// Sets the modification time of a file or directory. Back-ends that
    /// cannot ([`Capabilities::set_modified_times`] false) keep this default
    /// refusal.
    async fn set_modified(&self, path: &VirtualPath, modified: std::time::SystemTime) -> Result<(), StorageError> {
        let _ = (path, modified);
        Err(StorageError::new(ErrorKind::Unsupported))
    }
    /// Sets the permission bits (`0o000`–`0o777`) of a file or directory. Back-ends
    /// without modes ([`Capabilities::modes`] false) keep this default refusal.
    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> Result<(), StorageError> {
        let _ = (path, mode);
        Err(StorageError::new(ErrorKind::Unsupported))
    }
    /// The WebDAV dead properties stored with a file or directory, as the opaque
    /// blob [`Storage::set_dead_props`] stored (empty: none). Back-ends without
    /// ([`Capabilities::dead_properties`] false) keep this default refusal.
    async fn dead_props(&self, path: &VirtualPath) -> Result<Vec<u8>, StorageError> {
        let _ = path;
        Err(StorageError::new(ErrorKind::Unsupported))
    }
    /// Replaces the dead-property blob of a file or directory (empty removes it).
    /// Copies carry it along; a rename keeps it; a delete removes it.
    async fn set_dead_props(&self, path: &VirtualPath, blob: Vec<u8>) -> Result<(), StorageError> {
        let _ = (path, blob);
        Err(StorageError::new(ErrorKind::Unsupported))
    }
}

/// Refuses a change to a volume's root: the home stays as deployed — it is not
/// written, created, removed or renamed through its own volume (object stores,
/// upstream FTP and the memory back-end; local disk refuses it in its own way).
pub(crate) fn refuse_root(path: &VirtualPath) -> Result<(), StorageError> {
    if path.is_root() {
        return Err(StorageError::with_source(
            ErrorKind::PermissionDenied,
            "the home directory itself cannot be changed",
        ));
    }
    Ok(())
}

/// A storage back-end as configured: opened once, attached per identity.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short fixed name for metrics labels: `fs`, `memory`, `s3`, `ftp`.
    fn name(&self) -> &'static str;
    /// What this back-end's volumes can do — for most back-ends the same for
    /// all; where it depends on the volume (an upstream FTP server's, learned
    /// per upstream), what any of them may do, and each volume's
    /// [`Storage::capabilities`] says what it can (see [`Capabilities`]).
    fn capabilities(&self) -> Capabilities;
    /// The volume of a logged-in identity: the back-end rooted at its home (and,
    /// for pass-through back-ends, logged in as it). A home that is missing or
    /// not a directory fails.
    async fn attach(&self, user: &User) -> Result<Arc<dyn Storage>, StorageError>;
    /// Creates a home directory and its parents where missing (start-up and
    /// reload); `true` when something was created.
    async fn create_home(&self, home: &VirtualPath) -> Result<bool, StorageError>;
    /// Checks the back-end is reachable (readiness).
    async fn probe(&self) -> Result<(), StorageError>;
    /// Removes uploads that a process left behind (killed mid-transfer) and that
    /// have not been written to for the back-end's stale-upload age; returns how
    /// many. Back-ends whose uploads cannot outlive their process keep this default.
    async fn sweep_stale_uploads(&self) -> Result<u64, StorageError> {
        Ok(0)
    }
    /// How often to sweep again after the start-up sweep: `None` for back-ends
    /// whose uploads are left only by a process that died (the local disk), a
    /// period for those where running processes leave them too (an object
    /// store's lost answers, other replicas).
    fn sweep_every(&self) -> Option<std::time::Duration> {
        None
    }
}
