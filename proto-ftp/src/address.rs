//! Data-connection address codecs: PORT, PASV, EPRT and EPSV.
//!
//! RFC 959 §4.1.2 (PORT): "A port command would be: PORT
//! h1,h2,h3,h4,p1,p2 where h1 is the high order 8 bits of the internet host
//! address." The 227 reply to PASV carries the same six numbers.
//!
//! RFC 2428 §2 (EPRT): "The EPRT command keyword MUST be followed by a
//! single space (ASCII 32). Following the space, a delimiter character
//! (`<d>`) MUST be specified. The delimiter character MUST be one of the
//! ASCII characters in range 33-126 inclusive." The argument is
//! `<d><net-prt><d><net-addr><d><tcp-port><d>`, where net-prt 1 is IPv4 and
//! 2 is IPv6. RFC 2428 §3 (EPSV) replies `229 Entering Extended Passive
//! Mode (|||port|)`.
//!
//! The argument parsers here are shared by [`crate::parser`] (server side)
//! and by an upstream client (reply side).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Text of a 227 reply: `Entering Passive Mode (h1,h2,h3,h4,p1,p2).`
#[must_use]
pub fn pasv_reply_text(addr: SocketAddrV4) -> String {
    format!("Entering Passive Mode ({}).", port_arg(addr))
}

/// Text of a 229 reply: `Entering Extended Passive Mode (|||port|)`.
#[must_use]
pub fn epsv_reply_text(port: u16) -> String {
    format!("Entering Extended Passive Mode (|||{port}|)")
}

/// Formats a PORT argument: `h1,h2,h3,h4,p1,p2`.
#[must_use]
pub fn port_arg(addr: SocketAddrV4) -> String {
    let [h1, h2, h3, h4] = addr.ip().octets();
    let [p1, p2] = addr.port().to_be_bytes();
    format!("{h1},{h2},{h3},{h4},{p1},{p2}")
}

/// Formats an EPRT argument: `|1|addr|port|` for IPv4, `|2|addr|port|` for
/// IPv6 (an IPv6 scope id is not representable and is dropped).
#[must_use]
pub fn eprt_arg(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("|1|{}|{}|", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("|2|{}|{}|", a.ip(), a.port()),
    }
}

/// Parses the six comma-separated numbers `h1,h2,h3,h4,p1,p2` (each
/// 0..=255, spaces around the whole and around each number tolerated).
/// Used for the PORT argument and inside 227 replies.
#[must_use]
pub fn parse_port_tuple(s: &str) -> Option<SocketAddrV4> {
    let mut parts = s.trim().split(',');
    let mut n = [0u8; 6];
    for slot in &mut n {
        *slot = parse_octet(parts.next()?.trim())?;
    }
    if parts.next().is_some() {
        return None;
    }
    let ip = Ipv4Addr::new(n[0], n[1], n[2], n[3]);
    Some(SocketAddrV4::new(ip, u16::from_be_bytes([n[4], n[5]])))
}

/// Parses the address out of a 227 reply text (for an upstream client).
///
/// Tries the first `(...)` group, then the first run of digits and commas
/// that forms six numbers, so that both `Entering Passive Mode
/// (10,0,0,1,4,1).` and servers that omit the parentheses work.
#[must_use]
pub fn parse_pasv_reply(text: &str) -> Option<SocketAddrV4> {
    if let Some(open) = text.find('(') {
        let inner = &text[open + 1..];
        if let Some(addr) = inner.find(')').and_then(|close| parse_port_tuple(&inner[..close])) {
            return Some(addr);
        }
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let run_len = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b',')
            .count();
        let end = i + run_len;
        if let Some(addr) = text.get(i..end).and_then(parse_port_tuple) {
            return Some(addr);
        }
        i = end;
    }
    None
}

/// Parses the port out of a 229 reply text: `... (|||port|)`. Any delimiter
/// in ASCII 33..=126 other than a digit is accepted, as RFC 2428 allows.
#[must_use]
pub fn parse_epsv_reply(text: &str) -> Option<u16> {
    let open = text.find('(')?;
    let rest = &text[open + 1..];
    let d = rest.chars().next()?;
    if !is_delimiter(d) || d.is_ascii_digit() {
        return None;
    }
    let rest = rest.strip_prefix(d)?.strip_prefix(d)?.strip_prefix(d)?;
    let (port, after) = rest.split_once(d)?;
    if !after.starts_with(')') {
        return None;
    }
    parse_tcp_port(port)
}

/// Why an EPRT argument was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EprtError {
    /// The network protocol number is neither 1 (IPv4) nor 2 (IPv6). The
    /// server answers `522 Network protocol not supported, use (1,2)`.
    UnsupportedProtocol,
    /// The argument is malformed (the reason never contains client bytes).
    Malformed(&'static str),
}

/// Parses an EPRT argument `<d><af><d><addr><d><port><d>` (surrounding
/// spaces tolerated). `af` 1 needs an IPv4 address, 2 an IPv6 address; the
/// port must be 1..=65535.
pub fn parse_eprt(s: &str) -> Result<SocketAddr, EprtError> {
    let s = s.trim();
    let Some(d) = s.chars().next().filter(|c| is_delimiter(*c)) else {
        return Err(EprtError::Malformed("bad delimiter"));
    };
    let mut parts = s.split(d);
    let (Some(""), Some(af), Some(addr), Some(port), Some(""), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(EprtError::Malformed("expected <d>proto<d>address<d>port<d>"));
    };
    let port = parse_tcp_port(port).ok_or(EprtError::Malformed("bad port"))?;
    match af {
        "1" => addr
            .parse::<Ipv4Addr>()
            .map(|ip| SocketAddr::V4(SocketAddrV4::new(ip, port)))
            .map_err(|_| EprtError::Malformed("bad IPv4 address")),
        "2" => addr
            .parse::<Ipv6Addr>()
            .map(|ip| SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0)))
            .map_err(|_| EprtError::Malformed("bad IPv6 address")),
        _ if is_decimal(af) => Err(EprtError::UnsupportedProtocol),
        _ => Err(EprtError::Malformed("bad network protocol")),
    }
}

/// `true` if `s` is non-empty and all ASCII digits (no sign, no spaces).
pub(crate) fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// RFC 2428 delimiter: an ASCII character in 33..=126.
fn is_delimiter(c: char) -> bool {
    ('!'..='~').contains(&c)
}

/// One number 0..=255 of a PORT tuple.
fn parse_octet(s: &str) -> Option<u8> {
    if s.len() > 3 || !is_decimal(s) {
        return None;
    }
    s.parse().ok()
}

/// A TCP port 1..=65535 in decimal.
fn parse_tcp_port(s: &str) -> Option<u16> {
    if s.len() > 5 || !is_decimal(s) {
        return None;
    }
    s.parse().ok().filter(|p| *p != 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected values")]

    use super::*;

    #[test]
    fn formats() {
        let a = SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 2), 0x1389);
        assert_eq!(port_arg(a), "192,168,1,2,19,137");
        assert_eq!(pasv_reply_text(a), "Entering Passive Mode (192,168,1,2,19,137).");
        assert_eq!(epsv_reply_text(6446), "Entering Extended Passive Mode (|||6446|)");
        assert_eq!(eprt_arg(SocketAddr::V4(a)), "|1|192.168.1.2|5001|");
        let v6: SocketAddr = "[2001:db8::1]:21".parse().unwrap();
        assert_eq!(eprt_arg(v6), "|2|2001:db8::1|21|");
    }

    #[test]
    fn pasv_reply_variants() {
        let want = Some(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1025));
        assert_eq!(parse_pasv_reply("Entering Passive Mode (10,0,0,1,4,1)."), want);
        assert_eq!(parse_pasv_reply("Entering Passive Mode 10,0,0,1,4,1"), want);
        assert_eq!(parse_pasv_reply("=10,0,0,1,4,1"), want);
        assert_eq!(parse_pasv_reply("Mode (x) 10,0,0,1,4,1"), want);
        assert_eq!(parse_pasv_reply("Entering Passive Mode (10,0,0,1,4)."), None);
        assert_eq!(parse_pasv_reply("(10,0,0,1,4,256)"), None);
        assert_eq!(parse_pasv_reply("é(1,2"), None);
    }

    #[test]
    fn epsv_reply_variants() {
        assert_eq!(
            parse_epsv_reply("Entering Extended Passive Mode (|||6446|)"),
            Some(6446)
        );
        assert_eq!(parse_epsv_reply("ok (!!!21!)"), Some(21));
        assert_eq!(parse_epsv_reply("(|||0|)"), None);
        assert_eq!(parse_epsv_reply("(|||65536|)"), None);
        assert_eq!(parse_epsv_reply("(||6446|)"), None);
        assert_eq!(parse_epsv_reply("(|||6446|"), None);
        assert_eq!(parse_epsv_reply("no parens"), None);
    }

    #[test]
    fn eprt_variants() {
        assert_eq!(
            parse_eprt("|1|132.235.1.2|6275|"),
            Ok("132.235.1.2:6275".parse().unwrap())
        );
        assert_eq!(
            parse_eprt(" |2|1080::8:800:200C:417A|5282| "),
            Ok("[1080::8:800:200C:417A]:5282".parse().unwrap())
        );
        assert_eq!(parse_eprt("!1!10.0.0.1!21!"), Ok("10.0.0.1:21".parse().unwrap()));
        assert_eq!(parse_eprt("|3|x|21|"), Err(EprtError::UnsupportedProtocol));
        assert!(matches!(parse_eprt("|1|::1|21|"), Err(EprtError::Malformed(_))));
        assert!(matches!(parse_eprt("|2|10.0.0.1|21|"), Err(EprtError::Malformed(_))));
        assert!(matches!(parse_eprt("|1|10.0.0.1|0|"), Err(EprtError::Malformed(_))));
        assert!(matches!(parse_eprt("|1|10.0.0.1|21"), Err(EprtError::Malformed(_))));
        assert!(matches!(parse_eprt("|1|10.0.0.1|21||"), Err(EprtError::Malformed(_))));
        assert!(matches!(parse_eprt("|x|10.0.0.1|21|"), Err(EprtError::Malformed(_))));
        assert!(matches!(parse_eprt(""), Err(EprtError::Malformed(_))));
    }
}
