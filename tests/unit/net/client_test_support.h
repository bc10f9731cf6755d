#pragma once
// Helpers of the net::Client unit tests (client_test.cc, client_sasl_test.cc):
// scripted servers on 127.0.0.1 over plain POSIX sockets, and a recorder of
// the outcomes the client's callbacks see.
//
// Test frames are a correlation id followed by a payload, so an echoing
// server answers each request correctly.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "net/client.h"
#include "support/socket_io.h"

namespace keel::net::client_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline int64_t ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// --- wire helpers for the test servers (plain POSIX sockets) ---------------

using test_support::read_exact;
using test_support::write_all;

inline bool write_all(int fd, const Bytes& b) { return write_all(fd, b.data(), b.size()); }

// One frame without its size prefix, or nullopt at end of stream.
inline std::optional<Bytes> read_frame(int fd) {
  uint8_t prefix[4];
  if (!read_exact(fd, prefix, 4)) return std::nullopt;
  Bytes body(static_cast<size_t>(load_be<int32_t>(prefix)));
  if (!read_exact(fd, body.data(), body.size())) return std::nullopt;
  return body;
}

inline bool write_frame(int fd, const Bytes& body) {
  Bytes out(4);
  store_be<int32_t>(out.data(), static_cast<int32_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return write_all(fd, out);
}

// Whether a frame can be read within `ms`.
inline bool readable_within(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) > 0;
}

inline int32_t correlation_of(const Bytes& frame) { return load_be<int32_t>(frame.data()); }
inline std::string payload_of(const Bytes& frame) { return std::string(frame.begin() + 4, frame.end()); }

inline Bytes request(int32_t correlation_id, std::string_view payload) {
  Bytes b(4 + payload.size());
  store_be<int32_t>(b.data(), correlation_id);
  if (!payload.empty()) std::memcpy(b.data() + 4, payload.data(), payload.size());
  return b;
}

using test_support::free_port;

// Listens on 127.0.0.1 (or ::1) and runs `script(fd, n)` for the n-th
// accepted connection (from 0) on a thread of its own; the connection is
// closed when the script returns. Stopping shuts every connection down, so a
// script blocked in read() sees end of stream.
class TestServer {
 public:
  using Script = std::function<void(int fd, int index)>;

  explicit TestServer(Script script, uint16_t port = 0, bool ipv6 = false) : script_(std::move(script)) {
    listen_fd_ = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc;
    if (ipv6) {
      sockaddr_in6 addr{};
      addr.sin6_family = AF_INET6;
      addr.sin6_port = htons(port);
      addr.sin6_addr = in6addr_loopback;
      rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
      socklen_t len = sizeof(addr);
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
      port_ = ntohs(addr.sin6_port);
    } else {
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(port);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
      socklen_t len = sizeof(addr);
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
      port_ = ntohs(addr.sin_port);
    }
    ok_ = rc == 0 && ::listen(listen_fd_, 64) == 0;
    if (ok_) accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~TestServer() { stop(); }

  void stop() {
    if (stopping_.exchange(true)) return;
    if (accept_thread_.joinable()) accept_thread_.join();
    ::close(listen_fd_);
    {
      std::lock_guard lock(mu_);
      for (auto& c : conns_) {
        if (!c->closed) ::shutdown(c->fd, SHUT_RDWR);
      }
    }
    for (auto& c : conns_) c->thread.join();
  }

  bool ok() const { return ok_; }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  struct Conn {
    int fd = -1;
    bool closed = false;  // under mu_
    std::thread thread;
  };

  void accept_loop() {
    while (!stopping_) {
      if (!readable_within(listen_fd_, 20)) continue;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      const int index = accepted_.fetch_add(1);
      std::lock_guard lock(mu_);
      auto conn = std::make_unique<Conn>();
      conn->fd = fd;
      Conn* c = conn.get();
      conn->thread = std::thread([this, c, index] {
        script_(c->fd, index);
        std::lock_guard lock(mu_);
        ::close(c->fd);
        c->closed = true;
      });
      conns_.push_back(std::move(conn));
    }
  }

  Script script_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  bool ok_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> conns_;
};

inline void echo(int fd, int) {
  while (auto frame = read_frame(fd)) {
    if (!write_frame(fd, *frame)) return;
  }
}

// Reads requests and never answers them.
inline void hold(int fd, int) {
  while (read_frame(fd)) {
  }
}

// --- outcomes seen by callbacks ----------------------------------------------

struct Outcome {
  int tag;
  Result<Bytes> result;
  bool on_runtime_thread;
  Clock::time_point at;
};

class Recorder {
 public:
  explicit Recorder(ClientRuntime& runtime) : runtime_(runtime) {}

  Client::Callback cb(int tag) {
    return [this, tag](Result<Bytes> r) { add(tag, std::move(r)); };
  }

  void add(int tag, Result<Bytes> r) {
    // Notified under the lock: a test may destroy the recorder as soon as
    // its wait returns.
    std::lock_guard lock(mu_);
    outcomes_.push_back(Outcome{tag, std::move(r), runtime_.on_runtime_thread(), Clock::now()});
    cv_.notify_all();
  }

  bool wait_for(size_t n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return outcomes_.size() >= n; });
  }

  std::vector<Outcome> outcomes() {
    std::lock_guard lock(mu_);
    return outcomes_;
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return outcomes_.size();
  }

 private:
  ClientRuntime& runtime_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Outcome> outcomes_;
};

inline ClientOptions options_for(uint16_t port) {
  ClientOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.connect_timeout_ms = 2'000;
  o.request_timeout_ms = 5'000;
  o.reconnect_backoff_ms = 10;
  o.reconnect_backoff_max_ms = 50;
  return o;
}

// Sends request `correlation_id` with `payload`, recorded under tag = id.
inline void send_tagged(Client& client, Recorder& rec, int32_t correlation_id, std::string_view payload,
                 bool expect_response = true) {
  client.send(request(correlation_id, payload), correlation_id, rec.cb(correlation_id), expect_response);
}

inline ::testing::AssertionResult failed_with(const Outcome& o, ClientErrc e) {
  if (o.result.ok()) return ::testing::AssertionFailure() << "request " << o.tag << " succeeded";
  if (o.result.error() != make_error_code(e)) {
    return ::testing::AssertionFailure() << "request " << o.tag << " failed with " << o.result.error().message()
                                         << ", expected " << make_error_code(e).message();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace keel::net::client_test
