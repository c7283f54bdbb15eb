//! Unit tests for [`LineFramer`](super::LineFramer).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on unexpected values"
)]

use super::{FrameError, Line, LineFramer};
use bytes::BytesMut;

/// Feeds all `chunks` in order and collects every outcome.
fn run(max: usize, chunks: &[&[u8]]) -> Vec<Result<Line, FrameError>> {
    let mut framer = LineFramer::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match framer.next_line(&mut buf) {
                Ok(Some(line)) => out.push(Ok(line)),
                Ok(None) => break,
                Err(e) => out.push(Err(e)),
            }
        }
    }
    out
}

fn line(bytes: &[u8]) -> Result<Line, FrameError> {
    Ok(Line {
        bytes: bytes.to_vec(),
        urgent: false,
    })
}

fn urgent(bytes: &[u8]) -> Result<Line, FrameError> {
    Ok(Line {
        bytes: bytes.to_vec(),
        urgent: true,
    })
}

#[test]
fn crlf_and_lone_lf() {
    assert_eq!(
        run(64, &[b"USER a\r\nPASS b\nNOOP\r\n"]),
        vec![line(b"USER a"), line(b"PASS b"), line(b"NOOP")]
    );
}

#[test]
fn incomplete_line_waits() {
    let mut framer = LineFramer::new(64);
    let mut buf = BytesMut::from(&b"USER a\r"[..]);
    assert_eq!(framer.next_line(&mut buf), Ok(None));
    assert_eq!(framer.partial_len(), 7);
    buf.extend_from_slice(b"\n");
    assert_eq!(framer.next_line(&mut buf).unwrap().unwrap().bytes, b"USER a");
    assert_eq!(framer.partial_len(), 0);
    assert!(buf.is_empty());
}

#[test]
fn cr_not_followed_by_lf_is_data() {
    assert_eq!(run(64, &[b"A\rB\r\n"]), vec![line(b"A\rB")]);
    assert_eq!(run(64, &[b"A\r\r\n"]), vec![line(b"A\r")]);
}

#[test]
fn empty_lines() {
    assert_eq!(run(64, &[b"\r\n\n"]), vec![line(b""), line(b"")]);
    assert_eq!(run(0, &[b"\r\n"]), vec![line(b"")]);
}

#[test]
fn split_at_every_boundary() {
    let inputs: [&[u8]; 5] = [
        b"RETR some file.txt\r\n",
        b"\xff\xf4\xff\xf2ABOR\r\n",
        b"\xff\xf4\xffABOR\r\n",
        b"A\xff\xffB\xff\xfb\x01C\r\n",
        b"X\r\nY\n",
    ];
    for input in inputs {
        let whole = run(64, &[input]);
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(run(64, &[a, b]), whole, "cut at {cut} of {input:?}");
        }
        let bytewise: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(64, &bytewise), whole);
    }
}

#[test]
fn max_len_boundary() {
    let exact = [b'a'; 8];
    let mut input = exact.to_vec();
    input.extend_from_slice(b"\r\n");
    assert_eq!(run(8, &[&input]), vec![line(&exact)]);
    // The CR of the line end does not count, even when it arrives alone.
    assert_eq!(run(8, &[&exact, b"\r", b"\n"]), vec![line(&exact)]);
    let over = [b'a'; 9];
    let mut input = over.to_vec();
    input.extend_from_slice(b"\r\n");
    assert_eq!(run(8, &[&input]), vec![Err(FrameError::LineTooLong { max: 8 })]);
    // A CR that turns out to be data pushes the line over the limit.
    assert_eq!(
        run(8, &[&exact, b"\rX\n"]),
        vec![Err(FrameError::LineTooLong { max: 8 })]
    );
}

#[test]
fn over_long_line_then_valid_line() {
    let long = vec![b'x'; 100];
    assert_eq!(
        run(10, &[&long, &long, b"\r\nNOOP\r\n"]),
        vec![Err(FrameError::LineTooLong { max: 10 }), line(b"NOOP")]
    );
}

#[test]
fn discarded_bytes_do_not_stay_in_the_buffer() {
    let mut framer = LineFramer::new(10);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[b'x'; 50]);
    assert_eq!(framer.next_line(&mut buf), Err(FrameError::LineTooLong { max: 10 }));
    assert_eq!(framer.next_line(&mut buf), Ok(None));
    assert!(buf.is_empty());
    assert!(framer.is_discarding());
    buf.extend_from_slice(&[b'y'; 50]);
    assert_eq!(framer.next_line(&mut buf), Ok(None));
    assert!(buf.is_empty());
    buf.extend_from_slice(b"zz\nPWD\n");
    assert_eq!(framer.next_line(&mut buf).unwrap().unwrap().bytes, b"PWD");
    assert!(!framer.is_discarding());
}

#[test]
fn telnet_sequences() {
    // IAC IAC is a literal 0xFF.
    assert_eq!(run(64, &[b"A\xff\xffB\r\n"]), vec![line(b"A\xffB")]);
    // Option negotiation is removed (3 bytes).
    assert_eq!(run(64, &[b"\xff\xfb\x01NO\xff\xfe\x03OP\r\n"]), vec![line(b"NOOP")]);
    // Two-byte commands are removed; NOP (241) does not mark the line.
    assert_eq!(run(64, &[b"NO\xff\xf1OP\r\n"]), vec![line(b"NOOP")]);
    // IP and DM mark the line urgent.
    assert_eq!(run(64, &[b"\xff\xf4\xff\xf2ABOR\r\n"]), vec![urgent(b"ABOR")]);
    assert_eq!(run(64, &[b"\xff\xf2ABOR\r\n"]), vec![urgent(b"ABOR")]);
    // DM delivered out of band: the lone IAC must not eat the 'A'.
    assert_eq!(run(64, &[b"\xff\xf4\xffABOR\r\n"]), vec![urgent(b"ABOR")]);
    // Urgency does not leak into the next line.
    assert_eq!(
        run(64, &[b"\xff\xf4ABOR\r\nNOOP\r\n"]),
        vec![urgent(b"ABOR"), line(b"NOOP")]
    );
}

#[test]
fn incomplete_telnet_sequence_waits() {
    let mut framer = LineFramer::new(64);
    let mut buf = BytesMut::from(&b"AB\xff"[..]);
    assert_eq!(framer.next_line(&mut buf), Ok(None));
    assert_eq!(&buf[..], b"\xff");
    buf.extend_from_slice(b"\xfb");
    assert_eq!(framer.next_line(&mut buf), Ok(None));
    assert_eq!(&buf[..], b"\xff\xfb");
    buf.extend_from_slice(b"\x01C\n");
    assert_eq!(
        framer.next_line(&mut buf),
        Ok(Some(Line {
            bytes: b"ABC".to_vec(),
            urgent: false
        }))
    );
}

#[test]
fn nul_is_kept() {
    assert_eq!(run(64, &[b"US\0ER\r\n"]), vec![line(b"US\0ER")]);
}

#[test]
fn reset_forgets_partial_line() {
    let mut framer = LineFramer::new(64);
    let mut buf = BytesMut::from(&b"STOR x"[..]);
    assert_eq!(framer.next_line(&mut buf), Ok(None));
    framer.reset();
    buf.extend_from_slice(b"PWD\r\n");
    assert_eq!(framer.next_line(&mut buf).unwrap().unwrap().bytes, b"PWD");
}
