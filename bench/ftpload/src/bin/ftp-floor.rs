//! `ftp-floor`: the least a login can cost an FTP server on tokio, for the
//! benchmarks' login figure (`bench/peers/ftp-floor.sh`, `TESTS=login`).
//!
//! It answers exactly the exchange `ftpload login` makes — the greeting, then
//! `USER`, `PASS`, `TYPE I` and `QUIT` — each with one write, on the same
//! runtime dualgate uses (multi-threaded, one worker per core) and the same
//! socket options (`TCP_NODELAY`), and does nothing else: no account, no
//! session, no policy, no logs, no metrics. Every login is accepted. What it
//! costs per login is the kernel's and the runtime's share of any server that
//! speaks this exchange: accepting, five replies and four commands over
//! loopback TCP, the wake-ups between them, and the close. It serves nothing
//! and must never face a network: it binds a loopback address only.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest command line it buffers; a longer one ends the connection.
const LINE_MAX: usize = 512;

fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .context("usage: ftp-floor 127.0.0.1:PORT")?
        .parse()
        .context("not an address")?;
    if !addr.ip().is_loopback() {
        bail!("ftp-floor binds loopback addresses only");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        // On a worker, as dualgate's accept loops are: a connection accepted is
        // then served without a wake-up crossing threads.
        tokio::spawn(accept_loop(listener)).await?;
        Ok(())
    })
}

/// Accepts for ever; an accept that fails (out of descriptors) is tried again
/// 50 ms later, as dualgate does.
async fn accept_loop(listener: tokio::net::TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(async move {
                    // A failed connection is the client's business; the floor goes on.
                    let _ = session(stream).await;
                });
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

/// One connection: every line answered by its first four bytes, until `QUIT`.
async fn session(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    stream.write_all(b"220 floor\r\n").await?;
    let mut buf = [0u8; LINE_MAX];
    let mut have = 0;
    loop {
        let n = stream.read(&mut buf[have..]).await?;
        if n == 0 {
            return Ok(());
        }
        have += n;
        while let Some(end) = buf[..have].iter().position(|&b| b == b'\n') {
            let reply: &[u8] = match buf[..end].get(..4) {
                Some(b"USER") => b"331 password\r\n",
                Some(b"PASS") => b"230 logged in\r\n",
                Some(b"TYPE") => b"200 type set\r\n",
                Some(b"QUIT") => {
                    stream.write_all(b"221 bye\r\n").await?;
                    return stream.shutdown().await;
                }
                _ => b"502 not here\r\n",
            };
            stream.write_all(reply).await?;
            buf.copy_within(end + 1..have, 0);
            have -= end + 1;
        }
        if have == LINE_MAX {
            return Ok(());
        }
    }
}
