//! HTTP clients of the gateway: `reqwest` requests with or without the user's
//! Basic credentials, the JSON directory listing (as a [`serde_json::Value`]), and
//! [`raw_http`], one HTTP/1.1 request written byte for byte (for paths that an URL
//! library would normalise before sending, such as `/%2e%2e/`) with the small
//! response parser it needs (status, headers, chunked bodies).

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Gateway, STEP, TRANSFER, within};

impl Gateway {
    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http_url)
    }

    /// A request without credentials.
    pub fn anonymous(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A request with the user's Basic credentials.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.anonymous(method, path)
            .basic_auth(&self.user, Some(&self.password))
    }

    /// `Authorization` header value for [`raw_http`].
    pub fn basic_auth(&self) -> String {
        format!(
            "Basic {}",
            base64(format!("{}:{}", self.user, self.password).as_bytes())
        )
    }

    /// A GET with credentials, answered (headers received) within [`STEP`].
    pub async fn get(&self, path: &str) -> reqwest::Response {
        within(
            &format!("GET {path}"),
            STEP,
            self.request(reqwest::Method::GET, path).send(),
        )
        .await
        .expect("GET")
    }

    /// A PUT of `body` with credentials; returns the status.
    pub async fn put(&self, path: &str, body: Vec<u8>) -> u16 {
        within(
            &format!("PUT {path}"),
            TRANSFER,
            self.request(reqwest::Method::PUT, path).body(body).send(),
        )
        .await
        .expect("PUT")
        .status()
        .as_u16()
    }

    /// A JSON directory listing (`Accept: application/json`), parsed (strictly:
    /// RFC 8259, nothing after the value but whitespace).
    pub async fn json_listing(&self, dir: &str) -> Value {
        let resp = within(
            &format!("GET {dir} (JSON)"),
            STEP,
            self.request(reqwest::Method::GET, dir)
                .header("Accept", "application/json")
                .send(),
        )
        .await
        .expect("GET listing");
        assert_eq!(resp.status().as_u16(), 200, "JSON listing of {dir}");
        let body = within("listing body", STEP, resp.text()).await.expect("listing body");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("the listing is not valid JSON ({e}): {body}"))
    }
}

/// A response read by [`raw_http`].
#[derive(Debug)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one HTTP/1.1 request with `target` exactly as given (no normalisation)
/// and `Connection: close`, and reads the whole response.
pub async fn raw_http(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> RawResponse {
    raw_http_from(None, addr, method, target, headers).await
}

/// [`raw_http`] from the local address `local` (e.g. 127.0.0.2, a client of its own).
pub async fn raw_http_from(
    local: Option<std::net::IpAddr>,
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> RawResponse {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let connect = async {
        let Some(ip) = local else {
            return TcpStream::connect(addr).await;
        };
        let socket = if ip.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(ip, 0))?;
        socket.connect(addr).await
    };
    let mut stream = within("HTTP connect", STEP, connect).await.expect("HTTP connect");
    within("HTTP send", STEP, stream.write_all(req.as_bytes()))
        .await
        .expect("HTTP send");
    let mut raw = Vec::new();
    within("HTTP response", STEP, stream.read_to_end(&mut raw))
        .await
        .expect("HTTP response");
    parse_http_response(&raw, method == "HEAD").unwrap_or_else(|| {
        panic!(
            "unparsable HTTP response to {method} {target}: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// A whole HTTP/1.1 response (the answer to a HEAD request when `head`).
fn parse_http_response(raw: &[u8], head: bool) -> Option<RawResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head_text = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head_text.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head {
        Vec::new()
    } else if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Some(RawResponse { status, headers, body })
}

/// A chunked body (RFC 9112 §7.1) → its content; `None` when malformed or cut short.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Standard base64 with padding.
pub fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b"dualgate:pw"), "ZHVhbGdhdGU6cHc=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn responses_parse_with_chunked_bodies() {
        let r = parse_http_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            false,
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("TRANSFER-ENCODING"), Some("chunked"));
        assert_eq!(r.body, b"abc");
        let r = parse_http_response(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n", true).unwrap();
        assert_eq!((r.status, r.body.len()), (404, 0));
        assert!(parse_http_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", false).is_none());
    }

    /// The listing is parsed with `serde_json`, which is as strict as the tests need.
    #[test]
    fn json_listings_parse_strictly() {
        let j: Value = serde_json::from_str(r#"[{"name":"a\"b","size":12,"is_dir":false,"x":null}]"#).unwrap();
        assert_eq!(j[0]["name"].as_str(), Some("a\"b"));
        assert_eq!(j[0]["size"].as_u64(), Some(12));
        for bad in ["[1,]", "{a:1}", "[1] x", "[\"\\ud800\"]", "[01]"] {
            assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad} accepted");
        }
    }
}
