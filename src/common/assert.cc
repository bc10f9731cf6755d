#include "common/assert.h"

#include <cstdio>
#include <cstdlib>

namespace keel::detail {

void assert_fail(const char* expr, const char* msg, const char* file, int line) {
  std::fprintf(stderr, "keel: invariant broken at %s:%d: %s (%s)\n", file, line, msg, expr);
  std::fflush(stderr);
  std::abort();
}

}  // namespace keel::detail
