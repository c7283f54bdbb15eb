#!/usr/bin/env python3
"""Fault-injecting TCP proxy for dualgate's back-end tests (Python standard library only).

It listens on 127.0.0.1, forwards each connection to a loopback target (an S3 server, an
FTP control port, ...) and breaks some on purpose: tests see how dualgate copes.

    faultproxy.py --listen PORT --target [HOST:]PORT [faults] [--duration S] [--stats-file F]
    faultproxy.py --ftp-passive [--faults-on control|data|all] ...   (an FTP server)
    faultproxy.py --data-ports LOW-HIGH --listen-host 127.0.0.N ...  (an FTPS server)

The first line on stdout is `LISTEN <port>` once connections are accepted (--listen 0 picks
a free port). Diagnostics go to stderr. Only loopback targets (127.0.0.0/8, ::1, localhost)
and loopback listen addresses are accepted; anything else is refused before a socket is opened.

Faults (they combine):
  --reset-after-bytes N   forward N bytes of a connection, then reset both sides (TCP RST:
                          SO_LINGER 0). Bytes are counted in --direction.
  --stall-after-bytes N   forward N bytes, then forward nothing more and read nothing more,
                          keeping both sockets open (a black hole for timeout tests). Such a
                          connection is held until the proxy exits.
  --direction up|down|both  what the *-after-bytes faults count: up = client to target,
                          down = target to client, both = the sum (default both)
  --delay-ms MS           hold every forwarded chunk MS milliseconds (both directions)
  --delay-connect-ms MS   wait MS milliseconds before connecting to the target
  --drop-every N          reset every Nth accepted connection (N, 2N, ...) at once, without
                          connecting to the target
FTP (plain FTP only: the replies must be readable):
  --ftp-passive           the target is an FTP server's control port. Its passive replies
                          (227 for PASV, 229 for EPSV) are rewritten to name a port of this
                          proxy, opened for that one data connection, which is forwarded to
                          the passive port the server named (a loopback one): data
                          connections go through the proxy too, and can be broken.
  --data-ports LOW-HIGH   (FTPS, or any FTP the proxy cannot read) the proxy also listens on
                          every port LOW..HIGH of --listen-host and forwards each to the same
                          port of the target's host: the upstream's passive range, reached
                          through the proxy by a client that connects its data connections
                          to the control connection's address (EPSV). Nothing is rewritten, so
                          it works through TLS; connections on --listen are the control ones.
                          The listen host must differ from the target's (one host per proxy:
                          127.0.0.2, 127.0.0.3, ...).
  --faults-on control|data|all  which connections the faults (and --drop-every) apply to
                          (default all); control and data connections are counted apart
                          (with --ftp-passive or --data-ports)
  --ftp-refuse PREFIX     (with --ftp-passive; repeatable) a client command line starting with
                          PREFIX (any case; `LIST -a`, `SITE CHMOD`) is not forwarded: the proxy
                          answers it `500 PREFIX: not implemented here` itself, as a server
                          without that command would. Counted in the stats as `refused`.
Which connections get the byte faults (connections of the chosen kind are numbered 1, 2, ...
in accept order, dropped ones included):
  --every-nth-connection N  only connections whose number is a multiple of N (default 1)
  --faulty-connections K  only the first K connections chosen by the rule above (0 = all,
                          the default), so that a retry can succeed
Bounds and reporting:
  --listen-host ADDR      the loopback address to listen on (default 127.0.0.1)
  --duration S            exit after S seconds (default 300, at most 3600); SIGTERM or
                          SIGINT end it sooner. Open connections are reset at exit.
  --stats-file F          JSON counts (connections, faults by kind, bytes up/down), written
                          at exit and whenever the proxy gets SIGUSR1
  -q, --quiet             no per-connection lines on stderr
"""
import argparse, asyncio, ipaddress, json, os, re, signal, socket, struct, sys, time

CHUNK = 64 * 1024
STARTED = time.monotonic()
STATS = {"connections": 0, "active": 0, "completed": 0, "target_connect_failed": 0,
         "bytes_up": 0, "bytes_down": 0, "faults": {"drop": 0, "reset": 0, "stall": 0},
         # with --ftp-passive: the same counts by connection kind
         "by_kind": {k: {"connections": 0, "drop": 0, "reset": 0, "stall": 0} for k in ("control", "data")},
         "passive_rewritten": 0, "refused": 0}
TASKS = set()


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", type=int, required=True, metavar="PORT")
    ap.add_argument("--target", required=True, metavar="[HOST:]PORT")
    ap.add_argument("--reset-after-bytes", type=int, metavar="N")
    ap.add_argument("--stall-after-bytes", type=int, metavar="N")
    ap.add_argument("--direction", choices=("up", "down", "both"), default="both")
    ap.add_argument("--delay-ms", type=float, default=0.0, metavar="MS")
    ap.add_argument("--delay-connect-ms", type=float, default=0.0, metavar="MS")
    ap.add_argument("--drop-every", type=int, default=0, metavar="N")
    ap.add_argument("--every-nth-connection", type=int, default=1, metavar="N")
    ap.add_argument("--faulty-connections", type=int, default=0, metavar="K")
    ap.add_argument("--ftp-passive", action="store_true")
    ap.add_argument("--faults-on", choices=("control", "data", "all"), default="all")
    ap.add_argument("--ftp-refuse", action="append", default=[], metavar="PREFIX")
    ap.add_argument("--data-ports", metavar="LOW-HIGH")
    ap.add_argument("--listen-host", default="127.0.0.1", metavar="ADDR")
    ap.add_argument("--duration", type=float, default=300.0, metavar="S")
    ap.add_argument("--stats-file", metavar="F")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args()
    if not 0 < a.duration <= 3600:
        ap.error("--duration must be more than 0 and at most 3600")
    if a.reset_after_bytes is not None and a.stall_after_bytes is not None:
        ap.error("choose one of --reset-after-bytes and --stall-after-bytes")
    for name in ("reset_after_bytes", "stall_after_bytes", "drop_every", "faulty_connections",
                 "delay_ms", "delay_connect_ms"):
        if (getattr(a, name) or 0) < 0:
            ap.error(f"--{name.replace('_', '-')} must not be negative")
    if a.ftp_refuse and not a.ftp_passive:
        ap.error("--ftp-refuse needs --ftp-passive")
    if a.every_nth_connection < 1:
        ap.error("--every-nth-connection must be at least 1")
    try:
        if not ipaddress.ip_address(a.listen_host).is_loopback:
            raise ValueError
    except ValueError:
        ap.error(f"--listen-host {a.listen_host!r}: only a loopback address is allowed")
    a.data_range = None
    if a.data_ports:
        if a.ftp_passive:
            ap.error("choose one of --ftp-passive and --data-ports")
        m = re.fullmatch(r"(\d+)-(\d+)", a.data_ports)
        if not m or not 0 < int(m.group(1)) <= int(m.group(2)) < 65536 or int(m.group(2)) - int(m.group(1)) >= 1000:
            ap.error(f"--data-ports {a.data_ports!r}: LOW-HIGH, at most 1000 ports")
        a.data_range = range(int(m.group(1)), int(m.group(2)) + 1)
    host, sep, port = a.target.rpartition(":")
    host = host.strip("[]") if sep else ""
    if host in ("", "localhost"):
        host = "127.0.0.1"
    try:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError
        a.target_host, a.target_port = host, int(port)
        if not 0 < a.target_port < 65536 or not 0 <= a.listen < 65536:
            raise ValueError
    except ValueError:
        ap.error(f"--target {a.target!r}: only a loopback address and a valid port are allowed")
    if a.data_range is not None and a.listen_host == host:
        ap.error("--data-ports needs a --listen-host other than the target's host")
    a.limit = a.reset_after_bytes if a.reset_after_bytes is not None else a.stall_after_bytes
    a.fault_kind = "reset" if a.reset_after_bytes is not None else "stall"
    return a


OPT = parse_args()
FAULTY_SO_FAR = 0
ELIGIBLE = 0  # connections of the kind --faults-on names, so far


def log(text):
    if not OPT.quiet:
        print(f"faultproxy {time.monotonic() - STARTED:7.3f}s {text}", file=sys.stderr, flush=True)


def write_stats():
    snapshot = dict(STATS, elapsed_s=round(time.monotonic() - STARTED, 3))
    text = json.dumps(snapshot, sort_keys=True)
    print(f"faultproxy stats {text}", file=sys.stderr, flush=True)
    if OPT.stats_file:
        tmp = f"{OPT.stats_file}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, OPT.stats_file)


def abort(writer):
    """Close a stream with RST rather than FIN."""
    if writer is None or writer.transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


def chosen_for_byte_faults(number):
    global FAULTY_SO_FAR
    if number is None or OPT.limit is None or number % OPT.every_nth_connection:
        return False
    if OPT.faulty_connections and FAULTY_SO_FAR >= OPT.faulty_connections:
        return False
    FAULTY_SO_FAR += 1
    return True


PASV_REPLY = re.compile(rb"^227 (.*?)(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)(.*)$", re.S)
EPSV_REPLY = re.compile(rb"^229 (.*?)\(([!-~])\2\2(\d+)\2\)(.*)$", re.S)


class Link:
    """One proxied connection: two pumps sharing one byte budget."""

    def __init__(self, number, faulty, kind):
        self.number = number
        self.kind = kind  # "plain", "control" or "data"
        self.budget = OPT.limit if faulty else None  # bytes still allowed before the fault
        self.ended = asyncio.Event()  # set on a fault or an error: stop both pumps
        self.outcome = None  # "reset", "stall" or "error"
        self.pending = b""  # an FTP control reply line not complete yet
        self.pending_up = b""  # an FTP command line not complete yet (--ftp-refuse)
        self.client = None  # the client's writer, for the replies to refused commands

    def finish(self, outcome):
        if self.outcome is None:
            self.outcome = outcome
        self.ended.set()

    def complete_lines(self, pending, chunk):
        """`pending` (an attribute naming the bytes kept so far) plus `chunk`, cut after its
        last newline: the complete lines (everything, past 64 KiB without one); the rest is
        kept for the next chunk."""
        data = getattr(self, pending) + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) < 64 * 1024:
            setattr(self, pending, data)
            return []
        setattr(self, pending, data[cut:] if cut else b"")
        return (data[:cut] or data).splitlines(keepends=True)

    async def ftp_replies(self, chunk):
        """The complete lines of a control connection's replies, passive ones rewritten."""
        return b"".join([await rewrite_passive(line) for line in self.complete_lines("pending", chunk)])

    def ftp_commands(self, chunk):
        """The complete command lines of a control connection, those --ftp-refuse names
        answered here (500) instead of forwarded."""
        out = []
        for line in self.complete_lines("pending_up", chunk):
            text = line.decode("latin-1").strip().upper()
            refused = next((p for p in OPT.ftp_refuse if text.startswith(p.upper())), None)
            if refused is None:
                out.append(line)
                continue
            STATS["refused"] += 1
            log(f"control #{self.number}: refused {text!r}")
            self.client.write(f"500 {refused}: not implemented here.\r\n".encode())
        return b"".join(out)

    async def pump(self, reader, writer, direction):
        try:
            while True:
                chunk = await reader.read(CHUNK)
                if not chunk:
                    if self.pending:  # a last line without its newline
                        writer.write(self.pending)
                        self.pending = b""
                    try:
                        if writer.can_write_eof() and not writer.transport.is_closing():
                            writer.write_eof()  # pass the half-close on
                    except OSError:
                        pass
                    return
                if OPT.ftp_passive and self.kind == "control" and direction == "down":
                    chunk = await self.ftp_replies(chunk)
                if OPT.ftp_passive and self.kind == "control" and direction == "up" and OPT.ftp_refuse:
                    chunk = self.ftp_commands(chunk)
                if OPT.delay_ms:
                    await asyncio.sleep(OPT.delay_ms / 1000)
                if self.ended.is_set():
                    return
                tripped = False
                if self.budget is not None and OPT.direction in (direction, "both"):
                    if len(chunk) >= self.budget:
                        chunk, tripped = chunk[:self.budget], True
                    self.budget -= len(chunk)
                if chunk:
                    STATS["bytes_" + direction] += len(chunk)
                    writer.write(chunk)
                    await writer.drain()
                if tripped:
                    self.finish(OPT.fault_kind)
                    return
        except OSError:
            self.finish("error")


async def rewrite_passive(line):
    """A 227 or 229 reply naming a loopback passive port becomes one naming a port of this
    proxy, listening for that one data connection; any other line is passed on unchanged."""
    m = PASV_REPLY.match(line)
    if m:
        host = ".".join(x.decode() for x in m.groups()[1:5])
        port = int(m.group(6)) * 256 + int(m.group(7))
    else:
        m = EPSV_REPLY.match(line)
        if not m:
            return line
        host, port = OPT.target_host, int(m.group(3))
    try:
        if not ipaddress.ip_address(host).is_loopback or not 0 < port < 65536:
            raise ValueError
    except ValueError:
        log(f"passive reply names {host}:{port}, not a loopback port: passed on unchanged")
        return line
    ours = await data_listener(host, port)
    STATS["passive_rewritten"] += 1
    if line.startswith(b"227"):
        g = m.groups()
        return (b"227 " + g[0] + f"127,0,0,1,{ours // 256},{ours % 256}".encode() + g[7])
    g = m.groups()
    d = g[1]
    return b"229 " + g[0] + b"(" + d * 3 + str(ours).encode() + d + b")" + g[3]


async def data_listener(host, port):
    """A port of this proxy taking one connection, forwarded to host:port (the passive
    port); closed after that connection, or after 60 s without one."""
    accepted = asyncio.Event()

    async def one(reader, writer):
        if accepted.is_set():  # a second connection on a one-shot port
            abort(writer)
            return
        accepted.set()
        server.close()
        await handle(reader, writer, target=(host, port), kind="data")

    server = await asyncio.start_server(one, "127.0.0.1", 0, backlog=4)

    async def expire():
        try:
            await asyncio.wait_for(accepted.wait(), timeout=60)
        except asyncio.TimeoutError:
            server.close()

    task = asyncio.create_task(expire())
    TASKS.add(task)
    task.add_done_callback(TASKS.discard)
    return server.sockets[0].getsockname()[1]


def numbered(kind):
    """The number of a new connection among those the faults apply to (None: not one)."""
    global ELIGIBLE
    if kind != "plain" and OPT.faults_on not in (kind, "all"):
        return None
    ELIGIBLE += 1
    return ELIGIBLE


def count_fault(kind, what):
    STATS["faults"][what] += 1
    if kind != "plain":
        STATS["by_kind"][kind][what] += 1


async def handle(client_reader, client_writer, target=None, kind=None):
    kind = kind or ("control" if OPT.ftp_passive or OPT.data_range else "plain")
    STATS["connections"] += 1
    if kind != "plain":
        STATS["by_kind"][kind]["connections"] += 1
    number = numbered(kind)
    label = f"{kind} #{STATS['connections']}"
    host, port = target or (OPT.target_host, OPT.target_port)
    task = asyncio.current_task()
    TASKS.add(task)
    target_writer = None
    try:
        if OPT.drop_every and number is not None and number % OPT.drop_every == 0:
            count_fault(kind, "drop")
            log(f"{label} dropped (every {OPT.drop_every})")
            abort(client_writer)
            return
        link = Link(number, chosen_for_byte_faults(number), kind)
        link.client = client_writer
        if OPT.delay_connect_ms:
            await asyncio.sleep(OPT.delay_connect_ms / 1000)
        try:
            target_reader, target_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), timeout=10)
        except (OSError, asyncio.TimeoutError) as e:
            STATS["target_connect_failed"] += 1
            log(f"{label} target connect failed: {e!r}")
            abort(client_writer)
            return
        STATS["active"] += 1
        log(f"{label} open, byte faults {'on' if link.budget is not None else 'off'}")
        pumps = [asyncio.create_task(link.pump(client_reader, target_writer, "up")),
                 asyncio.create_task(link.pump(target_reader, client_writer, "down"))]
        ended = asyncio.create_task(link.ended.wait())
        both = asyncio.gather(*pumps)
        try:
            await asyncio.wait({both, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            for p in pumps:
                p.cancel()
        if link.outcome == "stall":
            count_fault(kind, "stall")
            log(f"{label} stalled")
            await asyncio.Event().wait()  # held open until the proxy exits
        elif link.outcome is not None:
            if link.outcome == "reset":
                count_fault(kind, "reset")
            log(f"{label} {link.outcome}: resetting both sides")
            abort(client_writer)
            abort(target_writer)
        else:
            STATS["completed"] += 1
            log(f"{label} closed")
            for w in (client_writer, target_writer):
                w.close()
    except asyncio.CancelledError:
        abort(client_writer)
        abort(target_writer)
    finally:
        if target_writer is not None:
            STATS["active"] -= 1
        TASKS.discard(task)


async def data_ports():
    """--data-ports: a listener on every port of the range, each forwarding to the same port
    of the target's host as a data connection."""
    servers = []
    for port in OPT.data_range:
        def forward(reader, writer, port=port):
            return handle(reader, writer, target=(OPT.target_host, port), kind="data")
        servers.append(await asyncio.start_server(forward, OPT.listen_host, port, backlog=16))
    return servers


async def main():
    server = await asyncio.start_server(handle, OPT.listen_host, OPT.listen, backlog=256)
    port = server.sockets[0].getsockname()[1]
    servers = [server] + (await data_ports() if OPT.data_range else [])
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, write_stats)
    print(f"LISTEN {port}", flush=True)
    log(f"{OPT.listen_host}:{port} -> {OPT.target_host}:{OPT.target_port} for at most {OPT.duration}s"
        + (f", data ports {OPT.data_ports}" if OPT.data_range else ""))
    try:
        await asyncio.wait_for(stop.wait(), timeout=OPT.duration)
    except asyncio.TimeoutError:
        log("duration reached")
    for s in servers:
        s.close()
    for t in list(TASKS):
        t.cancel()
    await asyncio.gather(*TASKS, return_exceptions=True)
    write_stats()


if __name__ == "__main__":
    asyncio.run(main())
