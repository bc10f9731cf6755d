"""A secured chaos cluster, as the teams we build for run Kafka: every reconnect
after a fault repeats a handshake, a login and ACL checks.

Two modes (`make(mode, ...)`):

- "sasl_ssl" (`SaslSsl`): TLS, then SCRAM-SHA-512. A throwaway CA and one
  broker certificate whose subject alternative names are every broker's
  namespace address (host names are checked: ssl.endpoint.identification.
  algorithm https on the brokers' own connections and librdkafka's); SCRAM
  credentials for "broker" (inter-broker) and "chaos" (the workload) go into
  ZooKeeper's /config/users before any broker starts, as kafka-configs
  --zookeeper writes them.
- "gssapi" (`Gssapi`): Kerberos over SASL_PLAINTEXT. An MIT KDC of the run's
  own (krb5kdc, in a directory of the run, never the machine's krb5.conf) in
  the ctl namespace, which no fault cuts (nemesis.KdcOutage stops it); each
  broker logs in with its own keytab as kafka/<its address> (short name
  "kafka") and the workload's librdkafka kinits as chaos@CHAOS.TEST from a
  keytab. Tickets live 3 minutes, so a run of a few minutes fetches new ones
  (and a KDC outage can catch a renewal).

Both turn the ACL authorizer on with ACLs in Kafka's layout
(/kafka-acl/<Type>/<name>) that give User:chaos what its producers,
consumers, transactions and groups need and no more. Super users: the
brokers' principal, and ANONYMOUS, the principal of the harness's own
PLAINTEXT probes: each broker keeps PLAINTEXT on cluster.KAFKA_PORT for the
probes (raw Metadata, admin requests) and gets a second listener on
CLIENT_PORT that carries the workload and all replication and controller
traffic (inter.broker.listener.name).

Workload processes learn the client settings from KEEL_CHAOS_CLIENT_CONF (a
JSON object) through `secured(conf)`; without it they run in plaintext."""

import json
import os
import subprocess
from pathlib import Path

CLIENT_PORT = 9094
KDC_PORT = 8888
ENV = "KEEL_CHAOS_CLIENT_CONF"
MODES = ("plaintext", "sasl_ssl", "gssapi")
CLIENT_USER = "chaos"
REALM = "CHAOS.TEST"


def secured(conf):
    """conf with this run's client security settings added (none in plaintext)."""
    extra = os.environ.get(ENV)
    return dict(conf, **json.loads(extra)) if extra else conf


def make(mode, workdir, broker_addresses, ctl_address, keel_bin):
    """The run's security, or None in plaintext."""
    if mode in (None, "plaintext"):
        return None
    if mode == "sasl_ssl":
        return SaslSsl(workdir, broker_addresses, keel_bin)
    if mode == "gssapi":
        return Gssapi(workdir, broker_addresses, ctl_address)
    raise ValueError("unknown security mode %r (one of %s)" % (mode, ", ".join(MODES)))


def _run(cwd, args, env=None, input_text=None):
    r = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, input=input_text)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r.stdout


class _Mode:
    """What both modes share: the listeners, the authorizer and the client's ACLs."""
    protocol = None      # the second listener's security protocol
    mechanism = None     # its one SASL mechanism
    broker_principal = None

    def acls(self):
        """[(znode path, JSON data)]: the client's ACLs, literal patterns."""
        def entry(*ops):
            return json.dumps({"version": 1, "acls": [{"principal": "User:" + CLIENT_USER, "permissionType": "Allow",
                                                       "operation": op, "host": "*"} for op in ops]})
        return [("/kafka-acl/Topic/*", entry("Read", "Write", "Describe")),
                ("/kafka-acl/Group/*", entry("Read", "Describe")),
                ("/kafka-acl/TransactionalId/*", entry("Write", "Describe")),
                ("/kafka-acl/Cluster/kafka-cluster", entry("IdempotentWrite"))]

    def store_nodes(self):
        """Everything to create in ZooKeeper before the first broker starts."""
        return self.acls()

    def broker_config(self, address, plaintext_port):
        return {
            "listeners": "PLAINTEXT://%s:%d, %s://%s:%d" % (address, plaintext_port, self.protocol, address,
                                                            CLIENT_PORT),
            "inter.broker.listener.name": self.protocol,
            "sasl.enabled.mechanisms": self.mechanism,
            "sasl.mechanism.inter.broker.protocol": self.mechanism,
            "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
            "super.users": "'User:%s;User:ANONYMOUS'" % self.broker_principal,
        }

    def broker_env(self):
        """The environment of a broker process (None: the harness's own)."""
        return None

    def client_env(self):
        """The environment of workload processes: this one's plus the client settings."""
        return dict(os.environ, **{ENV: json.dumps(self.client_conf())})

    def start(self, topo, proc):
        """Start what the mode serves from the ctl namespace (into proc, a cluster.Proc)."""


class SaslSsl(_Mode):
    protocol = "SASL_SSL"
    mechanism = "SCRAM-SHA-512"
    broker_principal = "broker"
    BROKER_PASSWORD = "broker-Chaos-7f"
    CLIENT_PASSWORD = "chaos-Client-3a"

    def __init__(self, workdir, addresses, keel_bin):
        self.dir = Path(workdir) / "pki"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.keel_bin = keel_bin
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        _run(self.dir, ["openssl", "req", "-x509"] + ec + ["-days", "2", "-subj", "/CN=Keel Chaos CA",
                                                           "-keyout", "ca.key", "-out", "ca.pem"])
        _run(self.dir, ["openssl", "req"] + ec + ["-subj", "/CN=keel-chaos-broker/O=Keel", "-keyout", "broker.key",
                                                  "-out", "broker.csr"])
        sans = ",".join("IP:%s" % a for a in sorted(addresses))
        (self.dir / "broker.ext").write_text("subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n" % sans)
        _run(self.dir, ["openssl", "x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                        "-CAcreateserial", "-days", "2", "-extfile", "broker.ext", "-out", "broker.pem"])
        self.keystore = self.dir / "broker-store.pem"
        self.keystore.write_text((self.dir / "broker.key").read_text() + (self.dir / "broker.pem").read_text())
        self.ca = self.dir / "ca.pem"

    def credential(self, user, password):
        """The ZooKeeper form of user's SCRAM-SHA-512 credential (keel --hash-password)."""
        line = _run(None, [self.keel_bin, "--hash-password", user, self.mechanism, "4096"],
                    input_text=password + "\n").strip()
        return line.split(":", 2)[2]

    def store_nodes(self):
        users = [("/config/users/" + user,
                  json.dumps({"version": 1, "config": {self.mechanism: self.credential(user, pw)}}))
                 for user, pw in ((self.broker_principal, self.BROKER_PASSWORD), (CLIENT_USER, self.CLIENT_PASSWORD))]
        return users + self.acls()

    def broker_config(self, address, plaintext_port):
        jaas = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";' % (
            self.broker_principal, self.BROKER_PASSWORD)
        return dict(super().broker_config(address, plaintext_port), **{
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": "'%s'" % jaas,
            "ssl.endpoint.identification.algorithm": "https",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca),
        })

    def client_conf(self):
        return {"security.protocol": "SASL_SSL", "sasl.mechanism": self.mechanism, "sasl.username": CLIENT_USER,
                "sasl.password": self.CLIENT_PASSWORD, "ssl.ca.location": str(self.ca),
                "ssl.endpoint.identification.algorithm": "https"}


class Gssapi(_Mode):
    protocol = "SASL_PLAINTEXT"
    mechanism = "GSSAPI"
    broker_principal = "kafka"  # kafka/<address>@REALM under DEFAULT's auth_to_local

    def __init__(self, workdir, addresses, kdc_address):
        self.dir = Path(workdir) / "kdc"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.kdc_address = kdc_address
        d = self.dir
        mapping = "".join(" %s = %s\n" % (a, REALM) for a in sorted(addresses))
        (d / "krb5.conf").write_text(
            "[libdefaults]\n default_realm = %(realm)s\n dns_lookup_kdc = false\n dns_lookup_realm = false\n"
            " dns_canonicalize_hostname = false\n rdns = false\n udp_preference_limit = 1\n"
            "[realms]\n %(realm)s = {\n  kdc = %(kdc)s:%(port)d\n }\n"
            "[domain_realm]\n%(mapping)s"
            % {"realm": REALM, "kdc": kdc_address, "port": KDC_PORT, "mapping": mapping})
        (d / "kdc.conf").write_text(
            "[kdcdefaults]\n kdc_listen = %(kdc)s:%(port)d\n kdc_tcp_listen = %(kdc)s:%(port)d\n"
            "[realms]\n %(realm)s = {\n  database_name = %(db)s\n  key_stash_file = %(stash)s\n"
            "  acl_file = %(acl)s\n"
            "  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n"
            "  max_life = 3m\n  max_renewable_life = 3m\n }\n"
            "[logging]\n kdc = FILE:%(log)s\n"
            % {"realm": REALM, "kdc": kdc_address, "port": KDC_PORT, "db": d / "principal", "stash": d / "stash",
               "acl": d / "kadm5.acl", "log": d / "kdc.log"})
        (d / "kadm5.acl").write_text("")
        self.env = {"KRB5_CONFIG": str(d / "krb5.conf"), "KRB5_KDC_PROFILE": str(d / "kdc.conf"),
                    "KRB5RCACHEDIR": str(d)}
        local = dict(os.environ, **self.env)
        _run(d, ["kdb5_util", "create", "-s", "-r", REALM, "-P", "keel-chaos-master"], env=local)
        self.keytabs = {}
        for a in addresses:
            self.keytabs[a] = self._principal(local, "kafka/%s" % a, "kafka-%s.keytab" % a)
        self.client_principal = "%s@%s" % (CLIENT_USER, REALM)
        self.client_keytab = self._principal(local, CLIENT_USER, "client.keytab")

    def _principal(self, env, name, keytab):
        _run(self.dir, ["kadmin.local", "-r", REALM, "-q", "addprinc -randkey %s@%s" % (name, REALM)], env=env)
        _run(self.dir, ["kadmin.local", "-r", REALM, "-q", "ktadd -k %s %s@%s" % (self.dir / keytab, name, REALM)],
             env=env)
        return self.dir / keytab

    def start(self, topo, proc):
        """krb5kdc in the ctl namespace, in the foreground, known by its PID."""
        log = open(self.dir / "kdc.out", "ab")
        proc.proc = subprocess.Popen(topo.cmd("ctl", ["krb5kdc", "-n", "-r", REALM]), env=dict(os.environ, **self.env),
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self.kdc_address, KDC_PORT

    def broker_config(self, address, plaintext_port):
        jaas = ('com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true '
                'keyTab="%s" principal="kafka/%s@%s";' % (self.keytabs[address], address, REALM))
        return dict(super().broker_config(address, plaintext_port), **{
            "sasl.kerberos.service.name": "kafka",
            "listener.name.sasl_plaintext.gssapi.sasl.jaas.config": "'%s'" % jaas,
        })

    def broker_env(self):
        return dict(os.environ, **self.env)

    def client_conf(self):
        return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "GSSAPI",
                "sasl.kerberos.service.name": "kafka", "sasl.kerberos.keytab": str(self.client_keytab),
                "sasl.kerberos.principal": self.client_principal}

    def client_env(self):
        # librdkafka kinits into this ticket cache (one per run: one client principal).
        return dict(super().client_env(), **self.env, KRB5CCNAME="FILE:%s" % (self.dir / "client-ccache"))
