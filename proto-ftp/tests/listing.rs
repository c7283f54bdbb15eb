//! Exact listing lines: `LIST` (`ls -l`), `NLST`, `MLSD`, `MLST`, `MDTM`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on unexpected values"
)]

use proto_ftp::listing::{
    EntryKind, Facts, ListEntry, list_line, mdtm_value, mlsd_line, mlst_line, nlst_line, parse_time_val,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2024-01-02T15:04:05Z.
const T_2024_01_02: u64 = 1_704_207_845;
/// 2023-03-09T08:07:06Z.
const T_2023_03_09: u64 = 1_678_349_226;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn entry(name: &str, kind: EntryKind, size: u64, modified: Option<SystemTime>) -> ListEntry<'_> {
    ListEntry {
        name,
        kind,
        size,
        modified,
        mode: None,
        unique: None,
        perm: "",
    }
}

fn list(e: &ListEntry<'_>, now: SystemTime) -> String {
    let mut out = Vec::new();
    list_line(e, now, &mut out);
    String::from_utf8(out).unwrap()
}

fn mlsd(e: &ListEntry<'_>) -> String {
    mlsd_with(e, Facts::ALL)
}

fn mlsd_with(e: &ListEntry<'_>, facts: Facts) -> String {
    let mut out = Vec::new();
    mlsd_line(e, facts, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn list_recent_file() {
    let now = at(T_2024_01_02 + 86_400);
    let e = entry("report final.txt", EntryKind::File, 1234, Some(at(T_2024_01_02)));
    assert_eq!(
        list(&e, now),
        "-rw-r--r--    1 ftp      ftp          1234 Jan 02 15:04 report final.txt\r\n"
    );
}

#[test]
fn list_old_file() {
    let now = at(T_2024_01_02);
    let e = entry("old.bin", EntryKind::File, 7, Some(at(T_2023_03_09)));
    assert_eq!(
        list(&e, now),
        "-rw-r--r--    1 ftp      ftp             7 Mar 09  2023 old.bin\r\n"
    );
}

#[test]
fn list_future_file() {
    let now = at(T_2024_01_02);
    // 30 minutes ahead: still recent; two hours ahead: shows the year.
    let soon = entry("a", EntryKind::File, 0, Some(at(T_2024_01_02 + 1800)));
    assert_eq!(
        list(&soon, now),
        "-rw-r--r--    1 ftp      ftp             0 Jan 02 15:34 a\r\n"
    );
    let later = entry("a", EntryKind::File, 0, Some(at(T_2024_01_02 + 7200)));
    assert_eq!(
        list(&later, now),
        "-rw-r--r--    1 ftp      ftp             0 Jan 02  2024 a\r\n"
    );
}

#[test]
fn list_dir_and_symlink_and_mode() {
    let now = at(T_2024_01_02 + 60);
    let d = entry("pub", EntryKind::Dir, 4096, Some(at(T_2024_01_02)));
    assert_eq!(
        list(&d, now),
        "drwxr-xr-x    1 ftp      ftp          4096 Jan 02 15:04 pub\r\n"
    );
    let l = entry("latest", EntryKind::Symlink, 11, Some(at(T_2024_01_02)));
    assert_eq!(
        list(&l, now),
        "lrwxrwxrwx    1 ftp      ftp            11 Jan 02 15:04 latest\r\n"
    );
    let mut x = entry("run.sh", EntryKind::File, 123_456_789_012, Some(at(T_2024_01_02)));
    x.mode = Some(0o4750);
    assert_eq!(
        list(&x, now),
        "-rwxr-x---    1 ftp      ftp      123456789012 Jan 02 15:04 run.sh\r\n"
    );
}

#[test]
fn list_unknown_time_and_hostile_name() {
    let e = entry("a\r\nb", EntryKind::File, 1, None);
    assert_eq!(
        list(&e, at(T_2024_01_02)),
        "-rw-r--r--    1 ftp      ftp             1 Jan 01  1970 a??b\r\n"
    );
}

#[test]
fn extreme_times_do_not_panic() {
    let far = UNIX_EPOCH + Duration::from_secs(u64::MAX / 4);
    let e = entry("f", EntryKind::File, 1, Some(far));
    assert_eq!(
        list(&e, at(T_2024_01_02)),
        "-rw-r--r--    1 ftp      ftp             1 Dec 31  9999 f\r\n"
    );
    assert_eq!(mdtm_value(far), "99991231235959");
    if let Some(before) = UNIX_EPOCH.checked_sub(Duration::from_millis(500)) {
        assert_eq!(mdtm_value(before), "19691231235959");
    }
    // `now` far in the future or past must not panic either.
    let _ = list(&e, far);
    let _ = list(&e, UNIX_EPOCH);
}

#[test]
fn nlst() {
    let mut out = Vec::new();
    nlst_line("a b.txt", &mut out);
    nlst_line("x\ny", &mut out);
    assert_eq!(out, b"a b.txt\r\nx?y\r\n");
}

#[test]
fn mlsd_lines() {
    let mut f = entry("name", EntryKind::File, 12, Some(at(T_2024_01_02)));
    f.perm = "rw";
    f.unique = Some("abc");
    assert_eq!(
        mlsd(&f),
        "type=file;size=12;modify=20240102150405;perm=rw;unique=abc; name\r\n"
    );
    let mut d = entry("my dir", EntryKind::Dir, 4096, Some(at(T_2023_03_09)));
    d.perm = "elcmp";
    assert_eq!(mlsd(&d), "type=dir;modify=20230309080706;perm=elcmp; my dir\r\n");
    let mut n = entry("x", EntryKind::File, 0, None);
    n.perm = "r";
    assert_eq!(mlsd(&n), "type=file;size=0;perm=r; x\r\n");
    let l = entry("ln", EntryKind::Symlink, 3, None);
    assert_eq!(mlsd(&l), "type=file;size=3;perm=; ln\r\n");
}

#[test]
fn mlst() {
    let mut f = entry("/pub/a.txt", EntryKind::File, 5, Some(at(T_2024_01_02)));
    f.perm = "r";
    let mut out = Vec::new();
    mlst_line(&f, Facts::ALL, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        " type=file;size=5;modify=20240102150405;perm=r; /pub/a.txt\r\n"
    );
    // No fact selected: `SP entry` with `entry = SP pathname` (RFC 3659 §7.2).
    let mut out = Vec::new();
    mlst_line(&f, Facts::NONE, &mut out);
    assert_eq!(String::from_utf8(out).unwrap(), "  /pub/a.txt\r\n");
}

/// RFC 3659 §7.9: only the facts selected with `OPTS MLST` are written.
#[test]
fn mlsd_lines_carry_only_the_selected_facts() {
    let mut f = entry("name", EntryKind::File, 12, Some(at(T_2024_01_02)));
    f.perm = "rw";
    f.unique = Some("abc");
    assert_eq!(
        mlsd_with(&f, Facts::TYPE.union(Facts::SIZE)),
        "type=file;size=12; name\r\n"
    );
    assert_eq!(mlsd_with(&f, Facts::MODIFY), "modify=20240102150405; name\r\n");
    assert_eq!(
        mlsd_with(&f, Facts::PERM.union(Facts::UNIQUE)),
        "perm=rw;unique=abc; name\r\n"
    );
    assert_eq!(mlsd_with(&f, Facts::NONE), " name\r\n");
    // A directory has no size fact even when size is selected.
    let d = entry("d", EntryKind::Dir, 4096, None);
    assert_eq!(mlsd_with(&d, Facts::SIZE), " d\r\n");
    assert_eq!(mlsd_with(&d, Facts::TYPE.union(Facts::SIZE)), "type=dir; d\r\n");
}

#[test]
fn opts_mlst_fact_lists_parse_and_render() {
    assert_eq!(Facts::parse_list("type;size;"), Facts::TYPE.union(Facts::SIZE));
    // Case-insensitive, order-free, a missing final `;` and spaces tolerated.
    assert_eq!(Facts::parse_list("Size; TYPE"), Facts::TYPE.union(Facts::SIZE));
    // Unknown facts are ignored; nothing known selects nothing.
    assert_eq!(Facts::parse_list("type;media-type;UNIX.mode;"), Facts::TYPE);
    assert_eq!(Facts::parse_list("nosuch;"), Facts::NONE);
    assert_eq!(Facts::parse_list(""), Facts::NONE);
    assert!(Facts::parse_list(";;").is_empty());
    assert_eq!(Facts::parse_list("unique;perm;modify;size;type;"), Facts::ALL);
    // The reply lists the selection in line order.
    assert_eq!(Facts::parse_list("size;type;").to_string(), "type;size;");
    assert_eq!(Facts::NONE.to_string(), "");
    assert_eq!(Facts::ALL.to_string(), "type;size;modify;perm;unique;");
    // FEAT: the offered facts, the selected ones starred.
    let offered = Facts::TYPE.union(Facts::SIZE).union(Facts::MODIFY).union(Facts::PERM);
    assert_eq!(offered.feat_list(Facts::ALL), "type*;size*;modify*;perm*;");
    assert_eq!(offered.feat_list(Facts::SIZE), "type;size*;modify;perm;");
    assert_eq!(offered.feat_list(Facts::NONE), "type;size;modify;perm;");
    assert!(Facts::ALL.contains(Facts::PERM) && !Facts::TYPE.contains(Facts::PERM));
    assert_eq!(Facts::ALL.intersection(Facts::SIZE), Facts::SIZE);
}

#[test]
fn mdtm() {
    assert_eq!(mdtm_value(at(T_2024_01_02)), "20240102150405");
    assert_eq!(mdtm_value(UNIX_EPOCH), "19700101000000");
}

#[test]
fn time_val_reads_what_mdtm_writes() {
    assert_eq!(parse_time_val("20240102150405"), Some(at(T_2024_01_02)));
    assert_eq!(parse_time_val("19700101000000"), Some(UNIX_EPOCH));
    assert_eq!(
        parse_time_val("20240102150405.5"),
        Some(at(T_2024_01_02) + Duration::from_millis(500))
    );
    for bad in [
        "",
        "2024010215040",
        "202401021504051",
        "20240230000000",
        "20240102250000",
        "2024010215040x",
        "20240102150405.",
        "20240102150405.1234567890",
        "-2024010215040",
    ] {
        assert_eq!(parse_time_val(bad), None, "{bad:?}");
    }
}
