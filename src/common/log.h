#pragma once
// One spdlog logger per module, all writing to one sink (stderr or a file).
// Line format: "2026-11-23T01:58:00.123456Z info [storage] message" (UTC).
//
// Threads: logger() and init_logging() may be called from any thread, also
// while other threads log; the returned logger is thread-safe. init_logging()
// redirects every logger already handed out, so modules may grab their logger
// in constructors before the config is loaded; until then they write to stderr
// at level info. Loggers live until the process exits (safe in static teardown).

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/logger.h>

namespace keel {

// level: trace, debug, info, warn, error, critical or off (case-insensitive).
// file: appended to (created if missing); "" = stderr.
// Throws std::runtime_error on an unknown level or a file that cannot be opened.
void init_logging(std::string_view level, const std::string& file);

// The logger named `module` (created on first use). Never null.
std::shared_ptr<spdlog::logger> logger(std::string_view module);

// Client-supplied text for a log line: printable ASCII only (others become
// '?'), at most 100 characters, so a hostile client id or SASL mechanism name
// cannot forge lines or garble the log.
std::string printable(std::string_view text);

}  // namespace keel
