//! Sans-IO FTP protocol codecs for dualgate's FTP front end.
//!
//! "Sans-IO" means that nothing in this crate touches a socket, a file, an
//! async runtime or the clock: bytes go in, typed values come out, and typed
//! values are rendered back into bytes that the caller writes wherever it
//! likes. Where a function needs the current time (listing dates) the time is
//! a parameter. This keeps every codec deterministic and testable in
//! isolation, and lets the server and a future upstream FTP client share it.
//!
//! None of the functions panics on any client input: property tests feed
//! arbitrary bytes to the framer and the parser.
//!
//! # Layout
//!
//! - [`framer`]: splits the control-connection byte stream into lines with a
//!   length limit and strips Telnet (RFC 854) sequences ([`LineFramer`]).
//! - [`command`]: the typed FTP commands ([`Command`]) with their RFC text.
//! - [`parser`]: turns one framed line into a [`Command`] ([`parse`]).
//! - [`reply`]: renders replies and multi-line response chains (RFC 959
//!   §4.2); the only place that writes reply bytes.
//! - [`reply_parser`]: incremental parser for server replies, for an upstream
//!   client and for tests.
//! - [`address`]: PORT/PASV/EPRT/EPSV address codecs (RFC 959, RFC 2428).
//! - [`listing`]: `LIST`, `NLST`, `MLSD`/`MLST` line formats and the `MDTM`
//!   value (RFC 3659).
//! - [`secret`]: a password string that never prints itself.

pub mod address;
pub mod ascii;
pub mod command;
pub mod framer;
pub mod listing;
pub mod parser;
pub mod reply;
pub mod reply_parser;
pub mod secret;

pub use command::{Command, EpsvArg, ProtLevel, TransferType};
pub use framer::{FrameError, Line, LineFramer};
pub use parser::{ParseError, parse, parse_site_chmod};
pub use reply::{Reply, ReplyChainEntry, encode_chain, encode_reply, quote_path};
pub use secret::Secret;
