//! Module `locks`: WebDAV write locks honoured by every command that changes
//! a path, whatever its protocol (RFC 4918 §7). A locked file refuses FTP
//! `STOR`, `APPE`, `DELE`, `RNFR`/`RNTO` and `SITE CHMOD` exactly as it
//! refuses WebDAV `PUT`, `DELETE`, `MOVE` and `PROPPATCH` without the token:
//! with [`Status::Locked`] (FTP 450 "file unavailable (busy)", HTTP 423).
//!
//! PRE_CMD (after auth and permissions): the locks the command must hold the
//! token of are worked out from what it changes —
//!
//! | change | locks needed |
//! |---|---|
//! | a resource's content or properties (`PUT`/`STOR` of an existing file, `PROPPATCH`, `MFMT`, `SITE CHMOD`) | those that apply to it |
//! | a new member (`PUT`/`STOR` of a new file, `MKCOL`/`MKD`, `COPY` onto a free name) | also those that apply to its parent collection (§7.4: a collection lock protects its membership) |
//! | removing or replacing a resource (`DELETE`/`DELE`/`RMD`, either side of `MOVE`/`RNFR`/`RNTO`, `COPY` onto it) | also every lock under it |
//!
//! — and each must be among the tokens the command submitted
//! ([`SubmittedTokens`], from WebDAV's `If` header; FTP has no way to submit
//! one, so FTP honours every lock), submitted by the user who took the lock.
//!
//! POST_CMD: a resource deleted or moved away takes its locks with it (§7.6:
//! locks do not move).

use std::sync::Arc;

use async_trait::async_trait;
use proto_http::lock::LockPrecondition;

use crate::command::{CommandRecord, Verb};
use crate::locks::{Lock, LockRefusal, LockRoot, LockStore, SubmittedTokens};
use crate::path::VirtualPath;
use crate::pipeline::modules::Table;
use crate::pipeline::{Handler, HandlerResult, Phase};
use crate::response::Status;

/// Registers the check and the release for the verbs that change paths.
pub fn table(store: Arc<dyn LockStore>) -> Table {
    let mut t = Table::default();
    let check = Arc::new(LockCheck(store.clone()));
    for verb in [
        Verb::Write,
        Verb::Delete,
        Verb::RemoveDir,
        Verb::RenameFrom,
        Verb::Rename,
        Verb::Copy,
        Verb::MakeDir,
        Verb::SetModified,
        Verb::Site("CHMOD".into()),
        Verb::Protocol("PROPPATCH"),
    ] {
        // After auth (0), permissions (10) and WebDAV's own preconditions
        // (If: 25, If-Match: 30): a client that may not write hears that first.
        t.row("locks", Phase::PreCmd, Some(&verb), 40, check.clone());
    }
    let release = Arc::new(LockRelease(store));
    for verb in [Verb::Delete, Verb::RemoveDir, Verb::Rename] {
        t.row("locks", Phase::PostCmd, Some(&verb), 0, release.clone());
    }
    t
}

/// What a command does to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Changes its content or properties; creates it if it does not exist.
    Content,
    /// Creates it as a new member of its parent.
    Member,
    /// Removes or replaces it with everything under it.
    Tree,
}

/// The paths a command changes, and how.
fn changes(cmd: &CommandRecord<'_>) -> Vec<(VirtualPath, Change)> {
    let path = cmd.path.clone();
    let target = cmd.target.clone();
    let mut out = Vec::with_capacity(2);
    match &cmd.verb {
        Verb::Write | Verb::SetModified | Verb::Site(_) | Verb::Protocol(_) => {
            out.extend(path.map(|p| (p, Change::Content)));
        }
        Verb::MakeDir => out.extend(path.map(|p| (p, Change::Member))),
        Verb::Delete | Verb::RemoveDir | Verb::RenameFrom => out.extend(path.map(|p| (p, Change::Tree))),
        Verb::Rename => {
            out.extend(path.map(|p| (p, Change::Tree)));
            out.extend(target.map(|p| (p, Change::Tree)));
        }
        Verb::Copy => out.extend(target.map(|p| (p, Change::Tree))),
        _ => {}
    }
    out
}

/// PRE_CMD: refuses a change the submitted tokens do not cover.
#[derive(Debug)]
struct LockCheck(Arc<dyn LockStore>);

impl LockCheck {
    /// The locks a change of `path` (a back-end path) needs; `exists` is
    /// asked only when the answer depends on it (a write that may create).
    async fn needed(&self, path: &VirtualPath, change: Change) -> (Vec<Lock>, Vec<Lock>) {
        let mut own = self.0.covering(path).await;
        let parent = if path.is_root() {
            Vec::new()
        } else {
            self.0.covering(&path.parent()).await
        };
        if change == Change::Tree {
            own.extend(self.0.within(path).await);
        }
        if change != Change::Content {
            own.extend(parent);
            return (own, Vec::new());
        }
        // Content: the parent's locks matter only if the write creates the file.
        (own, parent)
    }
}

#[async_trait]
impl Handler for LockCheck {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        if self.0.is_empty() {
            return HandlerResult::Declined;
        }
        let Some(user) = cmd.session.user.clone() else {
            return HandlerResult::Declined;
        };
        let submitted = cmd.notes.get::<SubmittedTokens>().cloned().unwrap_or_default();
        let held_by_caller = |l: &Lock| l.principal == user.name && submitted.0.contains(&l.token);
        let mut missing: Vec<Lock> = Vec::new();
        for (path, change) in changes(cmd) {
            let backend = cmd.session.backend_path(&path);
            let (needed, if_new) = self.needed(&backend, change).await;
            missing.extend(needed.into_iter().filter(|l| !held_by_caller(l)));
            let if_new: Vec<Lock> = if_new
                .into_iter()
                .filter(|l| !held_by_caller(l) && !missing.iter().any(|m| m.token == l.token))
                .collect();
            if !if_new.is_empty() {
                let exists = match cmd.volume() {
                    Some(volume) => volume.stat(&path).await.is_ok(),
                    None => false,
                };
                if !exists {
                    missing.extend(if_new);
                }
            }
        }
        if missing.is_empty() {
            return HandlerResult::Declined;
        }
        let roots = LockRoot::of(&user.home, &missing);
        let text = match roots.first() {
            Some(root) => format!("{} is locked by a WebDAV client (LOCK); try again later.", root.path),
            None => "The file is locked by a WebDAV client (LOCK); try again later.".to_owned(),
        };
        cmd.notes.insert(LockRefusal {
            precondition: LockPrecondition::TokenSubmitted,
            roots,
        });
        cmd.fail(Status::Locked, text)
    }
}

/// POST_CMD of deletes and moves: the locks of what is gone go with it.
#[derive(Debug)]
struct LockRelease(Arc<dyn LockStore>);

#[async_trait]
impl Handler for LockRelease {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        if self.0.is_empty() {
            return HandlerResult::Declined;
        }
        if let Some(path) = &cmd.path {
            let backend = cmd.session.backend_path(path);
            self.0.release_within(&backend).await;
        }
        HandlerResult::Declined
    }
}
