#pragma once
// Kafka's small text files in a log directory and a partition directory.
//
// Offset checkpoints (recovery-point-offset-checkpoint,
// log-start-offset-checkpoint, replication-offset-checkpoint):
//   "0\n<count>\n<topic> <partition> <offset>\n..."
// written to <name>.tmp, fsynced, renamed over the old file, then the
// directory is fsynced, so a crash leaves the old or the new file, never half.
// partition.metadata: "version: 0\ntopic_id: <base64 uuid>\n".
// .kafka_cleanshutdown: present = the last shutdown flushed everything.

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/result.h"

namespace keel::storage {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
  // "<topic>-<partition>", the partition's directory name.
  std::string dir_name() const { return topic + "-" + std::to_string(partition); }
};

using OffsetMap = std::map<TopicPartition, int64_t>;

inline constexpr const char* kRecoveryPointCheckpoint = "recovery-point-offset-checkpoint";
inline constexpr const char* kLogStartOffsetCheckpoint = "log-start-offset-checkpoint";
inline constexpr const char* kReplicationOffsetCheckpoint = "replication-offset-checkpoint";
// Per log dir: each compacted partition's first dirty offset (the cleaner's progress).
inline constexpr const char* kCleanerOffsetCheckpoint = "cleaner-offset-checkpoint";
inline constexpr const char* kCleanShutdownFile = ".kafka_cleanshutdown";
inline constexpr const char* kPartitionMetadataFile = "partition.metadata";

// Errors: kStorageError (I/O).
Result<void> write_offset_checkpoint(const std::string& path, const OffsetMap& offsets);
// A missing file is an empty map. Errors: kBadCheckpoint (wrong version,
// count mismatch, bad line), kStorageError.
Result<OffsetMap> read_offset_checkpoint(const std::string& path);

Result<void> write_partition_metadata(const std::string& partition_dir, const std::string& topic_id);
// The topic id, or "" when the file does not exist. Errors: kBadCheckpoint.
Result<std::string> read_partition_metadata(const std::string& partition_dir);

// "<topic>-<n>" -> TopicPartition; nullopt for anything else (including the
// "-delete"/"-future"/"-stray" directories Kafka renames replicas to).
std::optional<TopicPartition> parse_partition_dir(const std::string& name);

// The whole file; nullopt when it does not exist. Errors: kStorageError.
Result<std::optional<std::string>> read_whole_file(const std::string& path);

// Writes `content` to path atomically (tmp + fsync + rename + dir fsync).
Result<void> write_file_atomic(const std::string& path, const std::string& content);

}  // namespace keel::storage
