#pragma once
// Connection creation rate quotas (KIP-612), as Kafka's ConnectionQuotas
// applies them at accept (net::ConnectionAdmission):
//
// - max.connection.creation.rate, broker-wide, and per listener
//   (listener.name.<l>.max.connection.creation.rate, which falls back to the
//   broker-wide value as Kafka's prefixed configs do). Every accepted
//   connection is recorded in its listener's rate and in the broker's (not
//   the inter-broker listener's connections when there are other listeners:
//   brokers must always get in). Over either bound the acceptor waits the
//   throttle time, at most one quota window, before taking the connection in.
// - connection_creation_rate of the client's IP (/config/ips/<ip> or the
//   default entity, security::QuotaConfigCache): recorded after that wait;
//   over it the connection is taken back out of every rate and the acceptor
//   closes it once the throttle time is over (Kafka's delayed close). Its
//   throttle time goes into ip-connection-accept-throttle-time at that close,
//   not at accept: a throttle can last a whole window, so a value recorded
//   at accept could already have aged out of the windows (quota.window.num
//   x quota.window.size.seconds) when the client sees the close.
//
// The connection counts (max.connections, broker-wide and per listener) are
// kept by net::Server; apply_connection_limits() gives it the configuration.
//
// Rates are Kafka's windowed Rate (server/quota_rate.h) over quota.window.num
// windows of quota.window.size.seconds; a connection is over the quota when
// the rate counting it exceeds the bound, and the throttle time is
// (rate - bound) / bound x the measured span.
//
// Thread-safe: one mutex (connections come rarely next to requests).

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "net/server.h"
#include "server/quota_rate.h"

namespace keel::config {
struct BrokerConfig;
}
namespace keel::security {
class QuotaConfigCache;
}
namespace keel::metrics {
class Registry;
}

namespace keel::server {

class ConnectionQuotas : public net::ConnectionAdmission {
 public:
  static constexpr double kUnlimited = std::numeric_limits<double>::infinity();
  // IP sensors unused this long are dropped (Kafka: one hour).
  static constexpr int64_t kInactiveIpMs = 3600 * 1000;

  struct Options {
    QuotaWindow window;
    double broker_rate = kUnlimited;                // max.connection.creation.rate
    std::map<std::string, double> listener_rates;   // listener.name.<l>.max.connection.creation.rate
    std::string inter_broker_listener;              // inter.broker.listener.name
    size_t listener_count = 1;                      // the inter-broker one is exempt only among others
  };

  // `clock`: monotonic milliseconds (steady_clock when empty).
  explicit ConnectionQuotas(Options options, std::function<int64_t()> clock = {});
  ~ConnectionQuotas() override;

  // The per-IP quotas (the client quota manager's cache, once loaded); null:
  // none. The cache must outlive its use here: set null before it goes.
  void set_ip_quotas(const security::QuotaConfigCache* quotas);

  int64_t accept_delay_ms(const std::string& listener) override;
  int64_t ip_throttle_ms(const std::string& listener, const std::string& ip) override;
  void ip_throttle_ended(const std::string& listener, int64_t throttle_ms) override;

  // What a listener saw, for the metrics and tests.
  struct ListenerView {
    double accept_rate = 0;           // connections/s (Kafka's connection-accept-rate)
    double throttle_time_ms = 0;      // average acceptor wait (connection-accept-throttle-time)
    double ip_throttle_time_ms = 0;   // average IP throttle (ip-connection-accept-throttle-time)
    uint64_t delayed = 0;             // connections the acceptor held back, since start
    uint64_t ip_throttled = 0;        // connections closed for their IP's rate, since start
  };
  std::optional<ListenerView> listener(const std::string& name);
  // The measured rate of an IP (nullopt: no sensor, i.e. no quota applied to it).
  std::optional<double> ip_rate(const std::string& ip);

  // socket-server-metrics connection-accept-rate, connection-accept-throttle-time and
  // ip-connection-accept-throttle-time by listener, and
  // keel_connections_throttled_total{listener, reason}.
  void register_metrics(metrics::Registry& registry);

 private:
  struct Listener;
  struct IpSensor;
  Listener& listener_locked(const std::string& name);  // under mu_
  bool protected_listener(const std::string& name) const;
  double listener_bound(const std::string& name) const;
  // Records one connection in `rate` and returns the (bounded) throttle time.
  int64_t record_and_throttle(SampledStat& rate, double bound, int64_t now);
  void expire_ips(int64_t now);  // under mu_
  int64_t now_ms() const;

  const Options options_;
  std::function<int64_t()> clock_;
  std::atomic<const security::QuotaConfigCache*> ip_quotas_{nullptr};
  std::mutex mu_;
  SampledStat broker_rate_;
  std::map<std::string, std::unique_ptr<Listener>> listeners_;
  std::map<std::string, std::unique_ptr<IpSensor>> ips_;
  int64_t next_ip_expiry_ms_ = 0;
};

// The broker's connection quotas from its configuration:
// max.connection.creation.rate (Kafka's default, INT32_MAX, is no limit),
// each listener's override, quota.window.*, inter.broker.listener.name.
std::unique_ptr<ConnectionQuotas> make_connection_quotas(const config::BrokerConfig& config);

// The connection limits for the acceptors: max.connections,
// max.connections.per.ip, each listener's listener.name.<l>.max.connections
// (an override that is not a whole number >= 0 is ignored with a warning)
// and the inter-broker listener exempt from max.connections when there are
// other listeners (Kafka's protectedListener).
void apply_connection_limits(const config::BrokerConfig& config, net::ServerOptions& options);

}  // namespace keel::server
