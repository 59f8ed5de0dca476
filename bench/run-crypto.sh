#!/usr/bin/env bash
# The crypto path benchmarks of issue 5 (docs/benchmarks.md, "Crypto path"): builds
# e3x_crypto_bench in build-bench/ (RelWithDebInfo, as the daemon is shipped) and runs it
# with 5 repetitions, reporting medians; the program prints each figure beside its
# libsodium limit and the targets as MET / NOT MET. Extra arguments go to the benchmark,
# e.g. bench/run-crypto.sh --benchmark_filter=handshake
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DE3X_BUILD_BENCH=ON >/dev/null
# Two jobs at most: the machine is shared.
cmake --build build-bench -j 2 --target e3x_crypto_bench

echo "machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
exec build-bench/bench/e3x_crypto_bench --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true "$@"
