"""The statements of encode, encoded_size and decode for one field,
version- and flexibility-aware (compact strings and arrays, nullable
values, tagged fields)."""

from cpp_types import is_optional
from schema import BLOBS, FIXED


class Ctx:
    def __init__(self, msg):
        self.msg = msg
        self.within = msg.valid

    def compact(self, f, tagged=False):
        if f.never_compact:
            return "false"
        if tagged:
            return "true"
        return "flex_"

    def nullable(self, f):
        return f.nullable.cond(self.within)


def enc_value(ctx, f, expr, elem, compact, out, ind, nullable_expr):
    """Statements writing one non-array value `expr` of type `elem`."""
    if elem in FIXED:
        out.append("%sw_.%s(%s);" % (ind, FIXED[elem][1], expr))
    elif elem == "uuid":
        out.append("%swire::write_uuid(w_, %s);" % (ind, expr))
    elif elem == "string":
        out.append("%swire::write_string(w_, %s, %s);" % (ind, expr, compact))
    elif elem == "bytes":
        out.append("%swire::write_bytes(w_, ByteView(%s), %s);" % (ind, expr, compact))
    elif elem == "records":
        out.append("%swire::write_records(w_, %s, %s);" % (ind, expr, compact))
    else:
        out.append("%s%s.encode(w_, version_);" % (ind, expr))


def size_value(ctx, f, expr, elem, compact, acc, out, ind):
    if elem in FIXED:
        out.append("%s%s += %d;" % (ind, acc, FIXED[elem][3]))
    elif elem == "uuid":
        out.append("%s%s += 16;" % (ind, acc))
    elif elem == "string":
        out.append("%s%s += wire::string_size(%s, %s);" % (ind, acc, expr, compact))
    elif elem == "bytes":
        out.append("%s%s += wire::bytes_size(%s.size(), %s);" % (ind, acc, expr, compact))
    elif elem == "records":
        out.append("%s%s += wire::bytes_size(%s.size(), %s);" % (ind, acc, expr, compact))
    else:
        out.append("%s%s += %s.encoded_size(version_);" % (ind, acc, expr))


def dec_value(ctx, f, target, elem, compact, out, ind, reader="r_"):
    if elem in FIXED:
        out.append("%s%s = %s.%s();" % (ind, target, reader, FIXED[elem][2]))
    elif elem == "uuid":
        out.append("%s%s = wire::read_uuid(%s);" % (ind, target, reader))
    elif elem == "string":
        out.append("%swire::read_string(%s, %s, %s);" % (ind, reader, target, compact))
    elif elem == "bytes":
        out.append("%swire::read_bytes(%s, %s, %s);" % (ind, reader, target, compact))
    elif elem == "records":
        out.append("%swire::read_records(%s, %s, %s);" % (ind, reader, target, compact))
    else:
        out.append("%s%s.read(%s, version_);" % (ind, target, reader))


def open_array(f, m, out, ind, null_stmt):
    """For a nullable array, opens `if (!m) { null_stmt } else {` and returns
    the indentation and expression of the present array; else (ind, m)."""
    if not is_optional(f):
        return ind, m
    out.append("%sif (!%s) {" % (ind, m))
    out.append("%s  %s" % (ind, null_stmt))
    out.append("%s} else {" % ind)
    return ind + "  ", "(*%s)" % m


def close_array(f, out, ind):
    if is_optional(f):
        out.append("%s}" % ind)


def enc_field(ctx, f, out, ind, compact, nullable):
    m = "this->" + f.member
    if f.is_array:
        inner, arr = open_array(f, m, out, ind,
                                "wire::write_null_array(w_, %s, %s);" % (compact, nullable))
        out.append("%swire::write_array_length(w_, %s.size(), %s);" % (inner, arr, compact))
        out.append("%sfor (const auto& e_ : %s) {" % (inner, arr))
        enc_value(ctx, f, "e_", f.elem, compact, out, inner + "  ", nullable)
        out.append("%s}" % inner)
        close_array(f, out, ind)
    elif f.elem_is_struct:
        if is_optional(f):
            out.append("%swire::write_struct_marker(w_, %s.has_value(), %s);" % (ind, m, nullable))
            out.append("%sif (%s) %s->encode(w_, version_);" % (ind, m, m))
        else:
            out.append("%s%s.encode(w_, version_);" % (ind, m))
    elif f.elem in BLOBS and is_optional(f):
        fn = {"string": "write_nullable_string", "bytes": "write_nullable_bytes",
              "records": "write_nullable_records"}[f.elem]
        out.append("%swire::%s(w_, %s, %s, %s);" % (ind, fn, m, compact, nullable))
    else:
        enc_value(ctx, f, m, f.elem, compact, out, ind, nullable)


def size_field(ctx, f, out, ind, compact, acc):
    m = "this->" + f.member
    if f.is_array:
        inner, arr = open_array(f, m, out, ind,
                                "%s += (%s) ? 1 : 4;  // the null marker" % (acc, compact))
        out.append("%s%s += wire::array_length_size(%s.size(), %s);" % (inner, acc, arr, compact))
        if f.elem in FIXED:
            out.append("%s%s += %s.size() * %d;" % (inner, acc, arr, FIXED[f.elem][3]))
        elif f.elem == "uuid":
            out.append("%s%s += %s.size() * 16;" % (inner, acc, arr))
        else:
            out.append("%sfor (const auto& e_ : %s) {" % (inner, arr))
            size_value(ctx, f, "e_", f.elem, compact, acc, out, inner + "  ")
            out.append("%s}" % inner)
        close_array(f, out, ind)
    elif f.elem_is_struct:
        if is_optional(f):
            out.append("%s%s += 1;" % (ind, acc))
            out.append("%sif (%s) %s += %s->encoded_size(version_);" % (ind, m, acc, m))
        else:
            out.append("%s%s += %s.encoded_size(version_);" % (ind, acc, m))
    elif f.elem in BLOBS and is_optional(f):
        fn = {"string": "nullable_string_size", "bytes": "nullable_bytes_size",
              "records": "nullable_records_size"}[f.elem]
        out.append("%s%s += wire::%s(%s, %s);" % (ind, acc, fn, m, compact))
    else:
        size_value(ctx, f, m, f.elem, compact, acc, out, ind)


def dec_field(ctx, f, out, ind, compact, nullable, reader="r_"):
    m = "this->" + f.member
    if f.is_array:
        out.append("%s{" % ind)
        i2 = ind + "  "
        out.append("%sconst int32_t n_ = wire::read_array_length(%s, %s, %s);" % (i2, reader, compact, nullable))
        if is_optional(f):
            out.append("%sif (n_ < 0) {" % i2)
            out.append("%s  %s.reset();" % (i2, m))
            out.append("%s} else {" % i2)
            out.append("%s  auto& a_ = %s.emplace();" % (i2, m))
        else:
            out.append("%s{" % i2)
            out.append("%s  auto& a_ = %s;" % (i2, m))
            out.append("%s  a_.clear();" % i2)
        out.append("%s  for (int32_t i_ = 0; i_ < n_ && %s.ok(); ++i_) {" % (i2, reader))
        out.append("%s    auto& e_ = a_.emplace_back();" % i2)
        dec_value(ctx, f, "e_", f.elem, compact, out, i2 + "    ", reader)
        out.append("%s  }" % i2)
        out.append("%s}" % i2)
        out.append("%s}" % ind)
    elif f.elem_is_struct:
        if is_optional(f):
            out.append("%sif (wire::read_struct_marker(%s, %s)) {" % (ind, reader, nullable))
            # emplace(T{}) rather than emplace(): clang decides whether a nested
            # struct is default-constructible while the enclosing one is still
            # incomplete, and remembers "no".
            out.append("%s  %s.emplace(%s{}).read(%s, version_);" % (ind, m, f.elem, reader))
            out.append("%s} else {" % ind)
            out.append("%s  %s.reset();" % (ind, m))
            out.append("%s}" % ind)
        else:
            out.append("%s%s.read(%s, version_);" % (ind, m, reader))
    elif f.elem in BLOBS and is_optional(f):
        fn = {"string": "read_nullable_string", "bytes": "read_nullable_bytes",
              "records": "read_nullable_records"}[f.elem]
        out.append("%swire::%s(%s, %s, %s, %s);" % (ind, fn, reader, m, compact, nullable))
    else:
        dec_value(ctx, f, m, f.elem, compact, out, ind, reader)


def guarded(cond, body_fn, out, ind):
    if cond == "false":
        return
    if cond == "true":
        body_fn(out, ind)
        return
    out.append("%sif (%s) {" % (ind, cond))
    body_fn(out, ind + "  ")
    out.append("%s}" % ind)
