//! Entity-tag parsing and comparison (RFC 9110 §8.8.3).
//!
//! ```text
//! entity-tag = [ weak ] opaque-tag
//! weak       = %s"W/"
//! opaque-tag = DQUOTE *etagc DQUOTE
//! etagc      = %x21 / %x23-7E / obs-text
//! ```
//!
//! Header values are handled as bytes because `obs-text` (`0x80–0xFF`) is
//! allowed inside an opaque tag and need not be UTF-8.

/// One entity-tag, borrowed from a header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityTag<'a> {
    /// Whether the tag had the `W/` prefix.
    pub weak: bool,
    /// The opaque tag **without** its double quotes.
    pub opaque: &'a [u8],
}

impl EntityTag<'_> {
    /// Strong comparison (RFC 9110 §8.8.3.2): "two entity tags are
    /// equivalent if both are not weak and their opaque-tags match
    /// character-by-character".
    pub fn strong_eq(&self, other: &EntityTag<'_>) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    /// Weak comparison (RFC 9110 §8.8.3.2): "two entity tags are equivalent
    /// if their opaque-tags match character-by-character, regardless of
    /// either or both being tagged as weak".
    pub fn weak_eq(&self, other: &EntityTag<'_>) -> bool {
        self.opaque == other.opaque
    }
}

/// Parses a whole value holding exactly one entity-tag (surrounding
/// whitespace allowed), e.g. an `ETag` or `If-Range` value.
pub fn parse(value: &[u8]) -> Option<EntityTag<'_>> {
    let (tag, rest) = parse_one(trim(value))?;
    rest.is_empty().then_some(tag)
}

/// Parses an `If-Match` / `If-None-Match` style list (`1#entity-tag`,
/// empty elements and optional whitespace allowed, RFC 9110 §5.6.1).
///
/// `None` if any element is malformed, or for `*` (check that with
/// [`is_star`] first).
pub fn parse_list(value: &[u8]) -> Option<Vec<EntityTag<'_>>> {
    let mut tags = Vec::new();
    let mut rest = value;
    loop {
        rest = skip_separators(rest);
        if rest.is_empty() {
            break;
        }
        let (tag, after) = parse_one(rest)?;
        tags.push(tag);
        rest = trim_start(after);
        match rest.first() {
            None | Some(b',') => {}
            Some(_) => return None,
        }
    }
    Some(tags)
}

/// Whether a field value is the wildcard `*`.
pub fn is_star(value: &[u8]) -> bool {
    trim(value) == b"*"
}

/// Parses one entity-tag at the start of `s`, returning it and the rest.
fn parse_one(s: &[u8]) -> Option<(EntityTag<'_>, &[u8])> {
    let (weak, s) = match s.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let body = s.strip_prefix(b"\"")?;
    let close = body.iter().position(|&b| b == b'"')?;
    let opaque = &body[..close];
    if !opaque
        .iter()
        .all(|&b| b == 0x21 || (0x23..=0x7E).contains(&b) || b >= 0x80)
    {
        return None;
    }
    Some((EntityTag { weak, opaque }, &body[close + 1..]))
}

/// Skips whitespace and commas.
fn skip_separators(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| matches!(b, b' ' | b'\t' | b',')).count();
    &s[n..]
}

/// Removes leading spaces and tabs (RFC 9110 `OWS`).
fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| matches!(b, b' ' | b'\t')).count();
    &s[n..]
}

/// Removes leading and trailing spaces and tabs.
fn trim(s: &[u8]) -> &[u8] {
    let s = trim_start(s);
    let n = s.iter().rev().take_while(|&&b| matches!(b, b' ' | b'\t')).count();
    &s[..s.len() - n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(weak: bool, opaque: &str) -> EntityTag<'_> {
        EntityTag {
            weak,
            opaque: opaque.as_bytes(),
        }
    }

    #[test]
    fn parses_single_tags() {
        let cases: &[(&str, Option<EntityTag<'_>>)] = &[
            ("\"abc\"", Some(tag(false, "abc"))),
            ("  W/\"abc\" ", Some(tag(true, "abc"))),
            ("\"\"", Some(tag(false, ""))),
            ("\"a,b\"", Some(tag(false, "a,b"))),
            ("w/\"abc\"", None),
            ("abc", None),
            ("\"abc", None),
            ("\"abc\"x", None),
            ("\"a b\"", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input.as_bytes()), *want, "{input:?}");
        }
    }

    #[test]
    fn parses_lists() {
        let got = parse_list(b" \"a\", W/\"b\" ,,\"c,d\"");
        assert_eq!(got, Some(vec![tag(false, "a"), tag(true, "b"), tag(false, "c,d")]));
        assert_eq!(parse_list(b""), Some(vec![]));
        assert_eq!(parse_list(b"\"a\" \"b\""), None);
        assert_eq!(parse_list(b"\"a\", b"), None);
        assert_eq!(parse_list(b"*"), None);
        assert!(is_star(b" * "));
        assert!(!is_star(b"*, \"a\""));
    }

    #[test]
    fn compares_per_rfc_9110_table() {
        // RFC 9110 §8.8.3.2 example table.
        let w1 = tag(true, "1");
        let w2 = tag(true, "2");
        let s1 = tag(false, "1");
        assert!(!w1.strong_eq(&w1) && w1.weak_eq(&w1));
        assert!(!w1.strong_eq(&w2) && !w1.weak_eq(&w2));
        assert!(!w1.strong_eq(&s1) && w1.weak_eq(&s1));
        assert!(s1.strong_eq(&s1) && s1.weak_eq(&s1));
    }
}
