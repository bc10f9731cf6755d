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

namespace keel::config {

namespace {

constexpr std::string_view kListenerPrefix = "listener.name.";  // per-listener overrides

constexpr std::string_view kSecurityProtocols[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT",
                                                    "SASL_SSL"};

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) comma = s.size();
    std::string item = trim(s.substr(start, comma - start));
    if (!item.empty()) out.push_back(std::move(item));
    start = comma + 1;
  }
  return out;
}

std::string format_double(double d) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

std::string format_bound(double d) {
  if (d == std::floor(d) && std::fabs(d) < 9.2e18) return std::to_string(static_cast<int64_t>(d));
  return format_double(d);
}

// A key's value as found in the file, with the lines needed for messages.
struct RawEntry {
  std::string key;
  YAML::Node value;
  int line = 0;
  bool nested = false;  // reached through a nested map (log: {retention: ...})
};

// One value after conversion by type. Only the field matching the type is used.
struct Value {
  int64_t i = 0;
  double d = 0;
  bool b = false;
  std::string s;
  std::vector<std::string> list;
  std::vector<int> list_lines;  // line of each list item
  std::map<std::string, std::string> map;
};

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
    {"max.connection.creation.rate", &C::max_connection_creation_rate},
    {"sasl.enabled.mechanisms", &C::sasl_enabled_mechanisms},
    {"sasl.server.max.receive.size", &C::sasl_server_max_receive_size},
    {"sasl.plain.credentials.file", &C::sasl_plain_credentials_file},
    {"connection.failed.authentication.delay.ms", &C::connection_failed_authentication_delay_ms},
    {"connections.max.reauth.ms", &C::connections_max_reauth_ms},
    {"sasl.kerberos.service.name", &C::sasl_kerberos_service_name},
    {"sasl.jaas.config", &C::sasl_jaas_config},
    {"sasl.kerberos.principal.to.local.rules", &C::sasl_kerberos_principal_to_local_rules},
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

std::string describe_node_kind(const YAML::Node& n) {
  if (n.IsMap()) return "a map";
  if (n.IsSequence()) return "a list";
  if (n.IsNull()) return "nothing";
  return "'" + n.Scalar() + "'";
}

std::optional<std::string_view> nearest_of(std::string_view got,
                                           const std::vector<std::string_view>& candidates) {
  std::string g = lower(got);
  std::optional<std::string_view> best;
  size_t best_d = SIZE_MAX;
  for (std::string_view c : candidates) {
    size_t d = edit_distance(g, lower(c));
    if (d < best_d) best_d = d, best = c;
  }
  if (best && best_d <= std::max<size_t>(2, got.size() / 3)) return best;
  return std::nullopt;
}

// Builds the messages; every one starts with the key and where it was set.
// list() orders them by line, so the operator reads them top to bottom.
class Errors {
 public:
  explicit Errors(std::string source) : source_(std::move(source)) {}

  std::string where(int line) const {
    return line > 0 ? source_ + ":" + std::to_string(line) : source_ + " (default)";
  }
  void key_error(std::string_view key, int line, const std::string& problem) {
    add(line, "'" + std::string(key) + "' at " + where(line) + ": " + problem);
  }
  // line 0 = not tied to a line (defaults, file-level problems): listed last.
  void add(int line, std::string message) { items_.emplace_back(line, std::move(message)); }
  bool empty() const { return items_.empty(); }
  std::vector<std::string> list() const {
    auto sorted = items_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return (a.first == 0 ? INT_MAX : a.first) < (b.first == 0 ? INT_MAX : b.first);
    });
    std::vector<std::string> out;
    for (auto& [line, msg] : sorted) out.push_back(std::move(msg));
    return out;
  }

 private:
  std::string source_;
  std::vector<std::pair<int, std::string>> items_;
};

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

// ---- pass 2: convert

std::string expected_phrase(KeyType t) {
  switch (t) {
    case KeyType::kShort:
    case KeyType::kInt:
    case KeyType::kLong: return "an integer";
    case KeyType::kDouble: return "a number";
    case KeyType::kBool: return "true or false";
    case KeyType::kString: return "a string";
    case KeyType::kList: return "a list";
    case KeyType::kListeners: return "a list of listeners";
    case KeyType::kStringMap: return "a map";
  }
  return "a value";
}

// Converts text (a scalar, or a default from the table) to v.
// Returns "" on success, else the problem.
// Keys whose values are Kafka release versions (MetadataVersion strings).
bool is_kafka_version_key(std::string_view name) {
  return name == "log.message.format.version" || name == "inter.broker.protocol.version";
}

// Kafka's version strings: a release ("0.10.2", "2.8", "3.9", longer forms
// such as "2.8.1" cut to the release, as Kafka cuts them) with an optional
// "-IV<n>" of that release. Releases from 0.8.0 to 3.9 are known.
bool is_kafka_version(std::string_view text) {
  std::string_view release = text;
  if (const size_t iv = text.find("-IV"); iv != std::string_view::npos) {
    const std::string_view n = text.substr(iv + 3);
    if (n.empty() || n.size() > 2 || !std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    release = text.substr(0, iv);
  }
  std::vector<int> parts;
  size_t pos = 0;
  while (pos <= release.size()) {
    const size_t dot = std::min(release.find('.', pos), release.size());
    int n = 0;
    auto r = std::from_chars(release.data() + pos, release.data() + dot, n);
    if (dot == pos || r.ec != std::errc() || r.ptr != release.data() + dot) return false;
    parts.push_back(n);
    pos = dot + 1;
  }
  if (parts.size() < 2) return false;
  if (parts[0] == 0) {
    // 0.8.0 to 0.11.0: three parts name the release.
    if (parts.size() < 3) return false;
    switch (parts[1]) {
      case 8: case 10: return parts[2] <= 2;  // 0.8.0-0.8.2, 0.10.0-0.10.2
      case 9: case 11: return parts[2] == 0;
      default: return false;
    }
  }
  return (parts[0] == 1 && parts[1] <= 1) || (parts[0] == 2 && parts[1] <= 8) || (parts[0] == 3 && parts[1] <= 9);
}

std::string convert_scalar(const KeyDef& def, const std::string& raw, Value& v) {
  std::string text = trim(raw);
  switch (def.type) {
    case KeyType::kShort:
    case KeyType::kInt:
    case KeyType::kLong: {
      const char* b = text.data();
      const char* e = b + text.size();
      if (b != e && *b == '+') ++b;
      int64_t n = 0;
      auto r = std::from_chars(b, e, n);
      if (r.ec == std::errc::result_out_of_range) {
        bool neg = !text.empty() && text[0] == '-';
        return neg ? "must be at least " + std::to_string(INT64_MIN) + ", got " + text
                   : "must be at most " + std::to_string(INT64_MAX) + ", got " + text;
      }
      if (b == e || r.ec != std::errc() || r.ptr != e)
        return "expected an integer, got '" + raw + "'";
      int64_t lo = def.type == KeyType::kShort ? INT16_MIN
                   : def.type == KeyType::kInt ? INT32_MIN
                                               : INT64_MIN;
      int64_t hi = def.type == KeyType::kShort ? INT16_MAX
                   : def.type == KeyType::kInt ? INT32_MAX
                                               : INT64_MAX;
      if (def.min && static_cast<double>(n) < *def.min)
        return "must be at least " + format_bound(*def.min) + ", got " + std::to_string(n);
      if (def.max && static_cast<double>(n) > *def.max)
        return "must be at most " + format_bound(*def.max) + ", got " + std::to_string(n);
      if (n < lo) return "must be at least " + std::to_string(lo) + ", got " + std::to_string(n);
      if (n > hi) return "must be at most " + std::to_string(hi) + ", got " + std::to_string(n);
      v.i = n;
      return "";
    }
    case KeyType::kDouble: {
      double d = 0;
      auto r = std::from_chars(text.data(), text.data() + text.size(), d);
      if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() ||
          !std::isfinite(d))
        return "expected a number, got '" + raw + "'";
      if (def.min && d < *def.min)
        return "must be at least " + format_bound(*def.min) + ", got " + text;
      if (def.max && d > *def.max)
        return "must be at most " + format_bound(*def.max) + ", got " + text;
      v.d = d;
      return "";
    }
    case KeyType::kBool: {
      std::string l = lower(text);
      if (l == "true") v.b = true;
      else if (l == "false") v.b = false;
      else return "expected true or false, got '" + raw + "'";
      return "";
    }
    case KeyType::kString: {
      if (is_kafka_version_key(def.name) && !is_kafka_version(text)) {
        return "'" + text + "' is not a Kafka version (such as 2.8, 3.0-IV1 or 3.9)";
      }
      // Allowed values match case-insensitively and are stored in their
      // canonical spelling: log4j habits (INFO, WARN) are not worth a refusal.
      for (std::string_view allowed : def.valid_values)
        if (lower(allowed) == lower(text)) text = std::string(allowed);
      if (!def.valid_values.empty() &&
          std::find(def.valid_values.begin(), def.valid_values.end(), text) ==
              def.valid_values.end()) {
        std::vector<std::string> vals(def.valid_values.begin(), def.valid_values.end());
        std::string msg = "must be one of " + join(vals, ", ") + "; got '" + text + "'";
        if (auto near = nearest_of(text, def.valid_values))
          msg += " — did you mean '" + std::string(*near) + "'?";
        return msg;
      }
      v.s = text;
      return "";
    }
    case KeyType::kList:
    case KeyType::kListeners:
      v.list = split_commas(text);
      return "";
    case KeyType::kStringMap: {
      for (const std::string& item : split_commas(text)) {
        size_t colon = item.find(':');
        if (colon == std::string::npos || item.find(':', colon + 1) != std::string::npos)
          return "entry '" + item + "' is not NAME:VALUE";
        v.map[upper(trim(item.substr(0, colon)))] = upper(trim(item.substr(colon + 1)));
      }
      return "";
    }
  }
  return "unsupported type";
}

// Converts a YAML node; may add several errors (one per bad list item).
bool convert_node(const KeyDef& def, const RawEntry& e, Value& v, Errors& errors) {
  const YAML::Node& n = e.value;
  bool list_type = def.type == KeyType::kList || def.type == KeyType::kListeners;
  if (n.IsSequence()) {
    if (!list_type) {
      errors.key_error(def.name, e.line,
                       "expected " + expected_phrase(def.type) + ", got a list");
      return false;
    }
    bool ok = true;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node item = *it;
      int line = item.Mark().line + 1;
      if (!item.IsScalar()) {
        errors.key_error(def.name, line,
                         "list items must be plain values, got " + describe_node_kind(item));
        ok = false;
        continue;
      }
      for (std::string& part : split_commas(item.Scalar())) {
        v.list.push_back(std::move(part));
        v.list_lines.push_back(line);
      }
    }
    return ok;
  }
  if (n.IsMap()) {
    if (def.type != KeyType::kStringMap) {
      errors.key_error(def.name, e.line, "expected " + expected_phrase(def.type) + ", got a map");
      return false;
    }
    bool ok = true;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node val = it->second;
      if (!key.IsScalar() || !val.IsScalar()) {
        errors.key_error(def.name, key.Mark().line + 1,
                         "map entries must be NAME: VALUE");
        ok = false;
        continue;
      }
      v.map[upper(trim(key.Scalar()))] = upper(trim(val.Scalar()));
    }
    return ok;
  }
  std::string problem = convert_scalar(def, n.Scalar(), v);
  if (!problem.empty()) {
    errors.key_error(def.name, e.line, problem);
    return false;
  }
  v.list_lines.assign(v.list.size(), e.line);
  return true;
}

// convert_node, plus: a list written out but empty is a mistake, not "use the
// default" (that is spelled by leaving the value out).
bool convert_given(const KeyDef& def, const RawEntry& e, Value& v, Errors& errors) {
  if (!convert_node(def, e, v, errors)) return false;
  bool list_type = def.type == KeyType::kList || def.type == KeyType::kListeners;
  if (list_type && v.list.empty()) {
    errors.key_error(def.name, e.line,
                     def.type == KeyType::kListeners ? "at least one listener is needed"
                                                     : "must list at least one value");
    return false;
  }
  return true;
}

// Item-level checks that need the list: allowed values, listener syntax.
bool check_list_items(const KeyDef& def, int key_line, Value& v, std::vector<Endpoint>* endpoints,
                      std::vector<int>* endpoint_lines, Errors& errors) {
  bool ok = true;
  for (size_t i = 0; i < v.list.size(); ++i) {
    int line = i < v.list_lines.size() ? v.list_lines[i] : key_line;
    std::string& item = v.list[i];
    for (std::string_view allowed : def.valid_values)
      if (lower(allowed) == lower(item)) item = std::string(allowed);
    if (def.type == KeyType::kListeners) {
      std::string why;
      auto ep = parse_endpoint(item, &why);
      if (!ep) {
        errors.key_error(def.name, line, "'" + item + "' is not NAME://host:port: " + why);
        ok = false;
      } else {
        endpoints->push_back(*ep);
        endpoint_lines->push_back(line);
      }
    } else if (!def.valid_values.empty() &&
               std::find(def.valid_values.begin(), def.valid_values.end(), item) ==
                   def.valid_values.end()) {
      std::vector<std::string> vals(def.valid_values.begin(), def.valid_values.end());
      std::string msg = "each item must be one of " + join(vals, ", ") + "; got '" + item + "'";
      if (auto near = nearest_of(item, def.valid_values))
        msg += " — did you mean '" + std::string(*near) + "'?";
      errors.key_error(def.name, line, msg);
      ok = false;
    }
  }
  return ok;
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

std::string this_hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

// ---- pass 3: derived keys and rules spanning several keys

// bad_keys: keys whose own value was rejected; rules about them are skipped so
// one mistake does not produce a second, confusing message.
// endpoint_lines: for listeners and advertised.listeners, the line of each stored
// endpoint (a YAML sequence puts each on its own line).
void resolve(BrokerConfig& cfg, const std::map<std::string, int>& lines,
             const std::map<std::string, std::vector<int>>& endpoint_lines,
             const std::set<std::string>& bad_keys, Errors& errors) {
  auto line_of = [&](std::string_view key) {
    auto it = lines.find(std::string(key));
    return it == lines.end() ? 0 : it->second;
  };
  // The line of the i-th endpoint of a listeners key, else the key's line.
  auto ep_line = [&](std::string_view key, size_t i) {
    auto it = endpoint_lines.find(std::string(key));
    if (it != endpoint_lines.end() && i < it->second.size() && it->second[i] > 0) return it->second[i];
    return line_of(key);
  };

  // Retention: ms > minutes > hours; any negative result means "forever" (-1), as in Kafka.
  if (cfg.log_retention_ms) cfg.retention_ms = *cfg.log_retention_ms;
  else if (cfg.log_retention_minutes) cfg.retention_ms = int64_t{*cfg.log_retention_minutes} * 60000;
  else cfg.retention_ms = int64_t{cfg.log_retention_hours} * 3600000;
  if (cfg.retention_ms < 0) cfg.retention_ms = -1;
  cfg.segment_ms = cfg.log_roll_ms ? *cfg.log_roll_ms : int64_t{cfg.log_roll_hours} * 3600000;
  cfg.segment_jitter_ms =
      cfg.log_roll_jitter_ms ? *cfg.log_roll_jitter_ms : int64_t{cfg.log_roll_jitter_hours} * 3600000;
  cfg.flush_ms = cfg.log_flush_interval_ms.value_or(cfg.log_flush_scheduler_interval_ms);
  cfg.zookeeper_connection_timeout_ms =
      cfg.zookeeper_connection_timeout_ms_raw.value_or(cfg.zookeeper_session_timeout_ms);
  if (cfg.zookeeper_set_acl && cfg.zookeeper_digest_credentials_file.empty())
    errors.key_error("zookeeper.set.acl", line_of("zookeeper.set.acl"),
                     "is true but zookeeper.digest.credentials.file is not set: the broker needs an identity "
                     "for the ACLs to name");
  if (!cfg.zookeeper_digest_credentials_file.empty() && cfg.zookeeper_connect.empty())
    errors.key_error("zookeeper.digest.credentials.file", line_of("zookeeper.digest.credentials.file"),
                     "is set but zookeeper.connect is not: the embedded store has no ZooKeeper to authenticate to");

  // Security protocol map: every value must be a known protocol.
  for (const auto& [name, proto] : cfg.listener_security_protocol_map) {
    if (std::find(std::begin(kSecurityProtocols), std::end(kSecurityProtocols), proto) ==
        std::end(kSecurityProtocols))
      errors.key_error("listener.security.protocol.map", line_of("listener.security.protocol.map"),
                       "listener '" + name + "' maps to '" + proto +
                           "', which is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL");
  }
  std::vector<std::string> map_names;
  for (const auto& [name, proto] : cfg.listener_security_protocol_map) map_names.push_back(name);

  const bool map_is_bad = bad_keys.count("listener.security.protocol.map") > 0;
  // A listener that failed to parse is missing from cfg.listeners; "not in
  // listeners" would then be a second message about the same mistake.
  const bool listeners_are_bad = bad_keys.count("listeners") > 0;
  auto resolve_protocols = [&](std::vector<Endpoint>& eps, std::string_view key) {
    std::set<std::string> seen;
    for (size_t i = 0; i < eps.size(); ++i) {
      Endpoint& ep = eps[i];
      auto it = cfg.listener_security_protocol_map.find(ep.listener_name);
      if (it == cfg.listener_security_protocol_map.end()) {
        if (map_is_bad) continue;  // the map's own error was reported; the names may be fine
        errors.key_error(key, ep_line(key, i),
                         "listener name '" + ep.listener_name +
                             "' is not in listener.security.protocol.map (" +
                             join(map_names, ", ") + ")");
      } else {
        ep.security_protocol = it->second;
      }
      if (!seen.insert(ep.listener_name).second)
        errors.key_error(key, ep_line(key, i),
                         "listener name '" + ep.listener_name + "' is used twice");
    }
  };

  if (cfg.listeners.empty() && !bad_keys.count("listeners"))
    errors.key_error("listeners", line_of("listeners"), "at least one listener is needed");
  resolve_protocols(cfg.listeners, "listeners");
  // Two listeners on one port cannot both bind; say so here, with the line, rather
  // than as a bind error at start-up. Port 0 (OS-chosen) never clashes. An empty
  // host binds every interface, so it clashes with any host on the same port.
  for (size_t i = 0; i < cfg.listeners.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      const Endpoint& a = cfg.listeners[j];
      const Endpoint& b = cfg.listeners[i];
      if (a.port == 0 || a.port != b.port) continue;
      if (a.host.empty() || b.host.empty() || a.host == b.host)
        errors.key_error("listeners", ep_line("listeners", i),
                         "'" + a.to_string() + "' and '" + b.to_string() +
                             "' cannot both listen on port " + std::to_string(a.port));
    }

  if (cfg.advertised_listeners.empty()) {
    // Clients cannot connect to "all interfaces"; advertise this machine's name instead.
    cfg.advertised_listeners = cfg.listeners;
    std::string host = this_hostname();
    for (Endpoint& ep : cfg.advertised_listeners)
      if (ep.host.empty() || ep.host == "0.0.0.0" || ep.host == "::") ep.host = host;
  } else {
    resolve_protocols(cfg.advertised_listeners, "advertised.listeners");
    for (size_t i = 0; i < cfg.advertised_listeners.size(); ++i) {
      const Endpoint& ep = cfg.advertised_listeners[i];
      bool known = std::any_of(cfg.listeners.begin(), cfg.listeners.end(),
                               [&](const Endpoint& l) { return l.listener_name == ep.listener_name; });
      if (!known && !listeners_are_bad)
        errors.key_error("advertised.listeners", ep_line("advertised.listeners", i),
                         "listener name '" + ep.listener_name + "' is not in listeners");
      if (ep.host.empty() || ep.host == "0.0.0.0" || ep.host == "::")
        errors.key_error("advertised.listeners", ep_line("advertised.listeners", i),
                         "'" + ep.to_string() +
                             "' cannot be advertised: clients need a host name or address");
    }
  }

  if (cfg.inter_broker_listener_name.empty()) {
    bool has_plain = std::any_of(cfg.listeners.begin(), cfg.listeners.end(),
                                 [](const Endpoint& l) { return l.listener_name == "PLAINTEXT"; });
    if (has_plain) cfg.inter_broker_listener_name = "PLAINTEXT";
    else if (!cfg.listeners.empty()) cfg.inter_broker_listener_name = cfg.listeners[0].listener_name;
  } else {
    cfg.inter_broker_listener_name = upper(cfg.inter_broker_listener_name);
    bool known = std::any_of(cfg.listeners.begin(), cfg.listeners.end(), [&](const Endpoint& l) {
      return l.listener_name == cfg.inter_broker_listener_name;
    });
    if (!known && !listeners_are_bad)
      errors.key_error("inter.broker.listener.name", line_of("inter.broker.listener.name"),
                       "'" + cfg.inter_broker_listener_name + "' is not a listener name in listeners");
  }

  // Data directories: log.dirs, else log.dir; made absolute against the current directory.
  if (cfg.log_dirs.empty()) {
    if (cfg.log_dir.empty()) errors.key_error("log.dir", line_of("log.dir"), "must not be empty");
    else cfg.log_dirs.push_back(cfg.log_dir);
  }
  std::set<std::string> seen_dirs;
  for (std::string& dir : cfg.log_dirs) {
    std::error_code ec;
    auto abs = std::filesystem::absolute(std::filesystem::path(dir), ec);
    if (!ec) dir = abs.lexically_normal().string();
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    if (!seen_dirs.insert(dir).second)
      errors.key_error("log.dirs", line_of("log.dirs"), "directory '" + dir + "' is listed twice");
  }

  // zookeeper.connect: host[:port][,host[:port]...][/chroot]. Checked here so a
  // typo stops start-up with its line instead of a retry loop in the ZooKeeper client.
  if (!cfg.zookeeper_connect.empty()) {
    std::string_view zk = cfg.zookeeper_connect;
    size_t slash = zk.find('/');
    std::string_view hosts = zk.substr(0, slash);
    if (slash != std::string_view::npos && zk.size() > slash + 1 && zk.back() == '/')
      errors.key_error("zookeeper.connect", line_of("zookeeper.connect"),
                       "the chroot '" + std::string(zk.substr(slash)) + "' must not end with '/'");
    if (trim(hosts).empty())
      errors.key_error("zookeeper.connect", line_of("zookeeper.connect"),
                       "'" + cfg.zookeeper_connect + "' names no host (host:port[,host:port][/chroot])");
    for (const std::string& hp : split_commas(hosts)) {
      size_t colon = hp.rfind(':');
      std::string host = colon == std::string::npos ? hp : hp.substr(0, colon);
      bool ok = !host.empty() && host.find(':') == std::string::npos;
      if (ok && colon != std::string::npos) {
        std::string port = hp.substr(colon + 1);
        unsigned value = 0;
        auto r = std::from_chars(port.data(), port.data() + port.size(), value);
        ok = !port.empty() && r.ec == std::errc() && r.ptr == port.data() + port.size() &&
             value >= 1 && value <= 65535;
      }
      if (!ok)
        errors.key_error("zookeeper.connect", line_of("zookeeper.connect"),
                         "'" + hp + "' is not host:port (in host:port[,host:port][/chroot])");
    }
  }

  // Kafka's ZooKeeper-era authorizer classes both name Keel's ACL
  // authorizer; any other class (a KRaft or third-party authorizer) cannot be
  // loaded, and starting without it would serve unprotected.
  if (!cfg.authorizer_class_name.empty() && cfg.authorizer_class_name != kAclAuthorizerClass &&
      cfg.authorizer_class_name != kSimpleAclAuthorizerClass)
    errors.key_error("authorizer.class.name", line_of("authorizer.class.name"),
                     "'" + cfg.authorizer_class_name + "' is not an authorizer keel has; use " +
                         std::string(kAclAuthorizerClass) + " (or the older name " +
                         std::string(kSimpleAclAuthorizerClass) +
                         ") for Kafka's ACLs, or leave it empty for no authorization");
  if (std::string why; !security::parse_super_users(cfg.super_users, &why))
    errors.key_error("super.users", line_of("super.users"), why);

  if (cfg.group_min_session_timeout_ms > cfg.group_max_session_timeout_ms)
    errors.key_error("group.min.session.timeout.ms", line_of("group.min.session.timeout.ms"),
                     "must not exceed group.max.session.timeout.ms (" +
                         std::to_string(cfg.group_min_session_timeout_ms) + " > " +
                         std::to_string(cfg.group_max_session_timeout_ms) + ")");
  if (cfg.message_max_bytes > cfg.socket_request_max_bytes)
    errors.key_error("message.max.bytes", line_of("message.max.bytes"),
                     "must not exceed socket.request.max.bytes (" +
                         std::to_string(cfg.message_max_bytes) + " > " +
                         std::to_string(cfg.socket_request_max_bytes) + ")");
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
  for (const RawEntry& e : entries) {
    if (is_listener_key(e.key)) {
      listener_entries.push_back(&e);
      continue;
    }
    if (!find_key(e.key)) {
      std::string msg = "unknown key '" + e.key + "' at " + errors.where(e.line);
      if (auto near = nearest_key(e.key)) msg += " — did you mean '" + std::string(*near) + "'?";
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

// ---------------------------------------------------------------- topic configs

namespace {

using TopicMember =
    std::variant<int32_t TopicConfig::*, int64_t TopicConfig::*, double TopicConfig::*,
                 bool TopicConfig::*, std::string TopicConfig::*,
                 std::vector<std::string> TopicConfig::*>;

struct TopicBinding {
  std::string_view topic_key;
  TopicMember member;
};

using T = TopicConfig;
const TopicBinding kTopicBindings[] = {
    {"retention.ms", &T::retention_ms},
    {"retention.bytes", &T::retention_bytes},
    {"segment.bytes", &T::segment_bytes},
    {"segment.ms", &T::segment_ms},
    {"segment.jitter.ms", &T::segment_jitter_ms},
    {"index.interval.bytes", &T::index_interval_bytes},
    {"segment.index.bytes", &T::segment_index_bytes},
    {"flush.messages", &T::flush_messages},
    {"flush.ms", &T::flush_ms},
    {"cleanup.policy", &T::cleanup_policy},
    {"min.cleanable.dirty.ratio", &T::min_cleanable_dirty_ratio},
    {"delete.retention.ms", &T::delete_retention_ms},
    {"min.compaction.lag.ms", &T::min_compaction_lag_ms},
    {"file.delete.delay.ms", &T::file_delete_delay_ms},
    {"message.timestamp.type", &T::message_timestamp_type},
    {"message.timestamp.difference.max.ms", &T::message_timestamp_difference_max_ms},
    {"message.timestamp.before.max.ms", &T::message_timestamp_before_max_ms},
    {"message.timestamp.after.max.ms", &T::message_timestamp_after_max_ms},
    {"message.format.version", &T::message_format_version},
    {"compression.type", &T::compression_type},
    {"unclean.leader.election.enable", &T::unclean_leader_election_enable},
    {"min.insync.replicas", &T::min_insync_replicas},
    {"max.message.bytes", &T::max_message_bytes},
    {"leader.replication.throttled.replicas", &T::leader_replication_throttled_replicas},
    {"follower.replication.throttled.replicas", &T::follower_replication_throttled_replicas},
};

// Kafka's ThrottledReplicaListValidator: "*", or a comma-separated list of
// partition:broker pairs (blanks around items allowed, empty items ignored).
bool is_throttled_replicas_key(std::string_view key) {
  return key == "leader.replication.throttled.replicas" || key == "follower.replication.throttled.replicas";
}

std::string check_throttled_replicas(std::string_view value) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
    return v;
  };
  if (trim(value) == "*") return "";
  auto digits = [](std::string_view v) {
    return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view item = trim(value.substr(start, comma - start));
    const size_t colon = item.find(':');
    if (!item.empty() && (colon == std::string_view::npos || !digits(item.substr(0, colon)) ||
                          !digits(item.substr(colon + 1)))) {
      return "must be the literal '*' or a list of replicas in the following format: "
             "[partitionId]:[brokerId],[partitionId]:[brokerId],...";
    }
    start = comma + 1;
  }
  return "";
}

const KeyDef* broker_def_of_topic_key(std::string_view topic_key) {
  for (const KeyDef& d : all_keys())
    if (d.topic_name == topic_key) return &d;
  return nullptr;
}

const TopicBinding* find_topic_binding(std::string_view key) {
  for (const TopicBinding& b : kTopicBindings)
    if (b.topic_key == key) return &b;
  return nullptr;
}

std::string format_topic_member(const TopicConfig& c, const TopicMember& m) {
  return std::visit(
      [&](auto ptr) -> std::string {
        const auto& val = c.*ptr;
        using V = std::remove_cvref_t<decltype(val)>;
        if constexpr (std::is_same_v<V, int32_t> || std::is_same_v<V, int64_t>)
          return std::to_string(val);
        else if constexpr (std::is_same_v<V, double>)
          return format_double(val);
        else if constexpr (std::is_same_v<V, bool>)
          return val ? "true" : "false";
        else if constexpr (std::is_same_v<V, std::string>)
          return val;
        else
          return join(val, ",");
      },
      m);
}

}  // namespace

bool TopicConfig::compacted() const {
  return std::find(cleanup_policy.begin(), cleanup_policy.end(), "compact") != cleanup_policy.end();
}

bool TopicConfig::delete_by_retention() const {
  return std::find(cleanup_policy.begin(), cleanup_policy.end(), "delete") != cleanup_policy.end();
}

std::map<std::string, std::string> TopicConfig::to_map() const {
  std::map<std::string, std::string> out;
  for (const TopicBinding& b : kTopicBindings)
    out[std::string(b.topic_key)] = format_topic_member(*this, b.member);
  return out;
}

TopicConfig topic_config_defaults(const BrokerConfig& broker) {
  TopicConfig t;
  for (const auto& [key, value] : broker.topic_defaults()) {
    std::string problem = set_topic_config(t, key, value);
    (void)problem;  // broker values passed the same checks already
  }
  return t;
}

bool is_topic_config_key(std::string_view key) { return find_topic_binding(key) != nullptr; }

std::string set_topic_config(TopicConfig& config, std::string_view key, std::string_view value) {
  const TopicBinding* b = find_topic_binding(key);
  if (b && is_throttled_replicas_key(key)) {
    if (std::string problem = check_throttled_replicas(value); !problem.empty()) {
      return "'" + std::string(key) + "': " + problem;
    }
    config.*std::get<std::string TopicConfig::*>(b->member) = std::string(value);
    return "";
  }
  const KeyDef* def = broker_def_of_topic_key(key);
  if (!b || !def) {
    std::string msg = "unknown topic config '" + std::string(key) + "'";
    std::vector<std::string_view> names;
    for (const TopicBinding& tb : kTopicBindings) names.push_back(tb.topic_key);
    if (auto near = nearest_of(key, names)) msg += " — did you mean '" + std::string(*near) + "'?";
    return msg;
  }
  Value v;
  std::string problem = convert_scalar(*def, std::string(value), v);
  if (problem.empty() && def->type == KeyType::kList) {
    if (v.list.empty()) problem = "must list at least one value";
    for (std::string& item : v.list) {
      if (!problem.empty()) break;
      for (std::string_view allowed : def->valid_values)
        if (lower(allowed) == lower(item)) item = std::string(allowed);
      if (!def->valid_values.empty() &&
          std::find(def->valid_values.begin(), def->valid_values.end(), item) ==
              def->valid_values.end()) {
        std::vector<std::string> vals(def->valid_values.begin(), def->valid_values.end());
        problem = "each item must be one of " + join(vals, ", ") + "; got '" + item + "'";
      }
    }
  }
  if (!problem.empty()) return "'" + std::string(key) + "': " + problem;
  if (key == "retention.ms" && v.i < 0) v.i = -1;  // any negative means forever, as for the broker key
  std::visit(
      [&](auto ptr) {
        using V = std::remove_reference_t<decltype(config.*ptr)>;
        if constexpr (std::is_same_v<V, int32_t> || std::is_same_v<V, int64_t>)
          config.*ptr = static_cast<V>(v.i);
        else if constexpr (std::is_same_v<V, double>)
          config.*ptr = v.d;
        else if constexpr (std::is_same_v<V, bool>)
          config.*ptr = v.b;
        else if constexpr (std::is_same_v<V, std::string>)
          config.*ptr = v.s;
        else
          config.*ptr = v.list;
      },
      b->member);
  return "";
}

TopicConfigResult apply_topic_configs(const TopicConfig& base,
                                      const std::map<std::string, std::string>& overrides) {
  TopicConfigResult r{base, {}};
  for (const auto& [key, value] : overrides) {
    std::string problem = set_topic_config(r.config, key, value);
    if (!problem.empty()) r.errors.push_back(std::move(problem));
  }
  return r;
}

}  // namespace keel::config
