"""SIGTERM, and kill -9, while clients are busy. SIGTERM: the broker answers
what is in flight (a parked long-poll fetch among it), stops and leaves the
clean-shutdown marker. Either way an idempotent producer that keeps sending
through the restart ends with every record exactly once and in order (after
kill -9 its retries are recognised by the producer state rebuilt from the log)."""

import threading
import time

import pytest
from confluent_kafka import Producer

from kafka_schema import KafkaConnection
from test_admin_requests import create_topic, high_watermark, meta_topic_id
from test_produce_consume import consume

RECORDS = 20_000


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_a_stop_under_load_answers_in_flight_requests_and_loses_nothing(make_broker, how):
    b = make_broker().start()
    create_topic(b, "life")

    delivered, failed = [], []
    done = threading.Event()

    def producer():
        p = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True, "linger.ms": 2,
                      "message.timeout.ms": 120_000, "reconnect.backoff.max.ms": 200})

        def report(err, msg):
            (failed if err else delivered).append(err or int(msg.value()))

        for i in range(RECORDS):
            while True:
                try:
                    p.produce("life", b"%d" % i, on_delivery=report)
                    break
                except BufferError:
                    p.poll(0.05)
            if i % 50 == 0:
                p.poll(0)
                time.sleep(0.005)  # ~10k records/s: the stop lands mid-stream
        p.flush(120)
        done.set()

    # A fetch parked at the log end, asking for more than will come before the stop.
    parked = {}

    def long_poll():
        with KafkaConnection(b.port, timeout=30) as conn:
            tid = meta_topic_id(conn, "life")
            end = high_watermark(conn, "life")
            parked["sent"] = time.time()
            try:
                resp = conn.call("Fetch", 12, {
                    "ReplicaId": -1, "MaxWaitMs": 20_000, "MinBytes": 1 << 30, "MaxBytes": 1 << 20,
                    "SessionEpoch": -1, "Topics": [{"Topic": "life", "TopicId": tid, "Partitions": [
                        {"Partition": 0, "FetchOffset": end, "PartitionMaxBytes": 1 << 20,
                         "CurrentLeaderEpoch": -1, "LogStartOffset": -1, "LastFetchedEpoch": -1}]}],
                    "RackId": ""})
                parked["answer"] = resp
            except ConnectionError as e:
                parked["closed"] = str(e)
            parked["at"] = time.time()

    t_prod = threading.Thread(target=producer, daemon=True)
    t_prod.start()
    while len(delivered) < 2_000:
        time.sleep(0.05)
    t_poll = threading.Thread(target=long_poll, daemon=True)
    t_poll.start()
    time.sleep(0.5)  # the fetch is parked now

    stopping = time.time()
    log = b.log_text()
    if how == "kill9":
        b.kill9()
        t_poll.join(30)
        assert "closed" in parked  # nothing answers for a killed broker
        assert not (b.dir / "data" / ".kafka_cleanshutdown").exists()
    else:
        assert b.stop() == 0
        t_poll.join(30)
        # The parked fetch was answered by the stop, not dropped, and long before its 20 s.
        assert "answer" in parked, parked.get("closed")
        assert stopping < parked["at"] < stopping + 8
        [p] = parked["answer"]["Responses"][0]["Partitions"]
        assert p["ErrorCode"] == 0 and p["HighWatermark"] >= 2_000
        assert (b.dir / "data" / ".kafka_cleanshutdown").exists()
        log = b.log_text()
        assert "stopping on SIGTERM" in log and log.rstrip().endswith("keel stopped")

    time.sleep(1.0)  # the producer meets a broker that is not there
    b.start()
    assert done.wait(120), "the producer did not finish: %d delivered" % len(delivered)
    assert not failed, failed[:5]
    assert sorted(delivered) == list(range(RECORDS))
    got = consume(b.bootstrap, "life", RECORDS, timeout=60)
    assert [int(m.value()) for m in got] == list(range(RECORDS)), "lost, repeated or reordered records"
    second_start = b.log_text()[len(log):]
    if how == "kill9":
        assert "(unclean shutdown, 1 partitions recovered)" in second_start, second_start[:2000]
    else:
        assert "(clean shutdown" in second_start and "unclean" not in second_start, second_start[:2000]
