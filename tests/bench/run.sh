#!/usr/bin/env bash
# The overlapd benchmark suite (issue 4): overlapd beside fio, nginx and cat on
# the same files, in one run, on this machine. `make bench` runs it; it
# writes docs/PERFORMANCE.md. See tests/bench/README.md.
#
#   bash tests/bench/run.sh                  # the full suite (< 30 min)
#   BENCH_QUICK=1 bash tests/bench/run.sh    # a smoke run of a few minutes
#
# Environment:
#   BUILD_DIR      build folder holding bin/overlapd, bin/overlap and
#                  bin/overlapd_engine_bench (default: build)
#   BENCH_QUICK    1: short runs and small files (the figures are indicative)
#   BENCH_RUNS     runs per figure, the median is reported (default 3)
#   BENCH_DURATION seconds per timed run (default 10; quick 2)
#   BENCH_WORKDIR  where the data files go (default: a new /var/tmp/overlapd-bench.*)
#   BENCH_KEEP     1: keep the work folder (default: removed at exit)
#   BENCH_DOC      the report to write (default: docs/PERFORMANCE.md)
#   BENCH_PROFILE  0: skip the perf profiles of the server (default 1 when
#                  perf works)
#   BENCH_NO_INSTALL 1: do not apt-get missing tools (their rows are skipped)
#
# Every load is bounded in time (timeout) and count; servers listen on
# 127.0.0.1 only and are stopped at exit, also on failure.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"  # here, repo, build, bin
py=/usr/bin/python3
quick="${BENCH_QUICK:-0}"
runs="${BENCH_RUNS:-3}"
doc="${BENCH_DOC:-${repo}/docs/PERFORMANCE.md}"
cores="$(nproc)"
suite_start="$(date +%s)"

if [[ "${quick}" == 1 ]]; then
  dur="${BENCH_DURATION:-2}"
  small_dirs=4; small_per_dir=500            # 2,000 files of 4 KiB
  medium_files=64                            # 64 MiB of 1 MiB files
  eng_mib=256                                # engine / fio file
  big_mib=1024                               # the "huge" file
  write_mib=256; sync_mib=32
  sessions=100; subscribers=1000
  wsmall=500; wmedium=32; wdurable=8
  probe_dur=2
else
  dur="${BENCH_DURATION:-10}"
  small_dirs=10; small_per_dir=1000          # 10,000 files of 4 KiB
  medium_files=256                           # 256 MiB of 1 MiB files
  eng_mib=1024
  big_mib=4096
  write_mib=1024; sync_mib=128
  sessions=1000; subscribers=10000
  wsmall=5000; wmedium=256; wdurable=32
  probe_dur=5
fi

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------------------
# Tools

need_install=()
command -v fio >/dev/null || need_install+=(fio)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need_install+=(nginx-light)
command -v wrk >/dev/null || need_install+=(wrk)
command -v h2load >/dev/null || need_install+=(nghttp2-client)
command -v protoc >/dev/null || need_install+=(protobuf-compiler)
[[ -x /usr/bin/grpc_python_plugin ]] || need_install+=(protobuf-compiler-grpc)
"${py}" -c 'import grpc' 2>/dev/null || need_install+=(python3-grpcio python3-protobuf)
if ((${#need_install[@]})) && [[ "${BENCH_NO_INSTALL:-0}" != 1 ]]; then
  log "installing ${need_install[*]}"
  if [[ $(id -u) == 0 ]]; then sudo=; else sudo=sudo; fi
  ${sudo} apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive ${sudo} apt-get install -y -qq --no-install-recommends \
    "${need_install[@]}" >/dev/null
fi
export PATH="${PATH}:/usr/sbin"
for b in overlapd overlap overlapd_engine_bench; do
  [[ -x "${bin}/${b}" ]] || die "${bin}/${b} missing: build first (make build)"
done
"${bin}/overlap" bench --help >/dev/null 2>&1 || die "${bin}/overlap has no 'bench' command"
have() { command -v "$1" >/dev/null; }

# ---------------------------------------------------------------------------
# Work folder, results, cleanup

work="${BENCH_WORKDIR:-$(mktemp -d /var/tmp/overlapd-bench.XXXXXX)}"
mkdir -p "${work}"
root="${work}/root"
results="${work}/results.jsonl"
: >"${results}"
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill -TERM "${p}" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "${p}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${p}" 2>/dev/null || true
  done
  if [[ "${BENCH_KEEP:-0}" != 1 && -z "${BENCH_WORKDIR:-}" ]]; then
    rm -rf "${work}"
  else
    log "work folder kept: ${work}"
  fi
  exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Samples the CPU use of processes outside the suite, to tell which figures
# come from a busy machine.
"${py}" "${here}/report.py" sample-other $$ "${work}/other-load.jsonl" &
sampler_pid=$!
pids+=("${sampler_pid}")
# mark NAME: the part of the suite that starts now (for the report).
mark() {
  echo "{\"section\": \"mark\", \"name\": \"$1\", \"t\": $(date +%s.%N)}" >>"${results}"
}

# record SECTION CASE TOOL RUN JSON [extra JSON fields merged in]
record() {
  "${py}" - "$@" >>"${results}" <<'PY'
import json, sys
section, case, tool, run, payload = sys.argv[1:6]
try:
    obj = json.loads(payload) if payload.strip() else {}
except ValueError:
    obj = {"error": "unparsable output", "raw": payload[-300:]}
for extra in sys.argv[6:]:
    obj.update(json.loads(extra))
obj.update({"section": section, "case": case, "tool": tool, "run": int(run)})
print(json.dumps(obj))
PY
}

# CPU seconds (user + system) of the given processes so far.
cpu_of() {
  local total=0 p t
  for p in "$@"; do
    # Fields after the ")" that ends the command name: utime is 12th, stime 13th.
    t=$(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/${p}/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  "${py}" -c "import os; print(${total} / os.sysconf('SC_CLK_TCK'))"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
free_port() { "${py}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ns() { date +%s%N; }

# Drops the page cache of one file (POSIX_FADV_DONTNEED, what fio's
# invalidate does): needs no privilege and leaves the rest of a shared
# machine's cache alone. Falls back to drop_caches when pages stay.
drop_file_cache() {
  sync "$1" 2>/dev/null || sync
  dd if="$1" iflag=nocache count=0 status=none 2>/dev/null || true
  if have fincore; then
    local cached
    cached=$(fincore -nb -o RES "$1" 2>/dev/null | tr -d ' ' || echo 0)
    if [[ "${cached:-0}" -gt $((64 << 20)) ]]; then
      echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || return 1
    fi
  fi
  return 0
}

machine_json() {
  "${py}" - "${work}" "${quick}" "${runs}" "${dur}" <<'PY'
import json, os, platform, subprocess, sys
work, quick, runs, dur = sys.argv[1:5]
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""
model = ""
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        model = line.split(":", 1)[1].strip(); break
mem = 0
for line in open("/proc/meminfo"):
    if line.startswith("MemTotal:"):
        mem = int(line.split()[1]) * 1024
src = sh(f"df --output=source,fstype {work} | tail -1").split()
dev = os.path.basename(src[0]) if src else ""
disk = dev
parts = sh(f"lsblk -dno NAME,SIZE,ROTA,MODEL /dev/{dev} 2>/dev/null").split(None, 3)
if len(parts) >= 3:
    disk = f"{parts[0]}, {parts[1]}, {'rotational' if parts[2] == '1' else 'non-rotational'} per the kernel"
    if len(parts) > 3:
        disk += f", {parts[3]}"
virt = sh("systemd-detect-virt 2>/dev/null")
if " hypervisor " in open("/proc/cpuinfo").read().replace("\n", " "):
    virt = (virt + ", " if virt and virt != "none" else "") + "hypervisor (a VM)"
print(json.dumps({"section": "machine", "cores": os.cpu_count(), "cpu": model,
                  "memory_bytes": mem, "kernel": platform.release(),
                  "device": src[0] if src else "", "fstype": src[1] if len(src) > 1 else "",
                  "disk": disk, "virt": virt,
                  "loadavg_start": open("/proc/loadavg").read().split()[:3],
                  "quick": quick == "1", "runs": int(runs), "duration_s": float(dur),
                  "date": sh("date -u +%Y-%m-%dT%H:%M:%SZ")}))
PY
}

# ---------------------------------------------------------------------------
# Data

log "work folder ${work} (quick=${quick}, ${runs} runs of ${dur}s)"
machine_json >>"${results}"
(cd "${repo}" && echo "{\"section\": \"git\", \"commit\": \"$(git rev-parse --short HEAD 2>/dev/null)\", \"dirty\": $( [[ -n "$(git status --porcelain 2>/dev/null | head -1)" ]] && echo true || echo false), \"built\": \"$(date -u -r "$(readlink -f "${bin}/overlapd")" +%Y-%m-%dT%H:%M:%SZ)\"}") >>"${results}"

mark "creating the data"
mkdir -p "${root}/small" "${root}/medium" "${work}/engine"
log "creating $((small_dirs * small_per_dir)) files of 4 KiB, ${medium_files} of 1 MiB"
for ((d = 0; d < small_dirs; d++)); do
  dir=$(printf '%s/small/d%02d' "${root}" "${d}")
  mkdir -p "${dir}"
  head -c $((4096 * small_per_dir)) /dev/urandom | (cd "${dir}" && split -b 4096 -a 4 -d - f)
done
head -c $((medium_files << 20)) /dev/urandom | (cd "${root}/medium" && split -b 1M -a 4 -d - m)
log "creating the ${eng_mib} MiB engine file and the ${big_mib} MiB big file"
eng_file="${work}/engine/eng.dat"
wfile="${work}/engine/write.dat"
head -c $((eng_mib << 20)) /dev/urandom >"${eng_file}"
# The big file: random bytes (not sparse: a cold read must touch the disk).
head -c $((256 << 20)) /dev/urandom >"${work}/chunk.tmp"
: >"${root}/big.bin"
for ((i = 0; i < big_mib / 256; i++)); do cat "${work}/chunk.tmp" >>"${root}/big.bin"; done
rm -f "${work}/chunk.tmp"
dd if=/dev/zero of="${wfile}" bs=1M count="${write_mib}" status=none
sync

# ---------------------------------------------------------------------------
# 1. Engine vs fio: the same file and parameters, alternating tool by tool.

eb() { timeout $((${dur%.*} * 3 + 120)) "${bin}/overlapd_engine_bench" "$@" 2>>"${work}/engine.err" || true; }
fio_run() {
  local out="${work}/fio.json"
  if timeout $((${dur%.*} * 3 + 120)) fio --output-format=json --output="${out}" --name=bench "$@" \
       >/dev/null 2>>"${work}/fio.err"; then
    "${py}" "${here}/report.py" parse-fio "${out}"
  else
    echo '{"error": "fio failed"}'
  fi
}
warm() { cat "$@" >/dev/null; }

if have fio; then
  log "engine vs fio (${runs} runs each)"
  mark "engine vs fio"
  for ((r = 1; r <= runs; r++)); do
    # 4 KiB random reads, O_DIRECT, queue depth 32.
    record engine randread_direct_qd32 engine "${r}" \
      "$(eb --workload randread --file "${eng_file}" --bs 4k --qd 32 --direct --duration "${dur}" --warmup 1)"
    record engine randread_direct_qd32 fio "${r}" \
      "$(fio_run --filename="${eng_file}" --rw=randread --bs=4k --direct=1 --ioengine=io_uring \
           --iodepth=32 --time_based --runtime="${dur}" --ramp_time=1)"
    # 4 KiB random reads from a hot page cache with every core. fio psync,
    # one job per core; --invalidate=0 or fio would drop the cache first.
    warm "${eng_file}"
    record engine randread_hot_allcores engine "${r}" \
      "$(eb --workload randread --file "${eng_file}" --bs 4k --qd $((32 * cores)) --duration "${dur}" --warmup 1)"
    record engine randread_hot_allcores fio "${r}" \
      "$(fio_run --filename="${eng_file}" --rw=randread --bs=4k --ioengine=psync --numjobs="${cores}" \
           --group_reporting --invalidate=0 --time_based --runtime="${dur}" --ramp_time=1)"
    # Reference only: fio's own io_uring at the engine's depth, hot.
    record engine randread_hot_allcores fio_uring_qd32 "${r}" \
      "$(fio_run --filename="${eng_file}" --rw=randread --bs=4k --ioengine=io_uring --iodepth=32 \
           --invalidate=0 --time_based --runtime="${dur}" --ramp_time=1)"
    # 1 MiB sequential reads, hot and cold (one pass after dropping the
    # file's cache), queue depth 8.
    warm "${eng_file}"
    record engine seqread_hot engine "${r}" \
      "$(eb --workload seqread --file "${eng_file}" --bs 1M --qd 8 --duration "${dur}" --warmup 1)"
    record engine seqread_hot fio "${r}" \
      "$(fio_run --filename="${eng_file}" --rw=read --bs=1M --ioengine=io_uring --iodepth=8 \
           --invalidate=0 --time_based --runtime="${dur}" --ramp_time=1)"
    drop_file_cache "${eng_file}" || true
    record engine seqread_cold engine "${r}" \
      "$(eb --workload seqread --file "${eng_file}" --bs 1M --qd 8 --cold --duration 120)"
    record engine seqread_cold fio "${r}" \
      "$(fio_run --filename="${eng_file}" --rw=read --bs=1M --ioengine=io_uring --iodepth=8 \
           --invalidate=1 --size="${eng_mib}M" --runtime=120)"
    # 1 MiB writes over an existing file, without and with fdatasync after
    # each write (then one at a time: the sync orders them anyway).
    sync
    record engine write_1m engine "${r}" \
      "$(eb --workload write --file "${wfile}" --bs 1M --qd 8 --size "${write_mib}M" --duration "${dur}")"
    sync
    record engine write_1m fio "${r}" \
      "$(fio_run --filename="${wfile}" --rw=write --bs=1M --ioengine=io_uring --iodepth=8 \
           --size="${write_mib}M" --runtime="${dur}")"
    sync
    record engine write_1m_fdatasync engine "${r}" \
      "$(eb --workload write --file "${wfile}" --bs 1M --qd 1 --sync data --size "${sync_mib}M" --duration "${dur}")"
    record engine write_1m_fdatasync fio "${r}" \
      "$(fio_run --filename="${wfile}" --rw=write --bs=1M --ioengine=io_uring --iodepth=1 \
           --fdatasync=1 --size="${sync_mib}M" --runtime="${dur}")"
  done
else
  log "fio missing: engine-vs-fio skipped"
fi

# ---------------------------------------------------------------------------
# 2. Servers: overlapd and nginx on 127.0.0.1, serving the same root.

start_overlapd() {
  "${bin}/overlapd" --root "${root}" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
    --log-level warn >"${work}/overlapd.out" 2>"${work}/overlapd.err" &
  od_pid=$!
  pids+=("${od_pid}")
  for _ in $(seq 300); do
    grep -q '^overlapd ready' "${work}/overlapd.out" 2>/dev/null && break
    kill -0 "${od_pid}" 2>/dev/null || die "overlapd exited: $(tail -3 "${work}/overlapd.err")"
    sleep 0.1
  done
  od_addr=$(sed -n 's/^overlapd ready grpc=\([^ ]*\).*/\1/p' "${work}/overlapd.out")
  od_metrics=$(sed -n 's/^overlapd ready .*metrics=\([^ ]*\).*/\1/p' "${work}/overlapd.out")
  [[ -n "${od_addr}" ]] || die "overlapd did not print its ready line"
}
stop_overlapd() {
  kill -TERM "${od_pid}" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "${od_pid}" 2>/dev/null || break; sleep 0.1; done
}

start_overlapd
log "overlapd ${od_addr} (pid ${od_pid})"
record server overlapd_idle overlapd 1 "{\"rss_kib\": $(rss_kib "${od_pid}")}"

ngx_pid=""
if have nginx; then
  ngx_dir="${work}/nginx"
  mkdir -p "${ngx_dir}/tmp"
  h1_port=$(free_port)
  h2_port=$(free_port)
  cat >"${ngx_dir}/nginx.conf" <<EOF
# One worker per core, sendfile, no access log: nginx as people tune it to
# serve static files. 127.0.0.1 only.
worker_processes ${cores};
user root;
pid ${ngx_dir}/nginx.pid;
error_log ${ngx_dir}/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 8192; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  open_file_cache max=20000 inactive=120s;
  default_type application/octet-stream;
  client_body_temp_path ${ngx_dir}/tmp;
  proxy_temp_path ${ngx_dir}/tmp;
  fastcgi_temp_path ${ngx_dir}/tmp;
  uwsgi_temp_path ${ngx_dir}/tmp;
  scgi_temp_path ${ngx_dir}/tmp;
  server { listen 127.0.0.1:${h1_port}; root ${root}; }
  server { listen 127.0.0.1:${h2_port} http2; root ${root}; }
}
EOF
  nginx -c "${ngx_dir}/nginx.conf" -p "${ngx_dir}" -g 'daemon off;' 2>>"${work}/nginx.err" &
  ngx_pid=$!
  pids+=("${ngx_pid}")
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:${h1_port}/medium/m0000" 2>/dev/null && break
    sleep 0.1
  done
  ngx_all() { echo "${ngx_pid}" $(pgrep -P "${ngx_pid}" 2>/dev/null); }
  record server nginx_idle nginx 1 "{\"rss_kib\": $(($(for p in $(ngx_all); do rss_kib "$p"; done | paste -sd+)))}"
  log "nginx http/1.1 :${h1_port} http/2 :${h2_port} (pid ${ngx_pid}, ${cores} workers)"
  cat >"${ngx_dir}/random_small.lua" <<EOF
-- A random 4 KiB file per request, like overlap bench's random order.
math.randomseed(os.time())
request = function()
  return wrk.format(nil, string.format("/small/d%02d/f%04d",
    math.random(0, ${small_dirs} - 1), math.random(0, ${small_per_dir} - 1)))
end
EOF
  for ((i = 0; i < medium_files; i++)); do
    printf 'http://127.0.0.1:%s/medium/m%04d\n' "${h2_port}" "${i}"
  done | shuf --random-source=<(yes) >"${ngx_dir}/medium_urls.txt"
fi

ob() { timeout $((${dur%.*} * 3 + 180)) "${bin}/overlap" --server "${od_addr}" bench "$@" --json 2>>"${work}/overlap.err" || true; }

# measure SECTION CASE TOOL RUN SERVER_PIDS... -- CMD...: runs CMD (which
# prints one JSON object) and records it with the CPU seconds the server
# processes used meanwhile (utime + stime from /proc/PID/stat).
measure() {
  local section=$1 case=$2 tool=$3 r=$4
  shift 4
  local pids_=()
  while [[ "$1" != -- ]]; do pids_+=("$1"); shift; done
  shift
  local before after
  before=$(cpu_of "${pids_[@]}")
  "$@" >"${work}/measure.out" 2>>"${work}/measure.err" || true
  after=$(cpu_of "${pids_[@]}")
  record "${section}" "${case}" "${tool}" "${r}" "$(cat "${work}/measure.out")" \
    "{\"server_cpu_s\": $("${py}" -c "print(round(${after} - ${before}, 3))")}"
}

# nginx + wrk on random 4 KiB files; nginx + h2load on the 1 MiB files.
wrk_small() {
  timeout $((${dur%.*} + 60)) wrk -t"${cores}" -c64 -d"${dur}s" --latency \
    -s "${ngx_dir}/random_small.lua" "http://127.0.0.1:${h1_port}/" >"${work}/wrk.txt" 2>&1 || true
  "${py}" "${here}/report.py" parse-wrk "${work}/wrk.txt"
}
h2_medium() {
  rm -f "${work}/h2load.log"
  timeout $((${dur%.*} + 60)) h2load -t"${cores}" -c8 -m8 -D "${dur}" --warm-up-time=1 \
    --log-file="${work}/h2load.log" -i "${ngx_dir}/medium_urls.txt" >"${work}/h2load.txt" 2>&1 || true
  "${py}" "${here}/report.py" parse-h2load "${work}/h2load.txt" "${work}/h2load.log"
}

log "warming the page cache with every served file"
find "${root}/small" "${root}/medium" -type f -print0 | xargs -0 cat >/dev/null

# ---------------------------------------------------------------------------
# 3. End to end: overlap bench vs nginx + wrk (HTTP/1.1) and h2load (HTTP/2).

log "end to end: 4 KiB and 1 MiB files (${runs} runs each)"
mark "end to end, reads"
for ((r = 1; r <= runs; r++)); do
  measure e2e small_4k overlapd "${r}" "${od_pid}" -- \
    ob read --dir small --batch 64 --inflight 8 --streams 2 --duration "${dur}" --warmup 1
  if [[ -n "${ngx_pid}" ]] && have wrk; then
    measure e2e small_4k nginx_wrk "${r}" $(ngx_all) -- wrk_small
  fi
  measure e2e medium_1m overlapd "${r}" "${od_pid}" -- \
    ob read --dir medium --batch 8 --inflight 4 --streams 2 --duration "${dur}" --warmup 1
  if [[ -n "${ngx_pid}" ]] && have h2load; then
    measure e2e medium_1m nginx_h2load "${r}" $(ngx_all) -- h2_medium
  fi
done

log "end to end: writes (${runs} runs each)"
mark "end to end, writes"
for ((r = 1; r <= runs; r++)); do
  measure e2e write_4k overlapd "${r}" "${od_pid}" -- \
    ob write --dir "wbench/small-${r}" --file-size 4K --files "${wsmall}" --duration 120
  measure e2e write_1m overlapd "${r}" "${od_pid}" -- \
    ob write --dir "wbench/medium-${r}" --file-size 1M --files "${wmedium}" --duration 120
  sync
  measure e2e write_1m_durable overlapd "${r}" "${od_pid}" -- \
    ob write --dir "wbench/durable-${r}" --file-size 1M --files "${wdurable}" --durable \
    --streams 1 --batch 1 --inflight 1 --duration 120
done
rm -rf "${root}/wbench"

# Where the server's time goes, for the notes (not measured runs).
if [[ "${BENCH_PROFILE:-1}" == 1 ]] && have perf && perf record -o /dev/null -- true >/dev/null 2>&1; then
  log "profiling overlapd (perf)"
  mark "profiles (not measured)"
  for case in small_4k medium_1m; do
    if [[ "${case}" == small_4k ]]; then
      args=(read --dir small --batch 64 --inflight 8 --streams 2)
    else
      args=(read --dir medium --batch 8 --inflight 4 --streams 2)
    fi
    ob "${args[@]}" --duration $(( ${dur%.*} + 2 )) >/dev/null &
    bench_pid=$!
    sleep 1
    timeout 60 perf record -F 499 -g -p "${od_pid}" -o "${work}/perf.data" -- sleep "${dur}" \
      >/dev/null 2>&1 || true
    wait "${bench_pid}" || true
    perf report -i "${work}/perf.data" --no-children --sort comm,dso,sym -g none \
      --percent-limit 1.5 --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -25 >"${work}/perf-${case}.txt" || true
    "${py}" - "${case}" "${work}/perf-${case}.txt" >>"${results}" <<'PY'
import json, sys
print(json.dumps({"section": "profile", "case": sys.argv[1],
                  "lines": [l.rstrip() for l in open(sys.argv[2]) if l.strip()]}))
PY
  done
fi

# nginx is done: stop it so that it holds no memory or CPU below.
if [[ -n "${ngx_pid}" ]]; then
  kill -TERM "${ngx_pid}" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "${ngx_pid}" 2>/dev/null || break; sleep 0.1; done
fi

# ---------------------------------------------------------------------------
# 4. One huge file: one Read op through overlapd vs cat vs fio (io_uring,
#    sequential 1 MiB, depth 8), hot then cold. The engine alone (one op, no
#    gRPC) is measured too, to tell the engine's share from the transport's.

big="${root}/big.bin"
big_bytes=$(stat -c %s "${big}")
timed_cat() {
  local t0 t1
  t0=$(now_ns)
  cat "${big}" >/dev/null
  t1=$(now_ns)
  "${py}" -c "s=(${t1}-${t0})/1e9; print('{\"seconds\": %.6f, \"bytes\": ${big_bytes}, \"mb_per_s\": %.2f}' % (s, ${big_bytes}/s/1e6))"
}
huge_round() {  # huge_round hot|cold RUN
  local temp=$1 r=$2 prep
  if [[ "${temp}" == hot ]]; then prep=(warm "${big}"); else prep=(drop_file_cache "${big}"); fi
  "${prep[@]}" || return 1
  measure huge "${temp}" overlapd "${r}" "${od_pid}" -- \
    ob read --path big.bin --batch 1 --inflight 1 --streams 1 --count 1 --duration 600
  "${prep[@]}"
  record huge "${temp}" cat "${r}" "$(timed_cat)"
  if have fio; then
    "${prep[@]}"
    record huge "${temp}" fio "${r}" \
      "$(fio_run --filename="${big}" --rw=read --bs=1M --ioengine=io_uring --iodepth=8 \
           --invalidate=$([[ ${temp} == cold ]] && echo 1 || echo 0) --size="${big_bytes}" --runtime=300)"
  fi
  "${prep[@]}"
  record huge "${temp}" engine_one_op "${r}" \
    "$(eb --workload oneread --file "${big}" $([[ ${temp} == cold ]] && echo --cold))"
}
log "one ${big_mib} MiB file (${runs} runs each, hot and cold)"
mark "one huge file"
for ((r = 1; r <= runs; r++)); do huge_round hot "${r}"; done
if drop_file_cache "${big}"; then
  for ((r = 1; r <= runs; r++)); do huge_round cold "${r}" || break; done
else
  log "cannot drop the page cache here: cold rows skipped"
fi
# The big file is not needed any more; give its page cache back.
drop_file_cache "${big}" || true

# ---------------------------------------------------------------------------
# 5. Many clients: server RSS and a probe's 4 KiB read latency, idle and with
#    ${sessions} Sessions + ${subscribers} Subscribe streams attached.

probe() {
  ob read --dir small --batch 1 --inflight 1 --streams 1 --duration "${probe_dur}" --warmup 0.5
}
log "many clients: probe idle (${runs} runs)"
mark "many clients"
for ((r = 1; r <= runs; r++)); do
  record many idle probe "${r}" "$(probe)" "{\"rss_kib\": $(rss_kib "${od_pid}")}"
done
gen="${work}/pygen"
mkdir -p "${gen}"
# The Python stubs, from Debian's protoc and gRPC plugin (what
# clients/python/generate.sh does).
if protoc -I "${repo}/proto" --python_out="${gen}" --grpc_out="${gen}" \
     --plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin \
     "${repo}/proto/overlapd/v1/overlapd.proto" 2>>"${work}/many.err"; then
  log "many clients: attaching ${sessions} sessions + ${subscribers} subscribers"
  "${py}" "${here}/many_clients.py" --server "${od_addr}" --metrics "${od_metrics}" \
    --gen "${gen}" --sessions "${sessions}" --subscribers "${subscribers}" \
    --read-path small/d00/f0000 --read-path small/d00/f0001 --hold 600 \
    >"${work}/many.out" 2>>"${work}/many.err" &
  many_pid=$!
  pids+=("${many_pid}")
  for _ in $(seq 400); do
    grep -q '"phase": "attach' "${work}/many.out" 2>/dev/null && break
    kill -0 "${many_pid}" 2>/dev/null || break
    sleep 0.5
  done
  attached=$(head -1 "${work}/many.out" 2>/dev/null || true)
  record many attach many_clients 1 "${attached}" "{\"rss_kib\": $(rss_kib "${od_pid}")}"
  for ((r = 1; r <= runs; r++)); do
    record many loaded probe "${r}" "$(probe)" "{\"rss_kib\": $(rss_kib "${od_pid}")}"
  done
  record many loaded server 1 "{\"rss_kib\": $(rss_kib "${od_pid}"), \"hwm_kib\": $(hwm_kib "${od_pid}")}"
  kill -TERM "${many_pid}" 2>/dev/null || true
  for _ in $(seq 60); do kill -0 "${many_pid}" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "${many_pid}" 2>/dev/null || true
  record many done many_clients 1 "$(grep '"phase": "done"' "${work}/many.out" || true)"
  sleep 2
  record many after server 1 "{\"rss_kib\": $(rss_kib "${od_pid}")}"
else
  log "python stubs could not be generated: many-clients rows skipped"
fi

stop_overlapd
suite_s=$(($(date +%s) - suite_start))
echo "{\"section\": \"end\", \"t\": $(date +%s.%N), \"suite_seconds\": ${suite_s}, \"loadavg_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"${results}"
kill -TERM "${sampler_pid}" 2>/dev/null || true

mkdir -p "$(dirname "${doc}")"
"${py}" "${here}/report.py" write "${results}" "${doc}"
cp "${results}" "${build}/bench-results.jsonl" 2>/dev/null || true
cp "${work}/other-load.jsonl" "${build}/other-load.jsonl" 2>/dev/null || true
log "done in ${suite_s}s: ${doc} (raw results: ${build}/bench-results.jsonl)"
