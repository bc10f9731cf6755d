#!/usr/bin/python3
"""Keel's protocol generator.

Reads Kafka's JSON message schemas (../shared/kafka-protocol/messages) and
writes, for every request, response, header and data schema, a C++ struct with
member defaults and version-aware encode / decode / encoded_size, plus the API
table (generated/api.h) and a decode-and-check dispatch over every request.
With --tests-out it also writes the GoogleTest round trips for every message
and every version. With --internal-schemas it also generates the records of
the internal topics listed in INTERNAL_RECORDS (__consumer_offsets and
__transaction_state keys and values) as "data" structs like any other.

  protocol_gen.py --schemas DIR [--internal-schemas DIR] --out src/protocol/generated \
                  --tests-out tests/unit/protocol/generated [--check]

--check writes nothing: it renders everything in memory and exits 1 naming
each file that differs from (or is missing in, or is stale in) the tree.

The modules beside this driver: schema.py (the schema model and loading,
INTERNAL_RECORDS), cpp_types.py (C++ types and defaults), codec.py (encode /
size / decode statements), messages.py (one message's .h/.cc), tables.py
(api, dispatch, all.h), roundtrip_tests.py (the GoogleTest round trips).

Standard library only; run it with /usr/bin/python3.
"""

import argparse
import os
import sys

from messages import render_message
from roundtrip_tests import render_tests
from schema import load_internal_records, load_messages
from tables import render_all, render_api, render_dispatch


def render_everything(msgs, internal, with_tests):
    out = {}
    seen = {}
    for m in msgs + internal:
        if m.file in seen:
            raise SystemExit("%s and %s both give %s.h" % (seen[m.file], m.src, m.file))
        seen[m.file] = m.src
    for m in msgs + internal:
        h, c = render_message(m)
        out[("gen", m.file + ".h")] = h
        out[("gen", m.file + ".cc")] = c
    h, c = render_api(msgs)
    out[("gen", "api.h")] = h
    out[("gen", "api.cc")] = c
    h, c = render_dispatch(msgs)
    out[("gen", "dispatch.h")] = h
    out[("gen", "dispatch.cc")] = c
    out[("gen", "all.h")] = render_all(msgs + internal)
    if with_tests:
        for name, text in render_tests(msgs, internal).items():
            out[("tests", name)] = text
    return out


# Hand-written files that live beside the generated tests.
HAND_WRITTEN_TEST_FILES = {"roundtrip.h", "README.md"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--internal-schemas",
                    help="Kafka's internal-topic record schemas (internal-topics/); "
                         "only the records in INTERNAL_RECORDS are generated")
    ap.add_argument("--tests-out")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()

    msgs, _ = load_messages(args.schemas)
    internal = load_internal_records(args.internal_schemas) if args.internal_schemas else []
    files = render_everything(msgs, internal, args.tests_out is not None)
    dirs = {"gen": args.out, "tests": args.tests_out}

    differ = []
    for (where, name), text in sorted(files.items()):
        path = os.path.join(dirs[where], name)
        old = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                old = f.read()
        if old == text:
            continue
        differ.append(path)
        if not args.check:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    # Stale files: generated earlier from a schema that is gone.
    for where, d in dirs.items():
        if d is None or not os.path.isdir(d):
            continue
        wanted = {n for (w, n) in files if w == where}
        for name in sorted(os.listdir(d)):
            if name in wanted or (where == "tests" and name in HAND_WRITTEN_TEST_FILES):
                continue
            path = os.path.join(d, name)
            differ.append(path + " (stale)")
            if not args.check:
                os.remove(path)

    if args.check:
        if differ:
            print("protocol-gen: the committed output differs from what the schemas give:")
            for p in differ:
                print("  " + p)
            print("run: /usr/bin/python3 tools/protocol-gen/protocol_gen.py --schemas %s%s --out %s%s"
                  % (args.schemas,
                     (" --internal-schemas " + args.internal_schemas) if args.internal_schemas else "",
                     args.out, (" --tests-out " + args.tests_out) if args.tests_out else ""))
            return 1
        print("protocol-gen: %d files up to date" % len(files))
        return 0
    print("protocol-gen: %d files, %d written" % (len(files), len([d for d in differ if "(stale)" not in d])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
