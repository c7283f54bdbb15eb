#!/usr/bin/env bash
# unFTP (the release binary install.sh downloads or builds, or UNFTP_BIN) as a benchmark peer: tokio,
# filesystem back-end, the account in a JSON credentials file. Usage: see lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
start_peer() {
  local bin=${UNFTP_BIN:-$BENCH_CACHE/unftp}
  [ -x "$bin" ] || die "no unFTP binary ($bin): install.sh could neither download nor build it; set UNFTP_BIN"
  (umask 077 && printf '[{"username":"%s","password":"%s"}]\n' "$BENCH_ACCOUNT" "$(bench_password)" >"$SD/users.json")
  launch "$SD/pid" "$SD/server.log" "$bin" --bind-address "127.0.0.1:$PORT" --root-dir "$ROOT" \
    --passive-ports "$LO-$HI" --auth-type json --auth-json-path "$SD/users.json" --log-level error
}
peer_main unftp "$@"
