#!/usr/bin/env bash
# Compares overlapd run with different flags ("modes"), side by side in one
# run, on up to three loads over gRPC data (--no-lane):
#   session  Session reads of 4 KiB files: `overlap bench read`, batches of 64
#            on 2 streams (the fast path; one call, many ops), ops/s
#   calls    one call per op: overlapd_rpc_bench, 16 threads making Execute
#            calls of one 4 KiB read each (the worst case for per-call work)
#   big      whole reads of one 256 MiB hot file, one op at a time, MB/s
# Beside each rate, the server's CPU time per op (from /proc/PID/stat over
# the load): on a shared machine rates swing with whatever else runs, the
# CPU cost per op much less. Each figure is the median of BENCH_RUNS runs
# (min-max beside it); the modes take turns within each run in a rotating
# order, so a slow drift of the machine hits all of them. Ratios are
# against the first mode.
#
# Sourced by a wrapper that sets, before `source`:
#   name="writer threads"                        # for the report
#   modes=(inline pool)                          # first: the reference
#   declare -A flags=([inline]="" [pool]="--writer-threads 1")
#   declare -A binary=([old]=/path/to/overlapd)  # optional, per mode
#   loads=(session calls big)                    # optional, default all three
# BENCH_RUNS (3), BENCH_DURATION (5 s per load and mode), BUILD_DIR (build).
# After the report, the wrapper may read "${work}/stderr-MODE.log".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"  # here, repo, build, bin
runs="${BENCH_RUNS:-3}"
dur="${BENCH_DURATION:-5}"
[[ -n "${loads+x}" ]] || loads=(session calls big)
declare -A binary 2>/dev/null || true
for b in overlapd overlap overlapd_rpc_bench; do
  [[ -x "${bin}/${b}" ]] || { echo "${name}: ${bin}/${b} missing (build first)" >&2; exit 1; }
done
work="$(mktemp -d /var/tmp/overlapd-modes.XXXXXX)"
server_pid=""
cleanup() {
  if [[ -n "${server_pid}" ]]; then kill -TERM "${server_pid}" 2>/dev/null || true; wait "${server_pid}" 2>/dev/null || true; fi
  [[ "${BENCH_KEEP:-0}" == 1 ]] || rm -rf "${work}"
}
trap cleanup EXIT

mkdir -p "${work}/root/small"
for i in $(seq -w 0 999); do head -c 4096 /dev/urandom > "${work}/root/small/f${i}"; done
[[ " ${loads[*]} " != *" big "* ]] || head -c $((256 << 20)) /dev/urandom > "${work}/root/big.bin"

start_server() {  # mode
  : > "${work}/ready"
  local server="${binary[$1]:-${bin}/overlapd}"
  # shellcheck disable=SC2086
  "${server}" --root "${work}/root" --listen 127.0.0.1:0 --metrics-listen '' \
    ${flags[$1]} > "${work}/ready" 2>> "${work}/stderr-$1.log" &
  server_pid=$!
  for _ in $(seq 100); do grep -q "overlapd ready" "${work}/ready" && break; sleep 0.1; done
  addr="$(sed -n 's/.*grpc=\([^ ]*\).*/\1/p' "${work}/ready")"
  [[ -n "${addr}" ]] || { echo "${name}: the ${1} server did not start" >&2; exit 1; }
}
stop_server() { kill -TERM "${server_pid}"; wait "${server_pid}" || true; server_pid=""; }
# The server's user + system CPU time, in clock ticks.
server_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/${server_pid}/stat"; }
ticks_per_s="$(getconf CLK_TCK)"

# Runs one load against the server at ${addr}; prints "RATE OPS ERRORS".
run_load() {
  local out
  case "$1" in
    session|big)
      local what=(--dir small --batch 64 --inflight 8 --streams 2)
      [[ "$1" == session ]] || what=(--path big.bin --batch 1 --inflight 1 --streams 1)
      out="$(timeout $((dur + 120)) "${bin}/overlap" --no-lane --server "${addr}" --json \
             bench read "${what[@]}" --duration "${dur}" --warmup 1 || true)"
      local field=ops_per_s
      [[ "$1" == session ]] || field=mb_per_s
      echo "$(sed -n "s/.*\"${field}\":\([0-9.e+]*\).*/\1/p" <<<"${out}") \
$(sed -n 's/.*"ops_total":\([0-9]*\).*/\1/p' <<<"${out}") \
$(sed -n 's/.*"errors":\([0-9]*\).*/\1/p' <<<"${out}")" ;;
    calls)
      out="$(timeout $((dur + 120)) "${bin}/overlapd_rpc_bench" --server "${addr}" \
             --path small/f000 --threads 16 --seconds "${dur}" --warmup 1 || true)"
      echo "$(sed -n 's/.*calls_per_s=\([0-9.]*\).*/\1/p' <<<"${out}") \
$(sed -n 's/.*calls_total=\([0-9]*\).*/\1/p' <<<"${out}") \
$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"${out}")" ;;
  esac
}

declare -A rate cpu run_rate
failures=()
errors=()
for ((r = 0; r < runs; r++)); do
  for ((k = 0; k < ${#modes[@]}; k++)); do
    mode="${modes[$(((r + k) % ${#modes[@]}))]}"
    start_server "${mode}"
    line="run $((r + 1)) ${mode}:"
    for load in "${loads[@]}"; do
      t0="$(server_ticks)"
      read -r v n e <<<"$(run_load "${load}")"
      t1="$(server_ticks)"
      # A run whose load gave no rate is left out of the medians.
      if [[ -z "${v:-}" ]]; then failures+=("${mode} ${load} run $((r + 1))"); continue; fi
      rate[${mode},${load}]+="${v} "
      run_rate[${mode},${load},${r}]="${v}"
      [[ -z "${n:-}" || "${n}" == 0 ]] || cpu[${mode},${load}]+="$(awk -v t=$((t1 - t0)) -v n="${n}" \
        -v h="${ticks_per_s}" 'BEGIN { printf "%.3f", t / h * 1e6 / n }') "
      [[ "${e:-0}" == 0 ]] || errors+=("${mode} ${load} run $((r + 1)): ${e} failed")
      line+=" ${load} ${v}"
    done
    stop_server
    echo "${line}" >&2
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk -v f="${1:-%.0f}" '{a[NR]=$1} END {
  if (NR == 0) { printf "- - -"; exit }
  m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
  printf f " " f " " f, m, a[1], a[NR] }'; }
echo
echo "${name}: medians of ${runs} runs of ${dur} s ($(nproc) cores), ratios against ${modes[0]}:"
printf '%-36s' "load"; for mode in "${modes[@]}"; do printf ' %24s' "${mode}"; done; echo
for load in "${loads[@]}"; do
  for kind in rate cpu; do
    declare -n figures="${kind}"
    case "${load},${kind}" in
      session,rate) label="Session reads, ops/s"; fmt="%.0f" ;;
      calls,rate) label="one-op Execute calls, calls/s"; fmt="%.0f" ;;
      big,rate) label="256 MiB file reads, MB/s"; fmt="%.0f" ;;
      *) label="  server CPU us per ${load} op"; fmt="%.2f" ;;
    esac
    printf '%-36s' "${label}"
    ref=""
    ratios=""
    for mode in "${modes[@]}"; do
      read -r m lo hi <<<"$(median "${fmt}" <<<"${figures[${mode},${load}]:-}")"
      printf ' %24s' "${m} (${lo}-${hi})"
      [[ -n "${ref}" ]] || { ref="${m}"; continue; }
      # Rates: mode/reference; CPU per op: reference/mode (the throughput a
      # CPU-bound server keeps), so > 1 is better either way.
      ratios+="$(awk -v a="${m}" -v b="${ref}" -v c="${kind}" -v n="${mode}" 'BEGIN {
        if (a == "-" || b == "-" || a == 0) { printf "  %s -", n; exit }
        printf "  %s %.3f", n, (c == "cpu") ? b / a : a / b }')"
    done
    echo "   ${ratios}"
    unset -n figures
  done
done
# Paired: each run's rate of a mode over the reference's in the same run
# (the modes of one run ran minutes apart at most), then the median of those
# ratios: steadier than a ratio of medians when the machine drifts.
echo
echo "paired ratios against ${modes[0]} (median of per-run ratios, min-max):"
for load in "${loads[@]}"; do
  for mode in "${modes[@]:1}"; do
    pairs=""
    for ((r = 0; r < runs; r++)); do
      a="${run_rate[${mode},${load},${r}]:-}"; b="${run_rate[${modes[0]},${load},${r}]:-}"
      [[ -n "${a}" && -n "${b}" ]] || continue
      pairs+="$(awk -v a="${a}" -v b="${b}" 'BEGIN { if (b > 0) printf "%.4f", a / b }') "
    done
    read -r m lo hi <<<"$(median "%.3f" <<<"${pairs}")"
    printf '  %-10s %-10s %s (%s-%s)\n' "${load}" "${mode}" "${m}" "${lo}" "${hi}"
  done
done
((${#failures[@]} == 0)) || echo "runs left out (the load gave no rate): ${failures[*]}"
((${#errors[@]} == 0)) || printf 'load errors: %s\n' "${errors[@]}"
