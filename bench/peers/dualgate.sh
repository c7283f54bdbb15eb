#!/usr/bin/env bash
# dualgate as a benchmark peer (the binary in DUALGATE_BIN): FTP on PORT, HTTP on
# BENCH_HTTP_PORT (default PORT+1; anonymous read-only, as nginx serves without auth), admin
# on a free port. The account is the peers' one with an argon2id hash (the peers check
# SHA-512-crypt or plain text; dualgate caches verified logins). BENCH_STORAGE: a YAML
# `storage:` block to use instead of local storage on ROOT (bench/upstream.sh). With
# BENCH_TLS=1, FTPS (explicit AUTH TLS, PROT P; data session resumption optional, the default)
# and HTTPS only, on the certificate in BENCH_TLS_DIR. Usage: see lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
NAME=dualgate
BIN="${DUALGATE_BIN:?set DUALGATE_BIN to the release binary}"
start_peer() {
  local http_port=${BENCH_HTTP_PORT:-$((PORT + 1))} storage tls=""
  [ -z "${BENCH_TLS:-}" ] || tls=", tls: { cert: \"$BENCH_TLS_DIR/cert.pem\", key: \"$BENCH_TLS_DIR/key.pem\" }"
  [ -s "$SD/hash" ] && [ "$SD/hash.for" -nt "$BENCH_CACHE/account.password" ] ||
    { bench_password | "$BIN" hash-password >"$SD/hash" && touch "$SD/hash.for"; }
  storage=${BENCH_STORAGE:-"storage: { kind: local, root: \"$ROOT\" }"}
  cat >"$SD/dualgate.yaml" <<CONF
# Every benchmark client comes from 127.0.0.1: no per-address share of the passive ports.
ftp: { listen: "127.0.0.1:$PORT", passive_ports: "$LO-$HI", passive_ports_per_address: 0$tls }
http: { listen: "127.0.0.1:$http_port"$tls }
admin: { listen: "127.0.0.1:$(free_port)" }
$storage
users:
  - { name: "$BENCH_ACCOUNT", password_hash: "$(cat "$SD/hash")" }
anonymous: { enabled: true, home: / }
limits: { max_connections: 20000, max_connections_per_address: 20000 }
CONF
  DUALGATE_LOG_LEVEL=warn launch "$SD/pid" "$SD/server.log" "$BIN" serve -c "$SD/dualgate.yaml"
}
peer_main "$NAME" "$@"
