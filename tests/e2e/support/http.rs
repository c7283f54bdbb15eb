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

/// Sends `request` byte for byte (it should ask for `Connection: close`) and
/// reads the whole response until the server closes the connection.
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = within("HTTP connect", STEP, TcpStream::connect(addr))
        .await
        .expect("HTTP connect");
    within("HTTP send", STEP, stream.write_all(request))
        .await
        .expect("HTTP send");
    let mut raw = Vec::new();
    // A reset after the response (the server did not read the whole request) is
    // the end of the response as well.
    let mut buf = [0u8; 16 * 1024];
    loop {
        match within("HTTP response", STEP, stream.read(&mut buf)).await {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the HTTP response: {e}"),
        }
    }
    let head = request.starts_with(b"HEAD ");
    parse_http_response(&raw, head)
        .unwrap_or_else(|| panic!("unparsable HTTP response: {:?}", String::from_utf8_lossy(&raw)))
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

/// The `boundary` parameter of a `multipart/byteranges` Content-Type (quoted or not).
pub fn multipart_boundary(content_type: &str) -> Option<String> {
    let (media, params) = content_type.split_once(';')?;
    if !media.trim().eq_ignore_ascii_case("multipart/byteranges") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// One body part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The content, exactly.
    pub body: Vec<u8>,
}

impl Part {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Splits a multipart body (RFC 2046 §5.1.1) into its parts: a delimiter is
/// `--boundary` at the start of the body or after CRLF, each part is headers,
/// an empty line and the content up to the CRLF of the next delimiter, and the
/// last delimiter is followed by `--`. `None` when the body is not that (no
/// closing delimiter, a part without its empty line, …). Only whitespace may
/// follow the closing delimiter.
pub fn parse_multipart(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    let dash = format!("--{boundary}").into_bytes();
    let next_delimiter = |from: usize| -> Option<usize> {
        let mut crlf_dash = b"\r\n".to_vec();
        crlf_dash.extend_from_slice(&dash);
        body.get(from..)?
            .windows(crlf_dash.len())
            .position(|w| w == crlf_dash.as_slice())
            .map(|i| from + i + 2)
    };
    let mut at = if body.starts_with(&dash) { 0 } else { next_delimiter(0)? };
    let mut parts = Vec::new();
    loop {
        at += dash.len();
        let rest = body.get(at..)?;
        if let Some(after) = rest.strip_prefix(b"--") {
            return after.iter().all(u8::is_ascii_whitespace).then_some(parts);
        }
        // Transport padding (linear white space) may follow a delimiter.
        let pad = rest.iter().take_while(|b| **b == b' ' || **b == b'\t').count();
        if !rest[pad..].starts_with(b"\r\n") {
            return None;
        }
        let start = at + pad + 2;
        let end = next_delimiter(start)? - 2; // the CRLF before the delimiter belongs to it
        let part = &body[start..end];
        let (head, content) = if part.starts_with(b"\r\n") {
            (&part[..0], &part[2..])
        } else {
            let split = part.windows(4).position(|w| w == b"\r\n\r\n")?;
            (&part[..split], &part[split + 4..])
        };
        let headers = std::str::from_utf8(head)
            .ok()?
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once(':')?;
                Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            })
            .collect::<Option<Vec<_>>>()?;
        parts.push(Part {
            headers,
            body: content.to_vec(),
        });
        at = end + 2;
    }
}

/// `bytes FIRST-LAST/SIZE` (RFC 9110 §14.4) → (first, last, size).
pub fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.strip_prefix("bytes ")?;
    let (range, size) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last, size) = (first.parse().ok()?, last.parse().ok()?, size.parse().ok()?);
    (first <= last && last < size).then_some((first, last, size))
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

    #[test]
    fn multipart_bodies_split_exactly() {
        let body = b"\r\n--B\r\nContent-Type: a/b\r\nContent-Range: bytes 0-2/9\r\n\r\nx\r\ny\r\n--B \r\nContent-Range: bytes 5-5/9\r\n\r\n--\r\n--B--\r\n";
        let parts = parse_multipart(body, "B").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].header("content-type"), Some("a/b"));
        assert_eq!(parts[0].body, b"x\r\ny");
        assert_eq!(parts[1].header("content-range"), Some("bytes 5-5/9"));
        assert_eq!(parts[1].body, b"--");
        assert!(
            parse_multipart(b"--B\r\n\r\nabc\r\n--B", "B").is_none(),
            "no closing delimiter"
        );
        assert!(
            parse_multipart(b"--B\r\nX: y\r\nabc\r\n--B--", "B").is_none(),
            "no empty line"
        );
        assert_eq!(
            parse_multipart(b"--B\r\n\r\nabc\r\n--B--", "B").unwrap()[0].body,
            b"abc"
        );
        assert_eq!(
            multipart_boundary("multipart/byteranges; boundary=\"x y\""),
            Some("x y".to_owned())
        );
        assert_eq!(multipart_boundary("multipart/mixed; boundary=x"), None);
        assert_eq!(parse_content_range("bytes 0-2/9"), Some((0, 2, 9)));
        assert_eq!(parse_content_range("bytes 3-2/9"), None);
        assert_eq!(parse_content_range("bytes 0-9/9"), None);
        assert_eq!(parse_content_range("bytes */9"), None);
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
