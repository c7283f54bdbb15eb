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

/// A change in progress: counted when it starts and again when it ends, so a
/// stat whose request went out before the end is void however its answer
/// interleaves with the change.
pub(super) struct Writing<'a>(&'a Writes);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.bump();
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

    /// The write count to give [`StatMemo::put`]: taken before the stat's
    /// request goes out.
    pub fn before_stat(&self) -> u64 {
        self.writes.now()
    }

    /// Remembers what a stat found at `key`, asked when the count was `writes`.
    pub fn put(&self, key: &str, meta: &opendal::Metadata, writes: u64) {
        *self.slot() = Some(Entry {
            key: key.to_owned(),
            meta: meta.clone(),
            at: Instant::now(),
            writes,
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

    /// The process is changing something in the store, until the guard drops.
    pub fn writing(&self) -> Writing<'_> {
        self.writes.bump();
        Writing(&self.writes)
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
        memo.put("a", &meta, memo.before_stat());
        assert!(memo.take("b").is_none(), "another key (and the slot is spent)");
        memo.put("a", &meta, memo.before_stat());
        assert_eq!(memo.take("a").map(|m| m.content_length()), Some(7));
        assert!(memo.take("a").is_none(), "used twice");
        memo.put("a", &meta, memo.before_stat());
        StatMemo::new(writes.clone()).wrote(); // a write through another volume
        assert!(memo.take("a").is_none(), "a write since the stat");
        // A stat sent while a change was going on is void once it ends.
        let other = StatMemo::new(writes);
        let change = other.writing();
        let asked = memo.before_stat();
        drop(change);
        memo.put("a", &meta, asked);
        assert!(memo.take("a").is_none(), "a change ended after the stat was sent");
    }
}
