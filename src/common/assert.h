#pragma once
// KEEL_ASSERT: an invariant of Keel's own code broke; abort with a message.
// Never used on client input: bad input is an error value, not a crash.

namespace keel::detail {
[[noreturn]] void assert_fail(const char* expr, const char* msg, const char* file, int line);
}  // namespace keel::detail

#define KEEL_ASSERT(expr, msg)                                              \
  do {                                                                      \
    if (!(expr)) [[unlikely]]                                               \
      ::keel::detail::assert_fail(#expr, (msg), __FILE__, __LINE__);        \
  } while (0)
