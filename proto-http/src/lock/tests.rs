#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;

fn parse(value: &str) -> Result<IfHeader, IfError> {
    let mut h = IfHeader::default();
    h.add(value).map(|()| h)
}

fn token(t: &str) -> Condition {
    Condition {
        not: false,
        test: Test::Token(t.into()),
    }
}

#[test]
fn lockinfo_scope_type_and_owner() {
    let info = parse_lockinfo(
        br#"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>mailto:a@b</D:href></D:owner></D:lockinfo>"#,
    )
    .unwrap();
    assert_eq!(info.scope, LockScope::Exclusive);
    assert_eq!(
        info.owner.as_deref(),
        Some(r#"<D:owner xmlns:D="DAV:"><D:href>mailto:a@b</D:href></D:owner>"#)
    );
    let shared = parse_lockinfo(
        br#"<lockinfo xmlns="DAV:"><lockscope><shared/></lockscope><locktype><write/></locktype></lockinfo>"#,
    )
    .unwrap();
    assert_eq!(
        shared,
        LockInfo {
            scope: LockScope::Shared,
            owner: None
        }
    );
    // No scope, another type, another root: refused.
    for body in [
        &br#"<D:lockinfo xmlns:D="DAV:"><D:locktype><D:write/></D:locktype></D:lockinfo>"#[..],
        br#"<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:read/></D:locktype></D:lockinfo>"#,
        br#"<D:propfind xmlns:D="DAV:"/>"#,
        b"not xml",
    ] {
        assert!(parse_lockinfo(body).is_err(), "{}", String::from_utf8_lossy(body));
    }
    let big = format!(
        r#"<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>{}</D:owner></D:lockinfo>"#,
        "x".repeat(MAX_OWNER_XML)
    );
    assert_eq!(parse_lockinfo(big.as_bytes()), Err(XmlError::TooComplex));
}

#[test]
fn timeouts_are_capped() {
    assert_eq!(parse_timeout(None, 600, 3600), 600);
    assert_eq!(parse_timeout(Some("Second-1800"), 600, 3600), 1800);
    assert_eq!(parse_timeout(Some("second-99999"), 600, 3600), 3600);
    assert_eq!(parse_timeout(Some("Infinite, Second-4100000000"), 600, 3600), 3600);
    assert_eq!(parse_timeout(Some("Second-99999999999999999999999"), 600, 3600), 3600);
    assert_eq!(parse_timeout(Some("Second-0"), 600, 3600), 1);
    assert_eq!(parse_timeout(Some("bogus, Second-60"), 600, 3600), 60);
    assert_eq!(parse_timeout(Some("Second-"), 600, 3600), 600);
    assert_eq!(parse_timeout(Some("Seco"), 600, 3600), 600);
}

#[test]
fn tokens_are_uuids() {
    let t = new_token([0xff; 16]);
    assert_eq!(t, "opaquelocktoken:ffffffff-ffff-4fff-bfff-ffffffffffff");
    assert_eq!(parse_lock_token(&format!(" <{t}> ")), Some(t.as_str()));
    assert_eq!(parse_lock_token("opaquelocktoken:x"), None);
    assert_eq!(parse_lock_token("<>"), None);
    assert_eq!(parse_lock_token("<a b>"), None);
}

#[test]
fn if_untagged_tagged_not_and_etags() {
    let h = parse(r#"(<opaquelocktoken:a> ["x"]) (Not <DAV:no-lock>)"#).unwrap();
    assert_eq!(h.lists.len(), 2);
    assert_eq!(
        h.lists[0].conditions,
        vec![
            token("opaquelocktoken:a"),
            Condition {
                not: false,
                test: Test::ETag("\"x\"".into())
            }
        ]
    );
    assert!(h.lists[1].conditions[0].not);
    assert_eq!(h.submitted_tokens().collect::<Vec<_>>(), vec!["opaquelocktoken:a"]);

    let t = parse("<http://h/a%20b> (<opaquelocktoken:a>) (<t2>) </c> ([W/\"e\"])").unwrap();
    assert_eq!(t.lists.len(), 3);
    assert_eq!(t.lists[0].tag.as_deref(), Some("http://h/a%20b"));
    assert_eq!(t.lists[1].tag.as_deref(), Some("http://h/a%20b"));
    assert_eq!(t.lists[2].tag.as_deref(), Some("/c"));

    // Lowercase `not`, no blanks between lists.
    assert!(parse("(not <DAV:no-lock>)(<a>)").is_ok());
    for bad in [
        "",
        "()",
        "(<a>",
        "<a>",
        "<http://h/> ",
        "(<a>) <http://h/> (<b>)",
        "<http://h/> (<b>) (<a>) x",
        "([noquotes])",
        "(Not)",
        "(<a b>)",
        "garbage",
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
    let many = "(<a>)".repeat(MAX_IF_LISTS + 1);
    assert_eq!(parse(&many), Err(IfError::TooLarge));
    let long = format!("(<{}>)", "a".repeat(MAX_IF_LEN));
    assert_eq!(parse(&long), Err(IfError::TooLarge));
}

#[test]
fn if_evaluation_ors_lists_and_ands_conditions() {
    let state = ResourceState {
        etag: Some("\"e1\"".into()),
        tokens: vec!["opaquelocktoken:a".into()],
    };
    let eval = |v: &str| evaluate_if(&parse(v).unwrap(), |_| Some(state.clone()));
    assert!(eval(r#"(<opaquelocktoken:a> ["e1"])"#));
    assert!(eval(r#"(<opaquelocktoken:a> [W/"e1"])"#));
    assert!(!eval(r#"(<DAV:no-lock> ["e1"])"#));
    assert!(eval("(<opaquelocktoken:a>) (Not <DAV:no-lock>)"));
    assert!(eval("(<opaquelocktoken:ax>) (Not <DAV:no-lock>)"));
    assert!(!eval("(<opaquelocktoken:ax>)"));
    assert!(eval(r#"(<opaquelocktoken:a> ["e1"]) (Not <DAV:no-lock> ["e1"])"#));
    assert!(!eval(r#"(<opaquelocktoken:a> ["e2"]) (Not <DAV:no-lock> ["e2"])"#));
    assert!(!eval("(<DAV:no-lock>)"));
    assert!(eval("(Not <opaquelocktoken:zz>)"));
    // A resource that is not here makes its lists false.
    let h = parse("<http://elsewhere/x> (Not <DAV:no-lock>)").unwrap();
    assert!(!evaluate_if(&h, |_| None));
    // The tag is handed to the state callback.
    let h = parse("</a> (<t>) </b> (<u>)").unwrap();
    let mut asked = Vec::new();
    let holds = evaluate_if(&h, |tag| {
        asked.push(tag.map(str::to_owned));
        Some(ResourceState {
            etag: None,
            tokens: vec!["u".into()],
        })
    });
    assert!(holds);
    assert_eq!(asked, vec![Some("/a".to_owned()), Some("/b".to_owned())]);
}

#[test]
fn discovery_and_error_bodies() {
    let lock = ActiveLock {
        scope: LockScope::Shared,
        infinite: true,
        owner: Some("<D:owner xmlns:D=\"DAV:\">me</D:owner>"),
        seconds_left: 42,
        token: "opaquelocktoken:t",
        root: "/a%20b/",
    };
    let body = lock_response(&lockdiscovery(std::slice::from_ref(&lock)));
    for part in [
        "<D:lockscope><D:shared/></D:lockscope>",
        "<D:depth>infinity</D:depth>",
        "<D:owner xmlns:D=\"DAV:\">me</D:owner>",
        "<D:timeout>Second-42</D:timeout>",
        "<D:locktoken><D:href>opaquelocktoken:t</D:href></D:locktoken>",
        "<D:lockroot><D:href>/a%20b/</D:href></D:lockroot>",
    ] {
        assert!(body.contains(part), "{part} missing in {body}");
    }
    assert_eq!(lockdiscovery(&[]), "");
    let e = error_body(LockPrecondition::TokenSubmitted, &["/x&y".into()]);
    assert!(
        e.contains("<D:lock-token-submitted><D:href>/x&amp;y</D:href></D:lock-token-submitted>"),
        "{e}"
    );
    assert!(error_body(LockPrecondition::TokenMatchesRequestUri, &[]).contains("<D:lock-token-matches-request-uri/>"));
    // The bodies are well-formed XML.
    for xml in [body, e] {
        let mut reader = quick_xml::Reader::from_str(&xml);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(err) => panic!("{err}: {xml}"),
            }
        }
    }
}
