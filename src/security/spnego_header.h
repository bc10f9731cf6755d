#pragma once
// The HTTP side of SPNEGO (RFC 4559) and of RFC 7235's credentials syntax:
// reading an `Authorization` header value and writing `WWW-Authenticate`
// values. Pure text handling, no GSS-API (security/spnego.h accepts the
// token), so it can be unit-tested and fuzzed on its own.
//
// Grammar (RFC 7235 §2.1, RFC 4559 §4): credentials = auth-scheme
// [ 1*SP token68 ], the scheme a case-insensitive token; Negotiate's token68
// is the GSS-API token in standard base64 (RFC 4648 §4, padded). Keel reads
// leniently what real clients send (more than one space, a trailing space)
// and strictly what it decodes (only canonical base64, a non-empty token, at
// most kMaxNegotiateTokenBytes).
//
// Thread-safe: free functions over their arguments.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"

namespace keel::security {

// A SPNEGO token with a Kerberos ticket and a PAC is a few KiB; the HTTP
// listener caps the whole header block at 8 KiB anyway.
inline constexpr std::size_t kMaxNegotiateTokenBytes = 48 * 1024;

struct AuthorizationHeader {
  std::string_view scheme;       // as sent ("Negotiate", "basic"): compare with scheme_is()
  std::string_view credentials;  // what follows the scheme and its spaces, trailing spaces cut
  // Whether the scheme is `name`, ignoring ASCII case (RFC 7235 §2.1).
  bool scheme_is(std::string_view name) const;
};

// Splits an Authorization value into scheme and credentials; nullopt when the
// value does not start with a token (empty, a space, a separator) or the
// scheme is not followed by a space or the end. Views into `value`.
std::optional<AuthorizationHeader> split_authorization(std::string_view value);

// The GSS-API token of an `Authorization: Negotiate <token68>` value. On
// nullopt *why says what is wrong, in words fit for the client: not the
// Negotiate scheme, no token, characters outside token68, base64 that does
// not decode canonically, an empty or oversized token.
std::optional<Bytes> parse_negotiate(std::string_view value, std::string* why);

// The WWW-Authenticate value: "Negotiate" to challenge, "Negotiate <base64>"
// to return the acceptor's (mutual authentication) token.
std::string negotiate_challenge(ByteView token = {});

}  // namespace keel::security
