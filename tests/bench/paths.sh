# Sourced by the benchmark scripts: where the repository and the built
# binaries are. BUILD_DIR (default build, relative to the repository).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
build="${BUILD_DIR:-build}"
[[ "${build}" = /* ]] || build="${repo}/${build}"
bin="${build}/bin"

# start_overlapd WORK ARGS...: starts ${bin}/overlapd with ARGS on a free
# loopback port in the background (its ready line in WORK/ready, its log in
# WORK/server.log); sets server_pid and addr (HOST:PORT), or exits.
start_overlapd() {
  local work="$1"; shift
  "${bin}/overlapd" --listen 127.0.0.1:0 "$@" > "${work}/ready" 2> "${work}/server.log" &
  server_pid=$!
  for ((i = 0; i < 100; i++)); do grep -q "overlapd ready" "${work}/ready" 2>/dev/null && break; sleep 0.1; done
  addr="$(grep -o 'grpc=[^ ]*' "${work}/ready" | cut -d= -f2)"
  [[ -n "${addr}" ]] || { cat "${work}/server.log" >&2; exit 1; }
}

# bench_workdir NAME: a fresh work folder (work; root=work/data, results=
# work/results.jsonl), removed at exit with the server start_overlapd
# started; log MESSAGE prints "[NAME time] MESSAGE" to stderr.
bench_workdir() {
  bench_name="$1"
  work="$(mktemp -d "${TMPDIR:-/tmp}/overlapd-${bench_name}.XXXXXX")"
  root="${work}/data"
  results="${work}/results.jsonl"
  server_pid=""
  trap bench_cleanup EXIT
}
bench_cleanup() {
  [[ -n "${server_pid}" ]] && kill "${server_pid}" 2>/dev/null && wait "${server_pid}" 2>/dev/null
  rm -rf "${work}"
}
log() { printf '[%s %s] %s\n' "${bench_name}" "$(date +%T)" "$*" >&2; }
