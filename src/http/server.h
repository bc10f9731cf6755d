#pragma once
// The broker's HTTP/1.1 listener (http.listeners): /metrics, /health,
// /ready and the admin REST API (server/rest/), all from one route table.
//
// Boost.Beast and Asio stay inside http/*.cc: this header shows none of it.
// One io_context runs on ServerOptions::threads threads. A plain handler runs
// on one of them and must be thread-safe and quick (it renders a page, it does
// not wait on the store). An asynchronous handler (Routes::add_async) returns
// at once and answers later, from any thread, through its Reply; meanwhile the
// connection waits (at most handler_timeout_ms, then 504) and every other
// connection is served. A background handler (Routes::add_background) runs on
// threads of its own at a lower CPU priority. Requests are bounded: a header
// over max_header_bytes gets 431, a body over max_body_bytes 413, a request
// not complete within read_timeout_ms 408, a malformed one 400; each answer
// closes that connection and nothing else.
//
// TLS: an https:// listener needs ServerOptions::tls_context (the broker's
// SSL_CTX from net/tls.h, asked again for each connection so a reload is
// picked up); the handshake must finish within read_timeout_ms.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct x509_st X509;

namespace keel::http {

struct Request {
  std::string method;  // "GET"
  std::string target;  // "/metrics?x=1" as sent
  std::string path;    // "/metrics"
  std::string query;   // "x=1"
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // The values of the route's "{name}" segments, percent-decoded (Routes fills them).
  std::vector<std::pair<std::string, std::string>> params;
  std::string peer;  // "ip:port" of the client
  bool tls = false;  // came over https
  // The client certificate's subject in RFC 2253 form ("CN=alice,O=Example"),
  // empty without TLS or without a verified client certificate.
  std::string tls_subject;
  // The first header named `name` (any case), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
  // Whether Accept-Encoding lists `coding` ("gzip"), or "*", without q=0.
  bool accepts_encoding(std::string_view coding) const;
  // A "{name}" path segment's value ("" when the route has none).
  const std::string& param(std::string_view name) const;
  // The query parameters, percent-decoded ('+' is a space), in order.
  std::vector<std::pair<std::string, std::string>> query_params() const;
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

// Percent-decodes a URL component; nullopt when a '%' is not followed by two hex digits.
std::optional<std::string> url_decode(std::string_view s, bool plus_is_space = false);

using Handler = std::function<Response(const Request&)>;
// Sends the answer to an asynchronous request: once, from any thread. The
// Request a handler got stays valid until then.
using Reply = std::function<void(Response)>;
using AsyncHandler = std::function<void(const Request&, Reply)>;

// Runs a job later on another thread (the Server's background threads).
using Defer = std::function<void(std::function<void()>)>;

// The route table: (method, path) -> handler. A path segment written
// "{name}" matches any one non-empty segment (Request::param gives it); a
// path ending in "/*" matches every path under it. An unknown path answers
// 404, a known path with another method 405 with an Allow header.
class Routes {
 public:
  void add(std::string method, std::string path, Handler handler);
  void add_async(std::string method, std::string path, AsyncHandler handler);
  // A handler whose work is heavy and can wait (rendering /metrics): the
  // Server runs it on its background threads, at a lower CPU priority, so
  // it yields the CPU to the broker's requests. `prepare`, when given, runs
  // first on the HTTP thread at normal priority: it takes what is read under
  // locks the request path also takes, so that no low-priority thread holds
  // them. Not for /health and /ready: they must answer promptly on a busy
  // broker.
  void add_background(std::string method, std::string path, Handler handler,
                      std::function<void(const Request&)> prepare = {});
  // Finds the route and calls its handler (which answers through `reply`).
  // `request` must outlive the reply; its params are filled here. A
  // background route's handler is handed to `defer`; without one it runs
  // here.
  void dispatch(Request& request, Reply reply, const Defer& defer = {}) const;
  // The same for plain handlers and tests: waits for the answer.
  Response dispatch(Request& request) const;
  // Every (method, path) pattern, in the order added: the OpenAPI check walks it.
  std::vector<std::pair<std::string, std::string>> list() const;

 private:
  struct Route {
    std::string method;
    std::string path;
    std::vector<std::string> segments;  // path split at '/', "{x}" kept as written
    bool prefix = false;
    AsyncHandler handler;
    // A background route: `handler` is unset, these are used instead.
    Handler background;
    std::function<void(const Request&)> prepare;
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
  int threads = 2;  // named keel-http-N
  // The threads that run background routes (Routes::add_background), named
  // keel-http-bg-N. 0: those routes run on the HTTP threads.
  int background_threads = 1;
  // How much higher (lower in priority) their nice value is than the HTTP
  // threads' (the process's), up to 19. With CFS, 10 is a weight of 110
  // against a nice-0 thread's 1024: on a saturated CPU a 15 ms scrape gets
  // about a tenth of it and takes some 150 ms, far inside a scrape timeout;
  // on an idle CPU it runs at full speed.
  int background_nice = 10;
  size_t max_header_bytes = 8 * 1024;
  size_t max_body_bytes = 1024 * 1024;
  int64_t read_timeout_ms = 10000;
  size_t max_connections = 256;  // over it, new connections get 503 and are closed
  // How long an asynchronous handler may take before the client gets 504.
  int64_t handler_timeout_ms = 60000;
  // For https:// listeners: the SSL_CTX a new connection uses (from
  // net::TlsContext::ssl_ctx(), which verifies client certificates as its
  // ssl.client.auth says). Unset: https:// is refused at listen().
  std::function<std::shared_ptr<SSL_CTX>()> tls_context;
  // The form Request::tls_subject takes (Java's RFC 2253 form, as the Kafka
  // TLS listeners print it: security::java_rfc2253_name). Unset: OpenSSL's
  // RFC 2253 printing.
  std::function<std::string(X509* certificate)> tls_subject_name;
};

class Server {
 public:
  Server(ServerOptions options, Routes routes);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every endpoint; throws std::system_error naming the address when
  // one cannot be bound, std::invalid_argument for https without tls_context.
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
