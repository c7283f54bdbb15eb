//! WebDAV clients of the gateway: requests with any method (`PROPFIND`, `MKCOL`,
//! `COPY`, …) answered as a whole [`Reply`], and a namespace-aware reader of the
//! XML the server sends (`207 Multi-Status`, `DAV:error`), built on quick-xml's
//! `NsReader`: elements are compared by namespace URI and local name, never by
//! prefix, and entity references are resolved.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use reqwest::header::HeaderMap;

use super::{Gateway, STEP, within};

/// The WebDAV namespace.
pub const DAV: &str = "DAV:";

impl Gateway {
    /// A request with any method and the user's Basic credentials.
    pub fn dav(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        self.request(method_of(method), path)
    }

    /// A request with any method as `user` (Basic credentials `user:password`).
    pub fn dav_as(&self, user: &str, password: &str, method: &str, path: &str) -> reqwest::RequestBuilder {
        self.anonymous(method_of(method), path).basic_auth(user, Some(password))
    }

    /// `PROPFIND path` with `Depth: depth` and `body` (empty: allprop), as the
    /// gateway's user; asserts `207` with an XML body and returns its responses.
    pub async fn propfind(&self, path: &str, depth: &str, body: &str) -> Vec<DavResponse> {
        let reply = send(self.dav("PROPFIND", path).header("Depth", depth).body(body.to_owned())).await;
        reply.multistatus(&format!("PROPFIND {path} (Depth {depth})"))
    }
}

/// A method by name.
pub fn method_of(name: &str) -> reqwest::Method {
    reqwest::Method::from_bytes(name.as_bytes()).unwrap_or_else(|e| panic!("method {name:?}: {e}"))
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Vec<u8>,
    /// The HTTP version it came with.
    pub version: reqwest::Version,
}

impl Reply {
    /// A header's value as text (`None` when missing or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a `207` with an XML body and returns its responses.
    pub fn multistatus(&self, what: &str) -> Vec<DavResponse> {
        assert_eq!(self.status, 207, "{what}: {}", self.text());
        assert_xml_content_type(self, what);
        parse_multistatus(&self.body).unwrap_or_else(|e| panic!("{what}: {e}\n{}", self.text()))
    }
}

/// Asserts that the reply says it carries XML (RFC 4918 §8.2: `application/xml`
/// or `text/xml`).
pub fn assert_xml_content_type(reply: &Reply, what: &str) {
    let ctype = reply.header("content-type").unwrap_or_default().to_ascii_lowercase();
    let media = ctype.split(';').next().unwrap_or_default().trim();
    assert!(
        media == "application/xml" || media == "text/xml",
        "{what}: Content-Type {ctype:?} is not XML"
    );
}

/// A request with any method as `who` (`None`: without credentials), with extra
/// headers and an optional body, answered as a whole.
pub async fn call_as(
    gw: &Gateway,
    who: Option<(&str, &str)>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Reply {
    let mut request = match who {
        Some((user, password)) => gw.dav_as(user, password, method, path),
        None => gw.anonymous(method_of(method), path),
    };
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    send(request).await
}

/// Sends a request and reads the whole response, each within [`STEP`].
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let what = format!("{request:?}");
    let resp = within(&what, STEP, request.send())
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let version = resp.version();
    let body = within("response body", STEP, resp.bytes())
        .await
        .unwrap_or_else(|e| panic!("body of {what}: {e}"))
        .to_vec();
    Reply {
        status,
        headers,
        body,
        version,
    }
}

/// One XML element: expanded name, text content (concatenated, trimmed) and
/// child elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI (empty for none).
    pub ns: String,
    /// Local name.
    pub local: String,
    /// Text content directly inside the element, entities resolved, trimmed.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// Whether this element is `{ns}local`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }

    /// The children called `{ns}local`.
    pub fn all<'e>(&'e self, ns: &'e str, local: &'e str) -> impl Iterator<Item = &'e Element> + 'e {
        self.children.iter().filter(move |c| c.is(ns, local))
    }

    /// The only child called `{ns}local`; an error when there is none or several.
    pub fn one(&self, ns: &str, local: &str) -> Result<&Element, String> {
        let mut found = self.children.iter().filter(|c| c.is(ns, local));
        match (found.next(), found.next()) {
            (Some(e), None) => Ok(e),
            (None, _) => Err(format!("no {{{ns}}}{local} in {{{}}}{}", self.ns, self.local)),
            (Some(_), Some(_)) => Err(format!("several {{{ns}}}{local} in {{{}}}{}", self.ns, self.local)),
        }
    }
}

/// Parses a whole XML document into its root element: well-formed, namespaces
/// declared, one root, nothing but whitespace around it.
pub fn parse_xml(body: &[u8]) -> Result<Element, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("malformed XML: {e}"))?;
        let ns = match resolved {
            ResolveResult::Bound(ns) => Some(ns.as_ref().to_owned()),
            ResolveResult::Unbound => Some(String::new()),
            ResolveResult::Unknown(p) => return Err(format!("undeclared prefix {p:?}")),
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if root.is_some() {
                    return Err("a second root element".into());
                }
                let element = Element {
                    ns: ns.unwrap_or_default(),
                    local: e.local_name().as_ref().to_owned(),
                    text: String::new(),
                    children: Vec::new(),
                };
                if matches!(event, Event::Start(_)) {
                    stack.push(element);
                } else {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(element),
                        None => root = Some(element),
                    }
                }
            }
            Event::End(_) => {
                let mut done = stack.pop().ok_or("an end tag without a start")?;
                done.text = done.text.trim().to_owned();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let t = t.xml10_content();
                match stack.last_mut() {
                    Some(e) => e.text.push_str(&t),
                    None if t.trim().is_empty() => {}
                    None => return Err(format!("text outside the root element: {t:?}")),
                }
            }
            Event::CData(t) => {
                let e = stack.last_mut().ok_or("CDATA outside the root element")?;
                e.text.push_str(&t);
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| format!("bad character reference: {e}"))?
                        .map(String::from)
                } else {
                    quick_xml::escape::resolve_predefined_entity(&r.xml10_content()).map(str::to_owned)
                };
                let resolved = resolved.ok_or_else(|| format!("unknown entity {:?}", r.xml10_content()))?;
                stack
                    .last_mut()
                    .ok_or("a reference outside the root")?
                    .text
                    .push_str(&resolved);
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("unclosed element".into());
    }
    root.ok_or_else(|| "no root element".into())
}

/// One `<D:response>` of a multistatus.
#[derive(Debug, Clone)]
pub struct DavResponse {
    /// The href as sent (percent-encoded).
    pub href: String,
    /// A `<D:status>` of the response itself (not of a propstat), as a code.
    pub status: Option<u16>,
    /// The propstats.
    pub propstats: Vec<Propstat>,
}

/// One `<D:propstat>`: a status and the properties it covers.
#[derive(Debug, Clone)]
pub struct Propstat {
    /// The status code of its `HTTP/1.1 NNN Reason` line.
    pub status: u16,
    /// The property elements inside `<D:prop>`.
    pub props: Vec<Element>,
}

impl DavResponse {
    /// The path the href names, percent-decoded (an absolute URI's scheme and
    /// authority removed).
    pub fn path(&self) -> String {
        let path = match self.href.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => self.href.as_str(),
        };
        percent_decode(path).unwrap_or_else(|| panic!("href {:?} is not valid percent-encoded UTF-8", self.href))
    }

    /// The property `{ns}local` with the status of the propstat it is in.
    pub fn find(&self, ns: &str, local: &str) -> Option<(u16, &Element)> {
        self.propstats
            .iter()
            .find_map(|ps| ps.props.iter().find(|p| p.is(ns, local)).map(|p| (ps.status, p)))
    }

    /// The text of the `DAV:` property `local`, asserted to be under `200`.
    pub fn value(&self, local: &str) -> Option<&str> {
        let (status, prop) = self.find(DAV, local)?;
        assert_eq!(status, 200, "DAV:{local} of {} is under {status}", self.href);
        Some(&prop.text)
    }

    /// Whether `DAV:resourcetype` (under `200`) holds `DAV:collection`.
    pub fn is_collection(&self) -> bool {
        let (status, rt) = self
            .find(DAV, "resourcetype")
            .unwrap_or_else(|| panic!("no DAV:resourcetype for {}", self.href));
        assert_eq!(status, 200, "DAV:resourcetype of {}", self.href);
        rt.all(DAV, "collection").count() == 1
    }

    /// The names of the properties under `status`, as `{ns}local`.
    pub fn names_under(&self, status: u16) -> Vec<String> {
        let mut names: Vec<String> = self
            .propstats
            .iter()
            .filter(|ps| ps.status == status)
            .flat_map(|ps| ps.props.iter().map(|p| format!("{{{}}}{}", p.ns, p.local)))
            .collect();
        names.sort();
        names
    }
}

/// `HTTP/1.1 207 Multi-Status` → 207.
fn status_code(line: &str) -> Result<u16, String> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next().map(str::parse::<u16>)) {
        (Some(v), Some(Ok(code))) if v.starts_with("HTTP/") && (100..600).contains(&code) => Ok(code),
        _ => Err(format!("not a status line: {line:?}")),
    }
}

/// Parses a `207 Multi-Status` body (RFC 4918 §14.16): a `DAV:multistatus`
/// root whose `DAV:response` elements each have exactly one `DAV:href` and
/// either a status or propstats, each propstat exactly one `DAV:prop` and one
/// `DAV:status`.
pub fn parse_multistatus(body: &[u8]) -> Result<Vec<DavResponse>, String> {
    let root = parse_xml(body)?;
    if !root.is(DAV, "multistatus") {
        return Err(format!(
            "the root is {{{}}}{}, not DAV:multistatus",
            root.ns, root.local
        ));
    }
    let mut out = Vec::new();
    for r in root.all(DAV, "response") {
        let href = r.one(DAV, "href")?.text.clone();
        let status = match r.all(DAV, "status").next() {
            Some(s) => Some(status_code(&s.text)?),
            None => None,
        };
        let mut propstats = Vec::new();
        for ps in r.all(DAV, "propstat") {
            propstats.push(Propstat {
                status: status_code(&ps.one(DAV, "status")?.text)?,
                props: ps.one(DAV, "prop")?.children.clone(),
            });
        }
        if status.is_none() == propstats.is_empty() {
            return Err(format!("response {href:?} needs either a status or propstats"));
        }
        out.push(DavResponse {
            href,
            status,
            propstats,
        });
    }
    Ok(out)
}

/// Percent-decodes a path into UTF-8 (`None` for a bad escape or bad UTF-8).
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether `href` is a valid absolute-path reference: only unreserved
/// characters, sub-delims, `:`, `@`, `/` and `%XX` escapes (RFC 3986 §3.3).
pub fn is_uri_path(href: &str) -> bool {
    let b = href.as_bytes();
    b.first() == Some(&b'/')
        && b.iter().enumerate().all(|(i, c)| {
            c.is_ascii_alphanumeric()
                || b"-._~!$&'()*+,;=:@/".contains(c)
                || (*c == b'%' && b.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)))
        })
}

#[cfg(test)]
mod self_tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<multistatus xmlns="DAV:" xmlns:x="urn:x">
 <response><href>/a%20b/</href>
  <propstat><prop><resourcetype><collection/></resourcetype><getetag>&quot;1-2&#x22;</getetag></prop>
   <status>HTTP/1.1 200 OK</status></propstat>
  <propstat><prop><x:color/></prop><status>HTTP/1.1 404 Not Found</status></propstat>
 </response>
 <response><href>http://h:1/caf%C3%A9.txt</href><status>HTTP/1.1 424 Failed Dependency</status></response>
</multistatus>"#;

    #[test]
    fn multistatus_by_namespace_not_prefix() {
        let r = parse_multistatus(SAMPLE.as_bytes()).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].path(), "/a b/");
        assert!(r[0].is_collection());
        assert_eq!(r[0].value("getetag"), Some("\"1-2\""));
        assert_eq!(r[0].find("urn:x", "color").map(|(s, _)| s), Some(404));
        assert_eq!(r[0].names_under(404), vec!["{urn:x}color".to_owned()]);
        assert_eq!(r[1].path(), "/café.txt");
        assert_eq!(r[1].status, Some(424));
        // The same document with another prefix reads the same.
        let d = SAMPLE
            .replace("<", "<D:")
            .replace("<D:/", "</D:")
            .replace("<D:?xml", "<?xml")
            .replace("<D:x:", "<x:")
            .replace("xmlns=", "xmlns:D=");
        assert_eq!(parse_multistatus(d.as_bytes()).unwrap().len(), 2, "{d}");
    }

    #[test]
    fn malformed_documents_are_errors() {
        for bad in [
            "<D:multistatus xmlns:D=\"DAV:\">",
            "<D:multistatus>",
            "<multistatus xmlns=\"DAV:\"></multistatus><x/>",
            "<multistatus xmlns=\"DAV:\"><response><href>/</href></response></multistatus>",
            "<multistatus xmlns=\"DAV:\"><response><href>/</href><status>200</status></response></multistatus>",
            "<multistatus xmlns=\"urn:other\"/>",
        ] {
            assert!(parse_multistatus(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_and_hrefs() {
        assert_eq!(percent_decode("/caf%C3%A9%20x"), Some("/café x".to_owned()));
        assert_eq!(percent_decode("/%ff"), None);
        assert_eq!(percent_decode("/%4"), None);
        assert!(is_uri_path("/a%20b/c%C3%A9.txt"));
        assert!(!is_uri_path("/a b"));
        assert!(!is_uri_path("/a#b"));
        assert!(!is_uri_path("/a%2"));
        assert!(!is_uri_path("a"));
    }
}
