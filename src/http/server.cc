#include "http/server.h"

#include <utility>  // boost 1.74 awaitable.hpp uses std::exchange without including it

#include <atomic>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "common/log.h"

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
    case 413: return "the request body is too large";
    case 431: return "the request header is too large";
    case 503: return "too many connections";
    default: return "malformed HTTP request";
  }
}

bhttp::response<bhttp::string_body> to_beast(const Response& r, unsigned version, bool keep_alive) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
  res.set(bhttp::field::server, "keel");
  res.set(bhttp::field::content_type, r.content_type);
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(keep_alive);
  res.body() = r.body;
  res.prepare_payload();
  return res;
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Routes routes;
  asio::io_context io;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::vector<std::thread> threads;
  std::atomic<size_t> connections{0};
  std::atomic<bool> stopped{false};
  bool started = false;

  Impl(ServerOptions o, Routes r) : options(std::move(o)), routes(std::move(r)) {}

  // One connection: requests in turn (keep-alive), each bounded in size and
  // time. Stream is the transport (tcp::socket; a TLS stream later).
  template <class Stream>
  asio::awaitable<void> serve(Stream stream, bool over_limit) {
    boost::system::error_code ec;
    beast::flat_buffer buffer;
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
      asio::steady_timer timer(stream.get_executor());
      timer.expires_after(std::chrono::milliseconds(options.read_timeout_ms));
      timer.async_wait([&stream, &timed_out](const boost::system::error_code& e) {
        if (e) return;
        timed_out = true;
        boost::system::error_code ignored;
        stream.shutdown(tcp::socket::shutdown_receive, ignored);
      });
      co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      timer.cancel();
      if (ec == bhttp::error::end_of_stream && !timed_out && buffer.size() == 0) break;  // closed between requests
      if (ec) {
        if (ec == asio::error::operation_aborted || ec == asio::error::connection_reset) break;
        const int status = status_for(ec, timed_out);
        log()->debug("HTTP request refused with {}: {}", status, ec.message());
        auto res = to_beast(error_response(status, reason_for(status)), 11, false);
        co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
        break;
      }
      const auto& msg = parser.get();
      Request req;
      req.method = std::string(msg.method_string());
      req.target = std::string(msg.target());
      const size_t q = req.target.find('?');
      req.path = req.target.substr(0, q);
      if (q != std::string::npos) req.query = req.target.substr(q + 1);
      for (const auto& f : msg) req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      req.body = msg.body();
      Response out;
      try {
        out = routes.dispatch(req);
      } catch (const std::exception& e) {
        log()->error("HTTP {} {} failed: {}", req.method, req.path, e.what());
        out = error_response(500, "internal error");
      }
      const bool keep_alive = msg.keep_alive() && !stopped;
      auto res = to_beast(out, msg.version(), keep_alive);
      co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !keep_alive) break;
    }
    boost::system::error_code ignored;
    stream.shutdown(tcp::socket::shutdown_both, ignored);
    stream.close(ignored);
    connections.fetch_sub(1);
  }

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (stopped || ec == asio::error::operation_aborted) co_return;
        log()->warn("HTTP accept failed: {}", ec.message());
        continue;
      }
      const bool over = connections.fetch_add(1) >= options.max_connections;
      asio::co_spawn(io, serve(std::move(socket), over), asio::detached);
    }
  }
};

Server::Server(ServerOptions options, Routes routes)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(routes))) {}

Server::~Server() { stop(); }

std::vector<uint16_t> Server::listen(const std::vector<Endpoint>& endpoints) {
  std::vector<uint16_t> ports;
  for (const auto& ep : endpoints) {
    if (ep.tls) {
      throw std::invalid_argument("http.listeners " + ep.to_string() +
                                  ": https is not served by this build yet; use http://");
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
  }
  return ports;
}

void Server::start() {
  if (impl_->started) return;
  impl_->started = true;
  for (auto& a : impl_->acceptors) asio::co_spawn(impl_->io, impl_->accept_loop(*a), asio::detached);
  for (int i = 0; i < std::max(1, impl_->options.threads); ++i) {
    impl_->threads.emplace_back([this] { impl_->io.run(); });
  }
}

void Server::stop() {
  if (impl_->stopped.exchange(true)) return;
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
}

}  // namespace keel::http
