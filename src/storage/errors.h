#pragma once
// Errors of the storage module and their Kafka error codes.

#include <cstdint>
#include <system_error>

namespace keel::storage {

enum class StorageErrc {
  kCorruptMessage = 1,   // a batch fails parsing or its CRC (CORRUPT_MESSAGE)
  kMessageTooLarge,      // one batch is larger than max.message.bytes (MESSAGE_TOO_LARGE)
  kRecordListTooLarge,   // the appended batches together exceed segment.bytes (RECORD_LIST_TOO_LARGE)
  kInvalidRecord,        // empty record set, bad offsets in a batch (INVALID_RECORD)
  kOffsetOutOfRange,     // read/DeleteRecords outside [log start, log end] (OFFSET_OUT_OF_RANGE)
  kStorageError,         // a write, flush or open failed at the OS level (KAFKA_STORAGE_ERROR)
  kLogDirOffline,        // the log directory was marked offline after an I/O error (KAFKA_STORAGE_ERROR)
  kBadCheckpoint,        // a checkpoint / metadata file is malformed
  kOffsetOutOfOrder,     // a follower append does not continue the log end offset (gap or overlap),
                         // or its batches' offsets do not increase (internal: Kafka's
                         // UnexpectedAppendOffsetException / OffsetsOutOfOrderException)
};

const std::error_category& storage_category();
inline std::error_code make_error_code(StorageErrc e) { return {static_cast<int>(e), storage_category()}; }

// Kafka's error code for a storage error (0 for no error, -1 UNKNOWN_SERVER_ERROR
// for an error of another category). Used at the protocol edge only.
int16_t kafka_error_code(std::error_code ec);

}  // namespace keel::storage

template <>
struct std::is_error_code_enum<keel::storage::StorageErrc> : std::true_type {};
