#!/usr/bin/env bash
# Fault-injection campaign of the S3 and upstream FTP back-ends: what FTP and HTTP clients
# see, and what the store holds, when the network between dualgate and its object store (or
# its upstream FTP server) misbehaves.
#
#   tests/backends/faults.sh                          # S3 (moto), rounds r01..r13
#   FAULTS_STORE=vsftpd tests/backends/faults.sh      # an upstream FTP server, rounds u01..u12
#   FAULTS_STORE=pure-ftpd tests/backends/faults.sh
#   FAULTS_STORE=vsftpd-ftps tests/backends/faults.sh # vsftpd with explicit FTPS, rounds f01..f12
#
# Upstream FTP (FAULTS_STORE=vsftpd or pure-ftpd, plain FTP, started by upstream_ftp.sh):
# the fault proxy runs with --ftp-passive in front of the server's control port and rewrites
# its 227/229 replies, so every data connection goes through a one-shot port of the proxy
# too; each round breaks control connections, data connections or both. The gateway's
# storage is `kind: upstream_ftp` (root /faults-RUN/ROUND on the server, command_timeout 6s,
# max_connections 16); the checks read the server's disk directly: every file is one
# version the campaign wrote (no half file under a real name; temporary
# `.dualgate-upload-*` files are not real names), no false success (an upload answered
# 226/201/204 is on disk with the SHA-256 of the bytes sent), renames and deletes did what
# they answered, temporary files are gone within 15 s or the gateway reported them in its
# log, and a normal STOR+RETR+LIST works afterwards through the same gateway process (the
# pool recovered without a restart). The mix also deletes (DELE, DELETE) on every store.
# On an upstream FTP server each round runs the client's mix three times over (FAULTS_SCALE=3,
# each pass on its own names): control connections are pooled, so one pass of the mix breaks
# only about 350 connections over the 12 rounds, short of the campaign's 500 faults (two
# passes: 591 and 656).
#
# FTPS upstream (FAULTS_STORE=vsftpd-ftps: vsftpd with explicit FTPS required on control and
# data connections and require_ssl_reuse=YES): the proxy cannot read or rewrite the
# encrypted PASV/EPSV replies. Instead each round's proxy listens on a loopback address of its
# own (127.0.0.11, .12, ...) on a control port and on every port of the server's passive
# range (--data-ports), forwarding each to the same port of the server on 127.0.0.1; the
# gateway's upstream `host` is that address (the certificate is checked for 127.0.0.1:
# `tls_server_name`), and its data connections go where EPSV says, on the control
# connection's address: through the proxy. Faults are byte counts, so they hit TLS records
# (handshakes included) rather than FTP lines; the control thresholds are larger than the
# plain rounds' to get past the handshake. Passing the check (4) after the faults also shows
# the data connections still resume the control connection's TLS session (vsftpd refuses
# them otherwise).
#
# S3:
# Starts moto once (tests/backends/s3.sh, its own state directory, no fault). Then, for
# each round: a fault proxy (faultproxy.py, its own port and stats file) in front of moto
# and a dualgate gateway whose storage endpoint is that port (a unique storage prefix,
# part_size 5MiB, upload_concurrency 2, list_page_size 300, request_timeout 4s,
# io_timeout 6s, max_retries 3, stale_uploads_after 20s, data_timeout 6s). The gateway
# starts behind a pass-through proxy; the fault proxy takes its port for the mix and a
# pass-through one again for the checks, so the
# same gateway process sees clean store -> faults -> clean store. faults_client.py runs
# the mix (FTP and HTTP/WebDAV: uploads 1 KiB-20 MiB by STOR, PUT and STOU, REST+STOR,
# APPE, downloads, ranged and multi-range GETs, LIST/MLSD/PROPFIND/GET (JSON, HTML) of a
# directory of 1,200 seeded keys, RNFR/RNTO and MOVE) and then checks, directly on moto:
# no truncated or mixed object, no false success, no pending multipart upload (waiting up
# to 90 s: an upload orphaned by a lost answer is the sweeper's, which aborts it once it
# has seen it silent for 20 s; the report also shows what was pending at the first
# look), and a
# normal STOR+RETR+LIST through the gateway after the faults.
# Rounds: resets after N bytes downstream and upstream (on every 2nd connection, on every
# one, on the first 150; after 100 bytes of an answer, so the store did the work but the
# gateway never hears it), stalls, per-chunk delays, slow connects, dropped connections,
# and the store killed mid-run and brought back. Rounds run FAULTS_PARALLEL at a time;
# the whole campaign takes about 4 minutes on 2 cores.
#
# Output: a markdown table (one row per round), the totals, and as the very last line
# `N passed, M failed`. Exit status non-zero on any violation. Everything listens on
# 127.0.0.1; what the script starts is stopped on exit, by recorded PIDs.
#
# Environment:
#   FAULTS_STORE       moto (default), vsftpd, pure-ftpd or vsftpd-ftps
#   FAULTS_SCALE       passes of the client's mix per round (default 3 on an upstream FTP
#                      server, 1 on moto); each pass on its own names, so N times the
#                      operations and about N times the faults
#   FAULTS_ROUNDS      comma-separated round names to run (default: all of the store's)
#   FAULTS_PARALLEL    rounds run at the same time (default 2; each has its own proxy,
#                      gateway and prefix, all on the one moto)
#   FAULTS_BIN         dualgate binary (default: cargo build --profile quick-release, target/quick-release/dualgate)
#   FAULTS_LOG_LEVEL   the gateways' log filter (default info,dualgate=debug)
#   FAULTS_MIN         faults the whole campaign must inject (default 500)
#   FAULTS_RESULTS     also write the report to this file
#   FAULTS_KEEP=1      keep the work directory (configs, logs, JSON) even on success
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

CLIENT="$BACKENDS_HERE/faults_client.py"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dualgate-faults.XXXXXX")
export BACKENDS_STATE="$WORK/backends" # s3.sh's state: our own moto, never another run's
RUN=$(random_hex 4)
STORE=${FAULTS_STORE:-moto}
FTP_TLS=none
case "$STORE" in
  moto) STORE_KIND=s3 ;;
  vsftpd | pure-ftpd) STORE_KIND=ftp ;;
  vsftpd-ftps) STORE_KIND=ftp FTP_TLS=explicit ;;
  *) die "FAULTS_STORE: moto, vsftpd, pure-ftpd or vsftpd-ftps (not $STORE)" ;;
esac
SCALE=${FAULTS_SCALE:-$([ "$STORE_KIND" = ftp ] && echo 3 || echo 1)}
[[ "$SCALE" =~ ^[1-9]$ ]] || die "FAULTS_SCALE: 1 to 9 (not $SCALE)"
CLIENT_TIMEOUT=$((300 * SCALE)) # the run's and the check's limit, seconds
S3_STARTED=0 FTP_STARTED=0 SEED_PID='' STATUS=1
ROUND_PIDS=()
STARTED_AT=$SECONDS

# Rounds: name | fault mode (shown) | faultproxy arguments | kind: fault (resets, stalls or
# drops, counted in the stats), delay (nothing counted) or outage (the proxy is killed).
ROUNDS=(
  "r01|reset downstream after 64 KiB, every 2nd connection|--reset-after-bytes 65536 --direction down --every-nth-connection 2|fault"
  "r02|reset downstream after 1 KiB, every 2nd connection|--reset-after-bytes 1024 --direction down --every-nth-connection 2|fault"
  "r03|reset downstream after 4 MiB, every connection|--reset-after-bytes 4194304 --direction down|fault"
  "r04|reset upstream after 512 B, every 2nd connection|--reset-after-bytes 512 --direction up --every-nth-connection 2|fault"
  "r05|reset upstream after 2 MiB, every 2nd connection|--reset-after-bytes 2097152 --direction up --every-nth-connection 2|fault"
  "r06|stall after 8 KiB, every 4th connection|--stall-after-bytes 8192 --every-nth-connection 4|fault"
  "r07|delay 15 ms per chunk|--delay-ms 15|delay"
  "r08|slow connect 1.2 s|--delay-connect-ms 1200|delay"
  "r09|drop every 2nd connection|--drop-every 2|fault"
  "r10|drop every 3rd connection|--drop-every 3|fault"
  "r11|store killed 6 s mid-run, then back||outage"
  "r12|reset both ways after 16 KiB, the first 150 connections|--reset-after-bytes 16384 --faulty-connections 150|fault"
  "r13|reset downstream after 100 B (answer lost after the work), every 3rd connection|--reset-after-bytes 100 --direction down --every-nth-connection 3|fault"
)
# Upstream FTP rounds: control connections (pooled, so one carries many commands: a reset
# after N bytes lands on whichever command is under way, a STOR's 226 or an RNTO's 250
# included), data connections (STOR, RETR, LIST/MLSD), or both.
FTP_ROUNDS=(
  "u01|control: reset after 1 KiB of replies, every connection|--faults-on control --reset-after-bytes 1024 --direction down|fault"
  "u02|control: reset after 700 B of commands, every connection|--faults-on control --reset-after-bytes 700 --direction up|fault"
  "u03|control: stall after 1.5 KiB, every 3rd connection|--faults-on control --stall-after-bytes 1536 --every-nth-connection 3|fault"
  "u04|control: drop every 3rd connection|--faults-on control --drop-every 3|fault"
  "u05|data: reset downloads after 64 KiB, every 2nd connection|--faults-on data --reset-after-bytes 65536 --direction down --every-nth-connection 2|fault"
  "u06|data: reset uploads after 1 MiB, every 2nd connection|--faults-on data --reset-after-bytes 1048576 --direction up --every-nth-connection 2|fault"
  "u07|data: stall after 8 KiB, every 4th connection|--faults-on data --stall-after-bytes 8192 --every-nth-connection 4|fault"
  "u08|data: drop every 3rd connection|--faults-on data --drop-every 3|fault"
  "u09|data: reset after 100 B, every 3rd connection|--faults-on data --reset-after-bytes 100 --every-nth-connection 3|fault"
  "u10|both: reset after 16 KiB, the first 150 connections|--reset-after-bytes 16384 --faulty-connections 150|fault"
  "u11|both: delay 15 ms per chunk|--delay-ms 15|delay"
  "u12|upstream gone 6 s mid-run, then back||outage"
)
# The same on an FTPS upstream. The proxy sees TLS records, not lines: a control connection
# carries about 3 KiB down (the greeting, the server's TLS handshake with its certificate,
# session tickets, the login's replies) and 1 KiB up before its first command, and each data
# connection begins with a TLS handshake (resuming the control session).
FTPS_ROUNDS=(
  "f01|control: reset after 6 KiB of replies, every connection|--faults-on control --reset-after-bytes 6144 --direction down|fault"
  "f02|control: reset after 2 KiB of commands, every connection|--faults-on control --reset-after-bytes 2048 --direction up|fault"
  "f03|control: stall after 5 KiB, every 3rd connection|--faults-on control --stall-after-bytes 5120 --every-nth-connection 3|fault"
  "f04|control: drop every 3rd connection (before the TLS handshake)|--faults-on control --drop-every 3|fault"
  "f05|data: reset downloads after 64 KiB, every 2nd connection|--faults-on data --reset-after-bytes 65536 --direction down --every-nth-connection 2|fault"
  "f06|data: reset uploads after 1 MiB, every 2nd connection|--faults-on data --reset-after-bytes 1048576 --direction up --every-nth-connection 2|fault"
  "f07|data: stall after 8 KiB, every 4th connection|--faults-on data --stall-after-bytes 8192 --every-nth-connection 4|fault"
  "f08|data: drop every 3rd connection|--faults-on data --drop-every 3|fault"
  "f09|data: reset after 100 B (in the TLS handshake), every 3rd connection|--faults-on data --reset-after-bytes 100 --every-nth-connection 3|fault"
  "f10|both: reset after 16 KiB, the first 150 connections|--reset-after-bytes 16384 --faulty-connections 150|fault"
  "f11|both: delay 15 ms per chunk|--delay-ms 15|delay"
  "f12|upstream gone 6 s mid-run, then back||outage"
)
if [ "$FTP_TLS" != none ]; then
  ROUNDS=("${FTPS_ROUNDS[@]}")
elif [ "$STORE_KIND" = ftp ]; then
  ROUNDS=("${FTP_ROUNDS[@]}")
fi

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  set +e
  local pid
  for pid in "${ROUND_PIDS[@]}"; do # each round stops its own client, gateway and proxy
    if owns_pid "$pid" faults.sh; then kill -TERM "$pid" 2>/dev/null; fi
  done
  for pid in "${ROUND_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  stop_pid "$SEED_PID" faults_client.py
  if [ "$S3_STARTED" = 1 ]; then
    "$BACKENDS_HERE/s3.sh" stop >>"$WORK/s3.log" 2>&1
  fi
  if [ "$FTP_STARTED" = 1 ]; then
    "$BACKENDS_HERE/upstream_ftp.sh" stop >>"$WORK/upstream.log" 2>&1
  fi
  if [ "$STATUS" = 0 ] && [ "${FAULTS_KEEP:-0}" != 1 ]; then
    rm -rf "$WORK"
  elif [ "${cleanup_quiet:-0}" != 1 ]; then
    log "configs, logs and JSON kept in $WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'log "stopped by a failing command (line $LINENO, status $?): $BASH_COMMAND"' ERR
set -E

# --- the binary, the store, the seed --------------------------------------------------
BIN=$(dualgate_binary "${FAULTS_BIN:-}" "$WORK")
[ -x "$BIN" ] || die "no dualgate binary at $BIN"
PROXY_MODE=()
if [ "$STORE_KIND" = s3 ]; then
  python3 -c 'import boto3' 2>/dev/null ||
    die "python3 cannot import boto3 (the direct checks need it; pip install boto3)"
  S3_STARTED=1
  env -u S3_FAULT S3_SERVER=moto "$BACKENDS_HERE/s3.sh" start >"$WORK/storage.yaml" 2>"$WORK/s3.log" ||
    { cat "$WORK/s3.log" >&2; die "tests/backends/s3.sh start failed"; }
  eval "$("$BACKENDS_HERE/s3.sh" env)"
  export S3_DIRECT_ENDPOINT S3_BUCKET S3_REGION S3_ACCESS_KEY S3_SECRET_KEY
  [ -n "${S3_PORT:-}" ] || die "no S3 port in the state of s3.sh"
  STORE_PORT=$S3_PORT
  STORE_WHERE="moto on 127.0.0.1:$S3_PORT"
  UPLOAD_WAIT=90 # the sweeper's stale_uploads_after (20 s) and its pass
else
  FTP_STARTED=1
  UPSTREAM_FTP_SERVER=${STORE%-ftps} UPSTREAM_FTP_TLS=$FTP_TLS "$BACKENDS_HERE/upstream_ftp.sh" start \
    >"$WORK/storage.yaml" 2>"$WORK/upstream.log" ||
    { cat "$WORK/upstream.log" >&2; die "tests/backends/upstream_ftp.sh start failed"; }
  eval "$("$BACKENDS_HERE/upstream_ftp.sh" env)"
  export UPSTREAM_FTP_ROOT UPSTREAM_FTP_OWNER
  STORE_PORT=$UPSTREAM_FTP_PORT
  STORE_WHERE="$STORE on 127.0.0.1:$UPSTREAM_FTP_PORT"
  UPLOAD_WAIT=15 # temporary files of failed uploads are deleted in the background
  if [ "$FTP_TLS" = none ]; then
    PROXY_MODE=(--ftp-passive)
  else # the server's passive range, port for port (see the header)
    PROXY_MODE=(--data-ports "$UPSTREAM_FTP_PASV-$((UPSTREAM_FTP_PASV + 199))")
  fi
fi

selected=()
for spec in "${ROUNDS[@]}"; do
  name=${spec%%|*}
  if [ -z "${FAULTS_ROUNDS:-}" ] || [[ ",$FAULTS_ROUNDS," == *",$name,"* ]]; then selected+=("$spec"); fi
done
[ "${#selected[@]}" -gt 0 ] || die "FAULTS_ROUNDS=$FAULTS_ROUNDS names no round"
names=()
for spec in "${selected[@]}"; do names+=("${spec%%|*}"); done
ROUND_LIST=$(IFS=,; echo "${names[*]}")

# Every round's directory of 1,200 keys and its other objects, written directly on moto in
# the background while the first rounds run (each round waits for its own).
setsid python3 "$CLIENT" seed --store "$STORE_KIND" --work "$WORK" --run "$RUN" --rounds "$ROUND_LIST" --passes "$SCALE" \
  >"$WORK/seed.log" 2>&1 </dev/null &
SEED_PID=$!

USER_NAME=u
export FAULTS_PASSWORD
FAULTS_PASSWORD=$(random_hex 12)
HASH=$(printf '%s\n' "$FAULTS_PASSWORD" | "$BIN" hash-password) || die "dualgate hash-password failed"
CLEAN_ENV=()
while IFS= read -r v; do CLEAN_ENV+=(-u "$v"); done < <(compgen -e | grep '^DUALGATE_' || true)

# --- helpers -------------------------------------------------------------------------
free_block() { # free_block N : the first of N consecutive free ports below the ephemeral
  # range (no outgoing connection takes one of them while a proxy is down between modes)
  python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    eph = int(f.read().split()[0])
for _ in range(500):
    base = random.randrange(20000, eph - n)
    ok = True
    for p in range(base, base + n):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            ok = False
        finally:
            s.close()
        if not ok:
            break
    if ok:
        print(base)
        sys.exit(0)
sys.exit("no free block of %d ports" % n)
PY
}

proxy_start() { # proxy_start PORT OUT [ARGS...] : a proxy to the store on PX_HOST:PORT; sets PX_PID
  local port=$1 out=$2 i listen
  shift 2
  rm -f "$out" "$out.log"
  setsid python3 "$BACKENDS_HERE/faultproxy.py" --listen-host "$PX_HOST" --listen "$port" \
    --target "127.0.0.1:$STORE_PORT" --duration $((600 + 300 * SCALE)) -q "${PROXY_MODE[@]}" "$@" \
    >"$out" 2>"$out.log" </dev/null &
  PX_PID=$!
  for ((i = 0; i < 100; i++)); do
    listen=$(sed -n 's/^LISTEN \([0-9][0-9]*\)$/\1/p' "$out" 2>/dev/null | head -n 1) || true
    [ "$listen" = "$port" ] && return 0
    kill -0 "$PX_PID" 2>/dev/null || break
    sleep 0.1
  done
  sed 's/^/  | /' "$out.log" >&2 || true
  die "the fault proxy did not start on port $port"
}

proxy_stop() {
  stop_pid "$PX_PID" faultproxy.py
  PX_PID=''
}

gateway_start() { # gateway_start RDIR ROUND STORE_PORT : sets GW_PID, GW_CONFIG, GW_FTP, GW_HTTP
  local rdir=$1 rnd=$2 store=$3 pasv admin
  GW_FTP=$(free_block 1) GW_HTTP=$(free_block 1) admin=$(free_block 1)
  pasv=$(free_block 40) || die "no free passive range"
  GW_CONFIG="$rdir/gateway.yaml"
  cat >"$GW_CONFIG" <<EOF
ftp:
  listen: "127.0.0.1:$GW_FTP"
  passive_ports: "$pasv-$((pasv + 39))"
  passive_ports_per_address: 0
http:
  listen: "127.0.0.1:$GW_HTTP"
admin:
  listen: "127.0.0.1:$admin"
users:
  - name: $USER_NAME
    password_hash: "$HASH"
    home: /$USER_NAME
    permissions: [read, write, delete, mkdir, rename]
limits:
  max_connections: 2000
  max_connections_per_address: 2000
  data_timeout: 6s
shutdown:
  drain_timeout: 2s
EOF
  if [ "$STORE_KIND" = ftp ]; then
    # The round's directory on the upstream, given to the server's account.
    install -d -o "${UPSTREAM_FTP_OWNER%%:*}" -g "${UPSTREAM_FTP_OWNER##*:}" \
      "$UPSTREAM_FTP_ROOT/faults-$RUN" "$UPSTREAM_FTP_ROOT/faults-$RUN/$rnd"
    cat >>"$GW_CONFIG" <<EOF
storage:
  kind: upstream_ftp
  host: "$PX_HOST"
  port: $store
  user: "$UPSTREAM_FTP_USER"
  password: "$UPSTREAM_FTP_PASS"
  root: "/faults-$RUN/$rnd"
  tls: $FTP_TLS
  max_connections: 16
  connect_timeout: 5s
  command_timeout: 6s
EOF
    if [ "$FTP_TLS" != none ]; then
      cat >>"$GW_CONFIG" <<EOF
  ca_file: "$UPSTREAM_FTP_DIR/ca.pem"
  tls_server_name: "127.0.0.1"
  data_mode: epsv
EOF
    fi
  else
    cat >>"$GW_CONFIG" <<EOF
storage:
  kind: s3
  endpoint: "http://127.0.0.1:$store"
  region: "$S3_REGION"
  bucket: "$S3_BUCKET"
  access_key_id: "$S3_ACCESS_KEY"
  secret_access_key: "$S3_SECRET_KEY"
  path_style: true
  prefix: "faults-$RUN/$rnd/"
  part_size: 5MiB
  upload_concurrency: 2
  list_page_size: 300
  request_timeout: 4s
  io_timeout: 6s
  max_retries: 3
  stale_uploads_after: 20s
EOF
  fi
  "$BIN" check-config -c "$GW_CONFIG" >"$rdir/check-config.log" 2>&1 ||
    { cat "$rdir/check-config.log" >&2; die "$GW_CONFIG does not pass check-config"; }
  # RUST_LIB_BACKTRACE=0: no backtrace captured for every store error (a panic still has one)
  setsid env "${CLEAN_ENV[@]}" RUST_LIB_BACKTRACE=0 "$BIN" serve -c "$GW_CONFIG" \
    --log-level "${FAULTS_LOG_LEVEL:-info,dualgate=debug}" >"$rdir/gateway.log" 2>&1 </dev/null &
  GW_PID=$!
  wait_ready "$admin" "$GW_PID" "$rdir/gateway.log" "of $rnd" 40
}

client() { # client run|check ROUND MODE LOG [ARGS...] : in the background, so that a TERM
  # ends the round's wait at once (its trap then stops the client, the gateway, the proxy)
  local sub=$1 rnd=$2 mode=$3 out=$4
  shift 4
  timeout -k 5 "$CLIENT_TIMEOUT" python3 "$CLIENT" "$sub" --store "$STORE_KIND" --work "$WORK" --run "$RUN" \
    --round "$rnd" --mode "$mode" --passes "$SCALE" --ftp "$GW_FTP" --http "$GW_HTTP" --user "$USER_NAME" "$@" \
    >"$out" 2>&1 &
  CLIENT_PID=$!
}

client_wait() {
  local status=0
  wait "$CLIENT_PID" || status=$?
  CLIENT_PID=''
  return "$status"
}

# shellcheck disable=SC2317 # run by a round's EXIT trap
round_cleanup() {
  set +e
  stop_pid "$CLIENT_PID" faults_client.py
  stop_pid "$GW_PID" "$GW_CONFIG"
  stop_pid "$PX_PID" faultproxy.py
}

# --- one round, in a subshell of its own ---------------------------------------------
run_round() { # run_round SPEC INDEX
  local spec=$1 rnd mode args kind rdir port cut status=0 fault_args=() check_args=()
  GW_PID='' GW_CONFIG='' PX_PID='' CLIENT_PID='' PX_HOST=127.0.0.1
  # FTPS: the round's own loopback address, where its proxy takes the server's passive ports
  [ "$FTP_TLS" = none ] || PX_HOST=127.0.0.$((11 + $2))
  trap round_cleanup EXIT
  trap 'exit 130' INT TERM
  IFS='|' read -r rnd mode args kind <<<"$spec"
  rdir="$WORK/$rnd"
  mkdir -p "$rdir"
  log "$rnd: $mode"
  # clean store -> faults -> clean store: one gateway process, one proxy port
  port=$(free_block 1)
  proxy_start "$port" "$rdir/proxy-before.out"
  gateway_start "$rdir" "$rnd" "$port"
  proxy_stop
  [ -z "$args" ] || read -r -a fault_args <<<"$args"
  proxy_start "$port" "$rdir/proxy-fault.out" --stats-file "$rdir/fault.stats.json" "${fault_args[@]}"
  if [ "$kind" = outage ]; then
    # The store goes away entirely mid-run: the proxy is killed (its open connections die
    # with it, nothing listens on the port), then a pass-through one comes back.
    client run "$rnd" "$mode" "$rdir/run.log" --spread 14 --deadline $((150 * SCALE))
    sleep 5
    kill -USR1 "$PX_PID" 2>/dev/null || true
    sleep 0.3
    cut=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("active", 0))' \
      "$rdir/fault.stats.json" 2>/dev/null || echo 0)
    if owns_pid "$PX_PID" faultproxy.py; then
      kill -KILL "$PX_PID"
      wait "$PX_PID" 2>/dev/null || true # (and no "Killed" line from the shell)
    fi
    PX_PID=''
    log "$rnd: the store is gone ($cut connections cut); back in 6 s"
    sleep 6
    proxy_start "$port" "$rdir/proxy-back.out"
    log "$rnd: the store is back"
    client_wait || status=$?
    # the outage itself, the connections it cut, and (from the gateway's log) every
    # connection to the store refused while it was gone
    check_args+=(--extra-faults "$((cut + 1))" --count-refused)
  else
    client run "$rnd" "$mode" "$rdir/run.log" --deadline $((150 * SCALE))
    client_wait || status=$?
    proxy_stop
    proxy_start "$port" "$rdir/proxy-after.out"
  fi
  sed 's/^/  /' "$rdir/run.log" >&2
  [ "$status" = 0 ] || log "$rnd: the client's run ended with status $status"
  [ "$kind" = fault ] || check_args+=(--no-counted-faults)
  [ "$FTP_TLS" = none ] || check_args+=(--tls-reuse)
  client check "$rnd" "$mode" "$rdir/check.log" --stats "$rdir/fault.stats.json" --gateway-pid "$GW_PID" \
    --gateway-log "$rdir/gateway.log" --upload-wait "$UPLOAD_WAIT" "${check_args[@]}"
  client_wait || log "$rnd: the check ended with status $?"
  sed 's/^/  /' "$rdir/check.log" >&2
  stop_pid "$GW_PID" "$GW_CONFIG"
  GW_PID=''
  proxy_stop
}

# --- the rounds, FAULTS_PARALLEL at a time ---------------------------------------------
PARALLEL=${FAULTS_PARALLEL:-2}
index=0
for spec in "${selected[@]}"; do
  while :; do
    running=0
    for pid in "${ROUND_PIDS[@]}"; do
      if kill -0 "$pid" 2>/dev/null; then running=$((running + 1)); fi
    done
    ((running < PARALLEL)) && break
    sleep 0.5
  done
  (run_round "$spec" "$index") &
  ROUND_PIDS+=("$!")
  index=$((index + 1))
done
for pid in "${ROUND_PIDS[@]}"; do wait "$pid" || true; done
ROUND_PIDS=()
stop_pid "$SEED_PID" faults_client.py
SEED_PID=''
if [ "$STORE_KIND" = s3 ]; then
  "$BACKENDS_HERE/s3.sh" stop >>"$WORK/s3.log" 2>&1 || true
  S3_STARTED=0
else
  "$BACKENDS_HERE/upstream_ftp.sh" stop >>"$WORK/upstream.log" 2>&1 || true
  FTP_STARTED=0
fi

# --- the report (its last line is the summary: nothing is printed after it) ----------
report_status=0
python3 "$CLIENT" report --work "$WORK" --rounds "$ROUND_LIST" --min-faults "${FAULTS_MIN:-500}" \
  >"$WORK/report.md" || report_status=$?
{
  echo "Campaign $RUN: ${#selected[@]} rounds ($PARALLEL at a time, the mix $([ "$SCALE" = 1 ] && echo once || echo "$SCALE times over")) in" \
    "$((SECONDS - STARTED_AT)) s, $STORE_WHERE, $BIN"
  echo
  cat "$WORK/report.md"
} >"$WORK/report.out"
if [ -n "${FAULTS_RESULTS:-}" ]; then cp "$WORK/report.out" "$FAULTS_RESULTS"; fi
if [ "$report_status" = 0 ] && [ -s "$WORK/report.md" ]; then STATUS=0; fi
if [ "$STATUS" != 0 ] || [ "${FAULTS_KEEP:-0}" = 1 ]; then
  log "configs, logs and JSON kept in $WORK"
fi
cat "$WORK/report.out"
trap - EXIT
cleanup_quiet=1 cleanup
exit "$STATUS"
