#!/usr/bin/env bash
# What the durable state store costs: the same loads on overlapd journaling
# jobs and events to --state-dir (the default, "durable") and on overlapd
# --in-memory-state (jobs and the event log in memory only, as before the
# store: the same binary, so the comparison is of the journal alone):
#   - copy:    one job of 1,000 Copy ops of 4 KiB files, Submit to its
#              BATCH_COMPLETE as a subscriber gets it,
#   - events:  25 jobs of 4,000 Stat ops, until a subscriber has all
#              100,025 events,
#   - session: Session reads of 4 KiB files (`overlap bench read`): the fast
#              path, which the journal must not touch (no subscriber asks
#              for session events here).
# Every run starts a fresh server and store; the modes take turns within a
# run, in a rotating order. Medians of BENCH_RUNS runs (min-max beside), and
# durable/in-memory ratios. Target: copy and events at most 1.3x the time,
# session unchanged within noise.
#
#   bash tests/bench/durability.sh                   # 5 runs
#   BENCH_RUNS=9 BUILD_DIR=build-rel bash tests/bench/durability.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"  # here, repo, build, bin
runs="${BENCH_RUNS:-5}"
dur="${BENCH_DURATION:-3}"
for b in overlapd overlap overlapd_durability_bench; do
  [[ -x "${bin}/${b}" ]] || { echo "durability: ${bin}/${b} missing (build first)" >&2; exit 1; }
done
work="$(mktemp -d /var/tmp/overlapd-durability.XXXXXX)"
server_pid=""
cleanup() {
  if [[ -n "${server_pid}" ]]; then kill -TERM "${server_pid}" 2>/dev/null || true; wait "${server_pid}" 2>/dev/null || true; fi
  [[ "${BENCH_KEEP:-0}" == 1 ]] || rm -rf "${work}"
}
trap cleanup EXIT

mkdir -p "${work}/root/src" "${work}/root/out" "${work}/root/small"
for i in $(seq 0 999); do head -c 4096 /dev/urandom > "${work}/root/src/${i}"; done
for i in $(seq -w 0 999); do head -c 4096 /dev/urandom > "${work}/root/small/f${i}"; done

declare -A flags=([durable]="" [memory]="--in-memory-state")
modes=(durable memory)
declare -A copy events session

start_server() {  # mode
  : > "${work}/ready"
  rm -rf "${work}/state"
  # shellcheck disable=SC2086
  "${bin}/overlapd" --root "${work}/root" --state-dir "${work}/state" --listen 127.0.0.1:0 \
    --metrics-listen '' ${flags[$1]} > "${work}/ready" 2>> "${work}/stderr-$1.log" &
  server_pid=$!
  for _ in $(seq 100); do grep -q "overlapd ready" "${work}/ready" && break; sleep 0.1; done
  addr="$(sed -n 's/.*grpc=\([^ ]*\).*/\1/p' "${work}/ready")"
  [[ -n "${addr}" ]] || { echo "durability: the server did not start" >&2; exit 1; }
}
stop_server() { kill -TERM "${server_pid}"; wait "${server_pid}" || true; server_pid=""; }
seconds_of() { sed -n 's/.*seconds=\([0-9.]*\).*/\1/p'; }

for ((r = 0; r < runs; r++)); do
  for ((k = 0; k < ${#modes[@]}; k++)); do
    mode="${modes[$(((r + k) % ${#modes[@]}))]}"
    rm -rf "${work}/root/out" && mkdir "${work}/root/out" && sync  # every copy creates its file
    start_server "${mode}"
    c="$("${bin}/overlapd_durability_bench" --server "${addr}" copy | seconds_of)"
    stop_server
    start_server "${mode}"
    e="$("${bin}/overlapd_durability_bench" --server "${addr}" events | seconds_of)"
    out="$(timeout $((dur + 60)) "${bin}/overlap" --server "${addr}" --json bench read \
          --dir small --batch 64 --inflight 8 --streams 2 --duration "${dur}" --warmup 1 || true)"
    s="$(sed -n 's/.*"ops_per_s":\([0-9.e+]*\).*/\1/p' <<<"${out}")"
    stop_server
    copy[${mode}]+="${c} "
    events[${mode}]+="${e} "
    session[${mode}]+="${s} "
    echo "run $((r + 1)) ${mode}: copy job ${c} s, 100k events ${e} s, session reads ${s} ops/s" >&2
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk -v f="${1}" '{a[NR]=$1} END {
  m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
  printf f " (" f "-" f ")", m, a[1], a[NR] }'; }
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {
  print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo
echo "durability: ${runs} runs, medians (min-max); fsync-backed store at ${work}/state"
printf "%-34s %-28s %-28s %s\n" "load" "durable (--state-dir)" "in memory (--in-memory-state)" "durable/memory"
for load in copy events; do
  declare -n m="${load}"
  label="1,000-op copy job, s"; [[ ${load} == events ]] && label="100k-event subscription, s"
  printf "%-34s %-28s %-28s %s\n" "${label}" "$(median '%.3f' <<<"${m[durable]}")" \
    "$(median '%.3f' <<<"${m[memory]}")" \
    "$(ratio "$(med <<<"${m[durable]}")" "$(med <<<"${m[memory]}")")x time"
done
printf "%-34s %-28s %-28s %s\n" "Session 4 KiB reads, ops/s" "$(median '%.0f' <<<"${session[durable]}")" \
  "$(median '%.0f' <<<"${session[memory]}")" \
  "$(ratio "$(med <<<"${session[durable]}")" "$(med <<<"${session[memory]}")")x rate"
