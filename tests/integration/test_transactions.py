"""Transactions on the wire (issue 25): librdkafka's transactional producer
(confluent-kafka, and librdkafka 2.15 through modern_rdkafka_driver.py)
against one broker — a commit is seen by a read_committed consumer, an abort
only by a read_uncommitted one, a second producer with the same
transactional.id fences the first, a transactional id's producer id and epoch
survive a broker restart (loaded back from __transaction_state),
send_offsets_to_transaction commits the group's offsets with the output, and
KIP-890 refuses a batch for a partition outside the transaction. The
three-broker tests (`cluster` marker) put the coordinator and the partition
leaders on different brokers, so markers and KIP-890 verification cross the
inter-broker listener, and kill -9 the coordinator's broker mid-transaction."""

import struct
import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster_harness import by_id, start_cluster, stop_cluster
from kafka_schema import KafkaConnection, crc32c, record_batch
from test_cluster import metadata, wait_for, zk  # noqa: F401 (fixture)
from test_modern_clients import rdkafka  # noqa: F401 (fixture: librdkafka 2.15)

# One broker (conftest's defaults put the internal topic on one replica, as
# Kafka's single-node server.properties does); few partitions so it loads quickly.
TXN_CONFIG = "transaction.state.log.num.partitions: 5\n"
# Three brokers: Kafka's replication factor and min ISR for __transaction_state.
CLUSTER_CONFIG = ("transaction.state.log.num.partitions: 3\n"
                  "transaction.state.log.replication.factor: 3\n"
                  "transaction.state.log.min.isr: 2\n"
                  "offsets.topic.num.partitions: 3\n")

RETRIABLE = {14, 15, 16, 51}  # LOAD_IN_PROGRESS, NOT_AVAILABLE, NOT_COORDINATOR, CONCURRENT_TRANSACTIONS


def create_topic(bootstrap, name, partitions=1, rf=1):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, rf)])[name].result(20)


def producer(bootstrap, txn_id, **extra):
    conf = {"bootstrap.servers": bootstrap, "transactional.id": txn_id, "transaction.timeout.ms": 20000,
            "linger.ms": 5}
    conf.update(extra)
    return Producer(conf)


def consume_all(bootstrap, topic, isolation, expect_at_least, timeout=20):
    """Values read from the start of every partition of `topic` until
    `expect_at_least` have come and one more second passes quietly (or the
    timeout)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "g-" + uuid.uuid4().hex[:8],
                  "auto.offset.reset": "earliest", "enable.auto.commit": False, "isolation.level": isolation})
    partitions = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])  # no rebalance to wait for
    got = []
    deadline = time.time() + timeout
    quiet_since = None
    try:
        while time.time() < deadline:
            m = c.poll(0.2)
            if m is None or (m.error() and m.error().code() == KafkaError._PARTITION_EOF):
                if len(got) >= expect_at_least:
                    quiet_since = quiet_since or time.time()
                    if time.time() - quiet_since > 1.0:
                        break
                continue
            assert not m.error(), m.error()
            got.append(m.value().decode())
            quiet_since = None
    finally:
        c.close()
    return got


def until_ready(call, deadline_s=20):
    """call() -> (error, ...) again while the coordinator is not ready."""
    end = time.time() + deadline_s
    while True:
        out = call()
        if out[0] not in RETRIABLE:
            return out
        assert time.time() < end, "the coordinator never became ready: %r" % (out,)
        time.sleep(0.2)


def find_txn_coordinator(port, txn_id):
    """FindCoordinator with key type 1 (it creates __transaction_state): (error, node id)."""
    with KafkaConnection(port) as conn:
        r = conn.call("FindCoordinator", 1, {"Key": txn_id, "KeyType": 1})
    return r["ErrorCode"], r["NodeId"]


def init_producer_id(port, txn_id, timeout_ms=20000):
    """InitProducerId v1 by hand, once the coordinator is found: (error, producer id, epoch)."""
    until_ready(lambda: find_txn_coordinator(port, txn_id))

    def call():
        with KafkaConnection(port) as conn:
            r = conn.call("InitProducerId", 1, {"TransactionalId": txn_id, "TransactionTimeoutMs": timeout_ms})
        return r["ErrorCode"], r["ProducerId"], r["ProducerEpoch"]

    return until_ready(call)


def txn_batch(value, pid, epoch, seq):
    """One transactional batch (attribute bit 0x10) as a transactional producer sends it."""
    b = bytearray(record_batch([value], base_timestamp=int(time.time() * 1000), producer_id=pid,
                               producer_epoch=epoch, base_sequence=seq))
    struct.pack_into(">h", b, 21, 0x10)  # the attributes follow the CRC, which covers them
    struct.pack_into(">I", b, 17, crc32c(bytes(b[21:])))
    return bytes(b)


@pytest.fixture
def txn_broker(make_broker):
    return make_broker(extra_config=TXN_CONFIG).start()


def test_commit_is_seen_by_read_committed(txn_broker):
    topic = "txn-commit"
    create_topic(txn_broker.bootstrap, topic, partitions=2)
    p = producer(txn_broker.bootstrap, "tx-commit")
    p.init_transactions(20)
    p.begin_transaction()
    for i in range(20):
        p.produce(topic, value=b"c%d" % i, partition=i % 2)
    p.commit_transaction(20)
    got = consume_all(txn_broker.bootstrap, topic, "read_committed", 20)
    assert sorted(got) == sorted("c%d" % i for i in range(20))


def test_abort_is_hidden_from_read_committed_only(txn_broker):
    topic = "txn-abort"
    create_topic(txn_broker.bootstrap, topic)
    p = producer(txn_broker.bootstrap, "tx-abort")
    p.init_transactions(20)
    p.begin_transaction()
    for i in range(10):
        p.produce(topic, value=b"a%d" % i)
    p.flush(10)
    p.abort_transaction(20)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, value=b"k%d" % i)
    p.commit_transaction(20)
    committed = consume_all(txn_broker.bootstrap, topic, "read_committed", 5)
    assert committed == ["k%d" % i for i in range(5)]
    everything = consume_all(txn_broker.bootstrap, topic, "read_uncommitted", 15)
    assert everything == ["a%d" % i for i in range(10)] + ["k%d" % i for i in range(5)]


def test_a_second_producer_fences_the_first(txn_broker):
    topic = "txn-fence"
    create_topic(txn_broker.bootstrap, topic)
    first = producer(txn_broker.bootstrap, "tx-fence")
    first.init_transactions(20)
    first.begin_transaction()
    first.produce(topic, value=b"zombie")
    first.flush(10)
    second = producer(txn_broker.bootstrap, "tx-fence")
    second.init_transactions(30)  # fences the first and aborts its transaction
    second.begin_transaction()
    second.produce(topic, value=b"live")
    second.commit_transaction(20)
    with pytest.raises(KafkaException) as err:
        first.produce(topic, value=b"late")
        first.commit_transaction(20)
    e = err.value.args[0]
    assert e.fatal(), e
    assert e.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH), e
    assert consume_all(txn_broker.bootstrap, topic, "read_committed", 1) == ["live"]


def test_transactional_id_survives_a_restart(txn_broker):
    error, pid, epoch = init_producer_id(txn_broker.port, "tx-restart")
    assert error == 0 and pid >= 0 and epoch == 0
    error, pid2, epoch2 = init_producer_id(txn_broker.port, "tx-restart")
    assert (error, pid2, epoch2) == (0, pid, 1)
    assert txn_broker.stop() == 0
    txn_broker.start()
    error, pid3, epoch3 = init_producer_id(txn_broker.port, "tx-restart")
    assert (error, pid3, epoch3) == (0, pid, 2), "the id's state was not loaded from __transaction_state"
    # A timeout above transaction.max.timeout.ms is refused (INVALID_TRANSACTION_TIMEOUT).
    assert init_producer_id(txn_broker.port, "tx-restart", timeout_ms=2147483647)[0] == 50


def test_three_brokers_coordinator_and_leaders_apart(zk, tmp_path):
    """__transaction_state with replication factor 3 (min ISR 2); a topic whose
    three partitions are led by three brokers, so the coordinator writes most
    markers to other brokers and their leaders ask it (KIP-890) over the
    inter-broker listener before the first batch of each transaction."""
    brokers = start_cluster(zk, tmp_path, "txn", extra_config=CLUSTER_CONFIG)
    try:
        bootstrap = ",".join(b.bootstrap for b in brokers)
        topic = "txn-cluster"
        create_topic(bootstrap, topic, partitions=3, rf=3)
        leaders = wait_for("three leaders", lambda: (lambda t: t and len({p.leader for p in t.partitions.values()}) == 3
                                                      and {p.leader for p in t.partitions.values()})(
            metadata(brokers[0], topic).topics.get(topic)))
        assert leaders == {1, 2, 3}
        p = producer(bootstrap, "tx-cluster")
        p.init_transactions(30)
        coordinator = wait_for("the coordinator", lambda: (lambda r: r[1] if r[0] == 0 else None)(
            find_txn_coordinator(brokers[0].port, "tx-cluster")))
        assert coordinator in (1, 2, 3)
        p.begin_transaction()
        for i in range(30):
            p.produce(topic, value=b"c%d" % i, partition=i % 3)
        p.commit_transaction(30)
        p.begin_transaction()
        for i in range(9):
            p.produce(topic, value=b"a%d" % i, partition=i % 3)
        p.flush(10)
        p.abort_transaction(30)
        p.begin_transaction()
        p.produce(topic, value=b"last", partition=0)
        p.commit_transaction(30)
        got = consume_all(bootstrap, topic, "read_committed", 31, timeout=30)
        assert sorted(got) == sorted(["c%d" % i for i in range(30)] + ["last"])
    finally:
        stop_cluster(brokers)


def test_three_brokers_many_transactions_in_a_row(zk, tmp_path):
    """Back-to-back transactions on three brokers (RF 3, __transaction_state
    min ISR 2), where every state write waits for the followers. A purgatory
    race answered such a wait twice: the second answer of a PrepareCommit
    write wiped the pending CompleteCommit, whose write then failed as an
    illegal transition and was retried forever, and the producer's next
    records timed out. Here every transaction commits and every record is
    read back once."""
    brokers = start_cluster(zk, tmp_path, "txn-loop", extra_config=CLUSTER_CONFIG)
    try:
        bootstrap = ",".join(b.bootstrap for b in brokers)
        topic = "txn-loop"
        create_topic(bootstrap, topic, partitions=3, rf=3)
        p = producer(bootstrap, "tx-loop", **{"transaction.timeout.ms": 10000})
        p.init_transactions(30)
        transactions = 0
        started = time.time()
        while time.time() - started < 5:
            p.begin_transaction()
            for i in range(30):
                p.produce(topic, value=b"%d-%d" % (transactions, i), partition=i % 3)
            p.commit_transaction(30)
            transactions += 1
        assert transactions >= 20, "only %d transactions in 5 s" % transactions
        for b in brokers:
            assert "completing a written transition failed" not in b.log_text(), "broker %d" % b.broker_id
        got = consume_all(bootstrap, topic, "read_committed", 30 * transactions, timeout=60)
        assert sorted(got) == sorted("%d-%d" % (t, i) for t in range(transactions) for i in range(30))
    finally:
        stop_cluster(brokers)


def test_a_batch_outside_the_transaction_is_refused(txn_broker):
    """KIP-890 part 1: a transactional batch for a partition the coordinator
    has not added is refused (INVALID_TXN_STATE) and nothing is appended, so
    it cannot hang the partition; the admin APIs show the transaction."""
    topic = "txn-hang"
    create_topic(txn_broker.bootstrap, topic, partitions=2)
    error, pid, epoch = init_producer_id(txn_broker.port, "tx-hang")
    assert error == 0
    with KafkaConnection(txn_broker.port) as conn:
        def add():
            r = conn.call("AddPartitionsToTxn", 1, {
                "V3AndBelowTransactionalId": "tx-hang", "V3AndBelowProducerId": pid,
                "V3AndBelowProducerEpoch": epoch, "V3AndBelowTopics": [{"Name": topic, "Partitions": [0]}]})
            return (r["ResultsByTopicV3AndBelow"][0]["ResultsByPartition"][0]["PartitionErrorCode"],)
        assert until_ready(add) == (0,)

        def produce(partition, seq):
            r = conn.call("Produce", 8, {"TransactionalId": "tx-hang", "Acks": -1, "TimeoutMs": 10000, "TopicData": [
                {"Name": topic, "PartitionData": [{"Index": partition, "Records": txn_batch(b"v", pid, epoch, seq)}]}]})
            return r["Responses"][0]["PartitionResponses"][0]["ErrorCode"]
        assert produce(1, 0) == 48  # INVALID_TXN_STATE: partition 1 is not in the transaction
        assert produce(0, 0) == 0
        offsets = conn.call("ListOffsets", 2, {"ReplicaId": -1, "IsolationLevel": 0, "Topics": [
            {"Name": topic, "Partitions": [{"PartitionIndex": 1, "Timestamp": -1}, {"PartitionIndex": 0, "Timestamp": -1}]}]})
        ends = {p["PartitionIndex"]: p["Offset"] for p in offsets["Topics"][0]["Partitions"]}
        assert ends == {0: 1, 1: 0}

        described = conn.call("DescribeTransactions", 0, {"TransactionalIds": ["tx-hang", "tx-unknown"]})
        states = {s["TransactionalId"]: s for s in described["TransactionStates"]}
        assert states["tx-unknown"]["ErrorCode"] == 105  # TRANSACTIONAL_ID_NOT_FOUND
        hang = states["tx-hang"]
        assert (hang["ErrorCode"], hang["TransactionState"], hang["ProducerId"]) == (0, "Ongoing", pid)
        assert hang["Topics"] == [{"Topic": topic, "Partitions": [0]}]
        listed = conn.call("ListTransactions", 0, {"StateFilters": ["Ongoing"], "ProducerIdFilters": []})
        assert listed["ErrorCode"] == 0
        assert [(t["TransactionalId"], t["TransactionState"]) for t in listed["TransactionStates"]] == [
            ("tx-hang", "Ongoing")]
        end = conn.call("EndTxn", 1, {"TransactionalId": "tx-hang", "ProducerId": pid, "ProducerEpoch": epoch,
                                      "Committed": False})
        assert end["ErrorCode"] == 0
        # Once the markers are written the id is CompleteAbort and the partition's LSO moves past the data.
        wait_for("the abort to complete", lambda: conn.call("DescribeTransactions", 0, {
            "TransactionalIds": ["tx-hang"]})["TransactionStates"][0]["TransactionState"] == "CompleteAbort")


def test_consume_transform_produce_commits_offsets_with_the_output(txn_broker):
    """send_offsets_to_transaction: the group's offsets are committed with the
    transaction's records (AddOffsetsToTxn, then TxnOffsetCommit to the group
    coordinator, made visible by the COMMIT marker)."""
    create_topic(txn_broker.bootstrap, "ctp-in")
    create_topic(txn_broker.bootstrap, "ctp-out")
    plain = Producer({"bootstrap.servers": txn_broker.bootstrap})
    for i in range(10):
        plain.produce("ctp-in", value=b"v%d" % i)
    plain.flush(10)
    c = Consumer({"bootstrap.servers": txn_broker.bootstrap, "group.id": "ctp", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "isolation.level": "read_committed"})
    c.subscribe(["ctp-in"])
    inputs = []
    deadline = time.time() + 20
    while len(inputs) < 10 and time.time() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            inputs.append(m.value())
    assert len(inputs) == 10
    p = producer(txn_broker.bootstrap, "tx-ctp")
    p.init_transactions(20)
    p.begin_transaction()
    for v in inputs:
        p.produce("ctp-out", value=v.upper())
    p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 20)
    p.commit_transaction(20)
    c.close()
    check = Consumer({"bootstrap.servers": txn_broker.bootstrap, "group.id": "ctp"})
    try:
        committed = wait_for("the committed offset", lambda: (lambda o: o if o >= 0 else None)(
            check.committed([TopicPartition("ctp-in", 0)], timeout=10)[0].offset))
    finally:
        check.close()
    assert committed == 10
    assert sorted(consume_all(txn_broker.bootstrap, "ctp-out", "read_committed", 10)) == sorted(
        "V%d" % i for i in range(10))


def test_librdkafka_2_15_commit_and_abort(txn_broker, rdkafka):  # noqa: F811
    """The same with the current librdkafka (2.15, modern_rdkafka_driver.py)."""
    r = rdkafka.run("transactions", {"bootstrap": txn_broker.bootstrap, "topic": "txn-modern", "txn_id": "tx-modern",
                                     "committed": ["c%d" % i for i in range(5)],
                                     "aborted": ["a%d" % i for i in range(3)]})
    assert r["libversion"].startswith("2.15."), r
    assert r["seen"]["read_committed"] == ["c0", "c1", "c2", "c3", "c4", "last"], r
    assert r["seen"]["read_uncommitted"] == ["c0", "c1", "c2", "c3", "c4", "a0", "a1", "a2", "last"], r


def test_default_replication_factor_waits_for_enough_brokers(make_broker):
    """Kafka's default transaction.state.log.replication.factor (3) on one
    broker: __transaction_state is not created, FindCoordinator keeps answering
    COORDINATOR_NOT_AVAILABLE (retriable: the producer waits, no fatal error),
    and the log says which setting to change."""
    b = make_broker(extra_config="transaction.state.log.replication.factor: 3\n").start()
    p = producer(b.bootstrap, "tx-rf3")
    with pytest.raises(KafkaException) as err:
        p.init_transactions(3)
    assert not err.value.args[0].fatal(), err.value
    assert find_txn_coordinator(b.port, "tx-rf3")[0] == 15  # COORDINATOR_NOT_AVAILABLE
    assert "fewer than transaction.state.log.replication.factor 3" in b.log_text()


def test_coordinator_killed_mid_transaction(zk, tmp_path):
    """kill -9 of the coordinator's broker with a transaction open: another
    broker loads the id's __transaction_state partition (replicated, min ISR
    2) and the producer's commit goes through it; the records become visible
    to read_committed, none twice."""
    brokers = start_cluster(zk, tmp_path, "txnkill", extra_config=CLUSTER_CONFIG)
    try:
        bootstrap = ",".join(b.bootstrap for b in brokers)
        topic = "txn-kill"
        create_topic(bootstrap, topic, partitions=3, rf=3)
        p = producer(bootstrap, "tx-kill", **{"transaction.timeout.ms": 60000})
        p.init_transactions(30)
        p.begin_transaction()
        for i in range(30):
            p.produce(topic, value=b"k%d" % i, partition=i % 3)
        p.flush(20)
        old = wait_for("the coordinator", lambda: (lambda r: r[1] if r[0] == 0 else None)(
            find_txn_coordinator(brokers[0].port, "tx-kill")))
        by_id(brokers, old).kill9()
        p.commit_transaction(60)
        survivors = [b for b in brokers if b.alive()]
        got = consume_all(",".join(b.bootstrap for b in survivors), topic, "read_committed", 30, timeout=40)
        assert sorted(got) == sorted("k%d" % i for i in range(30))
    finally:
        stop_cluster(brokers)


def test_empty_transactions_commit_and_abort(txn_broker):
    """begin + commit and begin + abort with no records both succeed
    (librdkafka ends a transaction it added nothing to without asking the
    coordinator) and the producer's next transaction commits; EndTxn sent by
    hand for an id with no transaction open is INVALID_TXN_STATE, as in Kafka,
    and leaves the id usable."""
    topic = "txn-empty"
    create_topic(txn_broker.bootstrap, topic)
    p = producer(txn_broker.bootstrap, "tx-empty")
    p.init_transactions(20)
    p.begin_transaction()
    p.commit_transaction(10)
    p.begin_transaction()
    p.abort_transaction(10)
    p.begin_transaction()
    p.produce(topic, value=b"after-empty")
    p.commit_transaction(20)
    assert consume_all(txn_broker.bootstrap, topic, "read_committed", 1) == ["after-empty"]

    error, pid, epoch = init_producer_id(txn_broker.port, "tx-empty-raw")
    assert error == 0
    for committed in (True, False):
        with KafkaConnection(txn_broker.port) as conn:
            r = conn.call("EndTxn", 1, {"TransactionalId": "tx-empty-raw", "ProducerId": pid,
                                        "ProducerEpoch": epoch, "Committed": committed})
        assert r["ErrorCode"] == 48, r  # INVALID_TXN_STATE
    assert init_producer_id(txn_broker.port, "tx-empty-raw") == (0, pid, epoch + 1)
