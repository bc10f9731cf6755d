#pragma once
// Keel's thin layer over Boost.JSON (the one JSON library; issue 24): the
// strict parse every untrusted document goes through, the compact writer,
// and lookups that never throw. Light header: Boost.JSON's types are only
// forward-declared here; .cc files include <boost/json.hpp>.
//
// Parse contract: the whole input is one JSON value (surrounding whitespace
// allowed), nesting at most kMaxDepth deep, strings valid UTF-8 (raw or
// \u escapes, surrogates paired), no comments or trailing commas. Integers
// are exact: int64 when they fit, uint64 for larger positive ones, double
// beyond that. Anything else is an error whose message names the byte offset.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/json/fwd.hpp>
#include <boost/json/kind.hpp>

#include "common/result.h"

namespace keel::json {

inline constexpr int kMaxDepth = 64;

enum class JsonErrc { kSyntax = 1, kTooDeep };
const std::error_category& json_category();
inline std::error_code make_error_code(JsonErrc e) { return {static_cast<int>(e), json_category()}; }

// Errors: kSyntax or kTooDeep; *error_message (when given) says what and
// where ("syntax error at byte 3").
Result<boost::json::value> parse(std::string_view text, std::string* error_message = nullptr);
// Compact form, members in insertion order; a non-finite double is written
// as null (Boost would write Infinity/NaN, which is not JSON).
std::string write(const boost::json::value& v);

// Member `key` of an object; nullptr when absent or `v` is not an object.
const boost::json::value* find(const boost::json::value& v, std::string_view key);
// Member `key` of an object as a std::string; nullopt when absent, not a
// string, or `v` is not an object.
std::optional<std::string> get_string(const boost::json::value& v, std::string_view key);
// The same, "" for all those cases: for members a schema check already made
// required strings.
std::string string_member(const boost::json::value& v, std::string_view key);
// The integer `v` holds when it fits in int64 (an int64, or a uint64 up to
// INT64_MAX); nullopt for anything else, doubles included.
std::optional<int64_t> to_int64(const boost::json::value& v);
// "a string", "an integer", ...: for error messages. A uint64 (beyond int64)
// is "a number", as a double is.
std::string_view kind_name(boost::json::kind k);

}  // namespace keel::json

template <>
struct std::is_error_code_enum<keel::json::JsonErrc> : std::true_type {};
