#!/usr/bin/env bash
# Installs the Debian packages e3xd builds and tests with. Needs root (or sudo).
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config clang-format
  libboost1.81-dev libboost-json1.81-dev
  libsodium-dev libspdlog-dev libtomlplusplus-dev libcli11-dev libsystemd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # integration tests: real processes driven from Python, NAT in network namespaces,
  # and `systemd-analyze verify` of the unit
  python3 iproute2 nftables procps systemd
  # the metrics test fetches /metrics with curl and checks it with promtool (prometheus)
  curl prometheus
  # the man pages are checked with `man --warnings` (man-db, which formats with groff)
  man-db groff-base
  # the Debian package (scripts/package.sh, check-package.sh): dpkg-buildflags, dpkg-shlibdeps,
  # lintian, hardening-check (devscripts), and adduser, which its maintainer scripts use
  dpkg-dev lintian devscripts adduser
  # fuzzing (scripts/fuzz.sh): clang with libFuzzer and the sanitizer runtimes, and
  # llvm-symbolizer for readable stack traces
  clang libclang-rt-dev llvm
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ] && [ "${CI:-}" != "true" ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
echo "install-deps: apt-get install ${packages[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
  "${packages[@]}" >/dev/null
echo "install-deps: done"
