#include "storage/index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "common/bytes.h"
#include "storage/errors.h"

namespace keel::storage {

IndexFile::IndexFile(FileCache& cache, std::string path, size_t entry_size, int32_t max_index_bytes)
    : cache_(cache), entry_size_(entry_size) {
  slot_.path = std::move(path);
  size_t max_bytes = max_index_bytes < 0 ? 0 : static_cast<size_t>(max_index_bytes);
  max_entries_ = max_bytes / entry_size_;
  if (max_entries_ < 1) max_entries_ = 1;
}

IndexFile::~IndexFile() { cache_.forget(slot_); }

Result<void> IndexFile::rename(const std::string& new_path) {
  if (::rename(slot_.path.c_str(), new_path.c_str()) != 0 && errno != ENOENT) return StorageErrc::kStorageError;
  cache_.forget(slot_);
  slot_.path = new_path;
  return {};
}

Result<void> IndexFile::remove() {
  cache_.forget(slot_);
  if (::unlink(slot_.path.c_str()) != 0 && errno != ENOENT) return StorageErrc::kStorageError;
  return {};
}

Result<void> IndexFile::flush() {
  auto f = cache_.get(slot_);
  if (!f) return f.error();
  if (::fdatasync((*f)->fd()) != 0) return StorageErrc::kStorageError;
  return {};
}

Result<void> IndexFile::reset_file() {
  auto f = cache_.get(slot_);
  if (!f) return f.error();
  int fd = (*f)->fd();
  struct stat st {};
  if (::fstat(fd, &st) != 0) return StorageErrc::kStorageError;
  // Zero any old content (truncating an empty file would only trigger ext4's
  // forced writeback at close).
  if (st.st_size > 0 && ::ftruncate(fd, 0) != 0) return StorageErrc::kStorageError;
  if (::ftruncate(fd, static_cast<off_t>(max_entries_ * entry_size_)) != 0) return StorageErrc::kStorageError;
  return {};
}

Result<void> IndexFile::preallocate() {
  auto f = cache_.get(slot_);
  if (!f) return f.error();
  struct stat st {};
  if (::fstat((*f)->fd(), &st) != 0) return StorageErrc::kStorageError;
  off_t want = static_cast<off_t>(max_entries_ * entry_size_);
  if (st.st_size < want && ::ftruncate((*f)->fd(), want) != 0) return StorageErrc::kStorageError;
  return {};
}

Result<void> IndexFile::write_entries(size_t first, const std::vector<uint8_t>& raw) {
  if (raw.empty()) return {};
  auto f = cache_.get(slot_);
  if (!f) return f.error();
  size_t done = 0;
  while (done < raw.size()) {
    ssize_t n = ::pwrite((*f)->fd(), raw.data() + done, raw.size() - done,
                         static_cast<off_t>(first * entry_size_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return StorageErrc::kStorageError;
    done += static_cast<size_t>(n);
  }
  return {};
}

Result<std::vector<uint8_t>> IndexFile::read_file() {
  auto f = cache_.get(slot_);
  if (!f) return f.error();
  int fd = (*f)->fd();
  struct stat st {};
  if (::fstat(fd, &st) != 0) return StorageErrc::kStorageError;
  size_t size = static_cast<size_t>(st.st_size);
  size -= size % entry_size_;
  std::vector<uint8_t> buf(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, buf.data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return StorageErrc::kStorageError;
    done += static_cast<size_t>(n);
  }
  // Unused preallocated tail: trailing all-zero entries.
  size_t entries = size / entry_size_;
  while (entries > 0) {
    const uint8_t* e = buf.data() + (entries - 1) * entry_size_;
    if (!std::all_of(e, e + entry_size_, [](uint8_t b) { return b == 0; })) break;
    --entries;
  }
  buf.resize(entries * entry_size_);
  return buf;
}

Result<void> IndexFile::trim_file(size_t entries) {
  auto f = cache_.get(slot_);
  if (!f) return f.error();
  if (::ftruncate((*f)->fd(), static_cast<off_t>(entries * entry_size_)) != 0) return StorageErrc::kStorageError;
  return {};
}

Result<void> IndexFile::cut_file(size_t entries) {
  if (auto r = trim_file(entries); !r) return r;
  return preallocate();
}

// ---- OffsetIndex ----

Result<void> OffsetIndex::create() {
  entries_.clear();
  persisted_ = 0;
  return reset_file();
}

Result<void> OffsetIndex::persist() {
  if (persisted_ >= entries_.size()) return {};
  std::vector<uint8_t> raw((entries_.size() - persisted_) * kEntrySize);
  for (size_t i = persisted_; i < entries_.size(); ++i) {
    uint8_t* p = raw.data() + (i - persisted_) * kEntrySize;
    store_be(p, entries_[i].relative_offset);
    store_be(p + 4, entries_[i].position);
  }
  if (auto r = write_entries(persisted_, raw); !r) return r;
  persisted_ = entries_.size();
  return {};
}

Result<void> OffsetIndex::load(int64_t log_size) {
  entries_.clear();
  auto buf = read_file();
  if (!buf) return buf.error();
  size_t n = buf->size() / kEntrySize;
  if (n > max_entries_) return StorageErrc::kCorruptMessage;
  entries_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = buf->data() + i * kEntrySize;
    Entry e{load_be<int32_t>(p), load_be<int32_t>(p + 4)};
    bool ordered = entries_.empty() ||
                   (e.relative_offset > entries_.back().relative_offset && e.position > entries_.back().position);
    if (e.relative_offset < 0 || e.position < 0 || e.position >= log_size || !ordered) {
      entries_.clear();
      return StorageErrc::kCorruptMessage;
    }
    entries_.push_back(e);
  }
  persisted_ = entries_.size();
  return {};
}

Result<void> OffsetIndex::append(int64_t offset, int64_t position) {
  int64_t rel = offset - base_offset_;
  if (rel < 0 || rel > INT32_MAX || position > INT32_MAX) return StorageErrc::kInvalidRecord;
  if (!entries_.empty() && rel <= entries_.back().relative_offset) return {};
  if (full()) return {};
  entries_.push_back(Entry{static_cast<int32_t>(rel), static_cast<int32_t>(position)});
  return {};
}

OffsetPosition OffsetIndex::lookup(int64_t target) const {
  int64_t rel = target - base_offset_;
  auto it = std::upper_bound(entries_.begin(), entries_.end(), rel,
                             [](int64_t r, const Entry& e) { return r < e.relative_offset; });
  if (it == entries_.begin()) return {base_offset_, 0};
  --it;
  return {base_offset_ + it->relative_offset, it->position};
}

std::optional<OffsetPosition> OffsetIndex::last() const {
  if (entries_.empty()) return std::nullopt;
  return OffsetPosition{base_offset_ + entries_.back().relative_offset, entries_.back().position};
}

Result<void> OffsetIndex::truncate_to(int64_t offset) {
  return truncate_entries(entries_, persisted_, offset - base_offset_);
}

// ---- TimeIndex ----

Result<void> TimeIndex::create() {
  entries_.clear();
  persisted_ = 0;
  return reset_file();
}

Result<void> TimeIndex::persist() {
  if (persisted_ >= entries_.size()) return {};
  std::vector<uint8_t> raw((entries_.size() - persisted_) * kEntrySize);
  for (size_t i = persisted_; i < entries_.size(); ++i) {
    uint8_t* p = raw.data() + (i - persisted_) * kEntrySize;
    store_be(p, entries_[i].timestamp);
    store_be(p + 8, entries_[i].relative_offset);
  }
  if (auto r = write_entries(persisted_, raw); !r) return r;
  persisted_ = entries_.size();
  return {};
}

Result<void> TimeIndex::load(int64_t max_offset) {
  entries_.clear();
  auto buf = read_file();
  if (!buf) return buf.error();
  size_t n = buf->size() / kEntrySize;
  if (n > max_entries_ + 1) return StorageErrc::kCorruptMessage;  // +1: the entry forced at roll
  entries_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = buf->data() + i * kEntrySize;
    Entry e{load_be<int64_t>(p), load_be<int32_t>(p + 8)};
    bool ordered = entries_.empty() || (e.timestamp > entries_.back().timestamp &&
                                        e.relative_offset >= entries_.back().relative_offset);
    if (e.relative_offset < 0 || base_offset_ + e.relative_offset > max_offset || !ordered) {
      entries_.clear();
      return StorageErrc::kCorruptMessage;
    }
    entries_.push_back(e);
  }
  persisted_ = entries_.size();
  return {};
}

Result<void> TimeIndex::maybe_append(int64_t timestamp, int64_t offset, bool skip_full_check) {
  if (!skip_full_check && full()) return {};
  if (entries_.size() >= max_entries_ + 1) return {};
  if (!entries_.empty() && timestamp <= entries_.back().timestamp) return {};
  int64_t rel = offset - base_offset_;
  if (rel < 0 || rel > INT32_MAX) return StorageErrc::kInvalidRecord;
  if (!entries_.empty() && rel < entries_.back().relative_offset) return {};
  entries_.push_back(Entry{timestamp, static_cast<int32_t>(rel)});
  return {};
}

Result<void> TimeIndex::truncate_to(int64_t offset) {
  // Offsets never decrease along the entries.
  return truncate_entries(entries_, persisted_, offset - base_offset_);
}

TimestampOffset TimeIndex::lookup(int64_t ts) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), ts,
                             [](int64_t t, const Entry& e) { return t < e.timestamp; });
  if (it == entries_.begin()) return {-1, base_offset_};
  --it;
  return {it->timestamp, base_offset_ + it->relative_offset};
}

std::optional<TimestampOffset> TimeIndex::last() const {
  if (entries_.empty()) return std::nullopt;
  return TimestampOffset{entries_.back().timestamp, base_offset_ + entries_.back().relative_offset};
}

}  // namespace keel::storage
