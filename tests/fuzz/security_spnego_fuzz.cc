// The HTTP Negotiate header parsing (security/spnego_header.h): whatever the
// Authorization value, it ends in a token or a refusal with a reason, a token
// is never empty nor above the cap, and a token written back as a challenge
// parses to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "security/spnego_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto header = keel::security::split_authorization(input)) {
    if (header->scheme.empty() || header->scheme.size() > input.size()) __builtin_trap();
    (void)header->scheme_is("Negotiate");
  }
  std::string why;
  auto token = keel::security::parse_negotiate(input, &why);
  if (!token) {
    if (why.empty()) __builtin_trap();
    return 0;
  }
  if (token->empty() || token->size() > keel::security::kMaxNegotiateTokenBytes) __builtin_trap();
  std::string again;
  auto back = keel::security::parse_negotiate(keel::security::negotiate_challenge(*token), &again);
  if (!back || *back != *token) __builtin_trap();
  return 0;
}
