//! The in-memory lock store: one map behind a mutex, bounded to a number of
//! locks, expired locks removed whenever the map is touched. Held by one
//! process: several instances behind a balancer do **not** see each other's
//! locks (see the README), and a restart forgets them all.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Lock, LockError, LockScope, LockStore, NewLock};
use crate::path::VirtualPath;

/// The in-memory store.
#[derive(Debug)]
pub struct MemoryLocks {
    /// Locks by token. A scan per operation: bounded by `max`, and a held lock
    /// is rare next to the requests that check for one (see [`LockStore::is_empty`]).
    locks: Mutex<HashMap<String, Lock>>,
    max: usize,
    /// Mirrors `locks.len()` so that [`LockStore::is_empty`] takes no lock.
    held: std::sync::atomic::AtomicUsize,
}

impl MemoryLocks {
    /// A store that holds at most `max` locks.
    pub fn new(max: usize) -> Self {
        MemoryLocks {
            locks: Mutex::new(HashMap::new()),
            max,
            held: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Runs `f` on the map with the expired locks removed, then publishes
    /// the count (and the gauge).
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Lock>) -> T) -> T {
        // A poisoned map is still a consistent map: every change is one insert or remove.
        let mut map = self.locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        map.retain(|_, l| l.expires > now);
        let out = f(&mut map);
        let n = map.len();
        drop(map);
        self.held.store(n, std::sync::atomic::Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss, reason = "a count far below 2^52")]
        metrics::gauge!(crate::metrics::WEBDAV_LOCKS_HELD).set(n as f64);
        out
    }
}

/// Whether two locks conflict: at least one exclusive, and one applies to the other's root.
fn conflicts(held: &Lock, new: &NewLock) -> bool {
    if held.scope == LockScope::Shared && new.scope == LockScope::Shared {
        return false;
    }
    held.covers(&new.root) || (new.infinite && held.root.starts_with(&new.root))
}

/// The token of a new lock: 122 random bits in UUID form.
fn fresh_token() -> String {
    proto_http::lock::new_token(rand::random())
}

#[async_trait::async_trait]
impl LockStore for MemoryLocks {
    async fn lock(&self, new: NewLock) -> Result<Lock, LockError> {
        self.with(|map| {
            let held: Vec<Lock> = map.values().filter(|held| conflicts(held, &new)).cloned().collect();
            if !held.is_empty() {
                return Err(LockError::Conflict(held));
            }
            if map.len() >= self.max {
                return Err(LockError::Full);
            }
            let lock = Lock {
                token: fresh_token(),
                root: new.root,
                collection: new.collection,
                scope: new.scope,
                infinite: new.infinite,
                owner: new.owner,
                principal: new.principal,
                expires: Instant::now() + new.timeout,
            };
            map.insert(lock.token.clone(), lock.clone());
            Ok(lock)
        })
    }

    async fn refresh(
        &self,
        token: &str,
        path: &VirtualPath,
        principal: &str,
        timeout: Duration,
    ) -> Result<Lock, LockError> {
        self.with(|map| {
            let lock = map
                .get_mut(token)
                .filter(|l| l.covers(path))
                .ok_or(LockError::NoSuchLock)?;
            if lock.principal != principal {
                return Err(LockError::NotOwner);
            }
            lock.expires = Instant::now() + timeout;
            Ok(lock.clone())
        })
    }

    async fn unlock(&self, token: &str, path: &VirtualPath, principal: &str) -> Result<(), LockError> {
        self.with(|map| {
            let lock = map.get(token).filter(|l| l.covers(path)).ok_or(LockError::NoSuchLock)?;
            if lock.principal != principal {
                return Err(LockError::NotOwner);
            }
            map.remove(token);
            Ok(())
        })
    }

    async fn covering(&self, path: &VirtualPath) -> Vec<Lock> {
        if self.is_empty() {
            return Vec::new();
        }
        self.with(|map| map.values().filter(|l| l.covers(path)).cloned().collect())
    }

    async fn within(&self, path: &VirtualPath) -> Vec<Lock> {
        if self.is_empty() {
            return Vec::new();
        }
        self.with(|map| map.values().filter(|l| l.root.starts_with(path)).cloned().collect())
    }

    async fn release_within(&self, path: &VirtualPath) {
        if self.is_empty() {
            return;
        }
        self.with(|map| map.retain(|_, l| !l.root.starts_with(path)));
    }

    fn is_empty(&self) -> bool {
        self.held.load(std::sync::atomic::Ordering::Relaxed) == 0
    }
}
