#!/usr/bin/env bash
# ProFTPD 1.3.8 with mod_proxy (Debian's proftpd-core and proftpd-mod-proxy) as a reverse FTP
# proxy in front of the FTP server at PROXY_UPSTREAM (host:port): clients log in with the
# upstream's account, which mod_proxy passes through; data connections are passive on both
# sides (ProFTPD opens PASV_LO-PASV_HI to clients). ROOT is not used (the files are the
# upstream's). A process per session, as ProFTPD always does. Usage: see lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
start_peer() {
  : "${PROXY_UPSTREAM:?set PROXY_UPSTREAM to the upstream FTP server, host:port}"
  mkdir -p "$SD/tables"
  chown nobody:nogroup "$SD/tables"
  cat >"$SD/proftpd.conf" <<CONF
ModulePath /usr/lib/proftpd
ModuleControlsACLs insmod,rmmod allow user root
# mod_proxy calls OpenSSL through mod_tls (it does not link it itself).
LoadModule mod_tls.c
LoadModule mod_proxy.c
ServerName "dualgate bench mod_proxy"
ServerType standalone
DefaultServer on
DefaultAddress 127.0.0.1
Port $PORT
UseIPv6 off
User nobody
Group nogroup
PidFile $SD/proftpd.pid
ScoreboardFile $SD/proftpd.scoreboard
DelayTable none
WtmpLog off
UseReverseDNS off
TransferLog none
SystemLog $SD/proftpd.log
MaxInstances 5000
MaxClients none
PassivePorts $LO $HI
TimeoutIdle 120
ProxyEngine on
ProxyRole reverse
ProxyTables $SD/tables
ProxyLog $SD/proxy.log
ProxyReverseServers ftp://$PROXY_UPSTREAM
ProxyDataTransferPolicy PASV
ProxyTimeoutConnect 10
CONF
  launch "$SD/pid" "$SD/server.log" /usr/sbin/proftpd --nodaemon -c "$SD/proftpd.conf"
}
peer_main proftpd-proxy "$@"
