//! Module `files`: the storage verbs, written once for every protocol.
//!
//! Each handler awaits the back-end and stages its reply in the command's own
//! chain (no out-of-band replies): the reply, the log line and the metrics all see
//! the real result. Transfers go through the command's data channel, which knows
//! the protocol's wire rules.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;

use crate::auth::Permission;
use crate::channel::ReadPlan;
use crate::command::{CommandRecord, ListFormat, Transfer, Verb};
use crate::path::VirtualPath;
use crate::pipeline::{Handler, HandlerResult};
use crate::response::Status;
use crate::storage::{DirEntry, ErrorKind, ListStream, Storage, StorageError, WriteMode};

/// The files module.
pub struct Files {
    storage: Arc<dyn Storage>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Files({})", self.storage.name())
    }
}

/// The verbs this module implements (for the registration table).
pub const VERBS: [Verb; 10] = [
    Verb::Read,
    Verb::Write,
    Verb::List,
    Verb::Delete,
    Verb::MakeDir,
    Verb::RemoveDir,
    Verb::RenameFrom,
    Verb::Rename,
    Verb::Copy,
    Verb::ChangeDir,
];

macro_rules! try_storage {
    ($cmd:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(err) => return $cmd.fail_storage(&err),
        }
    };
}

/// The user-visible path and its storage path, or a failed handler result.
fn paths(cmd: &mut CommandRecord<'_>) -> Result<(VirtualPath, VirtualPath), HandlerResult> {
    match (cmd.path.clone(), cmd.storage_path()) {
        (Some(p), Some(s)) => Ok((p, s)),
        _ => Err(cmd.fail(Status::BadArguments, "A path is required.")),
    }
}

impl Files {
    /// The module over a back-end.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Files { storage }
    }

    async fn read(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let (path, spath) = match paths(cmd) {
            Ok(p) => p,
            Err(r) => return r,
        };
        // A zero-copy back-end opens the file once, for its metadata and its body
        // (one open instead of two: a large share of a small request's cost).
        let opened = if self.storage.capabilities().zero_copy {
            Some(try_storage!(cmd, self.storage.read(&spath, 0, None).await))
        } else {
            None
        };
        let meta = match &opened {
            Some(handle) => handle.meta.clone(),
            None => try_storage!(cmd, self.storage.stat(&spath).await),
        };
        if meta.is_dir() {
            return cmd.fail(Status::IsADirectory, "Not a plain file.");
        }
        let (offset, len) = match cmd.channel.plan_read(&meta, cmd.args.offset) {
            ReadPlan::Send { offset, len } => (offset, len),
            ReadPlan::Answer(status) if status.class() == crate::response::ResultClass::Ok => {
                cmd.responses.add(status, "");
                return HandlerResult::Handled;
            }
            ReadPlan::Answer(status) => return cmd.fail(status, ""),
        };
        let handle = match opened {
            Some(handle) => try_storage!(cmd, handle.narrow(offset, len)),
            None => try_storage!(cmd, self.storage.read(&spath, offset, len).await),
        };
        let result = cmd.channel.send_file(&path, handle).await;
        self.finish_transfer(cmd, false, result, Status::TransferComplete)
    }

    async fn write(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let (_, spath) = match paths(cmd) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let caps = self.storage.capabilities();
        let mode = cmd.args.write_mode;
        if (mode == WriteMode::Append && !caps.append) || (matches!(mode, WriteMode::At(_)) && !caps.write_at) {
            return cmd.fail(
                Status::NotSupportedByStorage,
                "This storage cannot append or resume uploads.",
            );
        }
        // Opened before the transfer starts, so a bad target fails before any data moves.
        let mut upload = try_storage!(cmd, self.storage.write(&spath, mode).await);
        let received = cmd.channel.receive(upload.as_mut()).await;
        let bytes = match received {
            Ok(b) => b,
            Err(e) => {
                drop(upload); // abort: nothing half-written becomes visible
                return self.finish_transfer(cmd, true, Err(e), Status::TransferComplete);
            }
        };
        let outcome = match upload.commit().await {
            Ok(o) => o,
            Err(e) => {
                cmd.transfer = Some(Transfer { inbound: true, bytes });
                return cmd.fail_storage(&e);
            }
        };
        let status = if outcome.created {
            Status::UploadCreated
        } else {
            Status::UploadReplaced
        };
        self.finish_transfer(cmd, true, Ok(bytes), status)
    }

    fn finish_transfer(
        &self,
        cmd: &mut CommandRecord<'_>,
        inbound: bool,
        result: Result<u64, crate::channel::TransferError>,
        ok: Status,
    ) -> HandlerResult {
        match result {
            Ok(bytes) => {
                cmd.transfer = Some(Transfer { inbound, bytes });
                cmd.responses.add(ok, "");
                HandlerResult::Handled
            }
            Err(e) => {
                cmd.transfer = Some(Transfer {
                    inbound,
                    bytes: e.bytes,
                });
                tracing::info!(session = cmd.session.id, status = ?e.status, detail = %e.detail, "transfer failed");
                cmd.fail(e.status, "")
            }
        }
    }

    async fn list(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let (path, spath) = match paths(cmd) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let format = cmd.args.list_format;
        let meta = try_storage!(cmd, self.storage.stat(&spath).await);
        let entries: ListStream = if meta.is_dir() {
            try_storage!(cmd, self.storage.list(&spath).await)
        } else if matches!(format, ListFormat::FtpLong | ListFormat::FtpNames) {
            // `LIST file` describes that one file (as ls does).
            let name = path.file_name().unwrap_or_default().to_owned();
            Box::pin(futures_util::stream::iter([Ok(vec![DirEntry { name, meta }])]))
        } else if format == ListFormat::FtpMachine {
            return cmd.fail(Status::BadArguments, "MLSD needs a directory; use MLST for a file.");
        } else {
            return cmd.fail(Status::NotADirectory, "");
        };
        let result = cmd.channel.send_listing(&path, format, entries.boxed()).await;
        self.finish_transfer(cmd, false, result, Status::TransferComplete)
    }

    async fn simple(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let (path, spath) = match paths(cmd) {
            Ok(p) => p,
            Err(r) => return r,
        };
        match cmd.verb {
            Verb::Delete if path.is_root() => {
                return cmd.fail(Status::PermissionDenied, "The root cannot be deleted.");
            }
            Verb::Delete if cmd.args.recursive => {
                try_storage!(cmd, remove_tree(self.storage.as_ref(), &spath).await);
                cmd.responses.add(Status::ActionOk, "Deleted.");
            }
            Verb::Delete => {
                try_storage!(cmd, self.storage.delete(&spath).await);
                cmd.responses.add(Status::ActionOk, "File deleted.");
            }
            Verb::MakeDir => {
                try_storage!(cmd, self.storage.mkdir(&spath).await);
                let text = format!("{} directory created.", proto_ftp::quote_path(path.as_str()));
                cmd.responses.add(Status::DirCreated, text);
            }
            Verb::RemoveDir => {
                try_storage!(cmd, self.storage.rmdir(&spath).await);
                cmd.responses.add(Status::ActionOk, "Directory removed.");
            }
            Verb::RenameFrom => {
                try_storage!(cmd, self.storage.stat(&spath).await);
                cmd.session.rename_from = Some(path);
                cmd.responses
                    .add(Status::Pending, "File exists, ready for destination name.");
            }
            Verb::ChangeDir => {
                let meta = try_storage!(cmd, self.storage.stat(&spath).await);
                if !meta.is_dir() {
                    return cmd.fail(Status::NotADirectory, "");
                }
                cmd.session.cwd = path;
                cmd.responses.add(Status::ActionOk, "Directory successfully changed.");
            }
            _ => return HandlerResult::Declined,
        }
        HandlerResult::Handled
    }

    /// `Rename` (FTP `RNTO`, WebDAV `MOVE`) and `Copy` (WebDAV `COPY`): the target
    /// is replaced only when the command allows it — a whole tree only with
    /// collection semantics, and only for a user who may delete.
    async fn transfer_tree(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let copy = cmd.verb == Verb::Copy;
        let (Some(from), Some(to)) = (cmd.path.clone(), cmd.target.clone()) else {
            return if copy {
                cmd.fail(Status::BadArguments, "A destination is required.")
            } else {
                cmd.fail(Status::BadSequence, "Use RNFR first.")
            };
        };
        if from == to {
            return cmd.fail(Status::PermissionDenied, "The source and the destination are the same.");
        }
        // Checked before anything changes: a copy into itself would never end, and
        // replacing an ancestor of the source would delete the source.
        if to.starts_with(&from) || from.starts_with(&to) {
            return cmd.fail(
                Status::PermissionDenied,
                "The destination is inside the source, or the source inside the destination.",
            );
        }
        let (sfrom, sto) = (cmd.session.storage_path(&from), cmd.session.storage_path(&to));
        let source = try_storage!(cmd, self.storage.stat(&sfrom).await);
        let allows = |p: Permission| cmd.session.user.as_ref().is_some_and(|u| u.permissions.allows(p));
        if copy && source.is_dir() && !allows(Permission::Mkdir) {
            return cmd.fail(Status::PermissionDenied, "Copying a directory needs mkdir permission.");
        }
        let existing = self.storage.stat(&sto).await.ok();
        if let Some(target) = &existing {
            if !cmd.args.overwrite {
                return cmd.fail(Status::PreconditionFailed, "The destination exists.");
            }
            // A file may replace a file in one step (rename(2)); anything involving a
            // directory needs the old target gone first, which only collection
            // semantics allow (FTP RNTO onto a directory fails as it always did).
            if copy || target.is_dir() || source.is_dir() {
                if !cmd.args.recursive {
                    return cmd.fail(
                        Status::from_storage(ErrorKind::AlreadyExists),
                        "The destination exists.",
                    );
                }
                if !allows(Permission::Delete) {
                    return cmd.fail(
                        Status::PermissionDenied,
                        "Replacing the destination needs delete permission.",
                    );
                }
                try_storage!(cmd, remove_tree(self.storage.as_ref(), &sto).await);
            }
        }
        if !copy {
            try_storage!(cmd, self.storage.rename(&sfrom, &sto).await);
        } else if cmd.args.shallow && source.is_dir() {
            try_storage!(cmd, self.storage.mkdir(&sto).await);
        } else if let Err(e) = self.storage.copy(&sfrom, &sto).await {
            // A tree copy that fails part-way (an unreadable entry, a full disk) must
            // not leave half a tree behind under the destination's name.
            if source.is_dir()
                && e.kind != ErrorKind::AlreadyExists
                && let Err(cleanup) = remove_tree(self.storage.as_ref(), &sto).await
                && cleanup.kind != ErrorKind::NotFound
            {
                tracing::warn!(error = %cleanup, path = %sto, "could not remove a partial copy");
            }
            return cmd.fail_storage(&e);
        }
        let status = if existing.is_some() {
            Status::ActionOk
        } else {
            Status::ActionCreated
        };
        cmd.responses
            .add(status, if copy { "Copy successful." } else { "Rename successful." });
        HandlerResult::Handled
    }
}

/// Removes a file, or a directory with everything beneath it (WebDAV `DELETE`
/// and the overwrite of `COPY`/`MOVE`), through any back-end: depth-first with an
/// explicit stack, so a deep tree cannot overflow the call stack, and listings
/// streamed batch by batch.
pub async fn remove_tree(storage: &dyn Storage, root: &VirtualPath) -> Result<(), StorageError> {
    if !storage.stat(root).await?.is_dir() {
        return storage.delete(root).await;
    }
    let mut stack = vec![(root.clone(), false)];
    while let Some((dir, emptied)) = stack.pop() {
        if emptied {
            storage.rmdir(&dir).await?;
            continue;
        }
        stack.push((dir.clone(), true));
        let mut entries = storage.list(&dir).await?;
        while let Some(batch) = entries.next().await {
            for entry in batch? {
                let path = dir
                    .join_name(&entry.name)
                    .map_err(|_| StorageError::new(ErrorKind::InvalidName))?;
                if entry.meta.is_dir() {
                    stack.push((path, false));
                } else {
                    storage.delete(&path).await?;
                }
            }
        }
    }
    Ok(())
}

#[async_trait]
impl Handler for Files {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        match cmd.verb {
            Verb::Read => self.read(cmd).await,
            Verb::Write => self.write(cmd).await,
            Verb::List => self.list(cmd).await,
            Verb::Rename | Verb::Copy => self.transfer_tree(cmd).await,
            _ => self.simple(cmd).await,
        }
    }
}
