"""kafkajs 2.2.4 (a pure-JavaScript client with its own protocol code) against
keel: gzip produce with keys and headers, a consumer group with commits and a
restart, and its admin client call by call. The node scripts live in
tests/integration/js and print JSON lines that these tests read;
scripts/install-deps.sh installs kafkajs there."""

import json
import os
import selectors
import shutil
import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from test_produce_consume import produce

JS = Path(__file__).resolve().parent / "js"
NODE = "/usr/bin/node" if os.path.exists("/usr/bin/node") else shutil.which("node")


@pytest.fixture
def node():
    if NODE is None:
        pytest.skip("node is not installed (scripts/install-deps.sh installs Debian's nodejs)")
    assert (JS / "node_modules" / "kafkajs" / "package.json").exists(), \
        "kafkajs is missing: run scripts/install-deps.sh (npm ci in tests/integration/js)"
    return NODE


class NodeScript:
    """One node process; its stdout is JSON lines, its stderr goes to a file."""

    def __init__(self, node, script, args, log_path):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen([node, str(JS / script), json.dumps(args)], cwd=str(JS),
                                     stdout=subprocess.PIPE, stderr=self.log)
        self.buf = b""
        self.events = []

    def next_event(self, kind, timeout):
        """Reads events until one of `kind` arrives; returns it."""
        deadline = time.time() + timeout
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            while True:
                while b"\n" in self.buf:
                    line, self.buf = self.buf.split(b"\n", 1)
                    event = json.loads(line)
                    self.events.append(event)
                    if event["event"] == kind:
                        return event
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError("no %r event from %s within %.0f s; stderr tail:\n%s"
                                         % (kind, self.proc.args[1], timeout, self.stderr_tail()))
                if sel.select(min(left, 0.5)):
                    chunk = os.read(self.proc.stdout.fileno(), 65536)
                    if not chunk:
                        self.proc.wait(timeout=10)
                        raise AssertionError("%s exited (%s) before a %r event; stderr tail:\n%s"
                                             % (self.proc.args[1], self.proc.returncode, kind, self.stderr_tail()))
                    self.buf += chunk
        finally:
            sel.close()

    def finish(self, timeout=30):
        code = self.proc.wait(timeout=timeout)
        assert code == 0, "%s exited %s; stderr tail:\n%s" % (self.proc.args[1], code, self.stderr_tail())

    def stderr_tail(self):
        self.log.flush()
        return Path(self.log_path).read_text(errors="replace")[-4000:]

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


@pytest.fixture
def scripts(node, tmp_path):
    started = []

    def run(script, args):
        s = NodeScript(node, script, args, tmp_path / ("%s-%d.stderr" % (script, len(started))))
        started.append(s)
        return s

    yield run
    for s in started:
        s.close()


def create_topic(broker, name, partitions):
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(30)


def batch_codecs(segment):
    """The compression codec (attributes & 7) of every record batch in a log segment."""
    data = segment.read_bytes()
    codecs, pos = [], 0
    while pos + 61 <= len(data):
        (length,) = struct.unpack_from(">i", data, pos + 8)
        (attributes,) = struct.unpack_from(">h", data, pos + 21)
        codecs.append(attributes & 7)
        pos += 12 + length
    return codecs


def test_kafkajs_gzip_produce_with_keys_and_headers_round_trips(broker, scripts):
    """kafkajs produces; a group-less librdkafka consumer (assign, no commits)
    reads back exactly what was sent. kafkajs has no group-less consumer API,
    so its own decoding is checked by the group test below."""
    topic = "kjs-rt"
    create_topic(broker, topic, 2)
    messages = [{"key": "k%d" % i, "value": "v%d-" % i + "x" * (i % 40), "partition": i % 2,
                 "headers": {"h": "x%d" % i, "empty": ""}} for i in range(100)]
    messages.append({"key": "tombstone", "value": None, "partition": 0})
    s = scripts("produce.js", {"brokers": [broker.bootstrap], "topic": topic, "compression": "gzip",
                               "messages": messages})
    produced = s.next_event("produced", 60)
    s.finish()
    assert all(r["error"] == 0 for r in produced["results"]), produced
    assert sorted(r["partition"] for r in produced["results"]) == [0, 1]
    assert produced["highWatermarks"] == {"0": 51, "1": 50}, "ListOffsets through kafkajs' admin"

    # The broker kept kafkajs' gzip batches as they came (compression.type=producer).
    for p in (0, 1):
        segments = sorted((broker.dir / "data" / ("%s-%d" % (topic, p))).glob("*.log"))
        assert segments, "no segment for partition %d" % p
        codecs = [c for seg in segments for c in batch_codecs(seg)]
        assert codecs and set(codecs) == {1}, "batch codecs on disk: %r (1 is gzip)" % codecs

    for p in (0, 1):
        want = [m for m in messages if m["partition"] == p]
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused-" + uuid.uuid4().hex,
                      "enable.auto.commit": False, "enable.partition.eof": False})
        c.assign([TopicPartition(topic, p, 0)])
        got = []
        deadline = time.time() + 30
        try:
            while len(got) < len(want) and time.time() < deadline:
                msg = c.poll(0.5)
                if msg is None:
                    continue
                assert not msg.error(), msg.error()
                got.append(msg)
        finally:
            c.close()
        assert len(got) == len(want), "partition %d: %d of %d records" % (p, len(got), len(want))
        for i, (m, g) in enumerate(zip(want, got)):
            assert g.offset() == i
            assert g.key() == m["key"].encode()
            assert g.value() == (None if m["value"] is None else m["value"].encode())
            assert sorted(g.headers() or []) == sorted((k, v.encode()) for k, v in m.get("headers", {}).items())


def group_args(broker, topic, group, members, expect, partitions=4):
    return {"brokers": [broker.bootstrap], "topic": topic, "groupId": group, "members": members,
            "partitions": partitions, "expect": expect, "lingerMs": 1000, "timeoutMs": 90000}


def test_kafkajs_group_splits_partitions_commits_and_resumes_after_a_restart(broker, scripts):
    topic, group = "kjs-group", "kjs-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic, 4)

    first = scripts("group.js", group_args(broker, topic, group, members=2, expect=200))
    ready = first.next_event("ready", 60)
    split = {int(m): set(ps) for m, ps in ready["assignments"].items()}
    assert sorted(p for ps in split.values() for p in ps) == [0, 1, 2, 3]
    assert all(len(ps) == 2 for ps in split.values()), "kafkajs' round-robin assignor gives 2 partitions each: %r" % split

    # librdkafka produces the records, gzip, with keys and headers.
    sent = [{"key": b"k%d" % i, "value": b"value-%d" % i, "headers": [("n", b"%d" % i), ("h2", b"")],
             "partition": i % 4} for i in range(200)]
    produce(broker.bootstrap, topic, sent, **{"compression.type": "gzip"})
    done = first.next_event("done", 60)
    first.finish()

    records = done["records"]
    seen = [(r["partition"], r["offset"]) for r in records]
    assert len(seen) == len(set(seen)) == 200, "each record once: %d records, %d distinct" % (len(seen), len(set(seen)))
    assert set(seen) == {(p, o) for p in range(4) for o in range(50)}
    for r in records:
        assert r["partition"] in split[r["member"]], "member %d read partition %d it was not assigned: %r" % (
            r["member"], r["partition"], split)
    consumers_of = {}
    for r in records:
        consumers_of.setdefault(r["partition"], set()).add(r["member"])
    assert all(len(ms) == 1 for ms in consumers_of.values()), consumers_of
    by_pos = {(m["partition"], i // 4): m for i, m in enumerate(sent)}
    for r in records:
        m = by_pos[(r["partition"], r["offset"])]
        assert bytes.fromhex(r["key"]) == m["key"]
        assert bytes.fromhex(r["value"]) == m["value"]
        assert r["headers"] == {k: v.hex() for k, v in m["headers"]}
    assert done["committed"] == {str(p): 50 for p in range(4)}, "OffsetFetch through kafkajs' admin"

    # Another client sees the same commits.
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = c.committed([TopicPartition(topic, p) for p in range(4)], timeout=15)
    finally:
        c.close()
    assert sorted((tp.partition, tp.offset) for tp in committed) == [(p, 50) for p in range(4)]

    # Records produced while the group is empty; a restarted member starts at
    # the committed offsets, not at the beginning (fromBeginning only applies
    # without a commit).
    produce(broker.bootstrap, topic, [{"value": b"late-%d" % i, "partition": i % 4} for i in range(40)])
    second = scripts("group.js", group_args(broker, topic, group, members=1, expect=40))
    ready = second.next_event("ready", 60)
    assert ready["assignments"] == {"0": [0, 1, 2, 3]}
    done = second.next_event("done", 60)
    second.finish()
    seen = sorted((r["partition"], r["offset"]) for r in done["records"])
    assert seen == sorted((p, o) for p in range(4) for o in range(50, 60)), "resumed at the commit: %r" % seen[:8]
    assert sorted(bytes.fromhex(r["value"]) for r in done["records"]) == sorted(b"late-%d" % i for i in range(40))
    assert done["committed"] == {str(p): 60 for p in range(4)}


def test_kafkajs_admin_client_tour(broker, scripts):
    stamp = int(time.time() * 1000) - 60_000
    s = scripts("admin_tour.js", {"brokers": [broker.bootstrap], "topic": "tour", "group": "tour-g", "stamp": stamp})
    t = s.next_event("tour", 90)
    s.finish()
    # Topics: created, validate-only creates nothing, creating again answers "exists", grown to 3.
    assert (t["created"], t["validateOnly"], t["createdAgain"]) == (True, True, False)
    assert t["topics"] == ["tour"]
    assert t["partitions"] == [{"partition": p, "leader": broker.broker_id, "replicas": [broker.broker_id],
                                "isr": [broker.broker_id]} for p in range(3)]
    assert t["cluster"]["brokers"] == [{"nodeId": broker.broker_id, "host": "127.0.0.1", "port": broker.port}]
    assert t["cluster"]["controller"] == broker.broker_id and len(t["cluster"]["clusterId"]) == 22
    # Configs: the one set at creation, a default beside it, the altered value, a broker key.
    assert t["configsBefore"] == {"errorCode": 0, "values": {
        "retention.ms": {"value": "3600000", "isDefault": False},
        "cleanup.policy": {"value": "delete", "isDefault": True}}}
    assert t["configsAfter"]["values"]["retention.ms"] == {"value": "7200000", "isDefault": False}
    assert t["brokerConfig"] == [{"name": "num.partitions", "value": "1"}]
    # Offsets: ten records in partition 0; the first at or after stamp + 4.5 s is the sixth
    # (kafkajs gives an empty partition's high watermark for "none").
    assert t["offsets"] == [{"partition": 0, "low": "0", "high": "10"},
                            {"partition": 1, "low": "0", "high": "0"}, {"partition": 2, "low": "0", "high": "0"}]
    assert t["byTime"] == [{"partition": 0, "offset": "5"}, {"partition": 1, "offset": "0"},
                           {"partition": 2, "offset": "0"}]
    # A group's offsets: set (kafkajs joins, seeks and commits), reset to the earliest (kafkajs
    # commits -2, as it does against Kafka), listed, described empty, deleted.
    assert t["groupSet"] == [{"partition": 0, "offset": "7"}, {"partition": 1, "offset": "-1"},
                             {"partition": 2, "offset": "-1"}]
    assert t["groupReset"] == [{"partition": p, "offset": "-2"} for p in range(3)]
    assert t["groupsListed"] == [{"groupId": "tour-g", "protocolType": "consumer"}]
    assert t["groupDescribed"] == [{"groupId": "tour-g", "state": "Empty", "members": 0}]
    assert t["groupDeleted"] == [{"groupId": "tour-g", "errorCode": 0}]
    assert t["groupsAfterDelete"] == [] and t["topicsAfterDelete"] == []
