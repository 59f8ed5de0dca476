#!/usr/bin/env bash
# Builds e3xd in several configurations with warnings as errors (-DE3X_WERROR=ON), each in
# build-check/<compiler>-<build type>-<tests|notests>[-nobench]/, and prints a table of results.
# A configuration fails if it does not configure or build, or if its build prints a warning;
# each build keeps going after a failure (ninja -k 0), so its log lists every problem.
#
#   scripts/check-builds.sh [--clean] [COMBO...]
#
# COMBO is COMPILER:BUILD_TYPE:tests|notests[:nobench], e.g. clang++:Release:notests:nobench
# (COMPILER is g++ or clang++; BUILD_TYPE is Debug, Release, RelWithDebInfo or MinSizeRel;
# benchmarks are built unless :nobench is given). Without COMBOs: the full matrix, both compilers
# x four build types x tests on and off (16 builds; about an hour or more on two cores).
# --clean removes each configuration's directory first. Environment: JOBS (default 2) build jobs;
# builds run under `nice -n 10`.
set -euo pipefail
cd "$(dirname "$0")/.."

clean=0
if [ "${1:-}" = "--clean" ]; then
  clean=1
  shift
fi
combos=("$@")
if [ ${#combos[@]} -eq 0 ]; then
  for compiler in g++ clang++; do
    for type in Debug Release RelWithDebInfo MinSizeRel; do
      for tests in tests notests; do combos+=("$compiler:$type:$tests"); done
    done
  done
fi

bash scripts/install-deps.sh >/dev/null

# Check every combination before building anything, so a typo fails at once.
bad_combo() {
  echo "check-builds: $1: $2 (COMPILER:BUILD_TYPE:tests|notests[:nobench])" >&2
  exit 2
}
for combo in "${combos[@]}"; do
  IFS=: read -r compiler type tests bench extra <<<"$combo"
  case "$compiler" in
    g++ | clang++) ;;
    *) bad_combo "$combo" "the compiler must be g++ or clang++" ;;
  esac
  case "$type" in
    Debug | Release | RelWithDebInfo | MinSizeRel) ;;
    *) bad_combo "$combo" "the build type must be Debug, Release, RelWithDebInfo or MinSizeRel" ;;
  esac
  case "$tests" in
    tests | notests) ;;
    *) bad_combo "$combo" "the third part must be tests or notests" ;;
  esac
  case "${bench:-bench}" in
    bench | nobench) ;;
    *) bad_combo "$combo" "the fourth part, if any, must be nobench" ;;
  esac
  [ -z "${extra:-}" ] || bad_combo "$combo" "too many parts"
done

jobs="${JOBS:-2}"
results=()
failed=0
for combo in "${combos[@]}"; do
  IFS=: read -r compiler type tests bench _ <<<"$combo"
  bench="${bench:-bench}"
  name="$compiler-$type-$tests"
  [ "$bench" = bench ] || name="$name-nobench"
  dir="build-check/$name"
  log="build-check/$name.log"
  [ $clean -eq 0 ] || rm -rf "$dir"
  mkdir -p build-check
  tests_flag=OFF
  [ "$tests" = notests ] || tests_flag=ON
  bench_flag=OFF
  [ "$bench" = nobench ] || bench_flag=ON
  echo "check-builds: $name ..."
  start=$(date +%s)
  result=ok
  if ! {
    CXX="$compiler" nice -n 10 cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" \
      -DE3X_WERROR=ON -DE3X_BUILD_TESTS="$tests_flag" -DE3X_BUILD_BENCH="$bench_flag" &&
      nice -n 10 cmake --build "$dir" -j "$jobs" -- -k 0
  } >"$log" 2>&1; then
    result=FAILED
  elif grep -qiE '(^|[^a-z])warning:' "$log"; then
    result="FAILED (warnings)"
  fi
  seconds=$(($(date +%s) - start))
  [ "$result" = ok ] || failed=1
  results+=("$(printf '%-40s %-18s %5d s' "$name" "$result" "$seconds")")
  if [ "$result" != ok ]; then
    grep -iE -m 20 -A 3 'error|warning:' "$log" >&2 || tail -n 20 "$log" >&2
    echo "check-builds: $name: see $log" >&2
  fi
done

printf '\n%-40s %-18s %7s\n' configuration result time
printf '%s\n' "${results[@]}"
if [ $failed -ne 0 ]; then
  echo "check-builds: FAILED" >&2
  exit 1
fi
echo "check-builds: all ${#combos[@]} configurations build without warnings"
