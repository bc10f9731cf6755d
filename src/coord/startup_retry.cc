#include "coord/startup_retry.h"

#include <algorithm>
#include <thread>

#include "common/log.h"
#include "coord/errors.h"

namespace keel::coord {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("coord");
  return l;
}

// First retry soon (a request that met a dying connection), then less
// often; the store's own requests already wait for a reconnection.
constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{2000};

int64_t ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

bool is_store_outage(const std::error_code& ec) {
  return ec == CoordErrc::kConnectionLoss || ec == CoordErrc::kSessionExpired;
}

bool StartupRetry::wait_before_retry(std::string_view what, const std::error_code& ec,
                                     std::chrono::steady_clock::time_point started, int attempt) const {
  if (!is_store_outage(ec) || budget_.count() <= 0) return false;
  const auto deadline = started + budget_;
  if (std::chrono::steady_clock::now() >= deadline) {
    log()->error("{}: {}; the coordination store stayed unreachable for {} ms: giving up", what, ec.message(),
                 ms_since(started));
    return false;
  }
  if (attempt == 0) {
    log()->warn("{}: {}; waiting up to {} ms for the coordination store to come back", what, ec.message(),
                budget_.count());
  }
  if (ec == CoordErrc::kSessionExpired && renew_session_) {
    // Only an owner with no ephemeral node yet passes renew_session: a new
    // session is all it needs. A failed renewal is the next outage.
    if (auto r = renew_session_(); !r) log()->debug("{}: no new session yet: {}", what, r.error().message());
  }
  const auto backoff = std::min(kMaxBackoff, kFirstBackoff * (1 << std::min(attempt, 5)));
  std::this_thread::sleep_until(std::min(deadline, std::chrono::steady_clock::now() + backoff));
  return true;
}

void StartupRetry::recovered(std::string_view what, std::chrono::steady_clock::time_point started) const {
  log()->info("{}: the coordination store answered after {} ms", what, ms_since(started));
}

std::string StartupRetry::explain(const std::error_code& ec) const {
  if (!is_store_outage(ec) || budget_.count() <= 0) return ec.message();
  return ec.message() + " (the coordination store stayed unreachable for " + std::to_string(budget_.count()) +
         " ms, the limit zookeeper.connection.timeout.ms sets)";
}

}  // namespace keel::coord
