//! Cache of successful password verifications.
//!
//! Keys are BLAKE2b-256 of a random per-process key, the user name and the
//! password: the password itself is never stored, and the key cannot be
//! precomputed from outside. Entries expire after a TTL; the cache holds at most
//! `capacity` entries (the oldest go first). Only successes are cached, so a wrong
//! password always pays the full argon2 check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blake2::{Blake2b256, Digest};

use super::User;

/// A cache key: a keyed hash of user and password.
pub type CacheKey = [u8; 32];

/// Bounded, expiring cache of verified credentials.
#[derive(Debug)]
pub struct VerifyCache {
    secret: [u8; 32],
    capacity: usize,
    ttl: Duration,
    entries: Mutex<HashMap<CacheKey, (Arc<User>, Instant)>>,
}

impl VerifyCache {
    /// A cache of at most `capacity` entries living `ttl` each.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        VerifyCache {
            secret: rand::random(),
            capacity,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The key for a user and password.
    pub fn key(&self, user: &str, password: &str) -> CacheKey {
        let mut h = Blake2b256::new();
        h.update(self.secret);
        h.update((user.len() as u64).to_le_bytes());
        h.update(user.as_bytes());
        h.update(password.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(&h.finalize());
        out
    }

    /// The user for a key, if verified within the TTL.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<User>> {
        let mut map = self.entries.lock().ok()?;
        match map.get(key) {
            Some((user, at)) if at.elapsed() < self.ttl => Some(user.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers a successful verification.
    pub fn insert(&self, key: CacheKey, user: Arc<User>) {
        let Ok(mut map) = self.entries.lock() else { return };
        if map.len() >= self.capacity {
            let ttl = self.ttl;
            map.retain(|_, (_, at)| at.elapsed() < ttl);
            if map.len() >= self.capacity
                && let Some(oldest) = map.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        map.insert(key, (user, Instant::now()));
    }

    /// Forgets everything (on user-list reload).
    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.lock() {
            map.clear();
        }
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |m| m.len())
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
