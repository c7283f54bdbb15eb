//! Entity tags as back-ends report them: opaque, strong, quoted as HTTP sends
//! them, and held inline — a listing makes one per entry, and thousands of small
//! allocations and `format!` calls showed up as a third of the time of a
//! 10,000-entry `NLST` (bench/RESULTS.md, per-user volumes run).

use std::fmt;

/// Longest tag kept (an S3 multipart ETag, quoted, is under 50 bytes).
const MAX: usize = 62;

/// A strong entity tag, quoted (`"…"`), that changes whenever the contents do.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ETag {
    len: u8,
    bytes: [u8; MAX],
}

impl ETag {
    /// A tag from its quoted text (an object store's ETag); `None` when it is
    /// longer than this type holds or not visible ASCII.
    pub fn new(quoted: &str) -> Option<ETag> {
        let raw = quoted.as_bytes();
        if raw.len() > MAX || raw.len() < 2 || !raw.iter().all(|b| (0x21..0x7f).contains(b)) {
            return None;
        }
        let mut bytes = [0u8; MAX];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(ETag {
            len: u8::try_from(raw.len()).ok()?,
            bytes,
        })
    }

    /// A tag made of numbers that together change with the contents (local
    /// disk: size, modification time in nanoseconds, inode): `"hex-hex-hex"`.
    pub fn from_parts(parts: &[u128]) -> ETag {
        let mut tag = ETag {
            len: 0,
            bytes: [0u8; MAX],
        };
        tag.push(b'"');
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                tag.push(b'-');
            }
            tag.push_hex(*part);
        }
        tag.push(b'"');
        tag
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(usize::from(self.len)) {
            *slot = b;
            self.len += 1;
        }
    }

    fn push_hex(&mut self, n: u128) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let digits = if n == 0 {
            1
        } else {
            (128 - n.leading_zeros()).div_ceil(4)
        };
        for i in (0..digits).rev() {
            self.push(DIGITS[((n >> (i * 4)) & 0xf) as usize]);
        }
    }

    /// The tag as HTTP sends it, quotes included.
    pub fn as_str(&self) -> &str {
        // Only visible ASCII is ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn parts_render_as_hex_and_text_is_kept() {
        assert_eq!(ETag::from_parts(&[0x1a, 0, 255]).as_str(), "\"1a-0-ff\"");
        assert_eq!(
            ETag::from_parts(&[u128::from(u64::MAX), u128::MAX]).as_str(),
            format!("\"{:x}-{:x}\"", u64::MAX, u128::MAX)
        );
        assert_eq!(ETag::new("\"abc\"").unwrap().as_str(), "\"abc\"");
        assert!(ETag::new(&"x".repeat(63)).is_none());
        assert!(ETag::new("\"a b\"").is_none());
        assert_ne!(ETag::from_parts(&[1, 2]), ETag::from_parts(&[1, 3]));
    }
}
