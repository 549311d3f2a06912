#!/usr/bin/env bash
# What the access log costs: throughput with it off, on (the default rate
# limit, 100 lines/s per level) and on without a limit (a line per call),
# side by side on Session reads and on one-op Execute calls
# (compare_modes.sh says how). The server's stderr goes to a file on disk,
# as it would to a journal. Target: "on" within 5% of "off" (ratio >= 0.95).
#
#   bash tests/bench/access_log.sh                 # 3 runs of 5 s per load and mode
#   BENCH_RUNS=5 BENCH_DURATION=10 BUILD_DIR=build-rel bash tests/bench/access_log.sh
#   BASELINE_BIN=path/to/older/overlapd bash tests/bench/access_log.sh
# BASELINE_BIN: an overlapd built without the call observer (e.g. the
# commit before it), for its fixed cost, measured in the same rotation.
name="access log cost"
modes=(off on unlimited)
declare -A flags=([off]="--access-log off" [on]="" [unlimited]="--access-log-rate 0" [baseline]="")
declare -A binary=()
if [[ -n "${BASELINE_BIN:-}" ]]; then modes+=(baseline); binary[baseline]="${BASELINE_BIN}"; fi
loads=(session calls)
source "$(dirname "${BASH_SOURCE[0]}")/compare_modes.sh"
echo "lines written: on $(grep -c ' access ' "${work}/stderr-on.log" || true), every call" \
     "$(grep -c ' access ' "${work}/stderr-unlimited.log" || true)"
