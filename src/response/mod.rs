//! The response engine: per-command success and error chains (ProFTPD's
//! `pr_response_add` / `pr_response_add_err` / `R_DUP`), and the renderers that turn
//! the chain the outcome selects into protocol bytes.
//!
//! Handlers never write to a socket. They add [`Reply`] values to the chains of
//! their command; when the command's lifetime ends the engine picks one chain —
//! the success chain if the command was handled, the error chain if it failed, a
//! single "unsupported" reply if nobody took it — and hands it to [`ftp::render`] or
//! [`http::render`]. The other chain is dropped with the command.
//!
//! Direct sends exist only where the ProFTPD guide allows them: the preliminary
//! `150` of a transfer and the `421` that precedes closing a connection; see
//! [`ftp::render_direct`].

pub mod ftp;
pub mod http;
mod status;

use std::borrow::Cow;

pub use status::{Mapping, ResultClass, Status, class_of_ftp, class_of_http};

/// The code of one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// A protocol-neutral status, mapped by the table in `status.rs`.
    Status(Status),
    /// A raw protocol code (FTP reply code on FTP, HTTP status on HTTP), for
    /// protocol-specific handlers. Must be three digits, 100–999.
    Raw(u16),
    /// A continuation of the previous reply (ProFTPD's `R_DUP`).
    Dup,
}

/// One reply: a code and a line of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The code.
    pub code: Code,
    /// The text; the status's default text when empty.
    pub text: Cow<'static, str>,
}

/// How a command ended, as the engine decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A `Cmd` handler returned `Handled`: the success chain is sent.
    Handled,
    /// A handler returned `Error`: the error chain is sent.
    Failed,
    /// No `Cmd` handler took the command: the client is told it is unsupported.
    Unsupported,
}

/// Why a reply could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// Raw codes must be three digits (100–999).
    #[error("reply code {0} is not three digits (100-999)")]
    InvalidCode(u16),
}

/// The two chains of one command.
#[derive(Debug, Default, Clone)]
pub struct Responses {
    ok: Vec<Reply>,
    err: Vec<Reply>,
}

impl Responses {
    /// Adds a reply to the success chain.
    pub fn add(&mut self, status: Status, text: impl Into<Cow<'static, str>>) {
        self.ok.push(Reply {
            code: Code::Status(status),
            text: text.into(),
        });
    }

    /// Adds a reply to the error chain.
    pub fn add_err(&mut self, status: Status, text: impl Into<Cow<'static, str>>) {
        self.err.push(Reply {
            code: Code::Status(status),
            text: text.into(),
        });
    }

    /// Adds a raw-code reply to the success chain (protocol-specific handlers).
    pub fn add_raw(&mut self, code: u16, text: impl Into<Cow<'static, str>>) -> Result<(), ReplyError> {
        check_code(code)?;
        self.ok.push(Reply {
            code: Code::Raw(code),
            text: text.into(),
        });
        Ok(())
    }

    /// Adds a raw-code reply to the error chain.
    pub fn add_raw_err(&mut self, code: u16, text: impl Into<Cow<'static, str>>) -> Result<(), ReplyError> {
        check_code(code)?;
        self.err.push(Reply {
            code: Code::Raw(code),
            text: text.into(),
        });
        Ok(())
    }

    /// Adds a continuation line to the success chain (`R_DUP`).
    pub fn dup(&mut self, text: impl Into<Cow<'static, str>>) {
        self.ok.push(Reply {
            code: Code::Dup,
            text: text.into(),
        });
    }

    /// Adds a continuation line to the error chain.
    pub fn dup_err(&mut self, text: impl Into<Cow<'static, str>>) {
        self.err.push(Reply {
            code: Code::Dup,
            text: text.into(),
        });
    }

    /// Adds a prepared reply to the error chain.
    pub fn push_err(&mut self, reply: Reply) {
        self.err.push(reply);
    }

    /// True when the error chain holds a reply.
    pub fn has_error(&self) -> bool {
        self.err.iter().any(|r| r.code != Code::Dup)
    }

    /// True when the success chain holds a reply.
    pub fn has_success(&self) -> bool {
        self.ok.iter().any(|r| r.code != Code::Dup)
    }

    /// The chain the outcome selects, with the engine's fallbacks applied: a failed
    /// command without an error reply gets `LocalError` (a client must never wait
    /// for a reply that does not come); an unsupported one gets `unsupported`.
    pub fn selected(&self, outcome: Outcome, unsupported: Status) -> Cow<'_, [Reply]> {
        match outcome {
            Outcome::Handled if self.has_success() => Cow::Borrowed(&self.ok),
            Outcome::Handled => Cow::Owned(vec![Reply {
                code: Code::Status(Status::Ok),
                text: Cow::Borrowed(""),
            }]),
            Outcome::Failed if self.has_error() => Cow::Borrowed(&self.err),
            Outcome::Failed => Cow::Owned(vec![Reply {
                code: Code::Status(Status::LocalError),
                text: Cow::Borrowed(""),
            }]),
            Outcome::Unsupported => Cow::Owned(vec![Reply {
                code: Code::Status(unsupported),
                text: Cow::Borrowed(""),
            }]),
        }
    }

    /// The first coded reply of the selected chain (what metrics and the HTTP status use).
    pub fn first_code(&self, outcome: Outcome, unsupported: Status) -> Option<Code> {
        self.selected(outcome, unsupported)
            .iter()
            .map(|r| r.code)
            .find(|c| *c != Code::Dup)
    }
}

fn check_code(code: u16) -> Result<(), ReplyError> {
    if (100..=999).contains(&code) {
        Ok(())
    } else {
        Err(ReplyError::InvalidCode(code))
    }
}

#[cfg(test)]
mod tests;
