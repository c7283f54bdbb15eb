//! Module `files`: the storage verbs, written once for every protocol and every
//! back-end.
//!
//! Each handler works on the session's volume (the back-end rooted at the user's
//! home), awaits it and stages its reply in the command's own chain (no
//! out-of-band replies): the reply, the log line and the metrics all see the real
//! result. What the back-end cannot do is refused up front from its
//! [`Capabilities`](crate::storage::Capabilities), before anything changes.
//! Transfers go through the command's data channel, which knows the protocol's
//! wire rules (and what, say, `LIST` of a file means); nothing here is FTP or
//! HTTP phrasing.

use std::sync::Arc;

use async_trait::async_trait;

use crate::auth::Permission;
use crate::channel::{ListPlan, ReadPlan};
use crate::command::{CommandRecord, ListFormat, Transfer, Verb};
use crate::path::VirtualPath;
use crate::pipeline::{Handler, HandlerResult};
use crate::response::Status;
use crate::storage::{DirEntry, ErrorKind, ListStream, Storage, TreeError, WriteMode};

/// Why a directory rename is refused on a back-end that cannot rename
/// directories (an object store, where a directory is a key prefix): refused up
/// front as a permission (FTP 550, HTTP 403), not as a fault of the storage.
const DIRECTORY_RENAME_REFUSED: &str =
    "Directories cannot be renamed on this storage (an object store; see storage.rename_dirs).";

/// The files module.
#[derive(Debug)]
pub struct Files;

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

/// The command's path and the session's volume, or a failed handler result.
fn target(cmd: &mut CommandRecord<'_>) -> Result<(VirtualPath, Arc<dyn Storage>), HandlerResult> {
    match (cmd.path.clone(), cmd.volume()) {
        (Some(p), Some(v)) => Ok((p, v)),
        (None, _) => Err(cmd.fail(Status::BadArguments, "A path is required.")),
        (_, None) => Err(cmd.fail(Status::NotLoggedIn, "")),
    }
}

/// Fails the command for a tree operation that stopped part-way, saying how far
/// it got: a partial result is reported as one.
fn fail_tree(cmd: &mut CommandRecord<'_>, verb: &str, e: &TreeError) -> HandlerResult {
    if e.done == 0 {
        return cmd.fail_storage(&e.error);
    }
    tracing::warn!(session = cmd.session.id, at = %e.at, done = e.done, error = %e.error, cause = ?std::error::Error::source(&e.error), "{verb} stopped part-way");
    let status = Status::from_storage(e.error.kind);
    cmd.fail(
        status,
        format!(
            "{verb} stopped at {} after {} entries: {}.",
            e.at,
            e.done,
            status.mapping().text.trim_end_matches('.')
        ),
    )
}

impl Files {
    async fn read(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let (path, volume) = match target(cmd) {
            Ok(t) => t,
            Err(r) => return r,
        };
        // A zero-copy back-end opens the file once, for its metadata and its body
        // (one open instead of two: a large share of a small request's cost).
        let opened = if volume.capabilities().zero_copy {
            Some(try_storage!(cmd, volume.read(&path, 0, None).await))
        } else {
            None
        };
        let meta = match &opened {
            Some(handle) => handle.meta.clone(),
            None => try_storage!(cmd, volume.stat(&path).await),
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
            None => try_storage!(cmd, volume.read(&path, offset, len).await),
        };
        let result = cmd.channel.send_file(&path, handle).await;
        self.finish_transfer(cmd, false, result, Status::TransferComplete)
    }

    async fn write(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let (path, volume) = match target(cmd) {
            Ok(t) => t,
            Err(r) => return r,
        };
        let caps = volume.capabilities();
        match cmd.args.write_mode {
            WriteMode::Append if !caps.append => {
                return cmd.fail(Status::NotSupportedByStorage, "This storage cannot append to files.");
            }
            WriteMode::At(_) if !caps.resumes() => {
                return cmd.fail(Status::NotSupportedByStorage, "This storage cannot resume uploads.");
            }
            _ => {}
        }
        // A create-new write over HTTP (`PUT` with `If-None-Match: *`) that finds
        // the name taken — up front, or at commit when another writer won the
        // race — failed its precondition (RFC 9110 §13.1.2: 412).
        let fail_write = |cmd: &mut CommandRecord<'_>, e: &crate::storage::StorageError| {
            if e.kind == ErrorKind::AlreadyExists
                && cmd.args.write_mode == WriteMode::CreateNew
                && cmd.protocol == crate::command::Protocol::Http
            {
                cmd.fail(Status::PreconditionFailed, "")
            } else {
                cmd.fail_storage(e)
            }
        };
        // Opened before the transfer starts, so a bad target fails before any data moves.
        let mut upload = match volume.write(&path, cmd.args.write_mode).await {
            Ok(u) => u,
            Err(e) => return fail_write(cmd, &e),
        };
        let bytes = match cmd.channel.receive(upload.as_mut()).await {
            Ok(b) => b,
            Err(e) => {
                // Nothing half-written becomes visible.
                if let Err(abort) = upload.abort().await {
                    tracing::warn!(session = cmd.session.id, %path, error = %abort, "could not abort an upload");
                }
                return self.finish_transfer(cmd, true, Err(e), Status::TransferComplete);
            }
        };
        let outcome = match upload.commit().await {
            Ok(o) => o,
            Err(e) => {
                cmd.transfer = Some(Transfer { inbound: true, bytes });
                return fail_write(cmd, &e);
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
        let (path, volume) = match target(cmd) {
            Ok(t) => t,
            Err(r) => return r,
        };
        let format = cmd.args.list_format;
        let meta = try_storage!(cmd, volume.stat(&path).await);
        let entries: ListStream = match cmd.channel.plan_listing(&meta, format) {
            // Names alone spare local disk a `stat` per entry.
            ListPlan::Members if meta.is_dir() && format == ListFormat::FtpNames => {
                try_storage!(cmd, volume.list_names(&path).await)
            }
            ListPlan::Members if meta.is_dir() => try_storage!(cmd, volume.list(&path).await),
            ListPlan::Members => return cmd.fail(Status::NotADirectory, ""),
            ListPlan::ThisFile => {
                let name = smol_str::SmolStr::new(path.file_name().unwrap_or_default());
                Box::pin(futures_util::stream::iter([Ok(vec![DirEntry { name, meta }])]))
            }
            ListPlan::Refuse(status, text) => return cmd.fail(status, text),
        };
        let result = cmd.channel.send_listing(&path, format, entries).await;
        self.finish_transfer(cmd, false, result, Status::TransferComplete)
    }

    async fn simple(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let (path, volume) = match target(cmd) {
            Ok(t) => t,
            Err(r) => return r,
        };
        match cmd.verb {
            Verb::Delete if path.is_root() => {
                return cmd.fail(Status::PermissionDenied, "The home directory cannot be deleted.");
            }
            Verb::Delete if cmd.args.recursive => {
                if let Err(e) = volume.remove_tree(&path).await {
                    return fail_tree(cmd, "Delete", &e);
                }
                cmd.responses.add(Status::ActionOk, "Deleted.");
            }
            Verb::Delete => {
                try_storage!(cmd, volume.delete(&path).await);
                cmd.responses.add(Status::ActionOk, "File deleted.");
            }
            Verb::MakeDir => {
                try_storage!(cmd, volume.mkdir(&path).await);
                // The renderer phrases it (FTP quotes the path in its 257).
                cmd.responses.add(Status::DirCreated, path.as_str().to_owned());
            }
            Verb::RemoveDir if path.is_root() => {
                return cmd.fail(Status::PermissionDenied, "The home directory cannot be removed.");
            }
            Verb::RemoveDir => {
                try_storage!(cmd, volume.rmdir(&path).await);
                cmd.responses.add(Status::ActionOk, "Directory removed.");
            }
            Verb::RenameFrom => {
                if path.is_root() {
                    return cmd.fail(Status::PermissionDenied, "The home directory cannot be renamed.");
                }
                let meta = try_storage!(cmd, volume.stat(&path).await);
                if meta.is_dir() && !volume.capabilities().rename_dirs {
                    return cmd.fail(Status::PermissionDenied, DIRECTORY_RENAME_REFUSED);
                }
                cmd.session.rename_from = Some(path);
                cmd.responses.add(Status::Pending, "Ready for the destination name.");
            }
            Verb::ChangeDir => {
                let meta = try_storage!(cmd, volume.stat(&path).await);
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
    /// collection semantics, and only for a user who may delete. Everything that
    /// could refuse is checked before anything changes.
    async fn transfer_tree(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let copy = cmd.verb == Verb::Copy;
        let (Some(from), Some(to), Some(volume)) = (cmd.path.clone(), cmd.target.clone(), cmd.volume()) else {
            return if copy {
                cmd.fail(Status::BadArguments, "A destination is required.")
            } else {
                cmd.fail(Status::BadSequence, "The source of the rename is missing.")
            };
        };
        if from.is_root() || to.is_root() {
            return cmd.fail(
                Status::PermissionDenied,
                "The home directory cannot be replaced or moved.",
            );
        }
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
        let caps = volume.capabilities();
        let source = try_storage!(cmd, volume.stat(&from).await);
        if !copy && source.is_dir() && !caps.rename_dirs {
            return cmd.fail(Status::PermissionDenied, DIRECTORY_RENAME_REFUSED);
        }
        if copy && !caps.server_side_copy {
            return cmd.fail(Status::NotSupportedByStorage, "This storage cannot copy.");
        }
        let allows = |p: Permission| cmd.session.user.as_ref().is_some_and(|u| u.permissions.allows(p));
        if copy && source.is_dir() && !allows(Permission::Mkdir) {
            return cmd.fail(Status::PermissionDenied, "Copying a directory needs mkdir permission.");
        }
        // The destination as it is: followed, or (a link out of the home, a
        // dangling link) a taken name that cannot be followed — still the existing
        // resource, which a replace removes as itself.
        let existing = match volume.stat(&to).await {
            Ok(meta) => Some(Some(meta)),
            Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::PermissionDenied) => {
                match volume.name_taken(&to).await {
                    Ok(true) => Some(None),
                    Ok(false) => None,
                    Err(e) => return cmd.fail_storage(&e),
                }
            }
            Err(e) => return cmd.fail_storage(&e),
        };
        if let Some(target) = &existing {
            if !cmd.args.overwrite {
                return cmd.fail(Status::PreconditionFailed, "The destination exists.");
            }
            // A file may replace a file in one step (rename(2)); anything involving a
            // directory needs the old target gone first, which only collection
            // semantics allow (FTP RNTO onto a directory fails as it always did).
            let target_is_dir = target.as_ref().is_some_and(|t| t.is_dir());
            if copy || target_is_dir || source.is_dir() {
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
                // Like `rm -r`: a link at or under the destination is removed, never followed.
                if let Err(e) = volume.remove_tree(&to).await {
                    return fail_tree(cmd, "Replacing the destination", &e);
                }
            }
        }
        if !copy {
            try_storage!(cmd, volume.rename(&from, &to).await);
        } else if cmd.args.shallow && source.is_dir() {
            try_storage!(cmd, volume.mkdir(&to).await);
        } else if let Err(e) = volume.copy(&from, &to).await {
            // A tree copy that fails part-way (an unreadable entry, a full disk, a
            // name that appeared meanwhile) must not leave half a tree behind under
            // the destination's name; one that made nothing (the name was taken
            // before it began) must not remove what is there.
            if source.is_dir()
                && e.done > 0
                && let Err(cleanup) = volume.remove_tree(&to).await
                && cleanup.error.kind != ErrorKind::NotFound
            {
                tracing::warn!(error = %cleanup, path = %to, "could not remove a partial copy");
            }
            return cmd.fail_storage(&e.error);
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
