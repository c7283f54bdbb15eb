//! The connection pools in use: one per upstream account — host, port and
//! user — shared by every session and volume of that account.
//!
//! With per-user credentials (`passthrough`, `map`) the accounts come and go
//! with the users, so the set is bounded (`storage.max_pools`) and swept: a
//! reaper task closes idle connections after the idle timeout, and a pool with
//! no connection open that nobody has used for the idle timeout is dropped.
//! When a new account finds the set full, pools with no connection open make
//! room; if every pool has connections open, the new account's storage is
//! unavailable until one frees up (a clear error, not an unbounded set).
//!
//! Volumes hold the key, not the pool: each operation looks its pool up here
//! (a map lookup), so a volume kept across logins never keeps a pool alive,
//! and a pool dropped meanwhile is made again on the next use. Only a pool
//! that nobody else holds (no lease, no operation under way) is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use super::pool::Pool;
use super::settings::UpstreamSettings;
use crate::auth::Password;
use crate::storage::{ErrorKind, StorageError};

/// An upstream account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    host: String,
    port: u16,
    user: String,
}

/// The pools, by account.
pub struct Pools {
    max: usize,
    pools: Mutex<HashMap<PoolKey, Arc<Pool>>>,
}

impl Pools {
    /// At most `max` pools; a reaper task sweeps them every `every` while the
    /// set lives (when there is a runtime to run it).
    pub fn new(max: usize, every: Duration) -> Arc<Pools> {
        let pools = Arc::new(Pools {
            max,
            pools: Mutex::new(HashMap::new()),
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(reap(Arc::downgrade(&pools), every));
        }
        pools
    }

    /// The pool of `user` on the upstream of `settings`, made with `password`
    /// if there is none yet.
    pub fn pool(
        &self,
        settings: &Arc<UpstreamSettings>,
        user: &str,
        password: &Password,
    ) -> Result<Arc<Pool>, StorageError> {
        let key = PoolKey {
            host: settings.host.clone(),
            port: settings.port,
            user: user.to_owned(),
        };
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pool) = pools.get(&key) {
            pool.touch();
            return Ok(pool.clone());
        }
        if pools.len() >= self.max {
            pools.retain(|_, p| Arc::strong_count(p) > 1 || p.unused_for().is_none());
        }
        if pools.len() >= self.max {
            tracing::warn!(
                max = self.max,
                "every upstream connection pool has connections open (storage.max_pools)"
            );
            return Err(StorageError::with_source(
                ErrorKind::Unavailable,
                format!(
                    "all {} upstream connection pools are in use (storage.max_pools)",
                    self.max
                ),
            ));
        }
        let pool = Pool::new(settings.clone(), user, password.clone());
        pools.insert(key, pool.clone());
        Ok(pool)
    }

    /// How many pools exist now.
    pub fn count(&self) -> usize {
        self.pools.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Closes idle connections past their timeout, and drops the pools that
    /// have had none open, and no user, for the idle timeout.
    pub fn sweep(&self) {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        pools.retain(|_, p| {
            p.reap();
            Arc::strong_count(p) > 1 || p.unused_for().is_none_or(|d| d < p.settings().idle_timeout)
        });
    }
}

/// Sweeps the pools every `every`, while they live.
async fn reap(pools: Weak<Pools>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(p) = pools.upgrade() else { return };
        p.sweep();
    }
}
