#!/usr/bin/env bash
# Scale-out test: two dualgate processes on ONE bucket behind a TCP load balancer.
#
#   tests/backends/scaleout.sh
#
# Starts an S3 server (tests/backends/s3.sh, moto), two gateways A and B on 127.0.0.1
# (own FTP/HTTP/admin ports, disjoint passive ranges, the same storage section and
# prefix, the same users, ftp.public_address 127.0.0.2, PROXY protocol trusted from
# 127.0.0.0/8) and HAProxy in TCP mode on 127.0.0.2:
#   FTP control  127.0.0.2:FTP      -> A and B, roundrobin, send-proxy-v2
#   passive A    127.0.0.2:RANGE_A  -> A only (same port), send-proxy-v2
#   passive B    127.0.0.2:RANGE_B  -> B only (same port), send-proxy-v2
#   HTTP         127.0.0.2:HTTP     -> A and B, roundrobin, send-proxy-v2
# then runs scaleout_client.py: concurrent clients each upload a random file over FTP,
# read it back over HTTP and FTP (SHA-256), list, delete and check it is gone, and the
# split between the instances is shown. The last line is `N passed, M failed`; the exit
# status is non-zero on any failure. Everything listens on loopback only and is stopped
# on exit (by recorded PIDs).
#
# Installs what is missing: haproxy and curl (apt-get; needs root), moto (through s3.sh,
# or its own moto_server when s3.sh is absent).
#
# Environment:
#   SCALEOUT_CLIENTS       concurrent clients (default 200)
#   SCALEOUT_MIN_SIZE, SCALEOUT_MAX_SIZE  file sizes in bytes (default 1024, 4194304)
#   SCALEOUT_PASSIVE       ports in each instance's passive range (default: half the clients,
#                          at least 10). A session holds its port from PASV until the gateway
#                          accepts the data connection, which on S3 comes after the store's
#                          first answer: fewer ports than sessions at once can mean `425`.
#   SCALEOUT_DEADLINE      seconds the clients may take in all (default 150)
#   SCALEOUT_BIN           dualgate binary to use (default: cargo build --profile quick-release, then
#                          target/quick-release/dualgate)
#   SCALEOUT_KEEP=1        keep the work directory (configs, logs) even on success
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

CLIENTS=${SCALEOUT_CLIENTS:-200}
MIN_SIZE=${SCALEOUT_MIN_SIZE:-1024}
MAX_SIZE=${SCALEOUT_MAX_SIZE:-4194304}
PASSIVE=${SCALEOUT_PASSIVE:-$(((CLIENTS + 1) / 2 > 10 ? (CLIENTS + 1) / 2 : 10))}
DEADLINE=${SCALEOUT_DEADLINE:-150}
PUBLIC=127.0.0.2 # HAProxy's address, advertised in PASV replies
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dualgate-scaleout.XXXXXX")
S3_STATE="$WORK/backends" # s3.sh's state directory: our own server, never another run's
KEEP_NOTED=0 CLIENT_PID='' PIDS_HAPROXY='' PID_A='' PID_B='' OWN_MOTO_PID='' S3_STARTED=0 STATUS=1

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  set +e
  stop_pid "$CLIENT_PID" scaleout_client.py
  stop_pid "$PIDS_HAPROXY" "$WORK/haproxy.cfg"
  stop_pid "$PID_A" "$WORK/a.yaml"
  stop_pid "$PID_B" "$WORK/b.yaml"
  stop_pid "$OWN_MOTO_PID" moto
  if [ "$S3_STARTED" = 1 ]; then
    BACKENDS_STATE=$S3_STATE "$BACKENDS_HERE/s3.sh" stop >>"$WORK/s3.log" 2>&1
  fi
  if [ "$STATUS" = 0 ] && [ "${SCALEOUT_KEEP:-0}" != 1 ]; then
    rm -rf "$WORK"
  elif [ "$KEEP_NOTED" = 0 ]; then
    log "configs and logs kept in $WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools ---------------------------------------------------------------------------
need_packages=()
command -v haproxy >/dev/null 2>&1 || need_packages+=(haproxy)
command -v curl >/dev/null 2>&1 || need_packages+=(curl)
if [ "${#need_packages[@]}" -gt 0 ]; then
  log "installing ${need_packages[*]} (apt-get)"
  SUDO=()
  [ "$(id -u)" = 0 ] || SUDO=(sudo -n)
  { timeout 300 "${SUDO[@]}" apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive timeout 600 "${SUDO[@]}" apt-get install -y -q "${need_packages[@]}"; } \
    >"$WORK/apt.log" 2>&1 || { tail -n 20 "$WORK/apt.log" >&2; die "could not install ${need_packages[*]}"; }
fi

BIN=$(dualgate_binary "${SCALEOUT_BIN:-}" "$WORK")
[ -x "$BIN" ] || die "no dualgate binary at $BIN"

# --- the S3 store --------------------------------------------------------------------
if [ -x "$BACKENDS_HERE/s3.sh" ]; then
  S3_STARTED=1
  BACKENDS_STATE=$S3_STATE S3_SERVER=moto "$BACKENDS_HERE/s3.sh" start >"$WORK/storage.yaml" 2>"$WORK/s3.log" ||
    { cat "$WORK/s3.log" >&2; die "tests/backends/s3.sh start failed"; }
else
  MOTO=$(command -v moto_server || true)
  if [ -z "$MOTO" ]; then
    venv="$TEST_CACHE/moto-venv"
    if [ ! -x "$venv/bin/moto_server" ]; then
      log "installing moto[server] into $venv"
      mkdir -p "$TEST_CACHE"
      { python3 -m venv "$venv" && timeout 900 "$venv/bin/pip" install -q 'moto[server]'; } >"$WORK/pip.log" 2>&1 ||
        { tail -n 20 "$WORK/pip.log" >&2; die "installing moto failed"; }
    fi
    MOTO="$venv/bin/moto_server"
  fi
  S3_PORT=$(free_port)
  setsid "$MOTO" -H 127.0.0.1 -p "$S3_PORT" >"$WORK/moto.log" 2>&1 </dev/null &
  OWN_MOTO_PID=$!
  wait_http "http://127.0.0.1:$S3_PORT/" 60 "$OWN_MOTO_PID" || die "moto did not start"
  curl -sf --max-time 20 -X PUT "http://127.0.0.1:$S3_PORT/dualgate" >/dev/null || die "creating the bucket failed"
  cat >"$WORK/storage.yaml" <<EOF
storage:
  kind: s3
  endpoint: "http://127.0.0.1:$S3_PORT"
  region: us-east-1
  bucket: dualgate
  access_key_id: scaleout
  secret_access_key: $(random_hex 20)
  path_style: true
EOF
fi
grep -q '^storage:' "$WORK/storage.yaml" || die "no storage: fragment from the S3 server"
PREFIX="scaleout-$(random_hex 4)/" # the same on both instances
printf '  prefix: "%s"\n' "$PREFIX" >>"$WORK/storage.yaml"

# --- ports ---------------------------------------------------------------------------
# Two adjacent free blocks of PASSIVE ports below the ephemeral range (so no outgoing
# connection takes one meanwhile), free on 127.0.0.1 (the gateways) and 127.0.0.2 (HAProxy).
read -r PASV_A_LO PASV_B_LO < <(python3 - "$PASSIVE" <<'PY'
import socket, sys
n = int(sys.argv[1])
def free(port):
    for host in ("127.0.0.1", "127.0.0.2"):
        s = socket.socket()
        # as the gateways and HAProxy bind: a TIME_WAIT left by an earlier run is no obstacle
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True
with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    eph = int(f.read().split()[0])
# from 31000 up to the ephemeral range, else from 20000
for start, end in ((31000, eph), (20000, min(31000, eph))):
    base = start
    while base + 2 * n <= end:
        bad = next((p for p in range(base, base + 2 * n) if not free(p)), None)
        if bad is None:
            print(base, base + n)
            sys.exit(0)
        base = bad + 1
sys.exit("no free block of %d ports" % (2 * n))
PY
) || die "no two free passive ranges of $PASSIVE ports"
PASV_A_HI=$((PASV_A_LO + PASSIVE - 1))
PASV_B_HI=$((PASV_B_LO + PASSIVE - 1))

free_port_on() { # free_port_on ADDRESS
  python3 -c 'import socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0))
print(s.getsockname()[1])
s.close()' "$1"
}
FTP_A=$(free_port) HTTP_A=$(free_port) ADMIN_A=$(free_port)
FTP_B=$(free_port) HTTP_B=$(free_port) ADMIN_B=$(free_port)
LB_FTP=$(free_port_on "$PUBLIC") LB_HTTP=$(free_port_on "$PUBLIC")

# --- the gateways --------------------------------------------------------------------
USER_NAME=scale
PASSWORD=$(random_hex 12)
HASH=$(printf '%s\n' "$PASSWORD" | "$BIN" hash-password) || die "dualgate hash-password failed"

gateway_config() { # gateway_config FTP HTTP ADMIN PASV_LO PASV_HI
  cat <<EOF
ftp:
  listen: "127.0.0.1:$1"
  passive_ports: "$4-$5"
  passive_ports_per_address: 0   # every client arrives as 127.0.0.1 (the PROXY header's)
  public_address: $PUBLIC
http:
  listen: "127.0.0.1:$2"
admin:
  listen: "127.0.0.1:$3"
proxy_protocol:
  trusted_networks: ["127.0.0.0/8"]
users:
  - name: $USER_NAME
    password_hash: "$HASH"
    home: /$USER_NAME
    permissions: [read, write, delete, mkdir, rename]
limits:
  max_connections: 4000
  max_connections_per_address: 4000   # as above: one client address for all
shutdown:
  drain_timeout: 2s
EOF
  cat "$WORK/storage.yaml"
}
gateway_config "$FTP_A" "$HTTP_A" "$ADMIN_A" "$PASV_A_LO" "$PASV_A_HI" >"$WORK/a.yaml"
gateway_config "$FTP_B" "$HTTP_B" "$ADMIN_B" "$PASV_B_LO" "$PASV_B_HI" >"$WORK/b.yaml"
for cfg in a b; do
  "$BIN" check-config -c "$WORK/$cfg.yaml" >"$WORK/check-$cfg.log" 2>&1 ||
    { cat "$WORK/check-$cfg.log" >&2; die "$cfg.yaml does not pass check-config"; }
done

# Only our config counts: a DUALGATE_* variable of the caller must not override it.
CLEAN_ENV=()
while IFS= read -r v; do CLEAN_ENV+=(-u "$v"); done < <(compgen -e | grep '^DUALGATE_' || true)
start_gateway() { # start_gateway NAME : sets PID_<NAME>
  setsid env "${CLEAN_ENV[@]}" DUALGATE_LOG_LEVEL=info "$BIN" serve -c "$WORK/$1.yaml" \
    >"$WORK/$1.log" 2>&1 </dev/null &
  printf -v "PID_${1^^}" '%s' "$!"
}
start_gateway a
start_gateway b

wait_ready "$ADMIN_A" "$PID_A" "$WORK/a.log" a 60
wait_ready "$ADMIN_B" "$PID_B" "$WORK/b.log" b 60

# --- HAProxy -------------------------------------------------------------------------
cat >"$WORK/haproxy.cfg" <<EOF
global
    maxconn 4000
    stats socket $WORK/haproxy.sock mode 600 level user
    log stdout format raw local0 notice
defaults
    mode tcp
    log global
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    retries 3
    option redispatch 1
    option httpchk
    http-check send meth GET uri /readyz
    default-server inter 1s fall 3 rise 2
frontend ftp_control
    bind $PUBLIC:$LB_FTP
    default_backend ftp_control
backend ftp_control
    balance roundrobin
    server a 127.0.0.1:$FTP_A send-proxy-v2 check port $ADMIN_A
    server b 127.0.0.1:$FTP_B send-proxy-v2 check port $ADMIN_B
frontend ftp_data_a
    bind $PUBLIC:$PASV_A_LO-$PASV_A_HI
    default_backend ftp_data_a
backend ftp_data_a
    server a 127.0.0.1 send-proxy-v2 check port $ADMIN_A
frontend ftp_data_b
    bind $PUBLIC:$PASV_B_LO-$PASV_B_HI
    default_backend ftp_data_b
backend ftp_data_b
    server b 127.0.0.1 send-proxy-v2 check port $ADMIN_B
frontend http
    bind $PUBLIC:$LB_HTTP
    default_backend http
backend http
    balance roundrobin
    server a 127.0.0.1:$HTTP_A send-proxy-v2 check port $ADMIN_A
    server b 127.0.0.1:$HTTP_B send-proxy-v2 check port $ADMIN_B
EOF
haproxy -c -f "$WORK/haproxy.cfg" >"$WORK/haproxy-check.log" 2>&1 ||
  { cat "$WORK/haproxy-check.log" >&2; die "haproxy rejects its config"; }
setsid haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 </dev/null &
PIDS_HAPROXY=$!
wait_http "http://$PUBLIC:$LB_HTTP/" 30 "$PIDS_HAPROXY" || { cat "$WORK/haproxy.log" >&2; die "haproxy did not start"; }

log "S3 prefix $PREFIX; A: ftp $FTP_A http $HTTP_A admin $ADMIN_A passive $PASV_A_LO-$PASV_A_HI (pid $PID_A);" \
  "B: ftp $FTP_B http $HTTP_B admin $ADMIN_B passive $PASV_B_LO-$PASV_B_HI (pid $PID_B);" \
  "haproxy $PUBLIC ftp $LB_FTP http $LB_HTTP (pid $PIDS_HAPROXY); work $WORK"

# --- the clients ---------------------------------------------------------------------
# In the background, so that INT/TERM reach the trap at once (the client has its own
# deadline; timeout is the backstop).
client_status=0
SCALEOUT_PASSWORD=$PASSWORD timeout -k 5 $((DEADLINE + 30)) python3 "$BACKENDS_HERE/scaleout_client.py" \
  --ftp "$PUBLIC:$LB_FTP" --http "$PUBLIC:$LB_HTTP" --public-address "$PUBLIC" \
  --instance "A:$PASV_A_LO-$PASV_A_HI:127.0.0.1:$ADMIN_A" \
  --instance "B:$PASV_B_LO-$PASV_B_HI:127.0.0.1:$ADMIN_B" \
  --haproxy-socket "$WORK/haproxy.sock" --log "A:$WORK/a.log" --log "B:$WORK/b.log" --user "$USER_NAME" --clients "$CLIENTS" \
  --min-size "$MIN_SIZE" --max-size "$MAX_SIZE" --deadline "$DEADLINE" \
  >"$WORK/client.out" &
CLIENT_PID=$!
wait "$CLIENT_PID" || client_status=$?
CLIENT_PID=''

# --- after ---------------------------------------------------------------------------
alive_status=0
for n in a b; do
  pid_var="PID_${n^^}"
  if ! kill -0 "${!pid_var}" 2>/dev/null; then
    echo "gateway $n died during the run; the end of its log:"
    tail -n 20 "$WORK/$n.log" | sed 's/^/  | /'
    alive_status=1
  fi
  problems=$(grep -cE ' (WARN|ERROR) |panicked' "$WORK/$n.log" || true)
  if [ "$problems" -gt 0 ]; then
    echo "gateway $n logged $problems warnings/errors (the first 10):"
    grep -E ' (WARN|ERROR) |panicked' "$WORK/$n.log" | head -n 10 | sed 's/^/  | /'
  fi
done
kill -0 "$PIDS_HAPROXY" 2>/dev/null || { echo "haproxy died during the run"; alive_status=1; }
if [ "$client_status" = 0 ] && [ "$alive_status" = 0 ]; then STATUS=0; fi
if [ "$STATUS" != 0 ] || [ "${SCALEOUT_KEEP:-0}" = 1 ]; then
  echo "configs and logs kept in $WORK"
  KEEP_NOTED=1
fi
# The client's table, ending with its `N passed, M failed`: the last line of all.
if [ -s "$WORK/client.out" ]; then
  cat "$WORK/client.out"
else
  echo "the client printed nothing (status $client_status)"
  echo "0 passed, $CLIENTS failed"
fi
exit "$STATUS"
