//! `Content-Type` from a file name.
//!
//! The type comes from the extension (via `mime_guess`); the content is
//! never sniffed. Text types get `; charset=utf-8` so browsers do not guess
//! the encoding (RFC 9110 §8.3.2 leaves the default to the media type).

use std::borrow::Cow;

/// The `Content-Type` for a file called `name` (a bare name or a path):
/// the media type its extension maps to, `application/octet-stream` when the
/// extension is unknown or missing, and `; charset=utf-8` appended for
/// `text/*` types. Examples: `text/html; charset=utf-8`, `image/png`.
///
/// Borrowed from the type table unless the charset is added: a file response's
/// type costs no parse and no allocation.
pub fn content_type_for(name: &str) -> Cow<'static, str> {
    match mime_guess::from_path(name).first_raw() {
        Some(essence) if essence.starts_with("text/") => Cow::Owned(format!("{essence}; charset=utf-8")),
        Some(essence) => Cow::Borrowed(essence),
        None => Cow::Borrowed("application/octet-stream"),
    }
}
