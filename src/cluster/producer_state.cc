#include "cluster/producer_state.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "common/bytes.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "storage/checkpoint.h"
#include "storage/errors.h"

namespace keel::cluster {

using protocol::ErrorCode;

namespace {

constexpr int16_t kSnapshotVersion = 1;
constexpr size_t kHeaderSize = 2 + 4 + 4;
constexpr size_t kEntrySize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;

bool in_sequence(int32_t last, int32_t next) {
  return int64_t{next} == int64_t{last} + 1 || (next == 0 && last == INT32_MAX);
}

// The sequence `decrement` before `seq`, wrapping below 0 to INT32_MAX as the
// producer wraps above it (a snapshot stores only a batch's last sequence).
int32_t decrement_sequence(int32_t seq, int32_t decrement) {
  if (decrement <= 0) return seq;
  if (seq < decrement) return static_cast<int32_t>(int64_t{seq} + (int64_t{INT32_MAX} - decrement) + 1);
  return seq - decrement;
}

std::string snapshot_name(int64_t offset) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%020" PRId64 ".snapshot", offset);
  return buf;
}

}  // namespace

std::vector<uint8_t> encode_producer_snapshot(const std::vector<SnapshotEntry>& entries) {
  ByteWriter w(kHeaderSize + entries.size() * kEntrySize);
  w.write_i16(kSnapshotVersion);
  const size_t crc_at = w.reserve_bytes(4);
  w.write_i32(static_cast<int32_t>(entries.size()));
  for (const auto& e : entries) {
    w.write_i64(e.producer_id);
    w.write_i16(e.epoch);
    w.write_i32(e.last_sequence);
    w.write_i64(e.last_offset);
    w.write_i32(e.offset_delta);
    w.write_i64(e.timestamp);
    w.write_i32(e.coordinator_epoch);
    w.write_i64(e.current_txn_first_offset);
  }
  Bytes out = w.take();
  const uint32_t crc = crc32c(ByteView(out.data() + crc_at + 4, out.size() - crc_at - 4));
  store_be<uint32_t>(out.data() + crc_at, crc);
  return out;
}

std::optional<std::vector<SnapshotEntry>> decode_producer_snapshot(const std::vector<uint8_t>& bytes) {
  ByteReader r{ByteView(bytes)};
  if (r.read_i16() != kSnapshotVersion) return std::nullopt;
  const uint32_t crc = r.read_u32();
  if (!r.ok() || crc32c(ByteView(bytes.data() + 6, bytes.size() - 6)) != crc) return std::nullopt;
  const int32_t count = r.read_i32();
  if (!r.ok() || count < 0 || static_cast<size_t>(count) * kEntrySize != r.remaining()) return std::nullopt;
  std::vector<SnapshotEntry> out;
  out.reserve(static_cast<size_t>(count));
  for (int32_t i = 0; i < count; ++i) {
    SnapshotEntry e{};
    e.producer_id = r.read_i64();
    e.epoch = r.read_i16();
    e.last_sequence = r.read_i32();
    e.last_offset = r.read_i64();
    e.offset_delta = r.read_i32();
    e.timestamp = r.read_i64();
    e.coordinator_epoch = r.read_i32();
    e.current_txn_first_offset = r.read_i64();
    out.push_back(e);
  }
  if (!r.ok()) return std::nullopt;
  return out;
}

ProducerStateManager::ProducerStateManager(std::string dir, int64_t producer_id_expiration_ms)
    : dir_(std::move(dir)), expiration_ms_(producer_id_expiration_ms) {}

ProducerCheck ProducerStateManager::check(const ProducerBatch& b) const {
  ProducerCheck out;
  if (b.producer_id < 0) return out;
  auto it = producers_.find(b.producer_id);
  if (it == producers_.end()) return out;  // unknown (new, or expired): any sequence starts it
  const Entry& e = it->second;
  if (b.producer_epoch < e.epoch) {
    out.error = ErrorCode::kInvalidProducerEpoch;
    out.message = "producer " + std::to_string(b.producer_id) + " epoch " + std::to_string(b.producer_epoch) +
                  " is older than the current epoch " + std::to_string(e.epoch);
    return out;
  }
  if (!b.transactional && e.current_txn_first_offset >= 0) {
    out.error = ErrorCode::kInvalidTxnState;
    out.message = "producer " + std::to_string(b.producer_id) + " has a transaction open since offset " +
                  std::to_string(e.current_txn_first_offset) + ": expected a transactional batch";
    return out;
  }
  if (b.coordinator_origin) return out;
  if (b.producer_epoch == e.epoch) {
    for (const auto& m : e.batches) {
      if (m.first_seq == b.base_sequence && m.last_seq == b.last_sequence) {
        // A transactional batch matching one of a transaction that has
        // ended since (a COMMIT or ABORT marker came after it) is no retry:
        // a client sends EndTxn only once its batches are answered. It is a
        // client reusing the sequences of a batch it purged at an abort
        // although that batch had been written (librdkafka does, after a
        // leader died with the batch in flight). Kafka answers it as a
        // duplicate with the old batch's offsets: the new records are lost
        // while the client counts them written, and the transaction commits
        // without them. Keel refuses it as out of order: the client's
        // transaction fails (librdkafka: fatal; the Java client: abortable,
        // with an epoch bump) and nothing is lost.
        if (b.transactional && (e.current_txn_first_offset < 0 || m.first_offset < e.current_txn_first_offset)) {
          out.error = ErrorCode::kOutOfOrderSequenceNumber;
          out.message = "producer " + std::to_string(b.producer_id) + ": sequences " +
                        std::to_string(b.base_sequence) + ".." + std::to_string(b.last_sequence) +
                        " were written at offset " + std::to_string(m.first_offset) +
                        " by a transaction that has ended; a retry cannot outlive its transaction";
          return out;
        }
        out.duplicate = m;
        return out;
      }
    }
  }
  if (b.producer_epoch != e.epoch) {
    // A new epoch starts its sequences at 0.
    if (b.base_sequence != 0) {
      out.error = ErrorCode::kOutOfOrderSequenceNumber;
      out.message = "producer " + std::to_string(b.producer_id) + " new epoch " + std::to_string(b.producer_epoch) +
                    " must start at sequence 0, got " + std::to_string(b.base_sequence);
    }
    return out;
  }
  const int32_t last = e.batches.empty() ? -1 : e.batches.back().last_seq;
  if (!e.batches.empty() && !in_sequence(last, b.base_sequence)) {
    out.error = ErrorCode::kOutOfOrderSequenceNumber;
    out.message = "producer " + std::to_string(b.producer_id) + ": expected sequence " +
                  std::to_string(last == INT32_MAX ? 0 : last + 1) + ", got " + std::to_string(b.base_sequence);
  }
  return out;
}

void ProducerStateManager::record(const ProducerBatch& b) {
  if (b.producer_id < 0) return;
  Entry& e = producers_[b.producer_id];
  if (b.producer_epoch != e.epoch) {
    e.epoch = b.producer_epoch;
    e.batches.clear();
  }
  e.batches.push_back({b.base_sequence, b.last_sequence, b.first_offset, b.last_offset, b.timestamp});
  while (e.batches.size() > kBatchesKept) e.batches.pop_front();
  // Kafka's ProducerStateEntry.lastTimestamp: the last batch's max timestamp.
  e.last_timestamp = b.timestamp;
  if (b.transactional && e.current_txn_first_offset < 0) {
    e.current_txn_first_offset = b.first_offset;
    ongoing_[b.first_offset] = b.producer_id;
  }
}

ProducerCheck ProducerStateManager::check_marker(const MarkerBatch& m) const {
  ProducerCheck out;
  auto it = producers_.find(m.producer_id);
  if (it == producers_.end()) return out;  // Kafka accepts a marker for a producer it does not know
  const Entry& e = it->second;
  if (m.producer_epoch < e.epoch) {
    out.error = ErrorCode::kInvalidProducerEpoch;
    out.message = "marker for producer " + std::to_string(m.producer_id) + " has epoch " +
                  std::to_string(m.producer_epoch) + ", older than the current epoch " + std::to_string(e.epoch);
    return out;
  }
  if (m.coordinator_epoch < e.coordinator_epoch) {
    out.error = ErrorCode::kTransactionCoordinatorFenced;
    out.message = "marker for producer " + std::to_string(m.producer_id) + " has coordinator epoch " +
                  std::to_string(m.coordinator_epoch) + ", older than " + std::to_string(e.coordinator_epoch);
  }
  return out;
}

std::optional<CompletedTxn> ProducerStateManager::complete_txn(const MarkerBatch& m) {
  Entry& e = producers_[m.producer_id];
  std::optional<CompletedTxn> done;
  if (e.current_txn_first_offset >= 0) {
    done = CompletedTxn{m.producer_id, e.current_txn_first_offset, m.offset, !m.commit};
    ongoing_.erase(e.current_txn_first_offset);
    unreplicated_[e.current_txn_first_offset] = m.offset;
  }
  if (m.producer_epoch != e.epoch) {
    e.epoch = m.producer_epoch;
    e.batches.clear();
  }
  e.current_txn_first_offset = -1;
  e.coordinator_epoch = m.coordinator_epoch;
  e.last_timestamp = m.timestamp;
  return done;
}

int64_t ProducerStateManager::last_stable_offset_after(const CompletedTxn& txn) const {
  for (const auto& [first, pid] : ongoing_) {
    if (pid != txn.producer_id) return first;
  }
  return txn.last_offset + 1;
}

std::optional<int64_t> ProducerStateManager::first_unstable_offset() const {
  std::optional<int64_t> out;
  if (!ongoing_.empty()) out = ongoing_.begin()->first;
  if (!unreplicated_.empty() && (!out || unreplicated_.begin()->first < *out)) out = unreplicated_.begin()->first;
  return out;
}

void ProducerStateManager::on_high_watermark(int64_t high_watermark) {
  std::erase_if(unreplicated_, [&](const auto& kv) { return kv.second < high_watermark; });
}

bool ProducerStateManager::has_open_txn(int64_t producer_id, int16_t producer_epoch) const {
  auto it = producers_.find(producer_id);
  return it != producers_.end() && it->second.current_txn_first_offset >= 0 && it->second.epoch == producer_epoch;
}

std::vector<ProducerView> ProducerStateManager::producers() const {
  std::vector<ProducerView> out;
  out.reserve(producers_.size());
  for (const auto& [id, e] : producers_) {
    out.push_back({id, e.epoch, e.batches.empty() ? -1 : e.batches.back().last_seq, e.last_timestamp,
                   e.coordinator_epoch, e.current_txn_first_offset});
  }
  return out;
}

void ProducerStateManager::remove_expired(int64_t now_ms) {
  std::erase_if(producers_, [&](const auto& kv) { return expired(kv.second, now_ms); });
}

std::vector<int64_t> ProducerStateManager::snapshot_offsets() const {
  std::vector<int64_t> out;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return out;
  while (dirent* ent = ::readdir(d)) {
    std::string name = ent->d_name;
    if (name.size() != 29 || !name.ends_with(".snapshot")) continue;
    // 20 digits can exceed INT64_MAX: such a name is not one of ours.
    int64_t off = 0;
    bool valid = true;
    for (size_t i = 0; i < 20 && valid; ++i) {
      const int digit = name[i] - '0';
      if (digit < 0 || digit > 9 || off > (INT64_MAX - digit) / 10) valid = false;
      else off = off * 10 + digit;
    }
    if (valid) out.push_back(off);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

int64_t ProducerStateManager::load(int64_t log_start, int64_t log_end, int64_t now_ms) {
  producers_.clear();
  ongoing_.clear();
  unreplicated_.clear();
  last_snapshot_ = -1;
  auto offsets = snapshot_offsets();
  for (auto it = offsets.rbegin(); it != offsets.rend(); ++it) {
    const std::string path = dir_ + "/" + snapshot_name(*it);
    if (*it > log_end) {
      // Above the log end: the log was truncated below it.
      ::unlink(path.c_str());
      continue;
    }
    // A snapshot below the log start is still loaded (as Kafka does since
    // KIP-360): retention deleted the producers' batches, not their state, so
    // a producer idle across a retention pass keeps its sequence.
    std::ifstream in(path, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto entries = decode_producer_snapshot(bytes);
    if (!entries) {
      keel::logger("storage")->warn("{}: corrupt producer snapshot, ignored and deleted", path);
      ::unlink(path.c_str());
      continue;
    }
    for (const auto& e : *entries) {
      Entry entry;
      entry.epoch = e.epoch;
      entry.last_timestamp = e.timestamp;
      entry.coordinator_epoch = e.coordinator_epoch;
      // An open transaction that began below the snapshot is still open.
      entry.current_txn_first_offset = e.current_txn_first_offset < *it ? e.current_txn_first_offset : -1;
      if (now_ms >= 0 && expired(entry, now_ms)) continue;
      // A producer whose only state is its epoch (a marker cleared its
      // batches) has no last batch: lastSequence -1.
      if (e.last_offset >= 0 && e.last_sequence >= 0) {
        entry.batches.push_back({decrement_sequence(e.last_sequence, e.offset_delta), e.last_sequence,
                                 e.last_offset - e.offset_delta, e.last_offset, e.timestamp});
      }
      if (entry.current_txn_first_offset >= 0) ongoing_[entry.current_txn_first_offset] = e.producer_id;
      producers_[e.producer_id] = std::move(entry);
    }
    last_snapshot_ = *it;
    return std::max(*it, log_start);
  }
  return log_start;
}

Result<void> ProducerStateManager::take_snapshot(int64_t log_end) {
  std::vector<SnapshotEntry> entries;
  entries.reserve(producers_.size());
  for (const auto& [id, e] : producers_) {
    if (e.batches.empty()) {
      // Known only by its epoch, coordinator epoch or open transaction.
      entries.push_back({id, e.epoch, -1, -1, 0, e.last_timestamp, e.coordinator_epoch, e.current_txn_first_offset});
      continue;
    }
    const BatchMetadata& last = e.batches.back();
    entries.push_back({id, e.epoch, last.last_seq, last.last_offset,
                       static_cast<int32_t>(last.last_offset - last.first_offset),
                       e.last_timestamp, e.coordinator_epoch, e.current_txn_first_offset});
  }
  const auto bytes = encode_producer_snapshot(entries);
  if (auto r = storage::write_file_atomic(dir_ + "/" + snapshot_name(log_end),
                                          std::string(bytes.begin(), bytes.end()));
      !r) {
    return r;
  }
  last_snapshot_ = log_end;
  auto offsets = snapshot_offsets();
  for (size_t i = 0; i + 2 < offsets.size(); ++i) ::unlink((dir_ + "/" + snapshot_name(offsets[i])).c_str());
  return {};
}

}  // namespace keel::cluster
