#!/usr/bin/env bash
# Builds the Debian package e3xd_<version>_<arch>.deb in the checkout root.
#
#   scripts/package.sh
#
# How: a Release build in build-deb/ with Debian's hardening flags (dpkg-buildflags with
# DEB_BUILD_MAINT_OPTIONS=hardening=+all: fortify, stack protector, PIE, full RELRO, bindnow;
# plus stack clash protection, which Debian 13 adds there too);
# `cmake --install` into a staging tree (the same install rules as a plain `cmake --install`);
# then, by hand, what debhelper would add: stripped binaries, gzipped man pages and changelog,
# the copyright file, /etc/e3xd/e3xd.toml as a conffile, the maintainer scripts and lintian
# overrides of scripts/deb/, md5sums, and a control file whose Depends come from
# dpkg-shlibdeps. dpkg-deb builds the package with every file owned by root (the postinst gives
# the configuration to group e3xd). scripts/check-package.sh checks the result.
# Environment: JOBS (default 2) build jobs; E3X_WERROR=ON makes warnings errors;
# DEB_MAINTAINER overrides the Maintainer field.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/install-deps.sh

build_dir=build-deb
stage=$build_dir/stage
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cppflags=$(dpkg-buildflags --get CPPFLAGS)
cxxflags=$(dpkg-buildflags --get CXXFLAGS)
# Debian 13's dpkg-buildflags adds stack clash protection for hardening=+all, Debian 12's does
# not yet; hardening-check looks for it. (Not -fcf-protection: on Debian 12 the C runtime's
# start files lack the IBT/SHSTK property, so no program there can have it.)
[[ " $cxxflags " == *" -fstack-clash-protection "* ]] || cxxflags+=" -fstack-clash-protection"
ldflags=$(dpkg-buildflags --get LDFLAGS)
arch=$(dpkg --print-architecture)

# CMAKE_CXX_FLAGS come before the Release flags (-O3 -DNDEBUG) on the command line.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DCMAKE_CXX_FLAGS="$cppflags $cxxflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" \
  -DE3X_BUILD_TESTS=OFF -DE3X_BUILD_BENCH=OFF -DE3X_WERROR="${E3X_WERROR:-OFF}" \
  -DE3XD_SYSTEMD_UNIT_DIR=/lib/systemd/system >/dev/null
nice -n 10 cmake --build "$build_dir" -j "${JOBS:-2}"

version=$("$build_dir/daemon/e3xd" --version | awk '{print $2}')
changelog_version=$(sed -nE '1s/^e3xd \(([^)]+)\).*/\1/p' scripts/deb/changelog)
if [ "$version" != "$changelog_version" ]; then
  echo "package.sh: e3xd is version $version but scripts/deb/changelog starts with" \
    "$changelog_version; add a changelog entry for $version" >&2
  exit 1
fi

rm -rf "$stage"
DESTDIR="$root/$stage" cmake --install "$build_dir" >/dev/null
doc=$stage/usr/share/doc/e3xd

# Binaries: stripped as dh_strip does (debug sections, .comment and .note go).
for binary in "$stage"/usr/bin/*; do
  strip --remove-section=.comment --remove-section=.note --strip-unneeded "$binary"
done
# Man pages and the changelog: gzip -9n (no name or time stamp, so builds are reproducible).
find "$stage/usr/share/man" -type f ! -name '*.gz' -exec gzip -9n {} +
gzip -9n <scripts/deb/changelog >"$doc/changelog.gz"
install -m 0644 scripts/deb/copyright "$doc/copyright"
install -D -m 0644 scripts/deb/lintian-overrides "$stage/usr/share/lintian/overrides/e3xd"

# The configuration: the example, as a conffile only root and group e3xd may read. The
# directory and the file are root:root in the package; the postinst sets the group.
install -d -m 0750 "$stage/etc/e3xd"
install -m 0640 "$doc/e3xd.toml.example" "$stage/etc/e3xd/e3xd.toml"

# Permissions as dh_fixperms leaves them: directories 0755 (but /etc/e3xd), files 0644,
# executables 0755.
find "$stage" -type d ! -path "$stage/etc/e3xd" -exec chmod 0755 {} +
find "$stage" -type f ! -path "$stage/etc/e3xd/*" -exec chmod 0644 {} +
chmod 0755 "$stage"/usr/bin/*

# Control area.
install -d -m 0755 "$stage/DEBIAN"
install -m 0644 scripts/deb/conffiles "$stage/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "scripts/deb/$script" "$stage/DEBIAN/$script"
done
(cd "$stage" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' |
  LC_ALL=C sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

# Depends: the shared libraries' packages, as dpkg-shlibdeps finds them (it wants to run
# beside a debian/control), and adduser for the postinst and postrm.
shlibs_dir=$build_dir/shlibdeps
rm -rf "$shlibs_dir"
mkdir -p "$shlibs_dir/debian"
printf 'Source: e3xd\n\nPackage: e3xd\nArchitecture: any\n' >"$shlibs_dir/debian/control"
shlibs=$(cd "$shlibs_dir" && dpkg-shlibdeps -O "$root/$stage/usr/bin/e3xd" \
  "$root/$stage/usr/bin/e3xctl" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "package.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
depends="$shlibs, adduser"

installed_size=$(du -k -s --apparent-size --exclude=DEBIAN "$stage" | cut -f1)
maintainer=${DEB_MAINTAINER:-"e3xd maintainers <maintainers@users.noreply.r-seed-71c51a38.example>"}
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
  -e "s|@INSTALLED_SIZE@|$installed_size|" -e "s|@DEPENDS@|$depends|" \
  scripts/deb/control.in >"$stage/DEBIAN/control"
chmod 0644 "$stage/DEBIAN/control"

package=e3xd_${version}_${arch}.deb
rm -f "$package"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$package" >/dev/null
echo "package.sh: built $package"
dpkg-deb --info "$package" | sed -n '/Package:/,$p'
