//! HTTP Basic authentication (RFC 7617).
//!
//! [`parse_basic`] extracts the user name and password from an
//! `Authorization` header value; [`basic_challenge`] builds the
//! `WWW-Authenticate` value of a `401`. Checking the password is the core's
//! business. The base64 decoder is local and small so that every byte of
//! client input goes through code this crate controls and tests.

use std::fmt;

/// Longest `Authorization` value [`parse_basic`] looks at.
pub const MAX_AUTHORIZATION_LEN: usize = 4096;
/// Longest user-id [`parse_basic`] accepts, in bytes of UTF-8: more than any
/// account name needs (and as much as a Unix user name may take).
pub const MAX_USER_LEN: usize = 256;
/// Longest password [`parse_basic`] accepts, in bytes of UTF-8: far more than
/// any password manager generates, and small enough that every password is
/// hashed at the same, bounded cost.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A user name and password taken from a Basic `Authorization` header.
///
/// `Debug` prints the password as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// The user-id: everything before the first `:`.
    pub user: String,
    /// The password: everything after the first `:` (it may contain `:`).
    pub password: String,
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

/// Parses an `Authorization` header value of the Basic scheme.
///
/// RFC 7617 §2: `credentials = "Basic" 1*SP token68` where the token is
/// the base64 encoding of `user-id ":" password`; "the user-id cannot
/// contain a colon", so the split is at the first `:` and the password may
/// contain colons. The scheme name is case-insensitive (RFC 9110 §11.1).
/// The decoded octets must be UTF-8 (the `charset="UTF-8"` of
/// [`basic_challenge`]).
///
/// Returns `None` for another scheme, a value longer than
/// [`MAX_AUTHORIZATION_LEN`], invalid base64 (standard alphabet; the `=`
/// padding may be omitted), invalid UTF-8, a missing `:`, a user-id longer
/// than [`MAX_USER_LEN`] or a password longer than [`MAX_PASSWORD_LEN`], or a
/// control character in the user-id ("The user-id and password MUST NOT
/// contain any control characters"; the password is handed to the verifier as
/// it is). Surrounding spaces and tabs are ignored.
pub fn parse_basic(value: &[u8]) -> Option<BasicCredentials> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return None;
    }
    let value = value.trim_ascii();
    let (scheme, rest) = value.split_at_checked(5)?;
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    if spaces == 0 {
        return None;
    }
    let decoded = decode_base64(&rest[spaces..])?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    if user.len() > MAX_USER_LEN || password.len() > MAX_PASSWORD_LEN || user.chars().any(char::is_control) {
        return None;
    }
    Some(BasicCredentials {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

/// The value of one base64 digit (RFC 4648 §4, standard alphabet).
fn sextet(b: u8) -> Option<u32> {
    let v = match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes standard base64 (RFC 4648 §4). Padding is optional, but if
/// present it must be correct; nothing may follow it.
fn decode_base64(input: &[u8]) -> Option<Vec<u8>> {
    let data_len = input.iter().take_while(|&&b| b != b'=').count();
    let (data, padding) = input.split_at(data_len);
    if padding.len() > 2 || padding.iter().any(|&b| b != b'=') {
        return None;
    }
    // One leftover digit cannot encode a byte.
    if data.len() % 4 == 1 {
        return None;
    }
    if !padding.is_empty() && (data.len() + padding.len()) % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    for chunk in data.chunks(4) {
        let mut acc = 0u32;
        for &b in chunk {
            acc = (acc << 6) | sextet(b)?;
        }
        // Left-align the bits of a short final chunk.
        acc <<= 6 * (4 - chunk.len() as u32);
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// The `WWW-Authenticate` value that asks for Basic credentials:
/// `Basic realm="<realm>", charset="UTF-8"` (RFC 7617 §2, §2.1).
///
/// The realm is a `quoted-string` (RFC 9110 §5.6.4), so `"` and `\` are
/// escaped with a backslash; control characters, which a header value
/// cannot carry, are dropped.
pub fn basic_challenge(realm: &str) -> String {
    let mut quoted = String::with_capacity(realm.len() + 2);
    for c in realm.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    format!("Basic realm=\"{quoted}\", charset=\"UTF-8\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Standard base64 with padding (test input only).
    fn encode(input: &[u8]) -> String {
        const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in input.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn user_and_password_lengths_are_bounded() {
        let basic = |user: &str, password: &str| {
            let value = format!("Basic {}", encode(format!("{user}:{password}").as_bytes()));
            parse_basic(value.as_bytes())
        };
        let user = "u".repeat(MAX_USER_LEN);
        let password = "p".repeat(MAX_PASSWORD_LEN);
        assert!(basic(&user, &password).is_some());
        assert_eq!(basic(&format!("{user}u"), "pw"), None);
        assert_eq!(basic("alice", &format!("{password}p")), None);
        // Multi-byte characters count as their UTF-8 bytes.
        assert_eq!(basic(&"é".repeat(MAX_USER_LEN / 2 + 1), "pw"), None);
    }

    #[test]
    fn decodes_base64_with_and_without_padding() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("", Some(b"")),
            ("Zg==", Some(b"f")),
            ("Zg", Some(b"f")),
            ("Zm8=", Some(b"fo")),
            ("Zm8", Some(b"fo")),
            ("Zm9v", Some(b"foo")),
            ("Zm9vYg==", Some(b"foob")),
            ("Zm9vYmE", Some(b"fooba")),
            ("Zm9vYmFy", Some(b"foobar")),
            ("+/+/", Some(&[0xFB, 0xFF, 0xBF])),
            ("Z", None),
            ("Zg=", None),
            ("Zg===", None),
            ("Zm9v=", None),
            ("Zg==Zg==", None),
            ("Zm9-", None),
            ("Zm 9v", None),
        ];
        for (input, want) in cases {
            assert_eq!(decode_base64(input.as_bytes()).as_deref(), *want, "{input:?}");
        }
    }
}
