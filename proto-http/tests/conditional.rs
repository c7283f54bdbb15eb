//! Conditional requests: evaluation order, If-Range, ETags, HTTP dates.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, Method};
use proto_http::conditional::{
    Precondition, Validators, evaluate_preconditions, http_date, if_range_allows, strong_etag,
};

/// 1994-11-06T08:49:37Z, the RFC's example date.
const T: u64 = 784_111_777;
const T_DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const EARLIER: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
const LATER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";

fn current() -> Validators {
    Validators {
        etag: "\"abc\"".to_owned(),
        // Sub-second part: comparisons happen at whole seconds.
        last_modified: UNIX_EPOCH + Duration::from_millis(T * 1000 + 700),
    }
}

/// Header name/value pairs of one test case.
type Pairs<'a> = &'a [(&'static str, &'a str)];

fn headers(pairs: Pairs<'_>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

#[test]
fn evaluation_order_table() {
    use Precondition::{NotModified as N304, PreconditionFailed as P412, Proceed as Go};
    let (get, head, put, delete) = (Method::GET, Method::HEAD, Method::PUT, Method::DELETE);
    #[rustfmt::skip]
    let cases: &[(&Method, Pairs<'_>, Precondition)] = &[
        (&get, &[], Go),
        // If-Match: strong comparison, "*" matches an existing representation.
        (&put, &[("if-match", "\"abc\"")], Go),
        (&put, &[("if-match", "\"x\", \"abc\"")], Go),
        (&put, &[("if-match", "*")], Go),
        (&put, &[("if-match", "\"x\"")], P412),
        (&put, &[("if-match", "W/\"abc\"")], P412),
        (&put, &[("if-match", "garbage")], P412),
        (&put, &[("if-match", "\"x\""), ("if-match", "\"abc\"")], Go),
        (&get, &[("if-match", "\"x\"")], P412),
        // If-Unmodified-Since: only without If-Match.
        (&put, &[("if-unmodified-since", T_DATE)], Go),
        (&put, &[("if-unmodified-since", LATER)], Go),
        (&put, &[("if-unmodified-since", EARLIER)], P412),
        (&put, &[("if-unmodified-since", "not a date")], Go),
        (&put, &[("if-unmodified-since", EARLIER), ("if-unmodified-since", EARLIER)], Go),
        (&put, &[("if-match", "\"abc\""), ("if-unmodified-since", EARLIER)], Go),
        (&put, &[("if-match", "\"x\""), ("if-unmodified-since", LATER)], P412),
        // If-None-Match: weak comparison; 304 for GET/HEAD, 412 otherwise.
        (&get, &[("if-none-match", "\"abc\"")], N304),
        (&head, &[("if-none-match", "W/\"abc\"")], N304),
        (&get, &[("if-none-match", "\"x\", W/\"abc\"")], N304),
        (&get, &[("if-none-match", "*")], N304),
        (&get, &[("if-none-match", "\"x\"")], Go),
        (&get, &[("if-none-match", "garbage")], Go),
        (&put, &[("if-none-match", "*")], P412),
        (&delete, &[("if-none-match", "\"abc\"")], P412),
        (&put, &[("if-none-match", "\"x\"")], Go),
        // If-Match is evaluated before If-None-Match.
        (&get, &[("if-match", "\"x\""), ("if-none-match", "\"abc\"")], P412),
        (&get, &[("if-match", "\"abc\""), ("if-none-match", "\"abc\"")], N304),
        (&get, &[("if-unmodified-since", EARLIER), ("if-none-match", "\"x\"")], P412),
        // If-Modified-Since: only GET/HEAD, only without If-None-Match.
        (&get, &[("if-modified-since", T_DATE)], N304),
        (&head, &[("if-modified-since", LATER)], N304),
        (&get, &[("if-modified-since", EARLIER)], Go),
        (&get, &[("if-modified-since", "yesterday")], Go),
        (&get, &[("if-modified-since", T_DATE), ("if-modified-since", T_DATE)], Go),
        (&put, &[("if-modified-since", T_DATE)], Go),
        (&get, &[("if-none-match", "\"x\""), ("if-modified-since", T_DATE)], Go),
        (&get, &[("if-none-match", "\"abc\""), ("if-modified-since", EARLIER)], N304),
        (&get, &[("if-unmodified-since", EARLIER), ("if-modified-since", T_DATE)], P412),
        (&get, &[("if-match", "*"), ("if-modified-since", T_DATE)], N304),
        // Obsolete date formats are accepted.
        (&get, &[("if-modified-since", "Sunday, 06-Nov-94 08:49:37 GMT")], N304),
        (&get, &[("if-modified-since", "Sun Nov  6 08:49:37 1994")], N304),
    ];
    let cur = current();
    for (method, pairs, want) in cases {
        let got = evaluate_preconditions(method, &headers(pairs), Some(&cur));
        assert_eq!(got, *want, "{method} {pairs:?}");
    }
}

#[test]
fn missing_target() {
    use Precondition::{PreconditionFailed as P412, Proceed as Go};
    #[rustfmt::skip]
    let cases: &[(Method, Pairs<'_>, Precondition)] = &[
        (Method::PUT, &[("if-match", "*")], P412),
        (Method::PUT, &[("if-match", "\"abc\"")], P412),
        (Method::PUT, &[("if-none-match", "*")], Go),
        (Method::GET, &[("if-none-match", "*")], Go),
        (Method::GET, &[("if-none-match", "\"abc\"")], Go),
        (Method::PUT, &[("if-unmodified-since", EARLIER)], Go),
        (Method::GET, &[("if-modified-since", LATER)], Go),
    ];
    for (method, pairs, want) in cases {
        let got = evaluate_preconditions(method, &headers(pairs), None);
        assert_eq!(got, *want, "{method} {pairs:?}");
    }
}

#[test]
fn if_range_table() {
    let cases: &[(Pairs<'_>, bool)] = &[
        (&[], true),
        (&[("if-range", "\"abc\"")], true),
        (&[("if-range", " \"abc\" ")], true),
        (&[("if-range", "\"abd\"")], false),
        (&[("if-range", "W/\"abc\"")], false),
        (&[("if-range", "\"abc")], false),
        (&[("if-range", T_DATE)], true),
        (&[("if-range", "Sunday, 06-Nov-94 08:49:37 GMT")], true),
        (&[("if-range", EARLIER)], false),
        (&[("if-range", LATER)], false),
        (&[("if-range", "garbage")], false),
        (&[("if-range", "\"abc\""), ("if-range", "\"abc\"")], false),
    ];
    let cur = current();
    for (pairs, want) in cases {
        assert_eq!(if_range_allows(&headers(pairs), &cur), *want, "{pairs:?}");
    }
}

#[test]
fn if_range_never_matches_a_weak_current_tag() {
    let cur = Validators {
        etag: "W/\"abc\"".to_owned(),
        last_modified: UNIX_EPOCH,
    };
    assert!(!if_range_allows(&headers(&[("if-range", "\"abc\"")]), &cur));
}

#[test]
fn strong_etags() {
    let t = UNIX_EPOCH + Duration::new(1, 5);
    assert_eq!(strong_etag(0x3e8, t, None), "\"3e8-3b9aca05\"");
    assert_eq!(strong_etag(0x3e8, t, Some(0xff)), "\"3e8-3b9aca05-ff\"");
    assert_eq!(strong_etag(0, UNIX_EPOCH, None), "\"0-0\"");
    assert_eq!(strong_etag(1, UNIX_EPOCH - Duration::from_nanos(16), None), "\"1-n10\"");
    assert_eq!(strong_etag(7, t, Some(1)), strong_etag(7, t, Some(1)));
    assert_ne!(
        strong_etag(7, t, None),
        strong_etag(7, t + Duration::from_nanos(1), None)
    );
    assert_ne!(strong_etag(7, t, None), strong_etag(8, t, None));
    // Usable as a header value and as its own If-Match.
    let tag = strong_etag(u64::MAX, UNIX_EPOCH + Duration::from_secs(1 << 62), Some(u64::MAX));
    HeaderValue::from_str(&tag).unwrap();
    let cur = Validators {
        etag: tag.clone(),
        last_modified: UNIX_EPOCH,
    };
    let got = evaluate_preconditions(&Method::PUT, &headers(&[("if-match", &tag)]), Some(&cur));
    assert_eq!(got, Precondition::Proceed);
}

#[test]
fn http_dates() {
    assert_eq!(http_date(UNIX_EPOCH + Duration::from_secs(T)), T_DATE);
    assert_eq!(http_date(current().last_modified), T_DATE);
    assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    // Out-of-range times are clamped instead of panicking.
    assert_eq!(
        http_date(UNIX_EPOCH - Duration::from_secs(5)),
        "Thu, 01 Jan 1970 00:00:00 GMT"
    );
    assert_eq!(
        http_date(UNIX_EPOCH + Duration::from_secs(400_000_000_000)),
        "Fri, 31 Dec 9999 23:59:59 GMT"
    );
}
