//! Content types from file names.

use proto_http::mime::content_type_for;

#[test]
fn content_types_table() {
    let cases = [
        ("index.html", "text/html; charset=utf-8"),
        ("notes.txt", "text/plain; charset=utf-8"),
        ("style.CSS", "text/css; charset=utf-8"),
        ("dir/sub/data.csv", "text/csv; charset=utf-8"),
        ("photo.png", "image/png"),
        ("photo.JPG", "image/jpeg"),
        ("doc.pdf", "application/pdf"),
        ("data.json", "application/json"),
        ("archive.tar.gz", "application/gzip"),
        ("noextension", "application/octet-stream"),
        ("weird.zzzzqq", "application/octet-stream"),
        ("", "application/octet-stream"),
        (".hidden", "application/octet-stream"),
    ];
    for (name, want) in cases {
        assert_eq!(content_type_for(name), want, "{name:?}");
    }
}
