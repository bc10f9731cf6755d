#!/usr/bin/env bash
# Builds Keel's Debian package (.deb) with debhelper, outside the repository:
# the source files (tracked, and new ones not ignored) are copied to a
# temporary tree, packaging/debian becomes its debian/, and
# dpkg-buildpackage -us -uc -b runs there. The repository stays clean.
#
# Usage: scripts/build-deb.sh [--prebuilt KEEL_BINARY] [OUTPUT_DIR]   (default: build-deb/)
#   --prebuilt packages an already built binary instead of compiling (a quick
#   check of the packaging on a busy machine; release packages are compiled)
#   KEEL_DEB_VERSION=0.1.0-2 scripts/build-deb.sh  adds a changelog entry for
#                                                  that version first (upgrade tests)
# Needs: debhelper, dpkg-dev, fakeroot and the build dependencies in
# packaging/debian/control (dpkg-checkbuilddeps says which are missing).
set -euo pipefail
prebuilt=
if [ "${1:-}" = --prebuilt ]; then
  prebuilt=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
  [ -x "$prebuilt" ] || { echo "build-deb: $prebuilt is not an executable"; exit 2; }
  shift 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/build-deb}" && cd "${1:-$root/build-deb}" && pwd)

# A fixed directory, not a fresh mktemp one: the compiler command lines carry
# the source path (dpkg's -ffile-prefix-map=<src>=.), so only a stable path
# lets ccache reuse the previous package build's objects. One build at a
# time uses it (the lock).
work=${KEEL_DEB_WORK:-${TMPDIR:-/tmp}/keel-deb-build}
mkdir -p "$work"
exec 9>"$work.lock"
flock -n 9 || { echo "build-deb: another build uses $work"; exit 2; }
rm -rf "${work:?}"/*
trap 'rm -rf "${work:?}"/*' EXIT
src=$work/keel
mkdir -p "$src"
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf -) | tar -xf - -C "$src"
rm -rf "$src/debian"
cp -r "$root/packaging/debian" "$src/debian"

if [ -n "${KEEL_DEB_VERSION:-}" ]; then
  {
    printf 'keel (%s) unstable; urgency=medium\n\n' "$KEEL_DEB_VERSION"
    printf '  * Rebuilt as %s.\n\n' "$KEEL_DEB_VERSION"
    printf ' -- Keel developers <keel-dev@lists.example.org>  %s\n\n' "$(date -R)"
    cat "$src/debian/changelog"
  } >"$src/debian/changelog.new"
  mv "$src/debian/changelog.new" "$src/debian/changelog"
fi

cd "$src"
dpkg-checkbuilddeps
# ccache, when present, shares its cache with the developer builds.
export CCACHE_BASEDIR=$src CCACHE_NOHASHDIR=true CCACHE_SLOPPINESS=pch_defines,time_macros
KEEL_PREBUILT=$prebuilt DEB_BUILD_OPTIONS="parallel=${KEEL_DEB_JOBS:-2} ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b
cp "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes "$out"/
ls -1 "$out"/*.deb
