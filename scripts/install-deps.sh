#!/usr/bin/env bash
# Installs everything Keel needs to build, test, fuzz and benchmark, from
# Debian 12's packages only. Idempotent; safe to run on every CI start.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  # toolchain
  build-essential g++ cmake ninja-build ccache pkg-config git
  clang-14 libclang-rt-14-dev
  # libraries Keel links against
  libboost1.81-dev libboost-json1.81-dev libboost-system1.81-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libzookeeper-mt-dev libsasl2-dev libsasl2-modules libsasl2-modules-gssapi-mit libkrb5-dev libssl-dev
  libsnappy-dev zlib1g-dev liblz4-dev libzstd-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-pytest python3-pytest-xdist python3-confluent-kafka python3-kafka
  python3-snappy python3-lz4 python3-zstandard   # kafka-python's own codecs
  kcat librdkafka-dev procps iproute2
  # Kerberos: a throwaway MIT KDC per test (tests/integration/kdc.py), kinit/kvno for
  # the clients, Cyrus' own tools, and kafka-python's GSSAPI
  krb5-kdc krb5-user krb5-admin-server sasl2-bin python3-gssapi
  curl   # Debian's is built with GSS-API: curl --negotiate against the HTTP listener (test_spnego.py)
  openssl   # the TLS tests' CA (tests/integration/pki.py, tests/unit/net/tls_test.cc); keytool comes with the JRE
  zookeeper default-jre-headless   # a real ZooKeeper server for the coordination tests
  python3-kazoo   # an unauthenticated ZooKeeper client probing zookeeper.set.acl (test_zookeeper_acl.py)
  systemd   # systemd-analyze verify/security on packaging/debian/keel.service (test_systemd_notify)
  debhelper dpkg-dev fakeroot lintian   # the Debian package: scripts/build-deb.sh, lintian on it
  chromium chromium-driver python3-selenium   # the web console in a headless browser (test_console.py)
)

# Node.js and npm for the kafkajs tests (tests/integration/js): Debian's
# packages on a machine without them. A machine that already has node and npm
# keeps its own (NodeSource's nodejs bundles npm and conflicts with Debian's).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  echo "install-deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi

# The Node.js clients (kafkajs, @platformatic/kafka and the Node.js 22 it runs
# on), pinned by package-lock.json; reinstalled when the lock file is newer
# than the last install (npm ci writes node_modules/.package-lock.json).
js=$root/tests/integration/js
if [ ! -f "$js/node_modules/.package-lock.json" ] || [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
  echo "install-deps: npm ci in tests/integration/js"
  (cd "$js" && npm ci --no-audit --no-fund)
else
  echo "install-deps: node clients present"
fi

# A current librdkafka (2.15) for the modern-client tests, built from the source
# in an npm package into a cache outside the repository; instant once built.
"$root/scripts/build-librdkafka.sh"
