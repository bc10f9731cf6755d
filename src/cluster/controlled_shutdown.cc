#include "cluster/controlled_shutdown.h"

#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "common/log.h"
#include "protocol/error_code.h"
#include "protocol/generated/api.h"
#include "protocol/generated/controlled_shutdown_request.h"
#include "protocol/generated/controlled_shutdown_response.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"

namespace keel::cluster {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("controlled-shutdown");
  return l;
}

constexpr int16_t kVersion = 3;

// One attempt: "" and the partitions still led, or why it failed.
std::string attempt(net::ClientRuntime& runtime, const MetadataCache& metadata, const ControlledShutdownOptions& o,
                    size_t* remaining) {
  auto snapshot = metadata.snapshot();
  const int32_t controller = snapshot->controller_id;
  if (controller < 0) return "no controller known";
  protocol::ControlledShutdownRequest req;
  req.broker_id = o.broker_id;
  req.broker_epoch = o.broker_epoch;
  protocol::RequestHeader header;
  header.request_api_key = protocol::ControlledShutdownRequest::kApiKey;
  header.request_api_version = kVersion;
  header.client_id = "controlled-shutdown-" + std::to_string(o.broker_id);
  auto answer = std::make_shared<std::promise<Result<Bytes>>>();
  auto future = answer->get_future();
  auto done = [answer](Result<Bytes> frame) { answer->set_value(std::move(frame)); };
  auto encode = [&] {
    ByteWriter w;
    header.encode(w, protocol::request_header_version(protocol::ControlledShutdownRequest::kApiKey, kVersion));
    req.encode(w, kVersion);
    return Bytes(w.buffer().begin(), w.buffer().end());
  };
  std::unique_ptr<net::Client> client;
  if (controller == o.broker_id && o.local) {
    header.correlation_id = 1;
    o.local(encode(), done);
  } else {
    const EndpointInfo* ep = snapshot->endpoint(controller, o.listener_name);
    if (!ep) return "controller " + std::to_string(controller) + " has no " + o.listener_name + " endpoint";
    net::ClientOptions co;
    co.host = ep->host;
    co.port = static_cast<uint16_t>(ep->port);
    co.max_in_flight = 1;
    client = std::make_unique<net::Client>(runtime, co);
    header.correlation_id = client->next_correlation_id();
    client->send(encode(), header.correlation_id, done);
  }
  if (future.wait_for(std::chrono::milliseconds(o.request_timeout_ms)) != std::future_status::ready) {
    if (client) client->close();
    return "no answer from controller " + std::to_string(controller);
  }
  Result<Bytes> frame = future.get();
  if (client) client->close();
  if (!frame) return frame.error().message();
  ByteReader r{ByteView(*frame)};
  protocol::ResponseHeader rh;
  protocol::ControlledShutdownResponse resp;
  if (!rh.decode(r, protocol::response_header_version(protocol::ControlledShutdownRequest::kApiKey, kVersion)) ||
      !resp.decode(r, kVersion)) {
    return "undecodable answer";
  }
  if (resp.error_code != 0) return std::string(protocol::error_name(static_cast<protocol::ErrorCode>(resp.error_code)));
  *remaining = resp.remaining_partitions.size();
  for (const auto& p : resp.remaining_partitions) {
    log()->info("still leading {}-{} (no other replica in sync)", p.topic_name, p.partition_index);
  }
  return "";
}

}  // namespace

bool controlled_shutdown(net::ClientRuntime& runtime, const MetadataCache& metadata,
                         const ControlledShutdownOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  for (int32_t i = 1; i <= options.max_retries; ++i) {
    size_t remaining = 0;
    const std::string failure = attempt(runtime, metadata, options, &remaining);
    if (failure.empty() && remaining == 0) {
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
      log()->info("controlled shutdown succeeded in {} ms", ms);
      return true;
    }
    log()->warn("controlled shutdown attempt {} of {}: {}", i, options.max_retries,
                failure.empty() ? std::to_string(remaining) + " partitions still led here" : failure);
    if (i < options.max_retries) std::this_thread::sleep_for(std::chrono::milliseconds(options.retry_backoff_ms));
  }
  log()->warn("controlled shutdown did not move every leadership; stopping anyway");
  return false;
}

}  // namespace keel::cluster
