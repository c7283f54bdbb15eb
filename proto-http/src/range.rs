//! `Range` requests (RFC 9110 §14).
//!
//! [`evaluate_range`] parses a `Range` header value and decides between a
//! full `200` response, a `206` with one or more ranges, and a `416`. The
//! `multipart_*` functions frame a `multipart/byteranges` body (RFC 9110
//! §14.6) for the multi-range case, and [`multipart_length`] computes its
//! exact length up front so the response can carry `Content-Length`.
//!
//! `If-Range` is evaluated separately, by
//! [`if_range_allows`](crate::conditional::if_range_allows). The caller
//! applies `Range` to `GET` only ("A server MUST ignore a Range header field
//! received with a request method that is unrecognized or for which range
//! handling is not defined. For this specification, GET is the only
//! method for which range handling is defined", RFC 9110 §14.2); `HEAD`
//! may mirror `GET`'s headers.

/// One satisfiable byte range, already clamped to the representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// Offset of the first byte.
    pub start: u64,
    /// Offset of the last byte, **inclusive** (as in `bytes=0-99`).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes in the range (`end - start + 1`; 0 if `end < start`,
    /// which [`evaluate_range`] never produces).
    pub fn len(&self) -> u64 {
        if self.end < self.start {
            0
        } else {
            (self.end - self.start).saturating_add(1)
        }
    }

    /// Whether the range holds no byte (only possible for a hand-built
    /// range with `end < start`).
    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }

    /// The `Content-Range` value for this range of a `size`-byte
    /// representation (RFC 9110 §14.4:
    /// `range-unit SP first-pos "-" last-pos "/" complete-length`),
    /// e.g. `bytes 0-99/1234`.
    pub fn content_range(&self, size: u64) -> String {
        format!("bytes {}-{}/{}", self.start, self.end, size)
    }
}

/// What to do with a request's `Range` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Ignore the header and send the whole representation (`200`).
    Full,
    /// Send these ranges (`206`): one range as a plain body with
    /// `Content-Range`, several as `multipart/byteranges`. Never empty.
    Partial(Vec<ByteRange>),
    /// No range overlaps the representation: answer `416` with
    /// `Content-Range: bytes */size` (see [`unsatisfied_content_range`]).
    Unsatisfiable,
}

/// One parsed `range-spec`, before it is checked against the size.
#[derive(Debug, Clone, Copy)]
enum Spec {
    /// `first-pos "-" [ last-pos ]`
    Int { first: u64, last: Option<u64> },
    /// `"-" suffix-length`
    Suffix(u64),
}

/// Evaluates a `Range` header value against a representation of `size`
/// bytes.
///
/// RFC 9110 §14.1.1 grammar: `ranges-specifier = range-unit "=" range-set`,
/// `range-set = 1#range-spec`, `range-spec = int-range / suffix-range`,
/// `int-range = first-pos "-" [ last-pos ]`, `suffix-range = "-"
/// suffix-length`. Examples: `bytes=0-99`, `bytes=100-`, `bytes=-500`,
/// `bytes=0-0,-1`.
///
/// - A syntactically invalid value, an `int-range` whose last-pos is less
///   than its first-pos ("invalid", §14.1.1), or a unit other than `bytes`
///   gives [`RangeOutcome::Full`]: "A server MAY ignore the Range header
///   field" (§14.2), and a recipient ignores unknown units.
/// - More than `max_ranges` range-specs gives [`RangeOutcome::Full`] too
///   (§14.2 lets a server ignore or reject many small ranges).
/// - "An int-range is satisfiable if the first-pos is less than the current
///   length of the selected representation"; "A suffix-range is
///   satisfiable if the suffix-length is not zero" and the representation is
///   not empty (§14.1.1). Satisfiable ranges are clamped to the size;
///   unsatisfiable ones are dropped. If none is left: [`RangeOutcome::Unsatisfiable`]
///   (§15.5.17 `416`). With `size == 0` every range is unsatisfiable.
/// - Overlapping or adjacent ranges are coalesced ("a server MAY coalesce
///   any of the ranges that overlap, or that are separated by a gap that is
///   smaller than the overhead of sending multiple parts", §14.2). Ranges
///   are otherwise kept in request order; a merged range takes the place of
///   the earliest range it absorbed.
///
/// Numbers too large for `u64` saturate, which is exactly their meaning
/// (beyond any size).
pub fn evaluate_range(header: &str, size: u64, max_ranges: usize) -> RangeOutcome {
    let Some(specs) = parse(header, max_ranges) else {
        return RangeOutcome::Full;
    };
    let mut out: Vec<ByteRange> = Vec::with_capacity(specs.len());
    for spec in specs {
        if let Some(range) = clamp(spec, size) {
            insert_coalescing(&mut out, range);
        }
    }
    if out.is_empty() {
        RangeOutcome::Unsatisfiable
    } else {
        RangeOutcome::Partial(out)
    }
}

/// Parses the header into range-specs; `None` means "ignore the header"
/// (bad syntax, other unit, or more than `max_ranges` specs).
fn parse(header: &str, max_ranges: usize) -> Option<Vec<Spec>> {
    let (unit, set) = header.trim().split_once('=')?;
    // range-unit is case-insensitive (RFC 9110 §14.1).
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = Vec::new();
    // `1#element`: recipients accept empty list elements (RFC 9110 §5.6.1.2)
    // but at least one real element must be present.
    for element in set.split(',') {
        let element = element.trim_matches([' ', '\t']);
        if element.is_empty() {
            continue;
        }
        if specs.len() >= max_ranges {
            return None;
        }
        specs.push(parse_spec(element)?);
    }
    if specs.is_empty() { None } else { Some(specs) }
}

/// Parses one `range-spec`.
fn parse_spec(spec: &str) -> Option<Spec> {
    let (first, last) = spec.split_once('-')?;
    if first.is_empty() {
        return Some(Spec::Suffix(parse_digits(last)?));
    }
    let first = parse_digits(first)?;
    let last = if last.is_empty() {
        None
    } else {
        let last = parse_digits(last)?;
        // "An int-range is invalid if the last-pos value is present and
        // less than the first-pos" (§14.1.1).
        if last < first {
            return None;
        }
        Some(last)
    };
    Some(Spec::Int { first, last })
}

/// `1*DIGIT`, saturating at `u64::MAX`.
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// Applies a range-spec to a representation of `size` bytes (§14.1.1
/// satisfiability and clamping).
fn clamp(spec: Spec, size: u64) -> Option<ByteRange> {
    let last_byte = size.checked_sub(1)?;
    match spec {
        Spec::Int { first, last } => {
            if first >= size {
                return None;
            }
            let end = last.map_or(last_byte, |l| l.min(last_byte));
            Some(ByteRange { start: first, end })
        }
        Spec::Suffix(0) => None,
        Spec::Suffix(n) => Some(ByteRange {
            start: size.saturating_sub(n),
            end: last_byte,
        }),
    }
}

/// Adds `range` to `out`, merging it with every range it overlaps or
/// touches; the merged range sits at the earliest merged position.
fn insert_coalescing(out: &mut Vec<ByteRange>, mut range: ByteRange) {
    let mut position = out.len();
    while let Some(i) = out.iter().position(|r| touches(r, &range)) {
        let other = out.remove(i);
        range = ByteRange {
            start: range.start.min(other.start),
            end: range.end.max(other.end),
        };
        position = position.min(i);
    }
    let position = position.min(out.len());
    out.insert(position, range);
}

/// Whether two ranges overlap or are adjacent.
fn touches(a: &ByteRange, b: &ByteRange) -> bool {
    a.start <= b.end.saturating_add(1) && b.start <= a.end.saturating_add(1)
}

/// The `Content-Range` value of a `416` response: `bytes */size`
/// (RFC 9110 §14.4 `unsatisfied-range = "*/" complete-length`).
pub fn unsatisfied_content_range(size: u64) -> String {
    format!("bytes */{size}")
}

/// The `Content-Type` of a multi-range response:
/// `multipart/byteranges; boundary=<boundary>` (RFC 9110 §14.6).
///
/// `boundary` is a caller-chosen token (RFC 2046 §5.1.1: 1–70 characters
/// from `bchars`, not occurring in the data; a random alphanumeric string
/// is ideal).
pub fn multipart_content_type(boundary: &str) -> String {
    format!("multipart/byteranges; boundary={boundary}")
}

/// The delimiter and headers in front of one part of a
/// `multipart/byteranges` body (RFC 9110 §14.6, RFC 2046 §5.1.1):
/// `"\r\n--<boundary>\r\nContent-Type: <type>\r\nContent-Range: bytes s-e/size\r\n\r\n"`.
///
/// The body is: for each range, this header followed by the range's bytes;
/// then [`multipart_trailer`].
pub fn multipart_part_header(boundary: &str, content_type: &str, range: &ByteRange, size: u64) -> String {
    format!(
        "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: {}\r\n\r\n",
        range.content_range(size)
    )
}

/// The closing delimiter of a `multipart/byteranges` body:
/// `"\r\n--<boundary>--\r\n"`.
pub fn multipart_trailer(boundary: &str) -> String {
    format!("\r\n--{boundary}--\r\n")
}

/// The exact length in bytes of the `multipart/byteranges` body made of
/// [`multipart_part_header`] plus data for each of `ranges`, then
/// [`multipart_trailer`]. Saturates instead of overflowing.
pub fn multipart_length(boundary: &str, content_type: &str, ranges: &[ByteRange], size: u64) -> u64 {
    let parts = ranges.iter().fold(0u64, |total, range| {
        let header = multipart_part_header(boundary, content_type, range, size).len() as u64;
        total.saturating_add(header).saturating_add(range.len())
    });
    parts.saturating_add(multipart_trailer(boundary).len() as u64)
}
