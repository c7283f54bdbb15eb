//! Request-path decoding and href encoding (RFC 3986).
//!
//! [`decode_request_path`] turns the raw, still percent-encoded path of a
//! request URI into a validated UTF-8 string. It decodes exactly once, so
//! `%252e` stays the literal text `%2e` and can never become `.` later.
//! It deliberately does *not* resolve `.` and `..` segments: the core's path
//! type does that, clamping at the root, so there is a single place where
//! traversal is handled.
//!
//! [`encode_href`] and [`encode_segment`] go the other way, for `href`
//! attributes, `Location` headers and WebDAV `<D:href>` elements.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// A decoded and validated request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedPath {
    /// The percent-decoded path. It starts with `/`; `.` and `..` segments,
    /// empty segments and backslashes are kept as they are.
    pub path: String,
    /// Whether the decoded path ends with `/` (true for the root `/`).
    pub trailing_slash: bool,
}

/// Why a request path was rejected.
///
/// The messages never echo the offending input, so they are safe to log or
/// to send back to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/` (for example `*` or an empty path).
    #[error("request path is not absolute")]
    NotAbsolute,
    /// A `%` is not followed by two hexadecimal digits.
    #[error("request path has a malformed percent-encoding")]
    BadPercentEncoding,
    /// The decoded bytes are not valid UTF-8.
    #[error("request path is not valid UTF-8")]
    InvalidUtf8,
    /// The decoded path contains a control character (`0x00`–`0x1F` or
    /// `0x7F`), literally or percent-encoded.
    #[error("request path contains a control character")]
    ControlCharacter,
    /// The decoded path is longer than the configured limit.
    #[error("request path is too long")]
    TooLong,
}

/// Decodes and validates the raw path of a request URI.
///
/// `raw` is `uri.path()`: still percent-encoded, without the query. The
/// function percent-decodes it **once** and checks that:
///
/// - it starts with `/` (RFC 3986 §3.3 `path-absolute`; the origin-form of
///   RFC 9112 §3.2.1 is `absolute-path [ "?" query ]`), else
///   [`PathError::NotAbsolute`];
/// - every `%` is followed by two hex digits (RFC 3986 §2.1:
///   `pct-encoded = "%" HEXDIG HEXDIG`), else [`PathError::BadPercentEncoding`];
/// - the decoded octets are UTF-8 (RFC 3986 §2.5 recommends UTF-8 for
///   non-ASCII characters), else [`PathError::InvalidUtf8`];
/// - there is no control byte (`< 0x20` or `0x7F`, including NUL), even
///   percent-encoded, else [`PathError::ControlCharacter`];
/// - the decoded path is at most `max_len` bytes, else [`PathError::TooLong`].
///
/// `.` and `..` segments are **not** resolved (RFC 3986 §5.2.4 is the
/// core's job) and `\` is an ordinary character. `%2F` decodes to `/`.
///
/// # Errors
///
/// One of the [`PathError`] variants above. When several problems exist,
/// the first one met scanning left to right is reported (`TooLong` as soon
/// as the decoded length passes `max_len`).
pub fn decode_request_path(raw: &str, max_len: usize) -> Result<DecodedPath, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut out = Vec::with_capacity(bytes.len().min(max_len));
    let mut i = 0;
    while i < bytes.len() {
        let byte = if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            match (hi, lo) {
                (Some(hi), Some(lo)) => {
                    i += 3;
                    (hi << 4) | lo
                }
                _ => return Err(PathError::BadPercentEncoding),
            }
        } else {
            i += 1;
            bytes[i - 1]
        };
        if byte < 0x20 || byte == 0x7F {
            return Err(PathError::ControlCharacter);
        }
        if out.len() >= max_len {
            return Err(PathError::TooLong);
        }
        out.push(byte);
    }
    let path = String::from_utf8(out).map_err(|_| PathError::InvalidUtf8)?;
    let trailing_slash = path.ends_with('/');
    Ok(DecodedPath { path, trailing_slash })
}

/// The value of one ASCII hex digit (RFC 5234 `HEXDIG`, either case).
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Everything except RFC 3986 `unreserved` (`ALPHA / DIGIT / "-" / "." /
/// "_" / "~"`) and `/`.
const HREF_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Like [`HREF_SET`] but `/` is encoded too.
const SEGMENT_SET: &AsciiSet = &HREF_SET.add(b'/');

/// Percent-encodes a decoded path for an `href` attribute or a `Location`
/// header.
///
/// Keeps RFC 3986 §2.3 unreserved characters (`A–Z a–z 0–9 - . _ ~`) and
/// `/`; every other octet of the UTF-8 encoding becomes `%XX` (uppercase
/// hex, RFC 3986 §2.1). That includes space, `%`, `?`, `#`, `:`, quotes,
/// `<`, `>`, `&` and all non-ASCII bytes, so the result is safe inside a
/// quoted HTML attribute and an XML element, and
/// [`decode_request_path`] gives back the original path.
pub fn encode_href(path: &str) -> String {
    utf8_percent_encode(path, HREF_SET).to_string()
}

/// Percent-encodes a single path segment (a file name): like
/// [`encode_href`], but `/` is encoded as `%2F` as well, so a name can never
/// add a path level or, being relative, be read as a scheme or authority.
pub fn encode_segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT_SET).to_string()
}
