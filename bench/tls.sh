#!/usr/bin/env bash
# TLS throughput and handshakes against the peers: bench/run.sh over the TLS peers — dualgate
# with FTPS against vsftpd (ssl_enable) and Pure-FTPd (--tls), dualgate with HTTPS against nginx
# (ssl) — with TESTS="retr stor http handshake" and its results in bench/results-tls. One
# certificate (ECDSA P-256, made for the run) and one suite (TLS 1.3, TLS_AES_128_GCM_SHA256)
# for all; see bench/run.sh for the peers' TLS set-up and bench/benchclient.py for the clients.
#
#   bench/tls.sh                                  # every TLS peer, 3 passes
#   REPS=2 PERF=1 bench/tls.sh                    # 2 passes, dualgate profiled in the last
#   REPS=1 BIG_MIB=256 bench/tls.sh dualgate-tls vsftpd-tls
#
# Environment: as bench/run.sh.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DEFAULT_PEERS="dualgate-tls vsftpd-tls pure-ftpd-tls dualgate-http-tls nginx-tls"
# shellcheck disable=SC2086 # the default list is words
TESTS=${TESTS:-"retr stor http handshake"} OUT=${OUT:-$HERE/results-tls} exec "$HERE/run.sh" ${*:-$DEFAULT_PEERS}
