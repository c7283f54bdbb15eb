//! Property tests: no panic on arbitrary client input, href round trip,
//! range invariants.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

use http::{HeaderMap, HeaderValue, Method};
use proptest::prelude::*;
use proto_http::auth::parse_basic;
use proto_http::conditional::{Validators, evaluate_preconditions, if_range_allows};
use proto_http::listing::{HtmlListing, JsonListing, ListingEntry, wants_json};
use proto_http::path::{decode_request_path, encode_href};
use proto_http::range::{RangeOutcome, evaluate_range};

/// Strings that look a bit like range headers, to reach deeper code paths.
fn range_like() -> impl Strategy<Value = String> {
    proptest::string::string_regex("(bytes|BYTES|x)?=?([0-9]{0,22}-?[0-9]{0,22}[, ]{0,2}){0,6}").unwrap()
}

proptest! {
    #[test]
    fn decode_never_panics(raw in any::<String>(), max in 0usize..300) {
        let _ = decode_request_path(&raw, max);
    }

    #[test]
    fn decode_never_panics_on_percent_soup(raw in "/[%0-9a-fA-FgG/.]{0,40}") {
        if let Ok(d) = decode_request_path(&raw, 4096) {
            prop_assert!(d.path.starts_with('/'));
            prop_assert!(!d.path.bytes().any(|b| b < 0x20 || b == 0x7f));
            prop_assert_eq!(d.trailing_slash, d.path.ends_with('/'));
        }
    }

    #[test]
    fn href_round_trips(rest in "[^\\x00-\\x1f\\x7f]{0,64}") {
        let path = format!("/{rest}");
        let decoded = decode_request_path(&encode_href(&path), 4096).unwrap();
        prop_assert_eq!(&decoded.path, &path);
        prop_assert_eq!(decoded.trailing_slash, path.ends_with('/'));
    }

    #[test]
    fn href_is_attribute_safe(path in any::<String>()) {
        let href = encode_href(&path);
        prop_assert!(href.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~/%".contains(&b)));
    }

    #[test]
    fn range_never_panics(header in any::<String>(), size in any::<u64>(), max in 0usize..20) {
        let _ = evaluate_range(&header, size, max);
    }

    #[test]
    fn range_results_are_sane(header in range_like(), size in prop_oneof![0u64..50, any::<u64>()], max in 1usize..8) {
        if let RangeOutcome::Partial(ranges) = evaluate_range(&header, size, max) {
            prop_assert!(!ranges.is_empty());
            prop_assert!(ranges.len() <= max);
            for (i, r) in ranges.iter().enumerate() {
                prop_assert!(r.start <= r.end && r.end < size);
                for other in &ranges[i + 1..] {
                    // Coalesced: neither overlapping nor adjacent.
                    prop_assert!(r.end.saturating_add(1) < other.start || other.end.saturating_add(1) < r.start);
                }
            }
        }
    }

    #[test]
    fn parse_basic_never_panics(value in proptest::collection::vec(any::<u8>(), 0..5000)) {
        let _ = parse_basic(&value);
    }

    #[test]
    fn parse_basic_never_panics_on_base64ish(token in "[A-Za-z0-9+/=]{0,40}") {
        if let Some(c) = parse_basic(format!("Basic {token}").as_bytes()) {
            prop_assert!(!c.user.contains(':'));
        }
    }

    #[test]
    fn conditionals_never_panic(
        values in proptest::collection::vec(("(if-match|if-none-match|if-modified-since|if-unmodified-since|if-range)", "[ -~]{0,40}"), 0..4),
        exists in any::<bool>(),
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in &values {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.append(name.as_str().parse::<http::HeaderName>().unwrap(), v);
            }
        }
        let current = Validators { etag: "\"abc\"".into(), last_modified: std::time::UNIX_EPOCH };
        let _ = evaluate_preconditions(&Method::GET, &headers, exists.then_some(&current));
        let _ = evaluate_preconditions(&Method::PUT, &headers, exists.then_some(&current));
        let _ = if_range_allows(&headers, &current);
    }

    #[test]
    fn accept_never_panics(value in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_bytes(&value) {
            headers.insert("accept", v);
        }
        let _ = wants_json(&headers);
    }

    #[test]
    fn listings_never_panic_and_json_stays_valid(name in any::<String>(), size in any::<u64>(), secs in any::<i64>()) {
        let modified = if secs >= 0 {
            std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs.unsigned_abs()))
        } else {
            std::time::UNIX_EPOCH.checked_sub(std::time::Duration::from_secs(secs.unsigned_abs()))
        };
        let entry = ListingEntry { name: &name, is_dir: size % 2 == 0, size, modified };
        let html = HtmlListing::new(&name).row(&entry);
        prop_assert!(!html.contains("<script"));
        let mut json = JsonListing::new();
        let out = format!("{}{}{}{}", json.head(), json.row(&entry), json.row(&entry), json.tail());
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        prop_assert_eq!(parsed[0]["name"].as_str().unwrap(), name.as_str());
    }
}
