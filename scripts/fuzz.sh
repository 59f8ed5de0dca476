#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, ASan and UBSan in build-fuzz/, seeds them
# from tests/vectors (the repository's copy of ../shared/vectors), and runs each for a bounded
# time (docs/robustness.md).
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   default 60
# Environment: FUZZ_TARGETS="fuzz_lob fuzz_cloak" runs only those; FUZZ_PARALLEL (default 2)
# targets run at a time; FUZZ_JOBS (default 2) build jobs; FUZZ_KEEP_GOING=1 fuzzes in
# libFuzzer's fork mode and keeps going after a failure, to collect every finding of a long run
# (still exits non-zero if there was any).
# Exits non-zero if any target crashes, leaks, times out, runs out of memory, trips a
# sanitizer or an invariant check, or if a saved regression input fails again. The input
# that failed is left in build-fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
parallel="${FUZZ_PARALLEL:-2}"
build_dir=build-fuzz
all_targets=(fuzz_lob fuzz_message_open fuzz_channel_open fuzz_endpoint fuzz_chunking fuzz_cloak
  fuzz_config fuzz_control fuzz_routing fuzz_mailbox)
read -r -a targets <<<"${FUZZ_TARGETS:-${all_targets[*]}}"

bash scripts/install-deps.sh
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DE3X_FUZZ=ON -DE3X_BUILD_TESTS=OFF -DE3X_WERROR=ON >/dev/null
cmake --build "$build_dir" --target "${targets[@]}" -j "${FUZZ_JOBS:-2}"

# Seeds are regenerated every run; the corpus each target grows is kept between runs.
rm -rf "$build_dir/seeds"
python3 scripts/fuzz-seeds.py "$build_dir/seeds"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

dict_for() {
  case "$1" in
    fuzz_config) echo fuzz/dicts/fuzz_config.dict ;;
    fuzz_control) echo fuzz/dicts/fuzz_control.dict ;;
    fuzz_routing) echo fuzz/dicts/fuzz_routing.dict ;;
    fuzz_mailbox) echo fuzz/dicts/fuzz_mailbox.dict ;;
    fuzz_chunking | fuzz_cloak) echo "" ;;
    *) echo fuzz/dicts/fuzz_json.dict ;;
  esac
}

# run_target NAME: replays fuzz/regressions/NAME/*, then fuzzes for $seconds; log in
# $build_dir/logs/NAME.log.
run_target() {
  local name="$1" binary="$build_dir/fuzz/$1" log="$build_dir/logs/$1.log"
  local corpus="$build_dir/corpus/$1" artifacts="$build_dir/artifacts/$1/"
  rm -rf "$artifacts"
  mkdir -p "$corpus" "$artifacts" "$build_dir/seeds/$name"
  : >"$log"
  local regressions=(fuzz/regressions/"$name"/*) replay=0
  if [ -e "${regressions[0]}" ]; then
    "$binary" -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$artifacts" "${regressions[@]}" \
      >>"$log" 2>&1 || replay=1
    [ "$replay" = 0 ] || [ "${FUZZ_KEEP_GOING:-0}" != 0 ] || return 1
  fi
  local extra_args=() dict
  dict="$(dict_for "$name")"
  [ -z "$dict" ] || extra_args+=("-dict=$dict")
  [ "${FUZZ_KEEP_GOING:-0}" = 0 ] ||
    extra_args+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$artifacts" "${extra_args[@]}" "$corpus" "$build_dir/seeds/$name" \
    >>"$log" 2>&1 || return 1
  return "$replay"
}

mkdir -p "$build_dir/logs"
declare -A status
pids=()
names=()
flush() {
  local i
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then status[${names[$i]}]=ok; else status[${names[$i]}]=FAILED; fi
  done
  pids=()
  names=()
}
echo "fuzz.sh: ${#targets[@]} targets, ${seconds}s each, $parallel at a time"
for name in "${targets[@]}"; do
  run_target "$name" &
  pids+=($!)
  names+=("$name")
  [ "${#pids[@]}" -lt "$parallel" ] || flush
done
flush

failed=0
printf '%-18s %-7s %12s %7s %7s %8s\n' target result execs cov ft corpus
for name in "${targets[@]}"; do
  log="$build_dir/logs/$name.log"
  # The last status line: "#N DONE cov: C ft: F corp: K/Sb ..." (fork mode: "#N: cov: ...").
  line="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
  execs="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)"
  [ -n "$execs" ] || execs="$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$line")"
  cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$line")"
  ft="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$line")"
  corpus="$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$line")"
  result="${status[$name]}"
  if [ "$result" != ok ] || [ -n "$(ls -A "$build_dir/artifacts/$name")" ] ||
    grep -qE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error:|fuzz invariant failed' "$log"; then
    result=FAILED
    failed=1
  fi
  printf '%-18s %-7s %12s %7s %7s %8s\n' "$name" "$result" "${execs:--}" "${cov:--}" \
    "${ft:--}" "${corpus:--}"
done

if [ "$failed" -ne 0 ]; then
  echo "fuzz.sh: FAILED; see $build_dir/logs/ and the inputs in $build_dir/artifacts/" >&2
  for name in "${targets[@]}"; do
    [ "${status[$name]}" = ok ] || grep -E -m 5 -A 12 'ERROR:|runtime error:|fuzz invariant' \
      "$build_dir/logs/$name.log" >&2 || true
  done
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets clean"
