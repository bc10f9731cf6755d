#pragma once
// Confluent v3's KafkaReplica object, shared by the routes that answer
// replicas (a partition's, a broker's: rest_v3_replicas.cc).

#include <cstdint>
#include <string>

#include <boost/json/fwd.hpp>

#include "protocol/generated/metadata_response.h"

namespace keel::server::rest {

// {kind KafkaReplica, metadata {self, resource_name}, cluster_id, topic_name,
// partition_id, broker_id, is_leader, is_in_sync, broker {related}}.
boost::json::object partition_replica_json(const std::string& cluster_url, const std::string& cluster_id,
                                           const std::string& topic,
                                           const protocol::MetadataResponse::MetadataResponsePartition& p,
                                           int32_t broker);

}  // namespace keel::server::rest
