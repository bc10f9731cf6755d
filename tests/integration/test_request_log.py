"""Log lines operators can use (issue 23 part 6): every line names the broker
and the component; per-request lines only when the request logger is at
debug; a slow-request line above logging.request.slow.ms."""

import re
import time

from confluent_kafka import Consumer, Producer

import kafka_wire

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (trace|debug|info|warning|error|critical) "
                  r"broker=(\d+) \[([a-z_-]+)\] .+")


def api_versions(port, client_id=b"ops-test"):
    with kafka_wire.connect(port) as s:
        s.sendall(kafka_wire.frame(kafka_wire.request_v1_header(18, 0, 42, client_id)))
        kafka_wire.recv_frame(s)


def wait_for_line(b, text, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in b.log_text():
            return
        time.sleep(0.05)
    raise AssertionError("no log line with %r" % text)


def test_every_line_names_the_broker_and_component_and_requests_are_not_logged_by_default(make_broker):
    # logging.level is debug in the test harness, yet no per-request lines:
    # the request logger has its own level (default info).
    b = make_broker(broker_id=7).start()
    api_versions(b.port)
    p = Producer({"bootstrap.servers": b.bootstrap})
    p.produce("ops", value=b"x")
    assert p.flush(10) == 0
    assert b.stop() == 0
    lines = [l for l in b.log_text().splitlines() if l.strip()]
    # The configuration is read before any line: all of them carry broker=7.
    bad = [l for l in lines if not LINE.match(l)]
    assert not bad, bad[:5]
    assert {LINE.match(l).group(2) for l in lines} == {"7"}
    components = {LINE.match(l).group(3) for l in lines}
    assert {"main", "broker", "storage"} <= components, components
    assert not any("[request]" in l for l in lines)


def test_debug_request_log_has_one_line_per_request(make_broker):
    b = make_broker(extra_config="logging.request.level: debug\n").start()
    api_versions(b.port, b"ops-client")
    api_versions(b.port, b"ops-client")
    assert b.stop() == 0  # debug lines are buffered until then
    lines = [l for l in b.log_text().splitlines() if "[request] ApiVersions v0 correlation 42" in l]
    assert len(lines) == 2, lines
    assert re.search(r"debug broker=0 \[request\] ApiVersions v0 correlation 42 from client 'ops-client' "
                     r"connection \d+ \(127\.0\.0\.1:\d+, listener PLAINTEXT\): \d+\.\d ms, 0 bytes in, \d+ bytes out",
                     lines[0]), lines[0]
    assert "slow request" not in b.log_text()


def test_slow_requests_are_logged_at_warn(make_broker):
    # Threshold 0 ms: every produce takes longer than that.
    b = make_broker(extra_config="logging.request.slow.ms: 0\n").start()
    p = Producer({"bootstrap.servers": b.bootstrap, "client.id": "slow-producer"})
    p.produce("slowlog", value=b"x")
    assert p.flush(10) == 0
    wait_for_line(b, "slow request: Produce")
    assert b.stop() == 0
    produce = [l for l in b.log_text().splitlines() if "slow request: Produce" in l]
    assert "from client 'slow-producer'" in produce[0] and " warning broker=0 [request] " in produce[0], produce[0]


def test_a_fetch_long_poll_is_not_slow(make_broker):
    # 300 ms threshold, fetches that wait up to 500 ms for data that never
    # comes: they take longer than the threshold, but not longer than their
    # own max wait plus it.
    b = make_broker(extra_config="logging.request.slow.ms: 300\nlogging.request.level: debug\n").start()
    p = Producer({"bootstrap.servers": b.bootstrap})
    p.produce("idle", value=b"x")
    assert p.flush(10) == 0
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g", "auto.offset.reset": "latest",
                  "fetch.wait.max.ms": 500})
    c.subscribe(["idle"])
    pattern = re.compile(r"\[request\] Fetch v\d+ .*: (\d+\.\d) ms")

    def long_polls():
        return [ms for ms in map(float, pattern.findall(b.log_text())) if ms > 400]

    # Until a few long polls are logged: on a loaded machine joining the group
    # alone can take seconds, so no fixed window.
    deadline = time.time() + 60
    while time.time() < deadline and len(long_polls()) < 3:
        c.poll(0.5)
    c.close()
    assert b.stop() == 0
    text = b.log_text()
    assert long_polls(), text[-3000:]  # the fetches did wait past the threshold
    assert "slow request: Fetch" not in text
    # JoinGroup/SyncGroup wait for the group by design: never slow.
    assert "slow request: JoinGroup" not in text and "slow request: SyncGroup" not in text


def test_lines_to_the_journal_carry_the_syslog_priority(tmp_path):
    # stderr is "the journal" when its device and inode are $JOURNAL_STREAM's:
    # no timestamp (the journal keeps its own), "<N>" priority first.
    from conftest import KEEL_BIN, free_port, wait_for_port
    import os
    import signal
    import subprocess
    port = free_port()
    cfg = tmp_path / "keel.yaml"
    cfg.write_text("broker.id: 3\nlisteners: PLAINTEXT://127.0.0.1:%d\nlog.dirs: %s\noffsets.topic.replication.factor: 1\n"
                   % (port, tmp_path / "data"))
    out_path = tmp_path / "journal.txt"
    with open(out_path, "wb") as out:
        st = os.fstat(out.fileno())
        env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        proc = subprocess.Popen([KEEL_BIN, "--config", str(cfg)], stdout=out, stderr=out, env=env)
    try:
        wait_for_port(port, proc)
        api_versions(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    lines = [l for l in out_path.read_text().splitlines() if l.strip()]
    assert lines and all(re.match(r"^<[2-7]>(debug|info|warning|error|critical) broker=3 \[[a-z_-]+\] ", l)
                         for l in lines), lines[:5]
    assert any(l.startswith("<6>info broker=3 [main] keel ") for l in lines)
