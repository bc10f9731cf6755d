"""/metrics, /health and /ready on the broker's HTTP listener (http.listeners):
every name of operations.md's dashboard lists that Keel serves is present with
the labels the dashboards filter on, in both dialects; the values move with
real traffic (confluent-kafka producing and consuming); a malformed or
oversized HTTP request gets a 4xx and the broker keeps serving Kafka clients."""

import json
import http.client
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import STORE, Broker, free_port
from pki import Pki

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """Prometheus text format -> {name: [(labels dict, value)]}; checks that
    every family has its HELP and TYPE before its samples."""
    out = {}
    typed = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, _, labels, value = m.groups()
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or base in typed, "sample before its TYPE line: %r" % line
        out.setdefault(name, []).append((dict(LABEL.findall(labels or "")), float(value)))
    return out


def value(samples, name, **labels):
    for l, v in samples.get(name, []):
        if all(l.get(k) == str(want) for k, want in labels.items()):
            return v
    raise AssertionError("no %s%r in the scrape (have: %r)" % (name, labels, samples.get(name, [])[:5]))


def http_get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def scrape(port):
    status, headers, body = http_get(port, "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(body)


def start(make_broker, names="strimzi", extra=""):
    port = free_port()
    b = make_broker(extra_config="http.listeners: http://127.0.0.1:%d\nmetrics.names: %s\n%s" % (port, names, extra))
    b.start()
    b.http_port = port
    deadline = time.time() + 20
    while http_get(port, "/ready")[0] != 200:
        assert time.time() < deadline, "never ready: %r" % (http_get(port, "/ready"),)
        time.sleep(0.1)
    return b


def traffic(bootstrap, topic, n=200):
    """n records produced, then consumed by a group that commits."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(n):
        p.produce(topic, value=b"v" * 100, key=b"k%d" % i, partition=0)
    assert p.flush(30) == 0
    group = "g-" + uuid.uuid4().hex[:8]
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    consume(c, n)
    c.commit(asynchronous=False)
    return c, group


def consume(c, n):
    """Polls the subscribed consumer c until it has n records (30 s at most)."""
    got = 0
    deadline = time.time() + 30
    while got < n and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got += 1
    assert got == n


# The names of operations.md §1.2 that Keel serves, in each dialect, with the
# labels dashboards filter on.
STRIMZI = {
    "kafka_server_brokertopicmetrics_messagesin_total": {"topic"},
    "kafka_server_brokertopicmetrics_bytesin_total": {"topic"},
    "kafka_server_brokertopicmetrics_bytesout_total": {"topic"},
    "kafka_server_brokertopicmetrics_totalproducerequests_total": {"topic"},
    "kafka_server_brokertopicmetrics_totalfetchrequests_total": {"topic"},
    "kafka_server_brokertopicmetrics_failedproducerequests_total": {"topic"},
    "kafka_server_brokertopicmetrics_failedfetchrequests_total": {"topic"},
    "kafka_server_replicamanager_underreplicatedpartitions": set(),
    "kafka_server_replicamanager_partitioncount": set(),
    "kafka_server_replicamanager_leadercount": set(),
    "kafka_server_replicamanager_underminisrpartitioncount": set(),
    "kafka_controller_kafkacontroller_activecontrollercount": set(),
    "kafka_controller_kafkacontroller_offlinepartitionscount": set(),
    "kafka_controller_kafkacontroller_globaltopiccount": set(),
    "kafka_controller_kafkacontroller_globalpartitioncount": set(),
    "kafka_controller_kafkacontroller_preferredreplicaimbalancecount": set(),
    "kafka_cluster_partition_underminisr": {"topic", "partition"},
    "kafka_cluster_partition_atminisr": {"topic", "partition"},
    "kafka_cluster_partition_replicascount": {"topic", "partition"},
    "kafka_log_log_size": {"topic", "partition"},
    "kafka_log_log_logendoffset": {"topic", "partition"},
    "kafka_log_log_logstartoffset": {"topic", "partition"},
    "kafka_network_requestmetrics_totaltimems": {"request", "quantile"},
    "kafka_network_requestmetrics_totaltimems_count": {"request"},
    "kafka_network_requestmetrics_requests_total": {"request", "version"},
    "kafka_server_socket_server_metrics_connection_count": {"listener", "networkProcessor"},
    "kafka_server_kafkaserver_brokerstate": set(),
    "kafka_coordinator_group_groupmetadatamanager_numgroups": set(),
    "kafka_coordinator_group_groupmetadatamanager_numgroupsstable": set(),
    "kafka_coordinator_group_groupmetadatamanager_numgroupsempty": set(),
    "kafka_server_fetchsessioncache_numincrementalfetchsessions": set(),
    "kafka_coordinator_group_groupmetadatamanager_numgroupspreparingrebalance": set(),
    "kafka_coordinator_group_groupmetadatamanager_numgroupscompletingrebalance": set(),
    "kafka_coordinator_group_groupmetadatamanager_numgroupsdead": set(),
    "kafka_network_requestchannel_requestqueuesize": set(),
    "kafka_network_requestchannel_responsequeuesize": set(),
    "kafka_network_socketserver_networkprocessoravgidle_percent": set(),
    "kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent": set(),
    "kafka_server_replicamanager_isrshrinks_total": set(),
    "kafka_server_replicamanager_isrexpands_total": set(),
    "kafka_controller_controllerstats_uncleanleaderelections_total": set(),
    "kafka_log_logmanager_offlinelogdirectorycount": set(),
    "kafka_server_sessionexpirelistener_zookeeperdisconnects_total": set(),
    "kafka_server_sessionexpirelistener_zookeeperexpires_total": set(),
    "kafka_server_socket_server_metrics_connection_creation_rate": {"listener", "networkProcessor"},
    "kafka_server_socket_server_metrics_connection_close_rate": {"listener", "networkProcessor"},
    "keel_request_latency_seconds_bucket": {"request", "le"},
    "kafka_network_requestmetrics_errors_total": {"request", "error"},
    "kafka_server_replicafetchermanager_maxlag": {"clientId"},
    "process_open_fds": set(),
    "process_cpu_seconds_total": set(),
    "process_resident_memory_bytes": set(),
}
CONFLUENT = {
    "kafka_server_brokertopicmetrics_messagesinpersec": {"topic"},
    "kafka_server_brokertopicmetrics_bytesinpersec": {"topic"},
    "kafka_server_brokertopicmetrics_bytesoutpersec": {"topic"},
    "kafka_server_brokertopicmetrics_totalproducerequestspersec": {"topic"},
    "kafka_server_brokertopicmetrics_totalfetchrequestspersec": {"topic"},
    "kafka_server_replicamanager_underreplicatedpartitions": set(),
    "kafka_server_replicamanager_partitioncount": set(),
    "kafka_server_replicamanager_leadercount": set(),
    "kafka_controller_kafkacontroller_activecontrollercount": set(),
    "kafka_controller_kafkacontroller_offlinepartitionscount": set(),
    "kafka_cluster_partition_underminisr": {"topic", "partition"},
    "kafka_log_log_size": {"topic", "partition"},
    "kafka_network_requestmetrics_totaltimems": {"request", "quantile"},
    "kafka_network_requestmetrics_requestspersec": {"request", "version"},
    "kafka_server_socketservermetrics_connection_count": {"listener", "network_processor"},
    "kafka_server_kafkaserver_brokerstate": set(),
    "kafka_coordinator_group_groupmetadatamanager_numgroups": set(),
    "kafka_server_fetchsessioncache_numincrementalfetchsessions": set(),
    "kafka_coordinator_group_groupmetadatamanager_numgroupsdead": set(),
    "kafka_network_requestchannel_requestqueuesize": set(),
    "kafka_network_requestchannel_responsequeuesize": set(),
    "kafka_network_socketserver_networkprocessoravgidlepercent": set(),
    "kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent_oneminuterate": set(),
    "kafka_server_replicamanager_isrshrinkspersec": set(),
    "kafka_server_replicamanager_isrexpandspersec": set(),
    "kafka_controller_controllerstats_uncleanleaderelectionspersec": set(),
    "kafka_log_logmanager_offlinelogdirectorycount": set(),
    "kafka_server_sessionexpirelistener_zookeeperdisconnectspersec": set(),
    "kafka_server_socketservermetrics_connection_creation_rate": {"listener", "network_processor"},
    "kafka_server_socketservermetrics_connection_close_rate": {"listener", "network_processor"},
    "kafka_network_requestmetrics_errorspersec": {"request", "error"},
    "kafka_server_replicafetchermanager_maxlag": {"clientid"},
    "process_cpu_seconds_total": set(),
}
# Served only with ZooKeeper as the store (Kafka's name is ZooKeeper's).
ZOOKEEPER_ONLY = {
    "kafka_server_zookeeperclientmetrics_zookeeperrequestlatencyms": {"quantile"},
    "kafka_server_zookeeperclientmetrics_zookeeperrequestlatencyms_count": set(),
}


def check_names(samples, wanted):
    missing = [n for n in wanted if n not in samples]
    assert not missing, "missing from /metrics: %s" % missing
    for name, labels in wanted.items():
        assert any(labels <= set(l) for l, _ in samples[name]), \
            "%s lacks labels %s: %r" % (name, labels, samples[name][:3])


def test_strimzi_names_are_served_and_move_with_traffic(make_broker):
    b = start(make_broker)
    topic = "metrics-" + uuid.uuid4().hex[:8]
    before = scrape(b.http_port)
    assert value(before, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert value(before, "kafka_server_kafkaserver_brokerstate") == 3
    consumer, group = traffic(b.bootstrap, topic)
    try:
        s = scrape(b.http_port)
        check_names(s, STRIMZI)
        assert value(s, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == 200
        assert value(s, "kafka_server_brokertopicmetrics_bytesin_total", topic=topic) > 200 * 100
        assert value(s, "kafka_server_brokertopicmetrics_bytesout_total", topic=topic) > 200 * 100
        assert value(s, "kafka_server_brokertopicmetrics_totalproducerequests_total", topic=topic) >= 1
        assert value(s, "kafka_server_brokertopicmetrics_totalfetchrequests_total", topic=topic) >= 1
        assert value(s, "kafka_log_log_logendoffset", topic=topic, partition=0) == 200
        assert value(s, "kafka_log_log_logstartoffset", topic=topic, partition=0) == 0
        assert value(s, "kafka_log_log_size", topic=topic, partition=0) > 200 * 100
        assert value(s, "kafka_cluster_partition_replicascount", topic=topic, partition=0) == 1
        assert value(s, "kafka_server_replicamanager_partitioncount") >= 2  # the topic and __consumer_offsets
        assert value(s, "kafka_server_replicamanager_leadercount") == value(s, "kafka_server_replicamanager_partitioncount")
        assert value(s, "kafka_server_replicamanager_underreplicatedpartitions") == 0
        assert value(s, "kafka_controller_kafkacontroller_globaltopiccount") >= 2
        assert value(s, "kafka_network_requestmetrics_requests_total", request="Produce") >= 1
        assert value(s, "kafka_network_requestmetrics_totaltimems_count", request="Produce") >= 1
        assert value(s, "kafka_network_requestmetrics_totaltimems_count", request="FetchConsumer") >= 1
        assert value(s, "kafka_network_requestmetrics_totaltimems", request="Metadata", quantile="0.99") > 0
        assert value(s, "keel_request_latency_seconds_bucket", request="Produce", le="+Inf") >= 1
        assert value(s, "kafka_server_socket_server_metrics_connection_count", listener="PLAINTEXT",
                     networkProcessor="0") >= 1
        assert value(s, "kafka_network_requestmetrics_errors_total", request="ApiVersions", error="NONE") >= 1
        assert value(s, "kafka_server_replicafetchermanager_maxlag", clientId="Replica") == 0
        if STORE == "zookeeper":
            check_names(s, ZOOKEEPER_ONLY)
            assert value(s, "kafka_server_zookeeperclientmetrics_zookeeperrequestlatencyms_count") > 0
        assert value(s, "kafka_coordinator_group_groupmetadatamanager_numgroups") >= 1
        assert value(s, "kafka_server_fetchsessioncache_numincrementalfetchsessions") >= 0
        for idle in ("kafka_network_socketserver_networkprocessoravgidle_percent",
                     "kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent"):
            assert 0 <= value(s, idle) <= 1
        assert value(s, "kafka_network_requestchannel_requestqueuesize") >= 0
        assert value(s, "kafka_server_replicamanager_isrshrinks_total") == 0  # one broker: nothing to shrink
        assert value(s, "kafka_log_logmanager_offlinelogdirectorycount") == 0
        # Connections were made since start: a positive creation rate.
        assert value(s, "kafka_server_socket_server_metrics_connection_creation_rate", listener="PLAINTEXT") > 0
        assert value(s, "process_open_fds") > 10
        assert value(s, "process_resident_memory_bytes") > 1e6
        # Consumer lag in kafka_exporter's names, from the coordinator and the leader.
        assert value(s, "kafka_consumergroup_current_offset", consumergroup=group, topic=topic, partition=0) == 200
        assert value(s, "kafka_consumergroup_lag", consumergroup=group, topic=topic, partition=0) == 0
        assert value(s, "kafka_consumergroup_members", consumergroup=group) == 1
        assert value(s, "keel_consumergroup_lag_seconds", consumergroup=group, topic=topic, partition=0) == 0
        assert value(s, "keel_consumergroup_status", consumergroup=group, status="OK") == 1
        assert value(s, "keel_consumergroup_status_code", consumergroup=group) == 2
        assert value(s, "kafka_topic_partition_current_offset", topic=topic, partition=0) == 200
        assert value(s, "kafka_topic_partition_oldest_offset", topic=topic, partition=0) == 0
        # Ten records an hour old (CreateTime): the lag is 10 records and an hour.
        p = Producer({"bootstrap.servers": b.bootstrap})
        an_hour_ago = int(time.time() * 1000) - 3600 * 1000
        for _ in range(10):
            p.produce(topic, b"more", partition=0, timestamp=an_hour_ago)
        assert p.flush(30) == 0
        time.sleep(1.1)  # the group table is read at most once a second
        later = scrape(b.http_port)
        assert value(later, "kafka_consumergroup_lag", consumergroup=group, topic=topic, partition=0) == 10
        assert value(later, "kafka_consumergroup_lag_sum", consumergroup=group, topic=topic) == 10
        assert 3600 <= value(later, "keel_consumergroup_lag_seconds", consumergroup=group, topic=topic,
                             partition=0) < 3660
        assert value(later, "kafka_topic_partition_current_offset", topic=topic, partition=0) == 210
        # The request counters grew with the clients' requests.
        total = lambda samples: sum(v for _, v in samples["kafka_network_requestmetrics_requests_total"])
        assert total(s) > total(before) + 3
    finally:
        consumer.close()
    assert b.stop() == 0


def test_assigned_partitions_never_committed_are_minus_one(make_broker):
    """kafka_exporter's -1: a member holds partition 1 but the group only
    ever committed partition 0."""
    from confluent_kafka.admin import AdminClient, NewTopic
    b = start(make_broker)
    topic = "minus-" + uuid.uuid4().hex[:8]
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
    p = Producer({"bootstrap.servers": b.bootstrap})
    for i in range(10):
        p.produce(topic, b"x", partition=i % 2)
    assert p.flush(30) == 0
    group = "g-" + uuid.uuid4().hex[:8]
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    consume(c, 10)
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
        time.sleep(1.1)  # the group table is read at most once a second
        s = scrape(b.http_port)
        assert value(s, "kafka_consumergroup_current_offset", consumergroup=group, topic=topic, partition=0) == 5
        assert value(s, "kafka_consumergroup_lag", consumergroup=group, topic=topic, partition=0) == 0
        assert value(s, "kafka_consumergroup_current_offset", consumergroup=group, topic=topic, partition=1) == -1
        assert value(s, "kafka_consumergroup_lag", consumergroup=group, topic=topic, partition=1) == -1
        assert value(s, "keel_consumergroup_lag_seconds", consumergroup=group, topic=topic, partition=1) == -1
        assert value(s, "kafka_consumergroup_lag_sum", consumergroup=group, topic=topic) == 0
    finally:
        c.close()
    assert b.stop() == 0


def test_confluent_names_are_served(make_broker):
    b = start(make_broker, names="confluent")
    topic = "metrics-" + uuid.uuid4().hex[:8]
    consumer, _ = traffic(b.bootstrap, topic, n=50)
    try:
        s = scrape(b.http_port)
        check_names(s, CONFLUENT)
        assert value(s, "kafka_server_brokertopicmetrics_messagesinpersec", topic=topic) == 50
        assert "kafka_server_brokertopicmetrics_messagesin_total" not in s
        assert value(s, "kafka_server_socketservermetrics_connection_count", listener="PLAINTEXT",
                     network_processor="0") >= 1
    finally:
        consumer.close()
    assert b.stop() == 0


def test_a_scrape_that_accepts_gzip_gets_the_same_metrics_compressed(make_broker):
    """Prometheus sends Accept-Encoding: gzip; the answer is compressed then,
    and only then, and reads back as the same families and series."""
    import gzip
    b = start(make_broker)
    topic = "gz-" + uuid.uuid4().hex[:8]
    consumer, _ = traffic(b.bootstrap, topic, n=20)
    try:
        req = urllib.request.Request("http://127.0.0.1:%d/metrics" % b.http_port,
                                     headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.headers["Content-Encoding"] == "gzip"
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            compressed = r.read()
        text = gzip.decompress(compressed).decode()
        assert len(compressed) * 4 < len(text), (len(compressed), len(text))
        zipped = parse(text)
        status, headers, plain_text = http_get(b.http_port, "/metrics")
        assert status == 200 and headers["Content-Encoding"] is None
        plain = parse(plain_text)
        # The plain scrape came second: what the consumer did meanwhile may add series, not remove them.
        series = lambda s: {(n, tuple(sorted(l.items()))) for n, samples in s.items() for l, _ in samples}
        assert series(zipped) <= series(plain) and len(series(zipped)) > 100
        assert value(zipped, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == 20
        # A client that refuses gzip gets text.
        req = urllib.request.Request("http://127.0.0.1:%d/metrics" % b.http_port,
                                     headers={"Accept-Encoding": "gzip;q=0, identity"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.headers["Content-Encoding"] is None
            parse(r.read().decode())
    finally:
        consumer.close()
    assert b.stop() == 0


def test_health_and_ready(make_broker):
    b = start(make_broker)
    status, _, body = http_get(b.http_port, "/health")
    assert status == 200 and json.loads(body)["status"] == "live"
    status, _, body = http_get(b.http_port, "/ready")
    assert status == 200 and json.loads(body)["ready"] is True
    status, _, body = http_get(b.http_port, "/nope")
    assert status == 404 and json.loads(body)["error_code"] == 404
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % b.http_port, data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 405
    assert b.stop() == 0


def test_not_ready_while_joining(make_broker):
    """A broker whose ZooKeeper does not answer is alive but not ready, and
    says why."""
    port = free_port()
    dead_zk = "127.0.0.1:%d" % free_port()
    b = make_broker(zookeeper=dead_zk, extra_config="http.listeners: http://127.0.0.1:%d\n"
                                                     "zookeeper.connection.timeout.ms: 8000\n" % port)
    b.start()
    deadline = time.time() + 5
    while True:
        try:
            status, _, body = http_get(port, "/ready")
            break
        except OSError:
            assert time.time() < deadline
            time.sleep(0.05)
    assert status == 503
    assert json.loads(body) == {"ready": False, "reason": "joining the cluster"}
    status, _, body = http_get(port, "/health")
    assert status == 200 and json.loads(body)["stage"] == "joining"
    b.stop()


def raw_http(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def test_bad_http_requests_get_4xx_and_the_broker_keeps_serving(make_broker):
    b = start(make_broker)
    assert raw_http(b.http_port, b"\x00\x01 not http at all\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw_http(b.http_port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n") \
        .startswith(b"HTTP/1.1 431")
    assert raw_http(b.http_port, b"POST /metrics HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nxx") \
        .startswith(b"HTTP/1.1 413")
    # Kafka clients and scrapes are unaffected.
    topic = "after-" + uuid.uuid4().hex[:8]
    p = Producer({"bootstrap.servers": b.bootstrap})
    p.produce(topic, b"still here")
    assert p.flush(30) == 0
    assert value(scrape(b.http_port), "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == 1
    assert b.stop() == 0


def test_http_listener_slow_request_gets_408(make_broker):
    b = start(make_broker, extra="http.request.timeout.ms: 500\n")
    t0 = time.time()
    assert raw_http(b.http_port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n").startswith(b"HTTP/1.1 408")
    assert time.time() - t0 < 5
    assert scrape(b.http_port)
    assert b.stop() == 0


def test_https_listener_serves_the_same_metrics(make_broker, tmp_path):
    """/metrics over https (the broker's TLS keys) has the names and labels
    the http listener has; a plain-http request to it gets no metrics."""
    pki = Pki(tmp_path / "pki")
    port = free_port()
    b = make_broker(extra_config="http.listeners: https://127.0.0.1:%d\n" % port +
                    "ssl.keystore.type: PEM\nssl.keystore.location: %s\n" % pki.path("broker-store.pem") +
                    "ssl.truststore.type: PEM\nssl.truststore.location: %s\n" % pki.path("ca.pem"))
    b.start()
    ctx = ssl.create_default_context(cafile=str(pki.path("ca.pem")))

    def get(path):
        try:
            with urllib.request.urlopen("https://127.0.0.1:%d%s" % (port, path), timeout=10, context=ctx) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    deadline = time.time() + 20
    while get("/ready")[0] != 200:
        assert time.time() < deadline, "never ready over https"
        time.sleep(0.1)
    topic = "metrics-" + uuid.uuid4().hex[:8]
    consumer, _ = traffic(b.bootstrap, topic, n=20)
    try:
        status, headers, body = get("/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        s = parse(body)
        check_names(s, STRIMZI)
        assert value(s, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == 20
    finally:
        consumer.close()
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read()
    assert b.stop() == 0
