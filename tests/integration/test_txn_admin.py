"""What Kafka's kafka-transactions.sh does (KIP-664), done on the wire the
way its TransactionsCommand does it, one small helper per step:

- list: ListTransactions to every broker of the Metadata answer (state,
  producer id and, v1, duration filters);
- describe: FindCoordinator (key type 1, batched keys) and
  DescribeTransactions at that coordinator;
- find-hanging --broker-id B [--max-transaction-timeout M]: DescribeProducers
  for every partition with a replica on B (internal topics included), keep
  producers with an open transaction whose last timestamp is more than M
  minutes old, then ListTransactions filtered by those producer ids and
  DescribeTransactions of the ids found: an open transaction whose producer
  id no coordinator lists, whose id is unknown, or whose partition the
  coordinator does not list, is hanging;
- abort --topic T --partition P --start-offset O: DescribeProducers at the
  leader, the producer whose open transaction starts at O, then
  WriteTxnMarkers (ABORT, its producer id and epoch, its coordinator epoch or
  0) to the leader, which needs ALTER on the cluster.

The hanging transaction is made as they happen in practice (KAFKA-12671):
with KIP-890 verification off, a transactional batch of a producer id and
epoch from InitProducerId lands on a partition the coordinator was never
told about, so no marker will ever come and read_committed consumers stop at
its first offset."""

import time
import uuid

import pytest
from confluent_kafka import Producer
from kafka.admin import ACLOperation, ResourceType

from kafka_schema import KafkaConnection
from test_authorization import AUTHORIZER, acl, create_topics, grant
from test_cluster import wait_for
from test_sasl import sasl_broker
from test_transactions import create_topic, init_producer_id, until_ready
from test_txn_partition import consume, produce, txn_batch

NONE, CLUSTER_AUTHORIZATION_FAILED, TRANSACTIONAL_ID_NOT_FOUND = 0, 31, 105
READ_UNCOMMITTED, READ_COMMITTED = 0, 1
CONFIG = "transaction.state.log.num.partitions: 5\n"
HANGING_CONFIG = CONFIG + "transaction.partition.verification.enable: false\n"
MINUTE_MS = 60000


# --- the tool's steps --------------------------------------------------------------------------------------

def cluster_metadata(port):
    """Metadata for every topic (internal ones too, as listTopics(listInternal=true)):
    ({node id: port}, {(topic, partition): (leader, replicas)})."""
    with KafkaConnection(port) as conn:
        r = conn.call("Metadata", 9, {"Topics": None, "AllowAutoTopicCreation": False})
    brokers = {b["NodeId"]: b["Port"] for b in r["Brokers"]}
    partitions = {(t["Name"], p["PartitionIndex"]): (p["LeaderId"], p["ReplicaNodes"])
                  for t in r["Topics"] if t["ErrorCode"] == NONE for p in t["Partitions"]}
    return brokers, partitions


def list_transactions(port, states=(), producer_ids=(), duration_ms=None):
    """`list`: ListTransactions to every broker; [(id, producer id, state)]."""
    brokers, _ = cluster_metadata(port)
    version, body = 0, {"StateFilters": list(states), "ProducerIdFilters": list(producer_ids)}
    if duration_ms is not None:
        version, body["DurationFilter"] = 1, duration_ms
    out = []
    for broker_port in brokers.values():
        with KafkaConnection(broker_port) as conn:
            r = until_ready(lambda: (lambda r: (r["ErrorCode"], r))(conn.call("ListTransactions", version, body)))[1]
        assert r["ErrorCode"] == NONE, r
        out += [(t["TransactionalId"], t["ProducerId"], t["TransactionState"]) for t in r["TransactionStates"]]
    return sorted(out)


def describe_transaction(port, txn_id):
    """`describe`: the id's coordinator (FindCoordinator v4, key type 1), then
    DescribeTransactions there. The entry's fields, Topics as a set of
    (topic, partition)."""
    brokers, _ = cluster_metadata(port)

    def find():
        with KafkaConnection(port) as conn:
            c = conn.call("FindCoordinator", 4, {"KeyType": 1, "CoordinatorKeys": [txn_id]})["Coordinators"][0]
        return c["ErrorCode"], c["NodeId"]

    error, node = until_ready(find)
    assert error == NONE
    with KafkaConnection(brokers[node]) as conn:
        r = conn.call("DescribeTransactions", 0, {"TransactionalIds": [txn_id]})
    state = r["TransactionStates"][0]
    assert state["TransactionalId"] == txn_id
    state["Topics"] = {(t["Topic"], p) for t in state["Topics"] for p in t["Partitions"]}
    return state


def describe_producers(port, partitions):
    """DescribeProducers for [(topic, partition)] sent to one broker:
    {(topic, partition): [producer state]}."""
    topics = {}
    for topic, p in partitions:
        topics.setdefault(topic, []).append(p)
    with KafkaConnection(port) as conn:
        r = conn.call("DescribeProducers", 0, {"Topics": [
            {"Name": t, "PartitionIndexes": ps} for t, ps in sorted(topics.items())]})
    out = {}
    for t in r["Topics"]:
        for p in t["Partitions"]:
            assert p["ErrorCode"] == NONE, (t["Name"], p)
            out[(t["Name"], p["PartitionIndex"])] = p["ActiveProducers"]
    return out


def find_hanging(port, broker_id, max_transaction_timeout_minutes=15):
    """`find-hanging --broker-id`: [(topic, partition, producer id, epoch, start offset)]."""
    brokers, partitions = cluster_metadata(port)
    hosted = sorted(tp for tp, (_, replicas) in partitions.items() if broker_id in replicas)
    now = int(time.time() * 1000)
    candidates = [(tp, s) for tp, states in describe_producers(brokers[broker_id], hosted).items() for s in states
                  if s["CurrentTxnStartOffset"] >= 0
                  and now - s["LastTimestamp"] > max_transaction_timeout_minutes * MINUTE_MS]
    if not candidates:
        return []
    producer_ids = {s["ProducerId"] for _, s in candidates}
    ids = {pid: txn_id for txn_id, pid, _ in list_transactions(port, producer_ids=sorted(producer_ids))
           if pid in producer_ids}
    descriptions = {}
    for txn_id in set(ids.values()):
        d = describe_transaction(port, txn_id)
        assert d["ErrorCode"] in (NONE, TRANSACTIONAL_ID_NOT_FOUND), d
        descriptions[txn_id] = d if d["ErrorCode"] == NONE else None
    hanging = []
    for tp, s in candidates:
        d = descriptions.get(ids.get(s["ProducerId"]))
        if d is None or tp not in d["Topics"]:
            hanging.append((tp[0], tp[1], s["ProducerId"], s["ProducerEpoch"], s["CurrentTxnStartOffset"]))
    return sorted(hanging)


def abort_transaction(port, topic, partition, start_offset):
    """`abort --start-offset`: None when no open transaction starts there (the
    tool's "Could not find any open transactions" exit), else the partition's
    error code from WriteTxnMarkers(ABORT) at the leader."""
    brokers, partitions = cluster_metadata(port)
    leader = brokers[partitions[(topic, partition)][0]]
    states = describe_producers(leader, [(topic, partition)])[(topic, partition)]
    found = [s for s in states if s["CurrentTxnStartOffset"] >= 0 and s["CurrentTxnStartOffset"] == start_offset]
    if not found:
        return None
    s = found[0]
    with KafkaConnection(leader) as conn:
        r = conn.call("WriteTxnMarkers", 1, {"Markers": [{
            "ProducerId": s["ProducerId"], "ProducerEpoch": s["ProducerEpoch"], "TransactionResult": False,
            "Topics": [{"Name": topic, "PartitionIndexes": [partition]}],
            "CoordinatorEpoch": max(s["CoordinatorEpoch"], 0)}]})
    (marker,) = r["Markers"]
    assert marker["ProducerId"] == s["ProducerId"]
    (t,) = marker["Topics"]
    (p,) = t["Partitions"]
    assert (t["Name"], p["PartitionIndex"]) == (topic, partition)
    return p["ErrorCode"]


# --- what consumers see ------------------------------------------------------------------------------------

def offsets(port, topic, partition):
    """(last stable offset, high watermark) by ListOffsets LATEST."""
    out = []
    for isolation in (READ_COMMITTED, READ_UNCOMMITTED):
        with KafkaConnection(port) as conn:
            r = conn.call("ListOffsets", 5, {"ReplicaId": -1, "IsolationLevel": isolation, "Topics": [
                {"Name": topic, "Partitions": [{"PartitionIndex": partition, "Timestamp": -1}]}]})
        p = r["Topics"][0]["Partitions"][0]
        assert p["ErrorCode"] == NONE, p
        out.append(p["Offset"])
    return tuple(out)


def live_producer(bootstrap, txn_id):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "transaction.timeout.ms": 30000,
                  "linger.ms": 5})
    p.init_transactions(20)
    return p


def make_hanging(port, topic, txn_id, values, timestamp):
    """A transactional batch for partition 0 of a producer id and epoch from
    InitProducerId, never added to the transaction: (producer id, epoch, the
    batch's first offset)."""
    error, pid, epoch = init_producer_id(port, txn_id)
    assert error == NONE
    with KafkaConnection(port) as conn:
        return pid, epoch, produce(conn, topic, txn_batch(values, pid, 0, epoch=epoch, timestamp=timestamp), txn_id)


# --- the tests ---------------------------------------------------------------------------------------------

def test_list_and_describe_an_ongoing_then_committed_transaction(make_broker):
    broker = make_broker(extra_config=CONFIG).start()
    topic = "txa-" + uuid.uuid4().hex[:8]
    create_topic(broker.bootstrap, topic, partitions=3)
    p = live_producer(broker.bootstrap, "txa-live")
    p.begin_transaction()
    for part in (0, 2):
        p.produce(topic, value=b"v%d" % part, partition=part)
    assert p.flush(10) == 0

    listed = list_transactions(broker.port)
    assert [(t, s) for t, _, s in listed] == [("txa-live", "Ongoing")]
    pid = listed[0][1]
    assert list_transactions(broker.port, states=["Ongoing"], producer_ids=[pid]) == listed
    assert list_transactions(broker.port, states=["CompleteCommit"]) == []
    assert list_transactions(broker.port, producer_ids=[pid + 1]) == []
    assert list_transactions(broker.port, duration_ms=600000) == [], "not running for ten minutes"
    assert list_transactions(broker.port, duration_ms=0) == listed

    d = describe_transaction(broker.port, "txa-live")
    assert d["ErrorCode"] == NONE and d["TransactionState"] == "Ongoing"
    assert d["ProducerId"] == pid and d["TransactionTimeoutMs"] == 30000
    assert d["Topics"] == {(topic, 0), (topic, 2)}
    assert 0 < time.time() * 1000 - d["TransactionStartTimeMs"] < 60000

    p.commit_transaction(20)
    # EndTxn is answered once PrepareCommit is written; CompleteCommit follows the markers.
    wait_for("the commit to complete",
             lambda: list_transactions(broker.port) == [("txa-live", pid, "CompleteCommit")], timeout=10)
    assert list_transactions(broker.port, states=["Ongoing"]) == []
    d = describe_transaction(broker.port, "txa-live")
    assert (d["ErrorCode"], d["TransactionState"], d["ProducerId"], d["Topics"]) == (NONE, "CompleteCommit", pid, set())
    assert describe_transaction(broker.port, "txa-unknown")["ErrorCode"] == TRANSACTIONAL_ID_NOT_FOUND


def test_find_hanging_and_abort_unblock_read_committed(make_broker):
    broker = make_broker(extra_config=HANGING_CONFIG).start()
    topic = "txh-" + uuid.uuid4().hex[:8]
    create_topic(broker.bootstrap, topic, partitions=2)
    # The hanging transaction's records are 20 minutes old (past the tool's
    # default 15-minute bound); a live one writes to the same partitions now.
    old = int(time.time() * 1000) - 20 * MINUTE_MS
    pid, epoch, first = make_hanging(broker.port, topic, "txh-hang", [b"h0", b"h1", b"h2"], old)
    assert first == 0
    live = live_producer(broker.bootstrap, "txh-live")
    live.begin_transaction()
    for i in range(3):
        for part in (0, 1):
            live.produce(topic, value=b"l%d" % i, partition=part)
    assert live.flush(10) == 0
    assert offsets(broker.port, topic, 0) == (0, 6)

    # The coordinator knows txh-hang's producer, but with no transaction.
    d = describe_transaction(broker.port, "txh-hang")
    assert (d["TransactionState"], d["ProducerId"], d["Topics"]) == ("Empty", pid, set())
    open_at = {(s["ProducerId"], s["CurrentTxnStartOffset"]) for s in describe_producers(broker.port, [(topic, 0)])[
        (topic, 0)]}
    live_pid = list_transactions(broker.port, states=["Ongoing"])[0][1]
    assert open_at == {(pid, 0), (live_pid, 3)}
    hanging = [(topic, 0, pid, epoch, 0)]
    assert find_hanging(broker.port, broker.broker_id) == hanging
    # With no age bound the live transaction is a candidate too, but its
    # coordinator lists both of its partitions: not hanging.
    assert find_hanging(broker.port, broker.broker_id, max_transaction_timeout_minutes=0) == hanging

    live.commit_transaction(20)
    # EndTxn is answered once PrepareCommit is written; the markers follow.
    wait_for("the commit markers", lambda: offsets(broker.port, topic, 1) == (4, 4), timeout=10)
    assert offsets(broker.port, topic, 0) == (0, 7), "the hanging transaction still pins the stable offset"
    assert consume(broker.bootstrap, topic, "read_committed", want=1, timeout=2) == []

    assert abort_transaction(broker.port, topic, 0, start_offset=3) is None, "no transaction starts at 3"
    assert offsets(broker.port, topic, 0) == (0, 7), "nothing was written"
    assert abort_transaction(broker.port, topic, 0, start_offset=0) == NONE
    assert offsets(broker.port, topic, 0) == (8, 8)
    assert find_hanging(broker.port, broker.broker_id, max_transaction_timeout_minutes=0) == []
    assert consume(broker.bootstrap, topic, "read_committed", want=3) == [b"l0", b"l1", b"l2"]


@pytest.fixture
def authorized_broker(make_broker):
    return sasl_broker(make_broker, extra=AUTHORIZER + "super.users: User:alice\n" + HANGING_CONFIG)


def test_abort_needs_alter_on_the_cluster(authorized_broker):
    """User:ANONYMOUS (the PLAINTEXT listener) may write and describe the
    topic and the transactional id, which makes a hanging transaction, but
    aborting it is CLUSTER_AUTHORIZATION_FAILED until it may ALTER the cluster."""
    b, anon, topic = authorized_broker, "User:ANONYMOUS", "txz"
    create_topics(b, topic)
    grant(b, acl(anon, ResourceType.TOPIC, topic, ACLOperation.ALL),
          acl(anon, ResourceType.TRANSACTIONAL_ID, "txz-hang", ACLOperation.ALL))

    def readable():
        with KafkaConnection(b.port) as conn:
            r = conn.call("DescribeProducers", 0, {"Topics": [{"Name": topic, "PartitionIndexes": [0]}]})
        return r["Topics"][0]["Partitions"][0]["ErrorCode"] == NONE
    wait_for("the grants to apply", readable, timeout=5)
    pid, _, first = make_hanging(b.port, topic, "txz-hang", [b"z"], int(time.time() * 1000))
    assert offsets(b.port, topic, 0) == (first, first + 1)

    assert abort_transaction(b.port, topic, 0, start_offset=first) == CLUSTER_AUTHORIZATION_FAILED
    assert offsets(b.port, topic, 0) == (first, first + 1), "nothing was written"
    grant(b, acl(anon, ResourceType.CLUSTER, "kafka-cluster", ACLOperation.ALTER))
    outcome = wait_for("the grant to apply", lambda: (lambda e: e != CLUSTER_AUTHORIZATION_FAILED and (e,))(
        abort_transaction(b.port, topic, 0, start_offset=first)), timeout=5)
    assert outcome == (NONE,)
    assert offsets(b.port, topic, 0) == (first + 2, first + 2)
    assert abort_transaction(b.port, topic, 0, start_offset=first) is None, "nothing open any more"
