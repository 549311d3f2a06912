#!/usr/bin/env bash
# Does a subscriber that reads one message a second slow the producer of
# 100k job events? Runs JobsTest.SlowSubscriberLosesEventsNotThroughput
# (which asserts only the behaviour: EVENTS_LOST with the exact count) with
# OVERLAPD_TIMING_ROUNDS rounds of "alone" and "watched", BENCH_RUNS times,
# and prints the median ratio watched / alone (target: <= 1.10).
#
#   bash tests/bench/slow_subscriber.sh            # 3 runs of 3 rounds
#   BENCH_RUNS=5 BUILD_DIR=build-rel bash tests/bench/slow_subscriber.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD_DIR:-${here}/../../build}
runs=${BENCH_RUNS:-3}
bin="${build}/bin/overlapd_integration_test"
[[ -x "${bin}" ]] || { echo "slow_subscriber: ${bin} missing (make build first)" >&2; exit 1; }
ratios=()
for ((r = 1; r <= runs; r++)); do
  line=$(OVERLAPD_TIMING_ROUNDS=3 timeout 600 "${bin}" \
      --gtest_filter=JobsTest.SlowSubscriberLosesEventsNotThroughput | grep 'slow-subscriber timing:' || true)
  [[ -n "${line}" ]] || { echo "slow_subscriber: run ${r} printed no timing" >&2; exit 1; }
  echo "run ${r}: ${line#*timing: }"
  ratios+=("$(sed -E 's/.*ratio=([0-9.e+-]+).*/\1/' <<<"${line}")")
done
printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END {
  m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
  printf "slow subscriber: producer time watched/alone, median of %d runs: %.3fx (min %.3f, max %.3f; target <= 1.10)\n", NR, m, a[1], a[NR] }'
