// YAML -> BrokerConfig. Three passes:
//   1. flatten the YAML maps into dotted keys, remembering each key's line;
//   2. convert each key's value by its type in the ConfigDef table and store it;
//   3. resolve derived keys and check rules that span several keys.
// Every problem is collected; the caller gets them all at once.

#include "config/config.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <limits>
#include <set>
#include <variant>

#include <yaml-cpp/yaml.h>

#include "config/config_def.h"
#include "config/topic_config.h"
#include "security/acl.h"

#include "config/config_internal.h"

namespace keel::config {

using namespace detail;  // this directory's own helpers (config_internal.h)

namespace {

// Where each key lives in BrokerConfig. Keys whose default is null bind to an
// optional (or an empty container) so "not given" stays visible to pass 3.
using Member = std::variant<int16_t BrokerConfig::*, int32_t BrokerConfig::*,
                            int64_t BrokerConfig::*, double BrokerConfig::*, bool BrokerConfig::*,
                            std::string BrokerConfig::*, std::vector<std::string> BrokerConfig::*,
                            std::vector<Endpoint> BrokerConfig::*,
                            std::map<std::string, std::string> BrokerConfig::*,
                            std::optional<int32_t> BrokerConfig::*,
                            std::optional<int64_t> BrokerConfig::*>;

struct Binding {
  std::string_view key;
  Member member;
};

using C = BrokerConfig;
const Binding kBindings[] = {
    {"broker.id", &C::broker_id},
    {"broker.rack", &C::broker_rack},
    {"replica.selector.class", &C::replica_selector_class},
    {"leader.replication.throttled.rate", &C::leader_replication_throttled_rate},
    {"follower.replication.throttled.rate", &C::follower_replication_throttled_rate},
    {"replication.quota.window.num", &C::replication_quota_window_num},
    {"replication.quota.window.size.seconds", &C::replication_quota_window_size_seconds},
    {"quota.window.num", &C::quota_window_num},
    {"quota.window.size.seconds", &C::quota_window_size_seconds},
    {"listeners", &C::listeners},
    {"advertised.listeners", &C::advertised_listeners},
    {"listener.security.protocol.map", &C::listener_security_protocol_map},
    {"inter.broker.listener.name", &C::inter_broker_listener_name},
    {"security.inter.broker.protocol", &C::security_inter_broker_protocol},
    {"log.dirs", &C::log_dirs},
    {"log.dir", &C::log_dir},
    {"num.partitions", &C::num_partitions},
    {"default.replication.factor", &C::default_replication_factor},
    {"min.insync.replicas", &C::min_insync_replicas},
    {"auto.create.topics.enable", &C::auto_create_topics_enable},
    {"delete.topic.enable", &C::delete_topic_enable},
    {"message.max.bytes", &C::message_max_bytes},
    {"log.retention.hours", &C::log_retention_hours},
    {"log.retention.minutes", &C::log_retention_minutes},
    {"log.retention.ms", &C::log_retention_ms},
    {"log.retention.bytes", &C::log_retention_bytes},
    {"log.segment.bytes", &C::log_segment_bytes},
    {"log.roll.hours", &C::log_roll_hours},
    {"log.roll.ms", &C::log_roll_ms},
    {"log.roll.jitter.hours", &C::log_roll_jitter_hours},
    {"log.roll.jitter.ms", &C::log_roll_jitter_ms},
    {"log.index.interval.bytes", &C::log_index_interval_bytes},
    {"log.index.size.max.bytes", &C::log_index_size_max_bytes},
    {"log.flush.interval.messages", &C::log_flush_interval_messages},
    {"log.flush.interval.ms", &C::log_flush_interval_ms},
    {"log.flush.scheduler.interval.ms", &C::log_flush_scheduler_interval_ms},
    {"log.cleanup.policy", &C::log_cleanup_policy},
    {"log.cleaner.enable", &C::log_cleaner_enable},
    {"log.cleaner.threads", &C::log_cleaner_threads},
    {"log.cleaner.min.cleanable.ratio", &C::log_cleaner_min_cleanable_ratio},
    {"log.cleaner.delete.retention.ms", &C::log_cleaner_delete_retention_ms},
    {"log.cleaner.backoff.ms", &C::log_cleaner_backoff_ms},
    {"log.cleaner.min.compaction.lag.ms", &C::log_cleaner_min_compaction_lag_ms},
    {"log.segment.delete.delay.ms", &C::log_segment_delete_delay_ms},
    {"log.retention.check.interval.ms", &C::log_retention_check_interval_ms},
    {"log.message.timestamp.type", &C::log_message_timestamp_type},
    {"log.message.timestamp.difference.max.ms", &C::log_message_timestamp_difference_max_ms},
    {"log.message.timestamp.before.max.ms", &C::log_message_timestamp_before_max_ms},
    {"log.message.timestamp.after.max.ms", &C::log_message_timestamp_after_max_ms},
    {"log.message.format.version", &C::log_message_format_version},
    {"inter.broker.protocol.version", &C::inter_broker_protocol_version},
    {"compression.type", &C::compression_type},
    {"unclean.leader.election.enable", &C::unclean_leader_election_enable},
    {"zookeeper.connect", &C::zookeeper_connect},
    {"zookeeper.session.timeout.ms", &C::zookeeper_session_timeout_ms},
    {"zookeeper.connection.timeout.ms", &C::zookeeper_connection_timeout_ms_raw},
    {"zookeeper.set.acl", &C::zookeeper_set_acl},
    {"zookeeper.digest.credentials.file", &C::zookeeper_digest_credentials_file},
    {"authorizer.class.name", &C::authorizer_class_name},
    {"super.users", &C::super_users},
    {"allow.everyone.if.no.acl.found", &C::allow_everyone_if_no_acl_found},
    {"num.network.threads", &C::num_network_threads},
    {"num.io.threads", &C::num_io_threads},
    {"num.recovery.threads.per.data.dir", &C::num_recovery_threads_per_data_dir},
    {"socket.request.max.bytes", &C::socket_request_max_bytes},
    {"socket.send.buffer.bytes", &C::socket_send_buffer_bytes},
    {"socket.receive.buffer.bytes", &C::socket_receive_buffer_bytes},
    {"queued.max.requests", &C::queued_max_requests},
    {"max.incremental.fetch.session.cache.slots", &C::max_incremental_fetch_session_cache_slots},
    {"connections.max.idle.ms", &C::connections_max_idle_ms},
    {"max.connections", &C::max_connections},
    {"max.connections.per.ip", &C::max_connections_per_ip},
    {"max.connections.per.ip.overrides", &C::max_connections_per_ip_overrides},
    {"max.connection.creation.rate", &C::max_connection_creation_rate},
    {"sasl.enabled.mechanisms", &C::sasl_enabled_mechanisms},
    {"sasl.server.max.receive.size", &C::sasl_server_max_receive_size},
    {"sasl.plain.credentials.file", &C::sasl_plain_credentials_file},
    {"connection.failed.authentication.delay.ms", &C::connection_failed_authentication_delay_ms},
    {"connections.max.reauth.ms", &C::connections_max_reauth_ms},
    {"sasl.kerberos.service.name", &C::sasl_kerberos_service_name},
    {"sasl.jaas.config", &C::sasl_jaas_config},
    {"sasl.kerberos.principal.to.local.rules", &C::sasl_kerberos_principal_to_local_rules},
    {"sasl.kerberos.ticket.renew.window.factor", &C::sasl_kerberos_ticket_renew_window_factor},
    {"sasl.kerberos.ticket.renew.jitter", &C::sasl_kerberos_ticket_renew_jitter},
    {"sasl.kerberos.min.time.before.relogin", &C::sasl_kerberos_min_time_before_relogin},
    {"sasl.kerberos.kinit.cmd", &C::sasl_kerberos_kinit_cmd},
    {"sasl.mechanism.inter.broker.protocol", &C::sasl_mechanism_inter_broker_protocol},
    {"ssl.keystore.type", &C::ssl_keystore_type},
    {"ssl.keystore.location", &C::ssl_keystore_location},
    {"ssl.keystore.password", &C::ssl_keystore_password},
    {"ssl.key.password", &C::ssl_key_password},
    {"ssl.keystore.key", &C::ssl_keystore_key},
    {"ssl.keystore.certificate.chain", &C::ssl_keystore_certificate_chain},
    {"ssl.truststore.type", &C::ssl_truststore_type},
    {"ssl.truststore.location", &C::ssl_truststore_location},
    {"ssl.truststore.password", &C::ssl_truststore_password},
    {"ssl.truststore.certificates", &C::ssl_truststore_certificates},
    {"ssl.client.auth", &C::ssl_client_auth},
    {"ssl.enabled.protocols", &C::ssl_enabled_protocols},
    {"ssl.cipher.suites", &C::ssl_cipher_suites},
    {"ssl.endpoint.identification.algorithm", &C::ssl_endpoint_identification_algorithm},
    {"ssl.principal.mapping.rules", &C::ssl_principal_mapping_rules},
    {"offsets.topic.num.partitions", &C::offsets_topic_num_partitions},
    {"offsets.topic.replication.factor", &C::offsets_topic_replication_factor},
    {"offsets.retention.minutes", &C::offsets_retention_minutes},
    {"offsets.commit.timeout.ms", &C::offsets_commit_timeout_ms},
    {"group.initial.rebalance.delay.ms", &C::group_initial_rebalance_delay_ms},
    {"group.min.session.timeout.ms", &C::group_min_session_timeout_ms},
    {"group.max.session.timeout.ms", &C::group_max_session_timeout_ms},
    {"group.max.size", &C::group_max_size},
    {"offsets.topic.segment.bytes", &C::offsets_topic_segment_bytes},
    {"offsets.retention.check.interval.ms", &C::offsets_retention_check_interval_ms},
    {"offset.metadata.max.bytes", &C::offset_metadata_max_bytes},
    {"transaction.state.log.replication.factor", &C::transaction_state_log_replication_factor},
    {"transaction.state.log.min.isr", &C::transaction_state_log_min_isr},
    {"transaction.state.log.num.partitions", &C::transaction_state_log_num_partitions},
    {"transaction.state.log.segment.bytes", &C::transaction_state_log_segment_bytes},
    {"transaction.max.timeout.ms", &C::transaction_max_timeout_ms},
    {"transactional.id.expiration.ms", &C::transactional_id_expiration_ms},
    {"transaction.abort.timed.out.transaction.cleanup.interval.ms",
     &C::transaction_abort_timed_out_transaction_cleanup_interval_ms},
    {"transaction.remove.expired.transaction.cleanup.interval.ms",
     &C::transaction_remove_expired_transaction_cleanup_interval_ms},
    {"transaction.partition.verification.enable", &C::transaction_partition_verification_enable},
    {"replica.lag.time.max.ms", &C::replica_lag_time_max_ms},
    {"num.replica.fetchers", &C::num_replica_fetchers},
    {"replica.fetch.wait.max.ms", &C::replica_fetch_wait_max_ms},
    {"replica.fetch.min.bytes", &C::replica_fetch_min_bytes},
    {"replica.fetch.max.bytes", &C::replica_fetch_max_bytes},
    {"replica.fetch.response.max.bytes", &C::replica_fetch_response_max_bytes},
    {"fetch.max.bytes", &C::fetch_max_bytes},
    {"replica.fetch.backoff.ms", &C::replica_fetch_backoff_ms},
    {"replica.socket.timeout.ms", &C::replica_socket_timeout_ms},
    {"replica.high.watermark.checkpoint.interval.ms", &C::replica_high_watermark_checkpoint_interval_ms},
    {"controlled.shutdown.enable", &C::controlled_shutdown_enable},
    {"controlled.shutdown.max.retries", &C::controlled_shutdown_max_retries},
    {"controlled.shutdown.retry.backoff.ms", &C::controlled_shutdown_retry_backoff_ms},
    {"auto.leader.rebalance.enable", &C::auto_leader_rebalance_enable},
    {"leader.imbalance.check.interval.seconds", &C::leader_imbalance_check_interval_seconds},
    {"leader.imbalance.per.broker.percentage", &C::leader_imbalance_per_broker_percentage},
    {"http.listeners", &C::http_listeners},
    {"metrics.names", &C::metrics_names},
    {"metrics.enabled", &C::metrics_enabled},
    {"http.request.timeout.ms", &C::http_request_timeout_ms},
    {"http.max.connections", &C::http_max_connections},
    {"http.spnego.enable", &C::http_spnego_enable},
    {"http.spnego.keytab", &C::http_spnego_keytab},
    {"http.spnego.principal", &C::http_spnego_principal},
    {"console.records.download.max.bytes", &C::console_records_download_max_bytes},
    {"console.lag.history.interval.ms", &C::console_lag_history_interval_ms},
    {"logging.level", &C::logging_level},
    {"logging.file", &C::logging_file},
    {"logging.request.level", &C::logging_request_level},
    {"logging.request.slow.ms", &C::logging_request_slow_ms},
};

const Binding* find_binding(std::string_view key) {
  for (const Binding& b : kBindings)
    if (b.key == key) return &b;
  return nullptr;
}

// ---- pass 1: flatten

void flatten(const YAML::Node& map, const std::string& prefix, std::vector<RawEntry>& out,
             Errors& errors) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    // Copies, not references: yaml-cpp's iterator hands out a temporary pair,
    // so a reference to it->first dangles at the end of the statement.
    const YAML::Node k = it->first;
    const YAML::Node v = it->second;
    int line = k.Mark().line + 1;
    if (!k.IsScalar()) {
      errors.add(line, errors.where(line) + ": a key must be a plain name, got " +
                           describe_node_kind(k));
      continue;
    }
    std::string full = prefix.empty() ? k.Scalar() : prefix + "." + k.Scalar();
    // A map under a name that is itself a key is that key's value (a map-typed
    // key, or a type error reported in pass 2); otherwise it spells dotted names.
    if (v.IsMap() && v.size() > 0 && find_key(full) == nullptr) {
      flatten(v, full, out, errors);
      continue;
    }
    out.push_back(RawEntry{full, v, line, !prefix.empty()});
  }
}

void store(BrokerConfig& cfg, const Member& member, Value& v, std::vector<Endpoint>& endpoints) {
  std::visit(
      [&](auto ptr) {
        using T = std::remove_reference_t<decltype(cfg.*ptr)>;
        if constexpr (std::is_same_v<T, int16_t> || std::is_same_v<T, int32_t> ||
                      std::is_same_v<T, int64_t>)
          cfg.*ptr = static_cast<T>(v.i);
        else if constexpr (std::is_same_v<T, std::optional<int32_t>>)
          cfg.*ptr = static_cast<int32_t>(v.i);
        else if constexpr (std::is_same_v<T, std::optional<int64_t>>)
          cfg.*ptr = v.i;
        else if constexpr (std::is_same_v<T, double>)
          cfg.*ptr = v.d;
        else if constexpr (std::is_same_v<T, bool>)
          cfg.*ptr = v.b;
        else if constexpr (std::is_same_v<T, std::string>)
          cfg.*ptr = v.s;
        else if constexpr (std::is_same_v<T, std::vector<std::string>>)
          cfg.*ptr = v.list;
        else if constexpr (std::is_same_v<T, std::vector<Endpoint>>)
          cfg.*ptr = endpoints;
        else
          cfg.*ptr = v.map;
      },
      member);
}

std::string format_member(const BrokerConfig& cfg, const Member& member) {
  return std::visit(
      [&](auto ptr) -> std::string {
        const auto& val = cfg.*ptr;
        using T = std::remove_cvref_t<decltype(val)>;
        if constexpr (std::is_same_v<T, int16_t> || std::is_same_v<T, int32_t> ||
                      std::is_same_v<T, int64_t>)
          return std::to_string(val);
        else if constexpr (std::is_same_v<T, std::optional<int32_t>> ||
                           std::is_same_v<T, std::optional<int64_t>>)
          return val ? std::to_string(*val) : "null";
        else if constexpr (std::is_same_v<T, double>)
          return format_double(val);
        else if constexpr (std::is_same_v<T, bool>)
          return val ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>)
          return val;
        else if constexpr (std::is_same_v<T, std::vector<std::string>>)
          return join(val, ",");
        else if constexpr (std::is_same_v<T, std::vector<Endpoint>>) {
          std::vector<std::string> parts;
          for (const Endpoint& ep : val) parts.push_back(ep.to_string());
          return join(parts, ",");
        } else {
          std::vector<std::string> parts;
          for (const auto& [k, v] : val) parts.push_back(k + ":" + v);
          return join(parts, ",");
        }
      },
      member);
}

}  // namespace

// ---------------------------------------------------------------- public API

std::string Endpoint::to_string() const {
  bool v6 = host.find(':') != std::string::npos;
  return listener_name + "://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<Endpoint> parse_endpoint(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<Endpoint> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  size_t sep = text.find("://");
  if (sep == std::string_view::npos) return fail("missing '://'");
  std::string_view name = text.substr(0, sep);
  if (name.empty()) return fail("the listener name is empty");
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
      return fail("the listener name may hold only letters, digits, '_' and '-'");
  std::string_view rest = text.substr(sep + 3);
  std::string_view host, port;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return fail("'[' without ']' around the IPv6 address");
    host = rest.substr(1, close - 1);
    if (host.empty()) return fail("empty IPv6 address in brackets");
    for (char c : host)
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.' && c != '%')
        return fail("'" + std::string(host) + "' is not an IPv6 address");
    rest = rest.substr(close + 1);
    if (rest.empty() || rest[0] != ':') return fail("missing ':port' after the IPv6 address");
    port = rest.substr(1);
  } else {
    size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return fail("missing ':port'");
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return fail("an IPv6 address must be written in brackets, e.g. [::1]:9092");
    for (char c : host)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_')
        return fail("'" + std::string(host) + "' is not a host name or address");
  }
  unsigned value = 0;
  auto r = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || r.ec != std::errc() || r.ptr != port.data() + port.size() || value > 65535)
    return fail("port '" + std::string(port) + "' is not a number from 0 to 65535");
  Endpoint ep;
  ep.listener_name = upper(name);
  ep.host = std::string(host);
  ep.port = static_cast<uint16_t>(value);
  return ep;
}

ConfigError::ConfigError(std::vector<std::string> errors)
    : std::runtime_error(join(errors, "\n")), errors_(std::move(errors)) {}

std::vector<std::pair<std::string, std::string>> BrokerConfig::effective() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const KeyDef& def : all_keys()) {
    const Binding* b = find_binding(def.name);
    if (!b) continue;  // every key is bound; the unit test proves it
    std::string value;
    if (def.name == "log.retention.ms") value = std::to_string(retention_ms);
    else if (def.name == "log.roll.ms") value = std::to_string(segment_ms);
    else if (def.name == "log.roll.jitter.ms") value = std::to_string(segment_jitter_ms);
    else if (def.name == "log.flush.interval.ms") value = std::to_string(flush_ms);
    else if (def.name == "zookeeper.connection.timeout.ms")
      value = std::to_string(zookeeper_connection_timeout_ms);
    else value = format_member(*this, b->member);
    out.emplace_back(std::string(def.name), std::move(value));
  }
  for (const auto& [listener, keys] : listener_overrides)
    for (const auto& [key, value] : keys)
      out.emplace_back(std::string(kListenerPrefix) + lower(listener) + "." + key, value);
  return out;
}

std::vector<BrokerConfig::Entry> BrokerConfig::describe() const {
  std::vector<Entry> out;
  for (auto& [name, value] : effective()) {
    auto it = explicit_keys.find(name);
    bool set = it != explicit_keys.end();
    out.push_back(Entry{name, std::move(value), set, set ? it->second : 0});
  }
  return out;
}

std::map<std::string, std::string> BrokerConfig::topic_defaults() const {
  std::map<std::string, std::string> out;
  auto eff = effective();
  for (const KeyDef& def : all_keys()) {
    if (def.topic_name.empty()) continue;
    for (const auto& [k, v] : eff)
      if (k == def.name) out[std::string(def.topic_name)] = v;
  }
  return out;
}

namespace {

// A converted value as text: what listener_overrides keeps.
std::string value_text(KeyType type, const Value& v) {
  switch (type) {
    case KeyType::kShort:
    case KeyType::kInt:
    case KeyType::kLong: return std::to_string(v.i);
    case KeyType::kDouble: return format_double(v.d);
    case KeyType::kBool: return v.b ? "true" : "false";
    case KeyType::kString: return v.s;
    case KeyType::kList:
    case KeyType::kListeners: return join(v.list, ",");
    case KeyType::kStringMap: {
      std::vector<std::string> items;
      for (const auto& [k, val] : v.map) items.push_back(k + ":" + val);
      return join(items, ",");
    }
  }
  return v.s;
}

// listener.name.<listener>.<key> entries: checked like the key they override
// (named in messages by their full spelling), for a listener that exists.
void parse_listener_overrides(const std::vector<const RawEntry*>& entries, BrokerConfig& cfg,
                              Errors& errors) {
  std::set<std::string> names;
  for (const Endpoint& ep : cfg.listeners) names.insert(ep.listener_name);
  for (const RawEntry* e : entries) {
    const std::string_view rest = std::string_view(e->key).substr(kListenerPrefix.size());
    const size_t dot = rest.find('.');
    if (dot == std::string_view::npos || dot == 0) {
      errors.add(e->line, "unknown key '" + e->key + "' at " + errors.where(e->line) +
                              ": write listener.name.<listener>.<key>");
      continue;
    }
    const std::string listener = upper(rest.substr(0, dot));
    const std::string key(rest.substr(dot + 1));
    const auto base = listener_override_base(key);
    if (!base) {
      errors.key_error(e->key, e->line,
                       "'" + key + "' is not a key a listener can override (Kafka allows ssl.*, sasl.*, "
                       "<mechanism>.sasl.*, connections.max.reauth.ms, max.connections and "
                       "max.connection.creation.rate)");
      continue;
    }
    if (!names.contains(listener)) {
      errors.key_error(e->key, e->line, "no listener named " + listener + " in listeners");
      continue;
    }
    if (e->value.IsNull()) continue;
    KeyDef named = *find_key(*base);
    named.name = e->key;
    Value v;
    if (!convert_given(named, *e, v, errors)) continue;
    if (!v.list.empty() && v.list_lines.size() != v.list.size()) v.list_lines.assign(v.list.size(), e->line);
    std::vector<Endpoint> unused_endpoints;
    std::vector<int> unused_lines;
    if (!check_list_items(named, e->line, v, &unused_endpoints, &unused_lines, errors)) continue;
    if (!cfg.listener_overrides[listener].emplace(key, value_text(named.type, v)).second) {
      errors.key_error(e->key, e->line, "set twice");
      continue;
    }
    cfg.explicit_keys.emplace(e->key, e->line);
  }
}

bool is_listener_key(std::string_view key) { return key.starts_with(kListenerPrefix); }

}  // namespace

std::optional<std::string> BrokerConfig::listener_override(std::string_view listener,
                                                           std::string_view key) const {
  auto l = listener_overrides.find(upper(listener));
  if (l == listener_overrides.end()) return std::nullopt;
  auto k = l->second.find(std::string(key));
  if (k == l->second.end()) return std::nullopt;
  return k->second;
}

BrokerConfig parse_config(std::string_view yaml_text, std::string_view source_name) {
  Errors errors{std::string(source_name)};
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    errors.add(e.mark.line + 1, errors.where(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
               ": YAML syntax error: " + e.msg);
    throw ConfigError(errors.list());
  }

  std::vector<RawEntry> entries;
  if (root.IsMap()) {
    flatten(root, "", entries, errors);
  } else if (!root.IsNull()) {
    errors.add(root.Mark().line + 1, errors.where(root.Mark().line + 1) +
               ": expected a map of keys at the top level, got " + describe_node_kind(root));
  }

  // Unknown and duplicate keys.
  std::map<std::string, int> lines;
  std::map<std::string, const RawEntry*> given;
  std::map<std::string, bool> nested;
  std::vector<const RawEntry*> listener_entries;
  std::vector<BrokerConfig::IgnoredKey> ignored;
  for (const RawEntry& e : entries) {
    if (is_listener_key(e.key)) {
      listener_entries.push_back(&e);
      continue;
    }
    if (!find_key(e.key)) {
      if (auto why = kafka_key_without_effect(e.key)) {
        ignored.push_back({e.key, e.line, std::string(*why)});
        continue;
      }
      std::string msg = "unknown key '" + e.key + "' at " + errors.where(e.line);
      if (auto why = kafka_key_refused(e.key)) {
        msg = "Kafka's key '" + e.key + "' at " + errors.where(e.line) + " is not supported: " + std::string(*why);
      } else if (auto near = nearest_key(e.key)) {
        msg += " — did you mean '" + std::string(*near) + "'?";
      }
      errors.add(e.line, std::move(msg));
      continue;
    }
    auto [it, inserted] = lines.emplace(e.key, e.line);
    if (!inserted) {
      std::string msg = "set twice (first at " + errors.where(it->second) + ")";
      if (nested[e.key] != e.nested) msg += "; the nested and the dotted spelling name the same key";
      errors.key_error(e.key, e.line, msg);
      continue;
    }
    nested[e.key] = e.nested;
    given[e.key] = &e;
  }

  std::set<std::string> bad_keys;
  std::map<std::string, std::vector<int>> endpoint_lines;
  BrokerConfig cfg;
  cfg.ignored_kafka_keys = std::move(ignored);
  cfg.source_name = std::string(source_name);
  for (const KeyDef& def : all_keys()) {
    const Binding* binding = find_binding(def.name);
    if (!binding) {
      errors.add(0, "internal error: key '" + std::string(def.name) + "' has no BrokerConfig member");
      continue;
    }
    Value v;
    int line = 0;
    auto it = given.find(std::string(def.name));
    if (it != given.end() && !it->second->value.IsNull()) {
      line = it->second->line;
      cfg.explicit_keys.emplace(std::string(def.name), line);
      if (!convert_given(def, *it->second, v, errors)) {
        bad_keys.insert(std::string(def.name));
        continue;
      }
    } else if (def.default_text) {
      std::string problem = convert_scalar(def, std::string(*def.default_text), v);
      if (!problem.empty()) {
        errors.add(0, "internal error: default of '" + std::string(def.name) + "': " + problem);
        continue;
      }
    } else {
      // Null default and not given: the member keeps its "unset" state for pass 3.
      std::visit(
          [&](auto ptr) {
            using T = std::remove_reference_t<decltype(cfg.*ptr)>;
            if constexpr (std::is_same_v<T, std::string> ||
                          std::is_same_v<T, std::vector<std::string>> ||
                          std::is_same_v<T, std::vector<Endpoint>>)
              (cfg.*ptr).clear();
            else if constexpr (std::is_same_v<T, std::optional<int32_t>> ||
                               std::is_same_v<T, std::optional<int64_t>>)
              (cfg.*ptr).reset();
          },
          binding->member);
      continue;
    }
    std::vector<Endpoint> endpoints;
    std::vector<int> ep_lines;
    if (!v.list.empty() && v.list_lines.size() != v.list.size()) v.list_lines.assign(v.list.size(), line);
    if (!check_list_items(def, line, v, &endpoints, &ep_lines, errors)) {
      bad_keys.insert(std::string(def.name));
      // Keep the listeners that did parse, so pass 3 checks the names the operator
      // wrote rather than the default PLAINTEXT listener (which would add confusing errors).
      if (def.type == KeyType::kListeners) {
        store(cfg, binding->member, v, endpoints);
        endpoint_lines[std::string(def.name)] = std::move(ep_lines);
      }
      continue;
    }
    store(cfg, binding->member, v, endpoints);
    if (def.type == KeyType::kListeners) endpoint_lines[std::string(def.name)] = std::move(ep_lines);
  }

  resolve(cfg, lines, endpoint_lines, bad_keys, errors);
  parse_listener_overrides(listener_entries, cfg, errors);
  if (!errors.empty()) throw ConfigError(errors.list());
  return cfg;
}

BrokerConfig load_config_file(const std::filesystem::path& path) {
  // stdio rather than ifstream: ferror() tells a read error (a directory, EIO)
  // apart from end of file, which an ifstream silently merges into "empty".
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f)
    throw ConfigError({"cannot read config file '" + path.string() + "': " + std::strerror(errno)});
  std::string text;
  char buf[8192];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  int err = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (err)
    throw ConfigError({"cannot read config file '" + path.string() + "': " + std::strerror(err)});
  return parse_config(text, path.string());
}

}  // namespace keel::config
