#include "controller/channel_manager.h"

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
  std::map<int32_t, Channel> channels;
  uint64_t next_generation = 1;

  State(net::ClientRuntime& r, ChannelOptions o) : runtime(r), options(std::move(o)) {}

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
    if (c.in_flight || c.queue.empty()) return std::nullopt;
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
      options.local(std::move(s->frame), std::move(done));
      return;
    }
    s->client->send(std::move(s->frame), s->correlation_id,
                    [weak, broker, generation, api_key, version](Result<Bytes> frame) {
                      if (auto self = weak.lock()) self->on_response(broker, generation, api_key, version, std::move(frame));
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
      auto it = channels.find(broker);
      if (it == channels.end() || it->second.generation != generation) return;
      Channel& c = it->second;
      if (!body) {
        // Sent again after the backoff, as long as the broker stays live.
        const auto* api = protocol::find_api(api_key);
        log()->warn("{} request to broker {} failed ({}); retrying in {} ms", api ? api->name : "unknown", broker,
                    body.error().message(), options.retry_backoff_ms);
        std::weak_ptr<State> weak = weak_from_this();
        runtime.schedule(std::chrono::milliseconds(options.retry_backoff_ms), [weak, broker, generation] {
          auto self = weak.lock();
          if (!self) return;
          std::optional<Send> again;
          {
            std::lock_guard lock(self->mu);
            auto it = self->channels.find(broker);
            if (it == self->channels.end() || it->second.generation != generation) return;
            it->second.in_flight = false;
            again = self->next_locked(broker, it->second);
          }
          self->dispatch(std::move(again));
        });
        return;
      }
      callback = std::move(c.queue.front().callback);
      c.queue.pop_front();
      c.in_flight = false;
      next = next_locked(broker, c);
    }
    if (callback) callback(std::move(body));
    dispatch(std::move(next));
  }
};

ChannelManager::ChannelManager(net::ClientRuntime& runtime, ChannelOptions options)
    : state_(std::make_shared<State>(runtime, std::move(options))) {}

ChannelManager::~ChannelManager() { clear(); }

void ChannelManager::set_brokers(const std::map<int32_t, coord::BrokerRegistration>& brokers) {
  std::vector<std::shared_ptr<net::Client>> closing;  // closed outside the lock: closing fails their callbacks
  std::vector<std::optional<State::Send>> sends;
  {
    std::lock_guard lock(state_->mu);
    for (auto it = state_->channels.begin(); it != state_->channels.end();) {
      if (!brokers.contains(it->first)) {
        closing.push_back(std::move(it->second.client));
        it = state_->channels.erase(it);
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
  }
  for (auto& c : closing) {
    if (c) c->close();
  }
}

size_t ChannelManager::pending(int32_t broker) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->channels.find(broker);
  return it == state_->channels.end() ? 0 : it->second.queue.size();
}

}  // namespace keel::controller
