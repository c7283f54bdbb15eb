//! `Content-Type` from a file name.
//!
//! The type comes from the extension (via `mime_guess`); the content is
//! never sniffed. Text types get `; charset=utf-8` so browsers do not guess
//! the encoding (RFC 9110 §8.3.2 leaves the default to the media type).

/// The `Content-Type` for a file called `name` (a bare name or a path):
/// the media type its extension maps to, `application/octet-stream` when the
/// extension is unknown or missing, and `; charset=utf-8` appended for
/// `text/*` types. Examples: `text/html; charset=utf-8`, `image/png`.
pub fn content_type_for(name: &str) -> String {
    match mime_guess::from_path(name).first() {
        Some(m) if m.type_() == mime_guess::mime::TEXT => {
            format!("{}; charset=utf-8", m.essence_str())
        }
        Some(m) => m.essence_str().to_owned(),
        None => "application/octet-stream".to_owned(),
    }
}
