"""A few hand-rolled Kafka requests for tests that need to send exact bytes
(what no client library will send: unknown keys, lying sizes, garbage)."""

import socket
import struct


def request_v1_header(api_key, version, correlation_id, client_id=b"pytest"):
    return struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id


def request_v2_header(api_key, version, correlation_id, client_id=b"pytest"):
    return request_v1_header(api_key, version, correlation_id, client_id) + b"\x00"


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def recv_frame(sock):
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    return recv_exact(sock, size)


def connect(port, timeout=5.0, source="127.0.0.1"):
    """A connection to the broker on 127.0.0.1, from `source` (another
    loopback address, 127.0.0.2, is another client address to the broker)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
    return s


def is_closed(sock, timeout=5.0):
    """True when the peer closes the connection (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def uvarint(data, pos):
    shift = value = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def parse_api_versions(body, version):
    """Decodes an ApiVersions response body: (error, {key: (min, max)})."""
    (error,) = struct.unpack_from(">h", body, 0)
    pos = 2
    apis = {}
    if version >= 3:
        count, pos = uvarint(body, pos)
        count -= 1
    else:
        (count,) = struct.unpack_from(">i", body, pos)
        pos += 4
    for _ in range(max(count, 0)):
        key, lo, hi = struct.unpack_from(">hhh", body, pos)
        pos += 6
        if version >= 3:
            tags, pos = uvarint(body, pos)
            assert tags == 0
        apis[key] = (lo, hi)
    return error, apis


def api_versions(sock, version, correlation_id=1):
    if version >= 3:
        body = b"\x07pytest\x060.0.1\x00"  # compact name, compact version, no tags
        payload = request_v2_header(18, version, correlation_id) + body
    else:
        payload = request_v1_header(18, version, correlation_id)
    sock.sendall(frame(payload))
    resp = recv_frame(sock)
    (corr,) = struct.unpack_from(">i", resp, 0)
    # ApiVersions responses always use response header v0 (no tagged fields).
    return corr, resp[4:]
