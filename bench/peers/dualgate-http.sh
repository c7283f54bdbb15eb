#!/usr/bin/env bash
# dualgate's HTTP listener as a benchmark peer: peers/dualgate.sh with HTTP on PORT and FTP on
# a free port (nginx's counterpart in the HTTP tables). Usage: see lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
case "${1:-}" in
  start) BENCH_HTTP_PORT=$2 exec "$PEERS_HERE/dualgate.sh" start "$(free_port)" "${@:3}" ;;
  *) exec "$PEERS_HERE/dualgate.sh" "$@" ;;
esac
