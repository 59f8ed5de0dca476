#!/usr/bin/env bash
# Latency on loopback (issue 5, docs/benchmarks.md "Latency"): handshake round trips (A
# restarted: a new exchange each time) and channel round
# trips (`ping`: a "path" channel), both timed inside e3xd, beside a raw UDP ping-pong
# (bench/udp_blast) measured in the same run. Prints p50/p99 and the ratios.
#
#   bench/run-latency.sh [HANDSHAKES] [PINGS]      defaults 200 and 1000
#   E3X_BUILD_DIR=build-bench (default) names the build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${E3X_BUILD_DIR:-build-bench}

if [[ ! -x $BUILD/daemon/e3xd ]]; then bash scripts/install-deps.sh; fi
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# Two jobs at most: the machine is shared.
cmake --build "$BUILD" -j 2 --target e3xd e3xctl udp_blast >/dev/null

echo "machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r)"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
exec python3 bench/latency.py "$BUILD" "${1:-200}" "${2:-1000}"
