"""Kafka requests and responses from the protocol's own JSON schemas.

For tests that need an API no installed client sends (DescribeLogDirs,
OffsetForLeaderEpoch, DeleteTopics by topic id, a produce with a chosen
producer id and sequence), or a version a client does not pick. The schemas
are read from ../shared/kafka-protocol/messages beside the repository (the
build's generator reads the same files); this codec is written apart from the
generator on purpose, so a test that uses it checks the broker's encoding
against a second reading of the schemas rather than against itself.

    with KafkaConnection(port) as c:
        resp = c.call("DeleteRecords", 2, {"Topics": [{"Name": "t", "Partitions": [
            {"PartitionIndex": 0, "Offset": 5}]}], "TimeoutMs": 1000})
        resp["Topics"][0]["Partitions"][0]["LowWatermark"]

Fields a request leaves out take the schema's default. Responses decode into
dicts keyed by the schema's field names; tagged fields the schema names are
decoded, others skipped.
"""

import functools
import json
import os
import re
import socket
import struct
import uuid
from pathlib import Path

SCHEMAS = Path(os.environ.get("KEEL_SCHEMAS", Path(__file__).resolve().parents[3] / "shared" / "kafka-protocol" /
                              "messages"))


class Versions:
    """A schema version range: "0+", "1-3", "5", "none"."""

    def __init__(self, text):
        if text == "none":
            self.lo, self.hi = 1, 0
        elif text.endswith("+"):
            self.lo, self.hi = int(text[:-1]), 1 << 15
        elif "-" in text:
            lo, hi = text.split("-")
            self.lo, self.hi = int(lo), int(hi)
        else:
            self.lo = self.hi = int(text)

    def __contains__(self, version):
        return self.lo <= version <= self.hi


def _load(name):
    text = (SCHEMAS / (name + ".json")).read_text()
    return json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))


@functools.lru_cache(maxsize=None)
def schema(name):
    """The parsed schema of a message, e.g. schema("FetchRequest")."""
    s = _load(name)
    s["_structs"] = {c["name"]: c["fields"] for c in s.get("commonStructs", [])}
    s["_flexible"] = Versions(s.get("flexibleVersions", "none"))
    return s


def _default(field):
    kind = field["type"]
    d = field.get("default")
    if kind.startswith("[]"):
        return []
    if isinstance(d, str) and d == "null":
        return None
    if kind in ("int8", "int16", "uint16", "int32", "uint32", "int64"):
        return int(d, 0) if isinstance(d, str) else (d or 0)
    if kind == "float64":
        return float(d or 0)
    if kind == "bool":
        return d in (True, "true")
    if kind == "string":
        return d or ""
    if kind in ("bytes", "records"):
        return b""
    if kind == "uuid":
        return uuid.UUID(int=0)
    return {}  # a struct


def _nullable_struct(field, version):
    """A struct field that may be null at `version`: on the wire an int8
    marker (-1 null, 1 present) comes before it, as Kafka's generator writes it."""
    kind = field["type"]
    primitive = kind.startswith("[]") or kind in _FIXED or kind in ("bool", "uuid", "string", "bytes", "records")
    return not primitive and version in Versions(field.get("nullableVersions", "none"))


_FIXED = {"int8": ">b", "int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "int64": ">q",
          "float64": ">d"}


def _uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class _Writer:
    def __init__(self, msg, version):
        self.structs = msg["_structs"]
        self.version = version
        self.flexible = version in msg["_flexible"]
        self.out = bytearray()

    def length(self, n, nullable_null=False):
        if self.flexible:
            self.out += _uvarint(0 if nullable_null else n + 1)
        else:
            self.out += struct.pack(">i", -1 if nullable_null else n)

    def value(self, kind, v, fields):
        if kind.startswith("[]"):
            elem = kind[2:]
            if v is None:
                self.length(0, True)
                return
            self.length(len(v))
            for item in v:
                self.value(elem, item, fields)
        elif kind in _FIXED:
            self.out += struct.pack(_FIXED[kind], v)
        elif kind == "bool":
            self.out += b"\x01" if v else b"\x00"
        elif kind == "uuid":
            self.out += (v if isinstance(v, uuid.UUID) else uuid.UUID(bytes=v)).bytes
        elif kind == "string":
            if v is None:
                self.length(0, True) if self.flexible else self.out.extend(struct.pack(">h", -1))
                return
            data = v.encode()
            if self.flexible:
                self.out += _uvarint(len(data) + 1)
            else:
                self.out += struct.pack(">h", len(data))
            self.out += data
        elif kind in ("bytes", "records"):
            if v is None:
                self.length(0, True)
                return
            self.length(len(v))
            self.out += v
        else:
            self.fields(fields if fields is not None else self.structs[kind], v or {})

    def fields(self, fields, values):
        tagged = []
        for f in fields:
            if self.version not in Versions(f["versions"]):
                continue
            if "taggedVersions" in f and self.version in Versions(f["taggedVersions"]):
                if f["name"] in values:
                    tagged.append(f)
                continue
            v = values.get(f["name"], _default(f))
            if _nullable_struct(f, self.version):
                self.out += b"\xff" if v is None else b"\x01"
                if v is None:
                    continue
            self.value(f["type"], v, f.get("fields"))
        if self.flexible:
            self.out += _uvarint(len(tagged))
            for f in sorted(tagged, key=lambda f: f["tag"]):
                inner = _Writer({"_structs": self.structs, "_flexible": Versions("0+")}, self.version)
                inner.value(f["type"], values[f["name"]], f.get("fields"))
                self.out += _uvarint(f["tag"]) + _uvarint(len(inner.out)) + inner.out


class _Reader:
    def __init__(self, msg, version, data, pos=0):
        self.structs = msg["_structs"]
        self.version = version
        self.flexible = version in msg["_flexible"]
        self.data = data
        self.pos = pos

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("truncated at %d: want %d of %d bytes" % (self.pos, n, len(self.data)))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def uvarint(self):
        shift = value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def length(self):
        """An array's or byte string's length; -1 for null."""
        if self.flexible:
            return self.uvarint() - 1
        return struct.unpack(">i", self.take(4))[0]

    def value(self, kind, fields):
        if kind.startswith("[]"):
            n = self.length()
            return None if n < 0 else [self.value(kind[2:], fields) for _ in range(n)]
        if kind in _FIXED:
            fmt = _FIXED[kind]
            return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
        if kind == "bool":
            return self.take(1) != b"\x00"
        if kind == "uuid":
            return uuid.UUID(bytes=bytes(self.take(16)))
        if kind == "string":
            n = self.uvarint() - 1 if self.flexible else struct.unpack(">h", self.take(2))[0]
            return None if n < 0 else bytes(self.take(n)).decode()
        if kind in ("bytes", "records"):
            n = self.length()
            return None if n < 0 else bytes(self.take(n))
        return self.fields(fields if fields is not None else self.structs[kind])

    def fields(self, fields):
        out = {}
        by_tag = {}
        for f in fields:
            if self.version not in Versions(f["versions"]):
                continue
            if "taggedVersions" in f and self.version in Versions(f["taggedVersions"]):
                by_tag[f["tag"]] = f
                out[f["name"]] = _default(f)
                continue
            if _nullable_struct(f, self.version) and struct.unpack(">b", self.take(1))[0] < 0:
                out[f["name"]] = None
                continue
            out[f["name"]] = self.value(f["type"], f.get("fields"))
        if self.flexible:
            for _ in range(self.uvarint()):
                tag, size = self.uvarint(), self.uvarint()
                f = by_tag.get(tag)
                if f is None:
                    self.take(size)
                    continue
                inner = _Reader({"_structs": self.structs, "_flexible": Versions("0+")}, self.version,
                                self.take(size))
                out[f["name"]] = inner.value(f["type"], f.get("fields"))
        return out


def encode(name, version, values):
    """The body of message `name` (e.g. "ProduceRequest") at `version`."""
    msg = schema(name)
    if version not in Versions(msg["validVersions"]):
        raise ValueError("%s has no version %d" % (name, version))
    w = _Writer(msg, version)
    w.fields(msg["fields"], values)
    return bytes(w.out)


def decode(name, version, data):
    """Decodes a whole body; trailing bytes are an error."""
    r = _Reader(schema(name), version, data)
    out = r.fields(schema(name)["fields"])
    if r.pos != len(data):
        raise ValueError("%s v%d: %d trailing bytes" % (name, version, len(data) - r.pos))
    return out


class KafkaConnection:
    """One TCP connection to a broker, sending one request at a time."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0, client_id="pytest-schema"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.client_id = client_id
        self.correlation = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            buf += chunk
        return bytes(buf)

    def call(self, api, version, values=None):
        """Sends request `api` (e.g. "Metadata") at `version`; returns the decoded response."""
        req = schema(api + "Request")
        flexible = version in req["_flexible"]
        self.correlation += 1
        client = self.client_id.encode()
        header = struct.pack(">hhih", req["apiKey"], version, self.correlation, len(client)) + client
        if flexible:
            header += b"\x00"  # request header v2: no tagged fields
        payload = header + encode(api + "Request", version, values or {})
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        (size,) = struct.unpack(">i", self._recv_exact(4))
        data = self._recv_exact(size)
        (correlation,) = struct.unpack_from(">i", data, 0)
        if correlation != self.correlation:
            raise ValueError("correlation id %d, expected %d" % (correlation, self.correlation))
        pos = 4
        if flexible and api != "ApiVersions":  # ApiVersions answers with header v0 always
            r = _Reader(req, version, data, pos)
            for _ in range(r.uvarint()):
                r.uvarint()
                r.take(r.uvarint())
            pos = r.pos
        return decode(api + "Response", version, data[pos:])

    def served(self, api):
        """The (min, max) versions of `api` the broker lists in ApiVersions v3."""
        key = schema(api + "Request")["apiKey"]
        for entry in self.call("ApiVersions", 3, {"ClientSoftwareName": "pytest", "ClientSoftwareVersion": "0"})[
                "ApiKeys"]:
            if entry["ApiKey"] == key:
                return entry["MinVersion"], entry["MaxVersion"]
        return None


# --- record batches (magic 2), for produce requests built by hand -------------------------------------

def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _varint(n):
    return _uvarint((n << 1) ^ (n >> 63))  # zigzag


def record_batch(values, base_timestamp=0, timestamps=None, producer_id=-1, producer_epoch=-1, base_sequence=-1,
                 keys=None):
    """One uncompressed v2 batch of records with the given values (bytes; no
    headers) and keys (bytes or None each; all None when not given), base
    offset 0, as a producer sends it."""
    timestamps = timestamps or [base_timestamp] * len(values)
    keys = keys or [None] * len(values)
    records = bytearray()
    for i, (value, ts, key) in enumerate(zip(values, timestamps, keys)):
        key_field = _varint(-1) if key is None else _varint(len(key)) + key
        body = (b"\x00" + _varint(ts - timestamps[0]) + _varint(i) + key_field + _varint(len(value)) + value +
                _varint(0))
        records += _varint(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, timestamps[0], max(timestamps), producer_id,
                            producer_epoch, base_sequence, len(values)) + bytes(records)
    head = struct.pack(">ib", 0, 2)  # partition leader epoch, magic
    batch_length = len(head) + 4 + len(after_crc)
    return struct.pack(">qi", 0, batch_length) + head + struct.pack(">I", crc32c(after_crc)) + after_crc
