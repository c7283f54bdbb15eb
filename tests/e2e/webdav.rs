//! WebDAV class 1 (RFC 4918) against the real binary: `OPTIONS`; `PROPFIND` at
//! depth 0 and 1 with `allprop`, `prop` and `propname`, its refusals (depth
//! infinity, bad bodies, big bodies); `PROPPATCH` storing dead properties all or
//! nothing (where the storage keeps them: local disk; elsewhere refused, 403);
//! `MKCOL`; `COPY` and `MOVE` with `Destination`, `Overwrite` and `Depth`, on
//! files and trees; recursive `DELETE`; conditional writes;
//! multi-range `GET`s checked byte for byte; the same permissions as FTP; and the
//! same files seen through FTP.
//!
//! Multistatus bodies are parsed by namespace (see [`crate::support::dav`]), so
//! the checks hold whatever prefixes the server picks.

use std::collections::{BTreeMap, BTreeSet};

use tokio::io::AsyncWriteExt;

use crate::cross_protocol::{Listing, from_mlsd};
use crate::support::dav::{DAV, DavResponse, Reply, is_uri_path, parse_xml, send};
use crate::support::http::{multipart_boundary, parse_content_range, parse_multipart};
use crate::support::{
    Gateway, GatewayOptions, STEP, Tree, UPLOAD_TEMP_PREFIX, ftp_get, ftp_put, hash_password, now_secs,
    parse_imf_fixdate, random_bytes, raw_request, storage_kind, within,
};

/// A `PROPFIND` for two live properties and two unknown ones (one in a foreign
/// namespace, one in no namespace).
const PROP_REQUEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop>
  <D:getcontentlength/><D:getetag/><x:color xmlns:x="urn:example:x"/><plain xmlns=""/>
</D:prop></D:propfind>"#;

/// A `PROPFIND` for the names only, with DAV: as the default namespace.
const PROPNAME_REQUEST: &str = r#"<?xml version="1.0"?><propfind xmlns="DAV:"><propname/></propfind>"#;

/// An explicit `allprop`.
const ALLPROP_REQUEST: &str = r#"<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#;

/// A `PROPPATCH` setting two properties and removing a third.
const PROPPATCH_REQUEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:x="urn:example:x">
  <D:set><D:prop><x:color>red</x:color><D:displayname>Mine</D:displayname></D:prop></D:set>
  <D:remove><D:prop><x:old/></D:prop></D:remove>
</D:propertyupdate>"#;

/// The seven live properties the server defines for a file, as `{ns}local`
/// (sorted: the order `names_under` gives).
const FILE_PROPS: [&str; 7] = [
    "{DAV:}getcontentlength",
    "{DAV:}getcontenttype",
    "{DAV:}getetag",
    "{DAV:}getlastmodified",
    "{DAV:}lockdiscovery",
    "{DAV:}resourcetype",
    "{DAV:}supportedlock",
];

/// A request with any method, extra headers and an optional body, as the
/// gateway's user, answered as a whole.
pub(crate) async fn call(
    gw: &Gateway,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    call_as(gw, Some((&gw.user, &gw.password)), method, path, headers, body).await
}

/// `COPY` or `MOVE` of `from` with `Destination: to` and extra headers.
async fn transfer(gw: &Gateway, method: &str, from: &str, to: &str, headers: &[(&str, &str)]) -> Reply {
    let mut all = vec![("Destination", to)];
    all.extend_from_slice(headers);
    call(gw, method, from, &all, None).await
}

/// The status of a `COPY` or `MOVE`.
async fn transfer_status(gw: &Gateway, method: &str, from: &str, to: &str, headers: &[(&str, &str)]) -> u16 {
    transfer(gw, method, from, to, headers).await.status
}

/// A small tree under `name`: three files and an empty directory, three
/// levels deep; what it holds.
fn make_tree(gw: &Gateway, name: &str) -> Tree {
    gw.store().put(&format!("{name}/a.txt"), b"alpha\n");
    gw.store().put(&format!("{name}/sub/b.bin"), random_bytes(70_000));
    gw.store().put(&format!("{name}/sub/deeper/c.txt"), b"gamma\n");
    gw.store().mkdir(&format!("{name}/empty"));
    gw.store().tree(name)
}

/// Responses by their (decoded) path; each href must be a valid URI path, and
/// no resource may be listed twice.
fn by_path(responses: Vec<DavResponse>) -> BTreeMap<String, DavResponse> {
    let count = responses.len();
    let map: BTreeMap<String, DavResponse> = responses
        .into_iter()
        .map(|r| {
            assert!(is_uri_path(&r.href), "href {:?} is not a percent-encoded path", r.href);
            (r.path(), r)
        })
        .collect();
    assert_eq!(map.len(), count, "a resource listed twice: {:?}", map.keys());
    map
}

/// The only response of a depth-0 `PROPFIND`.
fn only(mut responses: Vec<DavResponse>) -> DavResponse {
    assert_eq!(responses.len(), 1, "{responses:?}");
    responses.remove(0)
}

#[tokio::test]
async fn options_announces_classes_1_and_2_and_the_methods() {
    let gw = Gateway::start_default().await;
    gw.store().put("f.txt", b"x");
    let expected: BTreeSet<&str> = [
        "OPTIONS",
        "GET",
        "HEAD",
        "PUT",
        "DELETE",
        "MKCOL",
        "COPY",
        "MOVE",
        "PROPFIND",
        "PROPPATCH",
        "LOCK",
        "UNLOCK",
    ]
    .into();
    for path in ["/", "/f.txt"] {
        let r = call(&gw, "OPTIONS", path, &[], None).await;
        assert_eq!(r.status, 204, "OPTIONS {path} (a success without a body): {}", r.text());
        let dav = r
            .header("dav")
            .unwrap_or_else(|| panic!("no DAV header: {:?}", r.headers));
        assert!(
            dav.split(',').map(str::trim).any(|c| c == "1") && dav.split(',').map(str::trim).any(|c| c == "2"),
            "DAV: {dav:?} does not claim classes 1 and 2"
        );
        let allow: BTreeSet<&str> = r.header("allow").unwrap().split(',').map(str::trim).collect();
        assert_eq!(allow, expected, "Allow of {path}");
        assert_eq!(r.header("ms-author-via"), Some("DAV"));
        assert!(r.body.is_empty(), "OPTIONS sent a body: {}", r.text());
    }
}

#[tokio::test]
async fn propfind_reports_live_properties_at_depth_0_and_1() {
    let gw = Gateway::start_default().await;
    let names = ["a.txt", "data.bin", "caf\u{e9} & more #1 100%.txt"];
    gw.store().put("docs/a.txt", b"hello");
    gw.store().put("docs/data.bin", random_bytes(1000));
    gw.store().put(&format!("docs/{}", names[2]), b"odd name");
    gw.store().put("docs/sub/deep.txt", b"not at depth 1");

    // Depth 0 on a file: every live property, each equal to what GET says.
    let file = only(gw.propfind("/docs/a.txt", "0", "").await);
    assert_eq!(file.path(), "/docs/a.txt");
    assert!(!file.is_collection());
    assert_eq!(file.names_under(200), FILE_PROPS, "allprop of a file");
    assert_eq!(
        file.propstats.len(),
        1,
        "allprop has nothing under another status: {file:?}"
    );
    assert_eq!(file.value("getcontentlength"), Some("5"));
    let modified = file.value("getlastmodified").unwrap();
    let step = storage_kind().listed_time_step();
    assert_eq!(
        parse_imf_fixdate(modified).map(|t| t / step),
        Some(gw.store().mtime_secs("docs/a.txt") / step),
        "getlastmodified {modified:?} is not the mtime as an IMF-fixdate"
    );
    let head = send(gw.dav("HEAD", "/docs/a.txt")).await;
    assert_eq!(head.status, 200);
    assert_eq!(
        file.value("getetag"),
        head.header("etag"),
        "getetag vs the ETag of HEAD"
    );
    assert_eq!(
        file.value("getcontenttype"),
        head.header("content-type"),
        "getcontenttype vs the Content-Type of HEAD"
    );
    assert_eq!(head.header("last-modified"), Some(modified));

    // Depth 0 on a collection, with and without the slash: the collection only,
    // its href ending in a slash.
    for path in ["/docs", "/docs/"] {
        let dir = only(gw.propfind(path, "0", "").await);
        assert_eq!(dir.path(), "/docs/", "href of a collection");
        assert!(dir.is_collection());
        assert_eq!(dir.find(DAV, "getcontentlength"), None, "a collection has no length");
        let dir_modified = dir.value("getlastmodified").and_then(parse_imf_fixdate);
        if storage_kind().dir_times() {
            let step = storage_kind().listed_time_step();
            assert_eq!(
                dir_modified.map(|t| t / step),
                Some(gw.store().mtime_secs("docs") / step)
            );
        } else {
            // An object store keeps no time for a prefix: a valid date, not far off.
            assert!(
                dir_modified.is_some_and(|t| (t - now_secs()).abs() < 3600),
                "getlastmodified of a collection: {:?}",
                dir.value("getlastmodified")
            );
        }
    }

    // Depth 1: the collection and each member once, not the members' members.
    let listed = by_path(gw.propfind("/docs/", "1", "").await);
    let expected: BTreeSet<String> = ["/docs/", "/docs/sub/"]
        .into_iter()
        .map(str::to_owned)
        .chain(names.iter().map(|n| format!("/docs/{n}")))
        .collect();
    assert_eq!(listed.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(listed["/docs/sub/"].is_collection());
    for name in names {
        let r = &listed[&format!("/docs/{name}")];
        assert!(!r.is_collection(), "{name}");
        let size = gw.store().len(&format!("docs/{name}")).unwrap();
        assert_eq!(r.value("getcontentlength"), Some(size.to_string().as_str()), "{name}");
    }

    // Depth 1 on a file is the file; a missing resource is 404.
    assert_eq!(
        only(gw.propfind("/docs/data.bin", "1", "").await).path(),
        "/docs/data.bin"
    );
    let missing = call(&gw, "PROPFIND", "/docs/nope.txt", &[("Depth", "0")], None).await;
    assert_eq!(missing.status, 404, "{}", missing.text());
}

#[tokio::test]
async fn propfind_prop_propname_and_allprop() {
    let gw = Gateway::start_default().await;
    gw.store().put("d/f.txt", b"0123456789");

    // <prop>: the known properties under 200, the unknown ones (empty) under 404.
    let listed = by_path(gw.propfind("/d/", "1", PROP_REQUEST).await);
    let file = &listed["/d/f.txt"];
    assert_eq!(
        file.names_under(200),
        ["{DAV:}getcontentlength", "{DAV:}getetag"],
        "{file:?}"
    );
    assert_eq!(file.names_under(404), ["{urn:example:x}color", "{}plain"], "{file:?}");
    assert_eq!(file.value("getcontentlength"), Some("10"));
    let etag = send(gw.dav("HEAD", "/d/f.txt")).await;
    assert_eq!(file.value("getetag"), etag.header("etag"));
    for ps in file.propstats.iter().filter(|ps| ps.status == 404) {
        assert!(
            ps.props.iter().all(|p| p.text.is_empty() && p.children.is_empty()),
            "a missing property with a value: {ps:?}"
        );
    }
    // A collection has neither a length nor an entity tag.
    let dir = &listed["/d/"];
    assert!(dir.names_under(200).is_empty(), "{dir:?}");
    assert_eq!(
        dir.names_under(404),
        [
            "{DAV:}getcontentlength",
            "{DAV:}getetag",
            "{urn:example:x}color",
            "{}plain"
        ]
    );

    // <propname/>: the names, without values.
    let names = only(gw.propfind("/d/f.txt", "0", PROPNAME_REQUEST).await);
    assert_eq!(names.names_under(200), FILE_PROPS);
    assert!(
        names.propstats[0]
            .props
            .iter()
            .all(|p| p.text.is_empty() && p.children.is_empty()),
        "propname returned values: {names:?}"
    );
    let dir_names = only(gw.propfind("/d/", "0", PROPNAME_REQUEST).await);
    assert_eq!(
        dir_names.names_under(200),
        [
            "{DAV:}getlastmodified",
            "{DAV:}lockdiscovery",
            "{DAV:}resourcetype",
            "{DAV:}supportedlock"
        ]
    );

    // An explicit <allprop/> is what an empty body gives.
    let implicit = only(gw.propfind("/d/f.txt", "0", "").await);
    let explicit = only(gw.propfind("/d/f.txt", "0", ALLPROP_REQUEST).await);
    assert_eq!(explicit.names_under(200), FILE_PROPS);
    for p in FILE_PROPS {
        let local = p.trim_start_matches("{DAV:}");
        assert_eq!(explicit.value(local), implicit.value(local), "{local}");
    }
}

#[tokio::test]
async fn propfind_refuses_infinite_depth_and_bad_bodies() {
    let gw = Gateway::start_default().await;
    gw.store().put("f.txt", b"x");

    // Depth infinity, said or implied (no Depth), is refused with the
    // precondition element of RFC 4918 §9.1.
    for depth in [Some("infinity"), Some("Infinity"), None] {
        let headers: Vec<(&str, &str)> = depth.iter().map(|d| ("Depth", *d)).collect();
        let r = call(&gw, "PROPFIND", "/", &headers, None).await;
        assert_eq!(r.status, 403, "Depth {depth:?}: {}", r.text());
        crate::support::dav::assert_xml_content_type(&r, "the 403 of a PROPFIND");
        let error = parse_xml(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
        assert!(error.is(DAV, "error"), "{error:?}");
        assert!(
            error.one(DAV, "propfind-finite-depth").is_ok(),
            "no DAV:propfind-finite-depth: {error:?}"
        );
    }
    let r = call(&gw, "PROPFIND", "/", &[("Depth", "2")], None).await;
    assert_eq!(r.status, 400, "Depth 2: {}", r.text());

    let deep = format!(
        "<D:propfind xmlns:D=\"DAV:\">{}{}</D:propfind>",
        "<D:prop>".repeat(100),
        "</D:prop>".repeat(100)
    );
    for body in [
        "not XML at all",
        r#"<D:propfind xmlns:D="DAV:"><D:prop>"#,
        r#"<D:propfind xmlns:D="DAV:"><x:prop/></D:propfind>"#,
        r#"<D:propfind xmlns:D="DAV:"><D:prop><b:x xmlns:b=""/></D:prop></D:propfind>"#,
        r#"<propfind xmlns="urn:not-dav"><allprop/></propfind>"#,
        r#"<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind><D:propfind xmlns:D="DAV:"/>"#,
        &deep,
    ] {
        let r = call(&gw, "PROPFIND", "/f.txt", &[("Depth", "0")], Some(body)).await;
        assert_eq!(r.status, 400, "PROPFIND body {body:?}: {}", r.text());
    }

    // Bodies over 256 KiB: refused from the declared length, without reading…
    let auth = gw.basic_auth();
    let head = format!(
        "PROPFIND /f.txt HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\nDepth: 0\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        gw.http_addr,
        300 * 1024
    );
    let r = raw_request(gw.http_addr, head.as_bytes()).await;
    assert_eq!(r.status, 413, "a declared 300 KiB PROPFIND body: {}", r.text());
    // …and from what arrives when the length is not declared (chunked).
    let padding = " ".repeat(300 * 1024);
    let body = format!("<D:propfind xmlns:D=\"DAV:\"><D:allprop/></D:propfind>{padding}");
    let stream = futures_util::stream::iter(
        body.into_bytes()
            .chunks(16 * 1024)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let r = send(
        gw.dav("PROPFIND", "/f.txt")
            .header("Depth", "0")
            .body(reqwest::Body::wrap_stream(stream)),
    )
    .await;
    assert_eq!(r.status, 413, "a chunked 300 KiB PROPFIND body: {}", r.text());

    // The server is fine.
    assert_eq!(only(gw.propfind("/f.txt", "0", "").await).path(), "/f.txt");
}

/// A `PROPFIND` (depth 0) for some properties, as the gateway's user.
async fn props_of(gw: &Gateway, path: &str, props: &str) -> DavResponse {
    let body = format!(r#"<D:propfind xmlns:D="DAV:" xmlns:x="urn:example:x"><D:prop>{props}</D:prop></D:propfind>"#);
    only(gw.propfind(path, "0", &body).await)
}

/// A `PROPPATCH` of `path` as the gateway's user: its only response.
async fn proppatch(gw: &Gateway, path: &str, body: &str) -> DavResponse {
    let r = call(gw, "PROPPATCH", path, &[], Some(body)).await;
    only(r.multistatus(&format!("PROPPATCH {path}")))
}

/// A `propertyupdate` body with the `x` prefix bound to `urn:example:x`.
fn update(instructions: &str) -> String {
    format!(r#"<D:propertyupdate xmlns:D="DAV:" xmlns:x="urn:example:x">{instructions}</D:propertyupdate>"#)
}

/// The Windows redirector's PROPPATCH after a copy (mar10/wsgidav#112): on local
/// disk, `Win32LastModifiedTime` becomes the file's own time (`Last-Modified`,
/// `getlastmodified`, FTP MDTM) and every property is kept as sent; on a store
/// without dead properties or settable times, 207 with 403 for each (a bare 403
/// makes Explorer fail the copy).
#[tokio::test]
async fn windows_proppatch_sets_the_modification_time_where_it_can() {
    let gw = Gateway::start_default().await;
    gw.store().put("copied.txt", b"from Windows");
    let body = r#"<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32CreationTime>Sat, 03 Feb 2001 04:05:06 GMT</Z:Win32CreationTime><Z:Win32LastAccessTime>Sun, 06 Dec 2026 01:00:00 GMT</Z:Win32LastAccessTime><Z:Win32LastModifiedTime>Sat, 03 Feb 2001 04:05:06 GMT</Z:Win32LastModifiedTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>"#;
    let response = proppatch(&gw, "/copied.txt", body).await;
    if !storage_kind().dead_properties() {
        assert!(response.propstats.iter().all(|ps| ps.status == 403), "{response:?}");
        return;
    }
    assert!(response.propstats.iter().all(|ps| ps.status == 200), "{response:?}");
    let get = gw.get("/copied.txt").await;
    let last_modified = get.headers()["last-modified"].to_str().unwrap().to_owned();
    assert_eq!(parse_imf_fixdate(&last_modified), Some(981_173_106), "{last_modified}");
    assert_eq!(get.bytes().await.unwrap().as_ref(), b"from Windows");
    let props = props_of(
        &gw,
        "/copied.txt",
        r#"<D:getlastmodified/><Z:Win32FileAttributes xmlns:Z="urn:schemas-microsoft-com:"/>"#,
    )
    .await;
    assert_eq!(props.value("getlastmodified"), Some("Sat, 03 Feb 2001 04:05:06 GMT"));
    let (status, attributes) = props.find("urn:schemas-microsoft-com:", "Win32FileAttributes").unwrap();
    assert_eq!((status, attributes.text.as_str()), (200, "00000020"));
}

/// Dead properties are kept where the back-end can store them: local disk (one
/// extended attribute per file).
#[tokio::test]
async fn local_proppatch_stores_dead_properties_all_or_nothing() {
    let gw = Gateway::start_default().await;
    gw.store().put("f.txt", b"unchanged");
    gw.store().mkdir("dir");

    // Set two, remove a third (absent: not an error): all 200, on a file and a
    // collection; the content is not touched.
    for (path, href) in [("/f.txt", "/f.txt"), ("/dir", "/dir/")] {
        let response = proppatch(&gw, path, PROPPATCH_REQUEST).await;
        assert_eq!(response.path(), href);
        assert_eq!(
            response.names_under(200),
            ["{DAV:}displayname", "{urn:example:x}color", "{urn:example:x}old"],
            "{response:?}"
        );
        assert!(response.propstats.iter().all(|ps| ps.status == 200), "{response:?}");
        let stored = props_of(&gw, path, "<x:color/><D:displayname/><x:old/>").await;
        assert_eq!(
            stored.find("urn:example:x", "color").map(|(s, p)| (s, p.text.as_str())),
            Some((200, "red"))
        );
        assert_eq!(stored.value("displayname"), Some("Mine"));
        assert_eq!(stored.names_under(404), ["{urn:example:x}old"]);
    }
    assert_eq!(gw.store().read("f.txt"), b"unchanged");

    // allprop and propname include them, after the live properties.
    let all = only(gw.propfind("/f.txt", "0", "").await);
    let mut expected: Vec<&str> = FILE_PROPS.to_vec();
    expected.extend(["{DAV:}displayname", "{urn:example:x}color"]);
    expected.sort_unstable();
    assert_eq!(all.names_under(200), expected);
    let names = only(gw.propfind("/f.txt", "0", PROPNAME_REQUEST).await);
    assert_eq!(names.names_under(200), expected);

    // A value is kept as sent: markup and escaped characters included.
    let rich = update(r#"<D:set><D:prop><x:rich>red <x:b>bold</x:b> &amp; &lt;</x:rich></D:prop></D:set>"#);
    assert_eq!(
        proppatch(&gw, "/f.txt", &rich).await.names_under(200),
        ["{urn:example:x}rich"]
    );
    let got = props_of(&gw, "/f.txt", "<x:rich/>").await;
    let (status, value) = got.find("urn:example:x", "rich").unwrap();
    assert_eq!(status, 200);
    assert_eq!(value.text, "red  & <", "{value:?}");
    assert_eq!(
        value.one("urn:example:x", "b").map(|b| b.text.as_str()),
        Ok("bold"),
        "{value:?}"
    );

    // Remove.
    let removed = proppatch(
        &gw,
        "/f.txt",
        &update("<D:remove><D:prop><x:color/></D:prop></D:remove>"),
    )
    .await;
    assert_eq!(removed.names_under(200), ["{urn:example:x}color"]);
    let after = props_of(&gw, "/f.txt", "<x:color/><D:displayname/>").await;
    assert_eq!(after.names_under(404), ["{urn:example:x}color"]);
    assert_eq!(after.value("displayname"), Some("Mine"));

    // All or nothing: a protected live property is 403, the rest 424, and none
    // is stored.
    let mixed = update("<D:set><D:prop><x:other>o</x:other><D:getetag>\"x\"</D:getetag></D:prop></D:set>");
    let refused = proppatch(&gw, "/f.txt", &mixed).await;
    assert_eq!(refused.names_under(403), ["{DAV:}getetag"], "{refused:?}");
    assert_eq!(refused.names_under(424), ["{urn:example:x}other"], "{refused:?}");
    assert_eq!(
        props_of(&gw, "/f.txt", "<x:other/>").await.names_under(404),
        ["{urn:example:x}other"]
    );
    // A value the back-end has no room for (100 KiB): refused (507 or 403), and
    // what was stored before is still there.
    let big = update(&format!(
        "<D:set><D:prop><x:big>{}</x:big></D:prop></D:set>",
        "b".repeat(100 * 1024)
    ));
    let refused = proppatch(&gw, "/f.txt", &big).await;
    assert!(
        refused.propstats.iter().all(|ps| ps.status == 507 || ps.status == 403),
        "{:?}",
        refused.propstats.iter().map(|ps| ps.status).collect::<Vec<_>>()
    );
    let kept = props_of(&gw, "/f.txt", "<x:big/><D:displayname/>").await;
    assert_eq!(kept.names_under(404), ["{urn:example:x}big"]);
    assert_eq!(kept.value("displayname"), Some("Mine"));

    // COPY carries the properties, MOVE keeps them.
    assert_eq!(transfer_status(&gw, "COPY", "/f.txt", "/g.txt", &[]).await, 201);
    assert_eq!(
        props_of(&gw, "/g.txt", "<D:displayname/>").await.value("displayname"),
        Some("Mine")
    );
    assert_eq!(transfer_status(&gw, "MOVE", "/g.txt", "/h.txt", &[]).await, 201);
    assert_eq!(
        props_of(&gw, "/h.txt", "<D:displayname/>").await.value("displayname"),
        Some("Mine")
    );

    for body in [
        "<D:propertyupdate xmlns:D=\"DAV:\">",
        "<D:propertyupdate xmlns:D=\"DAV:\"/>",
        "<propfind xmlns=\"DAV:\"><allprop/></propfind>",
        "",
    ] {
        let r = call(&gw, "PROPPATCH", "/f.txt", &[], Some(body)).await;
        assert_eq!(r.status, 400, "PROPPATCH body {body:?}: {}", r.text());
    }
    let r = call(&gw, "PROPPATCH", "/nope.txt", &[], Some(PROPPATCH_REQUEST)).await;
    assert_eq!(r.status, 404, "PROPPATCH of a missing resource: {}", r.text());
}

#[tokio::test]
async fn mkcol_creates_one_collection() {
    let gw = Gateway::start_default().await;
    gw.store().put("f.txt", b"a file");

    let r = call(&gw, "MKCOL", "/new", &[], None).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(gw.store().is_dir("new"));
    assert!(only(gw.propfind("/new/", "0", "").await).is_collection());
    assert_eq!(call(&gw, "MKCOL", "/slashed/", &[], None).await.status, 201);
    assert!(gw.store().is_dir("slashed"));

    // Only an unmapped URL may be made a collection (RFC 4918 §9.3.1: 405).
    for path in ["/new", "/new/", "/f.txt"] {
        let r = call(&gw, "MKCOL", path, &[], None).await;
        assert_eq!(r.status, 405, "MKCOL {path}: {}", r.text());
    }
    assert_eq!(gw.store().read("f.txt"), b"a file");

    // A missing parent is 409, a body 415; neither creates anything.
    let r = call(&gw, "MKCOL", "/missing/child", &[], None).await;
    assert_eq!(r.status, 409, "{}", r.text());
    let r = call(
        &gw,
        "MKCOL",
        "/with-body",
        &[("Content-Type", "application/xml")],
        Some("<D:mkcol xmlns:D=\"DAV:\"/>"),
    )
    .await;
    assert_eq!(r.status, 415, "{}", r.text());
    assert_eq!(gw.store().names(""), ["f.txt", "new", "slashed"]);
}

#[tokio::test]
async fn copy_files_and_trees() {
    let gw = Gateway::start_default().await;
    let src = random_bytes(10_000);
    gw.store().put("src.txt", &src);
    let original = make_tree(&gw, "tree");
    let to = |path: &str| gw.url(path);

    // New file: 201; onto an existing one: 204 (Overwrite absent or T); F: 412.
    assert_eq!(
        transfer_status(&gw, "COPY", "/src.txt", &to("/copy.txt"), &[]).await,
        201
    );
    assert_eq!(gw.store().read("copy.txt"), src);
    assert_eq!(gw.store().read("src.txt"), src, "COPY changed its source");
    for overwrite in [None, Some("T")] {
        gw.store().put("copy.txt", b"older");
        let headers: Vec<(&str, &str)> = overwrite.iter().map(|o| ("Overwrite", *o)).collect();
        let r = transfer(&gw, "COPY", "/src.txt", &to("/copy.txt"), &headers).await;
        assert_eq!(r.status, 204, "Overwrite {overwrite:?}: {}", r.text());
        assert_eq!(gw.store().read("copy.txt"), src);
    }
    gw.store().put("copy.txt", b"kept");
    let r = transfer(&gw, "COPY", "/src.txt", &to("/copy.txt"), &[("Overwrite", "F")]).await;
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(gw.store().read("copy.txt"), b"kept");

    // Destination as an absolute path, percent-encoded; Depth 0 on a file.
    assert_eq!(
        transfer_status(&gw, "COPY", "/src.txt", "/caf%C3%A9%20copy.txt", &[("Depth", "0")]).await,
        201
    );
    assert_eq!(gw.store().read("caf\u{e9} copy.txt"), src);

    // Refusals: nothing is created or changed.
    let before = gw.store().tree("");
    let other_server = format!("http://{}/x.txt", gw.ftp_addr);
    for (to, headers, status) in [
        (to("/nope/x.txt"), vec![], 409),
        ("http://example.com/x.txt".to_owned(), vec![], 502),
        (other_server, vec![], 502),
        (to("/src.txt"), vec![], 403),
        ("/src.txt".to_owned(), vec![("Overwrite", "T")], 403),
        (to("/y.txt"), vec![("Overwrite", "maybe")], 400),
        (to("/y.txt"), vec![("Depth", "1")], 400),
        ("y.txt".to_owned(), vec![], 400),
    ] {
        let r = transfer(&gw, "COPY", "/src.txt", &to, &headers).await;
        assert_eq!(r.status, status, "COPY to {to:?} {headers:?}: {}", r.text());
    }
    let r = call(&gw, "COPY", "/src.txt", &[], None).await;
    assert_eq!(r.status, 400, "COPY without a Destination: {}", r.text());
    let r = transfer(&gw, "COPY", "/nope.txt", &to("/y.txt"), &[]).await;
    assert_eq!(r.status, 404, "COPY of a missing source: {}", r.text());
    assert_eq!(gw.store().tree(""), before, "a refused COPY changed the storage");

    // A tree: the whole tree (Depth infinity, said or implied).
    for (dest, headers) in [("/tree2", vec![]), ("/tree3", vec![("Depth", "infinity")])] {
        let r = transfer(&gw, "COPY", "/tree", &to(dest), &headers).await;
        assert_eq!(r.status, 201, "COPY /tree to {dest}: {}", r.text());
        assert_eq!(gw.store().tree(&dest[1..]), original, "{dest}");
    }
    assert_eq!(gw.store().tree("tree"), original, "COPY changed its source tree");
    // Depth 0: the collection without its members.
    assert_eq!(
        transfer_status(&gw, "COPY", "/tree/", &to("/shallow/"), &[("Depth", "0")]).await,
        201
    );
    assert!(gw.store().is_dir("shallow"));
    assert_eq!(gw.store().tree("shallow"), Tree::new(), "Depth 0 copied members");

    // Overwrite onto an existing tree replaces it as a whole (its own members go).
    gw.store().put("target/old.txt", b"must go");
    gw.store().put("target/sub/b.bin", b"must be replaced");
    assert_eq!(transfer_status(&gw, "COPY", "/tree", &to("/target"), &[]).await, 204);
    assert_eq!(gw.store().tree("target"), original);
    // A file onto a collection replaces the collection.
    assert_eq!(transfer_status(&gw, "COPY", "/src.txt", &to("/target"), &[]).await, 204);
    assert_eq!(gw.store().read("target"), src);
    // Overwrite F onto a tree: 412 and the tree is intact.
    let r = transfer(&gw, "COPY", "/src.txt", &to("/tree2"), &[("Overwrite", "F")]).await;
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(gw.store().tree("tree2"), original);
}

#[tokio::test]
async fn move_files_and_refusals() {
    let gw = Gateway::start_default().await;
    let data = random_bytes(20_000);
    gw.store().put("m.bin", &data);
    make_tree(&gw, "tree");
    let to = |path: &str| gw.url(path);

    assert_eq!(
        transfer_status(&gw, "MOVE", "/m.bin", &to("/moved.bin"), &[]).await,
        201
    );
    assert!(!gw.store().exists("m.bin"), "MOVE left its source");
    assert_eq!(gw.store().read("moved.bin"), data);

    // Onto an existing file: 204; Overwrite F: 412 and both stay.
    gw.store().put("other.bin", b"replaced");
    assert_eq!(transfer_status(&gw, "MOVE", "/moved.bin", "/other.bin", &[]).await, 204);
    assert_eq!(gw.store().read("other.bin"), data);
    assert!(!gw.store().exists("moved.bin"));
    gw.store().put("stay.bin", b"stays");
    let r = transfer(&gw, "MOVE", "/other.bin", &to("/stay.bin"), &[("Overwrite", "F")]).await;
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(gw.store().read("stay.bin"), b"stays");
    assert_eq!(gw.store().read("other.bin"), data);

    // Refusals change nothing.
    let before = gw.store().tree("");
    for (from, to, headers, status) in [
        ("/other.bin", to("/nope/x.bin"), vec![], 409),
        ("/other.bin", "http://example.com/x.bin".to_owned(), vec![], 502),
        ("/other.bin", to("/other.bin"), vec![], 403),
        ("/tree", to("/tree0"), vec![("Depth", "0")], 400),
        ("/tree", to("/tree1"), vec![("Depth", "1")], 400),
        ("/other.bin", to("/x.bin"), vec![("Overwrite", "no")], 400),
        ("/missing.bin", to("/x.bin"), vec![], 404),
    ] {
        let r = transfer(&gw, "MOVE", from, &to, &headers).await;
        assert_eq!(r.status, status, "MOVE {from} to {to:?} {headers:?}: {}", r.text());
    }
    assert_eq!(gw.store().tree(""), before, "a refused MOVE changed the storage");

    // A tree moves as a whole where the storage renames directories (see
    // local_a_tree_moves_as_a_whole); an object store refuses it up front (403).
    if !storage_kind().renames_dirs() {
        let r = transfer(&gw, "MOVE", "/tree", &to("/tree2"), &[("Depth", "infinity")]).await;
        assert_eq!(
            r.status,
            403,
            "MOVE of a collection on {:?}: {}",
            storage_kind(),
            r.text()
        );
        assert_eq!(
            gw.store().tree(""),
            before,
            "a refused MOVE of a tree changed the storage"
        );
    }
}

#[tokio::test]
async fn local_a_tree_moves_as_a_whole() {
    let gw = Gateway::start_default().await;
    let original = make_tree(&gw, "tree");
    let to = |path: &str| gw.url(path);

    // A tree moves as a whole; onto an existing tree it replaces that tree.
    let r = transfer(&gw, "MOVE", "/tree", &to("/tree2"), &[("Depth", "infinity")]).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(!gw.store().exists("tree"));
    assert_eq!(gw.store().tree("tree2"), original);
    gw.store().put("target/old.txt", b"must go");
    assert_eq!(transfer_status(&gw, "MOVE", "/tree2/", &to("/target/"), &[]).await, 204);
    assert!(!gw.store().exists("tree2"));
    assert_eq!(gw.store().tree("target"), original);
}

/// RFC 4918 §9.8.4 / §9.9.3: with `Overwrite: T` the destination is deleted
/// before the copy or move — which must never happen when the copy or move then
/// cannot be done: a destination that contains the source (an ancestor, or the
/// root), or that lies inside the source. Apache's mod_dav answers such
/// requests with 403 before touching anything; any 4xx will do here, as long as
/// nothing is lost.
#[tokio::test]
async fn copy_and_move_never_delete_what_they_cannot_replace() {
    let gw = Gateway::start_default().await;
    // The same storage before each case: a file at the top and a small tree.
    let reset = || {
        for name in gw.store().names("") {
            gw.store().remove(&name);
        }
        gw.store().put("keep.txt", b"keep me");
        gw.store().put("d/a.txt", b"alpha\n");
        gw.store().put("d/sub/b.bin", b"beta".repeat(1000));
        gw.store().put("d/sub/deeper/c.txt", b"gamma\n");
        gw.store().tree("")
    };

    let mut failures = Vec::new();
    for (method, from, to) in [
        ("COPY", "/d/sub/b.bin", "/d"),
        ("MOVE", "/d/sub/b.bin", "/d"),
        ("COPY", "/d", "/d/sub"),
        ("MOVE", "/d", "/d/sub"),
        ("COPY", "/d/a.txt", "/"),
        ("MOVE", "/d/a.txt", "/"),
        ("COPY", "/d", "/"),
    ] {
        let before = reset();
        let r = transfer(&gw, method, from, &gw.url(to), &[("Overwrite", "T")]).await;
        let after = gw.store().tree("");
        if !(400..500).contains(&r.status) || after != before {
            let lost: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
            failures.push(format!(
                "{method} {from} onto {to} (Overwrite: T) → {} {:?}; lost: {lost:?}",
                r.status,
                r.text().trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "refused or failed, yet the storage changed:\n{}",
        failures.join("\n")
    );
}

/// DELETE of the root collection: refused, and nothing beneath it deleted.
#[tokio::test]
async fn delete_of_the_root_deletes_nothing() {
    let gw = Gateway::start_default().await;
    gw.store().put("keep.txt", b"keep me");
    make_tree(&gw, "d");
    let before = gw.store().tree("");
    let r = call(&gw, "DELETE", "/", &[], None).await;
    assert!((400..500).contains(&r.status), "DELETE /: {} {}", r.status, r.text());
    assert_eq!(
        gw.store().tree(""),
        before,
        "DELETE / answered {} but deleted the storage",
        r.status
    );
}

/// A name that is not UTF-8 can only be made on local disk.
#[tokio::test]
async fn local_a_tree_copy_that_fails_part_way_leaves_no_partial_copy() {
    use std::os::unix::ffi::OsStrExt;
    let gw = Gateway::start_default().await;
    let original = make_tree(&gw, "d");
    // A name that is not UTF-8 cannot be named by any client: the copy stops at
    // it, after some of the tree has been copied.
    let odd = gw.disk("d/sub").join(std::ffi::OsStr::from_bytes(b"zz-\xff"));
    std::fs::write(&odd, b"x").expect("odd name");
    let r = call(&gw, "COPY", "/d", &[("Destination", "/e")], None).await;
    assert!(
        r.status >= 400,
        "COPY of a tree with an entry it cannot copy: {} {}",
        r.status,
        r.text()
    );
    assert!(
        !gw.store().exists("e"),
        "a partial copy was left at /e: {:?}",
        gw.store().tree("")
    );
    std::fs::remove_file(&odd).expect("remove odd name");
    assert_eq!(gw.store().tree("d"), original, "the source changed");
}

#[tokio::test]
async fn local_a_tree_copy_copies_links_as_links_and_never_follows_them() {
    let gw = Gateway::start_default().await;
    let original = make_tree(&gw, "d");
    // A symlink out of the root inside the tree: copied as the link it is (like
    // `cp -r`), never followed, and still refused when used.
    std::os::unix::fs::symlink("/etc/hostname", gw.disk("d/sub/zz-outside")).expect("symlink");
    let r = call(&gw, "COPY", "/d", &[("Destination", "/e")], None).await;
    assert_eq!(r.status, 201, "COPY of a tree holding a link: {}", r.text());
    let copied = std::fs::read_link(gw.disk("e/sub/zz-outside")).expect("the copy holds a link");
    assert_eq!(copied, std::path::Path::new("/etc/hostname"));
    let through = call(&gw, "GET", "/e/sub/zz-outside", &[], None).await;
    assert_eq!(
        through.status,
        403,
        "reading through the copied link: {}",
        through.text()
    );
    std::fs::remove_file(gw.disk("d/sub/zz-outside")).expect("remove symlink");
    assert_eq!(gw.store().tree("d"), original, "the source changed");
}

#[tokio::test]
async fn delete_removes_whole_trees() {
    let gw = Gateway::start_default().await;
    let original = make_tree(&gw, "tree");
    gw.store().put("f.txt", b"x");

    // Any Depth but infinity on a collection is refused (RFC 4918 §9.6.1).
    for depth in ["0", "1"] {
        let r = call(&gw, "DELETE", "/tree", &[("Depth", depth)], None).await;
        assert_eq!(r.status, 400, "DELETE Depth {depth}: {}", r.text());
    }
    assert_eq!(gw.store().tree("tree"), original);

    let r = call(&gw, "DELETE", "/tree/", &[("Depth", "infinity")], None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(!gw.store().exists("tree"));
    assert_eq!(call(&gw, "DELETE", "/tree/", &[], None).await.status, 404);
    assert_eq!(call(&gw, "DELETE", "/f.txt", &[], None).await.status, 204);
    assert_eq!(gw.store().names(""), Vec::<String>::new());
    let r = call(&gw, "PROPFIND", "/tree/", &[("Depth", "0")], None).await;
    assert_eq!(r.status, 404);
}

/// The parts of a `206` (a single part, or `multipart/byteranges`), each checked
/// byte for byte against `data`: `(first, last)` in the order sent.
fn partial_ranges(r: &Reply, data: &[u8]) -> Vec<(u64, u64)> {
    assert_eq!(r.status, 206, "{:?}", r.headers);
    let declared: usize = r
        .header("content-length")
        .unwrap_or_else(|| panic!("a 206 without Content-Length: {:?}", r.headers))
        .parse()
        .unwrap();
    assert_eq!(declared, r.body.len(), "Content-Length is not the body's length");
    let ctype = r.header("content-type").unwrap_or_default();
    let size = data.len() as u64;
    let check = |content_range: Option<&str>, body: &[u8]| {
        let content_range = content_range.unwrap_or_else(|| panic!("a part without Content-Range"));
        let (first, last, total) =
            parse_content_range(content_range).unwrap_or_else(|| panic!("bad Content-Range {content_range:?}"));
        assert_eq!(total, size, "{content_range}");
        assert!(
            body == &data[first as usize..=last as usize],
            "the part {content_range} differs from the file"
        );
        (first, last)
    };
    match multipart_boundary(ctype) {
        None => vec![check(r.header("content-range"), &r.body)],
        Some(boundary) => {
            assert!(
                r.header("content-range").is_none(),
                "a multipart 206 with a Content-Range of its own"
            );
            let parts = parse_multipart(&r.body, &boundary)
                .unwrap_or_else(|| panic!("not a multipart body with boundary {boundary:?}"));
            parts
                .iter()
                .map(|p| check(p.header("content-range"), &p.body))
                .collect()
        }
    }
}

#[tokio::test]
async fn multiple_ranges_are_sent_exactly() {
    let gw = Gateway::start_default().await;
    let data = random_bytes(300_000);
    gw.store().put("r.bin", &data);
    let ranged = |range: &'static str, if_range: Option<String>| {
        let mut request = gw.dav("GET", "/r.bin").header("Range", range);
        if let Some(v) = if_range {
            request = request.header("If-Range", v);
        }
        send(request)
    };
    let full = send(gw.dav("GET", "/r.bin")).await;
    let etag = full.header("etag").unwrap().to_owned();
    let last_modified = full.header("last-modified").unwrap().to_owned();
    let file_type = full.header("content-type").unwrap().to_owned();

    // Four ranges out of order (a suffix among them): four parts in ascending order.
    let r = ranged("bytes=200000-200099, 0-99,1000-1999,-50", None).await;
    let ctype = r.header("content-type").unwrap();
    assert!(ctype.starts_with("multipart/byteranges"), "Content-Type {ctype:?}");
    assert_eq!(
        partial_ranges(&r, &data),
        [(0, 99), (1000, 1999), (200_000, 200_099), (299_950, 299_999)]
    );
    let boundary = multipart_boundary(ctype).unwrap();
    for part in parse_multipart(&r.body, &boundary).unwrap() {
        assert_eq!(part.header("content-type"), Some(file_type.as_str()), "{part:?}");
    }

    // Overlapping and adjacent ranges may be merged; the bytes must be right and
    // cover what was asked.
    let covered: BTreeSet<u64> = partial_ranges(&ranged("bytes=0-99,50-149,150-199", None).await, &data)
        .into_iter()
        .flat_map(|(a, b)| a..=b)
        .collect();
    assert_eq!(covered, (0..=199).collect::<BTreeSet<_>>());

    // An unsatisfiable range among satisfiable ones is dropped; all unsatisfiable: 416.
    assert_eq!(
        partial_ranges(&ranged("bytes=0-9, 400000-400010", None).await, &data),
        [(0, 9)]
    );
    let r = ranged("bytes=400000-, 500000-500010", None).await;
    assert_eq!(r.status, 416, "{}", r.text());
    assert_eq!(r.header("content-range"), Some("bytes */300000"));

    // If-Range: the current strong ETag (or Last-Modified) keeps the ranges; an
    // old ETag, a weak one (RFC 9110 §13.1.5: strong comparison) or an older date
    // gives the whole file.
    let r = ranged("bytes=10-19,30-39", Some(etag.clone())).await;
    assert_eq!(partial_ranges(&r, &data), [(10, 19), (30, 39)]);
    let r = ranged("bytes=10-19", Some(last_modified)).await;
    assert_eq!(partial_ranges(&r, &data), [(10, 19)]);
    for stale in [
        "\"not-the-etag\"".to_owned(),
        format!("W/{etag}"),
        "Thu, 01 Jan 2015 00:00:00 GMT".to_owned(),
    ] {
        let r = ranged("bytes=10-19,30-39", Some(stale.clone())).await;
        assert_eq!(r.status, 200, "If-Range {stale}");
        assert!(r.body == data, "If-Range {stale}: not the whole file");
    }
}

#[tokio::test]
async fn webdav_and_ftp_see_the_same_files() {
    let gw = Gateway::start_default().await;
    let mut ftp = gw.ftp().await;

    // An FTP upload: its PROPFIND length and entity tag are those of GET.
    let data = random_bytes(300_000);
    ftp_put(&mut ftp, "ftp.bin", &data).await;
    let r = only(gw.propfind("/ftp.bin", "0", "").await);
    assert_eq!(r.value("getcontentlength"), Some("300000"));
    let get = send(gw.dav("GET", "/ftp.bin")).await;
    assert_eq!(get.status, 200);
    assert!(get.body == data, "GET differs from the FTP upload");
    assert_eq!(r.value("getetag"), get.header("etag"), "getetag vs the ETag of GET");

    // A tree made over FTP, copied over WebDAV, listed and read over FTP.
    let b = random_bytes(50_000);
    within("MKD", STEP, ftp.mkdir("tree")).await.unwrap();
    within("MKD", STEP, ftp.mkdir("tree/sub")).await.unwrap();
    ftp_put(&mut ftp, "tree/a.txt", b"alpha").await;
    ftp_put(&mut ftp, "tree/sub/b.bin", &b).await;
    assert_eq!(
        transfer_status(&gw, "COPY", "/tree", &gw.url("/tree-copy"), &[]).await,
        201
    );
    let listing = from_mlsd(&within("MLSD", STEP, ftp.mlsd(Some("tree-copy"))).await.unwrap());
    let expected: Listing = [("a.txt", (false, Some(5))), ("sub", (true, None))]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect();
    assert_eq!(listing, expected, "MLSD of the copy");
    assert_eq!(ftp_get(&mut ftp, "tree-copy/sub/b.bin").await, b);
    assert_eq!(ftp_get(&mut ftp, "tree-copy/a.txt").await, b"alpha");

    // A MOVE is seen by FTP: the old name is gone, the new one holds the data.
    assert_eq!(transfer_status(&gw, "MOVE", "/ftp.bin", "/moved.bin", &[]).await, 201);
    let err = within("SIZE", STEP, ftp.size("ftp.bin")).await.unwrap_err();
    assert!(
        matches!(err, suppaftp::FtpError::UnexpectedResponse(ref r) if r.status.code() == 550),
        "SIZE of the moved-away name: {err}"
    );
    assert_eq!(within("SIZE", STEP, ftp.size("moved.bin")).await.unwrap(), 300_000);
    assert!(ftp_get(&mut ftp, "moved.bin").await == data);

    // MKCOL then FTP: CWD works and a file stored there shows at depth 1.
    assert_eq!(call(&gw, "MKCOL", "/made", &[], None).await.status, 201);
    within("CWD", STEP, ftp.cwd("made")).await.unwrap();
    ftp_put(&mut ftp, "inside.txt", b"inside").await;
    within("CWD", STEP, ftp.cwd("/")).await.unwrap();
    let made = by_path(gw.propfind("/made/", "1", "").await);
    assert_eq!(made["/made/inside.txt"].value("getcontentlength"), Some("6"));

    // A WebDAV DELETE of a tree: gone for FTP.
    assert_eq!(call(&gw, "DELETE", "/tree", &[], None).await.status, 204);
    let mut names = within("NLST", STEP, ftp.nlst(None)).await.unwrap();
    names.sort();
    assert_eq!(names, ["made", "moved.bin", "tree-copy"]);
    assert!(
        within("CWD", STEP, ftp.cwd("tree")).await.is_err(),
        "CWD into a deleted tree"
    );
}

#[tokio::test]
async fn an_ftp_upload_in_progress_is_not_in_propfind() {
    let gw = Gateway::start_default().await;
    let data = random_bytes(1 << 20);
    let mut uploader = gw.raw_login().await;
    let mut stream = uploader.start_transfer("STOR pending.bin").await;
    within("first half", STEP, stream.write_all(&data[..1 << 19]))
        .await
        .unwrap();

    let listed = by_path(gw.propfind("/", "1", "").await);
    assert_eq!(listed.keys().collect::<Vec<_>>(), ["/"], "PROPFIND during an upload");
    assert!(!listed.keys().any(|k| k.contains(UPLOAD_TEMP_PREFIX)));
    let r = call(&gw, "PROPFIND", "/pending.bin", &[("Depth", "0")], None).await;
    assert_eq!(r.status, 404, "a partial upload is visible to PROPFIND");

    within("second half", STEP, stream.write_all(&data[1 << 19..]))
        .await
        .unwrap();
    within("end of upload", STEP, stream.shutdown()).await.unwrap();
    drop(stream);
    let (code, text) = uploader.reply().await;
    assert_eq!(code, 226, "{text:?}");
    let r = only(gw.propfind("/pending.bin", "0", "").await);
    assert_eq!(r.value("getcontentlength"), Some("1048576"));
}

/// A gateway with users `reader` [read] and `writer` [read, write] (both at home
/// in /shared), and anonymous read access to /pub.
async fn permission_gateway() -> Gateway {
    let config = format!(
        "users:\n  - {{ name: reader, password_hash: \"{}\", home: /shared, permissions: [read] }}\n  - {{ name: writer, password_hash: \"{}\", home: /shared, permissions: [read, write] }}\nanonymous: {{ enabled: true, home: /pub }}\n",
        hash_password("reader-pw"),
        hash_password("writer-pw")
    );
    let gw = Gateway::start(GatewayOptions::with_config(&config)).await;
    gw.store().put("top.txt", b"top");
    gw.store().put("shared/s.txt", b"shared");
    gw.store().put("shared/t.txt", b"target");
    gw.store().put("shared/dir/x.txt", b"x");
    gw.store().put("pub/p.txt", b"public");
    gw
}

/// A request as `who` (`None`: anonymous) with a text body.
async fn call_as(
    gw: &Gateway,
    who: Option<(&str, &str)>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    crate::support::dav::call_as(gw, who, method, path, headers, body.map(|b| b.as_bytes().to_vec())).await
}

/// Asserts that a `PROPPATCH` changed nothing: `refusal` (403 for a user, 401
/// without credentials) as a whole, or a 207 whose every property is 403.
fn assert_proppatch_refused(r: &Reply, who: &str, refusal: u16) {
    if r.status == 207 {
        for response in r.multistatus(who) {
            assert!(
                response.propstats.iter().all(|ps| ps.status == 403),
                "{who}: PROPPATCH accepted a property: {response:?}"
            );
        }
    } else {
        assert_eq!(r.status, refusal, "{who}: PROPPATCH: {}", r.text());
    }
}

/// What a read-only client gets for a write: 403 for a logged-in user, 401
/// (asking for a login) without credentials, where anonymous is read-only.
fn write_refusal(who: Option<(&str, &str)>) -> u16 {
    if who.is_some() { 403 } else { 401 }
}

#[tokio::test]
async fn webdav_keeps_the_ftp_permissions() {
    let gw = permission_gateway().await;
    let before = gw.store().tree("");

    // Read-only users (reader, and anonymous in /pub) may look, and nothing else
    // (anonymous is asked to log in: 401).
    for (who, file, dir) in [(Some(("reader", "reader-pw")), "/s.txt", "/dir"), (None, "/p.txt", "/")] {
        let name = who.map_or("anonymous", |w| w.0);
        let r = call_as(&gw, who, "PROPFIND", "/", &[("Depth", "1")], None).await;
        let listed = by_path(r.multistatus(&format!("{name} PROPFIND")));
        assert!(listed.contains_key(file), "{name}: {:?}", listed.keys());
        assert_eq!(call_as(&gw, who, "OPTIONS", "/", &[], None).await.status, 204);
        assert_eq!(call_as(&gw, who, "GET", file, &[], None).await.status, 200);
        let dest = gw.url("/new.txt");
        for (method, path, headers, body) in [
            ("PUT", "/new.txt", vec![], Some("x")),
            ("MKCOL", "/newdir", vec![], None),
            ("COPY", file, vec![("Destination", dest.as_str())], None),
            ("MOVE", file, vec![("Destination", dest.as_str())], None),
            ("DELETE", file, vec![], None),
            ("DELETE", dir, vec![], None),
        ] {
            let r = call_as(&gw, who, method, path, &headers, body).await;
            assert_eq!(r.status, write_refusal(who), "{name} {method} {path}: {}", r.text());
        }
    }
    assert_eq!(gw.store().tree(""), before, "a read-only user changed the storage");

    // writer may read and write, so COPY to a new name; replacing an existing
    // target needs delete permission too (Overwrite F: the precondition first).
    let writer = Some(("writer", "writer-pw"));
    let copy = |to: &str, overwrite: &str| {
        let to = gw.url(to);
        let headers = [("Destination", to), ("Overwrite", overwrite.to_owned())];
        let gw = &gw;
        async move {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            call_as(gw, writer, "COPY", "/s.txt", &headers, None).await
        }
    };
    assert_eq!(copy("/c.txt", "T").await.status, 201);
    assert_eq!(gw.store().read("shared/c.txt"), b"shared");
    let r = copy("/t.txt", "T").await;
    assert_eq!(
        r.status,
        403,
        "COPY over a file without delete permission: {}",
        r.text()
    );
    assert_eq!(copy("/t.txt", "F").await.status, 412);
    assert_eq!(gw.store().read("shared/t.txt"), b"target");
    // …but not rename, delete or make collections.
    let dest = gw.url("/m.txt");
    for (method, path, headers) in [
        ("MOVE", "/s.txt", vec![("Destination", dest.as_str())]),
        ("DELETE", "/c.txt", vec![]),
        ("MKCOL", "/newdir", vec![]),
    ] {
        let r = call_as(&gw, writer, method, path, &headers, None).await;
        assert_eq!(r.status, 403, "writer {method} {path}: {}", r.text());
    }
    assert!(gw.store().exists("shared/s.txt") && gw.store().exists("shared/c.txt"));

    // A Destination never leaves the user's home.
    for escape in ["/../esc1.txt", "/%2e%2e/esc2.txt", "/..%2fesc3.txt"] {
        let r = call_as(&gw, writer, "COPY", "/s.txt", &[("Destination", escape)], None).await;
        assert!(
            matches!(r.status, 201 | 400 | 403 | 404 | 409),
            "COPY to {escape}: {} {}",
            r.status,
            r.text()
        );
    }
    let outside: Vec<String> = gw
        .store()
        .names("")
        .into_iter()
        .filter(|n| n.starts_with("esc"))
        .collect();
    assert!(outside.is_empty(), "a COPY left the user's home: {outside:?}");
}

/// A `PROPPATCH` changes what is stored (dead properties), so a user who may
/// not write cannot do it: a read-only user gets 403 and a request without
/// credentials 401 (as a whole, or 403 for every property in a 207), and
/// nothing is stored; a user who may write can.
#[tokio::test]
async fn proppatch_needs_write_permission() {
    let gw = permission_gateway().await;
    let color = r#"<D:propfind xmlns:D="DAV:"><D:prop><x:color xmlns:x="urn:example:x"/></D:prop></D:propfind>"#;
    for (who, file) in [(Some(("reader", "reader-pw")), "/s.txt"), (None, "/p.txt")] {
        let name = who.map_or("anonymous", |w| w.0);
        let r = call_as(&gw, who, "PROPPATCH", file, &[], Some(PROPPATCH_REQUEST)).await;
        assert_proppatch_refused(&r, name, write_refusal(who));
        let r = call_as(&gw, who, "PROPFIND", file, &[("Depth", "0")], Some(color)).await;
        let stored = only(r.multistatus(&format!("{name} PROPFIND")));
        assert_eq!(
            stored.names_under(404),
            ["{urn:example:x}color"],
            "{name}: a refused PROPPATCH stored a property"
        );
    }
    let writer = Some(("writer", "writer-pw"));
    let r = call_as(&gw, writer, "PROPPATCH", "/t.txt", &[], Some(PROPPATCH_REQUEST)).await;
    let response = only(r.multistatus("writer PROPPATCH"));
    // Stored where the back-end keeps dead properties; else refused as
    // properties it cannot store (403 each).
    let stored = if storage_kind().dead_properties() { 200 } else { 403 };
    assert!(response.propstats.iter().all(|ps| ps.status == stored), "{response:?}");
}

/// A user who may not make directories cannot make them by copying a
/// collection either (FTP MKD and WebDAV MKCOL both need `mkdir`; a COPY of a
/// collection creates one directory per collection in the tree).
#[tokio::test]
async fn copying_a_collection_needs_mkdir_permission() {
    let gw = permission_gateway().await;
    let before = gw.store().tree("");
    let dest = gw.url("/dir2");
    let writer = Some(("writer", "writer-pw"));
    for depth in ["infinity", "0"] {
        let r = call_as(
            &gw,
            writer,
            "COPY",
            "/dir",
            &[("Destination", dest.as_str()), ("Depth", depth)],
            None,
        )
        .await;
        assert_eq!(
            r.status,
            403,
            "writer (no mkdir) COPY of a collection, Depth {depth}: {}",
            r.text()
        );
        assert_eq!(
            gw.store().tree(""),
            before,
            "a COPY made a directory without mkdir permission"
        );
    }
}

#[tokio::test]
async fn destinations_are_checked_like_request_paths() {
    let gw = Gateway::start_default().await;
    gw.store().put("f.txt", b"x");
    let outside_before = gw.store().beside_root();

    for dest in ["/a%00b.txt", "/a%ffb.txt", "/a%01b.txt", "/caf%C3.txt"] {
        let r = transfer(&gw, "COPY", "/f.txt", dest, &[]).await;
        assert_eq!(r.status, 400, "COPY to {dest}: {}", r.text());
        let r = transfer(&gw, "MOVE", "/f.txt", &gw.url(dest), &[]).await;
        assert_eq!(r.status, 400, "MOVE to {dest}: {}", r.text());
    }
    assert_eq!(gw.store().names(""), ["f.txt"]);

    // `..` is resolved inside the root, never above it.
    for dest in ["/../../escaped.txt", "/%2e%2e/%2e%2e/escaped.txt"] {
        let r = transfer(&gw, "COPY", "/f.txt", dest, &[]).await;
        assert!(
            matches!(r.status, 201 | 204 | 400 | 403 | 404),
            "COPY to {dest}: {} {}",
            r.status,
            r.text()
        );
    }
    assert_eq!(
        gw.store().beside_root(),
        outside_before,
        "a COPY wrote next to the storage root"
    );
}

/// RFC 9110 §13.2: a write whose precondition fails is 412 and changes nothing.
#[tokio::test]
async fn failed_preconditions_change_nothing() {
    let gw = Gateway::start_default().await;
    gw.store().put("f.txt", b"first");
    let etag = send(gw.dav("HEAD", "/f.txt")).await.header("etag").unwrap().to_owned();
    let stale = "\"not-the-etag\"";
    let long_ago = "Thu, 01 Jan 2015 00:00:00 GMT";
    let before = gw.store().tree("");
    let dest = gw.url("/g.txt");
    for (method, path, headers, body) in [
        ("PUT", "/f.txt", vec![("If-None-Match", "*")], Some("replaced")),
        ("PUT", "/f.txt", vec![("If-Match", stale)], Some("replaced")),
        ("PUT", "/new.txt", vec![("If-Match", "*")], Some("created")),
        ("DELETE", "/f.txt", vec![("If-Match", stale)], None),
        ("DELETE", "/f.txt", vec![("If-Unmodified-Since", long_ago)], None),
        (
            "COPY",
            "/f.txt",
            vec![("Destination", dest.as_str()), ("If-Match", stale)],
            None,
        ),
        (
            "MOVE",
            "/f.txt",
            vec![("Destination", dest.as_str()), ("If-None-Match", etag.as_str())],
            None,
        ),
        ("MKCOL", "/newdir", vec![("If-Match", "*")], None),
    ] {
        let r = call(&gw, method, path, &headers, body).await;
        assert_eq!(r.status, 412, "{method} {path} {headers:?}: {}", r.text());
    }
    assert_eq!(
        gw.store().tree(""),
        before,
        "a write with a failed precondition changed the storage"
    );

    // The same writes with preconditions that hold.
    let r = call(&gw, "PUT", "/new.txt", &[("If-None-Match", "*")], Some("created")).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = call(&gw, "PUT", "/f.txt", &[("If-Match", etag.as_str())], Some("second")).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(gw.store().read("f.txt"), b"second");
    let r = call(&gw, "DELETE", "/new.txt", &[("If-Match", "*")], None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(gw.store().names(""), ["f.txt"]);
}
