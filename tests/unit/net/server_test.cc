// The network server with a scripted handler: responses completed out of
// order, from other threads, still leave in request order; oversized frames
// close the connection.

#include "net/server.h"

#include "common/bytes.h"
#include "support/socket_io.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace keel::net {
namespace {

// Answers each request with its own first 8 bytes after a delay that makes
// later requests finish first; completes on a thread of its own.
class ReverseDelayHandler : public RequestHandler {
 public:
  ~ReverseDelayHandler() override {
    for (auto& t : threads_) t.join();
  }
  void handle(const ConnectionInfo&, Frame frame, std::function<void(Response)> done) override {
    const int delay_ms = 5 * (10 - std::min<int>(frame[7], 10));
    std::lock_guard lock(mu_);
    threads_.emplace_back([frame = std::move(frame), done = std::move(done), delay_ms]() {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      Bytes out = {0, 0, 0, 8};
      out.insert(out.end(), frame.begin(), frame.begin() + 8);
      Response r;
      r.chunks.push_back(std::move(out));
      done(std::move(r));
    });
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

using keel::test_support::read_exact;

// Writes `n` pipelined 8-byte requests whose last byte is 0..n-1 in one
// write, then expects the n echoed answers in that order.
void pipeline_and_expect_in_order(int fd, uint8_t n) {
  Bytes burst;
  for (uint8_t i = 0; i < n; ++i) {
    const uint8_t frame[] = {0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, i};
    burst.insert(burst.end(), frame, frame + sizeof(frame));
  }
  ASSERT_EQ(::write(fd, burst.data(), burst.size()), static_cast<ssize_t>(burst.size()));
  for (uint8_t i = 0; i < n; ++i) {
    uint8_t resp[12];
    ASSERT_TRUE(read_exact(fd, resp, sizeof(resp)));
    EXPECT_EQ(resp[11], i) << "response " << int(i) << " out of order";
  }
}

TEST(Server, ResponsesLeaveInRequestOrderWhenHandlersFinishOutOfOrder) {
  ReverseDelayHandler handler;
  ServerOptions options;
  options.threads = 2;
  Server server(options, handler);
  auto ports = server.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  ASSERT_EQ(ports.size(), 1u);
  server.start();

  int fd = connect_to(ports[0]);
  pipeline_and_expect_in_order(fd, 10);
  ::close(fd);
  server.stop();
}

// Request 0 gets an 8 MiB answer at once; request 1's answer completes on
// another thread while the writer is still pushing request 0's out.
class BigThenLateHandler : public RequestHandler {
 public:
  static constexpr size_t kBig = 8u << 20;
  ~BigThenLateHandler() override {
    if (late_.joinable()) late_.join();
  }
  void handle(const ConnectionInfo&, Frame frame, std::function<void(Response)> done) override {
    if (frame[7] == 0) {
      Bytes out(4 + kBig, 0x5a);
      out[0] = static_cast<uint8_t>(kBig >> 24);
      out[1] = static_cast<uint8_t>(kBig >> 16);
      out[2] = static_cast<uint8_t>(kBig >> 8);
      out[3] = static_cast<uint8_t>(kBig);
      Response r;
      r.chunks.push_back(std::move(out));
      done(std::move(r));
      return;
    }
    late_ = std::thread([done = std::move(done)] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      Response r;
      r.chunks.push_back(Bytes{0, 0, 0, 4, 'l', 'a', 't', 'e'});
      done(std::move(r));
    });
  }

 private:
  std::thread late_;
};

TEST(Server, AnAnswerCompletedWhileAnotherIsBeingSentStillLeaves) {
  BigThenLateHandler handler;
  ServerOptions options;
  options.threads = 1;
  options.send_buffer_bytes = 65536;
  Server server(options, handler);
  auto ports = server.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  server.start();
  int fd = connect_to(ports[0]);
  const uint8_t requests[] = {0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, 0,
                              0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, 1};
  ASSERT_EQ(::write(fd, requests, sizeof(requests)), static_cast<ssize_t>(sizeof(requests)));
  // Not reading yet: the writer blocks on the full socket while the second
  // answer completes (a wake-up that once got lost, hanging the connection).
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  Bytes big(4 + BigThenLateHandler::kBig);
  ASSERT_TRUE(read_exact(fd, big.data(), big.size()));
  EXPECT_EQ(big.back(), 0x5a);
  uint8_t late[8];
  ASSERT_TRUE(read_exact(fd, late, sizeof(late))) << "the second answer never left";
  EXPECT_EQ(std::string(reinterpret_cast<char*>(late) + 4, 4), "late");
  ::close(fd);
  server.stop();
}

TEST(Server, OversizedFrameClosesTheConnection) {
  ReverseDelayHandler handler;
  ServerOptions options;
  options.threads = 1;
  options.max_request_bytes = 1024;
  Server server(options, handler);
  auto ports = server.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  server.start();
  int fd = connect_to(ports[0]);
  const uint8_t prefix[] = {0, 0, 0x04, 0x01};  // 1025 bytes
  ASSERT_EQ(::write(fd, prefix, 4), 4);
  uint8_t b;
  EXPECT_EQ(::read(fd, &b, 1), 0);  // EOF: closed by the server
  ::close(fd);
  server.stop();
}

TEST(Server, ListenOnABusyPortThrowsNamingTheAddress) {
  ReverseDelayHandler handler;
  Server first({}, handler);
  auto ports = first.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  Server second({}, handler);
  try {
    second.listen({{"PLAINTEXT", "127.0.0.1", ports[0]}});
    FAIL() << "bound a busy port";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(ports[0])),
              std::string::npos);
  }
}

bool closed_by_server(int fd) {
  uint8_t b;
  return ::read(fd, &b, 1) == 0;
}

TEST(Server, IdleConnectionsAreClosedAfterTheIdleTimeout) {
  ReverseDelayHandler handler;
  ServerOptions options;
  options.threads = 1;
  options.idle_timeout_ms = 200;
  Server server(options, handler);
  auto ports = server.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  server.start();
  int fd = connect_to(ports[0]);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_by_server(fd));  // the 5 s receive timeout would fail this
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
  ::close(fd);
  server.stop();
}

// An 8-byte request whose last byte is `id`, and its answer (which echoes it).
bool send_ping(int fd, uint8_t id) {
  const uint8_t frame[] = {0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, id};
  return ::write(fd, frame, sizeof(frame)) == static_cast<ssize_t>(sizeof(frame));
}
bool answered(int fd, uint8_t id) {
  uint8_t resp[12];
  return read_exact(fd, resp, sizeof(resp)) && resp[11] == id;
}
bool ping(int fd, uint8_t id) { return send_ping(fd, id) && answered(fd, id); }

TEST(Server, ConnectionsPastThePerIpLimitAreRefusedAndSlotsComeBack) {
  ReverseDelayHandler handler;
  ServerOptions options;
  options.threads = 2;
  options.max_connections_per_ip = 2;
  Server server(options, handler);
  auto ports = server.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  server.start();
  int a = connect_to(ports[0]);
  int b = connect_to(ports[0]);
  ASSERT_TRUE(ping(a, 1));
  ASSERT_TRUE(ping(b, 2));
  int c = connect_to(ports[0]);
  EXPECT_TRUE(closed_by_server(c));  // the third from 127.0.0.1 is refused
  ::close(c);
  EXPECT_TRUE(ping(a, 3));           // the first two are unaffected
  ::close(b);
  // Once b's slot is released a new connection is served again.
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    int d = connect_to(ports[0]);
    served = ping(d, 4);
    ::close(d);
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(served);
  ::close(a);
  server.stop();
}

// max.connections as Kafka's acceptor applies it: at the limit a new client
// is not accepted (it waits in the listen backlog, not refused) and is served
// as soon as another connection closes.
TEST(Server, AtMaxConnectionsNewClientsWaitForASlotInsteadOfBeingRefused) {
  ReverseDelayHandler handler;
  ServerOptions options;
  options.threads = 2;
  options.max_connections = 2;
  Server server(options, handler);
  auto ports = server.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  server.start();
  int a = connect_to(ports[0]);
  int b = connect_to(ports[0]);
  ASSERT_TRUE(ping(a, 1));
  ASSERT_TRUE(ping(b, 2));
  int c = connect_to(ports[0]);  // completes in the kernel's backlog
  ASSERT_TRUE(send_ping(c, 3));
  pollfd p{c, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 300), 0) << "the third connection was served (or closed) past max.connections";
  ::close(a);
  EXPECT_TRUE(answered(c, 3)) << "the waiting connection was not served once a slot came free";
  EXPECT_TRUE(ping(b, 4));
  ::close(b);
  ::close(c);
  server.stop();
}

// A connection with a ping sent on it that the server has not accepted:
// no answer within 300 ms.
int connect_unserved(uint16_t port, uint8_t id) {
  int fd = connect_to(port);  // completes in the kernel's backlog
  EXPECT_TRUE(send_ping(fd, id));
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 300), 0) << "served (or closed) past its connection limit";
  return fd;
}

// `n` connections to `port`, each answered; the caller closes them.
std::vector<int> connect_served(uint16_t port, int n) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    fds.push_back(connect_to(port));
    EXPECT_TRUE(ping(fds.back(), static_cast<uint8_t>(10 + i))) << "connection " << i << " was not served";
  }
  return fds;
}

// listener.name.<l>.max.connections: at its limit only that listener's
// clients wait; another listener goes on serving.
TEST(Server, AListenersMaxConnectionsHoldsOnlyThatListener) {
  ReverseDelayHandler handler;
  ServerOptions options;
  options.threads = 2;
  options.listener_max_connections = {{"EXTERNAL", 1}};
  Server server(options, handler);
  auto ports = server.listen({{"EXTERNAL", "127.0.0.1", 0}, {"INTERNAL", "127.0.0.1", 0}});
  server.start();
  int a = connect_to(ports[0]);
  ASSERT_TRUE(ping(a, 1));
  int waiting = connect_unserved(ports[0], 2);
  std::vector<int> internal = connect_served(ports[1], 3);  // INTERNAL is not limited
  ::close(a);
  EXPECT_TRUE(answered(waiting, 2)) << "the waiting EXTERNAL connection was not served once a slot came free";
  ::close(waiting);
  for (int fd : internal) ::close(fd);
  server.stop();
}

// The inter-broker listener (among others) is exempt from max.connections,
// as Kafka's protectedListener; its connections still count towards it.
TEST(Server, TheProtectedListenerIsExemptFromMaxConnections) {
  ReverseDelayHandler handler;
  ServerOptions options;
  options.threads = 2;
  options.max_connections = 1;
  options.protected_listener = "BROKER";
  Server server(options, handler);
  auto ports = server.listen({{"CLIENT", "127.0.0.1", 0}, {"BROKER", "127.0.0.1", 0}});
  server.start();
  int c = connect_to(ports[0]);
  ASSERT_TRUE(ping(c, 1));
  std::vector<int> brokers = connect_served(ports[1], 2);  // past max.connections
  int waiting = connect_unserved(ports[0], 2);
  ::close(c);
  for (int fd : brokers) ::close(fd);
  EXPECT_TRUE(answered(waiting, 2));
  ::close(waiting);
  server.stop();
}

}  // namespace
}  // namespace keel::net

namespace keel::net {
namespace {

// Answers each request 300 ms later, from another thread.
class SlowHandler : public RequestHandler {
 public:
  ~SlowHandler() override {
    for (auto& t : threads_) t.join();
  }
  void handle(const ConnectionInfo&, Frame frame, std::function<void(Response)> done) override {
    std::lock_guard lock(mu_);
    threads_.emplace_back([frame = std::move(frame), done = std::move(done)]() {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      Bytes out = {0, 0, 0, 8};
      out.insert(out.end(), frame.begin(), frame.begin() + 8);
      Response r;
      r.chunks.push_back(std::move(out));
      done(std::move(r));
    });
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

void graceful_stop_answers_in_flight(int handler_threads) {
  SlowHandler handler;
  ServerOptions options;
  options.threads = 1;
  options.handler_threads = handler_threads;
  Server server(options, handler);
  auto ports = server.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  server.start();
  int fd = connect_to(ports[0]);
  const uint8_t frame[] = {0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, 42};
  ASSERT_EQ(::write(fd, frame, sizeof(frame)), static_cast<ssize_t>(sizeof(frame)));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the request is in flight
  std::thread stopper([&] { server.stop(/*drain_ms=*/5000); });
  uint8_t resp[12];
  ASSERT_TRUE(read_exact(fd, resp, sizeof(resp))) << "the in-flight request was not answered";
  EXPECT_EQ(resp[11], 42);
  uint8_t b;
  EXPECT_EQ(::read(fd, &b, 1), 0) << "the connection closes after the answer";
  stopper.join();
  ::close(fd);
}

TEST(Server, AGracefulStopAnswersTheRequestsInFlightBeforeClosing) { graceful_stop_answers_in_flight(0); }

// The same with the request handed to a handler thread: the drain waits for
// it, and the pool is stopped and joined after the reactors.
TEST(Server, AGracefulStopWithHandlerThreadsAnswersTheRequestsInFlight) { graceful_stop_answers_in_flight(2); }

}  // namespace
}  // namespace keel::net

namespace keel::net {
namespace {

// Answers synchronously, after a short sleep that varies by request, noting
// the order in which a connection's requests were handled and whether two of
// them ever ran at once.
class OrderRecordingHandler : public RequestHandler {
 public:
  void handle(const ConnectionInfo&, Frame frame, std::function<void(Response)> done) override {
    if (running_.fetch_add(1) != 0) overlapped_ = true;
    std::this_thread::sleep_for(std::chrono::microseconds(200 * (frame[7] % 4)));
    {
      std::lock_guard lock(mu_);
      order_.push_back(frame[7]);
    }
    running_.fetch_sub(1);
    Bytes out = {0, 0, 0, 8};
    out.insert(out.end(), frame.begin(), frame.begin() + 8);
    Response r;
    r.chunks.push_back(std::move(out));
    done(std::move(r));
  }
  std::vector<uint8_t> order() {
    std::lock_guard lock(mu_);
    return order_;
  }
  std::atomic<int> running_{0};
  std::atomic<bool> overlapped_{false};

 private:
  std::mutex mu_;
  std::vector<uint8_t> order_;
};

TEST(Server, HandlerThreadsTakeAConnectionsRequestsOneAtATimeInArrivalOrder) {
  OrderRecordingHandler handler;
  ServerOptions options;
  options.threads = 1;
  options.handler_threads = 4;
  Server server(options, handler);
  auto ports = server.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  server.start();
  int fd = connect_to(ports[0]);
  pipeline_and_expect_in_order(fd, 60);
  const auto order = handler.order();
  ASSERT_EQ(order.size(), 60u);
  for (uint8_t i = 0; i < 60; ++i) EXPECT_EQ(order[i], i);
  EXPECT_FALSE(handler.overlapped_.load()) << "two requests of one connection were handled at once";
  ::close(fd);
}

// The first request (id 1) blocks its handler until a request with id 2 has
// been handled — which can only happen if handling one connection's request
// does not hold up the reactor thread that reads the other connection.
class WaitForOtherHandler : public RequestHandler {
 public:
  void handle(const ConnectionInfo&, Frame frame, std::function<void(Response)> done) override {
    if (frame[7] == 1) {
      std::unique_lock lock(mu_);
      released_ = cv_.wait_for(lock, std::chrono::seconds(5), [&] { return second_done_; });
    } else {
      std::lock_guard lock(mu_);
      second_done_ = true;
      cv_.notify_all();
    }
    Bytes out = {0, 0, 0, 8};
    out.insert(out.end(), frame.begin(), frame.begin() + 8);
    Response r;
    r.chunks.push_back(std::move(out));
    done(std::move(r));
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool second_done_ = false;
  bool released_ = false;
};

TEST(Server, ABlockedHandlerDoesNotHoldUpOtherConnectionsOnTheSameReactor) {
  WaitForOtherHandler handler;
  ServerOptions options;
  options.threads = 1;  // both connections on one reactor thread
  options.handler_threads = 2;
  Server server(options, handler);
  auto ports = server.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  server.start();
  int a = connect_to(ports[0]);
  int b = connect_to(ports[0]);
  const uint8_t first[] = {0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, 1};
  const uint8_t second[] = {0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, 2};
  ASSERT_EQ(::write(a, first, sizeof(first)), static_cast<ssize_t>(sizeof(first)));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a's handler is waiting
  ASSERT_EQ(::write(b, second, sizeof(second)), static_cast<ssize_t>(sizeof(second)));
  uint8_t resp[12];
  ASSERT_TRUE(read_exact(b, resp, sizeof(resp)));
  EXPECT_EQ(resp[11], 2);
  ASSERT_TRUE(read_exact(a, resp, sizeof(resp)));
  EXPECT_EQ(resp[11], 1);
  {
    std::lock_guard lock(handler.mu_);
    EXPECT_TRUE(handler.released_) << "the first handler timed out: the second request waited for it";
  }
  ::close(a);
  ::close(b);
}


// Takes each request in 20 ms but answers none until it has taken twelve, then
// all of them: no answer leaves (which would also wake a paused reader) before
// the reader has read past its read-ahead bound.
class AnswerAtTwelveHandler : public RequestHandler {
 public:
  void handle(const ConnectionInfo&, Frame frame, std::function<void(Response)> done) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    Bytes out = {0, 0, 0, 8};
    out.insert(out.end(), frame.begin(), frame.begin() + 8);
    Response r;
    r.chunks.push_back(std::move(out));
    pending_.emplace_back(std::move(done), std::move(r));
    if (pending_.size() < 12) return;
    for (auto& [d, resp] : pending_) d(std::move(resp));
    pending_.clear();
  }

 private:
  std::vector<std::pair<std::function<void(Response)>, Response>> pending_;  // one connection: no lock
};

// Twelve 1 MiB requests sent at once are more than the reader may hand to the
// handler threads ahead of them (4 MiB): it pauses, and each request handled
// must wake it again, or the later requests would never be read (and, with
// this handler, nothing would be answered).
TEST(Server, AReaderPausedByTheReadAheadBoundResumesAsHandlersFinish) {
  AnswerAtTwelveHandler handler;
  ServerOptions options;
  options.threads = 1;
  options.handler_threads = 2;
  Server server(options, handler);
  auto ports = server.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  server.start();
  int fd = connect_to(ports[0]);
  constexpr uint32_t kBody = 1 << 20;
  std::thread writer([fd] {
    for (uint8_t i = 0; i < 12; ++i) {
      Bytes frame(4 + kBody, 0);
      frame[0] = static_cast<uint8_t>(kBody >> 24);
      frame[1] = static_cast<uint8_t>(kBody >> 16);
      frame[2] = static_cast<uint8_t>(kBody >> 8);
      frame[3] = static_cast<uint8_t>(kBody);
      frame[4 + 1] = 18;  // an api key byte, as in the other tests
      frame[4 + 7] = i;
      size_t off = 0;
      while (off < frame.size()) {
        const ssize_t n = ::write(fd, frame.data() + off, frame.size() - off);
        if (n <= 0) return;
        off += static_cast<size_t>(n);
      }
    }
  });
  for (uint8_t i = 0; i < 12; ++i) {
    uint8_t resp[12];
    ASSERT_TRUE(read_exact(fd, resp, sizeof(resp))) << "answer " << int(i) << " never came";
    EXPECT_EQ(resp[11], i);
  }
  writer.join();
  ::close(fd);
}


// Requests whose last byte is odd may run on the network thread; even ones
// sleep 10 ms. Notes the order and the thread of each.
class MixedHandler : public RequestHandler {
 public:
  void handle(const ConnectionInfo&, Frame frame, std::function<void(Response)> done) override {
    if (frame[7] % 2 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    {
      std::lock_guard lock(mu_);
      order_.push_back(frame[7]);
      threads_.push_back(std::this_thread::get_id());
    }
    Bytes out = {0, 0, 0, 8};
    out.insert(out.end(), frame.begin(), frame.begin() + 8);
    Response r;
    r.chunks.push_back(std::move(out));
    done(std::move(r));
  }
  bool runs_on_network_thread(const Frame& frame) const override { return frame[7] % 2 == 1; }
  std::mutex mu_;
  std::vector<uint8_t> order_;
  std::vector<std::thread::id> threads_;
};

TEST(Server, RequestsForTheNetworkThreadRunThereOnlyWhenNothingOfTheirConnectionIsQueued) {
  MixedHandler handler;
  ServerOptions options;
  options.threads = 1;
  options.handler_threads = 2;
  Server server(options, handler);
  auto ports = server.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  server.start();
  int fd = connect_to(ports[0]);
  auto one = [&](uint8_t id) {
    const uint8_t frame[] = {0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, id};
    ASSERT_EQ(::write(fd, frame, sizeof(frame)), static_cast<ssize_t>(sizeof(frame)));
    uint8_t resp[12];
    ASSERT_TRUE(read_exact(fd, resp, sizeof(resp)));
    EXPECT_EQ(resp[11], id);
  };
  one(1);  // alone: on the network thread
  one(2);  // on a handler thread
  // The handler thread counts request 2 as done only once handle() has
  // returned, which can be just after its answer reached us: give it that
  // moment, or request 3 would (rightly) queue behind it.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  one(3);  // alone again: the network thread
  {
    std::lock_guard lock(handler.mu_);
    ASSERT_EQ(handler.threads_.size(), 3u);
    EXPECT_EQ(handler.threads_[0], handler.threads_[2]);
    EXPECT_NE(handler.threads_[0], handler.threads_[1]);
  }
  // Pipelined and mixed: the odd ones behind an even one wait for it (they go
  // through the strand), so the handled order is the arrival order.
  pipeline_and_expect_in_order(fd, 40);
  {
    std::lock_guard lock(handler.mu_);
    ASSERT_EQ(handler.order_.size(), 43u);
    for (uint8_t i = 0; i < 40; ++i) EXPECT_EQ(handler.order_[3 + i], i) << "handled out of arrival order";
  }
  ::close(fd);
}

// Answers each request with its size and a checksum of its bytes, on the
// reactor thread.
class DigestHandler : public RequestHandler {
 public:
  void handle(const ConnectionInfo&, Frame frame, std::function<void(Response)> done) override {
    uint32_t sum = 0;
    for (uint8_t b : frame) sum = sum * 31 + b;
    const auto size = static_cast<uint32_t>(frame.size());
    Bytes out = {0, 0, 0, 8};
    for (uint32_t v : {size, sum})
      for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
    Response r;
    r.chunks.push_back(std::move(out));
    done(std::move(r));
  }
};

// Large request bodies are read with a low-water mark of what is still
// missing (Connection::read_body). Whatever pieces the client sends them in —
// a tail shorter than the mark's floor, a pause mid-frame, a receive buffer
// smaller than the frame — every frame arrives whole and is answered; a mark
// above what is missing would hang here until the 5 s socket timeout.
void frames_sent_in_pieces_arrive_whole(int32_t receive_buffer_bytes) {
  DigestHandler handler;
  ServerOptions options;
  options.threads = 1;
  options.receive_buffer_bytes = receive_buffer_bytes;
  Server server(options, handler);
  auto ports = server.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  server.start();
  int fd = connect_to(ports[0]);
  uint32_t seed = 7;
  auto next = [&] { return seed = seed * 1103515245u + 12345u; };
  for (size_t size : {size_t{3} << 20, (size_t{1} << 20) + 1, size_t{200} << 10, size_t{130} << 10, size_t{10}}) {
    Bytes frame(4 + size);
    for (int i = 0; i < 4; ++i) frame[static_cast<size_t>(i)] = static_cast<uint8_t>(size >> (24 - 8 * i));
    uint32_t sum = 0;
    for (size_t i = 4; i < frame.size(); ++i) {
      frame[i] = static_cast<uint8_t>(next() >> 16);
      sum = sum * 31 + frame[i];
    }
    // Pieces of 1 byte to 300 KiB, a short pause after some of them.
    for (size_t sent = 0; sent < frame.size();) {
      const size_t piece = std::min<size_t>(frame.size() - sent, 1 + next() % (300 << 10));
      ASSERT_EQ(::write(fd, frame.data() + sent, piece), static_cast<ssize_t>(piece));
      sent += piece;
      if (next() % 3 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    uint8_t resp[12];
    ASSERT_TRUE(read_exact(fd, resp, sizeof(resp))) << "no answer to the " << size << "-byte frame";
    EXPECT_EQ(load_be<uint32_t>(resp + 4), size);
    EXPECT_EQ(load_be<uint32_t>(resp + 8), sum) << "the " << size << "-byte frame arrived changed";
  }
  ::close(fd);
  server.stop();
}

TEST(Server, LargeFramesSentInPiecesArriveWhole) { frames_sent_in_pieces_arrive_whole(-1); }

TEST(Server, LargeFramesArriveWholeThroughASmallFixedReceiveBuffer) {
  frames_sent_in_pieces_arrive_whole(64 << 10);
}

}  // namespace
}  // namespace keel::net

namespace keel::net {
namespace {

// Request 1 blocks its handler until the test lets it go; every request
// handled is counted, and every answer given is noted.
class HeldHandler : public RequestHandler {
 public:
  void handle(const ConnectionInfo&, Frame frame, std::function<void(Response)> done) override {
    handled_.fetch_add(1);
    if (frame[7] == 1) {
      std::unique_lock lock(mu_);
      started_ = true;
      cv_.notify_all();
      cv_.wait_for(lock, std::chrono::seconds(5), [&] { return let_go_; });
    }
    Bytes out = {0, 0, 0, 8};
    out.insert(out.end(), frame.begin(), frame.begin() + 8);
    Response r;
    r.chunks.push_back(std::move(out));
    done(std::move(r));  // after stop(): dropped by the server, not sent
    finished_.fetch_add(1);
  }
  void wait_started() {
    std::unique_lock lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, std::chrono::seconds(5), [&] { return started_; }));
  }
  void let_go() {
    std::lock_guard lock(mu_);
    let_go_ = true;
    cv_.notify_all();
  }
  std::atomic<int> handled_{0};
  std::atomic<int> finished_{0};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool let_go_ = false;
};

// A stop while connections are still open and have work on the handler
// threads: the request being handled runs to its end (its answer dropped),
// the ones queued — on its connection's strand, and another connection's
// behind it on the single handler thread — are dropped unhandled, and every
// connection goes with its strand and socket freed in order (under
// AddressSanitizer: no use after free of the pool's strand service).
TEST(Server, AStopWithWorkOnTheHandlerThreadsFinishesTheRunningRequestAndDropsTheQueued) {
  HeldHandler handler;
  ServerOptions options;
  options.threads = 1;
  options.handler_threads = 1;
  Server server(options, handler);
  auto ports = server.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  server.start();
  int a = connect_to(ports[0]);
  int b = connect_to(ports[0]);
  const uint8_t two[] = {0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, 1,   // held
                         0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, 2};  // queued behind it
  ASSERT_EQ(::write(a, two, sizeof(two)), static_cast<ssize_t>(sizeof(two)));
  handler.wait_started();
  const uint8_t other[] = {0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, 3};
  ASSERT_EQ(::write(b, other, sizeof(other)), static_cast<ssize_t>(sizeof(other)));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // both read and queued
  std::thread stopper([&] { server.stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // stop() waits for the handler
  handler.let_go();
  stopper.join();
  EXPECT_EQ(handler.handled_.load(), 1) << "a request still queued at stop was handled";
  EXPECT_EQ(handler.finished_.load(), 1) << "the request being handled at stop did not run to its end";
  uint8_t byte;
  EXPECT_EQ(::read(a, &byte, 1), 0) << "the connection is closed, with no answer sent";
  EXPECT_EQ(::read(b, &byte, 1), 0);
  ::close(a);
  ::close(b);
}

}  // namespace
}  // namespace keel::net
