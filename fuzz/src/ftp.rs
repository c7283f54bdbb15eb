//! FTP control channel: the line framer and command parser (server side), and
//! the reply parser (client side, used against upstream servers).

use crate::{Input, chunks};
use bytes::BytesMut;
use proto_ftp::address::{eprt_arg, epsv_reply_text, parse_epsv_reply, parse_pasv_reply, pasv_reply_text, port_arg};
use proto_ftp::reply_parser::{ParsedReply, ReplyParser};
use proto_ftp::{Command, FrameError, LineFramer, ParseError, ReplyChainEntry, encode_chain, parse};

/// What the framer may leave in the caller's buffer: an incomplete Telnet
/// sequence (IAC + verb).
const SLACK: usize = 2;

/// What framing a byte stream gave: each line or error, in order.
type Framed = Vec<Result<proto_ftp::Line, FrameError>>;

/// Frames `parts` in order with a fresh framer; asserts the per-call bounds.
fn frame_all(max: usize, parts: &[Vec<u8>]) -> Framed {
    let mut framer = LineFramer::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for part in parts {
        buf.extend_from_slice(part);
        loop {
            match framer.next_line(&mut buf) {
                Ok(Some(line)) => {
                    assert!(
                        line.bytes.len() <= max,
                        "line of {} bytes over max_len {max}",
                        line.bytes.len()
                    );
                    assert!(!line.bytes.contains(&b'\n'), "LF inside a framed line");
                    out.push(Ok(line));
                }
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(e, FrameError::LineTooLong { max });
                    assert!(framer.is_discarding(), "an over-long line is discarded until LF");
                    out.push(Err(e));
                }
            }
        }
        assert!(buf.len() <= SLACK, "framer left {} bytes in the buffer", buf.len());
        assert!(
            framer.partial_len() <= max + 1,
            "partial line {} over max_len {max} + CR",
            framer.partial_len()
        );
    }
    out
}

/// The FTP control framer + command parser.
///
/// Input: `[max selector][cut count][cuts: u16 each]` then the wire bytes.
///
/// - Framing gives the same lines, urgent flags and errors for one push, for
///   arbitrary split points and (for short inputs) byte by byte.
/// - No line is longer than `max_len` or holds LF; the buffer keeps at most an
///   incomplete Telnet sequence; the partial line stays within `max_len` + 1.
/// - Each line (and the raw input) goes through [`check_parse`].
pub fn ftp_control(data: &[u8]) {
    let mut input = Input::new(data);
    let max = match input.byte() {
        b @ 0..200 => usize::from(b % 80),
        b => 80 + usize::from(b - 200) * 40,
    };
    let ncuts = input.byte() % 8;
    let cuts: Vec<usize> = (0..ncuts).map(|_| usize::from(input.u16())).collect();
    let wire = input.rest();

    let whole = frame_all(max, &[wire.to_vec()]);
    let split = frame_all(max, &chunks(wire, &cuts));
    assert_eq!(whole, split, "framing depends on how the bytes arrive");
    if wire.len() <= 512 {
        let bytewise: Vec<Vec<u8>> = wire.iter().map(|b| vec![*b]).collect();
        assert_eq!(whole, frame_all(max, &bytewise), "byte-by-byte framing differs");
    }
    // Every LF ends exactly one line or one over-long line's discard: the
    // number of lines never exceeds the number of LFs.
    let lfs = wire.iter().filter(|b| **b == b'\n').count();
    assert!(whole.iter().filter(|r| r.is_ok()).count() <= lfs);

    for line in whole.iter().flatten() {
        check_parse(&line.bytes);
    }
    check_parse(wire);
}

/// Every string a command carries (paths, names, arguments, secrets).
fn strings(cmd: &Command) -> Vec<&str> {
    use Command as C;
    match cmd {
        C::User { name } => vec![name],
        C::Pass { password } => vec![password.expose()],
        C::Acct { account } => vec![account.expose()],
        C::Opts { option, value } => {
            let mut v = vec![option.as_str()];
            v.extend(value.as_deref());
            v
        }
        C::Cwd { path }
        | C::Retr { path }
        | C::Stor { path }
        | C::Appe { path }
        | C::Size { path }
        | C::Mdtm { path }
        | C::Mfmt { path, .. }
        | C::Dele { path }
        | C::Mkd { path }
        | C::Rmd { path }
        | C::Rnfr { path }
        | C::Rnto { path } => vec![path],
        C::Mff { others, path, .. } => {
            let mut v: Vec<&str> = others.iter().map(String::as_str).collect();
            v.push(path);
            v
        }
        C::List { path }
        | C::Nlst { path }
        | C::Mlsd { path }
        | C::Mlst { path }
        | C::Stou { path }
        | C::Stat { path } => path.iter().map(String::as_str).collect(),
        C::Help { topic } => topic.iter().map(String::as_str).collect(),
        C::Site { sub, args } => vec![sub, args],
        C::Auth { mechanism } => vec![mechanism],
        C::Host { host } => vec![host],
        C::Other { verb, args } => vec![verb, args],
        _ => Vec::new(),
    }
}

/// Renders a command back to a control line for the commands whose argument
/// is carried verbatim (or canonically), `None` for the others.
fn render(cmd: &Command) -> Option<String> {
    use Command as C;
    Some(match cmd {
        C::User { name } => format!("USER {name}"),
        C::Cwd { path } => format!("CWD {path}"),
        C::Retr { path } => format!("RETR {path}"),
        C::Stor { path } => format!("STOR {path}"),
        C::Appe { path } => format!("APPE {path}"),
        C::Size { path } => format!("SIZE {path}"),
        C::Mdtm { path } => format!("MDTM {path}"),
        C::Dele { path } => format!("DELE {path}"),
        C::Mkd { path } => format!("MKD {path}"),
        C::Rmd { path } => format!("RMD {path}"),
        C::Rnfr { path } => format!("RNFR {path}"),
        C::Rnto { path } => format!("RNTO {path}"),
        C::Host { host } => format!("HOST {host}"),
        C::Mlsd { path: Some(p) } => format!("MLSD {p}"),
        C::Mlst { path: Some(p) } => format!("MLST {p}"),
        C::Stou { path: Some(p) } => format!("STOU {p}"),
        C::Stat { path: Some(p) } => format!("STAT {p}"),
        C::Help { topic: Some(t) } => format!("HELP {t}"),
        C::Rest { offset } => format!("REST {offset}"),
        C::Pbsz { size } => format!("PBSZ {size}"),
        C::Port(a) => format!("PORT {}", port_arg(*a)),
        C::Eprt(a) => format!("EPRT {}", eprt_arg(*a)),
        C::Other { verb, args } if args.is_empty() => verb.clone(),
        C::Other { verb, args } => format!("{verb} {args}"),
        C::Quit | C::Rein | C::Syst | C::Noop | C::Feat | C::Pwd | C::Cdup | C::Pasv | C::Abor | C::Allo | C::Ccc => {
            cmd.verb().to_owned()
        }
        _ => return None,
    })
}

/// RFC 775 aliases.
fn canonical_alias(upper: &str) -> &str {
    match upper {
        "XPWD" => "PWD",
        "XCWD" => "CWD",
        "XCUP" => "CDUP",
        "XMKD" => "MKD",
        "XRMD" => "RMD",
        other => other,
    }
}

/// Properties of `parse` on one line:
///
/// - An error maps to 500, 501, 504 or 522, and its text (which may reach a
///   reply) holds no control character and no client byte beyond an
///   upper-cased verb of at most 8 letters.
/// - A command never carries NUL, nor LF when the line had none; CR can only
///   appear if the line had one (the framer keeps a lone CR by design; the
///   path layer refuses it, see the `vpath` target).
/// - The command's canonical verb is the line's first word, upper-cased and
///   de-aliased (or it is `Other` with that word).
/// - render → parse gives the same command (verbatim-argument commands,
///   REST/PBSZ numbers, PORT/EPRT addresses).
fn check_parse(line: &[u8]) {
    match parse(line) {
        Err(e) => {
            assert!(
                [500, 501, 504, 522].contains(&e.reply_code()),
                "{e:?} maps to {}",
                e.reply_code()
            );
            let text = e.to_string();
            assert!(
                !text.chars().any(char::is_control),
                "control character in error text {text:?}"
            );
            if let ParseError::NulInUnknownCommand { verb } = &e {
                assert!(
                    (1..=8).contains(&verb.len()) && verb.bytes().all(|b| b.is_ascii_uppercase()),
                    "client bytes in an error: {verb:?}"
                );
            }
        }
        Ok(cmd) => {
            let text = std::str::from_utf8(line).expect("parse accepted invalid UTF-8");
            for s in strings(&cmd) {
                assert!(!s.contains('\0'), "NUL in {cmd:?}");
                assert!(text.contains('\n') || !s.contains('\n'), "LF appeared in {cmd:?}");
                assert!(text.contains('\r') || !s.contains('\r'), "CR appeared in {cmd:?}");
            }
            let first = text.split(' ').next().unwrap_or_default().to_ascii_uppercase();
            match &cmd {
                Command::Other { verb, .. } => assert_eq!(verb, &first),
                _ => assert_eq!(cmd.verb(), canonical_alias(&first), "verb of {cmd:?}"),
            }
            if let Some(rendered) = render(&cmd) {
                assert_eq!(parse(rendered.as_bytes()), Ok(cmd), "render → parse of {rendered:?}");
            }
        }
    }
}

/// Replaces CR and LF by spaces, as the reply encoder does.
fn flatten(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// Renders a parsed reply with the server's encoder: first and last line
/// coded, the middle lines as continuations.
fn render_reply(reply: &ParsedReply) -> Vec<u8> {
    let mut entries = Vec::new();
    let n = reply.lines.len();
    for (i, line) in reply.lines.iter().enumerate() {
        entries.push(if i == 0 || i + 1 == n {
            ReplyChainEntry::Coded {
                code: reply.code,
                text: line,
            }
        } else {
            ReplyChainEntry::Dup { text: line }
        });
    }
    let mut out = Vec::new();
    encode_chain(&entries, &mut out);
    out
}

/// The FTP reply parser, fed lines framed the way the upstream client frames
/// them.
///
/// Input: `[max_line selector][max_lines selector]` then the server's bytes.
///
/// - A reply has a code in 100..=599, 1..=max_lines lines, each within
///   max_line; `Ok(None)` means a reply is open, an error leaves none open.
/// - Rendering a parsed reply with `encode_chain` and parsing it again gives
///   the same code and lines (CR/LF flattened to spaces by the encoder; the
///   encoder's continuation lines gain their one leading space).
/// - PASV and EPSV texts: what parses renders and parses back to itself.
pub fn ftp_reply(data: &[u8]) {
    let mut input = Input::new(data);
    let max_line = 4 + usize::from(input.byte()) * 4;
    let max_lines = 1 + usize::from(input.byte() % 32);
    let wire = input.rest();

    let mut framer = LineFramer::new(8192);
    let mut buf = BytesMut::from(wire);
    let mut parser = ReplyParser::new(max_line, max_lines);
    loop {
        let line = match framer.next_line(&mut buf) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(_) => continue,
        };
        let Ok(text) = std::str::from_utf8(&line.bytes) else {
            continue;
        };
        check_address_replies(text);
        match parser.feed_line(text) {
            Ok(Some(reply)) => {
                assert!(!parser.in_progress());
                check_reply(&reply, max_line, max_lines);
            }
            Ok(None) => assert!(parser.in_progress(), "Ok(None) without an open reply"),
            Err(_) => assert!(!parser.in_progress(), "an error left a reply open"),
        }
    }
    check_address_replies(&String::from_utf8_lossy(wire));
}

fn check_reply(reply: &ParsedReply, max_line: usize, max_lines: usize) {
    assert!((100..=599).contains(&reply.code));
    assert!(
        (1..=max_lines).contains(&reply.lines.len()),
        "{} lines, limit {max_lines}",
        reply.lines.len()
    );
    assert!(reply.lines.iter().all(|l| l.len() <= max_line));

    let rendered = render_reply(reply);
    let mut framer = LineFramer::new(usize::MAX);
    let mut buf = BytesMut::from(&rendered[..]);
    let mut again = ReplyParser::new(max_line + 8, max_lines);
    let mut got = Vec::new();
    while let Some(line) = framer.next_line(&mut buf).expect("no limit") {
        let text = std::str::from_utf8(&line.bytes).expect("rendered reply is UTF-8");
        if let Some(r) = again.feed_line(text).expect("rendered reply parses") {
            got.push(r);
        }
    }
    assert!(buf.is_empty() && !again.in_progress());
    let n = reply.lines.len();
    let expected = ParsedReply {
        code: reply.code,
        lines: reply
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 || i + 1 == n {
                    flatten(l)
                } else {
                    format!(" {}", flatten(l))
                }
            })
            .collect(),
    };
    assert_eq!(got, vec![expected], "render → parse of {rendered:?}");
}

fn check_address_replies(text: &str) {
    if let Some(addr) = parse_pasv_reply(text) {
        assert_eq!(parse_pasv_reply(&pasv_reply_text(addr)), Some(addr));
    }
    if let Some(port) = parse_epsv_reply(text) {
        assert_eq!(parse_epsv_reply(&epsv_reply_text(port)), Some(port));
    }
}
