#pragma once
// The broker's HTTP/1.1 listener (http.listeners): /metrics, /health and
// /ready today, the admin REST API later, all from one route table.
//
// Boost.Beast and Asio stay inside http/*.cc: this header shows none of it.
// One io_context runs on ServerOptions::threads threads; a handler runs on
// one of them and must be thread-safe and quick (it renders a page, it does
// not wait on the store). Requests are bounded: a header over
// max_header_bytes gets 431, a body over max_body_bytes 413, a request not
// complete within read_timeout_ms 408, a malformed one 400; each answer
// closes that connection and nothing else.
//
// TLS: an https:// listener is refused at listen() (std::invalid_argument)
// in this build. The seam is ready: the connection code in server.cc is a
// template over its stream, so a TLS stream from the TLS module
// (src/net/tls.*) becomes a second instantiation behind a handshake, and
// ServerOptions gets the context.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::http {

struct Request {
  std::string method;  // "GET"
  std::string target;  // "/metrics?x=1" as sent
  std::string path;    // "/metrics"
  std::string query;   // "x=1"
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // The first header named `name` (any case), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A JSON error body as Confluent's REST proxy writes one:
// {"error_code":404,"message":"..."}.
Response error_response(int status, std::string_view message);

using Handler = std::function<Response(const Request&)>;

// The route table: (method, path) -> handler. A path ending in "/*" matches
// every path under it. An unknown path answers 404, a known path with
// another method 405 with an Allow header.
class Routes {
 public:
  void add(std::string method, std::string path, Handler handler);
  Response dispatch(const Request& request) const;

 private:
  struct Route {
    std::string method;
    std::string path;
    bool prefix = false;
    Handler handler;
  };
  std::vector<Route> routes_;
};

// One http.listeners entry: "http://host:port", "https://[::1]:port",
// "http://:port" (all interfaces). Port 0 = a free port.
struct Endpoint {
  bool tls = false;
  std::string host;  // "" = all interfaces; IPv6 without brackets
  uint16_t port = 0;
  std::string to_string() const;
};
// Parses one entry; on failure returns nullopt and sets *error.
std::optional<Endpoint> parse_endpoint(std::string_view text, std::string* error);

struct ServerOptions {
  int threads = 2;
  size_t max_header_bytes = 8 * 1024;
  size_t max_body_bytes = 1024 * 1024;
  int64_t read_timeout_ms = 10000;
  size_t max_connections = 256;  // over it, new connections get 503 and are closed
};

class Server {
 public:
  Server(ServerOptions options, Routes routes);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every endpoint; throws std::system_error naming the address when
  // one cannot be bound, std::invalid_argument for https without TLS.
  // Returns the bound ports, in order.
  std::vector<uint16_t> listen(const std::vector<Endpoint>& endpoints);
  void start();
  // Closes the listeners and every connection, joins the threads. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::http
