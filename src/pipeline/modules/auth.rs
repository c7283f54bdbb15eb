//! Module `auth`: who the client is, for both protocols.
//!
//! - PRE_CMD (every command, first): a command that needs a login and has no user
//!   fails with `NotLoggedIn` — unless it carries credentials (HTTP `Authorization`),
//!   which are checked here, or anonymous access is enabled for HTTP.
//! - CMD `User` (FTP `USER`): remembers the name, asks for the password.
//! - CMD `Login` (FTP `PASS`): checks the password; `LoggedIn` or `LoginFailed`.
//!
//! An unknown user and a wrong password get the same reply after the same work.

use std::sync::Arc;

use async_trait::async_trait;

use crate::auth::{ANONYMOUS_NAMES, Credentials, UserDb};
use crate::command::{CommandRecord, Protocol, Verb};
use crate::path::VirtualPath;
use crate::pipeline::{Handler, HandlerResult};
use crate::response::Status;

/// Marks a command whose credentials were checked, for the log phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginAttempt {
    /// Whether the credentials were accepted.
    pub success: bool,
}

/// The auth module.
#[derive(Debug)]
pub struct Auth {
    users: Arc<UserDb>,
}

impl Auth {
    /// The module over a user database.
    pub fn new(users: Arc<UserDb>) -> Self {
        Auth { users }
    }

    async fn login(&self, cmd: &mut CommandRecord<'_>, creds: &Credentials) -> bool {
        let user = self.users.verify(creds).await;
        cmd.notes.insert(LoginAttempt {
            success: user.is_some(),
        });
        match user {
            Some(u) => {
                cmd.session.user = Some(u);
                cmd.session.cwd = VirtualPath::root();
                true
            }
            None => {
                tracing::info!(session = cmd.session.id, peer = %cmd.session.peer, user = %creds.user, "login failed");
                false
            }
        }
    }

    async fn pre_cmd(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        if !cmd.requires_login || cmd.session.user.is_some() {
            return HandlerResult::Declined;
        }
        if cmd.protocol == Protocol::Http {
            if let Some(creds) = cmd.args.credentials.take() {
                return if self.login(cmd, &creds).await {
                    HandlerResult::Declined
                } else {
                    cmd.fail(Status::LoginFailed, "")
                };
            }
            if let Some(anon) = self.users.anonymous() {
                cmd.session.user = Some(anon);
                return HandlerResult::Declined;
            }
        }
        cmd.fail(Status::NotLoggedIn, "")
    }

    fn user(cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let Some(name) = cmd.args.text.take() else {
            return cmd.fail(Status::BadArguments, "");
        };
        cmd.session.logout();
        let text = if ANONYMOUS_NAMES.contains(&name.as_str()) {
            "Guest login okay, send your e-mail address as password."
        } else {
            "User name okay, need password."
        };
        cmd.session.pending_user = Some(name);
        cmd.responses.add(Status::NeedPassword, text);
        HandlerResult::Handled
    }

    async fn pass(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let (Some(user), Some(creds)) = (cmd.session.pending_user.take(), cmd.args.credentials.take()) else {
            return cmd.fail(Status::BadSequence, "Login with USER first.");
        };
        let creds = Credentials {
            user,
            password: creds.password,
        };
        if self.login(cmd, &creds).await {
            cmd.responses.add(Status::LoggedIn, "");
            HandlerResult::Handled
        } else {
            cmd.session.logout();
            cmd.fail(Status::LoginFailed, "")
        }
    }
}

/// The PRE_CMD half of [`Auth`], registered separately so the table reads clearly.
#[derive(Debug)]
pub struct RequireLogin(pub Arc<Auth>);

#[async_trait]
impl Handler for RequireLogin {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        self.0.pre_cmd(cmd).await
    }
}

#[async_trait]
impl Handler for Auth {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        match cmd.verb {
            Verb::User => Self::user(cmd),
            Verb::Login => self.pass(cmd).await,
            _ => HandlerResult::Declined,
        }
    }
}
