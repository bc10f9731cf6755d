#include "metrics/process.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace keel::metrics {
namespace {

struct ProcStat {
  double cpu_seconds = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
};

// /proc/self/stat: utime (14), stime (15) in clock ticks, vsize (23) in bytes,
// rss (24) in pages. The command name (2) may hold spaces: parse after ')'.
ProcStat read_stat() {
  ProcStat out;
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return out;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  // fields[0] is field 3 (state).
  double utime = 0, stime = 0, vsize = 0, rss = 0;
  for (int field = 3; fields >> f; ++field) {
    if (field == 14) utime = std::stod(f);
    if (field == 15) stime = std::stod(f);
    if (field == 23) vsize = std::stod(f);
    if (field == 24) {
      rss = std::stod(f);
      break;
    }
  }
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  out.cpu_seconds = ticks > 0 ? (utime + stime) / ticks : 0;
  out.virtual_bytes = vsize;
  out.resident_bytes = rss * static_cast<double>(::sysconf(_SC_PAGESIZE));
  return out;
}

double open_fds() {
  std::error_code ec;
  double n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n > 0 ? n - 1 : 0;  // the iterator's own descriptor
}

Desc native(Kind kind, const char* name, const char* help) {
  Desc d;
  d.kind = kind;
  d.name = name;
  d.help = help;
  return d;
}

}  // namespace

void register_process_metrics(Registry& registry) {
  registry.callback(native(Kind::kCounter, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds."),
                    [](const Emit& emit) { emit({}, read_stat().cpu_seconds); });
  registry.callback(native(Kind::kNativeGauge, "process_resident_memory_bytes", "Resident memory size in bytes."),
                    [](const Emit& emit) { emit({}, read_stat().resident_bytes); });
  registry.callback(native(Kind::kNativeGauge, "process_virtual_memory_bytes", "Virtual memory size in bytes."),
                    [](const Emit& emit) { emit({}, read_stat().virtual_bytes); });
  registry.callback(native(Kind::kNativeGauge, "process_open_fds", "Number of open file descriptors."),
                    [](const Emit& emit) { emit({}, open_fds()); });
  registry.callback(native(Kind::kNativeGauge, "process_max_fds", "Maximum number of open file descriptors."),
                    [](const Emit& emit) {
                      rlimit lim{};
                      if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) emit({}, static_cast<double>(lim.rlim_cur));
                    });
  const double start = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  registry.callback(native(Kind::kNativeGauge, "process_start_time_seconds",
                           "Start time of the process since unix epoch in seconds."),
                    [start](const Emit& emit) { emit({}, start); });
}

}  // namespace keel::metrics
