//! WebDAV edge cases a hostile probe found: property values that are not
//! well-formed XML (refused, so no 207 is ever broken), COPY and MOVE onto a
//! destination that is a symbolic link the server cannot follow (the existing
//! resource, replaced as itself; local disk only), and `Destination` URIs with
//! another scheme or with user information.

use crate::support::{Gateway, storage_kind};
use crate::webdav::call;

fn patch_body(value: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:x="urn:example:x"><D:set><D:prop><x:p>{value}</x:p></D:prop></D:set></D:propertyupdate>"#
    )
}

#[tokio::test]
async fn proppatch_values_that_are_not_well_formed_are_refused_and_propfind_stays_xml() {
    let gw = Gateway::start_default().await;
    assert_eq!(gw.put("/f.txt", b"x".to_vec()).await, 201);
    for bad in ["&undefinedent;", "&#0;", "a ]]> b", "<y a=\"&nope;\"/>"] {
        let r = call(&gw, "PROPPATCH", "/f.txt", &[], Some(&patch_body(bad))).await;
        assert_eq!(r.status, 400, "PROPPATCH with {bad:?}: {}", r.text());
    }
    let ok = call(&gw, "PROPPATCH", "/f.txt", &[], Some(&patch_body("&amp; fine &#x41;"))).await;
    let statuses: Vec<u16> = ok
        .multistatus("a well-formed value")
        .iter()
        .flat_map(|r| r.propstats.iter().map(|ps| ps.status))
        .collect();
    // Stored where the back-end keeps dead properties; else refused (403) as a
    // property it cannot store.
    let stored = storage_kind().dead_properties();
    assert_eq!(
        statuses,
        [if stored { 200 } else { 403 }],
        "a well-formed value: {}",
        ok.text()
    );
    // The file and its parent list as well-formed XML, with the one stored value.
    for (path, depth) in [("/f.txt", "0"), ("/", "1")] {
        let r = call(&gw, "PROPFIND", path, &[("Depth", depth)], None).await;
        let responses = r.multistatus(&format!("PROPFIND {path}"));
        assert!(!responses.is_empty());
        assert_eq!(r.text().contains("&amp; fine &#x41;"), stored, "{}", r.text());
        assert!(!r.text().contains("undefinedent"), "{}", r.text());
    }
}

#[tokio::test]
async fn local_copy_and_move_onto_a_link_that_cannot_be_followed_replace_it() {
    let gw = Gateway::start_default().await;
    assert_eq!(gw.put("/src.txt", b"source".to_vec()).await, 201);
    assert_eq!(gw.put("/src2.txt", b"second".to_vec()).await, 201);
    // A link out of the root and a dangling one: names that are taken.
    std::os::unix::fs::symlink("/etc/hostname", gw.disk("out")).expect("symlink");
    std::os::unix::fs::symlink("nowhere", gw.disk("dangling")).expect("symlink");
    let host = gw.http_addr.to_string();
    let dest = |name: &str| format!("http://{host}/{name}");

    // Without overwriting, the taken name is a precondition failure (nothing changes).
    let r = call(
        &gw,
        "COPY",
        "/src.txt",
        &[("Destination", &dest("out")), ("Overwrite", "F")],
        None,
    )
    .await;
    assert_eq!(r.status, 412, "COPY onto a link with Overwrite: F: {}", r.text());
    assert!(
        std::fs::symlink_metadata(gw.disk("out"))
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // Overwriting replaces the link itself (204: the resource existed); its target is untouched.
    let before = std::fs::read("/etc/hostname").ok();
    let r = call(&gw, "COPY", "/src.txt", &[("Destination", &dest("out"))], None).await;
    assert_eq!(r.status, 204, "COPY onto a link out of the root: {}", r.text());
    let meta = std::fs::symlink_metadata(gw.disk("out")).unwrap();
    assert!(meta.is_file(), "the link became the copy");
    assert_eq!(std::fs::read(gw.disk("out")).unwrap(), b"source");
    assert_eq!(std::fs::read("/etc/hostname").ok(), before, "the link's target changed");

    let r = call(&gw, "MOVE", "/src2.txt", &[("Destination", &dest("dangling"))], None).await;
    assert_eq!(r.status, 204, "MOVE onto a dangling link: {}", r.text());
    assert_eq!(std::fs::read(gw.disk("dangling")).unwrap(), b"second");
    assert!(!gw.disk("src2.txt").exists());
}

#[tokio::test]
async fn destinations_with_another_scheme_or_user_information_are_refused() {
    let gw = Gateway::start_default().await;
    assert_eq!(gw.put("/f.txt", b"x".to_vec()).await, 201);
    let host = gw.http_addr.to_string();
    let cases = [
        (format!("https://{host}/g.txt"), 502),
        (format!("http://someone@{host}/g.txt"), 400),
        (format!("http://someone:pw@{host}/g.txt"), 400),
    ];
    for (destination, expected) in &cases {
        for method in ["COPY", "MOVE"] {
            let r = call(&gw, method, "/f.txt", &[("Destination", destination)], None).await;
            assert_eq!(r.status, *expected, "{method} to {destination}: {}", r.text());
        }
    }
    assert!(!gw.store().exists("g.txt"), "a refused destination was written");
    assert!(gw.store().exists("f.txt"), "a refused MOVE moved the source");
    // The request's own scheme and authority are accepted.
    let r = call(
        &gw,
        "COPY",
        "/f.txt",
        &[("Destination", &format!("http://{host}/g.txt"))],
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
}
