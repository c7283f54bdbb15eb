//! The only HTTP → neutral mapping: method, decoded path and headers become a
//! command record. Paths are percent-decoded once (`proto_http`) and normalised by
//! the same [`VirtualPath`] rules as FTP.

use std::borrow::Cow;

use http::{HeaderMap, Method, Version, header};
use proto_http::webdav::{Depth, DestinationError};

use super::exchange::HttpExchange;
use crate::auth::{Credentials, Password};
use crate::channel::Channel;
use crate::command::{Args, CommandRecord, ListFormat, Protocol, RawCommand, Verb};
use crate::path::{MAX_PATH_LEN, VirtualPath};
use crate::response::{Code, Reply, Status};
use crate::session::Session;
use crate::storage::WriteMode;

/// The canonical verb for a method and whether the path ends in `/`.
fn verb_of(method: &Method, trailing_slash: bool) -> Verb {
    match *method {
        Method::GET | Method::HEAD if trailing_slash => Verb::List,
        Method::GET | Method::HEAD => Verb::Read,
        Method::PUT => Verb::Write,
        Method::DELETE => Verb::Delete,
        Method::OPTIONS => Verb::Protocol("OPTIONS"),
        _ => match method.as_str() {
            "MKCOL" => Verb::MakeDir,
            "COPY" => Verb::Copy,
            "MOVE" => Verb::Rename,
            "PROPFIND" | "PROPPATCH" | "LOCK" | "UNLOCK" | "POST" | "PATCH" | "TRACE" => {
                Verb::Protocol(static_name(method.as_str()))
            }
            other => Verb::Custom(other.to_owned()),
        },
    }
}

fn static_name(m: &str) -> &'static str {
    crate::metrics::KNOWN_COMMANDS
        .iter()
        .find(|k| **k == m)
        .copied()
        .unwrap_or("OTHER")
}

/// Lifts a request into a record borrowing the session and the exchange.
///
/// A request the front-end cannot take as it is still becomes a record, with
/// the reply that refuses it in `rejected`, so that it is logged and counted
/// like any other. The first problem found wins, in this order: a head over
/// the size limit (431); framing (`Host`, `Transfer-Encoding`: 400 or 501); the
/// `Authorization` header (400 for two, 401 when unusable); the path (400); the
/// WebDAV headers.
pub fn lift<'a>(session: &'a mut Session, exchange: &'a mut HttpExchange) -> CommandRecord<'a> {
    let method = exchange.method.clone();
    let raw_path = exchange.raw_path.clone();
    // `OPTIONS *` (RFC 9110 §9.3.7) asks about the server, not a resource.
    let asterisk = method == Method::OPTIONS && raw_path == "*";
    let decoded = proto_http::decode_request_path(&raw_path, MAX_PATH_LEN);
    let trailing = decoded.as_ref().map(|d| d.trailing_slash).unwrap_or(false);
    let verb = verb_of(&method, trailing);
    let list_format = if proto_http::wants_json(&exchange.headers) {
        ListFormat::Json
    } else {
        ListFormat::Html
    };
    let raw = RawCommand::Http {
        method: method.clone(),
        path: raw_path,
    };
    let framing = exchange.framing.take();
    let mut rejected = exchange
        .head_too_large
        .then(|| reject(Status::HeaderTooLarge, String::new()))
        .or(framing);
    let credentials = match credentials(&exchange.headers) {
        Ok(credentials) => credentials,
        Err(reply) => {
            rejected.get_or_insert(reply);
            None
        }
    };
    let mut args = Args {
        credentials,
        list_format,
        write_mode: WriteMode::Replace,
        ..Args::default()
    };
    // A Destination on this server names the scheme the request came in on.
    let scheme = if session.tls { "https" } else { "http" };
    let target = webdav_args(&verb, &exchange.headers, scheme, &mut args);
    let mut rec = CommandRecord::new(Protocol::Http, verb, raw, session, Channel::new(exchange));
    rec.args = args;
    // What OPTIONS tells (the methods and the WebDAV classes) is the same for
    // everyone: no login needed. The Windows redirector sends its first
    // OPTIONS without credentials and gives up the mount on a 401.
    if method == Method::OPTIONS {
        rec.requires_login = false;
    }
    if !asterisk {
        match decoded {
            Ok(d) => rec.set_path(VirtualPath::parse_absolute(&d.path)),
            Err(e) => {
                rejected.get_or_insert_with(|| reject(Status::BadFileName, format!("Bad request path: {e}.")));
            }
        }
    }
    match target {
        Ok(Some(target)) => rec.set_target(target),
        Ok(None) => {}
        Err(reply) => {
            rejected.get_or_insert(reply);
        }
    }
    rec.rejected = rejected;
    rec
}

/// The credentials of the `Authorization` header: none without one; refused
/// when there are two (400: which one would count?) or when the one there
/// cannot be used — another scheme, broken base64, a user name that is not
/// UTF-8 or holds a control character, a user name or password over
/// [`proto_http::auth::MAX_USER_LEN`] / [`proto_http::auth::MAX_PASSWORD_LEN`]
/// (401 with the challenge, so that the client can try again with Basic).
///
/// Such a request is not anonymous: the client meant to log in. Nor is it a
/// failed login for the throttle: it carries no password that could be right,
/// so a guesser learns nothing from it, while counting it would let one client
/// with a foreign scheme (a Bearer token from a proxy, say) get its address,
/// and everyone behind the same NAT, banned on both protocols.
fn credentials(headers: &HeaderMap) -> Result<Option<Credentials>, Reply> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(reject(
            Status::BadArguments,
            "More than one Authorization header.".into(),
        ));
    }
    match proto_http::parse_basic(value.as_bytes()) {
        Some(basic) => Ok(Some(Credentials {
            user: basic.user,
            password: Password::new(basic.password),
        })),
        None => Err(reject(
            Status::NotLoggedIn,
            "Unusable credentials: log in with HTTP Basic (a UTF-8 user name and password).".into(),
        )),
    }
}

/// Message framing the request cannot be served with (RFC 9112), checked by
/// the front-end on the message hyper hands over (`version` is the wire's):
///
/// - `Host` (§3.2): an HTTP/1.1 request without one, any request with two, or
///   one whose value is no `uri-host [":" port]` is 400. HTTP/1.0 may leave it
///   out; HTTP/2 names the server in `:authority`, which the front-end copies
///   into `Host` before this runs.
/// - `Transfer-Encoding` (§6.1): only `chunked` is implemented (hyper decodes
///   it); any other coding is 501, before any of the body is read, so nothing
///   undecoded is ever stored. `chunked` twice is 400 (§6.1: never applied
///   more than once).
pub fn framing_error(version: Version, headers: &HeaderMap) -> Option<Reply> {
    let bad = |text: &str| Some(reject(Status::BadArguments, text.to_owned()));
    let mut hosts = headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => return bad("More than one Host header."),
        (None, None) if version == Version::HTTP_11 => return bad("Missing Host header."),
        (Some(host), None) if !valid_host(host.as_bytes()) => return bad("Invalid Host header."),
        _ => {}
    }
    let mut chunked = 0;
    for value in headers.get_all(header::TRANSFER_ENCODING) {
        for coding in value.as_bytes().split(|b| *b == b',').map(<[u8]>::trim_ascii) {
            if coding.eq_ignore_ascii_case(b"chunked") {
                chunked += 1;
            } else if !coding.is_empty() {
                return Some(reject(
                    Status::TransferCodingNotImplemented,
                    format!(
                        "Transfer coding {:?} not implemented; only chunked is.",
                        String::from_utf8_lossy(coding)
                    ),
                ));
            }
        }
    }
    if chunked > 1 {
        return bad("Transfer coding chunked applied more than once.");
    }
    None
}

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2), or empty (a target without
/// an authority): an authority without user information.
fn valid_host(value: &[u8]) -> bool {
    value.is_empty() || (!value.contains(&b'@') && http::uri::Authority::try_from(value).is_ok())
}

fn reject(status: Status, text: String) -> Reply {
    Reply {
        code: Code::Status(status),
        text: Cow::Owned(text),
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The WebDAV headers of `DELETE`, `COPY` and `MOVE` (RFC 4918 §9.6, §9.8, §9.9):
/// `Depth` and `Overwrite` become arguments, `Destination` the returned target;
/// a header that cannot be used rejects the request (400, or 502 for another server).
fn webdav_args(verb: &Verb, headers: &HeaderMap, scheme: &str, args: &mut Args) -> Result<Option<Target>, Reply> {
    if !matches!(verb, Verb::Delete | Verb::Copy | Verb::Rename) {
        return Ok(None);
    }
    let bad = |what: &str| reject(Status::BadArguments, format!("Invalid {what} header."));
    args.recursive = true;
    let depth = proto_http::webdav::parse_depth(header(headers, "depth")).map_err(|()| bad("Depth"))?;
    match (verb, depth) {
        // COPY of a collection may be shallow; nothing else takes a depth but infinity.
        (Verb::Copy, Some(Depth::Zero)) => args.shallow = true,
        (_, None | Some(Depth::Infinity)) => {}
        _ => return Err(bad("Depth")),
    }
    if *verb == Verb::Delete {
        return Ok(None);
    }
    args.overwrite =
        proto_http::webdav::parse_overwrite(header(headers, "overwrite")).map_err(|()| bad("Overwrite"))?;
    let destination = header(headers, "destination").ok_or_else(|| bad("Destination"))?;
    let raw =
        proto_http::webdav::destination_path(destination, header(headers, "host"), scheme).map_err(|e| match e {
            DestinationError::OtherServer => reject(Status::OtherServer, String::new()),
            DestinationError::Invalid => bad("Destination"),
        })?;
    let decoded = proto_http::decode_request_path(raw, MAX_PATH_LEN)
        .map_err(|e| reject(Status::BadFileName, format!("Bad destination path: {e}.")))?;
    Ok(Some(VirtualPath::parse_absolute(&decoded.path)))
}

/// A `Destination` path, or why its text was refused.
type Target = Result<VirtualPath, crate::path::PathError>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static [u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_bytes(value).unwrap());
        }
        map
    }

    fn status_of(reply: Option<Reply>) -> Option<Status> {
        reply.map(|r| match r.code {
            Code::Status(s) => s,
            other => panic!("not a status: {other:?}"),
        })
    }

    #[test]
    fn host_is_required_once_on_http_1_1_only() {
        let framing = |version, h: &[(&'static str, &'static [u8])]| status_of(framing_error(version, &headers(h)));
        let bad = Some(Status::BadArguments);
        assert_eq!(framing(Version::HTTP_11, &[("host", b"example.com:8080")]), None);
        assert_eq!(framing(Version::HTTP_11, &[("host", b"[::1]:8080")]), None);
        assert_eq!(framing(Version::HTTP_11, &[("host", b"")]), None);
        assert_eq!(framing(Version::HTTP_11, &[]), bad);
        assert_eq!(framing(Version::HTTP_11, &[("host", b"a"), ("host", b"a")]), bad);
        assert_eq!(framing(Version::HTTP_11, &[("host", b"user@example.com")]), bad);
        assert_eq!(framing(Version::HTTP_11, &[("host", b"exa mple.com")]), bad);
        assert_eq!(framing(Version::HTTP_10, &[]), None);
        assert_eq!(framing(Version::HTTP_10, &[("host", b"a"), ("host", b"b")]), bad);
        // HTTP/2: the front-end copies :authority into Host; none at all is left to HTTP/2's rules.
        assert_eq!(framing(Version::HTTP_2, &[]), None);
    }

    #[test]
    fn only_chunked_is_a_transfer_coding_here() {
        let framing = |te: &[(&'static str, &'static [u8])]| {
            let mut h = vec![("host", b"h".as_slice())];
            h.extend_from_slice(te);
            status_of(framing_error(Version::HTTP_11, &headers(&h)))
        };
        assert_eq!(framing(&[("transfer-encoding", b"chunked")]), None);
        assert_eq!(framing(&[("transfer-encoding", b" Chunked ")]), None);
        let not_implemented = Some(Status::TransferCodingNotImplemented);
        assert_eq!(framing(&[("transfer-encoding", b"gzip, chunked")]), not_implemented);
        assert_eq!(
            framing(&[("transfer-encoding", b"gzip"), ("transfer-encoding", b"chunked")]),
            not_implemented
        );
        assert_eq!(framing(&[("transfer-encoding", b"identity")]), not_implemented);
        assert_eq!(
            framing(&[("transfer-encoding", b"chunked, chunked")]),
            Some(Status::BadArguments)
        );
    }

    #[test]
    fn authorization_is_basic_once_or_refused() {
        let creds = |h: &[(&'static str, &'static [u8])]| credentials(&headers(h));
        assert_eq!(creds(&[]).unwrap(), None);
        let ok = creds(&[("authorization", b"Basic dXNlcjpwYXNz")]).unwrap().unwrap();
        assert_eq!((ok.user.as_str(), ok.password.expose()), ("user", "pass"));
        for value in [b"Bearer x".as_slice(), b"Basic !!!!", b"Basic", b"Basic AHU6cA=="] {
            let refused = creds(&[("authorization", value)]).unwrap_err();
            assert_eq!(refused.code, Code::Status(Status::NotLoggedIn), "{value:?}");
        }
        let two = creds(&[
            ("authorization", b"Basic dXNlcjpwYXNz"),
            ("authorization", b"Basic dXNlcjpwYXNz"),
        ])
        .unwrap_err();
        assert_eq!(two.code, Code::Status(Status::BadArguments));
    }
}
