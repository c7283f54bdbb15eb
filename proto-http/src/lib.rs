//! Sans-IO HTTP helpers for dualgate's HTTP/WebDAV front end.
//!
//! Everything here is pure: no sockets, no async runtime, no clock reads (the
//! current time, where needed, is a parameter). The functions work on the
//! [`http`] crate's types and on plain strings, and none of them panics on
//! any client input (property tests check this).
//!
//! # Layout
//!
//! - [`path`]: request-path decoding and href encoding (RFC 3986).
//! - [`range`]: `Range` evaluation and `multipart/byteranges` framing
//!   (RFC 9110 §14).
//! - [`framing`]: HTTP/1.1 request framing followed byte by byte, so a
//!   request target carrying `#` is refused before any handler runs.
//! - [`etag`]: entity-tag parsing and strong/weak comparison (RFC 9110
//!   §8.8.3), used by [`conditional`].
//! - [`conditional`]: `If-Match`, `If-None-Match`, `If-Modified-Since`,
//!   `If-Unmodified-Since` and `If-Range` (RFC 9110 §13), ETags and
//!   HTTP dates.
//! - [`auth`]: HTTP Basic credentials and challenges (RFC 7617).
//! - [`listing`]: streamed HTML and JSON directory listings, `Accept`
//!   negotiation between them, human-readable sizes.
//! - [`mime`]: `Content-Type` from a file name.
//! - [`webdav`]: WebDAV class 1 headers, `PROPFIND`/`PROPPATCH` bodies and
//!   `207 Multi-Status` responses (RFC 4918).
//! - [`lock`]: WebDAV class 2: `LOCK` bodies, the `If`, `Lock-Token` and
//!   `Timeout` headers, lockdiscovery and lock error bodies (RFC 4918).

pub mod auth;
pub mod conditional;
pub mod etag;
pub mod framing;
pub mod listing;
pub mod lock;
pub mod mime;
pub mod path;
pub mod range;
mod timefmt;
pub mod webdav;

pub use auth::{BasicCredentials, basic_challenge, parse_basic};
pub use conditional::{Precondition, Validators, evaluate_preconditions, http_date, if_range_allows, strong_etag};
pub use listing::{
    HTML_CONTENT_TYPE, HtmlListing, JSON_CONTENT_TYPE, JsonListing, ListingEntry, human_size, wants_json,
};
pub use mime::content_type_for;
pub use path::{DecodedPath, PathError, decode_request_path, encode_href, encode_segment};
pub use range::{ByteRange, RangeOutcome, evaluate_range, unsatisfied_content_range};
