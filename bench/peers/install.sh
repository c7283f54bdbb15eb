#!/usr/bin/env bash
# Installs the peers the benchmarks compare dualgate with (Debian 12, as root), and the
# account they log in as. Idempotent; bench/run.sh, bench/load.sh and bench/upstream.sh run
# it on first use.
#
#   bench/peers/install.sh
#
# - nginx-light, wrk, h2load (nghttp2-client), curl and ProFTPD with mod_proxy (proftpd-core, proftpd-mod-proxy, and
#   proftpd-mod-crypto for the mod_tls that mod_proxy needs) from
#   apt; no service is started (a policy-rc.d refusing starts is put in place while apt runs,
#   unless one exists).
# - vsftpd and Pure-FTPd conflict with ProFTPD as installed packages (all provide
#   ftp-server): they are unpacked from their .deb files into the test cache instead, as
#   tests/backends/upstream_ftp.sh does.
# - pyftpdlib from PyPI into a venv under the cache directory (PYFTPDLIB_VERSION).
# - unFTP: its release binary from GitHub (UNFTP_VERSION) when GitHub is reachable; else built
#   from crates.io with cargo (`cargo install unftp`, several minutes; a glibc build, where the
#   release binary is a static musl one); else skipped with a message (set UNFTP_BIN to a binary
#   of your own to include it).
# - the system account dualgate-bench (no shell) with a random password kept in the cache
#   directory, and the PAM service dualgate-bench-ftp.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root (apt-get, the account, the FTP daemons)"
PYFTPDLIB_VERSION=${PYFTPDLIB_VERSION:-2.0.1}
UNFTP_VERSION=${UNFTP_VERSION:-0.15.1}
mkdir -p "$BENCH_CACHE"

APT_PACKAGES="nginx-light wrk nghttp2-client curl proftpd-core proftpd-mod-crypto proftpd-mod-proxy python3-venv"
# shellcheck disable=SC2086
if ! dpkg -s $APT_PACKAGES >/dev/null 2>&1; then
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  timeout 600 apt-get update >&2
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends $APT_PACKAGES >&2
  [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
log "vsftpd: $(find_server vsftpd vsftpd)"
log "pure-ftpd: $(find_server pure-ftpd pure-ftpd)"

if [ ! -x "$BENCH_CACHE/venv/bin/python" ] ||
  ! "$BENCH_CACHE/venv/bin/python" -c 'import pyftpdlib' 2>/dev/null; then
  python3 -m venv "$BENCH_CACHE/venv"
  timeout 600 "$BENCH_CACHE/venv/bin/pip" install -q "pyftpdlib==$PYFTPDLIB_VERSION" >&2
fi
log "pyftpdlib: $("$BENCH_CACHE/venv/bin/python" -c 'import pyftpdlib; print(pyftpdlib.__ver__)')"

if [ -z "${UNFTP_BIN:-}" ] && [ ! -x "$BENCH_CACHE/unftp" ]; then
  url="https://github.com/bolcom/unFTP/releases/download/v$UNFTP_VERSION/unftp_x86_64-unknown-linux-musl"
  if timeout 120 curl -fsSL -o "$BENCH_CACHE/unftp.part" "$url"; then
    chmod 755 "$BENCH_CACHE/unftp.part"
    mv "$BENCH_CACHE/unftp.part" "$BENCH_CACHE/unftp"
  else
    rm -f "$BENCH_CACHE/unftp.part"
    log "unFTP: could not download $url; building it from crates.io"
    if command -v cargo >/dev/null &&
      timeout 1800 cargo install unftp --version "$UNFTP_VERSION" --locked --root "$BENCH_CACHE/unftp-cargo" >&2; then
      ln -sf "$BENCH_CACHE/unftp-cargo/bin/unftp" "$BENCH_CACHE/unftp"
    else
      log "unFTP: no release binary and no cargo build; the unftp peer is skipped (set UNFTP_BIN to include it)"
    fi
  fi
fi
bench_account
log "account $BENCH_ACCOUNT ready; peers installed"
