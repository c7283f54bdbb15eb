#!/usr/bin/env bash
# The login floor (bench/ftpload's ftp-floor binary, FTP_FLOOR_BIN; bench/run.sh sets it next to
# FTPLOAD_BIN) as a peer: a tokio server that answers the greeting, USER, PASS, TYPE and QUIT
# with one write each and does nothing else — the least any server on tokio pays per login of
# `ftpload login`. For TESTS=login only (bench/run.sh skips its other tests). Usage: see lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
start_peer() {
  [ -z "${BENCH_TLS:-}" ] || die "ftp-floor has no TLS"
  local bin=${FTP_FLOOR_BIN:?set FTP_FLOOR_BIN to bench/ftpload\'s ftp-floor binary}
  [ -x "$bin" ] || die "no ftp-floor binary at $bin (cargo build --release -p ftpload)"
  launch "$SD/pid" "$SD/server.log" "$bin" "127.0.0.1:$PORT"
}
peer_main ftp-floor "$@"
