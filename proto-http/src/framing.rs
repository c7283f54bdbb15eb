//! HTTP/1.1 request framing followed byte by byte, so that a request target
//! carrying `#` is refused (RFC 9112 §3.2: a request-target has no fragment).
//!
//! Why this exists: the `http` crate, and so hyper, parses a request target by
//! the WHATWG URL rules and silently drops everything from `#` on, so
//! `DELETE /dir/#x` would reach the handlers as `DELETE /dir/` — a different,
//! larger resource than the client named. [`TargetGuard`] watches the bytes a
//! connection reads, finds each request line by following the message framing
//! (`Content-Length`, `chunked`), and turns a `#` inside a request target into
//! DEL (0x7F), a byte the request-line parser refuses: hyper answers
//! `400 Bad Request` and no handler runs.
//!
//! It only ever rewrites bytes it knows to be a request line. Whenever a
//! message's framing is anything but plain — an obs-folded header line,
//! conflicting lengths, a transfer coding other than `chunked`, an `Upgrade`,
//! `CONNECT`, HTTP/2's preface, a line longer than the guard keeps — it stops
//! for the rest of the connection ([`TargetGuard::is_off`]): such a message is
//! one hyper refuses (and then closes the connection) or one that leaves
//! HTTP/1 framing, and a guard that has stopped rewrites nothing, so it can
//! never alter a body.

/// The longest header or chunk-size line the guard follows; a longer one
/// stops it (hyper's own head limit is the configured `max_header_bytes`).
const MAX_LINE: usize = 16 * 1024;

/// Header lines are kept in a buffer that is released, not just emptied, at
/// the end of a head if it grew past this (an idle connection keeps little).
const KEEP_CAPACITY: usize = 256;

/// Follows one connection's HTTP/1.1 request stream; see the module docs.
#[derive(Debug, Default)]
pub struct TargetGuard {
    state: State,
    /// The header, trailer or chunk-size line being read (without its `\n`).
    line: Vec<u8>,
    /// The current request's `Content-Length`, once seen.
    content_length: Option<u64>,
    /// The current request's body is `chunked`.
    chunked: bool,
    /// `#` bytes rewritten so far.
    rewritten: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a request line (or the empty lines allowed before one): `spaces`
    /// separators seen, `method` holds the first bytes of the method.
    RequestLine { started: bool, spaces: u8, method: Method },
    /// In the header section, reading a line into `line`.
    Headers,
    /// In a `Content-Length` body: this many bytes still to come.
    Body(u64),
    /// Reading a chunk-size line into `line`.
    ChunkSize,
    /// In a chunk's data: this many bytes still to come.
    ChunkData(u64),
    /// After a chunk's data: the CR (`false`) or LF (`true`) is next.
    ChunkEnd(bool),
    /// In the trailer section after the last chunk, reading a line into `line`.
    Trailers,
    /// Stopped for the rest of the connection; nothing is rewritten.
    #[default]
    Off,
}

/// The first bytes of a method, enough to tell `PRI` and `CONNECT` apart.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Method {
    bytes: [u8; 8],
    len: u8,
}

impl Method {
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(usize::from(self.len)) {
            *slot = b;
        }
        self.len = self.len.saturating_add(1);
    }

    fn is(&self, name: &[u8]) -> bool {
        usize::from(self.len) == name.len() && self.bytes.get(..name.len()) == Some(name)
    }
}

const START: State = State::RequestLine {
    started: false,
    spaces: 0,
    method: Method { bytes: [0; 8], len: 0 },
};

impl TargetGuard {
    /// A guard for a new connection, expecting a request line.
    pub fn new() -> TargetGuard {
        TargetGuard {
            state: START,
            ..TargetGuard::default()
        }
    }

    /// The guard has stopped following this connection (see the module docs).
    pub fn is_off(&self) -> bool {
        self.state == State::Off
    }

    /// Every byte followed so far belongs to complete requests, bodies and
    /// trailers included (or to the empty lines allowed before a request line):
    /// the stream is between two requests. False once the guard has stopped.
    pub fn between_requests(&self) -> bool {
        matches!(self.state, State::RequestLine { started: false, .. })
    }

    /// Frees the line buffer between requests (for a connection left idle);
    /// the next request allocates it again.
    pub fn release(&mut self) {
        if self.between_requests() {
            self.line = Vec::new();
        }
    }

    /// How many `#` bytes in request targets have been rewritten.
    pub fn rewritten(&self) -> u64 {
        self.rewritten
    }

    /// Follows `bytes`, the next bytes read from the connection, rewriting a
    /// `#` in a request target to DEL in place.
    pub fn inspect(&mut self, bytes: &mut [u8]) {
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Off => return,
                State::Body(n) | State::ChunkData(n) => {
                    let take = n.min((bytes.len() - i) as u64);
                    i += take as usize;
                    let left = n - take;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => START,
                        (State::Body(_), _) => State::Body(left),
                        (_, 0) => State::ChunkEnd(false),
                        _ => State::ChunkData(left),
                    };
                }
                State::Headers | State::Trailers | State::ChunkSize => {
                    // A line at a time: find its end, take it whole where it is.
                    let rest = &bytes[i..];
                    let Some(end) = memchr::memchr(b'\n', rest) else {
                        self.extend_line(rest);
                        return;
                    };
                    if self.line.is_empty() {
                        if end > MAX_LINE {
                            return self.stop();
                        }
                        self.end_line(&rest[..end]);
                    } else {
                        self.extend_line(&rest[..end]);
                        if self.state == State::Off {
                            return;
                        }
                        let line = std::mem::take(&mut self.line);
                        self.end_line(&line);
                        self.line = line;
                        self.line.clear();
                    }
                    if self.state != State::Headers
                        && self.state != State::Trailers
                        && self.line.capacity() > KEEP_CAPACITY
                    {
                        self.line = Vec::new();
                    }
                    i += end + 1;
                }
                _ => {
                    let b = &mut bytes[i];
                    self.step(b);
                    i += 1;
                }
            }
        }
    }

    /// Adds part of a line not yet ended, stopping at a line over [`MAX_LINE`].
    fn extend_line(&mut self, part: &[u8]) {
        if self.line.len() + part.len() > MAX_LINE {
            self.stop();
        } else {
            self.line.extend_from_slice(part);
        }
    }

    /// The state after a header, trailer or chunk-size line (without its `\n`).
    fn end_line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.state = match self.state {
            State::Headers => self.header_line(line),
            State::Trailers if line.is_empty() => START,
            State::Trailers => State::Trailers,
            _ => match chunk_size(line) {
                Some(0) => State::Trailers,
                Some(n) => State::ChunkData(n),
                None => State::Off,
            },
        };
    }

    /// One byte of a request line, header, chunk-size, chunk-end or trailer line.
    fn step(&mut self, b: &mut u8) {
        match self.state {
            State::RequestLine {
                started,
                spaces,
                mut method,
            } => {
                if !started && (*b == b'\r' || *b == b'\n') {
                    return; // empty lines before a request line are allowed
                }
                match *b {
                    b'\n' => {
                        // HTTP/2's preface and tunnels leave HTTP/1 framing.
                        self.state = if method.is(b"PRI") || method.is(b"CONNECT") {
                            State::Off
                        } else {
                            State::Headers
                        };
                        self.content_length = None;
                        self.chunked = false;
                    }
                    b' ' => {
                        self.state = State::RequestLine {
                            started: true,
                            spaces: spaces.saturating_add(1),
                            method,
                        }
                    }
                    b'#' if spaces == 1 => {
                        *b = 0x7F;
                        self.rewritten += 1;
                    }
                    _ => {
                        if spaces == 0 {
                            method.push(*b);
                        }
                        self.state = State::RequestLine {
                            started: true,
                            spaces,
                            method,
                        };
                    }
                }
            }
            State::ChunkEnd(false) if *b == b'\r' => self.state = State::ChunkEnd(true),
            State::ChunkEnd(true) if *b == b'\n' => self.state = State::ChunkSize,
            State::ChunkEnd(_) => self.stop(),
            // Lines and data are taken whole by `inspect`.
            State::Headers | State::Trailers | State::ChunkSize | State::Body(_) | State::ChunkData(_) | State::Off => {
            }
        }
    }

    /// The state after one complete header line (without its line end).
    fn header_line(&mut self, line: &[u8]) -> State {
        if line.is_empty() {
            // The end of the head: how long is the body?
            return match (self.chunked, self.content_length) {
                (true, Some(_)) => State::Off,
                (true, None) => State::ChunkSize,
                (false, Some(n)) if n > 0 => State::Body(n),
                (false, _) => START,
            };
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return State::Off; // obs-fold
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            return State::Off;
        };
        let name = &line[..colon];
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            // A list of equal values is one length (RFC 9110 §8.6); anything else stops.
            for part in value.split(|&c| c == b',') {
                let Some(n) = decimal(part.trim_ascii()) else {
                    return State::Off;
                };
                if self.content_length.is_some_and(|seen| seen != n) {
                    return State::Off;
                }
                self.content_length = Some(n);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let last = value.rsplit(|&c| c == b',').next().unwrap_or_default().trim_ascii();
            if !last.eq_ignore_ascii_case(b"chunked") || self.chunked {
                return State::Off;
            }
            self.chunked = true;
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            return State::Off;
        }
        State::Headers
    }

    fn stop(&mut self) {
        self.state = State::Off;
        self.line = Vec::new();
    }
}

/// A `Content-Length` value: decimal digits only, at most 19 of them.
fn decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter()
        .try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// A chunk-size line: hex digits, optional blanks, optional `;` extensions.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.iter().take_while(|c| c.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return None;
    }
    let rest = line[digits..].trim_ascii_start();
    if !(rest.is_empty() || rest[0] == b';') {
        return None;
    }
    let text = std::str::from_utf8(&line[..digits]).ok()?;
    u64::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn guarded(input: &[u8]) -> (Vec<u8>, TargetGuard) {
        let mut out = input.to_vec();
        let mut guard = TargetGuard::new();
        guard.inspect(&mut out);
        (out, guard)
    }

    #[test]
    fn a_hash_in_the_target_becomes_del() {
        let (out, g) = guarded(b"DELETE /dir/#x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(&out[..16], b"DELETE /dir/\x7Fx H");
        assert_eq!(g.rewritten(), 1);
        assert!(!g.is_off());
    }

    #[test]
    fn hashes_in_headers_and_bodies_are_left_alone() {
        let input = b"PUT /a HTTP/1.1\r\nX-Tag: #1\r\nContent-Length: 25\r\n\r\nGET /#x HTTP/1.1\r\n\r\n#####\
GET /b#c HTTP/1.1\r\n\r\n";
        let (out, g) = guarded(input);
        let body_end = input.len() - b"GET /b#c HTTP/1.1\r\n\r\n".len();
        assert_eq!(&out[..body_end], &input[..body_end], "head and body unchanged");
        assert!(
            out[body_end..].starts_with(b"GET /b\x7Fc"),
            "the next request line is guarded"
        );
        assert_eq!(g.rewritten(), 1);
    }

    #[test]
    fn chunked_bodies_are_followed() {
        let input = b"POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
5;ext=1\r\n#a#b#\r\n3\r\nGET\r\n0\r\nX-Trailer: #\r\n\r\nDELETE /d/#e HTTP/1.1\r\n\r\n";
        let (out, g) = guarded(input);
        assert_eq!(g.rewritten(), 1);
        let tail = input.len() - b"DELETE /d/#e HTTP/1.1\r\n\r\n".len();
        assert_eq!(&out[..tail], &input[..tail]);
        assert!(out[tail..].starts_with(b"DELETE /d/\x7Fe"));
    }

    #[test]
    fn odd_framing_stops_the_guard() {
        for input in [
            &b"PUT /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"[..],
            b"PUT /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
            b"GET /a HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n",
            b"GET /a HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"CONNECT a:443 HTTP/1.1\r\n\r\n",
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
        ] {
            let (_, g) = guarded(input);
            assert!(g.is_off(), "{}", String::from_utf8_lossy(input));
            let mut more = b"GET /#x HTTP/1.1\r\n\r\n".to_vec();
            let mut g = g;
            g.inspect(&mut more);
            assert_eq!(g.rewritten(), 0, "a stopped guard rewrites nothing");
        }
    }

    #[test]
    fn leading_empty_lines_and_a_query_are_fine() {
        let (out, g) = guarded(b"\r\n\r\nGET /a?b#c HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n");
        assert_eq!(g.rewritten(), 1);
        assert!(out.windows(2).any(|w| w == b"b\x7F"));
        assert!(!g.is_off());
    }

    #[test]
    fn between_requests_only_after_whole_requests() {
        let mut g = TargetGuard::new();
        assert!(g.between_requests());
        for (bytes, between) in [
            (&b"\r\n"[..], true),
            (b"PUT /a HTTP/1.1\r\nContent-Length: 3\r\n", false),
            (b"\r\nab", false),
            (b"c", true),
            (
                b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",
                false,
            ),
            (b"0\r\n\r\n", true),
            (b"GET /c HTTP/1.1\r\nHost: x\r\n\r\nG", false),
            (b"ET /d HTTP/1.1\r\n\r\n", true),
        ] {
            g.inspect(&mut bytes.to_vec());
            assert_eq!(
                g.between_requests(),
                between,
                "after {}",
                String::from_utf8_lossy(bytes)
            );
        }
        g.release();
        assert_eq!(g.line.capacity(), 0);
        let (_, g) = guarded(b"GET /a HTTP/1.1\r\nUpgrade: h2c\r\n\r\n");
        assert!(!g.between_requests(), "a stopped guard is never between requests");
    }

    proptest! {
        /// Splitting the stream anywhere changes nothing: the guard carries its
        /// state across reads.
        #[test]
        fn splits_do_not_matter(cuts in proptest::collection::vec(0usize..200, 0..8), body in "[#a-z\r\n]{0,40}") {
            let input = format!(
                "PUT /x#1 HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}POST /y HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\nGET /z#2 HTTP/1.1\r\n\r\n",
                body.len(),
                body.len()
            );
            let (whole, g) = guarded(input.as_bytes());
            prop_assert_eq!(g.rewritten(), 2);
            let mut pieces = input.as_bytes().to_vec();
            let mut guard = TargetGuard::new();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(pieces.len())).collect();
            cuts.push(0);
            cuts.push(pieces.len());
            cuts.sort_unstable();
            for w in cuts.windows(2) {
                guard.inspect(&mut pieces[w[0]..w[1]]);
            }
            prop_assert_eq!(pieces, whole);
        }

        /// Whatever arrives, the guard never panics, and it only ever turns a
        /// `#` into DEL.
        #[test]
        fn only_hashes_change(input in proptest::collection::vec(any::<u8>(), 0..512)) {
            let (out, _) = guarded(&input);
            for (a, b) in input.iter().zip(&out) {
                prop_assert!(a == b || (*a == b'#' && *b == 0x7F));
            }
        }
    }
}
