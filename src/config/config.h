#pragma once
// Broker configuration: one YAML file, Kafka's own key names, validated in full
// before the broker starts. Every key is described once, in the table in
// config_def.cc; parsing, defaults, --check-config output and the docs test
// all read that table.
//
// Contract: load_config_file/parse_config either return a fully validated
// BrokerConfig (every member holds its effective value) or throw ConfigError
// listing every problem found, each naming file:line and the key. Nothing here
// is thread-hostile: the functions keep no state.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::config {

// One listener, "NAME://host:port". host "" means all interfaces.
struct Endpoint {
  std::string listener_name;  // upper-cased, e.g. "PLAINTEXT"
  std::string host;           // "" = all interfaces; IPv6 without brackets
  uint16_t port = 0;          // 0 = let the OS pick (tests)
  // From listener.security.protocol.map: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
  std::string security_protocol;

  // "NAME://host:port", with brackets around an IPv6 host.
  std::string to_string() const;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// Parses "NAME://host:port", "NAME://[::1]:port" or "NAME://:port". Does not
// resolve the security protocol. On failure returns nullopt and sets *error to
// a phrase saying what is wrong (no key or line: the caller adds those).
std::optional<Endpoint> parse_endpoint(std::string_view text, std::string* error);

// The authorizer.class.name values that mean Keel's ACL authorizer: Kafka's
// ZooKeeper-era class and its pre-2.4 name.
inline constexpr std::string_view kAclAuthorizerClass = "kafka.security.authorizer.AclAuthorizer";
inline constexpr std::string_view kSimpleAclAuthorizerClass = "kafka.security.auth.SimpleAclAuthorizer";

struct BrokerConfig {
  // --- identity and network
  int32_t broker_id = 0;
  std::string broker_rack;  // "" = no rack (Kafka's null)
  std::vector<Endpoint> listeners = {{"PLAINTEXT", "", 9092, "PLAINTEXT"}};
  // Defaults to listeners, with an empty host replaced by this machine's hostname.
  std::vector<Endpoint> advertised_listeners;
  std::map<std::string, std::string> listener_security_protocol_map = {
      {"PLAINTEXT", "PLAINTEXT"}, {"SSL", "SSL"}, {"SASL_PLAINTEXT", "SASL_PLAINTEXT"},
      {"SASL_SSL", "SASL_SSL"}};
  // Defaults to PLAINTEXT when such a listener exists, else the first listener.
  std::string inter_broker_listener_name = "PLAINTEXT";
  std::string security_inter_broker_protocol;  // "" = not set; else names the inter-broker listener

  // --- storage. Relative paths are made absolute against the current
  // directory when the file is loaded (as Kafka does); see docs/configuration.md.
  std::vector<std::string> log_dirs = {"/tmp/keel-logs"};  // defaults to {log_dir}
  std::string log_dir = "/tmp/keel-logs";

  // --- topic defaults
  int32_t num_partitions = 1;
  int16_t default_replication_factor = 1;
  int32_t min_insync_replicas = 1;
  bool auto_create_topics_enable = true;
  bool delete_topic_enable = true;
  int32_t message_max_bytes = 1048588;

  // Retention: the raw keys as written, then the effective value.
  int32_t log_retention_hours = 168;
  std::optional<int32_t> log_retention_minutes;
  std::optional<int64_t> log_retention_ms;
  int64_t retention_ms = 168LL * 3600 * 1000;  // effective: ms > minutes > hours; -1 = forever
  int64_t log_retention_bytes = -1;

  int32_t log_segment_bytes = 1073741824;
  int32_t log_roll_hours = 168;
  std::optional<int64_t> log_roll_ms;
  int64_t segment_ms = 168LL * 3600 * 1000;  // effective: ms > hours
  int32_t log_roll_jitter_hours = 0;
  std::optional<int64_t> log_roll_jitter_ms;
  int64_t segment_jitter_ms = 0;  // effective: ms > hours
  int32_t log_index_interval_bytes = 4096;
  int32_t log_index_size_max_bytes = 10485760;
  int64_t log_flush_interval_messages = INT64_MAX;
  std::optional<int64_t> log_flush_interval_ms;
  int64_t log_flush_scheduler_interval_ms = INT64_MAX;
  int64_t flush_ms = INT64_MAX;  // effective: log.flush.interval.ms, else the scheduler interval
  std::vector<std::string> log_cleanup_policy = {"delete"};
  bool log_cleaner_enable = true;
  int32_t log_cleaner_threads = 1;
  double log_cleaner_min_cleanable_ratio = 0.5;
  int64_t log_cleaner_delete_retention_ms = 86400000;
  int64_t log_cleaner_min_compaction_lag_ms = 0;
  int64_t log_cleaner_backoff_ms = 15000;
  int64_t log_segment_delete_delay_ms = 60000;
  int64_t log_retention_check_interval_ms = 300000;
  std::string log_message_timestamp_type = "CreateTime";
  int64_t log_message_timestamp_difference_max_ms = INT64_MAX;
  int64_t log_message_timestamp_before_max_ms = INT64_MAX;
  int64_t log_message_timestamp_after_max_ms = INT64_MAX;
  // Deprecated in Kafka 3.x and ignored (batches are stored as produced);
  // accepted so configurations written for Kafka load.
  std::string log_message_format_version = "3.0-IV1";
  std::string inter_broker_protocol_version = "3.9-IV0";
  std::string compression_type = "producer";
  bool unclean_leader_election_enable = false;

  // --- coordination. Empty zookeeper_connect = embedded single-node store.
  std::string zookeeper_connect;
  int32_t zookeeper_session_timeout_ms = 18000;
  std::optional<int32_t> zookeeper_connection_timeout_ms_raw;
  int32_t zookeeper_connection_timeout_ms = 18000;  // effective: defaults to the session timeout
  // ZooKeeper security: the digest identity ("user:password" read from the
  // file at start-up, never from the YAML) and Kafka's zookeeper.set.acl.
  bool zookeeper_set_acl = false;
  std::string zookeeper_digest_credentials_file;

  // --- authorization. authorizer_class_name is "" (no ACLs: every request
  // allowed, the ACL APIs answer SECURITY_DISABLED) or one of Kafka's
  // ZooKeeper-era authorizer class names, which mean Keel's ACL authorizer.
  std::string authorizer_class_name;
  std::string super_users;  // "User:admin;User:CN=broker", as Kafka's super.users
  bool allow_everyone_if_no_acl_found = false;

  // --- threads and sockets
  int32_t num_network_threads = 3;
  int32_t num_io_threads = 8;
  int32_t num_recovery_threads_per_data_dir = 1;
  int32_t socket_request_max_bytes = 104857600;
  int32_t socket_send_buffer_bytes = 102400;     // -1 = OS default
  int32_t socket_receive_buffer_bytes = 102400;  // -1 = OS default
  int32_t queued_max_requests = 500;
  int32_t max_incremental_fetch_session_cache_slots = 1000;
  int64_t connections_max_idle_ms = 600000;
  int32_t max_connections = 2147483647;
  int32_t max_connections_per_ip = 2147483647;
  std::string max_connections_per_ip_overrides;  // "host:N,10.0.0.1:N", as Kafka's
  int32_t max_connection_creation_rate = 2147483647;  // server/connection_quotas.h

  // --- SASL (server/sasl.h). A listener's own values, where written, are in
  // listener_overrides.
  std::vector<std::string> sasl_enabled_mechanisms = {"GSSAPI"};
  int32_t sasl_server_max_receive_size = 524288;
  std::string sasl_plain_credentials_file;  // "" = PLAIN has no users
  int32_t connection_failed_authentication_delay_ms = 100;
  int64_t connections_max_reauth_ms = 0;

  // --- Kerberos (SASL/GSSAPI, server/sasl_gssapi.h) and JAAS lines
  // (security/jaas.h). A listener's own values, where written, are in
  // listener_overrides (e.g. ["SASL_PLAINTEXT"]["gssapi.sasl.jaas.config"]).
  std::string sasl_kerberos_service_name;  // "" = not set (Kafka's null)
  std::string sasl_jaas_config;            // "" = not set (Kafka's null)
  // The broker's own TGT for inter-broker GSSAPI (server/kerberos_tgt.h).
  double sasl_kerberos_ticket_renew_window_factor = 0.8;
  double sasl_kerberos_ticket_renew_jitter = 0.05;
  int64_t sasl_kerberos_min_time_before_relogin = 60'000;
  std::string sasl_kerberos_kinit_cmd = "/usr/bin/kinit";  // not used: the keytab is read directly
  std::vector<std::string> sasl_kerberos_principal_to_local_rules = {"DEFAULT"};
  std::string sasl_mechanism_inter_broker_protocol = "GSSAPI";

  // --- TLS (net/tls.h, docs/security.md): SSL and SASL_SSL listeners, and the
  // broker's own connections when inter.broker.listener.name is one of them.
  // A listener's own values, where written, are in listener_overrides.
  std::string ssl_keystore_type = "JKS";  // PEM, PKCS12; JKS is refused unless the file is PKCS12
  std::string ssl_keystore_location;
  std::string ssl_keystore_password;
  std::string ssl_key_password;
  std::string ssl_keystore_key;                // inline PEM private key
  std::string ssl_keystore_certificate_chain;  // inline PEM certificates
  std::string ssl_truststore_type = "JKS";
  std::string ssl_truststore_location;
  std::string ssl_truststore_password;
  std::string ssl_truststore_certificates;  // inline PEM certificates
  std::string ssl_client_auth = "none";     // required, requested, none
  std::vector<std::string> ssl_enabled_protocols = {"TLSv1.2", "TLSv1.3"};
  std::vector<std::string> ssl_cipher_suites;  // empty: OpenSSL's defaults
  std::string ssl_endpoint_identification_algorithm = "https";  // "" = no host name check
  std::string ssl_principal_mapping_rules = "DEFAULT";

  // --- groups, offsets, transactions
  int32_t offsets_topic_num_partitions = 50;
  int16_t offsets_topic_replication_factor = 3;
  int32_t offsets_retention_minutes = 10080;
  int32_t offsets_commit_timeout_ms = 5000;
  int32_t group_initial_rebalance_delay_ms = 3000;
  int32_t group_min_session_timeout_ms = 6000;
  int32_t group_max_session_timeout_ms = 1800000;
  int32_t group_max_size = 2147483647;
  int32_t offsets_topic_segment_bytes = 104857600;
  int64_t offsets_retention_check_interval_ms = 600000;
  int32_t offset_metadata_max_bytes = 4096;
  int16_t transaction_state_log_replication_factor = 3;
  int32_t transaction_state_log_min_isr = 2;
  int32_t transaction_state_log_num_partitions = 50;
  int32_t transaction_state_log_segment_bytes = 104857600;
  int32_t transaction_max_timeout_ms = 900000;
  int32_t transactional_id_expiration_ms = 604800000;
  int32_t transaction_abort_timed_out_transaction_cleanup_interval_ms = 10000;
  int32_t transaction_remove_expired_transaction_cleanup_interval_ms = 3600000;
  bool transaction_partition_verification_enable = true;  // KIP-890 part 1

  // --- replication
  int64_t replica_lag_time_max_ms = 30000;
  std::string replica_selector_class;  // "" = none: consumers read from leaders
  // Replication throttles (bytes/s); dynamic, so the broker re-reads them from
  // its dynamic configs. INT64_MAX = unthrottled.
  int64_t leader_replication_throttled_rate = INT64_MAX;
  int64_t follower_replication_throttled_rate = INT64_MAX;
  int32_t replication_quota_window_num = 11;
  int32_t replication_quota_window_size_seconds = 1;
  // Client quotas' measurement (server/quota_throttle.h).
  int32_t quota_window_num = 11;
  int32_t quota_window_size_seconds = 1;
  int32_t num_replica_fetchers = 1;
  int32_t replica_fetch_wait_max_ms = 500;
  int32_t replica_fetch_min_bytes = 1;
  int32_t replica_fetch_max_bytes = 1048576;
  int32_t replica_fetch_response_max_bytes = 10485760;
  int32_t fetch_max_bytes = 57671680;  // a consumer's fetch response in all (KIP-541)
  int32_t replica_fetch_backoff_ms = 1000;
  int32_t replica_socket_timeout_ms = 30000;
  int64_t replica_high_watermark_checkpoint_interval_ms = 5000;
  bool controlled_shutdown_enable = true;
  int32_t controlled_shutdown_max_retries = 3;
  int64_t controlled_shutdown_retry_backoff_ms = 5000;
  bool auto_leader_rebalance_enable = true;
  int64_t leader_imbalance_check_interval_seconds = 300;
  int32_t leader_imbalance_per_broker_percentage = 10;

  // --- HTTP listener and metrics (docs/metrics.md)
  std::vector<std::string> http_listeners;  // "http://host:port"; empty = none
  std::string metrics_names = "strimzi";    // strimzi or confluent
  bool metrics_enabled = true;              // false: requests update no metrics
  int32_t http_request_timeout_ms = 10000;
  int32_t http_max_connections = 256;
  bool http_spnego_enable = false;  // Kerberos (Negotiate) on the HTTP listener
  std::string http_spnego_keytab;     // "" = the GSSAPI listener's keytab
  std::string http_spnego_principal;  // "" = any HTTP/<host> key of the keytab
  int64_t console_records_download_max_bytes = 10485760;  // web console downloads; 0 = off
  int32_t console_lag_history_interval_ms = 10000;         // lag trend sampling

  // --- logging
  std::string logging_level = "info";
  std::string logging_file;  // empty = stderr
  // --- request log (server/request_log.h)
  std::string logging_request_level = "info";
  int64_t logging_request_slow_ms = 10000;  // -1 = never

  // listener.name.<listener>.<key>: Kafka's per-listener overrides, by
  // upper-case listener name, then the key without the prefix, e.g.
  // listener_overrides["SASL_SSL"]["ssl.keystore.location"] or
  // ["SASL_SSL"]["gssapi.sasl.jaas.config"] (a SASL key may carry a mechanism
  // prefix). Values as written (lists comma-joined), checked against the key's
  // type. Which keys may be overridden: listener_overridable() in config_def.h.
  std::map<std::string, std::map<std::string, std::string>> listener_overrides;
  // The override's text when listener.name.<listener>.<key> was written, else nullopt.
  std::optional<std::string> listener_override(std::string_view listener, std::string_view key) const;

  // Kafka keys written in the file that Keel accepts and does nothing with
  // (config_def.h kafka_key_without_effect): the broker warns about each.
  struct IgnoredKey {
    std::string key;
    int line = 0;
    std::string why;
  };
  std::vector<IgnoredKey> ignored_kafka_keys;

  // Where this config came from ("<defaults>" when built without a file).
  std::string source_name = "<defaults>";

  // Keys written in the file with a non-null value, each with its line.
  // Everything else holds its default (or a value derived from other keys).
  // DescribeConfigs reports these as STATIC_BROKER_CONFIG, the rest as DEFAULT_CONFIG.
  std::map<std::string, int, std::less<>> explicit_keys;
  bool is_explicit(std::string_view key) const { return explicit_keys.contains(key); }

  // Every key of the table, in table order, with its effective value as Kafka
  // would print it (lists comma-joined, maps "K:V,K:V", derived keys resolved).
  // For --check-config and DescribeConfigs.
  std::vector<std::pair<std::string, std::string>> effective() const;

  // effective(), plus where each value came from: for --check-config output.
  struct Entry {
    std::string name;
    std::string value;
    bool explicitly_set = false;  // written in the file (see explicit_keys)
    int line = 0;                 // its line when explicitly_set, else 0
  };
  std::vector<Entry> describe() const;

  // Topic-level defaults this broker gives new topics, keyed by topic-level
  // name (retention.ms, segment.bytes, cleanup.policy, ...).
  std::map<std::string, std::string> topic_defaults() const;
};

// Thrown by the loaders. what() is every error joined by newlines.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> errors);
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<std::string> errors_;
};

// Reads and validates a YAML file. Throws ConfigError for a missing or
// unreadable file, a YAML syntax error (with its line), and every invalid key.
BrokerConfig load_config_file(const std::filesystem::path& path);

// Same, from text; source_name is used in messages ("keel.yaml:7").
BrokerConfig parse_config(std::string_view yaml_text, std::string_view source_name);

// max.connections.per.ip.overrides, Kafka's "host:limit,host:limit" (a host
// name or an address; an IPv6 address's limit follows its last ':'): the
// pairs in order, or nullopt with `why`.
std::optional<std::vector<std::pair<std::string, int32_t>>> parse_connection_overrides(std::string_view text,
                                                                                        std::string* why);

}  // namespace keel::config
