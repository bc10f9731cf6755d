"""A current librdkafka (2.15, scripts/build-librdkafka.sh) on secured
listeners: SSL, mutual TLS and SASL_SSL with SCRAM-SHA-512 each produce
(acks=all) and consume; a wrong SCRAM password is librdkafka's
_AUTHENTICATION error with the broker's words.

KIP-368 with a client that re-authenticates: librdkafka >= 2.2 renews its
session when the SaslAuthenticate answer carries session_lifetime_ms. With
connections.max.reauth.ms 2000, a 2.15 producer and consumer running for
three lifetimes keep working, and the broker logs re-authentications on the
connections they opened (the same connection ids, no reconnect). Debian's
librdkafka 2.0.2 does not re-authenticate: the broker closes its connection
at the first request after the lifetime, as Kafka does (the client reconnects
and authenticates anew).

The 2.15 library runs in a subprocess (this pytest process has Debian's 2.0.2
loaded): this file is also that subprocess's driver, `python3
test_modern_security.py SCENARIO < args.json` with LD_LIBRARY_PATH set."""

import json
import re
import sys
import time
import uuid

if __name__ != "__main__":
    import subprocess

    import pytest

    from test_modern_clients import PYTHON, librdkafka_dir
    from test_sasl import alter_scram
    from pki import Pki
    from test_tls import ssl_conf, tls_broker, wait_log


# --- the driver (runs with librdkafka 2.15) ---------------------------------------------------------------

def scenario_roundtrip(a):
    """Produces a["n"] records with acks=all and reads them back with a group."""
    from confluent_kafka import Consumer, Producer
    import confluent_kafka
    errors, reports = [], []
    p = Producer(dict(a["conf"], error_cb=lambda e: errors.append(e.str()),
                      **{"acks": "all", "message.timeout.ms": 20000}))
    for i in range(a["n"]):
        p.produce(a["topic"], value=b"m-%d" % i, on_delivery=lambda e, m: reports.append(None if e is None else e.str()))
    p.flush(25)
    c = Consumer(dict(a["conf"], **{"group.id": "g-" + uuid.uuid4().hex, "auto.offset.reset": "earliest"}))
    c.subscribe([a["topic"]])
    values = []
    deadline = time.time() + 25
    while len(values) < a["n"] and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            values.append(m.value().decode())
    c.close()
    return {"version": confluent_kafka.libversion()[0], "reports": reports, "values": values, "errors": errors}


def scenario_refused(a):
    """The errors a producer meets when it cannot authenticate."""
    from confluent_kafka import Producer
    errors = []
    p = Producer(dict(a["conf"], error_cb=lambda e: errors.append({"name": e.name(), "str": e.str()})))
    deadline = time.time() + 15
    while time.time() < deadline and not errors:
        p.poll(0.2)
    return {"errors": errors}


def scenario_long_run(a):
    """A producer and a consumer on one topic for a["seconds"]: a record every
    100 ms, each read back; counts and the clients' errors."""
    from confluent_kafka import Consumer, Producer
    errors, reports = [], []
    p = Producer(dict(a["conf"], error_cb=lambda e: errors.append(e.str()),
                      **{"acks": "all", "message.timeout.ms": 10000, "linger.ms": 5}))
    c = Consumer(dict(a["conf"], error_cb=lambda e: errors.append(e.str()),
                      **{"group.id": "g-" + uuid.uuid4().hex, "auto.offset.reset": "earliest"}))
    c.subscribe([a["topic"]])
    sent, got = 0, []
    end = time.time() + a["seconds"]
    while time.time() < end:
        p.produce(a["topic"], value=b"r-%d" % sent, on_delivery=lambda e, m: reports.append(e is None))
        sent += 1
        p.poll(0)
        m = c.poll(0.1)
        if m is not None and not m.error():
            got.append(m.value().decode())
    p.flush(15)
    deadline = time.time() + 15
    while len(got) < sent and time.time() < deadline:
        m = c.poll(0.3)
        if m is not None and not m.error():
            got.append(m.value().decode())
    c.close()
    return {"sent": sent, "delivered": sum(reports), "failed": reports.count(False), "consumed": got,
            "errors": errors}


SCENARIOS = {"roundtrip": scenario_roundtrip, "refused": scenario_refused, "long_run": scenario_long_run}

if __name__ == "__main__":
    sys.stdout.write(json.dumps(SCENARIOS[sys.argv[1]](json.load(sys.stdin))) + "\n")
    sys.exit(0)


# --- the tests (pytest, Debian's librdkafka 2.0.2 in process) ------------------------------------------------

_PKI = []


def shared_pki(tmp_path_factory):
    """One test PKI for the security tests of the whole run (making one takes
    seconds: keytool's JKS among them)."""
    if not _PKI:
        _PKI.append(Pki(tmp_path_factory.mktemp("shared-pki")))
    return _PKI[0]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return shared_pki(tmp_path_factory)


@pytest.fixture(scope="module")
def rdkafka215():
    lib = librdkafka_dir() / "lib"
    if not (lib / "librdkafka.so.1").exists():
        pytest.skip("librdkafka 2.15 is not built in %s: run scripts/build-librdkafka.sh" % lib)

    def run(scenario, args, timeout=90):
        import os
        proc = subprocess.run([PYTHON, __file__, scenario], input=json.dumps(args), capture_output=True, text=True,
                              timeout=timeout, env=dict(os.environ, LD_LIBRARY_PATH=str(lib)))
        lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
        assert proc.returncode == 0 and lines, "driver %s exited %s:\n%s" % (scenario, proc.returncode,
                                                                               proc.stderr[-3000:])
        return json.loads(lines[-1])
    return run


def secured_broker(make_broker, pki, extra=""):
    """PLAINTEXT (admin), SSL, MTLS (client certificate required) and SASL_SSL
    (SCRAM-SHA-512, user carol)."""
    b = make_broker("modern-security")
    b.config_path.write_text(b.config_path.read_text() + "sasl.enabled.mechanisms: SCRAM-SHA-512\n" + extra)
    b = tls_broker(lambda name: b, pki, listeners=("PLAINTEXT", "SSL", "MTLS", "SASL_SSL"))
    assert alter_scram(b.port, [("carol", "SCRAM-SHA-512", "carol-512", 4096)]) == {"carol": (0, None)}
    return b


def scram_conf(b, pki, password="carol-512"):
    return ssl_conf(b, pki, "SASL_SSL", **{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                                            "sasl.username": "carol", "sasl.password": password})


def test_librdkafka_215_over_ssl_mtls_and_sasl_ssl_scram(make_broker, pki, rdkafka215):
    b = secured_broker(make_broker, pki)
    confs = {"ssl": ssl_conf(b, pki, "SSL"), "mtls": ssl_conf(b, pki, "MTLS", cert="client-1"),
             "sasl_ssl": scram_conf(b, pki)}
    for name, conf in confs.items():
        out = rdkafka215("roundtrip", {"conf": conf, "topic": "modern-" + name, "n": 5})
        assert out["version"].startswith("2.15."), out
        assert out["reports"] == [None] * 5, (name, out)
        assert out["values"] == ["m-%d" % i for i in range(5)], (name, out)
    assert wait_log(b, "authenticated as User:carol with SCRAM-SHA-512")

    out = rdkafka215("refused", {"conf": scram_conf(b, pki, "wrong-512")})
    assert out["errors"], out
    assert out["errors"][0]["name"] == "_AUTHENTICATION", out
    assert "Authentication failed during authentication due to invalid credentials with SASL mechanism " \
           "SCRAM-SHA-512" in out["errors"][0]["str"], out
    # mTLS without a certificate is refused too; the others carry on.
    out = rdkafka215("refused", {"conf": ssl_conf(b, pki, "MTLS")})
    assert out["errors"], out
    out = rdkafka215("roundtrip", {"conf": confs["sasl_ssl"], "topic": "modern-after", "n": 2})
    assert out["values"] == ["m-0", "m-1"], out


def reauth_lines(b, user):
    """{connection id: number of re-authentications} and the ids that authenticated first."""
    text = b.log_text()
    first = set(re.findall(r"connection (\d+) from \S+ on listener \S+: authenticated as User:%s " % user, text))
    again = {}
    for cid in re.findall(r"connection (\d+) from \S+ on listener \S+: re-authenticated as User:%s " % user, text):
        again[cid] = again.get(cid, 0) + 1
    return first, again


def test_kip_368_librdkafka_215_renews_its_session_and_an_old_client_is_disconnected(make_broker, pki, rdkafka215):
    lifetime_ms = 2000
    b = secured_broker(make_broker, pki, "listener.name.sasl_ssl.connections.max.reauth.ms: %d\n" % lifetime_ms)
    out = rdkafka215("long_run", {"conf": scram_conf(b, pki), "topic": "reauth-215", "seconds": 3 * lifetime_ms / 1000})
    assert out["sent"] > 20, out
    assert out["delivered"] == out["sent"] and out["failed"] == 0, out
    assert sorted(out["consumed"], key=lambda v: int(v[2:])) == ["r-%d" % i for i in range(out["sent"])], out
    first, again = reauth_lines(b, "carol")
    assert again and sum(again.values()) > 0, b.log_text()[-3000:]
    # Re-authenticated on the connections the client opened, never closed for an expired session.
    assert set(again) <= first, (again, first)
    assert any(n >= 2 for n in again.values()), again
    assert "its SASL session expired" not in b.log_text()

    # Debian's librdkafka 2.0.2 (this process) does not re-authenticate: its
    # connection is closed at the first request past the lifetime.
    from confluent_kafka import Producer
    p = Producer(dict(scram_conf(b, pki), **{"acks": "all", "message.timeout.ms": 20000}))
    delivered = []
    p.produce("reauth-202", value=b"x", on_delivery=lambda e, m: delivered.append(e))
    p.flush(20)
    time.sleep(lifetime_ms / 1000 + 0.5)
    p.produce("reauth-202", value=b"y", on_delivery=lambda e, m: delivered.append(e))
    p.flush(20)
    assert delivered == [None] * 2, delivered
    assert wait_log(b, "its SASL session expired (connections.max.reauth.ms", 10), b.log_text()[-3000:]
