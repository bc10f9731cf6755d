#include "security/principal_rules.h"

#include <locale.h>
#include <wctype.h>

#include <cctype>
#include <charconv>
#include <optional>
#include <regex>
#include <utility>

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

namespace keel::security {
namespace {


void set_message(std::string* out, std::string text) {
  if (out != nullptr) *out = std::move(text);
}

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ascii_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool is_java_space(char c) {  // Java's \s
  return c == ' ' || c == '\t' || c == '\n' || c == '\x0B' || c == '\f' || c == '\r';
}
bool is_quantifier(char c) { return c == '*' || c == '+' || c == '?' || c == '{'; }

bool all_hex(std::string_view s, std::size_t from, std::size_t count) {
  if (from + count > s.size()) return false;
  for (std::size_t i = from; i < from + count; ++i) {
    if (!is_hex(s[i])) return false;
  }
  return true;
}

std::size_t utf8_sequence_length(unsigned char lead) {
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// Why `pattern`, valid Java, would not mean the same to std::regex, or an
// empty string if it would. Only what can be seen without parsing the regex.
std::string java_only_construct(std::string_view p) {
  bool in_class = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\') {
      if (i + 1 == p.size()) return {};  // std::regex refuses it as Java does
      const char e = p[i + 1];
      if (static_cast<unsigned char>(e) >= 0x80) return "escaped non-ASCII character";
      if (is_ascii_alnum(e)) {
        bool same = false;
        switch (e) {
          case 'd': case 'D': case 's': case 'S': case 'w': case 'W':
          case 't': case 'n': case 'r': case 'f':
            same = true;
            break;
          case 'b': case 'B': same = !in_class; break;  // backspace in ECMAScript, refused by Java
          case 'x': same = all_hex(p, i + 2, 2); break;  // not Java's \x{...}
          case 'u': same = all_hex(p, i + 2, 4); break;
          case 'c': same = i + 2 < p.size() && std::isalpha(static_cast<unsigned char>(p[i + 2])); break;
          default: same = !in_class && e >= '1' && e <= '9'; break;  // back-reference
        }
        if (!same) return std::string("escape \\") + e + " (Java-only or different meaning)";
      }
      ++i;
      continue;
    }
    if (static_cast<unsigned char>(c) >= 0x80) {
      if (in_class) return "non-ASCII character in a character class";
      const std::size_t next = i + utf8_sequence_length(static_cast<unsigned char>(c));
      if (next < p.size() && is_quantifier(p[next])) return "quantifier on a non-ASCII character";
      continue;
    }
    if (in_class) {
      if (c == '[') return "'[' inside a character class (Java nests or unites classes)";
      if (c == '&' && i + 1 < p.size() && p[i + 1] == '&') return "class intersection &&";
      if (c == ']') in_class = false;
      continue;
    }
    if (c == '[') {
      in_class = true;
      std::size_t first = i + 1;
      if (first < p.size() && p[first] == '^') ++first;
      if (first < p.size() && p[first] == ']') return "']' first in a character class";
      i = first - 1;
      continue;
    }
    if ((c == '*' || c == '+' || c == '?' || c == '}') && i + 1 < p.size() && p[i + 1] == '+') {
      return "possessive quantifier";
    }
  }
  return {};
}

struct JavaRegex {
  std::regex re;
  unsigned groups = 0;
};

std::optional<JavaRegex> compile_java_regex(std::string_view pattern, std::string* why) {
  if (std::string bad = java_only_construct(pattern); !bad.empty()) {
    *why = "regex `" + std::string(pattern) + "` is not supported: " + bad;
    return std::nullopt;
  }
  try {
    JavaRegex r{std::regex(pattern.begin(), pattern.end(), std::regex::ECMAScript), 0};
    r.groups = static_cast<unsigned>(r.re.mark_count());
    return r;
  } catch (const std::regex_error& e) {
    *why = "regex `" + std::string(pattern) + "` does not compile: " + e.what();
    return std::nullopt;
  }
}

// A Java Matcher replacement string, parsed once: `\x` is x, `$n` a group.
struct Replacement {
  struct Piece {
    std::string literal;
    int group = -1;  // >= 0: append this group instead (nothing if it did not take part)
  };
  std::vector<Piece> pieces;

  void add_literal(char c) {
    if (pieces.empty() || pieces.back().group >= 0) pieces.push_back({});
    pieces.back().literal += c;
  }
};

// How a `$n` beyond the pattern's groups is treated.
enum class UnknownGroup {
  kRefuse,   // Java throws when the rule runs (KerberosRule)
  kLiteral,  // SslPrincipalMapper escapes such references first, so they stay text
};

std::optional<Replacement> parse_replacement(std::string_view r, unsigned groups,
                                             UnknownGroup unknown, std::string* why) {
  Replacement out;
  std::size_t i = 0;
  while (i < r.size()) {
    const char c = r[i];
    if (c == '\\') {
      if (i + 1 == r.size()) {
        *why = "replacement `" + std::string(r) + "` ends with a lone '\\'";
        return std::nullopt;
      }
      out.add_literal(r[i + 1]);
      i += 2;
      continue;
    }
    if (c != '$') {
      out.add_literal(c);
      ++i;
      continue;
    }
    if (i + 1 == r.size() || !is_ascii_digit(r[i + 1])) {
      *why = "replacement `" + std::string(r) + "` has a '$' without a group number";
      return std::nullopt;
    }
    std::size_t digits_end = i + 1;
    while (digits_end < r.size() && is_ascii_digit(r[digits_end])) ++digits_end;
    const std::string_view digits = r.substr(i + 1, digits_end - i - 1);
    if (unknown == UnknownGroup::kLiteral && groups > 0 && digits[0] != '0') {
      // Kafka drops trailing digits while the number is too big, then keeps
      // what is still too big as literal text. (Kafka applies its escapes at
      // offsets of the unescaped text, so its second such reference in one
      // replacement comes out garbled; Keel does what Kafka means.)
      unsigned long long n = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
      if (ec != std::errc{}) {
        *why = "replacement `" + std::string(r) + "` has a group number out of range";
        return std::nullopt;
      }
      while (n > groups && n >= 10) n /= 10;
      if (n > groups) {
        out.add_literal('$');
        ++i;
        continue;
      }
    }
    // Java's own reading: the first digit always, more while the number stays
    // within the pattern's groups ("$12" with one group is group 1 then "2").
    unsigned group = static_cast<unsigned>(digits[0] - '0');
    if (group > groups) {
      *why = "replacement `" + std::string(r) + "` refers to group " + std::to_string(group) +
             " but the regex has " + std::to_string(groups);
      return std::nullopt;
    }
    i += 2;
    while (i < r.size() && is_ascii_digit(r[i])) {
      const unsigned longer = group * 10 + static_cast<unsigned>(r[i] - '0');
      if (longer > groups) break;
      group = longer;
      ++i;
    }
    out.pieces.push_back({{}, static_cast<int>(group)});
  }
  return out;
}

// Java's Matcher.replaceAll / replaceFirst: after an empty match the next
// search starts one character later (ECMAScript's iterator would first retry
// a longer match at the same place).
std::string java_replace(const std::regex& re, std::string_view input,
                         const Replacement& with, bool all) {
  std::string out;
  std::size_t copied = 0;
  std::size_t from = 0;
  const char* const begin = input.data();
  const char* const end = begin + input.size();
  while (from <= input.size()) {
    std::cmatch m;
    const auto flags = from > 0 ? std::regex_constants::match_prev_avail
                                : std::regex_constants::match_default;
    if (!std::regex_search(begin + from, end, m, re, flags)) break;
    const std::size_t start = from + static_cast<std::size_t>(m.position(0));
    const std::size_t stop = start + static_cast<std::size_t>(m.length(0));
    out.append(input.substr(copied, start - copied));
    for (const Replacement::Piece& piece : with.pieces) {
      if (piece.group < 0) {
        out += piece.literal;
      } else if (m[piece.group].matched) {
        out.append(m[piece.group].first, m[piece.group].second);
      }
    }
    copied = stop;
    if (!all) break;
    from = stop == start ? stop + 1 : stop;
  }
  out.append(input.substr(copied));
  return out;
}

enum class CaseFold { kNone, kLower, kUpper };

locale_t utf8_locale() {
  static const locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return loc;
}

// Decodes one UTF-8 character at s[i], or returns false for a bad sequence.
bool decode_utf8(std::string_view s, std::size_t& i, char32_t& cp) {
  const auto lead = static_cast<unsigned char>(s[i]);
  const std::size_t len = utf8_sequence_length(lead);
  if ((lead >= 0x80 && lead < 0xC2) || lead > 0xF4 || i + len > s.size()) return false;
  cp = len == 1 ? lead : lead & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (b & 0x3F);
  }
  i += len;
  return true;
}

void encode_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Java's toLowerCase/toUpperCase(Locale.ENGLISH) for all but its special
// cases; ASCII only if the text is not UTF-8 or C.UTF-8 is missing.
std::string fold_case(std::string s, CaseFold fold) {
  if (fold == CaseFold::kNone) return s;
  const locale_t loc = utf8_locale();
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t at = i;
    char32_t cp = 0;
    if (loc == static_cast<locale_t>(nullptr) || !decode_utf8(s, at, cp)) {
      const auto b = static_cast<unsigned char>(s[i]);
      out += static_cast<char>(fold == CaseFold::kLower ? std::tolower(b) : std::toupper(b));
      ++i;
      continue;
    }
    const auto wc = static_cast<wint_t>(cp);
    encode_utf8(static_cast<char32_t>(fold == CaseFold::kLower ? towlower_l(wc, loc)
                                                               : towupper_l(wc, loc)),
                out);
    i = at;
  }
  return out;
}

Result<std::string> too_long(std::string_view what, std::string* error_message) {
  set_message(error_message, std::string(what) + " is " + std::to_string(what.size()) +
                                 " bytes, above the limit of " +
                                 std::to_string(kMaxMappedNameBytes));
  return PrincipalErrc::kNameTooLong;
}

std::string invalid_rule(std::string_view rule, std::string_view why) {
  return "invalid rule `" + std::string(rule) + "`: " + std::string(why);
}

std::string unmatched(std::string_view rule, std::size_t at) {
  return invalid_rule(rule, "unmatched substring `" + std::string(rule.substr(at)) + "`");
}

}  // namespace


// ---------------------------------------------------------------------------
// Kerberos

struct KerberosShortNamer::Rule {
  std::string text;  // as configured, for messages
  bool is_default = false;
  std::size_t components = 0;
  std::string format;
  std::optional<JavaRegex> match;
  std::optional<JavaRegex> from;
  Replacement to;
  bool repeat = false;
  CaseFold fold = CaseFold::kNone;
};

namespace {

// `[n:format]`'s `$k` must name the realm (0) or one of the n components;
// Kafka checks this only when a principal with n components arrives and then
// fails it, so the check moves to parse time.
bool check_format(std::string_view format, std::size_t components, std::string* why) {
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '$') continue;
    std::size_t end = i + 1;
    while (end < format.size() && is_ascii_digit(format[end])) ++end;
    std::size_t k = 0;
    const auto [ptr, ec] = std::from_chars(format.data() + i + 1, format.data() + end, k);
    if (end == i + 1 || ec != std::errc{} || k > components) {
      *why = "`$" + std::string(format.substr(i + 1, end - i - 1)) + "` in format `" +
             std::string(format) + "` is not $0 (realm) to $" + std::to_string(components);
      return false;
    }
    i = end - 1;
  }
  return true;
}

std::string expand_format(std::string_view format, const std::vector<std::string_view>& params) {
  std::string out;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '$') {
      out += format[i];
      continue;
    }
    std::size_t end = i + 1;
    std::size_t k = 0;
    while (end < format.size() && is_ascii_digit(format[end])) {
      k = k * 10 + static_cast<std::size_t>(format[end] - '0');
      ++end;
    }
    out += params[k];  // check_format bounded k
    i = end - 1;
  }
  return out;
}

}  // namespace

KerberosShortNamer::KerberosShortNamer(std::string default_realm, std::vector<Rule> rules)
    : default_realm_(std::move(default_realm)), rules_(std::move(rules)) {}
KerberosShortNamer::KerberosShortNamer(KerberosShortNamer&&) noexcept = default;
KerberosShortNamer& KerberosShortNamer::operator=(KerberosShortNamer&&) noexcept = default;
KerberosShortNamer::~KerberosShortNamer() = default;

// Kafka's grammar, read greedily the way its regex is:
//   DEFAULT | RULE:[<digits>:<no ']'>] ( (<no ')'>) )? ( s/<no '/'>/<no '/'>/g? )? /? (L|U)?
// An optional part that does not complete is skipped, and what it left
// behind is then "unmatched".
std::optional<KerberosShortNamer::Rule> KerberosShortNamer::parse_rule(std::string_view text,
                                                                       std::string* why) {
  Rule rule;
  rule.text = std::string(text);
  if (text.starts_with("DEFAULT")) {
    if (text.size() != 7) {
      *why = unmatched(text, 7);
      return std::nullopt;
    }
    rule.is_default = true;
    return rule;
  }
  constexpr std::string_view kHead = "RULE:[";
  std::size_t pos = kHead.size();
  const std::size_t colon = text.find(':', pos);
  const std::size_t close = colon == std::string_view::npos ? colon : text.find(']', colon);
  bool head_ok = text.starts_with(kHead) && close != std::string_view::npos;
  for (std::size_t i = pos; head_ok && i < colon; ++i) head_ok = is_ascii_digit(text[i]);
  if (!head_ok) {
    *why = invalid_rule(text, "expected DEFAULT or RULE:[n:format]...");
    return std::nullopt;
  }
  const auto [ptr, ec] = std::from_chars(text.data() + pos, text.data() + colon, rule.components);
  if (colon == pos || ec != std::errc{} || rule.components > 1000) {
    *why = invalid_rule(text, "bad component count in `[n:format]`");
    return std::nullopt;
  }
  rule.format = std::string(text.substr(colon + 1, close - colon - 1));
  pos = close + 1;

  std::optional<std::string_view> match;
  if (pos < text.size() && text[pos] == '(') {
    const std::size_t end = text.find(')', pos + 1);
    if (end != std::string_view::npos) {
      match = text.substr(pos + 1, end - pos - 1);
      pos = end + 1;
    }
  }
  std::optional<std::string_view> from;
  std::string_view to;
  if (text.substr(pos).starts_with("s/")) {
    const std::size_t mid = text.find('/', pos + 2);
    const std::size_t end = mid == std::string_view::npos ? mid : text.find('/', mid + 1);
    if (end != std::string_view::npos) {
      from = text.substr(pos + 2, mid - pos - 2);
      to = text.substr(mid + 1, end - mid - 1);
      pos = end + 1;
      if (pos < text.size() && text[pos] == 'g') {
        rule.repeat = true;
        ++pos;
      }
    }
  }
  if (pos < text.size() && text[pos] == '/') ++pos;
  if (pos < text.size() && (text[pos] == 'L' || text[pos] == 'U')) {
    rule.fold = text[pos] == 'L' ? CaseFold::kLower : CaseFold::kUpper;
    ++pos;
  }
  if (pos != text.size()) {
    *why = unmatched(text, pos);
    return std::nullopt;
  }

  std::string detail;
  if (!check_format(rule.format, rule.components, &detail)) {
    *why = invalid_rule(text, detail);
    return std::nullopt;
  }
  if (match && !(rule.match = compile_java_regex(*match, &detail))) {
    *why = invalid_rule(text, detail);
    return std::nullopt;
  }
  if (from) {
    if (!(rule.from = compile_java_regex(*from, &detail))) {
      *why = invalid_rule(text, detail);
      return std::nullopt;
    }
    auto replacement = parse_replacement(to, rule.from->groups, UnknownGroup::kRefuse, &detail);
    if (!replacement) {
      *why = invalid_rule(text, detail);
      return std::nullopt;
    }
    rule.to = std::move(*replacement);
  }
  return rule;
}

Result<KerberosShortNamer> KerberosShortNamer::parse(std::string default_realm,
                                                     const std::vector<std::string>& rules,
                                                     std::string* error_message) {
  std::vector<Rule> parsed;
  parsed.reserve(rules.size());
  for (const std::string& text : rules) {
    std::string why;
    std::optional<Rule> rule = parse_rule(text, &why);
    if (!rule) {
      set_message(error_message, "sasl.kerberos.principal.to.local.rules: " + why);
      return PrincipalErrc::kInvalidRule;
    }
    parsed.push_back(std::move(*rule));
  }
  return KerberosShortNamer(std::move(default_realm), std::move(parsed));
}

Result<std::string> KerberosShortNamer::short_name(std::string_view principal,
                                                   std::string* error_message) const {
  if (principal.size() > kMaxMappedNameBytes) return too_long(principal, error_message);
  const std::size_t at = principal.find('@');
  if (at == std::string_view::npos) return std::string(principal);

  // params[0] is the realm, then the components: "a/b@R" -> {R, a, b}.
  std::vector<std::string_view> params;
  const std::string_view realm = principal.substr(at + 1);
  const std::string_view name = principal.substr(0, at);
  const std::size_t slash = name.find('/');
  const bool malformed = realm.find_first_of("/@") != std::string_view::npos ||
                         (slash != std::string_view::npos &&
                          name.find('/', slash + 1) != std::string_view::npos);
  if (malformed) {
    set_message(error_message, "malformed Kerberos name: " + std::string(principal));
    return PrincipalErrc::kMalformedName;
  }
  params.push_back(realm);
  params.push_back(name.substr(0, slash));
  if (slash != std::string_view::npos) params.push_back(name.substr(slash + 1));

  for (const Rule& rule : rules_) {
    std::optional<std::string> result;
    if (rule.is_default) {
      if (realm == default_realm_) result = std::string(params[1]);
    } else if (params.size() - 1 == rule.components) {
      std::string base = expand_format(rule.format, params);
      if (!rule.match || std::regex_match(base, rule.match->re)) {
        result = rule.from ? java_replace(rule.from->re, base, rule.to, rule.repeat)
                           : std::move(base);
      }
    }
    if (!result) continue;
    // Checked before case folding, as Kafka does.
    if (result->find_first_of("/@") != std::string::npos) {
      set_message(error_message, "non-simple name " + *result + " after auth_to_local rule " +
                                     rule.text);
      return PrincipalErrc::kNoMatchingRule;
    }
    return fold_case(std::move(*result), rule.fold);
  }
  set_message(error_message, "no rules apply to " + std::string(principal));
  return PrincipalErrc::kNoMatchingRule;
}

// ---------------------------------------------------------------------------
// SSL

struct SslPrincipalMapper::Rule {
  std::string text;
  bool is_default = false;
  std::optional<JavaRegex> pattern;
  Replacement replacement;
  CaseFold fold = CaseFold::kNone;
};

namespace {

// Index of the '/' that ends a rule part starting at `pos` (a backslash
// escapes the next character), or npos.
std::size_t part_end(std::string_view s, std::size_t pos) {
  while (pos < s.size()) {
    if (s[pos] == '\\') {
      if (pos + 1 == s.size()) return std::string_view::npos;
      pos += 2;
    } else if (s[pos] == '/') {
      return pos;
    } else {
      ++pos;
    }
  }
  return std::string_view::npos;
}

std::string_view trim_java_space(std::string_view s) {
  while (!s.empty() && is_java_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_java_space(s.back())) s.remove_suffix(1);
  return s;
}

// Kafka splits the string with one regex: an entry that starts
// `RULE:regex/replacement/` runs to the first comma after that second '/';
// `DEFAULT` followed by a comma or the end is an entry; anything else runs to
// the next comma. Whitespace around entries goes.
std::vector<std::string_view> split_ssl_rules(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (true) {
    while (pos < text.size() && is_java_space(text[pos])) ++pos;
    std::size_t scan_from = pos;
    if (text.substr(pos).starts_with("RULE:")) {
      const std::size_t mid = part_end(text, pos + 5);
      const std::size_t end = mid == std::string_view::npos ? mid : part_end(text, mid + 1);
      if (end != std::string_view::npos) scan_from = end + 1;
    }
    const std::size_t comma = text.find(',', scan_from);
    const std::size_t stop = comma == std::string_view::npos ? text.size() : comma;
    out.push_back(trim_java_space(text.substr(pos, stop - pos)));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace

std::optional<SslPrincipalMapper::Rule> SslPrincipalMapper::parse_rule(std::string_view text,
                                                                       std::string* why) {
  Rule rule;
  rule.text = std::string(text);
  if (text == "DEFAULT") {
    rule.is_default = true;
    return rule;
  }
  if (text.starts_with("DEFAULT")) {
    *why = unmatched(text, 7);
    return std::nullopt;
  }
  const std::size_t mid = text.starts_with("RULE:") ? part_end(text, 5) : std::string_view::npos;
  const std::size_t end = mid == std::string_view::npos ? mid : part_end(text, mid + 1);
  if (end == std::string_view::npos) {
    *why = invalid_rule(text, "expected DEFAULT or RULE:regex/replacement/[L|U]");
    return std::nullopt;
  }
  std::size_t pos = end + 1;
  if (pos < text.size() && (text[pos] == 'L' || text[pos] == 'U')) {
    rule.fold = text[pos] == 'L' ? CaseFold::kLower : CaseFold::kUpper;
    ++pos;
  }
  if (pos != text.size()) {
    *why = unmatched(text, pos);
    return std::nullopt;
  }
  if (text.find_first_of("\r\n") != std::string_view::npos) {
    // Java's '.' in Kafka's splitter stops at line breaks and its results
    // then depend on where they fall; Keel refuses rather than guess.
    *why = invalid_rule(text, "line break inside the rule");
    return std::nullopt;
  }
  std::string detail;
  if (!(rule.pattern = compile_java_regex(text.substr(5, mid - 5), &detail))) {
    *why = invalid_rule(text, detail);
    return std::nullopt;
  }
  auto replacement = parse_replacement(text.substr(mid + 1, end - mid - 1), rule.pattern->groups,
                                       UnknownGroup::kLiteral, &detail);
  if (!replacement) {
    *why = invalid_rule(text, detail);
    return std::nullopt;
  }
  rule.replacement = std::move(*replacement);
  return rule;
}

SslPrincipalMapper::SslPrincipalMapper(std::vector<Rule> rules) : rules_(std::move(rules)) {}
SslPrincipalMapper::SslPrincipalMapper(SslPrincipalMapper&&) noexcept = default;
SslPrincipalMapper& SslPrincipalMapper::operator=(SslPrincipalMapper&&) noexcept = default;
SslPrincipalMapper::~SslPrincipalMapper() = default;

Result<SslPrincipalMapper> SslPrincipalMapper::parse(std::string_view rules,
                                                     std::string* error_message) {
  std::vector<Rule> parsed;
  for (std::string_view text : split_ssl_rules(trim_java_space(rules))) {
    if (text.empty()) continue;  // "a,,b" and a trailing comma, as in Kafka
    std::string why;
    std::optional<Rule> rule = parse_rule(text, &why);
    if (!rule) {
      set_message(error_message, "ssl.principal.mapping.rules: " + why);
      return PrincipalErrc::kInvalidRule;
    }
    parsed.push_back(std::move(*rule));
  }
  return SslPrincipalMapper(std::move(parsed));
}

Result<std::string> SslPrincipalMapper::name(std::string_view dn,
                                             std::string* error_message) const {
  if (dn.size() > kMaxMappedNameBytes) return too_long(dn, error_message);
  for (const Rule& rule : rules_) {
    if (rule.is_default) return std::string(dn);
    if (!std::regex_match(dn.begin(), dn.end(), rule.pattern->re)) continue;
    // Kafka checks the whole name, then replaces every match in it.
    return fold_case(java_replace(rule.pattern->re, dn, rule.replacement, true), rule.fold);
  }
  set_message(error_message, "no rules apply to " + std::string(dn));
  return PrincipalErrc::kNoMatchingRule;
}

// ---------------------------------------------------------------------------
// X.509 subject

namespace {

const char* java_rfc2253_keyword(int nid) {
  switch (nid) {
    case NID_commonName: return "CN";
    case NID_countryName: return "C";
    case NID_localityName: return "L";
    case NID_stateOrProvinceName: return "ST";
    case NID_organizationName: return "O";
    case NID_organizationalUnitName: return "OU";
    case NID_domainComponent: return "DC";
    case NID_streetAddress: return "STREET";
    case NID_userId: return "UID";
    default: return nullptr;
  }
}

// The string types Java prints as text in RFC 2253 (DerValue tags);
// VisibleString and the rest come out as hex.
bool is_java_text_type(int type) {
  switch (type) {
    case V_ASN1_T61STRING: case V_ASN1_PRINTABLESTRING: case V_ASN1_IA5STRING:
    case V_ASN1_GENERALSTRING: case V_ASN1_UTF8STRING: case V_ASN1_BMPSTRING:
    case V_ASN1_UNIVERSALSTRING:
      return true;
    default:
      return false;
  }
}

void append_hex_der(const ASN1_STRING* value, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const int type = ASN1_STRING_type(value);
  const auto* data = ASN1_STRING_get0_data(value);
  const auto len = static_cast<std::size_t>(ASN1_STRING_length(value));
  std::string der;
  // Values of other types (V_ASN1_OTHER and the like) OpenSSL keeps as their
  // whole encoding already.
  if (type > 0 && type <= V_ASN1_BMPSTRING && type != V_ASN1_SEQUENCE && type != V_ASN1_SET) {
    der += static_cast<char>(type);
    if (len < 0x80) {
      der += static_cast<char>(len);
    } else {
      std::string len_bytes;
      for (std::size_t n = len; n > 0; n >>= 8) len_bytes.insert(0, 1, static_cast<char>(n & 0xFF));
      der += static_cast<char>(0x80 | len_bytes.size());
      der += len_bytes;
    }
  }
  der.append(reinterpret_cast<const char*>(data), len);
  out += '#';
  for (unsigned char b : der) {
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
}

void append_java_escaped(std::string_view value, std::string& out) {
  std::size_t lead = 0;
  while (lead < value.size() && (value[lead] == ' ' || value[lead] == '\r')) ++lead;
  std::size_t trail = value.size();
  while (trail > lead && (value[trail - 1] == ' ' || value[trail - 1] == '\r')) --trail;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\0') {
      out += "\\00";
      continue;
    }
    if (i < lead || i >= trail || std::string_view(",+<>;\"\\=#").find(c) != std::string_view::npos) {
      out += '\\';
    }
    out += c;
  }
}

void append_ava(const X509_NAME_ENTRY* entry, std::string& out) {
  const ASN1_OBJECT* object = X509_NAME_ENTRY_get_object(entry);
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(entry);
  const char* keyword = java_rfc2253_keyword(OBJ_obj2nid(object));
  if (keyword != nullptr) {
    out += keyword;
  } else {
    char oid[128];
    OBJ_obj2txt(oid, sizeof oid, object, 1);
    out += oid;
  }
  out += '=';
  unsigned char* utf8 = nullptr;
  const int len = keyword != nullptr && is_java_text_type(ASN1_STRING_type(value))
                      ? ASN1_STRING_to_UTF8(&utf8, value)
                      : -1;
  if (len < 0) {
    append_hex_der(value, out);
    return;
  }
  append_java_escaped(std::string_view(reinterpret_cast<const char*>(utf8),
                                       static_cast<std::size_t>(len)),
                      out);
  OPENSSL_free(utf8);
}

}  // namespace

std::string java_rfc2253_name(const X509_NAME* name) {
  std::string out;
  int last = X509_NAME_entry_count(name) - 1;
  while (last >= 0) {
    const int set = X509_NAME_ENTRY_set(X509_NAME_get_entry(name, last));
    int first = last;
    while (first > 0 && X509_NAME_ENTRY_set(X509_NAME_get_entry(name, first - 1)) == set) --first;
    if (!out.empty()) out += ',';
    for (int i = first; i <= last; ++i) {
      if (i > first) out += '+';
      append_ava(X509_NAME_get_entry(name, i), out);
    }
    last = first - 1;
  }
  return out;
}

}  // namespace keel::security
