"""connections.max.reauth.ms per listener and mechanism (KIP-368), as Kafka
reads it: listener.name.<l>.<mechanism>.connections.max.reauth.ms, then
listener.name.<l>.connections.max.reauth.ms, then the broker-wide key. The
session lifetime a SaslAuthenticate v1 answer carries is what the listener
and the mechanism say, an expired session is closed at its next request, and
a value that is not a number stops the start naming the key (the
configuration loader's check, as for every listener override)."""

import struct
import subprocess
import time

from conftest import KEEL_BIN, free_port
from kafka_wire import connect, frame, is_closed, recv_frame, request_v1_header
from test_sasl import hash_line, sasl_handshake


def reauth_broker(make_broker, extra):
    b = make_broker("broker")
    b.ports = {"A": free_port(), "B": free_port()}
    creds = b.dir / "plain-users"
    creds.parent.mkdir(parents=True, exist_ok=True)
    creds.write_text("%s\n" % hash_line("alice", "alice-secret"))
    text = b.config_path.read_text()
    old = "listeners: PLAINTEXT://127.0.0.1:%d\n" % b.port
    b.config_path.write_text(text.replace(old, (
        "listeners: PLAINTEXT://127.0.0.1:%d, A://127.0.0.1:%d, B://127.0.0.1:%d\n"
        "listener.security.protocol.map: PLAINTEXT:PLAINTEXT,A:SASL_PLAINTEXT,B:SASL_PLAINTEXT\n"
        "sasl.enabled.mechanisms: PLAIN\nsasl.plain.credentials.file: %s\n%s")
        % (b.port, b.ports["A"], b.ports["B"], creds, extra)))
    return b


def session_lifetime(port):
    """Authenticates alice with PLAIN; (socket, session_lifetime_ms)."""
    s = connect(port)
    assert sasl_handshake(s, "PLAIN") == (0, ["PLAIN"])
    token = b"\0alice\0alice-secret"
    s.sendall(frame(request_v1_header(36, 1, 3) + struct.pack(">i", len(token)) + token))
    resp = recv_frame(s)
    _, err, mlen = struct.unpack_from(">ihh", resp, 0)
    pos = 8 + max(mlen, 0)
    (tlen,) = struct.unpack_from(">i", resp, pos)
    (lifetime,) = struct.unpack_from(">q", resp, pos + 4 + max(tlen, 0))
    assert err == 0
    return s, lifetime


def test_each_listener_and_mechanism_gives_its_own_session_lifetime(make_broker):
    b = reauth_broker(make_broker, "connections.max.reauth.ms: 600000\n"
                                   "listener.name.a.plain.connections.max.reauth.ms: 1500\n").start()
    s, lifetime = session_lifetime(b.ports["A"])
    assert lifetime == 1500
    other, other_lifetime = session_lifetime(b.ports["B"])
    assert other_lifetime == 600000, "B has no override: the broker-wide value"
    # A's session expires: its next request (Metadata) closes the connection;
    # B's is still good and answered.
    time.sleep(2.0)
    metadata = frame(request_v1_header(3, 1, 9) + struct.pack(">i", -1))
    s.sendall(metadata)
    assert is_closed(s)
    other.sendall(metadata)
    assert struct.unpack_from(">i", recv_frame(other), 0)[0] == 9
    s.close()
    other.close()


def test_a_reauth_value_that_is_not_a_number_stops_the_start(make_broker):
    b = reauth_broker(make_broker, "listener.name.b.connections.max.reauth.ms: soon\n")
    out = subprocess.run([KEEL_BIN, "--config", str(b.config_path)], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    text = out.stdout + out.stderr + b.log_text()
    assert "'listener.name.b.connections.max.reauth.ms'" in text and "expected an integer, got 'soon'" in text, \
        text[-2000:]
