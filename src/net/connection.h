#pragma once
// One client connection of net::Server: its TLS handshake, the reader that
// frames requests and hands them to the handler, the writer that sends the
// answers in request order (chunks, sendfile ranges), back-pressure, quota
// mutes and the idle timer, all on the connection's reactor thread
// (connection.cc). Private to net/: server.cc accepts the socket, counts it
// against the connection limits and drives it through this interface.

#include <atomic>
#include <functional>
#include <memory>
#include <shared_mutex>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>

#include "net/server.h"

namespace keel::net {

// Whether the server's io_contexts still exist. A handler may complete a
// request after the server stopped (a parked fetch answered at shutdown);
// its completion must then be dropped, not posted to a destroyed context.
struct Lifeline {
  std::shared_mutex mu;
  bool alive = true;
};

// A TLS listener's context, and whether its log already said which way file
// bytes leave (kernel TLS or the copy): once per listener and path.
struct ListenerTls {
  std::shared_ptr<TlsContext> context;
  std::atomic<bool> told_ktls{false};
  std::atomic<bool> told_copy{false};
};

class Connection {
 public:
  // `on_gone` runs when the connection object is destroyed (its slot in the
  // connection limits is free again), on whichever thread that happens.
  // `handler_pool` null: requests are handled on the reactor thread. `tls`
  // null: a plaintext listener.
  static std::shared_ptr<Connection> create(boost::asio::ip::tcp::socket socket, ConnectionInfo info,
                                            const ServerOptions& options, RequestHandler& handler,
                                            std::shared_ptr<Lifeline> life, std::function<void()> on_gone,
                                            boost::asio::thread_pool* handler_pool, std::shared_ptr<ListenerTls> tls);
  virtual ~Connection() = default;

  // On the socket's io_context: the TLS handshake (on a TLS listener), then
  // the reader and the writer; and the idle timer.
  virtual void start() = 0;
  // Graceful stop: read no more requests, answer the ones in flight, then close.
  virtual void drain() = 0;
  // At stop, once the handler threads are joined (Server::stop says why).
  virtual void release_handler_strand() = 0;
  virtual void close() = 0;
};

}  // namespace keel::net
