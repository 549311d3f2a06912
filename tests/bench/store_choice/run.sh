#!/usr/bin/env bash
# Builds and runs store_choice.cc: the job journal's write pattern (small
# appends, durable group commits) and its restart pattern (a range scan) on
# SQLite WAL, LMDB and RocksDB. Needs libsqlite3-dev liblmdb-dev
# librocksdb-dev (only this measurement links the last two).
# Usage: tests/bench/store_choice/run.sh [DIR] [RECORDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-/tmp/store_choice}
records=${2:-100000}
bin=$(mktemp /tmp/store_choice.XXXXXX)
trap 'rm -f "$bin"' EXIT
g++ -O2 -std=c++17 "$here/store_choice.cc" -o "$bin" -lsqlite3 -llmdb -lrocksdb
mkdir -p "$dir"
echo "records=$records (180 B each), every commit durable; dir=$dir"
for group in 1 16 256; do
  n=$records
  # One record per commit: fewer records, the fsync dominates.
  if [[ $group -eq 1 ]]; then n=$((records / 50)); fi
  "$bin" "$dir" "$n" "$group"
done
