#!/usr/bin/env bash
# A real FTP server on 127.0.0.1 for dualgate's upstream_ftp storage tests.
#
#   tests/backends/upstream_ftp.sh start   start the server on a free port with a free 200-port
#                                          passive range, serving a new temporary directory;
#                                          print the storage: YAML fragment on stdout (logs go
#                                          to stderr)
#   tests/backends/upstream_ftp.sh stop    stop the recorded PID, remove the temporary directory
#                                          and the state file
#   tests/backends/upstream_ftp.sh yaml    print the fragment of the running server again
#   tests/backends/upstream_ftp.sh env     print `export UPSTREAM_FTP_...=...` lines of its state
#
# The fragment ends with two comment lines the test suites read: `# upstream_dir: DIR`, the
# directory on disk that is the upstream's `/` (tests seed and check files there), and
# `# upstream_owner: UID:GID`, the account the server writes as (files seeded by the tests are
# given to it, so the server can change them), and `# upstream_server: vsftpd|pure-ftpd`, which
# server it is (for the tests of what one has and the other lacks, such as MFMT).
# Then `# upstream_account: NAME PASSWORD UID:GID` lines: two more accounts of the server, for
# the tests of per-user upstream credentials.
#
# Servers (UPSTREAM_FTP_SERVER):
#   vsftpd     (default) Debian's vsftpd 3.0: no MLST/MLSD (listings are LIST, parsed), a local
#              system account through PAM, chrooted into the directory
#   pure-ftpd  Debian's Pure-FTPd 1.0: MLST/MLSD (with `.` and `..`), a virtual (puredb) account
#              mapped to the same system account. It refuses clients beyond half its passive
#              range, hence 200 ports.
# Both are unpacked from their Debian packages (`apt-get download` + `dpkg -x`, after
# `apt-get update` when the download fails) into the cache directory, since the two conflict as
# installed packages; a binary on PATH is used first. Both run as root (PAM, chroot,
# privilege separation), so this script must run as root: it creates the system account
# `dualgate-ftp` (no shell; its random password is kept in the cache directory), and the PAM service
# /etc/pam.d/dualgate-test-ftp for vsftpd.
#
# Environment:
#   UPSTREAM_FTP_SERVER     vsftpd (default) or pure-ftpd
#   UPSTREAM_FTP_TLS        none (default), explicit or implicit (vsftpd only): FTPS with a
#                           certificate for 127.0.0.1 from a CA made for the run (the fragment
#                           names it as ca_file), TLS required on control and data connections,
#                           and data connections required to resume the control connection's
#                           TLS session (require_ssl_reuse=YES)
#   UPSTREAM_FTP_NO_INSTALL=1  fail (exit 3) instead of downloading a missing server
#   DUALGATE_TEST_CACHE     cache directory (default $HOME/.cache/dualgate-test)
#   BACKENDS_STATE          directory of the state file upstream_ftp.env (default
#                           ${TMPDIR:-/tmp}/dualgate-test-backends); one server per directory
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

STATE_FILE="$BACKENDS_STATE/upstream_ftp.env"
STATE_VARS=(UPSTREAM_FTP_SERVER UPSTREAM_FTP_PID UPSTREAM_FTP_DIR UPSTREAM_FTP_ROOT UPSTREAM_FTP_PORT
  UPSTREAM_FTP_PASV UPSTREAM_FTP_USER UPSTREAM_FTP_PASS UPSTREAM_FTP_OWNER UPSTREAM_FTP_TLS)
FTP_ACCOUNT=dualgate-ftp
PAM_SERVICE=dualgate-test-ftp

load_state() { load_state_of "upstream FTP server"; }

wait_ftp() { # wait_ftp PORT PID : until the port answers 220
  local port=$1 pid=$2 deadline=$((SECONDS + 20))
  while ((SECONDS < deadline)); do
    # Implicit FTPS says nothing before the handshake: there, a connection is enough.
    if python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
sys.exit(0 if sys.argv[2] == "implicit" or s.recv(200).startswith(b"220") else 1)' \
      "$port" "${UPSTREAM_FTP_TLS:-none}" 2>/dev/null; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { log "the server exited"; return 1; }
    sleep 0.2
  done
  log "the server did not answer on port $port within 20 s"
  return 1
}

account() { # the system account the servers log in (or map virtual users) to
  if ! id "$FTP_ACCOUNT" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir / --shell /usr/sbin/nologin "$FTP_ACCOUNT" >&2
  fi
  # vsftpd changes to the home directory before local_root: it must exist.
  usermod --home / "$FTP_ACCOUNT" >&2
  UPSTREAM_FTP_USER=$FTP_ACCOUNT
  # One password for the account, kept in the cache directory: servers started side by side
  # (vsftpd and pure-ftpd, each in its own BACKENDS_STATE) share the system account.
  local pwfile="$TEST_CACHE/upstream_ftp.password"
  if [ ! -s "$pwfile" ]; then
    mkdir -p "$TEST_CACHE"
    (umask 077 && random_hex 12 >"$pwfile")
  fi
  UPSTREAM_FTP_PASS=$(cat "$pwfile")
  # SHA-512 crypt: quick to verify, so a test's many logins do not measure a KDF.
  echo "$FTP_ACCOUNT:$UPSTREAM_FTP_PASS" | chpasswd -c SHA512
  UPSTREAM_FTP_OWNER="$(id -u "$FTP_ACCOUNT"):$(id -g "$FTP_ACCOUNT")"
}

# Two more accounts, for the per-user credential tests (`credentials: map` and `passthrough`):
# system accounts with their own random passwords (kept in the cache directory, shared by the
# servers started side by side), listed in the fragment as `# upstream_account: NAME PASSWORD
# UID:GID`. Both servers log them in to the same directory as the main account.
EXTRA_ACCOUNTS=(dualgate-ftp-a dualgate-ftp-b)

extra_accounts() {
  local name pwfile
  for name in "${EXTRA_ACCOUNTS[@]}"; do
    id "$name" >/dev/null 2>&1 ||
      useradd --system --no-create-home --home-dir / --shell /usr/sbin/nologin "$name" >&2
    pwfile="$TEST_CACHE/upstream_ftp.$name.password"
    [ -s "$pwfile" ] || (umask 077 && random_hex 12 >"$pwfile")
    echo "$name:$(cat "$pwfile")" | chpasswd -c SHA512
  done
}

extra_account_lines() { # the `# upstream_account:` lines
  local name
  for name in "${EXTRA_ACCOUNTS[@]}"; do
    echo "# upstream_account: $name $(cat "$TEST_CACHE/upstream_ftp.$name.password") $(id -u "$name"):$(id -g "$name")"
  done
}

make_certificates() { # a CA and a server certificate for 127.0.0.1, valid two days
  local d=$UPSTREAM_FTP_DIR
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 \
    -subj /CN=dualgate-test-upstream-ca -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$d/server.key" -out "$d/server.csr" \
    -subj /CN=127.0.0.1 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -out "$d/server.pem" -days 2 -extfile "$d/server.ext" 2>/dev/null
  chmod 600 "$d/ca.key" "$d/server.key"
}

start_vsftpd() {
  local bin conf="$UPSTREAM_FTP_DIR/vsftpd.conf"
  bin=$(find_server vsftpd vsftpd)
  if [ ! -f "/etc/pam.d/$PAM_SERVICE" ]; then
    printf '# PAM service of the test vsftpd started by dualgate tests/backends/upstream_ftp.sh\n@include common-auth\n@include common-account\n@include common-session\n' \
      >"/etc/pam.d/$PAM_SERVICE"
  fi
  mkdir -p "$UPSTREAM_FTP_DIR/empty"
  chmod 755 "$UPSTREAM_FTP_DIR/empty"
  cat >"$conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$UPSTREAM_FTP_PORT
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
local_root=$UPSTREAM_FTP_ROOT
chroot_local_user=YES
allow_writeable_chroot=YES
pam_service_name=$PAM_SERVICE
userlist_enable=NO
check_shell=NO
tcp_wrappers=NO
secure_chroot_dir=$UPSTREAM_FTP_DIR/empty
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=$UPSTREAM_FTP_PASV
pasv_max_port=$((UPSTREAM_FTP_PASV + 199))
port_enable=NO
max_clients=500
max_per_ip=500
xferlog_enable=NO
syslog_enable=NO
vsftpd_log_file=$UPSTREAM_FTP_DIR/vsftpd.log
seccomp_sandbox=NO
idle_session_timeout=300
data_connection_timeout=120
utf8_filesystem=YES
CONF
  if [ "$UPSTREAM_FTP_TLS" != none ]; then
    make_certificates
    cat >>"$conf" <<CONF
ssl_enable=YES
rsa_cert_file=$UPSTREAM_FTP_DIR/server.pem
rsa_private_key_file=$UPSTREAM_FTP_DIR/server.key
force_local_logins_ssl=YES
force_local_data_ssl=YES
require_ssl_reuse=YES
ssl_sslv2=NO
ssl_sslv3=NO
ssl_tlsv1=YES
implicit_ssl=$([ "$UPSTREAM_FTP_TLS" = implicit ] && echo YES || echo NO)
CONF
  fi
  setsid "$bin" "$conf" >"$UPSTREAM_FTP_DIR/server.log" 2>&1 </dev/null &
  UPSTREAM_FTP_PID=$!
}

start_pureftpd() {
  local bin pw hash name
  bin=$(find_server pure-ftpd pure-ftpd)
  pw="$(dirname "$bin")/../bin/pure-pw"
  [ -x "$pw" ] || pw=$(command -v pure-pw) || die "no pure-pw next to $bin"
  hash=$(openssl passwd -6 "$UPSTREAM_FTP_PASS")
  echo "$UPSTREAM_FTP_USER:$hash:${UPSTREAM_FTP_OWNER%%:*}:${UPSTREAM_FTP_OWNER##*:}::$UPSTREAM_FTP_ROOT/./::::::::::::" \
    >"$UPSTREAM_FTP_DIR/pureftpd.passwd"
  for name in "${EXTRA_ACCOUNTS[@]}"; do
    hash=$(openssl passwd -6 "$(cat "$TEST_CACHE/upstream_ftp.$name.password")")
    echo "$name:$hash:$(id -u "$name"):$(id -g "$name")::$UPSTREAM_FTP_ROOT/./::::::::::::" \
      >>"$UPSTREAM_FTP_DIR/pureftpd.passwd"
  done
  "$pw" mkdb "$UPSTREAM_FTP_DIR/pureftpd.pdb" -f "$UPSTREAM_FTP_DIR/pureftpd.passwd" >&2
  # -S bind, -p passive range, -P passive address, -l auth, -E no anonymous, -A chroot,
  # -H no DNS, -c/-C clients, -I idle minutes, -k disk-full percent, -u lowest uid, -L most
  # entries in one listing (default 10,000, `.` and `..` included: the e2e suite lists 10,000)
  setsid "$bin" -S "127.0.0.1,$UPSTREAM_FTP_PORT" -p "$UPSTREAM_FTP_PASV:$((UPSTREAM_FTP_PASV + 199))" \
    -P 127.0.0.1 -l "puredb:$UPSTREAM_FTP_DIR/pureftpd.pdb" -E -A -H -c 500 -C 500 -I 5 -k 99 -u 1 \
    -L 100000:5 \
    >"$UPSTREAM_FTP_DIR/server.log" 2>&1 </dev/null &
  UPSTREAM_FTP_PID=$!
}

fragment() {
  cat <<YAML
storage:
  kind: upstream_ftp
  host: "127.0.0.1"
  port: $UPSTREAM_FTP_PORT
  user: "$UPSTREAM_FTP_USER"
  password: "$UPSTREAM_FTP_PASS"
  root: "/"
  tls: $UPSTREAM_FTP_TLS
YAML
  if [ "$UPSTREAM_FTP_TLS" != none ]; then
    echo "  ca_file: \"$UPSTREAM_FTP_DIR/ca.pem\""
  fi
  cat <<YAML
# upstream_dir: $UPSTREAM_FTP_ROOT
# upstream_owner: $UPSTREAM_FTP_OWNER
# upstream_server: $UPSTREAM_FTP_SERVER
YAML
  extra_account_lines
}

cmd_start() {
  [ "$(id -u)" = 0 ] || die "must run as root (the FTP daemons need it)"
  mkdir -p "$BACKENDS_STATE"
  [ ! -f "$STATE_FILE" ] || die "a server is already recorded in $STATE_FILE; run: $0 stop"
  UPSTREAM_FTP_SERVER=${UPSTREAM_FTP_SERVER:-vsftpd}
  UPSTREAM_FTP_TLS=${UPSTREAM_FTP_TLS:-none}
  case "$UPSTREAM_FTP_TLS/$UPSTREAM_FTP_SERVER" in
    none/* | explicit/vsftpd | implicit/vsftpd) ;;
    *) die "UPSTREAM_FTP_TLS: none, or explicit/implicit with vsftpd (not $UPSTREAM_FTP_TLS with $UPSTREAM_FTP_SERVER)" ;;
  esac
  UPSTREAM_FTP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dualgate-upstream-ftp.XXXXXX")
  chmod 755 "$UPSTREAM_FTP_DIR"
  UPSTREAM_FTP_ROOT="$UPSTREAM_FTP_DIR/root"
  account
  extra_accounts
  mkdir -p "$UPSTREAM_FTP_ROOT"
  chown "$UPSTREAM_FTP_OWNER" "$UPSTREAM_FTP_ROOT"
  UPSTREAM_FTP_PORT=$(free_port)
  UPSTREAM_FTP_PASV=$(free_range)
  case "$UPSTREAM_FTP_SERVER" in
    vsftpd) start_vsftpd ;;
    pure-ftpd) start_pureftpd ;;
    *) die "UPSTREAM_FTP_SERVER: vsftpd or pure-ftpd, not $UPSTREAM_FTP_SERVER" ;;
  esac
  save_state
  if ! wait_ftp "$UPSTREAM_FTP_PORT" "$UPSTREAM_FTP_PID"; then
    sed 's/^/  | /' "$UPSTREAM_FTP_DIR/server.log" >&2 || true
    cmd_stop
    exit 1
  fi
  log "$UPSTREAM_FTP_SERVER on 127.0.0.1:$UPSTREAM_FTP_PORT (passive $UPSTREAM_FTP_PASV-$((UPSTREAM_FTP_PASV + 199))), pid $UPSTREAM_FTP_PID, root $UPSTREAM_FTP_ROOT"
  fragment
}

cmd_stop() {
  [ -f "$STATE_FILE" ] || return 0
  load_state
  local word=vsftpd
  [ "$UPSTREAM_FTP_SERVER" = pure-ftpd ] && word=pure-ftpd
  # The daemon's session processes are its children: stopping the listener is enough for new
  # sessions; live ones end with their clients or their idle timeout (both are short here).
  stop_pid "$UPSTREAM_FTP_PID" "$word"
  case "$UPSTREAM_FTP_DIR" in
    "${TMPDIR:-/tmp}"/dualgate-upstream-ftp.*) rm -rf "$UPSTREAM_FTP_DIR" ;;
    *) log "not removing $UPSTREAM_FTP_DIR (not one of ours)" ;;
  esac
  rm -f "$STATE_FILE"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  yaml) load_state; fragment ;;
  env) load_state; for v in "${STATE_VARS[@]}"; do printf 'export %s=%q\n' "$v" "${!v:-}"; done ;;
  *) usage ;;
esac
