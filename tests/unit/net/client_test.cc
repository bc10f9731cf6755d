// The broker-to-broker client against scripted servers on 127.0.0.1: in-order
// pipelining, the in-flight limit, bad responses, disconnects, reconnect
// backoff, timeouts, close() and destruction with requests pending.
//
// Test frames are a correlation id followed by a payload, so an echoing
// server answers each request correctly.

#include "net/client.h"

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
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "client_test_support.h"

namespace keel::net {
namespace {

using namespace client_test;
using namespace std::chrono_literals;

// --- tests ---------------------------------------------------------------------

TEST(ClientErrors, CategoryNamesEveryError) {
  EXPECT_STREQ(client_category().name(), "keel.net.client");
  for (auto e : {ClientErrc::kDisconnected, ClientErrc::kConnectFailed, ClientErrc::kTimedOut, ClientErrc::kClosed,
                 ClientErrc::kBadResponse, ClientErrc::kAuthenticationFailed}) {
    std::error_code ec = e;  // through is_error_code_enum
    EXPECT_EQ(&ec.category(), &client_category());
    EXPECT_NE(ec.message(), "unknown client error");
  }
  EXPECT_NE(make_error_code(ClientErrc::kTimedOut), make_error_code(ClientErrc::kDisconnected));
}

TEST(ClientRuntime, PostRunsOnTheNamedRuntimeThread) {
  ClientRuntime runtime("keel-test-runtime-long-name");
  EXPECT_FALSE(runtime.on_runtime_thread());
  std::promise<std::pair<bool, std::string>> seen;
  runtime.post([&] {
    char name[32] = {};
    ::pthread_getname_np(::pthread_self(), name, sizeof(name));
    seen.set_value({runtime.on_runtime_thread(), name});
  });
  auto [on_thread, name] = seen.get_future().get();
  EXPECT_TRUE(on_thread);
  EXPECT_EQ(name, "keel-test-runti");  // 15 characters
}

TEST(ClientRuntime, ScheduledFunctionsRunAfterTheirDelayUnlessCancelled) {
  ClientRuntime runtime("sched");
  std::promise<Clock::time_point> ran;
  std::atomic<bool> cancelled_ran{false};
  const auto start = Clock::now();
  auto cancel_late = runtime.schedule(60ms, [&] { ran.set_value(Clock::now()); });
  auto cancel = runtime.schedule(30ms, [&] { cancelled_ran = true; });
  cancel();
  const auto at = ran.get_future().get();
  EXPECT_GE(ms_between(start, at), 55);
  cancel_late();  // after it ran: nothing happens
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(cancelled_ran.load());
}

TEST(Client, PipelinedRequestsAreAnsweredInOrder) {
  // The server reads all five before answering any: they must be on the wire
  // together.
  TestServer server([](int fd, int) {
    std::vector<Bytes> frames;
    for (int i = 0; i < 5; ++i) {
      auto f = read_frame(fd);
      if (!f) return;
      frames.push_back(std::move(*f));
    }
    for (auto& f : frames) write_frame(fd, f);
    echo(fd, 0);
  });
  ASSERT_TRUE(server.ok());
  ClientRuntime runtime("pipeline");
  Recorder rec(runtime);
  Client client(runtime, options_for(server.port()));
  EXPECT_FALSE(client.connected());
  for (int i = 0; i < 5; ++i) {
    const int32_t id = client.next_correlation_id();
    send_tagged(client, rec, id, "request-" + std::to_string(id));
  }
  ASSERT_TRUE(rec.wait_for(5));
  auto outcomes = rec.outcomes();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(outcomes[i].result.ok()) << outcomes[i].result.error().message();
    EXPECT_EQ(outcomes[i].tag, i);
    EXPECT_EQ(correlation_of(*outcomes[i].result), i);
    EXPECT_EQ(payload_of(*outcomes[i].result), "request-" + std::to_string(i));
    EXPECT_TRUE(outcomes[i].on_runtime_thread);
  }
  EXPECT_TRUE(client.connected());
  EXPECT_EQ(server.accepted(), 1);
}

TEST(Client, RequestsPastMaxInFlightWaitInOrder) {
  // After each request the server waits 100 ms for more, then answers what it
  // has: the most it ever holds unanswered is what the client had in flight.
  std::atomic<int> max_unanswered{0};
  TestServer server([&](int fd, int) {
    for (;;) {
      std::vector<Bytes> frames;
      auto f = read_frame(fd);
      if (!f) return;
      frames.push_back(std::move(*f));
      while (readable_within(fd, 100)) {
        auto more = read_frame(fd);
        if (!more) return;
        frames.push_back(std::move(*more));
      }
      max_unanswered = std::max<int>(max_unanswered, static_cast<int>(frames.size()));
      for (auto& fr : frames) write_frame(fd, fr);
    }
  });
  ClientRuntime runtime("inflight");
  Recorder rec(runtime);
  auto options = options_for(server.port());
  options.max_in_flight = 3;
  Client client(runtime, options);
  for (int32_t i = 0; i < 10; ++i) send_tagged(client, rec, i, "r" + std::to_string(i));
  ASSERT_TRUE(rec.wait_for(10, 10s));
  auto outcomes = rec.outcomes();
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(outcomes[i].tag, i);
    ASSERT_TRUE(outcomes[i].result.ok());
    EXPECT_EQ(payload_of(*outcomes[i].result), "r" + std::to_string(i));
  }
  EXPECT_EQ(max_unanswered.load(), 3);
}

TEST(Client, AWrongCorrelationIdFailsTheConnectionAndTheNextSendReconnects) {
  TestServer server([](int fd, int index) {
    if (index > 0) return echo(fd, index);
    auto f = read_frame(fd);
    if (!f) return;
    write_frame(fd, request(correlation_of(*f) + 100, "wrong"));
    hold(fd, index);
  });
  ClientRuntime runtime("badcid");
  Recorder rec(runtime);
  Client client(runtime, options_for(server.port()));
  for (int32_t i = 0; i < 3; ++i) send_tagged(client, rec, i, "x");
  ASSERT_TRUE(rec.wait_for(3));
  auto outcomes = rec.outcomes();
  EXPECT_EQ(outcomes[0].tag, 0);
  EXPECT_TRUE(failed_with(outcomes[0], ClientErrc::kBadResponse));
  EXPECT_TRUE(failed_with(outcomes[1], ClientErrc::kDisconnected));
  EXPECT_TRUE(failed_with(outcomes[2], ClientErrc::kDisconnected));
  EXPECT_FALSE(client.connected());

  send_tagged(client, rec, 3, "again");
  ASSERT_TRUE(rec.wait_for(4));
  EXPECT_TRUE(rec.outcomes()[3].result.ok());
  EXPECT_EQ(server.accepted(), 2);
}

TEST(Client, AnOversizedOrNegativeResponseSizeFailsTheConnection) {
  TestServer server([](int fd, int index) {
    auto f = read_frame(fd);
    if (!f) return;
    uint8_t prefix[4];
    store_be<int32_t>(prefix, index == 0 ? 1025 : -1);
    write_all(fd, prefix, 4);
    hold(fd, index);
  });
  ClientRuntime runtime("oversize");
  Recorder rec(runtime);
  auto options = options_for(server.port());
  options.max_response_bytes = 1024;
  Client client(runtime, options);
  send_tagged(client, rec, 1, "a");
  send_tagged(client, rec, 2, "b");
  ASSERT_TRUE(rec.wait_for(2));
  EXPECT_TRUE(failed_with(rec.outcomes()[0], ClientErrc::kBadResponse));
  EXPECT_TRUE(failed_with(rec.outcomes()[1], ClientErrc::kDisconnected));
  send_tagged(client, rec, 3, "c");
  ASSERT_TRUE(rec.wait_for(3));
  EXPECT_TRUE(failed_with(rec.outcomes()[2], ClientErrc::kBadResponse));
}

TEST(Client, TheServerClosingMidResponseFailsEveryPendingRequest) {
  TestServer server([](int fd, int) {
    std::vector<Bytes> frames;
    for (int i = 0; i < 3; ++i) {
      auto f = read_frame(fd);
      if (!f) return;
      frames.push_back(std::move(*f));
    }
    write_frame(fd, frames[0]);
    // Half of the second answer, then the connection closes.
    Bytes partial(4);
    store_be<int32_t>(partial.data(), 20);
    partial.insert(partial.end(), frames[1].begin(), frames[1].begin() + 4);
    write_all(fd, partial);
  });
  ClientRuntime runtime("midclose");
  Recorder rec(runtime);
  auto options = options_for(server.port());
  options.reconnect_backoff_ms = 1'000;  // no reconnect within the test
  Client client(runtime, options);
  for (int32_t i = 0; i < 3; ++i) send_tagged(client, rec, i, "payload");
  ASSERT_TRUE(rec.wait_for(3));
  auto outcomes = rec.outcomes();
  EXPECT_TRUE(outcomes[0].result.ok());
  EXPECT_TRUE(failed_with(outcomes[1], ClientErrc::kDisconnected));
  EXPECT_TRUE(failed_with(outcomes[2], ClientErrc::kDisconnected));
  EXPECT_FALSE(client.connected());
}

TEST(Client, ConnectRefusedFailsThenTheServerAppearsAndASendAfterTheBackoffSucceeds) {
  const uint16_t port = free_port();
  ClientRuntime runtime("refused");
  Recorder rec(runtime);
  auto options = options_for(port);
  options.reconnect_backoff_ms = 200;
  options.reconnect_backoff_max_ms = 400;
  Client client(runtime, options);

  send_tagged(client, rec, 1, "first");
  send_tagged(client, rec, 2, "queued behind the connect");
  ASSERT_TRUE(rec.wait_for(2));
  EXPECT_TRUE(failed_with(rec.outcomes()[0], ClientErrc::kConnectFailed));
  EXPECT_TRUE(failed_with(rec.outcomes()[1], ClientErrc::kConnectFailed));
  const auto failed_at = rec.outcomes()[1].at;

  // A send during the backoff waits it out (200 ms ±20%), fails again, and
  // the next backoff doubles (400 ms ±20%).
  send_tagged(client, rec, 3, "second");
  ASSERT_TRUE(rec.wait_for(3));
  EXPECT_TRUE(failed_with(rec.outcomes()[2], ClientErrc::kConnectFailed));
  const auto failed_again_at = rec.outcomes()[2].at;
  EXPECT_GE(ms_between(failed_at, failed_again_at), 150);
  EXPECT_LT(ms_between(failed_at, failed_again_at), 2'000);

  TestServer server(echo, port);
  ASSERT_TRUE(server.ok());
  send_tagged(client, rec, 4, "third");
  ASSERT_TRUE(rec.wait_for(4));
  ASSERT_TRUE(rec.outcomes()[3].result.ok()) << rec.outcomes()[3].result.error().message();
  EXPECT_GE(ms_between(failed_again_at, rec.outcomes()[3].at), 300);
  EXPECT_LT(ms_between(failed_again_at, rec.outcomes()[3].at), 3'000);
  EXPECT_TRUE(client.connected());

  // A success reset the backoff: after the next failure it is back at 200 ms.
  server.stop();
  for (int i = 0; i < 200 && client.connected(); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(client.connected());
  const auto dropped_at = Clock::now();
  send_tagged(client, rec, 5, "fourth");
  ASSERT_TRUE(rec.wait_for(5));
  EXPECT_TRUE(failed_with(rec.outcomes()[4], ClientErrc::kConnectFailed));
  EXPECT_LT(ms_between(dropped_at, rec.outcomes()[4].at), 300);
}

// A listener that never accepts, with its backlog full: the kernel drops
// further SYNs, so a connect hangs until its timeout.
class BlackHole {
 public:
  BlackHole() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(listen_fd_, 0);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    for (int i = 0; i < 4; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
      fill_.push_back(fd);
    }
    std::this_thread::sleep_for(50ms);
    // Whether it works here: a probe must not connect within 200 ms.
    const int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    pollfd p{probe, POLLOUT, 0};
    works_ = ::poll(&p, 1, 200) == 0;
    fill_.push_back(probe);
  }
  ~BlackHole() {
    for (int fd : fill_) ::close(fd);
    ::close(listen_fd_);
  }
  bool works() const { return works_; }
  uint16_t port() const { return port_; }

 private:
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  bool works_ = false;
  std::vector<int> fill_;
};

TEST(Client, AConnectThatHangsFailsAfterTheConnectTimeout) {
  BlackHole hole;
  if (!hole.works()) GTEST_SKIP() << "this kernel completes connects past a full backlog";
  ClientRuntime runtime("conntimeout");
  Recorder rec(runtime);
  auto options = options_for(hole.port());
  options.connect_timeout_ms = 200;
  Client client(runtime, options);
  const auto start = Clock::now();
  send_tagged(client, rec, 1, "a");
  send_tagged(client, rec, 2, "b");
  ASSERT_TRUE(rec.wait_for(2));
  EXPECT_TRUE(failed_with(rec.outcomes()[0], ClientErrc::kConnectFailed));
  EXPECT_TRUE(failed_with(rec.outcomes()[1], ClientErrc::kConnectFailed));
  EXPECT_GE(ms_between(start, rec.outcomes()[0].at), 180);
  EXPECT_LT(ms_between(start, rec.outcomes()[0].at), 3'000);
  EXPECT_FALSE(client.connected());
}

TEST(Client, AnUnansweredRequestTimesOutAndFailsTheOthers) {
  TestServer server(hold);
  ClientRuntime runtime("timeout");
  Recorder rec(runtime);
  auto options = options_for(server.port());
  options.request_timeout_ms = 200;
  Client client(runtime, options);
  const auto start = Clock::now();
  send_tagged(client, rec, 1, "a");
  send_tagged(client, rec, 2, "b");
  ASSERT_TRUE(rec.wait_for(2));
  auto outcomes = rec.outcomes();
  EXPECT_TRUE(failed_with(outcomes[0], ClientErrc::kTimedOut));
  EXPECT_TRUE(failed_with(outcomes[1], ClientErrc::kDisconnected));
  EXPECT_GE(ms_between(start, outcomes[0].at), 180);
  EXPECT_LT(ms_between(start, outcomes[0].at), 3'000);
  EXPECT_FALSE(client.connected());
}

TEST(Client, CloseFailsPendingRequestsBeforeItReturnsAndLaterSendsAtOnce) {
  std::atomic<int> seen{0};
  TestServer server([&](int fd, int) {
    while (read_frame(fd)) ++seen;
  });
  ClientRuntime runtime("close");
  Recorder rec(runtime);
  auto options = options_for(server.port());
  options.max_in_flight = 2;
  Client client(runtime, options);
  for (int32_t i = 0; i < 4; ++i) send_tagged(client, rec, i, "pending");
  for (int i = 0; i < 400 && seen < 2; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(seen.load(), 2);
  client.close();
  // Every callback ran before close() returned: two in flight, two queued.
  ASSERT_EQ(rec.size(), 4u);
  for (auto& o : rec.outcomes()) {
    EXPECT_TRUE(failed_with(o, ClientErrc::kClosed));
    EXPECT_TRUE(o.on_runtime_thread);
  }
  EXPECT_FALSE(client.connected());
  client.close();  // idempotent

  send_tagged(client, rec, 9, "after close");
  ASSERT_TRUE(rec.wait_for(5));
  EXPECT_TRUE(failed_with(rec.outcomes()[4], ClientErrc::kClosed));
  EXPECT_TRUE(rec.outcomes()[4].on_runtime_thread);
}

TEST(Client, CloseFromInsideACallbackDoesNotDeadlock) {
  // Answers the first request only.
  TestServer server([](int fd, int) {
    auto f = read_frame(fd);
    if (!f) return;
    write_frame(fd, *f);
    hold(fd, 0);
  });
  ClientRuntime runtime("cbclose");
  Recorder rec(runtime);
  Client client(runtime, options_for(server.port()));
  std::atomic<bool> close_returned{false};
  client.send(request(1, "first"), 1, [&](Result<Bytes> r) {
    rec.add(1, std::move(r));
    client.close();
    close_returned = true;
    client.send(request(3, "from the callback"), 3, rec.cb(3));
  });
  send_tagged(client, rec, 2, "second");
  ASSERT_TRUE(rec.wait_for(3));
  auto outcomes = rec.outcomes();
  EXPECT_EQ(outcomes[0].tag, 1);
  EXPECT_TRUE(outcomes[0].result.ok());
  EXPECT_EQ(outcomes[1].tag, 2);
  EXPECT_TRUE(failed_with(outcomes[1], ClientErrc::kClosed));
  EXPECT_EQ(outcomes[2].tag, 3);
  EXPECT_TRUE(failed_with(outcomes[2], ClientErrc::kClosed));
  EXPECT_TRUE(close_returned.load());
}

TEST(Client, ACallbackMaySendAgain) {
  TestServer server(echo);
  ClientRuntime runtime("resend");
  Recorder rec(runtime);
  Client client(runtime, options_for(server.port()));
  std::function<void(Result<Bytes>)> next;
  std::atomic<int> hops{0};
  next = [&](Result<Bytes> r) {
    rec.add(hops, std::move(r));
    if (++hops < 5) client.send(request(hops, "hop"), hops, next);
  };
  client.send(request(0, "hop"), 0, next);
  ASSERT_TRUE(rec.wait_for(5));
  for (auto& o : rec.outcomes()) EXPECT_TRUE(o.result.ok());
}

TEST(Client, DestroyingAClientWithRequestsInFlightFailsThemWithClosed) {
  std::atomic<int> seen{0};
  TestServer server([&](int fd, int) {
    while (read_frame(fd)) ++seen;
  });
  ClientRuntime runtime("destroy");
  Recorder rec(runtime);
  auto client = std::make_unique<Client>(runtime, options_for(server.port()));
  for (int32_t i = 0; i < 3; ++i) send_tagged(*client, rec, i, "in flight");
  for (int i = 0; i < 400 && seen < 3; ++i) std::this_thread::sleep_for(5ms);
  client.reset();
  ASSERT_EQ(rec.size(), 3u);
  for (auto& o : rec.outcomes()) EXPECT_TRUE(failed_with(o, ClientErrc::kClosed));
}

TEST(Client, DestroyingAClientFromItsOwnCallbackIsSafe) {
  TestServer server([](int fd, int) {
    auto f = read_frame(fd);
    if (!f) return;
    write_frame(fd, *f);
    hold(fd, 0);
  });
  ClientRuntime runtime("selfdestroy");
  Recorder rec(runtime);
  auto client = std::make_unique<Client>(runtime, options_for(server.port()));
  std::promise<void> destroyed;
  // Both sent from the runtime thread, before the first callback can run.
  runtime.post([&] {
    client->send(request(1, "first"), 1, [&](Result<Bytes> r) {
      rec.add(1, std::move(r));
      client.reset();
      destroyed.set_value();
    });
    send_tagged(*client, rec, 2, "second");
  });
  destroyed.get_future().wait();
  ASSERT_TRUE(rec.wait_for(2));
  EXPECT_TRUE(rec.outcomes()[0].result.ok());
  EXPECT_TRUE(failed_with(rec.outcomes()[1], ClientErrc::kClosed));
}

TEST(Client, SetAddressFailsWhatIsPendingAndMovesToTheNewServer) {
  // Server A answers "A" except to "hold"; server B answers "B".
  auto tagging = [](char tag) {
    return [tag](int fd, int) {
      while (auto f = read_frame(fd)) {
        if (payload_of(*f) == "hold") continue;
        Bytes out = request(correlation_of(*f), std::string(1, tag));
        if (!write_frame(fd, out)) return;
      }
    };
  };
  TestServer a(tagging('A'));
  TestServer b(tagging('B'));
  ClientRuntime runtime("move");
  Recorder rec(runtime);
  Client client(runtime, options_for(a.port()));
  send_tagged(client, rec, 1, "x");
  ASSERT_TRUE(rec.wait_for(1));
  EXPECT_EQ(payload_of(*rec.outcomes()[0].result), "A");
  send_tagged(client, rec, 2, "hold");
  std::this_thread::sleep_for(50ms);
  client.set_address("127.0.0.1", b.port());
  send_tagged(client, rec, 3, "x");
  ASSERT_TRUE(rec.wait_for(3));
  auto outcomes = rec.outcomes();
  EXPECT_EQ(outcomes[1].tag, 2);
  EXPECT_TRUE(failed_with(outcomes[1], ClientErrc::kDisconnected));
  EXPECT_EQ(outcomes[2].tag, 3);
  ASSERT_TRUE(outcomes[2].result.ok());
  EXPECT_EQ(payload_of(*outcomes[2].result), "B");
  EXPECT_EQ(a.accepted(), 1);
  EXPECT_EQ(b.accepted(), 1);
}

TEST(Client, WithoutExpectResponseTheCallbackRunsOnceWrittenWithNoBytes) {
  std::atomic<int> seen{0};
  TestServer server([&](int fd, int) {
    while (auto f = read_frame(fd)) {
      ++seen;
      if (payload_of(*f) == "no answer") continue;
      if (!write_frame(fd, *f)) return;
    }
  });
  ClientRuntime runtime("noack");
  Recorder rec(runtime);
  Client client(runtime, options_for(server.port()));
  send_tagged(client, rec, 1, "no answer", false);
  send_tagged(client, rec, 2, "answer");
  send_tagged(client, rec, 3, "no answer", false);
  ASSERT_TRUE(rec.wait_for(3));
  std::this_thread::sleep_for(20ms);
  auto outcomes = rec.outcomes();
  ASSERT_EQ(outcomes.size(), 3u);
  int empty_ok = 0;
  for (auto& o : outcomes) {
    ASSERT_TRUE(o.result.ok()) << o.tag;
    if (o.tag == 2) {
      EXPECT_EQ(payload_of(*o.result), "answer");
    } else {
      EXPECT_TRUE(o.result->empty());
      ++empty_ok;
    }
  }
  EXPECT_EQ(empty_ok, 2);
  for (int i = 0; i < 200 && seen < 3; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(seen.load(), 3);
}

TEST(Client, ManyClientsShareOneRuntime) {
  TestServer server(echo);
  ClientRuntime runtime("many");
  Recorder rec(runtime);
  constexpr int kClients = 20;
  constexpr int kRequests = 10;
  std::vector<std::unique_ptr<Client>> clients;
  for (int c = 0; c < kClients; ++c) clients.push_back(std::make_unique<Client>(runtime, options_for(server.port())));
  std::vector<std::thread> senders;
  for (int c = 0; c < kClients; ++c) {
    senders.emplace_back([&, c] {
      for (int i = 0; i < kRequests; ++i) {
        const int32_t id = clients[c]->next_correlation_id();
        clients[c]->send(request(id, "client " + std::to_string(c)), id, [&rec, c, id](Result<Bytes> r) {
          const bool good = r.ok() && correlation_of(*r) == id && payload_of(*r) == "client " + std::to_string(c);
          rec.add(good ? c : -1, std::move(r));
        });
      }
    });
  }
  for (auto& t : senders) t.join();
  ASSERT_TRUE(rec.wait_for(kClients * kRequests, 10s));
  for (auto& o : rec.outcomes()) EXPECT_GE(o.tag, 0);
  EXPECT_EQ(server.accepted(), kClients);
}

TEST(Client, AThreeMiBResponseArrivesWhole) {
  constexpr size_t kSize = 3u << 20;
  TestServer server([](int fd, int) {
    while (auto f = read_frame(fd)) {
      Bytes out = request(correlation_of(*f), "");
      out.resize(4 + kSize);
      for (size_t i = 0; i < kSize; ++i) out[4 + i] = static_cast<uint8_t>(i * 7);
      if (!write_frame(fd, out)) return;
    }
  });
  ClientRuntime runtime("big");
  Recorder rec(runtime);
  auto options = options_for(server.port());
  options.receive_buffer_bytes = 64 << 10;
  options.send_buffer_bytes = 64 << 10;
  options.request_timeout_ms = INT64_MAX;  // no deadline, without overflowing the clock
  Client client(runtime, options);
  send_tagged(client, rec, 7, "big please");
  ASSERT_TRUE(rec.wait_for(1, 10s));
  auto outcomes = rec.outcomes();
  auto& r = outcomes[0].result;
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 4 + kSize);
  EXPECT_EQ(correlation_of(*r), 7);
  bool same = true;
  for (size_t i = 0; i < kSize && same; ++i) same = (*r)[4 + i] == static_cast<uint8_t>(i * 7);
  EXPECT_TRUE(same);
}

TEST(Client, HostNamesAreResolved) {
  TestServer server(echo);
  ClientRuntime runtime("resolve");
  Recorder rec(runtime);
  auto options = options_for(server.port());
  options.host = "localhost";  // may resolve to ::1 first: the next address is tried
  Client client(runtime, options);
  send_tagged(client, rec, 1, "hello");
  ASSERT_TRUE(rec.wait_for(1));
  ASSERT_TRUE(rec.outcomes()[0].result.ok()) << rec.outcomes()[0].result.error().message();
}

TEST(Client, Ipv6LiteralsConnect) {
  TestServer server(echo, 0, /*ipv6=*/true);
  if (!server.ok()) GTEST_SKIP() << "no IPv6 loopback here";
  ClientRuntime runtime("ipv6");
  Recorder rec(runtime);
  auto options = options_for(server.port());
  options.host = "::1";
  Client plain(runtime, options);
  options.host = "[::1]";
  Client bracketed(runtime, options);
  send_tagged(plain, rec, 1, "v6");
  send_tagged(bracketed, rec, 2, "v6");
  ASSERT_TRUE(rec.wait_for(2));
  for (auto& o : rec.outcomes()) EXPECT_TRUE(o.result.ok()) << o.result.error().message();
}

TEST(Client, AnUnresolvableHostFailsToConnect) {
  ClientRuntime runtime("noname");
  Recorder rec(runtime);
  auto options = options_for(9);
  options.host = "no-such-host.invalid";
  Client client(runtime, options);
  send_tagged(client, rec, 1, "x");
  ASSERT_TRUE(rec.wait_for(1, 15s));
  EXPECT_TRUE(failed_with(rec.outcomes()[0], ClientErrc::kConnectFailed));
}

TEST(ClientRuntime, DestroyingTheRuntimeClosesItsClients) {
  std::atomic<int> seen{0};
  TestServer server([&](int fd, int) {
    while (read_frame(fd)) ++seen;
  });
  auto runtime = std::make_unique<ClientRuntime>("teardown");
  std::mutex mu;
  std::vector<std::error_code> errors;
  auto record = [&](Result<Bytes> r) {
    std::lock_guard lock(mu);
    errors.push_back(r.error());
  };
  auto client = std::make_unique<Client>(*runtime, options_for(server.port()));
  Client idle(*runtime, options_for(server.port()));
  for (int32_t i = 0; i < 3; ++i) client->send(request(i, "x"), i, record);
  for (int i = 0; i < 400 && seen < 3; ++i) std::this_thread::sleep_for(5ms);
  runtime.reset();
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(errors.size(), 3u);
    for (auto& e : errors) EXPECT_EQ(e, make_error_code(ClientErrc::kClosed));
  }
  // The clients outlived their runtime: sends still get their callback.
  client->send(request(5, "x"), 5, record);
  std::lock_guard lock(mu);
  EXPECT_EQ(errors.size(), 4u);
}

}  // namespace
}  // namespace keel::net
