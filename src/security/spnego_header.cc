#include "security/spnego_header.h"

#include "security/scram.h"

namespace keel::security {
namespace {

// RFC 7230 §3.2.6 tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// RFC 7235 §2.1 token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool is_token68(std::string_view s) {
  size_t i = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
    if (!ok) break;
  }
  if (i == 0) return false;
  for (; i < s.size(); ++i)
    if (s[i] != '=') return false;
  return true;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

bool AuthorizationHeader::scheme_is(std::string_view name) const {
  if (name.size() != scheme.size()) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (lower(name[i]) != lower(scheme[i])) return false;
  return true;
}

std::optional<AuthorizationHeader> split_authorization(std::string_view value) {
  size_t i = 0;
  while (i < value.size() && is_tchar(value[i])) ++i;
  if (i == 0) return std::nullopt;
  if (i < value.size() && value[i] != ' ') return std::nullopt;
  AuthorizationHeader out;
  out.scheme = value.substr(0, i);
  std::string_view rest = value.substr(i);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.remove_suffix(1);
  out.credentials = rest;
  return out;
}

std::optional<Bytes> parse_negotiate(std::string_view value, std::string* why) {
  auto fail = [why](std::string text) -> std::optional<Bytes> {
    if (why) *why = std::move(text);
    return std::nullopt;
  };
  auto header = split_authorization(value);
  if (!header) return fail("the Authorization header is not '<scheme> <credentials>'");
  if (!header->scheme_is("Negotiate")) return fail("the Authorization scheme is not Negotiate");
  if (header->credentials.empty()) return fail("the Negotiate header carries no token");
  // Base64 grows 3 bytes to 4: refuse an oversized token before decoding it.
  if (header->credentials.size() > (kMaxNegotiateTokenBytes + 2) / 3 * 4)
    return fail("the Negotiate token is larger than " + std::to_string(kMaxNegotiateTokenBytes) + " bytes");
  if (!is_token68(header->credentials)) return fail("the Negotiate token is not base64 (RFC 4559)");
  auto token = base64_decode(header->credentials);
  if (!token) return fail("the Negotiate token is not valid base64 (RFC 4559)");
  if (token->empty()) return fail("the Negotiate header carries no token");
  return token;
}

std::string negotiate_challenge(ByteView token) {
  if (token.empty()) return "Negotiate";
  return "Negotiate " + base64_encode(token);
}

}  // namespace keel::security
