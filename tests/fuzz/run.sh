#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the libFuzzer targets of the `fuzz` preset, each for a fixed time, and fails when any of
# them finds a crash, a leak or a timeout.
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 30 s, every target)
# Each target starts from its committed corpus (tests/fuzz/corpus/<target>/, read only) and keeps
# what it learns in build-fuzz/corpus/<target>/. Whatever crashes is written to
# build-fuzz/crashes/<target>/: commit such a file into tests/fuzz/corpus/<target>/ with the fix,
# and every ordinary ctest run replays it (label "fuzz").
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-30}
shift || true
bin=build-fuzz/fuzz
if [ ! -d "$bin" ]; then
  echo "run.sh: no $bin; build first: cmake --preset fuzz && cmake --build --preset fuzz" >&2
  exit 2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for t in "$bin"/fuzz_*; do targets+=("$(basename "$t")"); done
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
printf '%-26s %12s %10s %8s  %s\n' target inputs exec/s corpus result
for t in "${targets[@]}"; do
  work=build-fuzz/corpus/$t
  crashes=build-fuzz/crashes/$t
  mkdir -p "$work" "$crashes"
  log=build-fuzz/$t.log
  # -timeout: one input taking longer is a hang; -rss_limit_mb: growing past it is a bug.
  "$bin/$t" "$work" "tests/fuzz/corpus/$t" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 -artifact_prefix="$crashes/" \
    >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  size=$(find "$work" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $rc; see $log and $crashes/)"
    failed=1
  fi
  printf '%-26s %12s %10s %8s  %s\n' "$t" "${runs:-?}" "${speed:-?}" "$size" "$result"
done
exit $failed
