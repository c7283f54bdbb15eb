//! Conditional requests (RFC 9110 §13): `If-Match`, `If-Unmodified-Since`,
//! `If-None-Match`, `If-Modified-Since` and `If-Range`, plus the validators
//! the server sends (`ETag`, `Last-Modified`).
//!
//! Dates are compared at whole-second resolution, because that is all an
//! HTTP-date carries. No clock is read, so the checks that need "now"
//! (RFC 9110 §13.1.3 ignores an `If-Modified-Since` date later than the
//! server's current time; §13.1.5 wants a `Last-Modified` used by `If-Range`
//! to be "strong") are left to the caller.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{HeaderName, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, Method};

use crate::etag::{self, EntityTag};
use crate::timefmt::unix_seconds;

/// The current validators of an existing representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// Its strong entity-tag, quoted, e.g. `"\"3e8-17a2b\""` (see
    /// [`strong_etag`]).
    pub etag: String,
    /// Its modification time (sent as `Last-Modified`, see [`http_date`]).
    pub last_modified: SystemTime,
}

/// The result of evaluating a request's preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// All preconditions hold (or there were none): process the request.
    Proceed,
    /// Answer `304 Not Modified` (only for `GET` and `HEAD`).
    NotModified,
    /// Answer `412 Precondition Failed`.
    PreconditionFailed,
}

/// Evaluates the preconditions of a request in the order of RFC 9110
/// §13.2.2.
///
/// `current` holds the validators of the target's current representation,
/// or `None` when the target does not exist.
///
/// 1. "When recipient is the origin server and If-Match is present, evaluate
///    the If-Match precondition: if true, continue to step 3; if false,
///    respond 412". `*` is true when a representation exists; tags use the
///    strong comparison (§13.1.1). A malformed value matches nothing.
/// 2. "When recipient is the origin server, If-Match is not present, and
///    If-Unmodified-Since is present, evaluate the If-Unmodified-Since
///    precondition: if true, continue to step 3; if false, respond 412".
///    False when the representation was modified after the date (§13.1.4).
///    Ignored if the value is not a single valid HTTP-date, or when the
///    target does not exist ("does not have a modification date").
/// 3. "When If-None-Match is present, evaluate the If-None-Match
///    precondition: if true, continue to step 5; if false for GET/HEAD,
///    respond 304; if false for other methods, respond 412". `*` is false
///    when a representation exists; tags use the weak comparison (§13.1.2).
/// 4. "When the method is GET or HEAD, If-None-Match is not present, and
///    If-Modified-Since is present, evaluate the If-Modified-Since
///    precondition: if true, continue to step 5; if false, respond 304".
///    False when the representation was not modified since the date
///    (§13.1.3). Ignored as in step 2.
///
/// Step 5 (`If-Range`) is [`if_range_allows`]. The caller must not apply
/// preconditions when the response without them would be neither 2xx nor
/// 412 (§13.2.1), e.g. a 404 for a `GET` without `If-Match`.
pub fn evaluate_preconditions(method: &Method, headers: &HeaderMap, current: Option<&Validators>) -> Precondition {
    let modified = current.and_then(|c| unix_seconds(c.last_modified));

    // Step 1 / step 2.
    if headers.contains_key(IF_MATCH) {
        if !list_matches(headers, IF_MATCH, current, |a, b| a.strong_eq(b)) {
            return Precondition::PreconditionFailed;
        }
    } else if let (Some(date), Some(modified)) = (single_date(headers, IF_UNMODIFIED_SINCE), modified)
        && modified > date
    {
        return Precondition::PreconditionFailed;
    }

    let safe = method == Method::GET || method == Method::HEAD;
    // Step 3 / step 4.
    if headers.contains_key(IF_NONE_MATCH) {
        if list_matches(headers, IF_NONE_MATCH, current, |a, b| a.weak_eq(b)) {
            return if safe {
                Precondition::NotModified
            } else {
                Precondition::PreconditionFailed
            };
        }
    } else if safe
        && let (Some(date), Some(modified)) = (single_date(headers, IF_MODIFIED_SINCE), modified)
        && modified <= date
    {
        return Precondition::NotModified;
    }
    Precondition::Proceed
}

/// Whether any value of the `name` list header matches the current
/// representation: `*` matches when it exists, a tag when `eq` holds.
fn list_matches(
    headers: &HeaderMap,
    name: HeaderName,
    current: Option<&Validators>,
    eq: fn(&EntityTag<'_>, &EntityTag<'_>) -> bool,
) -> bool {
    let Some(current) = current else {
        return false;
    };
    let ours = etag::parse(current.etag.as_bytes());
    headers.get_all(name).iter().any(|value| {
        let value = value.as_bytes();
        if etag::is_star(value) {
            return true;
        }
        match (etag::parse_list(value), &ours) {
            (Some(tags), Some(ours)) => tags.iter().any(|tag| eq(tag, ours)),
            _ => false,
        }
    })
}

/// The header's value as Unix seconds, if it is present exactly once and
/// is a valid HTTP-date (RFC 9110 §13.1.3/§13.1.4: "A recipient MUST ignore
/// the If-Modified-Since header field if the received field value is not a
/// valid HTTP-date, the field value has more than one member").
fn single_date(headers: &HeaderMap, name: HeaderName) -> Option<i64> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let date = httpdate::parse_http_date(value.to_str().ok()?).ok()?;
    unix_seconds(date)
}

/// Whether the `Range` header should be honoured, per `If-Range`
/// (RFC 9110 §13.1.5).
///
/// True when there is no `If-Range`. Otherwise: "If the validator given in
/// the If-Range header field matches the current validator for the selected
/// representation of the target resource, then the server SHOULD process the
/// Range header field as requested. If the validator does not match, then
/// the server MUST ignore the Range header field." An entity-tag matches
/// only by strong comparison ("A valid entity-tag can be distinguished from
/// a valid HTTP-date by examining the first three characters for a DQUOTE";
/// a weak tag never matches), an HTTP-date only if it is exactly our
/// `Last-Modified` (at whole-second resolution). Anything else, including a
/// malformed or repeated value, does not match.
pub fn if_range_allows(headers: &HeaderMap, current: &Validators) -> bool {
    let mut values = headers.get_all(IF_RANGE).iter();
    let Some(value) = values.next() else {
        return true;
    };
    if values.next().is_some() {
        return false;
    }
    let bytes = value.as_bytes().trim_ascii();
    if bytes.starts_with(b"\"") || bytes.starts_with(b"W/") {
        return match (etag::parse(bytes), etag::parse(current.etag.as_bytes())) {
            (Some(theirs), Some(ours)) => theirs.strong_eq(&ours),
            _ => false,
        };
    }
    let Some(date) = value.to_str().ok().and_then(|s| httpdate::parse_http_date(s).ok()) else {
        return false;
    };
    match (unix_seconds(date), unix_seconds(current.last_modified)) {
        (Some(theirs), Some(ours)) => theirs == ours,
        _ => false,
    }
}

/// A strong entity-tag (RFC 9110 §8.8.3) derived from a file's size,
/// modification time and an optional extra discriminator (e.g. the inode
/// number): `"<hex size>-<hex mtime nanos>"` or
/// `"<hex size>-<hex mtime nanos>-<hex extra>"`, quotes included.
///
/// The same inputs always give the same tag. Nanosecond resolution makes a
/// same-size rewrite within one second change the tag on file systems that
/// record it. Times before 1970 are written as `n<hex nanos before>`.
pub fn strong_etag(size: u64, modified: SystemTime, extra: Option<u64>) -> String {
    let mtime = match modified.duration_since(UNIX_EPOCH) {
        Ok(d) => format!("{:x}", d.as_nanos()),
        Err(e) => format!("n{:x}", e.duration().as_nanos()),
    };
    match extra {
        Some(extra) => format!("\"{size:x}-{mtime}-{extra:x}\""),
        None => format!("\"{size:x}-{mtime}\""),
    }
}

/// Seconds from the epoch to 9999-12-31T23:59:59Z, the last instant an
/// IMF-fixdate can express.
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// Formats a time as an IMF-fixdate (RFC 9110 §5.6.7), e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`, for `Last-Modified` and `Date`.
///
/// Sub-second precision is dropped. Times before 1970 are clamped to the
/// epoch and times after year 9999 to its last second, so this never
/// panics.
pub fn http_date(t: SystemTime) -> String {
    let max = UNIX_EPOCH + Duration::from_secs(MAX_HTTP_DATE_SECS);
    let clamped = if t < UNIX_EPOCH {
        UNIX_EPOCH
    } else if t > max {
        max
    } else {
        t
    };
    httpdate::fmt_http_date(clamped)
}
