#!/usr/bin/env bash
# The main job, end to end: installs dependencies, builds e3xd and e3xctl, then runs two
# daemons on loopback with fresh identities. They find each other, handshake, exchange an
# application message and channel data (the built-in "path" channel), `e3xctl peers` shows
# both sides, and both stop cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target e3xd e3xctl
exec bash scripts/demo-run.sh build/daemon
