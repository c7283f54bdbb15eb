#!/usr/bin/env bash
# Smoke check of tests/backends/: s3.sh with moto (and s3s-fs when it is installed) and
# faultproxy.py in front of it, driven with curl. Everything runs on 127.0.0.1, in its own
# state directory, and is stopped at the end. The last line is `N passed, M failed`.
#
#   tests/backends/selftest.sh
#
# Environment:
#   SELFTEST_S3S_FS=auto|1|0  auto (default): test s3s-fs only if it is already installed;
#                             1: install it if missing (cargo, ~4 min); 0: skip it
#   SELFTEST_VERBOSE=1        show the output of passing checks too
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

S3SH="$BACKENDS_HERE/s3.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dualgate-backends-selftest.XXXXXX")
PASSED=0 FAILED=0 SKIPPED=0 LAST_OK=0 PROXY_N=0
PROXY_PIDS=()
STATES=()

cleanup() {
  local pid state
  for pid in "${PROXY_PIDS[@]}"; do stop_pid "$pid" faultproxy.py; done
  for state in "${STATES[@]}"; do BACKENDS_STATE=$state "$S3SH" stop 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

check() { # check NAME COMMAND... : run it, its output shown on failure; LAST_OK=1 or 0
  local name=$1
  shift
  if "$@" >"$WORK/check.log" 2>&1; then
    PASSED=$((PASSED + 1)) LAST_OK=1
    echo "ok   $name"
    [ "${SELFTEST_VERBOSE:-0}" = 0 ] || sed 's/^/     | /' "$WORK/check.log"
  else
    FAILED=$((FAILED + 1)) LAST_OK=0
    echo "FAIL $name"
    tail -n 20 "$WORK/check.log" | sed 's/^/     | /'
  fi
}

skip() {
  SKIPPED=$((SKIPPED + 1))
  echo "skip $*"
}

s3_start() { # s3_start NAME [VAR=VALUE...] : s3.sh start with its own state dir; fragment in $WORK/NAME.yaml
  local name=$1
  shift
  STATES+=("$WORK/state-$name")
  env -u S3_FAULT -u S3_BUCKET -u S3_REGION -u S3_ACCESS_KEY -u S3_SECRET_KEY S3_SERVER=moto \
    "$@" BACKENDS_STATE="$WORK/state-$name" \
    "$S3SH" start >"$WORK/$name.yaml" &&
    BACKENDS_STATE="$WORK/state-$name" "$S3SH" env >"$WORK/$name.env"
}

started() { s3_start "$@" && fragment_ok "$1"; }

fragment_ok() { # fragment_ok NAME : the eight lines, no prefix key, endpoint on loopback
  cat "$WORK/$1.yaml"
  [ "$(wc -l <"$WORK/$1.yaml")" = 8 ] &&
    grep -q '^  kind: s3$' "$WORK/$1.yaml" &&
    grep -q '^  endpoint: "http://127\.0\.0\.1:[0-9]*"$' "$WORK/$1.yaml" &&
    grep -q '^  bucket: "dualgate"$' "$WORK/$1.yaml" &&
    grep -q '^  path_style: true$' "$WORK/$1.yaml" &&
    ! grep -q 'prefix' "$WORK/$1.yaml"
}

proxy() { # proxy ARGS... : a fault proxy in front of moto; sets FP_PID, FP_PORT, FP_STATS
  PROXY_N=$((PROXY_N + 1))
  FP_STATS="$WORK/fp-$PROXY_N.json"
  start_faultproxy "$MOTO_PORT" "$WORK/fp-$PROXY_N.out" --duration 120 --stats-file "$FP_STATS" "$@" ||
    return 1
  PROXY_PIDS+=("$FP_PID")
}

end_proxy() { stop_pid "$FP_PID" faultproxy.py; }

stat_of() { # stat_of KEY : a value of the last proxy's JSON stats (faults.reset, bytes_down, ...)
  python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$FP_STATS" "$1"
}

# curl signs with SigV4 (see s3.sh for its quirks). moto checks no signature, but it answers
# 403 to an anonymous GET/HEAD/DELETE of a private object, so even moto gets signed requests.
sigv4() { # sigv4 KEY:SECRET CURL-ARGS...
  local user=$1
  shift
  curl -sS --max-time 20 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$user" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}

get() { sigv4 "$KEYS" --fail -o "$2" "$1"; }          # get URL OUT
put() { sigv4 "$KEYS" --fail -o /dev/null -T "$1" "$2"; } # put FILE URL

same() { cmp "$1" "$2"; }

# ---- the checks -----------------------------------------------------------------------------

moto_anonymous() { # what moto does with unsigned requests (the bucket was made unsigned)
  local put_code get_code
  put_code=$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' -T "$DATA" "$MOTO/dualgate/selftest/anon.bin")
  get_code=$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' "$MOTO/dualgate/selftest/anon.bin")
  echo "unsigned PUT $put_code, unsigned GET $get_code"
  get "$MOTO/dualgate/selftest/anon.bin" "$WORK/out" && same "$DATA" "$WORK/out" &&
    [ "$put_code" = 200 ] && [ "$get_code" = 403 ]
}

direct_roundtrip() {
  echo "a small object" >"$WORK/small.txt"
  put "$WORK/small.txt" "$MOTO/dualgate/selftest/small.txt" &&
    put "$DATA" "$MOTO/dualgate/selftest/direct.bin" &&
    get "$MOTO/dualgate/selftest/direct.bin" "$WORK/out" && same "$DATA" "$WORK/out"
}

proxy_passthrough() {
  proxy || return 1
  put "$DATA" "http://127.0.0.1:$FP_PORT/dualgate/selftest/proxied.bin" &&
    get "http://127.0.0.1:$FP_PORT/dualgate/selftest/proxied.bin" "$WORK/out" &&
    same "$DATA" "$WORK/out" || return 1
  end_proxy
  cat "$FP_STATS"
  [ "$(stat_of faults.reset)" = 0 ] && [ "$(stat_of bytes_down)" -gt 1048576 ] &&
    [ "$(stat_of bytes_up)" -gt 1048576 ]
}

proxy_reset_down() {
  proxy --reset-after-bytes 100000 --direction down || return 1
  local rc=0
  get "http://127.0.0.1:$FP_PORT/dualgate/selftest/direct.bin" "$WORK/out" || rc=$?
  end_proxy
  cat "$FP_STATS"
  echo "curl exit $rc, got $(stat -c %s "$WORK/out" 2>/dev/null || echo 0) bytes"
  [ "$rc" != 0 ] && [ "$(stat_of faults.reset)" = 1 ] && [ "$(stat_of bytes_down)" = 100000 ]
}

proxy_reset_up() {
  proxy --reset-after-bytes 50000 --direction up || return 1
  local rc=0
  put "$DATA" "http://127.0.0.1:$FP_PORT/dualgate/selftest/cut.bin" || rc=$?
  end_proxy
  cat "$FP_STATS"
  echo "curl exit $rc"
  [ "$rc" != 0 ] && [ "$(stat_of faults.reset)" = 1 ] && [ "$(stat_of bytes_up)" = 50000 ]
}

proxy_stall() {
  proxy --stall-after-bytes 1000 --direction down || return 1
  local rc=0 t0=$SECONDS
  sigv4 "$KEYS" --max-time 3 -o "$WORK/out" "http://127.0.0.1:$FP_PORT/dualgate/selftest/direct.bin" || rc=$?
  kill -USR1 "$FP_PID"
  sleep 0.3
  cat "$FP_STATS"
  echo "curl exit $rc after $((SECONDS - t0))s"
  [ "$rc" = 28 ] && [ "$(stat_of faults.stall)" = 1 ] && [ "$(stat_of bytes_down)" = 1000 ] || return 1
  end_proxy
}

proxy_selected_connections() { # the 2nd connection only: 4 GETs -> ok, fail, ok, ok
  proxy --reset-after-bytes 100000 --direction down --every-nth-connection 2 \
    --faulty-connections 1 || return 1
  local i results=""
  for i in 1 2 3 4; do
    if get "http://127.0.0.1:$FP_PORT/dualgate/selftest/direct.bin" "$WORK/out" 2>/dev/null &&
      same "$DATA" "$WORK/out"; then results+="ok "; else results+="fail "; fi
  done
  end_proxy
  echo "results: $results"
  [ "$results" = "ok fail ok ok " ] && [ "$(stat_of faults.reset)" = 1 ]
}

proxy_drop_every() { # 3 GETs -> ok, fail, ok
  proxy --drop-every 2 || return 1
  local i results=""
  for i in 1 2 3; do
    if get "http://127.0.0.1:$FP_PORT/dualgate/selftest/direct.bin" "$WORK/out" 2>/dev/null; then
      results+="ok "
    else results+="fail "; fi
  done
  end_proxy
  echo "results: $results"
  [ "$results" = "ok fail ok " ] && [ "$(stat_of faults.drop)" = 1 ] && [ "$(stat_of connections)" = 3 ]
}

proxy_delay() {
  proxy --delay-ms 300 --delay-connect-ms 200 || return 1
  local took
  took=$(sigv4 "$KEYS" --fail -o /dev/null -w '%{time_total}' "http://127.0.0.1:$FP_PORT/dualgate/selftest/small.txt") ||
    return 1
  end_proxy
  echo "GET took ${took}s"
  python3 -c 'import sys; sys.exit(0 if 0.8 <= float(sys.argv[1]) < 10 else 1)' "$took"
}

proxy_data_ports() { # moto's port on 127.0.0.2 as a "data port": 2 GETs -> ok, dropped
  proxy --listen-host 127.0.0.2 --data-ports "$MOTO_PORT-$MOTO_PORT" --faults-on data --drop-every 2 ||
    return 1
  local rc=0
  get "http://127.0.0.2:$MOTO_PORT/dualgate/selftest/direct.bin" "$WORK/out" && same "$DATA" "$WORK/out" ||
    return 1
  get "http://127.0.0.2:$MOTO_PORT/dualgate/selftest/direct.bin" "$WORK/out" || rc=$?
  end_proxy
  cat "$FP_STATS"
  echo "second GET: curl exit $rc"
  [ "$rc" != 0 ] && [ "$(stat_of by_kind.data.connections)" = 2 ] && [ "$(stat_of by_kind.data.drop)" = 1 ] &&
    [ "$(stat_of by_kind.control.connections)" = 0 ]
}

proxy_refuses_remote() {
  local rc=0
  python3 "$BACKENDS_HERE/faultproxy.py" --listen 0 --target 192.0.2.1:80 --duration 1 \
    >"$WORK/remote.out" 2>&1 || rc=$?
  cat "$WORK/remote.out"
  [ "$rc" = 2 ] && ! grep -q '^LISTEN' "$WORK/remote.out" && grep -q loopback "$WORK/remote.out"
}

proxy_duration() {
  local t0=$SECONDS rc=0
  timeout 10 python3 "$BACKENDS_HERE/faultproxy.py" --listen 0 --target "$MOTO_PORT" --duration 1 \
    --stats-file "$WORK/dur.json" >"$WORK/dur.out" 2>&1 || rc=$?
  echo "exit $rc after $((SECONDS - t0))s"
  cat "$WORK/dur.out"
  [ "$rc" = 0 ] && head -n 1 "$WORK/dur.out" | grep -q '^LISTEN [0-9]*$' && [ -s "$WORK/dur.json" ]
}

uploads_counted() { # 0, then 1 after CreateMultipartUpload, 0 after AbortMultipartUpload
  local n0 n1 n2 id
  n0=$(BACKENDS_STATE="$WORK/state-moto" "$S3SH" uploads | head -n 1)
  id=$(curl -sS --fail --max-time 20 -X POST "$MOTO/dualgate/selftest/mpu.bin?uploads" | # unsigned
    sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p')
  n1=$(BACKENDS_STATE="$WORK/state-moto" "$S3SH" uploads selftest/ | head -n 1)
  curl -sS --fail --max-time 20 -X DELETE "$MOTO/dualgate/selftest/mpu.bin?uploadId=$id" || return 1
  n2=$(BACKENDS_STATE="$WORK/state-moto" S3_UPLOADS_CLIENT=curl "$S3SH" uploads | head -n 1)
  echo "uploads: before $n0, after create $n1, after abort $n2 (upload id $id)"
  [ "$n0" = 0 ] && [ "$n1" = 1 ] && [ "$n2" = 0 ]
}

s3sh_with_fault() { # S3_FAULT via s3.sh: first GET through the endpoint cut, the retry whole
  s3_start faulty S3_FAULT="--reset-after-bytes 100000 --direction down --faulty-connections 1" ||
    return 1
  fragment_ok faulty || return 1
  # shellcheck disable=SC1091
  . "$WORK/faulty.env"
  [ "$S3_ENDPOINT" != "$S3_DIRECT_ENDPOINT" ] || return 1
  put "$DATA" "$S3_DIRECT_ENDPOINT/dualgate/f.bin" || return 1
  if get "$S3_ENDPOINT/dualgate/f.bin" "$WORK/out"; then echo "first GET was not cut"; return 1; fi
  get "$S3_ENDPOINT/dualgate/f.bin" "$WORK/out" && same "$DATA" "$WORK/out" || return 1
  BACKENDS_STATE="$WORK/state-faulty" "$S3SH" stop || return 1
  ! kill -0 "$S3_FAULT_PID" 2>/dev/null && ! kill -0 "$S3_PID" 2>/dev/null && [ ! -e "$S3_DIR" ]
}

stopped_clean() { # stop_state NAME : its processes are gone, its directory and state file too
  # shellcheck disable=SC1090
  . "$WORK/$1.env"
  BACKENDS_STATE="$WORK/state-$1" "$S3SH" stop || return 1
  ! kill -0 "$S3_PID" 2>/dev/null && [ ! -e "$S3_DIR" ] && [ ! -e "$WORK/state-$1/s3.env" ]
}

# ---- s3s-fs (signed requests) ---------------------------------------------------------------

s3s_curl_signed() {
  local code
  code=$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' "$FS/dualgate/x.bin")
  echo "unsigned GET: $code"
  [ "$code" = 403 ] || return 1
  sigv4 "$FS_KEYS" --fail -o /dev/null -T "$DATA" "$FS/dualgate/s/signed.bin" &&
    sigv4 "$FS_KEYS" --fail -o "$WORK/out" "$FS/dualgate/s/signed.bin" && same "$DATA" "$WORK/out" ||
    return 1
  code=$(sigv4 "${FS_KEYS%%:*}:wrong-secret" -o /dev/null -w '%{http_code}' "$FS/dualgate/s/signed.bin")
  echo "wrong secret: $code"
  [ "$code" = 403 ]
}

s3s_boto3() {
  python3 - "$FS" "${FS_KEYS%%:*}" "${FS_KEYS#*:}" "$DATA" <<'PY'
import sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, key_id, secret, data = sys.argv[1:5]
cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, read_timeout=20)
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                  aws_secret_access_key=secret, config=cfg)
body = open(data, "rb").read()
s3.put_object(Bucket="dualgate", Key="b/odd key+%.bin", Body=body)
assert s3.get_object(Bucket="dualgate", Key="b/odd key+%.bin")["Body"].read() == body
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="dualgate", Prefix="b/").get("Contents", [])]
print("listed", keys)
if keys != ["b/odd key+%.bin"]:
    print("note: the key comes back changed (s3s-fs ignores encoding-type=url, boto3 decodes)")
bad = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                   aws_secret_access_key="wrong", config=cfg)
try:
    bad.head_object(Bucket="dualgate", Key="b/odd key+%.bin")
    sys.exit("a wrong secret was accepted")
except ClientError as e:
    print("wrong secret:", e.response["ResponseMetadata"]["HTTPStatusCode"])
PY
}

s3s_through_proxy() { # signed PUT/GET through a pass-through proxy, then a cut GET
  start_faultproxy "${FS##*:}" "$WORK/fp-s3s.out" --duration 60 --reset-after-bytes 100000 \
    --direction down --every-nth-connection 3 || return 1
  PROXY_PIDS+=("$FP_PID")
  local via="http://127.0.0.1:$FP_PORT" rc=0
  sigv4 "$FS_KEYS" --fail -o /dev/null -T "$DATA" "$via/dualgate/p.bin" &&
    sigv4 "$FS_KEYS" --fail -o "$WORK/out" "$via/dualgate/p.bin" && same "$DATA" "$WORK/out" ||
    return 1
  sigv4 "$FS_KEYS" --fail -o "$WORK/out" "$via/dualgate/p.bin" || rc=$?
  stop_pid "$FP_PID" faultproxy.py
  echo "third GET: curl exit $rc"
  [ "$rc" != 0 ]
}

s3s_uploads_501() {
  local rc=0
  BACKENDS_STATE="$WORK/state-s3s" "$S3SH" uploads || rc=$?
  echo "exit $rc"
  [ "$rc" = 2 ]
}

# ---- run ------------------------------------------------------------------------------------

DATA="$WORK/data.bin"
head -c 1048576 /dev/urandom >"$DATA"

check "moto: s3.sh start prints the fragment" started moto
if [ "$LAST_OK" = 1 ]; then
  # shellcheck disable=SC1091
  . "$WORK/moto.env"
  MOTO=$S3_DIRECT_ENDPOINT
  MOTO_PORT=$S3_PORT
  KEYS="$S3_ACCESS_KEY:$S3_SECRET_KEY"
  check "moto: unsigned PUT 200, unsigned GET 403 (private object), signed GET 200" moto_anonymous
  check "moto: PUT/GET 1 MiB directly" direct_roundtrip
  check "faultproxy: pass-through PUT/GET 1 MiB" proxy_passthrough
  check "faultproxy: --reset-after-bytes 100000 --direction down cuts a GET" proxy_reset_down
  check "faultproxy: --reset-after-bytes 50000 --direction up cuts a PUT" proxy_reset_up
  check "faultproxy: --stall-after-bytes 1000 times a GET out; SIGUSR1 stats" proxy_stall
  check "faultproxy: --every-nth-connection 2 --faulty-connections 1" proxy_selected_connections
  check "faultproxy: --drop-every 2" proxy_drop_every
  check "faultproxy: --delay-ms 300 --delay-connect-ms 200 (small GET >= 0.8 s)" proxy_delay
  check "faultproxy: --data-ports on 127.0.0.2 forwards port for port, faults on data" proxy_data_ports
  check "faultproxy: non-loopback target refused" proxy_refuses_remote
  check "faultproxy: --duration 1 ends it, stats written" proxy_duration
  check "s3.sh uploads: 0, 1 after create, 0 after abort" uploads_counted
  check "s3.sh with S3_FAULT: endpoint is the proxy; stop ends both" s3sh_with_fault
  check "s3.sh stop: processes, directory and state gone" stopped_clean moto
else
  skip "the moto and faultproxy checks: moto did not start"
fi

s3s_mode=${SELFTEST_S3S_FS:-auto}
have_s3s=0
if [ -n "${S3S_FS_BIN:-}" ] || command -v s3s-fs >/dev/null 2>&1 || [ -x "$TEST_CACHE/bin/s3s-fs" ]; then
  have_s3s=1
fi
if [ "$s3s_mode" = 0 ]; then
  skip "s3s-fs (SELFTEST_S3S_FS=0)"
elif [ "$have_s3s" = 0 ] && [ "$s3s_mode" != 1 ]; then
  skip "s3s-fs: not installed (SELFTEST_S3S_FS=1 installs it, ~4 min)"
else
  check "s3s-fs: s3.sh start prints the fragment" started s3s S3_SERVER=s3s-fs
fi
if [ "$s3s_mode" != 0 ] && [ "${LAST_OK:-0}" = 1 ] && [ -s "$WORK/s3s.env" ]; then
  # shellcheck disable=SC1091
  . "$WORK/s3s.env"
  FS=$S3_DIRECT_ENDPOINT
  FS_KEYS="$S3_ACCESS_KEY:$S3_SECRET_KEY"
  check "s3s-fs: unsigned refused, curl SigV4 PUT/GET, wrong secret refused" s3s_curl_signed
  if python3 -c 'import boto3' 2>/dev/null; then
    check "s3s-fs: boto3 PUT/GET/list of an odd key, wrong secret refused" s3s_boto3
  else
    skip "s3s-fs boto3 check: python3 has no boto3"
  fi
  check "s3s-fs: signed requests through faultproxy, 3rd connection cut" s3s_through_proxy
  check "s3s-fs: s3.sh uploads exits 2 (ListMultipartUploads is 501)" s3s_uploads_501
  check "s3s-fs: s3.sh stop" stopped_clean s3s
fi

echo "$SKIPPED skipped"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
