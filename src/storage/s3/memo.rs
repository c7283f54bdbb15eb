//! The last file a `stat` found, for the `read` that follows it at once.
//!
//! Both protocols look at a file before they open it (FTP `RETR` for its size
//! in the 150 reply, HTTP `GET` for its validators), and the read then needed
//! a HeadObject of its own: three requests per download where two do. The
//! memo hands the stat's answer to the read that comes within a second, once.
//! It cannot serve stale bytes: a write by this process voids it ([`Writes`]),
//! the read is pinned to the memo's ETag (`If-Match`), and when the object has
//! changed meanwhile the read starts over with a fresh HeadObject (see
//! `S3Volume::read`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a stat's answer may stand in for the read's own.
const FRESH_FOR: Duration = Duration::from_secs(1);

/// Counts the changes this process makes to the store, through any volume: a
/// memo made before one is void, so a read never leans on a stat older than
/// the process's own last write — even on stores that ignore `If-Match` on
/// reads (s3s-fs does), where the pin alone would not catch it.
#[derive(Debug, Default)]
pub(super) struct Writes(AtomicU64);

impl Writes {
    /// Something was (or may have been) changed in the store.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    fn now(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// What a stat found: the key, its metadata, when, and the write count then.
struct Entry {
    key: String,
    meta: opendal::Metadata,
    at: Instant,
    writes: u64,
}

/// One slot per volume.
pub(super) struct StatMemo {
    slot: Mutex<Option<Entry>>,
    writes: Arc<Writes>,
}

impl StatMemo {
    pub fn new(writes: Arc<Writes>) -> Self {
        StatMemo {
            slot: Mutex::new(None),
            writes,
        }
    }

    /// Remembers what a stat found at `key`.
    pub fn put(&self, key: &str, meta: &opendal::Metadata) {
        *self.slot() = Some(Entry {
            key: key.to_owned(),
            meta: meta.clone(),
            at: Instant::now(),
            writes: self.writes.now(),
        });
    }

    /// What a stat found at `key` less than a second ago, with no write by
    /// this process since, once.
    pub fn take(&self, key: &str) -> Option<opendal::Metadata> {
        let entry = self.slot().take()?;
        (entry.key == key && entry.at.elapsed() < FRESH_FOR && entry.writes == self.writes.now()).then_some(entry.meta)
    }

    /// The process changed something in the store.
    pub fn wrote(&self) {
        self.writes.bump();
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Entry>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memo_is_for_its_key_once_and_until_a_write() {
        let writes = Arc::new(Writes::default());
        let memo = StatMemo::new(writes.clone());
        let meta = opendal::MetadataBuilder::file(7).build();
        memo.put("a", &meta);
        assert!(memo.take("b").is_none(), "another key (and the slot is spent)");
        memo.put("a", &meta);
        assert_eq!(memo.take("a").map(|m| m.content_length()), Some(7));
        assert!(memo.take("a").is_none(), "used twice");
        memo.put("a", &meta);
        StatMemo::new(writes).wrote(); // a write through another volume
        assert!(memo.take("a").is_none(), "a write since the stat");
    }
}
