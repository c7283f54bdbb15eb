//! Directory listings from the upstream: MLSD where it has it, else `LIST -a`
//! parsed as Unix `ls -l` or DOS/Windows lines; read line by line from the data
//! connection (each line bounded, each read timed), never collected whole.
//!
//! Filtered out: `.` and `..` (Pure-FTPd's MLSD includes them, as `cdir`/`pdir`),
//! lines that parse as no entry (`total 12`), names a path cannot hold, and —
//! by [`Lister`]'s callers — the back-end's own temporary upload names.

use std::borrow::BorrowMut;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use suppaftp::Status;
use suppaftp::list::{File, ListParser, PosixPexQuery};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::learned::Lack;
use super::pool::{Lease, ftp};
use super::upload::Transfer;
use crate::storage::{EntryKind, ErrorKind, Metadata, StorageError};

/// The longest listing line accepted; a longer one fails the listing.
const MAX_LINE: u64 = 8192;

/// One listed entry: its name as the upstream gave it, and its metadata.
pub type RawEntry = (String, Metadata);

/// Metadata from a parsed line or MLST fact line; `with_mode` when the line
/// showed permission bits (a Unix `LIST` line, the `UNIX.mode` fact). Directory
/// sizes are noise (4096 on most disks) and shown as 0, the same in `stat` and
/// listings.
pub fn meta_of(file: &File, with_mode: bool) -> Metadata {
    let dir = file.is_directory();
    Metadata {
        kind: if dir { EntryKind::Dir } else { EntryKind::File },
        size: if dir { 0 } else { file.size() as u64 },
        modified: Some(sane_time(file.modified())),
        mode: with_mode.then(|| mode_bits(file)),
        etag: None,
    }
}

/// The permission bits (`0o777` at most) a parsed line showed.
fn mode_bits(file: &File) -> u32 {
    let mut mode = 0;
    for (shift, who) in [
        (6, PosixPexQuery::Owner),
        (3, PosixPexQuery::Group),
        (0, PosixPexQuery::Others),
    ] {
        let bits =
            u32::from(file.can_read(who)) << 2 | u32::from(file.can_write(who)) << 1 | u32::from(file.can_execute(who));
        mode |= bits << shift;
    }
    mode
}

/// Whether an MLST/MLSD line's facts give `UNIX.mode` (suppaftp's parser takes
/// a missing one as `0777`).
pub fn has_unix_mode(line: &str) -> bool {
    let facts = line.trim_start().split_once(' ').map_or("", |(facts, _)| facts);
    facts.split(';').any(|fact| {
        fact.split_once('=')
            .is_some_and(|(k, _)| k.eq_ignore_ascii_case("unix.mode"))
    })
}

/// A listing time that is never the epoch (FileZilla hides entries dated 1970):
/// a server that gave none gets one second after it.
fn sane_time(t: SystemTime) -> SystemTime {
    if t <= UNIX_EPOCH {
        UNIX_EPOCH + Duration::from_secs(1)
    } else {
        t
    }
}

/// Parses one listing line; `None` for lines that are no entry, `.`/`..` included.
pub fn parse_line(line: &str, mlsx: bool) -> Option<RawEntry> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.is_empty() {
        return None;
    }
    let (file, with_mode) = if mlsx {
        let lower = line.to_ascii_lowercase();
        if lower.contains("type=cdir;") || lower.contains("type=pdir;") {
            return None;
        }
        // RFC 3659: facts (`name=value;`…), one space, the name. suppaftp's
        // parser would take a line without facts as a bare name.
        let (facts, _) = line.split_once(' ')?;
        if !facts.is_empty() && !facts.contains('=') {
            return None;
        }
        (ListParser::parse_mlsd(line).ok()?, has_unix_mode(line))
    } else {
        match ListParser::parse_posix(line) {
            Ok(file) => (file, true),
            // DOS lines show no permission bits.
            Err(_) => (ListParser::parse_dos(line).ok()?, false),
        }
    };
    let name = file.name();
    if name == "." || name == ".." || name.is_empty() || crate::path::validate_name(name).is_err() {
        return None;
    }
    Some((name.to_owned(), meta_of(&file, with_mode)))
}

/// An open listing: the lease it runs on (owned by a streamed listing,
/// borrowed by a caller that already holds one and reads the listing whole, so
/// that it never waits for a second connection while holding the first) and
/// its data connection.
pub struct Lister<L: BorrowMut<Lease>> {
    lease: L,
    reader: Option<BufReader<Transfer>>,
    mlsx: bool,
    line: Vec<u8>,
}

impl<L: BorrowMut<Lease>> Lister<L> {
    /// Lists the upstream directory `dir`: `CWD` first (a missing path or a
    /// file fails here: vsftpd answers `LIST` of a missing path with an empty
    /// listing and of a file with that file), then a bare `MLSD`/`LIST -a`, so
    /// that no server reads glob characters or spaces in the name.
    ///
    /// `-a` is what makes vsftpd show dotfiles; a server that refuses it (5xx,
    /// or a 550 for a file named `-a`) after the `CWD` worked gets a plain `LIST`
    /// at once, and if that works, plain `LIST` is what it gets from then on
    /// ([`Lack::ListAll`]). (A server that lists a file named `-a` as an empty
    /// directory cannot be told from an empty directory: `list: mlsd` or an
    /// upstream that takes `-a` is needed there.)
    pub async fn open(mut owner: L, dir: &str, mlsx: bool) -> Result<Lister<L>, StorageError> {
        let lease = owner.borrow_mut();
        ftp!(lease, "CWD", lease.ftp().cwd(dir))?;
        let learned = lease.settings().learned.clone();
        let command = if mlsx {
            "MLSD"
        } else if learned.lacks(Lack::ListAll) {
            "LIST"
        } else {
            "LIST -a"
        };
        let stream = match Self::start(lease, command).await {
            Err((_, true)) if command == "LIST -a" => {
                let plain = Self::start(lease, "LIST").await;
                if plain.is_ok() {
                    learned.learn(Lack::ListAll, &lease.settings().describe);
                }
                plain
            }
            other => other,
        }
        .map_err(|(e, _)| e)?;
        let lease = owner;
        Ok(Lister {
            lease,
            reader: Some(BufReader::new(stream)),
            mlsx,
            line: Vec::new(),
        })
    }

    /// Starts the listing `command`; a failure says whether it was a 5xx
    /// refusal (after which the control connection is still in step).
    async fn start(lease: &mut Lease, command: &str) -> Result<Transfer, (StorageError, bool)> {
        lease.set_in_step(false);
        let limit = lease.timeout();
        let r = tokio::time::timeout(
            limit,
            lease
                .ftp()
                .custom_data_command(command, &[Status::AboutToSend, Status::AlreadyOpen]),
        )
        .await;
        let refused = matches!(&r, Ok(Err(e)) if super::errors::permanent_refusal(e));
        let started = lease.check(command, r).map(|(_, stream)| stream);
        if refused {
            // A refusal reply: nothing is under way on the connection.
            lease.set_in_step(true);
        }
        started.map_err(|e| (e, refused))
    }

    /// Up to `max` entries; `None` at the end (the transfer then completed, and
    /// the connection goes back to the pool).
    pub async fn next_batch(&mut self, max: usize) -> Result<Option<Vec<RawEntry>>, StorageError> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(None);
        };
        let limit = self.lease.borrow().timeout();
        let mut batch = Vec::new();
        while batch.len() < max {
            self.line.clear();
            let read = tokio::time::timeout(
                limit,
                (&mut *reader).take(MAX_LINE + 1).read_until(b'\n', &mut self.line),
            )
            .await;
            let n = match read {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(StorageError::with_source(ErrorKind::Unavailable, e)),
                Err(_) => return Err(super::errors::timed_out("listing")),
            };
            if n == 0 {
                // The end: the upstream's 226 says the listing is complete.
                if let Some(reader) = self.reader.take() {
                    let stream = reader.into_inner();
                    let done = tokio::time::timeout(limit, stream.finish()).await;
                    let lease = self.lease.borrow_mut();
                    lease.check("listing", done)?;
                    lease.set_in_step(true);
                }
                break;
            }
            if self.line.len() as u64 > MAX_LINE {
                return Err(StorageError::with_source(
                    ErrorKind::Other,
                    "a listing line from the upstream is longer than 8 KiB",
                ));
            }
            let text = self.lease.borrow().settings().decode(&self.line);
            match parse_line(&text, self.mlsx) {
                Some(entry) => batch.push(entry),
                None => tracing::trace!(line = %text.trim_end(), "listing line skipped"),
            }
        }
        if batch.is_empty() && self.reader.is_none() {
            return Ok(None);
        }
        Ok(Some(batch))
    }
}
