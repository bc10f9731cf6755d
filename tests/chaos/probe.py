"""The harness's probes, run inside the ctl namespace (`ip netns exec`):
the orchestrator never opens a socket into the test network itself.

    probe.py port HOST PORT TIMEOUT          -> {"ok": bool}
    probe.py ruok HOST PORT TIMEOUT          -> {"ok": bool}   (ZooKeeper)
    probe.py metadata BOOTSTRAP [TOPIC]      -> controller, brokers, partitions
    probe.py metadata-each H:P,H:P,.. TOPIC  -> {"H:P": metadata or {"error"}}
                                                each broker's own view (a raw
                                                Metadata v1 request to it)
    probe.py topics-each H:P,H:P,..          -> {"H:P": {"controller", "topics":
                                                {name: {"error", "partitions":
                                                {p: {leader, replicas, isr,
                                                error}}}}}}: every topic,
                                                internal ones included
    probe.py create-topic BOOTSTRAP TOPIC PARTITIONS RF CONFIG_JSON [ASSIGNMENT_JSON]
    probe.py configs BOOTSTRAP TOPIC BROKER_ID  -> effective configs (logged)
    probe.py reassign H:P,H:P,.. TOPIC JSON  -> AlterPartitionReassignments v0
                                                ({"partition": [replicas] or
                                                null}) sent to the controller
    probe.py reassignments H:P,H:P,.. TOPIC  -> ListPartitionReassignments v0
    probe.py alter-configs H:P JSON          -> IncrementalAlterConfigs v0 to that
                                                broker ([{"type": "topic"|"broker",
                                                "name", "set": {..}, "delete": [..]}])
    probe.py zk-create CONNECT JSON          -> creates [[path, data], ..] in
                                                ZooKeeper (parents made as needed)

The two reassignment requests are built from Kafka's schemas by
tests/integration/kafka_schema.py (no installed client sends them); the
controller is found from a live broker's own Metadata and the request is
retried while the answer is NOT_CONTROLLER or the connection fails.

Each prints one JSON object on stdout.
"""

import json
import socket
import struct
import sys
import time
from pathlib import Path


def port(host, p, timeout):
    deadline = time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(p)), timeout=1.0).close()
            return {"ok": True}
        except OSError:
            time.sleep(0.1)
    return {"ok": False}


def ruok(host, p, timeout):
    deadline = time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(p)), timeout=1.0) as c:
                c.sendall(b"ruok")
                if c.recv(4) == b"imok":
                    return {"ok": True}
        except OSError:
            pass
        time.sleep(0.2)
    return {"ok": False}


def admin(bootstrap):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000,
                        "socket.connection.setup.timeout.ms": 3000})


def metadata(bootstrap, topic=None):
    md = admin(bootstrap).list_topics(topic=topic, timeout=8)
    out = {"controller": md.controller_id,
           "brokers": {str(b.id): "%s:%d" % (b.host, b.port) for b in md.brokers.values()},
           "partitions": {}}
    if topic and topic in md.topics:
        t = md.topics[topic]
        out["topic_error"] = str(t.error) if t.error else None
        for p in t.partitions.values():
            out["partitions"][str(p.id)] = {"leader": p.leader, "replicas": list(p.replicas),
                                            "isr": list(p.isrs),
                                            "error": str(p.error) if p.error else None}
    return out


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


class _Reader:
    def __init__(self, data):
        self.d, self.i = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.i)
        self.i += struct.calcsize(fmt)
        return v[0]

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        v = self.d[self.i:self.i + n].decode(errors="replace")
        self.i += n
        return v

    def int32s(self):
        return [self.take(">i") for _ in range(self.take(">i"))]


def broker_metadata(hostport, topic, timeout=5.0, all_topics=False):
    """One broker's own metadata cache: a Metadata v1 request sent to exactly
    that broker (a client library may answer from any broker it knows).
    all_topics: every topic (v1: a null array), under "topics"."""
    host, p = hostport.rsplit(":", 1)
    if all_topics:
        body = struct.pack(">i", -1)
    elif topic is None:  # no topics (v1: an empty array), only brokers and the controller
        body = struct.pack(">i", 0)
    else:
        t = topic.encode()
        body = struct.pack(">i", 1) + struct.pack(">h", len(t)) + t
    cid = b"chaos-probe"
    req = struct.pack(">hhih", 3, 1, 7, len(cid)) + cid + body
    with socket.create_connection((host, int(p)), timeout=timeout) as c:
        c.settimeout(timeout)
        c.sendall(struct.pack(">i", len(req)) + req)
        size = struct.unpack(">i", _recv_exact(c, 4))[0]
        r = _Reader(_recv_exact(c, size))
    r.take(">i")  # correlation id
    brokers = {}
    for _ in range(r.take(">i")):
        nid, h, prt = r.take(">i"), r.string(), r.take(">i")
        r.string()  # rack
        brokers[str(nid)] = "%s:%d" % (h, prt)
    out = {"controller": r.take(">i"), "brokers": brokers, "partitions": {}}
    topics = {}
    for _ in range(r.take(">i")):
        err, name = r.take(">h"), r.string()
        r.take(">b")  # is_internal
        parts = {}
        for _ in range(r.take(">i")):
            perr, pid, leader = r.take(">h"), r.take(">i"), r.take(">i")
            replicas, isr = r.int32s(), r.int32s()
            parts[str(pid)] = {"leader": leader, "replicas": replicas, "isr": isr,
                               "error": perr or None}
        if name == topic:
            out["topic_error"] = err or None
            out["partitions"] = parts
        topics[name] = {"error": err or None, "partitions": parts}
    if all_topics:
        out["topics"] = topics
    return out


def metadata_each(hostports, topic):
    out = {}
    for hp in hostports.split(","):
        try:
            out[hp] = broker_metadata(hp, topic)
        except Exception as e:  # noqa: BLE001 - one broker's failure is an answer too
            out[hp] = {"error": "%s: %s" % (type(e).__name__, e)}
    return out


def topics_each(hostports):
    out = {}
    for hp in hostports.split(","):
        try:
            md = broker_metadata(hp, None, all_topics=True)
            out[hp] = {"controller": md["controller"], "brokers": sorted(md["brokers"]), "topics": md["topics"]}
        except Exception as e:  # noqa: BLE001 - one broker's failure is an answer too
            out[hp] = {"error": "%s: %s" % (type(e).__name__, e)}
    return out


def create_topic(bootstrap, topic, partitions, rf, config_json, assignment_json=None):
    from confluent_kafka.admin import NewTopic
    if assignment_json:  # explicit replicas per partition ([[1,2,3],[2,3,1],...])
        ra = json.loads(assignment_json)
        nt = NewTopic(topic, len(ra), replication_factor=-1, replica_assignment=ra, config=json.loads(config_json))
    else:
        nt = NewTopic(topic, num_partitions=int(partitions), replication_factor=int(rf),
                      config=json.loads(config_json))
    a = admin(bootstrap)  # kept alive until the future resolves
    fut = a.create_topics([nt], operation_timeout=20)[topic]
    try:
        fut.result(timeout=30)
        return {"ok": True}
    except Exception as e:  # noqa: BLE001 - reported, the caller decides
        return {"ok": False, "error": str(e)}


def configs(bootstrap, topic, broker_id):
    from confluent_kafka.admin import ConfigResource
    a = admin(bootstrap)
    res = [ConfigResource("topic", topic), ConfigResource("broker", str(broker_id))]
    out = {}
    for r, fut in a.describe_configs(res, request_timeout=10).items():
        try:
            out["%s:%s" % (r.restype_name if hasattr(r, "restype_name") else r.restype, r.name)] = {
                k: v.value for k, v in fut.result(timeout=15).items()
                if k in ("min.insync.replicas", "unclean.leader.election.enable",
                         "zookeeper.session.timeout.ms", "replica.lag.time.max.ms",
                         "default.replication.factor", "log.flush.interval.messages",
                         "replica.fetch.wait.max.ms", "replica.fetch.min.bytes")}
        except Exception as e:  # noqa: BLE001
            out[str(r)] = {"error": str(e)}
    return out


NOT_CONTROLLER = 41


def _controller_call(hostports, api, values, timeout=20.0):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
    from kafka_schema import KafkaConnection
    deadline = time.monotonic() + float(timeout)
    last = None
    while time.monotonic() < deadline:
        for hp in hostports.split(","):
            try:
                md = broker_metadata(hp, None, timeout=3.0)
                ctl = md["brokers"].get(str(md["controller"]))
                if ctl is None:
                    last = "no controller in %s's metadata" % hp
                    continue
                host, prt = ctl.rsplit(":", 1)
                with KafkaConnection(int(prt), host=host, timeout=10.0, client_id="chaos-probe") as c:
                    r = c.call(api, 0, values)
                if r.get("ErrorCode") == NOT_CONTROLLER:
                    last = "NOT_CONTROLLER from %s" % ctl
                    continue
                r["_controller"] = md["controller"]
                return r
            except Exception as e:  # noqa: BLE001 - try the next broker / again
                last = "%s: %s" % (type(e).__name__, e)
        time.sleep(0.5)
    return {"ok": False, "error": "no controller answered %s: %s" % (api, last)}


def reassign(hostports, topic, assignment_json):
    targets = json.loads(assignment_json)
    r = _controller_call(hostports, "AlterPartitionReassignments", {"TimeoutMs": 20000, "Topics": [
        {"Name": topic, "Partitions": [{"PartitionIndex": int(p), "Replicas": rs} for p, rs in targets.items()]}]})
    if "ErrorCode" not in r:
        return r
    parts = {}
    for t in r.get("Responses", []):
        for pr in t["Partitions"]:
            parts[str(pr["PartitionIndex"])] = [pr["ErrorCode"], pr["ErrorMessage"]]
    return {"ok": r["ErrorCode"] == 0 and all(v[0] == 0 for v in parts.values()),
            "error_code": r["ErrorCode"], "error": r.get("ErrorMessage"), "partitions": parts,
            "controller": r["_controller"]}


def reassignments(hostports, topic):
    r = _controller_call(hostports, "ListPartitionReassignments", {"TimeoutMs": 20000, "Topics": None})
    if "ErrorCode" not in r:
        return r
    ongoing = {str(p["PartitionIndex"]): {"replicas": p["Replicas"], "adding": p["AddingReplicas"],
                                          "removing": p["RemovingReplicas"]}
               for t in r["Topics"] if t["Name"] == topic for p in t["Partitions"]}
    return {"ok": r["ErrorCode"] == 0, "error_code": r["ErrorCode"], "ongoing": ongoing,
            "controller": r["_controller"]}


def alter_configs(hostport, changes_json):
    """IncrementalAlterConfigs v0 sent to hostport itself (a broker's own
    dynamic configs must go to that broker, as AdminClient routes them).
    changes: [{"type": "topic"|"broker", "name": str, "set": {k: v}, "delete": [k]}]."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
    from kafka_schema import KafkaConnection
    types = {"topic": 2, "broker": 4}
    resources = [{"ResourceType": types[c["type"]], "ResourceName": c["name"],
                  "Configs": [{"Name": k, "ConfigOperation": 0, "Value": str(v)} for k, v in c.get("set", {}).items()]
                  + [{"Name": k, "ConfigOperation": 1, "Value": None} for k in c.get("delete", [])]}
                 for c in json.loads(changes_json)]
    host, prt = hostport.rsplit(":", 1)
    with KafkaConnection(int(prt), host=host, timeout=10.0, client_id="chaos-probe") as c:
        r = c.call("IncrementalAlterConfigs", 0, {"Resources": resources, "ValidateOnly": False})
    errors = {"%s:%s" % (x["ResourceType"], x["ResourceName"]): [x["ErrorCode"], x["ErrorMessage"]]
              for x in r["Responses"]}
    return {"ok": all(v[0] == 0 for v in errors.values()), "resources": errors}


def zk_create(connect, nodes_json):
    """Nodes written before the brokers start (a secured run's SCRAM users and ACLs)."""
    from kazoo.client import KazooClient
    kz = KazooClient(hosts=connect, timeout=15)
    kz.start(timeout=15)
    try:
        for path, data in json.loads(nodes_json):
            kz.create(path, data.encode(), makepath=True)
    finally:
        kz.stop()
    return {"ok": True}


def main(argv):
    cmd, args = argv[0], argv[1:]
    fn = {"port": port, "ruok": ruok, "metadata": metadata, "create-topic": create_topic,
          "metadata-each": metadata_each, "topics-each": topics_each, "reassign": reassign,
          "reassignments": reassignments, "alter-configs": alter_configs,
          "configs": configs, "zk-create": zk_create}[cmd]
    try:
        out = fn(*args)
    except Exception as e:  # noqa: BLE001
        out = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
