#include "net/connection.h"

#include <algorithm>
#include <atomic>
#include <utility>  // boost 1.74 awaitable.hpp uses std::exchange without including it
#include <chrono>
#include <cstring>
#include <optional>
#include <shared_mutex>
#include <system_error>

#include <sys/sendfile.h>
#include <cerrno>

#include <boost/asio/co_spawn.hpp>
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
#include "net/frame.h"
#include "net/tls.h"
#include "net/tls_stream.h"

namespace keel::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

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

using HandlerStrand = asio::strand<asio::thread_pool::executor_type>;

// Bytes of request frames a connection may have read but not yet seen handled
// (queued for, or running on, a handler thread) before its reader pauses:
// enough to read the next large produce request while one is being written to
// the log, little enough that a fast client cannot pile up memory.
constexpr size_t kUnhandledBytesLimit = 4 << 20;

// Request bodies still missing at least kLowWaterMin bytes are received with
// a low-water mark of what is missing, up to kLowWaterMax (ClientConnection::
// read_body): a 1 MiB produce request then wakes the reader a few times, not
// once per 64 KiB segment.
constexpr size_t kLowWaterMin = 128 << 10;
constexpr size_t kLowWaterMax = 1 << 20;

// A plaintext connection reads into a buffer of its own this large: one read
// then brings a small request's size prefix and body, and often the requests
// pipelined behind it, where reading prefix and body apart took two system
// calls per request. Larger bodies go on straight into their frame
// (ClientClientConnection::read_body).
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
class ClientConnection final : public Connection, public std::enable_shared_from_this<ClientConnection> {
 public:
  // `on_gone` runs when the connection object is destroyed (its slot in the
  // connection limits is free again), on whichever thread that happens.
  ClientConnection(tcp::socket socket, ConnectionInfo info, const ServerOptions& options,
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
  ~ClientConnection() override {
    if (on_gone_) on_gone_();
  }

  void start() override {
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
  void drain() override {
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
  void release_handler_strand() override { handler_strand_.reset(); }

  void close() override {
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
      // A connect and close with nothing sent is a load balancer's health
      // check or a port probe; Kafka logs that disconnect at debug too.
      log()->log(tls_->closed_before_hello() ? spdlog::level::debug : spdlog::level::warn,
                 "closing connection {} from {} on {}: {}", info_.id, info_.peer, info_.listener_name, failure);
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
      std::weak_ptr<ClientConnection> weak = self;
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

std::shared_ptr<Connection> Connection::create(tcp::socket socket, ConnectionInfo info, const ServerOptions& options,
                                               RequestHandler& handler, std::shared_ptr<Lifeline> life,
                                               std::function<void()> on_gone, asio::thread_pool* handler_pool,
                                               std::shared_ptr<ListenerTls> tls) {
  return std::make_shared<ClientConnection>(std::move(socket), std::move(info), options, handler, std::move(life),
                                            std::move(on_gone), handler_pool, std::move(tls));
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
