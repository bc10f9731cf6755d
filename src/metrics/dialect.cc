#include "metrics/dialect.h"

#include <cctype>
#include <charconv>
#include <cmath>

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
bool needs_escape(char c, bool quote) { return c == '\\' || c == '\n' || (quote && c == '"'); }

// Backslash and newline escaped; the double quote too in a label value.
void append_escaped(std::string& out, std::string_view v, bool quote) {
  size_t plain = 0;  // the run of characters that need no escape, appended at once
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (!needs_escape(c, quote)) continue;
    out.append(v.substr(plain, i - plain));
    out.push_back('\\');
    out.push_back(c == '\n' ? 'n' : c);
    plain = i + 1;
  }
  out.append(v.substr(plain));
}
}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  append_escaped(out, v, true);
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  append_escaped(out, v, false);
  return out;
}

void append_label_value(std::string& out, std::string_view v) { append_escaped(out, v, true); }

void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
    out.append(buf, std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v)).ptr);
    return;
  }
  // The shorter of 15 or 17 significant digits that reads back as the same
  // double, spelled as printf's %.15g / %.17g would (to_chars' general
  // format with a precision is defined as that, without printf's locale and
  // format parsing).
  char* end = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 15).ptr;
  double back = 0;
  std::from_chars(buf, end, back);
  if (back != v) end = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 17).ptr;
  out.append(buf, end);
}

std::string format_value(double v) {
  std::string out;
  append_value(out, v);
  return out;
}

}  // namespace keel::metrics
