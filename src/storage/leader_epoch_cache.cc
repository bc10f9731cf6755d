#include "storage/leader_epoch_cache.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "storage/checkpoint.h"
#include "storage/errors.h"

namespace keel::storage {
namespace {

template <typename T>
bool parse_num(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

LeaderEpochCache::LeaderEpochCache(LeaderEpochCache&& other) noexcept
    : path_(std::move(other.path_)), entries_(std::move(other.entries_)) {}

Result<LeaderEpochCache> LeaderEpochCache::open(const std::string& partition_dir) {
  LeaderEpochCache cache(partition_dir + "/" + kLeaderEpochCheckpoint);
  std::ifstream in(cache.path_);
  if (!in) {
    if (::access(cache.path_.c_str(), F_OK) != 0) return cache;  // no file yet
    return StorageErrc::kStorageError;
  }
  std::string line;
  int32_t version = -1;
  int64_t count = -1;
  if (!std::getline(in, line) || !parse_num(line, version) || version != 0) return StorageErrc::kBadCheckpoint;
  if (!std::getline(in, line) || !parse_num(line, count) || count < 0) return StorageErrc::kBadCheckpoint;
  for (int64_t i = 0; i < count; ++i) {
    if (!std::getline(in, line)) return StorageErrc::kBadCheckpoint;
    auto sp = line.find(' ');
    if (sp == std::string::npos) return StorageErrc::kBadCheckpoint;
    EpochEntry e;
    if (!parse_num(std::string_view(line).substr(0, sp), e.epoch) ||
        !parse_num(std::string_view(line).substr(sp + 1), e.start_offset) || e.epoch < 0 || e.start_offset < 0)
      return StorageErrc::kBadCheckpoint;
    if (!cache.entries_.empty() &&
        (e.epoch <= cache.entries_.back().epoch || e.start_offset < cache.entries_.back().start_offset))
      return StorageErrc::kBadCheckpoint;
    cache.entries_.push_back(e);
  }
  while (std::getline(in, line))
    if (!line.empty()) return StorageErrc::kBadCheckpoint;  // more lines than the count says
  return cache;
}

Result<void> LeaderEpochCache::persist_locked() {
  std::ostringstream out;
  out << "0\n" << entries_.size() << "\n";
  for (const auto& e : entries_) out << e.epoch << ' ' << e.start_offset << "\n";
  return write_file_atomic(path_, out.str());
}

Result<bool> LeaderEpochCache::assign(int32_t epoch, int64_t start_offset) {
  if (epoch < 0 || start_offset < 0) return StorageErrc::kInvalidRecord;
  std::lock_guard lock(mu_);
  if (!entries_.empty() && entries_.back().epoch == epoch && start_offset >= entries_.back().start_offset)
    return false;
  auto old = entries_;
  std::erase_if(entries_, [&](const EpochEntry& e) { return e.epoch >= epoch || e.start_offset >= start_offset; });
  entries_.push_back({epoch, start_offset});
  if (auto r = persist_locked(); !r) {
    entries_ = std::move(old);
    return r.error();
  }
  return true;
}

std::pair<int32_t, int64_t> LeaderEpochCache::end_offset_for(int32_t requested, int64_t log_end_offset) const {
  std::lock_guard lock(mu_);
  if (requested < 0 || entries_.empty()) return {-1, -1};
  if (entries_.back().epoch == requested) return {requested, log_end_offset};
  auto higher = std::upper_bound(entries_.begin(), entries_.end(), requested,
                                 [](int32_t ep, const EpochEntry& e) { return ep < e.epoch; });
  if (higher == entries_.end()) return {-1, -1};
  if (higher == entries_.begin()) return {requested, higher->start_offset};
  return {std::prev(higher)->epoch, higher->start_offset};
}

Result<void> LeaderEpochCache::truncate_from_end(int64_t end_offset) {
  std::lock_guard lock(mu_);
  if (end_offset < 0 || entries_.empty() || entries_.back().start_offset < end_offset) return {};
  auto old = entries_;
  std::erase_if(entries_, [&](const EpochEntry& e) { return e.start_offset >= end_offset; });
  if (auto r = persist_locked(); !r) {
    entries_ = std::move(old);
    return r;
  }
  return {};
}

Result<void> LeaderEpochCache::truncate_from_start(int64_t start_offset) {
  std::lock_guard lock(mu_);
  // The last entry starting at or before start_offset survives, moved up.
  auto first_after = std::upper_bound(entries_.begin(), entries_.end(), start_offset,
                                      [](int64_t off, const EpochEntry& e) { return off < e.start_offset; });
  if (first_after == entries_.begin()) return {};
  auto keep = std::prev(first_after);
  if (keep == entries_.begin() && keep->start_offset == start_offset) return {};
  auto old = entries_;
  keep->start_offset = start_offset;
  entries_.erase(entries_.begin(), keep);
  if (auto r = persist_locked(); !r) {
    entries_ = std::move(old);
    return r;
  }
  return {};
}

std::vector<EpochEntry> LeaderEpochCache::entries() const {
  std::lock_guard lock(mu_);
  return entries_;
}

int32_t LeaderEpochCache::latest_epoch() const {
  std::lock_guard lock(mu_);
  return entries_.empty() ? -1 : entries_.back().epoch;
}

}  // namespace keel::storage
