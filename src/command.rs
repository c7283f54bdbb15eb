//! The command record: one value per client command (an FTP command line or an HTTP
//! request), the equivalent of ProFTPD's `cmd_rec`.
//!
//! Front-ends build it ("lift" the protocol command into it) and hand it to the
//! pipeline; every phase handler reads and annotates the same record; the response
//! engine renders the chain it ends with. It carries:
//!
//! - the protocol and a canonical [`Verb`], plus the raw command for protocol-only
//!   handlers ([`RawCommand`]);
//! - resolved [`VirtualPath`]s (or the reason the client's text was refused);
//! - typed [`Args`];
//! - the [`Session`] (user, volume, working directory, peer, TLS state), borrowed
//!   from the connection that owns it;
//! - the data [`Channel`]: the FTP data connection or the HTTP body, behind one
//!   interface for transfers;
//! - the two response chains and the outcome;
//! - [`Notes`] that later phases can read (ProFTPD's `cmd->notes`).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::time::Instant;

use crate::auth::Credentials;
use crate::channel::Channel;
use crate::path::{PathError, VirtualPath};
use crate::response::{Outcome, Responses, Status};
use crate::session::Session;
use crate::storage::{Storage, StorageError, WriteMode};

/// The protocol a command arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// FTP or FTPS.
    Ftp,
    /// HTTP, HTTPS or WebDAV.
    Http,
}

impl Protocol {
    /// The metrics label value.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Ftp => "ftp",
            Protocol::Http => "http",
        }
    }
}

/// The canonical verb: what the client wants, whatever the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Announces the user name (FTP `USER`).
    User,
    /// Logs in with a password (FTP `PASS`).
    Login,
    /// Ends the session (FTP `QUIT`).
    Logout,
    /// Does nothing (FTP `NOOP`).
    Noop,
    /// Reads a file (FTP `RETR`, HTTP `GET`/`HEAD` of a file).
    Read,
    /// Writes a file (FTP `STOR`/`APPE`/`STOU`, HTTP `PUT`).
    Write,
    /// Lists a directory (FTP `LIST`/`NLST`/`MLSD`, HTTP `GET dir/`).
    List,
    /// Describes one path (FTP `SIZE`/`MDTM`/`MLST`).
    Stat,
    /// Deletes a file (FTP `DELE`, HTTP `DELETE`).
    Delete,
    /// Creates a directory (FTP `MKD`, WebDAV `MKCOL`).
    MakeDir,
    /// Removes a directory (FTP `RMD`).
    RemoveDir,
    /// Names the source of a rename (FTP `RNFR`).
    RenameFrom,
    /// Renames (FTP `RNTO`, WebDAV `MOVE`).
    Rename,
    /// Copies (WebDAV `COPY`).
    Copy,
    /// Sets a file's modification time (FTP `MFMT`, `MFF modify`).
    SetModified,
    /// Changes the working directory (FTP `CWD`/`CDUP`).
    ChangeDir,
    /// Prints the working directory (FTP `PWD`).
    PrintDir,
    /// A verb only one front-end has (FTP `PASV`, `TYPE`, `FEAT`, …; HTTP `OPTIONS`),
    /// named by its canonical upper-case text.
    Protocol(&'static str),
    /// An FTP `SITE` subcommand, upper-case (`HELP`, `CHMOD`).
    Site(String),
    /// A verb the front-end does not know; a custom module may implement it.
    Custom(String),
}

impl Verb {
    /// The name handlers are registered under. Canonical verbs are lower-case
    /// (`read`, `stat`), protocol and custom verbs upper-case as on the wire
    /// (`PASV`, `STAT`, `XFOO`), so the two namespaces never collide.
    pub fn key(&self) -> std::borrow::Cow<'static, str> {
        use std::borrow::Cow;
        Cow::Borrowed(match self {
            Verb::Protocol(p) => p,
            Verb::Site(s) => return Cow::Owned(format!("SITE {s}")),
            Verb::Custom(c) => return Cow::Owned(c.clone()),
            Verb::User => "user",
            Verb::Login => "login",
            Verb::Logout => "logout",
            Verb::Noop => "noop",
            Verb::Read => "read",
            Verb::Write => "write",
            Verb::List => "list",
            Verb::Stat => "stat",
            Verb::Delete => "delete",
            Verb::MakeDir => "makedir",
            Verb::RemoveDir => "removedir",
            Verb::RenameFrom => "renamefrom",
            Verb::Rename => "rename",
            Verb::Copy => "copy",
            Verb::SetModified => "setmodified",
            Verb::ChangeDir => "changedir",
            Verb::PrintDir => "printdir",
        })
    }
}

/// The protocol's own view of the command, for protocol-specific handlers.
#[derive(Debug, Clone)]
pub enum RawCommand {
    /// A parsed FTP command.
    Ftp(proto_ftp::Command),
    /// An FTP line that did not parse (it still gets a reply and a log line).
    FtpUnparsed,
    /// An HTTP request line.
    Http {
        /// The method.
        method: http::Method,
        /// The request path as sent (percent-encoded).
        path: String,
    },
}

/// How a listing is to be rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// FTP `LIST`: `ls -l` lines.
    FtpLong,
    /// FTP `NLST`: names only.
    FtpNames,
    /// FTP `MLSD`: RFC 3659 facts.
    FtpMachine,
    /// HTTP: an HTML page.
    Html,
    /// HTTP: a JSON array.
    Json,
}

/// What a `Stat` command asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatQuery {
    /// FTP `SIZE`.
    Size,
    /// FTP `MDTM`.
    ModifyTime,
    /// FTP `MLST`.
    Facts,
}

/// Typed arguments; each verb reads the ones that concern it.
#[derive(Debug, Clone)]
pub struct Args {
    /// Start offset of a read or resumed write (FTP `REST`).
    pub offset: u64,
    /// How a write treats an existing file.
    pub write_mode: WriteMode,
    /// Listing format.
    pub list_format: ListFormat,
    /// `Stat` query.
    pub stat_query: StatQuery,
    /// Whether `Copy`/`Rename` may replace an existing target (WebDAV `Overwrite`).
    pub overwrite: bool,
    /// Collection semantics (WebDAV): `Delete` removes a directory with everything
    /// in it, and a `Copy`/`Rename` that may overwrite replaces a whole tree. FTP
    /// leaves it off: `DELE` of a directory and `RNTO` onto one fail.
    pub recursive: bool,
    /// `Copy` of a directory creates only the directory, not its members
    /// (WebDAV `Depth: 0`).
    pub shallow: bool,
    /// A name or free text (FTP `USER` name, `SITE` arguments).
    pub text: Option<String>,
    /// Permission bits to set (FTP `SITE CHMOD`).
    pub mode: Option<u32>,
    /// Modification time to set (FTP `MFMT`, `MFF modify`).
    pub modified: Option<std::time::SystemTime>,
    /// Credentials carried by the command (FTP `PASS`, HTTP `Authorization`).
    pub credentials: Option<Credentials>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            offset: 0,
            write_mode: WriteMode::Replace,
            list_format: ListFormat::FtpLong,
            stat_query: StatQuery::Facts,
            overwrite: true,
            recursive: false,
            shallow: false,
            text: None,
            mode: None,
            modified: None,
            credentials: None,
        }
    }
}

/// A handler's answer (ProFTPD's `PR_HANDLED` / `PR_DECLINED` / `PR_ERROR`).
/// Defined with the record, which every handler works on; the pipeline acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerResult {
    /// Done: in `Cmd`, no further `Cmd` handler runs.
    Handled,
    /// Not mine: as if this handler had not been called.
    Declined,
    /// Failed: the error chain is sent (the handler should have added a reply to it;
    /// the engine adds a generic one if not).
    Error,
}

/// Bytes moved by a command's transfer, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// `true` for uploads (client → server).
    pub inbound: bool,
    /// Bytes moved (also when the transfer failed part-way).
    pub bytes: u64,
}

/// Per-command notes: a type-keyed bag in which a handler leaves typed data for
/// later phases (ProFTPD's `cmd->notes`).
#[derive(Default)]
pub struct Notes(HashMap<TypeId, Box<dyn Any + Send>>);

impl Notes {
    /// Stores a note, replacing one of the same type.
    pub fn insert<T: Any + Send>(&mut self, value: T) {
        self.0.insert(TypeId::of::<T>(), Box::new(value));
    }

    /// Reads a note.
    pub fn get<T: Any + Send>(&self) -> Option<&T> {
        self.0.get(&TypeId::of::<T>()).and_then(|b| b.downcast_ref())
    }
}

impl std::fmt::Debug for Notes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Notes({} entries)", self.0.len())
    }
}

/// The command record.
#[derive(Debug)]
pub struct CommandRecord<'a> {
    /// Sequence number within the session, for logs.
    pub id: u64,
    /// The protocol.
    pub protocol: Protocol,
    /// The canonical verb.
    pub verb: Verb,
    /// Whether the command needs a logged-in user (set by the front-end's lift).
    pub requires_login: bool,
    /// The command as the protocol parsed it.
    pub raw: RawCommand,
    /// The first path argument, resolved against the working directory.
    pub path: Option<VirtualPath>,
    /// The second path argument (rename/copy target).
    pub target: Option<VirtualPath>,
    /// Set when the client's path text was refused: the command fails with it.
    pub path_error: Option<PathError>,
    /// Set when the front-end could not make sense of the command (syntax): the
    /// engine fails the command with this reply before any handler runs.
    pub rejected: Option<crate::response::Reply>,
    /// Typed arguments.
    pub args: Args,
    /// The session, owned by the connection.
    pub session: &'a mut Session,
    /// The data channel.
    pub channel: Channel<'a>,
    /// The success and error chains.
    pub responses: Responses,
    /// Set by the engine when the command phases are over (visible to `LogCmd`).
    pub outcome: Option<Outcome>,
    /// Bytes transferred, if the command moved data.
    pub transfer: Option<Transfer>,
    /// Notes for later phases.
    pub notes: Notes,
    /// When the command started.
    pub started: Instant,
}

impl<'a> CommandRecord<'a> {
    /// A record with default arguments and no paths.
    pub fn new(
        protocol: Protocol,
        verb: Verb,
        raw: RawCommand,
        session: &'a mut Session,
        channel: Channel<'a>,
    ) -> Self {
        session.commands += 1;
        CommandRecord {
            id: session.commands,
            protocol,
            verb,
            requires_login: true,
            raw,
            path: None,
            target: None,
            path_error: None,
            rejected: None,
            args: Args::default(),
            session,
            channel,
            responses: Responses::default(),
            outcome: None,
            transfer: None,
            notes: Notes::default(),
            started: Instant::now(),
        }
    }

    /// Sets `path` from a resolution result, remembering a refusal.
    pub fn set_path(&mut self, resolved: Result<VirtualPath, PathError>) {
        match resolved {
            Ok(p) => self.path = Some(p),
            Err(e) => self.path_error = Some(e),
        }
    }

    /// Sets `target` from a resolution result, remembering a refusal.
    pub fn set_target(&mut self, resolved: Result<VirtualPath, PathError>) {
        match resolved {
            Ok(p) => self.target = Some(p),
            Err(e) => self.path_error = Some(e),
        }
    }

    /// The session's volume (its user's home on the back-end), once logged in.
    pub fn volume(&self) -> Option<std::sync::Arc<dyn Storage>> {
        self.session.volume.clone()
    }

    /// The unsupported status for this verb: a known verb is "not implemented", an
    /// unknown one "not understood".
    pub fn unsupported_status(&self) -> Status {
        match self.verb {
            Verb::Custom(_) => Status::UnknownCommand,
            _ => Status::NotImplemented,
        }
    }

    /// Adds an error reply for a storage failure (through the one table) and
    /// returns the handler result that fails the command.
    pub fn fail_storage(&mut self, err: &StorageError) -> HandlerResult {
        let status = Status::from_storage(err.kind);
        if status.class() == crate::response::ResultClass::ServerError {
            tracing::warn!(error = %err, cause = ?std::error::Error::source(err), "storage failure");
        }
        self.responses.add_err(status, "");
        HandlerResult::Error
    }

    /// Adds an error reply and returns the failing handler result.
    pub fn fail(&mut self, status: Status, text: impl Into<std::borrow::Cow<'static, str>>) -> HandlerResult {
        self.responses.add_err(status, text);
        HandlerResult::Error
    }
}
