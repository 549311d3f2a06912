#!/usr/bin/env bash
# Who should write a stream's events: the engine worker that completed the
# op (the default: it serialises the EventBatch and starts the gRPC write
# before it returns to its ring), or a writer thread the worker hands the
# stream to (--writer-threads N, service/writer_pool.h)? Side by side on
# Session reads of small files, one-op Execute calls and 256 MiB reads
# (compare_modes.sh says how); ratios > 1 favour the pool.
#
#   bash tests/bench/writer_threads.sh             # 3 runs of 5 s per load and mode
#   BENCH_RUNS=5 BENCH_DURATION=10 bash tests/bench/writer_threads.sh
name="writer threads"
modes=(workers pool1 pool2)
declare -A flags=([workers]="--writer-threads 0" [pool1]="--writer-threads 1"
                  [pool2]="--writer-threads 2")
source "$(dirname "${BASH_SOURCE[0]}")/compare_modes.sh"
