"""A throwaway MIT Kerberos KDC for tests, in a temporary directory
(../shared/reference/security-testbed.md, section 1).

Everything lives in the realm's directory: krb5.conf, kdc.conf, the databases,
stash files, keytabs, ccaches, the replay cache and the KDC's log. The machine's
/etc/krb5.conf is never read: every process a test starts must get `Realm.env`
(KRB5_CONFIG, KRB5_KDC_PROFILE, KRB5CCNAME, KRB5RCACHEDIR), and the `kdc`
fixture puts it into this process's environment for the test's duration, so
keel, kcat and the Python clients (which inherit it) all see the test realm.

One krb5kdc serves two realms: EXAMPLE.TEST (the brokers' and most clients')
and OTHER.TEST, which trusts it (a cross-realm key both ways), so a client of
OTHER.TEST can reach a broker of EXAMPLE.TEST with a valid ticket that the
broker's auth_to_local DEFAULT rule must refuse. The KDC runs in the
foreground (-n) in its own session and is stopped by its own pid.
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import free_port

REALM = "EXAMPLE.TEST"
OTHER_REALM = "OTHER.TEST"
MASTER_PASSWORD = "keel-test-master"
CROSS_REALM_PASSWORD = "keel-test-cross-realm"


class Realm:
    def __init__(self, directory, kdc_port=None):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = kdc_port or free_port()
        self.proc = None
        self.env = {
            "KRB5_CONFIG": str(self.dir / "krb5.conf"),
            "KRB5_KDC_PROFILE": str(self.dir / "kdc.conf"),
            "KRB5CCNAME": "FILE:%s" % (self.dir / "ccache"),
            "KRB5RCACHEDIR": str(self.dir),
        }

    # --- set-up ---------------------------------------------------------------------------------

    def _write_configs(self):
        d = self.dir
        (d / "krb5.conf").write_text(
            "[libdefaults]\n"
            " default_realm = %(realm)s\n"
            " dns_lookup_kdc = false\n"
            " dns_lookup_realm = false\n"
            " dns_canonicalize_hostname = false\n"
            " rdns = false\n"
            " udp_preference_limit = 1\n"
            # Expired tickets must read as expired, not be forgiven for 5 minutes.
            " clockskew = 2\n"
            "[realms]\n"
            " %(realm)s = {\n"
            "  kdc = 127.0.0.1:%(port)d\n"
            " }\n"
            " %(other)s = {\n"
            "  kdc = 127.0.0.1:%(port)d\n"
            " }\n"
            "[domain_realm]\n"
            " localhost = %(realm)s\n"
            " 127.0.0.1 = %(realm)s\n"
            % {"realm": REALM, "other": OTHER_REALM, "port": self.port})
        realms = ""
        for realm, tag in ((REALM, "example"), (OTHER_REALM, "other")):
            realms += (" %s = {\n"
                       "  database_name = %s\n"
                       "  key_stash_file = %s\n"
                       "  acl_file = %s\n"
                       "  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n"
                       "  max_life = 1h\n"
                       "  max_renewable_life = 1h\n"
                       " }\n" % (realm, d / ("principal-" + tag), d / ("stash-" + tag), d / "kadm5.acl"))
        (d / "kdc.conf").write_text(
            "[kdcdefaults]\n"
            " kdc_listen = 127.0.0.1:%(port)d\n"
            " kdc_tcp_listen = 127.0.0.1:%(port)d\n"
            "[realms]\n%(realms)s"
            "[logging]\n"
            " kdc = FILE:%(log)s\n"
            % {"port": self.port, "realms": realms, "log": d / "kdc.log"})
        (d / "kadm5.acl").write_text("")

    def run(self, args, check=True, input_text=None, timeout=30):
        """A Kerberos tool with the realm's environment only."""
        env = dict(os.environ, **self.env)
        out = subprocess.run(args, env=env, capture_output=True, text=True, input=input_text, timeout=timeout)
        if check and out.returncode != 0:
            raise RuntimeError("%s failed (%d): %s%s" % (" ".join(args), out.returncode, out.stdout, out.stderr))
        return out

    def kadmin(self, query, realm=REALM):
        return self.run(["kadmin.local", "-r", realm, "-q", query])

    def start(self):
        self._write_configs()
        for realm in (REALM, OTHER_REALM):
            self.run(["kdb5_util", "create", "-s", "-r", realm, "-P", MASTER_PASSWORD])
            # The cross-realm keys: clients of OTHER.TEST may get tickets from EXAMPLE.TEST.
            self.kadmin("addprinc -pw %s krbtgt/%s@%s" % (CROSS_REALM_PASSWORD, REALM, OTHER_REALM), realm)
        env = dict(os.environ, **self.env)
        with open(self.dir / "kdc.out", "ab") as out:
            self.proc = subprocess.Popen(["krb5kdc", "-n", "-r", REALM, "-r", OTHER_REALM], env=env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        (self.dir / "kdc.pid").write_text("%d\n" % self.proc.pid)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("krb5kdc exited: %s" % (self.dir / "kdc.out").read_text())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("krb5kdc did not listen on 127.0.0.1:%d" % self.port)

    def stop(self):
        """Stops the KDC this realm started, by its own pid."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    # --- principals, keytabs, tickets -------------------------------------------------------------

    def add_principal(self, name, realm=REALM, maxlife=None):
        """A principal with a random key, e.g. "kafka/127.0.0.1" or "client"."""
        life = " -maxlife \"%s\"" % maxlife if maxlife else ""
        self.kadmin("addprinc -randkey%s %s@%s" % (life, name, realm), realm)
        return "%s@%s" % (name, realm)

    def keytab(self, filename, *principals):
        """Writes the principals' current keys (fully qualified names) into DIR/filename."""
        path = self.dir / filename
        for p in principals:
            realm = p.rsplit("@", 1)[1]
            # -norandkey keeps the key other keytabs already hold.
            self.kadmin("ktadd -norandkey -k %s %s" % (path, p), realm)
        return path

    def kinit(self, principal, keytab, ccache, lifetime=None):
        args = ["kinit", "-k", "-t", str(keytab), "-c", "FILE:%s" % ccache]
        if lifetime:
            args += ["-l", lifetime]
        self.run(args + [principal])
        return ccache


@pytest.fixture
def kdc(tmp_path, monkeypatch):
    """A running two-realm KDC; the test's own environment (and so every
    process it starts) points at the realm, never at /etc/krb5.conf."""
    realm = Realm(tmp_path / "kdc").start()
    for key, value in realm.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("KRB5_KTNAME", raising=False)
    monkeypatch.delenv("KRB5_CLIENT_KTNAME", raising=False)
    try:
        yield realm
    finally:
        realm.stop()
