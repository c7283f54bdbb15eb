//! The local back-end's zero-copy capability: an open file region that the data
//! paths may send with `sendfile(2)`, and the file behind a pending upload that
//! they may `splice(2)` into. Only this back-end makes them; the data paths ask
//! for them ([`ReadBody::Local`](crate::storage::ReadBody::Local),
//! [`Upload::local_sink`](crate::storage::Upload::local_sink)) and fall back to
//! byte streams otherwise.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

use crate::storage::{ByteStream, ErrorKind, StorageError};

/// Largest region [`FileRegion::read_inline`] reads on the I/O thread.
pub const INLINE_READ_MAX: u64 = 64 * 1024;
/// The first read of [`FileRegion::into_stream`].
pub const FIRST_READ: usize = 64 * 1024;

/// An open, confined region of a local file.
#[derive(Debug)]
pub struct FileRegion {
    file: Arc<File>,
    offset: u64,
    len: u64,
    /// A small read may run on the I/O thread (a local disk with
    /// `inline_metadata`): a page-cache read costs less than a hand-off to the
    /// blocking pool.
    inline_reads: bool,
    /// Opened by a path without symbolic links: the file is the one its path
    /// names, so the open-file cache may keep it under that path
    /// ([`open_files`](crate::storage::open_files)).
    by_plain_path: bool,
}

impl FileRegion {
    pub(super) fn new(file: File, offset: u64, len: u64, inline_reads: bool, by_plain_path: bool) -> Self {
        FileRegion {
            file: Arc::new(file),
            offset,
            len,
            inline_reads,
            by_plain_path,
        }
    }

    /// Whether the file was opened by a path without symbolic links (see the field).
    pub fn by_plain_path(&self) -> bool {
        self.by_plain_path
    }

    /// Another region of the same open file, read the same way (the open-file
    /// cache hands out one per hit).
    pub fn share(&self, offset: u64, len: u64) -> FileRegion {
        FileRegion {
            file: self.file.clone(),
            offset,
            len,
            inline_reads: self.inline_reads,
            by_plain_path: self.by_plain_path,
        }
    }

    /// Whether dropping this region closes a file that has no name left
    /// (deleted, or replaced by a rename): no other region shares its
    /// descriptor, and that last close frees the file's pages, which takes a
    /// while for a large file (0.2 s of CPU for 1 GiB on tmpfs).
    pub fn closes_unlinked(&self) -> bool {
        Arc::strong_count(&self.file) == 1 && rustix::fs::fstat(&*self.file).is_ok_and(|st| st.st_nlink == 0)
    }

    /// The open file, for `sendfile`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// The open file, shared (a body that outlives this region, sent with `sendfile`).
    pub fn shared_file(&self) -> Arc<File> {
        self.file.clone()
    }

    /// First byte to send.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Number of bytes to send.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty region.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn narrow(&mut self, offset: u64, len: u64) {
        self.offset = offset;
        self.len = len;
    }

    /// Another region of the same open file (a part of a multi-range response).
    pub fn part(&self, offset: u64, len: u64) -> FileRegion {
        FileRegion {
            file: self.file.clone(),
            offset,
            len,
            inline_reads: false,
            by_plain_path: self.by_plain_path,
        }
    }

    /// Reads the whole region on the calling thread, when it is small and the
    /// back-end allows inline reads; `None` otherwise (stream it instead).
    pub fn read_inline(&self) -> Option<Result<Bytes, StorageError>> {
        if !self.inline_reads || self.len > INLINE_READ_MAX {
            return None;
        }
        let len = usize::try_from(self.len).ok()?;
        let mut buf = Vec::with_capacity(len);
        while buf.len() < len {
            let at = self.offset + buf.len() as u64;
            match pread_into(&self.file, &mut buf, at) {
                Ok(0) => return Some(Err(shrank())),
                Ok(_) => {}
                Err(e) => return Some(Err(e.into())),
            }
        }
        buf.truncate(len);
        Some(Ok(Bytes::from(buf)))
    }

    /// The region as a stream of chunks of at most `chunk` bytes, for consumers
    /// that cannot use the file directly (HTTP bodies, TLS data connections,
    /// `TYPE A`). The first read is at most [`FIRST_READ`] and each next one twice
    /// the last, up to `chunk`: a body nobody reads on (a reset HTTP/2 stream, a
    /// client that stops after the first bytes) costs a small buffer, and a long
    /// one soon reads big pieces.
    ///
    /// Each read goes into a fresh buffer's uninitialised capacity: nothing is
    /// zeroed first. It runs on the calling thread when the back-end allows inline
    /// reads and the file's pages are memory (tmpfs, ramfs: a read is a copy and
    /// never waits for a device). On other file systems, with inline reads
    /// allowed, a read first takes what the page cache holds on the calling
    /// thread ([`read_cached`]); the rest, and every read without inline reads,
    /// goes to the blocking pool. A consumer that wants the next read to overlap
    /// its sending of the last asks for it while it sends.
    pub fn into_stream(self, chunk: usize) -> ByteStream {
        struct State {
            file: Arc<File>,
            pos: u64,
            end: u64,
            next: usize,
            inline: bool,
            /// Try [`read_cached`] first (until the file system refuses it).
            cached: bool,
        }
        let inline = self.inline_reads && in_memory(&self.file);
        let state = State {
            inline,
            cached: self.inline_reads && !inline,
            file: self.file,
            pos: self.offset,
            end: self.offset.saturating_add(self.len),
            next: chunk.min(FIRST_READ),
        };
        Box::pin(futures_util::stream::try_unfold(state, move |mut st| async move {
            if st.pos >= st.end {
                return Ok(None);
            }
            let want = usize::try_from(st.end - st.pos).unwrap_or(usize::MAX).min(st.next);
            st.next = st.next.saturating_mul(2).min(chunk);
            let cached = if st.cached {
                read_cached(&st.file, st.pos, want)
            } else {
                Cached::Miss
            };
            if cached == Cached::Unsupported {
                st.cached = false;
            }
            let buf = if st.inline {
                read_chunk(&st.file, st.pos, want)?
            } else if let Cached::Hit(buf) = cached {
                buf
            } else {
                let (file, pos) = (st.file.clone(), st.pos);
                tokio::task::spawn_blocking(move || read_chunk(&file, pos, want))
                    .await
                    .map_err(|e| StorageError::with_source(ErrorKind::Other, e))??
            };
            if buf.is_empty() {
                // The file shrank under us: end the stream short; the consumer sees fewer bytes than promised.
                return Err(shrank());
            }
            st.pos += buf.len() as u64;
            Ok(Some((Bytes::from(buf), st)))
        }))
    }
}

/// One read of up to `want` bytes at `pos` into a fresh buffer.
fn read_chunk(file: &File, pos: u64, want: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(want);
    pread_into(file, &mut buf, pos)?;
    // The allocation may have more room than asked for: never hand out bytes past `want`.
    buf.truncate(want);
    Ok(buf)
}

/// What [`read_cached`] found.
#[derive(Debug, PartialEq, Eq)]
enum Cached {
    /// Bytes from the page cache (maybe fewer than asked for).
    Hit(Vec<u8>),
    /// Not in the page cache, or the end of the file: the pool's read decides.
    Miss,
    /// The file system has no `RWF_NOWAIT` (tmpfs, many network file systems).
    Unsupported,
}

/// Reads up to `want` bytes at `pos` only as far as they are in the page cache
/// (`preadv2` with `RWF_NOWAIT`: it never waits for the device), so a warm file
/// costs no hand-off to the blocking pool: the hand-off, two thread wake-ups per
/// chunk, cost far more than the read itself (bench/RESULTS.md). `RWF_NOWAIT`
/// takes an initialised buffer, so this one is zeroed: a `memset`, much cheaper
/// than the hand-off.
fn read_cached(file: &File, pos: u64, want: usize) -> Cached {
    let mut buf = vec![0u8; want];
    let flags = rustix::io::ReadWriteFlags::NOWAIT;
    match rustix::io::preadv2(file, &mut [rustix::io::IoSliceMut::new(&mut buf)], pos, flags) {
        Ok(0) => Cached::Miss,
        Ok(n) => {
            buf.truncate(n);
            Cached::Hit(buf)
        }
        Err(rustix::io::Errno::NOTSUP) => Cached::Unsupported,
        // EAGAIN (not cached), or an error the pool's read will report.
        Err(_) => Cached::Miss,
    }
}

/// Appends what one `pread` at `pos` gives to `buf`, read straight into its
/// spare capacity (uninitialised: nothing is zeroed first); the number of bytes,
/// 0 at the end of the file.
fn pread_into(file: &File, buf: &mut Vec<u8>, pos: u64) -> std::io::Result<usize> {
    loop {
        match rustix::io::pread(file, rustix::buffer::spare_capacity(buf), pos) {
            Err(rustix::io::Errno::INTR) => continue,
            result => return result.map_err(std::io::Error::from),
        }
    }
}

/// True when the file's pages are memory (tmpfs, ramfs), so that reading it
/// never waits for a device.
pub(super) fn in_memory(file: &File) -> bool {
    const TMPFS_MAGIC: u32 = 0x0102_1994;
    const RAMFS_MAGIC: u32 = 0x8584_58f6;
    // `f_type`'s integer type differs between architectures; the magic numbers are 32 bits.
    rustix::fs::fstatfs(file).is_ok_and(|fs| matches!(fs.f_type as u32, TMPFS_MAGIC | RAMFS_MAGIC))
}

/// The file ended before the region did: it shrank under us.
fn shrank() -> StorageError {
    StorageError::new(ErrorKind::Other)
}

/// The local file behind a pending upload, for a data path that writes it directly
/// (`splice(2)` from a socket): the bytes never pass through user space. Whoever
/// writes through it reports each write with [`FileSink::wrote`], so the upload's
/// position and byte count stay true.
#[derive(Debug)]
pub struct FileSink<'a> {
    file: &'a File,
    pos: &'a mut u64,
    written: &'a mut u64,
}

impl<'a> FileSink<'a> {
    pub(super) fn new(file: &'a File, pos: &'a mut u64, written: &'a mut u64) -> Self {
        FileSink { file, pos, written }
    }

    /// The file (opened for writing, not in append mode).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// Writes `buf` at the sink's position (a short block the data path had to
    /// read into memory) and records it.
    pub fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.file.write_all_at(buf, *self.pos)?;
        self.wrote(buf.len() as u64);
        Ok(())
    }

    /// Writes `pieces` one after another at the sink's position, with as few
    /// `pwritev(2)` calls as the kernel needs, and records them.
    pub fn write_pieces(&mut self, pieces: &[Bytes]) -> std::io::Result<()> {
        let mut slices: Vec<std::io::IoSlice<'_>> = pieces.iter().map(|p| std::io::IoSlice::new(p)).collect();
        let mut left = &mut slices[..];
        while !left.is_empty() {
            match rustix::io::pwritev(self.file, left, *self.pos) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.wrote(n as u64);
                    std::io::IoSlice::advance_slices(&mut left, n);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
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
