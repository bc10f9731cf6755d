"""Runs one client scenario with a current librdkafka (2.15, built by
scripts/build-librdkafka.sh) against a keel broker and prints the result as one
JSON object on stdout. tests/integration/test_modern_clients.py starts it as

    LD_LIBRARY_PATH=<cache>/lib /usr/bin/python3 modern_rdkafka_driver.py SCENARIO < args.json

so Debian's python3-confluent-kafka (which links librdkafka.so.1 dynamically)
loads the new library; pytest's own process keeps Debian's 2.0.2. The admin calls
Debian's binding (1.7.0) does not wrap - DescribeCluster, ListConsumerGroups,
DescribeConsumerGroups, ListOffsets and IncrementalAlterConfigs - are made
through ctypes on the same loaded library. Keys, values and header values go
out as text; the test compares them with what it asked for."""

import ctypes
import json
import sys
import time
import uuid

import confluent_kafka
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic


def out(result):
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def text(b):
    return None if b is None else b.decode("utf-8", "replace")


def record(msg):
    return {"partition": msg.partition(), "offset": msg.offset(), "key": text(msg.key()),
            "value": text(msg.value()), "headers": [[k, text(v)] for k, v in (msg.headers() or [])],
            "timestamp": msg.timestamp()[1]}


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def create_topic(bootstrap, topic, partitions, config=None):
    ad = admin(bootstrap)  # kept alive until the result is in
    fs = ad.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=20, request_timeout=30)
    fs[topic].result(30)


def produce(bootstrap, topic, messages, settings):
    """Produces messages ({key, value, headers: [[k, v]], partition}); returns the
    delivery reports in the order they came."""
    conf = {"bootstrap.servers": bootstrap, "linger.ms": 50, "acks": "all", "message.timeout.ms": 30000}
    conf.update(settings)
    p = Producer(conf)
    reports = []

    def on_delivery(err, msg):
        reports.append({"partition": msg.partition(), "offset": msg.offset(),
                        "error": None if err is None else err.str(),
                        "errorName": None if err is None else err.name(), "value": text(msg.value())})

    for m in messages:
        kwargs = {"value": None if m.get("value") is None else m["value"].encode(),
                  "on_delivery": on_delivery}
        if m.get("key") is not None:
            kwargs["key"] = m["key"].encode()
        if m.get("headers"):
            kwargs["headers"] = [(k, None if v is None else v.encode()) for k, v in m["headers"]]
        if m.get("partition") is not None:
            kwargs["partition"] = m["partition"]
        while True:
            try:
                p.produce(topic, **kwargs)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(60)
    return reports, left


def read_partitions(bootstrap, topic, partitions, expect, timeout=30):
    """Reads every partition from the beginning, group-less (assign), with CRC checks."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "enable.partition.eof": False, "check.crcs": True})
    c.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(partitions)])
    got, errors = [], []
    deadline = time.time() + timeout
    try:
        while len(got) < expect and time.time() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                errors.append(msg.error().str())
                continue
            got.append(record(msg))
        # Anything past what was expected would be a duplicate.
        end = time.time() + 1.0
        while time.time() < end:
            msg = c.poll(0.2)
            if msg is not None and not msg.error():
                got.append(record(msg))
    finally:
        c.close()
    return got, errors


# --- the admin API of librdkafka 2.15 that Debian's binding does not wrap, through ctypes

class _TP(ctypes.Structure):
    _fields_ = [("topic", ctypes.c_char_p), ("partition", ctypes.c_int32), ("offset", ctypes.c_int64),
                ("metadata", ctypes.c_void_p), ("metadata_size", ctypes.c_size_t),
                ("opaque", ctypes.c_void_p), ("err", ctypes.c_int), ("_private", ctypes.c_void_p)]


class _TPList(ctypes.Structure):
    _fields_ = [("cnt", ctypes.c_int), ("size", ctypes.c_int), ("elems", ctypes.POINTER(_TP))]


class RawAdmin:
    """A librdkafka handle of its own, driven through the C admin API."""

    def __init__(self, bootstrap):
        lib = self.lib = ctypes.CDLL("librdkafka.so.1")
        vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
        psz = ctypes.POINTER(ctypes.c_size_t)
        sigs = {
            "rd_kafka_version_str": (cp, []),
            "rd_kafka_conf_new": (vp, []),
            "rd_kafka_conf_set": (ctypes.c_int, [vp, cp, cp, cp, sz]),
            "rd_kafka_new": (vp, [ctypes.c_int, vp, cp, sz]),
            "rd_kafka_destroy": (None, [vp]),
            "rd_kafka_queue_new": (vp, [vp]),
            "rd_kafka_queue_destroy": (None, [vp]),
            "rd_kafka_queue_poll": (vp, [vp, ctypes.c_int]),
            "rd_kafka_event_error": (ctypes.c_int, [vp]),
            "rd_kafka_event_error_string": (cp, [vp]),
            "rd_kafka_event_destroy": (None, [vp]),
            "rd_kafka_AdminOptions_new": (vp, [vp, ctypes.c_int]),
            "rd_kafka_AdminOptions_destroy": (None, [vp]),
            "rd_kafka_AdminOptions_set_request_timeout": (ctypes.c_int, [vp, ctypes.c_int, cp, sz]),
            "rd_kafka_error_code": (ctypes.c_int, [vp]),
            "rd_kafka_error_string": (cp, [vp]),
            "rd_kafka_Node_id": (ctypes.c_int, [vp]),
            "rd_kafka_Node_host": (cp, [vp]),
            "rd_kafka_Node_port": (ctypes.c_uint16, [vp]),
            "rd_kafka_DescribeCluster": (None, [vp, vp, vp]),
            "rd_kafka_event_DescribeCluster_result": (vp, [vp]),
            "rd_kafka_DescribeCluster_result_nodes": (ctypes.POINTER(vp), [vp, psz]),
            "rd_kafka_DescribeCluster_result_controller": (vp, [vp]),
            "rd_kafka_DescribeCluster_result_cluster_id": (cp, [vp]),
            "rd_kafka_ListConsumerGroups": (None, [vp, vp, vp]),
            "rd_kafka_event_ListConsumerGroups_result": (vp, [vp]),
            "rd_kafka_ListConsumerGroups_result_valid": (ctypes.POINTER(vp), [vp, psz]),
            "rd_kafka_ListConsumerGroups_result_errors": (ctypes.POINTER(vp), [vp, psz]),
            "rd_kafka_ConsumerGroupListing_group_id": (cp, [vp]),
            "rd_kafka_ConsumerGroupListing_state": (ctypes.c_int, [vp]),
            "rd_kafka_ConsumerGroupListing_is_simple_consumer_group": (ctypes.c_int, [vp]),
            "rd_kafka_consumer_group_state_name": (cp, [ctypes.c_int]),
            "rd_kafka_DescribeConsumerGroups": (None, [vp, ctypes.POINTER(cp), sz, vp, vp]),
            "rd_kafka_event_DescribeConsumerGroups_result": (vp, [vp]),
            "rd_kafka_DescribeConsumerGroups_result_groups": (ctypes.POINTER(vp), [vp, psz]),
            "rd_kafka_ConsumerGroupDescription_group_id": (cp, [vp]),
            "rd_kafka_ConsumerGroupDescription_error": (vp, [vp]),
            "rd_kafka_ConsumerGroupDescription_state": (ctypes.c_int, [vp]),
            "rd_kafka_ConsumerGroupDescription_partition_assignor": (cp, [vp]),
            "rd_kafka_ConsumerGroupDescription_coordinator": (vp, [vp]),
            "rd_kafka_ConsumerGroupDescription_member_count": (sz, [vp]),
            "rd_kafka_ConsumerGroupDescription_member": (vp, [vp, sz]),
            "rd_kafka_MemberDescription_client_id": (cp, [vp]),
            "rd_kafka_MemberDescription_consumer_id": (cp, [vp]),
            "rd_kafka_MemberDescription_assignment": (vp, [vp]),
            "rd_kafka_MemberAssignment_partitions": (ctypes.POINTER(_TPList), [vp]),
            "rd_kafka_topic_partition_list_new": (ctypes.POINTER(_TPList), [ctypes.c_int]),
            "rd_kafka_topic_partition_list_add": (ctypes.POINTER(_TP), [ctypes.POINTER(_TPList), cp, ctypes.c_int32]),
            "rd_kafka_topic_partition_list_destroy": (None, [ctypes.POINTER(_TPList)]),
            "rd_kafka_ListOffsets": (None, [vp, ctypes.POINTER(_TPList), vp, vp]),
            "rd_kafka_event_ListOffsets_result": (vp, [vp]),
            "rd_kafka_ListOffsets_result_infos": (ctypes.POINTER(vp), [vp, psz]),
            "rd_kafka_ListOffsetsResultInfo_topic_partition": (ctypes.POINTER(_TP), [vp]),
            "rd_kafka_ListOffsetsResultInfo_timestamp": (ctypes.c_int64, [vp]),
            "rd_kafka_ConfigResource_new": (vp, [ctypes.c_int, cp]),
            "rd_kafka_ConfigResource_destroy": (None, [vp]),
            "rd_kafka_ConfigResource_add_incremental_config": (vp, [vp, cp, ctypes.c_int, cp]),
            "rd_kafka_ConfigResource_error": (ctypes.c_int, [vp]),
            "rd_kafka_ConfigResource_error_string": (cp, [vp]),
            "rd_kafka_ConfigResource_name": (cp, [vp]),
            "rd_kafka_IncrementalAlterConfigs": (None, [vp, ctypes.POINTER(vp), sz, vp, vp]),
            "rd_kafka_event_IncrementalAlterConfigs_result": (vp, [vp]),
            "rd_kafka_IncrementalAlterConfigs_result_resources": (ctypes.POINTER(vp), [vp, psz]),
        }
        for name, (res, argtypes) in sigs.items():
            f = getattr(lib, name)
            f.restype, f.argtypes = res, argtypes
        errstr = ctypes.create_string_buffer(512)
        conf = lib.rd_kafka_conf_new()
        for k, v in (("bootstrap.servers", bootstrap), ("client.id", "keel-modern-raw-admin")):
            if lib.rd_kafka_conf_set(conf, k.encode(), v.encode(), errstr, 512) != 0:
                raise RuntimeError(errstr.value.decode())
        self.rk = lib.rd_kafka_new(0, conf, errstr, 512)  # RD_KAFKA_PRODUCER
        if not self.rk:
            raise RuntimeError(errstr.value.decode())
        self.queue = lib.rd_kafka_queue_new(self.rk)

    def close(self):
        self.lib.rd_kafka_queue_destroy(self.queue)
        self.lib.rd_kafka_destroy(self.rk)

    def _options(self):
        errstr = ctypes.create_string_buffer(512)
        opts = self.lib.rd_kafka_AdminOptions_new(self.rk, 0)  # RD_KAFKA_ADMIN_OP_ANY
        self.lib.rd_kafka_AdminOptions_set_request_timeout(opts, 20000, errstr, 512)
        return opts

    def _wait(self, accessor, what, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ev = self.lib.rd_kafka_queue_poll(self.queue, 500)
            if not ev:
                continue
            result = getattr(self.lib, accessor)(ev)
            if not result:
                self.lib.rd_kafka_event_destroy(ev)
                continue
            err = self.lib.rd_kafka_event_error(ev)
            if err:
                msg = self.lib.rd_kafka_event_error_string(ev)
                self.lib.rd_kafka_event_destroy(ev)
                raise RuntimeError("%s failed: %d %s" % (what, err, text(msg)))
            return ev, result
        raise RuntimeError("%s: no result within %d s" % (what, timeout))

    def _node(self, node):
        lib = self.lib
        return None if not node else {"id": lib.rd_kafka_Node_id(node), "host": text(lib.rd_kafka_Node_host(node)),
                                      "port": lib.rd_kafka_Node_port(node)}

    def describe_cluster(self):
        lib = self.lib
        opts = self._options()
        lib.rd_kafka_DescribeCluster(self.rk, opts, self.queue)
        ev, res = self._wait("rd_kafka_event_DescribeCluster_result", "DescribeCluster")
        try:
            n = ctypes.c_size_t()
            nodes = lib.rd_kafka_DescribeCluster_result_nodes(res, ctypes.byref(n))
            return {"clusterId": text(lib.rd_kafka_DescribeCluster_result_cluster_id(res)),
                    "controller": self._node(lib.rd_kafka_DescribeCluster_result_controller(res)),
                    "nodes": [self._node(nodes[i]) for i in range(n.value)]}
        finally:
            lib.rd_kafka_event_destroy(ev)
            lib.rd_kafka_AdminOptions_destroy(opts)

    def list_consumer_groups(self):
        lib = self.lib
        opts = self._options()
        lib.rd_kafka_ListConsumerGroups(self.rk, opts, self.queue)
        ev, res = self._wait("rd_kafka_event_ListConsumerGroups_result", "ListConsumerGroups")
        try:
            n = ctypes.c_size_t()
            valid = lib.rd_kafka_ListConsumerGroups_result_valid(res, ctypes.byref(n))
            groups = [{"groupId": text(lib.rd_kafka_ConsumerGroupListing_group_id(valid[i])),
                       "state": text(lib.rd_kafka_consumer_group_state_name(
                           lib.rd_kafka_ConsumerGroupListing_state(valid[i]))),
                       "simple": bool(lib.rd_kafka_ConsumerGroupListing_is_simple_consumer_group(valid[i]))}
                      for i in range(n.value)]
            e = ctypes.c_size_t()
            errs = lib.rd_kafka_ListConsumerGroups_result_errors(res, ctypes.byref(e))
            errors = [text(lib.rd_kafka_error_string(errs[i])) for i in range(e.value)]
            return {"groups": sorted(groups, key=lambda g: g["groupId"]), "errors": errors}
        finally:
            lib.rd_kafka_event_destroy(ev)
            lib.rd_kafka_AdminOptions_destroy(opts)

    def describe_consumer_groups(self, names):
        lib = self.lib
        opts = self._options()
        arr = (ctypes.c_char_p * len(names))(*[n.encode() for n in names])
        lib.rd_kafka_DescribeConsumerGroups(self.rk, arr, len(names), opts, self.queue)
        ev, res = self._wait("rd_kafka_event_DescribeConsumerGroups_result", "DescribeConsumerGroups")
        try:
            n = ctypes.c_size_t()
            descs = lib.rd_kafka_DescribeConsumerGroups_result_groups(res, ctypes.byref(n))
            groups = []
            for i in range(n.value):
                d = descs[i]
                err = lib.rd_kafka_ConsumerGroupDescription_error(d)
                members = []
                for m in range(lib.rd_kafka_ConsumerGroupDescription_member_count(d)):
                    md = lib.rd_kafka_ConsumerGroupDescription_member(d, m)
                    parts = lib.rd_kafka_MemberAssignment_partitions(lib.rd_kafka_MemberDescription_assignment(md))
                    assigned = []
                    if parts:
                        lst = parts.contents
                        assigned = sorted([text(lst.elems[j].topic), lst.elems[j].partition] for j in range(lst.cnt))
                    members.append({"clientId": text(lib.rd_kafka_MemberDescription_client_id(md)),
                                    "memberId": text(lib.rd_kafka_MemberDescription_consumer_id(md)),
                                    "assignment": assigned})
                groups.append({
                    "groupId": text(lib.rd_kafka_ConsumerGroupDescription_group_id(d)),
                    "error": None if not err else text(lib.rd_kafka_error_string(err)),
                    "state": text(lib.rd_kafka_consumer_group_state_name(lib.rd_kafka_ConsumerGroupDescription_state(d))),
                    "assignor": text(lib.rd_kafka_ConsumerGroupDescription_partition_assignor(d)),
                    "coordinator": self._node(lib.rd_kafka_ConsumerGroupDescription_coordinator(d)),
                    "members": sorted(members, key=lambda x: x["assignment"])})
            return groups
        finally:
            lib.rd_kafka_event_destroy(ev)
            lib.rd_kafka_AdminOptions_destroy(opts)

    def list_offsets(self, topic, partitions, spec):
        """spec: -2 earliest, -1 latest, -3 max timestamp, else a timestamp (ms)."""
        lib = self.lib
        lst = lib.rd_kafka_topic_partition_list_new(len(partitions))
        for p in partitions:
            lib.rd_kafka_topic_partition_list_add(lst, topic.encode(), p).contents.offset = spec
        opts = self._options()
        lib.rd_kafka_ListOffsets(self.rk, lst, opts, self.queue)
        lib.rd_kafka_topic_partition_list_destroy(lst)
        ev, res = self._wait("rd_kafka_event_ListOffsets_result", "ListOffsets")
        try:
            n = ctypes.c_size_t()
            infos = lib.rd_kafka_ListOffsets_result_infos(res, ctypes.byref(n))
            answers = []
            for i in range(n.value):
                tp = lib.rd_kafka_ListOffsetsResultInfo_topic_partition(infos[i]).contents
                answers.append({"partition": tp.partition, "offset": tp.offset, "error": tp.err,
                                "timestamp": lib.rd_kafka_ListOffsetsResultInfo_timestamp(infos[i])})
            return sorted(answers, key=lambda a: a["partition"])
        finally:
            lib.rd_kafka_event_destroy(ev)
            lib.rd_kafka_AdminOptions_destroy(opts)

    def incremental_alter_topic(self, topic, ops):
        """ops: [(name, op, value)] with op 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT."""
        lib = self.lib
        res_obj = lib.rd_kafka_ConfigResource_new(2, topic.encode())  # RD_KAFKA_RESOURCE_TOPIC
        for name, op, value in ops:
            err = lib.rd_kafka_ConfigResource_add_incremental_config(
                res_obj, name.encode(), op, None if value is None else value.encode())
            if err:
                raise RuntimeError(text(lib.rd_kafka_error_string(err)))
        arr = (ctypes.c_void_p * 1)(res_obj)
        opts = self._options()
        lib.rd_kafka_IncrementalAlterConfigs(self.rk, arr, 1, opts, self.queue)
        lib.rd_kafka_ConfigResource_destroy(res_obj)
        ev, res = self._wait("rd_kafka_event_IncrementalAlterConfigs_result", "IncrementalAlterConfigs")
        try:
            n = ctypes.c_size_t()
            resources = lib.rd_kafka_IncrementalAlterConfigs_result_resources(res, ctypes.byref(n))
            return [{"name": text(lib.rd_kafka_ConfigResource_name(resources[i])),
                     "error": lib.rd_kafka_ConfigResource_error(resources[i]),
                     "errorString": text(lib.rd_kafka_ConfigResource_error_string(resources[i]))}
                    for i in range(n.value)]
        finally:
            lib.rd_kafka_event_destroy(ev)
            lib.rd_kafka_AdminOptions_destroy(opts)


# --- scenarios

def scenario_version(a):
    raw = ctypes.CDLL("librdkafka.so.1")
    raw.rd_kafka_version_str.restype = ctypes.c_char_p
    return {"libversion": list(confluent_kafka.libversion()), "ctypes": raw.rd_kafka_version_str().decode()}


def scenario_produce_consume(a):
    """Creates the topic, produces a["messages"] with a["settings"] (codec,
    idempotence), reads every partition back from the beginning."""
    create_topic(a["bootstrap"], a["topic"], a["partitions"])
    reports, left = produce(a["bootstrap"], a["topic"], a["messages"], a.get("settings", {}))
    records, errors = read_partitions(a["bootstrap"], a["topic"], a["partitions"], len(a["messages"]))
    return {"libversion": confluent_kafka.libversion()[0], "reports": reports, "unflushed": left,
            "records": records, "consumeErrors": errors}


def scenario_rejected_record(a):
    """A compacted topic: a keyed batch, then one batch of five in which the
    second and fourth have no key (Kafka rejects that batch and names the two:
    KIP-467's record errors, which librdkafka 2.4+ maps to INVALID_RECORD for
    those and _INVALID_DIFFERENT_RECORD for the others; with a single record
    error librdkafka 2.15 gives every record INVALID_RECORD, so two are used),
    then another keyed batch."""
    bootstrap, topic = a["bootstrap"], a["topic"]
    create_topic(bootstrap, topic, 1, {"cleanup.policy": "compact"})
    settings = {"linger.ms": 200, "batch.num.messages": 100, "enable.idempotence": False, "retries": 0}
    phases = []
    for name, msgs in (("before", [{"key": "k%d" % i, "value": "before-%d" % i, "partition": 0} for i in range(5)]),
                       ("mixed", [{"key": None if i in (1, 3) else "k%d" % i, "value": "mixed-%d" % i, "partition": 0}
                                  for i in range(5)]),
                       ("after", [{"key": "k%d" % i, "value": "after-%d" % i, "partition": 0} for i in range(3)])):
        reports, left = produce(bootstrap, topic, msgs, settings)
        phases.append({"phase": name, "reports": reports, "unflushed": left})
    records, errors = read_partitions(bootstrap, topic, 1, 8)
    return {"phases": phases, "records": records, "consumeErrors": errors}


def scenario_group(a):
    """Two consumers in one group. The first alone takes every partition and
    reads the first half, committing each record synchronously; the second
    joins, the partitions split, the second half is produced and both read
    until every record is in; a fresh consumer then reads the commits."""
    bootstrap, topic, group, parts = a["bootstrap"], a["topic"], a["group"], a["partitions"]
    create_topic(bootstrap, topic, parts)
    first = [{"key": "k%d" % i, "value": "first-%d" % i, "partition": i % parts} for i in range(a["each"])]
    second = [{"key": "k%d" % i, "value": "second-%d" % i, "partition": i % parts} for i in range(a["each"])]
    produce(bootstrap, topic, first, {"compression.type": "lz4"})

    events, records = [], []
    assignment = {0: [], 1: []}

    def make(member):
        def on_assign(c, tps):
            assignment[member] = sorted(tp.partition for tp in tps)
            events.append({"member": member, "event": "assign", "partitions": assignment[member]})

        def on_revoke(c, tps):
            events.append({"member": member, "event": "revoke", "partitions": sorted(tp.partition for tp in tps)})
            assignment[member] = []

        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": "modern-member-%d" % member,
                      "enable.auto.commit": False, "auto.offset.reset": "earliest",
                      "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
                      "partition.assignment.strategy": "range", "check.crcs": True})
        c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
        return c

    consumers = [make(0)]

    def pump(until, timeout):
        deadline = time.time() + timeout
        while not until() and time.time() < deadline:
            for m, c in enumerate(consumers):
                msg = c.poll(0.1)
                if msg is None:
                    continue
                if msg.error():
                    events.append({"member": m, "event": "error", "error": msg.error().str()})
                    continue
                r = record(msg)
                r["member"] = m
                records.append(r)
                c.commit(message=msg, asynchronous=False)
        return until()

    ok_first = pump(lambda: len(records) >= a["each"], 60)
    consumers.append(make(1))
    ok_split = pump(lambda: assignment[0] and assignment[1]
                    and sorted(assignment[0] + assignment[1]) == list(range(parts)), 60)
    split = {str(m): list(ps) for m, ps in assignment.items()}
    produce(bootstrap, topic, second, {"compression.type": "zstd"})
    ok_all = pump(lambda: len(records) >= 2 * a["each"], 60)
    pump(lambda: False, 1.5)  # linger: a record delivered twice would show up
    for c in consumers:
        c.close()

    checker = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = checker.committed([TopicPartition(topic, p) for p in range(parts)], timeout=15)
    finally:
        checker.close()
    return {"firstPhase": ok_first, "splitReached": ok_split, "allRead": ok_all, "split": split,
            "events": events, "records": records,
            "committed": {str(tp.partition): tp.offset for tp in committed}}


def scenario_admin(a):
    bootstrap, topic, group = a["bootstrap"], a["topic"], a["group"]
    ad = admin(bootstrap)
    raw = RawAdmin(bootstrap)
    out_ = {}
    try:
        # CreateTopics with configs; again (exists); validate-only creates nothing.
        fs = ad.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1,
                                        config={"retention.ms": "3600000", "cleanup.policy": "delete"}),
                               NewTopic(topic + "-b", num_partitions=1, replication_factor=1)],
                              operation_timeout=20, request_timeout=30)
        out_["created"] = {t: f.exception(30) is None for t, f in fs.items()}
        err = ad.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)],
                               request_timeout=30)[topic].exception(30)
        out_["createdAgain"] = None if err is None else err.args[0].name()
        fs = ad.create_topics([NewTopic(topic + "-v", num_partitions=1, replication_factor=1)],
                              validate_only=True, request_timeout=30)
        out_["validateOnly"] = fs[topic + "-v"].exception(30) is None

        # Metadata: topics, partitions, brokers, controller, cluster id.
        md = ad.list_topics(timeout=20)
        out_["topics"] = sorted(t for t in md.topics if t.startswith(topic))
        out_["partitions"] = sorted([p.id, p.leader, list(p.replicas), list(p.isrs)]
                                    for p in md.topics[topic].partitions.values())
        out_["metadataBrokers"] = sorted([b.id, b.host, b.port] for b in md.brokers.values())
        out_["metadataController"] = md.controller_id
        out_["metadataClusterId"] = md.cluster_id

        def describe(names):
            r = ConfigResource("topic", topic)
            entries = ad.describe_configs([r], request_timeout=30)[r].result(30)
            return {n: {"value": entries[n].value, "isDefault": entries[n].is_default,
                        "source": entries[n].source} for n in names}

        watch = ["retention.ms", "cleanup.policy", "max.message.bytes", "segment.bytes"]
        out_["configsCreated"] = describe(watch)
        # AlterConfigs (the whole override set), then IncrementalAlterConfigs on top.
        r = ConfigResource("topic", topic, set_config={"retention.ms": "7200000", "segment.bytes": "2097152"})
        ad.alter_configs([r], request_timeout=30)[r].result(30)
        out_["configsAltered"] = describe(watch)
        out_["incremental"] = raw.incremental_alter_topic(topic, [("max.message.bytes", 0, "2000000"),
                                                                  ("segment.bytes", 1, None)])
        time.sleep(0.5)
        out_["configsIncremental"] = describe(watch)

        # CreatePartitions 2 -> 4.
        fs = ad.create_partitions([NewPartitions(topic, 4)], request_timeout=30)
        fs[topic].result(30)
        out_["partitionsAfterGrow"] = len(ad.list_topics(topic, timeout=20).topics[topic].partitions)

        # Records with known timestamps in partition 0, then ListOffsets three ways.
        stamp = a["stamp"]
        p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        for i in range(10):
            p.produce(topic, value=b"v%d" % i, key=b"k%d" % i, partition=0, timestamp=stamp + i * 1000)
        p.flush(30)
        out_["listOffsets"] = {
            "earliest": raw.list_offsets(topic, [0, 1], -2),
            "latest": raw.list_offsets(topic, [0, 1], -1),
            "maxTimestamp": raw.list_offsets(topic, [0], -3),
            "byTime": raw.list_offsets(topic, [0, 1], stamp + 4500),
        }
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "client.id": "modern-admin-member"})
        out_["watermarks"] = list(c.get_watermark_offsets(TopicPartition(topic, 0), timeout=15))
        out_["offsetsForTimes"] = [tp.offset for tp in c.offsets_for_times(
            [TopicPartition(topic, 0, stamp + 4500)], timeout=15)]

        # A live group: one member over the topic, a commit, then the group APIs.
        c.subscribe([topic])
        got = 0
        deadline = time.time() + 30
        while got < 10 and time.time() < deadline:
            msg = c.poll(0.3)
            if msg is not None and not msg.error():
                got += 1
                if got == 10:
                    c.commit(message=msg, asynchronous=False)
        out_["groupConsumed"] = got
        out_["listGroupsLive"] = raw.list_consumer_groups()
        out_["describeGroupsLive"] = raw.describe_consumer_groups([group, "no-such-group"])
        legacy = ad.list_groups(group, timeout=15)
        out_["legacyListGroups"] = [{"id": g.id, "state": g.state, "protocolType": g.protocol_type,
                                     "protocol": g.protocol, "members": [m.client_id for m in g.members]}
                                    for g in legacy]
        c.close()
        checker = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
        out_["committed"] = [tp.offset for tp in checker.committed([TopicPartition(topic, 0)], timeout=15)]
        checker.close()
        out_["listGroupsAfter"] = raw.list_consumer_groups()
        out_["describeGroupsAfter"] = raw.describe_consumer_groups([group])

        out_["describeCluster"] = raw.describe_cluster()

        # DeleteTopics; the topics are gone from Metadata.
        fs = ad.delete_topics([topic, topic + "-b"], operation_timeout=20, request_timeout=30)
        out_["deleted"] = {t: f.exception(30) is None for t, f in fs.items()}
        deadline = time.time() + 15
        while time.time() < deadline:
            left = sorted(t for t in ad.list_topics(timeout=20).topics if t.startswith(topic))
            if not left:
                break
            time.sleep(0.2)
        out_["topicsAfterDelete"] = left
    finally:
        raw.close()
    return out_


def scenario_transactions(a):
    """A transactional producer (a["txn_id"]) commits a["committed"] values,
    aborts a["aborted"], then commits one "last"; a read_committed and a
    read_uncommitted consumer read the topic from the start."""
    create_topic(a["bootstrap"], a["topic"], 1)
    p = Producer({"bootstrap.servers": a["bootstrap"], "transactional.id": a["txn_id"], "linger.ms": 5})
    p.init_transactions(30)
    for values, commit in ((a["committed"], True), (a["aborted"], False), (["last"], True)):
        p.begin_transaction()
        for v in values:
            p.produce(a["topic"], value=v.encode(), partition=0)
        p.flush(20)
        (p.commit_transaction if commit else p.abort_transaction)(30)
    expected = len(a["committed"]) + 1
    seen = {}
    for isolation, want in (("read_committed", expected), ("read_uncommitted", expected + len(a["aborted"]))):
        c = Consumer({"bootstrap.servers": a["bootstrap"], "group.id": "txn-" + uuid.uuid4().hex[:8],
                      "auto.offset.reset": "earliest", "isolation.level": isolation, "enable.auto.commit": False})
        c.assign([TopicPartition(a["topic"], 0, 0)])
        got = []
        deadline = time.time() + 20
        while time.time() < deadline and len(got) < want:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append(text(m.value()))
        time.sleep(0.5)  # anything more would come now
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(text(m.value()))
        c.close()
        seen[isolation] = got
    return {"libversion": confluent_kafka.libversion()[0], "seen": seen}


SCENARIOS = {"version": scenario_version, "produce_consume": scenario_produce_consume,
             "transactions": scenario_transactions,
             "rejected_record": scenario_rejected_record,
             "group": scenario_group, "admin": scenario_admin}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        sys.stderr.write("usage: modern_rdkafka_driver.py {%s} < args.json\n" % "|".join(SCENARIOS))
        return 2
    try:
        out(SCENARIOS[sys.argv[1]](json.load(sys.stdin)))
    except KafkaException as e:
        out({"exception": str(e)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
