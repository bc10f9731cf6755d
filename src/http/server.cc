#include "http/server.h"

#include <utility>  // boost 1.74 awaitable.hpp uses std::exchange without including it

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/thread_name.h"

namespace keel::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("http");
  return l;
}

// The status a failed read earns: what the client did wrong.
int status_for(const boost::system::error_code& ec, bool timed_out) {
  if (timed_out) return 408;
  if (ec == bhttp::error::header_limit) return 431;
  if (ec == bhttp::error::body_limit) return 413;
  return 400;
}

const char* reason_for(int status) {
  switch (status) {
    case 408: return "the request was not received in time";
    case 504: return "the request was not answered in time";
    case 413: return "the request body is too large";
    case 431: return "the request header is too large";
    case 503: return "too many connections";
    default: return "malformed HTTP request";
  }
}

// Takes the response by value: its body (an 11 MB /metrics at 10,000
// partitions) moves into Beast's message instead of being copied.
bhttp::response<bhttp::string_body> to_beast(Response r, unsigned version, bool keep_alive) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
  res.set(bhttp::field::server, "keel");
  res.set(bhttp::field::content_type, r.content_type);
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(keep_alive);
  res.body() = std::move(r.body);
  res.prepare_payload();
  return res;
}

// OpenSSL's RFC 2253 printing, when the broker gives no other.
std::string openssl_subject(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return {};
  X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(std::max(0L, n)));
  BIO_free(bio);
  return out;
}

// Where an asynchronous handler's answer meets the connection waiting for it.
// The connection runs on a strand; the reply is posted there, so `response`
// and `timer` are only touched on that strand.
struct Pending {
  explicit Pending(asio::any_io_executor ex) : timer(ex) {}
  asio::steady_timer timer;
  std::optional<Response> response;
};

// The calling thread's nice value (0 when it cannot be read).
int current_nice() {
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, 0);
  return errno ? 0 : nice;
}

// Whether the io_context still runs: a reply arriving after stop() is dropped.
struct Liveness {
  std::mutex mu;
  bool running = true;
};

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Routes routes;
  asio::io_context io;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::vector<bool> acceptor_tls;  // per acceptor: https
  std::vector<std::thread> threads;
  // Background routes' jobs, run by background_threads at a lower priority.
  // A job still queued at stop() is dropped (its reply would be too).
  asio::io_context background;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> background_work;
  std::vector<std::thread> background_threads;
  Defer defer;
  std::atomic<size_t> connections{0};
  std::atomic<bool> stopped{false};
  bool started = false;
  std::shared_ptr<Liveness> live = std::make_shared<Liveness>();

  Impl(ServerOptions o, Routes r) : options(std::move(o)), routes(std::move(r)) {}

  // One connection: requests in turn (keep-alive), each bounded in size and
  // time. Stream is the transport (tcp::socket, or an ssl::stream over one
  // whose handshake is done). Runs on a strand of its own.
  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, bool over_limit, std::string peer, bool tls, std::string subject) {
    boost::system::error_code ec;
    beast::flat_buffer buffer;
    auto& socket = beast::get_lowest_layer(stream);
    if (over_limit) {
      auto res = to_beast(error_response(503, reason_for(503)), 11, false);
      co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    }
    while (!over_limit && !stopped) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<uint32_t>(options.max_header_bytes));
      parser.body_limit(options.max_body_bytes);
      // A slow client (slowloris) gets its read side shut: the read ends,
      // and it is answered 408.
      bool timed_out = false;
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_after(std::chrono::milliseconds(options.read_timeout_ms));
      timer.async_wait([&socket, &timed_out](const boost::system::error_code& e) {
        if (e) return;
        timed_out = true;
        boost::system::error_code ignored;
        socket.shutdown(tcp::socket::shutdown_receive, ignored);
      });
      co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      timer.cancel();
      if (ec == bhttp::error::end_of_stream && !timed_out && buffer.size() == 0) break;  // closed between requests
      if (ec) {
        if (ec == asio::error::operation_aborted || ec == asio::error::connection_reset) break;
        if (!timed_out && ec == asio::ssl::error::stream_truncated) break;
        const int status = status_for(ec, timed_out);
        log()->debug("HTTP request refused with {}: {}", status, ec.message());
        auto res = to_beast(error_response(status, reason_for(status)), 11, false);
        co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
        break;
      }
      const auto& msg = parser.get();
      // Shared with the handler, which may answer after this coroutine gave up (504).
      auto req = std::make_shared<Request>();
      req->method = std::string(msg.method_string());
      req->target = std::string(msg.target());
      const size_t q = req->target.find('?');
      req->path = req->target.substr(0, q);
      if (q != std::string::npos) req->query = req->target.substr(q + 1);
      for (const auto& f : msg) req->headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      req->body = msg.body();
      req->peer = peer;
      req->tls = tls;
      req->tls_subject = subject;
      auto pending = std::make_shared<Pending>(co_await asio::this_coro::executor);
      // The reply holds the wait only weakly: a handler may keep its reply
      // past the answer's timeout, or past the server itself, and the last
      // reference to the timer must not be dropped once the io_context is
      // gone (destroying a timer touches its service). A strong reference is
      // taken only while the server runs, under live->mu, and released there.
      auto reply = [weak = std::weak_ptr<Pending>(pending), req, live = live](Response r) {
        std::lock_guard lock(live->mu);
        if (!live->running) return;
        std::shared_ptr<Pending> waiting = weak.lock();
        if (!waiting) return;  // the connection stopped waiting: 504 sent, or closed
        asio::post(waiting->timer.get_executor(), [waiting, r = std::move(r)]() mutable {
          if (waiting->response) return;
          waiting->response = std::move(r);
          waiting->timer.cancel();
        });
      };
      try {
        routes.dispatch(*req, reply, defer);
      } catch (const std::exception& e) {
        log()->error("HTTP {} {} failed: {}", req->method, req->path, e.what());
        reply(error_response(500, "internal error"));
      }
      // The answer is posted to this strand: it cannot land before the wait starts.
      pending->timer.expires_after(std::chrono::milliseconds(options.handler_timeout_ms));
      co_await pending->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      Response out;
      if (pending->response) {
        out = std::move(*pending->response);
      } else {
        pending->response = Response{};  // a late answer is dropped
        log()->warn("HTTP {} {} not answered within {} ms", req->method, req->path, options.handler_timeout_ms);
        out = error_response(504, reason_for(504));
      }
      const bool keep_alive = msg.keep_alive() && !stopped;
      auto res = to_beast(std::move(out), msg.version(), keep_alive);
      co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !keep_alive) break;
    }
  }

  asio::awaitable<void> serve_plain(tcp::socket socket, bool over_limit) {
    boost::system::error_code ignored;
    const auto remote = socket.remote_endpoint(ignored);
    std::string peer = remote.address().to_string() + ":" + std::to_string(remote.port());
    co_await serve(socket, over_limit, std::move(peer), false, {});
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    connections.fetch_sub(1);
  }

  asio::awaitable<void> serve_tls(tcp::socket socket, bool over_limit) {
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    std::string peer = remote.address().to_string() + ":" + std::to_string(remote.port());
    std::shared_ptr<SSL_CTX> native = options.tls_context();
    if (native) {
      SSL_CTX_up_ref(native.get());  // the asio context frees its reference
      asio::ssl::context ctx(native.get());
      asio::ssl::stream<tcp::socket> stream(std::move(socket), ctx);
      // The handshake is bounded like a request: a client that stalls is cut off.
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_after(std::chrono::milliseconds(options.read_timeout_ms));
      auto& lowest = stream.next_layer();
      timer.async_wait([&lowest](const boost::system::error_code& e) {
        if (e) return;
        boost::system::error_code ignored;
        lowest.close(ignored);
      });
      co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
      timer.cancel();
      if (ec) {
        log()->debug("HTTPS handshake with {} failed: {}", peer, ec.message());
      } else {
        std::string subject;
        if (X509* cert = SSL_get_peer_certificate(stream.native_handle())) {
          if (SSL_get_verify_result(stream.native_handle()) == X509_V_OK) {
            subject = options.tls_subject_name ? options.tls_subject_name(cert) : openssl_subject(cert);
          }
          X509_free(cert);
        }
        co_await serve(stream, over_limit, peer, true, std::move(subject));
        timer.expires_after(std::chrono::milliseconds(1000));
        timer.async_wait([&lowest](const boost::system::error_code& e) {
          if (e) return;
          boost::system::error_code ignored;
          lowest.close(ignored);
        });
        co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
        timer.cancel();
      }
      boost::system::error_code ignored;
      stream.next_layer().close(ignored);
    } else {
      log()->error("HTTPS connection from {} refused: no TLS context", peer);
      boost::system::error_code ignored;
      socket.close(ignored);
    }
    connections.fetch_sub(1);
  }

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, bool tls) {
    for (;;) {
      boost::system::error_code ec;
      // Each connection on a strand of its own: its handler's late answer is
      // posted there (Pending).
      auto strand = asio::make_strand(io);
      tcp::socket socket(strand);
      co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (stopped || ec == asio::error::operation_aborted) co_return;
        log()->warn("HTTP accept failed: {}", ec.message());
        continue;
      }
      const bool over = connections.fetch_add(1) >= options.max_connections;
      if (tls) asio::co_spawn(strand, serve_tls(std::move(socket), over), asio::detached);
      else asio::co_spawn(strand, serve_plain(std::move(socket), over), asio::detached);
    }
  }
};

Server::Server(ServerOptions options, Routes routes)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(routes))) {}

Server::~Server() { stop(); }

std::vector<uint16_t> Server::listen(const std::vector<Endpoint>& endpoints) {
  std::vector<uint16_t> ports;
  for (const auto& ep : endpoints) {
    if (ep.tls && !impl_->options.tls_context) {
      throw std::invalid_argument("http.listeners " + ep.to_string() +
                                  ": https needs the broker's TLS key store (ssl.keystore.location)");
    }
    boost::system::error_code ec;
    const auto address = ep.host.empty() ? asio::ip::address(asio::ip::address_v4::any())
                                         : asio::ip::make_address(ep.host, ec);
    if (ec) throw std::system_error(ec, "http.listeners " + ep.to_string() + ": host must be an IP address");
    auto acceptor = std::make_unique<tcp::acceptor>(impl_->io);
    const tcp::endpoint bind_to(address, ep.port);
    acceptor->open(bind_to.protocol(), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor->bind(bind_to, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::system_error(ec, "cannot listen on " + ep.to_string());
    ports.push_back(acceptor->local_endpoint().port());
    impl_->acceptors.push_back(std::move(acceptor));
    impl_->acceptor_tls.push_back(ep.tls);
  }
  return ports;
}

void Server::start() {
  if (impl_->started) return;
  impl_->started = true;
  if (impl_->options.background_threads > 0) {
    impl_->background_work.emplace(impl_->background.get_executor());
    // The nice value is set by each background thread on itself: it is per
    // thread on Linux, and an unprivileged process cannot lower it again,
    // so these threads do nothing else.
    const int nice = std::min(19, current_nice() + std::max(0, impl_->options.background_nice));
    for (int i = 0; i < impl_->options.background_threads; ++i) {
      impl_->background_threads.emplace_back([this, i, nice] {
        set_thread_name("keel-http-bg-" + std::to_string(i));
        if (!lower_thread_priority(nice)) {
          log()->warn("HTTP background thread: cannot set nice {}: {}", nice, std::strerror(errno));
        }
        impl_->background.run();
      });
    }
    impl_->defer = [this](std::function<void()> job) { asio::post(impl_->background, std::move(job)); };
  }
  for (size_t i = 0; i < impl_->acceptors.size(); ++i) {
    asio::co_spawn(impl_->io, impl_->accept_loop(*impl_->acceptors[i], impl_->acceptor_tls[i]), asio::detached);
  }
  for (int i = 0; i < std::max(1, impl_->options.threads); ++i) {
    impl_->threads.emplace_back([this, i] {
      set_thread_name("keel-http-" + std::to_string(i));
      impl_->io.run();
    });
  }
}

void Server::stop() {
  if (impl_->stopped.exchange(true)) return;
  {
    std::lock_guard lock(impl_->live->mu);
    impl_->live->running = false;
  }
  asio::post(impl_->io, [this] {
    for (auto& a : impl_->acceptors) {
      boost::system::error_code ignored;
      a->close(ignored);
    }
  });
  // Connections in a keep-alive wait are not waited for: the context stops.
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // A job under way finishes (a render reads the registry, which outlives
  // the server); the queued ones are dropped.
  impl_->background_work.reset();
  impl_->background.stop();
  for (auto& t : impl_->background_threads) t.join();
  impl_->background_threads.clear();
}

}  // namespace keel::http
