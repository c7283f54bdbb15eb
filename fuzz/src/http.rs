//! HTTP surfaces of `proto-http`: request paths and WebDAV `Destination`,
//! `Range`, conditional headers, Basic credentials.

use crate::Input;
use http::header::{HeaderName, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, HeaderValue, Method};
use proto_http::auth::{MAX_AUTHORIZATION_LEN, MAX_PASSWORD_LEN, MAX_USER_LEN};
use proto_http::webdav::{DestinationError, destination_path};
use proto_http::{
    ByteRange, DecodedPath, PathError, Precondition, RangeOutcome, Validators, decode_request_path, encode_href,
    encode_segment, evaluate_preconditions, evaluate_range, http_date, if_range_allows, parse_basic, strong_etag,
};
use std::time::{Duration, UNIX_EPOCH};

// ---------------------------------------------------------------- paths

/// Reference model of `decode_request_path`, written from its documentation:
/// decode once, first problem scanning left to right wins, UTF-8 checked last.
fn model_decode(raw: &str, max_len: usize) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match hex.filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit())) {
                Some(h) => {
                    i += 3;
                    u8::from_str_radix(h, 16).unwrap()
                }
                None => return Err(PathError::BadPercentEncoding),
            }
        } else {
            i += 1;
            bytes[i - 1]
        };
        if b.is_ascii_control() {
            return Err(PathError::ControlCharacter);
        }
        out.push(b);
        if out.len() > max_len {
            return Err(PathError::TooLong);
        }
    }
    String::from_utf8(out).map_err(|_| PathError::InvalidUtf8)
}

/// Request-path decoding, href/segment encoding and `Destination`.
///
/// Input: `[max_len: u16][host length][host]` then the raw path (lossy UTF-8).
///
/// - `decode_request_path` agrees with a model written from its docs (result
///   and error kind); a decoded path starts with `/`, is within `max_len`,
///   holds no control character, and `trailing_slash` says whether it ends in
///   `/`.
/// - `encode_href` output uses only unreserved characters, `/` and `%XX`, and
///   decodes back to the same path (decoding happens exactly once:
///   `encode_href` of an encoded path decodes to the encoded text).
/// - `encode_segment` never emits `/`, and `/` + segment decodes to `/` + name.
/// - `destination_path`: an absolute-path value is returned as is (minus any
///   query/fragment); whatever is returned starts with `/` and is a substring
///   of the header; an absolute URI must name this scheme and host.
pub fn http_path(data: &[u8]) {
    let mut input = Input::new(data);
    let max_len = usize::from(input.u16() % 5000);
    let host_len = usize::from(input.byte() % 32);
    let host = String::from_utf8_lossy(input.take(host_len)).into_owned();
    let raw = String::from_utf8_lossy(input.rest()).into_owned();

    let got = decode_request_path(&raw, max_len);
    let model = model_decode(&raw, max_len);
    assert_eq!(
        got.clone().map(|d| d.path),
        model,
        "decode_request_path vs model for {raw:?}"
    );
    if let Ok(d) = &got {
        check_decoded(d, max_len);
        let href = encode_href(&d.path);
        assert!(
            href.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~/%".contains(&b)),
            "href {href:?} has a reserved character"
        );
        let big = href.len() * 3 + 1;
        assert_eq!(
            decode_request_path(&href, big).as_ref(),
            Ok(d),
            "decode(encode_href) for {href:?}"
        );
        let twice = encode_href(&href);
        assert_eq!(
            decode_request_path(&twice, big * 3).map(|d| d.path),
            Ok(href.clone()),
            "decoded twice"
        );
    }

    // The raw text as a file name.
    let segment = encode_segment(&raw);
    assert!(!segment.contains('/'), "segment {segment:?} contains /");
    let rooted = format!("/{segment}");
    let expected = format!("/{raw}");
    let decoded = decode_request_path(&rooted, usize::MAX);
    if raw.chars().any(|c| c.is_ascii_control()) {
        assert_eq!(decoded, Err(PathError::ControlCharacter));
    } else {
        assert_eq!(decoded.map(|d| d.path), Ok(expected));
    }

    // Destination.
    for scheme in ["http", "https"] {
        let host_opt = (!host.is_empty()).then_some(host.as_str());
        match destination_path(&raw, host_opt, scheme) {
            Ok(p) => {
                assert!(p.starts_with('/'), "destination {p:?} is not absolute");
                assert!(raw.contains(p), "destination {p:?} is not part of {raw:?}");
                assert!(!p.contains(['?', '#']), "query or fragment kept in {p:?}");
                let trimmed = raw.trim();
                if !trimmed.starts_with('/') {
                    let (given, rest) = trimmed.split_once("://").expect("absolute URI");
                    assert!(given.eq_ignore_ascii_case(scheme));
                    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
                    assert!(!authority.contains('@'), "user information accepted");
                    if let Some(h) = host_opt {
                        assert!(
                            authority.eq_ignore_ascii_case(h.trim()),
                            "other host {authority:?} accepted"
                        );
                    }
                }
            }
            Err(DestinationError::Invalid | DestinationError::OtherServer) => {
                assert!(!raw.trim().starts_with('/'), "absolute path {raw:?} refused");
            }
        }
    }
}

fn check_decoded(d: &DecodedPath, max_len: usize) {
    assert!(d.path.starts_with('/'));
    assert!(d.path.len() <= max_len);
    assert!(!d.path.chars().any(|c| c.is_ascii_control()));
    assert_eq!(d.trailing_slash, d.path.ends_with('/'));
}

// ---------------------------------------------------------------- Range

/// One range-spec of the model.
enum Spec {
    Int(u64, Option<u64>),
    Suffix(u64),
}

/// RFC 9110 §14.1.1 grammar, as a reference: `None` means ignore the header.
fn model_specs(header: &str, max_ranges: usize) -> Option<Vec<Spec>> {
    let header = header.trim();
    let eq = header.find('=')?;
    if !header[..eq].eq_ignore_ascii_case("bytes") {
        return None;
    }
    let digits = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Saturating: beyond u64 is beyond any size.
        Some(s.parse::<u64>().unwrap_or(u64::MAX))
    };
    let mut specs = Vec::new();
    for element in header[eq + 1..].split(',') {
        let element = element.trim_matches(|c| c == ' ' || c == '\t');
        if element.is_empty() {
            continue;
        }
        if specs.len() == max_ranges {
            return None;
        }
        let dash = element.find('-')?;
        let (first, last) = (&element[..dash], &element[dash + 1..]);
        specs.push(if first.is_empty() {
            Spec::Suffix(digits(last)?)
        } else {
            let first = digits(first)?;
            match last {
                "" => Spec::Int(first, None),
                l => {
                    let l = digits(l)?;
                    if l < first {
                        return None;
                    }
                    Spec::Int(first, Some(l))
                }
            }
        });
    }
    (!specs.is_empty()).then_some(specs)
}

/// Merges intervals that overlap or touch; sorted by start.
fn union(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (s, e) in ranges {
        match out.last_mut() {
            Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// `Range` evaluation.
///
/// Input: `[size selector][size bytes][max_ranges]` then the header (lossy
/// UTF-8).
///
/// - Same outcome kind as a model written from RFC 9110 §14.1–14.2 (ignore,
///   416, 206), and the 206 ranges cover exactly the bytes the model's
///   satisfiable ranges cover.
/// - Every range is non-empty and inside the representation; there are at
///   most `max_ranges`; no two overlap or touch (they are coalesced).
/// - `Content-Range` text names the range and size.
pub fn http_range(data: &[u8]) {
    let mut input = Input::new(data);
    let size = match input.byte() % 4 {
        0 => u64::from(input.byte() % 16),
        1 => u64::from(input.u16()),
        2 => u64::MAX - u64::from(input.byte()),
        _ => input.u64(),
    };
    let max_ranges = usize::from(input.byte() % 12);
    let header = String::from_utf8_lossy(input.rest()).into_owned();

    let got = evaluate_range(&header, size, max_ranges);
    let expected = match model_specs(&header, max_ranges) {
        None => RangeOutcome::Full,
        Some(specs) => {
            let covered: Vec<(u64, u64)> = specs
                .iter()
                .filter_map(|s| match *s {
                    _ if size == 0 => None,
                    Spec::Int(first, _) if first >= size => None,
                    Spec::Int(first, last) => Some((first, last.unwrap_or(u64::MAX).min(size - 1))),
                    Spec::Suffix(0) => None,
                    Spec::Suffix(n) => Some((size.saturating_sub(n), size - 1)),
                })
                .collect();
            if covered.is_empty() {
                RangeOutcome::Unsatisfiable
            } else {
                RangeOutcome::Partial(
                    union(covered)
                        .into_iter()
                        .map(|(start, end)| ByteRange { start, end })
                        .collect(),
                )
            }
        }
    };
    match (&got, &expected) {
        (RangeOutcome::Partial(ranges), RangeOutcome::Partial(model)) => {
            assert!(!ranges.is_empty() && ranges.len() <= max_ranges);
            for r in ranges {
                assert!(
                    !r.is_empty() && r.start <= r.end && r.end < size,
                    "{r:?} outside {size}"
                );
                assert_eq!(r.content_range(size), format!("bytes {}-{}/{size}", r.start, r.end));
            }
            for (i, a) in ranges.iter().enumerate() {
                for b in &ranges[i + 1..] {
                    let touch = a.start <= b.end.saturating_add(1) && b.start <= a.end.saturating_add(1);
                    assert!(!touch, "{a:?} and {b:?} not coalesced");
                }
            }
            let mut sorted = ranges.clone();
            sorted.sort_by_key(|r| r.start);
            assert_eq!(&sorted, model, "covered bytes differ for {header:?}, size {size}");
        }
        _ => assert_eq!(got, expected, "outcome for {header:?}, size {size}, max {max_ranges}"),
    }
}

// ---------------------------------------------------------------- conditionals

/// A header value the model understands, or raw bytes it does not.
enum Value {
    /// An entity-tag list; tokens: 0 our tag, 1 W/ our tag, 2 another tag,
    /// 3 W/ another tag.
    Tags(Vec<u8>),
    Star,
    /// An HTTP-date this many seconds from our Last-Modified (whole seconds).
    Date(i64),
    Raw,
}

const NAMES: [HeaderName; 5] = [
    IF_MATCH,
    IF_NONE_MATCH,
    IF_MODIFIED_SINCE,
    IF_UNMODIFIED_SINCE,
    IF_RANGE,
];

/// Conditional requests (RFC 9110 §13).
///
/// Input: `[method][exists][size: u16][mtime secs: u64][nanos: u16][count]`
/// then per header `[name][kind][...]`.
///
/// - With only values the model understands (tag lists, `*`, dates), the
///   outcome equals a model of §13.2.2 steps 1–4 over strong (If-Match) and
///   weak (If-None-Match) comparison and whole-second dates, and If-Range
///   equals §13.1.5 (strong comparison only, exact date only, one value).
/// - Whatever the values: no conditional header means `Proceed`;
///   `NotModified` only for GET/HEAD; a missing target gives 412 exactly when
///   If-Match is present; a weak If-Range never allows the range.
pub fn http_conditional(data: &[u8]) {
    let mut input = Input::new(data);
    let method = [Method::GET, Method::HEAD, Method::PUT, Method::DELETE][usize::from(input.byte() % 4)].clone();
    let exists = input.byte() & 1 == 1;
    let size = u64::from(input.u16());
    // Keep Last-Modified inside what an HTTP-date can say (years 1970–9999).
    let secs = 1 + input.u64() % 253_402_300_000;
    let nanos = u32::from(input.u16()) * 15_259;
    let modified = UNIX_EPOCH + Duration::new(secs, nanos);
    let ours = strong_etag(size, modified, None);
    let validators = Validators {
        etag: ours.clone(),
        last_modified: modified,
    };
    let tag = |t: u8| match t % 4 {
        0 => ours.clone(),
        1 => format!("W/{ours}"),
        2 => "\"other\"".to_owned(),
        _ => "W/\"other\"".to_owned(),
    };

    let mut headers = HeaderMap::new();
    let mut values: Vec<(usize, Value)> = Vec::new();
    for _ in 0..input.byte() % 7 {
        let name = usize::from(input.byte() % 5);
        let kind = input.byte();
        let (text, value) = match kind % 6 {
            0 => {
                let n = 1 + input.byte() % 3;
                let tokens: Vec<u8> = (0..n).map(|_| input.byte() % 4).collect();
                let sep = if kind & 0x80 == 0 { ", " } else { " ,\t," };
                let text = tokens.iter().map(|t| tag(*t)).collect::<Vec<_>>().join(sep);
                (text.into_bytes(), Value::Tags(tokens))
            }
            1 => (b"*".to_vec(), Value::Star),
            2 => {
                let offset = i64::from(input.byte() % 3) - 1;
                let t = UNIX_EPOCH + Duration::from_secs(secs.saturating_add_signed(offset));
                (http_date(t).into_bytes(), Value::Date(offset))
            }
            _ => {
                let n = usize::from(input.byte() % 48);
                (input.take(n).to_vec(), Value::Raw)
            }
        };
        let Ok(hv) = HeaderValue::from_bytes(&text) else {
            continue;
        };
        headers.append(NAMES[name].clone(), hv);
        values.push((name, value));
    }
    let current = exists.then_some(&validators);
    let got = evaluate_preconditions(&method, &headers, current);
    let safe = method == Method::GET || method == Method::HEAD;

    // Properties that hold whatever the values are.
    let has = |n: usize| values.iter().any(|(name, _)| *name == n);
    if !(0..4).any(has) {
        assert_eq!(got, Precondition::Proceed);
    }
    if got == Precondition::NotModified {
        assert!(safe, "304 for {method}");
    }
    if !exists {
        let expected = if has(0) {
            Precondition::PreconditionFailed
        } else {
            Precondition::Proceed
        };
        assert_eq!(got, expected, "missing target");
    }
    let allows = if_range_allows(&headers, &validators);
    for value in headers.get_all(IF_RANGE) {
        if value.as_bytes().trim_ascii().starts_with(b"W/") {
            assert!(!allows, "a weak If-Range allowed the range");
        }
    }

    // The model, when it understands every value.
    if values.iter().any(|(_, v)| matches!(v, Value::Raw)) {
        return;
    }
    let of = |n: usize| values.iter().filter(move |(name, _)| *name == n).map(|(_, v)| v);
    let list_matches = |n: usize, strong: bool| {
        exists
            && of(n).any(|v| match v {
                Value::Star => true,
                Value::Tags(ts) => ts.iter().any(|t| *t == 0 || (!strong && *t == 1)),
                _ => false,
            })
    };
    // A single valid date, as an offset from Last-Modified in whole seconds.
    let single_date = |n: usize| {
        let all: Vec<&Value> = of(n).collect();
        match all.as_slice() {
            [Value::Date(o)] if exists => Some(*o),
            _ => None,
        }
    };
    let model = 'm: {
        if has(0) {
            if !list_matches(0, true) {
                break 'm Precondition::PreconditionFailed;
            }
        } else if single_date(3).is_some_and(|o| o < 0) {
            // Modified after the date.
            break 'm Precondition::PreconditionFailed;
        }
        if has(1) {
            if list_matches(1, false) {
                break 'm if safe {
                    Precondition::NotModified
                } else {
                    Precondition::PreconditionFailed
                };
            }
        } else if safe && single_date(2).is_some_and(|o| o >= 0) {
            break 'm Precondition::NotModified;
        }
        Precondition::Proceed
    };
    assert_eq!(got, model, "preconditions");
    let model_range = match of(4).collect::<Vec<_>>().as_slice() {
        [] => true,
        [Value::Tags(ts)] => ts.as_slice() == [0],
        [Value::Date(o)] => *o == 0,
        _ => false,
    };
    assert_eq!(allows, model_range, "If-Range");
}

// ---------------------------------------------------------------- Basic

/// Standard base64 with padding (RFC 4648 §4).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// HTTP Basic credentials (RFC 7617).
///
/// Input: `[mode]` then either a raw header value (mode even) or
/// `user \n password` to encode (mode odd; other mode bits choose the
/// scheme's case, the number of spaces and whether padding is dropped).
///
/// - Accepted credentials respect the limits (user ≤ 256 bytes, password ≤
///   1024, header ≤ 4096), the user holds no `:` and no control character,
///   and re-encoding them canonically parses back to the same credentials.
/// - Encoding a user and password gives them back exactly when the model
///   says they are acceptable (split at the first `:`, limits, no control
///   character in the user), and nothing otherwise.
pub fn http_basic(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.byte();
    let rest = input.rest();
    if mode & 1 == 0 {
        if let Some(c) = parse_basic(rest) {
            assert!(rest.len() <= MAX_AUTHORIZATION_LEN);
            check_credentials(&c.user, &c.password);
            let canonical = format!("Basic {}", base64(format!("{}:{}", c.user, c.password).as_bytes()));
            if canonical.len() <= MAX_AUTHORIZATION_LEN {
                assert_eq!(parse_basic(canonical.as_bytes()), Some(c), "re-encoded credentials");
            }
        }
        return;
    }
    let text = String::from_utf8_lossy(rest);
    let (user, password) = text.split_once('\n').unwrap_or((&text, ""));
    let plain = format!("{user}:{password}");
    let mut token = base64(plain.as_bytes());
    if mode & 2 != 0 {
        token = token.trim_end_matches('=').to_owned();
    }
    let scheme = ["Basic", "basic", "BASIC", "bAsIc"][usize::from(mode >> 2) % 4];
    let spaces = " ".repeat(1 + usize::from(mode >> 4) % 3);
    let header = format!("{scheme}{spaces}{token}");
    let got = parse_basic(header.as_bytes());
    let (u, p) = plain.split_once(':').expect("a colon was put in");
    let acceptable = header.len() <= MAX_AUTHORIZATION_LEN
        && u.len() <= MAX_USER_LEN
        && p.len() <= MAX_PASSWORD_LEN
        && !u.chars().any(char::is_control);
    if acceptable {
        let c = got.expect("acceptable credentials refused");
        assert_eq!((c.user.as_str(), c.password.as_str()), (u, p));
    } else {
        assert!(got.is_none(), "unacceptable credentials accepted");
    }
}

fn check_credentials(user: &str, password: &str) {
    assert!(user.len() <= MAX_USER_LEN && password.len() <= MAX_PASSWORD_LEN);
    assert!(!user.contains(':'), "user-id with a colon");
    assert!(!user.chars().any(char::is_control), "control character in the user-id");
}

/// `proto_http::framing::TargetGuard`. The first byte picks the mode:
///
/// - even: the rest is a raw byte stream, cut at points from the next bytes.
///   Only `#` → DEL changes, and the cut points change nothing.
/// - odd: the rest builds a pipeline of well-formed requests (method, target,
///   headers, a `Content-Length` or `chunked` body, all from the input, any of
///   them holding `#`). Exactly the `#` bytes of the targets are rewritten —
///   none in a header, a chunk extension, a body or a trailer — and the guard
///   is still following the stream at the end.
pub fn http_framing(data: &[u8]) {
    use proto_http::framing::TargetGuard;
    let mut input = Input::new(data);
    let structured = input.byte() % 2 == 1;
    let cuts = [
        usize::from(input.u16()),
        usize::from(input.u16()),
        usize::from(input.u16()),
    ];
    let (stream, targets_hashes) = if structured {
        pipeline(&mut input)
    } else {
        (input.rest().to_vec(), None)
    };
    let mut whole = stream.clone();
    let mut guard = TargetGuard::new();
    guard.inspect(&mut whole);
    for (a, b) in stream.iter().zip(&whole) {
        assert!(a == b || (*a == b'#' && *b == 0x7F), "only `#` may change");
    }
    let mut pieces = Vec::new();
    let mut split = TargetGuard::new();
    for mut piece in crate::chunks(&stream, &cuts) {
        split.inspect(&mut piece);
        pieces.extend_from_slice(&piece);
    }
    assert_eq!(pieces, whole, "cut points changed the result");
    if let Some(expected) = targets_hashes {
        assert!(!guard.is_off(), "well-formed framing stopped the guard");
        assert_eq!(guard.rewritten(), expected, "rewrites other than the targets' `#`");
        let changed = stream.iter().zip(&whole).filter(|(a, b)| a != b).count() as u64;
        assert_eq!(changed, expected);
    }
}

/// Well-formed pipelined requests from the input, and the number of `#` bytes
/// in their targets.
fn pipeline(input: &mut Input<'_>) -> (Vec<u8>, Option<u64>) {
    // Bytes allowed in a token-ish position, `#` included.
    let text = |input: &mut Input<'_>, max: usize| -> Vec<u8> {
        let n = usize::from(input.byte()) % (max + 1);
        (0..n)
            .map(|_| match input.byte() % 8 {
                0 => b'#',
                1 => b'/',
                _ => b'a' + input.byte() % 26,
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut hashes = 0;
    for _ in 0..(input.byte() % 4 + 1) {
        let target = [b"/".as_slice(), &text(input, 20)].concat();
        hashes += target.iter().filter(|&&b| b == b'#').count() as u64;
        out.extend_from_slice(b"PUT ");
        out.extend_from_slice(&target);
        out.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n");
        for _ in 0..(input.byte() % 3) {
            out.extend_from_slice(b"X-");
            out.extend_from_slice(&[b'a' + input.byte() % 26]);
            out.extend_from_slice(b": ");
            out.extend_from_slice(&text(input, 10));
            out.extend_from_slice(b"\r\n");
        }
        let body = text(input, 60);
        if input.byte() % 2 == 0 {
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            out.extend_from_slice(&body);
        } else {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for part in body.chunks(usize::from(input.byte() % 16) + 1) {
                out.extend_from_slice(format!("{:x};e=#\r\n", part.len()).as_bytes());
                out.extend_from_slice(part);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\nX-T: #\r\n\r\n");
        }
    }
    (out, Some(hashes))
}
