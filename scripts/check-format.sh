#!/usr/bin/env bash
# Every C++ file in the repository must be as clang-format (.clang-format) writes it.
set -u
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' 2>/dev/null ||
  find core transports config daemon tests bench fuzz -name '*.[ch]pp' 2>/dev/null)
bad=0
for file in "${files[@]}"; do
  [ -f "$file" ] || continue
  if ! clang-format --dry-run --Werror "$file" >/dev/null 2>&1; then
    echo "check-format: $file is not clang-formatted (run clang-format -i $file)" >&2
    bad=1
  fi
done
[ $bad -eq 0 ] && echo "check-format: ${#files[@]} files clean"
exit $bad
