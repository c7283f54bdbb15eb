//! The `dualgate` binary: parse the command line, load the config, run. All the
//! logic lives in the library; `anyhow` is used only here.

#![allow(
    clippy::print_stderr,
    reason = "the command line reports errors and prompts on stderr"
)]

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use dualgate::cli::{Cli, Command, ServeArgs};
use dualgate::config::{self, Config, ConfigError, StorageConfig};

/// musl's allocator is slow under this server's many small, short-lived
/// allocations across threads (see the note in Cargo.toml); the static musl
/// build (the container image) uses mimalloc instead.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // One crypto provider for every TLS config in the process (ECOSYSTEM §1.1).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => match config::load(config.as_deref(), std::env::vars()) {
            Ok(loaded) if !tls_pairs_load(&loaded) => ExitCode::from(2),
            Ok(_) => {
                println!(
                    "{}: ok",
                    config
                        .as_ref()
                        .map_or("<embedded default config>".into(), |p| p.display().to_string())
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Healthcheck { config, admin, ready } => healthcheck(config.as_deref(), admin, ready),
        Command::HashPassword => match hash_password() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Serve(args) => match serve(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// `dualgate healthcheck`: exit 0 when the admin port answers 200.
fn healthcheck(config: Option<&std::path::Path>, admin: Option<std::net::SocketAddr>, ready: bool) -> ExitCode {
    let addr = match admin {
        Some(a) => a,
        None => match config::load(config, std::env::vars()) {
            Ok(c) => c.admin.listen,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
    };
    let path = if ready { "/readyz" } else { "/healthz" };
    match dualgate::admin::probe(addr, path, std::time::Duration::from_secs(5)) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(code) => {
            eprintln!("{path} on {addr}: {code}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{path} on {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads every configured TLS certificate and key, printing why one does not.
fn tls_pairs_load(config: &Config) -> bool {
    let ftp = config.ftp.tls.as_ref().map(|t| (&t.cert, &t.key));
    let http = config.http.tls.as_ref().map(|t| (&t.cert, &t.key));
    let mut ok = true;
    for (cert, key) in ftp.into_iter().chain(http) {
        if let Err(e) = dualgate::tls::load_pair(cert, key) {
            eprintln!("{e}");
            ok = false;
        }
    }
    ok
}

fn hash_password() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        eprint!("Password: ");
        std::io::stderr().flush()?;
        let pw = read_without_echo(&stdin)?;
        eprintln!();
        pw
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    anyhow::ensure!(!password.is_empty(), "empty password");
    println!(
        "{}",
        dualgate::auth::hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?
    );
    Ok(())
}

/// Reads a line from the terminal with echo turned off (restored afterwards).
fn read_without_echo(stdin: &std::io::Stdin) -> anyhow::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let saved = tcgetattr(stdin).context("reading terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(stdin, OptionalActions::Now, &quiet).context("turning echo off")?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(stdin, OptionalActions::Now, &saved);
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn apply_flags(mut config: Config, args: &ServeArgs) -> anyhow::Result<Config> {
    if let Some(a) = args.ftp_listen {
        config.ftp.listen = a;
    }
    if let Some(a) = args.http_listen {
        config.http.listen = a;
    }
    if let Some(a) = args.admin_listen {
        config.admin.listen = a;
    }
    if let Some(r) = &args.passive_ports {
        config.ftp.passive_ports = config::parse_port_range(r).map_err(|e| anyhow::anyhow!("--passive-ports: {e}"))?;
    }
    if let Some(root) = &args.root {
        // `--root` means local storage at that directory (other local settings kept).
        if !matches!(config.storage, StorageConfig::Local { .. }) {
            config.storage = StorageConfig::default();
        }
        if let StorageConfig::Local { root: configured, .. } = &mut config.storage {
            *configured = root.clone();
        }
    }
    Ok(config)
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    dualgate::telemetry::init(args.log_format, args.log_level.as_deref());
    let reload_args = args.clone();
    // SIGHUP: the same file, environment and flags as at start-up.
    let reload: dualgate::server::Reloader = Box::new(move || {
        let config = config::load(reload_args.config.as_deref(), std::env::vars()).map_err(|e| e.to_string())?;
        apply_flags(config, &reload_args).map_err(|e| format!("{e:#}"))
    });
    let config = match config::load(args.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(ConfigError::Invalid(problems)) => {
            for p in &problems {
                eprintln!("{p}");
            }
            anyhow::bail!("invalid configuration ({} problem(s))", problems.len());
        }
        Err(e) => return Err(e.into()),
    };
    let config = apply_flags(config, &args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(config.limits.max_blocking_threads)
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        dualgate::server::run(config, dualgate::shutdown::signal(), reload)
            .await
            .map_err(anyhow::Error::from)
    })
}
