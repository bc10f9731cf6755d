#pragma once
// Confluent v3's KafkaConsumer and KafkaConsumerAssignment objects
// (rest_v3_assignments.cc), for every route that answers them.

#include <cstdint>
#include <string>

#include <boost/json/fwd.hpp>

#include "protocol/generated/describe_groups_response.h"

namespace keel::server::rest {

// {kind KafkaConsumer, metadata, cluster_id, consumer_group_id, consumer_id,
// instance_id, client_id, assignments {related}}; group_url ends in
// /consumer-groups/{group}.
boost::json::object consumer_json(const std::string& group_url, const std::string& cluster_id,
                                  const std::string& group,
                                  const protocol::DescribeGroupsResponse::DescribedGroupMember& m);

// {kind KafkaConsumerAssignment, metadata, cluster_id, consumer_group_id,
// consumer_id, topic_name, partition_id, partition {related}, lag {related}}.
boost::json::object assignment_json(const std::string& cluster_url, const std::string& cluster_id,
                                    const std::string& group, const std::string& consumer, const std::string& topic,
                                    int32_t partition);

}  // namespace keel::server::rest
