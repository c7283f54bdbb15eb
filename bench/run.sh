#!/usr/bin/env bash
# Benchmarks dualgate side by side with the peers of ../shared/bench, in one run on
# this machine (ratios within one run are what count; the machine is noisy).
#
#   bench/run.sh                          # dualgate + vsftpd, pure-ftpd, pyftpdlib, nginx (3 reps)
#   REPS=1 bench/run.sh dualgate vsftpd   # a quicker pass over chosen peers
#   WITH_UNFTP=1 bench/run.sh ...         # also build unftp for the comparison (~15 min)
#   IDLE=1 bench/run.sh dualgate vsftpd   # only idle memory per session, on fresh servers
#   BEFORE_BIN=/tmp/before-target/release/dualgate bench/run.sh dualgate dualgate-before
#                                         # before/after: also a peer "dualgate-before"
#
# BEFORE_BIN (optional): path to another dualgate binary, e.g. a release build of an
# earlier commit. It adds the peers dualgate-before (FTP) and dualgate-before-http (HTTP):
# copies of peers/dualgate.sh with their own name and state dir that run BEFORE_BIN.
# They are listed right after dualgate / dualgate-http, so with the harness's
# repetition-major order both binaries are measured in the same run, one pass each in
# turn. Without arguments, BEFORE_BIN adds both to the default peer list. Unset: no change.
#
# Needs root (installs the peers from Debian/PyPI with ../shared/bench/peers/install.sh
# on first use). Builds dualgate in release mode. Results: bench/results/ (raw JSON per
# peer and repetition, summary.md as printed by the shared report.py).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SHARED="$(cd "$HERE/../../shared/bench" && pwd)"
cd "$HERE/.."
cargo build --release --locked --bin dualgate
export DUALGATE_BIN="$PWD/target/release/dualgate"

# The shared harness is read-only: run a copy of it with our peer script added.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp -r "$SHARED/." "$WORK/"
chmod -R u+w "$WORK"
cp "$HERE/peers/dualgate.sh" "$WORK/peers/"
if [ -n "${BEFORE_BIN:-}" ]; then
    "$HERE/peers/make-before.sh" "$WORK/peers" "$BEFORE_BIN"
fi

if [ ! -d /opt/benchpeers/vsftpd ] || ! python3 -c 'import pyftpdlib' 2>/dev/null; then
    "$WORK/peers/install.sh"
fi

# dualgate serves FTP and HTTP from one process: measure it with both harnesses by
# listing it in both peer sets (the FTP port is the HTTP port - 1 for the HTTP pass).
sed -i 's/^FTP_PEERS="/FTP_PEERS="dualgate /; s/^HTTP_PEERS="/HTTP_PEERS="dualgate-http /' "$WORK/run_peers.sh"
[ -z "${BEFORE_BIN:-}" ] || sed -i 's/^FTP_PEERS="dualgate /FTP_PEERS="dualgate dualgate-before /;
    s/^HTTP_PEERS="dualgate-http /HTTP_PEERS="dualgate-http dualgate-before-http /' "$WORK/run_peers.sh"
cat > "$WORK/peers/dualgate-http.sh" <<'SH'
#!/usr/bin/env bash
# dualgate's HTTP listener on <port> (its FTP listener takes <port>+10).
case "${1:-}" in
start) DUALGATE_HTTP_PORT="$2" exec "$(dirname "$0")/dualgate.sh" start "$(( $2 + 10 ))" "${@:3}" ;;
*) exec "$(dirname "$0")/dualgate.sh" "$@" ;;
esac
SH
chmod +x "$WORK/peers/dualgate-http.sh"
if [ -n "${BEFORE_BIN:-}" ]; then
    sed 's|/dualgate\.sh"|/dualgate-before.sh"|' "$WORK/peers/dualgate-http.sh" > "$WORK/peers/dualgate-before-http.sh"
    chmod +x "$WORK/peers/dualgate-before-http.sh"
fi

DEFAULT_PEERS="dualgate vsftpd pure-ftpd pyftpdlib dualgate-http nginx"
[ -z "${BEFORE_BIN:-}" ] || DEFAULT_PEERS="dualgate dualgate-before vsftpd pure-ftpd pyftpdlib dualgate-http dualgate-before-http nginx"
PEERS="${*:-$DEFAULT_PEERS}"
OUT="${OUT:-$HERE/results}"
mkdir -p "$OUT"
if [ -n "${IDLE:-}" ]; then
    OUT="${IDLE_OUT:-$HERE/results-idle}"
    mkdir -p "$OUT"
fi
# One run per directory: results of an earlier run (other peers, other days) would
# be mixed into this run's medians and limits table.
rm -f "$OUT"/*.json "$OUT"/summary.md
if [ -n "${IDLE:-}" ]; then
    (cd "$WORK" && OUT="$OUT" ./run_idle_fresh.sh $PEERS)
else
    (cd "$WORK" && OUT="$OUT" ./run_peers.sh $PEERS)
fi
echo "summary: $OUT/summary.md"
