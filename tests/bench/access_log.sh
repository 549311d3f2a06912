#!/usr/bin/env bash
# What the access log costs: throughput with it off, on (the default rate
# limit, 100 lines/s per level) and on without a limit (a line per call),
# side by side, on two loads:
#   - Session reads: `overlap bench read`, 4 KiB files, batches of 64 on 2
#     streams (the fast path; a Session is one call for many ops),
#   - one call per op: overlapd_rpc_bench, 16 threads making Execute calls of
#     one 4 KiB read each (the worst case for anything done per call).
# The server's stderr goes to a file on disk, as it would to a journal.
# Beside the rates, the server's own CPU time per op (per call), from
# /proc/PID/stat over each load: on a shared or busy machine the rates swing
# with whatever else runs, the server's CPU cost per op much less.
# Each figure is the median of BENCH_RUNS runs (min-max beside it); the
# three modes take turns within each run, in a rotating order, so that a
# slow drift of a shared machine hits all of them. Target: "on" within 5%
# of "off" (ratio >= 0.95).
#
#   bash tests/bench/access_log.sh                 # 3 runs of 5 s per load and mode
#   BENCH_RUNS=5 BENCH_DURATION=10 BUILD_DIR=build-rel bash tests/bench/access_log.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
build="${BUILD_DIR:-build}"
[[ "${build}" = /* ]] || build="${repo}/${build}"
bin="${build}/bin"
runs="${BENCH_RUNS:-3}"
dur="${BENCH_DURATION:-5}"
for b in overlapd overlap overlapd_rpc_bench; do
  [[ -x "${bin}/${b}" ]] || { echo "access_log: ${bin}/${b} missing (build first)" >&2; exit 1; }
done
work="$(mktemp -d /var/tmp/overlapd-accesslog.XXXXXX)"
server_pid=""
cleanup() {
  if [[ -n "${server_pid}" ]]; then kill -TERM "${server_pid}" 2>/dev/null || true; wait "${server_pid}" 2>/dev/null || true; fi
  [[ "${BENCH_KEEP:-0}" == 1 ]] || rm -rf "${work}"
}
trap cleanup EXIT

mkdir -p "${work}/root/small"
for i in $(seq -w 0 999); do head -c 4096 /dev/urandom > "${work}/root/small/f${i}"; done

declare -A flags=(
  [off]="--access-log off"
  [on]=""
  [unlimited]="--access-log-rate 0"
  [baseline]=""
)
modes=(off on unlimited)
# BASELINE_BIN: an overlapd built without the call observer (e.g. the commit
# before it), for its fixed cost: measured in the same rotation, shown as a
# fourth column. It must print its ready line on stdout, as every overlapd does.
[[ -z "${BASELINE_BIN:-}" ]] || modes+=(baseline)
declare -A session calls session_cpu calls_cpu
failures=()
errors=()

start_server() {  # mode
  : > "${work}/ready"
  # shellcheck disable=SC2086
  local server="${bin}/overlapd"
  [[ "$1" != baseline ]] || server="${BASELINE_BIN}"
  "${server}" --root "${work}/root" --listen 127.0.0.1:0 --metrics-listen '' \
    ${flags[$1]} > "${work}/ready" 2>> "${work}/stderr-$1.log" &
  server_pid=$!
  for _ in $(seq 100); do grep -q "overlapd ready" "${work}/ready" && break; sleep 0.1; done
  addr="$(sed -n 's/.*grpc=\([^ ]*\).*/\1/p' "${work}/ready")"
  [[ -n "${addr}" ]] || { echo "access_log: the server did not start" >&2; exit 1; }
}
# The server's user + system CPU time, in clock ticks.
server_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/${server_pid}/stat"; }
ticks_per_s="$(getconf CLK_TCK)"
stop_server() {
  kill -TERM "${server_pid}"; wait "${server_pid}" || true; server_pid=""
}

for ((r = 0; r < runs; r++)); do
  for ((k = 0; k < ${#modes[@]}; k++)); do
    mode="${modes[$(((r + k) % ${#modes[@]}))]}"
    start_server "${mode}"
    # The loads' own error counts are reported; a run whose load failed
    # outright (no rate) is left out of the medians.
    t0="$(server_ticks)"
    out="$(timeout $((dur + 120)) "${bin}/overlap" --server "${addr}" --json bench read \
          --dir small --batch 64 --inflight 8 --streams 2 --duration "${dur}" --warmup 1 || true)"
    s="$(sed -n 's/.*"ops_per_s":\([0-9.e+]*\).*/\1/p' <<<"${out}")"
    e="$(sed -n 's/.*"errors":\([0-9]*\).*/\1/p' <<<"${out}")"
    t1="$(server_ticks)"
    n="$(sed -n 's/.*"ops_total":\([0-9]*\).*/\1/p' <<<"${out}")"
    [[ -n "${s}" ]] || failures+=("${mode} session run $((r + 1))")
    [[ -z "${n}" ]] || session_cpu[${mode}]+="$(awk -v t=$((t1 - t0)) -v n="${n}" -v h="${ticks_per_s}" 'BEGIN { printf "%.3f", t / h * 1e6 / n }') "
    [[ "${e:-0}" == 0 ]] || errors+=("${mode} session run $((r + 1)): ${e} ops failed")
    t0="$(server_ticks)"
    out="$(timeout $((dur + 120)) "${bin}/overlapd_rpc_bench" --server "${addr}" \
          --path small/f000 --threads 16 --seconds "${dur}" --warmup 1 || true)"
    c="$(sed -n 's/.*calls_per_s=\([0-9.]*\).*/\1/p' <<<"${out}")"
    e="$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"${out}")"
    t1="$(server_ticks)"
    n="$(sed -n 's/.*calls_total=\([0-9]*\).*/\1/p' <<<"${out}")"
    [[ -n "${c}" ]] || failures+=("${mode} calls run $((r + 1))")
    [[ -z "${n}" ]] || calls_cpu[${mode}]+="$(awk -v t=$((t1 - t0)) -v n="${n}" -v h="${ticks_per_s}" 'BEGIN { printf "%.3f", t / h * 1e6 / n }') "
    [[ "${e:-0}" == 0 ]] || errors+=("${mode} calls run $((r + 1)): ${e} calls failed")
    stop_server
    session[${mode}]+="${s} "
    calls[${mode}]+="${c} "
    echo "run $((r + 1)) ${mode}: session reads ${s} ops/s, one-op calls ${c} calls/s" >&2
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk -v f="${1:-%.0f}" '{a[NR]=$1} END {
  m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
  printf f " " f " " f, m, a[1], a[NR] }'; }
echo
echo "access log cost, medians of ${runs} runs of ${dur} s ($(nproc) cores; stderr to a file):"
header=("off" "on (100 lines/s)" "on, every call")
[[ -z "${BASELINE_BIN:-}" ]] || header+=("baseline binary")
printf '%-32s' "load"; printf ' %24s' "${header[@]}"; echo
for load in session calls session_cpu calls_cpu; do
  declare -n figures="${load}"
  fmt="%.0f"
  case "${load}" in
    session) label="Session reads, ops/s" ;;
    calls) label="one-op Execute calls, calls/s" ;;
    session_cpu) label="server CPU us per Session read"; fmt="%.2f" ;;
    calls_cpu) label="server CPU us per Execute call"; fmt="%.1f" ;;
  esac
  printf '%-32s' "${label}"
  declare -A med=()
  for mode in "${modes[@]}"; do
    read -r m lo hi <<<"$(median "${fmt}" <<<"${figures[${mode}]:-}")"
    med[${mode}]="${m}"
    printf ' %24s' "${m} (${lo}-${hi})"
  done
  echo
  # Rates: on/off; CPU per op: off/on (the throughput a CPU-bound server
  # keeps), so >= 0.95 is the target either way.
  awk -v a="${med[on]}" -v b="${med[unlimited]}" -v o="${med[off]}" -v base="${med[baseline]:-}" \
      -v cpu="$([[ "${load}" == *_cpu ]] && echo 1 || echo 0)" 'BEGIN {
    if (cpu) { printf "  off/on %.3f, off/every-call %.3f", o / a, o / b
               if (base != "") printf ", baseline/off %.3f", base / o }
    else { printf "  ratio on/off %.3f, every-call/off %.3f", a / o, b / o
           if (base != "") printf ", off/baseline %.3f", o / base }
    printf " (target >= 0.95)\n" }'
  unset -n figures
done
((${#failures[@]} == 0)) || echo "runs left out (the load gave no rate): ${failures[*]}"
((${#errors[@]} == 0)) || printf 'load errors: %s\n' "${errors[@]}"
echo "lines written: on $(grep -c ' access ' "${work}/stderr-on.log" || true), every call $(grep -c ' access ' "${work}/stderr-unlimited.log" || true)"
