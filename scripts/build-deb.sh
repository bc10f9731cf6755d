#!/usr/bin/env bash
# Builds Keel's Debian package (.deb) with debhelper, outside the repository:
# the source files (tracked, and new ones not ignored) are copied to a
# temporary tree, packaging/debian becomes its debian/, and
# dpkg-buildpackage -us -uc -b runs there. The repository stays clean.
#
# Usage: scripts/build-deb.sh [--ref REF] [--prebuilt KEEL_BINARY] [OUTPUT_DIR]
#                                                       (default: build-deb/)
#   --ref REF takes the source from that commit (`git archive`) instead of the
#   work tree, with the work tree's packaging/debian (a release: the tag; on a
#   shared checkout: HEAD, so others' unfinished edits stay out of the build)
#   --prebuilt packages an already built binary instead of compiling (a quick
#   check of the packaging on a busy machine; release packages are compiled)
#   DEB_BUILD_OPTIONS=nocheck  skips building and running the unit tests
#   KEEL_DEB_VERSION=0.1.0-2 scripts/build-deb.sh  adds a changelog entry for
#                                                  that version first (upgrade tests)
# Needs: debhelper, dpkg-dev, fakeroot and the build dependencies in
# packaging/debian/control (dpkg-checkbuilddeps says which are missing).
set -euo pipefail
prebuilt=
ref=
while [ $# -gt 0 ]; do
  case $1 in
    --prebuilt)
      prebuilt=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
      [ -x "$prebuilt" ] || { echo "build-deb: $prebuilt is not an executable"; exit 2; }
      shift 2 ;;
    --ref) ref=$2; shift 2 ;;
    *) break ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "$ref" ]; then
  git -C "$root" rev-parse --verify -q "$ref^{commit}" >/dev/null || { echo "build-deb: no commit $ref"; exit 2; }
fi
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
if [ -n "$ref" ]; then
  git -C "$root" archive --format=tar "$ref" | tar -xf - -C "$src"
else
  (cd "$root" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -xf - -C "$src"
fi
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
# nocheck also drops the test-only build dependencies (<!nocheck> in control).
case " ${DEB_BUILD_OPTIONS:-} " in
  *" nocheck "*) export DEB_BUILD_PROFILES="nocheck ${DEB_BUILD_PROFILES:-}" ;;
esac
dpkg-checkbuilddeps
# ccache, when present: the caller's cache directory, named explicitly, since
# debhelper (compat 13) points HOME into the build tree, where a cache would
# start empty and be deleted with the tree. The package's compile flags
# (hardening, -ffile-prefix-map) differ from a developer build's, so the hits
# come from the previous package build, not from build/.
if command -v ccache >/dev/null; then
  CCACHE_DIR=${CCACHE_DIR:-$(ccache -k cache_dir)}
  export CCACHE_DIR
fi
export CCACHE_BASEDIR=$src CCACHE_NOHASHDIR=true CCACHE_SLOPPINESS=pch_defines,time_macros
KEEL_PREBUILT=$prebuilt DEB_BUILD_OPTIONS="parallel=${KEEL_DEB_JOBS:-2} ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b
# The compiled path also makes keel-dbgsym_*.deb (the debug information).
cp "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes "$out"/
ls -1 "$out"/*.deb
