#include "net/client.h"

#include <algorithm>
#include <atomic>
#include <utility>  // boost 1.74 awaitable.hpp uses std::exchange without including it
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <vector>


#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/assert.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "net/client_runtime.h"
#include "net/sasl_client.h"
#include "net/tls.h"
#include "net/tls_stream.h"
#include "security/sasl_client.h"

namespace keel::net {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("net");
  return l;
}

class ClientCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "keel.net.client"; }
  std::string message(int c) const override {
    switch (static_cast<ClientErrc>(c)) {
      case ClientErrc::kDisconnected: return "disconnected before the response came";
      case ClientErrc::kConnectFailed: return "could not connect to the broker";
      case ClientErrc::kTimedOut: return "no response within the request timeout";
      case ClientErrc::kClosed: return "the client was closed";
      case ClientErrc::kBadResponse: return "bad response frame (size or correlation id)";
      case ClientErrc::kAuthenticationFailed: return "the broker refused the SASL authentication";
    }
    return "unknown client error";
  }
};

// Runs a caller's callback. An exception from it is logged and dropped: it
// must not unwind through the connection's state machine (or kill the
// runtime thread).
void run_callback(const Client::Callback& cb, Result<Bytes> result) {
  if (!cb) return;
  try {
    cb(std::move(result));
  } catch (const std::exception& e) {
    log()->error("client callback threw: {}", e.what());
  } catch (...) {
    log()->error("client callback threw a non-standard exception");
  }
}

// "[::1]" → "::1": brackets as written around IPv6 literals in endpoints.
std::string strip_brackets(const std::string& host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

}  // namespace

const std::error_category& client_category() {
  static const ClientCategory category;
  return category;
}

std::error_code make_error_code(ClientErrc e) { return {static_cast<int>(e), client_category()}; }

// ---------------------------------------------------------------------------
// Client

namespace {

// One connection attempt and, once it is up, the connection. Its I/O
// handlers hold it; the client drops it when it fails. Runtime thread only.
struct Conn {
  explicit Conn(asio::io_context& io)
      : socket(io), resolver(io), connect_timer(io), request_timer(io), reauth_timer(io) {}

  tcp::socket socket;
  std::unique_ptr<TlsStream> tls;  // set once a TLS handshake starts
  tcp::resolver resolver;
  asio::steady_timer connect_timer;
  asio::steady_timer request_timer;
  asio::steady_timer reauth_timer;  // KIP-368: fires when the session is to be renewed
  // SASL (ClientOptions::sasl): the exchange under way, if any; while it
  // runs, no request of the caller's is written. Shared with a login thread
  // while a step that may block runs there (sasl_step_off_thread).
  std::shared_ptr<SaslClientExchange> sasl;
  bool reauth_due = false;    // re-authenticate once nothing is in flight
  bool up = false;            // connected (and authenticated, with SASL)
  bool dead = false;          // failed or closed: every handler stops here
  bool writing = false;       // an async_write is under way
  bool timer_armed = false;   // request_timer waits for a deadline
  Clock::time_point write_deadline;
  // The frames of the write under way, and their size prefixes: kept here,
  // with the connection, until the write completes.
  std::vector<Bytes> frames;
  std::vector<std::array<uint8_t, 4>> prefixes;
};

// Why a connection failed, for the error its oldest in-flight request gets.
enum class Cause { kIo, kTimeout, kBadResponse, kAuth };

}  // namespace

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  struct Queued {
    Bytes frame;
    int32_t correlation_id;
    Callback cb;
    bool expect_response;
  };
  struct InFlight {
    int32_t correlation_id;
    Callback cb;
    Clock::time_point deadline;
  };

  Impl(std::shared_ptr<RuntimeCore> c, ClientOptions o)
      : core(std::move(c)), io(*core->io), options(std::move(o)), rng(std::random_device{}()) {
    if (options.max_in_flight == 0) options.max_in_flight = 1;
    if (!options.tls) options.tls = default_client_tls();
    if (!options.sasl) options.sasl = default_client_sasl();
    // Deadlines are now + timeout on a nanosecond clock: keep them finite.
    options.connect_timeout_ms = std::clamp<int64_t>(options.connect_timeout_ms, 0, kMaxTimeoutMs);
    options.request_timeout_ms = std::clamp<int64_t>(options.request_timeout_ms, 0, kMaxTimeoutMs);
  }
  static constexpr int64_t kMaxTimeoutMs = int64_t{1} << 40;  // ~35 years

  std::shared_ptr<RuntimeCore> core;
  asio::io_context& io;  // valid while the runtime runs; used on its thread only

  // Thread-safe state.
  std::atomic<bool> closed{false};  // close() began: sends fail at once
  std::atomic<bool> is_connected{false};
  // Shared with SASL exchanges, whose steps may run on a login thread.
  std::shared_ptr<std::atomic<uint32_t>> correlation = std::make_shared<std::atomic<uint32_t>>(0);
  std::mutex close_mu;
  std::condition_variable close_cv;
  bool close_done = false;  // under close_mu

  // Runtime thread only from here on.
  ClientOptions options;
  bool close_started = false;
  std::shared_ptr<Conn> conn;                       // null: not connected nor connecting
  std::shared_ptr<asio::steady_timer> backoff_timer;  // armed: a connect waits for the backoff
  std::deque<Queued> waiting;                       // not yet written, in send order
  std::deque<InFlight> in_flight;                   // written (or being written), awaiting responses
  std::vector<Callback> write_no_response;          // expect_response=false, in the write under way
  int failures = 0;                                 // consecutive connection failures
  std::string last_sasl_error;                      // the last failed login's reason, until one succeeds
  Clock::time_point next_connect_at{};
  std::mt19937 rng;

  // --- entry points (runtime thread) -------------------------------------

  void enqueue(Queued q) {
    if (close_started) {
      run_callback(q.cb, ClientErrc::kClosed);
      return;
    }
    waiting.push_back(std::move(q));
    pump();
  }

  void change_address(std::string host, uint16_t port) {
    if (close_started) return;
    options.host = std::move(host);
    options.port = port;
    cancel_backoff();
    if (conn) {
      shut(*conn);
      conn.reset();
    }
    is_connected = false;
    // A new address owes nothing to the old one's failures.
    failures = 0;
    next_connect_at = Clock::time_point{};
    // Requests waiting out a backoff were meant for the old address too.
    const auto ec = make_error_code(ClientErrc::kDisconnected);
    for (auto& [cb, e] : take_pending(ec, ec)) run_callback(cb, e);
  }

  // Takes every pending request out of the queues, each with the error it
  // is to fail with: `first` for the oldest in flight, `rest` for the others.
  std::vector<std::pair<Callback, std::error_code>> take_pending(std::error_code first, std::error_code rest) {
    std::vector<std::pair<Callback, std::error_code>> failed;
    failed.reserve(in_flight.size() + write_no_response.size() + waiting.size());
    for (auto& f : in_flight) failed.emplace_back(std::move(f.cb), failed.empty() ? first : rest);
    for (auto& cb : write_no_response) failed.emplace_back(std::move(cb), rest);
    for (auto& q : waiting) failed.emplace_back(std::move(q.cb), rest);
    in_flight.clear();
    write_no_response.clear();
    waiting.clear();
    return failed;
  }

  void do_close() {
    if (close_started) return;
    close_started = true;
    closed = true;
    const auto ec = make_error_code(ClientErrc::kClosed);
    auto failed = take_pending(ec, ec);
    if (conn) {
      shut(*conn);
      conn.reset();
    }
    cancel_backoff();
    is_connected = false;
    {
      std::unique_lock lock(core->mu);
      core->clients.erase(this);
    }
    // Every request's callback has run when close() returns.
    for (auto& [cb, e] : failed) run_callback(cb, e);
    std::lock_guard lock(close_mu);
    close_done = true;
    close_cv.notify_all();
  }

  // --- the state machine --------------------------------------------------

  // Moves things along: connects when requests wait and nothing is
  // connected (after the backoff), writes waiting requests while the
  // connection has room in flight.
  void pump() {
    if (close_started) return;
    if (!conn) {
      if (waiting.empty() || backoff_timer) return;
      if (Clock::now() < next_connect_at) {
        arm_backoff();
        return;
      }
      start_connect();
      return;
    }
    if (!conn->up || conn->writing || conn->sasl) return;
    if (conn->reauth_due) {
      // KIP-368: nothing new goes out; once the answers in flight are in,
      // the session is renewed on this connection.
      if (in_flight.empty()) begin_sasl(conn);
      return;
    }
    start_write(conn);
  }

  void arm_backoff() {
    auto timer = std::make_shared<asio::steady_timer>(io, next_connect_at);
    backoff_timer = timer;
    auto self = shared_from_this();
    timer->async_wait([self, timer](const boost::system::error_code& ec) {
      if (self->backoff_timer != timer) return;  // cancelled and replaced
      self->backoff_timer.reset();
      if (!ec) self->pump();
    });
  }

  void cancel_backoff() {
    if (!backoff_timer) return;
    backoff_timer->cancel();
    backoff_timer.reset();
  }

  void start_connect() {
    auto c = std::make_shared<Conn>(io);
    conn = c;
    auto self = shared_from_this();
    c->connect_timer.expires_after(std::chrono::milliseconds(std::max<int64_t>(0, options.connect_timeout_ms)));
    c->connect_timer.async_wait([self, c](const boost::system::error_code& ec) {
      if (ec || c->dead || c->up) return;
      log()->debug("connecting to {}:{} timed out after {} ms", self->options.host, self->options.port,
                   self->options.connect_timeout_ms);
      self->fail(c, Cause::kIo, "connect timed out");
    });
    const std::string host = strip_brackets(options.host);
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (!ec) {
      connect_to(c, std::vector<tcp::endpoint>{tcp::endpoint(address, options.port)});
      return;
    }
    c->resolver.async_resolve(
        host, std::to_string(options.port),
        [self, c](const boost::system::error_code& ec, tcp::resolver::results_type results) {
          if (c->dead) return;
          if (ec || results.empty()) {
            log()->debug("cannot resolve {}: {}", self->options.host, ec ? ec.message() : "no address");
            self->fail(c, Cause::kIo, "resolve failed");
            return;
          }
          self->connect_to(c, results);
        });
  }

  template <class Endpoints>
  void connect_to(const std::shared_ptr<Conn>& c, const Endpoints& endpoints) {
    auto self = shared_from_this();
    asio::async_connect(c->socket, endpoints,
                        [self, c](const boost::system::error_code& ec, const tcp::endpoint&) {
                          if (c->dead) return;
                          if (ec) {
                            log()->debug("cannot connect to {}:{}: {}", self->options.host,
                                         self->options.port, ec.message());
                            self->fail(c, Cause::kIo, "connect failed");
                            return;
                          }
                          if (self->options.tls) {
                            asio::co_spawn(self->io, [self, c]() { return self->tls_handshake(c); }, asio::detached);
                            return;
                          }
                          self->on_connected(c);
                        });
  }

  // The TLS handshake, under the connect timeout still running: a broker
  // whose certificate is not trusted (or does not name the host dialled)
  // fails the connection, and the next attempt waits for the backoff.
  asio::awaitable<void> tls_handshake(std::shared_ptr<Conn> c) {
    auto self = shared_from_this();
    try {
      c->tls = std::make_unique<TlsStream>(
          c->socket, std::make_unique<TlsSession>(*options.tls, c->socket.native_handle(), strip_brackets(options.host)));
    } catch (const std::exception& e) {
      log()->warn("connection to {}:{}: {}", options.host, options.port, e.what());
      fail(c, Cause::kIo, "TLS set-up failed");
      co_return;
    }
    const std::string why = co_await c->tls->handshake();
    if (c->dead) co_return;
    if (!why.empty()) {
      log()->warn("connection to {}:{}: {}", options.host, options.port, why);
      fail(c, Cause::kIo, "TLS handshake failed");
      co_return;
    }
    on_connected(c);
  }

  // Reads exactly `size` bytes, through TLS when the connection has it.
  asio::awaitable<void> read_exact(Conn& c, void* data, size_t size, boost::system::error_code& ec) {
    if (c.tls) {
      co_await c.tls->read(data, size, ec);
    } else {
      co_await asio::async_read(c.socket, asio::buffer(data, size), asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  // TCP (and TLS) is up: with SASL the connection authenticates first, under
  // the connect timeout still running; then it takes requests.
  void on_connected(const std::shared_ptr<Conn>& c) {
    boost::system::error_code ignored;
    c->socket.set_option(tcp::no_delay(true), ignored);
    if (options.send_buffer_bytes != -1) {
      c->socket.set_option(asio::socket_base::send_buffer_size(options.send_buffer_bytes), ignored);
    }
    if (options.receive_buffer_bytes != -1) {
      c->socket.set_option(asio::socket_base::receive_buffer_size(options.receive_buffer_bytes), ignored);
    }
    auto self = shared_from_this();
    asio::co_spawn(io, [self, c]() { return self->read_loop(c); }, asio::detached);
    if (options.sasl) {
      begin_sasl(c);
      return;
    }
    on_ready(c);
  }

  void on_ready(const std::shared_ptr<Conn>& c) {
    c->up = true;
    c->connect_timer.cancel();
    is_connected = true;
    failures = 0;
    pump();
  }

  // --- SASL (ClientOptions::sasl) --------------------------------------------

  // Starts an exchange on `c`, which has nothing in flight: at connect, or
  // to re-authenticate.
  void begin_sasl(const std::shared_ptr<Conn>& c) {
    c->reauth_due = false;
    std::unique_ptr<security::SaslClientMechanism> mechanism;
    try {
      if (options.sasl->make_mechanism) mechanism = options.sasl->make_mechanism();
    } catch (const std::exception& e) {
      log()->error("connection to {}:{}: cannot set up SASL {}: {}", options.host, options.port,
                   options.sasl->mechanism, e.what());
    }
    if (!mechanism) {
      fail(c, Cause::kAuth, "no SASL mechanism");
      return;
    }
    mechanism->set_server_host(strip_brackets(options.host));  // GSSAPI's ticket names it
    c->sasl = std::make_shared<SaslClientExchange>(std::move(mechanism), options.sasl->client_id,
                                                   [counter = correlation]() { return next_id(*counter); });
    sasl_step(c, c->sasl->start());
  }

  void sasl_step(const std::shared_ptr<Conn>& c, SaslClientExchange::Step step) {
    using Kind = SaslClientExchange::Step::Kind;
    if (step.kind == Kind::kSend) {
      // Ahead of every waiting request, and alone on the wire.
      auto self = shared_from_this();
      waiting.push_front({std::move(step.frame), step.correlation_id,
                          [self, c](Result<Bytes> r) {
                            if (!r || c->dead || !c->sasl) return;  // the connection failed: fail() handles it
                            if (c->sasl->mechanism().may_block()) {
                              self->sasl_step_off_thread(c, std::move(*r));
                              return;
                            }
                            self->sasl_step(c, c->sasl->on_response(*r));
                          },
                          true});
      start_write(c, 1);
      return;
    }
    if (step.kind == Kind::kFailed) {
      // Reconnects every backoff: the same failure again (a KDC away for a
      // minute) logs at debug until a login succeeds or the reason changes.
      const bool again = step.error == last_sasl_error;
      log()->log(again ? spdlog::level::debug : spdlog::level::warn,
                 "connection to {}:{}: SASL authentication with {} failed: {}", options.host, options.port,
                 options.sasl->mechanism, step.error);
      last_sasl_error = step.error;
      fail(c, Cause::kAuth, "SASL authentication failed");
      return;
    }
    if (!last_sasl_error.empty()) {
      log()->info("connection to {}:{}: SASL authentication with {} succeeds again", options.host, options.port,
                  options.sasl->mechanism);
      last_sasl_error.clear();
    }
    c->sasl.reset();
    if (step.session_lifetime_ms > 0) {
      std::uniform_real_distribution<double> jitter(0.0, 1.0);
      const int64_t delay_ms = reauthentication_delay_ms(step.session_lifetime_ms, jitter(rng));
      log()->debug("connection to {}:{}: authenticated with {}; session lifetime {} ms, renewed in {} ms",
                   options.host, options.port, options.sasl->mechanism, step.session_lifetime_ms, delay_ms);
      c->reauth_timer.expires_after(std::chrono::milliseconds(delay_ms));
      auto self = shared_from_this();
      c->reauth_timer.async_wait([self, c](const boost::system::error_code& ec) {
        if (ec || c->dead) return;
        c->reauth_due = true;
        self->pump();
      });
    }
    if (!c->up) {
      on_ready(c);
    } else {
      pump();
    }
  }

  // The exchange's next step on a thread of its own (GSSAPI's first token
  // may wait tens of seconds for a KDC that does not answer), its outcome
  // back on the runtime thread. The login thread holds only the exchange and
  // weak references: a connection or client gone meanwhile is not touched,
  // and nothing of Asio's is destroyed off the runtime thread.
  void sasl_step_off_thread(const std::shared_ptr<Conn>& c, Bytes response) {
    std::thread([exchange = c->sasl, core = core, weak_self = weak_from_this(), weak_conn = std::weak_ptr<Conn>(c),
                 response = std::move(response)]() mutable {
      set_thread_name("keel-sasl-login");
      auto step = std::make_shared<SaslClientExchange::Step>(exchange->on_response(response));
      core->post([exchange, weak_self, weak_conn, step]() {
        auto self = weak_self.lock();
        auto conn = weak_conn.lock();
        if (!self || !conn || conn->dead || conn->sasl != exchange) return;
        self->sasl_step(conn, std::move(*step));
      });
    }).detach();
  }

  int32_t next_correlation_id() {
    return next_id(*correlation);
  }
  static int32_t next_id(std::atomic<uint32_t>& counter) {
    return static_cast<int32_t>(counter.fetch_add(1, std::memory_order_relaxed) & 0x7fffffffu);
  }

  // Writes as many waiting requests as the connection has room for, in one
  // gather write. Those expecting a response are in flight from here: the
  // answer to the first may come before the last is written.
  void start_write(const std::shared_ptr<Conn>& c, size_t limit = SIZE_MAX) {
    const size_t used = in_flight.size() + write_no_response.size();
    if (waiting.empty() || used >= options.max_in_flight) return;
    const size_t n = std::min({waiting.size(), options.max_in_flight - used, limit});
    const auto now = Clock::now();
    const auto deadline = now + std::chrono::milliseconds(options.request_timeout_ms);
    c->frames.clear();
    c->prefixes.assign(n, {});
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(2 * n);
    for (size_t i = 0; i < n; ++i) {
      Queued q = std::move(waiting.front());
      waiting.pop_front();
      store_be<int32_t>(c->prefixes[i].data(), static_cast<int32_t>(q.frame.size()));
      c->frames.push_back(std::move(q.frame));
      buffers.emplace_back(asio::buffer(c->prefixes[i]));
      buffers.emplace_back(asio::buffer(c->frames.back()));
      if (q.expect_response) {
        in_flight.push_back({q.correlation_id, std::move(q.cb), deadline});
      } else {
        write_no_response.push_back(std::move(q.cb));
      }
    }
    c->writing = true;
    c->write_deadline = deadline;
    arm_request_timer(c);
    auto self = shared_from_this();
    if (c->tls) {
      asio::co_spawn(io, [self, c, b = std::move(buffers)]() mutable { return self->tls_write(c, std::move(b)); },
                     asio::detached);
      return;
    }
    asio::async_write(c->socket, buffers, [self, c](const boost::system::error_code& ec, size_t) {
      self->on_written(c, ec);
    });
  }

  asio::awaitable<void> tls_write(std::shared_ptr<Conn> c, std::vector<asio::const_buffer> buffers) {
    auto self = shared_from_this();
    boost::system::error_code ec;
    co_await c->tls->write(buffers, ec);
    on_written(c, ec);
  }

  void on_written(const std::shared_ptr<Conn>& c, const boost::system::error_code& ec) {
    if (c->dead) return;
    c->writing = false;
    c->frames.clear();
    if (ec) {
      fail(c, Cause::kIo, "write failed");
      return;
    }
    std::vector<Callback> written = std::move(write_no_response);
    write_no_response.clear();
    pump();
    for (auto& cb : written) run_callback(cb, Bytes{});
  }

  // Reads response frames and hands each to the oldest request in flight.
  asio::awaitable<void> read_loop(std::shared_ptr<Conn> c) {
    auto self = shared_from_this();
    boost::system::error_code ec;
    while (!c->dead) {
      uint8_t prefix[4];
      co_await read_exact(*c, prefix, sizeof prefix, ec);
      if (c->dead) break;
      if (ec) {
        fail(c, Cause::kIo, ec == asio::error::eof ? "closed by the broker" : "read failed");
        break;
      }
      const int32_t size = load_be<int32_t>(prefix);
      if (size < 4 || size > options.max_response_bytes) {
        log()->warn("closing connection to {}:{}: response size {} (limit {})", options.host, options.port, size,
                    options.max_response_bytes);
        fail(c, Cause::kBadResponse, "bad response size");
        break;
      }
      Bytes body(static_cast<size_t>(size));
      co_await read_exact(*c, body.data(), body.size(), ec);
      if (c->dead) break;
      if (ec) {
        fail(c, Cause::kIo, "closed by the broker mid-response");
        break;
      }
      const int32_t correlation_id = load_be<int32_t>(body.data());
      if (in_flight.empty() || in_flight.front().correlation_id != correlation_id) {
        log()->warn("closing connection to {}:{}: response correlation id {}, expected {}", options.host,
                    options.port, correlation_id,
                    in_flight.empty() ? std::string("none") : std::to_string(in_flight.front().correlation_id));
        fail(c, Cause::kBadResponse, "correlation id mismatch");
        break;
      }
      Callback cb = std::move(in_flight.front().cb);
      in_flight.pop_front();
      pump();  // room in flight: the next request goes out before the callback runs
      run_callback(cb, std::move(body));
    }
  }

  // The request timer waits for the earliest deadline: the oldest request
  // in flight's, or the write under way's.
  void arm_request_timer(const std::shared_ptr<Conn>& c) {
    if (c->timer_armed || c->dead) return;
    Clock::time_point deadline = Clock::time_point::max();
    if (!in_flight.empty()) deadline = in_flight.front().deadline;
    if (c->writing) deadline = std::min(deadline, c->write_deadline);
    if (deadline == Clock::time_point::max()) return;
    c->timer_armed = true;
    c->request_timer.expires_at(deadline);
    auto self = shared_from_this();
    c->request_timer.async_wait([self, c](const boost::system::error_code&) {
      c->timer_armed = false;
      if (c->dead) return;
      const auto now = Clock::now();
      if ((!self->in_flight.empty() && self->in_flight.front().deadline <= now) ||
          (c->writing && c->write_deadline <= now)) {
        log()->warn("closing connection to {}:{}: no response within {} ms", self->options.host,
                    self->options.port, self->options.request_timeout_ms);
        self->fail(c, Cause::kTimeout, "request timed out");
        return;
      }
      self->arm_request_timer(c);
    });
  }

  static void shut(Conn& c) {
    c.dead = true;
    boost::system::error_code ignored;
    c.resolver.cancel();
    c.connect_timer.cancel();
    c.request_timer.cancel();
    c.reauth_timer.cancel();
    if (c.socket.is_open()) {
      if (c.tls) c.tls->shutdown();
      c.socket.shutdown(tcp::socket::shutdown_both, ignored);
      c.socket.close(ignored);
    }
  }

  // The connection (or the attempt) failed: close it, fail every request
  // sent on it or waiting for it, and start the backoff for the next one.
  void fail(std::shared_ptr<Conn> c, Cause cause, const char* why) {  // by value: may be `conn`
    if (c->dead) return;
    const bool was_up = c->up;
    shut(*c);
    if (conn == c) conn.reset();
    is_connected = false;
    ++failures;
    next_connect_at = Clock::now() + backoff();
    log()->debug("connection to {}:{} failed ({}); {} in flight, {} waiting", options.host, options.port, why,
                 in_flight.size() + write_no_response.size(), waiting.size());

    const auto rest = make_error_code(cause == Cause::kAuth ? ClientErrc::kAuthenticationFailed
                                      : was_up            ? ClientErrc::kDisconnected
                                                          : ClientErrc::kConnectFailed);
    std::error_code first = rest;
    if (cause == Cause::kTimeout) first = ClientErrc::kTimedOut;
    if (cause == Cause::kBadResponse) first = ClientErrc::kBadResponse;
    for (auto& [cb, ec] : take_pending(first, rest)) run_callback(cb, ec);
  }

  // reconnect.backoff.ms doubling per consecutive failure, capped at
  // reconnect.backoff.max.ms, then ±20% jitter (Kafka's ExponentialBackoff).
  Clock::duration backoff() {
    const int64_t base = std::max<int64_t>(0, options.reconnect_backoff_ms);
    const int64_t cap = std::max<int64_t>(base, options.reconnect_backoff_max_ms);
    double ms = static_cast<double>(base);
    for (int i = 1; i < failures && ms < static_cast<double>(cap); ++i) ms *= 2;
    ms = std::min(ms, static_cast<double>(cap));
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    ms *= jitter(rng);
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(ms));
  }

  // --- from any thread -------------------------------------------------------

  void close() {
    closed = true;
    if (core->on_thread()) {
      do_close();
      return;
    }
    auto self = shared_from_this();
    if (!core->post([self]() { self->do_close(); })) {
      // The runtime stopped; its destructor closed every client it knew.
      std::lock_guard lock(close_mu);
      close_done = true;
    }
    std::unique_lock lock(close_mu);
    close_cv.wait(lock, [this]() { return close_done; });
  }
};

void close_client(Client::Impl& client) { client.close(); }

// ---------------------------------------------------------------------------

Client::Client(ClientRuntime& runtime, ClientOptions options)
    : impl_(std::make_shared<Impl>(runtime.impl().core, std::move(options))) {
  std::unique_lock lock(impl_->core->mu);
  if (!impl_->core->alive) {
    impl_->closed = true;
    impl_->close_started = true;
    impl_->close_done = true;
    return;
  }
  impl_->core->clients.emplace(impl_.get(), impl_);
}

Client::~Client() { close(); }

void Client::send(Bytes frame, int32_t correlation_id, Callback on_response, bool expect_response) {
  auto& impl = *impl_;
  if (impl.closed) {
    // Later sends fail at once, but never inside send(): the caller may hold
    // a lock its callback takes.
    auto cb = std::make_shared<Callback>(std::move(on_response));
    if (!impl.core->post([cb]() { run_callback(*cb, ClientErrc::kClosed); })) run_callback(*cb, ClientErrc::kClosed);
    return;
  }
  auto self = impl_;
  auto queued = std::make_shared<Impl::Queued>(
      Impl::Queued{std::move(frame), correlation_id, std::move(on_response), expect_response});
  if (!impl.core->post([self, queued]() { self->enqueue(std::move(*queued)); })) {
    run_callback(queued->cb, ClientErrc::kClosed);
  }
}

int32_t Client::next_correlation_id() { return impl_->next_correlation_id(); }

void Client::set_address(std::string host, uint16_t port) {
  auto self = impl_;
  impl_->core->post([self, host = std::move(host), port]() mutable { self->change_address(std::move(host), port); });
}

void Client::close() { impl_->close(); }

bool Client::connected() const { return impl_->is_connected.load(); }

}  // namespace keel::net
