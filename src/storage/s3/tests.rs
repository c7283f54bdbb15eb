//! Unit tests of the parts that need no store; the store's behaviour is pinned
//! by the conformance suite (`tests/conformance.rs`) and the e2e suite, run
//! against real S3-compatible servers by `tests/backends/`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use super::*;

#[test]
fn etags_are_quoted_whatever_the_store_sends() {
    assert_eq!(etag(Some("\"abc-2\"")).unwrap().as_str(), "\"abc-2\"");
    assert_eq!(etag(Some("abc")).unwrap().as_str(), "\"abc\"");
    assert!(etag(None).is_none());
}

#[test]
fn names_a_path_cannot_hold_are_not_shown() {
    for bad in ["", ".", "..", "a\nb", "\u{7f}"] {
        assert!(!showable(bad), "{bad:?}");
    }
    assert!(!showable(&"x".repeat(300)));
    for good in ["a+b c%2B.txt", "ünï", "[x]#&=?"] {
        assert!(showable(good), "{good:?}");
    }
}

fn section() -> S3Config {
    S3Config {
        endpoint: "http://127.0.0.1:9".to_owned(),
        region: "us-east-1".to_owned(),
        bucket: "b".to_owned(),
        prefix: String::new(),
        path_style: true,
        access_key_id: Some("k".to_owned()),
        access_key_id_file: None,
        secret_access_key: Some(crate::auth::Password::new("s".to_owned())),
        secret_access_key_file: None,
        session_token: None,
        ca_file: None,
        list_page_size: 1000,
        list_objects_v1: false,
        part_size: crate::config::ByteSize(16 << 20),
        upload_concurrency: 2,
        rename_dirs: RenameDirs::Refuse,
        directory_markers: crate::config::DirectoryMarkers::Slash,
        request_timeout: crate::config::ConfigDuration::secs(30),
        io_timeout: crate::config::ConfigDuration::secs(120),
        max_retries: 4,
        stale_uploads_after: crate::config::ConfigDuration::secs(3600),
        sweep_uploads: true,
    }
}

#[test]
fn bad_sections_are_refused_with_their_key() {
    assert!(S3Settings::problems(&section()).is_empty());
    let keys = |change: &dyn Fn(&mut S3Config)| -> Vec<&'static str> {
        let mut c = section();
        change(&mut c);
        S3Settings::problems(&c).into_iter().map(|(k, _)| k).collect()
    };
    assert_eq!(keys(&|c| c.part_size.0 = 1 << 20), ["storage.part_size"]);
    assert_eq!(keys(&|c| c.upload_concurrency = 0), ["storage.upload_concurrency"]);
    assert_eq!(keys(&|c| c.list_page_size = 1001), ["storage.list_page_size"]);
    assert_eq!(keys(&|c| c.prefix = "/abs".into()), ["storage.prefix"]);
    assert_eq!(keys(&|c| c.prefix = "a/../b".into()), ["storage.prefix"]);
    assert_eq!(keys(&|c| c.endpoint = "127.0.0.1:9000".into()), ["storage.endpoint"]);
    assert_eq!(
        keys(&|c| c.access_key_id_file = Some("/k".into())),
        ["storage.access_key_id_file"]
    );
}

#[test]
fn one_key_without_the_other_is_refused() {
    let mut c = section();
    c.secret_access_key = None;
    // A set AWS_SECRET_ACCESS_KEY would complete the pair (documented behaviour).
    if std::env::var_os("AWS_SECRET_ACCESS_KEY").is_none() {
        let Err(err) = S3Settings::connect(&c) else {
            panic!("connected with a bad section")
        };
        assert!(err.contains("both"), "{err}");
    }
}

#[tokio::test]
async fn the_operator_is_built_without_a_request() {
    // Port 9 (discard) is closed: connecting must not send anything yet.
    let backend = S3Backend::open(&S3Config {
        prefix: "gw/".to_owned(),
        ..section()
    })
    .unwrap();
    assert_eq!(backend.describe(), "http://127.0.0.1:9/b/gw");
    assert!(!backend.capabilities().rename_dirs);
    assert_eq!(backend.capabilities().resume, Resume::Assembled);
}
