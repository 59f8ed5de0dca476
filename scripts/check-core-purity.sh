#!/usr/bin/env bash
# The core is sans-I/O (ARCHITECTURE.md): no Asio, threads, clock reads or sockets in core/.
set -u
cd "$(dirname "$0")/.."
if grep -rnE 'asio|<thread>|chrono::(system|steady)_clock::now|socket' core/; then
  echo "check-core-purity: core/ must not use the lines above" >&2
  exit 1
fi
echo "check-core-purity: core/ is free of I/O, threads and clocks"
