#pragma once
// The admin REST API (Confluent REST v3 shapes, docs/rest-api.md) on the
// broker's HTTP listener. Every route turns into the Kafka admin request an
// admin client would send (KafkaBridge), under the caller's principal, so the
// broker's handlers and ACLs decide; the answer is turned into v3's JSON.
//
// Who calls: HTTP Basic (only over https) checked against the broker's PLAIN
// and SCRAM users -> User:<name>; else a verified TLS client certificate ->
// the principal ssl.principal.mapping.rules give it, as on a Kafka SSL
// listener; else User:ANONYMOUS. Wrong credentials answer 401.
//
// Thread-safety: the routes run on the bridge's workers and finish on
// whichever thread the Kafka handler answers from; RestApi's only mutable
// state is the cluster id, learned once the broker serves (under a mutex).

#include <functional>
#include <mutex>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/server.h"
#include "protocol/generated/describe_groups_response.h"
#include "protocol/generated/metadata_response.h"
#include "server/rest/kafka_bridge.h"

namespace keel::server::rest {

struct RestOptions {
  // The cluster id, or nullopt while the broker is not serving (starting,
  // stopping): calls then answer 503.
  std::function<std::optional<std::string>()> cluster_id;
  int32_t broker_id = 0;
  // The listener name the Router sees REST calls come on: the Kafka listener
  // whose endpoints Metadata (brokers' host and port) shows.
  std::string listener_name;
  KafkaBridge::Dispatch dispatch;
  // Whether `password` is `user`'s (PLAIN file or SCRAM credentials); unset: no Basic auth.
  std::function<bool(std::string_view user, std::string_view password)> check_password;
  // A client certificate subject -> principal name by ssl.principal.mapping.rules; nullopt: refused.
  std::function<std::optional<std::string>(std::string_view subject)> map_tls_subject;
  int worker_threads = 2;
};

class RestApi : public std::enable_shared_from_this<RestApi> {
 public:
  explicit RestApi(RestOptions options);
  ~RestApi();

  // Adds every REST route and GET /openapi.json to `routes`; the routes own
  // this object.
  void register_routes(http::Routes& routes);
  // Refuses new calls and waits for the workers (broker stop).
  void stop() { bridge_.stop(); }

  // The OpenAPI 3 document describing the routes (openapi.cc).
  static const std::string& openapi_document();

  using Route = void (RestApi::*)(const http::Request&, const Caller&, http::Reply);

  // One partition's consumer lag (rest_lags.cc).
  struct Lag {
    std::string topic;
    int32_t partition = 0;
    int64_t current_offset = 0;
    int64_t log_end_offset = -1;
  };

 private:
  void add(http::Routes& routes, const char* method, const std::string& path, Route route);
  // The caller named by the request, or a 401 answer.
  std::optional<Caller> authenticate(const http::Request& req, http::Response* refusal) const;
  std::string cluster_url(const http::Request& req) const;
  // Set per call on the worker before the route runs (the broker settles it late).
  std::string cluster_id() const {
    std::lock_guard lock(cluster_mu_);
    return cluster_id_;
  }

  // clusters, brokers, partitions, replicas (rest_cluster.cc)
  void list_clusters(const http::Request&, const Caller&, http::Reply);
  void get_cluster(const http::Request&, const Caller&, http::Reply);
  void list_brokers(const http::Request&, const Caller&, http::Reply);
  void get_broker(const http::Request&, const Caller&, http::Reply);
  void list_partitions(const http::Request&, const Caller&, http::Reply);
  void get_partition(const http::Request&, const Caller&, http::Reply);
  void list_replicas(const http::Request&, const Caller&, http::Reply);
  void get_replica(const http::Request&, const Caller&, http::Reply);
  // topics (rest_topics.cc)
  void list_topics(const http::Request&, const Caller&, http::Reply);
  void get_topic(const http::Request&, const Caller&, http::Reply);
  void create_topic(const http::Request&, const Caller&, http::Reply);
  void delete_topic(const http::Request&, const Caller&, http::Reply);
  void update_partition_count(const http::Request&, const Caller&, http::Reply);
  // configs (rest_configs.cc)
  void list_topic_configs(const http::Request&, const Caller&, http::Reply);
  void get_topic_config(const http::Request&, const Caller&, http::Reply);
  void update_topic_config(const http::Request&, const Caller&, http::Reply);
  void reset_topic_config(const http::Request&, const Caller&, http::Reply);
  void alter_topic_configs(const http::Request&, const Caller&, http::Reply);
  void list_broker_configs(const http::Request&, const Caller&, http::Reply);
  void get_broker_config(const http::Request&, const Caller&, http::Reply);
  // ACLs (rest_acls.cc)
  void search_acls(const http::Request&, const Caller&, http::Reply);
  void create_acl(const http::Request&, const Caller&, http::Reply);
  void batch_create_acls(const http::Request&, const Caller&, http::Reply);
  void delete_acls(const http::Request&, const Caller&, http::Reply);
  // consumer groups (rest_groups.cc)
  void list_groups(const http::Request&, const Caller&, http::Reply);
  void get_group(const http::Request&, const Caller&, http::Reply);
  void list_consumers(const http::Request&, const Caller&, http::Reply);
  // DescribeGroups for the path's {consumer_group_id}: `answer` makes the
  // reply, or the reply is the refusal (not found, not authorized).
  using GroupAnswer = std::function<http::Response(const protocol::DescribeGroupsResponse::DescribedGroup&)>;
  void describe_group(const http::Request& req, const Caller& who, http::Reply reply, GroupAnswer answer);
  // lags (rest_lags.cc)
  void list_lags(const http::Request&, const Caller&, http::Reply);
  void get_lag(const http::Request&, const Caller&, http::Reply);
  void get_lag_summary(const http::Request&, const Caller&, http::Reply);
  // The group's committed partitions with their end offsets, sorted; or the refusal.
  void group_lags(const Caller& who, const std::string& group,
                  std::function<void(std::vector<Lag>, std::optional<http::Response>)> done);

  // /keel/v1 extensions: offset reset and group delete (rest_keel_groups.cc),
  // SCRAM users and client quotas (rest_keel_users.cc), leader elections and
  // the config schema (rest_keel_admin.cc).
  void register_keel_routes(http::Routes& routes);
  void reset_group_offsets(const http::Request&, const Caller&, http::Reply);
  void delete_group(const http::Request&, const Caller&, http::Reply);
  void list_scram_users(const http::Request&, const Caller&, http::Reply);
  void get_scram_user(const http::Request&, const Caller&, http::Reply);
  void upsert_scram_user(const http::Request&, const Caller&, http::Reply);
  void delete_scram_user(const http::Request&, const Caller&, http::Reply);
  void list_quotas(const http::Request&, const Caller&, http::Reply);
  void alter_quotas(const http::Request&, const Caller&, http::Reply);
  void elect_leaders(const http::Request&, const Caller&, http::Reply);
  void get_config_schema(const http::Request&, const Caller&, http::Reply);

  // Metadata v12 for `topics` (nullopt: all the caller may describe).
  void metadata(const Caller& who, std::optional<std::vector<std::string>> topics,
                std::function<void(Result<protocol::MetadataResponse>)> done);
  // The {topic_name}/{partition_id} of the path, from Metadata: `answer`
  // makes the reply, or the reply is the refusal (unknown, not authorized).
  using PartitionAnswer = std::function<http::Response(const protocol::MetadataResponse::MetadataResponsePartition&)>;
  void with_partition(const http::Request& req, const Caller& who, http::Reply reply, PartitionAnswer answer);
  // Shared by the config routes: resource type 2 (topic) or 4 (broker).
  void describe_configs(const http::Request& req, const Caller& who, http::Reply reply, int8_t type,
                        std::string name, std::optional<std::string> key);
  void alter_configs(const Caller& who, http::Reply reply, int8_t type, std::string name,
                     std::vector<std::pair<std::string, std::optional<std::string>>> changes, bool validate_only);

  RestOptions options_;
  std::string cluster_id_;  // written once the broker serves, under cluster_mu_
  mutable std::mutex cluster_mu_;
  KafkaBridge bridge_;
};

}  // namespace keel::server::rest
