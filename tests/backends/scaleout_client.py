#!/usr/bin/env python3
"""Concurrent clients against several dualgate instances behind one TCP balancer.

Run by tests/backends/scaleout.sh, which starts the instances, the S3 store and HAProxy
and passes their addresses. Standard library only.

Each client (one thread) logs in over FTP through the balancer, makes its own directory
(MKD), uploads a file of random bytes and random size (STOR), downloads it over HTTP
through the balancer (GET with Basic auth) and over FTP (RETR), comparing length and
SHA-256 both times, checks that LIST of its directory names the file, deletes it (DELE),
checks over HTTP that it is gone (404), removes its directory (RMD) and quits. Every
PASV reply must advertise the public address, and all the passive ports of one session
must belong to one instance's range: the instance is read from them.

The instance that served each session is counted from its passive ports; each instance's
/metrics (before and after) and HAProxy's per-server session counters (its stats socket)
give the split independently. The summary table goes to stdout and its last line is
exactly `N passed, M failed` (N: clients whose every step passed). Exit status 0 only
if every client passed and every instance served at least --min-share of the sessions.
"""

import argparse
import base64
import ftplib
import hashlib
import http.client
import os
import random
import re
import socket
import sys
import threading
import time
import urllib.parse

STEPS = ["login", "mkd", "stor", "http_get", "retr", "list", "dele", "gone", "rmd", "quit"]
CHUNK = 64 * 1024


class Instance:
    def __init__(self, spec):
        # NAME:LO-HI:ADMIN_HOST:ADMIN_PORT
        name, ports, host, port = spec.split(":")
        lo, hi = ports.split("-")
        self.name, self.lo, self.hi = name, int(lo), int(hi)
        self.admin = (host, int(port))

    def owns(self, port):
        return self.lo <= port <= self.hi


class RandomSource:
    """A file-like object of SIZE random bytes, hashed as they are read (nothing kept)."""

    def __init__(self, size):
        self.left = size
        self.sha = hashlib.sha256()

    def read(self, n=-1):
        if self.left <= 0:
            return b""
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = os.urandom(n)
        self.left -= n
        self.sha.update(data)
        return data


class TracingFTP(ftplib.FTP):
    """ftplib with the PASV reply's address used (and checked) and every port recorded."""

    public_address = None

    def __init__(self, *a, **kw):
        self.pasv = []  # (host, port) of each PASV reply
        super().__init__(*a, **kw)

    def makepasv(self):
        host, port = ftplib.parse227(self.sendcmd("PASV"))
        self.pasv.append((host, port))
        if self.public_address and host != self.public_address:
            raise StepError(f"PASV advertised {host}:{port}, not the public address {self.public_address}")
        return host, port


class StepError(Exception):
    pass


class Result:
    def __init__(self, idx):
        self.idx = idx
        self.size = 0
        self.path = None
        self.steps = {}  # step -> True / error text
        self.step = "start"
        self.instance = None
        self.ports = []
        self.bytes_verified = 0
        self.done = False

    @property
    def passed(self):
        return self.done and "session" not in self.steps and all(self.steps.get(s) is True for s in STEPS)

    def first_error(self):
        for s in STEPS + ["session"]:
            v = self.steps.get(s)
            if v is not True and v is not None:
                return s, v
        if not self.done:
            return self.step, "did not finish before the deadline"
        return None


def run_client(idx, args, instances, tag, result, basic):
    rng = random.Random()
    size = rng.randint(args.min_size, args.max_size)
    result.size = size
    directory = f"/scaleout-{tag}-c{idx:03d}"
    name = f"f{idx:03d}-{os.urandom(4).hex()}.bin"
    path = f"{directory}/{name}"
    result.path = path
    ftp = TracingFTP(timeout=args.timeout)
    ftp.public_address = args.public_address
    ftp.trust_server_pasv_ipv4_address = True

    def step(label, fn):
        result.step = label
        try:
            fn()
        except Exception as e:  # every failure is recorded with what came back
            result.steps[label] = f"{type(e).__name__}: {e}"
            raise StepError(label) from e
        result.steps[label] = True

    def login():
        host, port = args.ftp
        ftp.connect(host, port, timeout=args.timeout)
        ftp.login(args.user, args.password)

    def mkd():
        ftp.mkd(directory)

    sent = {}

    def stor():
        src = RandomSource(size)
        reply = ftp.storbinary(f"STOR {path}", src, blocksize=CHUNK)
        if not reply.startswith("226"):
            raise StepError(f"STOR answered {reply!r}")
        if src.left != 0:
            raise StepError(f"STOR stopped with {src.left} bytes unsent")
        sent["sha"] = src.sha.hexdigest()

    def http_get():
        conn = http.client.HTTPConnection(*args.http, timeout=args.timeout)
        try:
            conn.request("GET", urllib.parse.quote(path), headers={"Authorization": basic})
            resp = conn.getresponse()
            if resp.status != 200:
                body = resp.read(300)
                raise StepError(f"GET {path}: HTTP {resp.status} {resp.reason}: {body!r}")
            length = resp.getheader("Content-Length")
            if length is not None and int(length) != size:
                raise StepError(f"GET {path}: Content-Length {length}, uploaded {size}")
            sha, got = hashlib.sha256(), 0
            while True:
                chunk = resp.read(CHUNK)
                if not chunk:
                    break
                sha.update(chunk)
                got += len(chunk)
            if got != size or sha.hexdigest() != sent["sha"]:
                raise StepError(f"GET {path}: {got} bytes sha256 {sha.hexdigest()[:16]}…, "
                                f"uploaded {size} bytes sha256 {sent['sha'][:16]}…")
            result.bytes_verified += got
        finally:
            conn.close()

    def retr():
        sha, got = hashlib.sha256(), [0]

        def sink(chunk):
            sha.update(chunk)
            got[0] += len(chunk)

        reply = ftp.retrbinary(f"RETR {path}", sink, blocksize=CHUNK)
        if not reply.startswith("226"):
            raise StepError(f"RETR answered {reply!r}")
        if got[0] != size or sha.hexdigest() != sent["sha"]:
            raise StepError(f"RETR {path}: {got[0]} bytes sha256 {sha.hexdigest()[:16]}…, "
                            f"uploaded {size} bytes sha256 {sent['sha'][:16]}…")
        result.bytes_verified += got[0]

    def listing():
        lines = []
        ftp.retrlines(f"LIST {directory}", lines.append)
        if not any(line.split()[-1:] == [name] for line in lines):
            raise StepError(f"LIST {directory} lacks {name}: {lines!r}")
        if not any(name in line and f" {size} " in f" {line} " for line in lines):
            raise StepError(f"LIST {directory}: no line with {name} shows size {size}: {lines!r}")

    def dele():
        reply = ftp.delete(path)
        if not reply.startswith("250"):
            raise StepError(f"DELE answered {reply!r}")

    def gone():
        # A new connection: the balancer may hand it to the other instance.
        conn = http.client.HTTPConnection(*args.http, timeout=args.timeout)
        try:
            conn.request("HEAD", urllib.parse.quote(path), headers={"Authorization": basic})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 404:
                raise StepError(f"HEAD {path} after DELE: HTTP {resp.status} {resp.reason}, expected 404")
        finally:
            conn.close()

    def rmd():
        ftp.rmd(directory)

    def quit_():
        ftp.quit()

    try:
        for label, fn in [("login", login), ("mkd", mkd), ("stor", stor), ("http_get", http_get),
                          ("retr", retr), ("list", listing), ("dele", dele), ("gone", gone),
                          ("rmd", rmd), ("quit", quit_)]:
            step(label, fn)
    except StepError:
        pass
    finally:
        result.ports = [p for _, p in ftp.pasv]
        owners = {inst.name for inst in instances for p in result.ports if inst.owns(p)}
        strays = [p for p in result.ports if not any(inst.owns(p) for inst in instances)]
        if len(owners) == 1 and not strays:
            result.instance = owners.pop()
        elif result.ports:
            result.steps.setdefault("session", f"passive ports {result.ports} span {sorted(owners)} "
                                               f"(stray {strays}): one session, several instances")
            result.instance = "?"
        try:
            ftp.close()
        except Exception:
            pass
        result.done = True


METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def scrape(inst, timeout):
    """{(name, frozenset(labels)): value} from an instance's /metrics, or None."""
    try:
        conn = http.client.HTTPConnection(*inst.admin, timeout=timeout)
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        conn.close()
        if resp.status != 200:
            return None
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        m = METRIC_LINE.match(line)
        if not m or line.startswith("#"):
            continue
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        try:
            out[(m.group(1), labels)] = float(m.group(3))
        except ValueError:
            pass
    return out


def metric_sum(snap, name, **want):
    if snap is None:
        return None
    return sum(v for (n, labels), v in snap.items()
               if n == name and all((k, w) in labels for k, w in want.items()))


def delta(before, after, name, **want):
    a, b = metric_sum(after, name, **want), metric_sum(before, name, **want)
    if a is None or b is None:
        return None
    return int(round(a - b))


ACCESS = re.compile(r'protocol="(ftp|http)" verb="([A-Z]+)" path="([^"]*)".* code=(\d+)')


def served_by(logs):
    """{(protocol, verb, path, code): instance name} from the gateways' access logs."""
    out = {}
    for name, path in logs:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    m = ACCESS.search(line)
                    if m:
                        out[(m.group(1), m.group(2), m.group(3), int(m.group(4)))] = name
        except OSError:
            pass
    return out


def haproxy_stats(sock_path, timeout):
    """{(proxy, server): total sessions} from HAProxy's stats socket, or {}."""
    if not sock_path:
        return {}
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(b"show stat\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
    except OSError:
        return {}
    lines = data.decode("utf-8", "replace").splitlines()
    if not lines or not lines[0].startswith("# "):
        return {}
    cols = lines[0][2:].split(",")
    out = {}
    for line in lines[1:]:
        row = dict(zip(cols, line.split(",")))
        if row.get("svname") not in (None, "FRONTEND", "BACKEND") and row.get("stot", "").isdigit():
            out[(row["pxname"], row["svname"])] = int(row["stot"])
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    hostport = lambda s: (s.rsplit(":", 1)[0], int(s.rsplit(":", 1)[1]))  # noqa: E731
    p.add_argument("--ftp", type=hostport, required=True, help="balancer FTP HOST:PORT")
    p.add_argument("--http", type=hostport, required=True, help="balancer HTTP HOST:PORT")
    p.add_argument("--instance", action="append", required=True,
                   help="NAME:PASV_LO-PASV_HI:ADMIN_HOST:ADMIN_PORT (repeat)")
    p.add_argument("--user", required=True)
    p.add_argument("--password", default=os.environ.get("SCALEOUT_PASSWORD"),
                   help="default: $SCALEOUT_PASSWORD")
    p.add_argument("--public-address", default=None, help="address every PASV reply must carry")
    p.add_argument("--haproxy-socket", default=None, help="HAProxy stats socket (optional)")
    p.add_argument("--log", action="append", default=[],
                   help="NAME:PATH of an instance's log (optional, repeat): shows which instance "
                        "served each HTTP request")
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--min-size", type=int, default=1024)
    p.add_argument("--max-size", type=int, default=4 << 20)
    p.add_argument("--timeout", type=float, default=60.0, help="every socket operation, seconds")
    p.add_argument("--deadline", type=float, default=150.0, help="the whole run, seconds")
    p.add_argument("--min-share", type=float, default=0.25,
                   help="least share of the sessions each instance must serve")
    args = p.parse_args()
    if not args.password:
        p.error("no password (--password or $SCALEOUT_PASSWORD)")
    instances = [Instance(s) for s in args.instance]
    basic = "Basic " + base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
    tag = os.urandom(3).hex()

    before = {inst.name: scrape(inst, 10) for inst in instances}
    results = [Result(i) for i in range(args.clients)]
    threads = [threading.Thread(target=run_client, args=(i, args, instances, tag, results[i], basic),
                                name=f"client-{i}", daemon=True) for i in range(args.clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    deadline = start + args.deadline
    next_report = start + 10
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(0.2)
        if time.monotonic() >= next_report:
            finished = sum(r.done for r in results)
            failed = sum(r.done and not r.passed for r in results)
            print(f"  {time.monotonic() - start:5.1f}s: {finished}/{args.clients} clients finished,"
                  f" {failed} failed", file=sys.stderr, flush=True)
            next_report += 10
    elapsed = time.monotonic() - start
    time.sleep(0.5)  # let the last sessions' counters settle
    after = {inst.name: scrape(inst, 10) for inst in instances}
    balancer = haproxy_stats(args.haproxy_socket, 10)
    served = served_by([tuple(spec.split(":", 1)) for spec in args.log])

    passed = [r for r in results if r.passed]
    failed = [r for r in results if not r.passed]
    total_bytes = sum(r.size for r in results)
    verified = sum(r.bytes_verified for r in results)

    # --- failures, first ---
    if failed:
        print(f"FAILURES ({len(failed)}; the first 20):")
        for r in failed[:20]:
            step, err = r.first_error() or ("?", "?")
            print(f"  client {r.idx:3d} ({r.size} bytes, instance {r.instance or '-'}): {step}: {err}")
        by_step = {}
        for r in failed:
            step = (r.first_error() or ("?", ""))[0]
            by_step[step] = by_step.get(step, 0) + 1
        print("  first failing step: " + ", ".join(f"{s} {n}" for s, n in sorted(by_step.items())))
        print()

    # --- per step ---
    print(f"scale-out: {args.clients} clients, {len(instances)} instances, "
          f"files {args.min_size}-{args.max_size} bytes ({total_bytes / 2**20:.1f} MiB uploaded, "
          f"{verified / 2**20:.1f} MiB downloaded and verified by SHA-256), {elapsed:.1f}s")
    print()
    print(f"{'step':<10} {'passed':>7} {'failed':>7} {'not run':>8}")
    for s in STEPS:
        ok = sum(r.steps.get(s) is True for r in results)
        bad = sum(r.steps.get(s) not in (None, True) for r in results)
        print(f"{s:<10} {ok:>7} {bad:>7} {args.clients - ok - bad:>8}")
    print()

    # --- per instance ---
    def cell(v):
        return "n/a" if v is None else str(v)

    rows = [
        ("FTP sessions (by passive port)", lambda n: sum(r.instance == n for r in results)),
        ("  of them passed", lambda n: sum(r.instance == n and r.passed for r in results)),
        ("FTP control connections (/metrics)",
         lambda n: delta(before[n], after[n], "dualgate_connections_total", protocol="ftp")),
        ("FTP logins ok (/metrics)",
         lambda n: delta(before[n], after[n], "dualgate_logins_total", protocol="ftp", result="success")),
        ("FTP STOR (/metrics)",
         lambda n: delta(before[n], after[n], "dualgate_commands_total", protocol="ftp", command="STOR")),
        ("FTP bytes in (/metrics)",
         lambda n: delta(before[n], after[n], "dualgate_transfer_bytes_total", protocol="ftp", direction="in")),
        ("HTTP connections (/metrics)",
         lambda n: delta(before[n], after[n], "dualgate_connections_total", protocol="http")),
        ("HTTP GET (/metrics)",
         lambda n: delta(before[n], after[n], "dualgate_commands_total", protocol="http", command="GET")),
        ("HTTP bytes out (/metrics)",
         lambda n: delta(before[n], after[n], "dualgate_transfer_bytes_total", protocol="http", direction="out")),
    ]
    if served:
        def cross(verb, code):
            # requests that reached an instance other than the one holding the FTP session
            return lambda n: sum(1 for r in results if r.instance and r.instance != n
                                 and served.get(("http", verb, r.path, code)) == n)
        rows += [
            ("HTTP GET of a file STORed on the other", cross("GET", 200)),
            ("HTTP 404 after DELE on the other", cross("HEAD", 404)),
        ]
    if balancer:
        rows += [
            ("HAProxy control sessions", lambda n: balancer.get(("ftp_control", n.lower()))),
            ("HAProxy data sessions", lambda n: balancer.get((f"ftp_data_{n.lower()}", n.lower()))),
            ("HAProxy HTTP sessions", lambda n: balancer.get(("http", n.lower()))),
        ]
    names = [inst.name for inst in instances]
    width = max(len(label) for label, _ in rows)
    print(f"{'per instance':<{width}} " + " ".join(f"{n:>12}" for n in names))
    for label, fn in rows:
        print(f"{label:<{width}} " + " ".join(f"{cell(fn(n)):>12}" for n in names))
    print()

    # --- the split ---
    ok = not failed
    counted = sum(r.instance in names for r in results)
    shares = {n: sum(r.instance == n for r in results) for n in names}
    for n in names:
        share = shares[n] / counted if counted else 0.0
        verdict = "ok" if share >= args.min_share else f"FAIL (< {args.min_share:.0%})"
        print(f"instance {n}: {shares[n]} of {counted} sessions ({share:.0%}) {verdict}")
        if share < args.min_share:
            ok = False
    for n in names:
        if after[n] is None:
            print(f"instance {n}: /metrics could not be read after the run")
    print(f"{len(passed)} passed, {len(failed)} failed")
    sys.stdout.flush()
    os._exit(0 if ok else 1)  # threads still stuck past the deadline must not hold the exit


if __name__ == "__main__":
    main()
