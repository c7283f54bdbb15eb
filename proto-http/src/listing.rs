//! Directory listings, streamed: the caller writes [`HtmlListing::head`],
//! then one row per entry as it reads the directory, then the tail, so
//! nothing is collected in memory whatever the directory's size.
//!
//! Because nothing is collected, nothing is sorted here either: the caller
//! decides the order (directories first is the convention the HTML page's
//! sort script keeps too).
//!
//! - [`html`]: the page for people ([`HtmlListing`]).
//! - [`json`]: the array for programs ([`JsonListing`]).
//! - [`negotiate`]: choosing between them from `Accept` ([`wants_json`]).

use std::time::SystemTime;

pub mod html;
pub mod json;
pub mod negotiate;

pub use html::HtmlListing;
pub use json::JsonListing;
pub use negotiate::wants_json;

/// `Content-Type` of [`HtmlListing`] output.
pub const HTML_CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// `Content-Type` of [`JsonListing`] output.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// One directory entry, borrowed from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListingEntry<'a> {
    /// The entry's name (one path segment, decoded, not escaped).
    pub name: &'a str,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Its size in bytes (not shown for directories in HTML).
    pub size: u64,
    /// Its modification time, if known.
    pub modified: Option<SystemTime>,
}

/// Binary unit names, from bytes up; `u64::MAX` is just under 16 EiB.
const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// A size for people, in binary units with one decimal: `0 B`, `999 B`,
/// `1.0 KiB`, `12.3 MiB`, `1.5 GiB`. Exact below 1024 bytes.
pub fn human_size(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while unit + 1 < UNITS.len() && value >= 1024.0 {
        value /= 1024.0;
        unit += 1;
    }
    // 1023.96 KiB would print as "1024.0 KiB": move up a unit instead.
    if (value * 10.0).round() >= 10240.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
