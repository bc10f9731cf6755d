#include "storage/errors.h"

#include <string>

namespace keel::storage {
namespace {

class StorageCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "storage"; }
  std::string message(int c) const override {
    switch (static_cast<StorageErrc>(c)) {
      case StorageErrc::kCorruptMessage: return "corrupt record batch";
      case StorageErrc::kMessageTooLarge: return "record batch larger than max.message.bytes";
      case StorageErrc::kRecordListTooLarge: return "record set larger than segment.bytes";
      case StorageErrc::kInvalidRecord: return "invalid record set";
      case StorageErrc::kOffsetOutOfRange: return "offset out of range";
      case StorageErrc::kStorageError: return "storage I/O error";
      case StorageErrc::kLogDirOffline: return "log directory offline";
      case StorageErrc::kBadCheckpoint: return "malformed checkpoint or metadata file";
      case StorageErrc::kOffsetOutOfOrder:
        return "follower append out of order: batches must continue at the log end offset with increasing offsets";
    }
    return "unknown storage error";
  }
};

}  // namespace

const std::error_category& storage_category() {
  static const StorageCategory category;
  return category;
}

int16_t kafka_error_code(std::error_code ec) {
  if (!ec) return 0;
  if (ec.category() != storage_category()) return -1;
  switch (static_cast<StorageErrc>(ec.value())) {
    case StorageErrc::kCorruptMessage: return 2;
    case StorageErrc::kMessageTooLarge: return 10;
    case StorageErrc::kRecordListTooLarge: return 18;
    case StorageErrc::kInvalidRecord: return 87;
    case StorageErrc::kOffsetOutOfRange: return 1;
    case StorageErrc::kStorageError:
    case StorageErrc::kLogDirOffline: return 56;
    case StorageErrc::kBadCheckpoint:
    case StorageErrc::kOffsetOutOfOrder: return -1;
  }
  return -1;
}

}  // namespace keel::storage
