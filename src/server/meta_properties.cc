#include "server/meta_properties.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "protocol/types.h"

namespace keel::server {
namespace fs = std::filesystem;

namespace {

void fsync_path(const fs::path& p, int flags) {
  int fd = ::open(p.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + p.string() + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw std::runtime_error("cannot fsync " + p.string() + ": " + std::strerror(err));
}

}  // namespace

std::optional<MetaProperties> read_meta_properties(const fs::path& dir) {
  const fs::path path = dir / "meta.properties";
  std::ifstream in(path);
  if (!in) {
    if (!fs::exists(path)) return std::nullopt;
    throw std::runtime_error("cannot read " + path.string());
  }
  std::map<std::string, std::string> kv;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) throw std::runtime_error(path.string() + ": malformed line: " + line);
    kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  MetaProperties meta;
  try {
    meta.version = kv.count("version") ? std::stoi(kv["version"]) : 0;
    meta.broker_id = kv.count("broker.id") ? std::stoi(kv["broker.id"]) : -1;
  } catch (const std::exception&) {
    throw std::runtime_error(path.string() + ": version and broker.id must be integers");
  }
  meta.cluster_id = kv["cluster.id"];
  if (meta.cluster_id.empty()) throw std::runtime_error(path.string() + ": no cluster.id");
  return meta;
}

void write_meta_properties(const fs::path& dir, const MetaProperties& meta) {
  const fs::path path = dir / "meta.properties";
  const fs::path tmp = dir / "meta.properties.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "#\n# Written by keel; Kafka's format.\n"
        << "version=" << meta.version << "\n"
        << "broker.id=" << meta.broker_id << "\n"
        << "cluster.id=" << meta.cluster_id << "\n";
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  fsync_path(tmp, O_RDONLY);
  fs::rename(tmp, path);
  fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

MetaProperties ensure_meta_properties(const fs::path& dir, int32_t broker_id,
                                      const std::optional<std::string>& cluster_id) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create log directory " + dir.string() + ": " + ec.message());
  if (auto existing = read_meta_properties(dir)) {
    if (existing->broker_id != broker_id) {
      throw std::runtime_error((dir / "meta.properties").string() + " belongs to broker.id " +
                               std::to_string(existing->broker_id) + ", but this broker is " +
                               std::to_string(broker_id));
    }
    if (cluster_id && existing->cluster_id != *cluster_id) {
      throw std::runtime_error((dir / "meta.properties").string() + " belongs to cluster " +
                               existing->cluster_id + ", not " + *cluster_id);
    }
    return *existing;
  }
  MetaProperties meta;
  meta.broker_id = broker_id;
  meta.cluster_id = cluster_id ? *cluster_id : protocol::Uuid::random().to_string();
  write_meta_properties(dir, meta);
  return meta;
}

std::optional<std::string> read_cluster_id(const std::vector<std::string>& dirs, int32_t broker_id) {
  std::optional<std::string> cluster_id;
  std::string first_dir;
  for (const auto& dir : dirs) {
    auto meta = read_meta_properties(dir);
    if (!meta) continue;
    if (meta->broker_id != broker_id) {
      throw std::runtime_error((fs::path(dir) / "meta.properties").string() + " belongs to broker.id " +
                               std::to_string(meta->broker_id) + ", but this broker is " + std::to_string(broker_id));
    }
    if (cluster_id && *cluster_id != meta->cluster_id) {
      throw std::runtime_error("log directories belong to different clusters: " + *cluster_id + " (in " + first_dir +
                               ") and " + meta->cluster_id + " (in " + dir + ")");
    }
    if (!cluster_id) first_dir = dir;
    cluster_id = meta->cluster_id;
  }
  return cluster_id;
}

}  // namespace keel::server
