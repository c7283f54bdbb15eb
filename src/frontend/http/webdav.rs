//! Module `webdav`: the WebDAV class 1 verbs only HTTP has (RFC 4918) — `OPTIONS`,
//! `PROPFIND`, `PROPPATCH` — and the `MKCOL` body rule, as ordinary pipeline
//! handlers in the same table as everything else: they get the same login,
//! permission and path checks in PRE_CMD and the same LOG_CMD.
//!
//! `COPY`, `MOVE`, `DELETE` and `MKCOL` themselves are the shared `Copy`,
//! `Rename`, `Delete` and `MakeDir` verbs of the `files` module (the lift sets
//! collection semantics and the target from `Destination`); nothing about
//! storage is implemented twice.
//!
//! `PROPFIND` answers depth 0 and 1, streaming one `<D:response>` per listing
//! batch; depth infinity is refused (403 `propfind-finite-depth`), as RFC 4918
//! §9.1 allows. `PROPPATCH` stores dead properties all or nothing through the
//! back-end (local disk: one extended attribute per file); a back-end that
//! cannot store them answers 403 per property. `Allow` names only the methods
//! the back-end can carry out (no `COPY` without server-side copies).

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use proto_http::webdav::{self as dav, Depth, LiveProps, PropfindRequest};

use super::exchange::HttpExchange;
use crate::channel::TransferError;
use crate::command::{CommandRecord, Verb};
use crate::locks::LockStore;
use crate::path::VirtualPath;
use crate::pipeline::modules::Table;
use crate::pipeline::{Handler, HandlerResult, Phase};
use crate::response::Status;
use crate::storage::{Capabilities, Metadata, Storage};

/// The methods allowed over a back-end, for `Allow` (OPTIONS and 405 replies).
pub fn allow(capabilities: &Capabilities) -> &'static str {
    if capabilities.server_side_copy {
        "OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK"
    } else {
        "OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK"
    }
}

/// Largest `PROPFIND`/`PROPPATCH` body accepted.
const MAX_XML_BODY: usize = 256 * 1024;

/// Verbs handled here.
pub const VERBS: &[&str] = &["OPTIONS", "PROPFIND", "PROPPATCH"];

/// Registers the WebDAV module's rows for a back-end with these capabilities,
/// with the class 2 rows ([`super::davlock`]) on `locks`.
pub fn table(capabilities: Capabilities, locks: Arc<dyn LockStore>) -> Table {
    let mut t = super::davlock::table(locks.clone());
    let module = Arc::new(WebDav { capabilities, locks });
    for v in VERBS {
        t.row("webdav", Phase::Cmd, Some(&Verb::Protocol(v)), 0, module.clone());
    }
    // After auth (0) and permissions (10): a client without rights hears that first.
    t.row("webdav", Phase::PreCmd, Some(&Verb::MakeDir), 20, Arc::new(MkcolBody));
    let preconditions = Arc::new(WritePreconditions);
    // LOCK too: davfs2 creates a file with `LOCK` and `If-None-Match: *`.
    for verb in [
        Verb::Write,
        Verb::Delete,
        Verb::Copy,
        Verb::Rename,
        Verb::MakeDir,
        Verb::Protocol("LOCK"),
    ] {
        t.row("webdav", Phase::PreCmd, Some(&verb), 30, preconditions.clone());
    }
    t
}

/// PRE_CMD of the HTTP methods that change something: `If-Match`,
/// `If-None-Match` and `If-Unmodified-Since` against the target's current state
/// (RFC 9110 §13.2: a failed precondition is 412 and the method is not
/// performed) — e.g. `PUT` with `If-None-Match: *` creates but never replaces.
/// Reads evaluate the same headers in the exchange's read plan.
#[derive(Debug)]
struct WritePreconditions;

#[async_trait]
impl Handler for WritePreconditions {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let Some(ex) = cmd.channel.get::<HttpExchange>() else {
            return HandlerResult::Declined;
        };
        let conditional = [header::IF_MATCH, header::IF_NONE_MATCH, header::IF_UNMODIFIED_SINCE]
            .iter()
            .any(|h| ex.headers.contains_key(h));
        if !conditional {
            return HandlerResult::Declined;
        }
        let (Some(path), Some(volume)) = (cmd.path.clone(), cmd.volume()) else {
            return HandlerResult::Declined;
        };
        let current = match volume.stat(&path).await {
            Ok(meta) => Some(HttpExchange::validators(&meta)),
            Err(e) if e.kind == crate::storage::ErrorKind::NotFound => None,
            Err(e) => return cmd.fail_storage(&e),
        };
        let Some(ex) = cmd.channel.get::<HttpExchange>() else {
            return HandlerResult::Declined;
        };
        let create_only = ex.method == http::Method::PUT
            && ex
                .headers
                .get_all(header::IF_NONE_MATCH)
                .iter()
                .any(|v| v.as_bytes().trim_ascii() == b"*");
        match proto_http::evaluate_preconditions(&ex.method, &ex.headers, current.as_ref()) {
            proto_http::Precondition::Proceed => {
                if create_only {
                    // Checked now, and enforced by the back-end at commit: of two
                    // racing creators one wins, the other gets 412.
                    cmd.args.write_mode = crate::storage::WriteMode::CreateNew;
                }
                HandlerResult::Declined
            }
            _ => cmd.fail(Status::PreconditionFailed, ""),
        }
    }
}

/// PRE_CMD of `MKCOL`: a request body is a media type this server does not know
/// (RFC 4918 §9.3.1: 415).
#[derive(Debug)]
struct MkcolBody;

#[async_trait]
impl Handler for MkcolBody {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        match cmd.channel.get::<HttpExchange>() {
            Some(ex) if ex.has_body() => cmd.fail(Status::UnsupportedMediaType, ""),
            _ => HandlerResult::Declined,
        }
    }
}

/// The WebDAV module.
#[derive(Debug)]
struct WebDav {
    capabilities: Capabilities,
    locks: Arc<dyn LockStore>,
}

#[async_trait]
impl Handler for WebDav {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        match cmd.verb {
            Verb::Protocol("OPTIONS") => options(cmd, allow(&self.capabilities)),
            Verb::Protocol("PROPFIND") => self.propfind(cmd).await,
            Verb::Protocol("PROPPATCH") => self.proppatch(cmd).await,
            _ => HandlerResult::Declined,
        }
    }
}

/// The exchange of an HTTP command (the module is registered for HTTP verbs only).
fn exchange<'c>(cmd: &'c mut CommandRecord<'_>) -> Option<&'c mut HttpExchange> {
    cmd.channel.get_mut::<HttpExchange>()
}

/// `OPTIONS`: class 1 and 2 compliance and the allowed methods (RFC 4918 §10.1, §18.1, §18.2).
fn options(cmd: &mut CommandRecord<'_>, allow: &'static str) -> HandlerResult {
    let Some(ex) = exchange(cmd) else {
        return HandlerResult::Declined;
    };
    let mut headers = HeaderMap::new();
    headers.insert("dav", HeaderValue::from_static("1, 2"));
    headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    // Makes Microsoft's clients use WebDAV rather than FrontPage extensions.
    headers.insert("ms-author-via", HeaderValue::from_static("DAV"));
    // A success without a body is 204, here as everywhere (the contract's rule).
    match ex.send(StatusCode::NO_CONTENT, headers, super::exchange::full("")) {
        Ok(()) => {
            cmd.responses.add(Status::Ok, "");
            HandlerResult::Handled
        }
        Err(e) => cmd.fail(Status::LocalError, e.to_string()),
    }
}

/// The headers of a WebDAV XML body.
fn xml_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(dav::XML_CONTENT_TYPE));
    headers
}

/// The href of a resource: its percent-encoded path, collections with a
/// trailing slash.
fn href(path: &VirtualPath, is_dir: bool) -> String {
    let mut href = proto_http::encode_href(path.as_str());
    if is_dir && !href.ends_with('/') {
        href.push('/');
    }
    href
}

/// The live properties of a resource from its metadata and its lockdiscovery.
fn live_props(name: &str, meta: &Metadata, lockdiscovery: String) -> LiveProps {
    let validators = HttpExchange::validators(meta);
    LiveProps {
        collection: meta.is_dir(),
        content_length: meta.size,
        last_modified: meta.modified,
        etag: Some(validators.etag),
        content_type: Some(proto_http::content_type_for(name).into_owned()),
        lockdiscovery: Some(lockdiscovery),
    }
}

impl WebDav {
    /// The path, the session's volume and the path's metadata; or the failed result.
    async fn resource(
        &self,
        cmd: &mut CommandRecord<'_>,
    ) -> Result<(VirtualPath, Arc<dyn Storage>, Metadata), HandlerResult> {
        let (Some(path), Some(volume)) = (cmd.path.clone(), cmd.volume()) else {
            return Err(cmd.fail(Status::BadArguments, "A path is required."));
        };
        match volume.stat(&path).await {
            Ok(meta) => Ok((path, volume, meta)),
            Err(e) => Err(cmd.fail_storage(&e)),
        }
    }

    /// Reads a small XML body, or fails the command with 413/400.
    async fn xml_body(cmd: &mut CommandRecord<'_>) -> Result<bytes::Bytes, HandlerResult> {
        let Some(ex) = exchange(cmd) else {
            return Err(HandlerResult::Declined);
        };
        match ex.read_body(MAX_XML_BODY).await {
            Ok(body) => Ok(body),
            Err(e) => Err(cmd.fail(e.status, "")),
        }
    }

    async fn propfind(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let Some(ex) = exchange(cmd) else {
            return HandlerResult::Declined;
        };
        let depth = dav::parse_depth(ex.headers.get("depth").and_then(|v| v.to_str().ok()));
        let depth = match depth {
            Ok(Some(d @ (Depth::Zero | Depth::One))) => d,
            Ok(None | Some(Depth::Infinity)) => {
                let sent = ex.send(
                    StatusCode::FORBIDDEN,
                    xml_headers(),
                    super::exchange::full(dav::PROPFIND_FINITE_DEPTH),
                );
                if let Err(e) = sent {
                    return cmd.fail(Status::LocalError, e.to_string());
                }
                let _ = cmd
                    .responses
                    .add_raw_err(403, "PROPFIND with Depth: infinity is not supported; use 0 or 1.");
                return HandlerResult::Error;
            }
            Err(()) => return cmd.fail(Status::BadArguments, "Invalid Depth header."),
        };
        let body = match Self::xml_body(cmd).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let request = match dav::parse_propfind(&body) {
            Ok(r) => r,
            Err(e) => return cmd.fail(Status::BadArguments, format!("PROPFIND body: {e}.")),
        };
        let (path, volume, meta) = match self.resource(cmd).await {
            Ok(r) => r,
            Err(r) => return r,
        };
        let members = if depth == Depth::One && meta.is_dir() {
            match volume.list(&path).await {
                Ok(entries) => Some(entries),
                Err(e) => return cmd.fail_storage(&e),
            }
        } else {
            None
        };
        let wanted = dav::needs_dead_props(&request) && self.capabilities.dead_properties;
        let props = DeadProps {
            volume: wanted.then_some(volume),
            locks: self.locks.clone(),
        };
        let session: &crate::session::Session = cmd.session;
        let Some(ex) = cmd.channel.get_mut::<HttpExchange>() else {
            return HandlerResult::Declined;
        };
        let result = stream_multistatus(ex, session, &path, &meta, &request, members, &props).await;
        match result {
            Ok(_) => {
                let _ = cmd.responses.add_raw(207, "Multi-Status");
                HandlerResult::Handled
            }
            Err(e) => {
                tracing::info!(session = cmd.session.id, detail = %e.detail, "PROPFIND response cut short");
                cmd.fail(e.status, "")
            }
        }
    }

    async fn proppatch(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let body = match Self::xml_body(cmd).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let ops = match dav::parse_proppatch(&body) {
            Ok(ops) => ops,
            Err(e) => return cmd.fail(Status::BadArguments, format!("PROPPATCH body: {e}.")),
        };
        let (path, volume, meta) = match self.resource(cmd).await {
            Ok(r) => r,
            Err(r) => return r,
        };
        let statuses = self.apply_proppatch(volume.as_ref(), &path, &ops).await;
        let results: Vec<(&dav::PropName, u16)> = ops.iter().map(|op| op.name()).zip(statuses).collect();
        let xml = dav::proppatch_response(&href(&path, meta.is_dir()), &results);
        let Some(ex) = exchange(cmd) else {
            return HandlerResult::Declined;
        };
        if let Err(e) = ex.send(StatusCode::MULTI_STATUS, xml_headers(), super::exchange::full(xml)) {
            return cmd.fail(Status::LocalError, e.to_string());
        }
        let _ = cmd.responses.add_raw(207, "Multi-Status");
        HandlerResult::Handled
    }

    /// Carries out a `PROPPATCH` all or nothing (RFC 4918 §9.2): the status of
    /// each instruction — 200 when all were stored; else the failing ones with
    /// their reason (403 protected or not storable here, 507 no room) and the
    /// others 424.
    async fn apply_proppatch(&self, volume: &dyn Storage, path: &VirtualPath, ops: &[dav::PatchOp]) -> Vec<u16> {
        if !self.capabilities.dead_properties {
            return vec![403; ops.len()];
        }
        // Protected live properties, and names a 207 could not carry (they
        // would be stored, then never shown): 403, and nothing is stored.
        let refused = |name: &dav::PropName| dav::is_protected(name) || !dav::writable_name(name);
        if ops.iter().any(|op| refused(op.name())) {
            return ops
                .iter()
                .map(|op| if refused(op.name()) { 403 } else { 424 })
                .collect();
        }
        // Windows' Win32LastModifiedTime is the file's own time where the
        // back-end can set it. First: if setting it fails, nothing is stored
        // (if storing the dead properties fails after it, the time stays set).
        // The volume's own: an upstream FTP server's MFMT is learned per upstream.
        if volume.capabilities().set_modified_times
            && let Some(modified) = dav::win32_last_modified(ops)
            && let Err(e) = volume.set_modified(path, modified).await
        {
            return ops
                .iter()
                .map(|op| {
                    if op.name().ns == dav::MS_NS && op.name().local == "Win32LastModifiedTime" {
                        storage_status(&e)
                    } else {
                        424
                    }
                })
                .collect();
        }
        let stored = match volume.dead_props(path).await {
            Ok(blob) => blob,
            Err(e) => return vec![storage_status(&e); ops.len()],
        };
        let mut props = dav::decode_dead_props(&stored);
        dav::apply_patch(&mut props, ops);
        match volume.set_dead_props(path, dav::encode_dead_props(&props)).await {
            Ok(()) => vec![200; ops.len()],
            Err(e) => vec![storage_status(&e); ops.len()],
        }
    }
}

/// The per-property status for a storage failure of a `PROPPATCH`.
fn storage_status(e: &crate::storage::StorageError) -> u16 {
    match e.kind {
        crate::storage::ErrorKind::NoSpace => 507,
        crate::storage::ErrorKind::Unsupported | crate::storage::ErrorKind::PermissionDenied => 403,
        _ => Status::from_storage(e.kind).mapping().http,
    }
}

/// Where a `PROPFIND` finds dead properties: the session's volume, or `None`
/// when the request needs none (or the back-end keeps none).
struct DeadProps {
    volume: Option<Arc<dyn Storage>>,
    /// Where the lockdiscovery comes from.
    locks: Arc<dyn LockStore>,
}

impl DeadProps {
    /// The dead properties of the resource at `path` (none when they cannot be
    /// read: a listing is not failed for them).
    async fn of(&self, path: &VirtualPath) -> Vec<dav::DeadProp> {
        let Some(volume) = &self.volume else {
            return Vec::new();
        };
        match volume.dead_props(path).await {
            Ok(blob) => dav::decode_dead_props(&blob),
            Err(_) => Vec::new(),
        }
    }
}

/// Streams the `207` of a `PROPFIND`: the resource, then its members batch by batch.
async fn stream_multistatus(
    ex: &mut HttpExchange,
    session: &crate::session::Session,
    path: &VirtualPath,
    meta: &Metadata,
    request: &PropfindRequest,
    members: Option<crate::storage::ListStream>,
    dead: &DeadProps,
) -> Result<u64, TransferError> {
    let Some(mut sink) = ex.stream(StatusCode::MULTI_STATUS, xml_headers())? else {
        return Ok(0);
    };
    let mut text = String::from(dav::MULTISTATUS_HEAD);
    let name = path.file_name().unwrap_or_default();
    text.push_str(&dav::propfind_response(
        &href(path, meta.is_dir()),
        &live_props(
            name,
            meta,
            super::davlock::discovery(dead.locks.as_ref(), session, path).await,
        ),
        &dead.of(path).await,
        request,
    ));
    sink.write(text).await?;
    if let Some(mut entries) = members {
        while let Some(batch) = entries.next().await {
            let batch = sink.batch(batch).await?;
            let mut text = String::new();
            for entry in &batch {
                let Ok(child) = path.join_name(&entry.name) else {
                    continue;
                };
                text.push_str(&dav::propfind_response(
                    &href(&child, entry.meta.is_dir()),
                    &live_props(
                        &entry.name,
                        &entry.meta,
                        super::davlock::discovery(dead.locks.as_ref(), session, &child).await,
                    ),
                    &dead.of(&child).await,
                    request,
                ));
            }
            sink.write(text).await?;
        }
    }
    sink.write(dav::MULTISTATUS_TAIL).await?;
    Ok(sink.sent())
}
