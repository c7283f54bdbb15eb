//! Builds the gateway from a config and runs it: storage, users, the pipeline
//! table, the three listeners, the start-up block, and the drain on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::{self, AdminState};
use crate::auth::{Account, LoginThrottle, Permissions, User, UserDb, UserStore};
use crate::config::{Config, StorageConfig};
use crate::frontend::{ConnectionLimiter, ftp, http};
use crate::path::VirtualPath;
use crate::pipeline::{Pipeline, modules};
use crate::storage::{Backend, StorageError, Volumes, local::LocalBackend};
use crate::tls::ReloadableCert;

/// After the drain deadline, how long interrupted transfers get to answer their
/// clients and log.
const INTERRUPT_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Name of the user created when none is configured.
pub const GENERATED_USER: &str = "dualgate";

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("cannot listen for {what} on {addr}: {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The storage back-end could not be opened.
    #[error("cannot open storage")]
    Storage(#[from] StorageError),
    /// The handler table is inconsistent.
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::DuplicateHandler),
    /// The metrics recorder could not be installed.
    #[error("cannot install the metrics recorder: {0}")]
    Metrics(#[from] metrics_exporter_prometheus::BuildError),
    /// A TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// Something else.
    #[error("{0}")]
    Other(String),
}

/// Accept queue length of the listeners. Legacy clients reconnect for every file,
/// and after a restart hundreds arrive at once: std's default of 128 drops SYNs
/// (clients then stall a full second on the retransmit). The kernel caps it at
/// `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    let listen = || {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        // As std and tokio's own bind do: a restart must not wait out TIME_WAIT.
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(LISTEN_BACKLOG)
    };
    listen().map_err(|source| StartError::Bind { what, addr, source })
}

fn user_db(config: &Config, generated_password: Option<&str>) -> Result<UserDb, StartError> {
    let mut accounts = Vec::new();
    for u in &config.users {
        let home = VirtualPath::parse_absolute(&u.home)
            .map_err(|e| StartError::Other(format!("user {}: home: {e}", u.name)))?;
        let certificate = match &u.certificate {
            Some(c) => Some(crate::auth::CertificateLogin {
                subject: crate::auth::SubjectName::parse(&c.subject)
                    .map_err(|e| StartError::Other(format!("user {}: certificate.subject: {e}", u.name)))?,
                password: c.password,
            }),
            None => None,
        };
        let account = crate::storage::upstream_ftp::routing::mapped_account(config, &u.name)
            .map_err(|e| StartError::Other(format!("user {}: {e}", u.name)))?;
        accounts.push(Account {
            user: Arc::new(User {
                name: u.name.clone(),
                home,
                permissions: u.permissions.iter().copied().collect(),
                anonymous: false,
                certificate,
                account: account.map(Arc::new),
            }),
            // None only where an upstream checks the passwords: an empty hash
            // verifies nothing.
            password_hash: u.password_hash.clone().unwrap_or_default(),
        });
    }
    if let Some(pw) = generated_password {
        let hash = crate::auth::hash_password(pw)
            .map_err(|e| StartError::Other(format!("hashing the generated password: {e}")))?;
        accounts.push(Account {
            user: Arc::new(User {
                name: GENERATED_USER.to_owned(),
                home: VirtualPath::root(),
                permissions: Permissions::ALL,
                anonymous: false,
                certificate: None,
                account: None,
            }),
            password_hash: hash,
        });
    }
    let anonymous = if config.anonymous.enabled {
        Some(User {
            name: "anonymous".to_owned(),
            home: VirtualPath::parse_absolute(&config.anonymous.home)
                .map_err(|e| StartError::Other(format!("anonymous.home: {e}")))?,
            permissions: Permissions::READ_ONLY,
            anonymous: true,
            certificate: None,
            account: None,
        })
    } else {
        None
    };
    Ok(UserDb::new(accounts, anonymous))
}

/// Creates each configured home (and its parents) that does not exist yet, so a new
/// user's first login finds a directory, not a 404.
/// An error with its causes, for one log line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn create_homes(backend: &dyn Backend, config: &Config) -> Result<(), StartError> {
    let mut homes: Vec<&str> = config.users.iter().map(|u| u.home.as_str()).collect();
    if config.anonymous.enabled {
        homes.push(&config.anonymous.home);
    }
    for home in homes {
        let home = VirtualPath::parse_absolute(home).map_err(|e| StartError::Other(format!("home {home}: {e}")))?;
        if backend.create_home(&home).await? {
            tracing::info!(%home, "created a user's home directory");
        }
    }
    Ok(())
}

/// The pipeline the server runs: the shared modules, then each front-end's,
/// over the back-end behind `volumes`, with one in-memory lock store (WebDAV
/// locks, honoured by both protocols).
pub fn pipeline(
    volumes: Arc<Volumes>,
    users: Arc<dyn crate::auth::Authenticator>,
    throttle: Arc<LoginThrottle>,
    transfer_log: Option<Arc<crate::xferlog::TransferLog>>,
) -> Result<Pipeline, crate::pipeline::DuplicateHandler> {
    let capabilities = volumes.capabilities();
    let locks: Arc<dyn crate::locks::LockStore> = Arc::new(crate::locks::MemoryLocks::new(crate::locks::MAX_LOCKS));
    let mut table = modules::core_table(volumes.clone(), users, throttle, transfer_log);
    table.extend(modules::locks::table(locks.clone()));
    table.extend(ftp::commands::table(volumes));
    table.extend(crate::frontend::http::webdav::table(capabilities, locks));
    Pipeline::new(modules::finish(table).0)
}

fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..20)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}

/// Reads the configuration again for a reload (file, environment and flags, as at
/// start-up); the error is the reason, for the log.
pub type Reloader = Box<dyn Fn() -> Result<Config, String> + Send + Sync>;

/// On each SIGHUP, reads the configuration again and puts its users and anonymous
/// settings in force for new logins. Other settings need a restart: a reload that
/// changes one of them (compared with `in_force`, the start-up config) says so in
/// one warning naming each. A config that does not load — an empty file included —
/// is logged and leaves the users in force as they were.
async fn reload_users_on_sighup(
    reload: Reloader,
    in_force: Config,
    users: Arc<UserStore>,
    volumes: Arc<Volumes>,
    generated_password: Option<String>,
    shutdown: CancellationToken,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; users will not be reloaded");
            return;
        }
    };
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            got = hangups.recv() => if got.is_none() { return },
        }
        match reload_users(&reload, &in_force, &users, &volumes, generated_password.as_deref()).await {
            Ok(Reloaded { accounts, restart }) => {
                tracing::info!(accounts, "SIGHUP: users reloaded");
                if !restart.is_empty() {
                    tracing::warn!(
                        settings = ?restart,
                        "SIGHUP: changed settings need a restart to take effect (users and anonymous access were reloaded)"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "SIGHUP: reload failed; the previous users stay in force"),
        }
    }
}

/// What a reload put in force, and what it could not.
struct Reloaded {
    /// Accounts now in force.
    accounts: usize,
    /// Changed settings that only a restart applies (see [`Config::changes_needing_restart`]).
    restart: Vec<&'static str>,
}

async fn reload_users(
    reload: &Reloader,
    in_force: &Config,
    users: &UserStore,
    volumes: &Volumes,
    generated_password: Option<&str>,
) -> Result<Reloaded, String> {
    let config = reload()?;
    let restart = in_force.changes_needing_restart(&config);
    // The generated account exists only while no user is configured, as at start-up.
    let generated = generated_password
        .filter(|_| config.users.is_empty())
        .map(str::to_owned);
    let db = {
        let config = config.clone();
        // Hashing the generated password is CPU work: keep it off the I/O threads.
        tokio::task::spawn_blocking(move || user_db(&config, generated.as_deref()))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
    };
    create_homes(volumes.backend().as_ref(), &config)
        .await
        .map_err(|e| e.to_string())?;
    let accounts = db.len();
    users.replace(db);
    // Homes are opened afresh from now on (one may have been moved or replaced).
    volumes.forget();
    Ok(Reloaded { accounts, restart })
}

/// Runs the gateway until `signal` completes, then drains and returns. SIGHUP
/// reloads the users through `reload`.
pub async fn run(config: Config, signal: impl Future<Output = ()>, reload: Reloader) -> Result<(), StartError> {
    let metrics_handle = crate::metrics::install()?;
    // With `credentials: passthrough`, the upstream back-end checks the logins.
    let mut passthrough = None;
    let (backend, storage_desc): (Arc<dyn Backend>, String) = match &config.storage {
        StorageConfig::Local {
            root,
            inline_metadata,
            stale_uploads_after,
            ..
        } => (
            Arc::new(
                LocalBackend::open(root)?
                    .with_inline_metadata(*inline_metadata)
                    .with_stale_uploads_after(stale_uploads_after.0),
            ),
            format!("local {}", root.display()),
        ),
        StorageConfig::S3(s3) => {
            let backend = crate::storage::s3::S3Backend::open(s3).map_err(StartError::Other)?;
            let desc = format!("s3 {}", backend.describe());
            (Arc::new(backend), desc)
        }
        StorageConfig::UpstreamFtp(ftp) => {
            let backend =
                Arc::new(crate::storage::upstream_ftp::UpstreamFtpBackend::open(ftp).map_err(StartError::Other)?);
            let desc = format!("upstream FTP {}", backend.describe());
            if ftp.credentials == crate::config::UpstreamCredentials::Passthrough {
                passthrough = Some((backend.clone(), ftp.clone()));
            }
            (backend, desc)
        }
    };
    // Every back-end is measured the same way (dualgate_backend_operation_*), and
    // each session works on its own volume of it.
    let mut volumes = Volumes::new(backend);
    if matches!(
        config.storage,
        StorageConfig::Local {
            open_file_cache: false,
            ..
        }
    ) {
        volumes = volumes.without_open_files();
    }
    let volumes = Arc::new(volumes);
    if let Err(e) = create_homes(volumes.backend().as_ref(), &config).await {
        if matches!(config.storage, StorageConfig::Local { .. }) {
            return Err(e);
        }
        // A remote store that cannot be reached (wrong credentials, a missing
        // bucket, the network): one clear line, a server that answers not ready
        // (its probe fails too), and the homes made once the store answers —
        // not a crash loop.
        tracing::error!(error = %error_chain(&e), "storage: cannot create the users' homes; retrying every 10 s, not ready meanwhile");
        let (backend, config) = (volumes.backend().clone(), config.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                if create_homes(backend.as_ref(), &config).await.is_ok() {
                    tracing::info!("storage: the users' homes exist now");
                    break;
                }
            }
        });
    }
    // Uploads a killed process left behind (and, on an object store, those lost
    // answers orphan): removed in the background, so a large tree does not delay
    // the start; again periodically where the back-end asks for it.
    let sweeper = volumes.backend().clone();
    tokio::spawn(async move {
        loop {
            match sweeper.sweep_stale_uploads().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "removed abandoned uploads"),
                Err(e) if e.kind == crate::storage::ErrorKind::Unsupported => {
                    tracing::warn!(error = %error_chain(&e), "storage: the store cannot list its pending uploads; abandoned ones are left to the store's own expiry (see README)");
                    break;
                }
                Err(e) => tracing::warn!(error = %error_chain(&e), "could not sweep abandoned uploads"),
            }
            let Some(every) = sweeper.sweep_every() else { break };
            tokio::time::sleep(every).await;
        }
    });
    // No generated account where an upstream checks the passwords.
    let generated = if config.users.is_empty() && !config.upstream_checks_passwords() {
        Some(
            std::env::var("DUALGATE_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
                .map_or_else(|| (random_password(), true), |p| (p, false)),
        )
    } else {
        None
    };
    let users = Arc::new(UserStore::new(user_db(
        &config,
        generated.as_ref().map(|(p, _)| p.as_str()),
    )?));

    let throttle = Arc::new(LoginThrottle::new(config.limits.login_failures.policy()));
    // What outlives the drain — the transfer log's writer, the admin port, the
    // exporter's upkeep — stops with this, after it.
    let after_drain = CancellationToken::new();
    let transfer_log = match &config.xferlog {
        Some(path) => Some(Arc::new(
            crate::xferlog::TransferLog::start(path, after_drain.clone())
                .map_err(|e| StartError::Other(format!("xferlog {}: {e}", path.display())))?,
        )),
        None => None,
    };
    let capabilities = volumes.capabilities();
    let authenticator: Arc<dyn crate::auth::Authenticator> = match passthrough {
        Some((backend, section)) => Arc::new(crate::storage::upstream_ftp::passthrough::Passthrough::new(
            backend,
            crate::storage::upstream_ftp::routing::Routing::new(&section),
            users.clone(),
            section.login_cache.0,
        )),
        None => users.clone(),
    };
    let pipeline = Arc::new(pipeline(
        volumes.clone(),
        authenticator,
        throttle.clone(),
        transfer_log,
    )?);

    let shutdown = CancellationToken::new();
    // Cancelled when the drain deadline passes: transfers still running stop with
    // what their protocol allows (FTP 426 then 421, HTTP 503 or a cut body) and
    // are logged as interrupted, instead of vanishing with the process.
    let interrupt = CancellationToken::new();
    let tracker = TaskTracker::new();
    let limiter = ConnectionLimiter::new(config.limits.max_connections, config.limits.max_connections_per_address);
    let l = &config.limits;

    // TLS: one reloadable certificate per protocol, swapped inside long-lived configs.
    let mut certs = Vec::new();
    let ftp_tls = match &config.ftp.tls {
        Some(t) => {
            let cert = Arc::new(ReloadableCert::load(&t.cert, &t.key)?);
            certs.push(cert.clone());
            Some(Arc::new(ftp::tls::FtpTls {
                config: crate::tls::server_config(cert, &[], t.client_certificates.as_ref())?,
                handshake_timeout: l.tls_handshake_timeout.0,
                require: t.require,
                data_session_reuse: t.data_session_reuse,
            }))
        }
        None => None,
    };
    let http_tls = match &config.http.tls {
        Some(t) => {
            let cert = Arc::new(ReloadableCert::load(&t.cert, &t.key)?);
            certs.push(cert.clone());
            Some(crate::tls::server_config(
                cert,
                &[b"h2", b"http/1.1"],
                t.client_certificates.as_ref(),
            )?)
        }
        None => None,
    };

    let ftp_listener = bind("FTP", config.ftp.listen).await?;
    let implicit_listener = match config.ftp.tls.as_ref().and_then(|t| t.implicit_listen) {
        Some(addr) => Some(bind("implicit FTPS", addr).await?),
        None => None,
    };
    let http_listener = bind("HTTP", config.http.listen).await?;
    let admin_listener = bind("admin", config.admin.listen).await?;
    let addr = |l: &TcpListener| l.local_addr().map_err(|e| StartError::Other(e.to_string()));
    let (ftp_addr, http_addr, admin_addr) = (addr(&ftp_listener)?, addr(&http_listener)?, addr(&admin_listener)?);

    let proxy = crate::frontend::proxy::ProxyPolicy {
        trusted: config.proxy_protocol.trusted_networks.clone(),
    };
    let ftp_ctx = Arc::new(ftp::FtpContext {
        pipeline: pipeline.clone(),
        settings: Arc::new(ftp::FtpSettings {
            passive_ports: (config.ftp.passive_ports.low, config.ftp.passive_ports.high),
            passive_quota: Arc::new(ftp::passive::PassiveQuota::from_config(&config.ftp)),
            public_address: config.ftp.public_address,
            idle_timeout: l.idle_timeout.0,
            login_timeout: l.login_timeout.0,
            data_timeout: l.data_timeout.0,
            max_command_line: l.max_command_line,
            tls: ftp_tls,
            proxy: proxy.clone(),
            public_address_by_network: config.ftp.public_address_by_network.clone(),
            interrupt: interrupt.clone(),
        }),
        limiter: limiter.clone(),
        throttle,
        shutdown: shutdown.clone(),
    });
    let http_ctx = Arc::new(http::HttpContext {
        pipeline,
        settings: http::HttpSettings {
            idle_timeout: l.idle_timeout.0,
            body_timeout: l.data_timeout.0,
            handshake_timeout: l.tls_handshake_timeout.0,
            max_header_bytes: config.http.max_header_bytes,
            max_headers: config.http.max_headers,
            realm: config.http.realm.clone(),
            max_blocking_threads: l.max_blocking_threads,
            allow: crate::frontend::http::webdav::allow(&capabilities),
            interrupt: interrupt.clone(),
        },
        limiter,
        tls: http_tls,
        proxy,
        shutdown: shutdown.clone(),
        requests: TaskTracker::new(),
    });
    let admin_state = Arc::new(AdminState {
        metrics: metrics_handle.clone(),
        storage: volumes.backend().clone(),
        ready: false.into(),
    });

    // /readyz must answer "not ready" while connections drain, and metrics stay
    // scrapeable: the admin port and the upkeep stop with `after_drain`.
    let upkeep = {
        let shutdown = after_drain.clone();
        tokio::spawn(async move {
            // The exporter does not run its own upkeep: histograms would grow without it.
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => metrics_handle.run_upkeep(),
                }
            }
        })
    };
    let reloads = tokio::spawn(reload_users_on_sighup(
        reload,
        config.clone(),
        users,
        volumes,
        generated.as_ref().map(|(p, _)| p.clone()),
        shutdown.clone(),
    ));
    let implicit_addr = implicit_listener.as_ref().and_then(|l| l.local_addr().ok());
    let mut servers = vec![
        reloads,
        tokio::spawn(crate::tls::watch(certs, crate::tls::WATCH_INTERVAL, shutdown.clone())),
    ];
    if let Some(listener) = implicit_listener {
        servers.push(tokio::spawn(ftp::serve(
            listener,
            ftp_ctx.clone(),
            tracker.clone(),
            true,
        )));
    }
    servers.extend([
        tokio::spawn(ftp::serve(ftp_listener, ftp_ctx, tracker.clone(), false)),
        tokio::spawn(admin::serve(admin_listener, admin_state.clone(), after_drain.clone())),
    ]);
    let http_threads = match config.http.threads {
        // One per core, as nginx's workers. (More threads only look faster when the
        // load generator shares the server's scheduling group: they take its CPU.)
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    };
    let http_acceptor =
        http::serve_on_threads(http_listener, http_ctx, &tracker, http_threads).map_err(|source| StartError::Bind {
            what: "HTTP",
            addr: http_addr,
            source,
        })?;
    servers.push(http_acceptor);
    admin_state.ready.store(true, Ordering::Release);
    print_startup(
        &config,
        ftp_addr,
        implicit_addr,
        http_addr,
        admin_addr,
        &storage_desc,
        generated.as_ref(),
    );

    signal.await;
    // Not ready first, so load balancers stop sending; then no new connections, idle
    // sessions are told 421, and running transfers may finish until the deadline.
    admin_state.ready.store(false, Ordering::Release);
    tracing::info!(
        deadline_s = config.shutdown.drain_timeout.0.as_secs(),
        open = tracker.len(),
        "shutting down: not ready, no new connections; draining"
    );
    shutdown.cancel();
    tracker.close();
    let drain = config.shutdown.drain_timeout.0;
    if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
        tracing::warn!(
            open = tracker.len(),
            "drain deadline reached; interrupting the transfers still running"
        );
        interrupt.cancel();
        // Long enough to send the replies and write the log lines, short enough
        // not to outlast an orchestrator's grace period.
        if tokio::time::timeout(INTERRUPT_GRACE, tracker.wait()).await.is_err() {
            tracing::warn!(
                open = tracker.len(),
                "closing the connections left after the interruption"
            );
        }
    }
    after_drain.cancel();
    for s in servers {
        s.abort();
    }
    upkeep.abort();
    tracing::info!("stopped");
    Ok(())
}

/// The start-up block: where to connect and how to log in, in one short block.
fn print_startup(
    config: &Config,
    ftp: SocketAddr,
    implicit: Option<SocketAddr>,
    http: SocketAddr,
    admin: SocketAddr,
    storage: &str,
    generated: Option<&(String, bool)>,
) {
    let p = &config.ftp.passive_ports;
    let explicit = if config.ftp.tls.is_some() { ", AUTH TLS" } else { "" };
    let scheme = if config.http.tls.is_some() { "https" } else { "http" };
    let mut block = format!(
        "dualgate {} ready\n  ftp     ftp://{ftp}  (passive ports {}-{}{explicit})\n",
        env!("CARGO_PKG_VERSION"),
        p.low,
        p.high
    );
    if let Some(addr) = implicit {
        block.push_str(&format!("  ftps    ftps://{addr}  (implicit TLS)\n"));
    }
    block.push_str(&format!(
        "  http    {scheme}://{http}/\n  admin   http://{admin}/metrics\n  storage {storage}\n"
    ));
    match generated {
        Some((pw, true)) => block.push_str(&format!(
            "  login   user \"{GENERATED_USER}\" password \"{pw}\"  (generated, shown once; set DUALGATE_PASSWORD or configure users)\n"
        )),
        Some((_, false)) => block.push_str(&format!("  login   user \"{GENERATED_USER}\" with the password from DUALGATE_PASSWORD\n")),
        None if config.upstream_checks_passwords() => {
            block.push_str("  login   as the upstream FTP server's users (credentials: passthrough)\n");
        }
        None => block.push_str(&format!("  login   {} configured user(s)\n", config.users.len())),
    }
    if config.anonymous.enabled {
        block.push_str("  anonymous read-only access is enabled\n");
    }
    // The block is the program's output (for people and for scripts), not a log line.
    print!("{block}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests;
