#!/usr/bin/env bash
# dualgate as a peer of ../shared/bench: same start/stop/pid interface as the other
# peer scripts (sourced helpers from the shared peers/common.sh, copied beside it by
# bench/run.sh). FTP on <port>, HTTP on <port>+1 (anonymous read-only, as nginx
# serves without auth), admin on <port>+2. The account is $FTP_USER/$FTP_PASS with
# an argon2id hash (the peers use SHA-512-crypt or plain text; see bench/RESULTS.md).
. "$(dirname "$0")/common.sh"
NAME=dualgate
SD="$(state_dir $NAME)"
BIN="${DUALGATE_BIN:?set DUALGATE_BIN to the release binary}"
case "${1:-}" in
start)
    [ $# -ge 3 ] || usage_common
    PORT="$2"; ROOT="$(realpath "$3")"; LO="${4:-$PASV_LO_DEFAULT}"; HI="${5:-$PASV_HI_DEFAULT}"
    HTTP_PORT="${DUALGATE_HTTP_PORT:-$((PORT + 1))}"
    [ -f "$SD/hash" ] || printf '%s\n' "$FTP_PASS" | "$BIN" hash-password > "$SD/hash"
    cat > "$SD/dualgate.yaml" <<CONF
ftp: { listen: "127.0.0.1:$PORT", passive_ports: "$LO-$HI" }
http: { listen: "127.0.0.1:$HTTP_PORT" }
admin: { listen: "127.0.0.1:$((PORT + 2))" }
storage: { kind: local, root: "$ROOT" }
users:
  - { name: "$FTP_USER", password_hash: "$(cat "$SD/hash")" }
anonymous: { enabled: true, home: / }
limits: { max_connections: 20000, max_connections_per_address: 20000 }
CONF
    DUALGATE_LOG_LEVEL=warn launch "$SD/pid" "$SD/stdout.log" "$BIN" serve -c "$SD/dualgate.yaml"
    wait_port "$PORT"
    cat "$SD/pid"
    ;;
stop) stop_pidfile "$SD/pid" ;;
pid) print_pid "$SD/pid" ;;
*) usage_common ;;
esac
