//! Back-end metrics for every back-end: a [`Backend`] (and each volume it attaches)
//! that forwards each call to the real one and records
//! `dualgate_backend_operations_total{backend, operation, result}` and
//! `dualgate_backend_operation_duration_seconds{backend, operation}`. The server
//! wraps whichever back-end it runs, so all of them are measured the same way.
//! Streams (listings, reads) are measured until they are open; an upload is
//! measured when it opens (`write`), when it is made durable (`commit`) and when
//! it is given up (`abort`); tree operations once, whole.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    Backend, Capabilities, ListStream, Metadata, ReadHandle, Storage, StorageError, TreeError, Upload, WriteMode,
    WriteOutcome, local::FileSink, upstream_ftp::SocketSink,
};
use crate::auth::User;
use crate::metrics as m;
use crate::path::VirtualPath;
use crate::response::{ResultClass, Status};

/// A back-end with metrics; its volumes are measured too.
pub struct Metered {
    inner: Arc<dyn Backend>,
    handles: Arc<Handles>,
}

/// A volume with metrics.
struct MeteredVolume {
    inner: Arc<dyn Storage>,
    handles: Arc<Handles>,
}

/// The operations measured; the discriminant is the handle slot.
#[derive(Debug, Clone, Copy)]
enum Op {
    Stat,
    List,
    Read,
    Write,
    Commit,
    Delete,
    Mkdir,
    Rmdir,
    Rename,
    Copy,
    SetMode,
    SetModified,
    Probe,
    DeadProps,
    SetDeadProps,
    Abort,
    RemoveTree,
    Attach,
}

/// The `operation` label of each [`Op`], in discriminant order.
const OPERATIONS: [&str; 18] = [
    "stat",
    "list",
    "read",
    "write",
    "commit",
    "delete",
    "mkdir",
    "rmdir",
    "rename",
    "copy",
    "set_mode",
    "set_modified",
    "probe",
    "dead_props",
    "set_dead_props",
    "abort",
    "remove_tree",
    "attach",
];
/// Result classes (`ResultClass` discriminants).
const RESULTS: usize = 3;

/// Cached metric handles: a back-end call costs two atomic updates, not two
/// registry lookups (see [`m::HandleSlots`]).
#[derive(Debug)]
struct Handles {
    backend: &'static str,
    counters: m::HandleSlots<metrics::Counter>,
    durations: m::HandleSlots<metrics::Histogram>,
}

impl Handles {
    fn record(&self, op: Op, class: ResultClass, seconds: f64) {
        let (backend, operation, label) = (self.backend, OPERATIONS[op as usize], class.label());
        let count = || metrics::counter!(m::BACKEND_OPERATIONS_TOTAL, "backend" => backend, "operation" => operation, "result" => label);
        if let Some(c) = self.counters.get(op as usize * RESULTS + class as usize, count) {
            c.increment(1);
        }
        let duration = || metrics::histogram!(m::BACKEND_DURATION, "backend" => backend, "operation" => operation);
        if let Some(h) = self.durations.get(op as usize, duration) {
            h.record(seconds);
        }
    }
}

impl std::fmt::Debug for Metered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Metered({})", self.inner.name())
    }
}

impl Metered {
    /// Measures `inner`.
    pub fn new(inner: Arc<dyn Backend>) -> Self {
        let handles = Arc::new(Handles {
            backend: inner.name(),
            counters: m::HandleSlots::new(OPERATIONS.len() * RESULTS),
            durations: m::HandleSlots::new(OPERATIONS.len()),
        });
        Metered { inner, handles }
    }
}

/// The storage error inside an operation's error, for its result class.
trait Failure {
    fn kind(&self) -> super::ErrorKind;
}

impl Failure for StorageError {
    fn kind(&self) -> super::ErrorKind {
        self.kind
    }
}

impl Failure for TreeError {
    fn kind(&self) -> super::ErrorKind {
        self.error.kind
    }
}

/// Times one operation and counts its result (`ok`, `client_error` for a missing
/// file and the like, `server_error` for a failing back-end).
async fn measure<T, E: Failure>(
    handles: &Handles,
    operation: Op,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let result = call.await;
    let class = match &result {
        Ok(_) => ResultClass::Ok,
        Err(e) => Status::from_storage(e.kind()).class(),
    };
    handles.record(operation, class, started.elapsed().as_secs_f64());
    result
}

#[async_trait]
impl Backend for Metered {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn attach(&self, user: &User) -> Result<Arc<dyn Storage>, StorageError> {
        let inner = measure(&self.handles, Op::Attach, self.inner.attach(user)).await?;
        Ok(Arc::new(MeteredVolume {
            inner,
            handles: self.handles.clone(),
        }))
    }

    async fn create_home(&self, home: &VirtualPath) -> Result<bool, StorageError> {
        self.inner.create_home(home).await
    }

    async fn probe(&self) -> Result<(), StorageError> {
        measure(&self.handles, Op::Probe, self.inner.probe()).await
    }

    async fn sweep_stale_uploads(&self) -> Result<u64, StorageError> {
        self.inner.sweep_stale_uploads().await
    }

    fn sweep_every(&self) -> Option<std::time::Duration> {
        self.inner.sweep_every()
    }
}

#[async_trait]
impl Storage for MeteredVolume {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn stat(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        measure(&self.handles, Op::Stat, self.inner.stat(path)).await
    }

    async fn name_taken(&self, path: &VirtualPath) -> Result<bool, StorageError> {
        measure(&self.handles, Op::Stat, self.inner.name_taken(path)).await
    }

    async fn list(&self, path: &VirtualPath) -> Result<ListStream, StorageError> {
        measure(&self.handles, Op::List, self.inner.list(path)).await
    }

    async fn list_names(&self, path: &VirtualPath) -> Result<ListStream, StorageError> {
        measure(&self.handles, Op::List, self.inner.list_names(path)).await
    }

    async fn read(&self, path: &VirtualPath, offset: u64, len: Option<u64>) -> Result<ReadHandle, StorageError> {
        measure(&self.handles, Op::Read, self.inner.read(path, offset, len)).await
    }

    async fn write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Box<dyn Upload>, StorageError> {
        let inner = measure(&self.handles, Op::Write, self.inner.write(path, mode)).await?;
        Ok(Box::new(MeteredUpload {
            inner,
            handles: self.handles.clone(),
        }))
    }

    async fn delete(&self, path: &VirtualPath) -> Result<(), StorageError> {
        measure(&self.handles, Op::Delete, self.inner.delete(path)).await
    }

    async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        measure(&self.handles, Op::Mkdir, self.inner.mkdir(path)).await
    }

    async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        measure(&self.handles, Op::Rmdir, self.inner.rmdir(path)).await
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        measure(&self.handles, Op::Rename, self.inner.rename(from, to)).await
    }

    async fn copy(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), TreeError> {
        measure(&self.handles, Op::Copy, self.inner.copy(from, to)).await
    }

    async fn remove_tree(&self, path: &VirtualPath) -> Result<u64, TreeError> {
        measure(&self.handles, Op::RemoveTree, self.inner.remove_tree(path)).await
    }

    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> Result<(), StorageError> {
        measure(&self.handles, Op::SetMode, self.inner.set_mode(path, mode)).await
    }

    async fn set_modified(&self, path: &VirtualPath, modified: std::time::SystemTime) -> Result<(), StorageError> {
        measure(&self.handles, Op::SetModified, self.inner.set_modified(path, modified)).await
    }

    async fn dead_props(&self, path: &VirtualPath) -> Result<Vec<u8>, StorageError> {
        measure(&self.handles, Op::DeadProps, self.inner.dead_props(path)).await
    }

    async fn set_dead_props(&self, path: &VirtualPath, blob: Vec<u8>) -> Result<(), StorageError> {
        measure(&self.handles, Op::SetDeadProps, self.inner.set_dead_props(path, blob)).await
    }
}

/// An upload whose commit is measured.
struct MeteredUpload {
    inner: Box<dyn Upload>,
    handles: Arc<Handles>,
}

#[async_trait]
impl Upload for MeteredUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        // Per chunk: too frequent to be worth a histogram sample each.
        self.inner.write(chunk).await
    }

    fn local_sink(&mut self) -> Option<FileSink<'_>> {
        self.inner.local_sink()
    }

    fn socket_sink(&mut self) -> Option<SocketSink<'_>> {
        self.inner.socket_sink()
    }

    async fn commit(self: Box<Self>) -> Result<WriteOutcome, StorageError> {
        measure(&self.handles, Op::Commit, self.inner.commit()).await
    }

    async fn abort(self: Box<Self>) -> Result<(), StorageError> {
        measure(&self.handles, Op::Abort, self.inner.abort()).await
    }
}
