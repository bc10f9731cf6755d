#include "net/server.h"

#include <algorithm>
#include <atomic>
#include <utility>  // boost 1.74 awaitable.hpp uses std::exchange without including it
#include <chrono>
#include <latch>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <system_error>
#include <thread>

#include <pthread.h>
#include <sys/sendfile.h>
#include <cerrno>
#include <cstring>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/log.h"
#include "common/thread_name.h"
#include "net/frame.h"
#include "net/tls.h"
#include "net/tls_stream.h"

namespace keel::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Whether the server's io_contexts still exist. A handler may complete a
// request after the server stopped (a parked fetch answered at shutdown);
// its completion must then be dropped, not posted to a destroyed context.
struct Lifeline {
  std::shared_mutex mu;
  bool alive = true;
};

std::atomic<uint64_t> g_written_bytes{0};
std::atomic<uint64_t> g_sendfile_bytes{0};
std::atomic<uint64_t> g_sendfile_calls{0};
std::atomic<uint64_t> g_tls_written_bytes{0};
std::atomic<uint64_t> g_tls_sendfile_bytes{0};
std::atomic<uint64_t> g_tls_sendfile_calls{0};
std::atomic<uint64_t> g_tls_copy_bytes{0};

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("net");
  return l;
}

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto addr = ep.address();
  if (addr.is_v6()) return "[" + addr.to_string() + "]:" + std::to_string(ep.port());
  return addr.to_string() + ":" + std::to_string(ep.port());
}

using HandlerStrand = asio::strand<asio::thread_pool::executor_type>;

// A TLS listener's context, and whether its log already said which way file
// bytes leave (kernel TLS or the copy): once per listener and path.
struct ListenerTls {
  std::shared_ptr<TlsContext> context;
  std::atomic<bool> told_ktls{false};
  std::atomic<bool> told_copy{false};
};

// Bytes of request frames a connection may have read but not yet seen handled
// (queued for, or running on, a handler thread) before its reader pauses:
// enough to read the next large produce request while one is being written to
// the log, little enough that a fast client cannot pile up memory.
constexpr size_t kUnhandledBytesLimit = 4 << 20;

// Request bodies still missing at least kLowWaterMin bytes are received with
// a low-water mark of what is missing, up to kLowWaterMax (Connection::
// read_body): a 1 MiB produce request then wakes the reader a few times, not
// once per 64 KiB segment.
constexpr size_t kLowWaterMin = 128 << 10;
constexpr size_t kLowWaterMax = 1 << 20;

// A plaintext connection reads into a buffer of its own this large: one read
// then brings a small request's size prefix and body, and often the requests
// pipelined behind it, where reading prefix and body apart took two system
// calls per request. Larger bodies go on straight into their frame
// (Connection::read_body).
constexpr size_t kReadBufferBytes = 16 << 10;

// One client connection. Two coroutines share it on its reactor thread: the
// reader frames requests and hands them to the handler, the writer sends the
// completed responses in request order. Everything here runs on the
// connection's io_context (one thread), so no lock is needed; handler
// completions from other threads are posted back to it.
//
// With handler threads (num.io.threads), the reader posts each request to the
// connection's strand on that pool and reads on: the requests of one
// connection are handled one at a time and in the order they came (a
// producer's batches reach the log in its order), while the next request is
// already being received on the reactor thread.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `on_gone` runs when the connection object is destroyed (its slot in the
  // connection limits is free again), on whichever thread that happens.
  Connection(tcp::socket socket, ConnectionInfo info, const ServerOptions& options,
             RequestHandler& handler, std::shared_ptr<Lifeline> life, std::function<void()> on_gone,
             asio::thread_pool* handler_pool, std::shared_ptr<ListenerTls> tls)
      : socket_(std::move(socket)),
        writer_wake_(socket_.get_executor()),
        reader_wake_(socket_.get_executor()),
        idle_timer_(socket_.get_executor()),
        reactor_(*socket_.get_executor().target<asio::io_context::executor_type>()),
        info_(std::move(info)),
        options_(options),
        handler_(handler),
        life_(std::move(life)),
        on_gone_(std::move(on_gone)),
        listener_tls_(std::move(tls)),
        last_active_(std::chrono::steady_clock::now()) {
    if (handler_pool) handler_strand_.emplace(asio::make_strand(handler_pool->get_executor()));
  }
  ~Connection() {
    if (on_gone_) on_gone_();
  }

  void start() {
    auto self = shared_from_this();
    if (listener_tls_) {
      asio::co_spawn(socket_.get_executor(), [self]() { return self->tls_handshake(); }, asio::detached);
    } else {
      serve();
    }
    asio::co_spawn(socket_.get_executor(), [self]() { return self->idle_loop(); }, asio::detached);
  }

  // Graceful stop: read no more requests (the reader sees end of stream),
  // answer the ones in flight, then close.
  void drain() {
    if (closed_) return;
    draining_ = true;
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_receive, ignored);
    reader_wake_.cancel();
    writer_wake_.cancel();
  }

  // At stop, once the handler threads are joined: the strand lives in the
  // pool's strand service, and this connection may outlive the pool (its
  // coroutines go with its io_context, after the pool). Nothing posts to the
  // strand any more; the requests queued on it go with the pool.
  void release_handler_strand() { handler_strand_.reset(); }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    if (tls_) tls_->shutdown();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    writer_wake_.cancel();
    reader_wake_.cancel();
    idle_timer_.cancel();
  }

 private:
  void serve() {
    auto self = shared_from_this();
    asio::co_spawn(socket_.get_executor(), [self]() { return self->read_loop(); }, asio::detached);
    asio::co_spawn(socket_.get_executor(), [self]() { return self->write_loop(); }, asio::detached);
  }

  // A TLS listener's connection shakes hands first, on its reactor thread
  // without blocking it (waits are async_wait on the socket); a failed
  // handshake is logged with the peer and why, and the connection closes.
  // The client certificate's subject, mapped by ssl.principal.mapping.rules,
  // becomes the connection's principal name.
  asio::awaitable<void> tls_handshake() {
    auto self = shared_from_this();
    const TlsContext& ctx = *listener_tls_->context;
    try {
      tls_ = std::make_unique<TlsStream>(socket_, std::make_unique<TlsSession>(ctx, socket_.native_handle()));
    } catch (const std::exception& e) {
      log()->error("connection {} from {} on {}: {}; closing", info_.id, info_.peer, info_.listener_name, e.what());
      close();
      co_return;
    }
    const std::string failure = co_await tls_->handshake();
    if (closed_) co_return;
    if (!failure.empty()) {
      log()->warn("closing connection {} from {} on {}: {}", info_.id, info_.peer, info_.listener_name, failure);
      close();
      co_return;
    }
    info_.tls = true;
    const std::string subject = tls_->session().peer_subject();
    if (!subject.empty()) {
      std::string why;
      auto name = ctx.principal_name(subject, &why);
      if (!name) {
        log()->warn("closing connection {} from {} on {}: client certificate '{}': ssl.principal.mapping.rules: {}",
                    info_.id, info_.peer, info_.listener_name, subject, why);
        close();
        co_return;
      }
      info_.tls_principal = std::move(*name);
    }
    log()->debug("connection {} from {} on {}: {}{}", info_.id, info_.peer, info_.listener_name,
                 tls_->session().description(),
                 subject.empty() ? std::string(", no client certificate") : ", client certificate '" + subject + "'");
    last_active_ = std::chrono::steady_clock::now();
    serve();
  }

  // connections.max.idle.ms: a connection with no request read and no
  // response written for that long, and nothing in flight, is closed (Kafka's
  // rule; clients reconnect when they next need the broker).
  asio::awaitable<void> idle_loop() {
    auto self = shared_from_this();
    const auto idle = std::chrono::milliseconds(options_.idle_timeout_ms);
    boost::system::error_code ec;
    while (!closed_) {
      idle_timer_.expires_at(last_active_ + idle);
      co_await idle_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (closed_) break;
      if (queue_.in_flight() == 0 && std::chrono::steady_clock::now() - last_active_ >= idle) {
        log()->debug("closing connection {} from {}: idle for {} ms", info_.id, info_.peer,
                     options_.idle_timeout_ms);
        close();
        break;
      }
      // Requests in flight count as activity: look again a full period later.
      const auto now = std::chrono::steady_clock::now();
      if (now - last_active_ >= idle) last_active_ = now;
    }
  }

  asio::awaitable<void> read_loop() {
    auto self = shared_from_this();
    boost::system::error_code ec;
    while (!closed_) {
      // Muted, the connection reads nothing more: neither from the socket
      // nor a request already in its buffer (checked again below, for a
      // mute that comes while this request is being read).
      if (muted()) co_await wait_while_muted();
      if (closed_ || draining_) break;
      uint8_t prefix[4];
      if (tls_) {
        co_await tls_->read(prefix, sizeof prefix, ec);
      } else {
        while (buffered() < sizeof prefix) {
          rbuf_end_ += co_await socket_.async_read_some(buffer_space(),
                                                        asio::redirect_error(asio::use_awaitable, ec));
          if (ec) break;
        }
        if (!ec) {
          std::memcpy(prefix, rbuf_.get() + rbuf_begin_, sizeof prefix);
          rbuf_begin_ += sizeof prefix;
        }
      }
      if (ec) break;
      // The limits in force now, when this request is parsed: an earlier
      // request of the buffer may have moved them (SASL).
      const int32_t limit = frame_limit();
      auto size = check_frame_size(prefix, limit);
      if (!size && size.error() == NetErrc::kFrameTooSmall && info_.state &&
          info_.state->bare_sasl_tokens.load(std::memory_order_relaxed))
        size = static_cast<uint32_t>(load_be<int32_t>(prefix));  // a short (or empty) SASL token
      if (!size) {
        // Kafka closes the connection on an invalid size, before reading on.
        log()->warn("closing connection {} from {}: {} (size {}, limit {})", info_.id, info_.peer,
                    size.error().message(), load_be<int32_t>(prefix), limit);
        close();
        break;
      }
      Frame frame(*size);  // not zero-filled: the reads below write all of it
      if (tls_) {
        // OpenSSL buffers whole records itself.
        co_await tls_->read(frame.data(), frame.size(), ec);
      } else {
        const size_t have = std::min(frame.size(), buffered());
        if (have > 0) std::memcpy(frame.data(), rbuf_.get() + rbuf_begin_, have);
        rbuf_begin_ += have;
        if (have < frame.size()) co_await read_body(frame, have, ec);
      }
      if (ec) break;
      last_active_ = std::chrono::steady_clock::now();

      // Back-pressure: a client pipelining faster than we answer, or than the
      // handler threads take its requests, waits. (The wait ends in a cancel,
      // no read error: kept out of `ec`, which the next request, taken from
      // the buffer without a read, would not clear.)
      while (!closed_ && !draining_ && must_pause()) {
        reader_wake_.expires_at(asio::steady_timer::time_point::max());
        boost::system::error_code wait_ec;
        co_await reader_wake_.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
      }
      if (closed_ || draining_) break;
      if (muted()) co_await wait_while_muted();
      if (closed_ || draining_) break;

      const uint64_t seq = queue_.reserve();
      std::weak_ptr<Connection> weak = self;
      auto done = [weak, executor = reactor_, seq, life = life_, load = options_.load](Response response) {
        // On this connection's reactor thread (a request handled inline,
        // even from inside handle() called just above, or one another of
        // the thread's connections completes) the answer goes straight into
        // the queue: no post, no extra turn of the reactor. complete() only
        // queues it and cancels the writer's wait, which resumes the writer
        // later through the io_context, never from inside this call; the
        // reader's frame was moved to the handler and the reader goes on
        // when handle() returns.
        if (executor.running_in_this_thread()) {
          if (auto conn = weak.lock()) conn->complete(seq, std::move(response));
          return;
        }
        std::shared_lock alive_lock(life->mu);
        if (!life->alive) return;  // the server stopped: nobody to send it to
        if (load) load->response_queue.fetch_add(1, std::memory_order_relaxed);
        asio::post(executor, [weak, seq, load, response = std::move(response)]() mutable {
          if (load) load->response_queue.fetch_sub(1, std::memory_order_relaxed);
          if (auto conn = weak.lock()) conn->complete(seq, std::move(response));
        });
      };
      // With nothing of this connection on the handler threads, a request
      // that never waits is handled right here: no hand-off, and the frame
      // is still in this core's cache.
      if (!handler_strand_ || (unhandled_requests_.load() == 0 && handler_.runs_on_network_thread(frame))) {
        handler_.handle(info_, std::move(frame), std::move(done));
        continue;
      }
      const size_t frame_size = frame.size();
      unhandled_bytes_.fetch_add(frame_size);
      unhandled_requests_.fetch_add(1);
      if (options_.load) options_.load->request_queue.fetch_add(1, std::memory_order_relaxed);
      asio::post(*handler_strand_, [self, frame_size, frame = std::move(frame), done = std::move(done)]() mutable {
        LoadCounters* load = self->options_.load;
        const auto started = load ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        if (load) load->request_queue.fetch_sub(1, std::memory_order_relaxed);
        self->handler_.handle(self->info_, std::move(frame), std::move(done));
        if (load) {
          load->handler_busy_ns.fetch_add(static_cast<uint64_t>((std::chrono::steady_clock::now() - started).count()),
                                          std::memory_order_relaxed);
        }
        self->unhandled_bytes_.fetch_sub(frame_size);
        self->unhandled_requests_.fetch_sub(1);
        // Wake the reader only when it waits for this: one post per request
        // fewer (a wake-up of the reactor thread) on the common path.
        if (!self->reader_waiting_.exchange(false)) return;
        std::shared_lock alive_lock(self->life_->mu);
        if (!self->life_->alive) return;
        asio::post(self->socket_.get_executor(), [self]() { self->reader_wake_.cancel(); });
      });
    }
    if (ec && ec != asio::error::eof && ec != asio::error::operation_aborted &&
        ec != asio::error::connection_reset) {
      log()->debug("connection {} from {}: read failed: {}", info_.id, info_.peer,
                   tls_ && !tls_->session().error().empty() ? tls_->session().error() : ec.message());
    }
    reader_done_ = true;
    writer_wake_.cancel();
  }

  // A client over its quota (ConnectionState::mute_until_ms): until the
  // throttle time is over the reader hands no request to the handler and
  // reads nothing more, from the socket or from its buffer. The handler may
  // extend the time while we wait.
  bool muted() const {
    if (!info_.state) return false;
    const int64_t until = info_.state->mute_until_ms.load(std::memory_order_relaxed);
    return until > 0 &&
           std::chrono::steady_clock::now() < asio::steady_timer::time_point(std::chrono::milliseconds(until));
  }

  asio::awaitable<void> wait_while_muted() {
    if (!info_.state) co_return;
    boost::system::error_code ec;
    for (;;) {
      const int64_t until = info_.state->mute_until_ms.load(std::memory_order_relaxed);
      const auto deadline = asio::steady_timer::time_point(std::chrono::milliseconds(until));
      if (closed_ || draining_ || std::chrono::steady_clock::now() >= deadline) co_return;
      reader_wake_.expires_at(deadline);
      co_await reader_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  // socket.request.max.bytes, or less while the handler keeps a lower limit
  // for this connection (SASL before authentication).
  int32_t frame_limit() const {
    const int32_t own = info_.state ? info_.state->max_frame_bytes.load(std::memory_order_relaxed) : 0;
    return own > 0 ? std::min(own, options_.max_request_bytes) : options_.max_request_bytes;
  }

  // Bytes read into the buffer and not yet taken by a request.
  size_t buffered() const { return rbuf_end_ - rbuf_begin_; }

  // Room to read into after what the buffer holds. Called when it holds less
  // than a size prefix, so those few bytes move to its start first.
  asio::mutable_buffer buffer_space() {
    if (!rbuf_) rbuf_.reset(new uint8_t[kReadBufferBytes]);  // not zero-filled: reads fill it
    const size_t left = buffered();
    if (rbuf_begin_ > 0) {
      std::memmove(rbuf_.get(), rbuf_.get() + rbuf_begin_, left);
      rbuf_begin_ = 0;
      rbuf_end_ = left;
    }
    return asio::buffer(rbuf_.get() + rbuf_end_, kReadBufferBytes - rbuf_end_);
  }

  // Reads the rest of a request body (`got` bytes came from the buffer)
  // straight into its frame, never past its end: what follows stays in the
  // socket for the buffer. A large one is received in few big reads rather
  // than one per segment the sender's kernel delivers: SO_RCVLOWAT asks the
  // kernel to report the socket readable (and wake this thread) only once
  // that many bytes are there. It follows what is still missing of this
  // frame, never more — a wait for bytes the client has not sent would never
  // end — and is back at 1 for the next read into the buffer. The kernel caps
  // it at half the receive buffer and reports readable anyway when the
  // receive window closes. (Plaintext only: over TLS, OpenSSL reads whole
  // records, so a mark counted in plaintext bytes could ask for more than
  // will come.)
  asio::awaitable<void> read_body(Frame& frame, size_t got, boost::system::error_code& ec) {
    set_rcvlowat(frame.size() - got);
    while (got < frame.size()) {
      got += co_await socket_.async_read_some(asio::buffer(frame.data() + got, frame.size() - got),
                                              asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      set_rcvlowat(frame.size() - got);
    }
    if (ec) set_rcvlowat(0);
  }

  void set_rcvlowat(size_t missing) {
    const int want = missing < kLowWaterMin ? 1 : static_cast<int>(std::min(missing, kLowWaterMax));
    if (want == rcvlowat_) return;
    boost::system::error_code ignored;
    socket_.set_option(asio::socket_base::receive_low_watermark(want), ignored);
    rcvlowat_ = want;  // a failure leaves the kernel's 1: only more wake-ups
  }

  // Whether the reader must wait before reading on: too many answers
  // outstanding, or too many bytes handed to the handler threads and not yet
  // handled. For the latter it raises reader_waiting_ and then looks again, so
  // a handler thread finishing in between is either seen here or sees the
  // flag and wakes the reader (both sequentially consistent).
  bool must_pause() {
    if (queue_.in_flight() >= options_.max_in_flight) return true;
    if (unhandled_bytes_.load() < kUnhandledBytesLimit) return false;
    reader_waiting_.store(true);
    if (unhandled_bytes_.load() < kUnhandledBytesLimit) {
      reader_waiting_.store(false);
      return false;
    }
    return true;
  }

  void complete(uint64_t seq, Response response) {
    if (closed_) return;
    queue_.complete(seq, std::move(response));
    writer_wake_.cancel();
  }

  // Writes the chunks with gather writes and the file ranges between them
  // with sendfile(2). False when the connection failed, or a file range came
  // up short (the response would be malformed, so the connection must close).
  asio::awaitable<bool> send_response(const Response& response) {
    boost::system::error_code ec;
    const size_t interleaved = std::min(response.files.size(), response.chunks.size());
    for (size_t i = 0; i < interleaved; ++i) {
      const Bytes& chunk = response.chunks[i];
      if (!chunk.empty()) {
        if (tls_) {
          const std::vector<asio::const_buffer> one{asio::buffer(chunk)};
          co_await tls_->write(one, ec);
          if (ec) co_return false;
          g_tls_written_bytes.fetch_add(chunk.size(), std::memory_order_relaxed);
        } else {
          co_await asio::async_write(socket_, asio::buffer(chunk),
                                     asio::redirect_error(asio::use_awaitable, ec));
          if (ec) co_return false;
          g_written_bytes.fetch_add(chunk.size(), std::memory_order_relaxed);
        }
      }
      if (!co_await send_file(response.files[i])) co_return false;
    }
    // The rest in one gather write.
    std::vector<asio::const_buffer> buffers;
    size_t total = 0;
    for (size_t i = interleaved; i < response.chunks.size(); ++i) {
      buffers.emplace_back(asio::buffer(response.chunks[i]));
      total += response.chunks[i].size();
    }
    if (total > 0 && tls_) {
      co_await tls_->write(buffers, ec);
      if (ec) co_return false;
      g_tls_written_bytes.fetch_add(total, std::memory_order_relaxed);
    } else if (total > 0) {
      co_await asio::async_write(socket_, buffers, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return false;
      g_written_bytes.fetch_add(total, std::memory_order_relaxed);
    }
    co_return true;
  }

  asio::awaitable<bool> send_file(const FileChunk& file) {
    if (file.length <= 0) co_return true;
    if (tls_) co_return co_await send_file_tls(file);
    socket_.native_non_blocking(true);
    off_t offset = static_cast<off_t>(file.offset);
    int64_t left = file.length;
    boost::system::error_code ec;
    while (left > 0) {
      const size_t want = static_cast<size_t>(std::min<int64_t>(left, 1 << 30));
      const ssize_t n = ::sendfile(socket_.native_handle(), file.fd, &offset, want);
      if (n > 0) {
        left -= n;
        g_sendfile_bytes.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
        g_sendfile_calls.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        co_await socket_.async_wait(tcp::socket::wait_write,
                                    asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return false;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) {
        log()->error("connection {} from {}: file {} ended {} bytes early while sending a response; closing",
                     info_.id, info_.peer, file.fd, left);
      } else {
        log()->debug("connection {} from {}: sendfile failed: {}", info_.id, info_.peer, std::strerror(errno));
      }
      co_return false;
    }
    co_return true;
  }

  // A file range on a TLS connection: kernel TLS when the kernel took the
  // session's keys, else read + SSL_write; the listener's log says once which.
  asio::awaitable<bool> send_file_tls(const FileChunk& file) {
    TlsFileSend sent;
    boost::system::error_code ec;
    const bool ok = co_await tls_->send_file(file.fd, static_cast<off_t>(file.offset), file.length, sent, ec);
    g_tls_sendfile_bytes.fetch_add(sent.ktls_bytes, std::memory_order_relaxed);
    g_tls_sendfile_calls.fetch_add(sent.ktls_calls, std::memory_order_relaxed);
    g_tls_copy_bytes.fetch_add(sent.copy_bytes, std::memory_order_relaxed);
    if (sent.ktls_bytes > 0 && !listener_tls_->told_ktls.exchange(true)) {
      log()->info("listener {}: record bytes leave by kernel TLS (SSL_sendfile, no copy)", info_.listener_name);
    }
    if (sent.copy_bytes > 0 && !listener_tls_->told_copy.exchange(true)) {
      log()->info("listener {}: record bytes leave by read + SSL_write (the kernel did not take the TLS keys: "
                  "no kTLS)", info_.listener_name);
    }
    if (!ok && !ec) {
      log()->error("connection {} from {}: file {} ended early while sending a response; closing", info_.id,
                   info_.peer, file.fd);
    } else if (!ok && ec != asio::error::eof) {
      log()->debug("connection {} from {}: sending a file range over TLS failed: {}", info_.id, info_.peer,
                   tls_->session().error().empty() ? ec.message() : tls_->session().error());
    }
    co_return ok;
  }

  asio::awaitable<void> write_loop() {
    auto self = shared_from_this();
    boost::system::error_code ec;
    while (!closed_) {
      auto ready = queue_.take_ready();
      if (!ready.empty()) reader_wake_.cancel();
      for (auto& response : ready) {
        if (response.delay_ms > 0) {
          asio::steady_timer delay(socket_.get_executor(), std::chrono::milliseconds(response.delay_ms));
          co_await delay.async_wait(asio::redirect_error(asio::use_awaitable, ec));
          if (closed_) co_return;
        }
        if (!response.chunks.empty()) {
          if (!co_await send_response(response)) {
            close();
            co_return;
          }
          last_active_ = std::chrono::steady_clock::now();
        }
        if (response.close_after) {
          close();
          co_return;
        }
      }
      // Responses that completed while these were being sent cancelled a
      // wait that was not pending (the cancel is lost): look again before
      // sleeping, or a pipelined request's answer waits for the next one.
      if (!ready.empty()) continue;
      if (reader_done_ && queue_.in_flight() == 0) {
        close();
        co_return;
      }
      writer_wake_.expires_at(asio::steady_timer::time_point::max());
      co_await writer_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  tcp::socket socket_;
  asio::steady_timer writer_wake_;  // cancelled when a response completes
  asio::steady_timer reader_wake_;  // cancelled when responses leave the queue
  asio::steady_timer idle_timer_;
  asio::io_context::executor_type reactor_;  // the socket's: this connection's reactor thread
  ConnectionInfo info_;
  const ServerOptions& options_;
  RequestHandler& handler_;
  std::shared_ptr<Lifeline> life_;
  std::function<void()> on_gone_;
  std::shared_ptr<ListenerTls> listener_tls_;  // null: a plaintext listener
  std::unique_ptr<TlsStream> tls_;              // set once the TLS handshake starts
  std::optional<HandlerStrand> handler_strand_;  // unset: handlers run on the reactor thread
  // Bytes of frames posted to the strand whose handle() has not returned;
  // written by the reader and the handler threads.
  std::atomic<size_t> unhandled_bytes_{0};
  std::atomic<bool> reader_waiting_{false};  // the reader waits for unhandled_bytes_ to fall
  std::atomic<int> unhandled_requests_{0};   // their count: 0 = the strand is idle
  std::chrono::steady_clock::time_point last_active_;
  ResponseQueue queue_;
  bool closed_ = false;
  bool draining_ = false;  // stop() is draining: read no more requests
  int rcvlowat_ = 1;       // SO_RCVLOWAT as last set (read_body)
  // Plaintext reads land here (kReadBufferBytes, allocated at the first);
  // [rbuf_begin_, rbuf_end_) is read and not yet taken by a request.
  std::unique_ptr<uint8_t[]> rbuf_;
  size_t rbuf_begin_ = 0;
  size_t rbuf_end_ = 0;
  bool reader_done_ = false;
};

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
                    "(max.connections {}, max.connections.per.ip {})",
                    info.peer, listener_name, options.max_connections,
                    options.max_connections_per_ip);
        boost::system::error_code ignored;
        socket.close(ignored);
        continue;
      }
      info.listener_name = listener_name;
      info.state->max_frame_bytes.store(unauthenticated_max_frame_bytes, std::memory_order_relaxed);
      info.local_port = acceptor.local_endpoint(ep_ec).port();
      log()->debug("connection {} from {} on {}", info.id, info.peer, listener_name);
      auto conn = std::make_shared<Connection>(std::move(socket), std::move(info), options, handler, life,
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
    if (at_limit_locked(listener) || per_ip >= options.max_connections_per_ip) {
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

IoCounters io_counters() {
  IoCounters c;
  c.written_bytes = g_written_bytes.load(std::memory_order_relaxed);
  c.sendfile_bytes = g_sendfile_bytes.load(std::memory_order_relaxed);
  c.sendfile_calls = g_sendfile_calls.load(std::memory_order_relaxed);
  c.tls_written_bytes = g_tls_written_bytes.load(std::memory_order_relaxed);
  c.tls_sendfile_bytes = g_tls_sendfile_bytes.load(std::memory_order_relaxed);
  c.tls_sendfile_calls = g_tls_sendfile_calls.load(std::memory_order_relaxed);
  c.tls_copy_bytes = g_tls_copy_bytes.load(std::memory_order_relaxed);
  return c;
}

}  // namespace keel::net
