//! Credentials as they travel through the pipeline. The password is a type whose
//! `Debug` and `Display` print `***`, so no log line can leak it by accident.

use std::fmt;

/// A password. Read it only through [`Password::expose`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(s: String) -> Self {
        Password(s)
    }

    /// The password text, for the one place that checks it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> serde::Deserialize<'de> for Password {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Password)
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A user name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: Password,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_never_prints() {
        let c = Credentials {
            user: "u".into(),
            password: Password::new("hunter2".into()),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(format!("{}", c.password), "***");
    }
}
