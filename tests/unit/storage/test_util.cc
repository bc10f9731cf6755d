#include "test_util.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "protocol/record_batch.h"

namespace keel::storage::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "keel-storage-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Bytes make_batch(int records, size_t value_size, int64_t ts) {
  protocol::RecordBatchBuilder b;
  Bytes value(value_size, 'v');
  for (int i = 0; i < records; ++i) {
    value[0] = static_cast<uint8_t>(i);
    b.add(ts + i, std::nullopt, ByteView(value));
  }
  auto r = b.build();
  if (!r) throw std::runtime_error("build failed");
  return std::move(*r);
}

Bytes make_batch_of_size(size_t bytes, int64_t ts) {
  // 61 header + ~8 record framing bytes.
  size_t value = bytes > 80 ? bytes - 80 : 1;
  return make_batch(1, value, ts);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int64_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return st.st_size;
}

}  // namespace keel::storage::test
