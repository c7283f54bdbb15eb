//! The only HTTP → neutral mapping: method, decoded path and headers become a
//! command record. Paths are percent-decoded once (`proto_http`) and normalised by
//! the same [`VirtualPath`] rules as FTP.

use std::borrow::Cow;

use http::{HeaderMap, Method, header};
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
pub fn lift<'a>(session: &'a mut Session, exchange: &'a mut HttpExchange) -> CommandRecord<'a> {
    let method = exchange.method.clone();
    let raw_path = exchange.raw_path.clone();
    let decoded = proto_http::decode_request_path(&raw_path, MAX_PATH_LEN);
    let trailing = decoded.as_ref().map(|d| d.trailing_slash).unwrap_or(false);
    let verb = verb_of(&method, trailing);
    let credentials = exchange
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| proto_http::parse_basic(v.as_bytes()))
        .map(|b| Credentials {
            user: b.user,
            password: Password::new(b.password),
        });
    let list_format = if proto_http::wants_json(&exchange.headers) {
        ListFormat::Json
    } else {
        ListFormat::Html
    };
    let raw = RawCommand::Http {
        method: method.clone(),
        path: raw_path,
    };
    let mut args = Args {
        credentials,
        list_format,
        write_mode: WriteMode::Replace,
        ..Args::default()
    };
    let scheme = if session.tls { "https" } else { "http" };
    let target = webdav_args(&verb, &exchange.headers, scheme, &mut args);
    let head_too_large = exchange.head_too_large;
    let mut rec = CommandRecord::new(Protocol::Http, verb, raw, session, Channel::new(exchange));
    rec.args = args;
    if head_too_large {
        rec.rejected = Some(reject(Status::HeaderTooLarge, String::new()));
        return rec;
    }
    match decoded {
        Ok(d) => rec.set_path(VirtualPath::parse_absolute(&d.path)),
        Err(e) => {
            rec.rejected = Some(reject(Status::BadFileName, format!("Bad request path: {e}.")));
        }
    }
    match target {
        Ok(Some(target)) => rec.set_target(target),
        Ok(None) => {}
        Err(reply) => {
            rec.rejected.get_or_insert(reply);
        }
    }
    rec
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
