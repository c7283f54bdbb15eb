#!/usr/bin/env bash
# The benchmarks' regression guard, run by CI: dualgate driven by the benchmark clients for a
# few seconds, failing on a crash or a grossly wrong result — wrong bytes, a wrong entry count,
# transaction errors, zero throughput — and never on a timing. It does not measure anything
# worth keeping (a debug build is fine); bench/run.sh does.
#
#   bench/smoke.sh            # ~20 s after the build (17.5 s measured with a release build on a
#                             # loaded machine, 15.6 s with the TLS checks at load 3, 3.5 s of it
#                             # theirs; in CI it reuses what `cargo test` built)
#
# What it checks, on 127.0.0.1, the files in a temporary directory:
#   - RETR of a 32 MiB random file, its SHA-256 compared (benchclient.py retr --sha256)
#   - STOR of that file (SIZE checked), then RETR of the upload with its SHA-256 compared
#   - LIST, MLSD and NLST of a directory of 1,000 files, twice each in one session: 1,000 entries each time
#   - bench/ftpload conc (50 clients, 3 s: login + RETR 10 KiB, length checked) and login
#     (8 workers, 2 s): no errors, more than zero transactions
#   - HTTP GET of the 32 MiB file (curl, size checked); PUT of it (curl -T, then HEAD), read back
#     by RETR with its SHA-256 compared; wrk for 2 s on the 10 KiB file, then 1 s paced (1 ms
#     between a response and the next request; no errors, more than zero requests, all the
#     bytes); wrk is installed with apt-get when the
#     script runs as root, else it must be there or the wrk check is skipped (and says so)
#   - TLS, on a second dualgate with FTPS and HTTPS (bench/peers/lib.sh's certificate and TLS
#     1.3 suite): FTPS RETR of the 32 MiB file and STOR + RETR of the upload, SHA-256 compared,
#     the data connections resuming the control session; HTTPS GET of it (size checked); a
#     second of full FTPS and HTTPS handshakes (no errors, none resumed)
#   - the servers are still running at the end and their logs hold no panic
# Environment: DUALGATE_BIN, FTPLOAD_BIN (default: cargo build, debug), SMOKE_MIB (32).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=peers/lib.sh
. "$HERE/peers/lib.sh"
SMOKE_MIB=${SMOKE_MIB:-32}
if [ -z "${DUALGATE_BIN:-}" ] || [ -z "${FTPLOAD_BIN:-}" ]; then
  (cd "$REPO" && timeout 1800 cargo build --locked -p dualgate -p ftpload)
fi
export DUALGATE_BIN=${DUALGATE_BIN:-$REPO/target/debug/dualgate}
FTPLOAD_BIN=${FTPLOAD_BIN:-$REPO/target/debug/ftpload}
CLIENT="$HERE/benchclient.py"

# Own state and account file, so that a smoke never touches a benchmark run's.
WORK=$(mktemp -d)
export BENCH_STATE="$WORK/state" DUALGATE_BENCH_CACHE="$WORK/cache"
BENCH_CACHE=$DUALGATE_BENCH_CACHE
ROOT="$WORK/root"
cleanup() {
  "$HERE/peers/dualgate.sh" stop >/dev/null 2>&1 || true
  BENCH_TLS=1 "$HERE/peers/dualgate.sh" stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$ROOT/dir1k"
head -c "$((SMOKE_MIB << 20))" /dev/urandom >"$ROOT/big.bin"
head -c 10240 /dev/urandom >"$ROOT/small.bin"
(cd "$ROOT/dir1k" && seq -f 'f%04g' 1 1000 | xargs touch)
SHA=$(sha256sum "$ROOT/big.bin" | cut -d' ' -f1)
SIZE=$((SMOKE_MIB << 20))

PORT=$(free_port) HTTP_PORT=$(free_port)
BASE=$(free_range)
PID=$(BENCH_HTTP_PORT=$HTTP_PORT "$HERE/peers/dualgate.sh" start "$PORT" "$ROOT" "$BASE" $((BASE + 99)))
TLS_PORT=$(free_port) HTTPS_PORT=$(free_port)
TLS_PID=$(BENCH_TLS=1 BENCH_HTTP_PORT=$HTTPS_PORT "$HERE/peers/dualgate.sh" start "$TLS_PORT" "$ROOT" \
  $((BASE + 100)) $((BASE + 199)))
export OPENSSL_CONF=$BENCH_STATE/tls/openssl.cnf
export FTP_USER=$BENCH_ACCOUNT FTP_PASS
FTP_PASS=$(bench_password)
ftp=(--port "$PORT" --pid "$PID" --timeout 30)
passed=0 failed=0
check() { # check WHAT COMMAND... : runs it, shows its JSON, counts a failure
  local what=$1 out
  shift
  if out=$("$@"); then
    printf 'ok    %-28s %s\n' "$what" "$out"
    passed=$((passed + 1))
  else
    printf 'FAIL  %s\n' "$what"
    failed=$((failed + 1))
  fi
}
load_ok() { # load_ok JSON : ftpload's report has no error and some transactions
  python3 -c 'import json, sys
r = json.loads(sys.argv[1])
op, tx, errors, samples = r["op"], r["tx"], r["errors"], r["error_samples"]
sys.exit(0 if errors == 0 and tx > 0 else f"ftpload {op}: {tx} transactions, {errors} errors {samples}")' "$1"
}
ftpload() { # ftpload OP ARGS... : runs bench/ftpload and checks its report
  local out
  out=$("$FTPLOAD_BIN" "$@" --addr "127.0.0.1:$PORT" --user "$FTP_USER" --password "$FTP_PASS" --pid "$PID") || return 1
  load_ok "$out" && echo "$out"
}

check "RETR ${SMOKE_MIB} MiB (sha256)" "$CLIENT" retr "${ftp[@]}" --path /big.bin --size "$SIZE" --sha256 "$SHA"
check "STOR ${SMOKE_MIB} MiB (SIZE)" "$CLIENT" stor "${ftp[@]}" --path /up.bin --source "$ROOT/big.bin"
check "RETR of the upload (sha256)" "$CLIENT" retr "${ftp[@]}" --path /up.bin --size "$SIZE" --sha256 "$SHA"
for cmd in LIST MLSD NLST; do
  check "$cmd 1,000 entries" "$CLIENT" list "${ftp[@]}" --path /dir1k --cmd "$cmd" --entries 1000 --repeat 2
done
check "ftpload conc 50 clients" ftpload conc --clients 50 --seconds 3 --timeout 10
check "ftpload login 8 workers" ftpload login --clients 8 --seconds 2 --timeout 10
check "HTTP GET ${SMOKE_MIB} MiB" "$CLIENT" get --port "$HTTP_PORT" --pid "$PID" --path /big.bin --size "$SIZE"
check "HTTP PUT ${SMOKE_MIB} MiB (HEAD)" "$CLIENT" put --port "$HTTP_PORT" --pid "$PID" --path /put.bin --source "$ROOT/big.bin"
check "RETR of the PUT (sha256)" "$CLIENT" retr "${ftp[@]}" --path /put.bin --size "$SIZE" --sha256 "$SHA"
if ! command -v wrk >/dev/null && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends wrk >/dev/null 2>&1 ||
    { timeout 600 apt-get update >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends wrk >/dev/null 2>&1; } || true
fi
if command -v wrk >/dev/null; then
  check "wrk 10 KiB, 2 s" "$CLIENT" wrk --port "$HTTP_PORT" --pid "$PID" --path /small.bin --size 10240 --connections 16 --seconds 2
  check "wrk 10 KiB paced, 1 s" "$CLIENT" wrk --port "$HTTP_PORT" --pid "$PID" --path /small.bin --size 10240 --connections 16 --seconds 1 --pace-ms 1
else
  echo "skip  wrk (not installed: apt-get install wrk)"
fi
tls=(--port "$TLS_PORT" --pid "$TLS_PID" --timeout 30 --cafile "$BENCH_STATE/tls/cert.pem")
resumed() { # resumed COMMAND... : runs it; its FTPS data connection must have resumed the session
  local out
  out=$("$@") || return 1
  python3 -c 'import json, sys; sys.exit(0 if json.loads(sys.argv[1]).get("data_resumed") else "not resumed")' "$out" &&
    echo "$out"
}
check "FTPS RETR ${SMOKE_MIB} MiB (sha256)" resumed "$CLIENT" retr "${tls[@]}" --path /big.bin --size "$SIZE" --sha256 "$SHA"
check "FTPS STOR ${SMOKE_MIB} MiB (SIZE)" resumed "$CLIENT" stor "${tls[@]}" --path /up-tls.bin --source "$ROOT/big.bin"
check "FTPS RETR of the upload (sha256)" "$CLIENT" retr "${tls[@]}" --path /up-tls.bin --size "$SIZE" --sha256 "$SHA"
check "FTPS handshakes, 1 s" "$CLIENT" handshake "${tls[@]}" --ftp --workers 2 --seconds 1
https=(--port "$HTTPS_PORT" --pid "$TLS_PID" --timeout 30 --cafile "$BENCH_STATE/tls/cert.pem")
check "HTTPS GET ${SMOKE_MIB} MiB" "$CLIENT" get "${https[@]}" --path /big.bin --size "$SIZE"
check "HTTPS handshakes, 1 s" "$CLIENT" handshake "${https[@]}" --workers 2 --seconds 1

for name in dualgate dualgate-tls; do
  pid=$(cat "$BENCH_STATE/$name/pid" 2>/dev/null || true)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "FAIL  $name (pid ${pid:-?}) is not running any more"
    failed=$((failed + 1))
  fi
  if grep -q "panicked" "$BENCH_STATE/$name/server.log"; then
    echo "FAIL  $name's log has a panic:"
    grep -m5 -A5 "panicked" "$BENCH_STATE/$name/server.log"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
