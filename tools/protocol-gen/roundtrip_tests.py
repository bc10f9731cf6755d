"""The GoogleTest round trips of every message and version (fill every
field with non-default values, encode, size, decode, compare) and their
CMakeLists.txt with the protocol_gen_check test."""

from cpp_types import HEADER_NOTE, is_optional
from schema import FIXED


def fill_value(elem, f, idx, seed_expr, target, out, ind):
    """Statements giving `target` (of element type `elem`) a non-default value."""
    k = idx + 1
    if elem == "bool":
        dflt = str(f.default).lower() == "true" if not f.is_array else False
        out.append("%s%s = %s;" % (ind, target, "false" if dflt else "true"))
    elif elem in ("int8", "int16", "uint16", "int32", "uint32", "int64"):
        ctype = FIXED[elem][0]
        out.append("%s%s = static_cast<%s>(%d + 3 * %s);" % (ind, target, ctype, k, seed_expr))
    elif elem == "float64":
        out.append("%s%s = %d.5 + %s;" % (ind, target, k, seed_expr))
    elif elem == "uuid":
        out.append("%s%s.bytes.fill(static_cast<uint8_t>(%d + %s));" % (ind, target, k, seed_expr))
    elif elem == "string":
        out.append('%s%s = "%s-" + std::to_string(%s);' % (ind, target, f.member, seed_expr))
    elif elem == "bytes":
        out.append("%s%s = Bytes{%d, 0, 255, static_cast<uint8_t>(%s)};" % (ind, target, k, seed_expr))
    elif elem == "records":
        out.append("%s%s = Records::own(Bytes{%d, 2, 3, static_cast<uint8_t>(%s)});" % (ind, target, k, seed_expr))
    else:
        out.append("%sfill(%s, version_, %s);" % (ind, target, seed_expr))


def render_fill(msg, s, qual):
    within = msg.valid
    out = ["[[maybe_unused]] void fill(%s& x_, int16_t version_, int seed_) {" % qual]
    out.append("  [[maybe_unused]] const bool flex_ = %s;" % msg.flex_cond())
    for idx, f in enumerate(s.fields):
        c = f.versions.cond(within)
        if c == "false":
            continue
        body = []
        m = "x_." + f.member
        ind = "    "
        if is_optional(f):
            body.append("  if ((%s) && seed_ %% 2 == 1) {" % f.nullable.cond(within))
            body.append("    %s.reset();" % m)
            body.append("  } else {")
            target = "%s.emplace(%s)" % (m, ("%s::%s{}" % (msg.name, f.elem)) if f.is_struct() else "")
        else:
            body.append("  {")
            target = m
        if f.is_array:
            body.append("%sauto& a_ = %s;" % (ind, target))
            body.append("%sa_.clear();" % ind)
            body.append("%sfor (int i_ = 0; i_ < 2; ++i_) {" % ind)
            body.append("%s  auto& e_ = a_.emplace_back();" % ind)
            fill_value(f.elem, f, idx, "seed_ + i_", "e_", body, ind + "  ")
            body.append("%s}" % ind)
        else:
            if is_optional(f):
                body.append("%sauto& v_ = %s;" % (ind, target))
                fill_value(f.elem, f, idx, "seed_", "v_", body, ind)
            else:
                fill_value(f.elem, f, idx, "seed_", target, body, ind)
        body.append("  }")
        if c == "true":
            out.extend(body)
        else:
            out.append("  if (%s) {" % c)
            out.extend("  " + b for b in body)
            out.append("  }")
    out.append("  if (flex_) x_.unknown_tagged_fields.push_back(RawTaggedField{10000u + static_cast<uint32_t>(seed_), Bytes{9, 8, 7}});")
    out.append("}")
    out.append("")
    return out


def render_test_file(chunk):
    out = [HEADER_NOTE.format(src="*.json").rstrip("\n"),
           "// Round trips for every version of: %s." % ", ".join(m.name for m in chunk),
           "// Each version is filled with non-default values in every field it has",
           "// (nulls too, where the version allows them, and an unknown tagged field",
           "// in flexible versions), encoded, sized, decoded and compared; then every",
           "// strict prefix of the encoding must fail to decode.",
           "",
           "#include <gtest/gtest.h>",
           "",
           "#include <string>",
           "",
           '#include "protocol/generated/all.h"',
           '#include "tests/unit/protocol/generated/roundtrip.h"',
           "",
           "namespace keel::protocol {",
           "namespace {",
           ""]
    for m in chunk:
        for s in m.ordered_structs():
            out.extend(render_fill(m, s, "%s::%s" % (m.name, s.name)))
        out.extend(render_fill(m, m.top, m.name))
    for m in chunk:
        out.append("TEST(RoundTrip, %s) {" % m.name)
        out.append("  for (int16_t v = %s::kLowestVersion; v <= %s::kHighestVersion; ++v) {" % (m.name, m.name))
        out.append("    for (int seed = 0; seed < 2; ++seed) {")
        out.append("      SCOPED_TRACE(\"version \" + std::to_string(v) + \" seed \" + std::to_string(seed));")
        out.append("      %s msg;" % m.name)
        out.append("      fill(msg, v, seed);")
        out.append("      check_roundtrip(msg, v);")
        out.append("    }")
        out.append("  }")
        out.append("}")
        out.append("")
    out.append("}  // namespace")
    out.append("}  // namespace keel::protocol")
    out.append("")
    return "\n".join(out)


def render_tests(msgs, internal, groups=8):
    """The round trips: the wire messages in `groups` files, the internal-topic
    records (if any) in one file of their own, and the CMakeLists.txt. The check
    test passes --internal-schemas only when this run had internal records, so
    a run without them reproduces itself."""
    files = {}
    ordered = sorted(msgs, key=lambda m: m.file)
    per = (len(ordered) + groups - 1) // groups
    names = []
    for g in range(groups):
        chunk = ordered[g * per:(g + 1) * per]
        if not chunk:
            continue
        name = "roundtrip_%d_test.cc" % (g + 1)
        names.append(name)
        files[name] = render_test_file(chunk)
    if internal:
        name = "roundtrip_internal_test.cc"
        names.append(name)
        files[name] = render_test_file(sorted(internal, key=lambda m: m.file))
    cm = ["# Generated by tools/protocol-gen. Do not edit.",
          "keel_unit_test(protocol_roundtrip_test",
          "  SOURCES"]
    for n in names:
        cm.append("    ${CMAKE_CURRENT_SOURCE_DIR}/%s" % n)
    cm.append("  LIBS keel_protocol)")
    cm.append("target_include_directories(protocol_roundtrip_test PRIVATE ${CMAKE_SOURCE_DIR})")
    cm.append("")
    cm.append("# The committed output must be what the generator writes from the schemas.")
    if internal:
        cm.append("if(EXISTS ${KEEL_PROTOCOL_SCHEMAS} AND EXISTS ${KEEL_INTERNAL_SCHEMAS})")
    else:
        cm.append("if(EXISTS ${KEEL_PROTOCOL_SCHEMAS})")
    cm.append("  find_package(Python3 REQUIRED COMPONENTS Interpreter)")
    cm.append("  add_test(NAME protocol_gen_check")
    cm.append("           COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tools/protocol-gen/protocol_gen.py")
    cm.append("                   --schemas ${KEEL_PROTOCOL_SCHEMAS}")
    if internal:
        cm.append("                   --internal-schemas ${KEEL_INTERNAL_SCHEMAS}")
    cm.append("                   --out ${CMAKE_SOURCE_DIR}/src/protocol/generated")
    cm.append("                   --tests-out ${CMAKE_SOURCE_DIR}/tests/unit/protocol/generated --check)")
    cm.append("endif()")
    cm.append("")
    files["CMakeLists.txt"] = "\n".join(cm)
    return files
