"""Consume-transform-produce with confluent-kafka-python (librdkafka): the
consumer group's offsets go into the producer's transaction with
send_offsets_to_transaction (AddOffsetsToTxn, then TxnOffsetCommit to the
group coordinator). A commit moves the group's committed offset, an abort
leaves it where it was, and after a restart the broker reads the same back
from __consumer_offsets (transactional offset batches and their markers)."""

import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

GROUP = "ctp-group"
# One broker: the transaction log cannot have Kafka's 3 replicas.
SINGLE_BROKER_TXN = "transaction.state.log.replication.factor: 1\ntransaction.state.log.min.isr: 1\n"


def create_topics(bootstrap, *names):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names])
    for f in futures.values():
        f.result(timeout=30)


def produce_plain(bootstrap, topic, values):
    p = Producer({"bootstrap.servers": bootstrap})
    for v in values:
        p.produce(topic, value=v)
    assert p.flush(30) == 0


def committed_offset(bootstrap, topic):
    """The group's committed offset of topic-0 as another consumer of the
    group reads it (OffsetFetch; read_committed asks for stable offsets)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "isolation.level": "read_committed",
                  "enable.auto.commit": False})
    try:
        tp = c.committed([TopicPartition(topic, 0)], timeout=30)[0]
    finally:
        c.close()
    assert tp.error is None, tp.error
    return tp.offset


def consume(consumer, count, timeout=30.0):
    out = []
    deadline = time.time() + timeout
    while len(out) < count and time.time() < deadline:
        m = consumer.poll(0.5)
        if m is None:
            continue
        assert m.error() is None, m.error()
        out.append(m)
    assert len(out) == count, "consumed %d of %d" % (len(out), count)
    return out


def transform_and_send(consumer, producer, messages, commit):
    producer.begin_transaction()
    for m in messages:
        producer.produce("ctp-out", value=m.value().upper())
    producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                         consumer.consumer_group_metadata(), 30)
    if commit:
        producer.commit_transaction(30)
    else:
        producer.abort_transaction(30)


def read_committed_values(bootstrap):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "ctp-verifier", "auto.offset.reset": "earliest",
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    c.assign([TopicPartition("ctp-out", 0, 0)])
    values = []
    deadline = time.time() + 5
    while time.time() < deadline:
        m = c.poll(0.3)
        if m is not None and m.error() is None:
            values.append(m.value())
    c.close()
    return values


def test_send_offsets_to_transaction_commits_with_the_transaction_and_not_on_abort(make_broker):
    b = make_broker(extra_config=SINGLE_BROKER_TXN).start()
    create_topics(b.bootstrap, "ctp-in", "ctp-out")
    produce_plain(b.bootstrap, "ctp-in", [b"a%d" % i for i in range(5)])

    consumer = Consumer({"bootstrap.servers": b.bootstrap, "group.id": GROUP, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    consumer.subscribe(["ctp-in"])
    producer = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "ctp-tx"})
    producer.init_transactions(30)

    transform_and_send(consumer, producer, consume(consumer, 5), commit=True)
    assert committed_offset(b.bootstrap, "ctp-in") == 5

    produce_plain(b.bootstrap, "ctp-in", [b"b%d" % i for i in range(3)])
    transform_and_send(consumer, producer, consume(consumer, 3), commit=False)
    assert committed_offset(b.bootstrap, "ctp-in") == 5

    # The committed transaction's output is there, the aborted one's is not.
    values = read_committed_values(b.bootstrap)
    assert values == [b"A%d" % i for i in range(5)]

    consumer.close()
    producer.flush(5)
    del producer

    # After a restart the coordinator reads the transactional offset batches
    # and their markers back: the committed offset is the committed
    # transaction's, the aborted one's stays dropped.
    assert b.stop() == 0
    b.start()
    deadline = time.time() + 30
    while True:
        try:
            assert committed_offset(b.bootstrap, "ctp-in") == 5
            break
        except KafkaException:
            # The coordinator may still be loading (COORDINATOR_LOAD_IN_PROGRESS).
            if time.time() > deadline:
                raise
            time.sleep(0.5)


# --- the same on the wire, by hand (kafka_schema.py) --------------------------------------------

UNKNOWN_TOPIC_OR_PARTITION = 3
UNKNOWN_MEMBER_ID = 25
UNSTABLE_OFFSET_COMMIT = 88
INVALID_TXN_STATE = 48
RETRIABLE = {14, 15, 16, 51}  # COORDINATOR_LOAD_IN_PROGRESS, _NOT_AVAILABLE, NOT_COORDINATOR, CONCURRENT_TRANSACTIONS


def until_ok(call, what, timeout=30.0):
    """Calls `call` (returning (error code, response)) until its error is not
    a retriable coordinator error; returns the last response."""
    deadline = time.time() + timeout
    while True:
        error, resp = call()
        if error not in RETRIABLE or time.time() > deadline:
            assert error == 0, "%s: error %d" % (what, error)
            return resp
        time.sleep(0.2)


def offset_fetch(c, version, require_stable):
    """(group error, partition error, offset) of wire-in-0 for the group."""
    topics = [{"Name": "wire-in", "PartitionIndexes": [0]}]
    if version >= 8:
        resp = c.call("OffsetFetch", version, {"Groups": [{"GroupId": "wire-group", "Topics": topics}],
                                               "RequireStable": require_stable})
        group = resp["Groups"][0]
        p = group["Topics"][0]["Partitions"][0]
        return group["ErrorCode"], p["ErrorCode"], p["CommittedOffset"]
    resp = c.call("OffsetFetch", version, {"GroupId": "wire-group", "Topics": topics, "RequireStable": require_stable})
    p = resp["Topics"][0]["Partitions"][0]
    return resp["ErrorCode"], p["ErrorCode"], p["CommittedOffset"]


def wait_stable(c, timeout=20.0):
    """The committed offset once the transaction's marker has settled it."""
    deadline = time.time() + timeout
    while True:
        group_error, error, offset = offset_fetch(c, 7, True)
        assert group_error == 0
        if error != UNSTABLE_OFFSET_COMMIT:
            assert error == 0
            return offset
        assert time.time() < deadline, "the offsets stayed unstable"
        time.sleep(0.2)


def test_txn_offset_commit_on_the_wire_is_unstable_until_the_marker(make_broker):
    from kafka_schema import KafkaConnection

    b = make_broker(extra_config=SINGLE_BROKER_TXN).start()
    create_topics(b.bootstrap, "wire-in")
    with KafkaConnection(b.port) as c:
        assert c.served("TxnOffsetCommit") == (0, 3)
        for key_type, key in ((0, "wire-group"), (1, "wire-tx")):  # creates the internal topics
            until_ok(lambda: (lambda r: (r["Coordinators"][0]["ErrorCode"], r))(
                c.call("FindCoordinator", 4, {"KeyType": key_type, "CoordinatorKeys": [key]})), "coordinator")
        init = until_ok(lambda: (lambda r: (r["ErrorCode"], r))(c.call("InitProducerId", 4, {
            "TransactionalId": "wire-tx", "TransactionTimeoutMs": 60000, "ProducerId": -1, "ProducerEpoch": -1})),
            "InitProducerId")
        producer = {"TransactionalId": "wire-tx", "ProducerId": init["ProducerId"],
                    "ProducerEpoch": init["ProducerEpoch"]}

        def commit_offsets(version, offset, extra=None):
            values = dict(producer, GroupId="wire-group", Topics=[
                {"Name": "wire-in", "Partitions": [{"PartitionIndex": 0, "CommittedOffset": offset,
                                                    "CommittedMetadata": "m%d" % offset}]},
                {"Name": "no-such-topic", "Partitions": [{"PartitionIndex": 0, "CommittedOffset": 1}]}])
            values.update(extra or {})
            resp = c.call("TxnOffsetCommit", version, values)
            errors = {t["Name"]: t["Partitions"][0]["ErrorCode"] for t in resp["Topics"]}
            assert errors["no-such-topic"] == UNKNOWN_TOPIC_OR_PARTITION
            return errors["wire-in"]

        def transaction(version, offset, committed):
            until_ok(lambda: (lambda r: (r["ErrorCode"], r))(
                c.call("AddOffsetsToTxn", 3, dict(producer, GroupId="wire-group"))), "AddOffsetsToTxn")
            until_ok(lambda: (commit_offsets(version, offset), None), "TxnOffsetCommit")
            # Pending: not answered as committed, and unstable when stable offsets are asked for
            # (per partition on v7 and on v8+, the group's error staying NONE).
            assert offset_fetch(c, 7, False) == (0, 0, -1 if offset == 7 else 7)
            assert offset_fetch(c, 7, True) == (0, UNSTABLE_OFFSET_COMMIT, -1)
            assert offset_fetch(c, 8, True) == (0, UNSTABLE_OFFSET_COMMIT, -1)
            until_ok(lambda: (lambda r: (r["ErrorCode"], r))(
                c.call("EndTxn", 3, dict(producer, Committed=committed))), "EndTxn")

        # KIP-447 (v3): a member the group does not have is refused.
        until_ok(lambda: (lambda r: (r["ErrorCode"], r))(
            c.call("AddOffsetsToTxn", 3, dict(producer, GroupId="wire-group"))), "AddOffsetsToTxn")
        assert commit_offsets(3, 1, {"GenerationId": 4, "MemberId": "ghost"}) == UNKNOWN_MEMBER_ID
        until_ok(lambda: (lambda r: (r["ErrorCode"], r))(c.call("EndTxn", 3, dict(producer, Committed=False))),
                 "EndTxn")
        assert wait_stable(c) == -1

        transaction(3, 7, committed=True)
        assert wait_stable(c) == 7
        meta = c.call("OffsetFetch", 7, {"GroupId": "wire-group", "Topics": [
            {"Name": "wire-in", "PartitionIndexes": [0]}]})["Topics"][0]["Partitions"][0]["Metadata"]
        assert meta == "m7"
        transaction(2, 9, committed=False)  # v2: no member fields
        assert wait_stable(c) == 7

        # KIP-890: without AddOffsetsToTxn the group's partition is not in a
        # transaction, and nothing is written that no marker would end.
        assert commit_offsets(3, 11) == INVALID_TXN_STATE
        assert offset_fetch(c, 7, True) == (0, 0, 7)
