//! The optional transfer log in xferlog(5) format, for legacy log tooling
//! (`xferlog: PATH` in the config): one line per file transfer — downloads and
//! uploads, complete or not, over FTP and HTTP — written by the LOG_CMD phase.
//!
//! ```text
//! Fri Nov 27 04:25:01 2026 1 127.0.0.1 1048576 /alice/report.pdf b _ o r alice ftp 0 * c
//! ```
//!
//! Fields: time (UTC, ctime form), seconds (at least 1, as wu-ftpd writes), client
//! address, bytes, file name (whitespace and control characters become `_`, so the
//! line splits on blanks), type (`a`scii or `b`inary), action flag (`_`), direction
//! (`o`ut or `i`n), access mode (`a`nonymous or `r`eal), user, service (`ftp` or
//! `http`), authentication method (`0`), authenticated user id (`*`), status
//! (`c`omplete or `i`ncomplete).
//!
//! Lines go through a bounded queue to one writer task, so a slow disk never slows a
//! transfer: when the queue is full a line is dropped and counted
//! (`dualgate_xferlog_dropped_total`). SIGHUP reopens the file (after logrotate moved it).

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Lines waiting for the writer at most.
const QUEUE: usize = 4096;

/// One transfer, as the log phase knows it.
#[derive(Debug, Clone)]
pub struct TransferRecord<'a> {
    /// When it ended.
    pub finished: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// The client's address.
    pub client: IpAddr,
    /// Bytes moved.
    pub bytes: u64,
    /// The file, from the storage root.
    pub path: &'a str,
    /// `TYPE A` (FTP).
    pub ascii: bool,
    /// An upload.
    pub inbound: bool,
    /// The anonymous user.
    pub anonymous: bool,
    /// The login name.
    pub user: &'a str,
    /// `ftp` or `http`.
    pub service: &'a str,
    /// It completed.
    pub complete: bool,
}

impl TransferRecord<'_> {
    /// The xferlog line (without the newline).
    pub fn line(&self) -> String {
        let t = time::OffsetDateTime::from(self.finished);
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_whitespace() || c.is_control() { '_' } else { c })
                .collect()
        };
        format!(
            "{} {} {:2} {:02}:{:02}:{:02} {} {} {} {} {} {} _ {} {} {} {} 0 * {}",
            &t.weekday().to_string()[..3],
            &t.month().to_string()[..3],
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.year(),
            self.duration.as_secs().max(1),
            self.client,
            self.bytes,
            clean(self.path),
            if self.ascii { 'a' } else { 'b' },
            if self.inbound { 'i' } else { 'o' },
            if self.anonymous { 'a' } else { 'r' },
            clean(self.user),
            self.service,
            if self.complete { 'c' } else { 'i' },
        )
    }
}

/// The transfer log: a queue to its writer task.
#[derive(Debug)]
pub struct TransferLog {
    queue: mpsc::Sender<String>,
}

fn open(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().create(true).append(true).open(path)
}

impl TransferLog {
    /// Opens (creating) `path` for appending and starts the writer, which ends at
    /// `shutdown` after writing what is queued. An error here stops the start-up.
    pub fn start(path: &Path, shutdown: CancellationToken) -> std::io::Result<Self> {
        let file = open(path)?;
        let (queue, lines) = mpsc::channel(QUEUE);
        std::thread::Builder::new().name("xferlog".into()).spawn({
            let path = path.to_path_buf();
            move || write_lines(path, file, lines)
        })?;
        // SIGHUP: reopen, for logrotate. The writer thread checks the flag per line.
        tokio::spawn(reopen_on_sighup(queue.clone(), shutdown));
        Ok(TransferLog { queue })
    }

    /// Queues one line; never waits.
    pub fn record(&self, record: &TransferRecord<'_>) {
        if self.queue.try_send(record.line()).is_err() {
            metrics::counter!(crate::metrics::XFERLOG_DROPPED_TOTAL).increment(1);
        }
    }
}

/// The marker line that asks the writer to reopen the file.
const REOPEN: &str = "\0reopen";

async fn reopen_on_sighup(queue: mpsc::Sender<String>, shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        return;
    };
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            got = hangups.recv() => if got.is_none() { return },
        }
        let _ = queue.send(REOPEN.to_owned()).await;
    }
}

/// The writer thread: blocking appends, flushed when the queue runs dry.
fn write_lines(path: PathBuf, file: std::fs::File, mut lines: mpsc::Receiver<String>) {
    let mut out = std::io::BufWriter::new(file);
    while let Some(line) = lines.blocking_recv() {
        if line == REOPEN {
            let _ = out.flush();
            match open(&path) {
                Ok(f) => out = std::io::BufWriter::new(f),
                Err(e) => tracing::error!(path = %path.display(), error = %e, "cannot reopen the transfer log"),
            }
            continue;
        }
        if let Err(e) = writeln!(out, "{line}") {
            tracing::error!(path = %path.display(), error = %e, "cannot write the transfer log");
        }
        if lines.is_empty() {
            let _ = out.flush();
        }
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn a_line_has_the_fourteen_xferlog_fields() {
        let record = TransferRecord {
            finished: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_753_501), // 2026-11-27 04:25:01 UTC
            duration: Duration::from_millis(300),
            client: "127.0.0.1".parse().unwrap(),
            bytes: 1_048_576,
            path: "/alice/my report.pdf",
            ascii: false,
            inbound: false,
            anonymous: false,
            user: "alice",
            service: "ftp",
            complete: true,
        };
        assert_eq!(
            record.line(),
            "Fri Nov 27 04:25:01 2026 1 127.0.0.1 1048576 /alice/my_report.pdf b _ o r alice ftp 0 * c"
        );
        let upload = TransferRecord {
            inbound: true,
            ascii: true,
            anonymous: true,
            user: "anonymous",
            complete: false,
            finished: SystemTime::UNIX_EPOCH + Duration::from_secs(1_794_009_600), // 2026-11-07 00:00:00 UTC
            duration: Duration::from_secs(42),
            ..record
        };
        let line = upload.line();
        assert!(line.starts_with("Sat Nov  7 00:00:00 2026 42 "), "{line}");
        assert!(line.ends_with(" a _ i a anonymous ftp 0 * i"), "{line}");
        // Time takes five blank-separated words; then thirteen fields.
        assert_eq!(line.split_whitespace().count(), 5 + 13);
    }
}
