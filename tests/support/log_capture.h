#pragma once
// Tests that check what a component logs, and at which level: the lines of
// one keel logger, as "<level> <message>", for the capture's lifetime.

#include <spdlog/sinks/ostream_sink.h>

#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"

namespace keel::test {

class LogCapture {
 public:
  explicit LogCapture(const std::string& component, spdlog::level::level_enum level = spdlog::level::debug)
      : log_(keel::logger(component)), old_level_(log_->level()) {
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(lines_);
    sink_->set_pattern("%l %v");
    log_->set_level(level);
    log_->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = log_->sinks();
    for (auto it = sinks.begin(); it != sinks.end(); ++it) {
      if (*it == sink_) {
        sinks.erase(it);
        break;
      }
    }
    log_->set_level(old_level_);
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::string text() const { return lines_.str(); }
  // The captured lines holding `needle`, each "<level> <message>".
  std::vector<std::string> lines_with(std::string_view needle) const {
    std::vector<std::string> out;
    std::istringstream in(lines_.str());
    std::string line;
    while (std::getline(in, line)) {
      if (line.find(needle) != std::string::npos) out.push_back(line);
    }
    return out;
  }
  // How many of those were logged at `level` ("debug", "info", "warning", ...).
  int count(std::string_view needle, std::string_view level) const {
    int n = 0;
    for (const auto& line : lines_with(needle)) n += line.starts_with(std::string(level) + " ") ? 1 : 0;
    return n;
  }

 private:
  std::shared_ptr<spdlog::logger> log_;
  spdlog::level::level_enum old_level_;
  std::ostringstream lines_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

}  // namespace keel::test
