//! The progress of a session's running transfer, shared between the transfer (which
//! counts bytes) and the session loop (which answers `STAT` while the transfer runs,
//! RFC 959 §4.1.3: "the server sends a status response over the control connection
//! giving the status of the operation in progress").
//!
//! Lock-free counters: the transfer path pays one relaxed store per block.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// What the data connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Activity {
    /// No transfer (the command running is not a transfer, or it has not started).
    Idle = 0,
    /// Waiting for the data connection.
    Connecting = 1,
    /// Sending a file.
    Sending = 2,
    /// Receiving a file.
    Receiving = 3,
    /// Sending a directory listing.
    Listing = 4,
}

/// Shared progress of one session's transfer.
#[derive(Debug, Default)]
pub struct Progress {
    activity: AtomicU8,
    bytes: AtomicU64,
    /// Expected size (`u64::MAX` when unknown, e.g. uploads and listings).
    total: AtomicU64,
}

impl Progress {
    /// A transfer phase begins; the byte count restarts.
    pub fn start(&self, activity: Activity, total: Option<u64>) {
        self.bytes.store(0, Ordering::Relaxed);
        self.total.store(total.unwrap_or(u64::MAX), Ordering::Relaxed);
        self.activity.store(activity as u8, Ordering::Relaxed);
    }

    /// Bytes moved so far in this transfer.
    pub fn set_bytes(&self, bytes: u64) {
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    /// Bytes moved so far in this transfer.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The transfer is over.
    pub fn finish(&self) {
        self.activity.store(Activity::Idle as u8, Ordering::Relaxed);
    }

    /// One line for a `213` reply to `STAT` during a transfer, or `None` when no
    /// transfer is running (then `STAT` waits its turn like any other command).
    pub fn status_line(&self) -> Option<String> {
        let bytes = self.bytes.load(Ordering::Relaxed);
        let total = self.total.load(Ordering::Relaxed);
        let of = if total == u64::MAX {
            String::new()
        } else {
            format!(" of {total}")
        };
        let text = match self.activity.load(Ordering::Relaxed) {
            1 => "Transfer in progress: waiting for the data connection.".to_owned(),
            2 => format!("Transfer in progress: {bytes}{of} bytes sent."),
            3 => format!("Transfer in progress: {bytes} bytes received."),
            4 => format!("Transfer in progress: {bytes} bytes of directory listing sent."),
            _ => return None,
        };
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::{Activity, Progress};

    #[test]
    fn reports_only_while_a_transfer_runs() {
        let p = Progress::default();
        assert_eq!(p.status_line(), None);
        p.start(Activity::Connecting, None);
        assert_eq!(
            p.status_line().as_deref(),
            Some("Transfer in progress: waiting for the data connection.")
        );
        p.start(Activity::Sending, Some(100));
        p.set_bytes(40);
        assert_eq!(
            p.status_line().as_deref(),
            Some("Transfer in progress: 40 of 100 bytes sent.")
        );
        p.start(Activity::Receiving, None);
        p.set_bytes(7);
        assert_eq!(
            p.status_line().as_deref(),
            Some("Transfer in progress: 7 bytes received.")
        );
        p.finish();
        assert_eq!(p.status_line(), None);
    }
}
