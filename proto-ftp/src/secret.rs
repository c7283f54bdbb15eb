//! A secret string (password or account) that never prints itself.
//!
//! [`Secret`] wraps the argument of `PASS` and `ACCT` so that logging a
//! [`Command`](crate::Command) with `{:?}` cannot leak credentials: both
//! `Debug` and `Display` print `***`. The value is only reachable through the
//! explicit [`Secret::expose`] and [`Secret::into_inner`].

use std::fmt;

/// A password or account string whose `Debug` and `Display` print `***`.
///
/// Deliberately not `Serialize`: it should never end up in a log record or a
/// config dump by accident.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret string.
    #[must_use]
    pub fn new(s: String) -> Self {
        Self(s)
    }

    /// Returns the secret value. Call this only where the value is needed
    /// (password verification), never for logging.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Consumes the wrapper and returns the secret value.
    #[must_use]
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s.clone(), s);
        assert_eq!(s.into_inner(), "hunter2");
    }
}
