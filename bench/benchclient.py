#!/usr/bin/env python3
"""The client of dualgate's benchmarks for single FTP transfers, listings, idle sessions and
HTTP (through curl and wrk), and the summary of a run (standard library only). Concurrent FTP
clients and logins are bench/ftpload's (a Rust client that spends less CPU per transaction
than Python can).

    benchclient.py retr  --port P --path /big.bin --size N [--sha256 HEX] [--pid PID ...]
    benchclient.py stor  --port P --path /up.bin --source FILE [--pid PID ...]
    benchclient.py list  --port P --path /dir10k --cmd LIST|MLSD|NLST --entries N [--repeat R] [--pid PID ...]
    benchclient.py idle  --port P --sessions N --pid PID
    benchclient.py httpidle --port P --path /small.bin --size N --sessions N --pid PID [--sources K]
    benchclient.py get   --port P --path /big.bin --size N [--pid PID ...]
    benchclient.py wrk   --port P --path /small.bin --size N [--connections 64] [--seconds 10] [--pace-ms MS]
    benchclient.py handshake --port P [--ftp] --cafile CERT [--workers 4] [--seconds 10] [--pid PID]
    benchclient.py summary RESULTS.jsonl [A:B ...]   (markdown: medians, min-max, ratios A/B)

Each prints one JSON object and exits non-zero when the result is wrong: a byte count or a
digest that is not the expected one, an entry count that is not N, a reply that is not a
success. RETR without --sha256 moves the data socket to /dev/null with splice(2) (no copy
through the client, as a server's sendfile does no copy either); STOR sends the source file
with sendfile(2) and then checks the size the server reports (SIZE). `get` runs curl, `wrk`
runs wrk (2 threads, keep-alive): socket errors, non-2xx answers or fewer bytes than the
responses should carry fail it. Server CPU is the CPU
time of the process trees of the --pid processes (utime + stime of the live processes and
cutime + cstime of reaped children, from /proc), sampled after login and before QUIT (so a
forking server's session process is alive at both samples): `cpu_s` is the first --pid's,
`cpu_s_by_pid` each one's (bench/upstream.sh passes the front server, then the upstream).
`get` and `put` also report curl's CPU (`client_cpu_s`, from getrusage of the waited-for
children) and the sum per GiB (`total_cpu_s_per_gib`): on loopback a segment's delivery, and a
window update's push of the sender's queued segments, run in whichever process's system call
set them off, so the server's own figure moves with the timing of the two ends (a profile of a
slow PUT showed 15 % of the server's samples in curl's transmissions run by the server's recv),
where the sum does not. Every socket wait has a timeout (--timeout).

TLS (--cafile CERT: the server's certificate, verified for 127.0.0.1): FTP ops speak FTPS —
AUTH TLS after the greeting, PBSZ 0 and PROT P after the login, every data connection a TLS
client that resumes the control connection's session (as vsftpd requires; ftplib's FTP_TLS does
not resume) and that starts its handshake after the 1xx reply, as the server starts its own then.
RETR reads and decrypts everything (no splice); STOR encrypts the file and ends with close_notify.
`get` and `wrk` ask for https. Every TLS result names what was negotiated (`tls`: version and
suite; `data_resumed`). `handshake` opens --workers connections at a time for --seconds, each a
full handshake (no session offered; FTP: greeting, AUTH TLS, handshake, QUIT; HTTPS: handshake,
close_notify): handshakes per second and the server's CPU per handshake. The TLS version and
suite are the OpenSSL configuration's (OPENSSL_CONF, bench/peers/lib.sh: TLS 1.3,
TLS_AES_128_GCM_SHA256).
"""

import argparse
import hashlib
import json
import multiprocessing
import os
import re
import resource
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = 1 << 20


class Failed(Exception):
    """A wrong result: the message goes to stderr and the exit status is 1."""


def tree_cpu(pids):
    """CPU seconds of the process trees rooted at pids (live processes plus reaped children)."""
    return sum(tree_cpus(pids))


def tree_cpus(pids):
    """CPU seconds of the process tree rooted at each of pids."""
    parent, times = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        times[int(entry)] = sum(int(x) for x in fields[11:15])
    result = []
    for root in pids:
        total, todo = 0, [root]
        while todo:
            pid = todo.pop()
            total += times.get(pid, 0)
            todo.extend(p for p, pp in parent.items() if pp == pid)
        result.append(total / CLK_TCK)
    return result


def tree_pss_kib(pid):
    """Proportional set size of a process tree, KiB (smaps_rollup)."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(c for c, pp in parent.items() if pp == p)
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except OSError:
            pass
    return total


def tls_context(args):
    """A client context verifying the benchmark certificate (CERT_REQUIRED, host name checked),
    TLS 1.3 only: Python sets its own minimum (TLS 1.2) over the OpenSSL configuration's."""
    ctx = ssl.create_default_context(cafile=args.cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def tls_name(sock):
    return f"{sock.version()} {sock.cipher()[0]}"


class Control:
    """One FTP control connection on loopback: plain text, or FTPS (explicit AUTH TLS) when
    args.cafile is set."""

    def __init__(self, args, tls=None):
        self.sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
        self.file = self.sock.makefile("rb")
        self.timeout = args.timeout
        self.host = args.host
        self.tls = None
        self.expect(2)
        if args.cafile:
            self.cmd("AUTH TLS", 2)
            self.tls = tls or tls_context(args)
            self.file.close()
            self.sock = self.tls.wrap_socket(self.sock, server_hostname=args.host)
            self.file = self.sock.makefile("rb")

    def reply(self):
        line = self.file.readline(8192)
        if not line:
            raise Failed("the server closed the control connection")
        code, text = line[:3], line
        if line[3:4] == b"-":
            while not (line[:3] == code and line[3:4] == b" "):
                line = self.file.readline(8192)
                if not line:
                    raise Failed("the server closed the control connection")
                text += line
        return int(code), text.decode("latin-1")

    def expect(self, first_digit):
        code, text = self.reply()
        if code // 100 != first_digit:
            raise Failed(f"expected {first_digit}xx, got {text.strip()}")
        return text

    def cmd(self, line, first_digit):
        self.sock.sendall(line.encode("utf-8") + b"\r\n")
        return self.expect(first_digit)

    def login(self, user, password):
        self.sock.sendall(f"USER {user}\r\n".encode())
        code, text = self.reply()
        if code == 331:
            self.cmd(f"PASS {password}", 2)
        elif code // 100 != 2:
            raise Failed(f"USER refused: {text.strip()}")
        self.cmd("TYPE I", 2)
        if self.tls:
            self.cmd("PBSZ 0", 2)
            self.cmd("PROT P", 2)

    def pasv(self):
        text = self.cmd("PASV", 2)
        m = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", text)
        if not m:
            raise Failed(f"no address in {text.strip()}")
        n = [int(x) for x in m.groups()]
        data = socket.create_connection((".".join(map(str, n[:4])), n[4] * 256 + n[5]), timeout=self.timeout)
        if self.tls:
            return data
        # splice(2) and sendfile(2) need a blocking socket: the timeout becomes the kernel's.
        data.settimeout(None)
        limit = struct.pack("ll", int(self.timeout), 0)
        data.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        data.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
        return data

    def transfer(self, line):
        """PASV, then `line`; returns the data socket once the server said 1xx. Under TLS the
        handshake starts only then: servers accept the data connection's TLS after their 1xx."""
        data = self.pasv()
        self.cmd(line, 1)
        if self.tls:
            data = self.tls.wrap_socket(data, server_hostname=self.host, session=self.sock.session)
        return data

    def negotiated(self, data):
        """What a TLS transfer negotiated, for its result (nothing for plain FTP)."""
        if not self.tls:
            return {}
        return {"tls": tls_name(data), "data_resumed": data.session_reused}

    def quit(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.reply()
        except (OSError, Failed):
            pass
        self.sock.close()


def drain_splice(data):
    """Moves everything the data socket delivers to /dev/null; returns the byte count."""
    r, w = os.pipe()
    null = os.open("/dev/null", os.O_WRONLY)
    total = 0
    try:
        while True:
            n = os.splice(data.fileno(), w, PAGE)
            if n == 0:
                return total
            total += n
            while n:
                n -= os.splice(r, null, n)
    finally:
        for fd in (r, w, null):
            os.close(fd)


def drain_read(data):
    """Reads (and so decrypts) everything the data connection delivers; returns the byte count."""
    buf, total = bytearray(PAGE), 0
    while n := data.recv_into(buf):
        total += n
    return total


def drain_hash(data):
    h, total = hashlib.sha256(), 0
    while chunk := data.recv(PAGE):
        h.update(chunk)
        total += len(chunk)
    return total, h.hexdigest()


def run_retr(args, ctl):
    cpu0, t0 = tree_cpus(args.pid), time.perf_counter()
    data = ctl.transfer(f"RETR {args.path}")
    digest, negotiated = None, ctl.negotiated(data)
    if args.sha256:
        total, digest = drain_hash(data)
    elif ctl.tls:
        total = drain_read(data)
    else:
        total = drain_splice(data)
    data.close()
    ctl.expect(2)
    seconds = time.perf_counter() - t0
    # Before QUIT: a forking server's session process is still alive, so its CPU is counted.
    cpus = [b - a for a, b in zip(cpu0, tree_cpus(args.pid))]
    ctl.quit()
    if total != args.size:
        raise Failed(f"RETR {args.path}: {total} bytes, expected {args.size}")
    if args.sha256 and digest != args.sha256:
        raise Failed(f"RETR {args.path}: sha256 {digest}, expected {args.sha256}")
    return {"bytes": total, "seconds": seconds, "cpu_s": cpus[0] if cpus else 0, "cpu_s_by_pid": cpus, **negotiated}


def send_tls(data, src, size):
    """Sends size bytes of src through the TLS data connection, then its close_notify."""
    buf, sent = bytearray(PAGE), 0
    view = memoryview(buf)
    while sent < size:
        n = src.readinto(buf)
        if n == 0:
            break
        data.sendall(view[:n])
        sent += n
    try:
        data.unwrap()
    except (ssl.SSLError, OSError):
        pass  # the server closed without its own close_notify: the upload ended all the same
    return sent


def run_stor(args, ctl):
    size = os.path.getsize(args.source)
    cpu0, t0 = tree_cpus(args.pid), time.perf_counter()
    data = ctl.transfer(f"STOR {args.path}")
    negotiated = ctl.negotiated(data)
    with open(args.source, "rb") as src:
        if ctl.tls:
            send_tls(data, src, size)
        else:
            sent = 0
            while sent < size:
                n = os.sendfile(data.fileno(), src.fileno(), sent, size - sent)
                if n == 0:
                    break
                sent += n
            data.shutdown(socket.SHUT_WR)
    data.close()
    ctl.expect(2)
    seconds = time.perf_counter() - t0
    cpus = [b - a for a, b in zip(cpu0, tree_cpus(args.pid))]
    reported = int(ctl.cmd(f"SIZE {args.path}", 2).split()[1])
    ctl.quit()
    if reported != size:
        raise Failed(f"STOR {args.path}: the server reports {reported} bytes, {size} were sent")
    return {"bytes": size, "seconds": seconds, "cpu_s": cpus[0] if cpus else 0, "cpu_s_by_pid": cpus, **negotiated}


def run_list(args, ctl):
    """--repeat listings in one session (each from its command to its 226, the data read
    whole); the median time, and the server's CPU per listing over all of them (one
    listing is shorter than the kernel's 10 ms accounting tick)."""
    times = []
    cpu0 = tree_cpu(args.pid)
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        data = ctl.transfer(f"{args.cmd} {args.path}")
        chunks = []
        while chunk := data.recv(PAGE):
            chunks.append(chunk)
        data.close()
        ctl.expect(2)
        times.append(time.perf_counter() - t0)
        lines = [x for x in b"".join(chunks).split(b"\r\n") if x]
        # `.` and `..` (MLSD type=cdir/pdir, LIST of some servers) are not entries.
        names = [x for x in lines if not re.search(rb"(^|[ ;/])\.{1,2}$", x) and not x.startswith(b"total ")]
        if len(names) != args.entries:
            raise Failed(f"{args.cmd} {args.path}: {len(names)} entries, expected {args.entries}")
    cpu = tree_cpu(args.pid) - cpu0
    ctl.quit()
    seconds = statistics.median(times)
    return {"entries": len(names), "listings": len(times), "seconds": seconds, "ms": seconds * 1000,
            "min_ms": min(times) * 1000, "cpu_ms_per_listing": cpu * 1000 / len(times) if args.pid else None,
            "cpu_s": cpu}


def children_cpu():
    """CPU seconds of this process's waited-for children so far (the curl runs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def http_url(args):
    return f"{'https' if args.cafile else 'http'}://{args.host}:{args.port}{args.path}"


def run_get(args):
    """One HTTP GET with curl to /dev/null; the size curl saw must be --size. HTTPS is asked
    for as HTTP/1.1 (wrk's protocol, and nginx's here), and curl's account of the handshake
    (-v) names what was negotiated."""
    url = http_url(args)
    tls = ["--cacert", args.cafile, "--http1.1", "-v"] if args.cafile else []
    cpu0, client0 = tree_cpu(args.pid), children_cpu()
    out = subprocess.run(["curl", "-sS", "--fail", "--max-time", str(args.timeout), "-o", "/dev/null", *tls,
                          "-w", "%{http_code} %{size_download} %{time_total}", url],
                         capture_output=True, text=True, timeout=args.timeout + 5)
    cpu, client_cpu = tree_cpu(args.pid) - cpu0, children_cpu() - client0
    if out.returncode != 0:
        raise Failed(f"curl {url}: {out.stderr.strip()[-2000:]}")
    code, size, seconds = out.stdout.split()
    if int(size) != args.size:
        raise Failed(f"GET {url}: {size} bytes, expected {args.size}")
    result = {"bytes": int(size), "seconds": float(seconds), "cpu_s": cpu, "client_cpu_s": client_cpu}
    if args.cafile:
        m = re.search(r"SSL connection using (\S+) / (\S+)", out.stderr)
        result["tls"] = f"{m.group(1)} {m.group(2)}" if m else "?"
    return result


def run_put(args):
    """One HTTP PUT of --source with curl (read from the page cache) under --user's Basic
    credentials; the answer must be 2xx and a HEAD afterwards must show --source's size."""
    url = http_url(args)
    tls = ["--cacert", args.cafile, "--http1.1"] if args.cafile else []
    size = os.path.getsize(args.source)
    auth = ["-u", f"{args.user}:{args.password}"]
    cpu0, client0 = tree_cpu(args.pid), children_cpu()
    out = subprocess.run(["curl", "-sS", "--fail", "--max-time", str(args.timeout), "-o", "/dev/null", *tls, *auth,
                          "-T", args.source, "-w", "%{http_code} %{size_upload} %{time_total}", url],
                         capture_output=True, text=True, timeout=args.timeout + 5)
    cpu, client_cpu = tree_cpu(args.pid) - cpu0, children_cpu() - client0
    if out.returncode != 0:
        raise Failed(f"curl -T {url}: {out.stderr.strip()[-2000:]}")
    code, sent, seconds = out.stdout.split()
    if int(float(sent)) != size:
        raise Failed(f"PUT {url}: curl sent {sent} bytes of {size}")
    head = subprocess.run(["curl", "-sS", "--fail", "-I", *tls, *auth, url], capture_output=True, text=True, timeout=30)
    m = re.search(r"(?im)^content-length:\s*(\d+)", head.stdout)
    if head.returncode != 0 or not m or int(m.group(1)) != size:
        raise Failed(f"PUT {url} (answered {code}): a HEAD then showed {m.group(1) if m else head.stdout.strip()!r}, not {size} bytes")
    return {"bytes": size, "seconds": float(seconds), "cpu_s": cpu, "client_cpu_s": client_cpu}


def run_wrk(args):
    """wrk with keep-alive connections for --seconds; every response must be a 200 of --size
    bytes (wrk counts non-2xx responses and socket errors; the transfer total is checked)."""
    url = http_url(args)
    # wrk does not say what it negotiated; a handshake of ours with the same OpenSSL
    # configuration does.
    negotiated = {"tls": https_handshake(args, tls_context(args))[0]} if args.cafile else {}
    # Paced: each connection waits --pace-ms after a response before its next request (wrk's
    # delay()), so every server is offered about the same load, below saturation, and the
    # latencies compare service times rather than how two busy processes share the cores.
    with tempfile.NamedTemporaryFile("w", prefix="benchclient-pace-", suffix=".lua") as script:
        pace = []
        if args.pace_ms:
            script.write(f"function delay() return {args.pace_ms} end\n")
            script.flush()
            pace = ["-s", script.name]
        cpu0 = tree_cpu(args.pid)
        out = subprocess.run(["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", *pace, url],
                             capture_output=True, text=True, timeout=args.seconds + 30)
        cpu = tree_cpu(args.pid) - cpu0
    text = out.stdout
    if out.returncode != 0 or "Requests/sec" not in text:
        raise Failed(f"wrk {url}: {out.stderr.strip() or text}")
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    errors = 0
    for m in re.finditer(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text):
        errors += sum(int(x) for x in m.groups())
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", text):
        errors += int(m.group(1))

    def ms(label):
        m = re.search(label + r"\s+([\d.]+)(us|ms|s)", text)
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else None

    result = {"requests": requests, "errors": errors, "req_s": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
              "p50_ms": ms("50%"), "p90_ms": ms("90%"), "p99_ms": ms("99%"), "cpu_s": cpu,
              "cpu_ms_per_1000": cpu * 1e6 / requests if requests else None,
              **({"pace_ms": args.pace_ms} if args.pace_ms else {}), **negotiated}
    if requests == 0 or errors:
        raise Failed(f"wrk {url}: {requests} requests, {errors} errors")
    # wrk reports what it read (bodies and headers, rounded to 2 decimals of its unit): short
    # bodies show as less than the requests times the size.
    m = re.search(r"requests in [\d.]+\w+, ([\d.]+)([KMGT]?B) read", text)
    read = float(m.group(1)) * 1024 ** "BKMGT".index(m.group(2)[0]) if m else 0
    if args.size and read < requests * args.size * 0.98:
        raise Failed(f"wrk {url}: {read:.0f} bytes read for {requests} responses of {args.size} bytes")
    return result


def run_h2(args):
    """h2load (nghttp2) over HTTP/2 without TLS (h2c with prior knowledge): 2 threads,
    --connections connections, --streams concurrent streams on each, for --seconds; every
    response must be a 2xx, and the data read at least the requests times --size. h2load
    prints no percentiles: the mean and the longest request time stand for latency."""
    url = http_url(args)
    cpu0 = tree_cpu(args.pid)
    out = subprocess.run(["h2load", "-t2", f"-c{args.connections}", f"-m{args.streams}", "-D", str(args.seconds), url],
                         capture_output=True, text=True, timeout=args.seconds + 30)
    cpu = tree_cpu(args.pid) - cpu0
    text = out.stdout
    done = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
    if out.returncode != 0 or not done or "Application protocol: h2c" not in text:
        raise Failed(f"h2load {url}: {out.stderr.strip() or text}")
    succeeded, failed, errored = (int(done.group(i)) for i in (3, 4, 5))
    rate = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", text).group(1))

    def ms(value, unit):
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    timing = re.search(r"time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", text)
    data = re.search(r"traffic: .*\((\d+)\) data", text)
    read = int(data.group(1)) if data else 0
    if succeeded == 0 or failed or errored:
        raise Failed(f"h2load {url}: {succeeded} succeeded, {failed} failed, {errored} errored")
    if args.size and read < succeeded * args.size * 0.98:
        raise Failed(f"h2load {url}: {read} bytes of data for {succeeded} responses of {args.size} bytes")
    return {"requests": succeeded, "errors": 0, "req_s": rate, "streams": args.streams,
            "mean_ms": ms(*timing.group(5, 6)) if timing else None, "max_ms": ms(*timing.group(3, 4)) if timing else None,
            "cpu_s": cpu, "cpu_ms_per_1000": cpu * 1e6 / succeeded}


def https_handshake(args, ctx):
    """One full TLS handshake on a new connection, then close_notify; (negotiated, resumed)."""
    with socket.create_connection((args.host, args.port), timeout=args.timeout) as raw:
        sock = ctx.wrap_socket(raw, server_hostname=args.host)
        result = tls_name(sock), sock.session_reused
        try:
            sock.unwrap()
        except (ssl.SSLError, OSError):
            pass  # a server may close without its own close_notify
        sock.close()
    return result


def ftps_handshake(args, ctx):
    """Greeting, AUTH TLS, a full handshake, QUIT; (negotiated, resumed)."""
    ctl = Control(args, ctx)
    result = tls_name(ctl.sock), ctl.sock.session_reused
    ctl.cmd("QUIT", 2)
    ctl.sock.close()
    return result


def handshake_worker(args, deadline):
    """Handshakes one after the other until deadline: (count, errors, negotiated, resumed, last error)."""
    ctx = tls_context(args)  # offers no session: OpenSSL keeps no client-side cache by default
    once = ftps_handshake if args.ftp else https_handshake
    count, errors, names, resumed, last = 0, 0, set(), 0, ""
    while time.monotonic() < deadline:
        try:
            name, reused = once(args, ctx)
        except (Failed, OSError) as e:
            errors, last = errors + 1, str(e)
            continue
        count, resumed = count + 1, resumed + reused
        names.add(name)
    return count, errors, sorted(names), resumed, last


def run_handshake(args):
    """--workers processes doing full handshakes for --seconds: rate and server CPU per handshake."""
    if not args.cafile:
        raise Failed("handshake needs --cafile")
    cpu0, t0 = tree_cpu(args.pid), time.perf_counter()
    deadline = time.monotonic() + args.seconds
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        results = pool.starmap(handshake_worker, [(args, deadline)] * args.workers)
    seconds = time.perf_counter() - t0
    cpu = tree_cpu(args.pid) - cpu0
    count, errors, resumed = (sum(r[i] for r in results) for i in (0, 1, 3))
    names = sorted({n for r in results for n in r[2]})
    if count == 0 or errors or resumed:
        last = "; ".join(r[4] for r in results if r[4])
        raise Failed(f"handshake: {count} handshakes, {errors} errors, {resumed} resumed ({last})")
    return {"handshakes": count, "errors": errors, "seconds": seconds, "hs_per_s": count / seconds,
            "cpu_s": cpu, "server_cpu_ms_per_hs": cpu * 1000 / count, "tls": " / ".join(names)}


def positive(text):
    """argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: at least 1")
    return value


def non_negative(text):
    """argparse type: an integer of at least 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: at least 0")
    return value


def summary(path, pairs=()):
    """Markdown tables of a run's results (one JSON object a line): per label and figure, the
    median over the passes and its min-max; for each pair A:B, the ratio A/B of the medians and
    the min-max of the per-pass ratios (the median of pass n of A over that of pass n of B)."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    for r in rows:  # listings measured before --repeat reported seconds only
        if r.get("op") in ("list", "mlsd", "nlst") and "ms" not in r and r.get("seconds") is not None:
            r["ms"] = r["seconds"] * 1000
    figures = {  # op -> [(key, heading, format)]
        "retr": [("mib_s", "RETR MiB/s", ".0f"), ("cpu_s_per_gib", "RETR server CPU s/GiB", ".2f"),
                 ("upstream_cpu_s_per_gib", "RETR upstream CPU s/GiB", ".2f")],
        "stor": [("mib_s", "STOR MiB/s", ".0f"), ("cpu_s_per_gib", "STOR server CPU s/GiB", ".2f"),
                 ("upstream_cpu_s_per_gib", "STOR upstream CPU s/GiB", ".2f")],
        "conc": [("tx_per_s", "200 clients tx/s (ftpload)", ".0f"), ("p99_ms", "200 clients p99 ms", ".1f"),
                 ("errors", "200 clients errors", ".0f"), ("server_cpu_ms_per_tx", "server CPU ms/tx", ".3f")],
        "login": [("tx_per_s", "logins/s (ftpload)", ".0f"), ("server_cpu_ms_per_tx", "server CPU ms/login", ".3f")],
        "list": [("ms", "LIST 10k ms", ".2f"), ("cpu_ms_per_listing", "LIST 10k server CPU ms", ".2f")],
        "mlsd": [("ms", "MLSD 10k ms", ".2f"), ("cpu_ms_per_listing", "MLSD 10k server CPU ms", ".2f")],
        "nlst": [("ms", "NLST 10k ms", ".2f"), ("cpu_ms_per_listing", "NLST 10k server CPU ms", ".2f")],
        "idle": [("kib_per_session", "idle KiB/session (PSS)", ".1f")],
        "httpidle": [("kib_per_session", "HTTP idle keep-alive KiB/connection (PSS)", ".1f")],
        "get": [("mib_s", "HTTP GET big MiB/s", ".0f"), ("cpu_s_per_gib", "HTTP GET server CPU s/GiB", ".2f"),
                ("total_cpu_s_per_gib", "HTTP GET server + curl CPU s/GiB", ".2f")],
        "put": [("mib_s", "HTTP PUT big MiB/s", ".0f"), ("cpu_s_per_gib", "HTTP PUT server CPU s/GiB", ".2f"),
                ("total_cpu_s_per_gib", "HTTP PUT server + curl CPU s/GiB", ".2f")],
        "wrk": [("req_s", "HTTP small GET req/s (wrk)", ".0f"), ("p90_ms", "HTTP small p90 ms", ".2f"), ("p99_ms", "HTTP small p99 ms", ".2f"),
                ("cpu_ms_per_1000", "HTTP server CPU ms/1000 req", ".1f")],
        "wrk1k": [("req_s", "HTTP 1 KiB GET req/s (wrk)", ".0f"), ("p90_ms", "HTTP 1 KiB p90 ms", ".2f"), ("p99_ms", "HTTP 1 KiB p99 ms", ".2f"),
                  ("cpu_ms_per_1000", "HTTP 1 KiB server CPU ms/1000 req", ".1f")],
        "wrk100k": [("req_s", "HTTP 100 KiB GET req/s (wrk)", ".0f"), ("p90_ms", "HTTP 100 KiB p90 ms", ".2f"), ("p99_ms", "HTTP 100 KiB p99 ms", ".2f"),
                    ("cpu_ms_per_1000", "HTTP 100 KiB server CPU ms/1000 req", ".1f")],
        "paced": [("req_s", "HTTP 10 KiB paced req/s (wrk)", ".0f"), ("p50_ms", "HTTP 10 KiB paced p50 ms", ".2f"),
                  ("p90_ms", "HTTP 10 KiB paced p90 ms", ".2f"), ("p99_ms", "HTTP 10 KiB paced p99 ms", ".2f")],
        "paced1k": [("req_s", "HTTP 1 KiB paced req/s (wrk)", ".0f"), ("p50_ms", "HTTP 1 KiB paced p50 ms", ".2f"),
                    ("p90_ms", "HTTP 1 KiB paced p90 ms", ".2f"), ("p99_ms", "HTTP 1 KiB paced p99 ms", ".2f")],
        "h2": [("req_s", "HTTP/2 10 KiB GET req/s (h2load)", ".0f"), ("mean_ms", "HTTP/2 10 KiB mean ms", ".2f"),
               ("max_ms", "HTTP/2 10 KiB max ms", ".1f"), ("cpu_ms_per_1000", "HTTP/2 10 KiB server CPU ms/1000 req", ".1f")],
        "h2_1k": [("req_s", "HTTP/2 1 KiB GET req/s (h2load)", ".0f"), ("mean_ms", "HTTP/2 1 KiB mean ms", ".2f"),
                  ("cpu_ms_per_1000", "HTTP/2 1 KiB server CPU ms/1000 req", ".1f")],
        "handshake": [("hs_per_s", "TLS full handshakes/s", ".0f"),
                      ("server_cpu_ms_per_hs", "server CPU ms/handshake", ".3f")],
    }
    labels = list(dict.fromkeys(r["label"] for r in rows))

    def by_pass(label, op, key):
        """pass -> the values of one figure in that pass (the HTTP GET is measured 3 times a pass)."""
        values = {}
        for r in rows:
            if r["label"] == label and r["op"] == op and r.get(key) is not None:
                values.setdefault(r["rep"], []).append(r[key])
        return values

    pairs = [tuple(p.split(":")) for p in pairs]
    print("| figure | " + " | ".join(labels + [f"{a}/{b}" for a, b in pairs]) + " |")
    print("|---|" + "---:|" * (len(labels) + len(pairs)))
    for op, keys in figures.items():
        for key, heading, fmt in keys:
            cells, any_value = [], False
            for label in labels:
                vals = [r[key] for r in rows if r["label"] == label and r["op"] == op and r.get(key) is not None]
                if vals:
                    any_value = True
                    med = statistics.median(vals)
                    cell = format(med, fmt)
                    if len(vals) > 1:
                        cell += f" ({format(min(vals), fmt)}–{format(max(vals), fmt)})"
                    cells.append(cell)
                else:
                    cells.append("n/a")
            for a, b in pairs:
                va, vb = by_pass(a, op, key), by_pass(b, op, key)
                per_pass = [statistics.median(va[n]) / statistics.median(vb[n])
                            for n in va if n in vb and statistics.median(vb[n])]
                all_b = [v for vals in vb.values() for v in vals]
                if per_pass and statistics.median(all_b):
                    ratio = statistics.median([v for vals in va.values() for v in vals]) / statistics.median(all_b)
                    cells.append(f"{ratio:.2f}× ({min(per_pass):.2f}–{max(per_pass):.2f})")
                else:
                    cells.append("")
            if any_value:
                print(f"| {heading} | " + " | ".join(cells) + " |")
    negotiated = {}
    for r in rows:
        if r.get("tls"):
            negotiated.setdefault(r["label"], {}).setdefault(r["tls"], 0)
            negotiated[r["label"]][r["tls"]] += 1
    if negotiated:
        print("\nNegotiated (measurements): " + "; ".join(
            f"{label} " + ", ".join(f"{name} ({n})" for name, n in names.items())
            for label, names in negotiated.items()))
        resumed = {}
        for r in rows:
            if "data_resumed" in r:
                resumed.setdefault(r["label"], []).append(bool(r["data_resumed"]))
        if resumed:
            print("\nFTPS data connections resuming the control session: " + "; ".join(
                f"{label} {sum(v)} of {len(v)}" for label, v in resumed.items()))
    failed = [r for r in rows if r.get("failed")]
    if failed:
        print("\nFailed measurements: " + ", ".join(f"{r['label']} {r['op']}" for r in failed))


def run_idle(args):
    # One login first, so that what a server keeps once (dualgate's verified-login cache and
    # its argon2id working memory, a forking server's first session) is not spread over the
    # sessions.
    ctl = Control(args)
    ctl.login(args.user, args.password)
    ctl.quit()
    time.sleep(1)
    before = tree_pss_kib(args.pid[0])
    sessions = []
    try:
        for _ in range(args.sessions):
            ctl = Control(args)
            ctl.login(args.user, args.password)
            sessions.append(ctl)
        time.sleep(2)
        after = tree_pss_kib(args.pid[0])
    finally:
        for ctl in sessions:
            ctl.sock.close()
    return {"sessions": len(sessions), "pss_before_kib": before, "pss_after_kib": after,
            "kib_per_session": (after - before) / args.sessions}


def http_get(sock, path, size, timeout):
    """One keep-alive GET on sock; the answer must be a 200 of `size` body bytes that leaves
    the connection open (no `Connection: close`)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: benchclient\r\n\r\n".encode())
    head = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        if not chunk or time.monotonic() > deadline:
            raise Failed(f"GET {path}: the connection closed in the response head")
        head += chunk
    head, body = head.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 200"):
        raise Failed(f"GET {path}: {lines[0]}")
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if fields.get("connection", "").lower() == "close":
        raise Failed(f"GET {path}: the server closes the connection (Connection: close)")
    length = int(fields.get("content-length", -1))
    if length != size:
        raise Failed(f"GET {path}: Content-Length {length}, expected {size}")
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk or time.monotonic() > deadline:
            raise Failed(f"GET {path}: the connection closed in the body")
        body += chunk
    if len(body) != length:
        raise Failed(f"GET {path}: {len(body)} body bytes, expected {length}")


def run_http_idle(args):
    """--sessions HTTP/1.1 connections, each left idle (keep-alive) after one GET of --path:
    the growth of the server tree's PSS per connection. Connections come from --sources
    loopback addresses (127.0.0.2, 127.0.0.3, ...) so that 10,000 of them and the previous
    run's TIME_WAIT sockets do not exhaust one address's ephemeral ports. Afterwards a GET on
    every 100th connection checks that the idle connections were kept and still serve."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.sessions + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.sessions + 1000), hard))
    # A first connection, closed, so that what a server allocates once is not counted.
    with socket.create_connection((args.host, args.port), timeout=args.timeout) as s:
        http_get(s, args.path, args.size, args.timeout)
    time.sleep(1)
    before = tree_pss_kib(args.pid[0])
    conns = []
    t0 = time.monotonic()
    try:
        for i in range(args.sessions):
            source = f"127.0.0.{2 + i % args.sources}"
            s = socket.create_connection((args.host, args.port), timeout=args.timeout, source_address=(source, 0))
            conns.append(s)
            if not args.no_request:
                http_get(s, args.path, args.size, args.timeout)
        opened = time.monotonic() - t0
        time.sleep(2)
        after = tree_pss_kib(args.pid[0])
        if not args.no_request:
            for s in conns[::100]:
                http_get(s, args.path, args.size, args.timeout)
    finally:
        for s in conns:
            s.close()
    return {"sessions": len(conns), "pss_before_kib": before, "pss_after_kib": after, "open_s": opened,
            "kib_per_session": (after - before) / args.sessions}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    if len(sys.argv) >= 3 and sys.argv[1] == "summary":
        summary(sys.argv[2], sys.argv[3:])
        return
    p.add_argument("op", choices=["retr", "stor", "list", "idle", "httpidle", "get", "put", "wrk", "h2", "handshake"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", default=os.environ.get("FTP_USER", "dualgate-bench"))
    p.add_argument("--password", default=os.environ.get("FTP_PASS", ""))
    p.add_argument("--path", default="/")
    p.add_argument("--size", type=int, help="retr: the expected byte count")
    p.add_argument("--sha256", help="retr: the expected digest (the data is then read, not spliced)")
    p.add_argument("--source", help="stor, put: the file to send")
    p.add_argument("--cmd", choices=["LIST", "MLSD", "NLST"], default="LIST")
    p.add_argument("--entries", type=int, help="list: the expected entry count")
    p.add_argument("--repeat", type=positive, default=1, help="list: listings in the session (the median is reported)")
    p.add_argument("--sessions", type=int, default=500)
    p.add_argument("--sources", type=int, default=8, help="httpidle: loopback source addresses")
    p.add_argument("--no-request", action="store_true", help="httpidle: connect only, send nothing")
    p.add_argument("--connections", type=int, default=64, help="wrk: keep-alive connections")
    p.add_argument("--pace-ms", type=non_negative, default=0,
                   help="wrk: whole milliseconds each connection waits after a response (0: none, saturating)")
    p.add_argument("--streams", type=int, default=10, help="h2: concurrent streams per connection")
    p.add_argument("--seconds", type=int, default=10, help="wrk, h2, handshake: duration")
    p.add_argument("--cafile", help="TLS (FTPS, HTTPS) with this certificate as the one authority")
    p.add_argument("--ftp", action="store_true", help="handshake: FTPS (greeting, AUTH TLS) instead of HTTPS")
    p.add_argument("--workers", type=int, default=4, help="handshake: client processes")
    p.add_argument("--pid", type=int, action="append", default=[], help="a server process (repeatable)")
    p.add_argument("--label", default="")
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    try:
        if args.op in ("idle", "httpidle", "get", "put", "wrk", "h2", "handshake"):
            result = {"idle": run_idle, "httpidle": run_http_idle, "get": run_get, "put": run_put, "wrk": run_wrk,
                      "h2": run_h2, "handshake": run_handshake}[args.op](args)
        else:
            ctl = Control(args)
            ctl.login(args.user, args.password)
            result = {"retr": run_retr, "stor": run_stor, "list": run_list}[args.op](args, ctl)
        if "bytes" in result:
            result["mib_s"] = result["bytes"] / result["seconds"] / 2**20
            result["cpu_s_per_gib"] = result["cpu_s"] * 2**30 / result["bytes"] if args.pid else None
            if args.pid and "client_cpu_s" in result:
                result["total_cpu_s_per_gib"] = (result["cpu_s"] + result["client_cpu_s"]) * 2**30 / result["bytes"]
            if len(result.get("cpu_s_by_pid", [])) > 1:
                result["upstream_cpu_s_per_gib"] = result["cpu_s_by_pid"][1] * 2**30 / result["bytes"]
    except (Failed, OSError, subprocess.TimeoutExpired) as e:
        print(f"benchclient {args.op} {args.label}: {e}", file=sys.stderr)
        sys.exit(1)
    result.update({"op": args.op if args.op != "list" else args.cmd.lower(), "label": args.label})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
