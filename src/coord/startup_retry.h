#pragma once
// Start-up steps that read or write the coordination store ride out a short
// outage, as Kafka's KafkaZkClient does (retryRequestsUntilConnected): a
// ZooKeeper that restarts while a broker starts is a pause, not an exit.
// One StartupRetry runs every such step of a start (the broker's and its
// controller's), so they all wait alike and fail alike.
//
// Only an outage is waited out: a lost connection, or an expired session
// (`renew_session`, when the owner gives one, asks the owner for a new one:
// the broker renews its session on one thread of its own and sets up again
// what lived in the old one). Any other error —
// NoAuth, bad data, a full disk — is the step's answer at once.
//
// Threads: run() blocks the calling thread (sleeps between attempts); the
// object itself holds no state between calls and may be shared.

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>

#include "common/result.h"

namespace keel::coord {

// The store could not be reached (or its session is gone): the same request
// may succeed later. Everything else is a real answer.
bool is_store_outage(const std::error_code& ec);

class StartupRetry {
 public:
  // No waiting at all: the embedded store has no outage to wait out.
  StartupRetry() = default;
  // Waits out an outage of up to `budget` per step (zookeeper.connection.timeout.ms:
  // Kafka's bound for waiting on a connection); `renew_session` asks for a new
  // session when the old one expired (empty: someone else renews it).
  explicit StartupRetry(std::chrono::milliseconds budget, std::function<Result<void>()> renew_session = {})
      : budget_(budget), renew_session_(std::move(renew_session)) {}

  // Runs `step` (a callable returning Result<T>) until it succeeds, fails
  // with an error that is no outage, or the outage has lasted `budget`.
  // Logs the first outage of the step and its recovery, once each.
  template <typename Step>
  auto run(std::string_view what, Step&& step) const -> decltype(step()) {
    const auto started = std::chrono::steady_clock::now();
    for (int attempt = 0;; ++attempt) {
      auto r = step();
      if (r) {
        if (attempt > 0) recovered(what, started);
        return r;
      }
      if (!wait_before_retry(what, r.error(), started, attempt)) return r;
    }
  }

  // The error for a failure message: an outage says how long it was waited
  // out and which setting bounds that.
  std::string explain(const std::error_code& ec) const;

  std::chrono::milliseconds budget() const { return budget_; }

 private:
  // False when `ec` is not worth another attempt (no outage, or the budget
  // is spent); otherwise sleeps the backoff (renewing an expired session
  // first) and returns true.
  bool wait_before_retry(std::string_view what, const std::error_code& ec,
                         std::chrono::steady_clock::time_point started, int attempt) const;
  void recovered(std::string_view what, std::chrono::steady_clock::time_point started) const;

  std::chrono::milliseconds budget_{0};
  std::function<Result<void>()> renew_session_;
};

}  // namespace keel::coord
