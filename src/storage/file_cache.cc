#include "storage/file_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include "storage/errors.h"

namespace keel::storage {

OpenFile::~OpenFile() {
  if (fd_ >= 0) ::close(fd_);
}

FileCache::~FileCache() {
  std::lock_guard lock(mu_);
  for (auto& [slot, file] : lru_) slot->in_lru = false;
  lru_.clear();
}

Result<std::shared_ptr<OpenFile>> FileCache::get(FileSlot& slot) {
  std::lock_guard lock(mu_);
  if (slot.in_lru) {
    lru_.splice(lru_.begin(), lru_, slot.lru_pos);
    return slot.lru_pos->second;
  }
  std::shared_ptr<OpenFile> file = slot.handle.lock();
  if (!file) {
    int fd = ::open(slot.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return StorageErrc::kStorageError;
    file = std::make_shared<OpenFile>(fd, slot.path);
    slot.handle = file;
  }
  lru_.emplace_front(&slot, file);
  slot.lru_pos = lru_.begin();
  slot.in_lru = true;
  while (lru_.size() > capacity_) {
    lru_.back().first->in_lru = false;
    lru_.pop_back();
  }
  return file;
}

void FileCache::forget(FileSlot& slot) {
  std::lock_guard lock(mu_);
  if (slot.in_lru) {
    lru_.erase(slot.lru_pos);
    slot.in_lru = false;
  }
  slot.handle.reset();
}

size_t FileCache::cached() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

}  // namespace keel::storage
