"""One message's header and source: the struct with its nested types and
their encode / encoded_size / read / decode definitions."""

from codec import Ctx, dec_field, enc_field, guarded, size_field
from cpp_types import HEADER_NOTE, default_expr, default_init, field_cpp


def render_struct_decl(msg, s, ind, top):
    out = []
    if top:
        out.append("%sstruct %s {" % (ind, s.name))
        if msg.api_key is not None:
            out.append("%s  static constexpr int16_t kApiKey = %d;" % (ind, msg.api_key))
        out.append("%s  static constexpr int16_t kLowestVersion = %d;" % (ind, msg.valid.lo))
        out.append("%s  static constexpr int16_t kHighestVersion = %d;" % (ind, msg.valid.hi))
        ff = msg.flexible.lo if not msg.flexible.empty() else -1
        out.append("%s  static constexpr int16_t kFirstFlexibleVersion = %d;" % (ind, ff))
        out.append("")
        for n in msg.ordered_structs():
            out.extend(render_struct_decl(msg, n, ind + "  ", False))
            out.append("")
    else:
        out.append("%sstruct %s {" % (ind, s.name))
    for f in s.fields:
        about = f.js.get("about")
        if about:
            out.append("%s  // %s" % (ind, about.replace("\n", " ")))
        init = default_init(f)
        if init is None:
            out.append("%s  %s %s{};" % (ind, field_cpp(f), f.member))
        else:
            out.append("%s  %s %s = %s;" % (ind, field_cpp(f), f.member, init))
    out.append("%s  // Tagged fields this schema does not know, kept for re-encoding." % ind)
    out.append("%s  std::vector<RawTaggedField> unknown_tagged_fields;" % ind)
    out.append("")
    out.append("%s  // Writes this struct as `version` has it (the caller checks the range)." % ind)
    out.append("%s  void encode(ByteWriter& w_, int16_t version_) const;" % ind)
    out.append("%s  // Exactly the number of bytes encode() writes." % ind)
    out.append("%s  size_t encoded_size(int16_t version_) const;" % ind)
    out.append("%s  // Reads into *this (reset first); failures are left on the reader." % ind)
    out.append("%s  void read(ByteReader& r_, int16_t version_);" % ind)
    out.append("%s  Result<void> decode(ByteReader& r_, int16_t version_) {" % ind)
    out.append("%s    read(r_, version_);" % ind)
    out.append("%s    if (!r_.ok()) return r_.error();" % ind)
    out.append("%s    return {};" % ind)
    out.append("%s  }" % ind)
    out.append("%s  bool operator==(const %s&) const = default;" % (ind, s.name))
    out.append("%s};" % ind)
    return out


def emit_when_flexible(flex, body, out):
    """Appends `body` (the tagged-field part of a function), guarded by flex_
    unless every version of the message is flexible."""
    if flex == "true":
        out.extend(body)
    else:
        out.append("  if (flex_) {")
        out.extend("  " + b for b in body)
        out.append("  }")


def render_struct_defs(msg, s, qual):
    ctx = Ctx(msg)
    flex = msg.flex_cond()
    regular = [f for f in s.fields if not f.tagged]
    tagged = sorted([f for f in s.fields if f.tagged], key=lambda f: f.tag)
    out = []

    # encode
    out.append("void %s::encode(ByteWriter& w_, int16_t version_) const {" % qual)
    out.append("  [[maybe_unused]] const bool flex_ = %s;" % flex)
    for f in regular:
        c = f.versions.cond(ctx.within)
        guarded(c, lambda o, i, f=f: enc_field(ctx, f, o, i, ctx.compact(f), ctx.nullable(f)), out, "  ")
    if flex != "false":
        body = []
        body.append("  size_t tagged_count_ = unknown_tagged_fields.size();")
        for f in tagged:
            c = f.versions.cond(ctx.within)
            body.append("  const bool has_%s_ = (%s) && !(this->%s == %s);" % (f.member, c, f.member, default_expr(f)))
            body.append("  tagged_count_ += has_%s_ ? 1 : 0;" % f.member)
        body.append("  w_.write_uvarint(tagged_count_);")
        body.append("  size_t unknown_next_ = 0;")
        for f in tagged:
            body.append("  unknown_next_ = wire::write_unknown_tagged_below(w_, unknown_tagged_fields, unknown_next_, %d);" % f.tag)
            body.append("  if (has_%s_) {" % f.member)
            body.append("    ByteWriter t_;")
            body.append("    {")
            body.append("      ByteWriter& w_ = t_;")
            sub = []
            enc_field(ctx, f, sub, "      ", ctx.compact(f, True), ctx.nullable(f))
            body.extend(sub)
            body.append("    }")
            body.append("    if (!t_.ok()) w_.fail(t_.error());")
            body.append("    wire::write_tagged_payload(w_, %d, t_.buffer());" % f.tag)
            body.append("  }")
        body.append("  wire::write_unknown_tagged_below(w_, unknown_tagged_fields, unknown_next_, UINT64_MAX);")
        emit_when_flexible(flex, body, out)
    out.append("}")
    out.append("")

    # encoded_size
    out.append("size_t %s::encoded_size(int16_t version_) const {" % qual)
    out.append("  [[maybe_unused]] const bool flex_ = %s;" % flex)
    out.append("  size_t n_ = 0;")
    for f in regular:
        c = f.versions.cond(ctx.within)
        guarded(c, lambda o, i, f=f: size_field(ctx, f, o, i, ctx.compact(f), "n_"), out, "  ")
    if flex != "false":
        body = []
        body.append("  size_t tagged_count_ = unknown_tagged_fields.size();")
        body.append("  n_ += wire::unknown_tagged_size(unknown_tagged_fields);")
        for f in tagged:
            c = f.versions.cond(ctx.within)
            body.append("  if ((%s) && !(this->%s == %s)) {" % (c, f.member, default_expr(f)))
            body.append("    size_t p_ = 0;")
            sub = []
            size_field(ctx, f, sub, "    ", ctx.compact(f, True), "p_")
            body.extend(sub)
            body.append("    n_ += wire::tagged_field_size(%d, p_);" % f.tag)
            body.append("    ++tagged_count_;")
            body.append("  }")
        body.append("  n_ += uvarint_size(tagged_count_);")
        emit_when_flexible(flex, body, out)
    out.append("  return n_;")
    out.append("}")
    out.append("")

    # read
    out.append("void %s::read(ByteReader& r_, int16_t version_) {" % qual)
    out.append("  *this = %s{};" % s.name)
    out.append("  [[maybe_unused]] const bool flex_ = %s;" % flex)
    for f in regular:
        c = f.versions.cond(ctx.within)
        guarded(c, lambda o, i, f=f: dec_field(ctx, f, o, i, ctx.compact(f), ctx.nullable(f)), out, "  ")
    if flex != "false":
        body = []
        body.append("  const uint32_t tagged_count_ = wire::read_tagged_count(r_);")
        body.append("  for (uint32_t k_ = 0; k_ < tagged_count_ && r_.ok(); ++k_) {")
        body.append("    const uint32_t tag_ = r_.read_uvarint();")
        body.append("    const uint32_t size_ = r_.read_uvarint();")
        body.append("    const ByteView payload_ = r_.read_view(size_);")
        body.append("    if (!r_.ok()) break;")
        first = True
        for f in tagged:
            c = f.versions.cond(ctx.within)
            kw = "if" if first else "} else if"
            first = False
            body.append("    %s (tag_ == %d && (%s)) {" % (kw, f.tag, c))
            body.append("      ByteReader t_(payload_);")
            sub = []
            dec_field(ctx, f, sub, "      ", ctx.compact(f, True), ctx.nullable(f), reader="t_")
            body.extend(sub)
            body.append("      if (!t_.ok()) r_.fail(t_.error());")
        if tagged:
            body.append("    } else {")
            body.append("      unknown_tagged_fields.push_back(RawTaggedField{tag_, Bytes(payload_.begin(), payload_.end())});")
            body.append("    }")
        else:
            body.append("    unknown_tagged_fields.push_back(RawTaggedField{tag_, Bytes(payload_.begin(), payload_.end())});")
        body.append("  }")
        emit_when_flexible(flex, body, out)
    out.append("}")
    out.append("")
    return out


def render_message(msg):
    guard_includes = [
        "#include <cstdint>",
        "#include <optional>",
        "#include <string>",
        "#include <vector>",
        "",
        '#include "common/bytes.h"',
        '#include "common/result.h"',
        '#include "protocol/types.h"',
    ]
    h = ["#pragma once", HEADER_NOTE.format(src=msg.src).rstrip("\n")]
    valid = "%d-%d" % (msg.valid.lo, msg.valid.hi) if not msg.valid.empty() else "none"
    h.append("// %s: %s, versions %s%s." % (
        msg.name, msg.kind, valid,
        (", flexible from v%d" % msg.flexible.lo) if not msg.flexible.empty() else ", never flexible"))
    h.append("")
    h.extend(guard_includes)
    h.append("")
    h.append("namespace keel::protocol {")
    h.append("")
    h.extend(render_struct_decl(msg, msg.top, "", True))
    h.append("")
    h.append("}  // namespace keel::protocol")
    h.append("")

    c = [HEADER_NOTE.format(src=msg.src).rstrip("\n")]
    c.append('#include "protocol/generated/%s.h"' % msg.file)
    c.append("")
    c.append("#include <cstdint>")
    c.append("")
    c.append('#include "protocol/wire.h"')
    c.append("")
    c.append("namespace keel::protocol {")
    c.append("")
    for s in msg.ordered_structs():
        c.extend(render_struct_defs(msg, s, "%s::%s" % (msg.name, s.name)))
    c.extend(render_struct_defs(msg, msg.top, msg.name))
    c.append("}  // namespace keel::protocol")
    c.append("")
    return "\n".join(h), "\n".join(c)
