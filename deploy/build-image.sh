#!/usr/bin/env bash
# Builds the dualgate image from a binary built on this host (deploy/Dockerfile.prebuilt),
# for machines that cannot pull base images: the context holds the binary and, when it
# is dynamically linked, exactly the shared libraries it needs (from ldd).
#
# Usage: deploy/build-image.sh [BINARY] [TAG]
#   BINARY  default: the release build (cargo build --release first; a static one when
#           built with --target x86_64-unknown-linux-musl)
#   TAG     default dualgate:local
set -euo pipefail
cd "$(dirname "$0")/.."
MUSL=target/x86_64-unknown-linux-musl/release/dualgate
BIN=${1:-}
if [ -z "$BIN" ]; then
  if [ -x "$MUSL" ]; then
    cargo build --release --locked --target x86_64-unknown-linux-musl --bin dualgate
    BIN=$MUSL
  else
    cargo build --release --locked --bin dualgate
    BIN=target/release/dualgate
  fi
fi
TAG=${2:-dualgate:local}
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }
CTX=$(mktemp -d)
trap 'rm -rf "$CTX"' EXIT
mkdir -p "$CTX/rootfs/etc" "$CTX/data"
install -m 0755 "$BIN" "$CTX/rootfs/dualgate"
# Shared libraries and the loader, at their own paths (none for a static binary).
{ ldd "$BIN" 2>/dev/null || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
  mkdir -p "$CTX/rootfs$(dirname "$lib")"
  cp -L "$lib" "$CTX/rootfs$lib"
done
echo 'dualgate:x:10001:10001::/data:/dualgate' >"$CTX/rootfs/etc/passwd"
echo 'dualgate:x:10001:' >"$CTX/rootfs/etc/group"
cp configs/dualgate.container.yaml "$CTX/dualgate.yaml"
cp deploy/Dockerfile.prebuilt "$CTX/Dockerfile"
docker build -q -t "$TAG" "$CTX"
