//! FTP clients of the gateway: [`RawFtp`], a byte-exact control connection for
//! protocol-level assertions (multi-line replies, PASV/EPSV parsing, the close),
//! bounded data connections, and `suppaftp` transfers for whole-file round trips.

use std::net::SocketAddr;
use std::time::Duration;

use suppaftp::tokio::AsyncFtpStream;
use suppaftp::types::FileType;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::{Gateway, STEP, TRANSFER, random_bytes, within};

impl Gateway {
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

    /// An upload over an existing file cut off half-way: stores `original_len`
    /// random bytes as `name`, logs in, starts `STOR name` and sends `sent`
    /// random bytes without ending the upload. Returns the control connection, the
    /// open data connection and the original content.
    pub async fn half_upload(&self, name: &str, original_len: usize, sent: usize) -> (RawFtp, TcpStream, Vec<u8>) {
        let original = random_bytes(original_len);
        self.store().put(name, &original);
        let mut c = self.raw_login().await;
        let mut data = c.start_transfer(&format!("STOR {name}")).await;
        within("sending half an upload", STEP, data.write_all(&random_bytes(sent)))
            .await
            .expect("sending half an upload");
        (c, data, original)
    }
}

/// A raw FTP control connection.
pub struct RawFtp {
    reader: BufReader<OwnedReadHalf>,
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
        Self::over(stream).await
    }

    /// Connects from a chosen local address (`127.0.0.2`, `127.0.0.3`: other
    /// clients, as far as the server can tell) and reads the first reply.
    pub async fn connect_from(local: std::net::IpAddr, addr: SocketAddr) -> RawFtp {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(local, 0))
            .expect("binding the client address");
        let stream = within("FTP connect", STEP, socket.connect(addr))
            .await
            .expect("FTP connect");
        Self::over(stream).await
    }

    /// A control connection from `local` that first sends `header` (a PROXY
    /// protocol header, as a load balancer would), then reads the greeting.
    pub async fn connect_with_header(local: std::net::IpAddr, addr: SocketAddr, header: &[u8]) -> RawFtp {
        let mut stream = connect_from(local, addr).await;
        within("sending the PROXY header", STEP, stream.write_all(header))
            .await
            .expect("sending the PROXY header");
        Self::over(stream).await
    }

    async fn over(stream: TcpStream) -> RawFtp {
        let (r, w) = stream.into_split();
        let mut c = RawFtp {
            reader: BufReader::new(r),
            writer: w,
            last_sent: "(greeting)".to_owned(),
            greeting: (0, String::new()),
        };
        c.greeting = c.reply().await;
        c
    }

    /// The control connection itself, for a test that only holds it open (bytes
    /// already buffered are dropped).
    pub fn into_stream(self) -> TcpStream {
        self.reader
            .into_inner()
            .reunite(self.writer)
            .expect("the two halves of one stream")
    }

    /// Sends one command line (CRLF appended).
    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// Sends `ABOR` the RFC 959 way (§4.1.3, as Python's ftplib and legacy clients
    /// do): Telnet IP, then Synch (`IAC DM` with the `DM` byte sent as TCP urgent
    /// data), then the command line.
    pub async fn send_abor_with_synch(&mut self) {
        self.send_raw(b"\xff\xf4\xff").await; // IAC IP, IAC
        let urgent = rustix::net::send(self.writer.as_ref(), b"\xf2", rustix::net::SendFlags::OOB); // DM
        assert_eq!(urgent, Ok(1), "sending the urgent DM byte");
        self.send("ABOR").await;
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

    /// `PASV`, the data connection, then `line` (a transfer command) answered
    /// with `150`: the data connection of the running transfer.
    pub async fn start_transfer(&mut self, line: &str) -> TcpStream {
        let addr = self.pasv().await;
        let data = data_connect(addr).await;
        self.send(line).await;
        let (code, text) = self.reply().await;
        assert_eq!(code, 150, "{line:?} → {text:?}");
        data
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

/// A TCP connection to `addr` from the local address `local`.
pub async fn connect_from(local: std::net::IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(local, 0))
        .expect("binding the client address");
    within("TCP connect", STEP, socket.connect(addr))
        .await
        .expect("TCP connect")
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
    let n: Vec<u8> = inner.split(',').map(|s| s.trim().parse().ok()).collect::<Option<_>>()?;
    let [h1, h2, h3, h4, p1, p2] = n[..] else {
        return None;
    };
    let ip = std::net::Ipv4Addr::new(h1, h2, h3, h4);
    Some(SocketAddr::from((ip, u16::from_be_bytes([p1, p2]))))
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

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn passive_replies_parse() {
        assert_eq!(
            parse_pasv("227 Entering Passive Mode (127,0,0,1,156,64)."),
            Some("127.0.0.1:40000".parse().unwrap())
        );
        assert_eq!(parse_pasv("227 Entering Passive Mode (127,0,0,1,256,64)."), None);
        assert_eq!(parse_pasv("227 Entering Passive Mode (127,0,0,1,156)."), None);
        assert_eq!(
            parse_epsv("229 Entering Extended Passive Mode (|||40000|)"),
            Some(40000)
        );
        assert_eq!(parse_epsv("229 Entering Extended Passive Mode (|1|40000|)"), None);
    }

    #[test]
    fn reply_codes_need_three_digits_and_a_separator() {
        assert_eq!(reply_code("220 ready"), Some(220));
        assert_eq!(reply_code("211-Features:"), Some(211));
        assert_eq!(reply_code("200"), Some(200));
        assert_eq!(reply_code("20 x"), None);
        assert_eq!(reply_code("200x"), None);
        assert_eq!(reply_code(" EPSV"), None);
    }
}
