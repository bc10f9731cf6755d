#include "storage/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "storage/errors.h"

namespace keel::storage {
namespace {

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}

template <typename T>
bool parse_int(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string_view::npos) nl = s.size();
    lines.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

}  // namespace

Result<std::optional<std::string>> read_whole_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return StorageErrc::kStorageError;
  }
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return StorageErrc::kStorageError;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return std::optional<std::string>(std::move(out));
}

Result<void> write_file_atomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return StorageErrc::kStorageError;
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return StorageErrc::kStorageError;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return StorageErrc::kStorageError;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return StorageErrc::kStorageError;
  int dfd = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

Result<void> write_offset_checkpoint(const std::string& path, const OffsetMap& offsets) {
  std::string s = "0\n" + std::to_string(offsets.size()) + "\n";
  for (const auto& [tp, off] : offsets) s += tp.topic + " " + std::to_string(tp.partition) + " " + std::to_string(off) + "\n";
  return write_file_atomic(path, s);
}

Result<OffsetMap> read_offset_checkpoint(const std::string& path) {
  auto content = read_whole_file(path);
  if (!content) return content.error();
  OffsetMap out;
  if (!*content) return out;
  auto lines = split_lines(**content);
  if (lines.size() < 2 || lines[0] != "0") return StorageErrc::kBadCheckpoint;
  size_t count = 0;
  if (!parse_int(lines[1], count) || lines.size() != 2 + count) return StorageErrc::kBadCheckpoint;
  for (size_t i = 2; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    size_t a = line.find(' ');
    size_t b = a == std::string_view::npos ? a : line.find(' ', a + 1);
    if (a == std::string_view::npos || b == std::string_view::npos || a == 0) return StorageErrc::kBadCheckpoint;
    TopicPartition tp{std::string(line.substr(0, a)), 0};
    int64_t off = 0;
    if (!parse_int(line.substr(a + 1, b - a - 1), tp.partition) || !parse_int(line.substr(b + 1), off) ||
        tp.partition < 0)
      return StorageErrc::kBadCheckpoint;
    out[tp] = off;
  }
  return out;
}

Result<void> write_partition_metadata(const std::string& partition_dir, const std::string& topic_id) {
  return write_file_atomic(partition_dir + "/" + kPartitionMetadataFile, "version: 0\ntopic_id: " + topic_id + "\n");
}

Result<std::string> read_partition_metadata(const std::string& partition_dir) {
  auto content = read_whole_file(partition_dir + "/" + kPartitionMetadataFile);
  if (!content) return content.error();
  if (!*content) return std::string();
  auto lines = split_lines(**content);
  if (lines.size() != 2 || lines[0] != "version: 0" || lines[1].substr(0, 10) != "topic_id: " || lines[1].size() <= 10)
    return StorageErrc::kBadCheckpoint;
  return std::string(lines[1].substr(10));
}

std::optional<TopicPartition> parse_partition_dir(const std::string& name) {
  for (const char* suffix : {"-delete", "-future", "-stray"}) {
    std::string_view s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) return std::nullopt;
  }
  auto dash = name.rfind('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == name.size()) return std::nullopt;
  int32_t p = 0;
  if (!parse_int(std::string_view(name).substr(dash + 1), p) || p < 0) return std::nullopt;
  return TopicPartition{name.substr(0, dash), p};
}

}  // namespace keel::storage
