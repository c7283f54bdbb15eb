# shellcheck shell=bash
# Shared helpers of the interop scripts (sourced, not run): the check runner, the
# file comparisons, the gateways and the storage they serve. The sourcing script
# sets LIMIT (seconds per client call) and WORK (its temporary directory) before
# calling them.
#
# Storage: local disk by default; with DUALGATE_TEST_STORAGE naming a `storage:`
# fragment (tests/backends/s3.sh start or tests/backends/upstream_ftp.sh start prints
# one) every gateway start_gateway starts serves that store or upstream FTP server
# instead. A script still names its roots as directories under $WORK (`--root
# "$WORK/root"`); on a store each root becomes its own key prefix ($STORED_PREFIX plus
# the root's path below $WORK), on an upstream FTP server its own directory (the same
# path below the server's `/`, whose place on this machine the fragment names in its
# `# upstream_dir:` line), and the stored_* helpers below read what a gateway wrote from
# the disk, the bucket or the upstream's disk alike, given the path the file has under
# its root ("$ROOT/dir/file").

PASSED=0
FAILED=0
SKIPPED=0

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

skip() { # skip NAME REASON : a check that cannot hold on this storage; said, counted apart
  SKIPPED=$((SKIPPED + 1)); echo "skip ($STORAGE_KIND): $1 — $2"
}

summary() { # the closing lines: the skipped count (if any), then "N passed, M failed"
  if keep_work; then
    echo "== KEEP_WORK: $WORK is kept"
    on_s3 && echo "== KEEP_WORK: so are the keys under $STORED_PREFIX in the store"
    on_upstream && echo "== KEEP_WORK: so is $UPSTREAM_DIR/$STORED_PREFIX on the upstream"
  fi
  [ "$SKIPPED" = 0 ] || echo "$SKIPPED skipped (storage $STORAGE_KIND)"
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ]
}

sha() { sha256sum <"$1" | cut -d' ' -f1; }

same_file() { # same_file A B : same SHA-256
  local a b
  a=$(sha "$1") && b=$(sha "$2") || return 1
  [ "$a" = "$b" ] || { echo "SHA-256 differs: $1 $a, $2 $b"; return 1; }
}

same_tree() { # same_tree A B : identical file lists and SHA-256 sums
  (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) >"$WORK/a.sum" &&
    (cd "$2" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) >"$WORK/b.sum" || return 1
  diff "$WORK/a.sum" "$WORK/b.sum"
}

keep_work() { [ -n "${KEEP_WORK:-}" ] && [ "$KEEP_WORK" != 0 ]; }

remove_work() { # the scripts' cleanup: remove $WORK and this run's keys, unless KEEP_WORK=1 (logs, configs)
  keep_work && return 0
  stored_purge >/dev/null 2>&1 || echo "could not remove the keys under $STORED_PREFIX from the store" >&2
  rm -rf "$WORK"
}

# --- the storage ----------------------------------------------------------------------

if [ -n "${DUALGATE_TEST_STORAGE:-}" ]; then
  STORAGE_KIND=$(sed -n 's/^ *kind: *"\{0,1\}\([a-z_0-9]*\)"\{0,1\} *$/\1/p' "$DUALGATE_TEST_STORAGE" | head -n 1)
  case "$STORAGE_KIND" in
  s3) ;;
  upstream_ftp)
    # The server's `/` on this machine, and the account it writes as (fixtures are given to it).
    UPSTREAM_DIR=$(sed -n 's/^# upstream_dir: //p' "$DUALGATE_TEST_STORAGE" | head -n 1)
    UPSTREAM_OWNER=$(sed -n 's/^# upstream_owner: //p' "$DUALGATE_TEST_STORAGE" | head -n 1)
    [ -d "$UPSTREAM_DIR" ] || {
      echo "DUALGATE_TEST_STORAGE=$DUALGATE_TEST_STORAGE: no '# upstream_dir: DIR' line naming a directory"
      echo "0 passed, 1 failed"; exit 1
    }
    export UPSTREAM_DIR UPSTREAM_OWNER
    ;;
  *)
    echo "DUALGATE_TEST_STORAGE=$DUALGATE_TEST_STORAGE: not a storage fragment of kind s3 or upstream_ftp"
    echo "0 passed, 1 failed"; exit 1
    ;;
  esac
  # This run's keys: one prefix per script run, one below it per root.
  STORED_PREFIX="interop-$(basename "$0" .sh)-$$-$RANDOM$RANDOM/"
else
  STORAGE_KIND=local
  STORED_PREFIX=
fi
export STORAGE_KIND STORED_PREFIX

on_s3() { [ "$STORAGE_KIND" = s3 ]; }
on_upstream() { [ "$STORAGE_KIND" = upstream_ftp ]; }
on_store() { [ "$STORAGE_KIND" != local ]; } # S3 or an upstream FTP server: no dead properties

stored_path() { # stored_path PATH : where the file PATH (under a root) is on this machine's disk
  # (local disk and upstream FTP; not on S3)
  if on_upstream; then
    local rel; rel=$(stored_rel "$1") || return 1
    printf '%s\n' "$UPSTREAM_DIR/$STORED_PREFIX$rel"
  else
    printf '%s\n' "$1"
  fi
}

stored_rel() { # stored_rel PATH : PATH relative to $WORK (roots live there); fails if outside
  case "$1" in
  "$WORK"/*) printf '%s\n' "${1#"$WORK"/}" ;;
  *) echo "stored_rel: $1 is not below $WORK (a root of a store-backed gateway must be)" >&2; return 1 ;;
  esac
}

stored_file() { # stored_file PATH OUT : copy the stored bytes of the file PATH (under a root) to OUT
  if on_s3; then
    local rel; rel=$(stored_rel "$1") || return 1
    stored_s3 get "$STORED_PREFIX$rel" "$2"
  else
    local p; p=$(stored_path "$1") || return 1
    [ -f "$p" ] || { echo "no file $p"; return 1; }
    cp -- "$p" "$2"
  fi
}

stored_cmp() { # stored_cmp PATH FILE : the stored file PATH has FILE's bytes
  if on_s3; then
    local copy; copy=$(mktemp "$WORK/stored.XXXXXX") || return 1
    stored_file "$1" "$copy" && cmp -- "$copy" "$2"
  else
    local p; p=$(stored_path "$1") || return 1
    cmp -- "$p" "$2"
  fi
}

stored_exists() { # stored_exists PATH : a file or a directory is stored at PATH (0 yes, 1 no, other: cannot tell)
  if on_s3; then
    local rel; rel=$(stored_rel "$1") || return 2
    stored_s3 exists "$STORED_PREFIX$rel"
  else
    local p; p=$(stored_path "$1") || return 2
    test -e "$p"
  fi
}

stored_absent() { # stored_absent PATH : nothing is stored at PATH (an error reading the store is a failure)
  stored_exists "$1"
  case $? in
  0) echo "still stored: $1"; return 1 ;;
  1) return 0 ;;
  *) echo "could not tell whether $1 is stored"; return 1 ;;
  esac
}

stored_tree() { # stored_tree PATH DIR : materialise the stored directory PATH (its files and subdirectories) as DIR
  if on_s3; then
    local rel; rel=$(stored_rel "$1") || return 1
    stored_s3 tree "$STORED_PREFIX$rel" "$2"
  else
    local p; p=$(stored_path "$1") || return 1
    [ -d "$p" ] || { echo "no directory $p"; return 1; }
    mkdir -p "$2" && cp -a -- "$p/." "$2/"
  fi
}

stored_same_tree() { # stored_same_tree DIR PATH : the stored directory PATH holds DIR's files, byte for byte
  if on_s3; then
    local copy; copy=$(mktemp -d "$WORK/stored-tree.XXXXXX") || return 1
    stored_tree "$2" "$copy" && same_tree "$1" "$copy"
  else
    local p; p=$(stored_path "$2") || return 1
    same_tree "$1" "$p"
  fi
}

stored_put_tree() { # stored_put_tree DIR PATH : store DIR's tree at PATH, bypassing the gateway (for a fixture)
  if on_s3; then
    local rel; rel=$(stored_rel "$2") || return 1
    stored_s3 put-tree "$1" "$STORED_PREFIX$rel"
  else
    local p; p=$(stored_path "$2") || return 1
    mkdir -p "$p" && cp -a -- "$1/." "$p/" || return 1
    if on_upstream; then chown -R "$UPSTREAM_OWNER" "$p"; fi # the server changes them
  fi
}

stored_mode() { # stored_mode PATH : the octal permission bits of PATH (local disk only: a store keeps none)
  if on_s3; then
    echo "stored_mode: a store keeps no file modes"; return 1
  fi
  local p; p=$(stored_path "$1") || return 1
  stat -c %a -- "$p"
}

stored_purge() { # remove every key of this run from the store, or its directory from the upstream
  # (nothing to do on local disk: $WORK goes)
  if on_upstream; then
    [ -n "$STORED_PREFIX" ] && rm -rf -- "${UPSTREAM_DIR:?}/${STORED_PREFIX%/}"
    return
  fi
  on_s3 || return 0
  stored_s3 purge "$STORED_PREFIX"
}

stored_python() { # prints a python3 that can import boto3: the system's, else a venv in the test cache
  if [ -n "${STORED_PY:-}" ]; then echo "$STORED_PY"; return 0; fi
  if python3 -c 'import boto3' 2>/dev/null; then
    STORED_PY=python3
  else
    local cache=${DUALGATE_TEST_CACHE:-$HOME/.cache/dualgate-test}
    local venv=$cache/boto3-venv
    if ! "$venv/bin/python" -c 'import boto3' 2>/dev/null; then
      echo "== python3 has no boto3: installing it into $venv" >&2
      mkdir -p "$cache" || return 1
      (
        flock -w 600 9 || { echo "another install holds $cache/.boto3.lock" >&2; exit 1; }
        "$venv/bin/python" -c 'import boto3' 2>/dev/null && exit 0
        python3 -m venv "$venv" && timeout 600 "$venv/bin/pip" install -q boto3
      ) 9>"$cache/.boto3.lock" >&2 || { echo "installing boto3 into $venv failed" >&2; return 1; }
    fi
    STORED_PY=$venv/bin/python
  fi
  export STORED_PY
  echo "$STORED_PY"
}

stored_s3() { # stored_s3 OP ARGS... : OP on the bucket of $DUALGATE_TEST_STORAGE, directly (boto3)
  # OPs: get KEY OUT | exists KEY (exit 1: absent) | tree KEY DIR | put-tree DIR KEY | purge PREFIX.
  # Exit 1 means a missing key; any other error (the store, the network, the time limit) is 3 or more.
  stored_python >/dev/null || return 2
  timeout "${LIMIT:-60}" "$STORED_PY" - "$DUALGATE_TEST_STORAGE" "$@" <<'PY'
import os, re, sys


def fail(e):  # any error but a definite "no such key" exits 3 (never 1, which means absent)
    sys.stdout.flush()
    print(f"store error: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
    os._exit(3)


sys.excepthook = lambda t, e, tb: fail(e)

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def fragment(path):
    """The storage: section of a YAML fragment (PyYAML if there, else its block form)."""
    text = open(path, encoding="utf-8").read()
    try:
        import yaml
        return {k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in (yaml.safe_load(text) or {}).get("storage", {}).items()}
    except ImportError:
        pass
    conf, inside = {}, False
    for line in text.splitlines():
        if re.match(r"^storage:\s*$", line):
            inside = True
        elif inside and re.match(r"^\S", line):
            inside = False
        elif inside:
            m = re.match(r"^\s+([a-z_0-9]+):\s*(.*?)\s*$", line)
            if m:
                v = m.group(2)
                if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
                    v = v[1:-1]
                conf[m.group(1)] = v
    return conf


def secret(conf, name, env):
    if conf.get(name) not in (None, "", "null"):
        return conf[name]
    if conf.get(name + "_file") not in (None, "", "null"):
        return open(conf[name + "_file"], encoding="utf-8").read().strip()
    return os.environ.get(env)


conf = fragment(sys.argv[1])
op, args = sys.argv[2], sys.argv[3:]
bucket = conf["bucket"]
ca = conf.get("ca_file")
s3 = boto3.client(
    "s3", endpoint_url=conf["endpoint"], region_name=conf.get("region") or "us-east-1",
    aws_access_key_id=secret(conf, "access_key_id", "AWS_ACCESS_KEY_ID"),
    aws_secret_access_key=secret(conf, "secret_access_key", "AWS_SECRET_ACCESS_KEY"),
    aws_session_token=secret(conf, "session_token", "AWS_SESSION_TOKEN"),
    verify=ca if ca not in (None, "", "null") else None,
    config=Config(s3={"addressing_style": "virtual" if conf.get("path_style") == "false" else "path"},
                  retries={"max_attempts": 3}, connect_timeout=5, read_timeout=60))


def keys(prefix):
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            yield o["Key"]


def get(key, out):
    try:
        s3.download_file(bucket, key, out)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            print(f"no object {key!r} in bucket {bucket}")
            sys.exit(1)
        raise


if op == "get":
    get(args[0], args[1])
elif op == "exists":
    key = args[0]
    try:
        s3.head_object(Bucket=bucket, Key=key)
        print(f"object {key!r}")
        sys.exit(0)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
    under = s3.list_objects_v2(Bucket=bucket, Prefix=key + "/", MaxKeys=1).get("Contents", [])
    if under:
        print(f"directory {key!r} (key {under[0]['Key']!r})")
        sys.exit(0)
    sys.exit(1)
elif op == "tree":
    prefix, out = args[0] + "/", args[1]
    found = False
    for key in keys(prefix):
        found = True
        rel = key[len(prefix):]
        path = os.path.join(out, rel)
        if rel == "" or rel.endswith("/"):  # a directory marker
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            get(key, path)
    if not found:
        print(f"no directory {args[0]!r}: no key under {prefix!r} in bucket {bucket}")
        sys.exit(1)
elif op == "put-tree":
    src, prefix = args[0], args[1] + "/"
    for d, dirs, files in os.walk(src):
        rel = os.path.relpath(d, src)
        base = prefix if rel == "." else prefix + rel.replace(os.sep, "/") + "/"
        s3.put_object(Bucket=bucket, Key=base, Body=b"")  # the directory's marker, as MKD makes it
        for f in files:
            s3.upload_file(os.path.join(d, f), bucket, base + f)
elif op == "purge":
    batch = []
    for key in keys(args[0]):
        batch.append({"Key": key})
        if len(batch) == 1000:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch})
            batch = []
    if batch:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch})
else:
    fail(ValueError(f"unknown operation {op}"))
PY
}

# The checks run some of these in `bash -c` strings: make them (and what they read) visible there.
export -f on_s3 on_upstream on_store stored_path stored_rel stored_file stored_cmp stored_exists stored_absent stored_tree stored_same_tree \
  stored_mode stored_python stored_s3 same_tree same_file sha

# --- the gateways ----------------------------------------------------------------------

GATEWAY_PIDS=()

gateway_storage_args() { # gateway_storage_args NAME SERVE-ARGS... : sets GATEWAY_ARGS, the arguments
  # that serve the same files from the store in $DUALGATE_TEST_STORAGE (unchanged on local disk):
  # `--root DIR` becomes a config whose storage: is the fragment with the prefix of DIR (and
  # rename_dirs: recursive, for WebDAV collection MOVE); a config given with -c is merged into it.
  # A config given with -c that has its own storage: section is left as it is.
  local name=$1; shift
  GATEWAY_ARGS=("$@")
  on_store || return 0
  local root='' config='' rest=()
  while [ $# -gt 0 ]; do
    case "$1" in
    --root) root=$2; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    -c | --config) config=$2; shift 2 ;;
    --config=*) config=${1#--config=}; shift ;;
    *) rest+=("$1"); shift ;;
    esac
  done
  if [ -n "$config" ] && grep -q '^storage:' "$config"; then
    return 0 # the script chose its storage itself (store_smoke.sh)
  fi
  [ -n "$root" ] || { echo "start_gateway $name: on a store, a gateway needs --root (it names the prefix)"; return 1; }
  local rel; rel=$(stored_rel "$root") || return 1
  local merged=$WORK/$name.storage.yaml
  if on_upstream; then
    # The root's directory on the upstream (made here, given to the server's account), as
    # the fragment's root: (its other lines unchanged).
    local dir=$UPSTREAM_DIR/$STORED_PREFIX$rel
    mkdir -p "$dir" && chown "$UPSTREAM_OWNER" "$UPSTREAM_DIR/${STORED_PREFIX%/}" "$dir" || return 1
    {
      if [ -n "$config" ]; then cat "$config" && echo; fi
      sed "s#^  root: .*#  root: \"/$STORED_PREFIX$rel\"#" "$DUALGATE_TEST_STORAGE" && echo
    } >"$merged" || return 1
    GATEWAY_ARGS=(-c "$merged" "${rest[@]}")
    return 0
  fi
  {
    if [ -n "$config" ]; then cat "$config" && echo; fi
    cat "$DUALGATE_TEST_STORAGE" && echo
    echo "  prefix: \"$STORED_PREFIX$rel/\""
    echo "  rename_dirs: recursive"
  } >"$merged" || return 1
  stored_python >/dev/null || return 1 # boto3 ready before the checks read the store
  GATEWAY_ARGS=(-c "$merged" "${rest[@]}")
}

start_gateway() { # start_gateway NAME SERVE-ARGS... : dualgate on free loopback ports, logging to
  # $WORK/NAME.out and NAME.err, with the password in $PASSWORD; waits for its start-up block.
  # On a store (DUALGATE_TEST_STORAGE) it serves the store instead of --root: gateway_storage_args.
  local name=$1; shift
  export WORK LIMIT # read by the stored_* helpers in the checks' `bash -c` strings
  gateway_storage_args "$name" "$@" || return 1
  DUALGATE_PASSWORD=$PASSWORD DUALGATE_LOG_LEVEL=warn "$BIN" serve --ftp-listen 127.0.0.1:0 \
    --http-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 "${GATEWAY_ARGS[@]}" >"$WORK/$name.out" 2>"$WORK/$name.err" &
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
