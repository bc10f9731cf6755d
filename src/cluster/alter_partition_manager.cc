#include "cluster/alter_partition_manager.h"

#include <optional>
#include <vector>

#include "common/log.h"
#include "protocol/generated/alter_partition_request.h"
#include "protocol/generated/alter_partition_response.h"
#include "protocol/generated/api.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"

namespace keel::cluster {
namespace {

using protocol::ErrorCode;

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("alter-partition");
  return l;
}

// v1: topics by name, the new ISR as broker ids.
constexpr int16_t kVersion = 1;

}  // namespace

struct AlterPartitionManager::State : std::enable_shared_from_this<State> {
  struct Item {
    Partition::IsrChange change;
    Callback done;
  };

  net::ClientRuntime& runtime;
  const AlterPartitionOptions options;
  const MetadataCache& metadata;
  std::mutex mu;
  std::deque<Item> waiting;
  bool in_flight = false;
  std::unique_ptr<net::Client> client;
  std::pair<std::string, int32_t> client_address;

  State(net::ClientRuntime& r, AlterPartitionOptions o, const MetadataCache& m)
      : runtime(r), options(std::move(o)), metadata(m) {}

  void send() {
    std::vector<Item> batch;
    std::vector<Callback> superseded;  // answered outside the lock
    {
      std::lock_guard lock(mu);
      if (in_flight || waiting.empty()) return;
      in_flight = true;
      // One entry per partition: a newer change replaces an older one.
      for (auto& item : waiting) {
        bool replaced = false;
        for (auto& b : batch) {
          if (b.change.tp == item.change.tp) {
            superseded.push_back(std::move(b.done));
            b = std::move(item);
            replaced = true;
          }
        }
        if (!replaced) batch.push_back(std::move(item));
      }
      waiting.clear();
    }
    for (auto& cb : superseded) cb({ErrorCode::kInvalidUpdateVersion, 0, 0, {}});
    protocol::AlterPartitionRequest req;
    req.broker_id = options.broker_id;
    req.broker_epoch = options.broker_epoch ? options.broker_epoch() : -1;
    for (const auto& item : batch) {
      auto t = std::find_if(req.topics.begin(), req.topics.end(),
                            [&](const auto& td) { return td.topic_name == item.change.tp.topic; });
      if (t == req.topics.end()) {
        t = req.topics.emplace(req.topics.end());
        t->topic_name = item.change.tp.topic;
        t->topic_id = item.change.topic_id;
      }
      auto& p = t->partitions.emplace_back();
      p.partition_index = item.change.tp.partition;
      p.leader_epoch = item.change.leader_epoch;
      p.new_isr = item.change.new_isr;
      p.partition_epoch = item.change.partition_epoch;
    }

    auto snapshot = metadata.snapshot();
    const int32_t controller = snapshot->controller_id;
    protocol::RequestHeader header;
    header.request_api_key = protocol::AlterPartitionRequest::kApiKey;
    header.request_api_version = kVersion;
    header.client_id = "alter-partition-" + std::to_string(options.broker_id);
    std::weak_ptr<State> weak = weak_from_this();
    auto done = [weak, batch = std::make_shared<std::vector<Item>>(std::move(batch))](Result<Bytes> frame) mutable {
      if (auto self = weak.lock()) self->on_response(std::move(frame), std::move(*batch));
    };
    if (controller == options.broker_id && options.local) {
      // The local controller answers on its event thread; the answer is
      // handled here, on this runtime, as a remote one would be.
      header.correlation_id = 1;
      options.local(encode(header, req), [weak, done = std::move(done)](Result<Bytes> frame) mutable {
        auto self = weak.lock();
        if (!self) return;
        self->runtime.post([done = std::move(done), frame = std::move(frame)]() mutable { done(std::move(frame)); });
      });
      return;
    }
    const EndpointInfo* ep = snapshot->endpoint(controller, options.listener_name);
    if (!ep) {
      done(Result<Bytes>(std::make_error_code(std::errc::host_unreachable)));
      return;
    }
    if (!client || client_address != std::make_pair(ep->host, ep->port)) {
      net::ClientOptions co;
      co.host = ep->host;
      co.port = static_cast<uint16_t>(ep->port);
      co.max_in_flight = 1;
      client = std::make_unique<net::Client>(runtime, co);
      client_address = {ep->host, ep->port};
    }
    header.correlation_id = client->next_correlation_id();
    client->send(encode(header, req), header.correlation_id, std::move(done));
  }

  static Bytes encode(const protocol::RequestHeader& header, const protocol::AlterPartitionRequest& req) {
    ByteWriter w;
    header.encode(w, protocol::request_header_version(protocol::AlterPartitionRequest::kApiKey, kVersion));
    req.encode(w, kVersion);
    return Bytes(w.buffer().begin(), w.buffer().end());
  }

  void retry(std::vector<Item> batch, const std::string& why) {
    log()->warn("AlterPartition for {} partition(s) not answered ({}); retrying in {} ms", batch.size(), why,
                options.retry_backoff_ms);
    {
      std::lock_guard lock(mu);
      in_flight = false;
      for (auto& item : batch) waiting.push_front(std::move(item));
    }
    std::weak_ptr<State> weak = weak_from_this();
    runtime.schedule(std::chrono::milliseconds(options.retry_backoff_ms), [weak] {
      if (auto self = weak.lock()) self->send();
    });
  }

  void on_response(Result<Bytes> frame, std::vector<Item> batch) {
    if (!frame) return retry(std::move(batch), frame.error().message());
    ByteReader r{ByteView(*frame)};
    protocol::ResponseHeader rh;
    protocol::AlterPartitionResponse resp;
    if (!rh.decode(r, protocol::response_header_version(protocol::AlterPartitionRequest::kApiKey, kVersion)) ||
        !resp.decode(r, kVersion)) {
      return retry(std::move(batch), "undecodable response");
    }
    if (resp.error_code != 0) {
      return retry(std::move(batch), std::string(protocol::error_name(static_cast<ErrorCode>(resp.error_code))));
    }
    std::vector<Item> unanswered;
    for (auto& item : batch) {
      std::optional<Partition::IsrChangeResult> result;
      for (const auto& t : resp.topics) {
        if (t.topic_name != item.change.tp.topic) continue;
        for (const auto& p : t.partitions) {
          if (p.partition_index != item.change.tp.partition) continue;
          result = Partition::IsrChangeResult{static_cast<ErrorCode>(p.error_code), p.leader_epoch, p.partition_epoch,
                                              p.isr};
        }
      }
      if (result) {
        item.done(*result);
      } else {
        unanswered.push_back(std::move(item));
      }
    }
    if (!unanswered.empty()) return retry(std::move(unanswered), "partitions missing from the answer");
    {
      std::lock_guard lock(mu);
      in_flight = false;
    }
    send();
  }
};

AlterPartitionManager::AlterPartitionManager(net::ClientRuntime& runtime, AlterPartitionOptions options,
                                             const MetadataCache& metadata)
    : state_(std::make_shared<State>(runtime, std::move(options), metadata)) {}

AlterPartitionManager::~AlterPartitionManager() {
  std::unique_ptr<net::Client> client;
  {
    std::lock_guard lock(state_->mu);
    client = std::move(state_->client);
  }
  if (client) client->close();  // its callbacks find the state gone or retry into nothing
}

void AlterPartitionManager::submit(const Partition::IsrChange& change, Callback done) {
  {
    std::lock_guard lock(state_->mu);
    state_->waiting.push_back({change, std::move(done)});
  }
  std::weak_ptr<State> weak = state_;
  state_->runtime.post([weak] {
    if (auto self = weak.lock()) self->send();
  });
}

}  // namespace keel::cluster
