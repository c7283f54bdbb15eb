//! PROXY protocol v1 and v2 (HAProxy's specification) on every listener: FTP
//! control, FTP passive data and HTTP.
//!
//! A connection from a trusted network (`proxy_protocol.trusted_networks`) must
//! start with a PROXY header; its source address then stands for the client
//! everywhere (connection limits, login throttling, the passive-connection peer
//! check, the advertised passive address, logs). A connection from anywhere else is
//! served as it is, and a PROXY header from it is refused: nobody but a trusted
//! proxy may claim another address. `LOCAL` headers (health checks of the proxy
//! itself) keep the proxy's own address.
//!
//! The parser ([`parse`]) is pure and bounded: v1 lines are at most 107 bytes, v2
//! headers at most 16 + 65,535 bytes, of which only the address block is read. The
//! socket is read with `peek` first, so not one byte past the header is consumed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::config::IpNetwork;

/// The v2 signature.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 line (the specification's limit, CRLF included).
const V1_MAX: usize = 107;
/// Time allowed for a trusted peer's header.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// What a header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The connection is relayed for this client.
    Proxied {
        /// The client's address.
        source: SocketAddr,
    },
    /// The proxy speaks for itself (`LOCAL`, `UNKNOWN`): keep the socket's peer.
    Local,
}

/// Why a header is unacceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// Not a PROXY header at all.
    #[error("no PROXY protocol header")]
    Missing,
    /// A header, but malformed.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
}

/// Parses a header at the start of `buf`: `Ok(Some((header, length)))`, `Ok(None)`
/// when more bytes are needed, or an error.
pub fn parse(buf: &[u8]) -> Result<Option<(Header, usize)>, ProxyError> {
    if buf.starts_with(b"PROXY ") {
        return parse_v1(buf);
    }
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] == V2_SIGNATURE[..n] {
        return if buf.len() < 16 { Ok(None) } else { parse_v2(buf) };
    }
    if b"PROXY ".starts_with(buf) {
        return Ok(None);
    }
    Err(ProxyError::Missing)
}

fn parse_v1(buf: &[u8]) -> Result<Option<(Header, usize)>, ProxyError> {
    let Some(end) = buf.windows(2).take(V1_MAX - 1).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Err(ProxyError::Malformed("v1 line too long"))
        } else {
            Ok(None)
        };
    };
    let line = std::str::from_utf8(&buf[..end]).map_err(|_| ProxyError::Malformed("v1 not ASCII"))?;
    let mut words = line.split(' ').skip(1);
    let header = match words.next() {
        Some("UNKNOWN") => Header::Local,
        Some(family @ ("TCP4" | "TCP6")) => {
            let (Some(src), Some(_dst), Some(sport), Some(_dport), None) =
                (words.next(), words.next(), words.next(), words.next(), words.next())
            else {
                return Err(ProxyError::Malformed("v1 needs four fields"));
            };
            let ip: IpAddr = src.parse().map_err(|_| ProxyError::Malformed("v1 source address"))?;
            if (family == "TCP4") != ip.is_ipv4() {
                return Err(ProxyError::Malformed("v1 address family"));
            }
            let port: u16 = sport.parse().map_err(|_| ProxyError::Malformed("v1 source port"))?;
            Header::Proxied {
                source: SocketAddr::new(ip, port),
            }
        }
        _ => return Err(ProxyError::Malformed("v1 protocol")),
    };
    Ok(Some((header, end + 2)))
}

fn parse_v2(buf: &[u8]) -> Result<Option<(Header, usize)>, ProxyError> {
    let version_command = buf[12];
    if version_command >> 4 != 2 {
        return Err(ProxyError::Malformed("v2 version"));
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let total = 16 + len;
    if buf.len() < total {
        return Ok(None);
    }
    let body = &buf[16..total];
    let header = match (version_command & 0x0f, buf[13]) {
        (0x0, _) => Header::Local,
        (0x1, 0x11) if body.len() >= 12 => {
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            let port = u16::from_be_bytes([body[8], body[9]]);
            Header::Proxied {
                source: SocketAddr::new(ip.into(), port),
            }
        }
        (0x1, 0x21) if body.len() >= 36 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&body[..16]);
            let port = u16::from_be_bytes([body[32], body[33]]);
            Header::Proxied {
                source: SocketAddr::new(Ipv6Addr::from(octets).into(), port),
            }
        }
        // UNSPEC or a non-TCP family: the proxy's own connection.
        (0x1, 0x00) => Header::Local,
        (0x1, _) => return Err(ProxyError::Malformed("v2 address family or length")),
        _ => return Err(ProxyError::Malformed("v2 command")),
    };
    Ok(Some((header, total)))
}

/// The PROXY protocol policy of the listeners.
#[derive(Debug, Clone, Default)]
pub struct ProxyPolicy {
    /// Peers that must send a header.
    pub trusted: Vec<IpNetwork>,
}

impl ProxyPolicy {
    /// True when `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(ip))
    }

    /// The client a new connection stands for: the socket's peer, or — from a
    /// trusted proxy — the header's source (the header is consumed). An error
    /// means the connection must be closed.
    pub async fn client(&self, stream: &mut TcpStream, peer: SocketAddr) -> Result<SocketAddr, ProxyError> {
        if !self.trusts(peer.ip()) {
            return Ok(peer);
        }
        match tokio::time::timeout(HEADER_TIMEOUT, read_header(stream)).await {
            Err(_) => Err(ProxyError::Missing),
            Ok(Err(e)) => Err(e),
            Ok(Ok(Header::Local)) => Ok(peer),
            Ok(Ok(Header::Proxied { source })) => Ok(source),
        }
    }
}

/// Reads exactly one header off `stream`.
async fn read_header(stream: &mut TcpStream) -> Result<Header, ProxyError> {
    let mut buf = vec![0u8; 16];
    loop {
        let seen = stream.peek(&mut buf).await.map_err(|_| ProxyError::Missing)?;
        if seen == 0 {
            return Err(ProxyError::Missing);
        }
        match parse(&buf[..seen])? {
            Some((header, len)) => {
                let mut consumed = vec![0u8; len];
                stream
                    .read_exact(&mut consumed)
                    .await
                    .map_err(|_| ProxyError::Missing)?;
                return Ok(header);
            }
            None if seen < buf.len() => {
                // Not all of it has arrived: wait for more.
                stream.readable().await.map_err(|_| ProxyError::Missing)?;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            None => {
                // Everything peeked is a prefix: look further (bounded by the v2 length).
                let want = if buf.starts_with(&V2_SIGNATURE) {
                    16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]))
                } else {
                    V1_MAX
                };
                buf.resize(want.max(buf.len() + 1).min(16 + 65_535), 0);
            }
        }
    }
}

/// True when a line a client sent as its first command is a PROXY v1 header: a
/// header from an untrusted peer, which the FTP session refuses. (A v2 header
/// contains `QUIT`, which ends the session by design.)
pub fn looks_like_header(line: &[u8]) -> bool {
    line.starts_with(b"PROXY ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(family);
        h.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    #[test]
    fn v1_headers() {
        let (h, n) = parse(b"PROXY TCP4 203.0.113.5 10.0.0.1 40000 21\r\nUSER x\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            h,
            Header::Proxied {
                source: "203.0.113.5:40000".parse().unwrap()
            }
        );
        assert_eq!(n, 42);
        let (h, _) = parse(b"PROXY TCP6 2001:db8::5 2001:db8::1 1234 80\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            h,
            Header::Proxied {
                source: "[2001:db8::5]:1234".parse().unwrap()
            }
        );
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap().unwrap().0, Header::Local);
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4").unwrap(), None, "incomplete");
        assert_eq!(parse(b"PRO").unwrap(), None, "a prefix");
        for bad in [
            &b"PROXY TCP4 2001:db8::5 1.2.3.4 1 2\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
        ] {
            assert!(matches!(parse(bad), Err(ProxyError::Malformed(_))), "{bad:?}");
        }
        assert!(parse(&[b'P', b'R', b'O', b'X', b'Y', b' ', b'x'].repeat(20)).is_err());
        assert_eq!(parse(b"USER anonymous\r\n"), Err(ProxyError::Missing));
    }

    #[test]
    fn v2_headers() {
        let body = [203, 0, 113, 5, 10, 0, 0, 1, 0x9c, 0x40, 0, 21];
        let (h, n) = parse(&v2(1, 0x11, &body)).unwrap().unwrap();
        assert_eq!(
            h,
            Header::Proxied {
                source: "203.0.113.5:40000".parse().unwrap()
            }
        );
        assert_eq!(n, 28);
        let mut body6 = [0u8; 36];
        body6[..16].copy_from_slice(&"2001:db8::5".parse::<Ipv6Addr>().unwrap().octets());
        body6[32..34].copy_from_slice(&443u16.to_be_bytes());
        assert_eq!(
            parse(&v2(1, 0x21, &body6)).unwrap().unwrap().0,
            Header::Proxied {
                source: "[2001:db8::5]:443".parse().unwrap()
            }
        );
        // TLVs after the addresses are skipped with the rest of the header.
        let mut with_tlv = body.to_vec();
        with_tlv.extend_from_slice(&[0x04, 0, 1, 0xff]);
        assert_eq!(parse(&v2(1, 0x11, &with_tlv)).unwrap().unwrap().1, 16 + 16);
        assert_eq!(parse(&v2(0, 0x00, &[])).unwrap().unwrap().0, Header::Local);
        assert_eq!(parse(&v2(1, 0x11, &body)[..20]).unwrap(), None, "incomplete");
        assert!(parse(&v2(1, 0x11, &body[..4])).is_err(), "short address block");
        let mut wrong_version = v2(1, 0x11, &body);
        wrong_version[12] = 0x11;
        assert!(parse(&wrong_version).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x1234_5678u32;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    (seed & 0xff) as u8
                })
                .collect();
            let _ = parse(&bytes);
            let mut prefixed = V2_SIGNATURE.to_vec();
            prefixed.extend_from_slice(&bytes);
            let _ = parse(&prefixed);
        }
    }
}
