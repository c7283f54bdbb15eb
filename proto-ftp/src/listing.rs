//! Directory listing line formats: `LIST` (`ls -l` style), `NLST`, and the
//! RFC 3659 `MLSD`/`MLST` fact lines, plus the `MDTM` time value.
//!
//! RFC 959 leaves the LIST format to the server; clients (curl, lftp,
//! Python ftplib, rclone, FileZilla) parse the `/bin/ls -l` layout that
//! vsftpd emits, so that is what [`list_line`] writes.
//!
//! RFC 3659 §7.2 defines an MLSx line as `entry = [ facts ] SP pathname`
//! with `facts = 1*( fact ";" )`, and the MLST reply as
//! `"250-" [ response-message ] CRLF 1*( SP entry CRLF ) "250" ...`.
//! §2.3: "Time values are always represented in UTC (GMT), and in the
//! Gregorian calendar regardless of what calendar may have been in use at
//! the date and time indicated at the location of the server-PI." with
//! `time-val = 14DIGIT [ "." 1*DIGIT ]` (`YYYYMMDDHHMMSS`).
//!
//! Which facts an MLSx line carries is the client's choice (§7.9, `OPTS
//! MLST`): the caller passes it as a [`Facts`] value and keeps it per
//! session; [`Facts::parse_list`] reads the OPTS argument and [`Facts`]
//! renders the OPTS reply and the FEAT line.
//!
//! Each function writes one line into a caller-provided buffer, so a
//! directory is streamed entry by entry and nothing is collected. The
//! current time is a parameter. Names are written verbatim (UTF-8), except
//! that CR and LF become `?` so a hostile file name cannot break the line
//! framing.

use std::fmt;
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;

/// A set of MLSx facts (RFC 3659 §7.5): the facts a line carries.
///
/// §7.9: "the client can select which facts it wants returned" with `OPTS
/// MLST fact;fact;`; the server answers with the facts now selected, ignores
/// the names it does not know, and an empty list selects no fact at all (a
/// line is then just ` name`, §7.2 `entry = [ facts ] SP pathname`).
/// Displays as the fact list of that reply: `type;size;` (empty for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Facts(u8);

impl Facts {
    /// No fact.
    pub const NONE: Facts = Facts(0);
    /// `type`: `file` or `dir`.
    pub const TYPE: Facts = Facts(1);
    /// `size`: bytes (files only).
    pub const SIZE: Facts = Facts(1 << 1);
    /// `modify`: last modification time, when known.
    pub const MODIFY: Facts = Facts(1 << 2);
    /// `perm`: what the user may do with the entry.
    pub const PERM: Facts = Facts(1 << 3);
    /// `unique`: an identifier of the object, when known.
    pub const UNIQUE: Facts = Facts(1 << 4);
    /// Every fact: what a line carries before any `OPTS MLST`.
    pub const ALL: Facts = Facts(0b1_1111);

    /// The facts with their names, in the order a line carries them.
    const NAMED: [(Facts, &'static str); 5] = [
        (Facts::TYPE, "type"),
        (Facts::SIZE, "size"),
        (Facts::MODIFY, "modify"),
        (Facts::PERM, "perm"),
        (Facts::UNIQUE, "unique"),
    ];

    /// `true` if every fact of `other` is in `self`.
    #[must_use]
    pub const fn contains(self, other: Facts) -> bool {
        self.0 & other.0 == other.0
    }

    /// The facts in `self` or in `other`.
    #[must_use]
    pub const fn union(self, other: Facts) -> Facts {
        Facts(self.0 | other.0)
    }

    /// The facts in both `self` and `other`.
    #[must_use]
    pub const fn intersection(self, other: Facts) -> Facts {
        Facts(self.0 & other.0)
    }

    /// `true` for the empty set.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Reads the fact list of `OPTS MLST` (`type;size;`, §7.9): names are
    /// case-insensitive, spaces around them and empty items are skipped,
    /// unknown names are ignored; an empty list is the empty set.
    #[must_use]
    pub fn parse_list(list: &str) -> Facts {
        list.split(';')
            .map(str::trim)
            .filter_map(|name| {
                Self::NAMED
                    .iter()
                    .find(|(_, known)| known.eq_ignore_ascii_case(name))
                    .map(|(fact, _)| *fact)
            })
            .fold(Facts::NONE, Facts::union)
    }

    /// The fact list of the `FEAT` line (RFC 3659 §7.8): every fact of
    /// `self` (those the server offers), each marked `*` when it is in
    /// `selected`: `type*;size*;modify;perm*;`.
    #[must_use]
    pub fn feat_list(self, selected: Facts) -> String {
        let mut list = String::with_capacity(40);
        for (fact, name) in Self::NAMED {
            if self.contains(fact) {
                list.push_str(name);
                if selected.contains(fact) {
                    list.push('*');
                }
                list.push(';');
            }
        }
        list
    }
}

impl fmt::Display for Facts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (fact, name) in Self::NAMED {
            if self.contains(fact) {
                write!(f, "{name};")?;
            }
        }
        Ok(())
    }
}

/// The kind of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (rendered with type `l` in LIST; as `type=file` in
    /// MLSx, since the server serves the link target — pass [`EntryKind::Dir`]
    /// for a link to a directory).
    Symlink,
}

/// One directory entry, as the caller knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListEntry<'a> {
    /// The name (for MLST: the full path).
    pub name: &'a str,
    /// File, directory or symlink.
    pub kind: EntryKind,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, if known.
    pub modified: Option<SystemTime>,
    /// Unix permission bits (`0o755`); `None` renders `0o644` for files,
    /// `0o755` for directories and `0o777` for symlinks.
    pub mode: Option<u32>,
    /// MLSx `unique` fact value, if known.
    pub unique: Option<&'a str>,
    /// MLSx `perm` fact value computed by the caller (`"adfrw"`, `"elcmp"`).
    pub perm: &'a str,
}

/// Month abbreviations as `ls` prints them in the C locale.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Half a Gregorian year, GNU ls's "six months" for the recent-file format.
const SIX_MONTHS: Duration = Duration::from_secs(31_556_952 / 2);
/// How far in the future a time may lie and still count as recent.
const ONE_HOUR: Duration = Duration::from_secs(3600);
/// 0000-01-01T00:00:00Z: earliest time rendered (earlier times are clamped).
const MIN_UNIX: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z: latest time rendered (later times are clamped).
const MAX_UNIX: i64 = 253_402_300_799;

/// Writes one `ls -l` line as produced by /bin/ls and vsftpd:
///
/// `drwxr-xr-x    1 ftp      ftp          4096 Jan 02 15:04 name\r\n`
///
/// Type char and 9 permission chars, link count 1, owner and group `ftp`,
/// size right-aligned in 8 columns (wider sizes widen the column), then the
/// date: `Mon DD HH:MM` when the time lies within six months before `now`
/// or at most one hour after it, else `Mon DD  YYYY` (two spaces before the
/// year). Dates are UTC; an unknown time renders as the Unix epoch.
/// Symlinks render with type `l` and just the name (no ` -> target`).
pub fn list_line(entry: &ListEntry<'_>, now: SystemTime, out: &mut Vec<u8>) {
    let (type_char, default_mode) = match entry.kind {
        EntryKind::File => ('-', 0o644),
        EntryKind::Dir => ('d', 0o755),
        EntryKind::Symlink => ('l', 0o777),
    };
    let mode = entry.mode.unwrap_or(default_mode);
    let mut perms = String::with_capacity(10);
    perms.push(type_char);
    for (bit, c) in [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ] {
        perms.push(if mode & bit != 0 { c } else { '-' });
    }
    let modified = entry.modified.unwrap_or(SystemTime::UNIX_EPOCH);
    let dt = utc(modified);
    let month = MONTHS[usize::from(u8::from(dt.month()) - 1)];
    let recent = is_recent(modified, now);
    let when = if recent {
        format!("{month} {:02} {:02}:{:02}", dt.day(), dt.hour(), dt.minute())
    } else {
        format!("{month} {:02}  {:04}", dt.day(), dt.year())
    };
    let line = format!("{perms} {:>4} {:<8} {:<8} {:>8} {when} ", 1, "ftp", "ftp", entry.size);
    out.extend_from_slice(line.as_bytes());
    push_name(entry.name, out);
    out.extend_from_slice(b"\r\n");
}

/// Writes one NLST line: the name and CRLF.
pub fn nlst_line(name: &str, out: &mut Vec<u8>) {
    push_name(name, out);
    out.extend_from_slice(b"\r\n");
}

/// Writes one MLSD line: the RFC 3659 facts of `facts`, a space, the name,
/// CRLF:
///
/// `type=file;size=12;modify=20240102150405;perm=rw;unique=abc; name\r\n`
///
/// `type` is `file` or `dir` (`cdir`/`pdir` are not produced); `size` is
/// written for files only; `modify` is omitted when the time is unknown;
/// `perm` is always written (possibly empty); `unique` only when known. A
/// fact not in `facts` is never written; with [`Facts::NONE`] the line is
/// ` name\r\n`.
pub fn mlsd_line(entry: &ListEntry<'_>, facts: Facts, out: &mut Vec<u8>) {
    push_facts(entry, facts, out);
    out.push(b' ');
    push_name(entry.name, out);
    out.extend_from_slice(b"\r\n");
}

/// Writes one MLST line: a leading space, the facts of `facts`, a space, the
/// path in [`ListEntry::name`] and CRLF, i.e. the `SP entry CRLF` part of
/// the RFC 3659 MLST reply.
pub fn mlst_line(entry: &ListEntry<'_>, facts: Facts, out: &mut Vec<u8>) {
    out.push(b' ');
    mlsd_line(entry, facts, out);
}

/// The MDTM reply value `YYYYMMDDHHMMSS` (UTC).
#[must_use]
pub fn mdtm_value(t: SystemTime) -> String {
    let dt = utc(t);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// Reads an RFC 3659 `time-val`, `YYYYMMDDHHMMSS[.sss]` in UTC (MFMT, MFF):
/// the inverse of [`mdtm_value`], with the fraction kept to the millisecond.
#[must_use]
pub fn parse_time_val(text: &str) -> Option<SystemTime> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if fraction.len() > 9
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (text.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| whole[range].parse::<u16>().ok();
    let month = time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::from(num(0..4)?), month, u8::try_from(num(6..8)?).ok()?).ok()?;
    let at = date
        .with_hms(
            u8::try_from(num(8..10)?).ok()?,
            u8::try_from(num(10..12)?).ok()?,
            u8::try_from(num(12..14)?).ok()?,
        )
        .ok()?
        .assume_utc();
    let secs = u64::try_from(at.unix_timestamp()).ok()?;
    let nanos = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse::<u32>().ok()?
    };
    Some(SystemTime::UNIX_EPOCH + std::time::Duration::new(secs, nanos))
}

/// Writes the selected facts, each terminated by `;`.
fn push_facts(entry: &ListEntry<'_>, selected: Facts, out: &mut Vec<u8>) {
    let mut facts = String::with_capacity(96);
    if selected.contains(Facts::TYPE) {
        facts.push_str(match entry.kind {
            EntryKind::Dir => "type=dir;",
            EntryKind::File | EntryKind::Symlink => "type=file;",
        });
    }
    if selected.contains(Facts::SIZE) && entry.kind != EntryKind::Dir {
        facts.push_str(&format!("size={};", entry.size));
    }
    if let Some(t) = entry.modified.filter(|_| selected.contains(Facts::MODIFY)) {
        facts.push_str(&format!("modify={};", mdtm_value(t)));
    }
    if selected.contains(Facts::PERM) {
        facts.push_str("perm=");
        facts.push_str(entry.perm);
        facts.push(';');
    }
    if let Some(unique) = entry.unique.filter(|_| selected.contains(Facts::UNIQUE)) {
        facts.push_str("unique=");
        facts.push_str(unique);
        facts.push(';');
    }
    // Fact values come from the caller, but keep the line intact regardless.
    push_name(&facts, out);
}

/// Writes a name verbatim, with CR and LF replaced by `?`.
fn push_name(name: &str, out: &mut Vec<u8>) {
    out.extend(name.bytes().map(|b| if b == b'\r' || b == b'\n' { b'?' } else { b }));
}

/// `true` if `t` lies within six months before `now` or at most one hour
/// after it.
fn is_recent(t: SystemTime, now: SystemTime) -> bool {
    let after_floor = now.checked_sub(SIX_MONTHS).is_none_or(|floor| t >= floor);
    let before_ceiling = now.checked_add(ONE_HOUR).is_none_or(|ceiling| t <= ceiling);
    after_floor && before_ceiling
}

/// Converts to a UTC date-time, clamping to years 0000..=9999 so that any
/// file system time renders with a four-digit year and nothing panics.
fn utc(t: SystemTime) -> OffsetDateTime {
    let secs = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let before = e.duration();
            // Round towards the past so 0.5 s before the epoch is 23:59:59.
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            let extra = i64::from(before.subsec_nanos() > 0);
            whole.saturating_add(extra).saturating_neg()
        }
    };
    OffsetDateTime::from_unix_timestamp(secs.clamp(MIN_UNIX, MAX_UNIX)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
