#!/usr/bin/env bash
# An S3-compatible server on 127.0.0.1 for dualgate's S3 storage tests.
#
#   tests/backends/s3.sh start    start the server on a free port in a new temporary directory,
#                                 create the bucket, print the storage: YAML fragment on stdout
#                                 (logs go to stderr). The fragment has no prefix: key; each
#                                 gateway under test adds its own.
#   tests/backends/s3.sh stop     stop the recorded PIDs (server, fault proxy), remove the
#                                 temporary directory and the state file
#   tests/backends/s3.sh yaml     print the fragment of the running server again
#   tests/backends/s3.sh env      print `export S3_...=...` lines of its state
#   tests/backends/s3.sh uploads [PREFIX]
#                                 list the bucket's pending multipart uploads (under PREFIX):
#                                 the count on the first line, then `KEY UPLOAD_ID` lines. Exit
#                                 2 if the server cannot list them (s3s-fs answers 501), 1 on
#                                 any other failure.
#   tests/backends/s3.sh orphan KEY [PARTS]
#                                 start a multipart upload of KEY and never finish it (with
#                                 PARTS parts of 1 KiB, default 0), as a lost answer or a
#                                 killed process leaves one; prints its upload id
#   tests/backends/s3.sh part KEY UPLOAD_ID N
#                                 add part N (1 KiB) to a pending multipart upload
#
#   Typical use:   STORAGE_YAML=$(tests/backends/s3.sh start) ... tests/backends/s3.sh stop
#
# Environment:
#   S3_SERVER           moto (default) or s3s-fs
#                       moto: `moto_server` from PATH, else a venv under the cache directory
#                       with `pip install 'moto[server]'`. It runs without authentication:
#                       any key pair is accepted.
#                       s3s-fs: `s3s-fs` from PATH or the cache directory's bin/, else
#                       `cargo install s3s-fs --version 0.14.1 --locked --features binary`
#                       into the cache directory (about 4 minutes on 2 cores; 0.15 and later
#                       need a newer rustc). It checks SigV4 signatures against the key pair.
#   S3S_FS_BIN          path of an s3s-fs binary to use
#   S3_NO_INSTALL=1     fail (exit 3) instead of installing a missing server
#   DUALGATE_TEST_CACHE cache directory (default $HOME/.cache/dualgate-test)
#   S3_BUCKET           bucket (default dualgate); S3_REGION (default us-east-1)
#   S3_ACCESS_KEY, S3_SECRET_KEY  key pair (default dualgate-test and a random secret)
#   S3_FAULT            arguments of faultproxy.py, e.g. "--reset-after-bytes 100000
#                       --faulty-connections 1": the proxy then sits in front of the server
#                       and the fragment's endpoint is the proxy's. The proxy's JSON stats
#                       are in $S3_FAULT_STATS (refreshed by `kill -USR1 $S3_FAULT_PID`).
#   S3_FAULT_DURATION   bound on the proxy's life in seconds (default 3600)
#   S3_START_TIMEOUT    seconds to wait for the server to answer (default 60)
#   S3_UPLOADS_CLIENT=curl  make `uploads` use curl even where boto3 is importable
#   BACKENDS_STATE      directory of the state file s3.env (default
#                       ${TMPDIR:-/tmp}/dualgate-test-backends); one server per directory
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

STATE_FILE="$BACKENDS_STATE/s3.env"
STATE_VARS=(S3_SERVER S3_PID S3_DIR S3_PORT S3_DIRECT_ENDPOINT S3_ENDPOINT S3_BUCKET S3_REGION
  S3_ACCESS_KEY S3_SECRET_KEY S3_FAULT S3_FAULT_PID S3_FAULT_PORT S3_FAULT_STATS)

# curl's SigV4 signing (curl 7.75+). curl 7.88 sends no x-amz-content-sha256, which s3s-fs
# requires, and signs the query as written: give it already percent-encoded (%2F, %20),
# sorted by name, and with `=` after a parameter without a value (`uploads=`).
sign_args() {
  SIGN=(--aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY"
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
}

load_state() { load_state_of "S3 server"; }

server_word() { # what the server's command line contains (checked before a PID is signalled)
  case "$1" in moto) echo moto ;; *) echo s3s-fs ;; esac
}

no_install() {
  log "$1 is not installed and S3_NO_INSTALL=1"
  exit 3
}

find_moto() { # sets MOTO (command array)
  if command -v moto_server >/dev/null 2>&1; then
    MOTO=(moto_server)
    return
  fi
  local venv="$TEST_CACHE/moto-venv"
  if [ ! -x "$venv/bin/moto_server" ]; then
    [ "${S3_NO_INSTALL:-0}" != 1 ] || no_install moto_server
    log "moto_server is not on PATH: installing moto[server] into $venv"
    mkdir -p "$TEST_CACHE"
    (
      flock -w 1200 9 || { log "another install holds $TEST_CACHE/.moto.lock"; exit 1; }
      [ -x "$venv/bin/moto_server" ] && exit 0
      python3 -m venv "$venv" && timeout 900 "$venv/bin/pip" install -q 'moto[server]'
    ) 9>"$TEST_CACHE/.moto.lock" >&2 || die "installing moto[server] into $venv failed"
  fi
  MOTO=("$venv/bin/moto_server")
}

find_s3s_fs() { # sets S3S_FS (path)
  S3S_FS=${S3S_FS_BIN:-}
  if [ -n "$S3S_FS" ]; then
    [ -x "$S3S_FS" ] || die "S3S_FS_BIN=$S3S_FS is not an executable"
    return
  fi
  S3S_FS=$(command -v s3s-fs || echo "$TEST_CACHE/bin/s3s-fs")
  [ -x "$S3S_FS" ] && return
  [ "${S3_NO_INSTALL:-0}" != 1 ] || no_install s3s-fs
  command -v cargo >/dev/null 2>&1 || die "s3s-fs is missing and there is no cargo to install it"
  log "s3s-fs is missing: cargo install s3s-fs 0.14.1 into $TEST_CACHE (about 4 minutes)"
  mkdir -p "$TEST_CACHE"
  (
    flock -w 2400 9 || { log "another install holds $TEST_CACHE/.s3s-fs.lock"; exit 1; }
    [ -x "$S3S_FS" ] && exit 0
    CARGO_TARGET_DIR="${TMPDIR:-/tmp}/dualgate-test-s3s-fs-target" timeout 2400 \
      cargo install s3s-fs --version 0.14.1 --locked --features binary --root "$TEST_CACHE"
  ) 9>"$TEST_CACHE/.s3s-fs.lock" >&2 || die "cargo install s3s-fs failed"
  [ -x "$S3S_FS" ] || die "cargo install s3s-fs left no $S3S_FS"
}

launch() { # launch: start the server on a fresh port; sets S3_PORT and S3_PID
  local attempt
  for attempt in 1 2 3; do
    S3_PORT=$(free_port)
    case "$S3_SERVER" in
    moto)
      setsid "${MOTO[@]}" -H 127.0.0.1 -p "$S3_PORT" >"$S3_DIR/server.log" 2>&1 </dev/null &
      ;;
    s3s-fs)
      setsid "$S3S_FS" --host 127.0.0.1 --port "$S3_PORT" --access-key "$S3_ACCESS_KEY" \
        --secret-key "$S3_SECRET_KEY" "$S3_DIR/data" >"$S3_DIR/server.log" 2>&1 </dev/null &
      ;;
    esac
    S3_PID=$!
    save_state
    if wait_http "http://127.0.0.1:$S3_PORT/" "${S3_START_TIMEOUT:-60}" "$S3_PID"; then
      return 0
    fi
    stop_pid "$S3_PID" "$(server_word "$S3_SERVER")"
    grep -qi 'address already in use' "$S3_DIR/server.log" || break
    log "port $S3_PORT was taken meanwhile (attempt $attempt); trying another"
  done
  log "$S3_SERVER did not start; the end of its log:"
  tail -n 20 "$S3_DIR/server.log" | sed 's/^/  | /' >&2
  return 1
}

create_bucket() {
  local code SIGN
  sign_args
  if [ "$S3_SERVER" = moto ]; then # moto takes an unsigned CreateBucket
    code=$(curl -s -o "$S3_DIR/create-bucket.out" -w '%{http_code}' --max-time 20 \
      -X PUT "$S3_DIRECT_ENDPOINT/$S3_BUCKET") || true
  else # s3s-fs: the bucket is a directory (made before the start); check it signed
    code=$(curl -s -o "$S3_DIR/create-bucket.out" -w '%{http_code}' --max-time 20 -I \
      "${SIGN[@]}" "$S3_DIRECT_ENDPOINT/$S3_BUCKET") || true
  fi
  [ "$code" = 200 ] && return 0
  log "bucket $S3_BUCKET: HTTP ${code:-none} from $S3_SERVER: $(head -c 500 "$S3_DIR/create-bucket.out" 2>/dev/null)"
  return 1
}

start() {
  if [ -f "$STATE_FILE" ]; then # in subshells: the old state must not override this start's settings
    if (
      # shellcheck disable=SC1090
      . "$STATE_FILE"
      owns_pid "${S3_PID:-}" "$(server_word "${S3_SERVER:-}")" || exit 1
      log "already running: $S3_SERVER pid $S3_PID at $S3_ENDPOINT ($STATE_FILE); stop it first"
    ); then
      exit 1
    fi
    log "cleaning up the state of a server that is gone"
    (stop)
  fi
  S3_SERVER=${S3_SERVER:-moto}
  case "$S3_SERVER" in
  moto) find_moto ;;
  s3s-fs) find_s3s_fs ;;
  *) die "unknown S3_SERVER '$S3_SERVER' (moto or s3s-fs)" ;;
  esac
  S3_BUCKET=${S3_BUCKET:-dualgate}
  S3_REGION=${S3_REGION:-us-east-1}
  S3_ACCESS_KEY=${S3_ACCESS_KEY:-dualgate-test}
  S3_SECRET_KEY=${S3_SECRET_KEY:-$(random_hex 20)}
  S3_FAULT=${S3_FAULT:-}
  S3_FAULT_PID='' S3_FAULT_PORT='' S3_FAULT_STATS=''
  mkdir -p "$BACKENDS_STATE"
  S3_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dualgate-s3.XXXXXX")
  : >"$S3_DIR/.dualgate-test-s3" # stop removes only directories carrying this mark
  [ "$S3_SERVER" = moto ] || mkdir -p "$S3_DIR/data/$S3_BUCKET"
  save_state
  launch || { stop; exit 2; }
  S3_DIRECT_ENDPOINT="http://127.0.0.1:$S3_PORT"
  S3_ENDPOINT=$S3_DIRECT_ENDPOINT
  create_bucket || { stop; exit 2; }
  if [ -n "$S3_FAULT" ]; then
    local fault_args
    read -r -a fault_args <<<"$S3_FAULT"
    S3_FAULT_STATS="$S3_DIR/faultproxy.stats.json"
    if ! start_faultproxy "$S3_PORT" "$S3_DIR/faultproxy.out" \
      --duration "${S3_FAULT_DURATION:-3600}" --stats-file "$S3_FAULT_STATS" "${fault_args[@]}"; then
      S3_FAULT_PID=$FP_PID
      save_state
      stop
      exit 2
    fi
    # shellcheck disable=SC2034 # saved through save_state's indirection
    S3_FAULT_PID=$FP_PID S3_FAULT_PORT=$FP_PORT
    S3_ENDPOINT="http://127.0.0.1:$FP_PORT"
    log "fault proxy pid $FP_PID on $S3_ENDPOINT -> $S3_PORT ($S3_FAULT); log $S3_DIR/faultproxy.out.log"
  fi
  save_state
  log "$S3_SERVER pid $S3_PID at $S3_DIRECT_ENDPOINT, bucket $S3_BUCKET, directory $S3_DIR"
  yaml
}

stop() {
  if [ ! -f "$STATE_FILE" ]; then
    log "nothing to stop (no $STATE_FILE)"
    return 0
  fi
  # shellcheck disable=SC1090
  . "$STATE_FILE"
  stop_pid "${S3_FAULT_PID:-}" faultproxy.py
  stop_pid "${S3_PID:-}" "$(server_word "${S3_SERVER:-}")"
  if [ -n "${S3_DIR:-}" ] && [ -f "$S3_DIR/.dualgate-test-s3" ]; then
    rm -rf "$S3_DIR"
  fi
  rm -f "$STATE_FILE"
  log "stopped ${S3_SERVER:-server}${S3_PID:+ (pid $S3_PID)}"
}

yaml() {
  cat <<EOF
storage:
  kind: s3
  endpoint: "$S3_ENDPOINT"
  region: "$S3_REGION"
  bucket: "$S3_BUCKET"
  access_key_id: "$S3_ACCESS_KEY"
  secret_access_key: "$S3_SECRET_KEY"
  path_style: true
EOF
}

print_env() {
  local v
  for v in "${STATE_VARS[@]}"; do printf 'export %s=%q\n' "$v" "${!v:-}"; done
}

# The answer is read from the server itself, never through the fault proxy.
uploads() {
  local prefix=${1:-} status
  if [ "${S3_UPLOADS_CLIENT:-}" != curl ] && python3 -c 'import boto3' 2>/dev/null; then
    status=0
    python3 - "$S3_DIRECT_ENDPOINT" "$S3_REGION" "$S3_BUCKET" "$S3_ACCESS_KEY" "$S3_SECRET_KEY" \
      "$prefix" <<'PY' || status=$?
import sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, region, bucket, key_id, secret, prefix = sys.argv[1:7]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=key_id,
                  aws_secret_access_key=secret,
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                                connect_timeout=5, read_timeout=30))
found = []
try:
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        found += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
except ClientError as e:
    err = e.response.get("Error", {})
    http = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    print(f"ListMultipartUploads failed: HTTP {http} {err.get('Code')}: {err.get('Message')}",
          file=sys.stderr)
    sys.exit(2 if http == 501 else 1)
print(len(found))
for key, upload_id in found:
    print(key, upload_id)
PY
  else
    # no boto3: curl, signed (moto ignores the signature, s3s-fs checks it); one page of 1000
    local out SIGN
    sign_args
    out=$(mktemp)
    local query
    query=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="-_.~"))' "$prefix")
    status=$(curl -s -o "$out" -w '%{http_code}' --max-time 30 "${SIGN[@]}" \
      "$S3_DIRECT_ENDPOINT/$S3_BUCKET?prefix=$query&uploads=") || status=000
    if [ "$status" = 200 ]; then
      status=0
      python3 -c 'import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
tag = lambda e: e.tag.rsplit("}", 1)[-1]
ups = [u for u in root if tag(u) == "Upload"]
print(len(ups))
for u in ups:
    f = {tag(c): c.text or "" for c in u}
    print(f.get("Key", ""), f.get("UploadId", ""))
if any(tag(c) == "IsTruncated" and c.text == "true" for c in root):
    print("more than one page of uploads; only the first is listed", file=sys.stderr)' "$out" ||
        status=1
    else
      log "ListMultipartUploads failed: HTTP $status $(head -c 300 "$out")"
      if [ "$status" = 501 ]; then status=2; else status=1; fi
    fi
    rm -f "$out"
  fi
  if [ "$status" = 2 ]; then
    log "$S3_SERVER does not implement ListMultipartUploads (501 NotImplemented; s3s-fs never" \
      "does): pending uploads cannot be counted on this server; use S3_SERVER=moto for that check"
  fi
  return "$status"
}

# An upload nobody will finish, sent to the server itself (signed: s3s-fs checks).
orphan() {
  local key=${1:?orphan KEY [PARTS]} parts=${2:-0} path out id n
  sign_args
  path=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="/-_.~"))' "$key")
  out=$(curl -sS -f --max-time 30 "${SIGN[@]}" -X POST "$S3_DIRECT_ENDPOINT/$S3_BUCKET/$path?uploads=") || return 1
  id=$(python3 -c 'import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.argv[1])
print(next(c.text for c in root if c.tag.rsplit("}", 1)[-1] == "UploadId"))' "$out") || return 1
  for n in $(seq "$parts"); do part "$key" "$id" "$n" || return 1; done
  echo "$id"
}

# One more part of a pending upload (a live upload that is still getting parts).
part() {
  local key=${1:?part KEY UPLOAD_ID N} id=${2:?} n=${3:?} path
  sign_args
  path=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="/-_.~"))' "$key")
  head -c 1024 /dev/urandom | curl -sS -f --max-time 30 "${SIGN[@]}" -X PUT --data-binary @- \
    "$S3_DIRECT_ENDPOINT/$S3_BUCKET/$path?partNumber=$n&uploadId=$id" -o /dev/null
}

case "${1:-}" in
start) start ;;
stop) stop ;;
yaml) load_state && yaml ;;
env) load_state && print_env ;;
uploads) load_state && uploads "${2:-}" ;;
orphan) load_state && orphan "${2:-}" "${3:-0}" ;;
part) load_state && part "${2:-}" "${3:-}" "${4:-}" ;;
*) usage ;;
esac
