#include "http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace keel::http {
namespace {

// A blocking client socket to 127.0.0.1:port.
class Conn {
 public:
  explicit Conn(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ADD_FAILURE() << "connect failed";
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Conn() { ::close(fd_); }
  void send(const std::string& s) { ASSERT_EQ(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL), ssize_t(s.size())); }
  // Everything until the server closes (or 5 s).
  std::string read_all() {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, size_t(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Routes routes;
    routes.add("GET", "/hello", [](const Request& r) {
      Response res;
      res.body = "hello " + r.query;
      return res;
    });
    routes.add("GET", "/api/*", [](const Request& r) {
      Response res;
      res.body = "api " + r.path;
      return res;
    });
    routes.add("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("boom"); });
    ServerOptions o;
    o.max_header_bytes = 1024;
    o.max_body_bytes = 64;
    o.read_timeout_ms = 300;
    o.max_connections = 4;
    server_ = std::make_unique<Server>(o, std::move(routes));
    port_ = server_->listen({Endpoint{false, "127.0.0.1", 0}}).at(0);
    server_->start();
  }
  std::string get(const std::string& target) {
    Conn c(port_);
    c.send("GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    return c.read_all();
  }
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

TEST_F(HttpServerTest, ServesARoute) {
  const std::string r = get("/hello?name=x");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("\r\n\r\nhello name=x"), std::string::npos) << r;
}

TEST_F(HttpServerTest, PrefixRoutesMatchPathsBelow) {
  EXPECT_NE(get("/api/v3/clusters").find("api /api/v3/clusters"), std::string::npos);
  EXPECT_EQ(get("/apix").rfind("HTTP/1.1 404", 0), 0u);
}

TEST_F(HttpServerTest, UnknownPathIs404AndWrongMethod405) {
  const std::string r = get("/nope");
  EXPECT_EQ(r.rfind("HTTP/1.1 404", 0), 0u) << r;
  EXPECT_NE(r.find("\"error_code\":404"), std::string::npos) << r;
  Conn c(port_);
  c.send("POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  const std::string p = c.read_all();
  EXPECT_EQ(p.rfind("HTTP/1.1 405", 0), 0u) << p;
  EXPECT_NE(p.find("Allow: GET"), std::string::npos) << p;
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequests) {
  Conn c(port_);
  c.send("GET /hello?1 HTTP/1.1\r\nHost: x\r\n\r\nGET /hello?2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string r = c.read_all();
  EXPECT_NE(r.find("hello 1"), std::string::npos) << r;
  EXPECT_NE(r.find("hello 2"), std::string::npos) << r;
}

TEST_F(HttpServerTest, MalformedRequestGets400AndServerKeepsServing) {
  Conn c(port_);
  c.send("\x16\x03\x01 garbage that is not HTTP\r\n\r\n");
  const std::string r = c.read_all();
  EXPECT_EQ(r.rfind("HTTP/1.1 400", 0), 0u) << r;
  EXPECT_EQ(get("/hello").rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(HttpServerTest, OversizedHeaderGets431) {
  Conn c(port_);
  c.send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
  const std::string r = c.read_all();
  EXPECT_EQ(r.rfind("HTTP/1.1 431", 0), 0u) << r;
}

TEST_F(HttpServerTest, OversizedBodyGets413) {
  Conn c(port_);
  c.send("POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + std::string(100, 'b'));
  const std::string r = c.read_all();
  EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << r;
}

TEST_F(HttpServerTest, SlowRequestGets408) {
  Conn c(port_);
  const auto start = std::chrono::steady_clock::now();
  c.send("GET /hello HTTP/1.1\r\nHost: x\r\n");  // never finished
  const std::string r = c.read_all();
  EXPECT_EQ(r.rfind("HTTP/1.1 408", 0), 0u) << r;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(HttpServerTest, HandlerExceptionGets500) {
  EXPECT_EQ(get("/boom").rfind("HTTP/1.1 500", 0), 0u);
  EXPECT_EQ(get("/hello").rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(HttpServerTest, ConnectionsOverTheLimitGet503) {
  std::vector<std::unique_ptr<Conn>> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(std::make_unique<Conn>(port_));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const std::string r = get("/hello");
  EXPECT_EQ(r.rfind("HTTP/1.1 503", 0), 0u) << r;
}

// Prometheus sends "Accept-Encoding: gzip"; browsers a list with weights.
TEST(HttpRequest, AcceptsAnEncodingListedWithoutAZeroWeight) {
  auto with = [](std::string value) {
    Request r;
    r.headers.emplace_back("accept-encoding", std::move(value));
    return r;
  };
  EXPECT_FALSE(Request{}.accepts_encoding("gzip"));
  EXPECT_TRUE(with("gzip").accepts_encoding("gzip"));
  EXPECT_TRUE(with("deflate, GZIP;q=0.5, br").accepts_encoding("gzip"));
  EXPECT_TRUE(with("gzip ; q=1.0").accepts_encoding("gzip"));
  EXPECT_FALSE(with("gzip;q=0").accepts_encoding("gzip"));
  EXPECT_FALSE(with("gzip;q=0.000, identity").accepts_encoding("gzip"));
  EXPECT_FALSE(with("identity, x-gzip").accepts_encoding("gzip")) << "a name, not a substring";
  EXPECT_TRUE(with("*").accepts_encoding("gzip"));
  EXPECT_FALSE(with("*;q=0").accepts_encoding("gzip"));
  EXPECT_TRUE(with("*;q=0, gzip").accepts_encoding("gzip")) << "named beats the wildcard";
}

TEST(HttpEndpoint, Parses) {
  std::string why;
  auto a = parse_endpoint("http://127.0.0.1:9644", &why);
  ASSERT_TRUE(a) << why;
  EXPECT_FALSE(a->tls);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9644);
  auto b = parse_endpoint("https://[::1]:0", &why);
  ASSERT_TRUE(b) << why;
  EXPECT_TRUE(b->tls);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->to_string(), "https://[::1]:0");
  auto c = parse_endpoint("http://:80", &why);
  ASSERT_TRUE(c) << why;
  EXPECT_EQ(c->host, "");
  EXPECT_FALSE(parse_endpoint("tcp://x:1", &why));
  EXPECT_FALSE(parse_endpoint("http://host", &why));
  EXPECT_FALSE(parse_endpoint("http://host:99999", &why));
  EXPECT_FALSE(parse_endpoint("http://host:80/metrics", &why));
}

TEST(HttpServer, HttpsIsRefusedClearly) {
  Server s(ServerOptions{}, Routes{});
  EXPECT_THROW(s.listen({Endpoint{true, "127.0.0.1", 0}}), std::invalid_argument);
}

}  // namespace
}  // namespace keel::http
