"""A listener that requires SASL: Kafka's rules for a connection that has not
authenticated (ApiVersions and SaslHandshake are answered, anything else closes
it; a mechanism not enabled gets UNSUPPORTED_SASL_MECHANISM and the connection
closes after the answer), so no client is served unauthenticated on it. Here
only SCRAM-SHA-256 is enabled (test_sasl.py has the exchanges themselves). The
PLAINTEXT listener of the same broker carries on. A listener configured for TLS
does not start at all."""

import struct
import time

from confluent_kafka import KafkaError, KafkaException, Producer

from conftest import free_port
from kafka_wire import api_versions, connect, frame, is_closed, parse_api_versions, recv_frame, request_v1_header
from test_binary import run
from test_produce_consume import consume, produce


def with_listeners(broker, listeners):
    text = broker.config_path.read_text()
    old = "listeners: PLAINTEXT://127.0.0.1:%d\n" % broker.port
    assert old in text
    broker.config_path.write_text(text.replace(old, "listeners: %s\n" % listeners))
    return broker


def sasl_broker(make_broker):
    b = make_broker()
    b.sasl_port = free_port()
    with_listeners(b, "PLAINTEXT://127.0.0.1:%d, SASL_PLAINTEXT://127.0.0.1:%d\nsasl.enabled.mechanisms: SCRAM-SHA-256"
                   % (b.port, b.sasl_port))
    return b.start()


def test_requests_before_sasl_authentication_close_the_connection(make_broker):
    b = sasl_broker(make_broker)
    assert "is SASL_PLAINTEXT: SASL mechanisms SCRAM-SHA-256" in b.log_text()

    # ApiVersions is answered, and advertises the SASL APIs a client needs.
    s = connect(b.sasl_port)
    _, body = api_versions(s, 2)
    error, apis = parse_api_versions(body, 2)
    assert error == 0
    assert apis[17] == (0, 1) and apis[36] == (0, 2)
    # Metadata on the same connection, before any handshake: closed, unanswered.
    s.sendall(frame(request_v1_header(3, 1, 8) + struct.pack(">i", -1)))
    assert is_closed(s)
    s.close()

    # A Produce as the very first request: the same.
    s = connect(b.sasl_port)
    s.sendall(frame(request_v1_header(0, 3, 9) + b"\xff\xff" + struct.pack(">hii", 1, 1000, 0)))
    assert is_closed(s)
    s.close()

    # SaslHandshake v1 for PLAIN: UNSUPPORTED_SASL_MECHANISM, the enabled
    # mechanisms offered, and the connection closes once the answer is out.
    s = connect(b.sasl_port)
    s.sendall(frame(request_v1_header(17, 1, 10) + struct.pack(">h", 5) + b"PLAIN"))
    resp = recv_frame(s)
    corr, err, count = struct.unpack_from(">ihi", resp, 0)
    assert (corr, err, count) == (10, 33, 1)
    assert resp[10:] == struct.pack(">h", 13) + b"SCRAM-SHA-256"
    assert is_closed(s)
    s.close()

    deadline = time.time() + 5
    while time.time() < deadline and "SASL mechanism 'PLAIN' is not enabled" not in b.log_text():
        time.sleep(0.1)
    log = b.log_text()
    assert "Metadata (key 3) before SASL authentication" in log
    assert "Produce (key 0) before SASL authentication" in log
    assert "SASL mechanism 'PLAIN' is not enabled" in log

    # The PLAINTEXT listener is not gated, and on it the SASL APIs are
    # answered ILLEGAL_SASL_STATE without closing, as Kafka answers them.
    s = connect(b.port)
    s.sendall(frame(request_v1_header(17, 1, 11) + struct.pack(">h", 6) + b"GSSAPI"))
    corr, err = struct.unpack_from(">ih", recv_frame(s), 0)
    assert (corr, err) == (11, 34)
    _, body = api_versions(s, 2)
    assert parse_api_versions(body, 2)[0] == 0
    s.close()
    assert b.alive()


def test_a_sasl_client_is_refused_with_a_clear_error_and_plaintext_clients_carry_on(make_broker):
    b = sasl_broker(make_broker)
    errors = []
    p = Producer({"bootstrap.servers": "127.0.0.1:%d" % b.sasl_port,
                  "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                  "sasl.username": "alice", "sasl.password": "secret",
                  "error_cb": errors.append, "message.timeout.ms": 3000})
    reports = []
    p.produce("gated", value=b"must not land", on_delivery=lambda err, msg: reports.append(err))
    p.flush(10)
    assert len(reports) == 1 and reports[0] is not None, "a record was acknowledged on the SASL listener"
    assert any(e.code() == KafkaError._AUTHENTICATION and "Unsupported SASL mechanism" in e.str() for e in errors), errors

    # The admin path through the same client fails too: no metadata unauthenticated.
    try:
        md = p.list_topics(timeout=3)
        assert "gated" not in md.topics
    except KafkaException:
        pass

    # Nothing reached the log; the PLAINTEXT listener serves as before.
    assert produce(b.bootstrap, "gated", [{"value": b"plain"}]) == [0]
    got = consume(b.bootstrap, "gated", 2, timeout=5)
    assert [m.value() for m in got] == [b"plain"]
    assert b.alive()


def test_a_tls_listener_without_a_key_store_refuses_to_start(make_broker):
    # As a Kafka broker without its keystore refuses to start; test_tls.py
    # has the listeners that do start.
    for protocol in ("SSL", "SASL_SSL"):
        b = with_listeners(make_broker("tls-" + protocol.lower()),
                           "%s://127.0.0.1:%d" % (protocol, free_port()))
        out = run("--config", str(b.config_path))
        assert out.returncode == 1
        assert "listener %s: no key store" % protocol in out.stderr, out.stderr
        assert "ssl.keystore.location" in out.stderr, out.stderr
