//! Unit tests for the verb table of [`parse`](super::parse).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected values")]

use super::{VERBS, canonical, parse};

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
