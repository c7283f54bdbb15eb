#!/usr/bin/env bash
# nginx (Debian's nginx-light) as the HTTP benchmark peer: ROOT served on PORT, one worker per
# core, sendfile, no access log; PUT accepted without authentication (the dav module; workers run
# as the bench account, which owns ROOT; bodies are received into a directory beside ROOT, on the
# same file system, so a finished upload is renamed into place, not copied). With BENCH_TLS=1, HTTPS only (HTTP/1.1; TLS 1.3 named,
# as nginx 1.22 leaves it out of its default protocols; without kernel TLS nginx cannot sendfile
# through TLS and encrypts through OpenSSL). Without TLS, also HTTP/2 without TLS (h2c, prior
# knowledge) on PORT+2: nginx 1.22 serves a cleartext port either in HTTP/1 or in HTTP/2, where
# dualgate tells them apart on one port. PASV_LO/PASV_HI are ignored. Usage: see lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
start_peer() {
  local listen="listen 127.0.0.1:$PORT;
        listen 127.0.0.1:$((PORT + 2)) http2;"
  [ -z "${BENCH_TLS:-}" ] || listen="listen 127.0.0.1:$PORT ssl;
        ssl_certificate $BENCH_TLS_DIR/cert.pem;
        ssl_certificate_key $BENCH_TLS_DIR/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;"
  cat >"$SD/nginx.conf" <<CONF
daemon off;
master_process on;
user $BENCH_ACCOUNT;
worker_processes ${NGINX_WORKERS:-auto};
pid $SD/nginx.pid;
error_log $SD/error.log warn;
events { worker_connections 20000; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path $(dirname "$ROOT")/.nginx-body-$PORT;
    client_max_body_size 0;
    server {
        $listen
        root $ROOT;
        dav_methods PUT;
    }
}
CONF
  launch "$SD/pid" "$SD/server.log" /usr/sbin/nginx -c "$SD/nginx.conf" -p "$SD"
}
peer_main nginx "$@"
