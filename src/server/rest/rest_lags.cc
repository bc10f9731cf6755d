// Consumer lag: the group's committed offsets (OffsetFetch) against the
// partitions' log end offsets (ListOffsets, latest), both under the caller's
// principal. The partitions must be led by this broker and the group
// coordinated by it (one broker, or ask the right one); a partition whose end
// offset cannot be read here is left out.
#include <boost/json.hpp>

#include "protocol/generated/list_offsets_request.h"
#include "protocol/generated/list_offsets_response.h"
#include "protocol/generated/offset_fetch_request.h"
#include "protocol/generated/offset_fetch_response.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_util.h"

namespace keel::server::rest {
namespace {

constexpr int64_t kLatest = -1;

boost::json::value lag_json(const std::string& group_url, const std::string& cluster_id, const std::string& group,
                     const RestApi::Lag& l) {
  const std::string where = l.topic + "/partitions/" + std::to_string(l.partition);
  boost::json::object v = resource("KafkaConsumerLag", group_url + "/lags/" + where,
                           "crn:///kafka=" + cluster_id + "/consumer-group=" + group + "/lag=" + l.topic +
                               "/partition=" + std::to_string(l.partition));
  v["cluster_id"] = cluster_id;
  v["consumer_group_id"] = group;
  v["topic_name"] = l.topic;
  v["partition_id"] = l.partition;
  // Which member owns the partition is not read from the assignment yet.
  v["consumer_id"] = "";
  v["instance_id"] = nullptr;
  v["client_id"] = "";
  v["current_offset"] = l.current_offset;
  v["log_end_offset"] = l.log_end_offset;
  v["lag"] = l.log_end_offset - l.current_offset;
  return v;
}

}  // namespace

void RestApi::group_lags(const Caller& who, const std::string& group,
                         std::function<void(std::vector<Lag>, std::optional<http::Response>)> done) {
  protocol::OffsetFetchRequest of;
  of.group_id = group;
  of.topics = std::nullopt;  // every partition the group committed
  bridge_.call<protocol::OffsetFetchResponse>(who, of, 7, [this, who, done](Result<protocol::OffsetFetchResponse> r) {
    if (!r) return done({}, bridge_error(r.error()));
    if (r->error_code != 0) return done({}, kafka_error(r->error_code, ""));
    auto lags = std::make_shared<std::vector<Lag>>();
    protocol::ListOffsetsRequest lo;
    lo.replica_id = -1;
    for (const auto& t : r->topics) {
      protocol::ListOffsetsRequest::ListOffsetsTopic lt;
      lt.name = t.name;
      for (const auto& p : t.partitions) {
        if (p.error_code != 0 || p.committed_offset < 0) continue;
        lags->push_back(Lag{t.name, p.partition_index, p.committed_offset, -1});
        protocol::ListOffsetsRequest::ListOffsetsPartition lp;
        lp.partition_index = p.partition_index;
        lp.timestamp = kLatest;
        lt.partitions.push_back(lp);
      }
      if (!lt.partitions.empty()) lo.topics.push_back(std::move(lt));
    }
    if (lags->empty()) return done({}, std::nullopt);
    bridge_.call<protocol::ListOffsetsResponse>(who, lo, 7, [lags, done](Result<protocol::ListOffsetsResponse> e) {
      if (!e) return done({}, bridge_error(e.error()));
      for (const auto& t : e->topics) {
        for (const auto& p : t.partitions) {
          if (p.error_code != 0) continue;
          for (auto& l : *lags) {
            if (l.topic == t.name && l.partition == p.partition_index) l.log_end_offset = p.offset;
          }
        }
      }
      std::vector<Lag> out;
      for (const auto& l : *lags) {
        if (l.log_end_offset >= 0) out.push_back(l);
      }
      std::sort(out.begin(), out.end(), [](const Lag& a, const Lag& b) {
        return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
      });
      done(std::move(out), std::nullopt);
    });
  });
}

void RestApi::list_lags(const http::Request& req, const Caller& who, http::Reply reply) {
  const std::string group = req.param("consumer_group_id");
  group_lags(who, group, [this, &req, reply, group](std::vector<Lag> lags, std::optional<http::Response> refusal) {
    if (refusal) return reply(std::move(*refusal));
    const std::string group_url = cluster_url(req) + "/consumer-groups/" + group;
    boost::json::array data;
    for (const auto& l : lags) data.push_back(lag_json(group_url, cluster_id(), group, l));
    reply(json_response(200, list("KafkaConsumerLagList", group_url + "/lags", std::move(data))));
  });
}

void RestApi::get_lag(const http::Request& req, const Caller& who, http::Reply reply) {
  const std::string group = req.param("consumer_group_id");
  group_lags(who, group, [this, &req, reply, group](std::vector<Lag> lags, std::optional<http::Response> refusal) {
    if (refusal) return reply(std::move(*refusal));
    const auto partition = parse_int(req.param("partition_id"), 0, INT32_MAX);
    for (const auto& l : lags) {
      if (l.topic == req.param("topic_name") && partition && l.partition == *partition) {
        return reply(json_response(200, lag_json(cluster_url(req) + "/consumer-groups/" + group, cluster_id(), group, l)));
      }
    }
    reply(error(404, "Consumer lag of group " + group + " on " + req.param("topic_name") + "-" +
                         req.param("partition_id") + " cannot be found."));
  });
}

void RestApi::get_lag_summary(const http::Request& req, const Caller& who, http::Reply reply) {
  const std::string group = req.param("consumer_group_id");
  group_lags(who, group, [this, &req, reply, group](std::vector<Lag> lags, std::optional<http::Response> refusal) {
    if (refusal) return reply(std::move(*refusal));
    const std::string group_url = cluster_url(req) + "/consumer-groups/" + group;
    boost::json::object v = resource("KafkaConsumerGroupLagSummary", group_url + "/lag-summary",
                             "crn:///kafka=" + cluster_id() + "/consumer-group=" + group + "/lag-summary");
    v["cluster_id"] = cluster_id();
    v["consumer_group_id"] = group;
    const Lag* max = nullptr;
    int64_t total = 0;
    for (const auto& l : lags) {
      total += l.log_end_offset - l.current_offset;
      if (!max || l.log_end_offset - l.current_offset > max->log_end_offset - max->current_offset) max = &l;
    }
    v["max_lag_consumer_id"] = "";
    v["max_lag_instance_id"] = nullptr;
    v["max_lag_client_id"] = "";
    v["max_lag_topic_name"] = max ? max->topic : "";
    v["max_lag_partition_id"] = max ? max->partition : 0;
    v["max_lag"] = max ? max->log_end_offset - max->current_offset : 0;
    v["total_lag"] = total;
    if (max) {
      v["max_lag_partition"] = related(cluster_url(req) + "/topics/" + max->topic + "/partitions/" +
                                         std::to_string(max->partition));
    }
    reply(json_response(200, v));
  });
}

}  // namespace keel::server::rest
