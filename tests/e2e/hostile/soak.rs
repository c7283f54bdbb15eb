//! The soak (issue 17): idle and active sessions over FTP and HTTP for a while,
//! with the server's memory, descriptors, threads and sessions sampled.
//!
//! Active sessions run round trips verified by hash: even ones upload over FTP
//! and read back over HTTP, odd ones PUT over HTTP and read back over FTP, 1 KiB to
//! 1 MiB (log-uniform), each on a file of its own (overwritten, so the disk stays
//! small). Idle sessions log in (FTP) or make one request (HTTP keep-alive), then
//! send nothing; the server closes them all at once when the idle timeout (a
//! third of the run) passes, and they come back at once — the stampede that
//! showed a jump in memory before.
//!
//! CI runs 20 s with 100 idle and 10 active sessions. The long form:
//! `DUALGATE_SOAK_SECS=600 DUALGATE_SOAK_IDLE=500 DUALGATE_SOAK_ACTIVE=50 cargo test
//! --test e2e soak -- --nocapture` (`DUALGATE_SOAK_BLOCKING=N` sets the server's
//! `limits.max_blocking_threads`; the server inherits `MALLOC_ARENA_MAX` and the like) (each sample is printed as a line; the slope of
//! RSS over the second half of the run is asserted under 1 MB/min when the run
//! lasts 5 minutes or more). At the end: every session closed, passive ports
//! given back, descriptors and blocking threads back near their baseline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::http::base64;
use crate::support::{
    Gateway, GatewayOptions, RawFtp, TRANSFER, ftp_get, ftp_put, metric_value, raw_request, sha256_hex, within,
};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// A number from `/proc/PID/status` (`Threads:`, `VmRSS:` in kB).
fn proc_status(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// One sample of the server.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: f64,
    rss_mib: f64,
    fds: u64,
    threads: u64,
}

fn sample(pid: u32, start: Instant) -> Sample {
    Sample {
        at: start.elapsed().as_secs_f64(),
        rss_mib: proc_status(pid, "VmRSS:") as f64 / 1024.0,
        fds: open_fds(pid),
        threads: proc_status(pid, "Threads:"),
    }
}

/// Least-squares slope of RSS in MiB per minute.
fn slope_mib_per_min(samples: &[Sample]) -> f64 {
    let n = samples.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (
        samples.iter().map(|s| s.at).sum::<f64>() / n,
        samples.iter().map(|s| s.rss_mib).sum::<f64>() / n,
    );
    let cov: f64 = samples.iter().map(|s| (s.at - mx) * (s.rss_mib - my)).sum();
    let var: f64 = samples.iter().map(|s| (s.at - mx).powi(2)).sum();
    if var == 0.0 { 0.0 } else { cov / var * 60.0 }
}

/// `/metrics` over a connection of its own (`Connection: close`): a pooled
/// keep-alive connection that the admin server closes just as a sample is sent
/// failed a long run with `IncompleteMessage`.
async fn metrics_once(gw: &Gateway) -> String {
    let addr = gw
        .admin_url
        .trim_start_matches("http://")
        .parse()
        .expect("admin address");
    let resp = raw_request(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(resp.status, 200, "/metrics");
    String::from_utf8(resp.body).expect("UTF-8 metrics")
}

/// Holds one idle session open, opening it again whenever the server closes it.
async fn idle_holder(gw: Arc<Gateway>, ftp: bool, stop: Arc<AtomicBool>, reopened: Arc<AtomicU64>) {
    let auth = format!("Basic {}", base64(format!("{}:{}", gw.user, gw.password).as_bytes()));
    while !stop.load(Ordering::Relaxed) {
        let mut stream = if ftp {
            let mut c = RawFtp::connect(gw.ftp_addr).await;
            c.login(&gw.user, &gw.password).await;
            c.into_stream()
        } else {
            let Ok(mut s) = TcpStream::connect(gw.http_addr).await else {
                return;
            };
            let req = format!("HEAD / HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n");
            if s.write_all(req.as_bytes()).await.is_err() {
                continue;
            }
            let mut head = Vec::new();
            let mut b = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut b).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&b[..n]),
                }
            }
            s
        };
        // Idle until the server closes (its idle timeout) or the soak ends.
        let mut sink = [0u8; 512];
        loop {
            tokio::select! {
                r = stream.read(&mut sink) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {} // FTP's 421 before the close
                },
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                }
            }
        }
        reopened.fetch_add(1, Ordering::Relaxed);
    }
}

/// One active session: round trips until `stop`; latencies in seconds.
async fn active(gw: Arc<Gateway>, k: u64, seed: u64, stop: Arc<AtomicBool>) -> (u64, Vec<f64>) {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(k));
    let mut ftp = gw.ftp().await;
    // A client of its own: its keep-alive connections close when the session ends
    // (the gateway's shared client would keep them pooled past the end of the soak).
    let http = reqwest::Client::builder().no_proxy().build().expect("HTTP client");
    let url = format!("{}/soak-{k}.bin", gw.http_url);
    let name = format!("soak-{k}.bin");
    let (mut trips, mut lat) = (0, Vec::new());
    while !stop.load(Ordering::Relaxed) {
        let len = 2f64.powf(rng.random_range(10.0..=20.0)) as usize;
        let mut data = vec![0u8; len];
        rng.fill_bytes(&mut data);
        let t = Instant::now();
        let back = if k.is_multiple_of(2) {
            ftp_put(&mut ftp, &name, &data).await;
            lat.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let get = http.get(&url).basic_auth(&gw.user, Some(&gw.password)).send();
            let resp = within("GET", TRANSFER, get).await.expect("GET");
            assert_eq!(resp.status().as_u16(), 200, "GET {name}");
            let body = within("GET body", TRANSFER, resp.bytes())
                .await
                .expect("GET body")
                .to_vec();
            lat.push(t.elapsed().as_secs_f64());
            body
        } else {
            let put = http
                .put(&url)
                .basic_auth(&gw.user, Some(&gw.password))
                .body(data.clone())
                .send();
            let status = within("PUT", TRANSFER, put).await.expect("PUT").status().as_u16();
            assert!(status == 201 || status == 204, "PUT {name}: {status}");
            lat.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let body = ftp_get(&mut ftp, &name).await;
            lat.push(t.elapsed().as_secs_f64());
            body
        };
        assert_eq!(
            sha256_hex(&back),
            sha256_hex(&data),
            "round trip of {len} bytes on {name}"
        );
        trips += 1;
    }
    let _ = ftp.quit().await;
    (trips, lat)
}

/// Local disk only (`local_`): with a back-end of its own connections (an S3
/// client's or an upstream FTP pool's, kept open on purpose) the descriptor
/// count at the end is not the server's sessions' to judge.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_soak_idle_and_active_sessions() {
    let secs = env_u64("DUALGATE_SOAK_SECS", 20);
    let idle = env_u64("DUALGATE_SOAK_IDLE", 100);
    let actives = env_u64("DUALGATE_SOAK_ACTIVE", 10);
    let seed = env_u64("DUALGATE_SOAK_SEED", 17);
    let idle_timeout = (secs / 3).max(5);
    // limits.max_blocking_threads of the server (its default when unset).
    let blocking = std::env::var("DUALGATE_SOAK_BLOCKING")
        .map(|n| format!(", max_blocking_threads: {n}"))
        .unwrap_or_default();
    let gw = Arc::new(
        Gateway::start(GatewayOptions {
            config: Some(format!(
                "limits: {{ idle_timeout: {idle_timeout}s, max_connections: {}, max_connections_per_address: {}{blocking} }}\n",
                idle + 3 * actives + 100,
                idle + 3 * actives + 100
            )),
            ..GatewayOptions::default()
        })
        .await,
    );
    let pid = gw.pid();
    let start = Instant::now();
    let base = sample(pid, start);
    println!(
        "soak: {secs} s, {idle} idle and {actives} active sessions, idle timeout {idle_timeout} s; baseline {base:?}"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let reopened = Arc::new(AtomicU64::new(0));
    let holders: Vec<_> = (0..idle)
        .map(|i| tokio::spawn(idle_holder(gw.clone(), i % 2 == 0, stop.clone(), reopened.clone())))
        .collect();
    let workers: Vec<_> = (0..actives)
        .map(|k| tokio::spawn(active(gw.clone(), k, seed, stop.clone())))
        .collect();
    let mut samples = Vec::new();
    let every = Duration::from_secs(if secs >= 120 { 10 } else { 2 });
    while start.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(every).await;
        let s = sample(pid, start);
        let m = metrics_once(&gw).await;
        let sessions = |p: &str| metric_value(&m, "dualgate_sessions_active", &[("protocol", p)]).unwrap_or(0.0);
        println!(
            "t={:>5.0}s rss={:>6.1} MiB fds={:>4} threads={:>3} sessions ftp={} http={} passive={} idle-reopened={}",
            s.at,
            s.rss_mib,
            s.fds,
            s.threads,
            sessions("ftp"),
            sessions("http"),
            metric_value(&m, "dualgate_passive_ports_in_use", &[]).unwrap_or(0.0),
            reopened.load(Ordering::Relaxed)
        );
        samples.push(s);
    }
    stop.store(true, Ordering::Relaxed);
    let (mut trips, mut lat) = (0, Vec::new());
    for w in workers {
        let (t, l) = w.await.expect("active session");
        trips += t;
        lat.extend(l);
    }
    for h in holders {
        h.await.expect("idle session");
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    let second_half: Vec<Sample> = samples.iter().copied().filter(|s| s.at >= secs as f64 / 2.0).collect();
    let slope = slope_mib_per_min(&second_half);
    let peak_threads = samples.iter().map(|s| s.threads).max().unwrap_or(0);
    println!(
        "soak: {trips} verified round trips, {} transfers, p50 {:.3} s, p99 {:.3} s, max {:.3} s; RSS slope over the second half {slope:.2} MiB/min; peak threads {peak_threads}; idle sessions reopened {}",
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat.last().copied().unwrap_or(0.0),
        reopened.load(Ordering::Relaxed)
    );
    assert!(trips >= actives, "only {trips} round trips");

    // Everything given back.
    gw.wait_metrics("no session and no passive port left", |t| {
        ["ftp", "http"]
            .iter()
            .all(|p| metric_value(t, "dualgate_sessions_active", &[("protocol", p)]).unwrap_or(0.0) == 0.0)
            && metric_value(t, "dualgate_passive_ports_in_use", &[]).unwrap_or(0.0) == 0.0
    })
    .await;
    // Idle blocking threads end after tokio's 10 s keep-alive.
    let mut end = sample(pid, start);
    for _ in 0..30 {
        if end.fds <= base.fds + 4 && end.threads <= base.threads + 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        end = sample(pid, start);
    }
    println!("soak: end {end:?}");
    assert!(
        end.fds <= base.fds + 4,
        "descriptors {} at the end, {} at the start",
        end.fds,
        base.fds
    );
    assert!(
        end.threads <= base.threads + 4,
        "threads {} at the end, {} at the start",
        end.threads,
        base.threads
    );
    assert_eq!(gw.panics_seen(), 0, "the server panicked; log:\n{}", gw.log());
    if secs >= 300 {
        assert!(slope < 1.0, "RSS grows {slope:.2} MiB/min over the second half");
    }
}
