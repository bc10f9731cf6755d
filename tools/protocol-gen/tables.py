"""The files over all messages: the API table (api.h/.cc), decode by key
with a round-trip self check (dispatch.h/.cc) and the umbrella all.h."""

from cpp_types import HEADER_NOTE


def api_pairs(msgs):
    reqs = {m.api_key: m for m in msgs if m.kind == "request"}
    resps = {m.api_key: m for m in msgs if m.kind == "response"}
    keys = sorted(reqs)
    for k in keys:
        if k not in resps:
            raise SystemExit("request %s has no response" % reqs[k].name)
    return [(reqs[k], resps[k]) for k in keys]


def render_api(msgs):
    pairs = api_pairs(msgs)
    h = ["#pragma once", HEADER_NOTE.format(src="*Request.json").rstrip("\n"),
         "// The API keys in Kafka's schemas, their version ranges, and the header",
         "// versions each (key, version) pair uses.",
         "",
         "#include <cstdint>",
         "#include <span>",
         "#include <string_view>",
         "",
         "namespace keel::protocol {",
         "",
         "enum class ApiKey : int16_t {"]
    for req, _ in pairs:
        h.append("  k%s = %d," % (req.name[:-len("Request")], req.api_key))
    h.append("};")
    h.append("")
    h.append("struct ApiInfo {")
    h.append("  int16_t key;")
    h.append("  std::string_view name;")
    h.append("  int16_t min_version;")
    h.append("  int16_t max_version;")
    h.append("  int16_t first_flexible_version;  // -1: never flexible")
    h.append("  bool zk_broker;        // a ZooKeeper-mode Kafka broker serves it")
    h.append("  bool latest_unstable;  // max_version is still under development")
    h.append("};")
    h.append("")
    h.append("// Every API in the schemas, ordered by key.")
    h.append("std::span<const ApiInfo> all_apis();")
    h.append("// nullptr when the key is not in the schemas.")
    h.append("const ApiInfo* find_api(int16_t key);")
    h.append("// Request header version (0-2) for a request of `key` at `version`.")
    h.append("int16_t request_header_version(int16_t key, int16_t version);")
    h.append("// Response header version (0-1). ApiVersions answers always use v0 so a")
    h.append("// client can parse the answer whatever version it asked for (KIP-511).")
    h.append("int16_t response_header_version(int16_t key, int16_t version);")
    h.append("")
    h.append("}  // namespace keel::protocol")
    h.append("")

    c = [HEADER_NOTE.format(src="*Request.json").rstrip("\n"),
         '#include "protocol/generated/api.h"',
         "",
         "#include <algorithm>",
         "",
         "namespace keel::protocol {",
         "namespace {",
         "",
         "constexpr ApiInfo kApis[] = {"]
    for req, _ in pairs:
        ff = req.flexible.lo if not req.flexible.empty() else -1
        c.append('    {%d, "%s", %d, %d, %d, %s, %s},' % (
            req.api_key, req.name[:-len("Request")], req.valid.lo, req.valid.hi, ff,
            "true" if "zkBroker" in req.listeners else "false",
            "true" if req.latest_unstable else "false"))
    c.append("};")
    c.append("")
    c.append("}  // namespace")
    c.append("")
    c.append("std::span<const ApiInfo> all_apis() { return kApis; }")
    c.append("")
    c.append("const ApiInfo* find_api(int16_t key) {")
    c.append("  auto it = std::lower_bound(std::begin(kApis), std::end(kApis), key,")
    c.append("                             [](const ApiInfo& a, int16_t k) { return a.key < k; });")
    c.append("  return it != std::end(kApis) && it->key == key ? &*it : nullptr;")
    c.append("}")
    c.append("")
    c.append("int16_t request_header_version(int16_t key, int16_t version) {")
    c.append("  // ControlledShutdown v0 predates the client id in the header.")
    c.append("  if (key == %d && version == 0) return 0;" % 7)
    c.append("  const ApiInfo* api = find_api(key);")
    c.append("  if (api && api->first_flexible_version >= 0 && version >= api->first_flexible_version) return 2;")
    c.append("  return 1;")
    c.append("}")
    c.append("")
    c.append("int16_t response_header_version(int16_t key, int16_t version) {")
    c.append("  if (key == %d) return 0;" % 18)
    c.append("  const ApiInfo* api = find_api(key);")
    c.append("  if (api && api->first_flexible_version >= 0 && version >= api->first_flexible_version) return 1;")
    c.append("  return 0;")
    c.append("}")
    c.append("")
    c.append("}  // namespace keel::protocol")
    c.append("")
    return "\n".join(h), "\n".join(c)


def render_dispatch(msgs):
    pairs = api_pairs(msgs)
    h = ["#pragma once", HEADER_NOTE.format(src="*.json").rstrip("\n"),
         "// Decoding by API key, for code that holds only (key, version, bytes):",
         "// the fuzzers and the checks that every decoder is safe on any input.",
         "",
         "#include <cstdint>",
         "",
         '#include "common/bytes.h"',
         '#include "common/result.h"',
         "",
         "namespace keel::protocol {",
         "",
         "// Decodes `body` as the request (or response) body of `api_key` at",
         "// `version`; an unknown key or version is WireErrc::kUnsupportedVersion and",
         "// bytes left over are WireErrc::kTrailingBytes. When decoding succeeds the",
         "// message is encoded again and must give the same size and decode to an",
         "// equal message; a mismatch is a generator bug and aborts (KEEL_ASSERT).",
         "Result<void> check_request_roundtrip(int16_t api_key, int16_t version, ByteView body);",
         "Result<void> check_response_roundtrip(int16_t api_key, int16_t version, ByteView body);",
         "",
         "}  // namespace keel::protocol",
         ""]
    c = [HEADER_NOTE.format(src="*.json").rstrip("\n"),
         '#include "protocol/generated/dispatch.h"',
         "",
         '#include "common/assert.h"',
         '#include "common/errors.h"',
         '#include "protocol/generated/all.h"',
         "",
         "namespace keel::protocol {",
         "namespace {",
         "",
         "template <typename T>",
         "Result<void> roundtrip(int16_t version, ByteView body) {",
         "  if (version < T::kLowestVersion || version > T::kHighestVersion) return WireErrc::kUnsupportedVersion;",
         "  ByteReader r(body);",
         "  T first;",
         "  if (auto res = first.decode(r, version); !res) return res;",
         "  if (!r.at_end()) return WireErrc::kTrailingBytes;",
         "  ByteWriter w;",
         "  first.encode(w, version);",
         "  KEEL_ASSERT(w.ok(), \"a decoded message failed to encode\");",
         "  KEEL_ASSERT(w.size() == first.encoded_size(version), \"encoded_size disagrees with encode\");",
         "  ByteReader r2(ByteView(w.buffer()));",
         "  T second;",
         "  KEEL_ASSERT(second.decode(r2, version).ok() && r2.at_end(), \"re-encoded message does not decode\");",
         "  KEEL_ASSERT(second == first, \"re-encoded message decodes differently\");",
         "  return {};",
         "}",
         "",
         "}  // namespace",
         ""]
    for kind, idx in (("request", 0), ("response", 1)):
        c.append("Result<void> check_%s_roundtrip(int16_t api_key, int16_t version, ByteView body) {" % kind)
        c.append("  switch (api_key) {")
        for p in pairs:
            c.append("    case %d: return roundtrip<%s>(version, body);" % (p[idx].api_key, p[idx].name))
        c.append("    default: return WireErrc::kUnsupportedVersion;")
        c.append("  }")
        c.append("}")
        c.append("")
    c.append("}  // namespace keel::protocol")
    c.append("")
    return "\n".join(h), "\n".join(c)


def render_all(msgs):
    out = ["#pragma once", HEADER_NOTE.format(src="*.json").rstrip("\n"),
           "// Every generated message.", ""]
    out.append('#include "protocol/generated/api.h"')
    for m in sorted(msgs, key=lambda m: m.file):
        out.append('#include "protocol/generated/%s.h"' % m.file)
    out.append("")
    return "\n".join(out)
