#include "common/systemd_notify.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace keel::systemd {
namespace {

// A datagram socket bound where a notifier will send: a path, or an abstract
// name when the name starts with '@'.
class Listener {
 public:
  explicit Listener(const std::string& name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    socklen_t len;
    if (name[0] == '@') {
      std::memcpy(addr.sun_path + 1, name.data() + 1, name.size() - 1);
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    } else {
      std::memcpy(addr.sun_path, name.data(), name.size());
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
    }
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0;
  }
  ~Listener() { ::close(fd_); }
  bool bound() const { return bound_; }

  // The next datagram, or "" after timeout_ms.
  std::string next(int timeout_ms = 2000) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return "";
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

std::string temp_socket_path() {
  return (std::filesystem::temp_directory_path() / ("keel-notify-" + std::to_string(::getpid()) + ".sock")).string();
}

TEST(Notifier, WithoutSocketEveryCallIsANoOp) {
  Notifier n("", std::nullopt);
  EXPECT_FALSE(n.enabled());
  EXPECT_FALSE(n.ready());
  EXPECT_FALSE(n.status("recovering"));
}

TEST(Notifier, SendsEachMessageAsOneDatagramToAPath) {
  const std::string path = temp_socket_path();
  ::unlink(path.c_str());
  Listener l(path);
  ASSERT_TRUE(l.bound());
  Notifier n(path, std::nullopt);
  ASSERT_TRUE(n.enabled());
  EXPECT_TRUE(n.status("recovering logs\n12/40"));
  EXPECT_EQ(l.next(), "STATUS=recovering logs 12/40");  // a newline would end the field
  EXPECT_TRUE(n.ready());
  EXPECT_EQ(l.next(), "READY=1");
  EXPECT_TRUE(n.extend_timeout(std::chrono::seconds(90)));
  EXPECT_EQ(l.next(), "EXTEND_TIMEOUT_USEC=90000000");
  EXPECT_TRUE(n.reloading());
  const std::string reload = l.next();
  EXPECT_EQ(reload.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << reload;
  EXPECT_TRUE(n.stopping());
  EXPECT_EQ(l.next(), "STOPPING=1");
  ::unlink(path.c_str());
}

TEST(Notifier, ReachesAnAbstractSocket) {
  const std::string name = "@keel-notify-test-" + std::to_string(::getpid());
  Listener l(name);
  ASSERT_TRUE(l.bound());
  Notifier n(name, std::nullopt);
  EXPECT_TRUE(n.ready());
  EXPECT_EQ(l.next(), "READY=1");
}

TEST(Notifier, RelativeSocketNameIsRefused) {
  Notifier n("relative/path.sock", std::nullopt);
  EXPECT_FALSE(n.enabled());
  EXPECT_FALSE(n.ready());
}

TEST(Notifier, NobodyListeningFailsWithoutThrowing) {
  Notifier n(temp_socket_path() + ".absent", std::nullopt);
  ASSERT_TRUE(n.enabled());
  EXPECT_FALSE(n.ready());
  EXPECT_FALSE(n.ready());  // the second failure is not logged, still reported
}

TEST(WatchdogPinger, PingsAtHalfTheIntervalWhileAlive) {
  const std::string path = temp_socket_path();
  ::unlink(path.c_str());
  Listener l(path);
  ASSERT_TRUE(l.bound());
  Notifier n(path, std::chrono::milliseconds(200));
  std::atomic<bool> alive{true};
  WatchdogPinger pinger(n, [&] { return alive.load(); });
  ASSERT_TRUE(pinger.running());
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(l.next(1000), "WATCHDOG=1");
  const auto took = std::chrono::steady_clock::now() - start;
  // The first ping is immediate, then one every 100 ms.
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::milliseconds(3000));  // generous: a loaded CI machine
  alive = false;
  l.next(300);  // a ping already decided before alive turned false
  EXPECT_EQ(l.next(400), "");
  alive = true;
  EXPECT_EQ(l.next(1000), "WATCHDOG=1");
  ::unlink(path.c_str());
}

TEST(WatchdogPinger, DoesNothingWithoutAnInterval) {
  Notifier n(temp_socket_path(), std::nullopt);
  WatchdogPinger pinger(n, [] { return true; });
  EXPECT_FALSE(pinger.running());
}

TEST(ProgressReporter, SendsStatusAndExtensionAtMostOncePerPeriod) {
  const std::string path = temp_socket_path();
  ::unlink(path.c_str());
  Listener l(path);
  ASSERT_TRUE(l.bound());
  Notifier n(path, std::nullopt);
  ProgressReporter p(n, std::chrono::seconds(30), std::chrono::milliseconds(200));
  p.progress("recovering 1/3");
  p.progress("recovering 2/3");  // within the period: dropped
  EXPECT_EQ(l.next(), "STATUS=recovering 1/3\nEXTEND_TIMEOUT_USEC=30000000");
  EXPECT_EQ(l.next(100), "");
  p.progress("recovered 3/3", /*force=*/true);
  EXPECT_EQ(l.next(), "STATUS=recovered 3/3\nEXTEND_TIMEOUT_USEC=30000000");
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace keel::systemd
