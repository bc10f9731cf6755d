#pragma once
// UTF-8 to code points and back, for text read the way Java reads a String
// (security/jaas.h).

#include <string>
#include <string_view>

namespace keel {

// Appends `cp` (at most U+10FFFF, not a surrogate: the caller's promise) as UTF-8.
void append_utf8(std::string& out, char32_t cp);

// The code points of `s`; every byte that does not start a well-formed
// sequence (shortest form, no surrogates, at most U+10FFFF) becomes U+FFFD,
// as Java's decoder makes it, and decoding goes on with the next byte.
std::u32string decode_utf8_lenient(std::string_view s);

}  // namespace keel
