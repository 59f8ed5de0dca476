#!/usr/bin/env bash
# Every man page in docs/man/ formats without a warning from man and groff:
#   man --warnings -l -Tutf8 PAGE >/dev/null   prints nothing
# (lintian runs the same check on the installed pages).
#   scripts/check-man-pages.sh [PAGE...]   default: docs/man/*.[1-8]
set -u
cd "$(dirname "$0")/.."
export LC_ALL=C.UTF-8
pages=("$@")
[ ${#pages[@]} -gt 0 ] || pages=(docs/man/*.[1-8])
bad=0
for page in "${pages[@]}"; do
  if [ ! -f "$page" ]; then
    echo "check-man-pages: $page does not exist" >&2
    bad=1
    continue
  fi
  warnings=$(man --warnings -l -Tutf8 "$page" 2>&1 >/dev/null)
  if [ -n "$warnings" ]; then
    echo "check-man-pages: $page:" >&2
    echo "$warnings" >&2
    bad=1
  fi
done
[ $bad -eq 0 ] && echo "check-man-pages: ${#pages[@]} pages format without warnings"
exit $bad
