#!/usr/bin/env bash
# The cost of routing: 4 KiB reads through ClusterClient over three overlapd
# nodes sharing a placement map (alpha, beta, gamma: one prefix each) against
# the same batches sent straight to one node that holds every file, same
# total load (BENCH_THREADS threads, batches of 48 reads over the three
# prefixes, BENCH_DURATION seconds). Each figure is the median of
# BENCH_RUNS runs (min-max beside it), the two modes taking turns; the ratio
# is cluster / single. On 2 cores expect no speed-up from three nodes, only
# the cost of splitting each batch, running its parts at once and merging
# the events. A benchmark, not a test.
#
#   tests/bench/cluster.sh          # BENCH_RUNS=3 BENCH_DURATION=5 BENCH_THREADS=4
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"  # here, repo, build, bin
runs="${BENCH_RUNS:-3}"
dur="${BENCH_DURATION:-5}"
threads="${BENCH_THREADS:-4}"
files=300
for b in overlapd overlapd_cluster_bench; do
  [[ -x "${bin}/${b}" ]] || { echo "cluster.sh: ${bin}/${b} missing (build first)" >&2; exit 1; }
done
work="$(mktemp -d /var/tmp/overlapd-cluster.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "${p}" 2>/dev/null || true; wait "${p}" 2>/dev/null || true; done
  rm -rf "${work}"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() {  # name root flags...
  local name=$1 root=$2; shift 2
  "${bin}/overlapd" --root "${root}" --metrics-listen '' --workers 1 "$@" \
    > "${work}/${name}.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q "overlapd ready" "${work}/${name}.out" && return; sleep 0.1; done
  echo "cluster.sh: node ${name} did not start:" >&2; cat "${work}/${name}.out" >&2; exit 1
}

prefixes=(alpha beta gamma)
ports=("$(free_port)" "$(free_port)" "$(free_port)")
nodes=""
for i in 0 1 2; do
  p=${prefixes[$i]}
  mkdir -p "${work}/node${i}/${p}" "${work}/single/${p}"
  for n in $(seq -f %03g 0 $((files - 1))); do
    head -c 4096 /dev/urandom > "${work}/node${i}/${p}/f${n}"
    cp "${work}/node${i}/${p}/f${n}" "${work}/single/${p}/f${n}"
  done
  nodes+="${nodes:+,}{\"name\": \"n${i}\", \"address\": \"127.0.0.1:${ports[$i]}\", \"prefixes\": [\"${p}\"]}"
done
echo "{\"version\": 1, \"nodes\": [${nodes}]}" > "${work}/placement.json"
for i in 0 1 2; do
  start "n${i}" "${work}/node${i}" --listen "127.0.0.1:${ports[$i]}" \
    --placement "${work}/placement.json" --node "n${i}"
done
single_port="$(free_port)"
start single "${work}/single" --listen "127.0.0.1:${single_port}"

declare -A rates
for run in $(seq "${runs}"); do
  for mode in single cluster; do
    if [[ ${mode} == single ]]; then target=(--direct "127.0.0.1:${single_port}")
    else target=(--cluster "127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"); fi
    line="$("${bin}/overlapd_cluster_bench" "${target[@]}" --files "${files}" \
      --threads "${threads}" --seconds "${dur}")"
    echo "run ${run} ${mode}: ${line}"
    rates[${mode}]+="$(sed -n 's/.*ops_per_s=\([0-9]*\).*/\1/p' <<< "${line}") "
  done
done
median() { tr ' ' '\n' <<< "$1" | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
range() { tr ' ' '\n' <<< "$1" | sed '/^$/d' | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {print lo "-" hi}'; }
s="$(median "${rates[single]}")"; c="$(median "${rates[cluster]}")"
echo "4 KiB reads, ${threads} threads, batches of 48, ${dur} s, median of ${runs} ($(nproc) cores):"
echo "  one node alone:            ${s} ops/s ($(range "${rates[single]}"))"
echo "  ClusterClient, 3 nodes:    ${c} ops/s ($(range "${rates[cluster]}"))"
awk -v c="${c}" -v s="${s}" 'BEGIN { printf "  ratio cluster/single:      %.2f\n", c / s }'
