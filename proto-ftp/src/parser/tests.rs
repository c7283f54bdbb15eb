//! Unit tests for the verb table of [`parse`](super::parse).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected values")]

use super::{ParseError, VERBS, canonical, parse, parse_site_chmod};

/// A valid argument for each canonical verb that needs a specific one.
fn sample_arg(verb: &str) -> &'static str {
    match verb {
        "TYPE" => "I",
        "MODE" | "STRU" => "S",
        "PORT" => "127,0,0,1,4,1",
        "EPRT" => "|1|127.0.0.1|1025|",
        "EPSV" => "ALL",
        "REST" | "PBSZ" => "0",
        "PROT" => "P",
        "MFMT" => "20240102150405 x",
        "MFF" => "modify=20240102150405; x",
        _ => "x",
    }
}

#[test]
fn every_table_entry_dispatches_to_its_canonical_verb() {
    for (alias, canon) in VERBS {
        for spelled in [alias.to_string(), alias.to_ascii_lowercase()] {
            let line = format!("{spelled} {}", sample_arg(canon));
            let cmd = parse(line.as_bytes()).unwrap();
            assert_eq!(cmd.verb(), *canon, "{line}");
        }
    }
}

#[test]
fn canonical_is_exact_upper_case() {
    assert_eq!(canonical("XPWD"), Some("PWD"));
    assert_eq!(canonical("xpwd"), None);
    assert_eq!(canonical("NOPE"), None);
}

#[test]
fn site_chmod_takes_octal_bits_and_a_path_with_spaces() {
    assert_eq!(parse_site_chmod("644 a file.txt"), Ok((0o644, "a file.txt")));
    assert_eq!(parse_site_chmod("0755  dir"), Ok((0o755, "dir")));
    assert_eq!(parse_site_chmod("0 x"), Ok((0, "x")));
    for bad in ["888 x", "4755 x", "7777 x", "-1 x", "64a x", "12345 x", " x y"] {
        let err = parse_site_chmod(bad).unwrap_err();
        assert_eq!(err.reply_code(), 501, "{bad:?}");
    }
    for missing in ["644", "644 ", ""] {
        assert!(
            matches!(parse_site_chmod(missing), Err(ParseError::MissingArgument { .. })),
            "{missing:?}"
        );
    }
}
