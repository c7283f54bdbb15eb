//! Unit tests of what needs no upstream: the reply-code table, listing-line
//! parsing (vsftpd, Pure-FTPd MLSD, DOS), temporary names and the section's
//! checks. The back-end against real servers is in `tests/conformance.rs`
//! (`upstream_ftp::`, run by `tests/backends/run.sh`).

#![allow(clippy::unwrap_used, reason = "tests")]

use super::errors::reply_kind;
use super::listing::parse_line;
use super::upload::{TEMP_PREFIX, temp_path};
use super::{UpstreamSettings, is_temp};
use crate::storage::{EntryKind, ErrorKind};

#[test]
fn reply_codes_map_to_kinds() {
    assert_eq!(reply_kind(550, "Failed to open file."), ErrorKind::NotFound);
    assert_eq!(reply_kind(550, "Can't check for file existence"), ErrorKind::NotFound);
    assert_eq!(reply_kind(550, "Permission denied."), ErrorKind::PermissionDenied);
    assert_eq!(
        reply_kind(550, "Can't remove directory: Directory not empty"),
        ErrorKind::DirectoryNotEmpty
    );
    assert_eq!(reply_kind(552, "Quota exceeded"), ErrorKind::NoSpace);
    assert_eq!(reply_kind(452, "Insufficient storage"), ErrorKind::NoSpace);
    assert_eq!(reply_kind(421, "Timeout."), ErrorKind::Unavailable);
    assert_eq!(
        reply_kind(426, "Failure writing network stream."),
        ErrorKind::Unavailable
    );
    assert_eq!(reply_kind(530, "Login incorrect."), ErrorKind::PermissionDenied);
    assert_eq!(reply_kind(553, "Could not create file."), ErrorKind::InvalidName);
    assert_eq!(reply_kind(500, "Unknown command."), ErrorKind::Unsupported);
    assert_eq!(reply_kind(599, "?"), ErrorKind::Other);
}

#[test]
fn listing_lines_parse_and_dots_are_dropped() {
    // vsftpd (numeric owner), a name with spaces.
    let (name, meta) = parse_line(
        "-rw-r--r--    1 1001     1001           11 Nov 22 03:13 app file.txt",
        false,
    )
    .unwrap();
    assert_eq!(
        (name.as_str(), meta.kind, meta.size),
        ("app file.txt", EntryKind::File, 11)
    );
    let (name, meta) = parse_line("drwxr-xr-x    2 1001     1001         4096 Nov 22 03:13 sub", false).unwrap();
    assert_eq!((name.as_str(), meta.kind, meta.size), ("sub", EntryKind::Dir, 0));
    assert!(parse_line("drwxr-xr-x    2 1001     1001         4096 Nov 22 03:13 .", false).is_none());
    assert!(parse_line("drwxr-xr-x    2 1001     1001         4096 Nov 22 03:13 ..", false).is_none());
    assert!(parse_line("total 12", false).is_none());
    // DOS / IIS.
    let (name, meta) = parse_line("04-27-20  12:05PM                 1234 report.csv", false).unwrap();
    assert_eq!(
        (name.as_str(), meta.kind, meta.size),
        ("report.csv", EntryKind::File, 1234)
    );
    // Pure-FTPd MLSD, with its cdir/pdir entries.
    let (name, meta) = parse_line(
        "type=file;size=5;modify=20261122031300;UNIX.mode=0644;unique=801g1; a b.txt",
        true,
    )
    .unwrap();
    assert_eq!((name.as_str(), meta.kind, meta.size), ("a b.txt", EntryKind::File, 5));
    assert!(parse_line("type=cdir;sizd=4096;modify=20261122031300;UNIX.mode=0755; .", true).is_none());
    assert!(parse_line("type=pdir;sizd=4096;modify=20261122031300;UNIX.mode=0755; ..", true).is_none());
    assert!(parse_line("garbage", true).is_none());
}

#[test]
fn temporary_names_sit_next_to_the_target_and_are_hidden() {
    let t = temp_path("/alice/dir/file.txt");
    assert!(t.starts_with(&format!("/alice/dir/{TEMP_PREFIX}")), "{t}");
    assert!(is_temp(t.rsplit('/').next().unwrap()));
    assert_ne!(temp_path("/f"), temp_path("/f"));
    assert!(!is_temp("file.txt"));
}

#[test]
fn the_section_is_checked() {
    let parse = |yaml: &str| {
        let c = crate::config::load_str(yaml, "t").unwrap();
        let crate::config::StorageConfig::UpstreamFtp(ftp) = c.storage else {
            panic!("not upstream_ftp")
        };
        UpstreamSettings::problems(&ftp)
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
    };
    assert!(parse("storage: { kind: upstream_ftp, host: h, user: u, password: p }\n").is_empty());
    assert_eq!(
        parse("storage: { kind: upstream_ftp, host: h, user: u }\n"),
        ["storage.password"]
    );
    assert_eq!(
        parse("storage: { kind: upstream_ftp, host: h, user: u, password: p, root: rel, max_connections: 0 }\n"),
        ["storage.root", "storage.max_connections"]
    );
    assert_eq!(
        parse("storage: { kind: upstream_ftp, host: h, user: u, password: p, ca_file: /x }\n"),
        ["storage.tls"]
    );
}

#[test]
fn stat_times_take_the_precision_of_a_listing() {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    // Recent: to the minute, as `ls -l` shows `Nov 22 03:13`.
    let recent = SystemTime::now() - Duration::from_secs(3 * 3600 + 17);
    let cut = super::listing_precision(recent);
    assert_eq!(secs(cut) % 60, 0);
    assert!(recent.duration_since(cut).unwrap() < Duration::from_secs(60));
    // Older than six months: to the day, as `ls -l` shows `Nov 22  2024`.
    let old = SystemTime::now() - Duration::from_secs(400 * 86_400 + 5000);
    let cut = super::listing_precision(old);
    assert_eq!(secs(cut) % 86_400, 0);
    assert!(old.duration_since(cut).unwrap() < Duration::from_secs(86_400));
}
