//! Module `permissions`: one rule for both protocols — a refused path name fails
//! with `BadFileName` (FTP 553, HTTP 400), and a verb the user's permissions do not
//! cover fails with `PermissionDenied` (FTP 550, HTTP 403) — or, for the anonymous
//! user, with `AnonymousDenied` (FTP 550 all the same; HTTP 401 with a challenge).
//! An anonymous HTTP request is one that came without credentials, and many
//! clients (browsers, litmus, cadaver, `wget --user`, `curl --anyauth`) send
//! credentials only once challenged: a 403 would leave them no way to log in.
//! What the status renders as is the status table's business, not this module's.
//!
//! **Default deny**: a command that names a path and that some module handles
//! must have a rule in [`required`]; one without (a new verb, a custom module's
//! command) is refused rather than let through unchecked. Commands nobody
//! handles fall through to "unsupported" as before.
//!
//! Runs in PRE_CMD after `auth`, so an anonymous or logged-out client gets the login
//! reply first.

use std::collections::HashSet;

use async_trait::async_trait;

use crate::auth::Permission;
use crate::command::{CommandRecord, Verb};
use crate::pipeline::{Handler, HandlerResult};
use crate::response::Status;

/// The permissions a verb needs when it names a path, or `None` when there is no
/// rule for it.
pub fn required(verb: &Verb) -> Option<&'static [Permission]> {
    Some(match verb {
        Verb::Read | Verb::List | Verb::Stat | Verb::ChangeDir => &[Permission::Read],
        Verb::Write => &[Permission::Write],
        Verb::Delete | Verb::RemoveDir => &[Permission::Delete],
        Verb::MakeDir => &[Permission::Mkdir],
        Verb::RenameFrom | Verb::Rename => &[Permission::Rename],
        Verb::Copy => &[Permission::Read, Permission::Write],
        Verb::Site(sub) if sub == "CHMOD" => &[Permission::Write],
        Verb::SetModified => &[Permission::Write],
        // FTP `STAT path` lists the path over the control connection.
        Verb::Protocol("STAT") => &[Permission::Read],
        // WebDAV: reading properties is reading; storing them is writing.
        Verb::Protocol("PROPFIND") => &[Permission::Read],
        Verb::Protocol("PROPPATCH") => &[Permission::Write],
        // WebDAV locks: taking one may create an empty file; both change what others may write.
        Verb::Protocol("LOCK" | "UNLOCK") => &[Permission::Write],
        // Describes the server, not the resource.
        Verb::Protocol("OPTIONS") => &[],
        _ => return None,
    })
}

/// Checks path validity and permissions.
#[derive(Debug, Default)]
pub struct Permissions {
    /// Verb keys some module handles in the CMD phase.
    handled: HashSet<String>,
}

impl Permissions {
    /// The check, knowing which verbs have a handler.
    pub fn new(handled: impl IntoIterator<Item = String>) -> Self {
        Permissions {
            handled: handled.into_iter().collect(),
        }
    }
}

#[async_trait]
impl Handler for Permissions {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        if let Some(err) = cmd.path_error {
            return cmd.fail(Status::BadFileName, err.to_string());
        }
        let Some(user) = cmd.session.user.as_ref() else {
            return HandlerResult::Declined; // commands that need no login need no permission
        };
        // Permissions govern what a user may do to paths: a command naming none
        // (PWD, FEAT, STAT without an argument) needs none.
        if cmd.path.is_none() && cmd.target.is_none() {
            return HandlerResult::Declined;
        }
        let needed = match required(&cmd.verb) {
            Some(needed) => needed,
            None if self.handled.contains(cmd.verb.key().as_ref()) => {
                tracing::warn!(verb = %cmd.verb.key(), "a command naming a path has no permission rule; refused");
                return cmd.fail(Status::PermissionDenied, "");
            }
            None => &[],
        };
        if needed.iter().all(|p| user.permissions.allows(*p)) {
            HandlerResult::Declined
        } else if user.anonymous {
            // A login may hold the permission that anonymous lacks.
            cmd.fail(Status::AnonymousDenied, "")
        } else {
            cmd.fail(Status::PermissionDenied, "")
        }
    }
}
