//! Module `auth`: who the client is, for both protocols.
//!
//! - PRE_CMD (every command, first): a command that needs a login and has no user
//!   fails with `NotLoggedIn` — unless it carries credentials (HTTP `Authorization`),
//!   which are checked here, or anonymous access is enabled for HTTP. Only a
//!   request without an `Authorization` header is anonymous: one whose header
//!   cannot be used was refused by the HTTP lift already (401, not counted as a
//!   failed login), and what anonymous may not do is refused by `permissions`
//!   with a 401 that lets the client log in.
//! - CMD `User` (FTP `USER`): remembers the name, asks for the password.
//! - CMD `Login` (FTP `PASS`): checks the password; `LoggedIn` or `LoginFailed`.
//! - Client certificates (mutual TLS, `crate::auth::certificate`): a user bound
//!   to a subject without a password logs in at `USER` (FTP `232`) or on an
//!   HTTP request without `Authorization`; a user bound to a subject never logs
//!   in without that certificate, whatever the password.
//!
//! The credentials are checked by the [`Authenticator`] (the local user file, or
//! an upstream server's own login for `credentials: passthrough`); one that
//! cannot check them (the upstream does not answer) fails the login with
//! `StorageUnavailable`, uncounted.
//!
//! A successful login attaches the session to its volume — the back-end rooted at
//! the user's home ([`Volumes`]); a home that cannot be opened fails the login
//! with `StorageUnavailable` (it is not the client's fault, and not counted as a
//! failed guess).
//!
//! An unknown user and a wrong password get the same reply after the same work.
//! Failures count against the client's address in the [`LoginThrottle`]: past
//! `delay_after` the failure reply waits (1 s, 2 s, 4 s …), at `ban_after` the
//! address is banned and its logins get `LoginBanned` (FTP 421 and close, HTTP
//! 429) without a password check, for both protocols alike.

use std::sync::Arc;

use async_trait::async_trait;

use crate::auth::{Authenticator, CheckUnavailable, Credentials, LoginThrottle, Penalty, User, is_anonymous_name};
use crate::command::{CommandRecord, Protocol, Verb};
use crate::path::VirtualPath;
use crate::pipeline::{Handler, HandlerResult};
use crate::response::Status;
use crate::storage::Volumes;

/// How a login attempt ended, noted on the command for the log phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAttempt {
    /// The credentials were accepted.
    Success,
    /// They were not.
    Failure,
    /// The address is banned; nothing was checked.
    Banned,
    /// The credentials were accepted but the user's home could not be opened.
    HomeUnavailable,
    /// Too many password checks were waiting; nothing was checked.
    Busy,
}

impl LoginAttempt {
    /// The `result` label of `dualgate_logins_total`.
    pub fn label(self) -> &'static str {
        match self {
            LoginAttempt::Success => "success",
            LoginAttempt::Failure => "failure",
            LoginAttempt::Banned => "banned",
            LoginAttempt::HomeUnavailable => "unavailable",
            LoginAttempt::Busy => "busy",
        }
    }

    /// The failure status to answer with, if it failed.
    fn failure_status(self) -> Option<Status> {
        match self {
            LoginAttempt::Success => None,
            LoginAttempt::Failure => Some(Status::LoginFailed),
            LoginAttempt::Banned => Some(Status::LoginBanned),
            LoginAttempt::HomeUnavailable => Some(Status::StorageUnavailable),
            LoginAttempt::Busy => Some(Status::ServiceUnavailable),
        }
    }
}

/// The text of a failed login's reply: the table's, but for a refusal because
/// the password checks are full (whose table text speaks of closing).
fn failure_text(status: Status) -> &'static str {
    if status == Status::ServiceUnavailable {
        "Too many logins are being checked; try again later."
    } else {
        ""
    }
}

/// The auth module.
pub struct Auth {
    users: Arc<dyn Authenticator>,
    throttle: Arc<LoginThrottle>,
    volumes: Arc<Volumes>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("volumes", &self.volumes)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// The module over an authenticator, the login throttle and the volumes
    /// sessions are attached to.
    pub fn new(users: Arc<dyn Authenticator>, throttle: Arc<LoginThrottle>, volumes: Arc<Volumes>) -> Self {
        Auth {
            users,
            throttle,
            volumes,
        }
    }

    /// Attaches the session to `user`'s volume; false (and logged) when the home
    /// cannot be opened.
    async fn attach(&self, cmd: &mut CommandRecord<'_>, user: Arc<User>) -> bool {
        match self.volumes.attach(&user).await {
            Ok(volume) => {
                cmd.session.user = Some(user);
                cmd.session.volume = Some(volume);
                cmd.session.cwd = VirtualPath::root();
                true
            }
            Err(e) => {
                tracing::error!(session = cmd.session.id, user = %user.name, home = %user.home, error = %e, cause = ?std::error::Error::source(&e), "the user's home cannot be opened; login refused");
                false
            }
        }
    }

    async fn login(&self, cmd: &mut CommandRecord<'_>, creds: &Credentials) -> LoginAttempt {
        let peer = cmd.session.peer.ip();
        let attempt = if self.throttle.banned(peer).is_some() {
            LoginAttempt::Banned
        } else if let Some(verdict) = self
            .users
            .authenticate(creds)
            .await
            .map(|found| found.filter(|user| certificate_accepted(cmd, user)))
            .transpose()
        {
            match verdict {
                Ok(user) => {
                    // Anyone can log in anonymously: that proves nothing about the guesses
                    // made from this address, so it does not clear them.
                    if !user.anonymous {
                        self.throttle.success(peer);
                    }
                    if self.attach(cmd, user).await {
                        LoginAttempt::Success
                    } else {
                        LoginAttempt::HomeUnavailable
                    }
                }
                Err(CheckUnavailable::Busy) => {
                    tracing::warn!(session = cmd.session.id, %peer, user = %creds.user, "login refused: too many password checks waiting");
                    LoginAttempt::Busy
                }
                Err(e) => {
                    tracing::error!(session = cmd.session.id, user = %creds.user, error = %e, "login refused: the credentials could not be checked");
                    LoginAttempt::HomeUnavailable
                }
            }
        } else {
            match self.throttle.failure(peer) {
                Penalty::Banned => {
                    tracing::warn!(session = cmd.session.id, %peer, user = %creds.user, "login failed; too many failures, address banned");
                    LoginAttempt::Banned
                }
                Penalty::Delay(delay) => {
                    tracing::info!(session = cmd.session.id, %peer, user = %creds.user, delay_ms = delay.as_millis() as u64, "login failed");
                    // Held back, not refused: the guesser's next try waits too.
                    tokio::time::sleep(delay).await;
                    LoginAttempt::Failure
                }
            }
        };
        cmd.notes.insert(attempt);
        attempt
    }

    /// A login on the client certificate alone (see `crate::auth::certificate`):
    /// `Some` when the session's certificate logs in as `name` (FTP) or as the
    /// user bound to its subject (HTTP, `None`) without a password.
    async fn certificate_login(&self, cmd: &mut CommandRecord<'_>, name: Option<&str>) -> Option<LoginAttempt> {
        let cert = cmd.session.client_certificate.clone()?;
        let user = self.users.by_certificate(name, &cert)?;
        let attempt = if self.throttle.banned(cmd.session.peer.ip()).is_some() {
            LoginAttempt::Banned
        } else if self.attach(cmd, user).await {
            tracing::debug!(session = cmd.session.id, subject = %cert.subject, "logged in by client certificate");
            LoginAttempt::Success
        } else {
            LoginAttempt::HomeUnavailable
        };
        cmd.notes.insert(attempt);
        Some(attempt)
    }

    async fn pre_cmd(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        if !cmd.requires_login || cmd.session.user.is_some() {
            return HandlerResult::Declined;
        }
        if cmd.protocol == Protocol::Http {
            let attempt = match cmd.args.credentials.take() {
                Some(creds) => Some(self.login(cmd, &creds).await),
                None => self.certificate_login(cmd, None).await,
            };
            if let Some(attempt) = attempt {
                return match attempt.failure_status() {
                    None => HandlerResult::Declined,
                    Some(status) => cmd.fail(status, failure_text(status)),
                };
            }
            if let Some(anon) = self.users.anonymous() {
                return if self.attach(cmd, anon).await {
                    HandlerResult::Declined
                } else {
                    cmd.fail(Status::StorageUnavailable, "The anonymous area is not available.")
                };
            }
            // The table's text speaks of USER and PASS; an HTTP client logs in differently.
            return cmd.fail(Status::NotLoggedIn, "Authentication required.");
        }
        cmd.fail(Status::NotLoggedIn, "")
    }

    async fn user(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let Some(name) = cmd.args.text.take() else {
            return cmd.fail(Status::BadArguments, "");
        };
        cmd.session.logout();
        match self
            .certificate_login(cmd, Some(&name))
            .await
            .map(LoginAttempt::failure_status)
        {
            None => {}
            Some(None) => {
                cmd.responses.add(Status::LoggedInByCertificate, "");
                return HandlerResult::Handled;
            }
            Some(Some(status)) => {
                cmd.session.logout();
                return cmd.fail(status, failure_text(status));
            }
        }
        let text = if is_anonymous_name(&name) {
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
        match self.login(cmd, &creds).await.failure_status() {
            None => {
                cmd.responses.add(Status::LoggedIn, "");
                HandlerResult::Handled
            }
            Some(Status::StorageUnavailable) => {
                cmd.session.logout();
                cmd.fail(Status::StorageUnavailable, "Your home directory is not available.")
            }
            Some(status) => {
                cmd.session.logout();
                cmd.fail(status, failure_text(status))
            }
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
            Verb::User => self.user(cmd).await,
            Verb::Login => self.pass(cmd).await,
            _ => HandlerResult::Declined,
        }
    }
}

/// A user bound to a client certificate logs in only from a session that
/// presented one of that subject (with the right password too, on this path).
fn certificate_accepted(cmd: &CommandRecord<'_>, user: &User) -> bool {
    let Some(binding) = &user.certificate else {
        return true;
    };
    let ok = binding.accepts(cmd.session.client_certificate.as_deref());
    if !ok {
        tracing::info!(session = cmd.session.id, user = %user.name, "the password is right but the client certificate is missing or has another subject");
    }
    ok
}
