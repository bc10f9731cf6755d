#include "storage/cleaner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <unordered_map>

#include "common/crc32c.h"
#include "common/log.h"
#include "protocol/record_batch.h"
#include "storage/cleaner_txn.h"
#include "storage/errors.h"

namespace keel::storage {
namespace {

namespace bf = protocol::batch_field;

bool pread_full(int fd, uint8_t* p, size_t n, int64_t pos) {
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, pos);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
    pos += r;
  }
  return true;
}

bool write_full(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::write(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// Calls fn(batch, position) for each whole batch in [0, size) of fd. Stops
// at a malformed header or a partial tail and returns the position reached
// (== size when the whole segment was walked). `buf` is reused across calls.
template <typename Fn>
Result<int64_t> for_each_batch(int fd, int64_t size, Bytes& buf, Fn&& fn) {
  int64_t pos = 0;
  uint8_t head[protocol::kLogOverhead];
  while (pos + static_cast<int64_t>(protocol::kBatchHeaderSize) <= size) {
    if (!pread_full(fd, head, sizeof head, pos)) return StorageErrc::kStorageError;
    int32_t len = load_be<int32_t>(head + bf::kBatchLength);
    int64_t total = static_cast<int64_t>(protocol::kLogOverhead) + len;
    if (len < static_cast<int32_t>(protocol::kBatchHeaderSize - protocol::kLogOverhead) || pos + total > size) break;
    buf.resize(static_cast<size_t>(total));
    if (!pread_full(fd, buf.data(), buf.size(), pos)) return StorageErrc::kStorageError;
    auto view = protocol::RecordBatchView::parse(ByteView(buf));
    if (!view) break;
    if (auto r = fn(*view, pos); !r) return r.error();
    pos += total;
  }
  return pos;
}

std::string key_string(ByteView k) { return std::string(reinterpret_cast<const char*>(k.data()), k.size()); }

int64_t mtime_ms(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

bool set_mtime_ms(int fd, int64_t ms) {
  struct timespec ts[2];
  ts[0].tv_sec = 0;
  ts[0].tv_nsec = UTIME_OMIT;
  ts[1].tv_sec = ms / 1000;
  ts[1].tv_nsec = (ms % 1000) * 1000000;
  return ::futimens(fd, ts) == 0;
}

// Header-only batch: recordsCount 0, no records section, no codec, CRC fixed.
Bytes empty_batch_of(const protocol::RecordBatchView& b) {
  Bytes out(b.bytes().begin(), b.bytes().begin() + protocol::kBatchHeaderSize);
  store_be<int32_t>(out.data() + bf::kBatchLength,
                    static_cast<int32_t>(protocol::kBatchHeaderSize - protocol::kLogOverhead));
  int16_t attrs = static_cast<int16_t>(b.attributes() & ~protocol::kCompressionMask);
  store_be<int16_t>(out.data() + bf::kAttributes, attrs);
  store_be<int32_t>(out.data() + bf::kRecordsCount, 0);
  store_be<uint32_t>(out.data() + bf::kCrc, crc32c(ByteView(out).subspan(bf::kAttributes)));
  return out;
}

// The output of one segment: nothing is written until the first change; then
// the unchanged prefix is copied from the source and later batches appended.
class SegmentWriter {
 public:
  SegmentWriter(std::string path, int src_fd) : path_(std::move(path)), src_fd_(src_fd) {}
  ~SegmentWriter() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool changed() const { return changed_; }
  const std::string& path() const { return path_; }
  int64_t written() const { return written_; }

  // The batch at `position` is changed: start the cleaned file if needed.
  Result<void> begin_change(int64_t position) {
    if (changed_) return {};
    fd_ = ::open(path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd_ < 0) return StorageErrc::kStorageError;
    changed_ = true;
    written_ = 0;
    Bytes chunk;
    for (int64_t at = 0; at < position;) {
      size_t n = static_cast<size_t>(std::min<int64_t>(position - at, 1 << 20));
      chunk.resize(n);
      if (!pread_full(src_fd_, chunk.data(), n, at)) return StorageErrc::kStorageError;
      if (auto r = put(ByteView(chunk)); !r) return r;
      at += static_cast<int64_t>(n);
    }
    return {};
  }
  Result<void> put(ByteView bytes) {
    written_ += static_cast<int64_t>(bytes.size());
    if (!changed_) return {};  // unchanged so far: the source already holds these bytes
    out_.insert(out_.end(), bytes.begin(), bytes.end());
    if (out_.size() >= (1u << 20)) return drain();
    return {};
  }
  // Flushes, fsyncs and stamps the mtime.
  Result<void> finish(int64_t mtime) {
    if (auto r = drain(); !r) return r;
    if (!set_mtime_ms(fd_, mtime) || ::fsync(fd_) != 0) return StorageErrc::kStorageError;
    ::close(fd_);
    fd_ = -1;
    return {};
  }

 private:
  Result<void> drain() {
    if (!write_full(fd_, out_.data(), out_.size())) return StorageErrc::kStorageError;
    out_.clear();
    return {};
  }
  std::string path_;
  int src_fd_;
  int fd_ = -1;
  bool changed_ = false;
  Bytes out_;
  int64_t written_ = 0;
};

}  // namespace

Result<DirtyInfo> Cleaner::dirty_info(Log& log, int64_t first_dirty_offset) {
  auto segs = log.sealed_segments();
  if (!segs) return segs.error();
  DirtyInfo info;
  for (const auto& s : *segs) {
    if (s.end_offset <= first_dirty_offset) {
      info.clean_bytes += s.size;
      continue;
    }
    if (info.dirty_bytes == 0 && info.first_dirty_timestamp < 0 &&
        s.size >= static_cast<int64_t>(protocol::kBatchHeaderSize)) {
      uint8_t head[protocol::kBatchHeaderSize];
      if (!pread_full(s.file->fd(), head, sizeof head, 0)) return StorageErrc::kStorageError;
      info.first_dirty_timestamp = load_be<int64_t>(head + bf::kMaxTimestamp);
    }
    info.dirty_bytes += s.size;
  }
  return info;
}

bool Cleaner::needs_cleaning(const DirtyInfo& info, const LogConfig& config, int64_t now_ms) {
  if (info.dirty_bytes == 0) return false;
  if (info.ratio() >= config.min_cleanable_dirty_ratio) return true;
  return info.first_dirty_timestamp >= 0 && now_ms - info.first_dirty_timestamp > config.max_compaction_lag_ms;
}

namespace {
CleanerStats aborted(CleanerStats stats) {
  stats.aborted = true;
  return stats;  // cleaned_up_to still the caller's first dirty offset
}
}  // namespace

Result<CleanerStats> Cleaner::clean(Log& log, int64_t first_dirty_offset, int64_t now_ms) {
  CleanerStats stats;
  stats.cleaned_up_to = first_dirty_offset;
  LogConfig config = log.config();
  auto all = log.sealed_segments();
  if (!all) return all.error();
  Bytes buf;

  // Pass 1 (headers): the cleanable range (min.compaction.lag.ms) and each
  // producer id's last batch, whose header an emptied batch keeps.
  std::vector<Log::SealedSegment> segs;
  std::unordered_map<int64_t, int64_t> producer_last;
  for (const auto& s : *all) {
    int64_t max_ts = -1;
    auto r = for_each_batch(s.file->fd(), s.size, buf, [&](const protocol::RecordBatchView& b, int64_t) -> Result<void> {
      if (stopping()) return StorageErrc::kStorageError;
      max_ts = std::max(max_ts, b.max_timestamp());
      if (b.producer_id() >= 0) producer_last[b.producer_id()] = b.last_offset();
      return {};
    });
    if (!r && stopping()) return aborted(stats);
    if (!r) return r.error();
    if (config.min_compaction_lag_ms > 0 && max_ts > now_ms - config.min_compaction_lag_ms) break;
    // Never at or past the last stable offset: an open transaction's
    // records are neither committed nor aborted yet (Kafka's rule).
    if (s.end_offset > log.last_stable_offset()) break;
    segs.push_back(s);
  }
  if (segs.empty() || segs.back().end_offset <= first_dirty_offset) return stats;
  const int64_t range_end = segs.back().end_offset;

  // Pass 2: key -> latest offset over the dirty section.
  // Records of aborted transactions never enter the map.
  std::unordered_map<std::string, int64_t> latest;
  Bytes scratch;
  int64_t dirty_start = first_dirty_offset;
  for (const auto& s : segs) {
    if (s.end_offset > first_dirty_offset) {
      dirty_start = s.base_offset;
      break;
    }
  }
  auto dirty_aborted = log.collect_aborted_txns(dirty_start, range_end);
  if (!dirty_aborted) return dirty_aborted.error();
  AbortedTxnTracker dirty_txns(std::move(*dirty_aborted));
  for (const auto& s : segs) {
    if (s.end_offset <= first_dirty_offset) continue;
    auto r = for_each_batch(s.file->fd(), s.size, buf, [&](const protocol::RecordBatchView& b, int64_t) -> Result<void> {
      if (stopping()) return StorageErrc::kStorageError;
      if (b.is_control()) {
        (void)dirty_txns.on_control_batch(b);
        return {};
      }
      if (dirty_txns.on_data_batch(b) || b.last_offset() < first_dirty_offset) return {};
      auto records = b.decode_records(scratch);
      if (!records) return {};  // kept untouched in pass 3
      for (const auto& rec : *records) {
        if (rec.offset < first_dirty_offset || !rec.key) continue;
        int64_t& slot = latest[key_string(*rec.key)];
        slot = std::max(slot, rec.offset);
      }
      return {};
    });
    if (!r && stopping()) return aborted(stats);
    if (!r) return r.error();
  }

  // Pass 3: filter every cleanable segment, swap in the changed ones.
  auto all_aborted = log.collect_aborted_txns(segs.front().base_offset, range_end);
  if (!all_aborted) return all_aborted.error();
  const std::vector<AbortedTxn> aborted_txns = *all_aborted;
  AbortedTxnTracker txns(std::move(*all_aborted));
  for (const auto& s : segs) {
    std::vector<int64_t> removed_markers;
    ++stats.segments_scanned;
    stats.bytes_before += s.size;
    bool was_clean = s.end_offset <= first_dirty_offset;
    int64_t old_mtime = mtime_ms(s.file->fd());
    bool drop_tombstones = was_clean && old_mtime >= 0 && old_mtime <= now_ms - config.delete_retention_ms;
    SegmentWriter out(log.dir() + "/" + segment_file_name(s.base_offset, ".log") + ".cleaned", s.file->fd());
    auto r = for_each_batch(s.file->fd(), s.size, buf, [&](const protocol::RecordBatchView& b,
                                                          int64_t pos) -> Result<void> {
      if (stopping()) return StorageErrc::kStorageError;
      const bool last_of_producer = [&] {
        auto pl = producer_last.find(b.producer_id());
        return b.producer_id() >= 0 && pl != producer_last.end() && pl->second == b.last_offset();
      }();
      if (b.is_control()) {
        // A marker goes only when its transaction's batches are gone and
        // delete.retention.ms has passed, as tombstones do.
        if (!txns.on_control_batch(b) || !drop_tombstones) return out.put(b.bytes());
        stats.records_removed += b.records_count();
        removed_markers.push_back(b.base_offset());
        if (auto c = out.begin_change(pos); !c) return c;
        if (!last_of_producer) return {};
        Bytes empty = empty_batch_of(b);
        return out.put(ByteView(empty));
      }
      const bool aborted_batch = txns.on_data_batch(b);
      auto records = b.decode_records(scratch);
      if (!records) {
        keel::logger("storage")->warn("{}: cleaner keeps undecodable batch at offset {} as is", log.dir(),
                                      b.base_offset());
        return out.put(b.bytes());
      }
      stats.records_read += static_cast<int64_t>(records->size());
      std::vector<const protocol::Record*> kept;
      kept.reserve(records->size());
      for (const auto& rec : *records) {
        if (!rec.key || aborted_batch) continue;
        auto it = latest.find(key_string(*rec.key));
        if (it != latest.end() && rec.offset < it->second) continue;
        if (!rec.value && drop_tombstones) continue;
        kept.push_back(&rec);
      }
      if (kept.size() == records->size()) return out.put(b.bytes());
      stats.records_removed += static_cast<int64_t>(records->size() - kept.size());
      if (auto c = out.begin_change(pos); !c) return c;
      if (kept.empty()) {
        if (last_of_producer) {
          Bytes empty = empty_batch_of(b);
          return out.put(ByteView(empty));
        }
        return {};
      }
      protocol::RecordBatchBuilder builder(b.compression(), b.base_offset());
      builder.producer(b.producer_id(), b.producer_epoch(), b.base_sequence())
          .transactional(b.is_transactional())
          .partition_leader_epoch(b.partition_leader_epoch())
          .timestamp_type(b.timestamp_type());
      if (b.timestamp_type() == protocol::TimestampType::kLogAppendTime) builder.log_append_time(b.max_timestamp());
      for (const protocol::Record* rec : kept) {
        std::vector<std::pair<std::string, std::optional<Bytes>>> headers;
        headers.reserve(rec->headers.size());
        for (const auto& h : rec->headers) {
          std::optional<Bytes> v;
          if (h.value) v = Bytes(h.value->begin(), h.value->end());
          headers.emplace_back(std::string(h.key), std::move(v));
        }
        builder.add_with_offset_delta(static_cast<int32_t>(rec->offset - b.base_offset()), rec->timestamp, rec->key,
                                      rec->value, std::move(headers));
      }
      auto built = builder.build();
      if (!built) return StorageErrc::kStorageError;
      return out.put(ByteView(*built));
    });
    if (!r) {
      ::unlink(out.path().c_str());
      if (stopping()) return aborted(stats);
      return r.error();
    }
    if (*r != s.size) {
      // Bytes the walk could not frame would be missing from the cleaned
      // copy: leave such a segment as it is rather than lose them.
      keel::logger("storage")->warn("{}: cleaner skips segment {}: unreadable batch at position {}", log.dir(),
                                    s.base_offset, *r);
      ::unlink(out.path().c_str());
      stats.bytes_after += s.size;
      continue;
    }
    // A dirty segment's mtime becomes "first cleaned at" (see cleaner.h).
    int64_t mtime = was_clean ? old_mtime : now_ms;
    if (!out.changed()) {
      stats.bytes_after += s.size;
      if (!was_clean && !set_mtime_ms(s.file->fd(), mtime)) return StorageErrc::kStorageError;
      continue;
    }
    if (auto f = out.finish(mtime); !f) {
      ::unlink(out.path().c_str());
      return f.error();
    }
    if (hook_) hook_(Step::kCleanedWritten);
    // The segment's aborted transactions whose markers stay.
    std::vector<AbortedTxn> txn_entries;
    for (const auto& t : aborted_txns) {
      if (t.last_offset < s.base_offset || t.last_offset >= s.end_offset) continue;
      if (std::find(removed_markers.begin(), removed_markers.end(), t.last_offset) != removed_markers.end()) continue;
      txn_entries.push_back(t);
    }
    std::sort(txn_entries.begin(), txn_entries.end(),
              [](const AbortedTxn& a, const AbortedTxn& b) { return a.last_offset < b.last_offset; });
    auto swapped = log.replace_segment(
        s, out.path(), now_ms,
        [&](Log::SwapStep step) {
          if (!hook_) return;
          switch (step) {
            case Log::SwapStep::kRenamedToSwap: hook_(Step::kRenamedToSwap); break;
            case Log::SwapStep::kOldRenamedToDeleted: hook_(Step::kOldRenamedToDeleted); break;
            case Log::SwapStep::kSwapRenamedToLog: hook_(Step::kSwapRenamedToLog); break;
          }
        },
        txn_entries);
    if (!swapped) return swapped.error();
    if (*swapped) {
      ++stats.segments_rewritten;
      stats.bytes_after += out.written();
    } else {
      stats.bytes_after += s.size;
    }
  }
  stats.cleaned_up_to = segs.back().end_offset;
  return stats;
}

}  // namespace keel::storage
