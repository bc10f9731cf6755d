#include "common/systemd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/log.h"
#include "common/thread_name.h"

namespace keel::systemd {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("systemd");
  return l;
}

std::optional<std::chrono::microseconds> watchdog_from_env() {
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (!usec || !*usec) return std::nullopt;
  if (const char* pid = std::getenv("WATCHDOG_PID"); pid && *pid) {
    char* end = nullptr;
    const long p = std::strtol(pid, &end, 10);
    if (*end != '\0' || p != static_cast<long>(::getpid())) return std::nullopt;  // meant for another process
  }
  char* end = nullptr;
  const unsigned long long v = std::strtoull(usec, &end, 10);
  if (*end != '\0' || v == 0) return std::nullopt;
  return std::chrono::microseconds(v);
}

}  // namespace

Notifier::Notifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  open(socket ? socket : "");
  watchdog_ = watchdog_from_env();
}

Notifier::Notifier(std::string socket, std::optional<std::chrono::microseconds> watchdog) : watchdog_(watchdog) {
  open(socket);
}

Notifier::~Notifier() {
  if (fd_ >= 0) ::close(fd_);
}

void Notifier::open(const std::string& socket) {
  if (socket.empty()) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socklen_t len = 0;
  if (socket[0] == '/' && socket.size() < sizeof(addr.sun_path)) {
    std::memcpy(addr.sun_path, socket.data(), socket.size());
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket.size() + 1);
  } else if (socket[0] == '@' && socket.size() <= sizeof(addr.sun_path)) {
    // Abstract namespace: a leading NUL, then the name, not NUL-terminated;
    // the address length says where it ends.
    addr.sun_path[0] = '\0';
    std::memcpy(addr.sun_path + 1, socket.data() + 1, socket.size() - 1);
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket.size());
  } else {
    log()->warn("NOTIFY_SOCKET '{}' is neither an absolute path nor an abstract name (@...); "
                "no notifications are sent",
                printable(socket));
    return;
  }
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    log()->warn("cannot create the notification socket: {}; no notifications are sent", std::strerror(errno));
    return;
  }
  address_.assign(reinterpret_cast<const char*>(&addr), len);
}

bool Notifier::notify(std::string_view state) {
  if (fd_ < 0) return false;
  ssize_t n;
  do {
    n = ::sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(address_.data()),
                 static_cast<socklen_t>(address_.size()));
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(state.size())) return true;
  if (!warned_.exchange(true)) {
    log()->warn("cannot send '{}' to NOTIFY_SOCKET: {} (later failures are not logged)",
                printable(state.substr(0, state.find('\n'))), n < 0 ? std::strerror(errno) : "short write");
  }
  return false;
}

bool Notifier::status(std::string_view text) {
  std::string msg = "STATUS=";
  for (char c : text) msg.push_back(c == '\n' ? ' ' : c);
  return notify(msg);
}

bool Notifier::extend_timeout(std::chrono::microseconds usec) {
  return notify("EXTEND_TIMEOUT_USEC=" + std::to_string(usec.count()));
}

bool Notifier::reloading() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const long long usec = static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  return notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

Notifier& notifier() {
  static Notifier* n = new Notifier();  // never destroyed: used until the last log line
  return *n;
}

WatchdogPinger::WatchdogPinger(Notifier& notifier, std::function<bool()> alive)
    : notifier_(notifier), alive_(std::move(alive)) {
  const auto interval = notifier_.watchdog_interval();
  if (!interval || !notifier_.enabled()) return;
  const auto period = std::max(*interval / 2, std::chrono::microseconds(1000));
  log()->info("systemd watchdog: {} ms; WATCHDOG=1 every {} ms while the broker answers",
              interval->count() / 1000, period.count() / 1000);
  thread_ = std::thread([this, period] {
    set_thread_name("keel-watchdog");
    run(period);
  });
}

WatchdogPinger::~WatchdogPinger() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WatchdogPinger::run(std::chrono::microseconds period) {
  bool was_alive = true;
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    const bool alive = !alive_ || alive_();
    if (alive) notifier_.watchdog();
    if (alive != was_alive) {
      if (alive) {
        log()->info("the broker answers again; watchdog pings resume");
      } else {
        log()->error("the broker does not answer; watchdog pings stop (systemd restarts it after WatchdogSec)");
      }
      was_alive = alive;
    }
    lock.lock();
    cv_.wait_for(lock, period, [this] { return stop_; });
  }
}

ProgressReporter::ProgressReporter(Notifier& notifier, std::chrono::microseconds extension,
                                   std::chrono::milliseconds every)
    : notifier_(notifier), extension_(extension), every_(every) {}

void ProgressReporter::progress(std::string_view status, bool force) {
  if (!notifier_.enabled()) return;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    if (!force && last_ && now - *last_ < every_) return;
    last_ = now;
  }
  std::string msg = "STATUS=";
  for (char c : status) msg.push_back(c == '\n' ? ' ' : c);
  msg += "\nEXTEND_TIMEOUT_USEC=" + std::to_string(extension_.count());
  notifier_.notify(msg);
}

}  // namespace keel::systemd
