#include "controller/channel_manager.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "common/log.h"
#include "protocol/generated/api.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"

namespace keel::controller {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("controller-channel");
  return l;
}

}  // namespace

struct ChannelManager::State : std::enable_shared_from_this<State> {
  struct Request {
    int16_t api_key;
    int16_t version;
    Bytes body;
    Callback callback;
  };
  struct Channel {
    coord::BrokerEndpoint endpoint;
    std::shared_ptr<net::Client> client;
    std::deque<Request> queue;
    bool in_flight = false;
    bool failing = false;     // the front request failed and waits for its retry
    uint64_t hold = 0;        // nonzero while held (hold_for): which hold, so a stale timer releases nothing
    uint64_t generation = 0;  // a replaced channel's late callbacks are dropped
  };
  // What to hand to a client outside the lock.
  struct Send {
    std::shared_ptr<net::Client> client;
    Bytes frame;
    int32_t correlation_id = 0;
    int32_t broker = -1;
    uint64_t generation = 0;
    int16_t api_key = 0;
    int16_t version = 0;
  };

  net::ClientRuntime& runtime;
  const ChannelOptions options;
  std::mutex mu;
  std::condition_variable idle;  // a queue emptied or its channel went
  std::map<int32_t, Channel> channels;
  uint64_t next_generation = 1;
  // The local broker's requests run here, one at a time: a thread of its
  // own, as each remote broker has its connection, so a long one (becoming
  // leader of thousands of partitions) holds neither the event thread nor
  // the remote brokers' responses. Guarded by `mu`; gone after stop().
  std::unique_ptr<net::ClientRuntime> local_runtime;

  State(net::ClientRuntime& r, ChannelOptions o) : runtime(r), options(std::move(o)) {
    if (options.local) local_runtime = std::make_unique<net::ClientRuntime>("keel-ctrl-self");
  }

  // Whether `broker`'s channel is still the one a request was taken from.
  bool current_locked(int32_t broker, uint64_t generation) const {
    auto it = channels.find(broker);
    return it != channels.end() && it->second.generation == generation;
  }

  std::shared_ptr<net::Client> connect(const coord::BrokerEndpoint& ep) {
    net::ClientOptions co;
    co.host = ep.host;
    co.port = static_cast<uint16_t>(ep.port);
    co.request_timeout_ms = options.request_timeout_ms;
    co.max_in_flight = 1;
    return std::make_shared<net::Client>(runtime, co);
  }

  // Takes the front request of `broker`'s queue for sending, when none is in flight.
  std::optional<Send> next_locked(int32_t broker, Channel& c) {
    if (c.in_flight || c.hold != 0 || c.queue.empty()) return std::nullopt;
    c.in_flight = true;
    const Request& r = c.queue.front();
    Send s;
    s.client = c.client;
    s.correlation_id = c.client->next_correlation_id();
    s.broker = broker;
    s.generation = c.generation;
    s.api_key = r.api_key;
    s.version = r.version;
    protocol::RequestHeader header;
    header.request_api_key = r.api_key;
    header.request_api_version = r.version;
    header.correlation_id = s.correlation_id;
    header.client_id = "controller-" + std::to_string(options.controller_id);
    ByteWriter w(64 + r.body.size());
    header.encode(w, protocol::request_header_version(r.api_key, r.version));
    w.write_bytes(ByteView(r.body));
    s.frame = Bytes(w.buffer().begin(), w.buffer().end());
    return s;
  }

  void dispatch(std::optional<Send> s) {
    if (!s) return;
    std::weak_ptr<State> weak = weak_from_this();
    const int32_t broker = s->broker;
    const uint64_t generation = s->generation;
    const int16_t api_key = s->api_key, version = s->version;
    auto done = [weak, broker, generation, api_key, version](Result<Bytes> frame) {
      if (auto self = weak.lock()) self->on_response(broker, generation, api_key, version, std::move(frame));
    };
    if (broker == options.local_broker_id && options.local) {
      dispatch_local(broker, generation, std::move(s->frame), std::move(done));
      return;
    }
    s->client->send(std::move(s->frame), s->correlation_id, std::move(done));
  }

  void dispatch_local(int32_t broker, uint64_t generation, Bytes frame, std::function<void(Result<Bytes>)> done) {
    std::weak_ptr<State> weak = weak_from_this();
    // The answer goes to the client runtime's thread, where every callback runs.
    auto answered = [weak, done = std::move(done)](Result<Bytes> frame) {
      auto self = weak.lock();
      if (!self) return;
      self->runtime.post([done, frame = std::move(frame)]() mutable { done(std::move(frame)); });
    };
    std::lock_guard lock(mu);
    if (!local_runtime) return;  // stopped
    local_runtime->post(
        [weak, broker, generation, frame = std::move(frame), answered = std::move(answered)]() mutable {
          auto self = weak.lock();
          if (!self) return;
          {
            // Dropped (a resignation) while it waited: not for this broker any more.
            std::lock_guard lock(self->mu);
            if (!self->current_locked(broker, generation)) return;
          }
          self->options.local(std::move(frame), std::move(answered));
        });
  }

  void on_response(int32_t broker, uint64_t generation, int16_t api_key, int16_t version, Result<Bytes> frame) {
    Result<Bytes> body = Bytes{};
    if (frame) {
      ByteReader r{ByteView(*frame)};
      protocol::ResponseHeader header;
      if (auto res = header.decode(r, protocol::response_header_version(api_key, version)); !res) {
        body = res.error();
      } else {
        auto rest = r.read_view(r.remaining());
        body = Bytes(rest.begin(), rest.end());
      }
    } else {
      body = frame.error();
    }
    Callback callback;
    std::optional<Send> next;
    {
      std::lock_guard lock(mu);
      if (!current_locked(broker, generation)) return;
      Channel& c = channels.at(broker);
      if (!body) {
        // Sent again after the backoff, as long as the broker stays live.
        const auto* api = protocol::find_api(api_key);
        log()->warn("{} request to broker {} failed ({}); retrying in {} ms", api ? api->name : "unknown", broker,
                    body.error().message(), options.retry_backoff_ms);
        c.failing = true;
        idle.notify_all();
        std::weak_ptr<State> weak = weak_from_this();
        runtime.schedule(std::chrono::milliseconds(options.retry_backoff_ms), [weak, broker, generation] {
          auto self = weak.lock();
          if (!self) return;
          std::optional<Send> again;
          {
            std::lock_guard lock(self->mu);
            if (!self->current_locked(broker, generation)) return;
            Channel& c = self->channels.at(broker);
            c.in_flight = false;
            again = self->next_locked(broker, c);
          }
          self->dispatch(std::move(again));
        });
        return;
      }
      callback = std::move(c.queue.front().callback);
      c.queue.pop_front();
      c.in_flight = false;
      c.failing = false;
      next = next_locked(broker, c);
      if (c.queue.empty()) idle.notify_all();
    }
    if (callback) callback(std::move(body));
    dispatch(std::move(next));
  }
};

ChannelManager::ChannelManager(net::ClientRuntime& runtime, ChannelOptions options)
    : state_(std::make_shared<State>(runtime, std::move(options))) {}

ChannelManager::~ChannelManager() { stop(); }

void ChannelManager::set_brokers(const std::map<int32_t, coord::BrokerRegistration>& brokers) {
  std::vector<std::shared_ptr<net::Client>> closing;  // closed outside the lock: closing fails their callbacks
  std::vector<std::optional<State::Send>> sends;
  {
    std::lock_guard lock(state_->mu);
    for (auto it = state_->channels.begin(); it != state_->channels.end();) {
      if (!brokers.contains(it->first)) {
        closing.push_back(std::move(it->second.client));
        it = state_->channels.erase(it);
        state_->idle.notify_all();
      } else {
        ++it;
      }
    }
    for (const auto& [id, reg] : brokers) {
      const coord::BrokerEndpoint* ep = nullptr;
      for (const auto& e : reg.endpoints) {
        if (e.listener_name == state_->options.listener_name) ep = &e;
      }
      if (!ep) {
        log()->error("broker {} has no '{}' endpoint (inter.broker.listener.name); the controller cannot reach it",
                     id, state_->options.listener_name);
        continue;
      }
      auto it = state_->channels.find(id);
      if (it != state_->channels.end() && it->second.endpoint == *ep) continue;
      if (it == state_->channels.end()) {
        it = state_->channels.emplace(id, State::Channel{}).first;
      } else {
        // A new endpoint: what was in flight is sent again to the new address.
        closing.push_back(std::move(it->second.client));
        it->second.in_flight = false;
      }
      it->second.endpoint = *ep;
      it->second.client = state_->connect(*ep);
      it->second.generation = state_->next_generation++;
      sends.push_back(state_->next_locked(id, it->second));
    }
  }
  for (auto& c : closing) {
    if (c) c->close();
  }
  for (auto& s : sends) state_->dispatch(std::move(s));
}

void ChannelManager::send(int32_t broker, int16_t api_key, int16_t version, Bytes body, Callback callback) {
  std::optional<State::Send> s;
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->channels.find(broker);
    if (it == state_->channels.end()) return;
    it->second.queue.push_back({api_key, version, std::move(body), std::move(callback)});
    s = state_->next_locked(broker, it->second);
  }
  state_->dispatch(std::move(s));
}

void ChannelManager::clear() {
  std::vector<std::shared_ptr<net::Client>> closing;
  {
    std::lock_guard lock(state_->mu);
    for (auto& [id, c] : state_->channels) closing.push_back(std::move(c.client));
    state_->channels.clear();
    state_->idle.notify_all();
  }
  for (auto& c : closing) {
    if (c) c->close();
  }
}

void ChannelManager::stop() {
  clear();
  std::unique_ptr<net::ClientRuntime> local;
  {
    std::lock_guard lock(state_->mu);
    local = std::move(state_->local_runtime);
  }
  // Joins the local thread, outside the lock: the request it is handling
  // ends first (its answer finds no channel), one still waiting finds none
  // and does not start.
  local.reset();
}

void ChannelManager::hold_for(int32_t broker, std::chrono::milliseconds limit) {
  uint64_t hold = 0;
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->channels.find(broker);
    if (it == state_->channels.end()) return;
    hold = it->second.hold = state_->next_generation++;
  }
  std::weak_ptr<State> weak = state_;
  state_->runtime.schedule(limit, [weak, broker, hold, limit] {
    auto self = weak.lock();
    if (!self) return;
    std::optional<State::Send> s;
    {
      std::lock_guard lock(self->mu);
      auto it = self->channels.find(broker);
      if (it == self->channels.end() || it->second.hold != hold) return;  // released, or held again since
      log()->warn("requests to broker {} held for {} ms: sending them", broker, limit.count());
      it->second.hold = 0;
      s = self->next_locked(broker, it->second);
    }
    self->dispatch(std::move(s));
  });
}

void ChannelManager::release(int32_t broker) {
  std::optional<State::Send> s;
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->channels.find(broker);
    if (it == state_->channels.end() || it->second.hold == 0) return;
    it->second.hold = 0;
    s = state_->next_locked(broker, it->second);
  }
  state_->dispatch(std::move(s));
}

size_t ChannelManager::pending(int32_t broker) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->channels.find(broker);
  return it == state_->channels.end() ? 0 : it->second.queue.size();
}

bool ChannelManager::wait_idle(int32_t broker, std::chrono::milliseconds timeout, bool or_failing) const {
  std::unique_lock lock(state_->mu);
  return state_->idle.wait_for(lock, timeout, [&] {
    auto it = state_->channels.find(broker);
    return it == state_->channels.end() || it->second.queue.empty() || (or_failing && it->second.failing);
  });
}

}  // namespace keel::controller
