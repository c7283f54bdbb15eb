//! `ftpload`: the FTP load client of dualgate's benchmarks.
//!
//! A client written in Python (threads in a few processes) spends about half a
//! millisecond of client CPU per transaction; on a 2-core machine shared with the
//! server it saturates before a fast server does. This client does the
//! transactions with one async task per client on a small tokio runtime, so that
//! the server, not the client, is what is measured (`bench/run.sh` runs it for its
//! `conc` and `login` tests; `bench/smoke.sh` and `bench/upstream.sh` too):
//!
//! - `conc`: N clients loop connect, USER/PASS, TYPE I, PASV, RETR of a small
//!   file (read to the end and its length checked), QUIT — for a fixed time.
//! - `login`: W workers loop connect, USER/PASS, TYPE I, QUIT.
//! - `bad-login`: W workers loop connect, USER, a wrong PASS (530), QUIT — the
//!   cost of a password check that no cache answers (a first login).
//!
//! Every network wait has a timeout; a failed transaction counts as an error and
//! the client backs off 10 ms. It prints one JSON
//! object: transactions per second (completed inside the window), latency
//! percentiles, errors, the client's own CPU per transaction and, given the
//! server's PID, the server process tree's CPU per transaction.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

mod proc_stats;

/// What each client loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Op {
    /// Connect, log in, RETR the small file, QUIT.
    Conc,
    /// Connect, log in, QUIT.
    Login,
    /// Connect, USER, PASS with a wrong password (530 expected), QUIT: every try
    /// pays the server's full password check, as a first login does on a server
    /// that caches verified logins. Turn the server's login throttling off for it.
    BadLogin,
}

/// FTP load client (loopback only).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// What to loop.
    op: Op,
    /// Server address (a loopback address).
    #[arg(long, default_value = "127.0.0.1:31021")]
    addr: SocketAddr,
    /// Login name.
    #[arg(long, default_value = "ftpbench")]
    user: String,
    /// Password.
    #[arg(long, default_value = "ftpbench")]
    password: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 200)]
    clients: usize,
    /// Length of the measured window, in seconds.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// File to RETR (`conc`).
    #[arg(long, default_value = "/small.bin")]
    file: String,
    /// Its expected size in bytes (`conc`); a shorter or longer read is an error.
    #[arg(long, default_value_t = 10 * 1024)]
    size: u64,
    /// Timeout of every single network wait, in seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Client runtime threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The server's PID: its process tree's CPU time is reported.
    #[arg(long)]
    pid: Option<u32>,
    /// A label copied into the output.
    #[arg(long, default_value = "")]
    label: String,
}

/// One control connection.
struct Control {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    line: String,
    timeout: Duration,
}

impl Control {
    async fn connect(addr: SocketAddr, timeout: Duration) -> anyhow::Result<Self> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .context("connect timed out")??;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut c = Control {
            reader: BufReader::with_capacity(1024, r),
            writer: w,
            line: String::with_capacity(128),
            timeout,
        };
        c.expect(2).await.context("greeting")?;
        Ok(c)
    }

    /// Reads one reply (multi-line ones whole); returns its code.
    async fn reply(&mut self) -> anyhow::Result<u16> {
        let first = self.read_line().await?;
        let code: u16 = first
            .get(..3)
            .and_then(|c| c.parse().ok())
            .context("not an FTP reply")?;
        if first.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            while !self.read_line().await?.starts_with(&end) {}
        }
        Ok(code)
    }

    async fn read_line(&mut self) -> anyhow::Result<String> {
        self.line.clear();
        let n = tokio::time::timeout(self.timeout, self.reader.read_line(&mut self.line))
            .await
            .context("reply timed out")??;
        if n == 0 {
            bail!("connection closed by the server");
        }
        Ok(self.line.clone())
    }

    /// Expects a reply of class `class` (1–5).
    async fn expect(&mut self, class: u16) -> anyhow::Result<u16> {
        let code = self.reply().await?;
        if code / 100 != class {
            bail!("expected {class}xx, got {}", self.line.trim_end());
        }
        Ok(code)
    }

    async fn send(&mut self, line: &str) -> anyhow::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        tokio::time::timeout(self.timeout, self.writer.write_all(&bytes))
            .await
            .context("send timed out")??;
        Ok(())
    }

    async fn cmd(&mut self, line: &str, class: u16) -> anyhow::Result<u16> {
        self.send(line).await?;
        self.expect(class).await
    }

    async fn login(&mut self, user: &str, password: &str) -> anyhow::Result<()> {
        self.send(&format!("USER {user}")).await?;
        if self.reply().await? / 100 == 3 {
            self.cmd(&format!("PASS {password}"), 2).await?;
        }
        self.cmd("TYPE I", 2).await?;
        Ok(())
    }

    /// `PASV`: the advertised data address.
    async fn pasv(&mut self) -> anyhow::Result<SocketAddr> {
        self.cmd("PASV", 2).await?;
        let inner = self
            .line
            .split('(')
            .nth(1)
            .and_then(|s| s.split(')').next())
            .context("bad PASV reply")?;
        let n: Vec<u8> = inner
            .split(',')
            .map(|s| s.trim().parse())
            .collect::<Result<_, _>>()
            .context("bad PASV reply")?;
        let [a, b, c, d, p1, p2] = n[..] else {
            bail!("bad PASV reply");
        };
        Ok(SocketAddr::from(([a, b, c, d], u16::from_be_bytes([p1, p2]))))
    }
}

/// One transaction of `op`.
async fn transaction(args: &Args) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(args.timeout);
    let mut c = Control::connect(args.addr, timeout).await?;
    if args.op == Op::BadLogin {
        c.cmd(&format!("USER {}", args.user), 3).await?;
        c.cmd(&format!("PASS {}-wrong", args.password), 5).await?;
        c.cmd("QUIT", 2).await?;
        return Ok(());
    }
    c.login(&args.user, &args.password).await?;
    if args.op == Op::Conc {
        let data_addr = c.pasv().await?;
        let mut data = tokio::time::timeout(timeout, TcpStream::connect(data_addr))
            .await
            .context("data connect timed out")??;
        c.cmd(&format!("RETR {}", args.file), 1).await?;
        let mut buf = [0u8; 16 * 1024];
        let mut got = 0u64;
        loop {
            let n = tokio::time::timeout(timeout, data.read(&mut buf))
                .await
                .context("data read timed out")??;
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        drop(data);
        c.expect(2).await.context("end of transfer")?;
        if got != args.size {
            bail!("RETR returned {got} bytes, expected {}", args.size);
        }
    }
    c.cmd("QUIT", 2).await?;
    Ok(())
}

/// What one client saw.
#[derive(Default)]
struct ClientResult {
    /// (end time, latency) of each completed transaction.
    done: Vec<(Instant, Duration)>,
    errors: u64,
    samples: Vec<String>,
}

async fn client(args: Arc<Args>, start: Instant, deadline: Instant, stop: Arc<AtomicBool>) -> ClientResult {
    tokio::time::sleep_until(start.into()).await;
    let mut r = ClientResult::default();
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        match transaction(&args).await {
            Ok(()) => r.done.push((Instant::now(), t0.elapsed())),
            Err(e) => {
                r.errors += 1;
                if r.samples.len() < 3 {
                    r.samples.push(format!("{e:#}"));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    r
}

fn percentile(sorted: &[Duration], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted.get(rank).map(|d| d.as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    if !args.addr.ip().is_loopback() {
        bail!("ftpload only targets loopback addresses");
    }
    proc_stats::raise_nofile_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    let start = Instant::now() + Duration::from_millis(500);
    let window = Duration::from_secs(args.seconds);
    let deadline = start + window;
    let stop = Arc::new(AtomicBool::new(false));
    let server_cpu0 = args.pid.map(proc_stats::tree_cpu_seconds);
    let client_cpu0 = proc_stats::self_cpu_seconds();
    let results: Vec<ClientResult> = rt.block_on(async {
        let tasks: Vec<_> = (0..args.clients)
            .map(|_| tokio::spawn(client(args.clone(), start, deadline, stop.clone())))
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            // A client is at most one transaction (a few timeouts) past the deadline.
            out.push(t.await.unwrap_or_default());
        }
        out
    });
    let server_cpu = args
        .pid
        .map(proc_stats::tree_cpu_seconds)
        .zip(server_cpu0)
        .map(|(b, a)| b - a);
    let client_cpu = proc_stats::self_cpu_seconds() - client_cpu0;

    let all: Vec<(Instant, Duration)> = results.iter().flat_map(|r| r.done.iter().copied()).collect();
    let in_window = all.iter().filter(|(end, _)| *end <= deadline).count();
    let mut lats: Vec<Duration> = all.iter().map(|(_, l)| *l).collect();
    lats.sort_unstable();
    let errors: u64 = results.iter().map(|r| r.errors).sum();
    let samples: Vec<&String> = results.iter().flat_map(|r| r.samples.iter()).take(5).collect();
    let total = all.len().max(1) as f64;
    let report = serde_json::json!({
        "label": args.label,
        "op": format!("{:?}", args.op).to_lowercase(),
        "clients": args.clients,
        "seconds": args.seconds,
        "tx": in_window,
        "late_tx": all.len() - in_window,
        "tx_per_s": in_window as f64 / window.as_secs_f64(),
        "errors": errors,
        "error_samples": samples,
        "p50_ms": percentile(&lats, 50.0),
        "p99_ms": percentile(&lats, 99.0),
        "max_ms": lats.last().map(|d| d.as_secs_f64() * 1000.0),
        "client_cpu_ms_per_tx": client_cpu * 1000.0 / total,
        "server_cpu_ms_per_tx": server_cpu.map(|s| s * 1000.0 / total),
    });
    println!("{report}");
    Ok(())
}
