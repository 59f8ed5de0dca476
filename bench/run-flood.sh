#!/usr/bin/env bash
# Hostile load test (issue 5, "Load and hostile traffic"; results in docs/robustness.md):
# two legitimate e3xd on loopback, e3x_flood sending to one of them for FLOOD_SECONDS per mode
# (random, unknown-keys, bad-auth, replay, unknown-keys from 256 addresses), with a quiet
# baseline and a quiet phase after of QUIET_SECONDS. Prints a Markdown table: the flood's
# packets/s, the target's CPU and RSS, X25519 work admitted, rate-limited drops, ping round
# trips, message delivery and speed test (when e3xctl has one), whether the peers kept their
# sessions, and the drops by reason. Exits 1 if a daemon died or a session was lost.
#
#   bench/run-flood.sh                      # 60 s per mode, about 6 minutes
#   FLOOD_SECONDS=10 bench/run-flood.sh     # quicker
#
# BUILD_DIR (default build-flood) is configured if missing; only the three targets it needs
# are built. FLOOD_JSON=FILE keeps the raw figures.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-flood}
FLOOD_SECONDS=${FLOOD_SECONDS:-60}
QUIET_SECONDS=${QUIET_SECONDS:-20}
FLOOD_MODES=${FLOOD_MODES:-random,unknown-keys,bad-auth,replay,unknown-keys-256}

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$BUILD_DIR" -j2 --target e3xd e3xctl e3x_flood

echo "e3xd under flood: ${FLOOD_SECONDS} s per mode, $(nproc) cores, $(uname -r)" >&2
PYTHONDONTWRITEBYTECODE=1 E3XD_BIN="$BUILD_DIR/daemon/e3xd" E3XCTL_BIN="$BUILD_DIR/daemon/e3xctl" \
  python3 -u bench/flood_load.py --flood-bin "$BUILD_DIR/bench/e3x_flood" \
  --seconds "$FLOOD_SECONDS" --quiet-seconds "$QUIET_SECONDS" --modes "$FLOOD_MODES" \
  ${FLOOD_JSON:+--json "$FLOOD_JSON"}
