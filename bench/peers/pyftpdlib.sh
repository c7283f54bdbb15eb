#!/usr/bin/env bash
# pyftpdlib (PyPI, in the venv install.sh made) as a benchmark peer: one process, epoll,
# sendfile, the account's name and password in a DummyAuthorizer. Usage: see lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
start_peer() {
  BENCH_PASS=$(bench_password) launch "$SD/pid" "$SD/server.log" "$BENCH_CACHE/venv/bin/python" -c '
import os, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
port, root, lo, hi, user = sys.argv[1:]
auth = DummyAuthorizer()
auth.add_user(user, os.environ["BENCH_PASS"], root, perm="elradfmwMT")
FTPHandler.authorizer = auth
FTPHandler.passive_ports = range(int(lo), int(hi) + 1)
FTPHandler.masquerade_address = "127.0.0.1"
FTPServer.max_cons = 5000
FTPServer.max_cons_per_ip = 5000
FTPServer(("127.0.0.1", int(port)), FTPHandler).serve_forever()' "$PORT" "$ROOT" "$LO" "$HI" "$BENCH_ACCOUNT"
}
peer_main pyftpdlib "$@"
