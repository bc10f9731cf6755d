#include "common/log.h"

#include <algorithm>
#include <optional>
#include <cctype>
#include <map>
#include <mutex>
#include <stdexcept>

#include <sys/stat.h>
#include <cstdio>
#include <cstdlib>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace keel {

namespace {

// The journal's priority of each spdlog level (trace, debug, info, warn,
// err, critical, off), as a line prefix "<N>" (sd-daemon(3)).
class SyslogPriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr char kPriority[] = {'7', '7', '6', '4', '3', '2', '6'};
    const auto l = static_cast<size_t>(msg.level);
    dest.push_back(l < sizeof kPriority ? kPriority[l] : '6');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SyslogPriorityFlag>(); }
};

// True when stderr is the journal stream systemd connected it to: its
// device and inode match $JOURNAL_STREAM ("dev:ino"). A redirected stderr
// (2>file) under systemd does not match and keeps the timestamps.
bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (!js) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

std::unique_ptr<spdlog::formatter> make_formatter(std::optional<int32_t> broker_id, bool journal) {
  std::string pattern = journal ? "<%*>%l " : "%Y-%m-%dT%H:%M:%S.%fZ %l ";
  if (broker_id) pattern += "broker=" + std::to_string(*broker_id) + " ";
  pattern += "[%n] %v";
  auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  f->add_flag<SyslogPriorityFlag>('*').set_pattern(pattern);
  return f;
}

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
  // set_module_level: these keep their own level.
  std::map<std::string, spdlog::level::level_enum, std::less<>> pinned;
  std::optional<int32_t> broker_id;
  bool journal = false;  // the current sink is stderr, and stderr is the journal
};

LogState& state() {
  static LogState* s = [] {
    auto* st = new LogState;  // never destroyed: loggers may be used during static teardown
    auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    st->journal = stderr_is_journal();
    err->set_formatter(make_formatter(std::nullopt, st->journal));
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
  const bool journal = file.empty() && stderr_is_journal();
  if (file.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file, /*truncate=*/false);
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error("cannot open log file '" + file + "': " + e.what());
    }
  }
  LogState& st = state();
  std::lock_guard lock(st.mu);
  sink->set_formatter(make_formatter(st.broker_id, journal));
  st.sink->flush();  // lines already written go to the old destination first
  st.sink->set_sinks({sink});
  st.journal = journal;
  st.level = *lvl;
  for (auto& [name, lg] : st.loggers) {
    auto pin = st.pinned.find(name);
    lg->set_level(pin == st.pinned.end() ? *lvl : pin->second);  // level_ is atomic in spdlog
  }
}

void set_log_broker_id(int32_t broker_id) {
  LogState& st = state();
  std::lock_guard lock(st.mu);
  st.broker_id = broker_id;
  st.sink->set_formatter(make_formatter(st.broker_id, st.journal));  // under the dist sink's mutex
}

void set_module_level(std::string_view module, std::string_view level) {
  auto lvl = parse_level(level);
  if (!lvl)
    throw std::runtime_error("unknown log level '" + std::string(level) +
                             "' (trace, debug, info, warn, error, critical, off)");
  LogState& st = state();
  std::lock_guard lock(st.mu);
  st.pinned[std::string(module)] = *lvl;
  if (auto it = st.loggers.find(module); it != st.loggers.end()) it->second->set_level(*lvl);
}

std::shared_ptr<spdlog::logger> logger(std::string_view module) {
  LogState& st = state();
  std::lock_guard lock(st.mu);
  auto it = st.loggers.find(module);
  if (it != st.loggers.end()) return it->second;
  auto lg = std::make_shared<spdlog::logger>(std::string(module), st.sink);
  auto pin = st.pinned.find(module);
  lg->set_level(pin == st.pinned.end() ? st.level : pin->second);
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
