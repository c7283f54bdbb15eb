//! HTTP Basic credentials and challenges.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

use proto_http::auth::{BasicCredentials, basic_challenge, parse_basic};

fn creds(user: &str, password: &str) -> Option<BasicCredentials> {
    Some(BasicCredentials {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

#[test]
fn parses_table() {
    let cases: &[(&[u8], Option<BasicCredentials>)] = &[
        (b"Basic dXNlcjpwYXNz", creds("user", "pass")),
        (b"basic dXNlcjpwYXNz", creds("user", "pass")),
        (b"BASIC   dXNlcjpwYXNz", creds("user", "pass")),
        (b"  Basic dXNlcjpwYXNz  ", creds("user", "pass")),
        // "Aladdin:open sesame", RFC 7617's example.
        (b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", creds("Aladdin", "open sesame")),
        (b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ", creds("Aladdin", "open sesame")),
        // "user:pa:ss:" - the password keeps its colons.
        (b"Basic dXNlcjpwYTpzczo=", creds("user", "pa:ss:")),
        // ":" - empty user and password are the verifier's problem.
        (b"Basic Og==", creds("", "")),
        // "test:123£" in UTF-8 (RFC 7617 §2.1 example).
        (b"Basic dGVzdDoxMjPCow==", creds("test", "123£")),
        // "u:p\tq" - a tab in the password is passed on.
        (b"Basic dTpwCXE=", creds("u", "p\tq")),
        // "userpass" - no colon.
        (b"Basic dXNlcnBhc3M=", None),
        // "u\x01:p" - control character in the user name.
        (b"Basic dQE6cA==", None),
        // 0xFF 0xFE ':' 'p' - not UTF-8.
        (b"Basic //46cA==", None),
        (b"Basic", None),
        (b"Basic ", None),
        (b"BasicdXNlcjpwYXNz", None),
        (b"Basic\tdXNlcjpwYXNz", None),
        (b"Basic dXNlcjpwYXNz!", None),
        // Unpadded "user:pas" is fine; a lone trailing digit is not.
        (b"Basic dXNlcjpwYXM", creds("user", "pas")),
        (b"Basic dXNlcjpwYXNzZ", None),
        (b"Basic dXNlcjpwYXNz=", None),
        (b"Basic dXNl cjpwYXNz", None),
        (b"Bearer dXNlcjpwYXNz", None),
        (b"Digest username=\"u\"", None),
        (b"Basi", None),
        (b"", None),
        (b"\xff\xfe", None),
    ];
    for (value, want) in cases {
        assert_eq!(&parse_basic(value), want, "{:?}", String::from_utf8_lossy(value));
    }
}

#[test]
fn caps_input_length() {
    use proto_http::auth::{MAX_AUTHORIZATION_LEN, MAX_PASSWORD_LEN};
    // "u:" followed by a long password of 'A's, base64-encoded by hand:
    // "dTpB" = "u:A", then "QUFB" = "AAA" repeated.
    let with_password_of = |len: usize| {
        let mut value = b"Basic dTpB".to_vec();
        for _ in 0..(len - 1) / 3 {
            value.extend_from_slice(b"QUFB");
        }
        value
    };
    // The longest password allowed is accepted; three bytes more are not.
    let longest = MAX_PASSWORD_LEN - (MAX_PASSWORD_LEN - 1) % 3;
    assert_eq!(parse_basic(&with_password_of(longest)).unwrap().password.len(), longest);
    assert_eq!(parse_basic(&with_password_of(longest + 3)), None);
    // A value over the header cap is not even decoded.
    let mut long = with_password_of(longest);
    long.resize(MAX_AUTHORIZATION_LEN + 1, b'A');
    assert_eq!(parse_basic(&long), None);
}

#[test]
fn debug_hides_the_password() {
    let c = creds("alice", "s3cret").unwrap();
    let shown = format!("{c:?}");
    assert!(shown.contains("alice") && shown.contains("***"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn challenges() {
    let cases = [
        ("dualgate", r#"Basic realm="dualgate", charset="UTF-8""#),
        ("", r#"Basic realm="", charset="UTF-8""#),
        (
            r#"a "quoted" \realm"#,
            r#"Basic realm="a \"quoted\" \\realm", charset="UTF-8""#,
        ),
        ("line\r\nbreak", r#"Basic realm="linebreak", charset="UTF-8""#),
        ("café", r#"Basic realm="café", charset="UTF-8""#),
    ];
    for (realm, want) in cases {
        assert_eq!(basic_challenge(realm), want, "{realm:?}");
    }
}
