//! Fixtures shared by every end-to-end test.
//!
//! - [`Gateway`]: the real `dualgate serve` binary in a child process, listening on
//!   loopback ports chosen by the kernel, with its storage root in a temporary
//!   directory and a passive port window of its own. Killed (and reaped) on drop.
//! - [`RawFtp`]: a byte-exact FTP control connection for protocol-level assertions.
//! - [`raw_http`]: one HTTP/1.1 request written byte for byte (for paths that an URL
//!   library would normalise before sending, such as `/%2e%2e/`).
//! - Small parsers for what the server emits (JSON listings, Prometheus text,
//!   RFC 3339 / HTTP / MDTM dates) and helpers for data, hashing and polling.
//!
//! Every network wait is bounded: [`STEP`] for one reply or one read, [`within`]
//! for longer operations.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::RngCore;
use sha2::{Digest, Sha256};
use suppaftp::tokio::AsyncFtpStream;
use suppaftp::types::FileType;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Longest wait for one FTP reply, one read, one connect.
pub const STEP: Duration = Duration::from_secs(10);
/// Longest wait for the start-up block.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait for one whole transfer of a few MiB.
pub const TRANSFER: Duration = Duration::from_secs(60);
/// Prefix of the server's in-progress upload files (must never be visible).
pub const UPLOAD_TEMP_PREFIX: &str = ".dualgate-upload-";

/// Awaits `fut` for at most `limit`, panicking with `what` when the time is up.
pub async fn within<T>(what: &str, limit: Duration, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

/// Polls `check` every 50 ms until it returns true; panics after `limit`.
pub async fn poll_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("condition not reached within {limit:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------
// The gateway process
// ---------------------------------------------------------------------------

/// How to start a gateway.
#[derive(Debug, Default, Clone)]
pub struct GatewayOptions {
    /// YAML written to a file passed with `-c`; `None` runs the embedded default
    /// config. Listen addresses, passive ports and the root always come from flags.
    pub config: Option<String>,
}

impl GatewayOptions {
    /// Options with this YAML config file.
    pub fn with_config(yaml: &str) -> Self {
        GatewayOptions {
            config: Some(yaml.to_owned()),
        }
    }
}

/// Passive port windows handed out so far in this test process.
static NEXT_WINDOW: AtomicU32 = AtomicU32::new(0);

/// A 200-port window in 40000-59999 that no other gateway of this test run uses
/// (the process id spreads concurrent test runs over different windows too).
fn passive_window() -> RangeInclusive<u16> {
    let slot = NEXT_WINDOW.fetch_add(1, Ordering::Relaxed) + std::process::id() % 100;
    let low = 40_000 + u16::try_from(slot % 100).expect("< 100") * 200;
    low..=low + 199
}

/// A random password for the generated user.
fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..24)
        .map(|_| char::from(ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()]))
        .collect()
}

/// A running `dualgate serve`, killed on drop.
pub struct Gateway {
    child: Child,
    /// Keeps the temporary directory (config and storage root) alive.
    _dir: tempfile::TempDir,
    /// The FTP control listener.
    pub ftp_addr: SocketAddr,
    /// The HTTP listener.
    pub http_addr: SocketAddr,
    /// `http://ADDR` of the HTTP listener (no trailing slash).
    pub http_url: String,
    /// `http://ADDR` of the admin listener (no trailing slash).
    pub admin_url: String,
    /// The storage root on disk.
    pub root: PathBuf,
    /// The login name (the generated user).
    pub user: String,
    /// Its password (given through `DUALGATE_PASSWORD`).
    pub password: String,
    /// The passive port range given to the server.
    pub passive_ports: RangeInclusive<u16>,
    client: reqwest::Client,
    stderr: Arc<Mutex<String>>,
}

/// The addresses found in the start-up block.
#[derive(Default)]
struct StartupBlock {
    ftp: Option<SocketAddr>,
    http: Option<SocketAddr>,
    admin: Option<SocketAddr>,
}

impl StartupBlock {
    /// Reads one line of the block: `  ftp     ftp://ADDR  (...)`,
    /// `  http    http://ADDR/`, `  admin   http://ADDR/metrics`.
    fn take(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        let (Some(label), Some(url)) = (words.next(), words.next()) else {
            return;
        };
        let addr = |prefix: &str, suffix: &str| -> Option<SocketAddr> {
            url.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok()
        };
        match label {
            "ftp" => self.ftp = addr("ftp://", "").or(self.ftp),
            "http" => self.http = addr("http://", "/").or(self.http),
            "admin" => self.admin = addr("http://", "/metrics").or(self.admin),
            _ => {}
        }
    }

    fn complete(&self) -> Option<(SocketAddr, SocketAddr, SocketAddr)> {
        Some((self.ftp?, self.http?, self.admin?))
    }
}

impl Gateway {
    /// Starts a gateway and waits (at most 20 s) for its start-up block.
    pub async fn start(opts: GatewayOptions) -> Gateway {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path().join("data");
        let password = random_password();
        let passive_ports = passive_window();

        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dualgate"));
        cmd.arg("serve");
        if let Some(yaml) = &opts.config {
            let path = dir.path().join("dualgate.yaml");
            std::fs::write(&path, yaml).expect("writing the config file");
            cmd.arg("-c").arg(path);
        }
        cmd.args(["--ftp-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .arg("--root")
            .arg(&root)
            .arg("--passive-ports")
            .arg(format!("{}-{}", passive_ports.start(), passive_ports.end()));
        // Only what this test sets: no DUALGATE_* override from the environment.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DUALGATE_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("DUALGATE_PASSWORD", &password)
            .env("DUALGATE_LOG_LEVEL", "warn")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning dualgate");

        // stdout: lines go to the test until the block is complete; the thread keeps
        // draining afterwards so the child never blocks on a full pipe.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        // stderr (the log): kept, last 64 KiB, for failure messages.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
                if s.len() > 64 * 1024 {
                    let cut = s.len() - 64 * 1024;
                    let cut = (cut..s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(0);
                    s.drain(..cut);
                }
            }
        });

        let mut block = StartupBlock::default();
        let mut seen = Vec::new();
        let found = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = rx.recv().await {
                block.take(&line);
                seen.push(line);
                if let Some(addrs) = block.complete() {
                    return Some(addrs);
                }
            }
            None // stdout closed: the process ended
        })
        .await;
        let (ftp_addr, http_addr, admin_addr) = match found {
            Ok(Some(addrs)) => addrs,
            other => {
                let _ = child.kill();
                let status = child.wait();
                let log = stderr.lock().unwrap_or_else(|e| e.into_inner()).clone();
                panic!(
                    "dualgate did not print its start-up block ({}; exit: {status:?})\nstdout:\n{}\nstderr:\n{log}",
                    if other.is_err() {
                        "timed out after 20 s"
                    } else {
                        "stdout closed"
                    },
                    seen.join("\n")
                );
            }
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(STEP)
            .read_timeout(STEP)
            .build()
            .expect("HTTP client");
        Gateway {
            child,
            _dir: dir,
            ftp_addr,
            http_addr,
            http_url: format!("http://{http_addr}"),
            admin_url: format!("http://{admin_addr}"),
            root,
            user: "dualgate".to_owned(),
            password,
            passive_ports,
            client,
            stderr,
        }
    }

    /// A gateway with the embedded default config.
    pub async fn start_default() -> Gateway {
        Self::start(GatewayOptions::default()).await
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log so far (last 64 KiB), for failure messages.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `root/rel` on disk.
    pub fn disk(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The server's resident set size now, from `/proc/PID/status`.
    pub fn rss_bytes(&self) -> u64 {
        rss_of(self.pid()).expect("VmRSS of the server")
    }

    // --- FTP -------------------------------------------------------------

    /// A raw control connection, greeting read (see [`RawFtp::greeting`]).
    pub async fn raw_ftp(&self) -> RawFtp {
        RawFtp::connect(self.ftp_addr).await
    }

    /// A raw control connection, logged in, in binary mode.
    pub async fn raw_login(&self) -> RawFtp {
        let mut c = self.raw_ftp().await;
        assert_eq!(c.greeting.0, 220, "greeting: {}", c.greeting.1);
        c.login(&self.user, &self.password).await;
        c.expect("TYPE I", 200).await;
        c
    }

    /// A suppaftp client (passive mode), logged in, in binary mode.
    pub async fn ftp(&self) -> AsyncFtpStream {
        let mut ftp = within("FTP connect", STEP, AsyncFtpStream::connect(self.ftp_addr))
            .await
            .expect("FTP connect");
        within("FTP login", STEP, ftp.login(self.user.as_str(), self.password.as_str()))
            .await
            .expect("FTP login");
        within("TYPE I", STEP, ftp.transfer_type(FileType::Binary))
            .await
            .expect("TYPE I");
        ftp
    }

    // --- HTTP ------------------------------------------------------------

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http_url)
    }

    /// A request without credentials.
    pub fn anonymous(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A request with the user's Basic credentials.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.anonymous(method, path)
            .basic_auth(&self.user, Some(&self.password))
    }

    /// `Authorization` header value for [`raw_http`].
    pub fn basic_auth(&self) -> String {
        format!(
            "Basic {}",
            base64(format!("{}:{}", self.user, self.password).as_bytes())
        )
    }

    /// A GET with credentials, answered (headers received) within [`STEP`].
    pub async fn get(&self, path: &str) -> reqwest::Response {
        within(
            &format!("GET {path}"),
            STEP,
            self.request(reqwest::Method::GET, path).send(),
        )
        .await
        .expect("GET")
    }

    /// A PUT of `body` with credentials; returns the status.
    pub async fn put(&self, path: &str, body: Vec<u8>) -> u16 {
        within(
            &format!("PUT {path}"),
            TRANSFER,
            self.request(reqwest::Method::PUT, path).body(body).send(),
        )
        .await
        .expect("PUT")
        .status()
        .as_u16()
    }

    /// A JSON directory listing (`Accept: application/json`), parsed.
    pub async fn json_listing(&self, dir: &str) -> Json {
        let resp = within(
            &format!("GET {dir} (JSON)"),
            STEP,
            self.request(reqwest::Method::GET, dir)
                .header("Accept", "application/json")
                .send(),
        )
        .await
        .expect("GET listing");
        assert_eq!(resp.status().as_u16(), 200, "JSON listing of {dir}");
        let body = within("listing body", STEP, resp.text()).await.expect("listing body");
        Json::parse(&body).unwrap_or_else(|e| panic!("the listing is not valid JSON ({e}): {body}"))
    }

    // --- admin -----------------------------------------------------------

    /// `GET /metrics` on the admin port, as text.
    pub async fn metrics(&self) -> String {
        let resp = within(
            "GET /metrics",
            STEP,
            self.client.get(format!("{}/metrics", self.admin_url)).send(),
        )
        .await
        .expect("GET /metrics");
        assert_eq!(resp.status().as_u16(), 200, "/metrics");
        within("metrics body", STEP, resp.text()).await.expect("metrics body")
    }

    /// `GET path` on the admin port: status and body.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let resp = within(
            &format!("admin GET {path}"),
            STEP,
            self.client.get(format!("{}{path}", self.admin_url)).send(),
        )
        .await
        .expect("admin GET");
        let status = resp.status().as_u16();
        (
            status,
            within("admin body", STEP, resp.text()).await.expect("admin body"),
        )
    }

    /// Polls `/metrics` until `check` accepts it (at most [`STEP`]); the last text.
    /// On timeout, panics with the last exposition for diagnosis.
    pub async fn wait_metrics(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let text = self.metrics().await;
            if check(&text) {
                return text;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("metrics never showed {what} within {STEP:?}; last exposition:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until no FTP session is open on the server any more (its sessions
    /// gauge is 0): whatever those sessions were doing has been finished or aborted.
    pub async fn wait_ftp_sessions_closed(&self) {
        self.wait_metrics("no open FTP session", |text| {
            metric_value(text, "dualgate_sessions_active", &[("protocol", "ftp")]).unwrap_or(0.0) == 0.0
        })
        .await;
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() && !self.log().trim().is_empty() {
            // Shown by the test harness next to the failure.
            #[allow(clippy::print_stderr, reason = "diagnostics of a failed test")]
            {
                eprintln!("--- dualgate log (pid {}) ---\n{}", self.child.id(), self.log());
            }
        }
    }
}

/// Names of in-progress upload files anywhere under `root` (symlinks not followed).
pub fn upload_temp_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(UPLOAD_TEMP_PREFIX) {
                found.push(entry.path());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(entry.path());
            }
        }
    }
    found
}

/// `VmRSS` of a process in bytes.
pub fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Samples a process's RSS every 100 ms on its own thread and keeps the peak.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            loop {
                peak = peak.max(rss_of(pid).unwrap_or(0));
                if flag.load(Ordering::Relaxed) {
                    return peak;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        RssSampler {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; the peak RSS seen, in bytes.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map_or(0, |t| t.join().expect("sampler thread"))
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------
// FTP
// ---------------------------------------------------------------------------

/// A raw FTP control connection.
pub struct RawFtp {
    reader: AsyncBufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// The last command sent, for failure messages.
    last_sent: String,
    /// The first reply (`220` normally, `421` when refused).
    pub greeting: (u16, String),
}

impl RawFtp {
    /// Connects and reads the first reply.
    pub async fn connect(addr: SocketAddr) -> RawFtp {
        let stream = within("FTP connect", STEP, TcpStream::connect(addr))
            .await
            .expect("FTP connect");
        let (r, w) = stream.into_split();
        let mut c = RawFtp {
            reader: AsyncBufReader::new(r),
            writer: w,
            last_sent: "(greeting)".to_owned(),
            greeting: (0, String::new()),
        };
        c.greeting = c.reply().await;
        c
    }

    /// Sends one command line (CRLF appended).
    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// Sends bytes exactly as given.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.last_sent = String::from_utf8_lossy(bytes).trim_end().chars().take(80).collect();
        within("FTP send", STEP, self.writer.write_all(bytes))
            .await
            .expect("FTP send");
    }

    /// Reads one complete reply, multi-line (`ddd-` … `ddd `) included: the code
    /// and the whole text (lines joined with `\n`, without CRLF).
    pub async fn reply(&mut self) -> (u16, String) {
        let first = self.line().await;
        let code = reply_code(&first).unwrap_or_else(|| panic!("not an FTP reply line: {first:?}"));
        let mut text = first.clone();
        if first.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            loop {
                let line = self.line().await;
                text.push('\n');
                text.push_str(&line);
                if line.starts_with(&end) {
                    break;
                }
            }
        }
        (code, text)
    }

    async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        let what = format!("the reply to {:?}", self.last_sent);
        let n = within(&what, STEP, self.reader.read_until(b'\n', &mut buf))
            .await
            .unwrap_or_else(|e| panic!("reading {what}: {e}"));
        assert!(
            n > 0,
            "the server closed the control connection instead of sending {what}"
        );
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Sends `line` and reads its reply.
    pub async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(line).await;
        self.reply().await
    }

    /// Sends `line`, asserts the reply code, returns the reply text.
    pub async fn expect(&mut self, line: &str, code: u16) -> String {
        let (got, text) = self.cmd(line).await;
        assert_eq!(got, code, "{line:?} → {text:?}");
        text
    }

    /// USER + PASS, expecting 331 and 230.
    pub async fn login(&mut self, user: &str, password: &str) {
        self.expect(&format!("USER {user}"), 331).await;
        self.expect(&format!("PASS {password}"), 230).await;
    }

    /// `PASV`: the advertised data address.
    pub async fn pasv(&mut self) -> SocketAddr {
        let text = self.expect("PASV", 227).await;
        parse_pasv(&text).unwrap_or_else(|| panic!("unparsable 227 reply: {text:?}"))
    }

    /// `EPSV`: the data port on the control connection's address.
    pub async fn epsv_port(&mut self) -> u16 {
        let text = self.expect("EPSV", 229).await;
        parse_epsv(&text).unwrap_or_else(|| panic!("unparsable 229 reply: {text:?}"))
    }

    /// Asserts that the server closes the connection (EOF or reset) within [`STEP`]
    /// without sending anything more.
    pub async fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        let r = within("FTP close", STEP, self.reader.read_to_end(&mut rest)).await;
        assert!(
            rest.is_empty(),
            "more bytes before the close: {:?}",
            String::from_utf8_lossy(&rest)
        );
        if let Err(e) = r {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "closing: {e}");
        }
    }
}

/// The code of a reply's first line (`ddd ` or `ddd-`).
fn reply_code(line: &str) -> Option<u16> {
    let b = line.as_bytes();
    if b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && (b[3] == b' ' || b[3] == b'-') {
        line[..3].parse().ok()
    } else if b.len() == 3 && b.iter().all(u8::is_ascii_digit) {
        line.parse().ok()
    } else {
        None
    }
}

/// `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` → the address.
pub fn parse_pasv(text: &str) -> Option<SocketAddr> {
    let inner = text.split('(').nth(1)?.split(')').next()?;
    let n: Vec<u16> = inner.split(',').map(|s| s.trim().parse().ok()).collect::<Option<_>>()?;
    if n.len() != 6 || n.iter().any(|v| *v > 255) {
        return None;
    }
    let ip = std::net::Ipv4Addr::new(n[0] as u8, n[1] as u8, n[2] as u8, n[3] as u8);
    Some(SocketAddr::from((ip, n[4] * 256 + n[5])))
}

/// `229 Entering Extended Passive Mode (|||port|)` → the port.
pub fn parse_epsv(text: &str) -> Option<u16> {
    let inner = text.split('(').nth(1)?.split(')').next()?;
    inner.strip_prefix("|||")?.strip_suffix('|')?.parse().ok()
}

/// Connects a data connection within [`STEP`].
pub async fn data_connect(addr: SocketAddr) -> TcpStream {
    within("data connect", STEP, TcpStream::connect(addr))
        .await
        .expect("data connect")
}

/// Reads a data connection to EOF within `limit`.
pub async fn read_all(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    within("reading a data connection", limit, stream.read_to_end(&mut out))
        .await
        .expect("reading a data connection");
    out
}

/// STOR with suppaftp: writes `data` and reads the completion reply.
pub async fn ftp_put(ftp: &mut AsyncFtpStream, name: &str, data: &[u8]) {
    within(&format!("STOR {name}"), TRANSFER, async {
        let mut up = ftp.put_with_stream(name).await.expect("STOR accepted");
        up.write_all(data).await.expect("sending the upload");
        up.finish().await.expect("STOR completed (226)");
    })
    .await;
}

/// RETR with suppaftp: the whole file.
pub async fn ftp_get(ftp: &mut AsyncFtpStream, name: &str) -> Vec<u8> {
    within(&format!("RETR {name}"), TRANSFER, async {
        let mut down = ftp.retr_as_stream(name).await.expect("RETR accepted");
        let mut out = Vec::new();
        down.read_to_end(&mut out).await.expect("receiving the download");
        down.finish().await.expect("RETR completed (226)");
        out
    })
    .await
}

// ---------------------------------------------------------------------------
// HTTP by hand
// ---------------------------------------------------------------------------

/// A response read by [`raw_http`].
#[derive(Debug)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one HTTP/1.1 request with `target` exactly as given (no normalisation)
/// and `Connection: close`, and reads the whole response.
pub async fn raw_http(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> RawResponse {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut stream = within("HTTP connect", STEP, TcpStream::connect(addr))
        .await
        .expect("HTTP connect");
    within("HTTP send", STEP, stream.write_all(req.as_bytes()))
        .await
        .expect("HTTP send");
    let mut raw = Vec::new();
    within("HTTP response", STEP, stream.read_to_end(&mut raw))
        .await
        .expect("HTTP response");
    parse_http_response(&raw, method == "HEAD").unwrap_or_else(|| {
        panic!(
            "unparsable HTTP response to {method} {target}: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

fn parse_http_response(raw: &[u8], head: bool) -> Option<RawResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head_text = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head_text.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head {
        Vec::new()
    } else if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Some(RawResponse { status, headers, body })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Standard base64 with padding.
pub fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Data and hashing
// ---------------------------------------------------------------------------

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::rng().fill_bytes(&mut v);
    v
}

/// SHA-256 as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------
// Prometheus text
// ---------------------------------------------------------------------------

/// One sample of the Prometheus text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// Parses the samples of a Prometheus text exposition (comments skipped).
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name_end, labels, rest) = match line.find('{') {
            Some(open) => {
                let (labels, after) =
                    parse_labels(&line[open + 1..]).unwrap_or_else(|| panic!("bad label set in metrics line {line:?}"));
                (open, labels, after)
            }
            None => {
                let sp = line.find(' ').unwrap_or(line.len());
                (sp, BTreeMap::new(), &line[sp..])
            }
        };
        let value = rest.split_whitespace().next().unwrap_or("");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in metrics line {line:?}")),
        };
        out.push(Sample {
            name: line[..name_end].to_owned(),
            labels,
            value,
        });
    }
    out
}

/// `a="x",b="y"} rest` → the labels and `rest`.
fn parse_labels(s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_owned();
        let mut chars = rest[eq + 1..].char_indices();
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut value = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => {
                    end = Some(eq + 1 + i + 1);
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(key, value);
        rest = &rest[end?..];
    }
}

/// The value of the sample `name` whose labels include all of `labels`, summed
/// over the samples that match (`None` when none does).
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = parse_metrics(text)
        .into_iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v)))
        .map(|s| s.value)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

// ---------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn unix(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    let valid = (1..=12).contains(&mo) && (1..=31).contains(&d) && h < 24 && mi < 60 && s < 61;
    valid.then(|| days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

fn digits(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Strict RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SS[.frac]Z`) → Unix seconds.
pub fn parse_rfc3339_utc(s: &str) -> Option<i64> {
    let body = s.strip_suffix('Z')?;
    let (date, time) = body.split_once('T')?;
    let d: Vec<&str> = date.split('-').collect();
    let (time, frac) = time.split_once('.').unwrap_or((time, "0"));
    digits(frac)?;
    let t: Vec<&str> = time.split(':').collect();
    if d.len() != 3 || t.len() != 3 || d[0].len() != 4 || [d[1], d[2], t[0], t[1], t[2]].iter().any(|x| x.len() != 2) {
        return None;
    }
    unix(
        digits(d[0])?,
        digits(d[1])?,
        digits(d[2])?,
        digits(t[0])?,
        digits(t[1])?,
        digits(t[2])?,
    )
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) → Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let w: Vec<&str> = s.split(' ').collect();
    if w.len() != 6 || !w[0].ends_with(',') || w[5] != "GMT" {
        return None;
    }
    let month = MONTHS.iter().position(|m| *m == w[2])? as i64 + 1;
    let t: Vec<&str> = w[4].split(':').collect();
    if t.len() != 3 {
        return None;
    }
    unix(
        digits(w[3])?,
        month,
        digits(w[1])?,
        digits(t[0])?,
        digits(t[1])?,
        digits(t[2])?,
    )
}

/// MDTM value (`YYYYMMDDHHMMSS[.frac]`, UTC) → Unix seconds.
pub fn parse_mdtm(s: &str) -> Option<i64> {
    let (main, frac) = s.split_once('.').unwrap_or((s, "0"));
    digits(frac)?;
    if main.len() != 14 {
        return None;
    }
    digits(main)?;
    unix(
        digits(&main[0..4])?,
        digits(&main[4..6])?,
        digits(&main[6..8])?,
        digits(&main[8..10])?,
        digits(&main[10..12])?,
        digits(&main[12..14])?,
    )
}

/// A file's modification time on disk, in whole Unix seconds.
pub fn mtime_secs(path: &Path) -> i64 {
    let m = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("mtime of {}: {e}", path.display()));
    let secs = m.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    i64::try_from(secs).expect("mtime fits")
}

/// Now, in Unix seconds.
pub fn now_secs() -> i64 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    i64::try_from(secs).expect("now fits")
}

// ---------------------------------------------------------------------------
// JSON (strict, small)
// ---------------------------------------------------------------------------

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, members in order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// Parses a complete JSON text (RFC 8259); anything else is an error.
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut p = JsonParser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing data at byte {}", p.i));
        }
        Ok(v)
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The elements of an array.
    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Arr(v) => Some(v),
            _ => None,
        }
    }

    /// The string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The numeric value.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> Result<(), String> {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(format!("expected {lit:?} at byte {}", self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') => self.eat("true").map(|()| Json::Bool(true)),
            Some(b'f') => self.eat("false").map(|()| Json::Bool(false)),
            Some(b'n') => self.eat("null").map(|()| Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(format!("unexpected input at byte {}", self.i)),
        }
    }

    fn object(&mut self) -> Result<Json, String> {
        self.i += 1;
        let mut members = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Json::Obj(members));
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return Err(format!("expected a key at byte {}", self.i));
            }
            let key = self.string()?;
            self.ws();
            self.eat(":")?;
            let v = self.value()?;
            members.push((key, v));
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Json::Obj(members));
                }
                _ => return Err(format!("expected , or }} at byte {}", self.i)),
            }
        }
    }

    fn array(&mut self) -> Result<Json, String> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Json::Arr(items));
        }
        loop {
            items.push(self.value()?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                _ => return Err(format!("expected , or ] at byte {}", self.i)),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
        let h = std::str::from_utf8(h).map_err(|e| e.to_string())?;
        self.i += 4;
        u32::from_str_radix(h, 16).map_err(|e| e.to_string())
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.i) else {
                return Err("unterminated string".into());
            };
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("bad escape")?;
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                self.eat("\\u")?;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err("bad surrogate pair".into());
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(cp).ok_or("bad \\u escape")?
                        }
                        _ => return Err(format!("bad escape at byte {}", self.i)),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..0x20 => return Err(format!("raw control character in a string at byte {}", self.i)),
                b => out.push(b),
            }
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let s = p.i;
            while p.s.get(p.i).is_some_and(u8::is_ascii_digit) {
                p.i += 1;
            }
            p.i > s
        };
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        if self.s.get(self.i) == Some(&b'0') {
            self.i += 1;
        } else if !digits(self) {
            return Err(format!("bad number at byte {start}"));
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return Err(format!("bad fraction at byte {start}"));
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return Err(format!("bad exponent at byte {start}"));
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
        text.parse().map(Json::Num).map_err(|e| format!("{e}"))
    }
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn helpers_parse_what_they_claim() {
        assert_eq!(base64(b"dualgate:pw"), "ZHVhbGdhdGU6cHc=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(parse_rfc3339_utc("1994-11-06T08:49:37Z"), Some(784_111_777));
        assert_eq!(parse_rfc3339_utc("1994-11-06T08:49:37+00:00"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_mdtm("19941106084937"), Some(784_111_777));
        assert_eq!(parse_mdtm("19941106084937.123"), Some(784_111_777));
        assert_eq!(
            parse_pasv("227 Entering Passive Mode (127,0,0,1,156,64)."),
            Some("127.0.0.1:40000".parse().unwrap())
        );
        assert_eq!(
            parse_epsv("229 Entering Extended Passive Mode (|||40000|)"),
            Some(40000)
        );
        let j = Json::parse(r#"[{"name":"a\"b","size":12,"is_dir":false,"x":null}]"#).unwrap();
        assert_eq!(j.as_array().unwrap()[0].get("name").unwrap().as_str(), Some("a\"b"));
        assert!(Json::parse("[1,]").is_err());
        assert!(Json::parse("{a:1}").is_err());
        let m = "# TYPE x counter\nx_total{a=\"1\",b=\"q\\\"\"} 3\ny 2.5\n";
        assert_eq!(metric_value(m, "x_total", &[("b", "q\"")]), Some(3.0));
        assert_eq!(metric_value(m, "y", &[]), Some(2.5));
        let r = parse_http_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            false,
        )
        .unwrap();
        assert_eq!(r.body, b"abc");
    }
}
