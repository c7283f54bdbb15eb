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

/// Found on review (the campaign's slow readers drop their streams before it
/// shows): an HTTP/2 client that keeps a stream's window closed leaves the
/// socket writable, so the connection's write timer never starts, and hyper,
/// waiting for the window, never looks at the body again: the stream, its
/// buffers and its transfer were held until the client left. Now the wait
/// for the client to take the next piece is bounded by `limits.data_timeout`:
/// the transfer is logged as aborted, counted as a response timeout, and the
/// connection is closed.
#[tokio::test]
async fn an_http2_stream_whose_window_stays_closed_ends_its_connection_after_the_data_timeout() {
    use std::time::{Duration, Instant};

    use bytes::Bytes;

    use crate::support::{STEP, metric_value, poll_until, random_bytes, within};

    let gw = Gateway::start(GatewayOptions {
        log_level: Some("info"),
        ..GatewayOptions::with_config("limits: { data_timeout: 1s }\n")
    })
    .await;
    gw.store().put("big.bin", random_bytes(4 << 20));
    let auth = format!("Basic {}", base64(format!("{}:{}", gw.user, gw.password).as_bytes()));
    let tcp = tokio::net::TcpStream::connect(gw.http_addr).await.unwrap();
    let mut builder = h2::client::Builder::new();
    builder.initial_window_size(0);
    let (send, conn) = within("h2 handshake", STEP, builder.handshake::<_, Bytes>(tcp))
        .await
        .unwrap();
    let driver = tokio::spawn(conn);
    let mut send = within("an h2 stream slot", STEP, send.ready()).await.unwrap();
    let get = http::Request::get("http://127.0.0.1/big.bin")
        .header("authorization", &auth)
        .body(())
        .unwrap();
    let (response, _) = send.send_request(get, true).unwrap();
    // The head needs no window; the body gets none.
    let response = within("the response head", STEP, response).await.unwrap();
    assert_eq!(response.status(), 200);
    let started = Instant::now();
    let mut body = response.into_body();
    let end = within("the end of the stalled stream", STEP, body.data()).await;
    assert!(
        !matches!(end, Some(Ok(ref d)) if !d.is_empty()),
        "data came through a closed window: {end:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "ended after {:?}, before the data timeout",
        started.elapsed()
    );
    // The connection is gone.
    within("the connection's end", STEP, driver).await.unwrap().ok();
    gw.wait_metrics("the response timeout", |text| {
        metric_value(
            text,
            "dualgate_session_timeouts_total",
            &[("protocol", "http"), ("phase", "response")],
        )
        .is_some_and(|v| v >= 1.0)
    })
    .await;
    // The log is read from the server's stderr as it comes: wait for the lines.
    poll_until("the stalled transfer and the close in the log", STEP, || {
        let log = gw.log();
        let both = log.contains("the client took nothing of the response")
            && log.contains("a response took nothing within the data timeout");
        async move { both }
    })
    .await;
}
