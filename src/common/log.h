#pragma once
// One spdlog logger per module, all writing to one sink (stderr or a file).
// Line format: "2026-11-23T01:58:00.123456Z info broker=1 [storage] message"
// (UTC; "broker=N" once set_log_broker_id() was called). When stderr is
// systemd's journal ($JOURNAL_STREAM names it), lines written there start
// with the syslog priority ("<6>") instead of the time, which the journal
// records itself: `journalctl -p warning` then filters by Keel's levels.
//
// Threads: logger() and init_logging() may be called from any thread, also
// while other threads log; the returned logger is thread-safe. init_logging()
// redirects every logger already handed out, so modules may grab their logger
// in constructors before the config is loaded; until then they write to stderr
// at level info. Loggers live until the process exits (safe in static teardown).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/logger.h>

namespace keel {

// level: trace, debug, info, warn, error, critical or off (case-insensitive).
// file: appended to (created if missing); "" = stderr.
// Throws std::runtime_error on an unknown level or a file that cannot be opened.
void init_logging(std::string_view level, const std::string& file);

// Every line from now on names this broker ("broker=N"): one log file or
// journal may hold several brokers' lines (a test cluster, a shared host).
void set_log_broker_id(int32_t broker_id);

// Pins `module`'s level, whatever init_logging() sets for the others (the
// "request" logger's per-request lines are wanted far less often than the
// rest at debug). Throws std::runtime_error on an unknown level.
void set_module_level(std::string_view module, std::string_view level);

// The logger named `module` (created on first use). Never null.
std::shared_ptr<spdlog::logger> logger(std::string_view module);

// Client-supplied text for a log line: printable ASCII only (others become
// '?'), at most 100 characters, so a hostile client id or SASL mechanism name
// cannot forge lines or garble the log.
std::string printable(std::string_view text);

}  // namespace keel
