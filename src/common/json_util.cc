#include "common/json_util.h"

#include <cmath>
#include <limits>

#include <boost/json.hpp>

namespace keel::json {

namespace {

class JsonCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "json"; }
  std::string message(int c) const override {
    switch (static_cast<JsonErrc>(c)) {
      case JsonErrc::kSyntax: return "malformed JSON";
      case JsonErrc::kTooDeep: return "JSON nested too deeply";
    }
    return "unknown json error";
  }
};

bool has_non_finite(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::double_: return !std::isfinite(v.get_double());
    case boost::json::kind::array:
      for (const auto& e : v.get_array()) {
        if (has_non_finite(e)) return true;
      }
      return false;
    case boost::json::kind::object:
      for (const auto& m : v.get_object()) {
        if (has_non_finite(m.value())) return true;
      }
      return false;
    default: return false;
  }
}

void null_non_finite(boost::json::value& v) {
  if (v.is_double() && !std::isfinite(v.get_double())) {
    v = nullptr;
  } else if (v.is_array()) {
    for (auto& e : v.get_array()) null_non_finite(e);
  } else if (v.is_object()) {
    for (auto& m : v.get_object()) null_non_finite(m.value());
  }
}

}  // namespace

const std::error_category& json_category() {
  static JsonCategory c;
  return c;
}

Result<boost::json::value> parse(std::string_view text, std::string* error_message) {
  boost::json::parse_options options;
  options.max_depth = kMaxDepth;
  boost::json::parser p(boost::json::storage_ptr(), options);
  boost::system::error_code ec;
  const size_t consumed = p.write(text.data(), text.size(), ec);
  if (ec) {
    if (error_message) *error_message = ec.message() + " at byte " + std::to_string(consumed);
    return ec == boost::json::error::too_deep ? JsonErrc::kTooDeep : JsonErrc::kSyntax;
  }
  return p.release();
}

std::string write(const boost::json::value& v) {
  if (!has_non_finite(v)) return boost::json::serialize(v);
  boost::json::value copy = v;
  null_non_finite(copy);
  return boost::json::serialize(copy);
}

const boost::json::value* find(const boost::json::value& v, std::string_view key) {
  const auto* o = v.if_object();
  return o ? o->if_contains(key) : nullptr;
}

std::optional<std::string> get_string(const boost::json::value& v, std::string_view key) {
  const boost::json::value* m = find(v, key);
  if (!m || !m->is_string()) return std::nullopt;
  return std::string(m->get_string());
}

std::string string_member(const boost::json::value& v, std::string_view key) {
  return get_string(v, key).value_or(std::string());
}

std::optional<int64_t> to_int64(const boost::json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(v.get_uint64());
  }
  return std::nullopt;
}

std::string_view kind_name(boost::json::kind k) {
  switch (k) {
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return "a boolean";
    case boost::json::kind::int64: return "an integer";
    case boost::json::kind::uint64:
    case boost::json::kind::double_: return "a number";
    case boost::json::kind::string: return "a string";
    case boost::json::kind::array: return "an array";
    case boost::json::kind::object: return "an object";
  }
  return "?";
}

}  // namespace keel::json
