# Shared helpers of the interop scripts (sourced, not run): the check runner and
# the file comparisons. The sourcing script sets LIMIT (seconds per client call)
# and WORK (its temporary directory) before calling them.

PASSED=0
FAILED=0

need() { command -v "$1" >/dev/null 2>&1; }

check() { # check NAME COMMAND... : runs the command with a time limit, records the result
  local name=$1; shift
  local run=(timeout "$LIMIT")
  declare -F "$1" >/dev/null && run=() # shell functions bound each client call themselves
  if "${run[@]}" "$@" >"$WORK/last.log" 2>&1; then
    PASSED=$((PASSED + 1)); echo "ok   $name"
  else
    FAILED=$((FAILED + 1)); echo "FAIL $name"; sed 's/^/     | /' "$WORK/last.log" | tail -n 15
  fi
}

sha() { sha256sum <"$1" | cut -d' ' -f1; }

same_file() { # same_file A B : same SHA-256
  local a b
  a=$(sha "$1") && b=$(sha "$2") || return 1
  [ "$a" = "$b" ] || { echo "SHA-256 differs: $1 $a, $2 $b"; return 1; }
}

same_tree() { # same_tree A B : identical file lists and SHA-256 sums
  (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) >"$WORK/a.sum"
  (cd "$2" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) >"$WORK/b.sum"
  diff "$WORK/a.sum" "$WORK/b.sum"
}

GATEWAY_PIDS=()

start_gateway() { # start_gateway NAME SERVE-ARGS... : dualgate on free loopback ports, logging to
  # $WORK/NAME.out and NAME.err, with the password in $PASSWORD; waits for its start-up block
  local name=$1; shift
  DUALGATE_PASSWORD=$PASSWORD DUALGATE_LOG_LEVEL=warn "$BIN" serve --ftp-listen 127.0.0.1:0 \
    --http-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  GATEWAY_PIDS+=("$!")
  for _ in $(seq 100); do grep -q '^  admin' "$WORK/$name.out" 2>/dev/null && return 0; sleep 0.1; done
  echo "the server $name did not start"; cat "$WORK/$name.err"
  return 1
}

listen_addr() { # listen_addr NAME SCHEME : host:port of NAME's SCHEME:// listener (its start-up block)
  sed -n "s#^  [a-z]* *$2://\([0-9.:]*\).*#\1#p" "$WORK/$1.out" | head -n 1
}

stop_gateways() {
  for pid in "${GATEWAY_PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
}
