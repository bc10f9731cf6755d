#pragma once
// A topic's effective configuration (the broker's defaults with the topic's
// stored overrides on top) and the views of it that storage and the produce
// path use.

#include <map>
#include <string>

#include "cluster/partition.h"
#include "config/config.h"
#include "config/topic_config.h"
#include "storage/log_config.h"

namespace keel::server {

// The broker's static defaults, then its dynamic broker configs (broker key
// names, e.g. log.retention.ms), then the topic's overrides. Values that fail
// validation are skipped (they were checked when stored; a default may have
// changed since), each with a log line.
config::TopicConfig effective_topic_config(const config::BrokerConfig& broker,
                                           const std::map<std::string, std::string>& dynamic_broker,
                                           const std::map<std::string, std::string>& overrides);
storage::LogConfig to_log_config(const config::TopicConfig& topic);
cluster::PartitionConfig to_partition_config(const config::TopicConfig& topic);

}  // namespace keel::server
