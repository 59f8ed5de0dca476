#!/usr/bin/env bash
# Installs the build into a scratch root with `cmake --install` and checks what landed:
# the binaries, the example config, the documentation and man pages, and a unit that
# `systemd-analyze verify` accepts.
#   scripts/check-systemd-unit.sh BUILD_DIR
set -euo pipefail
build_dir=$1
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

DESTDIR="$root" cmake --install "$build_dir" --prefix /usr/local >/dev/null
for file in usr/local/bin/e3xd usr/local/bin/e3xctl usr/local/lib/systemd/system/e3xd.service \
  usr/local/lib/sysusers.d/e3xd.conf usr/local/share/doc/e3xd/e3xd.toml.example \
  usr/local/share/doc/e3xd/config.md usr/local/share/man/man1/e3xctl.1 \
  usr/local/share/man/man5/e3xd.toml.5 usr/local/share/man/man8/e3xd.8 \
  usr/local/share/bash-completion/completions/e3xctl; do
  [ -e "$root/$file" ] || { echo "cmake --install did not place /$file" >&2; exit 1; }
done
grep -q '^ExecStart=/usr/local/bin/e3xd ' "$root/usr/local/lib/systemd/system/e3xd.service"

# `systemd-analyze verify` checks that ExecStart= names an executable. The unit names its
# final location (/usr/local/bin/e3xd), so verify a copy that points into the scratch root.
mkdir -p "$root/check"
sed "s|^ExecStart=/usr/local/bin/|ExecStart=$root/usr/local/bin/|" \
  "$root/usr/local/lib/systemd/system/e3xd.service" >"$root/check/e3xd.service"
output=$(systemd-analyze verify --man=no "$root/check/e3xd.service" 2>&1) || {
  echo "$output" >&2
  exit 1
}
# verify exits 0 on some warnings; treat any line about our unit as a failure.
if grep -i 'e3xd.service' <<<"$output"; then exit 1; fi

# The installed example points at the installed documentation, and every page it names is
# installed (it once named docs/config.md, which was not).
example=$root/usr/local/share/doc/e3xd/e3xd.toml.example
# (A file name does not end in a dot: a sentence that names one may.)
docs=$(grep -oE '/usr/local/share/doc/e3xd/[A-Za-z0-9._-]*[A-Za-z0-9_-]' "$example" | sort -u)
[ -n "$docs" ] || { echo "the example config names no installed documentation" >&2; exit 1; }
for doc in $docs; do
  [ -f "$root$doc" ] || { echo "the example config names $doc, which is not installed" >&2; exit 1; }
done
if grep -n 'docs/' "$example"; then
  echo "the example config names a path in the source tree" >&2
  exit 1
fi

# The example config must be one e3xd accepts.
"$root/usr/local/bin/e3xd" --check-config "$root/usr/local/share/doc/e3xd/e3xd.toml.example"
echo "check-systemd-unit: install layout and unit verified"
