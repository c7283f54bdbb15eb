//! PROXY protocol v1 and v2 from a trusted load balancer (127.0.0.2 here) on the FTP
//! control connection, the passive data connection and HTTP: the header's client
//! address counts everywhere (passive peer check, per-network PASV address,
//! connection limits); a trusted peer without a header and a header from an
//! untrusted peer (127.0.0.3) are refused.

use std::net::IpAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::http::base64;
use crate::support::{Gateway, GatewayOptions, RawFtp, connect_from, read_all, within};

const CONFIG: &str = "proxy_protocol: { trusted_networks: [\"127.0.0.2/32\"] }\n\
ftp: { public_address_by_network: [ { network: \"203.0.113.0/24\", address: 198.51.100.7 } ] }\n\
limits: { max_connections_per_address: 2 }\n";

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn v1(client: &str, port: u16) -> Vec<u8> {
    format!("PROXY TCP4 {client} 127.0.0.1 {port} 21\r\n").into_bytes()
}

fn v2(client: [u8; 4], port: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&client);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&port.to_be_bytes());
    h.extend_from_slice(&80u16.to_be_bytes());
    h
}

#[tokio::test]
async fn ftp_control_and_passive_data_through_a_trusted_proxy() {
    let gw = Gateway::start(GatewayOptions::with_config(CONFIG)).await;
    gw.store().put("f.txt", b"through the proxy");
    let mut c = RawFtp::connect_with_header(ip(2), gw.ftp_addr, &v1("203.0.113.5", 40000)).await;
    assert_eq!(c.greeting.0, 220);
    c.login(&gw.user, &gw.password).await;
    // The client's network decides the advertised address: the header was believed.
    let pasv = c.pasv().await;
    assert_eq!(
        pasv.ip().to_string(),
        "198.51.100.7",
        "PASV for a client in 203.0.113.0/24"
    );
    let data_addr = std::net::SocketAddr::new(gw.ftp_addr.ip(), pasv.port());

    // The proxy relays a data connection for another client: refused. Then the
    // right one (v2 this time) gets the file.
    let mut wrong = connect_from(ip(2), data_addr).await;
    wrong.write_all(&v1("203.0.113.9", 40001)).await.unwrap();
    let mut right = connect_from(ip(2), data_addr).await;
    right.write_all(&v2([203, 0, 113, 5], 40002)).await.unwrap();
    c.send("RETR f.txt").await;
    assert_eq!(c.reply().await.0, 150);
    assert_eq!(
        read_all(&mut right, Duration::from_secs(10)).await,
        b"through the proxy"
    );
    assert_eq!(c.reply().await.0, 226);
    let mut sink = Vec::new();
    let _ = within(
        "the impostor is closed",
        Duration::from_secs(5),
        wrong.read_to_end(&mut sink),
    )
    .await;
    assert!(sink.is_empty(), "the impostor got data");

    // Limits count the header's address: two per client, whatever the proxy.
    let second = RawFtp::connect_with_header(ip(2), gw.ftp_addr, &v1("203.0.113.5", 40003)).await;
    assert_eq!(second.greeting.0, 220);
    let third = RawFtp::connect_with_header(ip(2), gw.ftp_addr, &v1("203.0.113.5", 40004)).await;
    assert_eq!(third.greeting.0, 421, "a third connection of 203.0.113.5");
    let other = RawFtp::connect_with_header(ip(2), gw.ftp_addr, &v1("203.0.113.6", 40005)).await;
    assert_eq!(other.greeting.0, 220, "another client behind the same proxy");
}

#[tokio::test]
async fn headers_are_required_from_trusted_peers_and_refused_from_others() {
    let gw = Gateway::start(GatewayOptions::with_config(CONFIG)).await;
    // A trusted peer that sends something else: closed without a greeting.
    let mut no_header = connect_from(ip(2), gw.ftp_addr).await;
    no_header.write_all(b"USER x\r\n").await.unwrap();
    let mut got = Vec::new();
    let _ = within(
        "a trusted peer without a header is closed",
        Duration::from_secs(10),
        no_header.read_to_end(&mut got),
    )
    .await;
    assert!(
        got.is_empty(),
        "greeted without a header: {:?}",
        String::from_utf8_lossy(&got)
    );

    // An untrusted peer claiming to be someone else: 421 and closed.
    let mut c = RawFtp::connect_from(ip(3), gw.ftp_addr).await;
    assert_eq!(c.greeting.0, 220);
    c.send("PROXY TCP4 203.0.113.5 127.0.0.1 40000 21").await;
    assert_eq!(c.reply().await.0, 421);
    c.expect_closed().await;

    // HTTP: a trusted proxy's request (v2 header) is served; an untrusted header is a bad request.
    let auth = format!("Basic {}", base64(format!("{}:{}", gw.user, gw.password).as_bytes()));
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n");
    let mut proxied = connect_from(ip(2), gw.http_addr).await;
    proxied.write_all(&v2([203, 0, 113, 7], 50000)).await.unwrap();
    proxied.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    within(
        "the proxied HTTP response",
        Duration::from_secs(10),
        proxied.read_to_end(&mut response),
    )
    .await
    .unwrap();
    assert!(
        response.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&response[..response.len().min(80)])
    );
    let mut untrusted = connect_from(ip(3), gw.http_addr).await;
    // One write: the server may answer 400 and close as soon as it sees the header
    // line, so a second write could meet a closed socket.
    let mut bytes = v1("203.0.113.7", 50001);
    bytes.extend_from_slice(request.as_bytes());
    let _ = untrusted.write_all(&bytes).await;
    let mut response = Vec::new();
    let _ = within(
        "the untrusted HTTP response",
        Duration::from_secs(10),
        untrusted.read_to_end(&mut response),
    )
    .await;
    assert!(
        !response.starts_with(b"HTTP/1.1 200"),
        "a header from an untrusted peer was accepted"
    );
}
