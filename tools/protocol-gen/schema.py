"""Kafka's JSON message schemas as a model: version ranges, fields, the
structs a message nests, and the loading of the schema directories (the
wire messages, and the internal-topic records listed in INTERNAL_RECORDS).
Its only C++: member names that dodge C++ keywords, and the C++ type,
writer and reader of each of Kafka's fixed-size types (FIXED)."""

import json
import os
import re

MAX_VERSION = 0x7FFF

CPP_KEYWORDS = {
    "alignas", "alignof", "and", "asm", "auto", "bool", "break", "case", "catch", "char",
    "class", "const", "constexpr", "continue", "default", "delete", "do", "double", "else",
    "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto", "if",
    "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "nullptr",
    "operator", "or", "private", "protected", "public", "register", "return", "short",
    "signed", "sizeof", "static", "struct", "switch", "template", "this", "throw", "true",
    "try", "typedef", "typename", "union", "unsigned", "using", "virtual", "void", "volatile",
    "while", "xor", "requires", "concept",
}
# Member names the generated code itself uses.
RESERVED_MEMBERS = {"encode", "decode", "read", "encoded_size", "unknown_tagged_fields"}

FIXED = {
    # kafka type: (c++ type, writer, reader, size)
    "int8": ("int8_t", "write_i8", "read_i8", 1),
    "int16": ("int16_t", "write_i16", "read_i16", 2),
    "uint16": ("uint16_t", "write_u16", "read_u16", 2),
    "int32": ("int32_t", "write_i32", "read_i32", 4),
    "uint32": ("uint32_t", "write_u32", "read_u32", 4),
    "int64": ("int64_t", "write_i64", "read_i64", 8),
    "float64": ("double", "write_f64", "read_f64", 8),
    "bool": ("bool", "write_bool", "read_bool", 1),
}
BLOBS = {"string", "bytes", "records"}


class Versions:
    """An inclusive version range; empty when lo > hi."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    @staticmethod
    def parse(text):
        text = (text or "none").strip()
        if text == "none":
            return Versions(1, 0)
        if text.endswith("+"):
            return Versions(int(text[:-1]), MAX_VERSION)
        if "-" in text:
            lo, hi = text.split("-")
            return Versions(int(lo), int(hi))
        return Versions(int(text), int(text))

    def empty(self):
        return self.lo > self.hi

    def contains(self, v):
        return self.lo <= v <= self.hi

    def intersect(self, other):
        return Versions(max(self.lo, other.lo), min(self.hi, other.hi))

    def cond(self, within, var="version_"):
        """A C++ condition for `var` in self, simplified for a message whose
        versions are `within`. Returns 'true'/'false' when constant."""
        eff = self.intersect(within)
        if eff.empty():
            return "false"
        parts = []
        if eff.lo > within.lo:
            parts.append("%s >= %d" % (var, eff.lo))
        if eff.hi < within.hi:
            parts.append("%s <= %d" % (var, eff.hi))
        return " && ".join(parts) if parts else "true"


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = s.lower()
    if s in CPP_KEYWORDS or s in RESERVED_MEMBERS:
        s += "_value"
    return s


def file_stem(name):
    """The file name of a message: snake case without the keyword escape
    snake() adds (so OffsetCommitValue is offset_commit_value)."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def load_json(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # Kafka's schemas are JSON with // line comments.
    lines = [ln for ln in text.split("\n") if not ln.strip().startswith("//")]
    return json.loads("\n".join(lines))


class Field:
    def __init__(self, js, msg):
        self.js = js
        self.name = js["name"]
        self.member = snake(self.name)
        self.type = js["type"]
        # A tagged-only field may give just taggedVersions (TransactionLogValue's
        # tags); Kafka's generator then takes those as its versions.
        self.versions = Versions.parse(js.get("versions") or js.get("taggedVersions"))
        self.nullable = Versions.parse(js.get("nullableVersions"))
        self.tagged = "tag" in js
        self.tag = int(js["tag"]) if self.tagged else None
        self.default = js.get("default")
        # Only "none" is used in practice (RequestHeader's ClientId).
        self.never_compact = js.get("flexibleVersions") == "none"
        self.is_array = self.type.startswith("[]")
        self.elem = self.type[2:] if self.is_array else self.type
        self.elem_is_struct = self.elem not in FIXED and self.elem not in BLOBS and self.elem != "uuid"
        self.may_be_null = not self.nullable.empty()

    def is_struct(self):
        return self.elem_is_struct and not self.is_array


class Struct:
    def __init__(self, name, fields_js, msg):
        self.name = name
        self.fields = [Field(f, msg) for f in fields_js]
        self.deps = set()
        for f in self.fields:
            if f.elem_is_struct:
                self.deps.add(f.elem)


class Message:
    def __init__(self, path, js):
        self.src = os.path.basename(path)
        self.js = js
        self.name = js["name"]
        self.kind = js["type"]
        self.api_key = js.get("apiKey")
        self.valid = Versions.parse(js.get("validVersions"))
        self.flexible = Versions.parse(js.get("flexibleVersions"))
        self.listeners = js.get("listeners", [])
        self.latest_unstable = bool(js.get("latestVersionUnstable", False))
        self.file = file_stem(self.name)
        self.structs = {}  # name -> Struct, nested types of this message
        self.top = Struct(self.name, js.get("fields", []), self)
        for cs in js.get("commonStructs", []):
            self._add_struct(cs["name"], cs["fields"])
        self._collect(js.get("fields", []))
        for s in list(self.structs.values()) + [self.top]:
            for d in s.deps:
                if d not in self.structs:
                    raise SystemExit("%s: struct %s is not defined" % (self.src, d))
        if self.name in self.structs:
            raise SystemExit("%s: a nested struct has the message's name" % self.src)

    def _add_struct(self, name, fields_js):
        if name in self.structs:
            raise SystemExit("%s: struct %s defined twice" % (self.src, name))
        self.structs[name] = Struct(name, fields_js, self)
        self._collect(fields_js)

    def _collect(self, fields_js):
        for f in fields_js:
            if "fields" in f:
                t = f["type"]
                self._add_struct(t[2:] if t.startswith("[]") else t, f["fields"])

    def ordered_structs(self):
        """Nested structs, each after the structs it uses."""
        out, seen = [], set()

        def visit(name):
            if name in seen:
                return
            seen.add(name)
            for d in sorted(self.structs[name].deps):
                visit(d)
            out.append(self.structs[name])

        for name in sorted(self.structs):
            visit(name)
        return out

    def flex_cond(self):
        return self.flexible.cond(self.valid)


def load_messages(schemas):
    msgs, skipped = [], []
    for name in sorted(os.listdir(schemas)):
        if not name.endswith(".json"):
            continue
        js = load_json(os.path.join(schemas, name))
        if js.get("type") not in ("request", "response", "header", "data"):
            skipped.append(name)
            continue
        if Versions.parse(js.get("validVersions")).empty():
            skipped.append(name)
            continue
        msgs.append(Message(os.path.join(schemas, name), js))
    return msgs, skipped


# The records of Kafka's internal topics that Keel writes and reads itself:
# __consumer_offsets (offset commits, classic group metadata) and
# __transaction_state. The KIP-848 and KIP-932 records beside them are not
# generated: a classic ZooKeeper-mode coordinator only skips them by key version.
INTERNAL_RECORDS = (
    "GroupMetadataKey.json", "GroupMetadataValue.json",
    "OffsetCommitKey.json", "OffsetCommitValue.json",
    "TransactionLogKey.json", "TransactionLogValue.json",
)


def load_internal_records(schemas):
    msgs = []
    for name in INTERNAL_RECORDS:
        path = os.path.join(schemas, name)
        if not os.path.exists(path):
            raise SystemExit("%s: not found" % path)
        js = load_json(path)
        if js.get("type") != "data":
            raise SystemExit("%s: expected a data schema" % path)
        msgs.append(Message(path, js))
    return msgs
