//! Abandoned temporary uploads, deleted when a listing meets them.
//!
//! An upload is written to a hidden `.dualgate-upload-*` name and renamed when
//! complete ([`upload`](super::upload)); a failed one deletes its file, but a
//! gateway killed mid-upload leaves it on the upstream, hidden from every
//! listing and never reached again. There is no cheap way to find them all (a
//! walk of the whole upstream tree, over FTP), so the sweep is lazy: when a
//! listing read by the back-end shows one whose listed time is older than
//! `stale_uploads_after`, it is deleted in the background (`DELE` on a pooled
//! connection, after the listing gave its own back) and logged. A live upload
//! is written to at least once per data timeout, so its time stays recent;
//! the age is measured by the upstream's listed time (to the minute, maybe in
//! the upstream's local time zone), hence the long default (a day).
//!
//! Bounded: at most [`MAX_AT_ONCE`] deletions per upstream are under way; one
//! met while that many are is left for a later listing, as is one whose
//! deletion failed (logged).

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use super::FtpVolume;
use super::pool::ftp;
use crate::storage::ErrorKind;

/// Deletions under way at once, per upstream.
pub const MAX_AT_ONCE: usize = 16;

/// The upstream paths being deleted now.
#[derive(Debug, Default)]
pub struct Sweeping(Mutex<HashSet<String>>);

/// Whether a temporary upload listed with `modified` is abandoned, by `now`.
pub fn is_stale(modified: Option<SystemTime>, after: std::time::Duration, now: SystemTime) -> bool {
    modified.is_some_and(|m| now.duration_since(m).is_ok_and(|age| age > after))
}

impl FtpVolume {
    /// Deletes the abandoned temporary upload at upstream path `up` in the
    /// background, unless it is already being deleted or too many are.
    pub(super) fn sweep(&self, up: String) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        {
            let mut under_way = self.upstream.sweeping.0.lock().unwrap_or_else(PoisonError::into_inner);
            if under_way.len() >= MAX_AT_ONCE || !under_way.insert(up.clone()) {
                return;
            }
        }
        let vol = self.clone();
        rt.spawn(async move {
            let result = match vol.lease().await {
                Ok(mut lease) => ftp!(lease, "DELE (abandoned upload)", lease.ftp().rm(up.as_str())),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => tracing::info!(
                    upstream = %vol.upstream.describe,
                    path = %up,
                    "deleted an abandoned temporary upload (older than storage.stale_uploads_after)"
                ),
                // Another gateway (or a listing of this one) was first.
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(path = %up, error = %e, "could not delete an abandoned temporary upload"),
            }
            vol.upstream
                .sweeping
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&up);
        });
    }
}
