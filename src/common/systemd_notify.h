#pragma once
// systemd's service notification protocol (sd_notify(3)), spoken directly:
// each message is one datagram of "KEY=VALUE\n..." lines sent to the
// AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for an abstract
// socket). Keel does not link libsystemd for this: the protocol is one
// sendto() of a few bytes, stable since systemd's first releases, and the
// library would add a run-time dependency (and its own dependencies) to every
// installation, also the ones that never run under systemd.
//
// Without $NOTIFY_SOCKET (not started by systemd with Type=notify, or a test
// that does not ask for it) every call is a no-op that returns false.
//
// Threads: every function may be called from any thread; one datagram is
// sent atomically, so messages from several threads never mix.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace keel::systemd {

class Notifier {
 public:
  // Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID now. A socket
  // name that is neither absolute nor abstract is logged and ignored.
  Notifier();
  // For tests: the given socket ("" = disabled) and watchdog interval.
  Notifier(std::string socket, std::optional<std::chrono::microseconds> watchdog);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  bool enabled() const { return fd_ >= 0; }

  // Sends `state` (one or more "KEY=VALUE" lines) as one datagram. True when
  // it was sent; a failure is logged once and otherwise ignored (systemd
  // gone or the socket full must never stop the broker).
  bool notify(std::string_view state);

  bool ready() { return notify("READY=1"); }
  // A line for `systemctl status`. Newlines in `text` become spaces.
  bool status(std::string_view text);
  // Asks systemd for `usec` more than now before the start (or stop) times
  // out; sent again before it lapses as long as progress is being made.
  bool extend_timeout(std::chrono::microseconds usec);
  bool stopping() { return notify("STOPPING=1"); }
  // RELOADING=1 with MONOTONIC_USEC (what Type=notify-reload requires;
  // accepted and harmless with Type=notify). Send ready() when done.
  bool reloading();
  bool watchdog() { return notify("WATCHDOG=1"); }

  // $WATCHDOG_USEC when it is set, positive and meant for this process
  // ($WATCHDOG_PID unset or equal to getpid()).
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }

 private:
  void open(const std::string& socket);

  int fd_ = -1;
  std::string address_;  // sockaddr_un bytes, ready for sendto
  std::optional<std::chrono::microseconds> watchdog_;
  std::atomic<bool> warned_{false};
};

// The process's notifier, built from the environment on first use.
Notifier& notifier();

// Sends WATCHDOG=1 every half of the watchdog interval while `alive()`
// answers true; when it answers false (the broker hangs), pings stop and
// systemd kills and restarts the service after WatchdogSec. Does nothing
// without a watchdog interval. alive() runs on this object's thread and
// should answer within a fraction of the interval.
class WatchdogPinger {
 public:
  WatchdogPinger(Notifier& notifier, std::function<bool()> alive);
  ~WatchdogPinger();  // stops the thread
  WatchdogPinger(const WatchdogPinger&) = delete;
  WatchdogPinger& operator=(const WatchdogPinger&) = delete;

  bool running() const { return thread_.joinable(); }

 private:
  void run(std::chrono::microseconds period);

  Notifier& notifier_;
  std::function<bool()> alive_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Rate-limited start-up progress: STATUS= with the latest text and
// EXTEND_TIMEOUT_USEC=extension, at most once per `every`, so a recovery of
// thousands of partitions sends a few datagrams a second, not thousands.
// As long as progress() keeps being called, systemd's start timeout keeps
// moving out; when it stops being called (a hang), the timeout lapses.
class ProgressReporter {
 public:
  ProgressReporter(Notifier& notifier, std::chrono::microseconds extension,
                   std::chrono::milliseconds every = std::chrono::seconds(1));
  // Sends when `every` has passed since the last datagram, or force is set.
  void progress(std::string_view status, bool force = false);

 private:
  Notifier& notifier_;
  std::chrono::microseconds extension_;
  std::chrono::milliseconds every_;
  std::mutex mu_;
  std::optional<std::chrono::steady_clock::time_point> last_;
};

}  // namespace keel::systemd
