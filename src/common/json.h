#pragma once
// A small JSON value, strict parser and compact writer — enough for the
// coordination store's payloads (Kafka's ZooKeeper layout). Light header:
// no templates beyond the standard containers.
//
// Parser contract: the whole input is one JSON value (surrounding
// whitespace allowed), nesting at most 64 deep, integers kept exact as
// int64 when they fit (else as double), strings UTF-8 with \u escapes
// (surrogate pairs joined). Anything else is an error with the byte offset.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace keel::json {

class Value {
 public:
  enum class Type { kNull, kBool, kInt, kDouble, kString, kArray, kObject };
  using Array = std::vector<Value>;
  using Object = std::vector<std::pair<std::string, Value>>;  // insertion order kept

  Value() = default;
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double d);
  static Value string(std::string s);
  static Value array(Array a = {});
  static Value object(Object o = {});

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_bool() const { return type_ == Type::kBool; }

  bool as_bool() const { return bool_; }
  int64_t as_int() const { return int_; }
  double as_double() const { return type_ == Type::kInt ? static_cast<double>(int_) : double_; }
  const std::string& as_string() const { return string_; }
  const Array& as_array() const { return array_; }
  Array& as_array() { return array_; }
  const Object& as_object() const { return object_; }

  // Object member by key (the last one if repeated); nullptr when absent or not an object.
  const Value* find(std::string_view key) const;
  // Appends a member (objects) or an element (arrays).
  Value& set(std::string key, Value v);
  Value& push(Value v);

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  double double_ = 0;
  std::string string_;
  Array array_;
  Object object_;
};

// Errors: JsonErrc::kSyntax (message via error_message()).
Result<Value> parse(std::string_view text, std::string* error_message = nullptr);
// Compact form (no spaces), members in insertion order.
std::string write(const Value& v);
// A JSON string literal for s (quotes included).
std::string quote(std::string_view s);

enum class JsonErrc { kSyntax = 1, kTooDeep };
const std::error_category& json_category();
inline std::error_code make_error_code(JsonErrc e) { return {static_cast<int>(e), json_category()}; }

}  // namespace keel::json

template <>
struct std::is_error_code_enum<keel::json::JsonErrc> : std::true_type {};
