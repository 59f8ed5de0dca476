#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds with -Wall -Wextra -Werror (E3X_WERROR),
# runs every test through ctest.
#   scripts/test.sh              normal build in build/
#   scripts/test.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=OFF
build_dir=build
if [ "${1:-}" = "--sanitize" ]; then
  sanitize=ON
  build_dir=build-asan
fi

bash scripts/install-deps.sh
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DE3X_SANITIZE="$sanitize" \
  -DE3X_WERROR=ON
cmake --build "$build_dir" -j "$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# E3X_CTEST_ARGS: more ctest arguments (CI uses it to leave two long tests out of its
# sanitized run; see .ci/run).
# shellcheck disable=SC2086
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" ${E3X_CTEST_ARGS:-}
