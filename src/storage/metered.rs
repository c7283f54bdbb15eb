//! Back-end metrics for every back-end: a [`Storage`] that forwards each call to
//! the real one and records `dualgate_backend_operations_total{backend, operation,
//! result}` and `dualgate_backend_operation_duration_seconds{backend, operation}`.
//! The server wraps whichever back-end it runs, so all of them are measured the same
//! way. Streams (listings, reads) are measured until they are open; an upload is
//! measured when it opens (`write`) and when it is made durable (`commit`).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    Capabilities, FileSink, ListStream, Metadata, ReadHandle, Storage, StorageError, Upload, WriteMode, WriteOutcome,
};
use crate::metrics as m;
use crate::path::VirtualPath;
use crate::response::Status;

/// A back-end with metrics.
pub struct Metered {
    inner: Arc<dyn Storage>,
}

impl std::fmt::Debug for Metered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Metered({})", self.inner.name())
    }
}

impl Metered {
    /// Measures `inner`.
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        Metered { inner }
    }
}

/// Times one operation and counts its result (`ok`, `client_error` for a missing
/// file and the like, `server_error` for a failing back-end).
async fn measure<T>(
    backend: &'static str,
    operation: &'static str,
    call: impl Future<Output = Result<T, StorageError>>,
) -> Result<T, StorageError> {
    let started = Instant::now();
    let result = call.await;
    let label = match &result {
        Ok(_) => "ok",
        Err(e) => Status::from_storage(e.kind).class().label(),
    };
    metrics::counter!(m::BACKEND_OPERATIONS_TOTAL, "backend" => backend, "operation" => operation, "result" => label)
        .increment(1);
    metrics::histogram!(m::BACKEND_DURATION, "backend" => backend, "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    result
}

#[async_trait]
impl Storage for Metered {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn stat(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        measure(self.name(), "stat", self.inner.stat(path)).await
    }

    async fn list(&self, path: &VirtualPath) -> Result<ListStream, StorageError> {
        measure(self.name(), "list", self.inner.list(path)).await
    }

    async fn read(&self, path: &VirtualPath, offset: u64, len: Option<u64>) -> Result<ReadHandle, StorageError> {
        measure(self.name(), "read", self.inner.read(path, offset, len)).await
    }

    async fn write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Box<dyn Upload>, StorageError> {
        let backend = self.name();
        let inner = measure(backend, "write", self.inner.write(path, mode)).await?;
        Ok(Box::new(MeteredUpload { inner, backend }))
    }

    async fn delete(&self, path: &VirtualPath) -> Result<(), StorageError> {
        measure(self.name(), "delete", self.inner.delete(path)).await
    }

    async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        measure(self.name(), "mkdir", self.inner.mkdir(path)).await
    }

    async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        measure(self.name(), "rmdir", self.inner.rmdir(path)).await
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        measure(self.name(), "rename", self.inner.rename(from, to)).await
    }

    async fn copy(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        measure(self.name(), "copy", self.inner.copy(from, to)).await
    }

    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> Result<(), StorageError> {
        measure(self.name(), "set_mode", self.inner.set_mode(path, mode)).await
    }

    async fn probe(&self) -> Result<(), StorageError> {
        measure(self.name(), "probe", self.inner.probe()).await
    }
}

/// An upload whose commit is measured.
struct MeteredUpload {
    inner: Box<dyn Upload>,
    backend: &'static str,
}

#[async_trait]
impl Upload for MeteredUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        // Per chunk: too frequent to be worth a histogram sample each.
        self.inner.write(chunk).await
    }

    fn file_sink(&mut self) -> Option<FileSink<'_>> {
        self.inner.file_sink()
    }

    async fn commit(self: Box<Self>) -> Result<WriteOutcome, StorageError> {
        measure(self.backend, "commit", self.inner.commit()).await
    }
}
