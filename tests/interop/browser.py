#!/usr/bin/env python3
"""The HTTP directory listing page in a real browser: headless Chromium driven
through the DevTools protocol over --remote-debugging-pipe (NUL-terminated JSON
on fds 3 and 4). Python 3 standard library only.

Usage: browser.py --url http://127.0.0.1:PORT/ --user U --password P \
                  --out SCREENSHOT_DIR --data PATH_OF_data.bin [--chromium PATH]

The tree behind --url must be the one tests/interop/browser.sh creates. Prints
one "ok   NAME" or "FAIL NAME" line per step (details indented below a failure)
and exits non-zero when a step failed.
"""

import argparse
import base64
import fcntl
import hashlib
import json
import os
import queue
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

STEP_TIMEOUT = 20  # seconds for one protocol command or one awaited event
DOWNLOAD_TIMEOUT = 40

ESCAPE_NAME = '<b>&"x.txt'
LONG_NAME = "a_very_long_file_name_without_any_break_opportunity_that_has_to_wrap_on_a_phone_0123456789.txt"


class Failure(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise Failure(message)


class Chromium:
    """One Chromium process and its DevTools pipe."""

    def __init__(self, binary, profile, log_path, pid_file=None):
        # Our pipe ends, moved to fds >= 10 so that placing them at 3 and 4 in
        # the child cannot overwrite one with the other.
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        child_in = fcntl.fcntl(to_child_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_child_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_child_r)
        os.close(from_child_w)

        def place_fds():  # runs in the child before exec
            os.dup2(child_in, 3)  # dup2 makes 3 and 4 inheritable
            os.dup2(child_out, 4)

        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-sync", "--mute-audio", "--password-store=basic",
            "--remote-debugging-pipe", "--user-data-dir=" + profile,
        ]
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [binary] + flags, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=place_fds, close_fds=False, start_new_session=True,
        )
        os.close(child_in)
        os.close(child_out)
        if pid_file:
            with open(pid_file, "w") as f:
                f.write(str(self.proc.pid))
        self.wfd = to_child_w
        self.rfd = from_child_r
        self.next_id = 0
        self.responses = {}
        self.events = []  # (method, params, sessionId), in order of arrival
        self.inbox = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self.rfd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.inbox.put(None)
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                self.inbox.put(json.loads(raw))

    def _pump(self, deadline):
        """Takes one message off the pipe (waiting until deadline)."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            msg = self.inbox.get(timeout=left)
        except queue.Empty:
            return False
        if msg is None:
            raise Failure("Chromium closed the DevTools pipe (exit status %s)" % self.proc.poll())
        if "id" in msg:
            self.responses[msg["id"]] = msg
        else:
            self.events.append((msg.get("method"), msg.get("params", {}), msg.get("sessionId")))
        return True

    def call(self, method, params=None, session=None, timeout=STEP_TIMEOUT):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self.wfd, data):]
        deadline = time.monotonic() + timeout
        while mid not in self.responses:
            if not self._pump(deadline):
                raise Failure("no answer to %s within %ss" % (method, timeout))
        reply = self.responses.pop(mid)
        if "error" in reply:
            raise Failure("%s failed: %s" % (method, reply["error"]))
        return reply.get("result", {})

    def mark(self):
        """A position in the event list; wait_event looks only after it."""
        return len(self.events)

    def wait_event(self, method, since, session=None, match=None, timeout=STEP_TIMEOUT):
        deadline = time.monotonic() + timeout
        i = since
        while True:
            while i < len(self.events):
                m, params, sid = self.events[i]
                i += 1
                if m == method and (session is None or sid == session) and (match is None or match(params)):
                    return params
            if not self._pump(deadline):
                raise Failure("no %s event within %ss" % (method, timeout))

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:  # the browser and every helper process it started
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        for fd in (self.wfd, self.rfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()


class Page:
    """One tab, attached with a flat session."""

    def __init__(self, browser):
        self.b = browser
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def call(self, method, params=None, timeout=STEP_TIMEOUT):
        return self.b.call(method, params, session=self.session, timeout=timeout)

    def eval(self, expression, await_promise=False):
        res = self.call("Runtime.evaluate", {
            "expression": expression, "returnByValue": True, "awaitPromise": await_promise,
        })
        if "exceptionDetails" in res:
            details = res["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise Failure("script error: %s in %s" % (text, expression[:200]))
        return res["result"].get("value")

    def load(self, action):
        """Runs action() (which starts a navigation) and waits for the load event."""
        since = self.b.mark()
        action()
        self.b.wait_event("Page.loadEventFired", since, session=self.session)

    def navigate(self, url):
        def go():
            res = self.call("Page.navigate", {"url": url})
            expect("errorText" not in res, "navigation to %s failed: %s" % (url, res.get("errorText")))
        self.load(go)

    def click_link(self, text):
        """Clicks the table link whose text is exactly `text`."""
        clicked = self.eval(
            "(function(){var a=[].find.call(document.querySelectorAll('#listing a'),"
            "function(a){return a.textContent===%s;});if(!a)return false;a.click();return true;})()"
            % json.dumps(text))
        expect(clicked, "no link %r in the listing" % text)

    def screenshot(self, path, width, height):
        data = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])
        with open(path, "wb") as f:
            f.write(data)
        check_png(data, width, height, path)

    def rows(self):
        """The listing's rows as [name text, size text, size data-sort, is dir] in DOM order."""
        return self.eval(
            "[].map.call(document.querySelectorAll('#listing tbody tr'),function(r){"
            "return [r.cells[0].textContent,r.cells[1].textContent,"
            "r.cells[1].getAttribute('data-sort'),r.hasAttribute('data-dir')];})")


def check_png(data, width, height, path):
    """A valid PNG of the expected size whose pixels are not all alike."""
    expect(data[:8] == b"\x89PNG\r\n\x1a\n", "%s: not a PNG" % path)
    pos, chunks = 8, []
    while pos < len(data):
        expect(pos + 12 <= len(data), "%s: truncated chunk" % path)
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        expect(zlib.crc32(kind + body) == crc, "%s: bad CRC in %r chunk" % (path, kind))
        chunks.append((kind, body))
        pos += 12 + length
    expect(chunks and chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND", "%s: no IHDR/IEND" % path)
    w, h, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    expect((w, h) == (width, height), "%s: %dx%d pixels, expected %dx%d" % (path, w, h, width, height))
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    expect(depth == 8 and channels, "%s: unexpected depth %d / colour type %d" % (path, depth, colour))
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    expect(len(raw) == h * (1 + w * channels), "%s: image data has the wrong length" % path)
    # A blank page inflates to a handful of byte values; text and lines give many.
    expect(len(set(raw)) > 32, "%s: the screenshot looks blank (%d distinct byte values)" % (path, len(set(raw))))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sizes(rows):
    return [int(r[2]) for r in rows if not r[3]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--out", required=True, help="directory for the screenshots")
    ap.add_argument("--data", required=True, help="the original of /data.bin")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    ap.add_argument("--pid-file", help="where to write the browser's process id")
    args = ap.parse_args()
    base = args.url.rstrip("/")
    os.makedirs(args.out, exist_ok=True)

    # timeout(1) sends SIGTERM: leave through the finally blocks (browser killed).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    tmp = tempfile.mkdtemp(prefix="dualgate-browser-")
    downloads = os.path.join(tmp, "downloads")
    os.mkdir(downloads)
    failed = 0
    state = {}

    def step(name, fn):
        nonlocal failed
        try:
            fn()
            print("ok   " + name, flush=True)
        except Exception as e:  # Failure, or a protocol surprise
            failed += 1
            print("FAIL " + name, flush=True)
            text = str(e) if isinstance(e, Failure) else "%s: %s" % (type(e).__name__, e)
            for line in text.splitlines() or [""]:
                print("     | " + line, flush=True)

    browser = None
    try:
        def start():
            nonlocal browser
            browser = Chromium(args.chromium, os.path.join(tmp, "profile"),
                               os.path.join(tmp, "chromium.log"), args.pid_file)
            version = browser.call("Browser.getVersion", timeout=30)
            page = Page(browser)
            page.call("Page.enable")
            page.call("Network.enable")
            token = base64.b64encode(("%s:%s" % (args.user, args.password)).encode()).decode()
            page.call("Network.setExtraHTTPHeaders", {"headers": {"Authorization": "Basic " + token}})
            state["page"] = page
            print("== %s" % version.get("product"), flush=True)

        def desktop():
            page = state["page"]
            page.call("Emulation.setDeviceMetricsOverride",
                      {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
            page.navigate(base + "/")
            title = page.eval("document.title")
            expect(title == "Index of /", "the page's title is %r (not logged in?)" % title)
            page.screenshot(os.path.join(args.out, "desktop.png"), 1280, 800)
            names = [r[0] for r in page.rows()]
            want = ["data.bin", "half.txt", "small.txt", "sub dir/", ESCAPE_NAME, LONG_NAME]
            missing = [n for n in want if n not in names]
            expect(not missing, "entries missing from the listing: %r (have %r)" % (missing, names))
            expect(len(names) == len(want), "unexpected entries: %r" % names)
            footer = page.eval("document.querySelector('footer').textContent")
            expect(footer == "%d entries" % len(want), "footer says %r" % footer)
            expect(page.eval("document.querySelector('tr[data-parent]')") is None, "the root has a parent row")

        def escaping():
            page = state["page"]
            expect(page.eval("document.getElementsByTagName('b').length") == 0,
                   "a <b> element was injected by the file name")
            found = page.eval(
                "(function(){var a=[].find.call(document.querySelectorAll('#listing a'),function(a){"
                "return a.textContent===%s;});return a?[a.getAttribute('href'),a.href]:null;})()"
                % json.dumps(ESCAPE_NAME))
            expect(found, "no link whose text is literally %r" % ESCAPE_NAME)
            raw_href, href = found
            expect(not any(c in raw_href for c in '<>"&'), "href not percent-encoded: %r" % raw_href)
            # The link leads to the file: fetch it from the page (same origin).
            got = page.eval("fetch(%s).then(function(r){return r.text().then(function(t){return [r.status,t];});})"
                            % json.dumps(href), await_promise=True)
            expect(got == [200, "escaped\n"], "GET %s (the link to %r) gave %r" % (href, ESCAPE_NAME, got))

        def sizes():
            page = state["page"]
            shown = {r[0]: r[1] for r in page.rows()}
            titles = page.eval(
                "(function(){var o={};[].forEach.call(document.querySelectorAll('#listing tbody tr'),"
                "function(r){o[r.cells[0].textContent]=r.cells[1].getAttribute('title');});return o;})()")
            want = {"data.bin": "5.0 MiB", "half.txt": "1.5 KiB", "small.txt": "10 B", "sub dir/": "\u2014"}
            for name, text in want.items():
                expect(shown.get(name) == text, "size of %r shows %r, expected %r" % (name, shown.get(name), text))
            expect(titles.get("data.bin") == "5242880 bytes", "data.bin's size title is %r" % titles.get("data.bin"))

        def sorting():
            page = state["page"]
            before = page.rows()
            # On load: directories first, then names in order, whatever order the disk gave.
            dirs = [r[0] for r in before if r[3]]
            files = [r[0] for r in before if not r[3]]
            expect([r[0] for r in before] == dirs + files and dirs and files,
                   "on load, directories are not all first: %r" % [r[0] for r in before])
            in_order = page.eval(
                "(function(n){var c=new Intl.Collator(undefined,{numeric:true,sensitivity:'base'});"
                "for(var i=1;i<n.length;i++){if(c.compare(n[i-1],n[i])>0)return false;}return true;})(%s)"
                % json.dumps(files))
            expect(in_order, "on load, files are not sorted by name: %r" % files)
            name_sort = page.eval("document.querySelectorAll('#listing thead th')[0].getAttribute('aria-sort')")
            expect(name_sort == "ascending", "on load, the Name header says aria-sort %r" % name_sort)

            def click_header(i):
                page.eval("document.querySelectorAll('#listing thead th')[%d].click()" % i)
                return page.rows(), page.eval(
                    "document.querySelectorAll('#listing thead th')[%d].getAttribute('aria-sort')" % i)

            up, sort = click_header(1)
            expect(sort == "ascending", "Size header: aria-sort %r after one click" % sort)
            expect(up[0][3], "Size ascending: a directory is not first: %r" % [r[0] for r in up])
            s = file_sizes(up)
            expect(s == sorted(s), "Size ascending: files in order %r" % s)
            down, sort = click_header(1)
            expect(sort == "descending", "Size header: aria-sort %r after two clicks" % sort)
            expect(down[0][3], "Size descending: directories no longer first: %r" % [r[0] for r in down])
            s = file_sizes(down)
            expect(s == sorted(s, reverse=True), "Size descending: files in order %r" % s)
            expect([r[0] for r in up] != [r[0] for r in down], "the row order did not change")
            names, sort = click_header(0)
            files = [r[0] for r in names if not r[3]]
            in_order = page.eval("(function(n){var c=new Intl.Collator(undefined,{numeric:true,sensitivity:'base'});"
                                 "for(var i=1;i<n.length;i++)if(c.compare(n[i-1],n[i])>0)return false;return true;})(%s)"
                                 % json.dumps(files))
            expect(sort == "ascending" and in_order, "Name ascending: %r (aria-sort %r)" % (files, sort))
            expect(sorted(map(tuple, before)) == sorted(map(tuple, names)), "sorting lost or changed rows")

        def phone():
            page = state["page"]
            page.call("Emulation.setDeviceMetricsOverride",
                      {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True})
            page.load(lambda: page.call("Page.reload", {"ignoreCache": True}))
            page.screenshot(os.path.join(args.out, "phone.png"), 390 * 3, 844 * 3)
            m = page.eval("({sw:document.documentElement.scrollWidth,iw:window.innerWidth,"
                          "tw:document.getElementById('listing').getBoundingClientRect().width,"
                          "dpr:window.devicePixelRatio})")
            expect(m["iw"] == 390 and m["dpr"] == 3, "the phone viewport did not apply: %r" % m)
            expect(m["sw"] <= m["iw"], "horizontal overflow on a phone: scrollWidth %(sw)s > innerWidth %(iw)s "
                   "(table %(tw)s px wide)" % m)
            page.call("Emulation.setDeviceMetricsOverride",
                      {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})

        def subdirectory():
            page = state["page"]
            page.load(lambda: page.click_link("sub dir/"))
            path = page.eval("location.pathname")
            expect(path == "/sub%20dir/", "location.pathname is %r, expected '/sub%%20dir/'" % path)
            names = [r[0] for r in page.rows()]
            expect(names[:1] == ["../"], "no parent link first: %r" % names)
            expect(sorted(names[1:]) == ["deeper/", "inner.txt"], "the sub dir lists %r" % names)
            heading = page.eval("document.querySelector('h1').textContent")
            expect(heading == "Index of /sub dir/", "heading %r" % heading)
            page.load(lambda: page.click_link("../"))
            path = page.eval("location.pathname")
            expect(path == "/", "the parent link led to %r" % path)

        def download():
            page = state["page"]
            b = page.b
            b.call("Browser.setDownloadBehavior",
                   {"behavior": "allow", "downloadPath": downloads, "eventsEnabled": True})
            since = b.mark()
            page.click_link("data.bin")
            begin = b.wait_event("Browser.downloadWillBegin", since)
            done = b.wait_event("Browser.downloadProgress", since, timeout=DOWNLOAD_TIMEOUT,
                                match=lambda p: p.get("guid") == begin["guid"]
                                and p.get("state") in ("completed", "canceled"))
            expect(done["state"] == "completed", "the download was %s" % done["state"])
            path = os.path.join(downloads, begin["suggestedFilename"])
            want = os.path.getsize(args.data)
            deadline = time.monotonic() + 5  # the final rename may trail the event
            while not (os.path.exists(path) and os.path.getsize(path) == want) and time.monotonic() < deadline:
                time.sleep(0.1)
            expect(os.path.exists(path), "no downloaded file %s (have %r)" % (path, os.listdir(downloads)))
            got, orig = sha256(path), sha256(args.data)
            expect(got == orig, "downloaded %s: %d bytes, SHA-256 %s; original %d bytes, %s"
                   % (begin["suggestedFilename"], os.path.getsize(path), got, want, orig))

        step("chromium: start, attach a page, send Basic credentials", start)
        steps = [
            ("desktop 1280x800: root listing loads, screenshot, expected entries", desktop),
            ("names are escaped: %s shown literally, no <b> injected, link fetches it" % ESCAPE_NAME, escaping),
            ("sizes in human units (5.0 MiB, 1.5 KiB, 10 B; exact bytes in title)", sizes),
            ("sorted by name on load (directories first); clicking Size and Name re-sorts", sorting),
            ("phone 390x844@3: screenshot, no horizontal overflow", phone),
            ("a click on 'sub dir/' opens /sub%20dir/ with its files and ../; ../ goes back", subdirectory),
            ("a click on data.bin downloads it; SHA-256 matches", download),
        ]
        for name, fn in steps:
            if "page" in state:
                step(name, fn)
            else:
                step(name, lambda: (_ for _ in ()).throw(Failure("skipped: the browser did not start")))
    finally:
        if browser:
            browser.close()
        if failed:
            log = os.path.join(tmp, "chromium.log")
            if os.path.exists(log):
                with open(log, errors="replace") as f:
                    # D-Bus complaints are normal in a container; show the rest.
                    tail = [l for l in f.read().splitlines() if "dbus" not in l.lower()][-10:]
                for line in tail:
                    print("     | chromium: " + line)
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
