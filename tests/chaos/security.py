"""A secured chaos cluster: SASL_SSL (TLS, then SCRAM-SHA-512) for the
clients and between the brokers, as the teams we build for run Kafka.

`Secured(workdir, addresses)` makes a throwaway CA and one broker certificate
whose subject alternative names are every broker's namespace address (host
names are checked: ssl.endpoint.identification.algorithm https on both the
brokers' own connections and librdkafka's), and the SCRAM credentials of two
users: "broker" (inter-broker) and "chaos" (the workload's clients). The
credentials go into ZooKeeper's /config/users before any broker starts, as
kafka-configs --zookeeper writes them, with ACLs in Kafka's layout
(/kafka-acl/<Type>/<name>) that give "chaos" what its producers, consumers,
transactions and groups need and no more; the ACL authorizer is on. Super
users: "broker", and ANONYMOUS, the principal of the harness's own PLAINTEXT
probes (below).

Each broker gets a second listener: SASL_SSL on CLIENT_PORT carries the
workload and all replication and controller traffic; the PLAINTEXT one on
cluster.KAFKA_PORT stays for the harness's probes (raw Metadata, admin
requests), which would otherwise need their own TLS and SCRAM.

Workload processes learn the client settings from KEEL_CHAOS_CLIENT_CONF (a
JSON object) through `secured(conf)`; without it they run in plaintext."""

import json
import os
import subprocess
from pathlib import Path

CLIENT_PORT = 9094
MECHANISM = "SCRAM-SHA-512"
BROKER_USER, BROKER_PASSWORD = "broker", "broker-Chaos-7f"
CLIENT_USER, CLIENT_PASSWORD = "chaos", "chaos-Client-3a"
ENV = "KEEL_CHAOS_CLIENT_CONF"
MODES = ("plaintext", "sasl_ssl")


def secured(conf):
    """conf with this run's client security settings added (none in plaintext)."""
    extra = os.environ.get(ENV)
    return dict(conf, **json.loads(extra)) if extra else conf


def _openssl(cwd, *args):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


class Secured:
    def __init__(self, workdir, addresses, keel_bin):
        self.dir = Path(workdir) / "pki"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.keel_bin = keel_bin
        _openssl(self.dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-days", "2", "-subj", "/CN=Keel Chaos CA", "-keyout", "ca.key", "-out", "ca.pem")
        _openssl(self.dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-subj", "/CN=keel-chaos-broker/O=Keel", "-keyout", "broker.key", "-out", "broker.csr")
        sans = ",".join("IP:%s" % a for a in sorted(addresses))
        (self.dir / "broker.ext").write_text("subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n" % sans)
        _openssl(self.dir, "x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-extfile", "broker.ext", "-out", "broker.pem")
        self.keystore = self.dir / "broker-store.pem"
        self.keystore.write_text((self.dir / "broker.key").read_text() + (self.dir / "broker.pem").read_text())
        self.ca = self.dir / "ca.pem"

    def credential(self, user, password):
        """The ZooKeeper form of user's SCRAM-SHA-512 credential (keel --hash-password)."""
        line = subprocess.run([self.keel_bin, "--hash-password", user, MECHANISM, "4096"], input=password + "\n",
                              capture_output=True, text=True, check=True).stdout.strip()
        return line.split(":", 2)[2]

    def users(self):
        """[(znode path, JSON data)] to create before the brokers start."""
        return [("/config/users/" + user, json.dumps({"version": 1, "config": {MECHANISM: self.credential(user, pw)}}))
                for user, pw in ((BROKER_USER, BROKER_PASSWORD), (CLIENT_USER, CLIENT_PASSWORD))]

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
        return self.users() + self.acls()

    def broker_config(self, address, plaintext_port):
        jaas = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";' % (
            BROKER_USER, BROKER_PASSWORD)
        return {
            "listeners": "PLAINTEXT://%s:%d, SASL_SSL://%s:%d" % (address, plaintext_port, address, CLIENT_PORT),
            "inter.broker.listener.name": "SASL_SSL",
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": "'%s'" % jaas,
            "ssl.endpoint.identification.algorithm": "https",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca),
            "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
            "super.users": "User:%s;User:ANONYMOUS" % BROKER_USER,
        }

    def client_conf(self):
        return {"security.protocol": "SASL_SSL", "sasl.mechanism": MECHANISM, "sasl.username": CLIENT_USER,
                "sasl.password": CLIENT_PASSWORD, "ssl.ca.location": str(self.ca),
                "ssl.endpoint.identification.algorithm": "https"}

    def env(self):
        """The environment for workload processes: this one's plus the client settings."""
        return dict(os.environ, **{ENV: json.dumps(self.client_conf())})
