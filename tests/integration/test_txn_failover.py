"""A partition leader killed in the middle of a transaction (issues 25 and 21),
and a follower of the transaction coordinator's partition stopped under it.

Three brokers (ZooKeeper store), a topic with three partitions, replication
factor 3 and min.insync.replicas 2, __transaction_state replicated on all
three. A confluent-kafka transactional producer commits one transaction,
aborts one, and has a third open (records flushed to every partition) when
the broker leading one data partition — not the transaction coordinator —
is killed with SIGKILL. The producer keeps writing to that partition (its
new leader takes the records) and ends the transaction; an error from the
commit is handled as Kafka's documentation says (retriable: commit again;
abortable: abort; fatal: never acceptable here). Then:

- the end never hangs: every partition's last stable offset (ListOffsets,
  READ_COMMITTED) reaches its high watermark within transaction.timeout.ms
  of the kill;
- a read_committed consumer sees exactly the committed records, none of the
  aborted ones, none twice;
- the killed broker, restarted, rejoins every ISR and serves the same
  committed view: a read_committed Fetch v11 sent to each replica directly
  (KIP-392 follower reads) gives the same high watermark, last stable offset,
  aborted-transaction list and batches.
"""

import time

from confluent_kafka import KafkaException

from cluster_harness import by_id, start_cluster, stop_cluster
from kafka_schema import KafkaConnection
from test_cluster import metadata, wait_for, zk  # noqa: F401 (fixture)
from test_cluster_groups import partition_for
from test_transactions import CLUSTER_CONFIG, consume_all, create_topic, find_txn_coordinator, producer
from test_txn_partition import batches

TXN_TIMEOUT_MS = 15000
PARTITIONS = 3
READ_UNCOMMITTED, READ_COMMITTED = 0, 1


def partitions_view(broker, topic):
    """{partition: (leader, isr, replicas)} from broker's metadata; None while incomplete."""
    t = metadata(broker, topic).topics.get(topic)
    if t is None or t.error is not None or len(t.partitions) != PARTITIONS:
        return None
    return {p.id: (p.leader, sorted(p.isrs), sorted(p.replicas)) for p in t.partitions.values()}


def full_isr(broker, topic, leaders_among=(1, 2, 3)):
    view = partitions_view(broker, topic)
    if view and all(leader in leaders_among and isr == replicas == [1, 2, 3]
                    for leader, isr, replicas in view.values()):
        return view
    return None


def list_latest(broker, topic, isolation):
    """ListOffsets v5 latest for every partition, asked of `broker`: {partition: (error, offset)}."""
    with KafkaConnection(broker.port) as conn:
        r = conn.call("ListOffsets", 5, {"ReplicaId": -1, "IsolationLevel": isolation, "Topics": [
            {"Name": topic, "Partitions": [{"PartitionIndex": p, "Timestamp": -1} for p in range(PARTITIONS)]}]})
    return {p["PartitionIndex"]: (p["ErrorCode"], p["Offset"]) for p in r["Topics"][0]["Partitions"]}


def stable_everywhere(brokers, topic):
    """Every partition's LSO equals its high watermark, asked of its current leader; else None."""
    view = partitions_view(next(b for b in brokers if b.alive()), topic)
    if not view:
        return None
    out = {}
    for p, (leader, _, _) in view.items():
        b = next((b for b in brokers if b.broker_id == leader and b.alive()), None)
        if b is None:
            return None
        try:
            hw = list_latest(b, topic, READ_UNCOMMITTED)[p]
            lso = list_latest(b, topic, READ_COMMITTED)[p]
        except OSError:
            return None
        if hw[0] != 0 or lso[0] != 0 or lso[1] != hw[1]:
            return None
        out[p] = lso[1]
    return out


def committed_view(broker, topic):
    """A read_committed Fetch v11 from offset 0 of every partition, sent to
    `broker` whether it leads or follows: {partition: (error, high watermark,
    last stable offset, aborted list, batches)}."""
    with KafkaConnection(broker.port) as conn:
        r = conn.call("Fetch", 11, {
            "ReplicaId": -1, "MaxWaitMs": 0, "MinBytes": 1, "MaxBytes": 4 << 20, "IsolationLevel": READ_COMMITTED,
            "SessionId": 0, "SessionEpoch": -1, "RackId": "",
            "Topics": [{"Topic": topic, "Partitions": [
                {"Partition": p, "FetchOffset": 0, "PartitionMaxBytes": 1 << 20} for p in range(PARTITIONS)]}]})
    out = {}
    for p in r["Responses"][0]["Partitions"]:
        aborted = sorted((a["ProducerId"], a["FirstOffset"]) for a in p["AbortedTransactions"] or [])
        out[p["PartitionIndex"]] = (p["ErrorCode"], p["HighWatermark"], p["LastStableOffset"], aborted,
                                    batches(p["Records"] or b""))
    return out


def end_transaction(p):
    """commit_transaction, with its errors handled as librdkafka's and Kafka's
    documentation say: a retriable error means commit again, an abortable one
    means abort (and the records are discarded). Returns True if committed."""
    for _ in range(5):
        try:
            p.commit_transaction(30)
            return True
        except KafkaException as exc:
            err = exc.args[0]
            assert not err.fatal(), "a leader's death must not be fatal to the producer: %s" % err
            if err.retriable():
                continue
            assert err.txn_requires_abort(), err
            p.abort_transaction(30)
            return False
    raise AssertionError("commit_transaction stayed retriable five times")


def send(p, topic, prefix, n, first=0):
    """Values prefix<first> .. prefix<first+n-1>, round robin over the partitions."""
    values = ["%s%d" % (prefix, i) for i in range(first, first + n)]
    for i, v in enumerate(values):
        p.produce(topic, value=v.encode(), partition=i % PARTITIONS)
    return values


def test_partition_leader_killed_mid_transaction(zk, tmp_path):
    brokers = start_cluster(zk, tmp_path, "txnfo", extra_config=CLUSTER_CONFIG + "min.insync.replicas: 2\n")
    try:
        bootstrap = ",".join(b.bootstrap for b in brokers)
        topic = "txn-failover"
        create_topic(bootstrap, topic, partitions=PARTITIONS, rf=3)
        before = wait_for("a full ISR everywhere", lambda: full_isr(brokers[0], topic))
        p = producer(bootstrap, "tx-failover", **{"transaction.timeout.ms": TXN_TIMEOUT_MS})
        p.init_transactions(30)
        coordinator = wait_for("the coordinator", lambda: (lambda r: r[1] if r[0] == 0 else None)(
            find_txn_coordinator(brokers[0].port, "tx-failover")))
        victim_partition, (victim, _, _) = next((i, v) for i, v in sorted(before.items()) if v[0] != coordinator)

        p.begin_transaction()
        committed = send(p, topic, "a", 9)
        p.commit_transaction(30)
        p.begin_transaction()
        aborted = send(p, topic, "b", 9)
        p.flush(20)  # in the log, so every partition gets an aborted-transaction entry
        p.abort_transaction(30)

        p.begin_transaction()
        middle = send(p, topic, "c", 12)
        p.flush(20)
        leader = by_id(brokers, victim)
        open_at = list_latest(leader, topic, READ_COMMITTED)[victim_partition]
        end_at = list_latest(leader, topic, READ_UNCOMMITTED)[victim_partition]
        assert open_at[0] == end_at[0] == 0 and open_at[1] < end_at[1], \
            "the open transaction holds the stable offset back (%r < %r)" % (open_at, end_at)
        killed_at = time.time()
        leader.kill9()
        middle += send(p, topic, "c", 12, first=12)  # the dead leader's partition waits for its new leader
        outcome = end_transaction(p)
        (committed if outcome else aborted).extend(middle)
        survivors = [b for b in brokers if b.alive()]
        wait_for("every last stable offset to reach its high watermark",
                 lambda: stable_everywhere(brokers, topic), timeout=TXN_TIMEOUT_MS / 1000 + 10)
        moved_after = time.time() - killed_at
        assert moved_after < TXN_TIMEOUT_MS / 1000, \
            "the stable offsets moved %.1f s after the kill, past transaction.timeout.ms" % moved_after
        print("transaction %s; stable offsets moved %.2f s after the kill" % (
            "committed" if outcome else "aborted", moved_after))
        new_leader = partitions_view(survivors[0], topic)[victim_partition][0]
        assert new_leader in (b.broker_id for b in survivors)

        # The producer carries on after the failover.
        p.begin_transaction()
        committed += send(p, topic, "d", 6)
        p.commit_transaction(30)
        got = consume_all(",".join(b.bootstrap for b in survivors), topic, "read_committed", len(committed),
                          timeout=30)
        assert sorted(got) == sorted(committed), "read_committed: %d records, %d committed; aborted seen: %r" % (
            len(got), len(committed), sorted(set(got) & set(aborted))[:5])

        # The killed broker comes back, catches up and rejoins every ISR; then
        # each replica, read directly, holds the same committed view.
        leader.start()
        wait_for("the restarted broker back in every ISR", lambda: full_isr(survivors[0], topic), timeout=30)

        def agreed():
            views = {b.broker_id: committed_view(b, topic) for b in brokers}
            first = views[brokers[0].broker_id]
            return views if all(v == first for v in views.values()) else None

        views = wait_for("every replica to serve the same committed view", agreed, timeout=20)
        for part, (error, hw, lso, aborted_list, got_batches) in views[victim].items():
            assert error == 0
            assert lso == hw, "partition %d: the stable offset %d is below the high watermark %d" % (part, lso, hw)
            assert aborted_list and all(pid >= 0 and first < hw for pid, first in aborted_list), \
                "partition %d: the aborted transaction is missing from the list (%r)" % (part, aborted_list)
            assert got_batches and got_batches[-1][2], "partition %d: the log ends with a marker" % part
    finally:
        stop_cluster(brokers)


def test_a_follower_stopping_keeps_the_transaction_coordinator_loaded(zk, tmp_path):
    """A follower of the coordinator's __transaction_state partition stops
    (SIGTERM: controlled shutdown shrinks the ISR, a newer leader epoch under
    the same leader). The coordinator keeps the partition loaded, with the
    transaction open across the stop, instead of reloading it and failing the
    write under way (found by the rolling-restart fault runs: two producers
    stalled 11 s). The open transaction and the ten after it commit, each
    within 5 s, and a read_committed consumer reads every record once."""
    brokers = start_cluster(zk, tmp_path, "txnbump", extra_config=CLUSTER_CONFIG + "min.insync.replicas: 2\n")
    try:
        bootstrap = ",".join(b.bootstrap for b in brokers)
        topic = "txn-bump"
        create_topic(bootstrap, topic, partitions=PARTITIONS, rf=3)
        wait_for("a full ISR everywhere", lambda: full_isr(brokers[0], topic))
        txn_id = "tx-bump"
        p = producer(bootstrap, txn_id, **{"transaction.timeout.ms": TXN_TIMEOUT_MS})
        p.init_transactions(30)
        coordinator = wait_for("the coordinator", lambda: (lambda r: r[1] if r[0] == 0 else None)(
            find_txn_coordinator(brokers[0].port, txn_id)))
        state_partition = partition_for(txn_id, 3)  # CLUSTER_CONFIG: three partitions
        coord = by_id(brokers, coordinator)
        kept = "__transaction_state-%d: still its leader at epoch" % state_partition
        reloaded = "elected as the transaction coordinator for __transaction_state-%d at" % state_partition

        p.begin_transaction()
        committed = send(p, topic, "a", 9)
        p.flush(20)
        mark = len(coord.log_text())
        follower = next(b for b in brokers if b.broker_id != coordinator)
        assert follower.stop() == 0
        wait_for("the coordinator to see the newer epoch", lambda: kept in coord.log_text()[mark:], timeout=20)
        committed += send(p, topic, "a", 9, first=9)
        started = time.time()
        p.commit_transaction(30)
        took = [time.time() - started]
        for i in range(10):
            started = time.time()
            p.begin_transaction()
            committed += send(p, topic, "b%d-" % i, 6)
            p.commit_transaction(30)
            took.append(time.time() - started)
        after = coord.log_text()[mark:]
        assert reloaded not in after, "the coordinator reloaded its partition: %s" % [
            line for line in after.splitlines() if reloaded in line]
        assert max(took) < 5, "a transaction took %.1f s after the follower stopped" % max(took)
        survivors = [b for b in brokers if b.alive()]
        got = consume_all(",".join(b.bootstrap for b in survivors), topic, "read_committed", len(committed),
                          timeout=30)
        assert sorted(got) == sorted(committed)
    finally:
        stop_cluster(brokers)
