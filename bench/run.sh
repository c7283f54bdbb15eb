#!/usr/bin/env bash
# Benchmarks dualgate side by side with the peers — vsftpd, Pure-FTPd, pyftpdlib, unFTP (FTP)
# and nginx (HTTP) — in one run on this machine. Self-contained: the peers are installed by
# bench/peers/install.sh and started by bench/peers/<peer>.sh on 127.0.0.1. Needs root.
#
#   bench/run.sh                                 # dualgate vsftpd pure-ftpd pyftpdlib unftp
#                                                # dualgate-http nginx, every test, 3 passes
#   REPS=1 bench/run.sh dualgate vsftpd          # a quicker pass over chosen peers
#   TESTS="conc login" bench/run.sh              # chosen tests only (bench/load.sh does this)
#   TESTS=idle OUT=bench/results-idle bench/run.sh dualgate vsftpd pure-ftpd pyftpdlib
#   BEFORE_BIN=/tmp/before/release/dualgate bench/run.sh dualgate dualgate-before
#   bench/tls.sh                                 # the TLS peers (below): retr stor http handshake
#
# The peer ftp-floor (bench/ftpload's ftp-floor: greeting, USER, PASS, TYPE, QUIT answered with
# one write each on tokio, nothing else) measures what any server on tokio pays per login; it
# takes the login test only (TESTS=login bench/run.sh dualgate unftp ftp-floor).
#
# A peer named <peer>-tls is <peer> with TLS (BENCH_TLS=1, bench/peers/lib.sh): FTPS or HTTPS on
# a self-signed ECDSA P-256 certificate made for the run, TLS 1.3 with TLS_AES_128_GCM_SHA256 for
# every OpenSSL program of the run (OPENSSL_CONF; rustls follows the client): dualgate-tls,
# vsftpd-tls, pure-ftpd-tls, dualgate-http-tls, nginx-tls. Their clients speak FTPS (explicit
# AUTH TLS, PROT P, data connections resuming the control session) or HTTPS (HTTP/1.1), and
# every result names what was negotiated; conc, login and idle (bench/ftpload has no TLS) are
# skipped for them.
#
# Passes alternate: pass 1 of every peer, then pass 2 of every peer, ...; every pass starts a
# fresh server on a root on tmpfs (/dev/shm; ROOT_PARENT=DIR puts it in DIR instead, e.g. on a
# disk file system, where dualgate reads files differently). Tests (TESTS, default "retr stor list
# conc login http h2 put"; "idle" and "paced" only when named), each failing the pass's figure
# when its result is wrong:
#   retr   RETR of a BIG_MIB random file, spliced to /dev/null; byte count checked; MiB/s and
#          the server process tree's CPU per GiB                       (benchclient.py retr)
#   stor   STOR of the same file with sendfile; SIZE checked afterwards (benchclient.py stor)
#   list   LIST, MLSD and NLST of a directory of 10,000 empty files, LIST_REPEAT times each in one
#          session; the median time and the server's CPU per listing; entry count checked
#   conc   CLIENTS clients looping connect + login + RETR 10 KiB (length checked) + QUIT for
#          CONC_SECONDS                                                 (bench/ftpload conc)
#   login  32 workers looping connect + login + QUIT for LOGIN_SECONDS  (bench/ftpload login)
#   http   (HTTP peers: nginx, dualgate-http) GET of the big file with curl, 3 times; wrk, 2
#          threads, 64 keep-alive connections, WRK_SECONDS on the 10 KiB file, then on a 1 KiB
#          and a 100 KiB file (non-2xx and socket errors fail it)
#                                                  (benchclient.py get, wrk; ops wrk, wrk1k, wrk100k)
#   paced  (HTTP peers) wrk as in http, but each connection waits PACE_MS after a response before
#          its next request: every peer is offered about the same load below saturation, so the
#          latencies (p50, p90, p99) compare serving, not how two busy processes share the
#          cores with the client; on the 10 KiB and the 1 KiB file  (benchclient.py wrk
#          --pace-ms; ops paced, paced1k)
#   h2     (HTTP peers, no TLS) HTTP/2 without TLS (h2c, prior knowledge) with h2load, 2 threads, 64
#          connections × 10 concurrent streams, WRK_SECONDS on the 10 KiB file, then on the 1 KiB
#          one (any non-2xx or a short body fails it; nginx serves it on PORT+2, see its peer
#          script)                                            (benchclient.py h2; ops h2, h2_1k)
#   put    (HTTP peers) PUT of the big file with curl under the account's credentials, 3 times;
#          a HEAD must then show its size; MiB/s and CPU per GiB  (benchclient.py put)
#   idle   IDLE_SESSIONS logged-in idle sessions: the server tree's PSS growth per session; on
#          HTTP peers, IDLE_SESSIONS keep-alive connections left idle after one GET of the 10 KiB
#          file (from 8 loopback addresses; the file descriptor limit is raised to fit)
#                                                          (benchclient.py idle, httpidle)
#   handshake  (TLS peers) full TLS handshakes, no resumption, from 4 client processes for
#          HS_SECONDS: FTPS greeting + AUTH TLS + handshake + QUIT, or HTTPS handshake +
#          close_notify; handshakes/s and the server's CPU per handshake (benchclient.py handshake)
#
# BEFORE_BIN (optional): another dualgate binary (e.g. a release build of an earlier commit);
# adds the peers dualgate-before and dualgate-before-http (bench/peers/make-before.sh), so
# both builds are measured in the same run, one pass each in turn.
#
# Environment (defaults): REPS (3), BIG_MIB (1024), CLIENTS (200), CONC_SECONDS (15),
# LOGIN_SECONDS (10), WRK_SECONDS (10), PACE_MS (1, whole milliseconds), LIST_REPEAT (20),
# HS_SECONDS (10), IDLE_SESSIONS (500), PORT_BASE (24000:
# the server on PORT_BASE+21, passive ports PORT_BASE+100..+1999), OUT (bench/results),
# ROOT_PARENT (/dev/shm), DUALGATE_BIN and FTPLOAD_BIN (default: built here with cargo build
# --release), PERF (unset; 1: a flat perf profile of every dualgate peer's RETR, STOR, 3 big GETs
# and 3 big PUTs in the last pass, OUT/perf-<peer>-retr|stor|get|put.txt; all: of every peer's).
# Results: OUT/results.jsonl (one JSON object per measurement), OUT/summary.md (medians and
# min-max per peer), OUT/run.txt (date, commit, versions, load).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=peers/lib.sh
. "$HERE/peers/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root (the FTP daemons need it)"

REPS=${REPS:-3} BIG_MIB=${BIG_MIB:-1024} CLIENTS=${CLIENTS:-200}
CONC_SECONDS=${CONC_SECONDS:-15} LOGIN_SECONDS=${LOGIN_SECONDS:-10} WRK_SECONDS=${WRK_SECONDS:-10}
HS_SECONDS=${HS_SECONDS:-10} PACE_MS=${PACE_MS:-1} LIST_REPEAT=${LIST_REPEAT:-20}
IDLE_SESSIONS=${IDLE_SESSIONS:-500} PORT_BASE=${PORT_BASE:-24000}
TESTS=${TESTS:-"retr stor list conc login http h2 put"}
OUT=${OUT:-$HERE/results}
ROOT_PARENT=${ROOT_PARENT:-/dev/shm}
# 1,900 passive ports: Pure-FTPd admits at most half its range in clients (500 idle sessions).
PORT=$((PORT_BASE + 21)) LO=$((PORT_BASE + 100)) HI=$((PORT_BASE + 1999))
CLIENT="$HERE/benchclient.py"

if [ -z "${DUALGATE_BIN:-}" ] || [ -z "${FTPLOAD_BIN:-}" ]; then
  (cd "$REPO" && cargo build --release --locked -p dualgate -p ftpload)
fi
export DUALGATE_BIN=${DUALGATE_BIN:-$REPO/target/release/dualgate}
FTPLOAD_BIN=${FTPLOAD_BIN:-$REPO/target/release/ftpload}
# The login floor (peer ftp-floor) is built with ftpload, beside it.
export FTP_FLOOR_BIN=${FTP_FLOOR_BIN:-$(dirname "$FTPLOAD_BIN")/ftp-floor}
[ -x "$BENCH_CACHE/venv/bin/python" ] && id "$BENCH_ACCOUNT" >/dev/null 2>&1 && command -v h2load >/dev/null ||
  "$HERE/peers/install.sh"
bench_account
export FTP_USER=$BENCH_ACCOUNT FTP_PASS
FTP_PASS=$(bench_password)

WORK=$(mktemp -d)
ROOT=$(mktemp -d "$ROOT_PARENT/dualgate-bench-root.XXXXXX")
current=""
cleanup() {
  [ -z "$current" ] || peer "$current" stop >/dev/null 2>&1 || true
  perf_stop
  rm -rf "$WORK" "$ROOT" "$(dirname "$ROOT")/.nginx-body-$PORT"
}
trap cleanup EXIT
peer() { # peer NAME start|stop ... : the peer's script; NAME-tls is NAME's with BENCH_TLS=1
  local name=${1%-tls} tls=""
  [ "$name" = "$1" ] || tls=1
  shift
  if [ -x "$WORK/$name.sh" ]; then
    BENCH_TLS=$tls "$WORK/$name.sh" "$@"
  else
    BENCH_TLS=$tls "$HERE/peers/$name.sh" "$@"
  fi
}

DEFAULT_PEERS="dualgate vsftpd pure-ftpd pyftpdlib unftp dualgate-http nginx"
if [ -n "${BEFORE_BIN:-}" ]; then
  "$HERE/peers/make-before.sh" "$WORK" "$BEFORE_BIN"
  DEFAULT_PEERS="dualgate dualgate-before vsftpd pure-ftpd pyftpdlib unftp dualgate-http dualgate-before-http nginx"
fi
PEERS="${*:-$DEFAULT_PEERS}"
if [[ " $PEERS " == *" unftp "* ]] && [ ! -x "${UNFTP_BIN:-$BENCH_CACHE/unftp}" ]; then
  log "no unFTP binary (bench/peers/install.sh could neither download nor build it; set UNFTP_BIN): unftp skipped"
  PEERS=$(echo " $PEERS " | sed 's/ unftp / /')
fi

if [[ " $PEERS " == *" ftp-floor "* ]] && [ "$TESTS" != login ]; then
  log "ftp-floor answers logins only: its other tests are skipped"
fi

# TLS peers: one certificate for all, made for this run; every OpenSSL program of the run
# (clients and servers) loads the configuration that fixes the TLS version and suite.
if [[ " $PEERS " == *-tls\ * ]]; then
  BENCH_TLS_DIR="$WORK/tls" bench_tls_files
  export OPENSSL_CONF="$BENCH_TLS_DIR/openssl.cnf"
  log "TLS: $(openssl x509 -in "$BENCH_TLS_DIR/cert.pem" -noout -subject -ext subjectAltName | tr '\n' ' ')"
fi

# Fixtures: a random big file, 1, 10 and 100 KiB files, 10,000 empty files; the account owns them.
log "fixtures in $ROOT (${BIG_MIB} MiB)"
head -c "$((BIG_MIB << 20))" /dev/urandom >"$ROOT/big.bin"
head -c 10240 /dev/urandom >"$ROOT/small.bin"
head -c 1024 /dev/urandom >"$ROOT/tiny.bin"
head -c 102400 /dev/urandom >"$ROOT/mid.bin"
mkdir "$ROOT/dir10k"
(cd "$ROOT/dir10k" && seq -f 'f%05g' 1 10000 | xargs touch)
chown -R "$BENCH_ACCOUNT" "$ROOT"
chmod 755 "$ROOT"

mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
{
  echo "date: $(date -u '+%F %T UTC')"
  echo "dualgate: $(cd "$REPO" && git describe --always --dirty) (${DUALGATE_BIN#"$REPO"/})"
  [ -z "${BEFORE_BIN:-}" ] || echo "before: $BEFORE_BIN"
  echo "peers: $PEERS; tests: $TESTS; reps: $REPS; wrk: $WRK_SECONDS s, pace $PACE_MS ms; listings a pass: $LIST_REPEAT; big file: $BIG_MIB MiB; root: $(stat -f -c %T "$ROOT") ($ROOT_PARENT)"
  [ -z "${BENCH_TLS_DIR:-}" ] || echo "tls: ECDSA P-256 self-signed; OpenSSL $(openssl version | cut -d' ' -f2); $(grep -E '^(MinProtocol|Ciphersuites)' "$BENCH_TLS_DIR/openssl.cnf" | tr '\n' ' ')"
  echo "kernel: $(uname -r); cpus: $(nproc); load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/run.txt"

# A test of the run; for the peer being measured, one it can take (ftp-floor answers logins only).
has() {
  local measured=${peer:-}
  [[ " $TESTS " == *" $1 "* ]] && { [ "${measured%-tls}" != ftp-floor ] || [ "$1" = login ]; }
}
# Servers and clients inherit it: 10,000 idle connections need more descriptors than the default.
if has idle && [ "$(ulimit -n)" -lt $((IDLE_SESSIONS * 2 + 1000)) ]; then
  ulimit -n "$(ulimit -Hn)"
fi

# PERF=1: dualgate's peers are profiled during their big transfers of the last pass; PERF=all:
# every peer's.
profile_start() { # profile_start PEER TEST REP PID
  [ -n "${PERF:-}" ] && { [[ $1 == dualgate* ]] || [ "$PERF" = all ]; } && [ "$3" = "$REPS" ] || return 0
  perf_start "$4" "$1-$2"
}

for rep in $(seq 1 "$REPS"); do
  for peer in $PEERS; do
    if ! pid=$(peer "$peer" start "$PORT" "$ROOT" "$LO" "$HI"); then
      log "!! $peer did not start (pass $rep)"
      failures=$((failures + 1))
      continue
    fi
    current=$peer
    log "== $peer pass $rep (pid $pid), load $(cut -d' ' -f1-3 /proc/loadavg)"
    sleep 1
    ftp=(--port "$PORT" --pid "$pid" --label "$peer")
    tls=()
    [[ $peer != *-tls ]] || tls=(--cafile "$BENCH_TLS_DIR/cert.pem")
    ftp+=("${tls[@]}")
    case "${peer%-tls}" in
      nginx | *-http)
        if has http; then
          profile_start "$peer" get "$rep" "$pid"
          for _ in 1 2 3; do
            record "$peer" get "$rep" "$CLIENT" get "${ftp[@]}" --path /big.bin --size "$((BIG_MIB << 20))"
          done
          perf_stop
          record "$peer" wrk "$rep" "$CLIENT" wrk "${ftp[@]}" --path /small.bin --size 10240 --seconds "$WRK_SECONDS"
          record "$peer" wrk1k "$rep" "$CLIENT" wrk "${ftp[@]}" --path /tiny.bin --size 1024 --seconds "$WRK_SECONDS"
          record "$peer" wrk100k "$rep" "$CLIENT" wrk "${ftp[@]}" --path /mid.bin --size 102400 --seconds "$WRK_SECONDS"
        fi
        if has paced; then
          record "$peer" paced "$rep" "$CLIENT" wrk "${ftp[@]}" --path /small.bin --size 10240 --seconds "$WRK_SECONDS" --pace-ms "$PACE_MS"
          record "$peer" paced1k "$rep" "$CLIENT" wrk "${ftp[@]}" --path /tiny.bin --size 1024 --seconds "$WRK_SECONDS" --pace-ms "$PACE_MS"
        fi
        if has h2 && [ ${#tls[@]} = 0 ]; then
          h2=(--port "$PORT")
          [ "$peer" != nginx ] || h2=(--port "$((PORT + 2))")
          record "$peer" h2 "$rep" "$CLIENT" h2 "${ftp[@]}" "${h2[@]}" --path /small.bin --size 10240 --seconds "$WRK_SECONDS"
          record "$peer" h2_1k "$rep" "$CLIENT" h2 "${ftp[@]}" "${h2[@]}" --path /tiny.bin --size 1024 --seconds "$WRK_SECONDS"
        fi
        if has put; then
          profile_start "$peer" put "$rep" "$pid"
          for i in 1 2 3; do
            record "$peer" put "$rep" "$CLIENT" put "${ftp[@]}" --path "/put-$i.bin" --source "$ROOT/big.bin"
            rm -f "$ROOT/put-$i.bin"
          done
          perf_stop
        fi
        if has handshake && [ ${#tls[@]} -gt 0 ]; then
          record "$peer" handshake "$rep" "$CLIENT" handshake "${ftp[@]}" --seconds "$HS_SECONDS"
        fi
        if has idle && [ ${#tls[@]} = 0 ]; then
          record "$peer" httpidle "$rep" "$CLIENT" httpidle "${ftp[@]}" --path /small.bin --size 10240 --sessions "$IDLE_SESSIONS"
        fi
        ;;
      *)
        if has retr; then
          profile_start "$peer" retr "$rep" "$pid"
          record "$peer" retr "$rep" "$CLIENT" retr "${ftp[@]}" --path /big.bin --size "$((BIG_MIB << 20))"
          perf_stop
        fi
        if has stor; then
          profile_start "$peer" stor "$rep" "$pid"
          record "$peer" stor "$rep" "$CLIENT" stor "${ftp[@]}" --path "/up-$peer.bin" --source "$ROOT/big.bin"
          perf_stop
          rm -f "$ROOT/up-$peer.bin"
        fi
        if has handshake && [ ${#tls[@]} -gt 0 ]; then
          record "$peer" handshake "$rep" "$CLIENT" handshake "${ftp[@]}" --ftp --seconds "$HS_SECONDS"
        fi
        if has list; then
          for cmd in LIST MLSD NLST; do
            [ "${peer%-tls}/$cmd" != vsftpd/MLSD ] || continue # vsftpd 3.0 has no MLSD
            record "$peer" "${cmd,,}" "$rep" "$CLIENT" list "${ftp[@]}" --path /dir10k --cmd "$cmd" --entries 10000 --repeat "$LIST_REPEAT"
          done
        fi
        if [ ${#tls[@]} -gt 0 ]; then
          if has conc || has login || has idle; then log "$peer: conc, login and idle skipped (bench/ftpload has no TLS)"; fi
        else
          if has conc; then
            record "$peer" conc "$rep" "$FTPLOAD_BIN" conc --addr "127.0.0.1:$PORT" --user "$FTP_USER" --password "$FTP_PASS" \
              --clients "$CLIENTS" --seconds "$CONC_SECONDS" --pid "$pid" --label "$peer"
            sleep 2
          fi
          if has login; then
            record "$peer" login "$rep" "$FTPLOAD_BIN" login --addr "127.0.0.1:$PORT" --user "$FTP_USER" --password "$FTP_PASS" \
              --clients 32 --seconds "$LOGIN_SECONDS" --pid "$pid" --label "$peer"
          fi
          if has idle; then
            record "$peer" idle "$rep" "$CLIENT" idle "${ftp[@]}" --sessions "$IDLE_SESSIONS"
          fi
        fi
        ;;
    esac
    peer "$peer" stop
    current=""
    sleep 2
  done
done

echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/run.txt"
# Ratios: dualgate against each other peer of its protocol, and against the earlier build.
pairs=()
for peer in $PEERS; do
  t=${peer#"${peer%-tls}"} # "-tls" or ""
  case "${peer%-tls}" in
    dualgate | dualgate-http) ;;
    dualgate-before) pairs+=("dualgate$t:$peer") ;;
    dualgate-before-http) pairs+=("dualgate-http$t:$peer") ;;
    nginx) pairs+=("dualgate-http$t:$peer") ;;
    *) pairs+=("dualgate$t:$peer") ;;
  esac
done
python3 "$CLIENT" summary "$RESULTS" "${pairs[@]}" >"$OUT/summary.md"
cat "$OUT/summary.md"
log "results: $OUT/summary.md ($failures failed measurements)"
[ "$failures" = 0 ]
