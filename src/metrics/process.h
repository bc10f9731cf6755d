#pragma once
// The process collector's series under the names every Prometheus client
// library uses (process_cpu_seconds_total, process_resident_memory_bytes,
// process_open_fds, ...), read from /proc/self at scrape time.

#include "metrics/registry.h"

namespace keel::metrics {

// Registers the process_* families on `registry` (once per registry).
void register_process_metrics(Registry& registry);

}  // namespace keel::metrics
