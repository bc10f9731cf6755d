#pragma once
// Inside net only (client.cc, client_runtime.cc): what a ClientRuntime shares
// with its clients. Boost.Asio stays out of client.h.

#include <memory>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <utility>  // boost 1.74 awaitable.hpp uses std::exchange without including it

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "net/client.h"

namespace keel::net {

namespace asio = boost::asio;

// What clients, scheduled timers and cancel functions share with the
// runtime. It outlives the ClientRuntime object when a Client (or a cancel
// function) does; `alive` then says the io_context is gone, and nothing may
// be posted to it. Lock order: Core::mu before nothing else.
struct RuntimeCore {
  std::shared_mutex mu;
  bool alive = true;  // under mu; false once the runtime began to stop
  std::unique_ptr<asio::io_context> io = std::make_unique<asio::io_context>(1);
  std::thread::id thread_id;  // written before any client exists
  // Live clients, for the runtime's destructor to close; under mu.
  std::unordered_map<const Client::Impl*, std::weak_ptr<Client::Impl>> clients;

  // Posts `fn` to the runtime thread; false (and `fn` not run) once the
  // runtime is stopping.
  template <class F>
  bool post(F&& fn) {
    std::shared_lock lock(mu);
    if (!alive) return false;
    asio::post(*io, std::forward<F>(fn));
    return true;
  }
  bool on_thread() const { return std::this_thread::get_id() == thread_id; }
};

struct ClientRuntime::Impl {
  std::shared_ptr<RuntimeCore> core = std::make_shared<RuntimeCore>();
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
};

// Closes a client (Client::Impl lives in client.cc): the runtime's
// destructor closes the clients still alive.
void close_client(Client::Impl& client);

}  // namespace keel::net
