//! Targets on the root package (feature `dualgate`): virtual paths and the
//! PROXY protocol header.

use crate::Input;
use dualgate::frontend::proxy::{Header, parse as parse_proxy};
use dualgate::path::{MAX_NAME_LEN, MAX_PATH_LEN, PathError, VirtualPath, validate_name};
use proto_http::decode_request_path;
use std::net::{IpAddr, SocketAddr};

/// The documented invariants of a [`VirtualPath`] (length checked separately
/// because `nest` does not bound it).
fn check_invariants(p: &VirtualPath, check_len: bool) {
    let s = p.as_str();
    assert!(s.starts_with('/'), "{s:?} is not absolute");
    assert!(s == "/" || !s.ends_with('/'), "{s:?} has a trailing /");
    for c in s[1..].split('/').filter(|_| s != "/") {
        assert!(!matches!(c, "" | "." | ".."), "{s:?} has an empty, . or .. component");
        assert_eq!(validate_name(c), Ok(()), "{s:?} has an invalid name");
        assert!(!c.bytes().any(|b| b < 0x20 || b == 0x7f));
    }
    if check_len {
        assert!(s.len() <= MAX_PATH_LEN, "{} bytes", s.len());
    }
    assert_eq!(p.relative(), &s[1..]);
    assert_eq!(p.is_root(), s == "/");
}

/// Reference model of `resolve`: RFC 3986 §5.2.4-style removal of dot
/// segments, clamped at the root, names checked in order, length last.
fn model_resolve(cwd: &VirtualPath, input: &str) -> Result<String, PathError> {
    let mut stack: Vec<&str> = if input.starts_with('/') {
        Vec::new()
    } else {
        cwd.components().collect()
    };
    for c in input.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            name => {
                if name.bytes().any(|b| b < 0x20 || b == 0x7f) {
                    return Err(PathError::ControlCharacter);
                }
                if name.len() > MAX_NAME_LEN {
                    return Err(PathError::NameTooLong);
                }
                stack.push(name);
            }
        }
    }
    let out = if stack.is_empty() {
        "/".to_owned()
    } else {
        stack.iter().map(|c| format!("/{c}")).collect()
    };
    if out.len() > MAX_PATH_LEN {
        return Err(PathError::PathTooLong);
    }
    Ok(out)
}

/// Virtual-path normalisation (`dualgate::path`), alone and behind the FTP
/// parser and the HTTP request-path decoder.
///
/// Input: `[cwd length / 2][cwd text]` then the client's path (lossy UTF-8).
///
/// - `resolve` agrees with a dot-segment model clamped at the root (result
///   and error kind); a result starts with `/`, has no empty, `.` or `..`
///   component, no control character, and fits `MAX_PATH_LEN`: nothing can
///   leave the user's root.
/// - Idempotence: resolving the result again, from any directory, gives it
///   back; so do `parse_absolute` and `parent().join_name(file_name)`.
/// - `home.nest(p)` stays beneath `home`; `p` is beneath its parent.
/// - The path an FTP `RETR` line yields, and the path an HTTP request path
///   decodes to (`%2e%2e`, `%2f` included), resolve inside the root as well,
///   and a CR, LF or NUL in either never survives resolution.
pub fn vpath(data: &[u8]) {
    let mut input = Input::new(data);
    let cwd_len = usize::from(input.byte()) * 2;
    let cwd_text = String::from_utf8_lossy(input.take(cwd_len)).into_owned();
    let raw = input.rest();
    let text = String::from_utf8_lossy(raw).into_owned();

    let cwd = VirtualPath::parse_absolute(&cwd_text).unwrap_or_else(|_| VirtualPath::root());
    check_invariants(&cwd, true);
    let root = VirtualPath::root();

    let got = VirtualPath::resolve(&cwd, &text);
    let want = model_resolve(&cwd, &text);
    assert_eq!(
        got.as_ref().map(VirtualPath::as_str).map_err(|e| *e),
        want.as_deref().map_err(|e| *e),
        "resolve({cwd:?}, {text:?})"
    );
    if let Ok(p) = &got {
        check_invariants(p, true);
        assert_eq!(
            VirtualPath::resolve(&root, p.as_str()).as_ref(),
            Ok(p),
            "not idempotent from /"
        );
        assert_eq!(
            VirtualPath::resolve(&cwd, p.as_str()).as_ref(),
            Ok(p),
            "not idempotent from cwd"
        );
        assert_eq!(VirtualPath::parse_absolute(p.as_str()).as_ref(), Ok(p));
        let parent = p.parent();
        check_invariants(&parent, true);
        assert!(p.starts_with(&parent) && p.starts_with(&root));
        match p.file_name() {
            None => assert!(p.is_root()),
            Some(name) => assert_eq!(parent.join_name(name).as_ref(), Ok(p)),
        }
        let nested = cwd.nest(p);
        check_invariants(&nested, false);
        assert!(nested.starts_with(&cwd), "{nested:?} escapes {cwd:?}");
    }

    // Through the FTP parser: RETR <path>.
    let mut line = b"RETR ".to_vec();
    line.extend_from_slice(raw);
    if let Ok(proto_ftp::Command::Retr { path }) = proto_ftp::parse(&line)
        && let Ok(p) = VirtualPath::resolve(&cwd, &path)
    {
        check_invariants(&p, true);
        assert!(!p.as_str().contains(['\r', '\n', '\0']));
    }
    // Through the HTTP request-path decoder.
    if let Ok(d) = decode_request_path(&text, MAX_PATH_LEN * 3)
        && let Ok(p) = VirtualPath::resolve(&root, &d.path)
    {
        check_invariants(&p, true);
    }
}

/// The PROXY protocol v1/v2 header parser.
///
/// - `Ok(Some((h, n)))`: `n` is within the input; v1 headers end in CRLF
///   within 107 bytes; v2 headers are `16 + len` bytes; `Proxied` comes only
///   from v1 TCP4/TCP6 with a matching family, or v2 PROXY with family 0x11
///   (≥ 12 address bytes) or 0x21 (≥ 36), and carries the address written.
/// - Streaming: over growing prefixes the answer is `Ok(None)` until it is
///   decided, and then never changes (more bytes cannot change a verdict, and
///   a header is never read past its end).
pub fn proxy_header(data: &[u8]) {
    let full = parse_proxy(data);
    if let Ok(Some((header, n))) = &full {
        let n = *n;
        assert!(n <= data.len());
        if data.starts_with(b"PROXY ") {
            assert!(n <= 107 && data[..n].ends_with(b"\r\n"), "v1 header of {n} bytes");
            if let Header::Proxied { source } = header {
                let line = std::str::from_utf8(&data[..n - 2]).unwrap();
                let words: Vec<&str> = line.split(' ').collect();
                assert_eq!(words.len(), 6, "{line:?}");
                assert_eq!(words[1] == "TCP4", source.is_ipv4());
                assert_eq!(words[2].parse::<IpAddr>().ok(), Some(source.ip()));
                assert_eq!(words[4].parse::<u16>().ok(), Some(source.port()));
            }
        } else {
            assert!(data.len() >= 16);
            let len = usize::from(u16::from_be_bytes([data[14], data[15]]));
            assert_eq!(n, 16 + len);
            assert_eq!(data[12] >> 4, 2);
            if let Header::Proxied { source } = header {
                let body = &data[16..n];
                assert_eq!(data[12] & 0x0f, 1, "Proxied from a LOCAL command");
                let expected = match data[13] {
                    0x11 if body.len() >= 12 => SocketAddr::from((
                        [body[0], body[1], body[2], body[3]],
                        u16::from_be_bytes([body[8], body[9]]),
                    )),
                    0x21 if body.len() >= 36 => {
                        let mut octets = [0u8; 16];
                        octets.copy_from_slice(&body[..16]);
                        SocketAddr::from((octets, u16::from_be_bytes([body[32], body[33]])))
                    }
                    other => panic!("Proxied from family {other:#x} with {} address bytes", body.len()),
                };
                assert_eq!(*source, expected);
            }
        }
    }
    // Streaming: Ok(None)* then one constant verdict.
    let check = |k: usize, decided: &mut Option<_>| {
        let r = parse_proxy(&data[..k]);
        match (&r, decided.as_ref()) {
            (Ok(None), None) => {}
            (Ok(None), Some(d)) => panic!("prefix {k} needs more bytes after the verdict {d:?}"),
            (_, None) => *decided = Some(r),
            (_, Some(d)) => assert_eq!(&r, d, "prefix {k} changed the verdict"),
        }
    };
    let mut decided = None;
    let limit = data.len().min(320);
    for k in 0..=limit {
        check(k, &mut decided);
    }
    if data.len() > limit {
        check(data.len(), &mut decided);
    }
    if let Ok(Some((_, n))) = &full {
        if *n > limit {
            let mut at_n = None;
            check(*n - 1, &mut at_n);
            assert_eq!(at_n, None, "decided before the header's end");
        }
    }
}
