"""Connection creation rate quotas (KIP-612, issue 23 part 3), on a live
broker with clients opening connections in a loop:

- a per-IP connection_creation_rate (entity type ip, set with
  AlterClientQuotas on the wire: neither confluent-kafka 2.0 nor
  kafka-python 2.0 has the client quota APIs) holds connections from
  127.0.0.1 to about that rate: those over it are accepted and closed, never
  answered; connections from 127.0.0.2 meanwhile are all served;
- max.connection.creation.rate makes the acceptor wait: every connection is
  served, at about that rate;
- listener.name.<l>.max.connections holds that listener's new connections
  in the listen backlog while another listener serves a real client.

The quota window is 2 x 1 s here (quota.window.num: 2), so a rate is
measured over at least one second and a burst above it shows at once."""

import socket
import struct
import time

from confluent_kafka.admin import AdminClient

from conftest import free_port
from test_client_quotas import alter, describe
from test_metrics import http_get, parse, value

WINDOW = "quota.window.num: 2\nquota.window.size.seconds: 1\n"


def api_versions_answered(port, source_ip, timeout=3.0):
    """Opens a connection from source_ip, sends ApiVersions v0 and waits for
    its answer: True when answered, False when the broker closed the
    connection without one."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((source_ip, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        client_id = b"conn-quota"
        header = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
        s.sendall(struct.pack(">i", len(header)) + header)
        try:
            got = s.recv(4)
        except ConnectionResetError:
            return False
        return len(got) == 4
    finally:
        s.close()


def start(make_broker, extra=""):
    http_port = free_port()
    b = make_broker(extra_config="http.listeners: http://127.0.0.1:%d\n%s%s" % (http_port, WINDOW, extra))
    b.start()
    b.http_port = http_port
    return b


def scrape(b):
    status, _, body = http_get(b.http_port, "/metrics")
    assert status == 200
    return parse(body)


def test_an_ip_over_its_connection_creation_rate_is_closed_and_other_ips_are_served(make_broker):
    b = start(make_broker)
    assert alter(b.port, [({"ip": "127.0.0.1"}, {"connection_creation_rate": 5})])[0][0] == 0
    assert describe(b.port, [("ip", 0, "127.0.0.1")])[2] == {(("ip", "127.0.0.1"),): {"connection_creation_rate": 5.0}}

    served = refused = 0
    started = time.monotonic()
    while time.monotonic() - started < 3.0:
        if api_versions_answered(b.port, "127.0.0.1"):
            served += 1
        else:
            refused += 1
    elapsed = time.monotonic() - started
    # At 5/s over the elapsed time, plus what the windows allow at once (the
    # rate spans one to two windows: up to two windows' worth at a boundary).
    # Without the quota this loop opens hundreds.
    assert served <= 5 * (elapsed + 2), (served, refused, elapsed)
    assert served >= 5 * elapsed * 0.6, (served, refused, elapsed)
    assert refused >= 1, (served, refused, elapsed)
    # The throttle time is an average over the quota windows: read right
    # after one more refusal, it counts that refusal.
    deadline = time.monotonic() + 5.0
    while api_versions_answered(b.port, "127.0.0.1"):
        assert time.monotonic() < deadline, "no connection refused in 5 s at 5/s"
    refused += 1
    throttle_time = value(scrape(b), "kafka_server_socket_server_metrics_ip_connection_accept_throttle_time",
                          listener="PLAINTEXT")
    assert throttle_time > 0, throttle_time

    # Another IP is not limited: 30 connections at once, every one served.
    assert all(api_versions_answered(b.port, "127.0.0.2") for _ in range(30))

    s = scrape(b)
    assert value(s, "keel_connections_throttled_total", listener="PLAINTEXT", reason="ip") == refused

    # Lifting the quota (asked once the rate has calmed down, the admin
    # connection comes from 127.0.0.1 too) lets 127.0.0.1 in again at once.
    time.sleep(2.2)
    assert alter(b.port, [({"ip": "127.0.0.1"}, {"connection_creation_rate": None})])[0][0] == 0
    assert all(api_versions_answered(b.port, "127.0.0.1") for _ in range(20))
    assert b.stop() == 0


def test_the_default_ip_quota_applies_to_each_ip_on_its_own(make_broker):
    b = start(make_broker)
    assert alter(b.port, [({"ip": None}, {"connection_creation_rate": 3}),
                          ({"ip": "127.0.0.2"}, {"connection_creation_rate": 1000})]) == \
        [(0, None, {"ip": None}), (0, None, {"ip": "127.0.0.2"})]
    results = [api_versions_answered(b.port, "127.0.0.1", timeout=2.0) for _ in range(8)]
    assert results[:3] == [True] * 3 and not all(results), results
    # 127.0.0.2's own quota is above the default's.
    assert all(api_versions_answered(b.port, "127.0.0.2") for _ in range(20))
    assert b.stop() == 0


def test_max_connection_creation_rate_makes_the_acceptor_wait(make_broker):
    b = start(make_broker, "max.connection.creation.rate: 10\n")
    started = time.monotonic()
    served = sum(api_versions_answered(b.port, "127.0.0.1", timeout=5.0) for _ in range(30))
    elapsed = time.monotonic() - started
    assert served == 30  # delayed, never refused
    # 10 at once (the one-second span, the start-up probe among them), then
    # the others at 10/s.
    assert 1.5 <= elapsed <= 8.0, elapsed
    s = scrape(b)
    assert value(s, "keel_connections_throttled_total", listener="PLAINTEXT", reason="listener") >= 5
    assert value(s, "kafka_server_socket_server_metrics_connection_accept_throttle_time", listener="PLAINTEXT") > 0
    assert b.stop() == 0


def test_a_listener_override_limits_that_listener(make_broker):
    b = start(make_broker, "listener.name.plaintext.max.connection.creation.rate: 5\n")
    started = time.monotonic()
    assert all(api_versions_answered(b.port, "127.0.0.1", timeout=5.0) for _ in range(15))
    # 5 at once, then 10 more at 5/s.
    assert time.monotonic() - started >= 1.5
    assert b.stop() == 0


def ask_api_versions(port):
    """A connection left open with an ApiVersions v0 request sent on it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=3.0)
    client_id = b"conn-limit"
    header = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    s.sendall(struct.pack(">i", len(header)) + header)
    return s


def answered_within(s, seconds):
    s.settimeout(seconds)
    try:
        return len(s.recv(4)) == 4
    except socket.timeout:
        return False


def test_a_listeners_max_connections_holds_only_that_listener(make_broker):
    b = make_broker(extra_config="listener.name.external.max.connections: 2\n")
    external = free_port()
    text = b.config_path.read_text()
    old = "listeners: PLAINTEXT://127.0.0.1:%d\n" % b.port
    b.config_path.write_text(text.replace(old, "listeners: PLAINTEXT://127.0.0.1:%d, EXTERNAL://127.0.0.1:%d\n"
                                          "listener.security.protocol.map: PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT\n"
                                          % (b.port, external)))
    b.start()
    held = [ask_api_versions(external) for _ in range(2)]
    try:
        assert all(answered_within(s, 3.0) for s in held)
        # The third waits in the listen backlog: connected, never answered.
        waiting = ask_api_versions(external)
        assert not answered_within(waiting, 1.0), "a third EXTERNAL connection was served past its max.connections"
        # PLAINTEXT is not limited: a real client is served meanwhile.
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        assert admin.list_topics(timeout=10).brokers, "no metadata through PLAINTEXT"
        assert all(api_versions_answered(b.port, "127.0.0.1") for _ in range(5))
        # A slot on EXTERNAL comes free: the waiting connection is served.
        held.pop().close()
        assert answered_within(waiting, 5.0), "the waiting connection was not served once a slot came free"
        held.append(waiting)
    finally:
        for s in held:
            s.close()
    assert b.stop() == 0
