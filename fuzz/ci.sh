#!/usr/bin/env bash
# The bounded fuzz job of CI (issue 17): builds every fuzz target with nightly and
# runs each for FUZZ_CI_SECS seconds (default 30) on its committed corpus and
# regressions, two at a time (FUZZ_CI_JOBS), then prints per target the
# executions, exec/s and coverage, and "N passed, N failed".
#
#   fuzz/ci.sh [target...]        default: all 10 targets
#
# Fails (exit 1) on any crash, panic, failed property, timeout (-timeout=10 s per
# input), out-of-memory (-rss_limit_mb=2048) or a fuzzer that does not stop. The
# input that failed is printed (hex) and copied to fuzz/artifacts/<target>/ (not
# committed): reproduce with the binary the log names, then add it to
# fuzz/regressions/<target>/. Leaks: the targets are built without a sanitizer
# (the code under test forbids `unsafe`), so libFuzzer's leak check (LeakSanitizer)
# is off; a leak shows up as an out-of-memory only.
#
# The committed corpus is read, never written: libFuzzer writes what it finds into
# its first corpus directory, which here is a temporary one.
#
# No cargo-fuzz to install (1 min 33 s to build here): `cargo +nightly build` with
# exactly the flags `cargo fuzz build -O -a -s none` passes (sancov, --cfg fuzzing,
# debug assertions, one codegen unit per crate), into the same target directory,
# so either build reuses the other's. One codegen unit is not the slower choice:
# rebuilding the root crate and the targets took 118.6 s of CPU with it and 141.8 s
# with the default 16 units (see fuzz/README.md, CI).
#
# Without a nightly toolchain the job prints a loud SKIPPED banner and exits 0
# (the corpora and regressions are still replayed on stable by
# `cargo test --manifest-path fuzz/Cargo.toml --no-default-features`), unless
# FUZZ_CI_REQUIRE_NIGHTLY=1 (set by .ci/run, where nightly is part of the image):
# then a missing nightly is an error.
set -uo pipefail
cd "$(dirname "$0")"
SECS=${FUZZ_CI_SECS:-30}
JOBS=${FUZZ_CI_JOBS:-2}
all=(ftp_control ftp_reply http_path http_range http_framing http_conditional webdav_xml http_basic vpath proxy_header)
targets=("${@:-${all[@]}}")

if ! cargo +nightly --version >/dev/null 2>&1; then
  verdict=SKIPPED
  [ "${FUZZ_CI_REQUIRE_NIGHTLY:-0}" = 1 ] && verdict="FAILED (FUZZ_CI_REQUIRE_NIGHTLY=1)"
  echo "################################################################################"
  echo "## fuzz/ci.sh: $verdict - no nightly toolchain (cargo +nightly failed)."
  echo "## The fuzz targets were NOT run. Install one: rustup toolchain install nightly"
  echo "################################################################################"
  [ "${FUZZ_CI_REQUIRE_NIGHTLY:-0}" = 1 ] && { echo "0 passed, 1 failed"; exit 1; }
  exit 0
fi

triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
# cargo-fuzz 0.13's flags for `build -O -a -s none` on Linux (its src/project.rs).
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cdebug-assertions -Ccodegen-units=1"
echo "== fuzz/ci.sh: building ${#targets[@]} targets ($(cargo +nightly --version))"
t0=$(date +%s)
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
if ! nice -n 10 cargo +nightly build --locked --release --target "$triple" \
  --config 'profile.release.debug="line-tables-only"' --features dualgate "${bins[@]}"; then
  echo "fuzz/ci.sh: the fuzz targets do not build"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "== fuzz/ci.sh: built in $(($(date +%s) - t0)) s; running each target ${SECS} s, ${JOBS} at a time"
BIN=target/$triple/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

maxlen() { case $1 in vpath) echo 9000 ;; *) echo 4096 ;; esac; }

# One target: writes $work/<t>.rc and $work/<t>.log.
run_one() {
  local t=$1 dict=() seeds=("corpus/$1")
  mkdir -p "$work/$t.new" "$work/$t.art"
  [ -f "dict/$t.dict" ] && dict=(-dict="dict/$t.dict")
  [ -d "regressions/$t" ] && seeds+=("regressions/$t")
  # libFuzzer stops itself after SECS; the outer timeout only guards a fuzzer that
  # does not (a hang outside an input, which -timeout would not catch).
  timeout -k 10 $((SECS + 120)) nice -n 5 "$BIN/$t" "$work/$t.new" "${seeds[@]}" "${dict[@]}" \
    -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len="$(maxlen "$t")" \
    -print_final_stats=1 -artifact_prefix="$work/$t.art/" >"$work/$t.log" 2>&1
  echo $? >"$work/$t.rc"
}

t1=$(date +%s)
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  run_one "$t" &
done
wait

passed=0 failed=0
printf '%-17s %12s %9s %6s %7s  %s\n' target execs exec/s cov ft result
for t in "${targets[@]}"; do
  log=$work/$t.log rc=$(cat "$work/$t.rc" 2>/dev/null || echo 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  arts=("$work/$t.art"/*)
  if [ "$rc" = 0 ] && [ ! -e "${arts[0]}" ]; then
    result=ok
    passed=$((passed + 1))
  else
    result="FAILED (exit $rc)"
    failed=$((failed + 1))
  fi
  printf '%-17s %12s %9s %6s %7s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result"
  if [ "$result" != ok ]; then
    echo "---- $t: the fuzzer's last lines"
    grep -v -E '^#[0-9]+' "$log" | tail -40
    mkdir -p "artifacts/$t"
    for a in "${arts[@]}"; do
      [ -e "$a" ] || continue
      cp "$a" "artifacts/$t/"
      echo "---- $t: input $(basename "$a") (saved to fuzz/artifacts/$t/; reproduce: fuzz/$BIN/$t fuzz/artifacts/$t/$(basename "$a"))"
      head -c 2048 "$a" | od -An -tx1 | head -64
    done
  fi
done
echo "== fuzz/ci.sh: runs took $(($(date +%s) - t1)) s, $(($(date +%s) - t0)) s in all"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
