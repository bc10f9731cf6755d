#include "net/tls_stream.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

#include <algorithm>
#include <cerrno>
#include <utility>  // boost 1.74 awaitable.hpp uses std::exchange without including it

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace keel::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// A TLS record carries at most 16 KiB: buffers smaller than this are gathered
// before SSL_write so that a response's header pieces share records.
constexpr size_t kGatherBytes = 16 << 10;
// File bytes on the copy path are read and written this much at a time.
constexpr size_t kCopyChunk = 64 << 10;  // kept per connection (staging_): small
// The most plaintext one TLS record carries (RFC 8446 5.1).
constexpr size_t kMaxRecordPlaintext = 16 << 10;
// A read still missing at least kLowWaterMin bytes of ciphertext waits with
// that low-water mark (up to kLowWaterMax): the reader wakes for a few large
// reads, not for each segment a client that writes every 1 KiB record as its
// own TLS record and write(2) makes. The plaintext reader does the same
// (server.cc, Connection::read_body).
constexpr size_t kLowWaterMin = 128 << 10;
constexpr size_t kLowWaterMax = 1 << 20;

boost::system::error_code tls_failure() {
  return boost::system::error_code(EPROTO, boost::system::system_category());
}

}  // namespace

TlsStream::TlsStream(tcp::socket& socket, std::unique_ptr<TlsSession> session)
    : socket_(socket), session_(std::move(session)) {
  socket_.native_non_blocking(true);
}

asio::awaitable<bool> TlsStream::wait(TlsIo io, boost::system::error_code& ec) {
  switch (io) {
    case TlsIo::kWantRead:
      co_await socket_.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
      co_return !ec;
    case TlsIo::kWantWrite:
      co_await socket_.async_wait(tcp::socket::wait_write, asio::redirect_error(asio::use_awaitable, ec));
      co_return !ec;
    case TlsIo::kClosed:
      ec = asio::error::eof;
      co_return false;
    case TlsIo::kError:
      ec = tls_failure();
      co_return false;
    case TlsIo::kOk:
      break;
  }
  co_return true;
}

asio::awaitable<std::string> TlsStream::handshake() {
  boost::system::error_code ec;
  if (session_->is_server()) {
    // A TLS client speaks first, with a handshake record (type 22). Anything
    // else — a plaintext Kafka request begins with its size, 0x00 — is refused
    // at its first byte: OpenSSL would wait for a whole "record" of the
    // length those bytes happen to spell.
    uint8_t first = 0;
    for (;;) {
      const ssize_t n = ::recv(socket_.native_handle(), &first, 1, MSG_PEEK);
      if (n == 1) break;
      if (n == 0) {
        closed_before_hello_ = true;
        co_return "TLS handshake failed: the peer closed the connection before its hello";
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        co_return "TLS handshake failed: " + boost::system::error_code(errno, boost::system::system_category()).message();
      co_await socket_.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return "TLS handshake failed: " + ec.message();
    }
    if (first != 0x16) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", first);
      co_return std::string("TLS handshake failed: the first byte is ") + hex +
             ", not a TLS handshake record (a plaintext client on a TLS listener?)";
    }
  }
  for (;;) {
    const TlsIo io = session_->handshake();
    if (io == TlsIo::kOk) co_return std::string();
    if (!co_await wait(io, ec)) {
      if (!session_->error().empty()) co_return session_->error();
      co_return "TLS handshake failed: " + ec.message();
    }
  }
}

asio::awaitable<size_t> TlsStream::read_some(void* data, size_t size, boost::system::error_code& ec) {
  ec.clear();
  for (;;) {
    size_t got = 0;
    const TlsIo io = session_->read(data, size, &got);
    if (io == TlsIo::kOk) co_return got;
    if (!co_await wait(io, ec)) co_return 0;
  }
}

asio::awaitable<void> TlsStream::read(void* data, size_t size, boost::system::error_code& ec) {
  ec.clear();
  auto* p = static_cast<uint8_t*>(data);
  size_t done = 0;
  // The session takes all the records already received in one call (a
  // producer may send one per 1 KiB record): this frame suspends only to
  // wait for the socket.
  while (done < size) {
    size_t got = 0;
    const TlsIo io = session_->read(p + done, size - done, &got);
    if (io == TlsIo::kOk) {
      done += got;
      continue;
    }
    if (io == TlsIo::kWantRead) set_rcvlowat(size - done);
    if (!co_await wait(io, ec)) break;
  }
  set_rcvlowat(0);
}

void TlsStream::set_rcvlowat(size_t missing) {
  // OpenSSL asks for the socket only once it holds no whole record: what it
  // holds is part of one record, at most kMaxRecordPlaintext of what is
  // missing. The rest comes as at least as many bytes of ciphertext.
  const size_t coming = missing > kMaxRecordPlaintext ? missing - kMaxRecordPlaintext : 0;
  const int want = coming < kLowWaterMin ? 1 : static_cast<int>(std::min(coming, kLowWaterMax));
  if (want == rcvlowat_) return;
  boost::system::error_code ignored;
  socket_.set_option(asio::socket_base::receive_low_watermark(want), ignored);
  rcvlowat_ = want;  // a failure leaves the kernel's 1: only more wake-ups
}

asio::awaitable<void> TlsStream::write_all(const uint8_t* data, size_t size, boost::system::error_code& ec) {
  ec.clear();
  while (size > 0) {
    size_t put = 0;
    const TlsIo io = session_->write(data, size, &put);
    if (io == TlsIo::kOk) {
      data += put;
      size -= put;
      continue;
    }
    if (!co_await wait(io, ec)) co_return;
  }
}

asio::awaitable<void> TlsStream::write(const std::vector<asio::const_buffer>& buffers, boost::system::error_code& ec) {
  ec.clear();
  staging_.clear();
  for (const auto& b : buffers) {
    const auto* p = static_cast<const uint8_t*>(b.data());
    if (b.size() < kGatherBytes) {
      staging_.insert(staging_.end(), p, p + b.size());
      if (staging_.size() < kGatherBytes) continue;
      co_await write_all(staging_.data(), staging_.size(), ec);
      staging_.clear();
      if (ec) co_return;
      continue;
    }
    if (!staging_.empty()) {
      co_await write_all(staging_.data(), staging_.size(), ec);
      staging_.clear();
      if (ec) co_return;
    }
    co_await write_all(p, b.size(), ec);
    if (ec) co_return;
  }
  if (!staging_.empty()) {
    co_await write_all(staging_.data(), staging_.size(), ec);
    staging_.clear();
  }
}

asio::awaitable<bool> TlsStream::send_file(int fd, off_t offset, int64_t length, TlsFileSend& sent,
                                           boost::system::error_code& ec) {
  ec.clear();
  if (session_->ktls_send()) {
    // The kernel holds the keys: file pages go to the socket without a copy
    // into user space, and are encrypted on their way out.
    while (length > 0) {
      size_t put = 0;
      const size_t want = static_cast<size_t>(std::min<int64_t>(length, 1 << 30));
      const TlsIo io = session_->sendfile(fd, offset, want, &put);
      if (io == TlsIo::kOk) {
        offset += static_cast<off_t>(put);
        length -= static_cast<int64_t>(put);
        sent.ktls_bytes += put;
        ++sent.ktls_calls;
        continue;
      }
      if (!co_await wait(io, ec)) co_return false;
    }
    co_return true;
  }
  // No kernel TLS: read the range and encrypt it here (one copy).
  staging_.resize(static_cast<size_t>(std::min<int64_t>(length, kCopyChunk)));
  while (length > 0) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(length, static_cast<int64_t>(staging_.size())));
    const ssize_t n = ::pread(fd, staging_.data(), want, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ec = n < 0 ? boost::system::error_code(errno, boost::system::system_category()) : boost::system::error_code();
      staging_.clear();
      co_return false;
    }
    co_await write_all(staging_.data(), static_cast<size_t>(n), ec);
    if (ec) {
      staging_.clear();
      co_return false;
    }
    offset += n;
    length -= n;
    sent.copy_bytes += static_cast<uint64_t>(n);
  }
  staging_.clear();
  co_return true;
}

}  // namespace keel::net
