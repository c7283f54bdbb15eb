//! Module `permissions`: one rule for both protocols — a refused path name fails
//! with `BadFileName` (FTP 553, HTTP 400), and a verb the user's permissions do not
//! cover fails with `PermissionDenied` (FTP 550, HTTP 403).
//!
//! Runs in PRE_CMD after `auth`, so an anonymous or logged-out client gets the login
//! reply first.

use async_trait::async_trait;

use crate::auth::Permission;
use crate::command::{CommandRecord, Verb};
use crate::pipeline::{Handler, HandlerResult};
use crate::response::Status;

/// The permission a verb needs, if any.
pub fn required(verb: &Verb) -> &'static [Permission] {
    match verb {
        Verb::Read | Verb::List | Verb::Stat | Verb::ChangeDir => &[Permission::Read],
        Verb::Write => &[Permission::Write],
        Verb::Delete | Verb::RemoveDir => &[Permission::Delete],
        Verb::MakeDir => &[Permission::Mkdir],
        Verb::RenameFrom | Verb::Rename => &[Permission::Rename],
        Verb::Copy => &[Permission::Read, Permission::Write],
        Verb::Site(sub) if sub == "CHMOD" => &[Permission::Write],
        // WebDAV: reading properties is reading; storing them is writing.
        Verb::Protocol("PROPFIND") => &[Permission::Read],
        Verb::Protocol("PROPPATCH") => &[Permission::Write],
        _ => &[],
    }
}

/// Checks path validity and permissions.
#[derive(Debug, Default)]
pub struct Permissions;

#[async_trait]
impl Handler for Permissions {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        if let Some(err) = cmd.path_error {
            return cmd.fail(Status::BadFileName, err.to_string());
        }
        let Some(user) = cmd.session.user.as_ref() else {
            return HandlerResult::Declined; // commands that need no login need no permission
        };
        if required(&cmd.verb).iter().all(|p| user.permissions.allows(*p)) {
            HandlerResult::Declined
        } else {
            cmd.fail(Status::PermissionDenied, "")
        }
    }
}
