#pragma once
// meta.properties: the file in each log directory that ties it to a cluster
// and a broker (Kafka's format: `version=0`, `broker.id=N`, `cluster.id=...`).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace keel::server {

struct MetaProperties {
  int32_t version = 0;
  int32_t broker_id = -1;
  std::string cluster_id;
};

// Reads `dir`/meta.properties; nullopt when the file does not exist. Throws
// std::runtime_error for an unreadable or malformed file.
std::optional<MetaProperties> read_meta_properties(const std::filesystem::path& dir);

// Writes it atomically (temporary file, fsync, rename, fsync of the directory).
void write_meta_properties(const std::filesystem::path& dir, const MetaProperties& meta);

// The start-up rule: create the directory and its meta.properties with a new
// random cluster id when absent; otherwise check it names `broker_id` and use
// its cluster id. Throws std::runtime_error naming the file on a mismatch.
// Every directory of log.dirs goes through this; all must agree.
MetaProperties ensure_meta_properties(const std::filesystem::path& dir, int32_t broker_id,
                                      const std::optional<std::string>& cluster_id);

// What the log directories already say, before the broker joins the store:
// the cluster id of those with a meta.properties (all must agree, and name
// `broker_id`), or nullopt when none has one yet (a new broker). Creates no
// file. Throws std::runtime_error naming the file on a mismatch.
std::optional<std::string> read_cluster_id(const std::vector<std::string>& dirs, int32_t broker_id);

}  // namespace keel::server
