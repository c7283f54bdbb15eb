//! Property tests of the WebDAV class 2 parsers: the `If` header and the
//! `LOCK` body never panic on arbitrary input; a well-formed `If` header
//! parses back to the lists it was written from; timeouts stay in bounds.
#![allow(clippy::unwrap_used, reason = "tests panic on failure by design")]

use proptest::prelude::*;
use proto_http::lock::{Condition, IfHeader, IfList, Test, parse_lockinfo, parse_timeout};

/// One condition: a token or an entity tag, maybe negated.
fn condition() -> impl Strategy<Value = Condition> {
    let token = "(opaquelocktoken:[0-9a-f-]{1,36}|DAV:no-lock|urn:x:[a-z]{1,8})".prop_map(Test::Token);
    let etag = "(W/)?\"[a-z0-9]{0,12}\"".prop_map(Test::ETag);
    (any::<bool>(), prop_oneof![token, etag]).prop_map(|(not, test)| Condition { not, test })
}

/// Lists, all tagged or all untagged.
fn lists() -> impl Strategy<Value = Vec<IfList>> {
    let conditions = proptest::collection::vec(condition(), 1..5);
    (
        any::<bool>(),
        proptest::collection::vec(("/[a-z]{1,8}", conditions), 1..6),
    )
        .prop_map(|(tagged, lists)| {
            lists
                .into_iter()
                .map(|(tag, conditions)| IfList {
                    tag: tagged.then_some(tag),
                    conditions,
                })
                .collect()
        })
}

/// The header text of `lists`, with a tag written before each list.
fn render(lists: &[IfList]) -> String {
    let mut out = String::new();
    for l in lists {
        if let Some(tag) = &l.tag {
            out.push_str(&format!("<{tag}> "));
        }
        out.push('(');
        for c in &l.conditions {
            if c.not {
                out.push_str("Not ");
            }
            match &c.test {
                Test::Token(t) => out.push_str(&format!("<{t}> ")),
                Test::ETag(e) => out.push_str(&format!("[{e}] ")),
            }
        }
        out.push_str(") ");
    }
    out
}

proptest! {
    #[test]
    fn if_header_never_panics(raw in any::<String>()) {
        let _ = IfHeader::default().add(&raw);
    }

    #[test]
    fn if_header_soup_never_panics(raw in "[<>()\\[\\]\" NotW/a-z:]{0,80}") {
        let mut h = IfHeader::default();
        if h.add(&raw).is_ok() {
            prop_assert!(!h.lists.is_empty());
            prop_assert!(h.lists.iter().all(|l| !l.conditions.is_empty()));
        }
    }

    #[test]
    fn if_header_round_trips(lists in lists()) {
        let mut h = IfHeader::default();
        h.add(&render(&lists)).unwrap();
        prop_assert_eq!(h.lists, lists);
    }

    #[test]
    fn lockinfo_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_lockinfo(&body);
    }

    #[test]
    fn timeouts_stay_within_bounds(raw in "[A-Za-z0-9, -]{0,40}", default in 1u64..10_000, max in 1u64..10_000) {
        let t = parse_timeout(Some(&raw), default, max);
        prop_assert!((1..=max).contains(&t) || t == default.min(max));
    }
}
