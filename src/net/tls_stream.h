#pragma once
// Private to net (server.cc, client.cc and their tests): a TlsSession driven
// by Asio coroutines on a tcp::socket. Every call waits for the socket's
// readiness (async_wait) when OpenSSL asks for it, so a handshake or a slow
// peer never blocks the reactor thread.
//
// A connection's reader and writer may use one TlsStream at once from two
// coroutines of the same thread (never two threads): OpenSSL allows SSL_read
// and SSL_write to interleave, and renegotiation, the one thing that would
// make a write wait for a read, is off (tls.cc).
//
// Every call that takes an error_code clears it first and sets it only when
// it fails, as Asio's redirect_error does: callers reuse one error_code for
// other waits (the server's reader keeps the operation_aborted of its
// back-pressure wake-up in it), and a stale value must not read as a failed
// read. (It once did: every connection that paused for back-pressure was
// closed after its next read, and TLS produce fell to a few MB/s as the
// client reconnected.)

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>  // boost 1.74 awaitable.hpp uses std::exchange without including it
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "net/tls.h"

namespace keel::net {

// How one file range left: counted by the caller (IoCounters).
struct TlsFileSend {
  uint64_t ktls_bytes = 0;  // SSL_sendfile: the kernel encrypted them
  uint64_t ktls_calls = 0;
  uint64_t copy_bytes = 0;  // pread + SSL_write
};

class TlsStream {
 public:
  // The socket must be connected; it is switched to non-blocking mode.
  TlsStream(boost::asio::ip::tcp::socket& socket, std::unique_ptr<TlsSession> session);

  TlsSession& session() { return *session_; }

  // "" once the handshake finished, else why it failed (OpenSSL's reason).
  boost::asio::awaitable<std::string> handshake();
  // The handshake failed because the peer closed without sending a byte: a
  // TCP health check or a port probe, not a client that tried TLS.
  bool closed_before_hello() const { return closed_before_hello_; }
  // Some bytes (at least one); ec eof when the peer closed.
  boost::asio::awaitable<size_t> read_some(void* data, size_t size, boost::system::error_code& ec);
  // All of `size`. A long read (a request body) waits for the socket with a
  // low-water mark of what must still arrive, so the reader wakes a few
  // times, not once per segment; it is back at 1 when the read returns.
  boost::asio::awaitable<void> read(void* data, size_t size, boost::system::error_code& ec);
  // All of the buffers; small ones are gathered into one TLS record.
  boost::asio::awaitable<void> write(const std::vector<boost::asio::const_buffer>& buffers,
                                     boost::system::error_code& ec);
  // `length` bytes of `fd` from `offset`: with kernel TLS when the session
  // has it (SSL_sendfile), else read and SSL_write. False when the connection
  // failed (ec set) or the file ended early (ec clear).
  boost::asio::awaitable<bool> send_file(int fd, off_t offset, int64_t length, TlsFileSend& sent,
                                         boost::system::error_code& ec);
  // Sends close_notify when the socket takes it at once.
  void shutdown() { session_->shutdown(); }

 private:
  // Waits for what `io` asks; false (ec set) when it is an end or an error.
  boost::asio::awaitable<bool> wait(TlsIo io, boost::system::error_code& ec);
  boost::asio::awaitable<void> write_all(const uint8_t* data, size_t size, boost::system::error_code& ec);
  // SO_RCVLOWAT for a read still missing `missing` bytes of plaintext (0: back to 1).
  void set_rcvlowat(size_t missing);

  boost::asio::ip::tcp::socket& socket_;
  std::unique_ptr<TlsSession> session_;
  std::vector<uint8_t> staging_;  // small buffers gathered into one record; file bytes on the copy path
  int rcvlowat_ = 1;              // the socket's SO_RCVLOWAT (the kernel's default at first)
  bool closed_before_hello_ = false;
};

}  // namespace keel::net
