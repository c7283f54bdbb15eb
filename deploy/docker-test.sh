#!/usr/bin/env bash
# The container image, end to end, where a Docker daemon can run: builds it from the
# host binary (deploy/build-image.sh), runs it with a read-only root file system,
# waits for its HEALTHCHECK, uploads over FTP and downloads over HTTP through the
# published ports, and checks that `docker stop` ends it with exit code 0.
# Where no daemon can be started (no engine, no privileges) it says so and skips.
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
check "image builds from the host binary" deploy/build-image.sh "$BIN" "$TAG"
docker volume create "$NAME" >/dev/null
check "container starts with a read-only root" docker run -d --name "$NAME" --read-only \
  -e DUALGATE_PASSWORD=ci-pass -e DUALGATE_FTP__PUBLIC_ADDRESS=127.0.0.1 \
  -p 127.0.0.1:22121:2121 -p 127.0.0.1:28080:8080 -p 127.0.0.1:29090:9090 \
  -p 127.0.0.1:30000-30019:30000-30019 -v "$NAME:/data" "$TAG"
healthy() { for _ in $(seq 60); do
  [ "$(docker inspect -f '{{.State.Health.Status}}' "$NAME" 2>/dev/null)" = healthy ] && return 0; sleep 1; done; return 1; }
check "HEALTHCHECK reports healthy" healthy
echo hello-from-ftp >/tmp/dualgate-docker-upload.txt
check "FTP upload through the published ports" curl -sS -T /tmp/dualgate-docker-upload.txt ftp://dualgate:ci-pass@127.0.0.1:22121/up.txt
check "HTTP download of the same file" bash -c "test \"\$(curl -sS -u dualgate:ci-pass http://127.0.0.1:28080/up.txt)\" = hello-from-ftp"
check "metrics are served on the admin port" bash -c "curl -sS http://127.0.0.1:29090/metrics | grep -q dualgate_build_info"
check "docker stop exits 0" bash -c "docker stop -t 30 '$NAME' >/dev/null && test \"\$(docker inspect -f '{{.State.ExitCode}}' '$NAME')\" = 0"
docker rm -f "$NAME" >/dev/null 2>&1; docker volume rm "$NAME" >/dev/null 2>&1
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
