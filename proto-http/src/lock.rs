//! WebDAV class 2 on the wire (RFC 4918 §6, §7, §9.10, §9.11, §10.4, §10.5,
//! §10.7, §14, §15): `LOCK` bodies (`DAV:lockinfo`), the `If`, `Lock-Token`
//! and `Timeout` headers, lock tokens, and the XML a server sends back
//! (`DAV:lockdiscovery`, `DAV:supportedlock`, the 423/409 error bodies).
//!
//! Pure and bounded like the rest of the crate: no clock (the remaining
//! time of a lock is a parameter), no randomness (a new token is made from
//! bytes the caller draws), every parse limited in size and count. Where
//! the lock state lives and how a request is checked against it is the
//! server's business; [`evaluate_if`] takes the state of each resource the
//! header names through a callback.

use std::fmt::Write as _;

use crate::webdav::{XmlError, escape_text, parse_tree, standalone_xml};

/// The scheme of the tokens this server issues (RFC 4918 Appendix C).
pub const TOKEN_SCHEME: &str = "opaquelocktoken:";

/// Longest `DAV:owner` element kept (it is echoed in every lockdiscovery).
pub const MAX_OWNER_XML: usize = 4096;

/// Most lists, and most conditions in one list, accepted in an `If` header.
pub const MAX_IF_LISTS: usize = 64;

/// Longest `If` header value parsed.
pub const MAX_IF_LEN: usize = 16 * 1024;

/// `DAV:supportedlock` content (§15.10): exclusive and shared write locks.
pub const SUPPORTED_LOCK: &str = "<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry><D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>";

/// A lock's scope (§6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockScope {
    /// No other lock may be held on the resource.
    Exclusive,
    /// Other shared locks may be held as well.
    Shared,
}

/// A parsed `LOCK` request body (§14.11 `lockinfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    /// The requested scope.
    pub scope: LockScope,
    /// The `DAV:owner` element as sent, self-contained (namespaces declared
    /// on it), to be echoed verbatim in lockdiscovery; `None` without one.
    pub owner: Option<String>,
}

/// Parses a `LOCK` body: `lockinfo` with a `lockscope` (exclusive or
/// shared), a `locktype` that must be `write` (the only type there is), and
/// an optional `owner` of at most [`MAX_OWNER_XML`] bytes.
pub fn parse_lockinfo(body: &[u8]) -> Result<LockInfo, XmlError> {
    let root = parse_tree(body)?;
    if !root.is_dav("lockinfo") {
        return Err(XmlError::Unexpected("the root element is not DAV:lockinfo"));
    }
    let mut scope = None;
    let mut write = false;
    let mut owner = None;
    for child in &root.children {
        if child.is_dav("lockscope") {
            scope = child.children.iter().find_map(|c| {
                if c.is_dav("exclusive") {
                    Some(LockScope::Exclusive)
                } else if c.is_dav("shared") {
                    Some(LockScope::Shared)
                } else {
                    None
                }
            });
        } else if child.is_dav("locktype") {
            write = child.children.iter().any(|c| c.is_dav("write"));
        } else if child.is_dav("owner") {
            let xml = standalone_xml(body, child)?;
            if xml.len() > MAX_OWNER_XML {
                return Err(XmlError::TooComplex);
            }
            owner = Some(xml);
        }
    }
    let scope = scope.ok_or(XmlError::Unexpected(
        "DAV:lockinfo needs a lockscope of exclusive or shared",
    ))?;
    if !write {
        return Err(XmlError::Unexpected("DAV:lockinfo needs the locktype write"));
    }
    Ok(LockInfo { scope, owner })
}

/// The lock timeout in seconds for a `Timeout` header (§10.7): the first
/// value understood — `Infinite` is `max`, `Second-n` is `n` capped at
/// `max` — or `default` when there is none (a server may choose, §6.6).
pub fn parse_timeout(value: Option<&str>, default: u64, max: u64) -> u64 {
    let Some(value) = value else {
        return default.min(max);
    };
    for item in value.split(',').map(str::trim) {
        if item.eq_ignore_ascii_case("infinite") {
            return max;
        }
        if let Some(n) = item
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("second-"))
            .and(item.get(7..))
        {
            if let Ok(secs) = n.parse::<u64>() {
                return secs.clamp(1, max.max(1));
            }
            // Larger than u64: as long as allowed.
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                return max;
            }
        }
    }
    default.min(max)
}

/// A new lock token from 16 random bytes: `opaquelocktoken:` and a version
/// 4 UUID (RFC 9562 §5.4; the variant and version bits are set here).
pub fn new_token(mut random: [u8; 16]) -> String {
    random[6] = (random[6] & 0x0f) | 0x40;
    random[8] = (random[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(TOKEN_SCHEME.len() + 36);
    out.push_str(TOKEN_SCHEME);
    for (i, b) in random.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The token of a `Lock-Token` header (§10.5: one `Coded-URL`, `<token>`).
pub fn parse_lock_token(value: &str) -> Option<&str> {
    let inner = value.trim().strip_prefix('<')?.strip_suffix('>')?;
    (!inner.is_empty() && !inner.contains(['<', '>']) && !inner.chars().any(char::is_whitespace)).then_some(inner)
}

/// One condition of an `If` list (§10.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `Not`: the condition is negated.
    pub not: bool,
    /// What is compared.
    pub test: Test,
}

/// What a condition compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// A state token (`<opaquelocktoken:…>`, `<DAV:no-lock>`): true when it is
    /// the token of a lock that applies to the resource.
    Token(String),
    /// An entity tag (`["…"]`, quotes included): true when it matches the
    /// resource's current entity tag (weak comparison, §10.4.4).
    ETag(String),
}

/// One list: its resource tag (an absolute URI or path, still
/// percent-encoded; `None` for the request URI) and its conditions, all of
/// which must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfList {
    /// The tagged resource, or `None` for the request URI.
    pub tag: Option<String>,
    /// The conditions (ANDed).
    pub conditions: Vec<Condition>,
}

/// A parsed `If` header: lists that are ORed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IfHeader {
    /// The lists.
    pub lists: Vec<IfList>,
}

/// Why an `If` header could not be parsed (answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IfError {
    /// Not the grammar of §10.4.2.
    #[error("malformed If header")]
    Malformed,
    /// Longer than [`MAX_IF_LEN`], or more than [`MAX_IF_LISTS`] lists or conditions.
    #[error("If header too large")]
    TooLarge,
}

impl IfHeader {
    /// Parses one `If` field value and adds its lists (several `If` fields
    /// are taken as one header whose lists are ORed). Tagged and untagged
    /// lists may not be mixed (§10.4.2: `1*No-tag-List | 1*Tagged-list`).
    pub fn add(&mut self, value: &str) -> Result<(), IfError> {
        if value.len() > MAX_IF_LEN {
            return Err(IfError::TooLarge);
        }
        let mut rest = value;
        let mut tag: Option<String> = None;
        let mut tagged = None;
        loop {
            rest = rest.trim_start();
            let Some(first) = rest.chars().next() else { break };
            match first {
                '<' => {
                    let (coded, after) = coded_url(rest)?;
                    if tagged == Some(false) {
                        return Err(IfError::Malformed);
                    }
                    tagged = Some(true);
                    tag = Some(coded.to_owned());
                    rest = after;
                    // A tag must be followed by at least one list.
                    if !rest.trim_start().starts_with('(') {
                        return Err(IfError::Malformed);
                    }
                }
                '(' => {
                    if tagged.is_none() {
                        tagged = Some(false);
                    }
                    let (conditions, after) = list(&rest[1..])?;
                    if self.lists.len() >= MAX_IF_LISTS {
                        return Err(IfError::TooLarge);
                    }
                    self.lists.push(IfList {
                        tag: tag.clone(),
                        conditions,
                    });
                    rest = after;
                }
                _ => return Err(IfError::Malformed),
            }
        }
        if tagged.is_none() {
            return Err(IfError::Malformed);
        }
        Ok(())
    }

    /// The state tokens the header submits (§6.4, §10.4.1): every token in a
    /// condition that is not negated.
    pub fn submitted_tokens(&self) -> impl Iterator<Item = &str> {
        self.lists
            .iter()
            .flat_map(|l| l.conditions.iter())
            .filter(|c| !c.not)
            .filter_map(|c| match &c.test {
                Test::Token(t) => Some(t.as_str()),
                Test::ETag(_) => None,
            })
    }
}

/// `<…>` at the start of `s`: its content and the rest.
fn coded_url(s: &str) -> Result<(&str, &str), IfError> {
    let body = s.strip_prefix('<').ok_or(IfError::Malformed)?;
    let end = body.find('>').ok_or(IfError::Malformed)?;
    let inner = &body[..end];
    if inner.is_empty() || inner.contains('<') || inner.chars().any(char::is_whitespace) {
        return Err(IfError::Malformed);
    }
    Ok((inner, &body[end + 1..]))
}

/// The conditions of one list, `s` starting after its `(`; returns the rest
/// after the `)`.
fn list(s: &str) -> Result<(Vec<Condition>, &str), IfError> {
    let mut conditions = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(')') {
            if conditions.is_empty() {
                return Err(IfError::Malformed);
            }
            return Ok((conditions, after));
        }
        let mut not = false;
        if rest.get(..3).is_some_and(|w| w.eq_ignore_ascii_case("not")) {
            not = true;
            rest = rest[3..].trim_start();
        }
        let test = if rest.starts_with('<') {
            let (token, after) = coded_url(rest)?;
            rest = after;
            Test::Token(token.to_owned())
        } else if let Some(body) = rest.strip_prefix('[') {
            let end = body.find(']').ok_or(IfError::Malformed)?;
            let tag = body[..end].trim();
            if crate::etag::parse(tag.as_bytes()).is_none() {
                return Err(IfError::Malformed);
            }
            rest = &body[end + 1..];
            Test::ETag(tag.to_owned())
        } else {
            return Err(IfError::Malformed);
        };
        if conditions.len() >= MAX_IF_LISTS {
            return Err(IfError::TooLarge);
        }
        conditions.push(Condition { not, test });
    }
}

/// What a condition is compared with: one resource's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceState {
    /// The current entity tag, quoted (`None`: the resource does not exist or has none).
    pub etag: Option<String>,
    /// The tokens of the locks that apply to the resource.
    pub tokens: Vec<String>,
}

/// Evaluates an `If` header (§10.4.3): true when any list holds, a list
/// holding when all its conditions do, each list against the state of the
/// resource it is tagged with (`state(None)` for the request URI; `state`
/// answers `None` for a resource that is not on this server, for which
/// every list is false).
pub fn evaluate_if(header: &IfHeader, mut state: impl FnMut(Option<&str>) -> Option<ResourceState>) -> bool {
    header.lists.iter().any(|l| {
        let Some(s) = state(l.tag.as_deref()) else {
            return false;
        };
        l.conditions.iter().all(|c| {
            let holds = match &c.test {
                Test::Token(t) => s.tokens.iter().any(|k| k == t),
                Test::ETag(tag) => s.etag.as_deref().is_some_and(|current| etag_matches(tag, current)),
            };
            holds != c.not
        })
    })
}

fn etag_matches(a: &str, b: &str) -> bool {
    match (crate::etag::parse(a.as_bytes()), crate::etag::parse(b.as_bytes())) {
        (Some(x), Some(y)) => x.weak_eq(&y),
        _ => false,
    }
}

/// One active lock as lockdiscovery shows it (§14.1 `activelock`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveLock<'a> {
    /// The scope.
    pub scope: LockScope,
    /// Depth infinity (else 0).
    pub infinite: bool,
    /// The owner element as the client sent it.
    pub owner: Option<&'a str>,
    /// Seconds left before the lock expires.
    pub seconds_left: u64,
    /// The lock token.
    pub token: &'a str,
    /// The href (percent-encoded) of the lock root.
    pub root: &'a str,
}

/// The content of `DAV:lockdiscovery` for these locks (empty for none).
pub fn lockdiscovery(locks: &[ActiveLock<'_>]) -> String {
    let mut out = String::new();
    for l in locks {
        let scope = match l.scope {
            LockScope::Exclusive => "exclusive",
            LockScope::Shared => "shared",
        };
        let depth = if l.infinite { "infinity" } else { "0" };
        let _ = write!(
            out,
            "<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:{scope}/></D:lockscope><D:depth>{depth}</D:depth>"
        );
        if let Some(owner) = l.owner {
            out.push_str(owner);
        }
        let _ = write!(
            out,
            "<D:timeout>Second-{}</D:timeout><D:locktoken><D:href>{}</D:href></D:locktoken><D:lockroot><D:href>{}</D:href></D:lockroot></D:activelock>",
            l.seconds_left,
            escape_text(l.token),
            escape_text(l.root)
        );
    }
    out
}

/// The body of a successful `LOCK` (§9.10.1): `DAV:prop` with the
/// lockdiscovery content made by [`lockdiscovery`].
pub fn lock_response(discovery: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:prop xmlns:D=\"DAV:\"><D:lockdiscovery>{discovery}</D:lockdiscovery></D:prop>\n"
    )
}

/// A precondition a lock refusal names (§16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockPrecondition {
    /// 423: a lock applies and its token was not submitted; names the lock roots.
    TokenSubmitted,
    /// 423: a conflicting lock is held; names the lock roots.
    NoConflictingLock,
    /// 409: the token of an `UNLOCK` does not apply to the request URI.
    TokenMatchesRequestUri,
}

/// The `DAV:error` body of a refusal; `hrefs` are percent-encoded.
pub fn error_body(precondition: LockPrecondition, hrefs: &[String]) -> String {
    let name = match precondition {
        LockPrecondition::TokenSubmitted => "lock-token-submitted",
        LockPrecondition::NoConflictingLock => "no-conflicting-lock",
        LockPrecondition::TokenMatchesRequestUri => "lock-token-matches-request-uri",
    };
    let mut out = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error xmlns:D=\"DAV:\"><D:{name}");
    if hrefs.is_empty() {
        out.push_str("/>");
    } else {
        out.push('>');
        for h in hrefs {
            let _ = write!(out, "<D:href>{}</D:href>", escape_text(h));
        }
        let _ = write!(out, "</D:{name}>");
    }
    out.push_str("</D:error>\n");
    out
}

#[cfg(test)]
mod tests;
