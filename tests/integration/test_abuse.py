"""Bad input against a live broker: floods of connections, clients that
never read, slowloris senders, and fuzzed frames thrown from several sockets
while a real client produces and consumes. Each time the broker must stay
up, keep its memory bounded, log what it refused, and keep serving everyone
else."""

import os
import random
import socket
import struct
import threading
import time

from confluent_kafka import Producer

from kafka_wire import api_versions, connect, frame, parse_api_versions, recv_frame, request_v1_header
from test_produce_consume import consume, produce
from test_wire import rss_kib

# A broker that just started is ~10 MiB; these bounds leave room for
# allocator slack but catch anything that grows with the abuse.
RSS_BOUND_KIB = 128 * 1024


def assert_healthy(broker):
    """The broker still answers a fresh client, quickly."""
    assert broker.alive()
    s = connect(broker.port, timeout=5)
    try:
        start = time.time()
        _, body = api_versions(s, 3)
        error, apis = parse_api_versions(body, 3)
        assert error == 0 and 0 in apis
        assert time.time() - start < 2
    finally:
        s.close()
    assert rss_kib(broker.proc.pid) < RSS_BOUND_KIB


def test_ten_thousand_connections_opened_and_dropped(broker):
    opened = 0
    for _ in range(50):  # waves of 200, within any file-descriptor limit
        wave = []
        for _ in range(200):
            wave.append(socket.create_connection(("127.0.0.1", broker.port), timeout=5))
        for i, s in enumerate(wave):
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, not FIN
            s.close()
        opened += len(wave)
    assert opened == 10000
    assert_healthy(broker)
    # Every slot came back: the connection count is not leaking.
    produce(broker.bootstrap, "after-flood", [{"value": b"ok"}])
    assert consume(broker.bootstrap, "after-flood", 1)[0].value() == b"ok"


def test_a_client_that_never_reads_is_paused_and_others_are_unaffected(broker):
    greedy = connect(broker.port)
    greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    # Metadata v1 for every topic, pipelined without ever reading an answer.
    request = frame(request_v1_header(3, 1, 7) + struct.pack(">i", -1))
    greedy.setblocking(False)
    burst = request * 1000
    sent = 0
    blocked_since = None
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            sent += greedy.send(burst)
            blocked_since = None
        except BlockingIOError:
            # Socket buffers full: the broker stopped reading from us.
            blocked_since = blocked_since or time.time()
            if time.time() - blocked_since > 1.0:
                break
            time.sleep(0.01)
    rss_during = rss_kib(broker.proc.pid)
    assert blocked_since is not None, "the broker kept reading from a client that reads nothing (%d bytes)" % sent
    assert_healthy(broker)
    produce(broker.bootstrap, "while-greedy", [{"value": b"x%d" % i} for i in range(100)])
    assert len(consume(broker.bootstrap, "while-greedy", 100)) == 100
    assert rss_during < RSS_BOUND_KIB, "memory grew with unread responses: %d KiB" % rss_during
    greedy.close()
    assert_healthy(broker)


def test_slowloris_sender_does_not_block_others(broker):
    slow = connect(broker.port)
    payload = frame(request_v1_header(18, 0, 1))  # ApiVersions v0, one byte at a time
    stop = threading.Event()

    def dribble():
        for b in payload:
            if stop.is_set():
                return
            try:
                slow.send(bytes([b]))
            except OSError:
                return
            time.sleep(0.1)

    t = threading.Thread(target=dribble)
    t.start()
    try:
        time.sleep(0.5)
        assert_healthy(broker)
        produce(broker.bootstrap, "slowloris", [{"value": b"fine"}])
        t.join(timeout=30)  # let the dribble finish its request
    finally:
        stop.set()
        t.join()
    # The dribbled request completes and is answered.
    slow.settimeout(5)
    if len(payload) > 0:
        body = recv_frame(slow)
        assert int.from_bytes(body[:4], "big") == 1
    slow.close()


def mutate(rng, frame_bytes):
    b = bytearray(frame_bytes)
    kind = rng.randrange(5)
    if kind == 0:  # flip bytes after the size prefix
        for _ in range(rng.randrange(1, 8)):
            i = rng.randrange(4, len(b))
            b[i] = rng.randrange(256)
    elif kind == 1:  # a lying size prefix
        b[0:4] = struct.pack(">i", rng.choice([-1, 0, 3, 7, len(b) * 3, 0x7FFFFFFF, rng.randrange(1 << 20)]))
    elif kind == 2:  # truncate
        b = b[: rng.randrange(1, len(b))]
    elif kind == 3:  # random api key / version
        b[4:8] = struct.pack(">hh", rng.randrange(-5, 100), rng.randrange(-3, 20))
    else:  # pure garbage with a plausible size
        junk = os.urandom(rng.randrange(8, 300))
        b = bytearray(struct.pack(">i", len(junk)) + junk)
    return bytes(b)


def test_fuzzed_frames_while_a_real_client_produces_and_consumes(broker):
    # Seeds: real requests a client sends (ApiVersions, Metadata, a Produce).
    seeds = [
        frame(request_v1_header(18, 0, 1)),
        frame(request_v1_header(3, 1, 2) + struct.pack(">i", -1)),
        frame(request_v1_header(3, 4, 3) + struct.pack(">i", 1) + struct.pack(">h", 4) + b"fuzz" + b"\x00"),
    ]
    stop = threading.Event()
    counts = {"sent": 0, "closed": 0}
    lock = threading.Lock()

    def fuzzer(seed):
        rng = random.Random(seed)
        while not stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", broker.port), timeout=2)
                for _ in range(rng.randrange(1, 20)):
                    s.sendall(mutate(rng, rng.choice(seeds)))
                    with lock:
                        counts["sent"] += 1
                s.settimeout(0.2)
                try:
                    while s.recv(65536):
                        pass
                    with lock:
                        counts["closed"] += 1
                except (socket.timeout, OSError):
                    pass
                s.close()
            except OSError:
                time.sleep(0.01)

    threads = [threading.Thread(target=fuzzer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        n = 3000
        messages = [{"key": b"k%d" % i, "value": b"v%d" % i} for i in range(n)]
        produce(broker.bootstrap, "under-fire", messages, acks="all")
        got = consume(broker.bootstrap, "under-fire", n, timeout=60)
        assert [(m.key(), m.value()) for m in got] == [(m["key"], m["value"]) for m in messages]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert counts["sent"] > 100, counts
    assert counts["closed"] > 10, counts
    assert_healthy(broker)
    log = broker.log_text()
    assert "closing connection" in log
    assert "malformed" in log or "not served" in log or "socket.request.max.bytes" in log
