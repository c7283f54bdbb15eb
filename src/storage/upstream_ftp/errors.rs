//! The upstream's replies as [`ErrorKind`]s: the one table from FTP reply codes
//! (and client-side failures) to the gateway's kinds. The response table then
//! decides what FTP and HTTP clients see (missing → 550/404, denied → 550/403,
//! unavailable → 451/503). Every upstream refusal is logged here with its code
//! and text.

use suppaftp::FtpError;

use crate::storage::{ErrorKind, StorageError};

/// An upstream reply code (and its text) as a kind.
///
/// 550 is "requested action not taken" for every reason a server has; its text
/// is the only hint, and servers word it differently (vsftpd: "Failed to open
/// file.", Pure-FTPd: "Can't check for file existence"), so only clear words
/// move it off `NotFound`.
pub fn reply_kind(code: u32, text: &str) -> ErrorKind {
    let lower = text.to_ascii_lowercase();
    match code {
        // Service closing, data connection failures, local errors, busy files.
        421 | 425 | 426 | 450 | 451 => ErrorKind::Unavailable,
        // Storage allocation exceeded (452 is the transient form).
        452 | 552 => ErrorKind::NoSpace,
        // Not logged in / no account: the service account was refused.
        530 | 532 => ErrorKind::PermissionDenied,
        // File name not allowed.
        553 => ErrorKind::InvalidName,
        // Syntax errors, commands not implemented.
        500 | 501 | 502 | 504 => ErrorKind::Unsupported,
        550 => {
            if lower.contains("not empty") {
                ErrorKind::DirectoryNotEmpty
            } else if lower.contains("denied") || lower.contains("not allowed") || lower.contains("permission") {
                ErrorKind::PermissionDenied
            } else if lower.contains("exists") {
                ErrorKind::AlreadyExists
            } else {
                ErrorKind::NotFound
            }
        }
        c if (400..500).contains(&c) => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    }
}

/// Whether `e` is the upstream saying it has no such command at all (500
/// unknown, 502 not implemented, 504 not implemented for that parameter), as
/// opposed to refusing it for this file or this time.
pub fn not_implemented(e: &FtpError) -> bool {
    matches!(e, FtpError::UnexpectedResponse(r) if matches!(r.status.code(), 500 | 502 | 504))
}

/// Whether `e` is a permanent refusal reply (5xx).
pub fn permanent_refusal(e: &FtpError) -> bool {
    matches!(e, FtpError::UnexpectedResponse(r) if (500..600).contains(&r.status.code()))
}

/// Whether the control connection is still in step after `e`: a refusal reply
/// is (the next command can follow), a broken socket, garbled reply or
/// half-done transfer is not, and the connection must be dropped.
pub fn connection_usable(e: &FtpError) -> bool {
    matches!(e, FtpError::UnexpectedResponse(r) if r.status.code() != 421)
}

/// Maps a suppaftp failure of `what` (the command, for the log); the original
/// stays attached as the source.
pub fn ftp_error(what: &str, e: FtpError) -> StorageError {
    let kind = match &e {
        FtpError::UnexpectedResponse(r) => {
            let text = String::from_utf8_lossy(&r.body);
            let text = text.trim();
            let code = r.status.code();
            let kind = reply_kind(code, text);
            // Expected refusals (a missing file asked about) are routine; the
            // rest are what an operator looks for.
            if kind == ErrorKind::NotFound {
                tracing::debug!(command = what, code, reply = %text, "upstream refused");
            } else {
                tracing::warn!(command = what, code, reply = %text, "upstream refused");
            }
            kind
        }
        // A name the upstream's encoding cannot spell (`encoding: latin1`),
        // refused by suppaftp before it is sent.
        FtpError::ConnectionError(io) if io.kind() == std::io::ErrorKind::InvalidInput => {
            tracing::debug!(command = what, error = %e, "not sent to the upstream");
            ErrorKind::InvalidName
        }
        FtpError::ConnectionError(_) | FtpError::SecureError(_) => {
            tracing::warn!(command = what, error = %e, "upstream connection failed");
            ErrorKind::Unavailable
        }
        FtpError::BadResponse | FtpError::InvalidAddress(_) => {
            tracing::warn!(command = what, error = %e, "upstream reply not understood");
            ErrorKind::Other
        }
        FtpError::DataConnectionAlreadyOpen => ErrorKind::Other,
    };
    StorageError::with_source(kind, format!("{what}: {e}"))
}

/// A command that got no reply within the command timeout.
pub fn timed_out(what: &str) -> StorageError {
    tracing::warn!(command = what, "upstream did not answer in time");
    StorageError::with_source(
        ErrorKind::Unavailable,
        format!("{what}: the upstream did not answer in time"),
    )
}

/// A failure of a data connection during `what`: a stall
/// ([`std::io::ErrorKind::TimedOut`]) is [`timed_out`], anything else a lost
/// connection.
pub fn data_failed(what: &str, e: std::io::Error) -> StorageError {
    if e.kind() == std::io::ErrorKind::TimedOut {
        timed_out(what)
    } else {
        StorageError::with_source(ErrorKind::Unavailable, format!("{what}: {e}"))
    }
}
