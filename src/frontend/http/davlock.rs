//! Module `davlock`: WebDAV class 2 on HTTP (RFC 4918 §6, §7, §9.10, §9.11,
//! §10.4) — the `LOCK` and `UNLOCK` methods, the `If` header, and the XML
//! bodies of lock refusals — as pipeline handlers in the same table as
//! everything else. Whether a change is allowed under the locks held is
//! decided once for both protocols by the shared `locks` module; what this
//! module adds is what only HTTP has: the tokens a request submits, its
//! conditions on them, and the 423/409 bodies.
//!
//! - PRE_CMD, every request with an `If` header (priority 25): the header is
//!   parsed (400 when malformed) and evaluated against the resources it names
//!   (their entity tags and the locks that apply to them); false is 412
//!   (§10.4.3), true leaves the submitted tokens for the lock check.
//! - CMD `LOCK`: a new lock (200; 201 when the URL was unmapped and an empty
//!   file was created, §7.3), or with no body a refresh of the lock whose token
//!   the `If` header names (§9.10.2). A conflict is 423 `no-conflicting-lock`.
//! - CMD `UNLOCK`: 204; 400 without a `Lock-Token`; 409
//!   `lock-token-matches-request-uri` when no such lock applies; 403 when the
//!   lock is another user's.
//! - POST_CMD_ERR, every request: a refusal for a lock is answered with its
//!   `DAV:error` body (423 `lock-token-submitted` or `no-conflicting-lock`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use proto_http::lock::{self as wire, IfHeader, LockPrecondition, ResourceState};
use proto_http::webdav as dav;

use super::exchange::{HttpExchange, full};
use crate::command::{CommandRecord, Verb};
use crate::locks::{
    DEFAULT_TIMEOUT_SECS, Lock, LockError, LockRefusal, LockRoot, LockStore, MAX_TIMEOUT_SECS, NewLock, SubmittedTokens,
};
use crate::path::{MAX_PATH_LEN, VirtualPath};
use crate::pipeline::modules::Table;
use crate::pipeline::{Handler, HandlerResult, Phase};
use crate::response::Status;
use crate::session::Session;
use crate::storage::{ErrorKind, WriteMode};

/// Largest `LOCK` body accepted.
const MAX_LOCK_BODY: usize = 64 * 1024;

/// Registers the class 2 rows.
pub fn table(store: Arc<dyn LockStore>) -> Table {
    let mut t = Table::default();
    t.row("davlock", Phase::PreCmd, None, 25, Arc::new(IfCheck(store.clone())));
    let methods = Arc::new(LockMethods(store));
    for v in ["LOCK", "UNLOCK"] {
        t.row("davlock", Phase::Cmd, Some(&Verb::Protocol(v)), 0, methods.clone());
    }
    t.row("davlock", Phase::PostCmdErr, None, 0, Arc::new(RefusalBody));
    t
}

/// The `DAV:lockdiscovery` content of a resource (`path` as the user sees it).
pub async fn discovery(store: &dyn LockStore, session: &Session, path: &VirtualPath) -> String {
    if store.is_empty() {
        return String::new();
    }
    let locks = store.covering(&session.backend_path(path)).await;
    render_locks(session, &locks)
}

/// Renders locks for lockdiscovery, their roots as the session's user sees them.
fn render_locks(session: &Session, locks: &[Lock]) -> String {
    let now = Instant::now();
    let home = home_of(session);
    let roots: Vec<String> = locks
        .iter()
        .map(|l| {
            LockRoot::of(&home, std::slice::from_ref(l))
                .first()
                .map_or_else(String::new, LockRoot::href)
        })
        .collect();
    let active: Vec<wire::ActiveLock<'_>> = locks
        .iter()
        .zip(&roots)
        .map(|(l, root)| wire::ActiveLock {
            scope: l.scope,
            infinite: l.infinite,
            owner: l.owner.as_deref(),
            seconds_left: l.seconds_left(now),
            token: &l.token,
            root,
        })
        .collect();
    wire::lockdiscovery(&active)
}

/// The session's home (the root for a session without a user).
fn home_of(session: &Session) -> VirtualPath {
    session.user.as_ref().map_or_else(VirtualPath::root, |u| u.home.clone())
}

/// PRE_CMD: the `If` header.
#[derive(Debug)]
struct IfCheck(Arc<dyn LockStore>);

/// What the `If` check needs to find the resources a header names, taken
/// from the command before any wait.
struct Resolver {
    /// The request URI's path.
    request: Option<VirtualPath>,
    /// The session's volume.
    volume: Option<Arc<dyn crate::storage::Storage>>,
    /// The user's home (lock roots are back-end paths).
    home: VirtualPath,
    /// The request's `Host`.
    host: Option<String>,
    /// The scheme the request came in on.
    scheme: &'static str,
}

impl Resolver {
    fn of(cmd: &CommandRecord<'_>, headers: &HeaderMap) -> Self {
        Resolver {
            request: cmd.path.clone(),
            volume: cmd.volume(),
            home: home_of(cmd.session),
            host: headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            scheme: if cmd.session.tls { "https" } else { "http" },
        }
    }

    /// The path a list is tagged with (`None`: the request URI), or `None`
    /// when it is not a resource of this server.
    fn path(&self, tag: Option<&str>) -> Option<VirtualPath> {
        let Some(tag) = tag else {
            return self.request.clone();
        };
        let raw = dav::destination_path(tag, self.host.as_deref(), self.scheme).ok()?;
        let decoded = proto_http::decode_request_path(raw, MAX_PATH_LEN).ok()?;
        VirtualPath::parse_absolute(&decoded.path).ok()
    }

    /// The state of a resource a list is tagged with.
    async fn state(&self, store: &dyn LockStore, tag: Option<&str>) -> Option<ResourceState> {
        let path = self.path(tag)?;
        let etag = match &self.volume {
            Some(volume) => volume
                .stat(&path)
                .await
                .ok()
                .map(|meta| HttpExchange::validators(&meta).etag),
            None => None,
        };
        let tokens = store
            .covering(&self.home.nest(&path))
            .await
            .into_iter()
            .map(|l| l.token)
            .collect();
        Some(ResourceState { etag, tokens })
    }
}

#[async_trait]
impl Handler for IfCheck {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let Some(ex) = cmd.channel.get::<HttpExchange>() else {
            return HandlerResult::Declined;
        };
        let mut parsed = IfHeader::default();
        let mut any = false;
        for value in ex.headers.get_all("if") {
            any = true;
            let added = value
                .to_str()
                .map_err(|_| wire::IfError::Malformed)
                .and_then(|v| parsed.add(v));
            if let Err(e) = added {
                return cmd.fail(Status::BadArguments, format!("Invalid If header: {e}."));
            }
        }
        if !any {
            return HandlerResult::Declined;
        }
        let resolver = Resolver::of(cmd, &ex.headers);
        let mut states: HashMap<Option<String>, Option<ResourceState>> = HashMap::new();
        for list in &parsed.lists {
            if !states.contains_key(&list.tag) {
                let state = resolver.state(self.0.as_ref(), list.tag.as_deref()).await;
                states.insert(list.tag.clone(), state);
            }
        }
        let holds = wire::evaluate_if(&parsed, |tag| states.get(&tag.map(str::to_owned)).cloned().flatten());
        if !holds {
            return cmd.fail(Status::PreconditionFailed, "The If header's conditions do not hold.");
        }
        cmd.notes
            .insert(SubmittedTokens(parsed.submitted_tokens().map(str::to_owned).collect()));
        HandlerResult::Declined
    }
}

/// CMD: `LOCK` and `UNLOCK`.
#[derive(Debug)]
struct LockMethods(Arc<dyn LockStore>);

/// The path, its back-end path and the user's name, or the failed result.
fn subject(cmd: &mut CommandRecord<'_>) -> Result<(VirtualPath, VirtualPath, String), HandlerResult> {
    let Some(path) = cmd.path.clone() else {
        return Err(cmd.fail(Status::BadArguments, "A path is required."));
    };
    let Some(user) = cmd.session.user.as_ref() else {
        return Err(cmd.fail(Status::NotLoggedIn, ""));
    };
    let name = user.name.clone();
    Ok((cmd.session.backend_path(&path), path, name))
}

/// Sends a `LOCK` answer: the lock's discovery, and its token when new.
fn send_lock(cmd: &mut CommandRecord<'_>, status: StatusCode, lock: &Lock, new: bool) -> HandlerResult {
    let body = wire::lock_response(&render_locks(cmd.session, std::slice::from_ref(lock)));
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(dav::XML_CONTENT_TYPE));
    if new && let Ok(v) = HeaderValue::from_str(&format!("<{}>", lock.token)) {
        headers.insert("lock-token", v);
    }
    let Some(ex) = cmd.channel.get_mut::<HttpExchange>() else {
        return HandlerResult::Declined;
    };
    if let Err(e) = ex.send(status, headers, full(body)) {
        return cmd.fail(Status::LocalError, e.to_string());
    }
    let _ = cmd.responses.add_raw(status.as_u16(), "Locked.");
    HandlerResult::Handled
}

impl LockMethods {
    async fn lock(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let (backend, path, principal) = match subject(cmd) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let Some(ex) = cmd.channel.get_mut::<HttpExchange>() else {
            return HandlerResult::Declined;
        };
        let header = |name: &str| ex.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let secs = wire::parse_timeout(header("timeout").as_deref(), DEFAULT_TIMEOUT_SECS, MAX_TIMEOUT_SECS);
        let timeout = Duration::from_secs(secs);
        let depth = dav::parse_depth(header("depth").as_deref());
        let body = match ex.read_body(MAX_LOCK_BODY).await {
            Ok(b) => b,
            Err(e) => return cmd.fail(e.status, ""),
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            return self.refresh(cmd, &backend, &principal, timeout).await;
        }
        let info = match wire::parse_lockinfo(&body) {
            Ok(i) => i,
            Err(e) => return cmd.fail(Status::BadArguments, format!("LOCK body: {e}.")),
        };
        // §9.10.3: 0 or infinity, and none means infinity (Windows sends none, for files too).
        let infinite = match depth {
            Ok(None | Some(dav::Depth::Infinity)) => true,
            Ok(Some(dav::Depth::Zero)) => false,
            Ok(Some(dav::Depth::One)) | Err(()) => {
                return cmd.fail(Status::BadArguments, "LOCK takes Depth 0 or infinity.");
            }
        };
        let Some(volume) = cmd.volume() else {
            return cmd.fail(Status::NotLoggedIn, "");
        };
        let existing = match volume.stat(&path).await {
            Ok(meta) => Some(meta),
            Err(e) if e.kind == ErrorKind::NotFound => None,
            Err(e) => return cmd.fail_storage(&e),
        };
        let new = NewLock {
            root: backend.clone(),
            collection: existing.as_ref().is_some_and(crate::storage::Metadata::is_dir),
            scope: info.scope,
            infinite,
            owner: info.owner,
            principal: principal.clone(),
            timeout,
        };
        let lock = match self.0.lock(new).await {
            Ok(l) => l,
            Err(LockError::Conflict(held)) => {
                cmd.notes.insert(LockRefusal {
                    precondition: LockPrecondition::NoConflictingLock,
                    roots: LockRoot::of(&home_of(cmd.session), &held),
                });
                return cmd.fail(Status::Locked, "A conflicting lock is held.");
            }
            Err(LockError::Full) => return cmd.fail(Status::NoSpace, "Too many locks are held; try again later."),
            Err(e) => return cmd.fail(Status::LocalError, e.to_string()),
        };
        if existing.is_some() {
            return send_lock(cmd, StatusCode::OK, &lock, true);
        }
        // §7.3: locking an unmapped URL creates an empty resource, which stays after UNLOCK.
        let created = match volume.write(&path, WriteMode::CreateNew).await {
            Ok(upload) => upload.commit().await.map(|_| ()),
            Err(e) => Err(e),
        };
        match created {
            Ok(()) => send_lock(cmd, StatusCode::CREATED, &lock, true),
            // Created by someone else meanwhile: the lock applies to it all the same.
            Err(e) if e.kind == ErrorKind::AlreadyExists => send_lock(cmd, StatusCode::OK, &lock, true),
            Err(e) => {
                let _ = self.0.unlock(&lock.token, &backend, &principal).await;
                cmd.fail_storage(&e)
            }
        }
    }

    /// A `LOCK` without a body: refreshes the lock the `If` header names.
    async fn refresh(
        &self,
        cmd: &mut CommandRecord<'_>,
        backend: &VirtualPath,
        principal: &str,
        timeout: Duration,
    ) -> HandlerResult {
        let tokens = cmd.notes.get::<SubmittedTokens>().cloned().unwrap_or_default();
        if tokens.0.is_empty() {
            return cmd.fail(
                Status::BadArguments,
                "A LOCK without a body refreshes a lock: name its token in an If header.",
            );
        }
        let mut not_owner = false;
        for token in &tokens.0 {
            match self.0.refresh(token, backend, principal, timeout).await {
                Ok(lock) => return send_lock(cmd, StatusCode::OK, &lock, false),
                Err(LockError::NotOwner) => not_owner = true,
                Err(_) => {}
            }
        }
        if not_owner {
            return cmd.fail(Status::PermissionDenied, "The lock belongs to another user.");
        }
        cmd.fail(
            Status::PreconditionFailed,
            "No lock with that token applies to this resource.",
        )
    }

    async fn unlock(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let (backend, _, principal) = match subject(cmd) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let token = cmd
            .channel
            .get::<HttpExchange>()
            .and_then(|ex| ex.headers.get("lock-token"))
            .and_then(|v| v.to_str().ok())
            .and_then(wire::parse_lock_token)
            .map(str::to_owned);
        let Some(token) = token else {
            return cmd.fail(Status::BadArguments, "UNLOCK needs a Lock-Token header.");
        };
        match self.0.unlock(&token, &backend, &principal).await {
            Ok(()) => {
                cmd.responses.add(Status::ActionOk, "Unlocked.");
                HandlerResult::Handled
            }
            Err(LockError::NotOwner) => cmd.fail(Status::PermissionDenied, "The lock belongs to another user."),
            Err(_) => {
                cmd.notes.insert(LockRefusal {
                    precondition: LockPrecondition::TokenMatchesRequestUri,
                    roots: Vec::new(),
                });
                let _ = cmd
                    .responses
                    .add_raw_err(409, "No lock with that token applies to this resource.");
                HandlerResult::Error
            }
        }
    }
}

#[async_trait]
impl Handler for LockMethods {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        match cmd.verb {
            Verb::Protocol("LOCK") => self.lock(cmd).await,
            Verb::Protocol("UNLOCK") => self.unlock(cmd).await,
            _ => HandlerResult::Declined,
        }
    }
}

/// POST_CMD_ERR: the `DAV:error` body of a refusal for a lock.
#[derive(Debug)]
struct RefusalBody;

#[async_trait]
impl Handler for RefusalBody {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let Some(refusal) = cmd.notes.get::<LockRefusal>().cloned() else {
            return HandlerResult::Declined;
        };
        let Some(ex) = cmd.channel.get_mut::<HttpExchange>() else {
            return HandlerResult::Declined;
        };
        let status = match refusal.precondition {
            LockPrecondition::TokenMatchesRequestUri => StatusCode::CONFLICT,
            _ => StatusCode::LOCKED,
        };
        let hrefs: Vec<String> = refusal.roots.iter().map(LockRoot::href).collect();
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(dav::XML_CONTENT_TYPE));
        let body = wire::error_body(refusal.precondition, &hrefs);
        // A status already sent (a streamed body) cannot be replaced; it was logged then.
        let _ = ex.send(status, headers, full(body));
        HandlerResult::Declined
    }
}
