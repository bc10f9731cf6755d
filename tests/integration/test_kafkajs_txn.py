"""kafkajs 2.2.4 transactions against keel (tests/integration/js/txn.js): a
transactional producer commits and aborts transactions over two partitions,
aborts a transaction that carried sendOffsets (the group's offsets do not
move), and runs consume-transform-produce (a read_committed kafkajs consumer,
one transaction per batch with sendOffsets). Then kafkajs' and librdkafka's
read_committed consumers see exactly the committed records and a
read_uncommitted one sees the aborted ones too. On one broker; the
three-broker variant (`cluster`) puts the coordinator and the partition
leaders on different brokers."""

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster_harness import start_cluster, stop_cluster
from test_cluster import zk  # noqa: F401 (fixture)
from test_kafkajs import node, scripts  # noqa: F401 (fixtures)

# The coordinator on one broker: __transaction_state on one replica, few partitions.
ONE_BROKER = ("transaction.state.log.replication.factor: 1\n"
              "transaction.state.log.min.isr: 1\n"
              "transaction.state.log.num.partitions: 3\n")
THREE_BROKERS = ("transaction.state.log.num.partitions: 3\n"
                 "transaction.state.log.replication.factor: 3\n"
                 "transaction.state.log.min.isr: 2\n"
                 "offsets.topic.num.partitions: 3\n")
INPUT_COUNT = 30


def consume_values(bootstrap, topic, isolation, want, partitions=2, timeout=20):
    """librdkafka reads every partition from the start: `want` values, then
    anything more within a second."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "g-" + uuid.uuid4().hex[:8],
                  "enable.auto.commit": False, "isolation.level": isolation, "fetch.wait.max.ms": 50})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    got, deadline = [], time.time() + timeout
    try:
        while time.time() < deadline:
            m = c.poll(0.1)
            if m is not None and not m.error():
                got.append(m.value().decode())
            if len(got) >= want:
                deadline = min(deadline, time.time() + 1.0)
    finally:
        c.close()
    return got


def run_kafkajs_transactions(bootstrap, scripts, rf):
    tag = uuid.uuid4().hex[:8]
    source, sink, group = "kjt-in-" + tag, "kjt-out-" + tag, "kjt-g-" + tag
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(source, 1, rf), NewTopic(sink, 2, rf)]).values():
        f.result(30)
    p = Producer({"bootstrap.servers": bootstrap})
    inputs = ["in-%d" % i for i in range(INPUT_COUNT)]
    for v in inputs:
        p.produce(source, value=v.encode(), partition=0)
    assert p.flush(20) == 0

    s = scripts("txn.js", {"brokers": bootstrap.split(","), "input": source, "output": sink, "groupId": group,
                           "transactionalId": "kjt-" + tag, "rounds": 4, "perRound": 6, "inputCount": INPUT_COUNT,
                           "timeoutMs": 90000})
    phase1 = s.next_event("phase1", 60)
    phase2 = s.next_event("phase2", 30)
    done = s.next_event("done", 60)
    s.finish()

    assert len(phase1["committed"]) == 12 and len(phase1["aborted"]) == 12
    assert phase2["offsetsAfterAbort"] == {"0": -1}, "offsets sent in an aborted transaction must not commit"
    assert sorted(done["transformed"]) == sorted("t-" + v for v in inputs), "each input transformed once"
    assert done["transactions"] >= 1
    assert done["offsets"] == {"0": INPUT_COUNT}, "the consumed offsets committed with the output"

    committed = phase1["committed"] + done["transformed"]
    aborted = phase1["aborted"] + phase2["aborted"]
    got = consume_values(bootstrap, sink, "read_committed", len(committed))
    assert sorted(got) == sorted(committed), "librdkafka read_committed: %d records, aborted seen: %r" % (
        len(got), sorted(set(got) & set(aborted)))
    everything = consume_values(bootstrap, sink, "read_uncommitted", len(committed) + len(aborted))
    assert sorted(everything) == sorted(committed + aborted)

    # kafkajs' own read_committed consumer (its default isolation level).
    g = scripts("group.js", {"brokers": bootstrap.split(","), "topic": sink, "groupId": "kjt-read-" + tag,
                             "members": 1, "partitions": 2, "expect": len(committed), "lingerMs": 1000,
                             "timeoutMs": 40000})
    read = g.next_event("done", 50)
    g.finish()
    values = [bytes.fromhex(r["value"]).decode() for r in read["records"]]
    assert sorted(values) == sorted(committed), "kafkajs read_committed saw aborted: %r" % (
        sorted(set(values) & set(aborted)))
    # Each partition in the producer's order: a transaction's records never interleave out of order.
    for part in (0, 1):
        mine = [bytes.fromhex(r["value"]).decode() for r in sorted(read["records"], key=lambda r: r["offset"])
                if r["partition"] == part]
        assert mine == [v for v in committed if v in set(mine)]


def test_kafkajs_transactions_on_one_broker(make_broker, scripts):
    broker = make_broker(extra_config=ONE_BROKER).start()
    run_kafkajs_transactions(broker.bootstrap, scripts, rf=1)


def test_kafkajs_transactions_on_three_brokers(zk, tmp_path, scripts):
    brokers = start_cluster(zk, tmp_path, "kjt", extra_config=THREE_BROKERS)
    try:
        run_kafkajs_transactions(",".join(b.bootstrap for b in brokers), scripts, rf=3)
    finally:
        stop_cluster(brokers)
