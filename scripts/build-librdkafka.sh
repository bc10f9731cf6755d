#!/usr/bin/env bash
# Builds a current librdkafka (2.15.x) for the modern-client integration tests
# (tests/integration/test_modern_clients.py), which run Debian's
# python3-confluent-kafka and kcat against it through LD_LIBRARY_PATH: Debian 12
# ships librdkafka 2.0.2, which does not send the protocol versions today's
# clients send (Metadata v12, Produce v9+, the KIP-848-era request shapes).
#
# The source comes from the npm registry, the only package registry besides
# Debian's that the machines reach: Confluent's @confluentinc/kafka-javascript
# ships librdkafka's source in deps/librdkafka. `npm pack` fetches the tarball
# without running any install script; the tarball's sha512 is pinned below.
# configure downloads nothing: it builds against Debian's libssl, libsasl2,
# zlib and libzstd (scripts/install-deps.sh installs their -dev packages), with
# librdkafka's builtin lz4 and snappy, and without libcurl (OIDC only).
#
# The result, librdkafka.so.1, goes to a cache directory outside the
# repository, $KEEL_LIBRDKAFKA_DIR/lib (default below), so a second run only
# checks it and returns. Usage: scripts/build-librdkafka.sh [--print-dir]
set -euo pipefail

npm_package=@confluentinc/kafka-javascript
npm_version=1.10.1   # its deps/librdkafka is librdkafka 2.15.1
npm_integrity=sha512-KVePUBn21EqCVP9mfxzEuM3SYJHHEF7X+iiC2e43QQgDSyEaksInmCGooT3w5q+cNAdkSCrK71j0ICfqoSqZLw==
librdkafka_version=2.15.1
librdkafka_hex=0x020f01ff  # RD_KAFKA_VERSION in rdkafka.h for 2.15.1

dir=${KEEL_LIBRDKAFKA_DIR:-/var/cache/keel/librdkafka-$librdkafka_version}
if [ "${1:-}" = "--print-dir" ]; then
  echo "$dir"
  exit 0
fi

stamp="$dir/lib/BUILT-FROM"
want_stamp="$npm_package@$npm_version librdkafka $librdkafka_version"
if [ -f "$dir/lib/librdkafka.so.1" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want_stamp" ]; then
  echo "build-librdkafka: librdkafka $librdkafka_version present in $dir/lib"
  exit 0
fi

for tool in npm make cc python3 tar pkg-config; do
  command -v "$tool" >/dev/null || { echo "build-librdkafka: $tool is missing (run scripts/install-deps.sh)" >&2; exit 1; }
done

# The cache's parent may need root (/var/cache); the build itself does not.
parent=$(dirname "$dir")
if ! mkdir -p "$parent" 2>/dev/null || [ ! -w "$parent" ]; then
  sudo mkdir -p "$parent"
  sudo chown "$(id -u):$(id -g)" "$parent"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/keel-librdkafka.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "build-librdkafka: npm pack $npm_package@$npm_version"
(cd "$work" && npm pack --silent --ignore-scripts "$npm_package@$npm_version" >/dev/null)
tarball=$(ls "$work"/*.tgz)
got_integrity="sha512-$(python3 -c 'import base64, hashlib, sys
print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")"
if [ "$got_integrity" != "$npm_integrity" ]; then
  echo "build-librdkafka: $tarball has $got_integrity, expected $npm_integrity" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" package/deps/librdkafka
src="$work/package/deps/librdkafka"
grep -q "#define RD_KAFKA_VERSION $librdkafka_hex" "$src/src/rdkafka.h" || {
  echo "build-librdkafka: $npm_package@$npm_version does not carry librdkafka $librdkafka_version" >&2
  exit 1
}

echo "build-librdkafka: configure and make libs (librdkafka $librdkafka_version)"
# --enable-X (not the default "try") makes a missing Debian -dev package an
# error instead of a library that quietly lacks zstd or TLS; --no-download keeps
# mklove from fetching modules, and no --install-deps means no source downloads.
(
  cd "$src"
  ./configure --no-download --no-cache --prefix="$dir" \
    --disable-lz4-ext --disable-curl \
    --enable-zlib --enable-zstd --enable-ssl --enable-gssapi \
    >"$work/configure.log" 2>&1 || { tail -40 "$work/configure.log" >&2; exit 1; }
  make -j"${KEEL_BUILD_JOBS:-$(nproc)}" -C src >"$work/make.log" 2>&1 || { tail -40 "$work/make.log" >&2; exit 1; }
)
# Only the C library is needed (the tests load it through Debian's
# python3-confluent-kafka and kcat), so only src/ is built of `make libs`.

# Install by rename so an interrupted run never leaves a half-written library.
rm -rf "$dir.new"
mkdir -p "$dir.new/lib"
cp "$src/src/librdkafka.so.1" "$dir.new/lib/"
ln -s librdkafka.so.1 "$dir.new/lib/librdkafka.so"
echo "$want_stamp" >"$dir.new/lib/BUILT-FROM"
rm -rf "$dir"
mv "$dir.new" "$dir"
echo "build-librdkafka: installed $dir/lib/librdkafka.so.1"
