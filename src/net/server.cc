#include "net/server.h"

#include <algorithm>
#include <atomic>
#include <utility>  // boost 1.74 awaitable.hpp uses std::exchange without including it
#include <chrono>
#include <latch>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>

#include <pthread.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/log.h"
#include "common/thread_name.h"
#include "net/connection.h"

namespace keel::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("net");
  return l;
}

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto addr = ep.address();
  if (addr.is_v6()) return "[" + addr.to_string() + "]:" + std::to_string(ep.port());
  return addr.to_string() + ":" + std::to_string(ep.port());
}

}  // namespace

struct Server::Impl {
  std::shared_ptr<Lifeline> life = std::make_shared<Lifeline>();
  Impl(ServerOptions o, RequestHandler& h) : options(o), handler(h) {
    const int n = std::max(1, options.threads);
    for (int i = 0; i < n; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
    if (options.handler_threads > 0) {
      handler_pool = std::make_unique<asio::thread_pool>(static_cast<size_t>(options.handler_threads));
      name_pool_threads(*handler_pool, options.handler_threads, "keel-io-");
    }
  }

  // The pool makes its threads itself: one task per thread names it (each
  // waits for the others, so no thread takes two), as num.io.threads'
  // handlers show in `top -H` ("keel-io-0", ...).
  static void name_pool_threads(asio::thread_pool& pool, int n, const std::string& prefix) {
    struct Naming {
      explicit Naming(int n) : all_named(n) {}
      std::latch all_named;
      std::atomic<int> next{0};
    };
    // Shared: a pool thread may still be leaving arrive_and_wait when this
    // function returns.
    auto naming = std::make_shared<Naming>(n);
    for (int i = 0; i < n; ++i) {
      asio::post(pool, [naming, prefix] {
        set_thread_name(prefix + std::to_string(naming->next.fetch_add(1)));
        naming->all_named.arrive_and_wait();
      });
    }
    naming->all_named.wait();
  }

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, std::string listener_name,
                                    int32_t unauthenticated_max_frame_bytes, std::shared_ptr<ListenerTls> tls) {
    asio::steady_timer slot_wait(acceptor.get_executor());
    asio::steady_timer rate_wait(acceptor.get_executor());
    ListenerCounters* counters = options.listener_counters ? options.listener_counters(listener_name) : nullptr;
    for (;;) {
      // max.connections and the listener's own max.connections, as Kafka's
      // acceptor applies them: at a limit no connection is accepted on this
      // listener (clients wait in the listen backlog) until one closes. The
      // per-IP limit refuses instead (below).
      if (at_connection_limit(listener_name)) {
        log()->warn("max.connections reached on {} ({} open here, {} in all): new connections wait for one to close",
                    listener_name, listener_connections(listener_name), open_connections_now());
        while (at_connection_limit(listener_name) && acceptor.is_open()) {
          slot_wait.expires_at(asio::steady_timer::time_point::max());
          slot_waiters.push_back(&slot_wait);
          boost::system::error_code wait_ec;
          co_await slot_wait.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
          std::erase(slot_waiters, &slot_wait);
        }
        if (!acceptor.is_open()) co_return;
      }
      auto& ctx = *contexts[next_context++ % contexts.size()];
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(
          ctx, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        log()->warn("accept on {} failed: {}", listener_name, ec.message());
        continue;
      }
      boost::system::error_code opt_ec;
      socket.set_option(tcp::no_delay(true), opt_ec);
      if (options.send_buffer_bytes > 0) {
        socket.set_option(asio::socket_base::send_buffer_size(options.send_buffer_bytes), opt_ec);
      }
      if (options.receive_buffer_bytes > 0) {
        socket.set_option(asio::socket_base::receive_buffer_size(options.receive_buffer_bytes),
                          opt_ec);
      }
      ConnectionInfo info;
      info.id = ++connection_ids;
      boost::system::error_code ep_ec;
      auto remote = socket.remote_endpoint(ep_ec);
      info.peer = ep_ec ? std::string("?") : endpoint_text(remote);
      const std::string ip = ep_ec ? std::string("?") : remote.address().to_string();
      if (options.admission) {
        // max.connection.creation.rate: this connection, and every later
        // one, waits in the acceptor until the rate is back within the limit.
        if (const int64_t wait_ms = options.admission->accept_delay_ms(listener_name); wait_ms > 0) {
          rate_wait.expires_after(std::chrono::milliseconds(wait_ms));
          boost::system::error_code wait_ec;
          co_await rate_wait.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
          if (!acceptor.is_open()) co_return;
        }
        // connection_creation_rate of the client's IP: over it, the
        // connection is never served and is closed once the throttle time is
        // over (as Kafka's acceptor does), so a client reconnecting in a loop
        // is slowed down too.
        if (const int64_t throttle_ms = options.admission->ip_throttle_ms(listener_name, ip); throttle_ms > 0) {
          log()->debug("connection from {} on {} over its IP's connection_creation_rate: closed in {} ms",
                       info.peer, listener_name, throttle_ms);
          auto held = std::make_shared<tcp::socket>(std::move(socket));
          auto timer = std::make_shared<asio::steady_timer>(ctx, std::chrono::milliseconds(throttle_ms));
          ConnectionAdmission* admission = options.admission;
          timer->async_wait([held, timer, admission, listener_name, throttle_ms](const boost::system::error_code& ec) {
            if (!ec) admission->ip_throttle_ended(listener_name, throttle_ms);
            boost::system::error_code ignored;
            held->close(ignored);
          });
          continue;
        }
      }
      if (!take_slot(ip, listener_name)) {
        log()->warn("refusing connection from {} on {}: connection limit reached "
                    "(max.connections {}, max.connections.per.ip {}{})",
                    info.peer, listener_name, options.max_connections, options.max_connections_per_ip,
                    options.max_connections_per_ip_overrides.contains(ip) ? ", with an override for this address"
                                                                          : "");
        boost::system::error_code ignored;
        socket.close(ignored);
        continue;
      }
      info.listener_name = listener_name;
      info.state->max_frame_bytes.store(unauthenticated_max_frame_bytes, std::memory_order_relaxed);
      info.local_port = acceptor.local_endpoint(ep_ec).port();
      log()->debug("connection {} from {} on {}", info.id, info.peer, listener_name);
      auto conn = Connection::create(std::move(socket), std::move(info), options, handler, life,
                                               [this, ip, listener_name, counters]() {
                                                 release_slot(ip, listener_name);
                                                 if (counters) counters->gone();
                                               },
                                               handler_pool.get(), tls);
      if (counters) counters->opened();
      {
        std::lock_guard lock(slots_mu);
        std::erase_if(live, [](const auto& w) { return w.first.expired(); });
        live.emplace_back(conn, &ctx);
      }
      asio::post(ctx, [conn]() { conn->start(); });
    }
  }

  // Connection limits. Accepts run on contexts[0]; releases come from any
  // reactor thread, hence the mutex.
  bool take_slot(const std::string& ip, const std::string& listener) {
    std::lock_guard lock(slots_mu);
    auto& per_ip = connections_per_ip[ip];
    const auto override_it = options.max_connections_per_ip_overrides.find(ip);
    const int32_t ip_limit = override_it != options.max_connections_per_ip_overrides.end()
                                 ? override_it->second
                                 : options.max_connections_per_ip;
    if (at_limit_locked(listener) || per_ip >= ip_limit) {
      if (per_ip == 0) connections_per_ip.erase(ip);
      return false;
    }
    ++open_connections;
    ++connections_per_listener[listener];
    ++per_ip;
    return true;
  }
  void release_slot(const std::string& ip, const std::string& listener) {
    bool wake;
    {
      std::lock_guard lock(slots_mu);
      // After stop() the contexts may be going away: no more posts to them.
      wake = !accepting_stopped && (open_connections >= options.max_connections || at_limit_locked(listener));
      --open_connections;
      --connections_per_listener[listener];
      if (--connections_per_ip[ip] <= 0) connections_per_ip.erase(ip);
    }
    if (wake) wake_acceptors();
  }
  // Kafka's ConnectionQuotas.connectionSlotAvailable, negated: the
  // listener's own limit, then the broker's unless the listener is exempt.
  bool at_limit_locked(const std::string& listener) {
    auto limit = options.listener_max_connections.find(listener);
    if (limit != options.listener_max_connections.end() && connections_per_listener[listener] >= limit->second)
      return true;
    if (listener == options.protected_listener) return false;
    return open_connections >= options.max_connections;
  }
  bool at_connection_limit(const std::string& listener) {
    std::lock_guard lock(slots_mu);
    return at_limit_locked(listener);
  }
  int32_t listener_connections(const std::string& listener) {
    std::lock_guard lock(slots_mu);
    return connections_per_listener[listener];
  }
  int32_t open_connections_now() {
    std::lock_guard lock(slots_mu);
    return open_connections;
  }
  // Accept loops waiting for a slot run on contexts[0], as does their list.
  void wake_acceptors() {
    asio::post(*contexts[0], [this] {
      for (asio::steady_timer* t : slot_waiters) t->cancel();
    });
  }

  ServerOptions options;
  RequestHandler& handler;
  std::mutex slots_mu;
  int32_t open_connections = 0;
  std::vector<asio::steady_timer*> slot_waiters;  // on contexts[0] only
  bool accepting_stopped = false;                  // under slots_mu
  std::map<std::string, int32_t> connections_per_ip;
  std::map<std::string, int32_t> connections_per_listener;  // under slots_mu
  std::vector<std::pair<std::weak_ptr<Connection>, asio::io_context*>> live;  // for the drain at stop
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  // num.io.threads; null: handlers run on the reactor threads. Declared after
  // the contexts so that it goes first: its queued work holds connections,
  // whose sockets need their io_context when they are destroyed. (stop()
  // resets it before the contexts, after every connection let go of its
  // strand on it.)
  std::unique_ptr<asio::thread_pool> handler_pool;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::vector<std::string> acceptor_names;
  std::vector<int32_t> acceptor_frame_limits;  // ListenerSpec::unauthenticated_max_frame_bytes
  std::vector<std::shared_ptr<ListenerTls>> acceptor_tls;  // null: plaintext
  std::vector<std::thread> threads;
  std::atomic<uint64_t> connection_ids{0};
  size_t next_context = 0;  // touched only by accept loops on contexts[0]
  bool started = false;
  bool stopped = false;
};

Server::Server(ServerOptions options, RequestHandler& handler)
    : impl_(std::make_unique<Impl>(options, handler)) {}

Server::~Server() { stop(); }

std::vector<uint16_t> Server::listen(const std::vector<ListenerSpec>& listeners) {
  std::vector<uint16_t> ports;
  for (const auto& spec : listeners) {
    auto& ctx = *impl_->contexts[0];
    boost::system::error_code ec;
    asio::ip::address address;
    if (spec.host.empty()) {
      address = asio::ip::address_v6::any();
    } else {
      address = asio::ip::make_address(spec.host, ec);
      if (ec) {
        // A host name: resolve it once, as Kafka binds to the resolved address.
        tcp::resolver resolver(ctx);
        auto results = resolver.resolve(spec.host, std::to_string(spec.port), ec);
        if (ec || results.empty()) {
          throw std::system_error(ec, "cannot resolve listener host " + spec.host);
        }
        address = results.begin()->endpoint().address();
      }
    }
    tcp::endpoint endpoint(address, spec.port);
    auto acceptor = std::make_unique<tcp::acceptor>(ctx);
    const std::string where = spec.name + "://" + (spec.host.empty() ? "" : spec.host) + ":" +
                              std::to_string(spec.port);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec && address.is_v6() && spec.host.empty()) {
      // All interfaces: accept IPv4 too on the IPv6 wildcard.
      acceptor->set_option(asio::ip::v6_only(false), ec);
      ec.clear();
    }
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::system_error(ec, "cannot listen on " + where);
    ports.push_back(acceptor->local_endpoint().port());
    impl_->acceptors.push_back(std::move(acceptor));
    impl_->acceptor_names.push_back(spec.name);
    impl_->acceptor_frame_limits.push_back(spec.unauthenticated_max_frame_bytes);
    std::shared_ptr<ListenerTls> tls;
    if (spec.tls) {
      tls = std::make_shared<ListenerTls>();
      tls->context = spec.tls;
    }
    impl_->acceptor_tls.push_back(std::move(tls));
  }
  return ports;
}

void Server::start() {
  if (impl_->started) return;
  impl_->started = true;
  for (size_t i = 0; i < impl_->acceptors.size(); ++i) {
    auto* acceptor = impl_->acceptors[i].get();
    std::string name = impl_->acceptor_names[i];
    const int32_t limit = impl_->acceptor_frame_limits[i];
    auto tls = impl_->acceptor_tls[i];
    Impl* impl = impl_.get();
    asio::co_spawn(*impl_->contexts[0],
                   [impl, acceptor, name, limit, tls]() { return impl->accept_loop(*acceptor, name, limit, tls); },
                   asio::detached);
  }
  for (auto& ctx : impl_->contexts) {
    asio::io_context* c = ctx.get();
    impl_->threads.emplace_back([c, load = impl_->options.load, n = impl_->threads.size()]() {
      // The accept loops run on the first: it is the acceptor's thread too.
      set_thread_name("keel-net-" + std::to_string(n));
      if (clockid_t clock; load && ::pthread_getcpuclockid(::pthread_self(), &clock) == 0) {
        std::lock_guard lock(load->mu);
        load->reactor_clocks.push_back(clock);
      }
      auto guard = asio::make_work_guard(*c);
      c->run();
    });
  }
}

void Server::stop(int64_t drain_ms) {
  if (impl_->stopped) return;
  impl_->stopped = true;
  for (auto& acceptor : impl_->acceptors) {
    asio::post(*impl_->contexts[0], [a = acceptor.get()]() {
      boost::system::error_code ignored;
      a->close(ignored);
    });
  }
  impl_->wake_acceptors();  // a loop waiting for a slot sees its acceptor closed
  {
    std::lock_guard lock(impl_->slots_mu);
    impl_->accepting_stopped = true;
  }
  if (drain_ms > 0 && impl_->started) {
    // Let every connection answer what it has read, then wait (bounded) for
    // them to close.
    // Strong references are taken under the lock but dropped outside it: the
    // last one destroys the connection, whose release_slot takes the lock.
    std::vector<std::pair<std::shared_ptr<Connection>, asio::io_context*>> conns;
    {
      std::lock_guard lock(impl_->slots_mu);
      for (auto& [weak, ctx] : impl_->live) {
        if (auto conn = weak.lock()) conns.emplace_back(std::move(conn), ctx);
      }
    }
    for (auto& entry : conns) asio::post(*entry.second, [conn = entry.first]() { conn->drain(); });
    conns.clear();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(drain_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(impl_->slots_mu);
        if (impl_->open_connections == 0) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  {
    std::unique_lock lock(impl_->life->mu);
    impl_->life->alive = false;
  }
  // Stopping the contexts abandons every connection's pending operations; the
  // coroutine frames (and with them the sockets) are destroyed with the contexts.
  for (auto& ctx : impl_->contexts) ctx->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // No reactor posts to the handler threads any more. Requests still queued
  // there are dropped (their connections are gone); one being handled runs to
  // its end, and its answer is dropped by the lifeline.
  //
  // Two things must go in order. The pool's queued work holds connections,
  // whose sockets need their io_context: the pool goes before the contexts.
  // But each connection's strand belongs to the pool (its strand service),
  // and a connection still held by its coroutines goes with its io_context,
  // after the pool: so every connection lets go of its strand first, while
  // the pool is stopped and joined and no thread touches a connection. The
  // strong references taken here are dropped before the contexts go, so a
  // connection only the pool's queue held is destroyed while its io_context
  // exists.
  if (impl_->handler_pool) {
    impl_->handler_pool->stop();
    impl_->handler_pool->join();
    std::vector<std::shared_ptr<Connection>> conns;
    {
      std::lock_guard lock(impl_->slots_mu);
      for (auto& [weak, ctx] : impl_->live) {
        if (auto conn = weak.lock()) conns.push_back(std::move(conn));
      }
    }
    for (auto& conn : conns) conn->release_handler_strand();
    impl_->handler_pool.reset();
    conns.clear();  // outside slots_mu: a last reference runs release_slot
  }
  impl_->acceptors.clear();
  impl_->contexts.clear();
}

}  // namespace keel::net
