# shellcheck shell=bash disable=SC2034 # the variables set here are used by the sourcing scripts
# Helpers of the back-end scripts in tests/backends/ (sourced, not run).
# Everything here stays on 127.0.0.1, and every wait has a bound.

BACKENDS_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BACKENDS_STATE="${BACKENDS_STATE:-${TMPDIR:-/tmp}/dualgate-test-backends}"
TEST_CACHE="${DUALGATE_TEST_CACHE:-$HOME/.cache/dualgate-test}"

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "$*"; exit 2; }

# The state of a server a script started, in $STATE_FILE as the variables named in
# STATE_VARS (both set by the script); and its usage, the header comment of the script.
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
}
load_state_of() { # load_state_of WHAT : load the state file, or fail saying no WHAT runs
  [ -f "$STATE_FILE" ] || { log "no $1 running (no $STATE_FILE); run: $0 start"; exit 1; }
  # shellcheck disable=SC1090
  . "$STATE_FILE"
}
save_state() {
  local v
  for v in "${STATE_VARS[@]}"; do printf '%s=%q\n' "$v" "${!v:-}"; done >"$STATE_FILE.tmp"
  mv "$STATE_FILE.tmp" "$STATE_FILE"
}

free_port() { # a TCP port on 127.0.0.1 that nothing listens on right now
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

random_hex() { # random_hex BYTES
  od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

wait_http() { # wait_http URL SECONDS PID : until URL answers any HTTP status; fail if PID dies
  local url=$1 limit=$2 pid=$3 deadline code
  deadline=$((SECONDS + limit))
  while ((SECONDS < deadline)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null) || true
    if [ -n "$code" ] && [ "$code" != 000 ]; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "process $pid exited before $url answered"
      return 1
    fi
    sleep 0.2
  done
  log "$url did not answer within ${limit}s"
  return 1
}

owns_pid() { # owns_pid PID WORD : PID is alive and its command line mentions WORD
  local pid=$1 word=$2
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$word"
}

stop_pid() { # stop_pid PID WORD : TERM, up to 5 s, then KILL; only if PID is still ours
  local pid=$1 word=$2 i
  owns_pid "$pid" "$word" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "pid $pid ignored TERM; sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
}

start_faultproxy() { # start_faultproxy TARGET_PORT OUTFILE ARGS... : sets FP_PID and FP_PORT
  local target=$1 out=$2 i
  shift 2
  rm -f "$out" "$out.log" # never read an older proxy's LISTEN line
  setsid python3 "$BACKENDS_HERE/faultproxy.py" --listen 0 --target "127.0.0.1:$target" "$@" \
    >"$out" 2>"$out.log" </dev/null &
  FP_PID=$!
  FP_PORT=
  for ((i = 0; i < 100; i++)); do
    FP_PORT=$(sed -n 's/^LISTEN \([0-9][0-9]*\)$/\1/p' "$out" 2>/dev/null | head -n 1)
    [ -n "$FP_PORT" ] && return 0
    kill -0 "$FP_PID" 2>/dev/null || break
    sleep 0.1
  done
  log "the fault proxy did not start:"
  sed 's/^/  | /' "$out.log" >&2 || true
  return 1
}

dualgate_binary() { # dualgate_binary OVERRIDE WORKDIR : prints OVERRIDE, else builds an optimised binary (quick-release: release without LTO)
  local override=$1 work=$2 root
  if [ -n "$override" ]; then
    printf '%s\n' "$override"
    return 0
  fi
  root="$(cd "$BACKENDS_HERE/../.." && pwd)"
  log "cargo build --profile quick-release (waits if another build holds the lock)"
  (cd "$root" && timeout 3600 cargo build --locked --profile quick-release --bin dualgate) >"$work/build.log" 2>&1 ||
    { tail -n 30 "$work/build.log" >&2; die "cargo build --profile quick-release failed"; }
  printf '%s\n' "$root/target/quick-release/dualgate"
}

wait_ready() { # wait_ready ADMIN_PORT PID LOG NAME SECONDS : until the gateway's /readyz answers 200
  local port=$1 pid=$2 logfile=$3 name=$4 limit=$5 deadline
  deadline=$((SECONDS + limit))
  while ((SECONDS < deadline)); do
    curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/readyz" && return 0
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$logfile" >&2; die "the gateway $name exited"; }
    sleep 0.2
  done
  tail -n 20 "$logfile" >&2
  die "the gateway $name was not ready within ${limit} s"
}

# FTP daemons that conflict as installed Debian packages (vsftpd, pure-ftpd, proftpd all
# provide ftp-server) are unpacked side by side into the cache directory instead; the
# bench scripts use the same copies.
find_server() { # find_server PACKAGE BINARY : prints the path of the daemon, unpacking it if needed
  local pkg=$1 bin=$2 dir deb
  if command -v "$bin" >/dev/null 2>&1; then command -v "$bin"; return 0; fi
  for dir in /usr/sbin /sbin; do
    if [ -x "$dir/$bin" ]; then echo "$dir/$bin"; return 0; fi
  done
  dir="$TEST_CACHE/debs/$pkg"
  if [ -x "$dir/usr/sbin/$bin" ]; then echo "$dir/usr/sbin/$bin"; return 0; fi
  [ -z "${UPSTREAM_FTP_NO_INSTALL:-}" ] || { log "$bin not found (UPSTREAM_FTP_NO_INSTALL set)"; exit 3; }
  mkdir -p "$dir"
  log "unpacking the Debian package $pkg into $dir"
  (
    cd "$dir"
    timeout 300 apt-get download "$pkg" >&2 2>/dev/null || {
      timeout 600 apt-get update >&2
      timeout 300 apt-get download "$pkg" >&2
    }
    for deb in "$pkg"_*.deb; do :; done
    dpkg -x "$deb" .
    # The libraries it links against (all in Debian's base or small packages).
    dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -e 's/([^)]*)//g' -e 's/|.*//' -e 's/ //g' |
      grep -v -e '^$' -e '^debconf' -e '^adduser' -e '^init-system' -e '^lsb-base' -e '^openssl$' \
        -e '^pure-ftpd-common' -e '^netbase' -e '^libpam-runtime' -e '^procps' >"$dir/depends"
    if [ -s "$dir/depends" ]; then
      # shellcheck disable=SC2046
      DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y --no-install-recommends $(cat "$dir/depends") >&2
    fi
  )
  [ -x "$dir/usr/sbin/$bin" ] || die "no $bin in the package $pkg"
  echo "$dir/usr/sbin/$bin"
}

free_range() { # a base port B such that B..B+199 are all free on 127.0.0.1
  python3 -c 'import random, socket
for _ in range(200):
    base = random.randrange(20000, 60000 - 200)
    socks = []
    try:
        for p in range(base, base + 200):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks: s.close()
    print(base); break
else:
    raise SystemExit("no free 200-port range")'
}
