// Asynchronous handlers, "{name}" path parameters and query decoding.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
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

}  // namespace
}  // namespace keel::http
