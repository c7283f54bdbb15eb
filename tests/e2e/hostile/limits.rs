//! Resource limits under attack (issue 17): slowloris on FTP and HTTP, passive
//! port exhaustion by PASV without connecting, many connections from one address,
//! and a flood of first-time logins that each cost an argon2 check. In each, the
//! attacker comes from 127.0.0.2 (or 127.0.1.x, many addresses), a well-behaved
//! client from 127.0.0.1 is served within its limits while the attack runs, and
//! the server says in its log and metrics what it refused.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::mib;
use crate::support::http::base64;
use crate::support::{
    Gateway, GatewayOptions, RawFtp, RssSampler, STEP, connect_from, ftp_get, ftp_put, metric_value, raw_http_from,
    read_all, within,
};

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A well-behaved FTP client (127.0.0.1): logs in, stores and reads back a file.
async fn ftp_client_is_served(gw: &Gateway, name: &str) {
    within("a well-behaved FTP client", Duration::from_secs(15), async {
        let mut ftp = gw.ftp().await;
        ftp_put(&mut ftp, name, b"well behaved").await;
        assert_eq!(ftp_get(&mut ftp, name).await, b"well behaved");
        let _ = ftp.quit().await;
    })
    .await;
}

/// A well-behaved HTTP client (127.0.0.1): a GET of the root listing.
async fn http_client_is_served(gw: &Gateway) {
    let resp = gw.get("/").await;
    assert_eq!(resp.status().as_u16(), 200, "well-behaved GET /");
}

/// Sends `bytes` one byte every `gap` until the server closes the connection;
/// how long that took, and whether it closed at all within `limit`.
async fn dribble(local: IpAddr, addr: std::net::SocketAddr, bytes: Vec<u8>, gap: Duration) -> Duration {
    let started = Instant::now();
    let mut s = connect_from(local, addr).await;
    let limit = Duration::from_secs(20);
    let closed = tokio::time::timeout(limit, async {
        let mut sink = [0u8; 4096];
        for b in bytes.iter().cycle() {
            tokio::select! {
                r = s.read(&mut sink) => match r {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {} // the greeting, a 421, a 408: keep reading until the close
                },
                () = tokio::time::sleep(gap) => {
                    if s.write_all(&[*b]).await.is_err() {
                        return;
                    }
                }
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a slowloris connection was still open after {limit:?}");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ftp_slowloris_is_cut_at_the_login_timeout() {
    let gw = Gateway::start(GatewayOptions {
        config: Some("limits: { login_timeout: 2s, idle_timeout: 2s, max_connections_per_address: 30 }\n".into()),
        log_level: Some("info"),
        ..GatewayOptions::default()
    })
    .await;
    let addr = gw.ftp_addr;
    let attack: Vec<_> = (0..20)
        .map(|_| {
            tokio::spawn(dribble(
                ATTACKER,
                addr,
                b"USER dualgate".to_vec(),
                Duration::from_millis(150),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    ftp_client_is_served(&gw, "slowloris.txt").await;
    for a in attack {
        let held = a.await.expect("slowloris task");
        assert!(
            held < Duration::from_secs(6),
            "a dribbled control line held its connection {held:?}"
        );
    }
    // The counter is bumped just after the socket closes: wait for the last one.
    gw.wait_metrics("20 login timeouts counted", |t| {
        metric_value(
            t,
            "dualgate_session_timeouts_total",
            &[("protocol", "ftp"), ("phase", "login")],
        )
        .unwrap_or(0.0)
            >= 20.0
    })
    .await;
    gw.wait_for_log("control connection closed: timeout").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_slowloris_is_cut_at_the_idle_timeout() {
    let gw = Gateway::start(GatewayOptions {
        config: Some("limits: { idle_timeout: 2s, max_connections_per_address: 30 }\n".into()),
        log_level: Some("info"),
        ..GatewayOptions::default()
    })
    .await;
    let addr = gw.http_addr;
    let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec();
    let attack: Vec<_> = (0..20)
        .map(|_| tokio::spawn(dribble(ATTACKER, addr, head.clone(), Duration::from_millis(150))))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    http_client_is_served(&gw).await;
    for a in attack {
        let held = a.await.expect("slowloris task");
        assert!(
            held < Duration::from_secs(8),
            "dribbled headers held their connection {held:?}"
        );
    }
    // The counter is bumped just after the socket closes: wait for the last one.
    gw.wait_metrics("20 request-head timeouts counted", |t| {
        metric_value(
            t,
            "dualgate_session_timeouts_total",
            &[("protocol", "http"), ("phase", "request_head")],
        )
        .unwrap_or(0.0)
            >= 20.0
    })
    .await;
    gw.wait_for_log("request head not complete within the idle timeout")
        .await;
    http_client_is_served(&gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passive_ports_cannot_be_exhausted_by_pasv_without_connecting() {
    let gw = Gateway::start(GatewayOptions {
        passive_port_count: Some(8),
        log_level: Some("warn"),
        ..GatewayOptions::default()
    })
    .await;
    // 12 sessions from one address each take a port and never connect to it.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..12 {
        let mut c = RawFtp::connect_from(ATTACKER, gw.ftp_addr).await;
        c.login(&gw.user, &gw.password).await;
        let (code, _) = c.cmd("PASV").await;
        match code {
            227 => {}
            425 => refused += 1,
            other => panic!("PASV answered {other}"),
        }
        held.push(c);
    }
    assert!(refused >= 4, "one address took {} of 8 passive ports", 12 - refused);
    // Someone else still gets ports, and transfers.
    ftp_client_is_served(&gw, "pasv.txt").await;
    let mut other = RawFtp::connect(gw.ftp_addr).await;
    other.login(&gw.user, &gw.password).await;
    let mut data = other.start_transfer("RETR pasv.txt").await;
    assert_eq!(read_all(&mut data, STEP).await, b"well behaved");
    let text = gw.metrics().await;
    let counted = metric_value(&text, "dualgate_passive_refusals_total", &[("reason", "per_address")]);
    assert_eq!(counted, Some(f64::from(refused)), "refusals counted");
    gw.wait_for_log("PASV/EPSV refused").await;
    // The ports come back when the attacker goes.
    drop(held);
    drop(data);
    drop(other);
    gw.wait_metrics("passive ports all given back", |t| {
        metric_value(t, "dualgate_passive_ports_in_use", &[]).unwrap_or(0.0) == 0.0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_connections_from_one_address_are_refused_and_others_served() {
    let gw = Gateway::start(GatewayOptions {
        config: Some("limits: { max_connections_per_address: 10 }\n".into()),
        log_level: Some("warn"),
        ..GatewayOptions::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..10 {
        let c = RawFtp::connect_from(ATTACKER, gw.ftp_addr).await;
        assert_eq!(c.greeting.0, 220);
        held.push(c);
    }
    // The 11th and later, over either protocol, are refused at once.
    for _ in 0..5 {
        let c = RawFtp::connect_from(ATTACKER, gw.ftp_addr).await;
        assert_eq!(c.greeting.0, 421, "over the per-address limit: {:?}", c.greeting);
    }
    let resp = raw_http_from(Some(ATTACKER), gw.http_addr, "GET", "/", &[]).await;
    assert_eq!(resp.status, 503);
    // Another address is served on both.
    ftp_client_is_served(&gw, "many.txt").await;
    http_client_is_served(&gw).await;
    let text = gw.metrics().await;
    let count = |p: &str| {
        metric_value(
            &text,
            "dualgate_connection_refusals_total",
            &[("protocol", p), ("reason", "per_address")],
        )
        .unwrap_or(0.0)
    };
    assert_eq!((count("ftp"), count("http")), (5.0, 1.0), "refusals counted");
    gw.wait_for_log("connection refused: connection limit reached").await;
    drop(held);
}

/// Wrong first-time logins in the flood.
const FLOOD: u32 = 80;

/// One GET with wrong credentials from `local`; its status. Waits as long as the
/// queue of argon2 checks takes (each costs tens of milliseconds, more in a debug
/// build on a busy machine), at most two minutes.
async fn queued_login(local: IpAddr, addr: std::net::SocketAddr, auth: String) -> u16 {
    let mut s = connect_from(local, addr).await;
    let req = format!("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n");
    within("sending a flooded login", STEP, s.write_all(req.as_bytes()))
        .await
        .expect("send");
    let mut raw = Vec::new();
    within(
        "a flooded login's answer",
        Duration::from_secs(120),
        s.read_to_end(&mut raw),
    )
    .await
    .expect("answer");
    let line = String::from_utf8_lossy(&raw[..raw.len().min(12)]).into_owned();
    line.get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("status line {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_argon2_flood_of_first_time_logins_leaves_memory_bounded_and_cached_clients_served() {
    let gw = Gateway::start(GatewayOptions {
        log_level: Some("warn"),
        config: Some("limits: { max_connections_per_address: 200 }\n".into()),
        ..GatewayOptions::default()
    })
    .await;
    // The well-behaved client has logged in before: its credentials are cached.
    http_client_is_served(&gw).await;
    let baseline = gw.rss_bytes();
    let sampler = RssSampler::start(gw.pid());
    // 40 addresses, 2 wrong first-time logins each (under the throttle's delay),
    // all at once: 80 argon2 checks queued, answered one per core at a time.
    let addr = gw.http_addr;
    let flood: Vec<_> = (0..FLOOD)
        .map(|i| {
            let local = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 2 + (i / 2) as u8));
            let auth = format!("Basic {}", base64(format!("user{i}:guess{i}").as_bytes()));
            tokio::spawn(queued_login(local, addr, auth))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // While the checks queue, the cached client gets in at once on both protocols.
    let started = Instant::now();
    http_client_is_served(&gw).await;
    let mut ftp = gw.raw_login().await;
    ftp.expect("PWD", 257).await;
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(2),
        "a cached login waited {waited:?} behind the flood"
    );
    let mut statuses = Vec::new();
    for f in flood {
        statuses.push(
            within("a flooded login", Duration::from_secs(120), f)
                .await
                .expect("flood task"),
        );
    }
    assert!(statuses.iter().all(|s| *s == 401), "wrong logins: {statuses:?}");
    let peak = sampler.stop();
    println!(
        "argon2 flood: RSS baseline {:.1} MiB, peak {:.1} MiB",
        mib(baseline),
        mib(peak)
    );
    // At most one 19 MiB argon2 working set per core, reused.
    assert!(
        peak < baseline + (128 << 20),
        "RSS peak {peak} with baseline {baseline}"
    );
    let text = gw.metrics().await;
    let failures = metric_value(
        &text,
        "dualgate_logins_total",
        &[("protocol", "http"), ("result", "failure")],
    );
    assert!(
        failures.unwrap_or(0.0) >= f64::from(FLOOD),
        "failed logins counted: {failures:?}"
    );
}
