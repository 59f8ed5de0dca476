#!/usr/bin/env bash
# The message store's figures (docs/benchmarks.md, "Message store"): builds e3x_store_bench
# in build-bench/ (RelWithDebInfo, as the daemon is shipped) and runs it. It prints resident
# memory before and after storing and acknowledging 100,000 messages, disk bytes per
# tombstone, the time to open a store of 1,000,000 tombstones, and the median and p99 latency
# of accepting one message durably beside the old one-file-per-message store, each beside its
# target, and MET / NOT MET.
#
#   bench/run-store.sh [DIR] [extra options, e.g. --samples 1000 --payload 4096]
#
# DIR (default: a new directory under /var/tmp, removed afterwards) should be on the file
# system e3xd's state_dir is on: fsync costs are that file system's.
# BUILD_DIR picks another build directory (default build-bench/).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build-bench}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DE3X_BUILD_BENCH=ON >/dev/null
# One job: the machine is shared.
nice cmake --build "$build" -j 1 --target e3x_store_bench

args=()
if [[ $# -gt 0 && $1 != --* ]]; then
  args+=(--dir "$1")
  shift
fi
echo "machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "file system: $(df -T "${args[1]:-/var/tmp}" | awk 'NR==2 {print $2}') ($(df "${args[1]:-/var/tmp}" | awk 'NR==2 {print $1}'))"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$build"/bench/e3x_store_bench "${args[@]}" "$@"
