//! Property tests: the framer, the parser and the reply encoder never panic
//! and keep their invariants on arbitrary input; address codecs round-trip.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on unexpected values"
)]

use bytes::BytesMut;
use proptest::prelude::*;
use proto_ftp::address::{eprt_arg, epsv_reply_text, parse_epsv_reply, parse_pasv_reply, pasv_reply_text, port_arg};
use proto_ftp::reply_parser::ReplyParser;
use proto_ftp::{Command, FrameError, LineFramer, ReplyChainEntry, encode_chain, parse};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Upper bound on what may stay in the caller's buffer: an incomplete
/// Telnet sequence (IAC + verb).
const SLACK: usize = 2;

/// Splits `data` at the given cut points (taken modulo the length).
fn chunks(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for p in points {
        out.push(data[start..p].to_vec());
        start = p;
    }
    out.push(data[start..].to_vec());
    out
}

fn frame_all(max: usize, parts: &[Vec<u8>]) -> Vec<Result<Vec<u8>, FrameError>> {
    let mut framer = LineFramer::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for part in parts {
        buf.extend_from_slice(part);
        loop {
            match framer.next_line(&mut buf) {
                Ok(Some(line)) => {
                    assert!(line.bytes.len() <= max, "line longer than max_len");
                    assert!(!line.bytes.contains(&b'\n'));
                    out.push(Ok(line.bytes));
                }
                Ok(None) => break,
                Err(e) => out.push(Err(e)),
            }
        }
        assert!(buf.len() <= SLACK, "buffer kept {} bytes", buf.len());
        assert!(framer.partial_len() <= max + 1);
    }
    out
}

/// Bytes biased towards the interesting ones (CR, LF, IAC, Telnet verbs).
fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<u8>(),
            1 => Just(b'\r'),
            1 => Just(b'\n'),
            1 => Just(0xff_u8),
            1 => 240_u8..=254,
            2 => b'a'..=b'z',
        ],
        0..600,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn framer_is_chunking_independent_and_bounded(
        data in wire_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        max in 0_usize..64,
    ) {
        let whole = frame_all(max, std::slice::from_ref(&data));
        let split = frame_all(max, &chunks(&data, &cuts));
        prop_assert_eq!(&whole, &split);
        let bytewise: Vec<Vec<u8>> = data.iter().map(|b| vec![*b]).collect();
        prop_assert_eq!(&whole, &frame_all(max, &bytewise));
    }

    #[test]
    fn framer_without_newline_keeps_memory_bounded(
        data in prop::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..2000),
        max in 1_usize..128,
    ) {
        let mut framer = LineFramer::new(max);
        let mut buf = BytesMut::new();
        for chunk in data.chunks(37) {
            buf.extend_from_slice(chunk);
            while let Ok(Some(_)) | Err(_) = framer.next_line(&mut buf) {}
            prop_assert!(buf.len() <= SLACK);
            prop_assert!(framer.partial_len() <= max + 1);
        }
    }

    #[test]
    fn parse_never_panics(line in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse(&line);
    }

    #[test]
    fn parse_never_panics_on_plausible_lines(
        verb in prop_oneof![
            Just("USER"), Just("PORT"), Just("EPRT"), Just("EPSV"), Just("TYPE"), Just("LIST"),
            Just("SITE"), Just("OPTS"), Just("REST"), Just("MODE"), Just("PROT"), Just("PBSZ"),
            Just("XCWD"), Just("FOO"),
        ],
        args in "[ -~|,.:0-9a-fA-F\u{80}-\u{10ffff}]{0,40}",
    ) {
        let line = format!("{verb} {args}");
        if let Err(e) = parse(line.as_bytes()) {
            prop_assert!([500, 501, 504, 522].contains(&e.reply_code()));
        }
    }

    #[test]
    fn encode_chain_is_well_framed(
        first_code in 100_u16..600,
        rest in prop::collection::vec(
            (any::<bool>(), 100_u16..600, "(?s).{0,30}"),
            0..8,
        ),
        first_text in "(?s).{0,30}",
    ) {
        let mut entries = vec![ReplyChainEntry::Coded { code: first_code, text: &first_text }];
        for (dup, code, text) in &rest {
            entries.push(if *dup {
                ReplyChainEntry::Dup { text }
            } else {
                ReplyChainEntry::Coded { code: *code, text }
            });
        }
        let mut out = Vec::new();
        encode_chain(&entries, &mut out);
        prop_assert!(out.ends_with(b"\r\n"));
        let body = &out[..out.len() - 2];
        let lines: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
        prop_assert_eq!(lines.len(), entries.len());
        for line in &lines {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            prop_assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
            let coded = line.len() >= 4
                && line[..3].iter().all(u8::is_ascii_digit)
                && (line[3] == b'-' || line[3] == b' ');
            prop_assert!(coded || line.starts_with(b" "), "bad line {:?}", line);
        }
        // Every CR is immediately followed by LF and every LF preceded by CR.
        for (i, b) in out.iter().enumerate() {
            if *b == b'\r' {
                prop_assert_eq!(out.get(i + 1), Some(&b'\n'));
            }
            if *b == b'\n' {
                prop_assert_eq!(out.get(i.wrapping_sub(1)), Some(&b'\r'));
            }
        }
        // The reply parser reads back the same number of replies.
        let text = String::from_utf8(out.clone()).unwrap();
        let mut parser = ReplyParser::new(4096, 64);
        let mut replies = 0;
        for line in text.split("\r\n").filter(|l| !l.is_empty()) {
            if parser.feed_line(line).unwrap().is_some() {
                replies += 1;
            }
        }
        prop_assert!(!parser.in_progress());
        let mut groups = 1;
        let mut code = first_code;
        for e in &entries[1..] {
            if let ReplyChainEntry::Coded { code: c, .. } = e
                && *c != code
            {
                groups += 1;
                code = *c;
            }
        }
        prop_assert_eq!(replies, groups);
    }

    #[test]
    fn port_round_trip(ip in any::<u32>(), port in 1_u16..) {
        let addr = SocketAddrV4::new(Ipv4Addr::from(ip), port);
        let line = format!("PORT {}", port_arg(addr));
        prop_assert_eq!(parse(line.as_bytes()), Ok(Command::Port(addr)));
        prop_assert_eq!(parse_pasv_reply(&pasv_reply_text(addr)), Some(addr));
    }

    #[test]
    fn eprt_round_trip(v4 in any::<u32>(), v6 in any::<u128>(), port in 1_u16.., six in any::<bool>()) {
        let addr = if six {
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(v6), port, 0, 0))
        } else {
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(v4), port))
        };
        let line = format!("EPRT {}", eprt_arg(addr));
        prop_assert_eq!(parse(line.as_bytes()), Ok(Command::Eprt(addr)));
    }

    #[test]
    fn epsv_round_trip(port in 1_u16..) {
        prop_assert_eq!(parse_epsv_reply(&epsv_reply_text(port)), Some(port));
    }

    #[test]
    fn reply_side_parsers_never_panic(text in "(?s).{0,80}") {
        let _ = parse_pasv_reply(&text);
        let _ = parse_epsv_reply(&text);
        let _ = proto_ftp::address::parse_eprt(&text);
        let mut parser = ReplyParser::new(64, 4);
        for line in text.split('\n') {
            let _ = parser.feed_line(line);
        }
    }
}
