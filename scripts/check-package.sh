#!/usr/bin/env bash
# Builds the Debian package (scripts/package.sh) and checks it on this machine, as root:
#   - lintian reports no error (warnings and infos are listed);
#   - hardening-check passes for e3xd and e3xctl (PIE, stack protector, fortify, RELRO, bindnow,
#     stack clash protection; not control flow integrity, which no program can have on Debian 12:
#     its C runtime start files, linked into every program, lack the IBT/SHSTK property);
#   - dpkg -i installs it: the user and group e3xd exist, every file has its owner and mode,
#     /etc/e3xd/e3xd.toml is a conffile of root:e3xd 0640, the unit verifies and is not enabled,
#     e3xd as user e3xd accepts the configuration (and a user outside the group cannot read it),
#     the man pages and the bash completion work, and e3xd starts on the installed
#     configuration as the unit would start it;
#   - installing again keeps a changed conffile;
#   - dpkg -r removes the programs and keeps the configuration, the state and the user;
#   - dpkg --purge leaves nothing behind: the file lists of /etc, /usr, /var/lib and
#     /lib/systemd, and the user and group databases, are as before the installation.
# It refuses to run where e3xd is installed, or its user, /etc/e3xd or /var/lib/e3xd exist.
#   scripts/check-package.sh
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }
die() {
  echo "check-package: $*" >&2
  exit 1
}
[ "$(id -u)" -eq 0 ] || die "run as root: it installs and purges the package"

# A clean starting point: what the purge removes must not be anything that was here before.
if dpkg-query -W -f='${db:Status-Status}' e3xd 2>/dev/null | grep -qv '^not-installed$'; then
  die "the package e3xd is installed here; run dpkg --purge e3xd first"
fi
for what in passwd group; do
  ! getent "$what" e3xd >/dev/null || die "there is already a $what entry e3xd; remove it first"
done
for path in /etc/e3xd /var/lib/e3xd /run/e3xd; do
  [ ! -e "$path" ] || die "$path exists; remove it first"
done

# Warnings are errors here: this is also CI's g++ Release build.
E3X_WERROR=ON bash scripts/package.sh
arch=$(dpkg --print-architecture)
version=$(build-deb/daemon/e3xd --version | awk '{print $2}')
deb=$PWD/e3xd_${version}_${arch}.deb
[ -f "$deb" ] || die "package.sh did not build $deb"

work=$(mktemp -d /tmp/e3xd-check-package.XXXXXX)
installed=0
daemon_pid=
cleanup() {
  [ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true
  if [ $installed -eq 1 ]; then
    echo "check-package: purging the package after a failure" >&2
    dpkg --purge e3xd >/dev/null 2>&1 || true
    rm -rf /run/e3xd
  fi
  rm -rf "$work"
}
trap cleanup EXIT

say "lintian"
lintian --pedantic --display-info "$deb" 2>&1 | grep -v 'running with root privileges' |
  tee "$work/lintian" || true
if grep -q '^E:' "$work/lintian"; then die "lintian reports errors"; fi
echo "lintian: no errors ($(grep -c '^W:' "$work/lintian" || true) warnings," \
  "$(grep -c '^I:' "$work/lintian" || true) infos, $(grep -c '^P:' "$work/lintian" || true)" \
  "pedantic)"

say "hardening-check"
dpkg-deb -x "$deb" "$work/contents"
cfi=()
if [ "$(dpkg --print-architecture)" = amd64 ] &&
  ! readelf -n /usr/lib/x86_64-linux-gnu/crti.o 2>/dev/null | grep -q 'x86 feature: IBT'; then
  cfi=(--nocfprotection)
fi
hardening-check "${cfi[@]}" "$work/contents/usr/bin/e3xd" "$work/contents/usr/bin/e3xctl" ||
  die "hardening-check failed"

# The file lists the purge is compared against. The account tools keep one backup of each
# account database (/etc/passwd- ...), rewritten whenever an account changes; dpkg's and apt's
# own bookkeeping files come and go as they work.
snapshot() {
  find /etc /usr /var/lib /lib/systemd/ -xdev 2>/dev/null |
    grep -vE '^/etc/(passwd|group|shadow|gshadow)-$' |
    grep -vE '^/var/lib/dpkg/(updates/|triggers/Lock$|lock)|^/var/lib/apt/' |
    LC_ALL=C sort
}
snapshot >"$work/before"
getent passwd >"$work/passwd.before"
getent group >"$work/group.before"

say "dpkg -i"
installed=1
dpkg -i "$deb"

# expect_stat PATH OWNER:GROUP MODE
expect_stat() {
  local actual
  actual=$(stat -c '%U:%G %a' "$1" 2>/dev/null) || die "$1 is missing"
  [ "$actual" = "$2 $3" ] || die "$1 is $actual; expected $2 $3"
  printf '  %-52s %s\n' "$1" "$actual"
}
echo "owners and modes:"
expect_stat /usr/bin/e3xd root:root 755
expect_stat /usr/bin/e3xctl root:root 755
expect_stat /etc/e3xd root:e3xd 750
expect_stat /etc/e3xd/e3xd.toml root:e3xd 640
expect_stat /lib/systemd/system/e3xd.service root:root 644
expect_stat /usr/lib/sysusers.d/e3xd.conf root:root 644
expect_stat /usr/share/man/man8/e3xd.8.gz root:root 644
expect_stat /usr/share/man/man1/e3xctl.1.gz root:root 644
expect_stat /usr/share/man/man5/e3xd.toml.5.gz root:root 644
expect_stat /usr/share/bash-completion/completions/e3xctl root:root 644
expect_stat /usr/share/doc/e3xd/copyright root:root 644
expect_stat /usr/share/doc/e3xd/changelog.gz root:root 644
expect_stat /usr/share/doc/e3xd/config.md root:root 644
# Nothing else in the package may be writable by group or others, or owned by anyone but root.
bad=$(dpkg -L e3xd | while read -r path; do
  [ -e "$path" ] && [ ! -L "$path" ] && stat -c '%U %a %n' "$path"
done | awk '$1 != "root" || substr($2, length($2) - 1, 1) ~ /[2367]/ || $2 ~ /[2367]$/' || true)
[ -z "$bad" ] || die "files with unexpected owners or modes: $bad"
dpkg-query -W -f='${Conffiles}\n' e3xd | grep -q '^ /etc/e3xd/e3xd.toml ' ||
  die "/etc/e3xd/e3xd.toml is not a conffile"
echo "  /etc/e3xd/e3xd.toml is a conffile"

echo "user and group:"
entry=$(getent passwd e3xd) || die "no user e3xd"
IFS=: read -r _ _ uid _ _ home shell <<<"$entry"
[ "$home" = /var/lib/e3xd ] || die "the home of e3xd is $home"
[ "$uid" -lt 1000 ] || die "e3xd is not a system user (uid $uid)"
case "$shell" in */nologin | /bin/false) ;; *) die "e3xd has the login shell $shell" ;; esac
[ "$(id -gn e3xd)" = e3xd ] || die "the group of e3xd is $(id -gn e3xd)"
echo "  $entry"

echo "systemd unit:"
if ls /etc/systemd/system/*.wants/e3xd.service >/dev/null 2>&1; then
  die "the package enabled e3xd.service"
fi
state=$(systemctl is-enabled e3xd.service 2>/dev/null || true)
[ "$state" = disabled ] || die "systemctl is-enabled e3xd says '$state', not 'disabled'"
echo "  e3xd.service is installed disabled"
output=$(systemd-analyze verify --man=no /lib/systemd/system/e3xd.service 2>&1) || die "$output"
if grep -i 'e3xd.service' <<<"$output"; then die "systemd-analyze verify complains"; fi
echo "  systemd-analyze verify: ok"

echo "configuration:"
setpriv --reuid=e3xd --regid=e3xd --init-groups e3xd --check-config /etc/e3xd/e3xd.toml ||
  die "e3xd, run as user e3xd, refuses /etc/e3xd/e3xd.toml"
code=0
setpriv --reuid=nobody --regid=nogroup --clear-groups e3xd --check-config /etc/e3xd/e3xd.toml \
  >/dev/null 2>&1 || code=$?
[ $code -eq 66 ] || die "user nobody could read /etc/e3xd/e3xd.toml (exit $code, not 66)"
echo "  user nobody cannot read it (exit 66)"

echo "man pages and completion:"
for page in e3xd.8 e3xctl.1 e3xd.toml.5; do
  file=$(man -w "${page##*.}" "${page%.*}") || die "man does not find ${page%.*}(${page##*.})"
  warnings=$(LC_ALL=C.UTF-8 man --warnings -l -Tutf8 "$file" 2>&1 >/dev/null)
  [ -z "$warnings" ] || die "man $page: $warnings"
  echo "  man ${page%.*}(${page##*.}): $file"
done
offered=$(bash --norc --noprofile -c 'source /usr/share/bash-completion/completions/e3xctl
  COMP_WORDS=(e3xctl inbox ""); COMP_CWORD=2; _e3xctl; echo "${COMPREPLY[*]}"')
[ "$offered" = "read ack import" ] ||
  die "the installed completion offers '$offered' for 'e3xctl inbox '"
echo "  e3xctl inbox <TAB>: $offered"

say "e3xd starts on the installed configuration"
# As the unit starts it: user e3xd, /run/e3xd (RuntimeDirectory, 0750) and /var/lib/e3xd
# (StateDirectory, 0700) owned by e3xd, umask 0007. Under systemd, through systemctl.
port_free() {
  python3 - <<'PY'
import socket, sys
for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    s = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    try:
        s.bind((host, 42424))
    except OSError as error:
        print(f"udp {host} port 42424: {error}")
        sys.exit(1)
    finally:
        s.close()
PY
}
if ! reason=$(port_free); then
  echo "check-package: skipped starting e3xd: $reason (the default configuration listens there)"
elif [ -d /run/systemd/system ]; then
  if ! systemctl start e3xd.service; then
    journalctl -u e3xd --no-pager | tail -n 20
    die "e3xd did not start"
  fi
  e3xctl status
  systemctl stop e3xd.service
  [ "$(systemctl is-enabled e3xd.service 2>/dev/null || true)" = disabled ] ||
    die "starting e3xd enabled it"
else
  install -d -o e3xd -g e3xd -m 0750 /run/e3xd
  install -d -o e3xd -g e3xd -m 0700 /var/lib/e3xd
  (umask 0007 && exec setpriv --reuid=e3xd --regid=e3xd --init-groups \
    /usr/bin/e3xd --config /etc/e3xd/e3xd.toml) 2>"$work/e3xd.log" &
  daemon_pid=$!
  for _ in $(seq 1 50); do
    e3xctl status >/dev/null 2>&1 && break
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
  done
  e3xctl status || { cat "$work/e3xd.log" >&2; die "e3xd did not start on /etc/e3xd/e3xd.toml"; }
  expect_stat /var/lib/e3xd/identity.json e3xd:e3xd 600
  expect_stat /run/e3xd/control.sock e3xd:e3xd 660
  kill -TERM "$daemon_pid"
  wait "$daemon_pid" || die "e3xd did not stop cleanly: $(cat "$work/e3xd.log")"
  daemon_pid=
  rm -rf /run/e3xd  # systemd removes the RuntimeDirectory when the service stops
fi

say "dpkg -i again, with a changed conffile"
echo "# a local change" >>/etc/e3xd/e3xd.toml
dpkg -i "$deb"
grep -q '^# a local change$' /etc/e3xd/e3xd.toml || die "reinstalling lost the local change"
expect_stat /etc/e3xd/e3xd.toml root:e3xd 640

say "dpkg -r"
dpkg -r e3xd
[ ! -e /usr/bin/e3xd ] && [ ! -e /usr/bin/e3xctl ] || die "dpkg -r left the programs"
[ -f /etc/e3xd/e3xd.toml ] || die "dpkg -r removed the configuration"
getent passwd e3xd >/dev/null || die "dpkg -r removed the user e3xd"
echo "the programs are gone; the configuration, the state and the user e3xd stay"

say "dpkg --purge"
dpkg --purge e3xd
installed=0
snapshot >"$work/after"
getent passwd >"$work/passwd.after"
getent group >"$work/group.after"
left=0
for list in before:after passwd.before:passwd.after group.before:group.after; do
  if ! diff -u "$work/${list%%:*}" "$work/${list##*:}" >"$work/diff"; then
    echo "check-package: the purge left a difference (${list##*:} against ${list%%:*}):" >&2
    cat "$work/diff" >&2
    left=1
  fi
done
[ $left -eq 0 ] || die "dpkg --purge did not leave the system as it was"
echo "nothing left: /etc, /usr, /var/lib, /lib/systemd, users and groups are as before"
echo
echo "check-package: $(basename "$deb") passes"
