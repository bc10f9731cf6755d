#include "metrics/dialect.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace keel::metrics {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Lower-cases; '.' and '-' become `dash` (none when 0); other characters
// that a Prometheus name cannot hold become '_'.
std::string mangle(std::string_view s, char dash) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '-' || c == '.') {
      if (dash) out.push_back(dash);
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else {
      out.push_back('_');
    }
  }
  return out;
}

}  // namespace

std::optional<Dialect> parse_dialect(std::string_view text) {
  if (text == "strimzi") return Dialect::kStrimzi;
  if (text == "confluent") return Dialect::kConfluent;
  return std::nullopt;
}

std::string family_name(const Desc& desc, Dialect dialect) {
  if (desc.kind == Kind::kCounter || desc.kind == Kind::kNativeGauge || desc.kind == Kind::kHistogram) {
    return desc.name;
  }
  std::string out = mangle(desc.domain, '_') + "_" + mangle(desc.type, dialect == Dialect::kStrimzi ? '_' : 0) + "_";
  std::string_view name = desc.name;
  if (dialect == Dialect::kStrimzi) {
    if (desc.kind == Kind::kMeter && ends_with(name, "PerSec")) {
      return out + mangle(name.substr(0, name.size() - 6), '_') + "_total";
    }
    if (desc.kind == Kind::kMeter) return out + mangle(name, '_') + "_total";
    if (desc.kind == Kind::kGauge && ends_with(name, "Percent")) {
      return out + mangle(name.substr(0, name.size() - 7), '_') + "_percent";
    }
    return out + mangle(name, '_');
  }
  return out + mangle(name, '_') + desc.confluent_suffix;
}

std::string label_name(std::string_view jmx_name, Dialect dialect) {
  if (dialect == Dialect::kStrimzi) {
    std::string out(jmx_name);
    for (char& c : out) {
      if (c == '-' || c == '.') c = '_';
    }
    return out;
  }
  // Confluent's rules lower-case label names, and spell this one apart.
  if (jmx_name == "networkProcessor") return "network_processor";
  return mangle(jmx_name, '_');
}

std::string_view type_word(Kind kind, Dialect dialect) {
  switch (kind) {
    case Kind::kMeter: return dialect == Dialect::kStrimzi ? "counter" : "untyped";
    case Kind::kCounter: return "counter";
    case Kind::kGauge:
    case Kind::kNativeGauge: return "gauge";
    case Kind::kTimer: return "summary";
    case Kind::kHistogram: return "histogram";
  }
  return "untyped";
}

namespace {
// Backslash and newline escaped; the double quote too in a label value.
std::string escape(std::string_view v, bool quote) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || (quote && c == '"')) {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}
}  // namespace

std::string escape_label_value(std::string_view v) { return escape(v, true); }
std::string escape_help(std::string_view v) { return escape(v, false); }

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    return buf;
  }
  // The shortest of 15 or 17 digits that reads back as the same double.
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace keel::metrics
