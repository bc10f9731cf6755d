#include "server/client_quotas.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>

#include "common/log.h"
#include "common/thread_name.h"
#include "coord/kafka_store.h"
#include "server/scram_credentials.h"

namespace keel::server {
namespace {

using security::ClientQuotaEntity;
using Part = ClientQuotaEntity::Part;

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("server");
  return l;
}

constexpr auto kLookAgainEvery = std::chrono::seconds(10);

// Kafka's sanitizeEntityName: the default as "<default>", a name URL-encoded.
std::string node_name(const Part& p) {
  return p.name ? sanitize_user(*p.name) : std::string(security::kDefaultEntityName);
}

std::optional<Part> part_of(std::string_view stored) {
  if (stored == security::kDefaultEntityName) return Part::default_entity();
  auto name = desanitize_user(stored);
  if (!name) return std::nullopt;
  return Part::named(std::move(*name));
}

std::optional<double> parse_value(const std::string& text) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

std::string describe(const QuotaEntity& e) {
  auto [type, name] = quota_entity_node(e);
  return type + "/" + name;
}

}  // namespace

std::pair<std::string, std::string> quota_entity_node(const QuotaEntity& e) {
  if (e.is_ip()) return {"ips", node_name(e.ip)};
  const auto& u = e.user_client.user;
  const auto& c = e.user_client.client_id;
  if (u.present && c.present) return {"users", node_name(u) + "/clients/" + node_name(c)};
  if (u.present) return {"users", node_name(u)};
  return {"clients", node_name(c)};
}

std::optional<QuotaEntity> quota_entity_of_change(std::string_view path) {
  auto split = [](std::string_view s) {
    std::vector<std::string_view> out;
    size_t from = 0;
    for (;;) {
      const size_t slash = s.find('/', from);
      out.push_back(s.substr(from, slash == std::string_view::npos ? slash : slash - from));
      if (slash == std::string_view::npos) return out;
      from = slash + 1;
    }
  };
  const auto parts = split(path);
  QuotaEntity e;
  if (parts.size() == 2 && parts[0] == "ips") {
    auto ip = part_of(parts[1]);
    if (!ip) return std::nullopt;
    e.ip = *ip;
    return e;
  }
  if (parts.size() == 2 && parts[0] == "clients") {
    auto c = part_of(parts[1]);
    if (!c) return std::nullopt;
    e.user_client.client_id = *c;
    return e;
  }
  if (parts[0] != "users" || (parts.size() != 2 && (parts.size() != 4 || parts[2] != "clients")))
    return std::nullopt;
  auto u = part_of(parts[1]);
  if (!u) return std::nullopt;
  e.user_client.user = *u;
  if (parts.size() == 4) {
    auto c = part_of(parts[3]);
    if (!c) return std::nullopt;
    e.user_client.client_id = *c;
  }
  return e;
}

std::string format_quota_value(double value) {
  if (std::fabs(value) < 9e15 && value == std::floor(value)) {
    return std::to_string(static_cast<int64_t>(value));
  }
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return ec == std::errc() ? std::string(buf, ptr) : std::to_string(value);
}

struct ClientQuotaManager::Signal {
  std::mutex mu;
  std::condition_variable cv;
  bool changed = false;
  bool stopping = false;
};

ClientQuotaManager::ClientQuotaManager(coord::KafkaStore& store)
    : store_(store), signal_(std::make_shared<Signal>()) {}

ClientQuotaManager::~ClientQuotaManager() { stop(); }

Result<void> ClientQuotaManager::start() {
  // Notifications first, then the entities: a change made in between is
  // read here and notified, never lost.
  auto changes = store_.config_changes_after(-1);
  if (!changes) return changes.error();
  for (const auto& change : *changes) last_change_ = std::max(last_change_, change.first);
  auto all = stored();
  if (!all) return all.error();
  cache_.clear();
  for (const auto& [entity, values] : *all) {
    std::map<std::string, std::string> config;
    for (const auto& [k, v] : values) config[k] = format_quota_value(v);
    apply(entity, config);
  }
  log()->info("client quotas of {} entities loaded from the store", all->size());
  thread_ = std::thread([this] {
    set_thread_name("keel-quotas");
    run();
  });
  return {};
}

void ClientQuotaManager::stop() {
  {
    std::lock_guard lock(signal_->mu);
    signal_->stopping = true;
  }
  signal_->cv.notify_one();
  if (thread_.joinable()) thread_.join();
}

Result<std::map<QuotaEntity, std::map<std::string, double>>> ClientQuotaManager::stored() {
  std::map<QuotaEntity, std::map<std::string, double>> out;
  auto add = [&](const QuotaEntity& e) -> Result<void> {
    auto config = stored_config(e);
    if (!config) return config.error();
    std::map<std::string, double> values;
    for (const auto& [k, v] : *config) {
      const bool quota_key = e.is_ip() ? k == security::kConnectionCreationRate : security::parse_quota_key(k).has_value();
      if (!quota_key) continue;
      if (auto d = parse_value(v)) {
        values[k] = *d;
      } else {
        log()->warn("ignoring quota {}={} of {}: not a number", k, printable(v), printable(describe(e)));
      }
    }
    if (!values.empty()) out[e] = std::move(values);
    return {};
  };
  auto names = [&](const std::string& type) { return store_.entity_names(type); };
  auto users = names("users");
  if (!users) return users.error();
  for (const auto& u : *users) {
    auto user = part_of(u);
    if (!user) continue;
    QuotaEntity e;
    e.user_client.user = *user;
    if (auto r = add(e); !r) return r.error();
    auto clients = names("users/" + u + "/clients");
    if (!clients) return clients.error();
    for (const auto& c : *clients) {
      auto client = part_of(c);
      if (!client) continue;
      e.user_client.client_id = *client;
      if (auto r = add(e); !r) return r.error();
    }
  }
  for (const auto* type : {"clients", "ips"}) {
    auto list = names(type);
    if (!list) return list.error();
    for (const auto& n : *list) {
      auto part = part_of(n);
      if (!part) continue;
      QuotaEntity e;
      (std::string_view(type) == "ips" ? e.ip : e.user_client.client_id) = *part;
      if (auto r = add(e); !r) return r.error();
    }
  }
  return out;
}

Result<std::map<std::string, std::string>> ClientQuotaManager::stored_config(const QuotaEntity& e) {
  auto [type, name] = quota_entity_node(e);
  return store_.entity_config(type, name);
}

Result<void> ClientQuotaManager::store(const QuotaEntity& e, const std::map<std::string, std::string>& config) {
  auto [type, name] = quota_entity_node(e);
  if (auto r = store_.set_entity_config(type, name, config); !r) return r.error();
  apply(e, config);
  return {};
}

void ClientQuotaManager::apply(const QuotaEntity& e, const std::map<std::string, std::string>& config) {
  if (e.is_ip()) {
    std::optional<double> rate;
    if (auto it = config.find(std::string(security::kConnectionCreationRate)); it != config.end())
      rate = parse_value(it->second);
    cache_.set_ip(e.ip.name, rate);
    return;
  }
  security::QuotaValues values;
  for (auto k : security::kQuotaKeys) {
    if (auto it = config.find(std::string(security::quota_key_name(k))); it != config.end())
      values[k] = parse_value(it->second);
  }
  cache_.set(e.user_client, values);
}

Result<void> ClientQuotaManager::load(const QuotaEntity& e) {
  auto config = stored_config(e);
  if (!config) return config.error();
  apply(e, *config);
  return {};
}

void ClientQuotaManager::run() {
  for (;;) {
    follow_changes();
    std::unique_lock lock(signal_->mu);
    signal_->cv.wait_for(lock, kLookAgainEvery, [&] { return signal_->changed || signal_->stopping; });
    if (signal_->stopping) return;
    signal_->changed = false;
  }
}

// Reads the notifications after the last one seen (re-arming the watch) and
// re-reads each quota entity they name.
void ClientQuotaManager::follow_changes() {
  std::weak_ptr<Signal> weak = signal_;
  auto changes = store_.config_changes_after(last_change_, [weak](const coord::WatchEvent&) {
    if (auto s = weak.lock()) {
      std::lock_guard lock(s->mu);
      s->changed = true;
      s->cv.notify_one();
    }
  });
  if (!changes) {
    log()->warn("cannot read /config/changes for client quotas: {}", changes.error().message());
    return;
  }
  for (const auto& [seq, path] : *changes) {
    last_change_ = std::max(last_change_, seq);
    auto entity = quota_entity_of_change(path);
    if (!entity) continue;
    if (auto r = load(*entity); !r) {
      log()->warn("cannot re-read client quotas of {}: {}", printable(path), r.error().message());
      continue;
    }
    log()->info("client quotas of {} re-read after a config change", printable(path));
  }
}

}  // namespace keel::server
