// ClientRuntime (client.h): the io_context thread of the broker's own
// connections, and the process-wide TLS and SASL defaults of its clients.

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "common/assert.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "net/client_runtime.h"

namespace keel::net {

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("net");
  return l;
}

std::mutex g_default_tls_mu;
std::shared_ptr<TlsContext> g_default_tls;  // under g_default_tls_mu
std::shared_ptr<const ClientSasl> g_default_sasl;  // under g_default_tls_mu
}  // namespace

void set_default_client_tls(std::shared_ptr<TlsContext> tls) {
  std::lock_guard lock(g_default_tls_mu);
  g_default_tls = std::move(tls);
}

std::shared_ptr<TlsContext> default_client_tls() {
  std::lock_guard lock(g_default_tls_mu);
  return g_default_tls;
}

void set_default_client_sasl(std::shared_ptr<const ClientSasl> sasl) {
  std::lock_guard lock(g_default_tls_mu);
  g_default_sasl = std::move(sasl);
}

std::shared_ptr<const ClientSasl> default_client_sasl() {
  std::lock_guard lock(g_default_tls_mu);
  return g_default_sasl;
}

ClientRuntime::ClientRuntime(std::string name) : impl_(std::make_unique<Impl>()) {
  auto core = impl_->core;
  impl_->work = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
      core->io->get_executor());
  std::mutex started_mu;
  std::condition_variable started_cv;
  bool started = false;
  impl_->thread = std::thread([core, name, &started_mu, &started_cv, &started]() {
    set_thread_name(name);
    core->thread_id = std::this_thread::get_id();
    {
      // Notified under the lock: the constructor's stack (the condition
      // variable) is gone once its wait returns.
      std::lock_guard lock(started_mu);
      started = true;
      started_cv.notify_one();
    }
    for (;;) {
      try {
        core->io->run();
        break;
      } catch (const std::exception& e) {
        log()->error("client runtime {}: a task threw: {}", name, e.what());
      } catch (...) {
        log()->error("client runtime {}: a task threw a non-standard exception", name);
      }
    }
  });
  std::unique_lock lock(started_mu);
  started_cv.wait(lock, [&]() { return started; });
}

ClientRuntime::~ClientRuntime() {
  auto& core = *impl_->core;
  KEEL_ASSERT(!core.on_thread(), "a ClientRuntime destroyed on its own thread");
  // Close every client: their pending requests fail (callbacks run) while
  // the thread still runs.
  std::vector<std::shared_ptr<Client::Impl>> clients;
  {
    std::shared_lock lock(core.mu);
    for (auto& [ptr, weak] : core.clients) {
      if (auto c = weak.lock()) clients.push_back(std::move(c));
    }
  }
  for (auto& c : clients) close_client(*c);
  clients.clear();
  {
    std::unique_lock lock(core.mu);
    core.alive = false;
  }
  // Run what was posted before (sends racing with this fail with kClosed),
  // then stop; scheduled functions not yet due are dropped.
  // A few rounds: what the thread posts while running a round's handlers
  // comes after that round's marker.
  std::function<void(int)> stop_after;
  asio::io_context* io = core.io.get();
  stop_after = [io, &stop_after](int rounds) {
    if (rounds == 0) {
      io->stop();
      return;
    }
    asio::post(*io, [&stop_after, rounds]() { stop_after(rounds - 1); });
  };
  stop_after(4);
  impl_->work.reset();
  impl_->thread.join();
  // Destroying the context destroys the handlers still queued, and with them
  // the connections they hold.
  core.io.reset();
}

void ClientRuntime::post(std::function<void()> fn) {
  impl_->core->post(std::move(fn));
}

std::function<void()> ClientRuntime::schedule(std::chrono::milliseconds delay, std::function<void()> fn) {
  // Exactly one of "fn runs" and "cancelled" wins the flag.
  auto done = std::make_shared<std::atomic<bool>>(false);
  auto core = impl_->core;
  // The timer is made on the runtime thread (timers are not thread-safe);
  // the cancel function reaches it only through a weak pointer posted there.
  auto weak_slot = std::make_shared<std::weak_ptr<asio::steady_timer>>();
  core->post([core, delay, fn = std::move(fn), done, weak_slot]() mutable {
    if (done->load()) return;
    auto t = std::make_shared<asio::steady_timer>(*core->io, delay);
    *weak_slot = t;
    t->async_wait([t, fn = std::move(fn), done](const boost::system::error_code& ec) {
      if (ec || done->exchange(true)) return;
      fn();
    });
  });
  return [core, done, weak_slot]() {
    if (done->exchange(true)) return;
    core->post([weak_slot]() {
      if (auto t = weak_slot->lock()) t->cancel();
    });
  };
}

bool ClientRuntime::on_runtime_thread() const { return impl_->core->on_thread(); }

}  // namespace keel::net
