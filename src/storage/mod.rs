//! The storage trait every back-end implements, and the values it exchanges.
//!
//! Designed for all three back-ends (local disk, S3-compatible object stores, an
//! upstream FTP server): paths are [`VirtualPath`]s beneath the back-end's own
//! root; listings and reads are streamed; writes go into a pending [`Upload`] that
//! becomes visible only on [`Upload::commit`] and leaves nothing behind when
//! dropped or aborted; errors are protocol-neutral ([`StorageError`]); what a
//! back-end can do is declared in [`Capabilities`] so the pipeline can refuse
//! cleanly instead of failing half-way.

mod error;
pub mod local;
pub mod metered;

use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

use crate::path::VirtualPath;
pub use error::{ErrorKind, StorageError};

/// A boxed stream, as the trait returns them.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + Send + 'static>>;

/// Whether an entry is a file or a directory. Symlinks are resolved by the back-end
/// (and ones pointing outside its root are not shown).
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
    /// A value unique to this object within the back-end (inode, ETag hash), if any.
    pub unique: Option<u64>,
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
    /// The entry's name (one component).
    pub name: String,
    /// Its metadata.
    pub meta: Metadata,
}

/// A listing, delivered in batches so that a huge directory is never held whole.
pub type ListStream = BoxStream<Result<Vec<DirEntry>, StorageError>>;

/// A byte stream, as read from or written to a back-end.
pub type ByteStream = BoxStream<Result<Bytes, StorageError>>;

/// An open, confined local file region: lets the data path use `sendfile`/`splice`.
#[derive(Debug)]
pub struct FileRegion {
    /// The open file.
    pub file: std::fs::File,
    /// First byte to send.
    pub offset: u64,
    /// Number of bytes to send.
    pub len: u64,
    /// A small read of this file may run on the I/O thread (a local disk with
    /// `inline_metadata`): a page-cache read costs less than a hand-off to the
    /// blocking pool.
    pub inline_reads: bool,
}

/// Largest region [`FileRegion::read_inline`] reads on the I/O thread.
pub const INLINE_READ_MAX: u64 = 64 * 1024;

impl FileRegion {
    /// Reads the whole region on the calling thread, when it is small and the
    /// back-end allows inline reads; `None` otherwise (stream it instead).
    pub fn read_inline(&self) -> Option<Result<Bytes, StorageError>> {
        use std::os::unix::fs::FileExt;
        if !self.inline_reads || self.len > INLINE_READ_MAX {
            return None;
        }
        let len = usize::try_from(self.len).ok()?;
        let mut buf = vec![0u8; len];
        Some(match self.file.read_exact_at(&mut buf, self.offset) {
            Ok(()) => Ok(Bytes::from(buf)),
            // The file shrank under us.
            Err(e) => Err(StorageError::with_source(ErrorKind::Other, e)),
        })
    }
}

/// The body of a read: a local file region (zero-copy capable) or a byte stream.
pub enum ReadBody {
    /// A region of a local file.
    File(FileRegion),
    /// Bytes from anywhere else.
    Stream(ByteStream),
}

impl std::fmt::Debug for ReadBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadBody::File(r) => f.debug_tuple("File").field(r).finish(),
            ReadBody::Stream(_) => f.write_str("Stream"),
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

/// How a write treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Write aside, then atomically replace (or create) the target on commit.
    Replace,
    /// Write aside, then publish only if the name is still free (FTP STOU, WebDAV
    /// `Overwrite: F`); a taken name fails the commit with `AlreadyExists`.
    CreateNew,
    /// Extend the visible file (FTP APPE).
    Append,
    /// Overwrite the visible file from this offset on, truncating what follows
    /// (FTP `REST n` + `STOR`).
    At(u64),
}

/// What a committed write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOutcome {
    /// True when the target did not exist before.
    pub created: bool,
    /// Bytes written by this upload.
    pub bytes: u64,
}

/// The local file behind a pending upload, for a data path that writes it directly
/// (`splice(2)` from a socket): the bytes never pass through user space. Whoever
/// writes through it reports each write with [`FileSink::wrote`], so the upload's
/// position and byte count stay true.
#[derive(Debug)]
pub struct FileSink<'a> {
    file: &'a std::fs::File,
    pos: &'a mut u64,
    written: &'a mut u64,
}

impl<'a> FileSink<'a> {
    /// A sink over `file` whose next byte goes to `*pos`.
    pub fn new(file: &'a std::fs::File, pos: &'a mut u64, written: &'a mut u64) -> Self {
        FileSink { file, pos, written }
    }

    /// The file (opened for writing, not in append mode).
    pub fn file(&self) -> &std::fs::File {
        self.file
    }

    /// Where the next byte goes.
    pub fn position(&self) -> u64 {
        *self.pos
    }

    /// Records `n` bytes written at [`FileSink::position`].
    pub fn wrote(&mut self, n: u64) {
        *self.pos += n;
        *self.written += n;
    }
}

/// A pending write. Dropping it without [`Upload::commit`] aborts it: the target is
/// left as it was (for `Replace`/`CreateNew`) and no temporary object remains.
#[async_trait]
pub trait Upload: Send {
    /// Appends a chunk. Back-ends may buffer; nothing is visible before commit.
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError>;
    /// The local file to write directly, where the back-end has one (zero-copy
    /// uploads); `None` (the default) means bytes go through [`Upload::write`].
    fn file_sink(&mut self) -> Option<FileSink<'_>> {
        None
    }
    /// Makes the data durable and visible under the target name.
    async fn commit(self: Box<Self>) -> Result<WriteOutcome, StorageError>;
}

/// What a back-end supports, so the pipeline can answer "not supported" up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `WriteMode::Append` works.
    pub append: bool,
    /// `WriteMode::At` works (resumed uploads).
    pub write_at: bool,
    /// `rename` is atomic (not copy + delete).
    pub atomic_rename: bool,
    /// Directories exist as real objects (not just key prefixes).
    pub real_directories: bool,
    /// Permission bits can be changed (FTP `SITE CHMOD`).
    pub modes: bool,
    /// Reads may come back as [`ReadBody::File`] (zero-copy capable).
    pub zero_copy: bool,
    /// WebDAV dead properties can be stored ([`Storage::dead_props`]).
    pub dead_properties: bool,
}

/// One storage back-end. Every path is beneath the back-end's root; implementations
/// must not let any path (symlinks included) escape it.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// A short fixed name for metrics labels: `fs`, `s3`, `ftp`.
    fn name(&self) -> &'static str;
    /// What this back-end can do.
    fn capabilities(&self) -> Capabilities;
    /// Metadata of one path.
    async fn stat(&self, path: &VirtualPath) -> Result<Metadata, StorageError>;
    /// Lists a directory. Fails up front if `path` is missing or not a directory.
    async fn list(&self, path: &VirtualPath) -> Result<ListStream, StorageError>;
    /// Opens `len` bytes (to the end when `None`) of a file from `offset`.
    async fn read(&self, path: &VirtualPath, offset: u64, len: Option<u64>) -> Result<ReadHandle, StorageError>;
    /// Starts a write to `path`. Fails up front if the parent is missing.
    async fn write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Box<dyn Upload>, StorageError>;
    /// Deletes a file.
    async fn delete(&self, path: &VirtualPath) -> Result<(), StorageError>;
    /// Creates a directory (the parent must exist).
    async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError>;
    /// Removes an empty directory.
    async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError>;
    /// Renames a file or directory, replacing a file at `to`.
    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError>;
    /// Copies a file or, recursively, a directory; `to` must not exist.
    async fn copy(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError>;
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
    /// Checks the back-end is reachable (readiness).
    async fn probe(&self) -> Result<(), StorageError>;
}

/// Reads a local file region as a stream of chunks of at most `chunk` bytes, for
/// consumers that cannot use the file directly (HTTP bodies, TLS data connections).
pub fn region_stream(region: FileRegion, chunk: usize) -> ByteStream {
    use std::os::unix::fs::FileExt;
    struct State {
        file: std::sync::Arc<std::fs::File>,
        pos: u64,
        end: u64,
    }
    let state = State {
        file: std::sync::Arc::new(region.file),
        pos: region.offset,
        end: region.offset.saturating_add(region.len),
    };
    Box::pin(futures_util::stream::try_unfold(state, move |mut st| async move {
        if st.pos >= st.end {
            return Ok(None);
        }
        let want = usize::try_from(st.end - st.pos).unwrap_or(usize::MAX).min(chunk);
        let file = st.file.clone();
        let pos = st.pos;
        let buf = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            let mut buf = vec![0u8; want];
            let n = file.read_at(&mut buf, pos)?;
            buf.truncate(n);
            Ok(buf)
        })
        .await
        .map_err(|e| StorageError::with_source(ErrorKind::Other, e))??;
        if buf.is_empty() {
            // The file shrank under us: end the stream short; the consumer sees fewer bytes than promised.
            return Err(StorageError::new(ErrorKind::Other));
        }
        st.pos += buf.len() as u64;
        Ok(Some((Bytes::from(buf), st)))
    }))
}

impl ReadHandle {
    /// Narrows a handle opened on the whole file to `len` bytes (to the end when
    /// `None`) from `offset`: lets a zero-copy back-end open a file once for both
    /// its metadata and its body. Only local file regions can be narrowed.
    pub fn narrow(mut self, offset: u64, len: Option<u64>) -> Result<ReadHandle, StorageError> {
        let ReadBody::File(region) = &mut self.body else {
            return Err(StorageError::new(ErrorKind::Unsupported));
        };
        if offset > self.meta.size {
            return Err(StorageError::new(ErrorKind::InvalidOffset));
        }
        let avail = self.meta.size - offset;
        region.offset = offset;
        region.len = len.map_or(avail, |l| l.min(avail));
        Ok(self)
    }
}

impl ReadBody {
    /// The body as a byte stream, whatever its form.
    pub fn into_stream(self, chunk: usize) -> ByteStream {
        match self {
            ReadBody::File(region) => region_stream(region, chunk),
            ReadBody::Stream(s) => s,
        }
    }
}
