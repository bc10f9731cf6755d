#pragma once
// Bounded set of open file descriptors, so a broker with 10,000 partitions
// (three files per segment) stays within the open-files limit.
//
// Each file the storage layer uses is a FileSlot (a path). get() returns a
// shared OpenFile, opening it when needed; the cache keeps at most `capacity`
// of them referenced in an LRU and drops the least recently used. A handle a
// caller still holds (a reader's FileRange) stays open after eviction, rename
// or unlink: the descriptor closes when the last reference goes, so a reader
// never sees a file vanish under it. Thread-safe.

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"

namespace keel::storage {

class OpenFile {
 public:
  OpenFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~OpenFile();
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  int fd() const { return fd_; }
  // The path at open time (the file may have been renamed since).
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

class FileCache;

// Owned by a segment/index. Not thread-safe by itself: the owner serialises
// changes to path; get() may be called concurrently through the cache.
struct FileSlot {
  std::string path;
  // Private to FileCache.
  std::weak_ptr<OpenFile> handle;
  std::list<std::pair<FileSlot*, std::shared_ptr<OpenFile>>>::iterator lru_pos;
  bool in_lru = false;
};

class FileCache {
 public:
  explicit FileCache(size_t capacity = 512) : capacity_(capacity < 1 ? 1 : capacity) {}
  ~FileCache();

  // Open handle for slot.path (O_RDWR|O_CREAT). Errors: kStorageError.
  Result<std::shared_ptr<OpenFile>> get(FileSlot& slot);
  // Drops the cache's reference (call before a slot dies or is renamed).
  void forget(FileSlot& slot);
  // Descriptors currently referenced by the cache (not counting evicted ones
  // still held by readers).
  size_t cached() const;
  size_t capacity() const { return capacity_; }

 private:
  mutable std::mutex mu_;
  size_t capacity_;
  std::list<std::pair<FileSlot*, std::shared_ptr<OpenFile>>> lru_;  // front = most recent
};

}  // namespace keel::storage
