#!/usr/bin/env bash
# Runs fuzz targets one at a time, niced, SECS seconds each, on the committed
# corpus (new inputs are written into fuzz/corpus/<target>/; minimise with
# ./run.sh --cmin afterwards). Prints libFuzzer's final figures per target.
#
#   fuzz/run.sh [SECS] [target...]        default: 90 s, every target built
#   fuzz/run.sh --cmin [target...]        merge-minimise the corpus in place
#
# Build first (same flags, or everything rebuilds):
#   cargo +nightly fuzz build -O -a -s none [--features dualgate]
set -uo pipefail
cd "$(dirname "$0")"
BIN=target/$(rustc -vV | sed -n 's/^host: //p')/release
all=(ftp_control ftp_reply http_path http_range http_framing http_conditional webdav_xml http_basic vpath proxy_header)
maxlen() { case $1 in vpath) echo 9000 ;; *) echo 4096 ;; esac; }

if [ "${1:-}" = --cmin ]; then
  shift
  for t in "${@:-${all[@]}}"; do
    [ -x "$BIN/$t" ] || continue
    tmp=$(mktemp -d)
    nice -n 19 "$BIN/$t" -merge=1 -max_len="$(maxlen "$t")" "$tmp" "corpus/$t" >/dev/null 2>&1 \
      && rm -f corpus/"$t"/* && cp "$tmp"/* "corpus/$t/"
    rm -rf "$tmp"
    echo "$t: $(ls "corpus/$t" | wc -l) files, $(du -sk "corpus/$t" | cut -f1) KiB after cmin"
  done
  exit 0
fi

SECS=90
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then SECS=$1; shift; fi
rc_all=0
for t in "${@:-${all[@]}}"; do
  [ -x "$BIN/$t" ] || { echo "$t: not built (vpath/proxy_header need --features dualgate)"; continue; }
  mkdir -p "corpus/$t" "artifacts/$t" logs
  dict=(); [ -f "dict/$t.dict" ] && dict=(-dict="dict/$t.dict")
  before=$(ls "corpus/$t" | wc -l)
  nice -n 19 "$BIN/$t" "corpus/$t" "${dict[@]}" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
    -max_len="$(maxlen "$t")" -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"logs/$t.log" 2>&1
  rc=$?
  [ $rc -ne 0 ] && rc_all=1
  last=$(grep -E '^#[0-9]+' "logs/$t.log" | tail -1)
  echo "$t: rc=$rc corpus $before -> $(ls "corpus/$t" | wc -l) files"
  echo "  last: $last"
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "logs/$t.log" | sed 's/^/  /'
  grep -m3 -E 'panicked at|SUMMARY|Test unit written' "logs/$t.log" | sed 's/^/  /'
done
exit $rc_all
