# shellcheck shell=bash disable=SC2034 # the variables set here are used by the sourcing scripts
# Helpers of bench/peers/*.sh and the bench scripts (sourced, not run): the benchmark account,
# state directories, starting a server in its own session and stopping its whole process
# tree. Builds on tests/backends/lib.sh (free ports, unpacking conflicting FTP daemons).
#
# Every peer script has the same interface, listens on 127.0.0.1 only and prints the PID
# of the server on stdout:
#   bench/peers/<peer>.sh start PORT ROOT [PASV_LO PASV_HI]
#   bench/peers/<peer>.sh stop
# State (generated configuration, logs, pidfile) is kept in $BENCH_STATE/<peer>.
#
# TLS: with BENCH_TLS=1 a peer script starts its server with TLS (FTPS: explicit AUTH TLS and
# protected data connections; HTTP peers: HTTPS only) on the certificate in $BENCH_TLS_DIR
# (bench_tls_files), and keeps its state in $BENCH_STATE/<peer>-tls. bench/run.sh names such a
# peer <peer>-tls.

PEERS_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../../tests/backends/lib.sh
. "$PEERS_HERE/../../tests/backends/lib.sh"

BENCH_CACHE="${DUALGATE_BENCH_CACHE:-$HOME/.cache/dualgate-bench}"
BENCH_STATE="${BENCH_STATE:-${TMPDIR:-/tmp}/dualgate-bench-state}"
# The system account every FTP peer logs in as (vsftpd and ProFTPD through PAM or
# /etc/shadow, Pure-FTPd as a virtual user mapped to it, the others with their own files).
BENCH_ACCOUNT=dualgate-bench
BENCH_PAM_SERVICE=dualgate-bench-ftp
PASV_LO_DEFAULT=${PASV_LO_DEFAULT:-24000}
PASV_HI_DEFAULT=${PASV_HI_DEFAULT:-24999}

state_dir() { # state_dir PEER : creates and prints the peer's state directory
  mkdir -p "$BENCH_STATE/$1"
  chmod 755 "$BENCH_STATE" "$BENCH_STATE/$1"
  printf '%s\n' "$BENCH_STATE/$1"
}

bench_password() { # the account's password, made once and kept in the cache directory
  local f="$BENCH_CACHE/account.password"
  if [ ! -s "$f" ]; then
    mkdir -p "$BENCH_CACHE"
    (umask 077 && random_hex 12 >"$f")
  fi
  cat "$f"
}

bench_account() { # creates the system account (no shell, no home) with its password
  if ! id "$BENCH_ACCOUNT" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir / --shell /usr/sbin/nologin "$BENCH_ACCOUNT" >&2
  fi
  echo "$BENCH_ACCOUNT:$(bench_password)" | chpasswd -c SHA512
  if [ ! -f "/etc/pam.d/$BENCH_PAM_SERVICE" ]; then
    printf '# PAM service of the FTP servers started by dualgate bench/peers\n@include common-auth\n@include common-account\n' \
      >"/etc/pam.d/$BENCH_PAM_SERVICE"
  fi
}

bench_tls_files() { # makes, unless they are there, $BENCH_TLS_DIR (default $BENCH_STATE/tls) with
  # cert.pem and key.pem, a self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost
  # (valid 2 days), and openssl.cnf, which limits the OpenSSL programs that load it
  # (OPENSSL_CONF: the clients, nginx, vsftpd, Pure-FTPd) to TLS 1.3 and TLS_AES_128_GCM_SHA256;
  # rustls (dualgate) follows the client's choice. Exports BENCH_TLS_DIR.
  export BENCH_TLS_DIR=${BENCH_TLS_DIR:-$BENCH_STATE/tls}
  mkdir -p "$BENCH_TLS_DIR"
  if [ ! -s "$BENCH_TLS_DIR/cert.pem" ] || [ ! -s "$BENCH_TLS_DIR/key.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -keyout "$BENCH_TLS_DIR/key.pem" -out "$BENCH_TLS_DIR/cert.pem" -subj /CN=127.0.0.1 \
      -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
    chmod 600 "$BENCH_TLS_DIR/key.pem"
  fi
  cat >"$BENCH_TLS_DIR/openssl.cnf" <<'CNF'
# The TLS version and cipher suite of the benchmarks' OpenSSL programs (bench/peers/lib.sh).
openssl_conf = bench_conf
[bench_conf]
ssl_conf = bench_ssl
[bench_ssl]
system_default = bench_tls
[bench_tls]
MinProtocol = TLSv1.3
Ciphersuites = TLS_AES_128_GCM_SHA256
CNF
}

tls_name() { # tls_name NAME : NAME, or NAME-tls under BENCH_TLS
  if [ -n "${BENCH_TLS:-}" ]; then echo "$1-tls"; else echo "$1"; fi
}

launch() { # launch PIDFILE LOG CMD... : CMD in its own session (setsid), PID to PIDFILE
  local pidfile=$1 logfile=$2
  shift 2
  setsid "$@" >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

port_free() { # port_free PORT : nothing listens on 127.0.0.1:PORT
  ! python3 -c 'import socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1" 2>/dev/null
}

wait_listen() { # wait_listen PORT PIDFILE : until something accepts on PORT (20 s at most)
  local port=$1 pid deadline=$((SECONDS + 20))
  pid=$(cat "$2")
  while ((SECONDS < deadline)); do
    port_free "$port" || return 0
    kill -0 "$pid" 2>/dev/null || { log "the server (pid $pid) exited"; return 1; }
    sleep 0.1
  done
  log "nothing listens on $port after 20 s"
  return 1
}

tree_pids() { # tree_pids PID : PID and every descendant
  local pid=$1 child
  echo "$pid"
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do tree_pids "$child"; done
}

stop_pidfile() { # stop_pidfile PIDFILE : TERM the recorded process tree, KILL after 5 s
  local pidfile=$1 pid pids i
  [ -s "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  rm -f "$pidfile"
  kill -0 "$pid" 2>/dev/null || return 0
  pids=$(tree_pids "$pid")
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    # shellcheck disable=SC2086
    kill -0 $pids 2>/dev/null || return 0
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
}

peer_main() { # peer_main NAME "$@" : the start/stop dispatch of a peer script (defines start_peer)
  local name
  name=$(tls_name "$1")
  shift
  SD=$(state_dir "$name")
  if [ -n "${BENCH_TLS:-}" ]; then
    bench_tls_files
    export OPENSSL_CONF=$BENCH_TLS_DIR/openssl.cnf
  fi
  case "${1:-}" in
    start)
      [ $# -ge 3 ] || die "usage: $0 start PORT ROOT [PASV_LO PASV_HI]"
      PORT=$2 ROOT=$(realpath "$3") LO=${4:-$PASV_LO_DEFAULT} HI=${5:-$PASV_HI_DEFAULT}
      port_free "$PORT" || die "port $PORT is taken"
      stop_pidfile "$SD/pid"
      start_peer
      wait_listen "$PORT" "$SD/pid" || { tail -n 20 "$SD/server.log" >&2; stop_pidfile "$SD/pid"; exit 1; }
      cat "$SD/pid"
      ;;
    stop) stop_pidfile "$SD/pid" ;;
    *) die "usage: $0 start PORT ROOT [PASV_LO PASV_HI] | stop" ;;
  esac
}

# perf_start PID NAME / perf_stop: a flat CPU profile (perf record, no call graphs) of process
# PID, its descendants and what they fork between the two calls, in $OUT/perf-NAME.txt: the shares of
# each DSO (program, library, kernel), then its 40 heaviest symbols. perf comes from Debian's
# linux-perf, installed on first use.
perf_pid=""
perf_start() {
  command -v perf >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y linux-perf >&2
  # The whole tree: nginx's workers and a forking server's sessions that exist already.
  perf record -q -F 1999 -p "$(tree_pids "$1" | paste -sd,)" -o "$OUT/perf-$2.data" >/dev/null 2>&1 &
  perf_pid=$! perf_name=$2
  sleep 1
}
perf_stop() {
  [ -n "$perf_pid" ] || return 0
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  {
    perf report -i "$OUT/perf-$perf_name.data" --no-children --sort dso --stdio 2>/dev/null |
      awk '!/^#/ && NF && n++ < 10'
    echo
    perf report -i "$OUT/perf-$perf_name.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
      awk '!/^#/ && NF && n++ < 40'
  } >"$OUT/perf-$perf_name.txt"
  rm -f "$OUT/perf-$perf_name.data"
  perf_pid=""
}

failures=0
record() { # record LABEL OP REP COMMAND... : COMMAND's JSON line, with label, op and pass added,
  # appended to $RESULTS; or, when COMMAND fails, a failure record (counted in $failures)
  local label=$1 op=$2 rep=$3 line
  shift 3
  if line=$("$@"); then
    python3 -c 'import json, sys; r = json.loads(sys.argv[1]); r.update(label=sys.argv[2], op=sys.argv[3], rep=int(sys.argv[4])); print(json.dumps(r))' \
      "$line" "$label" "$op" "$rep" >>"$RESULTS"
  else
    log "!! $label $op failed (pass $rep)"
    printf '{"label": "%s", "op": "%s", "rep": %d, "failed": true}\n' "$label" "$op" "$rep" >>"$RESULTS"
    failures=$((failures + 1))
  fi
}
