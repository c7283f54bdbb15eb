#!/usr/bin/env bash
# Concurrent-client and login benchmarks with bench/ftpload (a Rust async load
# client) instead of the shared Python harness, which saturates the 2-core machine
# before a fast server does (see bench/RESULTS.md). Same transactions as
# ../shared/bench/ftpbench.py: "conc" = 200 clients looping connect + login + RETR
# 10 KiB + QUIT for 15 s; "login" = 32 workers looping connect + login + QUIT for 10 s.
#
#   bench/load.sh                                   # dualgate vsftpd pure-ftpd pyftpdlib unftp, 3 reps
#   REPS=1 bench/load.sh dualgate pyftpdlib         # a quicker pass
#   BEFORE_BIN=/tmp/before-target/release/dualgate bench/load.sh dualgate dualgate-before
#
# BEFORE_BIN (optional): path to another dualgate binary (e.g. a release build of an
# earlier commit); adds the peer dualgate-before, a copy of peers/dualgate.sh with its own
# name and state dir that runs BEFORE_BIN (see bench/run.sh). Peers run repetition-major,
# so both binaries are measured in the same run, one pass each in turn. Without
# arguments it is added to the default list right after dualgate. Unset: no change.
#
# Needs the peers of ../shared/bench installed (bench/run.sh does that on first use;
# unftp needs WITH_UNFTP=1 there). Results: bench/results-load/ (one JSON line per
# peer, test and repetition) and summary.md (medians).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SHARED="$(cd "$HERE/../../shared/bench" && pwd)"
cd "$HERE/.."
cargo build --release --locked -p dualgate -p ftpload
export DUALGATE_BIN="$PWD/target/release/dualgate"
LOAD="$PWD/target/release/ftpload"
export FTP_USER="${FTP_USER:-ftpbench}" FTP_PASS="${FTP_PASS:-ftpbench}"

WORK="$(mktemp -d)"
current=""
cleanup() { [ -n "$current" ] && "$WORK/peers/$current.sh" stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
cp -r "$SHARED/." "$WORK/"
chmod -R u+w "$WORK"
cp "$HERE/peers/dualgate.sh" "$WORK/peers/"
if [ -n "${BEFORE_BIN:-}" ]; then
    "$HERE/peers/make-before.sh" "$WORK/peers" "$BEFORE_BIN"
fi

ROOT="${ROOT:-/dev/shm/ftpbench-root}"
REPS="${REPS:-3}"
PORT="${FTP_PORT:-31021}"
OUT="${OUT:-$HERE/results-load}"
DEFAULT_PEERS="dualgate vsftpd pure-ftpd pyftpdlib unftp"
[ -z "${BEFORE_BIN:-}" ] || DEFAULT_PEERS="dualgate dualgate-before vsftpd pure-ftpd pyftpdlib unftp"
PEERS="${*:-$DEFAULT_PEERS}"
mkdir -p "$OUT" "$ROOT"
python3 "$WORK/ftpbench.py" --local-dir "$ROOT" --fixture-owner "$FTP_USER" --prepare-only >/dev/null
chmod 755 "$ROOT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"

for rep in $(seq 1 "$REPS"); do
    for peer in $PEERS; do
        current="$peer"
        if ! pid="$("$WORK/peers/$peer.sh" start "$PORT" "$ROOT")"; then
            echo "!! $peer failed to start, skipping rep $rep" >&2
            current=""
            continue
        fi
        echo "== $peer rep $rep (pid $pid) $(date +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
        sleep 1
        "$LOAD" conc --addr "127.0.0.1:$PORT" --user "$FTP_USER" --password "$FTP_PASS" \
            --clients 200 --seconds 15 --pid "$pid" --label "$peer" >> "$RESULTS" \
            || echo "!! conc failed for $peer" >&2
        sleep 2
        "$LOAD" login --addr "127.0.0.1:$PORT" --user "$FTP_USER" --password "$FTP_PASS" \
            --clients 32 --seconds 10 --pid "$pid" --label "$peer" >> "$RESULTS" \
            || echo "!! login failed for $peer" >&2
        "$WORK/peers/$peer.sh" stop >/dev/null
        current=""
        sleep 2
    done
done

python3 - "$RESULTS" > "$OUT/summary.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None
def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)
peers = list(dict.fromkeys(r["label"] for r in rows))
print("### FTP load with bench/ftpload (medians over repetitions)\n")
print("| peer | reps | conc tx/s | p50 ms | p99 ms | errors | srv CPU ms/tx | client CPU ms/tx | logins/s | login p99 ms | login errors | srv CPU ms/login |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for p in peers:
    c = [r for r in rows if r["label"] == p and r["op"] == "conc"]
    l = [r for r in rows if r["label"] == p and r["op"] == "login"]
    g = lambda rs, k: med([r.get(k) for r in rs])
    print(f"| {p} | {len(c)} | {fmt(g(c,'tx_per_s'),'.0f')} | {fmt(g(c,'p50_ms'),'.1f')} | {fmt(g(c,'p99_ms'),'.1f')} "
          f"| {fmt(g(c,'errors'),'.0f')} | {fmt(g(c,'server_cpu_ms_per_tx'),'.3f')} | {fmt(g(c,'client_cpu_ms_per_tx'),'.3f')} "
          f"| {fmt(g(l,'tx_per_s'),'.0f')} | {fmt(g(l,'p99_ms'),'.1f')} | {fmt(g(l,'errors'),'.0f')} | {fmt(g(l,'server_cpu_ms_per_tx'),'.3f')} |")
PY
cat "$OUT/summary.md"
