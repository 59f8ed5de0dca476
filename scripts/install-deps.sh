#!/usr/bin/env bash
# Installs the Debian packages e3xd builds and tests with. Needs root (or sudo).
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config clang-format
  libboost1.81-dev libboost-json1.81-dev
  libsodium-dev libspdlog-dev libtomlplusplus-dev libcli11-dev libsystemd-dev
  # message metadata and the mailbox (daemon/support/sqlite.hpp)
  libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # integration tests: real processes driven from Python, NAT in network namespaces,
  # and `systemd-analyze verify` of the unit
  python3 iproute2 nftables procps systemd
  # services tests with real clients: curl through a forward, ssh/scp to an sshd that the
  # test starts in its own namespace (the system's ssh service is left stopped: see below)
  curl openssh-client openssh-server
  # the metrics test fetches /metrics with curl and checks it with promtool (prometheus)
  prometheus
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
# openssh-server and prometheus are here only for tests that run their own sshd and promtool;
# installing them must not leave a machine running an SSH server or a Prometheus it did not
# have before, so a service that came with this install is disabled and stopped.
newly_installed_services=()
for entry in "openssh-server:ssh.service ssh.socket" "prometheus:prometheus.service"; do
  dpkg-query -W -f='${Status}' "${entry%%:*}" 2>/dev/null | grep -q "install ok installed" ||
    newly_installed_services+=(${entry#*:})
done
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
  "${packages[@]}" >/dev/null
if [ ${#newly_installed_services[@]} -gt 0 ] && command -v systemctl >/dev/null &&
  [ -d /run/systemd/system ]; then
  "${as_root[@]}" systemctl disable --now "${newly_installed_services[@]}" >/dev/null 2>&1 || true
  echo "install-deps: left ${newly_installed_services[*]} (installed for the tests) disabled"
fi
echo "install-deps: done"
