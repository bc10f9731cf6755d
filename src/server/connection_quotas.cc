#include "server/connection_quotas.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <chrono>
#include <cmath>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "common/log.h"
#include "config/config.h"
#include "metrics/registry.h"
#include "security/client_quota.h"

namespace keel::server {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("quota");
  return l;
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// An IPv4 client on a dual-stack listener shows as "::ffff:a.b.c.d"; its
// quota is stored under "a.b.c.d".
std::string plain_ip(const std::string& ip) {
  constexpr std::string_view kMapped = "::ffff:";
  if (ip.size() > kMapped.size() && ip.starts_with(kMapped) && ip.find('.') != std::string::npos)
    return ip.substr(kMapped.size());
  return ip;
}

}  // namespace

struct ConnectionQuotas::Listener {
  explicit Listener(QuotaWindow w) : rate(w), throttle_time(w), ip_throttle_time(w) {}
  SampledStat rate;
  SampledStat throttle_time;
  SampledStat ip_throttle_time;
  uint64_t delayed = 0;
  uint64_t ip_throttled = 0;
};

struct ConnectionQuotas::IpSensor {
  explicit IpSensor(QuotaWindow w) : rate(w) {}
  SampledStat rate;
};

ConnectionQuotas::ConnectionQuotas(Options options, std::function<int64_t()> clock)
    : options_(std::move(options)), clock_(std::move(clock)), broker_rate_(options_.window) {}

ConnectionQuotas::~ConnectionQuotas() = default;

int64_t ConnectionQuotas::now_ms() const { return clock_ ? clock_() : steady_ms(); }

void ConnectionQuotas::set_ip_quotas(const security::QuotaConfigCache* quotas) { ip_quotas_.store(quotas); }

ConnectionQuotas::Listener& ConnectionQuotas::listener_locked(const std::string& name) {
  auto& slot = listeners_[name];
  if (!slot) slot = std::make_unique<Listener>(options_.window);
  return *slot;
}

bool ConnectionQuotas::protected_listener(const std::string& name) const {
  return name == options_.inter_broker_listener && options_.listener_count > 1;
}

double ConnectionQuotas::listener_bound(const std::string& name) const {
  auto it = options_.listener_rates.find(name);
  return it != options_.listener_rates.end() ? it->second : options_.broker_rate;
}

int64_t ConnectionQuotas::record_and_throttle(SampledStat& rate, double bound, int64_t now) {
  rate.record(1.0, now);
  if (!std::isfinite(bound)) return 0;
  const int64_t throttle = throttle_time_ms(rate.rate(now), bound, rate.span_ms(now));
  // Kafka bounds an acceptor's wait (and an IP's throttle) by one window.
  return std::min(throttle, options_.window.window_ms);
}

int64_t ConnectionQuotas::accept_delay_ms(const std::string& listener) {
  const int64_t now = now_ms();
  std::lock_guard lock(mu_);
  Listener& l = listener_locked(listener);
  int64_t delay = 0;
  if (!protected_listener(listener)) delay = record_and_throttle(broker_rate_, options_.broker_rate, now);
  delay = std::max(delay, record_and_throttle(l.rate, listener_bound(listener), now));
  if (delay > 0) {
    l.throttle_time.record(static_cast<double>(delay), now);
    ++l.delayed;
    log()->debug("max.connection.creation.rate reached on {}: the acceptor waits {} ms", listener, delay);
  }
  return delay;
}

int64_t ConnectionQuotas::ip_throttle_ms(const std::string& listener, const std::string& peer_ip) {
  const security::QuotaConfigCache* quotas = ip_quotas_.load();
  if (!quotas) return 0;
  const std::string ip = plain_ip(peer_ip);
  const std::optional<double> bound = quotas->connection_creation_rate(ip);
  const int64_t now = now_ms();
  std::lock_guard lock(mu_);
  expire_ips(now);
  if (!bound) return 0;  // no quota: not measured, as in Kafka
  auto& sensor = ips_[ip];
  if (!sensor) sensor = std::make_unique<IpSensor>(options_.window);
  const int64_t throttle = record_and_throttle(sensor->rate, *bound, now);
  if (throttle <= 0) return 0;
  // Not accepted after all: out of every rate it was counted in.
  sensor->rate.record(-1.0, now);
  Listener& l = listener_locked(listener);
  l.rate.record(-1.0, now);
  if (!protected_listener(listener)) broker_rate_.record(-1.0, now);
  ++l.ip_throttled;
  return throttle;
}

void ConnectionQuotas::ip_throttle_ended(const std::string& listener, int64_t throttle_ms) {
  const int64_t now = now_ms();
  std::lock_guard lock(mu_);
  listener_locked(listener).ip_throttle_time.record(static_cast<double>(throttle_ms), now);
}

void ConnectionQuotas::expire_ips(int64_t now) {
  if (now < next_ip_expiry_ms_) return;
  next_ip_expiry_ms_ = now + kInactiveIpMs / 60;
  std::erase_if(ips_, [&](const auto& entry) {
    const int64_t last = entry.second->rate.last_record_ms();
    return last >= 0 && now - last >= kInactiveIpMs;
  });
}

std::optional<ConnectionQuotas::ListenerView> ConnectionQuotas::listener(const std::string& name) {
  const int64_t now = now_ms();
  std::lock_guard lock(mu_);
  auto it = listeners_.find(name);
  if (it == listeners_.end()) return std::nullopt;
  Listener& l = *it->second;
  return ListenerView{l.rate.rate(now), l.throttle_time.average(now), l.ip_throttle_time.average(now), l.delayed,
                      l.ip_throttled};
}

std::optional<double> ConnectionQuotas::ip_rate(const std::string& ip) {
  const int64_t now = now_ms();
  std::lock_guard lock(mu_);
  auto it = ips_.find(plain_ip(ip));
  if (it == ips_.end()) return std::nullopt;
  return it->second->rate.rate(now);
}

void ConnectionQuotas::register_metrics(metrics::Registry& registry) {
  // Each family reads every listener's view at scrape time.
  auto views = [this] {
    std::vector<std::string> names;
    {
      std::lock_guard lock(mu_);
      for (const auto& [name, l] : listeners_) names.push_back(name);
    }
    std::vector<std::pair<std::string, ListenerView>> out;
    for (const auto& n : names) {
      if (auto v = listener(n)) out.emplace_back(n, *v);
    }
    return out;
  };
  struct Family {
    const char* name;
    const char* help;
    double ListenerView::*value;
  };
  static constexpr Family kFamilies[] = {
      {"connection-accept-rate", "Connections accepted per second on the listener, over the quota window.",
       &ListenerView::accept_rate},
      {"connection-accept-throttle-time",
       "Average time in ms the acceptor waited for max.connection.creation.rate.", &ListenerView::throttle_time_ms},
      {"ip-connection-accept-throttle-time",
       "Average throttle time in ms of connections closed for their IP's connection_creation_rate.",
       &ListenerView::ip_throttle_time_ms},
  };
  for (const Family& f : kFamilies) {
    metrics::Desc d;
    d.kind = metrics::Kind::kGauge;
    d.domain = "kafka.server";
    d.type = "socket-server-metrics";
    d.name = f.name;
    d.help = f.help;
    d.labels = {"listener"};
    registry.callback(d, [views, value = f.value](const metrics::Emit& emit) {
      for (const auto& [name, v] : views()) emit({name}, v.*value);
    });
  }
  metrics::Desc d;
  d.kind = metrics::Kind::kCounter;
  d.name = "keel_connections_throttled_total";
  d.help = "Connections held back by max.connection.creation.rate (reason=\"listener\") or closed for their IP's "
           "connection_creation_rate (reason=\"ip\").";
  d.labels = {"listener", "reason"};
  registry.callback(d, [views](const metrics::Emit& emit) {
    for (const auto& [name, v] : views()) {
      emit({name, "listener"}, static_cast<double>(v.delayed));
      emit({name, "ip"}, static_cast<double>(v.ip_throttled));
    }
  });
}

namespace {

// A listener's whole-number override of `key` (listener.name.<l>.<key>);
// nullopt when unset or not a whole number >= 0 (warned).
std::optional<int64_t> listener_whole_number(const config::BrokerConfig& config, const std::string& listener,
                                             const char* key) {
  auto text = config.listener_override(listener, key);
  if (!text) return std::nullopt;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || ptr != text->data() + text->size() || v < 0) {
    log()->warn("ignoring listener.name.{}.{}={}: not a whole number >= 0", listener, key, *text);
    return std::nullopt;
  }
  return v;
}

}  // namespace

std::unique_ptr<ConnectionQuotas> make_connection_quotas(const config::BrokerConfig& config) {
  auto rate_of = [](int64_t configured) {
    return configured >= INT32_MAX ? ConnectionQuotas::kUnlimited : static_cast<double>(configured);
  };
  ConnectionQuotas::Options o;
  o.window = QuotaWindow{config.quota_window_num, int64_t{config.quota_window_size_seconds} * 1000};
  o.broker_rate = rate_of(config.max_connection_creation_rate);
  o.inter_broker_listener = config.inter_broker_listener_name;
  o.listener_count = config.listeners.size();
  for (const auto& l : config.listeners) {
    if (auto v = listener_whole_number(config, l.listener_name, "max.connection.creation.rate"))
      o.listener_rates[l.listener_name] = rate_of(*v);
  }
  return std::make_unique<ConnectionQuotas>(std::move(o));
}

void apply_connection_limits(const config::BrokerConfig& config, net::ServerOptions& options) {
  options.max_connections = config.max_connections;
  options.max_connections_per_ip = config.max_connections_per_ip;
  // Host names are looked up once, here (Kafka resolves them when the
  // setting is read); one that does not resolve is left out, with a warning.
  options.max_connections_per_ip_overrides.clear();
  for (const auto& [host, limit] : config::parse_connection_overrides(config.max_connections_per_ip_overrides, nullptr)
                                       .value_or(std::vector<std::pair<std::string, int32_t>>{})) {
    // An address resolves to itself, without a lookup.
    boost::system::error_code ec;
    boost::asio::io_context io;
    boost::asio::ip::tcp::resolver resolver(io);
    const auto found = resolver.resolve(host, "", ec);
    if (ec) {
      keel::logger("server")->warn("max.connections.per.ip.overrides: '{}' does not resolve ({}); its limit is not applied",
                                   host, ec.message());
      continue;
    }
    for (const auto& entry : found) options.max_connections_per_ip_overrides[entry.endpoint().address().to_string()] = limit;
  }
  options.listener_max_connections.clear();
  for (const auto& l : config.listeners) {
    if (auto v = listener_whole_number(config, l.listener_name, "max.connections"))
      options.listener_max_connections[l.listener_name] = static_cast<int32_t>(std::min<int64_t>(*v, INT32_MAX));
  }
  options.protected_listener = config.listeners.size() > 1 ? config.inter_broker_listener_name : std::string();
}

}  // namespace keel::server
