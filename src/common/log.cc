#include "common/log.h"

#include <algorithm>
#include <optional>
#include <cctype>
#include <map>
#include <mutex>
#include <stdexcept>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace keel {

namespace {

constexpr const char* kPattern = "%Y-%m-%dT%H:%M:%S.%fZ %l [%n] %v";

struct LogState {
  std::mutex mu;
  // Every logger holds this one forwarding sink; init_logging swaps what it
  // forwards to under the dist sink's own mutex, so a logger in use on another
  // thread never sees its sink list change.
  std::shared_ptr<spdlog::sinks::dist_sink_mt> sink;
  spdlog::level::level_enum level = spdlog::level::info;
  // Loggers are kept here rather than in spdlog's global registry so that a
  // module name can never collide with someone else's registered logger.
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers;
};

LogState& state() {
  static LogState* s = [] {
    auto* st = new LogState;  // never destroyed: loggers may be used during static teardown
    auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    err->set_formatter(
        std::make_unique<spdlog::pattern_formatter>(kPattern, spdlog::pattern_time_type::utc));
    st->sink = std::make_shared<spdlog::sinks::dist_sink_mt>();
    st->sink->add_sink(err);
    return st;
  }();
  return *s;
}

std::optional<spdlog::level::level_enum> parse_level(std::string_view text) {
  std::string l(text);
  std::transform(l.begin(), l.end(), l.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (l == "trace") return spdlog::level::trace;
  if (l == "debug") return spdlog::level::debug;
  if (l == "info") return spdlog::level::info;
  if (l == "warn") return spdlog::level::warn;
  if (l == "error") return spdlog::level::err;
  if (l == "critical") return spdlog::level::critical;
  if (l == "off") return spdlog::level::off;
  return std::nullopt;
}

}  // namespace

void init_logging(std::string_view level, const std::string& file) {
  auto lvl = parse_level(level);
  if (!lvl)
    throw std::runtime_error("unknown log level '" + std::string(level) +
                             "' (trace, debug, info, warn, error, critical, off)");
  spdlog::sink_ptr sink;
  if (file.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file, /*truncate=*/false);
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error("cannot open log file '" + file + "': " + e.what());
    }
  }
  sink->set_formatter(
      std::make_unique<spdlog::pattern_formatter>(kPattern, spdlog::pattern_time_type::utc));

  LogState& st = state();
  std::lock_guard lock(st.mu);
  st.sink->flush();  // lines already written go to the old destination first
  st.sink->set_sinks({sink});
  st.level = *lvl;
  for (auto& [name, lg] : st.loggers) lg->set_level(*lvl);  // level_ is atomic in spdlog
}

std::shared_ptr<spdlog::logger> logger(std::string_view module) {
  LogState& st = state();
  std::lock_guard lock(st.mu);
  auto it = st.loggers.find(module);
  if (it != st.loggers.end()) return it->second;
  auto lg = std::make_shared<spdlog::logger>(std::string(module), st.sink);
  lg->set_level(st.level);
  // Info and above are the start/stop/error lines an operator tails or reads
  // after a kill -9; they are few, so each is flushed. Debug/trace stay buffered.
  lg->flush_on(spdlog::level::info);
  st.loggers.emplace(std::string(module), lg);
  return lg;
}

std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 100)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (text.size() > 100) out += "...";
  return out;
}

}  // namespace keel
