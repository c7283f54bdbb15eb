//! HTTP rendering: a selected reply chain → exactly one status, headers and a short
//! body; and the [`Responder`] that enforces "one status per request".
//!
//! Rules (from the server component's `SendResponse` contract in
//! `reference/000_…txt`): a status is three digits, 100–999; a success without a
//! body is `204 No Content`; headers are set before the status is sent and not
//! after; sending a second status for one request fails with an error (and the
//! caller logs it) instead of confusing the client.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::{Code, Reply, Status};

/// A request's second attempt at a status, or a status that is not three digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A status was already sent for this request.
    #[error("a status was already sent for this request")]
    AlreadySent,
    /// The status is outside 100–999.
    #[error("status {0} is not three digits (100-999)")]
    InvalidStatus(u16),
}

/// What the renderer needs to know about the request.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    /// The method was GET or HEAD.
    pub is_get_or_head: bool,
    /// The method was HEAD (no body is sent).
    pub is_head: bool,
    /// The request path as the client sent it (percent-encoded), for redirects.
    pub raw_path: &'a str,
    /// The realm for `WWW-Authenticate`.
    pub realm: &'a str,
    /// Methods allowed on the target, for `405` replies.
    pub allow: &'a str,
}

/// A rendered response head and body.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The status.
    pub status: StatusCode,
    /// Headers the status implies (challenge, Location, Allow, Content-Type).
    pub headers: HeaderMap,
    /// The body (plain text for errors, empty for successes).
    pub body: Bytes,
}

/// The HTTP status a reply code renders as (`None` for `Dup`).
pub fn http_code(code: Code) -> Option<u16> {
    match code {
        Code::Status(s) => Some(s.mapping().http),
        Code::Raw(c) => Some(c),
        Code::Dup => None,
    }
}

/// Renders a selected chain for a request.
pub fn render(replies: &[Reply], req: &RequestInfo<'_>) -> Result<Rendered, SendError> {
    let first = replies.iter().map(|r| r.code).find(|c| *c != Code::Dup);
    let mut code = first.and_then(http_code).unwrap_or(500);
    let mut headers = HeaderMap::new();
    match first {
        Some(Code::Status(Status::IsADirectory)) if req.is_get_or_head => {
            code = 301;
            let location = format!("{}/", req.raw_path);
            if let Ok(v) = HeaderValue::from_str(&location) {
                headers.insert(header::LOCATION, v);
            }
        }
        // Every refusal that a login could turn into a success carries the challenge.
        Some(Code::Status(Status::NotLoggedIn | Status::LoginFailed | Status::AnonymousDenied)) => {
            if let Ok(v) = HeaderValue::from_str(&proto_http::auth::basic_challenge(req.realm)) {
                headers.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        Some(Code::Status(Status::NotImplemented)) => {
            if let Ok(v) = HeaderValue::from_str(req.allow) {
                headers.insert(header::ALLOW, v);
            }
        }
        _ => {}
    }
    if let Some(Code::Status(s)) = first
        && s.mapping().close
    {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let status = StatusCode::from_u16(code).map_err(|_| SendError::InvalidStatus(code))?;
    let body = if status.is_success() || status == StatusCode::NOT_MODIFIED || req.is_head {
        Bytes::new()
    } else {
        let mut text = String::new();
        for r in replies {
            let t: &str = match r.code {
                Code::Status(s) if r.text.is_empty() => s.mapping().text,
                _ => &r.text,
            };
            text.push_str(t);
            text.push('\n');
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Bytes::from(text)
    };
    // A success that carries no data is "204 No Content".
    let status = if status == StatusCode::OK && body.is_empty() {
        StatusCode::NO_CONTENT
    } else {
        status
    };
    Ok(Rendered { status, headers, body })
}

/// Enforces one status per request: the first [`Responder::send`] hands the
/// response to the connection, every later one fails.
#[derive(Debug)]
pub struct Responder<T> {
    tx: Option<tokio::sync::oneshot::Sender<T>>,
    sent: Option<u16>,
}

impl<T> Responder<T> {
    /// A responder that delivers to `tx`.
    pub fn new(tx: tokio::sync::oneshot::Sender<T>) -> Self {
        Responder {
            tx: Some(tx),
            sent: None,
        }
    }

    /// True once a status has been sent.
    pub fn is_sent(&self) -> bool {
        self.sent.is_some()
    }

    /// The status sent, once it has been.
    pub fn sent_status(&self) -> Option<u16> {
        self.sent
    }

    /// Sends the response with `status`; fails if one was sent before or the status
    /// is not three digits. (A client that has gone away is not an error here.)
    pub fn send(&mut self, status: u16, response: T) -> Result<(), SendError> {
        if !(100..=999).contains(&status) {
            return Err(SendError::InvalidStatus(status));
        }
        let tx = self.tx.take().ok_or(SendError::AlreadySent)?;
        self.sent = Some(status);
        let _ = tx.send(response);
        Ok(())
    }
}
