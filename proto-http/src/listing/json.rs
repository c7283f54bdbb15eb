//! The JSON directory listing: a streamed array of
//! `{"name": …, "size": …, "modified": …, "is_dir": …}` objects.
//!
//! `name` is a JSON string (escaped by `serde_json`), `size` a number of
//! bytes, `modified` an RFC 3339 UTC timestamp with whole seconds
//! (`"2024-01-02T15:04:05Z"`) or `null` when unknown or outside years
//! 0000–9999, `is_dir` a boolean.

use super::ListingEntry;
use crate::timefmt::rfc3339_utc;

/// Writes a JSON listing piece by piece: [`head`](Self::head), one
/// [`row`](Self::row) per entry, [`tail`](Self::tail).
#[derive(Debug, Clone, Default)]
pub struct JsonListing {
    /// Whether a row has been written (the next one needs a comma).
    started: bool,
}

impl JsonListing {
    /// A listing with no row written yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The opening `[`.
    pub fn head(&self) -> &'static str {
        "["
    }

    /// One entry as a JSON object, preceded by `,` unless it is the first.
    pub fn row(&mut self, entry: &ListingEntry<'_>) -> String {
        let name = serde_json::Value::String(entry.name.to_owned());
        let modified = entry
            .modified
            .and_then(rfc3339_utc)
            .map_or(serde_json::Value::Null, serde_json::Value::String);
        let comma = if self.started { "," } else { "" };
        self.started = true;
        format!(
            "{comma}\n{{\"name\":{name},\"size\":{},\"modified\":{modified},\"is_dir\":{}}}",
            entry.size, entry.is_dir
        )
    }

    /// The closing `]` and a newline.
    pub fn tail(&self) -> &'static str {
        "]\n"
    }
}
