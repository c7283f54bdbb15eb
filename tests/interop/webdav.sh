#!/usr/bin/env bash
# WebDAV and HTTP interoperability: the real dualgate binary against real clients —
# litmus (the basic, copymove, props, locks and http suites must pass) and cadaver (a scripted
# session with the login in ~/.netrc), each against a server with anonymous access off
# and one with it on (where they log in only once challenged), rclone's
# :webdav: back-end (copy up and down, lsjson, check, delete, purge), curl (OPTIONS,
# PROPFIND, ranges, conditionals, COPY/MOVE/MKCOL status codes, Basic auth), wget
# (recursive mirror of the HTML listing), the same files across FTP and WebDAV, and a
# davfs2 mount (copy, edit in place, rename, delete; a file davfs2 holds open is locked
# against FTP) — with every transferred file compared by SHA-256. Loopback only; every client call
# has a time limit. Installs missing clients from Debian when run as root.
#
# Usage: tests/interop/webdav.sh [path/to/dualgate]   (default: target/debug/dualgate, built if missing)
# With DUALGATE_TEST_STORAGE=<storage fragment> (tests/backends/s3.sh start) the gateways
# serve that S3-compatible store (rename_dirs: recursive, so collections move), and what
# they wrote is read from the bucket; with a fragment of tests/backends/upstream_ftp.sh
# start they serve that upstream FTP server, and what they wrote is read from its disk.
# Checks a store or an FTP server cannot pass (dead properties) say `skip (s3): ...` or
# `skip (upstream_ftp): ...`. KEEP_WORK=1 keeps the logs.
# Prints one line per check and a closing "N passed, N failed" line; exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/interop/lib.sh

BIN=${1:-target/debug/dualgate}
LIMIT=${INTEROP_TIMEOUT:-60}

if ! need litmus || ! need cadaver || ! need rclone || ! need wget || ! need curl; then
  if [ "$(id -u)" = 0 ] && need apt-get; then
    echo "== installing clients (litmus cadaver rclone wget curl)"
    apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq litmus cadaver rclone wget curl >/dev/null
  fi
fi
for tool in litmus cadaver rclone wget curl python3; do
  need "$tool" || { echo "missing client: $tool (install it, or run as root to let this script install it)"; echo "0 passed, 1 failed"; exit 1; }
done
[ -x "$BIN" ] || cargo build --quiet --bin dualgate || exit 1
# Loopback only: no client may go through a proxy from the environment.
unset http_proxy https_proxy ftp_proxy all_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY

WORK=$(mktemp -d)
DAVFS_MNT=
cleanup() {
  if [ -n "$DAVFS_MNT" ] && mountpoint -q "$DAVFS_MNT"; then timeout 30 umount "$DAVFS_MNT"; fi
  stop_gateways
  remove_work
}
trap cleanup EXIT


# A tree with awkward names and sizes: empty, small, 5 MiB, spaces, UTF-8, nesting.
SRC=$WORK/src
mkdir -p "$SRC/sub dir/deeper" "$SRC/ünïcødé"
: >"$SRC/empty.txt"
printf 'line one\nline two\n' >"$SRC/small.txt"
head -c 5242880 /dev/urandom >"$SRC/sub dir/five-mib.bin"
head -c 123457 /dev/urandom >"$SRC/sub dir/deeper/odd name #1 & (x).bin"
printf 'grüße\n' >"$SRC/ünïcødé/日本.txt"
FIVE="$SRC/sub dir/five-mib.bin"

# Start the gateway on free loopback ports; read the addresses from its start-up block.
ROOT=$WORK/root
PASSWORD=interop-$RANDOM$RANDOM
USER=dualgate
start_gateway server --root "$ROOT" --passive-ports 47000-47999 || { echo "0 passed, 1 failed"; exit 1; }
HTTP=$(listen_addr server http)
FTP=$(listen_addr server ftp)
BASE=http://$HTTP
echo "== dualgate at $BASE/ (ftp://$FTP)"
# The same server with anonymous read access on (home /pub): a request without
# credentials is anonymous there, so clients that send credentials only once
# challenged (litmus, cadaver with ~/.netrc) must be challenged (401) for what
# anonymous may not do, or they never log in.
ANON_ROOT=$WORK/anon-root
DUALGATE_ANONYMOUS__ENABLED=true start_gateway anon --root "$ANON_ROOT" --passive-ports 48000-48099 ||
  { echo "0 passed, 1 failed"; exit 1; }
ANON_BASE=http://$(listen_addr anon http)
echo "== dualgate with anonymous access at $ANON_BASE/"
# NAME LABEL BASE ROOT of each server litmus and cadaver run against.
DAV_SERVERS=("server" "anonymous off" "$BASE" "$ROOT" "anon" "anonymous on" "$ANON_BASE" "$ANON_ROOT")

# --- litmus ---------------------------------------------------------------------
# One run of the five suites that must pass per server (litmus writes debug.log and
# child.log into the current directory), then one check per suite on its summary line.
# litmus stops at the first suite that fails, so on a store, which keeps no dead
# properties, `props` and `locks` (whose owner_modify test needs a PROPPATCH to store a
# property) run on their own after the others: skipped as checks, their summaries (and
# which tests failed) shown. `locks` adds about a second per server.
LITMUS_SUITES=(basic copymove props locks http)
on_store && LITMUS_SUITES=(basic copymove http)
run_litmus() { # run_litmus NAME BASE [SUITES] : output in $WORK/litmus-NAME.out
  mkdir -p "$WORK/litmus-$1"
  (cd "$WORK/litmus-$1" && TESTS="${3:-${LITMUS_SUITES[*]}}" timeout "$LIMIT" litmus "$2/" "$USER" "$PASSWORD") 2>&1 |
    tr '\r' '\n' >"$WORK/litmus-$1.out"
}
litmus_suite() { # litmus_suite NAME SUITE : "<- summary for `SUITE': of N tests run: N passed, 0 failed."
  local out=$WORK/litmus-$1.out
  if grep -qE "^<- summary for \`$2': of [0-9]+ tests run: [0-9]+ passed, 0 failed\." "$out"; then
    grep "^<- summary for \`$2'" "$out"
  else
    sed -n "/^-> running \`$2'/,/^<- summary/p" "$out" | grep -E 'FAIL|WARNING|summary|running' ||
      tail -n 15 "$out"
    return 1
  fi
}
for ((i = 0; i < ${#DAV_SERVERS[@]}; i += 4)); do
  name=${DAV_SERVERS[i]} label=${DAV_SERVERS[i + 1]} base=${DAV_SERVERS[i + 2]}
  run_litmus "$name" "$base"
  for suite in "${LITMUS_SUITES[@]}"; do
    check "litmus ($label): $suite suite, 0 failed" litmus_suite "$name" "$suite"
  done
  grep 'WARNING' "$WORK/litmus-$name.out" | sed "s/^ */info litmus ($label) /" # not failures; shown so they are seen
  if on_store; then
    for suite in props locks; do
      skip "litmus ($label): $suite suite, 0 failed" "a store or an upstream FTP server keeps no WebDAV dead properties (PROPPATCH answers 403 for each)"
      run_litmus "$name-$suite" "$base" "$suite"
      echo "info litmus ($label) $suite on $STORAGE_KIND: $(grep -h "^<- summary for \`$suite'" "$WORK/litmus-$name-$suite.out")" \
        "— failing tests: $(sed -n 's/^ *[0-9]*\. \([a-z_]*\)\.* FAIL.*/\1/p' "$WORK/litmus-$name-$suite.out" | tr '\n' ' ')"
    done
  fi
done

# --- cadaver --------------------------------------------------------------------
# Non-interactive: commands on standard input, the login in ~/.netrc of a temporary HOME
# (netrc names the host, not the port: one entry serves both servers).
mkdir -p "$WORK/home"
printf 'machine %s\nlogin %s\npassword %s\n' "${HTTP%:*}" "$USER" "$PASSWORD" >"$WORK/home/.netrc"
chmod 600 "$WORK/home/.netrc"
cadaver_session() { # cadaver_session NAME BASE : in $WORK/cadaver-NAME, transcript in $WORK/cadaver-NAME.log
  local dir=$WORK/cadaver-$1 log=$WORK/cadaver-$1.log
  (cd "$dir" && HOME=$WORK/home timeout "$LIMIT" cadaver "$2/" <<'EOF'
mkcol cadaver
cd cadaver
put payload.bin
ls
copy payload.bin copy.bin
move copy.bin moved.bin
ls
get moved.bin back.bin
delete payload.bin
delete moved.bin
cd ..
rmcol cadaver
quit
EOF
  ) >"$log" 2>&1
  local status=$?
  cat "$log"
  [ "$status" = 0 ] || return 1
  # Ten operations report "succeeded" (mkcol put ls copy move ls get delete delete rmcol).
  ! grep -qiE 'failed|error|denied|unauthori[sz]ed|could not' "$log" &&
    [ "$(grep -c 'succeeded' "$log")" = 10 ] &&
    grep -qE '^ +moved\.bin +1048576 ' "$log"
}
for ((i = 0; i < ${#DAV_SERVERS[@]}; i += 4)); do
  name=${DAV_SERVERS[i]} label=${DAV_SERVERS[i + 1]} base=${DAV_SERVERS[i + 2]} root=${DAV_SERVERS[i + 3]}
  mkdir -p "$WORK/cadaver-$name"
  head -c 1048576 /dev/urandom >"$WORK/cadaver-$name/payload.bin"
  check "cadaver ($label): mkcol, put, ls, copy, move, get, delete, rmcol (netrc login, no failure in the transcript)" \
    cadaver_session "$name" "$base"
  check "cadaver ($label): the file got back is identical" \
    same_file "$WORK/cadaver-$name/payload.bin" "$WORK/cadaver-$name/back.bin"
  check "cadaver ($label): the collection is gone" stored_absent "$root/cadaver"
done

# --- rclone :webdav: ------------------------------------------------------------
export RCLONE_CONFIG=/dev/null
RCLONE=(rclone --contimeout 10s --timeout 30s --webdav-url "$BASE/" --webdav-user "$USER"
  --webdav-pass "$(rclone obscure "$PASSWORD")" --webdav-vendor other)
rclone_sizes() { # every local file listed by lsjson -R with its size, nothing more
  timeout "$LIMIT" "${RCLONE[@]}" lsjson -R --files-only :webdav:rclone >"$WORK/lsjson.json" || return 1
  python3 - "$SRC" "$WORK/lsjson.json" <<'PY'
import json, os, sys
src, listing = sys.argv[1], sys.argv[2]
local = {}
for d, _, files in os.walk(src):
    for f in files:
        p = os.path.join(d, f)
        local[os.path.relpath(p, src)] = os.path.getsize(p)
remote = {e["Path"]: e["Size"] for e in json.load(open(listing, encoding="utf-8"))}
assert remote == local, f"remote {remote} != local {local}"
print(len(remote), "files, sizes match")
PY
}
rclone_delete() {
  timeout "$LIMIT" "${RCLONE[@]}" deletefile :webdav:rclone/small.txt || return 1
  timeout "$LIMIT" "${RCLONE[@]}" purge ":webdav:rclone/sub dir" || return 1
  timeout "$LIMIT" "${RCLONE[@]}" lsf -R :webdav:rclone >"$WORK/lsf.txt" || return 1
  cat "$WORK/lsf.txt"
  ! grep -qE '^(small\.txt|sub dir/)' "$WORK/lsf.txt" && grep -qx 'empty.txt' "$WORK/lsf.txt" &&
    stored_absent "$ROOT/rclone/small.txt" && stored_absent "$ROOT/rclone/sub dir" && stored_exists "$ROOT/rclone/empty.txt"
}
check "rclone: copy up" "${RCLONE[@]}" copy "$SRC" :webdav:rclone
check "rclone: uploaded tree is identical in storage" stored_same_tree "$SRC" "$ROOT/rclone"
check "rclone: lsjson -R lists every file with its size" rclone_sizes
check "rclone: check --download (local against remote)" "${RCLONE[@]}" check --download "$SRC" :webdav:rclone
check "rclone: copy down" "${RCLONE[@]}" copy :webdav:rclone "$WORK/rclone-down"
check "rclone: downloaded tree is identical" same_tree "$SRC" "$WORK/rclone-down"
check "rclone: deletefile and purge (a file and a directory are gone)" rclone_delete

# --- curl: WebDAV and HTTP semantics ---------------------------------------------
dav() { timeout "$LIMIT" curl -sS -u "$USER:$PASSWORD" "$@"; }
code() { dav -o /dev/null -w '%{http_code}' "$@"; }
status_is() { # status_is CODE CURL-ARGS... : the response status is CODE
  local want=$1 got; shift
  got=$(code "$@") || return 1
  [ "$got" = "$want" ] || { echo "expected $want, got $got: curl $*"; return 1; }
}
head -c 1000 /dev/urandom >"$WORK/ranges.bin"
printf 'keep me\n' >"$WORK/keep.txt"
curl_setup() { # MKCOL, PUT (201 new, 204 replaced), PUT into a missing parent (409)
  status_is 201 -X MKCOL "$BASE/curl" &&
    status_is 201 -X MKCOL "$BASE/curl/sub%20dir" &&
    status_is 201 -T "$WORK/ranges.bin" "$BASE/curl/ranges.bin" &&
    status_is 201 -T "$WORK/keep.txt" "$BASE/curl/%C3%BC%20space.txt" &&
    status_is 204 -T "$WORK/keep.txt" "$BASE/curl/%C3%BC%20space.txt" &&
    status_is 409 -T "$WORK/keep.txt" "$BASE/curl/missing/x.txt" &&
    stored_cmp "$ROOT/curl/ranges.bin" "$WORK/ranges.bin" && stored_cmp "$ROOT/curl/ü space.txt" "$WORK/keep.txt"
}
curl_options() {
  dav -i -X OPTIONS "$BASE/" | tr -d '\r' >"$WORK/options.txt" || return 1
  cat "$WORK/options.txt"
  grep -qiE '^dav: *1( *,.*)?$' "$WORK/options.txt" && grep -qiE '^allow:.*\bPROPFIND\b' "$WORK/options.txt"
}
curl_propfind() {
  dav -X PROPFIND -H 'Depth: 1' -o "$WORK/propfind.xml" -w '%{http_code}\n' "$BASE/curl/" >"$WORK/propfind.code" || return 1
  cat "$WORK/propfind.code" "$WORK/propfind.xml"
  [ "$(cat "$WORK/propfind.code")" = 207 ] || return 1
  python3 -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.stdin)' <"$WORK/propfind.xml" || return 1
  python3 - "$WORK/propfind.xml" <<'PY'
import sys, urllib.parse, xml.dom.minidom
doc = xml.dom.minidom.parse(sys.argv[1])
hrefs = sorted(urllib.parse.unquote(urllib.parse.urlsplit(h.firstChild.data).path)
               for h in doc.getElementsByTagNameNS("DAV:", "href"))
want = sorted(["/curl/", "/curl/sub dir/", "/curl/ranges.bin", "/curl/ü space.txt"])
assert hrefs == want, f"hrefs {hrefs} != {want}"
PY
}
curl_infinity() {
  dav -X PROPFIND -o "$WORK/infinity.xml" -w '%{http_code}\n' "$BASE/curl/" >"$WORK/infinity.code" || return 1
  cat "$WORK/infinity.code" "$WORK/infinity.xml"
  [ "$(cat "$WORK/infinity.code")" = 403 ] && grep -q 'propfind-finite-depth' "$WORK/infinity.xml" &&
    python3 -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.stdin)' <"$WORK/infinity.xml"
}
curl_multirange() {
  dav -r 0-9,20-29 -D "$WORK/mr.headers" -o "$WORK/mr.body" "$BASE/curl/ranges.bin" || return 1
  python3 - "$WORK/mr.headers" "$WORK/mr.body" "$WORK/ranges.bin" <<'PY'
import re, sys
head = open(sys.argv[1], "rb").read().decode("latin-1")
body, data = open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
print(head)
assert head.split()[1] == "206", "status is not 206"
ctype = re.search(r"(?im)^content-type:\s*(.*?)\s*$", head).group(1)
assert ctype.lower().startswith("multipart/byteranges"), ctype
boundary = re.search(r'boundary="?([^";]+)"?', ctype).group(1).encode()
if body.startswith(b"--" + boundary):
    body = b"\r\n" + body
chunks = body.split(b"\r\n--" + boundary)
assert chunks[-1].startswith(b"--"), "no close delimiter"
parts = []
for chunk in chunks[1:-1]:
    headers, content = chunk.split(b"\r\n\r\n", 1)
    cr = re.search(rb"(?im)^content-range:\s*bytes (\d+)-(\d+)/(\d+)\s*$", headers)
    assert cr, headers
    first, last, size = map(int, cr.groups())
    assert size == len(data) and content == data[first:last + 1], (first, last, size, content)
    parts.append((first, last))
assert parts == [(0, 9), (20, 29)], parts
print("parts", parts, "match")
PY
}
curl_single_range() {
  dav -r 5-9 -D "$WORK/sr.headers" -o "$WORK/sr.body" "$BASE/curl/ranges.bin" || return 1
  tr -d '\r' <"$WORK/sr.headers"
  head -n 1 "$WORK/sr.headers" | grep -q ' 206' &&
    grep -qi '^content-range: bytes 5-9/1000' "$WORK/sr.headers" &&
    cmp "$WORK/sr.body" <(tail -c +6 "$WORK/ranges.bin" | head -c 5)
}
curl_416() {
  dav -r 1000-2000 -D "$WORK/416.headers" -o /dev/null "$BASE/curl/ranges.bin" || return 1
  tr -d '\r' <"$WORK/416.headers"
  head -n 1 "$WORK/416.headers" | grep -q ' 416' && grep -qiE '^content-range: bytes \*/1000' "$WORK/416.headers"
}
curl_conditional_get() {
  local etag
  etag=$(dav -I "$BASE/curl/ranges.bin" | tr -d '\r' | sed -n 's/^etag: *//Ip') || return 1
  [ -n "$etag" ] || { echo "no ETag"; return 1; }
  status_is 304 -H "If-None-Match: $etag" "$BASE/curl/ranges.bin" &&
    status_is 412 -H 'If-Match: "not-the-etag"' "$BASE/curl/ranges.bin" &&
    status_is 200 -H 'If-Range: "not-the-etag"' -r 0-4 "$BASE/curl/ranges.bin" &&
    status_is 206 -H "If-Range: $etag" -r 0-4 "$BASE/curl/ranges.bin"
}
curl_overwrite_f() {
  printf 'source\n' >"$WORK/source.txt"
  status_is 201 -T "$WORK/source.txt" "$BASE/curl/source.txt" &&
    status_is 412 -X COPY -H "Destination: $BASE/curl/%C3%BC%20space.txt" -H 'Overwrite: F' "$BASE/curl/source.txt" &&
    status_is 412 -X MOVE -H "Destination: $BASE/curl/%C3%BC%20space.txt" -H 'Overwrite: F' "$BASE/curl/source.txt" &&
    stored_cmp "$ROOT/curl/ü space.txt" "$WORK/keep.txt" && stored_cmp "$ROOT/curl/source.txt" "$WORK/source.txt"
}
curl_copy_move() { # 201 new, 204 replaced (Overwrite defaults to T), 409 missing parent, 502 other host
  status_is 201 -X COPY -H "Destination: $BASE/curl/copy.txt" "$BASE/curl/source.txt" &&
    status_is 204 -X COPY -H "Destination: $BASE/curl/copy.txt" "$BASE/curl/ranges.bin" &&
    stored_cmp "$ROOT/curl/copy.txt" "$WORK/ranges.bin" &&
    status_is 201 -X MOVE -H "Destination: $BASE/curl/sub%20dir/moved.txt" "$BASE/curl/source.txt" &&
    stored_absent "$ROOT/curl/source.txt" && stored_cmp "$ROOT/curl/sub dir/moved.txt" "$WORK/source.txt" &&
    status_is 409 -X COPY -H "Destination: $BASE/curl/missing/x.txt" "$BASE/curl/copy.txt" &&
    status_is 502 -X COPY -H "Destination: http://other.invalid/x.txt" "$BASE/curl/copy.txt"
}
curl_mkcol_body() {
  status_is 415 -X MKCOL -H 'Content-Type: text/plain' --data-binary 'body' "$BASE/curl/with-body" &&
    stored_absent "$ROOT/curl/with-body"
}
curl_unauthorised() {
  timeout "$LIMIT" curl -sS -D "$WORK/401.headers" -o /dev/null -X PROPFIND -H 'Depth: 0' "$BASE/curl/" || return 1
  tr -d '\r' <"$WORK/401.headers"
  head -n 1 "$WORK/401.headers" | grep -q ' 401' && grep -qi '^www-authenticate: *Basic ' "$WORK/401.headers"
}
curl_listings() { # dir without slash -> 301 to dir/; dir/ -> HTML; Accept: application/json -> JSON
  dav -D "$WORK/301.headers" -o /dev/null "$BASE/curl/sub%20dir" || return 1
  tr -d '\r' <"$WORK/301.headers"
  head -n 1 "$WORK/301.headers" | grep -q ' 301' &&
    grep -qiE '^location: *(http://[0-9.:]+)?/curl/sub%20dir/'$'\r''?$' "$WORK/301.headers" || return 1
  dav "$BASE/curl/" >"$WORK/listing.html" || return 1
  grep -q '<a href="%C3%BC%20space.txt">ü space.txt</a>' "$WORK/listing.html" || { cat "$WORK/listing.html"; return 1; }
  dav -H 'Accept: application/json' "$BASE/curl/" >"$WORK/listing.json" || return 1
  python3 - "$WORK/listing.json" <<'PY'
import json, sys
entries = {e["name"]: (e["size"], e["is_dir"]) for e in json.load(open(sys.argv[1], encoding="utf-8"))}
assert entries.get("ü space.txt") == (8, False) and entries.get("ranges.bin") == (1000, False), entries
assert entries.get("sub dir", (0, False))[1] is True, entries
PY
}
curl_delete_collection() {
  status_is 204 -X DELETE "$BASE/curl/sub%20dir" && stored_absent "$ROOT/curl/sub dir" &&
    status_is 404 -X PROPFIND -H 'Depth: 0' "$BASE/curl/sub%20dir"
}
# RFC 9110 §13.1.1/§13.1.2: a false If-Match or If-None-Match on PUT, DELETE, COPY or
# MOVE means 412 and the method is not performed (If-None-Match: * is how a client
# creates a file without overwriting someone else's).
curl_conditional_write() {
  printf 'other\n' >"$WORK/other.txt"
  status_is 412 -T "$WORK/other.txt" -H 'If-None-Match: *' "$BASE/curl/ranges.bin"
  local a=$?
  status_is 412 -T "$WORK/other.txt" -H 'If-Match: "not-the-etag"' "$BASE/curl/ranges.bin"
  local b=$?
  status_is 412 -X DELETE -H 'If-Match: "not-the-etag"' "$BASE/curl/ranges.bin"
  local c=$?
  stored_cmp "$ROOT/curl/ranges.bin" "$WORK/ranges.bin" && [ $a$b$c = 000 ]
}
check "curl: MKCOL 201, PUT 201 new / 204 replaced / 409 missing parent" curl_setup
check "curl: OPTIONS has DAV: 1 and PROPFIND in Allow" curl_options
check "curl: PROPFIND Depth 1 is a 207 of well-formed XML listing the members" curl_propfind
check "curl: PROPFIND without Depth is 403 propfind-finite-depth" curl_infinity
check "curl: GET -r 0-9,20-29 is 206 multipart/byteranges with the right bytes" curl_multirange
check "curl: GET -r 5-9 is 206 with Content-Range and the right bytes" curl_single_range
check "curl: a range past the end is 416 with Content-Range: bytes */size" curl_416
check "curl: GET If-None-Match 304, If-Match 412, If-Range" curl_conditional_get
check "curl: COPY and MOVE with Overwrite: F onto a file are 412, nothing changes" curl_overwrite_f
check "curl: COPY 201/204, MOVE 201, 409 missing parent, 502 other host" curl_copy_move
check "curl: MKCOL with a body is 415" curl_mkcol_body
check "curl: no credentials is 401 with WWW-Authenticate: Basic" curl_unauthorised
check "curl: directory 301 to slash, HTML and JSON listings" curl_listings
check "curl: DELETE of a collection removes it recursively" curl_delete_collection
check "curl: PUT/DELETE with a false If-None-Match/If-Match are 412 and change nothing" curl_conditional_write

# --- wget: recursive mirror of the HTML listing --------------------------------------
# The listing's entry links are relative; the heading's breadcrumb links go up (-np
# keeps wget below the start); sorting is a script, not links. The listing pages
# themselves are saved as index.html and removed by --reject.
# The tree to mirror is put in place directly, not through the gateway.
stored_put_tree "$SRC" "$ROOT/mirror" >"$WORK/last.log" 2>&1 ||
  { FAILED=$((FAILED + 1)); echo "FAIL storing the tree to mirror at $ROOT/mirror"; sed 's/^/     | /' "$WORK/last.log"; }
check "wget: recursive mirror of the listing" wget -nv -r -np -nH --cut-dirs=1 -e robots=off --reject 'index.html*' \
  --user "$USER" --password "$PASSWORD" -P "$WORK/wget" "$BASE/mirror/"
check "wget: mirrored tree is identical (no listing pages left)" same_tree "$SRC" "$WORK/wget"

# --- the same files over FTP and WebDAV ------------------------------------------------
FTP_URL="ftp://$USER:$PASSWORD@$FTP"
check "cross: FTP upload (curl -T ftp://) read by WebDAV (curl)" bash -c "curl -sS --ftp-create-dirs -T '$FIVE' '$FTP_URL/cross/from-ftp.bin' &&
  curl -sS --fail -u '$USER:$PASSWORD' -o '$WORK/x1' '$BASE/cross/from-ftp.bin' && test \"\$(sha256sum <'$WORK/x1')\" = \"\$(sha256sum <'$FIVE')\""
check "cross: FTP upload read by rclone :webdav:" bash -c "$(printf '%q ' "${RCLONE[@]}") copyto :webdav:cross/from-ftp.bin '$WORK/x2' &&
  test \"\$(sha256sum <'$WORK/x2')\" = \"\$(sha256sum <'$FIVE')\""
check "cross: WebDAV upload (rclone) read by FTP (curl)" bash -c "$(printf '%q ' "${RCLONE[@]}") copyto '$FIVE' :webdav:cross/from-dav.bin &&
  curl -sS '$FTP_URL/cross/from-dav.bin' -o '$WORK/x3' && test \"\$(sha256sum <'$WORK/x3')\" = \"\$(sha256sum <'$FIVE')\""
check "cross: WebDAV PUT (curl) read by FTP (curl) in a collection made by MKCOL" bash -c "curl -sS --fail -u '$USER:$PASSWORD' -X MKCOL '$BASE/cross/made%20by%20dav' &&
  curl -sS --fail -u '$USER:$PASSWORD' -T '$SRC/ünïcødé/日本.txt' '$BASE/cross/made%20by%20dav/%E6%97%A5%E6%9C%AC.txt' &&
  curl -sS '$FTP_URL/cross/made%20by%20dav/%E6%97%A5%E6%9C%AC.txt' -o '$WORK/x4' && test \"\$(sha256sum <'$WORK/x4')\" = \"\$(sha256sum <'$SRC/ünïcødé/日本.txt')\""

# --- davfs2: a Linux mount -----------------------------------------------------------
# mount.davfs (FUSE or the coda module) needs root and /dev/fuse; where it cannot mount,
# the checks are skipped and say why. davfs2 locks a file while it is open for writing
# (use_locks 1, its default) and uploads it on close (delay_upload 0: at once). Its cache is
# the default one (/var/cache/davfs2: it runs as the user davfs2, who cannot enter $WORK).
# Every check after the mount first checks that the directory is still a mount point.
davfs2_why_not() { # prints why davfs2 cannot run here (nothing when it can)
  [ "$(id -u)" = 0 ] || { echo "mount.davfs needs root"; return; }
  if ! need mount.davfs && need apt-get; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq davfs2 >/dev/null 2>&1
  fi
  need mount.davfs || { echo "davfs2 is not installed (Debian package davfs2)"; return; }
  [ -c /dev/fuse ] || grep -qw coda /proc/filesystems || echo "no /dev/fuse and no coda kernel module"
}
WHY_NOT_DAVFS=$(davfs2_why_not)
DAVFS_CHECKS=("davfs2: mount with locks (DAV: 1, 2)" "davfs2: copy a 5 MiB file in, byte for byte"
  "davfs2: edit a file in place" "davfs2: rename and delete" "davfs2: a file held open is locked against FTP STOR (450)"
  "davfs2: unmount uploads everything; the tree is as expected")
if [ -n "$WHY_NOT_DAVFS" ]; then
  for c in "${DAVFS_CHECKS[@]}"; do skip "$c" "$WHY_NOT_DAVFS"; done
else
  DAVFS_MNT=$WORK/davfs-mnt
  mkdir -p "$DAVFS_MNT"
  printf '%s %s %s\n' "$BASE/davfs/" "$USER" "$PASSWORD" >"$WORK/davfs.secrets"
  chmod 600 "$WORK/davfs.secrets"
  cat >"$WORK/davfs2.conf" <<CONF
use_locks 1
lock_timeout 1800
delay_upload 0
secrets $WORK/davfs.secrets
CONF
  curl -sS --fail -u "$USER:$PASSWORD" -X MKCOL "$BASE/davfs/" >/dev/null
  printf 'first line\nsecond line\n' | curl -sS --fail -u "$USER:$PASSWORD" -T - "$BASE/davfs/edit.txt" >/dev/null
  printf 'to be renamed\n' | curl -sS --fail -u "$USER:$PASSWORD" -T - "$BASE/davfs/old%20name.txt" >/dev/null
  printf 'to be deleted\n' | curl -sS --fail -u "$USER:$PASSWORD" -T - "$BASE/davfs/gone.txt" >/dev/null
  # Names are reached by path, never by listing the mount: with davfs2 1.6.1 on the kernel
  # this was written on (6.18), reading a directory of the mount fails with EINVAL inside
  # davfs2's FUSE layer while its PROPFIND (Depth 1) is answered 207 — also with rclone's
  # WebDAV server in place of dualgate, so it is not the server's answer; see the README.
  davfs_mount() {
    timeout "$LIMIT" mount.davfs -o "conf=$WORK/davfs2.conf" "$BASE/davfs/" "$DAVFS_MNT" </dev/null &&
      mountpoint -q "$DAVFS_MNT" && stat "$DAVFS_MNT/edit.txt"
  }
  davfs_copy() {
    mountpoint -q "$DAVFS_MNT" || { echo "not mounted"; return 1; }
    timeout "$LIMIT" cp "$FIVE" "$DAVFS_MNT/five.bin" && timeout "$LIMIT" sync "$DAVFS_MNT/five.bin" &&
      same_file "$FIVE" "$DAVFS_MNT/five.bin"
  }
  davfs_edit() { # overwrite bytes in the middle, append a line: one open, no rename
    mountpoint -q "$DAVFS_MNT" || { echo "not mounted"; return 1; }
    timeout "$LIMIT" python3 - "$DAVFS_MNT/edit.txt" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(0)
    f.write(b"FIRST")
    f.seek(0, 2)
    f.write(b"third line\n")
PY
    [ "$(cat "$DAVFS_MNT/edit.txt")" = "$(printf 'FIRST line\nsecond line\nthird line')" ]
  }
  davfs_rename_delete() {
    mountpoint -q "$DAVFS_MNT" || { echo "not mounted"; return 1; }
    timeout "$LIMIT" mv "$DAVFS_MNT/old name.txt" "$DAVFS_MNT/new name.txt" && timeout "$LIMIT" rm "$DAVFS_MNT/gone.txt" &&
      timeout "$LIMIT" mkdir "$DAVFS_MNT/made" && printf 'in a new dir\n' >"$DAVFS_MNT/made/inside.txt" &&
      [ ! -e "$DAVFS_MNT/gone.txt" ] && [ -f "$DAVFS_MNT/new name.txt" ]
  }
  davfs_lock_blocks_ftp() { # while davfs2 holds held.txt open for writing it holds a WebDAV lock
    mountpoint -q "$DAVFS_MNT" || { echo "not mounted"; return 1; }
    exec 7>"$DAVFS_MNT/held.txt" || return 1
    printf 'held by davfs2\n' >&7
    local ok=1 i
    for i in $(seq 50); do # the LOCK goes out when the file is opened; wait for it to be seen
      curl -sS -u "$USER:$PASSWORD" -X PROPFIND -H 'Depth: 0' "$BASE/davfs/held.txt" 2>/dev/null | grep -q 'locktoken' && { ok=0; break; }
      sleep 0.1
    done
    [ $ok = 0 ] || { echo "no lock on held.txt while davfs2 holds it open"; exec 7>&-; return 1; }
    printf 'from ftp\n' >"$WORK/from-ftp.txt"
    curl -sS -T "$WORK/from-ftp.txt" "ftp://$USER:$PASSWORD@$FTP/davfs/held.txt" 2>"$WORK/ftp-locked.err"
    local rc=$?
    cat "$WORK/ftp-locked.err"
    exec 7>&-
    [ $rc != 0 ] && grep -q '450' "$WORK/ftp-locked.err"
  }
  davfs_unmount() {
    timeout "$LIMIT" umount "$DAVFS_MNT" || return 1
    stored_cmp "$ROOT/davfs/five.bin" "$FIVE" &&
      [ "$(curl -sS --fail -u "$USER:$PASSWORD" "$BASE/davfs/edit.txt")" = "$(printf 'FIRST line\nsecond line\nthird line')" ] &&
      [ "$(curl -sS --fail -u "$USER:$PASSWORD" "$BASE/davfs/new%20name.txt")" = "to be renamed" ] &&
      [ "$(curl -sS --fail -u "$USER:$PASSWORD" "$BASE/davfs/made/inside.txt")" = "in a new dir" ] &&
      [ "$(curl -sS --fail -u "$USER:$PASSWORD" "$BASE/davfs/held.txt")" = "held by davfs2" ] &&
      stored_absent "$ROOT/davfs/gone.txt" && stored_absent "$ROOT/davfs/old name.txt"
  }
  check "${DAVFS_CHECKS[0]}" davfs_mount
  check "${DAVFS_CHECKS[1]}" davfs_copy
  check "${DAVFS_CHECKS[2]}" davfs_edit
  check "${DAVFS_CHECKS[3]}" davfs_rename_delete
  check "${DAVFS_CHECKS[4]}" davfs_lock_blocks_ftp
  check "${DAVFS_CHECKS[5]}" davfs_unmount
fi

echo "== server logs (warnings and errors)"
grep -E 'WARN|ERROR' "$WORK/server.err" "$WORK/anon.err" | tail -n 20 || true
summary
