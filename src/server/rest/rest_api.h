#pragma once
// The admin REST API (Confluent REST v3 shapes, docs/rest-api.md) on the
// broker's HTTP listener. Every route turns into the Kafka admin request an
// admin client would send (KafkaBridge), under the caller's principal, so the
// broker's handlers and ACLs decide; the answer is turned into v3's JSON.
//
// Who calls: Kerberos by HTTP Negotiate (SPNEGO, when http.spnego.enable) ->
// User:<the auth_to_local short name>; HTTP Basic (only over https) checked
// against the broker's PLAIN and SCRAM users -> User:<name>; else a verified
// TLS client certificate -> the principal ssl.principal.mapping.rules give
// it, as on a Kafka SSL listener; else User:ANONYMOUS, unless SPNEGO is on
// (then 401 with the challenges, as a Kafka SASL listener has no anonymous
// clients). Wrong credentials answer 401.
//
// Thread-safety: the routes run on the bridge's workers and finish on
// whichever thread the Kafka handler answers from; RestApi's only mutable
// state is the cluster id, learned once the broker serves (under a mutex).
// What must outlive a broker (the throttles its reassignments set) is in
// the coordination store.

#include <functional>
#include <mutex>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "http/server.h"
#include "protocol/generated/describe_groups_response.h"
#include "protocol/generated/metadata_response.h"
#include "server/lag_history.h"
#include "server/rest/kafka_bridge.h"
#include "server/rest/rest_keel_reassign_plan.h"
#include "server/rest/rest_throttle_record.h"

namespace keel::coord {
class CoordinationStore;
}
namespace keel::security {
class SpnegoAcceptor;
}

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
  // Kerberos (Authorization: Negotiate) when http.spnego.enable; null: not served.
  // With it, a call without credentials is answered 401 (no anonymous callers).
  std::shared_ptr<const security::SpnegoAcceptor> spnego;
  int worker_threads = 2;
  // The console (console.cc, rest_keel_records.cc): the groups' lags to sample
  // for the lag trend (unset: no trend), how often, and the download cap.
  LagHistory::Source lag_source;
  int64_t lag_history_interval_ms = 10000;
  int64_t records_download_max_bytes = 10 << 20;
  // The broker's coordination store (null while not open), where the
  // reassignments' throttles are recorded (rest_throttle_record.h); unset:
  // a throttle is refused (503).
  std::function<coord::CoordinationStore*()> store;
};

class RestApi : public std::enable_shared_from_this<RestApi> {
 public:
  explicit RestApi(RestOptions options);
  ~RestApi();

  // Adds every REST route and GET /openapi.json to `routes`; the routes own
  // this object.
  void register_routes(http::Routes& routes);
  // Refuses new calls and waits for the workers (broker stop).
  void stop() {
    lag_history_->stop();
    bridge_.stop();
  }

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
  // The caller named by the request, or a 401 answer. *www_authenticate gets
  // the value of a WWW-Authenticate header the answer must carry (SPNEGO's
  // mutual authentication token), or stays empty. Runs on a worker: the
  // Kerberos check reads the keytab and writes the replay cache.
  std::optional<Caller> authenticate(const http::Request& req, http::Response* refusal,
                                     std::string* www_authenticate) const;
  std::string cluster_url(const http::Request& req) const;
  // `reply`, adding the header Keel-Coordinator-Id to a 421 (NOT_COORDINATOR) answer.
  http::Reply naming_coordinator(const http::Request& req, const Caller& who, http::Reply reply);
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
  // GET /brokers/{broker_id}/partition-replicas (rest_v3_replicas.cc)
  void list_broker_replicas(const http::Request&, const Caller&, http::Reply);
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
  // one consumer and its assignments (rest_v3_assignments.cc)
  void get_consumer(const http::Request&, const Caller&, http::Reply);
  void list_assignments(const http::Request&, const Caller&, http::Reply);
  void get_assignment(const http::Request&, const Caller&, http::Reply);
  // The path's {consumer_id} in DescribeGroups with its assigned (topic, partition)s, sorted:
  // `answer` (group, consumer, assignment) makes the reply, or the reply is the refusal.
  using Assignment = std::vector<std::pair<std::string, int32_t>>;
  using AssignmentAnswer =
      std::function<http::Response(const std::string&, const std::string&, const Assignment&)>;
  void with_assignment(const http::Request& req, const Caller& who, http::Reply reply, AssignmentAnswer answer);
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
  // The console's server side (rest_keel_records.cc): the message browser and
  // the lag trend of a group (lag_history_).
  void register_console_routes(http::Routes& routes);
  void browse_records(const http::Request&, const Caller&, http::Reply);
  void get_lag_history(const http::Request&, const Caller&, http::Reply);
  // /keel/v1 reassignments, replication factor, rebalance (rest_keel_reassign*.cc)
  // and broker drain and decommission (rest_keel_brokers.cc).
  void register_reassign_routes(http::Routes& routes);
  void plan_reassignment(const http::Request&, const Caller&, http::Reply);
  void submit_reassignments(const http::Request&, const Caller&, http::Reply);
  void list_reassignments(const http::Request&, const Caller&, http::Reply);
  void cancel_reassignments(const http::Request&, const Caller&, http::Reply);
  void change_replication_factor(const http::Request&, const Caller&, http::Reply);
  void rebalance(const http::Request&, const Caller&, http::Reply);
  void drain_broker(const http::Request&, const Caller&, http::Reply);
  void drain_progress(const http::Request&, const Caller&, http::Reply);
  void decommission_broker(const http::Request&, const Caller&, http::Reply);
  void decommission_progress(const http::Request&, const Caller&, http::Reply);
  // Metadata as a plan's input; on a broker that is not the controller the
  // reply is 421 naming the controller (reassignments are its requests).
  struct ReassignView {
    std::vector<PlanBroker> brokers;  // the live brokers
    std::vector<PlanPartition> partitions;
    int32_t controller = -1;
  };
  void reassign_view(const Caller& who, std::optional<std::vector<std::string>> topics, bool on_controller,
                     http::Reply reply, std::function<void(ReassignView)> then);
  // AlterPartitionReassignments for `moves` (or only the answer, dry_run),
  // with the replication throttle when `throttle` is set.
  void submit_moves(const Caller& who, std::vector<Move> moves, bool dry_run, std::optional<int64_t> throttle,
                    http::Reply reply);
  // Removes the throttles the REST reassignments of any broker set
  // (recorded in the store, rest_throttle_record.h) once none of theirs is
  // ongoing, as kafka-reassign-partitions --verify: the topics not in `busy`,
  // and the brokers' rates once no recorded topic is busy. `done` gets the
  // topics cleared (none when the store cannot be read: a later call retries).
  void clear_finished_throttles(const Caller& who, const std::set<std::string>& busy,
                                std::function<void(std::vector<std::string>)> done);

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
  // A `:alter` body ({"data":[{name, value, operation: SET|DELETE}], "validate_only"}) -> alter_configs.
  void alter_configs_from_body(const http::Request& req, const Caller& who, http::Reply reply, int8_t type,
                               std::string name);
  // Cluster-wide broker configs (the BROKER resource named "", as Kafka has
  // it) and one broker's config writes (rest_broker_configs.cc).
  void list_cluster_configs(const http::Request&, const Caller&, http::Reply);
  void get_cluster_config(const http::Request&, const Caller&, http::Reply);
  void update_cluster_config(const http::Request&, const Caller&, http::Reply);
  void reset_cluster_config(const http::Request&, const Caller&, http::Reply);
  void alter_cluster_configs(const http::Request&, const Caller&, http::Reply);
  void update_broker_config(const http::Request&, const Caller&, http::Reply);
  void reset_broker_config(const http::Request&, const Caller&, http::Reply);
  void alter_broker_configs(const http::Request&, const Caller&, http::Reply);
  // POST /topics/{topic_name}/records: one record through Produce, acks=all (rest_records.cc).
  void produce_record(const http::Request&, const Caller&, http::Reply);
  // POST /topics/{topic_name}/records:batch: each entry through produce_record (rest_v3_records_batch.cc).
  void produce_records_batch(const http::Request&, const Caller&, http::Reply);
  // GET /topics/{t|-}/partitions/{p|-}/reassignment (rest_v3_reassign.cc).
  void get_reassignments(const http::Request&, const Caller&, http::Reply);

  RestOptions options_;
  std::string cluster_id_;  // written once the broker serves, under cluster_mu_
  mutable std::mutex cluster_mu_;
  KafkaBridge bridge_;
  ThrottleRecord throttle_record_{options_.store};
  std::shared_ptr<LagHistory> lag_history_ = std::make_shared<LagHistory>();
};

}  // namespace keel::server::rest
