#include "storage/txn_index.h"

#include <unistd.h>

#include <cerrno>

#include "common/log.h"
#include "storage/checkpoint.h"
#include "storage/errors.h"

namespace keel::storage {

Bytes encode_aborted_txns(const std::vector<AbortedTxn>& entries) {
  ByteWriter w(entries.size() * kAbortedTxnEntrySize);
  for (const auto& e : entries) {
    w.write_i16(kAbortedTxnVersion);
    w.write_i64(e.producer_id);
    w.write_i64(e.first_offset);
    w.write_i64(e.last_offset);
    w.write_i64(e.last_stable_offset);
  }
  return w.take();
}

std::optional<std::vector<AbortedTxn>> decode_aborted_txns(ByteView bytes, int64_t base_offset, int64_t end_offset) {
  if (bytes.size() % kAbortedTxnEntrySize != 0) return std::nullopt;
  std::vector<AbortedTxn> out;
  out.reserve(bytes.size() / kAbortedTxnEntrySize);
  ByteReader r{bytes};
  while (r.remaining() > 0) {
    if (r.read_i16() != kAbortedTxnVersion) return std::nullopt;
    AbortedTxn e;
    e.producer_id = r.read_i64();
    e.first_offset = r.read_i64();
    e.last_offset = r.read_i64();
    e.last_stable_offset = r.read_i64();
    if (!r.ok() || e.last_offset < base_offset || (end_offset >= 0 && e.last_offset >= end_offset) ||
        e.first_offset > e.last_offset || (!out.empty() && e.last_offset <= out.back().last_offset))
      return std::nullopt;
    out.push_back(e);
  }
  return out;
}

TransactionIndex::TransactionIndex(FileCache& cache, std::string path, int64_t base_offset)
    : cache_(cache), base_offset_(base_offset) {
  slot_.path = std::move(path);
}

TransactionIndex::~TransactionIndex() { cache_.forget(slot_); }

Result<void> TransactionIndex::load(int64_t end_offset) {
  if (entries_) return {};
  auto content = read_whole_file(slot_.path);
  if (!content) return content.error();
  if (!*content) {
    entries_.emplace();
    exists_ = false;
    return {};
  }
  const std::string& bytes = **content;
  auto decoded = decode_aborted_txns(ByteView(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
                                     base_offset_, end_offset);
  if (!decoded) return StorageErrc::kCorruptMessage;
  entries_ = std::move(*decoded);
  exists_ = true;
  return {};
}

Result<void> TransactionIndex::ensure_loaded() {
  if (entries_) return {};
  if (auto r = load(); !r) {
    // The Log checks every index at open, so this is a file damaged since:
    // it goes (a restart's replay of the markers rebuilds what it held).
    if (r.error() != make_error_code(StorageErrc::kCorruptMessage)) return r;
    keel::logger("storage")->warn("{}: corrupt transaction index removed", slot_.path);
    reset();
  }
  return {};
}

Result<void> TransactionIndex::append(const AbortedTxn& txn) {
  if (auto r = ensure_loaded(); !r) return r;
  if (!entries_->empty() && txn.last_offset <= entries_->back().last_offset) return {};
  auto f = cache_.get(slot_);
  if (!f) return f.error();
  exists_ = true;
  const Bytes bytes = encode_aborted_txns({txn});
  const off_t at = static_cast<off_t>(entries_->size() * kAbortedTxnEntrySize);
  ssize_t n = ::pwrite((*f)->fd(), bytes.data(), bytes.size(), at);
  if (n != static_cast<ssize_t>(bytes.size())) {
    // Best effort: cut a torn entry off so the next append lands in place;
    // the caller hears of the failed write either way. (A (void) cast does
    // not silence glibc's warn_unused_result under _FORTIFY_SOURCE.)
    [[maybe_unused]] const int cut = ::ftruncate((*f)->fd(), at);
    return StorageErrc::kStorageError;
  }
  entries_->push_back(txn);
  return {};
}

Result<std::vector<AbortedTxn>> TransactionIndex::entries() {
  if (auto r = ensure_loaded(); !r) return r.error();
  return *entries_;
}

bool TransactionIndex::empty() {
  if (!ensure_loaded()) return true;
  return entries_->empty();
}

Result<bool> TransactionIndex::collect(int64_t fetch_offset, int64_t upper_bound, std::vector<AbortedTxn>& out) {
  if (auto r = ensure_loaded(); !r) return r.error();
  for (const auto& e : *entries_) {
    if (e.last_offset >= fetch_offset && e.first_offset < upper_bound) out.push_back(e);
    if (e.last_stable_offset >= upper_bound) return true;
  }
  return false;
}

Result<void> TransactionIndex::truncate_to(int64_t offset) {
  if (auto r = ensure_loaded(); !r) return r;
  size_t keep = 0;
  while (keep < entries_->size() && (*entries_)[keep].last_offset < offset) ++keep;
  if (keep == entries_->size()) return {};
  entries_->resize(keep);
  auto f = cache_.get(slot_);
  if (!f) return f.error();
  if (::ftruncate((*f)->fd(), static_cast<off_t>(keep * kAbortedTxnEntrySize)) != 0) return StorageErrc::kStorageError;
  return {};
}

Result<void> TransactionIndex::replace(const std::vector<AbortedTxn>& entries) {
  cache_.forget(slot_);
  if (entries.empty()) {
    if (::unlink(slot_.path.c_str()) != 0 && errno != ENOENT) return StorageErrc::kStorageError;
    entries_.emplace();
    exists_ = false;
    return {};
  }
  const Bytes bytes = encode_aborted_txns(entries);
  if (auto r = write_file_atomic(slot_.path, std::string(bytes.begin(), bytes.end())); !r) return r;
  entries_ = entries;
  exists_ = true;
  return {};
}

void TransactionIndex::reset() {
  cache_.forget(slot_);
  ::unlink(slot_.path.c_str());
  entries_.emplace();
  exists_ = false;
}

Result<std::optional<std::shared_ptr<OpenFile>>> TransactionIndex::sync_handle() {
  if (auto r = ensure_loaded(); !r) return r.error();
  if (!exists_) return std::optional<std::shared_ptr<OpenFile>>{};
  auto f = cache_.get(slot_);
  if (!f) return f.error();
  return std::optional<std::shared_ptr<OpenFile>>{std::move(*f)};
}

Result<void> TransactionIndex::rename(const std::string& to) {
  if (auto r = ensure_loaded(); !r) return r;
  if (exists_ && ::rename(slot_.path.c_str(), to.c_str()) != 0) return StorageErrc::kStorageError;
  cache_.forget(slot_);
  slot_.path = to;
  return {};
}

void TransactionIndex::remove() {
  cache_.forget(slot_);
  ::unlink(slot_.path.c_str());
  exists_ = false;
}

}  // namespace keel::storage
