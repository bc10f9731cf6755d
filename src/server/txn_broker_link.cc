#include "server/txn_broker_link.h"

#include <vector>

#include "cluster/metadata_cache.h"
#include "net/client.h"

namespace keel::server {

TxnBrokerLink::TxnBrokerLink(net::ClientRuntime& runtime, const cluster::MetadataCache& metadata, Options options)
    : runtime_(runtime), metadata_(metadata), options_(std::move(options)) {}

TxnBrokerLink::~TxnBrokerLink() { close(); }

void TxnBrokerLink::close() {
  std::map<int32_t, Peer> peers;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    peers.swap(peers_);
  }
  for (auto& [id, peer] : peers) peer.client->close();
}

void TxnBrokerLink::send_frame(int32_t broker, const std::function<Bytes(int32_t)>& encode,
                               std::function<void(Result<Bytes>)> done) {
  if (broker == options_.broker_id && options_.local) {
    options_.local(encode(1), std::move(done));
    return;
  }
  auto snapshot = metadata_.snapshot();
  const cluster::EndpointInfo* ep = snapshot->endpoint(broker, options_.listener_name);
  net::Client* client = nullptr;
  bool closed = false;
  {
    std::lock_guard lock(mu_);
    closed = closed_;
    if (!closed_ && ep) {
      Peer& peer = peers_[broker];
      if (!peer.client) {
        net::ClientOptions co;
        co.host = ep->host;
        co.port = static_cast<uint16_t>(ep->port);
        co.request_timeout_ms = options_.request_timeout_ms;
        peer.client = std::make_unique<net::Client>(runtime_, co);
      } else if (peer.host != ep->host || peer.port != ep->port) {
        peer.client->set_address(ep->host, static_cast<uint16_t>(ep->port));  // re-registered elsewhere
      }
      peer.host = ep->host;
      peer.port = ep->port;
      client = peer.client.get();
    }
    if (client) {
      // Sent under the lock so close() cannot destroy the client meanwhile;
      // send() never runs the callback itself.
      const int32_t correlation_id = client->next_correlation_id();
      client->send(encode(correlation_id), correlation_id, std::move(done));
      return;
    }
  }
  // Closed, or no endpoint: answered off the caller's stack, as a client would.
  const auto error = closed ? net::ClientErrc::kClosed : net::ClientErrc::kConnectFailed;
  runtime_.post([done = std::move(done), error] { done(net::make_error_code(error)); });
}

}  // namespace keel::server
