#!/usr/bin/env bash
# The HTTP directory listing page in a real browser: the dualgate binary serves a
# small tree and tests/interop/browser.py drives headless Chromium over the
# DevTools protocol (--remote-debugging-pipe): Basic login, the root listing at
# 1280x800 and at a 390x844 phone viewport (screenshots, no horizontal overflow),
# escaped names, human sizes, column sorting, following a directory link and
# downloading a file whose SHA-256 must match. Loopback only; every step has a
# time limit. Installs Chromium from Debian when run as root.
#
# Usage: tests/interop/browser.sh [path/to/dualgate]   (default: target/debug/dualgate, built if missing)
# Screenshots go to $BROWSER_SHOTS (default target/interop/browser/).
# With DUALGATE_TEST_STORAGE=<storage fragment> (tests/backends/s3.sh start) the gateway
# serves that S3-compatible store, the tree put into the bucket directly; with one of
# tests/backends/upstream_ftp.sh start, that upstream FTP server, the tree put on its disk.
# KEEP_WORK=1 keeps the logs.
# Prints one line per check and a closing "N passed, N failed" line; exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/interop/lib.sh

BIN=${1:-target/debug/dualgate}
LIMIT=${INTEROP_TIMEOUT:-120}
SHOTS=${BROWSER_SHOTS:-target/interop/browser}

if ! need chromium && [ "$(id -u)" = 0 ] && need apt-get; then
  # Another process may be installing it already: give that a moment, then install.
  for _ in $(seq 60); do
    need chromium && break
    pgrep -x apt-get >/dev/null || pgrep -x apt >/dev/null || pgrep -x dpkg >/dev/null || break
    sleep 5
  done
  if ! need chromium; then
    echo "== installing chromium"
    if ! out=$(timeout 600 apt-get -o DPkg::Lock::Timeout=300 update -qq 2>&1 &&
      DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium 2>&1); then
      echo "$out" | tail -n 15
    fi
  fi
fi
for tool in chromium python3 curl; do
  need "$tool" || { echo "missing: $tool (install it, or run as root to let this script install it)"; echo "0 passed, 1 failed"; exit 1; }
done
[ -x "$BIN" ] || cargo build --quiet --bin dualgate || exit 1

WORK=$(mktemp -d)
cleanup() {
  # browser.py kills its Chromium itself; this is for when it was killed first.
  if [ -s "$WORK/chromium.pid" ]; then kill -KILL -- "-$(cat "$WORK/chromium.pid")" 2>/dev/null; fi
  stop_gateways
  remove_work
}
trap cleanup EXIT


# The served tree: a 5 MiB random file to size and download, small files of known
# sizes, a name that is HTML, a long name with no break opportunity, a directory
# whose name needs percent-encoding, and an empty directory in it. Made aside, then put
# in storage (copied under the root, or into the bucket) before the gateway starts.
TREE=$WORK/tree
ROOT=$WORK/root
mkdir -p "$TREE/sub dir/deeper"
head -c 5242880 /dev/urandom >"$TREE/data.bin"
head -c 1536 /dev/urandom >"$TREE/half.txt"
printf '0123456789' >"$TREE/small.txt"
printf 'escaped\n' >"$TREE/<b>&\"x.txt"
printf 'long\n' >"$TREE/a_very_long_file_name_without_any_break_opportunity_that_has_to_wrap_on_a_phone_0123456789.txt"
printf 'inner\n' >"$TREE/sub dir/inner.txt"
cp "$TREE/data.bin" "$WORK/data.orig"
stored_put_tree "$TREE" "$ROOT" || { echo "could not put the tree in storage"; echo "0 passed, 1 failed"; exit 1; }

# Start the gateway on free loopback ports; read the addresses from its start-up block.
PASSWORD=interop-$RANDOM$RANDOM
USER=dualgate
start_gateway server --root "$ROOT" || { echo "0 passed, 1 failed"; exit 1; }
HTTP=$(listen_addr server http)
echo "== dualgate at http://$HTTP/, $(chromium --version 2>/dev/null | head -n 1)"

check "curl: the listing needs a login (401 without credentials)" \
  bash -c "test \"\$(curl -sS -o /dev/null -w '%{http_code}' 'http://$HTTP/')\" = 401"
check "curl: the listing is HTML with a viewport meta tag" \
  bash -c "curl -sS --fail -u '$USER:$PASSWORD' -H 'Accept: text/html' 'http://$HTTP/' | grep -q '<meta name=\"viewport\"'"

# The browser steps: browser.py prints "ok   NAME" / "FAIL NAME" (details below a
# failure, indented with "|"); each of those lines counts as one check here. Every
# protocol command and awaited event has its own limit (20 s; 40 s for the download).
mkdir -p "$SHOTS"
timeout -k 5 "${BROWSER_TIMEOUT:-90}" python3 tests/interop/browser.py --url "http://$HTTP/" --user "$USER" \
  --password "$PASSWORD" --out "$SHOTS" --data "$WORK/data.orig" --pid-file "$WORK/chromium.pid" \
  2>&1 | tee "$WORK/browser.log"
STATUS=${PIPESTATUS[0]}
OK=$(grep -c '^ok   ' "$WORK/browser.log")
BAD=$(grep -c '^FAIL ' "$WORK/browser.log")
PASSED=$((PASSED + OK))
FAILED=$((FAILED + BAD))
if [ "$STATUS" != 0 ] && [ "$BAD" = 0 ]; then
  FAILED=$((FAILED + 1)); echo "FAIL browser.py exited with status $STATUS"
fi
check "the download left the served file unchanged" stored_cmp "$ROOT/data.bin" "$WORK/data.orig"
echo "== screenshots in $SHOTS: $(cd "$SHOTS" && ls -- *.png 2>/dev/null | tr '\n' ' ')"

echo "== server log (warnings and errors)"
grep -E 'WARN|ERROR' "$WORK/server.err" | tail -n 20 || true
summary
