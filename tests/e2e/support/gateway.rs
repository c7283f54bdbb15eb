//! The gateway process: `dualgate serve` started in a child process on loopback
//! ports chosen by the kernel, found through the start-up block it prints, and
//! killed (and reaped) on drop, with its log shown when a test fails.
//!
//! How to talk to it lives with each protocol: [`ftp`](super::ftp),
//! [`http`](super::http), [`metrics`](super::metrics) (the admin port) and
//! [`memory`](super::memory). What it serves is its [`TestStore`]
//! ([`Gateway::store`]): local disk, or a prefix of an object store (see
//! [`storage`](super::storage)).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::RngCore;
use tokio::sync::mpsc::UnboundedReceiver;

use super::storage::TestStore;
use super::{STEP, sha256_hex};

/// Longest wait for the start-up block.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How much of the server's log is kept for failure messages.
const LOG_TAIL: usize = 64 * 1024;
/// Prefix of the server's in-progress upload files (must never be visible).
pub const UPLOAD_TEMP_PREFIX: &str = ".dualgate-upload-";

/// How to start a gateway.
#[derive(Debug, Default, Clone)]
pub struct GatewayOptions {
    /// YAML written to a file passed with `-c`; `None` runs the embedded default
    /// config. Listen addresses and passive ports always come from flags, the
    /// storage from [`TestStore::configure`] (which replaces any `storage:` here).
    pub config: Option<String>,
    /// The FTP listen address; `None` is `127.0.0.1:0`.
    pub ftp_listen: Option<&'static str>,
    /// `DUALGATE_LOG_LEVEL` of the server; `None` is `warn`.
    pub log_level: Option<&'static str>,
    /// An existing local storage root to serve (kept by the caller), whatever
    /// the run's storage (for the `local_` tests); `None` is the run's storage: a
    /// fresh `data` directory in the gateway's temporary directory, or a fresh
    /// object-store prefix.
    pub root: Option<PathBuf>,
    /// How many ports of its own passive window the gateway gets (the first ones);
    /// `None` is the whole 200-port window.
    pub passive_port_count: Option<u16>,
    /// On an upstream FTP server: keys set in the run's `storage:` section (a
    /// YAML mapping; a `null` value removes the key).
    pub storage_keys: Option<String>,
}

impl GatewayOptions {
    /// Options with this YAML config file.
    pub fn with_config(yaml: &str) -> Self {
        GatewayOptions {
            config: Some(yaml.to_owned()),
            ..Self::default()
        }
    }
}

/// Passive port windows handed out so far in this test process.
static NEXT_WINDOW: AtomicU32 = AtomicU32::new(0);

/// A 200-port window in 10000-29999 that no other gateway of this test run uses
/// (the process id spreads concurrent test runs over different windows too).
/// Below Linux's ephemeral range (32768-60999): a gateway on an object store
/// opens many outgoing connections, and one holding a port of its own passive
/// window would make PASV fail.
fn passive_window() -> RangeInclusive<u16> {
    let slot = NEXT_WINDOW.fetch_add(1, Ordering::Relaxed) + std::process::id() % 100;
    let low = 10_000 + u16::try_from(slot % 100).expect("< 100") * 200;
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
    /// The implicit FTPS listener, when configured.
    pub ftps_addr: Option<SocketAddr>,
    /// `http://ADDR` (or `https://`) of the HTTP listener (no trailing slash).
    pub http_url: String,
    /// `http://ADDR` of the admin listener (no trailing slash).
    pub admin_url: String,
    /// The login name (the generated user).
    pub user: String,
    /// Its password (given through `DUALGATE_PASSWORD`).
    pub password: String,
    /// The passive port range given to the server.
    pub passive_ports: RangeInclusive<u16>,
    /// The HTTP client for the HTTP and admin listeners (no proxy, no redirects).
    pub(super) client: reqwest::Client,
    stderr: Arc<Mutex<LogKeep>>,
    /// Panics seen in the whole log so far.
    panics: Arc<AtomicU32>,
    /// What it serves (dropped after the process is killed).
    store: TestStore,
}

/// The addresses found in the start-up block.
#[derive(Debug, Default)]
struct StartupBlock {
    ftp: Option<SocketAddr>,
    ftps: Option<SocketAddr>,
    http: Option<SocketAddr>,
    https: bool,
    admin: Option<SocketAddr>,
}

impl StartupBlock {
    /// Reads one line of the block: `  ftp     ftp://ADDR  (...)`,
    /// `  ftps    ftps://ADDR  (...)` (implicit FTPS), `  http    http(s)://ADDR/`,
    /// `  admin   http://ADDR/metrics`.
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
            "ftps" => self.ftps = addr("ftps://", "").or(self.ftps),
            "http" => {
                if let Some(a) = addr("https://", "/") {
                    (self.http, self.https) = (Some(a), true);
                } else {
                    self.http = addr("http://", "/").or(self.http);
                }
            }
            "admin" => self.admin = addr("http://", "/metrics").or(self.admin),
            _ => {}
        }
    }

    fn complete(&self) -> Option<(SocketAddr, SocketAddr, SocketAddr)> {
        Some((self.ftp?, self.http?, self.admin?))
    }
}

/// The command line of `dualgate serve` for this storage and passive window.
fn serve_command(
    opts: &GatewayOptions,
    dir: &Path,
    store: &TestStore,
    password: &str,
    ports: &RangeInclusive<u16>,
) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dualgate"));
    cmd.arg("serve");
    if let Some(yaml) = &opts.config {
        let path = dir.join("dualgate.yaml");
        std::fs::write(&path, yaml).expect("writing the config file");
        cmd.arg("-c").arg(path);
    }
    let ftp_listen = opts.ftp_listen.unwrap_or("127.0.0.1:0");
    cmd.args(["--ftp-listen", ftp_listen, "--http-listen", "127.0.0.1:0"])
        .args(["--admin-listen", "127.0.0.1:0"])
        .arg("--passive-ports")
        .arg(format!("{}-{}", ports.start(), ports.end()));
    // Only what this test sets: no DUALGATE_* override from the environment.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("DUALGATE_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("DUALGATE_PASSWORD", password)
        .env("DUALGATE_LOG_LEVEL", opts.log_level.unwrap_or("warn"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    store.configure(&mut cmd);
    cmd
}

/// Forwards stdout lines to the returned channel: to the test until the start-up
/// block is complete, and drained afterwards so the child never blocks on a full pipe.
fn forward_stdout(stdout: ChildStdout) -> UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    rx
}

/// What a panic prints on stderr (Rust's default panic hook).
const PANIC_MARK: &[u8] = b"panicked at";

/// How much of the log from the first panic on is kept apart from the tail.
const PANIC_TEXT: usize = 4096;

/// What [`keep_log_tail`] keeps of the server's stderr.
#[derive(Default)]
struct LogKeep {
    /// The last [`LOG_TAIL`] bytes.
    tail: String,
    /// The log from the first panic's line on, up to [`PANIC_TEXT`] bytes: a busy
    /// log would push it out of the tail.
    first_panic: Vec<u8>,
}

/// Keeps the last [`LOG_TAIL`] bytes of stderr (the log) and the first panic for
/// failure messages, and counts the panics in the whole log (the tail alone could
/// have lost them).
fn keep_log_tail(mut pipe: ChildStderr) -> (Arc<Mutex<LogKeep>>, Arc<AtomicU32>) {
    let log = Arc::new(Mutex::new(LogKeep::default()));
    let panics = Arc::new(AtomicU32::new(0));
    let (sink, seen) = (log.clone(), panics.clone());
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // The end of the previous read, so that a mark cut in two is still found.
        let mut carry: Vec<u8> = Vec::new();
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            let old = carry.len();
            carry.extend_from_slice(&buf[..n]);
            let marks = carry.windows(PANIC_MARK.len()).filter(|w| *w == PANIC_MARK).count();
            seen.fetch_add(u32::try_from(marks).unwrap_or(u32::MAX), Ordering::Relaxed);
            let mut k = sink.lock().unwrap_or_else(|e| e.into_inner());
            if k.first_panic.is_empty() {
                if let Some(at) = carry.windows(PANIC_MARK.len()).position(|w| w == PANIC_MARK) {
                    // From the start of the mark's line (in this read).
                    let at = at.saturating_sub(old);
                    let line = buf[..at].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                    k.first_panic.extend_from_slice(&buf[line..n]);
                }
            } else if k.first_panic.len() < PANIC_TEXT {
                k.first_panic.extend_from_slice(&buf[..n]);
            }
            k.first_panic.truncate(PANIC_TEXT);
            let keep = carry.len().min(PANIC_MARK.len() - 1);
            carry.drain(..carry.len() - keep);
            let s = &mut k.tail;
            s.push_str(&String::from_utf8_lossy(&buf[..n]));
            if s.len() > LOG_TAIL {
                let cut = s.len() - LOG_TAIL;
                let cut = (cut..s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(0);
                s.drain(..cut);
            }
        }
    });
    (log, panics)
}

impl Gateway {
    /// Starts a gateway and waits (at most 20 s) for its start-up block.
    pub async fn start(opts: GatewayOptions) -> Gateway {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = match &opts.root {
            Some(root) => TestStore::local(root.clone()),
            None => TestStore::new(dir.path().join("data")),
        };
        if let Some(keys) = &opts.storage_keys {
            let keys: serde_yaml::Mapping =
                serde_yaml::from_str(keys).unwrap_or_else(|e| panic!("storage_keys: not a YAML mapping: {e}"));
            store.change_upstream_section(|section| {
                for (key, value) in keys {
                    if value.is_null() {
                        section.remove(&key);
                    } else {
                        section.insert(key, value);
                    }
                }
            });
        }
        let password = random_password();
        let passive_ports = match opts.passive_port_count {
            Some(n) => {
                let window = passive_window();
                assert!((1..=200).contains(&n), "passive_port_count {n} outside 1..=200");
                *window.start()..=window.start() + (n - 1)
            }
            None => passive_window(),
        };
        let mut child = serve_command(&opts, dir.path(), &store, &password, &passive_ports)
            .spawn()
            .expect("spawning dualgate");
        let mut rx = forward_stdout(child.stdout.take().expect("piped stdout"));
        let (stderr, panics) = keep_log_tail(child.stderr.take().expect("piped stderr"));

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
                let log = stderr.lock().unwrap_or_else(|e| e.into_inner()).tail.clone();
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
        // reqwest's rustls needs the process's provider even for plain http.
        super::tls::install_provider();
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
            ftps_addr: block.ftps,
            http_url: format!("{}://{http_addr}", if block.https { "https" } else { "http" }),
            admin_url: format!("http://{admin_addr}"),
            user: "dualgate".to_owned(),
            password,
            passive_ports,
            client,
            stderr,
            panics,
            store,
        }
    }

    /// A gateway with the embedded default config.
    pub async fn start_default() -> Gateway {
        Self::start(GatewayOptions::default()).await
    }

    /// The config file the gateway was started with (when it was given one).
    pub fn config_path(&self) -> PathBuf {
        self._dir.path().join("dualgate.yaml")
    }

    /// Sends the server SIGHUP (reload).
    pub fn sighup(&self) {
        self.signal(rustix::process::Signal::HUP);
    }

    /// Sends the server SIGTERM (drain and exit).
    pub fn sigterm(&self) {
        self.signal(rustix::process::Signal::TERM);
    }

    fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(i32::try_from(self.pid()).expect("pid fits i32")).expect("pid > 0");
        rustix::process::kill_process(pid, signal).expect("signalling the server");
    }

    /// Waits (at most `limit`) for the server to exit; its exit status.
    pub async fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        super::within("the server to exit", limit, async {
            loop {
                if let Some(status) = self.child.try_wait().expect("waiting for the server") {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log so far (last 64 KiB), for failure messages.
    pub fn log(&self) -> String {
        let k = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        if k.first_panic.is_empty() {
            return k.tail.clone();
        }
        format!(
            "--- the server's first panic ---\n{}\n--- the log's last {} KiB ---\n{}",
            String::from_utf8_lossy(&k.first_panic),
            LOG_TAIL / 1024,
            k.tail
        )
    }

    /// How many panics the server's whole log shows so far (`panicked at`).
    pub fn panics_seen(&self) -> u32 {
        self.panics.load(Ordering::Relaxed)
    }

    /// Waits (at most 5 s) until the server's log contains `needle`.
    pub async fn wait_for_log(&self, needle: &str) {
        super::within(&format!("the log line {needle:?}"), Duration::from_secs(5), async {
            while !self.log().contains(needle) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
    }

    /// What the gateway serves: the accessor every test that is not about local
    /// disk seeds and checks the storage with.
    pub fn store(&self) -> &TestStore {
        &self.store
    }

    /// The storage root on local disk, for the `local_` tests (symbolic links,
    /// modes, extended attributes, temporary upload files…); panics when the run
    /// serves another storage.
    pub fn root(&self) -> &Path {
        self.store.local_root().unwrap_or_else(|| {
            panic!("this test looks at local disk, but the storage is not local: name it local_… or use gw.store()")
        })
    }

    /// `root/rel` on local disk (see [`Gateway::root`]).
    pub fn disk(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// Asserts that `rel` still holds `original` after an upload over it failed
    /// (`what` says how), and that no upload is left pending.
    pub fn assert_upload_left_no_trace(&self, rel: &str, original: &[u8], what: &str) {
        assert_eq!(
            sha256_hex(&self.store.read(rel)),
            sha256_hex(original),
            "{what} replaced the previous file"
        );
        self.store.assert_no_pending_uploads();
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

/// A `users:` section with one account (home `/`, every permission) per
/// (name, password).
pub fn users_yaml(users: &[(&str, &str)]) -> String {
    let mut yaml = String::from("users:\n");
    for (name, password) in users {
        yaml.push_str(&format!(
            "  - {{ name: {name}, password_hash: \"{}\" }}\n",
            hash_password(password)
        ));
    }
    yaml
}

/// An argon2id hash made by `dualgate hash-password`, as an operator would.
pub fn hash_password(password: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualgate"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running dualgate hash-password");
    writeln!(child.stdin.take().expect("piped stdin"), "{password}").expect("writing the password");
    let out = child.wait_with_output().expect("dualgate hash-password");
    assert!(out.status.success(), "dualgate hash-password: {out:?}");
    String::from_utf8(out.stdout).expect("a UTF-8 hash").trim().to_owned()
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

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn startup_block_gives_the_three_addresses() {
        let mut block = StartupBlock::default();
        for line in [
            "dualgate 0.1.0 ready",
            "  ftp     ftp://127.0.0.1:2121  (passive ports 40000-40199)",
            "  http    http://127.0.0.1:8080/",
        ] {
            block.take(line);
        }
        assert!(block.complete().is_none(), "no admin line yet: {block:?}");
        block.take("  admin   http://127.0.0.1:9090/metrics");
        block.take("  storage /srv/data");
        assert_eq!(
            block.complete(),
            Some((
                "127.0.0.1:2121".parse().unwrap(),
                "127.0.0.1:8080".parse().unwrap(),
                "127.0.0.1:9090".parse().unwrap()
            ))
        );
    }
}
