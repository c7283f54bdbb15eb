#!/usr/bin/env bash
# FTP interoperability: the real dualgate binary against real clients — curl, lftp
# (mirror up and down), wget, Python's ftplib and rclone's :ftp: back-end — with
# every transferred file compared by SHA-256; promtool on the metrics after that
# traffic; then FTPS (explicit with curl
# --ssl-reqd, lftp ftp:ssl-force, ftplib.FTP_TLS and rclone; implicit with curl)
# and HTTPS with curl against a second gateway with a certificate made by openssl.
# Loopback only; every client call has a time limit. Installs missing clients from
# Debian when run as root.
#
# Usage: tests/interop/ftp.sh [path/to/dualgate]   (default: target/debug/dualgate, built if missing)
# With DUALGATE_TEST_STORAGE=<storage fragment> (tests/backends/s3.sh start) the gateways
# serve that S3-compatible store, and what they wrote is read from the bucket; checks the
# store cannot pass (file modes) say `skip (s3): ...`. KEEP_WORK=1 keeps the logs.
# Prints one line per check and a closing "N passed, N failed" line; exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/interop/lib.sh

BIN=${1:-target/debug/dualgate}
LIMIT=${INTEROP_TIMEOUT:-120}

if ! need lftp || ! need rclone || ! need wget || ! need curl || ! need openssl || ! need promtool; then
  if [ "$(id -u)" = 0 ] && need apt-get; then
    echo "== installing clients (lftp rclone wget curl openssl; promtool from prometheus)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lftp rclone wget curl openssl prometheus >/dev/null
  fi
fi
for tool in lftp rclone wget curl python3 openssl promtool; do
  need "$tool" || { echo "missing client: $tool (install it, or run as root to let this script install it)"; echo "0 passed, 1 failed"; exit 1; }
done
[ -x "$BIN" ] || cargo build --quiet --bin dualgate || exit 1

WORK=$(mktemp -d)
cleanup() {
  stop_gateways
  remove_work
}
trap cleanup EXIT


# A tree with awkward names and sizes: empty, small, multi-MiB, spaces, UTF-8, nesting.
SRC=$WORK/src
mkdir -p "$SRC/sub dir/deeper" "$SRC/ünïcødé"
: >"$SRC/empty.txt"
printf 'line one\nline two\n' >"$SRC/small.txt"
head -c 5242880 /dev/urandom >"$SRC/sub dir/five-mib.bin"
head -c 123457 /dev/urandom >"$SRC/sub dir/deeper/odd size.bin"
printf 'grüße\n' >"$SRC/ünïcødé/日本.txt"
touch -d '2001-02-03 04:05:06 UTC' "$SRC/small.txt" # a time for mirrors to keep (MFMT)

# Start the gateway on free loopback ports; read the addresses from its start-up block.
ROOT=$WORK/root
PASSWORD=interop-$RANDOM$RANDOM
start_gateway server --root "$ROOT" --passive-ports 45000-45999 || { echo "0 passed, 1 failed"; exit 1; }
FTP=$(listen_addr server ftp)
HOST=${FTP%:*}
PORT=${FTP##*:}
USER=dualgate
URL="ftp://$USER:$PASSWORD@$FTP"
echo "== dualgate at $FTP"

# --- curl --------------------------------------------------------------------
check "curl: upload (STOR, EPSV)" curl -sS --ftp-create-dirs -T "$SRC/sub dir/five-mib.bin" "$URL/curl/five.bin"
check "curl: download is identical" bash -c "curl -sS '$URL/curl/five.bin' -o '$WORK/c1' && cmp '$WORK/c1' '$SRC/sub dir/five-mib.bin'"
check "curl: active mode (EPRT)" bash -c "curl -sS -P 127.0.0.1 '$URL/curl/five.bin' -o '$WORK/c2' && cmp '$WORK/c2' '$SRC/sub dir/five-mib.bin'"
check "curl: PASV without EPSV" bash -c "curl -sS --disable-epsv '$URL/curl/five.bin' -o '$WORK/c3' && cmp '$WORK/c3' '$SRC/sub dir/five-mib.bin'"
check "curl: resume download (REST)" bash -c "head -c 1000000 '$SRC/sub dir/five-mib.bin' >'$WORK/c4' && curl -sS -C - '$URL/curl/five.bin' -o '$WORK/c4' && cmp '$WORK/c4' '$SRC/sub dir/five-mib.bin'"
check "curl: resume upload (APPE)" bash -c "head -c 2000000 '$SRC/sub dir/five-mib.bin' >'$WORK/part' && curl -sS -T '$WORK/part' '$URL/curl/resumed.bin' && curl -sS -C - -T '$SRC/sub dir/five-mib.bin' '$URL/curl/resumed.bin' && stored_cmp '$ROOT/curl/resumed.bin' '$SRC/sub dir/five-mib.bin'"
check "curl: directory listing" bash -c "curl -sS '$URL/curl/' | grep -q 'five.bin'"
check "curl: names only (NLST)" bash -c "curl -sS -l '$URL/curl/' | grep -qx 'five.bin'"
check "curl: delete (DELE via -Q)" bash -c "curl -sS -Q 'DELE curl/resumed.bin' '$URL/' >/dev/null && stored_absent '$ROOT/curl/resumed.bin'"

# --- lftp ----------------------------------------------------------------------
LFTP_SETUP="set cmd:fail-exit true; set ftp:ssl-allow false; set net:max-retries 1; set net:timeout 20"
check "lftp: mirror up (-R)" lftp -u "$USER,$PASSWORD" -p "$PORT" -e "$LFTP_SETUP; mirror -R '$SRC' lftp-up; quit" "$HOST"
check "lftp: uploaded tree is identical in storage" stored_same_tree "$SRC" "$ROOT/lftp-up"
check "lftp: mirror down" lftp -u "$USER,$PASSWORD" -p "$PORT" -e "$LFTP_SETUP; mirror lftp-up '$WORK/lftp-down'; quit" "$HOST"
check "lftp: downloaded tree is identical" same_tree "$SRC" "$WORK/lftp-down"
if [ "$STORAGE_KIND" = s3 ]; then
  skip "lftp: mirror -R keeps modification times (MFMT)" "a store keeps the time of the last write"
else
  check "lftp: mirror -R keeps modification times (MFMT)" bash -c "curl -sS -I '$URL/lftp-up/small.txt' | tee /dev/stderr | grep -q 'Last-Modified: Sat, 03 Feb 2001 04:05:06 GMT'"
fi
# --- wget ----------------------------------------------------------------------
check "wget: recursive download (LIST parsing)" wget -q -r -nH --cut-dirs=1 -P "$WORK/wget" "ftp://$USER:$PASSWORD@$FTP/lftp-up/"
check "wget: tree is identical" same_tree "$SRC" "$WORK/wget"

if on_s3; then
  skip "lftp: chmod (SITE CHMOD)" "a store keeps no file modes"
  # What it does instead, as FEAT and SITE HELP say: SITE CHMOD is refused with 502.
  check "SITE CHMOD is refused with 502 (no modes on s3)" bash -c "out=\$(curl -sS -Q 'SITE CHMOD 640 lftp-up/small.txt' '$URL/' -o /dev/null 2>&1); echo \"\$out\"; grep -q 'QUOT command failed with 502' <<<\"\$out\""
else
  check "lftp: chmod (SITE CHMOD)" bash -c "lftp -u '$USER,$PASSWORD' -p '$PORT' -e '$LFTP_SETUP; chmod 640 lftp-up/small.txt; quit' '$HOST' && test \"\$(stored_mode '$ROOT/lftp-up/small.txt')\" = 640"
fi
check "lftp: rename, mkdir, rmdir, rm" lftp -u "$USER,$PASSWORD" -p "$PORT" -e "$LFTP_SETUP; mv lftp-up/small.txt lftp-up/renamed.txt; mkdir lftp-tmp; rmdir lftp-tmp; rm lftp-up/renamed.txt; quit" "$HOST"
check "lftp: rename and delete took effect" bash -c "stored_absent '$ROOT/lftp-up/small.txt' && stored_absent '$ROOT/lftp-up/renamed.txt' && stored_absent '$ROOT/lftp-tmp'"

# --- Python ftplib ---------------------------------------------------------------
check "python ftplib: store, MLSD, SIZE, MDTM, REST, rename, delete" python3 - "$HOST" "$PORT" "$USER" "$PASSWORD" "$SRC/sub dir/five-mib.bin" <<'PY'
import ftplib, hashlib, io, sys
host, port, user, pw, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
data = open(path, "rb").read()
f = ftplib.FTP()
f.connect(host, port, timeout=20)
f.login(user, pw)
f.mkd("py")
f.cwd("py")
assert f.pwd() == "/py", f.pwd()
f.storbinary("STOR data.bin", io.BytesIO(data))
assert f.size("data.bin") == len(data)
facts = dict(f.mlsd())
assert facts["data.bin"]["type"] == "file" and int(facts["data.bin"]["size"]) == len(data), facts
assert f.sendcmd("MDTM data.bin").startswith("213 ")
out = io.BytesIO()
f.retrbinary("RETR data.bin", out.write)
assert hashlib.sha256(out.getvalue()).digest() == hashlib.sha256(data).digest()
tail = io.BytesIO()
f.retrbinary("RETR data.bin", tail.write, rest=4096)
assert tail.getvalue() == data[4096:]
f.storlines("STOR text.txt", io.BytesIO(b"a\r\nb\r\n"))
lines = []
f.retrlines("RETR text.txt", lines.append)
assert lines == ["a", "b"], lines
f.rename("data.bin", "moved.bin")
assert "moved.bin" in f.nlst()
f.delete("moved.bin")
f.delete("text.txt")
f.cwd("/")
f.rmd("py")
f.quit()
PY
check "python ftplib: abort() (ABOR as TCP urgent data) during a download; session goes on" python3 - "$HOST" "$PORT" "$USER" "$PASSWORD" <<'PY'
import ftplib, io, sys
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
f = ftplib.FTP()
f.connect(host, port, timeout=20)
f.login(user, pw)
f.storbinary("STOR abort.bin", io.BytesIO(b"\0" * (64 << 20)))
conn = f.transfercmd("RETR abort.bin")
assert len(conn.recv(65536)) > 0
resp = f.abort()  # ftplib accepts 426, 225 and 226 here, else raises
assert resp.startswith("426"), resp  # the RETR's reply: aborted
assert f.getresp().startswith("226")  # the ABOR's own reply
conn.close()
assert f.voidcmd("NOOP").startswith("200")
f.delete("abort.bin")
f.quit()
PY

# --- rclone :ftp: -------------------------------------------------------------------
export RCLONE_CONFIG=/dev/null RCLONE_FTP_HOST=$HOST RCLONE_FTP_PORT=$PORT RCLONE_FTP_USER=$USER
RCLONE_FTP_PASS=$(rclone obscure "$PASSWORD")
export RCLONE_FTP_PASS
check "rclone: copy up" rclone copy --contimeout 10s --timeout 30s "$SRC" :ftp:rclone
check "rclone: check (download and compare)" rclone check --download "$SRC" :ftp:rclone
check "rclone: sync down" rclone sync --contimeout 10s --timeout 30s :ftp:rclone "$WORK/rclone-down"
check "rclone: synced tree is identical" same_tree "$SRC" "$WORK/rclone-down"
check "rclone: sync up deletes what the source lacks" bash -c "cp -r '$SRC' '$WORK/less' && rm '$WORK/less/small.txt' && rclone sync '$WORK/less' :ftp:rclone && stored_absent '$ROOT/rclone/small.txt' && stored_exists '$ROOT/rclone/empty.txt'"

# --- metrics after all that traffic -----------------------------------------------------
ADMIN=$(sed -n 's#^  admin *http://\([0-9.:]*\)/metrics.*#\1#p' "$WORK/server.out")
check "promtool check metrics: /metrics is clean" bash -c "curl -sS 'http://$ADMIN/metrics' >'$WORK/metrics.txt' && grep -q dualgate_commands_total '$WORK/metrics.txt' && out=\$(promtool check metrics <'$WORK/metrics.txt' 2>&1) && test -z \"\$out\" || { echo \"\$out\"; false; }"

# --- TLS: FTPS (explicit and implicit) and HTTPS -----------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
CA=$WORK/tls.crt
cat >"$WORK/tls.yaml" <<YAML
ftp:
  tls: { cert: "$WORK/tls.crt", key: "$WORK/tls.key", implicit_listen: "127.0.0.1:0" }
http:
  tls: { cert: "$WORK/tls.crt", key: "$WORK/tls.key" }
YAML
TLS_ROOT=$WORK/tls-root
start_gateway tls -c "$WORK/tls.yaml" --root "$TLS_ROOT" --passive-ports 46000-46999
TFTP=$(listen_addr tls ftp)
TFTPS=$(listen_addr tls ftps)
THTTPS=$(listen_addr tls https)
echo "== dualgate with TLS at $TFTP (explicit), $TFTPS (implicit), https://$THTTPS"
FIVE="$SRC/sub dir/five-mib.bin"
check "curl: explicit FTPS (--ssl-reqd) upload and download" bash -c "curl -sS --ssl-reqd --cacert '$CA' -T '$FIVE' 'ftp://$USER:$PASSWORD@$TFTP/tls/five.bin' --ftp-create-dirs && curl -sS --ssl-reqd --cacert '$CA' 'ftp://$USER:$PASSWORD@$TFTP/tls/five.bin' -o '$WORK/t1' && cmp '$WORK/t1' '$FIVE' && stored_cmp '$TLS_ROOT/tls/five.bin' '$FIVE'"
check "curl: TLS control, clear data (PROT C via --ftp-ssl-control)" bash -c "curl -sS --ftp-ssl-control --cacert '$CA' 'ftp://$USER:$PASSWORD@$TFTP/tls/five.bin' -o '$WORK/t5' && cmp '$WORK/t5' '$FIVE'"
check "curl: implicit FTPS (ftps://) download" bash -c "curl -sS --cacert '$CA' 'ftps://$USER:$PASSWORD@$TFTPS/tls/five.bin' -o '$WORK/t2' && cmp '$WORK/t2' '$FIVE'"
LFTP_TLS="set cmd:fail-exit true; set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:ca-file $CA; set net:max-retries 1; set net:timeout 20"
check "lftp: ftp:ssl-force mirror up and down" bash -c "lftp -u '$USER,$PASSWORD' -p '${TFTP##*:}' -e \"$LFTP_TLS; mirror -R '$SRC' lftp-tls; mirror lftp-tls '$WORK/lftp-tls-down'; quit\" '$HOST' && stored_tree '$TLS_ROOT/lftp-tls' '$WORK/lftp-tls-stored' && diff -r '$SRC' '$WORK/lftp-tls-stored' && diff -r '$SRC' '$WORK/lftp-tls-down'"
check "python ftplib.FTP_TLS: PROT P store and retrieve" python3 - "$TFTP" "$USER" "$PASSWORD" "$CA" "$FIVE" <<'PY'
import ftplib, hashlib, io, ssl, sys
addr, user, pw, ca, path = sys.argv[1:6]
host, port = addr.rsplit(":", 1)
data = open(path, "rb").read()
f = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=ca))
f.connect(host, int(port), timeout=20)
f.login(user, pw)  # AUTH TLS first
f.prot_p()
f.storbinary("STOR py-tls.bin", io.BytesIO(data))
out = io.BytesIO()
f.retrbinary("RETR py-tls.bin", out.write)
assert hashlib.sha256(out.getvalue()).digest() == hashlib.sha256(data).digest()
assert "py-tls.bin" in f.nlst()
f.quit()
PY
check "rclone: explicit TLS copy up and check" bash -c "RCLONE_FTP_PORT='${TFTP##*:}' RCLONE_FTP_EXPLICIT_TLS=true RCLONE_FTP_NO_CHECK_CERTIFICATE=true rclone copy --contimeout 10s --timeout 30s '$SRC' :ftp:rclone-tls && RCLONE_FTP_PORT='${TFTP##*:}' RCLONE_FTP_EXPLICIT_TLS=true RCLONE_FTP_NO_CHECK_CERTIFICATE=true rclone check --download '$SRC' :ftp:rclone-tls"
check "curl: HTTPS download over HTTP/2 (ALPN)" bash -c "test \"\$(curl -sS --cacert '$CA' --http2 -u '$USER:$PASSWORD' -o '$WORK/t3' -w '%{http_version}' 'https://$THTTPS/tls/five.bin')\" = 2 && cmp '$WORK/t3' '$FIVE'"
check "curl: HTTPS upload over HTTP/1.1" bash -c "curl -sS --fail --cacert '$CA' --http1.1 -u '$USER:$PASSWORD' -T '$FIVE' 'https://$THTTPS/tls/put.bin' && stored_cmp '$TLS_ROOT/tls/put.bin' '$FIVE'"

# data_session_reuse: require — clients that resume the control session on their
# data connections (curl/OpenSSL, lftp/GnuTLS) keep working.
sed 's/implicit_listen: "127.0.0.1:0"/data_session_reuse: require/' "$WORK/tls.yaml" >"$WORK/require.yaml"
start_gateway require -c "$WORK/require.yaml" --root "$TLS_ROOT" --passive-ports 46000-46999
RFTP=$(listen_addr require ftp)
check "curl: data connections resume the TLS session (require)" bash -c "curl -sS --ssl-reqd --cacert '$CA' -T '$FIVE' 'ftp://$USER:$PASSWORD@$RFTP/req/five.bin' --ftp-create-dirs && curl -sS --ssl-reqd --cacert '$CA' 'ftp://$USER:$PASSWORD@$RFTP/req/five.bin' -o '$WORK/t4' && cmp '$WORK/t4' '$FIVE'"
check "lftp: data connections resume the TLS session (require)" bash -c "lftp -u '$USER,$PASSWORD' -p '${RFTP##*:}' -e \"$LFTP_TLS; mirror -R '$SRC' lftp-req; mirror lftp-req '$WORK/lftp-req-down'; quit\" '$HOST' && diff -r '$SRC' '$WORK/lftp-req-down'"

echo "== server log (warnings and errors)"
grep -E 'WARN|ERROR' "$WORK/server.err" "$WORK/tls.err" "$WORK/require.err" | tail -n 20 || true
summary
