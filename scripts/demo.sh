#!/usr/bin/env bash
# The main job, end to end: installs dependencies, builds, and runs the demo.
# Today the demo is the in-memory walk-through of the core (two endpoints handshake, exchange
# a message and reliable channel data, keep alive, print their state); the two-daemon demo on
# loopback replaces it when e3xd lands.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target e3x_core_demo
./build/tests/e3x_core_demo
