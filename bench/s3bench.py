#!/usr/bin/env python3
"""The client side of bench/s3.sh (dualgate on an object store vs rclone serve ftp/webdav).

Standard library only: the S3 calls are signed here (SigV4, UNSIGNED-PAYLOAD), so that seeding
10,000 keys costs the client a fraction of what boto3 would on a 2-core machine shared with the
store and the servers. Every subcommand prints one JSON object on stdout.

  timed      run a command; wall time, CPU of named process trees, peak memory of some of them
             (VmHWM after resetting it through /proc/PID/clear_refs, and VmRSS sampled every 20 ms)
  rest-stor  FTP REST n + STOR of a file (the new tail), ftplib, timed inside
  small-ftp  N concurrent FTP clients looping login + STOR + RETR (checked) + DELE + QUIT
  small-http N concurrent HTTP clients (keep-alive) looping PUT + GET (checked)
  seed       put N small keys under a prefix, threads
  count      count the keys under a prefix (ListObjectsV2)
  sha        size and SHA-256 of one object, read from the store directly
  copy       CopyObject inside the store
  head       HeadObject: status, ETag, size
  wait-change  poll HeadObject until a key's ETag changes (an upload that lands after its 226)
  delete     delete keys (or every key under a prefix)
  proc       CPU seconds of named process trees (for before/after deltas)

Loopback only: every address given must be 127.0.0.1 / localhost.
"""

import argparse
import asyncio
import base64
import concurrent.futures
import datetime
import ftplib
import hashlib
import hmac
import http.client
import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

CLK_TCK = os.sysconf("SC_CLK_TCK")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def need_loopback(host):
    if host not in LOOPBACK:
        sys.exit(f"s3bench: {host} is not a loopback address")


# ---------------------------------------------------------------------------------------------
# /proc: process trees, CPU, memory


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pid):
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def cpu_of(pid):
    """utime + stime of a single process, seconds (0 if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return 0.0
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu(pid):
    return sum(cpu_of(p) for p in tree(pid))


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


REQ_LINE = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3})')


def classify(method, target):
    path, _, query = target.partition("?")
    q = urllib.parse.parse_qs(query, keep_blank_values=True)
    object_key = path.strip("/").count("/") >= 1
    if method == "GET" and not object_key:
        return "ListObjects"
    if "uploads" in q:
        return "CreateMultipartUpload" if method == "POST" else "ListMultipartUploads"
    if "partNumber" in q and method == "PUT":
        return "UploadPart(Copy)"
    if "uploadId" in q:
        return {"POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload"}.get(method, "ListParts")
    return {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject/CopyObject",
            "DELETE": "DeleteObject", "POST": "POST"}.get(method, method)


def store_requests(log, offset):
    """Requests of a moto access log written after byte OFFSET, counted by kind (status >= 400 apart)."""
    counts = {}
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            for line in f:
                m = REQ_LINE.search(line.decode(errors="replace"))
                if not m:
                    continue
                kind = classify(m.group(1), m.group(2))
                if int(m.group(3)) >= 400:
                    kind += f" {m.group(3)}"
                counts[kind] = counts.get(kind, 0) + 1
    except OSError:
        return None
    return counts


def log_size(log):
    try:
        return os.path.getsize(log) if log else None
    except OSError:
        return None


def parse_pids(specs):
    out = {}
    for s in specs or []:
        name, _, pid = s.partition("=")
        out[name] = int(pid)
    return out


def cmd_proc(a):
    print(json.dumps({n: round(tree_cpu(p), 3) for n, p in parse_pids(a.pid).items()}))


def cmd_timed(a):
    cpu_pids = parse_pids(a.pid)
    mem_pids = parse_pids(a.mem)
    for pid in mem_pids.values():  # reset the peak (VmHWM) to the current RSS
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError as e:
            print(f"s3bench: cannot reset VmHWM of {pid}: {e}", file=sys.stderr)
    log0 = log_size(a.store_log)
    before_rss = {n: status_kib(p, "VmRSS") for n, p in mem_pids.items()}
    peak = dict(before_rss)
    cpu0 = {n: tree_cpu(p) for n, p in cpu_pids.items()}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            for n, p in mem_pids.items():
                v = status_kib(p, "VmRSS")
                if v is not None and (peak[n] is None or v > peak[n]):
                    peak[n] = v
            stop.wait(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.monotonic()
    try:
        p = subprocess.run(a.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=a.timeout)
        rc, out, err = p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", (e.stdout or b"").decode(errors="replace"), "timed out"
    wall = time.monotonic() - t0
    stop.set()
    th.join()
    res = {"wall_s": round(wall, 4), "rc": rc,
           "cpu_s": {n: round(tree_cpu(p) - cpu0[n], 3) for n, p in cpu_pids.items()}}
    if log0 is not None:
        time.sleep(0.2)  # the store logs a request after answering it
        res["store_requests"] = store_requests(a.store_log, log0)
    if mem_pids:
        res["rss_before_kib"] = before_rss
        res["rss_peak_sampled_kib"] = peak
        res["vmhwm_kib"] = {n: status_kib(p, "VmHWM") for n, p in mem_pids.items()}
    out = out.strip()
    try:
        res["out"] = json.loads(out) if out else None
    except ValueError:
        res["out"] = out[-2000:]
    if err.strip():
        res["stderr"] = err.strip()[-2000:]
    print(json.dumps(res))


# ---------------------------------------------------------------------------------------------
# FTP resume (REST n + STOR)


def cmd_rest_stor(a):
    need_loopback(a.host)
    size = os.path.getsize(a.file)
    res = {"offset": a.offset, "sent": 0}
    # --file is what goes after REST n (a tail), so the client needs no copy of the old bytes
    t0 = time.monotonic()
    try:
        ftp = ftplib.FTP()
        ftp.connect(a.host, a.port, timeout=a.timeout)
        ftp.login(a.user, a.password)
        with open(a.file, "rb") as f:
            t1 = time.monotonic()
            reply = ftp.storbinary(f"STOR {a.path}", f, blocksize=1 << 20, rest=a.offset)
            res["transfer_s"] = round(time.monotonic() - t1, 4)
        res["reply"] = reply
        res["sent"] = size
        ftp.quit()
        res["ok"] = True
    except ftplib.all_errors as e:
        res["ok"] = False
        res["error"] = f"{type(e).__name__}: {e}"
    res["elapsed_s"] = round(time.monotonic() - t0, 4)
    print(json.dumps(res))


# ---------------------------------------------------------------------------------------------
# small transactions: asyncio clients


class Fail(Exception):
    pass


async def ftp_reply(r, timeout):
    line = await asyncio.wait_for(r.readline(), timeout)
    if len(line) < 4:
        raise Fail(f"short reply {line!r}")
    code = line[:3]
    text = [line]
    if line[3:4] == b"-":
        while True:
            line = await asyncio.wait_for(r.readline(), timeout)
            if not line:
                raise Fail("connection closed in a multi-line reply")
            text.append(line)
            if line[:3] == code and line[3:4] == b" ":
                break
    return int(code), b"".join(text).decode(errors="replace").strip()


async def ftp_cmd(r, w, line, ok, timeout):
    w.write(line.encode() + b"\r\n")
    await w.drain()
    code, text = await ftp_reply(r, timeout)
    if code not in ok:
        raise Fail(f"{line.split()[0]}: {text[:120]}")
    return code, text


async def ftp_pasv(r, w, timeout):
    _, text = await ftp_cmd(r, w, "PASV", (227,), timeout)
    m = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", text)
    if not m:
        raise Fail(f"PASV reply {text!r}")
    h = ".".join(m.group(i) for i in range(1, 5))
    need_loopback(h)
    port = int(m.group(5)) * 256 + int(m.group(6))
    return await asyncio.wait_for(asyncio.open_connection(h, port), timeout)


async def ftp_tx(a, name, payload):
    t = a.timeout
    r, w = await asyncio.wait_for(asyncio.open_connection(a.host, a.port), t)
    try:
        code, text = await ftp_reply(r, t)
        if code != 220:
            raise Fail(f"greeting {text[:120]}")
        code, _ = await ftp_cmd(r, w, f"USER {a.user}", (230, 331), t)
        if code == 331:
            await ftp_cmd(r, w, f"PASS {a.password}", (230,), t)
        await ftp_cmd(r, w, "TYPE I", (200,), t)
        dr, dw = await ftp_pasv(r, w, t)
        await ftp_cmd(r, w, f"STOR {name}", (125, 150), t)
        dw.write(payload)
        await asyncio.wait_for(dw.drain(), t)
        dw.close()
        await asyncio.wait_for(dw.wait_closed(), t)
        code, text = await ftp_reply(r, t)
        if code not in (226, 250):
            raise Fail(f"STOR end: {text[:120]}")
        dr, dw = await ftp_pasv(r, w, t)
        await ftp_cmd(r, w, f"RETR {name}", (125, 150), t)
        got = await asyncio.wait_for(dr.read(), t)
        dw.close()
        code, text = await ftp_reply(r, t)
        if code not in (226, 250):
            raise Fail(f"RETR end: {text[:120]}")
        if got != payload:
            raise Fail(f"RETR: {len(got)} bytes, not the {len(payload)} stored" if len(got) != len(payload)
                       else "RETR: different bytes than stored")
        await ftp_cmd(r, w, f"DELE {name}", (250,), t)
        await ftp_cmd(r, w, "QUIT", (221,), t)
    finally:
        w.close()


async def http_request(r, w, a, method, path, body, timeout):
    head = [f"{method} {path} HTTP/1.1", f"Host: {a.host}:{a.port}",
            "Authorization: Basic " + base64.b64encode(f"{a.user}:{a.password}".encode()).decode()]
    if body is not None:
        head += [f"Content-Length: {len(body)}", "Content-Type: application/octet-stream"]
    w.write(("\r\n".join(head) + "\r\n\r\n").encode() + (body or b""))
    await w.drain()
    status = await asyncio.wait_for(r.readline(), timeout)
    if not status:
        raise ConnectionResetError("closed before the status line")
    parts = status.split(None, 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise Fail(f"status line {status[:80]!r}")
    code = int(parts[1])
    length, chunked, close = None, False, False
    while True:
        line = await asyncio.wait_for(r.readline(), timeout)
        if line in (b"\r\n", b"\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        k, v = k.strip().lower(), v.strip().lower()
        if k == "content-length":
            length = int(v)
        elif k == "transfer-encoding" and "chunked" in v:
            chunked = True
        elif k == "connection" and "close" in v:
            close = True
    if code in (204, 304) or code < 200 or method == "HEAD":
        data = b""
    elif chunked:
        data = bytearray()
        while True:
            size = int((await asyncio.wait_for(r.readline(), timeout)).split(b";")[0], 16)
            if size == 0:
                while (await asyncio.wait_for(r.readline(), timeout)) not in (b"\r\n", b"\n", b""):
                    pass
                break
            data += await asyncio.wait_for(r.readexactly(size + 2), timeout)
            del data[-2:]
        data = bytes(data)
    elif length is not None:
        data = await asyncio.wait_for(r.readexactly(length), timeout)
    else:
        data = await asyncio.wait_for(r.read(), timeout)
        close = True
    return code, data, close


async def run_clients(a, one_tx):
    """a.clients tasks loop one_tx(i, state) for a.seconds; returns the JSON result."""
    lat, errors, samples = [], {}, []
    t_start = time.monotonic()
    deadline = t_start + a.seconds
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = {n: tree_cpu(p) for n, p in parse_pids(a.pid).items()}
    log0 = log_size(a.store_log)
    done = done_all = 0

    async def client(i):
        nonlocal done, done_all
        state = {}
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                await one_tx(i, state)
                t1 = time.monotonic()
                done_all += 1
                if t1 <= deadline:
                    done += 1
                    lat.append(t1 - t0)
            except Exception as e:  # noqa: BLE001 - every failure is counted, by kind
                kind = type(e).__name__ if not isinstance(e, Fail) else str(e).split(":")[0]
                errors[kind] = errors.get(kind, 0) + 1
                if len(samples) < 10:
                    samples.append(f"{type(e).__name__}: {str(e)[:200]}")
                state.clear()
                await asyncio.sleep(0.01)

    await asyncio.gather(*(client(i) for i in range(a.clients)))
    elapsed = time.monotonic() - t_start
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    lat.sort()
    pct = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 1) if lat else None  # noqa: E731
    client_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    cpu = {n: round(tree_cpu(p) - cpu0[n], 2) for n, p in parse_pids(a.pid).items()}
    if log0 is not None:
        await asyncio.sleep(0.2)
    return {"store_requests": store_requests(a.store_log, log0) if log0 is not None else None,
            "cpu_s": cpu,
            "clients": a.clients, "window_s": a.seconds, "elapsed_s": round(elapsed, 2),
            "tx": done, "tx_per_s": round(done / a.seconds, 1),
            "tx_all": done_all,  # with those that ended after the window (their store requests are counted)
            "errors": sum(errors.values()), "errors_by_kind": errors, "error_samples": samples,
            "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "client_cpu_s": round(client_cpu, 2)}


def cmd_small_ftp(a):
    need_loopback(a.host)
    payloads = [os.urandom(a.size) for _ in range(a.clients)]

    async def tx(i, state):
        state["n"] = state.get("n", 0) + 1
        await ftp_tx(a, f"{a.dir}c{i}-{state['n']}.bin", payloads[i])

    res = asyncio.run(run_clients(a, tx))
    res["size"] = a.size
    print(json.dumps(res))


def cmd_small_http(a):
    need_loopback(a.host)
    payloads = [os.urandom(a.size) for _ in range(a.clients)]

    async def tx(i, state):
        if "conn" not in state:
            state["conn"] = await asyncio.wait_for(asyncio.open_connection(a.host, a.port), a.timeout)
        r, w = state["conn"]
        path = f"{a.dir}c{i}.bin"
        try:
            code, _, close = await http_request(r, w, a, "PUT", path, payloads[i], a.timeout)
            if code not in (200, 201, 204):
                raise Fail(f"PUT {code}")
            if close:
                w.close()
                r, w = state["conn"] = await asyncio.wait_for(asyncio.open_connection(a.host, a.port), a.timeout)
            code, body, close = await http_request(r, w, a, "GET", path, None, a.timeout)
            if code != 200:
                raise Fail(f"GET {code}")
            if body != payloads[i]:
                raise Fail(f"GET: {len(body)} bytes, not the {a.size} put" if len(body) != a.size
                           else "GET: different bytes than put")
            if close:
                w.close()
                del state["conn"]
        except BaseException:
            w.close()
            state.pop("conn", None)
            raise

    res = asyncio.run(run_clients(a, tx))
    res["size"] = a.size
    print(json.dumps(res))


# ---------------------------------------------------------------------------------------------
# S3, signed (SigV4, path style, UNSIGNED-PAYLOAD)


class S3:
    def __init__(self, a):
        u = urllib.parse.urlsplit(a.endpoint)
        need_loopback(u.hostname)
        self.host, self.port = u.hostname, u.port or 80
        self.hosthdr = u.netloc
        self.bucket, self.region = a.bucket, a.region
        self.key_id, self.secret = a.access_key, a.secret_key
        self.local = threading.local()

    def conn(self, fresh=False):
        c = getattr(self.local, "c", None)
        if c is None or fresh:
            if c is not None:
                c.close()
            c = self.local.c = http.client.HTTPConnection(self.host, self.port, timeout=120)
        return c

    @staticmethod
    def q(s, safe="-_.~"):
        return urllib.parse.quote(s, safe=safe)

    def sign(self, method, path, query, extra=None):
        now = datetime.datetime.now(datetime.timezone.utc)
        amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        cq = "&".join(f"{self.q(k)}={self.q(v)}" for k, v in sorted(query.items()))
        headers = {"host": self.hosthdr, "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-date": amz}
        headers.update(extra or {})
        signed = ";".join(sorted(headers))
        creq = "\n".join([method, path, cq] + [f"{k}:{headers[k]}" for k in sorted(headers)]
                         + ["", signed, "UNSIGNED-PAYLOAD"])
        scope = f"{day}/{self.region}/s3/aws4_request"
        sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
        k = ("AWS4" + self.secret).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.key_id}/{scope}, "
                                    f"SignedHeaders={signed}, Signature={sig}")
        return (path + ("?" + cq if cq else "")), headers

    def request(self, method, key, query=None, body=None, stream=False, extra=None):
        path = "/" + self.bucket + ("/" + self.q(key, safe="-_.~/") if key is not None else "")
        for attempt in range(3):
            url, headers = self.sign(method, path, query or {}, extra)
            if body is not None:
                headers["Content-Length"] = str(len(body))
            c = self.conn(fresh=attempt > 0)
            try:
                c.request(method, url, body=body, headers=headers)
                resp = c.getresponse()
                if stream:
                    return resp
                data = resp.read()
                return resp.status, data
            except (http.client.HTTPException, OSError):
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")

    def list_keys(self, prefix):
        token = None
        while True:
            q = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
            if token:
                q["continuation-token"] = token
            st, data = self.request("GET", None, q)
            if st != 200:
                raise RuntimeError(f"ListObjectsV2 {st}: {data[:300]!r}")
            root = ET.fromstring(data)
            ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            for c in root.findall(f"{ns}Contents"):
                yield c.find(f"{ns}Key").text, int(c.find(f"{ns}Size").text)
            token = root.findtext(f"{ns}NextContinuationToken")
            if root.findtext(f"{ns}IsTruncated") != "true" or not token:
                return


def cmd_seed(a):
    s3 = S3(a)
    body = b"x" * a.size
    errors = []
    t0 = time.monotonic()

    def put(i):
        key = f"{a.prefix}f{i:05d}.bin"
        st, data = s3.request("PUT", key, body=body)
        if st != 200:
            errors.append(f"{key}: {st} {data[:200]!r}")

    with concurrent.futures.ThreadPoolExecutor(a.threads) as ex:
        list(ex.map(put, range(a.count)))
    elapsed = time.monotonic() - t0
    n = sum(1 for _ in s3.list_keys(a.prefix))
    print(json.dumps({"prefix": a.prefix, "put": a.count, "seconds": round(elapsed, 2),
                      "keys_listed": n, "errors": len(errors), "error_samples": errors[:5]}))
    if errors or n != a.count:
        sys.exit(1)


def cmd_count(a):
    s3 = S3(a)
    keys = list(s3.list_keys(a.prefix))
    print(json.dumps({"prefix": a.prefix, "keys": len(keys), "bytes": sum(s for _, s in keys)}))


def cmd_sha(a):
    s3 = S3(a)
    resp = s3.request("GET", a.key, stream=True)
    if resp.status != 200:
        print(json.dumps({"key": a.key, "status": resp.status, "body": resp.read()[:300].decode(errors="replace")}))
        return
    h, n = hashlib.sha256(), 0
    while True:
        b = resp.read(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    print(json.dumps({"key": a.key, "status": 200, "size": n, "sha256": h.hexdigest()}))


def cmd_copy(a):
    s3 = S3(a)
    t0 = time.monotonic()
    st, data = s3.request("PUT", a.dest, extra={"x-amz-copy-source": f"/{a.bucket}/{S3.q(a.src, safe='-_.~/')}"})
    print(json.dumps({"src": a.src, "dest": a.dest, "status": st, "seconds": round(time.monotonic() - t0, 3),
                      "body": data[:300].decode(errors="replace") if st != 200 else ""}))
    if st != 200:
        sys.exit(1)


def head(s3, key):
    resp = s3.request("HEAD", key, stream=True)
    resp.read()
    return resp.status, resp.getheader("ETag"), resp.getheader("Content-Length")


def cmd_head(a):
    st, etag, size = head(S3(a), a.key)
    print(json.dumps({"key": a.key, "status": st, "etag": etag, "size": int(size) if size else None}))


def cmd_wait_change(a):
    """Poll HEAD until the key's ETag differs from --etag; seconds waited."""
    s3 = S3(a)
    t0 = time.monotonic()
    while True:
        st, etag, size = head(s3, a.key)
        if st == 200 and etag != a.etag:
            print(json.dumps({"key": a.key, "changed": True, "seconds": round(time.monotonic() - t0, 2),
                              "etag": etag, "size": int(size)}))
            return
        if time.monotonic() - t0 > a.timeout:
            print(json.dumps({"key": a.key, "changed": False, "seconds": round(time.monotonic() - t0, 2),
                              "status": st, "etag": etag}))
            return
        time.sleep(a.interval)


def cmd_wait_log(a):
    """Wait until PATTERN has appeared in FILE more times than --after; seconds waited, and the
    lines of FILE matching --count meanwhile."""
    t0 = time.monotonic()
    pat, cnt = re.compile(a.pattern), re.compile(a.count) if a.count else None
    while True:
        with open(a.file, errors="replace") as f:
            lines = f.readlines()[a.skip_lines:]
        hits = [x for x in lines if pat.search(x)]
        if hits or time.monotonic() - t0 > a.timeout:
            print(json.dumps({"seen": bool(hits), "seconds": round(time.monotonic() - t0, 2),
                              "line": hits[0].strip()[:300] if hits else None,
                              "counted": sum(1 for x in lines if cnt and cnt.search(x)),
                              "counted_lines": [x.strip()[:300] for x in lines if cnt and cnt.search(x)][:3]}))
            return
        time.sleep(0.1)


def cmd_delete(a):
    s3 = S3(a)
    keys = list(a.key or [])
    if a.prefix:
        keys += [k for k, _ in s3.list_keys(a.prefix)]
    bad = []

    def rm(k):
        st, data = s3.request("DELETE", k)
        if st not in (200, 204):
            bad.append(f"{k}: {st}")

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(rm, keys))
    print(json.dumps({"deleted": len(keys) - len(bad), "failed": bad[:5]}))


# ---------------------------------------------------------------------------------------------
# report: OUT/raw/*.jsonl -> summary.md (markdown on stdout)


def load(dirname, name):
    path = os.path.join(dirname, "raw", name + ".jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def fmt(x, nd=1):
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{nd}f}"


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "–"


def spread(xs, nd=1):
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return ""
    return f" ({fmt(min(xs), nd)}–{fmt(max(xs), nd)})"


SHORT = {"ListObjects": "List", "HeadObject": "Head", "GetObject": "Get", "PutObject/CopyObject": "Put/Copy",
         "DeleteObject": "Delete", "CreateMultipartUpload": "CreateMPU", "UploadPart(Copy)": "Part",
         "CompleteMultipartUpload": "CompleteMPU", "AbortMultipartUpload": "AbortMPU"}


def reqs(counts, per=1):
    """'List 2, Head 1' (per `per` operations), most frequent first."""
    if not counts:
        return ""
    items = sorted(counts.items(), key=lambda kv: -kv[1])
    if per == 1:
        return ", ".join(f"{SHORT.get(k.split()[0], k.split()[0])}{' ' + k.split()[1] if ' ' in k else ''} {v}" for k, v in items)
    return ", ".join(f"{SHORT.get(k.split()[0], k.split()[0])}{' ' + k.split()[1] if ' ' in k else ''} {v / per:.1f}" for k, v in items)


def cmd_report(a):
    d = a.dir
    transfer, verify, resume = load(d, "transfer"), load(d, "verify"), load(d, "resume")
    small, lst, errs = load(d, "small"), load(d, "list"), load(d, "errors")
    stores = []
    for r in transfer + small + lst:
        if r["store"] not in stores:
            stores.append(r["store"])
    out = []
    p = out.append
    run = open(os.path.join(d, "run.txt")).read() if os.path.exists(os.path.join(d, "run.txt")) else ""
    p("# dualgate on S3 vs rclone serve ftp / webdav (bench/s3.sh)\n")
    p("```\n" + run.strip() + "\n```\n")
    p("Medians over the repetitions (min–max in brackets when there are several). "
      "Ratios are dualgate / rclone: above 1 is dualgate ahead for rates, behind for times and memory.\n")

    def pick(rows, **kw):
        return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]

    for st in stores:
        p(f"## Store: {st}\n")
        # 1. transfers
        p("### 1. 1 GiB-class transfers (MiB/s)\n")
        p("| transfer | dualgate MiB/s | rclone MiB/s | dualgate/rclone | server CPU s/GiB (dualgate / rclone) "
          "| store CPU s/GiB (dualgate run / rclone run) | stored bytes verified (SHA-256) |")
        p("|---|---:|---:|---:|---|---|---|")
        names = {"ftp-stor": "FTP STOR (curl -T)", "ftp-retr": "FTP RETR (curl)",
                 "http-put": "HTTP PUT (dualgate HTTP vs rclone webdav)", "http-get": "HTTP GET"}
        mem_rows = []
        for fig, label in names.items():
            vals, cpu, scpu, ok = {}, {}, {}, {}
            for srv in ("dualgate", "rclone"):
                rows = [r for r in pick(transfer, store=st, figure=fig) if (r["server"] == "dualgate") == (srv == "dualgate")]
                good = [r for r in rows if r["result"]["rc"] == 0 and isinstance(r["result"].get("out"), dict)
                        and r["result"]["out"].get("code") in (200, 201, 204, 226, 250)]
                mib = [r["bytes"] / 1048576 / r["result"]["out"]["time"] for r in good]
                gib = [r["bytes"] / 2**30 for r in good]
                vals[srv] = (median(mib), spread(mib, 0), len(rows) - len(good))
                cpu[srv] = median([r["result"]["cpu_s"]["server"] / g for r, g in zip(good, gib)])
                scpu[srv] = median([r["result"]["cpu_s"]["store"] / g for r, g in zip(good, gib)])
                vr = [r for r in pick(verify, store=st, figure=fig) if (r["server"] == "dualgate") == (srv == "dualgate")]
                ok[srv] = ("yes" if vr and all(v["ok"] for v in vr) else ("**no**" if vr else "n/a (download: size checked)"))
                if fig in ("ftp-stor", "http-put"):
                    for r in rows:
                        res = r["result"]
                        if "vmhwm_kib" in res:
                            mem_rows.append((fig, r["server"], r["rep"], res["rss_before_kib"]["server"],
                                             res["vmhwm_kib"]["server"], res["rss_peak_sampled_kib"]["server"]))
            failed = "".join(f" ({vals[s][2]} failed)" for s in vals if vals[s][2])
            okcol = ok["dualgate"] if ok["dualgate"] == ok["rclone"] else f"dualgate {ok['dualgate']}, rclone {ok['rclone']}"
            p(f"| {label}{failed} | {fmt(vals['dualgate'][0], 0)}{vals['dualgate'][1]} | {fmt(vals['rclone'][0], 0)}{vals['rclone'][1]} "
              f"| {ratio(vals['dualgate'][0], vals['rclone'][0])} | {fmt(cpu['dualgate'], 2)} / {fmt(cpu['rclone'], 2)} "
              f"| {fmt(scpu['dualgate'], 2)} / {fmt(scpu['rclone'], 2)} | {okcol} |")
        tr = [r for r in pick(transfer, store=st) if r["result"].get("store_requests") is not None]
        if tr:
            p("\nStore requests behind each transfer (moto's log, last rep): " + "; ".join(
                f"{names[r['figure']].split(' (')[0]} {r['server']}: {reqs(r['result']['store_requests'])}"
                for r in tr if r["rep"] == max(x["rep"] for x in tr)))
        p("")
        # 2. memory
        p("### 2. Server memory during the uploads (MiB)\n")
        p("| upload | server | rep | RSS before | peak (VmHWM) | peak sampled (20 ms) | peak − before |")
        p("|---|---|---:|---:|---:|---:|---:|")
        for fig, srv, rep, before, hwm, samp in mem_rows:
            p(f"| {names[fig].split(' (')[0]} | {srv} | {rep} | {fmt(before / 1024)} | {fmt(hwm / 1024)} | {fmt(samp / 1024)} "
              f"| {fmt((hwm - before) / 1024)} |")
        p("")
        # 3. resume
        p("### 3. Resume: REST n + STOR of the last part, and curl -C - -T (SIZE + APPE)\n")
        p("| server | command | reply | time s | full STOR s (same rep) | time / full STOR | server CPU s | store CPU s "
          "| stored object afterwards | store requests (moto's log) |")
        p("|---|---|---|---:|---:|---:|---:|---:|---|---|")
        stor = {(r["server"], r["rep"]): r["result"]["out"]["time"] for r in pick(transfer, store=st, figure="ftp-stor")
                if isinstance(r["result"].get("out"), dict)}
        for r in pick(resume, store=st):
            res, out_ = r["result"], r["result"].get("out") or {}
            if r["figure"] == "rest-stor":
                t = out_.get("elapsed_s")
                reply = out_.get("reply") or out_.get("error") or "?"
            else:
                t = out_.get("time") if isinstance(out_, dict) else None
                reply = f"{out_.get('code')}" if isinstance(out_, dict) else str(out_)[:80]
                if res.get("stderr"):
                    reply += f" ({res['stderr'][:80]})"
            full = stor.get(("rclone-ftp" if r["server"] == "rclone-ftp-vfs" else r["server"], r["rep"]))
            v = [x for x in pick(verify, store=st, figure=r["figure"], server=r["server"], rep=r["rep"])]
            what = "?"
            if v:
                x = v[0]
                got = x["result"].get("sha256")
                size = x["result"].get("size")
                if x["ok"]:
                    what = f"correct ({size} bytes)"
                elif got == x.get("unchanged_sha256"):
                    what = f"unchanged ({size} bytes)"
                elif got is None:
                    what = f"**missing** (HTTP {x['result'].get('status')})"
                elif got == x.get("tail_only_sha256"):
                    what = f"**only the appended {size} bytes: the old object is gone**"
                else:
                    what = f"**wrong bytes** ({size} bytes)"
            extra = ""
            if "until_stored" in r:
                u = r["until_stored"].get("out") or {}
                extra = (f"; rclone's upload succeeded {u.get('seconds')} s after the 226" if u.get("seen")
                         else f"; no successful upload {u.get('seconds')} s after the 226")
                extra += (f", after {u.get('counted')} failed attempt(s) (`{(u.get('counted_lines') or [''])[0][20:140]}…`)"
                          if u.get("counted") else "")
                extra += (f" (server CPU {r['until_stored']['cpu_s'].get('server')} s, "
                          f"store CPU {r['until_stored']['cpu_s'].get('store')} s meanwhile)")
            cmd = "REST + STOR" if r["figure"] == "rest-stor" else "curl -C - -T (APPE)"
            srvname = r["server"] + (" (--vfs-cache-mode writes)" if r["server"] == "rclone-ftp-vfs" else "")
            p(f"| {srvname} | {cmd} | {reply.splitlines()[0][:60]} | {fmt(t, 2)} | {fmt(full, 2)} | "
              f"{ratio(t, full) if out_.get('ok', True) and t else '–'} | {fmt(res['cpu_s'].get('server'), 2)} "
              f"| {fmt(res['cpu_s'].get('store'), 2)} | {what}{extra} | {reqs(res.get('store_requests'))}"
              f"{' + until stored: ' + reqs(r['until_stored'].get('store_requests')) if r.get('until_stored', {}).get('store_requests') else ''} |")
        p("")
        # 4. small
        p("### 4. Small transactions, concurrent clients\n")
        p("| protocol | server | tx/s | errors | p50 ms | p99 ms | server CPU ms/tx | store CPU ms/tx | client CPU ms/tx "
          "| store requests per transaction (moto's log, last rep) |")
        p("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
        rates = {}
        for proto in ("ftp", "http", "ftp-after-seed"):
            for srv in ("dualgate", "rclone-webdav" if proto == "http" else "rclone-ftp"):
                rows = [r["result"] for r in pick(small, store=st, figure=proto, server=srv)]
                if not rows:
                    continue
                tx = [x["tx_per_s"] for x in rows]
                per = lambda k: median([x["cpu_s"][k] * 1000 / x["tx"] for x in rows if x["tx"]])  # noqa: E731
                rates[(proto, srv)] = median(tx)
                errs_ = sum(x["errors"] for x in rows)
                kinds = {}
                for x in rows:
                    for k, v in x["errors_by_kind"].items():
                        kinds[k] = kinds.get(k, 0) + v
                errtxt = f"{errs_}" + (f" ({', '.join(f'{k}: {v}' for k, v in kinds.items())})" if kinds else "")
                label = {"ftp": f"FTP login+STOR+RETR+DELE, {rows[0]['clients']} clients",
                         "http": f"HTTP PUT+GET, {rows[0]['clients']} clients",
                         "ftp-after-seed": "FTP, the same, once after the list keys were seeded"}[proto]
                p(f"| {label} | {srv} | {fmt(median(tx))}{spread(tx)} | {errtxt} | {fmt(median([x['p50_ms'] for x in rows]))} "
                  f"| {fmt(median([x['p99_ms'] for x in rows]))} | {fmt(per('server'), 2)} | {fmt(per('store'), 2)} "
                  f"| {fmt(median([x['client_cpu_s'] * 1000 / x['tx'] for x in rows if x['tx']]), 2)} "
                  f"| {reqs(rows[-1].get('store_requests'), (rows[-1].get('tx_all', 0) + rows[-1]['errors']) or 1)} |")
        for proto, other in (("ftp", "rclone-ftp"), ("http", "rclone-webdav"), ("ftp-after-seed", "rclone-ftp")):
            if (proto, "dualgate") in rates and (proto, other) in rates:
                p(f"| {proto.upper()} dualgate/rclone | | {ratio(rates[(proto, 'dualgate')], rates[(proto, other)])} | | | | | | | |")
        p("")
        # 5. list
        p("### 5. Listing a directory of seeded keys (seconds)\n")
        p("| listing | server | first (cold) s | later reps, median s | server CPU s (median) | store CPU s (median) "
          "| entries (expected) | store requests, first / last (moto's log) |")
        p("|---|---|---:|---:|---:|---:|---|---|")
        for cmd in ("LIST", "NLST", "PROPFIND"):
            for srv in ("dualgate", "rclone-ftp" if cmd != "PROPFIND" else "rclone-webdav"):
                rows = sorted(pick(lst, store=st, figure=cmd, server=srv), key=lambda r: r["rep"])
                if not rows:
                    continue
                ts = [r["result"]["out"]["time"] if isinstance(r["result"].get("out"), dict) else None for r in rows]
                ents = sorted({r["entries"] for r in rows})
                exp = rows[0]["expected"]
                ok = "ok" if ents == [exp] else "**" + ", ".join(map(str, ents)) + "**"
                p(f"| {cmd} | {srv} | {fmt(ts[0], 3)} | {fmt(median(ts[1:]), 3)}{spread(ts[1:], 3)} "
                  f"| {fmt(median([r['result']['cpu_s']['server'] for r in rows]), 3)} "
                  f"| {fmt(median([r['result']['cpu_s']['store'] for r in rows]), 3)} | {ok} ({exp}) "
                  f"| {reqs(rows[0]['result'].get('store_requests'))}"
                  f"{' / ' + (reqs(rows[-1]['result'].get('store_requests')) or 'none') if len(rows) > 1 and rows[0]['result'].get('store_requests') is not None else ''} |")
        p("")
        e = pick(errs, store=st)
        if e:
            p("Log lines at warn/error level: " + ", ".join(f"{r['server']} {r['result']}" for r in e) + "\n")
    print("\n".join(out))


# ---------------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="sub", required=True)

    t = sub.add_parser("timed")
    t.add_argument("--pid", action="append", help="NAME=PID: CPU of its process tree")
    t.add_argument("--mem", action="append", help="NAME=PID: peak memory of that process")
    t.add_argument("--timeout", type=float, default=1800)
    t.add_argument("--store-log", help="moto's access log: count the store requests made meanwhile")
    t.add_argument("command", nargs=argparse.REMAINDER)
    t.set_defaults(func=cmd_timed)

    def ftp_args(x):
        x.add_argument("--host", default="127.0.0.1")
        x.add_argument("--port", type=int, required=True)
        x.add_argument("--user", required=True)
        x.add_argument("--password", required=True)
        x.add_argument("--timeout", type=float, default=60)

    r = sub.add_parser("rest-stor")
    ftp_args(r)
    r.add_argument("--path", required=True)
    r.add_argument("--file", required=True, help="the bytes to send after REST (the new tail)")
    r.add_argument("--offset", type=int, required=True)
    r.set_defaults(func=cmd_rest_stor)

    for name, func in (("small-ftp", cmd_small_ftp), ("small-http", cmd_small_http)):
        s = sub.add_parser(name)
        ftp_args(s)
        s.add_argument("--clients", type=int, default=200)
        s.add_argument("--seconds", type=float, default=10)
        s.add_argument("--size", type=int, default=10240)
        s.add_argument("--dir", default="/small/", help="path prefix of the files (ends with /)")
        s.add_argument("--pid", action="append", help="NAME=PID: CPU of its process tree")
        s.add_argument("--store-log", help="moto's access log: count the store requests made meanwhile")
        s.set_defaults(func=func, timeout=30)

    def s3_args(x):
        x.add_argument("--endpoint", required=True)
        x.add_argument("--bucket", required=True)
        x.add_argument("--region", default="us-east-1")
        x.add_argument("--access-key", required=True)
        x.add_argument("--secret-key", required=True)

    s = sub.add_parser("seed")
    s3_args(s)
    s.add_argument("--prefix", required=True)
    s.add_argument("--count", type=int, default=10000)
    s.add_argument("--size", type=int, default=16)
    s.add_argument("--threads", type=int, default=16)
    s.set_defaults(func=cmd_seed)
    s = sub.add_parser("count")
    s3_args(s)
    s.add_argument("--prefix", required=True)
    s.set_defaults(func=cmd_count)
    s = sub.add_parser("sha")
    s3_args(s)
    s.add_argument("--key", required=True)
    s.set_defaults(func=cmd_sha)
    s = sub.add_parser("delete")
    s3_args(s)
    s.add_argument("--key", action="append")
    s.add_argument("--prefix")
    s.set_defaults(func=cmd_delete)
    s = sub.add_parser("copy")
    s3_args(s)
    s.add_argument("--src", required=True)
    s.add_argument("--dest", required=True)
    s.set_defaults(func=cmd_copy)
    s = sub.add_parser("head")
    s3_args(s)
    s.add_argument("--key", required=True)
    s.set_defaults(func=cmd_head)
    s = sub.add_parser("wait-change")
    s3_args(s)
    s.add_argument("--key", required=True)
    s.add_argument("--etag", default="")
    s.add_argument("--timeout", type=float, default=180)
    s.add_argument("--interval", type=float, default=0.25)
    s.set_defaults(func=cmd_wait_change)
    s = sub.add_parser("wait-log")
    s.add_argument("--file", required=True)
    s.add_argument("--pattern", required=True)
    s.add_argument("--count", help="also count the lines matching this")
    s.add_argument("--skip-lines", type=int, default=0, help="look only after this many lines")
    s.add_argument("--timeout", type=float, default=300)
    s.set_defaults(func=cmd_wait_log)
    s = sub.add_parser("report")
    s.add_argument("--dir", required=True)
    s.set_defaults(func=cmd_report)
    s = sub.add_parser("proc")
    s.add_argument("--pid", action="append")
    s.set_defaults(func=cmd_proc)

    a = p.parse_args()
    if a.sub == "timed" and a.command[:1] == ["--"]:
        a.command = a.command[1:]
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    a.func(a)


if __name__ == "__main__":
    main()
