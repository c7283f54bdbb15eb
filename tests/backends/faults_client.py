#!/usr/bin/env python3
"""Client and checker of the fault-injection campaign (tests/backends/faults.sh).

faults.sh starts moto (or, with --store ftp, an upstream FTP server), and per round a fault
proxy in front of it and a dualgate gateway whose storage endpoint is that proxy. This
program does the rest, in four sub-commands. On an upstream FTP server "directly on moto"
below means directly on the server's disk (UPSTREAM_FTP_ROOT), keys are paths there, and
(3) is about temporary upload files (`.dualgate-upload-*`): gone within --upload-wait, or
reported in the gateway's log. The mix also deletes seeded files (DELE, DELETE):
a delete answered as done must have removed the name.

  seed    writes, directly on moto (boto3, never through a proxy), what every round starts
          with under its own prefix: a directory of --listing-keys small keys (listings take
          several pages), objects to download, bases for REST/APPE and sources of renames.
          Contents are derived from the run tag, so `run` and `check` know them again.
          With --passes N (a heavier round: more operations, so more faults) everything
          but the listed directory is there N times, under `p1/`, `p2/`, ... for the
          passes after the first.
  run     one round's mix through the gateway, FTP (ftplib, passive) and HTTP/WebDAV
          (http.client, Basic auth), concurrent scenarios started over --spread seconds:
          uploads (STOR, PUT; 1 KiB-20 MiB, so single PutObject and multipart; STOU, the
          create-new path), overwrites, resumed uploads (REST n + STOR, APPE), downloads
          (RETR, GET, GET with one Range and with three), listings of the seeded directory
          (LIST, MLSD, PROPFIND Depth 1, GET as JSON and as HTML), renames (RNFR/RNTO, MOVE).
          Every operation is recorded with what the client saw (reply, status, exception),
          together with every version of a name an operation could have left in the store.
          --passes N runs the mix N times at once, each pass on its own names.
  check   after the round, once the gateway's store path is a pass-through proxy again:
          (4) a normal STOR + RETR + LIST through the gateway; then, directly on moto:
          (1) every visible object is exactly one version the campaign wrote to that name;
          (2) no false success: a 226/201/204 upload is there with the bytes sent (or a later
              version of the name), a successful download returned the stored bytes, a
              successful listing named every seeded key, a successful rename moved the
              content, a failed rename lost nothing;
          (3) no pending multipart upload under the prefix (tests/backends/s3.sh uploads),
              allowing a few seconds for aborts that run in the background; a pending one
              is explained from the gateway's log (an abort given up, or an upload id the
              gateway never learned because CreateMultipartUpload's answer was lost);
          plus the gateway alive without panics; the faults from the proxies' stats files.
          The round's objects are removed afterwards (moto keeps everything in memory).
  report  the markdown table (one row per round), totals, the violations, and as the very
          last line `N passed, M failed` (N: checks passed). Exit status 1 on any failure.

Everything runs on 127.0.0.1 with a timeout on every socket. Standard library plus boto3.
"""

import argparse
import base64
import concurrent.futures as cf
import ftplib
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

KIB, MIB = 1 << 10, 1 << 20
PART = 5 * MIB  # the gateways' part_size
HERE = os.path.dirname(os.path.abspath(__file__))
ABSENT = "absent"  # a "version" of a name: no object
OK_STORE = ("226", "250")
CHUNK = 256 * KIB
HOME = "u"  # the user's home: keys PREFIX + "u/..."
TEMP_PREFIX = ".dualgate-upload-"  # the upstream FTP back-end's temporary upload names

LISTING_DIR = "listing"
DOWNLOADS = [("dl/d1.bin", 3 * KIB), ("dl/d2.bin", 700 * KIB), ("dl/d3.bin", 3 * MIB),
             ("dl/d4.bin", 6 * MIB + 17), ("dl/d5.bin", 11 * MIB + 5), ("dl/d6.bin", 20 * MIB)]
RESUMES = [("res/r1.bin", 300 * KIB), ("res/r2.bin", 1 * MIB + 3), ("res/r3.bin", 6 * MIB + 11),
           ("res/r4.bin", 8 * MIB + 1)]
RENAMES = [("ren/s1.bin", 100), ("ren/s2.bin", 10 * KIB), ("ren/s3.bin", 2 * MIB), ("ren/s4.bin", 6 * MIB + 7)]
DELETES = [("del/x1.bin", 50), ("del/x2.bin", 40 * KIB), ("del/x3.bin", 1 * MIB), ("del/x4.bin", 3 * MIB + 1)]


# --- shared helpers ---------------------------------------------------------------------

def content(tag, size):
    """Deterministic bytes of a seeded object (the run tag makes them unique)."""
    return random.Random(tag).randbytes(size)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def round_prefix(run, rnd):
    return f"faults-{run}/{rnd}/"


def s3_client():
    import boto3
    from botocore.config import Config
    return boto3.client(
        "s3", endpoint_url=os.environ["S3_DIRECT_ENDPOINT"], region_name=os.environ.get("S3_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("S3_ACCESS_KEY", "x"), aws_secret_access_key=os.environ.get("S3_SECRET_KEY", "y"),
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}, connect_timeout=5,
                      read_timeout=60, max_pool_connections=32))


def bucket():
    return os.environ.get("S3_BUCKET", "dualgate")


class S3Store:
    """The campaign's keys on moto (boto3, never through a proxy)."""

    temp_kind = "pending multipart upload"

    def __init__(self):
        self.s3 = s3_client()

    def put(self, key, data):
        self.s3.put_object(Bucket=bucket(), Key=key, Body=data)

    def objects(self, prefix):
        """{key: (size, md5 hex)}; a directory is a key ending in `/`."""
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket(), Prefix=prefix):
            for o in page.get("Contents", []):
                out[o["Key"]] = (o["Size"], o["ETag"].strip('"'))
        return out

    def get(self, key):
        return self.s3.get_object(Bucket=bucket(), Key=key)["Body"].read()

    def pending(self, prefix):
        """(count or None, ["KEY ID"...], error text): the multipart uploads not completed."""
        p = subprocess.run([os.path.join(HERE, "s3.sh"), "uploads", prefix], capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0:
            return None, [], f"s3.sh uploads failed ({p.returncode}): {short(p.stderr, 300)}"
        lines = p.stdout.strip().splitlines()
        return (int(lines[0]) if lines else 0), lines[1:], ""

    def remove(self, prefix, known):
        keys = list(known) + [k for k in self.objects(prefix) if k not in known]
        for i in range(0, len(keys), 1000):
            self.s3.delete_objects(Bucket=bucket(), Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]],
                                                           "Quiet": True})
        for page in self.s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket(), Prefix=prefix):
            for u in page.get("Uploads", []):
                self.s3.abort_multipart_upload(Bucket=bucket(), Key=u["Key"], UploadId=u["UploadId"])


class DiskStore:
    """The campaign's files on an upstream FTP server's disk (UPSTREAM_FTP_ROOT, the server's
    `/`), read and written directly, never over FTP. Keys are paths below it; files the
    seed writes are given to the server's account (UPSTREAM_FTP_OWNER), so it can change them."""

    temp_kind = "temporary upload file"

    def __init__(self):
        self.root = os.environ["UPSTREAM_FTP_ROOT"]
        uid, _, gid = os.environ.get("UPSTREAM_FTP_OWNER", "").partition(":")
        self.owner = (int(uid), int(gid)) if uid else None

    def path(self, key):
        return os.path.join(self.root, key)

    def _own(self, path):
        if self.owner:
            os.chown(path, *self.owner)

    def put(self, key, data):
        path = self.path(key)
        parent = os.path.dirname(path.rstrip("/"))
        made = []
        while not os.path.isdir(parent):
            made.append(parent)
            parent = os.path.dirname(parent)
        for d in reversed(made):
            os.makedirs(d, exist_ok=True)
            self._own(d)
        if key.endswith("/"):
            os.makedirs(path, exist_ok=True)
            self._own(path)
            return
        with open(path, "wb") as f:
            f.write(data)
        self._own(path)

    def walk(self, prefix):
        """(key, is a temporary upload file) of every file and directory below prefix."""
        base = self.path(prefix)
        for d, dirs, files in os.walk(base):
            rel = os.path.relpath(d, self.root).replace(os.sep, "/")
            yield rel + "/", False
            for f in files:
                yield f"{rel}/{f}", f.startswith(TEMP_PREFIX)

    def objects(self, prefix):
        out = {}
        for key, temp in self.walk(prefix):
            if temp:
                continue
            if key.endswith("/"):
                out[key] = (0, "")
            else:
                data = self.get(key)
                out[key] = (len(data), hashlib.md5(data).hexdigest())
        return out

    def get(self, key):
        with open(self.path(key), "rb") as f:
            return f.read()

    def pending(self, prefix):
        temps = [k for k, temp in self.walk(prefix) if temp]
        return len(temps), [f"{k} -" for k in temps], ""

    def remove(self, prefix, known):
        shutil.rmtree(self.path(prefix), ignore_errors=True)


def make_store(kind):
    return DiskStore() if kind == "ftp" else S3Store()


def write_json(path, obj):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def short(text, n=160):
    text = str(text).replace("\n", " ").replace("\r", "")
    return text if len(text) <= n else text[:n] + "…"


def pass_prefix(n):
    """Where pass `n` of a round keeps its names (the first pass: the home itself)."""
    return "" if n == 0 else f"p{n}/"


def listing_names(run, rnd, count):
    return [f"k{i:04d}-{i * 7919 % 10007:05d}.txt" for i in range(count)]


def listing_content(run, rnd, name):
    return content(f"{run}/{rnd}/{LISTING_DIR}/{name}", 16 + (sum(name.encode()) % 150))


# --- seed ---------------------------------------------------------------------------------

def cmd_seed(a):
    store = make_store(a.store)
    for rnd in a.rounds.split(","):
        t0 = time.monotonic()
        prefix = round_prefix(a.run, rnd) + HOME + "/"
        jobs = []
        for name in listing_names(a.run, rnd, a.listing_keys):
            jobs.append((f"{prefix}{LISTING_DIR}/{name}", listing_content(a.run, rnd, name)))
        for n in range(a.passes):
            pp = pass_prefix(n)
            for name, size in DOWNLOADS + RESUMES + RENAMES + DELETES:
                jobs.append((prefix + pp + name, content(f"{a.run}/{rnd}/{pp}{name}", size)))
            for d in ("up/", "ow/"):  # directories of the uploads (markers, as MKD makes them)
                jobs.append((prefix + pp + d, b""))

        def put(job):
            key, data = job
            for attempt in range(5):
                try:
                    store.put(key, data)
                    return
                except Exception:
                    if attempt == 4:
                        raise
                    time.sleep(0.5)

        with cf.ThreadPoolExecutor(12) as ex:
            list(ex.map(put, jobs))
        os.makedirs(os.path.join(a.work, rnd), exist_ok=True)
        write_json(os.path.join(a.work, rnd, "seed.json"),
                   {"keys": len(jobs), "seconds": round(time.monotonic() - t0, 2)})
        print(f"seeded {rnd}: {len(jobs)} keys in {time.monotonic() - t0:.1f}s", file=sys.stderr, flush=True)


# --- the clients ------------------------------------------------------------------------

class Registry:
    """Operations and the versions of every name (relative to the home), thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ops = []
        self.versions = {}  # name -> [{"sha", "size", "op", "seq"}]
        self.seq = 0

    def new_op(self, scen, kind, proto, verb, name, **extra):
        with self.lock:
            self.seq += 1
            op = {"id": len(self.ops), "seq": self.seq, "scen": scen, "kind": kind, "proto": proto,
                  "verb": verb, "name": name, "ok": None, "seen": None, "t0": time.monotonic()}
            op.update(extra)
            self.ops.append(op)
            return op

    def add_versions(self, name, op, datas):
        """Registers what `op` could leave under `name` (before it runs)."""
        with self.lock:
            lst = self.versions.setdefault(name, [])
            for d in datas:
                lst.append({"sha": sha(d), "size": len(d), "op": op["id"] if op else -1,
                            "seq": op["seq"] if op else -1})

    def add_version_sha(self, name, op, digest, size):
        with self.lock:
            self.versions.setdefault(name, []).append(
                {"sha": digest, "size": size, "op": op["id"] if op else -1, "seq": op["seq"] if op else -1})


def finish(op, ok, seen, **extra):
    op["ok"] = bool(ok)
    op["seen"] = short(seen, 300)
    op["t1"] = time.monotonic()
    op.update(extra)


def exc_text(e):
    if isinstance(e, ftplib.Error):
        return str(e).strip()
    return f"{type(e).__name__}: {e}"


def reply_code(text):
    m = re.match(r"^(\d{3})", text or "")
    return m.group(1) if m else None


class FtpSession:
    """One FTP control connection, reconnected after any failure that may desync it."""

    def __init__(self, cfg, reg, scen):
        self.cfg, self.reg, self.scen = cfg, reg, scen
        self.f = None

    def drop(self):
        if self.f is not None:
            try:
                self.f.close()
            except Exception:
                pass
        self.f = None

    def ensure(self):
        if self.f is not None:
            return True
        op = self.reg.new_op(self.scen, "login", "ftp", "USER/PASS", "")
        f = ftplib.FTP(timeout=self.cfg.timeout)
        try:
            f.connect("127.0.0.1", self.cfg.ftp, timeout=self.cfg.timeout)
            reply = f.login(self.cfg.user, self.cfg.password)
            f.voidcmd("TYPE I")
        except Exception as e:
            try:
                f.close()
            except Exception:
                pass
            finish(op, False, exc_text(e))
            return False
        finish(op, True, reply)
        self.f = f
        return True

    def _after_error(self, e):
        # A 4xx/5xx reply leaves the session usable; anything else may have desynced it.
        if not isinstance(e, (ftplib.error_temp, ftplib.error_perm)):
            self.drop()

    def _transfer(self, cmd, rest=None):
        """ftplib's ntransfercmd (passive), keeping the preliminary reply: (data socket, 150 text)."""
        f = self.f
        host, port = f.makepasv()
        conn = socket.create_connection((host, port), self.cfg.timeout)
        try:
            if rest is not None:
                f.sendcmd(f"REST {rest}")
            resp = f.sendcmd(cmd)
            if resp[0] == "2":
                resp = f.getresp()
            if resp[0] != "1":
                raise ftplib.error_reply(resp)
        except BaseException:
            conn.close()
            raise
        return conn, resp

    def store(self, verb, path, data, rest=None):
        """(reply or None, text seen, 150 text): STOR/APPE/STOU with an optional REST; data sent whole."""
        self.preliminary = ""
        if not self.ensure():
            return None, "login failed"
        f = self.f
        try:
            f.voidcmd("TYPE I")  # retrlines (LIST) leaves the session in TYPE A
            conn, self.preliminary = self._transfer(f"{verb} {path}", rest)
        except Exception as e:
            self._after_error(e)
            return reply_code(exc_text(e)), exc_text(e)
        send_err = None
        try:
            view = memoryview(data)
            for i in range(0, len(data), CHUNK):
                conn.sendall(view[i:i + CHUNK])
        except Exception as e:
            send_err = exc_text(e)
        try:
            conn.close()
        except Exception:
            pass
        try:
            reply = f.voidresp()
        except Exception as e:
            self._after_error(e)
            text = exc_text(e)
            return reply_code(text), text + (f" (data: {send_err})" if send_err else "")
        return reply_code(reply), reply + (f" (data: {send_err})" if send_err else "")

    def retrieve(self, path, rest=None):
        """(reply or None, text, data bytes received)."""
        if not self.ensure():
            return None, "login failed", b""
        f = self.f
        try:
            f.voidcmd("TYPE I")
            conn = f.transfercmd(f"RETR {path}", rest)
        except Exception as e:
            self._after_error(e)
            return reply_code(exc_text(e)), exc_text(e), b""
        buf, recv_err = bytearray(), None
        try:
            while True:
                chunk = conn.recv(CHUNK)
                if not chunk:
                    break
                buf += chunk
        except Exception as e:
            recv_err = exc_text(e)
        try:
            conn.close()
        except Exception:
            pass
        try:
            reply = f.voidresp()
        except Exception as e:
            self._after_error(e)
            text = exc_text(e)
            return reply_code(text), text + (f" (data: {recv_err})" if recv_err else ""), bytes(buf)
        return reply_code(reply), reply + (f" (data: {recv_err})" if recv_err else ""), bytes(buf)

    def lines(self, cmd):
        if not self.ensure():
            return None, "login failed", []
        out = []
        try:
            reply = self.f.retrlines(cmd, out.append)
        except Exception as e:
            self._after_error(e)
            return reply_code(exc_text(e)), exc_text(e), out
        return reply_code(reply), reply, out

    def delete(self, path):
        if not self.ensure():
            return None, "login failed"
        try:
            reply = self.f.sendcmd(f"DELE {path}")
        except Exception as e:
            self._after_error(e)
            return reply_code(exc_text(e)), exc_text(e)
        return reply_code(reply), reply

    def rename(self, src, dst):
        if not self.ensure():
            return None, "login failed"
        try:
            self.f.sendcmd(f"RNFR {src}")
            reply = self.f.sendcmd(f"RNTO {dst}")
        except Exception as e:
            self._after_error(e)
            return reply_code(exc_text(e)), exc_text(e)
        return reply_code(reply), reply


class Http:
    def __init__(self, cfg):
        self.cfg = cfg
        self.auth = "Basic " + base64.b64encode(f"{cfg.user}:{cfg.password}".encode()).decode()

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.cfg.http, timeout=self.cfg.timeout)

    def put(self, path, data):
        c = self.conn()
        send_err = None
        try:
            c.putrequest("PUT", urllib.parse.quote(path))
            c.putheader("Authorization", self.auth)
            c.putheader("Content-Length", str(len(data)))
            c.putheader("Content-Type", "application/octet-stream")
            c.endheaders()
            view = memoryview(data)
            try:
                for i in range(0, len(data), CHUNK):
                    c.send(view[i:i + CHUNK])
            except OSError as e:
                send_err = exc_text(e)
            r = c.getresponse()
            body = r.read(400)
            return r.status, f"{r.status} {r.reason} {body[:120]!r}" + (f" (send: {send_err})" if send_err else "")
        except Exception as e:
            return None, exc_text(e) + (f" (send: {send_err})" if send_err else "")
        finally:
            c.close()

    def get(self, path, rng=None):
        """(status or None, text, body bytes or None when not read whole)."""
        c = self.conn()
        try:
            headers = {"Authorization": self.auth}
            if rng:
                headers["Range"] = f"bytes={rng[0]}-{rng[1]}"
            c.request("GET", urllib.parse.quote(path), headers=headers)
            r = c.getresponse()
            if r.status not in (200, 206):
                body = r.read(400)
                return r.status, f"{r.status} {r.reason} {body[:120]!r}", None
            buf = bytearray()
            try:
                while True:
                    chunk = r.read(CHUNK)
                    if not chunk:
                        break
                    buf += chunk
            except Exception as e:
                return r.status, f"{r.status}, body cut after {len(buf)} bytes: {exc_text(e)}", None
            # read(amt) returns b"" at a premature end instead of raising IncompleteRead
            length = r.getheader("Content-Length")
            if length is not None and len(buf) != int(length):
                return r.status, f"{r.status}, body cut after {len(buf)} of {length} bytes", None
            return r.status, f"{r.status} {r.reason}", bytes(buf)
        except Exception as e:
            return None, exc_text(e), None
        finally:
            c.close()

    def get_listing(self, path, accept):
        """GET of a directory: (status or None, text, body or None when not read whole)."""
        c = self.conn()
        try:
            c.request("GET", urllib.parse.quote(path), headers={"Authorization": self.auth, "Accept": accept})
            r = c.getresponse()
            try:
                body = r.read()
            except Exception as e:
                return r.status, f"{r.status}, body cut: {exc_text(e)}", None
            if r.status != 200:
                return r.status, f"{r.status} {r.reason} {body[:120]!r}", None
            return r.status, f"{r.status} {r.reason} ({len(body)} bytes)", body
        except Exception as e:
            return None, exc_text(e), None
        finally:
            c.close()

    def get_ranges(self, path, ranges):
        """GET with several ranges: (status, text, [(start, end, bytes)] or None)."""
        c = self.conn()
        try:
            spec = ",".join(f"{a}-{b}" for a, b in ranges)
            c.request("GET", urllib.parse.quote(path), headers={"Authorization": self.auth, "Range": f"bytes={spec}"})
            r = c.getresponse()
            try:
                body = r.read()
            except Exception as e:
                return r.status, f"{r.status}, body cut: {exc_text(e)}", None
            if r.status != 206:
                return r.status, f"{r.status} {r.reason} {body[:120]!r}", None
            ctype = r.getheader("Content-Type", "")
            m = re.search(r"boundary=\"?([^\";]+)", ctype)
            if not m:
                return r.status, f"206 without a multipart boundary ({ctype})", []
            parts = []
            for chunk in body.split(b"--" + m.group(1).encode())[1:]:
                if chunk.startswith(b"--"):
                    break
                head, _, data = chunk.partition(b"\r\n\r\n")
                cr = re.search(rb"Content-Range: bytes (\d+)-(\d+)/", head, re.I)
                if data.endswith(b"\r\n"):
                    data = data[:-2]
                parts.append((int(cr.group(1)), int(cr.group(2)), data) if cr else (None, None, data))
            return r.status, f"206 {r.reason} ({len(parts)} parts, {len(body)} bytes)", parts
        except Exception as e:
            return None, exc_text(e), None
        finally:
            c.close()

    def propfind(self, path):
        c = self.conn()
        try:
            c.request("PROPFIND", urllib.parse.quote(path), headers={"Authorization": self.auth, "Depth": "1"})
            r = c.getresponse()
            try:
                body = r.read()
            except Exception as e:
                return r.status, f"{r.status}, body cut: {exc_text(e)}", None
            if r.status != 207:
                return r.status, f"{r.status} {r.reason} {body[:120]!r}", None
            return r.status, f"{r.status} {r.reason} ({len(body)} bytes)", body
        except Exception as e:
            return None, exc_text(e), None
        finally:
            c.close()

    def simple(self, method, path, headers=None):
        """A request without a body whose answer is only its status: (status or None, text)."""
        c = self.conn()
        try:
            c.request(method, urllib.parse.quote(path), headers=dict(headers or {}, Authorization=self.auth))
            r = c.getresponse()
            body = r.read(400)
            return r.status, f"{r.status} {r.reason} {body[:120]!r}"
        except Exception as e:
            return None, exc_text(e)
        finally:
            c.close()

    def delete(self, path):
        return self.simple("DELETE", path)

    def move(self, src, dst):
        return self.simple("MOVE", src, {
            "Overwrite": "T", "Destination": f"http://127.0.0.1:{self.cfg.http}{urllib.parse.quote(dst)}"})


class Scenario:
    """One worker's sequence of operations on its own names (so their order is known)."""

    def __init__(self, cfg, reg, ident, rng):
        self.cfg, self.reg, self.ident, self.rng = cfg, reg, ident, rng
        self.ftp = FtpSession(cfg, reg, ident)
        self.http = Http(cfg)
        self.state = {}  # name -> {sha: bytes} of what the name may hold now (ABSENT: None)

    def close(self):
        self.ftp.drop()

    # -- state of names --
    def known(self, name):
        return self.state.setdefault(name, {ABSENT: None})

    def seed(self, name, data):
        self.state[name] = {sha(data): data}
        self.reg.add_versions(name, None, [data])

    def present(self, name):
        return {k: v for k, v in self.known(name).items() if k != ABSENT}

    # -- writes --
    def upload(self, proto, name, data, verb=None, rest=None):
        """STOR/APPE/REST+STOR (ftp) or PUT (http) of `data` to `name`."""
        verb = verb or ("STOR" if proto == "ftp" else "PUT")
        before = self.known(name)
        if verb == "APPE":
            results = [old + data for old in before.values() if old is not None] or [data]
            kind = "resume"
        elif rest is not None:
            results = [old[:rest] + data for old in before.values() if old is not None and rest <= len(old)]
            kind = "resume"
        else:
            results = [data]
            kind = "upload"
        label = f"REST {rest} + STOR" if rest is not None else verb
        op = self.reg.new_op(self.ident, kind, proto, label, name, size=len(data),
                             expect=sorted({sha(r) for r in results}), multipart=max(map(len, results), default=0) > PART)
        self.reg.add_versions(name, op, results)
        if proto == "ftp":
            code, text = self.ftp.store(verb, "/" + name, data, rest)
            ok = code in OK_STORE
        else:
            status, text = self.http.put("/" + name, data)
            code, ok = status, status in (200, 201, 204)
        finish(op, ok, text, code=code)
        new = {sha(r): r for r in results}
        if ok:
            self.state[name] = new
        else:  # the store may or may not have taken it (a reply lost after the commit)
            self.state[name] = dict(before, **new)
        return ok

    def stou(self, base, data):
        """STOU (create-new: the store gets If-None-Match: *): the name comes in the 150 reply."""
        pattern = f"{base}.*"
        op = self.reg.new_op(self.ident, "upload", "ftp", "STOU", pattern, size=len(data),
                             expect=[sha(data)], multipart=len(data) > PART)
        self.reg.add_versions(pattern, op, [data])
        code, text = self.ftp.store("STOU", "/" + base, data)
        m = re.search(r"FILE: (\S+)", self.ftp.preliminary or "")
        ok = code in OK_STORE
        finish(op, ok, text, code=code, stored_as=m.group(1).lstrip("/") if m else None)
        if ok and op["stored_as"]:
            self.state[op["stored_as"]] = {sha(data): data}
        return op["stored_as"] if ok else None

    # -- reads --
    def download_ranges(self, name, ranges):
        """GET with several ranges (multipart/byteranges): every part must be the stored bytes."""
        versions = self.present(name)
        if not versions or ABSENT in self.known(name):
            return None
        op = self.reg.new_op(self.ident, "download", "http", f"GET Range {len(ranges)} ranges", name)
        code, text, parts = self.http.get_ranges("/" + name, ranges)
        ok = code == 206 and parts is not None
        got = sha(b"".join(p[2] for p in parts)) if parts is not None else None
        expect = {sha(b"".join(v[a:b + 1] for a, b in ranges)) for v in versions.values()}
        shape = parts is not None and [(p[0], p[1]) for p in parts] == [tuple(r) for r in ranges]
        bad = ok and (got not in expect or not shape)
        finish(op, ok, text, code=code, got_sha=got, got_len=sum(len(p[2]) for p in parts) if parts else None,
               expect=sorted(expect), wrong_bytes=bad)
        return ok

    def download(self, proto, name, rng=None):
        versions = self.present(name)
        if not versions or ABSENT in self.known(name):
            return None  # nothing certain to compare with: not attempted
        if proto == "ftp":
            verb = "RETR"
        else:
            verb = "GET" if rng is None else f"GET Range {rng[0]}-{rng[1]}"
        op = self.reg.new_op(self.ident, "download", proto, verb, name)
        if proto == "ftp":
            code, text, data = self.ftp.retrieve("/" + name)
            ok = code == "226"
        else:
            code, text, data = self.http.get("/" + name, rng)
            ok = code in (200, 206) and data is not None
        expect = set()
        for v in versions.values():
            expect.add(sha(v[rng[0]:rng[1] + 1]) if rng else sha(v))
        got = sha(data) if data is not None else None
        bad = ok and got not in expect
        finish(op, ok, text, code=code, got_sha=got, got_len=len(data) if data is not None else None,
               expect=sorted(expect), wrong_bytes=bad)
        return ok

    def listing(self, proto, verb, names):
        op = self.reg.new_op(self.ident, "listing", proto, verb, LISTING_DIR)
        want = set(names)
        if proto == "ftp":
            code, text, lines = self.ftp.lines(f"{verb} /{LISTING_DIR}")
            ok = code == "226"
            if verb == "MLSD":
                got = [ln.split("; ", 1)[1] for ln in lines if "; " in ln]
            else:
                got = [ln.split()[-1] for ln in lines if ln.split()]
        elif verb in ("GET json", "GET html"):
            code, text, body = self.http.get_listing(
                f"/{LISTING_DIR}/", "application/json" if verb == "GET json" else "text/html")
            ok = code == 200 and body is not None
            got = []
            if ok and verb == "GET json":
                try:
                    got = [e["name"] for e in json.loads(body)]
                except ValueError as e:
                    got = None
                    text += f" (JSON: {e})"
            elif ok:
                page = body.decode("utf-8", "replace")
                got = re.findall(r'href="(k\d{4}-\d{5}\.txt)"', page)
                if not page.rstrip().endswith("</html>"):
                    got = None
                    text += f" (HTML ends with {page[-60:]!r})"
        else:
            code, text, body = self.http.propfind(f"/{LISTING_DIR}/")
            ok = code == 207 and body is not None
            got = []
            if ok:
                try:
                    root = ET.fromstring(body)
                    for href in root.iter("{DAV:}href"):
                        p = urllib.parse.unquote(href.text or "").rstrip("/")
                        if p != f"/{LISTING_DIR}":
                            got.append(p.rsplit("/", 1)[-1])
                except ET.ParseError as e:
                    got = None
                    text += f" (XML: {e})"
        missing = sorted(want - set(got)) if got is not None else sorted(want)
        extra = sorted(set(got) - want) if got is not None else []
        bad = ok and (got is None or bool(missing) or bool(extra) or len(got) != len(set(got)))
        finish(op, ok, text, code=code, entries=None if got is None else len(got), missing=len(missing),
               missing_sample=missing[:5], extra_sample=extra[:5], incomplete=bad)
        return ok

    def rename(self, proto, src, dst):
        contents = self.present(src)
        op = self.reg.new_op(self.ident, "rename", proto, "RNFR/RNTO" if proto == "ftp" else "MOVE",
                             src, dst=dst, expect=sorted(contents))
        for digest, data in contents.items():
            self.reg.add_versions(dst, op, [data])
        if proto == "ftp":
            code, text = self.ftp.rename("/" + src, "/" + dst)
            ok = code == "250"
        else:
            code, text = self.http.move("/" + src, "/" + dst)
            ok = code in (201, 204)
        finish(op, ok, text, code=code)
        if ok:
            self.state[dst] = dict(contents)
            self.state[src] = {ABSENT: None}
        else:
            self.state[dst] = dict(contents, **{ABSENT: None})
            self.state[src] = dict(contents, **{ABSENT: None})
        return ok


    def delete(self, proto, name):
        contents = self.present(name)
        op = self.reg.new_op(self.ident, "delete", proto, "DELE" if proto == "ftp" else "DELETE", name,
                             expect=sorted(contents))
        if proto == "ftp":
            code, text = self.ftp.delete("/" + name)
            ok = code == "250"
        else:
            code, text = self.http.delete("/" + name)
            ok = code in (200, 204)
        finish(op, ok, text, code=code)
        self.state[name] = {ABSENT: None} if ok else dict(contents, **{ABSENT: None})
        return ok


def pick_size(rng):
    r = rng.random()
    if r < 0.30:
        return rng.randint(1 * KIB, 64 * KIB)
    if r < 0.62:
        return rng.randint(64 * KIB, PART)
    return rng.randint(PART + 1, 20 * MIB)


def scenarios(cfg, rnd_rng, n=0):
    """(label, function(scenario)) of pass `n` of one round; every name belongs to one
    scenario (pass n's names are under pass_prefix(n), its labels start with it)."""
    run, rnd = cfg.run, cfg.round
    pp = pass_prefix(n)
    out = []
    tag = lambda name: f"{run}/{rnd}/{name}"  # noqa: E731

    def up(proto, i, size):
        def go(s):
            name = f"{pp}up/{proto}-{i:02d}.bin"
            data = os.urandom(size)
            if s.upload(proto, name, data):
                if proto == "ftp" or i % 2:
                    s.download("ftp", name)
                else:
                    s.download("http", name)
                    if size > 10:
                        a = s.rng.randint(0, size - 2)
                        s.download("http", name, (a, min(size - 1, a + s.rng.randint(1, 3 * MIB))))
        return go

    sizes = [20 * MIB, PART + 1, 700 * KIB, 1 * KIB] + [pick_size(rnd_rng) for _ in range(cfg.uploads * 2 - 4)]
    rnd_rng.shuffle(sizes)
    for i in range(cfg.uploads):
        out.append((f"{pp}ftp-up-{i}", up("ftp", i, sizes[2 * i])))
        out.append((f"{pp}http-up-{i}", up("http", i, sizes[2 * i + 1])))

    def overwrite(i):
        def go(s):
            name = f"{pp}ow/o{i}.bin"
            protos = ["ftp", "http"] if i % 2 == 0 else ["http", "ftp"]
            for p in protos:
                s.upload(p, name, os.urandom(pick_size(s.rng)))
            s.download("http", name)
            s.download("ftp", name)
        return go

    for i in range(cfg.overwrites):
        out.append((f"{pp}overwrite-{i}", overwrite(i)))

    def stou(i, size):
        def go(s):
            name = s.stou(f"stou-{i}", os.urandom(size))  # STOU names a file in the current directory
            if name:
                s.download("http", name)
        return go

    for i, size in enumerate([2 * KIB, 300 * KIB, PART + 99]):
        # STOU names a file in the home; pass n's bases are stou-n0, stou-n1, ... (n > 0)
        out.append((f"{pp}stou-{i}", stou(f"{n}{i}" if n else i, size)))

    def resume(name, size):
        def go(s):
            s.seed(name, content(tag(name), size))
            if size > PART and s.rng.random() < 0.7:
                n = s.rng.randint(PART, size)  # server-side copy of whole parts
            else:
                n = s.rng.randint(0, size)
            s.upload("ftp", name, os.urandom(s.rng.randint(1 * KIB, 6 * MIB)), rest=n)
            s.upload("ftp", name, os.urandom(s.rng.randint(1 * KIB, 3 * MIB)), verb="APPE")
            s.download("ftp", name)
        return go

    for name, size in RESUMES:
        out.append((f"resume-{pp}{name}", resume(pp + name, size)))

    def download(name, size, which):
        def go(s):
            s.seed(name, content(tag(name), size))
            for p in which:
                if p == "ranges":  # three ranges in order, apart: multipart/byteranges
                    cuts = sorted(s.rng.sample(range(size), 6))
                    if len(set(cuts)) == 6 and all(b - a > 1 for a, b in zip(cuts, cuts[1:])):
                        s.download_ranges(name, [(cuts[0], cuts[1]), (cuts[2], cuts[3]), (cuts[4], cuts[5])])
                elif p == "range":
                    a = s.rng.randint(0, size - 1)
                    s.download("http", name, (a, min(size - 1, a + s.rng.randint(0, 4 * MIB))))
                else:
                    s.download(p, name)
        return go

    for i, (name, size) in enumerate(DOWNLOADS):
        out.append((f"download-{pp}{name}", download(pp + name, size, ["ftp", "http", "range", "ranges"])))

    names = listing_names(run, rnd, cfg.listing_keys)

    def listing(proto, verb):
        return lambda s: s.listing(proto, verb, names)

    for proto, verb in [("ftp", "LIST"), ("ftp", "MLSD"), ("http", "PROPFIND"), ("http", "PROPFIND"),
                        ("http", "GET json"), ("http", "GET html"), ("ftp", "LIST")]:
        out.append((f"{pp}listing-{verb}", listing(proto, verb)))

    def rename(i, name, size):
        def go(s):
            s.seed(name, content(tag(name), size))
            proto = "ftp" if i % 2 == 0 else "http"
            dst = name.replace("/s", "/moved-s")
            if s.rename(proto, name, dst):
                s.download("ftp" if proto == "http" else "http", dst)
        return go

    for i, (name, size) in enumerate(RENAMES):
        out.append((f"rename-{pp}{name}", rename(i, pp + name, size)))

    def delete(i, name, size):
        def go(s):
            s.seed(name, content(tag(name), size))
            s.download("http" if i % 2 else "ftp", name)
            s.delete("ftp" if i % 2 == 0 else "http", name)
        return go

    for i, (name, size) in enumerate(DELETES):
        out.append((f"delete-{pp}{name}", delete(i, pp + name, size)))
    return out


def cmd_run(a):
    a.password = os.environ[a.password_env]
    rdir = os.path.join(a.work, a.round)
    seed_file = os.path.join(rdir, "seed.json")
    deadline = time.monotonic() + 180
    while not os.path.exists(seed_file):
        if time.monotonic() > deadline:
            sys.exit(f"{a.round}: the seed did not arrive")
        time.sleep(0.2)
    reg = Registry()
    rnd_rng = random.Random(f"{a.run}/{a.round}/mix")
    work = []
    for n in range(a.passes):
        work += scenarios(a, rnd_rng if n == 0 else random.Random(f"{a.run}/{a.round}/mix/{n}"), n)
    rnd_rng.shuffle(work)
    start = time.monotonic()
    starts = {label: start + a.spread * i / max(1, len(work) - 1) for i, (label, _) in enumerate(work)}
    errors = []

    def one(item):
        label, fn = item
        delay = starts[label] - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        s = Scenario(a, reg, label, random.Random(f"{a.run}/{a.round}/{label}"))
        try:
            fn(s)
        except Exception as e:  # a bug of this script, not a gateway failure
            errors.append(f"{label}: {exc_text(e)}")
        finally:
            s.close()

    pool = cf.ThreadPoolExecutor(a.workers)
    futures = [pool.submit(one, item) for item in work]
    done, pending = cf.wait(futures, timeout=a.deadline)
    elapsed = time.monotonic() - start
    with reg.lock:
        unfinished = [op for op in reg.ops if op["ok"] is None]
        for op in unfinished:
            op["ok"], op["seen"], op["unfinished"] = False, "did not finish before the deadline", True
        ops = [dict(op) for op in reg.ops]
        versions = {k: list(v) for k, v in reg.versions.items()}
    for op in ops:
        op["t0"] = round(op["t0"] - start, 3)
        if "t1" in op:
            op["t1"] = round(op["t1"] - start, 3)
    write_json(os.path.join(rdir, "ops.json"), {"ops": ops, "versions": versions, "elapsed": round(elapsed, 1),
                                                "script_errors": errors, "pending_scenarios": len(pending)})
    okc = sum(op["ok"] for op in ops)
    print(f"{a.round}: {len(ops)} operations in {elapsed:.1f}s, {okc} succeeded, {len(ops) - okc} failed"
          + (f", {len(pending)} scenarios still running" if pending else ""), file=sys.stderr, flush=True)
    for e in errors:
        print(f"{a.round}: SCRIPT ERROR {e}", file=sys.stderr)
    sys.stderr.flush()
    os._exit(0)


# --- check --------------------------------------------------------------------------------

def health_check(a, rdir):
    """(4): through the pass-through path, STOR + RETR + LIST of two fresh files."""
    reg = Registry()
    s = Scenario(a, reg, "post-check", random.Random())
    problems = []
    try:
        for size in (PART + 12345, 3 * KIB):
            name = f"post-{os.urandom(3).hex()}.bin"
            data = os.urandom(size)
            first = len(reg.ops)  # the upload's own record (a login may follow it)
            if not s.upload("ftp", name, data):
                problems.append(f"STOR {name} ({size} bytes): {reg.ops[first]['seen']}")
                continue
            code, text, got = s.ftp.retrieve("/" + name)
            if code != "226" or got != data:
                problems.append(f"RETR {name}: {text}, {len(got)} of {size} bytes, "
                                f"{'same' if got == data else 'different'} bytes")
            code, text, lines = s.ftp.lines("LIST /")
            if code != "226" or not any(ln.split()[-1:] == [name] and f" {size} " in f" {ln} " for ln in lines):
                problems.append(f"LIST /: {text}, no line with {name} and size {size} in {len(lines)} lines")
    finally:
        s.close()
    return problems, reg


def stou_pattern(name):
    """The versions of the names STOU chose are registered under `base.*`."""
    m = re.match(r"^(stou-\d+)\.[0-9a-f]{8}$", name)
    return f"{m.group(1)}.*" if m else None


def pending_uploads(store, prefix, wait):
    """Polls the store's unfinished uploads (multipart uploads, temporary files) until there is
    none or `wait` seconds passed: (count, lines, error text, lines at the first look)."""
    deadline = time.monotonic() + wait
    first = None
    while True:
        count, lines, err = store.pending(prefix)
        if count is None:
            return None, [], err, first
        if first is None:
            first = lines
        if count == 0 or time.monotonic() >= deadline:
            return count, lines, "", first
        time.sleep(1)


def proxy_faults(paths):
    total = {"reset": 0, "stall": 0, "drop": 0, "connections": 0, "by_kind": {}}
    for p in paths:
        try:
            st = read_json(p)
        except (OSError, ValueError):
            continue
        for k in ("reset", "stall", "drop"):
            total[k] += st.get("faults", {}).get(k, 0)
        total["connections"] += st.get("connections", 0)
        for c, counts in st.get("by_kind", {}).items():
            mine = total["by_kind"].setdefault(c, {})
            for k, n in counts.items():
                mine[k] = mine.get(k, 0) + n
    return total


def cmd_check(a):
    a.password = os.environ[a.password_env]
    rdir = os.path.join(a.work, a.round)
    prefix = round_prefix(a.run, a.round)
    home = prefix + HOME + "/"
    data = read_json(os.path.join(rdir, "ops.json"))
    ops, versions = data["ops"], data["versions"]
    checks, violations = [], []

    def check(name, bad):
        checks.append({"name": name, "ok": not bad, "violations": len(bad)})
        violations.extend(f"[{name}] {b}" for b in bad)

    # (4) first: the gateway must work again once the store answers normally.
    t0 = time.monotonic()
    health, hreg = health_check(a, rdir)
    t_health = time.monotonic()
    for name, vs in hreg.versions.items():
        versions.setdefault(name, []).extend(vs)

    store_api = make_store(a.store)
    objects = store_api.objects(prefix)
    names = set(listing_names(a.run, a.round, a.listing_keys))
    listing_md5 = {}
    for n in names:
        listing_md5[f"{LISTING_DIR}/{n}"] = hashlib.md5(listing_content(a.run, a.round, n)).hexdigest()

    def fetch(key):
        return key, store_api.get(key)

    wanted = [k for k, (size, etag) in objects.items() if k.startswith(home) and not k.endswith("/")
              and listing_md5.get(k[len(home):]) != etag]
    with cf.ThreadPoolExecutor(8) as ex:
        bodies = dict(ex.map(fetch, wanted))
    t_fetch = time.monotonic()

    store = {}  # name -> sha of what is there now (files only)
    bad_objects = []
    for key, (size, etag) in sorted(objects.items()):
        if not key.startswith(home):
            if key == prefix or (key.endswith("/") and size == 0 and home.startswith(key)):
                continue
            bad_objects.append(f"{key}: an object outside the home ({size} bytes)")
            continue
        name = key[len(home):]
        if name == "" or name.endswith("/"):
            if size != 0:
                bad_objects.append(f"{key}: a directory marker of {size} bytes")
            continue
        if name in listing_md5:
            if etag == listing_md5[name]:
                store[name] = "seed"
                continue
        body = bodies[key]
        digest = sha(body)
        store[name] = digest
        allowed = {v["sha"] for v in versions.get(name, []) + versions.get(stou_pattern(name), [])}
        if name in listing_md5:
            allowed.add(sha(listing_content(a.run, a.round, name[len(LISTING_DIR) + 1:])))
        if digest not in allowed:
            sizes = sorted({v["size"] for v in versions.get(name, [])})
            bad_objects.append(f"{name}: {len(body)} bytes sha256 {digest[:12]}, matches none of the "
                               f"{len(allowed)} versions written to it (sizes {sizes[:6]}): truncated or mixed"
                               if allowed else f"{name}: {len(body)} bytes, a name the campaign never wrote")
    for n in names:
        if f"{LISTING_DIR}/{n}" not in store:
            bad_objects.append(f"{LISTING_DIR}/{n}: a seeded key is gone")
    check("(1) no truncated or mixed object", bad_objects)

    by_name = {}
    for op in ops:
        by_name.setdefault(op["name"], []).append(op)

    def later_shas(name, seq):
        return {v["sha"] for v in versions.get(name, []) if v["seq"] > seq}

    bad = []
    for op in ops:
        if op["kind"] not in ("upload", "resume") or not op["ok"]:
            continue
        if op["verb"] == "STOU":
            have = store.get(op.get("stored_as") or "")
            if have not in op["expect"]:
                bad.append(f"ftp STOU ({op['size']} bytes) answered {op['seen']!r}, named "
                           f"{op.get('stored_as')!r} in its 150 reply, and the store holds "
                           + ("nothing there" if have is None else "other bytes there"))
            continue
        have = store.get(op["name"])
        if have in op["expect"]:
            continue
        if have is not None and have in later_shas(op["name"], op["seq"]):
            continue
        bad.append(f"{op['proto']} {op['verb']} /{op['name']} ({op['size']} bytes sent{', multipart' if op.get('multipart') else ''}) "
                   f"answered {op['seen']!r} but the store holds "
                   + ("nothing" if have is None else f"sha256 {have[:12]} (not what was sent)"))
    check("(2) uploads: no false success", bad)

    bad = [f"{op['proto']} {op['verb']} /{op['name']} answered {op['seen']!r} but returned {op.get('got_len')} "
           f"bytes sha256 {str(op.get('got_sha'))[:12]}, none of the {len(op['expect'])} stored versions"
           for op in ops if op["kind"] == "download" and op["ok"] and op.get("wrong_bytes")]
    check("(2) downloads: exactly the stored bytes", bad)

    bad = [f"{op['proto']} {op['verb']} /{op['name']} answered {op['seen']!r} with {op.get('entries')} entries, "
           f"{op.get('missing')} seeded keys missing (e.g. {op.get('missing_sample')}), extra {op.get('extra_sample')}"
           for op in ops if op["kind"] == "listing" and op["ok"] and op.get("incomplete")]
    check("(2) listings: every seeded key", bad)

    bad = []
    for op in ops:
        if op["kind"] != "rename" or op["ok"] is None:
            continue
        src, dst, want = op["name"], op["dst"], set(op["expect"])
        s_have, d_have = store.get(src), store.get(dst)
        if op["ok"]:
            if d_have not in want or s_have is not None:
                bad.append(f"{op['proto']} {op['verb']} /{src} -> /{dst} answered {op['seen']!r} but the store "
                           f"has the source {'present' if s_have else 'absent'} and the target "
                           f"{'right' if d_have in want else ('absent' if d_have is None else 'different')}")
        elif s_have not in want and d_have not in want:
            bad.append(f"{op['proto']} {op['verb']} /{src} -> /{dst} failed ({op['seen']!r}) and the content "
                       f"is under neither name: lost")
    check("(2) renames: moved when answered so, never lost", bad)

    bad = [f"{op['proto']} {op['verb']} /{op['name']} answered {op['seen']!r} but the name is still there"
           for op in ops if op["kind"] == "delete" and op["ok"] and store.get(op["name"]) is not None]
    check("(2) deletes: gone when answered so", bad)

    t_checks = time.monotonic()
    count, lines, err, first_pending = pending_uploads(store_api, prefix, a.upload_wait)
    t_uploads = time.monotonic()

    # the gateway's log: what it said about aborts, retries, and the pending uploads
    log_lines = []
    try:
        with open(a.gateway_log, errors="replace") as f:
            log_lines = f.read().splitlines()
    except OSError:
        pass
    log_text = "\n".join(log_lines)

    def diagnose(key, upload_id):
        """Why an upload is still pending, from the gateway's log."""
        rel = key[len(home):] if key.startswith(home) else key
        aborts = [ln for ln in log_lines if "could not abort" in ln and upload_id in ln]
        if aborts:
            return "the gateway gave up aborting it: " + short(aborts[-1][aborts[-1].find("could not abort"):], 230)
        if upload_id not in log_text:
            creates = log_text.count(f"/{HOME}/{rel}?uploads\n")
            return (f"its upload id never appears in the gateway log (the gateway never learned it); "
                    f"CreateMultipartUpload of this key was retried {creates} time(s) after its answer was lost")
        return "the gateway knew its id and logged no failed abort"

    def reported(key):
        """The gateway's warning that it could not delete this temporary upload file, if any."""
        base = key.rsplit("/", 1)[-1]
        said = [ln for ln in log_lines if "could not delete a temporary upload" in ln and base in ln]
        return short(said[-1], 230) if said else None

    leftover, reported_temps = {}, []
    if a.store == "ftp":
        # A temporary file the gateway could not delete (the upstream gone at that moment) is
        # allowed if the gateway said so in its log; a silent one is a violation.
        name3 = "(3) no temporary upload file left behind, unless the gateway reported it"
        if count is None:
            check(name3, [err])
        else:
            bad = []
            for ln in lines:
                key = ln.split(" ")[0]
                said = reported(key)
                if said:
                    reported_temps.append(f"{key}: {said}")
                else:
                    leftover[key] = "no warning about it in the gateway's log"
                    bad.append(f"temporary upload file {key} left behind, and the gateway never reported it")
            check(name3, bad)
    elif count is None:
        check("(3) no pending multipart upload", [err])
    else:
        bad = []
        for ln in lines:
            key, _, upload_id = ln.partition(" ")
            leftover[key] = diagnose(key, upload_id)
            bad.append(f"pending multipart upload {key} (id {upload_id[:12]}…): {leftover[key]}")
        check("(3) no pending multipart upload", bad or ([f"{count} pending uploads"] if count else []))

    check("(4) after the faults a normal STOR+RETR+LIST works", health)
    if a.tls_reuse:
        # vsftpd's require_ssl_reuse: a data connection that does not resume the control
        # connection's TLS session is refused with 522, which the gateway logs.
        refused = [short(ln, 300) for ln in log_lines if "session reuse required" in ln]
        check("(4) every data connection resumed its control connection's TLS session (no 522)", refused[:5])

    alive = a.gateway_pid and os.path.exists(f"/proc/{a.gateway_pid}")
    panics = [ln for ln in log_lines if "panicked" in ln]
    check("gateway alive, no panic", ([] if alive else ["the gateway process is gone"]) + panics[:5])
    abort_warn = [ln for ln in log_lines if "could not abort" in ln]
    retry_warn = sum(1 for ln in log_lines if "will retry" in ln)
    leftover_logs = {}
    for key in leftover:
        rel = key[len(prefix):] if key.startswith(prefix) else key
        leftover_logs[key] = [short(ln, 400) for ln in log_lines if rel in ln][-12:]
    refused = log_text.count("Connection refused") if a.count_refused else 0

    stats = proxy_faults(a.stats)
    faults = stats["reset"] + stats["stall"] + stats["drop"] + a.extra_faults + refused
    kinds = {}
    for op in ops:
        k = kinds.setdefault(op["kind"], [0, 0])
        k[0 if op["ok"] else 1] += 1
    false_failures = []
    for op in ops:
        if op["verb"] == "STOU" and not op["ok"]:
            for n, h in store.items():
                if stou_pattern(n) == op["name"] and h in op["expect"]:
                    false_failures.append(f"ftp STOU -> /{n}: {op['seen']}")
            continue
        have = store.get(op["name"])
        if op["kind"] in ("upload", "resume") and not op["ok"] and have in op["expect"] \
                and have not in later_shas(op["name"], op["seq"]):
            false_failures.append(f"{op['proto']} {op['verb']} /{op['name']}: {op['seen']}")
    errors_seen = {}
    for op in ops:
        if not op["ok"]:
            key = f"{op['proto']} {op['kind']}: " + re.sub(r"\d{4,}", "N", short(op["seen"], 70))
            errors_seen[key] = errors_seen.get(key, 0) + 1
    result = {
        "round": a.round, "mode": a.mode, "faults": faults, "refused": refused, "expect_faults": not a.no_counted_faults, "fault_detail": stats, "extra_faults": a.extra_faults,
        "kinds": kinds, "ops": len(ops), "successes": sum(1 for op in ops if op["ok"]),
        "errors": sum(1 for op in ops if not op["ok"]), "checks": checks, "violations": violations,
        "elapsed": data["elapsed"], "script_errors": data["script_errors"], "objects": len(objects),
        "abort_warnings": [short(ln, 300) for ln in abort_warn[:10]], "abort_warning_count": len(abort_warn),
        "retry_warnings": retry_warn, "leftover_logs": leftover_logs, "false_failures": false_failures,
        "errors_seen": errors_seen, "pending_scenarios": data.get("pending_scenarios", 0),
        "pending_at_first_look": first_pending, "pending_gone": not count, "pending_wait": round(t_uploads - t_checks, 1),
        "temp_kind": store_api.temp_kind, "reported_temps": reported_temps,
    }
    write_json(os.path.join(rdir, "result.json"), result)

    # remove the round's objects and pending uploads (moto keeps everything in memory)
    try:
        store_api.remove(prefix, objects)
    except Exception as e:
        print(f"{a.round}: cleanup failed: {exc_text(e)}", file=sys.stderr)
    nbad = sum(not c["ok"] for c in checks)
    print(f"{a.round}: {len(ops)} ops, faults {faults}, {len(violations)} violations, "
          f"{len(checks) - nbad}/{len(checks)} checks passed (health {t_health - t0:.1f}s, objects "
          f"{t_fetch - t_health:.1f}s, checks {t_checks - t_fetch:.1f}s, pending uploads {t_uploads - t_checks:.1f}s, "
          f"cleanup {time.monotonic() - t_uploads:.1f}s)", file=sys.stderr, flush=True)


# --- report -------------------------------------------------------------------------------

KIND_ORDER = ["upload", "resume", "download", "listing", "rename", "delete", "login"]
KIND_SHORT = {"upload": "up", "resume": "resume", "download": "down", "listing": "list", "rename": "ren",
              "delete": "del", "login": "login"}


def cmd_report(a):
    results = []
    for rnd in a.rounds.split(","):
        p = os.path.join(a.work, rnd, "result.json")
        if os.path.exists(p):
            results.append(read_json(p))
        else:
            results.append({"round": rnd, "mode": "?", "missing": True, "faults": 0, "kinds": {}, "successes": 0,
                            "errors": 0, "checks": [{"name": "round completed", "ok": False, "violations": 1}],
                            "violations": [f"[{rnd}] the round did not complete (no result)"]})
    total_faults = sum(r["faults"] for r in results)
    checks = [c for r in results for c in r["checks"]]
    glob = [{"name": f"at least {a.min_faults} faults injected in all (got {total_faults})",
             "ok": total_faults >= a.min_faults, "violations": 0 if total_faults >= a.min_faults else 1}]
    faulty_rounds = [r for r in results if r.get("expect_faults", True)]
    silent = [r["round"] for r in faulty_rounds if r["faults"] == 0]
    glob.append({"name": "every fault round injected faults", "ok": not silent, "violations": len(silent)})
    scripts = [f"{r['round']}: {e}" for r in results for e in r.get("script_errors", [])]
    glob.append({"name": "the client ran every scenario (no script error, none left running)",
                 "ok": not scripts and not any(r.get("pending_scenarios") for r in results),
                 "violations": len(scripts)})
    checks += glob

    out = []
    p = out.append
    viol = [v for r in results for v in r.get("violations", [])]
    if viol:
        p("## Violations")
        p("")
        for r in results:
            for v in r.get("violations", []):
                p(f"- {r['round']} ({r['mode']}): {v}")
        p("")
    if scripts:
        p("## Script errors")
        for s in scripts:
            p(f"- {s}")
        p("")
    p("| round | fault mode | faults injected | operations by kind (ok/failed) | client successes | client errors | violations |")
    p("|---|---|---:|---|---:|---:|---:|")
    tot_kinds, tot_ok, tot_err, tot_v = {}, 0, 0, 0
    for r in results:
        kinds = r.get("kinds", {})
        for k, (o, e) in kinds.items():
            t = tot_kinds.setdefault(k, [0, 0])
            t[0] += o
            t[1] += e
        nv = len(r.get("violations", []))
        tot_ok += r["successes"]
        tot_err += r["errors"]
        tot_v += nv
        fd = r.get("fault_detail", {})
        parts = [f"{fd[k]} {k}" for k in ("reset", "stall", "drop") if fd.get(k)]
        by_kind = fd.get("by_kind", {})  # FTP: control and data connections apart
        if any(by_kind.get(c, {}).get(k) for c in ("control", "data") for k in ("reset", "stall", "drop")):
            parts = [f"{by_kind[c][k]} {c} {k}" for c in ("control", "data") for k in ("reset", "stall", "drop")
                     if by_kind.get(c, {}).get(k)]
        if r.get("extra_faults"):
            parts.append(f"{r['extra_faults']} outage + connections cut by the kill")
        if r.get("refused"):
            parts.append(f"{r['refused']} connects refused")
        detail = f" ({', '.join(parts)})" if parts else ""
        p(f"| {r['round']} | {r['mode']} | {r['faults']}{detail} | {fmt_kinds(kinds)} | {r['successes']} | "
          f"{r['errors']} | {nv} |")
    p(f"| **total** | {len(results)} rounds | **{total_faults}** | {fmt_kinds(tot_kinds)} | {tot_ok} | {tot_err} | {tot_v} |")
    p("")
    notes = []
    for r in results:
        if r.get("false_failures"):
            notes.append(f"- {r['round']}: {len(r['false_failures'])} upload(s) answered as failed were in fact stored "
                         f"(a reply lost after the commit; not a violation): {'; '.join(r['false_failures'][:2])}")
        if r.get("pending_at_first_look") and r.get("temp_kind", "").startswith("temporary"):
            notes.append(f"- {r['round']}: {len(r['pending_at_first_look'])} temporary upload file(s) on the upstream "
                         f"right after the round, {'all gone' if r.get('pending_gone', True) else 'NOT all gone'} "
                         f"{r.get('pending_wait')} s later (deleted in the background)")
        elif r.get("pending_at_first_look"):
            notes.append(f"- {r['round']}: {len(r['pending_at_first_look'])} multipart upload(s) pending right after "
                         f"the round (orphaned: the gateway never learned their ids), "
                         f"{'all gone' if r.get('pending_gone', True) else 'NOT all gone'} "
                         f"{r.get('pending_wait')} s later (the sweeper's stale_uploads_after)")
        for t in r.get("reported_temps", []):
            notes.append(f"- {r['round']}: temporary upload file left on the upstream, reported by the gateway: {t}")
        if r.get("abort_warning_count"):
            notes.append(f"- {r['round']}: the gateway logged {r['abort_warning_count']} 'could not abort' warnings, "
                         f"e.g. {r['abort_warnings'][0]}")
    if notes:
        p("Notes:")
        out.extend(notes)
        p("")
    p("What the clients saw when an operation failed (all rounds, most frequent first):")
    seen = {}
    for r in results:
        for k, n in r.get("errors_seen", {}).items():
            seen[k] = seen.get(k, 0) + n
    for k, n in sorted(seen.items(), key=lambda kv: -kv[1])[:12]:
        p(f"- {n} × {k}")
    p("")
    p("Checks:")
    for r in results:
        for c in r["checks"]:
            p(f"- {'ok  ' if c['ok'] else 'FAIL'} {r['round']}: {c['name']}"
              + (f" ({c['violations']} violations)" if not c["ok"] and c.get("violations") else ""))
    for c in glob:
        p(f"- {'ok  ' if c['ok'] else 'FAIL'} campaign: {c['name']}")
    passed = sum(1 for c in checks if c["ok"])
    failed = len(checks) - passed
    p("")
    p(f"{passed} passed, {failed} failed")
    print("\n".join(out))
    sys.stdout.flush()
    sys.exit(0 if failed == 0 else 1)


def fmt_kinds(kinds):
    parts = []
    for k in KIND_ORDER:
        if k in kinds:
            o, e = kinds[k]
            parts.append(f"{KIND_SHORT[k]} {o}/{e}")
    return ", ".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--store", choices=("s3", "ftp"), default="s3",
                       help="s3: moto (S3_* environment); ftp: an upstream FTP server's disk (UPSTREAM_FTP_ROOT)")
        p.add_argument("--work", required=True, help="the campaign's work directory")
        p.add_argument("--run", required=True, help="the campaign's tag (prefixes, contents)")
        p.add_argument("--listing-keys", type=int, default=1200)
        p.add_argument("--passes", type=int, default=1,
                       help="the round's mix this many times over, each pass on its own names")

    p = sub.add_parser("seed")
    common(p)
    p.add_argument("--rounds", required=True, help="comma-separated round names")

    for name in ("run", "check"):
        p = sub.add_parser(name)
        common(p)
        p.add_argument("--round", required=True)
        p.add_argument("--mode", default="")
        p.add_argument("--ftp", type=int, required=True)
        p.add_argument("--http", type=int, required=True)
        p.add_argument("--user", default="u")
        p.add_argument("--password-env", default="FAULTS_PASSWORD")
        p.add_argument("--timeout", type=float, default=90.0, help="every socket operation, seconds")
        if name == "run":
            p.add_argument("--workers", type=int, default=12)
            p.add_argument("--spread", type=float, default=6.0, help="seconds over which scenarios start")
            p.add_argument("--deadline", type=float, default=150.0)
            p.add_argument("--uploads", type=int, default=7, help="uploads per protocol")
            p.add_argument("--overwrites", type=int, default=3)
        else:
            p.add_argument("--stats", action="append", default=[], help="a fault proxy's stats file (repeat)")
            p.add_argument("--extra-faults", type=int, default=0, help="faults not in a stats file")
            p.add_argument("--gateway-pid", type=int, default=0)
            p.add_argument("--gateway-log", default="")
            p.add_argument("--upload-wait", type=float, default=10.0)
            p.add_argument("--tls-reuse", action="store_true",
                           help="the upstream requires TLS session reuse: no 522 in the gateway's log")
            p.add_argument("--count-refused", action="store_true",
                           help="count the store connections refused (gateway log) as faults (outage)")
            p.add_argument("--no-counted-faults", action="store_true",
                           help="the round's mode injects no reset, stall or drop (delays)")

    p = sub.add_parser("report")
    p.add_argument("--work", required=True)
    p.add_argument("--rounds", required=True)
    p.add_argument("--min-faults", type=int, default=500)
    a = ap.parse_args()
    socket.setdefaulttimeout(120)
    {"seed": cmd_seed, "run": cmd_run, "check": cmd_check, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
