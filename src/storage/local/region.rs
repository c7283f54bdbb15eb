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
        Some(
            read_exact_uninit(&self.file, len, self.offset).map_err(|e| StorageError::with_source(ErrorKind::Other, e)),
        )
    }

    /// The region as a stream of chunks of at most `chunk` bytes, read on the
    /// blocking pool, for consumers that cannot use the file directly (HTTP
    /// bodies, TLS data connections, `TYPE A`). The first read is at most
    /// [`FIRST_READ`] and each next one twice the last, up to `chunk`: a body
    /// nobody reads on (a reset HTTP/2 stream, a client that stops after the
    /// first bytes) costs a small buffer, and a long one soon reads big pieces.
    pub fn into_stream(self, chunk: usize) -> ByteStream {
        struct State {
            file: Arc<File>,
            pos: u64,
            end: u64,
            next: usize,
        }
        let state = State {
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
}

/// Reads `len` bytes at `offset` into a new buffer that is not zeroed first: the
/// kernel fills it (a small response's read is then one copy, not a memset and a
/// copy). A file that ends early (it shrank under us) is an error.
fn read_exact_uninit(file: &File, len: usize, offset: u64) -> std::io::Result<Bytes> {
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        let at = offset + buf.len() as u64;
        // `pread` into the spare capacity grows `buf` by what it read.
        match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), at) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // The capacity may exceed `len`, and a file that grew may fill it.
    buf.truncate(len);
    Ok(Bytes::from(buf))
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
