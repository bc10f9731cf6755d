"""Consumer groups (the classic rebalance protocol) through real clients:
librdkafka (confluent-kafka) members joining, leaving, dying, static and
cooperative; committed offsets across broker restarts; kafka-python's consumer
and admin client; and Kafka's group error codes over the wire, with requests
encoded by kafka-python's protocol classes or by hand.

Members of one test run in this process and are polled round-robin (librdkafka
heartbeats from its own threads; rebalance callbacks run inside poll)."""

import json
import os
import selectors
import signal
import struct
import subprocess
import sys
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
from kafka.protocol.commit import GroupCoordinatorRequest, OffsetCommitRequest, OffsetFetchRequest
from kafka.protocol.group import HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, SyncGroupRequest

from kafka_wire import (api_versions, connect, frame, parse_api_versions, recv_frame, request_v1_header,
                        request_v2_header, uvarint)
from test_produce_consume import produce

# Kafka's error codes used here.
NONE, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR = 0, 14, 15, 16
OFFSET_METADATA_TOO_LARGE, ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL, INVALID_GROUP_ID = 12, 22, 23, 24
UNKNOWN_MEMBER_ID, INVALID_SESSION_TIMEOUT, REBALANCE_IN_PROGRESS = 25, 26, 27
NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, MEMBER_ID_REQUIRED, GROUP_MAX_SIZE_REACHED = 68, 69, 79, 81
GROUP_SUBSCRIBED_TO_TOPIC = 86


def create_topic(broker, name, partitions):
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(30)


def produce_spread(broker, topic, partitions, count, tag):
    """count records, round-robin over the partitions; returns {(partition, offset): value}."""
    msgs = [{"value": b"%s-%d" % (tag.encode(), i), "key": b"k%d" % i, "partition": i % partitions}
            for i in range(count)]
    offsets = produce(broker.bootstrap, topic, msgs)
    return {(m["partition"], o): m["value"] for m, o in zip(msgs, offsets)}


class Ledger:
    """What every member of one group read and committed, in the order it happened."""

    def __init__(self):
        self.seq = 0
        self.committed = {}  # partition -> offset (the next to read), last successful commit
        self.reads = []      # (seq, member, partition, offset, value)

    def tick(self):
        self.seq += 1
        return self.seq


class Member:
    """One librdkafka consumer in a group, with its rebalance history.

    Checks, as records arrive, that the first record read from a partition
    after it is assigned is at the group's committed offset for it (or the
    log start without a commit): the resume point Kafka promises; and that
    no record is read that the group had already committed past, so a record
    read twice is always one its first reader had not committed."""

    def __init__(self, name, broker, group, topic, ledger, commit_every=0, **conf):
        self.name, self.topic, self.ledger = name, topic, ledger
        self.commit_every = commit_every
        self.events = []           # (kind, sorted partitions, seq)
        self.assigned = set()
        self.positions = {}        # partition -> next offset, for partitions read since assigned
        self.expected_start = {}   # partition -> offset its first record must have
        self.records = []
        self.errors = []
        self.commit_failures = []
        self.unread_since_commit = 0
        self.closed = False
        config = {"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
                  "client.id": name, "error_cb": self._on_error}
        config.update(conf)
        self.c = Consumer(config)
        self.c.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)

    def _on_error(self, err):
        self.errors.append(err)

    def _on_assign(self, consumer, partitions):
        ps = sorted(tp.partition for tp in partitions)
        self.events.append(("assign", ps, self.ledger.tick()))
        for p in ps:
            assert p not in self.assigned, "%s: %d assigned twice without a revoke" % (self.name, p)
            self.assigned.add(p)
            self.expected_start[p] = self.ledger.committed.get(p, 0)
            self.positions.pop(p, None)

    def _on_revoke(self, consumer, partitions):
        ps = sorted(tp.partition for tp in partitions)
        self.events.append(("revoke", ps, self.ledger.tick()))
        for p in ps:
            assert p in self.assigned, "%s: %d revoked but not assigned (%r)" % (self.name, p, self.assigned)
            self.assigned.discard(p)
            self.positions.pop(p, None)

    def _on_lost(self, consumer, partitions):
        ps = sorted(tp.partition for tp in partitions)
        self.events.append(("lost", ps, self.ledger.tick()))
        for p in ps:
            self.assigned.discard(p)
            self.positions.pop(p, None)

    def poll(self, timeout=0.05):
        msg = self.c.poll(timeout)
        if msg is None:
            return None
        if msg.error():
            self.errors.append(msg.error())
            return None
        p, o = msg.partition(), msg.offset()
        if p in self.expected_start:
            start = self.expected_start.pop(p)
            assert o == start, "%s: first record of partition %d after assignment is offset %d, committed was %d" % (
                self.name, p, o, start)
        assert o >= self.ledger.committed.get(p, 0), "%s read %d@%d, already committed past (%d)" % (
            self.name, p, o, self.ledger.committed[p])
        self.positions[p] = o + 1
        self.records.append((p, o, msg.value()))
        self.ledger.reads.append((self.ledger.tick(), self.name, p, o, msg.value()))
        self.unread_since_commit += 1
        if self.commit_every and self.unread_since_commit >= self.commit_every:
            self.commit()
        return msg

    def commit(self):
        """Synchronous commit of the positions read; a failure (a rebalance
        under way) is recorded, not raised."""
        offsets = [TopicPartition(self.topic, p, o) for p, o in sorted(self.positions.items()) if p in self.assigned]
        if not offsets:
            return None
        try:
            result = self.c.commit(offsets=offsets, asynchronous=False)
        except KafkaException as e:
            self.commit_failures.append(e.args[0])
            return None
        for tp in result:
            if tp.error is None:
                self.ledger.committed[tp.partition] = tp.offset
            else:
                self.commit_failures.append(tp.error)
        self.unread_since_commit = 0
        return result

    def assignment_callbacks(self):
        return [e for e in self.events if e[0] in ("assign", "revoke", "lost")]

    def close(self):
        if not self.closed:
            self.closed = True
            self.c.close()


@pytest.fixture
def members():
    made = []

    def make(*args, **kwargs):
        m = Member(*args, **kwargs)
        made.append(m)
        return m

    yield make
    for m in made:
        try:
            m.close()
        except (RuntimeError, KafkaException):
            pass  # a fenced (fatally failed) consumer may refuse a clean close


def poll_until(ms, cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for m in ms:
            if not m.closed:
                m.poll(0.05)
        if cond():
            return
    raise AssertionError("timed out after %.0f s waiting for %s; assignments %r; errors %r" % (
        timeout, what, {m.name: sorted(m.assigned) for m in ms}, {m.name: [str(e) for e in m.errors[-3:]] for m in ms}))


def split_evenly(ms, partitions):
    """The live members hold every partition exactly once, none empty."""
    held = [p for m in ms for p in m.assigned]
    return sorted(held) == list(range(partitions)) and all(m.assigned for m in ms)


def records_of(ms):
    return [(p, o) for m in ms for p, o, _ in m.records]


# --- librdkafka members -------------------------------------------------------


def test_three_members_split_six_partitions_and_read_each_record_once(broker, members):
    topic, group = "g6", "three-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic, 6)
    ledger = Ledger()
    ms = [members("m%d" % i, broker, group, topic, ledger) for i in range(3)]
    poll_until(ms, lambda: split_evenly(ms, 6), 45, "three members to split six partitions")
    assert sorted(len(m.assigned) for m in ms) == [2, 2, 2], "range assignor: two each"
    for m in ms:
        assert sorted(tp.partition for tp in m.c.assignment()) == sorted(m.assigned)

    sent = produce_spread(broker, topic, 6, 600, "r")
    poll_until(ms, lambda: len(records_of(ms)) >= 600, 45, "600 records")
    deadline = time.time() + 1.0  # any duplicate would arrive now
    while time.time() < deadline:
        for m in ms:
            m.poll(0.05)
    got = records_of(ms)
    assert len(got) == len(set(got)) == 600, "each record once"
    assert set(got) == set(sent)
    for m in ms:
        for p, o, v in m.records:
            assert p in m.assigned, "%s read partition %d it does not hold" % (m.name, p)
            assert v == sent[(p, o)]


def test_a_member_joining_and_one_leaving_lose_nothing_and_repeat_only_past_the_last_commit(broker, members):
    topic, group = "gjl", "joinleave-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic, 4)
    ledger = Ledger()
    a = members("a", broker, group, topic, ledger, commit_every=7)
    b = members("b", broker, group, topic, ledger, commit_every=7)
    poll_until([a, b], lambda: split_evenly([a, b], 4), 45, "a and b to split four partitions")
    sent = produce_spread(broker, topic, 4, 200, "one")
    poll_until([a, b], lambda: len(set(records_of([a, b]))) >= 100, 30, "half the first batch")

    c = members("c", broker, group, topic, ledger, commit_every=7)
    poll_until([a, b, c], lambda: split_evenly([a, b, c], 4), 45, "c to join and the group to settle")
    sent.update(produce_spread(broker, topic, 4, 200, "two"))
    poll_until([a, b, c], lambda: len(set(records_of([a, b, c]))) >= 300, 30, "most of both batches")

    # b leaves without committing what it read since its last commit.
    b.close()
    poll_until([a, c], lambda: split_evenly([a, c], 4), 45, "the group to settle after b left")
    poll_until([a, c], lambda: set(records_of([a, b, c])) >= set(sent), 30, "every record")
    got = records_of([a, b, c])
    assert set(got) == set(sent), "nothing lost"
    for seq, name, p, o, v in ledger.reads:
        assert v == sent[(p, o)]
    # Member.poll checked every resume point and that nothing committed was
    # read again: the records read twice are only ones read past a commit.
    assert len(ledger.committed) == 4 and all(ledger.committed.values())


CHILD = r"""
import json, sys
from confluent_kafka import Consumer, TopicPartition
a = json.loads(sys.argv[1])
out = lambda **kv: (sys.stdout.write(json.dumps(kv) + "\n"), sys.stdout.flush())
c = Consumer({"bootstrap.servers": a["bootstrap"], "group.id": a["group"], "enable.auto.commit": False,
              "auto.offset.reset": "earliest", "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
              "client.id": "child"})
c.subscribe([a["topic"]], on_assign=lambda c, ps: out(assign=sorted(tp.partition for tp in ps)),
            on_revoke=lambda c, ps: out(revoke=sorted(tp.partition for tp in ps)))
pos, n = {}, 0
while True:
    m = c.poll(0.1)
    if m is None or m.error():
        continue
    pos[m.partition()] = m.offset() + 1
    n += 1
    if n % a["commit_every"] == 0:
        done = c.commit(offsets=[TopicPartition(a["topic"], p, o) for p, o in pos.items()], asynchronous=False)
        out(commit={tp.partition: tp.offset for tp in done if tp.error is None})
    out(record=[m.partition(), m.offset()])
"""


class ChildLines:
    """JSON lines from a child process's stdout, read without blocking."""

    def __init__(self, proc):
        self.proc, self.buf, self.lines = proc, b"", []
        self.sel = selectors.DefaultSelector()
        self.sel.register(proc.stdout, selectors.EVENT_READ)

    def pump(self):
        while self.sel.select(0):
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                break
            self.buf += chunk
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            self.lines.append(json.loads(line))


def test_a_killed_member_is_expelled_after_its_session_timeout_and_its_partitions_resume_at_the_commit(
        broker, members, tmp_path):
    topic, group = "gkill", "kill-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic, 4)
    ledger = Ledger()
    p = members("parent", broker, group, topic, ledger, commit_every=5)
    poll_until([p], lambda: len(p.assigned) == 4, 45, "the parent to hold all partitions")
    stderr = open(tmp_path / "child.stderr", "wb")
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(
        {"bootstrap": broker.bootstrap, "group": group, "topic": topic, "commit_every": 3})],
        stdout=subprocess.PIPE, stderr=stderr)
    try:
        lines = ChildLines(child)

        def child_assigned():
            lines.pump()
            held = set()
            for line in lines.lines:
                if "assign" in line:
                    held |= set(line["assign"])
                if "revoke" in line:
                    held -= set(line["revoke"])
            return held

        poll_until([p], lambda: len(p.assigned) == 2 and sorted(p.assigned | child_assigned()) == [0, 1, 2, 3],
                   45, "the child to join and take two partitions")
        child_parts = child_assigned()
        sent = produce_spread(broker, topic, 4, 100, "one")
        child_reads = lambda: [tuple(l["record"]) for l in lines.lines if "record" in l]

        def first_batch_read():
            lines.pump()
            return len([r for r in child_reads() if r[0] in child_parts]) >= 50 and len(records_of([p])) >= 50

        poll_until([p], first_batch_read, 30, "both members to read the first batch")
        commits = {}
        for line in lines.lines:
            if "commit" in line:
                commits.update({int(k): v for k, v in line["commit"].items()})
        assert commits, "the child committed nothing"
        for part, off in commits.items():
            ledger.committed[part] = max(ledger.committed.get(part, 0), off)
        child.send_signal(signal.SIGKILL)
        killed_at = time.time()
        child.wait(timeout=10)

        sent.update(produce_spread(broker, topic, 4, 40, "two"))
        poll_until([p], lambda: len(p.assigned) == 4, 30, "the parent to take the dead member's partitions")
        took = time.time() - killed_at
        # The broker expels it when its session (6 s) runs out since its last
        # heartbeat (sent every 1 s): not before about 5 s, and soon after 6 s.
        assert 4.5 <= took <= 16, "the dead member's partitions moved after %.1f s" % took
        poll_until([p], lambda: set(records_of([p]) + child_reads()) >= set(sent), 30, "every record")
        # Member.poll checked that the parent started each of the child's
        # partitions at the child's last commit; of the child's partitions only
        # what it read past that commit was read twice.
        reads = records_of([p]) + child_reads()
        dups = {r for r in reads if reads.count(r) > 1}
        for part, off in dups:
            assert part not in child_parts or off >= commits.get(part, 0), (part, off, commits)
        assert set(reads) == set(sent)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        stderr.close()


def test_a_static_member_restarting_within_its_session_keeps_its_partitions_and_a_duplicate_is_fenced(
        broker, members):
    topic, group = "gstatic", "static-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic, 4)
    ledger = Ledger()
    other = members("other", broker, group, topic, ledger, commit_every=1)
    poll_until([other], lambda: len(other.assigned) == 4, 45, "the first member to hold every partition")
    s1 = members("static-a", broker, group, topic, ledger, commit_every=1,
                 **{"group.instance.id": "instance-1", "session.timeout.ms": 10000})
    poll_until([other, s1], lambda: split_evenly([other, s1], 4), 45, "the static member to join")
    held = sorted(s1.assigned)
    sent = produce_spread(broker, topic, 4, 40, "one")
    poll_until([other, s1], lambda: len(records_of([other, s1])) >= 40, 30, "the first batch")
    callbacks_before = list(other.assignment_callbacks())

    # librdkafka sends no LeaveGroup for a static member: the broker keeps its
    # place for session.timeout.ms.
    s1.close()
    sent.update(produce_spread(broker, topic, 4, 40, "two"))
    s2 = members("static-b", broker, group, topic, ledger, commit_every=1,
                 **{"group.instance.id": "instance-1", "session.timeout.ms": 10000})
    poll_until([other, s2], lambda: sorted(s2.assigned) == held, 9, "the restarted static member's partitions")
    poll_until([other, s2], lambda: set(records_of([other, s1, s2])) >= set(sent), 30, "the second batch")
    # Long enough for other's 1 s heartbeats to learn of any rebalance.
    settle = time.time() + 3
    while time.time() < settle:
        other.poll(0.05)
        s2.poll(0.05)
    assert other.assignment_callbacks() == callbacks_before, "the other member was rebalanced: %r" % (
        other.assignment_callbacks()[len(callbacks_before):],)
    assert sorted(s2.assigned) == held
    got = records_of([other, s1, s2])
    assert len(got) == len(set(got)) and set(got) == set(sent), "each record once across the restart"

    # A second live consumer with the same group.instance.id: the newer one
    # takes the place, the older is fenced: FENCED_INSTANCE_ID, which
    # librdkafka 2.0.2 makes fatal and reports from poll as _FATAL, "Fatal
    # error: Broker: Static consumer fenced by other consumer with same
    # group.instance.id".
    s3 = members("static-c", broker, group, topic, ledger, **{"group.instance.id": "instance-1",
                                                                "session.timeout.ms": 10000})

    def fenced():
        return any(e.code() in (KafkaError._FATAL, KafkaError.FENCED_INSTANCE_ID) for e in s2.errors)

    poll_until([other, s2, s3], fenced, 20, "the older instance to be fenced")
    fatal = [e for e in s2.errors if e.code() in (KafkaError._FATAL, KafkaError.FENCED_INSTANCE_ID)]
    assert "fenced by other consumer with same group.instance.id" in str(fatal[0]), str(fatal[0])
    poll_until([other, s3], lambda: sorted(s3.assigned) == held, 20, "the newer instance to take the partitions")


def test_cooperative_sticky_rebalances_incrementally_and_reads_each_record_once(broker, members):
    topic, group = "gcoop", "coop-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic, 6)
    ledger = Ledger()
    conf = {"partition.assignment.strategy": "cooperative-sticky"}

    class CoopMember(Member):
        # The usual cooperative pattern: commit what was read from the
        # partitions being given up, before they go.
        def _on_revoke(self, consumer, partitions):
            gone = {tp.partition for tp in partitions}
            offsets = [TopicPartition(self.topic, p, o) for p, o in self.positions.items() if p in gone]
            if offsets and self.closed:
                # Closing: the members leave one after the other, so the group
                # may already be rebalancing without this member; Kafka refuses
                # the commit then (REBALANCE_IN_PROGRESS), as Keel does.
                self.commit()
            elif offsets:
                for tp in self.c.commit(offsets=offsets, asynchronous=False):
                    assert tp.error is None, tp.error
                    self.ledger.committed[tp.partition] = tp.offset
            super()._on_revoke(consumer, partitions)

    made = []
    try:
        a = CoopMember("a", broker, group, topic, ledger, **conf)
        made.append(a)
        poll_until([a], lambda: len(a.assigned) == 6, 45, "a to hold all six")
        sent = produce_spread(broker, topic, 6, 600, "one")
        poll_until([a], lambda: len(a.records) >= 150, 30, "a to read some")

        b = CoopMember("b", broker, group, topic, ledger, **conf)
        made.append(b)
        poll_until([a, b], lambda: split_evenly([a, b], 6) and len(a.assigned) == 3, 45, "b to get three")
        poll_until([a, b], lambda: len(records_of([a, b])) >= 350, 30, "more records")
        c = CoopMember("c", broker, group, topic, ledger, **conf)
        made.append(c)
        poll_until([a, b, c], lambda: split_evenly([a, b, c], 6) and all(len(m.assigned) == 2 for m in (a, b, c)),
                   45, "c to get two")
        sent.update(produce_spread(broker, topic, 6, 120, "two"))
        poll_until([a, b, c], lambda: set(records_of([a, b, c])) >= set(sent), 30, "every record")
        settle = time.time() + 1.0
        while time.time() < settle:
            for m in (a, b, c):
                m.poll(0.05)

        got = records_of([a, b, c])
        assert len(got) == len(set(got)) == len(sent), "each record exactly once (%d reads, %d distinct, %d sent)" % (
            len(got), len(set(got)), len(sent))
        # Incremental: each callback names only the change (librdkafka may
        # also call with an empty list); nobody gives up all it holds; a
        # hands 3 of its 6 to b, then a and b one each to c (sticky).
        changes = {m.name: [(kind, ps) for kind, ps, _ in m.events if ps] for m in (a, b, c)}
        assert changes["a"] == [("assign", [0, 1, 2, 3, 4, 5]), ("revoke", changes["a"][1][1]),
                                ("revoke", changes["a"][2][1])], changes
        assert [len(ps) for _, ps in changes["a"][1:]] == [3, 1], changes
        assert [(kind, len(ps)) for kind, ps in changes["b"]] == [("assign", 3), ("revoke", 1)], changes
        assert [(kind, len(ps)) for kind, ps in changes["c"]] == [("assign", 2)], changes
        assert set(changes["b"][0][1]) == set(changes["a"][1][1]), "b got what a gave up"
        assert set(changes["c"][0][1]) == set(changes["a"][2][1]) | set(changes["b"][1][1]), "c got what a and b gave up"
    finally:
        for m in made:
            m.close()


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_committed_offsets_survive_a_broker_restart(make_broker, how):
    b = make_broker().start()
    topic, group = "grestart", "restart-" + uuid.uuid4().hex[:8]
    create_topic(b, topic, 2)
    sent = produce_spread(b, topic, 2, 100, "one")
    ledger = Ledger()
    m = Member("before", b, group, topic, ledger)
    poll_until([m], lambda: len(m.assigned) == 2, 45, "the member to join")
    poll_until([m], lambda: len(m.records) >= 100, 30, "the records")
    want = [TopicPartition(topic, 0, 30), TopicPartition(topic, 1, 20)]
    done = m.c.commit(offsets=want, asynchronous=False)
    assert [(tp.partition, tp.offset, tp.error) for tp in done] == [(0, 30, None), (1, 20, None)]
    m.close()

    if how == "sigterm":
        assert b.stop() == 0
    else:
        # An acknowledged commit is in the log (the page cache survives a
        # process kill), as Kafka's is.
        b.kill9()
    b.start()

    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=30)
    finally:
        c.close()
    assert [(tp.partition, tp.offset) for tp in committed] == [(0, 30), (1, 20)]
    ledger = Ledger()
    ledger.committed = {0: 30, 1: 20}
    m = Member("after", b, group, topic, ledger)
    try:
        poll_until([m], lambda: len(m.records) >= (50 - 30) + (50 - 20), 45, "the records past the commits")
        settle = time.time() + 1.0
        while time.time() < settle:
            m.poll(0.05)
        got = sorted((p, o) for p, o, _ in m.records)
        assert got == sorted(k for k in sent if k[1] >= (30 if k[0] == 0 else 20))
    finally:
        m.close()


# --- kafka-python -------------------------------------------------------------


def test_kafka_python_group_consumer_commits_and_a_new_one_resumes(broker):
    from kafka import KafkaConsumer, TopicPartition as KTP
    topic, group = "gkp", "kp-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic, 3)
    sent = produce_spread(broker, topic, 3, 90, "kp")

    def consumer():
        return KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=1000,
                             request_timeout_ms=20000, api_version_auto_timeout_ms=10000)

    first = consumer()
    got = []
    try:
        deadline = time.time() + 45
        while len(got) < 45 and time.time() < deadline:
            for tp, msgs in first.poll(timeout_ms=500, max_records=5).items():
                got += [(m.partition, m.offset) for m in msgs]
        assert len(got) >= 45, "kafka-python read %d records" % len(got)
        first.commit()
        positions = {}
        for p, o in got:
            positions[p] = max(positions.get(p, 0), o + 1)
        for p, o in positions.items():
            assert first.committed(KTP(topic, p)) == o
    finally:
        first.close()

    second = consumer()
    rest = []
    try:
        deadline = time.time() + 45
        while len(got) + len(rest) < 90 and time.time() < deadline:
            for tp, msgs in second.poll(timeout_ms=500).items():
                rest += [(m.partition, m.offset) for m in msgs]
        for p in range(3):
            first_after = min(o for q, o in rest if q == p) if any(q == p for q, _ in rest) else None
            assert first_after in (positions.get(p, 0), None), "partition %d resumed at %r, committed %r" % (
                p, first_after, positions.get(p))
    finally:
        second.close()
    assert sorted(got + rest) == sorted(sent), "each record once across the two consumers"


# --- admin --------------------------------------------------------------------


def test_admin_clients_list_describe_offsets_delete_and_reset(broker, members):
    from kafka.admin import KafkaAdminClient
    from kafka import TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata
    topic, group = "gadmin", "admin-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic, 2)
    produce_spread(broker, topic, 2, 20, "a")
    ledger = Ledger()
    m = members("admin-member", broker, group, topic, ledger, commit_every=1)
    poll_until([m], lambda: len(m.records) >= 20, 45, "the member to read")

    # confluent-kafka 1.7.0's AdminClient has only list_groups (ListGroups,
    # then DescribeGroups); the rest is kafka-python's KafkaAdminClient.
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    listed = {g.id: g for g in a.list_groups(timeout=15)}
    assert group in listed, listed.keys()
    g = a.list_groups(group, timeout=15)
    assert len(g) == 1 and g[0].id == group
    g = g[0]
    assert g.error is None, g.error
    assert (g.state, g.protocol_type, g.protocol) == ("Stable", "consumer", "range")
    assert len(g.members) == 1 and g.members[0].client_id == "admin-member"
    assignment = ConsumerProtocolMemberAssignment.decode(g.members[0].assignment)
    assert [(t, sorted(ps)) for t, ps in assignment.assignment] == [(topic, [0, 1])]
    metadata = ConsumerProtocolMemberMetadata.decode(g.members[0].metadata)
    assert metadata.subscription == [topic]

    k = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=20000)
    try:
        assert (group, "consumer") in k.list_consumer_groups()
        (info,) = k.describe_consumer_groups([group])
        assert (info.error_code, info.group, info.state, info.protocol_type, info.protocol) == (
            0, group, "Stable", "consumer", "range")
        assert [mem.client_id for mem in info.members] == ["admin-member"]
        assert sorted(info.members[0].member_assignment.partitions()) == [(topic, 0), (topic, 1)]
        offsets = k.list_consumer_group_offsets(group)
        assert {tp.partition: om.offset for tp, om in offsets.items()} == {0: 10, 1: 10}

        (result,) = k.delete_consumer_groups([group])
        assert result[0] == group and result[1].errno == NON_EMPTY_GROUP, result

        m.close()
        # Now empty: its offsets can be set by any consumer of the group that
        # is not a member (generation -1), as kafka-consumer-groups --reset-offsets does.
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            done = c.commit(offsets=[TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 7)], asynchronous=False)
            assert all(tp.error is None for tp in done), done
        finally:
            c.close()
        (info,) = k.describe_consumer_groups([group])
        assert (info.state, info.members) == ("Empty", [])
        offsets = k.list_consumer_group_offsets(group, partitions=[KTP(topic, 0), KTP(topic, 1)])
        assert offsets == {KTP(topic, 0): OffsetAndMetadata(3, ""), KTP(topic, 1): OffsetAndMetadata(7, "")}

        (result,) = k.delete_consumer_groups([group])
        assert result[0] == group and result[1].errno == NONE, result
        assert group not in [gid for gid, _ in k.list_consumer_groups()]
        offsets = k.list_consumer_group_offsets(group, partitions=[KTP(topic, 0), KTP(topic, 1)])
        assert {tp.partition: om.offset for tp, om in offsets.items()} == {0: -1, 1: -1}, "deleted with the group"
    finally:
        k.close()


def test_the_offsets_topic_follows_the_broker_config(make_broker, members):
    b = make_broker(extra_config="offsets.topic.num.partitions: 3\ngroup.initial.rebalance.delay.ms: 100\n").start()
    create_topic(b, "gcfg", 1)
    produce_spread(b, "gcfg", 1, 5, "c")
    ledger = Ledger()
    m = members("cfg", b, "cfg-group", "gcfg", ledger, commit_every=1)
    poll_until([m], lambda: len(m.records) >= 5, 45, "the member to read")
    md = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics("__consumer_offsets", timeout=15)
    t = md.topics["__consumer_offsets"]
    assert t.error is None, t.error
    assert len(t.partitions) == 3
    assert all(len(p.replicas) == 1 and p.leader == 0 for p in t.partitions.values())


# --- the wire -----------------------------------------------------------------


def encoded(struct_):
    # kafka-python's Struct.encode holds its instance weakly: a temporary's
    # encode() finds it gone, so the instance is kept in a name first.
    return struct_.encode()


def assignment_bytes(topic, partitions):
    return encoded(ConsumerProtocolMemberAssignment(0, [(topic, partitions)], b""))


class GroupWire:
    """Group requests encoded and decoded by kafka-python's protocol classes."""

    def __init__(self, port):
        self.sock = connect(port, timeout=30)
        self.correlation = 0

    def send(self, request, version=None, response_cls=None, timeout=30, skip=0):
        self.correlation += 1
        v = request.API_VERSION if version is None else version
        self.sock.settimeout(timeout)
        self.sock.sendall(frame(request_v1_header(request.API_KEY, v, self.correlation) + request.encode()))
        body = recv_frame(self.sock)
        assert int.from_bytes(body[:4], "big") == self.correlation
        return (response_cls or request.RESPONSE_TYPE).decode(body[4 + skip:])

    def find_coordinator(self, group, timeout=15):
        """FindCoordinator v1 until the offsets topic is ready (COORDINATOR_NOT_AVAILABLE before)."""
        deadline = time.time() + timeout
        while True:
            # kafka-python 2.0.2's v1 response class lacks the leading
            # throttle_time_ms (Kafka's v1 has it): skipped here.
            r = self.send(GroupCoordinatorRequest[1](group, 0), skip=4)
            if r.error_code != COORDINATOR_NOT_AVAILABLE or time.time() > deadline:
                return r
            time.sleep(0.1)

    def join(self, group, member_id, topic, version=2, session_ms=30000, rebalance_ms=None, timeout=15, seen=None):
        """JoinGroup; retried, as clients do, while the coordinator is still
        loading the group's __consumer_offsets partition (Kafka answers
        COORDINATOR_LOAD_IN_PROGRESS then, once FindCoordinator names it), and
        after NOT_COORDINATOR with FindCoordinator again. Errors retried are
        appended to `seen`."""
        meta = encoded(ConsumerProtocolMemberMetadata(0, [topic], b""))
        req = JoinGroupRequest[2](group, session_ms, rebalance_ms or session_ms, member_id, "consumer",
                                  [("range", meta)])
        deadline = time.time() + timeout
        while True:
            # v2 to v4 share one layout; v4 adds MEMBER_ID_REQUIRED (KIP-394).
            r = self.send(req, version=version, response_cls=JoinGroupResponse[2])
            if r.error_code not in (COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR) or time.time() > deadline:
                return r
            if seen is not None:
                seen.append(r.error_code)
            if r.error_code == NOT_COORDINATOR:
                assert self.find_coordinator(group).error_code == NONE
            time.sleep(0.1)

    def sync(self, group, generation, member_id, assignments):
        return self.send(SyncGroupRequest[1](group, generation, member_id, assignments))

    def heartbeat(self, group, generation, member_id):
        return self.send(HeartbeatRequest[1](group, generation, member_id)).error_code

    def commit(self, group, generation, member_id, topic, partition, offset):
        r = self.send(OffsetCommitRequest[2](group, generation, member_id, -1, [(topic, [(partition, offset, "")])]))
        ((t, ((p, err),)),) = r.topics
        assert (t, p) == (topic, partition)
        return err

    def commit_as_non_member(self, group, topic, partition, offset, metadata="", timeout=15):
        """OffsetCommit with generation -1 (no membership), retried as join() is."""
        deadline = time.time() + timeout
        while True:
            r = self.send(OffsetCommitRequest[2](group, -1, "", -1, [(topic, [(partition, offset, metadata)])]))
            ((t, ((p, err),)),) = r.topics
            if err not in (COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR) or time.time() > deadline:
                return err
            if err == NOT_COORDINATOR:
                assert self.find_coordinator(group).error_code == NONE
            time.sleep(0.1)

    def fetch(self, group, topic, partition, timeout=15):
        """OffsetFetch v1 of one partition, retried as join() is: (offset, error)."""
        deadline = time.time() + timeout
        while True:
            r = self.send(OffsetFetchRequest[1](group, [(topic, [partition])]))
            ((t, ((p, offset, _meta, err),)),) = r.topics
            if err not in (COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR) or time.time() > deadline:
                return offset, err
            if err == NOT_COORDINATOR:
                assert self.find_coordinator(group).error_code == NONE
            time.sleep(0.1)

    def close(self):
        self.sock.close()


def test_find_coordinator_names_this_broker(broker):
    w = GroupWire(broker.port)
    try:
        r = w.find_coordinator("any-group")
        assert (r.error_code, r.coordinator_id, r.host, r.port) == (NONE, 0, "127.0.0.1", broker.port)
    finally:
        w.close()


def test_find_coordinator_v4_answers_a_batch_of_groups(broker):
    """KIP-699 (Kafka 3.0): v4 takes many keys and answers each. kafka-python
    2.0.2 has no v4 class; this one is built by hand (a flexible version)."""
    with connect(broker.port) as s:
        _, body = api_versions(s, 3)
        _, apis = parse_api_versions(body, 3)
    assert 10 in apis and apis[10][1] >= 4, "FindCoordinator v4 is not served: %r" % (apis.get(10),)
    keys = [b"batch-a", b"batch-b", b"batch-c"]
    deadline = time.time() + 15
    with connect(broker.port, timeout=15) as s:
        while True:
            req = b"\x00"  # coordinator type: group
            req += bytes([len(keys) + 1]) + b"".join(bytes([len(k) + 1]) + k for k in keys) + b"\x00"
            s.sendall(frame(request_v2_header(10, 4, 77) + req))
            resp = recv_frame(s)
            corr, header_tags = struct.unpack_from(">ib", resp, 0)
            assert (corr, header_tags) == (77, 0)
            pos = 5 + 4  # header, throttle
            count = resp[pos] - 1
            pos += 1
            answers = {}
            for _ in range(count):
                klen = resp[pos] - 1
                key = resp[pos + 1:pos + 1 + klen]
                pos += 1 + klen
                (node,) = struct.unpack_from(">i", resp, pos)
                pos += 4
                hlen = resp[pos] - 1
                host = resp[pos + 1:pos + 1 + hlen].decode()
                pos += 1 + hlen
                port, err = struct.unpack_from(">ih", resp, pos)
                pos += 6
                mlen = resp[pos]  # compact nullable string: 0 is null
                pos += 1 + max(mlen - 1, 0)
                assert resp[pos] == 0  # no tagged fields
                pos += 1
                answers[key] = (err, node, host, port)
            if all(a[0] != COORDINATOR_NOT_AVAILABLE for a in answers.values()) or time.time() > deadline:
                break
            time.sleep(0.1)
    assert answers == {k: (NONE, 0, "127.0.0.1", broker.port) for k in keys}


def test_the_coordinator_find_coordinator_names_is_the_coordinator_or_still_loading(broker):
    """Kafka makes a broker the coordinator of an offsets partition as it
    becomes its leader, before metadata names it: JoinGroup right after
    FindCoordinator gets COORDINATOR_LOAD_IN_PROGRESS at worst, never
    NOT_COORDINATOR from the broker just named."""
    topic = "gload"
    create_topic(broker, topic, 1)
    w = GroupWire(broker.port)
    try:
        for i in range(20):  # groups on many of the 50 partitions, while they load
            group = "load-%d-%s" % (i, uuid.uuid4().hex[:8])
            r = w.find_coordinator(group)
            assert (r.error_code, r.coordinator_id) == (NONE, 0)
            seen = []
            j = w.join(group, "", topic, seen=seen)
            assert j.error_code == NONE, j
            assert NOT_COORDINATOR not in seen, "JoinGroup of %s after FindCoordinator named this broker: %r" % (
                group, seen)
    finally:
        w.close()


def test_wrong_generation_and_unknown_member_get_kafkas_errors(broker):
    topic, group = "gwire", "wire-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic, 1)
    w = GroupWire(broker.port)
    try:
        assert w.find_coordinator(group).error_code == NONE
        # JoinGroup v2: the broker names the member at once (no KIP-394 step).
        j = w.join(group, "", topic)
        assert j.error_code == NONE and j.member_id and j.generation_id >= 1, j
        assert (j.leader_id, j.group_protocol) == (j.member_id, "range")
        assert [mid for mid, _ in j.members] == [j.member_id]
        me, gen = j.member_id, j.generation_id
        assignment = assignment_bytes(topic, [0])
        s = w.sync(group, gen, me, [(me, assignment)])
        assert s.error_code == NONE and s.member_assignment == assignment

        assert w.heartbeat(group, gen, me) == NONE
        assert w.heartbeat(group, gen + 1, me) == ILLEGAL_GENERATION
        assert w.heartbeat(group, gen - 1, me) == ILLEGAL_GENERATION
        assert w.heartbeat(group, gen, "no-such-member") == UNKNOWN_MEMBER_ID

        assert w.commit(group, gen, me, topic, 0, 5) == NONE
        assert w.fetch(group, topic, 0) == (5, NONE)
        assert w.commit(group, gen + 1, me, topic, 0, 9) == ILLEGAL_GENERATION
        assert w.commit(group, gen, "no-such-member", topic, 0, 9) == UNKNOWN_MEMBER_ID
        # A non-member's commit (generation -1) to a group with members is refused too.
        assert w.commit(group, -1, "", topic, 0, 9) == UNKNOWN_MEMBER_ID
        assert w.fetch(group, topic, 0) == (5, NONE), "refused commits changed nothing"
        # SyncGroup with a wrong generation or member id, likewise.
        assert w.sync(group, gen + 1, me, []).error_code == ILLEGAL_GENERATION
        assert w.sync(group, gen, "no-such-member", []).error_code == UNKNOWN_MEMBER_ID
    finally:
        w.close()


def test_join_group_v4_without_a_member_id_gets_member_id_required_and_one_to_rejoin_with(broker):
    topic, group = "gjoin4", "join4-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic, 1)
    w = GroupWire(broker.port)
    try:
        assert w.find_coordinator(group).error_code == NONE
        j = w.join(group, "", topic, version=4)
        assert j.error_code == MEMBER_ID_REQUIRED, j
        assert j.member_id, "MEMBER_ID_REQUIRED carries the member id to use"
        assert j.generation_id == -1 and j.members == []
        given = j.member_id
        j = w.join(group, given, topic, version=4)
        assert j.error_code == NONE, j
        assert j.member_id == given and j.leader_id == given and j.generation_id >= 1
        assert [mid for mid, _ in j.members] == [given]
        s = w.sync(group, j.generation_id, given, [(given, assignment_bytes(topic, [0]))])
        assert s.error_code == NONE
        assert w.heartbeat(group, j.generation_id, given) == NONE
    finally:
        w.close()


def test_join_group_refusals_are_kafkas(make_broker):
    b = make_broker(extra_config="group.max.size: 1\n").start()
    topic, group = "grefuse", "refuse-" + uuid.uuid4().hex[:8]
    create_topic(b, topic, 1)
    w = GroupWire(b.port)
    try:
        assert w.find_coordinator(group).error_code == NONE
        assert w.join("", "", topic).error_code == INVALID_GROUP_ID
        assert w.join(group, "", topic, session_ms=5999).error_code == INVALID_SESSION_TIMEOUT, \
            "below group.min.session.timeout.ms (6000)"
        assert w.join(group, "", topic, session_ms=1800001).error_code == INVALID_SESSION_TIMEOUT, \
            "above group.max.session.timeout.ms (1800000)"
        j = w.join(group, "", topic)
        assert j.error_code == NONE, j
        assert w.sync(group, j.generation_id, j.member_id, [(j.member_id, assignment_bytes(topic, [0]))]).error_code == NONE
        # A member whose protocols share nothing with the group's.
        meta = encoded(ConsumerProtocolMemberMetadata(0, [topic], b""))
        other = w.send(JoinGroupRequest[2](group, 30000, 30000, "", "consumer", [("roundrobin", meta)]))
        assert other.error_code == INCONSISTENT_GROUP_PROTOCOL, other
        other = w.send(JoinGroupRequest[2](group, 30000, 30000, "", "connect", [("range", meta)]))
        assert other.error_code == INCONSISTENT_GROUP_PROTOCOL, other
        # group.max.size: 1, and the group has its one member.
        full = w.join(group, "", topic)
        assert full.error_code == GROUP_MAX_SIZE_REACHED, full
        assert w.heartbeat(group, j.generation_id, j.member_id) == NONE, "the member was not disturbed"
    finally:
        w.close()


def test_a_member_that_does_not_rejoin_within_the_rebalance_timeout_is_removed(broker):
    topic, group = "grebal", "rebal-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic, 1)
    x, y = GroupWire(broker.port), GroupWire(broker.port)
    try:
        assert x.find_coordinator(group).error_code == NONE
        meta = encoded(ConsumerProtocolMemberMetadata(0, [topic], b""))
        jx = x.join(group, "", topic, session_ms=30000, rebalance_ms=3000)
        assert jx.error_code == NONE, jx
        assert x.sync(group, jx.generation_id, jx.member_id, [(jx.member_id, assignment_bytes(topic, [0]))]).error_code == NONE
        # y joins; x is told to rejoin (its heartbeat) but never does.
        started = time.time()
        y.correlation += 1
        y.sock.sendall(frame(request_v1_header(11, 2, y.correlation) + encoded(
            JoinGroupRequest[2](group, 30000, 3000, "", "consumer", [("range", meta)]))))
        time.sleep(0.3)
        assert x.heartbeat(group, jx.generation_id, jx.member_id) == REBALANCE_IN_PROGRESS
        y.sock.settimeout(15)
        body = recv_frame(y.sock)
        took = time.time() - started
        jy = JoinGroupResponse[2].decode(body[4:])
        assert jy.error_code == NONE, jy
        assert 2.5 <= took <= 8, "the join completed after %.1f s (rebalance timeout 3 s)" % took
        assert jy.generation_id == jx.generation_id + 1
        assert [mid for mid, _ in jy.members] == [jy.member_id], "x was removed: %r" % (jy.members,)
        assert jy.leader_id == jy.member_id
        assert x.heartbeat(group, jx.generation_id, jx.member_id) == UNKNOWN_MEMBER_ID
    finally:
        x.close()
        y.close()


def test_offset_commit_and_fetch_edges_and_unknown_groups(broker):
    from kafka.admin import KafkaAdminClient
    topic, group = "gedge", "edge-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic, 2)
    w = GroupWire(broker.port)
    try:
        assert w.find_coordinator(group).error_code == NONE
        assert w.fetch(group, topic, 0) == (-1, NONE), "no group yet: no offset, no error"
        # A commit by a non-member (generation -1) creates an empty group
        # that only stores offsets, with the metadata given.
        assert w.commit_as_non_member(group, topic, 0, 42, "checkpoint-7") == NONE
        r = w.send(OffsetFetchRequest[1](group, [(topic, [0, 1])]))
        assert sorted(r.topics[0][1]) == [(0, 42, "checkpoint-7", NONE), (1, -1, "", NONE)]
        # offset.metadata.max.bytes (4096)
        r = w.send(OffsetCommitRequest[2](group, -1, "", -1, [(topic, [(1, 5, "m" * 4097), (0, 43, "m" * 4096)])]))
        assert sorted(r.topics[0][1]) == [(0, NONE), (1, OFFSET_METADATA_TOO_LARGE)]
        assert w.fetch(group, topic, 1) == (-1, NONE)
    finally:
        w.close()
    k = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=20000)
    try:
        (info,) = k.describe_consumer_groups([group])
        assert (info.error_code, info.state, info.members) == (0, "Empty", [])
        nobody = "nobody-" + uuid.uuid4().hex[:8]
        (info,) = k.describe_consumer_groups([nobody])
        assert (info.error_code, info.state, info.members) == (0, "Dead", []), info
        (result,) = k.delete_consumer_groups([nobody])
        assert result[1].errno == GROUP_ID_NOT_FOUND, result
    finally:
        k.close()


def test_the_initial_rebalance_delay_gathers_the_first_members_into_one_generation(make_broker, members):
    b = make_broker(extra_config="group.initial.rebalance.delay.ms: 2000\n").start()
    topic, group = "gdelay", "delay-" + uuid.uuid4().hex[:8]
    create_topic(b, topic, 4)
    ledger = Ledger()
    started = time.time()
    ms = [members("d%d" % i, b, group, topic, ledger, **{"max.poll.interval.ms": 10000}) for i in range(2)]
    poll_until(ms, lambda: split_evenly(ms, 4), 30, "both members to be assigned")
    took = time.time() - started
    assert took >= 1.9, "the first generation formed after %.1f s; group.initial.rebalance.delay.ms is 2 s" % took
    for m in ms:
        assert [kind for kind, ps, _ in m.events if ps] == ["assign"], "%s was rebalanced: %r" % (m.name, m.events)


def test_a_stable_group_lives_through_a_broker_restart_without_a_rebalance(make_broker, members):
    """The coordinator writes the group's metadata to __consumer_offsets and
    loads it back as it becomes the partition's leader again: the members'
    member ids and generation stay valid, so their heartbeats go on and no
    one rejoins."""
    b = make_broker().start()
    topic, group = "glive", "live-" + uuid.uuid4().hex[:8]
    create_topic(b, topic, 4)
    ledger = Ledger()
    ms = [members("l%d" % i, b, group, topic, ledger, commit_every=1, **{"session.timeout.ms": 10000})
          for i in range(2)]
    poll_until(ms, lambda: split_evenly(ms, 4), 45, "two members to split four partitions")
    sent = produce_spread(b, topic, 4, 40, "one")
    poll_until(ms, lambda: len(records_of(ms)) >= 40, 30, "the first batch")
    history = [list(m.events) for m in ms]

    port = b.port
    assert b.stop() == 0
    b.start()
    assert b.port == port
    sent.update(produce_spread(b, topic, 4, 40, "two"))
    poll_until(ms, lambda: set(records_of(ms)) >= set(sent), 45, "the second batch after the restart")
    settle = time.time() + 2.5  # two heartbeats more
    while time.time() < settle:
        for m in ms:
            m.poll(0.05)
    assert [m.events for m in ms] == history, "a member was rebalanced across the restart: %r" % (
        [m.events for m in ms],)
    got = records_of(ms)
    assert len(got) == len(set(got)) == 80


def test_commits_and_group_deletion_are_loaded_back_after_a_restart(make_broker):
    from kafka.admin import KafkaAdminClient
    from kafka import TopicPartition as KTP
    b = make_broker().start()
    topic = "gload2"
    create_topic(b, topic, 1)
    kept, deleted = "kept-" + uuid.uuid4().hex[:8], "deleted-" + uuid.uuid4().hex[:8]
    w = GroupWire(b.port)
    try:
        for group in (kept, deleted):
            assert w.find_coordinator(group).error_code == NONE
            for offset in (10, 20, 30):
                assert w.commit_as_non_member(group, topic, 0, offset, "m%d" % offset) == NONE
    finally:
        w.close()
    k = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=20000)
    try:
        (result,) = k.delete_consumer_groups([deleted])
        assert result[1].errno == NONE, result
    finally:
        k.close()

    assert b.stop() == 0
    b.start()
    w = GroupWire(b.port)
    try:
        for group in (kept, deleted):
            assert w.find_coordinator(group, timeout=30).error_code == NONE
        assert w.fetch(kept, topic, 0, timeout=30) == (30, NONE), "the last commit wins"
        r = w.send(OffsetFetchRequest[1](kept, [(topic, [0])]))
        assert r.topics == [(topic, [(0, 30, "m30", NONE)])], "with its metadata"
        assert w.fetch(deleted, topic, 0) == (-1, NONE), "a deleted group's offsets stay deleted"
    finally:
        w.close()
    k = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=20000)
    try:
        groups = [g for g, _ in k.list_consumer_groups()]
        assert kept in groups and deleted not in groups, groups
        (info,) = k.describe_consumer_groups([deleted])
        assert info.state == "Dead", info
        assert k.list_consumer_group_offsets(kept, partitions=[KTP(topic, 0)])[KTP(topic, 0)].offset == 30
    finally:
        k.close()


# --- newer versions, encoded by hand (kafka-python 2.0.2 stops short of them)


def compact_str(s):
    data = s.encode()
    return uvarint_bytes(len(data) + 1) + data


def uvarint_bytes(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


class Reader:
    def __init__(self, data, pos=0):
        self.data, self.pos = data, pos

    def take(self, fmt):
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values if len(values) > 1 else values[0]

    def uvarint(self):
        value, self.pos = uvarint(self.data, self.pos)
        return value

    def compact_str(self):
        n = self.uvarint()
        if n == 0:
            return None
        s = self.data[self.pos:self.pos + n - 1].decode()
        self.pos += n - 1
        return s

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def no_tags(self):
        assert self.uvarint() == 0, "unexpected tagged fields"


def raw_request(sock, api_key, version, body, flexible, correlation=1, timeout=15):
    header = (request_v2_header if flexible else request_v1_header)(api_key, version, correlation)
    sock.settimeout(timeout)
    sock.sendall(frame(header + body))
    resp = recv_frame(sock)
    r = Reader(resp)
    assert r.take(">i") == correlation
    if flexible:
        r.no_tags()
    return r


def test_leave_group_v3_removes_a_static_member_by_instance_id(broker, members):
    """KIP-345's admin removal (kafka-consumer-groups --delete ... / the Java
    AdminClient's removeMembersFromConsumerGroup): a static member that closed
    keeps its place for its session, until a LeaveGroup naming its instance
    id removes it and the others rebalance at once."""
    topic, group = "gleave", "leave-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic, 4)
    ledger = Ledger()
    other = members("other", broker, group, topic, ledger)
    poll_until([other], lambda: len(other.assigned) == 4, 45, "the first member to hold every partition")
    s = members("static", broker, group, topic, ledger, **{"group.instance.id": "inst-x", "session.timeout.ms": 30000})
    poll_until([other, s], lambda: split_evenly([other, s], 4), 45, "the static member to join")
    s.close()  # no LeaveGroup from a static member
    settle = time.time() + 2.5  # two heartbeats of the other: still no rebalance
    while time.time() < settle:
        other.poll(0.05)
    assert len(other.assigned) == 2 and other.events[-1][0] == "assign", other.events

    body = struct.pack(">h", len(group)) + group.encode() + struct.pack(">i", 2)
    for instance in ("inst-x", "no-such-instance"):
        body += struct.pack(">h", 0) + struct.pack(">h", len(instance)) + instance.encode()
    with connect(broker.port) as sock:
        r = raw_request(sock, 13, 3, body, flexible=False)
        throttle, error = r.take(">ih")
        count = r.take(">i")
        answers = {}
        for _ in range(count):
            member_id, instance = r.string(), r.string()
            answers[instance] = (member_id, r.take(">h"))
    assert error == NONE
    assert answers == {"inst-x": ("", NONE), "no-such-instance": ("", UNKNOWN_MEMBER_ID)}, answers
    started = time.time()
    poll_until([other], lambda: len(other.assigned) == 4, 10, "the other member to take the removed one's partitions")
    assert time.time() - started < 10


def test_list_groups_v4_filters_by_state(broker, members):
    topic = "gstates"
    create_topic(broker, topic, 1)
    live, idle = "live-" + uuid.uuid4().hex[:8], "idle-" + uuid.uuid4().hex[:8]
    ledger = Ledger()
    m = members("member", broker, live, topic, ledger)
    poll_until([m], lambda: len(m.assigned) == 1, 45, "the member to join")
    w = GroupWire(broker.port)
    try:
        assert w.commit_as_non_member(idle, topic, 0, 1) == NONE
    finally:
        w.close()

    def listed(states):
        body = uvarint_bytes(len(states) + 1) + b"".join(compact_str(s) for s in states) + b"\x00"
        with connect(broker.port) as sock:
            r = raw_request(sock, 16, 4, body, flexible=True)
            throttle, error = r.take(">ih")
            assert error == NONE
            out = {}
            for _ in range(r.uvarint() - 1):
                gid, ptype, state = r.compact_str(), r.compact_str(), r.compact_str()
                r.no_tags()
                out[gid] = (ptype, state)
            r.no_tags()
            return out

    everything = listed([])
    assert everything[live] == ("consumer", "Stable") and everything[idle] == ("", "Empty"), everything
    assert live in listed(["Stable"]) and idle not in listed(["Stable"])
    assert idle in listed(["Empty"]) and live not in listed(["Empty"])
    both = listed(["Empty", "Stable"])
    assert live in both and idle in both
    assert listed(["Dead"]) == {}


def test_offset_fetch_v8_answers_many_groups_at_once(broker):
    """KIP-709 (Kafka 3.0): one OffsetFetch for several groups, as the Java
    AdminClient sends it."""
    topic = "gbatch"
    create_topic(broker, topic, 2)
    groups = ["batch-%d-%s" % (i, uuid.uuid4().hex[:6]) for i in range(3)]
    w = GroupWire(broker.port)
    try:
        for i, g in enumerate(groups[:2]):
            assert w.find_coordinator(g).error_code == NONE
            assert w.commit_as_non_member(g, topic, 0, 100 + i, "meta-%d" % i) == NONE
        assert w.find_coordinator(groups[2]).error_code == NONE
        assert w.fetch(groups[2], topic, 0) == (-1, NONE)
    finally:
        w.close()
    # groups: [group_id, topics: [name, partition_indexes]] for the first
    # two; the third asks for all its topics (null), having none.
    body = uvarint_bytes(len(groups) + 1)
    for g in groups[:2]:
        body += compact_str(g) + uvarint_bytes(2) + compact_str(topic) + uvarint_bytes(3)
        body += struct.pack(">ii", 0, 1) + b"\x00" + b"\x00"
    body += compact_str(groups[2]) + b"\x00" + b"\x00"
    body += b"\x00" + b"\x00"  # require_stable false, tags
    with connect(broker.port) as sock:
        r = raw_request(sock, 9, 8, body, flexible=True)
        r.take(">i")  # throttle
        answers = {}
        for _ in range(r.uvarint() - 1):
            gid = r.compact_str()
            parts = {}
            for _ in range(r.uvarint() - 1):
                name = r.compact_str()
                for _ in range(r.uvarint() - 1):
                    p, offset, epoch = r.take(">iqi")
                    meta = r.compact_str()
                    err = r.take(">h")
                    r.no_tags()
                    parts[(name, p)] = (offset, meta, err)
                r.no_tags()
            err = r.take(">h")
            r.no_tags()
            answers[gid] = (err, parts)
        r.no_tags()
    assert answers[groups[0]] == (NONE, {(topic, 0): (100, "meta-0", NONE), (topic, 1): (-1, "", NONE)}), answers
    assert answers[groups[1]] == (NONE, {(topic, 0): (101, "meta-1", NONE), (topic, 1): (-1, "", NONE)}), answers
    assert answers[groups[2]] == (NONE, {}), answers


def compact_bytes(b):
    return uvarint_bytes(len(b) + 1) + b


def compact_nullable_str(s):
    return b"\x00" if s is None else compact_str(s)


def test_a_group_round_trip_at_the_newest_flexible_versions(broker):
    """JoinGroup v9, SyncGroup v5, Heartbeat v4 and LeaveGroup v5, as Kafka
    3.x's Java consumer sends them (no client here speaks them)."""
    topic, group = "gflex", "flex-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic, 1)
    meta = encoded(ConsumerProtocolMemberMetadata(0, [topic], b""))
    assignment = assignment_bytes(topic, [0])
    w = GroupWire(broker.port)
    try:
        assert w.find_coordinator(group).error_code == NONE  # creates __consumer_offsets
    finally:
        w.close()
    with connect(broker.port) as sock:
        corr = [0]

        def call(api_key, version, body):
            corr[0] += 1
            return raw_request(sock, api_key, version, body, flexible=True, correlation=corr[0])

        def join(member_id):
            body = compact_str(group) + struct.pack(">ii", 30000, 30000) + compact_str(member_id)
            body += compact_nullable_str(None) + compact_str("consumer")
            body += uvarint_bytes(2) + compact_str("range") + compact_bytes(meta) + b"\x00"
            body += compact_nullable_str("pytest joining") + b"\x00"  # reason (KIP-800), tags
            r = call(11, 9, body)
            throttle, error, generation = r.take(">ihi")
            ptype, pname, leader = r.compact_str(), r.compact_str(), r.compact_str()
            skip = r.take(">?")
            me = r.compact_str()
            ms = []
            for _ in range(r.uvarint() - 1):
                mid, inst = r.compact_str(), r.compact_str()
                n = r.uvarint()
                r.pos += n - 1
                r.no_tags()
                ms.append((mid, inst))
            r.no_tags()
            return error, generation, ptype, pname, leader, skip, me, ms

        def sync(generation, me, pname):
            body = compact_str(group) + struct.pack(">i", generation) + compact_str(me) + compact_nullable_str(None)
            body += compact_nullable_str("consumer") + compact_nullable_str(pname)
            body += uvarint_bytes(2) + compact_str(me) + compact_bytes(assignment) + b"\x00" + b"\x00"
            r = call(14, 5, body)
            throttle, error = r.take(">ih")
            ptype, name = r.compact_str(), r.compact_str()
            n = r.uvarint()
            got = r.data[r.pos:r.pos + n - 1]
            r.pos += n - 1
            r.no_tags()
            return error, ptype, name, got

        def heartbeat(generation, me):
            body = compact_str(group) + struct.pack(">i", generation) + compact_str(me) + compact_nullable_str(None)
            r = call(12, 4, body + b"\x00")
            throttle, error = r.take(">ih")
            r.no_tags()
            return error

        deadline = time.time() + 15
        while True:
            error, *_rest, me, _ms = join("")
            if error not in (COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR) \
                    or time.time() > deadline:
                break
            time.sleep(0.1)
        assert error == MEMBER_ID_REQUIRED and me
        error, generation, ptype, pname, leader, skip, me2, ms = join(me)
        assert (error, ptype, pname, leader, skip, me2) == (NONE, "consumer", "range", me, False, me)
        assert generation >= 1 and ms == [(me, None)]

        assert sync(generation, me, "roundrobin")[0] == INCONSISTENT_GROUP_PROTOCOL, "not the group's protocol"
        assert sync(generation, me, "range") == (NONE, "consumer", "range", assignment)
        assert heartbeat(generation, me) == NONE

        body = compact_str(group) + uvarint_bytes(2) + compact_str(me) + compact_nullable_str(None)
        body += compact_nullable_str("pytest leaving") + b"\x00" + b"\x00"
        r = call(13, 5, body)
        throttle, error = r.take(">ih")
        answers = []
        for _ in range(r.uvarint() - 1):
            mid, inst = r.compact_str(), r.compact_str()
            answers.append((mid, inst, r.take(">h")))
            r.no_tags()
        r.no_tags()
        assert (error, answers) == (NONE, [(me, None, NONE)])
        assert heartbeat(generation, me) == UNKNOWN_MEMBER_ID


def test_offset_delete_spares_the_topics_a_live_group_reads(broker, members):
    """OffsetDelete (KIP-496, the Java AdminClient's deleteConsumerGroupOffsets):
    a group's offsets of a topic it no longer reads go; those of a topic its
    members are subscribed to stay, with GROUP_SUBSCRIBED_TO_TOPIC."""
    read, dropped = "gread", "gdropped"
    create_topic(broker, read, 1)
    create_topic(broker, dropped, 1)
    group = "odel-" + uuid.uuid4().hex[:8]
    ledger = Ledger()
    m = members("member", broker, group, read, ledger)
    poll_until([m], lambda: len(m.assigned) == 1, 45, "the member to join")
    done = m.c.commit(offsets=[TopicPartition(read, 0, 3), TopicPartition(dropped, 0, 7)], asynchronous=False)
    assert all(tp.error is None for tp in done), done

    def offset_delete(g, topics):
        body = struct.pack(">h", len(g)) + g.encode() + struct.pack(">i", len(topics))
        for t in topics:
            body += struct.pack(">h", len(t)) + t.encode() + struct.pack(">ii", 1, 0)
        with connect(broker.port) as sock:
            r = raw_request(sock, 47, 0, body, flexible=False)
            error, throttle = r.take(">hi")
            out = {}
            for _ in range(r.take(">i")):
                name = r.string()
                for _ in range(r.take(">i")):
                    p, err = r.take(">ih")
                    out[(name, p)] = err
            return error, out

    assert offset_delete(group, [read, dropped]) == (NONE, {(read, 0): GROUP_SUBSCRIBED_TO_TOPIC, (dropped, 0): NONE})
    got = {tp.topic: tp.offset for tp in m.c.committed([TopicPartition(read, 0), TopicPartition(dropped, 0)],
                                                       timeout=15)}
    assert got == {read: 3, dropped: -1001}, "only the dropped topic's offset went: %r" % got
    assert offset_delete("nobody-" + uuid.uuid4().hex[:8], [read])[0] == GROUP_ID_NOT_FOUND


def test_deleting_a_topic_drops_the_offsets_committed_for_it(broker):
    """As Kafka's onPartitionsDeleted: the offsets of a deleted topic's
    partitions go, and a group left empty with none goes too."""
    from kafka.admin import KafkaAdminClient
    keep, gone = "gkeep", "ggone"
    create_topic(broker, keep, 1)
    create_topic(broker, gone, 1)
    both, only_gone = "both-" + uuid.uuid4().hex[:8], "only-" + uuid.uuid4().hex[:8]
    w = GroupWire(broker.port)
    try:
        for g, topics in ((both, (keep, gone)), (only_gone, (gone,))):
            assert w.find_coordinator(g).error_code == NONE
            for t in topics:
                assert w.commit_as_non_member(g, t, 0, 11) == NONE
        a = AdminClient({"bootstrap.servers": broker.bootstrap})
        a.delete_topics([gone])[gone].result(30)
        deadline = time.time() + 15
        while w.fetch(both, gone, 0) != (-1, NONE) and time.time() < deadline:
            time.sleep(0.1)
        assert w.fetch(both, gone, 0) == (-1, NONE), "the deleted topic's offset stays"
        assert w.fetch(both, keep, 0) == (11, NONE), "another topic's offset went too"
    finally:
        w.close()
    k = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=20000)
    try:
        groups = [g for g, _ in k.list_consumer_groups()]
        assert both in groups and only_gone not in groups, groups
    finally:
        k.close()
