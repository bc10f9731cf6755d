#include "storage/log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <unordered_set>

#include "common/log.h"
#include "protocol/record_batch.h"
#include "storage/checkpoint.h"
#include "storage/errors.h"

namespace keel::storage {
namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "<20 digits>.log" -> base offset.
std::optional<int64_t> parse_segment_name(const std::string& name) {
  if (name.size() != 24 || !ends_with(name, ".log")) return std::nullopt;
  int64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

}  // namespace

Log::Log(LogOpenOptions options)
    : dir_(std::move(options.dir)),
      config_(options.config),
      cache_(*options.cache),
      log_start_offset_(options.log_start_offset),
      recovery_point_(options.recovery_point),
      last_flush_ms_(options.now_ms),
      clean_shutdown_(options.clean_shutdown),
      open_now_ms_(options.now_ms),
      rng_state_(0x9e3779b97f4a7c15ULL ^ static_cast<uint64_t>(options.now_ms) ^ std::hash<std::string>{}(dir_)) {}

Log::~Log() = default;

Result<std::unique_ptr<Log>> Log::open(LogOpenOptions options) {
  KEEL_ASSERT(options.cache != nullptr, "Log::open needs a FileCache");
  std::unique_ptr<Log> log(new Log(std::move(options)));
  if (auto r = log->load(); !r) return r.error();
  return log;
}

Result<void> Log::load() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return StorageErrc::kStorageError;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return StorageErrc::kStorageError;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  std::vector<int64_t> bases;
  // A compaction swap interrupted after the cleaned segment became <base>.log.swap
  // (complete and fsynced by then): finish it as Kafka does. The old segment's
  // indexes describe the old bytes, so they go and are rebuilt below.
  std::vector<int64_t> swapped;
  std::vector<int64_t> txn_index_done;  // swapped segments whose .txnindex.cleaned was renamed in
  for (std::string& name : names) {
    if (name.size() != 29 || !ends_with(name, ".log.swap")) continue;
    auto base = parse_segment_name(name.substr(0, 24));
    if (!base) continue;
    std::string log_path = dir_ + "/" + name.substr(0, 24);
    if (::rename((dir_ + "/" + name).c_str(), log_path.c_str()) != 0) return StorageErrc::kStorageError;
    ::unlink((dir_ + "/" + segment_file_name(*base, ".index")).c_str());
    ::unlink((dir_ + "/" + segment_file_name(*base, ".timeindex")).c_str());
    keel::logger("storage")->warn("{}: completed an interrupted compaction swap of segment {}", dir_, *base);
    swapped.push_back(*base);
    name = name.substr(0, 24);
  }
  // The aborted-transaction index of a swapped segment: the cleaned one
  // written before the swap, or none (replace_segment's order).
  std::unordered_set<std::string> name_set(names.begin(), names.end());
  auto has_name = [&](const std::string& n) { return name_set.contains(n); };
  for (const std::string& name : names) {
    const std::string suffix = std::string(kTxnIndexSuffix) + ".cleaned";
    if (!ends_with(name, suffix) || name.size() != 20 + suffix.size()) continue;
    auto base = parse_segment_name(name.substr(0, 20) + ".log");
    if (!base) continue;
    const bool swap_done = std::find(swapped.begin(), swapped.end(), *base) != swapped.end();
    // No .log.swap and no .log.cleaned: the crash came after the new .log
    // was in place, before its index was renamed.
    const bool after_swap = !has_name(segment_file_name(*base, ".log.cleaned"));
    if (swap_done || after_swap) {
      const std::string txn = dir_ + "/" + segment_file_name(*base, kTxnIndexSuffix);
      if (::rename((dir_ + "/" + name).c_str(), txn.c_str()) != 0) return StorageErrc::kStorageError;
      name_set.insert(segment_file_name(*base, kTxnIndexSuffix));
      txn_index_done.push_back(*base);
    }
  }
  for (int64_t base : swapped) {
    if (std::find(txn_index_done.begin(), txn_index_done.end(), base) != txn_index_done.end()) continue;
    ::unlink((dir_ + "/" + segment_file_name(base, kTxnIndexSuffix)).c_str());
    name_set.erase(segment_file_name(base, kTxnIndexSuffix));
  }
  if (!swapped.empty()) {
    if (int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  for (const std::string& name : names) {
    // Leftovers of async deletion, interrupted writes and compaction
    // (.cleaned: the swap had not begun, the old segment is intact).
    if (ends_with(name, ".deleted") || ends_with(name, ".tmp") || ends_with(name, ".cleaned") ||
        ends_with(name, ".swap")) {
      ::unlink((dir_ + "/" + name).c_str());
      continue;
    }
    if (auto base = parse_segment_name(name)) bases.push_back(*base);
  }
  std::sort(bases.begin(), bases.end());
  // A completed swap may have replaced a .log that was also listed.
  bases.erase(std::unique(bases.begin(), bases.end()), bases.end());
  for (size_t i = 0; i < bases.size(); ++i) {
    const int64_t base = bases[i];
    auto seg = Segment::open(dir_, base, config_, cache_);
    if (!seg) return seg.error();
    if (std::find(swapped.begin(), swapped.end(), base) != swapped.end()) {
      if (auto r = (*seg)->rebuild_sealed(); !r) return r;
    }
    // Only segments that have a .txnindex are read; one that fails its
    // sanity check goes, and the partition rebuilds it from the markers.
    if (has_name(segment_file_name(base, kTxnIndexSuffix))) {
      const int64_t end = i + 1 < bases.size() ? bases[i + 1] : -1;
      auto loaded = (*seg)->txn_index().load(end);
      if (!loaded) {
        if (loaded.error() != make_error_code(StorageErrc::kCorruptMessage)) return loaded.error();
        keel::logger("storage")->warn("{}: transaction index of segment {} is corrupt; rebuilt from the log", dir_,
                                      base);
        (*seg)->txn_index().reset();
        if (txn_index_rebuild_from_ < 0) txn_index_rebuild_from_ = base;
      }
    }
    segments_.emplace(base, std::move(*seg));
  }
  if (!clean_shutdown_ && !segments_.empty()) {
    recovered_ = true;
    auto it = segments_.upper_bound(recovery_point_);
    if (it != segments_.begin()) --it;
    // The recovered segments' transaction indexes may have lost entries.
    if (txn_index_rebuild_from_ < 0 || it->first < txn_index_rebuild_from_) txn_index_rebuild_from_ = it->first;
    for (; it != segments_.end(); ++it) {
      auto truncated = it->second->recover();
      if (!truncated) return truncated.error();
      if (*truncated > 0) {
        keel::logger("storage")->warn("{}: recovery truncated {} invalid bytes of segment {}; later segments dropped",
                                      dir_, *truncated, it->first);
        auto next = std::next(it);
        while (next != segments_.end()) {
          next->second->remove_files();
          next = segments_.erase(next);
        }
        break;
      }
    }
  }
  if (segments_.empty()) {
    auto seg = Segment::create(dir_, log_start_offset_, config_, cache_, open_now_ms_);
    if (!seg) return seg.error();
    segments_.emplace(log_start_offset_, std::move(*seg));
  }
  if (auto r = active().ensure_loaded(); !r) return r;
  if (auto r = active().preallocate_indexes(); !r) return r;
  log_end_offset_ = active().next_offset();
  log_start_offset_ = std::clamp(log_start_offset_, segments_.begin()->first, log_end_offset_);
  if (recovered_) {
    // Recovered bytes were read back intact; make them durable before the
    // recovery point moves past them.
    for (auto& [base, seg] : segments_) {
      if (!seg->loaded()) continue;  // below the recovery point: already durable
      if (auto r = seg->flush(); !r) return r;
    }
  }
  recovery_point_ = log_end_offset_;
  return {};
}

int64_t Log::log_start_offset() const {
  std::lock_guard lock(mu_);
  return log_start_offset_;
}
int64_t Log::log_end_offset() const {
  std::lock_guard lock(mu_);
  return log_end_offset_;
}
int64_t Log::recovery_point() const {
  std::lock_guard lock(mu_);
  return recovery_point_;
}
int64_t Log::size_bytes() const {
  std::lock_guard lock(mu_);
  int64_t n = 0;
  for (const auto& [b, s] : segments_) n += s->size();
  return n;
}
size_t Log::segment_count() const {
  std::lock_guard lock(mu_);
  return segments_.size();
}
std::vector<int64_t> Log::segment_base_offsets() const {
  std::lock_guard lock(mu_);
  std::vector<int64_t> out;
  for (const auto& [b, s] : segments_) out.push_back(b);
  return out;
}
int64_t Log::unflushed_messages() const {
  std::lock_guard lock(mu_);
  return unflushed_messages_;
}
int64_t Log::last_flush_ms() const {
  std::lock_guard lock(mu_);
  return last_flush_ms_;
}
size_t Log::pending_deletions() const {
  std::lock_guard lock(mu_);
  return pending_deletes_.size();
}

void Log::mark_offline(bool own_error) {
  if (!offline_.exchange(true)) {
    if (own_error) keel::logger("storage")->error("{}: I/O error, log taken offline", dir_);
    if (on_offline_) on_offline_();
  }
}

Result<void> Log::roll_locked(int64_t now_ms, int64_t base) {
  if (base < 0) base = log_end_offset_;
  if (segments_.empty()) return StorageErrc::kLogDirOffline;  // a failed truncation (offline)
  Segment& cur = active();
  if (cur.size() == 0 && cur.base_offset() == base) return {};
  if (auto r = cur.seal(); !r) return r;
  auto seg = Segment::create(dir_, base, config_, cache_, now_ms);
  if (!seg) return seg.error();
  if (config_.segment_jitter_ms > 0) {
    rng_state_ = rng_state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    (*seg)->roll_jitter_ms =
        static_cast<int64_t>((rng_state_ >> 33) % static_cast<uint64_t>(config_.segment_jitter_ms));
  }
  segments_.emplace(base, std::move(*seg));
  return {};
}

Result<void> Log::roll(int64_t now_ms) {
  std::lock_guard lock(mu_);
  return roll_locked(now_ms);
}

Result<AppendResult> Log::append(std::span<uint8_t> records, int64_t now_ms, bool crc_verified) {
  // Validation touches only the caller's bytes: no lock.
  struct Found {
    size_t position;
    size_t size;
    int32_t last_offset_delta;
    int64_t max_timestamp;
  };
  // Reused per thread: the append path allocates nothing in the common case.
  thread_local std::vector<Found> found;
  thread_local std::vector<BatchMeta> metas;
  found.clear();
  metas.clear();
  protocol::BatchIterator it{ByteView(records.data(), records.size())};
  while (true) {
    auto next = it.next();
    if (!next) return StorageErrc::kCorruptMessage;
    if (!*next) break;
    const protocol::RecordBatchView& b = **next;
    if (b.size_bytes() > static_cast<size_t>(std::max(config_.max_message_bytes, 0)))
      return StorageErrc::kMessageTooLarge;
    if (!crc_verified && !b.verify_crc()) return StorageErrc::kCorruptMessage;
    if (b.last_offset_delta() < 0 || b.records_count() < 0) return StorageErrc::kInvalidRecord;
    found.push_back({it.position() - b.size_bytes(), b.size_bytes(), b.last_offset_delta(), b.max_timestamp()});
  }
  if (it.partial_tail()) return StorageErrc::kCorruptMessage;
  if (found.empty()) return StorageErrc::kInvalidRecord;
  if (static_cast<int64_t>(records.size()) > config_.segment_bytes) return StorageErrc::kRecordListTooLarge;

  std::lock_guard lock(mu_);
  if (offline_) return StorageErrc::kLogDirOffline;
  bool log_append_time = config_.message_timestamp_type == protocol::TimestampType::kLogAppendTime;
  AppendResult out;
  out.first_offset = log_end_offset_;
  out.log_append_time = log_append_time ? now_ms : -1;
  int64_t next = log_end_offset_;
  int64_t incoming_max_ts = -1;
  for (const Found& f : found) {
    std::span<uint8_t> batch = records.subspan(f.position, f.size);
    protocol::set_base_offset(batch, next);
    int64_t max_ts = f.max_timestamp;
    if (log_append_time) {
      protocol::set_log_append_time(batch, now_ms);
      max_ts = now_ms;
    }
    incoming_max_ts = std::max(incoming_max_ts, max_ts);
    next += static_cast<int64_t>(f.last_offset_delta) + 1;
    metas.push_back({static_cast<int32_t>(f.size), next - 1, max_ts});
  }
  Segment* seg = &active();
  if (auto r = seg->ensure_loaded(); !r) {
    mark_offline();
    return StorageErrc::kStorageError;
  }
  int64_t total = static_cast<int64_t>(records.size());
  bool roll = seg->size() > config_.segment_bytes - total ||
              seg->time_to_roll(now_ms, incoming_max_ts, config_.segment_ms) || seg->index_full() ||
              (next - 1) - seg->base_offset() > INT32_MAX;
  if (roll) {
    if (auto r = roll_locked(now_ms); !r) {
      mark_offline();
      return StorageErrc::kStorageError;
    }
    seg = &active();
  }
  if (auto r = seg->append(ByteView(records.data(), records.size()), metas); !r) {
    mark_offline();
    return StorageErrc::kStorageError;
  }
  log_end_offset_ = next;
  unflushed_messages_ += next - out.first_offset;
  if (unflushed_messages_ >= config_.flush_messages && on_flush_needed_) on_flush_needed_();
  out.last_offset = next - 1;
  out.log_start_offset = log_start_offset_;
  out.log_end_offset = log_end_offset_;
  return out;
}

Result<ReadResult> Log::read(int64_t offset, int64_t max_bytes, bool min_one_batch) {
  return read(offset, max_bytes, min_one_batch, std::numeric_limits<int64_t>::max());
}

Result<ReadResult> Log::read(int64_t offset, int64_t max_bytes, bool min_one_batch, int64_t max_offset) {
  std::lock_guard lock(mu_);
  if (offset < log_start_offset_ || offset > log_end_offset_) return StorageErrc::kOffsetOutOfRange;
  ReadResult out;
  out.log_start_offset = log_start_offset_;
  out.log_end_offset = log_end_offset_;
  if (offset == log_end_offset_ || offset >= max_offset) return out;
  auto it = segments_.upper_bound(offset);
  if (it != segments_.begin()) --it;
  for (; it != segments_.end(); ++it) {
    if (it->first >= max_offset) break;
    Segment& seg = *it->second;
    int64_t max_position = seg.size();
    auto next = std::next(it);
    if (max_offset < log_end_offset_ && (next == segments_.end() || next->first > max_offset)) {
      auto pos = seg.position_of(max_offset);  // the batch holding max_offset and later ones are out
      if (!pos) return pos.error();
      max_position = *pos;
    }
    auto slice = seg.read(offset, max_bytes, max_position, min_one_batch);
    if (!slice) return slice.error();
    if (*slice) {
      auto file = seg.log_file();
      if (!file) return file.error();
      out.ranges.push_back(
          {*file, (*slice)->position, (*slice)->length, (*slice)->first_offset, (*slice)->end_offset});
      break;
    }
  }
  return out;
}

Result<std::optional<TimestampOffset>> Log::offset_for_timestamp(int64_t ts) {
  std::lock_guard lock(mu_);
  for (auto& [base, seg] : segments_) {
    if (auto r = seg->ensure_loaded(); !r) return r.error();
    if (seg->max_timestamp() < ts) continue;
    auto hit = seg->find_offset_by_timestamp(ts, log_start_offset_);
    if (!hit) return hit.error();
    if (*hit) return hit;
  }
  return std::optional<TimestampOffset>{};
}

LogConfig Log::config() const {
  std::lock_guard lock(mu_);
  return config_;
}

void Log::set_config(const LogConfig& config) {
  std::lock_guard lock(mu_);
  config_ = config;
}

Result<std::optional<TimestampOffset>> Log::max_timestamp_offset() {
  std::lock_guard lock(mu_);
  std::optional<TimestampOffset> best;
  Segment* holder = nullptr;
  for (auto& [base, seg] : segments_) {
    if (auto r = seg->ensure_loaded(); !r) return r.error();
    if (seg->offset_of_max_timestamp() < log_start_offset_ || seg->offset_of_max_timestamp() < 0) continue;
    if (!best || seg->max_timestamp() > best->timestamp) {
      best = TimestampOffset{seg->max_timestamp(), seg->offset_of_max_timestamp()};
      holder = seg.get();
    }
  }
  if (!best) return best;
  // The segment knows the batch (by its last offset); Kafka answers with the
  // record's own offset, the first record carrying that timestamp: within the
  // segment no record is later, so it is the first at or after it.
  auto exact = holder->find_offset_by_timestamp(best->timestamp, log_start_offset_);
  if (!exact) return exact.error();
  if (*exact && (*exact)->timestamp == best->timestamp) return exact;
  return best;
}

Result<void> Log::flush(int64_t now_ms) {
  std::vector<std::shared_ptr<OpenFile>> handles;
  int64_t target;
  int64_t messages;
  uint64_t truncations;
  {
    std::lock_guard lock(mu_);
    target = log_end_offset_;
    truncations = truncations_;
    messages = unflushed_messages_;
    if (target == recovery_point_) {
      last_flush_ms_ = now_ms;
      return {};
    }
    auto it = segments_.upper_bound(recovery_point_);
    if (it != segments_.begin()) --it;
    for (; it != segments_.end(); ++it) {
      auto h = it->second->sync_handles();
      if (!h) {
        mark_offline();
        return h.error();
      }
      handles.insert(handles.end(), h->begin(), h->end());
    }
  }
  // Outside the lock: appends go on while the disk syncs.
  for (const auto& h : handles) {
    if (::fdatasync(h->fd()) != 0) {
      mark_offline();
      return StorageErrc::kStorageError;
    }
  }
  std::lock_guard lock(mu_);
  // A truncation meanwhile: the bytes up to `target` may be other ones now.
  if (truncations == truncations_) recovery_point_ = std::max(recovery_point_, target);
  unflushed_messages_ = std::max<int64_t>(0, unflushed_messages_ - messages);
  last_flush_ms_ = now_ms;
  return {};
}

void Log::schedule_delete_locked(std::map<int64_t, std::unique_ptr<Segment>>::iterator it, int64_t now_ms) {
  std::unique_ptr<Segment> seg = std::move(it->second);
  segments_.erase(it);
  if (!seg->rename_to_deleted()) {
    mark_offline();
    return;
  }
  pending_deletes_.push_back({std::move(seg), now_ms + config_.file_delete_delay_ms});
}

Result<int64_t> Log::delete_records_before(int64_t offset, int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (offset > log_end_offset_ || offset < 0) return StorageErrc::kOffsetOutOfRange;
  if (offset <= log_start_offset_) return log_start_offset_;
  log_start_offset_ = offset;
  // Whole segments below the new start (never the active one).
  while (segments_.size() > 1) {
    auto second = std::next(segments_.begin());
    if (second->first > log_start_offset_) break;
    schedule_delete_locked(segments_.begin(), now_ms);
  }
  return log_start_offset_;
}

Result<int> Log::apply_retention(int64_t now_ms) {
  std::lock_guard lock(mu_);
  int deleted = 0;
  if (!config_.deletes() || segments_.empty()) return 0;  // cleanup.policy=compact: only the cleaner removes records
  if (config_.retention_ms >= 0) {
    while (!segments_.empty()) {
      Segment& seg = *segments_.begin()->second;
      if (auto r = seg.ensure_loaded(); !r) return r.error();
      int64_t ts = seg.max_timestamp() >= 0 ? seg.max_timestamp() : seg.created_ms();
      if (now_ms - ts <= config_.retention_ms) break;
      if (segments_.size() == 1) {
        // The active segment: only when it holds records, all of them
        // replicated, and with a fresh segment rolled in at the log end.
        if (seg.size() == 0 || high_watermark_.load(std::memory_order_relaxed) < log_end_offset_) break;
        if (auto r = roll_locked(now_ms); !r) return r.error();
        if (segments_.size() == 1) break;
      }
      schedule_delete_locked(segments_.begin(), now_ms);
      ++deleted;
    }
  }
  if (config_.retention_bytes >= 0) {
    int64_t size = 0;
    for (const auto& [b, s] : segments_) size += s->size();
    int64_t excess = size - config_.retention_bytes;
    while (segments_.size() > 1 && excess >= segments_.begin()->second->size()) {
      excess -= segments_.begin()->second->size();
      schedule_delete_locked(segments_.begin(), now_ms);
      ++deleted;
    }
  }
  log_start_offset_ = std::max(log_start_offset_, segments_.begin()->first);
  return deleted;
}

void Log::delete_expired_files(int64_t now_ms) {
  std::vector<std::unique_ptr<Segment>> due;
  {
    std::lock_guard lock(mu_);
    auto part = std::stable_partition(pending_deletes_.begin(), pending_deletes_.end(),
                                      [&](const PendingDelete& p) { return p.due_ms > now_ms; });
    for (auto it = part; it != pending_deletes_.end(); ++it) due.push_back(std::move(it->segment));
    pending_deletes_.erase(part, pending_deletes_.end());
  }
  for (auto& seg : due) seg->remove_files();
}

Result<void> Log::close() {
  {
    std::lock_guard lock(mu_);
    if (offline_) return StorageErrc::kLogDirOffline;
    if (auto r = active().seal(); !r) return r;
    // Nothing unflushed: flush() would sync nothing, but the trimmed index
    // sizes must reach the disk. Otherwise flush() syncs the active segment
    // with the rest, and syncing it again would only cost a second fsync per
    // file (a close of 10,000 logs is fsync-bound).
    if (log_end_offset_ == recovery_point_) return active().flush();
  }
  return flush();
}

Result<std::vector<Log::SealedSegment>> Log::sealed_segments() {
  std::lock_guard lock(mu_);
  std::vector<SealedSegment> out;
  for (auto it = segments_.begin(); it != segments_.end() && std::next(it) != segments_.end(); ++it) {
    auto file = it->second->log_file();
    if (!file) return file.error();
    out.push_back({it->first, std::next(it)->first, it->second->size(), std::move(*file), it->second.get()});
  }
  return out;
}

Result<bool> Log::replace_segment(const SealedSegment& sealed, const std::string& cleaned_path, int64_t now_ms,
                                  const std::function<void(SwapStep)>& hook,
                                  const std::vector<AbortedTxn>& txn_entries) {
  std::lock_guard lock(mu_);
  auto it = segments_.find(sealed.base_offset);
  if (offline_ || it == segments_.end() || it->second.get() != sealed.identity ||
      it->second->size() != sealed.size || std::next(it) == segments_.end()) {
    ::unlink(cleaned_path.c_str());
    return false;
  }
  std::string log_path = it->second->log_path();
  std::string swap_path = log_path + ".swap";
  const std::string txn_path = dir_ + "/" + segment_file_name(sealed.base_offset, kTxnIndexSuffix);
  const std::string txn_cleaned = txn_path + ".cleaned";
  auto fail = [&]() -> Result<bool> {
    mark_offline();
    return StorageErrc::kStorageError;
  };
  if (!txn_entries.empty()) {
    // Durable before the swap's commit point (the .swap rename), so open()
    // always finds the index that belongs with the new .log.
    const Bytes bytes = encode_aborted_txns(txn_entries);
    if (auto r = write_file_atomic(txn_cleaned, std::string(bytes.begin(), bytes.end())); !r) {
      ::unlink(cleaned_path.c_str());
      return r.error();
    }
  }
  if (::rename(cleaned_path.c_str(), swap_path.c_str()) != 0) return fail();
  if (hook) hook(SwapStep::kRenamedToSwap);
  // From here a crash is completed by open(). The old files are kept (as
  // *.deleted) for readers holding their descriptors, like retention does.
  std::unique_ptr<Segment> old = std::move(it->second);
  segments_.erase(it);
  if (!old->rename_to_deleted()) return fail();
  pending_deletes_.push_back({std::move(old), now_ms + config_.file_delete_delay_ms});
  if (hook) hook(SwapStep::kOldRenamedToDeleted);
  if (::rename(swap_path.c_str(), log_path.c_str()) != 0) return fail();
  if (int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  if (hook) hook(SwapStep::kSwapRenamedToLog);
  if (!txn_entries.empty() && ::rename(txn_cleaned.c_str(), txn_path.c_str()) != 0) return fail();
  auto seg = Segment::open(dir_, sealed.base_offset, config_, cache_);
  if (!seg) return fail();
  if (auto r = (*seg)->rebuild_sealed(); !r) return fail();
  segments_.emplace(sealed.base_offset, std::move(*seg));
  return true;
}

}  // namespace keel::storage
