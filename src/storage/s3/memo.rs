//! The last file a `stat` found, for the `read` that follows it at once.
//!
//! Both protocols look at a file before they open it (FTP `RETR` for its size
//! in the 150 reply, HTTP `GET` for its validators), and the read then needed
//! a HeadObject of its own: three requests per download where two do. The
//! memo hands the stat's answer to the read that comes within a second, once.
//! It cannot serve stale bytes: the read is pinned to the memo's ETag
//! (`If-Match`), and when the object has changed meanwhile the read starts over
//! with a fresh HeadObject (see `S3Volume::read`).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a stat's answer may stand in for the read's own.
const FRESH_FOR: Duration = Duration::from_secs(1);

/// One slot: the key, its metadata, when it was read.
#[derive(Default)]
pub(super) struct StatMemo(Mutex<Option<(String, opendal::Metadata, Instant)>>);

impl StatMemo {
    /// Remembers what a stat found at `key`.
    pub fn put(&self, key: &str, meta: &opendal::Metadata) {
        *self.slot() = Some((key.to_owned(), meta.clone(), Instant::now()));
    }

    /// What a stat found at `key` less than a second ago, once.
    pub fn take(&self, key: &str) -> Option<opendal::Metadata> {
        let mut slot = self.slot();
        match slot.take() {
            Some((k, meta, at)) if k == key && at.elapsed() < FRESH_FOR => Some(meta),
            other => {
                *slot = other.filter(|(_, _, at)| at.elapsed() < FRESH_FOR);
                None
            }
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<(String, opendal::Metadata, Instant)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memo_is_for_its_key_once() {
        let memo = StatMemo::default();
        let meta = opendal::MetadataBuilder::file(7).build();
        memo.put("a", &meta);
        assert!(memo.take("b").is_none());
        assert_eq!(memo.take("a").map(|m| m.content_length()), Some(7));
        assert!(memo.take("a").is_none(), "used twice");
    }
}
