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
  local name=$1
  shift
  SD=$(state_dir "$name")
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
