//! One writer at a time per file, inside this process, whatever the back-end.
//!
//! Appends and resumed uploads (FTP `APPE`, `REST n` + `STOR`) build on the
//! file's current contents: two at once would interleave their bytes, and a
//! replace arriving in the middle would lose one. So a writer that builds on the
//! file holds it alone, and one that replaces it whole (`STOR`, `PUT`, `COPY`
//! onto it) holds it shared with other replacers — which stay
//! last-complete-wins, as atomic replaces are. Create-only writers (`PUT` with
//! `If-None-Match: *`, WebDAV `Overwrite: F`) also hold the name against each
//! other: the second gets `AlreadyExists` (HTTP 412) at its commit. A writer that cannot have the file
//! is refused at once with [`ErrorKind::Busy`] (FTP 450, HTTP 409): a queued
//! upload would hold its client's connection for an unknown time.
//!
//! Files are keyed by their path in the back-end (the volume's home joined with
//! the path), so two users whose homes overlap contend for the same file. The
//! key is the name, not the object: two names of one file (a symbolic link
//! placed by an administrator) are two keys, and a rename onto a file being
//! appended to takes no claim. Other processes on the same storage are not seen.
//!
//! This layer also tells the kept volumes ([`super::volumes`]) when a directory
//! that may be someone's home is renamed or removed, so the next login opens
//! the home afresh; and, as every change of every volume passes here, it keeps
//! the open-file cache ([`super::open_files`]): reads are answered from it, and
//! each change drops what it kept of the changed path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;

use super::ErrorKind;
use super::open_files::{OpenFiles, VolumeFiles};
use super::{
    Capabilities, ListStream, Metadata, ReadHandle, Storage, StorageError, TreeError, Upload, WriteMode, WriteOutcome,
    local::FileSink, upstream_ftp::SocketSink,
};
use crate::path::VirtualPath;

/// Who holds a file.
#[derive(Debug, Clone, Copy)]
enum Holders {
    /// One writer building on the file.
    Exclusive,
    /// This many replacing writers.
    Shared(usize),
}

/// The files being written in this process.
#[derive(Debug, Default)]
pub struct WriterTable {
    held: Mutex<HashMap<String, Holders>>,
}

/// A claim on a file, released when dropped.
#[derive(Debug)]
pub struct WriterClaim {
    table: Arc<WriterTable>,
    key: String,
}

impl WriterTable {
    /// Claims `key` alone (`exclusive`) or shared; refused while it cannot be had.
    pub fn claim(self: &Arc<Self>, key: String, exclusive: bool) -> Result<WriterClaim, StorageError> {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = match (held.get(&key), exclusive) {
            (None, true) => Holders::Exclusive,
            (None, false) => Holders::Shared(1),
            (Some(Holders::Shared(n)), false) => Holders::Shared(n + 1),
            _ => {
                return Err(StorageError::with_source(
                    ErrorKind::Busy,
                    "another upload to this file is in progress",
                ));
            }
        };
        held.insert(key.clone(), next);
        Ok(WriterClaim {
            table: self.clone(),
            key,
        })
    }

    /// Files held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.held.lock().map_or(0, |h| h.len())
    }

    /// True when no file is held.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for WriterClaim {
    fn drop(&mut self) {
        let mut held = self
            .table
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match held.get(&self.key) {
            Some(Holders::Shared(n)) if *n > 1 => {
                let n = *n - 1;
                held.insert(self.key.clone(), Holders::Shared(n));
            }
            _ => {
                held.remove(&self.key);
            }
        }
    }
}

/// A volume whose writers claim their file first.
pub struct Exclusive {
    inner: Arc<dyn Storage>,
    home: VirtualPath,
    table: Arc<WriterTable>,
    kept: Arc<super::volumes::Kept>,
    /// Every volume's open-file cache, told of this volume's changes (`None`: off).
    open_files: Option<Arc<OpenFiles>>,
    /// This volume's (`None`: the back-end has no local files to keep).
    files: Option<Arc<VolumeFiles>>,
}

impl std::fmt::Debug for Exclusive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Exclusive({}, {})", self.inner.name(), self.home)
    }
}

impl Exclusive {
    /// Wraps the volume rooted at `home`, claiming through `table`; renamed or
    /// removed directories are forgotten in `kept`; reads of a zero-copy
    /// (local) back-end are kept in `open_files`, if there is one.
    pub fn new(
        inner: Arc<dyn Storage>,
        home: VirtualPath,
        table: Arc<WriterTable>,
        kept: Arc<super::volumes::Kept>,
        open_files: Option<Arc<OpenFiles>>,
    ) -> Self {
        let open_files = open_files.filter(|_| inner.capabilities().zero_copy);
        let files = open_files.as_ref().map(|o| o.volume(&home));
        Exclusive {
            inner,
            home,
            table,
            kept,
            open_files,
            files,
        }
    }

    /// After `path` was renamed or removed: a home at or beneath it is opened
    /// afresh at the next login.
    fn moved(&self, path: &VirtualPath) {
        let nested = self.home.nest(path);
        if let Some(open_files) = &self.open_files {
            open_files.changed(&nested);
        }
        self.kept.forget_beneath(&nested);
    }

    /// After `path` (or something beneath it) may have changed: no volume
    /// serves what it kept of it.
    fn changed(&self, path: &VirtualPath) {
        if let Some(open_files) = &self.open_files {
            open_files.changed(&self.home.nest(path));
        }
    }

    fn claim(&self, path: &VirtualPath, exclusive: bool) -> Result<WriterClaim, StorageError> {
        self.table.claim(self.home.nest(path).as_str().to_owned(), exclusive)
    }
}

#[async_trait]
impl Storage for Exclusive {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn stat(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        self.inner.stat(path).await
    }

    async fn name_taken(&self, path: &VirtualPath) -> Result<bool, StorageError> {
        self.inner.name_taken(path).await
    }

    async fn list(&self, path: &VirtualPath) -> Result<ListStream, StorageError> {
        self.inner.list(path).await
    }

    async fn list_names(&self, path: &VirtualPath) -> Result<ListStream, StorageError> {
        self.inner.list_names(path).await
    }

    async fn read(&self, path: &VirtualPath, offset: u64, len: Option<u64>) -> Result<ReadHandle, StorageError> {
        let Some(files) = &self.files else {
            return self.inner.read(path, offset, len).await;
        };
        let since = match files.read(path, offset, len) {
            Ok(kept) => return kept,
            Err(since) => since,
        };
        let handle = self.inner.read(path, offset, len).await?;
        files.keep(path, &handle, since);
        Ok(handle)
    }

    async fn write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Box<dyn Upload>, StorageError> {
        let claim = self.claim(path, mode.builds_on_existing())?;
        // Two create-only writers of one name at once: the second loses, as it
        // would at the commit, where a store's conditional write is the only
        // guard (a test store, moto, was seen to let both win). It loses at its
        // commit, once its body is read: answered before, a client still
        // sending would see its connection reset instead of the 412.
        let (creating, outrun) = match mode {
            WriteMode::CreateNew => {
                match self
                    .table
                    .claim(format!("create-new:{}", self.home.nest(path).as_str()), true)
                {
                    Ok(claim) => (Some(claim), false),
                    Err(_) => (None, true),
                }
            }
            _ => (None, false),
        };
        // An append or a resumed upload writes the file in place as it goes.
        self.changed(path);
        let inner = self.inner.write(path, mode).await?;
        Ok(Box::new(ClaimedUpload {
            inner,
            _claim: claim,
            _creating: creating,
            outrun,
            changed: self.open_files.clone().map(|open_files| Changed {
                open_files,
                path: self.home.nest(path),
            }),
        }))
    }

    async fn delete(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let deleted = self.inner.delete(path).await;
        self.changed(path);
        deleted
    }

    async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        self.inner.mkdir(path).await
    }

    async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let removed = self.inner.rmdir(path).await;
        self.moved(path);
        removed
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        let renamed = self.inner.rename(from, to).await;
        self.moved(from);
        self.moved(to);
        renamed
    }

    async fn copy(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), TreeError> {
        let _claim = self.claim(to, false).map_err(|e| TreeError::at_start(e, to))?;
        let copied = self.inner.copy(from, to).await;
        self.changed(to);
        copied
    }

    async fn remove_tree(&self, path: &VirtualPath) -> Result<u64, TreeError> {
        let removed = self.inner.remove_tree(path).await;
        self.moved(path);
        removed
    }

    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> Result<(), StorageError> {
        let set = self.inner.set_mode(path, mode).await;
        self.changed(path);
        set
    }

    async fn set_modified(&self, path: &VirtualPath, modified: std::time::SystemTime) -> Result<(), StorageError> {
        let set = self.inner.set_modified(path, modified).await;
        self.changed(path);
        set
    }

    async fn dead_props(&self, path: &VirtualPath) -> Result<Vec<u8>, StorageError> {
        self.inner.dead_props(path).await
    }

    async fn set_dead_props(&self, path: &VirtualPath, blob: Vec<u8>) -> Result<(), StorageError> {
        self.inner.set_dead_props(path, blob).await
    }
}

/// An upload holding its file's claim until it is committed, aborted or dropped.
struct ClaimedUpload {
    inner: Box<dyn Upload>,
    _claim: WriterClaim,
    /// A create-only upload's hold on its name against other create-only ones.
    _creating: Option<WriterClaim>,
    /// A create-only upload that started while another of the same name was
    /// running: it fails at its commit.
    outrun: bool,
    /// Tells the open-file cache when the upload ends, however it ends.
    changed: Option<Changed>,
}

/// Drops the open-file cache's entries of an upload's file when the upload
/// ends (committed, aborted or dropped): its bytes or its name changed.
struct Changed {
    open_files: Arc<OpenFiles>,
    path: VirtualPath,
}

impl Drop for Changed {
    fn drop(&mut self) {
        self.open_files.changed(&self.path);
    }
}

#[async_trait]
impl Upload for ClaimedUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        self.inner.write(chunk).await
    }

    fn local_sink(&mut self) -> Option<FileSink<'_>> {
        self.inner.local_sink()
    }

    fn socket_sink(&mut self) -> Option<SocketSink<'_>> {
        self.inner.socket_sink()
    }

    async fn commit(self: Box<Self>) -> Result<WriteOutcome, StorageError> {
        let ClaimedUpload {
            inner,
            _claim,
            _creating,
            outrun,
            changed,
        } = *self;
        if outrun {
            let _ = inner.abort().await;
            return Err(StorageError::with_source(
                ErrorKind::AlreadyExists,
                "another create-only upload of this name was in progress",
            ));
        }
        let committed = inner.commit().await;
        drop(changed);
        committed
    }

    async fn abort(self: Box<Self>) -> Result<(), StorageError> {
        let ClaimedUpload {
            inner,
            _claim,
            _creating,
            changed,
            ..
        } = *self;
        let aborted = inner.abort().await;
        drop(changed);
        aborted
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn builders_exclude_everyone_and_replacers_share() {
        let t = Arc::new(WriterTable::default());
        let a = t.claim("/f".into(), true).unwrap();
        assert_eq!(t.claim("/f".into(), true).unwrap_err().kind, ErrorKind::Busy);
        assert_eq!(t.claim("/f".into(), false).unwrap_err().kind, ErrorKind::Busy);
        let other = t.claim("/g".into(), true).unwrap();
        drop(a);
        let r1 = t.claim("/f".into(), false).unwrap();
        let r2 = t.claim("/f".into(), false).unwrap();
        assert_eq!(t.claim("/f".into(), true).unwrap_err().kind, ErrorKind::Busy);
        drop(r1);
        assert_eq!(t.claim("/f".into(), true).unwrap_err().kind, ErrorKind::Busy);
        drop(r2);
        drop(other);
        assert!(t.is_empty());
        let _again = t.claim("/f".into(), true).unwrap();
    }
}
