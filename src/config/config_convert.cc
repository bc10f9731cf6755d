// Pass 2 of the YAML parser: each key's value converted and checked by its type
// in the ConfigDef table (numbers with their ranges, booleans, lists with their
// allowed values, listeners), plus the text helpers the passes share.

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <limits>
#include <string>
#include <variant>

#include "config/config_internal.h"

namespace keel::config::detail {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) comma = s.size();
    std::string item = trim(s.substr(start, comma - start));
    if (!item.empty()) out.push_back(std::move(item));
    start = comma + 1;
  }
  return out;
}

std::string format_double(double d) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

std::string format_bound(double d) {
  if (d == std::floor(d) && std::fabs(d) < 9.2e18) return std::to_string(static_cast<int64_t>(d));
  return format_double(d);
}

std::string describe_node_kind(const YAML::Node& n) {
  if (n.IsMap()) return "a map";
  if (n.IsSequence()) return "a list";
  if (n.IsNull()) return "nothing";
  return "'" + n.Scalar() + "'";
}

std::optional<std::string_view> nearest_of(std::string_view got,
                                           const std::vector<std::string_view>& candidates) {
  std::string g = lower(got);
  std::optional<std::string_view> best;
  size_t best_d = SIZE_MAX;
  for (std::string_view c : candidates) {
    size_t d = edit_distance(g, lower(c));
    if (d < best_d) best_d = d, best = c;
  }
  if (best && best_d <= std::max<size_t>(2, got.size() / 3)) return best;
  return std::nullopt;
}

// ---- pass 2: convert

std::string expected_phrase(KeyType t) {
  switch (t) {
    case KeyType::kShort:
    case KeyType::kInt:
    case KeyType::kLong: return "an integer";
    case KeyType::kDouble: return "a number";
    case KeyType::kBool: return "true or false";
    case KeyType::kString: return "a string";
    case KeyType::kList: return "a list";
    case KeyType::kListeners: return "a list of listeners";
    case KeyType::kStringMap: return "a map";
  }
  return "a value";
}

// Converts text (a scalar, or a default from the table) to v.
// Returns "" on success, else the problem.
// Keys whose values are Kafka release versions (MetadataVersion strings).
bool is_kafka_version_key(std::string_view name) {
  return name == "log.message.format.version" || name == "inter.broker.protocol.version";
}

// Kafka's version strings: a release ("0.10.2", "2.8", "3.9", longer forms
// such as "2.8.1" cut to the release, as Kafka cuts them) with an optional
// "-IV<n>" of that release. Releases from 0.8.0 to 3.9 are known.
bool is_kafka_version(std::string_view text) {
  std::string_view release = text;
  if (const size_t iv = text.find("-IV"); iv != std::string_view::npos) {
    const std::string_view n = text.substr(iv + 3);
    if (n.empty() || n.size() > 2 || !std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    release = text.substr(0, iv);
  }
  std::vector<int> parts;
  size_t pos = 0;
  while (pos <= release.size()) {
    const size_t dot = std::min(release.find('.', pos), release.size());
    int n = 0;
    auto r = std::from_chars(release.data() + pos, release.data() + dot, n);
    if (dot == pos || r.ec != std::errc() || r.ptr != release.data() + dot) return false;
    parts.push_back(n);
    pos = dot + 1;
  }
  if (parts.size() < 2) return false;
  if (parts[0] == 0) {
    // 0.8.0 to 0.11.0: three parts name the release.
    if (parts.size() < 3) return false;
    switch (parts[1]) {
      case 8: case 10: return parts[2] <= 2;  // 0.8.0-0.8.2, 0.10.0-0.10.2
      case 9: case 11: return parts[2] == 0;
      default: return false;
    }
  }
  return (parts[0] == 1 && parts[1] <= 1) || (parts[0] == 2 && parts[1] <= 8) || (parts[0] == 3 && parts[1] <= 9);
}

std::string convert_scalar(const KeyDef& def, const std::string& raw, Value& v) {
  std::string text = trim(raw);
  switch (def.type) {
    case KeyType::kShort:
    case KeyType::kInt:
    case KeyType::kLong: {
      const char* b = text.data();
      const char* e = b + text.size();
      if (b != e && *b == '+') ++b;
      int64_t n = 0;
      auto r = std::from_chars(b, e, n);
      if (r.ec == std::errc::result_out_of_range) {
        bool neg = !text.empty() && text[0] == '-';
        return neg ? "must be at least " + std::to_string(INT64_MIN) + ", got " + text
                   : "must be at most " + std::to_string(INT64_MAX) + ", got " + text;
      }
      if (b == e || r.ec != std::errc() || r.ptr != e)
        return "expected an integer, got '" + raw + "'";
      int64_t lo = def.type == KeyType::kShort ? INT16_MIN
                   : def.type == KeyType::kInt ? INT32_MIN
                                               : INT64_MIN;
      int64_t hi = def.type == KeyType::kShort ? INT16_MAX
                   : def.type == KeyType::kInt ? INT32_MAX
                                               : INT64_MAX;
      if (def.min && static_cast<double>(n) < *def.min)
        return "must be at least " + format_bound(*def.min) + ", got " + std::to_string(n);
      if (def.max && static_cast<double>(n) > *def.max)
        return "must be at most " + format_bound(*def.max) + ", got " + std::to_string(n);
      if (n < lo) return "must be at least " + std::to_string(lo) + ", got " + std::to_string(n);
      if (n > hi) return "must be at most " + std::to_string(hi) + ", got " + std::to_string(n);
      v.i = n;
      return "";
    }
    case KeyType::kDouble: {
      double d = 0;
      auto r = std::from_chars(text.data(), text.data() + text.size(), d);
      if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() ||
          !std::isfinite(d))
        return "expected a number, got '" + raw + "'";
      if (def.min && d < *def.min)
        return "must be at least " + format_bound(*def.min) + ", got " + text;
      if (def.max && d > *def.max)
        return "must be at most " + format_bound(*def.max) + ", got " + text;
      v.d = d;
      return "";
    }
    case KeyType::kBool: {
      std::string l = lower(text);
      if (l == "true") v.b = true;
      else if (l == "false") v.b = false;
      else return "expected true or false, got '" + raw + "'";
      return "";
    }
    case KeyType::kString: {
      if (is_kafka_version_key(def.name) && !is_kafka_version(text)) {
        return "'" + text + "' is not a Kafka version (such as 2.8, 3.0-IV1 or 3.9)";
      }
      // Allowed values match case-insensitively and are stored in their
      // canonical spelling: log4j habits (INFO, WARN) are not worth a refusal.
      for (std::string_view allowed : def.valid_values)
        if (lower(allowed) == lower(text)) text = std::string(allowed);
      if (!def.valid_values.empty() &&
          std::find(def.valid_values.begin(), def.valid_values.end(), text) ==
              def.valid_values.end()) {
        std::vector<std::string> vals(def.valid_values.begin(), def.valid_values.end());
        std::string msg = "must be one of " + join(vals, ", ") + "; got '" + text + "'";
        if (auto near = nearest_of(text, def.valid_values))
          msg += " — did you mean '" + std::string(*near) + "'?";
        return msg;
      }
      v.s = text;
      return "";
    }
    case KeyType::kList:
    case KeyType::kListeners:
      v.list = split_commas(text);
      return "";
    case KeyType::kStringMap: {
      for (const std::string& item : split_commas(text)) {
        size_t colon = item.find(':');
        if (colon == std::string::npos || item.find(':', colon + 1) != std::string::npos)
          return "entry '" + item + "' is not NAME:VALUE";
        v.map[upper(trim(item.substr(0, colon)))] = upper(trim(item.substr(colon + 1)));
      }
      return "";
    }
  }
  return "unsupported type";
}

// Converts a YAML node; may add several errors (one per bad list item).
bool convert_node(const KeyDef& def, const RawEntry& e, Value& v, Errors& errors) {
  const YAML::Node& n = e.value;
  bool list_type = def.type == KeyType::kList || def.type == KeyType::kListeners;
  if (n.IsSequence()) {
    if (!list_type) {
      errors.key_error(def.name, e.line,
                       "expected " + expected_phrase(def.type) + ", got a list");
      return false;
    }
    bool ok = true;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node item = *it;
      int line = item.Mark().line + 1;
      if (!item.IsScalar()) {
        errors.key_error(def.name, line,
                         "list items must be plain values, got " + describe_node_kind(item));
        ok = false;
        continue;
      }
      for (std::string& part : split_commas(item.Scalar())) {
        v.list.push_back(std::move(part));
        v.list_lines.push_back(line);
      }
    }
    return ok;
  }
  if (n.IsMap()) {
    if (def.type != KeyType::kStringMap) {
      errors.key_error(def.name, e.line, "expected " + expected_phrase(def.type) + ", got a map");
      return false;
    }
    bool ok = true;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node val = it->second;
      if (!key.IsScalar() || !val.IsScalar()) {
        errors.key_error(def.name, key.Mark().line + 1,
                         "map entries must be NAME: VALUE");
        ok = false;
        continue;
      }
      v.map[upper(trim(key.Scalar()))] = upper(trim(val.Scalar()));
    }
    return ok;
  }
  std::string problem = convert_scalar(def, n.Scalar(), v);
  if (!problem.empty()) {
    errors.key_error(def.name, e.line, problem);
    return false;
  }
  v.list_lines.assign(v.list.size(), e.line);
  return true;
}

// convert_node, plus: a list written out but empty is a mistake, not "use the
// default" (that is spelled by leaving the value out).
bool convert_given(const KeyDef& def, const RawEntry& e, Value& v, Errors& errors) {
  if (!convert_node(def, e, v, errors)) return false;
  bool list_type = def.type == KeyType::kList || def.type == KeyType::kListeners;
  if (list_type && v.list.empty()) {
    errors.key_error(def.name, e.line,
                     def.type == KeyType::kListeners ? "at least one listener is needed"
                                                     : "must list at least one value");
    return false;
  }
  return true;
}

// Item-level checks that need the list: allowed values, listener syntax.
bool check_list_items(const KeyDef& def, int key_line, Value& v, std::vector<Endpoint>* endpoints,
                      std::vector<int>* endpoint_lines, Errors& errors) {
  bool ok = true;
  for (size_t i = 0; i < v.list.size(); ++i) {
    int line = i < v.list_lines.size() ? v.list_lines[i] : key_line;
    std::string& item = v.list[i];
    for (std::string_view allowed : def.valid_values)
      if (lower(allowed) == lower(item)) item = std::string(allowed);
    if (def.type == KeyType::kListeners) {
      std::string why;
      auto ep = parse_endpoint(item, &why);
      if (!ep) {
        errors.key_error(def.name, line, "'" + item + "' is not NAME://host:port: " + why);
        ok = false;
      } else {
        endpoints->push_back(*ep);
        endpoint_lines->push_back(line);
      }
    } else if (!def.valid_values.empty() &&
               std::find(def.valid_values.begin(), def.valid_values.end(), item) ==
                   def.valid_values.end()) {
      std::vector<std::string> vals(def.valid_values.begin(), def.valid_values.end());
      std::string msg = "each item must be one of " + join(vals, ", ") + "; got '" + item + "'";
      if (auto near = nearest_of(item, def.valid_values))
        msg += " — did you mean '" + std::string(*near) + "'?";
      errors.key_error(def.name, line, msg);
      ok = false;
    }
  }
  return ok;
}

}  // namespace keel::config::detail
