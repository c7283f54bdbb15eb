//! Virtual paths: the only form in which a client-named path reaches the pipeline.
//!
//! A [`VirtualPath`] is absolute, normalised and confined to the user's root by
//! construction: `.` and empty components are dropped, `..` pops a component but
//! never climbs above `/` (so `/../../etc` is `/etc` *inside* the user's root), and
//! every component is a valid name (see [`validate_name`]). `\` is an ordinary
//! character, never a separator. Nothing else in the crate joins or splits path
//! strings; front-ends call [`VirtualPath::resolve`] with the client's text and the
//! session's working directory, back-ends receive [`VirtualPath`]s and map them to
//! their own namespace.
//!
//! The same rules apply to both protocols, which is what makes "a file written
//! through one protocol is byte-identical through the other" hold for its name too.

use std::fmt;

/// Longest accepted path, in bytes (Linux `PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;
/// Longest accepted name of one component, in bytes (Linux `NAME_MAX`).
pub const MAX_NAME_LEN: usize = 255;

/// Why a client-supplied path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A component holds a control character (NUL, CR, LF, any byte < 0x20, or 0x7F).
    #[error("file name contains a control character")]
    ControlCharacter,
    /// A component is longer than [`MAX_NAME_LEN`] bytes.
    #[error("file name too long")]
    NameTooLong,
    /// The whole path is longer than [`MAX_PATH_LEN`] bytes.
    #[error("path too long")]
    PathTooLong,
}

/// A normalised absolute path inside the user's root, e.g. `/` or `/reports/2024.csv`.
///
/// Invariants (upheld by every constructor): starts with `/`; no trailing `/` except
/// for the root; no empty, `.` or `..` components; every component passes
/// [`validate_name`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VirtualPath(String);

impl VirtualPath {
    /// The root of the user's tree.
    pub fn root() -> Self {
        VirtualPath("/".to_owned())
    }

    /// Resolves client text against `cwd`: absolute text starts from the root,
    /// relative text from `cwd`. `..` is clamped at the root.
    pub fn resolve(cwd: &VirtualPath, input: &str) -> Result<Self, PathError> {
        let mut parts: Vec<&str> = if input.starts_with('/') {
            Vec::new()
        } else {
            cwd.components().collect()
        };
        for comp in input.split('/') {
            match comp {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                name => {
                    validate_name(name)?;
                    parts.push(name);
                }
            }
        }
        let mut out = String::with_capacity(input.len() + cwd.0.len() + 1);
        for p in &parts {
            out.push('/');
            out.push_str(p);
        }
        if out.is_empty() {
            out.push('/');
        }
        if out.len() > MAX_PATH_LEN {
            return Err(PathError::PathTooLong);
        }
        Ok(VirtualPath(out))
    }

    /// Parses an absolute path (as found in config `home` values); relative text is
    /// taken from the root.
    pub fn parse_absolute(input: &str) -> Result<Self, PathError> {
        Self::resolve(&Self::root(), input)
    }

    /// The path as text, always starting with `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for `/`.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The components, root first; empty for `/`.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The last component, `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        if self.is_root() {
            None
        } else {
            self.0.rsplit('/').next()
        }
    }

    /// The parent directory; the root is its own parent.
    pub fn parent(&self) -> VirtualPath {
        match self.0.rfind('/') {
            Some(0) | None => Self::root(),
            Some(i) => VirtualPath(self.0[..i].to_owned()),
        }
    }

    /// This path with one more (already validated) component.
    pub fn join_name(&self, name: &str) -> Result<VirtualPath, PathError> {
        validate_name(name)?;
        let mut s = self.0.clone();
        if !self.is_root() {
            s.push('/');
        }
        s.push_str(name);
        if s.len() > MAX_PATH_LEN {
            return Err(PathError::PathTooLong);
        }
        Ok(VirtualPath(s))
    }

    /// Places `inner` (a path relative to some user's root) beneath `self` (that
    /// user's home inside the storage root): `/home` + `/a/b` = `/home/a/b`.
    pub fn nest(&self, inner: &VirtualPath) -> VirtualPath {
        if self.is_root() {
            return inner.clone();
        }
        if inner.is_root() {
            return self.clone();
        }
        VirtualPath(format!("{}{}", self.0, inner.0))
    }

    /// The path relative to the root, without the leading `/` (`""` for the root):
    /// the form back-ends use to name objects beneath their own root.
    pub fn relative(&self) -> &str {
        &self.0[1..]
    }

    /// True when `self` is `other` or lies beneath it.
    pub fn starts_with(&self, other: &VirtualPath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Checks one path component: no control characters, at most [`MAX_NAME_LEN`]
/// bytes. `/` cannot occur (callers split on it); `.`/`..` are handled by callers.
pub fn validate_name(name: &str) -> Result<(), PathError> {
    if name.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(PathError::ControlCharacter);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(PathError::NameTooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn r(cwd: &str, input: &str) -> Result<String, PathError> {
        let cwd = VirtualPath::parse_absolute(cwd).unwrap();
        VirtualPath::resolve(&cwd, input).map(|p| p.as_str().to_owned())
    }

    #[test]
    fn resolves_relative_and_absolute() {
        assert_eq!(r("/", "a/b").unwrap(), "/a/b");
        assert_eq!(r("/x", "a").unwrap(), "/x/a");
        assert_eq!(r("/x", "/a").unwrap(), "/a");
        assert_eq!(r("/x/y", "..").unwrap(), "/x");
        assert_eq!(r("/x", "./a//b/.").unwrap(), "/x/a/b");
        assert_eq!(r("/x", "").unwrap(), "/x");
    }

    #[test]
    fn dotdot_never_climbs_above_root() {
        assert_eq!(r("/", "../../etc/passwd").unwrap(), "/etc/passwd");
        assert_eq!(r("/a", "../../../..").unwrap(), "/");
        assert_eq!(r("/a/b", "../../../x/../y").unwrap(), "/y");
    }

    #[test]
    fn backslash_is_an_ordinary_character() {
        assert_eq!(r("/", "..\\..\\x").unwrap(), "/..\\..\\x");
        let p = VirtualPath::parse_absolute("/a\\b").unwrap();
        assert_eq!(p.file_name(), Some("a\\b"));
    }

    #[test]
    fn control_characters_and_lengths_are_refused() {
        assert_eq!(r("/", "a\0b"), Err(PathError::ControlCharacter));
        assert_eq!(r("/", "a\r\nb"), Err(PathError::ControlCharacter));
        assert_eq!(r("/", "a\x7fb"), Err(PathError::ControlCharacter));
        assert_eq!(r("/", &"n".repeat(256)), Err(PathError::NameTooLong));
        assert!(r("/", &"n".repeat(255)).is_ok());
        let long = vec!["d".repeat(200); 30].join("/");
        assert_eq!(r("/", &long), Err(PathError::PathTooLong));
    }

    #[test]
    fn parent_name_nest_relative() {
        let p = VirtualPath::parse_absolute("/a/b/c").unwrap();
        assert_eq!(p.parent().as_str(), "/a/b");
        assert_eq!(VirtualPath::root().parent(), VirtualPath::root());
        assert_eq!(VirtualPath::parse_absolute("/a").unwrap().parent(), VirtualPath::root());
        let home = VirtualPath::parse_absolute("/home/al").unwrap();
        assert_eq!(home.nest(&p).as_str(), "/home/al/a/b/c");
        assert_eq!(home.nest(&VirtualPath::root()).as_str(), "/home/al");
        assert_eq!(VirtualPath::root().nest(&p), p);
        assert_eq!(p.relative(), "a/b/c");
        assert_eq!(VirtualPath::root().relative(), "");
        assert!(p.starts_with(&VirtualPath::parse_absolute("/a").unwrap()));
        assert!(!p.starts_with(&VirtualPath::parse_absolute("/a/b/cd").unwrap()));
        assert!(
            !VirtualPath::parse_absolute("/ab")
                .unwrap()
                .starts_with(&VirtualPath::parse_absolute("/a").unwrap())
        );
        assert_eq!(p.join_name("d").unwrap().as_str(), "/a/b/c/d");
        assert_eq!(VirtualPath::root().join_name("d").unwrap().as_str(), "/d");
    }

    #[test]
    fn utf8_is_kept_byte_for_byte() {
        // NFC "é" and NFD "e\u{301}" stay distinct: no normalisation.
        assert_ne!(r("/", "é").unwrap(), r("/", "e\u{301}").unwrap());
        assert_eq!(r("/", "日本/ファイル.txt").unwrap(), "/日本/ファイル.txt");
    }
}
