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
