"""A throwaway PKI for the TLS tests, made with the openssl command (and
keytool for a real JKS store when Java is installed):

- ca.pem / ca.key: the test CA; other-ca.pem: an unrelated CA;
- broker.pem / broker.key (SAN DNS:localhost, IP:127.0.0.1, EKU serverAuth and
  clientAuth: brokers present it to each other too), broker-store.pem (key and
  chain in one file, Kafka's PEM key store), broker.p12 (PKCS12, password
  "p12-secret"), truststore.p12 (the CA alone); broker-renewed (the same
  names, O=Keel Renewed) and broker-renewed-store.pem, for reloads;
- client-1 and client-2 (CN=client-N,OU=test,O=Keel, signed by the CA, EKU
  clientAuth), rogue (CN=rogue, signed by the other CA);
- broker.jks: the broker's key in Java's JKS format (keytool), or a file
  with the JKS magic when there is no keytool.
Each certificate NAME has NAME.pem and NAME.key."""

import shutil
import subprocess
from pathlib import Path

P12_PASSWORD = "p12-secret"


def _run(cwd, *args):
    subprocess.run(list(args), cwd=cwd, check=True, capture_output=True)


class Pki:
    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._ca("ca", "/CN=Keel Test CA")
        self._ca("other-ca", "/CN=Unrelated CA")
        self._issue("broker", "/CN=localhost/O=Keel", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n")
        self._issue("broker-renewed", "/CN=localhost/O=Keel Renewed", "ca",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
        for n in (1, 2):
            self._issue("client-%d" % n, "/O=Keel/OU=test/CN=client-%d" % n, "ca", "extendedKeyUsage=clientAuth\n")
        self._issue("rogue", "/CN=rogue", "other-ca", "extendedKeyUsage=clientAuth\n")
        for name in ("broker", "broker-renewed"):
            (self.dir / (name + "-store.pem")).write_text(self.path(name + ".key").read_text() +
                                                          self.path(name + ".pem").read_text())
        _run(self.dir, "openssl", "pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key", "-certfile",
             "ca.pem", "-passout", "pass:" + P12_PASSWORD, "-out", "broker.p12")
        _run(self.dir, "openssl", "pkcs12", "-export", "-nokeys", "-in", "ca.pem", "-passout",
             "pass:" + P12_PASSWORD, "-out", "truststore.p12")
        self._jks()

    def path(self, name):
        return self.dir / name

    def _ca(self, name, subject):
        _run(self.dir, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-days", "2", "-subj", subject, "-keyout", name + ".key", "-out", name + ".pem")

    def _issue(self, name, subject, ca, extensions):
        _run(self.dir, "openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
             subject, "-keyout", name + ".key", "-out", name + ".csr")
        (self.dir / (name + ".ext")).write_text(extensions)
        _run(self.dir, "openssl", "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
             "-CAcreateserial", "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem")

    def _jks(self):
        jks = self.dir / "broker.jks"
        if shutil.which("keytool"):
            try:
                _run(self.dir, "keytool", "-importkeystore", "-srckeystore", "broker.p12", "-srcstoretype", "PKCS12",
                     "-srcstorepass", P12_PASSWORD, "-destkeystore", "broker.jks", "-deststoretype", "JKS",
                     "-deststorepass", P12_PASSWORD, "-noprompt")
                return
            except subprocess.CalledProcessError:
                pass
        jks.write_bytes(b"\xfe\xed\xfe\xed\x00\x00\x00\x02" + b"\x00" * 64)
