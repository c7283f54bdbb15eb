//! The only HTTP → neutral mapping: method, decoded path and headers become a
//! command record. Paths are percent-decoded once (`proto_http`) and normalised by
//! the same [`VirtualPath`] rules as FTP.

use std::borrow::Cow;

use http::{Method, header};

use super::exchange::HttpExchange;
use crate::auth::{Credentials, Password};
use crate::channel::Channel;
use crate::command::{CommandRecord, ListFormat, Protocol, RawCommand, Verb};
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
            "PROPFIND" | "PROPPATCH" | "COPY" | "MOVE" | "LOCK" | "UNLOCK" | "POST" | "PATCH" | "TRACE" => {
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
    let mut rec = CommandRecord::new(Protocol::Http, verb, raw, session, Channel::Http(exchange));
    rec.args.credentials = credentials;
    rec.args.list_format = list_format;
    rec.args.write_mode = WriteMode::Replace;
    match decoded {
        Ok(d) => rec.set_path(VirtualPath::parse_absolute(&d.path)),
        Err(e) => {
            rec.rejected = Some(Reply {
                code: Code::Status(Status::BadFileName),
                text: Cow::Owned(format!("Bad request path: {e}.")),
            });
        }
    }
    rec
}
