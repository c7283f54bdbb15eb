#!/usr/bin/env bash
# The concurrency and login figures alone (bench/ftpload's conc and login), over the FTP peers:
# bench/run.sh with TESTS="conc login" and its results in bench/results-load.
#
#   bench/load.sh                               # dualgate vsftpd pure-ftpd pyftpdlib unftp, 3 passes
#   REPS=1 bench/load.sh dualgate pyftpdlib     # a quicker pass
#   BEFORE_BIN=/tmp/before/release/dualgate bench/load.sh dualgate dualgate-before
#
# Environment: as bench/run.sh.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DEFAULT_PEERS="dualgate vsftpd pure-ftpd pyftpdlib unftp"
[ -z "${BEFORE_BIN:-}" ] || DEFAULT_PEERS="dualgate dualgate-before vsftpd pure-ftpd pyftpdlib unftp"
# shellcheck disable=SC2086 # the default list is words
TESTS="conc login" OUT=${OUT:-$HERE/results-load} exec "$HERE/run.sh" ${*:-$DEFAULT_PEERS}
