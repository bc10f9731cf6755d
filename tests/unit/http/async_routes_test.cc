// Asynchronous handlers, "{name}" path parameters and query decoding; background routes.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "http/server.h"

namespace keel::http {
namespace {

std::string round_trip(uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ADD_FAILURE() << "connect failed";
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  ::close(fd);
  return out;
}

std::string get(uint16_t port, const std::string& target) {
  return round_trip(port, "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

Response text(std::string body) {
  Response r;
  r.body = std::move(body);
  return r;
}

class AsyncRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Routes routes;
    // Answers from another thread, 100 ms later.
    routes.add_async("GET", "/slow/{id}", [this](const Request& req, Reply reply) {
      std::lock_guard lock(mu_);
      threads_.emplace_back([&req, reply] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        reply(text("slow " + req.param("id")));
      });
    });
    routes.add_async("GET", "/never", [this](const Request&, Reply reply) {
      std::lock_guard lock(mu_);
      parked_.push_back(std::move(reply));  // answered after the timeout, if at all
    });
    routes.add("GET", "/fast", [](const Request&) { return text("fast"); });
    routes.add("GET", "/v3/clusters/{cluster_id}/topics/{topic_name}", [](const Request& req) {
      return text(req.param("cluster_id") + "|" + req.param("topic_name"));
    });
    routes.add("POST", "/v3/clusters/{cluster_id}/topics/{topic_name}/configs:alter",
               [](const Request& req) { return text("alter " + req.param("topic_name")); });
    routes.add("GET", "/q", [](const Request& req) {
      std::string out;
      for (const auto& [k, v] : req.query_params()) out += "[" + k + "=" + v + "]";
      return text(out);
    });
    ServerOptions o;
    o.handler_timeout_ms = 300;
    server_ = std::make_unique<Server>(o, std::move(routes));
    port_ = server_->listen({Endpoint{false, "127.0.0.1", 0}}).at(0);
    server_->start();
  }
  void TearDown() override {
    for (auto& t : threads_) t.join();
    server_->stop();
    for (auto& r : parked_) r(text("late"));  // after stop: dropped, no crash
  }

  std::mutex mu_;
  std::vector<std::thread> threads_;
  std::vector<Reply> parked_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

TEST_F(AsyncRoutesTest, AnswerFromAnotherThreadReachesTheClient) {
  const std::string r = get(port_, "/slow/7");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  EXPECT_NE(r.find("slow 7"), std::string::npos) << r;
}

TEST_F(AsyncRoutesTest, OtherConnectionsAreServedWhileOneWaits) {
  std::string slow;
  std::thread t([&] { slow = get(port_, "/slow/a"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto start = std::chrono::steady_clock::now();
  const std::string fast = get(port_, "/fast");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(80));
  EXPECT_NE(fast.find("fast"), std::string::npos);
  t.join();
  EXPECT_NE(slow.find("slow a"), std::string::npos) << slow;
}

TEST_F(AsyncRoutesTest, UnansweredRequestGets504AndConnectionStaysUsable) {
  const std::string r = round_trip(port_, "GET /never HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n"
                                        "Connection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 504", 0), 0u) << r;
  EXPECT_NE(r.find("\"error_code\":504"), std::string::npos) << r;
  EXPECT_NE(r.find("fast"), std::string::npos) << r;
}

TEST_F(AsyncRoutesTest, PathParametersAreMatchedAndDecoded) {
  EXPECT_NE(get(port_, "/v3/clusters/c1/topics/my%2Dtopic").find("c1|my-topic"), std::string::npos);
  EXPECT_EQ(get(port_, "/v3/clusters/c1/topics").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(get(port_, "/v3/clusters//topics/t").rfind("HTTP/1.1 404", 0), 0u);  // empty segment
  EXPECT_EQ(get(port_, "/v3/clusters/c1/topics/bad%zz").rfind("HTTP/1.1 404", 0), 0u);
  const std::string alter = round_trip(port_, "POST /v3/clusters/c/topics/t/configs:alter HTTP/1.1\r\nHost: x\r\n"
                                            "Content-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_NE(alter.find("alter t"), std::string::npos) << alter;
}

TEST_F(AsyncRoutesTest, QueryParametersAreDecoded) {
  EXPECT_NE(get(port_, "/q?principal=User%3Aalice&host=*&empty=&a+b=c+d").find("[principal=User:alice][host=*]"
                                                                               "[empty=][a b=c d]"),
            std::string::npos);
}

TEST(Routes, ListGivesEveryPatternInOrder) {
  Routes routes;
  routes.add("GET", "/a/{x}", [](const Request&) { return Response{}; });
  routes.add_async("POST", "/b", [](const Request&, Reply) {});
  routes.add("GET", "/c/*", [](const Request&) { return Response{}; });
  const auto l = routes.list();
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0], (std::pair<std::string, std::string>{"GET", "/a/{x}"}));
  EXPECT_EQ(l[1], (std::pair<std::string, std::string>{"POST", "/b"}));
  EXPECT_EQ(l[2], (std::pair<std::string, std::string>{"GET", "/c/*"}));
}

TEST(UrlDecode, RefusesBrokenEscapes) {
  EXPECT_EQ(url_decode("a%20b").value(), "a b");
  EXPECT_EQ(url_decode("a+b").value(), "a+b");
  EXPECT_EQ(url_decode("a+b", true).value(), "a b");
  EXPECT_FALSE(url_decode("%"));
  EXPECT_FALSE(url_decode("%4"));
  EXPECT_FALSE(url_decode("%g0"));
}

// ---- Background routes (Routes::add_background): run on threads of their
// own at a lower CPU priority, while plain routes (/health) stay on the HTTP
// threads.

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The calling thread as the kernel sees it: "<name> <nice>", the name from
// /proc/self/task/<tid>/comm and the nice value from field 19 of its stat.
std::string this_thread() {
  const long tid = ::syscall(SYS_gettid);
  const std::string task = "/proc/self/task/" + std::to_string(tid);
  std::string name = read_file(task + "/comm");
  if (!name.empty() && name.back() == '\n') name.pop_back();
  const std::string stat = read_file(task + "/stat");
  // Fields after the name, which is in parentheses and may hold spaces:
  // state is field 3, nice field 19.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 19; ++i) rest >> field;
  return name + " " + field;
}

int own_nice() {
  errno = 0;
  const int n = ::getpriority(PRIO_PROCESS, 0);
  return errno ? 0 : n;
}

std::string body_of(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

class BackgroundRoutesTest : public ::testing::Test {
 protected:
  void start(int background_threads) {
    Routes routes;
    routes.add_background(
        "GET", "/metrics", [](const Request&) { return text(this_thread()); },
        [this](const Request&) {
          std::lock_guard lock(mu_);
          prepared_on_ = this_thread();
        });
    routes.add_background("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("boom"); });
    routes.add("GET", "/health", [](const Request&) { return text(this_thread()); });
    ServerOptions o;
    o.threads = 2;
    o.background_threads = background_threads;
    o.background_nice = 7;
    server_ = std::make_unique<Server>(o, std::move(routes));
    port_ = server_->listen({Endpoint{false, "127.0.0.1", 0}}).at(0);
    server_->start();
  }
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::string prepared_on() {
    std::lock_guard lock(mu_);
    return prepared_on_;
  }
  std::mutex mu_;
  std::string prepared_on_;  // under mu_: written by /metrics' prepare
};

TEST_F(BackgroundRoutesTest, RenderedOnALowerPriorityThreadAndHealthIsNot) {
  start(1);
  const int base = own_nice();
  const std::string lower = std::to_string(std::min(19, base + 7));
  EXPECT_EQ(body_of(get(port_, "/metrics")), "keel-http-bg-0 " + lower);
  // The prepare step runs before, on an HTTP thread at the server's own priority.
  const std::string prepared = prepared_on();
  EXPECT_EQ(prepared.substr(0, 10), "keel-http-") << prepared;
  EXPECT_EQ(prepared.find("-bg-"), std::string::npos) << prepared;
  EXPECT_EQ(prepared.substr(prepared.rfind(' ') + 1), std::to_string(base));
  const std::string health = body_of(get(port_, "/health"));
  EXPECT_EQ(health.substr(0, 10), "keel-http-") << health;
  EXPECT_EQ(health.find("-bg-"), std::string::npos) << health;
  EXPECT_EQ(health.substr(health.rfind(' ') + 1), std::to_string(base));
}

TEST_F(BackgroundRoutesTest, AThrowOnTheBackgroundThreadIsA500) {
  start(1);
  const std::string r = get(port_, "/boom");
  EXPECT_NE(r.find("HTTP/1.1 500"), std::string::npos) << r;
  EXPECT_NE(get(port_, "/metrics").find("HTTP/1.1 200"), std::string::npos);  // the thread lives on
}

TEST_F(BackgroundRoutesTest, WithoutBackgroundThreadsTheHttpThreadsRender) {
  start(0);
  const std::string body = body_of(get(port_, "/metrics"));
  EXPECT_EQ(body.substr(0, 10), "keel-http-") << body;
  EXPECT_EQ(body.find("-bg-"), std::string::npos) << body;
}

TEST_F(BackgroundRoutesTest, ThreadsAreNamed) {
  start(1);
  auto names = [] {
    std::set<std::string> out;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      std::string name = read_file(task.path().string() + "/comm");
      if (!name.empty() && name.back() == '\n') name.pop_back();
      out.insert(name);
    }
    return out;
  };
  // Each thread names itself once it runs: wait for them (10 s at most).
  const std::set<std::string> expected = {"keel-http-0", "keel-http-1", "keel-http-bg-0"};
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    seen = names();
    if (std::includes(seen.begin(), seen.end(), expected.begin(), expected.end())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(std::includes(seen.begin(), seen.end(), expected.begin(), expected.end()))
      << ::testing::PrintToString(seen);
}

}  // namespace
}  // namespace keel::http
