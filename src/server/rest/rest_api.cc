// The route table of the REST API, authentication, and the hand-off of each
// call to the bridge's workers.
#include "server/rest/rest_api.h"

#include <algorithm>

#include "common/log.h"
#include "protocol/generated/find_coordinator_request.h"
#include "protocol/generated/find_coordinator_response.h"
#include "security/scram.h"
#include "security/spnego_header.h"
#include "server/rest/rest_spnego.h"
#include "server/rest/rest_util.h"

namespace keel::server::rest {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("rest");
  return l;
}

const std::string kCluster = "/v3/clusters/{cluster_id}";

}  // namespace

RestApi::RestApi(RestOptions options)
    : options_(std::move(options)), bridge_(options_.listener_name, options_.dispatch, options_.worker_threads) {}

RestApi::~RestApi() {
  lag_history_->stop();
  bridge_.stop();
}

void RestApi::register_routes(http::Routes& routes) {
  routes.add("GET", "/openapi.json", [self = shared_from_this()](const http::Request&) {
    http::Response r;
    r.content_type = "application/json";
    r.body = openapi_document();
    return r;
  });
  add(routes, "GET", "/v3/clusters", &RestApi::list_clusters);
  add(routes, "GET", kCluster, &RestApi::get_cluster);
  add(routes, "GET", kCluster + "/brokers", &RestApi::list_brokers);
  add(routes, "GET", kCluster + "/brokers/{broker_id}", &RestApi::get_broker);
  add(routes, "GET", kCluster + "/brokers/{broker_id}/configs", &RestApi::list_broker_configs);
  add(routes, "GET", kCluster + "/brokers/{broker_id}/configs/{name}", &RestApi::get_broker_config);
  add(routes, "PUT", kCluster + "/brokers/{broker_id}/configs/{name}", &RestApi::update_broker_config);
  add(routes, "DELETE", kCluster + "/brokers/{broker_id}/configs/{name}", &RestApi::reset_broker_config);
  add(routes, "POST", kCluster + "/brokers/{broker_id}/configs:alter", &RestApi::alter_broker_configs);
  add(routes, "GET", kCluster + "/broker-configs", &RestApi::list_cluster_configs);
  add(routes, "POST", kCluster + "/broker-configs:alter", &RestApi::alter_cluster_configs);
  add(routes, "GET", kCluster + "/broker-configs/{name}", &RestApi::get_cluster_config);
  add(routes, "PUT", kCluster + "/broker-configs/{name}", &RestApi::update_cluster_config);
  add(routes, "DELETE", kCluster + "/broker-configs/{name}", &RestApi::reset_cluster_config);
  add(routes, "GET", kCluster + "/topics", &RestApi::list_topics);
  add(routes, "POST", kCluster + "/topics", &RestApi::create_topic);
  add(routes, "GET", kCluster + "/topics/{topic_name}", &RestApi::get_topic);
  add(routes, "PATCH", kCluster + "/topics/{topic_name}", &RestApi::update_partition_count);
  add(routes, "DELETE", kCluster + "/topics/{topic_name}", &RestApi::delete_topic);
  add(routes, "GET", kCluster + "/topics/{topic_name}/configs", &RestApi::list_topic_configs);
  add(routes, "POST", kCluster + "/topics/{topic_name}/configs:alter", &RestApi::alter_topic_configs);
  add(routes, "GET", kCluster + "/topics/{topic_name}/configs/{name}", &RestApi::get_topic_config);
  add(routes, "PUT", kCluster + "/topics/{topic_name}/configs/{name}", &RestApi::update_topic_config);
  add(routes, "DELETE", kCluster + "/topics/{topic_name}/configs/{name}", &RestApi::reset_topic_config);
  add(routes, "POST", kCluster + "/topics/{topic_name}/records", &RestApi::produce_record);
  add(routes, "POST", kCluster + "/topics/{topic_name}/records:batch", &RestApi::produce_records_batch);
  add(routes, "GET", kCluster + "/topics/{topic_name}/partitions", &RestApi::list_partitions);
  add(routes, "GET", kCluster + "/topics/{topic_name}/partitions/{partition_id}", &RestApi::get_partition);
  add(routes, "GET", kCluster + "/topics/{topic_name}/partitions/{partition_id}/replicas", &RestApi::list_replicas);
  add(routes, "GET", kCluster + "/topics/{topic_name}/partitions/{partition_id}/reassignment",
      &RestApi::get_reassignments);
  add(routes, "GET", kCluster + "/topics/{topic_name}/partitions/{partition_id}/replicas/{broker_id}",
      &RestApi::get_replica);
  add(routes, "GET", kCluster + "/brokers/{broker_id}/partition-replicas", &RestApi::list_broker_replicas);
  add(routes, "GET", kCluster + "/acls", &RestApi::search_acls);
  add(routes, "POST", kCluster + "/acls", &RestApi::create_acl);
  add(routes, "DELETE", kCluster + "/acls", &RestApi::delete_acls);
  add(routes, "POST", kCluster + "/acls:batch", &RestApi::batch_create_acls);
  add(routes, "GET", kCluster + "/consumer-groups", &RestApi::list_groups);
  add(routes, "GET", kCluster + "/consumer-groups/{consumer_group_id}", &RestApi::get_group);
  add(routes, "GET", kCluster + "/consumer-groups/{consumer_group_id}/consumers", &RestApi::list_consumers);
  add(routes, "GET", kCluster + "/consumer-groups/{consumer_group_id}/consumers/{consumer_id}", &RestApi::get_consumer);
  add(routes, "GET", kCluster + "/consumer-groups/{consumer_group_id}/consumers/{consumer_id}/assignments",
      &RestApi::list_assignments);
  add(routes, "GET",
      kCluster + "/consumer-groups/{consumer_group_id}/consumers/{consumer_id}/assignments/{topic_name}/partitions/{partition_id}",
      &RestApi::get_assignment);
  add(routes, "GET", kCluster + "/consumer-groups/{consumer_group_id}/lag-summary", &RestApi::get_lag_summary);
  add(routes, "GET", kCluster + "/consumer-groups/{consumer_group_id}/lags", &RestApi::list_lags);
  add(routes, "GET", kCluster + "/consumer-groups/{consumer_group_id}/lags/{topic_name}/partitions/{partition_id}",
      &RestApi::get_lag);
  register_keel_routes(routes);
  register_console_routes(routes);
  register_reassign_routes(routes);
}

void RestApi::add(http::Routes& routes, const char* method, const std::string& path, Route route) {
  std::weak_ptr<RestApi> weak = weak_from_this();
  // The /keel/v1 routes of a broker's own cluster name none (reassignments, brokers).
  const bool names_cluster = path.find("{cluster_id}") != std::string::npos;
  routes.add_async(method, path, [weak, route, names_cluster](const http::Request& req, http::Reply reply) {
    auto self = weak.lock();
    if (!self) return reply(error(503, "the REST API is stopped"));
    // `req` lives until `reply` runs: the HTTP side keeps it with the reply.
    // The reply keeps this object alive for a Kafka answer that comes late.
    http::Reply guarded = [self, reply](http::Response r) { reply(std::move(r)); };
    const bool queued = self->bridge_.post([self, &req, reply = guarded, route, names_cluster] {
      auto id = self->options_.cluster_id ? self->options_.cluster_id() : std::nullopt;
      if (!id) return reply(error(503, kKafkaRetriable, "the broker is not serving requests (starting or stopping)"));
      {
        std::lock_guard lock(self->cluster_mu_);
        if (self->cluster_id_.empty()) self->cluster_id_ = *id;
      }
      http::Response refusal;
      std::string mutual;  // SPNEGO's last token, returned with the answer (RFC 4559 §5)
      auto caller = self->authenticate(req, &refusal, &mutual);
      if (!caller) return reply(std::move(refusal));
      // Keel-Principal: whom the broker took the caller for (the console shows it,
      // as a Kerberos sign-in names nobody in the page).
      const bool printable = std::all_of(caller->principal.begin(), caller->principal.end(),
                                         [](unsigned char c) { return c >= 0x20 && c != 0x7f; });
      http::Reply answer = [reply, mutual, principal = printable ? caller->principal : std::string()](
                               http::Response r) {
        if (!mutual.empty()) r.headers.emplace_back("WWW-Authenticate", mutual);
        if (!principal.empty()) r.headers.emplace_back("Keel-Principal", principal);
        reply(std::move(r));
      };
      const std::string& cluster = req.param("cluster_id");
      if (names_cluster && cluster != self->cluster_id()) {
        return answer(error(404, "Cluster " + cluster + " cannot be found."));
      }
      log()->debug("{} {} {} as {}", req.method, req.path, req.peer, caller->principal);
      if (!req.param("consumer_group_id").empty()) answer = self->naming_coordinator(req, *caller, std::move(answer));
      (self.get()->*route)(req, *caller, answer);
    });
    if (!queued) guarded(error(503, "the broker is busy or stopping; try again"));
  });
}

std::optional<Caller> RestApi::authenticate(const http::Request& req, http::Response* refusal,
                                           std::string* www_authenticate) const {
  Caller who;
  who.peer = req.peer;
  const bool negotiate = options_.spnego != nullptr;
  const bool basic = req.tls || !negotiate;  // with SPNEGO on, plain http offers Negotiate only
  if (auto auth = req.header("Authorization")) {
    auto parsed = security::split_authorization(*auth);
    if (parsed && negotiate && parsed->scheme_is("Negotiate")) {
      auto principal = rest::negotiate(*options_.spnego, req, *auth, refusal, www_authenticate);
      if (!principal) return std::nullopt;
      who.principal = std::move(*principal);
      return who;
    }
    if (!parsed || !parsed->scheme_is("Basic")) {
      *refusal = error(401, kAuthenticationFailed,
                       negotiate ? "only Negotiate (Kerberos) and Basic authentication are served"
                                 : "only Basic authentication is served (http.spnego.enable turns Kerberos on)");
      add_challenges(*refusal, negotiate, basic);
      return std::nullopt;
    }
    if (!req.tls) {
      *refusal = error(401, kAuthenticationFailed, "Basic authentication is accepted over https only");
      add_challenges(*refusal, negotiate, false);
      return std::nullopt;
    }
    auto decoded = security::base64_decode(parsed->credentials);
    const std::string text = decoded ? std::string(decoded->begin(), decoded->end()) : std::string();
    const size_t colon = text.find(':');
    if (!decoded || colon == std::string::npos || colon == 0 || !options_.check_password ||
        !options_.check_password(text.substr(0, colon), text.substr(colon + 1))) {
      log()->info("REST authentication failed from {}", req.peer);
      *refusal = error(401, kAuthenticationFailed, "Authentication failed");
      add_challenges(*refusal, negotiate, basic);
      return std::nullopt;
    }
    who.principal = "User:" + text.substr(0, colon);
    return who;
  }
  if (!req.tls_subject.empty() && options_.map_tls_subject) {
    auto name = options_.map_tls_subject(req.tls_subject);
    if (!name) {
      *refusal = error(401, kAuthenticationFailed, "no ssl.principal.mapping.rules rule maps " + req.tls_subject);
      return std::nullopt;
    }
    who.principal = "User:" + *name;
    return who;
  }
  if (negotiate) {
    *refusal = error(401, kAuthenticationFailed,
                     std::string("authentication required: Kerberos (Negotiate)") +
                         (req.tls ? ", Basic or a client certificate" : "; or use https for Basic or a certificate"));
    add_challenges(*refusal, negotiate, basic);
    return std::nullopt;
  }
  return who;
}

// A group asked of a broker that does not coordinate it: the 421 names the
// coordinator (FindCoordinator under the caller's principal), as an admin
// client would look it up.
http::Reply RestApi::naming_coordinator(const http::Request& req, const Caller& who, http::Reply reply) {
  return [this, group = req.param("consumer_group_id"), who, reply](http::Response r) {
    if (r.status != 421) return reply(std::move(r));
    protocol::FindCoordinatorRequest fc;
    fc.key = group;
    fc.key_type = 0;
    bridge_.call<protocol::FindCoordinatorResponse>(
        who, fc, 3, [reply, r = std::move(r)](Result<protocol::FindCoordinatorResponse> found) mutable {
          if (found && found->error_code == 0) r.headers.emplace_back("Keel-Coordinator-Id", std::to_string(found->node_id));
          reply(std::move(r));
        });
  };
}

std::string RestApi::cluster_url(const http::Request& req) const {
  return base_url(req) + "/v3/clusters/" + cluster_id();
}

}  // namespace keel::server::rest
