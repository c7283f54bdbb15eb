//! One HTTP request/response exchange: the HTTP side of the data channel.
//!
//! It applies HTTP's rules to reads (conditional requests, `Range`), sends exactly
//! one status per request through a [`Responder`], streams bodies through a small
//! bounded channel to hyper (so the pipeline's LOG_CMD sees the real byte count
//! and outcome) — except a local file's single region on a plain HTTP/1.x
//! connection, which goes from the file to the socket with `sendfile`
//! ([`sendfile`](super::sendfile)) while the pipeline waits for its end and its
//! byte count — and streams request bodies into uploads under a pace rule
//! ([`BodyPace`]) that a trickling client cannot stretch.
//!
//! # User content
//! Files are the users' own, served from the same origin as the listing page
//! (whose visitors' browsers hold Basic credentials for it). So that an uploaded
//! HTML page or script cannot act as the site, every response carries
//! `X-Content-Type-Options: nosniff` (a file is never run as something its
//! `Content-Type` does not say), and every response about a file (200, 206,
//! multipart, 304, 412, 416; GET and HEAD) carries `Content-Security-Policy:
//! sandbox`: a browser opens it in a unique origin with scripts, forms, popups
//! and plugins off. The HTML listing has its own policy
//! ([`LISTING_CSP`](proto_http::listing::html::LISTING_CSP)).

use std::io;
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use proto_http::{ListingEntry, RangeOutcome, Validators};

use super::sendfile::{FileBody, Link, Outgoing};
use crate::channel::{DataChannel, ListPlan, ReadPlan, TransferError};
use crate::command::ListFormat;
use crate::path::VirtualPath;
use crate::response::http::{RequestInfo, Responder, SendError};
use crate::response::{Reply, Status};
use crate::storage::local::FileRegion;
use crate::storage::{ListStream, Metadata, ReadBody, ReadHandle, Upload};

/// The response body type: boxed so files, listings and short texts share it.
pub type Body = http_body_util::combinators::BoxBody<Bytes, io::Error>;

/// How a streamed body is cut and buffered: big pieces, two waiting, for the one
/// response of an HTTP/1.1 connection; on HTTP/2, where a client may hold up to
/// [`H2_MAX_STREAMS`] responses open at once with their flow-control windows
/// closed, smaller ones with one waiting. A local file's reads start at 64 KiB
/// and double up to `chunk` (`FileRegion::into_stream`), so a stream that is
/// reset or never read on holds 64 KiB in hyper's send buffer and at most
/// 128 KiB in the channel; one stalled later holds at most 512 KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streaming {
    /// Most bytes read from storage at a time.
    pub chunk: usize,
    /// Chunks the body channel holds beyond the one hyper is sending.
    pub depth: usize,
}

impl Streaming {
    /// HTTP/1.x: reads of up to 512 KiB, two waiting.
    pub const HTTP1: Streaming = Streaming {
        chunk: 512 * 1024,
        depth: 2,
    };
    /// HTTP/2: reads of up to 256 KiB, one waiting.
    pub const HTTP2: Streaming = Streaming {
        chunk: 256 * 1024,
        depth: 1,
    };

    /// The streaming for a request of `version`.
    pub fn for_version(version: http::Version) -> Streaming {
        if version == http::Version::HTTP_2 {
            Streaming::HTTP2
        } else {
            Streaming::HTTP1
        }
    }
}

/// The most a response stream's body may hold in hyper's HTTP/2 send buffer
/// beyond what its flow-control window lets out, before hyper stops taking more
/// (hyper's default is 400 KiB); it takes a whole piece at a time.
pub const H2_SEND_BUFFER: usize = 64 * 1024;
/// Concurrent streams an HTTP/2 client may open (hyper's default is 200,
/// nginx's 128).
pub const H2_MAX_STREAMS: u32 = 128;

/// Most ranges honoured in one `Range` header.
const MAX_RANGES: usize = 16;
/// The slowest request body accepted, in bytes per second of waiting for it
/// (Apache's `mod_reqtimeout` uses 500): see [`BodyPace`].
pub const MIN_BODY_RATE: u64 = 512;
/// Headers of a file response: type, length, ranges, content range, policy,
/// validators (2), `nosniff`.
const FILE_HEADERS: usize = 8;
/// The `Content-Security-Policy` of a user's file: see the module docs.
const USER_CONTENT_CSP: &str = "sandbox";

/// `X-Content-Type-Options: nosniff`, on every response.
pub fn nosniff() -> (HeaderName, HeaderValue) {
    (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"))
}

/// A body from a short byte string.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

type BodyFrame = Result<Frame<Bytes>, io::Error>;
type FrameSender = tokio::sync::mpsc::Sender<BodyFrame>;
/// Room for one frame in a body channel.
type OwnedPermit = tokio::sync::mpsc::OwnedPermit<BodyFrame>;

/// Cuts a streaming body at once, ahead of the frames waiting in its channel.
type BodyCut = tokio::sync::oneshot::Sender<io::Error>;

/// A streaming body, the sender that feeds it, and the way to cut it. The cut
/// does not wait for room in the channel: a body is cut when its client takes
/// nothing (a stalled reader at the drain deadline), just when the channel is
/// full. A cut body ends with an error, so the client never sees a short body
/// as complete (a chunked one would look so if it merely ended).
fn channel_body(depth: usize) -> (FrameSender, BodyCut, Body) {
    struct Feed {
        rx: tokio::sync::mpsc::Receiver<BodyFrame>,
        /// `None` once the sink has gone without cutting.
        cut: Option<tokio::sync::oneshot::Receiver<io::Error>>,
    }
    let (tx, rx) = tokio::sync::mpsc::channel(depth);
    let (cut_tx, cut_rx) = tokio::sync::oneshot::channel();
    let feed = Feed { rx, cut: Some(cut_rx) };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        loop {
            let Some(cut) = feed.cut.as_mut() else {
                return feed.rx.recv().await.map(|frame| (frame, feed));
            };
            tokio::select! {
                biased;
                cut = cut => match cut {
                    // The last frame: the stream ends after it (no cut is sent twice).
                    Ok(e) => {
                        feed.rx.close();
                        feed.cut = None;
                        while feed.rx.try_recv().is_ok() {}
                        return Some((Err(e), feed));
                    }
                    Err(_) => feed.cut = None,
                },
                frame = feed.rx.recv() => return frame.map(|frame| (frame, feed)),
            }
        }
    });
    (tx, cut_tx, BodyExt::boxed(StreamBody::new(stream)))
}

/// The exchange.
#[derive(Debug)]
pub struct HttpExchange {
    /// The request method.
    pub method: Method,
    /// The request headers.
    pub headers: HeaderMap,
    /// The request path as sent.
    pub raw_path: String,
    body: Option<Incoming>,
    responder: Responder<Response<Outgoing>>,
    /// Headers set for the response before its status is sent.
    extra: HeaderMap,
    /// The single range a read was planned for (206).
    partial: Option<proto_http::ByteRange>,
    /// The ranges of a multi-range read (206 `multipart/byteranges`), ascending.
    multipart: Vec<proto_http::ByteRange>,
    body_timeout: Duration,
    realm: String,
    /// The methods allowed (for 405 replies).
    allow: &'static str,
    /// The request head is over `http.max_header_bytes`, or (HTTP/2) has more than
    /// `http.max_headers` fields: refused with 431.
    pub head_too_large: bool,
    /// Cancelled at the drain deadline (see [`super::HttpSettings::interrupt`]).
    interrupt: tokio_util::sync::CancellationToken,
    /// Why the request's framing cannot be served (`Host`, `Transfer-Encoding`),
    /// as the front-end found it in the message hyper handed over
    /// ([`lift::framing_error`](super::lift::framing_error)): refused by the lift.
    pub framing: Option<Reply>,
    /// How streamed bodies are cut and buffered (by the request's HTTP version).
    pub streaming: Streaming,
    /// A plain HTTP/1.x connection's link: local files go out with `sendfile`.
    sendfile: Option<std::sync::Arc<Link>>,
    /// Cancelled when a streamed body stalls: the connection ends.
    stalled: tokio_util::sync::CancellationToken,
}

impl HttpExchange {
    /// An exchange for a request whose response goes to `responder`, under the
    /// server's HTTP settings (body timeout, realm, allowed methods).
    pub fn new(
        method: Method,
        headers: HeaderMap,
        raw_path: String,
        body: Option<Incoming>,
        responder: Responder<Response<Outgoing>>,
        settings: &super::HttpSettings,
    ) -> Self {
        HttpExchange {
            method,
            headers,
            raw_path,
            body,
            responder,
            extra: HeaderMap::new(),
            partial: None,
            multipart: Vec::new(),
            body_timeout: settings.body_timeout,
            realm: settings.realm.clone(),
            allow: settings.allow,
            head_too_large: false,
            framing: None,
            interrupt: settings.interrupt.clone(),
            streaming: Streaming::HTTP1,
            sendfile: None,
            stalled: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// Ends the connection through `stalled` when a streamed body of this
    /// exchange stalls (see [`BodySink`]).
    pub(super) fn on_stall(&mut self, stalled: tokio_util::sync::CancellationToken) {
        self.stalled = stalled;
    }

    /// Sends local files' bodies with `sendfile` through `link` (a plain
    /// HTTP/1.x connection's): see [`sendfile`](super::sendfile).
    pub(super) fn zero_copy(&mut self, link: std::sync::Arc<Link>) {
        self.sendfile = Some(link);
    }

    /// Sets a response header; fails once the status has been sent (headers come first).
    pub fn set_header(&mut self, name: HeaderName, value: HeaderValue) -> Result<(), SendError> {
        if self.responder.is_sent() {
            return Err(SendError::AlreadySent);
        }
        self.extra.insert(name, value);
        Ok(())
    }

    /// Sends the one status of this request with the headers set so far.
    pub fn send(&mut self, status: StatusCode, headers: HeaderMap, body: Body) -> Result<(), SendError> {
        self.send_outgoing(status, headers, Outgoing::Streamed(body))
    }

    fn send_outgoing(&mut self, status: StatusCode, mut headers: HeaderMap, body: Outgoing) -> Result<(), SendError> {
        for (name, value) in self.extra.drain() {
            if let Some(name) = name {
                headers.entry(name).or_insert(value);
            }
        }
        let (name, value) = nosniff();
        headers.insert(name, value);
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        self.responder.send(status.as_u16(), response)
    }

    /// The validators (strong ETag, Last-Modified) of a file: the back-end's own
    /// entity tag where it has one, else one made of size and time.
    pub fn validators(meta: &Metadata) -> Validators {
        let modified = meta.modified.unwrap_or(UNIX_EPOCH);
        Validators {
            etag: meta.etag.map_or_else(
                || proto_http::strong_etag(meta.size, modified, None),
                |tag| tag.as_str().to_owned(),
            ),
            last_modified: modified,
        }
    }

    fn validator_headers(&mut self, v: &Validators) {
        if let Ok(etag) = HeaderValue::from_str(&v.etag) {
            let _ = self.set_header(header::ETAG, etag);
        }
        if let Ok(lm) = HeaderValue::from_str(&proto_http::http_date(v.last_modified)) {
            let _ = self.set_header(header::LAST_MODIFIED, lm);
        }
    }

    /// HTTP reads: conditionals first (304/412), then `Range` (206/416).
    /// Whatever the answer, it is about a user's file: sandboxed.
    fn plan(&mut self, meta: &Metadata) -> ReadPlan {
        let _ = self.set_header(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(USER_CONTENT_CSP),
        );
        let v = Self::validators(meta);
        self.validator_headers(&v);
        match proto_http::evaluate_preconditions(&self.method, &self.headers, Some(&v)) {
            proto_http::Precondition::NotModified => return ReadPlan::Answer(Status::NotModified),
            proto_http::Precondition::PreconditionFailed => return ReadPlan::Answer(Status::PreconditionFailed),
            proto_http::Precondition::Proceed => {}
        }
        let range = self.headers.get(header::RANGE).and_then(|r| r.to_str().ok());
        let Some(range) = range.filter(|_| proto_http::if_range_allows(&self.headers, &v)) else {
            return ReadPlan::Send { offset: 0, len: None };
        };
        match proto_http::evaluate_range(range, meta.size, MAX_RANGES) {
            RangeOutcome::Partial(ranges) if ranges.len() == 1 => {
                let r = ranges[0];
                self.partial = Some(r);
                ReadPlan::Send {
                    offset: r.start,
                    len: Some(r.len()),
                }
            }
            RangeOutcome::Partial(mut ranges) => {
                // Parts go out in ascending order (RFC 9110 §14.6 only says SHOULD keep
                // the request's order), so one read of the span serves any back-end.
                ranges.sort_by_key(|r| r.start);
                let (first, last) = (ranges[0].start, ranges[ranges.len() - 1].end);
                self.multipart = ranges;
                ReadPlan::Send {
                    offset: first,
                    len: Some(last - first + 1),
                }
            }
            RangeOutcome::Full => ReadPlan::Send { offset: 0, len: None },
            RangeOutcome::Unsatisfiable => {
                if let Ok(v) = HeaderValue::from_str(&proto_http::unsatisfied_content_range(meta.size)) {
                    let _ = self.set_header(header::CONTENT_RANGE, v);
                }
                ReadPlan::Answer(Status::InvalidRange)
            }
        }
    }

    /// Sends a file: 200 or 206 with its headers, then the body (none for HEAD).
    async fn serve_file(&mut self, path: &VirtualPath, handle: ReadHandle) -> Result<u64, TransferError> {
        if !self.multipart.is_empty() {
            return self.send_multipart(path, handle).await;
        }
        let size = handle.meta.size;
        let len = match &handle.body {
            ReadBody::Local(r) => r.len(),
            ReadBody::Socket(_) | ReadBody::Stream(_) => self.partial.map_or(size, |r| r.len()),
        };
        // Room for every header of a file response, those set before included
        // (`extra`): the map is not grown while the response is made.
        let mut headers = HeaderMap::with_capacity(FILE_HEADERS);
        let content_type = match proto_http::content_type_for(path.file_name().unwrap_or_default()) {
            std::borrow::Cow::Borrowed(t) => HeaderValue::from_maybe_shared(Bytes::from_static(t.as_bytes())),
            std::borrow::Cow::Owned(t) => HeaderValue::from_maybe_shared(Bytes::from(t)),
        };
        if let Ok(v) = content_type {
            headers.insert(header::CONTENT_TYPE, v);
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        let status = match self.partial {
            Some(r) => {
                if let Ok(v) = HeaderValue::from_str(&r.content_range(size)) {
                    headers.insert(header::CONTENT_RANGE, v);
                }
                StatusCode::PARTIAL_CONTENT
            }
            None => StatusCode::OK,
        };
        // A small local file goes out as one buffer read on this thread: no hand-off
        // to the blocking pool and no body channel (most of a small request's cost).
        if self.method != Method::HEAD
            && let ReadBody::Local(region) = &handle.body
            && let Some(read) = region.read_inline()
        {
            let bytes = read.map_err(|e| TransferError::new(Status::LocalError, 0, e.to_string()))?;
            let n = bytes.len() as u64;
            self.send(status, headers, full(bytes)).map_err(send_failed)?;
            return Ok(n);
        }
        if self.method != Method::HEAD
            && let Some(link) = self.sendfile.clone()
            && let ReadBody::Local(region) = &handle.body
            && !region.is_empty()
        {
            return self.send_region(status, headers, region, link).await;
        }
        let Some(mut sink) = self.stream(status, headers)? else {
            return Ok(0);
        };
        sink.copy(handle.body.into_stream(self.streaming.chunk), len).await?;
        Ok(sink.sent)
    }

    /// Sends a local file's region as the body, with `sendfile` (see
    /// [`sendfile`](super::sendfile)), and waits until the socket has taken all
    /// of it or the connection ended; the result counts the bytes the socket took.
    async fn send_region(
        &mut self,
        status: StatusCode,
        headers: HeaderMap,
        region: &FileRegion,
        link: std::sync::Arc<Link>,
    ) -> Result<u64, TransferError> {
        let len = region.len();
        let (body, mut watch) = FileBody::new(region, link);
        self.send_outgoing(status, headers, Outgoing::File(body))
            .map_err(send_failed)?;
        let interrupted = tokio::select! {
            biased;
            () = watch.over() => false,
            () = self.interrupt.cancelled() => true,
        };
        let sent = watch.sent();
        if interrupted {
            watch.cut();
            return Err(TransferError::new(Status::ShuttingDown, sent, INTERRUPTED));
        }
        if sent == len {
            return Ok(sent);
        }
        Err(match watch.failure() {
            Some(reason) => TransferError::new(Status::LocalError, sent, reason),
            None => TransferError::new(Status::TransferAborted, sent, "client went away"),
        })
    }

    /// Sends several ranges of a file as one `multipart/byteranges` body (RFC 9110
    /// §14.6) with an exact `Content-Length`. `handle` covers the span from the
    /// first range's start to the last range's end.
    async fn send_multipart(&mut self, path: &VirtualPath, handle: ReadHandle) -> Result<u64, TransferError> {
        let ranges = std::mem::take(&mut self.multipart);
        let size = handle.meta.size;
        let content_type = proto_http::content_type_for(path.file_name().unwrap_or_default());
        let boundary = multipart_boundary();
        let mut headers = HeaderMap::new();
        let multipart_type = proto_http::range::multipart_content_type(&boundary);
        if let Ok(v) = HeaderValue::from_str(&multipart_type) {
            headers.insert(header::CONTENT_TYPE, v);
        }
        let length = proto_http::range::multipart_length(&boundary, &content_type, &ranges, size);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        let Some(mut sink) = self.stream(StatusCode::PARTIAL_CONTENT, headers)? else {
            return Ok(0);
        };
        // A local file: each part is read on its own, so the gaps are never read.
        // Any other back-end: one pass over the span, skipping the gaps.
        let mut body = match handle.body {
            ReadBody::Local(region) => Parts::File(region),
            body => Parts::Span(SpanReader::new(body.into_stream(self.streaming.chunk), ranges[0].start)),
        };
        for r in &ranges {
            let header = proto_http::range::multipart_part_header(&boundary, &content_type, r, size);
            sink.write(header).await?;
            match &mut body {
                Parts::File(region) => {
                    sink.copy(region.part(r.start, r.len()).into_stream(self.streaming.chunk), r.len())
                        .await?;
                }
                Parts::Span(span) => {
                    span.skip_to(r.start, sink.sent).await?;
                    let mut left = r.len();
                    while left > 0 {
                        let chunk = span.next(left, sink.sent).await?;
                        left -= chunk.len() as u64;
                        sink.write(chunk).await?;
                    }
                }
            }
        }
        sink.write(proto_http::range::multipart_trailer(&boundary)).await?;
        Ok(sink.sent)
    }

    /// Sends the status and headers of a streamed response and returns the sink
    /// for its body; `None` for `HEAD`, whose response has no body.
    pub fn stream(&mut self, status: StatusCode, headers: HeaderMap) -> Result<Option<BodySink>, TransferError> {
        if self.method == Method::HEAD {
            self.send(status, headers, empty()).map_err(send_failed)?;
            return Ok(None);
        }
        let (tx, cut, body) = channel_body(self.streaming.depth);
        self.send(status, headers, body).map_err(send_failed)?;
        Ok(Some(BodySink {
            tx,
            cut: Some(cut),
            sent: 0,
            interrupt: self.interrupt.clone(),
            stall: self.body_timeout,
            stalled: self.stalled.clone(),
        }))
    }

    /// Whether the request has a body (a non-zero `Content-Length` or any
    /// `Transfer-Encoding`).
    pub fn has_body(&self) -> bool {
        self.headers.contains_key(header::TRANSFER_ENCODING)
            || self
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim() != "0")
    }

    /// Reads a whole small request body (WebDAV XML) of at most `limit` bytes,
    /// at the pace [`BodyPace`] requires; a larger body fails with
    /// `PayloadTooLarge` (413).
    pub async fn read_body(&mut self, limit: usize) -> Result<Bytes, TransferError> {
        let declared = self
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(TransferError::new(Status::PayloadTooLarge, 0, "request body too large"));
        }
        let Some(mut body) = self.body.take() else {
            return Ok(Bytes::new());
        };
        let mut buf = bytes::BytesMut::new();
        let mut pace = BodyPace::new(self.body_timeout);
        while let Some(data) = next_data(&mut body, &mut pace, buf.len() as u64).await? {
            if buf.len() + data.len() > limit {
                return Err(TransferError::new(
                    Status::PayloadTooLarge,
                    buf.len() as u64,
                    "request body too large",
                ));
            }
            buf.extend_from_slice(&data);
        }
        Ok(buf.freeze())
    }

    /// Streams a listing as HTML or JSON.
    async fn serve_listing(
        &mut self,
        dir: &VirtualPath,
        format: ListFormat,
        mut entries: ListStream,
    ) -> Result<u64, TransferError> {
        let mut headers = HeaderMap::new();
        let ct = if format == ListFormat::Json {
            proto_http::JSON_CONTENT_TYPE
        } else {
            proto_http::HTML_CONTENT_TYPE
        };
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if format == ListFormat::Html {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(proto_http::listing::html::LISTING_CSP),
            );
        }
        let Some(mut sink) = self.stream(StatusCode::OK, headers)? else {
            return Ok(0);
        };
        let dir_path = format!("{}/", dir.as_str().trim_end_matches('/'));
        let html = proto_http::HtmlListing::new(&dir_path);
        let mut json = proto_http::JsonListing::new();
        let mut count = 0u64;
        let head = if format == ListFormat::Json {
            json.head().to_owned()
        } else {
            html.head()
        };
        sink.write(head).await?;
        while let Some(batch) = entries.next().await {
            let batch = sink.batch(batch).await?;
            let mut text = String::new();
            for e in &batch {
                let entry = ListingEntry {
                    name: &e.name,
                    is_dir: e.meta.is_dir(),
                    size: e.meta.size,
                    modified: e.meta.modified,
                };
                if format == ListFormat::Json {
                    text.push_str(&json.row(&entry));
                } else {
                    text.push_str(&html.row(&entry));
                }
                count += 1;
            }
            sink.write(text).await?;
        }
        let tail = if format == ListFormat::Json {
            json.tail().to_owned()
        } else {
            html.tail(count)
        };
        sink.write(tail).await?;
        Ok(sink.sent)
    }

    /// Streams the request body into `upload`, at the pace [`BodyPace`] requires.
    async fn receive_body(&mut self, upload: &mut dyn Upload) -> Result<u64, TransferError> {
        let Some(mut body) = self.body.take() else {
            return Err(TransferError::new(
                Status::BadSequence,
                0,
                "request body already consumed",
            ));
        };
        let mut pace = BodyPace::new(self.body_timeout);
        if let Some(mut file) = upload.local_sink() {
            return super::receive::into_file(&mut body, &mut pace, &self.interrupt, &mut file).await;
        }
        let mut received = 0u64;
        loop {
            let next = tokio::select! {
                () = self.interrupt.cancelled() => {
                    return Err(TransferError::new(Status::ShuttingDown, received, INTERRUPTED));
                }
                next = next_data(&mut body, &mut pace, received) => next?,
            };
            let Some(data) = next else { break };
            received += data.len() as u64;
            upload
                .write(data)
                .await
                .map_err(|e| TransferError::new(Status::from_storage(e.kind), received, e.to_string()))?;
        }
        Ok(received)
    }

    /// What the renderer needs to know of this request.
    fn request_info(&self) -> RequestInfo<'_> {
        RequestInfo {
            is_get_or_head: self.method == Method::GET || self.method == Method::HEAD,
            is_head: self.method == Method::HEAD,
            raw_path: &self.raw_path,
            realm: &self.realm,
            allow: self.allow,
        }
    }

    /// Renders and sends the final chain, unless a status went out already (a
    /// streamed body); a second status is refused by the responder and logged.
    pub fn finish(&mut self, replies: &[Reply]) {
        if self.responder.is_sent() {
            return;
        }
        let rendered = match crate::response::http::render(replies, &self.request_info()) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "a handler produced an invalid HTTP status");
                let _ = self.send(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    HeaderMap::new(),
                    full("Internal error\n"),
                );
                return;
            }
        };
        if let Err(e) = self.send(rendered.status, rendered.headers, full(rendered.body)) {
            tracing::warn!(error = %e, "second status for one request refused");
        }
    }
}

#[async_trait::async_trait]
impl DataChannel for HttpExchange {
    fn plan_read(&mut self, meta: &Metadata, _offset: u64) -> ReadPlan {
        self.plan(meta)
    }

    /// `GET dir/` lists a directory; the slash form of a file is no directory.
    fn plan_listing(&mut self, meta: &Metadata, _format: ListFormat) -> ListPlan {
        if meta.is_dir() {
            ListPlan::Members
        } else {
            ListPlan::Refuse(Status::NotADirectory, "")
        }
    }

    async fn send_file(&mut self, path: &VirtualPath, handle: ReadHandle) -> Result<u64, TransferError> {
        self.serve_file(path, handle).await
    }

    async fn send_listing(
        &mut self,
        dir: &VirtualPath,
        format: ListFormat,
        entries: ListStream,
    ) -> Result<u64, TransferError> {
        self.serve_listing(dir, format, entries).await
    }

    async fn receive(&mut self, upload: &mut dyn Upload) -> Result<u64, TransferError> {
        self.receive_body(upload).await
    }

    /// The status already sent (a streamed body, a WebDAV reply), or the one
    /// [`HttpExchange::finish`] will render — 204 for a bodiless success, 301
    /// for a directory named without its slash — so the log and the metrics
    /// record what the client gets.
    fn wire_code(&self, replies: &[Reply]) -> Option<u16> {
        if let Some(sent) = self.responder.sent_status() {
            return Some(sent);
        }
        match crate::response::http::render(replies, &self.request_info()) {
            Ok(rendered) => Some(rendered.status.as_u16()),
            Err(_) => Some(500),
        }
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The body of a streamed response: counts what it sends, fails with
/// `TransferAborted` when the client has gone.
#[derive(Debug)]
pub struct BodySink {
    tx: FrameSender,
    /// Cuts the body (taken by the first failure).
    cut: Option<BodyCut>,
    sent: u64,
    interrupt: tokio_util::sync::CancellationToken,
    /// The longest wait for hyper to take a piece (`limits.data_timeout`).
    stall: Duration,
    /// Cancelled past that wait: the connection ends.
    stalled: tokio_util::sync::CancellationToken,
}

/// What waiting for room in a body channel came to.
enum Room {
    Free(OwnedPermit),
    /// hyper dropped the body.
    Gone,
    /// The server's drain deadline passed.
    Interrupted,
    /// hyper took nothing for the stall limit.
    Stalled,
}

/// Why an interrupted transfer stopped, for the log.
pub(super) const INTERRUPTED: &str = "interrupted: the server's drain deadline passed";

impl BodySink {
    /// Sends one piece of the body; past the drain deadline the body is cut.
    pub async fn write(&mut self, bytes: impl Into<Bytes>) -> Result<(), TransferError> {
        let bytes = bytes.into();
        let permit = self.room().await?;
        self.sent += bytes.len() as u64;
        permit.send(Ok(Frame::data(bytes)));
        Ok(())
    }

    /// Waits for room for one more piece in the body channel: it fails once the
    /// client has gone (hyper dropped the body: a closed connection, a reset
    /// HTTP/2 stream), past the drain deadline, and when hyper took nothing
    /// for `limits.data_timeout`. That last wait is the one an HTTP/2 client
    /// that keeps its stream's window closed causes: the socket stays
    /// writable (the connection's write timer never starts), only this stream
    /// stops — and hyper, waiting for the window, no longer looks at the body,
    /// so a cut body would not free the stream. The connection is ended
    /// instead (its other streams with it).
    async fn room(&mut self) -> Result<OwnedPermit, TransferError> {
        let room = tokio::select! {
            biased;
            () = self.interrupt.cancelled() => Room::Interrupted,
            room = tokio::time::timeout(self.stall, self.tx.clone().reserve_owned()) => match room {
                Ok(Ok(permit)) => Room::Free(permit),
                Ok(Err(_)) => Room::Gone,
                Err(_) => Room::Stalled,
            },
        };
        match room {
            Room::Free(permit) => Ok(permit),
            Room::Gone => Err(TransferError::new(
                Status::TransferAborted,
                self.sent,
                "client went away",
            )),
            Room::Interrupted => {
                let mut cut = self.fail("server shutting down", INTERRUPTED.into()).await;
                cut.status = Status::ShuttingDown;
                Err(cut)
            }
            Room::Stalled => {
                metrics::counter!(crate::metrics::SESSION_TIMEOUTS_TOTAL, "protocol" => "http", "phase" => "response")
                    .increment(1);
                let detail = "the client took nothing of the response for limits.data_timeout".to_owned();
                let stalled = self
                    .fail_with(Status::TransferAborted, "response stalled", detail)
                    .await;
                self.stalled.cancel();
                Err(stalled)
            }
        }
    }

    /// Sends a byte stream that must yield exactly `len` bytes. On a read error
    /// or a short read the body is failed, which makes hyper cut the response
    /// short (its status is gone).
    ///
    /// Each piece is read only once the channel has room for it, so a body
    /// nobody takes any more (a client gone, an HTTP/2 stream reset right after
    /// its response began: the rapid-reset attack) costs no storage read, and at
    /// most one read runs ahead of what hyper has taken.
    async fn copy(&mut self, mut chunks: crate::storage::ByteStream, len: u64) -> Result<(), TransferError> {
        let end = self.sent + len;
        loop {
            if self.sent >= end {
                // All of it is in the channel. hyper may already have dropped
                // the body (it counts the Content-Length), so this waits for no
                // room: the stream is only run to its end (an upstream download
                // reads its completion there).
                match chunks.next().await {
                    None => break,
                    Some(Ok(c)) if c.is_empty() => continue,
                    Some(Ok(_)) => {
                        return Err(self.fail("file changed while it was sent", "long read".into()).await);
                    }
                    Some(Err(e)) => return Err(self.fail("storage read failed", e.to_string()).await),
                }
            }
            let permit = self.room().await?;
            match chunks.next().await {
                None => break,
                Some(Ok(c)) => {
                    self.sent += c.len() as u64;
                    permit.send(Ok(Frame::data(c)));
                }
                Some(Err(e)) => {
                    drop(permit);
                    return Err(self.fail("storage read failed", e.to_string()).await);
                }
            }
        }
        if self.sent != end {
            return Err(self.fail("file changed while it was sent", "short read".into()).await);
        }
        Ok(())
    }

    async fn fail(&mut self, reason: &'static str, detail: String) -> TransferError {
        self.fail_with(Status::LocalError, reason, detail).await
    }

    /// Ends the body with an error, so the client sees a broken response (a
    /// reset stream, a chunked body without its last chunk) and never a short
    /// one that looks complete; the transfer is logged as failed with `status`.
    pub(crate) async fn fail_with(&mut self, status: Status, reason: &'static str, detail: String) -> TransferError {
        if let Some(cut) = self.cut.take() {
            let _ = cut.send(io::Error::other(reason));
        }
        TransferError::new(status, self.sent, detail)
    }

    /// A listing batch, or the body failed (a back-end that failed mid-listing:
    /// the part already sent must not pass for the whole directory).
    pub(crate) async fn batch<T>(
        &mut self,
        batch: Result<T, crate::storage::StorageError>,
    ) -> Result<T, TransferError> {
        match batch {
            Ok(b) => Ok(b),
            Err(e) => Err(self
                .fail_with(Status::from_storage(e.kind), "listing failed", e.to_string())
                .await),
        }
    }

    /// Bytes sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

/// Where the parts of a multi-range response come from.
enum Parts {
    /// A local file, read part by part.
    File(crate::storage::local::FileRegion),
    /// A stream over the span of all parts.
    Span(SpanReader),
}

/// Reads a byte stream that starts at `pos` in a file, skipping to offsets and
/// taking bounded pieces (multi-range responses from streaming back-ends).
struct SpanReader {
    stream: crate::storage::ByteStream,
    pos: u64,
    pending: Bytes,
}

impl SpanReader {
    fn new(stream: crate::storage::ByteStream, pos: u64) -> Self {
        SpanReader {
            stream,
            pos,
            pending: Bytes::new(),
        }
    }

    async fn fill(&mut self, sent: u64) -> Result<(), TransferError> {
        while self.pending.is_empty() {
            match self.stream.next().await {
                Some(Ok(chunk)) => self.pending = chunk,
                Some(Err(e)) => return Err(TransferError::new(Status::LocalError, sent, e.to_string())),
                None => return Err(TransferError::new(Status::LocalError, sent, "file ended early")),
            }
        }
        Ok(())
    }

    async fn skip_to(&mut self, offset: u64, sent: u64) -> Result<(), TransferError> {
        while self.pos < offset {
            self.fill(sent).await?;
            let n = usize::try_from(offset - self.pos)
                .unwrap_or(usize::MAX)
                .min(self.pending.len());
            let _ = self.pending.split_to(n);
            self.pos += n as u64;
        }
        Ok(())
    }

    async fn next(&mut self, max: u64, sent: u64) -> Result<Bytes, TransferError> {
        self.fill(sent).await?;
        let n = usize::try_from(max).unwrap_or(usize::MAX).min(self.pending.len());
        self.pos += n as u64;
        Ok(self.pending.split_to(n))
    }
}

/// A boundary for a `multipart/byteranges` body: random enough never to occur
/// in the data by chance.
fn multipart_boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    format!("dualgate-{random:016x}")
}

/// The pace rule for request bodies, against clients that trickle (slowloris).
///
/// Waiting for a body is counted in windows of the data timeout
/// (`limits.data_timeout`), and each window must bring at least
/// [`MIN_BODY_RATE`] bytes per second of it (at least one byte): a window
/// that ends short fails the request with `RequestTimeout` (HTTP 408, and the
/// connection closes), as does a body that stops altogether. A new window
/// starts as soon as the last one's quota has come. Only the time spent
/// waiting for the client counts, not the time the back-end takes to store
/// what came, so a slow back-end never fails a fast client; and a client that
/// pauses (a slow producer behind `curl -T -`) passes as long as it makes up
/// for the pause within the window. A trickler, however regular, has to send
/// a window's quota per window, which is what a legitimate slow link does
/// anyway. The time is a parameter ([`BodyPace::record`]), so the rule is
/// tested without a clock.
#[derive(Debug, Clone, Copy)]
pub struct BodyPace {
    /// The length of a window (the data timeout).
    window: Duration,
    /// Bytes a window must bring.
    quota: u64,
    /// Time spent waiting in the current window.
    waited: Duration,
    /// Bytes received in the current window.
    got: u64,
}

impl BodyPace {
    /// The rule for a data timeout of `window`.
    pub fn new(window: Duration) -> Self {
        let quota = (window.as_secs_f64() * MIN_BODY_RATE as f64) as u64;
        BodyPace {
            window,
            quota: quota.max(1),
            waited: Duration::ZERO,
            got: 0,
        }
    }

    /// How long the next wait for data may last: what is left of the window.
    pub fn budget(&self) -> Duration {
        self.window.saturating_sub(self.waited)
    }

    /// Counts a wait of `waited` that brought `bytes`; false when the window
    /// is over without its quota (the body is too slow).
    pub fn record(&mut self, waited: Duration, bytes: u64) -> bool {
        self.waited = self.waited.saturating_add(waited);
        self.got = self.got.saturating_add(bytes);
        if self.got >= self.quota {
            self.waited = Duration::ZERO;
            self.got = 0;
            return true;
        }
        self.waited < self.window
    }
}

/// The next data of a request body, within what `pace` allows; `None` at its
/// end. `received` is what came before, for the error's byte count.
pub(super) async fn next_data(
    body: &mut Incoming,
    pace: &mut BodyPace,
    received: u64,
) -> Result<Option<Bytes>, TransferError> {
    let too_slow = || {
        TransferError::new(
            Status::RequestTimeout,
            received,
            "request body too slow (under the minimum rate for limits.data_timeout)",
        )
    };
    loop {
        let started = Instant::now();
        let frame = tokio::time::timeout(pace.budget(), body.frame()).await;
        let waited = started.elapsed();
        match frame {
            Err(_) => return Err(too_slow()),
            // The end of the body is never too late.
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(TransferError::new(Status::TransferAborted, received, e.to_string())),
            Ok(Some(Ok(frame))) => {
                let data = frame.into_data().ok();
                let n = data.as_ref().map_or(0, |d| d.len() as u64);
                if !pace.record(waited, n) {
                    return Err(too_slow());
                }
                // Trailers carry no data: wait for the next frame.
                if let Some(data) = data {
                    return Ok(Some(data));
                }
            }
        }
    }
}

fn send_failed(e: SendError) -> TransferError {
    TransferError::new(Status::LocalError, 0, e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn exchange() -> (HttpExchange, tokio::sync::oneshot::Receiver<Response<Outgoing>>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let ex = HttpExchange::new(
            Method::GET,
            HeaderMap::new(),
            "/f".into(),
            None,
            Responder::new(tx),
            &crate::frontend::http::HttpSettings {
                idle_timeout: Duration::from_secs(1),
                body_timeout: Duration::from_secs(1),
                handshake_timeout: Duration::from_secs(1),
                max_header_bytes: 8192,
                max_headers: 100,
                realm: "r".into(),
                max_blocking_threads: 4,
                allow: "GET",
                interrupt: tokio_util::sync::CancellationToken::new(),
            },
        );
        (ex, rx)
    }

    /// A body stream of `n` one-byte pieces that counts the pieces read.
    fn counted_pieces(
        n: usize,
    ) -> (
        crate::storage::ByteStream,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = reads.clone();
        let stream = futures_util::stream::repeat_with(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Bytes::from_static(b"x"))
        })
        .take(n);
        (Box::pin(stream), reads)
    }

    #[tokio::test]
    async fn a_body_nobody_takes_is_not_read() {
        let (mut ex, rx) = exchange();
        let mut sink = ex.stream(StatusCode::OK, HeaderMap::new()).unwrap().unwrap();
        // hyper drops the body of a reset HTTP/2 stream or a closed connection.
        drop(rx.await.unwrap());
        let (pieces, reads) = counted_pieces(4);
        let err = sink.copy(pieces, 4).await.unwrap_err();
        assert_eq!(err.status, Status::TransferAborted);
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_cut_does_not_wait_for_room_and_ends_the_body_with_an_error() {
        let (mut ex, rx) = exchange();
        let mut sink = ex.stream(StatusCode::OK, HeaderMap::new()).unwrap().unwrap();
        let mut body = rx.await.unwrap().into_body();
        // Nobody reads: the channel fills.
        for _ in 0..Streaming::HTTP1.depth {
            sink.write(Bytes::from_static(b"x")).await.unwrap();
        }
        let Ok(cut) = tokio::time::timeout(Duration::from_secs(1), sink.fail("cut", "cut".into())).await else {
            panic!("the cut waited for room in the channel");
        };
        assert_eq!(cut.status, Status::LocalError);
        // The error comes first, and nothing after it.
        assert!(body.frame().await.unwrap().is_err());
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn reads_run_at_most_the_channel_depth_ahead_of_the_client() {
        for streaming in [Streaming::HTTP1, Streaming::HTTP2] {
            let (mut ex, rx) = exchange();
            ex.streaming = streaming;
            let mut sink = ex.stream(StatusCode::OK, HeaderMap::new()).unwrap().unwrap();
            let response = rx.await.unwrap();
            let (pieces, reads) = counted_pieces(10);
            // Nobody polls the body: the copy must stop reading once the channel is full.
            let copy = tokio::time::timeout(Duration::from_millis(200), sink.copy(pieces, 10)).await;
            assert!(copy.is_err(), "the copy finished with nobody taking the body");
            assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), streaming.depth);
            drop(response);
        }
    }

    #[test]
    fn headers_go_before_the_status_and_only_one_status_is_sent() {
        let (mut ex, mut rx) = exchange();
        ex.set_header(header::ETAG, HeaderValue::from_static("\"x\"")).unwrap();
        ex.send(StatusCode::OK, HeaderMap::new(), full("a")).unwrap();
        let resp = rx.try_recv().unwrap();
        assert_eq!(resp.headers().get(header::ETAG).unwrap(), "\"x\"");
        assert_eq!(
            ex.set_header(header::ETAG, HeaderValue::from_static("\"y\"")),
            Err(SendError::AlreadySent)
        );
        assert_eq!(
            ex.send(StatusCode::OK, HeaderMap::new(), full("b")).unwrap_err(),
            SendError::AlreadySent
        );
        // finish() after a streamed status does not try again.
        ex.finish(&[]);
    }

    #[test]
    fn a_body_must_bring_its_quota_in_every_window() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        // data_timeout 2 s: 1024 bytes per 2 s of waiting.
        let mut pace = BodyPace::new(s(2));
        assert_eq!(pace.budget(), s(2));
        // A trickler: a byte every 300 ms passes any per-read timeout, not the window.
        let mut alive = true;
        let mut waited = Duration::ZERO;
        while alive {
            alive = pace.record(ms(300), 1);
            waited += ms(300);
        }
        assert!(waited <= s(2) + ms(300), "{waited:?}");
        // A steady slow link at the minimum rate goes on for ever.
        let mut pace = BodyPace::new(s(2));
        for _ in 0..1000 {
            assert!(pace.record(ms(500), MIN_BODY_RATE / 2));
        }
        // A pause within the window is made up for by what follows it.
        let mut pace = BodyPace::new(s(2));
        assert!(pace.record(ms(1900), 0));
        assert_eq!(pace.budget(), ms(100));
        assert!(pace.record(ms(50), 4096));
        assert_eq!(pace.budget(), s(2), "a new window starts once the quota came");
        // The quota is at least a byte, however short the window.
        let mut pace = BodyPace::new(Duration::ZERO);
        assert!(pace.record(Duration::ZERO, 1));
    }

    #[test]
    fn every_response_says_nosniff() {
        let (mut ex, mut rx) = exchange();
        ex.send(StatusCode::NOT_FOUND, HeaderMap::new(), full("x")).unwrap();
        let resp = rx.try_recv().unwrap();
        assert_eq!(resp.headers().get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
    }

    #[test]
    fn finish_renders_the_chain_when_nothing_was_sent() {
        let (mut ex, mut rx) = exchange();
        let mut r = crate::response::Responses::default();
        r.add_err(Status::NotFound, "");
        ex.finish(&r.selected(crate::response::Outcome::Failed, Status::NotImplemented));
        assert_eq!(rx.try_recv().unwrap().status(), StatusCode::NOT_FOUND);
    }
}
