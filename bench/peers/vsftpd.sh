#!/usr/bin/env bash
# vsftpd 3.0 (Debian's, unpacked by install.sh) as a benchmark peer: the account through PAM,
# chrooted into ROOT, a process per session, sendfile for downloads. With BENCH_TLS=1, FTPS:
# TLS required for logins and data, data connections must resume the control connection's
# session (vsftpd's default require_ssl_reuse=YES, kept), no client certificate asked for
# (vsftpd asks by default: ssl_request_cert=YES); downloads then go through SSL_write, not
# sendfile. Usage: see lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
start_peer() {
  local bin
  bin=$(UPSTREAM_FTP_NO_INSTALL=1 find_server vsftpd vsftpd)
  mkdir -p "$SD/empty"
  # Options not set keep vsftpd's defaults (use_sendfile=YES among them).
  cat >"$SD/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$PORT
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_root=$ROOT
chroot_local_user=YES
allow_writeable_chroot=YES
pam_service_name=$BENCH_PAM_SERVICE
secure_chroot_dir=$SD/empty
check_shell=NO
pasv_address=127.0.0.1
pasv_min_port=$LO
pasv_max_port=$HI
max_clients=5000
max_per_ip=5000
seccomp_sandbox=NO
xferlog_enable=NO
vsftpd_log_file=$SD/vsftpd.log
CONF
  if [ -n "${BENCH_TLS:-}" ]; then
    cat >>"$SD/vsftpd.conf" <<CONF
ssl_enable=YES
rsa_cert_file=$BENCH_TLS_DIR/cert.pem
rsa_private_key_file=$BENCH_TLS_DIR/key.pem
force_local_logins_ssl=YES
force_local_data_ssl=YES
require_ssl_reuse=YES
ssl_request_cert=NO
CONF
  fi
  launch "$SD/pid" "$SD/server.log" "$bin" "$SD/vsftpd.conf"
}
peer_main vsftpd "$@"
