#!/usr/bin/env bash
# The repository carries copies of the wire contract so a clone builds and tests on its own:
#   ../shared/vectors/vectors.json -> tests/vectors/vectors.json
#   ../shared/PROTOCOL.md          -> docs/protocol.md
# Where ../shared sits beside the checkout, every copy must be byte-identical to it (refresh a
# stale copy with the cp command printed). Without ../shared there is nothing to compare: exit 77,
# which ctest reports as skipped (contract_copies_match_shared).
set -u
cd "$(dirname "$0")/.."
shared=../shared
if [ ! -d "$shared" ]; then
  echo "check-contract-copies: no $shared beside this checkout; nothing to compare (skipped)"
  exit 77
fi
bad=0
while read -r original copy; do
  if [ ! -f "$shared/$original" ]; then
    echo "check-contract-copies: $shared/$original is missing" >&2
    bad=1
  elif [ ! -f "$copy" ]; then
    echo "check-contract-copies: $copy is missing; run: cp $shared/$original $copy" >&2
    bad=1
  elif ! cmp -s "$shared/$original" "$copy"; then
    echo "check-contract-copies: $copy differs from $shared/$original; run: cp $shared/$original $copy" >&2
    bad=1
  fi
done <<'LIST'
vectors/vectors.json tests/vectors/vectors.json
PROTOCOL.md docs/protocol.md
LIST
[ $bad -eq 0 ] && echo "check-contract-copies: tests/vectors/vectors.json and docs/protocol.md match $shared"
exit $bad
