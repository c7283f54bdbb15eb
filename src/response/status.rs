//! Protocol-neutral statuses and THE table that maps each one to an FTP reply code,
//! an HTTP status, a default text, a result class for metrics, and whether the
//! connection closes.
//!
//! Shared pipeline modules speak only in [`Status`]; what a protocol says about it
//! is decided here and nowhere else. Storage errors reach a status through
//! [`Status::from_storage`], also here.

use crate::storage::ErrorKind;

/// Outcome class of a reply, as the `result` metrics label reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultClass {
    /// The command did what was asked.
    Ok,
    /// The client asked for something wrong or forbidden.
    ClientError,
    /// The server or its back-end failed.
    ServerError,
}

impl ResultClass {
    /// The metrics label value.
    pub fn label(self) -> &'static str {
        match self {
            ResultClass::Ok => "ok",
            ResultClass::ClientError => "client_error",
            ResultClass::ServerError => "server_error",
        }
    }
}

/// A protocol-neutral reply status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Generic success (FTP 200, HTTP 200; HTTP 204 when there is no body).
    Ok,
    /// The service is ready for a new user (the FTP greeting, 220).
    ServiceReady,
    /// A data transfer is about to start (FTP 150; HTTP has none: a direct FTP send only).
    TransferStarting,
    /// Progress of the running transfer, asked by `STAT` while it runs (FTP 213; a
    /// direct FTP send only).
    TransferProgress,
    /// A data transfer completed (FTP 226, HTTP 200).
    TransferComplete,
    /// An upload created a new file (FTP 226, HTTP 201).
    UploadCreated,
    /// An upload replaced an existing file (FTP 226, HTTP 204).
    UploadReplaced,
    /// A file action completed (FTP 250, HTTP 204).
    ActionOk,
    /// A file action created its target (FTP 250, HTTP 201).
    ActionCreated,
    /// A directory was created (FTP 257, HTTP 201).
    DirCreated,
    /// The command waits for a follow-up (FTP 350: REST, RNFR).
    Pending,
    /// The user name is accepted, a password is needed (FTP 331).
    NeedPassword,
    /// Login succeeded (FTP 230).
    LoggedIn,
    /// Login succeeded on the client certificate alone (FTP 232, RFC 2228).
    LoggedInByCertificate,
    /// Goodbye (FTP 221, closes the connection).
    Goodbye,
    /// The representation is unchanged (HTTP 304).
    NotModified,
    /// The client must log in first (FTP 530, HTTP 401 with a challenge).
    NotLoggedIn,
    /// The credentials were wrong (FTP 530, HTTP 401 with a challenge).
    LoginFailed,
    /// Too many failed logins from this address (FTP 421 and close, HTTP 429).
    LoginBanned,
    /// The user may not do this (FTP 550, HTTP 403).
    PermissionDenied,
    /// The anonymous user may not do this (FTP 550, as for any user without the
    /// permission; HTTP 401 with a challenge, so that a client which sends
    /// credentials only when asked for them can log in and try again).
    AnonymousDenied,
    /// No such file or directory (FTP 550, HTTP 404).
    NotFound,
    /// The target's parent directory is missing (FTP 550, HTTP 409).
    ParentMissing,
    /// The target exists already (FTP 550, HTTP 405).
    AlreadyExists,
    /// A directory where a file is needed (FTP 550; HTTP 301 to the slash form for GET/HEAD, else 409).
    IsADirectory,
    /// A file where a directory is needed (FTP 550, HTTP 404).
    NotADirectory,
    /// The directory is not empty (FTP 550, HTTP 409).
    DirectoryNotEmpty,
    /// A request precondition failed (FTP 550, HTTP 412).
    PreconditionFailed,
    /// The file name is not allowed (FTP 553, HTTP 400).
    BadFileName,
    /// An offset or range lies outside the file (FTP 554, HTTP 416).
    InvalidRange,
    /// Out of storage space (FTP 452, HTTP 507).
    NoSpace,
    /// The back-end cannot do this (FTP 502, HTTP 501).
    NotSupportedByStorage,
    /// The back-end is unavailable for now (FTP 451, HTTP 503).
    StorageUnavailable,
    /// A local or back-end failure (FTP 451, HTTP 500).
    LocalError,
    /// The command line could not be parsed (FTP 500, HTTP 400).
    SyntaxError,
    /// The arguments are malformed (FTP 501, HTTP 400).
    BadArguments,
    /// Commands in the wrong order (FTP 503, HTTP 400).
    BadSequence,
    /// A known command nobody implements (FTP 502, HTTP 405).
    NotImplemented,
    /// A command this server does not know at all (FTP 500, HTTP 501).
    UnknownCommand,
    /// The command is known but not with that parameter (FTP 504, HTTP 400).
    ParameterNotImplemented,
    /// No data connection could be opened (FTP 425).
    NoDataConnection,
    /// The client aborted the transfer (FTP 426, HTTP 400 — though an HTTP status is usually gone by then).
    TransferAborted,
    /// The service is closing this connection (FTP 421, HTTP 503; closes).
    ServiceUnavailable,
    /// The request carries a body this method does not take (HTTP 415; `MKCOL`).
    UnsupportedMediaType,
    /// The request body is larger than the server accepts (HTTP 413).
    PayloadTooLarge,
    /// A copy or move target on another server (HTTP 502, RFC 4918 §9.8.5).
    OtherServer,
    /// Another writer holds the file (FTP 450, HTTP 409).
    Busy,
    /// A WebDAV lock protects the resource and the command did not submit its
    /// token, or a `LOCK` conflicts with one held (FTP 450 "file unavailable
    /// (busy)", RFC 959; HTTP 423, RFC 4918 §11.3).
    Locked,
    /// The request head is larger than the server accepts (HTTP 431; closes).
    HeaderTooLarge,
    /// The request body came too slowly (HTTP 408; closes: the rest of the body
    /// is never read). FTP says 426, as for a data connection that stalls.
    RequestTimeout,
    /// The request body is in a transfer coding this server does not implement
    /// (HTTP 501, RFC 9112 §6.1; closes: the body cannot be read).
    TransferCodingNotImplemented,
    /// A transfer cut because the server is shutting down and its drain
    /// deadline passed (FTP 426, after which the session gets 421; HTTP 503).
    ShuttingDown,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    /// FTP reply code.
    pub ftp: u16,
    /// HTTP status code.
    pub http: u16,
    /// Default reply text.
    pub text: &'static str,
    /// Whether the connection must close after this reply.
    pub close: bool,
}

const fn m(ftp: u16, http: u16, text: &'static str) -> Mapping {
    Mapping {
        ftp,
        http,
        text,
        close: false,
    }
}

impl Status {
    /// Every status, for exhaustive checks of the table.
    pub const ALL: [Status; 52] = {
        use Status::*;
        [
            Ok,
            ServiceReady,
            TransferStarting,
            TransferProgress,
            TransferComplete,
            UploadCreated,
            UploadReplaced,
            ActionOk,
            ActionCreated,
            DirCreated,
            Pending,
            NeedPassword,
            LoggedIn,
            LoggedInByCertificate,
            Goodbye,
            NotModified,
            NotLoggedIn,
            LoginFailed,
            LoginBanned,
            PermissionDenied,
            AnonymousDenied,
            NotFound,
            ParentMissing,
            AlreadyExists,
            IsADirectory,
            NotADirectory,
            DirectoryNotEmpty,
            PreconditionFailed,
            BadFileName,
            InvalidRange,
            NoSpace,
            NotSupportedByStorage,
            StorageUnavailable,
            LocalError,
            SyntaxError,
            BadArguments,
            BadSequence,
            NotImplemented,
            UnknownCommand,
            ParameterNotImplemented,
            NoDataConnection,
            TransferAborted,
            ServiceUnavailable,
            UnsupportedMediaType,
            PayloadTooLarge,
            OtherServer,
            Busy,
            Locked,
            HeaderTooLarge,
            RequestTimeout,
            TransferCodingNotImplemented,
            ShuttingDown,
        ]
    };

    /// The one table.
    pub const fn mapping(self) -> Mapping {
        use Status::*;
        match self {
            Ok => m(200, 200, "Command okay."),
            ServiceReady => m(220, 200, "dualgate ready."),
            TransferStarting => m(150, 200, "Opening data connection."),
            TransferProgress => m(213, 200, "Transfer in progress."),
            TransferComplete => m(226, 200, "Transfer complete."),
            UploadCreated => m(226, 201, "Transfer complete."),
            UploadReplaced => m(226, 204, "Transfer complete."),
            ActionOk => m(250, 204, "Requested file action okay, completed."),
            ActionCreated => m(250, 201, "Requested file action okay, completed."),
            DirCreated => m(257, 201, "Directory created."),
            Pending => m(350, 200, "Requested file action pending further information."),
            NeedPassword => m(331, 401, "User name okay, need password."),
            LoggedIn => m(230, 200, "User logged in, proceed."),
            LoggedInByCertificate => m(232, 200, "User logged in, authorized by security data exchange."),
            Goodbye => Mapping {
                close: true,
                ..m(221, 200, "Goodbye.")
            },
            NotModified => m(550, 304, "Not modified."),
            NotLoggedIn => m(530, 401, "Please log in with USER and PASS."),
            LoginFailed => m(530, 401, "Login incorrect."),
            LoginBanned => Mapping {
                close: true,
                ..m(421, 429, "Too many failed logins from your address; try again later.")
            },
            PermissionDenied => m(550, 403, "Permission denied."),
            AnonymousDenied => m(550, 401, "Permission denied: anonymous users may not do this; log in."),
            NotFound => m(550, 404, "No such file or directory."),
            ParentMissing => m(550, 409, "The parent directory does not exist."),
            AlreadyExists => m(550, 405, "File exists."),
            IsADirectory => m(550, 409, "Is a directory."),
            NotADirectory => m(550, 404, "Not a directory."),
            DirectoryNotEmpty => m(550, 409, "Directory not empty."),
            PreconditionFailed => m(550, 412, "Precondition failed."),
            BadFileName => m(553, 400, "File name not allowed."),
            InvalidRange => m(554, 416, "Requested range not satisfiable."),
            NoSpace => m(452, 507, "Insufficient storage space."),
            NotSupportedByStorage => m(502, 501, "Not supported by this storage."),
            StorageUnavailable => m(451, 503, "Storage temporarily unavailable; try again later."),
            LocalError => m(451, 500, "Local error in processing."),
            SyntaxError => m(500, 400, "Syntax error, command unrecognized."),
            BadArguments => m(501, 400, "Syntax error in parameters or arguments."),
            BadSequence => m(503, 400, "Bad sequence of commands."),
            NotImplemented => m(502, 405, "Command not implemented."),
            UnknownCommand => m(500, 501, "Command not understood."),
            ParameterNotImplemented => m(504, 400, "Command not implemented for that parameter."),
            NoDataConnection => m(425, 500, "Can't open data connection."),
            // On HTTP the client broke off its own request (stalled or cut body, hung up): a client error.
            TransferAborted => m(426, 400, "Connection closed; transfer aborted."),
            ServiceUnavailable => Mapping {
                close: true,
                ..m(421, 503, "Service not available, closing control connection.")
            },
            // HTTP-only statuses; the FTP codes are what FTP would say to the same request.
            UnsupportedMediaType => m(504, 415, "This method takes no request body."),
            PayloadTooLarge => m(552, 413, "The request body is too large."),
            OtherServer => m(553, 502, "The destination is on another server."),
            Busy => m(450, 409, "File busy: another upload to it is in progress."),
            Locked => m(
                450,
                423,
                "File locked: a WebDAV client holds a lock on it; try again later.",
            ),
            HeaderTooLarge => Mapping {
                close: true,
                ..m(500, 431, "Request header fields too large.")
            },
            ShuttingDown => m(426, 503, "Server shutting down; transfer interrupted."),
            RequestTimeout => Mapping {
                close: true,
                ..m(426, 408, "The request body came too slowly; request aborted.")
            },
            TransferCodingNotImplemented => Mapping {
                close: true,
                ..m(504, 501, "Transfer coding not implemented; only chunked is.")
            },
        }
    }

    /// How metrics classify this status.
    pub fn class(self) -> ResultClass {
        match self {
            // HTTP-only statuses carry a placeholder FTP code; classify them by HTTP.
            Status::NotModified
            | Status::UnsupportedMediaType
            | Status::PayloadTooLarge
            | Status::OtherServer
            | Status::HeaderTooLarge
            | Status::ShuttingDown => class_of_http(self.mapping().http),
            _ => class_of_ftp(self.mapping().ftp),
        }
    }

    /// The status for a storage error kind: the only storage→reply mapping.
    pub fn from_storage(kind: ErrorKind) -> Status {
        match kind {
            ErrorKind::NotFound => Status::NotFound,
            ErrorKind::ParentMissing => Status::ParentMissing,
            ErrorKind::PermissionDenied => Status::PermissionDenied,
            ErrorKind::AlreadyExists => Status::AlreadyExists,
            ErrorKind::NotADirectory => Status::NotADirectory,
            ErrorKind::IsADirectory => Status::IsADirectory,
            ErrorKind::DirectoryNotEmpty => Status::DirectoryNotEmpty,
            ErrorKind::InvalidName => Status::BadFileName,
            ErrorKind::InvalidOffset => Status::InvalidRange,
            ErrorKind::NoSpace => Status::NoSpace,
            ErrorKind::Unsupported => Status::NotSupportedByStorage,
            ErrorKind::Unavailable => Status::StorageUnavailable,
            ErrorKind::Busy => Status::Busy,
            ErrorKind::Other => Status::LocalError,
        }
    }
}

/// Result class of a raw FTP code (and of the FTP side of any status).
pub fn class_of_ftp(code: u16) -> ResultClass {
    match code {
        100..=399 => ResultClass::Ok,
        421 | 451 | 452 => ResultClass::ServerError,
        400..=599 => ResultClass::ClientError,
        _ => ResultClass::ServerError,
    }
}

/// Result class of an HTTP status.
pub fn class_of_http(code: u16) -> ResultClass {
    match code {
        100..=399 => ResultClass::Ok,
        400..=499 => ResultClass::ClientError,
        _ => ResultClass::ServerError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_maps_to_valid_codes() {
        for s in Status::ALL {
            let m = s.mapping();
            assert!((100..=599).contains(&m.ftp), "{s:?}");
            assert!((100..=599).contains(&m.http), "{s:?}");
            assert!(!m.text.is_empty());
        }
    }

    #[test]
    fn contract_codes() {
        assert_eq!(Status::NotLoggedIn.mapping().ftp, 530);
        assert_eq!(Status::NotFound.mapping().ftp, 550);
        assert_eq!(Status::NotFound.mapping().http, 404);
        assert_eq!(Status::BadFileName.mapping().ftp, 553);
        assert_eq!(Status::BadFileName.mapping().http, 400);
        assert_eq!(Status::UnknownCommand.mapping().ftp, 500);
        assert_eq!(Status::NotImplemented.mapping().ftp, 502);
        assert_eq!(Status::UploadCreated.mapping().http, 201);
        assert_eq!(Status::UploadReplaced.mapping().http, 204);
        assert!(Status::ServiceUnavailable.mapping().close);
        // Anonymous refusals: FTP says 550 as to anyone, HTTP asks for a login.
        assert_eq!(Status::AnonymousDenied.mapping().ftp, 550);
        assert_eq!(Status::AnonymousDenied.mapping().http, 401);
        assert_eq!(Status::RequestTimeout.mapping().http, 408);
        assert_eq!(
            (Status::Locked.mapping().ftp, Status::Locked.mapping().http),
            (450, 423)
        );
        assert_eq!(Status::TransferCodingNotImplemented.mapping().http, 501);
        assert_eq!(Status::from_storage(ErrorKind::InvalidName), Status::BadFileName);
        assert_eq!(Status::LocalError.class(), ResultClass::ServerError);
        assert_eq!(Status::NotFound.class(), ResultClass::ClientError);
    }
}
