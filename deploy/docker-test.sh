#!/usr/bin/env bash
# The container image, end to end, where a Docker daemon can run: builds it from the
# host binary (deploy/build-image.sh), runs it with a read-only root file system,
# waits for its HEALTHCHECK, uploads over FTP and downloads over HTTP through the
# published ports, and checks that `docker stop` ends it with exit code 0.
# Where no daemon can be started (no engine, no privileges) it says so and skips.
# No host port is fixed (a port another job holds must not fail the run): Docker picks
# the FTP, HTTP and admin ports; the passive range, which must be published 1:1 (PASV
# advertises the container's port), is a free range picked here and configured in the
# container to match.
#
# Usage: deploy/docker-test.sh [BINARY]   (default target/debug/dualgate, built if
#        missing; as root it installs Debian's docker.io and starts
#        `dockerd --storage-driver=vfs` when no daemon is running)
set -uo pipefail
cd "$(dirname "$0")/.."

skip() { echo "docker: skipped — $1"; exit 0; }

if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    if ! command -v dockerd >/dev/null; then
      echo "== installing docker.io"
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null 2>&1
    fi
    if command -v dockerd >/dev/null; then
      echo "== starting dockerd --storage-driver=vfs"
      (dockerd --storage-driver=vfs >/tmp/dualgate-dockerd.log 2>&1 &)
      for _ in $(seq 40); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    fi
  fi
  docker info >/dev/null 2>&1 || skip "no Docker daemon can run here ($(tail -n 1 /tmp/dualgate-dockerd.log 2>/dev/null || echo 'no dockerd'))"
fi

PASSED=0
FAILED=0
check() { local name=$1; shift
  local run=(timeout 120)
  declare -F "$1" >/dev/null && run=() # shell functions bound their own waits
  if "${run[@]}" "$@" >/tmp/dualgate-docker-check.log 2>&1; then PASSED=$((PASSED + 1)); echo "ok   $name"
  else FAILED=$((FAILED + 1)); echo "FAIL $name"; sed 's/^/     | /' /tmp/dualgate-docker-check.log | tail -n 15; fi
}

BIN=${1:-target/debug/dualgate}
[ -x "$BIN" ] || cargo build --quiet --bin dualgate || exit 1
TAG=dualgate:ci
NAME=dualgate-ci-$$
PASV_COUNT=20
# A free range of PASV_COUNT ports on 127.0.0.1 (LOW-HIGH), below the kernel's ephemeral
# range, where the ports Docker picks and outgoing connections' ports come from.
free_range() {
  local eph low
  eph=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  if command -v python3 >/dev/null; then
    python3 - "$PASV_COUNT" "$eph" <<'PY'
import random, socket, sys
count, below = int(sys.argv[1]), int(sys.argv[2])
for _ in range(100):
    low, held = random.randrange(10000, below - count), []
    try:
        for port in range(low, low + count):
            s = socket.socket()
            held.append(s)
            s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        for s in held:
            s.close()
    print(f"{low}-{low + count - 1}")
    sys.exit(0)
sys.exit(f"no {count} consecutive free ports below {below}")
PY
  else # unchecked; `docker run` finds out, and start_container tries another
    low=$((10000 + RANDOM % (eph - 10000 - PASV_COUNT)))
    echo "$low-$((low + PASV_COUNT - 1))"
  fi
}
# The host port Docker published container port $1 on.
host_port() { docker port "$NAME" "$1/tcp" | head -n 1 | sed -n 's/.*:\([0-9][0-9]*\)$/\1/p' | grep .; }
# Runs the container: FTP, HTTP and admin on ports Docker picks, the passive range
# 1:1 on a free one; another range when a port was taken meanwhile.
start_container() {
  local attempt
  for attempt in 1 2 3 4 5; do
    PASV=$(free_range) || return 1
    echo "attempt $attempt: passive ports $PASV"
    if docker run -d --name "$NAME" --read-only \
      -e DUALGATE_PASSWORD=ci-pass -e DUALGATE_FTP__PUBLIC_ADDRESS=127.0.0.1 \
      -e DUALGATE_FTP__PASSIVE_PORTS="$PASV" \
      -p 127.0.0.1::2121 -p 127.0.0.1::8080 -p 127.0.0.1::9090 \
      -p "127.0.0.1:$PASV:$PASV" -v "$NAME:/data" "$TAG" 2>/tmp/dualgate-docker-run.log; then
      FTP_PORT=$(host_port 2121) && HTTP_PORT=$(host_port 8080) && ADMIN_PORT=$(host_port 9090) || return 1
      echo "ftp $FTP_PORT, http $HTTP_PORT, admin $ADMIN_PORT"
      return 0
    fi
    cat /tmp/dualgate-docker-run.log
    docker rm -f "$NAME" >/dev/null 2>&1
    grep -qiE 'already allocated|already in use' /tmp/dualgate-docker-run.log || return 1
  done
  return 1
}

check "image builds from the host binary" deploy/build-image.sh "$BIN" "$TAG"
docker volume create "$NAME" >/dev/null
check "container starts with a read-only root" start_container
[ -n "${ADMIN_PORT:-}" ] && echo "     ports: ftp $FTP_PORT, http $HTTP_PORT, admin $ADMIN_PORT, passive $PASV"
healthy() { for _ in $(seq 60); do
  [ "$(docker inspect -f '{{.State.Health.Status}}' "$NAME" 2>/dev/null)" = healthy ] && return 0; sleep 1; done; return 1; }
check "HEALTHCHECK reports healthy" healthy
echo hello-from-ftp >/tmp/dualgate-docker-upload.txt
check "FTP upload through the published ports" curl -sS -T /tmp/dualgate-docker-upload.txt "ftp://dualgate:ci-pass@127.0.0.1:${FTP_PORT:-0}/up.txt"
check "HTTP download of the same file" bash -c "test \"\$(curl -sS -u dualgate:ci-pass http://127.0.0.1:${HTTP_PORT:-0}/up.txt)\" = hello-from-ftp"
check "metrics are served on the admin port" bash -c "curl -sS http://127.0.0.1:${ADMIN_PORT:-0}/metrics | grep -q dualgate_build_info"
check "docker stop exits 0" bash -c "docker stop -t 30 '$NAME' >/dev/null && test \"\$(docker inspect -f '{{.State.ExitCode}}' '$NAME')\" = 0"
docker rm -f "$NAME" >/dev/null 2>&1; docker volume rm "$NAME" >/dev/null 2>&1
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
