#!/usr/bin/env bash
# Pure-FTPd 1.0 (Debian's, unpacked by install.sh) as a benchmark peer: a virtual (puredb)
# user with a SHA-512-crypt password mapped to the account, chrooted into ROOT. With
# BENCH_TLS=1, FTPS with TLS required on the control connection (--tls=2; the data connections
# are protected when the client asks with PROT P) and the certificate and key given as files
# (--certfile=CERT,KEY instead of Debian's /etc/ssl/private/pure-ftpd.pem). Usage: see lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
start_peer() {
  local bin pw uid gid tls=()
  [ -z "${BENCH_TLS:-}" ] || tls=(-Y 2 -2 "$BENCH_TLS_DIR/cert.pem,$BENCH_TLS_DIR/key.pem")
  bin=$(UPSTREAM_FTP_NO_INSTALL=1 find_server pure-ftpd pure-ftpd)
  pw="$(dirname "$bin")/../bin/pure-pw"
  uid=$(id -u "$BENCH_ACCOUNT") gid=$(id -g "$BENCH_ACCOUNT")
  echo "$BENCH_ACCOUNT:$(openssl passwd -6 "$(bench_password)"):$uid:$gid::$ROOT/./::::::::::::" >"$SD/passwd"
  "$pw" mkdb "$SD/pure.pdb" -f "$SD/passwd" >&2
  # -S address,port  -p passive range  -P passive address  -l auth  -E no anonymous  -A chroot
  # -H no DNS  -c/-C clients (all, per address)  -L listing limits (entries, depth)
  launch "$SD/pid" "$SD/server.log" "$bin" -S "127.0.0.1,$PORT" -p "$LO:$HI" -P 127.0.0.1 \
    -l "puredb:$SD/pure.pdb" -E -A -H -c 5000 -C 5000 -L 100000:5 -u 1 "${tls[@]}"
}
peer_main pure-ftpd "$@"
