#include "common/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common/utf8.h"

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

constexpr int kMaxDepth = 64;

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Result<Value> parse_document(std::string* message) {
    skip_ws();
    Value v;
    if (!parse_value(v, 0)) return fail(message);
    skip_ws();
    if (pos_ != s_.size()) {
      err_ = "trailing characters";
      return fail(message);
    }
    return v;
  }

 private:
  std::error_code fail(std::string* message) {
    if (message) *message = err_ + " at byte " + std::to_string(pos_);
    return too_deep_ ? JsonErrc::kTooDeep : JsonErrc::kSyntax;
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool expect(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    err_ = std::string("expected '") + c + "'";
    return false;
  }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) {
      err_ = "unknown literal";
      return false;
    }
    pos_ += word.size();
    return true;
  }

  bool parse_value(Value& out, int depth) {
    if (depth > kMaxDepth) {
      too_deep_ = true;
      err_ = "nesting deeper than 64";
      return false;
    }
    if (pos_ >= s_.size()) {
      err_ = "unexpected end";
      return false;
    }
    switch (s_[pos_]) {
      case 'n': out = Value(); return literal("null");
      case 't': out = Value::boolean(true); return literal("true");
      case 'f': out = Value::boolean(false); return literal("false");
      case '"': {
        std::string str;
        if (!parse_string(str)) return false;
        out = Value::string(std::move(str));
        return true;
      }
      case '[': return parse_array(out, depth);
      case '{': return parse_object(out, depth);
      default: return parse_number(out);
    }
  }

  bool parse_array(Value& out, int depth) {
    ++pos_;
    out = Value::array();
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      skip_ws();
      Value v;
      if (!parse_value(v, depth + 1)) return false;
      out.push(std::move(v));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      return expect(']');
    }
  }

  bool parse_object(Value& out, int depth) {
    ++pos_;
    out = Value::object();
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') {
        err_ = "expected a member name";
        return false;
      }
      std::string key;
      if (!parse_string(key)) return false;
      skip_ws();
      if (!expect(':')) return false;
      skip_ws();
      Value v;
      if (!parse_value(v, depth + 1)) return false;
      out.set(std::move(key), std::move(v));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      return expect('}');
    }
  }

  bool hex4(uint32_t& out) {
    if (pos_ + 4 > s_.size()) {
      err_ = "short \\u escape";
      return false;
    }
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      out <<= 4;
      if (c >= '0' && c <= '9') out |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') out |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') out |= static_cast<uint32_t>(c - 'A' + 10);
      else {
        err_ = "bad \\u escape";
        return false;
      }
    }
    return true;
  }

  // A raw multi-byte UTF-8 sequence whose lead byte `lead` was just consumed:
  // copied when well formed (shortest form, no surrogates, at most U+10FFFF),
  // else an error, so every string we hand out is valid UTF-8.
  bool raw_utf8(std::string& out, unsigned char lead) {
    int extra = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if ((lead & 0xE0) == 0xC0) {
      extra = 1, cp = lead & 0x1F, min = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2, cp = lead & 0x0F, min = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3, cp = lead & 0x07, min = 0x10000;
    } else {
      err_ = "invalid UTF-8 lead byte";
      return false;
    }
    if (pos_ + static_cast<size_t>(extra) > s_.size()) {
      err_ = "truncated UTF-8 sequence";
      return false;
    }
    for (int i = 0; i < extra; ++i) {
      const unsigned char c = static_cast<unsigned char>(s_[pos_ + static_cast<size_t>(i)]);
      if ((c & 0xC0) != 0x80) {
        err_ = "invalid UTF-8 continuation byte";
        return false;
      }
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) {
      err_ = "invalid UTF-8 code point";
      return false;
    }
    out.push_back(static_cast<char>(lead));
    out.append(s_.substr(pos_, static_cast<size_t>(extra)));
    pos_ += static_cast<size_t>(extra);
    return true;
  }

  bool parse_string(std::string& out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= s_.size()) {
        err_ = "unterminated string";
        return false;
      }
      const unsigned char c = static_cast<unsigned char>(s_[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) {
        err_ = "control character in a string";
        return false;
      }
      if (c >= 0x80) {
        if (!raw_utf8(out, c)) return false;
        continue;
      }
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        continue;
      }
      if (pos_ >= s_.size()) {
        err_ = "unterminated escape";
        return false;
      }
      const char e = s_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00) {
            uint32_t low;
            if (pos_ + 2 > s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') {
              err_ = "lone high surrogate";
              return false;
            }
            pos_ += 2;
            if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) {
              err_ = "bad low surrogate";
              return false;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            err_ = "lone low surrogate";
            return false;
          }
          append_utf8(out, cp);
          break;
        }
        default: err_ = "unknown escape"; return false;
      }
    }
  }

  bool parse_number(Value& out) {
    const size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    const size_t int_start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    if (pos_ == int_start || (s_[int_start] == '0' && pos_ - int_start > 1)) {
      err_ = "bad number";
      pos_ = start;
      return false;
    }
    bool is_int = true;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      is_int = false;
      ++pos_;
      const size_t f = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      if (pos_ == f) {
        err_ = "bad fraction";
        return false;
      }
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      is_int = false;
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      const size_t e = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      if (pos_ == e) {
        err_ = "bad exponent";
        return false;
      }
    }
    const std::string text(s_.substr(start, pos_ - start));
    if (is_int) {
      errno = 0;
      char* end = nullptr;
      const long long v = std::strtoll(text.c_str(), &end, 10);
      if (errno == 0 && end == text.c_str() + text.size()) {
        out = Value::integer(v);
        return true;
      }
    }
    out = Value::number(std::strtod(text.c_str(), nullptr));
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string err_;
  bool too_deep_ = false;
};

void write_to(std::string& out, const Value& v) {
  switch (v.type()) {
    case Value::Type::kNull: out += "null"; return;
    case Value::Type::kBool: out += v.as_bool() ? "true" : "false"; return;
    case Value::Type::kInt: out += std::to_string(v.as_int()); return;
    case Value::Type::kDouble: {
      if (!std::isfinite(v.as_double())) {
        out += "null";
        return;
      }
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.17g", v.as_double());
      out += buf;
      // Keep it a double when read back ("-0" or "1e+16" printed as
      // "10000000000000000" would come back as an integer).
      if (std::string_view(buf).find_first_of(".eE") == std::string_view::npos) out += ".0";
      return;
    }
    case Value::Type::kString: out += quote(v.as_string()); return;
    case Value::Type::kArray: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : v.as_array()) {
        if (!first) out.push_back(',');
        first = false;
        write_to(out, e);
      }
      out.push_back(']');
      return;
    }
    case Value::Type::kObject: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, e] : v.as_object()) {
        if (!first) out.push_back(',');
        first = false;
        out += quote(k);
        out.push_back(':');
        write_to(out, e);
      }
      out.push_back('}');
      return;
    }
  }
}

}  // namespace

const std::error_category& json_category() {
  static JsonCategory c;
  return c;
}

Value Value::boolean(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.type_ = Type::kInt;
  v.int_ = i;
  return v;
}
Value Value::number(double d) {
  Value v;
  v.type_ = Type::kDouble;
  v.double_ = d;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.type_ = Type::kString;
  v.string_ = std::move(s);
  return v;
}
Value Value::array(Array a) {
  Value v;
  v.type_ = Type::kArray;
  v.array_ = std::move(a);
  return v;
}
Value Value::object(Object o) {
  Value v;
  v.type_ = Type::kObject;
  v.object_ = std::move(o);
  return v;
}

const Value* Value::find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (auto it = object_.rbegin(); it != object_.rend(); ++it) {
    if (it->first == key) return &it->second;
  }
  return nullptr;
}

Value& Value::set(std::string key, Value v) {
  object_.emplace_back(std::move(key), std::move(v));
  return *this;
}

Value& Value::push(Value v) {
  array_.push_back(std::move(v));
  return *this;
}

Result<Value> parse(std::string_view text, std::string* error_message) {
  return Parser(text).parse_document(error_message);
}

std::string write(const Value& v) {
  std::string out;
  write_to(out, v);
  return out;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace keel::json
