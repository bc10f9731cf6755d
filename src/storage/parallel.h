#pragma once
// Runs independent per-log work (closing logs, writing producer snapshots at
// a stop) on several threads. Such work waits on fsync, not on the CPU: the
// journal commits one transaction for all the fsyncs waiting at that moment,
// so N threads syncing N files cost about one commit where one thread pays
// N. Serially, 10,000 partitions took minutes to stop (issue 23).

#include <cstddef>
#include <functional>

namespace keel::storage {

// Calls fn(i) once for every i in [0, count) on up to `threads` threads, the
// caller's among them, and returns when all calls have returned. fn must not
// throw. threads < 2 (or count < 2) runs everything on the caller's thread.
void for_each_parallel(size_t count, size_t threads, const std::function<void(size_t)>& fn);

}  // namespace keel::storage
