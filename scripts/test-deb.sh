#!/usr/bin/env bash
# The Debian package, tested on THIS machine (never in CI: it installs the
# package system-wide, creates the keel user and starts a broker as it).
#
#   1. builds the .deb (scripts/build-deb.sh) and a copy with a higher version;
#   2. dpkg -i: the user, /etc/keel/keel.yaml, /var/lib/keel, /var/log/keel;
#   3. starts the broker through the package's own files: with systemd as
#      PID 1, `systemctl` (the package enabled and started it); without, the
#      unit's ExecStartPre and ExecStart run as the keel user with its
#      LimitNOFILE and a NOTIFY_SOCKET this script listens on, as the unit
#      would (Type=notify: READY=1 must arrive);
#   4. produces and consumes with kcat;
#   5. upgrades in place to the higher version (the conffile edit kept, the
#      broker restarted, the records still there);
#   6. dpkg -r keeps the data, dpkg -P removes it;
#   7. leaves the machine as it found it: the keel user (which a purge keeps, as
#      Debian packages do) is deleted if this script created it, and nothing of
#      the package may remain (unit, enablement, sysusers/tmpfiles entries,
#      /etc/keel). On a failure the exit trap stops the broker it started and
#      purges the package it installed (KEEL_TEST_DEB_KEEP=1 leaves both for a
#      look, to be removed by hand: dpkg -P keel; userdel keel).
# Runs as root. Usage: scripts/test-deb.sh [DEB]  (default: build it)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "test-deb: run as root (it installs a package)"; exit 2; }
if dpkg-query -W -f='${Status}' keel 2>/dev/null | grep -q 'installed'; then
  echo "test-deb: a keel package is already installed; remove it first (dpkg -P keel)"; exit 2
fi

# A keel user from before this run is someone else's: it is never deleted.
user_existed=false
getent passwd keel >/dev/null && user_existed=true

work=$(mktemp -d /tmp/keel-test-deb.XXXXXX)
broker_pid=
listener_pid=
installed=false
passed=false
remove_user() {
  $user_existed && return 0
  if getent passwd keel >/dev/null; then userdel keel; fi
  if getent group keel >/dev/null; then groupdel keel; fi
}
cleanup() {
  if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null; wait "$broker_pid" 2>/dev/null || true; fi
  if [ -n "$listener_pid" ]; then kill "$listener_pid" 2>/dev/null; wait "$listener_pid" 2>/dev/null || true; fi
  if $installed && ! $passed; then
    if [ "${KEEL_TEST_DEB_KEEP:-}" = 1 ]; then
      echo "test-deb: left installed (KEEL_TEST_DEB_KEEP=1): dpkg -P keel; userdel keel"
    else
      echo "test-deb: purging the package this run installed"
      dpkg -P keel >/dev/null 2>&1 || echo "test-deb: dpkg -P keel failed; remove it by hand"
      remove_user || true
    fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { echo "test-deb: FAIL: $*"; exit 1; }

systemd_pid1=false
[ -d /run/systemd/system ] && [ "$(ps -p 1 -o comm=)" = systemd ] && systemd_pid1=true
echo "test-deb: systemd is PID 1: $systemd_pid1"

step "build"
if [ $# -ge 1 ]; then
  deb1=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
else
  "$root/scripts/build-deb.sh" "$work/out"
  deb1=$(find "$work/out" -name 'keel_*.deb' | head -1)
fi
# The upgrade: the same package with a higher version (what a new release
# is to dpkg: new files over the old, maintainer scripts of both run).
v1=$(dpkg-deb -f "$deb1" Version)
v2="${v1%-*}-$((${v1##*-} + 1))"
dpkg-deb -R "$deb1" "$work/repack"
sed -i "s/^Version: .*/Version: $v2/" "$work/repack/DEBIAN/control"
deb2=$work/keel_${v2}_$(dpkg-deb -f "$deb1" Architecture).deb
dpkg-deb --root-owner-group -b "$work/repack" "$deb2" >/dev/null
echo "test-deb: $deb1 ($v1), upgrade $deb2 ($v2)"

step "install $v1"
installed=true
dpkg -i "$deb1"
id keel || fail "no keel user"
[ "$(stat -c %U /var/lib/keel)" = keel ] || fail "/var/lib/keel not owned by keel"
[ -d /var/log/keel ] || fail "no /var/log/keel"
grep -qx /etc/keel/keel.yaml /var/lib/dpkg/info/keel.conffiles || fail "keel.yaml is not a conffile"
unit=/lib/systemd/system/keel.service
[ -f "$unit" ] || unit=/usr/lib/systemd/system/keel.service
[ -f "$unit" ] || fail "no unit installed"
[ -L /etc/systemd/system/multi-user.target.wants/keel.service ] || fail "service not enabled"

# Port 9092 may be taken on a shared machine: a free one goes into the
# conffile, which also checks that an edited conffile survives the upgrade.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i "s|^listeners: .*|listeners: PLAINTEXT://127.0.0.1:$port   # test-deb|" /etc/keel/keel.yaml

exec_line() { sed -n "s/^$1=//p" "$unit" | head -1; }
limit_nofile=$(exec_line LimitNOFILE)
# A container may cap the hard limit below the unit's; systemd would fail
# the same way there, so the test takes what the machine allows.
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$limit_nofile" ]; then
  echo "test-deb: LimitNOFILE=$limit_nofile is above this machine's hard limit $(ulimit -Hn); using that"
  limit_nofile=$(ulimit -Hn)
fi
watchdog_sec=$(exec_line WatchdogSec | tr -dc 0-9)

# Started as the unit would start it (systemd not PID 1).
start_broker() {
  : >"$work/notify.log"
  python3 - "$work/notify.sock" "$work/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
import os; os.chmod(sys.argv[1], 0o777)  # the broker runs as keel
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", " | ") + "\n")
PY
  listener_pid=$!
  for _ in $(seq 50); do [ -S "$work/notify.sock" ] && break; sleep 0.1; done
  chmod 755 "$work"
  local pre start
  pre=$(exec_line ExecStartPre)
  start=$(exec_line ExecStart)
  # ExecStartPre as the unit runs it: the configuration must check out.
  # shellcheck disable=SC2086  # the unit's command line, split into words as systemd does
  setpriv --reuid=keel --regid=keel --init-groups $pre >/dev/null || fail "ExecStartPre failed: $pre"
  # shellcheck disable=SC2086
  (cd / && exec prlimit --nofile="$limit_nofile" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
     NOTIFY_SOCKET="$work/notify.sock" WATCHDOG_USEC=$((watchdog_sec * 1000000)) \
     setpriv --reuid=keel --regid=keel --init-groups --no-new-privs $start) &
  broker_pid=$!
  for _ in $(seq 300); do
    grep -q "READY=1" "$work/notify.log" && break
    kill -0 "$broker_pid" 2>/dev/null || fail "broker exited before READY=1: $(tail -5 /var/log/keel/keel.log)"
    sleep 0.1
  done
  grep -q "READY=1" "$work/notify.log" || fail "no READY=1 within 30 s"
  echo "test-deb: notifications so far:"; sed 's/^/    /' "$work/notify.log"
}
stop_broker() {
  kill -TERM "$broker_pid"
  wait "$broker_pid" || fail "broker exited with $? on SIGTERM"
  broker_pid=
  grep -q "STOPPING=1" "$work/notify.log" || fail "no STOPPING=1"
  kill "$listener_pid" 2>/dev/null || true
  wait "$listener_pid" 2>/dev/null || true
  listener_pid=
  rm -f "$work/notify.sock"
}

step "start"
if $systemd_pid1; then
  systemctl restart keel   # picks up the edited port
  systemctl is-active keel || fail "keel.service not active"
else
  start_broker
fi
if $systemd_pid1; then pid=$(systemctl show -p MainPID --value keel); else pid=$broker_pid; fi
[ "$(ps -o user= -p "$pid" | tr -d " ")" = keel ] || fail "broker not running as keel"

step "produce and consume"
seq 1 100 | sed 's/^/record-/' | kcat -P -b "127.0.0.1:$port" -t packaged -p 0
got=$(kcat -C -b "127.0.0.1:$port" -t packaged -p 0 -o beginning -e -q | wc -l)
[ "$got" -eq 100 ] || fail "consumed $got of 100"
grep -q "broker=0 \[main\] keel .* started" /var/log/keel/keel.log || fail "no start line in /var/log/keel/keel.log"

step "reload (SIGHUP, as ExecReload)"
if $systemd_pid1; then systemctl reload keel; else kill -HUP "$broker_pid"; fi
for _ in $(seq 50); do grep -q "log file reopened on SIGHUP" /var/log/keel/keel.log && break; sleep 0.1; done
grep -q "log file reopened on SIGHUP" /var/log/keel/keel.log || fail "no reopen on SIGHUP"

step "upgrade to $v2"
dpkg -i "$deb2"
[ "$(dpkg-query -W -f='${Version}' keel)" = "$v2" ] || fail "version after upgrade"
grep -q "# test-deb" /etc/keel/keel.yaml || fail "conffile edit lost on upgrade"
if $systemd_pid1; then
  systemctl is-active keel || fail "not restarted after upgrade"
else
  stop_broker   # what the postinst's restart does under systemd
  start_broker
fi
got=$(kcat -C -b "127.0.0.1:$port" -t packaged -p 0 -o beginning -e -q | wc -l)
[ "$got" -eq 100 ] || fail "after the upgrade: consumed $got of 100"
echo "record-101" | kcat -P -b "127.0.0.1:$port" -t packaged -p 0

step "remove (data kept)"
$systemd_pid1 || stop_broker
dpkg -r keel
[ ! -e /usr/bin/keel ] || fail "binary still there after remove"
[ -d /var/lib/keel/data ] || fail "data removed by dpkg -r"
[ -d /var/lib/keel/data/packaged-0 ] || fail "partition gone after dpkg -r"
[ -f /etc/keel/keel.yaml ] || fail "conffile removed by dpkg -r (only purge removes it)"

step "purge (data removed)"
dpkg -P keel
[ ! -e /var/lib/keel ] || fail "/var/lib/keel still there after purge"
[ ! -e /var/log/keel ] || fail "/var/log/keel still there after purge"
[ ! -e /etc/keel/keel.yaml ] || fail "conffile still there after purge"
[ ! -e /etc/keel ] || fail "/etc/keel still there after purge"
leftover=$(ls -d /etc/systemd/system/*/keel.service /lib/systemd/system/keel.service \
  /usr/lib/systemd/system/keel.service /var/lib/systemd/deb-systemd-helper-enabled/*keel* \
  /var/lib/systemd/deb-systemd-helper-masked/keel.service /usr/lib/sysusers.d/keel.conf \
  /usr/lib/tmpfiles.d/keel.conf /etc/logrotate.d/keel /usr/share/doc/keel 2>/dev/null || true)
[ -z "$leftover" ] || fail "left after purge: $leftover"
passed=true

step "remove the keel user"
if $user_existed; then
  echo "test-deb: the keel user was there before this run; kept"
else
  remove_user
  ! getent passwd keel >/dev/null || fail "keel user still there"
  ! getent group keel >/dev/null || fail "keel group still there"
fi

echo
echo "test-deb: PASS (install, start as the unit would, produce/consume, reload, upgrade $v1 -> $v2, remove keeps data, purge removes it, nothing left behind)"
