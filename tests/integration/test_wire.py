"""Exact bytes on the wire: what the broker answers, and how it treats input
no client library would send."""

import struct
import threading
import time

import pytest
from confluent_kafka import Producer

from kafka_wire import (api_versions, connect, frame, is_closed, parse_api_versions, recv_frame,
                        request_v1_header, request_v2_header)

# What docs/compatibility.md promises; kept here by hand so a change to the
# table is a deliberate one.
SERVED = {0: (0, 11), 1: (0, 17), 2: (0, 9), 3: (0, 12),
          # the controller's requests (LeaderAndIsr, StopReplica, UpdateMetadata), as a ZooKeeper-mode broker serves them
          4: (0, 7), 5: (0, 4), 6: (0, 8),
          # the group APIs, at what a Kafka 3.9 ZooKeeper-mode broker serves
          8: (0, 9), 9: (0, 9), 10: (0, 6), 11: (0, 9), 12: (0, 4), 13: (0, 5), 14: (0, 5), 15: (0, 5), 16: (0, 5),
          # SaslHandshake and SaslAuthenticate (PLAIN, SCRAM), KIP-554's SCRAM user APIs (docs/security.md)
          17: (0, 1), 36: (0, 2), 50: (0, 0), 51: (0, 0),
          # DescribeClientQuotas and AlterClientQuotas (KIP-546)
          48: (0, 1), 49: (0, 1),
          # DescribeAcls, CreateAcls, DeleteAcls (docs/security.md)
          29: (0, 3), 30: (0, 3), 31: (0, 3),
          18: (0, 3), 19: (0, 7), 20: (0, 6), 21: (0, 2), 22: (0, 5),
          23: (0, 4), 32: (0, 4), 33: (0, 2), 35: (0, 4), 37: (0, 3), 42: (0, 2), 44: (0, 1), 47: (0, 0), 60: (0, 1),
          # AlterPartition: leaders' ISR changes, answered by the controller (KIP-497)
          56: (0, 3),
          # ControlledShutdown, ElectLeaders and the reassignment APIs: the controller's (docs/replication.md)
          7: (0, 3), 43: (0, 2), 45: (0, 0), 46: (0, 0),
          # DescribeTopicPartitions: KRaft-only in Kafka, served here for the 3.8+ admin client (KIP-966)
          75: (0, 0),
          # Transactions V1 (docs/transactions.md): AddPartitionsToTxn v4 is the brokers' KIP-890
          # check, TxnOffsetCommit v4 / EndTxn v4+ (Transactions V2) are not served
          24: (0, 4), 25: (0, 3), 26: (0, 3), 27: (0, 1), 28: (0, 3),
          # DescribeProducers, DescribeTransactions, ListTransactions (KIP-664)
          61: (0, 0), 65: (0, 0), 66: (0, 1)}


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_api_versions_lists_exactly_what_is_served(broker, version):
    with connect(broker.port) as s:
        corr, body = api_versions(s, version, correlation_id=11 + version)
    assert corr == 11 + version
    error, apis = parse_api_versions(body, version)
    assert error == 0
    assert apis == SERVED


def test_api_versions_too_new_gets_v0_unsupported_version(broker):
    with connect(broker.port) as s:
        payload = request_v2_header(18, 99, 13) + b"\x00\x00\x00"
        s.sendall(frame(payload))
        resp = recv_frame(s)
    (corr,) = struct.unpack_from(">i", resp, 0)
    assert corr == 13
    error, apis = parse_api_versions(resp[4:], 0)
    assert error == 35  # UNSUPPORTED_VERSION
    assert apis == SERVED


def test_metadata_v12_by_hand(broker):
    body = b"\x01" + b"\x00" + b"\x00" + b"\x00"  # topics=[] (compact), auto=false, ops=false, tags
    with connect(broker.port) as s:
        s.sendall(frame(request_v2_header(3, 12, 21) + body))
        resp = recv_frame(s)
    corr, header_tags = struct.unpack_from(">ib", resp, 0)
    assert corr == 21 and header_tags == 0
    pos = 5
    throttle, brokers_len = struct.unpack_from(">ib", resp, pos)
    assert throttle == 0 and brokers_len == 2  # one broker (compact count + 1)
    pos += 5
    node_id, host_len = struct.unpack_from(">ib", resp, pos)
    pos += 5
    host = resp[pos:pos + host_len - 1].decode()
    pos += host_len - 1
    (port,) = struct.unpack_from(">i", resp, pos)
    assert (node_id, host, port) == (0, "127.0.0.1", broker.port)


def test_pipelined_requests_are_answered_in_order(broker):
    with connect(broker.port) as s:
        burst = b"".join(frame(request_v1_header(18, i % 3, 1000 + i)) for i in range(50))
        s.sendall(burst)
        for i in range(50):
            (corr,) = struct.unpack_from(">i", recv_frame(s), 0)
            assert corr == 1000 + i


def test_unknown_api_key_closes_only_that_connection(broker):
    with connect(broker.port) as bystander:
        with connect(broker.port) as s:
            s.sendall(frame(request_v1_header(4242, 0, 1)))
            assert is_closed(s)
        corr, _ = api_versions(bystander, 0, correlation_id=5)
        assert corr == 5
    assert "is not served" in broker.log_text()


def test_unsupported_version_of_a_served_api_closes(broker):
    with connect(broker.port) as s:
        s.sendall(frame(request_v2_header(3, 13, 1)))  # Metadata v13 does not exist
        assert is_closed(s)
    assert broker.alive()


def test_api_not_yet_served_closes(broker):
    with connect(broker.port) as s:
        s.sendall(frame(request_v1_header(0, 3, 1) + b"\xff\xff\x00\x01"))  # Produce
        assert is_closed(s)
    assert broker.alive()


def test_garbage_closes_the_connection(broker):
    with connect(broker.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert is_closed(s)
    with connect(broker.port) as s:
        assert api_versions(s, 0)[0] == 1


def test_malformed_body_closes(broker):
    # Metadata v1 claiming 1000 topics with no bytes behind the count.
    with connect(broker.port) as s:
        s.sendall(frame(request_v1_header(3, 1, 1) + struct.pack(">i", 1000)))
        assert is_closed(s)
    assert "malformed Metadata v1 request" in broker.log_text()


def test_huge_size_prefix_is_refused_without_allocating(broker):
    before = rss_kib(broker.proc.pid)
    with connect(broker.port) as s:
        s.sendall(struct.pack(">i", 2**31 - 1) + b"\x00" * 64)
        assert is_closed(s)
    with connect(broker.port) as s:
        s.sendall(struct.pack(">i", -5))
        assert is_closed(s)
    after = rss_kib(broker.proc.pid)
    assert after - before < 16 * 1024, "RSS grew from %d to %d KiB" % (before, after)
    assert "larger than socket.request.max.bytes" in broker.log_text()


def test_truncated_frame_then_disconnect(broker):
    for _ in range(20):
        with connect(broker.port) as s:
            s.sendall(struct.pack(">i", 100) + b"\x00\x12")
    with connect(broker.port) as s:
        assert api_versions(s, 1)[0] == 1
    assert broker.alive()


def test_many_concurrent_clients(broker):
    errors = []

    def client(n):
        try:
            with connect(broker.port) as s:
                for i in range(20):
                    corr, body = api_versions(s, 3, correlation_id=n * 100 + i)
                    assert corr == n * 100 + i
                    assert parse_api_versions(body, 3) == (0, SERVED)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_idle_connections_are_closed(make_broker):
    b = make_broker(extra_config="connections.max.idle.ms: 300\n").start()
    with connect(b.port) as s:
        assert api_versions(s, 0)[0] == 1
        start = time.monotonic()
        assert is_closed(s, timeout=5.0)
        assert time.monotonic() - start >= 0.2  # closed for idleness, not at once


def served_connection(port, correlation_id, source="127.0.0.1"):
    """A connection the broker answers on, retrying while an earlier client's
    slot (the harness's readiness probe, say) is still being released."""
    for _ in range(100):
        s = connect(port, source=source)
        try:
            if api_versions(s, 0, correlation_id=correlation_id)[0] == correlation_id:
                return s
        except (ConnectionError, OSError):
            pass
        s.close()
        time.sleep(0.05)
    raise AssertionError("the broker served no connection")


def test_connection_limit_per_ip(make_broker):
    b = make_broker(extra_config="max.connections.per.ip: 3\n").start()
    held = [served_connection(b.port, i) for i in range(3)]
    try:
        with connect(b.port) as extra:
            assert is_closed(extra)  # a fourth from 127.0.0.1 is refused at accept
        assert "connection limit reached" in b.log_text()
        for i, s in enumerate(held):  # the three keep working
            assert api_versions(s, 0, correlation_id=10 + i)[0] == 10 + i
    finally:
        for s in held:
            s.close()
    # Slots come back once clients leave.
    served_connection(b.port, 20).close()


def test_per_ip_overrides_give_some_clients_other_limits(make_broker):
    """max.connections.per.ip.overrides, by address and by host name: localhost
    (127.0.0.1) may hold two, 127.0.0.2 three, any other address the one of
    max.connections.per.ip."""
    b = make_broker(extra_config="max.connections.per.ip: 1\n"
                                 "max.connections.per.ip.overrides: 'localhost:2, 127.0.0.2:3'\n").start()
    held = []
    try:
        for source, limit in (("127.0.0.1", 2), ("127.0.0.2", 3), ("127.0.0.3", 1)):
            held += [served_connection(b.port, i, source) for i in range(limit)]
            with connect(b.port, source=source) as extra:
                assert is_closed(extra), "one more than %d from %s" % (limit, source)
        assert "with an override for this address" in b.log_text()
        for i, s in enumerate(held):
            assert api_versions(s, 0, correlation_id=30 + i)[0] == 30 + i
    finally:
        for s in held:
            s.close()


def test_at_max_connections_a_new_client_waits_for_a_slot(make_broker):
    b = make_broker(extra_config="max.connections: 2\n").start()
    held = [served_connection(b.port, i) for i in range(2)]
    # librdkafka connects (the kernel completes it in the backlog) but is not
    # accepted: its record waits, as against Kafka, rather than failing.
    reports = []
    p = Producer({"bootstrap.servers": b.bootstrap, "message.timeout.ms": 30000})
    p.produce("waits", b"v", on_delivery=lambda err, msg: reports.append(err))
    p.flush(2.0)
    assert reports == []
    assert "max.connections reached on PLAINTEXT (2 open here, 2 in all)" in b.log_text()
    held.pop().close()
    p.flush(20)
    assert reports == [None]
    for s in held:
        assert api_versions(s, 0, correlation_id=7)[0] == 7  # the one left kept working
        s.close()
