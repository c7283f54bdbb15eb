//! WebDAV write locks (RFC 4918 §6, §7): the state behind one interface,
//! [`LockStore`], so that another implementation (shared by several
//! instances) can replace the in-memory one ([`MemoryLocks`], the default).
//!
//! Locks are kept by **back-end path** (the user's home joined with the path
//! the user sees, [`Session::backend_path`](crate::session::Session::backend_path)):
//! two users whose homes overlap see the same lock on the same file. What a
//! command must show to change a path, and the refusal when it cannot, are in
//! the pipeline's `locks` module, which both front-ends go through: a locked
//! file refuses FTP `STOR` as it refuses WebDAV `PUT`.
//!
//! A lock belongs to the token **and** the user who took it: a token that
//! another user submits neither unlocks nor lifts the lock for a write (RFC
//! 4918 §6.4 lets a server check the principal; ours does).

mod memory;

use std::time::{Duration, Instant};

pub use memory::MemoryLocks;
pub use proto_http::lock::LockScope;

use crate::path::VirtualPath;

/// Most locks held at once by the in-memory store (expired ones do not count).
pub const MAX_LOCKS: usize = 10_000;
/// The longest lock granted, in seconds: `Timeout: Infinite` and longer
/// requests get this (clients refresh: Finder asks 600 s, davfs2 1800 s,
/// Windows 3600 s).
pub const MAX_TIMEOUT_SECS: u64 = 3600;
/// The timeout of a `LOCK` without a `Timeout` header, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// One active lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// The token (`opaquelocktoken:` and a random UUID).
    pub token: String,
    /// The locked resource, as a back-end path.
    pub root: VirtualPath,
    /// The root was a collection when locked (its href ends in `/`).
    pub collection: bool,
    /// Exclusive or shared.
    pub scope: LockScope,
    /// Depth infinity (the root and everything under it), else depth 0.
    pub infinite: bool,
    /// The client's `DAV:owner` element, echoed in lockdiscovery.
    pub owner: Option<String>,
    /// The user who took the lock.
    pub principal: String,
    /// When the lock expires unless refreshed.
    pub expires: Instant,
}

impl Lock {
    /// Whether the lock applies to `path` (§7: its root, or anything under a
    /// depth-infinity root). Applying to a collection also protects its
    /// membership: adding or removing a member needs the token (§7.4).
    pub fn covers(&self, path: &VirtualPath) -> bool {
        *path == self.root || (self.infinite && path.starts_with(&self.root))
    }

    /// Seconds left, rounded up (a lock just granted for 120 s shows 120).
    pub fn seconds_left(&self, now: Instant) -> u64 {
        let left = self.expires.saturating_duration_since(now);
        left.as_secs() + u64::from(left.subsec_nanos() > 0)
    }
}

/// A lock to take.
#[derive(Debug, Clone)]
pub struct NewLock {
    /// The resource, as a back-end path.
    pub root: VirtualPath,
    /// The resource is a collection.
    pub collection: bool,
    /// Exclusive or shared.
    pub scope: LockScope,
    /// Depth infinity, else 0.
    pub infinite: bool,
    /// The client's `DAV:owner` element.
    pub owner: Option<String>,
    /// The user taking it.
    pub principal: String,
    /// How long it lasts unless refreshed.
    pub timeout: Duration,
}

/// Why a lock operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// A lock held by someone conflicts (the conflicting locks).
    #[error("a conflicting lock is held")]
    Conflict(Vec<Lock>),
    /// No such lock applies to the path.
    #[error("no such lock applies to this resource")]
    NoSuchLock,
    /// The lock was taken by another user.
    #[error("the lock belongs to another user")]
    NotOwner,
    /// The store holds as many locks as it may.
    #[error("too many locks held")]
    Full,
}

/// The lock state. Every method is quick (no I/O for the in-memory store);
/// expired locks are never returned.
#[async_trait::async_trait]
pub trait LockStore: Send + Sync + std::fmt::Debug + 'static {
    /// Takes a lock, unless one held conflicts with it (§6.2, §9.10.5: an
    /// exclusive lock conflicts with any other; two shared ones do not). A
    /// lock conflicts when one of the two applies to the other's root.
    async fn lock(&self, new: NewLock) -> Result<Lock, LockError>;
    /// Extends the lock `token` that applies to `path` by `timeout` (§9.10.2).
    async fn refresh(
        &self,
        token: &str,
        path: &VirtualPath,
        principal: &str,
        timeout: Duration,
    ) -> Result<Lock, LockError>;
    /// Removes the lock `token` that applies to `path` (§9.11).
    async fn unlock(&self, token: &str, path: &VirtualPath, principal: &str) -> Result<(), LockError>;
    /// The locks that apply to `path`.
    async fn covering(&self, path: &VirtualPath) -> Vec<Lock>;
    /// The locks whose root is `path` or under it.
    async fn within(&self, path: &VirtualPath) -> Vec<Lock>;
    /// Removes the locks whose root is `path` or under it (the resources are
    /// gone: deleted, or moved away — locks do not move, §7.6).
    async fn release_within(&self, path: &VirtualPath);
    /// Whether no lock is held (lets every check skip its work).
    fn is_empty(&self) -> bool;
}

/// The lock tokens a command submitted (WebDAV's `If` header), left in the
/// command's notes by the front-end's check of that header. FTP submits none.
#[derive(Debug, Clone, Default)]
pub struct SubmittedTokens(pub Vec<String>);

/// Left in the command's notes when it was refused for a lock (the HTTP
/// front-end answers 423 with the precondition and the lock roots).
#[derive(Debug, Clone)]
pub struct LockRefusal {
    /// Which precondition failed.
    pub precondition: proto_http::lock::LockPrecondition,
    /// The lock roots, as the user sees them.
    pub roots: Vec<LockRoot>,
}

/// A lock's root as a user sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LockRoot {
    /// The path under the user's home.
    pub path: VirtualPath,
    /// A collection (its href ends in `/`).
    pub collection: bool,
}

impl LockRoot {
    /// The roots of `locks` that `home`'s user can see, sorted, once each.
    pub fn of(home: &VirtualPath, locks: &[Lock]) -> Vec<LockRoot> {
        let mut roots: Vec<LockRoot> = locks
            .iter()
            .filter_map(|l| {
                user_view(home, &l.root).map(|path| LockRoot {
                    path,
                    collection: l.collection,
                })
            })
            .collect();
        roots.sort();
        roots.dedup();
        roots
    }

    /// The percent-encoded href.
    pub fn href(&self) -> String {
        let mut href = proto_http::encode_href(self.path.as_str());
        if self.collection && !href.ends_with('/') {
            href.push('/');
        }
        href
    }
}

/// A back-end path as `home`'s user sees it (the path under `home`), or
/// `None` when it is outside that home.
pub fn user_view(home: &VirtualPath, backend: &VirtualPath) -> Option<VirtualPath> {
    if home.is_root() {
        return Some(backend.clone());
    }
    if !backend.starts_with(home) {
        return None;
    }
    let rest = backend.as_str()[home.as_str().len()..].trim_start_matches('/');
    VirtualPath::parse_absolute(&format!("/{rest}")).ok()
}

#[cfg(test)]
mod tests;
