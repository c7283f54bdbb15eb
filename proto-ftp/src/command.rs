//! The typed FTP commands a client can send on the control connection.
//!
//! Covers the RFC 959 command set plus the extensions dualgate supports:
//! FEAT/OPTS (RFC 2389), EPRT/EPSV (RFC 2428), SIZE/MDTM/MLST/MLSD and REST
//! in stream mode (RFC 3659), AUTH/PBSZ/PROT/CCC (RFC 2228 as profiled for
//! TLS by RFC 4217) and HOST (RFC 7151). [`crate::parse`] produces these
//! values; nothing here touches bytes.

use crate::secret::Secret;
use std::net::{SocketAddr, SocketAddrV4};

/// Representation type set by `TYPE` (RFC 959 §3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferType {
    /// `TYPE A` / `TYPE A N`: ASCII non-print. RFC 959: "The default
    /// representation type is ASCII Non-print."
    Ascii,
    /// `TYPE I` / `TYPE L 8`: image (binary), bytes sent unchanged.
    Image,
}

/// Argument of `EPSV` (RFC 2428 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpsvArg {
    /// No argument. RFC 2428: "When the EPSV command is issued with no
    /// argument, the server will choose the network protocol for the data
    /// connection based on the protocol used for the control connection."
    Any,
    /// `EPSV 1` (IPv4) or `EPSV 2` (IPv6): the network protocol to use.
    Protocol(u16),
    /// `EPSV ALL`. RFC 2428: "The EPSV command can also be used with the
    /// argument "ALL" to inform Network Address Translators that the EPRT
    /// command (as well as other data commands) will no longer be used."
    All,
}

/// Data channel protection level set by `PROT` (RFC 2228 §3, RFC 4217 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtLevel {
    /// `PROT C`: clear (no TLS on the data connection).
    Clear,
    /// `PROT S`: safe (integrity only; not used by FTP over TLS).
    Safe,
    /// `PROT E`: confidential (not used by FTP over TLS).
    Confidential,
    /// `PROT P`: private (TLS on the data connection).
    Private,
}

/// One parsed FTP command.
///
/// Paths and other free-text arguments are carried verbatim (spaces
/// included); the server validates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// RFC 959 USER: "The argument field is a Telnet string identifying the
    /// user."
    User {
        /// The user name.
        name: String,
    },
    /// RFC 959 PASS: "The argument field is a Telnet string specifying the
    /// user's password." May be empty (some clients send a bare `PASS` for
    /// anonymous logins).
    Pass {
        /// The password; prints as `***`.
        password: Secret,
    },
    /// RFC 959 ACCT: "The argument field is a Telnet string identifying the
    /// user's account."
    Acct {
        /// The account; prints as `***`.
        account: Secret,
    },
    /// RFC 959 QUIT: "This command terminates a USER and if file transfer is
    /// not in progress, the server closes the control connection."
    Quit,
    /// RFC 959 REIN: "This command terminates a USER, flushing all I/O and
    /// account information, except to allow any transfer in progress to be
    /// completed."
    Rein,
    /// RFC 959 SYST: "This command is used to find out the type of operating
    /// system at the server."
    Syst,
    /// RFC 959 NOOP: "It specifies no action other than that the server send
    /// an OK reply."
    Noop,
    /// RFC 2389 FEAT: "The FEAT command consists solely of the word "FEAT".
    /// It has no parameters or arguments."
    Feat,
    /// RFC 2389 OPTS: "The OPTS (options) command allows a user-PI to specify
    /// the desired behavior of a server-FTP process when another FTP command
    /// (the target command) is later issued."
    Opts {
        /// The target command or option name, upper-cased (`UTF8`, `MLST`).
        option: String,
        /// Everything after the first space following the option, verbatim;
        /// `None` if absent or empty.
        value: Option<String>,
    },
    /// RFC 959 TYPE: "The argument specifies the representation type as
    /// described in the Section on Data Representation and Storage."
    Type(TransferType),
    /// RFC 959 MODE: "The argument is a single Telnet character code
    /// specifying the data transfer modes described in the Section on
    /// Transmission Modes."
    Mode {
        /// The mode letter, upper-cased (`S`, `B`, `C`, `Z`, ...).
        mode: char,
    },
    /// RFC 959 STRU: "The argument is a single Telnet character code
    /// specifying file structure described in the Section on Data
    /// Representation and Storage."
    Stru {
        /// The structure letter, upper-cased (`F`, `R`, `P`).
        structure: char,
    },
    /// RFC 959 PWD (also `XPWD`): "This command causes the name of the
    /// current working directory to be returned in the reply."
    Pwd,
    /// RFC 959 CWD (also `XCWD`): "This command allows the user to work with
    /// a different directory or dataset for file storage or retrieval
    /// without altering his login or accounting information."
    Cwd {
        /// The target directory.
        path: String,
    },
    /// RFC 959 CDUP (also `XCUP`): "This command is a special case of CWD,
    /// and is included to simplify the implementation of programs for
    /// transferring directory trees between operating systems having
    /// different syntaxes for naming the parent directory."
    Cdup,
    /// RFC 959 PASV: "This command requests the server-DTP to "listen" on a
    /// data port (which is not its default data port) and to wait for a
    /// connection rather than initiate one upon receipt of a transfer
    /// command."
    Pasv,
    /// RFC 2428 EPSV: "The EPSV command requests that a server listen on a
    /// data port and wait for a connection."
    Epsv(EpsvArg),
    /// RFC 959 PORT: "The argument is a HOST-PORT specification for the data
    /// port to be used in data connection."
    Port(SocketAddrV4),
    /// RFC 2428 EPRT: "The EPRT command allows for the specification of an
    /// extended address for the data connection. The extended address MUST
    /// consist of the network protocol as well as the network and transport
    /// addresses."
    Eprt(SocketAddr),
    /// RFC 959 LIST: "A null argument implies the user's current working or
    /// default directory." ls-style options (`-la`) are stripped.
    List {
        /// The directory or file to list, if any.
        path: Option<String>,
    },
    /// RFC 959 NLST: "The server will return a stream of names of files and
    /// no other information." ls-style options are stripped.
    Nlst {
        /// The directory to list, if any.
        path: Option<String>,
    },
    /// RFC 3659 MLSD: "The MLST and MLSD commands are intended to
    /// standardize the file and directory information returned by the
    /// server-FTP process."
    Mlsd {
        /// The directory to list, if any.
        path: Option<String>,
    },
    /// RFC 3659 MLST: facts about one object, sent on the control connection.
    Mlst {
        /// The object, if any (default: the current directory).
        path: Option<String>,
    },
    /// RFC 959 RETR: "This command causes the server-DTP to transfer a copy
    /// of the file, specified in the pathname, to the server- or user-DTP at
    /// the other end of the data connection."
    Retr {
        /// The file to send.
        path: String,
    },
    /// RFC 959 STOR: "If the file specified in the pathname exists at the
    /// server site, then its contents shall be replaced by the data being
    /// transferred."
    Stor {
        /// The file to store.
        path: String,
    },
    /// RFC 959 STOU: "This command behaves like STOR except that the
    /// resultant file is to be created in the current directory under a name
    /// unique to that directory."
    Stou {
        /// A suggested name, if the client sent one.
        path: Option<String>,
    },
    /// RFC 959 APPE: "If the file specified in the pathname exists at the
    /// server site, then the data shall be appended to that file; otherwise
    /// the file specified in the pathname shall be created at the server
    /// site."
    Appe {
        /// The file to append to.
        path: String,
    },
    /// RFC 959 REST: "The argument field represents the server marker at
    /// which file transfer is to be restarted." In stream mode (RFC 3659 §5)
    /// the marker is a byte offset.
    Rest {
        /// The byte offset.
        offset: u64,
    },
    /// RFC 3659 SIZE: "The FTP command, SIZE OF FILE (SIZE), is used to
    /// obtain the transfer size of a file from the server-FTP process."
    Size {
        /// The file.
        path: String,
    },
    /// RFC 3659 MDTM: "The FTP command, MODIFICATION TIME (MDTM), can be used
    /// to determine when a file in the server NVFS was last modified."
    Mdtm {
        /// The file.
        path: String,
    },
    /// draft-somers-ftp-mfxx MFMT: "The MFMT command is used to modify a file's
    /// last modification time".
    Mfmt {
        /// The new time.
        modified: std::time::SystemTime,
        /// The file or directory.
        path: String,
    },
    /// draft-somers-ftp-mfxx MFF: modifies the facts of a file (only `modify`
    /// is known here).
    Mff {
        /// The `modify` fact, if given.
        modify: Option<std::time::SystemTime>,
        /// The names of the other facts given (lower case).
        others: Vec<String>,
        /// The file or directory.
        path: String,
    },
    /// RFC 959 DELE: "This command causes the file specified in the pathname
    /// to be deleted at the server site."
    Dele {
        /// The file.
        path: String,
    },
    /// RFC 959 MKD (also `XMKD`): "This command causes the directory
    /// specified in the pathname to be created as a directory (if the
    /// pathname is absolute) or as a subdirectory of the current working
    /// directory (if the pathname is relative)."
    Mkd {
        /// The directory.
        path: String,
    },
    /// RFC 959 RMD (also `XRMD`): "This command causes the directory
    /// specified in the pathname to be removed as a directory (if the
    /// pathname is absolute) or as a subdirectory of the current working
    /// directory (if the pathname is relative)."
    Rmd {
        /// The directory.
        path: String,
    },
    /// RFC 959 RNFR: "This command specifies the old pathname of the file
    /// which is to be renamed. This command must be immediately followed by
    /// a "rename to" command specifying the new file pathname."
    Rnfr {
        /// The old name.
        path: String,
    },
    /// RFC 959 RNTO: "This command specifies the new pathname of the file
    /// specified in the immediately preceding "rename from" command."
    Rnto {
        /// The new name.
        path: String,
    },
    /// RFC 959 ABOR: "This command tells the server to abort the previous
    /// FTP service command and any associated transfer of data."
    Abor,
    /// RFC 959 STAT: "This command shall cause a status response to be sent
    /// over the control connection in the form of a reply."
    Stat {
        /// With an argument, STAT lists that path like LIST.
        path: Option<String>,
    },
    /// RFC 959 HELP: "This command shall cause the server to send helpful
    /// information regarding its implementation status over the control
    /// connection to the user."
    Help {
        /// The command the client asks about, verbatim.
        topic: Option<String>,
    },
    /// RFC 959 ALLO: "The ALLO command should be treated as a NOOP (no
    /// operation) by those servers which do not require that the maximum
    /// size of the file be declared beforehand". Arguments are ignored.
    Allo,
    /// RFC 959 SITE: "This command is used by the server to provide services
    /// specific to his system that are essential to file transfer but not
    /// sufficiently universal to be included as commands in the protocol."
    Site {
        /// The first word of the argument, upper-cased (`CHMOD`, `HELP`).
        sub: String,
        /// The rest after one space, verbatim (may be empty).
        args: String,
    },
    /// RFC 2228 AUTH: "The argument field is a Telnet string identifying a
    /// supported security mechanism." RFC 4217 uses `AUTH TLS`.
    Auth {
        /// The mechanism, upper-cased (`TLS`, `SSL`, `TLS-C`).
        mechanism: String,
    },
    /// RFC 2228 PBSZ: "The argument is a decimal integer representing the
    /// maximum size, in bytes, of the encoded data blocks to be sent or
    /// received during file transfer." RFC 4217 requires `PBSZ 0` for TLS.
    Pbsz {
        /// The buffer size.
        size: u64,
    },
    /// RFC 2228 PROT: "The argument is a single Telnet character code
    /// specifying the data channel protection level."
    Prot(ProtLevel),
    /// RFC 2228 CCC (Clear Command Channel): the client asks to continue the
    /// control connection without integrity protection.
    Ccc,
    /// RFC 7151 HOST: "This document defines a new FTP command that provides
    /// a mechanism for FTP clients and servers to identify individual
    /// virtual hosts on an FTP server."
    Host {
        /// The virtual host name, verbatim.
        host: String,
    },
    /// Any other syntactically valid verb. Not a parse error: the server
    /// answers 500 (or 502 for a known but unimplemented command).
    Other {
        /// The verb, upper-cased.
        verb: String,
        /// Everything after the first space, verbatim (empty if none).
        args: String,
    },
}

impl Command {
    /// `true` for the commands that transfer over a data connection: RETR,
    /// STOR, STOU, APPE, LIST, NLST and MLSD. Each one uses up the data
    /// connection set up before it (PASV, EPSV, PORT, EPRT) and the restart
    /// marker of a REST before it, whatever its outcome.
    #[must_use]
    pub fn uses_data_connection(&self) -> bool {
        matches!(
            self,
            Self::Retr { .. }
                | Self::Stor { .. }
                | Self::Stou { .. }
                | Self::Appe { .. }
                | Self::List { .. }
                | Self::Nlst { .. }
                | Self::Mlsd { .. }
        )
    }

    /// The canonical upper-case verb for this command: `"PWD"` for both PWD
    /// and XPWD, `"CWD"` for XCWD, `"MKD"` for XMKD, `"RMD"` for XRMD,
    /// `"CDUP"` for XCUP and `"OTHER"` for [`Command::Other`]. The result
    /// comes from a fixed set, so it is safe as a metrics label.
    #[must_use]
    pub fn verb(&self) -> &'static str {
        match self {
            Self::User { .. } => "USER",
            Self::Pass { .. } => "PASS",
            Self::Acct { .. } => "ACCT",
            Self::Quit => "QUIT",
            Self::Rein => "REIN",
            Self::Syst => "SYST",
            Self::Noop => "NOOP",
            Self::Feat => "FEAT",
            Self::Opts { .. } => "OPTS",
            Self::Type(_) => "TYPE",
            Self::Mode { .. } => "MODE",
            Self::Stru { .. } => "STRU",
            Self::Pwd => "PWD",
            Self::Cwd { .. } => "CWD",
            Self::Cdup => "CDUP",
            Self::Pasv => "PASV",
            Self::Epsv(_) => "EPSV",
            Self::Port(_) => "PORT",
            Self::Eprt(_) => "EPRT",
            Self::List { .. } => "LIST",
            Self::Nlst { .. } => "NLST",
            Self::Mlsd { .. } => "MLSD",
            Self::Mlst { .. } => "MLST",
            Self::Retr { .. } => "RETR",
            Self::Stor { .. } => "STOR",
            Self::Stou { .. } => "STOU",
            Self::Appe { .. } => "APPE",
            Self::Rest { .. } => "REST",
            Self::Size { .. } => "SIZE",
            Self::Mdtm { .. } => "MDTM",
            Self::Mfmt { .. } => "MFMT",
            Self::Mff { .. } => "MFF",
            Self::Dele { .. } => "DELE",
            Self::Mkd { .. } => "MKD",
            Self::Rmd { .. } => "RMD",
            Self::Rnfr { .. } => "RNFR",
            Self::Rnto { .. } => "RNTO",
            Self::Abor => "ABOR",
            Self::Stat { .. } => "STAT",
            Self::Help { .. } => "HELP",
            Self::Allo => "ALLO",
            Self::Site { .. } => "SITE",
            Self::Auth { .. } => "AUTH",
            Self::Pbsz { .. } => "PBSZ",
            Self::Prot(_) => "PROT",
            Self::Ccc => "CCC",
            Self::Host { .. } => "HOST",
            Self::Other { .. } => "OTHER",
        }
    }
}
