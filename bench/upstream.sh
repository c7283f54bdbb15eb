#!/usr/bin/env bash
# dualgate in front of an upstream FTP server (storage kind upstream_ftp) against the client
# talking to that server directly and against ProFTPD's mod_proxy in reverse mode in front of the
# same server, in one run. The upstream is vsftpd, started by tests/backends/upstream_ftp.sh
# (as the upstream_ftp test suites start it); mod_proxy by bench/peers/proftpd-proxy.sh;
# everything on 127.0.0.1, the files in a directory under TMPDIR (/tmp by default). Needs root.
#
#   bench/upstream.sh                               # 3 passes, 1 GiB, 200 clients for 15 s
#   REPS=1 BIG_MIB=64 CONC_SECONDS=3 bench/upstream.sh   # a quick pass
#
# Each pass, the three paths in turn (direct, dualgate, mod_proxy), the same servers throughout:
#   retr   RETR of a BIG_MIB random file, spliced to /dev/null; byte count checked
#   stor   STOR of that file (sendfile), SIZE checked; the upload is removed afterwards
#   conc   CLIENTS clients looping connect + login + RETR 10 KiB (length checked) + QUIT for
#          CONC_SECONDS (bench/ftpload conc)
# CPU per GiB is the front server's process tree (dualgate or ProFTPD; for direct, vsftpd's);
# vsftpd's own CPU is recorded next to it (cpu_s_by_pid: front, then vsftpd).
# Clients log in to vsftpd and to mod_proxy (which passes the login through) with vsftpd's
# account, and to dualgate with the bench account; dualgate logs in to vsftpd with its one
# service account and keeps up to UPSTREAM_CONNS connections open (default: dualgate's 8).
#
# Environment (defaults): PERF (unset; 1: a flat perf profile of dualgate in its last pass, below),
# REPS (3), BIG_MIB (1024), CLIENTS (200), CONC_SECONDS (15), UPSTREAM_CONNS
# (unset: dualgate's default), PORT_BASE (26000: dualgate on +21, mod_proxy on +31, their passive
# ports +100..+499 and +500..+899), OUT (bench/results-upstream), DUALGATE_BIN, FTPLOAD_BIN.
# Results: OUT/results.jsonl, OUT/summary.md (medians, min-max, ratios with their per-pass
# spread), OUT/run.txt.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=peers/lib.sh
. "$HERE/peers/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root (the FTP daemons need it)"

REPS=${REPS:-3} BIG_MIB=${BIG_MIB:-1024} CLIENTS=${CLIENTS:-200} CONC_SECONDS=${CONC_SECONDS:-15}
PORT_BASE=${PORT_BASE:-26000}
OUT=${OUT:-$HERE/results-upstream}
DG_PORT=$((PORT_BASE + 21)) PX_PORT=$((PORT_BASE + 31))
CLIENT="$HERE/benchclient.py"

if [ -z "${DUALGATE_BIN:-}" ] || [ -z "${FTPLOAD_BIN:-}" ]; then
  (cd "$REPO" && cargo build --release --locked -p dualgate -p ftpload)
fi
export DUALGATE_BIN=${DUALGATE_BIN:-$REPO/target/release/dualgate}
FTPLOAD_BIN=${FTPLOAD_BIN:-$REPO/target/release/ftpload}
[ -f /usr/lib/proftpd/mod_proxy.so ] && id "$BENCH_ACCOUNT" >/dev/null 2>&1 || "$HERE/peers/install.sh"
bench_account

export BACKENDS_STATE
BACKENDS_STATE=$(mktemp -d)
UPSTREAM="$REPO/tests/backends/upstream_ftp.sh"
cleanup() {
  "$HERE/peers/proftpd-proxy.sh" stop >/dev/null 2>&1 || true
  "$HERE/peers/dualgate.sh" stop >/dev/null 2>&1 || true
  "$UPSTREAM" stop >/dev/null 2>&1 || true
  rm -rf "$BACKENDS_STATE"
}
trap cleanup EXIT

FRAGMENT=$(UPSTREAM_FTP_SERVER=vsftpd "$UPSTREAM" start)
eval "$("$UPSTREAM" env)"
[ -z "${UPSTREAM_CONNS:-}" ] || FRAGMENT="$FRAGMENT
  max_connections: $UPSTREAM_CONNS"
log "vsftpd on $UPSTREAM_FTP_PORT (pid $UPSTREAM_FTP_PID), files in $UPSTREAM_FTP_ROOT"
head -c "$((BIG_MIB << 20))" /dev/urandom >"$UPSTREAM_FTP_ROOT/big.bin"
head -c 10240 /dev/urandom >"$UPSTREAM_FTP_ROOT/small.bin"
chown "$UPSTREAM_FTP_OWNER" "$UPSTREAM_FTP_ROOT"/*.bin

DG_PID=$(BENCH_STORAGE="$FRAGMENT" "$HERE/peers/dualgate.sh" start "$DG_PORT" "$UPSTREAM_FTP_ROOT" \
  $((PORT_BASE + 100)) $((PORT_BASE + 499)))
PX_PID=$(PROXY_UPSTREAM="127.0.0.1:$UPSTREAM_FTP_PORT" "$HERE/peers/proftpd-proxy.sh" start "$PX_PORT" \
  "$UPSTREAM_FTP_ROOT" $((PORT_BASE + 500)) $((PORT_BASE + 899)))

mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
{
  echo "date: $(date -u '+%F %T UTC')"
  echo "dualgate: $(cd "$REPO" && git describe --always --dirty) (${DUALGATE_BIN#"$REPO"/}); upstream max_connections: ${UPSTREAM_CONNS:-default}"
  echo "upstream: vsftpd 3.0.3 (Debian), pid $UPSTREAM_FTP_PID; mod_proxy: $(dpkg-query -W -f '${Version}' proftpd-mod-proxy) on proftpd $(dpkg-query -W -f '${Version}' proftpd-core)"
  echo "reps: $REPS; big file: $BIG_MIB MiB; clients: $CLIENTS for $CONC_SECONDS s"
  echo "kernel: $(uname -r); cpus: $(nproc); load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/run.txt"


# PERF=1: a flat CPU profile of dualgate during its RETR and STOR of the last pass, in
# OUT/perf-retr.txt and OUT/perf-stor.txt.
profile_start() { # profile_start LABEL OP REP
  [ -n "${PERF:-}" ] && [ "$1" = dualgate ] && [ "$3" = "$REPS" ] || return 0
  perf_start "$DG_PID" "$2"
}

for rep in $(seq 1 "$REPS"); do
  for label in direct dualgate mod_proxy; do
    case $label in
      direct) port=$UPSTREAM_FTP_PORT front=$UPSTREAM_FTP_PID user=$UPSTREAM_FTP_USER pass=$UPSTREAM_FTP_PASS ;;
      dualgate) port=$DG_PORT front=$DG_PID user=$BENCH_ACCOUNT pass=$(bench_password) ;;
      mod_proxy) port=$PX_PORT front=$PX_PID user=$UPSTREAM_FTP_USER pass=$UPSTREAM_FTP_PASS ;;
    esac
    pids=(--pid "$front")
    [ "$front" = "$UPSTREAM_FTP_PID" ] || pids+=(--pid "$UPSTREAM_FTP_PID")
    log "== $label pass $rep, load $(cut -d' ' -f1-3 /proc/loadavg)"
    args=(--port "$port" --user "$user" --password "$pass" "${pids[@]}" --label "$label" --timeout 120)
    profile_start "$label" retr "$rep"
    record "$label" retr "$rep" "$CLIENT" retr "${args[@]}" --path /big.bin --size "$((BIG_MIB << 20))"
    perf_stop
    profile_start "$label" stor "$rep"
    record "$label" stor "$rep" "$CLIENT" stor "${args[@]}" --path "/up-$label.bin" --source "$UPSTREAM_FTP_ROOT/big.bin"
    perf_stop
    rm -f "$UPSTREAM_FTP_ROOT/up-$label.bin"
    record "$label" conc "$rep" "$FTPLOAD_BIN" conc --addr "127.0.0.1:$port" --user "$user" --password "$pass" \
      --clients "$CLIENTS" --seconds "$CONC_SECONDS" --pid "$front" --label "$label"
    sleep 3
  done
done

echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/run.txt"
python3 "$CLIENT" summary "$RESULTS" dualgate:direct dualgate:mod_proxy >"$OUT/summary.md"
cat "$OUT/summary.md"
log "results: $OUT/summary.md ($failures failed measurements)"
[ "$failures" = 0 ]
