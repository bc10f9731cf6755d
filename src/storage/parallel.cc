#include "storage/parallel.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/thread_name.h"

namespace keel::storage {

void for_each_parallel(size_t count, size_t threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  // Items are claimed one at a time: the cost of one (a log with many
  // unflushed segments) varies too much for fixed slices.
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) fn(i);
  };
  std::vector<std::thread> pool;
  const size_t extra = std::min(threads, count);
  for (size_t t = 1; t < extra; ++t) {
    pool.emplace_back([&work, t] {
      set_thread_name("keel-parallel-" + std::to_string(t));
      work();
    });
  }
  work();
  for (auto& t : pool) t.join();
}

}  // namespace keel::storage
