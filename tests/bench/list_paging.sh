#!/usr/bin/env bash
# List paging through a 200,000-entry directory, before and after the
# listing cache: the time of each page with limit 1000 and with limit 10.
#
# "Before" is the engine at BASE_REV (default: the commit before
# ioengine/dir_snapshot.cc appeared), "after" the one in BUILD_DIR; both run
# the same driver, ioengine/list_benchmark.cc (overlapd_list_bench: engine
# List ops, one page at a time, no gRPC), on the same directory, alternating
# run by run. Prints the median of BENCH_RUNS runs of each figure.
#
#   bash tests/bench/list_paging.sh
#   LIST_ENTRIES=50000 BENCH_RUNS=5 bash tests/bench/list_paging.sh
#
# Not a test: nothing here runs under ctest.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$repo/build}
ENTRIES=${LIST_ENTRIES:-200000}
RUNS=${BENCH_RUNS:-3}
# Limit 10 through 200,000 entries is 20,000 pages: at ~0.4 s a page before
# the cache that is over two hours, so this many pages are timed instead.
SMALL_PAGES=${LIST_SMALL_PAGES:-100}
BASE_REV=${BASE_REV:-$(git -C "$repo" rev-list --reverse HEAD -- ioengine/dir_snapshot.cc | sed -n 1p)^}

work=${BENCH_WORKDIR:-$(mktemp -d /var/tmp/overlapd-listbench.XXXXXX)}
cleanup() { [[ "${BENCH_KEEP:-0}" == 1 ]] || rm -rf "$work"; }
trap cleanup EXIT

echo "== build: after = $BUILD_DIR, before = $(git -C "$repo" rev-parse --short "$BASE_REV")"
cmake --build "$BUILD_DIR" --target overlapd_list_bench -j2 >/dev/null
after=$BUILD_DIR/bin/overlapd_list_bench
base=$work/base
mkdir -p "$base"
git -C "$repo" archive "$BASE_REV" | tar -x -C "$base"
cp "$repo/ioengine/list_benchmark.cc" "$base/ioengine/"
grep -q overlapd_list_bench "$base/ioengine/CMakeLists.txt" || cat >>"$base/ioengine/CMakeLists.txt" <<'EOF'
add_executable(overlapd_list_bench list_benchmark.cc)
target_link_libraries(overlapd_list_bench PRIVATE overlapd_ioengine CLI11::CLI11)
EOF
cmake -S "$base" -B "$base/build" -DCMAKE_BUILD_TYPE=Release >"$work/base-cmake.log" 2>&1
cmake --build "$base/build" --target overlapd_list_bench -j2 >"$work/base-build.log" 2>&1
before=$base/build/bin/overlapd_list_bench

echo "== data: $ENTRIES empty files in $work/root/big"
mkdir -p "$work/root/big"
python3 - "$work/root/big" "$ENTRIES" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.close(os.open(f"{d}/entry-{i:07d}", os.O_CREAT | os.O_WRONLY, 0o644))
EOF
# The cache keeps a directory's snapshot only once its ctime is 50 ms old
# (2 s on whole-second filesystems): let it settle, as a directory that is
# paged through usually has.
sleep 3

results=$work/results.jsonl
: >"$results"
for limit in 1000 10; do
  pages=0
  [[ $limit == 10 ]] && pages=$SMALL_PAGES
  for run in $(seq 1 "$RUNS"); do
    for which in before after; do
      bin=$before
      [[ $which == after ]] && bin=$after
      line=$("$bin" --root "$work/root" --dir big --limit "$limit" --pages "$pages" --workers 2)
      echo "{\"engine\": \"$which\", \"run\": $run, ${line#\{}" | tee -a "$results"
    done
  done
done

python3 - "$results" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(engine, limit, key):
    return statistics.median(r[key] for r in rows if r["engine"] == engine and r["limit"] == limit)
print()
print("median of %d runs; a page = one List op, submitted after the previous one completed"
      % len({r["run"] for r in rows}))
print("%-6s %-7s %6s %9s %14s %15s %12s" % ("limit", "engine", "pages", "entries",
      "first page ms", "median page ms", "total ms"))
for limit in (1000, 10):
    for engine in ("before", "after"):
        r = next(r for r in rows if r["engine"] == engine and r["limit"] == limit)
        print("%-6d %-7s %6d %9d %14.1f %15.3f %12.0f" % (limit, engine, r["pages"], r["entries"],
              med(engine, limit, "first_page_ms"), med(engine, limit, "median_page_ms"),
              med(engine, limit, "total_ms")))
    ratio = med("before", limit, "median_page_ms") / max(med("after", limit, "median_page_ms"), 1e-9)
    print("       median page before/after: %.0fx" % ratio)
EOF
