#!/usr/bin/env bash
# A smoke run of every kind of request the S3 back-end sends, through the real gateway
# and curl, against the store whose `storage:` fragment is in $DUALGATE_TEST_STORAGE.
# Meant for stores that check SigV4 signatures (s3s-fs), where a wrongly signed request
# of any kind fails: HeadObject, ranged GetObject, PutObject, the multipart calls
# (create, upload, UploadPartCopy, complete, abort), ListObjectsV2, CopyObject and
# DeleteObject. Files stay at the top of the home, so it also runs on stores that keep
# no empty-directory markers (s3s-fs). Prints `N passed, M failed` last.
#
#   DUALGATE_TEST_STORAGE=/path/fragment.yaml tests/backends/store_smoke.sh
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/../.."
LIMIT=60
WORK=$(mktemp -d)
# shellcheck source=../interop/lib.sh
. tests/interop/lib.sh
trap 'stop_gateways; rm -rf "$WORK"' EXIT
BIN=${DUALGATE_BIN:-target/debug/dualgate}
[ -x "$BIN" ] || cargo build --locked --bin dualgate >/dev/null 2>&1 || { echo "0 passed, 1 failed"; exit 1; }
[ -r "${DUALGATE_TEST_STORAGE:-}" ] || { echo "DUALGATE_TEST_STORAGE must name a storage fragment"; echo "0 passed, 1 failed"; exit 1; }

PASSWORD=smoke-$RANDOM$RANDOM
PREFIX="smoke-$$-$RANDOM/"
{
  cat "$DUALGATE_TEST_STORAGE"
  echo "  prefix: \"$PREFIX\""
  echo "  part_size: 5MiB"
} >"$WORK/config.yaml"
start_gateway smoke -c "$WORK/config.yaml" --passive-ports 49100-49199 || { echo "0 passed, 1 failed"; exit 1; }
FTP="ftp://dualgate:$PASSWORD@$(listen_addr smoke ftp)"
HTTP="http://$(listen_addr smoke http)"
H=(-sS -u "dualgate:$PASSWORD")

head -c 13000000 /dev/urandom >"$WORK/big.bin"    # three 5 MiB parts: multipart
head -c 7000000 "$WORK/big.bin" >"$WORK/head.bin" # the part a resume keeps
printf 'small file\n' >"$WORK/small.txt"

check "PutObject (FTP STOR of a small file)" curl -sS -T "$WORK/small.txt" "$FTP/small.txt"
check "HeadObject + GetObject (HTTP GET)" bash -c "curl ${H[*]} '$HTTP/small.txt' | cmp - '$WORK/small.txt'"
check "multipart upload (HTTP PUT of 13 MB)" bash -c "curl ${H[*]} -f -T '$WORK/big.bin' '$HTTP/big.bin'"
check "ranged GetObject (HTTP Range)" bash -c "curl ${H[*]} -r 6000000-6000099 '$HTTP/big.bin' | cmp - <(tail -c +6000001 '$WORK/big.bin' | head -c 100)"
check "ListObjectsV2 (FTP NLST)" bash -c "curl -sS -l '$FTP/' | sort | tr '\n' ' ' | grep -qx 'big.bin small.txt '"
check "UploadPartCopy (FTP REST + STOR resume)" bash -c "curl -sS -T '$WORK/head.bin' '$FTP/resumed.bin' && curl -sS -C - -T '$WORK/big.bin' '$FTP/resumed.bin' && curl ${H[*]} '$HTTP/resumed.bin' | cmp - '$WORK/big.bin'"
check "append (FTP APPE)" bash -c "curl -sS -a -T '$WORK/small.txt' '$FTP/small.txt' && curl ${H[*]} '$HTTP/small.txt' | cmp - <(cat '$WORK/small.txt' '$WORK/small.txt')"
check "CopyObject (WebDAV COPY)" bash -c "curl ${H[*]} -f -X COPY -H 'Destination: $HTTP/copy.bin' '$HTTP/big.bin' && curl ${H[*]} '$HTTP/copy.bin' | cmp - '$WORK/big.bin'"
check "CopyObject + DeleteObject (FTP RNFR/RNTO)" bash -c "curl -sS -Q 'RNFR copy.bin' -Q 'RNTO moved.bin' '$FTP/' >/dev/null && curl ${H[*]} '$HTTP/moved.bin' | cmp - '$WORK/big.bin' && [ \"\$(curl ${H[*]} -o /dev/null -w '%{http_code}' '$HTTP/copy.bin')\" = 404 ]"
check "DeleteObject (HTTP DELETE)" bash -c "[ \"\$(curl ${H[*]} -o /dev/null -w '%{http_code}' -X DELETE '$HTTP/moved.bin')\" = 204 ] && [ \"\$(curl ${H[*]} -o /dev/null -w '%{http_code}' '$HTTP/moved.bin')\" = 404 ]"
# An upload cut off mid-body (the client goes away before its Content-Length is
# reached): the multipart upload is aborted and the old object stays. (Not curl: at
# its --max-time it ends a chunked upload with the closing chunk, a complete body.)
cut_put() { # cut_put PATH FILE SENT : PUT FILE's size as Content-Length, send SENT bytes, close
  python3 - "$(listen_addr smoke http)" "$1" "$2" "$3" "$PASSWORD" <<'PY'
import base64, socket, sys
addr, path, file, sent, password = sys.argv[1:]
host, port = addr.rsplit(":", 1)
data = open(file, "rb").read()
auth = base64.b64encode(f"dualgate:{password}".encode()).decode()
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
          f"Content-Length: {len(data)}\r\n\r\n".encode() + data[: int(sent)])
s.close()
PY
}
check "AbortMultipartUpload (a PUT cut off mid-body)" bash -c "
  $(declare -f cut_put listen_addr); WORK='$WORK' PASSWORD='$PASSWORD' cut_put /big.bin '$WORK/big.bin' 11000000
  sleep 2; curl ${H[*]} '$HTTP/big.bin' | cmp - '$WORK/big.bin' && ! grep -q 'could not abort' '$WORK/smoke.err'"
check "the gateway's log has no storage error" bash -c "! grep -i 'SignatureDoesNotMatch\|AccessDenied' '$WORK/smoke.err'"

# No multipart upload left pending under this run's prefix, where the store can list
# them (s3s-fs cannot: 501, said and not counted).
uploads=$(tests/backends/s3.sh uploads "$PREFIX" 2>"$WORK/uploads.err"); status=$?
if [ "$status" = 2 ]; then
  echo "note: this store cannot list multipart uploads; the leftover check did not run ($(tail -n 1 "$WORK/uploads.err"))"
else
  check "no multipart upload left pending" test "$status:$(head -n 1 <<<"$uploads")" = "0:0"
  # The sweeper: an upload silent for longer than stale_uploads_after (a lost
  # CreateMultipartUpload answer leaves one the gateway never heard of) is aborted, with
  # or without parts; a live one (another replica's long upload, still getting parts)
  # is kept until it too falls silent for that long.
  SWEPT="sweep-$$-$RANDOM/"
  old_id=$(tests/backends/s3.sh orphan "${SWEPT}old.bin" 1)
  old_bare=$(tests/backends/s3.sh orphan "${SWEPT}dir/bare.bin")
  sleep 5
  live_id=$(tests/backends/s3.sh orphan "${SWEPT}live.bin" 1)
  feed_live() { # one more part every second, while $WORK/feeding exists (at most 60 s)
    local n=2
    while [ -e "$WORK/feeding" ] && [ "$n" -le 60 ]; do
      tests/backends/s3.sh part "${SWEPT}live.bin" "$live_id" "$n" || return 1
      n=$((n + 1)); sleep 1
    done
  }
  touch "$WORK/feeding"
  feed_live &
  feeder=$!
  {
    cat "$DUALGATE_TEST_STORAGE"
    echo "  prefix: \"$SWEPT\""
    echo "  stale_uploads_after: 4s"
    echo "limits: { data_timeout: 1s }"
  } >"$WORK/sweep.yaml"
  pending() { # pending EXPECTED TRIES : wait (bounded) until the pending ids are EXPECTED
    local left
    for _ in $(seq "$2"); do
      left=$(tests/backends/s3.sh uploads "$SWEPT" | tail -n +2 | cut -d' ' -f2 | sort | tr '\n' ' ')
      [ "$left" = "$1" ] && return 0
      sleep 0.5
    done
    echo "pending: '$left', expected '$1' (stale: $old_id $old_bare)"
    return 1
  }
  start_gateway sweep -c "$WORK/sweep.yaml" --passive-ports 49200-49209
  check "the sweeper aborts uploads silent past stale_uploads_after, keeps one still fed" \
    pending "$live_id " 30
  check "the upload still fed is kept across sweeps" bash -c "sleep 6; $(declare -f pending); \
    SWEPT='$SWEPT' pending '$live_id ' 1"
  rm -f "$WORK/feeding"
  wait "$feeder"
  check "once silent that long too, it is aborted" pending "" 40
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
