#include "security/jaas.h"

#include <cstdint>

#include "common/utf8.h"

namespace keel::security {
namespace {

// Text is read as Java reads a String: code points decoded from UTF-8, a byte
// that starts no valid sequence becoming U+FFFD (common/utf8.h).

// --- Kafka's StreamTokenizer settings: resetSyntax(); wordChars(32, 128);
// wordChars(160, 255); ordinaryChar(';'); ordinaryChar('='); whitespaceChars(0, ' ');
// commentChar('/'); quoteChar('"'); quoteChar('\''); slashSlashComments(true);
// slashStarComments(true). Characters from 256 up are word characters.

enum class CharType { kWhite, kWord, kQuote, kComment, kOrdinary };

constexpr int32_t kEof = -1;

CharType char_type(int32_t c) {
  if (c <= ' ') return CharType::kWhite;  // kEof too, where Java asks
  if (c == ';' || c == '=') return CharType::kOrdinary;
  if (c == '"' || c == '\'') return CharType::kQuote;
  if (c == '/') return CharType::kComment;
  if (c <= 128 || c >= 160) return CharType::kWord;
  return CharType::kOrdinary;  // 129..159
}

struct Token {
  enum class Kind { kEof, kWord, kQuoted, kChar } kind = Kind::kEof;
  std::string text;  // kWord, kQuoted: Java's sval
  int32_t ch = 0;    // kChar: the character; kQuoted: the quote

  bool has_text() const { return kind == Kind::kWord || kind == Kind::kQuoted; }
  bool is(char c) const { return kind == Kind::kChar && ch == c; }
};

class Tokenizer {
 public:
  explicit Tokenizer(std::string_view text) : in_(decode_utf8_lenient(text)) {}

  Token next() {
    comment_before_ = false;
    return next_token();
  }

  // Whether the last next() skipped a comment to reach its token.
  bool comment_before() const { return comment_before_; }

 private:
  Token next_token() {
    int32_t c = read();
    while (char_type(c) == CharType::kWhite) {
      if (c == kEof) return {};
      c = read();
    }
    Token t;
    const CharType type = char_type(c);
    if (type == CharType::kWord) {
      t.kind = Token::Kind::kWord;
      do {
        append_utf8(t.text, static_cast<char32_t>(c));
        c = read();
      } while (c != kEof && char_type(c) == CharType::kWord);
      unread(c);
      return t;
    }
    if (type == CharType::kQuote) return quoted(c);
    if (c == '/') {
      c = read();
      comment_before_ = true;
      if (c == '*') {
        if (!skip_block_comment()) return {};
        return next_token();
      }
      // "//", and a lone '/' (the comment character), run to the end of the
      // line; the character after the lone '/' is gone even if it ended the line.
      do c = read();
      while (c != '\n' && c != '\r' && c != kEof);
      unread(c);
      return next_token();
    }
    t.kind = Token::Kind::kChar;
    t.ch = c;
    return t;
  }

  int32_t read() { return pos_ < in_.size() ? static_cast<int32_t>(in_[pos_++]) : kEof; }
  void unread(int32_t c) {
    if (c != kEof) --pos_;
  }

  // After "/*": up to and past "*/", with Java's line-break quirks (the
  // character after a line break is taken as read and becomes the previous
  // one). False at the end of the text, which Java turns into TT_EOF.
  bool skip_block_comment() {
    int32_t prev = 0;
    for (;;) {
      int32_t c = read();
      if (c == '/' && prev == '*') return true;
      if (c == '\r') {
        c = read();
        if (c == '\n') c = read();
      } else if (c == '\n') {
        c = read();
      }
      if (c == kEof) return false;
      prev = c;
    }
  }

  Token quoted(int32_t quote) {
    Token t;
    t.kind = Token::Kind::kQuoted;
    t.ch = quote;
    int32_t d = read();
    while (d != kEof && d != quote && d != '\n' && d != '\r') {
      int32_t c;
      if (d == '\\') {
        c = read();
        const int32_t first = c;
        if (c >= '0' && c <= '7') {
          c -= '0';
          int32_t c2 = read();
          if (c2 >= '0' && c2 <= '7') {
            c = (c << 3) + (c2 - '0');
            c2 = read();
            if (c2 >= '0' && c2 <= '7' && first <= '3') {
              c = (c << 3) + (c2 - '0');
              d = read();
            } else {
              d = c2;
            }
          } else {
            d = c2;
          }
        } else {
          switch (c) {
            case 'a': c = 0x7; break;
            case 'b': c = '\b'; break;
            case 'f': c = 0xC; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'v': c = 0xB; break;
            case kEof: c = 0xFFFF; break;  // Java stores (char) -1
            default: break;
          }
          d = read();
        }
      } else {
        c = d;
        d = read();
      }
      append_utf8(t.text, static_cast<char32_t>(c));
    }
    // A line break or the end closes the string too; the break is read again.
    if (d != quote) unread(d);
    return t;
  }

  std::u32string in_;
  size_t pos_ = 0;
  bool comment_before_ = false;
};

// Java's flag.toUpperCase(Locale.ROOT), for the letters that can reach one of
// the four flags: ASCII, and the two non-ASCII letters that upper-case to ASCII.
std::string upper_root(std::string_view s) {
  std::string out;
  for (char32_t c : decode_utf8_lenient(s)) {
    if (c >= 'a' && c <= 'z') c -= 32;
    if (c == 0x131) c = 'I';  // dotless i
    if (c == 0x17F) c = 'S';  // long s
    append_utf8(out, c);
  }
  return out;
}

std::string describe(const Token& t) {
  switch (t.kind) {
    case Token::Kind::kEof: return "the end";
    case Token::Kind::kChar: {
      std::string s = "'";
      append_utf8(s, static_cast<char32_t>(t.ch));
      return s + "'";
    }
    default: return "'" + t.text + "'";
  }
}

Result<std::vector<JaasEntry>> syntax_error(std::string* error_message, std::string message) {
  if (error_message) *error_message = std::move(message);
  return JaasErrc::kSyntax;
}

// One entry from its first token, as Kafka's parseAppConfigurationEntry:
// the messages are Kafka's, with Keel's hints after them.
Result<JaasEntry> parse_entry(Tokenizer& tok, const Token& first, std::string* error_message) {
  auto fail = [&](std::string message) -> Result<JaasEntry> {
    if (error_message) *error_message = std::move(message);
    return JaasErrc::kSyntax;
  };
  JaasEntry entry;
  Token t = tok.next();
  if (t.kind == Token::Kind::kEof) return fail("Login module control flag not specified in JAAS config");
  if (!t.has_text()) return fail("Login module control flag is not available in the JAAS config");
  const std::string flag = upper_root(t.text);
  if (flag == "REQUIRED") entry.flag = JaasControlFlag::kRequired;
  else if (flag == "REQUISITE") entry.flag = JaasControlFlag::kRequisite;
  else if (flag == "SUFFICIENT") entry.flag = JaasControlFlag::kSufficient;
  else if (flag == "OPTIONAL") entry.flag = JaasControlFlag::kOptional;
  else return fail("Invalid login module control flag '" + t.text + "' in JAAS config");

  for (t = tok.next(); t.kind != Token::Kind::kEof && !t.is(';'); t = tok.next()) {
    if (!t.has_text()) return fail("Expected an option name in JAAS config, found " + describe(t));
    const std::string key = t.text;
    const Token eq = tok.next();
    const bool comment = tok.comment_before();
    const Token value = eq.is('=') ? tok.next() : Token{};
    if (!value.has_text()) {
      return fail("Value not specified for key '" + key + "' in JAAS config" +
                  (comment || tok.comment_before()
                       ? " (quote a value holding '/': outside quotes a '/' starts a comment)"
                       : ""));
    }
    entry.options[key] = value.text;
  }
  if (!t.is(';')) return fail("JAAS config entry not terminated by semi-colon");
  if (!first.has_text() || first.text.empty()) return fail("Login module class not specified in JAAS config");
  entry.login_module = first.text;
  return entry;
}

bool java_true(const std::map<std::string, std::string>& options, const std::string& key) {
  auto it = options.find(key);
  return it != options.end() && upper_root(it->second) == "TRUE" && it->second.size() == 4;
}

std::string option(const std::map<std::string, std::string>& options, const std::string& key) {
  auto it = options.find(key);
  return it == options.end() ? std::string() : it->second;
}

// "primary[/instance][@REALM]", each part non-empty; Kerberos escapes are not read.
bool well_formed_principal(std::string_view p) {
  const size_t at = p.find('@');
  const std::string_view name = p.substr(0, at);
  if (at != std::string_view::npos && (at + 1 == p.size() || p.find('@', at + 1) != std::string_view::npos))
    return false;
  const size_t slash = name.find('/');
  if (name.empty() || slash == 0) return false;
  if (slash != std::string_view::npos &&
      (slash + 1 == name.size() || name.find('/', slash + 1) != std::string_view::npos))
    return false;
  return true;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: out.push_back(c);
    }
  }
  return out + "\"";
}

}  // namespace

Result<std::vector<JaasEntry>> parse_jaas_entries(std::string_view text, std::string* error_message) {
  Tokenizer tok(text);
  std::vector<JaasEntry> entries;
  for (Token t = tok.next(); t.kind != Token::Kind::kEof; t = tok.next()) {
    auto entry = parse_entry(tok, t, error_message);
    if (!entry) return entry.error();
    entries.push_back(std::move(*entry));
  }
  if (entries.empty()) return syntax_error(error_message, "Login module not specified in JAAS config");
  return entries;
}

std::string write_jaas_entry(const JaasEntry& entry, bool hide_passwords) {
  static constexpr std::string_view kFlags[] = {"required", "requisite", "sufficient", "optional"};
  std::string out = quote(entry.login_module) + " " + std::string(kFlags[static_cast<int>(entry.flag)]);
  for (const auto& [key, value] : entry.options) {
    const bool hidden = hide_passwords && (key == "password" || key.starts_with("user_"));
    out += " " + quote(key) + "=" + (hidden ? std::string("\"[hidden]\"") : quote(value));
  }
  return out + ";";
}

Result<JaasLogin> parse_jaas_config(std::string_view text, std::string* error_message) {
  auto fail = [&](JaasErrc e, std::string message) -> Result<JaasLogin> {
    if (error_message) *error_message = std::move(message);
    return e;
  };
  auto entries = parse_jaas_entries(text, error_message);
  if (!entries) return entries.error();
  if (entries->size() != 1) {
    return fail(JaasErrc::kSyntax, "JAAS config property contains " + std::to_string(entries->size()) +
                                       " login modules, should be 1 module");
  }
  const JaasEntry& e = entries->front();
  const auto& opts = e.options;
  if (e.login_module == kKrb5LoginModule) {
    KerberosLogin login{option(opts, "keyTab"), option(opts, "principal"), option(opts, "serviceName")};
    if (!java_true(opts, "useKeyTab"))
      return fail(JaasErrc::kInvalidOption,
                  "Krb5LoginModule: keel reads the broker's Kerberos key from a keytab only: set useKeyTab=true "
                  "and keyTab=\"/path/to/kafka.keytab\"");
    if (login.keytab.empty())
      return fail(JaasErrc::kInvalidOption, "Krb5LoginModule: useKeyTab=true but no keyTab=\"/path\" is given");
    if (login.principal.empty())
      return fail(JaasErrc::kInvalidOption,
                  "Krb5LoginModule: no principal=\"service/host@REALM\" is given (the broker's own name)");
    if (login.principal == "*")
      return fail(JaasErrc::kInvalidOption,
                  "Krb5LoginModule: principal=\"*\" (any key of the keytab) is not supported: name the broker's "
                  "principal");
    if (!well_formed_principal(login.principal))
      return fail(JaasErrc::kInvalidOption, "Krb5LoginModule: principal '" + login.principal +
                                                "' is not primary[/instance][@REALM]");
    return JaasLogin{std::move(login)};
  }
  if (e.login_module == kPlainLoginModule || e.login_module == kScramLoginModule) {
    const bool plain = e.login_module == kPlainLoginModule;
    for (const auto& [key, value] : opts) {
      if (plain && key.starts_with("user_"))
        return fail(JaasErrc::kInvalidOption,
                    "PlainLoginModule: option '" + key +
                        "' holds a plaintext password, which keel refuses to keep in its configuration; list PLAIN "
                        "users in sasl.plain.credentials.file as hashes (keel --hash-password)");
    }
    if (!plain && java_true(opts, "tokenauth"))
      return fail(JaasErrc::kInvalidOption,
                  "ScramLoginModule: tokenauth=true asks for delegation-token authentication, which keel does "
                  "not serve");
    PasswordLogin login{plain ? PasswordLogin::Module::kPlain : PasswordLogin::Module::kScram,
                        option(opts, "username"), option(opts, "password")};
    return JaasLogin{std::move(login)};
  }
  return fail(JaasErrc::kUnsupportedLoginModule,
              "login module '" + e.login_module + "' is not one keel serves; use " + std::string(kKrb5LoginModule) +
                  " (GSSAPI), " + std::string(kPlainLoginModule) + " (PLAIN) or " + std::string(kScramLoginModule) +
                  " (SCRAM-SHA-256/512)");
}

}  // namespace keel::security
