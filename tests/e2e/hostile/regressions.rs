//! What the hostile-input campaign found, one test each, so that it stays fixed.

use super::http2;
use crate::support::http::base64;
use crate::support::{Gateway, GatewayOptions, put_stalling_file};

/// Found by the campaign: a line over `limits.max_command_line` sent while a
/// transfer ran was dropped without a reply (outside a transfer it gets `500`), so
/// a client that counts its replies waited forever. Now it is answered `500` in
/// its turn, after the transfer's reply, like any line sent ahead.
#[tokio::test]
async fn an_over_long_line_sent_during_a_transfer_is_answered_in_its_turn() {
    let gw = Gateway::start(GatewayOptions::with_config("limits: { max_command_line: 512 }\n")).await;
    put_stalling_file(gw.store(), "big.bin");
    let mut c = gw.raw_login().await;
    let _data = c.start_transfer("RETR big.bin").await;
    // The client reads nothing, so the transfer stalls; then a line too long, then ABOR.
    c.send(&format!("SIZE {}", "x".repeat(2000))).await;
    c.send("ABOR").await;
    let codes = [c.reply().await.0, c.reply().await.0, c.reply().await.0];
    assert_eq!(codes, [426, 500, 226], "the transfer's end, the long line, ABOR");
    c.expect("NOOP", 200).await;
}

/// Found by the campaign's HTTP/2 part: `http.max_headers` ("more gets 431") was
/// enforced by hyper on HTTP/1.x only; over HTTP/2 a request with 282 fields was
/// served. Now the front-end counts them (a `cookie` split into crumbs, as HTTP/2
/// clients may send it, counts as one field).
#[tokio::test]
async fn http2_requests_over_max_headers_get_431() {
    let gw = Gateway::start(GatewayOptions::with_config("http: { max_headers: 20 }\n")).await;
    let auth = format!("Basic {}", base64(format!("{}:{}", gw.user, gw.password).as_bytes()));
    let fields = |n: usize, name: &str| -> Vec<(String, String)> {
        (0..n).map(|i| (format!("{name}{i}"), "v".to_owned())).collect()
    };
    // authorization is the 20th field: served; one more: refused.
    let (status, _) = http2::get(gw.http_addr, &auth, "/", &fields(19, "x-f"))
        .await
        .expect("h2 GET");
    assert_eq!(status, 200, "20 fields");
    let (status, _) = http2::get(gw.http_addr, &auth, "/", &fields(20, "x-f"))
        .await
        .expect("h2 GET");
    assert_eq!(status, 431, "21 fields");
    let crumbs: Vec<(String, String)> = (0..60).map(|i| ("cookie".to_owned(), format!("c{i}=1"))).collect();
    let (status, _) = http2::get(gw.http_addr, &auth, "/", &crumbs).await.expect("h2 GET");
    assert_eq!(status, 200, "60 cookie crumbs are one Cookie header");
    // HTTP/1.1 as before: hyper refuses the 21st line.
    let many: Vec<(String, String)> = fields(20, "x-f");
    let headers: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut all = headers.clone();
    all.push(("Authorization", &auth));
    assert_eq!(
        crate::support::raw_http(gw.http_addr, "GET", "/", &all).await.status,
        431
    );
}
