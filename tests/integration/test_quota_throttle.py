"""Client quota enforcement (issue 23, server/quota_throttle.h) with real
clients: quotas set through AlterClientQuotas hold a producer and a consumer
to their byte rates while a client without a quota beside them keeps its
speed; a user-level quota over SASL/PLAIN applies by Kafka's precedence; the
client sees throttle_time_ms (librdkafka's `throttle` statistics).

The brokers measure over quota.window.num 2 x 1 s windows so that the first
burst a quota lets through (samples - 1 windows' worth) is short and a few
seconds show the steady rate. With so few windows the measured rate moves
in steps (a window expiring takes a second's bytes with it), so the bands
are generous."""

import json
import struct
import threading
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from cluster_harness import start_cluster, stop_cluster
from kafka_schema import KafkaConnection, encode, record_batch, schema
from test_cluster import partition, wait_for, zk  # noqa: F401 (zk: a fixture)
from test_client_quotas import alter
from test_replication import produce_acked
from test_sasl import client_conf, sasl_broker
from test_metrics import scrape, start, value

WINDOWS = "quota.window.num: 2\nquota.window.size.seconds: 1\n"
VALUE = b"x" * 1000


def create_topic(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result(15)


class Load(threading.Thread):
    """A producer sending 1000-byte values as fast as it may for `seconds`;
    keeps when each value was acknowledged and the largest throttle time
    librdkafka's statistics report."""

    def __init__(self, conf, topic, seconds):
        super().__init__(daemon=True)
        self.topic, self.seconds = topic, seconds
        self.acked = []  # acknowledgement times
        self.throttle_max = 0
        self.errors = []
        self.producer = Producer(dict(conf, **{
            "linger.ms": 5, "batch.size": 16384, "queue.buffering.max.messages": 50,
            "statistics.interval.ms": 500, "stats_cb": self.stats, "error_cb": self.errors.append,
            "message.timeout.ms": 30000}))

    def stats(self, text):
        for b in json.loads(text)["brokers"].values():
            self.throttle_max = max(self.throttle_max, b.get("throttle", {}).get("max", 0))

    def delivered(self, err, msg):
        if err is None:
            self.acked.append(time.monotonic())
        else:
            self.errors.append(err)

    def run(self):
        end = time.monotonic() + self.seconds
        while time.monotonic() < end:
            try:
                self.producer.produce(self.topic, VALUE, on_delivery=self.delivered)
            except BufferError:
                self.producer.poll(0.005)
            self.producer.poll(0)
        self.producer.flush(30)

    def rate(self, start, end):
        """Bytes/s of values acknowledged between start and end (monotonic)."""
        n = sum(1 for t in self.acked if start <= t < end)
        return n * len(VALUE) / (end - start)


def test_producer_is_held_to_its_byte_rate_and_another_is_not(make_broker):
    b = start(make_broker, extra=WINDOWS)
    create_topic(b.bootstrap, "q-slow")
    create_topic(b.bootstrap, "q-fast")
    quota = 100_000
    assert alter(b.port, [({"client-id": "slow"}, {"producer_byte_rate": quota})]) == [(0, None, {"client-id": "slow"})]
    slow = Load({"bootstrap.servers": b.bootstrap, "client.id": "slow"}, "q-slow", 6)
    fast = Load({"bootstrap.servers": b.bootstrap, "client.id": "fast"}, "q-fast", 6)
    t0 = time.monotonic()
    slow.start()
    fast.start()
    time.sleep(4.5)
    samples = scrape(b.http_port)  # while they run: the sensors cover the last windows
    slow.join(40)
    fast.join(40)
    assert not slow.errors and not fast.errors, (slow.errors, fast.errors)
    # After the first burst, the steady rate.
    achieved = slow.rate(t0 + 2.5, t0 + 6)
    assert 0.6 * quota <= achieved <= 1.4 * quota, achieved
    assert fast.rate(t0 + 2.5, t0 + 6) > 4 * quota
    assert slow.throttle_max > 0  # librdkafka saw throttle_time_ms
    assert fast.throttle_max == 0
    # Kafka's quota sensors on /metrics, by the quota group's tags.
    assert value(samples, "kafka_server_produce_byte_rate", user="", client_id="slow") > 0
    assert value(samples, "kafka_server_produce_throttle_time", user="", client_id="slow") > 0
    assert value(samples, "kafka_server_produce_throttle_time", user="", client_id="fast") == 0
    assert value(samples, "kafka_server_request_request_time", user="", client_id="fast") > 0


def test_quota_change_applies_to_a_live_connection(make_broker):
    b = make_broker(extra_config=WINDOWS).start()
    create_topic(b.bootstrap, "q-live")
    alter(b.port, [({"client-id": "live"}, {"producer_byte_rate": 50_000})])
    load = Load({"bootstrap.servers": b.bootstrap, "client.id": "live"}, "q-live", 5.5)
    t0 = time.monotonic()
    load.start()
    time.sleep(3.5)
    assert alter(b.port, [({"client-id": "live"}, {"producer_byte_rate": None})])[0][0] == 0
    load.join(40)
    before = load.rate(t0 + 1.5, t0 + 3.5)
    after = load.rate(t0 + 4.5, t0 + 5.5)  # a second after the change
    assert before <= 1.6 * 50_000, before
    assert after > 4 * 50_000, (before, after)


def test_consumer_is_held_to_its_byte_rate(make_broker):
    b = make_broker(extra_config=WINDOWS).start()
    create_topic(b.bootstrap, "q-read")
    # Batches well under what the quota lets through in a window: a batch
    # larger than that could never be sent to the consumer (as in Kafka).
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5, "batch.size": 16384})
    for _ in range(4000):  # 4 MB
        while True:
            try:
                p.produce("q-read", VALUE)
                break
            except BufferError:
                p.poll(0.01)
    assert p.flush(30) == 0
    quota = 200_000
    alter(b.port, [({"client-id": "reader"}, {"consumer_byte_rate": quota})])
    throttle = []

    def consume(client_id, seconds, want=None):
        got = []
        c = Consumer({"bootstrap.servers": b.bootstrap, "client.id": client_id, "group.id": "g-" + client_id,
                      "auto.offset.reset": "earliest", "statistics.interval.ms": 500,
                      "stats_cb": lambda s: throttle.extend(
                          (client_id, br.get("throttle", {}).get("max", 0))
                          for br in json.loads(s)["brokers"].values())})
        c.subscribe(["q-read"])
        end = time.monotonic() + seconds
        while time.monotonic() < end and (want is None or len(got) < want):
            m = c.poll(0.1)
            if m is not None and not m.error():
                got.append((time.monotonic(), len(m.value())))
        c.close()
        return got

    t0 = time.monotonic()
    slow = consume("reader", 6)
    n = sum(size for t, size in slow if t0 + 2.5 <= t < t0 + 6)
    achieved = n / 3.5
    assert 0.5 * quota <= achieved <= 1.5 * quota, achieved
    assert max(v for c, v in throttle if c == "reader") > 0
    # Without a quota the whole topic comes at once.
    t1 = time.monotonic()
    fast = consume("unlimited", 5, want=4000)
    assert sum(size for _, size in fast) >= 4000 * len(VALUE), time.monotonic() - t1


def test_user_quota_over_sasl_plain_beats_the_client_default(make_broker):
    b = sasl_broker(make_broker, mechanisms="PLAIN", extra=WINDOWS)
    create_topic(b.bootstrap, "q-user")
    quota = 60_000
    res = alter(b.port, [({"user": "alice"}, {"producer_byte_rate": quota}),
                         ({"client-id": None}, {"producer_byte_rate": 100 * quota})])
    assert [e for e, _, _ in res] == [0, 0]
    # Two clients of alice share her user-level quota (precedence 3 beats
    # the <default> client-id's at 8).
    loads = [Load(dict(client_conf(b, "PLAIN", "alice", "alice-secret"), **{"client.id": cid}), "q-user", 6)
             for cid in ("a1", "a2")]
    t0 = time.monotonic()
    for load in loads:
        load.start()
    for load in loads:
        load.join(40)
    assert not any(load.errors for load in loads), [load.errors for load in loads]
    together = sum(load.rate(t0 + 2.5, t0 + 6) for load in loads)
    assert 0.5 * quota <= together <= 1.6 * quota, together
    assert all(load.throttle_max > 0 for load in loads)


THROTTLING_QUOTA_EXCEEDED = 89


def create_topics(conn, version, names, partitions):
    body = {"Topics": [{"Name": n, "NumPartitions": partitions, "ReplicationFactor": 1, "Assignments": [],
                        "Configs": []} for n in names], "TimeoutMs": 10000, "ValidateOnly": False}
    resp = conn.call("CreateTopics", version, body)
    return resp["ThrottleTimeMs"], [(t["Name"], t["ErrorCode"]) for t in resp["Topics"]]


def test_controller_mutation_rate_refuses_new_versions_and_mutes_old_ones(make_broker):
    """KIP-599 with a bucket of 1 partition/s (a burst of 2 over the test's
    two windows): CreateTopics v6 is refused THROTTLING_QUOTA_EXCEEDED once
    the bucket is in debt; v5 creates everything, and then the connection
    reads nothing more until the debt is paid (KIP-219)."""
    b = make_broker(extra_config=WINDOWS).start()
    alter(b.port, [({"client-id": "adm"}, {"controller_mutation_rate": 1}),
                   ({"client-id": "adm-old"}, {"controller_mutation_rate": 1})])
    with KafkaConnection(b.port, client_id="adm") as c:
        throttle, results = create_topics(c, 6, ["m1", "m2", "m3"], 2)
    # m1 takes the burst (2), m2 is admitted with the bucket at 0 and leaves
    # it 2 in debt, m3 is refused.
    assert results == [("m1", 0), ("m2", 0), ("m3", THROTTLING_QUOTA_EXCEEDED)]
    assert 1500 <= throttle <= 2000, throttle
    with KafkaConnection(b.port, client_id="adm-old") as c:
        t0 = time.monotonic()
        throttle, results = create_topics(c, 5, ["o1", "o2"], 2)
        answered = time.monotonic() - t0
        assert results == [("o1", 0), ("o2", 0)]
        assert 1500 <= throttle <= 2000, throttle
        assert answered < 1.0, answered  # answered at once...
        c.call("Metadata", 4, {"Topics": [], "AllowAutoTopicCreation": False})
        assert time.monotonic() - t0 >= throttle / 1000.0 - 0.2  # ...then muted


def test_replication_is_never_held_by_client_quotas(zk, tmp_path):  # noqa: F811 (zk: a fixture)
    """Default client and user quotas that would hold any fetcher to 1 kB/s:
    acks=all produce of 600 kB still completes at once, because the
    followers' fetches are not measured (Kafka exempts replication)."""
    brokers = start_cluster(zk, tmp_path, "quota-repl", ids=(1, 2), extra_config=WINDOWS)
    try:
        b1 = brokers[0]
        res = alter(b1.port, [({"client-id": None}, {"consumer_byte_rate": 1000}),
                              ({"user": None}, {"consumer_byte_rate": 1000})])
        assert [e for e, _, _ in res] == [0, 0]
        admin = AdminClient({"bootstrap.servers": b1.bootstrap})
        admin.create_topics([NewTopic("q-repl", num_partitions=1, replication_factor=2)])["q-repl"].result(30)
        wait_for("both replicas in the ISR", lambda: (p := partition(b1, "q-repl")) and len(p.isrs) == 2)
        t0 = time.monotonic()
        acked = produce_acked(b1.bootstrap, "q-repl", [b"%04d" % i + VALUE[4:] for i in range(600)])
        assert len(acked) == 600
        assert time.monotonic() - t0 < 15, time.monotonic() - t0
    finally:
        stop_cluster(brokers)


def test_produce_answers_carry_the_request_throttle_and_acks_0_is_exempt(make_broker):
    """Kafka writes max(byte-rate throttle, request throttle) into a produce
    answer, and leaves acks=0 produce requests out of request_percentage."""
    b = start(make_broker)
    create_topic(b.bootstrap, "q-rp")
    # A produce's handler time up to its append is a few microseconds here:
    # a tiny quota, so that a few hundred of them exceed it.
    assert alter(b.port, [({"client-id": "rp"}, {"request_percentage": 0.0005}),
                          ({"client-id": "rp0"}, {"request_percentage": 0.0005})])[0][0] == 0

    def body(acks):
        return {"TransactionalId": None, "Acks": acks, "TimeoutMs": 5000, "TopicData": [
            {"Name": "q-rp", "PartitionData": [{"Index": 0, "Records": record_batch([b"x" * 100],
                                                                                  int(time.time() * 1000))}]}]}

    # acks=0: no answer to wait for; sent on a connection of their own.
    with KafkaConnection(b.port, client_id="rp0") as c:
        req = schema("ProduceRequest")
        client = c.client_id.encode()
        for i in range(40):
            header = struct.pack(">hhih", req["apiKey"], 9, 1000 + i, len(client)) + client + b"\x00"
            payload = header + encode("ProduceRequest", 9, body(0))
            c.sock.sendall(struct.pack(">i", len(payload)) + payload)
        deadline = time.time() + 20
        while True:
            samples = scrape(b.http_port)
            if [v for l, v in samples.get("kafka_server_brokertopicmetrics_messagesin_total", [])
                    if l.get("topic") == "q-rp"] == [40.0]:
                break
            assert time.time() < deadline, "the acks=0 records never arrived"
            time.sleep(0.2)
    assert not [l for l, _ in samples.get("kafka_server_request_request_time", []) if l.get("client_id") == "rp0"]

    # acks=1: the request time counts, and an answer carries the throttle.
    throttle = 0
    with KafkaConnection(b.port, client_id="rp") as c:
        for _ in range(2000):
            throttle = c.call("Produce", 9, body(1))["ThrottleTimeMs"]
            if throttle > 0:
                break
    assert 0 < throttle <= 1000  # a request throttle is at most one window
    samples = scrape(b.http_port)
    assert value(samples, "kafka_server_request_request_time", user="", client_id="rp") > 0
    assert value(samples, "kafka_server_request_throttle_time", user="", client_id="rp") > 0
    assert b.stop() == 0
