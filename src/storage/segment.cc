#include "storage/segment.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <vector>

#include "protocol/record_batch.h"
#include "storage/errors.h"

namespace keel::storage {
namespace bf = protocol::batch_field;

namespace {

constexpr size_t kScanChunk = 64 * 1024;
// After a batch that reached past the whole buffer, a refill reads only this
// much: a scan over batches of 1 MiB needs their 61-byte headers, not 64 KiB
// at each (16 MiB fetched would pread 1 MiB of record bytes it never looks at).
constexpr size_t kScanSmallChunk = 512;

// Reserving space ahead of the appends (Segment::reserve_ahead): from a
// segment of kReserveFrom bytes on, in chunks of an eighth of its size within
// [kReserveMin, kReserveMax]: what a partition holds reserved stays small
// beside what it holds, as a disk filling up must not run out for the other
// partitions' writes much sooner than without it.
constexpr int64_t kReserveFrom = 1 << 20;
constexpr int64_t kReserveMin = 1 << 20;
constexpr int64_t kReserveMax = 8 << 20;

// Sequential reader over [pos, end) of a file with a refillable buffer, so a
// header scan costs one pread per 64 KiB rather than one per batch of small
// batches, and one small pread per batch of large ones.
class ChunkReader {
 public:
  ChunkReader(int fd, int64_t pos, int64_t end) : fd_(fd), pos_(pos), end_(end) {}
  // Makes n bytes at the current position available; false past the range end.
  Result<bool> ensure(size_t n) {
    if (pos_ + static_cast<int64_t>(n) > end_) return false;
    if (pos_ >= buf_pos_ && pos_ + static_cast<int64_t>(n) <= buf_pos_ + static_cast<int64_t>(buf_.size())) return true;
    // Jumped past the buffer by more than a chunk: the batches are large.
    const bool large = !buf_.empty() && pos_ >= buf_pos_ + static_cast<int64_t>(buf_.size() + kScanChunk);
    size_t want = std::max(n, large ? kScanSmallChunk : kScanChunk);
    want = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(want), end_ - pos_));
    buf_.resize(want);
    size_t done = 0;
    while (done < want) {
      ssize_t r = ::pread(fd_, buf_.data() + done, want - done, static_cast<off_t>(pos_ + static_cast<int64_t>(done)));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return StorageErrc::kStorageError;
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    buf_.resize(done);
    buf_pos_ = pos_;
    return done >= n;
  }
  const uint8_t* data() const { return buf_.data() + (pos_ - buf_pos_); }
  int64_t pos() const { return pos_; }
  void advance(int64_t n) { pos_ += n; }

 private:
  int fd_;
  int64_t pos_;
  int64_t end_;
  std::vector<uint8_t> buf_;
  int64_t buf_pos_ = 0;
};

std::string path_join(const std::string& dir, const std::string& name) { return dir + "/" + name; }

}  // namespace

std::string segment_file_name(int64_t base_offset, const char* suffix) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%020lld%s", static_cast<long long>(base_offset), suffix);
  return buf;
}

Segment::Segment(const std::string& dir, int64_t base_offset, const LogConfig& config, FileCache& cache)
    : dir_(dir), base_offset_(base_offset), config_(config), cache_(cache), next_offset_(base_offset) {
  log_.path = path_join(dir, segment_file_name(base_offset, ".log"));
  offset_index_ = std::make_unique<OffsetIndex>(cache, path_join(dir, segment_file_name(base_offset, ".index")),
                                                base_offset, config.segment_index_bytes);
  time_index_ = std::make_unique<TimeIndex>(cache, path_join(dir, segment_file_name(base_offset, ".timeindex")),
                                            base_offset, config.segment_index_bytes);
  txn_index_ = std::make_unique<TransactionIndex>(cache, path_join(dir, segment_file_name(base_offset, kTxnIndexSuffix)),
                                                  base_offset);
}

Segment::~Segment() { cache_.forget(log_); }

Result<std::unique_ptr<Segment>> Segment::create(const std::string& dir, int64_t base_offset,
                                                 const LogConfig& config, FileCache& cache, int64_t now_ms) {
  std::unique_ptr<Segment> s(new Segment(dir, base_offset, config, cache));
  auto f = cache.get(s->log_);
  if (!f) return f.error();
  // Truncate only a leftover file: on ext4 a truncate to zero marks the file
  // for a forced writeback at close (auto_da_alloc), which stalls rolls.
  struct stat st {};
  if (::fstat((*f)->fd(), &st) != 0) return StorageErrc::kStorageError;
  if (st.st_size > 0 && ::ftruncate((*f)->fd(), 0) != 0) return StorageErrc::kStorageError;
  if (auto r = s->offset_index_->create(); !r) return r.error();
  if (auto r = s->time_index_->create(); !r) return r.error();
  s->txn_index_->reset();  // a leftover of an earlier segment at this offset
  s->loaded_ = true;
  s->created_ms_ = now_ms;
  return s;
}

Result<std::unique_ptr<Segment>> Segment::open(const std::string& dir, int64_t base_offset,
                                               const LogConfig& config, FileCache& cache) {
  std::unique_ptr<Segment> s(new Segment(dir, base_offset, config, cache));
  struct stat st {};
  if (::stat(s->log_.path.c_str(), &st) != 0) return StorageErrc::kStorageError;
  s->size_ = st.st_size;
  // Like Kafka, a reopened segment's creation time is the file's modification time.
  s->created_ms_ = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
  return s;
}

Result<std::shared_ptr<OpenFile>> Segment::log_file() { return cache_.get(log_); }

Result<int64_t> Segment::scan(int64_t start, int64_t end, const std::function<bool(const BatchHeader&)>& fn) {
  auto f = cache_.get(log_);
  if (!f) return f.error();
  ChunkReader reader((*f)->fd(), start, end);
  while (true) {
    auto have = reader.ensure(protocol::kBatchHeaderSize);
    if (!have) return have.error();
    if (!*have) break;
    const uint8_t* p = reader.data();
    int32_t batch_length = load_be<int32_t>(p + bf::kBatchLength);
    if (batch_length < static_cast<int32_t>(protocol::kBatchHeaderSize - protocol::kLogOverhead) ||
        static_cast<int8_t>(p[bf::kMagic]) != protocol::kMagicV2)
      break;
    BatchHeader h;
    h.position = reader.pos();
    h.size = static_cast<int32_t>(protocol::kLogOverhead) + batch_length;
    if (h.position + h.size > end) break;
    h.base_offset = load_be<int64_t>(p + bf::kBaseOffset);
    h.last_offset = h.base_offset + load_be<int32_t>(p + bf::kLastOffsetDelta);
    h.max_timestamp = load_be<int64_t>(p + bf::kMaxTimestamp);
    if (!fn(h)) break;
    reader.advance(h.size);
  }
  return reader.pos();
}

Result<void> Segment::index_batch(const BatchHeader& h) {
  if (h.max_timestamp > max_timestamp_) {
    max_timestamp_ = h.max_timestamp;
    offset_of_max_timestamp_ = h.last_offset;
  }
  if (!first_batch_timestamp_) first_batch_timestamp_ = h.max_timestamp;
  if (bytes_since_index_entry_ > config_.index_interval_bytes) {
    if (auto r = offset_index_->append(h.last_offset, h.position); !r) return r;
    if (auto r = time_index_->maybe_append(max_timestamp_, offset_of_max_timestamp_); !r) return r;
    bytes_since_index_entry_ = 0;
  }
  bytes_since_index_entry_ += h.size;
  next_offset_ = h.last_offset + 1;
  return {};
}

void Segment::reset_state() {
  max_timestamp_ = -1;
  offset_of_max_timestamp_ = -1;
  first_batch_timestamp_.reset();
  bytes_since_index_entry_ = 0;
  next_offset_ = base_offset_;
}

Result<void> Segment::rebuild_indexes() {
  if (auto r = offset_index_->create(); !r) return r;
  if (auto r = time_index_->create(); !r) return r;
  reset_state();
  Result<void> err;
  auto end = scan(0, size_, [&](const BatchHeader& h) {
    err = index_batch(h);
    return err.ok();
  });
  if (!end) return end.error();
  return err;
}

Result<void> Segment::rebuild_sealed() {
  if (auto r = rebuild_indexes(); !r) return r;
  loaded_ = true;
  return seal();
}

Result<int64_t> Segment::load_tail() {
  // The tail after the last index entry gives the next offset, the max
  // timestamp and the bytes since that entry.
  reset_state();
  int64_t start = 0;
  if (auto last = offset_index_->last()) start = last->position;
  if (auto lt = time_index_->last()) {
    max_timestamp_ = lt->timestamp;
    offset_of_max_timestamp_ = lt->offset;
  }
  auto end = scan(start, size_, [&](const BatchHeader& h) {
    if (h.max_timestamp > max_timestamp_) {
      max_timestamp_ = h.max_timestamp;
      offset_of_max_timestamp_ = h.last_offset;
    }
    bytes_since_index_entry_ += h.size;  // the entry's own batch counts, as when written
    next_offset_ = h.last_offset + 1;
    return true;
  });
  if (!end) return end.error();
  if (size_ > 0) {
    auto f = cache_.get(log_);
    if (!f) return f.error();
    uint8_t hdr[protocol::kBatchHeaderSize];
    if (::pread((*f)->fd(), hdr, sizeof hdr, 0) == static_cast<ssize_t>(sizeof hdr))
      first_batch_timestamp_ = load_be<int64_t>(hdr + bf::kMaxTimestamp);
  }
  return *end;
}

Result<void> Segment::ensure_loaded() {
  if (loaded_) return {};
  auto oi = offset_index_->load(size_);
  Result<void> ti = oi ? time_index_->load(INT64_MAX) : Result<void>(StorageErrc::kCorruptMessage);
  if (!oi || !ti) {
    if (auto r = rebuild_indexes(); !r) return r;
    loaded_ = true;
    return {};
  }
  auto end = load_tail();
  if (!end) return end.error();
  if (*end != size_) {
    // Bytes after the last whole batch although the log was closed cleanly:
    // do not append behind garbage that readers could never get past.
    auto truncated = recover();
    if (!truncated) return truncated.error();
    return {};
  }
  loaded_ = true;
  return {};
}

Result<int64_t> Segment::recover() {
  auto f = cache_.get(log_);
  if (!f) return f.error();
  int fd = (*f)->fd();
  if (auto r = offset_index_->create(); !r) return r.error();
  if (auto r = time_index_->create(); !r) return r.error();
  // Entries whose markers survive are kept; a torn file goes (the
  // partition's replay appends what is missing either way).
  if (!txn_index_->load()) txn_index_->reset();
  reset_state();
  ChunkReader reader(fd, 0, size_);
  while (true) {
    auto have = reader.ensure(protocol::kLogOverhead);
    if (!have) return have.error();
    if (!*have) break;
    int32_t batch_length = load_be<int32_t>(reader.data() + bf::kBatchLength);
    if (batch_length < static_cast<int32_t>(protocol::kBatchHeaderSize - protocol::kLogOverhead)) break;
    size_t total = protocol::kLogOverhead + static_cast<size_t>(batch_length);
    have = reader.ensure(total);  // a huge bogus length is past the end: false, no allocation
    if (!have) return have.error();
    if (!*have) break;
    auto view = protocol::RecordBatchView::parse(ByteView(reader.data(), total));
    if (!view || !view->verify_crc() || view->last_offset_delta() < 0) break;
    if (view->base_offset() < next_offset_ || view->last_offset() - base_offset_ > INT32_MAX) break;
    BatchHeader h{reader.pos(), static_cast<int32_t>(total), view->base_offset(), view->last_offset(),
                  view->max_timestamp()};
    if (auto r = index_batch(h); !r) return r.error();
    reader.advance(static_cast<int64_t>(total));
  }
  int64_t valid = reader.pos();
  int64_t truncated = size_ - valid;
  if (truncated > 0) {
    if (::ftruncate(fd, valid) != 0) return StorageErrc::kStorageError;
    size_ = valid;
  }
  if (auto r = txn_index_->truncate_to(next_offset_); !r) return r.error();
  loaded_ = true;
  return truncated;
}

bool Segment::time_to_roll(int64_t now_ms, int64_t incoming_max_timestamp, int64_t segment_ms) const {
  if (size_ == 0) return false;
  // Kafka: the incoming batches' max timestamp minus the first batch's
  // timestamp, or, when the segment has no timestamps, the wall-clock age.
  int64_t waited = first_batch_timestamp_ && *first_batch_timestamp_ >= 0
                       ? incoming_max_timestamp - *first_batch_timestamp_
                       : now_ms - created_ms_;
  return waited > segment_ms - roll_jitter_ms;
}

Result<void> Segment::append(ByteView bytes, const std::vector<BatchMeta>& metas) {
  if (auto r = ensure_loaded(); !r) return r;
  auto f = cache_.get(log_);
  if (!f) return f.error();
  int fd = (*f)->fd();
  reserve_ahead(fd, static_cast<int64_t>(bytes.size()));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done,
                         static_cast<off_t>(size_ + static_cast<int64_t>(done)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // Leave the file ending at a batch boundary.
      if (::ftruncate(fd, size_) != 0) return StorageErrc::kLogDirOffline;
      return StorageErrc::kStorageError;
    }
    done += static_cast<size_t>(n);
  }
  int64_t pos = size_;
  size_ += static_cast<int64_t>(bytes.size());
  for (const BatchMeta& m : metas) {
    BatchHeader h{pos, m.size, 0, m.last_offset, m.max_timestamp};
    // On failure the log itself is intact; the caller still takes the dir offline.
    if (auto r = index_batch(h); !r) return r;
    pos += m.size;
  }
  return {};
}

Result<int64_t> Segment::position_of(int64_t offset) {
  if (auto r = ensure_loaded(); !r) return r.error();
  int64_t found = size_;
  auto end = scan(offset_index_->lookup(offset).position, size_, [&](const BatchHeader& h) {
    if (h.last_offset >= offset) {
      found = h.position;
      return false;
    }
    return true;
  });
  if (!end) return end.error();
  return found;
}

Result<std::optional<SegmentSlice>> Segment::read(int64_t start, int64_t max_bytes, int64_t max_position,
                                                  bool min_one_batch) {
  if (auto r = ensure_loaded(); !r) return r.error();
  std::optional<SegmentSlice> slice;
  int64_t end_limit = std::min(max_position, size_);
  auto end = scan(offset_index_->lookup(start).position, end_limit, [&](const BatchHeader& h) {
    if (!slice) {
      if (h.last_offset < start) return true;
      if (h.size > max_bytes && !min_one_batch) return false;
      slice = SegmentSlice{h.position, h.size, h.base_offset, h.last_offset + 1};
      return h.size < max_bytes;
    }
    if (slice->length + h.size > max_bytes) return false;
    slice->length += h.size;
    slice->end_offset = h.last_offset + 1;
    return true;
  });
  if (!end) return end.error();
  return slice;
}

Result<std::optional<TimestampOffset>> Segment::find_offset_by_timestamp(int64_t ts, int64_t start_offset) {
  if (auto r = ensure_loaded(); !r) return r.error();
  TimestampOffset t = time_index_->lookup(ts);
  int64_t from = std::max(t.offset, start_offset);
  std::optional<BatchHeader> hit;
  auto end = scan(offset_index_->lookup(from).position, size_, [&](const BatchHeader& h) {
    if (h.max_timestamp >= ts && h.last_offset >= start_offset) {
      hit = h;
      return false;
    }
    return true;
  });
  if (!end) return end.error();
  if (!hit) return std::optional<TimestampOffset>{};
  auto f = cache_.get(log_);
  if (!f) return f.error();
  Bytes batch(static_cast<size_t>(hit->size));
  if (::pread((*f)->fd(), batch.data(), batch.size(), hit->position) != static_cast<ssize_t>(batch.size()))
    return StorageErrc::kStorageError;
  auto view = protocol::RecordBatchView::parse(batch);
  if (!view) return StorageErrc::kCorruptMessage;
  Bytes scratch;
  auto records = view->decode_records(scratch);
  if (!records) return StorageErrc::kCorruptMessage;
  for (const auto& rec : *records) {
    if (rec.timestamp >= ts && rec.offset >= start_offset)
      return std::optional<TimestampOffset>(TimestampOffset{rec.timestamp, rec.offset});
  }
  return std::optional<TimestampOffset>{};
}

// ext4 (and xfs) write into blocks fallocate reserved without reserving and
// accounting each delayed-allocation block on every write: a fifth less CPU
// per buffered write here (docs/storage.md, docs/load.md). The file's
// size stays where the data ends (FALLOC_FL_KEEP_SIZE), so readers, recovery
// and sizes see nothing of it; a quiet segment reserves nothing and a busy one
// at most 8 MiB past its end, which seal() gives back. A failure (no support,
// no space) only ends reserving for this segment: the write then reports
// whatever it must, as without it.
void Segment::reserve_ahead(int fd, int64_t incoming) {
  const int64_t end = size_ + incoming;
  if (reserve_failed_ || end <= reserved_end_ || size_ < kReserveFrom) return;
  const int64_t from = std::max(reserved_end_, size_);
  // Not past segment.bytes: the segment rolls there.
  const int64_t to = std::max(end, std::min(end + std::clamp(size_ / 8, kReserveMin, kReserveMax),
                                            config_.segment_bytes));
  if (::fallocate(fd, FALLOC_FL_KEEP_SIZE, from, to - from) != 0) {
    reserve_failed_ = true;
    return;
  }
  reserved_end_ = to;
}

// Blocks past the end of the data (reserved by reserve_ahead, also by a run
// that crashed) are freed: a truncate to the current size drops them.
Result<void> Segment::release_reserved() {
  reserved_end_ = 0;
  auto f = cache_.get(log_);
  if (!f) return f.error();
  struct stat st {};
  if (::fstat((*f)->fd(), &st) != 0) return StorageErrc::kStorageError;
  const int64_t block = st.st_blksize > 0 ? st.st_blksize : 4096;
  if (st.st_size != size_ || static_cast<int64_t>(st.st_blocks) * 512 <= (size_ + block - 1) / block * block)
    return {};
  if (::ftruncate((*f)->fd(), size_) != 0) return StorageErrc::kStorageError;
  return {};
}

Result<int64_t> Segment::truncate_to(int64_t offset) {
  auto pos = position_of(offset);  // loads the segment
  if (!pos) return pos.error();
  int64_t cut = size_ - *pos;
  if (cut > 0) {
    auto f = cache_.get(log_);
    if (!f) return f.error();
    // Also frees any space reserved ahead past the end.
    if (::ftruncate((*f)->fd(), *pos) != 0) return StorageErrc::kStorageError;
    size_ = *pos;
    reserved_end_ = 0;
  }
  // Index entries name batches by their last offset: those of the cut
  // batches are >= offset. The time index's forced final entry of a sealed
  // segment goes the same way.
  if (auto r = offset_index_->truncate_to(offset); !r) return r.error();
  if (auto r = time_index_->truncate_to(offset); !r) return r.error();
  if (auto r = txn_index_->truncate_to(offset); !r) return r.error();
  if (auto r = preallocate_indexes(); !r) return r.error();
  auto end = load_tail();
  if (!end) return end.error();
  if (*end != size_) return StorageErrc::kCorruptMessage;  // the kept bytes were whole batches before
  return cut;
}

Result<void> Segment::seal() {
  if (!loaded_) return {};
  if (auto r = release_reserved(); !r) return r;
  if (max_timestamp_ >= 0) {
    if (auto r = time_index_->maybe_append(max_timestamp_, offset_of_max_timestamp_, true); !r) return r;
  }
  if (auto r = offset_index_->trim(); !r) return r;
  return time_index_->trim();
}

Result<void> Segment::preallocate_indexes() {
  if (auto r = offset_index_->preallocate(); !r) return r;
  return time_index_->preallocate();
}

Result<void> Segment::flush() {
  auto handles = sync_handles();
  if (!handles) return handles.error();
  for (const auto& h : *handles)
    if (::fdatasync(h->fd()) != 0) return StorageErrc::kStorageError;
  return {};
}

Result<std::vector<std::shared_ptr<OpenFile>>> Segment::sync_handles() {
  std::vector<std::shared_ptr<OpenFile>> out;
  auto f = cache_.get(log_);
  if (!f) return f.error();
  out.push_back(*f);
  if (loaded_) {
    if (auto r = offset_index_->persist(); !r) return r.error();
    if (auto r = time_index_->persist(); !r) return r.error();
    auto oi = offset_index_->handle();
    if (!oi) return oi.error();
    out.push_back(*oi);
    auto ti = time_index_->handle();
    if (!ti) return ti.error();
    out.push_back(*ti);
  }
  auto txn = txn_index_->sync_handle();
  if (!txn) return txn.error();
  if (*txn) out.push_back(std::move(**txn));
  return out;
}

Result<void> Segment::rename_to_deleted() {
  std::string to = log_.path + ".deleted";
  if (::rename(log_.path.c_str(), to.c_str()) != 0) return StorageErrc::kStorageError;
  cache_.forget(log_);
  log_.path = to;
  if (auto r = offset_index_->rename(offset_index_->path() + ".deleted"); !r) return r;
  if (auto r = time_index_->rename(time_index_->path() + ".deleted"); !r) return r;
  return txn_index_->rename(txn_index_->path() + ".deleted");
}

void Segment::remove_files() {
  cache_.forget(log_);
  ::unlink(log_.path.c_str());
  (void)offset_index_->remove();
  (void)time_index_->remove();
  txn_index_->remove();
}

}  // namespace keel::storage
