#pragma once
// Helpers for storage tests: a per-test temp dir and batch builders.

#include <cstdint>
#include <string>

#include "common/bytes.h"

namespace keel::storage::test {

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// One uncompressed v2 batch of `records` records, each value `value_size`
// bytes, record i with timestamp ts + i, base offset 0.
Bytes make_batch(int records, size_t value_size, int64_t ts);
// A batch of about `bytes` total size (one record).
Bytes make_batch_of_size(size_t bytes, int64_t ts);

std::string read_file(const std::string& path);
int64_t file_size(const std::string& path);

}  // namespace keel::storage::test
