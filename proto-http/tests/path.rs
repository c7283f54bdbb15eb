//! Request-path decoding and href encoding.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

use proto_http::path::{DecodedPath, PathError, decode_request_path, encode_href, encode_segment};

fn ok(path: &str, trailing_slash: bool) -> Result<DecodedPath, PathError> {
    Ok(DecodedPath {
        path: path.to_owned(),
        trailing_slash,
    })
}

#[test]
fn decodes_table() {
    let cases: &[(&str, Result<DecodedPath, PathError>)] = &[
        ("/", ok("/", true)),
        ("/a/b", ok("/a/b", false)),
        ("/a/b/", ok("/a/b/", true)),
        ("/%2e%2e", ok("/..", false)),
        ("/a/%2E%2E/%2e%2e/etc", ok("/a/../../etc", false)),
        ("/../x/./y", ok("/../x/./y", false)),
        ("/%C3%A9", ok("/é", false)),
        ("/%c3%a9t%C3%A9/", ok("/été/", true)),
        ("/é", ok("/é", false)),
        ("/a%20b", ok("/a b", false)),
        ("/a+b", ok("/a+b", false)),
        ("/a%2Fb", ok("/a/b", false)),
        ("/a%2f", ok("/a/", true)),
        ("/a\\b", ok("/a\\b", false)),
        ("/a%5C..%5Cb", ok("/a\\..\\b", false)),
        ("/%252e", ok("/%2e", false)),
        ("//x", ok("//x", false)),
        ("/%25", ok("/%", false)),
        ("", Err(PathError::NotAbsolute)),
        ("*", Err(PathError::NotAbsolute)),
        ("a/b", Err(PathError::NotAbsolute)),
        ("%2Fa", Err(PathError::NotAbsolute)),
        ("/%00", Err(PathError::ControlCharacter)),
        ("/a%0Ab", Err(PathError::ControlCharacter)),
        ("/a%0d", Err(PathError::ControlCharacter)),
        ("/a%1f", Err(PathError::ControlCharacter)),
        ("/a%7F", Err(PathError::ControlCharacter)),
        ("/a\u{1}", Err(PathError::ControlCharacter)),
        ("/a\tb", Err(PathError::ControlCharacter)),
        ("/%ZZ", Err(PathError::BadPercentEncoding)),
        ("/%", Err(PathError::BadPercentEncoding)),
        ("/%4", Err(PathError::BadPercentEncoding)),
        ("/%4g", Err(PathError::BadPercentEncoding)),
        ("/a%", Err(PathError::BadPercentEncoding)),
        ("/%FF", Err(PathError::InvalidUtf8)),
        ("/%C3", Err(PathError::InvalidUtf8)),
        ("/%C3%28", Err(PathError::InvalidUtf8)),
        ("/%ED%A0%80", Err(PathError::InvalidUtf8)), // UTF-16 surrogate
        ("/%C0%AF", Err(PathError::InvalidUtf8)),    // overlong '/'
    ];
    for (raw, want) in cases {
        assert_eq!(&decode_request_path(raw, 4096), want, "{raw:?}");
    }
}

#[test]
fn enforces_decoded_length_limit() {
    assert_eq!(decode_request_path("/abc", 4), ok("/abc", false));
    assert_eq!(decode_request_path("/abcd", 4), Err(PathError::TooLong));
    // The limit applies to decoded bytes: "%C3%A9" is 2 bytes, not 6.
    assert_eq!(decode_request_path("/%C3%A9", 3), ok("/é", false));
    assert_eq!(decode_request_path("/%C3%A9", 2), Err(PathError::TooLong));
    assert_eq!(decode_request_path("/", 0), Err(PathError::TooLong));
}

#[test]
fn errors_do_not_echo_input() {
    let errors = [
        PathError::NotAbsolute,
        PathError::BadPercentEncoding,
        PathError::InvalidUtf8,
        PathError::ControlCharacter,
        PathError::TooLong,
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(!msg.is_empty());
        assert!(!msg.contains('%') && !msg.contains('/'), "{msg}");
    }
}

#[test]
fn encodes_hrefs() {
    let cases = [
        ("/", "/"),
        ("/a/b/", "/a/b/"),
        ("/AZaz09-._~", "/AZaz09-._~"),
        ("/a b", "/a%20b"),
        ("/100%", "/100%25"),
        ("/q?x#y", "/q%3Fx%23y"),
        ("/é", "/%C3%A9"),
        ("/\"'<>&", "/%22%27%3C%3E%26"),
        ("/a:b;c=d,e+f@g!$()*", "/a%3Ab%3Bc%3Dd%2Ce%2Bf%40g%21%24%28%29%2A"),
        ("/back\\slash", "/back%5Cslash"),
        ("/日本", "/%E6%97%A5%E6%9C%AC"),
    ];
    for (path, want) in cases {
        assert_eq!(encode_href(path), want, "{path:?}");
    }
}

#[test]
fn encodes_segments() {
    assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    assert_eq!(encode_segment("javascript:x"), "javascript%3Ax");
    assert_eq!(encode_segment("plain.txt"), "plain.txt");
}

#[test]
fn href_round_trips() {
    for path in ["/", "/a b/c%d/", "/é/日本/?#", "/\\..\\", "/a\"b'c&d<e>"] {
        let decoded = decode_request_path(&encode_href(path), 4096).unwrap();
        assert_eq!(decoded.path, path);
        assert_eq!(decoded.trailing_slash, path.ends_with('/'));
    }
}
