//! WebDAV class 1 (RFC 4918), sans-IO: the request headers (`Depth`,
//! `Overwrite`, `Destination`), the `PROPFIND` and `PROPPATCH` bodies, and the
//! `207 Multi-Status` XML the server streams back.
//!
//! Request bodies are parsed with quick-xml's namespace-aware reader into a
//! small element tree with hard limits on nesting and element count (the
//! caller also caps the body size), so a hostile body costs bounded memory and
//! time. Anything that is not well-formed XML with well-formed namespaces —
//! including an undeclared prefix or `xmlns:p=""` — is an [`XmlError`], which
//! the server answers with `400`.
//!
//! Responses are written as text: the live properties of one resource
//! ([`LiveProps`]) rendered for one request ([`PropfindRequest`]) into one
//! `<D:response>` element ([`propfind_response`]); the caller streams
//! [`MULTISTATUS_HEAD`], one response per resource, then [`MULTISTATUS_TAIL`].

use std::fmt::Write as _;
use std::time::SystemTime;

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

/// The WebDAV namespace.
pub const DAV_NS: &str = "DAV:";

/// Deepest element nesting accepted in a request body.
const MAX_NESTING: usize = 32;
/// Most elements accepted in a request body.
const MAX_ELEMENTS: usize = 4096;

/// The start of a `207 Multi-Status` body.
pub const MULTISTATUS_HEAD: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">\n";
/// The end of a `207 Multi-Status` body.
pub const MULTISTATUS_TAIL: &str = "</D:multistatus>\n";
/// The `Content-Type` of WebDAV XML bodies.
pub const XML_CONTENT_TYPE: &str = "application/xml; charset=utf-8";

/// The body of the `403` that refuses `PROPFIND` with `Depth: infinity`
/// (RFC 4918 §9.1, §16 `propfind-finite-depth`).
pub const PROPFIND_FINITE_DEPTH: &str =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error xmlns:D=\"DAV:\"><D:propfind-finite-depth/></D:error>\n";

/// A request body that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML, or malformed namespaces.
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// Well-formed, but not the element this method expects.
    #[error("unexpected XML: {0}")]
    Unexpected(&'static str),
    /// Nested too deeply or too many elements.
    #[error("XML body too complex")]
    TooComplex,
}

/// A property name: namespace URI and local name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PropName {
    /// The namespace URI (`DAV:` for WebDAV's own, empty for none).
    pub ns: String,
    /// The local name.
    pub local: String,
}

impl PropName {
    /// A property in the `DAV:` namespace.
    pub fn dav(local: &str) -> Self {
        PropName {
            ns: DAV_NS.into(),
            local: local.into(),
        }
    }
}

/// What a `PROPFIND` asks for (RFC 4918 §9.1, §14.20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropfindRequest {
    /// `<allprop/>` or an empty body: every live property.
    AllProp,
    /// `<propname/>`: the names only.
    PropName,
    /// `<prop>…</prop>`: these properties.
    Prop(Vec<PropName>),
}

/// One instruction of a `PROPPATCH` (RFC 4918 §14.26, §14.23).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchOp {
    /// Set the property to this value.
    Set(DeadProp),
    /// Remove the property.
    Remove(PropName),
}

impl PatchOp {
    /// The property the instruction is about.
    pub fn name(&self) -> &PropName {
        match self {
            PatchOp::Set(p) => &p.name,
            PatchOp::Remove(n) => n,
        }
    }
}

/// A dead property (RFC 4918 §4.1): its name and the property element
/// exactly as the client sent it, made self-contained (every namespace it
/// uses declared on it), so it can be stored and returned verbatim.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeadProp {
    /// The property's name.
    pub name: PropName,
    /// The whole property element, e.g. `<Z:author xmlns:Z="urn:z">Ann</Z:author>`.
    pub xml: String,
}

/// Applies `ops` in order to a resource's dead properties (a set replaces a
/// property of the same name; removing a missing one is not an error).
pub fn apply_patch(props: &mut Vec<DeadProp>, ops: &[PatchOp]) {
    for op in ops {
        props.retain(|p| &p.name != op.name());
        if let PatchOp::Set(p) = op {
            props.push(p.clone());
        }
    }
}

/// Encodes dead properties for storage (empty when there are none).
pub fn encode_dead_props(props: &[DeadProp]) -> Vec<u8> {
    if props.is_empty() {
        return Vec::new();
    }
    serde_json::to_vec(props).unwrap_or_default()
}

/// Decodes stored dead properties; anything unreadable counts as none.
pub fn decode_dead_props(blob: &[u8]) -> Vec<DeadProp> {
    if blob.is_empty() {
        return Vec::new();
    }
    let props: Vec<DeadProp> = serde_json::from_slice(blob).unwrap_or_default();
    // Only well-formed values and names are ever written into a 207: one
    // stored before they were checked (or written behind the server's back) is
    // dropped.
    props
        .into_iter()
        .filter(|p| writable_name(&p.name) && parse_tree(p.xml.as_bytes()).is_ok())
        .collect()
}

/// The `xml` namespace (its prefix is bound by definition).
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// The `xmlns` namespace (no element may be in it).
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Whether a property name can be written as an element: a local name of
/// name characters (no markup, no prefix of its own) and a namespace an
/// element may be in.
pub fn writable_name(name: &PropName) -> bool {
    let mut chars = name.local.chars();
    let start_ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
    start_ok && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.')) && name.ns != XMLNS_NS
}

/// The namespace of the Windows WebDAV redirector's file-time properties.
pub const MS_NS: &str = "urn:schemas-microsoft-com:";

/// The modification time a `PROPPATCH` sets through Windows'
/// `Win32LastModifiedTime` (an RFC 1123 date; Explorer sends it after every
/// copy), if it sets one that parses. The server maps it to the file's own
/// time where the back-end can set it; the property itself stays a dead one.
pub fn win32_last_modified(ops: &[PatchOp]) -> Option<SystemTime> {
    // The last instruction about it counts: a set then a remove sets nothing.
    match ops
        .iter()
        .rev()
        .find(|op| op.name().ns == MS_NS && op.name().local == "Win32LastModifiedTime")?
    {
        PatchOp::Set(p) => {
            let start = p.xml.find('>')? + 1;
            let end = p.xml.rfind("</")?;
            httpdate::parse_http_date(p.xml.get(start..end)?.trim()).ok()
        }
        PatchOp::Remove(_) => None,
    }
}

/// Whether a property is one of the live properties a client may not set or
/// remove (RFC 4918 §15: computed by the server).
pub fn is_protected(name: &PropName) -> bool {
    name.ns == DAV_NS
        && matches!(
            name.local.as_str(),
            "resourcetype"
                | "getcontentlength"
                | "getlastmodified"
                | "getetag"
                | "getcontenttype"
                | "creationdate"
                | "lockdiscovery"
                | "supportedlock"
        )
}

/// The `Depth` header (RFC 4918 §10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// `0`: the resource only.
    Zero,
    /// `1`: the resource and its members.
    One,
    /// `infinity`: the whole tree.
    Infinity,
}

/// Parses a `Depth` value; `Ok(None)` when absent, `Err(())` for anything but
/// `0`, `1` or `infinity`.
#[allow(clippy::result_unit_err, reason = "the only error is \"not a Depth\"")]
pub fn parse_depth(value: Option<&str>) -> Result<Option<Depth>, ()> {
    match value.map(str::trim) {
        None => Ok(None),
        Some("0") => Ok(Some(Depth::Zero)),
        Some("1") => Ok(Some(Depth::One)),
        Some(v) if v.eq_ignore_ascii_case("infinity") => Ok(Some(Depth::Infinity)),
        Some(_) => Err(()),
    }
}

/// Parses an `Overwrite` value (RFC 4918 §10.6): `T` (the default when absent)
/// or `F`; `Err(())` for anything else.
#[allow(clippy::result_unit_err, reason = "the only error is \"not T or F\"")]
pub fn parse_overwrite(value: Option<&str>) -> Result<bool, ()> {
    match value.map(str::trim) {
        None => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("T") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("F") => Ok(false),
        Some(_) => Err(()),
    }
}

/// Why a `Destination` header cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// It names another server (`502 Bad Gateway`, RFC 4918 §9.8.5).
    #[error("the destination is on another server")]
    OtherServer,
    /// It is not an absolute URI or an absolute path.
    #[error("the Destination header is not a URI of this server")]
    Invalid,
}

/// The (still percent-encoded) path of a `Destination` header (RFC 4918
/// §10.3: an absolute URI, or — as many clients send — an absolute path).
/// `host` is the request's `Host` (or `:authority`) and `scheme` the one the
/// request came in on (`http` or `https`): a URI with another scheme or
/// authority names another server (502). User information in the URI is
/// refused (RFC 9110 §4.2.4: `http` URIs must not carry it).
pub fn destination_path<'a>(
    destination: &'a str,
    host: Option<&str>,
    scheme: &str,
) -> Result<&'a str, DestinationError> {
    let destination = destination.trim();
    let path = if destination.starts_with('/') {
        destination
    } else {
        let (given, rest) = destination.split_once("://").ok_or(DestinationError::Invalid)?;
        if !given.eq_ignore_ascii_case(scheme) {
            return Err(DestinationError::OtherServer);
        }
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], &rest[i..]),
            Some(i) => (&rest[..i], "/"),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(DestinationError::Invalid);
        }
        if let Some(host) = host
            && !authority.eq_ignore_ascii_case(host.trim())
        {
            return Err(DestinationError::OtherServer);
        }
        path
    };
    let end = path.find(['?', '#']).unwrap_or(path.len());
    Ok(&path[..end])
}

/// One parsed element: its expanded name and child elements (text is not
/// needed by anything this server does with request bodies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub(crate) name: PropName,
    pub(crate) children: Vec<Element>,
    /// Byte range of the whole element (start tag to end tag) in the body.
    span: (usize, usize),
    /// Namespace declarations in scope at this element but made on an
    /// ancestor (`prefix` empty for the default namespace): what its raw text
    /// needs to mean the same thing elsewhere.
    inherited: Vec<(String, String)>,
}

impl Element {
    pub(crate) fn is_dav(&self, local: &str) -> bool {
        self.name.ns == DAV_NS && self.name.local == local
    }
}

fn malformed(e: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed(e.to_string())
}

/// The namespace declarations an element makes (`prefix` empty for the
/// default namespace). Rejects `xmlns:p=""` (Namespaces in XML 1.0 §3: a
/// prefixed declaration must not be empty) and malformed attributes.
fn declarations(start: &BytesStart<'_>) -> Result<Vec<(String, String)>, XmlError> {
    let mut out = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(malformed)?;
        let key: &str = attribute.key.as_ref();
        let prefix = if key == "xmlns" {
            ""
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            p
        } else {
            continue;
        };
        // Kept as written (escaped): it is only ever written back into XML.
        let value: &str = attribute.value.as_ref();
        if !prefix.is_empty() && value.is_empty() {
            return Err(XmlError::Malformed("empty namespace prefix declaration".into()));
        }
        out.push((prefix.to_owned(), value.to_owned()));
    }
    Ok(out)
}

/// The namespace and local name of an element named `qname`. Namespaces in XML
/// 1.0 §3: a `QName` is `prefix:local` or `local`, each part non-empty and
/// without a colon. `<D:/>` is an XML `Name` but no `QName`; taken as a property
/// with an empty local name, it came back in the 207 as `<D:/>`.
fn element_name(resolved: ResolveResult<'_>, qname: &str, local: &str) -> Result<PropName, XmlError> {
    if local.is_empty() || local.contains(':') || qname.starts_with(':') {
        return Err(XmlError::Malformed(format!("{qname:?} is not a qualified name")));
    }
    let ns = match resolved {
        ResolveResult::Bound(ns) => ns.as_ref().to_owned(),
        ResolveResult::Unbound => String::new(),
        ResolveResult::Unknown(prefix) => {
            return Err(XmlError::Malformed(format!("undeclared namespace prefix {prefix:?}")));
        }
    };
    if ns == XMLNS_NS {
        // Namespaces in XML 1.0 §3: no element is named `xmlns:…`.
        return Err(XmlError::Malformed("an element in the xmlns namespace".to_owned()));
    }
    Ok(PropName {
        ns,
        local: local.to_owned(),
    })
}

/// Parses a whole body into its root element (bounded).
pub(crate) fn parse_tree(body: &[u8]) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_reader(body);
    reader.config_mut().trim_text(true);
    // `--` inside a comment is not well-formed (XML 1.0 §2.5).
    reader.config_mut().check_comments = true;
    // Open elements, each with the declarations in scope inside it.
    let mut stack: Vec<(Element, Vec<(String, String)>)> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let (resolved, event) = reader.read_resolved_event().map_err(malformed)?;
        let name = match &event {
            Event::Start(e) | Event::Empty(e) => {
                Some(element_name(resolved, e.name().as_ref(), e.local_name().as_ref())?)
            }
            _ => None,
        };
        let after = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if root.is_some() {
                    return Err(XmlError::Malformed("content after the root element".into()));
                }
                check_name(e.name().as_ref())?;
                let own = declarations(e)?;
                for attribute in e.attributes() {
                    let attribute = attribute.map_err(malformed)?;
                    check_name(attribute.key.as_ref())?;
                    check_attribute_value(&attribute.value)?;
                }
                count += 1;
                if count > MAX_ELEMENTS || stack.len() >= MAX_NESTING {
                    return Err(XmlError::TooComplex);
                }
                let outer: &[(String, String)] = stack.last().map_or(&[], |(_, scope)| scope.as_slice());
                let inherited: Vec<(String, String)> = outer
                    .iter()
                    .filter(|(p, _)| !own.iter().any(|(q, _)| q == p))
                    .cloned()
                    .collect();
                let mut scope = inherited.clone();
                scope.extend(own);
                let element = Element {
                    name: name.ok_or_else(|| malformed("element without a name"))?,
                    children: Vec::new(),
                    span: (before, after),
                    inherited,
                };
                if matches!(event, Event::Start(_)) {
                    stack.push((element, scope));
                } else {
                    match stack.last_mut() {
                        Some((parent, _)) => parent.children.push(element),
                        None => root = Some(element),
                    }
                }
            }
            Event::End(_) => {
                let (mut done, _) = stack.pop().ok_or_else(|| malformed("unbalanced end tag"))?;
                done.span.1 = after;
                match stack.last_mut() {
                    Some((parent, _)) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(ref t) if stack.is_empty() && !t.as_ref().trim().is_empty() => {
                return Err(XmlError::Malformed("text outside the root element".into()));
            }
            // Stored values are sent back verbatim inside 207 bodies, so a body
            // that is not well-formed XML 1.0 is refused whole (RFC 4918 §8.3).
            Event::Text(ref t) => check_text(t.as_ref())?,
            Event::CData(ref c) => check_chars(c.as_ref(), "a CDATA section")?,
            Event::Comment(ref c) => check_chars(c.as_ref(), "a comment")?,
            Event::PI(ref pi) => check_chars(pi.as_ref(), "a processing instruction")?,
            Event::GeneralRef(ref r) => check_reference(r)?,
            Event::DocType(_) => return Err(XmlError::Malformed("a DOCTYPE is not accepted".into())),
            // The XML declaration may only open the document (XML 1.0 §2.8).
            Event::Decl(_) if before > 0 => {
                return Err(XmlError::Malformed("an XML declaration after the start".into()));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed("unclosed element".into()));
    }
    root.ok_or_else(|| XmlError::Malformed("no root element".into()))
}

/// An element or attribute name must be an XML `Name` (§2.3): a start character
/// (letter, `_`, `:` or a character above ASCII) and then name characters
/// (also digits, `-`, `.`). Names above ASCII are taken as the spec's ranges
/// allow nearly all of them.
fn check_name(text: &str) -> Result<(), XmlError> {
    let mut chars = text.chars();
    let start_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':' || (!c.is_ascii() && is_xml_char(c)));
    let rest_ok = chars
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.') || (!c.is_ascii() && is_xml_char(c)));
    if start_ok && rest_ok {
        Ok(())
    } else {
        Err(XmlError::Malformed(format!("{text:?} is not an XML name")))
    }
}

/// XML 1.0 `Char` (§2.2): the characters a document may hold.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Refuses text with a character XML does not allow.
fn check_chars(text: &str, what: &str) -> Result<(), XmlError> {
    match text.chars().find(|c| !is_xml_char(*c)) {
        Some(c) => Err(XmlError::Malformed(format!(
            "{what} holds U+{:04X}, which XML does not allow",
            u32::from(c)
        ))),
        None => Ok(()),
    }
}

/// Character data: legal characters, and no `]]>` (XML 1.0 §2.4).
fn check_text(raw: &str) -> Result<(), XmlError> {
    check_chars(raw, "text")?;
    if raw.contains("]]>") {
        return Err(XmlError::Malformed("`]]>` in text".into()));
    }
    Ok(())
}

/// A reference must be one of the five predefined entities or a character
/// reference to a legal character: a document without a DTD defines no others
/// (XML 1.0 §4.1, WFC: Entity Declared, WFC: Legal Character).
fn check_reference(name: &str) -> Result<(), XmlError> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix('x') {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => number.parse::<u32>(),
        };
        return match code.ok().and_then(char::from_u32) {
            Some(c) if is_xml_char(c) => Ok(()),
            _ => Err(XmlError::Malformed(format!("&{name}; is not a character XML allows"))),
        };
    }
    if matches!(name, "lt" | "gt" | "amp" | "apos" | "quot") {
        Ok(())
    } else {
        Err(XmlError::Malformed(format!("undefined entity &{name};")))
    }
}

/// An attribute value as written: legal characters, no `<`, and only references
/// [`check_reference`] accepts.
fn check_attribute_value(raw: &str) -> Result<(), XmlError> {
    check_chars(raw, "an attribute value")?;
    let mut rest = raw;
    if rest.contains('<') {
        return Err(XmlError::Malformed("`<` in an attribute value".into()));
    }
    while let Some(at) = rest.find('&') {
        let after = &rest[at + 1..];
        let end = after
            .find(';')
            .ok_or_else(|| XmlError::Malformed("an unterminated reference in an attribute value".into()))?;
        check_reference(&after[..end])?;
        rest = &after[end + 1..];
    }
    Ok(())
}

/// The element's text as sent, made self-contained: the namespace
/// declarations it inherited are added to its start tag.
pub(crate) fn standalone_xml(body: &[u8], element: &Element) -> Result<String, XmlError> {
    let raw = body
        .get(element.span.0..element.span.1)
        .ok_or_else(|| malformed("element outside the body"))?;
    let raw = std::str::from_utf8(raw).map_err(malformed)?.trim();
    // The qualified name ends at the first blank, `/` or `>` after `<`.
    let name_end = raw
        .char_indices()
        .skip(1)
        .find(|(_, c)| c.is_ascii_whitespace() || *c == '/' || *c == '>')
        .map_or(raw.len(), |(i, _)| i);
    let mut out = String::with_capacity(raw.len() + 64);
    out.push_str(&raw[..name_end]);
    for (prefix, uri) in &element.inherited {
        // `uri` is still escaped as sent; only a quote could break our quoting.
        let uri = uri.replace('"', "&quot;");
        if prefix.is_empty() {
            let _ = write!(out, " xmlns=\"{uri}\"");
        } else {
            let _ = write!(out, " xmlns:{prefix}=\"{uri}\"");
        }
    }
    out.push_str(&raw[name_end..]);
    Ok(out)
}

/// Parses a `PROPFIND` body (RFC 4918 §9.1): empty means `allprop`.
pub fn parse_propfind(body: &[u8]) -> Result<PropfindRequest, XmlError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PropfindRequest::AllProp);
    }
    let root = parse_tree(body)?;
    if !root.is_dav("propfind") {
        return Err(XmlError::Unexpected("the root element is not DAV:propfind"));
    }
    for child in &root.children {
        if child.is_dav("allprop") {
            return Ok(PropfindRequest::AllProp);
        }
        if child.is_dav("propname") {
            return Ok(PropfindRequest::PropName);
        }
        if child.is_dav("prop") {
            return Ok(PropfindRequest::Prop(
                child.children.iter().map(|p| p.name.clone()).collect(),
            ));
        }
    }
    Err(XmlError::Unexpected("DAV:propfind needs allprop, propname or prop"))
}

/// Parses a `PROPPATCH` body (RFC 4918 §9.2): the set and remove
/// instructions, in document order.
pub fn parse_proppatch(body: &[u8]) -> Result<Vec<PatchOp>, XmlError> {
    let root = parse_tree(body)?;
    if !root.is_dav("propertyupdate") {
        return Err(XmlError::Unexpected("the root element is not DAV:propertyupdate"));
    }
    let mut ops = Vec::new();
    for instruction in &root.children {
        let set = instruction.is_dav("set");
        if !set && !instruction.is_dav("remove") {
            continue;
        }
        for prop in instruction.children.iter().filter(|c| c.is_dav("prop")) {
            for p in &prop.children {
                ops.push(if set {
                    PatchOp::Set(DeadProp {
                        name: p.name.clone(),
                        xml: standalone_xml(body, p)?,
                    })
                } else {
                    PatchOp::Remove(p.name.clone())
                });
            }
        }
    }
    if ops.is_empty() {
        return Err(XmlError::Unexpected("DAV:propertyupdate sets or removes nothing"));
    }
    Ok(ops)
}

/// The live properties of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveProps {
    /// A collection (directory) rather than a file.
    pub collection: bool,
    /// Size in bytes (files).
    pub content_length: u64,
    /// Last modification.
    pub last_modified: Option<SystemTime>,
    /// Strong entity tag, quoted (files).
    pub etag: Option<String>,
    /// Media type (files).
    pub content_type: Option<String>,
    /// The content of `DAV:lockdiscovery` (the resource's active locks, see
    /// [`crate::lock::lockdiscovery`]; empty when it has none). `None` on a
    /// server without locks (class 1): then neither `lockdiscovery` nor
    /// `supportedlock` is defined.
    pub lockdiscovery: Option<String>,
}

/// The live properties this server knows, in `allprop` order.
const LIVE: [&str; 7] = [
    "resourcetype",
    "getcontentlength",
    "getlastmodified",
    "getetag",
    "getcontenttype",
    "supportedlock",
    "lockdiscovery",
];

impl LiveProps {
    /// The value of a live property as XML content (`None`: not defined for
    /// this resource).
    fn value(&self, name: &PropName) -> Option<String> {
        if name.ns != DAV_NS {
            return None;
        }
        match name.local.as_str() {
            "resourcetype" => Some(if self.collection {
                "<D:collection/>".into()
            } else {
                String::new()
            }),
            "getcontentlength" if !self.collection => Some(self.content_length.to_string()),
            "getlastmodified" => self.last_modified.map(crate::http_date),
            "getetag" if !self.collection => self.etag.as_deref().map(escape_text),
            "getcontenttype" if !self.collection => self.content_type.as_deref().map(escape_text),
            "supportedlock" => self
                .lockdiscovery
                .as_ref()
                .map(|_| crate::lock::SUPPORTED_LOCK.to_owned()),
            "lockdiscovery" => self.lockdiscovery.clone(),
            _ => None,
        }
    }

    fn defined(&self) -> impl Iterator<Item = PropName> + '_ {
        LIVE.iter()
            .map(|l| PropName::dav(l))
            .filter(|n| self.value(n).is_some())
    }
}

/// Escapes text content.
pub(crate) fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Writes `<name>content</name>` (or the empty form) with the namespace
/// declared as the name needs it.
fn write_element(out: &mut String, name: &PropName, content: &str) {
    let (open, close) = if name.ns == DAV_NS {
        (format!("D:{}", name.local), format!("D:{}", name.local))
    } else if name.ns == XML_NS {
        // Bound to `xml` by definition; no other prefix may be (Namespaces in XML §3).
        (format!("xml:{}", name.local), format!("xml:{}", name.local))
    } else if name.ns.is_empty() {
        (format!("{} xmlns=\"\"", name.local), name.local.clone())
    } else {
        (
            format!("R:{} xmlns:R=\"{}\"", name.local, escape_text(&name.ns)),
            format!("R:{}", name.local),
        )
    };
    if content.is_empty() {
        let _ = write!(out, "<{open}/>");
    } else {
        let _ = write!(out, "<{open}>{content}</{close}>");
    }
}

fn status_line(status: u16) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("HTTP/1.1 {status} {reason}")
}

/// Writes one `<D:propstat>` with `(name, content)` pairs and a status.
fn write_propstat<'a>(out: &mut String, status: u16, props: impl Iterator<Item = (&'a PropName, &'a str)>) {
    out.push_str("<D:propstat><D:prop>");
    for (name, content) in props {
        write_element(out, name, content);
    }
    let _ = write!(
        out,
        "</D:prop><D:status>{}</D:status></D:propstat>",
        status_line(status)
    );
}

/// Whether answering `request` needs the resources' dead properties.
pub fn needs_dead_props(request: &PropfindRequest) -> bool {
    match request {
        PropfindRequest::AllProp | PropfindRequest::PropName => true,
        PropfindRequest::Prop(names) => names
            .iter()
            .any(|n| !LIVE.iter().any(|l| n.ns == DAV_NS && n.local == *l)),
    }
}

/// The `<D:response>` of one resource for a `PROPFIND`: found properties
/// (live, then dead) under `200`, unknown ones under `404`. `href` must
/// already be percent-encoded (see [`encode_href`](crate::encode_href)).
pub fn propfind_response(href: &str, props: &LiveProps, dead: &[DeadProp], request: &PropfindRequest) -> String {
    let mut out = String::with_capacity(512);
    let _ = write!(out, "<D:response><D:href>{}</D:href>", escape_text(href));
    match request {
        PropfindRequest::AllProp => {
            out.push_str("<D:propstat><D:prop>");
            for name in props.defined() {
                if let Some(v) = props.value(&name) {
                    write_element(&mut out, &name, &v);
                }
            }
            for p in dead {
                out.push_str(&p.xml);
            }
            close_propstat(&mut out, 200);
        }
        PropfindRequest::PropName => {
            let names: Vec<PropName> = props.defined().chain(dead.iter().map(|p| p.name.clone())).collect();
            write_propstat(&mut out, 200, names.iter().map(|n| (n, "")));
        }
        PropfindRequest::Prop(wanted) => {
            let mut found = String::new();
            let mut missing = Vec::new();
            for name in wanted {
                if let Some(v) = props.value(name) {
                    write_element(&mut found, name, &v);
                } else if let Some(p) = dead.iter().find(|p| &p.name == name) {
                    found.push_str(&p.xml);
                } else {
                    missing.push(name);
                }
            }
            if !found.is_empty() {
                out.push_str("<D:propstat><D:prop>");
                out.push_str(&found);
                close_propstat(&mut out, 200);
            }
            if !missing.is_empty() {
                write_propstat(&mut out, 404, missing.iter().map(|n| (*n, "")));
            }
        }
    }
    out.push_str("</D:response>\n");
    out
}

fn close_propstat(out: &mut String, status: u16) {
    let _ = write!(
        out,
        "</D:prop><D:status>{}</D:status></D:propstat>",
        status_line(status)
    );
}

/// A complete `207` body for a `PROPPATCH`: each property with its status
/// (`200` done, `403` protected or not stored, `424` not done because
/// another instruction failed, `507` no room), grouped by status.
pub fn proppatch_response(href: &str, results: &[(&PropName, u16)]) -> String {
    let mut out = String::from(MULTISTATUS_HEAD);
    let _ = write!(out, "<D:response><D:href>{}</D:href>", escape_text(href));
    let mut statuses: Vec<u16> = results.iter().map(|(_, s)| *s).collect();
    statuses.sort_unstable();
    statuses.dedup();
    for status in statuses {
        write_propstat(
            &mut out,
            status,
            results.iter().filter(|(_, s)| *s == status).map(|(n, _)| (*n, "")),
        );
    }
    let _ = write!(out, "</D:response>\n{MULTISTATUS_TAIL}");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn names_that_cannot_be_written_never_reach_a_207() {
        // A stored name that is not an XML name (written behind the server's back).
        let blob = br#"[{"name":{"ns":"urn:x","local":"a><injected"},"xml":"<b/>"},{"name":{"ns":"urn:x","local":"ok"},"xml":"<R:ok xmlns:R=\"urn:x\"/>"}]"#;
        let props = decode_dead_props(blob);
        assert_eq!(props.len(), 1);
        assert_eq!(props[0].name.local, "ok");
        // `xml:` names keep the prefix the namespace is bound to; `xmlns:` elements are malformed.
        let request =
            parse_propfind(br#"<D:propfind xmlns:D="DAV:"><D:prop><xml:lang/></D:prop></D:propfind>"#).unwrap();
        let live = LiveProps {
            collection: false,
            content_length: 0,
            last_modified: None,
            etag: None,
            content_type: None,
            lockdiscovery: None,
        };
        let xml = propfind_response("/f", &live, &[], &request);
        assert!(
            xml.contains("<xml:lang/>") && !xml.contains("xmlns:R=\"http://www.w3.org/XML"),
            "{xml}"
        );
        assert!(parse_propfind(br#"<D:propfind xmlns:D="DAV:"><D:prop><xmlns:a/></D:prop></D:propfind>"#).is_err());
    }

    #[test]
    fn windows_sets_the_modification_time_as_it_sends_it() {
        // As the Windows redirector sends it after a copy (mar10/wsgidav#112).
        let body = br#"<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32CreationTime>Sat, 03 Feb 2001 04:05:06 GMT</Z:Win32CreationTime><Z:Win32LastAccessTime>Sun, 06 Dec 2026 01:00:00 GMT</Z:Win32LastAccessTime><Z:Win32LastModifiedTime>Sat, 03 Feb 2001 04:05:06 GMT</Z:Win32LastModifiedTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>"#;
        let ops = parse_proppatch(body).unwrap();
        assert_eq!(ops.len(), 4);
        assert_eq!(
            win32_last_modified(&ops),
            Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(981_173_106))
        );
        let other = parse_proppatch(br#"<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32LastModifiedTime>yesterday</Z:Win32LastModifiedTime></D:prop></D:set></D:propertyupdate>"#).unwrap();
        assert_eq!(win32_last_modified(&other), None);
        let removed = parse_proppatch(br#"<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32LastModifiedTime>Sat, 03 Feb 2001 04:05:06 GMT</Z:Win32LastModifiedTime></D:prop></D:set><D:remove><D:prop><Z:Win32LastModifiedTime/></D:prop></D:remove></D:propertyupdate>"#).unwrap();
        assert_eq!(win32_last_modified(&removed), None, "set, then removed");
    }

    #[test]
    fn depth_and_overwrite() {
        assert_eq!(parse_depth(None), Ok(None));
        assert_eq!(parse_depth(Some("0")), Ok(Some(Depth::Zero)));
        assert_eq!(parse_depth(Some(" 1 ")), Ok(Some(Depth::One)));
        assert_eq!(parse_depth(Some("Infinity")), Ok(Some(Depth::Infinity)));
        assert_eq!(parse_depth(Some("2")), Err(()));
        assert_eq!(parse_overwrite(None), Ok(true));
        assert_eq!(parse_overwrite(Some("F")), Ok(false));
        assert_eq!(parse_overwrite(Some("t")), Ok(true));
        assert_eq!(parse_overwrite(Some("yes")), Err(()));
    }

    #[test]
    fn destinations() {
        let host = Some("127.0.0.1:8080");
        let d = |dest| destination_path(dest, host, "http");
        assert_eq!(d("http://127.0.0.1:8080/a/b%20c"), Ok("/a/b%20c"));
        assert_eq!(d("HTTP://127.0.0.1:8080/x?q#f"), Ok("/x"));
        assert_eq!(d("/rel/path"), Ok("/rel/path"));
        assert_eq!(d("http://127.0.0.1:8080"), Ok("/"));
        assert_eq!(d("http://127.0.0.1:8080?q"), Ok("/"));
        assert_eq!(d("http://example.com/a"), Err(DestinationError::OtherServer));
        assert_eq!(d("ftp://127.0.0.1:8080/a"), Err(DestinationError::OtherServer));
        // Another scheme is another server; user information is refused.
        assert_eq!(d("https://127.0.0.1:8080/a"), Err(DestinationError::OtherServer));
        assert_eq!(destination_path("https://127.0.0.1:8080/a", host, "https"), Ok("/a"));
        assert_eq!(d("http://user@127.0.0.1:8080/x"), Err(DestinationError::Invalid));
        assert_eq!(d("http://u:p@127.0.0.1:8080/x"), Err(DestinationError::Invalid));
        assert_eq!(d("a/b"), Err(DestinationError::Invalid));
    }

    #[test]
    fn propfind_bodies() {
        assert_eq!(parse_propfind(b""), Ok(PropfindRequest::AllProp));
        assert_eq!(
            parse_propfind(br#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#),
            Ok(PropfindRequest::AllProp)
        );
        assert_eq!(
            parse_propfind(br#"<propfind xmlns="DAV:"><propname/></propfind>"#),
            Ok(PropfindRequest::PropName)
        );
        let req = parse_propfind(
            br#"<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><x:color xmlns:x="http://example.com/"/><plain xmlns=""/></D:prop></D:propfind>"#,
        )
        .unwrap();
        assert_eq!(
            req,
            PropfindRequest::Prop(vec![
                PropName::dav("getetag"),
                PropName {
                    ns: "http://example.com/".into(),
                    local: "color".into()
                },
                PropName {
                    ns: String::new(),
                    local: "plain".into()
                },
            ])
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        // litmus props: propfind_invalid and propfind_invalid2.
        assert!(parse_propfind(b"<foo>").is_err());
        assert!(
            parse_propfind(br#"<D:propfind xmlns:D="DAV:"><D:prop><bar:foo xmlns:bar=""/></D:prop></D:propfind>"#)
                .is_err()
        );
        assert!(parse_propfind(br#"<D:propfind xmlns:D="DAV:"><x:prop/></D:propfind>"#).is_err());
        assert!(parse_propfind(br#"<D:propfind xmlns:D="DAV:"></D:other>"#).is_err());
        assert!(parse_propfind(br#"<D:propfind xmlns:D="DAV:"/><second/>"#).is_err());
        assert_eq!(
            parse_propfind(br#"<propfind xmlns="urn:other"><allprop/></propfind>"#),
            Err(XmlError::Unexpected("the root element is not DAV:propfind"))
        );
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert_eq!(parse_propfind(deep.as_bytes()), Err(XmlError::TooComplex));
    }

    #[test]
    fn element_names_must_be_qualified_names() {
        // Found by the webdav_xml fuzz target: `<D:/>` was a property with an empty
        // local name, written back into the 207 as `<D:/>`.
        for name in ["D:", ":a", "D:a:b", ":"] {
            let body = format!(r#"<D:propfind xmlns:D="DAV:"><D:prop><{name}/></D:prop></D:propfind>"#);
            assert!(
                matches!(parse_propfind(body.as_bytes()), Err(XmlError::Malformed(_))),
                "{name}: {:?}",
                parse_propfind(body.as_bytes())
            );
            let body = format!(
                r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><{name}>x</{name}></D:prop></D:set></D:propertyupdate>"#
            );
            assert!(parse_proppatch(body.as_bytes()).is_err(), "{name}");
        }
        let ok = parse_propfind(br#"<D:propfind xmlns:D="DAV:"><D:prop><D:a/><b/></D:prop></D:propfind>"#);
        assert!(matches!(ok, Ok(PropfindRequest::Prop(names)) if names.len() == 2));
    }

    #[test]
    fn proppatch_bodies() {
        let ops = parse_proppatch(
            br#"<D:propertyupdate xmlns:D="DAV:" xmlns:Z="http://example.com/ns"><D:set><D:prop><Z:author>x</Z:author></D:prop></D:set><D:remove><D:prop><Z:old/></D:prop></D:remove></D:propertyupdate>"#,
        )
        .unwrap();
        assert_eq!(ops.len(), 2);
        assert!(matches!(&ops[0], PatchOp::Set(p) if p.name.local == "author" && p.name.ns == "http://example.com/ns"));
        // The value is kept verbatim, with the prefix it inherited declared on it.
        let PatchOp::Set(p) = &ops[0] else { panic!() };
        assert_eq!(
            p.xml,
            r#"<Z:author xmlns:D="DAV:" xmlns:Z="http://example.com/ns">x</Z:author>"#
        );
        assert!(matches!(&ops[1], PatchOp::Remove(n) if n.local == "old"));
        assert!(parse_proppatch(b"<D:propertyupdate xmlns:D=\"DAV:\"/>").is_err());
    }

    fn file_props() -> LiveProps {
        LiveProps {
            collection: false,
            content_length: 42,
            last_modified: Some(SystemTime::UNIX_EPOCH),
            etag: Some("\"abc\"".into()),
            content_type: Some("text/plain".into()),
            lockdiscovery: None,
        }
    }

    #[test]
    fn responses_split_found_and_missing_properties() {
        let req = PropfindRequest::Prop(vec![
            PropName::dav("getcontentlength"),
            PropName {
                ns: "urn:x".into(),
                local: "nope".into(),
            },
        ]);
        let xml = propfind_response("/a%20b.txt", &file_props(), &[], &req);
        assert!(xml.starts_with("<D:response><D:href>/a%20b.txt</D:href>"), "{xml}");
        assert!(xml.contains("<D:getcontentlength>42</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK"));
        assert!(xml.contains("<R:nope xmlns:R=\"urn:x\"/></D:prop><D:status>HTTP/1.1 404 Not Found"));
    }

    #[test]
    fn allprop_lists_what_is_defined() {
        let xml = propfind_response("/f", &file_props(), &[], &PropfindRequest::AllProp);
        for p in [
            "<D:resourcetype/>",
            "<D:getetag>&quot;abc&quot;</D:getetag>",
            "Thu, 01 Jan 1970 00:00:00 GMT",
        ] {
            assert!(xml.contains(p), "{p} missing in {xml}");
        }
        let dir = LiveProps {
            collection: true,
            ..file_props()
        };
        let xml = propfind_response("/d/", &dir, &[], &PropfindRequest::AllProp);
        assert!(xml.contains("<D:resourcetype><D:collection/></D:resourcetype>"));
        assert!(!xml.contains("getcontentlength"));
        let names = propfind_response("/d/", &dir, &[], &PropfindRequest::PropName);
        assert!(names.contains("<D:resourcetype/><D:getlastmodified/>"), "{names}");
    }

    #[test]
    fn proppatch_results_are_grouped_by_status() {
        let a = PropName {
            ns: String::new(),
            local: "nullns".into(),
        };
        let b = PropName::dav("getetag");
        let xml = proppatch_response("/f", &[(&a, 424), (&b, 403)]);
        assert!(
            xml.contains("<nullns xmlns=\"\"/></D:prop><D:status>HTTP/1.1 424 Failed Dependency"),
            "{xml}"
        );
        assert!(xml.contains("<D:getetag/></D:prop><D:status>HTTP/1.1 403 Forbidden"));
        assert!(xml.ends_with(MULTISTATUS_TAIL));
    }

    #[test]
    fn proppatch_values_that_are_not_well_formed_are_refused() {
        let patch = |value: &str| {
            let body = format!(
                r#"<propertyupdate xmlns="DAV:"><set><prop><x:p xmlns:x="urn:x">{value}</x:p></prop></set></propertyupdate>"#
            );
            parse_proppatch(body.as_bytes())
        };
        for bad in [
            "&undefinedent;",
            "&#0;",
            "&#x1;",
            "&#xD800;",
            "a ]]> b",
            "\u{1}",
            "<y a=\"&nope;\"/>",
            "<y a=\"&#0;\"/>",
            "<![CDATA[\u{2}]]>",
            "<!-- a -- b -->",
            "<?xml version=\"1.0\"?>",
            "<a\"b/>",
            "<y 1a=\"x\"/>",
        ] {
            assert!(matches!(patch(bad), Err(XmlError::Malformed(_))), "accepted {bad:?}");
        }
        for good in [
            "&amp;&lt;&gt;&quot;&apos;",
            "&#x41;&#66;",
            "<![CDATA[ ]] > ]]>",
            "<y a=\"&amp;\"/>",
            "é\t\n",
        ] {
            assert!(patch(good).is_ok(), "refused {good:?}");
        }
        // A DTD could define entities; none is accepted.
        let dtd = br#"<!DOCTYPE d [<!ENTITY e "x">]><propertyupdate xmlns="DAV:"><set><prop><p>&e;</p></prop></set></propertyupdate>"#;
        assert!(parse_proppatch(dtd).is_err());
        // A value stored before the check (or behind the server's back) is never sent.
        let stored = encode_dead_props(&[
            DeadProp {
                name: PropName {
                    ns: "urn:x".into(),
                    local: "bad".into(),
                },
                xml: r#"<x:bad xmlns:x="urn:x">&undefinedent;</x:bad>"#.into(),
            },
            DeadProp {
                name: PropName {
                    ns: "urn:x".into(),
                    local: "good".into(),
                },
                xml: r#"<x:good xmlns:x="urn:x">ok</x:good>"#.into(),
            },
        ]);
        let back = decode_dead_props(&stored);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].name.local, "good");
    }

    #[test]
    fn dead_properties_are_stored_and_returned_verbatim() {
        let ops = parse_proppatch(
            br#"<propertyupdate xmlns="DAV:"><set><prop><x:color xmlns:x="urn:x">red <b xmlns="urn:b">!</b></x:color><plain xmlns="">1</plain></prop></set><remove><prop><x:gone xmlns:x="urn:x"/></prop></remove></propertyupdate>"#,
        )
        .unwrap();
        let mut props = decode_dead_props(b"");
        apply_patch(&mut props, &ops);
        assert_eq!(props.len(), 2);
        let blob = encode_dead_props(&props);
        let back = decode_dead_props(&blob);
        assert_eq!(back, props);
        let req = PropfindRequest::Prop(vec![props[0].name.clone(), PropName::dav("nothing")]);
        assert!(needs_dead_props(&req));
        assert!(!needs_dead_props(&PropfindRequest::Prop(vec![PropName::dav(
            "getetag"
        )])));
        let xml = propfind_response("/f", &file_props(), &back, &req);
        // The default namespace it inherited is declared on it too.
        assert!(
            xml.contains(r#"<x:color xmlns="DAV:" xmlns:x="urn:x">red <b xmlns="urn:b">!</b></x:color>"#),
            "{xml}"
        );
        assert!(xml.contains("<D:nothing/></D:prop><D:status>HTTP/1.1 404"));
        let all = propfind_response("/f", &file_props(), &back, &PropfindRequest::AllProp);
        assert!(all.contains(r#"<plain xmlns="">1</plain>"#), "{all}");
        assert!(is_protected(&PropName::dav("getetag")));
        assert!(!is_protected(&PropName::dav("displayname")));
    }

    proptest::proptest! {
        #[test]
        fn request_bodies_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = parse_propfind(&body);
            let _ = parse_proppatch(&body);
        }

        #[test]
        fn xml_like_bodies_never_panic(body in "[<>/=\"a-zD:xmlns ]{0,200}") {
            let _ = parse_propfind(body.as_bytes());
            let _ = parse_proppatch(body.as_bytes());
        }
    }
}
